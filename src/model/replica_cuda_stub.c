/* The CUDA replica API in a build without CUDA (CMake leaves this file out when CNN_DDP_CUDA is on):
 * no devices, and every call says so, so --device cuda fails with a clear message instead of a link
 * error and callers need no #ifdefs. */
#include "cnn_ddp/cuda.h"

#define NO_CUDA(err) CD_FAIL((err), CD_E_USAGE, "--device cuda: this cnn_ddp was built without CUDA " \
                             "(configure with -DCNN_DDP_CUDA=ON and the CUDA Toolkit + NCCL installed)")

int cd_cuda_built(void) { return 0; }
int cd_cuda_device_count(void) { return 0; }

cd_status cd_cuda_replica_create(const cd_model *host, int device, int rank, int chunk, int max_chunks,
                                 cd_cuda_replica **out, cd_error *err)
{
    (void)host, (void)device, (void)rank, (void)chunk, (void)max_chunks;
    *out = NULL;
    return NO_CUDA(err);
}

void cd_cuda_replica_free(cd_cuda_replica *r) { (void)r; }
const char *cd_cuda_replica_name(const cd_cuda_replica *r) { return (void)r, "none"; }

cd_status cd_cuda_replica_upload(cd_cuda_replica *r, const float *params, const float *momentum, cd_error *err)
{
    (void)r, (void)params, (void)momentum;
    return NO_CUDA(err);
}

cd_status cd_cuda_replica_download(cd_cuda_replica *r, float *params, float *momentum, cd_error *err)
{
    (void)r, (void)params, (void)momentum;
    return NO_CUDA(err);
}

float *cd_cuda_replica_input(cd_cuda_replica *r) { return (void)r, (float *)0; }
uint8_t *cd_cuda_replica_labels(cd_cuda_replica *r) { return (void)r, (uint8_t *)0; }
cd_status cd_cuda_replica_begin_step(cd_cuda_replica *r, cd_error *err) { return (void)r, NO_CUDA(err); }

cd_status cd_cuda_replica_chunks(cd_cuda_replica *r, int first_chunk, int n_chunks, float scale, int64_t poison,
                                 cd_error *err)
{
    (void)r, (void)first_chunk, (void)n_chunks, (void)scale, (void)poison;
    return NO_CUDA(err);
}

cd_status cd_cuda_replica_allreduce(cd_cuda_replica *r, cd_comm *comm, int stop, int local_error,
                                    int64_t slots[CD_CUDA_SLOTS], cd_error *err)
{
    (void)r, (void)comm, (void)stop, (void)local_error, (void)slots;
    return NO_CUDA(err);
}

cd_status cd_cuda_replica_step_failure(cd_cuda_replica *r, int *chunk, cd_error *err)
{
    (void)r;
    *chunk = -1;
    return NO_CUDA(err);
}

cd_status cd_cuda_replica_sgd(cd_cuda_replica *r, float lr, float momentum, cd_error *err)
{
    (void)r, (void)lr, (void)momentum;
    return NO_CUDA(err);
}

cd_status cd_cuda_replica_sum(cd_cuda_replica *r, int64_t *out, cd_error *err) { return (void)r, (void)out, NO_CUDA(err); }
cd_status cd_cuda_replica_eval(cd_cuda_replica *r, int n, cd_error *err) { return (void)r, (void)n, NO_CUDA(err); }

cd_status cd_cuda_replica_eval_hits(cd_cuda_replica *r, int64_t *hits, cd_error *err)
{
    (void)r;
    *hits = 0;
    return NO_CUDA(err);
}

cd_status cd_cuda_replica_use_nccl(cd_cuda_replica *r, cd_comm *comm, cd_error *err)
{
    (void)r, (void)comm;
    return NO_CUDA(err);
}
