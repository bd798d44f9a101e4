# The day-to-day subcommands on a short training run's checkpoint:
#  eval    prints the trainer's own final test accuracy, a confusion matrix summing to the test set, the
#          same result under mpirun -np 2 and for any --batch;
#  predict gives a digit and ten probabilities summing to 1 for a data set row, and exactly the same for
#          that row written as PGM and as PNG (grey and RGB); an inverted image is reported, not changed;
#  errors  (missing/damaged checkpoint, wrong data, wrong image size, index out of range) are one line
#          and exit status 2.
source "$(dirname "$0")/common.sh"
ensure_data

train_out=$("$CNN_DDP" --data "$DATA" --max-steps 60 --quiet --ckpt-dir "$WORK/ck")
ckpt="$WORK/ck/final.h5"
train_acc=$(echo "$train_out" | sed -nE 's/^final: step 60  test accuracy ([0-9.]+)%.*/\1/p')
[ -n "$train_acc" ] || fail "no final accuracy line from the trainer: $train_out"

# ---- eval --------------------------------------------------------------------------------------------
ev=$("$CNN_DDP" eval --ckpt "$ckpt" --data "$DATA") || fail "eval failed: $ev"
echo "$ev"
eval_acc=$(echo "$ev" | sed -nE 's/^test accuracy ([0-9.]+)% \(([0-9]+) of 10000\), error rate [0-9.]+%$/\1/p')
[ "$eval_acc" = "$train_acc" ] || fail "eval accuracy '$eval_acc' differs from the trainer's $train_acc%"
cm_rows=$(echo "$ev" | sed -n '/^true\\pred/,/^$/p' | sed '1d;/^$/d')
[ "$(echo "$cm_rows" | wc -l)" = 10 ] || fail "the confusion matrix does not have 10 rows: $cm_rows"
read -r total diag < <(echo "$cm_rows" | awk '{ for (i = 2; i <= 11; i++) { s += $i; if (i == $1 + 2) d += $i } } END { print s, d }')
[ "$total" = 10000 ] || fail "the confusion matrix sums to $total, not 10000"
hits=$(echo "$ev" | sed -nE 's/^test accuracy [0-9.]+% \(([0-9]+) of.*/\1/p')
[ "$diag" = "$hits" ] || fail "the diagonal ($diag) is not the number correct ($hits)"
# per-digit rows: images are the row sums of the matrix
per_digit=$(echo "$ev" | sed -n '/^class  images/,/^$/p' | sed '1d;$d')
[ "$(echo "$per_digit" | awk '{ s += $2 } END { print s }')" = 10000 ] || fail "per-digit image counts do not sum to 10000"
pass "eval: accuracy $eval_acc% = the trainer's; confusion matrix sums to 10000, diagonal = $hits correct"

strip_ranks() { grep -v '^data \|^inference '; }
ev2=$(mpirun_np 2 eval --ckpt "$ckpt" --data "$DATA") || fail "eval under mpirun -np 2 failed: $ev2"
echo "$ev2" | grep -q '^data .* 2 ranks,' || fail "eval under mpirun does not report 2 ranks: $ev2"
[ "$(echo "$ev" | strip_ranks)" = "$(echo "$ev2" | strip_ranks)" ] || fail "eval under mpirun -np 2 differs"
ev7=$("$CNN_DDP" eval --ckpt "$ckpt" --data "$DATA" --batch 7)
[ "$(echo "$ev" | strip_ranks)" = "$(echo "$ev7" | strip_ranks)" ] || fail "eval --batch 7 differs"
pass "eval: identical under mpirun -np 2 and with --batch 7"

# ---- predict -----------------------------------------------------------------------------------------
# digit_and_probs LINE -> "D p0 ... p9"
# ("digit D" for unnamed MNIST-shaped data, "class D (NAME)" when the file names its classes)
digit_and_probs() { sed -nE 's/.*: (digit|class) ([0-9])( \([^)]*\))?  p (.*)$/\2 \4/p' | sed -E 's/ [0-9]:/ /g'; }
p0=$("$CNN_DDP" predict --ckpt "$ckpt" --h5 "$DATA" --index 0 --save-pgm "$WORK/t0.pgm") || fail "predict --h5 failed: $p0"
echo "$p0"
[ "$(echo "$p0" | wc -l)" = 1 ] || fail "predict printed more than one line: $p0"
echo "$p0" | grep -Eq '/test\[0\] \(label [0-9]\): (digit [0-9]|class [0-9] \([^)]*\))  p( [0-9]:[01]\.[0-9]{4}){10}$' || fail "predict line format: $p0"
ref=$(echo "$p0" | digit_and_probs)
echo "$ref" | awk '{ s = 0; for (i = 2; i <= 11; i++) s += $i; if (s < 0.995 || s > 1.005) exit 1;
                     best = 2; for (i = 3; i <= 11; i++) if ($i > $best) best = i; if (best - 2 != $1) exit 1 }' \
  || fail "probabilities do not sum to 1 or the digit is not the most probable: $ref"
[ -s "$WORK/t0.pgm" ] || fail "--save-pgm wrote nothing"
head -c 2 "$WORK/t0.pgm" | grep -q P5 || fail "--save-pgm did not write a P5 PGM"

# The same pixels as PGM, an inverted PGM, a grey PNG and an RGB PNG. Written with perl-base alone (always
# there on Debian): the PNGs hold stored (uncompressed) deflate blocks, with CRC32 and Adler-32 computed here.
perl - "$WORK/t0.pgm" "$WORK" <<'EOF'
use strict; use warnings;
my ($pgm, $out) = @ARGV;
sub slurp { open my $f, '<:raw', $_[0] or die "$_[0]: $!"; local $/; my $d = <$f>; close $f; $d }
sub wr { open my $o, '>:raw', $_[0] or die "$_[0]: $!"; print $o $_[1]; close $o or die "$_[0]: $!" }
my ($w, $h, $px) = slurp($pgm) =~ /\AP5\n(\d+) (\d+)\n255\n(.*)\z/s or die "$pgm: not the expected P5 header";
my @p = unpack 'C*', substr($px, 0, $w * $h);
sub row { my ($y, $n) = @_; @p[$y * $w .. $y * $w + $n - 1] }
wr("$out/inv.pgm", "P5\n$w $h\n255\n" . pack('C*', map { 255 - $_ } @p));
wr("$out/t0_p2.pgm", "P2\n# text form\n$w $h\n255\n" . join("\n", map { join ' ', row($_, $w) } 0 .. $h - 1) . "\n");
my @table = map { my $c = $_; $c = ($c & 1) ? (0xEDB88320 ^ ($c >> 1)) : ($c >> 1) for 1 .. 8; $c } 0 .. 255;
sub crc32 { my $c = 0xFFFFFFFF; $c = $table[($c ^ $_) & 0xFF] ^ ($c >> 8) for unpack 'C*', $_[0]; $c ^ 0xFFFFFFFF }
sub adler32 { my ($a, $b) = (1, 0); for (unpack 'C*', $_[0]) { $a = ($a + $_) % 65521; $b = ($b + $a) % 65521 } ($b << 16) | $a }
sub zstored { # a zlib stream of stored deflate blocks
  my ($raw) = @_; my ($z, $pos, $n) = ("\x78\x01", 0, length $raw);
  do { my $len = $n - $pos > 65535 ? 65535 : $n - $pos;
       $z .= pack('C v v', $pos + $len >= $n ? 1 : 0, $len, ~$len & 0xFFFF) . substr($raw, $pos, $len); $pos += $len;
  } while ($pos < $n);
  $z . pack('N', adler32($raw)) }
sub chunk { pack('N', length $_[1]) . $_[0] . $_[1] . pack('N', crc32($_[0] . $_[1])) }
sub png { my ($path, $pw, $ph, $colour, $rowf) = @_;
  wr($path, "\x89PNG\r\n\x1a\n" . chunk('IHDR', pack('N N C C C C C', $pw, $ph, 8, $colour, 0, 0, 0))
     . chunk('IDAT', zstored(join '', map { "\0" . $rowf->($_) } 0 .. $ph - 1)) . chunk('IEND', '')) }
png("$out/t0.png", $w, $h, 0, sub { pack 'C*', row($_[0], $w) });
png("$out/t0_rgb.png", $w, $h, 2, sub { pack 'C*', map { ($_, $_, $_) } row($_[0], $w) });
png("$out/small.png", 20, 20, 0, sub { pack 'C*', row($_[0], 20) });
EOF
for img in t0.pgm t0_p2.pgm t0.png t0_rgb.png; do
  got=$("$CNN_DDP" predict --ckpt "$ckpt" "$WORK/$img" | digit_and_probs)
  [ "$got" = "$ref" ] || fail "predict on $img gives '$got', the data set row gives '$ref'"
done
pass "predict: test row 0 -> digit ${ref%% *}, probabilities sum to 1; same digit and probabilities from PGM P5/P2 and PNG grey/RGB"

inv_err=$("$CNN_DDP" predict --ckpt "$ckpt" "$WORK/inv.pgm" 2>&1 >/dev/null) || fail "predict on an inverted image failed"
echo "$inv_err" | grep -q "warning: .*inv.pgm: mean pixel .* > 127 .*--invert" || fail "no warning about an inverted image: $inv_err"
got=$("$CNN_DDP" predict --ckpt "$ckpt" --invert "$WORK/inv.pgm" 2>&1) || fail "predict --invert failed: $got"
[ "$(echo "$got" | digit_and_probs)" = "$ref" ] || fail "--invert does not give back the original prediction: $got"
echo "$got" | grep -q warning && fail "--invert on the inverted image still warns: $got"
pass "predict: an inverted image is reported with a hint, --invert restores the prediction"

# ---- errors: one line, exit 2 --------------------------------------------------------------------------
expect_exit2() { # label pattern command...
  local label=$1 pattern=$2 out rc=0; shift 2
  out=$("$@" 2>&1) || rc=$?
  [ "$rc" = 2 ] || fail "$label: exit status $rc, expected 2 ($out)"
  [ "$(echo "$out" | wc -l)" = 1 ] || fail "$label: expected one line: $out"
  echo "$out" | grep -q "^cnn_ddp: error: .*$pattern" || fail "$label: message lacks '$pattern': $out"
  pass "$label: $out"
}
cp "$ckpt" "$WORK/damaged.h5"
at=$("$DIGEST" --offset "$WORK/damaged.h5" /params/fc1/weight)
v=$(od -An -tu1 -j $((at + 5)) -N1 "$WORK/damaged.h5" | tr -d ' ')
printf "$(printf '\\%03o' $((v ^ 0x40)))" | dd of="$WORK/damaged.h5" bs=1 seek=$((at + 5)) conv=notrunc status=none
cmp -s "$ckpt" "$WORK/damaged.h5" && fail "the byte flip did not change the file"

expect_exit2 "eval, missing checkpoint" "nope.h5: no such checkpoint file" "$CNN_DDP" eval --ckpt "$WORK/nope.h5" --data "$DATA"
expect_exit2 "eval, damaged checkpoint" "/params/fc1/weight: checksum mismatch" "$CNN_DDP" eval --ckpt "$WORK/damaged.h5" --data "$DATA"
expect_exit2 "eval, data file is not HDF5" "t0.pgm" "$CNN_DDP" eval --ckpt "$ckpt" --data "$WORK/t0.pgm"
expect_exit2 "eval, no --ckpt" "--ckpt FILE is required" "$CNN_DDP" eval --data "$DATA"
expect_exit2 "predict, missing checkpoint" "nope.h5: no such checkpoint file" "$CNN_DDP" predict --ckpt "$WORK/nope.h5" "$WORK/t0.pgm"
expect_exit2 "predict, damaged checkpoint" "checksum mismatch" "$CNN_DDP" predict --ckpt "$WORK/damaged.h5" "$WORK/t0.pgm"
expect_exit2 "predict, wrong image size" "small.png: image is 20x20, but the model in .* takes 28x28 images" \
  "$CNN_DDP" predict --ckpt "$ckpt" "$WORK/small.png"
expect_exit2 "predict, index out of range" "--index 10000 is out of range: .* has 10000 images" \
  "$CNN_DDP" predict --ckpt "$ckpt" --h5 "$DATA" --index 10000
expect_exit2 "predict, missing image" "gone.png: cannot open" "$CNN_DDP" predict --ckpt "$ckpt" "$WORK/gone.png"
head -c $(($(stat -c %s "$WORK/t0.png") / 2)) "$WORK/t0.png" > "$WORK/cut.png"
expect_exit2 "predict, truncated PNG" "cut.png: PNG" "$CNN_DDP" predict --ckpt "$ckpt" "$WORK/cut.png"
echo "not an image" > "$WORK/text.png"
expect_exit2 "predict, not an image" "text.png: not a PGM or PNG image" "$CNN_DDP" predict --ckpt "$ckpt" "$WORK/text.png"

# Data of a size the model cannot take: 20x20 (fc input differs) and 8x8 (too small for the convolutions).
for side in 20 8; do
  perl - "$WORK/idx$side" "$side" <<'EOF'
use strict; use warnings;
my ($d, $s) = @ARGV;
mkdir $d;
sub wr { open my $o, '>:raw', $_[0] or die "$_[0]: $!"; print $o $_[1]; close $o or die "$_[0]: $!" }
for (['train', 64], ['t10k', 16]) {
  my ($name, $n) = @$_;
  wr("$d/$name-images-idx3-ubyte", pack('N4', 0x803, $n, $s, $s) . pack('C*', map { ($_ * 7) % 256 } 0 .. $n * $s * $s - 1));
  wr("$d/$name-labels-idx1-ubyte", pack('N2', 0x801, $n) . pack('C*', map { $_ % 10 } 0 .. $n - 1));
}
EOF
  i="$WORK/idx$side"
  "$CD_BIN/mnist2h5" --images "$i/train-images-idx3-ubyte" --labels "$i/train-labels-idx1-ubyte" \
    --test-images "$i/t10k-images-idx3-ubyte" --test-labels "$i/t10k-labels-idx1-ubyte" -o "$WORK/d$side.h5" >/dev/null \
    || fail "mnist2h5 could not write the ${side}x$side data set"
done
expect_exit2 "eval, 20x20 data" "/test images are 20x20: .*not trained on 20x20 images" "$CNN_DDP" eval --ckpt "$ckpt" --data "$WORK/d20.h5"
expect_exit2 "eval, 8x8 data" "/test images are 8x8: .*cannot take 8x8 images" "$CNN_DDP" eval --ckpt "$ckpt" --data "$WORK/d8.h5"
expect_exit2 "predict, 20x20 data row" "image is 20x20, but the model in .* takes 28x28 images" \
  "$CNN_DDP" predict --ckpt "$ckpt" --h5 "$WORK/d20.h5" --index 3

out=$(mpirun_np 2 eval --ckpt "$WORK/nope.h5" --data "$DATA" 2>&1) && fail "eval under mpirun accepted a missing checkpoint"
[ "$(echo "$out" | grep -c 'cnn_ddp: error')" = 1 ] || fail "eval under mpirun: expected one error line: $out"
pass "eval under mpirun -np 2: a missing checkpoint is one error line"
