/* Where a run computes and how it sums: the replica (cpu or cuda) and the comm backend for the
 * gradient sum (the job's own comm, or NCCL over it), decided alike on every rank. */
#ifndef CNN_DDP_SRC_DEVICE_H
#define CNN_DDP_SRC_DEVICE_H

#include "cnn_ddp/comm.h"
#include "cnn_ddp/config.h"
#include "cnn_ddp/replica.h"
#include "cnn_ddp/watchdog.h"

typedef struct cd_device {
    cd_replica *replica;
    cd_comm nccl;         /* when grad_comm is NCCL */
    cd_comm *grad_comm;   /* sums the step buffer: the job's comm or &nccl */
    int nccl_open;        /* nccl holds a communicator (also when another rank's failed to open) */
    int ranks_share_gpus;
} cd_device;

/* Collective. Opens this rank's replica of `model` for chunks of `chunk` samples and a rank's
 * `shard_count` chunks per step, per --device and --comm, and uploads the model's (initial or
 * resumed) weights to it. --device cuda and auto open the CUDA backend library (backend_load.h);
 * --device cpu never does. A rank takes GPU local_rank % (GPUs it sees), and ranks on one physical
 * GPU are found from every rank's GPU identity (gpu_plan.h). `watchdog` (may be NULL) is told
 * "in NCCL init" for the NCCL communicator's start, and NCCL's waits beat it. */
cd_status cd_device_open(const cd_train_config *cfg, cd_comm *comm, cd_model *model, int chunk, int shard_count,
                         cd_watchdog *watchdog, cd_device *dev, cd_error *err);
/* Local. `failed`: the run failed, so an NCCL communicator is aborted (other ranks may be gone or
 * blocked in a collective); else it is finalized and destroyed. Under the watchdog's phase "in NCCL
 * teardown". Closing a closed device does nothing. */
void cd_device_close(cd_device *dev, int failed, cd_watchdog *watchdog);

#endif
