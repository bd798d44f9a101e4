/* Choosing and opening the device (see device.h). */
#include "device.h"

#include "backend_load.h"
#include "gpu_plan.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The CUDA backend for --device cuda (an error when it cannot be loaded) or auto (NULL when it is not
 * there), agreed by every rank. */
static cd_status load_backend(const cd_train_config *cfg, cd_comm *c, const cd_backend **be, cd_error *err)
{
    cd_status st = cd_cuda_backend_open(cfg->device == CD_DEVICE_AUTO ? "--device auto" : "--device cuda",
                                        cfg->device == CD_DEVICE_AUTO, be, err);
    return cd_comm_agree_named(c, st, err);
}

/* This rank's visible GPUs (0 without a backend). A runtime that cannot count them is refused under
 * auto too: a GPU machine whose driver is broken should say so, not quietly train on the CPU. */
static cd_status count_devices(const cd_train_config *cfg, const cd_backend *be, int *devices, cd_error *err)
{
    *devices = 0;
    if (!be) return CD_OK;
    const char *flag = cfg->device == CD_DEVICE_AUTO ? "--device auto" : "--device cuda";
    const char *why = NULL;
    int n = be->device_count(&why);
    if (n < 0)
        return CD_FAIL(err, CD_E_USAGE, "%s: the CUDA runtime cannot count this node's GPUs: cudaGetDeviceCount says %s "
                       "(a driver older than this CUDA runtime, or a broken installation: check nvidia-smi)", flag,
                       why ? why : "?");
    if (n == 0 && cfg->device == CD_DEVICE_CUDA)
        return CD_FAIL(err, CD_E_USAGE, "--device cuda: no CUDA device is visible on this node (check nvidia-smi and "
                                        "CUDA_VISIBLE_DEVICES; the CUDA runtime says %s)", why ? why : "none");
    *devices = n;
    return CD_OK;
}

/* The machine, as two ranks on one physical GPU see it alike: the kernel's boot id (shared by the
 * containers of one host, whatever their host names), else the host name. */
static void machine_name(char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f) {
        if (!fgets(out, (int)size, f)) out[0] = '\0';
        fclose(f);
        out[strcspn(out, "\n")] = '\0';
    }
    if (!out[0] && gethostname(out, size - 1) != 0) snprintf(out, size, "unknown host");
    out[size - 1] = '\0';
}

/* This rank's GPU identity (gpu_plan.h), 0 when it has none. */
static cd_status gpu_identity(const cd_backend *be, int devices, int local_rank, int rank, uint64_t *id, cd_error *err)
{
    *id = 0;
    if (devices < 1) return CD_OK;
    char bus[64], machine[256];
    cd_status st = be->device_bus_id(local_rank % devices, bus, sizeof bus, err);
    if (st != CD_OK) {
        cd_error_prefix(err, "rank %d: ", rank);
        return st;
    }
    machine_name(machine, sizeof machine);
    *id = cd_gpu_identity(machine, bus);
    return CD_OK;
}

/* Collective: every rank's GPU identity, and the plan made from them alike on every rank. */
static cd_status plan_gpus(const cd_train_config *cfg, cd_comm *c, const cd_backend *be, cd_gpu_plan *plan,
                           cd_error *err)
{
    int devices = 0;
    uint64_t id = 0;
    /* A backend built without NCCL has no comm: --comm auto sums through MPI, --comm nccl is refused. */
    cd_comm_kind comm = cfg->comm;
    if (be && !be->comm) {
        if (comm == CD_COMM_NCCL)
            return cd_comm_agree_named(c, CD_FAIL(err, CD_E_USAGE, "--comm nccl: the CUDA backend was built without NCCL; "
                                                                   "use --comm mpi (or rebuild with NCCL: NCCL_ROOT, or "
                                                                   "the nvidia-nccl pip wheel)"), err);
        comm = CD_COMM_MPI;
    }
    cd_status st = count_devices(cfg, be, &devices, err);
    if (st == CD_OK) st = gpu_identity(be, devices, c->local_rank, c->rank, &id, err);
    CD_TRY(cd_comm_agree_named(c, st, err));
    uint64_t *ids = NULL;
    CD_ALLOC(err, ids, c->size);
    st = c->allgather_u64(c, id, ids, err);
    if (st == CD_OK) st = cd_gpu_plan_make(cfg->device, comm, ids, c->size, c->local_rank, devices, plan, err);
    cd_free(ids);
    /* Every rank decided alike from the same ids: the job's message, not one rank's. */
    int failed = -1;
    return cd_comm_agree(c, st, err, &failed);
}

static const char *set_phase(cd_watchdog *w, const char *phase) { return w ? cd_watchdog_phase(w, phase) : NULL; }
static void restore_phase(cd_watchdog *w, const char *phase)
{
    if (w && phase) cd_watchdog_phase(w, phase);
}

static cd_status open_cuda(const cd_train_config *cfg, cd_comm *c, const cd_backend *be, const cd_gpu_plan *plan,
                           cd_model *model, int chunk, int shard_count, cd_watchdog *watchdog, cd_device *dev,
                           cd_error *err)
{
    /* The chunk gradients take max_chunks * params floats on the device: cap them at 256 MiB. */
    size_t fit = ((size_t)256 << 20) / (sizeof(float) * (model->arena.count ? model->arena.count : 1));
    int cap = fit < 1 ? 1 : fit > (size_t)shard_count ? shard_count : (int)fit;
    cd_status st = be->replica(model, plan->device, c->rank, chunk, cap, &dev->replica, err);
    CD_TRY(cd_comm_agree_named(c, st, err));
    dev->ranks_share_gpus = plan->shared;
    if (cfg->comm == CD_COMM_MPI || !be->comm) return CD_OK;
    /* Each wait of the NCCL comm is bounded by --timeout and beats the watchdog while it polls, so its
     * own message (which call, how long, NCCL's reason) comes first; the watchdog still ends a process
     * whose polling itself stops (a driver call that never returns) or that blocks in the unique id's
     * broadcast, under the phase named here. */
    const cd_comm_wait wait = {.limit_s = cfg->timeout_s, .beat = cd_watchdog_beat_cb, .beat_ctx = watchdog};
    const char *before = set_phase(watchdog, "in NCCL init");
    st = be->comm(c, plan->device, &wait, &dev->nccl, err);
    restore_phase(watchdog, before);
    dev->nccl_open = st == CD_OK;
    CD_TRY(cd_comm_agree_named(c, st, err));
    dev->grad_comm = &dev->nccl;
    return CD_OK;
}

cd_status cd_device_open(const cd_train_config *cfg, cd_comm *comm, cd_model *model, int chunk, int shard_count,
                         cd_watchdog *watchdog, cd_device *dev, cd_error *err)
{
    memset(dev, 0, sizeof *dev);
    dev->grad_comm = comm;
    cd_gpu_plan plan = {.use_cuda = 0, .device = -1, .shared = 0, .first = -1, .second = -1};
    if (cfg->device == CD_DEVICE_CPU) {
        if (cfg->comm == CD_COMM_NCCL)
            return cd_comm_agree_named(comm, CD_FAIL(err, CD_E_USAGE, "--comm nccl needs --device cuda"), err);
    } else {
        const cd_backend *be = NULL;
        CD_TRY(load_backend(cfg, comm, &be, err));
        CD_TRY(plan_gpus(cfg, comm, be, &plan, err));
        if (plan.use_cuda) CD_TRY(open_cuda(cfg, comm, be, &plan, model, chunk, shard_count, watchdog, dev, err));
    }
    if (!plan.use_cuda) CD_TRY(cd_comm_agree_named(comm, cd_replica_cpu(model, chunk, &dev->replica, err), err));
    cd_status st = dev->replica->ops->upload(dev->replica, model->arena.params, model->arena.momentum, err);
    return cd_comm_agree_named(comm, st, err);
}

void cd_device_close(cd_device *dev, int failed, cd_watchdog *watchdog)
{
    if (dev->nccl_open) {
        const char *before = set_phase(watchdog, "in NCCL teardown");
        if (failed && dev->nccl.abandon)
            dev->nccl.abandon(&dev->nccl); /* ncclCommAbort: other ranks may be gone or mid-collective */
        else
            dev->nccl.finalize(&dev->nccl);
        restore_phase(watchdog, before);
    }
    if (dev->replica) dev->replica->ops->free(dev->replica);
    memset(dev, 0, sizeof *dev);
}
