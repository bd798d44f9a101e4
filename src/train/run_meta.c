/* Checkpoint metadata of a run: written from its identity and position, checked on resume. */
#include "run_meta.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The identity fields, and nothing else. */
static void fill_identity(const cd_run_identity *id, cd_ckpt_meta *meta)
{
    snprintf(meta->model, sizeof meta->model, "%s", id->model);
    meta->seed = id->seed;
    meta->ranks = id->ranks;
    meta->batch = id->batch;
    meta->lr = id->lr;
    snprintf(meta->lr_schedule, sizeof meta->lr_schedule, "%s", id->lr_schedule);
    meta->momentum = id->momentum;
    snprintf(meta->data, sizeof meta->data, "%s", id->data_abs ? id->data_abs : id->data ? id->data : "");
    meta->data_rows = id->data_rows;
    meta->data_height = id->data_height;
    meta->data_width = id->data_width;
    meta->data_checksum = id->data_checksum;
    meta->data_channels = id->data_channels;
    meta->classes = id->classes;
    snprintf(meta->norm_mean, sizeof meta->norm_mean, "%s", id->norm_mean);
    snprintf(meta->norm_std, sizeof meta->norm_std, "%s", id->norm_std);
    snprintf(meta->class_names, sizeof meta->class_names, "%s", id->class_names ? id->class_names : "");
    meta->val_rows = id->val_rows;
    snprintf(meta->init_from, sizeof meta->init_from, "%s", id->init_from);
    snprintf(meta->init_from_path, sizeof meta->init_from_path, "%s", id->init_from[0] && id->init_from_path ? id->init_from_path : "");
}

uint64_t cd_run_id(const cd_run_identity *id)
{
    cd_ckpt_meta *m = cd_alloc_zeroed(sizeof *m);
    if (m == NULL) return 0; /* only names the run in messages; matching goes by cd_run_meta_diff */
    fill_identity(id, m);
    const uint64_t h = cd_ckpt_run_id(m);
    cd_free(m);
    return h;
}

void cd_run_meta_fill(const cd_run_identity *id, const cd_position *pos, const cd_train_config *cfg,
                      cd_ckpt_meta *meta)
{
    memset(meta, 0, sizeof *meta);
    snprintf(meta->version, sizeof meta->version, "%s", CNN_DDP_VERSION);
    fill_identity(id, meta);
    meta->step = pos->step;
    meta->epoch = pos->step / id->steps_per_epoch;
    meta->step_in_epoch = pos->step % id->steps_per_epoch;
    meta->epoch_loss_fx = pos->epoch_loss_fx;
    meta->epoch_correct = pos->epoch_correct;
    meta->epoch_samples = pos->epoch_samples;
    meta->epoch_seconds = pos->epoch_seconds;
    cd_train_config_format(cfg, meta->config, sizeof meta->config);
    snprintf(meta->history, sizeof meta->history, "%s", id->history ? id->history : "");
}

void cd_run_history(const char *before, const char *event, int ranks, int64_t from, int64_t to, char *out,
                    size_t cap)
{
    char all[2 * CD_CKPT_HISTORY_MAX + 640];
    snprintf(all, sizeof all, "%s%s%.512s%s%d rank%s steps %" PRId64 "-%" PRId64, before, before[0] ? "; " : "",
             event ? event : "", event ? "; " : "", ranks, ranks == 1 ? "" : "s", from, to);
    size_t len = strlen(all);
    const char *keep = all;
    if (len >= cap && cap > 8) {
        /* The newest entries that fit after "...; ", cut at an entry's start. */
        keep = all + len - (cap - 6);
        const char *next = strstr(keep, "; ");
        keep = next ? next + 2 : keep;
        snprintf(out, cap, "...; %s", keep);
        return;
    }
    snprintf(out, cap, "%s", keep);
}

int cd_run_meta_diff(const cd_run_identity *id, const cd_ckpt_meta *m, char *out, size_t cap)
{
    out[0] = '\0';
    /* Channels and classes first: they also change the model's first and last layers. */
    if (m->data_channels != id->data_channels)
        snprintf(out, cap, "this run's --data %s has %d channel%s, the checkpoint's run had %" PRId64 " (data_channels)",
                 id->data, id->data_channels, id->data_channels == 1 ? "" : "s", m->data_channels);
    else if (m->classes != id->classes)
        snprintf(out, cap, "this run's --data %s has %d classes, the checkpoint's run had %" PRId64 " (classes)", id->data,
                 id->classes, m->classes);
    else if (m->val_rows != id->val_rows)
        snprintf(out, cap, "checkpoint held out %" PRId64 " training rows for validation, this run %" PRId64
                 " (val_rows): resume with --val-rows %" PRId64, m->val_rows, id->val_rows, m->val_rows);
    else if (strcmp(m->model, id->model) != 0)
        snprintf(out, cap, "checkpoint model '%s' does not match --model '%s'", m->model, id->model);
    /* The data before the recipe: another file is the likelier mistake, and the path alone says it. */
    else if (m->data_rows != id->data_rows || m->data_height != id->data_height || m->data_width != id->data_width)
        snprintf(out, cap, "checkpoint was trained on %s (%" PRId64 " training rows of %" PRId64 "x%" PRId64 "), this "
                 "run's --data %s has %" PRId64 " rows of %dx%d", m->data, m->data_rows, m->data_height, m->data_width,
                 id->data, id->data_rows, id->data_height, id->data_width);
    else if (m->data_checksum != id->data_checksum)
        snprintf(out, cap, "checkpoint was trained on %s, this run's --data %s has the same shape (%" PRId64 " rows of "
                 "%dx%d) but other training rows (checksum %016" PRIx64 " vs %016" PRIx64 ")", m->data, id->data,
                 id->data_rows, id->data_height, id->data_width, m->data_checksum, id->data_checksum);
    else if (strcmp(m->norm_mean, id->norm_mean) != 0 || strcmp(m->norm_std, id->norm_std) != 0)
        snprintf(out, cap, "checkpoint's run normalised its inputs with mean %s std %s, this run's --data %s with mean %s "
                 "std %s (norm_mean, norm_std)", m->norm_mean, m->norm_std, id->data, id->norm_mean, id->norm_std);
    /* The rank count is free (it changes no bit); the global batch is not, and --batch-per-rank makes it
     * follow the rank count, so the message gives both. */
    else if (m->batch != id->batch)
        snprintf(out, cap, "checkpoint has a global batch of %" PRId64 " (written by %" PRId64 " rank%s), this run %d "
                 "(%d rank%s): resume with --batch %" PRId64, m->batch, m->ranks, m->ranks == 1 ? "" : "s", id->batch,
                 id->ranks, id->ranks == 1 ? "" : "s", m->batch);
    else if (m->seed != id->seed)
        snprintf(out, cap, "checkpoint has --seed %" PRIu64 ", this run --seed %" PRIu64, m->seed, id->seed);
    else if (m->lr != id->lr || m->momentum != id->momentum)
        snprintf(out, cap, "checkpoint has --lr %g --momentum %g, this run --lr %g --momentum %g", m->lr, m->momentum,
                 id->lr, id->momentum);
    else if (strcmp(m->lr_schedule, id->lr_schedule) != 0)
        snprintf(out, cap, "checkpoint has --lr-schedule %s, this run %s (a cosine schedule is over --epochs x %" PRId64
                 " steps: resume with the --epochs it started with)", m->lr_schedule, id->lr_schedule,
                 id->steps_per_epoch);
    else if (strcmp(m->init_from, id->init_from) != 0 && !id->init_from[0])
        snprintf(out, cap, "checkpoint's run started from the weights of %s (--init-from: %s), this run from scratch: "
                 "resume with --init-from %s", m->init_from_path, m->init_from, m->init_from_path);
    else if (strcmp(m->init_from, id->init_from) != 0 && !m->init_from[0])
        snprintf(out, cap, "checkpoint's run started from scratch, this run from the weights of %s (--init-from: %s)",
                 id->init_from_path, id->init_from);
    else if (strcmp(m->init_from, id->init_from) != 0)
        snprintf(out, cap, "checkpoint's run started from the weights of %s (%s), this run from %s (%s) (--init-from)",
                 m->init_from_path, m->init_from, id->init_from_path, id->init_from);
    return out[0] != '\0';
}

cd_status cd_run_meta_check(const cd_run_identity *id, const cd_ckpt_meta *m, const char *path, cd_error *err)
{
    char why[sizeof ((cd_error *)0)->msg];
    if (cd_run_meta_diff(id, m, why, sizeof why)) return CD_FAIL(err, CD_E_INPUT, "%s: %s", path, why);
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
