# launch/plot.sh draws a PNG from a --metrics file (epoch lines, per-step lines, or both; loss, accuracy
# and lr), says exactly what a file lacks (per-step records: --log-every; epochs; lr and test loss of an
# older file), refuses a file with nothing to plot, and says to install gnuplot-nox when gnuplot is
# missing. Skipped without gnuplot.
source "$(dirname "$0")/common.sh"
PLOT="$CD_SRC/launch/plot.sh"
if ! command -v gnuplot >/dev/null 2>&1; then
  echo "SKIP: gnuplot is not installed (apt-get install gnuplot-nox); launch/plot.sh not tested"
  exit 0
fi

is_png() { # file width height
  [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || return 1
  # IHDR: width and height, big-endian, at bytes 16..23
  [ "$(od -An -tu1 -j 16 -N 8 "$1" | awk '{ print $3 * 256 + $4, $7 * 256 + $8 }')" = "$2 $3" ]
}

# A run's metrics, in the trainer's own format: a real short run with per-step lines...
ensure_data
"$CNN_DDP" --data "$DATA" --max-steps 20 --log-every 5 --no-ckpt --quiet --metrics "$WORK/steps.jsonl" >/dev/null
grep -q '"type":"step"' "$WORK/steps.jsonl" || fail "the trainer wrote no step lines with --log-every"
# The config record names the device the run used, once (it once said "cpu" whatever ran, and twice).
config=$(head -1 "$WORK/steps.jsonl")
[ "$(grep -o '"device"' <<<"$config" | wc -l)" = 1 ] || fail "config record: \"device\" not exactly once: $config"
grep -q '"device":"cpu"' <<<"$config" || fail "config record: device is not cpu: $config"
out=$(bash "$PLOT" "$WORK/steps.jsonl" "$WORK/steps.png") || fail "plot.sh on per-step metrics failed: $out"
is_png "$WORK/steps.png" 900 800 || fail "steps.png is not a 900x800 PNG"
echo "$out" | grep -q "0 epochs, 4 step points" || fail "plot.sh did not read the 4 step lines: $out"
echo "$out" | grep -q "note: no epoch records: no epoch finished" || fail "plot.sh did not say the epochs are missing: $out"
! echo "$out" | grep -q "note: no lr" || fail "plot.sh found no lr in the step records: $out"
pass "per-step metrics of a real run: $out"

# ... and three epochs written as metrics.c writes them (a real run of three epochs takes too long here).
{
  echo '{"type":"config","world_size":1,"device":"cpu","data":"x.h5","model":"seed","epochs":"3"}'
  for e in 1 2 3; do
    for s in 100 200 300; do echo "{\"type\":\"step\",\"step\":$(((e - 1) * 354 + s)),\"loss\":0.$((9 - 2 * e))2,\"lr\":0.01}"; done
    echo "{\"type\":\"epoch\",\"epoch\":$e,\"step\":$((e * 354)),\"train_loss\":0.$((8 - 2 * e))00000,\"train_acc\":0.9$((e + 2))0000,\"test_acc\":0.9$((e + 4))0000,\"test_loss\":0.$((5 - e))1,\"lr\":0.0$((4 - e)),\"img_per_s\":5000.0,\"elapsed_s\":$e.000,\"world_size\":1,\"device\":\"cpu\"}"
  done
  echo '{"type":"final","step":1062,"test_acc":0.970000,"elapsed_s":3.100}'
} > "$WORK/epochs.jsonl"
out=$(bash "$PLOT" "$WORK/epochs.jsonl" "$WORK/epochs.png") || fail "plot.sh on epoch metrics failed: $out"
is_png "$WORK/epochs.png" 900 800 || fail "epochs.png is not a 900x800 PNG"
echo "$out" | grep -q "3 epochs, 9 step points" || fail "plot.sh did not read 3 epochs and 9 steps: $out"
! echo "$out" | grep -q "note:" || fail "plot.sh said something is missing from a complete file: $out"
pass "epoch + step metrics: $out"

# Epochs only (no --log-every), in the older format (no lr, no test_loss): drawn, and each lack named.
grep -v '"type":"step"' "$WORK/epochs.jsonl" | sed 's/"test_loss":[^,]*,"lr":[^,]*,//' > "$WORK/old.jsonl"
out=$(bash "$PLOT" "$WORK/old.jsonl" "$WORK/old.png") || fail "plot.sh on an older epochs-only file failed: $out"
is_png "$WORK/old.png" 900 800 || fail "old.png is not a 900x800 PNG"
for want in "no per-step records: run with --log-every N" "no test_loss in the epoch records" "no lr in the records"; do
  grep -q "note: $want" <<<"$out" || fail "plot.sh did not say '$want': $out"
done
pass "an older epochs-only file: drawn, and it says what is missing"

# Refusals: no metrics in the file, a missing file, wrong arguments, no gnuplot on PATH.
echo '{"type":"config"}' > "$WORK/empty.jsonl"
rc=0; out=$(bash "$PLOT" "$WORK/empty.jsonl" "$WORK/x.png" 2>&1) || rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q "nothing to plot: no epoch records (no epoch finished) and no per-step records (run with --log-every N)" ||
  fail "a metrics file without data: rc $rc, $out"
echo 'some notes' > "$WORK/notes.txt"
rc=0; out=$(bash "$PLOT" "$WORK/notes.txt" "$WORK/x.png" 2>&1) || rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q "not a cnn_ddp --metrics file" || fail "a file that is not metrics: rc $rc, $out"
rc=0; out=$(bash "$PLOT" "$WORK/none.jsonl" "$WORK/x.png" 2>&1) || rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q "none.jsonl: no such file" || fail "a missing metrics file: rc $rc, $out"
rc=0; out=$(bash "$PLOT" "$WORK/epochs.jsonl" 2>&1) || rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q "usage:" || fail "one argument: rc $rc, $out"
mkdir "$WORK/nopath"
rc=0; out=$(PATH="$WORK/nopath" "$(command -v bash)" "$PLOT" "$WORK/epochs.jsonl" "$WORK/x.png" 2>&1) || rc=$?
[ "$rc" = 1 ] && [ "$out" = "plot.sh: gnuplot not found: install gnuplot-nox (sudo apt-get install gnuplot-nox)" ] || fail "without gnuplot: rc $rc, $out"
[ -e "$WORK/x.png" ] && fail "an image was written on failure"
pass "refusals: no data, missing file, usage, no gnuplot (\"$out\")"
