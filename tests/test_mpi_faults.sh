# Faults of an MPI sweep: a rank killed with SIGKILL mid-sweep, then the same
# command again, ends with a file equal to an uninterrupted run and computes
# nothing twice that was marked done; SIGTERM (to the ranks, as Slurm sends
# it) and SIGUSR1 (to mpirun, which forwards it) stop the sweep with exit
# status 75 and a file that resumes; failed tasks are retried and their
# reasons kept; a file from another grid is refused unless --restart; a
# malformed grid leaves no output file behind.
source "$(dirname "$0")/mpi_common.sh"

ms 1 -q grid.ini -o ref.h5 || fail "reference run: exit $?"
all_tasks=$("$MS_H5TOOL" done "$dir/ref.h5" | sort)
[ "$(echo "$all_tasks" | wc -l)" -eq 40 ] || fail "reference run: not 40 tasks done"

# Each task naps 150 ms after writing its status, so a signal lands mid-sweep.
export MODSWEEP_TEST_TASK_SLEEP_MS=150

# ---- SIGKILL of rank 1, then the same command again --------------------------
(cd "$dir" && exec mpirun --oversubscribe -n 3 "$MS_BIN" grid.ini -o k.h5 2> "$dir/k1.log") &
mp=$!
wait_done_lines "$dir/k1.log" 30 6 || fail "SIGKILL run: no progress"
victim=$(rank_pid "$mp" 1) || fail "SIGKILL run: rank 1 not found"
[ -n "${victim:-}" ] && kill -KILL "$victim"
wait "$mp"
rc=$?
[ "$rc" -ne 0 ] || fail "SIGKILL run: exit 0 although a rank was killed"
done1=$("$MS_H5TOOL" done "$dir/k.h5" | sort)
n1=$(echo "$done1" | grep -c . || true)
if [ "$n1" -lt 1 ] || [ "$n1" -ge 40 ]; then fail "SIGKILL run: $n1 tasks done, not mid-sweep"; fi
unset MODSWEEP_TEST_TASK_SLEEP_MS
ms 3 grid.ini -o k.h5 2> "$dir/k2.log" || fail "resume after SIGKILL: exit $?"
done2=$(done_in_log "$dir/k2.log")
twice=$(comm -12 <(echo "$done1") <(echo "$done2"))
[ -z "$twice" ] || fail "resume recomputed tasks marked done: $twice"
[ "$(sort <(echo "$done1") <(echo "$done2") | uniq)" = "$all_tasks" ] ||
  fail "resume did not finish exactly the remaining tasks"
[ "$(( n1 + $(echo "$done2" | grep -c .) ))" -eq 40 ] || fail "tasks run twice or missing"
"$MS_H5TOOL" cmp "$dir/ref.h5" "$dir/k.h5" || fail "resumed after SIGKILL differs from uninterrupted"
echo "SIGKILL: $n1 tasks done before the kill, $(echo "$done2" | grep -c .) after"

# ---- SIGTERM to every rank ------------------------------------------------------
export MODSWEEP_TEST_TASK_SLEEP_MS=150
term_midsweep "SIGTERM run" 2 t.h5 t1.log 30 4
rc=$?
[ "$rc" -eq 75 ] || fail "SIGTERM: exit $rc, not 75"
grep -q "run the same command again to resume" "$dir/t1.log" || fail "SIGTERM: no resume hint"
"$MS_BIN" status "$dir/t.h5" > "$dir/t.status" || fail "status after SIGTERM: exit $?"
grep -q "complete" "$dir/t.status" && fail "SIGTERM: the sweep completed anyway"
done1=$("$MS_H5TOOL" done "$dir/t.h5" | sort)

# ---- SIGTERM to rank 1 only: the ranks still agree to stop ----------------------
(cd "$dir" && exec mpirun --oversubscribe -n 3 "$MS_BIN" grid.ini -o t.h5 2> "$dir/t2.log") &
mp=$!
wait_done_lines "$dir/t2.log" 30 3 || fail "SIGTERM (one rank) run: no progress"
kill -TERM "$(rank_pid "$mp" 1)"
wait "$mp"
rc=$?
[ "$rc" -eq 75 ] || fail "SIGTERM to one rank: exit $rc, not 75"
done_b=$("$MS_H5TOOL" done "$dir/t.h5" | sort)
twice=$(comm -12 <(echo "$done1") <(done_in_log "$dir/t2.log"))
[ -z "$twice" ] || fail "second run recomputed tasks marked done: $twice"

# ---- SIGUSR1 to mpirun (forwarded to the ranks), as slurm/sweep.sh sends it ----
(cd "$dir" && exec mpirun --oversubscribe -n 2 "$MS_BIN" grid.ini -o t.h5 2> "$dir/t3.log") &
mp=$!
wait_done_lines "$dir/t3.log" 30 2 || fail "SIGUSR1 run: no progress"
kill -USR1 "$mp"
wait "$mp"
rc=$?
[ "$rc" -eq 75 ] || fail "SIGUSR1 to mpirun: exit $rc, not 75"
unset MODSWEEP_TEST_TASK_SLEEP_MS
done_c=$("$MS_H5TOOL" done "$dir/t.h5" | sort)
ms 2 grid.ini -o t.h5 2> "$dir/t4.log" || fail "resume after signals: exit $?"
twice=$(comm -12 <(echo "$done_c") <(done_in_log "$dir/t4.log"))
[ -z "$twice" ] || fail "resume recomputed tasks marked done: $twice"
"$MS_H5TOOL" cmp "$dir/ref.h5" "$dir/t.h5" || fail "resumed after signals differs"
echo "signals: $(echo "$done1" | grep -c .), $(echo "$done_b" | grep -c .), $(echo "$done_c" | grep -c .) tasks done after each stop"

# ---- retries: a task failing twice succeeds on its third attempt ----------------
MODSWEEP_TEST_FAIL="prune model 2 label 1:2" ms 2 grid.ini -o f.h5 2> "$dir/f.log" ||
  fail "retry run: exit $?"
[ "$(grep -c 'prune model 2 label 1 failed on rank .* will retry' "$dir/f.log")" -eq 2 ] ||
  fail "retry run: not two retried failures"
"$MS_H5TOOL" cmp "$dir/ref.h5" "$dir/f.h5" --ignore attempts || fail "retried run differs"
"$MS_BIN" status "$dir/f.h5" | grep -qx "  complete" || fail "retry run: not complete"
# With one retry it fails for good; the reason is kept and the sweep goes on.
MODSWEEP_TEST_FAIL="train model 5:5" ms 2 grid.ini -o g.h5 --retries 1 2> "$dir/g.log" ||
  fail "failing run: exit $?"
"$MS_BIN" status "$dir/g.h5" > "$dir/g.status"
grep -q "train  *7 done  *1 failed" "$dir/g.status" || fail "train 5 not failed: $(cat "$dir/g.status")"
grep -q "failed train of model 5: injected failure" "$dir/g.status" || fail "reason not kept"
grep -q "failed prune of model 5 label 2: model failed to train: injected failure" \
  "$dir/g.status" || fail "later tasks of the failed model not failed with its reason"
[ "$("$MS_H5TOOL" done "$dir/g.h5" | grep -c .)" -eq 35 ] || fail "other tasks not all done"

# ---- a file from another grid is refused; --restart replaces it -----------------
write_grid "$dir/other.ini" "0, 10"
cp "$dir/ref.h5" "$dir/o.h5"
ms 1 other.ini -o o.h5 2> "$dir/o.log"
rc=$?
[ "$rc" -eq 1 ] || fail "other grid: exit $rc, not 1"
grep -q "made by a different grid" "$dir/o.log" || fail "other grid: no message: $(cat "$dir/o.log")"
grep -q "cluster.lambda" "$dir/o.log" || fail "other grid: the differing setting is not named"
cmp -s "$dir/ref.h5" "$dir/o.h5" || fail "other grid: the refused file was modified"
ms 1 -q other.ini -o o.h5 --restart || fail "--restart: exit $?"
"$MS_BIN" status "$dir/o.h5" | grep -qx "  complete" || fail "--restart: not complete"
# Settings that only say how the sweep runs may change on resume.
sed -e 's/^name = mpitest/name = renamed\nretries = 5\nthreads = 1\nteam = 2/' "$grid" > "$dir/run.ini"
ms 2 run.ini -o ref.h5 2> "$dir/r.log" || fail "resume with other [sweep] run settings: exit $?"
grep -q "0 to do" "$dir/r.log" || fail "resume with other run settings did not resume"

# ---- a malformed grid leaves no output file ------------------------------------
printf '[sweep]\noutput = bad.h5\n[train]\nepochz = 3\n' > "$dir/bad.ini"
ms 2 bad.ini 2> "$dir/bad.log"
rc=$?
[ "$rc" -eq 1 ] || fail "malformed grid: exit $rc, not 1"
grep -q "bad.ini:4" "$dir/bad.log" || fail "malformed grid: no file:line: $(cat "$dir/bad.log")"
ls "$dir"/bad.h5* >/dev/null 2>&1 && fail "malformed grid: an output file was made"
finish
