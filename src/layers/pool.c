/* max-pool 2d: no padding, floor mode; the forward pass records each winner for the backward pass. */
#include "layer_types.h"

#include <stddef.h>

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

static void pool_forward(const cd_layer *l, const cd_layer_io *io)
{
    cd_pool_shape s = cd_layer_pool_shape(l, io->n);
    io->k->pool_forward(&s, io->x, io->y, io->argmax);
}

static void pool_backward(const cd_layer *l, const cd_layer_io *io)
{
    if (!io->dx) return;
    cd_pool_shape s = cd_layer_pool_shape(l, io->n);
    io->k->pool_backward(&s, io->dy, io->argmax, io->dx);
}

const cd_layer_ops *cd_layer_ops_pool(void)
{
    static const cd_layer_ops ops = {pool_infer, NULL, pool_workspace, pool_forward, pool_backward, NULL};
    return &ops;
}
