/* A built network as a table, Keras/torchinfo style: one line per layer (name, spec, output shape,
 * parameters) and the totals; shared by the training banner and `cnn_ddp info CKPT`. */
#ifndef CNN_DDP_SRC_MODEL_SUMMARY_H
#define CNN_DDP_SRC_MODEL_SUMMARY_H

#include <stdio.h>
#include "cnn_ddp/layer.h"

/* Every line starts with `indent`:
 *   layer  spec          output    params
 *   conv1  conv(10,k=5)  10x24x24     260
 *   ...
 *   total  8490 parameters (33.2 KiB of float32), input 1x28x28 */
void cd_cli_model_summary(FILE *out, const char *indent, cd_shape input, const cd_layer *layers, int n_layers);

#endif
