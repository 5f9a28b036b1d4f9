# A full disk. Mounts small tmpfs file systems (as root; exit 77 where
# mounting is not permitted, e.g. in an unprivileged container).
# - Too small for the results file: the sweep stops before any task with a
#   message that says the disk is full, exit status 1, and leaves neither
#   the file nor its .part behind.
# - Full during a sweep, with the results file made sparse by a copy
#   (`cp --sparse=always`, as rsync -S or tar -S leave it: the pending rows,
#   still zero, take no space), so writing them needs space the disk no
#   longer has: the sweep stops with a message that says so and exit status
#   1; every task marked done is readable and equal to an uninterrupted run;
#   once space is freed the same command finishes equal to that run.
# - Full during a sweep with the file as modsweep made it (allocated in full
#   at creation): the sweep does not notice and finishes equal to that run.
source "$(dirname "$0")/mpi_common.sh"

# tmpfs DIR SIZE: mounts a tmpfs of SIZE at DIR (or skips the test).
tmpfs() {
  if ! mount_tmpfs "$1" "$2"; then
    echo "SKIPPED: mounting a tmpfs is not permitted here (needs root with CAP_SYS_ADMIN): $mount_err"
    exit 77
  fi
}
fill() { # fill DIR: takes all the space left
  dd if=/dev/zero of="$1/filler" bs=4k status=none 2>/dev/null
  [ "$(df --output=avail -B1 "$1" | tail -n 1)" -lt 4096 ] || fail "cannot fill $1"
}

ms 2 -q grid.ini -o ref.h5 || fail "reference run: exit $?"

# ---- too small for the file (2 MB) -----------------------------------------------
tmpfs "$dir/small" 256k
ms 2 grid.ini -o small/r.h5 2> "$dir/small.log"
rc=$?
[ "$rc" -eq 1 ] || fail "file too large for the disk: exit $rc, not 1"
grep -q "no space left: it needs [0-9]* bytes, the file system holding it has" "$dir/small.log" ||
  fail "file too large for the disk: no clear message: $(grep modsweep: "$dir/small.log")"
ls "$dir/small" | grep -q . && fail "file too large for the disk: left $(ls "$dir/small")"
echo "ok   disk too small: $(grep -m1 modsweep: "$dir/small.log")"

# ---- a sweep stopped partway (SIGTERM to the rank) ------------------------------------------------
export MODSWEEP_TEST_TASK_SLEEP_MS=150
term_midsweep "partial run" 1 part.h5 p.log 60 6 # SIGTERM to the rank, as Slurm sends it
rc=$?
unset MODSWEEP_TEST_TASK_SLEEP_MS
[ "$rc" -eq 75 ] || fail "partial run: exit $rc, not 75"
n_part=$("$MS_H5TOOL" done "$dir/part.h5" | grep -c .)
echo "partial run: $n_part tasks done"

# ---- full during the sweep, sparse copy: stops, done rows intact, then resumes ----
tmpfs "$dir/full" 3m
cp --sparse=always "$dir/part.h5" "$dir/full/r.h5"
fill "$dir/full"
ms 2 grid.ini -o full/r.h5 2> "$dir/full.log"
rc=$?
[ "$rc" -eq 1 ] || fail "disk full: exit $rc, not 1"
grep -q "modsweep: stopped: the results file could not be written: .*no space left" "$dir/full.log" ||
  fail "disk full: no clear message: $(grep -E 'modsweep:|warning' "$dir/full.log")"
grep -q "run the same command again to resume" "$dir/full.log" || fail "disk full: no resume hint"
echo "ok   disk full: $(grep -m1 'modsweep: stopped' "$dir/full.log")"
"$MS_BIN" status "$dir/full/r.h5" > "$dir/full.status" || fail "disk full: status cannot read the file"
n_full=$("$MS_H5TOOL" done "$dir/full/r.h5" | grep -c .)
[ "$n_full" -ge "$n_part" ] && [ "$n_full" -lt 40 ] || fail "disk full: $n_full tasks done (had $n_part)"
"$MS_H5TOOL" cmpdone "$dir/ref.h5" "$dir/full/r.h5" || fail "disk full: a row marked done is wrong"
rm "$dir/full/filler"
ms 2 -q grid.ini -o full/r.h5 || fail "resume after freeing space: exit $?"
"$MS_H5TOOL" cmp "$dir/ref.h5" "$dir/full/r.h5" > /dev/null ||
  fail "resumed after a full disk: differs from the uninterrupted run"
echo "ok   disk full: $n_full tasks done when it stopped, resumed to the reference"

# ---- full during the sweep, the file as modsweep made it: nothing to notice -------
rm "$dir/full/r.h5"
cp --sparse=never "$dir/part.h5" "$dir/full/r.h5"
fill "$dir/full"
ms 2 -q grid.ini -o full/r.h5 || fail "full disk, allocated file: exit $?"
"$MS_H5TOOL" cmp "$dir/ref.h5" "$dir/full/r.h5" > /dev/null || fail "full disk, allocated file: differs"
echo "ok   full disk, file allocated at creation: finished equal to the reference"
finish
