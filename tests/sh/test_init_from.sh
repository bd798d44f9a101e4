# --init-from CKPT (fine-tuning): a run starts from another checkpoint's weights with its own lr, schedule,
# seed and a fresh momentum; the source is part of its identity. Stopped and resumed it ends at the bits of
# the uninterrupted run, and 2 ranks at those of 1. Bad sources are one line, exit 2.
source "$(dirname "$0")/common.sh"
ensure_data
cd "$WORK"
both() { digest "$1" /params; digest "$1" /optim; }
base=(--data "$DATA" --epochs 1 --metrics /dev/null --quiet)
# The source: 40 steps from scratch (its momentum is not zero).
"$CNN_DDP" "${base[@]}" --max-steps 40 --ckpt-dir src >/dev/null
tune=("${base[@]}" --init-from src/final.h5 --lr 0.005 --lr-schedule cosine --seed 7 --max-steps 80)

out=$("$CNN_DDP" "${tune[@]/--quiet/--check-every=50}" --ckpt-dir full 2>&1) || fail "init-from run failed: $out"
grep -q "initialised the weights from src/final.h5 (run [0-9a-f]*, step 40); momentum starts at zero" <<<"$out" \
  || fail "no 'initialised the weights' note: $out"
ref=$(both full/final.h5)
# It did start from the source: the same run from scratch ends elsewhere.
"$CNN_DDP" "${base[@]}" --lr 0.005 --lr-schedule cosine --seed 7 --max-steps 80 --ckpt-dir fresh >/dev/null
[ "$(both fresh/final.h5)" != "$ref" ] || fail "--init-from changed nothing: the same bits as a run from scratch"
/usr/bin/python3 - full/final.h5 <<'PY' || fail "full/final.h5 does not record init_from"
import sys, h5py
a = h5py.File(sys.argv[1], "r").attrs
assert a["init_from_path"] == b"src/final.h5" or a["init_from_path"] == "src/final.h5", a["init_from_path"]
assert str(a["init_from"]).find("params ") > 0
PY
"$CNN_DDP" info full/final.h5 | grep -q "init from    src/final.h5 (run " || fail "info shows no init from line"
pass "init-from run: starts from the source's weights, recorded in its checkpoint"

# Fresh momentum: a source whose /optim is doubled (checksums fixed up) gives the same bits.
cp src/final.h5 src2.h5
/usr/bin/python3 - src2.h5 <<'PY'
import sys, h5py, numpy as np
def fnv(b):
    h = 14695981039346656037
    for x in b:
        h = ((h ^ x) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h
with h5py.File(sys.argv[1], "r+") as f:
    def twice(name, obj):
        if isinstance(obj, h5py.Dataset):
            v = (obj[...] * 2 + 0.25).astype("<f4")
            obj[...] = v
            obj.attrs["checksum"] = np.uint64(fnv(v.tobytes()))
    f["optim"].visititems(twice)
PY
"$CNN_DDP" "${tune[@]/src\/final.h5/src2.h5}" --ckpt-dir mom >/dev/null
[ "$(both mom/final.h5)" = "$ref" ] || fail "the source's momentum changed the init-from run: momentum is not fresh"
pass "momentum starts at zero (the source's momentum does not matter)"

# Stopped at 30 and resumed == uninterrupted; --resume in an empty directory starts from --init-from.
"$CNN_DDP" "${tune[@]}" --ckpt-dir split --max-steps 30 --resume >/dev/null
out=$("$CNN_DDP" "${tune[@]/--quiet/--check-every=50}" --ckpt-dir split --resume 2>&1) || fail "resume of the init-from run failed: $out"
grep -q "resumed from split/final.h5 at step 30" <<<"$out" || fail "did not resume: $out"
[ "$(both split/final.h5)" = "$ref" ] || fail "init-from run stopped at 30 and resumed: parameters differ"
pass "init-from run stopped and resumed == uninterrupted, bit for bit"

mpirun_np 2 "${tune[@]}" --ckpt-dir ranks2 >/dev/null
[ "$(both ranks2/final.h5)" = "$ref" ] || fail "init-from run on 2 ranks differs from 1 rank"
pass "init-from run: 2 ranks == 1 rank, bit for bit"

# The source is part of the identity: a resume without it, or from another source, is refused.
"$CNN_DDP" "${tune[@]}" --ckpt-dir other --max-steps 30 >/dev/null
refused_one_line "resume without --init-from" "other/final.h5: checkpoint's run started from the weights of src/final.h5 .*resume with --init-from src/final.h5" \
  "$CNN_DDP" "${base[@]}" --lr 0.005 --lr-schedule cosine --seed 7 --max-steps 80 --ckpt-dir other --resume other/final.h5
refused_one_line "resume from another source" "other/final.h5: checkpoint's run started from the weights of src/final.h5 \(run .*\), this run from fresh/final.h5" \
  "$CNN_DDP" "${tune[@]/src\/final.h5/fresh/final.h5}" --ckpt-dir other --resume other/final.h5

# Bad sources: missing, damaged, not a checkpoint, another model's shapes.
refused_one_line "missing source" "--init-from: nope.h5: .*" "$CNN_DDP" "${tune[@]/src\/final.h5/nope.h5}" --ckpt-dir bad
head -c 20000 src/final.h5 > cut.h5
refused_one_line "damaged source" "--init-from: cut.h5: .*" "$CNN_DDP" "${tune[@]/src\/final.h5/cut.h5}" --ckpt-dir bad
refused_one_line "not a checkpoint" "--init-from: $DATA: not a cnn_ddp checkpoint" "$CNN_DDP" "${tune[@]/src\/final.h5/$DATA}" --ckpt-dir bad
"$CNN_DDP" "${base[@]}" --model "conv(12,k=5) pool(2) relu conv(20,k=5) pool(2) relu fc(10)" --max-steps 2 --ckpt-dir wide >/dev/null
refused_one_line "other shapes" "--init-from: wide/final.h5: /params/conv1/weight has shape \[12,1,5,5\], this model needs \[10,1,5,5\] \(--init-from needs the same parameter shapes\)" \
  "$CNN_DDP" "${tune[@]/src\/final.h5/wide/final.h5}" --ckpt-dir bad
"$CNN_DDP" "${base[@]}" --model "conv(10,k=5) pool(2) relu conv(20,k=5) pool(2) relu fc(32) relu fc(10)" --max-steps 2 --ckpt-dir deep >/dev/null
refused_one_line "more layers" "--init-from: deep/final.h5: .*(needs the same parameter shapes)" \
  "$CNN_DDP" "${tune[@]/src\/final.h5/deep/final.h5}" --ckpt-dir bad
[ ! -e bad ] || [ -z "$(ls -A bad)" ] || fail "a refused --init-from wrote into --ckpt-dir: $(ls bad)"
pass "bad --init-from sources refused before anything is written"
