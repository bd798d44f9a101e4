#!/usr/bin/env bash
# bench.sh [--quick] [--reps R] [--steps S] [--out DIR] [--no-cnn] [--no-torch]
#   — cnn_ddp side by side with PyTorch (launch/torch_mnist.py) on this machine, one Markdown table.
#
#   launch/bench.sh            # 1 epoch (~355 steps of 64) per training run, median of 3 runs
#   launch/bench.sh --quick    # the same, 1 run each (~1-2 min on an idle 2-core machine)
#   launch/bench.sh --steps 200  # shorter runs; cnn_ddp then has no epoch line and its img/s falls
#                                # back to steps*64/elapsed (startup and evaluation included: too low)
#
# Measures (each the median of R runs; --quick: R=1):
#   (a) fma_peak: this core's fp32 FMA peak (launch/fma_peak.c; built next to cnn_ddp, else compiled
#       into the output folder with cc), the best of R runs since other load only lowers it
#   Each row alternates the two programs run by run (cnn_ddp, PyTorch, cnn_ddp, ...), R rounds.
#   (b,c) seed net training, one process, one thread: cnn_ddp vs PyTorch
#   (d) exercise net training, the same
#   (e) seed net, global batch 64 over 2 ranks vs 1 rank: cnn_ddp via launch/run_local.sh, PyTorch via
#       gloo DistributedDataParallel (torch_mnist.py --ddp 2)
#   (f) inference over the 10,000 test images (cnn_ddp eval --batch 64; PyTorch's fastest batch is 64 too)
#   (g) peak RSS per process: /usr/bin/time -v "Maximum resident set size", else getrusage(CHILDREN)
#       through a python wrapper. Under mpirun it is the largest single process, not the sum.
# img/s: cnn_ddp's own per-epoch img_per_s from --metrics (its last epoch line); PyTorch's excludes
# evaluation and its first 10 steps. Both count images of the global batch.
#
# FLOPs per image (computed below from the layer shapes, see flops_of): a conv or linear layer does
# MACs = out_channels * out_h * out_w * in_channels * k * k (dense, padding taps counted, as im2col
# does); FLOPs = 2 * MACs. Training = forward + backward, where backward costs one weight-gradient pass
# (= forward MACs) plus one data-gradient pass (= forward MACs) for every layer except the first, whose
# input needs no gradient. Biases, ReLU, pooling, softmax and the SGD update are not counted (< 1%).
#   seed:     forward 467,200 MACs, training 2,515,200 FLOPs/img (~2.5 MFLOP), inference 934,400
#   exercise: forward 2,001,792 MACs, training 11,784,960 FLOPs/img (~11.8 MFLOP), inference 4,003,584
# "% peak" = achieved GFLOP/s / (processes x fma_peak), i.e. against all the cores the run used.
#
# Environment: CNN_DDP_BIN (default build/cnn_ddp, else the newest build*/cnn_ddp), CNN_DDP_DATA (the
#   HDF5 file, default datasets/mnist.h5), CNN_DDP_MNIST_DIR (IDX .gz directory for PyTorch, default
#   /work/shared/datasets/mnist), TORCH_PYTHON (default /usr/bin/python3).
# The machine should be otherwise idle: the load average is printed with the table for that reason.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

reps=3
steps=""          # empty: one full epoch
out=""
run_cnn=1
run_torch=1
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) reps=1 ;;
        --reps) reps=${2:?--reps needs a value}; shift ;;
        --steps) steps=${2:?--steps needs a value}; shift ;;
        --out) out=${2:?--out needs a value}; shift ;;
        --no-cnn) run_cnn=0 ;;
        --no-torch) run_torch=0 ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "$0: $1: unknown option (try --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "$0: --reps: expected a positive integer, got '$reps'" >&2; exit 2; }
[[ -z $steps || $steps =~ ^[1-9][0-9]*$ ]] || { echo "$0: --steps: expected a positive integer, got '$steps'" >&2; exit 2; }
out=${out:-$(mktemp -d /tmp/cnn_ddp_bench.XXXXXX)}
mkdir -p "$out" || exit 1

# ------------------------------------------------------------------ FLOPs per image
# Layers as "conv CIN COUT K OUT_H OUT_W" or "linear IN OUT"; the first line is the first layer.
seed_layers="conv 1 10 5 24 24
conv 10 20 5 8 8
linear 320 10"
exercise_layers="conv 1 16 3 28 28
conv 16 32 3 14 14
conv 32 64 3 7 7
linear 576 128
linear 128 64
linear 64 10"

# flops_of LAYERS train|eval -> FLOPs per image (integer)
flops_of() {
    local fwd=0 first=-1 kind a b c d e macs
    while read -r kind a b c d e; do
        case $kind in
            conv) macs=$(( b * d * e * a * c * c )) ;;
            linear) macs=$(( a * b )) ;;
            *) echo "flops_of: unknown layer '$kind'" >&2; return 1 ;;
        esac
        (( first < 0 )) && first=$macs
        fwd=$(( fwd + macs ))
    done <<< "$1"
    if [[ $2 == train ]]; then
        echo $(( 2 * (fwd + fwd + fwd - first) ))   # forward + weight grads + data grads (not layer 1)
    else
        echo $(( 2 * fwd ))
    fi
}
flops_seed_train=$(flops_of "$seed_layers" train)
flops_seed_eval=$(flops_of "$seed_layers" eval)
flops_ex_train=$(flops_of "$exercise_layers" train)
flops_ex_eval=$(flops_of "$exercise_layers" eval)

# ------------------------------------------------------------------ tools and inputs
note() { echo "bench: $*" >&2; }

# shellcheck source=launch/find_binary.sh
source "$root/launch/find_binary.sh"
bin=$(cnn_ddp_binary "$root")
data=${CNN_DDP_DATA:-$root/datasets/mnist.h5}
idx_dir=${CNN_DDP_MNIST_DIR:-/work/shared/datasets/mnist}
py=${TORCH_PYTHON:-/usr/bin/python3}

if (( run_cnn )); then
    if [[ -z $bin || ! -x $bin ]]; then
        note "no cnn_ddp binary (set CNN_DDP_BIN or build into build/): cnn_ddp columns skipped"
        run_cnn=0
    elif [[ ! -f $data ]]; then
        note "$data: missing (make it with datasets/prepare.sh mnist, or set CNN_DDP_DATA): cnn_ddp columns skipped"
        run_cnn=0
    fi
fi
if (( run_torch )); then
    if ! "$py" -c 'import torch' 2>/dev/null; then
        note "$py cannot import torch (set TORCH_PYTHON): PyTorch columns skipped"
        run_torch=0
    elif [[ ! -d $idx_dir ]]; then
        note "$idx_dir: no MNIST IDX directory (set CNN_DDP_MNIST_DIR): PyTorch columns skipped"
        run_torch=0
    fi
fi

fma=""
[[ -n $bin && -x $(dirname "$bin")/fma_peak ]] && fma=$(dirname "$bin")/fma_peak
if [[ -z $fma ]]; then
    fma=$out/fma_peak
    ${CC:-cc} -std=c17 -O2 -o "$fma" "$here/fma_peak.c" || { note "cannot compile fma_peak.c"; fma=""; }
fi

# Peak RSS of a command and all its descendants (largest single process), in KiB, written to $1.
if [[ -x /usr/bin/time ]] && /usr/bin/time -v true 2>/dev/null; then
    with_rss() {
        local rss_file=$1; shift
        /usr/bin/time -v -o "$rss_file.time" "$@"
        local rc=$?
        sed -n 's/.*Maximum resident set size (kbytes): *//p' "$rss_file.time" > "$rss_file"
        return $rc
    }
else
    with_rss() {
        local rss_file=$1; shift
        "$py" -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
open(sys.argv[1], "w").write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)' "$rss_file" "$@"
    }
fi

# json_num FILE KEY -> the value of "KEY": number on the last line of FILE that has it
json_num() {
    grep -oE "\"$2\"[[:space:]]*:[[:space:]]*-?[0-9][0-9.eE+-]*" "$1" 2>/dev/null | tail -n 1 | sed 's/.*:[[:space:]]*//'
}

# median of the numbers on stdin (empty if none; mean of the two middle ones for an even count)
median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; m = int((NR + 1) / 2);
        if (NR % 2) print v[m]; else printf "%.6g\n", (v[m] + v[m + 1]) / 2 }'
}

# ------------------------------------------------------------------ runners
# Each runner writes "img_per_s test_acc rss_mb" for one run to stdout; logs go to $out.
train_args() { # MODEL -> targs: the training arguments both programs share
    targs=(--model "$1" --epochs 1 --batch 64)
    [[ -n $steps ]] && targs+=(--max-steps "$steps")
    return 0
}

run_cnn_once() { # NAME NP(0 = direct, no mpirun) MODEL
    local name=$1 np=$2 model=$3 log=$out/$1.log metrics=$out/$1.jsonl rss=$out/$1.rss
    rm -f "$metrics"
    local targs
    train_args "$model"
    local cmd=("$bin" "${targs[@]}" --data "$data" --no-ckpt --quiet --metrics "$metrics")
    if (( np > 0 )); then
        cmd=(env CNN_DDP_BIN="$bin" "$here/run_local.sh" "$np" "${cmd[@]:1}")
    fi
    if ! with_rss "$rss" "${cmd[@]}" > "$log" 2>&1; then
        note "$name failed; see $log:"; tail -n 5 "$log" >&2; return 1
    fi
    local ips acc
    grep '"type":"epoch"' "$metrics" > "$metrics.epochs" 2>/dev/null
    ips=$(json_num "$metrics.epochs" img_per_s)
    [[ -n $ips ]] || ips=$(grep -oE '[0-9.]+ img/s' "$log" | tail -n 1 | cut -d' ' -f1)
    if [[ -z $ips ]]; then   # stopped inside an epoch: whole-run rate from the final line
        local st el
        st=$(json_num "$metrics" step) el=$(json_num "$metrics" elapsed_s)
        [[ -n $st && -n $el ]] && ips=$(awk -v s="$st" -v e="$el" 'BEGIN { if (e > 0) printf "%.1f", s * 64 / e }')
        note "$name: no epoch line in $metrics; img/s = steps*64/elapsed_s (includes evaluation)"
    fi
    sed -n 's/.*"first_step_s":\([0-9.e+-]*\).*/\1/p' "$metrics" >> "$out/$name.first"
    acc=$(json_num "$metrics" test_acc)
    # cnn_ddp may report accuracy as a fraction; the table uses percent.
    [[ -n $acc ]] && acc=$(awk -v a="$acc" 'BEGIN { printf "%.2f", (a <= 1 ? 100 * a : a) }')
    echo "${ips:-NA} ${acc:-NA} $(awk '{ printf "%.1f", $1 / 1024 }' "$rss")"
}

run_cnn_eval_once() { # NAME MODEL: a short training run gives a checkpoint; `cnn_ddp eval` times inference
    local name=$1 model=$2 log=$out/$1.log rss=$out/$1.rss ck=$out/$1.ckpt
    if ! "$bin" --model "$model" --data "$data" --max-steps 20 --quiet --ckpt-dir "$ck" > "$log" 2>&1 ||
       ! with_rss "$rss" "$bin" eval --ckpt "$ck/final.h5" --data "$data" --batch 64 >> "$log" 2>&1; then
        note "$name failed; see $log:"; tail -n 5 "$log" >&2; return 1
    fi
    local ips
    ips=$(sed -n 's/^inference .* s, \([0-9.]*\) img\/s.*/\1/p' "$log" | tail -n 1)
    echo "${ips:-NA} NA $(awk '{ printf "%.1f", $1 / 1024 }' "$rss")"
}

run_torch_once() { # NAME MODEL [extra torch_mnist.py args]
    local name=$1 model=$2 log=$out/$1.log rss=$out/$1.rss
    shift 2
    local targs
    train_args "$model"
    if ! with_rss "$rss" "$py" "$here/torch_mnist.py" "${targs[@]}" --data "$idx_dir" \
            --threads 1 --quiet "$@" > "$log" 2>&1; then
        note "$name failed; see $log:"; tail -n 5 "$log" >&2; return 1
    fi
    local ips acc
    ips=$(json_num "$log" img_per_s)
    acc=$(json_num "$log" test_acc)
    # Under --ddp the wrapper sees every process; torch_mnist.py's own figure is the largest rank's.
    echo "${ips:-NA} ${acc:-NA} $(awk '{ printf "%.1f", $1 / 1024 }' "$rss")"
}

run_torch_eval_once() { # NAME MODEL
    local name=$1 model=$2 log=$out/$1.log rss=$out/$1.rss
    if ! with_rss "$rss" "$py" "$here/torch_mnist.py" --eval-only-bench --model "$model" \
            --data "$idx_dir" --threads 1 --eval-reps 3 > "$log" 2>&1; then
        note "$name failed; see $log:"; tail -n 5 "$log" >&2; return 1
    fi
    echo "$(json_num "$log" eval_img_per_s) NA $(awk '{ printf "%.1f", $1 / 1024 }' "$rss")"
}

# medians LINE...: per column (img/s, accuracy, RSS), the median of the lines' values ("NA NA NA": none)
medians() {
    local col vals m outl=""
    if (( $# == 0 )); then echo "NA NA NA"; return; fi
    for col in 1 2 3; do
        vals=$(printf '%s\n' "$@" | awk -v c=$col '$c != "NA" { print $c }')
        m=$(printf '%s' "$vals" | median)
        outl+="${m:-NA} "
    done
    echo "${outl% }"
}

# alternate ROW CNN_CALL TORCH_CALL: R rounds of one cnn_ddp run then one PyTorch run (either call may be
# empty), so that the slow phases of a noisy machine hit both programs alike; medians into C/T[ROW].
alternate() {
    local key=$1 ccall=$2 tcall=$3 line r
    local cres=() tres=()
    for (( r = 1; r <= reps; r++ )); do
        if (( run_cnn )) && [[ -n $ccall ]]; then line=$(eval "$ccall") && cres+=("$line"); fi
        if (( run_torch )) && [[ -n $tcall ]]; then line=$(eval "$tcall") && tres+=("$line"); fi
    done
    if (( run_cnn )) && [[ -n $ccall ]]; then C[$key]=$(medians "${cres[@]}"); fi
    if (( run_torch )) && [[ -n $tcall ]]; then T[$key]=$(medians "${tres[@]}"); fi
    return 0
}

# ------------------------------------------------------------------ measurements
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
note "results and logs in $out (R=$reps, steps=${steps:-1 epoch})"
peak=NA
if [[ -n $fma ]]; then
    # The best of R, not the median: other load can only lower a peak measurement.
    peak=$(for (( r = 1; r <= reps; r++ )); do "$fma" | sed -n 's/.* gflops=\([0-9.]*\).*/\1/p'; done | sort -g | tail -n 1)
    note "fma_peak: $peak GFLOP/s per core ($("$fma" | sed 's/^fma_peak //; s/ gflops.*//'))"
fi

declare -A C T   # C[row]="img acc rss" for cnn_ddp, T[row] for PyTorch
rows=(seed exercise seed_mpi1 seed_mpi2 seed_eval exercise_eval)
for r in "${rows[@]}"; do C[$r]="NA NA NA"; T[$r]="NA NA NA"; done

note "seed, 1 process";          alternate seed "run_cnn_once cnn_seed 0 seed" "run_torch_once torch_seed seed"
note "exercise, 1 process";      alternate exercise "run_cnn_once cnn_exercise 0 exercise" \
                                           "run_torch_once torch_exercise exercise"
note "cnn_ddp seed, mpirun 1 rank (PyTorch: its 1-process row)"
alternate seed_mpi1 "run_cnn_once cnn_seed_np1 1 seed" ""
T[seed_mpi1]=${T[seed]}          # one process without DDP is PyTorch's 1-rank case
note "seed, 2 ranks (PyTorch: gloo DDP 2)"
alternate seed_mpi2 "run_cnn_once cnn_seed_np2 2 seed" "run_torch_once torch_seed_ddp2 seed --ddp 2"
note "seed, inference";          alternate seed_eval "run_cnn_eval_once cnn_seed_eval seed" \
                                           "run_torch_eval_once torch_seed_eval seed"
note "exercise, inference";      alternate exercise_eval "run_cnn_eval_once cnn_exercise_eval exercise" \
                                           "run_torch_eval_once torch_exercise_eval exercise"

# ------------------------------------------------------------------ table
# row NAME LABEL FLOPS_PER_IMG PROCESSES
row() {
    local key=$1 label=$2 flops=$3 procs=$4 ci ca cr ti ta tr
    read -r ci ca cr <<< "${C[$key]}"
    read -r ti ta tr <<< "${T[$key]}"
    awk -v label="$label" -v ci="$ci" -v ti="$ti" -v ca="$ca" -v ta="$ta" -v cr="$cr" -v tr="$tr" \
        -v f="$flops" -v p="$procs" -v peak="$peak" '
        function num(x) { return x != "NA" && x != "TODO" && x != "" }
        function gf(x) { return num(x) ? sprintf("%.1f", x * f / 1e9) : "–" }
        function pct(x) { return (num(x) && num(peak) && peak > 0) ? sprintf("%.1f%%", 100 * x * f / 1e9 / (p * peak)) : "–" }
        function show(x, fmt) { return num(x) ? sprintf(fmt, x) : (x == "TODO" ? "TODO" : "–") }
        BEGIN {
            ratio = (num(ci) && num(ti) && ti > 0) ? sprintf("%.2f", ci / ti) : "–"
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s |\n", label,
                show(ci, "%.0f"), show(ti, "%.0f"), ratio, gf(ci), pct(ci), gf(ti), pct(ti),
                show(ca, "%.2f"), show(ta, "%.2f"), show(cr, "%.0f"), show(tr, "%.0f")
        }'
}

echo
echo "### cnn_ddp vs PyTorch $("$py" -c 'import torch; print(torch.__version__)' 2>/dev/null) — $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p'), $(nproc) cores"
echo
length=${steps:+$steps steps}
echo "fma_peak: ${peak} GFLOP/s fp32 per core. Runs: median of $reps; training ${length:-1 epoch} of batch 64;"\
     "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg). FLOPs/img: seed train $flops_seed_train, eval $flops_seed_eval;"\
     "exercise train $flops_ex_train, eval $flops_ex_eval."
echo
echo "| what | cnn_ddp img/s | PyTorch img/s | ratio | cnn_ddp GFLOP/s | % peak | PyTorch GFLOP/s | % peak | test % cnn_ddp / PyTorch | RSS MB cnn_ddp | RSS MB PyTorch |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
row seed          "seed train, 1 proc, 1 thread"                      "$flops_seed_train" 1
row exercise      "exercise train, 1 proc, 1 thread"                  "$flops_ex_train"   1
row seed_mpi1     "seed train, mpirun 1 rank (PyTorch: no DDP)"       "$flops_seed_train" 1
row seed_mpi2     "seed train, mpirun 2 ranks (PyTorch: gloo DDP 2)"  "$flops_seed_train" 2
row seed_eval     "seed inference, 10,000 test images"                "$flops_seed_eval"  1
row exercise_eval "exercise inference, 10,000 test images"            "$flops_ex_eval"    1
echo
read -r c1 _ _ <<< "${C[seed_mpi1]}"; read -r c2 _ _ <<< "${C[seed_mpi2]}"
read -r t1 _ _ <<< "${T[seed_mpi1]}"; read -r t2 _ _ <<< "${T[seed_mpi2]}"
awk -v c1="$c1" -v c2="$c2" -v t1="$t1" -v t2="$t2" 'BEGIN {
    s = "2-rank speed-up over 1 rank (global batch 64):"
    s = s " cnn_ddp " ((c1 != "NA" && c2 != "NA" && c1 > 0) ? sprintf("x%.2f", c2 / c1) : "–")
    s = s ", PyTorch gloo DDP " ((t1 != "NA" && t2 != "NA" && t1 > 0) ? sprintf("x%.2f", t2 / t1) : "–")
    print s }'
echo "RSS = peak resident set of the largest process. Logs: $out"
# Start-up: process start to the end of the first training step (cnn_ddp writes it to its metrics).
if (( run_cnn )); then
    first=$(median < "$out/cnn_seed.first" 2>/dev/null)
    first_mpi=$(median < "$out/cnn_seed_np2.first" 2>/dev/null)
    echo "cnn_ddp start-up to the end of the first training step (seed, median): ${first:-NA} s as one process, ${first_mpi:-NA} s under mpirun -np 2 (MPI_Init included)"
fi
