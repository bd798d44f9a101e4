/* How the NCCL comm waits and lets go, written once over injected calls so the host tests (no GPU, no
 * NCCL) drive the same code as nccl.cu, like kernels/cuda/ *_body.h. Plain C that also compiles as
 * C++ (nvcc); static inline, so each includer gets its own copy and no link dependency.
 *
 * The rules it keeps:
 * - nothing NCCL does is waited for blindly: every wait (init, a sum, finalize) polls the
 *   communicator's asynchronous state (ncclCommGetAsyncError) and, for a sum, the stream
 *   (cudaStreamQuery), until done, failed, or `limit_s` seconds without finishing;
 * - a failure or a timeout aborts the communicator (ncclCommAbort) exactly once, and a communicator
 *   that was aborted is never used, finalized or destroyed again;
 * - a run that failed aborts its communicator at close (other ranks may be gone or blocked in a
 *   collective, and ncclCommFinalize would wait for them); only a clean run finalizes and destroys. */
#ifndef CNN_DDP_NCCL_WAIT_H
#define CNN_DDP_NCCL_WAIT_H

#include <stddef.h>
#include <stdio.h>

#include "cnn_ddp/error.h"

typedef enum cd_poll_state { CD_POLL_DONE = 0, CD_POLL_PENDING, CD_POLL_FAILED } cd_poll_state;

typedef struct cd_nccl_ops {
    /* The communicator's own state: DONE when no operation is in progress and none failed, PENDING
     * while init/finalize/an enqueue is in progress, FAILED (with a phrase in why) on an error. */
    cd_poll_state (*comm_state)(void *ctx, char *why, size_t size);
    /* The sum's stream: DONE when idle, PENDING while work is queued, FAILED on a CUDA error. */
    cd_poll_state (*stream_state)(void *ctx, char *why, size_t size);
    /* Starts finalizing (ncclCommFinalize): 0 when started or done, else non-zero with why. NULL
     * where the NCCL has no finalize (before 2.14): close then destroys at once. */
    int (*finalize)(void *ctx, char *why, size_t size);
    void (*destroy)(void *ctx); /* ncclCommDestroy, after a completed finalize */
    void (*abort)(void *ctx);   /* ncclCommAbort */
    double (*now)(void *ctx);   /* monotonic seconds */
    void (*pause)(void *ctx, double seconds); /* between polls; 0: just yield */
    void (*beat)(void *beat_ctx);             /* called while waiting (a watchdog's beat); may be NULL */
    void *ctx, *beat_ctx;
} cd_nccl_ops;

typedef struct cd_nccl_life {
    const cd_nccl_ops *ops;
    int rank;       /* names the rank in messages */
    double limit_s; /* the longest wait; <= 0: no limit (asynchronous errors still end it) */
    int live;       /* a communicator exists, not yet aborted or destroyed */
    int aborted;    /* it was aborted (after a failure, a timeout, or a failed run) */
} cd_nccl_life;

/* The pause after the polls-th poll that found the work unfinished: none for the first 256 (a sum of
 * a few hundred KB takes tens of microseconds, and a sleep would cost more than it), then 10 us
 * doubling to 2 ms, so a long wait costs little CPU and a finished one is seen within 2 ms. */
static inline double cd_poll_pause_s(long polls)
{
    if (polls < 256) return 0.0;
    double s = 10e-6;
    for (long k = 256; k < polls && s < 2e-3; k++) s *= 2.0;
    return s < 2e-3 ? s : 2e-3;
}

/* Gives the communicator up once: abort, and never touch it again. */
static inline void cd_nccl_abort_once(cd_nccl_life *l)
{
    if (!l->live) return;
    l->live = 0;
    l->aborted = 1;
    l->ops->abort(l->ops->ctx);
}

/* An NCCL call that failed outright (it returned an error): aborts and says so. */
static inline cd_status cd_nccl_failed_call(cd_nccl_life *l, const char *what, const char *why, cd_error *err)
{
    const int had = l->live;
    cd_nccl_abort_once(l);
    return CD_FAIL(err, CD_E_COMM, "rank %d: %s failed: %s%s", l->rank, what, why,
                   had ? "; NCCL communicator aborted" : "");
}

/* Waits until the communicator (and, with `with_stream`, the sum's stream) is done. `what` names the
 * operation ("ncclAllReduce of 8500 int64"). A failure or `limit_s` without finishing aborts the
 * communicator and returns CD_E_COMM naming the rank, the operation, the cause and the time waited. */
static inline cd_status cd_nccl_wait(cd_nccl_life *l, int with_stream, const char *what, cd_error *err)
{
    const cd_nccl_ops *o = l->ops;
    if (!l->live)
        return CD_FAIL(err, CD_E_COMM, "rank %d: %s: the NCCL communicator was %s", l->rank, what,
                       l->aborted ? "aborted after an earlier failure" : "closed");
    const double t0 = o->now(o->ctx);
    char why[512];
    for (long polls = 0;; polls++) {
        why[0] = '\0';
        cd_poll_state s = o->comm_state(o->ctx, why, sizeof why);
        if (s == CD_POLL_DONE && with_stream) s = o->stream_state(o->ctx, why, sizeof why);
        if (s == CD_POLL_DONE) return CD_OK;
        const double waited = o->now(o->ctx) - t0;
        if (s == CD_POLL_FAILED) {
            cd_nccl_abort_once(l);
            return CD_FAIL(err, CD_E_COMM, "rank %d: %s failed after %.1f s: %s; NCCL communicator aborted", l->rank,
                           what, waited, why[0] ? why : "unknown error");
        }
        if (l->limit_s > 0 && waited >= l->limit_s) {
            cd_nccl_abort_once(l);
            return CD_FAIL(err, CD_E_COMM,
                           "rank %d: %s did not finish within %.0f s (waited %.1f s: another rank is stuck or dead, "
                           "or the network hangs); NCCL communicator aborted (--timeout sets the limit)",
                           l->rank, what, l->limit_s, waited);
        }
        if (o->beat) o->beat(o->beat_ctx);
        o->pause(o->ctx, cd_poll_pause_s(polls));
    }
}

/* Lets the communicator go: after a failed run (job_failed), or when finalize fails or does not
 * finish within the limit, by aborting it; after a clean run by finalize, a bounded wait, and
 * destroy. Nothing for a communicator already aborted or closed. CD_E_COMM (in err) when a clean
 * close had to abort instead. */
static inline cd_status cd_nccl_close(cd_nccl_life *l, int job_failed, cd_error *err)
{
    const cd_nccl_ops *o = l->ops;
    if (!l->live) return CD_OK;
    if (job_failed) {
        cd_nccl_abort_once(l);
        return CD_OK;
    }
    if (o->finalize) {
        char why[512] = "";
        if (o->finalize(o->ctx, why, sizeof why) != 0) return cd_nccl_failed_call(l, "ncclCommFinalize", why, err);
        CD_TRY(cd_nccl_wait(l, 0, "ncclCommFinalize", err));
    }
    l->live = 0;
    o->destroy(o->ctx);
    return CD_OK;
}

#endif
