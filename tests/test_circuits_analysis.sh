#!/usr/bin/env bash
# analysis/circuits.py on a tiny results file written by the real engine: a
# two-model sweep (lambda 0 and 5) on generated MNIST-format data with every
# ablation kind, method and two sizes; the table's means are checked against
# the file read with h5py, the figure is drawn, and the report carries it.
# Needs Debian's python3 with h5py, numpy, pandas and matplotlib (skipped
# otherwise).
source "$(dirname "$0")/lib.sh"
analysis_test_setup 500 300
cat > "$tmp/c.ini" <<EOF2
[sweep]
name = c
output = $tmp/c.h5
[data]
dataset = mnist
dir = $tmp/data
[model]
arch = mlp
hidden = 16, 16
[train]
seed = 1
epochs = 2
batch = 32
[cluster]
lambda = 0, 5
k = 2
layers = fc2
gradsim_layers = none
bsgc_layers = none
curve_k = none
ablate = false
[prune]
labels = 1, 4
samples = 12
ablation = zero, mean, resample
methods = magnitude, attribution, ig
ig_steps = 2
sizes = 0.1, 0.5
EOF2
"$bin" --quiet "$tmp/c.ini" > "$tmp/run.log" 2>&1 || { cat "$tmp/run.log"; exit 1; }
cd "$src" && "$py" - "$tmp/c.h5" "$tmp/out" <<'PY'
import os, sys
import h5py
import numpy as np
from analysis import open_results
from analysis.circuits import circuit_faithfulness, circuit_rows, circuit_table
from analysis.report import build_report

path, out = sys.argv[1], sys.argv[2]
fail = 0
def check(what, cond):
    global fail
    print(('ok   ' if cond else 'FAIL ') + what)
    fail |= not cond

with h5py.File(path, 'r') as f:
    hf = f['labels/heldout_faith'][:]          # (M, L, kinds)
    mf = f['labels/method_faith'][:]           # (M, L, methods, kinds)
    jac = f['labels/method_jaccard'][:]        # (M, L, methods, NFC)
    sf = f['labels/size_faith'][:]             # (M, L, methods, sizes, kinds)
    lam = f['models/lambda'][:]
with open_results(path) as res:
    rows = circuit_rows(res)
    t = circuit_table(res)
    # 2 models x 2 labels x 3 kinds x (exact + 3 methods x (1 + 2 sizes)) rows.
    check('one row per (model, label, method, kind, size)', len(rows) == 2 * 2 * 3 * (1 + 3 * 3))
    for m in range(2):
        for kind_i, kind in enumerate(['zero', 'mean', 'resample']):
            sel = t[(t['lambda'] == lam[m]) & (t['kind'] == kind)]
            ex = sel[sel['method'] == 'exact']['faith'].values
            check(f'exact faithfulness, lambda {lam[m]:g}, {kind}',
                  len(ex) == 1 and np.isclose(ex[0], hf[m, :, kind_i].mean()))
            for mi, meth in enumerate(['magnitude', 'attribution', 'ig']):
                v = sel[sel['method'] == meth]
                check(f'{meth} faithfulness and Jaccard, lambda {lam[m]:g}, {kind}',
                      len(v) == 1 and np.isclose(v['faith'].values[0], mf[m, :, mi, kind_i].mean())
                      and np.isclose(v['jaccard'].values[0], jac[m, :, mi, :].mean()))
    r = rows[(rows['model'] == 1) & (rows['method'] == 'ig') & (rows['kind'] == 'mean') &
             (rows['size'] == 's1')]
    check('size rows carry size_faith', len(r) == 2 and
          np.allclose(np.sort(r['faith'].values), np.sort(sf[1, :, 2, 1, 1])))
    p = circuit_faithfulness(res, out)
    check('figure drawn', not p.skipped and all(os.path.exists(os.path.join(out, x)) for x in p.files))
    parts = build_report(res, out + '/rep', parts=[circuit_faithfulness])
    html = open(out + '/rep/report.html', encoding='utf-8').read()
    check('report has the circuit section and table', 'circuit_faithfulness.png' in html
          and 'Held-out faithfulness at the exact circuit size' in html)
sys.exit(1 if fail else 0)
PY
