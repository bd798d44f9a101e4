/* The NCCL backend: sums int64 buffers in CUDA device memory with one communicator per job. The
 * communicator's unique id travels over the job's host comm (MPI), and every call but the sum is the
 * host comm's. The sum runs on this backend's own stream and returns when it is done, like MPI's, so
 * a caller needs no CUDA stream of ours.
 *
 * Nothing here blocks without a bound (nccl_wait.h): the communicator is non-blocking (NCCL >= 2.14),
 * init, each sum and finalize are polled with a deadline, and a failure or a timeout aborts the
 * communicator (ncclCommAbort) and returns CD_E_COMM naming the rank, the call and the time waited. */
#include <cuda_runtime.h>
#include <nccl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cnn_ddp/comm.h"
#include "nccl_wait.h"

/* Non-blocking communicators and ncclCommFinalize came with NCCL 2.14; before, init and destroy block
 * (the watchdog still bounds them) and the sums are polled all the same. */
#if defined(NCCL_VERSION_CODE) && NCCL_VERSION_CODE >= NCCL_VERSION(2, 14, 0)
#define CD_NCCL_NONBLOCKING 1
#else
#define CD_NCCL_NONBLOCKING 0
#endif

typedef struct nccl_impl {
    ncclComm_t comm;
    cudaStream_t stream;
    int device;
    cd_comm *host;
    cd_nccl_ops ops;
    cd_nccl_life life;
} nccl_impl;

/* "ncclRemoteError (remote process exited or there was a network error): <NCCL's last error>" */
static void describe_nccl(ncclResult_t rc, ncclComm_t comm, char *why, size_t size)
{
    const char *last = ncclGetLastError(comm);
    static const char *const names[] = {"ncclSuccess",      "ncclUnhandledCudaError", "ncclSystemError",
                                        "ncclInternalError", "ncclInvalidArgument",    "ncclInvalidUsage",
                                        "ncclRemoteError",   "ncclInProgress"};
    const char *name = (unsigned)rc < sizeof names / sizeof names[0] ? names[rc] : "ncclResult";
    snprintf(why, size, "%s %d (%s)%s%s", name, (int)rc, ncclGetErrorString(rc), last && *last ? ": " : "",
             last ? last : "");
}

static cd_status cuda_check(cudaError_t rc, const char *call, int rank, cd_error *err)
{
    if (rc == cudaSuccess) return CD_OK;
    return CD_FAIL(err, CD_E_COMM, "rank %d: %s failed: %s (%s)", rank, call, cudaGetErrorString(rc),
                   cudaGetErrorName(rc));
}

/* ---- the calls nccl_wait.h drives ------------------------------------------------------------------ */

static cd_poll_state comm_state(void *ctx, char *why, size_t size)
{
    nccl_impl *m = (nccl_impl *)ctx;
    ncclResult_t async = ncclSuccess;
    ncclResult_t rc = ncclCommGetAsyncError(m->comm, &async);
    if (rc != ncclSuccess) {
        char inner[400];
        describe_nccl(rc, m->comm, inner, sizeof inner);
        snprintf(why, size, "ncclCommGetAsyncError: %s", inner);
        return CD_POLL_FAILED;
    }
    if (async == ncclInProgress) return CD_POLL_PENDING;
    if (async == ncclSuccess) return CD_POLL_DONE;
    describe_nccl(async, m->comm, why, size);
    return CD_POLL_FAILED;
}

static cd_poll_state stream_state(void *ctx, char *why, size_t size)
{
    nccl_impl *m = (nccl_impl *)ctx;
    cudaError_t rc = cudaStreamQuery(m->stream);
    if (rc == cudaSuccess) return CD_POLL_DONE;
    if (rc == cudaErrorNotReady) return CD_POLL_PENDING;
    snprintf(why, size, "cudaStreamQuery: %s (%s)", cudaGetErrorName(rc), cudaGetErrorString(rc));
    return CD_POLL_FAILED;
}

#if CD_NCCL_NONBLOCKING
static int comm_finalize(void *ctx, char *why, size_t size)
{
    nccl_impl *m = (nccl_impl *)ctx;
    ncclResult_t rc = ncclCommFinalize(m->comm);
    if (rc == ncclSuccess || rc == ncclInProgress) return 0;
    describe_nccl(rc, m->comm, why, size);
    return 1;
}
#endif

static void comm_destroy(void *ctx)
{
    nccl_impl *m = (nccl_impl *)ctx;
    ncclCommDestroy(m->comm);
    m->comm = NULL;
}

static void comm_abort(void *ctx)
{
    nccl_impl *m = (nccl_impl *)ctx;
    ncclCommAbort(m->comm);
    m->comm = NULL;
}

static double now_s(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void pause_s(void *ctx, double s)
{
    (void)ctx;
    if (s <= 0) {
        sched_yield();
        return;
    }
    struct timespec ts = {0, (long)(s * 1e9)};
    nanosleep(&ts, NULL);
}

/* ---- the comm table --------------------------------------------------------------------------------- */

static cd_status nccl_allreduce(cd_comm *c, int64_t *buf, size_t n, cd_error *err)
{
    nccl_impl *m = (nccl_impl *)c->impl;
    char what[96];
    snprintf(what, sizeof what, "ncclAllReduce of %zu int64", n);
    if (!m->life.live) return cd_nccl_wait(&m->life, 1, what, err); /* the "aborted earlier" refusal */
    CD_TRY(cuda_check(cudaSetDevice(m->device), "cudaSetDevice", c->rank, err));
    ncclResult_t rc = ncclAllReduce(buf, buf, n, ncclInt64, ncclSum, m->comm, m->stream);
    if (rc != ncclSuccess && rc != ncclInProgress) {
        char why[512];
        describe_nccl(rc, m->comm, why, sizeof why);
        return cd_nccl_failed_call(&m->life, what, why, err);
    }
    return cd_nccl_wait(&m->life, 1, what, err);
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

static void close_impl(cd_comm *c, int failed)
{
    nccl_impl *m = (nccl_impl *)c->impl;
    if (!m) return;
    cudaSetDevice(m->device);
    cd_error ignored;
    /* The run's status is already decided; a close that had to abort changes nothing of it. */
    (void)cd_nccl_close(&m->life, failed, &ignored);
    if (m->stream) cudaStreamDestroy(m->stream);
    cd_free(m);
    c->impl = NULL;
}

static void nccl_finalize(cd_comm *c) { close_impl(c, 0); }
static void nccl_abandon(cd_comm *c) { close_impl(c, 1); }

static cd_status init_comm(nccl_impl *m, int size, ncclUniqueId id, int rank, cd_error *err)
{
#if CD_NCCL_NONBLOCKING
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t rc = ncclCommInitRankConfig(&m->comm, size, id, rank, &config);
#else
    ncclResult_t rc = ncclCommInitRank(&m->comm, size, id, rank);
#endif
    m->life.live = m->comm != NULL;
    if (rc != ncclSuccess && rc != ncclInProgress) {
        char why[512];
        describe_nccl(rc, m->comm, why, sizeof why);
        return cd_nccl_failed_call(&m->life, "ncclCommInitRank", why, err);
    }
    if (!m->life.live) return CD_FAIL(err, CD_E_COMM, "rank %d: ncclCommInitRank returned no communicator", rank);
    char what[96];
    snprintf(what, sizeof what, "ncclCommInitRank (%d ranks)", size);
    return cd_nccl_wait(&m->life, 0, what, err);
}

extern "C" cd_status cd_comm_nccl(cd_comm *host, int device, const cd_comm_wait *wait, cd_comm *out, cd_error *err)
{
    memset(out, 0, sizeof *out);
    ncclUniqueId id;
    cd_status st = CD_OK;
    if (host->rank == 0) {
        ncclResult_t rc = ncclGetUniqueId(&id);
        if (rc != ncclSuccess) {
            char why[512];
            describe_nccl(rc, NULL, why, sizeof why);
            st = CD_FAIL(err, CD_E_COMM, "rank 0: ncclGetUniqueId failed: %s", why);
        }
    }
    /* Every rank must reach the broadcast; a failed id becomes zeros and fails everyone's init. */
    if (st != CD_OK) memset(&id, 0, sizeof id);
    CD_TRY(host->broadcast(host, &id, sizeof id, 0, err));
    CD_TRY(st);
    nccl_impl *m = (nccl_impl *)cd_alloc_zeroed(sizeof *m);
    if (!m) return CD_FAIL(err, CD_E_NOMEM, "rank %d: out of memory for the NCCL communicator", host->rank);
    m->device = device;
    m->host = host;
    m->ops.comm_state = comm_state;
    m->ops.stream_state = stream_state;
#if CD_NCCL_NONBLOCKING
    m->ops.finalize = comm_finalize;
#endif
    m->ops.destroy = comm_destroy;
    m->ops.abort = comm_abort;
    m->ops.now = now_s;
    m->ops.pause = pause_s;
    m->ops.beat = wait ? wait->beat : NULL;
    m->ops.beat_ctx = wait ? wait->beat_ctx : NULL;
    m->ops.ctx = m;
    m->life.ops = &m->ops;
    m->life.rank = host->rank;
    m->life.limit_s = wait ? wait->limit_s : 0;
    *out = *host;
    out->name = "nccl";
    out->memory = CD_MEMORY_CUDA;
    out->impl = m;
    out->allreduce_sum_i64 = nccl_allreduce;
    out->allgather_u64 = nccl_allgather;
    out->broadcast = nccl_broadcast;
    out->abort = nccl_abort;
    out->finalize = nccl_finalize;
    out->abandon = nccl_abandon;
    st = cuda_check(cudaSetDevice(device), "cudaSetDevice", host->rank, err);
    if (st == CD_OK)
        st = cuda_check(cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking), "cudaStreamCreate", host->rank,
                        err);
    if (st == CD_OK) st = init_comm(m, host->size, id, host->rank, err);
    if (st != CD_OK) nccl_abandon(out); /* aborts what init made, never destroys it */
    return st;
}
