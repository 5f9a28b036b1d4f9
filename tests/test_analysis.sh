#!/usr/bin/env bash
# The analysis package (analysis/) on results files written by the real
# engine: a short sweep on generated MNIST-format data (tests/synth_data),
# then tests/test_analysis.py checks the tables and arrays against the file
# read with h5py, the figures and the report, a copy rewritten as an
# interrupted sweep leaves it, and a file read while a sweep writes it and
# then left by killing that sweep with SIGTERM. Needs Debian's python3 with
# h5py, numpy, pandas and matplotlib (skipped otherwise).
source "$(dirname "$0")/lib.sh"
analysis_test_setup 600 300
grid() { # name: a grid file in $tmp
  cat > "$tmp/$1.ini" <<EOF
[sweep]
name = $1
[data]
dataset = mnist
dir = $tmp/data
[model]
arch = mlp
hidden = 32, 32, 32
bias = false
dropout = 0, 0.25
[train]
seed = 1, 2
optimizer = adam
lr = 1e-3
epochs = 2
batch = 32
[cluster]
lambda = 0, 5
k = 2, 4
layers = fc2
partition = blocks
gradsim_layers = fc2, fc3
bsgc_layers = fc2, fc3
curve_k = 2, 4, 6
[prune]
labels = 0, 3
samples = 20
[measures]
untrained = true
samples = 100
info_layers = fc1, fc2, fc3
unitset_size = 4
unitset_draws = 3
ablate_layer = fc2
directions = 5
maxkl_starts = 2
assoc_layers = fc1, fc2
mc_steps = 300
null_shuffles = 49
EOF
}
cd "$tmp"
grid an
"$bin" -q --threads 1 an.ini -o an.h5; rc=$?
check "the sweep finishes" "[ $rc -eq 0 ] && [ -f an.h5 ]"
[ -f an.h5 ] || exit 1
"$py" "$src/tests/test_analysis.py" full an.h5 "$tmp/report" || fail=1
cli() { PYTHONPATH=$src "$py" -m analysis.report "$@"; }
err=$(cli status nothere.h5 2>&1); rc=$?
check "status of a missing file: exit 1, names it" "[ $rc -eq 1 ] && grep -q nothere.h5 <<<\"\$err\""
echo "not hdf5" > bad.h5
err=$(cli bad.h5 -o rep_bad 2>&1); rc=$?
check "report of a file that is not HDF5: exit 1, names it" "[ $rc -eq 1 ] && grep -q bad.h5 <<<\"\$err\""
cli an.h5 >/dev/null 2>&1; rc=$?
check "report without -o: usage error (exit 2)" "[ $rc -eq 2 ]"
out=$(cli tables an.h5 -o tables); rc=$?
check "tables: models.csv and labels.csv" "[ $rc -eq 0 ] && [ -s tables/models.csv ] && [ -s tables/labels.csv ]"
out=$(PYTHONPATH=$src "$py" -m analysis status an.h5); rc=$?
check "python3 -m analysis status" "[ $rc -eq 0 ] && grep -q complete <<<\"\$out\""
"$py" "$src/scripts/cluster_figures.py" an.h5 cf > cf.md 2>/dev/null; rc=$?
check "scripts/cluster_figures.py: its three figures and the ON/OFF tables" \
  "[ $rc -eq 0 ] && [ -s cf/cluster_training.png ] && [ -s cf/cluster_curve.png ] && [ -s cf/cluster_onoff.png ] && grep -q '| 0 OFF |' cf.md"
"$py" "$src/tests/test_analysis.py" cut an.h5 cut.h5 "$tmp/report_cut" || fail=1

# The same sweep again, read while it runs and killed with SIGTERM after its
# first model is trained.
"$bin" -q --threads 1 an.ini -o live.h5 & pid=$!
"$py" "$src/tests/test_analysis.py" wait live.h5 120; rc=$?
kill -TERM "$pid" 2>/dev/null
wait "$pid"; src_rc=$?
check "a file being written is read (first model trained seen)" "[ $rc -eq 0 ]"
check "the sweep stopped (exit $src_rc)" "[ -f live.h5 ]"
"$py" "$src/tests/test_analysis.py" live live.h5 "$tmp/report_live" || fail=1
exit $fail
