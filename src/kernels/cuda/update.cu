/* Fixed-point accumulation of chunk gradients and the SGD update. Each parameter's chunks are added
 * by one thread in chunk order (integers: the order would not matter, but the first failure reported
 * is then the CPU's); the failure record takes the smallest key through an integer atomicMin. */
#include "common.cuh"
#include "cnn_ddp/cuda_kernels.h"
#include "update_body.h"

__global__ static void fixed_accumulate_k(size_t n, int chunks, const float *cgrad, int first_chunk, int64_t poison,
                                          int64_t *acc, int64_t *slots, cd_cu_failure *fail)
{
    CD_CU_FOR(i, n)
    {
        int64_t a = acc[i];
        for (int c = 0; c < chunks; c++) {
            float v = cgrad[(size_t)c * n + i];
            if (c == 0 && (int64_t)i == poison) v = __int_as_float(0x7fc00000);
            if (cd_body_fixed_add(&a, v) != CD_BODY_FIXED_OK) {
                atomicMin(&fail->key, (unsigned long long)(first_chunk + c) * (n + 1) + 1 + i);
                atomicExch((unsigned long long *)&slots[CD_SLOT_ERROR], 1ull);
                break;
            }
        }
        acc[i] = a;
    }
}

/* After the accumulation: if the winning failure is a gradient element of this group, keep its value
 * while the chunk gradients are still there. */
__global__ static void capture_failure_k(size_t n, int chunks, const float *cgrad, int first_chunk, int64_t poison,
                                         cd_cu_failure *fail)
{
    if (blockIdx.x != 0 || threadIdx.x != 0 || fail->key == CD_CU_NO_FAILURE) return;
    unsigned long long c = fail->key / (n + 1), j = fail->key % (n + 1);
    if (j == 0 || c < (unsigned long long)first_chunk || c >= (unsigned long long)(first_chunk + chunks)) return;
    size_t i = (size_t)(j - 1), local = (size_t)(c - (unsigned long long)first_chunk);
    fail->value = local == 0 && (int64_t)i == poison ? (double)__int_as_float(0x7fc00000) : (double)cgrad[local * n + i];
}

__global__ static void sgd_fixed_k(size_t n, const int64_t *acc, float *w, float *v, float lr, float mu)
{
    CD_CU_FOR(i, n) cd_body_sgd_fixed(acc[i], &w[i], &v[i], lr, mu);
}

void cd_cu_fixed_accumulate(cudaStream_t st, size_t n, int chunks, const float *cgrad, int first_chunk, int64_t poison,
                            int64_t *acc, int64_t *slots, cd_cu_failure *fail)
{
    fixed_accumulate_k<<<cd_cu_blocks(n), CD_CU_THREADS, 0, st>>>(n, chunks, cgrad, first_chunk, poison, acc, slots, fail);
    capture_failure_k<<<1, 1, 0, st>>>(n, chunks, cgrad, first_chunk, poison, fail);
}

void cd_cu_sgd_fixed(cudaStream_t st, size_t n, const int64_t *acc, float *w, float *v, float lr, float mu)
{
    sgd_fixed_k<<<cd_cu_blocks(n), CD_CU_THREADS, 0, st>>>(n, acc, w, v, lr, mu);
}
