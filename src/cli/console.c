/* The console reporter (see console.h). */
#include "console.h"
#include "model_summary.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Leaves the bar's line clean before any other output. */
static void clear_bar(cd_console *c)
{
    if (c->bar && c->last_bar > 0) printf("\r\033[K");
    c->last_bar = 0;
}

static void on_note(void *ctx, const char *line)
{
    cd_console *c = ctx;
    if (c->quiet) return;
    clear_bar(c);
    printf("%s\n", line);
    fflush(stdout);
}

static void on_warning(void *ctx, const char *line)
{
    clear_bar(ctx);
    fflush(stdout);
    fprintf(stderr, "cnn_ddp: warning: %s\n", line);
}

/* --verbose: how the kernel set computes each conv layer (chosen once at build time). */
static void print_plans(const cd_run_info *i)
{
    for (int k = 0; k < i->n_layers; k++) {
        const cd_layer *l = &i->layers[k];
        if (l->spec.type != CD_LAYER_CONV) continue;
        char plan[160];
        cd_conv_plan_describe(&l->plan, plan, sizeof plan);
        printf("plan: %s %dx%dx%d -> %dx%dx%d (k%d s%d p%d): %s\n", l->name, l->in.c, l->in.h, l->in.w, l->out.c,
               l->out.h, l->out.w, l->spec.k, l->spec.stride, l->spec.pad, plan);
    }
}

static void on_banner(void *ctx, const cd_run_info *i)
{
    cd_console *c = ctx;
    if (c->quiet) return;
    printf("cnn_ddp %s: model %s (%zu parameters), %d rank%s, kernels %s\n", CNN_DDP_VERSION, i->model, i->n_params,
           i->ranks, i->ranks == 1 ? "" : "s", i->kernels);
    cd_cli_model_summary(stdout, "  ", (cd_shape){i->channels, i->height, i->width}, i->layers, i->n_layers);
    printf("config: ");
    for (const char *p = i->config; *p; p++) putchar(*p == '\n' ? ' ' : *p);
    printf("\n");
    if (i->device[0] == 'c' && i->device[1] == 'u')
        printf("device: %s on every rank's node-local GPU%s, gradients summed with %s\n", i->device_name,
               i->ranks_share_gpus ? " (ranks share GPUs)" : "", i->grad_comm);
    const int per = i->batch / i->ranks, extra = i->batch % i->ranks;
    char split[64];
    if (extra) snprintf(split, sizeof split, "%d-%d per rank", per, per + 1);
    else snprintf(split, sizeof split, "%d per rank", per);
    char val[64] = "";
    if (i->val_rows) snprintf(val, sizeof val, ", %" PRId64 " validation rows", i->val_rows);
    printf("data %s: %" PRId64 " training rows, %" PRId64 " steps per epoch of %d images (%s; %" PRId64
           " skipped per epoch), %" PRId64 " test rows%s\n",
           i->data, i->train_rows, i->steps_per_epoch, i->batch, split, i->skipped_per_epoch, i->test_rows, val);
    printf("images %dx%dx%d (CxHxW), %d classes; normalisation %s\n", i->channels, i->height, i->width, i->classes,
           i->norm);
    if (c->verbose) print_plans(i);
    fflush(stdout);
}

static void on_first_step(void *ctx, double seconds)
{
    cd_console *c = ctx;
    if (c->quiet || c->bar) return;
    printf("first step done %.3f s after start\n", seconds);
    fflush(stdout);
}

/* "\r" + the bar, redrawn at most every 0.2 s; the epoch summary line replaces it. */
static void on_step(void *ctx, const cd_progress *p)
{
    cd_console *c = ctx;
    if (!c->bar) return; /* every step calls this: no clock read without a bar to draw */
    const double now = now_s();
    if (now - c->last_bar < 0.2) return;
    c->last_bar = now;
    const int64_t spe = p->steps_per_epoch, done = p->step % spe ? p->step % spe : spe;
    enum { WIDTH = 30 };
    const int filled = (int)(WIDTH * done / spe);
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++) bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
    bar[WIDTH] = '\0';
    const double ips = p->epoch_seconds > 0 ? (double)p->epoch_samples / p->epoch_seconds : 0.0;
    const double eta = ips > 0 ? (double)(spe - done) * p->batch / ips : 0.0;
    printf("\repoch %" PRId64 "/%" PRId64 " [%s] %" PRId64 "/%" PRId64 "  %.0f img/s  loss %.4f  ETA %.0f s \033[K",
           p->step / spe + (p->step % spe ? 1 : 0), p->epochs, bar, done, spe, ips, p->epoch_loss, eta);
    fflush(stdout);
}

static void on_epoch(void *ctx, const cd_epoch_summary *e)
{
    cd_console *c = ctx;
    clear_bar(c);
    char held[96] = "";
    if (e->has_val) snprintf(held, sizeof held, "  val %.2f%% (loss %.4f)", 100.0 * e->val_acc, e->val_loss);
    else if (e->has_test) snprintf(held, sizeof held, "  test %.2f%%", 100.0 * e->test_acc);
    if (!c->quiet)
        printf("epoch %" PRId64 "/%" PRId64 "  loss %.4f  train %.2f%%%s  %.0f img/s  %.1f s\n", e->epoch, e->epochs,
               e->loss, 100.0 * e->train_acc, held, e->img_per_s, e->elapsed_s);
    fflush(stdout);
}

static void on_stopped(void *ctx, int64_t step, const char *ckpt)
{
    clear_bar(ctx);
    fflush(stdout);
    if (ckpt[0])
        fprintf(stderr, "cnn_ddp: stopped by signal at step %" PRId64 ", checkpoint %s; resume with --resume\n", step,
                ckpt);
    else /* --no-ckpt: saying "resume" would send the user after a file that does not exist */
        fprintf(stderr, "cnn_ddp: stopped by signal at step %" PRId64 "; no checkpoint was written (--no-ckpt), so "
                "there is nothing to resume\n", step);
}

static void on_final(void *ctx, int64_t step, double test_acc, const char *ckpt)
{
    clear_bar(ctx);
    if (isnan(test_acc))
        printf("final: step %" PRId64 "  (no /test split to evaluate)%s%s\n", step, ckpt[0] ? "  checkpoint " : "", ckpt);
    else
        printf("final: step %" PRId64 "  test accuracy %.2f%%%s%s\n", step, 100.0 * test_acc,
               ckpt[0] ? "  checkpoint " : "", ckpt);
    fflush(stdout);
}

/* The final result: printed even with --quiet, like on_final. */
static void on_result(void *ctx, const char *line)
{
    clear_bar(ctx);
    printf("%s\n", line);
    fflush(stdout);
}

cd_reporter cd_console_reporter(cd_console *c, int quiet, int verbose, int progress_bar)
{
    c->quiet = quiet;
    c->verbose = verbose;
    c->bar = progress_bar && !quiet;
    c->last_bar = 0;
    return (cd_reporter){.ctx = c, .note = on_note, .warning = on_warning, .banner = on_banner,
                         .first_step = on_first_step, .step = on_step, .epoch = on_epoch, .stopped = on_stopped,
                         .final = on_final, .result = on_result};
}
