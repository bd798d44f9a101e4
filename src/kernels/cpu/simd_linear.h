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

#endif
