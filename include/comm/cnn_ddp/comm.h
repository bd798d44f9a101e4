/* Communication over flat buffers, knowing nothing of the model: "self" (one rank), "mpi", and "nccl"
 * (sums on CUDA device memory), behind one table. */
#ifndef CNN_DDP_COMM_H
#define CNN_DDP_COMM_H

#include <stddef.h>
#include <stdint.h>
#include "cnn_ddp/error.h"
#include "cnn_ddp/fixed_point.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cd_comm cd_comm;
struct cd_comm {
    const char *name;   /* "self", "mpi", "nccl" */
    int rank, size;
    int local_rank, local_size; /* within the node */
    cd_memory memory;   /* where allreduce_sum_i64's buffer lives; every other call takes host memory */
    void *impl;
    /* Exact integer sum across ranks, in place; returns when the sum is in buf. */
    cd_status (*allreduce_sum_i64)(cd_comm *c, int64_t *buf, size_t n, cd_error *err);
    /* out[r] = value of rank r (out has size entries). */
    cd_status (*allgather_u64)(cd_comm *c, uint64_t value, uint64_t *out, cd_error *err);
    cd_status (*broadcast)(cd_comm *c, void *buf, size_t bytes, int root, cd_error *err);
    /* Ends every rank of the job now, with `exit_code`. */
    void (*abort)(cd_comm *c, int exit_code);
    void (*finalize)(cd_comm *c);
    /* After a failed run, instead of finalize: lets go without waiting for other ranks, which may be
     * gone or blocked in a collective (NCCL: ncclCommAbort). NULL: finalize does. */
    void (*abandon)(cd_comm *c);
};

/* How long the NCCL comm may wait for one thing (init, a sum, finalize) and whom it tells that it is
 * still waiting. limit_s <= 0: no limit (asynchronous NCCL errors still end a wait). beat (may be NULL)
 * is called with beat_ctx while a wait polls, so a watchdog sees a bounded wait as progress. */
typedef struct cd_comm_wait {
    double limit_s;
    void (*beat)(void *beat_ctx);
    void *beat_ctx;
} cd_comm_wait;

/* True when this process was started by mpirun/srun (the launcher's environment variables). */
int cd_comm_under_launcher(void);
void cd_comm_self(cd_comm *c);
/* CD_E_USAGE when the launcher's environment (envp: NAME=VALUE strings, NULL-terminated) counts more
 * than one process but MPI reported `world_size` 1: the message names the variable and the likely fix. */
cd_status cd_comm_check_world(char *const *envp, int world_size, cd_error *err);
/* "ob1" when Open MPI's mpirun put every rank on this node (OMPI_COMM_WORLD_SIZE equal to
 * OMPI_COMM_WORLD_LOCAL_SIZE in envp) and no PML was chosen (no OMPI_MCA_pml); else NULL. Open MPI's
 * default selection first initialises the cm PML's fabric MTLs (psm, psm2, ofi), which probe for their
 * hardware: 0.2 s of every start on a node without it. ob1 carries one node's traffic through shared
 * memory. Across nodes the PML stays the site's (UCX, say). */
const char *cd_comm_one_node_pml(char *const *envp);
/* Calls MPI_Init (with cd_comm_one_node_pml's choice put in the environment first); CD_E_COMM if that
 * fails or MPI support was not compiled in. */
cd_status cd_comm_mpi(int *argc, char ***argv, cd_comm *c, cd_error *err);

/* In the CUDA backend library (libcnn_ddp_cuda.so, see backend.h), not this module's static library.
 * Collective over the ranks of `host`: one NCCL communicator for the job on CUDA device `device`
 * (rank 0 makes the unique id, host->broadcast carries it). The result sums device memory; its other
 * calls go through `host`, which must outlive it; its finalize (after a clean run) and abandon (after
 * a failed one) free only the NCCL side. Init, each sum and finalize wait at most wait->limit_s
 * (wait may be NULL: no limit); a failure or a timeout aborts the communicator and returns CD_E_COMM
 * naming the rank, the NCCL call, the cause and the time waited. */
cd_status cd_comm_nccl(cd_comm *host, int device, const cd_comm_wait *wait, cd_comm *out, cd_error *err);

/* Collective error agreement: every rank passes its own status; all return the first failing
 * rank's status (lowest rank), and *failed_rank is set (-1 if none). Rank 0 gets the failing rank's
 * message in err. Used after each step's local work, so an error on any rank ends every rank. */
cd_status cd_comm_agree(cd_comm *c, cd_status local, cd_error *err, int *failed_rank);
/* The same, with "rank N: " put before another rank's message when the job has more than one rank
 * (a comm failure keeps its own wording: it already names the rank). */
cd_status cd_comm_agree_named(cd_comm *c, cd_status local, cd_error *err);
/* Collective: *out = the value of the lowest rank whose `local` is non-zero (0 if none). */
cd_status cd_comm_first_nonzero(cd_comm *c, uint64_t local, uint64_t *out, cd_error *err);

#ifdef __cplusplus
}
#endif

#endif
