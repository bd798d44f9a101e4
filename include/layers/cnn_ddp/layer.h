/* The small vtable each layer type implements (one file per type). Internal to the library. */
#ifndef CNN_DDP_SRC_LAYER_H
#define CNN_DDP_SRC_LAYER_H

#include "cnn_ddp/model.h"

typedef struct cd_layer_ops {
    /* Fills l->out and the parameter dims/counts from l->in and l->spec; CD_E_INPUT if it cannot fit. */
    cd_status (*infer)(cd_layer *l, int index, cd_error *err);
    /* Scratch floats this layer needs at batch n. */
    size_t (*workspace)(const cd_layer *l, const cd_kernels *k, int n);
    /* act[i] -> act[i+1] */
    void (*forward)(cd_model *m, int i, int n);
    /* grad[i+1] -> parameter gradients in m->arena.grads, and grad[i] when need_dx */
    void (*backward)(cd_model *m, int i, int n, int need_dx);
} cd_layer_ops;

const cd_layer_ops *cd_layer_ops_conv(void);
const cd_layer_ops *cd_layer_ops_pool(void);
const cd_layer_ops *cd_layer_ops_relu(void);
const cd_layer_ops *cd_layer_ops_flatten(void);
const cd_layer_ops *cd_layer_ops_linear(void);

static inline const cd_layer_ops *cd_layer_ops_for(cd_layer_type type)
{
    switch (type) {
    case CD_LAYER_CONV: return cd_layer_ops_conv();
    case CD_LAYER_POOL: return cd_layer_ops_pool();
    case CD_LAYER_RELU: return cd_layer_ops_relu();
    case CD_LAYER_FLATTEN: return cd_layer_ops_flatten();
    case CD_LAYER_LINEAR: return cd_layer_ops_linear();
    }
    return 0;
}

#endif
