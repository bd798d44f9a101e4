#!/usr/bin/env bash
# Fetches what tests/gpu/device_check.sh needs but a bare GPU machine lacks, into .deps/ (git-ignored),
# so it can travel with the working tree. Run it HERE, on this Debian machine (network + apt sources):
#     tests/gpu/fetch_deps.sh          # then carry .deps to the GPU machine and run tests/gpu/device_check.sh
# It downloads (apt-get download: no root, installs nothing) the -dev packages for Open MPI, HDF5, cmocka,
# zlib, libpng (find_package(PNG) is REQUIRED: src/data/image.c) and jansson (the --metrics writer), Open MPI's orterun/orted and help files, pkg-config, and every runtime package behind them:
# the owners (dpkg -S) of every shared object that the prefix's programs load, found by ldd over
#   - libmpi, libhdf5 (serial), libcmocka, libz, libpng16, libjansson, pkgconf, and orterun / orted (prted where there is one);
#   - every Open MPI MCA component (.../openmpi/lib/openmpi3/*.so), which Open MPI dlopens at run time;
#   - every plugin (an ELF .so in a subdirectory of the library directory: PMIx's pmix_mca_*, UCX's
#     modules, the ibverbs providers, ...) of every runtime package reached, repeated to a fixed point.
# Only glibc and the compiler runtime are left out (libc6, libgcc-s1, libstdc++6, libcrypt1: every
# machine that runs nvcc has them). Before this, only libmpi's ldd was followed and libpmix2 (needed by
# the mca_pmix_ext3x component) was missing: orterun failed with "opal_pmix_base_select failed".
# It also copies the MNIST IDX files from ../shared/datasets/mnist (or $MNIST_IDX_DIR) to .deps/mnist,
# and writes .deps/stamp (this script's checksum and the package list) so that a test can reuse the
# .deps it made. DEPS_DIR=DIR writes there instead of .deps (tests/sh/test_gpu_prefix.sh does).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${DEPS_DIR:-$root/.deps}"
mnist="${MNIST_IDX_DIR:-$root/../shared/datasets/mnist}"
die() { echo "fetch_deps: $*" >&2; exit 1; }
command -v dpkg > /dev/null && command -v apt-get > /dev/null || die "needs dpkg and apt-get (a Debian or Ubuntu machine)"

arch_lib=/usr/lib/x86_64-linux-gnu
# openmpi-bin/-common: orterun (mpirun), orted and the help files, for the 2-rank GPU check.
dev=(libopenmpi-dev openmpi-bin openmpi-common libhdf5-dev libcmocka-dev zlib1g-dev libpng-dev libjansson-dev pkgconf pkgconf-bin libpkgconf3)
seeds=("$arch_lib/libmpi.so.40" "$arch_lib/hdf5/serial/libhdf5.so" "$arch_lib/libcmocka.so.0" "$arch_lib/libz.so.1"
  "$arch_lib/libpng16.so.16" "$arch_lib/libjansson.so.4"
  "$arch_lib/libpkgconf.so.3" /usr/bin/pkgconf /usr/bin/orterun /usr/bin/orted)
for f in "${seeds[@]}"; do [[ -e "$f" ]] || die "$f missing: install ${dev[*]} here first"; done
[[ -e /usr/bin/prted ]] && seeds+=(/usr/bin/prted)
components=("$arch_lib"/openmpi/lib/openmpi3/*.so)
[[ -e "${components[0]}" ]] || die "no Open MPI components in $arch_lib/openmpi/lib/openmpi3"
skip='^(libc6|libgcc-s1|libstdc\+\+6|libcrypt1)$'

is_elf() { [[ "$(head -c 4 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" == 7f454c46 ]]; }
# owners FILE...: the packages owning the files (the dpkg database may know a file by its /lib path).
owners() {
  local f all=()
  for f in "$@"; do all+=("$f"); [[ "$f" == /usr/lib/* ]] && all+=("${f#/usr}"); done
  dpkg -S "${all[@]}" 2>/dev/null | sed 's/: .*//' | tr ',' '\n' | sed 's/^ *//; s/:.*//' | sort -u || true
}
# The shared objects FILE... load (ldd: the whole closure), resolved through symlinks, and FILE... themselves.
closure() {
  { printf '%s\n' "$@"; { ldd "$@" 2>/dev/null || true; } | awk '/=>/ && $3 ~ /^\// {print $3}'; } | xargs -r readlink -f | sort -u
}
# The plugins of package P: its ELF .so files in a subdirectory of the library directory.
plugins() {
  dpkg -L "$@" 2>/dev/null | grep -E "^(/usr)?/lib/x86_64-linux-gnu/[^/]+/.*\\.so[.0-9]*$" | sed 's|^/lib/|/usr/lib/|' |
    while read -r f; do [[ -f "$f" ]] && is_elf "$f" && readlink -f "$f"; done | sort -u || true
}

declare -A have=()
objects=("${seeds[@]}" "${components[@]}")
for p in "${dev[@]}" zlib1g libcmocka0 libpng16-16; do have[$p]=1; done
while ((${#objects[@]})); do
  mapfile -t found < <(owners $(closure "${objects[@]}"))
  new=()
  for p in "${found[@]}"; do
    [[ -n "$p" && ! "$p" =~ $skip && -z "${have[$p]:-}" ]] || continue
    have[$p]=1; new+=("$p")
  done
  objects=()
  # New runtime packages may bring plugins: follow their dependencies too.
  if ((${#new[@]})); then mapfile -t objects < <(plugins $(printf '%s\n' "${new[@]}" | grep -v -- '-dev$' || true)); fi
done
mapfile -t pkgs < <(printf '%s\n' "${!have[@]}" | sort)
echo "fetch_deps: ${#pkgs[@]} packages: ${pkgs[*]}"

mkdir -p "$out/debs" "$out/mnist"
rm -f "$out/stamp"
(cd "$out/debs" && rm -f ./*.deb && apt-get download "${pkgs[@]}" 2>&1 | grep -vE '^(Get:|W: Download is performed unsandboxed)' || true)
for p in "${pkgs[@]}"; do compgen -G "$out/debs/${p}_*.deb" > /dev/null || die "apt-get download did not fetch $p"; done
# A prefix unpacked by an earlier device check is stale now, and too big to travel (64 MiB in all).
rm -rf "$out/prefix"

for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  if [[ -f "$mnist/$f.gz" ]]; then cp "$mnist/$f.gz" "$out/mnist/"
  elif [[ -f "$mnist/$f" ]]; then gzip -c "$mnist/$f" > "$out/mnist/$f.gz"
  else die "$mnist/$f(.gz) not found (set MNIST_IDX_DIR)"; fi
done
{ echo "script $(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)"; echo "packages ${pkgs[*]}"; } > "$out/stamp"
du -sh "$out/debs" "$out/mnist"
size=$(du -sm "$out" | cut -f1)
((size < 64)) || die "$out is $size MiB: over the 64 MiB carry limit"
echo "fetch_deps: done, $out is $size MiB; carry .deps with the tree (64 MiB limit) and run tests/gpu/device_check.sh there"
