/* A replica: one rank's copy of the network and where it computes (the CPU, or a CUDA device), behind
 * one small table of operations. The training loop, resume, checkpointing and evaluation are written
 * once against it and never ask which device runs.
 *
 * A training step, with the same bit-exact semantics on every device (see fixed_point.h):
 *   begin_step                          zero the step buffer (n_params gradient values + CD_SLOTS)
 *   for each group of up to max_chunks chunks of this rank:
 *     fill input()/labels() with the group's samples, then chunks()
 *   reduce_buffer(memory, ...)          the step buffer in the memory the comm sums (host or CUDA)
 *   comm->allreduce_sum_i64             (the trainer's call: the replica never talks to a comm)
 *   reduced(memory, slots)              the summed slots back on the host
 *   update(lr, momentum)                fixed point -> float gradient -> SGD with momentum
 * A failure in chunks() may be known at once (CPU) or only after the reduction shows the error slot
 * set (CUDA, asynchronous): failure() then tells whether it was this rank's, in the same words.
 *
 * Parameters live in the replica; upload/download move whole arenas in the host cd_model's layout,
 * for checkpoints, resume and weight checks. */
#ifndef CNN_DDP_REPLICA_H
#define CNN_DDP_REPLICA_H

#include <stddef.h>
#include <stdint.h>
#include "cnn_ddp/error.h"
#include "cnn_ddp/fixed_point.h"
#include "cnn_ddp/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cd_replica cd_replica;

typedef struct cd_replica_ops {
    /* Host staging buffers for up to `capacity` samples: input [n][C][H][W] (normalised floats) and
     * labels. Valid until the next call on the replica; write them before chunks() or predict(). */
    float *(*input)(cd_replica *r);
    uint8_t *(*labels)(cd_replica *r);
    cd_status (*begin_step)(cd_replica *r, cd_error *err);
    /* Trains on n_chunks chunks of `chunk` staged samples: forward and backward, each chunk's gradient
     * on its own, converted to fixed point and added to the step buffer with its loss share (loss *
     * scale) and hit count in the slots. first_chunk: the group's first chunk within this rank's step
     * (reported on failure). poison >= 0 sets gradient element `poison` of the group's first chunk to
     * NaN (fault injection for the robustness tests). */
    cd_status (*chunks)(cd_replica *r, int first_chunk, int n_chunks, float scale, int64_t poison, cd_error *err);
    /* Completes this rank's part of the step and returns the step buffer (n_params + CD_SLOTS values)
     * in `memory`, with `stop` and `error` (0 or 1) added to their slots; an error zeroes the rest. */
    cd_status (*reduce_buffer)(cd_replica *r, cd_memory memory, int stop, int error, int64_t **buf, cd_error *err);
    /* After the sum: the reduced slots to the host (and the sum back to the device if it went by host). */
    cd_status (*reduced)(cd_replica *r, cd_memory memory, int64_t slots[CD_SLOTS], cd_error *err);
    /* After a sum with the error slot set: this rank's own failure, if it had one ("gradient element
     * 12 (of 8490) is nan", "loss is inf: training diverged"), with *chunk the failing chunk of the
     * step; CD_OK (and *chunk -1) when the failure was another rank's. */
    cd_status (*failure)(cd_replica *r, int *chunk, cd_error *err);
    cd_status (*update)(cd_replica *r, float lr, float momentum, cd_error *err);
    /* Forward only over n <= max_batch staged samples; pred[i] = the first maximal logit's class. */
    cd_status (*predict)(cd_replica *r, int n, int32_t *pred, cd_error *err);
    /* Whole arenas (n_params floats each) to and from the replica; both wait until done. */
    cd_status (*upload)(cd_replica *r, const float *params, const float *momentum, cd_error *err);
    cd_status (*download)(cd_replica *r, float *params, float *momentum, cd_error *err);
    void (*free)(cd_replica *r);
    /* After predict(n): the n samples' logits, [n][classes] floats, into out (host memory). */
    cd_status (*logits)(cd_replica *r, int n, float *out, cd_error *err);
} cd_replica_ops;

struct cd_replica {
    const cd_replica_ops *ops;
    const char *device;  /* "cpu" or "cuda" */
    char name[320];      /* "cpu, avx2 kernels" or "NVIDIA H100 80GB HBM3 (device 0)" */
    size_t n_params;
    int chunk;           /* samples per chunk */
    int max_chunks;      /* most chunks per chunks() call */
    int max_batch;       /* most samples per predict() */
    void *impl;
};

/* The CPU replica over `model`, which it borrows (its arena is the replica's parameters) and which
 * must outlive it. Chunks of `chunk` <= model->max_batch samples, one per chunks() call. */
cd_status cd_replica_cpu(cd_model *model, int chunk, cd_replica **out, cd_error *err);

/* The CUDA replica lives in the CUDA backend library (libcnn_ddp_cuda.so, see backend.h), not in this
 * module's static library: only the backend calls these, and the trainer reaches them through it. */
/* Visible CUDA devices. 0 when there are none: no device (cudaErrorNoDevice, e.g. CUDA_VISIBLE_DEVICES
 * empty) or no CUDA driver installed at all; -1 when the runtime fails otherwise (a driver too old for
 * this runtime, a broken installation). Both with *why (when why is not NULL): the runtime's error name
 * ("cudaErrorNoDevice", "cudaErrorInsufficientDriver: no CUDA driver is installed"). */
int cd_cuda_device_count(const char **why);
/* Device `device`'s PCI bus id ("0000:3B:00.0"), which two ranks on one physical GPU share. */
cd_status cd_cuda_device_bus_id(int device, char *out, size_t size, cd_error *err);
/* A replica of `host` (shapes, offsets, parameter count: copied) on CUDA device `device`, for steps
 * of up to max_chunks chunks of `chunk` samples and predictions of up to host->max_batch samples.
 * Parameters start as zero: upload them. `rank` labels error messages. */
cd_status cd_replica_cuda(const cd_model *host, int device, int rank, int chunk, int max_chunks, cd_replica **out,
                          cd_error *err);
/* Test access to the CUDA replica's int64 step buffer (n_params + CD_SLOTS values); waits. */
cd_status cd_replica_cuda_sum(cd_replica *r, int64_t *out, cd_error *err);

#ifdef __cplusplus
}
#endif

#endif
