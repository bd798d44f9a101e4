# Final parameters and momentum are bit-identical for any rank count from 1 to the global batch, with
# the default options (same seed, same global batch): the unit of the exact sum is the sample.
source "$(dirname "$0")/common.sh"
ensure_data
args=(--data "$DATA" --max-steps 40 --quiet --check-every 10)
"$CNN_DDP" "${args[@]}" --ckpt-dir "$WORK/n1" >/dev/null
ref_p=$(digest "$WORK/n1/final.h5" /params); ref_o=$(digest "$WORK/n1/final.h5" /optim)
[ -n "$ref_p" ] || fail "no parameters in the 1-rank checkpoint"
same_as() { # same_as DIR REF_P REF_O WHAT
  [ "$(digest "$1/final.h5" /params)" = "$2" ] || fail "/params differ: $4"
  [ "$(digest "$1/final.h5" /optim)" = "$3" ] || fail "/optim differ: $4"
}
for n in 2 3 5 8 16; do
  mpirun_np "$n" "${args[@]}" --ckpt-dir "$WORK/n$n" >/dev/null
  same_as "$WORK/n$n" "$ref_p" "$ref_o" "1 vs $n ranks"
  pass "$n ranks == 1 rank, bit for bit"
done
# As many ranks as samples in a step (64, one sample each, oversubscribed 32 to a core): fewer steps.
short=(--data "$DATA" --max-steps 4 --quiet --check-every 2)
"$CNN_DDP" "${short[@]}" --ckpt-dir "$WORK/s1" >/dev/null
mpirun_np 64 "${short[@]}" --ckpt-dir "$WORK/s64" >/dev/null
same_as "$WORK/s64" "$(digest "$WORK/s1/final.h5" /params)" "$(digest "$WORK/s1/final.h5" /optim)" "1 vs 64 ranks"
pass "64 ranks (one sample each) == 1 rank, bit for bit"
# More ranks than samples cannot work: refused before training, before any file is written.
rc=0; out=$(mpirun_np 3 --data "$DATA" --batch 2 --max-steps 1 --ckpt-dir "$WORK/refused" 2>&1) || rc=$?
[ "$rc" = 2 ] || fail "3 ranks, --batch 2: exit $rc, expected 2: $out"
grep -q "3 ranks but a global batch of 2: .*use --batch 3 or more, or --batch-per-rank" <<<"$out" || fail "3 ranks, --batch 2: $out"
[ ! -e "$WORK/refused" ] || fail "the refused run created its checkpoint directory"
pass "3 ranks with --batch 2 refused: $(grep -o '3 ranks but.*' <<<"$out" | head -1)"
# Weak scaling: --batch-per-rank 32 on 2 ranks is the global batch 64 of one process, bit for bit.
mpirun_np 2 "${args[@]}" --batch-per-rank 32 --ckpt-dir "$WORK/w2" >/dev/null
same_as "$WORK/w2" "$ref_p" "$ref_o" "--batch-per-rank 32 on 2 ranks vs --batch 64 on 1"
# ... and resuming it on 4 ranks with the same --batch-per-rank is refused by the global batch.
rc=0; out=$(mpirun_np 4 "${args[@]}" --max-steps 60 --batch-per-rank 32 --ckpt-dir "$WORK/w2" --resume 2>&1) || rc=$?
[ "$rc" != 0 ] || fail "resume with another global batch was accepted"
grep -q "checkpoint has a global batch of 64 (written by 2 ranks), this run 128 (4 ranks): resume with --batch 64" <<<"$out" ||
  fail "resume with another global batch: $out"
pass "--batch-per-rank: 2 x 32 == 64 on 1 rank; a resume at 4 x 32 refused by the global batch"
# The check has teeth: another seed, or another global batch, gives other bits.
"$CNN_DDP" "${args[@]}" --seed 2 --ckpt-dir "$WORK/s2" >/dev/null
[ "$(digest "$WORK/s2/final.h5" /params)" != "$ref_p" ] || fail "a different seed gave the same parameters"
"$CNN_DDP" "${args[@]}" --batch 32 --ckpt-dir "$WORK/b32" >/dev/null
[ "$(digest "$WORK/b32/final.h5" /params)" != "$ref_p" ] || fail "--batch 32 gave the same parameters as --batch 64"
pass "different seed / global batch give different bits"
# The exercise net's recipe (lr 0.05 along a cosine over --epochs, the padded k3 convs) and a spec:
# 1 rank == 3 and 7 ranks too.
ex=(--data "$DATA" --model exercise --epochs 1 --max-steps 12 --quiet)
"$CNN_DDP" "${ex[@]}" --ckpt-dir "$WORK/e1" >/dev/null
mpirun_np 3 "${ex[@]}" --ckpt-dir "$WORK/e3" >/dev/null
same_as "$WORK/e3" "$(digest "$WORK/e1/final.h5" /params)" "$(digest "$WORK/e1/final.h5" /optim)" "exercise: 1 vs 3 ranks"
pass "exercise net, cosine schedule: 3 ranks == 1 rank, bit for bit"
sp=(--data "$DATA" --model "conv(6,k=3,s=2,p=1) relu pool(3,s=2) conv(12,k=1) relu fc(32) relu fc(10)" --max-steps 15 --quiet)
"$CNN_DDP" "${sp[@]}" --ckpt-dir "$WORK/p1" >/dev/null
mpirun_np 7 "${sp[@]}" --ckpt-dir "$WORK/p7" >/dev/null
same_as "$WORK/p7" "$(digest "$WORK/p1/final.h5" /params)" "$(digest "$WORK/p1/final.h5" /optim)" "spec: 1 vs 7 ranks"
pass "a spec net: 7 ranks == 1 rank, bit for bit"
