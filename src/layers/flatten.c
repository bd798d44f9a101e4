/* flatten: NCHW is already contiguous per sample, so this only changes the shape ([c*h*w,1,1]); in place
 * (the model's buffers alias) it copies nothing. */
#include "layer_types.h"

#include <stddef.h>

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

static void flatten_forward(const cd_layer *l, const cd_layer_io *io)
{
    if (io->y != io->x) memcpy(io->y, io->x, sizeof(float) * (size_t)io->n * cd_shape_size(l->in));
}

static void flatten_backward(const cd_layer *l, const cd_layer_io *io)
{
    if (io->dx && io->dx != io->dy) memcpy(io->dx, io->dy, sizeof(float) * (size_t)io->n * cd_shape_size(l->in));
}

const cd_layer_ops *cd_layer_ops_flatten(void)
{
    static const cd_layer_ops ops = {flatten_infer, NULL, flatten_workspace, flatten_forward, flatten_backward, NULL};
    return &ops;
}
