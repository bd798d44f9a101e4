# A stop by SIGTERM/SIGINT ends the job with 143/130 (a requeue script's `case 143|130`), through plain
# mpirun when the ranks are signalled and through launch/run_local.sh however the signal arrives; the
# stop checkpoint verifies and resumes; a real failure still gives 1.
source "$(dirname "$0")/common.sh"
# shellcheck source=launch/mpi_launch.sh
source "$CD_SRC/launch/mpi_launch.sh"   # mpi_ranks, mpi_exit_status
ensure_data
set -m   # background jobs in their own process group, with SIGINT not ignored (as in a terminal)
long=(--data "$DATA" --epochs 100 --quiet --log-every 10)
run_local=(env CNN_DDP_BIN="$CNN_DDP" bash "$CD_SRC/launch/run_local.sh" 2)

# start NAME CMD...: CMD with the training options in the background ($job), until it is past step 40.
start() {
  local name=$1 i; shift
  "$@" "${long[@]}" --ckpt-dir "$WORK/$name" --metrics "$WORK/$name.jsonl" >"$WORK/$name.log" 2>&1 &
  job=$!
  for i in $(seq 1 600); do grep -q '"step":40,' "$WORK/$name.jsonl" 2>/dev/null && return; sleep 0.1; done
  fail "$name: never reached step 40: $(cat "$WORK/$name.log")"
}
# finish NAME EXPECTED: waits for $job, checks its status and the stop checkpoint; its step into $s.
finish() {
  local rc=0
  wait "$job" || rc=$?
  [ "$rc" = "$2" ] || fail "$1: exit status $rc, expected $2: $(cat "$WORK/$1.log")"
  s=$(sed -n 's/^cnn_ddp: stopped by signal at step \([0-9]*\), checkpoint .*/\1/p' "$WORK/$1.log")
  [ -n "$s" ] || fail "$1: no stop line: $(cat "$WORK/$1.log")"
  "$CNN_DDP" info "$WORK/$1/step-$s.h5" >/dev/null || fail "$1: the stop checkpoint step-$s.h5 does not verify"
}
ranks() { mpi_ranks "$job" "$CNN_DDP"; }

# 0. The status rule on its own.
[ "$(mpi_exit_status 1 TERM 'cnn_ddp: stopped by signal at step 9')" = 143 ] || fail "TERM + stop line + mpirun 1 is not 143"
[ "$(mpi_exit_status 0 INT 'cnn_ddp: stopped by signal at step 9')" = 130 ] || fail "INT + stop line + mpirun 0 is not 130"
[ "$(mpi_exit_status 130 '' 'cnn_ddp: stopped by signal at step 9')" = 130 ] || fail "the ranks' 130 was not kept"
[ "$(mpi_exit_status 0 TERM '')" = 143 ] || fail "a signalled job without a stop line reported 0"
[ "$(mpi_exit_status 1 TERM '')" = 1 ] || fail "a failure after a signal lost its status"
[ "$(mpi_exit_status 2 '' '')" = 2 ] || fail "a plain status was changed"
pass "mpi_exit_status"

# 1. Plain mpirun, SIGTERM to the ranks (as a scheduler signals every process): 143, and the stop
#    checkpoint resumes.
start term mpirun --oversubscribe -np 2 "$CNN_DDP"
r=$(ranks); [ "$(echo "$r" | wc -w)" = 2 ] || fail "found ranks '$r', expected 2"
kill -TERM $r
finish term 143
"$CNN_DDP" --data "$DATA" --epochs 100 --quiet --max-steps $((s + 20)) --ckpt-dir "$WORK/term" --resume >"$WORK/resume.log" 2>&1 ||
  fail "resume from step-$s.h5 failed: $(cat "$WORK/resume.log")"
"$CNN_DDP" info "$WORK/term/final.h5" | grep -q "position *step $((s + 20)) " ||
  fail "the resumed run did not end at step $((s + 20)): $("$CNN_DDP" info "$WORK/term/final.h5")"
pass "mpirun, SIGTERM to the ranks: 143, stopped at $s, resumed to $((s + 20))"

# 2. Plain mpirun, SIGINT to rank 1 only: rank 0 was never signalled, yet every rank exits 130, so
#    mpirun's status (the first non-zero exit) is 130 whichever rank ends first.
start int1 mpirun --oversubscribe -np 2 "$CNN_DDP"
r1=""
for p in $(ranks); do tr '\0' '\n' < "/proc/$p/environ" | grep -qx OMPI_COMM_WORLD_RANK=1 && r1=$p; done
[ -n "$r1" ] || fail "could not find rank 1"
kill -INT "$r1"
finish int1 130
pass "mpirun, SIGINT to rank 1 only: 130, stopped at $s"

# 3. run_local.sh, SIGTERM to the script (kill PID): 143.
start local_term "${run_local[@]}"
kill -TERM "$job"
finish local_term 143
pass "run_local.sh, SIGTERM to the script: 143, stopped at $s"

# 4. run_local.sh, SIGTERM to everything at once (script, mpirun and ranks, as a job's time limit
#    does): mpirun itself exits 1 then (Open MPI), the script still 143.
start local_all "${run_local[@]}"
mpirun_pid=$(pgrep -P "$job" -x mpirun) || fail "no mpirun under run_local.sh"
kill -TERM -- -"$job" "$mpirun_pid" $(ranks)
finish local_all 143
pass "run_local.sh, SIGTERM to script, mpirun and ranks: 143, stopped at $s"

# 5. run_local.sh, SIGINT to its process group (a terminal's Ctrl-C): 130.
start local_int "${run_local[@]}"
kill -INT -- -"$job"
finish local_int 130
pass "run_local.sh, Ctrl-C: 130, stopped at $s"

# 6. A real failure through run_local.sh is still 1, with no stop line.
rc=0; CNN_DDP_FAULT=nan:1:25 "${run_local[@]}" "${long[@]}" --no-ckpt >"$WORK/nan.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "NaN through run_local.sh: exit status $rc, expected 1: $(cat "$WORK/nan.log")"
! grep -q "stopped by signal" "$WORK/nan.log" || fail "a failure printed a stop line"
pass "run_local.sh, a NaN on rank 1: 1"
# 7. With --no-ckpt a stop says there is nothing to resume (not "resume with --resume").
"$CNN_DDP" "${long[@]}" --no-ckpt >"$WORK/nock.log" 2>&1 &
pid=$!
sleep 1.5
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 143 ] || fail "--no-ckpt, SIGTERM: exit status $rc, expected 143: $(cat "$WORK/nock.log")"
grep -q "stopped by signal at step [0-9]*; no checkpoint was written (--no-ckpt), so there is nothing to resume" \
  "$WORK/nock.log" || fail "--no-ckpt stop line: $(cat "$WORK/nock.log")"
! grep -q "resume with --resume" "$WORK/nock.log" || fail "--no-ckpt stop still says resume: $(cat "$WORK/nock.log")"
pass "--no-ckpt, SIGTERM: 143, and the stop line says there is nothing to resume"

# 8. Plain mpirun signalled itself (Open MPI 4.1: SIGCONT at once, SIGTERM to the ranks 1 s later,
#    SIGKILL 1 s after that, and status 1 whatever the ranks do): the stop line is printed, the
#    checkpoint it names is complete and verifies, and resuming from it gives exactly the bits of a
#    run that never stopped. (The status is the launch scripts' business: see 3 and 4.)
start mpterm mpirun --oversubscribe -np 2 "$CNN_DDP"
kill -TERM "$job"
rc=0; wait "$job" || rc=$?
[ "$rc" != 0 ] || fail "mpterm: mpirun exited 0 after SIGTERM"
s=$(sed -n 's/^cnn_ddp: stopped by signal at step \([0-9]*\), checkpoint .*/\1/p' "$WORK/mpterm.log")
[ -n "$s" ] || fail "mpterm: no stop line: $(cat "$WORK/mpterm.log")"
grep -q "stopped by signal at step $s, checkpoint $WORK/mpterm/step-$s.h5;" "$WORK/mpterm.log" ||
  fail "mpterm: the stop line names another file: $(cat "$WORK/mpterm.log")"
"$CNN_DDP" info "$WORK/mpterm/step-$s.h5" >/dev/null || fail "mpterm: step-$s.h5 does not verify"
target=$((s + 30))
"$CNN_DDP" --data "$DATA" --epochs 100 --quiet --max-steps "$target" --ckpt-dir "$WORK/mpterm" --resume >/dev/null
"$CNN_DDP" --data "$DATA" --epochs 100 --quiet --max-steps "$target" --ckpt-dir "$WORK/mpref" >/dev/null
[ "$(digest "$WORK/mpterm/final.h5")" = "$(digest "$WORK/mpref/final.h5")" ] ||
  fail "mpterm: resumed from step $s to $target differs from the uninterrupted run"
pass "mpirun signalled itself: status $rc, stop line and step-$s.h5 (verifies); resumed to $target == uninterrupted"

# 9. The stop's checkpoint and line come before any collective that can be cut short: rank 1 never
#    reaches the stop's first collective (as when mpirun's SIGKILL lands there); rank 0 has already
#    written and said everything when the watchdog (or the launcher) ends the job.
t0=$(date +%s)
start stall env CNN_DDP_FAULT=stopstall:1:0 mpirun --oversubscribe -np 2 "$CNN_DDP" --timeout 5
kill -TERM $(ranks)
rc=0; timeout 60 tail --pid="$job" -f /dev/null || fail "stall: the job hangs: $(cat "$WORK/stall.log")"
wait "$job" || rc=$?
[ "$rc" != 0 ] || fail "stall: a rank that never reached the stop's collective went unnoticed"
grep -q "no progress for" "$WORK/stall.log" || fail "stall: rank 1 did not stall (no watchdog message): $(cat "$WORK/stall.log")"
s=$(sed -n 's/^cnn_ddp: stopped by signal at step \([0-9]*\), checkpoint .*/\1/p' "$WORK/stall.log")
[ -n "$s" ] || fail "stall: the stop line was lost: $(cat "$WORK/stall.log")"
"$CNN_DDP" info "$WORK/stall/step-$s.h5" >/dev/null || fail "stall: step-$s.h5 does not verify"
pass "stop with rank 1 stuck before the stop's collective: status $rc after $(( $(date +%s) - t0 )) s, stop line and step-$s.h5 kept"

# 10. A stop landing exactly on an epoch's last step (SIGTERM raised by rank 0 at the start of the
#     epoch's last step) checkpoints before that epoch's evaluation; the resumed run reports the epoch
#     (the same record as an uninterrupted run's, but for times) and ends with the same bits.
spe=$("$CNN_DDP" --data "$DATA" --epochs 2 --max-steps 1 --no-ckpt 2>&1 | sed -n 's/.* \([0-9]*\) steps per epoch.*/\1/p' | head -1)
[ -n "$spe" ] || spe=354
epoch_rec() { grep '"type":"epoch"' "$1" | sed 's/"img_per_s":[^,]*,"elapsed_s":[^,]*,//; s/,"time":"[^"]*"//'; }
rc=0; CNN_DDP_FAULT=sigterm:0:$((spe - 1)) "$CNN_DDP" --data "$DATA" --epochs 2 --quiet --ckpt-dir "$WORK/edge" \
  --metrics "$WORK/edge.jsonl" >"$WORK/edge.log" 2>&1 || rc=$?
[ "$rc" = 143 ] || fail "epoch-end stop: exit status $rc, expected 143: $(cat "$WORK/edge.log")"
grep -q "stopped by signal at step $spe," "$WORK/edge.log" || fail "epoch-end stop: not at step $spe: $(cat "$WORK/edge.log")"
"$CNN_DDP" --data "$DATA" --epochs 2 --quiet --ckpt-dir "$WORK/edge" --metrics "$WORK/edge.jsonl" --resume >>"$WORK/edge.log" 2>&1 ||
  fail "epoch-end stop: resume failed: $(cat "$WORK/edge.log")"
"$CNN_DDP" --data "$DATA" --epochs 2 --quiet --ckpt-dir "$WORK/edgeref" --metrics "$WORK/edgeref.jsonl" >/dev/null
[ "$(epoch_rec "$WORK/edge.jsonl")" = "$(epoch_rec "$WORK/edgeref.jsonl")" ] ||
  fail "epoch-end stop: epoch records differ from an uninterrupted run: $(epoch_rec "$WORK/edge.jsonl") vs $(epoch_rec "$WORK/edgeref.jsonl")"
[ "$(digest "$WORK/edge/final.h5")" = "$(digest "$WORK/edgeref/final.h5")" ] || fail "epoch-end stop: final bits differ"
pass "stop at the last step of epoch 1 (step $spe): the resumed run reports epoch 1 as an uninterrupted run does, same bits"
