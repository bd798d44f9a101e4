/* The conv ops' data movement: im2col and col2im, zero-padded image copies, the direct path's row
 * offsets, and the packing of a group of samples' dy and y (plain and transposed). No arithmetic
 * but col2im's adds, whose order is fixed by the shape.
 * Part of simd_body.h, which includes it after the vocabulary and the shared helpers. */
#ifndef CD_SIMD_CONV_LAYOUT_H
#define CD_SIMD_CONV_LAYOUT_H

/* Rows of the im2col buffer and of the col2im image are short (w_out is often 7..28) and written in
 * increasing address order, so they are written with whole vectors that run past the row end into
 * the next row (rewritten right after) or into VL floats of slack at the end of the buffer: masked
 * stores are slow on some CPUs, masked loads are not (and do not fault on masked-off lanes). */

/* Lanes l of the vector at ow0 with lo <= ow0 + l < hi. */
static inline vm range_mask(int ow0, int lo, int hi)
{
    const int a = imax(lo - ow0, 0), b = imin(hi - ow0, VL);
    if (b <= a) return v_mask(0);
    return v_mask_range(a, b);
}

/* im2col for stride 1 without padding (the hot case): each col row (ci,kh,kw) is the x plane
 * shifted by kh*w_in + kw, cut into output rows. A col vector at p0 spans a few output rows; lane
 * p0+l of output row oh reads base + oh*(w_in - w_out) + p0 + l, the same offset for every
 * (ci,kh,kw), so a vector is a few masked loads merged, then one whole store. */
#define IM2COL_PLAN 256

static void im2col_valid(const cd_conv_shape *s, const float *x, float *col, ptrdiff_t ld)
{
    const int P = s->h_out * s->w_out, wo = s->w_out, step = s->w_in - s->w_out;
    if ((wo == VL || 2 * wo == VL) && P % VL == 0) {
        /* output rows of VL or VL/2 (conv2's 8x8): each vector is one or two whole image rows, no
         * masked merges */
        const int rows = s->c_in * s->k_h * s->k_w;
        for (int r = 0; r < rows; r++) {
            const int ci = r / (s->k_h * s->k_w), kh = r / s->k_w % s->k_h, kw = r % s->k_w;
            const float *base = x + ((size_t)ci * s->h_in + kh) * s->w_in + kw;
            float *d = col + r * ld;
            for (int oh = 0; oh < s->h_out; oh += VL / wo) {
                const float *src = base + oh * s->w_in;
                v_store(d + oh * wo, wo == VL ? v_load(src) : v_load_halves(src, src + s->w_in));
            }
        }
        return;
    }
    /* the segments (offset, lanes, last of its vector?) once, for all (ci,kh,kw) rows */
    int seg_off[IM2COL_PLAN];
    vm seg_mask[IM2COL_PLAN];
    unsigned char seg_end[IM2COL_PLAN];
    int nseg = 0;
    for (int p0 = 0; p0 < P && nseg >= 0; p0 += VL) {
        const int pend = imin(p0 + VL, P);
        for (int q = p0, oh = p0 / wo; q < pend; oh++) {
            const int qend = imin((oh + 1) * wo, pend);
            if (nseg == IM2COL_PLAN) {
                nseg = -1; /* too many: fall back to working them out per row */
                break;
            }
            seg_off[nseg] = oh * step + p0;
            seg_mask[nseg] = v_mask_range(q - p0, qend - p0);
            seg_end[nseg] = qend == pend;
            nseg++;
            q = qend;
        }
    }
    if (nseg > 0) {
        const int rows = s->c_in * s->k_h * s->k_w;
        for (int r = 0; r < rows; r++) {
            const int ci = r / (s->k_h * s->k_w), kh = r / s->k_w % s->k_h, kw = r % s->k_w;
            const float *base = x + ((size_t)ci * s->h_in + kh) * s->w_in + kw;
            float *d = col + r * ld;
            vf v = v_zero();
            for (int i = 0; i < nseg; i++) {
                v = v_loadm_merge(v, base + seg_off[i], seg_mask[i]);
                if (seg_end[i]) {
                    v_store(d, v);
                    d += VL;
                    v = v_zero();
                }
            }
        }
        return;
    }
    for (int ci = 0; ci < s->c_in; ci++)
        for (int kh = 0; kh < s->k_h; kh++)
            for (int kw = 0; kw < s->k_w; kw++) {
                float *row = col + ((ci * s->k_h + kh) * s->k_w + kw) * ld;
                const float *base = x + ((size_t)ci * s->h_in + kh) * s->w_in + kw;
                for (int p0 = 0; p0 < P; p0 += VL) {
                    const int pend = imin(p0 + VL, P);
                    int oh = p0 / wo;
                    vf v = v_zero();
                    for (int q = p0; q < pend; oh++) {
                        const int qend = imin((oh + 1) * wo, pend);
                        v = v_loadm_merge(v, base + oh * step + p0, v_mask_range(q - p0, qend - p0));
                        q = qend;
                    }
                    v_store(row + p0, v);
                }
            }
}

/* col[(ci,kh,kw)][(oh,ow)] = x[ci][oh*stride+kh-pad][ow*stride+kw-pad], 0 in the padding; col rows
 * ld apart. Each row's last vector runs up to VL-1 floats past its P: onto what is written after it
 * (the next sample of a group, packed at +P) or into slack. */
static void im2col(const cd_conv_shape *s, const float *x, float *col, ptrdiff_t ld)
{
    if (s->stride == 1 && s->pad == 0) {
        im2col_valid(s, x, col, ld);
        return;
    }
    for (int ci = 0; ci < s->c_in; ci++)
        for (int kh = 0; kh < s->k_h; kh++)
            for (int kw = 0; kw < s->k_w; kw++) {
                float *row = col + ((ci * s->k_h + kh) * s->k_w + kw) * ld;
                /* valid ow range for stride 1: 0 <= ow + kw - pad < w_in */
                const int lo = imin(s->w_out, imax(0, s->pad - kw));
                const int hi = imax(lo, imin(s->w_out, s->w_in + s->pad - kw));
                for (int oh = 0; oh < s->h_out; oh++) {
                    const int ih = oh * s->stride + kh - s->pad;
                    float *d = row + oh * s->w_out;
                    if (ih < 0 || ih >= s->h_in) {
                        for (int ow0 = 0; ow0 < s->w_out; ow0 += VL) v_store(d + ow0, v_zero());
                        continue;
                    }
                    const float *xr = x + ((size_t)ci * s->h_in + ih) * s->w_in;
                    if (s->stride == 1) {
                        /* lanes outside [lo, hi) are padding: the masked load gives 0 there */
                        const ptrdiff_t off = kw - s->pad;
                        if (lo == 0 && hi == s->w_out) {
                            int ow0 = 0;
                            for (; ow0 + VL <= hi; ow0 += VL) v_store(d + ow0, v_load(xr + ow0 + off));
                            if (ow0 < hi) v_store(d + ow0, v_loadm(xr + ow0 + off, v_mask(hi - ow0)));
                        } else {
                            for (int ow0 = 0; ow0 < s->w_out; ow0 += VL)
                                v_store(d + ow0, v_loadm(xr + ow0 + off, range_mask(ow0, lo, hi)));
                        }
                    } else {
                        for (int ow = 0; ow < s->w_out; ow++) {
                            const int iw = ow * s->stride + kw - s->pad;
                            d[ow] = (iw >= 0 && iw < s->w_in) ? xr[iw] : 0.0f;
                        }
                    }
                }
            }
}

/* img = 0, then img[ci][ih][iw] += col[(ci,kh,kw)][(oh,ow)] in (ci,kh,kw,oh,ow) order: elementwise
 * adds in a fixed order, so the bits depend on the shape only. img needs VL floats of slack; lanes
 * outside a row's range add +0, which leaves every value's bits alone (a sum started at +0 is
 * never -0). */
static void col2im(const cd_conv_shape *s, const float *col, ptrdiff_t ld, float *img)
{
    const size_t len = (size_t)s->c_in * s->h_in * s->w_in;
    for (size_t i = 0; i < len + VL; i += VL) v_store(img + i, v_zero());
    for (int ci = 0; ci < s->c_in; ci++)
        for (int kh = 0; kh < s->k_h; kh++)
            for (int kw = 0; kw < s->k_w; kw++) {
                const float *row = col + ((ci * s->k_h + kh) * s->k_w + kw) * ld;
                const int lo = imin(s->w_out, imax(0, s->pad - kw));
                const int hi = imax(lo, imin(s->w_out, s->w_in + s->pad - kw));
                for (int oh = 0; oh < s->h_out; oh++) {
                    const int ih = oh * s->stride + kh - s->pad;
                    if (ih < 0 || ih >= s->h_in) continue;
                    const float *c = row + oh * s->w_out;
                    float *xr = img + ((size_t)ci * s->h_in + ih) * s->w_in;
                    if (s->stride == 1) {
                        /* img position lo+kw-pad+i gets c[lo+i] for i < hi-lo */
                        float *xo = xr + lo + kw - s->pad;
                        const float *co = c + lo;
                        const int n = hi - lo;
                        for (int i = 0; i < n; i += VL) {
                            vf add = i + VL <= n ? v_load(co + i) : v_loadm(co + i, v_mask(n - i));
                            v_store(xo + i, v_add(v_load(xo + i), add));
                        }
                    } else {
                        for (int ow = 0; ow < s->w_out; ow++) {
                            const int iw = ow * s->stride + kw - s->pad;
                            if (iw >= 0 && iw < s->w_in) xr[iw] += c[ow];
                        }
                    }
                }
            }
}

/* col2im for stride 1 without padding, as a gather: each image vector (a few image rows' worth of
 * lanes) sums, for (kh,kw) in order, the col lanes that land on it: a masked load per image row
 * it spans. The masks and offsets depend on (vector, kh, kw) only, so they are worked out once
 * for all c_in planes. img planes are VL-rounded (plane_r floats apart). Per element the sum is
 * 0 + contributions in (kh,kw) order: fixed by the shape. */
#define COL2IM_TAB 256
#define COL2IM_CI 5

static void col2im_valid(const cd_conv_shape *s, const float *col, ptrdiff_t ld, float *img, int plane_r)
{
    const int plane = s->h_in * s->w_in, win = s->w_in;
    const size_t kk = (size_t)s->k_h * s->k_w;
    /* per image vector, the (offset, mask) of every col row segment that lands on it, in (kh, kw)
     * order, once for all c_in planes; the planes' sums then stay in registers, COL2IM_CI at a
     * time, and each image vector is stored once */
    ptrdiff_t tab_off[COL2IM_TAB];
    vm tab_mask[COL2IM_TAB];
    for (int p0 = 0; p0 < plane; p0 += VL) {
        const int pend = imin(p0 + VL, plane);
        int nt = 0;
        for (int kh = 0; kh < s->k_h && nt >= 0; kh++)
            for (int kw = 0; kw < s->k_w && nt >= 0; kw++)
                for (int ih = p0 / win; ih * win < pend; ih++) {
                    const int oh = ih - kh;
                    if (oh < 0 || oh >= s->h_out) continue;
                    const int q_lo = imax(p0, ih * win + kw), q_hi = imin(pend, ih * win + kw + s->w_out);
                    if (q_lo >= q_hi) continue;
                    if (nt == COL2IM_TAB) {
                        nt = -1;
                        break;
                    }
                    tab_mask[nt] = v_mask_range(q_lo - p0, q_hi - p0);
                    /* lane l: col[(kh,kw)][oh*w_out + (p0 + l - ih*w_in - kw)] */
                    tab_off[nt] = (kh * s->k_w + kw) * ld + (ptrdiff_t)oh * s->w_out - (ptrdiff_t)ih * win - kw + p0;
                    nt++;
                }
        if (nt < 0) {
            /* too many segments for the table (very narrow images): one plane at a time in memory */
            for (int ci = 0; ci < s->c_in; ci++) v_store(img + (size_t)ci * plane_r + p0, v_zero());
            for (int kh = 0; kh < s->k_h; kh++)
                for (int kw = 0; kw < s->k_w; kw++) {
                    const float *crow = col + (kh * s->k_w + kw) * ld;
                    for (int ih = p0 / win; ih * win < pend; ih++) {
                        const int oh = ih - kh;
                        if (oh < 0 || oh >= s->h_out) continue;
                        const int q_lo = imax(p0, ih * win + kw), q_hi = imin(pend, ih * win + kw + s->w_out);
                        if (q_lo >= q_hi) continue;
                        const vm m = v_mask_range(q_lo - p0, q_hi - p0);
                        const ptrdiff_t off = (ptrdiff_t)oh * s->w_out - (ptrdiff_t)ih * win - kw + p0;
                        for (int ci = 0; ci < s->c_in; ci++) {
                            float *acc = img + (size_t)ci * plane_r + p0;
                            v_store(acc, v_add(v_load(acc), v_loadm(crow + ci * (ptrdiff_t)kk * ld + off, m)));
                        }
                    }
                }
            continue;
        }
        int ci = 0;
        for (; ci + COL2IM_CI <= s->c_in; ci += COL2IM_CI) {
            vf acc[COL2IM_CI];
            const float *c0 = col + ci * (ptrdiff_t)kk * ld;
            CD_UNROLL for (int c = 0; c < COL2IM_CI; c++) acc[c] = v_zero();
            for (int t = 0; t < nt; t++) {
                const float *ct = c0 + tab_off[t];
                CD_UNROLL for (int c = 0; c < COL2IM_CI; c++)
                    acc[c] = v_add(acc[c], v_loadm(ct + c * (ptrdiff_t)kk * ld, tab_mask[t]));
            }
            CD_UNROLL for (int c = 0; c < COL2IM_CI; c++) v_store(img + (size_t)(ci + c) * plane_r + p0, acc[c]);
        }
        for (; ci < s->c_in; ci++) {
            vf acc = v_zero();
            const float *c0 = col + ci * (ptrdiff_t)kk * ld;
            for (int t = 0; t < nt; t++) acc = v_add(acc, v_loadm(c0 + tab_off[t], tab_mask[t]));
            v_store(img + (size_t)ci * plane_r + p0, acc);
        }
    }
}

/* Copies n floats (the last vector masked: dst is the caller's). */
static void copy_out(float *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + VL <= n; i += VL) v_store(dst + i, v_load(src + i));
    if (i < n) {
        const vm m = v_mask((int)(n - i));
        v_storem(dst + i, m, v_loadm(src + i, m));
    }
}

static size_t round16(size_t n) { return (n + 15) / 16 * 16; }

static void conv_koff(const cd_conv_shape *s, const conv_geom *g, int *koff)
{
    int k = 0;
    for (int ci = 0; ci < s->c_in; ci++)
        for (int kh = 0; kh < s->k_h; kh++)
            for (int kw = 0; kw < s->k_w; kw++) koff[k++] = (ci * g->H + kh) * g->W + kw;
}

/* n floats src -> dst, whole vectors but the last (masked: the floats after dst's n are kept). */
static inline void copy_row(float *dst, const float *src, int n)
{
    int i = 0;
    for (; i + VL <= n; i += VL) v_store(dst + i, v_load(src + i));
    if (i < n) {
        const vm m = v_mask(n - i);
        v_storem(dst + i, m, v_loadm(src + i, m));
    }
}

static void zero_floats(float *p, size_t n)
{
    size_t i = 0;
    for (; i + VL <= n; i += VL) v_store(p + i, v_zero());
    for (; i < n; i++) p[i] = 0.0f;
}

/* The interior of a padded image (its border zeroed once by the caller). A row's ragged last vector
 * is stored whole with zeros in its extra lanes: they land on the border (zero already) and on the
 * next row's interior, copied after it; the buffer has VL floats of slack for the last row (masked
 * stores are slow). */
static void pad_interior(const cd_conv_shape *s, const conv_geom *g, const float *x, float *xp)
{
    const int n = s->w_in, whole = n / VL * VL;
    const vm m = v_mask(n - whole);
    for (int ci = 0; ci < s->c_in; ci++)
        for (int ih = 0; ih < s->h_in; ih++) {
            float *dst = xp + ((size_t)ci * g->H + ih + s->pad) * g->W + s->pad;
            const float *src = x + ((size_t)ci * s->h_in + ih) * s->w_in;
            for (int i = 0; i < whole; i += VL) v_store(dst + i, v_load(src + i));
            if (whole < n) v_store(dst + whole, v_loadm(src + whole, m));
        }
}

static cd_conv_shape padded_shape(const cd_conv_shape *s, const conv_geom *g)
{
    cd_conv_shape v = *s;
    v.h_in = g->H, v.w_in = g->W, v.pad = 0;
    return v;
}

/* im2col into col; stride-1 padded shapes go through the padded image xpad (border zeroed by the
 * caller) and the fast valid path. */
static void im2col_any(const cd_conv_shape *s, const float *x, float *col, ptrdiff_t ld, float *xpad)
{
    if (s->stride == 1 && s->pad) {
        const conv_geom g = conv_geometry(s);
        const cd_conv_shape v = padded_shape(s, &g);
        pad_interior(s, &g, x, xpad);
        im2col_valid(&v, xpad, col, ld);
        return;
    }
    im2col(s, x, col, ld);
}

static int conv_group(const cd_conv_shape *s) { return imax(1, imin(s->n, CONV_GROUP)); }

/* Output channels rounded up to whole vectors: the rows of the transposed dy and dw. */
static int conv_cv(const cd_conv_shape *s) { return (s->c_out + VL - 1) / VL * VL; }

/* Row stride of a group's packed [rows][gn*P] buffers (sample t at +t*P): room for the whole-vector
 * overrun of the last sample's rows. */
static ptrdiff_t group_ld(const cd_conv_shape *s)
{
    return (ptrdiff_t)round16((size_t)conv_group(s) * s->h_out * s->w_out + VL);
}

/* The im2col paths' layout of one group of samples side by side: K = c_in*k*k rows of col, P positions
 * per sample, per-sample strides of x and y, and the work buffer cut into col [K][ld], a [c_out][ld]
 * buffer (y or dy, packed) and what follows (a padded image, or col2im's planes). */
typedef struct group_layout {
    int K, P, group;
    size_t xs, ys;
    ptrdiff_t ld;
    float *col, *packed, *rest;
} group_layout;

static group_layout conv_group_layout(const cd_conv_shape *s, float *work)
{
    group_layout g;
    g.K = s->c_in * s->k_h * s->k_w;
    g.P = s->h_out * s->w_out;
    g.group = conv_group(s);
    g.xs = (size_t)s->c_in * s->h_in * s->w_in;
    g.ys = (size_t)s->c_out * g.P;
    g.ld = group_ld(s);
    g.col = work;
    g.packed = g.col + round16((size_t)g.K * g.ld);
    g.rest = g.packed + round16((size_t)s->c_out * g.ld);
    return g;
}

/* Samples [g0, g0 + gn) of x side by side in col (sample t at column t*P), through the padded image
 * xpad where the shape has padding (its border zeroed once, at g0 == 0, and never written). */
static void im2col_group(const cd_conv_shape *s, const group_layout *g, const float *x, int g0, int gn, float *col,
                         float *xpad)
{
    if (g0 == 0 && s->stride == 1 && s->pad) zero_floats(xpad, conv_geometry(s).plane);
    for (int t = 0; t < gn; t++) im2col_any(s, x + (size_t)(g0 + t) * g->xs, col + t * g->P, g->ld, xpad);
}

/* A group's dy (gn samples from dy) -> dst[co][t*P + p], rows ld apart; rows written in order, each
 * vector running on into the next sample's place or the row's slack. */
static void pack_dy(const cd_conv_shape *s, const float *dy, int gn, ptrdiff_t ld, float *dst)
{
    const int P = s->h_out * s->w_out;
    for (int co = 0; co < s->c_out; co++)
        for (int t = 0; t < gn; t++) {
            const float *src = dy + ((size_t)t * s->c_out + co) * P;
            float *d = dst + co * ld + t * P;
            for (int i = 0; i < P; i += VL)
                v_store(d + i, i + VL <= P ? v_load(src + i) : v_loadm(src + i, v_mask(P - i)));
        }
}

/* The inverse for y: src[co][t*P + p] -> y[t][co][p]; whole vectors run on into the rows written
 * after, masked ones where too few of those are left (y is the caller's). */
static void unpack_y(const cd_conv_shape *s, const float *src, int gn, ptrdiff_t ld, float *y)
{
    const int P = s->h_out * s->w_out, pv = (P + VL - 1) / VL * VL, rows = gn * s->c_out;
    for (int t = 0; t < gn; t++)
        for (int co = 0; co < s->c_out; co++) {
            const float *r = src + co * ld + t * P;
            const int row = t * s->c_out + co;
            float *d = y + (size_t)row * P;
            if ((size_t)(rows - row) * P < (size_t)pv) {
                copy_row(d, r, P);
            } else {
                for (int i = 0; i < P; i += VL) v_store(d + i, v_load(r + i));
            }
        }
}

/* A group's dy transposed for gemm_wgrad: dst[t*ss + oh*rw + ow][co] = dy_t[co][oh][ow], rows of cv
 * floats, 0 in the lanes co >= c_out and at the positions between output rows (ow >= w_out when
 * rw > w_out: a direct convolution's junk columns, whose products with the image then add 0).
 * VL channels by VL positions at a time, transposed in registers. */
static void pack_dyT(const cd_conv_shape *s, const float *dy, int gn, int rw, int ss, int cv, float *dst)
{
    const int P = s->h_out * s->w_out;
    for (int t = 0; t < gn; t++) {
        float *dt = dst + (size_t)t * ss * cv;
        for (int oh = 0; oh < s->h_out - 1; oh++)
            for (int ow = s->w_out; ow < rw; ow++)
                for (int i = 0; i < cv; i += VL) v_store(dt + (size_t)(oh * rw + ow) * cv + i, v_zero());
        for (int co0 = 0; co0 < s->c_out; co0 += VL) {
            const int nco = imin(VL, s->c_out - co0);
            const float *src = dy + ((size_t)t * s->c_out + co0) * P;
            for (int p0 = 0, oh = 0, ow = 0; p0 < P; p0 += VL) {
                const int np = imin(VL, P - p0);
                vf r[VL];
                CD_UNROLL for (int i = 0; i < VL; i++)
                    r[i] = i >= nco ? v_zero() : np == VL ? v_load(src + i * P + p0) : v_loadm(src + i * P + p0, v_mask(np));
                v_transpose(r);
                for (int l = 0; l < np; l++) {
                    v_store(dt + (size_t)(oh * rw + ow) * cv + co0, r[l]);
                    if (++ow == s->w_out) ow = 0, oh++;
                }
            }
        }
    }
}

/* dw[co][k] = dwT[k][co], or += for the groups after the first. */
static void dw_from_T(const cd_conv_shape *s, int K, const float *dwT, int cv, float *dw, int accumulate)
{
    for (int co = 0; co < s->c_out; co++)
        for (int k = 0; k < K; k++) {
            const float v = dwT[(size_t)k * cv + co];
            dw[(size_t)co * K + k] = accumulate ? dw[(size_t)co * K + k] + v : v;
        }
}

#endif
