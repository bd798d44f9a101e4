/* Micro-benchmark of the CPU kernel sets at the hot shapes of the seed and exercise nets, plus a
 * whole seed-net training step (forward + backward over n=8 chunks) in images/s. Each conv row ends
 * with the plan the set chose for it (cd_conv_plan_describe). Not a ctest test.
 *
 *   built by CMake as <build>/tests/bench_kernels (not a ctest test)
 *   ./bench_kernels [min_seconds_per_op [kernel_set]]   (kernel_set: scalar, avx2 or avx512; default all) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cnn_ddp/kernels.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: other jobs on the machine do not count */
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *buf(size_t n)
{
    float *p = cd_alloc_zeroed(sizeof(float) * (n ? n : 1));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    return p;
}

static cd_conv_shape conv_shape(int n, int c_in, int h, int w, int c_out, int k, int pad)
{
    cd_conv_shape s = {.n = n, .c_in = c_in, .h_in = h, .w_in = w, .c_out = c_out, .k_h = k, .k_w = k,
                       .stride = 1, .pad = pad};
    s.h_out = h + 2 * pad - k + 1;
    s.w_out = w + 2 * pad - k + 1;
    return s;
}

static double min_time = 0.2;

/* Runs stmt in batches of about min_time/20 seconds for about min_time; returns the best batch's
 * seconds per call (the machine is shared: the minimum is the least disturbed estimate). */
#define TIME_OP(result, stmt)                                                                      \
    do {                                                                                           \
        long reps_ = 1;                                                                            \
        double t_ = 0;                                                                             \
        for (;;) {                                                                                 \
            double t0_ = now();                                                                    \
            for (long r_ = 0; r_ < reps_; r_++) { stmt; }                                          \
            t_ = now() - t0_;                                                                      \
            if (t_ > min_time / 20) break;                                                          \
            reps_ *= 2;                                                                            \
        }                                                                                          \
        double best_ = t_ / (double)reps_;                                                         \
        for (int b_ = 0; b_ < 19; b_++) {                                                           \
            double t0_ = now();                                                                    \
            for (long r_ = 0; r_ < reps_; r_++) { stmt; }                                          \
            double tb_ = (now() - t0_) / (double)reps_;                                            \
            if (tb_ < best_) best_ = tb_;                                                          \
        }                                                                                          \
        (result) = best_;                                                                          \
    } while (0)

static void bench_conv(const cd_kernels *k, const char *label, cd_conv_shape s, int with_bwd_data)
{
    const size_t nx = (size_t)s.n * s.c_in * s.h_in * s.w_in, ny = (size_t)s.n * s.c_out * s.h_out * s.w_out;
    const size_t nw = (size_t)s.c_out * s.c_in * s.k_h * s.k_w;
    float *x = buf(nx), *w = buf(nw), *b = buf((size_t)s.c_out), *y = buf(ny), *dy = buf(ny), *dx = buf(nx);
    cd_conv_plan plan;
    k->conv_plan(&s, &plan);
    float *dw = buf(nw), *db = buf((size_t)s.c_out), *work = buf(k->conv_workspace(&s, &plan));
    const double flop = 2.0 * (double)ny * (double)(s.c_in * s.k_h * s.k_w);
    double tf, td = 0, tw;
    TIME_OP(tf, k->conv_forward(&s, &plan, x, w, b, y, work));
    if (with_bwd_data) TIME_OP(td, k->conv_backward_data(&s, &plan, dy, w, dx, work));
    TIME_OP(tw, k->conv_backward_weights(&s, &plan, x, dy, dw, db, work));
    /* the training step's form: sample by sample into fixed-point sums */
    int64_t *sums = cd_alloc_zeroed(sizeof(int64_t) * (nw + (size_t)s.c_out));
    double tx;
    TIME_OP(tx, k->conv_backward_weights_fixed(&s, &plan, x, dy, dw, db, sums, sums + nw, work));
    cd_free(sums);
    printf("  %-28s fwd %7.1f us %6.1f GF/s | bwd_data ", label, tf * 1e6, flop / tf * 1e-9);
    if (with_bwd_data)
        printf("%7.1f us %6.1f GF/s", td * 1e6, flop / td * 1e-9);
    else
        printf("%7s    %6s     ", "-", "-");
    char desc[128];
    cd_conv_plan_describe(&plan, desc, sizeof desc);
    printf(" | bwd_w %7.1f us %6.1f GF/s | fixed %7.1f us %6.1f GF/s | %s\n", tw * 1e6, flop / tw * 1e-9, tx * 1e6,
           flop / tx * 1e-9, desc);
    cd_free(x), cd_free(w), cd_free(b), cd_free(y), cd_free(dy), cd_free(dx), cd_free(dw), cd_free(db);
    cd_free(work);
}

static void bench_linear(const cd_kernels *k, const char *label, cd_linear_shape s)
{
    float *x = buf((size_t)s.n * s.in), *w = buf((size_t)s.in * s.out), *b = buf((size_t)s.out);
    float *y = buf((size_t)s.n * s.out), *dy = buf((size_t)s.n * s.out), *dx = buf((size_t)s.n * s.in);
    float *dw = buf((size_t)s.in * s.out), *db = buf((size_t)s.out);
    const double flop = 2.0 * s.n * s.in * s.out;
    double tf, td, tw;
    TIME_OP(tf, k->linear_forward(&s, x, w, b, y));
    TIME_OP(td, k->linear_backward_data(&s, dy, w, dx));
    TIME_OP(tw, k->linear_backward_weights(&s, x, dy, dw, db));
    printf("  %-28s fwd %7.2f us %6.1f GF/s | bwd_data %7.2f us %6.1f GF/s | bwd_w %7.2f us %6.1f GF/s\n", label,
           tf * 1e6, flop / tf * 1e-9, td * 1e6, flop / td * 1e-9, tw * 1e6, flop / tw * 1e-9);
    cd_free(x), cd_free(w), cd_free(b), cd_free(y), cd_free(dy), cd_free(dx), cd_free(dw), cd_free(db);
}

/* 2x2 stride-2 pool over c planes of h x h (the relu timings on its output) */
static void bench_pool_relu(const cd_kernels *k, int n, int c, int h)
{
    cd_pool_shape s = {.n = n, .c = c, .h_in = h, .w_in = h, .h_out = h / 2, .w_out = h / 2, .k = 2, .stride = 2};
    const size_t nx = (size_t)n * c * h * h, ny = (size_t)n * c * (h / 2) * (h / 2);
    float *x = buf(nx), *y = buf(ny), *dx = buf(nx), *dy = buf(ny);
    int32_t *am = cd_alloc_zeroed(sizeof(int32_t) * ny);
    double tf, tb, tr, trb;
    TIME_OP(tf, k->pool_forward(&s, x, y, am));
    TIME_OP(tb, k->pool_backward(&s, dy, am, dx));
    TIME_OP(tr, k->relu_forward(ny, y, y));
    TIME_OP(trb, k->relu_backward(ny, y, dy, dy));
    printf("  pool %2dx%2dx%-2d n=%-2d            fwd %7.2f us (%5.2f Gelem/s) | bwd %7.2f us | relu %5.2f us | "
           "relu_bwd %5.2f us\n",
           c, h, h, n, tf * 1e6, (double)nx / tf * 1e-9, tb * 1e6, tr * 1e6, trb * 1e6);
    cd_free(x), cd_free(y), cd_free(dx), cd_free(dy), cd_free(am);
}

/* The seed net's shapes and forward buffers at batch n, shared by the training and inference timings. */
typedef struct seed_net {
    int n;
    cd_conv_shape c1, c2;
    cd_conv_plan q1, q2; /* the plans, once for the net, as the model holds them */
    cd_pool_shape p1, p2;
    cd_linear_shape l;
    float *x, *w1, *b1, *w2, *b2, *w3, *b3, *work, *a1, *a1p, *a2, *a2p, *a3;
    int32_t *am1, *am2; /* pool arg-max, NULL for inference */
} seed_net;

static seed_net seed_open(const cd_kernels *k, int n, int train)
{
    seed_net s = {.n = n, .c1 = conv_shape(n, 1, 28, 28, 10, 5, 0), .c2 = conv_shape(n, 10, 12, 12, 20, 5, 0)};
    s.p1 = (cd_pool_shape){.n = n, .c = 10, .h_in = 24, .w_in = 24, .h_out = 12, .w_out = 12, .k = 2, .stride = 2};
    s.p2 = (cd_pool_shape){.n = n, .c = 20, .h_in = 8, .w_in = 8, .h_out = 4, .w_out = 4, .k = 2, .stride = 2};
    s.l = (cd_linear_shape){.n = n, .in = 320, .out = 10};
    k->conv_plan(&s.c1, &s.q1);
    k->conv_plan(&s.c2, &s.q2);
    size_t ws = k->conv_workspace(&s.c1, &s.q1);
    if (k->conv_workspace(&s.c2, &s.q2) > ws) ws = k->conv_workspace(&s.c2, &s.q2);
    s.x = buf((size_t)n * 784), s.w1 = buf(250), s.b1 = buf(10), s.w2 = buf(5000), s.b2 = buf(20);
    s.w3 = buf(3200), s.b3 = buf(10), s.work = buf(ws);
    s.a1 = buf((size_t)n * 5760), s.a1p = buf((size_t)n * 1440), s.a2 = buf((size_t)n * 1280);
    s.a2p = buf((size_t)n * 320), s.a3 = buf((size_t)n * 10);
    if (train) {
        s.am1 = cd_alloc_zeroed(sizeof(int32_t) * (size_t)n * 1440);
        s.am2 = cd_alloc_zeroed(sizeof(int32_t) * (size_t)n * 320);
    }
    return s;
}

static void seed_forward(const cd_kernels *k, seed_net *s)
{
    k->conv_forward(&s->c1, &s->q1, s->x, s->w1, s->b1, s->a1, s->work);
    k->pool_forward(&s->p1, s->a1, s->a1p, s->am1);
    k->relu_forward((size_t)s->n * 1440, s->a1p, s->a1p);
    k->conv_forward(&s->c2, &s->q2, s->a1p, s->w2, s->b2, s->a2, s->work);
    k->pool_forward(&s->p2, s->a2, s->a2p, s->am2);
    k->relu_forward((size_t)s->n * 320, s->a2p, s->a2p);
    k->linear_forward(&s->l, s->a2p, s->w3, s->b3, s->a3);
}

static void seed_close(seed_net *s)
{
    float *bufs[] = {s->x, s->w1, s->b1, s->w2, s->b2, s->w3, s->b3, s->work, s->a1, s->a1p, s->a2, s->a2p, s->a3};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) cd_free(bufs[i]);
    cd_free(s->am1), cd_free(s->am2);
}

/* One seed-net training step over `chunks` chunks of n samples: every kernel the model calls. */
static double seed_step(const cd_kernels *k, int n, int chunks)
{
    seed_net s = seed_open(k, n, 1);
    float *g1 = buf((size_t)n * 5760), *g1p = buf((size_t)n * 1440), *g2 = buf((size_t)n * 1280);
    float *g2p = buf((size_t)n * 320);
    float *dw1 = buf(250), *db1 = buf(10), *dw2 = buf(5000), *db2 = buf(20), *dw3 = buf(3200), *db3 = buf(10);
    float *v = buf(8490), *params = buf(8490), *grads = buf(8490);
    double t;
    TIME_OP(t, {
        for (int c = 0; c < chunks; c++) {
            seed_forward(k, &s);
            k->linear_backward_weights(&s.l, s.a2p, s.a3, dw3, db3);
            k->linear_backward_data(&s.l, s.a3, s.w3, g2p);
            k->relu_backward((size_t)n * 320, s.a2p, g2p, g2p);
            k->pool_backward(&s.p2, g2p, s.am2, g2);
            k->conv_backward_weights(&s.c2, &s.q2, s.a1p, g2, dw2, db2, s.work);
            k->conv_backward_data(&s.c2, &s.q2, g2, s.w2, g1p, s.work);
            k->relu_backward((size_t)n * 1440, s.a1p, g1p, g1p);
            k->pool_backward(&s.p1, g1p, s.am1, g1);
            k->conv_backward_weights(&s.c1, &s.q1, s.x, g1, dw1, db1, s.work);
        }
        k->sgd_momentum(8490, params, v, grads, 0.01f, 0.9f);
    });
    seed_close(&s);
    cd_free(g1), cd_free(g1p), cd_free(g2), cd_free(g2p), cd_free(dw1), cd_free(db1), cd_free(dw2), cd_free(db2);
    cd_free(dw3), cd_free(db3), cd_free(v), cd_free(params), cd_free(grads);
    return t;
}

/* Seed-net inference over a batch of n (the evaluation path: forward only, pools without argmax). */
static double seed_infer(const cd_kernels *k, int n)
{
    seed_net s = seed_open(k, n, 0);
    double t;
    TIME_OP(t, { seed_forward(k, &s); });
    seed_close(&s);
    return t;
}

int main(int argc, char **argv)
{
    if (argc > 1) min_time = atof(argv[1]);
    const cd_kernel_kind kinds[] = {CD_KERNELS_SCALAR, CD_KERNELS_AVX2, CD_KERNELS_AVX512};
    for (size_t i = 0; i < 3; i++) {
        const cd_kernels *k;
        cd_error err;
        cd_kernel_kind only;
        if (argc > 2 && (cd_kernel_kind_parse(argv[2], &only, &err) != CD_OK || only != kinds[i])) continue;
        if (cd_kernels_select(kinds[i], &k, &err) != CD_OK) {
            printf("%s\n", err.msg);
            continue;
        }
        printf("== %s\n", k->name);
        bench_conv(k, "conv1 n8 1->10 28 k5", conv_shape(8, 1, 28, 28, 10, 5, 0), 1);
        bench_conv(k, "conv2 n8 10->20 12 k5", conv_shape(8, 10, 12, 12, 20, 5, 0), 1);
        bench_conv(k, "conv2 n64 10->20 12 k5", conv_shape(64, 10, 12, 12, 20, 5, 0), 1);
        bench_conv(k, "ex1 n8 1->16 28 k3p1", conv_shape(8, 1, 28, 28, 16, 3, 1), 1);
        bench_conv(k, "ex2 n8 16->32 14 k3p1", conv_shape(8, 16, 14, 14, 32, 3, 1), 1);
        bench_conv(k, "ex3 n8 32->64 7 k3p1", conv_shape(8, 32, 7, 7, 64, 3, 1), 1);
        bench_linear(k, "linear n8 320->10", (cd_linear_shape){8, 320, 10});
        bench_linear(k, "linear n8 576->128", (cd_linear_shape){8, 576, 128});
        bench_linear(k, "linear n8 128->64", (cd_linear_shape){8, 128, 64});
        bench_pool_relu(k, 8, 10, 24);
        bench_pool_relu(k, 8, 16, 28); /* the exercise net's three pools */
        bench_pool_relu(k, 8, 32, 14);
        bench_pool_relu(k, 8, 64, 7);
        double t8 = seed_step(k, 8, 8), t64 = seed_step(k, 64, 1);
        printf("  seed-net step, 64 images: n=8 x8 chunks %7.1f us = %7.0f img/s | n=64 x1 %7.1f us = %7.0f img/s"
               " (target 24000 img/s = %.0f us)\n",
               t8 * 1e6, 64 / t8, t64 * 1e6, 64 / t64, 64.0 / 24000 * 1e6);
        double ti = seed_infer(k, 256);
        printf("  seed-net inference, n=256: %7.1f us = %7.0f img/s\n", ti * 1e6, 256 / ti);
    }
    return 0;
}
