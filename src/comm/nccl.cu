/* The NCCL backend: one communicator per job, its unique id travelling over the job's cd_comm (MPI). */
#include "comm/nccl.h"

#include <nccl.h>
#include <stdlib.h>
#include <string.h>

struct cd_nccl {
    ncclComm_t comm;
    int rank;
};

static cd_status nccl_check(ncclResult_t rc, const char *call, const char *file, int line, int rank, cd_error *err)
{
    if (rc == ncclSuccess) return CD_OK;
    const char *last = ncclGetLastError(NULL);
    return cd_error_set(err, CD_E_COMM, file, line, "rank %d: %s failed at %s:%d: %s%s%s", rank, call, file, line,
                        ncclGetErrorString(rc), last && *last ? ": " : "", last ? last : "");
}
#define NCCL_CK(call, rank, err) CD_TRY(nccl_check((call), #call, __FILE__, __LINE__, (rank), (err)))

cd_status cd_nccl_create(cd_comm *comm, cd_nccl **out, cd_error *err)
{
    *out = NULL;
    ncclUniqueId id;
    cd_status st = CD_OK;
    if (comm->rank == 0) st = nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId(&id)", __FILE__, __LINE__, 0, err);
    /* Every rank must reach the broadcast; a failed id becomes zeros and fails everyone's init. */
    if (st != CD_OK) memset(&id, 0, sizeof id);
    CD_TRY(comm->broadcast(comm, &id, sizeof id, 0, err));
    CD_TRY(st);
    cd_nccl *n = (cd_nccl *)cd_alloc_zeroed(sizeof *n);
    if (!n) return CD_FAIL(err, CD_E_NOMEM, "rank %d: out of memory for the NCCL communicator", comm->rank);
    n->rank = comm->rank;
    st = nccl_check(ncclCommInitRank(&n->comm, comm->size, id, comm->rank), "ncclCommInitRank", __FILE__, __LINE__,
                    comm->rank, err);
    if (st != CD_OK) {
        cd_free(n);
        return st;
    }
    *out = n;
    return CD_OK;
}

cd_status cd_nccl_allreduce_i64(cd_nccl *n, int64_t *buf, size_t count, cudaStream_t stream, cd_error *err)
{
    NCCL_CK(ncclAllReduce(buf, buf, count, ncclInt64, ncclSum, n->comm, stream), n->rank, err);
    return CD_OK;
}

void cd_nccl_free(cd_nccl *n)
{
    if (!n) return;
    ncclCommDestroy(n->comm);
    cd_free(n);
}
