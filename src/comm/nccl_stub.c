/* The NCCL backend in a build without CUDA (CMake leaves this file out when CNN_DDP_CUDA is on). */
#include <string.h>

#include "cnn_ddp/comm.h"

int cd_comm_nccl_built(void) { return 0; }

cd_status cd_comm_nccl(cd_comm *host, int device, cd_comm *out, cd_error *err)
{
    (void)host, (void)device;
    memset(out, 0, sizeof *out);
    return CD_FAIL(err, CD_E_USAGE, "--comm nccl: this cnn_ddp was built without CUDA and NCCL "
                   "(configure with -DCNN_DDP_CUDA=ON and the CUDA Toolkit + NCCL installed)");
}
