/* conv2d: shape inference, parameter layout [c_out][c_in][k][k] + [c_out], kernel calls. */
#include "layer_types.h"

static cd_status conv_infer(cd_layer *l, int index, cd_error *err)
{
    const cd_layer_spec *s = &l->spec;
    int padded_h = l->in.h + 2 * s->pad, padded_w = l->in.w + 2 * s->pad;
    if (padded_h < s->k || padded_w < s->k)
        return CD_FAIL(err, CD_E_INPUT,
                       "model layer %d conv(%d,k=%d,s=%d,p=%d): input %dx%d (padded %dx%d) is smaller than "
                       "the %dx%d kernel",
                       index + 1, s->out, s->k, s->stride, s->pad, l->in.h, l->in.w, padded_h, padded_w,
                       s->k, s->k);
    l->out = (cd_shape){s->out, (padded_h - s->k) / s->stride + 1, (padded_w - s->k) / s->stride + 1};
    l->weight_count = (size_t)s->out * (size_t)l->in.c * (size_t)s->k * (size_t)s->k;
    l->bias_count = (size_t)s->out;
    l->weight_ndims = 4;
    l->weight_dims[0] = s->out;
    l->weight_dims[1] = l->in.c;
    l->weight_dims[2] = s->k;
    l->weight_dims[3] = s->k;
    return CD_OK;
}

/* The kernel set's formulation of this shape, chosen once (it does not depend on the batch size). */
static void conv_plan(cd_layer *l, const cd_kernels *k)
{
    const cd_conv_shape s = cd_layer_conv_shape(l, 1);
    k->conv_plan(&s, &l->plan);
}

static size_t conv_workspace(const cd_layer *l, const cd_kernels *k, int n)
{
    const cd_conv_shape s = cd_layer_conv_shape(l, n);
    return k->conv_workspace(&s, &l->plan);
}

static void conv_forward(const cd_layer *l, const cd_layer_io *io)
{
    const cd_conv_shape s = cd_layer_conv_shape(l, io->n);
    io->k->conv_forward(&s, &l->plan, io->x, io->w, io->b, io->y, io->work);
}

static void conv_backward(const cd_layer *l, const cd_layer_io *io)
{
    const cd_conv_shape s = cd_layer_conv_shape(l, io->n);
    io->k->conv_backward_weights(&s, &l->plan, io->x, io->dy, io->dw, io->db, io->work);
    if (io->dx) io->k->conv_backward_data(&s, &l->plan, io->dy, io->w, io->dx, io->work);
}

/* Each sample's weight gradient on its own (the kernel's reduction over positions gives that sample's
 * float gradient), so its fixed-point value is the same whichever rank and batch the sample is in.
 * The data gradient has no cross-sample sum: one batched call. */
static cd_status conv_backward_fixed(const cd_layer *l, const cd_layer_io *io, cd_error *err)
{
    const cd_conv_shape s = cd_layer_conv_shape(l, io->n);
    if (io->k->conv_backward_weights_fixed(&s, &l->plan, io->x, io->dy, io->dw, io->db, io->dw_sum, io->db_sum,
                                           io->work))
        return cd_layer_name_bad_sample(l, io, err);
    if (io->dx) io->k->conv_backward_data(&s, &l->plan, io->dy, io->w, io->dx, io->work);
    return CD_OK;
}

const cd_layer_ops *cd_layer_ops_conv(void)
{
    static const cd_layer_ops ops = {conv_infer, conv_plan, conv_workspace, conv_forward, conv_backward,
                                     conv_backward_fixed};
    return &ops;
}
