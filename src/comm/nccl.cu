/* The NCCL backend: sums int64 buffers in CUDA device memory with one communicator per job. The
 * communicator's unique id travels over the job's host comm (MPI), and every call but the sum is the
 * host comm's. The sum runs on this backend's own stream and returns when it is done, like MPI's, so
 * a caller needs no CUDA stream of ours. */
#include <cuda_runtime.h>
#include <nccl.h>
#include <stdlib.h>
#include <string.h>

#include "cnn_ddp/comm.h"

typedef struct nccl_impl {
    ncclComm_t comm;
    cudaStream_t stream;
    int device;
    cd_comm *host;
} nccl_impl;

static cd_status nccl_check(ncclResult_t rc, const char *call, const char *file, int line, int rank, cd_error *err)
{
    if (rc == ncclSuccess) return CD_OK;
    const char *last = ncclGetLastError(NULL);
    return cd_error_set(err, CD_E_COMM, file, line, "rank %d: %s failed at %s:%d: %s%s%s", rank, call, file, line,
                        ncclGetErrorString(rc), last && *last ? ": " : "", last ? last : "");
}

static cd_status cuda_check(cudaError_t rc, const char *call, int rank, cd_error *err)
{
    if (rc == cudaSuccess) return CD_OK;
    return CD_FAIL(err, CD_E_COMM, "rank %d: %s failed: %s (%s)", rank, call, cudaGetErrorString(rc),
                   cudaGetErrorName(rc));
}

static cd_status nccl_allreduce(cd_comm *c, int64_t *buf, size_t n, cd_error *err)
{
    nccl_impl *m = (nccl_impl *)c->impl;
    CD_TRY(cuda_check(cudaSetDevice(m->device), "cudaSetDevice", c->rank, err));
    CD_TRY(nccl_check(ncclAllReduce(buf, buf, n, ncclInt64, ncclSum, m->comm, m->stream), "ncclAllReduce", __FILE__,
                      __LINE__, c->rank, err));
    return cuda_check(cudaStreamSynchronize(m->stream), "cudaStreamSynchronize after ncclAllReduce", c->rank, err);
}

static cd_status nccl_allgather(cd_comm *c, uint64_t value, uint64_t *out, cd_error *err)
{
    cd_comm *h = ((nccl_impl *)c->impl)->host;
    return h->allgather_u64(h, value, out, err);
}

static cd_status nccl_broadcast(cd_comm *c, void *buf, size_t bytes, int root, cd_error *err)
{
    cd_comm *h = ((nccl_impl *)c->impl)->host;
    return h->broadcast(h, buf, bytes, root, err);
}

static void nccl_abort(cd_comm *c, int exit_code)
{
    cd_comm *h = ((nccl_impl *)c->impl)->host;
    h->abort(h, exit_code);
}

static void nccl_finalize(cd_comm *c)
{
    nccl_impl *m = (nccl_impl *)c->impl;
    if (!m) return;
    cudaSetDevice(m->device);
    if (m->comm) ncclCommDestroy(m->comm);
    if (m->stream) cudaStreamDestroy(m->stream);
    cd_free(m);
    c->impl = NULL;
}

extern "C" cd_status cd_comm_nccl(cd_comm *host, int device, cd_comm *out, cd_error *err)
{
    memset(out, 0, sizeof *out);
    ncclUniqueId id;
    cd_status st = CD_OK;
    if (host->rank == 0) st = nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId(&id)", __FILE__, __LINE__, 0, err);
    /* Every rank must reach the broadcast; a failed id becomes zeros and fails everyone's init. */
    if (st != CD_OK) memset(&id, 0, sizeof id);
    CD_TRY(host->broadcast(host, &id, sizeof id, 0, err));
    CD_TRY(st);
    nccl_impl *m = (nccl_impl *)cd_alloc_zeroed(sizeof *m);
    if (!m) return CD_FAIL(err, CD_E_NOMEM, "rank %d: out of memory for the NCCL communicator", host->rank);
    m->device = device;
    m->host = host;
    *out = *host;
    out->name = "nccl";
    out->memory = CD_MEMORY_CUDA;
    out->impl = m;
    out->allreduce_sum_i64 = nccl_allreduce;
    out->allgather_u64 = nccl_allgather;
    out->broadcast = nccl_broadcast;
    out->abort = nccl_abort;
    out->finalize = nccl_finalize;
    st = cuda_check(cudaSetDevice(device), "cudaSetDevice", host->rank, err);
    if (st == CD_OK) st = cuda_check(cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking), "cudaStreamCreate",
                                     host->rank, err);
    if (st == CD_OK)
        st = nccl_check(ncclCommInitRank(&m->comm, host->size, id, host->rank), "ncclCommInitRank", __FILE__, __LINE__,
                        host->rank, err);
    if (st != CD_OK) nccl_finalize(out);
    return st;
}
