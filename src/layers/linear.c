/* linear (fully connected): flattens its input; weight [out][in] + bias [out]. */
#include "layers/layer.h"

static cd_linear_shape linear_shape(const cd_layer *l, int n)
{
    return (cd_linear_shape){.n = n, .in = (int)cd_shape_size(l->in), .out = l->out.c};
}

static cd_status linear_infer(cd_layer *l, int index, cd_error *err)
{
    size_t in = cd_shape_size(l->in);
    if (in > (1u << 24))
        return CD_FAIL(err, CD_E_INPUT, "model layer %d fc(%d): %zu inputs is too many", index + 1, l->spec.out, in);
    l->out = (cd_shape){l->spec.out, 1, 1};
    l->weight_count = (size_t)l->spec.out * in;
    l->bias_count = (size_t)l->spec.out;
    l->weight_ndims = 2;
    l->weight_dims[0] = l->spec.out;
    l->weight_dims[1] = (int64_t)in;
    return CD_OK;
}

static size_t linear_workspace(const cd_layer *l, const cd_kernels *k, int n)
{
    (void)l, (void)k, (void)n;
    return 0;
}

static void linear_forward(cd_model *m, int i, int n)
{
    const cd_layer *l = &m->layers[i];
    cd_linear_shape s = linear_shape(l, n);
    const float *p = m->arena.params;
    m->kernels->linear_forward(&s, m->act[i], p + l->weight_offset, p + l->bias_offset, m->act[i + 1]);
}

static void linear_backward(cd_model *m, int i, int n, int need_dx)
{
    const cd_layer *l = &m->layers[i];
    cd_linear_shape s = linear_shape(l, n);
    float *g = m->arena.grads;
    m->kernels->linear_backward_weights(&s, m->act[i], m->grad[i + 1], g + l->weight_offset, g + l->bias_offset);
    if (need_dx) m->kernels->linear_backward_data(&s, m->grad[i + 1], m->arena.params + l->weight_offset, m->grad[i]);
}

const cd_layer_ops *cd_layer_ops_linear(void)
{
    static const cd_layer_ops ops = {linear_infer, linear_workspace, linear_forward, linear_backward};
    return &ops;
}
