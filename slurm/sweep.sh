#!/usr/bin/env bash
# slurm/sweep.sh: runs (or resumes) a modsweep sweep as a Slurm batch job and
# requeues itself when its time limit is near, until the sweep is finished.
#
#   sbatch slurm/sweep.sh GRID.ini [modsweep options]
#
# Every run of the job is the same command: modsweep skips the tasks the
# results file marks done and finishes the rest. Slurm sends USR1 to this
# script (the B: of --signal) some seconds before the time limit; the script
# forwards it to the MPI job, modsweep stops handing out work, lets the tasks
# in progress finish (training in progress gives up at its next step and is
# redone later), closes the results file and exits with status 75 (under
# mpirun the launcher may still exit 1); the script then asks the results
# file (`modsweep status --check`: 75 tasks left) and requeues the job when
# work is left. A job whose tasks failed for good ends with status 1 (see
# --retry-failed). Choose the signal's lead time longer than
# your longest prune task (pruning is not interrupted).
#
# Resources (override any of them on the sbatch command line):
#SBATCH --job-name=modsweep
#   Nodes: ranks are spread over them; all share one results file, which must
#   be on a file system every node sees.
#SBATCH --nodes=1
#   MPI ranks per node: one per GPU with `device = cuda`, else a few per node
#   (each rank trains or prunes one task at a time).
#SBATCH --ntasks-per-node=2
#   Cores per rank: the rank's kernel threads (modsweep --threads).
#SBATCH --cpus-per-task=1
#   GPUs: enable (remove one '#') for `device = cuda`: one GPU per rank.
##SBATCH --gpus-per-task=1
#   Time limit of ONE run; the job requeues itself until the sweep is done.
#SBATCH --time=04:00:00
#   USR1 to this batch script (B:) 300 s before the limit.
#SBATCH --signal=B:USR1@300
#   Allow `scontrol requeue`, and keep earlier runs' output in the log.
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=modsweep-%j.out
#
# Environment (optional):
#   MODSWEEP           the modsweep binary (default: modsweep on PATH, else
#                      build/modsweep next to this script's directory)
#   MODSWEEP_LAUNCHER  srun (srun --mpi=pmix; Debian needs libpmix-dev),
#                      mpirun, or auto (default: srun when Slurm offers pmix)
set -u

if [ $# -lt 1 ]; then
  echo "usage: sbatch slurm/sweep.sh GRID.ini [modsweep options]" >&2
  exit 2
fi
grid=$1
shift

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# sbatch runs a copy of this script from its spool directory: look next to
# the directory the job was submitted from as well.
bin=${MODSWEEP:-}
if [ -z "$bin" ]; then
  if command -v modsweep >/dev/null 2>&1; then
    bin=$(command -v modsweep)
  else
    for d in "$here/.." "${SLURM_SUBMIT_DIR:-.}"; do
      [ -x "$d/build/modsweep" ] && bin="$d/build/modsweep" && break
    done
  fi
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  echo "sweep.sh: modsweep not found (set MODSWEEP=/path/to/modsweep)" >&2
  exit 1
fi

# Network file systems (NFS, Lustre) often lack the locks HDF5 takes; the
# results file is shared by design, so HDF5's own locking is off.
export HDF5_USE_FILE_LOCKING=FALSE
# The pruning's OpenMP steps are short: let idle threads spin a while
# rather than sleep between them (see docs/sweeps.md, "Threads and cores").
export GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-10000000}
# When Slurm itself sends SIGTERM to every process of the job (scancel, or a
# time limit reached without the USR1 lead), the ranks stop cleanly if
# mpirun does not kill them first (it waits this many seconds).
export OMPI_MCA_odls_base_sigkill_timeout=${OMPI_MCA_odls_base_sigkill_timeout:-20}
# Open MPI refuses to run as root unless told (containers, test clusters).
if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

opts=()
if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then opts+=(--threads "$SLURM_CPUS_PER_TASK"); fi

launcher=${MODSWEEP_LAUNCHER:-auto}
if [ "$launcher" = auto ]; then
  if srun --mpi=list 2>&1 | grep -q pmix; then launcher=srun; else launcher=mpirun; fi
fi
case "$launcher" in
  srun) cmd=(srun --mpi=pmix --kill-on-bad-exit=1 "$bin") ;;
  # mpirun reads the allocation from Slurm; modsweep widens each rank's
  # core binding to its threads (see docs/sweeps.md, "Threads and cores").
  mpirun) cmd=(mpirun -n "${SLURM_NTASKS:-1}" "$bin") ;;
  *) echo "sweep.sh: MODSWEEP_LAUNCHER must be srun, mpirun or auto" >&2; exit 2 ;;
esac

echo "sweep.sh: job ${SLURM_JOB_ID:-?} run $((${SLURM_RESTART_COUNT:-0} + 1)) on $(hostname):" \
     "${cmd[*]} ${opts[*]} $grid $*"

# The launcher runs in the background so that this shell can take the
# signal at once (bash runs traps only between commands, and a foreground
# launcher would keep it waiting) and forward it to the MPI job: mpirun and
# srun pass USR1 on to every rank.
"${cmd[@]}" "${opts[@]}" "$grid" "$@" &
pid=$!
stopping=0
# modsweep treats TERM like USR1, but mpirun answers TERM by killing its
# ranks within a second: forward USR1 in both cases.
trap 'stopping=1; echo "sweep.sh: time limit near: stopping the sweep"; kill -USR1 "$pid" 2>/dev/null' USR1
trap 'stopping=1; echo "sweep.sh: SIGTERM: stopping the sweep"; kill -USR1 "$pid" 2>/dev/null' TERM

# `wait` returns early (status > 128) when a trapped signal arrives: wait
# again until the launcher itself has exited, then collect its status.
while :; do
  wait "$pid"
  rc=$?
  if [ "$rc" -le 128 ] || ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null
    rc2=$?
    [ "$rc2" -ne 127 ] && rc=$rc2
    break
  fi
done

# Whether to requeue is decided from the results file, not from the
# launcher's exit status: mpirun exits 1 even when its ranks stopped cleanly
# after the stop signal. `modsweep status --check` exits 0 when every task is
# done, 75 when tasks are pending, 1 when tasks failed for good (or the file
# cannot be read). Work left is requeued only after a clean stop (exit 75)
# or a stop signal: an error without one would repeat at every requeue.
echo "sweep.sh: modsweep exited with status $rc; checking the results file"
"$bin" status --check "$grid" "$@"
check=$?
if [ "$check" -eq 75 ] && { [ "$rc" -eq 75 ] || [ "$stopping" = 1 ]; }; then
  echo "sweep.sh: sweep stopped with tasks left: requeueing job ${SLURM_JOB_ID:-?}"
  if [ -n "${SLURM_JOB_ID:-}" ] && scontrol requeue "$SLURM_JOB_ID"; then
    exit 0
  fi
  echo "sweep.sh: cannot requeue; run 'sbatch slurm/sweep.sh $grid' again to resume" >&2
  exit 75
fi
case "$check" in
  0)
    [ "$rc" -ne 0 ] && echo "sweep.sh: the results file is complete although modsweep exited $rc"
    exit 0 ;;
  75)
    echo "sweep.sh: modsweep failed (exit $rc) with tasks left and no stop signal: not" \
         "requeueing (the fault would repeat); fix its cause (see above), then submit the" \
         "same job again to resume" >&2
    exit "$([ "$rc" -ne 0 ] && echo "$rc" || echo 1)" ;;
  *)
    echo "sweep.sh: not requeueing: tasks failed for good or the results file cannot be" \
         "read (see above); the same command with --retry-failed runs failed tasks again" >&2
    exit "$([ "$rc" -ne 0 ] && echo "$rc" || echo 1)" ;;
esac
