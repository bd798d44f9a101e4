# A process its launcher counts as one of N > 1, alone in an MPI world of 1, exits 2 with one line
# naming the variable, before creating the checkpoint directory or the metrics file; an sbatch
# script's SLURM_NTASKS alone is not a mis-launch.
source "$(dirname "$0")/common.sh"
ensure_data
args=(--data "$DATA" --max-steps 3 --quiet)

for var in OMPI_COMM_WORLD_SIZE=4 PMI_SIZE=3 SLURM_STEP_NUM_TASKS=2; do
  name=${var%%=*}
  rc=0; env "$var" "$CNN_DDP" "${args[@]}" --ckpt-dir "$WORK/$name" --metrics "$WORK/$name.jsonl" >"$WORK/$name.log" 2>&1 || rc=$?
  [ "$rc" = 2 ] || fail "$var: exit status $rc, expected 2: $(cat "$WORK/$name.log")"
  grep -q "^cnn_ddp: error: $var says this is one of ${var#*=} processes, but MPI started a world of 1: " "$WORK/$name.log" ||
    fail "$var: message: $(cat "$WORK/$name.log")"
  [ "$(wc -l < "$WORK/$name.log")" = 1 ] || fail "$var: more than one line: $(cat "$WORK/$name.log")"
  [ ! -e "$WORK/$name" ] && [ ! -e "$WORK/$name.jsonl" ] || fail "$var: a file was created: $(ls "$WORK")"
  pass "$var without mpirun: exit 2, $(cut -c1-80 "$WORK/$name.log")..."
done
grep -q "srun --mpi=pmix" "$WORK/SLURM_STEP_NUM_TASKS.log" || fail "the srun message names no fix"

# Inside an sbatch script (allocation of 4 tasks, no srun step), one plain process is legitimate.
env SLURM_NTASKS=4 SLURM_JOB_ID=1 "$CNN_DDP" "${args[@]}" --ckpt-dir "$WORK/batch" >"$WORK/batch.log" 2>&1 ||
  fail "SLURM_NTASKS=4 alone was refused: $(cat "$WORK/batch.log")"
[ -s "$WORK/batch/final.h5" ] || fail "SLURM_NTASKS=4 alone: no final checkpoint"
pass "SLURM_NTASKS=4 alone (an sbatch script): trains"

# The real thing where MPICH's launcher is installed: this build's ranks under the other MPI's mpirun.
if command -v mpirun.mpich >/dev/null && ! ldd "$CNN_DDP" | grep -q libmpich; then
  rc=0; timeout 60 mpirun.mpich -np 2 "$CNN_DDP" "${args[@]}" --ckpt-dir "$WORK/hydra" >"$WORK/hydra.log" 2>&1 || rc=$?
  [ "$rc" = 2 ] || fail "mpirun.mpich: exit status $rc, expected 2: $(cat "$WORK/hydra.log")"
  [ "$(grep -c "PMI_SIZE=2 says" "$WORK/hydra.log")" = 1 ] || fail "mpirun.mpich: not one message: $(cat "$WORK/hydra.log")"
  [ ! -e "$WORK/hydra" ] || fail "mpirun.mpich: the checkpoint directory was created"
  pass "mpirun.mpich with an Open MPI build: exit 2, one message"
fi
