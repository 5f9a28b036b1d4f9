#!/usr/bin/env bash
# The analysis package with shuffle nulls ([null] shuffles > 0): a tiny real
# sweep on generated MNIST-format data, then tests/test_analysis_null.py
# checks the models table's z / p columns against the file read with h5py,
# the null band of the clusterability figure (its drawn band against the
# stored null mean and sd) and the report's null table. Needs Debian's
# python3 with h5py, numpy, pandas and matplotlib (skipped otherwise).
source "$(dirname "$0")/lib.sh"
analysis_test_setup 300 200
cd "$tmp"
cat > nul.ini <<EOF2
[sweep]
name = nul
[data]
dataset = mnist
dir = $tmp/data
[model]
arch = mlp
hidden = 16, 16, 16
bias = false
[train]
seed = 1, 2
optimizer = adam
lr = 1e-3
epochs = 1
batch = 32
[cluster]
lambda = 0, 5
k = 2
layers = fc2
partition = blocks
bsgc_layers = fc2, fc3
curve_k = 2, 4
kmeans_restarts = 2
[prune]
labels = 0
samples = 10
[measures]
samples = 60
assoc_layers = fc2
mc_steps = 100
[null]
shuffles = 5
EOF2
"$bin" -q --threads 1 nul.ini -o nul.h5; rc=$?
if [ $rc -ne 0 ] || [ ! -f nul.h5 ]; then echo "FAIL the sweep with [null] shuffles = 5 (exit $rc)"; exit 1; fi
echo "ok   the sweep with [null] shuffles = 5"
# The same grid without nulls: no null columns, no band, no null table.
sed 's/^shuffles = 5/shuffles = 0/' nul.ini > off.ini
"$bin" -q --threads 1 off.ini -o off.h5 || { echo "FAIL the sweep with shuffles = 0"; exit 1; }
"$py" "$src/tests/test_analysis_null.py" nul.h5 off.h5 "$tmp/rep"
