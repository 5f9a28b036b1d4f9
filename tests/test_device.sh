#!/usr/bin/env bash
# device = cpu|cuda|auto: asking for cuda where no GPU (or no CUDA build) is
# there is a clear error before any output is made; auto falls back to the
# CPU and the sweep completes. On a machine with a GPU the cuda case is
# skipped here (test_cuda_e2e covers it).
set -uo pipefail
bin=${MS_BIN:-$(dirname "$0")/../build/modsweep}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
grid() { # grid <device> <file>
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
gradsim_layers = fc2
[prune]
labels = 1
layers = fc3
INI
}
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  echo "SKIPPED: no Fashion-MNIST at /usr/share/datasets/fashion-mnist"; exit 77
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

grid cuda "$dir/cuda.ini"
out=$("$bin" -q "$dir/cuda.ini" 2>&1); rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q 'GPU'; then
  echo "a GPU is usable here: the error case is not testable (ok)"
else
  echo "$out"
  [ $rc -eq 1 ] || { echo "FAIL: device = cuda without a GPU exited $rc, not 1"; fail=1; }
  echo "$out" | grep -Eq 'device = cuda, but (rank 0 has no usable GPU|this modsweep was built without the CUDA backend)' ||
    { echo "FAIL: the error does not say why cuda cannot be used"; fail=1; }
  [ ! -e "$dir/devtest.h5" ] && [ ! -e "$dir/devtest.h5.part" ] ||
    { echo "FAIL: a results file was made before the device error"; fail=1; }
  # Two ranks: the same error, once.
  out2=$(mpirun --oversubscribe -n 2 "$bin" -q "$dir/cuda.ini" 2>&1); rc2=$?
  [ $rc2 -ne 0 ] || { echo "FAIL: two ranks with device = cuda exited 0"; fail=1; }
  n=$(echo "$out2" | grep -c 'device = cuda, but')
  [ "$n" -eq 1 ] || { echo "$out2"; echo "FAIL: expected the error once, got $n lines"; fail=1; }
fi

grid auto "$dir/auto.ini"
"$bin" -q "$dir/auto.ini" || { echo "FAIL: device = auto did not complete"; fail=1; }
[ -s "$dir/devtest.h5" ] || { echo "FAIL: device = auto made no results"; fail=1; }
[ $fail -eq 0 ] && echo "all checks passed"
exit $fail
