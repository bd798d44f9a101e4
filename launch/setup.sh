#!/usr/bin/env bash
# setup.sh [BUILD_DIR] — installs what cnn_ddp needs (Debian/Ubuntu packages, only those missing) and
# builds it with CMake into BUILD_DIR (default build/). Extra CMake options: $CMAKE_ARGS.
# Safe to run again: it installs nothing that is present and rebuilds only what changed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$repo/build}

packages=(build-essential cmake pkg-config procps zlib1g-dev libpng-dev libopenmpi-dev openmpi-bin libhdf5-dev libcmocka-dev libjansson-dev)
packages+=(${CNN_DDP_EXTRA_PACKAGES:-})
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

jobs=$(nproc 2>/dev/null || echo 2)
# shellcheck disable=SC2086
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$jobs" >/dev/null
echo "setup: built $build/cnn_ddp"
