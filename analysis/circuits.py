"""Circuits judged on held-out images (docs/circuits.md): the exact greedy
circuit and the approximate methods (magnitude, attribution, ig), their
held-out faithfulness under each ablation kind (zero, mean, resample), their
Jaccard overlap with the exact circuit and their time; from the circuit
columns of src/sweep/circuit_stage.c.

    from analysis import open_results
    from analysis.circuits import circuit_rows, circuit_table
    res = open_results('sweep.h5')
    circuit_rows(res)    # long table: one row per (model, label, method, kind, size)
    circuit_table(res)   # mean held-out faithfulness per setting group, method and kind

The report draws circuit_faithfulness(res, out): held-out faithfulness
against circuit size per method, the exact circuit as the reference."""
import numpy as np
import pandas as pd

from .figures import Part, panel_grid, save

KINDS = ['zero', 'mean', 'resample']
"""Ablation kinds, in the order of the kind dimension of the circuit columns."""
METHODS = ['magnitude', 'attribution', 'ig']
"""Approximate methods, in the order of the method dimension."""
COLORS = {'exact': 'black', 'magnitude': 'tab:orange', 'attribution': 'tab:blue',
          'ig': 'tab:green'}


def has_circuits(res):
    """The file has the circuit columns and at least one judged, done label."""
    if 'heldout_faith' not in res.h5['labels'] or res.L == 0:
        return False
    lab = res.labels
    done = (lab['status'] == 'done').values
    f = np.asarray(res.h5['labels/heldout_faith'][:], dtype=float).reshape(res.M * res.L, -1)
    return bool(np.isfinite(f[done]).any())


def circuit_rows(res):
    """One row per done (model, label) and per circuit: the exact circuit
    (method 'exact', size 'exact') and every method at the exact circuit's
    per-layer counts (size 'exact') and at each [prune] sizes entry (size
    's0', 's1', ...), for each ablation kind judged. Columns: model, label,
    label_name, the varying settings, method, kind, size, ecs (kept share of
    all fc weights), faith (held-out faithfulness), heldout_ce, heldout_acc
    (label accuracy on its held-out images), find_faith (exact circuit on the
    find set), jaccard (mean over fc layers of the overlap with the exact
    mask), seconds (the exact pruning's time for 'exact', the method's time
    otherwise)."""
    M, L, h = res.M, res.L, res.h5['labels']
    lab = res.labels
    done = (lab['status'] == 'done').values
    keys = res.group_keys(exclude=())

    def col(name, *shape):
        return np.asarray(h[name][:], dtype=float).reshape((M * L,) + shape)

    faith, ce, find_faith = col('heldout_faith', 3), col('heldout_ce', 3), col('find_faith', 3)
    cls = col('heldout_classwise_acc', 3, -1)
    mfaith, mce, macc = col('method_faith', 3, 3), col('method_ce', 3, 3), col('method_acc', 3, 3)
    jac = col('method_jaccard', 3, -1)
    mtime = col('method_time', 3)
    secs, sfaith = col('size_ecs', -1), col('size_faith', 3, -1, 3)
    nfc = len(res.fc_names)
    rows = []
    for r in np.nonzero(done)[0]:
        base = {'model': int(lab['model'].iat[r]), 'label': int(lab['label'].iat[r]),
                'label_name': lab['label_name'].iat[r]}
        for k in keys:
            base[k] = lab[k].iat[r]
        ecs, label = float(lab['ecs'].iat[r]), base['label']
        for ki, kind in enumerate(KINDS):
            if not np.isfinite(ce[r, ki]):
                continue  # kind not judged
            rows.append(dict(base, method='exact', kind=kind, size='exact', ecs=ecs,
                             faith=faith[r, ki], heldout_ce=ce[r, ki],
                             heldout_acc=cls[r, ki, label], find_faith=find_faith[r, ki],
                             jaccard=1.0, seconds=float(lab['time'].iat[r])))
            for mi, method in enumerate(METHODS):
                if not np.isfinite(mce[r, mi, ki]):
                    continue  # method not run
                rows.append(dict(base, method=method, kind=kind, size='exact', ecs=ecs,
                                 faith=mfaith[r, mi, ki], heldout_ce=mce[r, mi, ki],
                                 heldout_acc=macc[r, mi, ki], find_faith=np.nan,
                                 jaccard=float(np.nanmean(jac[r, mi, :nfc])),
                                 seconds=mtime[r, mi]))
                for si in range(secs.shape[1]):
                    if not np.isfinite(secs[r, si]):
                        continue
                    rows.append(dict(base, method=method, kind=kind, size=f's{si}',
                                     ecs=secs[r, si], faith=sfaith[r, mi, si, ki],
                                     heldout_ce=np.nan, heldout_acc=np.nan, find_faith=np.nan,
                                     jaccard=np.nan, seconds=np.nan))
    cols = (['model', 'label', 'label_name'] + keys +
            ['method', 'kind', 'size', 'ecs', 'faith', 'heldout_ce', 'heldout_acc',
             'find_faith', 'jaccard', 'seconds'])
    return pd.DataFrame(rows, columns=cols)


def circuit_table(res, rows=None):
    """Per group of the varying settings (seeds pooled), method and ablation
    kind, at the exact circuit's size: mean held-out faithfulness (faith),
    mean faithfulness of the exact circuit on its find set (find_faith, exact
    rows), mean held-out label accuracy, mean Jaccard with the exact mask,
    mean seconds per label, and the number of (model, label) rows."""
    rows = circuit_rows(res) if rows is None else rows
    rows = rows[rows['size'] == 'exact']
    keys = [k for k in res.group_keys() if k in rows]
    order = {m: i for i, m in enumerate(['exact'] + METHODS)}
    by = keys + ['method', 'kind']
    t = rows.groupby(by, sort=True).agg(
        faith=('faith', 'mean'), faith_sd=('faith', 'std'), find_faith=('find_faith', 'mean'),
        heldout_acc=('heldout_acc', 'mean'), jaccard=('jaccard', 'mean'),
        seconds=('seconds', 'mean'), n=('faith', 'size')).reset_index()
    t['_m'] = t['method'].map(order)
    t['_k'] = t['kind'].map({k: i for i, k in enumerate(KINDS)})
    t = t.sort_values(keys + ['_k', '_m']).drop(columns=['_m', '_k']).reset_index(drop=True)
    return t


def circuit_faithfulness(res, out, name='circuit_faithfulness'):
    """Held-out faithfulness against circuit size per method, one panel per
    ablation kind judged; the exact greedy circuits as the reference."""
    p = Part(name, 'Circuits on held-out images: faithfulness against size per method')
    if not has_circuits(res):
        p.skipped = ('no judged circuit in this file ([prune] ablation = none, an older '
                     'results file, or no prune task done yet)')
        return p
    rows = circuit_rows(res)
    kinds = [k for k in KINDS if (rows['kind'] == k).any()]
    fig, ax = panel_grid(len(kinds), width=5.2, height=4.2, ncols=3)
    for a, kind in zip(ax, kinds):
        r = rows[rows['kind'] == kind]
        ex = r[r['method'] == 'exact']
        a.scatter(ex['ecs'], ex['faith'], marker='*', s=90, color=COLORS['exact'], zorder=4,
                  label=f'exact greedy (n = {len(ex)})')
        for method in METHODS:
            rm = r[r['method'] == method]
            if rm.empty:
                continue
            at = rm[rm['size'] == 'exact']
            a.scatter(at['ecs'], at['faith'], marker='o', s=22, alpha=0.7,
                      color=COLORS[method], label=f'{method} at the exact counts')
            curve = rm[rm['size'] != 'exact'].groupby('size').agg(
                ecs=('ecs', 'mean'), faith=('faith', 'mean')).sort_values('ecs')
            if len(curve):
                a.plot(curve['ecs'], curve['faith'], '-', lw=1.6, color=COLORS[method],
                       label=f'{method}, mean over labels at [prune] sizes')
        a.axhline(1.0, color='grey', lw=0.8, ls='--')
        a.axhline(0.0, color='grey', lw=0.8, ls=':')
        if (r['ecs'] > 0).all():
            a.set_xscale('log')
        a.set(xlabel='circuit size (kept share of all fc weights)',
              ylabel='held-out faithfulness', title=f'{kind} ablation')
        a.grid(alpha=0.3)
    # One legend for all panels, below them, so that it hides no point.
    handles, labels = ax[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc='upper center', ncol=4, fontsize=8,
                   bbox_to_anchor=(0.5, 0.0))
    p.files = save(fig, out, name)
    t = circuit_table(res, rows)
    p.tables.append(('Held-out faithfulness at the exact circuit size (mean over labels and '
                     'seeds)', t))
    p.caption = ('Each label\'s circuit is found on its find set and judged on held-out images '
                 '(docs/circuits.md). Faithfulness = (CE_empty - CE_circuit) / (CE_empty - '
                 'CE_full) of the label\'s held-out images under the panel\'s ablation kind: '
                 '1 = the full model\'s loss, 0 = no better than removing every prunable '
                 'weight. Stars: the exact greedy circuits; dots: each method\'s circuit with the '
                 'exact one\'s per-layer kept counts; lines: each method at the [prune] sizes. '
                 'The table also gives the exact circuit\'s faithfulness on its own find set, '
                 'the Jaccard overlap with the exact mask (mean over fc layers) and the seconds '
                 'per label (exact: the greedy pruning; methods: scores and selection).')
    n_lab = res.labels
    pending = int((n_lab['status'] != 'done').sum())
    if pending:
        p.notes.append(f'{pending} (model, label) prune tasks not done are left out')
    return p
