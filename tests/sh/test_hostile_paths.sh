# Hostile inputs are refused at once, never hang and never pass as good:
#  - a FIFO given as --data, to info, eval --ckpt/--data, --resume FILE or predict, or sitting in
#    --ckpt-dir as final.h5 / step-N.h5 (opening a FIFO for reading blocks until a writer comes);
#  - a checkpoint whose checksums all pass but whose values are impossible (NaN weights, a step of
#    2^62, a step past the run's end, totals that do not fit the position), made by craft_checkpoint.py;
#  - info on a data file describes it; on a malformed one it says what is wrong.
# Every command runs under `timeout 10` (and a KILL 2 s later: a trainer blocked in open() takes the TERM
# as a stop request and blocks again on the next file): on a build without these checks the FIFO cases hang.
source "$(dirname "$0")/common.sh"
ensure_data
py=${CD_PYTHON:-/usr/bin/python3}
have_h5py=1
"$py" -c 'import h5py, numpy' 2>/dev/null || have_h5py=0
if [ "$have_h5py" = 0 ] && [ "$(id -u)" = 0 ]; then fail "$py cannot import h5py (launch/test.sh installs python3-h5py)"; fi
craft() { CD_SRC="$CD_SRC" "$py" "$CD_SRC/tests/sh/craft_checkpoint.py" "$@"; }

# refused LABEL STATUS PATTERN CMD...: CMD ends within 10 s with STATUS and one error line holding PATTERN.
refused() {
  local label=$1 want=$2 pattern=$3 out rc=0
  shift 3
  out=$(timeout -k 2 10 "$@" 2>&1 </dev/null) || rc=$?
  [ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "$label: still blocked after 10 s"
  [ "$rc" = "$want" ] || fail "$label: exit status $rc, expected $want ($out)"
  grep -qF -- "$pattern" <<<"$out" || fail "$label: message lacks '$pattern': $out"
  [ "$(grep -c 'error' <<<"$out")" = 1 ] || fail "$label: expected one error line: $out"
  pass "$label: $(grep error <<<"$out")"
}

"$CNN_DDP" --data "$DATA" --quiet --max-steps 5 --ckpt-dir "$WORK/ck" >/dev/null
good="$WORK/ck/final.h5"
fifo="$WORK/pipe.h5"
mkfifo "$fifo"
train=(--data "$DATA" --quiet --max-steps 10)

# ---- FIFOs ----
refused "FIFO as --data" 2 "$fifo: is a FIFO, not a regular file" "$CNN_DDP" --data "$fifo" --quiet --max-steps 1 --no-ckpt
refused "FIFO to info" 2 "$fifo: is a FIFO, not a regular file" "$CNN_DDP" info "$fifo"
refused "FIFO as eval --ckpt" 2 "$fifo: is a FIFO" "$CNN_DDP" eval --ckpt "$fifo" --data "$DATA"
refused "FIFO as eval --data" 2 "$fifo: is a FIFO" "$CNN_DDP" eval --ckpt "$good" --data "$fifo"
refused "FIFO as --resume FILE" 2 "$fifo: is a FIFO" "$CNN_DDP" "${train[@]}" --ckpt-dir "$WORK/r1" --resume "$fifo"
refused "FIFO as a predict image" 2 "$fifo: is a FIFO" "$CNN_DDP" predict --ckpt "$good" "$fifo"
refused "directory to info" 2 "$WORK/ck: is a directory, not a regular file" "$CNN_DDP" info "$WORK/ck"

# In --ckpt-dir: resume's search skips a FIFO with a warning naming it and takes the newest real one.
"$CNN_DDP" --data "$DATA" --quiet --max-steps 20 --ckpt-every 10 --ckpt-dir "$WORK/dir" >/dev/null
rm "$WORK/dir/final.h5"
mkfifo "$WORK/dir/final.h5" "$WORK/dir/step-15.h5"
rc=0
out=$(timeout -k 2 10 "$CNN_DDP" --data "$DATA" --max-steps 20 --ckpt-dir "$WORK/dir" --resume 2>&1 </dev/null) || rc=$?
[ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "FIFOs in --ckpt-dir: resume still blocked after 10 s"
[ "$rc" = 0 ] || fail "FIFOs in --ckpt-dir: exit status $rc ($out)"
for name in final.h5 step-15.h5; do
  grep -qF "$WORK/dir/$name: is a FIFO" <<<"$out" || fail "FIFOs in --ckpt-dir: no warning naming $name: $out"
done
grep -q "resumed from $WORK/dir/step-10.h5 at step 10" <<<"$out" || fail "FIFOs in --ckpt-dir: did not resume from step-10.h5: $out"
[ -f "$WORK/dir/final.h5" ] || fail "FIFOs in --ckpt-dir: final.h5 is not a checkpoint after the run"
pass "FIFOs named final.h5 and step-15.h5 in --ckpt-dir skipped with a warning; resumed from step-10.h5"

# ---- info on data files ----
out=$(timeout -k 2 10 "$CNN_DDP" info "$DATA") || fail "info on the data file failed: $out"
grep -q "cnn_ddp data set, verified" <<<"$out" || fail "info on the data file: $out"
grep -qE "^  /train: [0-9]+ images of 28x28, 10 of 10 classes present" <<<"$out" || fail "info: no /train line: $out"
grep -qE "^  /test: [0-9]+ images of 28x28" <<<"$out" || fail "info: no /test line: $out"
grep -qE "^    images (chunked \[[0-9,]+\]|contiguous|compact), .*bytes stored; labels " <<<"$out" || fail "info: no storage line: $out"
pass "info describes a data file: rows, image size, classes, storage and filters per split"

if [ "$have_h5py" = 0 ]; then echo "SKIP: $py has no h5py: crafted files not tested"; exit 77; fi

"$py" - "$WORK" <<'PY'
import sys, h5py, numpy as np
w = sys.argv[1]
def split(f, name, n=100, labels=True, label_value=None, images=None):
    f[f"{name}/images"] = images if images is not None else np.zeros((n, 28, 28), np.uint8)
    if labels:
        l = np.arange(n, dtype=np.uint8) % 10
        if label_value is not None: l[5] = label_value
        f[f"{name}/labels"] = l
with h5py.File(f"{w}/nolabels.h5", "w") as f: split(f, "train", labels=False); split(f, "test")
with h5py.File(f"{w}/badlabel.h5", "w") as f: split(f, "train"); split(f, "test", label_value=12)
with h5py.File(f"{w}/badlabel_k.h5", "w") as f:
    split(f, "train"); split(f, "test", label_value=12); f["train/labels"].attrs["num_classes"] = 10
with h5py.File(f"{w}/floats.h5", "w") as f: split(f, "train", images=np.zeros((100, 28, 28), np.float32)); split(f, "test")
with h5py.File(f"{w}/notest.h5", "w") as f:
    split(f, "train", images=(np.arange(100 * 28 * 28) % 251).astype(np.uint8).reshape(100, 28, 28))
with h5py.File(f"{w}/const.h5", "w") as f: split(f, "train"); split(f, "test")
PY
refused "info on a data file without /train/labels" 2 "nolabels.h5: /train/labels: missing dataset" "$CNN_DDP" info "$WORK/nolabels.h5"
refused "info on a data file with label 12 in /test only" 2 \
  "badlabel.h5: /test/labels: the largest label is 12 but /train/labels' is 9, so the splits disagree" \
  "$CNN_DDP" info "$WORK/badlabel.h5"
refused "info on a data file with label 12 and num_classes 10" 2 \
  "badlabel_k.h5: /test/labels: label 12 at row 5 is outside 0-9" "$CNN_DDP" info "$WORK/badlabel_k.h5"
refused "info on a data file of float pixels" 2 "floats.h5: /train/images: pixel type is floating-point" "$CNN_DDP" info "$WORK/floats.h5"
out=$("$CNN_DDP" info "$WORK/notest.h5") || fail "info on a data file without /test failed: $out"
echo "$out" | grep -q "/test: none (training runs without a test evaluation" || fail "info without /test: $out"
pass "info on a data file without /test describes it (training runs with a note)"
refused "info on a data file of constant pixels (no mean/std stored)" 2 \
  "const.h5: /train/images: channel 0 is constant over the 100 training rows (every pixel 0)" "$CNN_DDP" info "$WORK/const.h5"

# ---- checkpoints whose checksums pass but whose values are impossible ----
cp "$good" "$WORK/nan.h5"
craft "$WORK/nan.h5" poke /params/fc1/weight 7 nan || fail "craft_checkpoint.py failed"
what="nan.h5: /params/fc1/weight: element 7 (of 3200) is nan"
refused "NaN weights: info" 2 "$what" "$CNN_DDP" info "$WORK/nan.h5"
refused "NaN weights: eval" 2 "$what" "$CNN_DDP" eval --ckpt "$WORK/nan.h5" --data "$DATA"
refused "NaN weights: --resume" 2 "$what" "$CNN_DDP" "${train[@]}" --ckpt-dir "$WORK/r2" --resume "$WORK/nan.h5"
cp "$good" "$WORK/inf.h5"
craft "$WORK/inf.h5" poke /optim/conv1/bias 3 -inf || fail "craft_checkpoint.py failed"
refused "-Inf momentum: info" 2 "inf.h5: /optim/conv1/bias: element 3 (of 10) is -inf" "$CNN_DDP" info "$WORK/inf.h5"

# The good checkpoint is at step 5 of epoch 1; the data set has spe steps per epoch. A step of about
# 2^62 that still agrees with epoch and step_in_epoch, so only its size is wrong.
spe=$(( $("$CNN_DDP" info "$DATA" | sed -n 's|^  /train: \([0-9]*\) images.*|\1|p') / 64 ))
k=$(( (1 << 62) / spe ))
cp "$good" "$WORK/huge.h5"
craft "$WORK/huge.h5" set step $(( 5 + k * spe )) && craft "$WORK/huge.h5" set epoch $k || fail "craft_checkpoint.py failed"
what="huge.h5: step $(( 5 + k * spe )) of batch 64 is more samples than a run can train"
refused "step near 2^62: info" 2 "$what" "$CNN_DDP" info "$WORK/huge.h5"
refused "step near 2^62: --resume" 2 "$what" "$CNN_DDP" "${train[@]}" --ckpt-dir "$WORK/r3" --resume "$WORK/huge.h5"
# 20 epochs on: possible for some run, but past this one's --epochs 10.
cp "$good" "$WORK/late.h5"
craft "$WORK/late.h5" set step $(( 5 + 20 * spe )) && craft "$WORK/late.h5" set epoch 20 || fail "craft_checkpoint.py failed"
"$CNN_DDP" info "$WORK/late.h5" >/dev/null || fail "a checkpoint 20 epochs on should verify by itself"
refused "step past --epochs: --resume" 2 "late.h5: checkpoint is at step $(( 5 + 20 * spe )), past the end of this run (--epochs 10 x $spe steps" \
  "$CNN_DDP" "${train[@]}" --ckpt-dir "$WORK/r4" --resume "$WORK/late.h5"
# Running totals that the position cannot have.
cp "$good" "$WORK/totals.h5"
craft "$WORK/totals.h5" set epoch_correct 1000 || fail "craft_checkpoint.py failed"
refused "epoch_correct beyond epoch_samples: info" 2 "totals.h5: epoch_correct 1000 is outside 0..epoch_samples 320" \
  "$CNN_DDP" info "$WORK/totals.h5"
refused "epoch_correct beyond epoch_samples: eval" 2 "totals.h5: epoch_correct 1000" "$CNN_DDP" eval --ckpt "$WORK/totals.h5" --data "$DATA"
cp "$good" "$WORK/neg.h5"
craft "$WORK/neg.h5" set epoch_loss_fx -5 || fail "craft_checkpoint.py failed"
refused "negative epoch_loss_fx: --resume" 2 "neg.h5: epoch_loss_fx -5 is outside" "$CNN_DDP" "${train[@]}" --ckpt-dir "$WORK/r5" --resume "$WORK/neg.h5"
cp "$good" "$WORK/lr.h5"
craft "$WORK/lr.h5" set lr nan || fail "craft_checkpoint.py failed"
refused "lr nan: info" 2 "lr.h5: lr nan is not a finite, positive rate" "$CNN_DDP" info "$WORK/lr.h5"
