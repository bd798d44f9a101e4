#!/usr/bin/env bash
# The GPU check: one command on a machine with an NVIDIA GPU, the CUDA Toolkit (nvcc), CMake and Python
# with PyTorch, and nothing else (no Open MPI, PMIx, HDF5, cmocka, make, pkg-config or package
# registry; NCCL from the toolkit, NCCL_ROOT, or the nvidia-nccl pip wheel of the python3 on PATH).
# Beforehand, on a Debian machine with apt sources, run tests/gpu/fetch_deps.sh: it fills .deps/ (debs
# + MNIST, ~25 MiB) which travels with the tree. Then, from the repository root:
#     tests/gpu/device_check.sh                 # ~5-7 minutes on one GPU; prints one table at the end
#     tests/gpu/device_check.sh --dry-run-cpu   # (or DEVICE_CHECK_DRY=1) here, without a GPU: see below
# The prefix is unpacked into $BUILD/prefix, so .deps stays small enough to carry.
# Steps (each timed; the table at the end is printed whatever happens, the failed step marked):
#   preflight (before building; a failure here stops the check): nvidia-smi; nvcc --version; where
#     FindNCCL finds nccl.h and libnccl (tests/gpu/find_nccl: the build's own search); .deps unpacked
#     into a private prefix (tests/gpu/prefix.sh) and its `orterun --mca plm isolated -np 2 true`; a
#     tiny CUDA program, compiled here with nvcc, printing cudaGetDeviceCount's count or its error name;
#   build: configure (Ninja when on PATH, without -Werror: CI keeps it; CNN_DDP_CUDA=ON for this GPU's
#     architecture) against the prefix alone, build, check the backend libcnn_ddp_cuda.so resolves;
#   GPU tests: ctest -L cuda (must run, not skip) and compute-sanitizer --tool memcheck of
#     tests/test_cuda_replica (where compute-sanitizer is on PATH or in $CUDA_HOME/bin);
#   data: the prefix-built mnist2h5 converts .deps/mnist;
#   speed: cnn_ddp --device cuda and tests/gpu/torch_bench.py (PyTorch CUDA, same nets and data) train
#     the seed and the exercise net EPOCHS epochs at batch 64: img/s of the last epoch, and the ratio;
#   bits (STEPS steps): 1 GPU rank = 2 ranks (--comm mpi, sharing the GPU when there is one; with 2+
#     GPUs also --comm nccl); the GPU = the scalar CPU kernels (seed and exercise nets; required);
#     checkpoints resumed across devices (GPU -> CPU and CPU -> GPU) end with the bits of an
#     uninterrupted CPU run.
# Every cnn_ddp run has --timeout 120 (its watchdog) and an outer timeout (coreutils); the prefix's
# LD_LIBRARY_PATH / PATH / OPAL_PREFIX reach only the project's own commands (proj: ctest, cnn_ddp,
# mnist2h5, orterun, and compute-sanitizer running a test), never the compiler, CMake or Python.
# --dry-run-cpu: the same script with --device cpu --kernels scalar standing in for the GPU; nvidia-smi,
# the device count, PyTorch CUDA and compute-sanitizer are "n/a (dry run)", the CUDA tests may skip;
# the preflight's orterun and the CUDA=ON build (nvcc is enough) run for real. To check that the prefix
# is complete, run it with this machine's libraries hidden:
#     tests/gpu/hide_system.sh --keep-build-tools tests/gpu/device_check.sh --dry-run-cpu
# Env: DEPS (.deps), BUILD (build-gpu; dry run build-gpu-dry), EPOCHS (2; dry run 1), STEPS (200; dry run 60), JOBS
# (nproc), CUDA_HOME (/usr/local/cuda), CUDA_ARCH (from nvidia-smi; dry run 90), PYTHON (the first
# python3 that imports torch).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
dry=${DEVICE_CHECK_DRY:-0}
case "${1:-}" in
  --dry-run-cpu) dry=1 ;;
  "") ;;
  *) echo "usage: tests/gpu/device_check.sh [--dry-run-cpu]   (env: see the header)" >&2; exit 2 ;;
esac
[[ "$dry" == 1 ]] || dry=0
deps="${DEPS:-$root/.deps}"
build="${BUILD:-$root/build-gpu$( ((dry)) && echo -dry)}"
epochs="${EPOCHS:-$( ((dry)) && echo 1 || echo 2)}"
steps="${STEPS:-$( ((dry)) && echo 60 || echo 200)}"
jobs="${JOBS:-$(nproc)}"
cuda="${CUDA_HOME:-/usr/local/cuda}"
logs="$build/device_check"
source "$root/tests/gpu/prefix.sh"
t_start=$SECONDS
mkdir -p "$logs" || { echo "device_check: cannot create $logs" >&2; exit 1; }
[[ $(id -u) != 0 ]] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# One node: shared memory and loopback TCP; no UCX/OFI probing of whatever network the machine has.
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
# The dry run's stand-in: the scalar kernels for the bits, the fastest CPU kernels for the speed rows.
if ((dry)); then dev=(--device cpu --kernels scalar) dev_speed=(--device cpu); else dev=(--device cuda) dev_speed=(--device cuda); fi

# ---- steps and the table ---------------------------------------------------------------------------
names=() states=() secs=() notes=()
NOTE="" STEP_LOG=""
failed=0 stop=""
# step NAME FUNCTION ARGS...: runs it (output in $logs/NN.log, its tail shown when it fails), records ok /
# FAIL / n/a / warn with its seconds and NOTE. A function returns 0 ok, 1 failed, 3 n/a, 4 warn.
step() {
  local name=$1 i=${#names[@]} rc t0=$SECONDS; shift
  names+=("$name")
  if [[ -n "$stop" ]]; then states+=("not run"); secs+=(0); notes+=("$stop"); return 1; fi
  local log; log=$(printf '%s/%02d.log' "$logs" "$i")
  echo "== $name"
  NOTE="" STEP_LOG=$log
  "$@" > "$log" 2>&1
  rc=$?
  case $rc in 0) states+=(ok) ;; 3) states+=("n/a") ;; 4) states+=(warn) ;; *) states+=(FAIL); failed=1 ;; esac
  secs+=($((SECONDS - t0))); notes+=("$NOTE")
  if [[ "${states[-1]}" == FAIL ]]; then tail -25 "$log" | sed 's/^/   | /'; fi
  echo "   ${states[-1]} ($((SECONDS - t0)) s)${NOTE:+: $NOTE}   [log: $log]"
  [[ "${states[-1]}" != FAIL ]]
}
table() {
  local i
  echo
  echo "device_check$( ((dry)) && echo " (DRY RUN: --device cpu --kernels scalar stands in for the GPU)"): $build"
  printf '%-44s %-8s %6s  %s\n' step status s result
  for i in "${!names[@]}"; do printf '%-44s %-8s %6s  %s\n' "${names[$i]}" "${states[$i]}" "${secs[$i]}" "${notes[$i]}"; done
  printf '\n%-34s %12s %12s %8s\n' "train img/s, batch 64 per GPU" cnn_ddp PyTorch ratio
  for m in seed exercise; do
    printf '%-34s %12s %12s %8s\n' "$m net ($epochs epochs)" "${ours_ips[$m]:-n/a}" "${torch_ips[$m]:-n/a}" "${ratio[$m]:-n/a}"
  done
  echo "device: ${device_name:-unknown}; total $((SECONDS - t_start)) s; $( ((failed)) && echo "FAILED: see the steps marked FAIL" || echo "every step passed")"
}
declare -A ours_ips=() torch_ips=() ratio=() ours_acc=() torch_acc=()
device_name=""
trap 'table; trap - EXIT; exit $failed' EXIT
trap 'echo "device_check: interrupted" >&2; failed=1; exit 1' INT TERM

# ---- preflight -------------------------------------------------------------------------------------
pf_nvidia_smi() {
  ((dry)) && { NOTE="n/a (dry run)"; return 3; }
  command -v nvidia-smi || { NOTE="nvidia-smi not on PATH"; return 1; }
  timeout 60 nvidia-smi || { NOTE="nvidia-smi failed"; return 1; }
  local q; q=$(timeout 60 nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader) || return 1
  echo "$q"
  gpus=$(grep -c . <<< "$q")
  ((gpus > 0)) || { NOTE="nvidia-smi lists no GPU"; return 1; }
  device_name=$(head -1 <<< "$q")
  arch=$(head -1 <<< "$q" | cut -d, -f2 | tr -d ' .')
  NOTE="$gpus GPU(s): $(head -1 <<< "$q")"
}
pf_nvcc() {
  [[ -x "$cuda/bin/nvcc" ]] || { NOTE="$cuda/bin/nvcc not found (set CUDA_HOME)"; return 1; }
  "$cuda/bin/nvcc" --version || return 1
  NOTE="$("$cuda/bin/nvcc" --version | grep -o 'release [0-9.]*, V[0-9.]*' | head -1) ($cuda)"
}
pf_nccl() {
  rm -rf "$logs/find_nccl"
  cmake -S "$root/tests/gpu/find_nccl" -B "$logs/find_nccl" -DCUDAToolkit_LIBRARY_ROOT="$cuda" > "$logs/find_nccl.log" 2>&1 \
    || { cat "$logs/find_nccl.log"; return 1; }
  cat "$logs/find_nccl.log"
  local r; r=$(sed -n 's/^-- result: //p' "$logs/find_nccl.log")
  case "$r" in
    found=TRUE*) NOTE="${r#found=TRUE }" ;;
    *) NOTE="NCCL not found: the build goes without --comm nccl (GPU ranks sum through MPI)"; return 4 ;;
  esac
}
pf_prefix() {
  [[ -d "$deps/debs" && -d "$deps/mnist" ]] || { NOTE=".deps/debs or .deps/mnist missing: run tests/gpu/fetch_deps.sh first (on a Debian machine) and carry .deps"; return 1; }
  cd_prefix_unpack "$deps" "$build/prefix" "${PYTHON:-python3}" || { NOTE="unpacking .deps failed"; return 1; }
  cd_prefix_env "$build/prefix"
  proj orterun --version | head -1
  proj timeout 60 orterun --mca plm isolated --oversubscribe -np 2 true || { NOTE="the prefix's orterun -np 2 true failed"; return 1; }
  NOTE="$(ls "$deps"/debs/*.deb | wc -l) packages unpacked; orterun -np 2 true ran"
}
pf_device_count() {
  mkdir -p "$logs/devcount"
  cat > "$logs/devcount/devcount.cu" <<'EOF'
#include <cstdio>
#include <cuda_runtime.h>
int main()
{
    int driver = 0, runtime = 0, n = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    cudaError_t rc = cudaGetDeviceCount(&n);
    if (rc != cudaSuccess) {
        printf("cudaGetDeviceCount failed: %s (%s); driver %d, runtime %d\n", cudaGetErrorName(rc), cudaGetErrorString(rc),
               driver, runtime);
        return 1;
    }
    printf("cudaGetDeviceCount: %d device(s); driver %d, runtime %d\n", n, driver, runtime);
    for (int i = 0; i < n; i++) {
        cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) == cudaSuccess) printf("  %d: %s, sm_%d%d, %zu MiB\n", i, p.name, p.major, p.minor, p.totalGlobalMem >> 20);
    }
    return n > 0 ? 0 : 1;
}
EOF
  local out rc nvcc_log="$logs/devcount/nvcc.log"
  if ! "$cuda/bin/nvcc" -o "$logs/devcount/devcount" "$logs/devcount/devcount.cu" > "$nvcc_log" 2>&1; then
    cat "$nvcc_log"
    # A host compiler newer than this nvcc accepts: the build then passes the same flag.
    grep -q "unsupported GNU version" "$nvcc_log" || { NOTE="nvcc cannot compile a tiny program (see the log)"; return 1; }
    cuda_flags="-allow-unsupported-compiler"
    "$cuda/bin/nvcc" $cuda_flags -o "$logs/devcount/devcount" "$logs/devcount/devcount.cu" \
      || { NOTE="nvcc cannot compile a tiny program, even with $cuda_flags"; return 1; }
  fi
  out=$(timeout 60 "$logs/devcount/devcount"); rc=$?
  echo "$out"
  NOTE="$(head -1 <<< "$out")${cuda_flags:+; nvcc needs $cuda_flags for this host compiler}"
  if ((dry)); then NOTE="n/a (dry run): $NOTE"; return 3; fi
  ((rc == 0)) || return 1
  [[ -z "$cuda_flags" ]] || return 4
}
gpus=0 arch="" cuda_flags=""
step "preflight: nvidia-smi" pf_nvidia_smi
step "preflight: nvcc --version" pf_nvcc
step "preflight: nccl.h and libnccl (FindNCCL)" pf_nccl
step "preflight: prefix + orterun -np 2 true" pf_prefix
cd_prefix_env "$build/prefix"
step "preflight: cudaGetDeviceCount" pf_device_count
((failed)) && stop="the preflight failed"

# ---- build -----------------------------------------------------------------------------------------
configure() {
  [[ "$arch" =~ ^[0-9]+$ ]] || arch="${CUDA_ARCH:-$( ((dry)) && echo 90 || echo "75;80;86;89;90")}"
  local gen=()
  command -v ninja > /dev/null && gen=(-G Ninja)
  # A cache made with another generator or another prefix cannot be reused (pkg-config's answers stay
  # cached): the build directory starts afresh, keeping the logs and the prefix.
  local made="${gen[*]:-make} $CD_PREFIX $(cat "$CD_PREFIX/.unpacked" 2> /dev/null | cksum)"
  if [[ -f "$build/CMakeCache.txt" && "$(cat "$logs/configured-with" 2> /dev/null)" != "$made" ]]; then
    echo "a fresh build directory: the cache was made with another generator or prefix"
    find "$build" -mindepth 1 -maxdepth 1 ! -name device_check ! -name prefix -exec rm -rf {} +
  fi
  rm -f "$logs/configured-with"
  cd_prefix_cmake_args
  cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCNN_DDP_CUDA=ON -DCNN_DDP_WERROR=OFF \
    -DCNN_DDP_CUDA_ARCHITECTURES="$arch" -DCMAKE_CUDA_COMPILER="$cuda/bin/nvcc" -DCUDAToolkit_ROOT="$cuda" \
    ${cuda_flags:+-DCMAKE_CUDA_FLAGS="$cuda_flags"} "${CD_PREFIX_CMAKE_ARGS[@]}" || { NOTE="cmake failed (see the log)"; return 1; }
  echo "$made" > "$logs/configured-with"
  grep -q "^CNN_DDP_HAVE_NCCL:INTERNAL=ON" "$build/CMakeCache.txt" && have_nccl=1 || have_nccl=0
  NOTE="sm $arch, ${gen[*]:-make}, NCCL $( ((have_nccl)) && echo yes || echo "no (--comm mpi only)")"
}
compile() {
  cmake --build "$build" -j "$jobs" || { NOTE="the build failed (see the log)"; return 1; }
  [[ -f "$build/libcnn_ddp_cuda.so" ]] || { NOTE="no $build/libcnn_ddp_cuda.so"; return 1; }
  proj ldd "$build/cnn_ddp" "$build/libcnn_ddp_cuda.so"
  if proj ldd "$build/cnn_ddp" "$build/libcnn_ddp_cuda.so" | grep "not found"; then NOTE="libraries not found (log)"; return 1; fi
  NOTE="backend: $(proj ldd "$build/libcnn_ddp_cuda.so" | awk '/libnccl|libcudart/ {printf "%s ", $3}')"
}
have_nccl=0
step "build: configure (CUDA=ON, no -Werror)" configure || stop=${stop:-"the configure failed"}
step "build: cmake --build" compile || stop=${stop:-"the build failed"}

# ---- GPU tests -------------------------------------------------------------------------------------
gpu_ctest() {
  (cd "$build" && proj ctest -L cuda -V --timeout 300); local rc=$?
  local skipped; skipped=$(grep -E "skipped \(|\*\*\*Skipped| Skipped " "$STEP_LOG" | sort -u)
  NOTE="$(grep -E "tests passed|tests failed" "$STEP_LOG" | tail -1)"
  ((rc == 0)) || return 1
  if [[ -n "$skipped" ]]; then
    NOTE="$NOTE; skipped: $(grep -o 'skipped (.*' <<< "$skipped" | head -1)"
    ((dry)) && { NOTE="n/a (dry run): $NOTE"; return 3; }
    return 1 # on a GPU machine the GPU tests must run
  fi
}
sanitizer() {
  ((dry)) && { NOTE="n/a (dry run)"; return 3; }
  local cs="" c
  for c in "$(command -v compute-sanitizer)" "$cuda/bin/compute-sanitizer" "$cuda/compute-sanitizer/compute-sanitizer"; do
    [[ -n "$c" && -x "$c" ]] && { cs=$c; break; }
  done
  [[ -n "$cs" ]] || { NOTE="n/a: compute-sanitizer neither on PATH nor in $cuda"; return 3; }
  (cd "$build/tests" && proj env CNN_DDP_CUDA_BACKEND="$build/libcnn_ddp_cuda.so" CMOCKA_MESSAGE_OUTPUT=STDOUT \
    timeout 300 "$cs" --tool memcheck --error-exitcode 99 ./test_cuda_replica) || { NOTE="memcheck reported errors or the test failed"; return 1; }
  NOTE="$(grep -E "ERROR SUMMARY" "$STEP_LOG" | tail -1)"
}
step "GPU tests: ctest -L cuda" gpu_ctest
step "GPU tests: compute-sanitizer memcheck" sanitizer

# ---- data, speed -----------------------------------------------------------------------------------
h5="$build/mnist.h5"
data() {
  proj timeout 300 "$build/mnist2h5" --images "$deps/mnist/train-images-idx3-ubyte.gz" --labels "$deps/mnist/train-labels-idx1-ubyte.gz" \
    --test-images "$deps/mnist/t10k-images-idx3-ubyte.gz" --test-labels "$deps/mnist/t10k-labels-idx1-ubyte.gz" -o "$h5" || return 1
  NOTE="$h5"
}
step "data: mnist2h5" data || stop=${stop:-"no data"}

find_torch_python() {
  local p
  for p in ${PYTHON:-} python3 /usr/bin/python3; do
    command -v "$p" > /dev/null && "$p" -c 'import torch' 2> /dev/null && { echo "$p"; return 0; }
  done
  return 1
}
py=$(find_torch_python || echo "${PYTHON:-python3}")
# last_epoch METRICS: "img/s test%" of the last epoch line
last_epoch() {
  "$py" -c 'import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if "\"img_per_s\"" in l]
a = rows[-1]["test_acc"]
print("%.0f %.2f" % (rows[-1]["img_per_s"], a * 100 if a <= 1 else a))' "$1"
}
speed_ours() {
  local m=$1 metrics="$logs/train-$1.jsonl"
  rm -f "$metrics"
  proj timeout 300 "$build/cnn_ddp" --data "$h5" --model "$m" --epochs "$epochs" --batch 64 "${dev_speed[@]}" --no-ckpt \
    --metrics "$metrics" --timeout 120 || return 1
  local r; r=$(last_epoch "$metrics") || return 1
  ours_ips[$m]=${r% *}; ours_acc[$m]=${r#* }
  NOTE="${ours_ips[$m]} img/s, test ${ours_acc[$m]}%"
}
speed_torch() {
  local m=$1 out extra=(--device cuda)
  "$py" -c 'import torch' 2> /dev/null || { NOTE="n/a: no python with torch"; return 3; }
  # Dry run: PyTorch on the CPU for a few steps, to run the script itself.
  ((dry)) && extra=(--device cpu --max-steps 120 --warmup 20)
  out=$(timeout 300 "$py" "$root/tests/gpu/torch_bench.py" --data "$deps/mnist" --model "$m" --epochs "$epochs" --batch 64 "${extra[@]}") || return 1
  echo "$out"
  torch_ips[$m]=$("$py" -c 'import json,sys; print("%.0f" % json.loads(sys.argv[1])["img_per_s"])' "$out")
  torch_acc[$m]=$("$py" -c 'import json,sys; print("%.2f" % json.loads(sys.argv[1])["test_acc"])' "$out")
  [[ -n "$device_name" ]] || device_name=$("$py" -c 'import json,sys; print(json.loads(sys.argv[1])["device"])' "$out")
  if [[ -n "${ours_ips[$m]:-}" ]]; then
    ratio[$m]=$("$py" -c 'import sys; print("%.2fx" % (float(sys.argv[1]) / float(sys.argv[2])))' "${ours_ips[$m]}" "${torch_ips[$m]}")
  fi
  NOTE="${torch_ips[$m]} img/s, test ${torch_acc[$m]}% ($("$py" -c 'import json,sys; d=json.loads(sys.argv[1]); print("torch %s, %s" % (d["torch"], d["device"]))' "$out"))"
  ((dry)) && { NOTE="(dry run: CPU, 120 steps) $NOTE"; return 3; }
  return 0
}
for m in seed exercise; do
  step "speed: cnn_ddp $m, ${dev_speed[*]}" speed_ours "$m"
  step "speed: PyTorch $m" speed_torch "$m"
done

# ---- bits ------------------------------------------------------------------------------------------
orterun=(orterun --mca plm isolated --oversubscribe -np 2)
# short NAME MODEL STEPS ARGS...: a run of STEPS steps into $build/dc-NAME, checkpoint final.h5
short() {
  local name=$1 model=$2 n=$3 t0=$SECONDS rc; shift 3
  rm -rf "$build/dc-$name"
  proj timeout 300 "$@" --data "$h5" --model "$model" --max-steps "$n" --ckpt-dir "$build/dc-$name" --quiet --timeout 120
  rc=$?
  echo "run $name ($model, $n steps, ${*:2}): exit $rc, $((SECONDS - t0)) s"
  return $rc
}
digest() { proj "$build/tests/ckpt_digest" "$build/dc-$1/final.h5"; }
same() { [[ "$(digest "$1")" == "$(digest "$2")" ]]; }
bits_ranks() {
  short gpu1 seed "$steps" "$build/cnn_ddp" "${dev[@]}" || return 1
  short gpu2 seed "$steps" "${orterun[@]}" "$build/cnn_ddp" "${dev[@]}" --comm mpi || return 1
  same gpu1 gpu2 || { NOTE="1 and 2 ranks (--comm mpi) differ"; return 1; }
  NOTE="seed, $steps steps: 1 rank = 2 ranks (--comm mpi)"
}
bits_nccl() {
  ((dry)) && { NOTE="n/a (dry run)"; return 3; }
  ((have_nccl)) || { NOTE="n/a: built without NCCL"; return 3; }
  ((gpus >= 2)) || { NOTE="n/a: 1 GPU (NCCL needs a GPU per rank)"; return 3; }
  short nccl2 seed "$steps" "${orterun[@]}" "$build/cnn_ddp" --device cuda --comm nccl || return 1
  same gpu1 nccl2 || { NOTE="1 rank and 2 ranks over NCCL differ"; return 1; }
  NOTE="seed, $steps steps: 1 rank = 2 ranks over NCCL"
}
bits_cpu() {
  short cpu seed "$steps" "$build/cnn_ddp" --device cpu --kernels scalar || return 1
  short ex-gpu exercise 40 "$build/cnn_ddp" "${dev[@]}" || return 1
  short ex-cpu exercise 40 "$build/cnn_ddp" --device cpu --kernels scalar || return 1
  local bad=()
  same gpu1 cpu || bad+=("seed ($steps steps)")
  same ex-gpu ex-cpu || bad+=("exercise (40 steps)")
  ((${#bad[@]} == 0)) || { NOTE="the GPU and the scalar CPU kernels differ: ${bad[*]}"; return 1; }
  NOTE="GPU = scalar CPU kernels: seed ($steps steps), exercise (40 steps)"
}
bits_resume() {
  local more=$((steps + 20))
  short cpu-more seed "$more" "$build/cnn_ddp" --device cpu --kernels scalar || return 1
  short to-cpu seed "$more" "$build/cnn_ddp" --device cpu --kernels scalar --resume "$build/dc-gpu1/final.h5" || { NOTE="a GPU checkpoint on the CPU failed"; return 1; }
  short to-gpu seed "$more" "$build/cnn_ddp" "${dev[@]}" --resume "$build/dc-cpu/final.h5" || { NOTE="a CPU checkpoint on the GPU failed"; return 1; }
  local bad=()
  same to-cpu cpu-more || bad+=("GPU -> CPU")
  same to-gpu cpu-more || bad+=("CPU -> GPU")
  ((${#bad[@]} == 0)) || { NOTE="resumed across devices, other bits than an uninterrupted CPU run: ${bad[*]}"; return 1; }
  NOTE="GPU -> CPU and CPU -> GPU at step $steps, to $more: the bits of an uninterrupted CPU run"
}
step "bits: 1 vs 2 ranks" bits_ranks
step "bits: 1 rank vs 2 ranks over NCCL" bits_nccl
step "bits: GPU vs scalar CPU kernels" bits_cpu
step "bits: resume across devices" bits_resume
