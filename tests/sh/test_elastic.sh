# launch/elastic.sh: a 4-rank job that loses a rank twice (kill -9) finishes on 3 and then 2 ranks with
# exactly the bits of a 4-rank run that lost nothing, and its history says 4 -> 3 -> 2; failures a
# restart cannot cure (a bad option, bad data, a NaN) end at once with cnn_ddp's status; --max-restarts
# and --min-ranks are honoured; and the status table on its own.
source "$(dirname "$0")/common.sh"
# shellcheck source=launch/mpi_launch.sh
source "$CD_SRC/launch/mpi_launch.sh"      # mpi_ranks
# shellcheck source=launch/elastic_status.sh
source "$CD_SRC/launch/elastic_status.sh"  # elastic_reason, elastic_failed_hosts, elastic_slots
[ "$CD_LAUNCHER" = openmpi ] || { echo "SKIP: elastic.sh's test runs under Open MPI's mpirun"; exit 77; }
ensure_data
elastic=(env CNN_DDP_BIN="$CNN_DDP" MPIRUN="$CD_MPIRUN" bash "$CD_SRC/launch/elastic.sh")
run=(--data "$DATA" --epochs 1 --max-steps 300 --quiet --log-every 10 --ckpt-every 20)

# 0. The status table on its own.
t=$WORK/t.log
reason() { printf '%b' "$2" > "$t"; elastic_reason "$1" "$t"; }
[ "$(reason 137 'mpirun noticed that process rank 3 with PID 0 on node n2 exited on signal 9 (Killed).\n')" = \
  "rank 3 on node n2 killed by signal 9" ] || fail "Open MPI's kill -9 message: '$(reason 137 'mpirun noticed that process rank 3 with PID 0 on node n2 exited on signal 9 (Killed).\n')'"
[ "$(reason 9 '=   RANK 1 PID 4242 RUNNING AT vm\n=   KILLED BY SIGNAL: 9 (Killed)\n')" = "rank 1 on node vm killed by signal 9" ] ||
  fail "Hydra's kill -9 message"
[ "$(reason 1 'ORTE has lost communication with a remote daemon.\n\n  HNP daemon   : [[52,0],0] on node n1\n  Remote daemon: [[52,0],2] on node n3\n')" = \
  "node n3 lost" ] || fail "a lost Open MPI daemon"
[ "$(reason 75 'cnn_ddp: error: rank 0: no progress for 5 s while training (another rank is stuck or dead, or the network hangs); ending the job (--timeout to change the limit)\n')" = \
  "no progress for 5 s while training, on rank 0 (watchdog)" ] || fail "the watchdog's 75: '$(reason 75 'cnn_ddp: error: rank 0: no progress for 5 s while training (another rank)\n')'"
[ "$(reason 75 'cnn_ddp: error: MPI_Allreduce failed\n')" = "communication failure: MPI_Allreduce failed" ] || fail "a comm failure's 75"
[ "$(reason 137 '')" = "a rank killed by signal 9" ] || fail "a bare 137"
for rc in 0 1 2 130 143 139; do [ -z "$(reason $rc 'cnn_ddp: error: loss is nan at step 5\n')" ] || fail "status $rc is restarted"; done
[ -z "$(reason 137 'cnn_ddp: stopped by signal at step 9, checkpoint c/step-9.h5; resume with --resume\n')" ] || fail "a stop is restarted"
printf 'n1 slots=4\nn2.example.org slots=4\nn3\nn22 slots=2\n' > "$WORK/hosts"
elastic_drop_hosts "$WORK/hosts" "n2"
[ "$(elastic_slots "$WORK/hosts")" = 7 ] || fail "slots after dropping n2: $(elastic_slots "$WORK/hosts"): $(cat "$WORK/hosts")"
pass "status table: kill -9 (Open MPI, Hydra), a lost node and 75 restart; 0 1 2 130 143 139 and a stop do not"

# 1. The uninterrupted 4-rank reference.
mpirun_np 4 "${run[@]}" --ckpt-dir "$WORK/ref" >/dev/null
ref=$(digest "$WORK/ref/final.h5" /params; digest "$WORK/ref/final.h5" /optim)

# 2. Under elastic.sh, kill -9 rank 3 past step 100 and rank 1 past step 200 (of the 3-rank job).
m=$WORK/el.jsonl
"${elastic[@]}" 4 "${run[@]}" --ckpt-dir "$WORK/el" --metrics "$m" >"$WORK/el.log" 2>&1 &
job=$!
# kill_rank R STEP SEGMENTS: once the job's SEGMENTS-th segment has passed STEP on N ranks, kill -9 rank R.
kill_rank() {
  local i p victim=""
  for i in $(seq 1 600); do
    [ "$(grep -c '"type":"segment"' "$m" 2>/dev/null)" = "$3" ] && grep -q "\"step\":$2," "$m" && break
    sleep 0.1
  done
  for p in $(mpi_ranks "$job" "$CNN_DDP"); do [ "$(rank_of_pid "$p")" = "$1" ] && victim=$p; done
  [ -n "$victim" ] || fail "no rank $1 past step $2 in segment $3: $(cat "$WORK/el.log")"
  kill -9 "$victim"
}
kill_rank 3 100 1
kill_rank 1 200 2
rc=0; wait "$job" || rc=$?
[ "$rc" = 0 ] || fail "elastic run: status $rc: $(cat "$WORK/el.log")"
[ "$(grep -c '^elastic: restart' "$WORK/el.log")" = 2 ] || fail "not two restarts: $(cat "$WORK/el.log")"
grep -q '^elastic: restart 1 of at most 3: rank 3 on node .* killed by signal 9 (status 137); resuming on 3 rank(s)$' "$WORK/el.log" ||
  fail "the first restart's line: $(grep '^elastic' "$WORK/el.log")"
grep -q '^elastic: restart 2 of at most 3: rank 1 on node .* killed by signal 9 (status 137); resuming on 2 rank(s)$' "$WORK/el.log" ||
  fail "the second restart's line: $(grep '^elastic' "$WORK/el.log")"
got=$(digest "$WORK/el/final.h5" /params; digest "$WORK/el/final.h5" /optim)
[ "$got" = "$ref" ] || fail "4 -> 3 -> 2 ranks: /params or /optim differ from the uninterrupted 4-rank run"
h=$("$CNN_DDP" info "$WORK/el/final.h5" | sed -n 's/^  history *//p')
echo "$h" | grep -Eq '^4 ranks steps 0-[0-9]+; restart \(rank 3 on node [^ ]* killed by signal 9\); 3 ranks steps [0-9]+-[0-9]+; restart \(rank 1 on node [^ ]* killed by signal 9\); 2 ranks steps [0-9]+-300$' ||
  fail "info's history: '$h'"
[ "$(grep '"type":"segment"' "$m" | sed 's/.*"ranks":\([0-9]*\).*/\1/' | paste -sd ' ')" = "4 3 2" ] ||
  fail "the metrics' segments: $(grep '"type":"segment"' "$m")"
grep '"type":"segment"' "$m" | tail -n 1 | grep -q '"event":"restart (rank 1 on node [^ ]* killed by signal 9)"' ||
  fail "the last segment's event: $(grep '"type":"segment"' "$m" | tail -n 1)"
pass "kill -9 twice: 4 -> 3 -> 2 ranks, bit-identical to the uninterrupted 4-rank run; history '$h'"

# 3. What a restart cannot cure ends at once with cnn_ddp's status, and no restart.
no_restart() {
  local name=$1 want=$2 rc=0; shift 2
  "$@" >"$WORK/$name.log" 2>&1 || rc=$?
  [ "$rc" = "$want" ] || fail "$name: status $rc, expected $want: $(cat "$WORK/$name.log")"
  ! grep -q '^elastic: restart' "$WORK/$name.log" || fail "$name: restarted: $(cat "$WORK/$name.log")"
  grep -q '^cnn_ddp: error: ' "$WORK/$name.log" || fail "$name: no cnn_ddp message: $(cat "$WORK/$name.log")"
}
no_restart option 2 "${elastic[@]}" 2 "${run[@]}" --ckpt-dir "$WORK/opt" --bogus
printf 'not an HDF5 file\n' > "$WORK/bad.h5"
no_restart data 2 "${elastic[@]}" 2 "${run[@]}" --ckpt-dir "$WORK/data" --data "$WORK/bad.h5"
no_restart nan 1 env CNN_DDP_FAULT=nan:1:25 "${elastic[@]}" 2 "${run[@]}" --ckpt-dir "$WORK/nan"
rc=0; "${elastic[@]}" 2 "${run[@]}" --no-ckpt >"$WORK/nock.log" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q 'no-ckpt' "$WORK/nock.log" || fail "--no-ckpt under elastic.sh: status $rc: $(cat "$WORK/nock.log")"
for a in "--min-ranks 5 4" "--max-restarts x 2" "--min-ranks 0 2" "0" "--hostfile $WORK/none 2"; do
  rc=0; "${elastic[@]}" $a "${run[@]}" >"$WORK/usage.log" 2>&1 || rc=$?
  [ "$rc" = 2 ] && [ "$(wc -l < "$WORK/usage.log")" -le 2 ] || fail "elastic.sh $a: status $rc: $(cat "$WORK/usage.log")"
done
rc=0; "${elastic[@]}" 2 "${run[@]}" --batch-per-rank 8 >"$WORK/bpr.log" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q 'batch-per-rank' "$WORK/bpr.log" || fail "--batch-per-rank under elastic.sh: status $rc: $(cat "$WORK/bpr.log")"
pass "a bad option (2), bad data (2), a NaN (1): no restart; --no-ckpt, --batch-per-rank and bad launcher options refused (2)"

# 4. --max-restarts 1: rank 1 stalls at step 30 every time (the watchdog ends the job, 75): one restart
#    on 2 ranks, then the job's status.
rc=0
CNN_DDP_FAULT=stall:1:30 "${elastic[@]}" --max-restarts 1 3 "${run[@]}" --ckpt-every 10 --timeout 5 \
  --ckpt-dir "$WORK/max" >"$WORK/max.log" 2>&1 || rc=$?
[ "$rc" = 75 ] || fail "--max-restarts 1: status $rc, expected 75: $(cat "$WORK/max.log")"
[ "$(grep -c '^elastic: restart' "$WORK/max.log")" = 1 ] || fail "--max-restarts 1: not one restart: $(cat "$WORK/max.log")"
grep -q '^elastic: restart 1 of at most 1: no progress for [0-9]* s .*(watchdog) (status 75); resuming on 2 rank(s)$' "$WORK/max.log" ||
  fail "--max-restarts 1: the restart line: $(grep '^elastic' "$WORK/max.log")"
grep -q 'not restarting: --max-restarts 1 reached; status 75$' "$WORK/max.log" || fail "--max-restarts 1: $(cat "$WORK/max.log")"
pass "--max-restarts 1: a stalled rank (watchdog, 75) restarted once on 2 ranks, then status 75"

# 5. --min-ranks 3 of 3: a rank killed leaves 2, below it: no restart, the job's status.
"${elastic[@]}" --min-ranks 3 3 "${run[@]}" --ckpt-dir "$WORK/min" --metrics "$WORK/min.jsonl" >"$WORK/min.log" 2>&1 &
job=$! m=$WORK/min.jsonl
kill_rank 2 50 1
rc=0; wait "$job" || rc=$?
[ "$rc" = 137 ] || fail "--min-ranks 3: status $rc, expected 137: $(cat "$WORK/min.log")"
! grep -q '^elastic: restart' "$WORK/min.log" || fail "--min-ranks 3: restarted: $(cat "$WORK/min.log")"
grep -q 'not restarting: 2 rank(s) left, below --min-ranks 3; status 137$' "$WORK/min.log" || fail "--min-ranks 3: $(cat "$WORK/min.log")"
pass "--min-ranks 3 of 3: a rank killed, no restart on 2, status 137"

# 6. The history is optional in a checkpoint: a file without it (written before it existed; here made
#    by deleting it and recomputing meta_checksum) verifies, shows none and resumes; deleting it alone
#    is damage the checksum catches. (h5py: skipped without it.)
py=/usr/bin/python3
if "$py" -c 'import h5py' 2>/dev/null; then
  cp "$WORK/el/final.h5" "$WORK/cut.h5"
  "$py" -c 'import h5py, sys; f = h5py.File(sys.argv[1], "r+"); del f.attrs["history"]' "$WORK/cut.h5"
  out=$("$CNN_DDP" info "$WORK/cut.h5" 2>&1) && fail "a checkpoint whose history was deleted verifies: $out"
  grep -q 'metadata checksum mismatch' <<<"$out" || fail "a deleted history: $out"
  mkdir -p "$WORK/old" && cp "$WORK/ref/final.h5" "$WORK/old/step-300.h5"
  CD_SRC="$CD_SRC" "$py" - "$WORK/old/step-300.h5" <<'PY' || fail "could not make a history-less checkpoint"
import importlib.util, os, sys, h5py, numpy as np
spec = importlib.util.spec_from_file_location("craft", os.path.join(os.environ["CD_SRC"], "tests/sh/craft_checkpoint.py"))
craft = importlib.util.module_from_spec(spec); spec.loader.exec_module(craft)
with h5py.File(sys.argv[1], "r+") as f:
    del f.attrs["history"]
    f.attrs["meta_checksum"] = np.uint64(craft.meta_checksum(f.attrs))
PY
  out=$("$CNN_DDP" info "$WORK/old/step-300.h5" 2>&1) || fail "a checkpoint without a history does not verify: $out"
  ! grep -q history <<<"$out" || fail "a checkpoint without a history shows one: $out"
  "$CNN_DDP" --data "$DATA" --epochs 1 --max-steps 320 --quiet --ckpt-dir "$WORK/old" --resume >/dev/null 2>&1 ||
    fail "resuming a checkpoint without a history failed"
  h=$("$CNN_DDP" info "$WORK/old/final.h5" | sed -n 's/^  history *//p')
  [ "$h" = "resumed; 1 rank steps 300-320" ] || fail "history after resuming a history-less checkpoint: '$h'"
  pass "a checkpoint without a history verifies and resumes ('$h'); a deleted history is damage"
else
  echo "SKIP (part 6): no h5py for $py"
fi

# 7. SIGTERM to elastic.sh: the job checkpoints and stops (143), and is not restarted.
"${elastic[@]}" 2 "${run[@]}" --ckpt-dir "$WORK/term" --metrics "$WORK/term.jsonl" >"$WORK/term.log" 2>&1 &
job=$!
for i in $(seq 1 600); do grep -q '"step":30,' "$WORK/term.jsonl" 2>/dev/null && break; sleep 0.1; done
kill -TERM "$job"
rc=0; wait "$job" || rc=$?
[ "$rc" = 143 ] || fail "SIGTERM to elastic.sh: status $rc, expected 143: $(cat "$WORK/term.log")"
grep -q '^cnn_ddp: stopped by signal at step ' "$WORK/term.log" || fail "SIGTERM to elastic.sh: no stop line: $(cat "$WORK/term.log")"
! grep -q '^elastic: restart' "$WORK/term.log" || fail "SIGTERM to elastic.sh: restarted: $(cat "$WORK/term.log")"
pass "SIGTERM to elastic.sh: the job stops with its checkpoint, 143, no restart"

# 8. --hostfile with a node that cannot be reached (ssh cannot resolve it): the job restarts without
#    that host, on the slots left (2 of 4), and finishes. (Needs ssh for Open MPI to try the host.)
if command -v ssh >/dev/null; then
  printf 'localhost slots=2\nnode-gone-x slots=2\n' > "$WORK/hosts2"
  rc=0
  timeout 120 "${elastic[@]}" --hostfile "$WORK/hosts2" 4 "${run[@]}" --max-steps 40 --ckpt-dir "$WORK/hf" >"$WORK/hf.log" 2>&1 || rc=$?
  [ "$rc" = 0 ] || fail "--hostfile with a lost node: status $rc: $(cat "$WORK/hf.log")"
  grep -q '^elastic: restart 1 of at most 3: node node-gone-x lost; dropped host(s) node-gone-x (status [0-9]*); resuming on 2 rank(s)$' \
    "$WORK/hf.log" || fail "--hostfile with a lost node: $(grep '^elastic' "$WORK/hf.log")"
  "$CNN_DDP" info "$WORK/hf/final.h5" | grep -q '^  history .*node node-gone-x lost.*; 2 ranks steps 0-40$' ||
    fail "--hostfile with a lost node: history $("$CNN_DDP" info "$WORK/hf/final.h5" | grep history)"
  pass "--hostfile with an unreachable node: restarted without it on 2 ranks"
else
  echo "SKIP (part 8): no ssh"
fi
