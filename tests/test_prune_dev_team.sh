#!/usr/bin/env bash
# The device pruning algorithm (host emulation) with each window's states
# split across a team of 3 ranks: the same masks, losses and ties as the CPU
# reference on one rank (test_prune_dev.c does the comparing).
set -euo pipefail
bin=${MS_BUILD_DIR:-$(pwd)/..}/tests/test_prune_dev
[ -x "$bin" ] || bin=$(dirname "$0")/../build/tests/test_prune_dev
if ! command -v mpirun >/dev/null; then echo "SKIPPED: no mpirun"; exit 77; fi
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  mpirun --oversubscribe -n 3 "$bin" team
