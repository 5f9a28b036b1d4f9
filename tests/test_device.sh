#!/usr/bin/env bash
# device = cpu|cuda|auto: asking for cuda where no GPU (or no CUDA build) is
# there is a clear error before any output is made; a grid asking for what
# the GPU trainer does not compute (gpu_support.h) is refused with cuda,
# naming the key and its line, and runs on the CPU with auto, saying why;
# auto falls back to the CPU and the sweep completes. On a machine with a
# GPU the cuda case must run on it and complete.
set -uo pipefail
bin=${MS_BIN:-$(dirname "$0")/../build/modsweep}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
grid() { # grid <device> <file> <gradsim_layers>: gradsim_layers is on line 18
  cat >"$2" <<INI
[sweep]
name = devtest
output = $dir/devtest.h5
device = $1
[data]
dataset = fashion-mnist
train_limit = 300
test_limit = 200
[model]
arch = mlp
hidden = 32, 32
[train]
epochs = 1
batch = 32
[cluster]
bsgc_layers = fc1
layers = none
gradsim_layers = $3
[prune]
labels = 1
layers = fc3
INI
}
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  echo "SKIPPED: no Fashion-MNIST at /usr/share/datasets/fashion-mnist"; exit 77
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
no_results() { [ ! -e "$dir/devtest.h5" ] && [ ! -e "$dir/devtest.h5.part" ]; }

# What the GPU does not compute, with cuda: refused at the grid check,
# on any machine, before any output.
grid cuda "$dir/gs.ini" fc2
out=$("$bin" "$dir/gs.ini" 2>&1); rc=$?
echo "$out"
[ $rc -eq 1 ] || { echo "FAIL: device = cuda with gradsim_layers exited $rc, not 1"; fail=1; }
echo "$out" | grep -q "gs.ini:18: gradsim_layers (in \[cluster\]) needs the CPU" ||
  { echo "FAIL: the refusal does not name gradsim_layers and line 18"; fail=1; }
no_results || { echo "FAIL: a results file was made before the refusal"; fail=1; }

# What the GPU computes, with cuda: runs on a GPU, else the device error.
grid cuda "$dir/cuda.ini" none
out=$("$bin" "$dir/cuda.ini" 2>&1); rc=$?
if echo "$out" | grep -q 'computing on GPU'; then
  echo "$out" | tail -3
  [ $rc -eq 0 ] || { echo "FAIL: device = cuda on a GPU exited $rc"; fail=1; }
  [ -s "$dir/devtest.h5" ] || { echo "FAIL: device = cuda on a GPU made no results"; fail=1; }
  rm -f "$dir/devtest.h5"
else
  echo "$out"
  [ $rc -eq 1 ] || { echo "FAIL: device = cuda without a GPU exited $rc, not 1"; fail=1; }
  echo "$out" | grep -Eq 'device = cuda, but (rank 0 has no usable GPU|this modsweep was built without the CUDA backend)' ||
    { echo "FAIL: the error does not say why cuda cannot be used"; fail=1; }
  no_results || { echo "FAIL: a results file was made before the device error"; fail=1; }
  # Two ranks: the same error, once.
  out2=$(mpirun --oversubscribe -n 2 "$bin" -q "$dir/cuda.ini" 2>&1); rc2=$?
  [ $rc2 -ne 0 ] || { echo "FAIL: two ranks with device = cuda exited 0"; fail=1; }
  n=$(echo "$out2" | grep -c 'device = cuda, but')
  [ "$n" -eq 1 ] || { echo "$out2"; echo "FAIL: expected the error once, got $n lines"; fail=1; }
fi

# auto with what the GPU does not compute: the CPU, with a note naming it.
grid auto "$dir/auto.ini" fc2
out=$("$bin" "$dir/auto.ini" 2>&1) || { echo "$out"; echo "FAIL: device = auto did not complete"; fail=1; }
echo "$out" | grep -q 'device = auto: computing on the CPU, since gradsim_layers (.*auto.ini:18)' ||
  { echo "$out" | head -5; echo "FAIL: device = auto did not say why it computes on the CPU"; fail=1; }
echo "$out" | grep -q 'computing on GPU' && { echo "FAIL: device = auto used the GPU"; fail=1; }
"$bin" --dry-run "$dir/auto.ini" | grep -q 'device = auto: computing on the CPU, since gradsim_layers' ||
  { echo "FAIL: --dry-run does not say that device = auto computes on the CPU"; fail=1; }
[ -s "$dir/devtest.h5" ] || { echo "FAIL: device = auto made no results"; fail=1; }
rm -f "$dir/devtest.h5"
# auto with what the GPU computes: completes (on the GPU where there is one), no note.
grid auto "$dir/auto2.ini" none
out=$("$bin" "$dir/auto2.ini" 2>&1) || { echo "$out"; echo "FAIL: device = auto did not complete"; fail=1; }
echo "$out" | grep -q 'device = auto: computing on the CPU' && { echo "FAIL: a note without cause"; fail=1; }
[ -s "$dir/devtest.h5" ] || { echo "FAIL: device = auto made no results"; fail=1; }
[ $fail -eq 0 ] && echo "all checks passed"
exit $fail
