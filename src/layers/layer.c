/* The layer types' names and tables, and the kernel shapes every backend derives from a layer. */
#include "layer_types.h"

#include "cnn_ddp/fixed_point.h"

const cd_layer_ops *cd_layer_ops_for(cd_layer_type type)
{
    switch (type) {
    case CD_LAYER_CONV: return cd_layer_ops_conv();
    case CD_LAYER_POOL: return cd_layer_ops_pool();
    case CD_LAYER_RELU: return cd_layer_ops_relu();
    case CD_LAYER_FLATTEN: return cd_layer_ops_flatten();
    case CD_LAYER_LINEAR: return cd_layer_ops_linear();
    }
    return NULL;
}

const char *cd_layer_type_name(cd_layer_type t)
{
    switch (t) {
    case CD_LAYER_CONV: return "conv";
    case CD_LAYER_POOL: return "pool";
    case CD_LAYER_RELU: return "relu";
    case CD_LAYER_FLATTEN: return "flatten";
    case CD_LAYER_LINEAR: return "fc";
    }
    return "?";
}

int cd_layers_lowest_with_params(const cd_layer *layers, int n)
{
    for (int i = 0; i < n; i++)
        if (layers[i].weight_count) return i;
    return n;
}

cd_conv_shape cd_layer_conv_shape(const cd_layer *l, int n)
{
    return (cd_conv_shape){.n = n, .c_in = l->in.c, .h_in = l->in.h, .w_in = l->in.w,
                           .c_out = l->out.c, .h_out = l->out.h, .w_out = l->out.w,
                           .k_h = l->spec.k, .k_w = l->spec.k, .stride = l->spec.stride, .pad = l->spec.pad};
}

cd_pool_shape cd_layer_pool_shape(const cd_layer *l, int n)
{
    return (cd_pool_shape){.n = n, .c = l->in.c, .h_in = l->in.h, .w_in = l->in.w, .h_out = l->out.h,
                           .w_out = l->out.w, .k = l->spec.k, .stride = l->spec.stride};
}

cd_linear_shape cd_layer_linear_shape(const cd_layer *l, int n)
{
    return (cd_linear_shape){.n = n, .in = (int)cd_shape_size(l->in), .out = l->out.c};
}

cd_status cd_layer_name_bad_sample(const cd_layer *l, const cd_layer_io *io, cd_error *err)
{
    const size_t in = cd_shape_size(l->in), out = cd_shape_size(l->out);
    const char *name = cd_layer_type_name(l->spec.type);
    for (int n = 0; n < io->n; n++) {
        cd_layer_io one = *io;
        one.n = 1;
        one.x = io->x + (size_t)n * in;
        one.dy = io->dy + (size_t)n * out;
        one.dx = NULL;
        cd_layer_ops_for(l->spec.type)->backward(l, &one);
        cd_status st = cd_fixed_check(io->dw, l->weight_count, err);
        if (st == CD_OK) st = cd_fixed_check(io->db, l->bias_count, err);
        if (st != CD_OK) {
            cd_error_prefix(err, "sample %d, %s weights: ", n, name);
            return st;
        }
    }
    return CD_FAIL(err, CD_E_INTERNAL, "%s weights: the fixed-point kernel reported a bad value the float check "
                   "does not find", name);
}
