#!/usr/bin/env bash
# test.sh — the whole test suite from a fresh checkout: installs what is missing, builds with warnings
# as errors, prepares the MNIST data, and runs every test with ctest (unit tests, multi-rank runs under
# mpirun, failure and resume tests). Extra ctest arguments are passed on (e.g. -R resume, -L unit).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${CNN_DDP_TEST_BUILD:-$repo/build}
# Where the CUDA Toolkit is installed (CI's machines have one, and no GPU), the CUDA path must compile:
# ON makes a toolkit that is there but unusable fail the build instead of quietly building without it.
cuda=AUTO
if command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then cuda=ON; fi
CNN_DDP_EXTRA_PACKAGES="gnuplot-nox ${CNN_DDP_EXTRA_PACKAGES:-}" \
  CMAKE_ARGS="-DCNN_DDP_WERROR=ON -DCNN_DDP_CUDA=$cuda ${CMAKE_ARGS:-}" bash "$repo/launch/setup.sh" "$build"
MNIST2H5="$build/mnist2h5" bash "$repo/datasets/prepare_mnist.sh" "$repo/datasets/mnist.h5"
cd "$build"
ctest --output-on-failure --timeout 900 "$@"
