#!/usr/bin/env bash
# Fetches what tests/gpu/device_check.sh needs but a bare GPU machine lacks, into .deps/ (git-ignored),
# so it can travel with the working tree. Run it HERE, on this Debian machine (network + apt sources):
#     tests/gpu/fetch_deps.sh          # then carry .deps to the GPU machine and run tests/gpu/device_check.sh
# It downloads (apt-get download: no root, installs nothing) the -dev packages for Open MPI, HDF5, cmocka
# and zlib, Open MPI's mpirun, pkg-config, and the runtime libraries they pull in, worked out as the minimal closure: the
# packages owning every shared library that ldd finds behind libmpi, libhdf5 and libcmocka here (glibc
# and the compiler runtime excluded: every machine has them). It also copies the MNIST IDX files from
# ../shared/datasets/mnist (or $MNIST_IDX_DIR) to .deps/mnist.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$root/.deps"
mnist="${MNIST_IDX_DIR:-$root/../shared/datasets/mnist}"
die() { echo "fetch_deps: $*" >&2; exit 1; }

mkdir -p "$out/debs" "$out/mnist"
arch_lib=/usr/lib/x86_64-linux-gnu
# openmpi-bin/-common: mpirun (orterun, orted) and its help files, for the 2-rank GPU check.
dev=(libopenmpi-dev openmpi-bin openmpi-common libhdf5-dev libcmocka-dev zlib1g-dev pkgconf pkgconf-bin libpkgconf3)
runtime=(zlib1g libcmocka0)
libs=("$arch_lib/libmpi.so.40" "$arch_lib/hdf5/serial/libhdf5.so" "$arch_lib/libcmocka.so.0")
for lib in "${libs[@]}"; do [[ -e "$lib" ]] || die "$lib missing: install libopenmpi-dev libhdf5-dev libcmocka-dev here first"; done
# The packages owning the libraries themselves and everything they load (resolved through symlinks).
mapfile -t owned < <(
  { printf '%s\n' "${libs[@]}"; ldd "${libs[@]}" | awk '/=>/ && $3 ~ /^\// {print $3}'; } |
  xargs -n1 readlink -f | sort -u | while read -r f; do
    dpkg -S "$f" 2>/dev/null || dpkg -S "${f/#\/usr\/lib/\/lib}" 2>/dev/null || true
  done | cut -d: -f1 | sort -u)
skip='^(libc6|libgcc-s1|libstdc\+\+6|libcrypt1)$'
pkgs=()
for p in "${dev[@]}" "${runtime[@]}" "${owned[@]}"; do [[ "$p" =~ $skip ]] || pkgs+=("$p"); done
mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
echo "fetch_deps: ${#pkgs[@]} packages: ${pkgs[*]}"
(cd "$out/debs" && rm -f ./*.deb && apt-get download "${pkgs[@]}")
# A prefix unpacked by an earlier device check is stale now, and too big to travel (64 MiB in all).
rm -rf "$out/prefix"

for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  if [[ -f "$mnist/$f.gz" ]]; then cp "$mnist/$f.gz" "$out/mnist/"
  elif [[ -f "$mnist/$f" ]]; then gzip -c "$mnist/$f" > "$out/mnist/$f.gz"
  else die "$mnist/$f(.gz) not found (set MNIST_IDX_DIR)"; fi
done
du -sh "$out/debs" "$out/mnist"
echo "fetch_deps: done; carry .deps with the tree (64 MiB limit) and run tests/gpu/device_check.sh there"
