/* The training options: cd_train_config_format prints exactly what the checkpoints already written
 * store (the literals below were produced by the code before the option table existed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cnn_ddp/config.h"

static const char default_text[] =
    "data=datasets/mnist.h5\n"
    "model=seed\n"
    "epochs=10\n"
    "max_steps=0\n"
    "batch=64\n"
    "lr=0\n"
    "lr_schedule=model\n"
    "momentum=0.5\n"
    "seed=1\n"
    "kernels=auto\n"
    "shards=8\n"
    "ckpt_dir=checkpoints\n"
    "ckpt_every=0\n"
    "keep=3\n"
    "check_every=50\n"
    "timeout=120\n"
    "device=cpu\n"
    "comm=auto\n";

/* Every formatted option changed (config_a below). */
static const char changed_text[] =
    "data=/data/x y.h5\n"
    "model=conv(4,k=3) pool(2) relu fc(10)\n"
    "epochs=3\n"
    "max_steps=1234567890123\n"
    "batch=96\n"
    "lr=0.0123456789\n"
    "lr_schedule=cosine\n"
    "momentum=0.95\n"
    "seed=9223372036854775807\n"
    "kernels=avx2\n"
    "shards=12\n"
    "ckpt_dir=/tmp/ck dir\n"
    "ckpt_every=100\n"
    "keep=5\n"
    "check_every=7\n"
    "timeout=123.457\n"
    "device=cuda\n"
    "comm=nccl\n";

/* The other enum names, the limits of the ranges, and --no-ckpt (config_b). */
static const char limits_text[] =
    "data=/data/x y.h5\n"
    "model=conv(4,k=3) pool(2) relu fc(10)\n"
    "epochs=0\n"
    "max_steps=4611686018427387903\n"
    "batch=65536\n"
    "lr=1e+06\n"
    "lr_schedule=constant\n"
    "momentum=0\n"
    "seed=0\n"
    "kernels=avx512\n"
    "shards=4096\n"
    "ckpt_dir=(disabled)\n"
    "ckpt_every=100\n"
    "keep=5\n"
    "check_every=7\n"
    "timeout=0.25\n"
    "device=auto\n"
    "comm=mpi\n";

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
    c->shards = 12;
    snprintf(c->ckpt_dir, sizeof c->ckpt_dir, "/tmp/ck dir");
    c->ckpt_every = 100;
    c->keep = 5;
    c->check_every = 7;
    c->timeout_s = 123.4567; /* printed with %g: six significant digits */
    c->device = CD_DEVICE_CUDA;
    c->comm = CD_COMM_NCCL;
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
    c->timeout_s = 0.25;
    c->seed = 0;
    c->epochs = 0;
    c->max_steps = INT64_MAX / 2;
    c->shards = 4096;
    c->batch = 65536;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
