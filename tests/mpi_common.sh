# Shared set-up of the MPI integration tests (sourced by tests/test_mpi_*.sh).
#
# Makes a scratch directory with a small synthetic MNIST-format data set
# (tests/synth_data: 600 training and 300 test images) and the test
# grid: an MLP 784-16-16-10, two seeds, lambda in {0, 5}, k in {2, 3}, three
# labels, one epoch: 8 models, 40 tasks, a second or two per run.
# Provides: ms (runs modsweep under mpirun with N ranks), fail, the helpers
# below, and the paths $dir, $grid, $MS_BIN, $MS_H5TOOL.
set -u
if ! command -v mpirun >/dev/null 2>&1; then
  echo "SKIPPED: mpirun not found"
  exit 77
fi
: "${MS_BIN:?MS_BIN must name the modsweep binary (ctest sets it)}"
: "${MS_SYNTH_DATA:?MS_SYNTH_DATA must name tests/synth_data (ctest sets it)}"
: "${MS_H5TOOL:?MS_H5TOOL must name tests/tools/ms_h5tool (ctest sets it)}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
export HDF5_USE_FILE_LOCKING=FALSE

dir=$(mktemp -d "${TMPDIR:-/tmp}/ms_mpi.XXXXXX")
# At exit the folders mounted by mount_tmpfs are unmounted, then $dir goes.
mounted=()
mpi_cleanup() {
  local m
  for m in "${mounted[@]}"; do umount "$m" 2>/dev/null; done
  rm -rf "$dir"
}
trap mpi_cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
finish() {
  if [ "$failures" -gt 0 ]; then echo "$failures check(s) failed"; exit 1; fi
  echo "all checks passed"; exit 0
}

"$MS_SYNTH_DATA" "$dir/data" 600 300 || { echo "cannot make the data"; exit 1; }
grid=$dir/grid.ini
write_grid() { # write_grid FILE [LAMBDAS]
  cat > "$1" <<INI
; The MPI integration tests' grid: 8 models (2 seeds x 2 lambdas x 2 k), 3 labels.
[sweep]
name = mpitest
output = out.h5
[data]
dataset = mnist
dir = $dir/data
[model]
arch = mlp
hidden = 16, 16
bias = true
[train]
seeds = 1, 2
optimizer = sgd
lr = 0.05
batch = 32
epochs = 2
[cluster]
lambda = ${2:-0, 5}
k = 2, 3
layers = fc2
curve_k = 2, 4
[prune]
labels = 0, 1, 2
INI
}
write_grid "$grid"

# ms N [modsweep arguments...]: runs modsweep on N ranks in $dir.
ms() {
  local n=$1
  shift
  (cd "$dir" && mpirun --oversubscribe -n "$n" "$MS_BIN" "$@")
}

# The tasks named by "... done on rank" lines of a log, one per line, sorted.
done_in_log() { sed -n "s/^\[[0-9]*\] [0-9:.]* \(.*\) done on rank.*/\1/p" "$1" | sort; }

# Waits (up to $2 s) until log $1 has at least $3 "done on rank" lines.
wait_done_lines() {
  local i n
  for ((i = 0; i < $2 * 10; i++)); do
    n=$(grep -c 'done on rank' "$1" 2>/dev/null)
    [ "${n:-0}" -ge "$3" ] && return 0
    sleep 0.1
  done
  return 1
}

# mount_tmpfs DIR SIZE: mounts a tmpfs of SIZE at DIR (made if missing),
# unmounted at exit; returns 1 with mount's message in $mount_err where
# mounting is not permitted.
mount_tmpfs() {
  mount_err=""
  mkdir -p "$1" && mount_err=$(mount -t tmpfs -o "size=$2" tmpfs "$1" 2>&1) || return 1
  mounted+=("$1")
}

# term_midsweep NAME N OUT LOG SECONDS LINES: runs modsweep on N ranks on
# grid.ini writing OUT in the background (stderr to $dir/LOG), waits up to
# SECONDS s until LOG has LINES "done on rank" lines (else fails "NAME: no
# progress"), sends SIGTERM to every rank (as Slurm sends it) and returns
# mpirun's exit status.
term_midsweep() {
  local name=$1 n=$2 out=$3 log=$4 mp p
  (cd "$dir" && exec mpirun --oversubscribe -n "$n" "$MS_BIN" grid.ini -o "$out" 2> "$dir/$log") &
  mp=$!
  wait_done_lines "$dir/$log" "$5" "$6" || fail "$name: no progress"
  for p in $(pgrep -P "$mp"); do kill -TERM "$p"; done
  wait "$mp"
}

# half_done FROM TO: copies results file $dir/FROM of the test grid to
# $dir/TO with model 7 and the prunings of model 6 back to pending (a
# stopped sweep leaves the same), so that resuming it would write.
half_done() {
  local col t
  cp "$dir/$1" "$dir/$2"
  for col in status attempts; do
    for t in "models/${col}_train 7" "models/${col}_analyse 7" "labels/$col 18" "labels/$col 19" \
             "labels/$col 20" "labels/$col 21" "labels/$col 22" "labels/$col 23"; do
      "$MS_H5TOOL" set "$dir/$2" $t 0 || fail "cannot reset $t"
    done
  done
}

# The pid of world rank $2 among the children of mpirun pid $1.
rank_pid() {
  local p
  for p in $(pgrep -P "$1"); do
    if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
      echo "$p"
      return 0
    fi
  done
  return 1
}
