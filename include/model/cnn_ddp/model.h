/* A network: the layer list with inferred shapes, its parameters in one arena, and the activation
 * buffers for a batch of up to max_batch samples. Knows nothing of MPI, HDF5 or the training loop. */
#ifndef CNN_DDP_MODEL_H
#define CNN_DDP_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include "cnn_ddp/arena.h"
#include "cnn_ddp/error.h"
#include "cnn_ddp/kernels.h"
#include "cnn_ddp/layer.h"
#include "cnn_ddp/spec.h"
#include "cnn_ddp/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cd_model {
    int n_layers;
    cd_layer layers[CD_MAX_LAYERS];
    cd_shape input;
    int classes;
    int max_batch;
    cd_arena arena;
    const cd_kernels *kernels;
    /* act[0] is the input, act[i+1] the output of layer i; grad[i] the loss gradient at act[i]. */
    float *act[CD_MAX_LAYERS + 1];
    float *grad[CD_MAX_LAYERS + 1];
    int32_t *argmax[CD_MAX_LAYERS];       /* pool layers only */
    float *work;                           /* conv scratch, the largest any layer needs */
    float *probs;                          /* softmax output [max_batch][classes] */
    double *sample_loss;                   /* each sample's loss [max_batch] (the fixed-point backward) */
    int inference;                         /* forward only: pool layers record no arg-max */
} cd_model;

/* Infers and checks every shape from the input; CD_E_INPUT naming the layer when the input does not
 * fit (e.g. "layer 4 conv(20,k=5): input 3x3 is smaller than the 5x5 kernel"), or when the last
 * layer does not produce `classes` outputs. */
cd_status cd_model_build(const cd_model_spec *spec, cd_shape input, int classes, int max_batch,
                         const cd_kernels *kernels, cd_model *model, cd_error *err);
void cd_model_free(cd_model *model);

/* What cd_model_build (and a replica over the model) will allocate, computed without allocating, so a
 * run can be refused before it is killed for memory: the parameter arenas (params, gradients and
 * momentum as float, a replica's int64 step sums) and the per-batch buffers (activations, their
 * gradients, pool arg-max, conv scratch, probabilities) for max_batch samples. Fails as cd_model_build
 * does for a spec that does not fit the input. */
typedef struct cd_model_bytes {
    size_t params;         /* parameter count */
    double arenas;         /* bytes */
    double activations;    /* bytes */
    char largest_layer[24]; /* the layer with the most parameters, for messages ("linear1") */
} cd_model_bytes;
cd_status cd_model_memory(const cd_model_spec *spec, cd_shape input, int classes, int max_batch,
                          const cd_kernels *kernels, cd_model_bytes *out, cd_error *err);

/* PyTorch's default init: every weight and bias uniform in +-1/sqrt(fan_in), from the
 * counter-based RNG (stream = tensor index), so a seed fixes the weights everywhere. Zeroes momentum. */
void cd_model_init_params(cd_model *model, uint64_t seed);

/* Forward pass over n <= max_batch samples in act[0] (the caller fills act[0] or passes x). */
void cd_model_forward(cd_model *model, const float *x, int n);
const float *cd_model_logits(const cd_model *model);

/* Softmax cross-entropy on the logits of the last forward pass, then the full backward pass,
 * OVERWRITING arena.grads with d(scale * sum_i loss_i)/d(params). With scale = 1/global_batch the
 * gradients of all chunks of a step add up to the gradient of the mean loss.
 * Returns the unscaled sum of the n per-sample losses; *correct gets the number of argmax hits. */
double cd_model_loss_backward(cd_model *model, const uint8_t *labels, int n, float scale, int *correct);

/* The training step's backward pass: like cd_model_loss_backward, but each sample's gradient (as the
 * pass computes it for that sample alone) is added into acc (arena.count int64, the arena's layout) in
 * fixed point, and each sample's share scale * loss_i into *loss_fx, so both sums have the same bits
 * however a step's samples are grouped into calls and ranks. arena.grads is scratch. CD_E_NUMERIC
 * naming the layer, sample and element when a value is NaN, infinite or beyond the fixed-point limit
 * (acc is then unspecified). */
cd_status cd_model_loss_backward_fixed(cd_model *model, const uint8_t *labels, int n, float scale, int64_t *acc,
                                       int64_t *loss_fx, int *correct, cd_error *err);

/* Samples per forward/backward pass that keep a pass's activations in cache (4 .. max_batch): the
 * CPU replica's training passes. No result depends on it. */
int cd_model_pass_samples(const cd_model *model);

/* Forward only over n samples at x (any n: in batches of max_batch, each in passes that stay in
 * cache); pred[i] = the class of sample i's
 * first maximal logit. */
void cd_model_predict(cd_model *model, const float *x, int n, int32_t *pred);

/* Fills views (room for 2 * CD_MAX_LAYERS) with the named weight and bias tensors the checkpoint
 * stores ("conv1"/"weight" [10,1,5,5], ...); returns how many. */
int cd_model_tensor_views(const cd_model *model, cd_tensor_view *views);

/* PyTorch-style parameter count. */
size_t cd_model_param_count(const cd_model *model);

#ifdef __cplusplus
}
#endif

#endif
