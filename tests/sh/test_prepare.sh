# datasets/prepare.sh: --help writes nothing; bad names/options exit 2; mnist and fashion-mnist from
# --from DIR convert with their class names; the up-to-date check follows the sources' SHA-256 sums
# recorded in the file, not file times; prepare_mnist.sh still works with MNIST_IDX_DIR / MNIST2H5.
source "$(dirname "$0")/common.sh"
P="$CD_SRC/datasets/prepare.sh"
export MNIST2H5="$CD_BIN/mnist2h5"

# Small IDX sets (raw) in $WORK/idx: 50 train and 20 test images of 6x5, labels 0-9.
mkdir -p "$WORK/idx"
perl - "$WORK/idx" <<'EOF'
use strict; use warnings;
my ($d) = @ARGV;
sub wr { open my $o, '>:raw', $_[0] or die "$_[0]: $!"; print $o $_[1]; close $o or die "$_[0]: $!" }
for (['train', 50], ['t10k', 20]) {
  my ($name, $n) = @$_;
  wr("$d/$name-images-idx3-ubyte", pack('N4', 0x803, $n, 6, 5) . pack('C*', map { ($_ * 7) % 256 } 0 .. $n * 30 - 1));
  wr("$d/$name-labels-idx1-ubyte", pack('N2', 0x801, $n) . pack('C*', map { $_ % 10 } 0 .. $n - 1));
}
EOF

# --help: usage on stdout, exit 0, no file written anywhere under the work directory or datasets/.
before=$(ls -la "$CD_SRC/datasets" "$WORK")
out=$(cd "$WORK" && bash "$P" --help) || fail "--help exited non-zero"
grep -q "usage: datasets/prepare.sh NAME" <<<"$out" || fail "--help: no usage line: $out"
out=$(cd "$WORK" && bash "$P" fashion-mnist "$WORK/x.h5" --help) || fail "--help after a name exited non-zero"
[ "$before" = "$(ls -la "$CD_SRC/datasets" "$WORK")" ] || fail "--help wrote something"
pass "--help prints usage and writes nothing"

expect2() { # expect2 WHAT PATTERN ARGS...: exit 2 with one line matching PATTERN
  local what=$1 pat=$2 rc=0 o; shift 2
  o=$(bash "$P" "$@" 2>&1) || rc=$?
  [ "$rc" = 2 ] || fail "$what: exit $rc, expected 2: $o"
  grep -q -- "$pat" <<<"$o" || fail "$what: expected '$pat' in: $o"
}
expect2 "no name" "usage:"
expect2 "unknown data set" "cifar: unknown data set (known: mnist, fashion-mnist" cifar
expect2 "unknown option" "--bogus: unknown option" mnist --bogus
expect2 "empty --from" "--from: needs a directory" mnist "$WORK/o.h5" --from ""
expect2 "--from without files" "--from $WORK: needs train-images-idx3-ubyte" mnist "$WORK/o.h5" --from "$WORK"
[ ! -e "$WORK/o.h5" ] || fail "a refused run wrote its output"
pass "bad names and options: one line, exit 2"

names() { # the class names of FILE, '|'-joined (h5py when present, else skipped)
  /usr/bin/python3 -c 'import sys, h5py; print("|".join(h5py.File(sys.argv[1])["train/labels"].attrs["class_names"]))' "$1"
}
have_h5py=0
/usr/bin/python3 -c 'import h5py' 2>/dev/null && have_h5py=1

out=$(bash "$P" fashion-mnist "$WORK/f.h5" --from "$WORK/idx") || fail "fashion-mnist --from: $out"
grep -q "wrote $WORK/f.h5 (fashion-mnist) from $WORK/idx" <<<"$out" || fail "fashion-mnist: $out"
"$MNIST2H5" --print-sources "$WORK/f.h5" | grep -q "^cnn_ddp datasets/prepare.sh fashion-mnist" || fail "no sources stamp"
want_sum=$(sha256sum < "$WORK/idx/train-images-idx3-ubyte" | cut -d' ' -f1)
"$MNIST2H5" --print-sources "$WORK/f.h5" | grep -q "^$want_sum  train-images-idx3-ubyte$" || fail "sources lack the train images' sha256"
if [ $have_h5py = 1 ]; then
  [ "$(names "$WORK/f.h5")" = "T-shirt/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot" ] ||
    fail "fashion-mnist class names: $(names "$WORK/f.h5")"
fi
out=$(bash "$P" mnist "$WORK/m.h5" --from "$WORK/idx") || fail "mnist --from: $out"
[ $have_h5py = 0 ] || [ "$(names "$WORK/m.h5")" = "0|1|2|3|4|5|6|7|8|9" ] || fail "mnist class names: $(names "$WORK/m.h5")"
pass "mnist and fashion-mnist from --from DIR, with their class names and the sources' sha256"

# Up to date by checksum: a rerun does nothing; newer sources with the same bytes change nothing; an
# output made for the other data set, or sources with other bytes (older than the output), reconvert.
sum0=$(sha256sum < "$WORK/m.h5")
out=$(bash "$P" mnist "$WORK/m.h5" --from "$WORK/idx") || fail "rerun: $out"
grep -q "is up to date" <<<"$out" || fail "rerun did not find it up to date: $out"
touch -d '+1 hour' "$WORK"/idx/*
out=$(bash "$P" mnist "$WORK/m.h5" --from "$WORK/idx") || fail "touched rerun: $out"
grep -q "is up to date" <<<"$out" || fail "sources newer by time but equal by checksum reconverted: $out"
[ "$sum0" = "$(sha256sum < "$WORK/m.h5")" ] || fail "the up-to-date output changed"
cp "$WORK/f.h5" "$WORK/m2.h5"
out=$(bash "$P" mnist "$WORK/m2.h5" --from "$WORK/idx") || fail "other data set's output: $out"
grep -q "wrote" <<<"$out" || fail "an output made for fashion-mnist was taken as mnist's: $out"
printf '\x09' | dd of="$WORK/idx/train-images-idx3-ubyte" bs=1 seek=100 conv=notrunc status=none
touch -d '-1 day' "$WORK"/idx/*
out=$(bash "$P" mnist "$WORK/m.h5" --from "$WORK/idx") || fail "changed source: $out"
grep -q "wrote" <<<"$out" || fail "a changed (older) source did not reconvert: $out"
[ "$sum0" != "$(sha256sum < "$WORK/m.h5")" ] || fail "the output did not change"
pass "up-to-date check by the recorded SHA-256 sums, not file times"

# The old entry point, as tests/gpu/device_check.sh calls it.
out=$(MNIST_IDX_DIR="$WORK/idx" MNIST2H5="$CD_BIN/mnist2h5" bash "$CD_SRC/datasets/prepare_mnist.sh" "$WORK/w.h5") ||
  fail "prepare_mnist.sh: $out"
[ -s "$WORK/w.h5" ] && grep -q "wrote $WORK/w.h5 (mnist)" <<<"$out" || fail "prepare_mnist.sh: $out"
pass "prepare_mnist.sh OUT with MNIST_IDX_DIR and MNIST2H5"
