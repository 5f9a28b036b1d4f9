#!/usr/bin/env bash
# Pruning speed, side by side on the same cores: seed 000's loop in PyTorch
# (2 threads), modsweep's naive C loop, and the fast path for one full label
# of the paper CNN (1000 Fashion-MNIST images, all four fc layers), with 1 and
# 2 threads and with 2 and 4 ranks splitting the windows.
#   tests/bench/run_prune_bench.sh [build dir]   (needs python3-torch)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 GOMP_SPINCOUNT=10000000
echo "## PyTorch (seed 000 loop, float32, 2 threads, 60 s sample)"
/usr/bin/python3 "$root/tests/bench/pytorch_prune.py" 60 2
echo "## modsweep, 1 rank x 1 thread (includes the naive loop on fc4)"
"$build/bench/bench_prune" 8 1000 60000 1
echo "## modsweep, 1 rank x 2 threads"
"$build/bench/bench_prune" 8 1000 60000 2 | grep -E "fast path"
for n in 2 4; do
  echo "## modsweep, $n ranks x 1 thread (one team)"
  mpirun --oversubscribe --bind-to none -n "$n" "$build/bench/bench_prune" 8 1000 60000 1 | grep -E "fast path"
done
