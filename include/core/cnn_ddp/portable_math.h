/* exp and log in double, written once for the host (C) and the CUDA device (__host__ __device__): the
 * softmax cross-entropy's only transcendental steps (src/model/loss.c, src/kernels/cuda/loss_body.h),
 * so that the CPU reference and the GPU give the same loss and logit-gradient bits. glibc's exp/log and
 * CUDA's libdevice are both good to about an ulp, but they are different algorithms, so their last
 * bits differ.
 *
 * The algorithms are fdlibm's e_exp.c and e_log.c (notice below), restated over 64-bit words: argument
 * reduction by ln 2 with a two-part constant, a rational (exp) or polynomial-in-s^2 (log)
 * approximation, and the exponent set by integer arithmetic on the bits. They use only IEEE-754 double
 * +, -, * and / rounded to nearest, int <-> double conversions and bit copies, each of which gives the
 * same bits on every IEEE machine. fdlibm bounds both errors below 1 ulp; tests/test_portable_math.c
 * measures at most 0.885 ulp (exp) and 0.832 ulp (log), and at most 1 ulp from glibc's results (glibc
 * itself is ~0.51 ulp, and on x86-64 runs an FMA-compiled build of its exp and log on CPUs with FMA,
 * whose last bits may differ again). Cost: the loss of a 64-sample step takes ~22 us instead of ~15 us
 * with glibc, against ~4 ms for the whole step on one core.
 *
 * What could still change the bits is a product and a sum contracted into one fma. On the device every
 * product and quotient here is an explicitly rounded intrinsic (__dmul_rn, __ddiv_rn), which nvcc never
 * contracts, whatever --fmad says; on the host the build compiles C with -ffp-contract=off and nvcc's
 * host side with -Xcompiler=-ffp-contract=off, and doubles must be evaluated as doubles (checked
 * below). tests/cuda/ptx_lint.sh checks the PTX for fma.
 *
 * ====================================================
 * Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
 *
 * Developed at SunSoft, a Sun Microsystems, Inc. business.
 * Permission to use, copy, modify, and distribute this
 * software is freely granted, provided that this notice
 * is preserved.
 * ====================================================
 */
#ifndef CNN_DDP_PORTABLE_MATH_H
#define CNN_DDP_PORTABLE_MATH_H

#include <float.h>
#include <stdint.h>
#include <string.h>

#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD != 0
#error "portable_math.h needs double evaluated as double (FLT_EVAL_METHOD 0, e.g. x86-64 SSE2, not x87)"
#endif

#ifdef __CUDACC__
#define CD_PM_HD __host__ __device__ static inline
#else
#define CD_PM_HD static inline
#endif

CD_PM_HD uint64_t cd_pm_bits(double x)
{
#ifdef __CUDA_ARCH__
    return (uint64_t)__double_as_longlong(x);
#else
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
#endif
}

CD_PM_HD double cd_pm_from_bits(uint64_t u)
{
#ifdef __CUDA_ARCH__
    return __longlong_as_double((long long)u);
#else
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
#endif
}

/* a * b and a / b, rounded once each: never fused with a neighbouring add. */
CD_PM_HD double cd_pm_mul(double a, double b)
{
#ifdef __CUDA_ARCH__
    return __dmul_rn(a, b);
#else
    return a * b;
#endif
}

CD_PM_HD double cd_pm_div(double a, double b)
{
#ifdef __CUDA_ARCH__
    return __ddiv_rn(a, b);
#else
    return a / b;
#endif
}

/* ln 2 = CD_PM_LN2_HI + CD_PM_LN2_LO; the high part has 32 significant bits, so k * CD_PM_LN2_HI is exact
 * for |k| < 2^21. */
#define CD_PM_LN2_HI 6.93147180369123816490e-01 /* 0x3fe62e42fee00000 */
#define CD_PM_LN2_LO 1.90821492927058770002e-10 /* 0x3dea39ef35793c76 */

/* e^x for every double x: NaN for NaN, +inf above 709.78..., 0 below -745.13... and for -inf,
 * subnormal results in between. */
CD_PM_HD double cd_exp(double x)
{
    const double inv_ln2 = 1.44269504088896338700e+00;   /* 0x3ff71547652b82fe */
    const double P1 = 1.66666666666666019037e-01;        /* 0x3fc555555555553e */
    const double P2 = -2.77777777770155933842e-03;       /* 0xbf66c16c16bebd93 */
    const double P3 = 6.61375632143793436117e-05;        /* 0x3f11566aaf25de2c */
    const double P4 = -1.65339022054652515390e-06;       /* 0xbebbbd41c5d26bf1 */
    const double P5 = 4.13813679705723846039e-08;        /* 0x3e66376972bea4d0 */
    const double o_threshold = 7.09782712893383973096e+02; /* 0x40862e42fefa39ef */
    const double u_threshold = -7.45133219101941108420e+02; /* 0xc0874910d52d3051 */
    const double twom1000 = 9.33263618503218878990e-302;    /* 2^-1000 */
    const uint64_t ux = cd_pm_bits(x);
    const uint32_t hx = (uint32_t)(ux >> 32) & 0x7fffffffu; /* high word of |x| */
    const int neg = (int)(ux >> 63);

    if (hx >= 0x40862e42u) {                  /* |x| >= 709.78..., or not finite */
        if (hx >= 0x7ff00000u) {
            if ((ux & 0x000fffffffffffffull) != 0) return x + x; /* NaN */
            return neg ? 0.0 : x;                                 /* e^-inf = 0, e^inf = inf */
        }
        if (x > o_threshold) return cd_pm_from_bits(0x7ff0000000000000ull); /* overflow: inf */
        if (x < u_threshold) return 0.0;                                    /* underflow */
    }

    /* x = k ln2 + r, |r| <= 0.5 ln2, with r = hi - lo carried in two parts */
    double hi = 0.0, lo = 0.0, r;
    int k = 0;
    if (hx > 0x3fd62e42u) {                   /* |x| > 0.5 ln2 */
        if (hx < 0x3ff0a2b2u) {               /* and |x| < 1.5 ln2: k = +-1 */
            hi = neg ? x + CD_PM_LN2_HI : x - CD_PM_LN2_HI;
            lo = neg ? -CD_PM_LN2_LO : CD_PM_LN2_LO;
            k = neg ? -1 : 1;
        } else {
            k = (int)(cd_pm_mul(inv_ln2, x) + (neg ? -0.5 : 0.5)); /* round half away from 0 */
            const double t = (double)k;
            hi = x - cd_pm_mul(t, CD_PM_LN2_HI); /* exact */
            lo = cd_pm_mul(t, CD_PM_LN2_LO);
        }
        r = hi - lo;
    } else if (hx < 0x3e300000u) {            /* |x| < 2^-28: e^x = 1 + x to within half an ulp */
        return 1.0 + x;
    } else {
        r = x;
    }

    /* e^r = 1 + r + r c / (2 - c), c = r - r^2 (P1 + r^2 (P2 + ...)) (a Remez fit); for k != 0 the
     * r = hi - lo of the reduction is put back in two parts */
    const double t = cd_pm_mul(r, r);
    const double c =
        r - cd_pm_mul(t, P1 + cd_pm_mul(t, P2 + cd_pm_mul(t, P3 + cd_pm_mul(t, P4 + cd_pm_mul(t, P5)))));
    if (k == 0) return 1.0 - (cd_pm_div(cd_pm_mul(r, c), c - 2.0) - r);
    const double y = 1.0 - ((lo - cd_pm_div(cd_pm_mul(r, c), 2.0 - c)) - hi);
    /* y * 2^k by adding k to the exponent field (y is in [0.7, 1.5], so the field stays in range) */
    if (k >= -1021) return cd_pm_from_bits(cd_pm_bits(y) + ((uint64_t)(int64_t)k << 52));
    return cd_pm_mul(cd_pm_from_bits(cd_pm_bits(y) + ((uint64_t)(int64_t)(k + 1000) << 52)), twom1000);
}

/* ln x for every double x: -inf for +-0, NaN for x < 0 and NaN, inf for inf; subnormals included. */
CD_PM_HD double cd_log(double x)
{
    const double two54 = 1.80143985094819840000e+16; /* 2^54 */
    const double Lg1 = 6.666666666666735130e-01;      /* 0x3fe5555555555593 */
    const double Lg2 = 3.999999999940941908e-01;      /* 0x3fd999999997fa04 */
    const double Lg3 = 2.857142874366239149e-01;      /* 0x3fd2492494229359 */
    const double Lg4 = 2.222219843214978396e-01;      /* 0x3fcc71c51d8e78af */
    const double Lg5 = 1.818357216161805012e-01;      /* 0x3fc7466496cb03de */
    const double Lg6 = 1.531383769920937332e-01;      /* 0x3fc39a09d078c69f */
    const double Lg7 = 1.479819860511658591e-01;      /* 0x3fc2f112df3e5244 */
    uint64_t ux = cd_pm_bits(x);
    int32_t hx = (int32_t)(uint32_t)(ux >> 32); /* high word, sign included */
    int k = 0;

    if (hx < 0x00100000) {                    /* x < 2^-1022, or negative */
        if ((ux & 0x7fffffffffffffffull) == 0) return cd_pm_from_bits(0xfff0000000000000ull); /* -inf */
        if (hx < 0) return cd_pm_from_bits(0x7ff8000000000000ull);                           /* NaN */
        k -= 54;                              /* subnormal: scale it up (exact) */
        x = cd_pm_mul(x, two54);
        ux = cd_pm_bits(x);
        hx = (int32_t)(uint32_t)(ux >> 32);
    }
    if (hx >= 0x7ff00000) return x + x;       /* inf or NaN */
    k += (hx >> 20) - 1023;
    hx &= 0x000fffff;
    int32_t i = (hx + 0x95f64) & 0x100000;
    /* x = 1 + f with sqrt(2)/2 <= x < sqrt(2): the mantissa with exponent 0, or -1 for the upper part */
    x = cd_pm_from_bits(((uint64_t)(uint32_t)(hx | (i ^ 0x3ff00000)) << 32) | (ux & 0xffffffffull));
    k += i >> 20;
    const double f = x - 1.0;
    double dk;
    if ((0x000fffff & (2 + hx)) < 3) {        /* |f| < 2^-20 */
        if (f == 0.0) {
            if (k == 0) return 0.0;
            dk = (double)k;
            return cd_pm_mul(dk, CD_PM_LN2_HI) + cd_pm_mul(dk, CD_PM_LN2_LO);
        }
        const double R = cd_pm_mul(cd_pm_mul(f, f), 0.5 - cd_pm_mul(0.33333333333333333, f));
        if (k == 0) return f - R;
        dk = (double)k;
        return cd_pm_mul(dk, CD_PM_LN2_HI) - ((R - cd_pm_mul(dk, CD_PM_LN2_LO)) - f);
    }
    /* ln(1 + f) = 2s + s R(s^2) with s = f / (2 + f) */
    const double s = cd_pm_div(f, 2.0 + f);
    dk = (double)k;
    const double z = cd_pm_mul(s, s);
    i = hx - 0x6147a;
    const double w = cd_pm_mul(z, z);
    const int32_t j = 0x6b851 - hx;
    const double t1 = cd_pm_mul(w, Lg2 + cd_pm_mul(w, Lg4 + cd_pm_mul(w, Lg6)));
    const double t2 = cd_pm_mul(z, Lg1 + cd_pm_mul(w, Lg3 + cd_pm_mul(w, Lg5 + cd_pm_mul(w, Lg7))));
    i |= j;
    const double R = t2 + t1;
    if (i > 0) {                              /* f far from 0: keep f^2/2 apart */
        const double hfsq = cd_pm_mul(cd_pm_mul(0.5, f), f);
        if (k == 0) return f - (hfsq - cd_pm_mul(s, hfsq + R));
        return cd_pm_mul(dk, CD_PM_LN2_HI) - ((hfsq - (cd_pm_mul(s, hfsq + R) + cd_pm_mul(dk, CD_PM_LN2_LO))) - f);
    }
    if (k == 0) return f - cd_pm_mul(s, f - R);
    return cd_pm_mul(dk, CD_PM_LN2_HI) - ((cd_pm_mul(s, f - R) - cd_pm_mul(dk, CD_PM_LN2_LO)) - f);
}

#endif
