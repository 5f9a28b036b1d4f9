#!/usr/bin/env bash
# A real single-node Slurm cluster for slurm/sweep.sh, started and stopped by
# this script (as root; Debian's slurm-wlm and munge:
# `bash scripts/install-deps.sh --slurm`):
#
#   bash tests/slurm_cluster.sh [BUILD_DIR]       (default BUILD_DIR: build)
#
# It starts munged, slurmctld and slurmd with a private configuration in a
# scratch directory (ProctrackType=proctrack/linuxproc, TaskPlugin=task/none,
# its own ports and sockets; nothing under /etc is touched), then checks:
#   1. `sbatch slurm/sweep.sh` with srun --mpi=pmix runs a small sweep (the
#      MPI tests' grid, 40 tasks, 2 ranks) to completion, equal to a
#      reference run of `mpirun -n 1`;
#   2. the same with mpirun as the launcher;
#   3. a time-limited run (--time=1 with USR1 40 s before the limit, tasks
#      made slow with MODSWEEP_TEST_TASK_SLEEP_MS) stops, requeues itself and
#      resumes, possibly several times, to the same result, and no task is
#      done twice; each requeue is decided by `modsweep status --check`.
# Exit 0 pass, 1 fail, 77 skipped (not root, or Slurm not installed). Takes
# about seven minutes, mostly Slurm's delay (about 150 s) before a requeued
# job starts again. Also run by
# `tests/run.sh --long` (tests/test_slurm_cluster_long.sh).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-${MS_BUILD_DIR:-$root/build}}" && pwd)
export MS_BIN=${MS_BIN:-$build/modsweep}
export MS_SYNTH_DATA=${MS_SYNTH_DATA:-$build/tests/synth_data}
export MS_H5TOOL=${MS_H5TOOL:-$build/tests/ms_h5tool}

if [ "$(id -u)" != 0 ]; then echo "SKIPPED: must run as root (starts Slurm daemons)"; exit 77; fi
for p in munged slurmctld slurmd sbatch scontrol srun; do
  if ! command -v "$p" >/dev/null 2>&1; then
    echo "SKIPPED: $p not found (bash scripts/install-deps.sh --slurm)"
    exit 77
  fi
done
for f in "$MS_BIN" "$MS_SYNTH_DATA" "$MS_H5TOOL"; do
  [ -x "$f" ] || { echo "SKIPPED: $f not built"; exit 77; }
done

source "$root/tests/mpi_common.sh" # scratch $dir, data, $grid, ms, fail, finish
chmod 755 "$dir"
host=$(hostname -s)
ncpu=$(nproc)
S=$dir/slurm
mkdir -p "$S/state" "$S/spool" "$S/munge"
chmod 700 "$S/munge"

# ---- the daemons ---------------------------------------------------------------
dd if=/dev/urandom of="$S/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$S/munge/munge.key"
munged --force --socket="$S/munge/munge.sock" --key-file="$S/munge/munge.key" \
  --pid-file="$S/munge/munged.pid" --log-file="$S/munge/munged.log" \
  --seed-file="$S/munge/munged.seed" || { echo "cannot start munged"; exit 1; }

cat > "$S/slurm.conf" <<CONF
ClusterName=mstest
SlurmctldHost=$host
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
AuthInfo=socket=$S/munge/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobRequeue=1
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=600
KillWait=20
NodeName=$host CPUs=$ncpu State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
export SLURM_CONF=$S/slurm.conf

stop_cluster() {
  local f
  for f in "$S/slurmd.pid" "$S/slurmctld.pid" "$S/munge/munged.pid"; do
    [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
  done
  sleep 1
  rm -rf "$dir"
}
trap stop_cluster EXIT

slurmctld -c || { echo "cannot start slurmctld"; cat "$S/slurmctld.log"; exit 1; }
slurmd || { echo "cannot start slurmd"; cat "$S/slurmd.log"; exit 1; }
for ((i = 0; i < 60; i++)); do
  sinfo -h -o %T 2>/dev/null | grep -q idle && break
  sleep 1
done
sinfo -h -o %T 2>/dev/null | grep -q idle ||
  { echo "the node did not come up"; tail "$S/slurmctld.log" "$S/slurmd.log"; exit 1; }
echo "cluster up: $(sinfo -h -o '%P %D %T %C')"

ms 1 -q grid.ini -o ref.h5 || fail "reference run: exit $?"

job_state() { scontrol show job -o "$1" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
job_field() { scontrol show job -o "$1" | sed -n "s/.* $2=\\([^ ]*\\).*/\\1/p"; }

# Submits slurm/sweep.sh with extra sbatch options $1 (a string) and modsweep
# arguments after it; waits up to $WAIT s for a final state; prints the job id.
run_job() {
  local sopts=$1
  shift
  local id
  # shellcheck disable=SC2086
  id=$(cd "$dir" && sbatch --parsable --ntasks=2 --cpus-per-task=1 --output="$dir/job-%j.out" \
         $sopts "$root/slurm/sweep.sh" grid.ini "$@") || return 1
  local i st
  for ((i = 0; i < WAIT; i++)); do
    st=$(job_state "$id")
    case "$st" in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
    sleep 1
  done
  echo "$id"
}

# Runs the sweep as a job with launcher $1 to completion: output $2, a line
# $3 the job's log must show.
complete_job() {
  local id st
  id=$(MODSWEEP_LAUNCHER=$1 MODSWEEP="$MS_BIN" run_job "--time=5" -o "$2")
  st=$(job_state "$id")
  echo "$1 job $id: $st"
  [ "$st" = COMPLETED ] || { fail "$1 job: $st"; cat "$dir/job-$id.out"; }
  grep -q "$3" "$dir/job-$id.out" || fail "$1 job did not use $1"
  "$MS_H5TOOL" cmp "$dir/ref.h5" "$dir/$2" || fail "$1 job differs from the reference"
}

# ---- 1. srun --mpi=pmix, to completion; 2. mpirun, to completion -----------------
WAIT=180
if srun --mpi=list 2>&1 | grep -q pmix; then
  complete_job srun s.h5 "srun --mpi=pmix"
else
  fail "Slurm offers no pmix (srun --mpi=list)"
fi
complete_job mpirun m.h5 "mpirun -n 2"

# ---- 3. time limit: stop, requeue, resume ----------------------------------------
# 40 tasks of at least 2.5 s on 2 ranks: 50 s of work, more than a run has
# before its USR1 (Slurm checks the limits about every 30 s).
WAIT=900
id=$(MODSWEEP_TEST_TASK_SLEEP_MS=2500 MODSWEEP="$MS_BIN" run_job \
       "--time=1 --signal=B:USR1@40" -o q.h5)
st=$(job_state "$id")
restarts=$(job_field "$id" Restarts)
echo "time-limited job $id: $st after ${restarts:-?} requeues"
out=$dir/job-$id.out
[ "$st" = COMPLETED ] || { fail "time-limited job: $st"; cat "$out"; }
[ "${restarts:-0}" -ge 1 ] || fail "time-limited job was never requeued"
grep -q "time limit near: stopping the sweep" "$out" || fail "no USR1 reached sweep.sh"
grep -q "requeueing job" "$out" || fail "sweep.sh did not requeue"
grep -q "check: [0-9]* tasks pending: run the sweep again to resume (exit 75)" "$out" ||
  fail "sweep.sh did not decide the requeue from modsweep status --check"
grep -q "check: complete (exit 0)" "$out" || fail "the last run's status --check did not say complete"
grep -q "resuming q.h5" "$out" || fail "the requeued run did not resume"
n_done=$(grep -c "done on rank" "$out")
[ "$n_done" -eq 40 ] || fail "$n_done task completions over all runs, not 40 (a task done twice?)"
[ "$(done_in_log "$out" | uniq | wc -l)" -eq 40 ] || fail "not 40 distinct tasks done"
"$MS_H5TOOL" cmp "$dir/ref.h5" "$dir/q.h5" || fail "requeued job differs from the reference"
echo "---- output of the time-limited job ----"
grep -v "ECS\|epoch\|^model" "$out"
echo "----"
finish
