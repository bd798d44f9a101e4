/* Each layer type's table, one per file; layer.c maps a type to its table. */
#ifndef CNN_DDP_SRC_LAYER_TYPES_H
#define CNN_DDP_SRC_LAYER_TYPES_H

#include "cnn_ddp/layer.h"

const cd_layer_ops *cd_layer_ops_conv(void);
const cd_layer_ops *cd_layer_ops_pool(void);
const cd_layer_ops *cd_layer_ops_relu(void);
const cd_layer_ops *cd_layer_ops_flatten(void);
const cd_layer_ops *cd_layer_ops_linear(void);

#endif
