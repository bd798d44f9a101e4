#!/usr/bin/env bash
# fashion_table.sh — issue 14's Fashion-MNIST comparison: the seed net and the exercise net, N epochs
# each, over several seeds, cnn_ddp against launch/torch_mnist.py with the same net, recipe (each model's
# default lr / schedule, batch 64, momentum 0.5) and data file (its mean/std), alternating the two
# programs run by run. Prints a Markdown table of test accuracy (each seed, mean, sample sd) per model
# and program, and whether cnn_ddp is within the seed-to-seed spread of PyTorch.
#
#   launch/fashion_table.sh [--epochs 10] [--seeds "1 2 3"] [--models "seed exercise"]
#                           [--data FILE.h5] [--threads 1] [--logs DIR]
#
# --data defaults to datasets/fashion-mnist.h5, made first by datasets/prepare.sh fashion-mnist. Both
# programs run as one process with one thread (--threads for PyTorch's). The full table (10 epochs,
# 3 seeds, both models) takes about half an hour on one core of the 2-core dev VM (see README).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/launch/find_binary.sh"
die() { echo "fashion_table: $1" >&2; exit "${2:-1}"; }

epochs=10 seeds="1 2 3" models="seed exercise" data="" threads=1 logs=""
while (($#)); do
  case $1 in
    --epochs) epochs=${2:?--epochs needs a value}; shift 2 ;;
    --seeds) seeds=${2:?--seeds needs a value}; shift 2 ;;
    --models) models=${2:?--models needs a value}; shift 2 ;;
    --data) data=${2:?--data needs a file}; shift 2 ;;
    --threads) threads=${2:?--threads needs a value}; shift 2 ;;
    --logs) logs=${2:?--logs needs a directory}; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "$1: unknown option (see --help)" 2 ;;
  esac
done
[[ $epochs =~ ^[1-9][0-9]*$ ]] || die "--epochs $epochs: must be a positive integer" 2
for m in $models; do [[ $m == seed || $m == exercise ]] || die "--models: $m: not seed or exercise" 2; done
for s in $seeds; do [[ $s =~ ^[0-9]+$ ]] || die "--seeds: $s: not an integer" 2; done

bin=$(cnn_ddp_binary "$repo")
[[ -n $bin ]] || die "no cnn_ddp binary: build it first (cmake -S . -B build && cmake --build build) or set CNN_DDP_BIN"
py=/usr/bin/python3
"$py" -c 'import torch, h5py' 2>/dev/null || die "$py lacks torch/h5py (apt-get install python3-torch python3-h5py)"
if [[ -z $data ]]; then
  data=$repo/datasets/fashion-mnist.h5
  MNIST2H5="${MNIST2H5:-$(dirname "$bin")/mnist2h5}" bash "$repo/datasets/prepare.sh" fashion-mnist "$data" >&2
fi
[[ -f $data ]] || die "$data: no such data file" 2
if [[ -z $logs ]]; then logs=$(mktemp -d "${TMPDIR:-/tmp}/fashion-table.XXXXXX"); fi
mkdir -p "$logs"
echo "fashion_table: $bin vs $repo/launch/torch_mnist.py on $data, $epochs epochs, seeds $seeds; logs in $logs" >&2

declare -A acc secs
run_cnn() { # MODEL SEED
  local log="$logs/cnn_ddp-$1-$2.log" t0=$SECONDS
  "$bin" --data "$data" --model "$1" --epochs "$epochs" --seed "$2" --no-ckpt > "$log" 2>&1 ||
    die "cnn_ddp --model $1 --seed $2 failed (see $log): $(tail -n 2 "$log")"
  acc[cnn_ddp,$1,$2]=$(sed -n 's/^final: .*test accuracy \([0-9.]*\)%.*/\1/p' "$log" | tail -n1)
  [[ -n ${acc[cnn_ddp,$1,$2]} ]] || die "cnn_ddp --model $1 --seed $2: no final accuracy in $log"
  secs[cnn_ddp,$1,$2]=$((SECONDS - t0))
}
run_torch() { # MODEL SEED
  local log="$logs/pytorch-$1-$2.log" t0=$SECONDS
  "$py" "$repo/launch/torch_mnist.py" --data "$data" --model "$1" --epochs "$epochs" --seed "$2" \
    --threads "$threads" > "$log.json" 2> "$log" || die "torch_mnist.py --model $1 --seed $2 failed (see $log): $(tail -n 2 "$log")"
  acc[pytorch,$1,$2]=$("$py" -c 'import json, sys; print("%.2f" % json.loads(open(sys.argv[1]).read().splitlines()[-1])["test_acc"])' "$log.json")
  secs[pytorch,$1,$2]=$((SECONDS - t0))
}

i=0
for m in $models; do
  for s in $seeds; do
    if ((i % 2 == 0)); then run_cnn "$m" "$s"; run_torch "$m" "$s"; else run_torch "$m" "$s"; run_cnn "$m" "$s"; fi
    echo "fashion_table: $m seed $s: cnn_ddp ${acc[cnn_ddp,$m,$s]}% (${secs[cnn_ddp,$m,$s]} s), PyTorch ${acc[pytorch,$m,$s]}% (${secs[pytorch,$m,$s]} s)" >&2
    i=$((i + 1))
  done
done

stats() { # values... -> "mean sd" (sample sd; 0 for one value)
  "$py" -c 'import statistics as s, sys; v = [float(x) for x in sys.argv[1:]]; print("%.2f %.2f" % (s.mean(v), s.stdev(v) if len(v) > 1 else 0.0))' "$@"
}
header="| model | program |"; rule="|---|---|"
for s in $seeds; do header+=" seed $s |"; rule+="---:|"; done
echo
echo "Fashion-MNIST test accuracy (%), $epochs epochs, $(basename "$data"), each model's default recipe"
echo
echo "$header mean | sd | s per run |"
echo "$rule---:|---:|---:|"
declare -A mean sd
for m in $models; do
  for prog in cnn_ddp pytorch; do
    row="| $m | $([[ $prog == cnn_ddp ]] && echo cnn_ddp || echo PyTorch) |" vals=() t=0 n=0
    for s in $seeds; do row+=" ${acc[$prog,$m,$s]} |"; vals+=("${acc[$prog,$m,$s]}"); t=$((t + secs[$prog,$m,$s])); n=$((n + 1)); done
    read -r mean[$prog,$m] sd[$prog,$m] < <(stats "${vals[@]}")
    echo "$row ${mean[$prog,$m]} | ${sd[$prog,$m]} | $((t / n)) |"
  done
done
echo
status=0
for m in $models; do
  verdict=$("$py" -c '
import sys
mc, sc, mt, st = map(float, sys.argv[1:5])
spread = max(sc, st)
d = mc - mt
if int(sys.argv[5]) < 2:
    print(f"{d:+.2f} points (one seed: no spread to judge by)")
    sys.exit(0)
ok = d >= -spread
print(f"{d:+.2f} points (spread: the larger sd, {spread:.2f}): " + ("within the seed-to-seed spread" if ok else "WORSE than PyTorch by more than the spread"))
sys.exit(0 if ok else 3)' "${mean[cnn_ddp,$m]}" "${sd[cnn_ddp,$m]}" "${mean[pytorch,$m]}" "${sd[pytorch,$m]}" "$(wc -w <<<"$seeds")") || status=1
  echo "- $m: cnn_ddp − PyTorch = $verdict"
done
exit $status
