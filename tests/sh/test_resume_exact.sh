# A run stopped and resumed ends bit-identical to one that never stopped: mid-epoch, across an epoch
# boundary, and when resumed with a different number of ranks. --epochs counts from the start.
source "$(dirname "$0")/common.sh"
ensure_data
common=(--data "$DATA" --epochs 2 --quiet --metrics /dev/null)
# 354 steps per epoch on the shared MNIST: stop at 200 (mid-epoch 1) and at 500 (mid-epoch 2).
"$CNN_DDP" "${common[@]}" --ckpt-dir "$WORK/full" --metrics "$WORK/full.jsonl" >/dev/null
ref=$(digest "$WORK/full/final.h5" /params; digest "$WORK/full/final.h5" /optim)

"$CNN_DDP" "${common[@]}" --ckpt-dir "$WORK/split" --max-steps 200 >/dev/null
"$CNN_DDP" "${common[@]}" --ckpt-dir "$WORK/split" --max-steps 500 --resume >/dev/null
"$CNN_DDP" "${common[@]}" --ckpt-dir "$WORK/split" --resume --metrics "$WORK/split.jsonl" >/dev/null
got=$(digest "$WORK/split/final.h5" /params; digest "$WORK/split/final.h5" /optim)
[ "$got" = "$ref" ] || fail "stopped at 200 and 500 and resumed: parameters differ from the uninterrupted run"
# The epoch-2 figures logged after resuming mid-epoch are the same as the uninterrupted run's.
pick() { grep '"type":"epoch","epoch":2,' "$1" | sed -E 's/.*("train_loss":[^,]*,"train_acc":[^,]*,"test_acc":[^,]*).*/\1/'; }
[ -n "$(pick "$WORK/full.jsonl")" ] || fail "no epoch-2 line in the metrics"
[ "$(pick "$WORK/split.jsonl")" = "$(pick "$WORK/full.jsonl")" ] || fail "epoch-2 loss/accuracy differ after resume: $(pick "$WORK/split.jsonl") vs $(pick "$WORK/full.jsonl")"
pass "1 rank: stop/resume twice == uninterrupted, bit for bit"

# Checkpointed with 4 ranks, resumed with 2 and then 3.
mpirun_np 4 "${common[@]}" --ckpt-dir "$WORK/ranks" --max-steps 300 >/dev/null
mpirun_np 2 "${common[@]}" --ckpt-dir "$WORK/ranks" --max-steps 450 --resume >/dev/null
mpirun_np 3 "${common[@]}" --ckpt-dir "$WORK/ranks" --resume >/dev/null
got=$(digest "$WORK/ranks/final.h5" /params; digest "$WORK/ranks/final.h5" /optim)
[ "$got" = "$ref" ] || fail "4 ranks -> resumed on 2 -> resumed on 3: parameters differ from the uninterrupted 1-rank run"
pass "4 ranks, resumed on 2, then 3 == uninterrupted 1 rank, bit for bit"

# --resume FILE picks that file (an older checkpoint), and the same command still ends at the same bits.
"$CNN_DDP" "${common[@]}" --ckpt-dir "$WORK/file" --max-steps 100 --ckpt-every 50 >/dev/null
[ -f "$WORK/file/step-50.h5" ] || fail "no step-50.h5 with --ckpt-every 50"
"$CNN_DDP" "${common[@]}" --ckpt-dir "$WORK/file" --resume "$WORK/file/step-50.h5" >/dev/null
got=$(digest "$WORK/file/final.h5" /params; digest "$WORK/file/final.h5" /optim)
[ "$got" = "$ref" ] || fail "--resume step-50.h5: parameters differ from the uninterrupted run"
pass "--resume FILE from step 50 == uninterrupted"
