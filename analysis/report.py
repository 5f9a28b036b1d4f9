"""The command line: figures and a one-page HTML report, sweep progress, and
the tables as CSV, from a modsweep results file.

    /usr/bin/python3 -m analysis.report RESULTS.h5 -o OUTDIR [--strict]
    /usr/bin/python3 -m analysis.report status RESULTS.h5
    /usr/bin/python3 -m analysis.report tables RESULTS.h5 -o OUTDIR

(`python3 -m analysis ...` is the same.) `report` writes OUTDIR/report.html,
every figure as PNG and PDF, and models.csv / labels.csv; a part the file
does not hold yet (a sweep still running or interrupted, or a measure
switched off) is listed in the report as skipped with the reason. A
partial file is said to be partial at the top of the report; the report
reads one snapshot of the task statuses (analysis.results), and the
clustered-vs-unclustered comparisons pair models by seed, using only seeds
done on both sides, and say how many pairs they use. --strict
makes an error while drawing a figure fatal (exit 1) instead of a note.
`status` prints done / failed (with reasons) / pending tasks; it exits 0.
Exit status 1 on an unreadable file, 2 on bad usage."""
import argparse
import contextlib
import html
import io
import os
import sys
import traceback

import numpy as np
import pandas as pd

from . import circuits, figures, measures_summary
from .results import SETTINGS, open_results


def ranges(xs):
    """[0, 1, 2, 5, 7, 8] -> '0-2, 5, 7-8'."""
    xs = sorted(int(x) for x in xs)
    out, i = [], 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[j] + 1:
            j += 1
        out.append(str(xs[i]) if i == j else f'{xs[i]}-{xs[j]}')
        i = j + 1
    return ', '.join(out)


model_desc = figures.describe


def status_lines(res, max_pending=20):
    """The progress of the sweep as text lines."""
    p = res.progress()
    lines = [f'{res.path}  (grid {res.grid_hash}, modsweep {res.version}, '
             f'{res.M} models x {res.L} labels)']
    for kind in ('train', 'analyse', 'prune'):
        c = p[kind]
        lines.append(f'  {kind:<8} {c["done"]:6d} done  {c["failed"]:6d} failed  '
                     f'{c["pending"]:6d} pending  (of {c["total"]})')
    for kind, m, label, reason in p['failed']:
        where = f'model {m} ({model_desc(res, m)})' + (f' label {label}' if label is not None
                                                         else '')
        lines.append(f'  failed {kind} of {where}: {reason or "(no reason recorded)"}')
    pend = p['pending']
    if pend['train']:
        lines.append(f'  pending training: models {ranges(pend["train"])}')
    if pend['analyse']:
        lines.append(f'  pending analysis: models {ranges(pend["analyse"])}')
    if pend['prune']:
        by_model = {}
        for m, label in pend['prune']:
            by_model.setdefault(m, []).append(label)
        items = [f'{m}: {ranges(ls)}' for m, ls in sorted(by_model.items())]
        more = len(items) - max_pending
        lines.append('  pending pruning (model: labels): ' + '; '.join(items[:max_pending])
                     + (f'; ... {more} more models' if more > 0 else ''))
    n_pending = sum(p[k]['pending'] for k in ('train', 'analyse', 'prune'))
    if n_pending == 0:
        lines.append('  complete' if not p['failed'] else
                     '  finished, with failed tasks (run the sweep again to retry them)')
    elif p.get('train_seconds_mean') and p['train']['pending']:
        t = p['train_seconds_mean']
        lines.append(f'  about {t * p["train"]["pending"]:.0f} s of training left on one rank '
                     f'({t:.1f} s per model so far)')
    return lines


def partial_note(res):
    """A sentence saying that the file is partial ('' when every task is done
    or failed for good)."""
    if not res.partial:
        return ''
    p = res.progress()
    left = sum(p[k]['pending'] for k in ('train', 'analyse', 'prune'))
    total = sum(p[k]['total'] for k in ('train', 'analyse', 'prune'))
    return (f'This results file is partial: {left} of {total} tasks are not done (a sweep is '
            'still running or was stopped). Every figure and table uses only the tasks done '
            'when the report read the file; comparisons pair models by seed and use only the '
            'seeds done on both sides (each says how many pairs).')


def write_tables(res, out):
    os.makedirs(out, exist_ok=True)
    res.models.to_csv(os.path.join(out, 'models.csv'), index=False)
    res.labels.to_csv(os.path.join(out, 'labels.csv'), index=False)
    return ['models.csv', 'labels.csv']


def _table_html(df, float_format='{:.4f}'.format, index=True):
    return df.to_html(float_format=float_format, index=index, na_rep='–', border=0,
                      classes='t')


MODEL_COLS = SETTINGS + ['status_train', 'status_analyse', 'test_acc', 'final_train_loss',
                         'final_train_cl', 'cl_train', 'cl_w', 'cl_g', 'ssr_train',
                         'labels_done', 'ecs_mean', 'time_train']


def null_table(res):
    """One row per analysed model, one column per null cell: 'z (p)' of
    the models table's null_*_z / null_*_p columns; None without nulls."""
    df = res.models
    zs = [c for c in df.columns if c.startswith('null_') and '_z_' in c]
    if not zs:
        return None
    rows = df[df['status_analyse'] == 'done']
    t = pd.DataFrame(index=[f'{m}: {model_desc(res, m)}' for m in rows.index])
    for c in zs:
        pc = c.replace('_z_', '_p_', 1)
        name = (c.replace('null_cl_w_z_', 'cl ').replace('null_assoc_q_z_', 'Q ')
                .replace('_', ' '))
        t[name] = [f'{z:.2f} ({p:.3f})' if np.isfinite(z) else '–'
                   for z, p in zip(rows[c], rows[pc] if pc in rows else [np.nan] * len(rows))]
    return t


def planted_table(res):
    """dataset = planted: one row per analysed model with its recovery
    scores (ARI of BSGC's fc1 inputs and units, the mean ARI of the Newman
    partitions of each association layer over the 8 associations of the
    trained model, the mean circuit share); None without planted scores."""
    df = res.models
    if not any(c.startswith('planted_') for c in df.columns):
        return None
    rows = df[df['status_analyse'] == 'done']
    t = pd.DataFrame(index=[f'{m}: {model_desc(res, m)}' for m in rows.index])
    for c, name in (('planted_ari_w', 'ARI fc1 inputs'), ('planted_ari_hidden_w', 'ARI fc1 units')):
        if c in rows:
            t[name] = rows[c].values
    newman = {}
    for c in rows.columns:
        if c.startswith('planted_ari_assoc_') and not c.endswith('_untrained'):
            newman.setdefault(c.split('_')[3], []).append(c)
    for fc, cs in newman.items():
        with np.errstate(all='ignore'):
            t[f'ARI Newman {fc} (mean of {len(cs)})'] = np.nanmean(rows[cs].values, axis=1)
    if 'planted_circuit_share' in rows:
        t['circuit share'] = rows['planted_circuit_share'].values
    return t


def ecs_pivot(res):
    lab = res.labels
    if lab.empty:
        return None
    t = lab.pivot(index='model', columns='label_name', values='ecs')
    t = t[[res.label_name(int(v)) for v in res.label_values]]
    t.index = [f'{m}: {model_desc(res, m)}' for m in t.index]
    return t


def measures_text(res):
    """analysis/measures_summary.py's Markdown tables, when the sweep has
    measures and an analysed model ('' otherwise)."""
    d = res.dims
    if not (d.get('NIP', 0) or d.get('NAU', 0) or d.get('NAL', 0)):
        return ''
    if not (res.models['status_analyse'] == 'done').any():
        return ''
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            measures_summary.main(res.path,
                                  analysed=(res.models['status_analyse'] == 'done').values)
    except Exception as e:  # the summary is an extra; the figures stand alone
        return f'(measures summary failed: {type(e).__name__}: {e})'
    return buf.getvalue()


CSS = """
body{font-family:sans-serif;max-width:1150px;margin:1em auto;color:#222}
h1{font-size:1.5em} h2{font-size:1.15em;border-bottom:1px solid #ccc;margin-top:1.6em}
table.t{border-collapse:collapse;font-size:0.78em;margin:0.5em 0}
table.t td,table.t th{border:1px solid #ddd;padding:2px 5px;text-align:right}
img{max-width:100%} .note{color:#a50} .skip{color:#777;font-style:italic}
pre{background:#f6f6f6;padding:0.5em;font-size:0.8em;overflow-x:auto}
.cap{font-size:0.9em}
"""


def build_report(res, out, strict=False, parts=None):
    """Writes the figures, the CSV tables and report.html into out; returns
    the figures' Parts."""
    os.makedirs(out, exist_ok=True)
    done = []
    planted = [figures.planted_recovery] if figures.has_planted(res) else []
    for fn in parts or figures.ALL + [circuits.circuit_faithfulness] + planted:
        try:
            done.append(fn(res, out))
        except Exception as e:  # a figure must not stop the report
            if strict:
                raise
            traceback.print_exc()
            done.append(figures.Part(fn.__name__, fn.__name__.replace('_', ' '),
                                     skipped=f'error while drawing: {type(e).__name__}: {e}'))
    csvs = write_tables(res, out)
    esc = html.escape
    h = ['<!DOCTYPE html><html><head><meta charset="utf-8">',
         f'<title>modsweep report: {esc(os.path.basename(res.path))}</title>',
         f'<style>{CSS}</style></head><body>',
         f'<h1>modsweep results: {esc(os.path.basename(res.path))}</h1>']
    a = res.attrs
    h.append('<p>' + ' · '.join(esc(str(x)) for x in (
        f'file {res.path}', f'modsweep {res.version}', f'created {a.get("created", "?")}',
        f'grid {a.get("grid_path", "?")} (hash {res.grid_hash})',
        f'{res.M} models × {res.L} labels', f'data {res.dataset or "?"}',
        f'model {res.settings.get("model.arch", "?")} {res.settings.get("model.hidden", "")}'))
        + '</p>')
    note = partial_note(res)
    if note:
        h.append(f'<p class="note"><b>{esc(note)}</b></p>')
    h.append('<h2>Progress</h2><pre>' + esc('\n'.join(status_lines(res))) + '</pre>')
    h.append('<details><summary>grid file</summary><pre>' + esc(res.grid_text) +
             '</pre></details>')
    df = res.models
    const = [k for k in SETTINGS if k != 'seed' and k in df and df[k].nunique() <= 1]
    cols = [c for c in MODEL_COLS if c in df and c not in const and df[c].notna().any()]
    h.append('<h2>Models</h2>' + _table_html(df[cols], index=False))
    nulls = null_table(res)
    if nulls is not None:
        h.append('<h2>Shuffle nulls: z-scores and p-values</h2><p class="cap">Each cell: z (p) of '
                 'a model against its weight-shuffled networks ([null] shuffles): the '
                 'weight-based BSGC clusterability at curve k of an fc layer (cl k&lt;k&gt; '
                 '&lt;layer&gt;) and the Newman Q of an association (Q &lt;layer&gt; '
                 '&lt;method&gt;). z = (observed - null mean) / null sd; p = (1 + shuffles at '
                 'least as modular) / (1 + shuffles).</p>' + _table_html(nulls))
    pl = planted_table(res)
    if pl is not None:
        h.append('<h2>Recovery of the planted modules</h2><p class="cap">Adjusted Rand index of '
                 'the weight-based BSGC clusters of fc1\'s inputs against the planted strips, '
                 'and of fc1\'s output units and of the Newman partitions (mean over the '
                 'associations) against the hidden units\' planted modules; circuit share: mean '
                 'over the pruned labels (models.csv has every association '
                 'separately).</p>' + _table_html(pl))
    piv = ecs_pivot(res)
    if piv is not None and piv.notna().any().any():
        h.append('<h2>Effective circuit size per model and label</h2>' + _table_html(piv))
    toc = [p for p in done if p.files]
    if toc:
        h.append('<p>Figures: ' + ', '.join(f'<a href="#{p.name}">{esc(p.title)}</a>'
                                             for p in toc) + '</p>')
    for p in done:
        h.append(f'<h2 id="{p.name}">{esc(p.title)}</h2>')
        if p.skipped:
            h.append(f'<p class="skip">Not shown: {esc(p.skipped)}.</p>')
            continue
        png = [f for f in p.files if f.endswith('.png')]
        pdf = [f for f in p.files if f.endswith('.pdf')]
        for f in png:
            h.append(f'<img src="{esc(f)}" alt="{esc(p.title)}">')
        h.append(f'<p class="cap">{esc(p.caption)}' +
                 (f' (<a href="{esc(pdf[0])}">PDF</a>)' if pdf else '') + '</p>')
        for n in p.notes:
            h.append(f'<p class="note">{esc(n)}</p>')
        for title, t in p.tables:
            h.append(f'<p><b>{esc(title)}</b></p>' +
                     _table_html(t, index=not isinstance(t.index, pd.RangeIndex)))
    summary = measures_text(res)
    if summary:
        h.append('<h2>Modularity measures: tables</h2><pre>' + esc(summary) + '</pre>')
    h.append('<p>Tables: ' + ', '.join(f'<a href="{c}">{c}</a>' for c in csvs) + '</p>')
    h.append('</body></html>')
    with open(os.path.join(out, 'report.html'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(h))
    return done


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = 'report'
    if argv and argv[0] in ('report', 'status', 'tables'):
        cmd = argv.pop(0)
    ap = argparse.ArgumentParser(prog=f'python3 -m analysis.report {cmd}',
                                 description=__doc__.split('\n\n')[0])
    ap.add_argument('results', help='modsweep results file (.h5)')
    if cmd != 'status':
        ap.add_argument('-o', '--output', required=True, help='output folder')
    if cmd == 'report':
        ap.add_argument('--strict', action='store_true',
                        help='fail (exit 1) when a figure cannot be drawn')
    args = ap.parse_args(argv)
    try:
        res = open_results(args.results)
    except (OSError, KeyError) as e:
        print(f'analysis: {args.results}: cannot read the results file: {e}', file=sys.stderr)
        return 1
    with res:
        if cmd == 'status':
            print('\n'.join(status_lines(res)))
            return 0
        if cmd == 'tables':
            files = write_tables(res, args.output)
            print('\n'.join(os.path.join(args.output, f) for f in files))
            return 0
        try:
            parts = build_report(res, args.output, strict=args.strict)
        except Exception:
            traceback.print_exc()
            return 1
        if partial_note(res):
            print('note: ' + partial_note(res))
        for p in parts:
            state = 'skipped: ' + p.skipped if p.skipped else ', '.join(p.files)
            print(f'{p.name}: {state}')
        print(os.path.join(args.output, 'report.html'))
    return 0


if __name__ == '__main__':
    np.seterr(all='ignore')
    sys.exit(main())
