# Help answers in every form a user tries (issue 16, point 2): -h, --help, help, help SUBCOMMAND and
# SUBCOMMAND --help/-h print that command's own usage on stdout and exit 0; a mistyped flag, subcommand,
# model or layer is refused in one line, exit 2, with "did you mean" when a name is close.
source "$(dirname "$0")/common.sh"

usage_is() { # expected-first-line args...
  local first=$1; shift
  local out err rc=0
  out=$(timeout 30 "$CNN_DDP" "$@" 2>"$WORK/err") || rc=$?
  err=$(cat "$WORK/err")
  [ "$rc" = 0 ] || fail "'$*': exit status $rc, expected 0: $err"
  [ -z "$err" ] || fail "'$*': wrote to stderr: $err"
  [ "$(printf '%s\n' "$out" | head -1)" = "$first" ] || fail "'$*': first line is '$(printf '%s\n' "$out" | head -1)', expected '$first'"
  printf '%s\n' "$out" >"$WORK/usage-$(echo "$*" | tr ' -' '__')"
  pass "'$*' -> $first"
}
train_first='usage: cnn_ddp [train] [options]    (under MPI: mpirun -np N cnn_ddp [options])'
for form in -h --help help "help train" "train --help" "train -h" "--batch 8 --help"; do
  # shellcheck disable=SC2086
  usage_is "$train_first" $form
done
grep -q -- "--max-steps N" "$WORK/usage-help" || fail "help: no training options"
grep -q "^  cnn_ddp predict --ckpt FILE IMAGE" "$WORK/usage-help" || fail "help: no subcommand list"
cmp -s "$WORK/usage-help" "$WORK/usage-__help" || fail "'help' and '--help' differ"
cmp -s "$WORK/usage-help" "$WORK/usage-_h" || fail "'help' and '-h' differ"

for sub in eval predict info help; do
  first=$(timeout 30 "$CNN_DDP" help "$sub" | head -1)
  case "$first" in "usage: cnn_ddp $sub "*) ;; *) fail "help $sub: first line '$first'" ;; esac
  usage_is "$first" help "$sub"
  usage_is "$first" "$sub" --help
  usage_is "$first" "$sub" -h
  cmp -s "$WORK/usage-help_$sub" "$WORK/usage-${sub}___help" || fail "help $sub and $sub --help differ"
done
# each its own text: no two subcommands print the same usage
[ "$(cat "$WORK"/usage-help_eval "$WORK"/usage-help_predict | sort | uniq -d | wc -l)" = 0 ] ||
  fail "eval and predict share usage lines"
grep -q -- "--data FILE.h5" "$WORK/usage-help_eval" || fail "eval usage lacks --data"
grep -q -- "--h5 FILE.h5 --index I" "$WORK/usage-help_predict" || fail "predict usage lacks --h5"
grep -q -- "--ckpt" "$WORK/usage-help_info" && fail "info usage shows eval's options"
pass "eval, predict, info and help each have their own usage"

refused() { # expected-message args...
  local want=$1; shift
  local out rc=0
  out=$(timeout 30 "$CNN_DDP" "$@" 2>&1) || rc=$?
  [ "$rc" = 2 ] || fail "'$*': exit status $rc, expected 2: $out"
  [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "'$*': expected one line: $out"
  [ "$out" = "cnn_ddp: error: $want" ] || fail "'$*': '$out', expected 'cnn_ddp: error: $want'"
  pass "'$*' -> $out"
}
refused "unknown option '--bach' (did you mean --batch?)" --bach 8
refused "unknown option '--Batch' (did you mean --batch?)" --Batch 8
refused "unknown option '--lr-shedule' (did you mean --lr-schedule?)" --lr-shedule cosine
refused "unknown option '--check' (did you mean --check-every?)" --check 10
refused "unknown option '--hepl' (did you mean --help?)" --hepl
refused "unknown option '--bogus' (see --help)" --bogus
refused "unexpected argument '-batch' (did you mean --batch?)" -batch 8
refused "unknown subcommand 'evl' (did you mean eval?)" evl --ckpt x.h5
refused "unknown subcommand 'predcit' (did you mean predict?)" predcit
refused "unknown subcommand 'inof' (did you mean info?)" inof x.h5
refused "unexpected argument 'stray' (not a subcommand: train, eval, predict, info or help; options start with --; see --help)" stray
refused "help: unknown subcommand 'evl' (did you mean eval?)" help evl
refused "help: unknown subcommand 'zzz' (subcommands: train, eval, predict, info, help)" help zzz
refused "model spec at 1: unknown model 'exercize' (did you mean exercise?)" --model exercize
refused "model spec at 1: unknown model 'sed' (did you mean seed?)" --model sed
refused "model spec at 14: unknown layer 'cnv' (did you mean conv?)" --model "conv(10,k=5) cnv(3) fc(10)"
refused "model spec at 1: unknown model 'xyzzy' (built-in: seed, exercise; or a spec of layers: conv, pool, relu, flatten, fc, linear)" --model xyzzy
refused "eval: unknown option --ckp (did you mean --ckpt?)" eval --ckp x.h5
refused "eval: unknown option --zzz (see cnn_ddp help eval)" eval --zzz
refused "predict: unknown option --inverted (did you mean --invert?)" predict --inverted
refused "predict: unknown option --indx (did you mean --index?)" predict --indx 3
refused "info: unknown option --bogus (info takes only FILE; a file of that name: ./--bogus)" info --bogus
refused "info takes one FILE (usage: cnn_ddp info FILE; see cnn_ddp help info)" info
refused "help takes at most one SUBCOMMAND (usage: cnn_ddp help [SUBCOMMAND])" help eval predict
