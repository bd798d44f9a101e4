# PTX lint: every .cu under src/ compiled to PTX for sm_90 with the build's own CUDA flags must hold no
# instruction that can make the device's bits differ from the scalar CPU reference's:
#   fma       fma / mad on a float type (fma.rn.f32, fma.rn.f64, ...): one rounding where the host rounds twice
#   contract  add / sub / mul on a float type without a rounding modifier: ptxas may fuse those into an fma
#             (PTX ISA: only an explicit .rn/.rz/.rm/.rp keeps an add or mul as written); --fmad=false
#             makes nvcc write .rn on every one
#   atomic    atom / red (and cp.reduce, multimem reductions) on a float type: the order of the adds is
#             the order the threads arrive in
#   approx    any .approx instruction (div, rcp, sqrt, rsqrt, ex2, lg2, sin, cos, tanh) or div.full: not
#             IEEE-rounded, so not what the host computes
#   ftz       any .ftz: flushes subnormals, which the host keeps
#   mma       tensor-core matrix instructions (mma, wgmma, tcgen05): their sums have no defined order
# f64 counts as much as f32: the loss runs in double on both sides (libdevice's exp/log, which held 102
# fma.rn.f64 and an rcp.approx.ftz.f64, are why cnn_ddp/portable_math.h exists).
#
# Usage: ptx_lint.sh ARGS_FILE. ARGS_FILE (written by tests/CMakeLists.txt from the build's
# CNN_DDP_CUDA_FLAGS, include directories and definitions) holds nvcc's path on its first line, then
# one nvcc argument per line. An empty first line: no nvcc, exit 77 (skipped). Before the sources, a
# file with one offending kernel per rule (tests/cuda/ptx_lint_bad.cu) must be caught on every rule,
# so a lint whose patterns no longer match what nvcc writes fails instead of passing.
set -euo pipefail
args_file=${1:?usage: ptx_lint.sh ARGS_FILE}
here=$(cd "$(dirname "$0")" && pwd)
src=${CD_SRC:-$(cd "$here/../.." && pwd)}
mapfile -t lines < "$args_file"
nvcc=${lines[0]:-}
flags=("${lines[@]:1}")
if [ -z "$nvcc" ] || [ ! -x "$nvcc" ]; then
  echo "SKIP: no nvcc (neither CMAKE_CUDA_COMPILER nor /usr/local/cuda/bin/nvcc)"
  exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/cnn_ddp-ptx-XXXXXX")
trap 'rm -rf "$work"' EXIT
rules=(fma contract atomic approx ftz mma)

# lint PTX: per rule, the count, then up to 3 offending lines (function: instruction) on stderr.
lint() {
  awk -v rules="${rules[*]}" '
    BEGIN { n = split(rules, r, " "); for (i = 1; i <= n; i++) count[r[i]] = 0; fn = "?" }
    { sub(/\/\/.*/, "") }
    /^(\.visible[ \t]+|\.weak[ \t]+)?\.(entry|func)[ \t]/ { fn = $0; sub(/.*\.(entry|func)[ \t]+(\([^)]*\)[ \t]*)?/, "", fn); sub(/[ \t(].*/, "", fn) }
    {
      line = $0; sub(/^[ \t]*(\$?[A-Za-z_][A-Za-z0-9_$]*:)?[ \t]*/, "", line); sub(/^@!?%[a-z0-9_]+[ \t]+/, "", line)
      if (line !~ /^[a-z]/) next
      op = line; sub(/[ \t;].*/, "", op); instructions++
      fl = op ~ /\.(f16|f16x2|bf16|bf16x2|tf32|f32|f32x2|f64|e4m3|e5m2)(\.|$)/
      hit = ""
      if (fl && op ~ /^(fma|mad)\./) hit = "fma"
      else if (fl && op ~ /^(add|sub|mul)\./ && op !~ /\.(rn|rz|rm|rp)(\.|$)/) hit = "contract"
      else if (fl && op ~ /^(atom|red|cp\.reduce|multimem\.(red|ld_reduce))\./) hit = "atomic"
      else if (op ~ /\.approx(\.|$)/ || op ~ /^div\.full\./) hit = "approx"
      else if (op ~ /\.ftz(\.|$)/) hit = "ftz"
      else if (op ~ /^(mma|wgmma|tcgen05)\./) hit = "mma"
      if (fl && op ~ /^(add|sub|mul|div|fma|mad)\./) arith++
      if (hit != "") { count[hit]++; if (shown[hit]++ < 3) printf "    %s: %s: %s\n", hit, fn, line > "/dev/stderr" }
    }
    END { printf "%d %d", instructions, arith; for (i = 1; i <= n; i++) printf " %d", count[r[i]]; printf "\n" }
  ' "$1"
}

compile() { # compile SOURCE OUT: 0, or nvcc's status with its messages in OUT.log
  "$nvcc" "${flags[@]}" -ptx -arch=sm_90 "$1" -o "$2" > "$2.log" 2>&1
}

# 1. The patterns catch what nvcc writes: every rule fires on the bad file.
compile "$here/ptx_lint_bad.cu" "$work/bad.ptx" || { cat "$work/bad.ptx.log" >&2; echo "FAIL: ptx_lint_bad.cu does not compile"; exit 1; }
read -r _ _ "${rules[@]/#/bad_}" < <(lint "$work/bad.ptx" 2>/dev/null)
for rule in "${rules[@]}"; do
  v=bad_$rule
  [ "${!v}" -gt 0 ] || { echo "FAIL: the lint's '$rule' rule does not catch ptx_lint_bad.cu's $rule kernel"; exit 1; }
done
echo "self-check: each rule catches its kernel in ptx_lint_bad.cu ($(for r in "${rules[@]}"; do v=bad_$r; printf '%s %s  ' "$r" "${!v}"; done))"

# 2. Every .cu of the project.
mapfile -t sources < <(cd "$src" && find src -name '*.cu' | sort)
[ "${#sources[@]}" -gt 0 ] || { echo "FAIL: no .cu under $src/src"; exit 1; }
printf '%-28s %12s %10s' "file (sm_90 PTX)" instructions "float ops"; printf ' %8s' "${rules[@]}"; printf '\n'
bad=0 linted=0
for f in "${sources[@]}"; do
  out="$work/$(echo "$f" | tr / _).ptx"
  if ! compile "$src/$f" "$out"; then
    if [ "${CD_LINT_NCCL:-1}" = 0 ] && grep -q 'nccl\.h' "$out.log"; then
      echo "$f: not linted: nccl.h is not found (this build has no NCCL)"
      continue
    fi
    cat "$out.log" >&2
    echo "FAIL: $f does not compile to PTX with the build's flags"
    exit 1
  fi
  read -r n arith "${rules[@]/#/c_}" < <(lint "$out" 2> "$out.hits")
  printf '%-28s %12d %10d' "$f" "$n" "$arith"
  for rule in "${rules[@]}"; do v=c_$rule; printf ' %8d' "${!v}"; [ "${!v}" = 0 ] || bad=1; done
  printf '\n'
  [ ! -s "$out.hits" ] || cat "$out.hits"
  linted=$((linted + 1))
done
[ "$bad" = 0 ] || { echo "FAIL: instructions above would make the device's bits differ from the host's"; exit 1; }
echo "PASS: $linted .cu files, none with $(IFS=/; echo "${rules[*]}") instructions"
