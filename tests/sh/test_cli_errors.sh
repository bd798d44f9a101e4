# Every bad option or input gets one error line naming it and exit status 2, never a crash or a hang.
source "$(dirname "$0")/common.sh"
ensure_data
check() { # expected-pattern args...
  local pattern=$1; shift
  local out rc=0
  out=$(timeout 60 "$CNN_DDP" --data "$DATA" --no-ckpt "$@" 2>&1) || rc=$?
  [ "$rc" = 2 ] || fail "'$*': exit status $rc, expected 2: $out"
  [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "'$*': expected one line: $out"
  printf '%s\n' "$out" | grep -q -- "$pattern" || fail "'$*': message lacks '$pattern': $out"
  pass "$* -> $out"
}
check "--batch 0" --batch 0
check "--epochs -1" --epochs -1
check "--lr nan" --lr nan
check "--lr 0" --lr 0
check "--momentum 1" --momentum 1
check "--batch 12x" --batch 12x
check "unknown option '--bogus'" --bogus
check "--epochs needs a value" --epochs
check "--kernels avx9" --kernels avx9
check "--lr-schedule linear: expected constant or cosine" --lr-schedule linear
check "--batch 4097: must be between 1 and 4096" --batch 4097
check "--batch 64 and --batch-per-rank 32: give one" --batch 64 --batch-per-rank 32
check "--shards" --shards 8
check "missing.h5" --data "$WORK/missing.h5"
check "model spec at" --model "conv(10,k=5) pol(2) fc(10)"
check "smaller than" --model "conv(10,k=5) pool(2) conv(20,k=5) pool(2) conv(40,k=5) fc(10)"
check "fc(10)" --model "conv(4,k=3) fc(7)"
echo "junk" > "$WORK/junk.h5"
check "junk.h5" --data "$WORK/junk.h5"
check "unexpected argument" stray
# Output locations that cannot work are refused before the first step (issue 12: 4, 5), and nothing
# that is not a metrics file is overwritten by --metrics.
check_out() { # expected-pattern args... (checkpoints on)
  local pattern=$1; shift
  local out rc=0
  out=$(timeout 60 "$CNN_DDP" --data "$DATA" --max-steps 2 --quiet "$@" 2>&1) || rc=$?
  [ "$rc" = 2 ] || fail "'$*': exit status $rc, expected 2: $out"
  [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "'$*': expected one line: $out"
  printf '%s\n' "$out" | grep -q -- "$pattern" || fail "'$*': message lacks '$pattern': $out"
  grep -q "step 1" <<<"$out" && fail "'$*': refused only after training: $out"
  pass "$* -> $out"
}
echo "not a directory" > "$WORK/plain"
check_out "--ckpt-dir: .*plain.* is not a directory" --ckpt-dir "$WORK/plain/ck"
check_out "--ckpt-dir: /dev/null: .*not a directory" --ckpt-dir /dev/null
check_out "--ckpt-dir: the name .* leaves no room" --ckpt-dir "$WORK/$(printf 'd%.0s' $(seq 4070))"
before=$(sha256sum < "$DATA")
check_out "--metrics .*mnist.h5: an existing file that is not a cnn_ddp metrics file" --no-ckpt --metrics "$DATA"
[ "$(sha256sum < "$DATA")" = "$before" ] || fail "--metrics DATA changed the data file"
echo "my notes" > "$WORK/notes.txt"
check_out "--metrics .*notes.txt: an existing file that is not" --no-ckpt --metrics "$WORK/notes.txt"
[ "$(cat "$WORK/notes.txt")" = "my notes" ] || fail "--metrics overwrote notes.txt"
mkfifo "$WORK/fifo"
check_out "--metrics .*fifo: exists and is not a regular file" --no-ckpt --metrics "$WORK/fifo"
# ... while a metrics file of an earlier run is replaced, and /dev/null is fine.
"$CNN_DDP" --data "$DATA" --max-steps 2 --quiet --no-ckpt --metrics "$WORK/m.jsonl" >/dev/null
"$CNN_DDP" --data "$DATA" --max-steps 2 --quiet --no-ckpt --metrics "$WORK/m.jsonl" >/dev/null ||
  fail "an earlier run's metrics file was refused"
"$CNN_DDP" --data "$DATA" --max-steps 2 --quiet --no-ckpt --metrics /dev/null >/dev/null || fail "--metrics /dev/null refused"
pass "an earlier metrics file is replaced; /dev/null accepted"
out=$(CNN_DDP_BATCH=0 "$CNN_DDP" --data "$DATA" 2>&1) && fail "CNN_DDP_BATCH=0 accepted"
echo "$out" | grep -q "CNN_DDP_BATCH" || fail "environment error does not name the variable: $out"
pass "CNN_DDP_BATCH=0 -> $out"
# An unknown CNN_DDP_ variable is one warning line, not an error; the fault-injection variable is none.
err=$(CNN_DDP_BACH=128 CNN_DDP_FAULT=nan:0:999 timeout 120 "$CNN_DDP" --data "$DATA" --max-steps 1 --no-ckpt --quiet \
      2>&1 >/dev/null) || fail "CNN_DDP_BACH=128: exit status $?: $err"
want="cnn_ddp: warning: CNN_DDP_BACH is not a cnn_ddp option (did you mean CNN_DDP_BATCH?)"
[ "$err" = "$want" ] || fail "CNN_DDP_BACH=128: stderr '$err', expected '$want'"
pass "CNN_DDP_BACH=128 -> $err"
err=$(CNN_DDP_BACH=128 mpirun_np 2 --data "$DATA" --max-steps 1 --no-ckpt --quiet 2>&1 >/dev/null) \
  || fail "CNN_DDP_BACH=128 on 2 ranks: $err"
[ "$(grep -c 'cnn_ddp: warning' <<<"$err")" = 1 ] || fail "expected one warning from 2 ranks: $err"
pass "CNN_DDP_BACH=128 on 2 ranks -> one warning"
# More ranks than samples in a step is refused on every rank, once.
out=$(mpirun_np 3 --data "$DATA" --no-ckpt --batch 2 2>&1) && fail "3 ranks with a global batch of 2 accepted"
[ "$(echo "$out" | grep -c 'cnn_ddp: error')" = 1 ] || fail "expected one error line for 3 ranks / batch 2: $out"
pass "3 ranks, batch 2 -> $(echo "$out" | grep 'cnn_ddp: error')"
# --batch-per-rank whose global batch passes the limit: refused once, naming both figures.
out=$(mpirun_np 2 --data "$DATA" --no-ckpt --batch-per-rank 2049 2>&1) && fail "a global batch of 4098 accepted"
[ "$(echo "$out" | grep -c 'cnn_ddp: error')" = 1 ] || fail "expected one error line for 2 x 2049: $out"
grep -q -- "--batch-per-rank 2049 on 2 ranks is a global batch of 4098, above the limit 4096" <<<"$out" ||
  fail "2 x 2049: $out"
pass "2 ranks x --batch-per-rank 2049 -> $(echo "$out" | grep 'cnn_ddp: error')"
help=$("$CNN_DDP" --help)
for opt in --data --model --epochs --max-steps --batch --lr --lr-schedule --momentum --seed --kernels --batch-per-rank --metrics --quiet \
           --ckpt-dir --ckpt-every --keep --resume --timeout --check-every --device --comm --log-every --no-ckpt --verbose \
           --progress --progress-every \
           "cnn_ddp eval" "cnn_ddp predict" "cnn_ddp info"; do
  grep -q -- "$opt" <<<"$help" || fail "--help does not document $opt"
done
pass "--help documents the options"
