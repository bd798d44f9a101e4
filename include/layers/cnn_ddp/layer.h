/* Layers: one file per type, each a small table of operations over its own tensors. A layer sees its
 * description (cd_layer) and an I/O record (cd_layer_io: inputs, outputs, their gradients, its
 * parameters and their gradients, scratch, the kernel table), never the network it is part of. */
#ifndef CNN_DDP_LAYER_H
#define CNN_DDP_LAYER_H

#include <stddef.h>
#include <stdint.h>
#include "cnn_ddp/error.h"
#include "cnn_ddp/kernels.h"
#include "cnn_ddp/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cd_layer_type {
    CD_LAYER_CONV = 0,
    CD_LAYER_POOL,
    CD_LAYER_RELU,
    CD_LAYER_FLATTEN,
    CD_LAYER_LINEAR,
} cd_layer_type;
#define CD_LAYER_TYPES (CD_LAYER_LINEAR + 1) /* not an enumerator, so switches need no case for it */

/* What a model description says of one layer. */
typedef struct cd_layer_spec {
    cd_layer_type type;
    int out;    /* conv: output channels; linear: output features */
    int k;      /* conv/pool kernel size */
    int stride;
    int pad;
} cd_layer_spec;

/* One layer of a built network: its shapes and where its parameters sit in the arena. */
typedef struct cd_layer {
    cd_layer_spec spec;
    char name[24];          /* "conv1", "pool1", "relu2", "fc1": the checkpoint group name */
    cd_shape in, out;       /* per sample */
    size_t weight_offset, weight_count;   /* into the arena (0 count: no parameters) */
    size_t bias_offset, bias_count;
    int weight_ndims;
    int64_t weight_dims[4];
    cd_conv_plan plan;      /* conv: how the model's kernel set computes this layer, chosen at build time */
} cd_layer;

/* The tensors of one forward or backward call over n samples (NCHW, contiguous). */
typedef struct cd_layer_io {
    int n;
    const float *x;   /* input activations */
    float *y;         /* output activations (forward writes; backward reads, e.g. ReLU's mask) */
    const float *dy;  /* loss gradient at y (backward) */
    float *dx;        /* loss gradient at x, overwritten; NULL: not wanted (the lowest layers) */
    const float *w, *b;
    float *dw, *db;   /* parameter gradients, overwritten (backward_fixed: one sample's, as scratch) */
    int64_t *dw_sum, *db_sum; /* backward_fixed: every sample's gradient added here in fixed point */
    int32_t *argmax;  /* pool: winners, written forward (NULL there: inference) and read backward */
    float *work;      /* at least workspace(n) floats, 64-byte aligned */
    const cd_kernels *k;
} cd_layer_io;

typedef struct cd_layer_ops {
    /* Fills l->out and the parameter dims/counts from l->in and l->spec; CD_E_INPUT naming layer
     * `index` (0-based) when the input does not fit. */
    cd_status (*infer)(cd_layer *l, int index, cd_error *err);
    /* After infer, once the kernel set is known: choices that depend on it (the conv plan); may be NULL. */
    void (*plan)(cd_layer *l, const cd_kernels *k);
    /* Scratch floats forward and backward need at batch n. */
    size_t (*workspace)(const cd_layer *l, const cd_kernels *k, int n);
    void (*forward)(const cd_layer *l, const cd_layer_io *io);
    /* dy -> dw, db (layers with parameters) and dx when io->dx is set. */
    void (*backward)(const cd_layer *l, const cd_layer_io *io);
    /* Layers with parameters: like backward, but each sample's dw and db on its own (as backward
     * computes them for n = 1), added into dw_sum and db_sum in fixed point; the unit of the exact
     * gradient sum is the sample. CD_E_NUMERIC naming the sample and element when a value is NaN,
     * infinite or beyond the fixed-point limit. NULL for layers without parameters. */
    cd_status (*backward_fixed)(const cd_layer *l, const cd_layer_io *io, cd_error *err);
} cd_layer_ops;

const cd_layer_ops *cd_layer_ops_for(cd_layer_type type);
/* "conv", "pool", "relu", "flatten", "fc": the spec's word for a layer type (and the stem of its
 * checkpoint group name, "conv1"). */
const char *cd_layer_type_name(cd_layer_type type);

/* The first of n layers that has parameters (n when none has): the backward pass needs input
 * gradients only above it. */
int cd_layers_lowest_with_params(const cd_layer *layers, int n);

/* The kernel shapes of a layer at batch n, for every backend (CPU layers, the CUDA replica). */
cd_conv_shape cd_layer_conv_shape(const cd_layer *l, int n);
cd_pool_shape cd_layer_pool_shape(const cd_layer *l, int n);
cd_linear_shape cd_layer_linear_shape(const cd_layer *l, int n);

#ifdef __cplusplus
}
#endif

#endif
