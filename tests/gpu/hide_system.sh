#!/usr/bin/env bash
# hide_system.sh [--keep-build-tools] CMD...: runs CMD in a private mount namespace (unshare -m, as
# root) where /usr/lib/x86_64-linux-gnu (also /lib/x86_64-linux-gnu: merged /usr) holds only the files
# of a bare Debian/Ubuntu image's packages: the Essential and Priority "required" ones and everything
# they depend on (glibc, libstdc++, zlib, ...). Every other library of this machine (Open MPI, PMIx,
# HDF5, cmocka, libevent, hwloc, ucx, curl, ...) is gone, as on a bare GPU machine, and Open MPI's
# /etc/openmpi and /usr/share/openmpi are empty. So a program that still runs takes what it needs from
# elsewhere (the private prefix of tests/gpu/prefix.sh).
# --keep-build-tools also keeps the packages behind CMake, ninja, gcc/g++ (with their crt and libc.so
# files), the linker, nvcc's tools and Python (a GPU machine has its own), so a build can run inside
# (not PyTorch: Debian's pulls in HDF5 and hwloc, which the prefix must supply).
# Used by tests/sh/test_gpu_prefix.sh and to dry-run tests/gpu/device_check.sh (README, "GPUs").
# Exit 77 when it cannot hide (not root, or no unshare / dpkg-query).
set -euo pipefail
keep_tools=0
if [[ "${1:-}" == --keep-build-tools ]]; then keep_tools=1; shift; fi
(($#)) || { echo "usage: hide_system.sh [--keep-build-tools] CMD..." >&2; exit 2; }
arch=/usr/lib/x86_64-linux-gnu

if [[ "${CD_HIDE_INSIDE:-}" != 1 ]]; then
  [[ $(id -u) == 0 ]] || { echo "hide_system: needs root (unshare -m)" >&2; exit 77; }
  command -v unshare > /dev/null && command -v dpkg-query > /dev/null || { echo "hide_system: needs unshare and dpkg-query" >&2; exit 77; }
  unshare -m --propagation private true 2> /dev/null || { echo "hide_system: unshare -m is not permitted here" >&2; exit 77; }
  args=(); ((keep_tools)) && args+=(--keep-build-tools)
  CD_HIDE_INSIDE=1 exec unshare -m --propagation private bash "${BASH_SOURCE[0]}" "${args[@]}" "$@"
fi

# The base packages and their dependency closure (alternatives: those installed).
mapfile -t installed < <(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 ~ /^ii/ {print $2}')
declare -A is_installed=() keep=()
for p in "${installed[@]}"; do is_installed[$p]=1; done
mapfile -t todo < <(dpkg-query -W -f='${Package} ${Essential} ${Priority}\n' | awk '$2 == "yes" || $3 == "required" {print $1}')
if ((keep_tools)); then
  tools=()
  for t in cmake ctest ninja gcc g++ cc c++ ld as ar ranlib nvcc python3 /usr/bin/python3 awk gawk timeout sha256sum \
           gzip dpkg dpkg-deb tar xz make pkg-config; do
    t=$(command -v "$t" 2> /dev/null) && tools+=("$(readlink -f "$t")")
  done
  for t in cc1 cc1plus collect2 lto-wrapper; do t=$(gcc -print-prog-name="$t" 2> /dev/null) && [[ -f "$t" ]] && tools+=("$t"); done
  nvcc=$(command -v nvcc || true)
  if [[ -n "$nvcc" ]]; then
    cuda=$(dirname "$(dirname "$(readlink -f "$nvcc")")")
    for t in "$cuda"/bin/* "$cuda"/nvvm/bin/*; do [[ -f "$t" && -x "$t" ]] && tools+=("$t"); done
  fi
  for py in python3 /usr/bin/python3; do
    d=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("DESTSHARED"))' 2> /dev/null) || continue
    for t in "$d"/*.so; do [[ -f "$t" ]] && tools+=("$t"); done
    l=$("$py" -c 'import sysconfig, os; print(os.path.join(sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("LDLIBRARY")))' 2> /dev/null) || true
    [[ -f "$l" ]] && tools+=("$l")
  done
  for f in crt1.o crti.o crtn.o Scrt1.o libc.so libm.so libmvec.so libc_nonshared.a libpthread.a libdl.a librt.a \
           libstdc++.so libgcc_s.so; do
    f=$(gcc -print-file-name="$f") && [[ "$f" == /* ]] && tools+=("$(readlink -f "$f")")
  done
  libs=$( { printf '%s\n' "${tools[@]}"; { ldd "${tools[@]}" 2> /dev/null || true; } | awk '/=>/ && $3 ~ /^\// {print $3}'; } |
          xargs -r readlink -f | sort -u)
  paths=()
  for f in $libs; do paths+=("$f"); [[ "$f" == /usr/lib/* ]] && paths+=("${f#/usr}"); done
  mapfile -t -O "${#todo[@]}" todo < <(dpkg -S "${paths[@]}" 2> /dev/null | sed 's/: .*//' | tr ',' '\n' | sed 's/^ *//; s/:.*//' | sort -u)
fi
while ((${#todo[@]})); do
  next=()
  for p in "${todo[@]}"; do
    p=${p%%:*}
    [[ -n "$p" && -n "${is_installed[$p]:-}" && -z "${keep[$p]:-}" ]] || continue
    keep[$p]=1; next+=("$p")
  done
  ((${#next[@]})) || break
  mapfile -t todo < <(dpkg-query -W -f='${Depends}, ${Pre-Depends}\n' "${next[@]}" 2> /dev/null |
    tr ',|' '\n\n' | sed 's/([^)]*)//g; s/:any//g; s/ //g' | grep -v '^$' | sort -u)
done

# The kept files under the library directory, relative to it.
mapfile -t files < <(dpkg -L "${!keep[@]}" 2> /dev/null | sed -n "s|^\(/usr\)\?/lib/x86_64-linux-gnu/||p" | sort -u)
# Built beside the real directory first (once it is covered, no program can start until the links are
# there: the dynamic loader lives in it too), then bound over it.
tmp=$(mktemp -d /tmp/cnn_ddp-hidden-XXXXXX)
orig="$tmp/orig" stage="$tmp/stage"
mkdir -p "$orig" "$stage"
mount --bind "$arch" "$orig"
mount -t tmpfs -o mode=755 cnn_ddp-hidden "$stage"
dirs=() links=()
for rel in "${files[@]}"; do
  [[ -n "$rel" ]] || continue
  if [[ -d "$orig/$rel" && ! -L "$orig/$rel" ]]; then dirs+=("$stage/$rel")
  elif [[ -e "$orig/$rel" || -L "$orig/$rel" ]]; then
    [[ "$rel" == */* ]] && dirs+=("$stage/${rel%/*}")
    links+=("$rel")
  fi
done
((${#dirs[@]} == 0)) || mkdir -p "${dirs[@]}"
(cd "$stage" && for rel in "${links[@]}"; do printf '%s\0%s\0' "$orig/$rel" "$rel"; done | xargs -0 -n2 ln -s)
mount --bind "$stage" "$arch"
for d in /etc/openmpi /usr/share/openmpi /usr/share/pmix; do
  if [[ -d "$d" ]]; then mount -t tmpfs -o mode=755 cnn_ddp-hidden "$d"; fi
done
# Proof that it hides: the system's orterun no longer starts.
if [[ -x /usr/bin/orterun ]] && /usr/bin/orterun --version > /dev/null 2>&1; then
  echo "hide_system: the system's orterun still runs: hiding failed" >&2; exit 1
fi
[[ -z "${CD_HIDE_LIST:-}" ]] || printf "%s\n" "${!keep[@]}" > "$CD_HIDE_LIST"
echo "hide_system: ${#keep[@]} packages' files left in $arch ($( ((keep_tools)) && echo "base + build tools" || echo base)); the rest hidden" >&2
exec "$@"
