# Beyond MNIST (issue 14): a generated 3-channel 32x32 data set of 16 colour/shape classes
# (tests/tools/make_shapes, written in C so this always runs) trains the seed net to high accuracy, and
#  - its /params and /optim are bit-identical for 1 and 3 ranks, across a stop/resume (on 2 ranks), and for
#    an NHWC copy (layout="NHWC") and an explicit layout="NCHW" copy of the same images;
#  - eval gives the trainer's accuracy with the class names; predict names the class; info describes it;
#  - --val-rows reports validation accuracy and loss each epoch, the same bits on 1 and 3 ranks, and is
#    part of the run's identity; a file without /test trains with a note;
#  - every new refusal is one line naming the file, the dataset and the problem, exit 2: channels or
#    classes or normalisation of another run on resume (and in eval), a bad layout attribute, labels
#    outside 0..K-1, mean/std attributes of the wrong shape, type or value, num_classes and class_names
#    that do not fit, train and test disagreeing on K.
source "$(dirname "$0")/common.sh"
SHAPES="$CD_BIN/tests/make_shapes"
ATTRS="$CD_BIN/tests/data_attrs"
cd "$WORK"
"$SHAPES" shapes.h5 || fail "make_shapes failed"
"$SHAPES" nhwc.h5 --layout NHWC || fail "make_shapes --layout NHWC failed"
"$SHAPES" nchw.h5 --layout NCHW || fail "make_shapes --layout NCHW failed"
cmp -s shapes.h5 nhwc.h5 && fail "the NHWC copy is byte-identical to the NCHW file"
recipe=(--epochs 10 --lr 0.03 --momentum 0.9 --lr-schedule cosine --quiet)
both() { digest "$1" /params; digest "$1" /optim; }

# ---- training: accuracy, ranks, stop/resume, layouts ----------------------------------------------
out=$("$CNN_DDP" --data shapes.h5 "${recipe[@]}" --ckpt-dir r1 --metrics m1.jsonl) || fail "training failed: $out"
acc=$(sed -n 's/^final: step [0-9]*  test accuracy \([0-9.]*\)%.*/\1/p' <<<"$out")
[ -n "$acc" ] || fail "no final line: $out"
awk -v a="$acc" 'BEGIN { exit !(a >= 95) }' || fail "test accuracy $acc% on 16 colour/shape classes, expected >= 95%"
pass "seed net, 3x32x32 images, 16 classes: test accuracy $acc% after 10 epochs"
ref=$(both r1/final.h5)

mpirun_np 3 --data shapes.h5 "${recipe[@]}" --ckpt-dir r3 >/dev/null || fail "3-rank training failed"
[ "$(both r3/final.h5)" = "$ref" ] || fail "3 ranks end with other /params or /optim than 1 rank"
pass "1 and 3 ranks: /params and /optim bit-identical"

"$CNN_DDP" --data shapes.h5 "${recipe[@]}" --ckpt-dir rs --max-steps 250 >/dev/null || fail "the stopped run failed"
[ -f rs/final.h5 ] || fail "the stopped run wrote no checkpoint"
mpirun_np 2 --data shapes.h5 "${recipe[@]}" --ckpt-dir rs --resume >/dev/null || fail "the resume on 2 ranks failed"
[ "$(both rs/final.h5)" = "$ref" ] || fail "stop at step 250 + resume on 2 ranks differs from the uninterrupted run"
pass "stop at step 250 and resume on 2 ranks: bit-identical"

for copy in nhwc nchw; do
  "$CNN_DDP" --data "$copy.h5" "${recipe[@]}" --ckpt-dir "r_$copy" >/dev/null || fail "training on $copy.h5 failed"
  [ "$(both "r_$copy/final.h5")" = "$ref" ] || fail "$copy.h5 (layout attribute) trains to other bits"
done
pass "NHWC (layout=\"NHWC\") and explicit NCHW copies: the same bits as the plain [N,3,32,32] file"

# ---- eval, predict, info ---------------------------------------------------------------------------
ev=$("$CNN_DDP" eval --ckpt r1/final.h5 --data shapes.h5) || fail "eval failed: $ev"
grep -q "^test accuracy $acc% " <<<"$ev" || fail "eval's accuracy differs from the trainer's $acc%: $ev"
grep -q "^    9  .*  green triangle$" <<<"$ev" || fail "eval's per-class table lacks the class names: $ev"
[ "$(sed -n '/^class  images/,/^$/p' <<<"$ev" | sed '1d;$d' | wc -l)" = 16 ] || fail "eval: not 16 class rows: $ev"
pass "eval: $acc% as the trainer, 16 named classes"
p=$("$CNN_DDP" predict --ckpt r1/final.h5 --h5 shapes.h5 --index 3) || fail "predict failed: $p"
grep -Eq '^shapes.h5 /test\[3\] \(label [0-9]+\): class [0-9]+ \([a-z]+ [a-z]+\)  p( [0-9]+:[01]\.[0-9]{4}){16}$' <<<"$p" ||
  fail "predict line: $p"
pass "predict: $p"
info=$("$CNN_DDP" info shapes.h5) || fail "info failed: $info"
for want in "images       3x32x32 (CxHxW), layout NCHW" "classes      16 (num_classes on /train/labels): red square," \
  "normalise    not stored: would be computed at start-up" "/train: 4000 images of 32x32, 16 of 16 classes"; do
  grep -qF "$want" <<<"$info" || fail "info lacks '$want': $info"
done
grep -qF "layout NHWC" <<<"$("$CNN_DDP" info nhwc.h5)" || fail "info on the NHWC file does not say NHWC"
info=$("$CNN_DDP" info r1/final.h5) || fail "info on the checkpoint failed"
grep -q "training rows of 3x32x32" <<<"$info" && grep -q "classes      16: red square, green square" <<<"$info" &&
  grep -q "normalise    mean 0\.[0-9]*,0\.[0-9]*,0\.[0-9]* std " <<<"$info" || fail "checkpoint info: $info"
pass "info describes the data set (C, H, W, layout, K, names, normalisation) and the checkpoint's"

# ---- validation rows, no /test ---------------------------------------------------------------------
short=(--epochs 2 --lr 0.03 --momentum 0.9 --val-rows 500)
out=$("$CNN_DDP" --data shapes.h5 "${short[@]}" --ckpt-dir v1 --metrics v.jsonl) || fail "--val-rows failed: $out"
grep -Eq '^epoch 2/2  loss [0-9.]+  train [0-9.]+%  val [0-9.]+% \(loss [0-9.]+\)  ' <<<"$out" ||
  fail "no validation figures in the epoch line: $out"
grep -q "3500 training rows.*500 validation rows" <<<"$out" || fail "banner lacks the held-out rows: $out"
grep -q '"type":"epoch".*"val_acc":[0-9.]*,"val_loss":[0-9.]*' v.jsonl || fail "metrics lack val_acc/val_loss"
grep -q '"type":"final".*"test_acc"' v.jsonl || fail "metrics lack the final test accuracy"
mpirun_np 3 --data shapes.h5 "${short[@]}" --ckpt-dir v3 --quiet >/dev/null || fail "--val-rows on 3 ranks failed"
[ "$(both v3/final.h5)" = "$(both v1/final.h5)" ] || fail "--val-rows: 3 ranks differ from 1"
out3=$(mpirun_np 3 --data shapes.h5 "${short[@]}" --ckpt-dir v3b --max-steps 60 2>&1) || fail "$out3"
[ "$(grep '^epoch 1/2' <<<"$out3" | sed 's/  [0-9]* img\/s.*//')" = "$(grep '^epoch 1/2' <<<"$out" | sed 's/  [0-9]* img\/s.*//')" ] ||
  fail "epoch 1's validation figures differ between 1 and 3 ranks"
"$CNN_DDP" --data shapes.h5 --epochs 2 --lr 0.03 --momentum 0.9 --val-rows 0.1 --ckpt-dir vf --max-steps 3 --quiet \
  >/dev/null || fail "--val-rows 0.1 failed"
grep -q "3600 training rows" <<<"$("$CNN_DDP" info vf/final.h5)" || fail "--val-rows 0.1 did not hold out 400 rows"
pass "--val-rows 500 (and 0.1): val accuracy and loss per epoch, test at the end, 1 and 3 ranks bit-identical"

"$SHAPES" notest.h5 --no-test || fail "make_shapes --no-test failed"
out=$("$CNN_DDP" --data notest.h5 --epochs 1 --no-ckpt 2>&1) || fail "a file without /test was refused: $out"
grep -q "notest.h5 has no /test split: training without a test evaluation" <<<"$out" || fail "no note: $out"
grep -q "^final: step [0-9]*  (no /test split to evaluate)" <<<"$out" || fail "final line: $out"
pass "a file without /test trains with a note"

# ---- refusals: one line naming the file, the dataset and the problem, exit 2 ---------------------------
train1=(--max-steps 1 --no-ckpt --quiet)
variant() { cp shapes.h5 "$1.h5"; }
edit() { "$ATTRS" "$@" || fail "data_attrs $*"; }

ensure_data # MNIST: one channel, ten classes
refused_one_line "resume with 1-channel data" \
  "r1/final.h5: this run's --data .*mnist.h5 has 1 channel, the checkpoint's run had 3 \(data_channels\)" \
  "$CNN_DDP" --data "$DATA" "${recipe[@]}" --ckpt-dir x1 --resume r1/final.h5
refused_one_line "eval on 1-channel data" ".*mnist.h5 has 1 channel, the checkpoint's run had 3 \(data_channels\)" \
  "$CNN_DDP" eval --ckpt r1/final.h5 --data "$DATA"

variant k20; edit k20.h5 /train/labels del class_names; edit k20.h5 /train/labels i64 num_classes 20
refused_one_line "resume with 20 classes" "r1/final.h5: this run's --data k20.h5 has 20 classes, the checkpoint's run had 16 \(classes\)" \
  "$CNN_DDP" --data k20.h5 "${recipe[@]}" --ckpt-dir x2 --resume r1/final.h5
refused_one_line "eval with 20 classes" "eval: k20.h5 has 20 classes, the checkpoint's run had 16 \(classes\)" \
  "$CNN_DDP" eval --ckpt r1/final.h5 --data k20.h5
refused_one_line "predict on a row of 20-class data" "predict: k20.h5 has 20 classes, the checkpoint's run had 16 \(classes\)" \
  "$CNN_DDP" predict --ckpt r1/final.h5 --h5 k20.h5 --index 0

variant norm; edit norm.h5 /train/images f64 mean 0.2 0.2 0.2; edit norm.h5 /train/images f64 std 0.2 0.2 0.2
refused_one_line "resume with another normalisation" \
  "r1/final.h5: checkpoint's run normalised its inputs with mean [0-9.,e-]* std [0-9.,e-]*, this run's --data norm.h5 with mean 0.20000000000000001,0.20000000000000001,0.20000000000000001 std .* \(norm_mean, norm_std\)" \
  "$CNN_DDP" --data norm.h5 "${recipe[@]}" --ckpt-dir x3 --resume r1/final.h5
refused_one_line "eval with another stored normalisation" "eval: norm.h5 stores the normalisation mean 0.2.*\(norm_mean, norm_std\)" \
  "$CNN_DDP" eval --ckpt r1/final.h5 --data norm.h5
refused_one_line "resume with other --val-rows" \
  "v1/final.h5: checkpoint held out 500 training rows for validation, this run 400 \(val_rows\): resume with --val-rows 500" \
  "$CNN_DDP" --data shapes.h5 --epochs 2 --lr 0.03 --momentum 0.9 --val-rows 400 --quiet --ckpt-dir x4 --resume v1/final.h5

refused_one_line "--val-rows not whole" "--val-rows 1.5: give a whole number of rows, or a fraction below 1" \
  "$CNN_DDP" --data shapes.h5 --val-rows 1.5 "${train1[@]}"
refused_one_line "--val-rows of every row" "--val-rows 4000: shapes.h5 has only 4000 training rows" \
  "$CNN_DDP" --data shapes.h5 --val-rows 4000 "${train1[@]}"
refused_one_line "--val-rows fraction of no row" "--val-rows 0.0001: that fraction of the 4000 training rows of shapes.h5 is no row" \
  "$CNN_DDP" --data shapes.h5 --val-rows 0.0001 "${train1[@]}"
refused_one_line "--val-rows leaving fewer rows than the batch" "shapes.h5: 10 training rows after --val-rows, fewer than the global batch of 64" \
  "$CNN_DDP" --data shapes.h5 --val-rows 3990 "${train1[@]}"
refused_one_line "--val-rows negative" "--val-rows -3" "$CNN_DDP" --data shapes.h5 --val-rows -3 "${train1[@]}"

variant lay; edit lay.h5 /train/images str layout HWCN
refused_one_line "bad layout attribute" 'lay.h5: /train/images: attribute layout is "HWCN"; expected "NCHW" or "NHWC"' \
  "$CNN_DDP" --data lay.h5 "${train1[@]}"
variant lay2; edit lay2.h5 /test/images i64 layout 1
refused_one_line "layout attribute not a string" "lay2.h5: /test/images: attribute layout is an integer attribute; expected a string" \
  "$CNN_DDP" --data lay2.h5 "${train1[@]}"
refused_one_line "layout on [N,H,W] images" 'notrank4.h5: /train/images: attribute layout is "NHWC" but the shape \[.*\] has no channel axis' \
  bash -c "cp '$DATA' notrank4.h5 && '$ATTRS' notrank4.h5 /train/images str layout NHWC && '$CNN_DDP' --data notrank4.h5 ${train1[*]}"

variant lab; edit lab.h5 /train/labels del class_names; edit lab.h5 /train/labels i64 num_classes 10
refused_one_line "labels outside 0..K-1" "lab.h5: /train/labels: label 1[0-5] at row [0-9]+ is outside 0-9" \
  "$CNN_DDP" --data lab.h5 "${train1[@]}"
variant k300; edit k300.h5 /train/labels i64 num_classes 300
refused_one_line "num_classes out of range" "k300.h5: /train/labels: attribute num_classes is 300; cnn_ddp takes 2 to 256 classes" \
  "$CNN_DDP" --data k300.h5 "${train1[@]}"
variant names; edit names.h5 /train/labels strs class_names a b c
refused_one_line "class_names of the wrong count" "names.h5: /train/labels: attribute class_names holds 3 names; expected 16 \(one per class\)" \
  "$CNN_DDP" --data names.h5 "${train1[@]}"

variant m1; edit m1.h5 /train/images f64 mean 0.5; edit m1.h5 /train/images f64 std 0.2 0.2 0.2
refused_one_line "mean of one value for 3 channels" \
  "m1.h5: /train/images: attribute mean has 1 value; expected a 1-D array of 3 \(one per channel\)" \
  "$CNN_DDP" --data m1.h5 "${train1[@]}"
variant ms; edit ms.h5 /train/images f64scalar mean 0.5; edit ms.h5 /train/images f64 std 0.2 0.2 0.2
refused_one_line "scalar mean" "ms.h5: /train/images: attribute mean has 1 value \(a scalar\); expected a 1-D array of 3" \
  "$CNN_DDP" --data ms.h5 "${train1[@]}"
variant mi; edit mi.h5 /train/images i64 mean 1; edit mi.h5 /train/images f64 std 0.2 0.2 0.2
refused_one_line "integer mean" "mi.h5: /train/images: attribute mean is an integer attribute; expected a float64 array" \
  "$CNN_DDP" --data mi.h5 "${train1[@]}"
variant s0; edit s0.h5 /train/images f64 mean 0.5 0.5 0.5; edit s0.h5 /train/images f64 std 0.2 0 0.2
refused_one_line "std of 0" "s0.h5: /train/images: attribute std value 1 is 0; expected > 0" "$CNN_DDP" --data s0.h5 "${train1[@]}"
variant sn; edit sn.h5 /train/images f64 mean 0.5 nan 0.5; edit sn.h5 /train/images f64 std 0.2 0.2 0.2
refused_one_line "NaN mean" "sn.h5: /train/images: attribute mean value 1 is nan; expected a finite number" \
  "$CNN_DDP" --data sn.h5 "${train1[@]}"
variant mo; edit mo.h5 /train/images f64 mean 0.5 0.5 0.5
refused_one_line "mean without std" "mo.h5: /train/images: attribute mean is present but std is not" \
  "$CNN_DDP" --data mo.h5 "${train1[@]}"

# K from the labels (no num_classes): train reaches 15, a 2-row test split does not.
"$SHAPES" disagree.h5 --no-names --test 2 || fail "make_shapes --test 2 failed"
refused_one_line "train and test disagree on K" \
  "disagree.h5: /test/labels: the largest label is [0-9]+ but /train/labels' is 15, so the splits disagree on the number of classes" \
  "$CNN_DDP" --data disagree.h5 "${train1[@]}"
refused_one_line "info: train and test disagree on K" "disagree.h5: /test/labels: the largest label is" "$CNN_DDP" info disagree.h5
pass "every new refusal: one line naming the file, the dataset and the problem, exit 2"

# A checkpoint of format 5 (before channels, classes and normalisation) is refused by its version.
if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  cp r1/final.h5 v5.h5
  /usr/bin/python3 -c 'import sys, h5py, numpy as np; h5py.File(sys.argv[1], "a").attrs["format_version"] = np.int64(5)' v5.h5
  refused_one_line "a format-5 checkpoint" "v5.h5: checkpoint format_version 5, this build reads version 6" "$CNN_DDP" info v5.h5
else
  echo "SKIP: /usr/bin/python3 has no h5py: the format-5 refusal is not tested"
fi
