/* Fully connected layers on the dot and bcast GEMMs.
 * Part of simd_body.h, which includes it after the vocabulary and the shared helpers. */
#ifndef CD_SIMD_LINEAR_H
#define CD_SIMD_LINEAR_H

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

/* Largest |v| over n floats; NaN if any is NaN (so the caller's <= test fails). */
static float max_abs(const float *v, int n)
{
    float m = 0.0f;
    for (int i = 0; i < n; i++) {
        const float a = fabsf(v[i]);
        m = a > m || a != a ? a : m;
    }
    return m;
}

enum { LIN_FX_ROWS = 4 };

/* Rows [o0, o0 + rows) (rows <= LIN_FX_ROWS, a constant at each call) by VL columns from i0, summed over
 * the samples in registers (one load of x serves the rows): each lane adds the bits of
 * p * 2^40 + 1.5 * 2^52, i.e. cd_fixed_round(p) plus a constant that samples_magic takes off once at
 * the end (wrapping int64 arithmetic, exact because the true sum fits). */
CD_AI void linear_fixed_block(const cd_linear_shape *s, const float *x, const float *dy, int64_t *dw, int o0,
                              int rows, int i0, vq samples_magic)
{
    vq lo[LIN_FX_ROWS], hi[LIN_FX_ROWS];
    for (int r = 0; r < rows; r++) lo[r] = hi[r] = vq_zero();
    for (int n = 0; n < s->n; n++) {
        const vf xv = v_load(x + (size_t)n * s->in + i0);
        const float *d = dy + (size_t)n * s->out + o0;
        for (int r = 0; r < rows; r++) {
            vq l, h;
            vq_bits(v_mul(v_set1(d[r]), xv), &l, &h);
            lo[r] = vq_add(lo[r], l);
            hi[r] = vq_add(hi[r], h);
        }
    }
    for (int r = 0; r < rows; r++) {
        int64_t *row = dw + (size_t)(o0 + r) * s->in + i0;
        vq_store(row, vq_add(vq_load(row), vq_sub(lo[r], samples_magic)));
        vq_store(row + VL / 2, vq_add(vq_load(row + VL / 2), vq_sub(hi[r], samples_magic)));
    }
}

/* Whole vectors of columns keep their int64 sums in registers across the samples (mul, widen, fma,
 * integer add per value: cd_fixed_round needs no double -> int64 instruction); the tail columns and
 * the checked path are plain loops the compiler vectorises. o is the outer loop so that one row of
 * int64 sums stays in L1. Range checks are per sample on the inputs: when
 * max|dy| * max|x| is inside the limit every product is (rounding to float is monotonic, and the
 * limit is a float), so the inner loop carries no test; otherwise a sample goes value by value. */
static int simd_linear_backward_weights_fixed(const cd_linear_shape *s, const float *x, const float *dy, int64_t *dw,
                                              int64_t *db)
{
    const float limit = (float)CD_FIXED_LIMIT;
    int bounded = 1;
    for (int n = 0; n < s->n && bounded; n++) {
        const float mx = max_abs(x + (size_t)n * s->in, s->in), md = max_abs(dy + (size_t)n * s->out, s->out);
        bounded = (double)md * (double)mx <= (double)limit; /* false for NaN */
    }
    int bad = 0;
    const int whole = bounded ? s->in / VL * VL : 0;
    const double magic = 0x1.8p52;
    int64_t magic_bits;
    memcpy(&magic_bits, &magic, sizeof magic_bits);
    const vq samples_magic = vq_set1((int64_t)((uint64_t)magic_bits * (uint64_t)s->n));
    const int row_blocks = s->out / LIN_FX_ROWS * LIN_FX_ROWS;
    for (int o0 = 0; o0 < row_blocks; o0 += LIN_FX_ROWS)
        for (int i0 = 0; i0 < whole; i0 += VL) linear_fixed_block(s, x, dy, dw, o0, LIN_FX_ROWS, i0, samples_magic);
    for (int o = 0; o < s->out; o++) {
        int64_t *restrict row = dw + (size_t)o * s->in;
        if (o >= row_blocks)
            for (int i0 = 0; i0 < whole; i0 += VL) linear_fixed_block(s, x, dy, dw, o, 1, i0, samples_magic);
        for (int n = 0; n < s->n; n++) {
            const float d = dy[(size_t)n * s->out + o];
            const float *restrict xn = x + (size_t)n * s->in;
            if (bounded) {
                for (int i = whole; i < s->in; i++) row[i] += cd_fixed_round((double)(d * xn[i]));
            } else {
                int64_t out_of_range = 0;
                for (int i = 0; i < s->in; i++) {
                    const float p = d * xn[i];
                    const int64_t ok = -(int64_t)(fabsf(p) <= limit); /* masks: the loop vectorises */
                    out_of_range |= ~ok;
                    row[i] += cd_fixed_round((double)p) & ok;
                }
                bad |= out_of_range != 0;
            }
            const int ok = fabsf(d) <= limit;
            bad |= !ok;
            db[o] += cd_fixed_round(ok ? (double)d : 0.0);
        }
    }
    return bad;
}

#endif
