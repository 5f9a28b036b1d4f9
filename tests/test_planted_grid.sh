#!/usr/bin/env bash
# [data] dataset = planted: the grid's planted_* keys make the generated
# data set (datagen.h ms_images_planted_pairs / ms_images_planted) as IDX
# files in a folder beside the grid named by the parameters (or in dir),
# byte for byte the images tests/synth_data writes for the same set-up
# (independent writer: the C helper, compared decompressed); files already
# there are checked and kept, other files are refused naming the file;
# planted_* keys without dataset = planted and too many classes are grid
# errors naming the line; a short sweep on the planted data trains.
source "$(dirname "$0")/lib.sh"
bin=${MS_BIN:?}
build=${MS_BUILD_DIR:?}
cd "$tmp"
mkdir g
cat > g/pl.ini <<EOF2
[sweep]
name = pl
[data]
dataset = planted
planted_blocks = 2
planted_sub = 3
planted_train = 400
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
EOF2
out=$("$bin" --dry-run g/pl.ini 2>&1); rc=$?
d=g/planted-pairs-b2-s3-n400-100-seed1
check "dry run of a planted grid (exit $rc)" "[ $rc -eq 0 ]"
check "the plan names the planted folder beside the grid" "grep -q 'planted-pairs-b2-s3-n400-100-seed1' <<<\"\$out\""
"$build/tests/synth_data" --planted-pairs 2 3 ref 400 100 || exit 1
same() { cmp -s <(zcat "$1") <(zcat "$2"); }
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  check "$f: the images synth_data --planted-pairs 2 3 writes" "same $d/$f ref/$f"
done
check "no temporary file left" "[ \$(ls $d | wc -l) -eq 4 ]"
# The task bars: the other generator.
sed 's/^planted_sub = 3/planted_sub = 3\nplanted_task = bars/' g/pl.ini > g/bars.ini
"$bin" --dry-run g/bars.ini >/dev/null 2>&1; rc=$?
"$build/tests/synth_data" --planted 2 3 refb 400 100 || exit 1
check "planted_task = bars: the images synth_data --planted writes" \
  "[ $rc -eq 0 ] && same g/planted-bars-b2-s3-n400-100-seed1/t10k-images-idx3-ubyte.gz refb/t10k-images-idx3-ubyte.gz"
# A real (tiny) sweep on the planted data, files already there: kept.
before=$(stat -c %Y $d/train-images-idx3-ubyte.gz)
"$bin" -q --threads 1 g/pl.ini -o pl.h5; rc=$?
check "a sweep on dataset = planted finishes (exit $rc)" "[ $rc -eq 0 ] && [ -f pl.h5 ]"
check "the existing files were checked and kept" "[ \$(stat -c %Y $d/train-images-idx3-ubyte.gz) = $before ]"
# The recovery columns, recomputed from the stored partition and masks
# (numpy: ARI from the contingency table; the module share by counting).
py=${MS_PYTHON:-/usr/bin/python3}
if "$py" -c 'import h5py, numpy' 2>/dev/null; then
  "$py" - pl.h5 <<'EOF3'; rc=$?
import sys
import h5py
import numpy as np
f = h5py.File(sys.argv[1], 'r')
mod = np.minimum(np.arange(28 * 28) % 28 // 14, 1)  # 2 strips of 14 columns
def ari(a, b):
    ct = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(ct, (a, b), 1)
    c2 = lambda x: (x * (x - 1) / 2).sum()
    n = len(a)
    idx, ea, eb = c2(ct), c2(ct.sum(1)), c2(ct.sum(0))
    exp = ea * eb / (n * (n - 1) / 2)
    return (idx - exp) / ((ea + eb) / 2 - exp)
ok = True
part = f['models/part_w'][0][:784]
want = ari(part, mod)
got = f['models/planted_ari_w'][0]
ok &= abs(got - want) < 1e-9 and -1 <= got <= 1
pc = f['models/part_curve_w'][0][0][:784]
ok &= abs(f['models/planted_ari_curve_w'][0][0] - ari(pc, mod)) < 1e-9
mask = f['labels/mask'][0, 0][:16 * 784].reshape(16, 784).astype(bool)
inside = sum(max(int((row & (mod == b)).sum()) for b in (0, 1)) for row in mask)
share = inside / mask.sum()
ok &= abs(f['labels/planted_circuit_share'][0, 0] - share) < 1e-12
print(f'ARI {got:.4f} (numpy {want:.4f}), circuit share {share:.4f}')
sys.exit(0 if ok else 1)
EOF3
  check "planted_ari_w, planted_ari_curve_w and planted_circuit_share recomputed" "[ $rc -eq 0 ]"
else
  echo "skip the recovery columns' recomputation: $py lacks h5py or numpy"
fi
if "$py" -c 'import h5py, numpy, pandas, matplotlib' 2>/dev/null; then
  MPLBACKEND=Agg PYTHONPATH=${MS_SOURCE_DIR:?} "$py" -m analysis.report pl.h5 -o rep >/dev/null 2>&1; rc=$?
  check "the report of a planted sweep draws the planted-recovery figure" \
    "[ $rc -eq 0 ] && [ -s rep/planted_recovery.png ] && grep -q 'Recovery of the planted modules' rep/report.html"
fi
# Other files in the folder: refused, naming the file.
cp refb/t10k-images-idx3-ubyte.gz $d/t10k-images-idx3-ubyte.gz
err=$("$bin" --dry-run g/pl.ini 2>&1); rc=$?
check "other images in the folder: refused naming the file (exit $rc)" \
  "[ $rc -ne 0 ] && grep -q 't10k-images-idx3-ubyte.gz: holds other images' <<<\"\$err\""
# dir given: the files go there.
sed 's/^dataset = planted/dataset = planted\ndir = '"${tmp//\//\\/}"'\/mine/' g/pl.ini > g/dir.ini
"$bin" --dry-run g/dir.ini >/dev/null 2>&1; rc=$?
check "dir = FOLDER: the files are written there" "[ $rc -eq 0 ] && same mine/train-labels-idx1-ubyte.gz ref/train-labels-idx1-ubyte.gz"
# Grid errors.
sed 's/^dataset = planted/dataset = mnist\ndir = ref/' g/pl.ini > g/mn.ini
err=$("$bin" --dry-run g/mn.ini 2>&1); rc=$?
check "planted_blocks with dataset = mnist: an error naming the line" \
  "[ $rc -ne 0 ] && grep -q 'mn.ini:[0-9]*: planted_blocks applies only to dataset = planted' <<<\"\$err\""
sed 's/^planted_blocks = 2/planted_blocks = 3/' g/pl.ini > g/big.ini
err=$("$bin" --dry-run g/big.ini 2>&1); rc=$?
check "3 blocks of 3 sub-labels (27 classes): an error" \
  "[ $rc -ne 0 ] && grep -q '27 classes' <<<\"\$err\""
exit $fail
