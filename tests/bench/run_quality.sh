#!/usr/bin/env bash
# The paper CNN on Fashion-MNIST (3x32x32), one epoch of Adam: test accuracy
# of modsweep and of PyTorch over three seeds each, side by side.
#   tests/bench/run_quality.sh [build dir]   (needs python3-torch)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
"$build/bench/bench_quality" 0 1 2 | tee /tmp/ms_quality.txt
/usr/bin/python3 "$root/tests/bench/pytorch_quality.py" 0 1 2 | tee /tmp/pt_quality.txt
/usr/bin/python3 - <<'PY'
import re, statistics as st
def accs(p): return [float(re.search(r'accuracy ([0-9.]+)', l).group(1)) for l in open(p)]
m, t = accs('/tmp/ms_quality.txt'), accs('/tmp/pt_quality.txt')
print(f"modsweep mean {100*st.mean(m):.2f}% (sd {100*st.stdev(m):.2f}), PyTorch mean {100*st.mean(t):.2f}% "
      f"(sd {100*st.stdev(t):.2f}): difference {100*(st.mean(m)-st.mean(t)):+.2f} points")
PY
