# The README's h5py recipe for users' own data, extracted from the README (the python block after the
# "h5py-recipe" marker) so the two cannot drift, run as written on small uint8 [N,H,W,C] arrays, and the
# file it writes checked against the data-file contract: layout, mean/std (float64 [C], pixel/255 units,
# equal to numpy's), num_classes (integer scalar), class_names (strings [K]). Once the trainer reads
# such files (the binary knows the data_channels checkpoint field), two training steps on it must run.
# Skipped (77) without h5py and numpy in /usr/bin/python3.
source "$(dirname "$0")/common.sh"
PY=/usr/bin/python3
"$PY" -c 'import h5py, numpy' 2>/dev/null || { echo "SKIP: $PY lacks h5py/numpy (apt-get install python3-h5py)"; exit 77; }

awk '/h5py-recipe/ {m = 1; next} m == 1 && /^```python/ {m = 2; next} m == 2 && /^```/ {exit} m == 2 {print}' \
  "$CD_SRC/README.md" > "$WORK/recipe.py"
lines=$(grep -cv '^\s*$' "$WORK/recipe.py" || true)
[ "$lines" -ge 5 ] || fail "no h5py recipe found in README.md after the h5py-recipe marker"
[ "$lines" -le 11 ] || fail "the README's h5py recipe has $lines lines; it promises about ten"

cd "$WORK"
"$PY" - <<'EOF' || fail "the README's recipe did not run or wrote a file off the contract"
import h5py, numpy as np
rng = np.random.default_rng(7)
x_train = rng.integers(0, 256, size=(60, 8, 8, 3), dtype=np.uint8)
x_test = rng.integers(0, 256, size=(20, 8, 8, 3), dtype=np.uint8)
y_train = np.arange(60) % 3
y_test = np.arange(20) % 3
exec(open("recipe.py").read())
with h5py.File("mydata.h5", "r") as f:
    for split, n in (("train", 60), ("test", 20)):
        im = f[f"{split}/images"]
        assert im.shape == (n, 8, 8, 3) and im.dtype == np.uint8, (split, im.shape, im.dtype)
        assert im.attrs["layout"] == "NHWC", im.attrs["layout"]
        assert f[f"{split}/labels"].shape == (n,) and f[f"{split}/labels"].dtype.kind in "iu"
    a = f["train/images"].attrs
    x = x_train.astype(np.float64) / 255.0
    for key, want in (("mean", x.mean(axis=(0, 1, 2))), ("std", x.std(axis=(0, 1, 2)))):
        v = a[key]
        assert v.dtype == np.float64 and v.shape == (3,), (key, v.dtype, v.shape)
        assert np.allclose(v, want, rtol=1e-12, atol=0), (key, v, want)
        assert 0.0 < v.min() < 1.0
    la = f["train/labels"].attrs
    k = la["num_classes"]
    assert np.ndim(k) == 0 and np.issubdtype(np.asarray(k).dtype, np.integer) and int(k) == 3, k
    names = list(la["class_names"])
    assert names == ["circle", "square", "triangle"], names
print("recipe: file of the documented form")
EOF

if grep -aq data_channels "$CNN_DDP"; then
  out=$("$CNN_DDP" --data "$WORK/mydata.h5" --model "conv(4,k=3) relu fc(3)" --max-steps 2 --batch 4 --no-ckpt 2>&1) ||
    fail "cnn_ddp does not train on the recipe's file: $out"
  pass "cnn_ddp trains on the recipe's 3-channel NHWC file"
else
  echo "note: this cnn_ddp predates the data-file contract's reader (no data_channels): training step not run"
fi
pass "the README's h5py recipe runs and writes a valid file"
