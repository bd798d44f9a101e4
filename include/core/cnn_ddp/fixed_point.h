/* The exact gradient sum, defined once for the CPU replica, the CUDA replica and every comm backend.
 *
 * Each chunk's float gradient is converted to fixed point (int64, 2^-CD_FIXED_SHIFT resolution) and
 * summed as integers. Integer addition is associative, so the total is the same bits whichever rank
 * holds which chunk and in whatever order MPI or NCCL adds them; converting back gives the same float
 * on every rank.
 *
 * A step's buffer is n_params gradient values followed by CD_SLOTS bookkeeping values, so one
 * allreduce per step sums the gradient and keeps every rank in step on loss, hits, errors and stops. */
#ifndef CNN_DDP_FIXED_POINT_H
#define CNN_DDP_FIXED_POINT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "cnn_ddp/error.h"
#include "cnn_ddp/limits.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CD_FIXED_SHIFT 40
/* |value| above which one sample's contribution is refused: CD_MAX_BATCH (4096 = 2^12) samples of at
 * most 2^10 * 2^40 each keep the sum inside int64. A per-sample gradient that large means divergence. */
#define CD_FIXED_LIMIT 1024.0

/* The slots after the gradient, in this order in every step buffer. */
typedef enum cd_slot {
    CD_SLOT_LOSS,    /* sum over chunks of the chunk's share of the step's mean loss, fixed point */
    CD_SLOT_CORRECT, /* training samples whose arg-max logit was their label */
    CD_SLOT_ERROR,   /* > 0: some rank failed this step (the buffer's gradient is then meaningless) */
    CD_SLOT_STOP,    /* > 0: some rank received SIGINT/SIGTERM */
    CD_SLOTS
} cd_slot;

/* Where a step buffer lives: the host, or the memory of the CUDA device of the rank's replica. */
typedef enum cd_memory { CD_MEMORY_HOST = 0, CD_MEMORY_CUDA } cd_memory;

/* round(v * 2^SHIFT), ties to even, for |v| <= CD_FIXED_LIMIT; the same integer as llrint(v * 2^40).
 * Why not llrint: AVX2 has no double -> int64 conversion, so that loop stays scalar. Here v * 2^40
 * is exact (a power of two), and adding 1.5 * 2^52 lands in [2^52, 2^53), where doubles are exactly
 * the integers, so the addition itself rounds (ties to even) and the integer sits in the low
 * mantissa bits; every step is a plain vector instruction. Beyond the limit the result is garbage
 * but defined (callers check the limit first). */
static inline int64_t cd_fixed_round(double v)
{
    const double magic = 0x1.8p52;
    const double t = v * 0x1p40 + magic;
    int64_t bits, magic_bits;
    memcpy(&bits, &t, sizeof bits);
    memcpy(&magic_bits, &magic, sizeof magic_bits);
    return bits - magic_bits;
}

/* acc[i] += round(g[i] * 2^SHIFT). CD_E_NUMERIC when a value is NaN, Inf or beyond the limit
 * ("gradient element 12 (of 8490) is nan"); acc is then unspecified. */
cd_status cd_fixed_accumulate(int64_t *acc, const float *g, size_t n, cd_error *err);
/* CD_E_NUMERIC naming the first of n values that is NaN, infinite or beyond CD_FIXED_LIMIT, as
 * cd_fixed_accumulate would; CD_OK when there is none. */
cd_status cd_fixed_check(const float *g, size_t n, cd_error *err);
/* A single double value (e.g. a loss sum) to fixed point, and back. */
int64_t cd_fixed_from_double(double v);
double cd_fixed_to_double(int64_t v);
/* g[i] = (float)(acc[i] * 2^-SHIFT), rounded once. */
void cd_fixed_to_float(const int64_t *acc, float *g, size_t n);

#ifdef __cplusplus
}
#endif

#endif
