/* Loss kernels: softmax cross-entropy per sample, the per-chunk loss sums, evaluation hit counts. */
#include "cnn_ddp/fixed_point.h"
#include "common.cuh"
#include "cnn_ddp/cuda_kernels.h"
#include "loss_body.h"

__global__ static void softmax_xent_k(int n, int classes, const float *logits, const uint8_t *labels, float scale,
                                      float *dlogits, double *loss, int *hit)
{
    CD_CU_FOR(i, (size_t)n)
    {
        int h = 0;
        loss[i] = cd_body_softmax_xent(classes, logits, labels, scale, dlogits, (int)i, &h);
        hit[i] = h;
    }
}

/* One thread: the sums run in sample order, as the CPU's, and the chunks are few. */
__global__ static void chunk_losses_k(int chunks, int chunk, const double *loss, const int *hit, float scale,
                                      int first_chunk, size_t n_params, int64_t *slots, cd_cu_failure *fail)
{
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    for (int c = 0; c < chunks; c++) {
        double total = 0.0;
        int hits = 0;
        for (int j = 0; j < chunk; j++) {
            total += loss[(size_t)c * chunk + j];
            hits += hit[(size_t)c * chunk + j];
        }
        double share = total * (double)scale;
        if (!isfinite(share) || fabs(share) > CD_FIXED_LIMIT) {
            unsigned long long key = (unsigned long long)(first_chunk + c) * (n_params + 1);
            if (key < fail->key) {
                fail->key = key;
                fail->value = total;
            }
            slots[CD_SLOT_ERROR] = 1;
            continue;
        }
        slots[CD_SLOT_LOSS] += (int64_t)__double2ll_rn(share * (double)(INT64_C(1) << CD_FIXED_SHIFT));
        slots[CD_SLOT_CORRECT] += hits;
    }
}

__global__ static void predict_k(int n, int classes, const float *logits, int32_t *pred)
{
    CD_CU_FOR(i, (size_t)n)
    pred[i] = cd_body_argmax(classes, logits, (int)i);
}

void cd_cu_softmax_xent(cudaStream_t st, int n, int classes, const float *logits, const uint8_t *labels, float scale,
                        float *dlogits, double *loss, int *hit)
{
    softmax_xent_k<<<cd_cu_blocks((size_t)n), CD_CU_THREADS, 0, st>>>(n, classes, logits, labels, scale, dlogits, loss, hit);
}

void cd_cu_chunk_losses(cudaStream_t st, int chunks, int chunk, const double *loss, const int *hit, float scale,
                        int first_chunk, size_t n_params, int64_t *slots, cd_cu_failure *fail)
{
    chunk_losses_k<<<1, 1, 0, st>>>(chunks, chunk, loss, hit, scale, first_chunk, n_params, slots, fail);
}

void cd_cu_predict(cudaStream_t st, int n, int classes, const float *logits, int32_t *pred)
{
    predict_k<<<cd_cu_blocks((size_t)n), CD_CU_THREADS, 0, st>>>(n, classes, logits, pred);
}
