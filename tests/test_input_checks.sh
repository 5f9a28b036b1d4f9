#!/usr/bin/env bash
# The input checks of docs/input-checks.md, end to end with the modsweep
# binary on generated MNIST-format data (tests/synth_data):
# - one grid reader: a NUL byte is refused by the run as by --dry-run, and a
#   grid read from a pipe works in both;
# - --dry-run checks what the run checks before its work starts (data
#   folder, file contents, image shapes, labels without test images, the
#   output folder) and applies the command-line options, which are bounded
#   like their grid keys (--retries, --threads, --team);
# - test images of another shape than the training images are refused
#   (naming the file and both shapes) instead of crashing or being misread;
# - test_limit too small for a pruned label names the key and its line; an
#   empty or comment-only grid is refused;
# - defaults fitted to the architecture (hidden = 32, 32);
# - real settings stored as written (models/lr is 1e-3, not its float), and
#   training bitwise the same as with the float's own digits.
# Every refusal exits 1 (options: 2) and leaves no results file behind.
source "$(dirname "$0")/lib.sh"
bin=${MS_BIN:?}
build=${MS_BUILD_DIR:?}
synth=${MS_SYNTH_DATA:-$build/tests/synth_data}
h5tool=${MS_H5TOOL:-$build/tests/ms_h5tool}
cd "$tmp"
"$synth" data 200 100 || exit 1
"$synth" data1456 200 100 14x56 || exit 1
"$synth" data2020 200 100 20x20 || exit 1
grid() { # file, data folder, extra lines appended: a tiny sweep
  { printf '[sweep]\noutput = out.h5\n[data]\ndataset = mnist\ndir = %s\n' "$2"
    printf '[model]\narch = mlp\nhidden = 8\n[train]\nlr = 1e-3\n'
    printf '[cluster]\nlambda = 0.1\nk = 2\ncurve_k = none\nbsgc_layers = none\nablate = false\n'
    printf '[prune]\nlayers = fc2\nsamples = 10\n%b' "${3:-labels = 0\n}"; } > "$1"
}
no_output() { [ ! -e out.h5 ] && ! ls out.h5.* >/dev/null 2>&1; }

# ---- item 4: one grid reader ------------------------------------------------
grid ok.ini "$tmp/data"
{ head -c 60 ok.ini; printf '\0'; tail -c +61 ok.ini; } > nul.ini
err=$("$bin" --dry-run nul.ini 2>&1 >/dev/null); rc=$?
check "NUL byte: --dry-run exit 1 naming the file and 'NUL byte'" \
  "[ $rc -eq 1 ] && grep -q 'nul.ini:[0-9]*: NUL byte' <<<\"\$err\""
err=$("$bin" -q nul.ini 2>&1); rc=$?
check "NUL byte: the run refuses it the same way, no output" \
  "[ $rc -eq 1 ] && grep -q 'nul.ini:[0-9]*: NUL byte' <<<\"\$err\" && no_output"
out=$("$bin" --dry-run /dev/stdin < ok.ini 2>&1); rc=$?
check "pipe: --dry-run of /dev/stdin exit 0 with the plan" "[ $rc -eq 0 ] && grep -q '^models: 1' <<<\"\$out\""
err=$(cat ok.ini | "$bin" -q /dev/stdin 2>&1); rc=$?
check "pipe: the run of /dev/stdin exit 0 and makes the results file" "[ $rc -eq 0 ] && [ -f out.h5 ]"
rm -f out.h5

# ---- item 4: --dry-run checks the inputs ---------------------------------------
grid nodata.ini "$tmp/nodata"
err=$("$bin" --dry-run nodata.ini 2>&1 >/dev/null); rc=$?
check "missing data folder: --dry-run exit 1 naming the file it looked for" \
  "[ $rc -eq 1 ] && grep -q 'nodata/train-images-idx3-ubyte' <<<\"\$err\""
mkdir -p badlabels && cp data/* badlabels/ && printf 'not a gzip label file' > badlabels/t10k-labels-idx1-ubyte.gz
grid badlabels.ini "$tmp/badlabels"
err=$("$bin" --dry-run badlabels.ini 2>&1 >/dev/null); rc=$?
check "damaged label file: --dry-run exit 1 naming it" \
  "[ $rc -eq 1 ] && grep -q 't10k-labels-idx1-ubyte.gz' <<<\"\$err\""
err=$("$bin" --dry-run -o "$tmp/no/such/folder/x.h5" ok.ini 2>&1 >/dev/null); rc=$?
check "output folder missing: --dry-run exit 1 naming the folder" \
  "[ $rc -eq 1 ] && grep -q 'the folder $tmp/no/such/folder does not exist' <<<\"\$err\""
err=$("$bin" -q -o "$tmp/no/such/folder/x.h5" ok.ini 2>&1); rc=$?
check "output folder missing: the run exit 1 with the same message" \
  "[ $rc -eq 1 ] && grep -q 'does not exist' <<<\"\$err\""
err=$("$bin" --dry-run -o "$tmp" ok.ini 2>&1 >/dev/null); rc=$?
check "output path is a folder: --dry-run exit 1" "[ $rc -eq 1 ] && grep -q 'is a folder' <<<\"\$err\""
out=$("$bin" --dry-run --retries 5 --team 3 --threads 2 -o other.h5 ok.ini 2>&1); rc=$?
check "--dry-run shows the options that override the grid" \
  "[ $rc -eq 0 ] && grep -q 'threads per rank 2, team 3, retries 5' <<<\"\$out\" && grep -q '^output: other.h5' <<<\"\$out\""
check "--dry-run makes no results file" "[ ! -e other.h5 ] && ! ls .modsweep-probe-* >/dev/null 2>&1"

# ---- item 9: options bounded like their grid keys -------------------------------
err=$("$bin" --dry-run --retries 1000000 ok.ini 2>&1); rc=$?
check "--retries 1000000: exit 2 with the grid key's range" \
  "[ $rc -eq 2 ] && grep -q -- '--retries 1000000 is out of range: must be in 0..100' <<<\"\$err\""
err=$("$bin" -q --threads 100000 ok.ini 2>&1); rc=$?
check "--threads 100000: exit 2 with the range, no crash, no output" \
  "[ $rc -eq 2 ] && grep -q 'must be in 1..4096' <<<\"\$err\" && no_output"
err=$("$bin" -q --team 0 ok.ini 2>&1); rc=$?
check "--team 0: exit 2" "[ $rc -eq 2 ] && grep -q 'must be in 1..1024' <<<\"\$err\""
err=$("$bin" -q --threads 4x ok.ini 2>&1); rc=$?
check "--threads 4x: exit 2" "[ $rc -eq 2 ] && grep -q 'needs an integer' <<<\"\$err\""

# ---- item 8: test images of another shape ------------------------------------------
for shape in 14x56 20x20; do
  d=data${shape/x/}
  grid "s$shape.ini" "$tmp/$d"
  err=$("$bin" -q "s$shape.ini" 2>&1); rc=$?
  check "test images $shape beside 28x28: the run exit 1 naming the file and both shapes, no output" \
    "[ $rc -eq 1 ] && grep -q '$d/t10k-images-idx3-ubyte.gz: the test images are 1x$shape but the training images .* are 1x28x28' <<<\"\$err\" && no_output"
  err=$("$bin" --dry-run "s$shape.ini" 2>&1 >/dev/null); rc=$?
  check "test images $shape: --dry-run exit 1 with the same message" \
    "[ $rc -eq 1 ] && grep -q 'the test images are 1x$shape' <<<\"\$err\""
done

# Both splits 14x56 while the grid's network (dataset = mnist) takes 28x28.
"$synth" both1456 200 100 14x56 14x56 || exit 1
grid both.ini "$tmp/both1456"
err=$("$bin" --dry-run both.ini 2>&1 >/dev/null); rc=$?
check "images 14x56 for a network of 28x28: --dry-run exit 1 naming both shapes" \
  "[ $rc -eq 1 ] && grep -q 'training images in $tmp/both1456 are 1x14x56 but the grid.s network takes 1x28x28' <<<\"\$err\""
err=$("$bin" -q both.ini 2>&1); rc=$?
check "images 14x56 for a network of 28x28: the run exit 1, no output" \
  "[ $rc -eq 1 ] && grep -q 'are 1x14x56 but' <<<\"\$err\" && no_output"

# ---- item 12: labels without test images, empty grids -------------------------------
grid limit.ini "$tmp/data" 'labels = all\n'
sed -i 's/^\[data\]$/[data]\ntest_limit = 5/' limit.ini
line=$(grep -n '^test_limit' limit.ini | cut -d: -f1)
err=$("$bin" --dry-run limit.ini 2>&1 >/dev/null); rc=$?
check "test_limit = 5 with labels = all: --dry-run exit 1 naming test_limit and its line" \
  "[ $rc -eq 1 ] && grep -q 'limit.ini:$line: test_limit = 5 keeps no test image of label' <<<\"\$err\""
err=$("$bin" -q limit.ini 2>&1); rc=$?
check "test_limit = 5: the run exit 1 with the same message, no output" \
  "[ $rc -eq 1 ] && grep -q 'limit.ini:$line: test_limit' <<<\"\$err\" && no_output"
: > empty.ini
printf '; only a comment\n\n[sweep]\n# and another\n' > comments.ini
for f in empty.ini comments.ini; do
  err=$("$bin" -q "$f" 2>&1); rc=$?
  check "$f: the run exit 1 'sets no key', no output" \
    "[ $rc -eq 1 ] && grep -q '$f: the grid sets no key' <<<\"\$err\" && no_output"
  err=$("$bin" --dry-run "$f" 2>&1); rc=$?
  check "$f: --dry-run exit 1 'sets no key'" "[ $rc -eq 1 ] && grep -q 'sets no key' <<<\"\$err\""
done

# ---- item 13: defaults fitted to the architecture --------------------------------------
printf '[data]\ndataset = mnist\ndir = %s\n[model]\narch = mlp\nhidden = 32, 32\n' "$tmp/data" > h32.ini
out=$("$bin" --dry-run h32.ini 2>&1); rc=$?
check "hidden = 32, 32: --dry-run exit 0 and says curve_k = 2..10:2 was chosen" \
  "[ $rc -eq 0 ] && grep -q 'defaults fitted to this architecture: curve_k = 2..10:2' <<<\"\$out\""

# ---- item 5: real settings as written ------------------------------------------------
grid w1.ini "$tmp/data"
sed 's/^output = out.h5/output = w1.h5/' -i w1.ini
sed -e 's/^output = w1.h5/output = w2.h5/' -e 's/^lr = 1e-3/lr = 0.0010000000474974513/' \
    -e 's/^lambda = 0.1/lambda = 0.100000001490116119384765625/' w1.ini > w2.ini
"$bin" -q w1.ini && "$bin" -q w2.ini; rc=$?
check "two runs: lr and lambda as written, and as their float's digits" "[ $rc -eq 0 ]"
check "models/lr holds 1e-3 as written" "[ \"\$('$h5tool' get w1.h5 models/lr 0)\" = 0.001 ]"
check "models/lambda holds 0.1 as written" "[ \"\$('$h5tool' get w1.h5 models/lambda 0)\" = 0.1 ]"
check "the float's digits are stored as written too" \
  "[ \"\$('$h5tool' get w2.h5 models/lr 0)\" = 0.00100000005 ]"
"$h5tool" cmp w1.h5 w2.h5 --ignore /models/lr --ignore /models/lambda > cmp.txt 2>&1; rc=$?
check "training used the float: every other dataset is bitwise the same" "[ $rc -eq 0 ]"
[ $rc -eq 0 ] || cat cmp.txt

# ---- item 14: status's ETA per task kind -----------------------------------------------
# w1.h5: 1 model, 1 label. Training is done (its time set to 100 s), the
# analysis done (2 s), the prune pending: no prune has finished, so the
# prune is not costed at the training mean (old: "about 100 s").
cp w1.h5 eta.h5
"$h5tool" set eta.h5 models/time_train 0 100 && "$h5tool" set eta.h5 models/time_analyse 0 2 &&
  "$h5tool" set eta.h5 labels/status 0 0 || exit 1
out=$("$bin" status eta.h5 2>&1); rc=$?
check "status: a pending prune with no finished prune is not costed at the training mean" \
  "[ $rc -eq 0 ] && grep -q '1 tasks pending: no finished task yet to estimate from: prune 1 not costed (none finished yet)' <<<\"\$out\""
# Training pending too, none finished: the plan's estimate, 6 FLOP per
# multiply-add and image, 784*8 + 8*10 = 6352 multiply-adds, 4 steps of 64
# images, 1 epoch, at 20 GFLOP/s: 6 * 6352 * 256 / 20e9 = 0.000488 s.
"$h5tool" set eta.h5 models/status_train 0 0 && "$h5tool" set eta.h5 models/status_analyse 0 0 || exit 1
"$h5tool" set eta.h5 models/time_analyse 0 nan || exit 1
out=$("$bin" status eta.h5 2>&1); rc=$?
check "status: pending training with none finished is costed by the plan's estimate" \
  "[ $rc -eq 0 ] && grep -q 'at least 0.0 s of work .*train 1 x 0.000488 s (the plan.s rough estimate); analyse 1 not costed' <<<\"\$out\""
# Each kind at its own mean: w1.h5 and a copy with the prune pending, a
# finished prune elsewhere is needed, so use a 2-label sweep.
grid eta2.ini "$tmp/data" 'labels = 0, 1\n'
sed -i 's/^output = out.h5/output = eta2.h5/' eta2.ini
"$bin" -q eta2.ini || exit 1
"$h5tool" set eta2.h5 models/time_train 0 100 && "$h5tool" set eta2.h5 labels/time 0 0.5 &&
  "$h5tool" set eta2.h5 labels/status 1 0 || exit 1
out=$("$bin" status eta2.h5 2>&1); rc=$?
check "status: a pending prune costs the prunes' own mean (0.5 s), not the training's" \
  "[ $rc -eq 0 ] && grep -q '1 tasks pending: about 0.5 s of work .*: prune 1 x 0.5 s (their mean so far)' <<<\"\$out\""
exit $fail
