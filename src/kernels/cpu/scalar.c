/* The scalar reference kernels: direct loops, obviously correct, and the yardstick every SIMD set is
 * tested against. Accumulation order (float, one rounding per multiply and per add, since the
 * build uses -ffp-contract=off):
 *  - conv forward:        acc = 0; for ci, kh, kw (skipping padding): acc += w*x; y = acc + b
 *  - conv backward data:  dx = 0; for co, oh, ow, ci, kh, kw: dx[..] += w*dy   (per sample)
 *  - conv backward wts:   acc = 0; for sample, oh, ow: acc += dy*x; db likewise over dy
 *  - linear forward:      acc = 0; for i: acc += x*w; y = acc + b
 *  - linear backward:     dx: acc over o; dw, db: acc over samples
 * None of these depends on the batch size for forward / backward_data outputs, as required. */
#include <math.h>
#include <string.h>

#include "cnn_ddp/fixed_point.h"
#include "cnn_ddp/kernels.h"

/* One path for every shape. */
static void scalar_conv_plan(const cd_conv_shape *s, cd_conv_plan *plan)
{
    (void)s;
    plan->forward = plan->backward_data = plan->backward_weights = CD_CONV_SCALAR;
}

static size_t scalar_conv_workspace(const cd_conv_shape *s, const cd_conv_plan *plan)
{
    (void)s, (void)plan;
    return 0;
}

static void scalar_conv_forward(const cd_conv_shape *s, const cd_conv_plan *plan, const float *x, const float *w,
                                const float *b, float *y, float *work)
{
    (void)plan, (void)work;
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * s->h_out * s->w_out;
    for (int n = 0; n < s->n; n++) {
        const float *xn = x + (size_t)n * xs;
        float *yn = y + (size_t)n * ys;
        for (int co = 0; co < s->c_out; co++)
            for (int oh = 0; oh < s->h_out; oh++)
                for (int ow = 0; ow < s->w_out; ow++) {
                    float acc = 0.0f;
                    for (int ci = 0; ci < s->c_in; ci++)
                        for (int kh = 0; kh < s->k_h; kh++) {
                            int ih = oh * s->stride + kh - s->pad;
                            if (ih < 0 || ih >= s->h_in) continue;
                            for (int kw = 0; kw < s->k_w; kw++) {
                                int iw = ow * s->stride + kw - s->pad;
                                if (iw < 0 || iw >= s->w_in) continue;
                                float wv = w[(((size_t)co * s->c_in + ci) * s->k_h + kh) * s->k_w + kw];
                                acc += wv * xn[((size_t)ci * s->h_in + ih) * s->w_in + iw];
                            }
                        }
                    yn[((size_t)co * s->h_out + oh) * s->w_out + ow] = acc + b[co];
                }
    }
}

static void scalar_conv_backward_data(const cd_conv_shape *s, const cd_conv_plan *plan, const float *dy,
                                      const float *w, float *dx, float *work)
{
    (void)plan, (void)work;
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * s->h_out * s->w_out;
    memset(dx, 0, sizeof(float) * xs * (size_t)s->n);
    for (int n = 0; n < s->n; n++) {
        float *dxn = dx + (size_t)n * xs;
        const float *dyn = dy + (size_t)n * ys;
        for (int co = 0; co < s->c_out; co++)
            for (int oh = 0; oh < s->h_out; oh++)
                for (int ow = 0; ow < s->w_out; ow++) {
                    float g = dyn[((size_t)co * s->h_out + oh) * s->w_out + ow];
                    for (int ci = 0; ci < s->c_in; ci++)
                        for (int kh = 0; kh < s->k_h; kh++) {
                            int ih = oh * s->stride + kh - s->pad;
                            if (ih < 0 || ih >= s->h_in) continue;
                            for (int kw = 0; kw < s->k_w; kw++) {
                                int iw = ow * s->stride + kw - s->pad;
                                if (iw < 0 || iw >= s->w_in) continue;
                                float wv = w[(((size_t)co * s->c_in + ci) * s->k_h + kh) * s->k_w + kw];
                                dxn[((size_t)ci * s->h_in + ih) * s->w_in + iw] += wv * g;
                            }
                        }
                }
    }
}

static void scalar_conv_backward_weights(const cd_conv_shape *s, const cd_conv_plan *plan, const float *x,
                                         const float *dy, float *dw, float *db, float *work)
{
    (void)plan, (void)work;
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * s->h_out * s->w_out;
    for (int co = 0; co < s->c_out; co++) {
        for (int ci = 0; ci < s->c_in; ci++)
            for (int kh = 0; kh < s->k_h; kh++)
                for (int kw = 0; kw < s->k_w; kw++) {
                    float acc = 0.0f;
                    for (int n = 0; n < s->n; n++)
                        for (int oh = 0; oh < s->h_out; oh++) {
                            int ih = oh * s->stride + kh - s->pad;
                            if (ih < 0 || ih >= s->h_in) continue;
                            for (int ow = 0; ow < s->w_out; ow++) {
                                int iw = ow * s->stride + kw - s->pad;
                                if (iw < 0 || iw >= s->w_in) continue;
                                acc += dy[(size_t)n * ys + ((size_t)co * s->h_out + oh) * s->w_out + ow] *
                                       x[(size_t)n * xs + ((size_t)ci * s->h_in + ih) * s->w_in + iw];
                            }
                        }
                    dw[(((size_t)co * s->c_in + ci) * s->k_h + kh) * s->k_w + kw] = acc;
                }
        float acc = 0.0f;
        for (int n = 0; n < s->n; n++)
            for (int p = 0; p < s->h_out * s->w_out; p++)
                acc += dy[(size_t)n * ys + (size_t)co * s->h_out * s->w_out + p];
        db[co] = acc;
    }
}

static void scalar_pool_forward(const cd_pool_shape *s, const float *x, float *y, int32_t *argmax)
{
    const size_t planes = (size_t)s->n * s->c;
    for (size_t pl = 0; pl < planes; pl++) {
        const size_t xbase = pl * s->h_in * s->w_in;
        for (int oh = 0; oh < s->h_out; oh++)
            for (int ow = 0; ow < s->w_out; ow++) {
                size_t best_i = xbase + (size_t)(oh * s->stride) * s->w_in + (size_t)(ow * s->stride);
                float best = x[best_i];
                /* strict '>' keeps the first of equal values in row-major window order */
                for (int kh = 0; kh < s->k; kh++)
                    for (int kw = 0; kw < s->k; kw++) {
                        size_t i = xbase + (size_t)(oh * s->stride + kh) * s->w_in + (size_t)(ow * s->stride + kw);
                        if (x[i] > best) {
                            best = x[i];
                            best_i = i;
                        }
                    }
                size_t o = (pl * s->h_out + oh) * s->w_out + ow;
                y[o] = best;
                if (argmax) argmax[o] = (int32_t)best_i; /* NULL: inference */
            }
    }
}

static void scalar_pool_backward(const cd_pool_shape *s, const float *dy, const int32_t *argmax, float *dx)
{
    const size_t nx = (size_t)s->n * s->c * s->h_in * s->w_in;
    const size_t ny = (size_t)s->n * s->c * s->h_out * s->w_out;
    memset(dx, 0, sizeof(float) * nx);
    for (size_t i = 0; i < ny; i++) dx[argmax[i]] += dy[i];
}

/* x < 0 ? 0 : x rather than a max() so that NaN propagates (and matches the SIMD max(0, x)). */
static void scalar_relu_forward(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

static void scalar_relu_backward(size_t n, const float *y, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

static void scalar_linear_forward(const cd_linear_shape *s, const float *x, const float *w, const float *b,
                                  float *y)
{
    for (int n = 0; n < s->n; n++)
        for (int o = 0; o < s->out; o++) {
            float acc = 0.0f;
            for (int i = 0; i < s->in; i++) acc += x[(size_t)n * s->in + i] * w[(size_t)o * s->in + i];
            y[(size_t)n * s->out + o] = acc + b[o];
        }
}

static void scalar_linear_backward_data(const cd_linear_shape *s, const float *dy, const float *w, float *dx)
{
    for (int n = 0; n < s->n; n++)
        for (int i = 0; i < s->in; i++) {
            float acc = 0.0f;
            for (int o = 0; o < s->out; o++) acc += dy[(size_t)n * s->out + o] * w[(size_t)o * s->in + i];
            dx[(size_t)n * s->in + i] = acc;
        }
}

static void scalar_linear_backward_weights(const cd_linear_shape *s, const float *x, const float *dy,
                                           float *dw, float *db)
{
    for (int o = 0; o < s->out; o++) {
        for (int i = 0; i < s->in; i++) {
            float acc = 0.0f;
            for (int n = 0; n < s->n; n++) acc += dy[(size_t)n * s->out + o] * x[(size_t)n * s->in + i];
            dw[(size_t)o * s->in + i] = acc;
        }
        float acc = 0.0f;
        for (int n = 0; n < s->n; n++) acc += dy[(size_t)n * s->out + o];
        db[o] = acc;
    }
}

/* The reference: one sample at a time through the float op, then the fixed-point accumulation. */
static int scalar_conv_backward_weights_fixed(const cd_conv_shape *s, const cd_conv_plan *plan, const float *x,
                                              const float *dy, float *dw, float *db, int64_t *dw_sum,
                                              int64_t *db_sum, float *work)
{
    cd_conv_shape one = *s;
    one.n = 1;
    const size_t xs = (size_t)s->c_in * s->h_in * s->w_in, ys = (size_t)s->c_out * s->h_out * s->w_out;
    const size_t nw = (size_t)s->c_out * s->c_in * s->k_h * s->k_w;
    cd_error err;
    for (int n = 0; n < s->n; n++) {
        scalar_conv_backward_weights(&one, plan, x + n * xs, dy + n * ys, dw, db, work);
        if (cd_fixed_accumulate(dw_sum, dw, nw, &err) != CD_OK ||
            cd_fixed_accumulate(db_sum, db, (size_t)s->c_out, &err) != CD_OK)
            return 1;
    }
    return 0;
}

/* The reference: the product rounded to float, then llrint, with the limit checked value by value. */
static int scalar_linear_backward_weights_fixed(const cd_linear_shape *s, const float *x, const float *dy, int64_t *dw,
                                                int64_t *db)
{
    int bad = 0;
    for (int n = 0; n < s->n; n++)
        for (int o = 0; o < s->out; o++) {
            const float d = dy[(size_t)n * s->out + o];
            for (int i = 0; i < s->in; i++) {
                const float p = d * x[(size_t)n * s->in + i];
                if (!(fabsf(p) <= (float)CD_FIXED_LIMIT)) bad = 1;
                else dw[(size_t)o * s->in + i] += llrint((double)p * 0x1p40);
            }
            if (!(fabsf(d) <= (float)CD_FIXED_LIMIT)) bad = 1;
            else db[o] += llrint((double)d * 0x1p40);
        }
    return bad;
}

/* Separate multiply and add (no fma): every set writes exactly this, so the bits match across sets. */
static void scalar_sgd_momentum(size_t n, float *w, float *v, const float *g, float lr, float mu)
{
    for (size_t i = 0; i < n; i++) {
        float vi = mu * v[i] + g[i];
        v[i] = vi;
        w[i] = w[i] - lr * vi;
    }
}

static const cd_kernels scalar_table = {
    .name = cd_kernel_names[CD_KERNELS_SCALAR],
    .conv_plan = scalar_conv_plan,
    .conv_workspace = scalar_conv_workspace,
    .conv_forward = scalar_conv_forward,
    .conv_backward_data = scalar_conv_backward_data,
    .conv_backward_weights = scalar_conv_backward_weights,
    .conv_backward_weights_fixed = scalar_conv_backward_weights_fixed,
    .pool_forward = scalar_pool_forward,
    .pool_backward = scalar_pool_backward,
    .relu_forward = scalar_relu_forward,
    .relu_backward = scalar_relu_backward,
    .linear_forward = scalar_linear_forward,
    .linear_backward_data = scalar_linear_backward_data,
    .linear_backward_weights = scalar_linear_backward_weights,
    .linear_backward_weights_fixed = scalar_linear_backward_weights_fixed,
    .sgd_momentum = scalar_sgd_momentum,
};

const cd_kernels *cd_kernels_scalar(void) { return &scalar_table; }
