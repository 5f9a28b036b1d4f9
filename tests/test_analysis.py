"""Checks of the analysis package (analysis/) against results files written by
the real engine; driven by tests/test_analysis.sh. Every expected value is
read from the file with h5py directly (or follows from the grid), never
from the package itself.

    test_analysis.py full RESULTS.h5 OUTDIR     tables, arrays, figures, report
    test_analysis.py cut RESULTS.h5 CUT.h5 OUTDIR
                                        rewrite a copy as an interrupted sweep
                                        left it, then check tables and report
    test_analysis.py wait RESULTS.h5 SECONDS    poll a file a sweep is writing until
                                        one model is trained (exit 0) or time out
    test_analysis.py live RESULTS.h5 OUTDIR     consistency of a file left by a killed sweep

The grid of test_analysis.sh: MLP 784-32-32-32-10 without bias, seeds 1 and
2, lambda 0 and 5, k 2 and 4 blocks on fc2, dropout 0 and 0.25 (16 models),
labels 0 and 3 pruned, the measures of seeds 002 and 003 on."""
import os
import shutil
import subprocess
import sys
import time

from analysis_checks import FAILS, check, h5, same  # first: sets the source path and HDF5 env
import h5py
import numpy as np
from analysis import open_results
from analysis import figures
from analysis.report import build_report

FIGS = ['training_curves', 'clusterability_curve', 'cluster_onoff', 'ecs_per_label',
        'circuit_layers', 'grid_summary', 'info_heatmaps', 'ablation_kl', 'assoc_q',
        'assoc_align', 'circuit_faithfulness']


def fc_layout(f):
    """(name, offset in the fc-weight row, out, in) of each fc layer, from the
    'tensors' attribute and the grid (hidden 32, 32, 32; 10 classes)."""
    items = [t.rsplit(':', 2) for t in f.attrs['tensors'].split()]
    outs = {'fc1': 32, 'fc2': 32, 'fc3': 32, 'fc4': 10}
    res, off = [], 0
    for name, _, n in items:
        layer = name.split('.')[0]
        if name.endswith('.weight') and layer in outs:
            n = int(n)
            res.append((layer, off, outs[layer], n // outs[layer]))
            off += n
    return res


def check_tables(res, f, tag):
    """The tables and arrays of res against the file f read directly."""
    M, L = f['models/seed'].shape[0], f['labels/label'].shape[0]
    st_tr, st_an = f['models/status_train'][:], f['models/status_analyse'][:]
    st_pr = f['labels/status'][:]
    names = {0: 'pending', 1: 'done', 2: 'failed'}
    df = res.models
    check(len(df) == M and list(df['model']) == list(range(M)), f'{tag}: one row per model')
    for k in ('seed', 'lambda', 'k', 'lr', 'l1', 'l2', 'dropout'):
        check(same(df[k].values, f['models/' + k][:]), f'{tag}: models.{k} is the file column')
    check(list(df['status_train']) == [names[int(s)] for s in st_tr] and
          list(df['status_analyse']) == [names[int(s)] for s in st_an],
          f'{tag}: model status columns')
    acc = np.where(st_tr == 1, f['models/test_acc'][:], np.nan)
    check(same(df['test_acc'].values, acc), f'{tag}: test_acc where trained, NaN elsewhere')
    for col in ('cl_w', 'cl_g', 'cl_train'):
        raw = f['models/' + col][:]
        with np.errstate(all='ignore'):
            want = np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in raw])
        want[st_an != 1] = np.nan
        check(np.allclose(df[col].values, want, equal_nan=True, rtol=1e-12, atol=0),
              f'{tag}: {col} = mean over the analysed layers, NaN unless analysed')
        fc2 = np.where(st_an == 1, raw[:, 1], np.nan)
        if (st_an == 1).any():
            check(same(df[f'{col}_fc2'].values, fc2), f'{tag}: {col}_fc2 per layer')
        else:  # a sweep stopped before any analysis (a slow run, e.g. under ASan)
            check(f'{col}_fc2' not in df, f'{tag}: no {col}_fc2 column before any analysis')
    check('cl_w_fc1' not in df and 'cl_w_fc4' not in df,
          f'{tag}: no per-layer columns for layers never analysed')
    ecs = np.where(st_pr == 1, f['labels/ecs'][:], np.nan)
    with np.errstate(all='ignore'):
        mean = np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in ecs])
    check(np.allclose(df['ecs_mean'].values, mean, equal_nan=True, rtol=1e-12),
          f'{tag}: ecs_mean = mean ECS of the done labels')
    check(list(df['labels_done']) == list((st_pr == 1).sum(axis=1)),
          f'{tag}: labels_done counts')

    lab = res.labels
    check(len(lab) == M * L, f'{tag}: one row per (model, label)')
    lay = fc_layout(f)
    NW = sum(o * i for _, _, o, i in lay)
    kept = f['labels/kept'][:]
    masks = f['labels/mask']
    ok_rows = ok_mask = ok_acc = ok_kept = True
    for _, r in lab.iterrows():
        m, li = int(r['model']), int(r['label_index'])
        if r['label'] != f['labels/label'][li] or r['status'] != names[int(st_pr[m, li])]:
            ok_rows = False
        if st_pr[m, li] != 1:
            if not (np.isnan(r['ecs']) and np.isnan(r['kept_fc2']) and np.isnan(r['loss0'])):
                ok_rows = False
            if res.mask(m, li=li) is not None:
                ok_mask = False
            continue
        if r['ecs'] != f['labels/ecs'][m, li] or r['loss_final'] != f['labels/loss_final'][m, li]:
            ok_rows = False
        row = masks[m, li]
        # per-layer kept counts: the table, the file's kept column and the
        # mask split by the tensors attribute agree; ECS is the kept share
        for j, (name, off, o, i) in enumerate(lay):
            n = int(row[off:off + o * i].sum())
            if not (r[f'kept_{name}'] == kept[m, li, j] == n):
                ok_kept = False
        if abs(row.sum() / NW - r['ecs']) > 1e-12:
            ok_kept = False
        mk = res.mask(m, label=int(r['label']))
        for name, off, o, i in lay:
            if mk[name].shape != (o, i) or not np.array_equal(
                    mk[name], row[off:off + o * i].reshape(o, i).astype(bool)):
                ok_mask = False
        own = f['labels/pruned_classwise_acc'][m, li, int(r['label'])]
        if r['pruned_label_acc'] != own or r['pruned_test_acc'] != f['labels/pruned_test_acc'][
                m, li]:
            ok_acc = False
    check(ok_rows, f'{tag}: label rows: label, status, ECS, losses; NaN unless done')
    check(ok_kept, f'{tag}: kept_fcN = labels/kept = mask popcount per layer; ECS = kept / NW')
    check(ok_mask, f'{tag}: mask(m, label) is the file row split into (out, in) per layer; '
                   'None unless done')
    check(ok_acc, f'{tag}: pruned accuracy columns (own class from pruned_classwise_acc)')


def check_arrays(res, f):
    m = int(np.nonzero(f['models/status_train'][:] == 1)[0][0])
    v = res.model(m)
    check(same(v.train_loss, f['models/train_loss'][m]), 'model(m).train_loss is the file row')
    check(same(v.cl_curve_w_mean, f['models/cl_curve_w_mean'][m]), 'model(m).cl_curve_w_mean')
    check(v.reason_train == '' and v.status == {'train': 'done', 'analyse': 'done'},
          'model(m).reason_train decoded, status')
    p = v.params
    items = [t.rsplit(':', 2) for t in f.attrs['tensors'].split()]
    flat = f['models/params'][m]
    check(list(p) == [n for n, _, _ in items], 'params: every tensor of the attribute, in order')
    check(p['fc1.weight'].shape == (32, 784) and p['fc2.weight'].shape == (32, 32) and
          p['fc4.weight'].shape == (10, 32), 'params: fc weights in PyTorch (out, in) shapes')
    check(np.array_equal(np.concatenate([p[n].ravel() for n, _, _ in items]), flat),
          'params: the tensors concatenated give the params row back')
    # the regulariser's partition of fc2 is k contiguous blocks (partition = blocks)
    ok = True
    for mi in np.nonzero(f['models/status_train'][:] == 1)[0]:
        k = int(f['models/k'][mi])
        fin, fout = res.partition(int(mi), 'train')['fc2']
        blocks = np.repeat(np.arange(k), 32 // k)
        ok &= np.array_equal(fin, blocks) and np.array_equal(fout, blocks)
        ok &= bool(np.all(res.partition(int(mi), 'train')['fc1'][0] == -1))
    check(ok, "partition(m, 'train'): fc2 in k contiguous blocks, fc1 inputs in none")
    ab = res.ablation(m, 'train')
    check(same(ab['on'], f['models/ablate_train_on'][m]) and
          same(ab['off'], f['models/ablate_train_off'][m]), 'ablation(m) tables')
    try:
        res.mask(m, label=7)
        check(False, 'mask() of a label not pruned raises KeyError')
    except KeyError:
        check(True, 'mask() of a label not pruned raises KeyError')


def check_progress(res, f, failed=()):
    p = res.progress()
    for kind, col in (('train', 'models/status_train'), ('analyse', 'models/status_analyse'),
                      ('prune', 'labels/status')):
        s = f[col][:].ravel()
        want = {'done': int((s == 1).sum()), 'failed': int((s == 2).sum()),
                'pending': int((s == 0).sum()), 'total': s.size}
        check(p[kind] == want, f'progress {kind}: {p[kind]} == {want}')
    got = sorted((k, m, lab, r) for k, m, lab, r in p['failed'])
    check(got == sorted(failed), f'progress: failed tasks with reasons {got}')
    return p


def check_report(out, expect_figs, tag):
    html = open(os.path.join(out, 'report.html'), encoding='utf-8').read()
    check('error while drawing' not in html and 'summary failed' not in html,
          f'{tag}: no figure or summary failed')
    for name in expect_figs:
        png, pdf = os.path.join(out, name + '.png'), os.path.join(out, name + '.pdf')
        ok = os.path.exists(png) and os.path.exists(pdf)
        ok = ok and open(png, 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
        ok = ok and open(pdf, 'rb').read(5) == b'%PDF-' and os.path.getsize(png) > 5000
        check(ok, f'{tag}: {name}.png and .pdf written')
        check(f'src="{name}.png"' in html, f'{tag}: report shows {name}')
    return html


def run_cli(args):
    env = dict(os.environ)
    env['PYTHONPATH'] = os.environ.get('MS_SOURCE_DIR', '.')
    r = subprocess.run([sys.executable, '-m', 'analysis.report'] + args, capture_output=True,
                       text=True, env=env)
    return r.returncode, r.stdout + r.stderr


def full(path, out):
    f = h5(path)
    res = open_results(path)
    check(res.M == 16 and res.L == 2 and list(res.label_values) == [0, 3], 'dimensions')
    check(res.settings['model.hidden'] == '32, 32, 32' and res.fc_names == ['fc1', 'fc2', 'fc3',
                                                                              'fc4'],
          'resolved settings parsed, fc layers')
    check_tables(res, f, 'full')
    check_arrays(res, f)
    check_progress(res, f)
    # the clustered-vs-unclustered ECS table of the seed figure, recomputed
    pairs = figures.ecs_pairs(res)
    check(len(pairs) == 4, f'ecs pairs: 4 clustered groups (k x dropout), got {len(pairs)}')
    lam, k, drop = f['models/lambda'][:], f['models/k'][:], f['models/dropout'][:]
    ecs = f['labels/ecs'][:]
    ok = True
    for label, cm, um in pairs:
        c0 = cm[0]
        want_c = np.nonzero((lam == lam[c0]) & (k == k[c0]) & (drop == drop[c0]))[0]
        want_u = np.nonzero((lam == 0) & (k == k[c0]) & (drop == drop[c0]))[0]
        ok &= sorted(cm) == list(want_c) and sorted(um) == list(want_u) and len(want_c) == 2
        t = figures.ecs_table(res, cm, um)
        for li in range(2):
            c, u = ecs[want_c, li].mean(), ecs[want_u, li].mean()
            ok &= abs(t['ecs_clustered'][li] - c) < 1e-15 and abs(
                t['ecs_unclustered'][li] - u) < 1e-15
            ok &= abs(t['change_pct'][li] - (c - u) / u * 100) < 1e-9
    check(ok, 'ecs_per_label: pairs matched on k and dropout over both seeds, change (c-u)/u')
    label, cm, um = pairs[0]
    t = figures.layer_table(res, cm, um)
    kept = f['labels/kept'][:]
    ok = list(t['layer']) == ['fc1', 'fc2', 'fc3', 'fc4']
    for j, (name, _, o, i) in enumerate(fc_layout(f)):
        c, u = kept[cm, :, j].mean() / (o * i), kept[um, :, j].mean() / (o * i)
        ok &= abs(t['kept_clustered'][j] - c) < 1e-15 and abs(t['kept_unclustered'][j] - u) < 1e-15
    check(ok, 'circuit_layers: kept share per layer = mean labels/kept / layer size')

    rc, text = run_cli([path, '-o', out, '--strict'])
    check(rc == 0, f'report CLI exits 0 ({rc}): {text[-500:] if rc else ""}')
    html = check_report(out, FIGS, 'full')
    check('Not shown' not in html, 'full: every part of the report is shown')
    for csv, n in (('models.csv', 16), ('labels.csv', 32)):
        lines = open(os.path.join(out, csv)).read().strip().splitlines()
        check(len(lines) == n + 1, f'{csv}: {n} rows and a header')
    rc, text = run_cli(['status', path])
    check(rc == 0 and 'train        16 done       0 failed       0 pending  (of 16)' in text
          and 'prune        32 done' in text and 'complete' in text,
          'status CLI: counts and complete')


def cut(path, cut_path, out):
    """A copy rewritten as an interrupted sweep leaves it: models 12-15 never
    trained (status 0, data NaN / 0), model 11 trained but its analysis
    pending while its analysis data are already there (written before a
    crash, status not yet), model 10 analysed but its prune tasks pending,
    model 9 failed training, (model 2, label 3) failed pruning."""
    shutil.copy(path, cut_path)
    with h5py.File(cut_path, 'r+') as w:
        g, lg = w['models'], w['labels']
        pend = slice(12, 16)
        g['status_train'][pend] = 0
        g['status_analyse'][pend] = 0
        for name, ds in g.items():
            if ds.dtype.kind == 'f' and name not in ('lambda', 'lr', 'l1', 'l2', 'dropout'):
                a = ds[()]
                a[pend] = np.nan
                ds[...] = a
        lg['status'][pend] = 0
        for name in ('ecs', 'loss0', 'loss_final', 'pruned_test_acc'):
            a = lg[name][()]
            a[pend] = np.nan
            lg[name][...] = a
        a = lg['mask'][()]
        a[pend] = 0
        lg['mask'][...] = a
        a = lg['kept'][()]
        a[pend] = 0
        lg['kept'][...] = a
        g['status_analyse'][11] = 0
        lg['status'][11] = 0
        lg['status'][10] = 0
        g['status_train'][9] = 2
        g['status_analyse'][9] = 0
        lg['status'][9] = 0
        g['reason_train'][9] = np.bytes_(b'training diverged: loss is NaN at step 7')
        lg['status'][2, 1] = 2
        lg['reason'][2, 1] = np.bytes_(b'out of memory')
    f = h5(cut_path)
    res = open_results(cut_path)
    check_tables(res, f, 'cut')
    diverged = 'training diverged: loss is NaN at step 7'
    p = check_progress(res, f, failed=[('train', 9, None, diverged),
                                       ('prune', 2, 3, 'out of memory')])
    check(p['pending']['train'] == [12, 13, 14, 15] and p['pending']['analyse'] == [9, 11, 12, 13,
                                                                                     14, 15],
          'cut: pending models listed')
    df = res.models
    check(np.isfinite(f['models/cl_w'][11]).any() and np.isnan(df.at[11, 'cl_w']),
          'cut: analysis data of a model whose status is pending are blanked')
    check(df.at[9, 'reason_train'] == 'training diverged: loss is NaN at step 7' and
          df.at[9, 'status_train'] == 'failed', 'cut: failed model with its reason')
    lab = res.labels
    r = lab[(lab.model == 2) & (lab.label == 3)].iloc[0]
    check(r['status'] == 'failed' and r['reason'] == 'out of memory' and np.isnan(r['ecs']),
          'cut: failed prune row with its reason, no values')
    parts = build_report(res, out, strict=True)
    res.close()
    f.close()
    byname = {q.name: q for q in parts}
    check(all(not byname[n].skipped for n in FIGS), 'cut: every figure still drawn from the '
          'finished part: ' + ', '.join(f'{n}: {byname[n].skipped}' for n in FIGS
                                        if byname[n].skipped))
    check_report(out, FIGS, 'cut')
    check(any('no done prune task' in n for n in byname['ecs_per_label'].notes),
          'cut: the ECS figure notes the missing cells')
    rc, text = run_cli(['status', cut_path])
    check(rc == 0 and 'failed train of model 9' in text and 'loss is NaN at step 7' in text and
          'label 3: out of memory' in text and 'pending training: models 12-15' in text,
          'cut: status CLI lists failures with reasons and pending models')
    check_pairing(cut_path, out)

    # nothing done at all: a file as the sweep creates it
    with h5py.File(cut_path, 'r+') as w:
        w['models/status_train'][...] = 0
        w['models/status_analyse'][...] = 0
        w['labels/status'][...] = 0
    res = open_results(cut_path)
    out0 = out + '_empty'
    parts = build_report(res, out0, strict=True)
    check(all(q.skipped for q in parts), 'empty: every figure skipped with a reason')
    html = open(os.path.join(out0, 'report.html'), encoding='utf-8').read()
    check(html.count('Not shown') == len(FIGS) and 'no model trained yet' in html,
          'empty: the report says why each part is missing')
    check(res.models['test_acc'].isna().all() and res.labels['ecs'].isna().all(),
          'empty: tables all NaN')


def check_pairing(path, out):
    """A partial file compares clustered with unclustered models over the
    seeds done on both sides only (the cut file: seed 2's clustered models
    12-15 are not trained while its unclustered model 8 is pruned), says how
    many pairs each table uses, says that it is partial, and reads one
    snapshot of the statuses."""
    f = h5(path)
    res = open_results(path)
    seed, ecs, st = f['models/seed'][:], f['labels/ecs'][:], f['labels/status'][:]
    kept = f['labels/kept'][:]
    ok, n_groups_unequal = True, 0
    for label, cm, um in figures.ecs_pairs(res):
        t = figures.ecs_table(res, cm, um)
        for li in range(2):
            cs = {int(seed[m]): ecs[m, li] for m in cm if st[m, li] == 1}
            us = {}
            for m in um:
                if st[m, li] == 1:
                    us.setdefault(int(seed[m]), []).append(ecs[m, li])
            common = sorted(set(cs) & set(us))
            n_groups_unequal += len(cs) != len(us)
            if not common:
                ok &= t['pairs'][li] == 0 and np.isnan(t['ecs_clustered'][li])
                continue
            c = np.mean([cs[x] for x in common])
            u = np.mean([np.mean(us[x]) for x in common])
            ok &= int(t['pairs'][li]) == len(common)
            ok &= abs(t['ecs_clustered'][li] - c) < 1e-12 and abs(t['ecs_unclustered'][li] - u) < 1e-12
            ok &= abs(t['change_pct'][li] - (c - u) / u * 100) < 1e-9
    check(n_groups_unequal > 0, 'pairing: the cut file has seeds done on one side only')
    check(ok, 'pairing: ECS compared over the seeds done on both sides only, pairs counted')
    label, cm, um = figures.ecs_pairs(res)[0]
    t = figures.layer_table(res, cm, um)
    keys = lambda ms: {(int(seed[m]), li) for m in ms for li in range(2) if st[m, li] == 1}
    common = keys(cm) & keys(um)
    ok = all(int(x) == len(common) for x in t['pairs'])
    check(ok, f'pairing: the layer table counts {len(common)} (seed, label) pairs')
    parts = build_report(res, out + '_pairs', strict=True)
    html = open(os.path.join(out + '_pairs', 'report.html'), encoding='utf-8').read()
    check(res.partial and 'This results file is partial' in html,
          'pairing: the report says the file is partial')
    check('pairs' in html and all(
        'n = ' in tt for q in parts if q.name in ('ecs_per_label', 'circuit_layers')
        for tt, _ in q.tables), 'pairing: each comparison table says how many pairs it uses')
    # One snapshot: statuses written after the file was opened are not seen.
    f.close()
    res.close()
    res = open_results(path)
    before = res.progress()['prune']['done']
    # Another process marks every task done, as a running sweep would.
    subprocess.run([sys.executable, '-c', 'import sys, h5py\n'
                    'with h5py.File(sys.argv[1], "r+", locking=False) as w:\n'
                    '    for c in ("labels/status", "models/status_train", '
                    '"models/status_analyse"):\n'
                    '        w[c][...] = 1\n', path], check=True)
    lab, df = res.labels, res.models
    check(res.progress()['prune']['done'] == before and
          int((lab['status'] == 'done').sum()) == before and
          int((df['status_train'] == 'done').sum()) == 16 - 5,
          'snapshot: tables and progress use the statuses read when the file was opened')
    res.refresh()
    check(res.progress()['prune']['done'] == 32 and not res.partial,
          'snapshot: refresh() reads the statuses again')
    res.close()


def wait(path, seconds):
    """Polls a file the sweep is writing (opened read-only, no locking) until
    a model is trained."""
    t0 = time.time()
    while time.time() - t0 < seconds:
        if os.path.exists(path):
            try:
                res = open_results(path)
                n = res.progress()['train']['done']
                res.models, res.labels  # tables of a file being written
                res.close()
                if n >= 1:
                    print(f'file being written: {n} models trained after {time.time() - t0:.1f} s')
                    return 0
            except OSError:
                pass
        time.sleep(0.1)
    return 1


def live(path, out):
    f = h5(path)
    res = open_results(path)
    p = check_progress(res, f)
    print(f'killed sweep left: train {p["train"]}, prune {p["prune"]}')
    check_tables(res, f, 'killed')
    build_report(res, out, strict=True)
    check(os.path.exists(os.path.join(out, 'report.html')), 'killed: report written')
    if p['train']['done'] == 0 or p['prune']['pending'] == 0:
        print('note: the sweep was not caught between its first model and its end')


if __name__ == '__main__':
    np.seterr(all='ignore')
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == 'wait':
        sys.exit(wait(args[0], float(args[1])))
    {'full': full, 'cut': cut, 'live': live}[mode](*args)
    print(f'{len(FAILS)} failed' if FAILS else 'all passed')
    sys.exit(1 if FAILS else 0)
