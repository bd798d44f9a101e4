/* The console reporter (see console.h). */
#include "console.h"
#include "model_summary.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

enum { BAR_MIN = 10, BAR_MAX = 30 }; /* the [====>   ] graphic's inner width */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

cd_progress_mode cd_console_resolve(cd_progress_mode asked, int stdout_is_tty, int under_launcher)
{
    if (asked != CD_PROGRESS_AUTO) return asked;
    return stdout_is_tty && !under_launcher ? CD_PROGRESS_BAR : CD_PROGRESS_LINES;
}

/* The terminal's width now (read before each redraw, so a resize takes effect at the next one). */
static int terminal_width(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    const char *env = getenv("COLUMNS");
    const int cols = env ? atoi(env) : 0;
    return cols > 0 ? cols : 80;
}

/* "42s", "3m05s", "2h03m", "4d07h"; "?" when unknown. */
static void duration(double s, char out[16])
{
    if (!(s >= 0) || s > 1e9) {
        snprintf(out, 16, "?");
        return;
    }
    const long t = lround(s);
    if (t < 60) snprintf(out, 16, "%lds", t);
    else if (t < 3600) snprintf(out, 16, "%ldm%02lds", t / 60, t % 60);
    else if (t < 100 * 3600) snprintf(out, 16, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else snprintf(out, 16, "%ldd%02ldh", t / 86400, t / 3600 % 24);
}

/* What the bar and the lines say, from one cd_progress. */
typedef struct progress_facts {
    int64_t epoch, done, spe; /* the epoch in progress (1-based) and its steps done */
    int pct;
    double ips;
    char eta[16], total[16];  /* the epoch's and the run's */
} progress_facts;

static progress_facts facts_of(const cd_progress *p, double steps_per_s)
{
    progress_facts f = {0};
    f.spe = p->steps_per_epoch > 0 ? p->steps_per_epoch : 1;
    f.done = p->step % f.spe ? p->step % f.spe : f.spe;
    f.epoch = p->step / f.spe + (p->step % f.spe ? 1 : 0);
    f.pct = (int)(100 * f.done / f.spe);
    f.ips = p->epoch_seconds > 0 ? (double)p->epoch_samples / p->epoch_seconds : 0.0;
    duration(f.ips > 0 ? (double)(f.spe - f.done) * p->batch / f.ips : -1, f.eta);
    duration(steps_per_s > 0 ? (double)(p->total_steps - p->step) / steps_per_s : -1, f.total);
    return f;
}

void cd_console_format_line(const cd_progress *p, double steps_per_s, char *out, size_t size)
{
    const progress_facts f = facts_of(p, steps_per_s);
    snprintf(out, size, "step %" PRId64 "/%" PRId64 "  epoch %" PRId64 "/%" PRId64 " %d%%  %.0f img/s  loss %.4f  "
             "epoch ETA %s  total ETA %s", p->step, p->total_steps, f.epoch, p->epochs, f.pct, f.ips, p->epoch_loss,
             f.eta, f.total);
}

/* The bar's parts in screen order; the ones after the head are dropped, in DROP order, until the
 * line fits (the graphic first shrinks from BAR_MAX to BAR_MIN). */
enum { F_HEAD, F_GRAPHIC, F_COUNT, F_RATE, F_LOSS, F_ETA, F_TOTAL, F_N };
static const int DROP[] = {F_COUNT, F_GRAPHIC, F_RATE, F_ETA, F_LOSS, F_TOTAL};

void cd_console_format_bar(const cd_progress *p, double steps_per_s, int width, char *out, size_t size)
{
    if (!size) return;
    const progress_facts f = facts_of(p, steps_per_s);
    char part[F_N][48];
    snprintf(part[F_HEAD], sizeof part[0], "epoch %" PRId64 "/%" PRId64 " %d%%", f.epoch, p->epochs, f.pct);
    part[F_GRAPHIC][0] = '\0';
    /* Numbers padded to steadier widths, so the graphic keeps its width from one redraw to the next. */
    char spe_text[24];
    snprintf(spe_text, sizeof spe_text, "%" PRId64, f.spe);
    snprintf(part[F_COUNT], sizeof part[0], "%*" PRId64 "/%s", (int)strlen(spe_text), f.done, spe_text);
    snprintf(part[F_RATE], sizeof part[0], "%4.0f img/s", f.ips);
    snprintf(part[F_LOSS], sizeof part[0], "loss %.4f", p->epoch_loss);
    snprintf(part[F_ETA], sizeof part[0], "ETA %-5s", f.eta);
    snprintf(part[F_TOTAL], sizeof part[0], "total %s", f.total);
    const int limit = width > 1 ? width - 1 : 1;
    int on[F_N] = {1, 1, 1, 1, 1, 1, 1};
    int inner = 0;
    for (size_t d = 0;; d++) {
        int len = 0; /* the text parts, "  " between them */
        for (int k = 0; k < F_N; k++)
            if (on[k] && k != F_GRAPHIC) len += (len ? 2 : 0) + (int)strlen(part[k]);
        if (on[F_GRAPHIC]) {
            const int room = limit - len - 3; /* " [" ... "]" */
            if (room >= BAR_MIN) {
                inner = room < BAR_MAX ? room : BAR_MAX;
                break;
            }
        } else if (len <= limit) {
            break;
        }
        if (d == sizeof DROP / sizeof DROP[0]) break; /* the head alone, cut below */
        on[DROP[d]] = 0;
    }
    if (on[F_GRAPHIC]) {
        const int filled = (int)(inner * f.done / f.spe);
        part[F_GRAPHIC][0] = '[';
        for (int i = 0; i < inner; i++) part[F_GRAPHIC][1 + i] = i < filled ? '=' : (i == filled ? '>' : ' ');
        part[F_GRAPHIC][inner + 1] = ']';
        part[F_GRAPHIC][inner + 2] = '\0';
    }
    size_t used = 0;
    out[0] = '\0';
    for (int k = 0; k < F_N && used + 1 < size; k++) {
        if (!on[k]) continue;
        const int n = snprintf(out + used, size - used, "%s%s", k == 0 ? "" : (k == F_GRAPHIC ? " " : (used ? "  " : "")),
                               part[k]);
        used += n > 0 && (size_t)n < size - used ? (size_t)n : size - used - 1;
    }
    if (used > (size_t)limit) out[limit] = '\0';
}

/* Leaves the bar's line clean before any other output. */
static void clear_bar(cd_console *c)
{
    if (c->bar_shown) printf("\r\033[K");
    c->bar_shown = 0;
    if (c->mode == CD_PROGRESS_BAR) c->last_draw = 0; /* redraw at the next step */
}

void cd_console_clear(cd_console *c)
{
    clear_bar(c);
    fflush(stdout);
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
    if (c->quiet || c->mode == CD_PROGRESS_BAR) return;
    printf("first step done %.3f s after start\n", seconds);
    fflush(stdout);
}

/* The bar: "\r" + one line fitted to the terminal, redrawn at most every 0.2 s; the epoch summary line
 * replaces it. The lines: one every `every` seconds. */
static void on_step(void *ctx, const cd_progress *p)
{
    cd_console *c = ctx;
    if (c->mode != CD_PROGRESS_BAR && c->mode != CD_PROGRESS_LINES) return; /* no clock read for nothing */
    const double now = now_s();
    if (c->t_first == 0) {
        c->t_first = now;
        c->step_first = p->step;
        if (c->mode == CD_PROGRESS_LINES) c->last_draw = now;
    }
    const double wall = now - c->t_first;
    const double steps_per_s = wall >= 0.5 && p->step > c->step_first ? (double)(p->step - c->step_first) / wall : 0;
    char text[512];
    if (c->mode == CD_PROGRESS_LINES) {
        if (now - c->last_draw < c->every) return;
        c->last_draw = now;
        cd_console_format_line(p, steps_per_s, text, sizeof text);
        printf("%s\n", text);
        fflush(stdout);
        return;
    }
    if (now - c->last_draw < 0.2) return;
    c->last_draw = now;
    cd_console_format_bar(p, steps_per_s, terminal_width(), text, sizeof text);
    printf("\r%s\033[K", text);
    c->bar_shown = 1;
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

cd_reporter cd_console_reporter(cd_console *c, int quiet, int verbose, cd_progress_mode mode, double every)
{
    memset(c, 0, sizeof *c);
    c->quiet = quiet;
    c->verbose = verbose;
    c->mode = quiet || mode == CD_PROGRESS_AUTO ? CD_PROGRESS_NONE : mode;
    c->every = every > 0 ? every : 30;
    return (cd_reporter){.ctx = c, .note = on_note, .warning = on_warning, .banner = on_banner,
                         .first_step = on_first_step, .step = on_step, .epoch = on_epoch, .stopped = on_stopped,
                         .final = on_final, .result = on_result};
}
