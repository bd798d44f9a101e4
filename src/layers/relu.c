/* ReLU: the backward pass masks with the forward output (y > 0 exactly where x > 0). */
#include "layer_types.h"

#include <stddef.h>

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

static void relu_forward(const cd_layer *l, const cd_layer_io *io)
{
    io->k->relu_forward((size_t)io->n * cd_shape_size(l->in), io->x, io->y);
}

static void relu_backward(const cd_layer *l, const cd_layer_io *io)
{
    if (io->dx) io->k->relu_backward((size_t)io->n * cd_shape_size(l->in), io->y, io->dy, io->dx);
}

const cd_layer_ops *cd_layer_ops_relu(void)
{
    static const cd_layer_ops ops = {relu_infer, NULL, relu_workspace, relu_forward, relu_backward, NULL};
    return &ops;
}
