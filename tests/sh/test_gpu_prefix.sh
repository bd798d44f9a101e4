# The private prefix that tests/gpu/device_check.sh builds and runs against on a bare GPU machine (no
# Open MPI, PMIx, HDF5, cmocka there) is complete: made from the packages tests/gpu/fetch_deps.sh
# fetches, it needs nothing of this machine but glibc and the compiler runtime.
#   1. ldd of every ELF file in the prefix (Open MPI's MCA components and PMIx's plugins included), with
#      the prefix's library path: every library resolves inside the prefix, or to glibc / libgcc_s /
#      libstdc++ / libcrypt;
#   2. with every library of this machine but a bare image's hidden (tests/gpu/hide_system.sh: unshare -m
#      and a tmpfs over /usr/lib/x86_64-linux-gnu), the build tools kept: cnn_ddp, mnist2h5 and a cmocka
#      test configure and build against the prefix alone (tests/gpu/prefix.sh's CMake options);
#   3. hidden again, build tools too: the prefix's `orterun --mca plm isolated -np 2 true`, the
#      prefix-built mnist2h5 and cmocka test, and 2 ranks of the prefix-built cnn_ddp under the prefix's
#      orterun, which must end with the bits of this build's cnn_ddp on 1 rank.
# The .deps is reused when its stamp names this fetch_deps.sh (the checkout's .deps, else the one this
# test fetched into the build directory before); CD_GPU_DEPS=DIR tests another. Skipped (77) when not
# root, without unshare/dpkg/apt-get, or when apt-get download cannot fetch.
source "$(dirname "$0")/common.sh"
gpu="$CD_SRC/tests/gpu"
source "$gpu/prefix.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (unshare -m)"; exit 77; }
for t in unshare dpkg dpkg-query apt-get; do command -v "$t" > /dev/null || { echo "SKIP: no $t"; exit 77; }; done
unshare -m --propagation private true 2> /dev/null || { echo "SKIP: unshare -m is not permitted"; exit 77; }
ensure_data
cache="$CD_BIN/test-gpu-prefix"
mkdir -p "$cache"

# --- the .deps ------------------------------------------------------------------------------------
sum="script $(sha256sum "$gpu/fetch_deps.sh" | cut -d' ' -f1)"
deps=${CD_GPU_DEPS:-}
if [ -z "$deps" ]; then
  for d in "$CD_SRC/.deps" "$cache/deps"; do
    if [ "$(head -1 "$d/stamp" 2> /dev/null)" = "$sum" ]; then deps=$d; break; fi
  done
fi
if [ -z "$deps" ]; then
  (cd "$WORK" && timeout 60 apt-get download zlib1g > "$WORK/apt.log" 2>&1) \
    || { tail -3 "$WORK/apt.log"; echo "SKIP: apt-get download cannot fetch here"; exit 77; }
  t0=$SECONDS
  DEPS_DIR="$cache/deps" bash "$gpu/fetch_deps.sh" > "$WORK/fetch.log" 2>&1 || { cat "$WORK/fetch.log"; fail "fetch_deps.sh failed"; }
  deps="$cache/deps"
  echo "fetched $deps in $((SECONDS - t0)) s: $(tail -1 "$WORK/fetch.log")"
fi
echo "deps: $deps ($(du -sm "$deps" | cut -f1) MiB; $(ls "$deps"/debs/*.deb | wc -l) packages)"
prefix="$cache/prefix"
cd_prefix_unpack "$deps" "$prefix" || fail "could not unpack $deps into $prefix"
cd_prefix_env "$prefix"

# --- 1. every ELF file's libraries resolve in the prefix (or glibc / compiler runtime) --------------
runtime=$(dpkg -L libc6 libgcc-s1 libstdc++6 libcrypt1 2> /dev/null | sed 's|^/lib/|/usr/lib/|' | grep '\.so' | sort -u)
mapfile -t elves < <(find "$prefix/usr" -type f \( -name '*.so*' -o -path '*/bin/*' \) -exec sh -c \
  'for f; do [ "$(head -c 4 "$f" | od -An -tx1 | tr -d " \n")" = 7f454c46 ] && echo "$f"; done' sh {} +)
[ "${#elves[@]}" -gt 100 ] || fail "only ${#elves[@]} ELF files in $prefix"
outside=$( { env LD_LIBRARY_PATH="$CD_PREFIX_LD_PATH" ldd "${elves[@]}" 2> /dev/null || true; } | awk '
  /^\// {file = $1} /=> not found/ {print file " " $1 " not found"}
  /=> \// {print file " " $3}' | while read -r file lib rest; do
    [ -n "$rest" ] && { echo "$file: $lib not found"; continue; }
    real=$(readlink -f "$lib"); case "$real" in "$prefix"/*) continue ;; esac
    grep -qxF "$real" <<< "$runtime" || grep -qxF "$lib" <<< "$runtime" || echo "$file: $lib ($real) is not in the prefix"
  done | sort -u)
[ -z "$outside" ] || { echo "$outside" | head -20; fail "$(wc -l <<< "$outside") libraries the prefix's files load are not in it (above)"; }
pass "${#elves[@]} ELF files in the prefix load only its libraries, glibc and the compiler runtime"

# --- 2. build against the prefix, this machine's libraries hidden (the build tools kept) ------------
cd_prefix_cmake_args
gen=(); command -v ninja > /dev/null && gen=(-G Ninja)
pbuild="$cache/build"
if [ -f "$pbuild/CMakeCache.txt" ] && ! grep -q "^CMAKE_PREFIX_PATH:.*=$prefix/usr$" "$pbuild/CMakeCache.txt"; then rm -rf "$pbuild"; fi
[ -f "$pbuild/CMakeCache.txt" ] && gen=()
cat > "$WORK/build.sh" <<EOF
set -e
cmake -S "$CD_SRC" -B "$pbuild" ${gen[*]} -DCMAKE_BUILD_TYPE=Release -DCNN_DDP_CUDA=OFF $(printf '%q ' "${CD_PREFIX_CMAKE_ARGS[@]}") > "$WORK/configure.log" 2>&1 \
  || { tail -30 "$WORK/configure.log"; exit 1; }
cmake --build "$pbuild" -j2 --target cnn_ddp mnist2h5 test_spec ckpt_digest > "$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
EOF
t0=$SECONDS
bash "$gpu/hide_system.sh" --keep-build-tools bash "$WORK/build.sh" || fail "the build against the prefix failed (above)"
grep -q "^pkgcfg_lib_CMOCKA_cmocka:FILEPATH=$prefix/" "$pbuild/CMakeCache.txt" || fail "configure did not take cmocka from the prefix"
pass "cnn_ddp, mnist2h5 and test_spec built against the prefix alone ($((SECONDS - t0)) s)"

# --- 3. run from the prefix with the build tools hidden too ----------------------------------------
"$CNN_DDP" --data "$DATA" --max-steps 4 --ckpt-dir "$WORK/ck1" --quiet --timeout 60 > "$WORK/one.log" 2>&1 \
  || { cat "$WORK/one.log"; fail "the reference 1-rank run failed"; }
cat > "$WORK/run.sh" <<EOF
set -u
source "$gpu/prefix.sh"; cd_prefix_env "$prefix"
orterun=(orterun --mca plm isolated --oversubscribe -np 2)
step() { echo "== \$1"; shift; "\$@" || { echo "FAILED (\$?): \$*"; exit 1; }; }
if proj ldd "$pbuild/cnn_ddp" | grep 'not found'; then echo "FAILED: $pbuild/cnn_ddp misses libraries"; exit 1; fi
step "orterun -np 2 true" proj timeout 60 "\${orterun[@]}" true
step "cmocka test from the prefix" proj timeout 60 "$pbuild/tests/test_spec"
step "mnist2h5 from the prefix" proj timeout 120 "$pbuild/mnist2h5" --images "$deps/mnist/train-images-idx3-ubyte.gz" \
  --labels "$deps/mnist/train-labels-idx1-ubyte.gz" --test-images "$deps/mnist/t10k-images-idx3-ubyte.gz" \
  --test-labels "$deps/mnist/t10k-labels-idx1-ubyte.gz" -o "$WORK/prefix-mnist.h5"
step "2 ranks of cnn_ddp from the prefix" proj timeout 120 "\${orterun[@]}" "$pbuild/cnn_ddp" --data "$DATA" --max-steps 4 \
  --ckpt-dir "$WORK/ck2" --quiet --timeout 60
EOF
bash "$gpu/hide_system.sh" bash "$WORK/run.sh" > "$WORK/run.log" 2>&1 || { cat "$WORK/run.log"; fail "a run from the prefix failed (above)"; }
grep -q "^final: step 4" "$WORK/run.log" || { cat "$WORK/run.log"; fail "the 2-rank run printed no final line"; }
[ "$(digest "$WORK/ck1/final.h5")" = "$(digest "$WORK/ck2/final.h5")" ] \
  || fail "2 prefix-built ranks ended with other bits than 1 rank of $CNN_DDP"
"$CNN_DDP" info "$WORK/prefix-mnist.h5" > /dev/null || fail "the prefix's mnist2h5 wrote a file $CNN_DDP does not read"
pass "orterun -np 2, mnist2h5, a cmocka test and 2 ranks of cnn_ddp run from the prefix with this machine's libraries hidden; the bits equal 1 rank of $CNN_DDP"
