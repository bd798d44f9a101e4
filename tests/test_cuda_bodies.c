/* The CUDA kernels' per-element bodies (src/kernels/cuda/<family>_body.h), run on the host over every output
 * element of random shapes, must give the scalar reference's bits exactly. Needs no GPU. This file is
 * also compiled by nvcc as C++ (tests/cuda/test_cuda_bodies_nvcc.cu) so the __host__ __device__
 * versions are checked too; keep it valid C and C++ (casts on allocations, no compound literals). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#ifdef __cplusplus
extern "C" {
#endif
#include <cmocka.h>
#include "cnn_ddp/kernels.h"
#include "cnn_ddp/fixed_point.h"
#include "test_support.h"
#ifdef __cplusplus
}
#endif

#include "kernels/cuda/conv_body.h"
#include "kernels/cuda/dense_body.h"
#include "kernels/cuda/loss_body.h"
#include "kernels/cuda/pool_body.h"
#include "kernels/cuda/update_body.h"

static uint64_t next_u64(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state >> 33;
}

static int rand_in(uint64_t *state, int lo, int hi) { return lo + (int)(next_u64(state) % (uint64_t)(hi - lo + 1)); }

static float *alloc_floats(size_t n) { return (float *)calloc(n ? n : 1, sizeof(float)); }

static void assert_bits_equal(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            fail_msg("%s: element %zu of %zu differs: body %.9g, scalar %.9g", what, i, n, (double)a[i], (double)b[i]);
}

static void test_conv_bodies_match_scalar(void **state)
{
    (void)state;
    const cd_kernels *k = cd_kernels_scalar();
    uint64_t rng = 12345;
    for (int trial = 0; trial < 40; trial++) {
        cd_conv_shape s;
        memset(&s, 0, sizeof s);
        s.n = rand_in(&rng, 1, 3);
        s.c_in = rand_in(&rng, 1, 4);
        s.c_out = rand_in(&rng, 1, 5);
        s.k_h = s.k_w = rand_in(&rng, 1, 5);
        s.stride = rand_in(&rng, 1, 3);
        s.pad = rand_in(&rng, 0, s.k_h - 1);
        s.h_in = rand_in(&rng, s.k_h, 12);
        s.w_in = rand_in(&rng, s.k_w, 12);
        s.h_out = (s.h_in + 2 * s.pad - s.k_h) / s.stride + 1;
        s.w_out = (s.w_in + 2 * s.pad - s.k_w) / s.stride + 1;
        size_t nx = (size_t)s.n * s.c_in * s.h_in * s.w_in, ny = (size_t)s.n * s.c_out * s.h_out * s.w_out;
        size_t nw = (size_t)s.c_out * s.c_in * s.k_h * s.k_w;
        float *x = alloc_floats(nx), *w = alloc_floats(nw), *b = alloc_floats((size_t)s.c_out);
        float *dy = alloc_floats(ny), *ref = alloc_floats(nx > ny ? (nx > nw ? nx : nw) : (ny > nw ? ny : nw));
        float *got = alloc_floats(nx > ny ? (nx > nw ? nx : nw) : (ny > nw ? ny : nw));
        float *refb = alloc_floats((size_t)s.c_out), *gotb = alloc_floats((size_t)s.c_out);
        ts_fill_uniform(x, nx, 1000 + (uint64_t)trial, -1.0f, 1.0f);
        ts_fill_uniform(w, nw, 2000 + (uint64_t)trial, -1.0f, 1.0f);
        ts_fill_uniform(b, (size_t)s.c_out, 3000 + (uint64_t)trial, -1.0f, 1.0f);
        ts_fill_uniform(dy, ny, 4000 + (uint64_t)trial, -1.0f, 1.0f);

        cd_conv_plan plan;
        k->conv_plan(&s, &plan);
        k->conv_forward(&s, &plan, x, w, b, ref, NULL);
        for (size_t i = 0; i < ny; i++) got[i] = cd_body_conv_forward(s, x, w, b, i);
        assert_bits_equal(got, ref, ny, "conv forward");

        k->conv_backward_data(&s, &plan, dy, w, ref, NULL);
        for (size_t i = 0; i < nx; i++) got[i] = cd_body_conv_backward_data(s, dy, w, i);
        assert_bits_equal(got, ref, nx, "conv backward data");

        k->conv_backward_weights(&s, &plan, x, dy, ref, refb, NULL);
        for (size_t i = 0; i < nw; i++) got[i] = cd_body_conv_backward_weight(s, x, dy, i);
        for (int c = 0; c < s.c_out; c++) gotb[c] = cd_body_conv_backward_bias(s, dy, c);
        assert_bits_equal(got, ref, nw, "conv backward weights");
        assert_bits_equal(gotb, refb, (size_t)s.c_out, "conv backward bias");
        free(x), free(w), free(b), free(dy), free(ref), free(got), free(refb), free(gotb);
    }
}

/* The staged weight-gradient kernel of conv.cu, run on the host as the GPU runs it: block (c, co) after
 * block, band after band, the band's dy and x rows copied as the kernel copies them (into buffers that
 * hold NaN wherever nothing was staged, so a read outside the band shows), then every thread's sums in
 * turn. dw: [chunks][c_out][c_in][k_h][k_w], db: [chunks][c_out]. */
static void staged_weights(cd_conv_shape s, int chunks, int rows, const float *x, const float *dy, float *dw, float *db)
{
    const int taps = s.c_in * s.k_h * s.k_w;
    const size_t floats = cd_body_conv_staged_floats(s, rows);
    const size_t x_plane = (size_t)cd_body_conv_staged_x_rows(s, rows) * s.w_in;
    const size_t in_plane = (size_t)s.h_in * s.w_in, out_plane = (size_t)s.h_out * s.w_out;
    float *sh = alloc_floats(floats);
    float *acc = sh, *dyb = sh + taps + 1, *xb = dyb + (size_t)rows * s.w_out;
    for (int c = 0; c < chunks; c++)
        for (int co = 0; co < s.c_out; co++) {
            for (int j = 0; j <= taps; j++) acc[j] = 0.0f;
            for (int n = 0; n < s.n; n++) {
                const size_t sample = (size_t)c * s.n + (size_t)n;
                const float *xn = x + sample * s.c_in * in_plane, *dyn = dy + (sample * s.c_out + (size_t)co) * out_plane;
                for (int oh0 = 0; oh0 < s.h_out; oh0 += rows) {
                    int oh1, ih0, ih1;
                    cd_body_conv_band(s, oh0, rows, &oh1, &ih0, &ih1);
                    assert_true(oh1 > oh0 && oh1 - oh0 <= rows && ih0 >= 0 && ih1 <= s.h_in && ih0 <= ih1);
                    const size_t dy_n = (size_t)(oh1 - oh0) * s.w_out, x_n = (size_t)(ih1 - ih0) * s.w_in;
                    assert_true(ih1 - ih0 <= cd_body_conv_staged_x_rows(s, rows));
                    for (size_t i = taps + 1; i < floats; i++) sh[i] = NAN;
                    for (size_t i = 0; i < dy_n; i++) dyb[i] = dyn[(size_t)oh0 * s.w_out + i];
                    for (size_t i = 0; i < (size_t)s.c_in * x_n; i++) {
                        const size_t ci = i / x_n, r = i % x_n;
                        xb[ci * x_plane + r] = xn[ci * in_plane + (size_t)ih0 * s.w_in + r];
                    }
                    for (int j = 0; j <= taps; j++) {
                        if (j == taps) {
                            acc[j] = cd_body_conv_bias_rows(s, dyb, oh1 - oh0, acc[j]);
                            continue;
                        }
                        const int kw = j % s.k_w, kh = (j / s.k_w) % s.k_h, ci = j / (s.k_w * s.k_h);
                        acc[j] = cd_body_conv_weight_rows(s, xb, ih0, x_plane, dyb, oh0, oh1, ci, kh, kw, acc[j]);
                    }
                }
            }
            for (int j = 0; j < taps; j++) dw[((size_t)c * s.c_out + co) * taps + j] = acc[j];
            db[(size_t)c * s.c_out + co] = acc[taps];
        }
    free(sh);
}

static void conv_shape_set(cd_conv_shape *s, int n, int c_in, int h_in, int w_in, int c_out, int k, int stride, int pad)
{
    memset(s, 0, sizeof *s);
    s->n = n, s->c_in = c_in, s->h_in = h_in, s->w_in = w_in, s->c_out = c_out;
    s->k_h = s->k_w = k, s->stride = stride, s->pad = pad;
    s->h_out = (h_in + 2 * pad - k) / stride + 1;
    s->w_out = (w_in + 2 * pad - k) / stride + 1;
}

/* chunks chunks of shape s through the staged kernel with `rows` rows per band, against the scalar
 * reference's backward_weights of each chunk: bit for bit. */
static void check_staged(cd_conv_shape s, int chunks, int rows, uint64_t seed, const char *what)
{
    const cd_kernels *k = cd_kernels_scalar();
    const size_t xs = (size_t)s.n * s.c_in * s.h_in * s.w_in, ys = (size_t)s.n * s.c_out * s.h_out * s.w_out;
    const size_t nw = (size_t)s.c_out * s.c_in * s.k_h * s.k_w;
    float *x = alloc_floats(xs * chunks), *dy = alloc_floats(ys * chunks);
    float *dw = alloc_floats(nw * chunks), *db = alloc_floats((size_t)s.c_out * chunks);
    float *rw = alloc_floats(nw), *rb = alloc_floats((size_t)s.c_out);
    ts_fill_uniform(x, xs * chunks, seed, -1.0f, 1.0f);
    ts_fill_uniform(dy, ys * chunks, seed + 1, -1.0f, 1.0f);
    staged_weights(s, chunks, rows, x, dy, dw, db);
    cd_conv_plan plan;
    k->conv_plan(&s, &plan);
    char name[160];
    for (int c = 0; c < chunks; c++) {
        k->conv_backward_weights(&s, &plan, x + c * xs, dy + c * ys, rw, rb, NULL);
        snprintf(name, sizeof name, "staged weights, %s, %d rows a band, chunk %d", what, rows, c);
        assert_bits_equal(dw + c * nw, rw, nw, name);
        snprintf(name, sizeof name, "staged bias, %s, %d rows a band, chunk %d", what, rows, c);
        assert_bits_equal(db + (size_t)c * s.c_out, rb, (size_t)s.c_out, name);
    }
    free(x), free(dy), free(dw), free(db), free(rw), free(rb);
}

static void test_staged_conv_weights_match_scalar(void **state)
{
    (void)state;
    /* the nets' conv layers, one sample a chunk as the trainer runs them: one band of every row fits */
    static const struct { const char *what; int c_in, h, w, c_out, k, stride, pad, rows; } nets[] = {
        {"seed conv1", 1, 28, 28, 10, 5, 1, 0, 24},     {"seed conv2", 10, 12, 12, 20, 5, 1, 0, 8},
        {"exercise conv1", 1, 28, 28, 16, 3, 1, 1, 28}, {"exercise conv2", 16, 14, 14, 32, 3, 1, 1, 14},
        {"exercise conv3", 32, 7, 7, 64, 3, 1, 1, 7},   {"spec conv(6,k=3,s=2,p=1)", 1, 28, 28, 6, 3, 2, 1, 14},
        {"spec conv(12,k=1)", 6, 6, 6, 12, 1, 1, 0, 6},
    };
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
        cd_conv_shape s;
        conv_shape_set(&s, 1, nets[i].c_in, nets[i].h, nets[i].w, nets[i].c_out, nets[i].k, nets[i].stride, nets[i].pad);
        const int rows = cd_body_conv_staged_rows(s, CD_BODY_CONV_STAGED_FLOATS);
        if (rows != nets[i].rows) fail_msg("%s: %d rows a band, expected all %d", nets[i].what, rows, nets[i].rows);
        check_staged(s, 3, rows, 100 + i, nets[i].what);
        check_staged(s, 1, 1, 200 + i, nets[i].what);          /* a band a row */
        check_staged(s, 1, (rows + 2) / 3, 300 + i, nets[i].what); /* three bands, the last shorter */
    }
    /* every stride / padding the layer takes, several samples a chunk, bands of every height */
    uint64_t rng = 4242;
    for (int trial = 0; trial < 60; trial++) {
        cd_conv_shape s;
        const int k = rand_in(&rng, 1, 5), stride = rand_in(&rng, 1, 3), pad = rand_in(&rng, 0, k - 1);
        conv_shape_set(&s, rand_in(&rng, 1, 3), rand_in(&rng, 1, 4), rand_in(&rng, k, 13), rand_in(&rng, k, 13),
                       rand_in(&rng, 1, 5), k, stride, pad);
        check_staged(s, rand_in(&rng, 1, 3), rand_in(&rng, 1, s.h_out), 1000 + (uint64_t)trial, "random shape");
    }
    /* the band choice: the most rows that fit, none when one row does not (the in-place kernel then) */
    cd_conv_shape big;
    conv_shape_set(&big, 1, 1, 200, 200, 8, 5, 1, 0);
    const int rows = cd_body_conv_staged_rows(big, CD_BODY_CONV_STAGED_FLOATS);
    assert_true(rows > 1 && rows < big.h_out);
    assert_true(cd_body_conv_staged_floats(big, rows) <= CD_BODY_CONV_STAGED_FLOATS);
    assert_true(cd_body_conv_staged_floats(big, rows + 1) > CD_BODY_CONV_STAGED_FLOATS);
    check_staged(big, 1, rows, 77, "200x200 image, bands");
    cd_conv_shape wide;
    conv_shape_set(&wide, 1, 64, 8, 4096, 4, 3, 1, 1);
    assert_int_equal(cd_body_conv_staged_rows(wide, CD_BODY_CONV_STAGED_FLOATS), 0);
}

static void test_pool_bodies_match_scalar_with_ties_and_overlap(void **state)
{
    (void)state;
    const cd_kernels *k = cd_kernels_scalar();
    uint64_t rng = 777;
    for (int trial = 0; trial < 40; trial++) {
        cd_pool_shape s;
        memset(&s, 0, sizeof s);
        s.n = rand_in(&rng, 1, 3);
        s.c = rand_in(&rng, 1, 4);
        s.k = rand_in(&rng, 1, 4);
        s.stride = rand_in(&rng, 1, 3); /* stride < k: overlapping windows share winners */
        s.h_in = rand_in(&rng, s.k, 11);
        s.w_in = rand_in(&rng, s.k, 11);
        s.h_out = (s.h_in - s.k) / s.stride + 1;
        s.w_out = (s.w_in - s.k) / s.stride + 1;
        size_t nx = (size_t)s.n * s.c * s.h_in * s.w_in, ny = (size_t)s.n * s.c * s.h_out * s.w_out;
        float *x = alloc_floats(nx), *dy = alloc_floats(ny);
        float *ref = alloc_floats(nx), *got = alloc_floats(nx);
        int32_t *ref_arg = (int32_t *)calloc(ny, sizeof(int32_t)), *got_arg = (int32_t *)calloc(ny, sizeof(int32_t));
        ts_fill_uniform(x, nx, 50 + (uint64_t)trial, -1.0f, 1.0f);
        /* coarse values make ties common: the first in row-major window order must win */
        for (size_t i = 0; i < nx; i++) x[i] = floorf(x[i] * 2.0f);
        ts_fill_uniform(dy, ny, 60 + (uint64_t)trial, -1.0f, 1.0f);

        k->pool_forward(&s, x, ref, ref_arg);
        for (size_t i = 0; i < ny; i++) got[i] = cd_body_pool_forward(s, x, i, &got_arg[i]);
        assert_bits_equal(got, ref, ny, "pool forward");
        assert_memory_equal(got_arg, ref_arg, ny * sizeof(int32_t));

        k->pool_backward(&s, dy, ref_arg, ref);
        for (size_t i = 0; i < nx; i++) got[i] = cd_body_pool_backward(s, dy, ref_arg, i);
        assert_bits_equal(got, ref, nx, "pool backward");
        free(x), free(dy), free(ref), free(got), free(ref_arg), free(got_arg);
    }
}

static void test_linear_and_relu_bodies_match_scalar(void **state)
{
    (void)state;
    const cd_kernels *k = cd_kernels_scalar();
    uint64_t rng = 99;
    for (int trial = 0; trial < 30; trial++) {
        cd_linear_shape s;
        s.n = rand_in(&rng, 1, 9);
        s.in = rand_in(&rng, 1, 70);
        s.out = rand_in(&rng, 1, 17);
        size_t nx = (size_t)s.n * s.in, ny = (size_t)s.n * s.out, nw = (size_t)s.out * s.in;
        size_t most = nx > nw ? nx : nw;
        if (ny > most) most = ny;
        float *x = alloc_floats(nx), *w = alloc_floats(nw), *b = alloc_floats((size_t)s.out), *dy = alloc_floats(ny);
        float *ref = alloc_floats(most), *got = alloc_floats(most);
        float *refb = alloc_floats((size_t)s.out), *gotb = alloc_floats((size_t)s.out);
        ts_fill_uniform(x, nx, 7 + (uint64_t)trial, -1.0f, 1.0f);
        ts_fill_uniform(w, nw, 8 + (uint64_t)trial, -1.0f, 1.0f);
        ts_fill_uniform(b, (size_t)s.out, 9 + (uint64_t)trial, -1.0f, 1.0f);
        ts_fill_uniform(dy, ny, 10 + (uint64_t)trial, -1.0f, 1.0f);

        k->linear_forward(&s, x, w, b, ref);
        for (size_t i = 0; i < ny; i++) got[i] = cd_body_linear_forward(s, x, w, b, i);
        assert_bits_equal(got, ref, ny, "linear forward");
        k->linear_backward_data(&s, dy, w, ref);
        for (size_t i = 0; i < nx; i++) got[i] = cd_body_linear_backward_data(s, dy, w, i);
        assert_bits_equal(got, ref, nx, "linear backward data");
        k->linear_backward_weights(&s, x, dy, ref, refb);
        for (size_t i = 0; i < nw; i++) got[i] = cd_body_linear_backward_weight(s, x, dy, i);
        for (int o = 0; o < s.out; o++) gotb[o] = cd_body_linear_backward_bias(s, dy, o);
        assert_bits_equal(got, ref, nw, "linear backward weights");
        assert_bits_equal(gotb, refb, (size_t)s.out, "linear backward bias");

        /* relu, with exact zeros, negative zeros and a NaN in the input */
        x[0] = 0.0f, x[nx - 1] = -0.0f;
        if (nx > 2) x[1] = NAN;
        k->relu_forward(nx, x, ref);
        for (size_t i = 0; i < nx; i++) got[i] = cd_body_relu_forward(x[i]);
        assert_bits_equal(got, ref, nx, "relu forward");
        float *y = alloc_floats(nx);
        memcpy(y, ref, nx * sizeof(float));
        ts_fill_uniform(dy, ny, 11 + (uint64_t)trial, -1.0f, 1.0f);
        float *g = alloc_floats(nx);
        ts_fill_uniform(g, nx, 12 + (uint64_t)trial, -1.0f, 1.0f);
        k->relu_backward(nx, y, g, ref);
        for (size_t i = 0; i < nx; i++) got[i] = cd_body_relu_backward(y[i], g[i]);
        assert_bits_equal(got, ref, nx, "relu backward");
        free(x), free(w), free(b), free(dy), free(ref), free(got), free(refb), free(gotb), free(y), free(g);
    }
}

/* The fixed-point add must round exactly as cd_fixed_accumulate (ties to even included) and refuse
 * the same values; the fused update must equal cd_fixed_to_float followed by the scalar SGD. */
static void test_fixed_point_and_sgd_bodies_match_reference(void **state)
{
    (void)state;
    enum { N = 4096 };
    float *g = alloc_floats(N);
    ts_fill_uniform(g, N, 31, -2.0f, 2.0f);
    /* halfway cases: exactly k + 0.5 units of 2^-40 (ties to even), and tiny / large magnitudes */
    g[0] = 0x1p-41f, g[1] = 3.0f * 0x1p-41f, g[2] = -0x1p-41f, g[3] = -5.0f * 0x1p-41f, g[4] = 0x1p-60f;
    g[5] = 1000.0f, g[6] = -1024.0f, g[7] = 0.0f, g[8] = -0.0f;
    for (int i = 9; i < 64; i++) g[i] *= 0x1p-30f;
    int64_t *ref = (int64_t *)calloc(N, sizeof(int64_t)), *got = (int64_t *)calloc(N, sizeof(int64_t));
    for (int pass = 0; pass < 3; pass++) {
        cd_error err;
        assert_int_equal(cd_fixed_accumulate(ref, g, N, &err), CD_OK);
        for (int i = 0; i < N; i++) assert_int_equal(cd_body_fixed_add(&got[i], g[i]), CD_BODY_FIXED_OK);
    }
    assert_memory_equal(got, ref, N * sizeof(int64_t));
    assert_true(got[0] == 0 && got[1] == 3 * 2 && got[2] == 0); /* 0.5 -> 0, 1.5 -> 2 (three passes of 2) */

    int64_t a = 0;
    assert_int_equal(cd_body_fixed_add(&a, NAN), CD_BODY_FIXED_NAN);
    assert_int_equal(cd_body_fixed_add(&a, -INFINITY), CD_BODY_FIXED_INF);
    assert_int_equal(cd_body_fixed_add(&a, 1024.5f), CD_BODY_FIXED_LIMIT);
    a = INT64_MAX - 5;
    assert_int_equal(cd_body_fixed_add(&a, 1.0f), CD_BODY_FIXED_OVERFLOW);
    assert_true(a == INT64_MAX - 5);

    /* fused update vs cd_fixed_to_float + scalar sgd, on sums beyond 2^53 too */
    ref[10] = INT64_MAX / 3, ref[11] = -(INT64_MAX / 7) + 12345;
    float *w_ref = alloc_floats(N), *v_ref = alloc_floats(N), *gf = alloc_floats(N);
    float *w_got = alloc_floats(N), *v_got = alloc_floats(N);
    ts_fill_uniform(w_ref, N, 41, -1.0f, 1.0f);
    ts_fill_uniform(v_ref, N, 42, -1.0f, 1.0f);
    memcpy(w_got, w_ref, N * sizeof(float));
    memcpy(v_got, v_ref, N * sizeof(float));
    cd_fixed_to_float(ref, gf, N);
    cd_kernels_scalar()->sgd_momentum(N, w_ref, v_ref, gf, 0.01f, 0.5f);
    for (int i = 0; i < N; i++) cd_body_sgd_fixed(ref[i], &w_got[i], &v_got[i], 0.01f, 0.5f);
    assert_bits_equal(w_got, w_ref, N, "sgd weights");
    assert_bits_equal(v_got, v_ref, N, "sgd momentum");
    free(g), free(ref), free(got), free(w_ref), free(v_ref), free(gf), free(w_got), free(v_got);
}

/* The loss body must agree with src/model/loss.c exactly: both take exp and log from
 * cnn_ddp/portable_math.h (no libm, no libdevice), so the device's bits are these too. */
static void test_loss_body_matches_reference_on_host(void **state)
{
    (void)state;
    enum { N = 37, C = 10 };
    float z[N * C], d_got[N * C];
    uint8_t labels[N];
    ts_fill_uniform(z, N * C, 5, -8.0f, 8.0f);
    for (int i = 0; i < N; i++) labels[i] = (uint8_t)((i * 7) % C);
    z[3 * C + 4] = z[3 * C + 6] = 50.0f; /* a tie: the first maximum is the prediction */
    double total = 0.0;
    int hits = 0;
    for (int i = 0; i < N; i++) {
        int hit = 0;
        total += cd_body_softmax_xent(C, z, labels, 1.0f / 64.0f, d_got, i, &hit);
        hits += hit;
        assert_int_equal(cd_body_argmax(C, z, i), hit ? labels[i] : cd_body_argmax(C, z, i));
    }
    assert_int_equal(cd_body_argmax(C, z, 3), 4);
    /* the reference formula, written out (loss.c is internal to the library) */
    double ref_total = 0.0;
    for (int i = 0; i < N; i++) {
        const float *zi = z + i * C;
        int best = 0;
        for (int c = 1; c < C; c++)
            if (zi[c] > zi[best]) best = c;
        double mx = zi[best], sum = 0.0;
        for (int c = 0; c < C; c++) sum += cd_exp((double)zi[c] - mx);
        double ls = cd_log(sum);
        ref_total += ls + mx - (double)zi[labels[i]];
        for (int c = 0; c < C; c++) {
            float want = (float)((cd_exp((double)zi[c] - mx - ls) - (c == labels[i] ? 1.0 : 0.0)) * (double)(1.0f / 64.0f));
            assert_memory_equal(&d_got[i * C + c], &want, sizeof want);
        }
    }
    assert_memory_equal(&total, &ref_total, sizeof total);
    assert_true(hits >= 0 && hits <= N);
}

/* The portable exp and log (cnn_ddp/portable_math.h) that the loss body and loss.c call: their bits are
 * the algorithm's, not the compiler's. A digest of cd_exp and cd_log over fixed arguments, recorded once,
 * must come out of this file whether gcc or nvcc (tests/cuda/test_cuda_bodies_nvcc.cu) compiled it; a
 * build that contracts a product into an fma (-ffp-contract=fast with -mfma) or evaluates in extended
 * precision computes other bits and fails here. The device's own compile is guarded by the PTX lint. */
static void test_portable_exp_log_bits_are_the_recorded_ones(void **state)
{
    (void)state;
    uint64_t h = 14695981039346656037ull, s = 12345;
    for (int i = 0; i < 100000; i++) {
        const double u = (double)(next_u64(&s) >> 2) * 0x1p-29, v = (double)(next_u64(&s) >> 2) * 0x1p-29;
        const double x = (u - 0.8) * 100.0, y = ldexp(v + 0.5, (int)(next_u64(&s) % 200) - 100);
        const double r[2] = {cd_exp(x), cd_log(y)};
        unsigned char b[sizeof r];
        memcpy(b, r, sizeof r);
        for (size_t j = 0; j < sizeof b; j++) h = (h ^ b[j]) * 1099511628211ull;
    }
    if (h != 0x3465bb263816b72eull) fail_msg("cd_exp/cd_log digest %016llx, recorded 3465bb263816b72e", (unsigned long long)h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_bodies_match_scalar),
        cmocka_unit_test(test_staged_conv_weights_match_scalar),
        cmocka_unit_test(test_pool_bodies_match_scalar_with_ties_and_overlap),
        cmocka_unit_test(test_linear_and_relu_bodies_match_scalar),
        cmocka_unit_test(test_fixed_point_and_sgd_bodies_match_reference),
        cmocka_unit_test(test_loss_body_matches_reference_on_host),
        cmocka_unit_test(test_portable_exp_log_bits_are_the_recorded_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
