#!/usr/bin/env bash
# The pruning of one label split across 1, 2 and 3 ranks (one team) gives the
# mask of a single rank and of the naive loop (tests/prune_team.c).
set -euo pipefail
bin="$MS_BUILD_DIR/tests/prune_team"
for n in 1 2 3; do
  echo "== $n rank(s)"
  mpirun --oversubscribe -n "$n" "$bin"
done
