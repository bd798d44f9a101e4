/* The training loop. Per global step every rank computes the gradients of the samples it owns (the
 * step's batch is one sample from each of `batch` contiguous blocks of the data, and a rank owns a
 * contiguous run of blocks), each sample's gradient added on its own in int64 fixed point so that
 * its bits do not depend on the rank or the grouping, and a single allreduce sums the buffer across
 * ranks; the same buffer carries the loss, the hit count and the error and stop flags, so one
 * collective per step keeps all ranks in step.
 * The loop talks to its replica through the ops table only and never asks which device runs. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cnn_ddp/data.h"
#include "cnn_ddp/evaluate.h"
#include "cnn_ddp/lr_schedule.h"
#include "cnn_ddp/memory_limit.h"
#include "cnn_ddp/sampler.h"
#include "cnn_ddp/signals.h"
#include "cnn_ddp/train.h"
#include "device.h"
#include "cnn_ddp/fault.h"
#include "metrics.h"
#include "run_meta.h"
#include "data_path.h"
#include "cnn_ddp/abs_path.h"
#include "cnn_ddp/watchdog.h"

enum { EVAL_BATCH = 64, DEFAULT_BATCH = 64, MAX_LOCAL_BATCH = 256 };

typedef struct run {
    const cd_train_config *cfg; /* -> resolved */
    cd_train_config resolved;   /* the caller's config with the model's default lr and schedule filled in */
    cd_comm *comm;
    const cd_reporter *rep;     /* rank 0's; NULL elsewhere */
    cd_fault fault;
    cd_model_spec spec;
    char spec_text[CD_SPEC_TEXT_MAX];
    cd_model model;
    int model_built;
    cd_sampler sampler;
    int shard_first, shard_count;
    char data_abs[CD_PATH_MAX]; /* realpath of --data: what checkpoints record, so eval and resume find it */
    cd_data_set_info set;       /* the data file as inspected: shapes, classes, names, stored normalisation */
    cd_dataset train, test, val;
    int64_t test_total;         /* 0: no /test split */
    int64_t val_total;          /* --val-rows resolved: the last val_total rows of /train, not trained on */
    int test_loaded;
    double norm_mean[CD_MAX_CHANNELS], norm_std[CD_MAX_CHANNELS];
    char norm_desc[CD_NORM_TEXT_MAX * 2 + 64];
    uint32_t **perm;            /* [shard_count]: this epoch's order of each local shard */
    int64_t perm_epoch;
    uint32_t *rows;             /* one chunk's local row indices */
    cd_tensor_view tensors[2 * CD_MAX_LAYERS];
    cd_run_identity id;
    cd_run_arenas arenas;
    cd_position pos;
    int64_t total_steps;
    int64_t slots[CD_SLOTS];    /* the last step's reduced slots */
    cd_device dev;
    cd_metrics metrics;
    cd_watchdog *watchdog;      /* the caller's, or own_watchdog */
    cd_watchdog own_watchdog;
    double run_start;
    char last_ckpt[CD_PATH_MAX];
    int first_step_logged;
    cd_ckpt_lock lock;          /* rank 0's hold on --ckpt-dir */
    int finished;               /* resumed a run that had already finished: nothing to do */
    /* The run history (cd_run_history): the resumed checkpoint's, what started this segment (NULL: a
     * fresh run), the step it started at, and the text the next checkpoint records (id.history). */
    char history_before[CD_CKPT_HISTORY_MAX];
    char segment_event[600];
    int has_event;
    int64_t segment_start;
    char history[CD_CKPT_HISTORY_MAX];
} run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int is_root(const run *r) { return r->comm->rank == 0; }
static cd_replica *replica(const run *r) { return r->dev.replica; }
static cd_status agree(run *r, cd_status local, cd_error *err) { return cd_comm_agree_named(r->comm, local, err); }

/* The schedule runs over --epochs (not --max-steps), so a run stopped early and resumed follows the
 * same curve as one that never stopped. */
static int64_t schedule_steps(const run *r) { return r->cfg->epochs * r->sampler.steps_per_epoch; }
static double lr_of_step(const run *r, int64_t step)
{
    return cd_lr_at(r->cfg->lr, r->cfg->lr_schedule, step, schedule_steps(r));
}

/* ---- set-up --------------------------------------------------------------------------------------- */

/* Collective: the global batch (from --batch-per-rank when given) and whether this rank count can
 * share it, before any file is read. */
static cd_status resolve_batch(run *r, cd_error *err)
{
    cd_train_config *cfg = &r->resolved;
    const int size = r->comm->size;
    if (cfg->batch_per_rank > 0) {
        if (cfg->batch > 0)
            return CD_FAIL(err, CD_E_USAGE, "--batch %d and --batch-per-rank %d: give one (the global batch, or "
                           "the batch of each rank)", cfg->batch, cfg->batch_per_rank);
        if ((int64_t)cfg->batch_per_rank * size > CD_MAX_BATCH)
            return CD_FAIL(err, CD_E_USAGE, "--batch-per-rank %d on %d ranks is a global batch of %lld, above the "
                           "limit %d: lower --batch-per-rank", cfg->batch_per_rank, size,
                           (long long)cfg->batch_per_rank * size, CD_MAX_BATCH);
        cfg->batch = cfg->batch_per_rank * size;
    }
    if (cfg->batch == 0) cfg->batch = DEFAULT_BATCH;
    if (size > cfg->batch)
        return CD_FAIL(err, CD_E_USAGE, "%d ranks but a global batch of %d: every rank needs at least one sample "
                       "per step; use --batch %d or more, or --batch-per-rank N (a global batch of N x %d)", size,
                       cfg->batch, size, size);
    return CD_OK;
}

/* Before anything big is allocated: this rank's rows, its share of the test rows, the model and its
 * buffers against what the process may use, so a run too big for its memory cgroup is refused with
 * the figures instead of being killed without a word. */
static cd_status check_memory(run *r, cd_shape input, const cd_kernels *kernels, int max_batch, int64_t train_rows,
                              int64_t test_rows, cd_error *err)
{
    const cd_train_config *cfg = r->cfg;
    cd_memory_limit limit;
    CD_TRY(cd_memory_limit_find("", cfg->memory_limit, "--memory-limit", cd_memory_local_ranks(), &limit, err));
    if (limit.bytes <= 0) return CD_OK;
    cd_model_bytes mb;
    CD_TRY(cd_model_memory(&r->spec, input, r->set.classes, max_batch, kernels, &mb, err));
    const double row = (double)input.c * input.h * input.w + 1; /* uint8 pixels and label */
    cd_memory_plan plan = {0};
    cd_memory_plan_add(&plan, (double)train_rows * row, "this rank's %" PRId64 " training rows of %s", train_rows,
                       cfg->data);
    cd_memory_plan_add(&plan, (double)test_rows * row, "its %" PRId64 " test and validation rows", test_rows);
    cd_memory_plan_add(&plan, mb.arenas, "the model's parameters, gradients and momentum (%zu parameters, most in %s)",
                       mb.params, mb.largest_layer);
    cd_memory_plan_add(&plan, mb.activations, "the activations for %d samples per pass", max_batch);
    return cd_memory_check(&plan, &limit, "use a smaller --model or data file, more ranks, or more memory "
                           "(--memory-limit none skips this check)", err);
}

/* --val-rows: a whole row count, or a fraction (below 1) of the training rows, rounded down. */
static cd_status resolve_val_rows(run *r, int64_t rows, cd_error *err)
{
    const double v = r->cfg->val_rows;
    if (v == 0) return CD_OK;
    if (v < 1) {
        r->val_total = (int64_t)floor(v * (double)rows);
        if (r->val_total < 1)
            return CD_FAIL(err, CD_E_USAGE, "--val-rows %g: that fraction of the %" PRId64 " training rows of %s is no "
                           "row at all", v, rows, r->cfg->data);
    } else {
        if (v != floor(v))
            return CD_FAIL(err, CD_E_USAGE, "--val-rows %g: give a whole number of rows, or a fraction below 1", v);
        if (v >= (double)rows)
            return CD_FAIL(err, CD_E_USAGE, "--val-rows %g: %s has only %" PRId64 " training rows", v, r->cfg->data,
                           rows);
        r->val_total = (int64_t)v;
    }
    return CD_OK;
}

/* This rank's blocks of the training split, and the model with buffers for its samples or an eval batch. */
static cd_status load_local_data(run *r, cd_error *err)
{
    const cd_train_config *cfg = r->cfg;
    CD_TRY(cd_data_inspect_set(cfg->data, &r->set, err));
    const cd_data_info *info = &r->set.train;
    CD_TRY(resolve_val_rows(r, info->count, err));
    const int64_t train_rows = info->count - r->val_total;
    /* The data set's K in the spec's fc(classes), before its canonical text becomes the run's identity. */
    cd_spec_set_classes(&r->spec, r->set.classes);
    cd_spec_format(&r->spec, r->spec_text, sizeof r->spec_text);
    /* One block per sample of the batch: the sample is the unit of the exact sum, so any rank count up
     * to the batch splits a step without changing a bit. */
    if (train_rows < cfg->batch)
        return CD_FAIL(err, CD_E_USAGE, "%s: %" PRId64 " training rows%s, fewer than the global batch of %d (a step "
                       "takes one sample from each of %d blocks of the rows): lower --batch", cfg->data, train_rows,
                       r->val_total ? " after --val-rows" : "", cfg->batch, cfg->batch);
    CD_TRY(cd_sampler_init(&r->sampler, train_rows, cfg->batch, cfg->batch, cfg->seed, err));
    CD_TRY(cd_sampler_rank_shards(cfg->batch, r->comm->size, r->comm->rank, &r->shard_first, &r->shard_count, err));
    int64_t begin, end, unused;
    cd_sampler_shard_rows(&r->sampler, r->shard_first, &begin, &unused);
    cd_sampler_shard_rows(&r->sampler, r->shard_first + r->shard_count - 1, &unused, &end);
    cd_shape input = {info->channels, info->height, info->width};
    /* Room for all of a rank's samples in one pass, up to a bound on activation memory (beyond it the
     * replica takes them in several passes, which changes no bits). */
    int local = r->shard_count < MAX_LOCAL_BATCH ? r->shard_count : MAX_LOCAL_BATCH;
    int max_batch = local > EVAL_BATCH ? local : EVAL_BATCH;
    const cd_kernels *kernels;
    CD_TRY(cd_kernels_select(cfg->kernels, &kernels, err));
    r->test_total = r->set.has_test ? r->set.test.count : 0;
    const int64_t size = r->comm->size, held = (r->test_total + size - 1) / size + (r->val_total + size - 1) / size;
    CD_TRY(check_memory(r, input, kernels, max_batch, end - begin, held, err));
    cd_fault_loadstop(&r->fault, r->comm->rank);
    CD_TRY(cd_data_load_beating(cfg->data, "train", begin, end - begin, r->set.classes, cd_watchdog_beat_cb,
                                r->watchdog, &r->train, err));
    /* The test and validation rows themselves are loaded after the first step: see ensure_test_data. */

    CD_TRY(cd_model_build(&r->spec, input, r->set.classes, max_batch, kernels, &r->model, err));
    r->model_built = 1;
    CD_ALLOC(err, r->rows, (size_t)r->shard_count * (size_t)r->sampler.chunk);
    CD_ALLOC(err, r->perm, r->shard_count);
    for (int s = 0; s < r->shard_count; s++) {
        cd_sampler_shard_rows(&r->sampler, r->shard_first + s, &begin, &end);
        CD_ALLOC(err, r->perm[s], end - begin);
    }
    r->perm_epoch = -1;
    return CD_OK;
}

/* Collective: the input normalisation, from the file's mean/std attributes or, when it has none, from
 * the exact integer sums of every training row's pixels (each rank sums its rows, one exact allreduce),
 * so every rank and every rank count gets the same doubles. */
static cd_status resolve_norm(run *r, cd_error *err)
{
    const cd_data_info *info = &r->set.train;
    const int channels = info->channels;
    char mean[CD_NORM_TEXT_MAX], std[CD_NORM_TEXT_MAX];
    if (info->has_norm) {
        memcpy(r->norm_mean, info->mean, sizeof r->norm_mean);
        memcpy(r->norm_std, info->std, sizeof r->norm_std);
    } else {
        int64_t sums[2 * CD_MAX_CHANNELS];
        cd_data_pixel_sums(&r->train, 0, r->train.count, sums);
        CD_TRY(r->comm->allreduce_sum_i64(r->comm, sums, 2 * channels, err));
        CD_TRY(cd_data_norm_from_sums(sums, channels, r->sampler.rows, (int64_t)info->height * info->width,
                                      r->cfg->data, r->norm_mean, r->norm_std, err));
    }
    CD_TRY(agree(r, cd_data_set_norm(&r->train, r->norm_mean, r->norm_std, err), err));
    /* Four digits for people; the checkpoint keeps every bit (cd_data_norm_format). */
    size_t used = 0;
    for (int k = 0; k < 2; k++) {
        const double *v = k ? r->norm_std : r->norm_mean;
        used += (size_t)snprintf(r->norm_desc + used, sizeof r->norm_desc - used, "%s", k ? " std " : "mean ");
        for (int c = 0; c < channels && used < sizeof r->norm_desc; c++)
            used += (size_t)snprintf(r->norm_desc + used, sizeof r->norm_desc - used, "%s%.4f", c ? "," : "", v[c]);
    }
    if (used < sizeof r->norm_desc)
        snprintf(r->norm_desc + used, sizeof r->norm_desc - used, "%s",
                 info->has_norm ? " (from the file)" : " (computed at start-up)");
    cd_data_norm_format(r->norm_mean, channels, mean, sizeof mean);
    cd_data_norm_format(r->norm_std, channels, std, sizeof std);
    snprintf(r->id.norm_mean, sizeof r->id.norm_mean, "%s", mean);
    snprintf(r->id.norm_std, sizeof r->id.norm_std, "%s", std);
    return CD_OK;
}

/* Rank 0, once the run is sure to start (so a refusal stays one line): what the data file left to us. */
static void data_notes(run *r)
{
    if (!is_root(r) || !r->rep || !r->rep->note) return;
    char line[CD_NORM_TEXT_MAX * 2 + 512];
    if (!r->set.train.has_norm) {
        snprintf(line, sizeof line, "%s: /train/images has no mean/std attributes: normalising with %s over its %" PRId64
                 " training rows; store them in the file (the converter datasets/mnist2h5 writes them) so that every "
                 "run and tool uses the same", r->cfg->data, r->norm_desc, r->sampler.rows);
        r->rep->note(r->rep->ctx, line);
    }
    if (!r->set.has_test) {
        snprintf(line, sizeof line, "%s has no /test split: training without a test evaluation%s", r->cfg->data,
                 r->val_total ? " (the validation rows are evaluated each epoch)" : "");
        r->rep->note(r->rep->ctx, line);
    }
}

/* The run's identity and the checkpoint's view of the host arenas, once the model is built. */
static void describe_run(run *r)
{
    const cd_train_config *cfg = r->cfg;
    r->id.model = r->spec_text;
    r->id.data = cfg->data;
    cd_path_absolute(cfg->data, r->data_abs, sizeof r->data_abs);
    r->id.data_abs = r->data_abs;
    r->id.data_rows = r->sampler.rows;
    r->id.data_height = r->set.train.height;
    r->id.data_width = r->set.train.width;
    r->id.data_channels = r->set.train.channels;
    r->id.classes = r->set.classes;
    r->id.class_names = r->set.class_names;
    r->id.val_rows = r->val_total;
    r->id.ranks = r->comm->size;
    r->id.batch = cfg->batch;
    r->id.seed = cfg->seed;
    r->id.lr = cfg->lr;
    r->id.momentum = cfg->momentum;
    r->id.steps_per_epoch = r->sampler.steps_per_epoch;
    cd_lr_schedule_format(cfg->lr_schedule, schedule_steps(r), r->id.lr_schedule, sizeof r->id.lr_schedule);
    r->arenas = (cd_run_arenas){.tensors = r->tensors, .n_tensors = cd_model_tensor_views(&r->model, r->tensors),
                                .params = r->model.arena.params, .momentum = r->model.arena.momentum,
                                .n_params = r->model.arena.count};
}

/* Collective: the checksum of the whole training split, from each rank's rows (the sum of row hashes does
 * not depend on which rank holds which row, so every rank count gets the same value). */
static cd_status data_checksum(run *r, cd_error *err)
{
    uint64_t *all = NULL;
    CD_ALLOC(err, all, r->comm->size);
    cd_status st = r->comm->allgather_u64(r->comm, cd_data_rows_checksum(&r->train), all, err);
    uint64_t sum = 0;
    for (int k = 0; k < r->comm->size; k++) sum += all[k];
    cd_free(all);
    r->id.data_checksum = sum;
    return st;
}

/* Collective. The test rows are read after the first training step rather than before it, so start-up
 * reads only what the first step needs; a bad test split still stops the run a moment later, on every
 * rank together. Each rank holds a contiguous share; counts are summed exactly. */
static cd_status load_share(run *r, const char *split, int64_t offset, int64_t n, cd_dataset *out, cd_error *err)
{
    const int64_t size = r->comm->size, rank = r->comm->rank;
    const int64_t first = n * rank / size, count = n * (rank + 1) / size - first;
    CD_TRY(cd_data_load_beating(r->cfg->data, split, offset + first, count, r->set.classes, cd_watchdog_beat_cb,
                                r->watchdog, out, err));
    return cd_data_set_norm(out, r->norm_mean, r->norm_std, err);
}

/* The same for the validation rows: this rank's share of the last val_total rows of /train. */
static cd_status ensure_test_data(run *r, cd_error *err)
{
    if (r->test_loaded) return CD_OK;
    cd_status st = CD_OK;
    if (r->test_total) st = load_share(r, "test", 0, r->test_total, &r->test, err);
    if (st == CD_OK && r->val_total) st = load_share(r, "train", r->sampler.rows, r->val_total, &r->val, err);
    CD_TRY(agree(r, st, err));
    r->test_loaded = 1;
    return CD_OK;
}

/* ---- one step ------------------------------------------------------------------------------------- */

/* The host arenas from the replica (for checkpoints and weight checks). */
static cd_status sync_host(run *r, cd_error *err)
{
    return replica(r)->ops->download(replica(r), r->model.arena.params, r->model.arena.momentum, err);
}

/* Chunks [first, first + g) of this rank's step into the replica's staging buffers. */
static void stage_chunks(run *r, int first, int g)
{
    const cd_sampler *s = &r->sampler;
    const int64_t pos = r->pos.step % s->steps_per_epoch;
    float *x = replica(r)->ops->input(replica(r));
    uint8_t *labels = replica(r)->ops->labels(replica(r));
    for (int j = 0; j < g; j++) {
        int64_t begin, end;
        cd_sampler_shard_rows(s, r->shard_first + first + j, &begin, &end);
        for (int q = 0; q < s->chunk; q++)
            r->rows[(size_t)j * s->chunk + q] =
                (uint32_t)(begin - r->train.first_row) + r->perm[first + j][pos * s->chunk + q];
    }
    cd_data_gather(&r->train, r->rows, g * s->chunk, x, labels);
}

/* This rank's chunks of the current step into the replica's step buffer. Returns a local error, if any. */
static cd_status local_step(run *r, cd_error *err)
{
    const cd_sampler *s = &r->sampler;
    cd_replica *rep = replica(r);
    const int64_t epoch = r->pos.step / s->steps_per_epoch;
    if (epoch != r->perm_epoch) {
        for (int k = 0; k < r->shard_count; k++) cd_sampler_epoch_order(s, epoch, r->shard_first + k, r->perm[k]);
        r->perm_epoch = epoch;
    }
    cd_fault_sigterm(&r->fault, r->comm->rank, r->pos.step);
    const int64_t poison =
        cd_fault_hits(&r->fault, CD_FAULT_NAN, r->comm->rank, r->pos.step) ? (int64_t)(rep->n_params / 2) : -1;
    CD_TRY(rep->ops->begin_step(rep, err));
    for (int first = 0; first < r->shard_count; first += rep->max_chunks) {
        const int g = r->shard_count - first < rep->max_chunks ? r->shard_count - first : rep->max_chunks;
        stage_chunks(r, first, g);
        cd_status st = rep->ops->chunks(rep, first, g, 1.0f / (float)s->batch, first == 0 ? poison : -1, err);
        if (st != CD_OK) {
            cd_error_prefix(err, "step %" PRId64 " (samples %d-%d): ", r->pos.step, r->shard_first + first,
                            r->shard_first + first + g - 1);
            return st;
        }
    }
    return CD_OK;
}

/* One global step: this rank's chunks (or a pending failure in their place), the one allreduce of
 * gradients + slots, failure agreement, the update. */
static cd_status step(run *r, cd_status pending, const cd_error *pending_err, cd_error *err)
{
    cd_replica *rep = replica(r);
    cd_comm *sum = r->dev.grad_comm;
    cd_status local = pending != CD_OK ? pending : local_step(r, err);
    if (pending != CD_OK) *err = *pending_err;
    cd_fault_stall(&r->fault, r->comm->rank, r->pos.step);
    int64_t *buf = NULL;
    CD_TRY(rep->ops->reduce_buffer(rep, sum->memory, cd_signals_pending() != 0, local != CD_OK, &buf, err));
    CD_TRY(sum->allreduce_sum_i64(sum, buf, rep->n_params + CD_SLOTS, err));
    CD_TRY(rep->ops->reduced(rep, sum->memory, r->slots, err));
    if (r->slots[CD_SLOT_ERROR]) {
        int chunk = -1;
        if (local == CD_OK) local = rep->ops->failure(rep, &chunk, err);
        if (local != CD_OK && chunk >= 0)
            cd_error_prefix(err, "step %" PRId64 " (sample %d): ", r->pos.step, r->shard_first + chunk);
        return agree(r, local, err);
    }
    CD_TRY(rep->ops->update(rep, (float)lr_of_step(r, r->pos.step), (float)r->cfg->momentum, err));
    if (cd_fault_hits(&r->fault, CD_FAULT_PERTURB, r->comm->rank, r->pos.step)) {
        CD_TRY(sync_host(r, err));
        cd_fault_perturb(r->model.arena.params);
        CD_TRY(rep->ops->upload(rep, r->model.arena.params, r->model.arena.momentum, err));
    }
    return CD_OK;
}

/* Collective: every rank's weight checksum against rank 0's, so a silent divergence (mixed CPUs or
 * kernel sets, a flipped bit) stops the run with the ranks that differ. */
static cd_status check_weights(run *r, cd_error *err)
{
    CD_TRY(sync_host(r, err));
    uint64_t mine = cd_checksum_floats(r->model.arena.params, r->model.arena.count);
    mine ^= cd_checksum_floats(r->model.arena.momentum, r->model.arena.count) * 31;
    uint64_t *all = NULL;
    CD_ALLOC(err, all, r->comm->size);
    cd_status st = r->comm->allgather_u64(r->comm, mine, all, err);
    char list[512] = "";
    size_t used = 0;
    int differ = 0;
    for (int k = 1; st == CD_OK && k < r->comm->size; k++) {
        if (all[k] == all[0]) continue;
        differ++;
        if (used + 16 < sizeof list) used += (size_t)snprintf(list + used, sizeof list - used, "%s%d", used ? "," : "", k);
    }
    cd_free(all);
    CD_TRY(st);
    if (differ)
        return CD_FAIL(err, CD_E_NUMERIC, "weights diverged at step %" PRId64 ": rank(s) %s%s differ from rank 0 "
                       "(mixed CPUs or kernel sets across nodes? use the same --kernels everywhere)", r->pos.step, list,
                       used + 16 >= sizeof list ? ",..." : "");
    return CD_OK;
}

/* Collective: the accuracy (and, when loss is not NULL, the mean loss) of the current weights on the
 * test rows or the validation rows, the same for any rank count (integer counts, summed exactly). */
static cd_status evaluate(run *r, const cd_dataset *d, double *accuracy, double *loss, cd_error *err)
{
    CD_TRY(ensure_test_data(r, err));
    int64_t counts[3] = {0, 0, d->count};
    cd_status st = cd_evaluate(replica(r), d, r->model.classes, &counts[0], loss ? &counts[1] : NULL, NULL,
                               cd_watchdog_beat_cb, r->watchdog, err);
    CD_TRY(agree(r, st, err));
    CD_TRY(r->comm->allreduce_sum_i64(r->comm, counts, 3, err));
    *accuracy = counts[2] ? (double)counts[0] / (double)counts[2] : 0.0;
    if (loss) *loss = counts[2] ? (double)counts[1] / CD_EVAL_LOSS_SCALE / (double)counts[2] : 0.0;
    return CD_OK;
}

/* ---- reporting (rank 0) --------------------------------------------------------------------------- */

/* epoch_loss_fx sums each step's mean loss */
static double epoch_loss(const run *r)
{
    const cd_position *p = &r->pos;
    return p->epoch_samples ? cd_fixed_to_double(p->epoch_loss_fx) * r->cfg->batch / (double)p->epoch_samples : 0.0;
}

static void report_step(run *r)
{
    if (!is_root(r)) return;
    if (!r->first_step_logged) {
        /* Start-up cost as a user sees it: process start (or run start) to the end of the first step. */
        const double since = now_s() - (r->cfg->process_start > 0 ? r->cfg->process_start : r->run_start);
        cd_metrics_note(&r->metrics, "first_step_s", since);
        if (r->rep && r->rep->first_step) r->rep->first_step(r->rep->ctx, since);
        r->first_step_logged = 1;
    }
    if (r->rep && r->rep->step) {
        const cd_progress p = {.step = r->pos.step, .steps_per_epoch = r->sampler.steps_per_epoch,
                               .epochs = r->cfg->epochs, .total_steps = r->total_steps, .batch = r->cfg->batch,
                               .epoch_samples = r->pos.epoch_samples, .epoch_seconds = r->pos.epoch_seconds,
                               .epoch_loss = epoch_loss(r), .run_seconds = now_s() - r->run_start};
        r->rep->step(r->rep->ctx, &p);
    }
    const int64_t every = r->cfg->log_every;
    if (every > 0 && r->pos.step % every == 0)
        cd_metrics_step(&r->metrics, r->pos.step, cd_fixed_to_double(r->slots[CD_SLOT_LOSS]), lr_of_step(r, r->pos.step - 1));
}

/* held_acc/held_loss: the validation rows' with --val-rows, else the test split's (when there is one). */
static void report_epoch(run *r, double held_acc, double held_loss)
{
    if (!is_root(r)) return;
    const cd_position *p = &r->pos;
    const int has_val = r->val_total > 0, has_test = !has_val && r->test_total > 0;
    const cd_epoch_summary e = {
        .epoch = p->step / r->sampler.steps_per_epoch, .epochs = r->cfg->epochs, .step = p->step,
        .loss = epoch_loss(r), .train_acc = p->epoch_samples ? (double)p->epoch_correct / (double)p->epoch_samples : 0.0,
        .test_acc = has_test ? held_acc : 0.0, .test_loss = has_test ? held_loss : 0.0,
        .img_per_s = p->epoch_seconds > 0 ? (double)p->epoch_samples / p->epoch_seconds : 0.0,
        .elapsed_s = now_s() - r->run_start, .has_test = has_test, .has_val = has_val,
        .val_acc = has_val ? held_acc : 0.0, .val_loss = has_val ? held_loss : 0.0,
        .lr = lr_of_step(r, p->step - 1)};
    if (r->rep && r->rep->epoch) r->rep->epoch(r->rep->ctx, &e);
    cd_metrics_epoch(&r->metrics, &e, r->comm->size);
}

/* ---- the run -------------------------------------------------------------------------------------- */

static cd_status checkpoint(run *r, int final, cd_error *err)
{
    if (r->cfg->no_ckpt) return CD_OK;
    /* Every rank's replica is in the same state; rank 0's host arenas are the ones written. */
    if (is_root(r)) CD_TRY(sync_host(r, err));
    cd_run_history(r->history_before, r->has_event ? r->segment_event : NULL, r->comm->size, r->segment_start,
                   r->pos.step, r->history, sizeof r->history);
    r->id.history = r->history;
    return cd_write_checkpoint(r->cfg, &r->id, &r->pos, &r->arenas, r->comm->rank, final, r->last_ckpt, err);
}

static cd_status stop_on_signal(run *r, cd_error *err)
{
    /* The checkpoint (renamed, directory synced) and the stop line come before the stop's first
     * collective: Open MPI's mpirun, signalled itself, SIGKILLs the ranks a second after passing the
     * signal on, and a rank may never return from a collective after that. */
    cd_status st = checkpoint(r, 0, err);
    if (st == CD_OK && is_root(r) && r->rep && r->rep->stopped) r->rep->stopped(r->rep->ctx, r->pos.step, r->last_ckpt);
    cd_fault_stopstall(&r->fault, r->comm->rank);
    CD_TRY(agree(r, st, err));
    return CD_FAIL(err, CD_E_STOPPED, "stopped by signal at step %" PRId64, r->pos.step);
}

/* Collective: the epoch's evaluation (validation rows, else the test set) and report; the epoch's
 * totals start again. */
static cd_status end_epoch(run *r, cd_error *err)
{
    cd_position *p = &r->pos;
    double acc = 0, loss = 0;
    if (r->val_total) CD_TRY(evaluate(r, &r->val, &acc, &loss, err));
    else if (r->test_total) CD_TRY(evaluate(r, &r->test, &acc, &loss, err));
    report_epoch(r, acc, loss);
    p->epoch_loss_fx = p->epoch_correct = p->epoch_samples = 0;
    p->epoch_seconds = 0;
    return CD_OK;
}

/* After a step: totals, progress, checks, the epoch's end, periodic checkpoints. *pending gets a local
 * failure (rank 0's checkpoint write) to report with the next step's reduction. */
static cd_status after_step(run *r, double t0, cd_status *pending, cd_error *pending_err, cd_error *err)
{
    const cd_train_config *cfg = r->cfg;
    const int64_t spe = r->sampler.steps_per_epoch;
    cd_position *p = &r->pos;
    p->epoch_loss_fx += r->slots[CD_SLOT_LOSS];
    p->epoch_correct += r->slots[CD_SLOT_CORRECT];
    p->epoch_samples += cfg->batch;
    p->step++;
    p->epoch_seconds += now_s() - t0;
    cd_watchdog_beat(r->watchdog);
    report_step(r);
    CD_TRY(ensure_test_data(r, err));
    if (cfg->check_every > 0 && p->step % cfg->check_every == 0) CD_TRY(check_weights(r, err));
    if (r->slots[CD_SLOT_STOP]) return stop_on_signal(r, err);
    const int epoch_end = p->step % spe == 0;
    if (epoch_end) CD_TRY(end_epoch(r, err));
    const int want = cfg->ckpt_every > 0 ? p->step % cfg->ckpt_every == 0 : epoch_end;
    if (want && p->step < r->total_steps) {
        *pending = checkpoint(r, 0, pending_err);
        cd_watchdog_beat(r->watchdog);
    }
    return CD_OK;
}

static cd_status train_loop(run *r, cd_error *err)
{
    cd_status pending = CD_OK; /* a local failure (e.g. rank 0's checkpoint write) to report at the next reduction */
    cd_error pending_err = {0};
    while (r->pos.step < r->total_steps) {
        const double t0 = now_s();
        /* A pending failure travels with this step's reduction instead of the step's own work. */
        cd_status previous = pending;
        pending = CD_OK;
        CD_TRY(step(r, previous, &pending_err, err));
        CD_TRY(after_step(r, t0, &pending, &pending_err, err));
    }
    /* Periodic writes happen only before the last step, so every pending failure has travelled. */
    return CD_OK;
}

static void banner(run *r, const char *config)
{
    if (!is_root(r) || !r->rep || !r->rep->banner) return;
    const cd_sampler *s = &r->sampler;
    const cd_run_info info = {
        .model = r->spec_text, .n_params = r->model.arena.count, .ranks = r->comm->size,
        .kernels = r->model.kernels->name, .device = replica(r)->device, .device_name = replica(r)->name,
        .ranks_share_gpus = r->dev.ranks_share_gpus, .grad_comm = r->dev.grad_comm->name, .config = config,
        .data = r->cfg->data, .train_rows = s->rows, .test_rows = r->test_total, .val_rows = r->val_total,
        .channels = r->set.train.channels, .height = r->set.train.height, .width = r->set.train.width,
        .classes = r->set.classes, .norm = r->norm_desc,
        .batch = r->cfg->batch, .steps_per_epoch = s->steps_per_epoch,
        .skipped_per_epoch = s->rows - s->steps_per_epoch * r->cfg->batch, .epochs = r->cfg->epochs,
        .total_steps = r->total_steps, .layers = r->model.layers, .n_layers = r->model.n_layers};
    r->rep->banner(r->rep->ctx, &info);
}

/* What starts this segment of the run history: a restart by launch/elastic.sh (which names its reason in
 * CNN_DDP_RESTART_REASON), a plain resume, or nothing (a fresh run). */
static void segment_begins(run *r, int resumed)
{
    const char *reason = getenv("CNN_DDP_RESTART_REASON");
    r->segment_start = r->pos.step;
    r->has_event = resumed || (reason && *reason);
    if (reason && *reason)
        snprintf(r->segment_event, sizeof r->segment_event, "restart (%.500s)%s", reason, resumed ? "" : " from scratch");
    else
        snprintf(r->segment_event, sizeof r->segment_event, "resumed");
}

/* Collective: everything before the first step. */
static cd_status start(run *r, cd_error *err)
{
    CD_TRY(agree(r, resolve_batch(r, err), err));
    const cd_train_config *cfg = r->cfg;
    cd_status st = cd_spec_parse(cfg->model, &r->spec, err);
    char data_note[256 + 2 * CD_PATH_MAX] = "";
    if (st == CD_OK) st = cd_train_find_data(&r->resolved, data_note, sizeof data_note, err);
    if (st == CD_OK) st = load_local_data(r, err);
    CD_TRY(agree(r, st, err));
    if (data_note[0] && is_root(r) && r->rep && r->rep->note) r->rep->note(r->rep->ctx, data_note);
    CD_TRY(resolve_norm(r, err));
    describe_run(r);
    CD_TRY(data_checksum(r, err));
    cd_model_init_params(&r->model, cfg->seed);
    /* --init-from: its weights replace the fresh ones, and its id joins this run's identity, before the
     * directory is claimed and a resume looks for this run's checkpoints (which then win). */
    char init_note[CD_PATH_MAX + 160] = "";
    if (cfg->init_from[0]) {
        CD_TRY(cd_init_from(cfg, r->comm, &r->arenas, r->id.init_from, init_note, sizeof init_note, err));
        r->id.init_from_path = cfg->init_from;
    }
    /* Before anything is written: the directory is this run's (or refused), and locked. */
    CD_TRY(agree(r, cd_claim_ckpt_dir(cfg, &r->id, r->comm->rank, r->rep, &r->lock, err), err));
    const int64_t limit = schedule_steps(r);
    r->total_steps = cfg->max_steps > 0 && cfg->max_steps < limit ? cfg->max_steps : limit;
    int resumed = CD_RESUMED_NONE;
    if (cfg->resume != CD_RESUME_NONE)
        CD_TRY(cd_resume(cfg, &r->id, r->total_steps, r->comm, &r->arenas, r->rep, &r->pos, &resumed,
                         r->history_before, err));
    if (init_note[0] && resumed == CD_RESUMED_NONE && is_root(r) && r->rep && r->rep->note)
        r->rep->note(r->rep->ctx, init_note);
    r->finished = resumed == CD_RESUMED_FINISHED;
    if (r->finished) return CD_OK;
    segment_begins(r, resumed == CD_RESUMED);
    CD_TRY(cd_device_open(cfg, r->comm, &r->model, r->sampler.chunk, r->shard_count, r->watchdog, &r->dev, err));
    char config[CD_CKPT_CONFIG_MAX];
    cd_train_config_format(cfg, config, sizeof config);
    st = CD_OK;
    if (is_root(r)) st = cd_metrics_open(&r->metrics, cfg->metrics, resumed, config, r->comm->size, replica(r)->device, err);
    if (st == CD_OK) data_notes(r);
    if (st == CD_OK && is_root(r))
        cd_metrics_segment(&r->metrics, r->comm->size, r->segment_start, r->has_event ? r->segment_event : "start",
                           r->history_before);
    if (st == CD_OK) banner(r, config);
    return agree(r, st, err);
}

/* Collective. A stop that landed exactly on an epoch's last step wrote its checkpoint before that
 * epoch's evaluation (the stop comes first: see stop_on_signal), keeping the whole epoch's totals. The
 * resumed run evaluates and reports that epoch before its first step, as an uninterrupted run did. */
static cd_status report_stopped_epoch(run *r, cd_error *err)
{
    cd_position *p = &r->pos;
    const int64_t spe = r->sampler.steps_per_epoch;
    if (p->step == 0 || p->step % spe != 0 || p->epoch_samples != spe * r->cfg->batch) return CD_OK;
    CD_TRY(ensure_test_data(r, err));
    return end_epoch(r, err);
}

static cd_status run_all(run *r, cd_error *err)
{
    r->run_start = now_s();
    if (!r->watchdog) {
        r->watchdog = &r->own_watchdog;
        CD_TRY(cd_watchdog_start(r->watchdog, r->cfg->timeout_s, r->comm->rank, err));
    }
    cd_status st = start(r, err);
    if (st == CD_OK && r->finished) {
        cd_watchdog_stop(&r->own_watchdog);
        return CD_OK;
    }
    if (st == CD_OK) st = report_stopped_epoch(r, err);
    if (st == CD_OK) st = train_loop(r, err);
    if (st == CD_OK) {
        double acc = NAN, loss = NAN; /* no /test split: nothing to report */
        if (r->test_total) st = evaluate(r, &r->test, &acc, &loss, err);
        if (st == CD_OK) st = agree(r, checkpoint(r, 1, err), err);
        if (st == CD_OK && is_root(r)) {
            if (r->rep && r->rep->final) r->rep->final(r->rep->ctx, r->pos.step, acc, r->last_ckpt);
            cd_metrics_final(&r->metrics, r->pos.step, acc, loss, now_s() - r->run_start);
        }
    }
    /* While the watchdog still runs: an NCCL teardown waits on the other ranks. A stop by signal is a
     * clean end every rank agreed on; any other failure aborts the communicator. */
    cd_device_close(&r->dev, st != CD_OK && st != CD_E_STOPPED, r->watchdog);
    cd_watchdog_stop(&r->own_watchdog);
    return st;
}

cd_status cd_train_run(const cd_train_config *cfg, cd_comm *comm, const cd_reporter *reporter, cd_error *err)
{
    return cd_train_run_watched(cfg, comm, reporter, NULL, err);
}

cd_status cd_train_run_watched(const cd_train_config *cfg, cd_comm *comm, const cd_reporter *reporter,
                               cd_watchdog *watchdog, cd_error *err)
{
    run *r = NULL;
    CD_ALLOC(err, r, 1);
    r->resolved = *cfg;
    const cd_model_recipe recipe = cd_spec_default_recipe(cfg->model);
    if (r->resolved.lr == 0) r->resolved.lr = recipe.lr;
    if (r->resolved.lr_schedule == CD_LR_MODEL_DEFAULT)
        r->resolved.lr_schedule = recipe.cosine ? CD_LR_COSINE : CD_LR_CONSTANT;
    r->cfg = &r->resolved;
    r->comm = comm;
    r->rep = comm->rank == 0 ? reporter : NULL;
    r->fault = cd_fault_from_env();
    r->lock.fd = -1;
    r->watchdog = watchdog;
    cd_status st = run_all(r, err);
    cd_ckpt_unlock_dir(&r->lock);
    cd_metrics_close(&r->metrics);
    cd_device_close(&r->dev, st != CD_OK && st != CD_E_STOPPED, NULL); /* run_all closed it: frees nothing unless it returned early */
    if (r->model_built) cd_model_free(&r->model);
    for (int k = 0; r->perm && k < r->shard_count; k++) cd_free(r->perm[k]);
    cd_free(r->perm);
    cd_free(r->rows);
    cd_data_free(&r->train);
    cd_data_free(&r->test);
    cd_data_free(&r->val);
    cd_free(r);
    return st;
}
