/* linear (fully connected): flattens its input; weight [out][in] + bias [out]. */
#include "layer_types.h"

#include <stddef.h>

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

static void linear_forward(const cd_layer *l, const cd_layer_io *io)
{
    cd_linear_shape s = cd_layer_linear_shape(l, io->n);
    io->k->linear_forward(&s, io->x, io->w, io->b, io->y);
}

static void linear_backward(const cd_layer *l, const cd_layer_io *io)
{
    cd_linear_shape s = cd_layer_linear_shape(l, io->n);
    io->k->linear_backward_weights(&s, io->x, io->dy, io->dw, io->db);
    if (io->dx) io->k->linear_backward_data(&s, io->dy, io->w, io->dx);
}

/* The fused kernel adds every sample's products in fixed point. */
static cd_status linear_backward_fixed(const cd_layer *l, const cd_layer_io *io, cd_error *err)
{
    const cd_linear_shape s = cd_layer_linear_shape(l, io->n);
    if (io->k->linear_backward_weights_fixed(&s, io->x, io->dy, io->dw_sum, io->db_sum))
        return cd_layer_name_bad_sample(l, io, err);
    if (io->dx) io->k->linear_backward_data(&s, io->dy, io->w, io->dx);
    return CD_OK;
}

const cd_layer_ops *cd_layer_ops_linear(void)
{
    static const cd_layer_ops ops = {linear_infer, NULL, linear_workspace, linear_forward, linear_backward,
                                     linear_backward_fixed};
    return &ops;
}
