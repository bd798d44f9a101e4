#!/usr/bin/env bash
# Produces datasets/mnist.h5 (or the path given as $1) from MNIST IDX files, taken from the first of:
#   1. $MNIST_IDX_DIR
#   2. ../shared/datasets/mnist (relative to the repository root)
#   3. a download of the official files, checked against their published MD5 sums.
# The converter is $MNIST2H5 or build/mnist2h5. Nothing is done when the output is newer than its
# inputs. The output appears whole or not at all (mnist2h5 writes a temporary file and renames it).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/datasets/mnist.h5}"
converter="${MNIST2H5:-$root/build/mnist2h5}"
mirror="${MNIST_MIRROR:-https://ossci-datasets.s3.amazonaws.com/mnist}"

names=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
declare -A md5=(
  [train-images-idx3-ubyte]=f68b3c2dcbeaaa9fbdd348bbdeb94873
  [train-labels-idx1-ubyte]=d53e105ee54ea40749a09fcbcd1e9432
  [t10k-images-idx3-ubyte]=9fb629c4189551a2d022fa330f9573f3
  [t10k-labels-idx1-ubyte]=ec29112dd5afa0611ce80d1b7f02629c
)

die() { echo "prepare_mnist: $*" >&2; exit 1; }

# Prints the path of NAME.gz or NAME in DIR; fails when neither is there.
find_idx() {
  local dir="$1" name="$2"
  if [[ -f "$dir/$name.gz" ]]; then echo "$dir/$name.gz"
  elif [[ -f "$dir/$name" ]]; then echo "$dir/$name"
  else return 1
  fi
}

# Sets inputs[] to the four files in DIR, or fails.
inputs=()
collect() {
  local dir="$1" name f
  inputs=()
  for name in "${names[@]}"; do
    f="$(find_idx "$dir" "$name")" || return 1
    inputs+=("$f")
  done
}

up_to_date() {
  [[ -f "$out" ]] || return 1
  local f
  for f in "$@"; do [[ "$out" -nt "$f" ]] || return 1; done
}

need_converter() {
  [[ -x "$converter" ]] || die "$converter: converter not found; build it first (cmake -S . -B build && cmake --build build) or set MNIST2H5"
}

convert() {
  need_converter
  mkdir -p "$(dirname "$out")"
  "$converter" --images "$1" --labels "$2" --test-images "$3" --test-labels "$4" -o "$out"
  echo "prepare_mnist: wrote $out from $source_desc"
}

tmpdir=""
cleanup() { if [[ -n "$tmpdir" ]]; then rm -rf "$tmpdir"; fi; }
trap cleanup EXIT

fetch() { # URL DEST
  if command -v curl >/dev/null 2>&1; then
    curl -fsL --connect-timeout 15 --max-time 300 -o "$2" "$1" 2>/dev/null
  elif command -v wget >/dev/null 2>&1; then
    wget -q --timeout=15 -O "$2" "$1" 2>/dev/null
  else
    return 1
  fi
}

if [[ -n "${MNIST_IDX_DIR:-}" ]]; then
  collect "$MNIST_IDX_DIR" ||
    die "MNIST_IDX_DIR=$MNIST_IDX_DIR: needs ${names[*]} (each as .gz or raw IDX)"
  source_dir="$MNIST_IDX_DIR"
elif [[ -d "$root/../shared/datasets/mnist" ]] && collect "$root/../shared/datasets/mnist"; then
  source_dir="$root/../shared/datasets/mnist"
else
  source_dir=""
fi

if [[ -n "$source_dir" ]]; then
  source_desc="$source_dir"
  if up_to_date "${inputs[@]}"; then
    echo "prepare_mnist: $out is up to date"
    exit 0
  fi
  convert "${inputs[@]}"
  exit 0
fi

# Nothing local: the official files never change, so an existing output is current.
if [[ -f "$out" ]]; then
  echo "prepare_mnist: $out exists (no local IDX files to compare against)"
  exit 0
fi
need_converter # before spending time on a download
source_desc="$mirror (MD5-verified)"
tmpdir="$(mktemp -d "${TMPDIR:-/tmp}/mnist-idx.XXXXXX")"
inputs=()
for name in "${names[@]}"; do
  dest="$tmpdir/$name.gz"
  if ! fetch "$mirror/$name.gz" "$dest"; then
    die "could not download $mirror/$name.gz (offline?). Provide the MNIST IDX files instead:" \
        "set MNIST_IDX_DIR to a directory holding ${names[*]} (.gz or raw) and rerun."
  fi
  sum="$(md5sum "$dest" | cut -d' ' -f1)"
  [[ "$sum" == "${md5[$name]}" ]] ||
    die "$mirror/$name.gz: MD5 $sum does not match the official ${md5[$name]}; refusing it"
  inputs+=("$dest")
done
convert "${inputs[@]}"
