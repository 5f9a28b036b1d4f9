"""Checks of the analysis package's shuffle-null outputs against results
files written by the real engine; driven by tests/test_analysis_null.sh.
Every expected value is read from the file with h5py directly, never from
the package itself.

    test_analysis_null.py NULL.h5 OFF.h5 OUTDIR

NULL.h5: MLP 784-16-16-16-10, seeds 1 and 2, lambda 0 and 5, curve k 2 and
4 with BSGC on fc2 and fc3, Newman Q of the fc2 associations, [null]
shuffles = 5. OFF.h5: the same grid with shuffles = 0."""
import os
import sys

from analysis_checks import FAILS, check, same  # first: sets the source path and HDF5 env
import h5py
import numpy as np
from analysis import figures, open_results
from analysis.report import build_report

METHODS = ['forward_cov', 'forward_jac', 'backward_jac', 'backward_hess', 'forward_cov_norm',
           'forward_jac_norm', 'backward_jac_norm', 'backward_hess_norm']
S = 5


def captured_bands(res, out):
    """Draws the clusterability figure, keeping the figure before it is
    saved; returns the Part and, per panel, the (x, y) vertices of the
    artist labelled as the shuffle null (None where there is none)."""
    kept, orig = [], figures.save

    def keep(fig, o, name):
        kept.append([(a.get_title(), [c for c in a.collections
                                      if str(c.get_label()).startswith('shuffle null')])
                     for a in fig.axes])
        return orig(fig, o, name)

    figures.save = keep
    try:
        p = figures.clusterability_curve(res, out)
    finally:
        figures.save = orig
    return p, kept[0] if kept else []


def main(path, off, out):
    res = open_results(path)
    df = res.models
    with h5py.File(path, 'r') as f:
        g = f['models']
        z, pv = g['null_cl_w_z'][()], g['null_cl_w_p'][()]
        nmean, nsd = g['null_cl_w_mean'][()], g['null_cl_w_sd'][()]
        qz, qp = g['null_assoc_q_z'][()], g['null_assoc_q_p'][()]
        ks = g['cl_curve_k'][0]
        done = g['status_analyse'][()] == 1
        lam = g['lambda'][()]
    M = len(done)
    check(done.all(), f'all {M} models analysed')
    check(list(ks) == [2, 4], 'curve k = 2, 4')
    # The clusterability z / p columns: fc2 and fc3 at k 2 and 4, none for fc1.
    want = [f'null_cl_w_{s}_k{k}_fc{li}' for s in 'zp' for k in (2, 4) for li in (2, 3)]
    check(all(c in df for c in want), 'models table: null_cl_w_{z,p}_k{2,4}_fc{2,3} present')
    check(not any(c.startswith('null_cl_w_') and c.endswith('_fc1') for c in df),
          'models table: no null column for fc1 (not a bsgc layer)')
    ok = True
    for ki, k in enumerate(ks):
        for li in (1, 2):
            ok &= same(df[f'null_cl_w_z_k{k}_fc{li + 1}'].values, z[:, ki, li])
            ok &= same(df[f'null_cl_w_p_k{k}_fc{li + 1}'].values, pv[:, ki, li])
    check(ok, 'models table: the clusterability z and p equal models/null_cl_w_z, _p')
    pcols = df[[c for c in want if '_p_' in c]].values
    check(np.isfinite(pcols).all() and np.allclose(pcols * (S + 1), np.round(pcols * (S + 1)))
          and (pcols > 0).all() and (pcols <= 1).all(),
          f'models table: every p is a multiple of 1/{S + 1} in (0, 1]')
    # The Newman Q z / p columns: fc2, the 8 methods, the trained variant.
    ok, n = True, 0
    for vi in range(qz.shape[1]):
        for j, meth in enumerate(METHODS):
            tail = '_untrained' if vi == 1 else ''
            for s, arr in (('z', qz), ('p', qp)):
                c = f'null_assoc_q_{s}_fc2_{meth}{tail}'
                if np.isfinite(arr[:, vi, 0, j]).any():
                    n += 1
                    ok &= c in df and same(df[c].values, arr[:, vi, 0, j])
                else:
                    ok &= c not in df
    check(ok and n >= 16, f'models table: the Newman Q z and p equal models/null_assoc_q_z, _p '
          f'({n} columns)')
    # The figure: one band per panel (lambda 0 and lambda 5), its edges at
    # the null mean +- 2 sd of the panel's models, averaged over fc2 and fc3.
    os.makedirs(out, exist_ok=True)
    p, panels = captured_bands(res, out)
    check(os.path.getsize(os.path.join(out, 'clusterability_curve.png')) > 0,
          'clusterability_curve.png written')
    check('shuffle null' in p.caption, 'the caption explains the null band')
    check(len(panels) == 2 and all(len(b) == 1 for _, b in panels),
          'one null band in each of the two panels')
    for title, bands in panels:
        if len(bands) != 1:
            continue
        lv = 0.0 if '0' == title.split('=')[-1].strip() else 5.0
        sel = np.isclose(lam, lv)
        m = nmean[sel][:, :, 1:3].mean(axis=2).mean(axis=0)
        s = nsd[sel][:, :, 1:3].mean(axis=2).mean(axis=0)
        xy = bands[0].get_paths()[0].vertices
        okb = True
        for x, lo, hi in zip(ks, m - 2 * s, m + 2 * s):
            ys = xy[np.isclose(xy[:, 0], x), 1]
            okb &= bool(ys.size) and np.isclose(ys.min(), lo) and np.isclose(ys.max(), hi)
        check(okb, f'panel "{title}": band edges = null mean -+ 2 sd from the file')
    # The report: its null table and the figure.
    rep = os.path.join(out, 'report')
    build_report(res, rep, strict=True)
    html = open(os.path.join(rep, 'report.html'), encoding='utf-8').read()
    check('Shuffle nulls: z-scores and p-values' in html and 'cl k2 fc2' in html
          and 'Q fc2 forward cov' in html, 'report.html has the null table')
    check('clusterability_curve.png' in html and 'shuffle null' in html,
          'report.html shows the curve with the null band')
    with open(os.path.join(rep, 'models.csv')) as f:
        head = f.readline()
    check('null_cl_w_z_k2_fc2' in head, 'models.csv has the z / p columns')
    res.close()
    # Without nulls: no columns, no band, no table.
    res = open_results(off)
    check(not any(c.startswith('null_') for c in res.models), 'shuffles = 0: no null columns')
    p, panels = captured_bands(res, os.path.join(out, 'off'))
    check(panels and all(not b for _, b in panels) and 'shuffle null' not in p.caption,
          'shuffles = 0: no band, the caption does not mention one')
    build_report(res, os.path.join(out, 'off_rep'), strict=True)
    html = open(os.path.join(out, 'off_rep', 'report.html'), encoding='utf-8').read()
    check('Shuffle nulls' not in html, 'shuffles = 0: no null table in the report')
    check('planted_recovery' not in html, 'not dataset = planted: no planted-recovery part')
    res.close()
    return 1 if FAILS else 0


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:4]))
