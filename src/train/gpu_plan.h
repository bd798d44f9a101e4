/* Which GPU a rank takes and whether ranks share one (device.c's decision, pure so the host tests
 * cover it). Clusters hand GPUs out in two ways: every rank of a node sees all its GPUs (mpirun), or
 * each rank sees only its own, as device 0 (srun --gpus-per-task=1, --gpu-bind, CUDA_VISIBLE_DEVICES
 * per rank). Rank r takes device local_rank % devices, which is right for both; whether two ranks
 * really landed on one physical GPU is then told by its identity (machine and PCI bus id), gathered
 * from every rank, not guessed from the counts. */
#ifndef CNN_DDP_SRC_GPU_PLAN_H
#define CNN_DDP_SRC_GPU_PLAN_H

#include <stdint.h>

#include "cnn_ddp/config.h"
#include "cnn_ddp/error.h"

typedef struct cd_gpu_plan {
    int use_cuda; /* every rank runs on its GPU (else every rank on the CPU: --device auto only) */
    int device;   /* this rank's CUDA device: local_rank % devices; -1 on the CPU */
    int shared;   /* two ranks of the job are on one physical GPU */
    int first, second; /* the lowest such pair of ranks (-1 when none) */
} cd_gpu_plan;

/* A physical GPU's identity: FNV-1a 64 of `machine` (the kernel's boot id, which containers on one
 * host share, else the host name), a newline and the PCI bus id; never 0, which means "no GPU". */
uint64_t cd_gpu_identity(const char *machine, const char *bus_id);

/* ids[r] (size entries): rank r's cd_gpu_identity, 0 when it has no GPU. `devices`: the GPUs this rank
 * sees. Every rank passes the same ids and so decides alike. --device cuda: every rank must have a GPU
 * (the caller refuses "no GPU" with the runtime's reason first). Ranks on one GPU: refused (CD_E_USAGE,
 * naming the two ranks and the way out) when NCCL sums (--comm nccl, or auto with --device cuda),
 * shared with --comm mpi, and the CPU under --device auto with --comm auto. */
cd_status cd_gpu_plan_make(cd_device_kind device, cd_comm_kind comm, const uint64_t *ids, int size, int local_rank,
                           int devices, cd_gpu_plan *out, cd_error *err);

#endif
