#!/usr/bin/env bash
# The default build runs on every x86-64-v2 CPU: outside the training
# kernels compiled for the avx2 and avx512 paths (chosen at run time, isa.h),
# no object of the engine, and no function of the modsweep binary, holds an
# instruction that x86-64-v2 lacks: no VEX/EVEX instruction (AVX, AVX2, FMA,
# F16C, AVX-512: every mnemonic starting with v), no ymm/zmm or AVX-512 mask
# register, no BMI1/BMI2/LZCNT/MOVBE instruction; the only other exception
# is the pruning's hot loop, cloned for x86-64-v3 and v4 by GCC's
# target_clones (it must exist: the test checks that its clones are there). (`rep bsf`, which objdump
# shows as tzcnt, runs as bsf on CPUs without BMI1 and is allowed.) To show
# that the check can fail, it must find such instructions in the avx2 and
# avx512 kernel objects. A build with MODSWEEP_NATIVE=ON is skipped.
set -uo pipefail
: "${MS_BUILD_DIR:?MS_BUILD_DIR must name the build directory (ctest sets it)}"
: "${MS_BIN:?MS_BIN must name the modsweep binary (ctest sets it)}"
command -v objdump >/dev/null || { echo "SKIPPED: objdump (binutils) not found"; exit 77; }
if grep -q '^MODSWEEP_NATIVE:BOOL=ON' "$MS_BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
    echo "SKIPPED: built with MODSWEEP_NATIVE=ON (-march=native), not the default baseline"
    exit 77
fi
case $(uname -m) in x86_64 | amd64) ;; *) echo "SKIPPED: not an x86-64 machine"; exit 77 ;; esac
beyond='^[[:space:]]*[0-9a-f]+:[[:space:]]+((v[a-z0-9]+|andn|bextr|blsi|blsmsk|blsr|bzhi|mulx|pdep|pext|rorx|sarx|shlx|shrx|lzcnt|movbe)[[:space:]]|.*%[yz]mm[0-9]|.*%k[0-7]\b)'
# scan FILE: prints "function: instruction" for each instruction beyond the
# baseline, outside GCC's target_clones of a function for x86-64-v3 and
# x86-64-v4 (named NAME.arch_x86_64_v3 / _v4; the pruning's hot loop), which
# the program calls only on CPUs that have them.
scan() {
    objdump -d --no-show-raw-insn "$1" | awk -v re="$beyond" '
        /^[0-9a-f]+ <.*>:$/ { fn = $2; next }
        fn ~ /\.arch_x86_64_v[34][.>]/ { next }
        $0 ~ re { sub(/^[[:space:]]*[0-9a-f]+:[[:space:]]+/, ""); print fn " " $0 }'
}
fail=0 objs=0
cd "$MS_BUILD_DIR" || exit 1
kern=CMakeFiles/modsweep_kernels_
for o in $(find CMakeFiles/modsweep.dir CMakeFiles/modsweep_base.dir CMakeFiles/modsweep_gpu.dir \
    CMakeFiles/modsweep_sweep.dir "${kern}generic.dir" -name '*.o' | sort); do
    objs=$((objs + 1))
    hits=$(scan "$o")
    if [ -n "$hits" ]; then
        echo "FAIL $o: $(echo "$hits" | wc -l) instructions beyond x86-64-v2, e.g.:"
        echo "$hits" | head -5 | sed 's/^/    /'
        fail=1
    fi
done
[ $objs -ge 20 ] || { echo "FAIL: only $objs engine objects found under $MS_BUILD_DIR"; fail=1; }
# The clones (GCC on x86-64) exist and hold such instructions: the pruning's
# hot loop is the cone's block evaluation (src/prune/cone.c).
cone_o=$(find CMakeFiles/modsweep_base.dir -name 'cone.c.o' | head -1)
dis=$( [ -n "$cone_o" ] && objdump -d --no-show-raw-insn "$cone_o")
if [ -z "$cone_o" ]; then
    echo "FAIL: no cone.c.o under $MS_BUILD_DIR"
    fail=1
elif nm "$cone_o" | grep '__asan_' >/dev/null; then
    # Sanitizer instrumentation keeps GCC from vectorising the clone's loops.
    echo "skip the clones' AVX2 content: a sanitizer build (checked in the release build)"
elif [ "$(uname -m)" != x86_64 ]; then
    echo "skip the clones: not x86-64"
elif grep -q '\.arch_x86_64_v3>:' <<<"$dis"; then
    n=$(awk '/^[0-9a-f]+ <.*>:$/ { fn = $2 }
        fn ~ /\.arch_x86_64_v3/ && /%ymm/ { n++ } END { print n + 0 }' <<<"$dis")
    [ "$n" -gt 20 ] || { echo "FAIL: the pruning's x86-64-v3 clone holds no AVX2 code ($n)"; fail=1; }
    echo "ok   the pruning's x86-64-v3 clone holds $n ymm instructions"
else
    echo "FAIL: $cone_o holds no x86-64-v3 clone of the pruning's block evaluation"
    fail=1
fi
# The check must see the dispatched kernels' instructions: it can fail.
allowed=""
for isa in avx2 avx512; do
    # The path's objects (kernels.c and kernels_conv.c).
    objs_isa=$(find "$kern$isa.dir" -name '*.o' | sort)
    n=0
    for o in $objs_isa; do
        n=$((n + $(scan "$o" | wc -l)))
        allowed="$allowed $(nm --defined-only "$o" | awk '$2 ~ /^[tT]$/ { print $3 }')"
    done
    if [ -z "$objs_isa" ] || [ "$n" -lt 50 ]; then
        echo "FAIL: the $isa kernel objects ${objs_isa:-(missing)} show $n instructions beyond x86-64-v2"
        fail=1
    else
        echo "ok   the check finds $n instructions beyond x86-64-v2 in the $isa kernel objects" \
            "($(echo $objs_isa | wc -w))"
    fi
done
# The linked binary: only functions defined in the two paths' kernel objects may
# hold such instructions (the same static names exist in the generic object,
# which the object scan above covers).
bad=$(scan "$MS_BIN" | awk -v allow="$allowed" '
    BEGIN { n = split(allow, a, " "); for (i = 1; i <= n; i++) ok["<" a[i] ">:"] = 1 }
    !($1 in ok) { print }')
if [ -n "$bad" ]; then
    echo "FAIL $MS_BIN: instructions beyond x86-64-v2 outside the dispatched kernels, e.g.:"
    echo "$bad" | head -10 | sed 's/^/    /'
    fail=1
else
    echo "ok   $MS_BIN: nothing beyond x86-64-v2 outside the avx2/avx512 kernels"
fi
[ $fail -eq 0 ] && echo "all checks passed ($objs engine objects)"
exit $fail
