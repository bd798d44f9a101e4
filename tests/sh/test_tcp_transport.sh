# The network path: 3 ranks that talk only over TCP (Open MPI's tcp BTL on the loopback interface, as
# between nodes, instead of shared memory) end with /params and /optim bit-identical to one process's.
# The log of Open MPI's BTL selection proves that TCP carried the traffic: every rank sends to each
# peer with the tcp BTL and opens TCP connections, and nothing is sent with vader (shared memory).
# Skipped (77) when cnn_ddp is not linked with Open MPI.
source "$(dirname "$0")/common.sh"
if [ "$CD_MPI" != openmpi ]; then echo "SKIP: $CNN_DDP is linked with $CD_MPI, not Open MPI"; exit 77; fi
command -v "$CD_MPIRUN" >/dev/null || fail "MPI launcher $CD_MPIRUN not found"
ensure_data
# common.sh's OMPI_MCA_* would allow vader; this test names every choice on the command line instead.
unset OMPI_MCA_btl OMPI_MCA_btl_tcp_if_include OMPI_MCA_oob_tcp_if_include
# pml ob1: the BTL path (no UCX); coll ^sm: no shared-memory collectives beside the BTLs.
tcp=(--mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo --mca coll ^sm)
args=(--data "$DATA" --max-steps 20 --check-every 10 --quiet)

"$CNN_DDP" "${args[@]}" --ckpt-dir "$WORK/n1" >/dev/null
"${MPIRUN[@]}" "${tcp[@]}" --mca btl_base_verbose 100 -np 3 "$CNN_DDP" "${args[@]}" --ckpt-dir "$WORK/tcp" \
  >"$WORK/tcp.log" 2>&1 || fail "3 ranks over TCP failed: $(cat "$WORK/tcp.log")"

# TCP carried it: 3 ranks x 2 peers 'Using tcp btl for send to', connections made, no vader anywhere.
sends=$(grep -c 'bml: Using tcp btl for send to' "$WORK/tcp.log" || true)
[ "$sends" = 6 ] || fail "expected 6 rank-to-peer routes over the tcp BTL, found $sends: $(cat "$WORK/tcp.log")"
grep -q 'btl:tcp: now connected to 127.0.0.1' "$WORK/tcp.log" || fail "no TCP connection was made: $(cat "$WORK/tcp.log")"
! grep -qi 'vader' "$WORK/tcp.log" || fail "the vader (shared memory) BTL was used: $(grep -i vader "$WORK/tcp.log")"
# The restriction has teeth: with the self BTL alone the ranks cannot reach each other and the job fails.
! "${MPIRUN[@]}" "${tcp[@]/tcp,self/self}" -np 3 "$CNN_DDP" "${args[@]}" --no-ckpt >"$WORK/self.log" 2>&1 ||
  fail "3 ranks ran with only the self BTL, so something besides the BTLs carries their traffic"
# (Open MPI 4.1 loses one or the other of its two help texts to an ORTE_ERROR_LOG now and then)
grep -Eqi 'MPI_Init|unable to reach each other' "$WORK/self.log" || fail "self-only run failed for another reason: $(cat "$WORK/self.log")"
pass "3 ranks: every route uses the tcp BTL over lo (--mca btl tcp,self; self alone cannot run)"

for g in /params /optim; do
  [ "$(digest "$WORK/tcp/final.h5" $g)" = "$(digest "$WORK/n1/final.h5" $g)" ] || fail "$g differ between 1 process and 3 ranks over TCP"
done
pass "3 ranks over TCP == 1 process, bit for bit (/params and /optim)"
