# Numerical faults in a sweep: a learning rate (1e30) and a regulariser
# weight lambda (1e38) that make training diverge fail their models at once
# (no retry) with a reason naming the step and the tensor or layer, their
# analyses and prunings fail with the model's reason, and the sweep goes on:
# the healthy model equals the same model swept alone (an independent run).
# Then NaN written into a trained model's parameters (a damaged file) fails
# its analysis and prunings, naming the tensor, while the sweep goes on.
source "$(dirname "$0")/mpi_common.sh"

# 4 models: (lambda, lr) = (0, 0.05) healthy, (0, 1e30), (1e38, 0.05), (1e38, 1e30).
sed -e 's/^lambda = .*/lambda = 0, 1e38/' -e 's/^k = .*/k = 2/' -e 's/^seeds = .*/seeds = 1/' \
    -e 's/^lr = .*/lr = 0.05, 1e30/' "$grid" > "$dir/div.ini"
sed -e 's/^lambda = .*/lambda = 0/' -e 's/^k = .*/k = 2/' -e 's/^seeds = .*/seeds = 1/' \
    "$grid" > "$dir/healthy.ini"

ms 2 div.ini -o div.h5 --retries 2 2> "$dir/div.log"
rc=$?
[ "$rc" -eq 0 ] || fail "diverging sweep: exit $rc, not 0 (the sweep must go on): $(tail -5 "$dir/div.log")"
"$MS_BIN" status "$dir/div.h5" > "$dir/div.status"
cat "$dir/div.status"
grep -q "train  *1 done  *3 failed" "$dir/div.status" || fail "not 1 model done, 3 failed"
grep -q "analyse  *1 done  *3 failed" "$dir/div.status" || fail "the failed models' analyses not failed"
grep -q "prune  *3 done  *9 failed" "$dir/div.status" || fail "the failed models' prunings not failed"
grep -qx "  complete (15 tasks failed for good; the sweep's command with --retry-failed runs them again)" "$dir/div.status" ||
  fail "the sweep did not complete"
for m in 1 2 3; do
  reason=$(sed -n "s/^  failed train of model $m: //p" "$dir/div.status")
  echo "model $m: $reason"
  # "step S (epoch E): cross-entropy loss is NaN: parameters of fc1.weight are not finite",
  # "step S (epoch E): gradient of fc2.weight is not finite", ...
  grep -qE '^step [0-9]+ \(epoch 1\): .*(fc[1-3]|conv[0-9])' <<<"$reason" ||
    fail "model $m: the reason names no step and layer: '$reason'"
  [ "$("$MS_H5TOOL" get "$dir/div.h5" models/attempts_train "$m")" = 1 ] ||
    fail "model $m: retried (a numerical fault repeats exactly; it must fail at once)"
  grep -q "failed prune of model $m label 2: model failed to train: step" "$dir/div.status" ||
    fail "model $m: its prunings do not carry its reason"
done
grep -q "train model 0 done" "$dir/div.log" || fail "the healthy model was not trained"
# The healthy model, swept alone, gives the same rows.
ms 1 -q healthy.ini -o healthy.h5 || fail "healthy sweep: exit $?"
"$MS_H5TOOL" cmpdone "$dir/div.h5" "$dir/healthy.h5" || fail "the healthy model differs from its own sweep"

# NaN in model 0's trained parameters (fc2.weight: after fc1.weight 784 x 16
# and fc1.bias 16, element 5), its analysis and prunings pending again.
P=$(( 784 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10 ))
"$MS_H5TOOL" set "$dir/div.h5" models/params $(( 784 * 16 + 16 + 5 )) nan || fail "cannot write NaN"
for t in "models/status_analyse 0" "labels/status 0" "labels/status 1" "labels/status 2" \
         "models/attempts_analyse 0" "labels/attempts 0" "labels/attempts 1" "labels/attempts 2"; do
  "$MS_H5TOOL" set "$dir/div.h5" $t 0 || fail "cannot reset $t"
done
[ "$("$MS_H5TOOL" get "$dir/div.h5" models/params $(( P - 1 )))" != nan ] || fail "layout guess wrong"
ms 2 div.ini -o div.h5 2> "$dir/nan.log"
rc=$?
[ "$rc" -eq 0 ] || fail "sweep with NaN parameters: exit $rc: $(tail -5 "$dir/nan.log")"
"$MS_BIN" status "$dir/div.h5" > "$dir/nan.status"
grep -q "failed analyse of model 0: model 0: the trained parameters in .* hold a NaN or Inf in fc2.weight" \
  "$dir/nan.status" || fail "the analysis did not fail naming fc2.weight: $(cat "$dir/nan.status")"
grep -q "failed prune of model 0 label 1: model 0: the trained parameters .* fc2.weight" \
  "$dir/nan.status" || fail "the prunings did not fail naming fc2.weight"
[ "$("$MS_H5TOOL" get "$dir/div.h5" models/attempts_analyse 0)" = 1 ] || fail "the analysis was retried"
finish
