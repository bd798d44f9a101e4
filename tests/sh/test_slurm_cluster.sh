# shellcheck shell=bash
# launch/slurm.sbatch on a real (one-node, throw-away) Slurm cluster: the job is preempted mid-run the
# way a scheduler does it before the time limit (SIGTERM to the batch shell, as --signal=B:TERM does),
# checkpoints, requeues itself, runs again as restart 1, resumes, and ends bit-identical to an
# uninterrupted run. Once with the ranks started by srun (PMIx), once by mpirun inside the allocation.
# Needs root (it starts munged, slurmctld and slurmd); without root it says SKIP and passes.
source "$(dirname "$0")/common.sh"
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: test_slurm_cluster needs root to start munged, slurmctld and slurmd"
  exit 0
fi
for c in munged munge unmunge slurmctld slurmd sbatch srun scontrol scancel squeue sinfo mpirun; do
  command -v "$c" >/dev/null || fail "$c not found: install munge, slurmctld, slurmd, slurm-client (slurm-wlm) and openmpi-bin"
done
source "$(dirname "$0")/slurm/cluster.sh"
# Stop the cluster first (its jobs, daemons and leftovers), then common.sh's cleanup removes $WORK.
on_exit() {
  local rc=$?
  slurm_down || true
  (exit "$rc")
  cleanup
}
trap on_exit EXIT

ensure_data
t0=$SECONDS
# The job's cnn_ddp options are the script's defaults (--model seed --ckpt-every 500 --keep 3 --resume)
# and these; --ckpt-every does not change the weights. 2 epochs = 708 steps.
opts=(--epochs 2 --ckpt-every 100)
"$CNN_DDP" --data "$DATA" --model seed "${opts[@]}" --ckpt-dir "$WORK/ref" --metrics /dev/null --quiet >/dev/null
ref=$(digest "$WORK/ref/final.h5" /params; digest "$WORK/ref/final.h5" /optim)
total=708

slurm_up
echo "cluster up after $((SECONDS - t0)) s (reference run included)"

# job_state JOB: the job's state and restart count, e.g. "COMPLETED 1".
job_state() {
  scontrol -o show job "$1" 2>/dev/null | sed -nE 's/.*JobState=([A-Z_]+).* Restarts=([0-9]+).*/\1 \2/p'
}

# preempt_and_resume NAME LAUNCHER: submit 2 tasks with LAUNCHER=LAUNCHER, preempt after the first
# checkpoint, check it all; NAME is the launcher the job must have used (srun or mpirun).
preempt_and_resume() {
  local name=$1 launcher=$2 ck=$WORK/ck-$1 out=$WORK/$1.out job st t=$SECONDS
  job=$(cd "$WORK" && env CNN_DDP_BIN="$CNN_DDP" DATA="$DATA" CKPT_DIR="$ck" LAUNCHER="$launcher" \
    sbatch --parsable -N1 -n2 --ntasks-per-node=2 --job-name="cnn_ddp-$name" -o "$out" \
    "$CD_SRC/launch/slurm.sbatch" "${opts[@]}") || { slurm_logs; fail "$name: sbatch refused the job"; }
  local why="$name (job $job)"
  # Preempt once the run has written a checkpoint of its own (step 100 of 708).
  for _ in $(seq 600); do
    compgen -G "$ck/step-*.h5" >/dev/null && break
    sleep 0.1
  done
  compgen -G "$ck/step-*.h5" >/dev/null || { cat "$out" >&2; slurm_logs; fail "$why: no checkpoint within 60 s"; }
  scancel --signal=TERM --batch "$job"
  # Stopped, requeued (PENDING again), rerun: wait for it to end for good.
  for _ in $(seq 600); do
    st=$(job_state "$job")
    case ${st%% *} in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED) break ;; esac
    sleep 0.2
  done
  echo "---- $out"; cat "$out"; echo "----"
  [ "$st" = "COMPLETED 1" ] || { slurm_logs; fail "$why: ended as '$st' (state, restarts), expected 'COMPLETED 1'"; }

  grep -q "restart 0: 1 nodes, 2 ranks via $name" "$out" || fail "$why: no 'restart 0 ... via $name' line"
  grep -q "restart 1: 1 nodes, 2 ranks via $name" "$out" || fail "$why: the requeued run (restart 1) did not start"
  grep -q "^SIGTERM: asking the ranks to checkpoint and stop" "$out" || fail "$why: the batch shell's trap did not run"
  local s
  s=$(sed -nE 's/^cnn_ddp: stopped by signal at step ([0-9]+), checkpoint .*/\1/p' "$out")
  [ -n "$s" ] || fail "$why: cnn_ddp did not report stopping with a checkpoint"
  (( s > 0 && s < total )) || fail "$why: stopped at step $s, not mid-run (1..$((total - 1)))"
  grep -qF "stopped with checkpoint (exit 143); requeueing job $job" "$out" \
    || fail "$why: $name did not return 143 to the script, or it did not requeue"
  grep -qF "resumed from $ck/step-$s.h5 at step $s " "$out" || fail "$why: the requeued run did not resume from step-$s.h5"
  grep -q "^final: step $total " "$out" || fail "$why: no 'final: step $total' line"
  grep -q "^done: training finished" "$out" || fail "$why: the script did not report success"
  local got
  got=$(digest "$ck/final.h5" /params; digest "$ck/final.h5" /optim)
  [ "$got" = "$ref" ] || fail "$why: /params or /optim after preemption and requeue differ from the uninterrupted run"
  pass "$name (LAUNCHER=$launcher): preempted at step $s, requeued, resumed: bit-identical to the uninterrupted run ($((SECONDS - t)) s)"
}

# auto must pick srun here: Debian's Slurm has the PMIx plugin and its Open MPI speaks PMIx.
preempt_and_resume srun auto
preempt_and_resume mpirun mpirun

# wait_done JOB: wait (up to 60 s) until the job has ended; prints "STATE RESTARTS".
wait_done() {
  local st
  for _ in $(seq 300); do
    st=$(job_state "$1")
    case ${st%% *} in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL) break ;; esac
    sleep 0.2
  done
  echo "$st"
}
# submit NAME [sbatch options] -- [cnn_ddp args]: a 2-task job of the script; prints the job id.
submit() {
  local name=$1; shift
  local sb=()
  while [ "$1" != -- ]; do sb+=("$1"); shift; done
  shift
  (cd "$WORK" && env CNN_DDP_BIN="$CNN_DDP" DATA="$DATA" CKPT_DIR="$WORK/ck-$name" \
    sbatch --parsable -N1 -n2 --ntasks-per-node=2 --job-name="cnn_ddp-$name" -o "$WORK/$name.out" "${sb[@]}" \
    "$CD_SRC/launch/slurm.sbatch" "$@")
}

# A real failure is not requeued: a bad option (exit 2) ends the job as FAILED, restarts 0.
job=$(submit badopt -- --epochs 2 --no-such-option)
st=$(wait_done "$job")
cat "$WORK/badopt.out"
[ "$st" = "FAILED 0" ] || fail "bad option: job $job ended as '$st', expected 'FAILED 0'"
grep -q "cnn_ddp failed with exit 2; not requeueing" "$WORK/badopt.out" || fail "bad option: no 'failed with exit 2; not requeueing'"
pass "a bad option fails the job without requeueing it"

# srun returns 0 when its step fails to launch; the script must not take that for success. The PMIx
# plugin cannot launch a step whose directory is already there: make it so for this job's step 0.
job=$(submit nolaunch --hold -- --epochs 2)
mkdir -p "$SLURM_TEST_DIR/tmp/spmix_appdir_$(id -u)_$job.0"
scontrol release "$job"
st=$(wait_done "$job")
cat "$WORK/nolaunch.out"
grep -q "launch failed" "$WORK/nolaunch.out" || fail "the step launched after all (no 'launch failed' from srun); this check needs another way to break the launch"
[ "$st" = "FAILED 0" ] || fail "step not launched: job $job ended as '$st', expected 'FAILED 0'"
grep -q "srun returned 0, but there is no .*final.h5: the ranks did not run" "$WORK/nolaunch.out" \
  || fail "step not launched: the script did not report that the ranks did not run"
pass "srun's 0 after a failed step launch is reported as a failure, not requeued"
echo "total $((SECONDS - t0)) s"
