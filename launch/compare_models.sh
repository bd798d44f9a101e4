#!/usr/bin/env bash
# compare_models.sh [EPOCHS] — trains the two built-in models (seed, exercise) the same way on
# datasets/mnist.h5 and prints one Markdown table: model, parameters, test accuracy, error rate,
# training img/s (CPU, one process), the hardest digit (from `cnn_ddp eval`), plus the exact commands.
#
#   launch/compare_models.sh          # 10 epochs each (seed ~1 min, exercise ~5 min on one idle core)
#   launch/compare_models.sh 1        # one epoch each, a quick look
#   MAX_STEPS=50 launch/compare_models.sh 1   # a smoke test: 50 steps each (no epoch ends, so no img/s)
#
# Environment: CNN_DDP_BIN (default build/cnn_ddp, else the newest build*/cnn_ddp), CNN_DDP_DATA
#   (default datasets/mnist.h5), OUT (where metrics, checkpoints and logs go; default
#   compare-models-<EPOCHS>ep under $TMPDIR or /tmp), MAX_STEPS (passed on as --max-steps),
#   EXTRA_ARGS (more cnn_ddp options, word-split, e.g. "--lr 0.05 --kernels avx2").
# Both runs use the trainer's defaults otherwise (batch 64, momentum 0.5, seed 1, one data block per sample, and each
# model's default lr: 0.01 for seed, 0.05 for exercise). img/s is the mean of the per-epoch img_per_s in
# the metrics file (training steps only: evaluation and checkpoint writes excluded).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
die() { echo "compare_models.sh: $1" >&2; exit "${2:-2}"; }

epochs=${1:-10}
[[ $epochs =~ ^[1-9][0-9]*$ ]] || die "usage: launch/compare_models.sh [EPOCHS]   (EPOCHS a positive whole number, default 10)"
[ $# -le 1 ] || die "usage: launch/compare_models.sh [EPOCHS]"
max_steps=${MAX_STEPS:-}
[[ -z $max_steps || $max_steps =~ ^[1-9][0-9]*$ ]] || die "MAX_STEPS='$max_steps' is not a positive whole number"

# shellcheck source=launch/find_binary.sh
source "$root/launch/find_binary.sh"
bin=$(cnn_ddp_binary "$root")
[[ -n $bin && -x $bin ]] || die "no cnn_ddp binary: build it (launch/setup.sh) or set CNN_DDP_BIN" 1
data=${CNN_DDP_DATA:-$root/datasets/mnist.h5}
[[ -f $data ]] || die "$data: missing (make it with datasets/prepare.sh mnist, or set CNN_DDP_DATA)" 1
out=${OUT:-${TMPDIR:-/tmp}/compare-models-${epochs}ep}
mkdir -p "$out"

# JSON number of KEY on the last line of FILE that matches TYPE.
json_num() { # file type key
    { grep "\"type\":\"$2\"" "$1" || true; } | tail -1 | sed -nE "s/.*\"$3\":(-?[0-9][0-9.eE+-]*).*/\1/p"
}

rows=() commands=()
for model in seed exercise; do
    cmd=("$bin" --data "$data" --model "$model" --epochs "$epochs" --metrics "$out/$model.jsonl"
         --ckpt-dir "$out/$model-ckpt")
    [[ -n $max_steps ]] && cmd+=(--max-steps "$max_steps")
    # shellcheck disable=SC2206
    [[ -n ${EXTRA_ARGS:-} ]] && cmd+=($EXTRA_ARGS)
    rm -rf "$out/$model-ckpt" "$out/$model.jsonl"
    echo "compare_models.sh: training $model ($epochs epoch(s)${max_steps:+, at most $max_steps steps}): log $out/$model.log" >&2
    "${cmd[@]}" > "$out/$model.log" 2>&1 || die "$model: cnn_ddp failed (exit $?); see $out/$model.log" 1
    commands+=("$(printf '%q ' "${cmd[@]}")")

    params=$(sed -nE 's/.*\(([0-9]+) parameters\).*/\1/p' "$out/$model.log" | head -1)
    acc=$(json_num "$out/$model.jsonl" final test_acc)
    [[ -n $acc ]] || die "$model: no final line in $out/$model.jsonl" 1
    ips=$({ grep '"type":"epoch"' "$out/$model.jsonl" || true; } | sed -nE 's/.*"img_per_s":([0-9.]+).*/\1/p' |
          awk '{ s += $1; n++ } END { if (n) printf "%.0f", s / n; else printf "n/a (no full epoch)" }')

    ev_cmd=("$bin" eval --ckpt "$out/$model-ckpt/final.h5" --data "$data")
    "${ev_cmd[@]}" > "$out/$model.eval" 2>&1 || die "$model: cnn_ddp eval failed; see $out/$model.eval" 1
    commands+=("$(printf '%q ' "${ev_cmd[@]}")")
    ev_acc=$(sed -nE 's/^test accuracy ([0-9.]+)%.*/\1/p' "$out/$model.eval")
    train_acc=$(awk -v a="$acc" 'BEGIN { printf "%.2f", 100 * a }')
    [[ $ev_acc == "$train_acc" ]] || die "$model: eval says $ev_acc%, the trainer $train_acc% (see $out/$model.eval)" 1
    # the per-class table: "class images correct accuracy%"; the lowest accuracy is the hardest digit
    hardest=$(sed -n '/^class  images/,/^$/p' "$out/$model.eval" | sed '1d;$d' | tr -d '%' |
              sort -k4,4g | head -1 | awk '{ printf "%s (%.2f%%)", $1, $4 }')

    rows+=("| $model | $params | $train_acc% | $(awk -v a="$acc" 'BEGIN { printf "%.2f", 100 * (1 - a) }')% | $ips | $hardest |")
done

echo
echo "Models compared on $(basename "$data"), $epochs epoch(s)${max_steps:+ (at most $max_steps steps)}, one process on $(nproc) core(s) ($(uname -m)), $(date -u +%Y-%m-%d):"
echo
echo "| model | parameters | test accuracy | error rate | training img/s (CPU) | hardest digit (accuracy) |"
echo "|---|---:|---:|---:|---:|---|"
printf '%s\n' "${rows[@]}"
echo
echo "Commands:"
echo
echo '```'
printf '%s\n' "${commands[@]}"
echo '```'
echo
echo "Metrics, logs, evaluations and checkpoints: $out (plot a run with launch/plot.sh $out/seed.jsonl seed.png)"
