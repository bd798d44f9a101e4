# Every tensor's `checksum` attribute is the standard FNV-1a 64 of its little-endian float32 bytes,
# checked here by an independent implementation (Python + h5py, not the project's C), so a user can
# verify a checkpoint with a few lines of their own.
source "$(dirname "$0")/common.sh"
ensure_data
py=${CD_PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import h5py, numpy' 2>/dev/null; then
  [ "$(id -u)" = 0 ] && fail "$py cannot import h5py and numpy (launch/test.sh installs python3-h5py)"
  echo "SKIP: $py has no h5py"; exit 77
fi
"$CNN_DDP" --data "$DATA" --max-steps 3 --quiet --ckpt-dir "$WORK/ck" >/dev/null
out=$("$py" - "$WORK/ck/final.h5" <<'PY'
import sys, h5py, numpy as np
def fnv1a64(data):
    h = 14695981039346656037
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h
checked = bad = 0
with h5py.File(sys.argv[1], "r") as f:
    def visit(name, obj):
        global checked, bad
        if isinstance(obj, h5py.Dataset) and "checksum" in obj.attrs:
            checked += 1
            if fnv1a64(np.asarray(obj[()], dtype="<f4").tobytes()) != int(obj.attrs["checksum"]):
                bad += 1
                print("mismatch:", name)
    f.visititems(visit)
print(f"checked {checked} bad {bad}")
PY
) || fail "python check failed: $out"
grep -q "checked 12 bad 0" <<<"$out" || fail "python FNV-1a check: $out"
pass "12 tensors' checksums match a standard FNV-1a 64 computed in Python"
