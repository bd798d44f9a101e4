#!/usr/bin/env bash
# plot.sh METRICS.jsonl OUT.png — draws a training run's curves from its --metrics file:
#   top:    training loss per epoch, the test (or validation) loss per epoch, and the per-step loss when
#           the run used --log-every
#   middle: train and test (or validation) accuracy per epoch
#   bottom: the learning rate (per step with --log-every, else per epoch)
# What a file lacks is said by name: "no per-step records: run with --log-every N", ...
# Needs gnuplot (Debian/Ubuntu: apt-get install gnuplot-nox). The JSON lines are read with awk, so
# no jq is needed. A resumed run appends to the same file; the last line for an epoch or step wins.
set -euo pipefail

die() { echo "plot.sh: $1" >&2; exit "${2:-2}"; }
[ $# = 2 ] || die "usage: launch/plot.sh METRICS.jsonl OUT.png"
metrics=$1 out=$2
[ -r "$metrics" ] || die "$metrics: no such file or not readable"
command -v gnuplot >/dev/null 2>&1 || die "gnuplot not found: install gnuplot-nox (sudo apt-get install gnuplot-nox)" 1

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cnn_ddp-plot-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# One pass: epochs.dat "epoch step loss train% held% held_loss lr", steps.dat "step loss lr", info "key value"
# lines. held: the test split's, or the validation rows' with --val-rows. A value a record lacks is NaN.
awk -v dir="$tmp" '
  function num(key,   m) {
    if (match($0, "\"" key "\":-?[0-9][0-9.eE+-]*")) return substr($0, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
    return "NaN"
  }
  function str(key) {
    if (match($0, "\"" key "\":\"[^\"]*\"")) return substr($0, RSTART + length(key) + 4, RLENGTH - length(key) - 5)
    return ""
  }
  function pct(x) { return x == "NaN" ? "NaN" : sprintf("%.4f", 100 * x) }
  /"type":"config"/ { configs++; model = str("model") }
  /"type":"epoch"/  { e = num("epoch"); if (e == "NaN") next
                      if (!(e in eloss)) order[++ne] = e
                      h = num("val_acc") != "NaN" ? "val" : "test"; if (num(h "_acc") != "NaN") held = h
                      estep[e] = num("step"); eloss[e] = num("train_loss"); etr[e] = num("train_acc")
                      ehe[e] = num(h "_acc"); ehl[e] = num(h "_loss"); elr[e] = num("lr")
                      if (ehl[e] != "NaN") nheld_loss++
                      if (elr[e] != "NaN") nlr++ }
  /"type":"step"/   { s = num("step"); if (s == "NaN") next
                      if (!(s in sloss)) sorder[++ns] = s
                      sloss[s] = num("loss"); slr[s] = num("lr"); if (slr[s] != "NaN") nlr++ }
  /"type":"final"/  { final = num("test_acc") }
  END {
    for (i = 1; i <= ne; i++) { e = order[i]
      printf "%s %s %s %s %s %s %s\n", e, estep[e], eloss[e], pct(etr[e]), pct(ehe[e]), ehl[e], elr[e] > (dir "/epochs.dat") }
    for (i = 1; i <= ns; i++) { s = sorder[i]; printf "%s %s %s\n", s, sloss[s], slr[s] > (dir "/steps.dat") }
    # steps per epoch, to put per-step values on the epoch axis
    spe = (ne > 0 && order[1] > 0) ? estep[order[1]] / order[1] : 0
    if (final == "NaN") final = ""
    printf "configs %d\nepochs %d\nsteps %d\nspe %s\nmodel %s\nfinal %s\nheld %s\nheld_loss %d\nlr %d\n",
      configs, ne, ns, spe, model, final, held == "" ? "test" : held, nheld_loss, nlr > (dir "/info")
  }' "$metrics"

info() { sed -n "s/^$1 //p" "$tmp/info"; }
configs=$(info configs) epochs=$(info epochs) steps=$(info steps) spe=$(info spe) model=$(info model) final=$(info final)
held=$(info held) held_loss=$(info held_loss) lrs=$(info lr)
if [ "$epochs" = 0 ] && [ "$steps" = 0 ]; then
  [ "$configs" -gt 0 ] || die "$metrics: not a cnn_ddp --metrics file (no {\"type\":\"config\",...} record, no epoch or step records)"
  die "$metrics: nothing to plot: no epoch records (no epoch finished) and no per-step records (run with --log-every N)"
fi
missing=()
[ "$steps" -gt 0 ] || missing+=("no per-step records: run with --log-every N for the per-step loss")
[ "$epochs" -gt 0 ] || missing+=("no epoch records: no epoch finished, so no accuracy")
[ "$epochs" = 0 ] || [ "$held_loss" -gt 0 ] || missing+=("no ${held}_loss in the epoch records (a file from an older cnn_ddp)")
[ "$lrs" -gt 0 ] || missing+=("no lr in the records (a file from an older cnn_ddp)")
[ -f "$tmp/epochs.dat" ] && sort -n -o "$tmp/epochs.dat" "$tmp/epochs.dat"
[ -f "$tmp/steps.dat" ] && sort -n -o "$tmp/steps.dat" "$tmp/steps.dat"
[ "$held" = val ] && held_name=validation || held_name=test

# pngcairo draws smoother; the plain png terminal (libgd) is the fallback.
terminal=png
gnuplot -e 'set terminal' 2>&1 | grep -q pngcairo && terminal=pngcairo

title="cnn_ddp"
[ -n "$model" ] && title="$title: ${model//\"/}"
[ -n "$final" ] && title="$title (final test accuracy $(awk -v a="$final" 'BEGIN { printf "%.2f%%", 100 * a }'))"
# On the epoch axis when there are epochs, else on the step axis.
if [ "$epochs" -gt 0 ]; then
  xlabel="epoch"; xstep="(\$1/$spe)"
else
  xlabel="step"; xstep="1"
fi
loss_plots=()
[ "$steps" -gt 0 ] && loss_plots+=("'$tmp/steps.dat' using $xstep:2 with lines lc rgb '#9ecae1' title 'loss per step'")
[ "$epochs" -gt 0 ] && loss_plots+=("'$tmp/epochs.dat' using 1:3 with linespoints pt 7 lc rgb '#08519c' title 'train loss (epoch mean)'")
[ "$epochs" -gt 0 ] && [ "$held_loss" -gt 0 ] &&
  loss_plots+=("'$tmp/epochs.dat' using 1:6 with linespoints pt 5 lc rgb '#e6550d' title '$held_name loss'")
loss_cmd=$(IFS=,; echo "${loss_plots[*]}")
# The lr: per step when there are step records, else at each epoch's end.
if [ "$steps" -gt 0 ]; then lr_cmd="'$tmp/steps.dat' using $xstep:3 with lines lc rgb '#756bb1' title 'lr'"
else lr_cmd="'$tmp/epochs.dat' using 1:7 with linespoints pt 7 lc rgb '#756bb1' title 'lr'"; fi

{
  echo "set terminal $terminal size 900,800 noenhanced"
  echo "set output '$out'"
  echo "set multiplot layout 3,1 title \"$title\""
  echo "set grid; set key top right; set xlabel '$xlabel'; set xrange [0:*]"
  echo "set ylabel 'loss'; set logscale y"
  echo "plot $loss_cmd"
  echo "unset logscale y; set ylabel 'accuracy (%)'"
  if [ "$epochs" -gt 0 ]; then
    echo "set key bottom right"
    echo "plot '$tmp/epochs.dat' using 1:4 with linespoints pt 7 lc rgb '#31a354' title 'train', \\"
    echo "     '$tmp/epochs.dat' using 1:5 with linespoints pt 5 lc rgb '#e6550d' title '$held_name'"
  else
    echo "set label 1 'no epoch finished yet' at graph 0.5, graph 0.5 center; unset key"
    echo "plot [0:1] [0:1] NaN notitle"
    echo "unset label 1; set key"
  fi
  echo "set ylabel 'learning rate'; set key top right"
  if [ "$lrs" -gt 0 ]; then
    echo "plot $lr_cmd"
  else
    echo "set label 2 'no lr recorded' at graph 0.5, graph 0.5 center; unset key"
    echo "plot [0:1] [0:1] NaN notitle"
  fi
  echo "unset multiplot"
} > "$tmp/plot.gp"
gnuplot "$tmp/plot.gp" 2>"$tmp/gnuplot.err" || die "gnuplot failed: $(head -3 "$tmp/gnuplot.err" | tr '\n' ' ')" 1
[ -s "$out" ] || die "gnuplot wrote no $out" 1
echo "plot.sh: wrote $out ($epochs epochs, $steps step points, terminal $terminal)"
for m in "${missing[@]}"; do echo "plot.sh: note: $m"; done
