/* Convolution kernels, the bodies in conv_body.h: one thread per output element, and for the weight
 * gradient one thread per sum, the block's threads staging what its sums read in shared memory. */
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

/* Thread (c, j): j < nw a weight of chunk c, else bias j - nw; x and dy read in place. For the shapes
 * whose band of one output row does not fit the staged kernel's shared memory. */
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

/* Block (c, co): chunk c's gradient of output channel co, its c_in * k_h * k_w weights and its bias. Each
 * sum is one thread's, added in the scalar reference's order (no float sum is split, so the bits are the
 * reference's); what the block's threads share is the reading: they copy the channel's dy rows and the x
 * rows those read into shared memory, a band of `rows` output rows at a time (sample by sample, band by
 * band: the reference's order again), and the sums read them there. */
__global__ static void __launch_bounds__(CD_CU_THREADS)
conv_backward_weights_staged_k(cd_conv_shape s, int rows, const float *x, const float *dy, float *cgrad, size_t stride,
                               size_t w_off, size_t b_off)
{
    extern __shared__ float sh[];
    const int taps = s.c_in * s.k_h * s.k_w;
    const size_t x_plane = (size_t)cd_body_conv_staged_x_rows(s, rows) * s.w_in;
    const size_t in_plane = (size_t)s.h_in * s.w_in, out_plane = (size_t)s.h_out * s.w_out;
    float *acc = sh, *dyb = sh + taps + 1, *xb = dyb + (size_t)rows * s.w_out; /* sums (bias last), dy band, x band */
    const int co = (int)(blockIdx.x % (unsigned)s.c_out);
    const size_t c = blockIdx.x / (unsigned)s.c_out;
    for (int j = threadIdx.x; j <= taps; j += blockDim.x) acc[j] = 0.0f;
    for (int n = 0; n < s.n; n++) {
        const size_t sample = c * (size_t)s.n + (size_t)n;
        const float *xn = x + sample * (size_t)s.c_in * in_plane, *dyn = dy + (sample * s.c_out + (size_t)co) * out_plane;
        for (int oh0 = 0; oh0 < s.h_out; oh0 += rows) {
            int oh1, ih0, ih1;
            cd_body_conv_band(s, oh0, rows, &oh1, &ih0, &ih1);
            const size_t dy_n = (size_t)(oh1 - oh0) * s.w_out, x_n = (size_t)(ih1 - ih0) * s.w_in;
            __syncthreads(); /* the last band's sums are done with the buffers */
            for (size_t i = threadIdx.x; i < dy_n; i += blockDim.x) dyb[i] = dyn[(size_t)oh0 * s.w_out + i];
            for (size_t i = threadIdx.x; i < (size_t)s.c_in * x_n; i += blockDim.x) {
                const size_t ci = i / x_n, r = i % x_n;
                xb[ci * x_plane + r] = xn[ci * in_plane + (size_t)ih0 * s.w_in + r];
            }
            __syncthreads();
            for (int j = threadIdx.x; j <= taps; j += blockDim.x) {
                if (j == taps) {
                    acc[j] = cd_body_conv_bias_rows(s, dyb, oh1 - oh0, acc[j]);
                    continue;
                }
                const int kw = j % s.k_w, kh = (j / s.k_w) % s.k_h, ci = j / (s.k_w * s.k_h);
                acc[j] = cd_body_conv_weight_rows(s, xb, ih0, x_plane, dyb, oh0, oh1, ci, kh, kw, acc[j]);
            }
        }
    }
    __syncthreads();
    float *g = cgrad + c * stride;
    for (int j = threadIdx.x; j < taps; j += blockDim.x) g[w_off + (size_t)co * taps + j] = acc[j];
    if (threadIdx.x == 0) g[b_off + (size_t)co] = acc[taps];
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
    const int rows = cd_body_conv_staged_rows(s, CD_BODY_CONV_STAGED_FLOATS);
    const size_t blocks = (size_t)chunks * (size_t)s.c_out;
    if (rows > 0 && blocks <= 0x7fffffffu) {
        const int taps = s.c_in * s.k_h * s.k_w;
        const int threads = taps + 1 < CD_CU_THREADS ? (taps + 1 + 31) / 32 * 32 : CD_CU_THREADS;
        conv_backward_weights_staged_k<<<(unsigned)blocks, threads, cd_body_conv_staged_floats(s, rows) * sizeof(float), st>>>(
            s, rows, x, dy, cgrad, stride, w_off, b_off);
        return;
    }
    size_t n = ((size_t)s.c_out * s.c_in * s.k_h * s.k_w + (size_t)s.c_out) * (size_t)chunks;
    conv_backward_weights_k<<<cd_cu_blocks(n), CD_CU_THREADS, 0, st>>>(s, chunks, x, dy, cgrad, stride, w_off, b_off);
}
