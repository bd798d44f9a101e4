# launch/export.py: a short seed-net and exercise-net run exported to TorchScript (and ONNX when the onnx
# module is there); the saved module's test accuracy equals cnn_ddp eval's to the image count. A
# disagreement exits 1; a bad checkpoint, an unknown model or a parameter of the wrong shape exits 2 with
# one line. Skipped (77) without torch and h5py in /usr/bin/python3 (Debian python3-torch, python3-h5py).
source "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
EXPORT="$CD_SRC/launch/export.py"
if ! "$PY" -c 'import torch, h5py, numpy' 2>/dev/null; then
  echo "SKIP: $PY has no torch/h5py/numpy (apt-get install python3-torch python3-h5py)"
  exit 77
fi
have_onnx=1
"$PY" -c 'import onnx' 2>/dev/null || { have_onnx=0; echo "note: no onnx module: ONNX files are written but not checked (apt-get install python3-onnx)"; }
ensure_data
export CNN_DDP_BIN="$CNN_DDP"

for model in seed exercise; do
  "$CNN_DDP" --data "$DATA" --model "$model" --max-steps 60 --ckpt-dir "$WORK/ck-$model" --quiet >/dev/null ||
    fail "$model: training failed"
  out=$("$PY" "$EXPORT" "$WORK/ck-$model/final.h5" --torchscript "$WORK/$model.pt" --onnx "$WORK/$model.onnx" 2>&1) ||
    fail "$model: export.py failed: $out"
  echo "$out"
  grep -q "^export.py: agree (" <<<"$out" || fail "$model: no agreement line: $out"
  ts=$(sed -n 's/^TorchScript test accuracy .*(\([0-9]*\) of 10000)$/\1/p' <<<"$out")
  ev=$("$CNN_DDP" eval --ckpt "$WORK/ck-$model/final.h5" --data "$DATA" | sed -n 's/^test accuracy .*(\([0-9]*\) of 10000).*/\1/p')
  [ -n "$ts" ] && [ "$ts" = "$ev" ] || fail "$model: TorchScript $ts correct, cnn_ddp eval $ev"
  [ -s "$WORK/$model.pt" ] && [ -s "$WORK/$model.onnx" ] || fail "$model: output files missing"
  if [ $have_onnx = 1 ]; then
    grep -q "onnx.checker: valid" <<<"$out" || fail "$model: ONNX not checked: $out"
    "$PY" -c 'import sys, onnx; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m)
assert [i.name for i in m.graph.input] == ["images"] and [o.name for o in m.graph.output] == ["logits"]' "$WORK/$model.onnx" ||
      fail "$model: the ONNX file does not check"
  fi
  pass "$model: TorchScript accuracy equals cnn_ddp eval's ($ts of 10000)"
done

# The saved module takes pixel/255 (the normalisation is inside): raw normalised input gives other
# predictions, and the module loads with only torch (meta.json travels with it).
"$PY" - "$WORK/seed.pt" "$DATA" "$WORK/ck-seed/final.h5" <<'EOF' || fail "the TorchScript module's input contract"
import json, sys, h5py, torch
files = {"meta.json": ""}
m = torch.jit.load(sys.argv[1], _extra_files=files)
meta = json.loads(files["meta.json"])
ck = h5py.File(sys.argv[3], "r").attrs
def text(v): return v.decode() if isinstance(v, bytes) else str(v)
mean, std = float(text(ck["norm_mean"])), float(text(ck["norm_std"]))  # what the run normalised with
assert meta["classes"] == 10 and meta["mean"] == [mean] and meta["std"] == [std], (meta, mean, std)
x = torch.from_numpy(h5py.File(sys.argv[2])["test/images"][:200]).float().unsqueeze(1) / 255.0
assert m(x).shape == (200, 10)
assert not torch.equal(m(x).argmax(1), m((x - mean) / std).argmax(1))
EOF
pass "TorchScript module: input pixel/255, metadata in meta.json"

# A checkpoint of issue 14's format (crafted: the trainer side is another change): 3 channels, 12 classes,
# per-channel norm_mean/norm_std strings, class names. The module's logits equal a direct computation.
"$PY" - "$WORK/ck-seed/final.h5" "$WORK/rgb.h5" <<'EOF' || fail "could not craft the 3-channel checkpoint"
import shutil, sys, h5py, numpy as np
shutil.copy(sys.argv[1], sys.argv[2])
rng = np.random.default_rng(3)
with h5py.File(sys.argv[2], "r+") as f:
    del f["params"]
    for name, shape in (("conv1/weight", (4, 3, 3, 3)), ("conv1/bias", (4,)), ("fc1/weight", (12, 676)), ("fc1/bias", (12,))):
        f[f"params/{name}"] = rng.standard_normal(shape).astype(np.float32) * 0.1
    a = f.attrs
    a["model"] = "conv(4,k=3,s=1,p=0) relu pool(2,s=2) fc(12)"
    a["data_channels"], a["classes"] = np.int64(3), np.int64(12)
    a["norm_mean"], a["norm_std"] = "0.5,0.25,0.125", "0.2,0.30000000000000004,0.4"
    a["class_names"] = "\n".join(f"class {k}" for k in range(12))
EOF
out=$("$PY" "$EXPORT" "$WORK/rgb.h5" --torchscript "$WORK/rgb.pt" --onnx "$WORK/rgb.onnx" --no-eval 2>&1) || fail "3-channel export: $out"
grep -q "input float32 \[N,3,28,28\] NCHW, pixel/255 in \[0,1\], output logits \[N,12\]" <<<"$out" || fail "3-channel export: $out"
"$PY" - "$WORK/rgb.pt" "$WORK/rgb.h5" <<'EOF' || fail "the 3-channel module's logits"
import json, sys, h5py, torch, torch.nn.functional as F
files = {"meta.json": ""}
m = torch.jit.load(sys.argv[1], _extra_files=files)
meta = json.loads(files["meta.json"])
assert meta["classes"] == 12 and meta["class_names"][11] == "class 11" and meta["std"][1] == 0.30000000000000004, meta
g = h5py.File(sys.argv[2])["params"]
p = {f"{l}/{t}": torch.from_numpy(g[l][t][...]) for l in g for t in ("weight", "bias")}
x = torch.rand(5, 3, 28, 28)
mean = torch.tensor([0.5, 0.25, 0.125]).reshape(1, 3, 1, 1)
std = torch.tensor([0.2, 0.3, 0.4]).reshape(1, 3, 1, 1)
h = F.max_pool2d(F.relu(F.conv2d((x - mean) / std, p["conv1/weight"], p["conv1/bias"])), 2)
want = F.linear(h.flatten(1), p["fc1/weight"], p["fc1/bias"])
got = m(x)
assert got.shape == (5, 12) and torch.allclose(got, want, atol=1e-5), (got - want).abs().max()
EOF
"$PY" -c 'import sys, h5py; h5py.File(sys.argv[1], "r+").attrs["norm_std"] = "0.2,0.3"' "$WORK/rgb.h5"
rc=0; out=$("$PY" "$EXPORT" "$WORK/rgb.h5" --torchscript "$WORK/x.pt" --no-eval 2>&1) || rc=$?
[ $rc = 2 ] && grep -q "attribute norm_std has 2 values for 3 channels" <<<"$out" || fail "norm_std of 2 values: exit $rc: $out"
pass "issue 14 checkpoint fields: 3 channels, 12 classes, per-channel normalisation, class names"

# A disagreement is an error: a fake cnn_ddp whose eval reports another count.
printf '#!/bin/sh\necho "test accuracy 0.01%% (1 of 10000), error rate 99.99%%"\n' > "$WORK/fake"
chmod +x "$WORK/fake"
rc=0; out=$(CNN_DDP_BIN="$WORK/fake" "$PY" "$EXPORT" "$WORK/ck-seed/final.h5" --torchscript "$WORK/x.pt" 2>&1) || rc=$?
[ $rc = 1 ] && grep -q "disagrees with cnn_ddp eval" <<<"$out" || fail "a disagreement gave exit $rc: $out"
pass "a disagreement with cnn_ddp eval exits 1"

# Without the onnx module: the file is written, with a note, and nothing fails.
mkdir -p "$WORK/no-onnx"; echo 'raise ImportError("hidden for the test")' > "$WORK/no-onnx/onnx.py"
out=$(PYTHONPATH="$WORK/no-onnx" "$PY" "$EXPORT" "$WORK/ck-seed/final.h5" --onnx "$WORK/n.onnx" --no-eval 2>&1) ||
  fail "export without onnx: $out"
grep -q "not checked: the onnx module is missing" <<<"$out" && [ -s "$WORK/n.onnx" ] || fail "export without onnx: $out"
pass "without the onnx module: written, not checked, with a note"

expect2() { # expect2 WHAT PATTERN CKPT
  local rc=0 o
  o=$("$PY" "$EXPORT" "$3" --torchscript "$WORK/bad.pt" 2>&1) || rc=$?
  [ $rc = 2 ] || fail "$1: exit $rc, expected 2: $o"
  [ "$(wc -l <<<"$o")" = 1 ] && grep -q -- "$2" <<<"$o" || fail "$1: expected one line with '$2': $o"
}
expect2 "missing checkpoint" "nope.h5: no such checkpoint" "$WORK/nope.h5"
expect2 "a directory" "not a regular file" "$WORK"
echo "not hdf5" > "$WORK/text.h5"
expect2 "not HDF5" "text.h5: not an HDF5 file" "$WORK/text.h5"
expect2 "a data file" "not a cnn_ddp checkpoint" "$DATA"
edit() { # edit COPY ATTR VALUE: a copy of the seed checkpoint with one root attribute replaced
  cp "$WORK/ck-seed/final.h5" "$WORK/$1"
  "$PY" -c 'import sys, h5py; h5py.File(sys.argv[1], "r+").attrs[sys.argv[2]] = sys.argv[3]' "$WORK/$1" "$2" "$3"
}
edit unknown.h5 model "conv(10,k=5) pol(2) relu fc(10)"
expect2 "unknown layer" "unknown layer 'pol'" "$WORK/unknown.h5"
edit wider.h5 model "conv(11,k=5) pool(2) relu conv(20,k=5) pool(2) relu fc(10)"
expect2 "parameter shape" "/params/conv1/weight: shape \[10, 1, 5, 5\], the model needs \[11, 1, 5, 5\]" "$WORK/wider.h5"
edit nodata.h5 data "$WORK/gone.h5"
expect2 "data file gone" "gone.h5' is not there; give --data" "$WORK/nodata.h5"
pass "bad checkpoints, unknown models, wrong shapes, missing data: one line, exit 2"
