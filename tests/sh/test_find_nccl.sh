# src/comm/FindNCCL.cmake, alone in a tiny CMake project (tests/gpu/find_nccl, which device_check.sh's
# preflight runs too): it finds NCCL where a bare GPU image has it
# (the nvidia-nccl-cu12/-cu13 pip wheel: site-packages/nvidia/nccl/{include,lib} with libnccl.so.2 and
# no unversioned libnccl.so), through the python3 on PATH, and reports NOT found when there is none
# (the CUDA path then builds without NCCL). The NCCL of this machine (/usr/local/cuda, ...) is hidden
# with CMAKE_IGNORE_PATH; the wheels are faked (a header with the version lines, an empty library).
source "$(dirname "$0")/common.sh"
command -v cmake > /dev/null || { echo "SKIP: no cmake"; exit 77; }
py=$(command -v python3 || true)
[ -n "$py" ] || { echo "SKIP: no python3 on PATH"; exit 77; }

ignore=""
# find_nccl [ENV=VALUE...]: configure the project, print its result line.
# (each in a new build directory: the cache would keep the last answer)
find_nccl() {
  local b; b=$(mktemp -d "$WORK/build-XXXXXX")
  env "$@" cmake -S "$CD_SRC/tests/gpu/find_nccl" -B "$b" -DCMAKE_IGNORE_PATH="$ignore" > "$b.log" 2>&1 || { cat "$b.log"; fail "configure failed: $*"; }
  sed -n 's/^-- result: //p' "$b.log"
}
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<< "$2"; }
fake_nccl() { # DIR: DIR/include/nccl.h and DIR/lib/libnccl.so.2 only
  mkdir -p "$1/include" "$1/lib"
  printf '#define NCCL_MAJOR 2\n#define NCCL_MINOR 27\n#define NCCL_PATCH 7\n' > "$1/include/nccl.h"
  : > "$1/lib/libnccl.so.2"
}

# This machine's own NCCL (toolkit, system, a real wheel) out of the way: every directory it is found in
# is ignored, until nothing is found.
for _ in 1 2 3 4 5 6; do
  r=$(find_nccl)
  inc=$(field include "$r") lib=$(field library "$r")
  case "$inc$lib" in *NOTFOUND*NOTFOUND) break ;; esac
  echo "hiding this machine's NCCL: $inc, $lib"
  case "$inc" in *NOTFOUND) ;; *) ignore="$ignore${ignore:+;}$inc" ;; esac
  case "$lib" in *NOTFOUND) ;; *) ignore="$ignore${ignore:+;}$(dirname "$lib")" ;; esac
done
r=$(find_nccl)
[ "$(field found "$r")" = FALSE ] && [ "$(field library "$r")" = NCCL_LIBRARY-NOTFOUND ] \
  || fail "NCCL still found with this machine's hidden: $r"
pass "no NCCL: not found ($r)"

# 1. The wheel through `import nvidia.nccl` (a namespace package: no __init__.py) of the python3 on PATH.
fake_nccl "$WORK/site/nvidia/nccl"
r=$(find_nccl PYTHONPATH="$WORK/site")
[ "$(field include "$r")" = "$WORK/site/nvidia/nccl/include" ] && [ "$(field library "$r")" = "$WORK/site/nvidia/nccl/lib/libnccl.so.2" ] \
  && [ "$(field version "$r")" = 2.27.7 ] || fail "the wheel on PYTHONPATH: $r"
pass "the wheel's nvidia/nccl through import nvidia.nccl, libnccl.so.2 without libnccl.so ($r)"

# 2. The wheel in the site-packages of a python3 that is first on PATH (a venv), found even when the
#    package does not import.
if "$py" -m venv --without-pip "$WORK/venv" > "$WORK/venv.log" 2>&1; then
  site=$("$WORK/venv/bin/python3" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  fake_nccl "$site/nvidia/nccl"
  echo 'raise ImportError("broken on purpose")' > "$site/nvidia/nccl/__init__.py"
  r=$(find_nccl PATH="$WORK/venv/bin:$PATH")
  [ "$(field library "$r")" = "$site/nvidia/nccl/lib/libnccl.so.2" ] || fail "the wheel in the venv's site-packages: $r"
  pass "the wheel in the site-packages of the python3 on PATH, not importable ($r)"
  # NCCL_PYTHON names another Python: the one on PATH is not asked.
  r=$(find_nccl PATH="$WORK/venv/bin:$PATH" NCCL_PYTHON=/bin/false)
  [ "$(field found "$r")" = FALSE ] || fail "NCCL_PYTHON=/bin/false still found the venv's wheel: $r"
else
  echo "SKIP (part): python3 -m venv failed: $(tail -1 "$WORK/venv.log")"
fi

# 3. NCCL_ROOT with libnccl.so.2 alone; it wins over a wheel.
fake_nccl "$WORK/root"
r=$(find_nccl NCCL_ROOT="$WORK/root" PYTHONPATH="$WORK/site")
[ "$(field library "$r")" = "$WORK/root/lib/libnccl.so.2" ] && [ "$(field include "$r")" = "$WORK/root/include" ] \
  || fail "NCCL_ROOT with libnccl.so.2 only: $r"
pass "NCCL_ROOT with libnccl.so.2 only, before the wheel ($r)"
