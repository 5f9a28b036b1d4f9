#!/usr/bin/env bash
# Fuzzes one target from its committed seeds:
#   tests/fuzz/run_fuzz.sh FUZZER NAME SECONDS [libFuzzer options...]
# FUZZER is the libFuzzer binary (build-fuzz/tests/fuzz/fuzz_NAME), NAME the
# target (grid, idx, cifar, results, results_bytes). The corpus grows in a
# scratch folder seeded from tests/fuzz/corpus/NAME (set MS_FUZZ_CORPUS=DIR
# to keep it, e.g. for a long run). A finding stops the run with exit
# status 1 and its input saved as MS_FUZZ_ARTIFACTS/crash-* (default:
# findings_NAME/ in the current folder); copy it to tests/fuzz/regress/NAME/
# with the fix.
# The last lines give the executions and the coverage reached.
set -euo pipefail
fuzzer=${1:?usage: run_fuzz.sh FUZZER NAME SECONDS [options]}
name=${2:?usage: run_fuzz.sh FUZZER NAME SECONDS [options]}
seconds=${3:?usage: run_fuzz.sh FUZZER NAME SECONDS [options]}
shift 3
here=$(cd "$(dirname "$0")" && pwd)
seeds=$here/corpus/$name
[ -d "$seeds" ] || { echo "run_fuzz.sh: no seed corpus $seeds"; exit 2; }
scratch=$(mktemp -d "${TMPDIR:-/tmp}/ms_fuzz_$name.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
corpus=${MS_FUZZ_CORPUS:-$scratch/corpus}
mkdir -p "$corpus"
artifacts=${MS_FUZZ_ARTIFACTS:-$PWD/findings_$name} # one folder per target: ctest runs them in parallel
mkdir -p "$artifacts"
export MS_FUZZ_TMP=$scratch # the targets' own scratch files
# A results file whose metadata HDF5 cannot read in this time is refused
# (src/sweep/results.c, probe_file); the default of a minute would slow fuzzing.
export MODSWEEP_PROBE_SECONDS=${MODSWEEP_PROBE_SECONDS:-2}
# Fuzzing speed: fast stack unwinding at each allocation (HDF5 and MPI
# allocate a lot), and leaks checked after each input (libFuzzer does that)
# but not at exit, where Open MPI's finalisation drops what it allocated at
# start-up from modules it unloads, so tests/lsan.supp cannot name them.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:fast_unwind_on_malloc=1"
export LSAN_OPTIONS="${LSAN_OPTIONS:-}:leak_check_at_exit=0"

leak_pass=0
opts=(-max_total_time="$seconds" -timeout=20 -print_final_stats=1 -artifact_prefix="$artifacts/"
      -close_fd_mask=1)
case "$name" in
  grid) opts+=(-dict="$here/grid.dict" -max_len=4096) ;;
  cifar) opts+=(-max_len=12400) ;;
  idx) opts+=(-max_len=8192) ;;
esac
case "$name" in
  results | results_bytes)
    # HDF5 reading a damaged file may ask for absurd amounts of memory; an
    # allocation over 2 GiB fails (returns NULL) instead of ending the run,
    # and HDF5 reports it as an error. modsweep's own code refusing a file
    # as "out of memory" is a finding of the target (results_common.h).
    # Leaks: Open MPI allocates lazily inside MPI-IO calls and keeps some of
    # it only in thread-local storage, which the fast stacks of fuzzing
    # cannot attribute to it; so leaks are looked for after fuzzing, in one
    # pass over the corpus with full stacks and tests/lsan.supp (below).
    opts+=(-max_len=512 -rss_limit_mb=0 -malloc_limit_mb=0 -detect_leaks=0)
    leak_pass=1
    export ASAN_OPTIONS="$ASAN_OPTIONS:allocator_may_return_null=1:max_allocation_size_mb=2048:hard_rss_limit_mb=4096" ;;
  *) opts+=(-rss_limit_mb=2560 -malloc_limit_mb=2048) ;;
esac
# Inputs that past findings left behind are replayed first (they are part
# of the corpus the run starts from).
dirs=("$corpus" "$seeds")
[ -d "$here/regress/$name" ] && dirs+=("$here/regress/$name")
echo "fuzzing $name for $seconds s: $fuzzer ${opts[*]} $* ${dirs[*]}"
touch "$scratch/start"
set +e
"$fuzzer" "${opts[@]}" "$@" "${dirs[@]}" > "$scratch/log" 2>&1
rc=$?
set -e
# The log without the lines of each new input and the dictionary, then the
# totals: executions, coverage (cov: edges of modsweep's code), corpus.
grep -v -E '^#[0-9]+.*(NEW|REDUCE|pulse) |^"|Recommended dictionary|End of recommended|^modsweep: ' \
  "$scratch/log" | tail -n 60
echo "$name: $(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)' "$scratch/log" | tail -n 1)"
if [ "$leak_pass" = 1 ] && [ "$rc" -eq 0 ]; then
  set +e
  ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0" "$fuzzer" -runs=0 -detect_leaks=1 \
    -artifact_prefix="$artifacts/" -close_fd_mask=1 "${dirs[@]}" > "$scratch/leaks" 2>&1
  rc=$?
  set -e
  echo "$name: leak pass over the corpus: $(grep -E '^#[0-9]+[[:space:]]+INITED' "$scratch/leaks" | tail -n 1)"
  [ "$rc" -eq 0 ] || grep -v '^modsweep: ' "$scratch/leaks" | tail -n 40
fi
# Findings of this run: modsweep's fail the run, third-party ones (HDF5,
# Open MPI, ...) are listed and do not (triage.sh; see tests/fuzz/README.md).
mapfile -t found < <(find "$artifacts" -maxdepth 1 -newer "$scratch/start" -type f \
                       \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
if [ ${#found[@]} -gt 0 ]; then
  echo "$name: ${#found[@]} finding(s); triage:"
  if bash "$here/triage.sh" "$fuzzer" "${found[@]}"; then
    echo "$name: only third-party findings (inputs kept in $artifacts)"
    exit 0
  fi
  exit 1
fi
[ "$rc" -eq 0 ] || echo "$name: the fuzzer failed (exit $rc) without a finding"
exit "$rc"
