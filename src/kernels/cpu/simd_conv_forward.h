/* Conv forward: direct ("wide") on the image in place, pointwise as one GEMM on the image, or a
 * group's im2col side by side into one GEMM.
 * Part of simd_body.h, which includes it after the vocabulary and the shared helpers. */
#ifndef CD_SIMD_CONV_FORWARD_H
#define CD_SIMD_CONV_FORWARD_H

/* Floats of the forward's scratch on `path` (all parts 16-float aligned): the direct path's wide
 * output [c_out][Nw]; the im2col path's group col [K][ld] and y [c_out][ld]; either's padded image. */
static size_t conv_work_forward(const cd_conv_shape *s, cd_conv_path path)
{
    const conv_geom g = conv_geometry(s);
    const size_t K = (size_t)s->c_in * s->k_h * s->k_w, ld = (size_t)group_ld(s);
    const size_t xpad = s->pad && s->stride == 1 ? round16(g.plane + VL) : 0;
    switch (path) {
    case CD_CONV_POINTWISE: return 0;
    case CD_CONV_ROWS: return xpad;
    case CD_CONV_DIRECT: return round16((size_t)s->c_out * g.Nw + VL) + xpad;
    default: return round16(K * ld) + round16((size_t)s->c_out * ld) + xpad;
    }
}

static void conv_forward_wide(const cd_conv_shape *s, const float *x, const float *w, const float *b, float *y,
                              float *work)
{
    const conv_geom g = conv_geometry(s);
    const int K = s->c_in * s->k_h * s->k_w, P = s->h_out * s->w_out;
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * P;
    int koff[WIDE_KMAX];
    conv_koff(s, &g, koff);
    float *cw = work, *xpad = work + round16((size_t)s->c_out * g.Nw + VL);
    if (s->pad) zero_floats(xpad, g.plane);
    const int rows = s->c_out * s->h_out, wv = (s->w_out + VL - 1) / VL * VL;
    for (int n = 0; n < s->n; n++) {
        const float *img = x + n * xs;
        if (s->pad) {
            pad_interior(s, &g, img, xpad);
            img = xpad;
        }
        gemm_bcast_ex(s->c_out, g.Nw, K, w, K, 1, img, 0, koff, cw, g.Nw, b, 1);
        /* keep the w_out real columns of each wide row; whole vectors run on into the rows of y
         * written after it, where there are enough of them. cw has VL floats of slack. */
        float *yn = y + n * ys;
        const size_t left = (size_t)(s->n - n) * ys;
        for (int r = 0; r < rows; r++) {
            const float *src = cw + (size_t)(r / s->h_out) * g.Nw + (size_t)(r % s->h_out) * g.W;
            float *dst = yn + (size_t)r * s->w_out;
            if (left - (size_t)r * s->w_out < (size_t)wv) {
                copy_row(dst, src, s->w_out);
            } else {
                for (int i = 0; i < wv; i += VL) v_store(dst + i, v_load(src + i));
            }
        }
    }
}

/* Output rows as vectors (plan_forward_rows): y's vector (oh, v) is image row oh at column v*VL
 * shifted by koff[k], read in place (the padded copy, or x itself when the rows are whole vectors).
 * The plane's vectors in y's order, row after row, go ROWS_NR at a time through the register block,
 * which may span rows (14-wide rows are a whole vector and a ragged one). A ragged vector's lanes
 * past the row are junk stored whole into the start of the next row, which a later store
 * overwrites; only the plane's last vector is a masked store. Each output is the chain bias, fma
 * over k in order with the operands of the im2col path, so the bits are that path's. */
/* The rows path's register block: 4 channels by 3 vectors (12 accumulators). AVX2, n 8: seed conv1
 * (rows of 3 vectors) 32 -> 28 us against the bcast GEMM's 6 x 2 blocks, conv2 (rows of one vector)
 * 52 us either way. */
#define ROWS_MR 4
#define ROWS_NR 3

static void conv_forward_rows(const cd_conv_shape *s, const float *x, const float *w, const float *b, float *y,
                              float *work)
{
    const conv_geom g = conv_geometry(s);
    const int K = s->c_in * s->k_h * s->k_w, P = s->h_out * s->w_out;
    const int vpr = (s->w_out + VL - 1) / VL, nv = s->h_out * vpr, ragged = s->w_out % VL;
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * P;
    const vm mask = v_mask(ragged ? ragged : VL);
    int koff[WIDE_KMAX];
    conv_koff(s, &g, koff);
    float *xpad = work;
    if (s->pad) zero_floats(xpad, g.plane);
    /* channel blocks of even sizes, differing by one at most (10 channels: 4+3+3, not 4+4+2, whose
     * 6-accumulator block waits on FMA latency) */
    const int M = s->c_out, nblk = (M + ROWS_MR - 1) / ROWS_MR, mr_lo = M / nblk, big = M % nblk;
    /* vector groups of even sizes too (ex3's 7 vectors: 3+2+2, not 3+3+1, whose 4 accumulators wait
     * on FMA latency: a 1-vector block costs as much as a 2-vector one) */
    const int ngrp = (nv + ROWS_NR - 1) / ROWS_NR, vr_lo = nv / ngrp, vbig = nv % ngrp;
    for (int n = 0; n < s->n; n++) {
        const float *img = x + n * xs;
        if (s->pad) {
            pad_interior(s, &g, img, xpad);
            img = xpad;
        }
        float *yn = y + n * ys;
        int oh = 0, v = 0; /* the next vector's row and column vector: counted, not divided */
        for (int gi = 0, t0 = 0; gi < ngrp; t0 += vr_lo + (gi < vbig), gi++) {
            const int nr = vr_lo + (gi < vbig), last = ragged && t0 + nr == nv;
            ptrdiff_t boff[ROWS_NR], coff[ROWS_NR];
            for (int j = 0; j < nr; j++) {
                boff[j] = (ptrdiff_t)oh * g.W + v * VL;
                coff[j] = (ptrdiff_t)oh * s->w_out + v * VL;
                if (++v == vpr) v = 0, oh++;
            }
            for (int bi = 0, i0 = 0; bi < nblk; i0 += mr_lo + (bi < big), bi++)
                rows_block(mr_lo + (bi < big), nr, last, mask, K, w + (size_t)i0 * K, K, img, koff, boff,
                           yn + (size_t)i0 * P, P, coff, b ? b + i0 : NULL);
        }
    }
}

static void conv_forward_pointwise(const cd_conv_shape *s, const float *x, const float *w, const float *b,
                                   float *y)
{
    const int K = s->c_in * s->k_h * s->k_w, P = s->h_out * s->w_out;
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * P;
    for (int n = 0; n < s->n; n++) gemm_bcast(s->c_out, P, K, w, K, 1, x + n * xs, P, y + n * ys, P, b);
}

/* A group's im2col side by side, one GEMM over all its positions, then y from its rows. */
static void conv_forward_im2col(const cd_conv_shape *s, const float *x, const float *w, const float *b, float *y,
                                float *work)
{
    const group_layout g = conv_group_layout(s, work);
    float *col = g.col, *cy = g.packed, *xpad = g.rest;
    for (int g0 = 0; g0 < s->n; g0 += g.group) {
        const int gn = imin(g.group, s->n - g0);
        im2col_group(s, &g, x, g0, gn, col, xpad);
        gemm_bcast_ex(s->c_out, gn * g.P, g.K, w, g.K, 1, col, g.ld, NULL, cy, g.ld, b, 1);
        unpack_y(s, cy, gn, g.ld, y + g0 * g.ys);
    }
}

/* Any path this op does not take (a scalar plan) goes through im2col, which serves every shape. */
static void simd_conv_forward(const cd_conv_shape *s, const cd_conv_plan *plan, const float *x, const float *w,
                              const float *b, float *y, float *work)
{
    switch (plan->forward) {
    case CD_CONV_DIRECT: conv_forward_wide(s, x, w, b, y, work); break;
    case CD_CONV_ROWS: conv_forward_rows(s, x, w, b, y, work); break;
    case CD_CONV_POINTWISE: conv_forward_pointwise(s, x, w, b, y); break;
    default: conv_forward_im2col(s, x, w, b, y, work); break;
    }
}

#endif
