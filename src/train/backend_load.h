/* Finding and opening the CUDA backend library at run time (see cnn_ddp/backend.h). */
#ifndef CNN_DDP_SRC_BACKEND_LOAD_H
#define CNN_DDP_SRC_BACKEND_LOAD_H

#include "cnn_ddp/backend.h"

#define CD_CUDA_BACKEND_FILE "libcnn_ddp_cuda.so"
#define CD_CUDA_BACKEND_ENV "CNN_DDP_CUDA_BACKEND"

/* Opens the CUDA backend: the library named by $CNN_DDP_CUDA_BACKEND, else libcnn_ddp_cuda.so beside
 * the executable, and checks its interface. It stays loaded for the life of the process (the CUDA
 * runtime does not support being unloaded). `who` starts the messages ("--device cuda"). When the
 * library is not there (no override, no file beside the executable) and absent_ok: CD_OK and *out NULL.
 * Any other failure: CD_E_USAGE, one line with the path and dlerror(), and how to build the library. */
cd_status cd_cuda_backend_open(const char *who, int absent_ok, const cd_backend **out, cd_error *err);

#endif
