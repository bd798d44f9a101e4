#!/usr/bin/env bash
# elastic.sh [--max-restarts K] [--min-ranks M] [--hostfile F] NP [cnn_ddp args...] — cnn_ddp that
# restarts itself on the ranks left when a rank or a node is lost, and still ends with exactly the bits
# of a run that lost nothing (the global batch does not depend on the rank count, and resume is exact).
#
#   launch/elastic.sh 4 --data datasets/mnist.h5 --epochs 5 --ckpt-dir ckpt/run1
#   launch/elastic.sh --hostfile hosts --min-ranks 16 32 --data /shared/mnist.h5 --ckpt-dir /shared/ckpt/r1
#
# The job runs through launch/run_local.sh (no --hostfile: every rank on this machine) or
# launch/run_multinode.sh (--hostfile, Open MPI's format). When it ends with a failure a restart can
# cure, the script runs it again with --resume on fewer ranks, at most K times (--max-restarts, default
# 3) and never on fewer than M ranks (--min-ranks, default 1), printing each restart with its reason and
# new rank count; it exits with the last job's status. What is restarted (the status table of the
# README, "Elastic runs"):
#   75                 cnn_ddp: a communication failure or a lost peer (CD_E_COMM), or the watchdog
#                      (--timeout) ended a rank that made no progress; mpirun's status 75 likewise
#   137, or mpirun's   a rank killed by SIGKILL (kill -9, the OOM killer): "exited on signal 9",
#   "signal 9"         Hydra's "KILLED BY SIGNAL: 9"
#   mpirun's "lost     a node gone (Open MPI: "lost communication with a remote daemon", "daemon ...
#   communication"     failed"; ssh "unreachable"/"could not resolve"/"connection refused")
# and what never is: 0 (done), 2 (a bad option, data file, model or checkpoint), 1 (a NaN, divergence,
# an I/O error, a bug, another signal such as SIGSEGV), 143/130 (stopped by SIGTERM/SIGINT: the user's
# or the scheduler's wish, not a failure), and a TERM/INT to this script (passed on; no restart).
# The ranks left: with --hostfile, the hostfile minus the hosts a node-level failure names (a lost
# daemon, ssh unreachable), NP capped by the slots left; NP-1 on the same hosts when none is named (a
# killed rank's host is still there); locally NP-1.
# Defaults it adds: --ckpt-every 100 unless given (a restart loses at most 100 steps; see the README for
# the measured cost), --resume on every restart (a --resume FILE of the first run becomes --resume, the
# newest checkpoint; --overwrite is dropped after the first run). Refused: --no-ckpt (nothing to resume
# from) and --batch-per-rank (its global batch follows the rank count, so a smaller restart could not
# resume the run).
# Each restart's reason goes to the ranks as CNN_DDP_RESTART_REASON, which cnn_ddp records in the run
# history of its checkpoints (`cnn_ddp info`) and in the metrics file ({"type":"segment"}).
# Environment: as run_local.sh / run_multinode.sh (CNN_DDP_BIN, MPIRUN, MPIRUN_EXTRA, ...).
set -euo pipefail

usage() {
    echo "usage: $0 [--max-restarts K] [--min-ranks M] [--hostfile F] NP [cnn_ddp args...]" >&2
    exit 2
}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
int_arg() { [[ $2 =~ ^[0-9]+$ ]] || { echo "$0: $1: expected a non-negative integer, got '$2'" >&2; usage; }; }

max_restarts=3 min_ranks=1 hostfile=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --max-restarts) [[ $# -ge 2 ]] || usage; int_arg "$1" "$2"; max_restarts=$2; shift 2 ;;
        --max-restarts=*) int_arg --max-restarts "${1#*=}"; max_restarts=${1#*=}; shift ;;
        --min-ranks) [[ $# -ge 2 ]] || usage; int_arg "$1" "$2"; min_ranks=$2; shift 2 ;;
        --min-ranks=*) int_arg --min-ranks "${1#*=}"; min_ranks=${1#*=}; shift ;;
        --hostfile) [[ $# -ge 2 ]] || usage; hostfile=$2; shift 2 ;;
        --hostfile=*) hostfile=${1#*=}; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 0 ;;
        *) break ;;
    esac
done
[[ $# -ge 1 ]] || usage
np=$1
shift
[[ $np =~ ^[1-9][0-9]*$ ]] || { echo "$0: NP: expected a positive integer, got '$np'" >&2; usage; }
(( min_ranks >= 1 )) || { echo "$0: --min-ranks: expected at least 1, got $min_ranks" >&2; usage; }
(( min_ranks <= np )) || { echo "$0: --min-ranks $min_ranks is more than NP $np" >&2; exit 2; }
if [[ -n $hostfile && ! -r $hostfile ]]; then echo "$0: --hostfile $hostfile: cannot read it" >&2; exit 2; fi

# shellcheck source=launch/elastic_status.sh
source "$here/elastic_status.sh"

# The user's options as given, and what a restart runs instead.
user=("$@")
has_ckpt_every=0
for a in "${user[@]}"; do
    case $a in
        --no-ckpt) echo "$0: --no-ckpt: an elastic run restarts from its checkpoints; drop --no-ckpt" >&2; exit 2 ;;
        --batch-per-rank | --batch-per-rank=*)
            echo "$0: --batch-per-rank: the global batch would follow the rank count, so a restart on fewer ranks" \
                 "could not resume the run; give the global batch (--batch)" >&2; exit 2 ;;
        --ckpt-every | --ckpt-every=*) has_ckpt_every=1 ;;
    esac
done
[[ -n ${CNN_DDP_NO_CKPT:-} && ${CNN_DDP_NO_CKPT} != 0 && ${CNN_DDP_NO_CKPT} != false ]] &&
    { echo "$0: CNN_DDP_NO_CKPT: an elastic run restarts from its checkpoints; unset it" >&2; exit 2; }
[[ -n ${CNN_DDP_CKPT_EVERY:-} ]] && has_ckpt_every=1
first=("${user[@]}")
(( has_ckpt_every )) || first+=(--ckpt-every "$ELASTIC_CKPT_EVERY")
again=()
for ((i = 0; i < ${#first[@]}; i++)); do
    case ${first[i]} in
        --overwrite | --resume=*) ;;
        --resume) [[ $((i + 1)) -lt ${#first[@]} && ${first[i + 1]} != --* ]] && i=$((i + 1)) ;;
        *) again+=("${first[i]}") ;;
    esac
done
again+=(--resume)

log=$(mktemp "${TMPDIR:-/tmp}/cnn_ddp-elastic.XXXXXX")
fifo=$log.fifo
hosts=""
[[ -n $hostfile ]] && hosts=$(mktemp "${TMPDIR:-/tmp}/cnn_ddp-elastic-hosts.XXXXXX") &&
    sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$hostfile" > "$hosts"
trap 'rm -f "$log" "$fifo" ${hosts:+"$hosts"}' EXIT

child="" caught=""
forward() {
    caught=$1
    if [[ -n $child ]]; then kill -s "$1" "$child" 2>/dev/null || true; fi
}
trap 'forward TERM' TERM
trap 'forward INT' INT

# run_job NP ARGS...: one job through the launch script; its status in $rc, its stderr (also passed
# through) in $log.
run_job() {
    local n=$1
    shift
    : > "$log"
    rm -f "$fifo"
    mkfifo "$fifo"
    # The copy ignores TERM/INT, so a Ctrl-C cannot cut the job's last lines (and its status) short.
    (trap '' INT TERM; exec tee -a "$log" < "$fifo" >&2) &
    local copy=$!
    if [[ -n $hostfile ]]; then
        bash "$here/run_multinode.sh" "$hosts" "$n" "$@" 2> "$fifo" &
    else
        bash "$here/run_local.sh" "$n" "$@" 2> "$fifo" &
    fi
    child=$!
    rc=0
    # A trapped signal interrupts wait; wait again until the job has really ended.
    while kill -0 "$child" 2>/dev/null; do wait "$child" 2>/dev/null || true; done
    wait "$child" 2>/dev/null || rc=$?
    child=""
    wait "$copy" 2>/dev/null || true
}

restarts=0
unset CNN_DDP_RESTART_REASON
run_job "$np" "${first[@]}"
while :; do
    [[ -n $caught ]] && { echo "elastic: $caught received: not restarting; status $rc" >&2; exit "$rc"; }
    reason=$(elastic_reason "$rc" "$log")
    [[ -n $reason ]] || exit "$rc"
    if (( restarts >= max_restarts )); then
        echo "elastic: $reason; not restarting: --max-restarts $max_restarts reached; status $rc" >&2
        exit "$rc"
    fi
    if [[ -n $hostfile ]]; then
        failed=$(elastic_failed_hosts "$log")
        next=$np
        if [[ -n $failed ]]; then
            elastic_drop_hosts "$hosts" "$failed"
            slots=$(elastic_slots "$hosts")
            (( slots < next )) && next=$slots
            reason="$reason; dropped host(s) $(paste -sd ' ' <<<"$failed")"
        fi
        [[ -n $failed ]] || next=$((np - 1))
    else
        next=$((np - 1))
    fi
    if (( next < min_ranks )); then
        echo "elastic: $reason; not restarting: $next rank(s) left, below --min-ranks $min_ranks; status $rc" >&2
        exit "$rc"
    fi
    restarts=$((restarts + 1))
    echo "elastic: restart $restarts of at most $max_restarts: $reason (status $rc); resuming on $next rank(s)" >&2
    np=$next
    export CNN_DDP_RESTART_REASON="$reason"
    unset CNN_DDP_RESUME CNN_DDP_OVERWRITE
    run_job "$np" "${again[@]}"
done
