/* Each layer type's table, one per file; layer.c maps a type to its table. */
#ifndef CNN_DDP_SRC_LAYER_TYPES_H
#define CNN_DDP_SRC_LAYER_TYPES_H

#include "cnn_ddp/layer.h"

const cd_layer_ops *cd_layer_ops_conv(void);
const cd_layer_ops *cd_layer_ops_pool(void);
const cd_layer_ops *cd_layer_ops_relu(void);
const cd_layer_ops *cd_layer_ops_flatten(void);
const cd_layer_ops *cd_layer_ops_linear(void);

/* After a fixed-point weight kernel reported a bad value: the samples of io redone one at a time
 * through the layer's own float backward (dx not wanted), so the error names the sample and the
 * element ("sample 3, conv weights: gradient element 12 (of 250) is nan"). */
cd_status cd_layer_name_bad_sample(const cd_layer *l, const cd_layer_io *io, cd_error *err);

#endif
