/* The kernel sets: the scalar reference against hand-computed numbers, every SIMD set against the
 * scalar reference on random shapes, the determinism contract (one image alone gives the same bits
 * as inside a batch), the pool tie rule, SGD bit-identity across sets, and the dispatcher. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn_ddp/fixed_point.h"
#include "cnn_ddp/kernels.h"
#include "cnn_ddp/rng.h"
#include "test_support.h"

#define TOL 1e-4 /* relative, with an absolute floor of 1 (ts_max_rel_err) */

static const cd_kernel_kind simd_kinds[] = {CD_KERNELS_AVX2, CD_KERNELS_AVX512};
static const cd_kernel_kind all_kinds[] = {CD_KERNELS_SCALAR, CD_KERNELS_AVX2, CD_KERNELS_AVX512};

static int imax_(int a, int b) { return a > b ? a : b; }

static const cd_kernels *get_set(cd_kernel_kind kind)
{
    const cd_kernels *k = NULL;
    cd_error err;
    if (!cd_kernels_supported(kind)) return NULL;
    assert_int_equal(cd_kernels_select(kind, &k, &err), CD_OK);
    assert_non_null(k);
    return k;
}

/* Exact-size heap buffer filled with NaN, so an output a kernel forgets to write shows up. */
static float *nan_buf(size_t n)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

static float *rand_buf(size_t n, uint64_t seed)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    assert_non_null(p);
    ts_fill_uniform(p, n, seed, -1.0f, 1.0f);
    return p;
}

static cd_conv_plan plan_for(const cd_kernels *k, const cd_conv_shape *s)
{
    cd_conv_plan p;
    k->conv_plan(s, &p);
    return p;
}

static float *work_for(const cd_kernels *k, const cd_conv_shape *s, const cd_conv_plan *p)
{
    size_t n = k->conv_workspace(s, p);
    return n ? cd_alloc_zeroed(sizeof(float) * n) : NULL;
}

static cd_conv_shape conv_shape(int n, int c_in, int h, int w, int c_out, int k, int stride, int pad)
{
    cd_conv_shape s = {.n = n, .c_in = c_in, .h_in = h, .w_in = w, .c_out = c_out, .k_h = k, .k_w = k,
                       .stride = stride, .pad = pad};
    s.h_out = (h + 2 * pad - k) / stride + 1;
    s.w_out = (w + 2 * pad - k) / stride + 1;
    return s;
}

static size_t conv_x_len(const cd_conv_shape *s) { return (size_t)s->n * s->c_in * s->h_in * s->w_in; }
static size_t conv_y_len(const cd_conv_shape *s) { return (size_t)s->n * s->c_out * s->h_out * s->w_out; }
static size_t conv_w_len(const cd_conv_shape *s) { return (size_t)s->c_out * s->c_in * s->k_h * s->k_w; }

/* ------------------------------------------------------------- the reference, by hand */

static void test_scalar_conv_known_numbers(void **state)
{
    (void)state;
    for (size_t ki = 0; ki < sizeof all_kinds / sizeof all_kinds[0]; ki++) {
        const cd_kernels *k = get_set(all_kinds[ki]);
        if (!k) continue;
        const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        const float w[4] = {1, 2, 3, 4};
        const float b[1] = {0.5f};
        cd_conv_shape s = conv_shape(1, 1, 3, 3, 1, 2, 1, 0);
        float y[4], dx[9], dw[4], db[1];
        cd_conv_plan plan = plan_for(k, &s);
        float *work = work_for(k, &s, &plan);
        k->conv_forward(&s, &plan, x, w, b, y, work);
        const float want_y[4] = {37.5f, 47.5f, 67.5f, 77.5f};
        assert_memory_equal(y, want_y, sizeof y);

        const float dy[4] = {1, 1, 1, 1};
        k->conv_backward_data(&s, &plan, dy, w, dx, work);
        const float want_dx[9] = {1, 3, 2, 4, 10, 6, 3, 7, 4};
        assert_memory_equal(dx, want_dx, sizeof dx);
        k->conv_backward_weights(&s, &plan, x, dy, dw, db, work);
        const float want_dw[4] = {12, 16, 24, 28};
        assert_memory_equal(dw, want_dw, sizeof dw);
        assert_true(db[0] == 4.0f);
        cd_free(work);

        /* padding 1, stride 2: windows hang over the top-left edge */
        cd_conv_shape p = conv_shape(1, 1, 3, 3, 1, 2, 2, 1);
        assert_int_equal(p.h_out, 2);
        plan = plan_for(k, &p);
        work = work_for(k, &p, &plan);
        k->conv_forward(&p, &plan, x, w, b, y, work);
        const float want_p[4] = {4.5f, 18.5f, 36.5f, 77.5f};
        assert_memory_equal(y, want_p, sizeof y);
        cd_free(work);
    }
}

static void test_scalar_linear_and_pool_known_numbers(void **state)
{
    (void)state;
    for (size_t ki = 0; ki < sizeof all_kinds / sizeof all_kinds[0]; ki++) {
        const cd_kernels *k = get_set(all_kinds[ki]);
        if (!k) continue;
        const float x[3] = {1, 2, 3};
        const float w[6] = {1, 0, -1, 2, 1, 0};
        const float b[2] = {0.5f, -1.0f};
        cd_linear_shape s = {.n = 1, .in = 3, .out = 2};
        float y[2], dx[3], dw[6], db[2];
        k->linear_forward(&s, x, w, b, y);
        assert_true(y[0] == -1.5f && y[1] == 3.0f);
        const float dy[2] = {1, -2};
        k->linear_backward_data(&s, dy, w, dx);
        const float want_dx[3] = {-3, -2, -1};
        assert_memory_equal(dx, want_dx, sizeof dx);
        k->linear_backward_weights(&s, x, dy, dw, db);
        const float want_dw[6] = {1, 2, 3, -2, -4, -6};
        assert_memory_equal(dw, want_dw, sizeof dw);
        assert_true(db[0] == 1.0f && db[1] == -2.0f);

        /* 2x2 stride 2 on 4x4: ties go to the first in row-major window order */
        const float px[16] = {1, 5, 2, 2, /**/ 5, 3, 2, 2, /**/ 0, 0, 7, 1, /**/ 0, 0, 1, 7};
        cd_pool_shape ps = {.n = 1, .c = 1, .h_in = 4, .w_in = 4, .h_out = 2, .w_out = 2, .k = 2, .stride = 2};
        float py[4], pdx[16];
        int32_t am[4];
        k->pool_forward(&ps, px, py, am);
        const float want_py[4] = {5, 2, 0, 7};
        const int32_t want_am[4] = {1, 2, 8, 10};
        assert_memory_equal(py, want_py, sizeof py);
        assert_memory_equal(am, want_am, sizeof am);
        const float pdy[4] = {1, 2, 3, 4};
        k->pool_backward(&ps, pdy, am, pdx);
        const float want_pdx[16] = {0, 1, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0};
        assert_memory_equal(pdx, want_pdx, sizeof pdx);
    }
}

/* --------------------------------------------------------------- SIMD against the scalar set */

/* The fixed-point weight gradient of `k` on plan p: exactly the per-sample float op (n = 1) added
 * with cd_fixed_accumulate, and close to the same sums of the scalar set. */
static void check_conv_fixed(const cd_kernels *ref, const cd_kernels *k, const cd_conv_shape *s, const cd_conv_plan *p,
                             const float *x, const float *dy, const char *what)
{
    const size_t nx1 = conv_x_len(s) / (size_t)s->n, ny1 = conv_y_len(s) / (size_t)s->n, nw = conv_w_len(s);
    const size_t nb = (size_t)s->c_out;
    int64_t *got = calloc(nw + nb, sizeof *got), *want = calloc(nw + nb, sizeof *want);
    int64_t *scalar = calloc(nw + nb, sizeof *scalar);
    float *dw = nan_buf(nw), *db = nan_buf(nb);
    float *work = work_for(k, s, p);
    assert_int_equal(k->conv_backward_weights_fixed(s, p, x, dy, dw, db, got, got + nw, work), 0);
    cd_conv_shape one = *s;
    one.n = 1;
    cd_error err;
    for (int n = 0; n < s->n; n++) {
        k->conv_backward_weights(&one, p, x + n * nx1, dy + n * ny1, dw, db, work);
        assert_int_equal(cd_fixed_accumulate(want, dw, nw, &err), CD_OK);
        assert_int_equal(cd_fixed_accumulate(want + nw, db, nb, &err), CD_OK);
    }
    if (memcmp(got, want, sizeof(int64_t) * (nw + nb)) != 0)
        fail_msg("conv backward_weights_fixed %s: not the per-sample sums of backward_weights", what);
    const cd_conv_plan p0 = plan_for(ref, s);
    float *w0 = work_for(ref, s, &p0);
    assert_int_equal(ref->conv_backward_weights_fixed(s, &p0, x, dy, dw, db, scalar, scalar + nw, w0), 0);
    float *fa = malloc(sizeof(float) * (nw + nb)), *fb = malloc(sizeof(float) * (nw + nb));
    cd_fixed_to_float(got, fa, nw + nb);
    cd_fixed_to_float(scalar, fb, nw + nb);
    const double e = ts_max_rel_err(fa, fb, nw); /* the float op's measure and tolerance */
    if (e > TOL) fail_msg("conv fixed %s: rel err %g against the scalar set", what, e);
    free(fa), free(fb);
    /* a NaN in one sample's dy is reported, not summed */
    float *bad = malloc(sizeof(float) * ny1 * (size_t)s->n);
    memcpy(bad, dy, sizeof(float) * ny1 * (size_t)s->n);
    bad[ny1 * (size_t)(s->n - 1)] = NAN;
    assert_int_not_equal(k->conv_backward_weights_fixed(s, p, x, bad, dw, db, got, got + nw, work), 0);
    free(bad), free(got), free(want), free(scalar), free(dw), free(db);
    cd_free(work), cd_free(w0);
}

/* Compares one conv shape's three ops between the scalar set and `k`. */
static void check_conv_shape(const cd_kernels *ref, const cd_kernels *k, const cd_conv_shape *s, uint64_t seed)
{
    const size_t nx = conv_x_len(s), ny = conv_y_len(s), nw = conv_w_len(s);
    float *x = rand_buf(nx, seed), *w = rand_buf(nw, seed + 1), *b = rand_buf((size_t)s->c_out, seed + 2);
    float *dy = rand_buf(ny, seed + 3);
    float *y0 = nan_buf(ny), *y1 = nan_buf(ny), *dx0 = nan_buf(nx), *dx1 = nan_buf(nx);
    float *dw0 = nan_buf(nw), *dw1 = nan_buf(nw), *db0 = nan_buf((size_t)s->c_out), *db1 = nan_buf((size_t)s->c_out);
    const cd_conv_plan p0 = plan_for(ref, s), p1 = plan_for(k, s);
    float *w0 = work_for(ref, s, &p0), *w1 = work_for(k, s, &p1);
    char what[256], plan[128];
    cd_conv_plan_describe(&p1, plan, sizeof plan);
    snprintf(what, sizeof what, "%s n=%d c_in=%d %dx%d c_out=%d k=%d s=%d p=%d (%s)", k->name, s->n, s->c_in,
             s->h_in, s->w_in, s->c_out, s->k_h, s->stride, s->pad, plan);

    ref->conv_forward(s, &p0, x, w, b, y0, w0);
    k->conv_forward(s, &p1, x, w, b, y1, w1);
    double e = ts_max_rel_err(y1, y0, ny);
    if (e > TOL) fail_msg("conv forward %s: rel err %g", what, e);

    ref->conv_backward_data(s, &p0, dy, w, dx0, w0);
    k->conv_backward_data(s, &p1, dy, w, dx1, w1);
    e = ts_max_rel_err(dx1, dx0, nx);
    if (e > TOL) fail_msg("conv backward_data %s: rel err %g", what, e);

    ref->conv_backward_weights(s, &p0, x, dy, dw0, db0, w0);
    k->conv_backward_weights(s, &p1, x, dy, dw1, db1, w1);
    e = ts_max_rel_err(dw1, dw0, nw);
    if (e > TOL) fail_msg("conv backward_weights dw %s: rel err %g", what, e);
    e = ts_max_rel_err(db1, db0, (size_t)s->c_out);
    if (e > TOL) fail_msg("conv backward_weights db %s: rel err %g", what, e);

    check_conv_fixed(ref, k, s, &p1, x, dy, what);
    /* The dot-GEMM weight paths, which plans no longer choose (training goes sample by sample, where
     * the wgrad GEMM wins), stay correct for the float op and the fixed one. */
    /* rows-wgrad gives the fixed-point sums of direct-wgrad and im2col-wgrad exactly (the same
     * operands in the same order; direct-wgrad's junk positions add 0 * a finite value), and those
     * paths, forced, stay correct */
    if (p1.backward_weights == CD_CONV_ROWS_WGRAD) {
        const size_t nb = (size_t)s->c_out;
        int64_t *rows = calloc(nw + nb, sizeof *rows), *other = calloc(nw + nb, sizeof *other);
        assert_int_equal(k->conv_backward_weights_fixed(s, &p1, x, dy, dw1, db1, rows, rows + nw, w1), 0);
        /* (im2col-dot is forced on the strided shapes, below) */
        static const cd_conv_path forced[] = {CD_CONV_DIRECT_WGRAD, CD_CONV_IM2COL_WGRAD, CD_CONV_DIRECT_DOT};
        for (size_t f = 0; f < sizeof forced / sizeof forced[0]; f++) {
            cd_conv_plan alt = p1;
            alt.backward_weights = forced[f];
            float *wa = work_for(k, s, &alt);
            k->conv_backward_weights(s, &alt, x, dy, dw1, db1, wa);
            e = ts_max_rel_err(dw1, dw0, nw);
            if (e > TOL) fail_msg("conv backward_weights dw %s, forced %s: rel err %g", what,
                                  cd_conv_path_name(forced[f]), e);
            check_conv_fixed(ref, k, s, &alt, x, dy, what);
            if (f < 2) {
                memset(other, 0, sizeof(int64_t) * (nw + nb));
                assert_int_equal(k->conv_backward_weights_fixed(s, &alt, x, dy, dw1, db1, other, other + nw, wa), 0);
                if (memcmp(rows, other, sizeof(int64_t) * (nw + nb)) != 0)
                    fail_msg("conv backward_weights_fixed %s: rows-wgrad and %s differ", what,
                             cd_conv_path_name(forced[f]));
            }
            cd_free(wa);
        }
        free(rows), free(other);
    }
    if (p1.backward_weights == CD_CONV_DIRECT_WGRAD || p1.backward_weights == CD_CONV_IM2COL_WGRAD) {
        cd_conv_plan dot = p1;
        dot.backward_weights = p1.backward_weights == CD_CONV_DIRECT_WGRAD ? CD_CONV_DIRECT_DOT : CD_CONV_IM2COL_DOT;
        float *wd = work_for(k, s, &dot);
        k->conv_backward_weights(s, &dot, x, dy, dw1, db1, wd);
        e = ts_max_rel_err(dw1, dw0, nw);
        if (e > TOL) fail_msg("conv backward_weights dw %s, forced %s: rel err %g", what,
                              cd_conv_path_name(dot.backward_weights), e);
        check_conv_fixed(ref, k, s, &dot, x, dy, what);
        cd_free(wd);
    }

    free(x), free(w), free(b), free(dy), free(y0), free(y1), free(dx0), free(dx1);
    free(dw0), free(dw1), free(db0), free(db1);
    cd_free(w0), cd_free(w1);
}

static void test_simd_conv_matches_scalar(void **state)
{
    (void)state;
    const cd_kernels *ref = cd_kernels_scalar();
    int ran = 0;
    for (size_t ki = 0; ki < sizeof simd_kinds / sizeof simd_kinds[0]; ki++) {
        const cd_kernels *k = get_set(simd_kinds[ki]);
        if (!k) continue;
        ran++;
        /* the hot shapes of the seed and exercise nets */
        const cd_conv_shape hot[] = {
            conv_shape(8, 1, 28, 28, 10, 5, 1, 0),  conv_shape(8, 10, 12, 12, 20, 5, 1, 0),
            conv_shape(3, 1, 28, 28, 16, 3, 1, 1),  conv_shape(3, 16, 14, 14, 32, 3, 1, 1),
            conv_shape(3, 32, 7, 7, 64, 3, 1, 1),   conv_shape(2, 5, 6, 6, 7, 1, 1, 0),
            /* more samples than one conv group (8), direct and im2col paths */
            conv_shape(19, 1, 28, 28, 10, 5, 1, 0), conv_shape(11, 16, 14, 14, 32, 3, 1, 1),
            conv_shape(10, 10, 12, 12, 20, 5, 1, 0), conv_shape(11, 32, 7, 7, 64, 3, 1, 1),
            conv_shape(9, 3, 11, 9, 5, 3, 2, 2),
            /* output rows of 8 and 4 floats (whole or half vectors in the im2col
             * path: c_out 20 rules the direct one out), odd and even row counts */
            conv_shape(3, 2, 11, 12, 20, 5, 1, 0), conv_shape(3, 2, 8, 8, 20, 5, 1, 0),
            conv_shape(3, 2, 9, 6, 20, 3, 1, 0),
            /* a 60x60 output: more im2col segments than the precomputed plan holds */
            conv_shape(1, 1, 64, 64, 2, 5, 1, 0),
            /* c_out of 2+ whole vectors: weight gradients through the transposed-dy GEMM, direct
             * (odd sizes, k5 p2, k3 valid) and through im2col (k1 and k3 at stride 2, padding), more
             * samples than a group; k5 p2 also takes the input gradient as a convolution */
            conv_shape(10, 5, 13, 11, 64, 5, 1, 2), conv_shape(9, 6, 5, 7, 32, 3, 1, 0),
            conv_shape(3, 7, 9, 13, 48, 1, 2, 0),   conv_shape(10, 3, 11, 9, 32, 3, 2, 1),
            conv_shape(2, 9, 3, 3, 96, 3, 1, 1),
        };
        for (size_t i = 0; i < sizeof hot / sizeof hot[0]; i++) check_conv_shape(ref, k, &hot[i], 100 + i);

        static const int ksizes[] = {1, 3, 5, 7};
        for (uint64_t t = 0; t < 60; t++) {
            uint64_t sd = 1000 + t;
            int kk = ksizes[cd_rng_below(sd, 1, 0, 4)];
            int stride = 1 + (int)cd_rng_below(sd, 1, 1, 3);
            int pad = (int)cd_rng_below(sd, 1, 2, 4);
            int n = 1 + (int)cd_rng_below(sd, 1, 3, 9);
            int c_in = 1 + (int)cd_rng_below(sd, 1, 4, 33);
            int c_out = 1 + (int)cd_rng_below(sd, 1, 5, 33);
            int h = imax_(1, kk - 2 * pad) + (int)cd_rng_below(sd, 1, 6, 14);
            int w = imax_(1, kk - 2 * pad) + (int)cd_rng_below(sd, 1, 7, 14);
            /* keep the scalar reference quick */
            while ((double)n * c_in * c_out * kk * kk * h * w > 3e6 && (c_in > 1 || c_out > 1 || n > 1)) {
                if (c_in > 1) c_in = (c_in + 1) / 2;
                if (c_out > 1) c_out = (c_out + 1) / 2;
                if (n > 1) n--;
            }
            cd_conv_shape s = conv_shape(n, c_in, h, w, c_out, kk, stride, pad);
            if (s.h_out < 1 || s.w_out < 1) continue;
            check_conv_shape(ref, k, &s, sd * 7);
        }
    }
    if (!ran) skip();
}

static void test_simd_linear_matches_scalar(void **state)
{
    (void)state;
    const cd_kernels *ref = cd_kernels_scalar();
    int ran = 0;
    for (size_t ki = 0; ki < sizeof simd_kinds / sizeof simd_kinds[0]; ki++) {
        const cd_kernels *k = get_set(simd_kinds[ki]);
        if (!k) continue;
        ran++;
        const cd_linear_shape hot[] = {{8, 320, 10}, {64, 320, 10}, {8, 576, 128}, {8, 128, 64}, {8, 64, 10}};
        for (uint64_t t = 0; t < 45; t++) {
            cd_linear_shape s;
            if (t < 5) {
                s = hot[t];
            } else {
                s.n = 1 + (int)cd_rng_below(t, 2, 0, 9);
                s.in = 1 + (int)cd_rng_below(t, 2, 1, 150);
                s.out = 1 + (int)cd_rng_below(t, 2, 2, 40);
            }
            const size_t nx = (size_t)s.n * s.in, ny = (size_t)s.n * s.out, nw = (size_t)s.in * s.out;
            float *x = rand_buf(nx, 3 * t), *w = rand_buf(nw, 3 * t + 1), *b = rand_buf((size_t)s.out, 3 * t + 2);
            float *dy = rand_buf(ny, 5 * t + 7);
            float *y0 = nan_buf(ny), *y1 = nan_buf(ny), *dx0 = nan_buf(nx), *dx1 = nan_buf(nx);
            float *dw0 = nan_buf(nw), *dw1 = nan_buf(nw), *db0 = nan_buf((size_t)s.out), *db1 = nan_buf((size_t)s.out);
            ref->linear_forward(&s, x, w, b, y0);
            k->linear_forward(&s, x, w, b, y1);
            ref->linear_backward_data(&s, dy, w, dx0);
            k->linear_backward_data(&s, dy, w, dx1);
            ref->linear_backward_weights(&s, x, dy, dw0, db0);
            k->linear_backward_weights(&s, x, dy, dw1, db1);
            double e[4] = {ts_max_rel_err(y1, y0, ny), ts_max_rel_err(dx1, dx0, nx), ts_max_rel_err(dw1, dw0, nw),
                           ts_max_rel_err(db1, db0, (size_t)s.out)};
            for (int i = 0; i < 4; i++)
                if (e[i] > TOL)
                    fail_msg("linear %s op %d n=%d in=%d out=%d: rel err %g", k->name, i, s.n, s.in, s.out, e[i]);
            free(x), free(w), free(b), free(dy), free(y0), free(y1), free(dx0), free(dx1);
            free(dw0), free(dw1), free(db0), free(db1);
        }
    }
    if (!ran) skip();
}

/* Pooling and ReLU pick values rather than compute them, so every set must agree bit for bit. */
static void test_simd_pool_relu_match_scalar_exactly(void **state)
{
    (void)state;
    const cd_kernels *ref = cd_kernels_scalar();
    int ran = 0;
    for (size_t ki = 0; ki < sizeof simd_kinds / sizeof simd_kinds[0]; ki++) {
        const cd_kernels *k = get_set(simd_kinds[ki]);
        if (!k) continue;
        ran++;
        /* after the random shapes: the exercise net's pools and narrow odd widths (w_out 1, 3, 5,
         * 7, 13) for each window kind, which the narrow-plane paths take */
        static const int fixed[][5] = {
            {8, 64, 7, 2, 2}, {8, 32, 14, 2, 2}, {8, 16, 28, 2, 2}, {3, 5, 2, 2, 2},  {2, 7, 7, 2, 2},
            {3, 3, 11, 2, 2}, {2, 5, 15, 2, 2},  {1, 3, 27, 2, 2},  {2, 5, 3, 3, 2},  {3, 3, 7, 3, 2},
            {2, 5, 11, 3, 2}, {2, 3, 15, 3, 2},  {1, 3, 27, 3, 2},  {2, 5, 2, 2, 1},  {3, 3, 4, 2, 1},
            {2, 5, 6, 2, 1},  {2, 3, 8, 2, 1},   {1, 3, 14, 2, 1},  {8, 9, 8, 2, 2},  {5, 7, 9, 2, 2},
        };
        const uint64_t nfixed = sizeof fixed / sizeof fixed[0];
        for (uint64_t t = 0; t < 40 + 2 * nfixed; t++) {
            cd_pool_shape s;
            s.n = 1 + (int)cd_rng_below(t, 3, 0, 9);
            s.c = 1 + (int)cd_rng_below(t, 3, 1, 33);
            s.k = 2 + (int)cd_rng_below(t, 3, 2, 2);
            s.stride = 1 + (int)cd_rng_below(t, 3, 3, 3);
            s.h_in = s.k + (int)cd_rng_below(t, 3, 4, 25);
            s.w_in = s.k + (int)cd_rng_below(t, 3, 5, 25);
            if (t == 0) s = (cd_pool_shape){.n = 8, .c = 10, .h_in = 24, .w_in = 24, .k = 2, .stride = 2};
            if (t == 1) s = (cd_pool_shape){.n = 8, .c = 20, .h_in = 8, .w_in = 8, .k = 2, .stride = 2};
            /* rows of VL/2 multiples (the flat half-vector path) ending in a lone half vector, the
             * second with an odd last column (the backward falls back) */
            if (t == 2) s = (cd_pool_shape){.n = 1, .c = 3, .h_in = 6, .w_in = 24, .k = 2, .stride = 2};
            if (t == 3) s = (cd_pool_shape){.n = 3, .c = 1, .h_in = 7, .w_in = 9, .k = 2, .stride = 2};
            if (t == 4) s = (cd_pool_shape){.n = 1, .c = 1, .h_in = 2, .w_in = 16, .k = 2, .stride = 2};
            if (t == 5) s = (cd_pool_shape){.n = 2, .c = 3, .h_in = 5, .w_in = 8, .k = 2, .stride = 2};
            if (t >= 40) {
                const int *f = fixed[(t - 40) % nfixed];
                s = (cd_pool_shape){.n = f[0], .c = f[1], .h_in = f[2] + (int)(t % 2), .w_in = f[2], .k = f[3],
                                    .stride = f[4]};
            }
            s.h_out = (s.h_in - s.k) / s.stride + 1;
            s.w_out = (s.w_in - s.k) / s.stride + 1;
            const size_t nx = (size_t)s.n * s.c * s.h_in * s.w_in, ny = (size_t)s.n * s.c * s.h_out * s.w_out;
            float *x = rand_buf(nx, 11 * t);
            /* few distinct values: ties are common */
            for (size_t i = 0; i < nx; i++) x[i] = floorf(x[i] * 2.0f);
            /* the second pass over the fixed shapes: every value equal, so every window is a tie
             * and the first element of each must win */
            if (t >= 40 + nfixed)
                for (size_t i = 0; i < nx; i++) x[i] = 1.0f;
            float *dy = rand_buf(ny, 11 * t + 1);
            float *y0 = nan_buf(ny), *y1 = nan_buf(ny), *dx0 = nan_buf(nx), *dx1 = nan_buf(nx);
            int32_t *a0 = malloc(sizeof(int32_t) * ny), *a1 = malloc(sizeof(int32_t) * ny);
            assert_non_null(a0);
            assert_non_null(a1);
            ref->pool_forward(&s, x, y0, a0);
            k->pool_forward(&s, x, y1, a1);
            assert_memory_equal(y0, y1, sizeof(float) * ny);
            assert_memory_equal(a0, a1, sizeof(int32_t) * ny);
            ref->pool_backward(&s, dy, a0, dx0);
            k->pool_backward(&s, dy, a1, dx1);
            assert_memory_equal(dx0, dx1, sizeof(float) * nx);

            /* relu on the same data, with a NaN and signed zeros thrown in, in place too */
            x[0] = NAN;
            if (nx > 2) x[1] = -0.0f, x[2] = 0.0f;
            float *r0 = nan_buf(nx), *r1 = nan_buf(nx);
            ref->relu_forward(nx, x, r0);
            k->relu_forward(nx, x, r1);
            assert_memory_equal(r0, r1, sizeof(float) * nx);
            assert_true(isnan(r1[0]));
            memcpy(r1, x, sizeof(float) * nx);
            k->relu_forward(nx, r1, r1);
            assert_memory_equal(r0, r1, sizeof(float) * nx);
            float *g = rand_buf(nx, 11 * t + 2), *g0 = nan_buf(nx), *g1 = nan_buf(nx);
            ref->relu_backward(nx, r0, g, g0);
            k->relu_backward(nx, r0, g, g1);
            assert_memory_equal(g0, g1, sizeof(float) * nx);
            k->relu_backward(nx, r0, g, g);
            assert_memory_equal(g0, g, sizeof(float) * nx);
            free(x), free(dy), free(y0), free(y1), free(dx0), free(dx1), free(a0), free(a1);
            free(r0), free(r1), free(g), free(g0), free(g1);
        }
    }
    if (!ran) skip();
}

static void test_pool_overlapping_windows_accumulate(void **state)
{
    (void)state;
    for (size_t ki = 0; ki < sizeof all_kinds / sizeof all_kinds[0]; ki++) {
        const cd_kernels *k = get_set(all_kinds[ki]);
        if (!k) continue;
        /* 3x3 windows, stride 1, on a 4x4 with one big centre value: it wins all four windows */
        float x[16] = {0};
        x[5] = 9.0f;
        cd_pool_shape s = {.n = 1, .c = 1, .h_in = 4, .w_in = 4, .h_out = 2, .w_out = 2, .k = 3, .stride = 1};
        float y[4], dx[16];
        int32_t am[4];
        k->pool_forward(&s, x, y, am);
        for (int i = 0; i < 4; i++) assert_int_equal(am[i], 5);
        const float dy[4] = {1, 2, 3, 4};
        k->pool_backward(&s, dy, am, dx);
        assert_true(dx[5] == 10.0f);
        for (int i = 0; i < 16; i++)
            if (i != 5) assert_true(dx[i] == 0.0f);
    }
}

/* SGD is elementwise with the same expression everywhere: bit-identical across sets and tails. */
static void test_sgd_bit_identical_across_sets(void **state)
{
    (void)state;
    for (size_t n = 1; n < 80; n += 7) {
        float *w0 = rand_buf(n, n), *v0 = rand_buf(n, n + 1), *g = rand_buf(n, n + 2);
        for (size_t i = 0; i < n; i++) g[i] *= 1e-3f;
        float *w1 = malloc(sizeof(float) * n), *v1 = malloc(sizeof(float) * n);
        assert_non_null(w1);
        assert_non_null(v1);
        memcpy(w1, w0, sizeof(float) * n);
        memcpy(v1, v0, sizeof(float) * n);
        /* the plain formula, by hand, for the first element */
        const float lr = 0.01f, mu = 0.9f;
        float want_v = mu * v0[0] + g[0], want_w = w0[0] - lr * want_v;
        cd_kernels_scalar()->sgd_momentum(n, w0, v0, g, lr, mu);
        assert_true(v0[0] == want_v && w0[0] == want_w);
        for (size_t ki = 1; ki < sizeof all_kinds / sizeof all_kinds[0]; ki++) {
            const cd_kernels *k = get_set(all_kinds[ki]);
            if (!k) continue;
            float *w2 = malloc(sizeof(float) * n), *v2 = malloc(sizeof(float) * n);
            assert_non_null(w2);
            assert_non_null(v2);
            memcpy(w2, w1, sizeof(float) * n);
            memcpy(v2, v1, sizeof(float) * n);
            k->sgd_momentum(n, w2, v2, g, lr, mu);
            assert_memory_equal(w2, w0, sizeof(float) * n);
            assert_memory_equal(v2, v0, sizeof(float) * n);
            free(w2), free(v2);
        }
        free(w0), free(v0), free(g), free(w1), free(v1);
    }
}


/* The SIMD conv forward is documented as one chain per output: acc = b, then acc = fma(w, x, acc)
 * over (ci, kh, kw) in order, padding taps included as x = 0. Its bits must be exactly that,
 * whichever internal path (im2col, direct "wide", padded copy) the shape takes. */
static void fma_chain_forward(const cd_conv_shape *s, const float *x, const float *w, const float *b, float *y)
{
    for (int n = 0; n < s->n; n++)
        for (int co = 0; co < s->c_out; co++)
            for (int oh = 0; oh < s->h_out; oh++)
                for (int ow = 0; ow < s->w_out; ow++) {
                    float acc = b[co];
                    for (int ci = 0; ci < s->c_in; ci++)
                        for (int kh = 0; kh < s->k_h; kh++)
                            for (int kw = 0; kw < s->k_w; kw++) {
                                const int ih = oh * s->stride + kh - s->pad, iw = ow * s->stride + kw - s->pad;
                                const float xv = ih < 0 || ih >= s->h_in || iw < 0 || iw >= s->w_in
                                                     ? 0.0f
                                                     : x[(((size_t)n * s->c_in + ci) * s->h_in + ih) * s->w_in + iw];
                                acc = fmaf(w[(((size_t)co * s->c_in + ci) * s->k_h + kh) * s->k_w + kw], xv, acc);
                            }
                    y[(((size_t)n * s->c_out + co) * s->h_out + oh) * s->w_out + ow] = acc;
                }
}

static void test_simd_conv_forward_is_the_fma_chain(void **state)
{
    (void)state;
    int ran = 0;
    for (size_t ki = 0; ki < sizeof simd_kinds / sizeof simd_kinds[0]; ki++) {
        const cd_kernels *k = get_set(simd_kinds[ki]);
        if (!k) continue;
        ran++;
        const cd_conv_shape shapes[] = {
            conv_shape(3, 1, 28, 28, 10, 5, 1, 0),  conv_shape(2, 10, 12, 12, 20, 5, 1, 0),
            conv_shape(2, 1, 28, 28, 16, 3, 1, 1),  conv_shape(2, 16, 14, 14, 32, 3, 1, 1),
            conv_shape(2, 32, 7, 7, 64, 3, 1, 1),   conv_shape(2, 3, 9, 11, 4, 3, 1, 2),
            conv_shape(2, 2, 10, 9, 3, 3, 2, 1),    conv_shape(1, 1, 5, 5, 2, 5, 1, 0),
            conv_shape(2, 1, 17, 33, 5, 7, 1, 3),
            /* output rows of 8 and 4 floats (whole or half vectors in the im2col
             * path: c_out 20 rules the direct one out), even and odd row counts */
            conv_shape(2, 2, 11, 12, 20, 5, 1, 0),  conv_shape(2, 2, 12, 12, 20, 5, 1, 0),
            conv_shape(2, 2, 8, 8, 20, 5, 1, 0),    conv_shape(2, 2, 9, 6, 20, 3, 1, 0),
            /* the rows path: output rows of 1, 2 and 3 whole vectors (8 or 16 lanes), padded too,
             * odd row counts and c_out not a multiple of the row block */
            conv_shape(2, 2, 20, 20, 6, 5, 1, 0),   conv_shape(2, 3, 16, 16, 9, 3, 1, 1),
            conv_shape(1, 2, 35, 36, 5, 5, 1, 0),   conv_shape(2, 1, 28, 28, 3, 5, 1, 0),
            conv_shape(2, 3, 13, 16, 7, 3, 1, 1),   conv_shape(1, 4, 52, 52, 13, 5, 1, 0),
            /* ragged rows (padded): a whole vector and a ragged one per row, blocks across rows,
             * row counts and c_out off the block sizes, k5 p2 */
            conv_shape(2, 2, 13, 13, 6, 3, 1, 1),   conv_shape(3, 2, 15, 15, 5, 5, 1, 2),
            conv_shape(2, 5, 7, 7, 9, 3, 1, 1),
        };
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            const cd_conv_shape *s = &shapes[i];
            const size_t nx = conv_x_len(s), ny = conv_y_len(s);
            float *x = rand_buf(nx, 500 + i), *w = rand_buf(conv_w_len(s), 600 + i);
            float *b = rand_buf((size_t)s->c_out, 700 + i), *y0 = nan_buf(ny), *y1 = nan_buf(ny);
            const cd_conv_plan plan = plan_for(k, s);
            float *work = work_for(k, s, &plan);
            fma_chain_forward(s, x, w, b, y0);
            k->conv_forward(s, &plan, x, w, b, y1, work);
            for (size_t j = 0; j < ny; j++)
                if (memcmp(&y0[j], &y1[j], sizeof(float)) != 0)
                    fail_msg("%s conv forward shape %zu: output %zu is %.9g, the fma chain gives %.9g", k->name, i, j,
                             (double)y1[j], (double)y0[j]);
            free(x), free(w), free(b), free(y0), free(y1);
            cd_free(work);
        }
    }
    if (!ran) skip();
}

/* argmax == NULL (inference): the same values, in every set, for the 2x2 fast path and others. */
static void test_pool_forward_without_argmax(void **state)
{
    (void)state;
    const cd_pool_shape shapes[] = {
        {.n = 3, .c = 10, .h_in = 24, .w_in = 24, .h_out = 12, .w_out = 12, .k = 2, .stride = 2},
        {.n = 2, .c = 3, .h_in = 7, .w_in = 37, .h_out = 3, .w_out = 18, .k = 2, .stride = 2},
        {.n = 2, .c = 3, .h_in = 9, .w_in = 10, .h_out = 4, .w_out = 4, .k = 3, .stride = 2},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const cd_pool_shape *s = &shapes[i];
        const size_t nx = (size_t)s->n * s->c * s->h_in * s->w_in, ny = (size_t)s->n * s->c * s->h_out * s->w_out;
        float *x = rand_buf(nx, 40 + i), *y0 = nan_buf(ny), *y1 = nan_buf(ny);
        for (size_t j = 0; j < nx; j++) x[j] = floorf(x[j] * 2.0f);
        x[3] = NAN, x[nx / 2] = NAN; /* NaN handling must match too */
        int32_t *am = malloc(sizeof(int32_t) * ny);
        assert_non_null(am);
        cd_kernels_scalar()->pool_forward(s, x, y0, am);
        for (size_t ki = 0; ki < sizeof all_kinds / sizeof all_kinds[0]; ki++) {
            const cd_kernels *k = get_set(all_kinds[ki]);
            if (!k) continue;
            for (size_t j = 0; j < ny; j++) y1[j] = NAN;
            k->pool_forward(s, x, y1, NULL);
            assert_memory_equal(y0, y1, sizeof(float) * ny);
        }
        free(x), free(y0), free(y1), free(am);
    }
}

/* pool_backward's 2x2 fast path must give the scalar bits for any argmax, including ones that do
 * not come from pool_forward (outside their window, repeated), and -0 / NaN gradients. */
static void test_pool_backward_any_argmax(void **state)
{
    (void)state;
    /* row kernel (w_out 18) and flat half vectors (w_out 12 with AVX2, 8 with AVX-512) */
    static const cd_pool_shape shapes[] = {
        {.n = 2, .c = 3, .h_in = 9, .w_in = 37, .h_out = 4, .w_out = 18, .k = 2, .stride = 2},
        {.n = 1, .c = 3, .h_in = 6, .w_in = 24, .h_out = 3, .w_out = 12, .k = 2, .stride = 2},
        {.n = 3, .c = 1, .h_in = 6, .w_in = 16, .h_out = 3, .w_out = 8, .k = 2, .stride = 2},
    };
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const cd_pool_shape s = shapes[si];
        const size_t nx = (size_t)s.n * s.c * s.h_in * s.w_in, ny = (size_t)s.n * s.c * s.h_out * s.w_out;
        float *x = rand_buf(nx, 77), *y = nan_buf(ny), *dy = rand_buf(ny, 78), *dx0 = nan_buf(nx), *dx1 = nan_buf(nx);
        int32_t *am = malloc(sizeof(int32_t) * ny);
        assert_non_null(am);
        dy[0] = -0.0f, dy[5] = NAN;
        for (int variant = 0; variant < 2; variant++) {
            cd_kernels_scalar()->pool_forward(&s, x, y, am);
            if (variant == 1) am[ny - 3] = am[7]; /* a winner outside its window: two grads meet */
            cd_kernels_scalar()->pool_backward(&s, dy, am, dx0);
            for (size_t ki = 0; ki < sizeof simd_kinds / sizeof simd_kinds[0]; ki++) {
                const cd_kernels *k = get_set(simd_kinds[ki]);
                if (!k) continue;
                for (size_t j = 0; j < nx; j++) dx1[j] = NAN;
                k->pool_backward(&s, dy, am, dx1);
                assert_memory_equal(dx0, dx1, sizeof(float) * nx);
            }
        }
        free(x), free(y), free(dy), free(dx0), free(dx1), free(am);
    }
}

/* ---------------------------------------------------------------------- determinism contract */

static void check_conv_batch_invariance(const cd_kernels *k, cd_conv_shape s, uint64_t seed)
{
    s.n = 11; /* more samples than one conv group (8): positions in a second, ragged group too */
    const size_t xs = conv_x_len(&s) / 11, ys = conv_y_len(&s) / 11, nw = conv_w_len(&s);
    float *x = rand_buf(xs * 11, seed), *w = rand_buf(nw, seed + 1), *b = rand_buf((size_t)s.c_out, seed + 2);
    float *dy = rand_buf(ys * 11, seed + 3);
    float *y = nan_buf(ys * 11), *dx = nan_buf(xs * 11), *y1 = nan_buf(ys), *dx1 = nan_buf(xs);
    /* one plan for both batch sizes, as the model uses it; it must be the plan for n = 1 too */
    const cd_conv_plan plan = plan_for(k, &s);
    float *work = work_for(k, &s, &plan);
    k->conv_forward(&s, &plan, x, w, b, y, work);
    k->conv_backward_data(&s, &plan, dy, w, dx, work);
    cd_conv_shape one = s;
    one.n = 1;
    const cd_conv_plan plan1 = plan_for(k, &one);
    assert_memory_equal(&plan1, &plan, sizeof plan);
    float *work1 = work_for(k, &one, &plan);
    for (int i = 0; i < 11; i++) {
        k->conv_forward(&one, &plan, x + i * xs, w, b, y1, work1);
        if (memcmp(y1, y + i * ys, sizeof(float) * ys) != 0)
            fail_msg("%s conv forward c_in=%d c_out=%d %dx%d k=%d: sample %d alone differs from in batch", k->name,
                     s.c_in, s.c_out, s.h_in, s.w_in, s.k_h, i);
        k->conv_backward_data(&one, &plan, dy + i * ys, w, dx1, work1);
        if (memcmp(dx1, dx + i * xs, sizeof(float) * xs) != 0)
            fail_msg("%s conv backward_data c_in=%d c_out=%d k=%d: sample %d alone differs from in batch", k->name,
                     s.c_in, s.c_out, s.k_h, i);
    }
    /* backward_weights: same inputs and shape, same bits */
    float *dwa = nan_buf(nw), *dwb = nan_buf(nw), *dba = nan_buf((size_t)s.c_out), *dbb = nan_buf((size_t)s.c_out);
    k->conv_backward_weights(&s, &plan, x, dy, dwa, dba, work);
    k->conv_backward_weights(&s, &plan, x, dy, dwb, dbb, work);
    assert_memory_equal(dwa, dwb, sizeof(float) * nw);
    assert_memory_equal(dba, dbb, sizeof(float) * (size_t)s.c_out);
    free(x), free(w), free(b), free(dy), free(y), free(dx), free(y1), free(dx1);
    free(dwa), free(dwb), free(dba), free(dbb);
    cd_free(work), cd_free(work1);
}

static void test_one_image_equals_image_in_batch(void **state)
{
    (void)state;
    for (size_t ki = 0; ki < sizeof all_kinds / sizeof all_kinds[0]; ki++) {
        const cd_kernels *k = get_set(all_kinds[ki]);
        if (!k) continue;
        check_conv_batch_invariance(k, conv_shape(7, 1, 28, 28, 10, 5, 1, 0), 1);
        check_conv_batch_invariance(k, conv_shape(7, 10, 12, 12, 20, 5, 1, 0), 2);
        check_conv_batch_invariance(k, conv_shape(7, 16, 14, 14, 32, 3, 1, 1), 3);
        check_conv_batch_invariance(k, conv_shape(7, 32, 7, 7, 64, 3, 1, 1), 4);
        check_conv_batch_invariance(k, conv_shape(7, 3, 11, 9, 5, 3, 2, 2), 5);
        check_conv_batch_invariance(k, conv_shape(7, 4, 5, 5, 3, 1, 1, 0), 6);

        const cd_linear_shape shapes[] = {{7, 320, 10}, {7, 576, 128}, {7, 37, 13}};
        for (size_t si = 0; si < 3; si++) {
            cd_linear_shape s = shapes[si], one = s;
            one.n = 1;
            float *x = rand_buf((size_t)s.n * s.in, si), *w = rand_buf((size_t)s.in * s.out, si + 9);
            float *b = rand_buf((size_t)s.out, si + 19), *dy = rand_buf((size_t)s.n * s.out, si + 29);
            float *y = nan_buf((size_t)s.n * s.out), *y1 = nan_buf((size_t)s.out);
            float *dx = nan_buf((size_t)s.n * s.in), *dx1 = nan_buf((size_t)s.in);
            k->linear_forward(&s, x, w, b, y);
            k->linear_backward_data(&s, dy, w, dx);
            for (int i = 0; i < s.n; i++) {
                k->linear_forward(&one, x + (size_t)i * s.in, w, b, y1);
                if (memcmp(y1, y + (size_t)i * s.out, sizeof(float) * (size_t)s.out) != 0)
                    fail_msg("%s linear forward %dx%d: sample %d alone differs from in batch", k->name, s.in, s.out, i);
                k->linear_backward_data(&one, dy + (size_t)i * s.out, w, dx1);
                if (memcmp(dx1, dx + (size_t)i * s.in, sizeof(float) * (size_t)s.in) != 0)
                    fail_msg("%s linear backward_data %dx%d: sample %d differs", k->name, s.in, s.out, i);
            }
            free(x), free(w), free(b), free(dy), free(y), free(y1), free(dx), free(dx1);
        }
    }
}

/* The fused fixed-point linear weight gradient: every set gives exactly the reference integers
 * (one llrint of each float product, summed over samples) and refuses NaN and out-of-range values. */
static void test_linear_fixed_is_exact(void **state)
{
    (void)state;
    const cd_linear_shape shapes[] = {{1, 3, 2}, {7, 320, 10}, {16, 576, 128}, {5, 33, 17}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const cd_linear_shape s = shapes[si];
        const size_t nx = (size_t)s.n * s.in, ny = (size_t)s.n * s.out, nw = (size_t)s.out * s.in;
        float *x = rand_buf(nx, 50 + si), *dy = rand_buf(ny, 60 + si);
        for (size_t i = 0; i < ny; i++) dy[i] *= 1.0f / 64; /* a step's scale */
        int64_t *want = calloc(nw + (size_t)s.out, sizeof *want);
        for (int n = 0; n < s.n; n++)
            for (int o = 0; o < s.out; o++) {
                const float d = dy[(size_t)n * s.out + o];
                for (int i = 0; i < s.in; i++) want[(size_t)o * s.in + i] += llrint((double)(d * x[(size_t)n * s.in + i]) * 0x1p40);
                want[nw + o] += llrint((double)d * 0x1p40);
            }
        for (size_t ki = 0; ki < sizeof all_kinds / sizeof all_kinds[0]; ki++) {
            const cd_kernels *k = get_set(all_kinds[ki]);
            if (!k) continue;
            int64_t *got = calloc(nw + (size_t)s.out, sizeof *got);
            assert_int_equal(k->linear_backward_weights_fixed(&s, x, dy, got, got + nw), 0);
            if (memcmp(got, want, sizeof(int64_t) * (nw + (size_t)s.out)) != 0)
                fail_msg("%s linear fixed %dx%dx%d: not the reference integers", k->name, s.n, s.in, s.out);
            /* the sums add onto what is there */
            assert_int_equal(k->linear_backward_weights_fixed(&s, x, dy, got, got + nw), 0);
            for (size_t i = 0; i < nw + (size_t)s.out; i++) assert_true(got[i] == 2 * want[i]);
            /* NaN, and a product beyond the limit, are reported */
            const float keep = x[nx - 1];
            x[nx - 1] = NAN;
            assert_int_not_equal(k->linear_backward_weights_fixed(&s, x, dy, got, got + nw), 0);
            x[nx - 1] = 1e9f;
            assert_int_not_equal(k->linear_backward_weights_fixed(&s, x, dy, got, got + nw), 0);
            x[nx - 1] = keep;
            free(got);
        }
        free(x), free(dy), free(want);
    }
}

/* ------------------------------------------------------------------------------ the conv plan */

/* The paths each op can take, per set (bit p: path p). A plan outside these fails, and so does a
 * path none of the shapes below reaches: a heuristic change that orphans one must say so here. */
#define PATH(p) (1u << (p))
static const unsigned scalar_paths[3] = {PATH(CD_CONV_SCALAR), PATH(CD_CONV_SCALAR), PATH(CD_CONV_SCALAR)};
static const unsigned simd_paths[3] = {
    PATH(CD_CONV_POINTWISE) | PATH(CD_CONV_IM2COL) | PATH(CD_CONV_DIRECT) | PATH(CD_CONV_ROWS),
    PATH(CD_CONV_POINTWISE) | PATH(CD_CONV_COL2IM) | PATH(CD_CONV_DATA_AS_CONV),
    /* the dot-GEMM weight paths are tested forced (check_conv_shape), since no plan takes them */
    /* and direct-wgrad, which rows-wgrad replaced in every plan (same bits, checked there too) */
    PATH(CD_CONV_POINTWISE) | PATH(CD_CONV_IM2COL_WGRAD) | PATH(CD_CONV_ROWS_WGRAD),
};
static const char *const op_names[3] = {"forward", "backward_data", "backward_weights"};

static void path_list(unsigned mask, char *buf, size_t size)
{
    buf[0] = 0;
    for (int p = 0; p < CD_CONV_PATH_COUNT; p++)
        if (mask & PATH(p)) {
            size_t used = strlen(buf);
            snprintf(buf + used, size - used, "%s%s", used ? " " : "", cd_conv_path_name((cd_conv_path)p));
        }
}

/* Every path of every set is hit by one of these shapes, with 8 lanes and with 16 (plans as
 * forward / data / weights), and each shape matches the scalar reference on its plan's paths. */
static void test_conv_plan_takes_every_path(void **state)
{
    (void)state;
    const cd_conv_shape shapes[] = {
        conv_shape(3, 1, 28, 28, 10, 5, 1, 0),  /* rows (8 lanes), direct (16) / col2im / rows-wgrad */
        conv_shape(3, 10, 12, 12, 20, 5, 1, 0), /* rows (8 lanes), im2col (16) / col2im / rows-wgrad */
        conv_shape(3, 2, 20, 20, 6, 5, 1, 0),   /* rows / col2im / rows-wgrad */
        conv_shape(3, 3, 16, 16, 9, 3, 1, 1),   /* rows (padded) / as-conv / rows-wgrad */
        conv_shape(3, 16, 14, 14, 32, 3, 1, 1), /* rows (ragged rows, padded) / as-conv / rows-wgrad */
        conv_shape(3, 32, 7, 7, 64, 3, 1, 1),   /* rows (8 lanes), im2col (16) / col2im / rows-wgrad */
        conv_shape(3, 2, 14, 14, 8, 3, 1, 0),   /* direct (ragged rows, no padding) / col2im / rows-wgrad */
        conv_shape(3, 5, 6, 6, 7, 1, 1, 0),     /* pointwise / pointwise / pointwise */
        conv_shape(3, 3, 11, 9, 32, 3, 2, 1),   /* im2col / col2im / im2col-wgrad */
    };
    const cd_kernels *ref = cd_kernels_scalar();
    for (size_t ki = 0; ki < sizeof all_kinds / sizeof all_kinds[0]; ki++) {
        const cd_kernels *k = get_set(all_kinds[ki]);
        if (!k) continue;
        const unsigned *allowed = all_kinds[ki] == CD_KERNELS_SCALAR ? scalar_paths : simd_paths;
        unsigned hit[3] = {0, 0, 0};
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            const cd_conv_plan plan = plan_for(k, &shapes[i]);
            const cd_conv_path path[3] = {plan.forward, plan.backward_data, plan.backward_weights};
            for (int op = 0; op < 3; op++) {
                if (!(allowed[op] & PATH(path[op])))
                    fail_msg("%s shape %zu: %s path %s is not one of that op's", k->name, i, op_names[op],
                             cd_conv_path_name(path[op]));
                hit[op] |= PATH(path[op]);
            }
            /* the plan is a function of the shape without n */
            cd_conv_shape other = shapes[i];
            for (int n = 1; n <= 64; n *= 4) {
                other.n = n;
                const cd_conv_plan pn = plan_for(k, &other);
                assert_memory_equal(&pn, &plan, sizeof plan);
            }
            check_conv_shape(ref, k, &shapes[i], 900 + i);
        }
        for (int op = 0; op < 3; op++)
            if (hit[op] != allowed[op]) {
                char missing[256];
                path_list(allowed[op] & ~hit[op], missing, sizeof missing);
                fail_msg("%s %s: no test shape takes %s", k->name, op_names[op], missing);
            }
    }
}

static void test_conv_path_names(void **state)
{
    (void)state;
    for (int p = 0; p < CD_CONV_PATH_COUNT; p++) {
        const char *name = cd_conv_path_name((cd_conv_path)p);
        assert_string_not_equal(name, "?");
        for (int q = 0; q < p; q++) assert_string_not_equal(name, cd_conv_path_name((cd_conv_path)q));
    }
    assert_string_equal(cd_conv_path_name(CD_CONV_PATH_COUNT), "?");
    const cd_conv_plan plan = {CD_CONV_DIRECT, CD_CONV_DATA_AS_CONV, CD_CONV_DIRECT_WGRAD};
    char buf[128];
    cd_conv_plan_describe(&plan, buf, sizeof buf);
    assert_string_equal(buf, "forward direct, data as-conv, weights direct-wgrad");
    cd_conv_plan_describe(&plan, buf, 12);
    assert_string_equal(buf, "forward dir");
}

/* ---------------------------------------------------------------------------------- dispatch */

static void test_dispatch(void **state)
{
    (void)state;
    cd_error err;
    cd_kernel_kind kind;
    assert_int_equal(cd_kernel_kind_parse("auto", &kind, &err), CD_OK);
    assert_int_equal(kind, CD_KERNELS_AUTO);
    assert_int_equal(cd_kernel_kind_parse("scalar", &kind, &err), CD_OK);
    assert_int_equal(kind, CD_KERNELS_SCALAR);
    assert_int_equal(cd_kernel_kind_parse("avx2", &kind, &err), CD_OK);
    assert_int_equal(kind, CD_KERNELS_AVX2);
    assert_int_equal(cd_kernel_kind_parse("avx512", &kind, &err), CD_OK);
    assert_int_equal(kind, CD_KERNELS_AVX512);
    assert_int_equal(cd_kernel_kind_parse("sse9", &kind, &err), CD_E_USAGE);
    assert_non_null(strstr(err.msg, "sse9"));
    assert_int_equal(cd_kernel_kind_parse("AVX2", &kind, &err), CD_E_USAGE);
    assert_non_null(strstr(err.msg, "expected auto, scalar, avx2 or avx512"));

    /* one list of names: parse, cd_kernel_kind_name and the tables' .name agree */
    const cd_kernel_kind every[] = {CD_KERNELS_AUTO, CD_KERNELS_SCALAR, CD_KERNELS_AVX2, CD_KERNELS_AVX512};
    const char *every_name[] = {"auto", "scalar", "avx2", "avx512"};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(cd_kernel_kind_name(every[i]), every_name[i]);
        assert_int_equal(cd_kernel_kind_parse(cd_kernel_kind_name(every[i]), &kind, &err), CD_OK);
        assert_int_equal(kind, every[i]);
    }
    assert_string_equal(cd_kernel_kind_name((cd_kernel_kind)99), "?");
    const cd_kernels *tables[] = {cd_kernels_scalar(), cd_kernels_avx2(), cd_kernels_avx512()};
    for (int i = 0; i < 3; i++)
        if (tables[i]) assert_ptr_equal(tables[i]->name, cd_kernel_kind_name(every[i + 1]));

    const cd_kernels *k = NULL;
    assert_true(cd_kernels_supported(CD_KERNELS_SCALAR));
    assert_int_equal(cd_kernels_select(CD_KERNELS_SCALAR, &k, &err), CD_OK);
    assert_string_equal(k->name, "scalar");
    assert_int_equal(cd_kernels_select(CD_KERNELS_AUTO, &k, &err), CD_OK);
    const char *best = cd_kernels_supported(CD_KERNELS_AVX512) ? "avx512"
                       : cd_kernels_supported(CD_KERNELS_AVX2) ? "avx2"
                                                               : "scalar";
    assert_string_equal(k->name, best);
    /* AVX-512 implies AVX2 on every CPU that has it */
    if (cd_kernels_supported(CD_KERNELS_AVX512)) assert_true(cd_kernels_supported(CD_KERNELS_AVX2));
    const cd_kernel_kind simd[] = {CD_KERNELS_AVX2, CD_KERNELS_AVX512};
    const char *names[] = {"avx2", "avx512"};
    for (int i = 0; i < 2; i++) {
        cd_status st = cd_kernels_select(simd[i], &k, &err);
        if (cd_kernels_supported(simd[i])) {
            assert_int_equal(st, CD_OK);
            assert_string_equal(k->name, names[i]);
        } else {
            assert_int_equal(st, CD_E_USAGE);
            assert_non_null(strstr(err.msg, names[i]));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_conv_known_numbers),
        cmocka_unit_test(test_scalar_linear_and_pool_known_numbers),
        cmocka_unit_test(test_simd_conv_matches_scalar),
        cmocka_unit_test(test_simd_linear_matches_scalar),
        cmocka_unit_test(test_linear_fixed_is_exact),
        cmocka_unit_test(test_simd_pool_relu_match_scalar_exactly),
        cmocka_unit_test(test_pool_overlapping_windows_accumulate),
        cmocka_unit_test(test_simd_conv_forward_is_the_fma_chain),
        cmocka_unit_test(test_pool_forward_without_argmax),
        cmocka_unit_test(test_pool_backward_any_argmax),
        cmocka_unit_test(test_sgd_bit_identical_across_sets),
        cmocka_unit_test(test_one_image_equals_image_in_batch),
        cmocka_unit_test(test_conv_plan_takes_every_path),
        cmocka_unit_test(test_conv_path_names),
        cmocka_unit_test(test_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
