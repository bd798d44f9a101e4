/* A CUDA backend library "built without NCCL" that sees no GPU: its table has no comm entry and its
 * device count is 0. test_cuda_backend points CNN_DDP_CUDA_BACKEND at it and expects --comm nccl to be
 * refused for the missing NCCL (before the device count matters) and --comm mpi to get as far as the
 * device count. */
#include "cnn_ddp/backend.h"

__attribute__((visibility("default"))) const cd_backend *cd_backend_entry(void);

static int no_devices(const char **why)
{
    if (why) *why = "cudaErrorNoDevice";
    return 0;
}

const cd_backend *cd_backend_entry(void)
{
    static const cd_backend table = {.abi = CD_BACKEND_ABI, .version = CNN_DDP_VERSION, .layout = CD_BACKEND_LAYOUT,
                                     .device_count = no_devices};
    return &table;
}
