#!/usr/bin/env bash
# Builds modsweep and runs the default sweep (sweeps/quickstart.ini) on the
# embedded Fashion-MNIST, then prints what it found. Run from anywhere.
#   scripts/quickstart.sh [extra modsweep options]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j "$(nproc)" >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-10000000}
cd "$root"
"$root/build/modsweep" --restart "$@" sweeps/quickstart.ini
"$root/build/modsweep" status quickstart.h5
