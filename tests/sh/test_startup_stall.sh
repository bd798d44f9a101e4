# A rank stopped (SIGSTOP) where the training watchdog used not to look — reading its data, before
# MPI_Init, in `eval` — ends the job within the timeout (+ slack) with a non-zero status and the
# watchdog's message naming the rank that gave up and where it was waiting; nothing hangs. Each case
# runs under an outer `timeout`, so a hang is a failure here, not a stuck CI job.
source "$(dirname "$0")/common.sh"
ensure_data
T=5       # --timeout: the smallest accepted
LIMIT=40  # outer bound: T + MPI start-up + mpirun's SIGCONT/SIGTERM/SIGKILL of the stopped rank, with room

# run_stalled NAME CMD...: runs CMD under `timeout $LIMIT`, expects a non-zero end before it from the
# watchdog; its log in $WORK/NAME.log, its seconds in $dt.
run_stalled() {
  local name=$1 t0 rc=0; shift
  t0=$(date +%s.%N)
  timeout -k 5 "$LIMIT" "$@" >"$WORK/$name.log" 2>&1 || rc=$?
  dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  [ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "$name: still hanging after $LIMIT s: $(cat "$WORK/$name.log")"
  [ "$rc" != 0 ] || fail "$name: a stopped rank did not fail the job: $(cat "$WORK/$name.log")"
  # Any rank but the stopped one may give up first (mpirun then ends the others).
  grep -q "cnn_ddp: error: rank [02]: no progress for [0-9]* s" "$WORK/$name.log" ||
    fail "$name: no watchdog message from a waiting rank: $(cat "$WORK/$name.log")"
  awk -v d="$dt" -v t="$T" 'BEGIN { exit !(d >= t) }' || fail "$name: ended after $dt s, before the timeout"
}

# 1. Rank 1 stops while reading its rows of the training data; rank 0 waits in the first collective.
run_stalled load env CNN_DDP_FAULT=loadstop:1:0 "${MPIRUN[@]}" -np 3 "$CNN_DDP" --data "$DATA" --no-ckpt --quiet \
  --max-steps 50 --timeout "$T"
grep -q "rank [02]: no progress for [0-9]* s while training" "$WORK/load.log" || fail "load: $(cat "$WORK/load.log")"
pass "rank 1 stopped while loading data: the job ended after $dt s"

# 2. Rank 1 stops before its program even starts (so before MPI_Init); rank 0 waits in MPI_Init.
cat >"$WORK/stop_rank1.sh" <<'EOF'
#!/bin/sh
[ "${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-}}" = 1 ] && kill -STOP $$
exec "$@"
EOF
chmod +x "$WORK/stop_rank1.sh"
run_stalled init "${MPIRUN[@]}" -np 2 "$WORK/stop_rank1.sh" "$CNN_DDP" --data "$DATA" --no-ckpt --quiet --max-steps 50 \
  --timeout "$T"
grep -q "rank [02]: no progress for [0-9]* s in MPI_Init" "$WORK/init.log" || fail "init: $(cat "$WORK/init.log")"
pass "rank 1 stopped before MPI_Init: the job ended after $dt s"

# 3. eval under mpirun, rank 1 stopped while reading its share of the test rows.
"$CNN_DDP" --data "$DATA" --max-steps 5 --quiet --ckpt-dir "$WORK/ck" >/dev/null
run_stalled eval env CNN_DDP_FAULT=loadstop:1:0 "${MPIRUN[@]}" -np 2 "$CNN_DDP" eval --ckpt "$WORK/ck/final.h5" \
  --data "$DATA" --timeout "$T"
grep -q "rank [02]: no progress for [0-9]* s while evaluating" "$WORK/eval.log" || fail "eval: $(cat "$WORK/eval.log")"
pass "eval, rank 1 stopped while loading: the job ended after $dt s"

# 4. --timeout 0 is "no watchdog" (a healthy run is unchanged); eval takes --timeout by the same rule.
"$CNN_DDP" --data "$DATA" --max-steps 3 --no-ckpt --quiet --timeout 0 >/dev/null || fail "--timeout 0 refused"
rc=0; out=$("$CNN_DDP" eval --ckpt "$WORK/ck/final.h5" --data "$DATA" --timeout 2 2>&1) || rc=$?
[ "$rc" = 2 ] && [ "$out" = "cnn_ddp: error: --timeout 2: must be in [5, 86400], or 0 (off)" ] ||
  fail "eval --timeout 2: status $rc: $out"
"$CNN_DDP" eval --ckpt "$WORK/ck/final.h5" --data "$DATA" --timeout 0 | grep -q "test accuracy" || fail "eval --timeout 0"
pass "--timeout 0 runs without a watchdog; eval --timeout 2 is refused with status 2"
