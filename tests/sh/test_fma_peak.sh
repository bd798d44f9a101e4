# launch/fma_peak, the peak the bench's "% of peak" divides by: its 12 chains must run as 12 (they
# once started equal, the compiler merged them into one and the tool reported 1.5x the real peak).
# With a vector FMA unit the 12-chain rate must be at least 3x one chain's (pipes x latency: 8 on
# Zen 3); the tool itself refuses a build where it is not (exit 3).
source "$(dirname "$0")/common.sh"
FMA="$CD_BIN/fma_peak"
[ -x "$FMA" ] || fail "no $FMA"
if ! grep -qw fma /proc/cpuinfo || ! grep -qw avx2 /proc/cpuinfo; then
  echo "SKIP: no AVX2+FMA on this CPU; the scalar floor has no chain check"
  exit 0
fi
out=$("$FMA" --isa avx2 --seconds 0.2) || fail "fma_peak --isa avx2 failed: $out"
peak=$(sed -n 's/.* gflops=\([0-9.]*\) .*/\1/p' <<<"$out")
one=$(sed -n 's/.* one_chain_gflops=\([0-9.]*\).*/\1/p' <<<"$out")
[ -n "$peak" ] && [ -n "$one" ] || fail "fma_peak printed no gflops and one_chain_gflops: $out"
awk -v p="$peak" -v o="$one" 'BEGIN { exit !(o > 0 && p >= 3 * o) }' ||
  fail "12 chains at $peak GFLOP/s are not 3x one chain's $one: the chains are not independent"
# the bench reads the peak, not the one-chain figure that follows it on the line
[ "$("$FMA" --isa avx2 --seconds 0.1 | sed -n 's/.* gflops=\([0-9.]*\).*/\1/p')" != "" ] || fail "bench's parse"
grep -q "sed -n 's/.\* gflops=" "$CD_SRC/launch/bench.sh" || fail "launch/bench.sh does not parse ' gflops=' (it would read one_chain_gflops)"
echo "PASS: fma_peak $peak GFLOP/s, one chain $one ($(awk -v p="$peak" -v o="$one" 'BEGIN { printf "%.1f", p / o }')x)"
