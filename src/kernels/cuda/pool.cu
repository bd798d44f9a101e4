/* Max-pool kernels: one thread per output (forward) or input (backward, a gather) element. */
#include "common.cuh"
#include "cnn_ddp/cuda_kernels.h"
#include "pool_body.h"

__global__ static void pool_forward_k(cd_pool_shape s, const float *x, float *y, int32_t *argmax, size_t n)
{
    CD_CU_FOR(i, n) y[i] = cd_body_pool_forward(s, x, i, &argmax[i]);
}

__global__ static void pool_backward_k(cd_pool_shape s, const float *dy, const int32_t *argmax, float *dx, size_t n)
{
    CD_CU_FOR(i, n) dx[i] = cd_body_pool_backward(s, dy, argmax, i);
}

void cd_cu_pool_forward(cudaStream_t st, cd_pool_shape s, const float *x, float *y, int32_t *argmax)
{
    size_t n = (size_t)s.n * s.c * s.h_out * s.w_out;
    pool_forward_k<<<cd_cu_blocks(n), CD_CU_THREADS, 0, st>>>(s, x, y, argmax, n);
}

void cd_cu_pool_backward(cudaStream_t st, cd_pool_shape s, const float *dy, const int32_t *argmax, float *dx)
{
    size_t n = (size_t)s.n * s.c * s.h_in * s.w_in;
    pool_backward_k<<<cd_cu_blocks(n), CD_CU_THREADS, 0, st>>>(s, dy, argmax, dx, n);
}
