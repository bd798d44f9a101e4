/* Choosing and opening the device (see device.h). */
#include "device.h"

#include <string.h>

/* Whether every rank runs on a GPU: --device cuda, or auto when every rank has one (so all ranks run
 * the same kernels). */
static cd_status want_cuda(const cd_train_config *cfg, cd_comm *c, int devices, int *cuda, cd_error *err)
{
    *cuda = cfg->device == CD_DEVICE_CUDA;
    if (cfg->device != CD_DEVICE_AUTO) return CD_OK;
    int64_t ready = cd_cuda_built() && c->local_rank < devices;
    CD_TRY(c->allreduce_sum_i64(c, &ready, 1, err));
    *cuda = ready == c->size;
    return CD_OK;
}

static cd_status check_cuda(const cd_train_config *cfg, const cd_comm *c, int devices, cd_error *err)
{
    if (!cd_cuda_built())
        return CD_FAIL(err, CD_E_USAGE, "--device cuda: this cnn_ddp was built without CUDA (configure with -DCNN_DDP_CUDA=ON)");
    if (devices == 0)
        return CD_FAIL(err, CD_E_USAGE, "--device cuda: no CUDA device is visible on this node (check nvidia-smi and "
                                        "CUDA_VISIBLE_DEVICES)");
    if (c->local_rank >= devices && cfg->comm != CD_COMM_MPI)
        /* NCCL refuses two ranks on one GPU; summing through MPI does not care. */
        return CD_FAIL(err, CD_E_USAGE, "--device cuda: this node runs %d ranks but has only %d GPU%s (local rank %d has "
                                        "none); start at most %d rank%s per node, or add --comm mpi to let ranks "
                                        "share the GPUs", c->local_size, devices, devices == 1 ? "" : "s",
                       c->local_rank, devices, devices == 1 ? "" : "s");
    return CD_OK;
}

static cd_status open_cuda(const cd_train_config *cfg, cd_comm *c, cd_model *model, int chunk, int shard_count,
                           cd_device *dev, cd_error *err)
{
    const int devices = cd_cuda_device_count();
    cd_status st = check_cuda(cfg, c, devices, err);
    if (st == CD_OK) {
        /* The chunk gradients take max_chunks * params floats on the device: cap them at 256 MiB. */
        size_t fit = ((size_t)256 << 20) / (sizeof(float) * (model->arena.count ? model->arena.count : 1));
        int cap = fit < 1 ? 1 : fit > (size_t)shard_count ? shard_count : (int)fit;
        st = cd_replica_cuda(model, c->local_rank % devices, c->rank, chunk, cap, &dev->replica, err);
    }
    CD_TRY(cd_comm_agree_named(c, st, err));
    dev->ranks_share_gpus = c->local_size > devices;
    if (cfg->comm == CD_COMM_MPI) return CD_OK;
    st = cd_comm_nccl(c, c->local_rank % devices, &dev->nccl, err);
    CD_TRY(cd_comm_agree_named(c, st, err));
    dev->grad_comm = &dev->nccl;
    return CD_OK;
}

cd_status cd_device_open(const cd_train_config *cfg, cd_comm *comm, cd_model *model, int chunk, int shard_count,
                         cd_device *dev, cd_error *err)
{
    memset(dev, 0, sizeof *dev);
    dev->grad_comm = comm;
    int cuda = 0;
    CD_TRY(want_cuda(cfg, comm, cd_cuda_device_count(), &cuda, err));
    if (!cuda && cfg->comm == CD_COMM_NCCL)
        return cd_comm_agree_named(comm, CD_FAIL(err, CD_E_USAGE, cfg->device == CD_DEVICE_AUTO
                                                     ? "--comm nccl: --device auto found no GPU for every rank"
                                                     : "--comm nccl needs --device cuda"), err);
    if (cuda) {
        CD_TRY(open_cuda(cfg, comm, model, chunk, shard_count, dev, err));
    } else {
        CD_TRY(cd_comm_agree_named(comm, cd_replica_cpu(model, chunk, &dev->replica, err), err));
    }
    cd_status st = dev->replica->ops->upload(dev->replica, model->arena.params, model->arena.momentum, err);
    return cd_comm_agree_named(comm, st, err);
}

void cd_device_close(cd_device *dev)
{
    if (dev->grad_comm == &dev->nccl) dev->nccl.finalize(&dev->nccl);
    if (dev->replica) dev->replica->ops->free(dev->replica);
    memset(dev, 0, sizeof *dev);
}
