/* Finite-difference checks: the float backward pass of every layer type, and of the whole seed and
 * exercise networks, against central differences of a double-precision reference forward pass. Run for
 * every kernel set this CPU supports, so the SIMD backward passes are checked against the math too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn_ddp/model.h"
#include "cnn_ddp/rng.h"
#include "test_support.h"

/* ---- double-precision reference forward over the model's layer list ---- */

static void ref_layer(const cd_layer *l, const double *p, int n, const double *x, double *y)
{
    const cd_shape in = l->in, out = l->out;
    const cd_layer_spec *s = &l->spec;
    for (int b = 0; b < n; b++) {
        const double *xb = x + (size_t)b * cd_shape_size(in);
        double *yb = y + (size_t)b * cd_shape_size(out);
        switch (s->type) {
        case CD_LAYER_CONV:
            for (int co = 0; co < out.c; co++)
                for (int oh = 0; oh < out.h; oh++)
                    for (int ow = 0; ow < out.w; ow++) {
                        double acc = p[l->bias_offset + co];
                        for (int ci = 0; ci < in.c; ci++)
                            for (int kh = 0; kh < s->k; kh++)
                                for (int kw = 0; kw < s->k; kw++) {
                                    int ih = oh * s->stride - s->pad + kh, iw = ow * s->stride - s->pad + kw;
                                    if (ih < 0 || iw < 0 || ih >= in.h || iw >= in.w) continue;
                                    acc += p[l->weight_offset + ((size_t)(co * in.c + ci) * s->k + kh) * s->k + kw] *
                                           xb[((size_t)ci * in.h + ih) * in.w + iw];
                                }
                        yb[((size_t)co * out.h + oh) * out.w + ow] = acc;
                    }
            break;
        case CD_LAYER_POOL:
            for (int c = 0; c < out.c; c++)
                for (int oh = 0; oh < out.h; oh++)
                    for (int ow = 0; ow < out.w; ow++) {
                        double best = -INFINITY;
                        for (int kh = 0; kh < s->k; kh++)
                            for (int kw = 0; kw < s->k; kw++) {
                                double v = xb[((size_t)c * in.h + oh * s->stride + kh) * in.w + ow * s->stride + kw];
                                if (v > best) best = v;
                            }
                        yb[((size_t)c * out.h + oh) * out.w + ow] = best;
                    }
            break;
        case CD_LAYER_RELU:
            for (size_t i = 0; i < cd_shape_size(in); i++) yb[i] = xb[i] > 0 ? xb[i] : 0;
            break;
        case CD_LAYER_FLATTEN:
            memcpy(yb, xb, sizeof(double) * cd_shape_size(in));
            break;
        case CD_LAYER_LINEAR: {
            size_t nin = cd_shape_size(in);
            for (int o = 0; o < out.c; o++) {
                double acc = p[l->bias_offset + o];
                for (size_t i = 0; i < nin; i++) acc += p[l->weight_offset + (size_t)o * nin + i] * xb[i];
                yb[o] = acc;
            }
            break;
        }
        }
    }
}

/* scale * sum of per-sample cross-entropy losses, all in double. */
static double ref_loss(const cd_model *m, const double *p, const double *x, const uint8_t *labels, int n, double scale)
{
    size_t biggest = cd_shape_size(m->input);
    for (int i = 0; i < m->n_layers; i++)
        if (cd_shape_size(m->layers[i].out) > biggest) biggest = cd_shape_size(m->layers[i].out);
    double *a = calloc(biggest * (size_t)n, sizeof(double)), *b = calloc(biggest * (size_t)n, sizeof(double));
    memcpy(a, x, sizeof(double) * cd_shape_size(m->input) * (size_t)n);
    for (int i = 0; i < m->n_layers; i++) {
        ref_layer(&m->layers[i], p, n, a, b);
        double *t = a;
        a = b;
        b = t;
    }
    double total = 0;
    for (int s = 0; s < n; s++) {
        const double *z = a + (size_t)s * m->classes;
        double mx = z[0], sum = 0;
        for (int c = 1; c < m->classes; c++) mx = z[c] > mx ? z[c] : mx;
        for (int c = 0; c < m->classes; c++) sum += exp(z[c] - mx);
        total += log(sum) + mx - z[labels[s]];
    }
    free(a);
    free(b);
    return total * scale;
}

typedef struct grad_case {
    const char *spec;
    cd_shape input;
    int batch;
} grad_case;

static void check_case(const grad_case *gc, const cd_kernels *k)
{
    cd_model_spec spec;
    cd_error err = {0};
    assert_int_equal(cd_spec_parse(gc->spec, &spec, &err), CD_OK);
    cd_model m;
    if (cd_model_build(&spec, gc->input, 10, gc->batch, k, &m, &err) != CD_OK) fail_msg("%s: %s", gc->spec, err.msg);
    cd_model_init_params(&m, 7);
    /* Larger biases keep ReLUs and pool winners away from kinks, where differences are meaningless. */
    size_t in_count = cd_shape_size(gc->input) * (size_t)gc->batch;
    float *x = malloc(sizeof(float) * in_count);
    ts_fill_uniform(x, in_count, 11, -1.0f, 1.0f);
    uint8_t labels[16];
    for (int i = 0; i < gc->batch; i++) labels[i] = (uint8_t)((i * 7 + 3) % 10);
    const float scale = 1.0f / 8.0f;

    cd_model_forward(&m, x, gc->batch);
    int correct;
    double loss = cd_model_loss_backward(&m, labels, gc->batch, scale, &correct);

    size_t P = m.arena.count;
    double *p = malloc(sizeof(double) * P), *xd = malloc(sizeof(double) * in_count);
    assert_non_null(p);
    assert_non_null(xd);
    for (size_t i = 0; i < P; i++) p[i] = m.arena.params[i];
    for (size_t i = 0; i < in_count; i++) xd[i] = x[i];
    double ref = ref_loss(&m, p, xd, labels, gc->batch, 1.0);
    assert_true(fabs(ref - loss) <= 1e-4 * fabs(ref) + 1e-5);

    /* Every parameter for small models; an even sample of 400 for the big ones. */
    size_t stride = P > 400 ? P / 400 : 1;
    double worst = 0;
    size_t checked = 0;
    for (size_t i = 0; i < P; i += stride, checked++) {
        const double h = 1e-6;
        double keep = p[i];
        p[i] = keep + h;
        double up = ref_loss(&m, p, xd, labels, gc->batch, scale);
        p[i] = keep - h;
        double down = ref_loss(&m, p, xd, labels, gc->batch, scale);
        p[i] = keep;
        double fd = (up - down) / (2 * h), an = m.arena.grads[i];
        double e = fabs(fd - an) / fmax(fabs(fd), 1e-3);
        if (e > worst) worst = e;
        if (e > 2e-3) fail_msg("%s [%s]: parameter %zu: analytic %.8g vs finite difference %.8g", gc->spec, k->name, i, an, fd);
    }
    assert_true(checked > 0);
    print_message("  %-45s %-7s %6zu params checked, worst rel err %.2e\n", gc->spec, k->name, checked, worst);
    free(p);
    free(xd);
    free(x);
    cd_model_free(&m);
}

static const grad_case cases[] = {
    {"conv(3,k=3,s=2,p=1) fc(10)", {2, 7, 7}, 3},
    {"conv(4,k=1) fc(10)", {3, 5, 5}, 2},
    {"conv(3,k=2,s=3,p=1) fc(10)", {1, 8, 7}, 2},
    {"conv(3,k=3) pool(2) fc(10)", {1, 9, 9}, 3},
    {"conv(2,k=2) pool(3,s=2) fc(10)", {1, 10, 10}, 2},
    {"conv(3,k=3) relu fc(10)", {1, 6, 6}, 3},
    {"conv(2,k=3) flatten fc(10)", {1, 6, 6}, 2},
    {"fc(7) relu fc(10)", {1, 4, 4}, 4},
    {"conv(4,k=3,p=1) relu conv(5,k=3,s=2) pool(2) relu fc(10)", {2, 9, 9}, 2},
    {"seed", {1, 28, 28}, 3},
    {"exercise", {1, 28, 28}, 2},
};

static void run_all_cases(const cd_kernels *k)
{
    if (!k) {
        skip();
        return;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i], k);
}

static void test_scalar(void **state)
{
    (void)state;
    run_all_cases(cd_kernels_scalar());
}

static void test_avx2(void **state)
{
    (void)state;
    run_all_cases(cd_kernels_supported(CD_KERNELS_AVX2) ? cd_kernels_avx2() : NULL);
}

static void test_avx512(void **state)
{
    (void)state;
    run_all_cases(cd_kernels_supported(CD_KERNELS_AVX512) ? cd_kernels_avx512() : NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar),
        cmocka_unit_test(test_avx2),
        cmocka_unit_test(test_avx512),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
