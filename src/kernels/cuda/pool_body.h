/* Max-pool element bodies (see hd.h). */
#ifndef CD_CUDA_POOL_BODY_H
#define CD_CUDA_POOL_BODY_H

#include "hd.h"

/* y[i], i over [n][c][h_out][w_out]; *argmax = index into x of the first maximum (row-major). */
CD_HD float cd_body_pool_forward(cd_pool_shape s, const float *x, size_t i, int32_t *argmax)
{
    int ow = (int)(i % (size_t)s.w_out);
    size_t t = i / (size_t)s.w_out;
    int oh = (int)(t % (size_t)s.h_out);
    size_t pl = t / (size_t)s.h_out;
    const size_t xbase = pl * s.h_in * s.w_in;
    size_t best_i = xbase + (size_t)(oh * s.stride) * s.w_in + (size_t)(ow * s.stride);
    float best = x[best_i];
    for (int kh = 0; kh < s.k; kh++)
        for (int kw = 0; kw < s.k; kw++) {
            size_t j = xbase + (size_t)(oh * s.stride + kh) * s.w_in + (size_t)(ow * s.stride + kw);
            if (x[j] > best) {
                best = x[j];
                best_i = j;
            }
        }
    *argmax = (int32_t)best_i;
    return best;
}

/* dx[i], i over [n][c][h_in][w_in]: the reference adds dy[o] into dx[argmax[o]] for o ascending; the
 * windows that can pick element i are visited in that same ascending order. */
CD_HD float cd_body_pool_backward(cd_pool_shape s, const float *dy, const int32_t *argmax, size_t i)
{
    int iw = (int)(i % (size_t)s.w_in);
    size_t t = i / (size_t)s.w_in;
    int ih = (int)(t % (size_t)s.h_in);
    size_t pl = t / (size_t)s.h_in;
    int oh_lo, oh_hi, ow_lo, ow_hi;
    cd_body_window_range(ih, 0, s.k, s.stride, s.h_out, &oh_lo, &oh_hi);
    cd_body_window_range(iw, 0, s.k, s.stride, s.w_out, &ow_lo, &ow_hi);
    float acc = 0.0f;
    for (int oh = oh_lo; oh <= oh_hi; oh++)
        for (int ow = ow_lo; ow <= ow_hi; ow++) {
            size_t o = (pl * s.h_out + oh) * s.w_out + ow;
            if ((size_t)argmax[o] == i) acc += dy[o];
        }
    return acc;
}

#endif
