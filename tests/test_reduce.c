/* Fixed-point reduction: the same bits whatever the order or grouping of the chunks (as with any
 * rank count), close to the exact sum, refusing NaN/Inf/huge values by element index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cnn_ddp/fixed_point.h"
#include "cnn_ddp/rng.h"
#include "test_support.h"

enum { N_VEC = 64, LEN = 4096 };

/* Gradient-like vectors: magnitudes from 1e-12 to ~50 with arbitrary mantissas, so most values are
 * not on the 2^-40 grid and the conversion really rounds. */
static float *make_vectors(void)
{
    float *g = malloc(sizeof *g * N_VEC * LEN);
    for (int v = 0; v < N_VEC; v++) {
        float *x = g + (size_t)v * LEN;
        ts_fill_uniform(x, LEN, 1000 + (uint64_t)v, -1.0f, 1.0f);
        for (int i = 0; i < LEN; i++) {
            int e = (int)cd_rng_below(5, (uint64_t)v, (uint64_t)i, 46) - 40; /* 2^-40 .. 2^5 */
            x[i] = ldexpf(x[i] * 0.7310585f, e);
        }
    }
    return g;
}

static void sum_in_order(const float *g, const int *order, int count, int64_t *acc)
{
    cd_error err = {0};
    for (int j = 0; j < count; j++)
        assert_int_equal(cd_fixed_accumulate(acc, g + (size_t)order[j] * LEN, LEN, &err), CD_OK);
}

static void test_order_independent(void **state)
{
    (void)state;
    float *g = make_vectors();
    int order[N_VEC];
    for (int j = 0; j < N_VEC; j++) order[j] = j;
    int64_t *ref = calloc(LEN, sizeof *ref), *acc = calloc(LEN, sizeof *acc);
    sum_in_order(g, order, N_VEC, ref);

    /* Any order of the chunks. */
    for (int trial = 0; trial < 4; trial++) {
        uint32_t perm[N_VEC];
        cd_rng_permutation(77, (uint64_t)trial, N_VEC, perm);
        for (int j = 0; j < N_VEC; j++) order[j] = (int)perm[j];
        memset(acc, 0, LEN * sizeof *acc);
        sum_in_order(g, order, N_VEC, acc);
        assert_memory_equal(ref, acc, LEN * sizeof *acc);
    }

    /* Like N ranks: each sums its own block of chunks, then the partial sums are added (here in
     * reverse rank order, as a reduction tree might). */
    int64_t *part = calloc(LEN, sizeof *part);
    for (int ranks = 1; ranks <= 8; ranks++) {
        memset(acc, 0, LEN * sizeof *acc);
        for (int r = ranks - 1; r >= 0; r--) {
            int base = N_VEC / ranks, extra = N_VEC % ranks;
            int first = r * base + (r < extra ? r : extra), count = base + (r < extra);
            for (int j = 0; j < count; j++) order[j] = first + count - 1 - j;
            memset(part, 0, LEN * sizeof *part);
            sum_in_order(g, order, count, part);
            for (int i = 0; i < LEN; i++) acc[i] += part[i];
        }
        assert_memory_equal(ref, acc, LEN * sizeof *acc);
    }

    /* The float sum in a different order is NOT bitwise stable: the reason this module exists. */
    float *fa = calloc(LEN, sizeof *fa), *fb = calloc(LEN, sizeof *fb);
    for (int j = 0; j < N_VEC; j++)
        for (int i = 0; i < LEN; i++) {
            fa[i] += g[(size_t)j * LEN + i];
            fb[i] += g[(size_t)(N_VEC - 1 - j) * LEN + i];
        }
    assert_memory_not_equal(fa, fb, LEN * sizeof *fa);

    /* Close to the exact sum: each value rounds by at most 2^-41, so the sum is off by at most
     * N_VEC * 2^-41 ~ 3e-11; norm-wise that is far below 1e-9 relative. */
    float *back = calloc(LEN, sizeof *back);
    cd_fixed_to_float(ref, back, LEN);
    double worst_abs = 0.0, largest = 0.0, worst_float_rel = 0.0;
    for (int i = 0; i < LEN; i++) {
        long double exact = 0.0L; /* 64-bit mantissa: exact for these 64 floats' partial sums to ~1e-19 rel */
        for (int j = 0; j < N_VEC; j++) exact += (long double)g[(size_t)j * LEN + i];
        double d = fabs(cd_fixed_to_double(ref[i]) - (double)exact);
        if (d > worst_abs) worst_abs = d;
        if (fabs((double)exact) > largest) largest = fabs((double)exact);
        /* Back in float: within one float rounding (plus the fixed error) of the exact sum. */
        double fr = fabs((double)back[i] - (double)exact) / fmax(fabs((double)exact), 1e-6);
        if (fr > worst_float_rel) worst_float_rel = fr;
    }
    print_message("fixed vs exact: max abs error %.3g, largest |sum| %.3g, norm-wise rel %.3g; "
                  "float result max rel error %.3g\n",
                  worst_abs, largest, worst_abs / largest, worst_float_rel);
    assert_true(worst_abs <= N_VEC * 0x1p-41);
    assert_true(worst_abs / largest < 1e-9);
    assert_true(worst_float_rel < 1.2e-7);

    free(g);
    free(ref);
    free(acc);
    free(part);
    free(fa);
    free(fb);
    free(back);
}

static void expect_numeric(const float *g, size_t n, const char *msg)
{
    int64_t acc[16] = {0};
    cd_error err = {0};
    assert_int_equal(cd_fixed_accumulate(acc, g, n, &err), CD_E_NUMERIC);
    assert_string_equal(err.msg, msg);
}

static void test_refusals(void **state)
{
    (void)state;
    float g[10] = {0};
    g[5] = NAN;
    expect_numeric(g, 10, "gradient element 5 (of 10) is nan");
    g[5] = 0.0f;
    g[9] = INFINITY;
    expect_numeric(g, 10, "gradient element 9 (of 10) is inf");
    g[9] = -INFINITY;
    expect_numeric(g, 10, "gradient element 9 (of 10) is -inf");
    g[9] = 0.0f;
    g[0] = 5000.0f;
    expect_numeric(g, 10, "gradient element 0 (of 10) is 5000, beyond the fixed-point limit 1024");
    g[0] = nextafterf((float)CD_FIXED_LIMIT, INFINITY);
    expect_numeric(g, 10, "gradient element 0 (of 10) is 1024.00012, beyond the fixed-point limit 1024");

    /* The limit itself is accepted, on both sides. */
    int64_t acc[2] = {0};
    float edge[2] = {(float)CD_FIXED_LIMIT, -(float)CD_FIXED_LIMIT};
    cd_error err = {0};
    assert_int_equal(cd_fixed_accumulate(acc, edge, 2, &err), CD_OK);
    assert_int_equal(acc[0], (int64_t)1024 << 40);
    assert_int_equal(acc[1], -((int64_t)1024 << 40));

    /* 4096 chunks at the limit (the most samples --batch allows) fit with room to spare; only the 8192nd
     * would wrap int64, and it is refused instead. */
    for (int k = 1; k < 8191; k++) assert_int_equal(cd_fixed_accumulate(acc, edge, 2, &err), CD_OK);
    assert_int_equal(cd_fixed_accumulate(acc, edge, 2, &err), CD_E_NUMERIC);
    assert_string_equal(err.msg, "gradient element 0 (of 2): fixed-point sum overflows adding 1024");
}

static void test_exact_values(void **state)
{
    (void)state;
    /* Floats whose last mantissa bit is at or above 2^-40 are on the grid: they come back unchanged. */
    enum { M = 2000 };
    float x[M], y[M];
    int64_t acc[M];
    memset(acc, 0, sizeof acc);
    ts_fill_uniform(x, M, 3, -1.0f, 1.0f);
    for (int i = 0; i < M; i++) {
        int e = (int)cd_rng_below(9, 1, (uint64_t)i, 38) - 15; /* 2^-15 .. 2^22: ulp >= 2^-39 */
        x[i] = ldexpf(x[i], e);
        if (fabsf(x[i]) > (float)CD_FIXED_LIMIT) x[i] = copysignf((float)CD_FIXED_LIMIT, x[i]);
    }
    x[0] = 0x1p-40f; /* one unit */
    x[1] = -0x1p-40f;
    x[2] = 0.0f;
    x[3] = -0.0f;
    x[4] = 1.5f;
    cd_error err = {0};
    assert_int_equal(cd_fixed_accumulate(acc, x, M, &err), CD_OK);
    assert_int_equal(acc[0], 1);
    assert_int_equal(acc[1], -1);
    assert_int_equal(acc[4], (int64_t)3 << 39);
    cd_fixed_to_float(acc, y, M);
    for (int i = 0; i < M; i++)
        if (y[i] != x[i]) fail_msg("element %d: %a came back as %a", i, (double)x[i], (double)y[i]);

    /* Off the grid: round to nearest, ties to even. */
    float t[5] = {0x1p-41f, 0x3p-41f, 0x5p-41f, -0x3p-41f, 1e-13f};
    int64_t ta[5] = {0};
    assert_int_equal(cd_fixed_accumulate(ta, t, 5, &err), CD_OK);
    assert_int_equal(ta[0], 0);
    assert_int_equal(ta[1], 2);
    assert_int_equal(ta[2], 2);
    assert_int_equal(ta[3], -2);
    assert_int_equal(ta[4], 0); /* 1e-13 * 2^40 = 0.11 */

    /* Back to float is rounded once: 2^60 + 2^36 + 1 lies just above the midpoint between floats
     * 2^60 and 2^60 + 2^37. Through double it would first lose the +1 and then tie to 2^60. */
    int64_t big = (INT64_C(1) << 60) + (INT64_C(1) << 36) + 1;
    float f;
    cd_fixed_to_float(&big, &f, 1);
    assert_true(f == 0x1p20f + 0x1p-3f);

    /* Doubles: exact on the grid, nearest grid point off it, deterministic outside int64. */
    const double on[] = {0.0, 1.0, -2.5, 0x1p-40, 123456.75, -0x1.fffffp20};
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++)
        assert_true(cd_fixed_to_double(cd_fixed_from_double(on[i])) == on[i]);
    double off = 138.1234567890123;
    assert_true(fabs(cd_fixed_to_double(cd_fixed_from_double(off)) - off) <= 0x1p-41);
    assert_int_equal(cd_fixed_from_double(1e30), INT64_MAX);
    assert_int_equal(cd_fixed_from_double(-1e30), INT64_MIN);
    assert_int_equal(cd_fixed_from_double(NAN), INT64_MIN);
    assert_int_equal(cd_fixed_from_double(0x1p-41), 0);
    assert_int_equal(cd_fixed_from_double(0x3p-41), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_independent),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_exact_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
