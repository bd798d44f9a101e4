# shellcheck shell=bash
# Sourced by test_slurm_cluster.sh (after common.sh): a throw-away one-node Slurm cluster on this
# machine, as root. munged, slurmctld and slurmd run in the foreground as this shell's background jobs,
# with their own munge key, sockets, ports, state, spool and logs under $SLURM_TEST_DIR; every Slurm
# command finds the configuration through SLURM_CONF. Nothing is written under /etc, /var or /run.
#
#   slurm_up      start the daemons and wait until the node is idle (fails with the logs otherwise)
#   slurm_down    cancel the jobs, stop the daemons, end whatever still runs under this cluster
#   slurm_logs    the daemons' logs, for a failure message

SLURM_TEST_DIR=$WORK/slurm
slurm_pids=()

# free_port [NOT]: a TCP port nothing listens on here, other than NOT (the cluster must not meet
# another test's).
free_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 30000 ))
    [ "$p" != "${1:-}" ] || continue
    if ! (: </dev/tcp/127.0.0.1/"$p") 2>/dev/null; then echo "$p"; return; fi
  done
}

slurm_logs() {
  local f
  for f in "$SLURM_TEST_DIR"/log/*; do
    [ -s "$f" ] || continue
    echo "---- $f (last 25 lines)"
    tail -n 25 "$f"
  done >&2
}

slurm_up() {
  local d=$SLURM_TEST_DIR host cpus
  host=$(hostname -s)
  cpus=$(nproc)
  local ctld_port slurmd_port
  ctld_port=$(free_port)
  slurmd_port=$(free_port "$ctld_port")
  mkdir -p "$d"/{munge,run,state,spool,log,tmp}
  chmod 700 "$d/munge"
  chmod 755 "$d/run"

  # munge: a fresh key, and a socket of our own (the system's munged, if any, is left alone).
  head -c 1024 /dev/urandom > "$d/munge/munge.key"
  chmod 400 "$d/munge/munge.key"
  munged --foreground --force --key-file="$d/munge/munge.key" --socket="$d/run/munge.socket" \
    --pid-file="$d/munge/munged.pid" --seed-file="$d/munge/munged.seed" --log-file="$d/log/munged.log" \
    > "$d/log/munged.out" 2>&1 &
  slurm_pids+=($!)
  for _ in $(seq 50); do [ -S "$d/run/munge.socket" ] && break; sleep 0.1; done
  munge -S "$d/run/munge.socket" -n </dev/null | unmunge -S "$d/run/munge.socket" >/dev/null \
    || { slurm_logs; fail "munged did not start"; }

  # One node with this machine's cores; task/affinity binds each rank to its core (--cpu-bind=cores).
  # cred_expire=5: a requeued job may start again 6 s after it ended (default 120 s); sched/bf every
  # 1-2 s so the scheduler picks it up at once. TmpFS: srun --mpi=pmix keeps its per-step directories
# there (by default /tmp/spmix_appdir_*, left behind when a step is killed, and then in the way of the
# next cluster's job 1). No cgroups, no accounting database.
  : > "$d/plugstack.conf"
  cat > "$d/slurm.conf" <<EOF
ClusterName=cnnddptest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/run/munge.socket,cred_expire=5
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
TmpFS=$d/tmp
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$d/plugstack.conf
ProctrackType=proctrack/pgid
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_interval=2
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
JobRequeue=1
MinJobAge=600
KillWait=10
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$d/slurm.conf
  slurmctld -D -i -f "$SLURM_CONF" > "$d/log/slurmctld.out" 2>&1 &
  slurm_pids+=($!)
  slurmd -D -N "$host" -f "$SLURM_CONF" > "$d/log/slurmd.out" 2>&1 &
  slurm_pids+=($!)
  for _ in $(seq 150); do
    [ "$(sinfo -h -n "$host" -o %t 2>/dev/null)" = idle ] && return 0
    sleep 0.2
  done
  sinfo >&2 || true
  slurm_logs
  fail "the Slurm node did not come up idle within 30 s"
}

# Processes started under this cluster (slurmstepd, job scripts, ranks) carry its SLURM_CONF.
cluster_procs() {
  local e p
  for e in /proc/[0-9]*/environ; do
    p=${e#/proc/}; p=${p%/environ}
    [ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
    tr '\0' '\n' 2>/dev/null < "$e" | grep -qxF "SLURM_CONF=$SLURM_TEST_DIR/slurm.conf" && echo "$p"
  done
  return 0
}

slurm_down() {
  [ -n "${SLURM_CONF:-}" ] || return 0
  local p left ids
  if scontrol ping >/dev/null 2>&1; then
    mapfile -t ids < <(squeue -h -o %i 2>/dev/null)
    [ "${#ids[@]}" = 0 ] || scancel --quiet --full "${ids[@]}" 2>/dev/null || true
    for _ in $(seq 50); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.2; done
    scontrol shutdown >/dev/null 2>&1 || true
  fi
  for p in "${slurm_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 50); do
    left=0
    for p in "${slurm_pids[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.2
  done
  for p in "${slurm_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  # Anything the daemons left running (a slurmstepd, a rank) dies with them.
  for p in $(cluster_procs); do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  slurm_pids=()
  unset SLURM_CONF
}
