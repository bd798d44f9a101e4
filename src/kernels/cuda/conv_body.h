/* Convolution element bodies (see hd.h). */
#ifndef CD_CUDA_CONV_BODY_H
#define CD_CUDA_CONV_BODY_H

#include "hd.h"

/* y[i], i over [n][c_out][h_out][w_out] */
CD_HD float cd_body_conv_forward(cd_conv_shape s, const float *x, const float *w, const float *b, size_t i)
{
    int ow = (int)(i % (size_t)s.w_out);
    size_t t = i / (size_t)s.w_out;
    int oh = (int)(t % (size_t)s.h_out);
    t /= (size_t)s.h_out;
    int co = (int)(t % (size_t)s.c_out);
    size_t n = t / (size_t)s.c_out;
    const float *xn = x + n * (size_t)s.c_in * s.h_in * s.w_in;
    float acc = 0.0f;
    for (int ci = 0; ci < s.c_in; ci++)
        for (int kh = 0; kh < s.k_h; kh++) {
            int ih = oh * s.stride + kh - s.pad;
            if (ih < 0 || ih >= s.h_in) continue;
            for (int kw = 0; kw < s.k_w; kw++) {
                int iw = ow * s.stride + kw - s.pad;
                if (iw < 0 || iw >= s.w_in) continue;
                float wv = w[(((size_t)co * s.c_in + ci) * s.k_h + kh) * s.k_w + kw];
                acc += wv * xn[((size_t)ci * s.h_in + ih) * s.w_in + iw];
            }
        }
    return acc + b[co];
}

/* dx[i], i over [n][c_in][h_in][w_in]. The reference scatters w*dy over co, oh, ow (outer to inner),
 * starting from 0; each (co, oh, ow) reaches a given input element through at most one tap. */
CD_HD float cd_body_conv_backward_data(cd_conv_shape s, const float *dy, const float *w, size_t i)
{
    int iw = (int)(i % (size_t)s.w_in);
    size_t t = i / (size_t)s.w_in;
    int ih = (int)(t % (size_t)s.h_in);
    t /= (size_t)s.h_in;
    int ci = (int)(t % (size_t)s.c_in);
    size_t n = t / (size_t)s.c_in;
    const float *dyn = dy + n * (size_t)s.c_out * s.h_out * s.w_out;
    int oh_lo, oh_hi, ow_lo, ow_hi;
    cd_body_window_range(ih, s.pad, s.k_h, s.stride, s.h_out, &oh_lo, &oh_hi);
    cd_body_window_range(iw, s.pad, s.k_w, s.stride, s.w_out, &ow_lo, &ow_hi);
    float acc = 0.0f;
    for (int co = 0; co < s.c_out; co++)
        for (int oh = oh_lo; oh <= oh_hi; oh++) {
            int kh = ih + s.pad - oh * s.stride;
            if (kh < 0 || kh >= s.k_h) continue;
            for (int ow = ow_lo; ow <= ow_hi; ow++) {
                int kw = iw + s.pad - ow * s.stride;
                if (kw < 0 || kw >= s.k_w) continue;
                float wv = w[(((size_t)co * s.c_in + ci) * s.k_h + kh) * s.k_w + kw];
                acc += wv * dyn[((size_t)co * s.h_out + oh) * s.w_out + ow];
            }
        }
    return acc;
}

/* dw[i], i over [c_out][c_in][k_h][k_w]: the sum over the s.n samples at x/dy, in reference order. */
CD_HD float cd_body_conv_backward_weight(cd_conv_shape s, const float *x, const float *dy, size_t i)
{
    int kw = (int)(i % (size_t)s.k_w);
    size_t t = i / (size_t)s.k_w;
    int kh = (int)(t % (size_t)s.k_h);
    t /= (size_t)s.k_h;
    int ci = (int)(t % (size_t)s.c_in);
    int co = (int)(t / (size_t)s.c_in);
    const size_t xs = (size_t)s.c_in * s.h_in * s.w_in, ys = (size_t)s.c_out * s.h_out * s.w_out;
    float acc = 0.0f;
    for (int n = 0; n < s.n; n++)
        for (int oh = 0; oh < s.h_out; oh++) {
            int ih = oh * s.stride + kh - s.pad;
            if (ih < 0 || ih >= s.h_in) continue;
            for (int ow = 0; ow < s.w_out; ow++) {
                int iw = ow * s.stride + kw - s.pad;
                if (iw < 0 || iw >= s.w_in) continue;
                acc += dy[(size_t)n * ys + ((size_t)co * s.h_out + oh) * s.w_out + ow] *
                       x[(size_t)n * xs + ((size_t)ci * s.h_in + ih) * s.w_in + iw];
            }
        }
    return acc;
}

/* db[co] */
CD_HD float cd_body_conv_backward_bias(cd_conv_shape s, const float *dy, int co)
{
    const size_t ys = (size_t)s.c_out * s.h_out * s.w_out;
    float acc = 0.0f;
    for (int n = 0; n < s.n; n++)
        for (int p = 0; p < s.h_out * s.w_out; p++) acc += dy[(size_t)n * ys + (size_t)co * s.h_out * s.w_out + p];
    return acc;
}

#endif
