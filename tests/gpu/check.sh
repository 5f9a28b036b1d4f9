#!/usr/bin/env bash
# The GPU machine's checks, from the device kit that tests/gpu/pack.sh made
# (gpu-kit/modsweep-gpu-kit.tar.xz). Run in the repository root:
#
#   bash tests/gpu/check.sh
#
# The machine needs CUDA 13 (driver, libcudart, libcublas, NCCL) and nothing
# else: MPI, HDF5, BLAS and the rest come from the kit. Steps, each with its
# own time limit (all within 8 minutes); a summary table is printed last:
#   kit         unpack (xz, or Python's lzma where xz is missing), sha256
#   libraries   ldd of every packed program: nothing missing, nothing but
#               CUDA and glibc from outside the kit
#   mpi         a 2-rank CPU sweep from the kit's Open MPI and HDF5
#   gpu         is a GPU usable? Without one every later step is SKIPPED
#   kernels, e2e, team      test_cuda_kernels, test_cuda_e2e, and the
#               2-rank pruning team (test_cuda_kernels team)
#   bench-train bench_gpu train (images/s, share of the FP32 peak)
#   bench-prune bench_gpu prune --check (the GPU's mask equal to the CPU's)
#   bench-paper bench_gpu paper, and modsweep status on its file
#   sweep       a sweep of the paper CNN with device = cuda (what the GPU
#               trains: no regulariser, no gradient similarity), every task done
#   determinism the same sweep again: byte-equal results (ms_h5tool cmp)
#   ranks       the same sweep on 2 ranks: byte-equal to 1 rank
#   restart     the same sweep stopped by SIGTERM during GPU training
#               (exit 75, task pending), resumed: byte-equal
#   memcheck    compute-sanitizer --tool memcheck on a short GPU sweep
# Logs go to $OUT/gpu-check (the device machine's returned folder) when OUT
# is set, else to the scratch folder. Exit: 0 when every step passed, 1 when
# one failed, 77 when none failed but some were skipped (no GPU).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
archive=${MS_KIT:-$root/gpu-kit/modsweep-gpu-kit.tar.xz}
budget=${MS_CHECK_BUDGET:-470} # seconds for everything (8 minutes less a margin)
t_start=$(date +%s)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/msgpu.XXXXXX")
logs=${OUT:+$OUT/gpu-check}
logs=${logs:-$scratch/logs}
mkdir -p "$logs"
K=$scratch/kit
names=() states=() secs=() notes=()
gpu=0
dev=${MS_CHECK_DEVICE:-cuda} # cpu: run the sweep steps on the CPU (to test this script)

record() { # record NAME STATE SECONDS NOTE
  local state=$2
  # MS_CHECK_DEVICE=cpu (testing this script without a GPU): a sweep step
  # that passed on the CPU is no GPU pass.
  [ "$state" = PASS ] && [ "$dev" = cpu ] && [ "$gpu" -eq 0 ] && [ "$1" != mpi ] &&
    [ "$1" != kit ] && [ "$1" != libraries ] && state=CPU-ONLY
  names+=("$1"); states+=("$state"); secs+=("$3"); notes+=("$4")
  printf '%-12s %-8s %5ss  %s\n' "$1" "$state" "$3" "$4"
}
left() { echo $(( budget - ($(date +%s) - t_start) )); }

# run NAME LIMIT CMD...: runs CMD with its output in $logs/NAME.log under
# min(LIMIT, time left); sets rc and dt. A step past its limit fails (124).
run() {
  local name=$1 limit=$2 t0
  shift 2
  local l
  l=$(left)
  [ "$l" -lt "$limit" ] && limit=$l
  if [ "$limit" -lt 5 ]; then rc=124; dt=0; echo "no time left" >"$logs/$name.log"; return; fi
  t0=$(date +%s)
  timeout -k 10 "$limit" "$@" >"$logs/$name.log" 2>&1
  rc=$?
  dt=$(( $(date +%s) - t0 ))
}

# verdict NAME NOTE: PASS for rc 0, SKIPPED for 77, else FAIL (with the log's last line).
verdict() {
  local why
  case $rc in
    0) record "$1" PASS "$dt" "$2" ;;
    77) record "$1" SKIPPED "$dt" "$(grep -m1 -i 'skipped' "$logs/$1.log" || echo 'exit 77')" ;;
    124 | 137) record "$1" FAIL "$dt" "time limit reached (log: $logs/$1.log)" ;;
    *) why=$(grep -v '^\s*$' "$logs/$1.log" | tail -1 | cut -c1-150)
       record "$1" FAIL "$dt" "exit $rc: $why" ;;
  esac
}
skip_gpu() { for n in "$@"; do record "$n" SKIPPED 0 "no GPU (see the gpu step)"; done; }

summary() {
  echo
  echo "== modsweep GPU check: summary ($(( $(date +%s) - t_start )) s; logs in $logs) =="
  printf '| %-11s | %-7s | %6s | %s\n' step result time note
  printf '|-------------|---------|--------|------\n'
  local i fail=0 skip=0
  for i in "${!names[@]}"; do
    printf '| %-11s | %-7s | %5ss | %s\n' "${names[$i]}" "${states[$i]}" "${secs[$i]}" "${notes[$i]}"
    [ "${states[$i]}" = FAIL ] && fail=1
    [ "${states[$i]}" = SKIPPED ] || [ "${states[$i]}" = CPU-ONLY ] && skip=1
  done
  if [ $fail -eq 1 ]; then echo "RESULT: FAILED"; return 1; fi
  if [ $skip -eq 1 ]; then echo "RESULT: NOT COMPLETE (steps skipped)"; return 77; fi
  echo "RESULT: ALL PASSED"
  return 0
}
finish() {
  local rc
  summary | tee "$logs/summary.txt"
  rc=${PIPESTATUS[0]}
  rm -rf "$scratch/kit" "$scratch"/*.h5 2>/dev/null
  exit "$rc"
}

# ---- kit ----------------------------------------------------------------------------
t0=$(date +%s)
if [ ! -f "$archive" ]; then
  record kit FAIL 0 "no kit at $archive: run 'bash tests/gpu/pack.sh' where it was built"
  finish
fi
ok=1
if [ -f "$archive.sha256" ] && command -v sha256sum >/dev/null; then
  (cd "$(dirname "$archive")" && sha256sum -c --quiet "$(basename "$archive").sha256") \
    >"$logs/kit.log" 2>&1 || ok=0
fi
if [ $ok -eq 1 ]; then
  if command -v xz >/dev/null; then
    tar -C "$scratch" -xJf "$archive" >>"$logs/kit.log" 2>&1 || ok=0
  else
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' \
      "$archive" "$scratch" >>"$logs/kit.log" 2>&1 || ok=0
  fi
fi
if [ $ok -eq 0 ] || [ ! -f "$K/env.sh" ]; then
  record kit FAIL $(( $(date +%s) - t0 )) "cannot unpack or verify $archive (see $logs/kit.log)"
  finish
fi
record kit PASS $(( $(date +%s) - t0 )) "unpacked $(du -sh "$K" | cut -f1) into $K"
# shellcheck disable=SC1091
. "$K/env.sh"
# CUDA's libraries: the toolkit's folders, else a Python's nvidia-* wheels.
cuda_dirs=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda/lib; do
  [ -d "$d" ] && cuda_dirs="$cuda_dirs:$d"
done
if command -v python3 >/dev/null; then
  py_nv=$(python3 -c 'import os, nvidia; print(":".join(sorted(os.path.join(p, d, "lib") for p in nvidia.__path__ for d in os.listdir(p) if os.path.isdir(os.path.join(p, d, "lib")))))' 2>/dev/null || true)
  [ -n "$py_nv" ] && cuda_dirs="$cuda_dirs:$py_nv"
fi
export LD_LIBRARY_PATH="$LD_LIBRARY_PATH$cuda_dirs"
[ -x /usr/local/cuda/bin/compute-sanitizer ] && export PATH="$PATH:/usr/local/cuda/bin"

# ---- libraries ------------------------------------------------------------------------
t0=$(date +%s)
: >"$logs/libraries.log"
missing="" outside=""
for f in "$K"/bin/*; do
  ldd "$f" >"$scratch/ldd.txt" 2>&1
  cat "$scratch/ldd.txt" >>"$logs/libraries.log"
  while read -r name arrow path _; do
    [ "$arrow" = "=>" ] || continue
    if [ "$path" = not ]; then
      missing="$missing ${f##*/}:$name"
      continue
    fi
    case "$path" in
      "$K"/lib/*) ;;
      */libc.so.* | */libm.so.* | */libmvec.so.* | */libpthread.so.* | */libdl.so.* | */librt.so.* | \
        */libresolv.so.* | */libutil.so.* | */ld-linux*) ;;
      *cuda* | *nvidia* | */libcuda.so* | */libcudart.so* | */libcublas* | */libnccl*) ;;
      *) outside="$outside ${f##*/}:$path" ;;
    esac
  done <"$scratch/ldd.txt"
done
if [ -n "$missing" ]; then
  record libraries FAIL $(( $(date +%s) - t0 )) "not found:$(echo "$missing" | cut -c1-140)"
elif [ -n "$outside" ]; then
  record libraries FAIL $(( $(date +%s) - t0 )) "from outside the kit:$(echo "$outside" | cut -c1-140)"
else
  record libraries PASS $(( $(date +%s) - t0 )) "every library from the kit, CUDA or glibc"
fi

# ---- grids ------------------------------------------------------------------------------
mlp_grid() { # mlp_grid DEVICE FILE OUTPUT: a tiny MLP sweep
  cat >"$2" <<INI
[sweep]
name = kitmlp
output = $3
device = $1
[data]
dataset = fashion-mnist
dir = $K/data
train_limit = 600
test_limit = 300
[model]
arch = mlp
hidden = 32, 32
[train]
epochs = 1
batch = 32
[cluster]
layers = none
gradsim_layers = none
bsgc_layers = fc1
[prune]
labels = 1
layers = fc3
INI
}
cnn_grid() { # cnn_grid FILE OUTPUT: the paper CNN, what the GPU trains
  cat >"$1" <<INI
[sweep]
name = kitcnn
output = $2
device = $dev
[data]
dataset = fashion-mnist
dir = $K/data
layout = 3x32x32
$cnn_limits
[model]
arch = cnn
conv = 16
kernel = 3
padding = 1
hidden = 64, 64, 64
bias = false
[train]
seed = 0, 1
optimizer = adam
lr = 1e-3
batch = 64
epochs = 2
[cluster]
layers = none
gradsim_layers = none
[prune]
labels = 0, 1
INI
}
# On the CPU (MS_CHECK_DEVICE=cpu, testing this script) a smaller run.
cnn_limits="test_limit = 2000"
[ "$dev" = cpu ] && cnn_limits=$'train_limit = 1000\ntest_limit = 300'
ntasks() { "$K/bin/ms_h5tool" done "$1" 2>/dev/null | wc -l; }

# ---- mpi (no GPU needed) ------------------------------------------------------------------
mlp_grid cpu "$scratch/mpi.ini" "$scratch/mpi.h5"
run mpi 120 mpirun -n 2 "$K/bin/modsweep" -q "$scratch/mpi.ini"
if [ $rc -eq 0 ] && [ "$(ntasks "$scratch/mpi.h5")" -eq 3 ]; then
  record mpi PASS "$dt" "2-rank CPU sweep from the kit's Open MPI and HDF5: 3 of 3 tasks done"
else
  [ $rc -eq 0 ] && rc=1
  verdict mpi "2-rank CPU sweep"
fi

# ---- gpu ----------------------------------------------------------------------------------
run gpu 60 "$K/bin/test_cuda_kernels" --probe
gpu_why=$(head -1 "$logs/gpu.log")
if [ $rc -eq 0 ]; then
  gpu=1
  name=$(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)
  record gpu PASS "$dt" "${name:-a GPU is usable}"
else
  record gpu SKIPPED "$dt" "${gpu_why:-no GPU}"
  if [ "$dev" != cpu ]; then
    skip_gpu kernels e2e team bench-train bench-prune bench-paper sweep determinism ranks restart \
      memcheck
    finish
  fi
  skip_gpu kernels e2e team bench-train bench-prune bench-paper
fi
if [ $gpu -eq 1 ]; then

# ---- the CUDA tests -----------------------------------------------------------------------------
run kernels 150 "$K/bin/test_cuda_kernels"
verdict kernels "$(grep -c '^ok' "$logs/kernels.log") test groups ok"
run e2e 150 "$K/bin/test_cuda_e2e"
verdict e2e "$(grep -m1 'one step: update' "$logs/e2e.log" | sed 's/^ *//' | cut -c1-90)"
run team 120 mpirun -n 2 "$K/bin/test_cuda_kernels" team
verdict team "2-rank pruning team"

# ---- bench_gpu ------------------------------------------------------------------------------------
run bench-train 120 "$K/bin/bench_gpu" train --fashion "$K/data"
verdict bench-train "$(grep -m1 -o '[0-9]* images/s.*peak[^,]*' "$logs/bench-train.log" | cut -c1-120)"
run bench-prune 180 "$K/bin/bench_gpu" prune --check --fashion "$K/data"
if [ $rc -eq 0 ] && ! grep -q 'identical' "$logs/bench-prune.log"; then rc=1; fi
verdict bench-prune "$(grep -m1 -o 'on the GPU: [0-9.]* s' "$logs/bench-prune.log"); CPU $(grep -m1 -o 'mask, loss and ties [A-Z]*[a-z]*' "$logs/bench-prune.log")"
run bench-paper 240 "$K/bin/bench_gpu" paper --fashion "$K/data"
paper_file=$(grep -o 'results in [^)]*' "$logs/bench-paper.log" | sed 's/results in //')
if [ -n "$paper_file" ] && [ -f "$paper_file" ]; then
  "$K/bin/modsweep" status "$paper_file" >>"$logs/bench-paper.log" 2>&1
  rm -rf "$(dirname "$paper_file")"
fi
refused=$(grep -m1 -o '[a-z_]* (in \[[a-z]*\]) needs the CPU' "$logs/bench-paper.log")
if [ -n "$refused" ]; then
  # The paper grid asks for what the GPU trainer does not compute yet
  # (src/sweep/gpu_support.c): no GPU figure until it does.
  record bench-paper FAIL "$dt" "refused by the grid check: $refused (docs/gpu.md)"
else
  verdict bench-paper "$(grep -m1 -o 'GPU: [0-9.]* s' "$logs/bench-paper.log") $(grep -m1 -o 'tasks: .*pending of [0-9]*' "$logs/bench-paper.log")"
fi

fi

# ---- sweeps: done, determinism, ranks, restart ------------------------------------------------
cnn_grid "$scratch/a.ini" "$scratch/a.h5"
cnn_grid "$scratch/b.ini" "$scratch/b.h5"
cnn_grid "$scratch/c.ini" "$scratch/c.h5"
cnn_grid "$scratch/d.ini" "$scratch/d.h5"
expect=$(( 2 * 2 + 2 * 2 )) # 2 models: train + analyse each, 2 prunings each
run sweep 150 "$K/bin/modsweep" "$scratch/a.ini"
"$K/bin/modsweep" status "$scratch/a.h5" >>"$logs/sweep.log" 2>&1
n=$(ntasks "$scratch/a.h5")
[ $rc -eq 0 ] && [ "$n" -ne $expect ] && rc=1
verdict sweep "paper CNN, device = $dev: $n of $expect tasks done"
run determinism 150 "$K/bin/modsweep" -q "$scratch/b.ini"
[ $rc -eq 0 ] && { "$K/bin/ms_h5tool" cmp "$scratch/a.h5" "$scratch/b.h5" >>"$logs/determinism.log" 2>&1 || rc=1; }
verdict determinism "a second run is byte-equal (ms_h5tool cmp)"
run ranks 150 mpirun -n 2 "$K/bin/modsweep" -q "$scratch/c.ini"
[ $rc -eq 0 ] && { "$K/bin/ms_h5tool" cmp "$scratch/a.h5" "$scratch/c.h5" >>"$logs/ranks.log" 2>&1 || rc=1; }
verdict ranks "2 ranks (one GPU shared) byte-equal to 1 rank"
# restart: SIGTERM once the first model's GPU training is under way.
t0=$(date +%s)
"$K/bin/modsweep" -v "$scratch/d.ini" >"$logs/restart.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  grep -q 'epoch 1/2' "$logs/restart.log" 2>/dev/null && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.2
done
kill -TERM $pid 2>/dev/null
wait $pid
rc1=$?
run restart-b 150 "$K/bin/modsweep" -q "$scratch/d.ini"
cat "$logs/restart-b.log" >>"$logs/restart.log"
rm -f "$logs/restart-b.log"
dt=$(( $(date +%s) - t0 ))
if [ $rc1 -ne 75 ]; then
  rc=1
  echo "the stopped run exited $rc1, not 75" >>"$logs/restart.log"
elif [ $rc -eq 0 ]; then
  "$K/bin/ms_h5tool" cmp "$scratch/a.h5" "$scratch/d.h5" >>"$logs/restart.log" 2>&1 || rc=1
fi
verdict restart "SIGTERM in GPU training: exit $rc1 (75 = resumable), resumed byte-equal"

# ---- memcheck ------------------------------------------------------------------------------------
if [ $gpu -eq 0 ]; then
  skip_gpu memcheck
elif command -v compute-sanitizer >/dev/null; then
  mlp_grid cuda "$scratch/mc.ini" "$scratch/mc.h5"
  run memcheck 150 compute-sanitizer --tool memcheck --error-exitcode 3 \
    "$K/bin/modsweep" -q "$scratch/mc.ini"
  verdict memcheck "$(grep -m1 'ERROR SUMMARY' "$logs/memcheck.log")"
else
  record memcheck SKIPPED 0 "no compute-sanitizer under /usr/local/cuda/bin or on PATH"
fi
finish
