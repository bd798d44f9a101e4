/* A CUDA backend without CUDA, for test_gpu_placement: the trainer's device choice (src/train/device.c:
 * which GPU a rank takes, ranks on one GPU, the runtime's errors, the watchdog around NCCL's start and
 * end, abort after a failed run) runs under mpirun on a machine with no GPU. Its "GPUs" are described
 * by the environment, its replica is the CPU replica, and its "NCCL" sums through the host comm.
 *   CD_FAKE_GPUS=N      GPUs each rank sees (default 1); -1: the runtime fails to count them
 *   CD_FAKE_BUS=device  bus id by device index, as when every rank sees the node's GPUs (default);
 *              rank     each rank its own, as with CUDA_VISIBLE_DEVICES or srun --gpus-per-task=1
 *   CD_FAKE_STALL=init|teardown  hang in the comm's start or end, as a blocked NCCL would;
 *              slowinit  a bounded wait of 8 s in the comm's start that beats the watchdog
 *   CD_FAKE_LOG=FILE    appends one line per event: "rank R: replica device D", "rank R: comm device D
 *                       limit T", "rank R: comm finalize" or "rank R: comm abandon" */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cnn_ddp/backend.h"

__attribute__((visibility("default"))) const cd_backend *cd_backend_entry(void);

static const char *env(const char *name) { return getenv(name) ? getenv(name) : ""; }

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
    if (!*env("CD_FAKE_LOG")) return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    int fd = open(env("CD_FAKE_LOG"), O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) return;
    if (write(fd, line, (size_t)n) != n) { /* a test log: nothing to do */
    }
    close(fd);
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static int fake_count(const char **why)
{
    int n = *env("CD_FAKE_GPUS") ? atoi(env("CD_FAKE_GPUS")) : 1;
    if (why) *why = n < 0 ? "cudaErrorSystemDriverMismatch" : n == 0 ? "cudaErrorNoDevice" : NULL;
    return n < 0 ? -1 : n;
}

static cd_status fake_bus_id(int device, char *out, size_t size, cd_error *err)
{
    (void)err;
    int slot = device;
    if (!strcmp(env("CD_FAKE_BUS"), "rank")) {
        const char *local = *env("OMPI_COMM_WORLD_LOCAL_RANK") ? env("OMPI_COMM_WORLD_LOCAL_RANK") : env("MPI_LOCALRANKID");
        slot = atoi(local);
    }
    snprintf(out, size, "00000000:%02X:00.0", 0x10 + slot);
    return CD_OK;
}

static cd_status fake_replica(const cd_model *host, int device, int rank, int chunk, int max_chunks, cd_replica **out,
                              cd_error *err)
{
    (void)max_chunks;
    /* The trainer's model outlives the replica, which borrows it as the CPU replica does. */
    CD_TRY(cd_replica_cpu((cd_model *)host, chunk, out, err));
    (*out)->device = "cuda";
    snprintf((*out)->name, sizeof (*out)->name, "fake GPU (device %d)", device);
    log_line("rank %d: replica device %d", rank, device);
    return CD_OK;
}

static cd_status fake_sum(cd_replica *r, int64_t *out, cd_error *err)
{
    (void)r, (void)out;
    return CD_FAIL(err, CD_E_INTERNAL, "the fake backend has no step buffer to show");
}

static void fake_finalize(cd_comm *c)
{
    log_line("rank %d: comm finalize", c->rank);
    if (!strcmp(env("CD_FAKE_STALL"), "teardown"))
        for (;;) sleep_s(1);
}

static void fake_abandon(cd_comm *c) { log_line("rank %d: comm abandon", c->rank); }

static cd_status fake_comm(cd_comm *host, int device, const cd_comm_wait *wait, cd_comm *out, cd_error *err)
{
    (void)err;
    const char *stall = env("CD_FAKE_STALL");
    if (!strcmp(stall, "init"))
        for (;;) sleep_s(1);
    if (!strcmp(stall, "slowinit"))
        for (int k = 0; k < 80; k++) {
            sleep_s(0.1);
            if (wait && wait->beat) wait->beat(wait->beat_ctx);
        }
    *out = *host; /* the host comm's collectives, over host memory */
    out->name = "nccl";
    out->finalize = fake_finalize;
    out->abandon = fake_abandon;
    log_line("rank %d: comm device %d limit %.0f", host->rank, device, wait ? wait->limit_s : -1.0);
    return CD_OK;
}

const cd_backend *cd_backend_entry(void)
{
    static const cd_backend table = {
        .abi = CD_BACKEND_ABI,
        .version = CNN_DDP_VERSION,
        .layout = CD_BACKEND_LAYOUT,
        .device_count = fake_count,
        .device_bus_id = fake_bus_id,
        .replica = fake_replica,
        .replica_sum = fake_sum,
        .comm = fake_comm,
    };
    return &table;
}
