/* Option parsing with strict values: a number must be all digits and in range, a rate finite and
 * positive; anything else is refused with the flag's name, before any work starts. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn_ddp/cli.h"

typedef enum { ARG_NONE, ARG_REQUIRED, ARG_OPTIONAL } arg_kind;

typedef struct option_def {
    const char *name;
    arg_kind arg;
} option_def;

static const option_def options[] = {
    {"data", ARG_REQUIRED},      {"model", ARG_REQUIRED},      {"epochs", ARG_REQUIRED},
    {"max-steps", ARG_REQUIRED}, {"batch", ARG_REQUIRED},      {"lr", ARG_REQUIRED},
    {"momentum", ARG_REQUIRED},  {"seed", ARG_REQUIRED},       {"kernels", ARG_REQUIRED},
    {"shards", ARG_REQUIRED},    {"metrics", ARG_REQUIRED},    {"quiet", ARG_NONE},
    {"ckpt-dir", ARG_REQUIRED},  {"ckpt-every", ARG_REQUIRED}, {"keep", ARG_REQUIRED},
    {"no-ckpt", ARG_NONE},       {"resume", ARG_OPTIONAL},     {"check-every", ARG_REQUIRED},
    {"timeout", ARG_REQUIRED},   {"log-every", ARG_REQUIRED},  {"help", ARG_NONE},
    {"version", ARG_NONE},       {"device", ARG_REQUIRED},     {"comm", ARG_REQUIRED},
    {"lr-schedule", ARG_REQUIRED},
};

const char *cd_cli_usage(void)
{
    return "usage: cnn_ddp [train] [options]    (under MPI: mpirun -np N cnn_ddp [options])\n"
           "       cnn_ddp eval|predict|info ...  (see below)\n"
           "\n"
           "Trains a CNN on MNIST-style HDF5 data, data-parallel over MPI ranks. The result is bit-identical\n"
           "for any number of ranks and across stop/resume, given the same data, model, seed, shards, batch,\n"
           "learning rate, momentum and kernel set.\n"
           "\n"
           "data and model:\n"
           "  --data FILE.h5      training/test data (default datasets/mnist.h5; make it with\n"
           "                      datasets/prepare_mnist.sh)\n"
           "  --model M           seed | exercise | a spec such as\n"
           "                      \"conv(10,k=5) pool(2) relu conv(20,k=5) pool(2) relu fc(10)\"\n"
           "                      layers: conv(OUT,k=K,s=S,p=P) pool(K,s=S) relu flatten fc(OUT)  (default seed)\n"
           "training:\n"
           "  --epochs N          epochs, counted from the start of training, also on resume (default 10)\n"
           "  --max-steps N       stop after N global steps in total (default: no limit)\n"
           "  --batch N           global batch size, split over the shards (default 64)\n"
           "  --lr X              SGD learning rate (default 0.01; 0.05 for --model exercise)\n"
           "  --lr-schedule S     constant | cosine: lr * (1 + cos(pi * step / steps)) / 2 over the --epochs\n"
           "                      (default constant; cosine for --model exercise)\n"
           "  --momentum X        SGD momentum, 0 <= X < 1 (default 0.5)\n"
           "  --seed N            seed for the initial weights and the data order (default 1)\n"
           "  --shards K          virtual data shards (default 8). Each step takes batch/K samples from every\n"
           "                      shard, so --batch must be a multiple of K. Rank r of N holds a contiguous\n"
           "                      block of shards; K need not be a multiple of N (uneven load, same result),\n"
           "                      but N must not exceed K. At the end of an epoch the samples left in each\n"
           "                      shard (fewer than batch/K) are skipped; the next epoch reshuffles.\n"
           "  --kernels K         scalar | avx2 | avx512 | auto (default auto: the best this CPU supports)\n"
           "  --device D          cpu | cuda | auto (default cpu; auto: cuda when built with CUDA and a GPU\n"
           "                      is visible). Each rank uses the GPU of its node-local rank (with --comm mpi,\n"
           "                      more ranks than GPUs share them); a CUDA run follows the scalar CPU kernels\n"
           "                      (the same weights, to the bit in practice; see the README)\n"
           "  --comm C            mpi | nccl | auto: how GPU ranks sum gradients (default auto: nccl with\n"
           "                      --device cuda); the sum is exact either way, so the result is the same\n"
           "checkpoints:\n"
           "  --ckpt-dir DIR      where rank 0 writes checkpoints (default checkpoints)\n"
           "  --ckpt-every S      write step-<S>.h5 every S steps (default 0: at the end of each epoch);\n"
           "                      final.h5 is written at the end\n"
           "  --keep N            keep the newest N step checkpoints (default 3)\n"
           "  --no-ckpt           write no checkpoints\n"
           "  --resume [FILE]     continue from FILE, or from the newest checkpoint in --ckpt-dir that\n"
           "                      verifies (an empty directory starts from scratch)\n"
           "robustness:\n"
           "  --check-every S     compare a weight checksum across ranks every S steps (default 50; 0: never)\n"
           "  --timeout SEC       end the job when a step makes no progress for SEC seconds (default 120)\n"
           "output:\n"
           "  --metrics FILE      JSON lines: config, per-epoch (epoch, step, train_loss, train_acc,\n"
           "                      test_acc, img_per_s, elapsed_s), optional per-step, final\n"
           "  --log-every S       also write a per-step loss line to --metrics every S steps\n"
           "  --quiet             print only errors and the final result\n"
           "  --help, --version\n"
           "\n"
           "Every option can also be set as CNN_DDP_<OPTION> in the environment (CNN_DDP_BATCH=128,\n"
           "CNN_DDP_QUIET=1); the command line wins. SIGINT/SIGTERM stop at the next step boundary after a\n"
           "checkpoint. Exit status: 0 done, 1 runtime failure, 2 bad option/input, 143/130 stopped by signal.\n";
}

static cd_status parse_int(const char *flag, const char *text, int64_t lo, int64_t hi, int64_t *out, cd_error *err)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (!*text || *end || errno == ERANGE)
        return CD_FAIL(err, CD_E_USAGE, "--%s %s: not an integer", flag, text);
    if (v < lo || v > hi)
        return CD_FAIL(err, CD_E_USAGE, "--%s %s: must be between %" PRId64 " and %" PRId64, flag, text, lo, hi);
    *out = v;
    return CD_OK;
}

static cd_status parse_real(const char *flag, const char *text, double lo, int lo_open, double hi, int hi_open,
                            double *out, cd_error *err)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (!*text || *end || errno == ERANGE || !isfinite(v))
        return CD_FAIL(err, CD_E_USAGE, "--%s %s: not a finite number", flag, text);
    if ((lo_open ? v <= lo : v < lo) || (hi_open ? v >= hi : v > hi))
        return CD_FAIL(err, CD_E_USAGE, "--%s %s: must be in %c%g, %g%c", flag, text, lo_open ? '(' : '[', lo, hi,
                       hi_open ? ')' : ']');
    *out = v;
    return CD_OK;
}

static cd_status set_path(const char *flag, const char *value, char *dst, size_t size, int allow_empty, cd_error *err)
{
    if (!allow_empty && !*value) return CD_FAIL(err, CD_E_USAGE, "--%s: empty value", flag);
    if (strlen(value) >= size) return CD_FAIL(err, CD_E_USAGE, "--%s: value longer than %zu characters", flag, size - 1);
    memcpy(dst, value, strlen(value) + 1);
    return CD_OK;
}

static cd_status apply(const char *name, const char *value, cd_train_config *cfg, cd_cli_action *action, cd_error *err)
{
    int64_t i;
    if (!strcmp(name, "data")) return set_path(name, value, cfg->data, sizeof cfg->data, 0, err);
    if (!strcmp(name, "model")) return set_path(name, value, cfg->model, sizeof cfg->model, 0, err);
    if (!strcmp(name, "metrics")) return set_path(name, value, cfg->metrics, sizeof cfg->metrics, 1, err);
    if (!strcmp(name, "ckpt-dir")) return set_path(name, value, cfg->ckpt_dir, sizeof cfg->ckpt_dir, 0, err);
    if (!strcmp(name, "epochs")) return parse_int(name, value, 0, 1000000, &cfg->epochs, err);
    if (!strcmp(name, "max-steps")) return parse_int(name, value, 0, INT64_MAX / 2, &cfg->max_steps, err);
    if (!strcmp(name, "ckpt-every")) return parse_int(name, value, 0, INT64_MAX / 2, &cfg->ckpt_every, err);
    if (!strcmp(name, "check-every")) return parse_int(name, value, 0, INT64_MAX / 2, &cfg->check_every, err);
    if (!strcmp(name, "log-every")) return parse_int(name, value, 0, INT64_MAX / 2, &cfg->log_every, err);
    if (!strcmp(name, "batch")) {
        CD_TRY(parse_int(name, value, 1, 1 << 16, &i, err));
        cfg->batch = (int)i;
        return CD_OK;
    }
    if (!strcmp(name, "shards")) {
        CD_TRY(parse_int(name, value, 1, 4096, &i, err));
        cfg->shards = (int)i;
        return CD_OK;
    }
    if (!strcmp(name, "keep")) {
        CD_TRY(parse_int(name, value, 1, 1000000, &i, err));
        cfg->keep = (int)i;
        return CD_OK;
    }
    if (!strcmp(name, "seed")) {
        CD_TRY(parse_int(name, value, 0, INT64_MAX, &i, err));
        cfg->seed = (uint64_t)i;
        return CD_OK;
    }
    if (!strcmp(name, "lr")) return parse_real(name, value, 0.0, 1, 1e6, 0, &cfg->lr, err);
    if (!strcmp(name, "momentum")) return parse_real(name, value, 0.0, 0, 1.0, 1, &cfg->momentum, err);
    if (!strcmp(name, "timeout")) return parse_real(name, value, 0.0, 0, 1e9, 0, &cfg->timeout_s, err);
    if (!strcmp(name, "kernels")) {
        cd_status st = cd_kernel_kind_parse(value, &cfg->kernels, err);
        if (st != CD_OK) return CD_FAIL(err, CD_E_USAGE, "--kernels %s: expected scalar, avx2, avx512 or auto", value);
        return CD_OK;
    }
    if (!strcmp(name, "device")) {
        if (!strcmp(value, "cpu")) cfg->device = CD_DEVICE_CPU;
        else if (!strcmp(value, "cuda")) cfg->device = CD_DEVICE_CUDA;
        else if (!strcmp(value, "auto")) cfg->device = CD_DEVICE_AUTO;
        else return CD_FAIL(err, CD_E_USAGE, "--device %s: expected cpu, cuda or auto", value);
        return CD_OK;
    }
    if (!strcmp(name, "lr-schedule")) {
        if (!strcmp(value, "constant")) cfg->lr_schedule = CD_LR_CONSTANT;
        else if (!strcmp(value, "cosine")) cfg->lr_schedule = CD_LR_COSINE;
        else return CD_FAIL(err, CD_E_USAGE, "--lr-schedule %s: expected constant or cosine", value);
        return CD_OK;
    }
    if (!strcmp(name, "comm")) {
        if (!strcmp(value, "mpi")) cfg->comm = CD_COMM_MPI;
        else if (!strcmp(value, "nccl")) cfg->comm = CD_COMM_NCCL;
        else if (!strcmp(value, "auto")) cfg->comm = CD_COMM_AUTO;
        else return CD_FAIL(err, CD_E_USAGE, "--comm %s: expected mpi, nccl or auto", value);
        return CD_OK;
    }
    if (!strcmp(name, "quiet")) return cfg->quiet = 1, CD_OK;
    if (!strcmp(name, "no-ckpt")) return cfg->no_ckpt = 1, CD_OK;
    if (!strcmp(name, "resume")) {
        cfg->resume = value ? 2 : 1;
        return value ? set_path(name, value, cfg->resume_path, sizeof cfg->resume_path, 0, err) : CD_OK;
    }
    if (!strcmp(name, "help")) return *action = CD_CLI_HELP, CD_OK;
    if (!strcmp(name, "version")) return *action = CD_CLI_VERSION, CD_OK;
    return CD_FAIL(err, CD_E_INTERNAL, "option --%s has no handler", name);
}

static const option_def *find_option(const char *name, size_t len)
{
    for (size_t k = 0; k < sizeof options / sizeof options[0]; k++)
        if (strlen(options[k].name) == len && !strncmp(options[k].name, name, len)) return &options[k];
    return NULL;
}

/* CNN_DDP_BATCH=128 and friends; a boolean option is on unless its variable is empty, "0" or "false". */
static cd_status apply_environment(cd_train_config *cfg, cd_cli_action *action, cd_error *err)
{
    for (size_t k = 0; k < sizeof options / sizeof options[0]; k++) {
        const option_def *o = &options[k];
        if (!strcmp(o->name, "help") || !strcmp(o->name, "version")) continue;
        char var[64] = "CNN_DDP_";
        size_t at = strlen(var);
        for (const char *p = o->name; *p && at + 1 < sizeof var; p++)
            var[at++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        var[at] = '\0';
        const char *value = getenv(var);
        if (!value) continue;
        if (o->arg == ARG_NONE) {
            if (!*value || !strcmp(value, "0") || !strcmp(value, "false")) continue;
            value = NULL;
        } else if (o->arg == ARG_OPTIONAL && (!*value || !strcmp(value, "1") || !strcmp(value, "true"))) {
            value = NULL;
        }
        cd_status st = apply(o->name, value, cfg, action, err);
        if (st != CD_OK) {
            cd_error_prefix(err, "environment variable %s: ", var);
            return st;
        }
    }
    return CD_OK;
}

cd_status cd_cli_parse(int argc, char **argv, cd_train_config *cfg, cd_cli_action *action, cd_error *err)
{
    cd_train_config_defaults(cfg);
    *action = CD_CLI_TRAIN;
    CD_TRY(apply_environment(cfg, action, err));
    for (int a = 0; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "train") && a == 0) continue; /* the default subcommand, spelled out */
        if (strncmp(arg, "--", 2) != 0)
            return CD_FAIL(err, CD_E_USAGE, "unexpected argument '%s' (options start with --; see --help)", arg);
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const option_def *o = find_option(name, len);
        if (!o) return CD_FAIL(err, CD_E_USAGE, "unknown option '%.*s' (see --help)", (int)(len + 2), arg);
        const char *value = NULL;
        if (eq) {
            if (o->arg == ARG_NONE) return CD_FAIL(err, CD_E_USAGE, "--%s takes no value", o->name);
            value = eq + 1;
        } else if (o->arg == ARG_REQUIRED) {
            if (a + 1 >= argc) return CD_FAIL(err, CD_E_USAGE, "--%s needs a value", o->name);
            value = argv[++a];
        } else if (o->arg == ARG_OPTIONAL && a + 1 < argc && strncmp(argv[a + 1], "--", 2) != 0) {
            value = argv[++a];
        }
        CD_TRY(apply(o->name, value, cfg, action, err));
    }
    return CD_OK;
}
