/* Checkpoint metadata of a run: written from its identity and position, checked on resume. */
#include "run_meta.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void cd_run_meta_fill(const cd_run_identity *id, const cd_position *pos, const cd_train_config *cfg,
                      cd_ckpt_meta *meta)
{
    memset(meta, 0, sizeof *meta);
    snprintf(meta->version, sizeof meta->version, "%s", CNN_DDP_VERSION);
    snprintf(meta->model, sizeof meta->model, "%s", id->model);
    meta->step = pos->step;
    meta->epoch = pos->step / id->steps_per_epoch;
    meta->step_in_epoch = pos->step % id->steps_per_epoch;
    meta->seed = id->seed;
    meta->ranks = id->ranks;
    meta->batch = id->batch;
    meta->lr = id->lr;
    snprintf(meta->lr_schedule, sizeof meta->lr_schedule, "%s", id->lr_schedule);
    meta->momentum = id->momentum;
    meta->epoch_loss_fx = pos->epoch_loss_fx;
    meta->epoch_correct = pos->epoch_correct;
    meta->epoch_samples = pos->epoch_samples;
    meta->epoch_seconds = pos->epoch_seconds;
    cd_train_config_format(cfg, meta->config, sizeof meta->config);
}

cd_status cd_run_meta_check(const cd_run_identity *id, const cd_ckpt_meta *m, const char *path, cd_error *err)
{
    if (strcmp(m->model, id->model) != 0)
        return CD_FAIL(err, CD_E_INPUT, "%s: checkpoint model '%s' does not match --model '%s'", path, m->model, id->model);
    /* The rank count is free (it changes no bit); the global batch is not, and --batch-per-rank makes it
     * follow the rank count, so the message gives both. */
    if (m->batch != id->batch)
        return CD_FAIL(err, CD_E_INPUT, "%s: checkpoint has a global batch of %" PRId64 " (written by %" PRId64
                       " rank%s), this run %d (%d rank%s): resume with --batch %" PRId64, path, m->batch, m->ranks,
                       m->ranks == 1 ? "" : "s", id->batch, id->ranks, id->ranks == 1 ? "" : "s", m->batch);
    if (m->seed != id->seed)
        return CD_FAIL(err, CD_E_INPUT, "%s: checkpoint has --seed %" PRIu64 ", this run --seed %" PRIu64, path, m->seed,
                       id->seed);
    if (m->lr != id->lr || m->momentum != id->momentum)
        return CD_FAIL(err, CD_E_INPUT, "%s: checkpoint has --lr %g --momentum %g, this run --lr %g --momentum %g", path,
                       m->lr, m->momentum, id->lr, id->momentum);
    if (strcmp(m->lr_schedule, id->lr_schedule) != 0)
        return CD_FAIL(err, CD_E_INPUT, "%s: checkpoint has --lr-schedule %s, this run %s (a cosine schedule is over "
                       "--epochs x %" PRId64 " steps: resume with the --epochs it started with)", path, m->lr_schedule,
                       id->lr_schedule, id->steps_per_epoch);
    return CD_OK;
}

/* The checkpoint layer has checked what the file alone says (ck_meta_check); this is what needs this
 * run's data and --epochs. */
cd_status cd_run_meta_check_position(const cd_run_identity *id, int64_t epochs, const cd_ckpt_meta *m,
                                     const char *path, cd_error *err)
{
    const int64_t spe = id->steps_per_epoch;
    if (m->step < 0 || m->step / spe != m->epoch || m->step % spe != m->step_in_epoch)
        return CD_FAIL(err, CD_E_INPUT, "%s: checkpoint position (step %" PRId64 ", epoch %" PRId64 ", step_in_epoch %"
                       PRId64 ") does not fit this data set's %" PRId64 " steps per epoch", path, m->step, m->epoch + 1,
                       m->step_in_epoch, spe);
    /* At step_in_epoch 0 the totals are empty, or (stopped at the epoch's end) a whole epoch's. */
    if (m->step_in_epoch == 0 && m->epoch_samples != 0 && m->epoch_samples != spe * m->batch)
        return CD_FAIL(err, CD_E_INPUT, "%s: checkpoint epoch_samples %" PRId64 " at the start of an epoch is neither 0 "
                       "nor this data set's %" PRId64 " steps x batch %" PRId64, path, m->epoch_samples, spe, m->batch);
    /* Past the end, the run would "finish" at once and write a final.h5 it never trained. */
    if (m->step > epochs * spe)
        return CD_FAIL(err, CD_E_INPUT, "%s: checkpoint is at step %" PRId64 ", past the end of this run (--epochs %"
                       PRId64 " x %" PRId64 " steps = %" PRId64 ")", path, m->step, epochs, spe, epochs * spe);
    return CD_OK;
}

cd_position cd_run_meta_position(const cd_ckpt_meta *m)
{
    return (cd_position){.step = m->step, .epoch_loss_fx = m->epoch_loss_fx, .epoch_correct = m->epoch_correct,
                         .epoch_samples = m->epoch_samples, .epoch_seconds = m->epoch_seconds};
}
