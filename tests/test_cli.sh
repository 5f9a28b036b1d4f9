#!/usr/bin/env bash
# The command line: --help, --version, --keys, --schema, --dry-run of every
# sweep file; bad input (malformed grid, unknown key, missing file, unknown
# option) exits non-zero with a message naming the file and line, and leaves
# no output file behind.
source "$(dirname "$0")/lib.sh"
bin=${MS_BIN:?}
src=${MS_SOURCE_DIR:?}
out=$("$bin" --help); rc=$?
check "--help exits 0 and documents status" "[ $rc -eq 0 ] && grep -q 'modsweep status' <<<\"\$out\""
out=$("$bin" --version); rc=$?
check "--version prints the version and build options" "[ $rc -eq 0 ] && grep -qE '^modsweep [0-9]+\.[0-9]+\.[0-9]+ \(type=' <<<\"\$out\""
out=$("$bin" --keys); rc=$?
check "--keys documents lambda and labels" "[ $rc -eq 0 ] && grep -q lambda <<<\"\$out\" && grep -q labels <<<\"\$out\""
out=$("$bin" --schema); rc=$?
check "--schema lists the mask column" "[ $rc -eq 0 ] && grep -q '/labels/mask' <<<\"\$out\""
# --dry-run checks the data too: each sweep file with its data folder pointed
# at generated data (MNIST format, or CIFAR-10 batches of 10 records).
"${MS_SYNTH_DATA:?}" "$tmp/mnist" 200 100 >/dev/null || exit 1
mkdir -p "$tmp/cifar"
for b in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
  for l in 0 1 2 3 4 5 6 7 8 9; do printf "\\x0$l"; head -c 3072 /dev/zero; done > "$tmp/cifar/$b.bin"
done
for f in "$src"/sweeps/*.ini; do
  sed -e "s|^dir = .*|dir = $tmp/mnist|" -e "s|^mnist_dir = .*|mnist_dir = $tmp/mnist|" \
      -e "s|^cifar10_dir = .*|cifar10_dir = $tmp/cifar|" "$f" > "$tmp/$(basename "$f")"
  out=$(cd "$tmp" && "$bin" --dry-run "$(basename "$f")" 2>&1); rc=$?
  check "--dry-run $(basename "$f")" "[ $rc -eq 0 ] && grep -qi 'model' <<<\"\$out\" && grep -q '^check: data' <<<\"\$out\""
done
cd "$tmp"
printf '[sweep]\noutput = out.h5\n[train]\nepochs = 1\nlamda = 3\n' > bad.ini
err=$("$bin" bad.ini 2>&1); rc=$?
check "unknown key: exit 1" "[ $rc -eq 1 ]"
check "unknown key: file:line in the message" "grep -q 'bad.ini:5' <<<\"\$err\""
check "unknown key: no output file" "[ ! -e out.h5 ] && [ ! -e out.h5.part ]"
printf '[sweep]\noutput = out.h5\n[train]\nepochs = many\n' > bad2.ini
err=$("$bin" --dry-run bad2.ini 2>&1); rc=$?
check "bad value: --dry-run exit 1 with file:line" "[ $rc -eq 1 ] && grep -q 'bad2.ini:4' <<<\"\$err\""
err=$("$bin" missing.ini 2>&1); rc=$?
check "missing grid file: exit 1, named" "[ $rc -eq 1 ] && grep -q 'missing.ini' <<<\"\$err\""
"$bin" --frobnicate x.ini >/dev/null 2>&1; rc=$?
check "unknown option: exit 2" "[ $rc -eq 2 ]"
err=$("$bin" status nothere.h5 2>&1); rc=$?
check "status of a missing file: exit 1, named" "[ $rc -eq 1 ] && grep -q 'nothere.h5' <<<\"\$err\""
printf '[sweep]\noutput = out.h5\n[data]\ndir = %s/nodata\n' "$tmp" > nodata.ini
err=$("$bin" nodata.ini 2>&1); rc=$?
check "missing data files: exit 1, names the file, no output" "[ $rc -eq 1 ] && grep -q 'nodata' <<<\"\$err\" && [ ! -e out.h5 ]"
exit $fail
