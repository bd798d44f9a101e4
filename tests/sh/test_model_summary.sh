# The model summary (issue 16, point 6): the start-up banner, after its first line, and `info CKPT` list
# every layer with its spec, output shape and parameter count, then the totals; --quiet shows none.
source "$(dirname "$0")/common.sh"
ensure_data
expected='layer  spec          output    params
conv1  conv(10,k=5)  10x24x24     260
pool1  pool(2)       10x12x12       0
relu1  relu          10x12x12       0
conv2  conv(20,k=5)  20x8x8      5020
pool2  pool(2)       20x4x4         0
relu2  relu          20x4x4         0
fc1    fc(10)        10          3210
total  8490 parameters (33.2 KiB of float32), input 1x28x28'
out=$(timeout 120 "$CNN_DDP" --data "$DATA" --max-steps 1 --ckpt-dir "$WORK/ck") || fail "training: $out"
first=$(head -1 <<<"$out")
grep -q "^cnn_ddp .*: model conv(10,k=5,s=1,p=0) pool(2,s=2) relu conv(20,k=5,s=1,p=0) pool(2,s=2) relu fc(10) (8490 parameters), 1 rank, kernels " <<<"$first" ||
  fail "the banner's first line changed: $first"
table=$(sed -n '2,10p' <<<"$out" | sed 's/^  //')
[ "$table" = "$expected" ] || fail "banner table:
$table
expected:
$expected"
pass "the banner lists the seed net's layers after its first line"
info=$("$CNN_DDP" info "$WORK/ck/final.h5") || fail "info: $info"
got=$(sed -n '/^  layers$/,/^    total /p' <<<"$info" | sed '1d; s/^    //')
[ "$got" = "$expected" ] || fail "info table:
$got
expected:
$expected"
pass "info CKPT lists the same table, rebuilt from the recorded spec and data shape"
quiet=$(timeout 120 "$CNN_DDP" --data "$DATA" --max-steps 1 --no-ckpt --quiet)
grep -q "conv1" <<<"$quiet" && fail "--quiet printed the table: $quiet"
pass "--quiet: no table"
# Another net: padding and strides spelled out where they differ from the defaults; the totals match the first line.
out=$(timeout 120 "$CNN_DDP" --data "$DATA" --max-steps 1 --no-ckpt --model "conv(8,k=3,s=2,p=1) relu pool(2,s=1) fc(10)")
n=$(head -1 <<<"$out" | sed 's/.*(\([0-9]*\) parameters).*/\1/')
grep -q "^  conv1  conv(8,k=3,s=2,p=1)  8x14x14  *80$" <<<"$out" || fail "conv with stride and pad: $out"
grep -q "^  pool1  pool(2,s=1)  *8x13x13  *0$" <<<"$out" || fail "pool with stride: $out"
grep -q "^  fc1  *fc(10)  *10  *13530$" <<<"$out" || fail "fc: $out"
grep -q "^  total  $n parameters" <<<"$out" || fail "total is not the banner's $n: $out"
pass "conv(8,k=3,s=2,p=1) relu pool(2,s=1) fc(10): shapes, counts and total $n"
