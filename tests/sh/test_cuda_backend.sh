# The CUDA path is a library opened at run time (src/train/backend_load.c): cnn_ddp itself links no
# CUDA library, so a CPU run starts under a small address-space limit, and --device cuda / auto find
# libcnn_ddp_cuda.so beside the binary or through CNN_DDP_CUDA_BACKEND, refusing with one line (exit 2)
# when it cannot be loaded. In a build without CUDA there is no library: the refusals still hold.
source "$(dirname "$0")/common.sh"
ensure_data
BACKEND="$CD_BIN/libcnn_ddp_cuda.so"
run() { "$@" --data "$DATA" --max-steps 3 --no-ckpt --quiet; }
# expect_refusal NAME TEXT cmd...: exit 2 and exactly one line on stderr, containing TEXT
expect_refusal() {
  local name=$1 text=$2 rc=0; shift 2
  run "$@" > "$WORK/out" 2> "$WORK/err" || rc=$?
  [ "$rc" = 2 ] || { cat "$WORK/err"; fail "$name: exit $rc, expected 2"; }
  [ "$(wc -l < "$WORK/err")" = 1 ] || { cat "$WORK/err"; fail "$name: not one line on stderr"; }
  grep -qF -- "$text" "$WORK/err" || { cat "$WORK/err"; fail "$name: the message lacks '$text'"; }
}

# 1. The trainer does not link the CUDA runtime, NCCL or the driver (ldd: the whole closure).
libs=$(ldd "$CNN_DDP")
if grep -E 'lib(cudart|nccl|cuda)\.so' <<<"$libs"; then fail "$CNN_DDP links a CUDA library (above)"; fi
if [ -e "$BACKEND" ]; then
  blibs=$(ldd "$BACKEND")
  grep -q 'libcudart\.so' <<<"$blibs" || fail "$BACKEND does not link libcudart: is this the backend? ($blibs)"
  # NCCL is in it exactly when the build found NCCL (CNN_DDP_HAVE_NCCL in the CMake cache).
  if grep -q '^CNN_DDP_HAVE_NCCL:INTERNAL=ON$' "$CD_BIN/CMakeCache.txt"; then
    grep -q 'libnccl\.so' <<<"$blibs" || fail "$BACKEND does not link libnccl in a build that found NCCL ($blibs)"
  elif grep -q 'libnccl\.so' <<<"$blibs"; then fail "$BACKEND links libnccl in a build without NCCL"; fi
  # It exports its entry point alone: its copies of the project's code stay private.
  exports=$(nm -D --defined-only "$BACKEND" | awk '{print $3}')
  [ "$exports" = cd_backend_entry ] || fail "$BACKEND exports more than cd_backend_entry: $exports"
fi
pass "cnn_ddp links no CUDA library$([ -e "$BACKEND" ] && echo "; the backend links libcudart (and libnccl when built with it) and exports its entry alone")"

# 2. A CPU run under ulimit -v 200000 (KiB). Measured with this data (3 steps, one process): about 75 MB
# now; 270 MB when cnn_ddp linked libcudart + libnccl (libnccl alone maps 218 MB). 200 MB leaves the
# CPU run 2.6x its need and stays well below what the old binary needed. (Sanitizer builds reserve
# terabytes of shadow memory: not measurable this way.)
if grep -q 'libasan' <<<"$libs"; then
  echo "SKIP: ulimit -v under AddressSanitizer"
else
  ( ulimit -v 200000; run "$CNN_DDP" ) > "$WORK/out" 2>&1 || { cat "$WORK/out"; fail "a CPU run under ulimit -v 200000 failed"; }
  grep -q '^final: step 3' "$WORK/out" || { cat "$WORK/out"; fail "no final line under ulimit -v"; }
  pass "a CPU run trains under ulimit -v 200000"
fi

# 3. A backend that cannot be loaded: one line naming it and dlerror's reason, and how to get one.
expect_refusal "a missing CNN_DDP_CUDA_BACKEND" \
  "--device cuda: cannot load the CUDA backend named by CNN_DDP_CUDA_BACKEND: $WORK/none/libcnn_ddp_cuda.so: cannot open shared object file: No such file or directory (configure with -DCNN_DDP_CUDA=ON" \
  env CNN_DDP_CUDA_BACKEND="$WORK/none/libcnn_ddp_cuda.so" "$CNN_DDP" --device cuda
# An explicit override is never passed over, not even by auto.
expect_refusal "a missing CNN_DDP_CUDA_BACKEND under auto" "--device auto: cannot load the CUDA backend named by" \
  env CNN_DDP_CUDA_BACKEND="$WORK/none/libcnn_ddp_cuda.so" "$CNN_DDP" --device auto
zlib=$(awk '/libz\.so/ {print $3; exit}' <<<"$libs")
expect_refusal "a library that is no backend" "--device cuda: $zlib is not a cnn_ddp CUDA backend" \
  env CNN_DDP_CUDA_BACKEND="$zlib" "$CNN_DDP" --device cuda
expect_refusal "a backend of another build" \
  "--device cuda: the CUDA backend $CD_BIN/tests/libstale_backend.so was built from another cnn_ddp (interface" \
  env CNN_DDP_CUDA_BACKEND="$CD_BIN/tests/libstale_backend.so" "$CNN_DDP" --device cuda
# A binary with no library beside it (a copy; or a build without CUDA): cuda refuses, auto is the CPU.
mkdir "$WORK/lone" && cp "$CNN_DDP" "$WORK/lone/"
expect_refusal "no backend beside the binary" \
  "--device cuda: cannot load the CUDA backend: $WORK/lone/libcnn_ddp_cuda.so: cannot open shared object file" \
  "$WORK/lone/cnn_ddp" --device cuda
# A backend built without NCCL: --comm nccl is refused for that reason, --comm mpi (and auto) go on to
# the device count, here 0 with the runtime's error name.
expect_refusal "--comm nccl, a backend without NCCL" \
  "--comm nccl: the CUDA backend was built without NCCL; use --comm mpi" \
  env CNN_DDP_CUDA_BACKEND="$CD_BIN/tests/libnonccl_backend.so" "$CNN_DDP" --device cuda --comm nccl
expect_refusal "--comm mpi, a backend without NCCL and no GPU" \
  "--device cuda: no CUDA device is visible on this node (check nvidia-smi and CUDA_VISIBLE_DEVICES; the CUDA runtime says cudaErrorNoDevice)" \
  env CNN_DDP_CUDA_BACKEND="$CD_BIN/tests/libnonccl_backend.so" "$CNN_DDP" --device cuda --comm mpi
expect_refusal "--comm auto, a backend without NCCL and no GPU" "--device cuda: no CUDA device is visible on this node" \
  env CNN_DDP_CUDA_BACKEND="$CD_BIN/tests/libnonccl_backend.so" "$CNN_DDP" --device cuda
run "$WORK/lone/cnn_ddp" --device auto > "$WORK/out" 2> "$WORK/err" || { cat "$WORK/err"; fail "--device auto without a backend failed"; }
[ ! -s "$WORK/err" ] || { cat "$WORK/err"; fail "--device auto without a backend was not quiet"; }
pass "an unloadable backend is refused with one line (exit 2); auto without one trains on the CPU quietly"

# 4. With the backend and no GPU (CUDA_VISIBLE_DEVICES hides any): the refusal of old, with the
# runtime's reason, and auto trains on the CPU.
if [ -e "$BACKEND" ]; then
  expect_refusal "no GPU" "--device cuda: no CUDA device is visible on this node (check nvidia-smi and CUDA_VISIBLE_DEVICES; the CUDA runtime says cudaError" \
    env CUDA_VISIBLE_DEVICES= "$CNN_DDP" --device cuda
  CUDA_VISIBLE_DEVICES= run "$CNN_DDP" --device auto > "$WORK/out" 2>&1 || { cat "$WORK/out"; fail "--device auto without a GPU failed"; }
  # The same backend by the override, from the copy with none beside it.
  expect_refusal "no GPU, backend by CNN_DDP_CUDA_BACKEND" "--device cuda: no CUDA device is visible on this node" \
    env CUDA_VISIBLE_DEVICES= CNN_DDP_CUDA_BACKEND="$BACKEND" "$WORK/lone/cnn_ddp" --device cuda
  pass "with the backend and no GPU: --device cuda refused as before, auto trains on the CPU"
fi
