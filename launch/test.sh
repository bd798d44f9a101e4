#!/usr/bin/env bash
# test.sh — the whole test suite from a fresh checkout: installs what is missing, builds with warnings
# as errors, prepares the MNIST data, and runs every test with ctest (unit tests, multi-rank runs under
# mpirun, failure and resume tests). Extra ctest arguments are passed on (e.g. -R resume, -L unit).
# Then, unless ctest arguments were given (CNN_DDP_TEST_MPICH=1 forces it, =0 skips it), it builds
# cnn_ddp against MPICH too (BUILD_DIR-mpich, CUDA off) and runs the rank-identity, failure and
# MPICH-vs-Open MPI tests there under MPICH's mpirun.mpich (Hydra).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${CNN_DDP_TEST_BUILD:-$repo/build}
mpich=${CNN_DDP_TEST_MPICH:-$([ $# -eq 0 ] && echo 1 || echo 0)}
# Where the CUDA Toolkit is installed (CI's machines have one, and no GPU), the CUDA path must compile:
# ON makes a toolkit that is there but unusable fail the build instead of quietly building without it.
cuda=AUTO
if command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then cuda=ON; fi
# With both MPIs installed, the main build is Open MPI's whatever the system's default mpicc is.
ompi=""
case " ${CMAKE_ARGS:-} " in
  *MPI_C_COMPILER*) ;;
  *) if command -v mpicc.openmpi >/dev/null; then ompi="-DMPI_C_COMPILER=mpicc.openmpi"; fi ;;
esac
# Slurm's daemons and client for test_slurm_cluster (a throw-away one-node cluster); its pmix plugin
# loads the unversioned libpmix.so, which only libpmix-dev ships. python3-h5py: test_checksum_python, test_h5py_recipe;
# python3-torch, python3-onnx: test_export (launch/export.py).
CNN_DDP_EXTRA_PACKAGES="gnuplot-nox libmpich-dev mpich slurmctld slurmd slurm-client munge libpmix-dev python3-h5py python3-torch python3-onnx ${CNN_DDP_EXTRA_PACKAGES:-}" \
  CMAKE_ARGS="-DCNN_DDP_WERROR=ON -DCNN_DDP_CUDA=$cuda $ompi ${CMAKE_ARGS:-}" bash "$repo/launch/setup.sh" "$build"
MNIST2H5="$build/mnist2h5" bash "$repo/datasets/prepare.sh" mnist "$repo/datasets/mnist.h5"
(cd "$build" && ctest --output-on-failure --timeout 900 "$@")
[ "$mpich" = 1 ] || exit 0

# The same sources against MPICH: only what those tests run is built (cnn_ddp, mnist2h5, ckpt_digest).
mbuild=$build-mpich
cmake -S "$repo" -B "$mbuild" -DCMAKE_BUILD_TYPE=Release -DCNN_DDP_WERROR=ON -DCNN_DDP_CUDA=OFF \
  -DMPI_C_COMPILER=mpicc.mpich -DMPIEXEC_EXECUTABLE="$(command -v mpirun.mpich)" >/dev/null
cmake --build "$mbuild" -j "$(nproc 2>/dev/null || echo 2)" --target cnn_ddp mnist2h5 ckpt_digest >/dev/null
libs=$(ldd "$mbuild/cnn_ddp")
if ! grep -q 'libmpich\.so' <<<"$libs" || grep -q 'libmpi\.so' <<<"$libs"; then
  echo "test: $mbuild/cnn_ddp is not linked with MPICH alone (a stale CMake cache? remove $mbuild):" >&2
  echo "$libs" >&2
  exit 1
fi
echo "test: built $mbuild/cnn_ddp against MPICH ($(awk '/libmpich/ { print $3; exit }' <<<"$libs"))"
cd "$mbuild"
CD_MPIRUN=mpirun.mpich CD_OPENMPI_BIN="$build" \
  ctest --output-on-failure --timeout 900 -R 'test_ranks_bit_identical|test_failures_no_hang|test_mpich'
