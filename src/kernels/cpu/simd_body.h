/* The SIMD kernel bodies, written once over a tiny vector vocabulary and included by avx2.c and
 * avx512.c (ggml-style), each of which defines first:
 *   VL                      lanes per vector
 *   vf, vm                  vector of floats, lane mask
 *   v_zero v_load v_loadm v_store v_storem v_set1 v_fma(a,b,c)=a*b+c v_add v_sub v_mul v_max
 *   v_mask(n)               first n lanes on (0 < n < VL)
 *   v_relu_bwd(y, dy)       y > 0 ? dy : 0 per lane
 *   v_hsum(v)               sum of the lanes in a fixed tree
 *   BC_MR, BC_NR            register block of the broadcast micro-kernel (rows x vectors), <= 6 x 4
 *   DOT_MR, DOT_NR          register block of the dot micro-kernel, <= 4 x 5
 *   SIMD_NAME, SIMD_EXPORT  the table's name string and the exported accessor's name
 *
 * Two GEMM shapes carry all the heavy ops:
 *  - "bcast": C[i][j] = init_i + sum_k A(i,k) * B[k][j], vectorised over j (columns). Every output
 *    element is one chain acc = fma(A(i,k), B[k][j], acc) for k = 0..K-1, whichever block, lane or
 *    masked tail vector it lands in, so forward and backward_data bits never depend on n or position.
 *  - "dot":   C[i][j] (+)= sum_s sum_p A_s[i][p] * B_s[j][p], vectorised over p (the reduction), lanes
 *    summed by v_hsum at the end: used where the output is small and the reduction long
 *    (conv backward_weights, linear forward). The order depends on the shape only.
 * Convolutions go through im2col (work buffer) into these. */
#ifndef CD_SIMD_BODY_H
#define CD_SIMD_BODY_H

#include <stddef.h>
#include <string.h>

#include "cnn_ddp/kernels.h"

#define CD_AI static inline __attribute__((always_inline))
#define CD_UNROLL _Pragma("GCC unroll 16")

/* Samples packed at once by conv backward_weights: bounds the workspace, keeps the pack in L2. */
#define BW_GROUP 8

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* ---------------------------------------------------------------- broadcast GEMM micro-kernel */

CD_AI void mk_bcast(const int mr, const int nr, const int masked, vm mask, int K, const float *a,
                    ptrdiff_t ars, ptrdiff_t acs, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                    const float *bias)
{
    vf acc[6][4];
    CD_UNROLL for (int i = 0; i < mr; i++) {
        vf init = bias ? v_set1(bias[i]) : v_zero();
        CD_UNROLL for (int j = 0; j < nr; j++) acc[i][j] = init;
    }
    for (int k = 0; k < K; k++) {
        const float *bk = b + (ptrdiff_t)k * ldb;
        const float *ak = a + (ptrdiff_t)k * acs;
        vf bv[4];
        CD_UNROLL for (int j = 0; j < nr; j++)
            bv[j] = (masked && j == nr - 1) ? v_loadm(bk + j * VL, mask) : v_load(bk + j * VL);
        CD_UNROLL for (int i = 0; i < mr; i++) {
            vf av = v_set1(ak[i * ars]);
            CD_UNROLL for (int j = 0; j < nr; j++) acc[i][j] = v_fma(av, bv[j], acc[i][j]);
        }
    }
    CD_UNROLL for (int i = 0; i < mr; i++)
        CD_UNROLL for (int j = 0; j < nr; j++) {
            float *ci = c + i * ldc + j * VL;
            if (masked == 1 && j == nr - 1)
                v_storem(ci, mask, acc[i][j]);
            else
                v_store(ci, acc[i][j]);
        }
}

#define BC_ARGS mask, K, a, ars, acs, b, ldb, c, ldc, bias
#define BC_CASE(MR, NR, MS)                                                                        \
    case (MS) * 64 + (MR) * 8 + (NR): mk_bcast(MR, NR, MS, BC_ARGS); break;
#define BC_CASE_ROW(MR)                                                                            \
    BC_CASE(MR, 1, 0) BC_CASE(MR, 2, 0) BC_CASE(MR, 3, 0) BC_CASE(MR, 4, 0) BC_CASE(MR, 1, 1)          \
    BC_CASE(MR, 1, 2)

/* One register block with constant sizes (the switch turns run-time sizes into instantiations). */
static void bc_block(int mr, int nr, int masked, vm mask, int K, const float *a, ptrdiff_t ars,
                     ptrdiff_t acs, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                     const float *bias)
{
    switch (masked * 64 + mr * 8 + nr) {
        BC_CASE_ROW(1) BC_CASE_ROW(2) BC_CASE_ROW(3) BC_CASE_ROW(4) BC_CASE_ROW(5) BC_CASE_ROW(6)
    default: break;
    }
}

/* C[M][N] (row stride ldc) = bias_i (or 0) + A(i,k) B[k][N], A(i,k) = a[i*ars + k*acs].
 * slack: C is scratch with ldc == N and VL floats after it, so the ragged last column vector is
 * stored whole (first, before the full vectors it runs into are written): no masked stores. */
static void gemm_bcast_ex(int M, int N, int K, const float *a, ptrdiff_t ars, ptrdiff_t acs, const float *b,
                          ptrdiff_t ldb, float *c, ptrdiff_t ldc, const float *bias, int slack)
{
    const int nfull = N / VL, rem = N % VL;
    const vm none = v_mask(1); /* unused by the unmasked blocks */
    /* even row blocks (20 rows: 5+5+5+5, not 6+6+6+2) keep every block's register tile full */
    const int mr_even = (M + (M + BC_MR - 1) / BC_MR - 1) / ((M + BC_MR - 1) / BC_MR);
    if (rem && slack) {
        const vm m = v_mask(rem);
        for (int i0 = 0; i0 < M; i0 += mr_even)
            bc_block(imin(mr_even, M - i0), 1, 2, m, K, a + i0 * ars, ars, acs, b + nfull * VL, ldb,
                     c + i0 * ldc + nfull * VL, ldc, bias ? bias + i0 : NULL);
    }
    for (int j0 = 0; j0 < nfull; j0 += BC_NR) {
        int nr = imin(BC_NR, nfull - j0);
        for (int i0 = 0; i0 < M; i0 += mr_even)
            bc_block(imin(mr_even, M - i0), nr, 0, none, K, a + i0 * ars, ars, acs, b + j0 * VL, ldb,
                     c + i0 * ldc + j0 * VL, ldc, bias ? bias + i0 : NULL);
    }
    if (rem && !slack) {
        const vm m = v_mask(rem);
        for (int i0 = 0; i0 < M; i0 += mr_even)
            bc_block(imin(mr_even, M - i0), 1, 1, m, K, a + i0 * ars, ars, acs, b + nfull * VL, ldb,
                     c + i0 * ldc + nfull * VL, ldc, bias ? bias + i0 : NULL);
    }
}

static void gemm_bcast(int M, int N, int K, const float *a, ptrdiff_t ars, ptrdiff_t acs, const float *b,
                       ptrdiff_t ldb, float *c, ptrdiff_t ldc, const float *bias)
{
    gemm_bcast_ex(M, N, K, a, ars, acs, b, ldb, c, ldc, bias, 0);
}

/* ---------------------------------------------------------------------- dot GEMM micro-kernel */

CD_AI void mk_dot(const int mr, const int nr, int L, int nb, const float *a, ptrdiff_t lda,
                  ptrdiff_t asb, const float *b, ptrdiff_t ldb, ptrdiff_t bsb, float *c, ptrdiff_t ldc,
                  int accumulate)
{
    vf acc[4][5];
    CD_UNROLL for (int i = 0; i < mr; i++) CD_UNROLL for (int j = 0; j < nr; j++) acc[i][j] = v_zero();
    const int full = L / VL, rem = L % VL;
    const vm m = v_mask(rem ? rem : 1);
    for (int s = 0; s < nb; s++) {
        const float *as = a + s * asb, *bs = b + s * bsb;
        for (int q = 0; q < full; q++) {
            vf av[4], bv[5];
            CD_UNROLL for (int i = 0; i < mr; i++) av[i] = v_load(as + i * lda + q * VL);
            CD_UNROLL for (int j = 0; j < nr; j++) bv[j] = v_load(bs + j * ldb + q * VL);
            CD_UNROLL for (int i = 0; i < mr; i++)
                CD_UNROLL for (int j = 0; j < nr; j++) acc[i][j] = v_fma(av[i], bv[j], acc[i][j]);
        }
        if (rem) {
            vf av[4], bv[5];
            CD_UNROLL for (int i = 0; i < mr; i++) av[i] = v_loadm(as + i * lda + full * VL, m);
            CD_UNROLL for (int j = 0; j < nr; j++) bv[j] = v_loadm(bs + j * ldb + full * VL, m);
            CD_UNROLL for (int i = 0; i < mr; i++)
                CD_UNROLL for (int j = 0; j < nr; j++) acc[i][j] = v_fma(av[i], bv[j], acc[i][j]);
        }
    }
    CD_UNROLL for (int i = 0; i < mr; i++)
        CD_UNROLL for (int j = 0; j < nr; j++) {
            float t = v_hsum(acc[i][j]);
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + t : t;
        }
}

#define DOT_ARGS L, nb, a, lda, asb, b, ldb, bsb, c, ldc, accumulate
#define DOT_CASE(MR, NR) case (MR) * 8 + (NR): mk_dot(MR, NR, DOT_ARGS); break;
#define DOT_CASE_ROW(MR) DOT_CASE(MR, 1) DOT_CASE(MR, 2) DOT_CASE(MR, 3) DOT_CASE(MR, 4) DOT_CASE(MR, 5)

static void dot_block(int mr, int nr, int L, int nb, const float *a, ptrdiff_t lda, ptrdiff_t asb,
                      const float *b, ptrdiff_t ldb, ptrdiff_t bsb, float *c, ptrdiff_t ldc, int accumulate)
{
    switch (mr * 8 + nr) {
        DOT_CASE_ROW(1) DOT_CASE_ROW(2) DOT_CASE_ROW(3) DOT_CASE_ROW(4)
    default: break;
    }
}

/* C[M][N] (+)= sum over s < nb of A_s[M][L] . B_s[N][L]^T (rows lda / ldb apart, batches asb / bsb). */
static void gemm_dot(int M, int N, int L, int nb, const float *a, ptrdiff_t lda, ptrdiff_t asb,
                     const float *b, ptrdiff_t ldb, ptrdiff_t bsb, float *c, ptrdiff_t ldc, int accumulate)
{
    for (int j0 = 0; j0 < N; j0 += DOT_NR)
        for (int i0 = 0; i0 < M; i0 += DOT_MR)
            dot_block(imin(DOT_MR, M - i0), imin(DOT_NR, N - j0), L, nb, a + i0 * lda, lda, asb,
                      b + j0 * ldb, ldb, bsb, c + i0 * ldc + j0, ldc, accumulate);
}

/* ------------------------------------------------------------------------------ convolution */

/* Rows of the im2col buffer and of the col2im image are short (w_out is often 7..28) and written in
 * increasing address order, so they are written with whole vectors that run past the row end into
 * the next row (rewritten right after) or into VL floats of slack at the end of the buffer: masked
 * stores are slow on some CPUs, masked loads are not (and do not fault on masked-off lanes). */

static int conv_is_pointwise(const cd_conv_shape *s)
{
    return s->k_h == 1 && s->k_w == 1 && s->stride == 1 && s->pad == 0;
}

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

static void im2col_valid(const cd_conv_shape *s, const float *x, float *col)
{
    const int P = s->h_out * s->w_out, wo = s->w_out, step = s->w_in - s->w_out;
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
            float *d = col + (size_t)r * P;
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
                float *row = col + (size_t)((ci * s->k_h + kh) * s->k_w + kw) * P;
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

/* col[(ci,kh,kw)][(oh,ow)] = x[ci][oh*stride+kh-pad][ow*stride+kw-pad], 0 in the padding. col needs
 * VL floats of slack after its K*P. */
static void im2col(const cd_conv_shape *s, const float *x, float *col)
{
    const int P = s->h_out * s->w_out;
    if (s->stride == 1 && s->pad == 0) {
        im2col_valid(s, x, col);
        return;
    }
    for (int ci = 0; ci < s->c_in; ci++)
        for (int kh = 0; kh < s->k_h; kh++)
            for (int kw = 0; kw < s->k_w; kw++) {
                float *row = col + (size_t)((ci * s->k_h + kh) * s->k_w + kw) * P;
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
static void col2im(const cd_conv_shape *s, const float *col, float *img)
{
    const int P = s->h_out * s->w_out;
    const size_t len = (size_t)s->c_in * s->h_in * s->w_in;
    for (size_t i = 0; i < len + VL; i += VL) v_store(img + i, v_zero());
    for (int ci = 0; ci < s->c_in; ci++)
        for (int kh = 0; kh < s->k_h; kh++)
            for (int kw = 0; kw < s->k_w; kw++) {
                const float *row = col + (size_t)((ci * s->k_h + kh) * s->k_w + kw) * P;
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
static void col2im_valid(const cd_conv_shape *s, const float *col, float *img, int plane_r)
{
    const int P = s->h_out * s->w_out, plane = s->h_in * s->w_in, win = s->w_in;
    const size_t kk = (size_t)s->k_h * s->k_w;
    for (size_t i = 0; i < (size_t)s->c_in * plane_r; i += VL) v_store(img + i, v_zero());
    for (int p0 = 0; p0 < plane; p0 += VL) {
        const int pend = imin(p0 + VL, plane);
        for (int kh = 0; kh < s->k_h; kh++)
            for (int kw = 0; kw < s->k_w; kw++) {
                const float *crow = col + (size_t)(kh * s->k_w + kw) * P;
                for (int ih = p0 / win; ih * win < pend; ih++) {
                    const int oh = ih - kh;
                    if (oh < 0 || oh >= s->h_out) continue;
                    const int q_lo = imax(p0, ih * win + kw), q_hi = imin(pend, ih * win + kw + s->w_out);
                    if (q_lo >= q_hi) continue;
                    const vm m = v_mask_range(q_lo - p0, q_hi - p0);
                    /* lane l: col[oh*w_out + (p0 + l - ih*w_in - kw)] */
                    const ptrdiff_t off = (ptrdiff_t)oh * s->w_out - (ptrdiff_t)ih * win - kw + p0;
                    for (int ci = 0; ci < s->c_in; ci++) {
                        float *acc = img + (size_t)ci * plane_r + p0;
                        v_store(acc, v_add(v_load(acc), v_loadm(crow + ci * kk * P + off, m)));
                    }
                }
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

static size_t simd_conv_workspace(const cd_conv_shape *s)
{
    const size_t K = (size_t)s->c_in * s->k_h * s->k_w, P = (size_t)s->h_out * s->w_out;
    const size_t img = (size_t)s->c_in * s->h_in * s->w_in;
    const size_t bw = K * P * (size_t)imax(1, imin(s->n, BW_GROUP)) + VL;
    const size_t img_r = (size_t)s->c_in * (((size_t)s->h_in * s->w_in + VL - 1) / VL * VL);
    /* dcol, then the col2im image (planes VL-rounded or not), 64-byte aligned */
    const size_t bd = K * P + VL + 16 + (img > img_r ? img : img_r) + VL;
    return (bw > bd ? bw : bd) + 16;
}

static void simd_conv_forward(const cd_conv_shape *s, const float *x, const float *w, const float *b,
                              float *y, float *work)
{
    const int K = s->c_in * s->k_h * s->k_w, P = s->h_out * s->w_out;
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * P;
    for (int n = 0; n < s->n; n++) {
        const float *col = x + n * xs;
        if (!conv_is_pointwise(s)) {
            im2col(s, x + n * xs, work);
            col = work;
        }
        gemm_bcast(s->c_out, P, K, w, K, 1, col, P, y + n * ys, P, b);
    }
}

static void simd_conv_backward_data(const cd_conv_shape *s, const float *dy, const float *w, float *dx,
                                    float *work)
{
    const int K = s->c_in * s->k_h * s->k_w, P = s->h_out * s->w_out;
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * P;
    for (int n = 0; n < s->n; n++) {
        /* dcol[K][P] = W^T dy: A(i,k) = w[k][i] */
        if (conv_is_pointwise(s)) {
            gemm_bcast(K, P, s->c_out, w, 1, K, dy + n * ys, P, dx + n * xs, P, NULL);
        } else {
            float *img = work + ((size_t)K * P + VL + 15) / 16 * 16;
            gemm_bcast_ex(K, P, s->c_out, w, 1, K, dy + n * ys, P, work, P, NULL, 1);
            if (s->stride == 1 && s->pad == 0) {
                const int plane = s->h_in * s->w_in, plane_r = (plane + VL - 1) / VL * VL;
                col2im_valid(s, work, img, plane_r);
                for (int ci = 0; ci < s->c_in; ci++)
                    copy_out(dx + n * xs + (size_t)ci * plane, img + (size_t)ci * plane_r, (size_t)plane);
            } else {
                col2im(s, work, img);
                copy_out(dx + n * xs, img, xs);
            }
        }
    }
}

static void simd_conv_backward_weights(const cd_conv_shape *s, const float *x, const float *dy, float *dw,
                                       float *db, float *work)
{
    const int K = s->c_in * s->k_h * s->k_w, P = s->h_out * s->w_out;
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * P;
    const int group = imax(1, imin(s->n, BW_GROUP));
    if (s->n <= 0) {
        memset(dw, 0, sizeof(float) * (size_t)s->c_out * K);
        memset(db, 0, sizeof(float) * (size_t)s->c_out);
        return;
    }
    for (int g0 = 0; g0 < s->n; g0 += group) {
        const int gn = imin(group, s->n - g0);
        const float *col = x + g0 * xs;
        ptrdiff_t col_stride = (ptrdiff_t)xs;
        if (!conv_is_pointwise(s)) {
            for (int t = 0; t < gn; t++) im2col(s, x + (g0 + t) * xs, work + (size_t)t * K * P);
            col = work;
            col_stride = (ptrdiff_t)K * P;
        }
        /* dw[co][k] (+)= sum_t sum_p dy_t[co][p] col_t[k][p] */
        gemm_dot(s->c_out, K, P, gn, dy + g0 * ys, P, (ptrdiff_t)ys, col, P, col_stride, dw, K, g0 > 0);
    }
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

/* ------------------------------------------------------------------------------------ linear */

static void simd_linear_forward(const cd_linear_shape *s, const float *x, const float *w, const float *b,
                                float *y)
{
    /* y[n][o] = hsum(x[n] . w[o]) + b[o]: per element the same chain for any n */
    gemm_dot(s->n, s->out, s->in, 1, x, s->in, 0, w, s->in, 0, y, s->out, 0);
    for (int n = 0; n < s->n; n++)
        for (int o = 0; o < s->out; o++) y[(size_t)n * s->out + o] += b[o];
}

static void simd_linear_backward_data(const cd_linear_shape *s, const float *dy, const float *w, float *dx)
{
    /* dx[n][i] = sum_o dy[n][o] w[o][i] */
    gemm_bcast(s->n, s->in, s->out, dy, s->out, 1, w, s->in, dx, s->in, NULL);
}

static void simd_linear_backward_weights(const cd_linear_shape *s, const float *x, const float *dy,
                                         float *dw, float *db)
{
    /* dw[o][i] = sum_n dy[n][o] x[n][i] */
    gemm_bcast(s->out, s->in, s->n, dy, 1, s->out, x, s->in, dw, s->in, NULL);
    for (int o = 0; o < s->out; o++) {
        float acc = 0.0f;
        for (int n = 0; n < s->n; n++) acc += dy[(size_t)n * s->out + o];
        db[o] = acc;
    }
}

/* ------------------------------------------------------------------------------ elementwise */

static void simd_relu_forward(size_t n, const float *x, float *y)
{
    const vf z = v_zero();
    size_t i = 0;
    /* max(0, x) returns x when x is NaN, like the scalar x < 0 ? 0 : x */
    for (; i + VL <= n; i += VL) v_store(y + i, v_max(z, v_load(x + i)));
    if (i < n) {
        const vm m = v_mask((int)(n - i));
        v_storem(y + i, m, v_max(z, v_loadm(x + i, m)));
    }
}

static void simd_relu_backward(size_t n, const float *y, const float *dy, float *dx)
{
    size_t i = 0;
    for (; i + VL <= n; i += VL) v_store(dx + i, v_relu_bwd(v_load(y + i), v_load(dy + i)));
    if (i < n) {
        const vm m = v_mask((int)(n - i));
        v_storem(dx + i, m, v_relu_bwd(v_loadm(y + i, m), v_loadm(dy + i, m)));
    }
}

/* Same expression as the scalar set (separate mul and add), hence the same bits. */
static void simd_sgd_momentum(size_t n, float *w, float *v, const float *g, float lr, float mu)
{
    const vf vlr = v_set1(lr), vmu = v_set1(mu);
    size_t i = 0;
    for (; i + VL <= n; i += VL) {
        vf vi = v_add(v_mul(vmu, v_load(v + i)), v_load(g + i));
        v_store(v + i, vi);
        v_store(w + i, v_sub(v_load(w + i), v_mul(vlr, vi)));
    }
    if (i < n) {
        const vm m = v_mask((int)(n - i));
        vf vi = v_add(v_mul(vmu, v_loadm(v + i, m)), v_loadm(g + i, m));
        v_storem(v + i, m, vi);
        v_storem(w + i, m, v_sub(v_loadm(w + i, m), v_mul(vlr, vi)));
    }
}

/* -------------------------------------------------------------------------------- max pool */

static void simd_pool_forward(const cd_pool_shape *s, const float *x, float *y, int32_t *argmax)
{
    const size_t planes = (size_t)s->n * s->c, in_plane = (size_t)s->h_in * s->w_in;
    const size_t out_plane = (size_t)s->h_out * s->w_out;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * in_plane;
        float *yp = y + pl * out_plane;
        int32_t *ap = argmax + pl * out_plane;
        if (s->k == 2 && s->stride == 2) {
            /* the common 2x2/2 window in registers; same compare order as the general loop */
            for (int oh = 0; oh < s->h_out; oh++) {
                const int i0 = 2 * oh * s->w_in;
                for (int ow = 0; ow < s->w_out; ow++) {
                    int bi = i0 + 2 * ow, i;
                    float best = xp[bi];
                    i = bi + 1;
                    if (xp[i] > best) best = xp[i], bi = i;
                    i = i0 + s->w_in + 2 * ow;
                    if (xp[i] > best) best = xp[i], bi = i;
                    i++;
                    if (xp[i] > best) best = xp[i], bi = i;
                    yp[oh * s->w_out + ow] = best;
                    ap[oh * s->w_out + ow] = (int32_t)(pl * in_plane) + bi;
                }
            }
            continue;
        }
        for (int oh = 0; oh < s->h_out; oh++) {
            float *yr = yp + oh * s->w_out;
            int32_t *ar = ap + oh * s->w_out;
            /* window row 0, column 0 seeds; strict '>' afterwards keeps the first of equals */
            const int r0 = oh * s->stride;
            for (int ow = 0; ow < s->w_out; ow++) {
                yr[ow] = xp[r0 * s->w_in + ow * s->stride];
                ar[ow] = r0 * s->w_in + ow * s->stride;
            }
            for (int kh = 0; kh < s->k; kh++)
                for (int kw = 0; kw < s->k; kw++) {
                    if (kh == 0 && kw == 0) continue;
                    const int rowoff = (r0 + kh) * s->w_in + kw;
                    for (int ow = 0; ow < s->w_out; ow++) {
                        const int i = rowoff + ow * s->stride;
                        const float v = xp[i];
                        const int gt = v > yr[ow];
                        yr[ow] = gt ? v : yr[ow];
                        ar[ow] = gt ? i : ar[ow];
                    }
                }
            for (int ow = 0; ow < s->w_out; ow++) ar[ow] += (int32_t)(pl * in_plane);
        }
    }
}

static void simd_pool_backward(const cd_pool_shape *s, const float *dy, const int32_t *argmax, float *dx)
{
    const size_t nx = (size_t)s->n * s->c * s->h_in * s->w_in;
    const size_t ny = (size_t)s->n * s->c * s->h_out * s->w_out;
    memset(dx, 0, sizeof(float) * nx);
    for (size_t i = 0; i < ny; i++) dx[argmax[i]] += dy[i];
}

static const cd_kernels simd_table = {
    .name = SIMD_NAME,
    .conv_workspace = simd_conv_workspace,
    .conv_forward = simd_conv_forward,
    .conv_backward_data = simd_conv_backward_data,
    .conv_backward_weights = simd_conv_backward_weights,
    .pool_forward = simd_pool_forward,
    .pool_backward = simd_pool_backward,
    .relu_forward = simd_relu_forward,
    .relu_backward = simd_relu_backward,
    .linear_forward = simd_linear_forward,
    .linear_backward_data = simd_linear_backward_data,
    .linear_backward_weights = simd_linear_backward_weights,
    .sgd_momentum = simd_sgd_momentum,
};

const cd_kernels *SIMD_EXPORT(void) { return &simd_table; }

#endif
