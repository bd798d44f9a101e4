#!/usr/bin/env bash
# Runs too big for their memory are refused before allocating (status 2, one line naming the biggest
# part and the figures) instead of being SIGKILLed by a memory cgroup; runs that fit still train.
# The limit is given with --memory-limit / CNN_DDP_MEMORY_LIMIT (a test cannot make a cgroup here);
# `ulimit -v` shows that nothing big was allocated before the refusal.
source "$(dirname "$0")/common.sh"
ensure_data
cd "$WORK"

refused() { # expected-words... -- command...
  local words=() ; while [ "$1" != -- ]; do words+=("$1"); shift; done; shift
  set +e; out=$(timeout -k 2 30 "$@" 2>&1 >/dev/null); rc=$?; set -e
  [ "$rc" = 2 ] || fail "expected status 2, got $rc from: $* ($out)"
  [ "$(printf '%s\n' "$out" | grep -c 'error:')" = 1 ] || fail "expected one error line: $out"
  for w in "${words[@]}"; do grep -qF -- "$w" <<<"$out" || fail "'$w' missing from: $out"; done
}

# A huge model: refused naming the parameters, under an address-space limit far below its 6 GiB.
refused "parameters" "fc2" "2.00 GiB" -- bash -c "ulimit -v 600000; exec '$CNN_DDP' --data '$DATA' \
  --model 'fc(65536) fc(4096) fc(10)' --max-steps 1 --no-ckpt --memory-limit 2G"
pass "a model too big for the limit is refused"
# The same found from ulimit -v alone (RLIMIT_AS), without the option.
refused "parameters" "RLIMIT_AS" -- bash -c "ulimit -v 600000; exec '$CNN_DDP' --data '$DATA' \
  --model 'fc(65536) fc(4096) fc(10)' --max-steps 1 --no-ckpt"
pass "ulimit -v is a limit"

# A data file of 400,000 rows (313 MB of pixels; zeros, so a few MB deflated on disk) under a 256 MB
# limit: the rows are the biggest part. (A file declaring 2^24 rows with no chunk written is refused
# earlier, by the storage check, as damaged.)
/usr/bin/python3 - <<'PY' || fail "could not make the big data file"
import h5py, numpy as np
with h5py.File("huge.h5", "w") as f:
    for split, n in (("train", 400000), ("test", 1000)):
        g = f.create_group(split)
        im = g.create_dataset("images", shape=(n, 28, 28), dtype="u1", chunks=(min(n, 4096), 28, 28), compression="gzip")
        g.create_dataset("labels", data=np.zeros(n, "u1"), chunks=(min(n, 65536),), compression="gzip")
        g["labels"].attrs["num_classes"] = 10  # all zeros: K from the attribute, not from the labels
        zeros = np.zeros((min(n, 65536), 28, 28), "u1")
        for a in range(0, n, len(zeros)):
            b = min(n, a + len(zeros))
            im[a:b] = zeros[: b - a]
PY
refused "400000 training rows" "huge.h5" -- env CNN_DDP_MEMORY_LIMIT=256M "$CNN_DDP" --data huge.h5 --max-steps 1 --no-ckpt
pass "a data file too big for the limit is refused (CNN_DDP_MEMORY_LIMIT)"

# eval --batch 65536: the activations.
"$CNN_DDP" --data "$DATA" --max-steps 2 --ckpt-dir ck --quiet >/dev/null || fail "training for eval"
refused "activations for a batch of 65536" -- "$CNN_DDP" eval --ckpt ck/final.h5 --data "$DATA" --batch 65536 --memory-limit 1G
pass "eval --batch 65536 is refused"
"$CNN_DDP" eval --ckpt ck/final.h5 --data "$DATA" --memory-limit 1G >/dev/null || fail "eval within the limit"

# Fits: trains, also with the found limit and with the check off; a bad size is refused.
"$CNN_DDP" --data "$DATA" --max-steps 2 --no-ckpt --quiet --memory-limit 256M >/dev/null || fail "a run that fits"
"$CNN_DDP" --data "$DATA" --max-steps 2 --no-ckpt --quiet --memory-limit none >/dev/null || fail "--memory-limit none"
"$CNN_DDP" --data "$DATA" --max-steps 2 --no-ckpt --quiet >/dev/null || fail "a run with the found limit"
refused "--memory-limit '12Q'" -- "$CNN_DDP" --data "$DATA" --max-steps 1 --no-ckpt --memory-limit 12Q
pass "runs that fit train; a bad size is refused"
