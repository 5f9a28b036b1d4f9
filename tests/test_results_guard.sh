# The results file's guards (docs/data-safety.md), one check per rule:
# - output path faults in plain words naming the path, found before any
#   work (the data folder of the grid used here does not even exist): a
#   folder, a missing folder, a device (also with --restart: it stays), a
#   read-only file system, a folder the user cannot write;
# - the lock's rules: a lock of a dead process on this host is taken over
#   with a message; a live one is refused naming the holder, even with
#   --break-lock; one held on another host is refused (telling how to break
#   it), taken with --break-lock, when squeue no longer lists its job, or
#   when it is an earlier run of this same requeued job; squeue saying the
#   job runs keeps it refused; the lock is gone after a refused resume;
# - --restart on a results file of the same grid but other data replaces it;
# - --retry-failed re-runs only the failed tasks; every status hint is true;
# - `modsweep status --check`: 0 complete, 75 pending, 1 failed for good;
# - slurm/sweep.sh (with a fake scontrol) requeues after SIGTERM to the whole
#   job although mpirun exits 1, and does not requeue an error without a
#   stop signal.
source "$(dirname "$0")/mpi_common.sh"
src=${MS_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
# ok TEXT: prints what a block checked, or that it failed (checks since the last ok).
ok() {
  if [ "$failures" -eq "${_seen:-0}" ]; then echo "ok   $*"; else echo "FAILED: $*"; fi
  _seen=$failures
}
host=$(hostname)
boot=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)

ms 2 -q grid.ini -o ref.h5 || fail "reference run: exit $?"

# ---- output path faults, before any work ---------------------------------------
write_grid "$dir/nodata.ini"
sed -i "s|^dir = .*|dir = $dir/nowhere|" "$dir/nodata.ini"
# out_refused NAME OUTPUT PATTERN [options]: exit 1, PATTERN, no MPI error text,
# and nothing about the (missing) data: the output was checked first.
out_refused() {
  local name=$1 out=$2 pattern=$3
  shift 3
  ms 1 nodata.ini -o "$out" "$@" 2> "$dir/o.log"
  local rc=$?
  [ "$rc" -eq 1 ] || fail "$name: exit $rc, not 1"
  grep -q -- "modsweep: .*$pattern" "$dir/o.log" || fail "$name: no '$pattern' in: $(cat "$dir/o.log")"
  grep -q "MPI_ERR\|nowhere" "$dir/o.log" && fail "$name: not checked first / MPI text: $(cat "$dir/o.log")"
  ok "$name: $(grep -m1 modsweep: "$dir/o.log")"
}
mkdir "$dir/sub"
out_refused "output is a folder" sub "sub is a folder, not a results file"
out_refused "output folder missing" nosuch/r.h5 "nosuch/r.h5: the folder nosuch does not exist"
out_refused "output is a device" /dev/null "/dev/null is a device, not a results file"
out_refused "output is a device, --restart" /dev/null "/dev/null is a device" --restart --force
[ -c /dev/null ] || fail "/dev/null is no longer a device"
mkdir -p "$dir/rosrc" "$dir/romnt"
if mount --bind "$dir/rosrc" "$dir/romnt" 2>/dev/null; then
  if mount -o remount,bind,ro "$dir/romnt" 2>/dev/null; then
    out_refused "read-only file system" romnt/r.h5 "the folder romnt is on a read-only file system"
  else
    echo "skip read-only file system: remounting read-only is not permitted here"
  fi
  umount "$dir/romnt"
else
  echo "skip read-only file system: mount --bind is not permitted here"
fi
# A folder this user cannot write (as root: run modsweep as nobody).
mkdir -p "$dir/pub/locked"
cp "$dir/nodata.ini" "$dir/pub/g.ini"
chmod 755 "$dir" "$dir/pub"
chmod 555 "$dir/pub/locked"
as=()
[ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
if [ "$(id -u)" != 0 ] || [ ${#as[@]} -gt 0 ]; then
  (cd "$dir/pub" && HOME=/tmp "${as[@]}" "$MS_BIN" g.ini -o locked/r.h5) 2> "$dir/w.log"
  rc=$?
  [ "$rc" -eq 1 ] && grep -q "locked/r.h5: the folder locked is not writable" "$dir/w.log" ||
    fail "folder not writable: exit $rc: $(cat "$dir/w.log")"
  ok "folder not writable: $(grep -m1 modsweep: "$dir/w.log")"
else
  echo "skip folder not writable: root without setpriv"
fi
chmod 700 "$dir"

# ---- the lock ----------------------------------------------------------------------
lock() { # lock FILE HOST PID JOB [RESTART]: a lock file as a sweep writes it
  printf 'modsweep results-file lock\nhost=%s\npid=%s\nstart=2026-01-01T00:00:00Z\njob=%s\nrestart=%s\nboot_id=%s\npid_start=0\n' \
    "$2" "$3" "$4" "${5:-0}" "$boot" > "$dir/$1.lock"
}
cp "$dir/ref.h5" "$dir/l.h5"
sleep 0 & dead=$!
wait "$dead"
lock l.h5 "$host" "$dead" -
ms 1 -q grid.ini -o l.h5 2> "$dir/l1.log" || fail "stale lock (dead pid): exit $?"
grep -q "taking over the stale lock l.h5.lock of host $host, pid $dead.*no longer runs" "$dir/l1.log" ||
  fail "stale lock: no message: $(cat "$dir/l1.log")"
[ -e "$dir/l.h5.lock" ] && fail "stale lock: the lock was not removed at the end"
ok "lock of a dead process on this host: $(grep -m1 modsweep: "$dir/l1.log")"

lock l.h5 "$host" $$ 77
for opt in "" --break-lock; do
  ms 1 -q grid.ini -o l.h5 $opt 2> "$dir/l2.log"
  rc=$?
  [ "$rc" -eq 1 ] && grep -q "l.h5 is in use by another sweep: host $host, pid $$, Slurm job 77, started 2026-01-01T00:00:00Z.*runs on this host" "$dir/l2.log" ||
    fail "live lock ${opt:-}: exit $rc: $(cat "$dir/l2.log")"
done
[ -e "$dir/l.h5.lock" ] || fail "live lock: it was removed"
ok "live lock on this host (also with --break-lock): $(grep -m1 modsweep: "$dir/l2.log")"

fake=$dir/fakebin
mkdir -p "$fake"
lock l.h5 other-host 12 -
ms 1 -q grid.ini -o l.h5 2> "$dir/l3.log"
rc=$?
[ "$rc" -eq 1 ] && grep -q "host other-host, pid 12, started .*run again with --break-lock" "$dir/l3.log" ||
  fail "lock on another host: exit $rc: $(cat "$dir/l3.log")"
ok "lock on another host: $(grep -m1 modsweep: "$dir/l3.log")"
ms 1 -q grid.ini -o l.h5 --break-lock 2> "$dir/l4.log" || fail "--break-lock: exit $?"
grep -q "taking over the stale lock .*--break-lock" "$dir/l4.log" || fail "--break-lock: no message"
ok "--break-lock: $(grep -m1 modsweep: "$dir/l4.log")"

printf '#!/bin/sh\necho RUNNING\n' > "$fake/squeue"
chmod +x "$fake/squeue"
lock l.h5 other-host 12 4242
PATH="$fake:$PATH" ms 1 -q grid.ini -o l.h5 2> "$dir/l5.log"
rc=$?
[ "$rc" -eq 1 ] && grep -q "squeue says job 4242 is RUNNING" "$dir/l5.log" ||
  fail "lock of a running job: exit $rc: $(cat "$dir/l5.log")"
ok "lock of a job squeue lists: $(grep -m1 modsweep: "$dir/l5.log")"
printf '#!/bin/sh\necho "slurm_load_jobs error: Invalid job id specified" >&2\nexit 1\n' > "$fake/squeue"
PATH="$fake:$PATH" ms 1 -q grid.ini -o l.h5 2> "$dir/l6.log" || fail "lock of a finished job: exit $?"
grep -q "squeue no longer lists job 4242" "$dir/l6.log" || fail "finished job: $(cat "$dir/l6.log")"
ok "lock of a job squeue no longer lists: $(grep -m1 modsweep: "$dir/l6.log")"
rm "$fake/squeue"
lock l.h5 other-host 12 4242 0
(export SLURM_JOB_ID=4242 SLURM_RESTART_COUNT=1; ms 1 -q grid.ini -o l.h5 2> "$dir/l7.log") ||
  fail "lock of an earlier run of this job: exit $?"
grep -q "an earlier run of this requeued job" "$dir/l7.log" || fail "requeued job: $(cat "$dir/l7.log")"
ok "lock of an earlier run of this requeued job: $(grep -m1 modsweep: "$dir/l7.log")"
write_grid "$dir/other.ini" "0, 10"
ms 1 -q other.ini -o l.h5 2> /dev/null && fail "other grid: not refused"
[ -e "$dir/l.h5.lock" ] && fail "the lock was left after a refused resume"

# ---- --restart with the same grid on other data ----------------------------------------
cp "$dir/ref.h5" "$dir/d.h5"
cp -r "$dir/data" "$dir/data.orig"
"$MS_SYNTH_DATA" "$dir/data" 600 200 > /dev/null
ms 1 -q grid.ini -o d.h5 2> "$dir/d1.log" && fail "other data: resumed"
grep -q "changed since d.h5 was created" "$dir/d1.log" || fail "other data: $(cat "$dir/d1.log")"
ms 1 -q grid.ini -o d.h5 --restart 2> "$dir/d2.log" || fail "other data, --restart: exit $?"
grep -q "replaced d.h5 (results of grid.ini, created .*: 40 of 40 tasks done, 0 failed)" "$dir/d2.log" ||
  fail "other data, --restart: no message with -q: $(cat "$dir/d2.log")"
ok "same grid, other data: refused; --restart replaced it: $(grep -m1 modsweep: "$dir/d2.log")"
rm -rf "$dir/data"
mv "$dir/data.orig" "$dir/data"

# ---- --retry-failed, status hints, status --check ------------------------------------
MODSWEEP_TEST_FAIL="train model 5:5" ms 2 -q grid.ini -o f.h5 --retries 1 || fail "failing run: exit $?"
"$MS_BIN" status --check "$dir/f.h5" > "$dir/f.st"
rc=$?
[ "$rc" -eq 1 ] || fail "status --check with failed tasks: exit $rc, not 1"
grep -q "5 tasks failed for good; the sweep's command with --retry-failed runs them again" "$dir/f.st" ||
  fail "status: no true hint: $(cat "$dir/f.st")"
grep -q "redoes everything" "$dir/f.st" && fail "status still says --restart redoes everything"
# The hints' alternatives do not re-run them: the same command, --restart.
ms 2 grid.ini -o f.h5 2> "$dir/f2.log" || fail "same command: exit $?"
ms 2 grid.ini -o f.h5 --restart 2>> "$dir/f2.log" || fail "--restart: exit $?"
[ "$(grep -c "0 to do" "$dir/f2.log")" -eq 2 ] || fail "same command or --restart ran tasks"
"$MS_BIN" status --check "$dir/f.h5" > /dev/null
[ $? -eq 1 ] || fail "failed tasks gone without --retry-failed"
ms 2 -q grid.ini -o f.h5 --retry-failed 2> "$dir/f3.log" || fail "--retry-failed: exit $?"
grep -q -- "--retry-failed: 5 failed tasks of f.h5 set back to pending (1 train, 1 analyse, 3 prune)" "$dir/f3.log" ||
  fail "--retry-failed: $(cat "$dir/f3.log")"
"$MS_BIN" status --check "$dir/f.h5" > /dev/null || fail "after --retry-failed: status --check exit $?"
"$MS_H5TOOL" cmp "$dir/ref.h5" "$dir/f.h5" > /dev/null || fail "after --retry-failed: differs from the reference"
ok "--retry-failed re-ran the 5 failed tasks only; status --check 1 before, 0 after; equal to the reference"
# status --check on a grid file reads its output (or -o FILE).
(cd "$dir" && "$MS_BIN" status --check grid.ini -o ref.h5 > /dev/null) || fail "status --check GRID -o FILE: exit $?"
"$MS_BIN" --check "$dir/ref.h5" > /dev/null 2>&1
[ $? -eq 2 ] || fail "--check without status: not a usage error"

# ---- slurm/sweep.sh decides from the results file --------------------------------------
printf '#!/bin/sh\necho "$@" >> "%s/requeues"\n' "$dir" > "$fake/scontrol"
chmod +x "$fake/scontrol"
sweep() { # runs slurm/sweep.sh in the background as a Slurm job would
  (cd "$dir" && exec env OMPI_MCA_odls_base_sigkill_timeout=1 PATH="$fake:$PATH" SLURM_JOB_ID=4242 SLURM_NTASKS=2 MODSWEEP_LAUNCHER=mpirun \
     MODSWEEP="$MS_BIN" bash "$src/slurm/sweep.sh" grid.ini "$@" > "$dir/job.out" 2>&1) &
  job=$!
}
export MODSWEEP_TEST_TASK_SLEEP_MS=150
sweep -o s.h5
wait_done_lines "$dir/job.out" 60 4 || fail "sweep.sh: no progress"
# Slurm's SIGTERM goes to every process of the job: the script, mpirun and
# the ranks (mpirun then exits 1 although the ranks stopped cleanly).
mp=$(pgrep -P "$job" -x mpirun)
kill -TERM "$job" $mp $(pgrep -P "$mp")
wait "$job"
rc=$?
unset MODSWEEP_TEST_TASK_SLEEP_MS
[ "$rc" -eq 0 ] && grep -qx "requeue 4242" "$dir/requeues" 2>/dev/null ||
  fail "sweep.sh after SIGTERM: exit $rc, requeues: $(cat "$dir/requeues" 2>/dev/null); $(grep sweep.sh "$dir/job.out")"
ok "sweep.sh after SIGTERM to the job: $(grep -m1 'modsweep exited' "$dir/job.out"); requeued"
rm -f "$dir/requeues"
lock s.h5 "$host" $$ - # a fault without a stop signal: another sweep holds the file
sweep -o s.h5
wait "$job"
rc=$?
[ "$rc" -eq 1 ] && [ ! -e "$dir/requeues" ] && grep -q "not requeueing" "$dir/job.out" ||
  fail "sweep.sh after an error: exit $rc, requeues: $(cat "$dir/requeues" 2>/dev/null)"
ok "sweep.sh after an error with tasks left: not requeued, exit 1"
rm "$dir/s.h5.lock"
sweep -o s.h5
wait "$job" || fail "sweep.sh to completion: exit $?"
[ -e "$dir/requeues" ] && fail "sweep.sh requeued a complete sweep"
"$MS_H5TOOL" cmp "$dir/ref.h5" "$dir/s.h5" > /dev/null || fail "sweep.sh: differs from the reference"
ok "sweep.sh resumed to completion, no requeue, equal to the reference"
finish
