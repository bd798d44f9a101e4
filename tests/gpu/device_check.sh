#!/usr/bin/env bash
# The GPU check, one command on a machine with an NVIDIA GPU, the CUDA Toolkit (nvcc + NCCL, e.g. in
# /usr/local/cuda), CMake and Python with PyTorch, and nothing else (no Open MPI, HDF5, cmocka, no
# package registry). Beforehand, on a Debian machine with apt sources, run tests/gpu/fetch_deps.sh: it
# fills .deps/ (debs + MNIST) which travels with the tree. Then, from the repository root:
#     tests/gpu/device_check.sh            # ~3-6 minutes; prints one table at the end
# Steps: unpack .deps/debs into a private prefix (dpkg -x, or Python when dpkg is absent); configure
# with CNN_DDP_CUDA=ON for this GPU's architecture against that prefix; build (cnn_ddp and, beside it,
# the CUDA backend libcnn_ddp_cuda.so that --device cuda opens); ctest -L cuda (the GPU tests must
# pass, not skip; test_cuda_replica opens the backend as cnn_ddp does); convert MNIST to HDF5; train the seed net 2 epochs with --device cuda;
# run the PyTorch CUDA peer (tests/gpu/torch_bench.py, same net, batch 64, data); then short runs: 1 vs 2
# GPU ranks (must be the same bits), GPU vs scalar CPU kernels, checkpoints resumed across devices;
# print one table.
# Env: BUILD (default build-gpu), EPOCHS (2), STEPS (200, the short runs), JOBS (nproc), CUDA_HOME
# (/usr/local/cuda), PYTHON (python3). Checked here without a GPU, with the system's Open MPI / HDF5 /
# cmocka hidden (unshare -m + bind mounts): the private-prefix build links only .deps libraries, and the
# prefix's mpirun runs 2 ranks.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
deps="$root/.deps"
build="${BUILD:-$root/build-gpu}"
epochs="${EPOCHS:-2}"
jobs="${JOBS:-$(nproc)}"
cuda="${CUDA_HOME:-/usr/local/cuda}"
py="${PYTHON:-python3}"
die() { echo "device_check: $*" >&2; exit 1; }
t_start=$(date +%s)

[[ -d "$deps/debs" && -d "$deps/mnist" ]] || die ".deps/debs or .deps/mnist missing: run tests/gpu/fetch_deps.sh first (on a Debian machine)"
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,compute_cap,memory.total --format=csv,noheader || true

# 1. private prefix with the missing packages
prefix="$deps/prefix"
if [[ ! -f "$prefix/.unpacked" ]]; then
  rm -rf "$prefix" && mkdir -p "$prefix"
  for deb in "$deps"/debs/*.deb; do
    if command -v dpkg > /dev/null; then dpkg -x "$deb" "$prefix"
    else "$py" - "$deb" "$prefix" <<'PYEOF'
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
  # pkg-config files and the MPI/HDF5 symlinks point at /usr: re-root them in the prefix
  for pc in $(grep -rlE '(^prefix=|-[IL])/usr' "$prefix"/usr/lib/x86_64-linux-gnu/pkgconfig "$prefix"/usr/share/pkgconfig 2>/dev/null || true); do
    sed -i "s|^prefix=/usr|prefix=$prefix/usr|; s|=/usr/|=$prefix/usr/|g; s|-I/usr/|-I$prefix/usr/|g; s|-L/usr/|-L$prefix/usr/|g" "$pc"
  done
  find "$prefix" -type l | while read -r link; do
    target="$(readlink "$link")"
    if [[ "$target" == /* && -e "$prefix$target" ]]; then ln -sfn "$prefix$target" "$link"; fi
  done
  touch "$prefix/.unpacked"
fi
lib="$prefix/usr/lib/x86_64-linux-gnu"
export LD_LIBRARY_PATH="$lib:$prefix/lib/x86_64-linux-gnu:$lib/hdf5/serial:$lib/openmpi/lib:$cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PKG_CONFIG_PATH="$lib/pkgconfig:$prefix/usr/share/pkgconfig"
export PATH="$prefix/usr/bin:$cuda/bin:$PATH"
# Open MPI from the private prefix: OPAL_PREFIX relocates its components and help files from /usr.
export OPAL_PREFIX="$prefix/usr"
[[ $(id -u) != 0 ]] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

mkdir -p "$build"
# 2. configure + build for this GPU (all default architectures when nvidia-smi cannot tell)
arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')" || true
[[ "$arch" =~ ^[0-9]+$ ]] || arch="75;80;86;89;90"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCNN_DDP_CUDA=ON -DCNN_DDP_WERROR=ON \
  -DCNN_DDP_CUDA_ARCHITECTURES="$arch" -DCMAKE_CUDA_COMPILER="$cuda/bin/nvcc" \
  -DPKG_CONFIG_EXECUTABLE="$prefix/usr/bin/pkgconf" \
  -DMPI_C_COMPILER="$prefix/no-mpicc" -DMPI_C_LIB_NAMES=mpi -DMPI_mpi_LIBRARY="$lib/openmpi/lib/libmpi.so" \
  -DMPI_C_HEADER_DIR="$lib/openmpi/include" -DMPI_C_ADDITIONAL_INCLUDE_DIRS="$lib/openmpi/include" \
  -DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=ON -DHDF5_C_COMPILER_EXECUTABLE="$prefix/no-h5cc" \
  -DHDF5_C_INCLUDE_DIR="$prefix/usr/include/hdf5/serial" -DHDF5_hdf5_LIBRARY_RELEASE="$lib/hdf5/serial/libhdf5.so" \
  -DZLIB_INCLUDE_DIR="$prefix/usr/include" -DZLIB_LIBRARY="$lib/libz.so" \
  -DCMAKE_PREFIX_PATH="$prefix/usr" > "$build/device_check.configure.log" 2>&1 || { tail -40 "$build/device_check.configure.log"; die "configure failed"; }
grep -q "CUDA device path ON" "$build/device_check.configure.log" || die "configure did not enable CUDA (see $build/device_check.configure.log)"
cmake --build "$build" -j "$jobs" > "$build/device_check.build.log" 2>&1 || { grep -E "error|Error" "$build/device_check.build.log" | head -30; die "build failed"; }
# The CUDA path is the backend library beside cnn_ddp, which cnn_ddp opens for --device cuda.
[[ -f "$build/libcnn_ddp_cuda.so" ]] || die "the build made no $build/libcnn_ddp_cuda.so"
ldd "$build/libcnn_ddp_cuda.so" | grep -E "not found" && die "libcnn_ddp_cuda.so: libraries not found (above)"
t_built=$(date +%s)

# 3. GPU tests: must run, not skip
(cd "$build" && ctest -L cuda --output-on-failure --timeout 300) | tee "$build/device_check.ctest.log"
grep -q "Skipped" "$build/device_check.ctest.log" && die "a CUDA test was skipped on a GPU machine"

# 4. data, then training on the GPU and in PyTorch
h5="$build/mnist.h5"
MNIST_IDX_DIR="$deps/mnist" MNIST2H5="$build/mnist2h5" datasets/prepare_mnist.sh "$h5"
metrics="$build/device_check.jsonl"
rm -f "$metrics"
"$build/cnn_ddp" --data "$h5" --model seed --epochs "$epochs" --batch 64 --device cuda --no-ckpt \
  --metrics "$metrics" --timeout 600 | tee "$build/device_check.train.log"
ours="$("$py" -c 'import json,sys
rows=[json.loads(l) for l in open(sys.argv[1]) if "\"img_per_s\"" in l]
print("%.0f %.2f" % (rows[-1]["img_per_s"], rows[-1]["test_acc"] * (100 if rows[-1]["test_acc"] <= 1 else 1)))' "$metrics")"
torch="$("$py" tests/gpu/torch_bench.py --data "$deps/mnist" --epochs "$epochs" --batch 64)"
echo "$torch"

# 5. the guarantees on the device, on short runs (STEPS steps of the seed net):
#    1 GPU rank vs 2 ranks (sharing the GPU through --comm mpi when there is only one): must be the
#    same bits; with 2+ GPUs also 2 ranks over NCCL. The scalar CPU kernels: the same bits expected
#    (reported). A GPU checkpoint resumed on the CPU and a CPU one resumed on the GPU: must run.
steps="${STEPS:-200}"
# plm isolated: one node, no ssh/rsh agent (a bare machine has none; the default launcher refuses to start).
mpirun=("$prefix/usr/bin/orterun" --mca plm isolated --oversubscribe -np 2)
short() { local dir="$build/dc-$1"; shift; rm -rf "$dir"
  "$@" --data "$h5" --model seed --max-steps "$steps" --ckpt-dir "$dir" --quiet --timeout 300 > "$dir.log" 2>&1 \
    || { cat "$dir.log"; die "short run failed: $*"; }; }
digest() { "$build/tests/ckpt_digest" "$build/dc-$1/final.h5"; }
short gpu1 "$build/cnn_ddp" --device cuda
short gpu2 "${mpirun[@]}" "$build/cnn_ddp" --device cuda --comm mpi
short cpu "$build/cnn_ddp" --device cpu --kernels scalar
same_ranks=no; [[ "$(digest gpu1)" == "$(digest gpu2)" ]] && same_ranks=yes
same_cpu=no; [[ "$(digest gpu1)" == "$(digest cpu)" ]] && same_cpu=yes
same_nccl="n/a (1 GPU)"
if (( $(nvidia-smi -L 2>/dev/null | wc -l) >= 2 )); then
  short nccl2 "${mpirun[@]}" "$build/cnn_ddp" --device cuda --comm nccl
  same_nccl=no; [[ "$(digest gpu1)" == "$(digest nccl2)" ]] && same_nccl=yes
fi
resumed=yes
"$build/cnn_ddp" --data "$h5" --device cpu --kernels scalar --resume "$build/dc-gpu1/final.h5" --max-steps $((steps + 20)) \
  --no-ckpt --quiet > "$build/dc-resume.log" 2>&1 || resumed="no: GPU checkpoint on the CPU ($(tail -1 "$build/dc-resume.log"))"
"$build/cnn_ddp" --data "$h5" --device cuda --resume "$build/dc-cpu/final.h5" --max-steps $((steps + 20)) \
  --no-ckpt --quiet >> "$build/dc-resume.log" 2>&1 || resumed="no: CPU checkpoint on the GPU ($(tail -1 "$build/dc-resume.log"))"
t_end=$(date +%s)

"$py" - "$ours" "$torch" "$((t_built - t_start))" "$((t_end - t_start))" "$steps" "$same_ranks" "$same_nccl" "$same_cpu" "$resumed" <<'PYEOF'
import json, sys
ips, acc = map(float, sys.argv[1].split())
t = json.loads(sys.argv[2])
print()
print("%-28s %12s %10s" % ("seed net, batch 64, MNIST", "train img/s", "test acc"))
print("%-28s %12.0f %9.2f%%" % ("cnn_ddp --device cuda", ips, acc))
print("%-28s %12.0f %9.2f%%" % ("PyTorch %s CUDA" % t["torch"], t["img_per_s"], t["test_acc"]))
print("%-28s %12.2fx" % ("cnn_ddp / PyTorch", ips / t["img_per_s"]))
print("%s steps: 1 GPU rank = 2 ranks (--comm mpi): %s; = 2 ranks over NCCL: %s; = scalar CPU kernels: %s"
      % tuple(sys.argv[5:9]))
print("checkpoints across devices (GPU -> CPU, CPU -> GPU): %s" % sys.argv[9])
print("device: %s; build %s s, total %s s" % (t["device"], sys.argv[3], sys.argv[4]))
PYEOF
[[ "$same_ranks" == yes && "$same_nccl" != no ]] || die "1 and 2 GPU ranks gave different parameters"
[[ "$resumed" == yes ]] || die "resume across devices failed: $resumed"
