/* Defaults and the printable form of a training configuration. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn_ddp/config.h"

void cd_train_config_defaults(cd_train_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->data, sizeof cfg->data, "datasets/mnist.h5");
    snprintf(cfg->model, sizeof cfg->model, "seed");
    cfg->epochs = 10;
    cfg->batch = 64;
    cfg->lr = 0; /* the model's default, resolved when training starts */
    cfg->momentum = 0.5;
    cfg->seed = 1;
    cfg->kernels = CD_KERNELS_AUTO;
    cfg->shards = 8;
    snprintf(cfg->ckpt_dir, sizeof cfg->ckpt_dir, "checkpoints");
    cfg->keep = 3;
    cfg->check_every = 50;
    cfg->timeout_s = 120.0;
}

static const char *kernel_name(cd_kernel_kind k)
{
    switch (k) {
    case CD_KERNELS_SCALAR: return "scalar";
    case CD_KERNELS_AVX2: return "avx2";
    case CD_KERNELS_AVX512: return "avx512";
    default: return "auto";
    }
}

/* The shortest decimal that reads back as exactly x, so 0.05 prints as 0.05 and still round-trips. */
static void shortest(double x, char out[32])
{
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(out, 32, "%.*g", digits, x);
        if (strtod(out, NULL) == x) return;
    }
}

void cd_train_config_format(const cd_train_config *c, char *buf, size_t size)
{
    char lr[32], momentum[32];
    shortest(c->lr, lr);
    shortest(c->momentum, momentum);
    snprintf(buf, size,
             "data=%s\nmodel=%s\nepochs=%" PRId64 "\nmax_steps=%" PRId64 "\nbatch=%d\nlr=%s\nlr_schedule=%s\nmomentum=%s\n"
             "seed=%" PRIu64 "\nkernels=%s\nshards=%d\nckpt_dir=%s\nckpt_every=%" PRId64 "\nkeep=%d\n"
             "check_every=%" PRId64 "\ntimeout=%g\ndevice=%s\ncomm=%s\n",
             c->data, c->model, c->epochs, c->max_steps, c->batch, lr,
             c->lr_schedule == CD_LR_COSINE ? "cosine" : c->lr_schedule == CD_LR_CONSTANT ? "constant" : "model",
             momentum, c->seed,
             kernel_name(c->kernels), c->shards, c->no_ckpt ? "(disabled)" : c->ckpt_dir, c->ckpt_every,
             c->keep, c->check_every, c->timeout_s,
             c->device == CD_DEVICE_CUDA ? "cuda" : c->device == CD_DEVICE_AUTO ? "auto" : "cpu",
             c->comm == CD_COMM_MPI ? "mpi" : c->comm == CD_COMM_NCCL ? "nccl" : "auto");
}
