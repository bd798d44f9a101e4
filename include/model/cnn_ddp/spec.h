/* Model descriptions: the built-in names ("seed", "exercise") and a short text language for any
 * stack of layers, e.g. "conv(10,k=5) pool(2) relu conv(20,k=5) pool(2) relu fc(10)".
 *
 * Grammar (whitespace separates layers; arguments are positional or key=value):
 *   conv(OUT[,k=K][,s=S][,p=P])   conv2d, OUT output channels, kernel K (default 3), stride S (1), pad P (0)
 *   pool(K[,s=S])                 max-pool, kernel K, stride S (default K)
 *   relu
 *   flatten                       optional: fc flattens on its own
 *   fc(OUT)                       linear layer (also "linear(OUT)")
 * The last layer must be fc(10 classes) for MNIST; softmax cross-entropy follows implicitly. */
#ifndef CNN_DDP_SPEC_H
#define CNN_DDP_SPEC_H

#include "cnn_ddp/error.h"

#define CD_MAX_LAYERS 64
#define CD_SPEC_TEXT_MAX 1024

typedef enum cd_layer_type {
    CD_LAYER_CONV = 0,
    CD_LAYER_POOL,
    CD_LAYER_RELU,
    CD_LAYER_FLATTEN,
    CD_LAYER_LINEAR,
} cd_layer_type;

typedef struct cd_layer_spec {
    cd_layer_type type;
    int out;    /* conv: output channels; linear: output features */
    int k;      /* conv/pool kernel size */
    int stride;
    int pad;
} cd_layer_spec;

typedef struct cd_model_spec {
    int n_layers;
    cd_layer_spec layers[CD_MAX_LAYERS];
} cd_model_spec;

/* Parses "seed", "exercise" or a spec text. On error: CD_E_INPUT with a message giving the
 * 1-based character position and the reason, e.g. "model spec at 12: unknown layer 'cnv'". */
cd_status cd_spec_parse(const char *text, cd_model_spec *out, cd_error *err);
/* How a model trains when the command line does not say: the SGD learning rate, and whether it decays
 * along a cosine to 0 over the run's --epochs. "seed" and any spec text: 0.01, constant (the seed
 * recipe); "exercise": 0.05, cosine. */
typedef struct cd_model_recipe {
    double lr;
    int cosine;
} cd_model_recipe;
cd_model_recipe cd_spec_default_recipe(const char *text);
/* "conv", "pool", "relu", "flatten", "fc": the spec's word for a layer type (and the stem of its
 * checkpoint group name, "conv1"). */
const char *cd_layer_type_name(cd_layer_type type);
/* Canonical text (every argument spelled out), the form stored in checkpoints and compared on
 * resume: "conv(10,k=5,s=1,p=0) pool(2,s=2) relu ... fc(10)". */
void cd_spec_format(const cd_model_spec *spec, char *buf, size_t size);

#endif
