# Shared set-up of the test scripts that print one line per check (sourced
# by tests/test_*.sh; the MPI tests use tests/mpi_common.sh instead):
# strict mode (-u, pipefail), a scratch folder $tmp removed at exit, $fail
# (0, or 1 once a check has failed: the script ends with `exit $fail`) and
# check DESCRIPTION CONDITION, which evaluates CONDITION and prints
# "ok   DESCRIPTION" or "FAIL DESCRIPTION".
set -uo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # description, condition
  if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}

# analysis_test_setup N_TRAIN N_TEST: the set-up of the tests of the
# analysis package (analysis/) on real sweeps: $bin, $src and $build from
# ctest's MS_BIN, MS_SOURCE_DIR and MS_BUILD_DIR; $py, MS_PYTHON or Debian's
# python3, which must have h5py, numpy, pandas and matplotlib (else the
# script is skipped, exit 77); MS_SOURCE_DIR and MPLBACKEND=Agg exported;
# generated MNIST-format data (tests/synth_data: N_TRAIN training and N_TEST
# test images) in $tmp/data.
analysis_test_setup() {
  bin=${MS_BIN:?}
  src=${MS_SOURCE_DIR:?}
  build=${MS_BUILD_DIR:?}
  py=${MS_PYTHON:-/usr/bin/python3}
  if ! "$py" -c 'import h5py, numpy, pandas, matplotlib' 2>/dev/null; then
    echo "skipped: $py lacks h5py, numpy, pandas or matplotlib"
    exit 77
  fi
  export MS_SOURCE_DIR=$src MPLBACKEND=Agg
  "$build/tests/synth_data" "$tmp/data" "$1" "$2" || exit 1
}
