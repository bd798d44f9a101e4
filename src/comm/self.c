/* The one-rank backend: collectives are identities, so a plain `cnn_ddp` needs no MPI start-up. */
#include "cnn_ddp/comm.h"

#include <stdlib.h>
#include <string.h>

static cd_status self_allreduce(cd_comm *c, int64_t *buf, size_t n, cd_error *err)
{
    (void)c, (void)buf, (void)n, (void)err;
    return CD_OK;
}

static cd_status self_allgather(cd_comm *c, uint64_t value, uint64_t *out, cd_error *err)
{
    (void)c, (void)err;
    out[0] = value;
    return CD_OK;
}

static cd_status self_broadcast(cd_comm *c, void *buf, size_t bytes, int root, cd_error *err)
{
    (void)c, (void)buf, (void)bytes, (void)root, (void)err;
    return CD_OK;
}

static void self_abort(cd_comm *c, int exit_code)
{
    (void)c;
    exit(exit_code);
}

static void self_finalize(cd_comm *c) { (void)c; }

void cd_comm_self(cd_comm *c)
{
    memset(c, 0, sizeof *c);
    c->name = "self";
    c->rank = 0;
    c->size = 1;
    c->local_rank = 0;
    c->local_size = 1;
    c->allreduce_sum_i64 = self_allreduce;
    c->allgather_u64 = self_allgather;
    c->broadcast = self_broadcast;
    c->abort = self_abort;
    c->finalize = self_finalize;
}

int cd_comm_under_launcher(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return 1;
    }
    return 0;
}
