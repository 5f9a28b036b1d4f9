#!/usr/bin/env bash
# The device kit: everything the GPU machine needs to run modsweep's GPU
# checks (tests/gpu/check.sh) without Debian packages or a network.
#
#   bash tests/gpu/pack.sh                 build the CUDA configuration (sm_90, host
#                                          CPU x86-64-v3) in build-kit/ and pack it
#   bash tests/gpu/pack.sh --libs-only BUILD OUT
#                                          pack the binaries already built in BUILD
#                                          (any configuration) into OUT, without
#                                          building or data (tests/test_gpu_kit.sh)
#
# The kit (gpu-kit/ at the repository root, ignored by git) holds one
# compressed archive, modsweep-gpu-kit.tar.xz, with:
#   bin/     modsweep, test_cuda_kernels, test_cuda_e2e, bench_gpu, ms_h5tool,
#            synth_data, and Open MPI's mpirun/orterun/orted;
#   lib/     every shared library those need (ldd) that is neither CUDA's
#            (libcudart, libcublas, libcublasLt, libnccl, the driver: the GPU
#            machine has CUDA 13) nor the base glibc (libc, libm, libpthread,
#            libdl, librt, libresolv, libutil, the loader): Open MPI, parallel
#            HDF5, OpenBLAS, LAPACK(E), inih, zlib, libgfortran, libgomp, ...,
#            and the libraries of the Open MPI and PMIx plugins;
#   ompi/    Open MPI's plugins (components), help files and mca parameters,
#            found through OPAL_PREFIX and friends (env.sh);
#   pmix2/   PMIx's plugins and help files (PMIX_INSTALL_PREFIX);
#   data/    a Fashion-MNIST subset in its own format (the full test split,
#            the first MS_KIT_TRAIN training images, default 12000);
#   env.sh   sets PATH, LD_LIBRARY_PATH, OPAL_*, PMIX_* for an unpacked kit.
# Then every packed binary and plugin is checked with ldd under the kit's
# LD_LIBRARY_PATH alone: each library must come from the kit, from CUDA or
# from glibc; and the archive must stay under MS_KIT_MAX_MB (default 40).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
mode=full
if [ "${1:-}" = "--libs-only" ]; then
  [ $# -eq 3 ] || { echo "usage: pack.sh --libs-only BUILD OUT" >&2; exit 2; }
  mode=libs
  build=$(cd "$2" && pwd)
  out=$3
else
  build=${MS_KIT_BUILD:-$root/build-kit}
  out=${MS_KIT_OUT:-$root/gpu-kit}
fi
max_mb=${MS_KIT_MAX_MB:-40}
n_train=${MS_KIT_TRAIN:-12000}
fashion=${MS_KIT_FASHION:-/usr/share/datasets/fashion-mnist}
ompi_pkglib=/usr/lib/x86_64-linux-gnu/openmpi/lib/openmpi3
pmix_prefix=/usr/lib/x86_64-linux-gnu/pmix2

say() { echo "pack: $*"; }
die() { echo "pack: FAILED: $*" >&2; exit 1; }

if [ $mode = full ]; then
  [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null ||
    die "no nvcc (the kit is the CUDA build)"
  # Not -march=native (this machine's CPU) but x86-64-v3 (AVX2, FMA; what
  # every H100 host has): the CPU kernels keep their vector paths, and
  # -ffp-contract=off keeps FMA units from changing results.
  mkdir -p "$build"
  say "building the CUDA configuration in $build (sm_90, host CPU x86-64-v3)"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMODSWEEP_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DMODSWEEP_NATIVE=OFF -DCMAKE_C_FLAGS="-march=x86-64-v3" \
    >"$build/pack-configure.log" 2>&1 ||
    die "cmake configure failed: see $build/pack-configure.log"
  grep -q 'CUDA backend 1' "$build/pack-configure.log" || die "the configuration has no CUDA backend"
  nice -n 5 cmake --build "$build" -j"${MS_KIT_JOBS:-2}" --target modsweep test_cuda_kernels \
    test_cuda_e2e bench_gpu ms_h5tool synth_data >"$build/pack-build.log" 2>&1 ||
    { tail -20 "$build/pack-build.log"; die "build failed: see $build/pack-build.log"; }
fi

# The binaries (the CUDA tests and bench_gpu only where they were built).
bins=()
for b in modsweep tests/test_cuda_kernels tests/test_cuda_e2e bench/bench_gpu tests/ms_h5tool \
         tests/synth_data; do
  if [ -x "$build/$b" ]; then bins+=("$build/$b")
  elif [ $mode = full ]; then die "$build/$b was not built"; fi
done
[ ${#bins[@]} -gt 0 ] || die "no binaries in $build"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
K=$stage/kit
mkdir -p "$K/bin" "$K/lib" "$K/ompi/components" "$K/ompi/share/openmpi" "$K/ompi/etc" \
  "$K/pmix2/lib/pmix" "$K/pmix2/share/pmix" "$K/data"

# CUDA's libraries and the driver stay on the GPU machine; so does glibc.
# (Pure pattern matches: these run once per library line.)
is_cuda() {
  case "$1" in /usr/local/cuda*) return 0 ;; esac
  case "${1##*/}" in
    libcuda.so* | libcudart.so* | libcublas.so* | libcublasLt.so* | libnccl.so* | libnvidia* | \
      libnvrtc* | libnvJitLink* | libcufft* | libcurand* | libcusolver* | libcusparse*) return 0 ;;
  esac
  return 1
}
is_glibc() {
  case "${1##*/}" in
    ld-linux*.so* | libc.so.* | libm.so.* | libmvec.so.* | libpthread.so.* | libdl.so.* | \
      librt.so.* | libresolv.so.* | libutil.so.* | libanl.so.* | libnss_*.so.* | linux-vdso.so.*)
      return 0 ;;
  esac
  return 1
}

# collect FILE...: copies every library ldd resolves for the files into lib/
# (one ldd run for all of them; each distinct library once).
collect() {
  local lib
  ldd "$@" >"$stage/ldd.txt" 2>&1 || die "ldd failed on one of: $*"
  while read -r lib; do
    is_cuda "$lib" || { grep -B30 "$lib" "$stage/ldd.txt" | tail -31; die "$lib is not found here"; }
  done < <(awk '/not found/{print $1}' "$stage/ldd.txt" | sort -u)
  while read -r lib; do
    is_cuda "$lib" && continue
    is_glibc "$lib" && continue
    [ -e "$K/lib/${lib##*/}" ] || cp -L "$lib" "$K/lib/${lib##*/}"
  done < <(awk '$2 == "=>" && $3 ~ /^\// {print $3}' "$stage/ldd.txt" | sort -u)
}

say "binaries: ${bins[*]##*/}"
cp "${bins[@]}" "$K/bin/"
collect "${bins[@]}"

# Open MPI: the launcher, its plugins (whatever they link: UCX, libfabric,
# verbs, PMIx, hwloc, libevent, ...), help files and mca parameters.
if [ -d "$ompi_pkglib" ]; then
  cp -L /usr/bin/orterun "$K/bin/orterun"
  cp -L /usr/bin/orterun "$K/bin/mpirun"
  cp -L /usr/bin/orted "$K/bin/orted"
  collect "$K/bin/orterun" "$K/bin/orted"
  cp -L "$ompi_pkglib"/*.so "$K/ompi/components/"
  collect "$K"/ompi/components/*.so
  cp -rL /usr/share/openmpi/. "$K/ompi/share/openmpi/"
  cp -L /etc/openmpi/openmpi-mca-params.conf "$K/ompi/etc/"
  : >"$K/ompi/etc/openmpi-default-hostfile"
else
  die "no Open MPI plugins at $ompi_pkglib"
fi
if [ -d "$pmix_prefix/lib/pmix" ]; then
  cp -L "$pmix_prefix"/lib/pmix/*.so "$K/pmix2/lib/pmix/"
  collect "$K"/pmix2/lib/pmix/*.so
  cp -rL "$pmix_prefix"/share/pmix/. "$K/pmix2/share/pmix/"
fi

cat >"$K/env.sh" <<'EOF'
# Sourced by tests/gpu/check.sh: the environment of an unpacked kit. K must
# be set to the kit's folder first. CUDA's libraries are added by check.sh.
export PATH="$K/bin:$PATH"
export LD_LIBRARY_PATH="$K/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Open MPI relocated (opal installdirs "env" component): every directory it
# would take from its configure-time prefix.
export OPAL_PREFIX="$K/ompi" OPAL_EXEC_PREFIX="$K/ompi" OPAL_BINDIR="$K/bin"
export OPAL_LIBDIR="$K/lib" OPAL_PKGLIBDIR="$K/ompi/components"
export OPAL_DATAROOTDIR="$K/ompi/share" OPAL_DATADIR="$K/ompi/share"
export OPAL_PKGDATADIR="$K/ompi/share/openmpi" OPAL_SYSCONFDIR="$K/ompi/etc"
export OMPI_MCA_mca_base_component_path="$K/ompi/components"
export PMIX_INSTALL_PREFIX="$K/pmix2" PMIX_MCA_mca_base_component_path="$K/pmix2/lib/pmix"
# One node, shared memory: no network transports, no UCX.
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader OMPI_MCA_osc=^ucx
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_plm_rsh_agent=false
EOF

# The data: a Fashion-MNIST subset in its own format.
if [ $mode = full ]; then
  [ -f "$fashion/t10k-images-idx3-ubyte.gz" ] || die "no Fashion-MNIST at $fashion"
  python3 - "$fashion" "$K/data" "$n_train" <<'EOF'
# Writes the first n images and labels of the training split, and the whole
# test split, as idx files (gzip): the header's count is rewritten.
import gzip, shutil, struct, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for kind, hdr, size in (("images-idx3", 16, 784), ("labels-idx1", 8, 1)):
    with gzip.open(f"{src}/train-{kind}-ubyte.gz") as f:
        data = f.read()
    total = struct.unpack(">I", data[4:8])[0]
    n = min(n, total)
    out = data[:4] + struct.pack(">I", n) + data[8:hdr] + data[hdr:hdr + n * size]
    with gzip.open(f"{dst}/train-{kind}-ubyte.gz", "wb", compresslevel=9) as f:
        f.write(out)
    shutil.copy(f"{src}/t10k-{kind}-ubyte.gz", f"{dst}/t10k-{kind}-ubyte.gz")
EOF
fi

# Every packed binary and plugin, with the kit's libraries alone: nothing
# but CUDA and glibc may come from outside the kit.
say "checking the resolution of every packed file with LD_LIBRARY_PATH=kit/lib"
bad=0
# (ldd lists a file's whole closure, so the libraries need no run of their
# own; one ldd run for every file, "FILE:" heading each one's list.)
env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH="$K/lib" ldd "$K"/bin/* "$K"/ompi/components/*.so \
  "$K"/pmix2/lib/pmix/*.so >"$stage/check.txt" 2>&1
f=""
while read -r name arrow path _; do
  case "$name" in "$K"/*:) f=${name%:}; continue ;; esac
  [ "$arrow" = "=>" ] || continue
  if [ "$path" = "not" ]; then
    is_cuda "$name" || { echo "  ${f#$K/}: $name not found"; bad=1; }
  elif [ "${path#$K/lib/}" = "$path" ] && ! is_cuda "$path" && ! is_glibc "$path"; then
    echo "  ${f#$K/}: $name from $path, outside the kit"
    bad=1
  fi
done <"$stage/check.txt"
grep -q "not a dynamic executable" "$stage/check.txt" && grep -B1 "not a dynamic" "$stage/check.txt"
[ $bad -eq 0 ] || die "libraries resolved outside the kit (above)"

mkdir -p "$out"
archive=$out/modsweep-gpu-kit.tar.xz
say "compressing $(du -sh "$K" | cut -f1) into $archive"
# --libs-only compresses faster (xz -1): a larger archive, so its size check
# bounds the real kit's.
level=6
[ $mode = libs ] && level=1
tar -C "$stage" -cf - kit | xz -T2 -$level >"$archive.tmp"
mv "$archive.tmp" "$archive"
bytes=$(stat -c %s "$archive")
mb=$(( (bytes + 1048575) / 1048576 ))
[ "$mb" -le "$max_mb" ] || die "the kit is $mb MiB, over the limit of $max_mb MiB"
( cd "$out" && sha256sum "$(basename "$archive")" >"$(basename "$archive").sha256" )
say "kit: $archive, $mb MiB (limit $max_mb MiB), $(ls "$K/lib" | wc -l) libraries, $(ls "$K/ompi/components" | wc -l) Open MPI plugins"
[ $mode = full ] && say "next, on the GPU machine: bash tests/gpu/check.sh"
exit 0
