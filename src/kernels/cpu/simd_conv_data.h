/* Conv backward_data: as a convolution of dy with the flipped kernel, pointwise as one GEMM, or a
 * group's W^T dy GEMM into columns and col2im back onto the image.
 * Part of simd_body.h, which includes it after the vocabulary and the shared helpers. */
#ifndef CD_SIMD_CONV_DATA_H
#define CD_SIMD_CONV_DATA_H

static size_t conv_work_data(const cd_conv_shape *s)
{
    if (conv_data_as_conv(s)) {
        const cd_conv_shape t = data_conv_shape(s);
        return round16((size_t)s->c_in * s->c_out * s->k_h * s->k_w) + conv_work_forward(&t);
    }
    const conv_geom g = conv_geometry(s);
    const size_t K = (size_t)s->c_in * s->k_h * s->k_w, ld = (size_t)group_ld(s);
    const size_t img = (size_t)s->c_in * s->h_in * s->w_in;
    /* col2im image planes: VL-rounded (valid), padded and VL-rounded, or plain */
    const size_t pr = ((size_t)g.H * g.W + VL - 1) / VL * VL;
    const size_t img_r = (size_t)s->c_in * pr;
    return round16(K * ld) + round16((size_t)s->c_out * ld) + (img > img_r ? img : img_r) + VL;
}

static void simd_conv_backward_data(const cd_conv_shape *s, const float *dy, const float *w, float *dx,
                                    float *work)
{
    if (conv_data_as_conv(s)) {
        /* wt[ci][co][kh][kw] = w[co][ci][k-1-kh][k-1-kw] */
        const cd_conv_shape t = data_conv_shape(s);
        const int kk = s->k_h * s->k_w;
        float *wt = work;
        for (int co = 0; co < s->c_out; co++)
            for (int ci = 0; ci < s->c_in; ci++)
                for (int j = 0; j < kk; j++)
                    wt[((size_t)ci * s->c_out + co) * kk + j] = w[((size_t)co * s->c_in + ci) * kk + kk - 1 - j];
        simd_conv_forward(&t, dy, wt, NULL, dx, work + round16((size_t)s->c_in * s->c_out * kk));
        return;
    }
    const int K = s->c_in * s->k_h * s->k_w, P = s->h_out * s->w_out;
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * P;
    /* dcol[K][P] = W^T dy: A(i,k) = w[k][i] */
    if (conv_is_pointwise(s)) {
        for (int n = 0; n < s->n; n++) gemm_bcast(K, P, s->c_out, w, 1, K, dy + n * ys, P, dx + n * xs, P, NULL);
        return;
    }
    /* one GEMM over a group's positions side by side, then col2im per sample */
    const int group = conv_group(s);
    const ptrdiff_t ld = group_ld(s);
    float *dcol = work, *dyp = dcol + round16((size_t)K * ld), *img = dyp + round16((size_t)s->c_out * ld);
    for (int g0 = 0; g0 < s->n; g0 += group) {
        const int gn = imin(group, s->n - g0);
        pack_dy(s, dy + g0 * ys, gn, ld, dyp);
        gemm_bcast_ex(K, gn * P, s->c_out, w, 1, K, dyp, ld, NULL, dcol, ld, NULL, 1);
        for (int t = 0; t < gn; t++) {
            float *dxn = dx + (g0 + t) * xs;
            if (s->stride != 1) {
                col2im(s, dcol + t * P, ld, img);
                copy_out(dxn, img, xs);
                continue;
            }
            /* the valid gather onto the padded image (per element the same (kh,kw) order as
             * col2im's scatter, hence the same bits), then its interior */
            const conv_geom g = conv_geometry(s);
            const cd_conv_shape v = padded_shape(s, &g);
            const int plane = g.H * g.W, plane_r = (plane + VL - 1) / VL * VL;
            col2im_valid(&v, dcol + t * P, ld, img, plane_r);
            if (!s->pad) {
                for (int ci = 0; ci < s->c_in; ci++)
                    copy_out(dxn + (size_t)ci * plane, img + (size_t)ci * plane_r, (size_t)plane);
                continue;
            }
            for (int ci = 0; ci < s->c_in; ci++)
                for (int ih = 0; ih < s->h_in; ih++)
                    copy_row(dxn + ((size_t)ci * s->h_in + ih) * s->w_in,
                             img + (size_t)ci * plane_r + (size_t)(ih + s->pad) * g.W + s->pad, s->w_in);
        }
    }
}

#endif
