# --metrics of real runs, with the test split and with --val-rows, a stopped run resumed into the same
# file: every record parses as JSON with unique keys (Python's json, duplicates rejected), typed values,
# an ISO-8601 UTC time, and each epoch's held-out loss and lr (tests/sh/check_metrics.py).
source "$(dirname "$0")/common.sh"
ensure_data
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || { echo "SKIP: no python3"; exit 77; }
CHECK="$CD_SRC/tests/sh/check_metrics.py"

"$CNN_DDP" --data "$DATA" --epochs 1 --log-every 50 --quiet --no-ckpt --metrics "$WORK/test.jsonl" >/dev/null
out=$("$PY" "$CHECK" "$WORK/test.jsonl" test) || fail "test split: $out"
pass "with the test split: $out"

"$CNN_DDP" --data "$DATA" --epochs 1 --val-rows 1000 --quiet --no-ckpt --metrics "$WORK/val.jsonl" >/dev/null
out=$("$PY" "$CHECK" "$WORK/val.jsonl" val) || fail "--val-rows: $out"
pass "with --val-rows: $out"

# Stopped by a signal in epoch 2, resumed: one file, the resumed run's records appended.
rc=0; CNN_DDP_FAULT=sigterm:0:400 "$CNN_DDP" --data "$DATA" --epochs 2 --max-steps 420 --quiet --ckpt-dir "$WORK/ck" \
  --metrics "$WORK/resumed.jsonl" >/dev/null 2>&1 || rc=$?
[ "$rc" = 143 ] || fail "the stopped run exited $rc"
"$CNN_DDP" --data "$DATA" --epochs 2 --max-steps 420 --quiet --ckpt-dir "$WORK/ck" --resume --metrics "$WORK/resumed.jsonl" >/dev/null
[ "$(grep -c '"type":"config"' "$WORK/resumed.jsonl")" = 2 ] || fail "the resumed run did not append its own config record"
"$PY" - "$WORK/resumed.jsonl" <<'PYEOF' || fail "resumed file: not every line is JSON with unique keys"
import json, sys
def unique(pairs):
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), keys
    return dict(pairs)
for line in open(sys.argv[1]):
    json.loads(line, object_pairs_hook=unique)
PYEOF
pass "a stopped and resumed run appends valid records to one file"

# The checker can fail: a duplicate key, and numbers written as strings (as the config record once did).
printf '{"type":"config","device":"cpu","device":"cuda","time":"2026-01-01T00:00:00.000Z"}\n' > "$WORK/dup.jsonl"
rc=0; out=$("$PY" "$CHECK" "$WORK/dup.jsonl" test 2>&1) || rc=$?
[ "$rc" != 0 ] && grep -q "duplicate keys \['device'\]" <<<"$out" || fail "a duplicate key was not caught: $out"
sed 's/"epochs":[0-9]*/"epochs":"1"/' "$WORK/test.jsonl" > "$WORK/strings.jsonl"
rc=0; out=$("$PY" "$CHECK" "$WORK/strings.jsonl" test 2>&1) || rc=$?
[ "$rc" != 0 ] && grep -q "epochs is '1'" <<<"$out" || fail "a number written as a string was not caught: $out"
pass "the checker refuses duplicate keys and numbers as strings"
