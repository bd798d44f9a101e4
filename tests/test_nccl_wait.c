/* The NCCL comm's waits and close (src/comm/nccl_wait.h), driven with fake NCCL/CUDA queries and a fake
 * clock, so the state machine that nccl.cu runs on a GPU is tested here without one: a wait ends when
 * the communicator and the stream are done; an asynchronous error, a stream error or the deadline
 * aborts the communicator exactly once and names the rank, the call, the cause and the time waited; a
 * communicator once aborted is never used, finalized or destroyed; a failed run aborts at close, a
 * clean one finalizes (bounded too) and destroys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "comm/nccl_wait.h"
#include "test_support.h"

typedef struct fake {
    /* scripts: the poll at which each query stops being PENDING, and what it is then */
    long comm_done_at, stream_done_at;
    cd_poll_state comm_final, stream_final;
    int finalize_fails;
    /* what happened */
    long comm_polls, stream_polls, pauses, beats;
    int finalized, destroyed, aborted;
    double clock, tick; /* the fake clock advances by tick per pause */
    double paused_s;
} fake;

static cd_poll_state fake_comm(void *ctx, char *why, size_t size)
{
    fake *f = ctx;
    if (f->comm_polls++ < f->comm_done_at) return CD_POLL_PENDING;
    if (f->comm_final == CD_POLL_FAILED) snprintf(why, size, "ncclRemoteError 6 (remote process exited)");
    return f->comm_final;
}

static cd_poll_state fake_stream(void *ctx, char *why, size_t size)
{
    fake *f = ctx;
    if (f->stream_polls++ < f->stream_done_at) return CD_POLL_PENDING;
    if (f->stream_final == CD_POLL_FAILED) snprintf(why, size, "cudaStreamQuery: cudaErrorIllegalAddress");
    return f->stream_final;
}

static int fake_finalize(void *ctx, char *why, size_t size)
{
    fake *f = ctx;
    f->finalized++;
    if (f->finalize_fails) snprintf(why, size, "ncclInvalidUsage 5");
    return f->finalize_fails;
}

static void fake_destroy(void *ctx) { ((fake *)ctx)->destroyed++; }
static void fake_abort(void *ctx) { ((fake *)ctx)->aborted++; }
static double fake_now(void *ctx) { return ((fake *)ctx)->clock; }
static void fake_pause(void *ctx, double s)
{
    fake *f = ctx;
    f->pauses++;
    f->paused_s += s;
    f->clock += f->tick;
}
static void fake_beat(void *ctx) { ((fake *)ctx)->beats++; }

typedef struct rig {
    fake f;
    cd_nccl_ops ops;
    cd_nccl_life life;
} rig;

static void rig_init(rig *g, double limit_s)
{
    memset(g, 0, sizeof *g);
    g->f.tick = 0.5;
    g->ops.comm_state = fake_comm;
    g->ops.stream_state = fake_stream;
    g->ops.finalize = fake_finalize;
    g->ops.destroy = fake_destroy;
    g->ops.abort = fake_abort;
    g->ops.now = fake_now;
    g->ops.pause = fake_pause;
    g->ops.beat = fake_beat;
    g->ops.ctx = &g->f;
    g->ops.beat_ctx = &g->f;
    g->life.ops = &g->ops;
    g->life.rank = 3;
    g->life.limit_s = limit_s;
    g->life.live = 1;
}

static void test_done_after_k_polls(void **state)
{
    (void)state;
    rig g;
    rig_init(&g, 120);
    g.f.comm_done_at = 4;   /* init in progress for 4 polls */
    cd_error err = {0};
    assert_int_equal(cd_nccl_wait(&g.life, 0, "ncclCommInitRank (2 ranks)", &err), CD_OK);
    assert_int_equal(g.f.comm_polls, 5);
    assert_int_equal(g.f.stream_polls, 0); /* init waits on the communicator only */
    assert_int_equal(g.f.pauses, 4);
    assert_true(g.f.beats >= 4);           /* the watchdog hears of a bounded wait */
    assert_int_equal(g.f.aborted, 0);
    assert_int_equal(g.life.live, 1);
    /* A sum: the communicator done at once, the stream after 3 polls. */
    rig_init(&g, 120);
    g.f.stream_done_at = 3;
    assert_int_equal(cd_nccl_wait(&g.life, 1, "ncclAllReduce of 8500 int64", &err), CD_OK);
    assert_int_equal(g.f.stream_polls, 4);
    assert_int_equal(g.f.comm_polls, 4); /* an asynchronous error is looked for at every poll */
    assert_int_equal(g.f.aborted, 0);
    /* Closed cleanly afterwards: finalize, a wait, destroy; never abort. */
    assert_int_equal(cd_nccl_close(&g.life, 0, &err), CD_OK);
    assert_int_equal(g.f.finalized, 1);
    assert_int_equal(g.f.destroyed, 1);
    assert_int_equal(g.f.aborted, 0);
    assert_int_equal(g.life.live, 0);
    /* Closing again does nothing. */
    assert_int_equal(cd_nccl_close(&g.life, 0, &err), CD_OK);
    assert_int_equal(cd_nccl_close(&g.life, 1, &err), CD_OK);
    assert_int_equal(g.f.destroyed, 1);
    assert_int_equal(g.f.aborted, 0);
}

static void test_async_error_aborts_once(void **state)
{
    (void)state;
    rig g;
    rig_init(&g, 120);
    g.f.comm_done_at = 2;
    g.f.comm_final = CD_POLL_FAILED;
    cd_error err = {0};
    assert_int_equal(cd_nccl_wait(&g.life, 1, "ncclAllReduce of 8500 int64", &err), CD_E_COMM);
    assert_string_equal(err.msg, "rank 3: ncclAllReduce of 8500 int64 failed after 1.0 s: ncclRemoteError 6 (remote "
                                 "process exited); NCCL communicator aborted");
    assert_int_equal(g.f.aborted, 1);
    assert_int_equal(g.life.live, 0);
    /* The next sum is refused without touching NCCL; close neither finalizes, destroys nor aborts again. */
    const long polls = g.f.comm_polls;
    assert_int_equal(cd_nccl_wait(&g.life, 1, "ncclAllReduce of 8500 int64", &err), CD_E_COMM);
    assert_non_null(strstr(err.msg, "rank 3: ncclAllReduce of 8500 int64: the NCCL communicator was aborted after an "
                                    "earlier failure"));
    assert_int_equal(g.f.comm_polls, polls);
    assert_int_equal(cd_nccl_close(&g.life, 0, &err), CD_OK);
    assert_int_equal(cd_nccl_close(&g.life, 1, &err), CD_OK);
    assert_int_equal(g.f.aborted, 1);
    assert_int_equal(g.f.finalized, 0);
    assert_int_equal(g.f.destroyed, 0);
}

static void test_stream_error_aborts_once(void **state)
{
    (void)state;
    rig g;
    rig_init(&g, 0);
    g.f.stream_done_at = 1;
    g.f.stream_final = CD_POLL_FAILED;
    cd_error err = {0};
    assert_int_equal(cd_nccl_wait(&g.life, 1, "ncclAllReduce of 10 int64", &err), CD_E_COMM);
    assert_non_null(strstr(err.msg, "rank 3: ncclAllReduce of 10 int64 failed after 0.5 s: cudaStreamQuery: "
                                    "cudaErrorIllegalAddress; NCCL communicator aborted"));
    assert_int_equal(g.f.aborted, 1);
    assert_int_equal(g.f.destroyed, 0);
}

static void test_timeout_aborts_once_never_destroys(void **state)
{
    (void)state;
    rig g;
    rig_init(&g, 5);
    g.f.comm_done_at = 1000000; /* a peer that never comes */
    cd_error err = {0};
    assert_int_equal(cd_nccl_wait(&g.life, 1, "ncclAllReduce of 8500 int64", &err), CD_E_COMM);
    assert_string_equal(err.msg, "rank 3: ncclAllReduce of 8500 int64 did not finish within 5 s (waited 5.0 s: another "
                                 "rank is stuck or dead, or the network hangs); NCCL communicator aborted (--timeout "
                                 "sets the limit)");
    assert_int_equal(g.f.comm_polls, 11); /* 0, 0.5, ..., 5.0 s */
    assert_int_equal(g.f.aborted, 1);
    assert_int_equal(cd_nccl_close(&g.life, 0, &err), CD_OK);
    assert_int_equal(g.f.aborted, 1);
    assert_int_equal(g.f.finalized, 0);
    assert_int_equal(g.f.destroyed, 0);
}

static void test_no_limit_waits_on(void **state)
{
    (void)state;
    rig g;
    rig_init(&g, 0); /* --timeout 0 */
    g.f.tick = 10;
    g.f.comm_done_at = 2000; /* 20000 fake seconds */
    cd_error err = {0};
    assert_int_equal(cd_nccl_wait(&g.life, 1, "ncclAllReduce of 1 int64", &err), CD_OK);
    assert_int_equal(g.f.aborted, 0);
}

static void test_failed_run_aborts_at_close(void **state)
{
    (void)state;
    rig g;
    rig_init(&g, 120);
    cd_error err = {0};
    assert_int_equal(cd_nccl_wait(&g.life, 1, "ncclAllReduce of 1 int64", &err), CD_OK);
    assert_int_equal(cd_nccl_close(&g.life, 1, &err), CD_OK);
    assert_int_equal(g.f.aborted, 1);
    assert_int_equal(g.f.finalized, 0);
    assert_int_equal(g.f.destroyed, 0);
    assert_int_equal(cd_nccl_close(&g.life, 0, &err), CD_OK);
    assert_int_equal(g.f.aborted, 1);
    assert_int_equal(g.f.destroyed, 0);
}

static void test_close_that_cannot_finalize_aborts(void **state)
{
    (void)state;
    cd_error err = {0};
    rig g;
    /* finalize refused outright */
    rig_init(&g, 120);
    g.f.finalize_fails = 1;
    assert_int_equal(cd_nccl_close(&g.life, 0, &err), CD_E_COMM);
    assert_string_equal(err.msg, "rank 3: ncclCommFinalize failed: ncclInvalidUsage 5; NCCL communicator aborted");
    assert_int_equal(g.f.aborted, 1);
    assert_int_equal(g.f.destroyed, 0);
    /* finalize that never completes (a peer gone): bounded, then aborted */
    rig_init(&g, 3);
    g.f.comm_done_at = 1000000;
    assert_int_equal(cd_nccl_close(&g.life, 0, &err), CD_E_COMM);
    assert_non_null(strstr(err.msg, "rank 3: ncclCommFinalize did not finish within 3 s"));
    assert_int_equal(g.f.finalized, 1);
    assert_int_equal(g.f.aborted, 1);
    assert_int_equal(g.f.destroyed, 0);
    /* an NCCL without finalize (before 2.14): destroy at once */
    rig_init(&g, 3);
    g.ops.finalize = NULL;
    assert_int_equal(cd_nccl_close(&g.life, 0, &err), CD_OK);
    assert_int_equal(g.f.destroyed, 1);
    assert_int_equal(g.f.aborted, 0);
    assert_int_equal(g.f.comm_polls, 0);
}

static void test_failed_call_aborts_once(void **state)
{
    (void)state;
    rig g;
    rig_init(&g, 120);
    cd_error err = {0};
    assert_int_equal(cd_nccl_failed_call(&g.life, "ncclCommInitRank", "ncclInvalidUsage 5 (duplicate GPU)", &err),
                     CD_E_COMM);
    assert_string_equal(err.msg, "rank 3: ncclCommInitRank failed: ncclInvalidUsage 5 (duplicate GPU); NCCL "
                                 "communicator aborted");
    assert_int_equal(cd_nccl_failed_call(&g.life, "ncclAllReduce", "again", &err), CD_E_COMM);
    assert_string_equal(err.msg, "rank 3: ncclAllReduce failed: again");
    assert_int_equal(g.f.aborted, 1);
    /* no communicator was made at all: nothing to abort */
    rig_init(&g, 120);
    g.life.live = 0;
    assert_int_equal(cd_nccl_failed_call(&g.life, "ncclCommInitRank", "ncclSystemError 2", &err), CD_E_COMM);
    assert_int_equal(g.f.aborted, 0);
}

static void test_pause_schedule(void **state)
{
    (void)state;
    for (long k = 0; k < 256; k++) assert_true(cd_poll_pause_s(k) == 0.0); /* spin first: a sum takes microseconds */
    double last = 0, total = 0;
    for (long k = 256; k < 100000; k++) {
        const double p = cd_poll_pause_s(k);
        assert_true(p >= last && p > 0 && p <= 2e-3);
        last = p;
        if (k < 256 + 20) total += p;
    }
    assert_true(cd_poll_pause_s(256) <= 20e-6);
    assert_true(cd_poll_pause_s(1L << 40) == 2e-3); /* the cap: a finished sum is seen within 2 ms */
    assert_true(total < 0.05);                       /* the first 20 sleeps stay short */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_done_after_k_polls),
        cmocka_unit_test(test_async_error_aborts_once),
        cmocka_unit_test(test_stream_error_aborts_once),
        cmocka_unit_test(test_timeout_aborts_once_never_destroys),
        cmocka_unit_test(test_no_limit_waits_on),
        cmocka_unit_test(test_failed_run_aborts_at_close),
        cmocka_unit_test(test_close_that_cannot_finalize_aborts),
        cmocka_unit_test(test_failed_call_aborts_once),
        cmocka_unit_test(test_pause_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
