/* `cnn_ddp eval --ckpt FILE [--data FILE.h5] [--kernels K] [--batch N]`: a checkpoint's accuracy on the
 * /test split, per class and as a confusion matrix. Under mpirun each rank evaluates a contiguous share
 * of the test rows and the counts are summed exactly, so the result is the same for any rank count
 * (and equals the trainer's test accuracy for the same checkpoint and kernel set). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "subcommands.h"
#include "cnn_ddp/comm.h"
#include "cnn_ddp/config_options.h"
#include "cnn_ddp/data.h"
#include "cnn_ddp/evaluate.h"
#include "cnn_ddp/fault.h"
#include "cnn_ddp/limits.h"
#include "cnn_ddp/watchdog.h"

typedef struct eval_options {
    const char *ckpt;
    const char *data; /* NULL: the data the checkpoint was trained on, else datasets/mnist.h5 */
    cd_kernel_kind kernels;
    int batch;
    double timeout_s; /* the watchdog's, as train's --timeout */
    const char *memory_limit; /* NULL: CNN_DDP_MEMORY_LIMIT, else found */
    int help;
} eval_options;

/* --timeout SEC, by the training option's own rule (0: off; else 5 to 86400). */
static cd_status parse_timeout(const char *text, double *out, cd_error *err)
{
    const cd_option *o = cd_option_find("timeout", strlen("timeout"));
    cd_train_config *cfg = cd_alloc_zeroed(sizeof *cfg);
    if (!o || !cfg) {
        cd_free(cfg);
        return CD_FAIL(err, CD_E_NOMEM, "out of memory");
    }
    cd_status st = cd_option_set(o, text, cfg, err);
    *out = cfg->timeout_s;
    cd_free(cfg);
    return st;
}

static cd_status parse(int argc, char **argv, eval_options *o, cd_error *err)
{
    static const char *const valued[] = {"ckpt", "data", "kernels", "batch", "timeout", "memory-limit", NULL};
    memset(o, 0, sizeof *o);
    o->batch = 256;
    o->timeout_s = 120;
    for (int i = 1; i < argc; i++) {
        char name[32];
        const char *v;
        CD_TRY(cd_cli_next_arg(argc, argv, &i, valued, name, sizeof name, &v, err));
        if (!name[0] && !strcmp(v, "-h")) {
            o->help = 1;
            continue;
        }
        if (!name[0]) return CD_FAIL(err, CD_E_USAGE, "eval: unexpected argument '%s' (see cnn_ddp help eval)", v);
        if (!strcmp(name, "ckpt")) {
            o->ckpt = v;
        } else if (!strcmp(name, "data")) {
            o->data = v;
        } else if (!strcmp(name, "kernels")) {
            CD_TRY(cd_kernel_kind_parse(v, &o->kernels, err));
        } else if (!strcmp(name, "batch")) {
            long long b;
            CD_TRY(cd_cli_parse_int("--batch", v, 1, 65536, &b, err));
            o->batch = (int)b;
        } else if (!strcmp(name, "timeout")) {
            CD_TRY(parse_timeout(v, &o->timeout_s, err));
        } else if (!strcmp(name, "memory-limit")) {
            o->memory_limit = v;
        } else if (!strcmp(name, "help")) {
            o->help = 1;
        } else {
            static const char *const flags[] = {"help", NULL};
            return cd_cli_unknown_option("eval", name, valued, flags, err);
        }
    }
    if (!o->help && !o->ckpt) return CD_FAIL(err, CD_E_USAGE, "eval: --ckpt FILE is required");
    return CD_OK;
}

typedef struct eval_state {
    cd_model model;
    int model_built;
    cd_ckpt_meta meta;
    char data[CD_PATH_MAX];
    cd_data_set_info set;
    const cd_data_info *info; /* set.test */
    int classes;
    cd_dataset test;
    int64_t *confusion;       /* [classes * classes] */
    double seconds;
    cd_watchdog *watchdog;
} eval_state;

/* This rank's part: the model and its share of the test rows. */
static cd_status load(const eval_options *o, const cd_comm *comm, eval_state *s, cd_error *err)
{
    CD_TRY(cd_ckpt_verify(o->ckpt, &s->meta, err));
    if (o->data) {
        snprintf(s->data, sizeof s->data, "%s", o->data);
    } else {
        CD_TRY(cd_cli_ckpt_data_find("eval", o->ckpt, &s->meta, s->data, sizeof s->data, err));
    }
    CD_TRY(cd_data_inspect_set(s->data, &s->set, err));
    if (!s->set.has_test)
        return CD_FAIL(err, CD_E_INPUT, "%s: /test: missing group (eval measures the checkpoint on the /test split)",
                       s->data);
    CD_TRY(cd_cli_check_data("eval", s->data, &s->set, &s->meta, err));
    s->info = &s->set.test;
    s->classes = s->set.classes;
    CD_ALLOC(err, s->confusion, (size_t)s->classes * (size_t)s->classes);
    const int64_t n = s->info->count, size = comm->size, rank = comm->rank;
    const int64_t first = n * rank / size, count = n * (rank + 1) / size - first;
    cd_memory_limit limit;
    const char *override = o->memory_limit ? o->memory_limit : getenv("CNN_DDP_MEMORY_LIMIT");
    CD_TRY(cd_memory_limit_find("", override, "--memory-limit", cd_memory_local_ranks(), &limit, err));
    cd_memory_plan plan = {0};
    cd_memory_plan_add(&plan, (double)count * ((double)s->info->channels * s->info->height * s->info->width + 1),
                       "this rank's %" PRId64 " test rows of %s", count, s->data);
    cd_status st = cd_cli_load_model(o->ckpt, s->info->height, s->info->width, o->batch, o->kernels, &plan, &limit,
                                     &s->model, &s->meta, err);
    if (st != CD_OK) {
        if (st == CD_E_INPUT && strstr(err->msg, "images ("))
            cd_error_prefix(err, "%s: /test images are %dx%d: ", s->data, s->info->height, s->info->width);
        return st;
    }
    s->model_built = 1;
    const cd_fault fault = cd_fault_from_env();
    cd_fault_loadstop(&fault, comm->rank);
    CD_TRY(cd_data_load_beating(s->data, "test", first, count, s->classes, cd_watchdog_beat_cb, s->watchdog, &s->test,
                                err));
    /* The inputs as the model was trained on them: the checkpoint's normalisation. */
    double mean[CD_MAX_CHANNELS], std[CD_MAX_CHANNELS];
    CD_TRY(cd_cli_ckpt_norm(o->ckpt, &s->meta, mean, std, err));
    return cd_data_set_norm(&s->test, mean, std, err);
}

/* This rank's rows through the CPU replica of the loaded model, into the confusion matrix. */
static cd_status count(eval_state *s, cd_error *err)
{
    cd_replica *r = NULL;
    CD_TRY(cd_replica_cpu(&s->model, 1, &r, err));
    int64_t hits = 0;
    cd_status st = cd_evaluate(r, &s->test, s->classes, &hits, NULL, s->confusion, cd_watchdog_beat_cb, s->watchdog, err);
    r->ops->free(r);
    return st;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void report(const eval_options *o, const cd_comm *comm, const eval_state *s, FILE *out)
{
    const int64_t *cm = s->confusion;
    const int k = s->classes;
    const char *names = s->meta.class_names;
    int64_t total = 0, correct = 0;
    for (int t = 0; t < k; t++)
        for (int p = 0; p < k; p++) {
            total += cm[t * k + p];
            if (t == p) correct += cm[t * k + p];
        }
    const double acc = total ? (double)correct / (double)total : 0.0;
    fprintf(out, "checkpoint %s: model %s, step %" PRId64 "\n", o->ckpt, s->meta.model, s->meta.step);
    fprintf(out, "data %s: %" PRId64 " test images of %dx%dx%d, %d classes, %d rank%s, kernels %s\n", s->data,
            s->info->count, s->info->channels, s->info->height, s->info->width, k, comm->size,
            comm->size == 1 ? "" : "s", s->model.kernels->name);
    fprintf(out, "test accuracy %.2f%% (%" PRId64 " of %" PRId64 "), error rate %.2f%%\n\n", 100.0 * acc, correct,
            total, 100.0 * (1.0 - acc));
    fprintf(out, "class  images  correct  accuracy%s\n", names[0] ? "  name" : "");
    for (int t = 0; t < k; t++) {
        int64_t row = 0;
        for (int p = 0; p < k; p++) row += cm[t * k + p];
        const int64_t hit = cm[t * k + t];
        char name[256];
        cd_data_class_name(names, t, name, sizeof name);
        if (row)
            fprintf(out, "%5d  %6" PRId64 "  %7" PRId64 "  %7.2f%%", t, row, hit, 100.0 * (double)hit / (double)row);
        else
            fprintf(out, "%5d  %6" PRId64 "  %7" PRId64 "  %8s", t, row, hit, "-");
        fprintf(out, "%s%s\n", name[0] ? "  " : "", name);
    }
    fprintf(out, "\nconfusion matrix (rows: true class, columns: predicted class)\n");
    fprintf(out, "true\\pred");
    for (int p = 0; p < k; p++) fprintf(out, " %6d", p);
    fprintf(out, "\n");
    for (int t = 0; t < k; t++) {
        fprintf(out, "%9d", t);
        for (int p = 0; p < k; p++) fprintf(out, " %6" PRId64, cm[t * k + p]);
        fprintf(out, "\n");
    }
    fprintf(out, "\ninference %.3f s, %.0f img/s (batch %d)\n", s->seconds,
            s->seconds > 0 ? (double)total / s->seconds : 0.0, o->batch);
}

/* Collective: every rank loads and counts, all agree on the first failure, then one exact sum. */
static cd_status run_eval(const eval_options *o, cd_comm *comm, eval_state *s, cd_error *err)
{
    CD_TRY(cd_comm_agree_named(comm, load(o, comm, s, err), err));
    /* Timed from here: the forward passes and the sum, not the loading. */
    const double t0 = now_s();
    CD_TRY(cd_comm_agree_named(comm, count(s, err), err));
    CD_TRY(comm->allreduce_sum_i64(comm, s->confusion, (size_t)s->classes * (size_t)s->classes, err));
    s->seconds = now_s() - t0;
    if (comm->rank == 0) report(o, comm, s, stdout);
    return CD_OK;
}

int cd_cli_eval_main(int argc, char **argv)
{
    cd_error err = {0};
    /* Parsed before MPI_Init, for the watchdog's --timeout; so only the launcher's rank 0 prints. */
    eval_options o;
    cd_status st = parse(argc, argv, &o, &err);
    const int quiet_rank = cd_cli_launcher_rank() != 0;
    if (st != CD_OK || o.help) {
        if (!quiet_rank && st != CD_OK) fprintf(stderr, "cnn_ddp: error: %s\n", err.msg);
        if (!quiet_rank && st == CD_OK) fputs(cd_cli_eval_usage(), stdout);
        return cd_status_exit_code(st);
    }
    /* As for train (main.c): from before MPI_Init to after MPI_Finalize. */
    cd_watchdog watchdog;
    if (cd_watchdog_start(&watchdog, o.timeout_s, cd_cli_launcher_rank(), &err) != CD_OK) {
        fprintf(stderr, "cnn_ddp: error: %s\n", err.msg);
        return 1;
    }
    cd_watchdog_phase(&watchdog, "in MPI_Init");
    cd_comm comm;
    if (cd_comm_under_launcher()) {
        if (cd_comm_mpi(&argc, &argv, &comm, &err) != CD_OK) {
            fprintf(stderr, "cnn_ddp: error: %s\n", err.msg);
            return 1;
        }
    } else {
        cd_comm_self(&comm);
    }
    cd_watchdog_phase(&watchdog, "while evaluating");
    eval_state *s = cd_alloc_zeroed(sizeof *s);
    if (!s) st = CD_FAIL(&err, CD_E_NOMEM, "out of memory");
    if (st == CD_OK) {
        s->watchdog = &watchdog;
        st = run_eval(&o, &comm, s, &err);
    }
    const int code = cd_status_exit_code(st);
    if (st != CD_OK && comm.rank == 0) fprintf(stderr, "cnn_ddp: error: %s\n", err.msg);
    if (s) {
        if (s->model_built) cd_model_free(&s->model);
        cd_data_free(&s->test);
        cd_free(s->confusion);
        cd_free(s);
    }
    fflush(stdout);
    fflush(stderr);
    if (st == CD_E_COMM || st == CD_E_INTERNAL || st == CD_E_NOMEM) comm.abort(&comm, code);
    cd_watchdog_phase(&watchdog, "in MPI_Finalize");
    comm.finalize(&comm);
    cd_watchdog_stop(&watchdog);
    return code;
}

const char *cd_cli_eval_usage(void)
{
    return "usage: cnn_ddp eval --ckpt FILE [--data FILE.h5] [--kernels K] [--batch N] [--timeout SEC]\n"
           "                    [--memory-limit SIZE]\n"
           "      accuracy of a checkpoint on the /test split: overall, per class (with the data's class names),\n"
           "      and the confusion matrix (rows: true class, columns: predicted). --data defaults to the\n"
           "      checkpoint's training data (the absolute path it recorded, then the path as given to the\n"
           "      run), else datasets/mnist.h5; data whose channels, classes or stored normalisation differ\n"
           "      from the checkpoint's run is refused; the inputs are normalised as the checkpoint's run did.\n"
           "      --batch is the evaluation batch (default 256, any value gives the same result). Under\n"
           "      mpirun -np N the test rows are split over the ranks; same result. --kernels, --timeout\n"
           "      (default 120; 0: no watchdog) and --memory-limit: as for training.\n";
}
