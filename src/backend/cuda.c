/* libcnn_ddp_cuda.so's one exported symbol (see backend.h): the CUDA replica and the NCCL comm (none in a
 * build without NCCL: CNN_DDP_HAVE_NCCL=0, and the trainer refuses --comm nccl). */
#include "cnn_ddp/backend.h"

__attribute__((visibility("default"))) const cd_backend *cd_backend_entry(void);

const cd_backend *cd_backend_entry(void)
{
    static const cd_backend table = {
        .abi = CD_BACKEND_ABI,
        .version = CNN_DDP_VERSION,
        .layout = CD_BACKEND_LAYOUT,
        .device_count = cd_cuda_device_count,
        .device_bus_id = cd_cuda_device_bus_id,
        .replica = cd_replica_cuda,
        .replica_sum = cd_replica_cuda_sum,
#if CNN_DDP_HAVE_NCCL
        .comm = cd_comm_nccl,
#else
        .comm = NULL,
#endif
    };
    return &table;
}
