/* NCCL over the ranks of a cd_comm, on device buffers: the communicator the CUDA replica sums its
 * int64 gradient buffer with. C++ (CUDA) only; compiled when CNN_DDP_CUDA is on. */
#ifndef CNN_DDP_SRC_NCCL_H
#define CNN_DDP_SRC_NCCL_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "cnn_ddp/comm.h"
#include "cnn_ddp/error.h"
}

typedef struct cd_nccl cd_nccl;

/* Collective over comm: rank 0 makes the unique id, comm->broadcast carries it, every rank joins on
 * the current CUDA device. CD_E_COMM naming the NCCL call, file, line and rank on failure. */
cd_status cd_nccl_create(cd_comm *comm, cd_nccl **out, cd_error *err);
/* In-place exact sum of n int64 values on `stream` (asynchronous). */
cd_status cd_nccl_allreduce_i64(cd_nccl *n, int64_t *buf, size_t count, cudaStream_t stream, cd_error *err);
void cd_nccl_free(cd_nccl *n);

#endif
