# Run from another directory (issue 16, point 4): checkpoints record the training data's absolute path, so
# eval and --resume find it from anywhere; a missing default data file says where it looked and how to make
# it; data that is gone names both the recorded path and the path as given.
source "$(dirname "$0")/common.sh"
ensure_data
mkdir -p "$WORK/proj/datasets" "$WORK/other"
cp "$DATA" "$WORK/proj/datasets/mnist.h5"
abs="$WORK/proj/datasets/mnist.h5"
# Trained with the default --data (datasets/mnist.h5, relative) from the project directory.
(cd "$WORK/proj" && timeout 120 "$CNN_DDP" --max-steps 3 --quiet --ckpt-dir ck >/dev/null) || fail "training in proj"
(cd "$WORK/proj" && timeout 120 "$CNN_DDP" --max-steps 6 --quiet --ckpt-dir ck6 >/dev/null) || fail "6 steps in proj"
cp -r "$WORK/proj/ck" "$WORK/proj/ckr"
info=$(cd "$WORK/other" && "$CNN_DDP" info "$WORK/proj/ck/final.h5")
grep -q "^  data         $abs: " <<<"$info" || fail "info does not show the absolute data path: $info"
grep -q "^    data=datasets/mnist.h5$" <<<"$info" || fail "the configuration lost the path as given: $info"
pass "the checkpoint records $abs (and data=datasets/mnist.h5 as given)"

# eval from elsewhere, no --data: the recorded absolute path; the same accuracy as from the project.
here=$(cd "$WORK/proj" && timeout 120 "$CNN_DDP" eval --ckpt ck/final.h5 | grep "^test accuracy")
out=$(cd "$WORK/other" && timeout 120 "$CNN_DDP" eval --ckpt "$WORK/proj/ck/final.h5") || fail "eval from other: $out"
grep -q "^data $abs: 10000 test images" <<<"$out" || fail "eval from other did not use $abs: $out"
[ "$(grep "^test accuracy" <<<"$out")" = "$here" ] || fail "eval from other differs: $out vs $here"
pass "eval --ckpt /abs/final.h5 from another directory: $here"

# The default data missing here: one line, exit 2, where it looked and how to make it.
out=$(cd "$WORK/other" && timeout 60 "$CNN_DDP" --max-steps 2 --no-ckpt 2>&1) && fail "trained without data: $out"
rc=$?; [ "$rc" = 2 ] || fail "missing default data: exit $rc: $out"
[ "$(wc -l <<<"$out")" = 1 ] || fail "missing default data: more than one line: $out"
for part in "datasets/mnist.h5: no such file" "looked for $WORK/other/datasets/mnist.h5" "datasets/prepare.sh mnist" \
            "--data FILE.h5"; do
  grep -qF -- "$part" <<<"$out" || fail "missing default data: message lacks '$part': $out"
done
pass "missing default data -> $out"
out=$(cd "$WORK/other" && timeout 60 "$CNN_DDP" --data sub/nope.h5 --no-ckpt 2>&1) && fail "trained without data"
grep -qF -- "--data sub/nope.h5: no such file (looked for $WORK/other/sub/nope.h5)" <<<"$out" || fail "--data nope: $out"
pass "missing --data -> $out"

# --resume from elsewhere with the default --data: the checkpoint's data, and the same bits as 6 steps in one go.
out=$(cd "$WORK/other" && timeout 120 "$CNN_DDP" --resume --ckpt-dir "$WORK/proj/ckr" --max-steps 6 2>&1) ||
  fail "resume from other: $out"
grep -qF "datasets/mnist.h5 is not in this directory: training on $abs" <<<"$out" || fail "resume: no note: $out"
[ "$(digest "$WORK/proj/ckr/final.h5")" = "$(digest "$WORK/proj/ck6/final.h5")" ] ||
  fail "resumed from another directory: weights differ from the uninterrupted run"
pass "--resume from another directory finds $abs; bits equal the uninterrupted run"

# The data gone: eval and resume say what they looked for (the recorded absolute path, and the path as given).
mv "$abs" "$WORK/moved.h5"
out=$(cd "$WORK/other" && timeout 60 "$CNN_DDP" eval --ckpt "$WORK/proj/ck/final.h5" 2>&1) && fail "eval without data"
rc=$?; [ "$rc" = 2 ] || fail "eval, data gone: exit $rc: $out"
[ "$(wc -l <<<"$out")" = 1 ] || fail "eval, data gone: more than one line: $out"
grep -qF "looked for $abs (recorded) and datasets/mnist.h5 (as given to its run, here $WORK/other/datasets/mnist.h5)" \
  <<<"$out" || fail "eval, data gone: $out"
pass "eval, data gone -> $out"
out=$(cd "$WORK/other" && timeout 60 "$CNN_DDP" --resume --ckpt-dir "$WORK/proj/ck" 2>&1) && fail "resumed without data"
grep -qF "looked for $WORK/other/datasets/mnist.h5, and for $abs, where the run of $WORK/proj/ck/final.h5 found it" \
  <<<"$out" || fail "resume, data gone: $out"
pass "resume, data gone -> $out"
out=$(cd "$WORK/other" && timeout 60 "$CNN_DDP" eval --ckpt "$WORK/proj/ck/final.h5" --data "$WORK/moved.h5") ||
  fail "eval --data moved: $out"
[ "$(grep "^test accuracy" <<<"$out")" = "$here" ] || fail "eval --data moved differs: $out"
pass "eval --data names the moved file: same accuracy"
