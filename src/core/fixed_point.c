/* Fixed-point gradient accumulation. Conversion to fixed point is exact up to one rounding, and
 * integer addition is associative, so the reduced gradient has the same bits for any rank count,
 * chunk order or MPI/NCCL reduction tree.
 *
 * Conversions, step by step:
 *  - float -> double is exact, and multiplying by 2^40 is exact (a power of two; |g| <= 4e6 keeps it
 *    far from overflow and a float can't underflow there), so the only rounding is llrint's to the
 *    nearest integer (ties to even; nothing in the program changes the rounding mode).
 *  - back to float: (float)acc is ONE correctly rounded int64 -> float conversion, and the scale by
 *    2^-40 is exact (|acc| >= 1 gives >= 2^-40, far above float's subnormal range). This avoids the
 *    double rounding of (float)((double)acc * 2^-40), which rounds twice once |acc| > 2^53. Either
 *    way the result would be a pure function of the integer; this way it is also the nearest float.
 *  - to double: (double)acc rounds once when |acc| > 2^53 (sums of large values): still a
 *    deterministic function of the integer, which is all the reduction needs. */
#include "cnn_ddp/fixed_point.h"

#include <math.h>
#include <stdint.h>

#define FIXED_SCALE 0x1p40  /* 2^CD_FIXED_SHIFT */
#define FIXED_UNSCALE 0x1p-40
#define FIXED_UNSCALE_F 0x1p-40f
_Static_assert(CD_FIXED_SHIFT == 40, "FIXED_SCALE and FIXED_UNSCALE spell out 2^CD_FIXED_SHIFT");

static cd_status check_one(float v, size_t i, size_t n, cd_error *err)
{
    if (isnan(v)) return CD_FAIL(err, CD_E_NUMERIC, "gradient element %zu (of %zu) is nan", i, n);
    if (isinf(v))
        return CD_FAIL(err, CD_E_NUMERIC, "gradient element %zu (of %zu) is %s", i, n, v > 0 ? "inf" : "-inf");
    if (fabs((double)v) > CD_FIXED_LIMIT)
        return CD_FAIL(err, CD_E_NUMERIC, "gradient element %zu (of %zu) is %.9g, beyond the fixed-point limit %g",
                       i, n, (double)v, CD_FIXED_LIMIT);
    return CD_OK;
}

cd_status cd_fixed_check(const float *g, size_t n, cd_error *err)
{
    for (size_t i = 0; i < n; i++) CD_TRY(check_one(g[i], i, n, err));
    return CD_OK;
}

/* The careful loop: finds the first bad element and says what is wrong with it. */
static cd_status accumulate_checked(int64_t *acc, const float *g, size_t n, cd_error *err)
{
    for (size_t i = 0; i < n; i++) {
        float v = g[i];
        CD_TRY(check_one(v, i, n, err));
        int64_t q = llrint((double)v * FIXED_SCALE);
        /* A single chunk at the limit is ~2^62; refuse rather than wrap when chunks pile up. */
        if ((q > 0 && acc[i] > INT64_MAX - q) || (q < 0 && acc[i] < INT64_MIN - q))
            return CD_FAIL(err, CD_E_NUMERIC,
                           "gradient element %zu (of %zu): fixed-point sum overflows adding %.9g", i, n,
                           (double)v);
        acc[i] += q;
    }
    return CD_OK;
}

/* The hot loop, branch-free so the compiler vectorises it (a clone per instruction set, chosen at load
 * time); cd_fixed_round is llrint for every value inside the limit. Bad values are replaced by 0 and
 * reported through the return value; the caller then redoes the work with the careful loop to name
 * the element. */
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
static int accumulate_fast(int64_t *restrict acc, const float *restrict g, size_t n)
{
    /* Masks, not selects: GCC vectorises this form (a ?: on doubles left it scalar). */
    int64_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        const double x = (double)g[i];
        const int64_t ok = -(int64_t)(fabs(x) <= CD_FIXED_LIMIT); /* all ones, or 0 (NaN too) */
        const int64_t q = cd_fixed_round(x) & ok;
        const uint64_t sum = (uint64_t)acc[i] + (uint64_t)q;
        /* sign bit set: a bad value, or signed overflow (both operands share a sign the sum lacks) */
        bad |= ~ok | (int64_t)(((uint64_t)acc[i] ^ sum) & ((uint64_t)q ^ sum));
        acc[i] = (int64_t)sum;
    }
    return bad < 0;
}

/* Exactly undoes accumulate_fast (wrapping integer addition is invertible). */
static void undo_fast(int64_t *acc, const float *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double x = (double)g[i];
        int64_t q = cd_fixed_round(x) & -(int64_t)(fabs(x) <= CD_FIXED_LIMIT);
        acc[i] = (int64_t)((uint64_t)acc[i] - (uint64_t)q);
    }
}

cd_status cd_fixed_accumulate(int64_t *acc, const float *g, size_t n, cd_error *err)
{
    if (!accumulate_fast(acc, g, n)) return CD_OK;
    /* Rare path: restore acc and let the careful loop find and name the first bad element. */
    undo_fast(acc, g, n);
    return accumulate_checked(acc, g, n, err);
}

int64_t cd_fixed_from_double(double v)
{
    /* llrint is unspecified outside int64; make NaN and overflow deterministic instead. Callers check
     * their values for finiteness first; this only keeps a bad value from being undefined. */
    double x = v * FIXED_SCALE;
    if (isnan(x)) return INT64_MIN;
    if (x >= 0x1p63) return INT64_MAX;
    if (x < -0x1p63) return INT64_MIN;
    return llrint(x);
}

double cd_fixed_to_double(int64_t v) { return (double)v * FIXED_UNSCALE; }

/* Vectorised per instruction set like accumulate_fast; each element is the same single conversion. */
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
void cd_fixed_to_float(const int64_t *acc, float *g, size_t n)
{
    for (size_t i = 0; i < n; i++) g[i] = (float)acc[i] * FIXED_UNSCALE_F;
}
