# Golden digests: /params and /optim after a fixed short run, and the test-set hit count of `eval` on
# the result, recorded before the architecture refactor (issue 10). Any change to the bits of training
# or inference for these nets and kernel sets fails here; a commit that changes rounding on purpose
# must say so and record new values (RECORD=1 prints them and fails, so it can never pass by accident).
# AVX-512 rows are not recorded: the machine they were taken on has no AVX-512. Kernel sets this CPU cannot run are skipped (and said so).
source "$(dirname "$0")/common.sh"
ensure_data
spec_net="conv(6,k=3,s=2,p=1) relu pool(3,s=2) conv(12,k=1) relu fc(10)"
# kernels | model | sha256 of the /params and /optim digest lines | eval hits of 10000
golden=(
  "scalar|seed|edb5643ccb474743|6370"
  "scalar|exercise|55ad11aa6f0ad9c3|4344"
  "scalar|spec|338246d31461d1b9|5149"
  "avx2|seed|e11b74b712095eb7|6370"
  "avx2|exercise|caa78b101c177393|4344"
  "avx2|spec|4ec9b919e438857e|5149"
)
checked=0
for row in "${golden[@]}"; do
  IFS='|' read -r kernels model want_sha want_hits <<<"$row"
  [ "$model" = spec ] && model=$spec_net
  if ! "$CNN_DDP" --kernels "$kernels" --max-steps 1 --no-ckpt --quiet --data "$DATA" >/dev/null 2>&1; then
    echo "SKIP: --kernels $kernels is not supported on this CPU"
    continue
  fi
  dir="$WORK/$kernels-$checked"
  "$CNN_DDP" --data "$DATA" --model "$model" --kernels "$kernels" --epochs 2 --max-steps 25 --quiet \
    --ckpt-dir "$dir" >/dev/null
  got_sha=$({ digest "$dir/final.h5" /params; digest "$dir/final.h5" /optim; } | sha256sum | cut -c1-16)
  got_hits=$("$CNN_DDP" eval --ckpt "$dir/final.h5" --data "$DATA" --kernels "$kernels" |
    sed -n 's/^test accuracy .* (\([0-9]*\) of .*/\1/p')
  echo "$kernels|$model|$got_sha|$got_hits"
  [ "${RECORD:-}" ] && { checked=$((checked + 1)); continue; }
  [ "$got_sha" = "$want_sha" ] || fail "$kernels $model: weights digest $got_sha, golden $want_sha"
  [ "$got_hits" = "$want_hits" ] || fail "$kernels $model: eval hits $got_hits, golden $want_hits"
  checked=$((checked + 1))
done
[ -z "${RECORD:-}" ] || fail "RECORD=1: values printed above, nothing checked"
[ "$checked" -ge 4 ] || fail "only $checked golden rows could be checked on this CPU"
pass "$checked golden digests hold"
