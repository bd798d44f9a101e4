# --progress: the bar in a real pseudo-terminal (script(1), and tmux when installed) at 80 and 60 columns
# never reaches the last column (so never wraps into fragments), keeps rate, loss and both ETAs at 80,
# and is cleared before the epoch lines, the final line and the signal stop line; --progress lines
# prints plain lines every --progress-every seconds, also from rank 0 under mpirun into a file (auto
# picks lines there); --quiet and --progress none print no progress; a log file keeps stdout's and
# stderr's lines in order (stdout is line-buffered there).
source "$(dirname "$0")/common.sh"
ensure_data
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || { echo "SKIP: no python3 to replay the terminal output"; exit 77; }
SCREEN="$CD_SRC/tests/sh/term_screen.py"
command -v script >/dev/null || { echo "SKIP: script(1) (util-linux) is not installed"; exit 77; }
run=(--data "$DATA" --epochs 2 --max-steps 500 --no-ckpt)
bar_re='^epoch [0-9]+/[0-9]+ +[0-9]+%'

# 1. script(1): the raw bytes a terminal of COLS columns receives, replayed with wrapping.
for cols in 80 60; do
  script -q -c "stty cols $cols rows 40; CNN_DDP_FAULT=sigterm:0:450 '$CNN_DDP' ${run[*]} --progress auto" /dev/null \
    > "$WORK/raw$cols" 2>&1 || true
  "$PY" "$SCREEN" "$cols" < "$WORK/raw$cols" > "$WORK/screen$cols" || fail "$cols columns: replay failed: $(tail -2 "$WORK/screen$cols")"
  read -r _ draws longest wraps <<<"$(tail -1 "$WORK/screen$cols")"
  [ "$draws" -ge 5 ] || fail "$cols columns: auto on a terminal drew no bar ($draws redraws): $(head -c 600 "$WORK/raw$cols" | cat -A)"
  [ "$wraps" = 0 ] && [ "$longest" -lt "$cols" ] ||
    fail "$cols columns: the bar wrapped $wraps times, longest $longest: $(grep -aoE "${bar_re#^}[^$(printf '\r')]*" "$WORK/raw$cols" | sort | tail -3)"
  # The screen at the end: no bar row is left over (the epoch lines, the stop line replaced it).
  ! grep -Eq "$bar_re" "$WORK/screen$cols" || fail "$cols columns: a bar fragment is left on the screen: $(grep -E "$bar_re" "$WORK/screen$cols")"
  grep -q '^epoch 1/2  loss' "$WORK/screen$cols" || fail "$cols columns: no clean epoch line: $(cat "$WORK/screen$cols")"
  grep -q '^cnn_ddp: stopped by signal at step 451' "$WORK/screen$cols" ||
    fail "$cols columns: the stop line does not start its own row: $(tail -4 "$WORK/screen$cols")"
  pass "$cols columns: $draws bar redraws, longest $longest columns, no wrap, cleared before epoch and stop lines"
done
# At 80 columns the rate, the loss and both ETAs are there (the step count when it fits).
last=$(grep -aoE "${bar_re#^}[^$(printf '\r\033')]*" "$WORK/raw80" | tail -1)
grep -Eq '^epoch 2/2 +[0-9]+% \[=*>? *\](  +[0-9]+/354)?  +[0-9]+ img/s  loss [0-9.]+  ETA [0-9hms?]+ *  total [0-9hms?]+ *$' <<<"$last" ||
  fail "80 columns: the bar lacks a field: '$last'"
pass "80 columns: '$last'"

# 2. tmux: the screen itself, sampled while the bar runs, at 60 columns: one bar row, nothing wider.
if command -v tmux >/dev/null; then
  sock="$WORK/tmux.sock"
  tmux -S "$sock" new-session -d -x 60 -y 30 "'$CNN_DDP' ${run[*]} --epochs 3 --max-steps 0; sleep 30" || fail "tmux did not start"
  seen=0
  for _ in $(seq 40); do
    sleep 0.2
    tmux -S "$sock" capture-pane -p > "$WORK/pane" 2>/dev/null || break
    n=$(grep -cE "$bar_re" "$WORK/pane" || true)
    [ "$n" -le 1 ] || fail "tmux 60 columns: $n bar rows on the screen: $(cat "$WORK/pane")"
    awk 'length($0) > 60 { exit 1 }' "$WORK/pane" || fail "tmux: a row wider than the window"
    [ "$n" = 1 ] && seen=$((seen + 1))
  done
  tmux -S "$sock" kill-server 2>/dev/null || true
  [ "$seen" -ge 3 ] || fail "tmux 60 columns: the bar was seen in only $seen of the samples"
  pass "tmux at 60 columns: one bar row in each of $seen samples"
else
  echo "tmux not installed: the tmux screen check is skipped (script(1) covered the bar)"
fi

# 3. --progress lines, into a file, under mpirun (auto = lines there): rank 0 only, every 0.25 s (an
#    idle machine runs the 400 steps in ~1.5 s: a whole second would give a single line).
t0=$(date +%s.%N)
mpirun_np 2 "${run[@]}" --max-steps 400 --progress-every 0.25 > "$WORK/mpi.log" 2>&1 || fail "2-rank run: $(cat "$WORK/mpi.log")"
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
n=$(grep -cE '^step [0-9]+/400  epoch [0-9]+/2 [0-9]+%  [0-9]+ img/s  loss [0-9.]+  epoch ETA [0-9hms?]+  total ETA [0-9hms?]+$' "$WORK/mpi.log" || true)
# Four a second (less the start-up and the evaluation), from one rank only.
awk -v n="$n" -v s="$secs" 'BEGIN { exit !(n >= s * 1.6 - 1 && n >= 2 && n <= s * 4 + 1) }' || fail "mpirun: $n progress lines in $secs s: $(cat "$WORK/mpi.log")"
! LC_ALL=C grep -q "$(printf '[\001-\010\013-\037]')" "$WORK/mpi.log" || fail "control characters in the mpirun log"
pass "mpirun into a file: $n progress lines in $secs s, e.g. '$(grep -m1 '^step ' "$WORK/mpi.log")'"

# 4. --quiet and --progress none print no progress; lines ends with the run's one final line as before.
q=$("$CNN_DDP" "${run[@]}" --progress lines --progress-every 0.1 --quiet 2>&1)
[ "$q" = "$(grep '^final:' <<<"$q")" ] || fail "--quiet with --progress lines printed more than the final line: $q"
n=$("$CNN_DDP" "${run[@]}" --progress none --progress-every 0.1 2>&1 | grep -c '^step ' || true)
[ "$n" = 0 ] || fail "--progress none printed $n progress lines"
script -q -c "'$CNN_DDP' ${run[*]} --progress none" /dev/null > "$WORK/none.raw" 2>&1
! grep -q "$(printf '\r')epoch" "$WORK/none.raw" || fail "--progress none drew a bar on a terminal"
pass "--quiet and --progress none: no progress output"

# 5. Order in a shared log: stdout's lines (line-buffered into a file) come before the stop line
#    that stderr wrote after them.
rc=0; CNN_DDP_FAULT=sigterm:0:300 "$CNN_DDP" "${run[@]}" > "$WORK/order.log" 2>&1 || rc=$?
[ "$rc" = 143 ] || fail "ordering run: exit $rc: $(cat "$WORK/order.log")"
first=$(grep -n '^first step done' "$WORK/order.log" | cut -d: -f1)
stop=$(grep -n '^cnn_ddp: stopped by signal' "$WORK/order.log" | cut -d: -f1)
[ -n "$first" ] && [ -n "$stop" ] && [ "$first" -lt "$stop" ] && [ "$stop" = "$(wc -l < "$WORK/order.log")" ] ||
  fail "log order: 'first step done' at line ${first:-none}, the stop line at ${stop:-none}: $(cat "$WORK/order.log")"
pass "a shared log keeps the order: 'first step done' at line $first, the stop line last (line $stop)"
