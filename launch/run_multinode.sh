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
# binary ($CNN_DDP_BIN or build/cnn_ddp of this repository; for --device cuda with libcnn_ddp_cuda.so
# beside it) and --data on every host; --ckpt-dir on
# shared storage, so that --resume finds the newest checkpoint whichever node rank 0 lands on.
# Open MPI's mpirun or MPICH's (MPIRUN=mpirun.mpich, Hydra): HOSTFILE is in Open MPI's format
# ("node01 slots=16", see launch/hostfile.example); for Hydra it is rewritten to "node01:16", and
# Hydra passes the whole environment to the ranks by itself. cnn_ddp must be built with that MPI.
# SIGTERM/SIGINT to this script go to mpirun, which hands them to every rank; the script exits 143/130
# when cnn_ddp reports its stop (mpirun itself says 1 then, see launch/mpi_launch.sh). Open MPI hands the
# ranks SIGTERM after odls_base_sigkill_timeout seconds (1) and SIGKILLs them as long after that: when a
# step plus a checkpoint write takes longer, MPIRUN_EXTRA="--mca odls_base_sigkill_timeout 30".
# Every rank's watchdog (--timeout, from before MPI_Init) bounds a start-up that never completes.
# Environment: MPIRUN (mpirun to use), MPIRUN_EXTRA (more mpirun options), CNN_DDP_IFACE (network
# interface for MPI traffic, e.g. eth0 or ib0, when hosts have several and the default picks a slow or
# unreachable one), RUN_MULTINODE_DRY=1 (print the command instead of running it).
set -euo pipefail

usage() { echo "usage: $0 HOSTFILE NP [cnn_ddp args...]" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
hostfile=$1 np=$2
shift 2
[[ -r $hostfile ]] || { echo "$0: $hostfile: cannot read the hostfile" >&2; exit 2; }
[[ $np =~ ^[1-9][0-9]*$ ]] || { echo "$0: NP: expected a positive integer, got '$np'" >&2; usage; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${CNN_DDP_BIN:-$root/build/cnn_ddp}
[[ -x $bin ]] || { echo "$0: $bin: no executable cnn_ddp there (build it, or set CNN_DDP_BIN)" >&2; exit 1; }
mpirun=${MPIRUN:-mpirun}
command -v "$mpirun" >/dev/null || { echo "$0: $mpirun: not found (install Open MPI, or set MPIRUN)" >&2; exit 1; }
# shellcheck source=launch/mpi_launch.sh
source "$here/mpi_launch.sh"
flavour=$(mpi_flavour "$mpirun")

if [[ $flavour == hydra ]]; then
    # "NAME slots=N" -> "NAME:N"; comments and blank lines dropped; "NAME" or "NAME:N" kept as is.
    hydra_hosts=$(mktemp "${TMPDIR:-/tmp}/cnn_ddp-hosts.XXXXXX")
    trap 'rm -f "$hydra_hosts"' EXIT
    sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e '/^$/d' \
        -e 's/^\([^[:space:]]*\).*[[:space:]]slots=\([0-9][0-9]*\).*/\1:\2/' "$hostfile" > "$hydra_hosts"
    opts=(-np "$np" -f "$hydra_hosts" -bind-to core -map-by core)
    [[ -n ${CNN_DDP_IFACE:-} ]] && opts+=(-iface "$CNN_DDP_IFACE")
else
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
fi
# shellcheck disable=SC2206 # MPIRUN_EXTRA is a list of options on purpose
extra=(${MPIRUN_EXTRA:-})

cmd=("$mpirun" "${opts[@]}" "${extra[@]}" "$bin" "$@")
if [[ ${RUN_MULTINODE_DRY:-0} == 1 ]]; then
    printf '%q ' "${cmd[@]}"; echo
    [[ $flavour == hydra ]] && sed 's/^/# hostfile: /' "$hydra_hosts"
    exit 0
fi
# Ranks on other hosts are out of this script's reach: signals go to mpirun (mpi_run 0).
mpi_run 0 "$bin" "${cmd[@]}"
