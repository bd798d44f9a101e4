# shellcheck shell=bash
# Sourced by launch/elastic.sh (and its test): which failures a restart on the ranks left can cure, and
# which hosts a failure names. The status table is the README's ("Elastic runs").

# The --ckpt-every elastic.sh passes unless given one: a restart loses at most this many steps. Measured
# (seed net, 1 rank, this 2-core VM): a checkpoint write with its fsyncs and pruning costs 3.3 ms, a
# step 5.4 ms, so every 100 steps costs 0.6% of the run and a restart loses at most ~0.5 s of training,
# less than a restart itself takes: 2.7 s here from a kill -9 to the first resumed step (3 -> 2 ranks,
# two trials), ~2 s of it mpirun ending the job.
# shellcheck disable=SC2034 # read by elastic.sh
ELASTIC_CKPT_EVERY=100

# elastic_reason RC LOG -> why the job that ended with status RC (its stderr in LOG) should be restarted,
# as a phrase ("rank 3 killed by signal 9 (on node n2)"); nothing when it must not be.
elastic_reason() {
    local rc=$1 log=$2 line
    case $rc in 0 | 2 | 130 | 143) return 0 ;; esac
    grep -q '^cnn_ddp: stopped by signal at step ' "$log" && return 0
    # Open MPI: "mpirun noticed that process rank 1 with PID 0 on node vm exited on signal 9 (Killed)."
    line=$(sed -n 's/.*process rank \([0-9]*\) with PID [0-9]* on node \([^ ]*\) exited on signal 9\b.*/rank \1 on node \2 killed by signal 9/p' "$log" | head -n 1)
    [[ -n $line ]] && { echo "$line"; return 0; }
    # MPICH's Hydra: "=   RANK 1 PID 4242 RUNNING AT vm" then "=   KILLED BY SIGNAL: 9 (Killed)"
    if grep -q 'KILLED BY SIGNAL: 9\b' "$log"; then
        line=$(sed -n 's/^=  *RANK \([0-9]*\) PID [0-9]* RUNNING AT \([^ ]*\).*/rank \1 on node \2 killed by signal 9/p' "$log" | head -n 1)
        echo "${line:-a rank killed by signal 9}"
        return 0
    fi
    line=$(elastic_failed_hosts "$log")
    if [[ -n $line ]]; then echo "node $(paste -sd ' ' <<<"$line") lost"; return 0; fi
    if grep -qi 'lost communication with a remote daemon\|daemon has unexpectedly failed\|unable to reliably start one or more daemons' "$log"; then
        echo "a node lost"
        return 0
    fi
    (( rc == 137 )) && { echo "a rank killed by signal 9"; return 0; }
    if (( rc == 75 )); then
        # The watchdog of a rank that waited: "cnn_ddp: error: rank 0: no progress for 5 s while training (...)"
        line=$(sed -n 's/^cnn_ddp: error: \(rank [0-9]*\): \(no progress for [0-9]* s [^(]*\) (.*/\2, on \1 (watchdog)/p' "$log" | head -n 1)
        [[ -n $line ]] && { echo "$line"; return 0; }
        line=$(sed -n 's/^cnn_ddp: error: //p' "$log" | head -n 1 | cut -c 1-200)
        echo "communication failure${line:+: $line}"
        return 0
    fi
    return 0
}

# elastic_failed_hosts LOG -> the hosts a node-level failure in LOG names, one a line: Open MPI's lost or
# failed daemon ("Remote daemon: [[1234,0],2] on node n3") and ssh's refusals.
elastic_failed_hosts() {
    sed -n -e 's/^ *Remote daemon *: *\[\[[0-9,]*\],[0-9]*\] on node \([^ ]*\).*/\1/p' \
        -e 's/^ssh: Could not resolve hostname \([^: ]*\).*/\1/p' \
        -e 's/^ssh: connect to host \([^ ]*\) port [0-9]*: .*/\1/p' "$1" | sort -u
}

# elastic_drop_hosts HOSTFILE HOSTS: removes the lines of HOSTS (names, whitespace-separated) from HOSTFILE,
# a name also matching its fully qualified form (Open MPI names hosts without their domain).
elastic_drop_hosts() {
    local h tmp
    tmp=$(mktemp "${TMPDIR:-/tmp}/cnn_ddp-elastic-hosts.XXXXXX")
    cp "$1" "$tmp"
    for h in $2; do
        awk -v h="$h" '$1 != h && index($1, h ".") != 1' "$tmp" > "$tmp.new" && mv "$tmp.new" "$tmp"
    done
    cat "$tmp" > "$1"
    rm -f "$tmp"
}

# elastic_slots HOSTFILE -> the slots it offers ("NAME slots=N", a bare NAME counting 1).
elastic_slots() {
    awk '{ n = 1; for (i = 2; i <= NF; i++) if ($i ~ /^slots=[0-9]+$/) n = substr($i, 7) + 0; s += n } END { print s + 0 }' "$1"
}
