/* Fault injection (see fault.h). */
#include "cnn_ddp/fault.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

cd_fault cd_fault_from_env(void)
{
    cd_fault f = {CD_FAULT_NONE, -1, -1};
    const char *v = getenv("CNN_DDP_FAULT");
    char kind[16];
    int rank;
    long long step;
    if (!v || sscanf(v, "%15[a-z]:%d:%lld", kind, &rank, &step) != 3) return f;
    f.kind = !strcmp(kind, "nan")       ? CD_FAULT_NAN
             : !strcmp(kind, "perturb") ? CD_FAULT_PERTURB
             : !strcmp(kind, "stall")   ? CD_FAULT_STALL
             : !strcmp(kind, "loadstop") ? CD_FAULT_LOADSTOP
             : !strcmp(kind, "stopstall") ? CD_FAULT_STOPSTALL
             : !strcmp(kind, "sigterm") ? CD_FAULT_SIGTERM
                                        : CD_FAULT_NONE;
    f.rank = rank;
    f.step = step;
    return f;
}

int cd_fault_hits(const cd_fault *f, cd_fault_kind kind, int rank, int64_t step)
{
    return f->kind == kind && f->rank == rank && f->step == step;
}

void cd_fault_stall(const cd_fault *f, int rank, int64_t step)
{
    while (cd_fault_hits(f, CD_FAULT_STALL, rank, step)) {
        struct timespec nap = {1, 0};
        nanosleep(&nap, NULL);
    }
}

void cd_fault_loadstop(const cd_fault *f, int rank)
{
    if (f->kind == CD_FAULT_LOADSTOP && f->rank == rank) raise(SIGSTOP);
}

void cd_fault_stopstall(const cd_fault *f, int rank)
{
    while (f->kind == CD_FAULT_STOPSTALL && f->rank == rank) {
        struct timespec nap = {1, 0};
        nanosleep(&nap, NULL);
    }
}

void cd_fault_sigterm(const cd_fault *f, int rank, int64_t step)
{
    if (cd_fault_hits(f, CD_FAULT_SIGTERM, rank, step)) raise(SIGTERM);
}

void cd_fault_perturb(float *params)
{
    uint32_t bits;
    memcpy(&bits, params, sizeof bits);
    bits ^= 1u;
    memcpy(params, &bits, sizeof bits);
}
