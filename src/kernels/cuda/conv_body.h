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

/* Output positions o in [0, n_out) whose input position o*stride + k - pad lies in [0, n_in), for kernel
 * tap k along one axis: [*lo, *hi), empty when *lo == *hi. */
CD_HD void cd_body_tap_range(int k, int pad, int stride, int n_in, int n_out, int *lo, int *hi)
{
    int l = k < pad ? (pad - k + stride - 1) / stride : 0;
    int t = n_in - 1 + pad - k; /* o * stride <= t */
    int h = t < 0 ? 0 : t / stride + 1;
    if (h > n_out) h = n_out;
    *lo = l;
    *hi = h > l ? h : l;
}

/* The weight gradient of output channel co at tap (ci, kh, kw), one sample, output rows [oh0, oh1): adds
 * dy * x to acc in the scalar reference's order (oh, then ow; taps outside the image skipped), so that
 * calling it band after band, sample after sample, gives the reference's sum bit for bit. dyb: rows oh0..
 * of the sample's dy plane co (rows of w_out). xb: input rows ih0.. of every input channel, channel ci at
 * xb + ci * x_plane (rows of w_in); the band must hold every row its output rows read. The whole sample
 * in place: oh0 = 0, oh1 = h_out, ih0 = 0, x_plane = h_in * w_in. */
CD_HD float cd_body_conv_weight_rows(cd_conv_shape s, const float *xb, int ih0, size_t x_plane, const float *dyb,
                                     int oh0, int oh1, int ci, int kh, int kw, float acc)
{
    int oh_lo, oh_hi, ow_lo, ow_hi;
    cd_body_tap_range(kh, s.pad, s.stride, s.h_in, s.h_out, &oh_lo, &oh_hi);
    cd_body_tap_range(kw, s.pad, s.stride, s.w_in, s.w_out, &ow_lo, &ow_hi);
    if (oh_lo < oh0) oh_lo = oh0;
    if (oh_hi > oh1) oh_hi = oh1;
    const float *xc = xb + (size_t)ci * x_plane;
    for (int oh = oh_lo; oh < oh_hi; oh++) {
        const float *dyr = dyb + (size_t)(oh - oh0) * s.w_out;
        const float *xr = xc + (size_t)(oh * s.stride + kh - s.pad - ih0) * s.w_in;
        for (int ow = ow_lo; ow < ow_hi; ow++) acc += dyr[ow] * xr[ow * s.stride + kw - s.pad];
    }
    return acc;
}

/* The bias gradient's terms of `rows` rows of one sample's dy plane, added to acc in order. */
CD_HD float cd_body_conv_bias_rows(cd_conv_shape s, const float *dyb, int rows, float acc)
{
    for (int p = 0; p < rows * s.w_out; p++) acc += dyb[p];
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
    const size_t plane = (size_t)s.h_in * s.w_in, xs = (size_t)s.c_in * plane, ys = (size_t)s.c_out * s.h_out * s.w_out;
    float acc = 0.0f;
    for (int n = 0; n < s.n; n++)
        acc = cd_body_conv_weight_rows(s, x + (size_t)n * xs, 0, plane, dy + (size_t)n * ys + (size_t)co * s.h_out * s.w_out,
                                       0, s.h_out, ci, kh, kw, acc);
    return acc;
}

/* db[co] */
CD_HD float cd_body_conv_backward_bias(cd_conv_shape s, const float *dy, int co)
{
    const size_t ys = (size_t)s.c_out * s.h_out * s.w_out;
    float acc = 0.0f;
    for (int n = 0; n < s.n; n++) acc = cd_body_conv_bias_rows(s, dy + (size_t)n * ys + (size_t)co * s.h_out * s.w_out, s.h_out, acc);
    return acc;
}

/* The staged weight-gradient kernel (conv.cu) computes one output channel of one chunk per block: the
 * channel's c_in * k_h * k_w weight sums and its bias sum, one thread each, while all the block's
 * threads copy the dy rows of the channel and the x rows those read into shared memory, a band of
 * `rows` output rows at a time: the sums (c_in * k_h * k_w + 1), the band's dy rows (rows * w_out) and
 * its x rows (c_in planes of x_rows * w_in). It takes the most rows whose floats fit in
 * CD_BODY_CONV_STAGED_FLOATS (48 KiB, what a block gets without opting in); shapes where not even one row
 * fits take the one-thread-per-sum kernel that reads x and dy in place. */
#define CD_BODY_CONV_STAGED_FLOATS ((size_t)48 * 1024 / sizeof(float))

CD_HD int cd_body_conv_staged_x_rows(cd_conv_shape s, int rows)
{
    int x_rows = (rows - 1) * s.stride + s.k_h;
    return x_rows < s.h_in ? x_rows : s.h_in;
}

CD_HD size_t cd_body_conv_staged_floats(cd_conv_shape s, int rows)
{
    return (size_t)s.c_in * s.k_h * s.k_w + 1 + (size_t)rows * s.w_out +
           (size_t)s.c_in * cd_body_conv_staged_x_rows(s, rows) * s.w_in;
}

/* The most output rows per band (at most h_out) whose staging fits in `floats`; 0 when not even one does. */
CD_HD int cd_body_conv_staged_rows(cd_conv_shape s, size_t floats)
{
    int rows = s.h_out;
    while (rows > 0 && cd_body_conv_staged_floats(s, rows) > floats) rows--;
    return rows;
}

/* Band [oh0, oh0 + rows) cut to the image: its output rows end at *oh1, and the input rows they read
 * are [*ih0, *ih1) (empty when every tap of the band falls in the padding). */
CD_HD void cd_body_conv_band(cd_conv_shape s, int oh0, int rows, int *oh1, int *ih0, int *ih1)
{
    *oh1 = oh0 + rows < s.h_out ? oh0 + rows : s.h_out;
    int lo = oh0 * s.stride - s.pad, hi = (*oh1 - 1) * s.stride - s.pad + s.k_h;
    *ih0 = lo > 0 ? lo : 0;
    *ih1 = hi < s.h_in ? hi : s.h_in;
    if (*ih1 < *ih0) *ih1 = *ih0;
}

#endif
