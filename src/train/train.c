/* The training loop. Per global step every rank computes the gradients of the chunks it owns (one per
 * local shard, each on its own so its bits do not depend on the rank), adds them into one int64
 * fixed-point buffer, and a single allreduce sums the buffer across ranks; the same buffer carries the
 * loss, the hit count and the error and stop flags, so one collective per step keeps all ranks in step. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cnn_ddp/ckpt.h"
#include "cnn_ddp/cuda.h"
#include "cnn_ddp/data.h"
#include "cnn_ddp/model.h"
#include "cnn_ddp/reduce.h"
#include "cnn_ddp/sampler.h"
#include "cnn_ddp/train.h"
#include "train/metrics.h"
#include "train/watchdog.h"

enum { SLOT_LOSS, SLOT_CORRECT, SLOT_ERROR, SLOT_STOP, SLOT_COUNT };
enum { CD_MAX_LOCAL_SHARDS = 4096, CD_EVAL_BATCH = 64, CD_MAX_CKPTS = 256 };

/* Fault injection for the robustness tests, from CNN_DDP_FAULT="KIND:RANK:STEP" with KIND one of
 * nan (a NaN gradient), perturb (flip a weight bit after the update) or stall (hang before the
 * reduction). Read once at start-up; inert unless the variable is set. */
typedef enum { FAULT_NONE, FAULT_NAN, FAULT_PERTURB, FAULT_STALL } fault_kind;
typedef struct fault {
    fault_kind kind;
    int rank;
    int64_t step;
} fault;

static fault fault_from_env(void)
{
    fault f = {FAULT_NONE, -1, -1};
    const char *v = getenv("CNN_DDP_FAULT");
    char kind[16];
    int rank;
    long long step;
    if (!v || sscanf(v, "%15[a-z]:%d:%lld", kind, &rank, &step) != 3) return f;
    f.kind = !strcmp(kind, "nan") ? FAULT_NAN : !strcmp(kind, "perturb") ? FAULT_PERTURB : !strcmp(kind, "stall") ? FAULT_STALL : FAULT_NONE;
    f.rank = rank;
    f.step = step;
    return f;
}

static int fault_hits(const fault *f, fault_kind kind, int rank, int64_t step)
{
    return f->kind == kind && f->rank == rank && f->step == step;
}

typedef struct run {
    fault fault;
    const cd_train_config *cfg; /* -> resolved */
    cd_train_config resolved;   /* the caller's config with the model's default lr and schedule filled in */
    cd_comm *comm;
    cd_model_spec spec;
    char spec_text[CD_SPEC_TEXT_MAX];
    cd_model model;
    int model_built;
    cd_sampler sampler;
    int shard_first, shard_count;
    cd_dataset train, test;
    int64_t test_total;
    int test_loaded;
    uint32_t *perm[CD_MAX_LOCAL_SHARDS];
    int64_t perm_epoch;
    int64_t *acc;
    uint32_t *rows;    /* one chunk's local row indices */
    uint8_t *labels;   /* labels of one chunk or evaluation batch */
    size_t n_params;
    cd_ckpt_tensor tensors[2 * CD_MAX_LAYERS];
    int n_tensors;
    cd_metrics metrics;
    cd_watchdog watchdog;
    /* position and running totals of the epoch in progress */
    int64_t step, total_steps;
    int64_t epoch_loss_fx, epoch_correct, epoch_samples;
    double epoch_seconds;
    double run_start;
    char last_ckpt[CD_PATH_MAX];
    int progress_bar;       /* rank 0 on a terminal: a live one-line bar per epoch */
    int first_step_logged;
    cd_cuda_replica *replica; /* --device cuda: the model lives there; model.arena is synced on demand */
    int cuda_group;           /* chunks per replica launch */
    double last_bar;
} run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int is_root(const run *r) { return r->comm->rank == 0; }

/* Collective: all ranks agree on the first failure; its message gets the failing rank's number. */
static cd_status agree(run *r, cd_status local, cd_error *err)
{
    int failed = -1;
    cd_status st = cd_comm_agree(r->comm, local, err, &failed);
    if (st != CD_OK && r->comm->size > 1 && failed >= 0 && st != CD_E_COMM) cd_error_prefix(err, "rank %d: ", failed);
    return st;
}

/* ---- set-up --------------------------------------------------------------------------------------- */

static cd_status load_local_data(run *r, cd_error *err)
{
    const cd_train_config *cfg = r->cfg;
    cd_data_info info, test_info;
    CD_TRY(cd_data_inspect(cfg->data, "train", &info, err));
    CD_TRY(cd_data_inspect(cfg->data, "test", &test_info, err));
    if (test_info.height != info.height || test_info.width != info.width)
        return CD_FAIL(err, CD_E_INPUT, "%s: /test/images are %dx%d but /train/images are %dx%d", cfg->data,
                       test_info.height, test_info.width, info.height, info.width);
    CD_TRY(cd_sampler_init(&r->sampler, info.count, cfg->shards, cfg->batch, cfg->seed, err));
    CD_TRY(cd_sampler_rank_shards(cfg->shards, r->comm->size, r->comm->rank, &r->shard_first, &r->shard_count, err));
    if (r->shard_count > CD_MAX_LOCAL_SHARDS)
        return CD_FAIL(err, CD_E_USAGE, "--shards %d gives rank %d %d shards; at most %d per rank are supported",
                       cfg->shards, r->comm->rank, r->shard_count, CD_MAX_LOCAL_SHARDS);
    int64_t begin, end, unused;
    cd_sampler_shard_rows(&r->sampler, r->shard_first, &begin, &unused);
    cd_sampler_shard_rows(&r->sampler, r->shard_first + r->shard_count - 1, &unused, &end);
    CD_TRY(cd_data_load(cfg->data, "train", begin, end - begin, &r->train, err));

    /* Evaluation: a contiguous share of the test rows per rank; counts are summed exactly. */
    int64_t n = test_info.count, size = r->comm->size, rank = r->comm->rank;
    r->test_total = n;
    (void)rank, (void)size; /* the test rows themselves are loaded after the first step: see ensure_test_data */

    cd_shape input = {1, info.height, info.width};
    int max_batch = r->sampler.chunk > CD_EVAL_BATCH ? r->sampler.chunk : CD_EVAL_BATCH;
    const cd_kernels *kernels;
    CD_TRY(cd_kernels_select(cfg->kernels, &kernels, err));
    CD_TRY(cd_model_build(&r->spec, input, CD_CLASSES, max_batch, kernels, &r->model, err));
    r->model_built = 1;
    r->n_params = r->model.arena.count;
    CD_ALLOC(err, r->acc, r->n_params + SLOT_COUNT);
    CD_ALLOC(err, r->rows, r->sampler.chunk);
    CD_ALLOC(err, r->labels, max_batch);
    for (int s = 0; s < r->shard_count; s++) {
        cd_sampler_shard_rows(&r->sampler, r->shard_first + s, &begin, &end);
        CD_ALLOC(err, r->perm[s], end - begin);
    }
    r->perm_epoch = -1;

    r->n_tensors = cd_model_tensor_views(&r->model, r->tensors);
    return CD_OK;
}

/* The schedule runs over --epochs (not --max-steps), so a run stopped early and resumed follows the
 * same curve as one that never stopped. */
static int64_t schedule_steps(const run *r)
{
    return r->cfg->epochs * r->sampler.steps_per_epoch;
}

/* The learning rate of the step being taken (r->step, 0-based). */
static double lr_now(const run *r)
{
    return cd_lr_at(r->cfg->lr, r->cfg->lr_schedule, r->step, schedule_steps(r));
}

static void fill_meta(const run *r, cd_ckpt_meta *meta)
{
    memset(meta, 0, sizeof *meta);
    snprintf(meta->version, sizeof meta->version, "%s", CNN_DDP_VERSION);
    snprintf(meta->model, sizeof meta->model, "%s", r->spec_text);
    meta->step = r->step;
    meta->epoch = r->step / r->sampler.steps_per_epoch;
    meta->step_in_epoch = r->step % r->sampler.steps_per_epoch;
    meta->seed = r->cfg->seed;
    meta->shards = r->cfg->shards;
    meta->batch = r->cfg->batch;
    meta->lr = r->cfg->lr;
    cd_lr_schedule_format(r->cfg->lr_schedule, schedule_steps(r), meta->lr_schedule, sizeof meta->lr_schedule);
    meta->momentum = r->cfg->momentum;
    meta->epoch_loss_fx = r->epoch_loss_fx;
    meta->epoch_correct = r->epoch_correct;
    meta->epoch_samples = r->epoch_samples;
    meta->epoch_seconds = r->epoch_seconds;
    cd_train_config_format(r->cfg, meta->config, sizeof meta->config);
}

/* A checkpoint may continue this run only if everything that shapes the training matches. */
static cd_status check_compatible(const run *r, const cd_ckpt_meta *m, const char *path, cd_error *err)
{
    const cd_train_config *c = r->cfg;
    if (strcmp(m->model, r->spec_text) != 0)
        return CD_FAIL(err, CD_E_INPUT, "%s: checkpoint model '%s' does not match --model '%s'", path, m->model, r->spec_text);
    if (m->shards != c->shards)
        return CD_FAIL(err, CD_E_INPUT, "%s: checkpoint has --shards %" PRId64 ", this run --shards %d", path, m->shards, c->shards);
    if (m->batch != c->batch)
        return CD_FAIL(err, CD_E_INPUT, "%s: checkpoint has --batch %" PRId64 ", this run --batch %d", path, m->batch, c->batch);
    if (m->seed != c->seed)
        return CD_FAIL(err, CD_E_INPUT, "%s: checkpoint has --seed %" PRIu64 ", this run --seed %" PRIu64, path, m->seed, c->seed);
    if (m->lr != c->lr || m->momentum != c->momentum)
        return CD_FAIL(err, CD_E_INPUT, "%s: checkpoint has --lr %g --momentum %g, this run --lr %g --momentum %g", path,
                       m->lr, m->momentum, c->lr, c->momentum);
    char schedule[sizeof m->lr_schedule];
    cd_lr_schedule_format(c->lr_schedule, schedule_steps(r), schedule, sizeof schedule);
    if (strcmp(m->lr_schedule, schedule) != 0)
        return CD_FAIL(err, CD_E_INPUT, "%s: checkpoint has --lr-schedule %s, this run %s (a cosine schedule is over "
                       "--epochs x %" PRId64 " steps: resume with the --epochs it started with)", path, m->lr_schedule,
                       schedule, r->sampler.steps_per_epoch);
    if (m->step < 0 || m->epoch_samples < 0 || m->step % r->sampler.steps_per_epoch != m->step_in_epoch)
        return CD_FAIL(err, CD_E_INPUT, "%s: checkpoint position (step %" PRId64 ") does not fit this data set's %" PRId64
                       " steps per epoch", path, m->step, r->sampler.steps_per_epoch);
    return CD_OK;
}

/* Rank 0 picks and reads the checkpoint; everyone else receives it. Returns with *resumed set. */
static cd_status resume(run *r, int *resumed, cd_error *err)
{
    const cd_train_config *cfg = r->cfg;
    cd_ckpt_meta *meta = NULL;
    CD_ALLOC(err, meta, 1);
    cd_status st = CD_OK;
    char chosen[CD_PATH_MAX] = "";
    int found = 0;
    if (is_root(r)) {
        if (cfg->resume == 2) {
            snprintf(chosen, sizeof chosen, "%s", cfg->resume_path);
            found = 1;
        } else {
            /* The newest checkpoint that verifies, by step; damaged ones are reported and skipped. */
            char(*paths)[4096] = cd_alloc_zeroed(sizeof(*paths) * CD_MAX_CKPTS);
            int n = paths ? cd_ckpt_list(cfg->ckpt_dir, paths, CD_MAX_CKPTS) : 0;
            int64_t best = -1;
            for (int i = 0; i < n; i++) {
                cd_error e = {0};
                cd_status v = cd_ckpt_verify(paths[i], meta, &e);
                if (v != CD_OK) {
                    fprintf(stderr, "cnn_ddp: warning: skipping damaged checkpoint: %s\n", e.msg);
                    continue;
                }
                if (meta->step > best) {
                    best = meta->step;
                    snprintf(chosen, sizeof chosen, "%s", paths[i]);
                }
            }
            cd_free(paths);
            found = best >= 0;
            if (!found && n > 0)
                st = CD_FAIL(err, CD_E_INPUT, "--resume: none of the %d checkpoints in %s verifies", n, cfg->ckpt_dir);
            else if (!found && !cfg->quiet)
                printf("no checkpoint in %s: starting from scratch\n", cfg->ckpt_dir);
        }
        if (st == CD_OK && found)
            st = cd_ckpt_read(chosen, r->tensors, r->n_tensors, meta, r->model.arena.params, r->model.arena.momentum,
                              r->n_params, err);
        if (st == CD_OK && found) st = check_compatible(r, meta, chosen, err);
    }
    st = agree(r, st, err);
    int flag = found;
    if (st == CD_OK) st = r->comm->broadcast(r->comm, &flag, sizeof flag, 0, err);
    if (st == CD_OK && flag) {
        st = r->comm->broadcast(r->comm, meta, sizeof *meta, 0, err);
        if (st == CD_OK) st = r->comm->broadcast(r->comm, r->model.arena.params, sizeof(float) * r->n_params, 0, err);
        if (st == CD_OK) st = r->comm->broadcast(r->comm, r->model.arena.momentum, sizeof(float) * r->n_params, 0, err);
        if (st == CD_OK) st = r->comm->broadcast(r->comm, chosen, sizeof chosen, 0, err);
    }
    if (st == CD_OK && flag) {
        r->step = meta->step;
        r->epoch_loss_fx = meta->epoch_loss_fx;
        r->epoch_correct = meta->epoch_correct;
        r->epoch_samples = meta->epoch_samples;
        r->epoch_seconds = meta->epoch_seconds;
        if (is_root(r) && !cfg->quiet)
            printf("resumed from %s at step %" PRId64 " (epoch %" PRId64 ", step %" PRId64 " of %" PRId64 ")\n", chosen,
                   meta->step, meta->epoch + 1, meta->step_in_epoch, r->sampler.steps_per_epoch);
    }
    *resumed = flag;
    cd_free(meta);
    return st;
}

/* ---- checkpoints ---------------------------------------------------------------------------------- */

static cd_status write_checkpoint(run *r, int final, cd_error *err)
{
    if (r->cfg->no_ckpt || !is_root(r)) return CD_OK;
    CD_TRY(cd_ckpt_make_dir(r->cfg->ckpt_dir, err));
    char path[CD_PATH_MAX + 64];
    if (strlen(r->cfg->ckpt_dir) + 40 > CD_PATH_MAX)
        return CD_FAIL(err, CD_E_USAGE, "--ckpt-dir: path too long");
    if (final)
        snprintf(path, sizeof path, "%s/final.h5", r->cfg->ckpt_dir);
    else
        snprintf(path, sizeof path, "%s/step-%" PRId64 ".h5", r->cfg->ckpt_dir, r->step);
    if (r->replica) CD_TRY(cd_cuda_replica_download(r->replica, r->model.arena.params, r->model.arena.momentum, err));
    cd_ckpt_meta *meta = NULL;
    CD_ALLOC(err, meta, 1);
    fill_meta(r, meta);
    cd_status st = cd_ckpt_write(path, meta, r->tensors, r->n_tensors, r->model.arena.params, r->model.arena.momentum,
                                 r->n_params, err);
    cd_free(meta);
    CD_TRY(st);
    snprintf(r->last_ckpt, sizeof r->last_ckpt, "%s", path);
    return final ? CD_OK : cd_ckpt_prune(r->cfg->ckpt_dir, r->cfg->keep, err);
}

/* ---- evaluation ----------------------------------------------------------------------------------- */

static cd_status evaluate_cuda(run *r, int64_t *hits, cd_error *err);

/* Collective. The test rows are read after the first training step rather than before it, so start-up
 * reads only what the first step needs; a bad test split still stops the run a moment later, on every
 * rank together. */
static cd_status ensure_test_data(run *r, cd_error *err)
{
    if (r->test_loaded) return CD_OK;
    int64_t n = r->test_total, size = r->comm->size, rank = r->comm->rank;
    cd_status st = cd_data_load(r->cfg->data, "test", n * rank / size, n * (rank + 1) / size - n * rank / size, &r->test, err);
    CD_TRY(agree(r, st, err));
    r->test_loaded = 1;
    return CD_OK;
}

static cd_status evaluate(run *r, double *accuracy, cd_error *err)
{
    CD_TRY(ensure_test_data(r, err));
    cd_model *m = &r->model;
    int64_t counts[2] = {0, r->test.count};
    if (r->replica) CD_TRY(evaluate_cuda(r, &counts[0], err));
    else for (int64_t start = 0; start < r->test.count; start += m->max_batch) {
        int n = (int)(r->test.count - start < m->max_batch ? r->test.count - start : m->max_batch);
        cd_data_gather_range(&r->test, start, n, m->act[0], r->labels);
        counts[0] += cd_model_predict_count(m, m->act[0], r->labels, n, NULL);
        cd_watchdog_beat(&r->watchdog);
    }
    CD_TRY(r->comm->allreduce_sum_i64(r->comm, counts, 2, err));
    *accuracy = counts[1] ? (double)counts[0] / (double)counts[1] : 0.0;
    return CD_OK;
}

/* ---- one step ------------------------------------------------------------------------------------- */

/* Computes this rank's chunks of global step r->step into r->acc. Returns a local error, if any. */
static cd_status local_step(run *r, cd_error *err)
{
    const cd_sampler *s = &r->sampler;
    cd_model *m = &r->model;
    int64_t epoch = r->step / s->steps_per_epoch, pos = r->step % s->steps_per_epoch;
    if (epoch != r->perm_epoch) {
        for (int k = 0; k < r->shard_count; k++) cd_sampler_epoch_order(s, epoch, r->shard_first + k, r->perm[k]);
        r->perm_epoch = epoch;
    }
    memset(r->acc, 0, sizeof(int64_t) * (r->n_params + SLOT_COUNT));
    int64_t *slots = r->acc + r->n_params;
    const float scale = 1.0f / (float)s->batch;
    for (int k = 0; k < r->shard_count; k++) {
        int64_t begin, end;
        cd_sampler_shard_rows(s, r->shard_first + k, &begin, &end);
        for (int j = 0; j < s->chunk; j++)
            r->rows[j] = (uint32_t)(begin - r->train.first_row) + r->perm[k][pos * s->chunk + j];
        cd_data_gather(&r->train, r->rows, s->chunk, m->act[0], r->labels);
        cd_model_forward(m, m->act[0], s->chunk);
        int correct = 0;
        double loss = cd_model_loss_backward(m, r->labels, s->chunk, scale, &correct);
        /* Losses travel as this chunk's share of the step's mean loss, bounded like the gradients. */
        double share = loss * (double)scale;
        if (!isfinite(share) || fabs(share) > CD_FIXED_LIMIT)
            return CD_FAIL(err, CD_E_NUMERIC, "loss is %g at step %" PRId64 " (shard %d): training diverged", loss, r->step,
                           r->shard_first + k);
        if (fault_hits(&r->fault, FAULT_NAN, r->comm->rank, r->step)) m->arena.grads[r->n_params / 2] = NAN;
        cd_status st = cd_fixed_accumulate(r->acc, m->arena.grads, r->n_params, err);
        if (st != CD_OK) {
            cd_error_prefix(err, "step %" PRId64 " (shard %d): ", r->step, r->shard_first + k);
            return st;
        }
        slots[SLOT_LOSS] += cd_fixed_from_double(share);
        slots[SLOT_CORRECT] += correct;
    }
    return CD_OK;
}

static cd_status check_weights(run *r, cd_error *err)
{
    if (r->replica) CD_TRY(cd_cuda_replica_download(r->replica, r->model.arena.params, r->model.arena.momentum, err));
    uint64_t mine = cd_checksum_floats(r->model.arena.params, r->n_params);
    mine ^= cd_checksum_floats(r->model.arena.momentum, r->n_params) * 31;
    uint64_t all[4096];
    if (r->comm->size > 4096) return CD_OK;
    CD_TRY(r->comm->allgather_u64(r->comm, mine, all, err));
    char list[512] = "";
    size_t used = 0;
    for (int k = 1; k < r->comm->size; k++)
        if (all[k] != all[0] && used + 16 < sizeof list) used += (size_t)snprintf(list + used, sizeof list - used, "%s%d", used ? "," : "", k);
    if (used)
        return CD_FAIL(err, CD_E_NUMERIC, "weights diverged at step %" PRId64 ": rank(s) %s differ from rank 0 "
                       "(mixed CPUs or kernel sets across nodes? use the same --kernels everywhere)", r->step, list);
    return CD_OK;
}

/* "\r" + the bar, redrawn at most every 0.2 s; the epoch summary line replaces it. */
static void draw_progress(run *r)
{
    double now = now_s();
    if (!r->progress_bar || now - r->last_bar < 0.2) return;
    r->last_bar = now;
    const int64_t spe = r->sampler.steps_per_epoch, done = r->step % spe ? r->step % spe : spe;
    const int width = 30;
    int filled = (int)(width * done / spe);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
    bar[width] = '\0';
    double ips = r->epoch_seconds > 0 ? (double)r->epoch_samples / r->epoch_seconds : 0.0;
    double loss = r->epoch_samples ? cd_fixed_to_double(r->epoch_loss_fx) * r->cfg->batch / (double)r->epoch_samples : 0.0;
    double eta = ips > 0 ? (double)(spe - done) * r->cfg->batch / ips : 0.0;
    printf("\repoch %" PRId64 "/%" PRId64 " [%s] %" PRId64 "/%" PRId64 "  %.0f img/s  loss %.4f  ETA %.0f s \033[K",
           r->step / spe + (r->step % spe ? 1 : 0), r->cfg->epochs, bar, done, spe, ips, loss, eta);
    fflush(stdout);
}

static void end_of_epoch_report(run *r, int64_t epoch, double test_acc)
{
    if (!is_root(r)) return;
    if (r->progress_bar) printf("\r\033[K");
    /* epoch_loss_fx sums each step's mean loss */
    double loss = r->epoch_samples ? cd_fixed_to_double(r->epoch_loss_fx) * r->cfg->batch / (double)r->epoch_samples : 0.0;
    double train_acc = r->epoch_samples ? (double)r->epoch_correct / (double)r->epoch_samples : 0.0;
    double ips = r->epoch_seconds > 0 ? (double)r->epoch_samples / r->epoch_seconds : 0.0;
    double elapsed = now_s() - r->run_start;
    if (!r->cfg->quiet)
        printf("epoch %" PRId64 "/%" PRId64 "  loss %.4f  train %.2f%%  test %.2f%%  %.0f img/s  %.1f s\n", epoch + 1,
               r->cfg->epochs, loss, 100.0 * train_acc, 100.0 * test_acc, ips, elapsed);
    fflush(stdout);
    cd_metrics_epoch(&r->metrics, epoch + 1, r->step, loss, train_acc, test_acc, ips, elapsed, r->comm->size);
}

/* ---- the run -------------------------------------------------------------------------------------- */

static cd_status step_cuda(run *r, cd_status pending, const cd_error *pending_err, cd_error *err);

/* One global step on the CPU: this rank's chunks, one allreduce of gradients + slots, the update. */
static cd_status step_cpu(run *r, cd_status pending, const cd_error *pending_err, cd_error *err)
{
    const cd_train_config *cfg = r->cfg;
    int64_t *slots = r->acc + r->n_params;
    cd_status local = pending != CD_OK ? pending : local_step(r, err);
    if (pending != CD_OK) *err = *pending_err;
    if (local != CD_OK) {
        memset(r->acc, 0, sizeof(int64_t) * (r->n_params + SLOT_COUNT));
        slots[SLOT_ERROR] = 1;
    }
    slots[SLOT_STOP] = cd_signals_pending() ? 1 : 0;
    while (fault_hits(&r->fault, FAULT_STALL, r->comm->rank, r->step)) {
        struct timespec nap = {1, 0};
        nanosleep(&nap, NULL);
    }
    CD_TRY(r->comm->allreduce_sum_i64(r->comm, r->acc, r->n_params + SLOT_COUNT, err));
    if (slots[SLOT_ERROR]) return agree(r, local, err);
    cd_fixed_to_float(r->acc, r->model.arena.grads, r->n_params);
    r->model.kernels->sgd_momentum(r->n_params, r->model.arena.params, r->model.arena.momentum, r->model.arena.grads,
                                   (float)lr_now(r), (float)cfg->momentum);
    if (fault_hits(&r->fault, FAULT_PERTURB, r->comm->rank, r->step)) {
        uint32_t bits;
        memcpy(&bits, r->model.arena.params, sizeof bits);
        bits ^= 1u;
        memcpy(r->model.arena.params, &bits, sizeof bits);
    }
    return CD_OK;
}

static cd_status train_loop(run *r, cd_error *err)
{
    const cd_train_config *cfg = r->cfg;
    const int64_t spe = r->sampler.steps_per_epoch;
    int64_t *slots = r->acc + r->n_params;
    cd_status pending = CD_OK; /* a local failure (e.g. rank 0's checkpoint write) to report at the next reduction */
    cd_error pending_err = {0};
    while (r->step < r->total_steps) {
        double t0 = now_s();
        /* A pending failure travels with this step's reduction instead of the step's own work. */
        CD_TRY(r->replica ? step_cuda(r, pending, &pending_err, err) : step_cpu(r, pending, &pending_err, err));
        pending = CD_OK;
        r->epoch_loss_fx += slots[SLOT_LOSS];
        r->epoch_correct += slots[SLOT_CORRECT];
        r->epoch_samples += cfg->batch;
        r->step++;
        r->epoch_seconds += now_s() - t0;
        cd_watchdog_beat(&r->watchdog);
        if (is_root(r) && !r->first_step_logged) {
            /* Start-up cost as a user sees it: process start (or run start) to the end of the first step. */
            double since = now_s() - (cfg->process_start > 0 ? cfg->process_start : r->run_start);
            cd_metrics_note(&r->metrics, "first_step_s", since);
            if (!cfg->quiet && !r->progress_bar) printf("first step done %.3f s after start\n", since);
            r->first_step_logged = 1;
        }
        CD_TRY(ensure_test_data(r, err));
        if (is_root(r)) draw_progress(r);
        if (cfg->log_every > 0 && r->step % cfg->log_every == 0 && is_root(r))
            cd_metrics_step(&r->metrics, r->step, cd_fixed_to_double(slots[SLOT_LOSS]),
                            cd_lr_at(cfg->lr, cfg->lr_schedule, r->step - 1, schedule_steps(r)));

        if (cfg->check_every > 0 && r->step % cfg->check_every == 0) CD_TRY(check_weights(r, err));
        if (slots[SLOT_STOP]) {
            cd_status st = write_checkpoint(r, 0, err);
            CD_TRY(agree(r, st, err));
            if (is_root(r))
                fprintf(stderr, "cnn_ddp: stopped by signal at step %" PRId64 "%s%s; resume with --resume\n", r->step,
                        r->last_ckpt[0] ? ", checkpoint " : "", r->last_ckpt);
            return CD_FAIL(err, CD_E_STOPPED, "stopped by signal at step %" PRId64, r->step);
        }
        int epoch_end = r->step % spe == 0;
        if (epoch_end) {
            double acc;
            CD_TRY(evaluate(r, &acc, err));
            end_of_epoch_report(r, r->step / spe - 1, acc);
            r->epoch_loss_fx = r->epoch_correct = r->epoch_samples = 0;
            r->epoch_seconds = 0;
        }
        int want = cfg->ckpt_every > 0 ? r->step % cfg->ckpt_every == 0 : epoch_end;
        if (want && r->step < r->total_steps) {
            pending = write_checkpoint(r, 0, &pending_err);
            cd_watchdog_beat(&r->watchdog);
        }
    }
    /* A failure of the last periodic write has no next step to travel with. */
    if (pending != CD_OK) *err = pending_err;
    return agree(r, pending, err);
}

static cd_status open_cuda(run *r, cd_error *err);

static cd_status run_all(run *r, cd_error *err)
{
    const cd_train_config *cfg = r->cfg;
    r->run_start = now_s();
    cd_status st = cd_spec_parse(cfg->model, &r->spec, err);
    if (st == CD_OK) cd_spec_format(&r->spec, r->spec_text, sizeof r->spec_text);
    if (st == CD_OK) st = load_local_data(r, err);
    CD_TRY(agree(r, st, err));

    cd_model_init_params(&r->model, cfg->seed);
    int resumed = 0;
    if (cfg->resume) CD_TRY(resume(r, &resumed, err));
    CD_TRY(open_cuda(r, err));

    int64_t limit = cfg->epochs * r->sampler.steps_per_epoch;
    r->total_steps = cfg->max_steps > 0 && cfg->max_steps < limit ? cfg->max_steps : limit;
    if (is_root(r)) {
        char config[CD_CKPT_CONFIG_MAX];
        cd_train_config_format(cfg, config, sizeof config);
        st = cd_metrics_open(&r->metrics, cfg->metrics, resumed, config, r->comm->size, err);
        if (st == CD_OK && !cfg->quiet) {
            printf("cnn_ddp %s: model %s (%zu parameters), %d rank%s, kernels %s\n", CNN_DDP_VERSION, r->spec_text,
                   r->n_params, r->comm->size, r->comm->size == 1 ? "" : "s", r->model.kernels->name);
            char compact[CD_CKPT_CONFIG_MAX];
            size_t k = 0;
            for (const char *c = config; *c && k + 1 < sizeof compact; c++) compact[k++] = *c == '\n' ? ' ' : *c;
            compact[k] = '\0';
            printf("config: %s\n", compact);
            if (r->replica) {
                int devices = cd_cuda_device_count();
                printf("device: %s on every rank's node-local GPU%s, gradients summed with %s\n",
                       cd_cuda_replica_name(r->replica), r->comm->local_size > devices ? " (ranks share GPUs)" : "",
                       cfg->comm == CD_COMM_MPI ? "MPI" : "NCCL");
            }
            printf("data %s: %" PRId64 " training rows in %d shards, %" PRId64 " steps per epoch of %d images "
                   "(%" PRId64 " skipped per epoch), %" PRId64 " test rows\n",
                   cfg->data, r->sampler.rows, r->sampler.shards, r->sampler.steps_per_epoch, cfg->batch,
                   r->sampler.rows - r->sampler.steps_per_epoch * cfg->batch, r->test_total);
            fflush(stdout);
        }
    }
    CD_TRY(agree(r, st, err));
    CD_TRY(cd_watchdog_start(&r->watchdog, cfg->timeout_s, r->comm->rank, err));
    st = train_loop(r, err);
    if (st == CD_OK) {
        double acc = 0;
        st = evaluate(r, &acc, err);
        if (st == CD_OK) st = agree(r, write_checkpoint(r, 1, err), err);
        if (st == CD_OK && is_root(r)) {
            printf("final: step %" PRId64 "  test accuracy %.2f%%%s%s\n", r->step, 100.0 * acc,
                   r->last_ckpt[0] ? "  checkpoint " : "", r->last_ckpt);
            cd_metrics_final(&r->metrics, r->step, acc, now_s() - r->run_start);
        }
    }
    cd_watchdog_stop(&r->watchdog);
    return st;
}

cd_status cd_train_run(const cd_train_config *cfg, cd_comm *comm, cd_error *err)
{
    run *r = NULL;
    CD_ALLOC(err, r, 1);
    r->resolved = *cfg;
    cd_model_recipe recipe = cd_spec_default_recipe(cfg->model);
    if (r->resolved.lr == 0) r->resolved.lr = recipe.lr;
    if (r->resolved.lr_schedule == CD_LR_MODEL_DEFAULT)
        r->resolved.lr_schedule = recipe.cosine ? CD_LR_COSINE : CD_LR_CONSTANT;
    r->cfg = &r->resolved;
    r->comm = comm;
    r->fault = fault_from_env();
    /* Under mpirun a rank's stdout is a pseudo-terminal whatever mpirun's own output is (a log file, a
     * Slurm job), so only a process started directly can know it is on a terminal. */
    r->progress_bar = comm->rank == 0 && !cfg->quiet && isatty(STDOUT_FILENO) && !cd_comm_under_launcher();
    cd_status st = run_all(r, err);
    cd_metrics_close(&r->metrics);
    cd_cuda_replica_free(r->replica);
    if (r->model_built) cd_model_free(&r->model);
    for (int k = 0; k < CD_MAX_LOCAL_SHARDS; k++) cd_free(r->perm[k]);
    cd_free(r->acc);
    cd_free(r->rows);
    cd_free(r->labels);
    cd_data_free(&r->train);
    cd_data_free(&r->test);
    cd_free(r);
    return st;
}

/* ---- CUDA device (--device cuda|auto) -------------------------------------------------------------
 * The replica holds the parameters and momentum; the host arena is refreshed from it only for
 * checkpoints and weight checks. A step: this rank's chunks in groups of up to max_chunks (one launch
 * per layer each), one int64 allreduce (NCCL on the device, or MPI through the host), SGD on the
 * device. The four slots come back every step, as on the CPU path. */

/* Collective. Decides cpu or cuda for every rank alike, builds the replica on the GPU of this rank's
 * node-local rank, uploads the (initial or resumed) weights and joins NCCL when asked. */
static cd_status open_cuda(run *r, cd_error *err)
{
    const cd_train_config *cfg = r->cfg;
    cd_comm *c = r->comm;
    if (cfg->device == CD_DEVICE_CPU) {
        if (cfg->comm == CD_COMM_NCCL) return agree(r, CD_FAIL(err, CD_E_USAGE, "--comm nccl needs --device cuda"), err);
        return CD_OK;
    }
    int devices = cd_cuda_device_count();
    if (cfg->device == CD_DEVICE_AUTO) {
        /* cuda only if every rank has its GPU, so all ranks run the same kernels */
        int64_t ready = cd_cuda_built() && c->local_rank < devices;
        CD_TRY(c->allreduce_sum_i64(c, &ready, 1, err));
        if (ready < c->size) {
            if (cfg->comm == CD_COMM_NCCL)
                return agree(r, CD_FAIL(err, CD_E_USAGE, "--comm nccl: --device auto found no GPU for every rank"), err);
            return CD_OK;
        }
    }
    cd_status st = CD_OK;
    if (!cd_cuda_built())
        st = CD_FAIL(err, CD_E_USAGE, "--device cuda: this cnn_ddp was built without CUDA (configure with -DCNN_DDP_CUDA=ON)");
    else if (devices == 0)
        st = CD_FAIL(err, CD_E_USAGE, "--device cuda: no CUDA device is visible on this node (check nvidia-smi and "
                                      "CUDA_VISIBLE_DEVICES)");
    else if (c->local_rank >= devices && cfg->comm != CD_COMM_MPI)
        /* NCCL refuses two ranks on one GPU; summing through MPI does not care. */
        st = CD_FAIL(err, CD_E_USAGE, "--device cuda: this node runs %d ranks but has only %d GPU%s (local rank %d has "
                                      "none); start at most %d rank%s per node, or add --comm mpi to let ranks "
                                      "share the GPUs", c->local_size, devices,
                     devices == 1 ? "" : "s", c->local_rank, devices, devices == 1 ? "" : "s");
    if (st == CD_OK) {
        /* The chunk gradients take max_chunks * params floats: cap them at 256 MiB. */
        size_t fit = ((size_t)256 << 20) / (sizeof(float) * (r->n_params ? r->n_params : 1));
        int cap = fit < 1 ? 1 : fit > (size_t)r->shard_count ? r->shard_count : (int)fit;
        r->cuda_group = cap;
        st = cd_cuda_replica_create(&r->model, c->local_rank % devices, c->rank, r->sampler.chunk, cap, &r->replica, err);
    }
    if (st == CD_OK) st = cd_cuda_replica_upload(r->replica, r->model.arena.params, r->model.arena.momentum, err);
    CD_TRY(agree(r, st, err));
    if (cfg->comm != CD_COMM_MPI) CD_TRY(agree(r, cd_cuda_replica_use_nccl(r->replica, c, err), err));
    return CD_OK;
}

/* This rank's chunks of step r->step into the replica's int64 sum (asynchronous), as many chunks per
 * launch as the replica holds. */
static cd_status local_step_cuda(run *r, cd_error *err)
{
    const cd_sampler *s = &r->sampler;
    int64_t epoch = r->step / s->steps_per_epoch, pos = r->step % s->steps_per_epoch;
    if (epoch != r->perm_epoch) {
        for (int k = 0; k < r->shard_count; k++) cd_sampler_epoch_order(s, epoch, r->shard_first + k, r->perm[k]);
        r->perm_epoch = epoch;
    }
    CD_TRY(cd_cuda_replica_begin_step(r->replica, err));
    const size_t per = cd_shape_size(r->model.input);
    const int64_t poison = fault_hits(&r->fault, FAULT_NAN, r->comm->rank, r->step) ? (int64_t)(r->n_params / 2) : -1;
    for (int first = 0; first < r->shard_count; first += r->cuda_group) {
        int g = r->shard_count - first < r->cuda_group ? r->shard_count - first : r->cuda_group;
        float *x = cd_cuda_replica_input(r->replica);
        uint8_t *labels = cd_cuda_replica_labels(r->replica);
        for (int j = 0; j < g; j++) {
            int64_t begin, end;
            cd_sampler_shard_rows(s, r->shard_first + first + j, &begin, &end);
            for (int q = 0; q < s->chunk; q++)
                r->rows[q] = (uint32_t)(begin - r->train.first_row) + r->perm[first + j][pos * s->chunk + q];
            cd_data_gather(&r->train, r->rows, s->chunk, x + per * (size_t)j * s->chunk, labels + (size_t)j * s->chunk);
        }
        CD_TRY(cd_cuda_replica_chunks(r->replica, first, g, 1.0f / (float)s->batch, first == 0 ? poison : -1, err));
    }
    return CD_OK;
}

/* One whole step on the GPU: local chunks, the reduction (slots into r->acc's slots, as the CPU path
 * leaves them), failure agreement, SGD. */
static cd_status step_cuda(run *r, cd_status pending, const cd_error *pending_err, cd_error *err)
{
    cd_status local = pending;
    if (local != CD_OK)
        *err = *pending_err;
    else
        local = local_step_cuda(r, err);
    while (fault_hits(&r->fault, FAULT_STALL, r->comm->rank, r->step)) {
        struct timespec nap = {1, 0};
        nanosleep(&nap, NULL);
    }
    int64_t *slots = r->acc + r->n_params;
    CD_TRY(cd_cuda_replica_allreduce(r->replica, r->comm, cd_signals_pending(), local != CD_OK, slots, err));
    if (slots[SLOT_ERROR]) {
        if (local == CD_OK) {
            int chunk = -1;
            local = cd_cuda_replica_step_failure(r->replica, &chunk, err);
            if (local != CD_OK) cd_error_prefix(err, "step %" PRId64 " (shard %d): ", r->step, r->shard_first + chunk);
        }
        return agree(r, local, err);
    }
    CD_TRY(cd_cuda_replica_sgd(r->replica, (float)lr_now(r), (float)r->cfg->momentum, err));
    if (fault_hits(&r->fault, FAULT_PERTURB, r->comm->rank, r->step)) {
        float *p = r->model.arena.params;
        CD_TRY(cd_cuda_replica_download(r->replica, p, r->model.arena.momentum, err));
        uint32_t bits;
        memcpy(&bits, p, sizeof bits);
        bits ^= 1u;
        memcpy(p, &bits, sizeof bits);
        CD_TRY(cd_cuda_replica_upload(r->replica, p, r->model.arena.momentum, err));
    }
    return CD_OK;
}

/* This rank's test rows through the GPU, in batches of up to max_batch; *hits gets the correct count. */
static cd_status evaluate_cuda(run *r, int64_t *hits, cd_error *err)
{
    const int b = r->model.max_batch;
    for (int64_t start = 0; start < r->test.count; start += b) {
        int n = (int)(r->test.count - start < b ? r->test.count - start : b);
        cd_data_gather_range(&r->test, start, n, cd_cuda_replica_input(r->replica), cd_cuda_replica_labels(r->replica));
        CD_TRY(cd_cuda_replica_eval(r->replica, n, err));
        cd_watchdog_beat(&r->watchdog);
    }
    return cd_cuda_replica_eval_hits(r->replica, hits, err);
}
