# The arrows point one way: no module includes a header of a module above it (the build refuses it
# too, since only the include directories of the modules below are on a module's path; this names
# the offending line), and no source reaches into another module's private headers.
source "$(dirname "$0")/common.sh"
cd "$CD_SRC"
# module: the modules it may include (itself and everything below it), as in CMakeLists.txt
declare -A below=(
  [core]="core" [kernels]="kernels core" [layers]="layers kernels core" [model]="model layers kernels core"
  [data]="data core" [comm]="comm core" [ckpt]="ckpt core"
  [backend]="backend model layers kernels core comm"
  [train]="train backend model layers kernels core data comm ckpt"
  [cli]="cli train backend model layers kernels core data comm ckpt"
)
# Which module owns each public header.
declare -A owner
for dir in include/*/cnn_ddp; do
  m=${dir#include/}; m=${m%/cnn_ddp}
  [ -n "${below[$m]:-}" ] || fail "include/$m: a module the layering table does not know"
  for h in "$dir"/*.h; do owner[cnn_ddp/$(basename "$h")]=$m; done
done
bad=0 checked=0
for m in "${!below[@]}"; do
  while IFS= read -r -d '' f; do
    while IFS=: read -r line inc; do
      checked=$((checked + 1))
      if [[ $inc == cnn_ddp/* ]]; then
        o=${owner[$inc]:-}
        [ -n "$o" ] || { echo "$f:$line: $inc is no module's public header"; bad=1; continue; }
        [[ " ${below[$m]} " == *" $o "* ]] || { echo "$f:$line: $m includes $inc of $o, which is not below it"; bad=1; }
      elif [[ $inc == */* ]]; then
        echo "$f:$line: \"$inc\": private headers are included by bare name from their own directory"; bad=1
      elif [ ! -e "$(dirname "$f")/$inc" ]; then
        echo "$f:$line: \"$inc\" is not beside $f"; bad=1
      fi
    done < <(grep -n '^#include "' "$f" | sed -E 's/^([0-9]+):#include "([^"]+)".*/\1:\2/')
  done < <(find "src/$m" "include/$m" -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) -print0)
done
[ "$bad" = 0 ] || fail "upward or cross-module includes (above)"
[ "$checked" -gt 100 ] || fail "only $checked includes checked: is the tree where this test thinks?"
pass "$checked includes, none pointing up or into another module's private headers"
