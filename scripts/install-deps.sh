#!/usr/bin/env bash
# Installs the Debian 12 packages modsweep needs. Idempotent; run as root
# (or with sudo). Groups:
#   (default)  build + run + analysis + the embedded Fashion-MNIST data
#   --tests    also what the test suite needs
#   --fixtures also PyTorch, SciPy and scikit-learn, to regenerate test fixtures
#              and run the PyTorch side of the benchmarks
#   --slurm    also a single-node Slurm (slurm-wlm, munge) for tests/slurm_cluster.sh
set -euo pipefail

pkgs=(gcc g++ make cmake pkg-config git
      libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
      libopenblas-dev liblapacke-dev zlib1g-dev libinih-dev
      python3 python3-h5py python3-numpy python3-pandas python3-matplotlib
      dataset-fashion-mnist)
for arg in "$@"; do
  case "$arg" in
    --tests)    pkgs+=(clang libclang-rt-14-dev) ;;
    --fixtures) pkgs+=(python3-torch python3-scipy python3-sklearn) ;;
    --slurm)    pkgs+=(slurm-wlm munge libpmix-dev) ;;
    *) echo "install-deps.sh: unknown option '$arg' (use --tests, --fixtures, --slurm)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps.sh: all ${#pkgs[@]} packages already installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps.sh: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
