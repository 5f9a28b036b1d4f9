# Faults of the results file: a file that is truncated, damaged (HDF5
# metadata overwritten, a superblock address past the end, a status value
# that is no status), from a newer schema, read-only (permission bits, also
# for root; a read-only mount), rewritten by h5repack, or not HDF5 at all is
# refused by a resuming sweep with a message that names the file and the
# fault, exit status 1, and is left byte for byte as it was; `modsweep
# status` reads what it can and refuses the rest the same way. --restart
# refuses a damaged file (not recognisably a results file) unless --force
# (the user's explicit choice) and the sweep then equals an uninterrupted one.
source "$(dirname "$0")/mpi_common.sh"

ms 2 -q grid.ini -o ref.h5 || fail "reference run: exit $?"
# A file half done: model 7 and the prunings of model 6 back to pending (a
# stopped sweep leaves the same), so resuming it would write.
half_done ref.h5 part.h5
"$MS_BIN" status "$dir/part.h5" | grep -q "8 tasks pending" || fail "part.h5 is not half done"

# refused NAME FILE PATTERN: resuming FILE exits 1 with a message matching
# PATTERN that names FILE, and leaves FILE as it was.
refused() {
  local name=$1 f=$2 pattern=$3
  cp -p "$dir/$f" "$dir/$f.before"
  ms 2 -q grid.ini -o "$f" 2> "$dir/$f.log"
  local rc=$?
  [ "$rc" -eq 1 ] || fail "$name: resume exit $rc, not 1"
  grep -q -- "$f" "$dir/$f.log" || fail "$name: the message does not name the file: $(cat "$dir/$f.log")"
  grep -q -E -- "$pattern" "$dir/$f.log" || fail "$name: no '$pattern' in: $(cat "$dir/$f.log")"
  cmp -s "$dir/$f" "$dir/$f.before" || fail "$name: the refused file was modified"
  [ -e "$dir/$f.part" ] && fail "$name: a .part file was left"
  echo "ok   $name: $(grep -m1 modsweep: "$dir/$f.log")"
}
# status_refused NAME FILE PATTERN: `modsweep status FILE` exits 1 with PATTERN.
status_refused() {
  local out rc
  out=$("$MS_BIN" status "$dir/$2" 2>&1); rc=$?
  [ "$rc" -eq 1 ] && grep -q -E -- "$3" <<<"$out" || fail "$1: status exit $rc: $out"
}

# Truncated (an interrupted copy): HDF5 notices that the file ends early.
head -c 500000 "$dir/part.h5" > "$dir/trunc.h5"
refused "truncated file" trunc.h5 "truncated"
status_refused "truncated file" trunc.h5 "truncated"

# HDF5 metadata overwritten (the root group's and first datasets' headers).
cp "$dir/part.h5" "$dir/meta.h5"
head -c 3000 /dev/zero | tr '\0' '\377' | dd of="$dir/meta.h5" bs=1 seek=100 conv=notrunc status=none
refused "damaged metadata" meta.h5 "cannot|damaged|missing"
status_refused "damaged metadata" meta.h5 "cannot|damaged|missing"

# The superblock's driver-information address (bytes 48-55 of a version-0
# superblock) pointing far past the end of the file. The MPI-IO driver does
# not pass its failed read on, so HDF5 opened the file for writing, could not
# close it, and crashed at exit (SIGSEGV in MPI_Finalize instead of exit 1).
cp "$dir/part.h5" "$dir/drv.h5"
[ "$(od -An -tu1 -j8 -N1 "$dir/drv.h5" | tr -d ' ')" = 0 ] || fail "drv.h5: not a version-0 superblock"
printf '\377\377\150\377\377\377\377\377' | dd of="$dir/drv.h5" bs=1 seek=48 conv=notrunc status=none
refused "driver-info address past the end" drv.h5 "truncated or damaged"
status_refused "driver-info address past the end" drv.h5 "truncated or damaged"

# A status value that is no status (a stray write into the data).
cp "$dir/part.h5" "$dir/st.h5"
"$MS_H5TOOL" set "$dir/st.h5" labels/status 4 7 || fail "cannot write a status"
refused "status value 7" st.h5 "labels/status of model 1, label index 1 holds 7, which is no task status"
status_refused "status value 7" st.h5 "holds 7"

# A negative attempt count.
cp "$dir/part.h5" "$dir/att.h5"
"$MS_H5TOOL" set "$dir/att.h5" models/attempts_train 2 -3 || fail "cannot write attempts"
refused "negative attempts" att.h5 "has -3 attempts: the file is damaged"

# Written by a newer modsweep (schema version 4), and by an older one (2).
cp "$dir/part.h5" "$dir/new.h5"
"$MS_H5TOOL" setattr "$dir/new.h5" schema_version 4 || fail "cannot write the schema version"
refused "newer schema" new.h5 "results schema version 4, .* reads version 3 \(written by a newer modsweep\)"
status_refused "newer schema" new.h5 "written by a newer modsweep"
cp "$dir/part.h5" "$dir/old.h5"
"$MS_H5TOOL" setattr "$dir/old.h5" schema_version 2 || fail "cannot write the schema version"
refused "older schema" old.h5 "results schema version 2, .* reads version 3 \(written by an older modsweep"
status_refused "older schema" old.h5 "written by an older modsweep"

# Not an HDF5 file at all.
printf 'results\n' > "$dir/text.h5"
refused "not HDF5" text.h5 "not an HDF5 file"

# Read-only by its permissions: refused even for root (whom the kernel lets
# write), while status still reads it.
cp "$dir/part.h5" "$dir/ro.h5"
chmod 0444 "$dir/ro.h5"
refused "read-only file" ro.h5 "read-only .*chmod u\+w"
"$MS_BIN" status "$dir/ro.h5" | grep -q "8 tasks pending" || fail "read-only file: status cannot read it"
chmod 0644 "$dir/ro.h5"

# Rewritten by h5repack (chunked, compressed): status reads it, a sweep
# cannot write it independently in parallel, so resuming is refused.
if command -v h5repack >/dev/null 2>&1; then
  h5repack -f /models/params:GZIP=1 "$dir/part.h5" "$dir/rp.h5" || fail "h5repack failed"
  refused "h5repack'ed copy" rp.h5 "not stored as modsweep made it"
  "$MS_BIN" status "$dir/rp.h5" | grep -q "8 tasks pending" || fail "h5repack'ed copy: status cannot read it"
else
  echo "skip h5repack'ed copy: h5repack not installed (hdf5-tools)"
fi

# On a read-only mount (as root, where mounts are permitted).
mkdir -p "$dir/rosrc" "$dir/romnt"
cp "$dir/part.h5" "$dir/rosrc/part.h5"
if mount --bind "$dir/rosrc" "$dir/romnt" 2>/dev/null; then
  if mount -o remount,bind,ro "$dir/romnt" 2>/dev/null; then
    ms 1 -q grid.ini -o romnt/part.h5 2> "$dir/romnt.log"
    rc=$?
    [ "$rc" -eq 1 ] && grep -q "on a read-only file system" "$dir/romnt.log" ||
      fail "read-only mount: exit $rc: $(cat "$dir/romnt.log")"
    cmp -s "$dir/romnt/part.h5" "$dir/part.h5" || fail "read-only mount: file changed"
    "$MS_BIN" status "$dir/romnt/part.h5" | grep -q "8 tasks pending" ||
      fail "read-only mount: status cannot read it"
    echo "ok   read-only mount: $(grep -m1 modsweep: "$dir/romnt.log")"
  else
    echo "skip read-only mount: remounting read-only is not permitted here"
  fi
  umount "$dir/romnt" || fail "cannot unmount $dir/romnt"
else
  echo "skip read-only mount: mount --bind is not permitted here"
fi

# --restart alone refuses a file it cannot recognise as a results file
# (damaged metadata), naming it and leaving it as it was; --restart --force
# replaces it (the user's explicit choice) and says what it replaced.
cp -p "$dir/meta.h5" "$dir/meta.h5.before"
ms 2 grid.ini -o meta.h5 --restart 2> "$dir/restart0.log"
rc=$?
[ "$rc" -eq 1 ] && grep -q "meta.h5 is not a modsweep results file .*add --force" "$dir/restart0.log" ||
  fail "--restart of a damaged file without --force: exit $rc: $(grep modsweep: "$dir/restart0.log")"
cmp -s "$dir/meta.h5" "$dir/meta.h5.before" || fail "--restart without --force changed the damaged file"
ms 2 -q grid.ini -o meta.h5 --restart --force 2> "$dir/restart.log" || fail "--restart --force: exit $?"
grep -q "replaced meta.h5 (not a modsweep results file" "$dir/restart.log" ||
  fail "--restart --force: no message (also with -q): $(cat "$dir/restart.log")"
"$MS_H5TOOL" cmp "$dir/ref.h5" "$dir/meta.h5" >/dev/null || fail "--restart: differs from the reference"

# The half-done file itself resumes to the reference.
ms 2 -q grid.ini -o part.h5 || fail "resume of the half-done file: exit $?"
"$MS_H5TOOL" cmp "$dir/ref.h5" "$dir/part.h5" >/dev/null || fail "resumed file differs"
finish
