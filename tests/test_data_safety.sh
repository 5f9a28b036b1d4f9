# End to end: nothing finished is lost or mixed (docs/data-safety.md).
# Plays the scenarios and prints what each checked:
#   1. --restart whose creation fails (a bigger grid's file does not fit on a
#      small tmpfs next to the old file): refused, old file byte-identical;
#   2. --restart on paths that are no results file (a text file, a pipe, a
#      folder, a link to a text file): refused naming the path, untouched;
#   3. two sweeps on one file started 0.1 s, 1 s and 5 s apart: one is
#      refused naming the holder (host, pid), the other completes; the file
#      equals a single sweep's; `modsweep status` and h5py read it meanwhile;
#   4. resume after the data changed (same size other bytes; other size):
#      refused naming the data file, results file untouched; with the data
#      restored it resumes to the reference;
#   5. the requeue decision after SIGTERM to mpirun: `status --check` says 75
#      (work left), after resuming 0; the file equals the reference.
source "$(dirname "$0")/mpi_common.sh"
# ok TEXT: prints what a block checked, or that it failed (checks since the last ok).
ok() {
  if [ "$failures" -eq "${_seen:-0}" ]; then echo "ok   $*"; else echo "FAILED: $*"; fi
  _seen=$failures
}
# Raw (not gzip) data files, so that a byte can be changed keeping the size.
gunzip "$dir"/data/*.gz || fail "cannot unpack the data"

ms 2 -q grid.ini -o ref.h5 || fail "reference run: exit $?"
"$MS_BIN" status --check "$dir/ref.h5" > /dev/null || fail "status --check of the reference: exit $?"

# ---- 1. --restart whose creation fails ---------------------------------------
write_grid "$dir/big.ini" "0, 5, 10, 20" # 16 models: a larger file
# Room for the old file and a little more, not for its larger replacement.
small_kb=$(( $(stat -c %s "$dir/ref.h5") / 1024 + 200 ))
if mount_tmpfs "$dir/small" "${small_kb}k"; then
  cp "$dir/ref.h5" "$dir/small/r.h5" || fail "cannot copy to the tmpfs"
  ms 2 big.ini -o small/r.h5 --restart 2> "$dir/r1.log"
  rc=$?
  [ "$rc" -eq 1 ] || fail "restart on a full disk: exit $rc, not 1"
  grep -q "restart: small/r.h5 is unchanged: .*no space left" "$dir/r1.log" || fail "restart on a full disk: $(grep modsweep: "$dir/r1.log")"
  cmp -s "$dir/ref.h5" "$dir/small/r.h5" || fail "restart on a full disk: the old file changed"
  [ -e "$dir/small/r.h5.part" ] && fail "restart on a full disk: a .part file was left"
  [ -e "$dir/small/r.h5.lock" ] && fail "restart on a full disk: the lock file was left"
  ok "restart whose creation fails: refused, old file byte-identical: $(grep -m1 modsweep: "$dir/r1.log")"
else
  echo "skip restart whose creation fails: mounting a tmpfs is not permitted here"
fi

# ---- 2. --restart on paths that are no results file ------------------------------
printf 'my notes\n' > "$dir/notes.txt"
mkfifo "$dir/pipe.h5"
mkdir "$dir/folder.h5"
ln -s notes.txt "$dir/link.h5"
for p in notes.txt pipe.h5 folder.h5 link.h5; do
  before=$(ls -l "$dir/$p"; [ -f "$dir/$p" ] && md5sum < "$dir/$p")
  ms 1 grid.ini -o "$p" --restart 2> "$dir/r2.log"
  rc=$?
  [ "$rc" -eq 1 ] || fail "restart on $p: exit $rc, not 1"
  grep -q "modsweep: $p .*\(not a modsweep results file\|is a pipe\|is a folder\)" "$dir/r2.log" || fail "restart on $p: the path is not named: $(cat "$dir/r2.log")"
  after=$(ls -l "$dir/$p"; [ -f "$dir/$p" ] && md5sum < "$dir/$p")
  [ "$before" = "$after" ] || fail "restart on $p: the path was changed"
  ok "restart on $p: refused, untouched: $(grep -m1 modsweep: "$dir/r2.log")"
done

# ---- 3. two sweeps on one file ----------------------------------------------------
# The first sweep's tasks nap (40 tasks on 2 ranks: 250 ms each, over 5 s;
# 700 ms, over 14 s, when the second starts 5 s later: a refused sweep first
# gives a holder on its host 3 s to end).
for gap in 0.1 1 5; do
  f=c$gap.h5
  nap=250
  [ "$gap" = 5 ] && nap=700
  (cd "$dir" && MODSWEEP_TEST_TASK_SLEEP_MS=$nap exec mpirun -n 2 "$MS_BIN" -q grid.ini -o "$f" \
     > "$dir/a$gap.out" 2> "$dir/a$gap.log") &
  pa=$!
  sleep "$gap"
  kill -0 "$pa" 2>/dev/null || fail "sweeps $gap s apart: the first ended before the second started"
  if [ "$gap" = 5 ]; then
    # Readers do not take the lock: status and h5py read the file meanwhile
    # (once the first sweep has made it: a loaded machine may take a while).
    for _ in $(seq 100); do [ -f "$dir/$f" ] && break; sleep 0.2; done
    "$MS_BIN" status "$dir/$f" > "$dir/st.out" 2>&1 || fail "status during a sweep: $(cat "$dir/st.out")"
    grep -q "in use by a sweep: host $(hostname)" "$dir/st.out" || fail "status does not name the sweep"
    if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
      /usr/bin/python3 -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); print(int((f['models/status_train'][:]==1).sum()))" \
        "$dir/$f" > /dev/null 2>&1 || fail "h5py cannot read the file during a sweep"
    fi
  fi
  # The second naps too: on a loaded machine it may take the lock first, and
  # must then still be running when the first asks for it.
  (export MODSWEEP_TEST_TASK_SLEEP_MS=$nap; ms 2 -q grid.ini -o "$f" > /dev/null 2> "$dir/b$gap.log")
  rb=$?
  wait "$pa"
  ra=$?
  if [ "$ra" -eq 0 ] && [ "$rb" -eq 1 ]; then loser=b$gap.log
  elif [ "$ra" -eq 1 ] && [ "$rb" -eq 0 ]; then loser=a$gap.log
  else fail "sweeps $gap s apart: exits $ra and $rb, not one 0 and one 1"; continue; fi
  grep -q "$f is in use by another sweep: host $(hostname), pid [0-9]*, started" "$dir/$loser" ||
    fail "sweeps $gap s apart: the refusal does not name the holder: $(grep modsweep: "$dir/$loser")"
  "$MS_H5TOOL" cmp "$dir/ref.h5" "$dir/$f" > /dev/null || fail "sweeps $gap s apart: file differs from a single sweep's"
  [ -e "$dir/$f.lock" ] && fail "sweeps $gap s apart: lock file left"
  ok "two sweeps $gap s apart: one completes (equal to a single sweep), one refused: $(grep -m1 modsweep: "$dir/$loser")"
done

# ---- 4. resume after the data changed -----------------------------------------------
# A file half done: model 7 and the prunings of model 6 back to pending.
half_done ref.h5 half.h5
cp "$dir/half.h5" "$dir/half.before"
img=$dir/data/t10k-images-idx3-ubyte
cp "$img" "$dir/img.orig"
# (a) one pixel byte of a test image changed: same size, other bytes.
printf '\377' | dd of="$img" bs=1 seek=5000 conv=notrunc status=none
ms 2 -q grid.ini -o half.h5 2> "$dir/d1.log"
rc=$?
[ "$rc" -eq 1 ] || fail "changed data: exit $rc, not 1"
grep -q "t10k-images-idx3-ubyte changed since half.h5 was created: same size" "$dir/d1.log" ||
  fail "changed data: no clear message: $(grep modsweep: "$dir/d1.log")"
cmp -s "$dir/half.h5" "$dir/half.before" || fail "changed data: the results file was modified"
ok "resume after a data byte changed: refused: $(grep -m1 modsweep: "$dir/d1.log")"
# (b) another test set (200 images instead of 300): other size.
"$MS_SYNTH_DATA" "$dir/data2" 600 200 > /dev/null && gunzip "$dir"/data2/*.gz
cp "$dir/data2/t10k-images-idx3-ubyte" "$img"
cp "$dir/data/t10k-labels-idx1-ubyte" "$dir/lab.orig"
cp "$dir/data2/t10k-labels-idx1-ubyte" "$dir/data/"
ms 2 -q grid.ini -o half.h5 2> "$dir/d2.log"
rc=$?
[ "$rc" -eq 1 ] && grep -q "changed since half.h5 was created: its size was" "$dir/d2.log" ||
  fail "other test set: exit $rc: $(grep modsweep: "$dir/d2.log")"
cmp -s "$dir/half.h5" "$dir/half.before" || fail "other test set: the results file was modified"
ok "resume after the test set changed: refused: $(grep -m1 modsweep: "$dir/d2.log")"
cp "$dir/img.orig" "$img"
cp "$dir/lab.orig" "$dir/data/t10k-labels-idx1-ubyte"
ms 2 -q grid.ini -o half.h5 || fail "resume with the data restored: exit $?"
"$MS_H5TOOL" cmp "$dir/ref.h5" "$dir/half.h5" > /dev/null || fail "resumed file differs from the reference"
ok "resume with the data restored: equal to the reference"

# ---- 5. the requeue decision after SIGTERM to mpirun ------------------------------
(cd "$dir" && MODSWEEP_TEST_TASK_SLEEP_MS=150 exec mpirun -n 2 "$MS_BIN" grid.ini -o t.h5 2> "$dir/t.log") &
mp=$!
wait_done_lines "$dir/t.log" 60 4 || fail "SIGTERM run: no progress"
kill -TERM "$mp"
wait "$mp"
rc=$?
"$MS_BIN" status --check "$dir/t.h5" > "$dir/t.check"
check=$?
[ "$check" -eq 75 ] || fail "after SIGTERM: status --check exit $check, not 75: $(cat "$dir/t.check")"
[ -e "$dir/t.h5.lock" ] && fail "after SIGTERM: the lock file was left"
ms 2 -q grid.ini -o t.h5 || fail "resume after SIGTERM: exit $?"
"$MS_BIN" status --check "$dir/t.h5" > /dev/null
check2=$?
[ "$check2" -eq 0 ] || fail "after resuming: status --check exit $check2, not 0"
"$MS_H5TOOL" cmp "$dir/ref.h5" "$dir/t.h5" > /dev/null || fail "resumed after SIGTERM differs"
ok "SIGTERM to mpirun (its exit $rc): status --check $check (requeue), after resuming $check2; equal to the reference"
finish
