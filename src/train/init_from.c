/* --init-from: a run that starts from another checkpoint's weights (fine-tuning, a longer schedule), with
 * its own lr, schedule, seed and a fresh (zero) momentum. The source is named in the run's identity. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cnn_ddp/arena.h"
#include "run_meta.h"

/* Rank 0: reads and verifies the whole file into params (its momentum into scratch, dropped). */
static cd_status load_on_root(const char *path, const cd_run_arenas *a, char ident[64], char *note, size_t note_cap,
                              cd_error *err)
{
    cd_ckpt_meta *meta = NULL;
    float *scratch = NULL;
    CD_ALLOC(err, meta, 1);
    scratch = cd_alloc_zeroed((a->n_params ? a->n_params : 1) * sizeof *scratch);
    if (!scratch) {
        cd_free(meta);
        return CD_FAIL(err, CD_E_NOMEM, "--init-from: out of memory for %zu floats", a->n_params);
    }
    cd_status st = cd_ckpt_read(path, a->tensors, a->n_tensors, meta, a->params, scratch, a->n_params, err);
    if (st == CD_OK) {
        char run[17];
        cd_ckpt_run_id_text(cd_ckpt_run_id(meta), run);
        snprintf(ident, 64, "run %s params %016llx", run, cd_checksum_floats(a->params, a->n_params));
        snprintf(note, note_cap, "initialised the weights from %s (run %s, step %" PRId64 "); momentum starts at zero",
                 path, run, meta->step);
    } else if (strstr(err->msg, " has shape ") || strstr(err->msg, ": missing /") ||
               strstr(err->msg, "is not a tensor of this model")) {
        /* Another model's checkpoint: say what --init-from needs. */
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof err->msg - len, " (--init-from needs the same parameter shapes)");
    }
    if (st != CD_OK) cd_error_prefix(err, "--init-from: ");
    cd_free(meta);
    cd_free(scratch);
    return st;
}

cd_status cd_init_from(const cd_train_config *cfg, cd_comm *comm, const cd_run_arenas *a, char ident[64], char *note,
                       size_t note_cap, cd_error *err)
{
    memset(ident, 0, 64);
    if (note_cap) note[0] = '\0';
    cd_status st = comm->rank == 0 ? load_on_root(cfg->init_from, a, ident, note, note_cap, err) : CD_OK;
    st = cd_comm_agree_named(comm, st, err);
    if (st == CD_OK) st = comm->broadcast(comm, a->params, sizeof(float) * a->n_params, 0, err);
    if (st == CD_OK) st = comm->broadcast(comm, ident, 64, 0, err);
    /* Fresh momentum: this run's optimiser state starts as a run from scratch does. */
    if (st == CD_OK) memset(a->momentum, 0, sizeof(float) * a->n_params);
    return st;
}
