#!/usr/bin/env bash
# run_multinode.sh HOSTFILE NP [cnn_ddp args...] — cnn_ddp over several machines with plain mpirun + ssh.
#
#   cp launch/hostfile.example hosts && $EDITOR hosts
#   launch/run_multinode.sh hosts 32 --data /shared/mnist.h5 --model exercise --epochs 10 \
#       --ckpt-dir /shared/ckpt/run1 --ckpt-every 500 --resume
#
# A worked example more than a tool: read it and adapt it to your cluster. Under Slurm use
# launch/slurm.sbatch instead (srun knows the allocation; no hostfile, no ssh).
# Requirements: passwordless ssh from this machine to every host in HOSTFILE; the same paths for the
# binary ($CNN_DDP_BIN or build/cnn_ddp of this repository) and --data on every host; --ckpt-dir on
# shared storage, so that --resume finds the newest checkpoint whichever node rank 0 lands on.
# Environment: MPIRUN_EXTRA (more mpirun options), CNN_DDP_IFACE (network interface for MPI traffic,
# e.g. eth0 or ib0, when hosts have several and the default picks a slow or unreachable one),
# RUN_MULTINODE_DRY=1 (print the command instead of running it).
set -euo pipefail

usage() { echo "usage: $0 HOSTFILE NP [cnn_ddp args...]" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
hostfile=$1 np=$2
shift 2
[[ -r $hostfile ]] || { echo "$0: $hostfile: cannot read the hostfile" >&2; exit 2; }
[[ $np =~ ^[1-9][0-9]*$ ]] || { echo "$0: NP: expected a positive integer, got '$np'" >&2; usage; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${CNN_DDP_BIN:-$root/build/cnn_ddp}
[[ -x $bin ]] || { echo "$0: $bin: no executable cnn_ddp there (build it, or set CNN_DDP_BIN)" >&2; exit 1; }

opts=(
    -np "$np" --hostfile "$hostfile"
    --map-by core --bind-to core   # fill each host's slots in order, one core per rank
    -x PATH                        # same PATH on the remote ranks as here
)
[[ -n ${LD_LIBRARY_PATH:-} ]] && opts+=(-x LD_LIBRARY_PATH)
# cnn_ddp reads every option also from CNN_DDP_<OPTION>; export those to the remote ranks too.
while IFS='=' read -r name _; do
    [[ $name == CNN_DDP_* ]] && opts+=(-x "$name")
done < <(env)
if [[ -n ${CNN_DDP_IFACE:-} ]]; then
    # TCP for the data plane and the out-of-band channel both on that interface.
    opts+=(--mca btl_tcp_if_include "$CNN_DDP_IFACE" --mca oob_tcp_if_include "$CNN_DDP_IFACE")
fi
if [[ $(id -u) -eq 0 ]]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# shellcheck disable=SC2206 # MPIRUN_EXTRA is a list of options on purpose
extra=(${MPIRUN_EXTRA:-})

cmd=(mpirun "${opts[@]}" "${extra[@]}" "$bin" "$@")
if [[ ${RUN_MULTINODE_DRY:-0} == 1 ]]; then
    printf '%q ' "${cmd[@]}"; echo; exit 0
fi
# mpirun forwards SIGTERM/SIGINT to every rank; cnn_ddp then stops at the next step boundary after a
# checkpoint and exits 143/130, so a rerun with --resume continues where it stopped.
exec "${cmd[@]}"
