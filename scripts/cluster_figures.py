#!/usr/bin/python3
"""Figures and tables of the cluster analysis from a modsweep results file
(h5py, numpy, matplotlib; Debian's python3 packages):

    /usr/bin/python3 scripts/cluster_figures.py RESULTS.h5 OUTDIR

writes OUTDIR/cluster_training.png (per-step cross-entropy and
clusterability of every model), OUTDIR/cluster_curve.png (clusterability vs
k, weight- and gradient-based BSGC, with the 1/k baseline: seed 000's
figure), OUTDIR/cluster_onoff.png (class-wise accuracy with each cluster of
the training partition ON alone and OFF, per model: seed 000's grid), and
prints the ON/OFF tables as Markdown."""
import sys

import h5py
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

FASHION = ['T-shirt', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker',
           'Bag', 'Boot']


def smooth(y, n=25):
    """Running mean over n steps (for the noisy per-step loss)."""
    if len(y) < n:
        return y
    return np.convolve(y, np.ones(n) / n, mode='valid')


def main(path, out):
    f = h5py.File(path, 'r')
    m = f['models']
    M = m['lambda'].shape[0]
    names = [f"lambda = {m['lambda'][i]:g}, k = {m['k'][i]}" for i in range(M)]

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for i in range(M):
        ax[0].plot(smooth(m['train_loss'][i]), label=names[i])
        ax[1].plot(m['train_extra'][i], label=names[i])
    ax[0].set(xlabel='optimisation step', ylabel='cross-entropy (running mean of 25)')
    ax[1].set(xlabel='optimisation step', ylabel='clusterability of the regularised layers',
              ylim=(0, 1.02))
    for a in ax:
        a.grid(alpha=0.3)
        a.legend()
    fig.tight_layout()
    fig.savefig(f'{out}/cluster_training.png', dpi=110)

    ks = m['cl_curve_k'][0]
    fig, ax = plt.subplots(1, M, figsize=(4.6 * M, 3.6), squeeze=False)
    for i in range(M):
        a = ax[0][i]
        a.plot(ks, m['cl_curve_w_mean'][i], 'o-', color='#CC0000', label='weight-based BSGC')
        a.plot(ks, m['cl_curve_g_mean'][i], 'o-', color='#0000CC', label='gradient-based BSGC')
        a.plot(ks, m['cl_curve_baseline'][i], 'k--', lw=2, label='random baseline 1/k')
        a.set(title=names[i], xlabel='number of clusters k', ylabel='clusterability', ylim=(0, 1.02),
              xticks=ks)
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(f'{out}/cluster_curve.png', dpi=110)

    on, off = m['ablate_train_on'][:], m['ablate_train_off'][:]
    labels = FASHION if on.shape[-1] == 10 else [str(j) for j in range(on.shape[-1])]
    regs = [i for i in range(M) if np.isfinite(on[i]).any()]
    rows = []
    for i in regs:
        for l in range(on.shape[1]):
            if not np.isfinite(on[i, l]).any():
                continue
            k = int(np.isfinite(on[i, l, :, 0]).sum())
            rows.append((i, l, k))
    fig, ax = plt.subplots(2 * len(rows), max(k for _, _, k in rows), figsize=(14, 3.2 * len(rows)),
                           squeeze=False, sharey=True)
    for r, (i, l, k) in enumerate(rows):
        for c in range(k):
            for s, (tab, word) in enumerate(((on, 'ON'), (off, 'OFF'))):
                a = ax[2 * r + s][c]
                a.bar(range(len(labels)), tab[i, l, c], color=f'C{c}')
                a.set_title(f'{names[i]}: fc{l + 1} cluster {c} {word}', fontsize=8)
                a.set_xticks(range(len(labels)))
                a.set_xticklabels(labels, rotation=90, fontsize=7)
                a.set_ylim(0, 1)
    fig.tight_layout()
    fig.savefig(f'{out}/cluster_onoff.png', dpi=100)

    for i, l, k in rows:
        print(f"\n{names[i]}, fc{l + 1} (test accuracy {m['test_acc'][i]:.4f}):\n")
        print('| cluster | ' + ' | '.join(labels) + ' |')
        print('|---' * (len(labels) + 1) + '|')
        print('| all ON | ' + ' | '.join(f'{v:.2f}' for v in m['classwise_acc'][i]) + ' |')
        for c in range(k):
            print(f'| {c} ON | ' + ' | '.join(f'{v:.2f}' for v in on[i, l, c]) + ' |')
        for c in range(k):
            print(f'| {c} OFF | ' + ' | '.join(f'{v:.2f}' for v in off[i, l, c]) + ' |')


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
