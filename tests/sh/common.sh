# Sourced by the system tests: finds the programs, prepares the data once, and runs MPI jobs the way a
# user on this kind of machine must (oversubscribed, and allowed as root).
set -euo pipefail
CD_BIN=${CD_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../build" && pwd)}
CD_SRC=${CD_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CNN_DDP="$CD_BIN/cnn_ddp"
DIGEST="$CD_BIN/tests/ckpt_digest"
DATA="$CD_BIN/test-data/mnist.h5"
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
# Quiet the 'no high-speed network found' chatter of single-node runs.
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cnn_ddp-test-XXXXXX")
# On any exit, end the jobs a test left in the background, then remove its files.
cleanup() {
  local rc=$?
  local pids; pids=$(jobs -p)
  [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "PASS: $*"; }

ensure_data() {
  mkdir -p "$(dirname "$DATA")"
  MNIST2H5="$CD_BIN/mnist2h5" bash "$CD_SRC/datasets/prepare_mnist.sh" "$DATA" >/dev/null
  [ -s "$DATA" ] || fail "could not prepare $DATA"
}

# mpirun_np N args...: N ranks of cnn_ddp on this machine.
mpirun_np() {
  local n=$1; shift
  mpirun --oversubscribe -np "$n" "$CNN_DDP" "$@"
}

# digest FILE [GROUP]: the bit-exact fingerprint of a checkpoint's tensors.
digest() { "$DIGEST" "$@"; }
