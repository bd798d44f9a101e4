/* The CUDA backend's interface: what the trainer asks of libcnn_ddp_cuda.so, the library built beside
 * cnn_ddp with -DCNN_DDP_CUDA=ON and opened at run time (dlopen) only when --device asks for CUDA, so
 * a CPU run never maps libcudart or libnccl. The library exports one symbol, CD_BACKEND_ENTRY, a
 * cd_backend_entry_fn returning this table; the trainer refuses a table whose abi or layout is not its
 * own (a library from another build). */
#ifndef CNN_DDP_BACKEND_H
#define CNN_DDP_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include "cnn_ddp/comm.h"
#include "cnn_ddp/error.h"
#include "cnn_ddp/model.h"
#include "cnn_ddp/replica.h"

#define CD_BACKEND_ABI 2 /* 2: device_count's -1, device_bus_id, comm's wait limit */
#define CD_BACKEND_ENTRY "cd_backend_entry"

/* The sizes of the structs that cross between the trainer and the library: a library built from other
 * headers differs in one of them. */
typedef struct cd_backend_layout {
    size_t error, model, replica, replica_ops, comm;
} cd_backend_layout;
#define CD_BACKEND_LAYOUT {sizeof(cd_error), sizeof(cd_model), sizeof(cd_replica), sizeof(cd_replica_ops), sizeof(cd_comm)}

typedef struct cd_backend {
    int abi;                   /* CD_BACKEND_ABI */
    const char *version;       /* the library's CNN_DDP_VERSION */
    cd_backend_layout layout;  /* CD_BACKEND_LAYOUT where the library was built */
    /* cd_cuda_device_count, cd_cuda_device_bus_id, cd_replica_cuda, cd_replica_cuda_sum and
     * cd_comm_nccl (replica.h, comm.h); comm is NULL in a library built without NCCL. */
    int (*device_count)(const char **why);
    cd_status (*device_bus_id)(int device, char *out, size_t size, cd_error *err);
    cd_status (*replica)(const cd_model *host, int device, int rank, int chunk, int max_chunks, cd_replica **out,
                         cd_error *err);
    cd_status (*replica_sum)(cd_replica *r, int64_t *out, cd_error *err);
    cd_status (*comm)(cd_comm *host, int device, const cd_comm_wait *wait, cd_comm *out, cd_error *err);
} cd_backend;

typedef const cd_backend *(*cd_backend_entry_fn)(void);

#endif
