/* Communication over flat buffers, knowing nothing of the model: a one-rank "self" backend and MPI
 * (NCCL joins later behind the same table). */
#ifndef CNN_DDP_COMM_H
#define CNN_DDP_COMM_H

#include <stddef.h>
#include <stdint.h>
#include "cnn_ddp/error.h"

typedef struct cd_comm cd_comm;
struct cd_comm {
    const char *name;   /* "self", "mpi" */
    int rank, size;
    int local_rank, local_size; /* within the node */
    void *impl;
    /* Exact integer sum across ranks, in place. */
    cd_status (*allreduce_sum_i64)(cd_comm *c, int64_t *buf, size_t n, cd_error *err);
    /* out[r] = value of rank r (out has size entries). */
    cd_status (*allgather_u64)(cd_comm *c, uint64_t value, uint64_t *out, cd_error *err);
    cd_status (*broadcast)(cd_comm *c, void *buf, size_t bytes, int root, cd_error *err);
    /* Ends every rank of the job now, with `exit_code`. */
    void (*abort)(cd_comm *c, int exit_code);
    void (*finalize)(cd_comm *c);
};

/* True when this process was started by mpirun/srun (the launcher's environment variables). */
int cd_comm_under_launcher(void);
void cd_comm_self(cd_comm *c);
/* Calls MPI_Init; CD_E_COMM if that fails or MPI support was not compiled in. */
cd_status cd_comm_mpi(int *argc, char ***argv, cd_comm *c, cd_error *err);

/* Collective error agreement: every rank passes its own status; all return the first failing
 * rank's status (lowest rank), and *failed_rank is set (-1 if none). Rank 0 gets the failing rank's
 * message in err. Used after each step's local work, so an error on any rank ends every rank. */
cd_status cd_comm_agree(cd_comm *c, cd_status local, cd_error *err, int *failed_rank);

#endif
