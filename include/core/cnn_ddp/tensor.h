/* Shapes and named views of a flat float buffer: the neutral vocabulary the model uses to describe its
 * parameters and the checkpoint uses to store them, so neither needs to know the other. */
#ifndef CNN_DDP_TENSOR_H
#define CNN_DDP_TENSOR_H

#include <stddef.h>
#include <stdint.h>

/* One sample's activation: channels x height x width. */
typedef struct cd_shape { int c, h, w; } cd_shape;

static inline size_t cd_shape_size(cd_shape s) { return (size_t)s.c * (size_t)s.h * (size_t)s.w; }

/* A named piece of a flat buffer (an arena): floats [offset, offset + count), of shape dims[0..ndims). */
typedef struct cd_tensor_view {
    char group[24];     /* "conv1": the layer it belongs to */
    char name[16];      /* "weight" | "bias" */
    size_t offset;      /* in floats */
    size_t count;
    int ndims;
    int64_t dims[4];
} cd_tensor_view;

#endif
