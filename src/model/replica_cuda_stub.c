/* The CUDA replica in a build without CUDA (CMake leaves this file out when CNN_DDP_CUDA is on): no
 * devices, and creating one says so, so --device cuda fails with a clear message instead of a link
 * error and callers need no #ifdefs. */
#include "cnn_ddp/replica.h"

int cd_cuda_built(void) { return 0; }
int cd_cuda_device_count(void) { return 0; }

cd_status cd_replica_cuda(const cd_model *host, int device, int rank, int chunk, int max_chunks, cd_replica **out,
                          cd_error *err)
{
    (void)host, (void)device, (void)rank, (void)chunk, (void)max_chunks;
    *out = NULL;
    return CD_FAIL(err, CD_E_USAGE, "--device cuda: this cnn_ddp was built without CUDA "
                   "(configure with -DCNN_DDP_CUDA=ON and the CUDA Toolkit + NCCL installed)");
}

cd_status cd_replica_cuda_sum(cd_replica *r, int64_t *out, cd_error *err)
{
    (void)r, (void)out;
    return CD_FAIL(err, CD_E_USAGE, "built without CUDA");
}
