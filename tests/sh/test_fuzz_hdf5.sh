# Damaged HDF5 metadata never crashes or hangs a reader: single-byte flips over the metadata (and some
# raw data) of a small chunked, deflated data file written by mnist2h5 and of a checkpoint, each damaged
# copy run through `info`, two training steps, `eval` and `--resume` under `timeout`; every exit status
# must be 0, 1 or 2. Seeded (CD_FUZZ_SEED, default 1); CD_FUZZ_FLIPS sets the metadata flips per file.
source "$(dirname "$0")/common.sh"
ensure_data
PY=/usr/bin/python3
"$PY" -c 'import h5py' 2>/dev/null || { echo "SKIP: $PY has no h5py"; exit 77; }
SEED=${CD_FUZZ_SEED:-1}
FLIPS=${CD_FUZZ_FLIPS:-300}
JOBS=${CD_FUZZ_JOBS:-2}
FUZZ="$CD_SRC/tests/sh/fuzz_hdf5.py"

# A small data file from the converter: 2500 training rows (3 chunks of up to 1024) and 300 test rows,
# taken from the prepared MNIST as IDX files.
"$PY" - "$DATA" "$WORK" <<'EOF'
import struct, sys, h5py
src, out = sys.argv[1], sys.argv[2]
with h5py.File(src, "r") as f:
    for split, n, prefix in (("train", 2500, "train"), ("test", 300, "test")):
        img, lab = f[split + "/images"][:n], f[split + "/labels"][:n]
        with open(f"{out}/{prefix}-images", "wb") as o:
            o.write(struct.pack(">IIII", 0x803, n, img.shape[1], img.shape[2]) + img.tobytes())
        with open(f"{out}/{prefix}-labels", "wb") as o:
            o.write(struct.pack(">II", 0x801, n) + lab.astype("u1").tobytes())
EOF
"$CD_BIN/mnist2h5" --deflate 4 --images "$WORK/train-images" --labels "$WORK/train-labels" \
  --test-images "$WORK/test-images" --test-labels "$WORK/test-labels" -o "$WORK/small.h5" >/dev/null
# Both kinds of file the project writes use the checksummed 1.10 format: superblock version 3.
for f in small.h5; do
  v=$(od -An -tu1 -j8 -N1 "$WORK/$f" | tr -d ' ')
  [ "$v" = 3 ] || fail "$f: superblock version $v, expected 3 (libver bounds 1.10)"
done
TRAIN=(--max-steps 2 --batch 8 --epochs 1 --quiet)
"$CNN_DDP" --data "$WORK/small.h5" "${TRAIN[@]}" --ckpt-dir "$WORK/ck" >/dev/null || fail "training the checkpoint failed"
CKPT="$WORK/ck/final.h5"
v=$(od -An -tu1 -j8 -N1 "$CKPT" | tr -d ' ')
[ "$v" = 3 ] || fail "final.h5: superblock version $v, expected 3 (libver bounds 1.10)"
"$CNN_DDP" info "$CKPT" >/dev/null || fail "the undamaged checkpoint does not verify"
# A change HDF5's own checksums cannot see (an attribute rewritten through HDF5) is still refused.
cp "$CKPT" "$WORK/rewritten.h5"
"$PY" -c 'import sys, h5py; h5py.File(sys.argv[1], "r+").attrs["step"] = 7' "$WORK/rewritten.h5"
set +e; out=$("$CNN_DDP" info "$WORK/rewritten.h5" 2>&1); st=$?; set -e
[ "$st" = 2 ] && [[ $out == *"metadata checksum mismatch"* ]] || fail "rewritten step attribute: status $st: $out"

mkdir -p "$WORK/fuzz"
start=$SECONDS
rc=0
"$PY" "$FUZZ" "$WORK/small.h5" --flips "$FLIPS" --raw-flips 40 --seed "$SEED" --jobs "$JOBS" --work "$WORK/fuzz" \
  --command "$CNN_DDP info {}" \
  --command "$CNN_DDP --data {} ${TRAIN[*]} --no-ckpt" || rc=1
"$PY" "$FUZZ" "$CKPT" --flips "$FLIPS" --raw-flips 20 --seed "$SEED" --jobs "$JOBS" --work "$WORK/fuzz" \
  --command "$CNN_DDP info {}" \
  --command "$CNN_DDP eval --ckpt {} --data $WORK/small.h5" \
  --command "$CNN_DDP --resume {} --data $WORK/small.h5 --max-steps 3 --batch 8 --epochs 1 --quiet --no-ckpt" || rc=1
echo "fuzzing took $((SECONDS - start)) s"
[ "$rc" = 0 ] || fail "a damaged file crashed or hung a reader (offsets and reproducers above)"
pass "every flip over the data file's and the checkpoint's metadata ended in exit status 0, 1 or 2"
