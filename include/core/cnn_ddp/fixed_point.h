/* Deterministic gradient combination: each chunk's float gradient is converted to fixed point
 * (int64, 2^-CD_FIXED_SHIFT resolution) and summed as integers. Integer addition is associative,
 * so the total is the same bits whichever rank holds which chunk and in whatever order MPI or NCCL
 * adds them; converting back gives the same float on every rank. */
#ifndef CNN_DDP_REDUCE_H
#define CNN_DDP_REDUCE_H

#include <stddef.h>
#include <stdint.h>
#include "cnn_ddp/error.h"

#define CD_FIXED_SHIFT 40
/* |value| above which one chunk's contribution is refused: 4096 chunks (the most --shards allows) of
 * at most 2^10 * 2^40 each keep the sum inside int64. A chunk gradient that large means divergence. */
#define CD_FIXED_LIMIT 1024.0

/* acc[i] += round(g[i] * 2^SHIFT). CD_E_NUMERIC when a value is NaN, Inf or beyond the limit
 * ("gradient element 12 (of 8490) is nan"); acc is then unspecified. */
cd_status cd_fixed_accumulate(int64_t *acc, const float *g, size_t n, cd_error *err);
/* A single double value (e.g. a loss sum) to fixed point, and back. */
int64_t cd_fixed_from_double(double v);
double cd_fixed_to_double(int64_t v);
/* g[i] = (float)(acc[i] * 2^-SHIFT), rounded once. */
void cd_fixed_to_float(const int64_t *acc, float *g, size_t n);

#endif
