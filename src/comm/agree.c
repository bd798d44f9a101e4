/* Every rank learns whether any rank failed, and rank 0 learns why, so one message is printed and no
 * rank is left waiting in a collective the failed rank will never join. */
#include "cnn_ddp/comm.h"

#include <string.h>

cd_status cd_comm_agree(cd_comm *c, cd_status local, cd_error *err, int *failed_rank)
{
    uint64_t statuses[4096];
    uint64_t *all = statuses;
    if (c->size > 4096) return CD_FAIL(err, CD_E_COMM, "more than 4096 ranks are not supported");
    cd_error comm_err = {0};
    if (c->allgather_u64(c, (uint64_t)local, all, &comm_err) != CD_OK) {
        *err = comm_err;
        *failed_rank = c->rank;
        return CD_E_COMM;
    }
    int first = -1;
    for (int r = 0; r < c->size; r++)
        if (all[r] != CD_OK) {
            first = r;
            break;
        }
    *failed_rank = first;
    if (first < 0) return CD_OK;
    /* The failing rank's message travels to everyone (rank 0 prints it). */
    cd_error msg = {0};
    if (c->rank == first) msg = *err;
    if (c->broadcast(c, msg.msg, sizeof msg.msg, first, &comm_err) != CD_OK) {
        *err = comm_err;
        return CD_E_COMM;
    }
    if (c->rank != first) {
        err->code = (cd_status)all[first];
        memcpy(err->msg, msg.msg, sizeof msg.msg);
        err->file = NULL;
        err->line = 0;
    }
    return (cd_status)all[first];
}
