#!/usr/bin/env bash
# Writes tests/fuzz/grid.dict, the libFuzzer dictionary of the grid target:
# every section header and key (from `modsweep --keys`), and the tokens of
# values. Run after adding keys:  bash tests/fuzz/make_grid_dict.sh build/modsweep
set -euo pipefail
bin=${1:?usage: make_grid_dict.sh MODSWEEP_BINARY}
out=$(cd "$(dirname "$0")" && pwd)/grid.dict
{
  echo "# libFuzzer dictionary of fuzz_grid (made by make_grid_dict.sh from modsweep --keys)"
  "$bin" --keys | sed -n 's/^\(\[[a-z]*\]\)$/"\1\\x0A"/p'
  "$bin" --keys | sed -n 's/^  \([a-z_0-9][a-z_0-9]*\)  .*/"\1 = "/p'
  for t in '\x0A' ' = ' ', ' '..' ':' 'none' 'all' 'true' 'false' 'mlp' 'cnn' 'sgd' 'adam' \
           'mnist' 'fashion' 'cifar10' 'blocks' 'spectral' 'cpu' 'cuda' 'auto' 'native' \
           '3x32x32' 'unit' 'meanstd' 'fc1' 'fc2' 'fc3' 'fc4' '1e-3' '1e38' '0.5' ';' '#' \
           '\x0D\x0A' '\x09' '-0' 'nan' 'inf' '1e400' '9007199254740993' '4294967296' '2147483648'; do
    printf '"%s"\n' "$t"
  done
} > "$out"
echo "wrote $out ($(grep -c . "$out") lines)"
