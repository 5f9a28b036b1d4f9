# The machine columns and the status warning (machine.h): every finished
# task records the CPU model, the kernel path it ran (MODSWEEP_ISA) and
# OpenBLAS's core type; a sweep stopped under one path and resumed under
# another makes `modsweep status` warn, naming both paths with their task
# counts, while a sweep that ran on one path does not warn.
source "$(dirname "$0")/mpi_common.sh"
flags=$(grep -m1 '^flags' /proc/cpuinfo)
for f in avx2 fma bmi1 bmi2; do
  [[ " $flags " == *" $f "* ]] || { echo "SKIPPED: this CPU has no second path (no $f)"; exit 77; }
done
export MODSWEEP_ISA=generic
# One path throughout: no warning.
ms 1 -q grid.ini -o one.h5 || fail "run on one path: exit $?"
"$MS_BIN" status "$dir/one.h5" > "$dir/one.status" || fail "status: exit $?"
grep -q "warning" "$dir/one.status" && fail "warning after a run on one path: $(cat "$dir/one.status")"
if command -v h5dump >/dev/null; then
  val() { sed -n "s/^$1[[:space:]]*:[[:space:]]*//p" /proc/cpuinfo | head -1 | tr -s ' ' | sed 's/ *$//'; }
  model="$(val 'model name') [family $(val 'cpu family') model $(val model)]"
  for col in models/isa models/isa_analyse labels/isa; do
    n=$(h5dump -d "/$col" "$dir/one.h5" | grep -o '"generic"' | wc -l)
    [ "$n" -ge 8 ] || fail "$col: $n rows say generic, not every task"
  done
  for col in models/cpu_model labels/cpu_model; do
    h5dump -d "/$col" "$dir/one.h5" | grep -qF "\"$model\"" ||
      fail "$col does not hold the CPU model '$model': $(h5dump -d "/$col" "$dir/one.h5" | head -20)"
  done
  h5dump -d /models/blas_core "$dir/one.h5" | grep -q '"[A-Za-z0-9]' || fail "models/blas_core empty"
fi

# Stopped mid-sweep under generic (each task naps 150 ms so that SIGTERM
# lands mid-sweep), resumed under avx2.
export MODSWEEP_TEST_TASK_SLEEP_MS=150
term_midsweep "first run" 1 mix.h5 mix1.log 60 6
rc=$?
[ "$rc" -eq 75 ] || fail "first run: exit $rc, not 75 (stopped by the signal)"
unset MODSWEEP_TEST_TASK_SLEEP_MS
n1=$("$MS_H5TOOL" done "$dir/mix.h5" | grep -c .)
"$MS_BIN" status "$dir/mix.h5" | grep -q "warning" && fail "warning before the resume"
MODSWEEP_ISA=avx2 ms 1 -q grid.ini -o mix.h5 || fail "resume under avx2: exit $?"
"$MS_BIN" status "$dir/mix.h5" > "$dir/mix.status" || fail "status: exit $?"
cat "$dir/mix.status"
line=$(grep "warning: this sweep's finished tasks ran on different instruction-set paths" "$dir/mix.status")
[ -n "$line" ] || fail "no warning after resuming under another path"
# The counts: the tasks done before the stop on generic, the rest on avx2.
count() { sed -n "s/.* $1 (\([^)]*\)).*/\1/p" <<<"$line" | grep -o '[0-9]*' | paste -sd+ | bc; }
g=$(count generic) a=$(count avx2)
[ "${g:-0}" -eq "$n1" ] || fail "warning counts ${g:-0} generic tasks, $n1 were done before the stop"
[ "$(( ${g:-0} + ${a:-0} ))" -eq 40 ] || fail "warning counts ${g:-0} + ${a:-0} tasks, not 40"
grep -q "OpenBLAS core types" "$dir/mix.status" && fail "BLAS core warning on one machine"
finish
