/* Elementwise ops: ReLU and its gradient, SGD with momentum. Whole vectors, then one masked tail.
 * Part of simd_body.h, which includes it after the vocabulary and the shared helpers. */
#ifndef CD_SIMD_ELTWISE_H
#define CD_SIMD_ELTWISE_H

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

#endif
