"""Figures of a results file (matplotlib, Agg): the seed figures and the grid
summaries. Every function takes a Results and an output folder, writes
NAME.png and NAME.pdf, and returns a Part: the files written, a caption and
notes, or skipped = why nothing could be drawn (a part of the sweep that is
missing, switched off or not done yet). Nothing here raises for a file that
is partly written; rows whose task is not done are left out and counted in
the notes."""
import os
from dataclasses import dataclass, field

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .results import ASSOC_METHODS, _nanmean  # noqa: E402

MAX_PANELS = 12
GREEK = {'lambda': 'λ'}


@dataclass
class Part:
    name: str
    title: str
    files: list = field(default_factory=list)
    caption: str = ''
    notes: list = field(default_factory=list)
    skipped: str = ''
    tables: list = field(default_factory=list)  # (title, DataFrame)


def save(fig, out, name):
    """Writes out/name.png and out/name.pdf; returns the two file names."""
    os.makedirs(out, exist_ok=True)
    fig.tight_layout()
    files = []
    for ext, kw in (('png', {'dpi': 110}), ('pdf', {})):
        fig.savefig(os.path.join(out, f'{name}.{ext}'), bbox_inches='tight', **kw)
        files.append(f'{name}.{ext}')
    plt.close(fig)
    return files


def fmt_setting(k, v):
    name = GREEK.get(k, k)
    if isinstance(v, (float, np.floating)):
        return f'{name} = {v:g}'
    return f'{name} = {v}'


def group_label(keys, values):
    if not keys:
        return 'all models'
    if not isinstance(values, tuple):
        values = (values,)
    return ', '.join(fmt_setting(k, v) for k, v in zip(keys, values))


def describe(res, m):
    """The settings of model m that vary in the grid (its seed if none do)."""
    df = res.models
    keys = res.group_keys(exclude=()) or ['seed']
    return ', '.join(fmt_setting(k, df.at[m, k]) for k in keys)


def _groupby(df, keys):
    """(values tuple, sub-DataFrame) per combination of keys, sorted."""
    by = keys[0] if len(keys) == 1 else list(keys)
    for vals, sub in df.groupby(by, sort=True):
        yield (vals if isinstance(vals, tuple) else (vals,)), sub


def groups(res, df, exclude=('seed',)):
    """(label, sub-DataFrame) per combination of the swept settings that vary
    (seeds pooled), in the grid's order."""
    keys = res.group_keys(exclude)
    if not keys:
        return keys, [('all models', df)] if len(df) else []
    out = []
    for vals, sub in _groupby(df, keys):
        out.append((group_label(keys, vals), sub))
    return keys, out


def smooth(y, n=25):
    """Running mean over n steps (for the noisy per-step loss); NaN-aware."""
    y = np.asarray(y, dtype=float)
    if y.size < n or n <= 1:
        return y
    ok = np.isfinite(y)
    s = np.convolve(np.where(ok, y, 0.0), np.ones(n), mode='valid')
    c = np.convolve(ok.astype(float), np.ones(n), mode='valid')
    with np.errstate(all='ignore'):
        return np.where(c > 0, s / np.maximum(c, 1), np.nan)


def mean_sd(rows):
    """Mean and sample sd over axis 0, ignoring NaN (sd 0 for one row)."""
    rows = np.asarray(rows, dtype=float)
    mean = _nanmean(rows, axis=0)
    n = np.isfinite(rows).sum(axis=0)
    dev = np.where(np.isfinite(rows), rows - mean, 0.0)
    with np.errstate(all='ignore'):
        sd = np.where(n > 1, np.sqrt((dev ** 2).sum(axis=0) / np.maximum(n - 1, 1)), 0.0)
    return mean, sd


def errorbar(a, x, y, yerr=0.0, **kw):
    """Axes.errorbar over the finite points only (nothing for none)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    sd = np.nan_to_num(np.asarray(yerr, dtype=float) * np.ones_like(y))
    ok = np.isfinite(y)
    if ok.any():
        a.errorbar(x[ok], y[ok], yerr=sd[ok], **kw)


def legend(a, **kw):
    """A legend when the axes have labelled artists."""
    if a.get_legend_handles_labels()[0]:
        a.legend(**kw)


def panel_grid(n, width=4.4, height=3.4, ncols=4, **kw):
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, ax = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False,
                           **kw)
    for a in ax.ravel()[n:]:
        a.set_visible(False)
    return fig, ax.ravel()


def _rows(res, col, models):
    g = res.h5['models']
    if col not in g or len(models) == 0:
        return None
    idx = np.asarray(sorted(models), dtype=int)
    return np.asarray(g[col][idx], dtype=float) if idx.size else None


def _done(df, task):
    return df[df[f'status_{task}'] == 'done']


def _analysed(p, res):
    """The models table's rows whose analyse task is done, or None with
    p.skipped saying that no model is analysed yet."""
    df = _done(res.models, 'analyse')
    if df.empty:
        p.skipped = 'no model analysed yet'
        return None
    return df


# ---- seed 000: clusterability vs k ----


def clusterability_curve(res, out, name='clusterability_curve'):
    p = Part(name, 'Clusterability vs number of clusters k')
    if res.dims.get('NK', 0) == 0:
        p.skipped = 'no clusterability curve in this sweep ([cluster] curve_k = none)'
        return p
    df = _analysed(p, res)
    if df is None:
        return p
    ks = np.asarray(res.h5['models/cl_curve_k'][int(df.index[0])])
    keys, gs = groups(res, df)
    if len(gs) > MAX_PANELS:
        p.notes.append(f'{len(gs)} setting groups; the first {MAX_PANELS} are drawn')
        gs = gs[:MAX_PANELS]
    fig, ax = panel_grid(len(gs), sharey=True)
    has_null = False
    for a, (label, sub) in zip(ax, gs):
        for col, color, name in (('cl_curve_w_mean', '#CC0000', 'weight-based BSGC'),
                                 ('cl_curve_g_mean', '#0000CC', 'gradient-based BSGC')):
            rows = _rows(res, col, sub.index)
            if rows is None or not np.isfinite(rows).any():
                continue
            mean, sd = mean_sd(rows)
            n = int(np.isfinite(rows).any(axis=1).sum())
            for r in rows if n > 1 else []:
                a.plot(ks, r, '-', color=color, lw=0.6, alpha=0.35)
            a.plot(ks, mean, 'o-', color=color, label=f'{name} (n = {n})')
            if n > 1:
                a.fill_between(ks, mean - sd, mean + sd, color=color, alpha=0.15)
        band = null_band(res, sub.index)
        if band is not None:
            nm, nsd, n = band
            a.fill_between(ks, nm - 2 * nsd, nm + 2 * nsd, color='0.5', alpha=0.3,
                           label=f'shuffle null, mean ± 2 sd (n = {n})')
            a.plot(ks, nm, '-', color='0.35', lw=1)
            has_null = True
        a.plot(ks, 1.0 / ks, 'k--', lw=2, label='random baseline 1/k')
        a.set(title=label, xlabel='number of clusters k', xticks=ks, ylim=(0, 1.02))
        a.grid(alpha=0.3)
        legend(a, fontsize=7)
    ax[0].set_ylabel('clusterability')
    p.files = save(fig, out, p.name)
    layers = [fc for fc in res.fc_names if f'cl_w_{fc}' in res.models]
    p.caption = (f'Mean over the analysed layers ({", ".join(layers) or "none"}) of the '
                 'clusterability of the weights under weight- and gradient-based BSGC at each k '
                 '(seed 000, section BSGC); thin lines are seeds, the band is mean ± sd over '
                 'seeds, dashed the random baseline 1/k'
                 + ('; grey: the weight-shuffle null of the weight-based curve ([null] shuffles), '
                    'its mean ± 2 sd (null mean and sd of each analysed layer averaged over the '
                    'layers, then over the models).' if has_null else '.'))
    return p


def null_band(res, models):
    """(null mean, null sd, number of models) at each curve k for the
    weight-based curve of the given models: per model, models/null_cl_w_mean
    and null_cl_w_sd [k, fc layer] averaged over the layers where they are
    finite, then averaged over the models; None when the file has no null
    (an older file, or [null] shuffles = 0)."""
    g = res.h5['models']
    if 'null_cl_w_mean' not in g or 'null_cl_w_sd' not in g:
        return None
    idx = np.asarray(sorted(models), dtype=int)
    if idx.size == 0:
        return None
    mean = np.asarray(g['null_cl_w_mean'][idx], dtype=float)  # (n, NK, NFC)
    sd = np.asarray(g['null_cl_w_sd'][idx], dtype=float)
    ok = np.isfinite(mean) & np.isfinite(sd)
    if not ok.any():
        return None
    with np.errstate(all='ignore'):
        cnt = ok.sum(axis=2)
        m = np.where(ok, mean, 0).sum(axis=2) / cnt  # (n, NK)
        s = np.where(ok, sd, 0).sum(axis=2) / cnt
        n = int(np.isfinite(m).any(axis=1).sum())
        return np.nanmean(m, axis=0), np.nanmean(s, axis=0), n


# ---- seed 000: cluster ON / OFF ----


def onoff_rows(res, kind='train', max_rows=4):
    """(model, fc layer index, k) of the ablation tables to show: models with
    a regulariser (lambda > 0) first, one model per setting group (the first
    seed), only layers where the partition was ablated."""
    df = _done(res.models, 'analyse')
    col = f'models/ablate_{kind}_on'
    if df.empty or col not in res.h5 or res.h5[col].shape[2] == 0:
        return []
    order = df.sort_values(['lambda', 'seed'], ascending=[False, True], kind='stable') \
        if 'lambda' in df else df
    keys = res.group_keys()
    seen, rows = set(), []
    for m, r in order.iterrows():
        gkey = tuple(r[k] for k in keys)
        if gkey in seen:
            continue
        tab = res.h5[col][m]
        found = False
        for li in range(tab.shape[0]):
            k = int(np.isfinite(tab[li, :, 0]).sum())
            if k > 0:
                rows.append((int(m), li, k))
                found = True
        if found:
            seen.add(gkey)
        if len(rows) >= max_rows:
            break
    return rows[:max_rows]


def onoff_table(res, m, li, kind='train'):
    """DataFrame: class-wise accuracy of model m, all ON, each cluster c of
    fc layer li alone ON, and c OFF."""
    ab = res.ablation(m, kind)
    k = int(np.isfinite(ab['on'][li, :, 0]).sum())
    names = res.class_names
    rows = {'all ON': res.h5['models/classwise_acc'][m]}
    for c in range(k):
        rows[f'{c} ON'] = ab['on'][li, c]
    for c in range(k):
        rows[f'{c} OFF'] = ab['off'][li, c]
    return pd.DataFrame(rows, index=names).T


def markdown(df, digits=2, index=True):
    """A DataFrame as a Markdown table (no tabulate needed)."""
    cols = ([''] if index else []) + [str(c) for c in df.columns]
    lines = ['| ' + ' | '.join(cols) + ' |', '|' + '---|' * len(cols)]
    for idx, row in df.iterrows():
        cells = [str(idx)] if index else []
        for v in row.values:
            if isinstance(v, (float, np.floating)):
                cells.append('n/a' if not np.isfinite(v) else f'{v:.{digits}f}')
            else:
                cells.append(str(v))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def cluster_onoff(res, out, kind='train', max_rows=4, name='cluster_onoff'):
    what = {'train': "the regulariser's partition", 'w': 'weight-based BSGC at the model k',
            'g': 'gradient-based BSGC at the model k'}
    p = Part(name, 'Class-wise accuracy with each cluster ON alone / OFF')
    rows = onoff_rows(res, kind, max_rows)
    if not rows and kind == 'train':
        rows, kind = onoff_rows(res, 'w', max_rows), 'w'
    if not rows:
        p.skipped = ('no cluster ablation tables (ablate = false, no partition, or no model '
                     'analysed yet)')
        return p
    names = res.class_names
    kmax = max(k for _, _, k in rows)
    fig, ax = plt.subplots(2 * len(rows), kmax, figsize=(2.6 * kmax + 1, 2.3 * 2 * len(rows)),
                           squeeze=False, sharey=True)
    for r, (m, li, k) in enumerate(rows):
        ab = res.ablation(m, kind)
        full = res.h5['models/classwise_acc'][m]
        head = f'model {m} ({describe(res, m)}), {res.fc_names[li]}'
        for c in range(kmax):
            for j, (word, tab) in enumerate((('ON', ab['on']), ('OFF', ab['off']))):
                a = ax[2 * r + j][c]
                if c >= k:
                    a.set_visible(False)
                    continue
                a.bar(range(len(names)), tab[li, c], color=f'C{c}')
                a.plot(range(len(names)), full, '_', color='k', ms=10, mew=1.5)
                a.set_title(f'{head}\ncluster {c} ({word})', fontsize=8)
                a.set_xticks(range(len(names)))
                a.set_xticklabels(names if j == 1 else [], rotation=90, fontsize=7)
                a.set_ylim(0, 1)
                a.grid(axis='y', alpha=0.3)
        ax[2 * r][0].set_ylabel('accuracy')
        ax[2 * r + 1][0].set_ylabel('accuracy')
        p.tables.append((f'model {m}, {res.fc_names[li]} ({what[kind]}): class-wise test accuracy',
                         onoff_table(res, m, li, kind)))
    p.files = save(fig, out, p.name)
    p.caption = (f'Seed 000 section 4a with {what[kind]}: class-wise test accuracy with only '
                 'cluster c of the layer kept (ON: the other clusters\' rows and columns '
                 'zeroed) and with cluster c removed (OFF). Black ticks: the full model.')
    return p


# ---- seed 000: ECS per label, clustered vs unclustered ----


def ecs_pairs(res):
    """[(label of the clustered group, clustered models, unclustered models)]:
    each setting group with lambda > 0 against the lambda = 0 models with the
    same other settings (the same k where the grid has lambda = 0 models for
    it, else any k)."""
    df = res.models
    if 'lambda' not in df or not (df['lambda'] == 0).any() or not (df['lambda'] > 0).any():
        return []
    keys = [k for k in res.group_keys() if k != 'lambda']
    out = []
    clustered = df[df['lambda'] > 0]
    base = df[df['lambda'] == 0]
    for vals, sub in _groupby(clustered, ['lambda'] + keys):
        cond = np.ones(len(base), dtype=bool)
        for k, v in zip(keys, vals[1:]):
            cond &= (base[k] == v).values
        match = base[cond]
        if match.empty and 'k' in keys:
            cond = np.ones(len(base), dtype=bool)
            for k, v in zip(keys, vals[1:]):
                if k != 'k':
                    cond &= (base[k] == v).values
            match = base[cond]
        if not match.empty:
            out.append((group_label(['lambda'] + keys, vals), list(sub.index), list(match.index)))
    return out


def paired(rows, clustered, unclustered, col, by=('seed',)):
    """The done rows of the two model sets paired by `by` (the seed, and
    whatever else must match): (clustered values, unclustered values, number
    of unpaired keys), one value per key present on both sides (a side with
    several models of one key gives their mean). A comparison over different
    seeds would mix seed-to-seed spread into the difference, so keys finished
    on one side only are left out."""
    by = list(by)
    c = rows[rows['model'].isin(clustered)].groupby(by)[col].mean()
    u = rows[rows['model'].isin(unclustered)].groupby(by)[col].mean()
    both = c.index.intersection(u.index)
    unpaired = len(c.index.union(u.index)) - len(both)
    return c.loc[both].values, u.loc[both].values, unpaired


def pair_text(pairs):
    """'n = 3 pairs', or 'n = 1-3 pairs' when the rows of a table differ."""
    pairs = np.asarray(pairs, dtype=int)
    lo, hi = (int(pairs.min()), int(pairs.max())) if pairs.size else (0, 0)
    return f'n = {lo} pairs' if lo == hi else f'n = {lo}-{hi} pairs'


def ecs_table(res, clustered, unclustered):
    """Per label: mean (sd) ECS of both model sets over the seeds whose prune
    task of the label is done on both sides (`pairs` of them; `unpaired` seeds
    are done on one side only and left out), and the change of the clustered
    ECS relative to the unclustered (percent)."""
    lab = res.labels
    lab = lab[lab['status'] == 'done']
    rows = []
    for li, label in enumerate(res.label_values):
        c, u, unpaired = paired(lab[lab['label_index'] == li], clustered, unclustered, 'ecs')
        cm = c.mean() if c.size else np.nan
        um = u.mean() if u.size else np.nan
        rows.append({'label': int(label), 'name': res.label_name(int(label)),
                     'ecs_clustered': cm, 'sd_clustered': c.std(ddof=1) if c.size > 1 else 0.0,
                     'n_clustered': c.size, 'ecs_unclustered': um,
                     'sd_unclustered': u.std(ddof=1) if u.size > 1 else 0.0,
                     'n_unclustered': u.size, 'pairs': c.size, 'unpaired': unpaired,
                     'change_pct': (cm - um) / um * 100 if um and np.isfinite(um) else np.nan})
    return pd.DataFrame(rows)


def ecs_per_label(res, out, max_panels=6):
    p = Part('ecs_per_label', 'Effective circuit size per label: clustered vs unclustered')
    if res.L == 0:
        p.skipped = 'no labels pruned in this sweep'
        return p
    lab = res.labels
    if not (lab['status'] == 'done').any():
        p.skipped = 'no prune task done yet'
        return p
    pairs = ecs_pairs(res)
    if not pairs:
        p.skipped = ('no pair of clustered (lambda > 0) and unclustered (lambda = 0) models; '
                     'see the ECS-across-the-grid figure')
        return p
    if len(pairs) > max_panels:
        p.notes.append(f'{len(pairs)} clustered setting groups; the first {max_panels} drawn')
        pairs = pairs[:max_panels]
    fig, ax = panel_grid(len(pairs), width=9, height=4.6, ncols=1)
    for a, (label, cm, um) in zip(ax, pairs):
        t = ecs_table(res, cm, um)
        x = np.arange(len(t))
        c, u = t['ecs_clustered'].values, t['ecs_unclustered'].values
        n_txt = pair_text(t['pairs'])
        errorbar(a, x, c, yerr=t['sd_clustered'], fmt='o-', color='darkblue', ms=7, capsize=3,
                   lw=2, label=f'pruned clustered model ({label}; {n_txt})')
        errorbar(a, x, u, yerr=t['sd_unclustered'], fmt='o-', color='darkred', ms=7, capsize=3,
                   lw=2, label=f'pruned unclustered model (λ = 0; {n_txt})')
        both = np.isfinite(c) & np.isfinite(u)
        if both.any():
            a.fill_between(x, c, u, where=both, color='grey', alpha=0.15)
        top = np.nanmax(np.concatenate([c, u])) if np.isfinite(np.concatenate([c, u])).any() \
            else 1.0
        for xi, ci, ui, pct in zip(x, c, u, t['change_pct']):
            if np.isfinite(pct):
                a.annotate(f'{pct:+.1f}%', (xi, max(ci, ui)), textcoords='offset points',
                           xytext=(0, 10), ha='center', fontsize=9)
        a.set_xticks(x)
        a.set_xticklabels(t['name'])
        a.set(xlabel='label', ylabel='effective circuit size\n(lower is better)',
              ylim=(0, top * 1.25))
        a.grid(alpha=0.3)
        legend(a, fontsize=8, loc='lower left')
        p.tables.append((f'ECS per label, {label} vs λ = 0 ({n_txt})', t))
        missing = int((t.pairs == 0).sum())
        if missing:
            p.notes.append(f'{label}: {missing} labels have no seed with a done prune task on '
                           'both sides yet (no done prune task pair to compare)')
        if t.unpaired.sum():
            p.notes.append(f'{label}: {int(t.unpaired.sum())} (label, seed) prune results done '
                           'on one side only are left out of the comparison')
    p.files = save(fig, out, p.name)
    p.caption = ('Seed 000 section 5c: the kept share of all fc weights after pruning for each '
                 'label, clustered (λ > 0) vs unclustered (λ = 0) models with otherwise equal '
                 'settings, mean ± sd over the seeds finished on both sides (n pairs in the '
                 'legend and the table). Annotation: the change of the clustered ECS '
                 'relative to the unclustered one, (c - u) / u (negative = smaller circuit; '
                 'seed 000 prints (u - c) / u).')
    return p


def layer_table(res, clustered, unclustered):
    """Per fc layer: the kept share of its weights (kept / out x in), mean
    over the (seed, label) pairs done on both sides (`pairs`), and the
    relative change."""
    lab = res.labels
    lab = lab[lab['status'] == 'done']
    rows = []
    for name, o, i in zip(res.fc_names, res.fc_out, res.fc_in):
        col = f'kept_{name}'
        if col not in lab or o * i == 0:
            continue
        c, u, unpaired = paired(lab, clustered, unclustered, col, by=('seed', 'label_index'))
        c, u = c / (o * i), u / (o * i)
        cm = c.mean() if c.size else np.nan
        um = u.mean() if u.size else np.nan
        rows.append({'layer': name, 'weights': o * i, 'kept_clustered': cm,
                     'kept_unclustered': um, 'pairs': c.size, 'unpaired': unpaired,
                     'change_pct': (cm - um) / um * 100 if um and np.isfinite(um) else np.nan})
    return pd.DataFrame(rows)


def circuit_layers(res, out, max_panels=6):
    p = Part('circuit_layers', 'Circuit size per fc layer: clustered vs unclustered')
    pairs = ecs_pairs(res) if res.L else []
    if not pairs or not (res.labels['status'] == 'done').any():
        p.skipped = 'no done prune task of a clustered / unclustered pair'
        return p
    pairs = pairs[:max_panels]
    fig, ax = panel_grid(len(pairs), width=5.5, height=3.8, ncols=3)
    for a, (label, cm, um) in zip(ax, pairs):
        t = layer_table(res, cm, um)
        x = np.arange(len(t))
        a.bar(x - 0.2, t['kept_clustered'], 0.4, color='darkblue', label=label)
        a.bar(x + 0.2, t['kept_unclustered'], 0.4, color='darkred', label='λ = 0')
        for xi, top, pct in zip(x, np.fmax(t['kept_clustered'], t['kept_unclustered']),
                                t['change_pct']):
            if np.isfinite(pct):
                a.annotate(f'{pct:+.0f}%', (xi, top), textcoords='offset points',
                           xytext=(0, 3), ha='center', fontsize=8)
        a.set_xticks(x)
        a.set_xticklabels([f'{n}\n({w} w.)' for n, w in zip(t['layer'], t['weights'])],
                          fontsize=8)
        a.set(ylabel='kept share of the layer (mean over labels)')
        a.grid(axis='y', alpha=0.3)
        legend(a, fontsize=7)
        a.set_title(f'{pair_text(t["pairs"])} (seed, label)', fontsize=8)
        p.tables.append((f'kept share per layer, {label} vs λ = 0 '
                         f'({pair_text(t["pairs"])} (seed, label))', t))
    p.files = save(fig, out, p.name)
    p.caption = ('The circuits of the ECS figure layer by layer: kept share of each fc '
                 "layer's weights, mean over the (seed, label) pairs done on both sides, and the "
                 "change of the clustered "
                 "model's share relative to the unclustered one. The ECS is the share of all "
                 'fc weights, so the largest layer weighs most in it.')
    return p


# ---- ECS and accuracy across the grid ----


def _xy(df, x, y, line):
    """Per value of `line`: x values, mean and sd of y over the rest."""
    out = []
    lines = sorted(df[line].unique()) if line else [None]
    for lv in lines:
        sub = df if line is None else df[df[line] == lv]
        g = sub.groupby(x)[y]
        stats = g.agg(['mean', 'std', 'count'])
        stats = stats[stats['count'] > 0]
        if len(stats):
            out.append((lv, stats.index.values.astype(float), stats['mean'].values,
                        np.nan_to_num(stats['std'].values)))
    return out


def grid_summary(res, out):
    p = Part('grid_summary', 'ECS and accuracy across the grid')
    df = res.models.copy()
    xs = [(x, line) for x, line in (('lambda', 'k'), ('k', 'lambda'))
          if x in df and df[x].nunique() > 1]
    if not xs:
        p.skipped = 'neither λ nor k takes more than one value in this grid'
        return p
    have_acc = df['test_acc'].notna().any() if 'test_acc' in df else False
    have_ecs = 'ecs_mean' in df and df['ecs_mean'].notna().any()
    if not have_acc and not have_ecs:
        p.skipped = 'no model trained yet'
        return p
    ys = ([('ecs_mean', 'ECS (mean over labels)')] if have_ecs else []) + \
        ([('test_acc', 'test accuracy')] if have_acc else [])
    fig, ax = plt.subplots(len(ys), len(xs), figsize=(5 * len(xs), 3.6 * len(ys)),
                           squeeze=False)
    lam = sorted(df['lambda'].unique())
    pos = [v for v in lam if v > 0]
    for r, (y, ylabel) in enumerate(ys):
        d = df[df[y].notna()]
        for c, (x, line) in enumerate(xs):
            a = ax[r][c]
            for lv, xv, mean, sd in _xy(d, x, y, line):
                errorbar(a, xv, mean, yerr=sd, fmt='o-', capsize=3,
                         label=fmt_setting(line, lv))
            if x == 'lambda' and pos and max(lam) / min(pos) > 20:
                a.set_xscale('symlog', linthresh=min(pos))
            a.set(xlabel=GREEK.get(x, x), ylabel=ylabel)
            if x == 'k':
                a.set_xticks(sorted(df['k'].unique()))
            a.grid(alpha=0.3)
            legend(a, fontsize=7)
    p.files = save(fig, out, p.name)
    other = [k for k in res.group_keys() if k not in ('lambda', 'k')]
    p.caption = ('Per model: the mean ECS over its pruned labels and its test accuracy, '
                 'against ' + ' and '.join(f'{GREEK.get(x, x)} (one line per '
                                          f'{GREEK.get(line, line)})' for x, line in xs)
                 + '; points are means over seeds' + (f' and {", ".join(other)}' if other else '')
                 + ', bars ± sd.')
    if not have_ecs:
        p.notes.append('no prune task done yet: accuracy only')
    return p


# ---- training curves ----


def training_curves(res, out, max_groups=MAX_PANELS, name='training_curves'):
    p = Part(name, 'Training curves')
    df = _done(res.models, 'train')
    if df.empty or res.dims.get('S', 0) == 0:
        p.skipped = 'no model trained yet'
        return p
    keys, gs = groups(res, df)
    if len(gs) > max_groups:
        p.notes.append(f'{len(gs)} setting groups; the first {max_groups} drawn')
        gs = gs[:max_groups]
    extra = _rows(res, 'train_extra', df.index)
    have_cl = extra is not None and np.isfinite(extra).any()
    E = res.dims.get('E', 0)
    n = 2 + have_cl
    fig, ax = plt.subplots(1, n, figsize=(5.2 * n, 3.8), squeeze=False)
    ax = ax[0]
    S = res.dims['S']
    win = max(1, min(25, S // 20))
    for i, (label, sub) in enumerate(gs):
        color = f'C{i % 10}'
        loss = np.array([smooth(r, win) for r in _rows(res, 'train_loss', sub.index)])
        mean, _ = mean_sd(loss)
        steps = np.arange(loss.shape[1]) + (win - 1)
        ax[0].plot(steps, mean, color=color, label=label)
        if loss.shape[0] > 1:
            ax[0].fill_between(steps, np.nanmin(loss, 0), np.nanmax(loss, 0), color=color,
                               alpha=0.15)
        acc = _rows(res, 'epoch_test_acc', sub.index)
        m_acc, sd_acc = mean_sd(acc)
        errorbar(ax[1], np.arange(1, E + 1), m_acc, yerr=sd_acc, fmt='o-', color=color,
                       capsize=3, label=label)
        if have_cl:
            cl = _rows(res, 'train_extra', sub.index)
            if np.isfinite(cl).any():
                m_cl, _ = mean_sd(cl)
                ax[2].plot(np.arange(cl.shape[1]), m_cl, color=color, label=label)
    ax[0].set(xlabel='optimisation step', ylabel=f'cross-entropy (running mean of {win})')
    ax[1].set(xlabel='epoch', ylabel='test accuracy', xticks=np.arange(1, E + 1))
    if have_cl:
        ax[2].set(xlabel='optimisation step', ylabel='clusterability of the regularised layers',
                  ylim=(0, 1.02))
    for a in ax:
        a.grid(alpha=0.3)
    legend(ax[0], fontsize=7)
    p.files = save(fig, out, p.name)
    p.caption = ('Per setting group (mean over seeds; band: min..max over seeds): the '
                 'per-step training cross-entropy, the test accuracy after each epoch'
                 + (', and the per-step clusterability of the regularised layers under the '
                    "regulariser's partition" if have_cl else '') + '.')
    return p


# ---- measures (seeds 002, 003) ----


def _measure(p, res, dims, off, col):
    """The analysed models and their rows of col (float), or (None, None)
    with p.skipped saying why: a size in dims is 0 (the measure is off: off
    says which key), no model is analysed yet, or col holds no value."""
    if any(res.dims.get(d, 0) == 0 for d in dims):
        p.skipped = f'measure off ([measures] {off})'
        return None, None
    df = _analysed(p, res)
    if df is None:
        return None, None
    idx = sorted(int(m) for m in df.index)
    data = np.asarray(res.h5['models/' + col][idx], dtype=float)
    if not np.isfinite(data).any():
        p.skipped = f'{col} holds no value'
        return None, None
    return idx, data


def info_heatmaps(res, out):
    p = Part('info_heatmaps', 'Information between layers (seed 002)')
    ms, comp = _measure(p, res, ('NIP', 'NID'), 'info_layers', 'info_comparisons')
    if ms is None:  # comp: (n, V, P, D, 3)
        return p
    g = res.h5['models']
    pair = np.asarray(g['info_pair'][ms], dtype=float)  # (n, V, P, 6)
    pl = g['info_pair_layers'][ms[0]]
    NV = comp.shape[1]
    pairs = [f'fc{a}-fc{b}' for a, b in pl]
    layers = sorted(set(int(x) for x in pl.ravel()))
    cmean = _nanmean(comp.transpose(0, 3, 1, 2, 4).reshape(-1, *comp.shape[1:3], 3), axis=0)
    vmax = np.nanmax(np.abs(cmean)) or 1.0
    variant = ['trained', 'untrained'][:NV]
    fig, ax = plt.subplots(2, NV, figsize=(4.8 * NV + 1, 7.4), squeeze=False)
    for v in range(NV):
        a = ax[0][v]
        z = cmean[v].T  # (3, P)
        im = a.imshow(z, cmap='RdBu_r', vmin=-vmax, vmax=vmax, aspect='auto')
        a.set(title=f'{variant[v]}: module comparisons (nats)', xticks=range(len(pairs)),
              yticks=range(3))
        a.set_xticklabels(pairs)
        a.set_yticklabels(['C1', 'C2', 'C3'])
        for (i, j), val in np.ndenumerate(z):
            a.text(j, i, f'{val:.3f}', ha='center', va='center', fontsize=8)
        fig.colorbar(im, ax=a, shrink=0.8)
        # mutual information between layers, symmetric matrix
        mi = np.full((len(layers), len(layers)), np.nan)
        imean = _nanmean(pair[:, v], axis=0)  # (P, 6)
        for k, (x, y) in enumerate(pl):
            i, j = layers.index(int(x)), layers.index(int(y))
            mi[i, j] = mi[j, i] = imean[k, 4]
        a = ax[1][v]
        im = a.imshow(mi, cmap='viridis', aspect='auto')
        a.set(title=f'{variant[v]}: I(X;Y) of the binned outputs (nats)',
              xticks=range(len(layers)), yticks=range(len(layers)))
        a.set_xticklabels([f'fc{x}' for x in layers])
        a.set_yticklabels([f'fc{x}' for x in layers])
        for (i, j), val in np.ndenumerate(mi):
            if np.isfinite(val):
                a.text(j, i, f'{val:.3f}', ha='center', va='center', fontsize=8, color='w')
        fig.colorbar(im, ax=a, shrink=0.8)
    p.files = save(fig, out, p.name)
    p.caption = (f'Mean over {len(ms)} analysed models and {comp.shape[3]} random unit sets: '
                 'C1 = H(Y_P | X_notP) - H(Y_P), C2 = H(Y_P | X) - H(Y_P | X_P), '
                 'C3 = H(Y_P | X) - H(Y_P | X_notP) (seed 002\'s heatmap), and the mutual '
                 'information of the paired layers\' binned outputs.')
    return p


def ablation_kl(res, out):
    p = Part('ablation_kl', 'Ablation: neurons, random directions and the max-KL direction '
             '(seed 002)')
    idx, nkl = _measure(p, res, ('NAU',), 'ablate_layer', 'ablate_neuron_kl')
    if idx is None:
        return p
    g = res.h5['models']
    dkl = np.asarray(g['ablate_dir_kl'][idx], dtype=float) if res.dims.get('NDIR', 0) else None
    mkl = np.asarray(g['maxkl_kl'][idx], dtype=float)
    layer = int(g['ablate_layer'][idx[0]])
    NV = nkl.shape[1]
    variant = ['trained', 'untrained'][:NV]
    fig, ax = plt.subplots(1, NV, figsize=(5.4 * NV, 3.8), squeeze=False, sharey=True)
    floor = 1e-6
    for v in range(NV):
        a = ax[0][v]
        s = -np.sort(-nkl[:, v], axis=1)
        mean, _ = mean_sd(s)
        a.plot(np.arange(len(mean)), np.maximum(mean, floor), 'o-', color='darkred', ms=3,
               label='neurons, sorted')
        if dkl is not None and np.isfinite(dkl).any():
            sd_ = -np.sort(-dkl[:, v], axis=1)
            dm, _ = mean_sd(sd_)
            a.plot(np.arange(len(dm)), np.maximum(dm, floor), 's:', color='grey', ms=3,
                   label='random directions, sorted')
        if np.isfinite(mkl[:, v]).any():
            a.axhline(np.nanmean(mkl[:, v]), color='k', ls='--', label='max-KL direction')
        a.set(yscale='log', title=f'{variant[v]}: fc{layer} ablated', xlabel='rank',
              ylabel='mean KL of the output (nats)')
        a.grid(alpha=0.3)
        legend(a, fontsize=7)
    p.files = save(fig, out, p.name)
    p.caption = (f'Mean over {len(idx)} analysed models of the output\'s KL divergence when '
                 'each neuron is zeroed, when random unit directions are projected out, and '
                 'for the direction found by the max-KL search.')
    return p


def assoc_q(res, out):
    p = Part('assoc_q', 'Newman Q of each association method (seed 003)')
    idx, q = _measure(p, res, ('NAL',), 'assoc_layers', 'assoc_q')  # q: (n, V, NAL, 8)
    if idx is None:
        return p
    g = res.h5['models']
    layers = g['assoc_layers'][idx[0]]
    df = res.models.loc[idx]
    x_key = 'dropout' if df['dropout'].nunique() > 1 else None
    NV = q.shape[1]
    fig, ax = plt.subplots(1, len(layers), figsize=(5.6 * len(layers), 4), squeeze=False)
    for li, layer in enumerate(layers):
        a = ax[0][li]
        for j, meth in enumerate(ASSOC_METHODS):
            color = f'C{j}'
            ls = '-' if j < 4 else '--'
            if x_key:
                xs = sorted(df[x_key].unique())
                rows = [q[(df[x_key] == x).values, 0, li, j] for x in xs]
                means = [np.nanmean(r) for r in rows]
                sds = [np.nanstd(r, ddof=1) if np.isfinite(r).sum() > 1 else 0 for r in rows]
                errorbar(a, xs, means, yerr=sds, fmt='o' + ls, color=color, capsize=2, label=meth)
                if NV > 1:
                    a.axhline(np.nanmean(q[:, 1, li, j]), color=color, ls=':', lw=1)
            else:
                vals = q[:, 0, li, j]
                a.bar(j, np.nanmean(vals), yerr=np.nanstd(vals) if vals.size > 1 else 0,
                      color=color, label=meth)
                if NV > 1:
                    a.plot([j - 0.4, j + 0.4], [np.nanmean(q[:, 1, li, j])] * 2, 'k:')
        a.set(title=f'fc{layer}', ylabel='Newman Q')
        if x_key:
            a.set_xlabel(x_key)
        else:
            a.set_xticks(range(len(ASSOC_METHODS)))
            a.set_xticklabels(ASSOC_METHODS, rotation=60, fontsize=7)
        a.grid(alpha=0.3)
    legend(ax[0][0], fontsize=6, ncol=2)
    p.files = save(fig, out, p.name)
    p.caption = ('Best Newman Q of the clustering of each association matrix (Lange et al.), '
                 + (f'against {x_key} (mean ± sd over seeds)' if x_key else
                    'mean ± sd over the analysed models')
                 + ('; dotted: the untrained initialisations (null).' if NV > 1 else '.'))
    return p


def assoc_align(res, out):
    p = Part('assoc_align', 'Alignment of the clusterings of the association methods '
             '(seed 003)')
    idx, al = _measure(p, res, ('NAL',), 'assoc_layers', 'assoc_align')  # (n, V, NAL, 8, 8)
    if idx is None:
        return p
    g = res.h5['models']
    layers = g['assoc_layers'][idx[0]]
    NV = al.shape[1]
    variant = ['trained', 'untrained'][:NV]
    fig, ax = plt.subplots(NV, len(layers), figsize=(5.2 * len(layers), 4.8 * NV),
                           squeeze=False)
    short = [m.replace('forward', 'fw').replace('backward', 'bw') for m in ASSOC_METHODS]
    for v in range(NV):
        for li, layer in enumerate(layers):
            a = ax[v][li]
            z = _nanmean(al[:, v, li], axis=0)
            im = a.imshow(z, cmap='viridis', vmin=0, vmax=1)
            a.set(title=f'{variant[v]}: fc{layer}', xticks=range(8), yticks=range(8))
            a.set_xticklabels(short, rotation=60, fontsize=7)
            a.set_yticklabels(short, fontsize=7)
            for (i, j), val in np.ndenumerate(z):
                if np.isfinite(val):
                    a.text(j, i, f'{val:.2f}', ha='center', va='center', fontsize=6,
                           color='w' if val < 0.6 else 'k')
            fig.colorbar(im, ax=a, shrink=0.8)
    p.files = save(fig, out, p.name)
    p.caption = (f'Greedy-matching alignment score of the clusterings of each pair of '
                 f'association methods, mean over {len(idx)} analysed models (upstream: '
                 'forward_*, downstream: backward_*).')
    return p


# ---- dataset = planted: recovery of the planted modules ----


PLANTED_ARI = ('planted_ari_w', 'planted_ari_hidden_w', 'planted_ari_assoc')
"""The planted ARI columns of the models group (dataset = planted)."""


def has_planted(res):
    """Whether the file holds planted recovery scores (dataset = planted)."""
    g = res.h5['models']
    return any(c in g and g[c].size > 0
               and bool(np.isfinite(np.asarray(g[c][()], dtype=float)).any())
               for c in PLANTED_ARI)


def _planted_newman(res, idx):
    """{'fc<l>': per model of idx the mean over the 8 association methods of
    the Newman partitions' ARI (trained variant)}, for the association
    layers with a finite value; {} without Newman measures."""
    g = res.h5['models']
    if 'planted_ari_assoc' not in g or 'assoc_layers' not in g or g['planted_ari_assoc'].size == 0:
        return {}
    v = np.asarray(g['planted_ari_assoc'][()], dtype=float)[idx]
    layers = np.asarray(g['assoc_layers'][()])[idx]
    out = {}
    for li in range(v.shape[2]):
        vals = v[:, 0, li, :]
        if np.isfinite(vals).any():
            with np.errstate(all='ignore'):
                out[f'fc{int(layers[0][li])}'] = np.array(
                    [np.nanmean(r) if np.isfinite(r).any() else np.nan for r in vals])
    return out


def planted_recovery(res, out, name='planted_recovery'):
    p = Part(name, 'Recovery of the planted modules (dataset = planted)')
    if not has_planted(res):
        p.skipped = 'no planted recovery scores (not dataset = planted, or fc1 not analysed)'
        return p
    df = _analysed(p, res)
    if df is None:
        return p
    g = res.h5['models']
    x_key = 'lambda' if 'lambda' in df and df['lambda'].nunique() > 1 else None
    xs = sorted(df[x_key].unique()) if x_key else [0]
    sel = [(df[x_key] == x).values if x_key else np.ones(len(df), bool) for x in xs]
    idx = df.index.values.astype(int)
    ari = np.asarray(g['planted_ari_w'][()], dtype=float)[idx]
    hid = (np.asarray(g['planted_ari_hidden_w'][()], dtype=float)[idx]
           if 'planted_ari_hidden_w' in g else np.full(len(idx), np.nan))
    newman = _planted_newman(res, idx)
    share = np.full(len(idx), np.nan)
    if 'planted_circuit_share' in res.h5['labels']:
        sh = np.asarray(res.h5['labels/planted_circuit_share'][()], dtype=float)[idx]
        with np.errstate(all='ignore'):
            share = np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in sh])
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8), squeeze=False)
    a = ax[0][0]
    if 'planted_ari_curve_w' in g and res.dims.get('NK', 0) > 0:
        ks = np.asarray(g['cl_curve_k'][idx[0]])
        curve = np.asarray(g['planted_ari_curve_w'][()], dtype=float)[idx]
        for j, (x, s) in enumerate(zip(xs, sel)):
            with np.errstate(all='ignore'):
                a.plot(ks, np.nanmean(curve[s], axis=0), 'o-', color=f'C{j}',
                       label=fmt_setting(x_key, x) if x_key else 'all models')
        if 'planted_ari_hidden_curve_w' in g:
            hc = np.asarray(g['planted_ari_hidden_curve_w'][()], dtype=float)[idx]
            for j, s in enumerate(sel):
                if np.isfinite(hc[s]).any():
                    with np.errstate(all='ignore'):
                        a.plot(ks, np.nanmean(hc[s], axis=0), 's--', color=f'C{j}', alpha=0.6,
                               label='fc1 units (rows)' if j == 0 else None)
        a.set(xlabel='number of clusters k', xticks=ks)
    a.set(ylabel='ARI of fc1 input clusters vs planted', ylim=(-0.25, 1.05),
          title='BSGC partition at each curve k')
    a.grid(alpha=0.3)
    legend(a, fontsize=7)
    a = ax[0][1]
    lines = [(ari, '#CC0000', 'o-', 'ARI of fc1 inputs at the model\'s k'),
             (hid, '#E69F00', 's-', 'ARI of fc1 units (BSGC rows) at the model\'s k')]
    lines += [(v, f'C{2 + 2 * j}', '^--', f'ARI of the Newman partitions of {fc} (mean of 8)')
              for j, (fc, v) in enumerate(newman.items())]
    lines.append((share, '#0000CC', 'o-', 'circuit share (mean over labels)'))
    for vals, color, fmt, lab in lines:
        if not np.isfinite(vals).any():
            continue
        means = [np.nanmean(vals[s]) if np.isfinite(vals[s]).any() else np.nan for s in sel]
        sds = [np.nanstd(vals[s], ddof=1) if np.isfinite(vals[s]).sum() > 1 else 0 for s in sel]
        errorbar(a, xs, means, yerr=sds, fmt=fmt, color=color, capsize=3, label=lab)
    a.set(xlabel=GREEK.get(x_key, x_key) if x_key else '', ylim=(-0.25, 1.05),
          title='recovery per setting (mean ± sd over seeds)')
    a.grid(alpha=0.3)
    legend(a, fontsize=7)
    p.files = save(fig, out, p.name)
    p.caption = ('Left: adjusted Rand index of the weight-based BSGC clusters of fc1\'s input '
                 'pixels against the planted strips at each curve k (1 = the strips exactly; '
                 'dashed: of fc1\'s output units against their planted modules). '
                 'Right: that ARI at the model\'s k; the ARI of the BSGC clusters of fc1\'s '
                 'output units (its rows) and, with Newman measures, of the Newman partitions '
                 'of each association layer (mean over the 8 associations, trained models) '
                 'against the hidden units\' planted modules (the strip of the largest '
                 'absolute weight mass traced back to the pixels); and the circuit share: of '
                 'each pruned label\'s kept fc1 weights, the share inside the strip its hidden '
                 'unit reads most from (1 = every hidden unit of the circuit reads one strip).')
    return p


ALL = [training_curves, clusterability_curve, cluster_onoff, ecs_per_label, circuit_layers,
       grid_summary, info_heatmaps, ablation_kl, assoc_q, assoc_align]
"""Every figure of the report, in its order."""
