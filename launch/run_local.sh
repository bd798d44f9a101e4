#!/usr/bin/env bash
# run_local.sh NP [cnn_ddp args...] — run cnn_ddp with NP MPI ranks on this machine.
#
#   launch/run_local.sh 2 --data datasets/mnist.h5 --model seed --epochs 1
#   CNN_DDP_BIN=build-rel/cnn_ddp launch/run_local.sh 4 --model exercise --max-steps 200
#
# What it does for you:
# - finds the binary: $CNN_DDP_BIN, else build/cnn_ddp under the repository root;
# - NP <= cores: binds each rank to one core (--map-by core --bind-to core), so a rank keeps its core
#   and its warm caches; NP > cores: adds --oversubscribe and --bind-to none (binding more ranks than
#   cores would stack them on the same cores), and Open MPI then yields when idle instead of spinning.
#   Measured on the shared 2-core dev VM (load ~5 from other jobs), seed net, 2 ranks, 1 epoch, 5
#   alternating runs each: core 2493 img/s median, none 2567 — no difference within the noise there.
#   Binding is the usual win on an idle dedicated node (not measurable here); on a busy shared box
#   a bound rank cannot dodge a loaded core, so try CNN_DDP_BIND=none there;
# - as root (containers, CI): sets OMPI_ALLOW_RUN_AS_ROOT{,_CONFIRM}=1, which mpirun otherwise refuses;
# - NP=1 still goes through mpirun, so one rank behaves exactly like N ranks;
# - Open MPI's mpirun or MPICH's (MPIRUN=mpirun.mpich: Hydra oversubscribes without being told and
#   needs nothing as root; its binding options are -bind-to/-map-by), told apart by `$MPIRUN --version`;
#   cnn_ddp must be built with the same MPI (else it refuses to start, exit 2);
# - SIGTERM/SIGINT to this script go to the ranks, which checkpoint and stop; the script then exits
#   143/130, whatever mpirun returned (see launch/mpi_launch.sh), 1 on a failure, 0 when done;
#   mpirun's SIGTERM-to-SIGKILL grace (odls_base_sigkill_timeout) does not apply to that path;
# - a rank that never gets through MPI_Init is bounded by cnn_ddp's own watchdog (--timeout).
# Environment: CNN_DDP_BIN (binary), CNN_DDP_BIND (core|none|socket: override the binding),
#   MPIRUN (mpirun to use), MPIRUN_EXTRA (more mpirun options, word-split), RUN_LOCAL_DRY=1 (print the
#   command instead of running it).
# `mpirun -np 2 hostname` and an MPI_Allreduce test print no transport warnings on this machine
# (Open MPI 4.1, shared memory via vader), so no --mca noise suppression is added.
set -euo pipefail

usage() {
    echo "usage: $0 NP [cnn_ddp args...]   (NP = number of MPI ranks, >= 1)" >&2
    exit 2
}

[[ $# -ge 1 ]] || usage
np=$1
shift
[[ $np =~ ^[1-9][0-9]*$ ]] || { echo "$0: NP: expected a positive integer, got '$np'" >&2; usage; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${CNN_DDP_BIN:-$root/build/cnn_ddp}
if [[ ! -x $bin ]]; then
    echo "$0: $bin: no executable cnn_ddp there (build it, or set CNN_DDP_BIN)" >&2
    exit 1
fi

mpirun=${MPIRUN:-mpirun}
command -v "$mpirun" >/dev/null || { echo "$0: $mpirun: not found (install Open MPI, or set MPIRUN)" >&2; exit 1; }
# shellcheck source=launch/mpi_launch.sh
source "$here/mpi_launch.sh"
flavour=$(mpi_flavour "$mpirun")

cores=$(nproc)
opts=(-np "$np")
bind=${CNN_DDP_BIND:-}
if (( np > cores )); then
    [[ $flavour == hydra ]] || opts+=(--oversubscribe)
    bind=${bind:-none}
else
    bind=${bind:-core}
fi
if [[ $flavour == hydra ]]; then
    opts+=(-bind-to "$bind")
    [[ $bind == core ]] && opts+=(-map-by core)
elif [[ $bind == core ]]; then
    opts+=(--map-by core --bind-to core)
else
    opts+=(--bind-to "$bind")
fi
if [[ $flavour != hydra && $(id -u) -eq 0 ]]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# shellcheck disable=SC2206 # MPIRUN_EXTRA is a list of options on purpose
extra=(${MPIRUN_EXTRA:-})

cmd=("$mpirun" "${opts[@]}" "${extra[@]}" "$bin" "$@")
if [[ ${RUN_LOCAL_DRY:-0} == 1 ]]; then
    printf '%q ' "${cmd[@]}"
    echo
    exit 0
fi
mpi_run 1 "$bin" "${cmd[@]}"
