#!/usr/bin/env bash
# The device kit (tests/gpu/pack.sh) on this build, in its light mode
# (--libs-only: the binaries of this build, no CUDA build, no data):
#  - the archive is under the size limit and unpacks;
#  - with LD_LIBRARY_PATH = the kit's lib/ alone, every library of every
#    packed program and Open MPI plugin resolves to the kit, CUDA or glibc,
#    and the libraries a sweep needs are there (MPI, parallel HDF5, OpenBLAS,
#    LAPACKE, inih, zlib, gfortran, gomp), glibc and CUDA are not;
#  - the check can fail: with libinih taken out of the kit, the library
#    comes from the system (or is missing), and the check says so;
#  - Open MPI runs from the kit: a 2-rank sweep with the system's Open MPI
#    plugins, help files and configuration hidden (a private mount
#    namespace; root only, else that part is skipped with a note).
# Skipped (77) where there is no nvcc: the kit is for the CUDA build.
set -uo pipefail
src=${MS_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${MS_BUILD_DIR:-$src/build}
if [ ! -x /usr/local/cuda/bin/nvcc ] && ! command -v nvcc >/dev/null; then
  echo "SKIPPED: no nvcc (the device kit packs the CUDA build)"; exit 77
fi
[ -x "$build/modsweep" ] || { echo "FAIL: no modsweep in $build"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

MS_KIT_MAX_MB=40 bash "$src/tests/gpu/pack.sh" --libs-only "$build" "$dir/out" || bad "pack.sh failed"
archive=$dir/out/modsweep-gpu-kit.tar.xz
[ -f "$archive" ] || { bad "no archive"; exit 1; }
mb=$(( $(stat -c %s "$archive") / 1048576 ))
[ "$mb" -lt 40 ] || bad "the kit is $mb MiB"
tar -C "$dir" -xJf "$archive" || { bad "the kit does not unpack"; exit 1; }
K=$dir/kit

# What must and must not be in it.
for lib in libmpi.so.40 libopen-pal.so.40 libhdf5_openmpi.so.103 libopenblas.so.0 liblapacke.so.3 \
  libinih.so.1 libz.so.1 libgfortran.so.5 libgomp.so.1 libpmix.so.2; do
  [ -f "$K/lib/$lib" ] || bad "$lib is not in the kit"
done
for lib in libc.so.6 libm.so.6 libcudart.so.13 libcublas.so.13 libnccl.so.2; do
  [ ! -e "$K/lib/$lib" ] || bad "$lib (glibc or CUDA) was packed"
done
for f in bin/mpirun bin/orted ompi/components/mca_btl_vader.so ompi/components/mca_pml_ob1.so \
  ompi/components/mca_io_ompio.so ompi/share/openmpi/help-mpi-runtime.txt \
  ompi/etc/openmpi-mca-params.conf env.sh; do
  [ -e "$K/$f" ] || bad "$f is not in the kit"
done

# resolve FILE: the libraries of FILE from outside the kit that are neither
# CUDA's nor glibc's, or missing (one per line).
resolve() {
  env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH="$K/lib" ldd "$1" 2>&1 | awk -v k="$K/lib/" '
    $2 != "=>" { next }
    $3 == "not" { print $1 " not found"; next }
    index($3, k) == 1 { next }
    $1 ~ /^(libc|libm|libmvec|libpthread|libdl|librt|libresolv|libutil)\.so/ { next }
    $1 ~ /^(libcuda|libcudart|libcublas|libcublasLt|libnccl)\.so/ { next }
    { print $1 " from " $3 }'
}
n=0
for f in "$K"/bin/* "$K"/ompi/components/mca_btl_vader.so "$K"/ompi/components/mca_io_ompio.so \
  "$K"/ompi/components/mca_pml_ob1.so; do
  out=$(resolve "$f")
  [ -z "$out" ] || bad "${f#$K/}: $out"
  n=$((n + 1))
done
echo "resolution: $n programs and plugins, every library from the kit, CUDA or glibc"
# The check must be able to fail.
mv "$K/lib/libinih.so.1" "$dir/"
resolve "$K/bin/modsweep" | grep -Eq '^libinih.so.1 (not found|from /)' ||
  bad "with libinih.so.1 removed, the resolution check did not notice"
mv "$dir/libinih.so.1" "$K/lib/"

# Open MPI from the kit, the system's plugins, help and configuration hidden.
if [ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null && [ -x "${MS_SYNTH_DATA:-}" ]; then
  "$MS_SYNTH_DATA" "$dir/data" 200 100 >/dev/null || bad "synth_data failed"
  cat >"$dir/g.ini" <<INI
[sweep]
name = kit
output = $dir/kit.h5
[data]
dataset = mnist
dir = $dir/data
[model]
arch = mlp
hidden = 16, 16
[train]
epochs = 1
batch = 50
[cluster]
curve_k = 2
bsgc_layers = fc2
[prune]
labels = 1
layers = fc3
INI
  cat >"$dir/run.sh" <<EOF
set -e
for d in /usr/lib/x86_64-linux-gnu/openmpi/lib/openmpi3 /usr/share/openmpi /etc/openmpi \
  /usr/lib/x86_64-linux-gnu/pmix2/lib/pmix /usr/lib/x86_64-linux-gnu/pmix2/share; do
  [ -d "\$d" ] && mount -t tmpfs none "\$d"
done
K=$K
. "$K/env.sh"
mpirun -n 2 "$K/bin/modsweep" -q "$dir/g.ini"
EOF
  # In a sanitizer build the sanitizers' options go along, without leak
  # checking: the relocated Open MPI plugins' allocations cannot be named for
  # tests/lsan.supp (every other test of that build checks modsweep's leaks).
  if unshare -m env -i PATH=/usr/bin:/bin HOME="$dir" \
       ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
       bash "$dir/run.sh" >"$dir/mpi.log" 2>&1; then
    echo "Open MPI from the kit: a 2-rank sweep ran with the system's plugins hidden"
  else
    cat "$dir/mpi.log"
    bad "a 2-rank sweep from the kit failed with the system's Open MPI plugins hidden"
  fi
  [ -s "$dir/kit.h5" ] || bad "the 2-rank sweep from the kit made no results"
else
  echo "note: the Open MPI relocation run needs root, unshare and MS_SYNTH_DATA; not run"
fi
[ $fail -eq 0 ] && echo "all checks passed"
exit $fail
