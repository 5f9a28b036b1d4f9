#!/usr/bin/env bash
# Every instruction-set path of the training kernels that this CPU has runs
# the network tests: the PyTorch fixtures (test_nn_pytorch: forward, loss,
# gradients, SGD and Adam steps) and the finite-difference gradient checks
# (test_nn_gradcheck) pass with MODSWEEP_ISA set to each path; a path the
# CPU lacks is reported as skipped. modsweep refuses an unknown path, and a
# path the CPU lacks, with a message and exit status 1 before doing anything
# (shown on this CPU with the test hook MODSWEEP_TEST_ISA_MAX).
set -uo pipefail
: "${MS_BUILD_DIR:?MS_BUILD_DIR must name the build directory (ctest sets it)}"
: "${MS_BIN:?MS_BIN must name the modsweep binary (ctest sets it)}"
flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }
cpu_has() {
    case $1 in
        generic) return 0 ;;
        avx2) has avx avx2 fma bmi1 bmi2 popcnt ;;
        avx512) has avx avx2 fma bmi1 bmi2 popcnt avx512f avx512dq avx512bw avx512vl avx512cd ;;
    esac
}
fail=0 ran=0
for isa in generic avx2 avx512; do
    if ! cpu_has $isa; then
        echo "SKIPPED path $isa: this CPU lacks it"
        out=$(MODSWEEP_ISA=$isa "$MS_BIN" /nonexistent.ini 2>&1); rc=$?
        if [ $rc -ne 1 ] || [[ "$out" != *"lacks"* ]]; then
            echo "FAIL modsweep with MODSWEEP_ISA=$isa (not on this CPU): exit $rc: $out"; fail=1
        fi
        continue
    fi
    for t in test_nn_pytorch test_nn_gradcheck; do
        if MODSWEEP_ISA=$isa "$MS_BUILD_DIR/tests/$t" > "$t.$isa.log" 2>&1; then
            echo "ok   $t on path $isa"
        else
            echo "FAIL $t on path $isa:"; tail -20 "$t.$isa.log"; fail=1
        fi
        ran=$((ran + 1))
    done
done
# A CPU without the higher paths (the test hook MODSWEEP_TEST_ISA_MAX makes
# this one look so): modsweep and a test program refuse them with the
# message, and auto takes the best path left.
for cap in generic avx2; do
    for isa in avx2 avx512; do
        [ "$isa" = avx2 ] && [ "$cap" = avx2 ] && continue
        cpu_has $isa || continue
        out=$(MODSWEEP_TEST_ISA_MAX=$cap MODSWEEP_ISA=$isa "$MS_BIN" /nonexistent.ini 2>&1); rc=$?
        if [ $rc -ne 1 ] || [[ "$out" != *"instruction-set path $isa: this CPU ("*") lacks it"* ]]; then
            echo "FAIL modsweep, MODSWEEP_ISA=$isa on a CPU without it: exit $rc: $out"; fail=1
        else
            echo "ok   modsweep refuses $isa on a CPU without it: $out"
        fi
        out=$(MODSWEEP_TEST_ISA_MAX=$cap MODSWEEP_ISA=$isa "$MS_BUILD_DIR/tests/test_nn_gradcheck" 2>&1); rc=$?
        if [ $rc -ne 2 ] || [[ "$out" != *"lacks it"* ]]; then
            echo "FAIL test_nn_gradcheck, MODSWEEP_ISA=$isa on a CPU without it: exit $rc: $out"; fail=1
        fi
    done
done
out=$(MODSWEEP_ISA=sse9 "$MS_BIN" /nonexistent.ini 2>&1); rc=$?
if [ $rc -ne 1 ] || [[ "$out" != *"MODSWEEP_ISA=sse9: unknown"* ]]; then
    echo "FAIL modsweep with MODSWEEP_ISA=sse9: exit $rc: $out"; fail=1
fi
[ $fail -eq 0 ] && echo "all checks passed ($ran runs)"
exit $fail
