#!/usr/bin/env bash
# The layering of src/ (README "How the parts fit"): compute modules
# (src/core, src/analysis, src/prune) take settings, parameters and data and
# return plain structs. They never include the sweep layer's headers (results
# file, stages, scheduler, sweep driver, grid plan) nor HDF5, and MPI only
# where a module is itself collective: the prune team's window reduction
# (prune.h, prune_dev.h) and the rank in log lines (log.c). The GPU host code
# (src/gpu) sits between the two and includes no sweep header either.
# Also no .c, .h or .cu file under src/, include/ or cuda/ is over 1,000
# lines. Fails naming each offending include and each file too long.
set -uo pipefail
root=${MS_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 1
fail=0 checked=0
sweep_headers='results|stages|sched|sweep|analyse|measures|plan|safety'
check() { # check <file> <regex of forbidden includes> <why>
    local f=$1 re=$2 why=$3 hit
    checked=$((checked + 1))
    hit=$(grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($re)" "$f")
    if [ -n "$hit" ]; then
        echo "FAIL $f: $why:"; echo "$hit" | sed 's/^/    /'
        fail=1
    fi
}
for f in src/core/*.c src/analysis/*.c src/prune/*.c; do
    check "$f" "modsweep/($sweep_headers|gpu|kernels_gpu)\.h|hdf5\.h|H5" \
        "a compute module includes the sweep layer, the GPU layer or HDF5"
    case "$f" in
        src/core/log.c | src/prune/*) ;;
        *) check "$f" "mpi\.h" "a compute module includes MPI" ;;
    esac
done
for f in src/gpu/*.c; do
    check "$f" "modsweep/($sweep_headers)\.h|hdf5\.h|H5" "GPU host code includes the sweep layer or HDF5"
done
# The headers the compute modules use must not pull the sweep layer in either.
for h in include/modsweep/*.h; do
    case "$(basename "$h" .h)" in
        results | stages | sched | sweep | analyse | measures | plan | safety | gpu | kernels_gpu) continue ;;
    esac
    check "$h" "modsweep/($sweep_headers)\.h|hdf5\.h|H5" "a compute header includes the sweep layer or HDF5"
done
# No source file over 1,000 lines: a file that grows past that is split by
# what its parts do (config.c's passes, the plan, the prune row tree, the
# results file's probe and attributes).
max_lines=1000 sized=0
while IFS= read -r f; do
    sized=$((sized + 1))
    n=$(wc -l < "$f")
    if [ "$n" -gt "$max_lines" ]; then
        echo "FAIL $f: $n lines (at most $max_lines; split it by what its parts do)"
        fail=1
    fi
done < <(find src include cuda -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' \) | sort)
[ "$sized" -gt 60 ] || { echo "FAIL: only $sized files measured (layout moved?)"; exit 1; }
[ "$checked" -gt 40 ] || { echo "FAIL: only $checked files checked (layout moved?)"; exit 1; }
[ "$fail" = 0 ] && echo "layers: $checked files checked, no compute module reaches up into the sweep layer; $sized source files, none over $max_lines lines"
exit "$fail"
