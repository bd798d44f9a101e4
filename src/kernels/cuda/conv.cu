/* Convolution kernels: one thread per output element, the bodies in conv_body.h. */
#include "common.cuh"
#include "conv_body.h"
#include "cnn_ddp/cuda_kernels.h"

__global__ static void conv_forward_k(cd_conv_shape s, const float *x, const float *w, const float *b, float *y, size_t n)
{
    CD_CU_FOR(i, n) y[i] = cd_body_conv_forward(s, x, w, b, i);
}

__global__ static void conv_backward_data_k(cd_conv_shape s, const float *dy, const float *w, float *dx, size_t n)
{
    CD_CU_FOR(i, n) dx[i] = cd_body_conv_backward_data(s, dy, w, i);
}

/* Thread (c, j): j < nw a weight of chunk c, else bias j - nw. */
__global__ static void conv_backward_weights_k(cd_conv_shape s, int chunks, const float *x, const float *dy, float *cgrad,
                                               size_t stride, size_t w_off, size_t b_off)
{
    const size_t nw = (size_t)s.c_out * s.c_in * s.k_h * s.k_w, per = nw + (size_t)s.c_out;
    const size_t xs = (size_t)s.n * s.c_in * s.h_in * s.w_in, ys = (size_t)s.n * s.c_out * s.h_out * s.w_out;
    CD_CU_FOR(i, per * (size_t)chunks)
    {
        size_t c = i / per, j = i % per;
        const float *xc = x + c * xs, *dyc = dy + c * ys;
        float *g = cgrad + c * stride;
        if (j < nw)
            g[w_off + j] = cd_body_conv_backward_weight(s, xc, dyc, j);
        else
            g[b_off + (j - nw)] = cd_body_conv_backward_bias(s, dyc, (int)(j - nw));
    }
}

void cd_cu_conv_forward(cudaStream_t st, cd_conv_shape s, const float *x, const float *w, const float *b, float *y)
{
    size_t n = (size_t)s.n * s.c_out * s.h_out * s.w_out;
    conv_forward_k<<<cd_cu_blocks(n), CD_CU_THREADS, 0, st>>>(s, x, w, b, y, n);
}

void cd_cu_conv_backward_data(cudaStream_t st, cd_conv_shape s, const float *dy, const float *w, float *dx)
{
    size_t n = (size_t)s.n * s.c_in * s.h_in * s.w_in;
    conv_backward_data_k<<<cd_cu_blocks(n), CD_CU_THREADS, 0, st>>>(s, dy, w, dx, n);
}

void cd_cu_conv_backward_weights(cudaStream_t st, cd_conv_shape s, int chunks, const float *x, const float *dy,
                                 float *cgrad, size_t stride, size_t w_off, size_t b_off)
{
    size_t n = ((size_t)s.c_out * s.c_in * s.k_h * s.k_w + (size_t)s.c_out) * (size_t)chunks;
    conv_backward_weights_k<<<cd_cu_blocks(n), CD_CU_THREADS, 0, st>>>(s, chunks, x, dy, cgrad, stride, w_off, b_off);
}
