/* flatten: NCHW is already contiguous per sample, so this only changes the shape ([c*h*w,1,1]). */
#include "layers/layer.h"

#include <string.h>

static cd_status flatten_infer(cd_layer *l, int index, cd_error *err)
{
    (void)index, (void)err;
    l->out = (cd_shape){(int)cd_shape_size(l->in), 1, 1};
    return CD_OK;
}

static size_t flatten_workspace(const cd_layer *l, const cd_kernels *k, int n)
{
    (void)l, (void)k, (void)n;
    return 0;
}

static void flatten_forward(cd_model *m, int i, int n)
{
    memcpy(m->act[i + 1], m->act[i], sizeof(float) * (size_t)n * cd_shape_size(m->layers[i].in));
}

static void flatten_backward(cd_model *m, int i, int n, int need_dx)
{
    if (need_dx) memcpy(m->grad[i], m->grad[i + 1], sizeof(float) * (size_t)n * cd_shape_size(m->layers[i].in));
}

const cd_layer_ops *cd_layer_ops_flatten(void)
{
    static const cd_layer_ops ops = {flatten_infer, flatten_workspace, flatten_forward, flatten_backward};
    return &ops;
}
