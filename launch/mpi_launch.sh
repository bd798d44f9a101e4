# Sourced by run_local.sh and run_multinode.sh: which mpirun this is (the option syntax differs), and
# running it so that a stop by SIGTERM/SIGINT ends the script with 143/130 whatever mpirun returns.
#
# Why the translation (measured on this machine, 2 ranks, cnn_ddp stopping cleanly each time):
# - Open MPI 4.1's mpirun, signalled itself (TERM or INT), exits 1: it records 1 as the job's status
#   at once (first non-zero wins), sends the ranks SIGCONT, then SIGTERM N s later, then SIGKILL N s
#   after that, N = odls_base_sigkill_timeout (default 1; strace of 4.1.4). Stopped ranks wait in
#   MPI_Finalize until the SIGKILL, so cnn_ddp writes its checkpoint and stop line before any
#   collective of the stop. --mca odls_base_sigkill_timeout 10 (MPIRUN_EXTRA) lets the ranks exit 143
#   by themselves, but delays their SIGTERM by 10 s too and mpirun still says 1: not a default here.
#   Raise it only when one step plus one checkpoint write takes longer than N s.
# - MPICH 4.0's mpiexec (Hydra), signalled itself, forwards the signal and then exits 143/130 or 0,
#   by a race: 0 for a stopped job.
# - Either one passes the ranks' 143/130 through when only the ranks are signalled.
# So on TERM/INT this script signals the ranks itself where it can see them (this machine), else
# mpirun, and afterwards trusts cnn_ddp's stop line ("cnn_ddp: stopped by signal at step ...",
# printed by rank 0 after its checkpoint) over mpirun's status. Still 1 or 0: a signal that reaches
# mpirun both directly and through this script (a scheduler signalling every process) on several
# hosts, when mpirun gives up at the second one before any stop line.

# mpi_flavour MPIRUN -> openmpi, hydra (MPICH, Intel MPI) or unknown
mpi_flavour() {
    local v
    v=$("$1" --version 2>&1 | head -n 5) || true
    case $v in
        *"Open MPI"* | *OpenRTE*) echo openmpi ;;
        *HYDRA* | *"Intel(R) MPI"*) echo hydra ;;
        *) echo unknown ;;
    esac
}

# mpi_signum NAME -> the number (TERM 15, INT 2)
mpi_signum() { case $1 in TERM) echo 15 ;; INT) echo 2 ;; *) kill -l "$1" ;; esac; }

# mpi_exit_status RC CAUGHT STOPLINE -> the status to exit with: mpirun's status RC; CAUGHT, the
# signal this script got (TERM, INT or empty); STOPLINE, cnn_ddp's stop line if it printed one.
mpi_exit_status() {
    local rc=$1 caught=$2 stopline=$3
    if [[ -n $stopline ]]; then
        if [[ -n $caught ]]; then echo $((128 + $(mpi_signum "$caught")))
        elif [[ $rc == 130 || $rc == 143 ]]; then echo "$rc"
        else echo 143   # mpirun was signalled by someone else; Open MPI hands the ranks SIGTERM
        fi
    elif [[ -n $caught && $rc == 0 ]]; then
        echo $((128 + $(mpi_signum "$caught")))   # a launcher that lost the signal must not say 0
    else
        echo "$rc"
    fi
}

# mpi_ranks PID BIN -> the pids of PID's descendant processes running BIN
mpi_ranks() {
    local exe p want
    want=$(readlink -f "$2")
    for p in $(ps -e -o pid=,ppid= | awk -v root="$1" '{ up[$1] = $2 }
            END { for (p in up) { q = p; while ((q in up) && q != root && q > 1) q = up[q]; if (q == root && p != root) print p } }'); do
        exe=$(readlink -f "/proc/$p/exe" 2>/dev/null) || continue
        [[ $exe == "$want" ]] && echo "$p"
    done
    return 0
}

_mpi_forward() {
    _mpi_caught=$1
    local pids=""
    (( _mpi_local )) && pids=$(mpi_ranks "$_mpi_job" "$_mpi_bin")
    # shellcheck disable=SC2086 # a list of pids
    if [[ -n $pids ]]; then kill -s "$1" $pids 2>/dev/null || true
    else kill -s "$1" "$_mpi_job" 2>/dev/null || true
    fi
}

# mpi_run LOCAL BIN CMD... — runs CMD (an mpirun command line for BIN) and exits with mpi_exit_status.
# LOCAL=1: every rank is on this machine, so TERM/INT go straight to the ranks (mpirun then just
# reports their 143/130, and does not SIGKILL them a second later); LOCAL=0: to mpirun.
mpi_run() {
    _mpi_local=$1 _mpi_bin=$2 _mpi_caught="" _mpi_job=""
    shift 2
    local tmp rc filter
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/cnn_ddp-launch.XXXXXX")
    mkfifo "$tmp/stderr"
    # mpirun's stderr passes through this filter, which keeps the stop line; it ignores TERM/INT, so a
    # Ctrl-C cannot cut mpirun's stderr (and the stop line) short.
    (trap '' INT TERM; exec awk -v stop="$tmp/stop" '{ print; fflush() }
        /^cnn_ddp: stopped by signal at step / { print > stop; close(stop) }' < "$tmp/stderr" >&2) &
    filter=$!
    trap '_mpi_forward TERM' TERM
    trap '_mpi_forward INT' INT
    # mpirun in a session of its own: a terminal's Ctrl-C or a kill of this script's process group then
    # reaches it only through this script, once (a second TERM/INT makes either mpirun give up at once).
    setsid -w "$@" 2> "$tmp/stderr" &
    _mpi_job=$!
    # A trapped signal interrupts wait; wait again until mpirun has really ended.
    while kill -0 "$_mpi_job" 2>/dev/null; do wait "$_mpi_job" 2>/dev/null || true; done
    rc=0
    wait "$_mpi_job" 2>/dev/null || rc=$?
    trap - TERM INT
    wait "$filter" 2>/dev/null || true
    local stopline=""
    [[ -s $tmp/stop ]] && stopline=$(< "$tmp/stop")
    rm -rf "$tmp"
    exit "$(mpi_exit_status "$rc" "$_mpi_caught" "$stopline")"
}
