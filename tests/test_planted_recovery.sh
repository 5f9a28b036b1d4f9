#!/usr/bin/env bash
# dataset = planted, recovery scores beyond fc1's inputs of an MLP on 28 x 28:
# four tiny sweeps (an MLP with the Newman measures on fc1 and fc2, trained
# and untrained; an MLP on layout 3x32x32; a CNN on the native layout and
# on 3x32x32) write finite planted ARI columns (planted_ari_w and its curve,
# planted_ari_hidden_w and its curve, planted_ari_assoc, and the circuit
# share), and each is recomputed with numpy from the stored partitions,
# parameters and masks: the strip of each fc1 input from a brute force over
# pixel coordinates (for a CNN: the image pixels each pooled position
# depends on, found by marking the conv inputs every kept conv output
# reads), the hidden units' planted modules from the absolute weight mass
# traced to the strips by matrix products, the ARI from the contingency
# table.
set -uo pipefail
bin=${MS_BIN:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # description, condition
  if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
py=${MS_PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import h5py, numpy' 2>/dev/null; then
  echo "skip: $py lacks h5py or numpy (the columns are checked against numpy)"
  exit 77
fi
cd "$tmp"
cat > mlp.ini <<'EOF2'
[sweep]
name = plr
[data]
dataset = planted
planted_blocks = 2
planted_sub = 3
planted_train = 300
planted_test = 100
[model]
arch = mlp
hidden = 16, 16
[train]
seed = 1
epochs = 1
batch = 32
[cluster]
lambda = 0
k = 2
layers = fc1
bsgc_layers = fc1
curve_k = 3
[prune]
labels = 0
samples = 10
[measures]
untrained = true
samples = 100
assoc_layers = fc1, fc2
mc_steps = 200
EOF2
sed 's/^dataset = planted/dataset = planted\nlayout = 3x32x32/; /^\[measures\]/,$d' mlp.ini > pad.ini
# The CNN on the bars task (3 epochs, so that label 0 has a circuit).
sed 's/^arch = mlp/arch = cnn\nconv = 4/; s/^hidden = 16, 16/hidden = 16/; s/^epochs = 1/epochs = 3/;
     s/^planted_sub = 3/planted_sub = 3\nplanted_task = bars/; /^\[measures\]/,$d' mlp.ini > cnn.ini
sed 's/^dataset = planted/dataset = planted\nlayout = 3x32x32/' cnn.ini > cnnpad.ini
for g in mlp pad cnn cnnpad; do
  "$bin" -q --threads 1 $g.ini -o $g.h5; rc=$?
  check "planted sweep $g finishes (exit $rc)" "[ $rc -eq 0 ] && [ -f $g.h5 ]"
done
"$py" - <<'EOF3'; rc=$?
import sys
import h5py
import numpy as np

def strip(x, blocks=2, w=28):
    return min(x // (w // blocks), blocks - 1)

def ari(a, b):
    keep = (a >= 0) & (b >= 0)
    a, b = a[keep], b[keep]
    ct = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(ct, (a, b), 1)
    c2 = lambda x: (x * (x - 1) / 2).sum()
    n = len(a)
    idx, ea, eb = c2(ct), c2(ct.sum(1)), c2(ct.sum(0))
    exp = ea * eb / (n * (n - 1) / 2)
    return (idx - exp) / ((ea + eb) / 2 - exp)

def marked(n_img, n_conv, k, p, pos):
    """Image coordinates (one dimension) pooled position pos of the last
    conv block depends on: the conv inputs every kept conv output reads."""
    sizes = [n_img]
    for _ in range(n_conv):
        sizes.append((sizes[-1] + 2 * p - k + 1) // 2)
    cur = {pos}
    for l in range(n_conv, 0, -1):
        n_in = sizes[l - 1]
        conv_out = [o for o in range(n_in + 2 * p - k + 1) if o // 2 in cur and o // 2 < sizes[l]]
        cur = {o - p + t for o in conv_out for t in range(k) if 0 <= o - p + t < n_in}
    return cur, sizes[-1]

def input_strips(cnn, side, chans):
    pad = (side - 28) // 2
    if not cnn:
        out = []
        for c in range(chans):
            for y in range(side):
                for x in range(side):
                    ys, xs = y - pad, x - pad
                    out.append(strip(xs) if 0 <= ys < 28 and 0 <= xs < 28 else -1)
        return np.array(out)
    # One conv block, kernel 3, padding 1, 4 channels.
    _, n = marked(side, 1, 3, 1, 0)
    grid = np.full((n, n), -1)
    for y in range(n):
        rows = {r - pad for r in marked(side, 1, 3, 1, y)[0]} & set(range(28))
        for x in range(n):
            cols = sorted({c - pad for c in marked(side, 1, 3, 1, x)[0]} & set(range(28)))
            if rows and cols:
                grid[y, x] = strip((cols[0] + cols[-1]) // 2)
    return np.tile(grid.ravel(), 4)

def fc_weights(f):
    off = {}
    for t in f.attrs['tensors'].split():
        name, o, n = t.rsplit(':', 2)
        off[name] = (int(o), int(n))
    p = f['models/params'][0]
    ws = []
    for l in range(1, 10):
        if f'fc{l}.weight' not in off:
            break
        o, n = off[f'fc{l}.weight']
        ws.append(p[o:o + n])
    return ws

def unit_strips(ws, outs, strips, layer):
    """Traced absolute weight mass per strip -> argmax (ties lowest), -1 if 0."""
    onehot = np.zeros((len(strips), 2))
    for i, s in enumerate(strips):
        if s >= 0:
            onehot[i, s] = 1
    mass = onehot
    for l in range(layer + 1):
        W = np.abs(ws[l].astype(np.float64)).reshape(outs[l], -1)
        mass = W @ mass
    lab = mass.argmax(1)
    lab[mass.max(1) <= 0] = -1
    return lab

ok = True
def expect(cond, what):
    global ok
    print(('ok   ' if cond else 'FAIL ') + what)
    ok &= bool(cond)

for g, cnn, side, chans in [('mlp', 0, 28, 1), ('pad', 0, 32, 3), ('cnn', 1, 28, 1),
                            ('cnnpad', 1, 32, 3)]:
    f = h5py.File(g + '.h5', 'r')
    m = f['models']
    strips = input_strips(cnn, side, chans)
    P, H = len(strips), 16
    ws = fc_weights(f)
    outs = [H] + ([16] if not cnn else []) + [10]
    units = unit_strips(ws, outs, strips, 0)
    cols = {c: float(np.ravel(m[c][()])[0]) for c in
            ('planted_ari_w', 'planted_ari_curve_w', 'planted_ari_hidden_w',
             'planted_ari_hidden_curve_w')}
    share_got = float(f['labels/planted_circuit_share'][0, 0])
    expect(all(np.isfinite(v) for v in cols.values()) and np.isfinite(share_got),
           f'{g}: the planted columns are finite ({cols}, share {share_got:.4f})')
    part = m['part_w'][0]
    pc = m['part_curve_w'][0][0]
    expect(abs(cols['planted_ari_w'] - ari(part[:P], strips)) < 1e-9,
           f'{g}: planted_ari_w = numpy {ari(part[:P], strips):.6f}')
    expect(abs(cols['planted_ari_curve_w'] - ari(pc[:P], strips)) < 1e-9,
           f'{g}: planted_ari_curve_w recomputed')
    expect(abs(cols['planted_ari_hidden_w'] - ari(part[P:P + H], units)) < 1e-9,
           f'{g}: planted_ari_hidden_w = numpy {ari(part[P:P + H], units):.6f}')
    expect(abs(cols['planted_ari_hidden_curve_w'] - ari(pc[P:P + H], units)) < 1e-9,
           f'{g}: planted_ari_hidden_curve_w recomputed')
    mask = f['labels/mask'][0, 0][:H * P].reshape(H, P).astype(bool)
    known = mask[:, strips >= 0]
    st = strips[strips >= 0]
    inside = sum(max(int((row & (st == b)).sum()) for b in (0, 1)) for row in known)
    expect(known.sum() > 0 and abs(share_got - inside / known.sum()) < 1e-12,
           f'{g}: planted_circuit_share = numpy {inside / max(known.sum(), 1):.6f}')
    if g == 'mlp':
        q = m['planted_ari_assoc'][0]  # (variant, assoc layer, method)
        lab = m['assoc_labels'][0]
        expect(q.shape == (2, 2, 8) and np.isfinite(q).all(),
               'mlp: planted_ari_assoc finite for both variants, both layers, all 8 methods')
        worst = 0.0
        for k, layer in enumerate((0, 1)):
            u = unit_strips(ws, outs, strips, layer)
            for mt in range(8):
                worst = max(worst, abs(q[0, k, mt] - ari(lab[0, k, mt, :16], u)))
        expect(worst < 1e-9, f'mlp: planted_ari_assoc of the trained model = numpy (|diff| {worst:.2g})')
    else:
        expect(np.isnan(m['planted_ari_assoc'][()]).all() if 'planted_ari_assoc' in m else True,
               f'{g}: no Newman measures, planted_ari_assoc NaN')
sys.exit(0 if ok else 1)
EOF3
check "the planted columns recomputed with numpy" "[ $rc -eq 0 ]"
# The analysis package: the models table's planted columns are the file's,
# the report has the planted table and draws the figure.
if "$py" -c 'import pandas, matplotlib' 2>/dev/null; then
  MPLBACKEND=Agg PYTHONPATH=${MS_SOURCE_DIR:?} "$py" - <<'EOF4'; rc=$?
import sys
import h5py
import numpy as np
from analysis.results import open_results
from analysis.report import build_report
ok = True
res = open_results('mlp.h5')
df = res.models
f = h5py.File('mlp.h5', 'r')
q = f['models/planted_ari_assoc'][0]
want = {'planted_ari_w': f['models/planted_ari_w'][0],
        'planted_ari_hidden_w': f['models/planted_ari_hidden_w'][0],
        'planted_ari_assoc_fc1_forward_cov': q[0, 0, 0],
        'planted_ari_assoc_fc2_backward_jac_norm_untrained': q[1, 1, 6],
        'planted_circuit_share': f['labels/planted_circuit_share'][0, 0]}
for c, v in want.items():
    good = c in df and abs(df[c].iloc[0] - v) < 1e-12
    print(('ok   ' if good else 'FAIL ') + f'models table {c} = the file\'s {v:.6f}')
    ok &= good
build_report(res, 'rep', strict=True)
html = open('rep/report.html', encoding='utf-8').read()
good = 'Recovery of the planted modules</h2>' in html and 'ARI Newman fc2 (mean of 8)' in html
print(('ok   ' if good else 'FAIL ') + 'report.html has the planted table with the Newman ARI')
ok &= good
res.close()
res = open_results('cnn.h5')
build_report(res, 'repc', strict=True)
html = open('repc/report.html', encoding='utf-8').read()
good = 'planted_recovery.png' in html and 'ARI fc1 units' in html and 'ARI Newman' not in html
print(('ok   ' if good else 'FAIL ') + 'the CNN report draws the planted figure and table')
ok &= good
sys.exit(0 if ok else 1)
EOF4
  check "the analysis package shows the new planted columns" "[ $rc -eq 0 ]"
fi
exit $fail
