/* Conv backward_data: as a convolution of dy with the flipped kernel, pointwise as one GEMM, or a
 * group's W^T dy GEMM into columns and col2im back onto the image.
 * Part of simd_body.h, which includes it after the vocabulary and the shared helpers. */
#ifndef CD_SIMD_CONV_DATA_H
#define CD_SIMD_CONV_DATA_H

/* Floats of backward_data's scratch on `path`: the flipped kernel and its direct forward's scratch;
 * or the group's dcol [K][ld], packed dy [c_out][ld] and col2im's image. */
static size_t conv_work_data(const cd_conv_shape *s, cd_conv_path path)
{
    if (path == CD_CONV_POINTWISE) return 0;
    if (path == CD_CONV_DATA_AS_CONV) {
        const cd_conv_shape t = data_conv_shape(s);
        return round16((size_t)s->c_in * s->c_out * s->k_h * s->k_w) + conv_work_forward(&t, CD_CONV_DIRECT);
    }
    const conv_geom g = conv_geometry(s);
    const size_t K = (size_t)s->c_in * s->k_h * s->k_w, ld = (size_t)group_ld(s);
    const size_t img = (size_t)s->c_in * s->h_in * s->w_in;
    /* col2im image planes: VL-rounded (valid), padded and VL-rounded, or plain */
    const size_t pr = ((size_t)g.H * g.W + VL - 1) / VL * VL;
    const size_t img_r = (size_t)s->c_in * pr;
    return round16(K * ld) + round16((size_t)s->c_out * ld) + (img > img_r ? img : img_r) + VL;
}

/* The plan takes this only where the transposed shape's forward is rows or direct (plan_data_as_conv);
 * the workspace is direct's, which covers rows' padded image. */
static void conv_data_as_conv(const cd_conv_shape *s, const float *dy, const float *w, float *dx, float *work)
{
    /* wt[ci][co][kh][kw] = w[co][ci][k-1-kh][k-1-kw] */
    const cd_conv_shape t = data_conv_shape(s);
    const int kk = s->k_h * s->k_w;
    float *wt = work;
    for (int co = 0; co < s->c_out; co++)
        for (int ci = 0; ci < s->c_in; ci++)
            for (int j = 0; j < kk; j++)
                wt[((size_t)ci * s->c_out + co) * kk + j] = w[((size_t)co * s->c_in + ci) * kk + kk - 1 - j];
    float *rest = work + round16((size_t)s->c_in * s->c_out * kk);
    if (plan_forward_rows(&t))
        conv_forward_rows(&t, dy, wt, NULL, dx, rest);
    else
        conv_forward_wide(&t, dy, wt, NULL, dx, rest);
}

static void conv_data_pointwise(const cd_conv_shape *s, const float *dy, const float *w, float *dx)
{
    const int K = s->c_in * s->k_h * s->k_w, P = s->h_out * s->w_out;
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * P;
    /* dx[K][P] = W^T dy: A(i,k) = w[k][i] */
    for (int n = 0; n < s->n; n++) gemm_bcast(K, P, s->c_out, w, 1, K, dy + n * ys, P, dx + n * xs, P, NULL);
}

/* One sample's dx from its columns dcol (rows ld apart), through the image buffer img. */
static void conv_data_col2im_one(const cd_conv_shape *s, const float *dcol, ptrdiff_t ld, float *img, float *dxn)
{
    if (s->stride != 1) {
        col2im(s, dcol, ld, img);
        copy_out(dxn, img, (size_t)s->c_in * s->h_in * s->w_in);
        return;
    }
    /* the valid gather onto the padded image (per element the same (kh,kw) order as col2im's
     * scatter, hence the same bits), then its interior */
    const conv_geom g = conv_geometry(s);
    const cd_conv_shape v = padded_shape(s, &g);
    const int plane = g.H * g.W, plane_r = (plane + VL - 1) / VL * VL;
    col2im_valid(&v, dcol, ld, img, plane_r);
    if (!s->pad) {
        for (int ci = 0; ci < s->c_in; ci++)
            copy_out(dxn + (size_t)ci * plane, img + (size_t)ci * plane_r, (size_t)plane);
        return;
    }
    for (int ci = 0; ci < s->c_in; ci++)
        for (int ih = 0; ih < s->h_in; ih++)
            copy_row(dxn + ((size_t)ci * s->h_in + ih) * s->w_in,
                     img + (size_t)ci * plane_r + (size_t)(ih + s->pad) * g.W + s->pad, s->w_in);
}

/* One GEMM over a group's positions side by side, then col2im per sample. */
static void conv_data_col2im(const cd_conv_shape *s, const float *dy, const float *w, float *dx, float *work)
{
    const group_layout g = conv_group_layout(s, work);
    float *dcol = g.col, *dyp = g.packed, *img = g.rest;
    for (int g0 = 0; g0 < s->n; g0 += g.group) {
        const int gn = imin(g.group, s->n - g0);
        pack_dy(s, dy + g0 * g.ys, gn, g.ld, dyp);
        gemm_bcast_ex(g.K, gn * g.P, s->c_out, w, 1, g.K, dyp, g.ld, NULL, dcol, g.ld, NULL, 1);
        for (int t = 0; t < gn; t++) conv_data_col2im_one(s, dcol + t * g.P, g.ld, img, dx + (g0 + t) * g.xs);
    }
}

/* Any path this op does not take (a scalar plan) goes through col2im, which serves every shape. */
static void simd_conv_backward_data(const cd_conv_shape *s, const cd_conv_plan *plan, const float *dy,
                                    const float *w, float *dx, float *work)
{
    switch (plan->backward_data) {
    case CD_CONV_DATA_AS_CONV: conv_data_as_conv(s, dy, w, dx, work); break;
    case CD_CONV_POINTWISE: conv_data_pointwise(s, dy, w, dx); break;
    default: conv_data_col2im(s, dy, w, dx, work); break;
    }
}

#endif
