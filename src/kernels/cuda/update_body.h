/* Optimizer element body (see hd.h). */
#ifndef CD_CUDA_UPDATE_BODY_H
#define CD_CUDA_UPDATE_BODY_H

#include <math.h>

#include "cnn_ddp/fixed_point.h"
#include "hd.h"

/* float -> double -> * 2^40 is exact; the one rounding is to the nearest integer, ties to even:
 * llrint on the host (round-to-nearest mode, never changed), __double2ll_rn on the device. */
CD_HD int64_t cd_body_round_i64(double x)
{
#ifdef __CUDA_ARCH__
    return (int64_t)__double2ll_rn(x);
#else
    return (int64_t)llrint(x);
#endif
}

enum { CD_BODY_FIXED_OK = 0, CD_BODY_FIXED_NAN, CD_BODY_FIXED_INF, CD_BODY_FIXED_LIMIT, CD_BODY_FIXED_OVERFLOW };

/* *acc += round(v * 2^40) with cd_fixed_accumulate's checks, in its order; returns a CD_BODY_FIXED_ code
 * (acc untouched on failure). */
CD_HD int cd_body_fixed_add(int64_t *acc, float v)
{
    if (v != v) return CD_BODY_FIXED_NAN;
    if (v - v != 0.0f) return CD_BODY_FIXED_INF;
    if (fabs((double)v) > CD_FIXED_LIMIT) return CD_BODY_FIXED_LIMIT;
    int64_t q = cd_body_round_i64((double)v * (double)(INT64_C(1) << CD_FIXED_SHIFT));
    if ((q > 0 && *acc > INT64_MAX - q) || (q < 0 && *acc < INT64_MIN - q)) return CD_BODY_FIXED_OVERFLOW;
    *acc += q;
    return CD_BODY_FIXED_OK;
}

/* One reduced fixed-point gradient element back to float (as cd_fixed_to_float: one rounding of the
 * integer, then an exact scale by 2^-40), then SGD with momentum as the scalar reference does it. */
CD_HD void cd_body_sgd_fixed(int64_t acc, float *w, float *v, float lr, float mu)
{
    float g = (float)acc * 0x1p-40f;
    float vi = mu * *v + g;
    *v = vi;
    *w = *w - lr * vi;
}


#endif
