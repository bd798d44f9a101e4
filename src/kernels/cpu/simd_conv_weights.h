/* Conv backward_weights: the columns read from the image in place (direct) or from an im2col
 * buffer, reduced by the dot GEMM (thin c_out) or the wgrad GEMM on dy transposed (wide c_out);
 * pointwise straight from x; and the bias gradient.
 * Part of simd_body.h, which includes it after the vocabulary and the shared helpers. */
#ifndef CD_SIMD_CONV_WEIGHTS_H
#define CD_SIMD_CONV_WEIGHTS_H

/* Floats of backward_weights' scratch on `path`: the group's dy (wide, or transposed into cv-float
 * rows), dw transposed, the im2col columns, the padded images. */
static size_t conv_work_weights(const cd_conv_shape *s, cd_conv_path path)
{
    const conv_geom g = conv_geometry(s);
    const size_t K = (size_t)s->c_in * s->k_h * s->k_w, ld = (size_t)group_ld(s), cv = (size_t)conv_cv(s);
    const size_t gn = (size_t)conv_group(s), P = (size_t)s->h_out * s->w_out;
    const size_t xpad = s->pad && s->stride == 1 ? round16(g.plane + VL) : 0;
    switch (path) {
    case CD_CONV_POINTWISE: return 0;
    case CD_CONV_DIRECT_WGRAD: return round16(gn * g.Nw * cv) + round16(K * cv) + gn * xpad + 2 * round16(K * cv);
    case CD_CONV_DIRECT_DOT: return round16(gn * s->c_out * g.Nw + VL) + gn * xpad;
    case CD_CONV_ROWS_WGRAD: return round16(gn * P * cv) + round16(K * cv) + xpad + 2 * round16(K * cv);
    case CD_CONV_IM2COL_WGRAD:
        return round16(K * ld) + round16(gn * P * cv) + round16(K * cv) + xpad + 2 * round16(K * cv);
    default: return round16(K * ld) + round16((size_t)s->c_out * ld) + xpad;
    }
}

/* dw[co][k] (+)= sum over the group's samples and wide positions of dyw[co][q] img[koff[k] + q],
 * with dyw = dy on the real columns and 0 on the junk ones (0 * a finite image value adds +-0,
 * which leaves the sum alone). */
static void conv_weights_wide_dot(const cd_conv_shape *s, const float *x, const float *dy, float *dw, float *work)
{
    const conv_geom g = conv_geometry(s);
    const int K = s->c_in * s->k_h * s->k_w, P = s->h_out * s->w_out;
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * P;
    const int group = conv_group(s);
    const size_t dys = (size_t)s->c_out * g.Nw, xps = round16(g.plane + VL);
    int koff[WIDE_KMAX];
    conv_koff(s, &g, koff);
    float *dyw = work, *xpad = work + round16((size_t)group * dys + VL);
    if (s->pad) zero_floats(xpad, (size_t)group * xps);
    for (int g0 = 0; g0 < s->n; g0 += group) {
        const int gn = imin(group, s->n - g0);
        for (int t = 0; t < gn; t++) {
            const float *d = dy + (size_t)(g0 + t) * ys;
            /* each wide row whole: dy's w_out floats, then zeros (masked loads zero-fill); the
             * vectors run on into the next row, rewritten next, or into dyw's slack */
            for (int co = 0; co < s->c_out; co++)
                for (int oh = 0; oh < s->h_out; oh++) {
                    float *dst = dyw + t * dys + (size_t)co * g.Nw + (size_t)oh * g.W;
                    const float *src = d + ((size_t)co * s->h_out + oh) * s->w_out;
                    const int len = oh == s->h_out - 1 ? s->w_out : g.W;
                    for (int i = 0; i < len; i += VL) {
                        const int live = s->w_out - i;
                        v_store(dst + i, live >= VL ? v_load(src + i) : v_loadm(src + i, v_mask(imax(0, live))));
                    }
                }
            if (s->pad) pad_interior(s, &g, x + (size_t)(g0 + t) * xs, xpad + t * xps);
        }
        const float *img = s->pad ? xpad : x + (size_t)g0 * xs;
        const ptrdiff_t img_stride = s->pad ? (ptrdiff_t)xps : (ptrdiff_t)xs;
        gemm_dot(s->c_out, K, g.Nw, gn, dyw, g.Nw, (ptrdiff_t)dys, img, 0, koff, img_stride, dw, K, g0 > 0);
    }
}

/* dwT[k][co] = sum over the group's samples and wide positions of img[koff[k] + q] dyT[q][co], with
 * dyT = dy on the real columns and 0 on the junk ones (0 * a finite image value adds +-0, which
 * leaves the sum alone). With dw NULL (one sample, for the fixed-point sums) it stops at dwT and
 * returns it: [K][cv], the padding columns 0. */
static const float *conv_weights_wide_T(const cd_conv_shape *s, const float *x, const float *dy, float *dw,
                                        float *work)
{
    const conv_geom g = conv_geometry(s);
    const int K = s->c_in * s->k_h * s->k_w, P = s->h_out * s->w_out, cv = conv_cv(s);
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * P;
    const int group = conv_group(s);
    const size_t dts = (size_t)g.Nw * cv, xps = round16(g.plane + VL);
    int koff[WIDE_KMAX];
    conv_koff(s, &g, koff);
    float *dyT = work, *dwT = dyT + round16((size_t)group * dts), *xpad = dwT + round16((size_t)K * cv);
    if (s->pad) zero_floats(xpad, (size_t)group * xps);
    for (int g0 = 0; g0 < s->n; g0 += group) {
        const int gn = imin(group, s->n - g0);
        pack_dyT(s, dy + g0 * ys, gn, g.W, g.Nw, cv, dyT);
        if (s->pad)
            for (int t = 0; t < gn; t++) pad_interior(s, &g, x + (size_t)(g0 + t) * xs, xpad + t * xps);
        const float *img = s->pad ? xpad : x + (size_t)g0 * xs;
        const ptrdiff_t img_stride = s->pad ? (ptrdiff_t)xps : (ptrdiff_t)xs;
        gemm_wgrad(K, cv / VL, g.Nw, gn, img, 0, koff, img_stride, dyT, (ptrdiff_t)dts, dwT);
        if (dw) dw_from_T(s, K, dwT, cv, dw, g0 > 0);
    }
    return dwT;
}

static void conv_weights_wide(const cd_conv_shape *s, const float *x, const float *dy, float *dw, float *work)
{
    conv_weights_wide_T(s, x, dy, dw, work);
}

/* dwT[k][co] = sum over positions (oh, ow) in order of img[koff[k] + oh*W + ow] dyT[oh*w_out + ow][co]:
 * the wgrad GEMM with its sample loop run over output rows (A rows W apart, dyT rows w_out*cv apart),
 * one sample per GEMM. For n > 1 (the float op; training takes n = 1) the samples' dwT are added in
 * sample order in float. dw NULL (one sample): as conv_weights_wide_T. */
static const float *conv_weights_rows_T(const cd_conv_shape *s, const float *x, const float *dy, float *dw,
                                        float *work)
{
    const conv_geom g = conv_geometry(s);
    const int K = s->c_in * s->k_h * s->k_w, P = s->h_out * s->w_out, cv = conv_cv(s);
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * P;
    const int group = conv_group(s);
    const size_t dts = (size_t)P * cv;
    int koff[WIDE_KMAX];
    conv_koff(s, &g, koff);
    float *dyT = work, *dwT = dyT + round16((size_t)group * dts), *xpad = dwT + round16((size_t)K * cv);
    if (s->pad) zero_floats(xpad, g.plane);
    for (int g0 = 0; g0 < s->n; g0 += group) {
        const int gn = imin(group, s->n - g0);
        pack_dyT(s, dy + g0 * ys, gn, s->w_out, P, cv, dyT);
        for (int t = 0; t < gn; t++) {
            const float *img = x + (size_t)(g0 + t) * xs;
            if (s->pad) {
                pad_interior(s, &g, img, xpad);
                img = xpad;
            }
            gemm_wgrad(K, cv / VL, s->w_out, s->h_out, img, 0, koff, g.W, dyT + t * dts, (ptrdiff_t)s->w_out * cv,
                       dwT);
            if (dw) dw_from_T(s, K, dwT, cv, dw, g0 + t > 0);
        }
    }
    return dwT;
}

/* dw[co][ci] (+)= sum_t sum_p dy_t[co][p] x_t[ci][p] */
static void conv_weights_pointwise(const cd_conv_shape *s, const float *x, const float *dy, float *dw)
{
    const int K = s->c_in * s->k_h * s->k_w, P = s->h_out * s->w_out;
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * P;
    const int group = conv_group(s);
    for (int g0 = 0; g0 < s->n; g0 += group) {
        const int gn = imin(group, s->n - g0);
        gemm_dot(s->c_out, K, P, gn, dy + g0 * ys, P, (ptrdiff_t)ys, x + g0 * xs, P, NULL, (ptrdiff_t)xs, dw, K,
                 g0 > 0);
    }
}

/* dw[co][k] (+)= sum over the group's positions side by side of dy[co][.] col[k][.] */
static void conv_weights_im2col_dot(const cd_conv_shape *s, const float *x, const float *dy, float *dw, float *work)
{
    const group_layout g = conv_group_layout(s, work);
    float *col = g.col, *dyp = g.packed, *xpad = g.rest;
    for (int g0 = 0; g0 < s->n; g0 += g.group) {
        const int gn = imin(g.group, s->n - g0);
        pack_dy(s, dy + g0 * g.ys, gn, g.ld, dyp);
        im2col_group(s, &g, x, g0, gn, col, xpad);
        gemm_dot(s->c_out, g.K, gn * g.P, 1, dyp, g.ld, 0, col, g.ld, NULL, 0, dw, g.K, g0 > 0);
    }
}

/* dwT[k][co] = sum over the group's positions side by side of col[k][.] dyT[.][co]; dw NULL: as
 * conv_weights_wide_T. */
static const float *conv_weights_im2col_wgrad_T(const cd_conv_shape *s, const float *x, const float *dy, float *dw,
                                                float *work)
{
    const group_layout g = conv_group_layout(s, work);
    const int cv = conv_cv(s);
    float *col = g.col, *dyT = g.packed; /* dyT is [group * P][cv], not [c_out][ld] */
    float *dwT = dyT + round16((size_t)g.group * g.P * cv), *xpad = dwT + round16((size_t)g.K * cv);
    for (int g0 = 0; g0 < s->n; g0 += g.group) {
        const int gn = imin(g.group, s->n - g0);
        pack_dyT(s, dy + g0 * g.ys, gn, s->w_out, g.P, cv, dyT);
        im2col_group(s, &g, x, g0, gn, col, xpad);
        gemm_wgrad(g.K, cv / VL, gn * g.P, 1, col, g.ld, NULL, 0, dyT, 0, dwT);
        if (dw) dw_from_T(s, g.K, dwT, cv, dw, g0 > 0);
    }
    return dwT;
}

static void conv_weights_im2col_wgrad(const cd_conv_shape *s, const float *x, const float *dy, float *dw,
                                      float *work)
{
    conv_weights_im2col_wgrad_T(s, x, dy, dw, work);
}

/* db[co] = lane sums of dy over the batch and positions, whole vectors then the masked tail */
static void conv_bias_grad(const cd_conv_shape *s, const float *dy, float *db)
{
    const int P = s->h_out * s->w_out;
    const size_t ys = (size_t)s->c_out * P;
    const int full = P / VL, rem = P % VL;
    const vm m = v_mask(rem ? rem : 1);
    for (int co = 0; co < s->c_out; co++) {
        vf acc = v_zero();
        for (int n = 0; n < s->n; n++) {
            const float *r = dy + n * ys + (size_t)co * P;
            for (int q = 0; q < full; q++) acc = v_add(acc, v_load(r + q * VL));
            if (rem) acc = v_add(acc, v_loadm(r + full * VL, m));
        }
        db[co] = v_hsum(acc);
    }
}

/* Any path this op does not take (a scalar plan) goes through im2col-dot, which serves every shape. */
static void simd_conv_backward_weights(const cd_conv_shape *s, const cd_conv_plan *plan, const float *x,
                                       const float *dy, float *dw, float *db, float *work)
{
    if (s->n <= 0) {
        memset(dw, 0, sizeof(float) * (size_t)s->c_out * s->c_in * s->k_h * s->k_w);
        memset(db, 0, sizeof(float) * (size_t)s->c_out);
        return;
    }
    switch (plan->backward_weights) {
    case CD_CONV_ROWS_WGRAD: conv_weights_rows_T(s, x, dy, dw, work); break;
    case CD_CONV_DIRECT_WGRAD: conv_weights_wide(s, x, dy, dw, work); break;
    case CD_CONV_DIRECT_DOT: conv_weights_wide_dot(s, x, dy, dw, work); break;
    case CD_CONV_POINTWISE: conv_weights_pointwise(s, x, dy, dw); break;
    case CD_CONV_IM2COL_WGRAD: conv_weights_im2col_wgrad(s, x, dy, dw, work); break;
    default: conv_weights_im2col_dot(s, x, dy, dw, work); break;
    }
    conv_bias_grad(s, dy, db);
}

/* Where a wgrad path's sums sit in the workspace: after everything conv_work_weights counted for it. */
static int64_t *wgrad_fixed_sums(const cd_conv_shape *s, cd_conv_path path, float *work)
{
    const size_t K = (size_t)s->c_in * s->k_h * s->k_w, cv = (size_t)conv_cv(s);
    return (int64_t *)(void *)(work + conv_work_weights(s, path) - 2 * round16(K * cv));
}

/* backward_weights sample by sample, each sample's float dw and db (those of n = 1) added in fixed
 * point. The wgrad paths add the transposed dwT as it comes out of the GEMM, a contiguous vectorised
 * pass, into int64 sums in the same [K][cv] layout, and transpose those once per call: a per-sample
 * transpose would cost about as much as the sample's GEMM on small planes. */
static int simd_conv_backward_weights_fixed(const cd_conv_shape *s, const cd_conv_plan *plan, const float *x,
                                            const float *dy, float *dw, float *db, int64_t *dw_sum, int64_t *db_sum,
                                            float *work)
{
    cd_conv_shape one = *s;
    one.n = 1;
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * s->h_out * s->w_out;
    const int K = s->c_in * s->k_h * s->k_w, cv = conv_cv(s);
    const cd_conv_path path = plan->backward_weights;
    const int wgrad = path == CD_CONV_DIRECT_WGRAD || path == CD_CONV_IM2COL_WGRAD || path == CD_CONV_ROWS_WGRAD;
    int64_t *sumT = wgrad ? wgrad_fixed_sums(s, path, work) : NULL;
    if (sumT) memset(sumT, 0, sizeof(int64_t) * (size_t)K * cv);
    cd_error err; /* only whether a value was bad travels back; the caller names it */
    int bad = 0;
    for (int n = 0; n < s->n && !bad; n++) {
        const float *xn = x + (size_t)n * xs, *dyn = dy + (size_t)n * ys;
        if (sumT) {
            const float *dwT = path == CD_CONV_ROWS_WGRAD     ? conv_weights_rows_T(&one, xn, dyn, NULL, work)
                               : path == CD_CONV_DIRECT_WGRAD ? conv_weights_wide_T(&one, xn, dyn, NULL, work)
                                                              : conv_weights_im2col_wgrad_T(&one, xn, dyn, NULL, work);
            bad |= cd_fixed_accumulate(sumT, dwT, (size_t)K * cv, &err) != CD_OK;
            conv_bias_grad(&one, dyn, db);
        } else {
            simd_conv_backward_weights(&one, plan, xn, dyn, dw, db, work); /* db too */
            bad |= cd_fixed_accumulate(dw_sum, dw, (size_t)s->c_out * K, &err) != CD_OK;
        }
        bad |= cd_fixed_accumulate(db_sum, db, (size_t)s->c_out, &err) != CD_OK;
    }
    if (sumT && !bad)
        for (int co = 0; co < s->c_out; co++)
            for (int k = 0; k < K; k++) dw_sum[(size_t)co * K + k] += sumT[(size_t)k * cv + co];
    return bad;
}

#endif
