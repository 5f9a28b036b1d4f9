#!/usr/bin/env bash
# GPU pruning by a team of 2 ranks (each window's states split between them,
# reduced through NCCL when the ranks have GPUs of their own, through MPI when
# they share one): the same masks, losses and ties as the CPU on one rank
# (test_cuda_kernels.c in team mode does the comparing). Skipped (77) where
# there is no GPU.
set -uo pipefail
bin=${MS_BUILD_DIR:-$(pwd)/..}/tests/test_cuda_kernels
[ -x "$bin" ] || bin=$(dirname "$0")/../build/tests/test_cuda_kernels
"$bin" --probe >/dev/null 2>&1
rc=$?
if [ $rc -eq 77 ]; then echo "SKIPPED: no GPU"; exit 77; fi
if ! command -v mpirun >/dev/null; then echo "SKIPPED: no mpirun"; exit 77; fi
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  mpirun --oversubscribe -n 2 "$bin" team
