# Damaged or foreign checkpoints are refused with a clear message and exit status 2; with a damaged
# newest checkpoint, --resume falls back to an older one that verifies.
source "$(dirname "$0")/common.sh"
ensure_data
common=(--data "$DATA" --quiet --max-steps 40)
"$CNN_DDP" "${common[@]}" --max-steps 60 --ckpt-dir "$WORK/good" --ckpt-every 20 --keep 5 >/dev/null
good="$WORK/good/step-20.h5"
[ -f "$good" ] || fail "no step-20.h5"
size=$(stat -c %s "$good")

expect_refused() { # label file pattern
  local label=$1 file=$2 pattern=$3 out rc=0
  out=$("$CNN_DDP" "${common[@]}" --max-steps 60 --ckpt-dir "$WORK/x" --resume "$file" 2>&1) || rc=$?
  [ "$rc" = 2 ] || fail "$label: exit status $rc, expected 2 ($out)"
  echo "$out" | grep -q "$pattern" || fail "$label: message lacks '$pattern': $out"
  [ "$(echo "$out" | grep -c 'error')" = 1 ] || fail "$label: expected one error line: $out"
  pass "$label refused: $(echo "$out" | grep error)"
}

head -c $((size / 2)) "$good" > "$WORK/truncated.h5"
expect_refused "truncated checkpoint" "$WORK/truncated.h5" "truncated.h5"

# Flip one byte inside a tensor's data: its checksum must catch it.
flip_byte() { # file offset
  local v; v=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "$(printf '\\%03o' $((v ^ 0x40)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
for tensor in /params/conv2/weight /optim/fc1/bias; do
  cp "$good" "$WORK/flipped.h5"
  at=$("$DIGEST" --offset "$WORK/flipped.h5" "$tensor")
  flip_byte "$WORK/flipped.h5" $((at + 5))
  cmp -s "$good" "$WORK/flipped.h5" && fail "the byte flip did not change the file"
  expect_refused "checkpoint with a flipped byte in $tensor" "$WORK/flipped.h5" "$tensor"
done

"$CNN_DDP" --data "$DATA" --quiet --max-steps 10 --model "conv(6,k=5) pool(2) relu fc(10)" --ckpt-dir "$WORK/other" >/dev/null
expect_refused "checkpoint of another model" "$WORK/other/final.h5" "model"

"$CNN_DDP" "${common[@]}" --batch 32 --ckpt-dir "$WORK/b32" >/dev/null
expect_refused "checkpoint with another batch" "$WORK/b32/final.h5" "batch"

echo "not a checkpoint" > "$WORK/text.h5"
expect_refused "text file" "$WORK/text.h5" "text.h5"
expect_refused "missing file" "$WORK/nope.h5" "nope.h5"

# Fallback: without final.h5 the newest is step-40.h5; damage it and --resume must take step-20.h5.
rm -f "$WORK/good/final.h5"
head -c 1000 "$WORK/good/step-40.h5" > "$WORK/good/step-40.tmp" && mv "$WORK/good/step-40.tmp" "$WORK/good/step-40.h5"
out=$("$CNN_DDP" "${common[@]}" --max-steps 40 --ckpt-dir "$WORK/good" --resume 2>&1) || fail "fallback resume failed: $out"
echo "$out" | grep -q "skipping damaged checkpoint" || fail "no message about the damaged newest checkpoint: $out"
echo "$out" | grep -q "step-40.h5" || fail "the message does not name the damaged file: $out"
pass "damaged newest checkpoint skipped with a message; resumed from step-20.h5"
