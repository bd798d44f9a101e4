/* CNN_DDP_CUDA_SYNC, the CUDA replica's debug switch, read once when a replica is made (never a
 * global): 1 synchronises the stream after every kernel launch and checks it, so a kernel that faults
 * is named in the error instead of a later call reporting "an illegal memory access"; unset, empty or
 * 0 is the normal asynchronous mode. Written once for replica_cuda.cu and the host tests (plain C that
 * nvcc compiles as C++, like kernels/cuda/ *_body.h). */
#ifndef CNN_DDP_CUDA_SYNC_MODE_H
#define CNN_DDP_CUDA_SYNC_MODE_H

#include <string.h>

#include "cnn_ddp/error.h"

#define CD_CUDA_SYNC_ENV "CNN_DDP_CUDA_SYNC"

/* value: getenv's result (NULL: unset). CD_E_USAGE naming the variable for anything but 0 or 1. */
static inline cd_status cd_cuda_sync_mode(const char *value, int *on, cd_error *err)
{
    *on = 0;
    if (!value || !*value || !strcmp(value, "0")) return CD_OK;
    if (!strcmp(value, "1")) {
        *on = 1;
        return CD_OK;
    }
    return CD_FAIL(err, CD_E_USAGE, CD_CUDA_SYNC_ENV "=%.64s: must be 1 (check every CUDA kernel launch) or 0", value);
}

#endif
