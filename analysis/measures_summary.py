#!/usr/bin/python3
"""Summarises the modularity measures of a results file (seeds 002, 003 and
004; the columns of src/sweep/measures.c) as Markdown tables:

  - Newman's Q of each association method per dropout value, trained models
    (mean and spread over seeds) against their untrained initialisations;
  - the alignment of upstream and downstream clusterings (score, p-value,
    Spearman correlation of the association matrices);
  - the max-KL direction against the best single neuron and random
    directions, and the seed's module comparisons, trained and untrained.

    /usr/bin/python3 analysis/measures_summary.py results.h5

Works on a partly finished file (models whose analysis is not done are
skipped). Needs h5py and numpy."""
import os
import sys

os.environ.setdefault('HDF5_USE_FILE_LOCKING', 'FALSE')
import h5py  # noqa: E402
import numpy as np  # noqa: E402

METHODS = ['forward_cov', 'forward_jac', 'backward_jac', 'backward_hess',
           'forward_cov_norm', 'forward_jac_norm', 'backward_jac_norm', 'backward_hess_norm']
UPSTREAM = [0, 1, 4, 5]
DOWNSTREAM = [2, 3, 6, 7]


def fmt(values):
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 'n/a'
    if values.size == 1:
        return f'{values[0]:.3f}'
    return f'{values.mean():.3f} ± {values.std(ddof=1):.3f}'


def main(path, analysed=None):
    """Prints the tables. `analysed` (a bool per model) is the caller's
    snapshot of the analysed models (analysis.report passes its own, so the
    report reads one snapshot); by default the file's status is read first."""
    try:  # read-only without file locking: a sweep may still be writing the file
        f = h5py.File(path, 'r', locking=False)
    except TypeError:
        f = h5py.File(path, 'r')
    m = f['models']
    done = m['status_analyse'][:] == 1 if analysed is None else np.asarray(analysed, dtype=bool)
    if not done.any():
        print('no analysed model yet')
        return
    dropout = m['dropout'][:]
    seeds = m['seed'][:]
    nv = m['meas_test_acc'].shape[1]
    print(f'{done.sum()} analysed models, seeds {sorted(set(seeds[done]))}, '
          f'{m["meas_samples"][done][0]} test images; variant 1 = untrained initialisation'
          if nv > 1 else '')
    print()
    print('| dropout | accuracy (trained) | accuracy (untrained) |')
    print('|---|---|---|')
    for p in sorted(set(dropout[done])):
        sel = done & (dropout == p)
        acc = m['meas_test_acc'][:][sel]
        print(f'| {p:g} | {fmt(acc[:, 0])} | {fmt(acc[:, 1]) if nv > 1 else "-"} |')

    if m['assoc_q'].shape[2] > 0:
        q = m['assoc_q'][:]
        layers = m['assoc_layers'][:][done][0]
        for li, layer in enumerate(layers):
            print()
            print(f'Newman Q, fc{layer} (mean ± sd over seeds; untrained = the same seeds\' '
                  'initialisations):')
            print()
            print('| dropout | ' + ' | '.join(METHODS) + ' |')
            print('|---|' + '---|' * len(METHODS))
            for p in sorted(set(dropout[done])):
                sel = done & (dropout == p)
                print(f'| {p:g} | ' + ' | '.join(fmt(q[sel, 0, li, k]) for k in range(8)) + ' |')
            if nv > 1:
                print('| untrained | ' + ' | '.join(fmt(q[done, 1, li, k]) for k in range(8)) + ' |')
            print()
            print(f'clusters found, fc{layer} (mean over models): ' + ', '.join(
                f'{METHODS[k]} {m["assoc_clusters"][:][done, 0, li, k].mean():.1f}'
                for k in range(8)))
        al, ap, sp = m['assoc_align'][:], m['assoc_align_p'][:], m['assoc_spearman'][:]
        print()
        print('Alignment of upstream and downstream clusterings (raw associations): score, '
              'p-value (shuffle null), Spearman of the association matrices:')
        print()
        print('| layer | dropout | variant | cov vs hess | cov vs bjac | fjac vs hess | fjac vs bjac |'
              ' cov-hess Spearman |')
        print('|---|---|---|---|---|---|---|---|')
        pairs = [(0, 3), (0, 2), (1, 3), (1, 2)]
        for li, layer in enumerate(layers):
            for v in range(nv):
                for p in sorted(set(dropout[done])):
                    sel = done & (dropout == p)
                    cells = [f'{fmt(al[sel, v, li, a, b])} (p {fmt(ap[sel, v, li, a, b])})'
                             for a, b in pairs]
                    print(f'| fc{layer} | {p:g} | {"untrained" if v else "trained"} | '
                          + ' | '.join(cells) + f' | {fmt(sp[sel, v, li, 0, 3])} |')
        up_up = [al[done, 0, li, a, b] for li in range(len(layers)) for a in UPSTREAM
                 for b in UPSTREAM if a < b]
        dn_dn = [al[done, 0, li, a, b] for li in range(len(layers)) for a in DOWNSTREAM
                 for b in DOWNSTREAM if a < b]
        up_dn = [al[done, 0, li, a, b] for li in range(len(layers)) for a in UPSTREAM
                 for b in DOWNSTREAM]
        print()
        print(f'mean alignment of trained models: upstream-upstream {np.mean(up_up):.3f}, '
              f'downstream-downstream {np.mean(dn_dn):.3f}, upstream-downstream '
              f'{np.mean(up_dn):.3f}')

    if m['maxkl_kl'].shape[1] > 0 and m['ablate_neuron_kl'].shape[2] > 0:
        print()
        print(f'Ablation of fc{m["ablate_layer"][:][done][0]} (mean KL divergence of the '
              'output, nats):')
        print()
        print('| model | dropout | variant | best neuron | random directions: mean / max |'
              ' max-KL direction | starts converged |')
        print('|---|---|---|---|---|---|---|')
        nkl, dkl, mk = m['ablate_neuron_kl'][:], m['ablate_dir_kl'][:], m['maxkl_kl'][:]
        conv = m['maxkl_start_converged'][:]
        for i in np.nonzero(done)[0]:
            for v in range(nv):
                print(f'| {i} (seed {seeds[i]}) | {dropout[i]:g} | '
                      f'{"untrained" if v else "trained"} | {nkl[i, v].max():.4f} | '
                      f'{dkl[i, v].mean():.4f} / {dkl[i, v].max():.4f} | {mk[i, v]:.4f} | '
                      f'{int(conv[i, v].sum())}/{conv.shape[2]} |')

    if m['info_comparisons'].shape[2] > 0:
        comp = m['info_comparisons'][:]
        pl = m['info_pair_layers'][:][done][0]
        print()
        print('Module comparisons of seed 002 (mean over models and unit sets; nats):')
        print()
        print('| pair | variant | C1 = H(Y_P given X_notP) - H(Y_P) | C2 = H(Y_P given X) - '
              'H(Y_P given X_P) | C3 = H(Y_P given X) - H(Y_P given X_notP) | I(X;Y) |')
        print('|---|---|---|---|---|---|')
        ip = m['info_pair'][:]
        for k, (a, b) in enumerate(pl):
            for v in range(nv):
                c = comp[done, v, k].reshape(-1, 3)
                print(f'| fc{a}-fc{b} | {"untrained" if v else "trained"} | '
                      f'{c[:, 0].mean():.4f} | {c[:, 1].mean():.4f} | {c[:, 2].mean():.4f} | '
                      f'{ip[done, v, k, 4].mean():.4f} |')
    t = m['time_measures'][:][done]
    print()
    print(f'measures: {t.mean():.1f} s per model on average (both variants)')


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
