#!/usr/bin/env bash
# quickstart.sh [NP] [cnn_ddp options] — from a fresh checkout: installs what is missing, builds,
# prepares datasets/mnist.h5, and trains the seed network (10 epochs by default) on NP ranks
# (default 1; NP > 1 goes through launch/run_local.sh, which handles oversubscription and root).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
np=1
if [[ ${1:-} =~ ^[0-9]+$ ]]; then np=$1; shift; fi
bash "$repo/launch/setup.sh" "$repo/build"
MNIST2H5="$repo/build/mnist2h5" bash "$repo/datasets/prepare.sh" mnist "$repo/datasets/mnist.h5"
cd "$repo"
if [ "$np" = 1 ]; then
  exec "$repo/build/cnn_ddp" --data datasets/mnist.h5 "$@"
fi
CNN_DDP_BIN="$repo/build/cnn_ddp" exec bash "$repo/launch/run_local.sh" "$np" --data datasets/mnist.h5 "$@"
