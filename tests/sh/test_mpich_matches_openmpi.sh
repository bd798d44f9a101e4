# Across MPI implementations: 3 ranks of the MPICH build under Hydra (mpirun.mpich) end with /params and
# /optim bit-identical to one process of the Open MPI build, same options. Runs in the MPICH build (the
# Open MPI build is CD_OPENMPI_BIN, default: the MPICH build's directory without "-mpich", as
# launch/test.sh lays them out); in an Open MPI build only when CD_MPICH_BIN names the MPICH build.
# Skipped (77) when the other build is not there.
source "$(dirname "$0")/common.sh"
if [ "$CD_MPI" = mpich ]; then
  mpich_bin=$CD_BIN openmpi_bin=${CD_OPENMPI_BIN:-${CD_BIN%-mpich}}
else
  openmpi_bin=$CD_BIN mpich_bin=${CD_MPICH_BIN:-}
  [ -n "$mpich_bin" ] || { echo "SKIP: an Open MPI build; set CD_MPICH_BIN to the MPICH build to compare"; exit 77; }
fi
for b in "$mpich_bin" "$openmpi_bin"; do
  [ -x "$b/cnn_ddp" ] || { echo "SKIP: no cnn_ddp in $b"; exit 77; }
done
# Each binary is linked with the MPI it claims, and only with it.
libs_m=$(ldd "$mpich_bin/cnn_ddp"); libs_o=$(ldd "$openmpi_bin/cnn_ddp")
grep -q 'libmpich\.so' <<<"$libs_m" || fail "$mpich_bin/cnn_ddp is not linked with libmpich: $libs_m"
! grep -q 'libmpi\.so\|libopen-pal' <<<"$libs_m" || fail "$mpich_bin/cnn_ddp is linked with Open MPI too: $libs_m"
grep -q 'libmpi\.so' <<<"$libs_o" || fail "$openmpi_bin/cnn_ddp is not linked with Open MPI's libmpi: $libs_o"
! grep -q 'libmpich' <<<"$libs_o" || fail "$openmpi_bin/cnn_ddp is linked with MPICH too: $libs_o"
CNN_DDP=$mpich_bin/cnn_ddp MPIRUN=(mpirun.mpich) CD_MPIRUN=mpirun.mpich
command -v mpirun.mpich >/dev/null || fail "mpirun.mpich not found"
ensure_data

args=(--data "$DATA" --max-steps 40 --check-every 10)
"$openmpi_bin/cnn_ddp" "${args[@]}" --quiet --ckpt-dir "$WORK/ompi1" >/dev/null
mpirun_np 3 "${args[@]}" --ckpt-dir "$WORK/mpich3" >"$WORK/mpich3.log" 2>&1 || fail "3 MPICH ranks failed: $(cat "$WORK/mpich3.log")"
# One job of 3 ranks (a launcher that does not match would start 3 separate 1-rank jobs).
[ "$(grep -c ', 3 ranks,' "$WORK/mpich3.log")" = 1 ] || fail "not one 3-rank job: $(cat "$WORK/mpich3.log")"
for g in /params /optim; do
  [ "$(digest "$WORK/mpich3/final.h5" $g)" = "$(digest "$WORK/ompi1/final.h5" $g)" ] ||
    fail "$g differ between 3 MPICH ranks and 1 Open MPI process"
done
pass "3 MPICH ranks (mpirun.mpich) == 1 Open MPI process, bit for bit (/params and /optim)"
