/* A model replica on one CUDA device: parameters, momentum and activations in device memory, every
 * layer's forward and backward, the loss, the fixed-point gradient sum and the SGD update as kernels.
 * The host cd_model stays the source of truth for the layer list and the arena layout; the replica
 * copies its shapes and offsets once and moves whole arenas (upload, download for checkpoints).
 *
 * A step on the device, with the same bit-exact semantics as the CPU path (see reduce.h):
 *   cd_cuda_replica_begin_step                       zero the int64 sum and the failure record
 *   for each group of chunks (all of a rank's chunks at once when they fit):
 *     fill cd_cuda_replica_input/labels with n_chunks * chunk samples, then cd_cuda_replica_chunks
 *   cd_cuda_replica_allreduce                        NCCL on the device buffer, or MPI via the host
 *   cd_cuda_replica_sgd                              fixed point -> float, momentum SGD
 * Every call is asynchronous on the replica's stream except allreduce, which waits for the 4 slots
 * (loss, hits, error and stop flags) the loop needs each step.
 *
 * Built without CUDA (CMake CNN_DDP_CUDA=OFF or no toolkit) the same functions exist and fail with
 * CD_E_USAGE "built without CUDA"; cd_cuda_device_count() is then 0. */
#ifndef CNN_DDP_CUDA_H
#define CNN_DDP_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "cnn_ddp/comm.h"
#include "cnn_ddp/error.h"
#include "cnn_ddp/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The slots after the gradient in the int64 buffer; the same order as the trainer's. */
enum { CD_CUDA_SLOT_LOSS, CD_CUDA_SLOT_CORRECT, CD_CUDA_SLOT_ERROR, CD_CUDA_SLOT_STOP, CD_CUDA_SLOTS };

typedef struct cd_cuda_replica cd_cuda_replica;

/* 1 when this library was built with CUDA support. */
int cd_cuda_built(void);
/* Visible CUDA devices; 0 when none, when the driver is missing, or when built without CUDA. */
int cd_cuda_device_count(void);

/* Builds a replica of `host` (shapes, offsets, parameter count) on `device`, for steps of up to
 * max_chunks chunks of `chunk` samples, and evaluation batches of up to host->max_batch samples.
 * Parameters start as zero: upload them. `rank` only labels error messages. */
cd_status cd_cuda_replica_create(const cd_model *host, int device, int rank, int chunk, int max_chunks,
                                 cd_cuda_replica **out, cd_error *err);
void cd_cuda_replica_free(cd_cuda_replica *r);
/* "NVIDIA H100 80GB HBM3 (device 0)" */
const char *cd_cuda_replica_name(const cd_cuda_replica *r);

/* Whole arenas (host->arena.count floats each) to and from the device; download waits for the step. */
cd_status cd_cuda_replica_upload(cd_cuda_replica *r, const float *params, const float *momentum, cd_error *err);
cd_status cd_cuda_replica_download(cd_cuda_replica *r, float *params, float *momentum, cd_error *err);

/* Pinned host staging buffers: input [max samples][C][H][W] (normalised floats) and labels. They
 * may be written as soon as these return (they wait for the previous upload from them to finish). */
float *cd_cuda_replica_input(cd_cuda_replica *r);
uint8_t *cd_cuda_replica_labels(cd_cuda_replica *r);

cd_status cd_cuda_replica_begin_step(cd_cuda_replica *r, cd_error *err);
/* Trains on n_chunks chunks of `chunk` samples from the staging buffers: forward and backward over all
 * of them in one launch per layer, each chunk's weight gradient reduced on its own (in the scalar
 * reference's order), converted to fixed point and added into the step's int64 sum, with the loss
 * share (loss * scale) and hit count into the slots. first_chunk numbers the group's first chunk
 * within the step (for the failure report). poison >= 0 sets gradient element `poison` of the
 * group's first chunk to NaN (fault injection for the robustness tests). */
cd_status cd_cuda_replica_chunks(cd_cuda_replica *r, int first_chunk, int n_chunks, float scale, int64_t poison,
                                 cd_error *err);
/* Sums the int64 buffer across the ranks of `comm`: with NCCL when cd_cuda_replica_use_nccl
 * succeeded, otherwise through host memory and comm->allreduce_sum_i64. `stop` goes into the stop
 * slot first, and `local_error` (a failure on the host side of this rank's step) sets the error slot.
 * Waits for and returns the reduced slots. */
cd_status cd_cuda_replica_allreduce(cd_cuda_replica *r, cd_comm *comm, int stop, int local_error,
                                    int64_t slots[CD_CUDA_SLOTS], cd_error *err);
/* After a reduction whose error slot is set: this rank's own failure, if it had one, as the CPU path
 * words it ("gradient element 12 (of 8490) is nan", "loss is inf: training diverged") with *chunk the
 * failing chunk of the step; CD_OK when the failure was another rank's. */
cd_status cd_cuda_replica_step_failure(cd_cuda_replica *r, int *chunk, cd_error *err);
/* The reduced sum -> float gradient -> momentum SGD, on the device. */
cd_status cd_cuda_replica_sgd(cd_cuda_replica *r, float lr, float momentum, cd_error *err);
/* The int64 buffer (arena.count + CD_CUDA_SLOTS values) to the host, for tests; waits. */
cd_status cd_cuda_replica_sum(cd_cuda_replica *r, int64_t *out, cd_error *err);

/* Evaluation: forward over n <= host->max_batch samples in the staging buffers, adding the number of
 * correct predictions to a device counter; eval_hits waits, returns and resets it. */
cd_status cd_cuda_replica_eval(cd_cuda_replica *r, int n, cd_error *err);
cd_status cd_cuda_replica_eval_hits(cd_cuda_replica *r, int64_t *hits, cd_error *err);

/* One NCCL communicator for the job over the ranks of `comm` (rank 0 makes the unique id and
 * broadcasts it with comm->broadcast). Collective: every rank calls it. */
cd_status cd_cuda_replica_use_nccl(cd_cuda_replica *r, cd_comm *comm, cd_error *err);

#ifdef __cplusplus
}
#endif

#endif
