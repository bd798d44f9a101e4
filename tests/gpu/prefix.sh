# Sourced by tests/gpu/device_check.sh and tests/sh/test_gpu_prefix.sh: the private prefix made from the
# packages tests/gpu/fetch_deps.sh put into DEPS/debs, and the environment the project's own commands
# (cnn_ddp, mnist2h5, ctest, orterun) run in. Nothing here is exported: the compiler, CMake and Python
# never see the prefix's libraries.
#   cd_prefix_unpack DEPS PREFIX [PYTHON]   unpack (dpkg -x, or PYTHON when dpkg is absent) unless done
#   cd_prefix_env PREFIX                    set CD_PREFIX_LIB, CD_PREFIX_LD_PATH, CD_PREFIX_BIN, CD_PREFIX_PKGCONF
#   proj CMD...                             run CMD with the prefix's LD_LIBRARY_PATH, PATH, OPAL_PREFIX, ...

cd_prefix_unpack() {
  local deps=$1 prefix=$2 py=${3:-python3} deb pc link target stamp f name ver
  stamp="$(cat "$deps/stamp" 2>/dev/null || ls "$deps/debs")"
  if [[ -f "$prefix/.unpacked" && "$(cat "$prefix/.unpacked")" == "$stamp" ]]; then return 0; fi
  rm -rf "$prefix" && mkdir -p "$prefix" || return 1
  for deb in "$deps"/debs/*.deb; do
    if command -v dpkg > /dev/null; then dpkg -x "$deb" "$prefix" || return 1
    else "$py" - "$deb" "$prefix" <<'PYEOF' || return 1
import io, sys, tarfile
deb, dest = sys.argv[1], sys.argv[2]
data = open(deb, "rb").read()
assert data[:8] == b"!<arch>\n", deb
pos = 8
while pos < len(data):
    name = data[pos:pos + 16].decode().strip().rstrip("/")
    size = int(data[pos + 48:pos + 58].decode().strip())
    body = data[pos + 60:pos + 60 + size]
    if name.startswith("data.tar"):
        tarfile.open(fileobj=io.BytesIO(body)).extractall(dest)
    pos += 60 + size + (size & 1)
PYEOF
    fi
  done
  # Debian's packages put some libraries in /lib (not merged with /usr in the package): one directory.
  if [[ -d "$prefix/lib/x86_64-linux-gnu" ]]; then
    cp -a "$prefix"/lib/x86_64-linux-gnu/. "$prefix/usr/lib/x86_64-linux-gnu/" && rm -rf "$prefix/lib/x86_64-linux-gnu"
  fi
  # Libraries outside the library directory that the package's postinst links there (update-alternatives:
  # libpsm_infinipath.so.1 -> /usr/lib/libpsm1/...): the link by the soname their name gives.
  find "$prefix/usr/lib" -mindepth 2 -maxdepth 2 -path "$prefix/usr/lib/x86_64-linux-gnu" -prune -o -type f -name 'lib*.so.*' -print |
    while read -r f; do
      name=${f##*/}
      ver=${name#*.so.}
      link="$prefix/usr/lib/x86_64-linux-gnu/${name%%.so.*}.so.${ver%%.*}"
      [[ -e "$link" ]] || ln -s "$f" "$link"
    done
  # pkg-config files and the MPI/HDF5 symlinks point at /usr: re-root them in the prefix
  for pc in $(grep -rlE '(^prefix=|-[IL])/usr' "$prefix"/usr/lib/x86_64-linux-gnu/pkgconfig "$prefix"/usr/share/pkgconfig 2>/dev/null || true); do
    sed -i "s|^prefix=/usr|prefix=$prefix/usr|; s|=/usr/|=$prefix/usr/|g; s|-I/usr/|-I$prefix/usr/|g; s|-L/usr/|-L$prefix/usr/|g" "$pc"
  done
  find "$prefix" -type l | while read -r link; do
    target="$(readlink "$link")"
    target="${target/#\/lib\//\/usr\/lib\/}"
    if [[ "$target" == /* && -e "$prefix$target" ]]; then ln -sfn "$prefix$target" "$link"; fi
  done
  cd_prefix_env "$prefix"
  # CMake runs pkg-config: the prefix's pkgconf needs its own library and only the prefix's .pc files.
  cat > "$CD_PREFIX_PKGCONF" <<EOF
#!/bin/sh
LD_LIBRARY_PATH="$CD_PREFIX_LIB" PKG_CONFIG_LIBDIR="$CD_PREFIX_LIB/pkgconfig:$prefix/usr/share/pkgconfig" exec "$prefix/usr/bin/pkgconf" "\$@"
EOF
  chmod +x "$CD_PREFIX_PKGCONF"
  printf '%s\n' "$stamp" > "$prefix/.unpacked"
}

cd_prefix_env() {
  local prefix=$1
  CD_PREFIX="$prefix"
  CD_PREFIX_LIB="$prefix/usr/lib/x86_64-linux-gnu"
  CD_PREFIX_LD_PATH="$CD_PREFIX_LIB:$CD_PREFIX_LIB/hdf5/serial:$CD_PREFIX_LIB/openmpi/lib:$CD_PREFIX_LIB/pmix2/lib:$CD_PREFIX_LIB/ucx"
  CD_PREFIX_BIN="$prefix/usr/bin"
  CD_PREFIX_PKGCONF="$prefix/pkg-config"
}

# The project's own commands only. OPAL_PREFIX relocates Open MPI's components and help files from /usr;
# PMIX_MCA_mca_base_component_path and UCX_MODULE_DIR do the same for PMIx's plugins and UCX's modules.
proj() {
  env LD_LIBRARY_PATH="$CD_PREFIX_LD_PATH${CD_EXTRA_LD_PATH:+:$CD_EXTRA_LD_PATH}" PATH="$CD_PREFIX_BIN:$PATH" \
    OPAL_PREFIX="$CD_PREFIX/usr" PMIX_MCA_mca_base_component_path="$CD_PREFIX_LIB/pmix2/lib/pmix" \
    UCX_MODULE_DIR="$CD_PREFIX_LIB/ucx" "$@"
}

# cd_prefix_cmake_args: CD_PREFIX_CMAKE_ARGS, the CMake options that build against the prefix alone
# (no mpicc / h5cc wrappers: the libraries and headers are named). The linker resolves the prefix
# libraries' own dependencies (libpmix, libsz, libcurl, ...) through -rpath-link, not LD_LIBRARY_PATH.
cd_prefix_cmake_args() {
  local lib=$CD_PREFIX_LIB rpl
  rpl="-Wl,-rpath-link,${CD_PREFIX_LD_PATH//:/,-rpath-link,}"
  CD_PREFIX_CMAKE_ARGS=(
    -DPKG_CONFIG_EXECUTABLE="$CD_PREFIX_PKGCONF"
    -DMPI_C_COMPILER="$CD_PREFIX/no-mpicc" -DMPI_C_LIB_NAMES=mpi -DMPI_mpi_LIBRARY="$lib/openmpi/lib/libmpi.so"
    -DMPI_C_HEADER_DIR="$lib/openmpi/include" -DMPI_C_ADDITIONAL_INCLUDE_DIRS="$lib/openmpi/include"
    -DMPIEXEC_EXECUTABLE="$CD_PREFIX_BIN/orterun"
    -DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=ON -DHDF5_C_COMPILER_EXECUTABLE="$CD_PREFIX/no-h5cc"
    -DHDF5_C_INCLUDE_DIR="$CD_PREFIX/usr/include/hdf5/serial" -DHDF5_hdf5_LIBRARY_RELEASE="$lib/hdf5/serial/libhdf5.so"
    -DZLIB_INCLUDE_DIR="$CD_PREFIX/usr/include" -DZLIB_LIBRARY="$lib/libz.so"
    -DPNG_PNG_INCLUDE_DIR="$CD_PREFIX/usr/include" -DPNG_LIBRARY_RELEASE="$lib/libpng.so"
    -DCMAKE_PREFIX_PATH="$CD_PREFIX/usr"
    -DCMAKE_EXE_LINKER_FLAGS="$rpl" -DCMAKE_SHARED_LINKER_FLAGS="$rpl")
}
