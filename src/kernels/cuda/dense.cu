/* ReLU and linear kernels. */
#include "common.cuh"
#include "dense_body.h"
#include "cnn_ddp/cuda_kernels.h"

__global__ static void relu_forward_k(size_t n, const float *x, float *y)
{
    CD_CU_FOR(i, n) y[i] = cd_body_relu_forward(x[i]);
}

__global__ static void relu_backward_k(size_t n, const float *y, const float *dy, float *dx)
{
    CD_CU_FOR(i, n) dx[i] = cd_body_relu_backward(y[i], dy[i]);
}

__global__ static void linear_forward_k(cd_linear_shape s, const float *x, const float *w, const float *b, float *y, size_t n)
{
    CD_CU_FOR(i, n) y[i] = cd_body_linear_forward(s, x, w, b, i);
}

__global__ static void linear_backward_data_k(cd_linear_shape s, const float *dy, const float *w, float *dx, size_t n)
{
    CD_CU_FOR(i, n) dx[i] = cd_body_linear_backward_data(s, dy, w, i);
}

__global__ static void linear_backward_weights_k(cd_linear_shape s, int chunks, const float *x, const float *dy,
                                                 float *cgrad, size_t stride, size_t w_off, size_t b_off)
{
    const size_t nw = (size_t)s.out * s.in, per = nw + (size_t)s.out;
    CD_CU_FOR(i, per * (size_t)chunks)
    {
        size_t c = i / per, j = i % per;
        const float *xc = x + c * (size_t)s.n * s.in, *dyc = dy + c * (size_t)s.n * s.out;
        float *g = cgrad + c * stride;
        if (j < nw)
            g[w_off + j] = cd_body_linear_backward_weight(s, xc, dyc, j);
        else
            g[b_off + (j - nw)] = cd_body_linear_backward_bias(s, dyc, (int)(j - nw));
    }
}

void cd_cu_relu_forward(cudaStream_t st, size_t n, const float *x, float *y)
{
    relu_forward_k<<<cd_cu_blocks(n), CD_CU_THREADS, 0, st>>>(n, x, y);
}

void cd_cu_relu_backward(cudaStream_t st, size_t n, const float *y, const float *dy, float *dx)
{
    relu_backward_k<<<cd_cu_blocks(n), CD_CU_THREADS, 0, st>>>(n, y, dy, dx);
}

void cd_cu_linear_forward(cudaStream_t st, cd_linear_shape s, const float *x, const float *w, const float *b, float *y)
{
    size_t n = (size_t)s.n * s.out;
    linear_forward_k<<<cd_cu_blocks(n), CD_CU_THREADS, 0, st>>>(s, x, w, b, y, n);
}

void cd_cu_linear_backward_data(cudaStream_t st, cd_linear_shape s, const float *dy, const float *w, float *dx)
{
    size_t n = (size_t)s.n * s.in;
    linear_backward_data_k<<<cd_cu_blocks(n), CD_CU_THREADS, 0, st>>>(s, dy, w, dx, n);
}

void cd_cu_linear_backward_weights(cudaStream_t st, cd_linear_shape s, int chunks, const float *x, const float *dy,
                                   float *cgrad, size_t stride, size_t w_off, size_t b_off)
{
    size_t n = ((size_t)s.out * s.in + (size_t)s.out) * (size_t)chunks;
    linear_backward_weights_k<<<cd_cu_blocks(n), CD_CU_THREADS, 0, st>>>(s, chunks, x, dy, cgrad, stride, w_off, b_off);
}
