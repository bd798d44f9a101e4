# Final parameters and momentum are bit-identical for 1, 2, 3, 4 and 8 ranks (same seed, global batch).
source "$(dirname "$0")/common.sh"
ensure_data
args=(--data "$DATA" --max-steps 40 --quiet --check-every 10)
"$CNN_DDP" "${args[@]}" --ckpt-dir "$WORK/n1" >/dev/null
ref_p=$(digest "$WORK/n1/final.h5" /params); ref_o=$(digest "$WORK/n1/final.h5" /optim)
[ -n "$ref_p" ] || fail "no parameters in the 1-rank checkpoint"
for n in 2 3 4 8; do
  mpirun_np "$n" "${args[@]}" --ckpt-dir "$WORK/n$n" >/dev/null
  [ "$(digest "$WORK/n$n/final.h5" /params)" = "$ref_p" ] || fail "/params differ between 1 and $n ranks"
  [ "$(digest "$WORK/n$n/final.h5" /optim)" = "$ref_o" ] || fail "/optim differ between 1 and $n ranks"
  pass "$n ranks == 1 rank, bit for bit"
done
# The check has teeth: another seed gives other bits.
"$CNN_DDP" "${args[@]}" --seed 2 --ckpt-dir "$WORK/s2" >/dev/null
[ "$(digest "$WORK/s2/final.h5" /params)" != "$ref_p" ] || fail "a different seed gave the same parameters"
# So does another shard count (a different grouping of the same batch).
"$CNN_DDP" "${args[@]}" --shards 4 --ckpt-dir "$WORK/k4" >/dev/null
[ "$(digest "$WORK/k4/final.h5" /params)" != "$ref_p" ] || fail "--shards 4 gave the same parameters as --shards 8"
pass "different seed / shard count give different bits"
# The exercise net's recipe (lr 0.05 along a cosine over --epochs, the padded k3 convs and their
# transposed-dy weight-gradient path): 1 rank == 3 ranks too.
ex=(--data "$DATA" --model exercise --epochs 1 --max-steps 12 --quiet)
"$CNN_DDP" "${ex[@]}" --ckpt-dir "$WORK/e1" >/dev/null
mpirun_np 3 "${ex[@]}" --ckpt-dir "$WORK/e3" >/dev/null
[ "$(digest "$WORK/e1/final.h5" /params)" = "$(digest "$WORK/e3/final.h5" /params)" ] || fail "exercise: 1 vs 3 ranks differ"
[ "$(digest "$WORK/e1/final.h5" /optim)" = "$(digest "$WORK/e3/final.h5" /optim)" ] || fail "exercise: 1 vs 3 ranks differ (/optim)"
pass "exercise net, cosine schedule: 3 ranks == 1 rank, bit for bit"
