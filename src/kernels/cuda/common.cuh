/* Launch geometry shared by the kernel files: grid-stride loops over size_t element counts. */
#ifndef CD_CUDA_COMMON_CUH
#define CD_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <stddef.h>

#define CD_CU_THREADS 256

static inline unsigned cd_cu_blocks(size_t n)
{
    size_t b = (n + CD_CU_THREADS - 1) / CD_CU_THREADS;
    if (b < 1) b = 1;
    return b > 65535u * 16u ? 65535u * 16u : (unsigned)b;
}

#define CD_CU_FOR(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

#endif
