/* CD_HD marks the per-element kernel bodies: __host__ __device__ under nvcc, plain static inline under a
 * C compiler, so host tests (gcc- or nvcc-compiled, no GPU needed) run the very same index arithmetic
 * against the scalar reference (src/kernels/cpu/scalar.c).
 *
 * Each body computes ONE output element with the same sequence of float operations the scalar
 * reference performs for that element. Built without FMA contraction (nvcc --fmad=false, gcc
 * -ffp-contract=off) the CUDA path therefore gives the scalar path's bits:
 *  - gathers replace the reference's scatters (conv backward data, pool backward) by visiting the
 *    contributions in the order the scatter adds them;
 *  - weight gradients reduce over the samples of one chunk in the reference's order, so a chunk's
 *    gradient is a function of the chunk alone (no atomics, no dependence on the launch shape). */
#ifndef CD_CUDA_HD_H
#define CD_CUDA_HD_H

#include <stddef.h>
#include <stdint.h>

#include "cnn_ddp/kernels.h"

#ifdef __CUDACC__
#define CD_HD __host__ __device__ static inline
#else
#define CD_HD static inline
#endif

/* Output positions o in [0, n_out) whose window (start o*stride, length k) covers input position p. */
CD_HD void cd_body_window_range(int p, int pad, int k, int stride, int n_out, int *lo, int *hi)
{
    int t = p + pad - k + 1;
    *lo = t <= 0 ? 0 : (t + stride - 1) / stride;
    int h = (p + pad) / stride;
    *hi = h < n_out - 1 ? h : n_out - 1;
}

#endif
