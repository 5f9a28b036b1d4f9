#!/usr/bin/env bash
# Tells modsweep's findings from third-party ones:
#   tests/fuzz/triage.sh FUZZER INPUT...
# Replays each INPUT (a crash-*, oom-*, timeout-* or leak-* file a fuzz run
# saved) with FUZZER and reads the report's stack from the innermost frame
# outwards, past the sanitizer runtime and the C library: the first frame
# that is either in modsweep's sources (src/, include/, tests/, so also a
# broken property of a fuzz target) or in a shared library (HDF5, Open MPI,
# zlib, ...) decides. modsweep's own code is linked into FUZZER, the other
# libraries are not, so the two cannot be confused. A report without a
# stack (out of memory by resident size) or an input that no longer fails
# counts as modsweep's, to be looked at.
# Prints one line per input; exits 1 if any is modsweep's, else 0.
set -uo pipefail
fuzzer=${1:?usage: triage.sh FUZZER INPUT...}
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
ours=0
for input in "$@"; do
  report=$("$fuzzer" -runs=1 -timeout=20 "$input" 2>&1)
  rc=$?
  verdict=""
  if [ $rc -eq 0 ]; then
    verdict="modsweep: no longer fails (fixed? then add it to tests/fuzz/regress/)"
  else
    # Frames: "    #3 0x... in FUNC SOURCE:LINE" or "    #3 0x... in FUNC (MODULE+0x...)".
    while IFS= read -r line; do
      case "$line" in
        *"$root/src/"* | *"$root/include/"* | *"$root/tests/"*)
          verdict="modsweep: ${line#*in }"; break ;;
        *"(/"*".so"*)
          lib=$(sed -n 's/.*(\(\/[^+()]*\.so[^+()]*\)+0x.*/\1/p' <<<"$line"); lib=${lib##*/}
          [ -n "$lib" ] || continue
          case "$lib" in
            libc.so* | libm.so* | ld-linux* | libstdc++* | libgcc_s*) continue ;;
          esac
          fn=${line#*in }; fn=${fn%% *}
          verdict="third-party ($lib: $fn)"; break ;;
      esac
    done < <(grep -E '^ +#[0-9]+ 0x' <<<"$report")
    [ -n "$verdict" ] || verdict="modsweep: no stack in the report ($(grep -m1 -E 'ERROR|error' <<<"$report"))"
  fi
  case "$verdict" in modsweep*) ours=$((ours + 1)) ;; esac
  echo "$(basename "$input"): $verdict"
done
exit $((ours > 0))
