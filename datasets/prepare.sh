#!/usr/bin/env bash
# datasets/prepare.sh NAME [OUT.h5] [--from DIR]: makes the HDF5 file cnn_ddp trains on from a data set's
# IDX files, with its normalisation (mean/std), classes and class names. --help says more.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prog="prepare"

usage() {
  cat <<EOF
usage: datasets/prepare.sh NAME [OUT.h5] [--from DIR]

Writes OUT.h5 (default datasets/NAME.h5; datasets/mnist.h5 for mnist) from the IDX files of data set
NAME, with the training pixels' mean/std, num_classes and class_names (see README, "Data files").

  mnist          the IDX files from --from DIR, else \$MNIST_IDX_DIR, else ../shared/datasets/mnist,
                 else a download of the official files, checked against their published MD5 sums
  fashion-mnist  Zalando's Fashion-MNIST (10 classes of clothing, 60,000 + 10,000 images of 28x28):
                 from --from DIR, else \$FASHION_MNIST_IDX_DIR, else the Debian package
                 dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), installed with apt-get
                 when missing

Each source is train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
t10k-labels-idx1-ubyte, raw or .gz. Nothing is done when OUT.h5 records the same SHA-256 sums of its
sources (root attribute "sources") as the files found now; file times are not looked at. The converter
is \$MNIST2H5, else build/mnist2h5. OUT.h5 appears whole or not at all. --help writes nothing.
EOF
}

die() { echo "$prog: $1" >&2; exit "${2:-1}"; }
[[ -n ${BASH_VERSION:-} ]] || die "run it with bash"

name="" out="" from=""
while (($#)); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --from) (($# >= 2)) && [[ -n $2 ]] || die "--from: needs a directory" 2; from=$2; shift 2 ;;
    --from=*) from=${1#--from=}; [[ -n $from ]] || die "--from: needs a directory" 2; shift ;;
    -*) die "$1: unknown option (see --help)" 2 ;;
    *) if [[ -z $name ]]; then name=$1
       elif [[ -z $out ]]; then out=$1
       else die "$1: one data set name and one output file at most (see --help)" 2
       fi
       shift ;;
  esac
done
[[ -n $name ]] || { usage >&2; exit 2; }

names=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
case $name in
  mnist)
    out=${out:-$root/datasets/mnist.h5}
    class_names="0,1,2,3,4,5,6,7,8,9"
    env_dir=${MNIST_IDX_DIR:-}; env_var=MNIST_IDX_DIR
    default_dirs=("$root/../shared/datasets/mnist")
    ;;
  fashion-mnist)
    out=${out:-$root/datasets/fashion-mnist.h5}
    # The official names, in label order (github.com/zalandoresearch/fashion-mnist, "Labels").
    class_names="T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot"
    env_dir=${FASHION_MNIST_IDX_DIR:-}; env_var=FASHION_MNIST_IDX_DIR
    default_dirs=(/usr/share/datasets/fashion-mnist)
    ;;
  *) die "$name: unknown data set (known: mnist, fashion-mnist; see --help)" 2 ;;
esac
converter="${MNIST2H5:-$root/build/mnist2h5}"
# Recorded with the checksums: bump "format" when the converter writes something new, so that files made
# before are converted again (format 2: chunks stored plain, not deflated).
stamp="cnn_ddp datasets/prepare.sh $name, format 2"

# Prints the path of NAME.gz or NAME in DIR; fails when neither is there.
find_idx() {
  local dir="$1" n="$2"
  if [[ -f "$dir/$n.gz" ]]; then echo "$dir/$n.gz"
  elif [[ -f "$dir/$n" ]]; then echo "$dir/$n"
  else return 1
  fi
}

# Sets inputs[] to the four files in DIR, or fails.
inputs=()
collect() {
  local dir="$1" n f
  inputs=()
  for n in "${names[@]}"; do
    f="$(find_idx "$dir" "$n")" || return 1
    inputs+=("$f")
  done
}

# What the output records of its sources: the stamp, then one sha256sum line per file (base names).
sources_text() {
  local f
  printf '%s\n' "$stamp"
  for f in "$@"; do printf '%s  %s\n' "$(sha256sum < "$f" | cut -d' ' -f1)" "$(basename "$f")"; done
}

need_converter() {
  [[ -x "$converter" ]] || die "$converter: converter not found; build it first (cmake -S . -B build && cmake --build build) or set MNIST2H5"
}

recorded_sources() { # the output's sources attribute, empty when there is none
  [[ -f "$out" ]] || return 0
  "$converter" --print-sources "$out" 2>/dev/null || true
}

# Converts the four inputs unless the output already records exactly their checksums.
convert() {
  need_converter
  local want have
  want="$(sources_text "$@")"
  have="$(recorded_sources)"
  if [[ "$have" == "$want" ]]; then
    echo "$prog: $out is up to date (same SHA-256 sums of the sources as recorded)"
    return 0
  fi
  mkdir -p "$(dirname "$out")"
  "$converter" --images "$1" --labels "$2" --test-images "$3" --test-labels "$4" \
    --class-names "$class_names" --sources "$want" -o "$out"
  echo "$prog: wrote $out ($name) from $source_desc"
}

tmpdir=""
cleanup() { if [[ -n "$tmpdir" ]]; then rm -rf "$tmpdir"; fi; }
trap cleanup EXIT

# ---- local sources: --from, the environment, the default directories ----
source_dir=""
if [[ -n $from ]]; then
  collect "$from" || die "--from $from: needs ${names[*]} (each as .gz or raw IDX)" 2
  source_dir=$from
elif [[ -n $env_dir ]]; then
  collect "$env_dir" || die "$env_var=$env_dir: needs ${names[*]} (each as .gz or raw IDX)" 2
  source_dir=$env_dir
else
  for d in "${default_dirs[@]}"; do
    if [[ -d $d ]] && collect "$d"; then source_dir=$d; break; fi
  done
fi

if [[ -z $source_dir && $name == fashion-mnist ]]; then
  # The Debian package: installed when missing, then found where dpkg says it put the files.
  pkg=dataset-fashion-mnist
  if ! dpkg -s "$pkg" >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 ||
      die "no Fashion-MNIST IDX files found and no apt-get to install $pkg: give --from DIR"
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
      command -v sudo >/dev/null 2>&1 || die "$pkg is not installed: run 'apt-get install $pkg' as root, or give --from DIR"
      sudo=(sudo)
    fi
    echo "$prog: installing $pkg with apt-get"
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >/dev/null; then
      "${sudo[@]}" apt-get update -q >/dev/null || true
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >/dev/null ||
        die "apt-get install $pkg failed: install it by hand, or give --from DIR"
    fi
  fi
  f="$(dpkg -L "$pkg" 2>/dev/null | grep '/train-images-idx3-ubyte' | head -n1 || true)"
  d="$(dirname "${f:-/usr/share/datasets/fashion-mnist/x}")"
  collect "$d" || die "$pkg is installed but $d does not hold ${names[*]}: give --from DIR"
  source_dir=$d
fi

if [[ -n "$source_dir" ]]; then
  source_desc="$source_dir"
  convert "${inputs[@]}"
  exit 0
fi

# ---- mnist without local files: the official files, MD5-verified ----
mirror="${MNIST_MIRROR:-https://ossci-datasets.s3.amazonaws.com/mnist}"
declare -A md5=(
  [train-images-idx3-ubyte]=f68b3c2dcbeaaa9fbdd348bbdeb94873
  [train-labels-idx1-ubyte]=d53e105ee54ea40749a09fcbcd1e9432
  [t10k-images-idx3-ubyte]=9fb629c4189551a2d022fa330f9573f3
  [t10k-labels-idx1-ubyte]=ec29112dd5afa0611ce80d1b7f02629c
)
need_converter # before spending time on a download
# The official files never change: an output that records this data set's download is current.
if [[ "$(recorded_sources | head -n1)" == "$stamp" ]] && recorded_sources | grep -q "  train-images-idx3-ubyte.gz$"; then
  echo "$prog: $out exists (made from the $name files; no local IDX files to compare against)"
  exit 0
fi
fetch() { # URL DEST
  if command -v curl >/dev/null 2>&1; then
    curl -fsL --connect-timeout 15 --max-time 300 -o "$2" "$1" 2>/dev/null
  elif command -v wget >/dev/null 2>&1; then
    wget -q --timeout=15 -O "$2" "$1" 2>/dev/null
  else
    return 1
  fi
}
source_desc="$mirror (MD5-verified)"
tmpdir="$(mktemp -d "${TMPDIR:-/tmp}/mnist-idx.XXXXXX")"
inputs=()
for n in "${names[@]}"; do
  dest="$tmpdir/$n.gz"
  if ! fetch "$mirror/$n.gz" "$dest"; then
    die "could not download $mirror/$n.gz (offline?). Provide the MNIST IDX files instead:\
 give --from DIR (or set MNIST_IDX_DIR) naming a directory holding ${names[*]} (.gz or raw) and rerun."
  fi
  sum="$(md5sum "$dest" | cut -d' ' -f1)"
  [[ "$sum" == "${md5[$n]}" ]] ||
    die "$mirror/$n.gz: MD5 $sum does not match the official ${md5[$n]}; refusing it"
  inputs+=("$dest")
done
convert "${inputs[@]}"
