/* ReLU: the backward pass masks with the forward output (y > 0 exactly where x > 0). */
#include "layers/layer.h"

static cd_status relu_infer(cd_layer *l, int index, cd_error *err)
{
    (void)index, (void)err;
    l->out = l->in;
    return CD_OK;
}

static size_t relu_workspace(const cd_layer *l, const cd_kernels *k, int n)
{
    (void)l, (void)k, (void)n;
    return 0;
}

static void relu_forward(cd_model *m, int i, int n)
{
    m->kernels->relu_forward((size_t)n * cd_shape_size(m->layers[i].in), m->act[i], m->act[i + 1]);
}

static void relu_backward(cd_model *m, int i, int n, int need_dx)
{
    if (!need_dx) return;
    m->kernels->relu_backward((size_t)n * cd_shape_size(m->layers[i].in), m->act[i + 1], m->grad[i + 1],
                              m->grad[i]);
}

const cd_layer_ops *cd_layer_ops_relu(void)
{
    static const cd_layer_ops ops = {relu_infer, relu_workspace, relu_forward, relu_backward};
    return &ops;
}
