/* Every rank learns whether any rank failed, and rank 0 learns why, so one message is printed and no
 * rank is left waiting in a collective the failed rank will never join. */
#include "cnn_ddp/comm.h"

#include <string.h>

cd_status cd_comm_agree(cd_comm *c, cd_status local, cd_error *err, int *failed_rank)
{
    uint64_t *all = cd_alloc_zeroed(sizeof(uint64_t) * (size_t)c->size);
    if (!all) {
        *failed_rank = c->rank;
        return CD_FAIL(err, CD_E_NOMEM, "out of memory agreeing on the status of %d ranks", c->size);
    }
    cd_error comm_err = {0};
    if (c->allgather_u64(c, (uint64_t)local, all, &comm_err) != CD_OK) {
        cd_free(all);
        *err = comm_err;
        *failed_rank = c->rank;
        return CD_E_COMM;
    }
    int first = -1;
    for (int r = 0; r < c->size && first < 0; r++)
        if (all[r] != CD_OK) first = r;
    *failed_rank = first;
    const cd_status agreed = first < 0 ? CD_OK : (cd_status)all[first];
    cd_free(all);
    if (first < 0) return CD_OK;
    /* The failing rank's message travels to everyone (rank 0 prints it). */
    cd_error msg = {0};
    if (c->rank == first) msg = *err;
    if (c->broadcast(c, msg.msg, sizeof msg.msg, first, &comm_err) != CD_OK) {
        *err = comm_err;
        return CD_E_COMM;
    }
    if (c->rank != first) {
        err->code = agreed;
        memcpy(err->msg, msg.msg, sizeof msg.msg);
        err->file = NULL;
        err->line = 0;
    }
    return agreed;
}

cd_status cd_comm_agree_named(cd_comm *c, cd_status local, cd_error *err)
{
    int failed = -1;
    cd_status st = cd_comm_agree(c, local, err, &failed);
    if (st != CD_OK && st != CD_E_COMM && c->size > 1 && failed >= 0) cd_error_prefix(err, "rank %d: ", failed);
    return st;
}

cd_status cd_comm_first_nonzero(cd_comm *c, uint64_t local, uint64_t *out, cd_error *err)
{
    uint64_t *all = cd_alloc_zeroed(sizeof(uint64_t) * (size_t)c->size);
    if (!all) return CD_FAIL(err, CD_E_NOMEM, "out of memory gathering a value from %d ranks", c->size);
    const cd_status st = c->allgather_u64(c, local, all, err);
    *out = 0;
    for (int r = 0; st == CD_OK && r < c->size && !*out; r++) *out = all[r];
    cd_free(all);
    return st;
}
