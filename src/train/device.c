/* Choosing and opening the device (see device.h). */
#include "device.h"

#include "backend_load.h"

#include <string.h>

/* The CUDA backend for --device cuda (an error when it cannot be loaded) or auto (NULL when it is not
 * there), agreed by every rank; NULL for --device cpu, which never loads it. */
static cd_status load_backend(const cd_train_config *cfg, cd_comm *c, const cd_backend **be, int *devices,
                              const char **why, cd_error *err)
{
    *be = NULL, *devices = 0, *why = NULL;
    if (cfg->device == CD_DEVICE_CPU) return CD_OK;
    cd_status st = cd_cuda_backend_open(cfg->device == CD_DEVICE_AUTO ? "--device auto" : "--device cuda",
                                        cfg->device == CD_DEVICE_AUTO, be, err);
    CD_TRY(cd_comm_agree_named(c, st, err));
    if (*be) *devices = (*be)->device_count(why);
    return CD_OK;
}

/* Whether every rank runs on a GPU: --device cuda, or auto when every rank has one (so all ranks run
 * the same kernels). */
static cd_status want_cuda(const cd_train_config *cfg, cd_comm *c, const cd_backend *be, int devices, int *cuda,
                           cd_error *err)
{
    *cuda = cfg->device == CD_DEVICE_CUDA;
    if (cfg->device != CD_DEVICE_AUTO) return CD_OK;
    int64_t ready = be && c->local_rank < devices;
    CD_TRY(c->allreduce_sum_i64(c, &ready, 1, err));
    *cuda = ready == c->size;
    return CD_OK;
}

static cd_status check_cuda(const cd_comm *c, int devices, int nccl, const char *why, cd_error *err)
{
    if (devices == 0)
        return CD_FAIL(err, CD_E_USAGE, "--device cuda: no CUDA device is visible on this node (check nvidia-smi and "
                                        "CUDA_VISIBLE_DEVICES; the CUDA runtime says %s)", why ? why : "none");
    if (c->local_rank >= devices && nccl)
        /* NCCL refuses two ranks on one GPU; summing through MPI does not care. */
        return CD_FAIL(err, CD_E_USAGE, "--device cuda: this node runs %d ranks but has only %d GPU%s (local rank %d has "
                                        "none); start at most %d rank%s per node, or add --comm mpi to let ranks "
                                        "share the GPUs", c->local_size, devices, devices == 1 ? "" : "s",
                       c->local_rank, devices, devices == 1 ? "" : "s");
    return CD_OK;
}

static cd_status open_cuda(const cd_train_config *cfg, cd_comm *c, const cd_backend *be, int devices, const char *why,
                           cd_model *model, int chunk, int shard_count, cd_device *dev, cd_error *err)
{
    /* A backend built without NCCL has no comm: --comm auto sums through MPI, --comm nccl is refused. */
    if (cfg->comm == CD_COMM_NCCL && !be->comm)
        return cd_comm_agree_named(c, CD_FAIL(err, CD_E_USAGE, "--comm nccl: the CUDA backend was built without NCCL; use "
                                                               "--comm mpi (or rebuild with NCCL: NCCL_ROOT, or the "
                                                               "nvidia-nccl pip wheel)"), err);
    const int nccl = cfg->comm != CD_COMM_MPI && be->comm;
    cd_status st = check_cuda(c, devices, nccl, why, err);
    if (st == CD_OK) {
        /* The chunk gradients take max_chunks * params floats on the device: cap them at 256 MiB. */
        size_t fit = ((size_t)256 << 20) / (sizeof(float) * (model->arena.count ? model->arena.count : 1));
        int cap = fit < 1 ? 1 : fit > (size_t)shard_count ? shard_count : (int)fit;
        st = be->replica(model, c->local_rank % devices, c->rank, chunk, cap, &dev->replica, err);
    }
    CD_TRY(cd_comm_agree_named(c, st, err));
    dev->ranks_share_gpus = c->local_size > devices;
    if (!nccl) return CD_OK;
    st = be->comm(c, c->local_rank % devices, &dev->nccl, err);
    CD_TRY(cd_comm_agree_named(c, st, err));
    dev->grad_comm = &dev->nccl;
    return CD_OK;
}

cd_status cd_device_open(const cd_train_config *cfg, cd_comm *comm, cd_model *model, int chunk, int shard_count,
                         cd_device *dev, cd_error *err)
{
    memset(dev, 0, sizeof *dev);
    dev->grad_comm = comm;
    const cd_backend *be;
    int devices, cuda;
    const char *why;
    CD_TRY(load_backend(cfg, comm, &be, &devices, &why, err));
    CD_TRY(want_cuda(cfg, comm, be, devices, &cuda, err));
    if (!cuda && cfg->comm == CD_COMM_NCCL)
        return cd_comm_agree_named(comm, CD_FAIL(err, CD_E_USAGE, cfg->device == CD_DEVICE_AUTO
                                                     ? "--comm nccl: --device auto found no GPU for every rank"
                                                     : "--comm nccl needs --device cuda"), err);
    if (cuda) {
        CD_TRY(open_cuda(cfg, comm, be, devices, why, model, chunk, shard_count, dev, err));
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
