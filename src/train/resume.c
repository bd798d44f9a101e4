/* Resume: which checkpoint continues this run, and how every rank gets it. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "run_meta.h"

static void warn(const cd_reporter *rep, const char *line)
{
    if (rep && rep->warning) rep->warning(rep->ctx, line);
}

/* Rank 0: the newest checkpoint of this run in the directory that verifies, by step, and its metadata;
 * damaged ones are reported and skipped, other runs' ones skipped. chosen stays "" when there is none. */
static cd_status find_newest(const char *dir, const cd_run_identity *id, const cd_reporter *rep, cd_ckpt_meta *meta,
                             char chosen[CD_PATH_MAX], cd_error *err)
{
    char(*paths)[CD_PATH_MAX] = NULL;
    cd_ckpt_meta *m = NULL;
    CD_ALLOC(err, m, 1);
    paths = cd_alloc_zeroed(sizeof *paths * CD_MAX_CKPTS);
    if (!paths) {
        cd_free(m);
        return CD_FAIL(err, CD_E_NOMEM, "out of memory listing %s", dir);
    }
    int n = 0, others = 0;
    cd_status st = cd_ckpt_list(dir, paths, CD_MAX_CKPTS, &n, err);
    int64_t best = -1;
    for (int i = 0; st == CD_OK && i < n; i++) {
        cd_error e = {0};
        if (cd_ckpt_verify(paths[i], m, &e) != CD_OK) {
            char line[sizeof e.msg + 64];
            snprintf(line, sizeof line, "skipping damaged checkpoint: %s", e.msg);
            warn(rep, line);
            continue;
        }
        char why[512];
        if (cd_run_meta_diff(id, m, why, sizeof why)) {
            char line[CD_PATH_MAX + sizeof why + 64];
            snprintf(line, sizeof line, "skipping a checkpoint of another run: %s: %s", paths[i], why);
            warn(rep, line);
            others++;
            continue;
        }
        if (m->step > best) {
            best = m->step;
            *meta = *m;
            snprintf(chosen, CD_PATH_MAX, "%s", paths[i]);
        }
    }
    cd_free(paths);
    cd_free(m);
    if (st == CD_OK && best < 0 && n > others)
        st = CD_FAIL(err, CD_E_INPUT, "--resume: none of the %d checkpoints of this run in %s verifies", n - others, dir);
    return st;
}

/* Rank 0: picks, reads and checks the checkpoint. */
static cd_status load_on_root(const cd_train_config *cfg, const cd_run_identity *id, const cd_run_arenas *a,
                              const cd_reporter *rep, cd_ckpt_meta *meta, char chosen[CD_PATH_MAX], cd_error *err)
{
    if (cfg->resume == CD_RESUME_FILE) {
        snprintf(chosen, CD_PATH_MAX, "%s", cfg->resume_path);
        CD_TRY(cd_ckpt_verify(chosen, meta, err));
    } else {
        CD_TRY(find_newest(cfg->ckpt_dir, id, rep, meta, chosen, err));
    }
    if (!chosen[0]) return CD_OK;
    /* The identity before the tensors: another run's checkpoint is refused for what differs (its
     * --model, its --batch), not for the first tensor whose shape does not fit this model. */
    CD_TRY(cd_run_meta_check(id, meta, chosen, err));
    CD_TRY(cd_run_meta_check_position(id, cfg->epochs, meta, chosen, err));
    return cd_ckpt_read(chosen, a->tensors, a->n_tensors, meta, a->params, a->momentum, a->n_params, err);
}

cd_status cd_resume(const cd_train_config *cfg, const cd_run_identity *id, int64_t last_step, cd_comm *comm,
                    const cd_run_arenas *a, const cd_reporter *rep, cd_position *pos, int *resumed, char *history,
                    cd_error *err)
{
    *resumed = CD_RESUMED_NONE;
    history[0] = '\0';
    cd_ckpt_meta *meta = NULL;
    CD_ALLOC(err, meta, 1);
    char chosen[CD_PATH_MAX] = "";
    cd_status st = comm->rank == 0 ? load_on_root(cfg, id, a, rep, meta, chosen, err) : CD_OK;
    st = cd_comm_agree_named(comm, st, err);
    int found = chosen[0] != '\0';
    if (st == CD_OK) st = comm->broadcast(comm, &found, sizeof found, 0, err);
    if (st == CD_OK && found) {
        st = comm->broadcast(comm, meta, sizeof *meta, 0, err);
        if (st == CD_OK) st = comm->broadcast(comm, a->params, sizeof(float) * a->n_params, 0, err);
        if (st == CD_OK) st = comm->broadcast(comm, a->momentum, sizeof(float) * a->n_params, 0, err);
    }
    char line[CD_PATH_MAX + 160];
    if (st == CD_OK && found && meta->step >= last_step) {
        /* Nothing to train, so nothing to write: the caller ends here, every file as it was. */
        *pos = cd_run_meta_position(meta);
        *resumed = CD_RESUMED_FINISHED;
        snprintf(line, sizeof line, "%s: this run already finished (checkpoint at step %" PRId64 ", last step %" PRId64
                 "): nothing to do, no file changed", chosen, meta->step, last_step);
    } else if (st == CD_OK && found) {
        *pos = cd_run_meta_position(meta);
        *resumed = CD_RESUMED;
        snprintf(history, CD_CKPT_HISTORY_MAX, "%s", meta->history);
        snprintf(line, sizeof line, "resumed from %s at step %" PRId64 " (epoch %" PRId64 ", step %" PRId64 " of %" PRId64 ")",
                 chosen, meta->step, meta->epoch + 1, meta->step_in_epoch, id->steps_per_epoch);
    } else if (st == CD_OK) {
        snprintf(line, sizeof line, "no checkpoint in %s: starting from scratch", cfg->ckpt_dir);
    }
    if (st == CD_OK && comm->rank == 0 && rep && *resumed == CD_RESUMED_FINISHED && rep->result)
        rep->result(rep->ctx, line);
    else if (st == CD_OK && comm->rank == 0 && rep && rep->note)
        rep->note(rep->ctx, line);
    cd_free(meta);
    return st;
}
