/* The training options, all from one table: cd_train_config_format prints exactly what the checkpoints
 * already written store (the literals below were produced by the code before the table existed), the
 * defaults are what they were, every option parses into its field and is documented in --help, bad
 * values name their flag, and an unknown CNN_DDP_ variable is warned about. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cnn_ddp/cli.h"
#include "cnn_ddp/config_options.h"

static const char default_text[] =
    "data=datasets/mnist.h5\n"
    "model=seed\n"
    "epochs=10\n"
    "max_steps=0\n"
    "batch=0\n"
    "batch_per_rank=0\n"
    "lr=0\n"
    "lr_schedule=model\n"
    "momentum=0.5\n"
    "seed=1\n"
    "kernels=auto\n"
    "ckpt_dir=checkpoints\n"
    "ckpt_every=0\n"
    "keep=3\n"
    "check_every=50\n"
    "timeout=120\n"
    "device=cpu\n"
    "comm=auto\n"
    "val_rows=0\n";

/* Every formatted option changed (config_a below). */
static const char changed_text[] =
    "data=/data/x y.h5\n"
    "model=conv(4,k=3) pool(2) relu fc(10)\n"
    "epochs=3\n"
    "max_steps=1234567890123\n"
    "batch=96\n"
    "batch_per_rank=12\n"
    "lr=0.0123456789\n"
    "lr_schedule=cosine\n"
    "momentum=0.95\n"
    "seed=9223372036854775807\n"
    "kernels=avx2\n"
    "ckpt_dir=/tmp/ck dir\n"
    "ckpt_every=100\n"
    "keep=5\n"
    "check_every=7\n"
    "timeout=123.457\n"
    "device=cuda\n"
    "comm=nccl\n"
    "val_rows=0.1\n";

/* The other enum names, the limits of the ranges, and --no-ckpt (config_b). */
static const char limits_text[] =
    "data=/data/x y.h5\n"
    "model=conv(4,k=3) pool(2) relu fc(10)\n"
    "epochs=0\n"
    "max_steps=4611686018427387903\n"
    "batch=4096\n"
    "batch_per_rank=4096\n"
    "lr=1e+06\n"
    "lr_schedule=constant\n"
    "momentum=0\n"
    "seed=0\n"
    "kernels=avx512\n"
    "ckpt_dir=(disabled)\n"
    "ckpt_every=100\n"
    "keep=5\n"
    "check_every=7\n"
    "timeout=5\n"
    "device=auto\n"
    "comm=mpi\n"
    "val_rows=5000\n";

static void config_a(cd_train_config *c)
{
    cd_train_config_defaults(c);
    snprintf(c->data, sizeof c->data, "/data/x y.h5");
    snprintf(c->model, sizeof c->model, "conv(4,k=3) pool(2) relu fc(10)");
    c->epochs = 3;
    c->max_steps = 1234567890123;
    c->batch = 96;
    c->lr = 0.0123456789;
    c->lr_schedule = CD_LR_COSINE;
    c->momentum = 0.95;
    c->seed = 9223372036854775807ull;
    c->kernels = CD_KERNELS_AVX2;
    c->batch_per_rank = 12;
    snprintf(c->ckpt_dir, sizeof c->ckpt_dir, "/tmp/ck dir");
    c->ckpt_every = 100;
    c->keep = 5;
    c->check_every = 7;
    c->timeout_s = 123.4567; /* printed with %g: six significant digits */
    c->device = CD_DEVICE_CUDA;
    c->comm = CD_COMM_NCCL;
    c->val_rows = 0.1;
    /* not part of the formatted text */
    snprintf(c->metrics, sizeof c->metrics, "m.jsonl");
    c->quiet = 1;
    c->resume = CD_RESUME_FILE;
    snprintf(c->resume_path, sizeof c->resume_path, "r.h5");
    c->log_every = 9;
}

static void config_b(cd_train_config *c)
{
    config_a(c);
    c->kernels = CD_KERNELS_AVX512;
    c->lr_schedule = CD_LR_CONSTANT;
    c->device = CD_DEVICE_AUTO;
    c->comm = CD_COMM_MPI;
    c->no_ckpt = 1;
    c->lr = 1e6;
    c->momentum = 0;
    c->timeout_s = 5;
    c->seed = 0;
    c->epochs = 0;
    c->max_steps = INT64_MAX / 2;
    c->batch_per_rank = 4096;
    c->batch = 4096;
    c->val_rows = 5000;
}

static void assert_formats_as(const cd_train_config *c, const char *want)
{
    char buf[8192];
    cd_train_config_format(c, buf, sizeof buf);
    assert_string_equal(buf, want);
}

static void test_format_unchanged(void **state)
{
    (void)state;
    cd_train_config *c = calloc(1, sizeof *c);
    assert_non_null(c);
    cd_train_config_defaults(c);
    assert_formats_as(c, default_text);
    config_a(c);
    assert_formats_as(c, changed_text);
    config_b(c);
    assert_formats_as(c, limits_text);
    /* scalar, cpu, and a seed only a program (not the command line) can set */
    c->kernels = CD_KERNELS_SCALAR;
    c->device = CD_DEVICE_CPU;
    c->seed = UINT64_MAX;
    c->timeout_s = 1e9;
    char buf[8192];
    cd_train_config_format(c, buf, sizeof buf);
    assert_non_null(strstr(buf, "\nseed=18446744073709551615\nkernels=scalar\n"));
    assert_non_null(strstr(buf, "\ntimeout=1e+09\ndevice=cpu\n"));
    /* a short buffer gets the prefix, terminated */
    cd_train_config_defaults(c);
    char small[20];
    cd_train_config_format(c, small, sizeof small);
    assert_string_equal(small, "data=datasets/mnist");
    free(c);
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
    (void)state;
    cd_train_config *c = calloc(1, sizeof *c);
    assert_non_null(c);
    cd_train_config_defaults(c);
    assert_string_equal(c->data, "datasets/mnist.h5");
    assert_string_equal(c->model, "seed");
    assert_int_equal(c->epochs, 10);
    assert_int_equal(c->max_steps, 0);
    assert_int_equal(c->batch, 0); /* 64, or --batch-per-rank times the ranks */
    assert_true(c->lr == 0.0); /* the model's default */
    assert_int_equal(c->lr_schedule, CD_LR_MODEL_DEFAULT);
    assert_true(c->momentum == 0.5);
    assert_int_equal(c->seed, 1);
    assert_int_equal(c->kernels, CD_KERNELS_AUTO);
    assert_int_equal(c->batch_per_rank, 0);
    assert_string_equal(c->metrics, "");
    assert_int_equal(c->quiet, 0);
    assert_int_equal(c->verbose, 0);
    assert_string_equal(c->ckpt_dir, "checkpoints");
    assert_int_equal(c->ckpt_every, 0);
    assert_int_equal(c->keep, 3);
    assert_int_equal(c->no_ckpt, 0);
    assert_int_equal(c->resume, CD_RESUME_NONE);
    assert_string_equal(c->resume_path, "");
    assert_int_equal(c->check_every, 50);
    assert_true(c->timeout_s == 120.0);
    assert_int_equal(c->log_every, 0);
    assert_true(c->process_start == 0.0);
    assert_int_equal(c->device, CD_DEVICE_CPU);
    assert_int_equal(c->comm, CD_COMM_AUTO);
    assert_true(c->val_rows == 0.0);
    free(c);
}

/* ---- parsing ---- */

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static cd_status parse(int argc, char **argv, char *const *envp, cd_train_config *c, cd_cli_action *action,
                       cd_cli_warnings *w, cd_error *err)
{
    memset(err, 0, sizeof *err);
    return cd_cli_parse(argc, argv, envp, c, action, w, err);
}

static void test_parse_every_option(void **state)
{
    (void)state;
    char *argv[] = {"train", "--data", "/data/x y.h5", "--model=conv(4,k=3) pool(2) relu fc(10)", "--epochs", "3",
                    "--max-steps", "1234567890123", "--batch", "96", "--lr", "0.0123456789", "--lr-schedule",
                    "cosine", "--momentum", "0.95", "--seed", "9223372036854775807", "--kernels", "avx2", "--batch-per-rank",
                    "12", "--ckpt-dir", "/tmp/ck dir", "--ckpt-every", "100", "--keep", "5", "--check-every", "7",
                    "--timeout", "123.4567", "--device", "cuda", "--comm", "nccl", "--val-rows", "0.1", "--metrics", "m.jsonl", "--memory-limit", "3G", "--quiet",
                    "--resume", "r.h5", "--log-every", "9", "--verbose", "--no-ckpt", "--overwrite",
                    "--init-from", "/ck/src.h5", "--progress", "lines", "--progress-every", "2.5"};
    cd_train_config *c = calloc(2, sizeof *c);
    assert_non_null(c);
    cd_cli_action action;
    cd_cli_warnings w;
    cd_error err;
    assert_int_equal(parse(ARGC(argv), argv, NULL, c, &action, &w, &err), CD_OK);
    assert_int_equal(action, CD_CLI_TRAIN);
    assert_string_equal(w.text, "");
    /* every option of the table has left its default */
    size_t count;
    const cd_option *opts = cd_options(&count);
    for (size_t k = 0; k < count; k++) {
        char got[256], def[256];
        cd_option_format(&opts[k], c, got, sizeof got);
        cd_option_format_default(&opts[k], def, sizeof def);
        if (!strcmp(got, def)) fail_msg("--%s is still at its default '%s': add it to this test", opts[k].name, def);
    }
    assert_string_equal(c->metrics, "m.jsonl");
    assert_string_equal(c->memory_limit, "3G");
    assert_int_equal(c->quiet, 1);
    assert_int_equal(c->verbose, 1);
    assert_int_equal(c->overwrite, 1);
    assert_int_equal(c->log_every, 9);
    assert_int_equal(c->progress, CD_PROGRESS_LINES);
    assert_true(c->progress_every == 2.5);
    assert_int_equal(c->resume, CD_RESUME_FILE);
    assert_string_equal(c->resume_path, "r.h5");
    assert_string_equal(c->init_from, "/ck/src.h5");
    assert_int_equal(c->no_ckpt, 1);
    /* the text is today's: --no-ckpt shows as a disabled ckpt_dir; --verbose and the others are not in it */
    config_a(&c[1]);
    c[1].no_ckpt = 1;
    c[1].verbose = 1;
    char want[8192], got[8192];
    cd_train_config_format(&c[1], want, sizeof want);
    assert_non_null(strstr(want, "ckpt_dir=(disabled)\n"));
    cd_train_config_format(c, got, sizeof got);
    assert_string_equal(got, want);
    assert_null(strstr(got, "verbose"));
    /* without --no-ckpt, exactly the recorded text */
    c->no_ckpt = 0;
    assert_formats_as(c, changed_text);
    free(c);
}

static void test_parse_limits(void **state)
{
    (void)state;
    char *argv[] = {"--data", "/data/x y.h5", "--model", "conv(4,k=3) pool(2) relu fc(10)", "--epochs", "0",
                    "--max-steps", "4611686018427387903", "--batch", "4096", "--lr", "1e6", "--lr-schedule",
                    "constant", "--momentum", "0", "--seed", "0", "--kernels", "avx512", "--batch-per-rank", "4096",
                    "--ckpt-dir=/tmp/ck dir", "--ckpt-every", "100", "--keep", "5", "--check-every", "7",
                    "--timeout", "5", "--device", "auto", "--comm", "mpi", "--val-rows", "5000", "--no-ckpt", "--resume"};
    cd_train_config *c = calloc(1, sizeof *c);
    assert_non_null(c);
    cd_cli_action action;
    cd_error err;
    assert_int_equal(parse(ARGC(argv), argv, NULL, c, &action, NULL, &err), CD_OK);
    assert_formats_as(c, limits_text);
    assert_int_equal(c->resume, CD_RESUME_NEWEST);
    char *scalar[] = {"--kernels", "scalar", "--device=cpu", "--resume", "--quiet"};
    assert_int_equal(parse(ARGC(scalar), scalar, NULL, c, &action, NULL, &err), CD_OK);
    assert_int_equal(c->kernels, CD_KERNELS_SCALAR);
    assert_int_equal(c->device, CD_DEVICE_CPU);
    assert_int_equal(c->resume, CD_RESUME_NEWEST);
    assert_int_equal(c->quiet, 1);
    char *off[] = {"--timeout", "0"}; /* below the floor, but 0 is the documented "no watchdog" */
    assert_int_equal(parse(ARGC(off), off, NULL, c, &action, NULL, &err), CD_OK);
    assert_true(c->timeout_s == 0);
    free(c);
}

static void test_actions(void **state)
{
    (void)state;
    cd_train_config *c = calloc(1, sizeof *c);
    assert_non_null(c);
    cd_cli_action action;
    cd_error err;
    char *help[] = {"--batch", "32", "--help"}, *version[] = {"--version"}, *bad[] = {"--help=1"};
    assert_int_equal(parse(ARGC(help), help, NULL, c, &action, NULL, &err), CD_OK);
    assert_int_equal(action, CD_CLI_HELP);
    assert_int_equal(parse(ARGC(version), version, NULL, c, &action, NULL, &err), CD_OK);
    assert_int_equal(action, CD_CLI_VERSION);
    assert_int_equal(parse(ARGC(bad), bad, NULL, c, &action, NULL, &err), CD_E_USAGE);
    assert_string_equal(err.msg, "--help takes no value");
    free(c);
}

/* ---- refusals ---- */

static void expect_refused(char *flag, char *value, const char *message_part)
{
    char name[64];
    snprintf(name, sizeof name, "--%s", flag);
    char *argv[] = {name, value};
    cd_train_config *c = calloc(1, sizeof *c);
    assert_non_null(c);
    cd_cli_action action;
    cd_error err;
    cd_status st = parse(value ? 2 : 1, argv, NULL, c, &action, NULL, &err);
    if (st != CD_E_USAGE) fail_msg("%s %s: status %d, expected a usage error", name, value ? value : "", (int)st);
    name[strcspn(name, "=")] = '\0';
    if (!strstr(err.msg, name)) fail_msg("%s %s: '%s' does not name the flag", name, value ? value : "", err.msg);
    if (message_part && !strstr(err.msg, message_part))
        fail_msg("%s %s: '%s' lacks '%s'", name, value ? value : "", err.msg, message_part);
    free(c);
}

static void test_bad_values(void **state)
{
    (void)state;
    size_t count;
    const cd_option *opts = cd_options(&count);
    char *long_text = malloc(CD_PATH_MAX + 1);
    assert_non_null(long_text);
    memset(long_text, 'x', CD_PATH_MAX);
    long_text[CD_PATH_MAX] = '\0';
    for (size_t k = 0; k < count; k++) {
        const cd_option *o = &opts[k];
        char *name = (char *)o->name, lo[32], hi[32];
        switch (o->kind) {
        case CD_OPT_INT:
            expect_refused(name, "12x", "not an integer");
            expect_refused(name, "", "not an integer");
            expect_refused(name, "99999999999999999999", "not an integer");
            snprintf(lo, sizeof lo, "%lld", (long long)o->lo - 1);
            snprintf(hi, sizeof hi, "%lld", (long long)o->hi + (o->hi < INT64_MAX));
            expect_refused(name, lo, "must be between");
            if (o->hi < INT64_MAX) expect_refused(name, hi, "must be between");
            expect_refused(name, NULL, "needs a value");
            break;
        case CD_OPT_REAL:
            expect_refused(name, "nan", "not a finite number");
            expect_refused(name, "inf", "not a finite number");
            expect_refused(name, "0.5x", "not a finite number");
            snprintf(lo, sizeof lo, "%.17g", o->min_open ? o->min : o->min - 1);
            snprintf(hi, sizeof hi, "%.17g", o->max_open ? o->max : o->max * 2);
            expect_refused(name, lo, "must be in");
            expect_refused(name, hi, "must be in");
            break;
        case CD_OPT_ENUM: expect_refused(name, "bogus", "expected "); break;
        case CD_OPT_TEXT:
            if (!o->empty_ok) expect_refused(name, "", "empty value");
            expect_refused(name, long_text, "longer than");
            break;
        case CD_OPT_RESUME: expect_refused("resume=", NULL, "empty value"); break;
        case CD_OPT_FLAG: {
            char eq[64];
            snprintf(eq, sizeof eq, "%s=1", name);
            expect_refused(eq, NULL, "takes no value");
            break;
        }
        }
    }
    free(long_text);
    /* the messages the shell tests and users already know */
    expect_refused("lr", "0", "--lr 0: must be in (0, 1e+06]");
    expect_refused("momentum", "1", "--momentum 1: must be in [0, 1)");
    expect_refused("batch", "0", "--batch 0: must be between 1 and 4096");
    /* a watchdog that would end healthy jobs, or never fire in practice (0 turns it off: see below) */
    expect_refused("timeout", "4.9", "--timeout 4.9: must be in [5, 86400], or 0 (off)");
    expect_refused("timeout", "0.001", "--timeout 0.001: must be in [5, 86400], or 0 (off)");
    expect_refused("timeout", "86401", "--timeout 86401: must be in [5, 86400], or 0 (off)");
    expect_refused("timeout", "1e9", "--timeout 1e9: must be in [5, 86400], or 0 (off)");
    /* strtoll/strtod would take these; a person never means them */
    expect_refused("epochs", " 5", "--epochs  5: not an integer");
    expect_refused("epochs", "+5", "--epochs +5: not an integer");
    expect_refused("epochs", "5 ", "--epochs 5 : not an integer");
    expect_refused("lr", "0x10", "--lr 0x10: not a plain decimal number");
    expect_refused("lr", " 0.1", "--lr  0.1: not a plain decimal number");
    expect_refused("momentum", "+0.5", "--momentum +0.5: not a plain decimal number");
    expect_refused("batch-per-rank", "4097", "--batch-per-rank 4097: must be between 1 and 4096");
    expect_refused("kernels", "avx9", "--kernels avx9: expected scalar, avx2, avx512 or auto");
    expect_refused("lr-schedule", "model", "--lr-schedule model: expected constant or cosine");
    expect_refused("device", "tpu", "--device tpu: expected cpu, cuda or auto");
    expect_refused("comm", "gloo", "--comm gloo: expected mpi, nccl or auto");

    cd_train_config *c = calloc(1, sizeof *c);
    assert_non_null(c);
    cd_cli_action action;
    cd_error err;
    char *unknown[] = {"--bogus=3"}, *stray[] = {"--batch", "32", "stray"}, *late_train[] = {"--quiet", "train"};
    assert_int_equal(parse(1, unknown, NULL, c, &action, NULL, &err), CD_E_USAGE);
    assert_string_equal(err.msg, "unknown option '--bogus' (see --help)");
    assert_int_equal(parse(ARGC(stray), stray, NULL, c, &action, NULL, &err), CD_E_USAGE);
    assert_non_null(strstr(err.msg, "unexpected argument 'stray'"));
    assert_int_equal(parse(ARGC(late_train), late_train, NULL, c, &action, NULL, &err), CD_E_USAGE);
    free(c);
}

/* ---- the environment ---- */

static void test_environment(void **state)
{
    (void)state;
    cd_train_config *c = calloc(1, sizeof *c);
    assert_non_null(c);
    cd_cli_action action;
    cd_cli_warnings w;
    cd_error err;
    char *const env[] = {"PATH=/bin", "CNN_DDP_BATCH=128", "CNN_DDP_QUIET=1", "CNN_DDP_NO_CKPT=0", "CNN_DDP_RESUME=",
                         "CNN_DDP_CKPT_DIR=/scratch/ck", "CNN_DDP_LR_SCHEDULE=cosine", NULL};
    assert_int_equal(parse(0, NULL, env, c, &action, &w, &err), CD_OK);
    assert_string_equal(w.text, "");
    assert_int_equal(c->batch, 128);
    assert_int_equal(c->quiet, 1);
    assert_int_equal(c->no_ckpt, 0);
    assert_int_equal(c->resume, CD_RESUME_NEWEST);
    assert_string_equal(c->ckpt_dir, "/scratch/ck");
    assert_int_equal(c->lr_schedule, CD_LR_COSINE);
    char *argv[] = {"--batch", "32"};
    assert_int_equal(parse(ARGC(argv), argv, env, c, &action, &w, &err), CD_OK);
    assert_int_equal(c->batch, 32); /* the command line wins */
    char *const bad[] = {"CNN_DDP_BATCH=0", NULL};
    assert_int_equal(parse(0, NULL, bad, c, &action, &w, &err), CD_E_USAGE);
    assert_non_null(strstr(err.msg, "environment variable CNN_DDP_BATCH: --batch 0"));
    free(c);
}

static void test_unknown_variables(void **state)
{
    (void)state;
    cd_train_config *c = calloc(1, sizeof *c);
    assert_non_null(c);
    cd_cli_action action;
    cd_cli_warnings w;
    cd_error err;
    char *const known[] = {"CNN_DDP_FAULT=nan:0:3", "CNN_DDP_BIN=build/cnn_ddp", "CNN_DDP_TEST_BUILD=b",
                           "CNN_DDP_EXTRA_PACKAGES=x", "CNN_DDP_VERBOSE=1", "CNN_DDP_=", "CNN_DDP_MAX_STEPS=5", NULL};
    assert_int_equal(parse(0, NULL, known, c, &action, &w, &err), CD_OK);
    assert_string_equal(w.text, "CNN_DDP_ is not a cnn_ddp option\n");
    assert_int_equal(c->verbose, 1);
    assert_int_equal(c->max_steps, 5);
    char *const fault[] = {"CNN_DDP_FAULT=nan:0:3", NULL};
    assert_int_equal(parse(0, NULL, fault, c, &action, &w, &err), CD_OK);
    assert_string_equal(w.text, "");
    char *const typos[] = {"CNN_DDP_BACH=128", "HOME=/root", "CNN_DDP_XYZZY=1", "CNN_DDP_batch=1", "CNN_DDP_FALT=x",
                           "CNN_DDP_QUITE=1", "CNN_DDP_HELP=1", "CNN_DDP_WITHOUT_VALUE", NULL};
    assert_int_equal(parse(0, NULL, typos, c, &action, &w, &err), CD_OK);
    assert_string_equal(w.text, "CNN_DDP_BACH is not a cnn_ddp option (did you mean CNN_DDP_BATCH?)\n"
                                "CNN_DDP_XYZZY is not a cnn_ddp option\n"
                                "CNN_DDP_batch is not a cnn_ddp option (did you mean CNN_DDP_BATCH?)\n"
                                "CNN_DDP_FALT is not a cnn_ddp option (did you mean CNN_DDP_FAULT?)\n"
                                "CNN_DDP_QUITE is not a cnn_ddp option (did you mean CNN_DDP_QUIET?)\n"
                                "CNN_DDP_HELP is not a cnn_ddp option\n");
    assert_int_equal(c->batch, 0); /* 64, or --batch-per-rank times the ranks */
    /* the warnings come back with a usage error too */
    char *const both[] = {"CNN_DDP_BACH=1", "CNN_DDP_EPOCHS=x", NULL};
    assert_int_equal(parse(0, NULL, both, c, &action, &w, &err), CD_E_USAGE);
    assert_non_null(strstr(w.text, "CNN_DDP_BACH"));
    free(c);
}

/* ---- the usage text ---- */

/* The text with every run of white space made one space, so that wrapping does not matter. */
static char *squeezed(const char *s)
{
    char *out = malloc(strlen(s) + 1), *o = out;
    assert_non_null(out);
    for (; *s; s++)
        if (*s != ' ' && *s != '\n') *o++ = *s;
        else if (o > out && o[-1] != ' ') *o++ = ' ';
    *o = '\0';
    return out;
}

static void test_usage(void **state)
{
    (void)state;
    const char *usage = cd_cli_usage();
    assert_ptr_equal(usage, cd_cli_usage()); /* built once */
    char *flat = squeezed(usage);
    size_t count;
    const cd_option *opts = cd_options(&count);
    for (size_t k = 0; k < count; k++) {
        const cd_option *o = &opts[k];
        char line[96], def[256], phrase[512];
        snprintf(line, sizeof line, "\n  --%s%s%s", o->name, o->arg == CD_ARG_NONE ? "" : " ",
                 o->arg == CD_ARG_REQUIRED ? o->metavar : o->arg == CD_ARG_OPTIONAL ? "[" : "");
        if (!strstr(usage, line)) fail_msg("--help lacks '%s'", line + 1);
        if (o->kind == CD_OPT_FLAG || o->kind == CD_OPT_RESUME) continue;
        cd_option_format_default(o, def, sizeof def);
        if (o->default_doc) snprintf(phrase, sizeof phrase, "(default %s)", o->default_doc);
        else snprintf(phrase, sizeof phrase, "(default %s%s)", def, o->default_note ? o->default_note : "");
        if (!strstr(flat, phrase)) fail_msg("--help does not give --%s's default: '%s'", o->name, phrase);
        for (size_t n = 0; o->kind == CD_OPT_ENUM && n < o->name_count; n++)
            if (!o->names[n].output_only && !strstr(flat, o->names[n].name))
                fail_msg("--help lacks --%s %s", o->name, o->names[n].name);
    }
    free(flat);
    const char *titles[] = {"\ndata and model:\n", "\ntraining:\n", "\ncheckpoints:\n", "\nrobustness:\n",
                            "\noutput:\n"};
    for (size_t k = 0; k < sizeof titles / sizeof titles[0]; k++) assert_non_null(strstr(usage, titles[k]));
    assert_non_null(strstr(usage, "\n  --help, --version\n"));
    assert_non_null(strstr(usage, "print the start-up plan: each conv layer's kernel path"));
    /* it was not cut short, and no line is wider than the rest of --help */
    const char *tail = "143/130 stopped by signal.\n";
    assert_string_equal(usage + strlen(usage) - strlen(tail), tail);
    for (const char *l = usage; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != '\0'))
        if (strcspn(l, "\n") > 100) fail_msg("--help line wider than 100: %.*s", (int)strcspn(l, "\n"), l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_unchanged),  cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_parse_every_option), cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_actions),           cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_environment),       cmocka_unit_test(test_unknown_variables),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
