/* The SIMD kernel bodies, written once over a tiny vector vocabulary and included by avx2.c and
 * avx512.c (ggml-style), each of which defines first:
 *   VL                      lanes per vector
 *   vf, vm                  vector of floats, lane mask
 *   v_zero v_load v_loadm v_store v_storem v_set1 v_fma(a,b,c)=a*b+c v_add v_sub v_mul v_max
 *   v_mask(n)               first n lanes on (0 < n < VL)
 *   v_relu_bwd(y, dy)       y > 0 ? dy : 0 per lane
 *   v_hsum(v)               sum of the lanes in a fixed tree
 *   v_cmpgt v_blend v_keep vm_or vm_covers, vint vi_set1 vi_iota2 vi_add vi_sub vi_blend vi_cmpeq
 *   vi_loadm vi_storem, v_deinterleave v_interleave   (max-pool's 2x2 fast path)
 *   v_loadm_merge(v,p,m)    lanes of m from p, the others from v
 *   v_load_halves(lo, hi)   VL/2 floats from lo, then VL/2 from hi (im2col's half-vector rows)
 *   BC_MR, BC_NR            register block of the broadcast micro-kernel (rows x vectors), <= 8 x 4
 *   DOT_MR, DOT_NR          register block of the dot micro-kernel, <= 4 x 5
 *   WG_ACC, WG_NR           accumulators and vectors per block of the weight-gradient kernel
 *   v_transpose(r)          VL vectors of VL floats, transposed in place
 *   SIMD_KIND, SIMD_EXPORT  the set's cd_kernel_kind (which names the table) and the exported accessor
 *
 * Three GEMM shapes carry all the heavy ops:
 *  - "bcast": C[i][j] = init_i + sum_k A(i,k) * B[k][j], vectorised over j (columns). Every output
 *    element is one chain acc = fma(A(i,k), B[k][j], acc) for k = 0..K-1, whichever block, lane or
 *    masked tail vector it lands in, so forward and backward_data bits never depend on n or position.
 *  - "dot":   C[i][j] (+)= sum_s sum_p A_s[i][p] * B_s[j][p], vectorised over p (the reduction), lanes
 *    summed by v_hsum at the end: used where the output is small and the reduction long
 *    (conv backward_weights with thin c_out, linear forward). The order depends on the shape only.
 *  - "wgrad": the broadcast shape with its reduction also running over a batch of samples, for conv
 *    weight gradients with wide c_out (dy transposed so that c_out is the vector axis).
 * Convolutions go through im2col (work buffer) into these, a group of samples side by side as one
 * GEMM, or, where it pays, read the (padded) image in place through per-k row offsets (the direct
 * "wide" path below). */
#ifndef CD_SIMD_BODY_H
#define CD_SIMD_BODY_H

#include <stddef.h>
#include <string.h>

#include "cnn_ddp/kernels.h"
#include "kernels/cpu/names.h"

#define CD_AI static inline __attribute__((always_inline))
#define CD_UNROLL _Pragma("GCC unroll 16")

/* Samples whose positions the conv GEMMs take side by side as one N (a ragged P like 7x7 = 49 then
 * still fills whole vectors): bounds the workspace, keeps the packs in L2. */
#define CONV_GROUP 8

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* ---------------------------------------------------------------- broadcast GEMM micro-kernel */

CD_AI void mk_bcast(const int mr, const int nr, const int masked, const int use_off, vm mask, int K,
                    const float *a, ptrdiff_t ars, ptrdiff_t acs, const float *b, ptrdiff_t ldb, const int *koff,
                    float *c, ptrdiff_t ldc, const float *bias)
{
    vf acc[8][4];
    CD_UNROLL for (int i = 0; i < mr; i++) {
        vf init = bias ? v_set1(bias[i]) : v_zero();
        CD_UNROLL for (int j = 0; j < nr; j++) acc[i][j] = init;
    }
    for (int k = 0; k < K; k++) {
        const float *bk = use_off ? b + koff[k] : b + (ptrdiff_t)k * ldb;
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

#define BC_ARGS mask, K, a, ars, acs, b, ldb, koff, c, ldc, bias
#define BC_CASE(MR, NR, MS)                                                                        \
    case (MS) * 128 + (MR) * 8 + (NR): mk_bcast(MR, NR, MS, 0, BC_ARGS); break;                     \
    case 512 + (MS) * 128 + (MR) * 8 + (NR): mk_bcast(MR, NR, MS, 1, BC_ARGS); break;
#define BC_CASE_ROW(MR)                                                                            \
    BC_CASE(MR, 1, 0) BC_CASE(MR, 2, 0) BC_CASE(MR, 3, 0) BC_CASE(MR, 4, 0) BC_CASE(MR, 1, 1)          \
    BC_CASE(MR, 1, 2)

/* One register block with constant sizes (the switch turns run-time sizes into instantiations). */
static void bc_block(int mr, int nr, int masked, vm mask, int K, const float *a, ptrdiff_t ars,
                     ptrdiff_t acs, const float *b, ptrdiff_t ldb, const int *koff, float *c, ptrdiff_t ldc,
                     const float *bias)
{
    switch ((koff != NULL) * 512 + masked * 128 + mr * 8 + nr) {
        BC_CASE_ROW(1) BC_CASE_ROW(2) BC_CASE_ROW(3) BC_CASE_ROW(4) BC_CASE_ROW(5) BC_CASE_ROW(6)
        BC_CASE_ROW(7) BC_CASE_ROW(8)
    default: break;
    }
}

/* C[M][N] (row stride ldc) = bias_i (or 0) + A(i,k) B[k][N], A(i,k) = a[i*ars + k*acs], B row k at
 * b + k*ldb, or at b + koff[k] when koff is given (a direct convolution's shifted image rows).
 * slack: C is scratch with ldc == N and VL floats after it, so the ragged last column vector is
 * stored whole (first, before the full vectors it runs into are written): no masked stores. */
static void gemm_bcast_ex(int M, int N, int K, const float *a, ptrdiff_t ars, ptrdiff_t acs, const float *b,
                          ptrdiff_t ldb, const int *koff, float *c, ptrdiff_t ldc, const float *bias, int slack)
{
    const int nfull = N / VL, rem = N % VL;
    const vm none = v_mask(1); /* unused by the unmasked blocks */
    /* even row blocks (20 rows: 5+5+5+5, not 6+6+6+2) keep every block's register tile full */
    const int mr_even = (M + (M + BC_MR - 1) / BC_MR - 1) / ((M + BC_MR - 1) / BC_MR);
    if (rem && slack) {
        const vm m = v_mask(rem);
        for (int i0 = 0; i0 < M; i0 += mr_even)
            bc_block(imin(mr_even, M - i0), 1, 2, m, K, a + i0 * ars, ars, acs, b + nfull * VL, ldb, koff,
                     c + i0 * ldc + nfull * VL, ldc, bias ? bias + i0 : NULL);
    }
    for (int j0 = 0; j0 < nfull; j0 += BC_NR) {
        int nr = imin(BC_NR, nfull - j0);
        for (int i0 = 0; i0 < M; i0 += mr_even)
            bc_block(imin(mr_even, M - i0), nr, 0, none, K, a + i0 * ars, ars, acs, b + j0 * VL, ldb, koff,
                     c + i0 * ldc + j0 * VL, ldc, bias ? bias + i0 : NULL);
    }
    if (rem && !slack) {
        const vm m = v_mask(rem);
        for (int i0 = 0; i0 < M; i0 += mr_even)
            bc_block(imin(mr_even, M - i0), 1, 1, m, K, a + i0 * ars, ars, acs, b + nfull * VL, ldb, koff,
                     c + i0 * ldc + nfull * VL, ldc, bias ? bias + i0 : NULL);
    }
}

static void gemm_bcast(int M, int N, int K, const float *a, ptrdiff_t ars, ptrdiff_t acs, const float *b,
                       ptrdiff_t ldb, float *c, ptrdiff_t ldc, const float *bias)
{
    gemm_bcast_ex(M, N, K, a, ars, acs, b, ldb, NULL, c, ldc, bias, 0);
}

/* ---------------------------------------------------------------------- dot GEMM micro-kernel */

CD_AI void mk_dot(const int mr, const int nr, const int use_off, int L, int nb, const float *a, ptrdiff_t lda,
                  ptrdiff_t asb, const float *b, ptrdiff_t ldb, const int *koff, ptrdiff_t bsb, float *c,
                  ptrdiff_t ldc, int accumulate)
{
    ptrdiff_t boff[5];
    CD_UNROLL for (int j = 0; j < nr; j++) boff[j] = use_off ? koff[j] : j * ldb;
    vf acc[4][5];
    CD_UNROLL for (int i = 0; i < mr; i++) CD_UNROLL for (int j = 0; j < nr; j++) acc[i][j] = v_zero();
    const int full = L / VL, rem = L % VL;
    const vm m = v_mask(rem ? rem : 1);
    for (int s = 0; s < nb; s++) {
        const float *as = a + s * asb, *bs = b + s * bsb;
        for (int q = 0; q < full; q++) {
            vf av[4], bv[5];
            CD_UNROLL for (int i = 0; i < mr; i++) av[i] = v_load(as + i * lda + q * VL);
            CD_UNROLL for (int j = 0; j < nr; j++) bv[j] = v_load(bs + boff[j] + q * VL);
            CD_UNROLL for (int i = 0; i < mr; i++)
                CD_UNROLL for (int j = 0; j < nr; j++) acc[i][j] = v_fma(av[i], bv[j], acc[i][j]);
        }
        if (rem) {
            vf av[4], bv[5];
            CD_UNROLL for (int i = 0; i < mr; i++) av[i] = v_loadm(as + i * lda + full * VL, m);
            CD_UNROLL for (int j = 0; j < nr; j++) bv[j] = v_loadm(bs + boff[j] + full * VL, m);
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

#define DOT_ARGS L, nb, a, lda, asb, b, ldb, koff, bsb, c, ldc, accumulate
#define DOT_CASE(MR, NR)                                                                           \
    case (MR) * 8 + (NR): mk_dot(MR, NR, 0, DOT_ARGS); break;                                      \
    case 64 + (MR) * 8 + (NR): mk_dot(MR, NR, 1, DOT_ARGS); break;
#define DOT_CASE_ROW(MR) DOT_CASE(MR, 1) DOT_CASE(MR, 2) DOT_CASE(MR, 3) DOT_CASE(MR, 4) DOT_CASE(MR, 5)

static void dot_block(int mr, int nr, int L, int nb, const float *a, ptrdiff_t lda, ptrdiff_t asb,
                      const float *b, ptrdiff_t ldb, const int *koff, ptrdiff_t bsb, float *c, ptrdiff_t ldc,
                      int accumulate)
{
    switch ((koff != NULL) * 64 + mr * 8 + nr) {
        DOT_CASE_ROW(1) DOT_CASE_ROW(2) DOT_CASE_ROW(3) DOT_CASE_ROW(4)
    default: break;
    }
}

/* C[M][N] (+)= sum over s < nb of A_s[M][L] . B_s[N][L]^T (rows lda / ldb apart, or B row j at
 * b + koff[j] when koff is given; batches asb / bsb apart). */
static void gemm_dot(int M, int N, int L, int nb, const float *a, ptrdiff_t lda, ptrdiff_t asb,
                     const float *b, ptrdiff_t ldb, const int *koff, ptrdiff_t bsb, float *c, ptrdiff_t ldc,
                     int accumulate)
{
    for (int j0 = 0; j0 < N; j0 += DOT_NR)
        for (int i0 = 0; i0 < M; i0 += DOT_MR)
            dot_block(imin(DOT_MR, M - i0), imin(DOT_NR, N - j0), L, nb, a + i0 * lda, lda, asb,
                      koff ? b : b + j0 * ldb, ldb, koff ? koff + j0 : NULL, bsb, c + i0 * ldc + j0, ldc,
                      accumulate);
}

/* ------------------------------------------------------------ weight-gradient GEMM micro-kernel
 *
 * C[M][NV*VL] = sum over s < nb, q < L of A_s(i,q) * B_s[q][.], A_s(i,q) = a[s*asb + r_i + q] with
 * r_i = aoff[i] (a direct convolution's shifted image rows) or i*ars: the broadcast kernel's shape
 * with the reduction running over a batch of samples too, so a weight gradient gets register
 * blocking (many outputs per loaded vector) and no per-output lane sums. B rows and C rows are whole
 * vectors (callers pad them with zeros). Every output is one fma chain over (s, q) in order. */
CD_AI void mk_wgrad(const int mr, const int nr, const int use_aoff, int L, int nb, const float *a, ptrdiff_t ars,
                    const int *aoff, ptrdiff_t asb, const float *b, ptrdiff_t bsb, float *c, ptrdiff_t ld)
{
    vf acc[12][4];
    ptrdiff_t roff[12];
    CD_UNROLL for (int i = 0; i < mr; i++) {
        roff[i] = use_aoff ? aoff[i] : i * ars;
        CD_UNROLL for (int j = 0; j < nr; j++) acc[i][j] = v_zero();
    }
    for (int s = 0; s < nb; s++) {
        const float *as = a + s * asb, *bs = b + s * bsb;
        for (int q = 0; q < L; q++) {
            vf bv[4];
            CD_UNROLL for (int j = 0; j < nr; j++) bv[j] = v_load(bs + q * ld + j * VL);
            CD_UNROLL for (int i = 0; i < mr; i++) {
                vf av = v_set1(as[roff[i] + q]);
                CD_UNROLL for (int j = 0; j < nr; j++) acc[i][j] = v_fma(av, bv[j], acc[i][j]);
            }
        }
    }
    CD_UNROLL for (int i = 0; i < mr; i++) CD_UNROLL for (int j = 0; j < nr; j++) v_store(c + i * ld + j * VL, acc[i][j]);
}

#define WG_ARGS L, nb, a, ars, aoff, asb, b, bsb, c, ld
#define WG_CASE(MR, NR)                                                                            \
    case (MR) * 8 + (NR): mk_wgrad(MR, NR, 0, WG_ARGS); break;                                     \
    case 128 + (MR) * 8 + (NR): mk_wgrad(MR, NR, 1, WG_ARGS); break;
#define WG_CASE_ROW(MR) WG_CASE(MR, 1) WG_CASE(MR, 2) WG_CASE(MR, 3) WG_CASE(MR, 4)

static void wg_block(int mr, int nr, int L, int nb, const float *a, ptrdiff_t ars, const int *aoff, ptrdiff_t asb,
                     const float *b, ptrdiff_t bsb, float *c, ptrdiff_t ld)
{
    switch ((aoff != NULL) * 128 + mr * 8 + nr) {
        WG_CASE_ROW(1) WG_CASE_ROW(2) WG_CASE_ROW(3) WG_CASE_ROW(4) WG_CASE_ROW(5) WG_CASE_ROW(6)
        WG_CASE_ROW(7) WG_CASE_ROW(8) WG_CASE_ROW(9) WG_CASE_ROW(10) WG_CASE_ROW(11) WG_CASE_ROW(12)
    default: break;
    }
}

/* C[M][nv*VL] (rows ld = nv*VL apart, as B's) as above: at most WG_NR vectors by as many rows as
 * WG_ACC accumulators allow (12 at most), blocks split evenly. */
static void gemm_wgrad(int M, int nv, int L, int nb, const float *a, ptrdiff_t ars, const int *aoff, ptrdiff_t asb,
                       const float *b, ptrdiff_t bsb, float *c)
{
    const ptrdiff_t ld = (ptrdiff_t)nv * VL;
    const int nblk = (nv + WG_NR - 1) / WG_NR, nr_even = (nv + nblk - 1) / nblk;
    const int mr_max = imin(12, WG_ACC / nr_even), mblk = (M + mr_max - 1) / mr_max;
    const int mr_even = (M + mblk - 1) / mblk;
    for (int j0 = 0; j0 < nv; j0 += nr_even)
        for (int i0 = 0; i0 < M; i0 += mr_even)
            wg_block(imin(mr_even, M - i0), imin(nr_even, nv - j0), L, nb, aoff ? a : a + i0 * ars, ars,
                     aoff ? aoff + i0 : NULL, asb, b + j0 * VL, bsb, c + i0 * ld + j0 * VL, ld);
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
static void col2im_valid(const cd_conv_shape *s, const float *col, ptrdiff_t ld, float *img, int plane_r)
{
    const int plane = s->h_in * s->w_in, win = s->w_in;
    const size_t kk = (size_t)s->k_h * s->k_w;
    for (size_t i = 0; i < (size_t)s->c_in * plane_r; i += VL) v_store(img + i, v_zero());
    for (int p0 = 0; p0 < plane; p0 += VL) {
        const int pend = imin(p0 + VL, plane);
        for (int kh = 0; kh < s->k_h; kh++)
            for (int kw = 0; kw < s->k_w; kw++) {
                const float *crow = col + (kh * s->k_w + kw) * ld;
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
                        v_store(acc, v_add(v_load(acc), v_loadm(crow + ci * (ptrdiff_t)kk * ld + off, m)));
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

static size_t round16(size_t n) { return (n + 15) / 16 * 16; }

/* ------------------------------------------------- padded images and direct ("wide") convolution
 *
 * Stride-1 convolutions with padding run on a zero-padded copy of the image (H x W), which turns
 * them into valid ones. A valid stride-1 convolution needs no im2col at all when its output is
 * computed "wide": at q = oh*W + ow for every ow < W, so that im2col row k is just the image at
 * offset koff[k] = (ci*H + kh)*W + kw, read in place by the GEMM; the columns ow >= w_out are
 * junk (they wrap into the next row) and dropped. Nw = (h_out-1)*W + w_out positions keep every
 * read inside the image. Each kept output is still the chain bias, fma over k in order with the
 * same operands as through im2col, so the bits are those of the im2col path. */

typedef struct conv_geom {
    int H, W;     /* the (padded) image */
    int Nw;       /* wide positions */
    size_t plane; /* c_in*H*W: one padded image */
} conv_geom;

#define WIDE_F 8
#define WIDE_KMAX 1600 /* koff lives on the stack */

static conv_geom conv_geometry(const cd_conv_shape *s)
{
    conv_geom g;
    g.H = s->h_in + 2 * s->pad;
    g.W = s->w_in + 2 * s->pad;
    g.Nw = (s->h_out - 1) * g.W + s->w_out;
    g.plane = (size_t)s->c_in * g.H * g.W;
    return g;
}

/* Wide pays (Nw - P)/P extra multiply-adds to skip an im2col pass (plus, for backward_weights,
 * its second read) that costs about as much as 8/c_out of the GEMM. Measured with AVX-512: wide
 * wins for conv1 1->10 28x28 k5, ex1 1->16 28x28 k3p1 and ex2 16->32 14x14 k3p1, loses for
 * conv2 10->20 12x12 k5 and ex3 32->64 7x7 k3p1. */
static int conv_use_wide(const cd_conv_shape *s)
{
    if (s->stride != 1 || conv_is_pointwise(s) || s->c_in * s->k_h * s->k_w > WIDE_KMAX) return 0;
    const conv_geom g = conv_geometry(s);
    const long P = (long)s->h_out * s->w_out;
    return (long)(g.Nw - P) * s->c_out <= WIDE_F * P;
}

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

/* The interior of a padded image (its border zeroed once by the caller and never written). */
static void pad_interior(const cd_conv_shape *s, const conv_geom *g, const float *x, float *xp)
{
    for (int ci = 0; ci < s->c_in; ci++)
        for (int ih = 0; ih < s->h_in; ih++)
            copy_row(xp + ((size_t)ci * g->H + ih + s->pad) * g->W + s->pad,
                     x + ((size_t)ci * s->h_in + ih) * s->w_in, s->w_in);
}

static cd_conv_shape padded_shape(const cd_conv_shape *s, const conv_geom *g)
{
    cd_conv_shape v = *s;
    v.h_in = g->H, v.w_in = g->W, v.pad = 0;
    return v;
}

static int conv_group(const cd_conv_shape *s) { return imax(1, imin(s->n, CONV_GROUP)); }

/* Row stride of a group's packed [rows][gn*P] buffers (sample t at +t*P): room for the whole-vector
 * overrun of the last sample's rows. */
static ptrdiff_t group_ld(const cd_conv_shape *s)
{
    return (ptrdiff_t)round16((size_t)conv_group(s) * s->h_out * s->w_out + VL);
}

/* Floats of each conv op's scratch layout (all parts 16-float aligned). The im2col paths hold a
 * group's col [K][ld] and dy or y [c_out][ld]. */
static size_t conv_work_forward(const cd_conv_shape *s)
{
    const conv_geom g = conv_geometry(s);
    const size_t K = (size_t)s->c_in * s->k_h * s->k_w, ld = (size_t)group_ld(s);
    const size_t xpad = s->pad && s->stride == 1 ? round16(g.plane + VL) : 0;
    if (conv_use_wide(s)) return round16((size_t)s->c_out * g.Nw + VL) + xpad;
    return round16(K * ld) + round16((size_t)s->c_out * ld) + xpad;
}

/* Output channels rounded up to whole vectors: the rows of the transposed dy and dw. */
static int conv_cv(const cd_conv_shape *s) { return (s->c_out + VL - 1) / VL * VL; }

/* Weight gradients through gemm_wgrad (dy transposed, register-blocked) where c_out fills two or
 * more whole vectors; with fewer the blocks are too thin and the dot GEMM (lane sums per output)
 * measured faster (AVX-512: conv1 c_out 10, conv2 20, ex1 16 keep it; ex2 32 and ex3 64 gain). */
static int conv_wgrad_bcast(const cd_conv_shape *s) { return s->c_out % VL == 0 && s->c_out >= 2 * VL; }

/* Whether backward_weights reads the image in place (wide positions). gemm_wgrad makes the GEMM
 * cheaper than the dot GEMM, so skipping im2col pays up to more junk columns than conv_use_wide
 * allows: measured with AVX-512, ex3 32->64 7x7 k3p1 (24% junk) gains ~8%. */
static int conv_weights_use_wide(const cd_conv_shape *s)
{
    if (!conv_wgrad_bcast(s)) return conv_use_wide(s);
    if (s->stride != 1 || conv_is_pointwise(s) || s->c_in * s->k_h * s->k_w > WIDE_KMAX) return 0;
    const long P = (long)s->h_out * s->w_out;
    return 3L * (conv_geometry(s).Nw - P) <= P;
}

static size_t conv_work_weights(const cd_conv_shape *s)
{
    const conv_geom g = conv_geometry(s);
    const size_t K = (size_t)s->c_in * s->k_h * s->k_w, ld = (size_t)group_ld(s), cv = (size_t)conv_cv(s);
    const size_t gn = (size_t)conv_group(s), P = (size_t)s->h_out * s->w_out;
    const size_t xpad = s->pad && s->stride == 1 ? round16(g.plane + VL) : 0;
    if (conv_weights_use_wide(s) && conv_wgrad_bcast(s)) return round16(gn * g.Nw * cv) + round16(K * cv) + gn * xpad;
    if (conv_weights_use_wide(s)) return round16(gn * s->c_out * g.Nw + VL) + gn * xpad;
    if (conv_wgrad_bcast(s)) return round16(K * ld) + round16(gn * P * cv) + round16(K * cv) + xpad;
    return round16(K * ld) + round16((size_t)s->c_out * ld) + xpad;
}

/* The input gradient of a stride-1 "same" convolution (2*pad == k-1, square kernel) is itself a
 * same convolution: of dy, c_out -> c_in channels, with the kernel flipped and its channel axes
 * swapped. On the direct forward path (dy read in place) it skips the column buffer and the col2im
 * pass over it; each dx element is one fma chain over (co, kh, kw), fixed by the shape. Other
 * shapes would multiply more padding zeros than they save. */
static cd_conv_shape data_conv_shape(const cd_conv_shape *s)
{
    cd_conv_shape t = *s;
    t.c_in = s->c_out, t.h_in = s->h_out, t.w_in = s->w_out;
    t.c_out = s->c_in, t.h_out = s->h_in, t.w_out = s->w_in;
    return t;
}

/* Only where the direct path's vectors are mostly real outputs: per sample it computes Nw wide
 * positions rounded up to whole vectors, where the GEMM + col2im path fills vectors with a group
 * of samples side by side. Measured with AVX-512: wins for ex2's 14x14 (196 of 224 lanes), loses
 * for ex3's 7x7 (49 of 64) and through im2col. */
static int conv_data_as_conv(const cd_conv_shape *s)
{
    if (s->stride != 1 || s->k_h != s->k_w || 2 * s->pad != s->k_h - 1 || conv_is_pointwise(s)) return 0;
    const cd_conv_shape t = data_conv_shape(s);
    if (!conv_use_wide(&t)) return 0;
    const long lanes = ((long)conv_geometry(&t).Nw + VL - 1) / VL * VL;
    return 6L * t.h_out * t.w_out >= 5 * lanes;
}

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

static size_t simd_conv_workspace(const cd_conv_shape *s)
{
    size_t a = conv_work_forward(s), b = conv_work_weights(s), c = conv_work_data(s);
    if (b > a) a = b;
    if (c > a) a = c;
    return a + 16;
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

static void simd_conv_forward(const cd_conv_shape *s, const float *x, const float *w, const float *b,
                              float *y, float *work)
{
    if (conv_use_wide(s)) {
        conv_forward_wide(s, x, w, b, y, work);
        return;
    }
    const int K = s->c_in * s->k_h * s->k_w, P = s->h_out * s->w_out;
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * P;
    if (conv_is_pointwise(s)) {
        for (int n = 0; n < s->n; n++) gemm_bcast(s->c_out, P, K, w, K, 1, x + n * xs, P, y + n * ys, P, b);
        return;
    }
    /* a group's im2col side by side, one GEMM over all its positions, then y from its rows */
    const int group = conv_group(s);
    const ptrdiff_t ld = group_ld(s);
    float *col = work, *cy = col + round16((size_t)K * ld), *xpad = cy + round16((size_t)s->c_out * ld);
    if (s->stride == 1 && s->pad) zero_floats(xpad, conv_geometry(s).plane);
    for (int g0 = 0; g0 < s->n; g0 += group) {
        const int gn = imin(group, s->n - g0);
        for (int t = 0; t < gn; t++) im2col_any(s, x + (g0 + t) * xs, col + t * P, ld, xpad);
        gemm_bcast_ex(s->c_out, gn * P, K, w, K, 1, col, ld, NULL, cy, ld, b, 1);
        unpack_y(s, cy, gn, ld, y + g0 * ys);
    }
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
 * leaves the sum alone). */
static void conv_weights_wide(const cd_conv_shape *s, const float *x, const float *dy, float *dw, float *work)
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
        dw_from_T(s, K, dwT, cv, dw, g0 > 0);
    }
}

static void simd_conv_backward_weights(const cd_conv_shape *s, const float *x, const float *dy, float *dw,
                                       float *db, float *work)
{
    const int K = s->c_in * s->k_h * s->k_w, P = s->h_out * s->w_out;
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * P;
    const int group = conv_group(s);
    if (s->n <= 0) {
        memset(dw, 0, sizeof(float) * (size_t)s->c_out * K);
        memset(db, 0, sizeof(float) * (size_t)s->c_out);
        return;
    }
    if (conv_weights_use_wide(s)) {
        if (conv_wgrad_bcast(s))
            conv_weights_wide(s, x, dy, dw, work);
        else
            conv_weights_wide_dot(s, x, dy, dw, work);
    } else if (conv_is_pointwise(s)) {
        /* dw[co][ci] (+)= sum_t sum_p dy_t[co][p] x_t[ci][p] */
        for (int g0 = 0; g0 < s->n; g0 += group) {
            const int gn = imin(group, s->n - g0);
            gemm_dot(s->c_out, K, P, gn, dy + g0 * ys, P, (ptrdiff_t)ys, x + g0 * xs, P, NULL, (ptrdiff_t)xs, dw,
                     K, g0 > 0);
        }
    } else if (!conv_wgrad_bcast(s)) {
        /* dw[co][k] (+)= sum over the group's positions side by side of dy[co][.] col[k][.] */
        const ptrdiff_t ld = group_ld(s);
        float *col = work, *dyp = col + round16((size_t)K * ld), *xpad = dyp + round16((size_t)s->c_out * ld);
        if (s->stride == 1 && s->pad) zero_floats(xpad, conv_geometry(s).plane);
        for (int g0 = 0; g0 < s->n; g0 += group) {
            const int gn = imin(group, s->n - g0);
            pack_dy(s, dy + g0 * ys, gn, ld, dyp);
            for (int t = 0; t < gn; t++) im2col_any(s, x + (g0 + t) * xs, col + t * P, ld, xpad);
            gemm_dot(s->c_out, K, gn * P, 1, dyp, ld, 0, col, ld, NULL, 0, dw, K, g0 > 0);
        }
    } else {
        /* dwT[k][co] = sum over the group's positions side by side of col[k][.] dyT[.][co] */
        const ptrdiff_t ld = group_ld(s);
        const int cv = conv_cv(s);
        float *col = work, *dyT = col + round16((size_t)K * ld);
        float *dwT = dyT + round16((size_t)group * P * cv), *xpad = dwT + round16((size_t)K * cv);
        if (s->stride == 1 && s->pad) zero_floats(xpad, conv_geometry(s).plane);
        for (int g0 = 0; g0 < s->n; g0 += group) {
            const int gn = imin(group, s->n - g0);
            pack_dyT(s, dy + g0 * ys, gn, s->w_out, P, cv, dyT);
            for (int t = 0; t < gn; t++) im2col_any(s, x + (g0 + t) * xs, col + t * P, ld, xpad);
            gemm_wgrad(K, cv / VL, gn * P, 1, col, ld, NULL, 0, dyT, 0, dwT);
            dw_from_T(s, K, dwT, cv, dw, g0 > 0);
        }
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
    gemm_dot(s->n, s->out, s->in, 1, x, s->in, 0, w, s->in, NULL, 0, y, s->out, 0);
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

/* One output row of the 2x2 stride-2 window: VL outputs at a time from two input rows, split into
 * even/odd columns by permutes. The compare order is the scalar one (x00 seeds; x01, x10, x11 win
 * only when strictly greater, so ties and NaNs go the same way); `code` records which of the four
 * won as its offset from x00. */

/* Max of a 2x2 window in the reference's order: x00 seeds it, a later element wins only if strictly
 * greater (the first maximum on ties); g1..g3 say which of x01, x10, x11 won, for the arg-max. */
static inline vf pool2_max4(vf x00, vf x01, vf x10, vf x11, vm *g1, vm *g2, vm *g3)
{
    vf best = x00;
    *g1 = v_cmpgt(x01, best);
    best = v_blend(best, x01, *g1);
    *g2 = v_cmpgt(x10, best);
    best = v_blend(best, x10, *g2);
    *g3 = v_cmpgt(x11, best);
    return v_blend(best, x11, *g3);
}

static void pool2_row(const float *r0, int w_in, int w_out, float *y, int32_t *am, int32_t base)
{
    const vint iota2 = vi_iota2(), c1 = vi_set1(1), cw = vi_set1(w_in), cw1 = vi_set1(w_in + 1);
    const float *r1 = r0 + w_in;
    for (int ow0 = 0; ow0 < w_out; ow0 += VL) {
        const int c = imin(VL, w_out - ow0);
        vf a0, a1, b0, b1;
        if (c == VL) {
            a0 = v_load(r0 + 2 * ow0), a1 = v_load(r0 + 2 * ow0 + VL);
            b0 = v_load(r1 + 2 * ow0), b1 = v_load(r1 + 2 * ow0 + VL);
        } else {
            const vm m0 = v_mask(imin(2 * c, VL)), m1 = v_mask(imax(0, 2 * c - VL));
            a0 = v_loadm(r0 + 2 * ow0, m0), a1 = v_loadm(r0 + 2 * ow0 + VL, m1);
            b0 = v_loadm(r1 + 2 * ow0, m0), b1 = v_loadm(r1 + 2 * ow0 + VL, m1);
        }
        vf x00, x01, x10, x11;
        v_deinterleave(a0, a1, &x00, &x01);
        v_deinterleave(b0, b1, &x10, &x11);
        vm g1, g2, g3;
        const vf best = pool2_max4(x00, x01, x10, x11, &g1, &g2, &g3);
        const vm out = v_mask(c);
        if (c == VL)
            v_store(y + ow0, best);
        else
            v_storem(y + ow0, out, best);
        if (am) {
            vint code = vi_blend(vi_blend(vi_blend(vi_set1(0), c1, g1), cw, g2), cw1, g3);
            vi_storem(am + ow0, out, vi_add(vi_add(vi_set1(base + 2 * ow0), iota2), code));
        }
    }
}

/* Narrow planes (w_out <= VL/4, like 7x7 -> 3x3 on AVX-512): row by row would fill a quarter of
 * the lanes or less, so all planes' outputs are taken as one flat sequence, VL at a time, each lane
 * gathering its window's two row pairs through a table of x00 offsets. The table repeats every
 * lcm(out_plane, VL) outputs, shifted by whole input planes. Same compare order as pool2_row.
 * (14x14 -> 7x7, 7 of 16 lanes, measured slower gathered than row by row.) */
#define POOL2_FLAT_MAX_PLANE 64
static int pool2_flat_ok(const cd_pool_shape *s)
{
    return s->k == 2 && s->stride == 2 && 4 * s->w_out <= VL && s->h_out * s->w_out <= POOL2_FLAT_MAX_PLANE;
}

static void pool2_flat_forward(const cd_pool_shape *s, const float *x, float *y, int32_t *argmax)
{
    const int out_plane = s->h_out * s->w_out, in_plane = s->h_in * s->w_in, w_in = s->w_in;
    int period = out_plane; /* lcm(out_plane, VL): VL is a power of two */
    while (period % VL) period *= 2;
    int32_t tab[POOL2_FLAT_MAX_PLANE * VL];
    for (int i = 0; i < period; i++) {
        const int o = i % out_plane;
        tab[i] = (i / out_plane) * in_plane + 2 * (o / s->w_out) * w_in + 2 * (o % s->w_out);
    }
    const int32_t shift = (period / out_plane) * in_plane;
    const size_t ny = (size_t)s->n * s->c * out_plane;
    const vint c1 = vi_set1(1), cw = vi_set1(w_in), cw1 = vi_set1(w_in + 1);
    int t = 0;
    int32_t base = 0;
    for (size_t i = 0; i < ny; i += VL) {
        const int c = ny - i < (size_t)VL ? (int)(ny - i) : VL;
        const vm out = c < VL ? v_mask(c) : v_mask(1); /* used only when c < VL */
        vint off = vi_add(vi_load(tab + t), vi_set1(base));
        /* lanes past the end read the first window instead (in bounds), their results dropped */
        if (c < VL) off = vi_blend(vi_set1(0), off, out);
        vf a0, a1, b0, b1, x00, x01, x10, x11;
        v_gather_pairs(x, off, &a0, &a1);
        v_gather_pairs(x + w_in, off, &b0, &b1);
        v_deinterleave(a0, a1, &x00, &x01);
        v_deinterleave(b0, b1, &x10, &x11);
        vm g1, g2, g3;
        const vf best = pool2_max4(x00, x01, x10, x11, &g1, &g2, &g3);
        if (c == VL)
            v_store(y + i, best);
        else
            v_storem(y + i, out, best);
        if (argmax) {
            const vint code = vi_blend(vi_blend(vi_blend(vi_set1(0), c1, g1), cw, g2), cw1, g3);
            if (c == VL)
                vi_store(argmax + i, vi_add(off, code));
            else
                vi_storem(argmax + i, out, vi_add(off, code));
        }
        t += VL;
        if (t == period) t = 0, base += shift;
    }
}

/* argmax == NULL: inference, only the values are wanted. */
static void simd_pool_forward(const cd_pool_shape *s, const float *x, float *y, int32_t *argmax)
{
    const size_t planes = (size_t)s->n * s->c, in_plane = (size_t)s->h_in * s->w_in;
    const size_t out_plane = (size_t)s->h_out * s->w_out;
    if (pool2_flat_ok(s)) {
        pool2_flat_forward(s, x, y, argmax);
        return;
    }
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * in_plane;
        float *yp = y + pl * out_plane;
        int32_t *ap = argmax ? argmax + pl * out_plane : NULL;
        if (s->k == 2 && s->stride == 2) {
            for (int oh = 0; oh < s->h_out; oh++)
                pool2_row(xp + (size_t)2 * oh * s->w_in, s->w_in, s->w_out, yp + oh * s->w_out,
                          ap ? ap + oh * s->w_out : NULL, (int32_t)(pl * in_plane) + 2 * oh * s->w_in);
            continue;
        }
        for (int oh = 0; oh < s->h_out; oh++) {
            float *yr = yp + oh * s->w_out;
            /* window row 0, column 0 seeds; strict '>' afterwards keeps the first of equals */
            const int r0 = oh * s->stride;
            for (int ow = 0; ow < s->w_out; ow++) yr[ow] = xp[r0 * s->w_in + ow * s->stride];
            if (!ap) {
                for (int kh = 0; kh < s->k; kh++)
                    for (int kw = 0; kw < s->k; kw++) {
                        const float *xr = xp + (r0 + kh) * s->w_in + kw;
                        for (int ow = 0; ow < s->w_out; ow++) {
                            const float v = xr[ow * s->stride];
                            yr[ow] = v > yr[ow] ? v : yr[ow];
                        }
                    }
                continue;
            }
            int32_t *ar = ap + oh * s->w_out;
            for (int ow = 0; ow < s->w_out; ow++) ar[ow] = r0 * s->w_in + ow * s->stride;
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

/* 2x2 stride 2 (windows do not overlap): every dx element is written once, as +0 + dy where its
 * window's argmax points at it and +0 elsewhere (the scalar memset-then-add gives exactly these
 * bits, -0 included), so no memset pass. Returns 0, having written garbage, if some argmax is not
 * inside its own window (not from pool_forward): the caller then takes the general path. */
static int pool2_backward(const cd_pool_shape *s, const float *dy, const int32_t *argmax, float *dx)
{
    const size_t planes = (size_t)s->n * s->c, in_plane = (size_t)s->h_in * s->w_in;
    const size_t out_plane = (size_t)s->h_out * s->w_out;
    const int w_in = s->w_in, w_out = s->w_out;
    const vint iota2 = vi_iota2(), c1 = vi_set1(1), cw = vi_set1(w_in), cw1 = vi_set1(w_in + 1);
    const vf z = v_zero();
    for (size_t pl = 0; pl < planes; pl++) {
        float *xp = dx + pl * in_plane;
        for (int oh = 0; oh < s->h_out; oh++) {
            float *r0 = xp + (size_t)2 * oh * w_in, *r1 = r0 + w_in;
            const float *dyr = dy + pl * out_plane + (size_t)oh * w_out;
            const int32_t *ar = argmax + pl * out_plane + (size_t)oh * w_out;
            const int32_t base = (int32_t)(pl * in_plane) + 2 * oh * w_in;
            for (int ow0 = 0; ow0 < w_out; ow0 += VL) {
                const int c = imin(VL, w_out - ow0);
                const vm m = v_mask(c);
                const vint code = vi_sub(vi_loadm(ar + ow0, m), vi_add(vi_set1(base + 2 * ow0), iota2));
                const vf g = v_loadm(dyr + ow0, m);
                const vm e0 = vi_cmpeq(code, vi_set1(0)), e1 = vi_cmpeq(code, c1);
                const vm e2 = vi_cmpeq(code, cw), e3 = vi_cmpeq(code, cw1);
                if (!vm_covers(vm_or(vm_or(e0, e1), vm_or(e2, e3)), m)) return 0;
                vf lo0, hi0, lo1, hi1;
                v_interleave(v_add(z, v_keep(g, e0)), v_add(z, v_keep(g, e1)), &lo0, &hi0);
                v_interleave(v_add(z, v_keep(g, e2)), v_add(z, v_keep(g, e3)), &lo1, &hi1);
                if (c == VL) {
                    v_store(r0 + 2 * ow0, lo0), v_store(r0 + 2 * ow0 + VL, hi0);
                    v_store(r1 + 2 * ow0, lo1), v_store(r1 + 2 * ow0 + VL, hi1);
                } else {
                    const vm m0 = v_mask(imin(2 * c, VL)), m1 = v_mask(imax(0, 2 * c - VL));
                    v_storem(r0 + 2 * ow0, m0, lo0), v_storem(r0 + 2 * ow0 + VL, m1, hi0);
                    v_storem(r1 + 2 * ow0, m0, lo1), v_storem(r1 + 2 * ow0 + VL, m1, hi1);
                }
            }
            /* an odd last column belongs to no window */
            for (int iw = 2 * w_out; iw < w_in; iw++) r0[iw] = r1[iw] = 0.0f;
        }
        /* likewise an odd last row */
        for (size_t i = (size_t)2 * s->h_out * w_in; i < in_plane; i++) xp[i] = 0.0f;
    }
    return 1;
}

static void simd_pool_backward(const cd_pool_shape *s, const float *dy, const int32_t *argmax, float *dx)
{
    /* Narrow rows (under VL/2 outputs, like 7 and 3 on AVX-512): the memset-and-add loop below
     * measured 1.6x (14x14) to 5x (7x7) faster than pool2_backward's masked row stores. */
    if (s->k == 2 && s->stride == 2 && 2 * s->w_out >= VL && pool2_backward(s, dy, argmax, dx)) return;
    const size_t nx = (size_t)s->n * s->c * s->h_in * s->w_in;
    const size_t ny = (size_t)s->n * s->c * s->h_out * s->w_out;
    memset(dx, 0, sizeof(float) * nx);
    for (size_t i = 0; i < ny; i++) dx[argmax[i]] += dy[i];
}

static const cd_kernels simd_table = {
    .name = cd_kernel_names[SIMD_KIND],
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
