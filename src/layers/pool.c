/* max-pool 2d: no padding, floor mode; the forward pass records each winner for the backward pass. */
#include "layers/layer.h"

static cd_pool_shape pool_shape(const cd_layer *l, int n)
{
    return (cd_pool_shape){.n = n, .c = l->in.c, .h_in = l->in.h, .w_in = l->in.w, .h_out = l->out.h,
                           .w_out = l->out.w, .k = l->spec.k, .stride = l->spec.stride};
}

static cd_status pool_infer(cd_layer *l, int index, cd_error *err)
{
    const cd_layer_spec *s = &l->spec;
    if (l->in.h < s->k || l->in.w < s->k)
        return CD_FAIL(err, CD_E_INPUT, "model layer %d pool(%d,s=%d): input %dx%d is smaller than the %dx%d window",
                       index + 1, s->k, s->stride, l->in.h, l->in.w, s->k, s->k);
    l->out = (cd_shape){l->in.c, (l->in.h - s->k) / s->stride + 1, (l->in.w - s->k) / s->stride + 1};
    return CD_OK;
}

static size_t pool_workspace(const cd_layer *l, const cd_kernels *k, int n)
{
    (void)l, (void)k, (void)n;
    return 0;
}

static void pool_forward(cd_model *m, int i, int n)
{
    cd_pool_shape s = pool_shape(&m->layers[i], n);
    m->kernels->pool_forward(&s, m->act[i], m->act[i + 1], m->inference ? NULL : m->argmax[i]);
}

static void pool_backward(cd_model *m, int i, int n, int need_dx)
{
    if (!need_dx) return;
    cd_pool_shape s = pool_shape(&m->layers[i], n);
    m->kernels->pool_backward(&s, m->grad[i + 1], m->argmax[i], m->grad[i]);
}

const cd_layer_ops *cd_layer_ops_pool(void)
{
    static const cd_layer_ops ops = {pool_infer, pool_workspace, pool_forward, pool_backward};
    return &ops;
}
