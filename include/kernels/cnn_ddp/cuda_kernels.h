/* Launchers of the CUDA kernels (C++, for the CUDA replica). Each enqueues on `st` and returns
 * without waiting; launch errors surface through cudaGetLastError at the caller. Kernels that write
 * weight gradients run over `chunks` groups of s.n samples each (x and dy hold chunks * s.n samples)
 * and write chunk c's gradient at cgrad + c * stride + offset: one reduction per chunk, in the scalar
 * reference's order, so no float atomics and no dependence on how many chunks share a launch. */
#ifndef CD_CUDA_LAUNCH_H
#define CD_CUDA_LAUNCH_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "cnn_ddp/kernels.h"

void cd_cu_conv_forward(cudaStream_t st, cd_conv_shape s, const float *x, const float *w, const float *b, float *y);
void cd_cu_conv_backward_data(cudaStream_t st, cd_conv_shape s, const float *dy, const float *w, float *dx);
void cd_cu_conv_backward_weights(cudaStream_t st, cd_conv_shape s, int chunks, const float *x, const float *dy,
                                 float *cgrad, size_t stride, size_t w_off, size_t b_off);

void cd_cu_pool_forward(cudaStream_t st, cd_pool_shape s, const float *x, float *y, int32_t *argmax);
void cd_cu_pool_backward(cudaStream_t st, cd_pool_shape s, const float *dy, const int32_t *argmax, float *dx);

void cd_cu_relu_forward(cudaStream_t st, size_t n, const float *x, float *y);
void cd_cu_relu_backward(cudaStream_t st, size_t n, const float *y, const float *dy, float *dx);
void cd_cu_linear_forward(cudaStream_t st, cd_linear_shape s, const float *x, const float *w, const float *b, float *y);
void cd_cu_linear_backward_data(cudaStream_t st, cd_linear_shape s, const float *dy, const float *w, float *dx);
void cd_cu_linear_backward_weights(cudaStream_t st, cd_linear_shape s, int chunks, const float *x, const float *dy,
                                   float *cgrad, size_t stride, size_t w_off, size_t b_off);

/* Where a step's first failure is recorded: the smallest key wins, key = chunk * (n_params + 1) + 0
 * for a bad loss, + 1 + i for gradient element i. value: the offending loss or gradient element. */
typedef struct cd_cu_failure {
    unsigned long long key;
    double value;
} cd_cu_failure;
#define CD_CU_NO_FAILURE 0xffffffffffffffffull

/* Per sample: dlogits, loss and hit. Then per chunk: the loss share (sum of the chunk's losses in
 * sample order, times scale) and hits into slots[CD_SLOT_LOSS], slots[CD_SLOT_CORRECT], or a failure
 * (slots[CD_SLOT_ERROR] = 1). */
void cd_cu_softmax_xent(cudaStream_t st, int n, int classes, const float *logits, const uint8_t *labels, float scale,
                        float *dlogits, double *loss, int *hit);
void cd_cu_chunk_losses(cudaStream_t st, int chunks, int chunk, const double *loss, const int *hit, float scale,
                        int first_chunk, size_t n_params, int64_t *slots, cd_cu_failure *fail);
/* pred[i] = the class of sample i's first maximal logit */
void cd_cu_predict(cudaStream_t st, int n, int classes, const float *logits, int32_t *pred);

/* acc[i] += round(cgrad[c][i] * 2^40) for c = 0..chunks-1 in order, with cd_fixed_accumulate's checks;
 * a failure sets slots[CD_SLOT_ERROR] and the failure record. poison >= 0: chunk 0's element poison reads NaN. */
void cd_cu_fixed_accumulate(cudaStream_t st, size_t n, int chunks, const float *cgrad, int first_chunk, int64_t poison,
                            int64_t *acc, int64_t *slots, cd_cu_failure *fail);
/* w, v updated from the reduced sum acc (see cd_body_sgd_fixed). */
void cd_cu_sgd_fixed(cudaStream_t st, size_t n, const int64_t *acc, float *w, float *v, float lr, float mu);

#endif
