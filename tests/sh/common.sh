# Sourced by the system tests: finds the programs, prepares the data once, and runs MPI jobs the way a
# user on this kind of machine must (oversubscribed, and allowed as root), under Open MPI's mpirun or
# MPICH's Hydra (mpirun.mpich), whichever cnn_ddp is linked with.
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

# The MPI launcher. CD_MPIRUN names it; by default it is the one of the MPI that cnn_ddp is linked
# with (mpirun.mpich for libmpich, else Open MPI's mpirun). A launcher of the other MPI would start N
# separate 1-rank jobs, and a rank-identity test would then pass without testing anything, so a
# mismatch is refused. MPIRUN is the launcher with its flags, for tests that need its pid ($!):
#   "${MPIRUN[@]}" -np 2 "$CNN_DDP" ... &
# Open MPI needs --oversubscribe for more ranks than cores; MPICH's Hydra oversubscribes by itself.
# (ldd's output is read whole first: piped into grep -q, ldd may die of SIGPIPE, and under pipefail that
# would read as "not MPICH")
CD_MPI=openmpi
cd_libs=$(ldd "$CNN_DDP" 2>/dev/null || true)
if grep -q 'libmpich\.so' <<<"$cd_libs"; then CD_MPI=mpich; fi
if [ -z "${CD_MPIRUN:-}" ]; then
  if [ "$CD_MPI" = mpich ]; then CD_MPIRUN=mpirun.mpich
  elif command -v mpirun.openmpi >/dev/null; then CD_MPIRUN=mpirun.openmpi
  else CD_MPIRUN=mpirun; fi
fi
case "$("$CD_MPIRUN" --version 2>&1 || true)" in
  *HYDRA*) CD_LAUNCHER=mpich; MPIRUN=("$CD_MPIRUN") ;;
  *"Open MPI"* | *OpenRTE*) CD_LAUNCHER=openmpi; MPIRUN=("$CD_MPIRUN" --oversubscribe) ;;
  *) CD_LAUNCHER=unknown; MPIRUN=("$CD_MPIRUN") ;;
esac
export CD_MPI CD_MPIRUN CD_LAUNCHER
if command -v "$CD_MPIRUN" >/dev/null && [ "$CD_LAUNCHER" != "$CD_MPI" ]; then
  echo "FAIL: $CNN_DDP is linked with $CD_MPI but the launcher $CD_MPIRUN is $CD_LAUNCHER's (set CD_MPIRUN)" >&2
  exit 1
fi

# mpirun_np N args...: N ranks of cnn_ddp on this machine.
mpirun_np() {
  local n=$1; shift
  command -v "$CD_MPIRUN" >/dev/null || fail "MPI launcher $CD_MPIRUN not found"
  "${MPIRUN[@]}" -np "$n" "$CNN_DDP" "$@"
}
# rank_of_pid PID: the MPI rank of a running process, from the environment its launcher gave it.
# Prints nothing for a process that is gone.
rank_of_pid() {
  local env
  env=$(tr '\0' '\n' < "/proc/$1/environ" 2>/dev/null) || return 0
  echo "$env" | sed -n 's/^\(OMPI_COMM_WORLD_RANK\|PMI_RANK\)=//p;T;q'
}

# digest FILE [GROUP]: the bit-exact fingerprint of a checkpoint's tensors.
digest() { "$DIGEST" "$@"; }

# refused_one_line LABEL PATTERN COMMAND...: COMMAND exits 2 with exactly one line, "cnn_ddp: error: "
# followed by the extended regex PATTERN.
refused_one_line() {
  local label=$1 pattern=$2 out rc=0
  shift 2
  out=$("$@" 2>&1 </dev/null) || rc=$?
  [ "$rc" = 2 ] || fail "$label: exit status $rc, expected 2 ($out)"
  [ "$(wc -l <<<"$out")" = 1 ] || fail "$label: expected one line: $out"
  grep -Eq -- "^cnn_ddp: error: $pattern" <<<"$out" || fail "$label: message does not match '$pattern': $out"
  pass "$label: $out"
}
