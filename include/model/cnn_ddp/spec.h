/* Model descriptions: the built-in names ("seed", "exercise") and a short text language for any
 * stack of layers, e.g. "conv(10,k=5) pool(2) relu conv(20,k=5) pool(2) relu fc(10)".
 *
 * Grammar (whitespace separates layers; arguments are positional or key=value):
 *   conv(OUT[,k=K][,s=S][,p=P])   conv2d, OUT output channels, kernel K (default 3), stride S (1), pad P (0)
 *   pool(K[,s=S])                 max-pool, kernel K, stride S (default K)
 *   relu
 *   flatten                       optional: fc flattens on its own
 *   fc(OUT)                       linear layer (also "linear(OUT)"); fc(classes): the data set's K
 * A spec whose last layer is not fc gets fc(classes) appended: the class scores, on which softmax
 * cross-entropy follows implicitly. "seed" and "exercise" end in fc(classes). */
#ifndef CNN_DDP_SPEC_H
#define CNN_DDP_SPEC_H

#include <stddef.h>
#include "cnn_ddp/error.h"
#include "cnn_ddp/layer.h"
#include "cnn_ddp/limits.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CD_SPEC_TEXT_MAX 1024
/* The output count of fc(classes) until cd_spec_set_classes fills in the data set's K. */
#define CD_SPEC_CLASSES (-1)

typedef struct cd_model_spec {
    int n_layers;
    cd_layer_spec layers[CD_MAX_LAYERS];
} cd_model_spec;

/* Parses "seed", "exercise" or a spec text. On error: CD_E_INPUT with a message giving the
 * 1-based character position and the reason, e.g. "model spec at 12: unknown layer 'cnv'". */
cd_status cd_spec_parse(const char *text, cd_model_spec *out, cd_error *err);
/* Every fc(classes) of the spec becomes fc(<classes>); a spec read from a checkpoint has none left. */
void cd_spec_set_classes(cd_model_spec *spec, int classes);
/* How a model trains when the command line does not say: the SGD learning rate, and whether it decays
 * along a cosine to 0 over the run's --epochs. "seed" and any spec text: 0.01, constant (the seed
 * recipe); "exercise": 0.05, cosine. */
typedef struct cd_model_recipe {
    double lr;
    int cosine;
} cd_model_recipe;
cd_model_recipe cd_spec_default_recipe(const char *text);
/* Canonical text (every argument spelled out), the form stored in checkpoints and compared on
 * resume: "conv(10,k=5,s=1,p=0) pool(2,s=2) relu ... fc(10)". */
void cd_spec_format(const cd_model_spec *spec, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif
