/* The three GEMM shapes that carry all the heavy SIMD ops, each a register-blocked micro-kernel
 * instantiated for constant block sizes, and its driver:
 *  - "bcast": C[i][j] = init_i + sum_k A(i,k) * B[k][j], vectorised over j (columns). Every output
 *    element is one chain acc = fma(A(i,k), B[k][j], acc) for k = 0..K-1, whichever block, lane or
 *    masked tail vector it lands in, so forward and backward_data bits never depend on n or position.
 *  - "dot":   C[i][j] (+)= sum_s sum_p A_s[i][p] * B_s[j][p], vectorised over p (the reduction), lanes
 *    summed by v_hsum at the end: used where the output is small and the reduction long
 *    (conv backward_weights with thin c_out, linear forward). The order depends on the shape only.
 *  - "wgrad": the broadcast shape with its reduction also running over a batch of samples, for conv
 *    weight gradients with wide c_out (dy transposed so that c_out is the vector axis).
 * Part of simd_body.h, which includes it after the vocabulary and the shared helpers. */
#ifndef CD_SIMD_GEMM_H
#define CD_SIMD_GEMM_H

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

#define ROWS_MR_MAX 4
#define ROWS_NR_MAX 3

/* The rows block: C vector j of row i at c + i*ldc + coff[j] = bias_i + sum_k A(i,k) * (the VL floats
 * at b + koff[k] + boff[j]): output vectors anywhere in a plane, each read in place from shifted
 * image rows. Every lane is the bcast chain (bias, fma over k in order), hence the same bits. The
 * last vector's store is masked when mask_last (a plane's ragged end); the others are stored whole,
 * in j order, so a ragged vector's spill lands where a later store writes. */
CD_AI void mk_rows(const int mr, const int nr, const int mask_last, vm mask, int K, const float *a, ptrdiff_t ars,
                   const float *b, const int *koff, const ptrdiff_t *boff, float *c, ptrdiff_t ldc,
                   const ptrdiff_t *coff, const float *bias)
{
    vf acc[ROWS_MR_MAX][ROWS_NR_MAX];
    const ptrdiff_t b0 = boff[0], b1 = nr > 1 ? boff[1] : 0, b2 = nr > 2 ? boff[2] : 0;
    CD_UNROLL for (int i = 0; i < mr; i++) {
        vf init = bias ? v_set1(bias[i]) : v_zero();
        CD_UNROLL for (int j = 0; j < nr; j++) acc[i][j] = init;
    }
    for (int k = 0; k < K; k++) {
        const float *bk = b + koff[k];
        const float *ak = a + k;
        vf bv[ROWS_NR_MAX];
        bv[0] = v_load(bk + b0);
        if (nr > 1) bv[1] = v_load(bk + b1);
        if (nr > 2) bv[2] = v_load(bk + b2);
        CD_UNROLL for (int i = 0; i < mr; i++) {
            vf av = v_set1(ak[i * ars]);
            CD_UNROLL for (int j = 0; j < nr; j++) acc[i][j] = v_fma(av, bv[j], acc[i][j]);
        }
    }
    CD_UNROLL for (int i = 0; i < mr; i++)
        CD_UNROLL for (int j = 0; j < nr; j++) {
            float *ci = c + i * ldc + coff[j];
            if (mask_last && j == nr - 1)
                v_storem(ci, mask, acc[i][j]);
            else
                v_store(ci, acc[i][j]);
        }
}

#define ROWS_ARGS mask, K, a, ars, b, koff, boff, c, ldc, coff, bias
#define ROWS_CASE(MR, NR)                                                                          \
    case (MR) * 8 + (NR): mk_rows(MR, NR, 0, ROWS_ARGS); break;                                      \
    case 64 + (MR) * 8 + (NR): mk_rows(MR, NR, 1, ROWS_ARGS); break;
#define ROWS_CASE_ROW(MR) ROWS_CASE(MR, 1) ROWS_CASE(MR, 2) ROWS_CASE(MR, 3)

static void rows_block(int mr, int nr, int mask_last, vm mask, int K, const float *a, ptrdiff_t ars, const float *b,
                       const int *koff, const ptrdiff_t *boff, float *c, ptrdiff_t ldc, const ptrdiff_t *coff,
                       const float *bias)
{
    switch (mask_last * 64 + mr * 8 + nr) {
        ROWS_CASE_ROW(1) ROWS_CASE_ROW(2) ROWS_CASE_ROW(3) ROWS_CASE_ROW(4)
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
    /* even row blocks, sizes differing by one at most (20 rows: 5+5+5+5, not 6+6+6+2; 32: 6+6+5+5+5+5,
     * not 6+6+6+6+6+2) keep every block's register tile nearly full */
    const int nblk = (M + BC_MR - 1) / BC_MR, mr_lo = M / nblk, big = M % nblk;
#define BC_ROWS_LOOP(stmt)                                                                         \
    for (int bi = 0, i0 = 0; bi < nblk; i0 += mr_lo + (bi < big), bi++) {                          \
        const int mr = mr_lo + (bi < big);                                                         \
        stmt;                                                                                      \
    }
    if (rem && slack) {
        const vm m = v_mask(rem);
        BC_ROWS_LOOP(bc_block(mr, 1, 2, m, K, a + i0 * ars, ars, acs, b + nfull * VL, ldb, koff,
                              c + i0 * ldc + nfull * VL, ldc, bias ? bias + i0 : NULL))
    }
    for (int j0 = 0; j0 < nfull; j0 += BC_NR) {
        int nr = imin(BC_NR, nfull - j0);
        BC_ROWS_LOOP(bc_block(mr, nr, 0, none, K, a + i0 * ars, ars, acs, b + j0 * VL, ldb, koff,
                              c + i0 * ldc + j0 * VL, ldc, bias ? bias + i0 : NULL))
    }
    if (rem && !slack) {
        const vm m = v_mask(rem);
        BC_ROWS_LOOP(bc_block(mr, 1, 1, m, K, a + i0 * ars, ars, acs, b + nfull * VL, ldb, koff,
                              c + i0 * ldc + nfull * VL, ldc, bias ? bias + i0 : NULL))
    }
#undef BC_ROWS_LOOP
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

#endif
