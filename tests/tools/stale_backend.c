/* A CUDA backend library from "another build": its table has the next interface number. test_cuda_backend
 * points CNN_DDP_CUDA_BACKEND at it and expects the refusal. */
#include "cnn_ddp/backend.h"

__attribute__((visibility("default"))) const cd_backend *cd_backend_entry(void);

const cd_backend *cd_backend_entry(void)
{
    static const cd_backend table = {.abi = CD_BACKEND_ABI + 1, .version = "0.0.0", .layout = CD_BACKEND_LAYOUT};
    return &table;
}
