# How ranks are placed on GPUs and how the NCCL comm is started and let go (src/train/device.c), under
# mpirun and without a GPU: tests/tools/fake_cuda_backend.c stands in for libcnn_ddp_cuda.so, with
# "GPUs" the environment describes, the CPU replica, and a "NCCL" comm over the host comm. Checked:
# one GPU per rank (CUDA_VISIBLE_DEVICES / srun --gpus-per-task=1: every rank sees its own as device 0)
# trains; two ranks on one GPU are refused with NCCL and shared with --comm mpi; a runtime that cannot
# count its GPUs is refused naming its error, under auto too; the comm gets --timeout as its limit and
# is finalized after a clean run, abandoned (ncclCommAbort) after a failed one; a comm that hangs
# while starting or ending is ended by the watchdog naming "in NCCL init" / "in NCCL teardown", and
# a bounded wait that beats the watchdog is not. Only in builds with CUDA (the fake needs PIC libraries).
source "$(dirname "$0")/common.sh"
FAKE="$CD_BIN/tests/libfake_cuda_backend.so"
[ -e "$FAKE" ] || { echo "SKIP: no $FAKE (a build without CUDA)"; exit 77; }
ensure_data
export CNN_DDP_CUDA_BACKEND="$FAKE" CD_FAKE_LOG="$WORK/log"
args=(--data "$DATA" --max-steps 3 --no-ckpt)
# job N args...: N ranks (1: no mpirun); stdout in $WORK/out, stderr in $WORK/err, the status in $rc
job() {
  local n=$1; shift
  rm -f "$WORK/log"; touch "$WORK/log"
  rc=0
  if [ "$n" = 1 ]; then timeout 120 "$CNN_DDP" "${args[@]}" "$@" > "$WORK/out" 2> "$WORK/err" || rc=$?
  else timeout 120 "${MPIRUN[@]}" -np "$n" "$CNN_DDP" "${args[@]}" "$@" > "$WORK/out" 2> "$WORK/err" || rc=$?; fi
}
show() { cat "$WORK/out" "$WORK/err" "$WORK/log"; }
# expect_refusal TEXT: exit 2 and exactly one cnn_ddp error line, containing TEXT
expect_refusal() {
  [ "$rc" = 2 ] || { show; fail "exit $rc, expected 2 ($1)"; }
  [ "$(grep -c '^cnn_ddp: error' "$WORK/err")" = 1 ] || { show; fail "not one error line ($1)"; }
  grep -qF -- "cnn_ddp: error: $1" "$WORK/err" || { show; fail "the message lacks '$1'"; }
}
count() { grep -cxF -- "$1" "$WORK/log" || true; }

# 1. Each rank its own GPU, seen as device 0 (the old rule, local rank < GPUs seen, refused rank 1).
CD_FAKE_GPUS=1 CD_FAKE_BUS=rank job 2 --device cuda --timeout 30
[ "$rc" = 0 ] || { show; fail "one GPU per rank: exit $rc"; }
[ "$(count 'rank 0: replica device 0')$(count 'rank 1: replica device 0')" = 11 ] || { show; fail "not device 0 on each rank"; }
[ "$(count 'rank 0: comm device 0 limit 30')$(count 'rank 1: comm device 0 limit 30')" = 11 ] \
  || { show; fail "the NCCL comm did not get --timeout 30 as its limit"; }
[ "$(count 'rank 0: comm finalize')$(count 'rank 1: comm finalize')$(grep -c abandon "$WORK/log" || true)" = 110 ] \
  || { show; fail "a clean run did not finalize its comm on every rank (or abandoned it)"; }
grep -q 'gradients summed with nccl$' "$WORK/out" || { show; fail "no NCCL sum in the banner"; }
# Every rank sees the node's 2 GPUs: local rank r takes device r.
CD_FAKE_GPUS=2 job 2 --device cuda
[ "$rc" = 0 ] && [ "$(count 'rank 0: replica device 0')$(count 'rank 1: replica device 1')" = 11 ] \
  || { show; fail "2 ranks on 2 visible GPUs did not take devices 0 and 1"; }
pass "one GPU per rank (each sees its own as device 0) trains with NCCL; 2 visible GPUs go by local rank"

# 2. Two ranks on one GPU: refused with NCCL, shared with --comm mpi (round-robin, noted in the banner).
CD_FAKE_GPUS=1 job 2 --device cuda
expect_refusal "--device cuda: ranks 0 and 1 are on one GPU (the same machine and PCI bus id), and NCCL needs a GPU for each rank"
grep -q 'add --comm mpi' "$WORK/err" || { show; fail "the refusal does not say --comm mpi"; }
[ ! -s "$WORK/log" ] || { show; fail "a replica or comm was made before the refusal"; }
CD_FAKE_GPUS=1 job 2 --device cuda --comm mpi
[ "$rc" = 0 ] || { show; fail "--comm mpi on one shared GPU: exit $rc"; }
grep -q '(ranks share GPUs), gradients summed with mpi$' "$WORK/out" || { show; fail "no sharing note"; }
[ "$(count 'rank 0: replica device 0')$(count 'rank 1: replica device 0')$(grep -c comm "$WORK/log" || true)" = 110 ] \
  || { show; fail "the shared run did not put both ranks on device 0 without an NCCL comm"; }
# --device auto with the default comm: the CPU, as with too few GPUs.
CD_FAKE_GPUS=1 job 2 --device auto
[ "$rc" = 0 ] && ! grep -q '^device:' "$WORK/out" && [ ! -s "$WORK/log" ] || { show; fail "auto on a shared GPU did not run on the CPU"; }
pass "two ranks on one GPU: refused with NCCL, shared with --comm mpi, the CPU under auto"

# 3. The runtime cannot count the GPUs: its error, under auto too (no quiet fall-back to the CPU).
CD_FAKE_GPUS=-1 job 1 --device cuda
expect_refusal "--device cuda: the CUDA runtime cannot count this node's GPUs: cudaGetDeviceCount says cudaErrorSystemDriverMismatch"
CD_FAKE_GPUS=-1 job 1 --device auto
expect_refusal "--device auto: the CUDA runtime cannot count this node's GPUs"
CD_FAKE_GPUS=0 job 1 --device cuda
expect_refusal "--device cuda: no CUDA device is visible on this node (check nvidia-smi and CUDA_VISIBLE_DEVICES; the CUDA runtime says cudaErrorNoDevice)"
CD_FAKE_GPUS=0 job 1 --device auto
[ "$rc" = 0 ] && [ ! -s "$WORK/err" ] || { show; fail "auto without a GPU did not train quietly on the CPU"; }
pass "a failing runtime is refused with its error name; no GPU: cuda refused, auto on the CPU"

# 4. A failed run abandons its comm (ncclCommAbort) on every rank instead of finalizing it.
CNN_DDP_FAULT=nan:1:1 CD_FAKE_GPUS=1 CD_FAKE_BUS=rank job 2 --device cuda
[ "$rc" = 1 ] || { show; fail "a NaN on rank 1: exit $rc, expected 1"; }
[ "$(count 'rank 0: comm abandon')$(count 'rank 1: comm abandon')$(grep -c finalize "$WORK/log" || true)" = 110 ] \
  || { show; fail "a failed run did not abandon its comm on every rank (or finalized it)"; }
pass "a failed run abandons the NCCL comm on every rank"

# 5. The watchdog covers NCCL's start and end, and names them; a wait that beats it is not cut short.
start=$SECONDS
CD_FAKE_STALL=init job 1 --device cuda --timeout 5
[ "$rc" = 75 ] && grep -q 'no progress for [0-9]* s in NCCL init' "$WORK/err" || { show; fail "a hung NCCL init: exit $rc"; }
CD_FAKE_STALL=teardown job 1 --device cuda --timeout 5
[ "$rc" = 75 ] && grep -q 'no progress for [0-9]* s in NCCL teardown' "$WORK/err" \
  || { show; fail "a hung NCCL teardown: exit $rc"; }
[ $((SECONDS - start)) -lt 40 ] || fail "the two hangs took $((SECONDS - start)) s to end (--timeout 5)"
CD_FAKE_STALL=slowinit job 1 --device cuda --timeout 5
[ "$rc" = 0 ] && grep -q '^final: step 3' "$WORK/out" || { show; fail "an 8 s init that beats the watchdog was cut short"; }
pass "a hung NCCL init or teardown ends within --timeout, named; a beating 8 s init under --timeout 5 is not cut"
