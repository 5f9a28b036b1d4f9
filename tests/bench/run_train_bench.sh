#!/usr/bin/env bash
# Training throughput, side by side on the same cores: modsweep's CPU trainer
# on each kernel path (MODSWEEP_ISA) and PyTorch (preloaded tensors, batch
# 64, Adam, same thread count), with the share of the machine's FP32 peak
# (measured here with an FMA loop per path) per kernel and for the whole
# training step.
#   tests/bench/run_train_bench.sh [build dir]   (needs python3-torch)
# Environment: PATHS (default: every path this CPU has, e.g. "generic avx2
# avx512"), THREADS (default "1 2"), MODELS (default "cnn mlp"), STEPS
# (default 300; a few steps make a quick check that the script runs).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
# OpenMP's waiting threads spin this long before sleeping, as modsweep is run
# (scripts/quickstart.sh, slurm/sweep.sh); the same for both processes
# (Debian's PyTorch uses the same libgomp).
export GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-10000000}
steps=${STEPS:-300}
threads=${THREADS:-1 2}
models=${MODELS:-cnn mlp}
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }
if [ -z "${PATHS:-}" ]; then
  PATHS=generic
  has avx2 fma bmi1 bmi2 && PATHS="$PATHS avx2"
  has avx2 fma bmi1 bmi2 avx512f avx512dq avx512bw avx512vl avx512cd && PATHS="$PATHS avx512"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
num() { sed -nE "$1" "$2" | head -1; }

# PyTorch once per model and thread count (it does not depend on the path).
for model in $models; do
  for t in $threads; do
    /usr/bin/python3 "$root/tests/bench/pytorch_train.py" "$model" "$t" "$steps" > "$tmp/pt.$model.$t"
    for isa in $PATHS; do
      MODSWEEP_ISA=$isa "$build/bench/bench_train" "$model" "$t" "$steps" > "$tmp/ms.$model.$t.$isa"
    done
  done
done

first=$(ls "$tmp"/ms.* | head -1)
echo "CPU: $(num 's/.*; cpu (.*); BLAS core.*/\1/p' "$first");" \
  "OpenBLAS core: $(num 's/.*BLAS core (.*)$/\1/p' "$first"); paths: $PATHS; $steps steps per epoch"
echo
echo "FP32 peak measured with an FMA loop (mul+add on generic), GFLOP/s:"
printf "| threads |"; for isa in $PATHS; do printf " %s |" "$isa"; done; echo
printf "|---|"; for isa in $PATHS; do printf -- "---|"; done; echo
for t in $threads; do
  printf "| %s |" "$t"
  m=${models%% *}
  for isa in $PATHS; do printf " %s |" "$(num 's/^peak path=[a-z0-9]+ threads=[0-9]+: ([0-9.]+) GFLOP.*/\1/p' "$tmp/ms.$m.$t.$isa")"; done
  echo
done
echo
echo "Training step (batch 64), share of FP32 peak: of the path's own peak and of the machine's"
echo "(its best path's); PyTorch's share uses the same FLOP count:"
echo "| model | threads | path | modsweep images/s | PyTorch images/s | ratio | step GFLOP/s | % path peak | % machine peak | PyTorch % machine peak |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for model in $models; do
  for t in $threads; do
    p=$(num 's/.*: ([0-9]+) images.*/\1/p' "$tmp/pt.$model.$t")
    for isa in $PATHS; do
      f=$tmp/ms.$model.$t.$isa
      m=$(num 's/^modsweep .*: ([0-9]+) images.*/\1/p' "$f")
      mfl=$(num 's/^step: .* ([0-9.]+) MFLOP.*/\1/p' "$f")
      gf=$(num 's/^step: .*MFLOP, ([0-9.]+) GFLOP.*/\1/p' "$f")
      pp=$(num 's/^step: .*GFLOP\/s, ([0-9.]+)% of path peak.*/\1/p' "$f")
      mp=$(num 's/^step: .*, ([0-9.]+)% of machine peak.*/\1/p' "$f")
      mpeak=$(num 's/^peak .*machine \(path [a-z0-9]+\): ([0-9.]+) GFLOP.*/\1/p' "$f")
      ptp=$(echo "$mfl * $p / 64 / 1000 / $mpeak * 100" | bc -l)
      printf "| %s | %s | %s | %s | %s | %.1fx | %s | %s%% | %s%% | %.1f%% |\n" "$model" "$t" "$isa" \
        "$m" "$p" "$(echo "$m / $p" | bc -l)" "$gf" "$pp" "$mp" "$ptp"
    done
  done
done
echo
echo "Each kernel alone on the model's shapes (ms per step; FLOPs: 2 per multiply-add of the dense model, so the sparse conv backward's rate is effective and can pass the peak):"
echo "| model | threads | path | kernel | ms/step | GFLOP/s | % path peak | % machine peak |"
echo "|---|---|---|---|---|---|---|---|"
for model in $models; do
  for t in $threads; do
    for isa in $PATHS; do
      sed -nE "s/^kernel (.*): ([0-9.]+) ms\/step, ([0-9.]+) GFLOP\/s, ([0-9.]+)% of path peak, ([0-9.]+)% of machine peak/| $model | $t | $isa | \1 | \2 | \3 | \4% | \5% |/p" \
        "$tmp/ms.$model.$t.$isa"
    done
  done
done
