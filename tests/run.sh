#!/usr/bin/env bash
# Builds modsweep and runs every test (ctest), from any directory, in three
# builds (CPU only where the machine has no GPU; the CUDA tests report
# themselves skipped):
#   1. the release build: the whole suite;
#   2. the sanitizer build (AddressSanitizer + UndefinedBehaviorSanitizer,
#      leaks checked with tests/lsan.supp): the whole CPU suite again;
#   3. the fuzz build (clang, libFuzzer): a short run of each fuzz target
#      from its committed seeds (MODSWEEP_FUZZ_SECONDS each, default 20).
# Options:
#   --long          also the long checks (labelled "long") in the release build
#   --no-sanitize   skip build 2
#   --no-fuzz       skip build 3
# Build folders: build-test, build-test-asan, build-test-fuzz (under
# $MS_TEST_BUILD_DIR when set).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
base=${MS_TEST_BUILD_DIR:-$root}
long=0 sanitize=1 fuzz=1
for arg in "$@"; do
  case "$arg" in
    --long) long=1 ;;
    --no-sanitize) sanitize=0 ;;
    --no-fuzz) fuzz=0 ;;
    *) echo "tests/run.sh: unknown option '$arg' (use --long, --no-sanitize, --no-fuzz)" >&2; exit 2 ;;
  esac
done
jobs=$(nproc)
start=$SECONDS
step() { echo; echo "=== tests/run.sh: $* ($((SECONDS - start)) s)"; }

step "release build"
cmake -S "$root" -B "$base/build-test" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$base/build-test" -j "$jobs"
(
  cd "$base/build-test"
  if [ "$long" = 1 ]; then
    ctest --output-on-failure -j "$jobs" --timeout 3600
  else
    ctest --output-on-failure -j "$jobs" -LE long --timeout 1200
  fi
)

if [ "$sanitize" = 1 ]; then
  step "sanitizer build (ASan + UBSan)"
  cmake -S "$root" -B "$base/build-test-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DMODSWEEP_SANITIZE=ON -DMODSWEEP_CUDA=OFF >/dev/null
  cmake --build "$base/build-test-asan" -j "$jobs"
  (cd "$base/build-test-asan" && ctest --output-on-failure -j "$jobs" -LE long --timeout 1200)
fi

if [ "$fuzz" = 1 ]; then
  step "fuzz build (clang, libFuzzer): short runs"
  if ! command -v clang >/dev/null 2>&1; then
    echo "tests/run.sh: the fuzz runs need clang and libclang-rt-14-dev:" \
         "bash scripts/install-deps.sh --tests (or pass --no-fuzz)" >&2
    exit 1
  fi
  cmake -S "$root" -B "$base/build-test-fuzz" -DCMAKE_C_COMPILER=clang \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMODSWEEP_FUZZ=ON -DMODSWEEP_CUDA=OFF \
        -DMODSWEEP_FUZZ_SECONDS="${MODSWEEP_FUZZ_SECONDS:-20}" >/dev/null
  cmake --build "$base/build-test-fuzz" -j "$jobs" --target fuzz_all
  (cd "$base/build-test-fuzz" && ctest --output-on-failure -j "$jobs" -R '^fuzz_' --timeout 1200)
fi
step "all passed"
