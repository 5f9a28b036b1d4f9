# The same sweep on 1, 2 and 3 ranks (and with prune teams, and with rank 0
# only coordinating) gives bitwise-equal result datasets; every rank gets
# cores for its threads.
source "$(dirname "$0")/mpi_common.sh"

ms 1 -q grid.ini -o r1.h5 || fail "1 rank: exit $?"
"$MS_BIN" status "$dir/r1.h5" > "$dir/status1.txt" || fail "status: exit $?"
grep -qx "  complete" "$dir/status1.txt" || fail "1 rank: not complete: $(cat "$dir/status1.txt")"
grep -q "prune *24 done" "$dir/status1.txt" || fail "1 rank: not 24 prunings: $(cat "$dir/status1.txt")"

ms 2 grid.ini -o r2.h5 2> "$dir/log2.txt" || fail "2 ranks: exit $?"
"$MS_H5TOOL" cmp "$dir/r1.h5" "$dir/r2.h5" || fail "2 ranks differ from 1 rank"
# One log line per task, each naming its rank; both ranks worked.
[ "$(done_in_log "$dir/log2.txt" | wc -l)" -eq 40 ] || fail "2 ranks: not 40 task lines"
grep -q "done on rank 0 " "$dir/log2.txt" || fail "rank 0 computed nothing"
grep -q "done on rank 1 " "$dir/log2.txt" || fail "rank 1 computed nothing"

ms 3 -q grid.ini -o r3.h5 || fail "3 ranks: exit $?"
"$MS_H5TOOL" cmp "$dir/r1.h5" "$dir/r3.h5" || fail "3 ranks differ from 1 rank"

# Prune teams of 3 split each speculative window: the same masks and every
# other result; only the count of evaluated states may differ.
ms 3 grid.ini -o r3t.h5 --team 3 2> "$dir/log3t.txt" || fail "team of 3: exit $?"
grep -q "prune teams of 3" "$dir/log3t.txt" || fail "team of 3 not formed"
"$MS_H5TOOL" cmp "$dir/r1.h5" "$dir/r3t.h5" --ignore /labels/states || fail "team of 3 differs"

ms 3 grid.ini -o r3d.h5 --dedicated-coordinator 2> "$dir/log3d.txt" ||
  fail "dedicated coordinator: exit $?"
grep -q "done on rank 0 " "$dir/log3d.txt" && fail "rank 0 computed although only coordinating"
"$MS_H5TOOL" cmp "$dir/r1.h5" "$dir/r3d.h5" || fail "dedicated coordinator differs"

# Cores: mpirun binds a lone rank to one core; with 2 threads it is widened
# to two cores (before OpenMP starts: modsweep re-executes itself); two ranks
# with one thread each get a core each.
ncpu=$(nproc)
if [ "$ncpu" -ge 2 ]; then
  rm -f "$dir/a.h5"
  ms 1 -v grid.ini -o a.h5 --threads 2 2> "$dir/aff1.txt" || fail "affinity run 1: exit $?"
  grep -q "rank 0 on .*: 2 threads on cpus [0-9]*[-,][0-9]" "$dir/aff1.txt" ||
    fail "1 rank x 2 threads not on two cpus: $(grep cpus "$dir/aff1.txt")"
  # mpirun binds a lone rank to one core: the mask must be widened before
  # the program starts (OpenMP counts its CPUs when it is loaded).
  if grep -q "(widened from" "$dir/aff1.txt"; then
    grep -q "before start)" "$dir/aff1.txt" || fail "cpu mask widened only after start"
  fi
  grep -q "wait slowly" "$dir/aff1.txt" && fail "fallback widening after start was used"
  rm -f "$dir/a.h5"
  ms 2 -v grid.ini -o a.h5 --threads 1 2> "$dir/aff2.txt" || fail "affinity run 2: exit $?"
  c0=$(sed -n 's/.*rank 0 on .*: 1 threads on cpus \([0-9,-]*\).*/\1/p' "$dir/aff2.txt")
  c1=$(sed -n 's/.*rank 1 on .*: 1 threads on cpus \([0-9,-]*\).*/\1/p' "$dir/aff2.txt")
  [ -n "$c0" ] && [ -n "$c1" ] || fail "2 ranks: no cpu lines: $(grep cpus "$dir/aff2.txt")"
  # Either each rank has its own core, or both may use several (unbound).
  if [ "$c0" = "$c1" ] && ! [[ "$c0" =~ [-,] ]]; then fail "2 ranks share one cpu ($c0)"; fi
  grep -q "fewer cpus than threads" "$dir/aff1.txt" "$dir/aff2.txt" && fail "threads share cores"
fi
finish
