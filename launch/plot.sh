#!/usr/bin/env bash
# plot.sh METRICS.jsonl OUT.png — draws a training run's curves from its --metrics file:
#   top:    training loss per epoch, and the per-step loss when the run used --log-every
#   bottom: train and test accuracy per epoch
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

# One pass: epochs.dat "epoch step loss train% test%", steps.dat "step loss", info "key value" lines.
awk -v dir="$tmp" '
  function num(key,   m) {
    if (match($0, "\"" key "\":-?[0-9][0-9.eE+-]*")) return substr($0, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
    return ""
  }
  function str(key) {
    if (match($0, "\"" key "\":\"[^\"]*\"")) return substr($0, RSTART + length(key) + 4, RLENGTH - length(key) - 5)
    return ""
  }
  /"type":"config"/ { model = str("model") }
  /"type":"epoch"/  { e = num("epoch"); if (e == "") next
                      if (!(e in eloss)) order[++ne] = e
                      estep[e] = num("step"); eloss[e] = num("train_loss"); etr[e] = num("train_acc"); ete[e] = num("test_acc") }
  /"type":"step"/   { s = num("step"); if (s == "") next
                      if (!(s in sloss)) sorder[++ns] = s
                      sloss[s] = num("loss") }
  /"type":"final"/  { final = num("test_acc") }
  END {
    for (i = 1; i <= ne; i++) { e = order[i]
      printf "%s %s %s %.4f %.4f\n", e, estep[e], eloss[e], 100 * etr[e], 100 * ete[e] > (dir "/epochs.dat") }
    for (i = 1; i <= ns; i++) { s = sorder[i]; printf "%s %s\n", s, sloss[s] > (dir "/steps.dat") }
    # steps per epoch, to put per-step losses on the epoch axis
    spe = (ne > 0 && order[1] > 0) ? estep[order[1]] / order[1] : 0
    printf "epochs %d\nsteps %d\nspe %s\nmodel %s\nfinal %s\n", ne, ns, spe, model, final > (dir "/info")
  }' "$metrics"

info() { sed -n "s/^$1 //p" "$tmp/info"; }
epochs=$(info epochs) steps=$(info steps) spe=$(info spe) model=$(info model) final=$(info final)
[ "$epochs" -gt 0 ] || [ "$steps" -gt 0 ] || die "$metrics: no epoch or step lines (is it a cnn_ddp --metrics file?)"
[ -f "$tmp/epochs.dat" ] && sort -n -o "$tmp/epochs.dat" "$tmp/epochs.dat"
[ -f "$tmp/steps.dat" ] && sort -n -o "$tmp/steps.dat" "$tmp/steps.dat"

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
loss_cmd=$(IFS=,; echo "${loss_plots[*]}")

{
  echo "set terminal $terminal size 900,800 noenhanced"
  echo "set output '$out'"
  echo "set multiplot layout 2,1 title \"$title\""
  echo "set grid; set key top right; set xlabel '$xlabel'; set xrange [0:*]"
  echo "set ylabel 'loss'; set logscale y"
  echo "plot $loss_cmd"
  echo "unset logscale y; set ylabel 'accuracy (%)'"
  if [ "$epochs" -gt 0 ]; then
    echo "set key bottom right"
    echo "plot '$tmp/epochs.dat' using 1:4 with linespoints pt 7 lc rgb '#31a354' title 'train', \\"
    echo "     '$tmp/epochs.dat' using 1:5 with linespoints pt 5 lc rgb '#e6550d' title 'test'"
  else
    echo "set label 1 'no epoch finished yet' at graph 0.5, graph 0.5 center; unset key"
    echo "plot [0:1] [0:1] NaN notitle"
  fi
  echo "unset multiplot"
} > "$tmp/plot.gp"
gnuplot "$tmp/plot.gp" 2>"$tmp/gnuplot.err" || die "gnuplot failed: $(head -3 "$tmp/gnuplot.err" | tr '\n' ' ')" 1
[ -s "$out" ] || die "gnuplot wrote no $out" 1
echo "plot.sh: wrote $out ($epochs epochs, $steps step points, terminal $terminal)"
