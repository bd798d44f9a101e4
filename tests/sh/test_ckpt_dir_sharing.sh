# Runs that meet in one --ckpt-dir: another run's checkpoints are refused (exit 2) and left byte for
# byte as they were, --overwrite replaces them, a second live job is refused by the directory lock, a
# stopped run's checkpoint survives pruning next to newer files, resuming a finished run changes nothing,
# resuming on another data file is refused naming both, stale temporaries are removed, an unlistable
# directory is an error.
source "$(dirname "$0")/common.sh"
ensure_data
set -m   # the background job in its own process group, so SIGTERM reaches it as a scheduler's would
c=(--data "$DATA" --max-steps 6 --ckpt-every 2 --keep 1)

# sums DIR: sha256 of every file in DIR but the lock file (its text names the last holder).
sums() { (cd "$1" && find . -type f ! -name .cnn_ddp.lock | sort | xargs -r sha256sum); }
# expect_status WANT LABEL CMD...: runs CMD, output into $out, and checks its exit status.
expect_status() {
  local want=$1 label=$2 rc=0; shift 2
  out=$("$@" 2>&1) || rc=$?
  [ "$rc" = "$want" ] || fail "$label: exit status $rc, expected $want: $out"
}

# 1. Another run's directory is refused before anything is written.
"$CNN_DDP" "${c[@]}" --quiet --seed 1 --ckpt-dir "$WORK/a" >/dev/null
[ -f "$WORK/a/final.h5" ] && [ -f "$WORK/a/step-4.h5" ] || fail "run 1 left $(ls -A "$WORK/a")"
before=$(sums "$WORK/a")
expect_status 2 "another run's directory" "$CNN_DDP" "${c[@]}" --seed 7 --ckpt-dir "$WORK/a" --metrics "$WORK/b.jsonl"
grep -q "$WORK/a/final.h5: checkpoint has --seed 1, this run --seed 7; --ckpt-dir $WORK/a holds 2 checkpoints of that run (run [0-9a-f]\{16\}; this run is [0-9a-f]\{16\}): give this run a new --ckpt-dir, or --overwrite" <<<"$out" ||
  fail "another run's directory: message: $out"
[ "$(grep -c . <<<"$out")" = 1 ] || fail "another run's directory: expected one line: $out"
[ "$(sums "$WORK/a")" = "$before" ] || fail "the other run's checkpoints changed"
[ ! -e "$WORK/b.jsonl" ] || fail "a refused run wrote its metrics file"
pass "another run's directory refused, its files byte-identical: $out"

# 2. --overwrite replaces them (the new run's own files are all that is left).
id1=$("$CNN_DDP" info "$WORK/a/final.h5" | sed -n 's/^  run *//p')
expect_status 0 "--overwrite" "$CNN_DDP" "${c[@]}" --quiet --seed 7 --ckpt-dir "$WORK/a" --overwrite --metrics "$WORK/b.jsonl"
grep -q "warning: --overwrite: deleted 2 checkpoints of other runs from $WORK/a" <<<"$out" || fail "--overwrite: $out"
"$CNN_DDP" info "$WORK/a/final.h5" | grep -q "seed 7," || fail "--overwrite: final.h5 is not the new run's"
id2=$("$CNN_DDP" info "$WORK/a/final.h5" | sed -n 's/^  run *//p')
[ -n "$id1" ] && [ "$id1" != "$id2" ] || fail "run ids '$id1' and '$id2'"
[ "$(cd "$WORK/a" && ls)" = "$(printf 'final.h5\nstep-4.h5')" ] || fail "--overwrite left $(ls -A "$WORK/a")"
pass "--overwrite: the other run's checkpoints replaced (run $id1 -> $id2)"

# 3. Resuming the finished run: one line, exit 0, nothing changed (checkpoints and metrics file).
before=$(sums "$WORK/a"; sha256sum "$WORK/b.jsonl")
expect_status 0 "finished resume" "$CNN_DDP" "${c[@]}" --quiet --seed 7 --ckpt-dir "$WORK/a" --resume --metrics "$WORK/b.jsonl"
[ "$out" = "$WORK/a/final.h5: this run already finished (checkpoint at step 6, last step 6): nothing to do, no file changed" ] ||
  fail "finished resume: $out"
[ "$(sums "$WORK/a"; sha256sum "$WORK/b.jsonl")" = "$before" ] || fail "resuming a finished run changed files"
pass "--resume of a finished run: exit 0, one line, no file changed"

# 4. A checkpoint trained on another data file is refused, naming both files and what differs.
if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  cp "$DATA" "$WORK/changed.h5"
  /usr/bin/python3 - "$WORK/changed.h5" <<'EOF'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    img = f["train/images"]
    row = img[100]
    row[14, 14] ^= 0x55          # one pixel of one training row
    img[100] = row
EOF
  expect_status 2 "resume on other data" "$CNN_DDP" "${c[@]}" --seed 7 --data "$WORK/changed.h5" --ckpt-dir "$WORK/c" \
    --resume "$WORK/a/final.h5"
  grep -qF "$WORK/a/final.h5: checkpoint was trained on $DATA, this run's --data $WORK/changed.h5 has the same shape (22699 rows of 28x28) but other training rows" <<<"$out" ||
    fail "resume on other data: $out"
  [ ! -e "$WORK/c/final.h5" ] || fail "resume on other data wrote a checkpoint"
  # The directory form too: the data file makes it another run's directory.
  expect_status 2 "resume a directory on other data" "$CNN_DDP" "${c[@]}" --seed 7 --data "$WORK/changed.h5" \
    --ckpt-dir "$WORK/a" --resume
  grep -qF "checkpoint was trained on $DATA, this run's --data $WORK/changed.h5" <<<"$out" || fail "directory resume on other data: $out"
  pass "--resume on a data file with one pixel changed refused: $out"
else
  echo "SKIP: /usr/bin/python3 has no h5py: the other-data-file case was not run"
fi

# 5. A second live job in the directory is refused by the lock, naming the holder.
"$CNN_DDP" --data "$DATA" --epochs 100 --quiet --log-every 1 --ckpt-dir "$WORK/busy" --metrics "$WORK/busy.jsonl" \
  >"$WORK/busy.log" 2>&1 &
job=$!
for i in $(seq 1 300); do grep -q '"step":2,' "$WORK/busy.jsonl" 2>/dev/null && break; sleep 0.1; done
grep -q '"step":2,' "$WORK/busy.jsonl" || fail "the long job never started: $(cat "$WORK/busy.log")"
expect_status 2 "second live job" "$CNN_DDP" --data "$DATA" --epochs 100 --max-steps 3 --ckpt-dir "$WORK/busy"
grep -q "^cnn_ddp: error: --ckpt-dir $WORK/busy is in use by another job (pid $job on host .*): wait for it to end, or give this run another --ckpt-dir" <<<"$out" ||
  fail "second live job: $out"
kill -TERM "$job"
rc=0; wait "$job" || rc=$?
[ "$rc" = 143 ] || fail "the long job, SIGTERM: exit status $rc: $(cat "$WORK/busy.log")"
pass "second live job refused: $out"

# 6. A run stopped by SIGTERM next to newer step files of its own run (an earlier start of the same
#    command, up to step 301) keeps the checkpoint its stop line names (--keep counts it first).
"$CNN_DDP" "${c[@]}" --quiet --ckpt-dir "$WORK/hist" --max-steps 301 --ckpt-every 150 --epochs 100 >/dev/null
[ -f "$WORK/hist/step-300.h5" ] || fail "no step-300.h5 in $(ls "$WORK/hist")"
"$CNN_DDP" --data "$DATA" --epochs 100 --quiet --log-every 1 --keep 1 --ckpt-dir "$WORK/hist" --metrics "$WORK/hist.jsonl" \
  >"$WORK/hist.log" 2>&1 &
job=$!
for i in $(seq 1 300); do grep -q '"step":3,' "$WORK/hist.jsonl" 2>/dev/null && break; sleep 0.1; done
kill -TERM "$job"
rc=0; wait "$job" || rc=$?
[ "$rc" = 143 ] || fail "SIGTERM in the shared history: exit status $rc: $(cat "$WORK/hist.log")"
ck=$(sed -n 's/^cnn_ddp: stopped by signal at step [0-9]*, checkpoint \(.*\); resume with --resume$/\1/p' "$WORK/hist.log")
s=$(sed -n 's/^cnn_ddp: stopped by signal at step \([0-9]*\),.*/\1/p' "$WORK/hist.log")
[ -n "$ck" ] || fail "no stop line: $(cat "$WORK/hist.log")"
[ "$s" -lt 300 ] || fail "stopped only at step $s, past the earlier start's step-300.h5: nothing tested"
[ -f "$ck" ] || fail "the stop line names $ck, which does not exist (left: $(ls "$WORK/hist"))"
expect_status 0 "resume the stop checkpoint" "$CNN_DDP" --data "$DATA" --epochs 100 --max-steps $((s + 3)) \
  --ckpt-dir "$WORK/hist" --resume "$ck"
grep -qF "resumed from $ck at step $s " <<<"$out" || fail "resume the stop checkpoint: $out"
pass "SIGTERM at step $s next to newer step files: $ck kept and resumed"

# 7. With --overwrite over another run's newer files, a SIGTERM'd run's checkpoint resumes from the directory.
"$CNN_DDP" "${c[@]}" --quiet --seed 3 --ckpt-dir "$WORK/other" --max-steps 30 --ckpt-every 10 --epochs 100 >/dev/null
"$CNN_DDP" --data "$DATA" --epochs 100 --quiet --log-every 1 --overwrite --ckpt-dir "$WORK/other" \
  --metrics "$WORK/other.jsonl" >"$WORK/other.log" 2>&1 &
job=$!
for i in $(seq 1 300); do grep -q '"step":3,' "$WORK/other.jsonl" 2>/dev/null && break; sleep 0.1; done
kill -TERM "$job"
rc=0; wait "$job" || rc=$?
[ "$rc" = 143 ] || fail "SIGTERM after --overwrite: exit status $rc: $(cat "$WORK/other.log")"
s=$(sed -n 's/^cnn_ddp: stopped by signal at step \([0-9]*\),.*/\1/p' "$WORK/other.log")
[ -f "$WORK/other/step-$s.h5" ] || fail "after --overwrite: step-$s.h5 missing (left: $(ls "$WORK/other"))"
expect_status 0 "resume after --overwrite" "$CNN_DDP" --data "$DATA" --epochs 100 --max-steps $((s + 3)) \
  --ckpt-dir "$WORK/other" --resume
grep -qF "resumed from $WORK/other/step-$s.h5 at step $s " <<<"$out" || fail "resume after --overwrite: $out"
pass "--overwrite over another run's history, SIGTERM at step $s, --resume from the directory"

# 8. Temporaries left by a writer killed with SIGKILL are removed at the next start, and counted.
mkdir -p "$WORK/stale"
sh -c 'exit 0' & dead=$!; wait "$dead"   # a pid that no longer runs
touch "$WORK/stale/.step-4.h5.tmp-$dead" "$WORK/stale/.final.h5.tmp-$dead" "$WORK/stale/notes.tmp-$dead"
expect_status 0 "stale temporaries" "$CNN_DDP" "${c[@]}" --ckpt-dir "$WORK/stale"
grep -qF "removed 2 stale temporary files of killed checkpoint writers from $WORK/stale" <<<"$out" || fail "stale temporaries: $out"
[ ! -e "$WORK/stale/.step-4.h5.tmp-$dead" ] && [ ! -e "$WORK/stale/.final.h5.tmp-$dead" ] || fail "stale temporaries left"
[ -e "$WORK/stale/notes.tmp-$dead" ] || fail "a file that is not a checkpoint temporary was removed"
pass "stale temporaries of a dead writer removed, other files left"

# 9. A directory that cannot be listed is an error naming it, not "starting from scratch". Root reads any
#    directory, so as root the run is made as the unprivileged user nobody (setpriv).
as_user=()
if [ "$(id -u)" = 0 ]; then
  if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
    as_user=(setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups)
  else
    echo "SKIP: running as root without setpriv: the unlistable-directory case was not run"
  fi
fi
if [ "$(id -u)" != 0 ] || [ ${#as_user[@]} -gt 0 ]; then
  chmod o+x "$WORK"   # so that nobody can reach $pub
  pub="$WORK/pub"
  mkdir "$pub" && chmod 0755 "$pub"
  cp "$DATA" "$pub/data.h5" && chmod 0644 "$pub/data.h5"
  mkdir "$pub/ck" && chmod 0333 "$pub/ck"   # writable and searchable, not readable
  expect_status 2 "unlistable directory" "${as_user[@]}" "$CNN_DDP" --data "$pub/data.h5" --max-steps 3 --ckpt-dir "$pub/ck" --resume
  grep -qxF "cnn_ddp: error: --ckpt-dir: $pub/ck: cannot list checkpoint directory: Permission denied" <<<"$out" ||
    fail "unlistable directory, --resume: $out"
  expect_status 2 "unlistable directory" "${as_user[@]}" "$CNN_DDP" --data "$pub/data.h5" --max-steps 3 --ckpt-dir "$pub/ck"
  grep -qxF "cnn_ddp: error: --ckpt-dir: $pub/ck: cannot list checkpoint directory: Permission denied" <<<"$out" ||
    fail "unlistable directory: $out"
  [ ! -e "$pub/ck/final.h5" ] || fail "a run in an unlistable directory trained and wrote final.h5"
  pass "unlistable --ckpt-dir refused before training: $out"
fi
