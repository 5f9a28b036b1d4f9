#!/usr/bin/env bash
# Training throughput, side by side on the same cores: modsweep's CPU trainer
# and PyTorch (preloaded tensors, batch 64, Adam, same thread count).
#   tests/bench/run_train_bench.sh [build dir]   (needs python3-torch)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
# OpenMP's waiting threads spin this long before sleeping, as modsweep is run
# (scripts/quickstart.sh, slurm/sweep.sh); the same for both processes
# (Debian's PyTorch uses the same libgomp).
export GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-10000000}
printf "| model | threads | modsweep images/s | PyTorch images/s | ratio |\n|---|---|---|---|---|\n"
for model in cnn mlp; do
  for t in 1 2; do
    m=$("$build/bench/bench_train" "$model" "$t" 300 | sed -E 's/.*: ([0-9]+) images.*/\1/')
    p=$(/usr/bin/python3 "$root/tests/bench/pytorch_train.py" "$model" "$t" 300 | sed -E 's/.*: ([0-9]+) images.*/\1/')
    printf "| %s | %s | %s | %s | %.1fx |\n" "$model" "$t" "$m" "$p" "$(echo "$m / $p" | bc -l)"
  done
done
