/* conv2d: shape inference, parameter layout [c_out][c_in][k][k] + [c_out], kernel calls. */
#include "layers/layer.h"

static cd_conv_shape conv_shape(const cd_layer *l, int n)
{
    return (cd_conv_shape){.n = n, .c_in = l->in.c, .h_in = l->in.h, .w_in = l->in.w,
                           .c_out = l->out.c, .h_out = l->out.h, .w_out = l->out.w,
                           .k_h = l->spec.k, .k_w = l->spec.k, .stride = l->spec.stride, .pad = l->spec.pad};
}

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

static size_t conv_workspace(const cd_layer *l, const cd_kernels *k, int n)
{
    cd_conv_shape s = conv_shape(l, n);
    cd_conv_plan plan; /* TEMP: the plan moves into the layer at build time */
    k->conv_plan(&s, &plan);
    return k->conv_workspace(&s, &plan);
}

static void conv_forward(cd_model *m, int i, int n)
{
    const cd_layer *l = &m->layers[i];
    cd_conv_shape s = conv_shape(l, n);
    cd_conv_plan plan; /* TEMP: the plan moves into the layer at build time */
    m->kernels->conv_plan(&s, &plan);
    const float *p = m->arena.params;
    m->kernels->conv_forward(&s, &plan, m->act[i], p + l->weight_offset, p + l->bias_offset, m->act[i + 1], m->work);
}

static void conv_backward(cd_model *m, int i, int n, int need_dx)
{
    const cd_layer *l = &m->layers[i];
    cd_conv_shape s = conv_shape(l, n);
    cd_conv_plan plan; /* TEMP: the plan moves into the layer at build time */
    m->kernels->conv_plan(&s, &plan);
    float *g = m->arena.grads;
    m->kernels->conv_backward_weights(&s, &plan, m->act[i], m->grad[i + 1], g + l->weight_offset,
                                      g + l->bias_offset, m->work);
    if (need_dx)
        m->kernels->conv_backward_data(&s, &plan, m->grad[i + 1], m->arena.params + l->weight_offset, m->grad[i],
                                       m->work);
}

const cd_layer_ops *cd_layer_ops_conv(void)
{
    static const cd_layer_ops ops = {conv_infer, conv_workspace, conv_forward, conv_backward};
    return &ops;
}
