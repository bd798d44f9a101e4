# launch/fashion_table.sh runs end to end (one epoch of the seed net, two seeds, on the test data instead
# of Fashion-MNIST to stay short) and prints its table with both programs' accuracies and a verdict.
# Skipped (77) without torch and h5py in /usr/bin/python3.
source "$(dirname "$0")/common.sh"
/usr/bin/python3 -c 'import torch, h5py' 2>/dev/null || { echo "SKIP: /usr/bin/python3 lacks torch/h5py"; exit 77; }
ensure_data
out=$(CNN_DDP_BIN="$CNN_DDP" bash "$CD_SRC/launch/fashion_table.sh" --epochs 1 --seeds "1 2" --models seed \
  --data "$DATA" --logs "$WORK/logs" 2>&1) || fail "fashion_table.sh failed: $out"
echo "$out"
grep -Eq '^\| seed \| cnn_ddp \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9]+ \|$' <<<"$out" || fail "no cnn_ddp row"
grep -Eq '^\| seed \| PyTorch \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9]+ \|$' <<<"$out" || fail "no PyTorch row"
grep -q '^- seed: cnn_ddp − PyTorch = [-+][0-9.]* points (spread' <<<"$out" || fail "no verdict"
[ -s "$WORK/logs/cnn_ddp-seed-2.log" ] && [ -s "$WORK/logs/pytorch-seed-1.log.json" ] || fail "logs missing"
rc=0; bash "$CD_SRC/launch/fashion_table.sh" --models cifar >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "--models cifar: exit $rc, expected 2"
pass "fashion_table.sh: table, verdict and logs"
