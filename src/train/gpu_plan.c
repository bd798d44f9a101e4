/* Which GPU a rank takes (see gpu_plan.h). */
#include "gpu_plan.h"

#include "cnn_ddp/arena.h"

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= CD_FNV1A64_PRIME;
    }
    return h;
}

uint64_t cd_gpu_identity(const char *machine, const char *bus_id)
{
    uint64_t h = fnv1a(fnv1a(fnv1a(CD_FNV1A64_OFFSET, machine), "\n"), bus_id);
    return h ? h : 1;
}

cd_status cd_gpu_plan_make(cd_device_kind device, cd_comm_kind comm, const uint64_t *ids, int size, int local_rank,
                           int devices, cd_gpu_plan *out, cd_error *err)
{
    *out = (cd_gpu_plan){.use_cuda = 0, .device = -1, .shared = 0, .first = -1, .second = -1};
    int missing = -1;
    for (int r = 0; r < size && missing < 0; r++)
        if (ids[r] == 0) missing = r;
    for (int a = 0; a < size && out->first < 0; a++)
        for (int b = a + 1; b < size && ids[a] != 0; b++)
            if (ids[b] == ids[a]) {
                out->first = a, out->second = b;
                break;
            }
    out->shared = out->first >= 0;
    if (missing >= 0) {
        if (device == CD_DEVICE_CUDA)
            return CD_FAIL(err, CD_E_USAGE, "--device cuda: rank %d has no GPU", missing);
        if (comm == CD_COMM_NCCL)
            return CD_FAIL(err, CD_E_USAGE, "--comm nccl: --device auto found no GPU for every rank (rank %d has none)",
                           missing);
        out->shared = 0, out->first = out->second = -1;
        return CD_OK; /* auto: the CPU */
    }
    if (out->shared && comm != CD_COMM_MPI) {
        if (device == CD_DEVICE_CUDA || comm == CD_COMM_NCCL)
            return CD_FAIL(err, CD_E_USAGE,
                           "%s: ranks %d and %d are on one GPU (the same machine and PCI bus id), and NCCL needs a GPU "
                           "for each rank: start at most as many ranks per node as it has GPUs (srun --gpus-per-task=1 "
                           "or a CUDA_VISIBLE_DEVICES per rank gives each its own), or add --comm mpi to let ranks "
                           "share GPUs", device == CD_DEVICE_CUDA ? "--device cuda" : "--comm nccl", out->first,
                           out->second);
        out->shared = 0, out->first = out->second = -1;
        return CD_OK; /* auto with --comm auto: the CPU, as with too few GPUs */
    }
    if (devices < 1) return CD_FAIL(err, CD_E_INTERNAL, "gpu plan: a GPU identity but %d devices", devices);
    out->use_cuda = 1;
    out->device = local_rank % devices;
    return CD_OK;
}
