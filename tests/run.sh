#!/usr/bin/env bash
# Builds modsweep and runs every test (ctest), from any directory.
#   tests/run.sh          the suite (what CI runs)
#   tests/run.sh --long   also the long checks (labelled "long")
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MS_TEST_BUILD_DIR:-$root/build-test}
long=0
for arg in "$@"; do
  case "$arg" in
    --long) long=1 ;;
    *) echo "tests/run.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done
jobs=$(nproc)
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$jobs"
cd "$build"
if [ "$long" = 1 ]; then
  ctest --output-on-failure -j "$jobs" --timeout 3600
else
  ctest --output-on-failure -j "$jobs" -LE long --timeout 1200
fi
