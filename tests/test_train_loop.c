/* The training loop in-process: cd_train_run over the self comm and over a recording, fault-injecting
 * comm, with a reporter that records what the user would be told. Covers the collective pattern of a
 * step (one allreduce of n_params + CD_SLOTS), determinism, resume selection and refusals, the pending
 * failure protocol for rank 0's checkpoint writes, comm failures, another rank's failure and the NaN
 * fault. Each run is a few steps on a small random data set the test writes itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cnn_ddp/ckpt.h"
#include "cnn_ddp/comm.h"
#include "cnn_ddp/config.h"
#include "cnn_ddp/kernels.h"
#include "cnn_ddp/model.h"
#include "cnn_ddp/report.h"
#include "cnn_ddp/rng.h"
#include "cnn_ddp/spec.h"
#include "cnn_ddp/train.h"
#include "test_support.h"

/* 600 rows in 64 blocks of 9 or 10 (one per sample of the batch of 64): 9 steps per epoch; no run here reaches an
 * epoch's end, so the only evaluation is the final one. */
enum { TRAIN_ROWS = 600, TEST_ROWS = 200, SIDE = 28 };

#define TINY_SPEC "conv(4,k=5) pool(2) relu fc(10)"

/* ---- a recording reporter ------------------------------------------------------------------------ */

enum { MAX_LINES = 8 };

typedef struct recorder {
    char notes[MAX_LINES][CD_PATH_MAX + 256];
    int n_notes;
    char warnings[MAX_LINES][CD_PATH_MAX + 1200];
    int n_warnings;
    int banners, first_steps, steps, epochs, stopped, finals;
    cd_run_info banner;       /* the last banner, with its strings copied */
    char banner_grad_comm[16];
    int64_t final_step;
    char final_ckpt[CD_PATH_MAX];
    char result[CD_PATH_MAX + 256];
    int n_results;
} recorder;

static void on_note(void *ctx, const char *line)
{
    recorder *r = ctx;
    if (r->n_notes < MAX_LINES) snprintf(r->notes[r->n_notes++], sizeof r->notes[0], "%s", line);
}

static void on_warning(void *ctx, const char *line)
{
    recorder *r = ctx;
    if (r->n_warnings < MAX_LINES) snprintf(r->warnings[r->n_warnings++], sizeof r->warnings[0], "%s", line);
}

static void on_banner(void *ctx, const cd_run_info *info)
{
    recorder *r = ctx;
    r->banners++;
    r->banner = *info;
    snprintf(r->banner_grad_comm, sizeof r->banner_grad_comm, "%s", info->grad_comm);
    /* The strings are the trainer's and die with the run. */
    r->banner.model = r->banner.kernels = r->banner.device = r->banner.device_name = NULL;
    r->banner.grad_comm = r->banner.config = r->banner.data = NULL;
}

static void on_first_step(void *ctx, double s) { (void)s, ((recorder *)ctx)->first_steps++; }
static void on_step(void *ctx, const cd_progress *p) { (void)p, ((recorder *)ctx)->steps++; }
static void on_epoch(void *ctx, const cd_epoch_summary *e) { (void)e, ((recorder *)ctx)->epochs++; }
static void on_stopped(void *ctx, int64_t step, const char *ckpt) { (void)step, (void)ckpt, ((recorder *)ctx)->stopped++; }

static void on_final(void *ctx, int64_t step, double acc, const char *ckpt)
{
    (void)acc;
    recorder *r = ctx;
    r->finals++;
    r->final_step = step;
    snprintf(r->final_ckpt, sizeof r->final_ckpt, "%s", ckpt);
}

static void on_result(void *ctx, const char *line)
{
    recorder *r = ctx;
    r->n_results++;
    snprintf(r->result, sizeof r->result, "%s", line);
}

static cd_reporter reporter_of(recorder *r)
{
    memset(r, 0, sizeof *r);
    return (cd_reporter){.ctx = r, .note = on_note, .warning = on_warning, .banner = on_banner,
                         .first_step = on_first_step, .step = on_step, .epoch = on_epoch, .stopped = on_stopped,
                         .final = on_final, .result = on_result};
}

/* ---- a recording, fault-injecting comm ----------------------------------------------------------- *
 * It wraps cd_comm_self, which does the real work, and logs every call. Told to, it fails the k-th
 * allreduce with CD_E_COMM. With size 2 it also models a pretend rank 1 that holds no data of its own:
 * it adds zero to every sum and echoes rank 0's value in every allgather (so it agrees with every
 * status and weight checksum rank 0 reports) -- except where it is told to fail: at its k-th
 * allgather (a start-up failure: its status goes in out[1] at once), or in its local work of the k-th
 * training step (it adds 1 to the step's error slot, as a failing rank's buffer does, then reports its
 * status in the agreement that follows). When the agreement asks rank 1 for its message (a broadcast
 * from root 1), the fake supplies it. */

typedef enum call_kind { CALL_ALLREDUCE, CALL_ALLGATHER, CALL_BROADCAST } call_kind;

typedef struct call {
    call_kind kind;
    size_t n;              /* int64s summed, or bytes broadcast; 1 for an allgather */
    int root;              /* broadcasts */
    int64_t error_in;      /* step allreduces: rank 0's contribution to the error slot */
} call;

enum { MAX_CALLS = 256 };

typedef struct fake_comm {
    cd_comm comm;          /* what the trainer gets */
    cd_comm self;          /* the wrapped one-rank comm */
    size_t step_n;         /* n_params + CD_SLOTS: the size of a training step's allreduce */
    call calls[MAX_CALLS];
    int n_calls, allreduces, allgathers, steps;
    int fail_allreduce;    /* 1-based: this allreduce returns CD_E_COMM; 0: none */
    /* the pretend rank 1 (size 2 only) */
    int peer_fail_allgather; /* 1-based; 0: none */
    int peer_fail_step;      /* 1-based count of step allreduces; 0: none */
    int peer_armed;          /* its failure goes into the next allgather */
    cd_status peer_status;
    char peer_msg[sizeof(((cd_error *)0)->msg)];
} fake_comm;

static fake_comm *fake_of(cd_comm *c) { return c->impl; }

static call *log_call(fake_comm *f, call_kind kind, size_t n, int root)
{
    assert_true(f->n_calls < MAX_CALLS);
    call *k = &f->calls[f->n_calls++];
    *k = (call){.kind = kind, .n = n, .root = root, .error_in = -1};
    return k;
}

static cd_status fake_allreduce(cd_comm *c, int64_t *buf, size_t n, cd_error *err)
{
    fake_comm *f = fake_of(c);
    call *k = log_call(f, CALL_ALLREDUCE, n, 0);
    f->allreduces++;
    if (n == f->step_n) {
        f->steps++;
        k->error_in = buf[n - CD_SLOTS + CD_SLOT_ERROR];
    }
    if (f->allreduces == f->fail_allreduce)
        return CD_FAIL(err, CD_E_COMM, "fake comm: allreduce %d failed (injected)", f->allreduces);
    CD_TRY(f->self.allreduce_sum_i64(&f->self, buf, n, err));
    if (n == f->step_n && f->steps == f->peer_fail_step) {
        buf[n - CD_SLOTS + CD_SLOT_ERROR] += 1;
        f->peer_armed = 1;
    }
    return CD_OK;
}

static cd_status fake_allgather(cd_comm *c, uint64_t value, uint64_t *out, cd_error *err)
{
    fake_comm *f = fake_of(c);
    log_call(f, CALL_ALLGATHER, 1, 0);
    f->allgathers++;
    CD_TRY(f->self.allgather_u64(&f->self, value, out, err));
    if (c->size == 2) {
        out[1] = value;
        if (f->peer_armed || f->allgathers == f->peer_fail_allgather) out[1] = (uint64_t)f->peer_status;
        f->peer_armed = 0;
    }
    return CD_OK;
}

static cd_status fake_broadcast(cd_comm *c, void *buf, size_t bytes, int root, cd_error *err)
{
    fake_comm *f = fake_of(c);
    log_call(f, CALL_BROADCAST, bytes, root);
    if (root == 0) return f->self.broadcast(&f->self, buf, bytes, 0, err);
    /* Only cd_comm_agree broadcasts from another rank: the failing rank's message. */
    assert_int_equal(bytes, sizeof f->peer_msg);
    memcpy(buf, f->peer_msg, bytes);
    return CD_OK;
}

static void fake_abort(cd_comm *c, int code) { fake_of(c)->self.abort(&fake_of(c)->self, code); }
static void fake_finalize(cd_comm *c) { fake_of(c)->self.finalize(&fake_of(c)->self); }

static void fake_init(fake_comm *f, size_t n_params, int size)
{
    memset(f, 0, sizeof *f);
    cd_comm_self(&f->self);
    f->comm = f->self;
    f->comm.name = "fake";
    f->comm.size = size;
    f->comm.local_size = size;
    f->comm.impl = f;
    f->comm.allreduce_sum_i64 = fake_allreduce;
    f->comm.allgather_u64 = fake_allgather;
    f->comm.broadcast = fake_broadcast;
    f->comm.abort = fake_abort;
    f->comm.finalize = fake_finalize;
    f->step_n = n_params + CD_SLOTS;
}

static int count_calls(const fake_comm *f, call_kind kind, size_t n)
{
    int c = 0;
    for (int i = 0; i < f->n_calls; i++) c += f->calls[i].kind == kind && f->calls[i].n == n;
    return c;
}

static int count_kind(const fake_comm *f, call_kind kind)
{
    int c = 0;
    for (int i = 0; i < f->n_calls; i++) c += f->calls[i].kind == kind;
    return c;
}

/* Index of the last step allreduce, or -1. */
static int last_step_call(const fake_comm *f)
{
    int at = -1;
    for (int i = 0; i < f->n_calls; i++)
        if (f->calls[i].kind == CALL_ALLREDUCE && f->calls[i].n == f->step_n) at = i;
    return at;
}

/* The error slot rank 0 put into each step's buffer, as a string "0,0,1". */
static void error_trail(const fake_comm *f, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < f->n_calls && used + 24 < cap; i++)
        if (f->calls[i].kind == CALL_ALLREDUCE && f->calls[i].n == f->step_n)
            used += (size_t)snprintf(out + used, cap - used, "%s%lld", used ? "," : "", (long long)f->calls[i].error_in);
}

/* ---- fixture: a small random data set, and the seed net's tensors -------------------------------- */

typedef struct fixture {
    char *root;
    char data[CD_PATH_MAX];
    size_t n_params;
    cd_tensor_view views[2 * CD_MAX_LAYERS];
    int n_views;
} fixture;

static fixture g; /* one per program: setup writes the data once */

static void write_split(hid_t file, const char *split, int n, uint64_t seed)
{
    uint8_t *pix = malloc((size_t)n * SIDE * SIDE), *lab = malloc((size_t)n);
    assert_non_null(pix);
    assert_non_null(lab);
    for (size_t i = 0; i < (size_t)n * SIDE * SIDE; i++) pix[i] = (uint8_t)(cd_rng_uniform(seed, 1, i) * 256.0f);
    for (int i = 0; i < n; i++) lab[i] = (uint8_t)(cd_rng_uniform(seed, 2, (uint64_t)i) * 10.0f) % 10;
    hid_t grp = H5Gcreate2(file, split, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3] = {(hsize_t)n, SIDE, SIDE};
    hid_t s3 = H5Screate_simple(3, dims, NULL), s1 = H5Screate_simple(1, dims, NULL);
    hid_t di = H5Dcreate2(grp, "images", H5T_STD_U8LE, s3, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t dl = H5Dcreate2(grp, "labels", H5T_STD_U8LE, s1, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(grp >= 0 && di >= 0 && dl >= 0);
    assert_true(H5Dwrite(di, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, pix) >= 0);
    assert_true(H5Dwrite(dl, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab) >= 0);
    if (!strcmp(split, "train")) { /* the normalisation stored, as the converter writes it: no start-up pass */
        const double mean = 0.5, std = 0.29;
        hsize_t one = 1;
        hid_t sa = H5Screate_simple(1, &one, NULL);
        hid_t am = H5Acreate2(di, "mean", H5T_IEEE_F64LE, sa, H5P_DEFAULT, H5P_DEFAULT);
        hid_t as = H5Acreate2(di, "std", H5T_IEEE_F64LE, sa, H5P_DEFAULT, H5P_DEFAULT);
        assert_true(H5Awrite(am, H5T_NATIVE_DOUBLE, &mean) >= 0 && H5Awrite(as, H5T_NATIVE_DOUBLE, &std) >= 0);
        H5Aclose(am), H5Aclose(as), H5Sclose(sa);
    }
    H5Dclose(di), H5Dclose(dl), H5Sclose(s3), H5Sclose(s1), H5Gclose(grp);
    free(pix), free(lab);
}

static int setup(void **state)
{
    (void)state;
    g.root = ts_make_temp_dir("train_loop");
    if (!g.root) return -1;
    snprintf(g.data, sizeof g.data, "%s/data.h5", g.root);
    hid_t file = H5Fcreate(g.data, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) return -1;
    write_split(file, "train", TRAIN_ROWS, 11);
    write_split(file, "test", TEST_ROWS, 12);
    H5Fclose(file);
    /* The seed net's tensors, to read the runs' checkpoints. */
    cd_error err = {0};
    cd_model_spec spec;
    const cd_kernels *k;
    cd_model m;
    if (cd_spec_parse("seed", &spec, &err) != CD_OK || cd_kernels_select(CD_KERNELS_AUTO, &k, &err) != CD_OK ||
        cd_model_build(&spec, (cd_shape){1, SIDE, SIDE}, 10, 1, k, &m, &err) != CD_OK)
        return -1;
    g.n_params = m.arena.count;
    g.n_views = cd_model_tensor_views(&m, g.views);
    cd_model_free(&m);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ts_rmtree(g.root);
    free(g.root);
    return 0;
}

/* A fresh directory <root>/<name>; its path in out. */
static void subdir(const char *name, char out[CD_PATH_MAX])
{
    snprintf(out, CD_PATH_MAX, "%s/%s", g.root, name);
    assert_int_equal(mkdir(out, 0777), 0);
}

static void base_config(cd_train_config *cfg, const char *ckpt_dir, int64_t max_steps)
{
    cd_train_config_defaults(cfg);
    snprintf(cfg->data, sizeof cfg->data, "%s", g.data);
    snprintf(cfg->ckpt_dir, sizeof cfg->ckpt_dir, "%s", ckpt_dir);
    cfg->max_steps = max_steps;
    cfg->quiet = 1;
}

/* Runs and fails the test with the message when the run does not succeed. */
static void run_ok(const cd_train_config *cfg, cd_comm *comm, const cd_reporter *rep)
{
    cd_error err = {0};
    cd_status st = cd_train_run(cfg, comm, rep, &err);
    if (st != CD_OK) fail_msg("cd_train_run: %s: %s", cd_status_name(st), err.msg);
}

typedef struct weights {
    float *params, *momentum;
    cd_ckpt_meta meta;
} weights;

/* Reads (and so verifies) a checkpoint of the seed net. */
static void read_ckpt(const char *path, weights *w)
{
    w->params = calloc(g.n_params, sizeof(float));
    w->momentum = calloc(g.n_params, sizeof(float));
    cd_error err = {0};
    if (cd_ckpt_read(path, g.views, g.n_views, &w->meta, w->params, w->momentum, g.n_params, &err) != CD_OK)
        fail_msg("%s", err.msg);
}

static void free_weights(weights *w) { free(w->params), free(w->momentum); }

static void assert_same_weights(const char *a, const char *b)
{
    weights x, y;
    read_ckpt(a, &x);
    read_ckpt(b, &y);
    assert_int_equal(x.meta.step, y.meta.step);
    assert_memory_equal(x.params, y.params, sizeof(float) * g.n_params);
    assert_memory_equal(x.momentum, y.momentum, sizeof(float) * g.n_params);
    free_weights(&x), free_weights(&y);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Names, sizes and modification times of a directory's entries, sorted, as one string. */
static void dir_listing(const char *dir, char *out, size_t cap)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    assert_true(n >= 0);
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        char path[CD_PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        if (used + 300 < cap)
            used += (size_t)snprintf(out + used, cap - used, "%s %lld %lld.%09ld\n", names[i]->d_name,
                                     (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        free(names[i]);
    }
    free(names);
}

static void copy_file(const char *from, const char *to, long flip_at)
{
    FILE *in = fopen(from, "rb");
    assert_non_null(in);
    fseek(in, 0, SEEK_END);
    long n = ftell(in);
    fseek(in, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n);
    assert_int_equal(fread(buf, 1, (size_t)n, in), (size_t)n);
    fclose(in);
    if (flip_at >= 0) {
        assert_true(flip_at < n);
        buf[flip_at] ^= 0x5a;
    }
    assert_int_equal(ts_write_file(to, buf, (size_t)n), 0);
    free(buf);
}

/* Offset in the file of the only copy of the first 16 bytes of the last tensor's parameters. */
static long tensor_offset(const char *path)
{
    weights w;
    read_ckpt(path, &w);
    const cd_tensor_view *t = &g.views[g.n_views - 1];
    unsigned char needle[16];
    memcpy(needle, w.params + t->offset, sizeof needle);
    free_weights(&w);
    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    fseek(in, 0, SEEK_END);
    long n = ftell(in);
    fseek(in, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n);
    assert_int_equal(fread(buf, 1, (size_t)n, in), (size_t)n);
    fclose(in);
    long at = -1;
    int hits = 0;
    for (long i = 0; i + (long)sizeof needle <= n; i++)
        if (memcmp(buf + i, needle, sizeof needle) == 0) at = i, hits++;
    free(buf);
    assert_int_equal(hits, 1);
    return at;
}

/* ---- the cases ----------------------------------------------------------------------------------- */

/* A 5-step run: exactly one allreduce of n_params + CD_SLOTS per step, no other sum but the final
 * evaluation's two counts, no broadcast (nothing failed, nothing resumed); final.h5 holds trained
 * weights, and a second run over the plain self comm writes the same bits. */
static void test_short_run_collectives_and_determinism(void **state)
{
    (void)state;
    char a[CD_PATH_MAX], b[CD_PATH_MAX], path_a[CD_PATH_MAX + 16], path_b[CD_PATH_MAX + 16];
    subdir("short_a", a);
    subdir("short_b", b);
    cd_train_config cfg;
    recorder rec;
    cd_reporter rep = reporter_of(&rec);
    fake_comm f;
    fake_init(&f, g.n_params, 1);
    base_config(&cfg, a, 5);
    run_ok(&cfg, &f.comm, &rep);

    assert_int_equal(f.steps, 5);
    assert_int_equal(count_calls(&f, CALL_ALLREDUCE, f.step_n), 5);
    assert_int_equal(count_kind(&f, CALL_ALLREDUCE), 6);
    assert_int_equal(count_calls(&f, CALL_ALLREDUCE, 3), 1); /* the final evaluation's hits, loss and rows */
    assert_int_equal(count_kind(&f, CALL_BROADCAST), 0);
    char trail[256];
    error_trail(&f, trail, sizeof trail);
    assert_string_equal(trail, "0,0,0,0,0");
    /* The steps come back to back: only agreements (allgathers) between them, none of them failing. */
    for (int i = 0; i < last_step_call(&f); i++)
        assert_true(f.calls[i].kind == CALL_ALLGATHER || f.calls[i].n == f.step_n);

    assert_int_equal(rec.banners, 1);
    assert_int_equal(rec.banner.n_params, g.n_params);
    assert_int_equal(rec.banner.ranks, 1);
    assert_int_equal(rec.banner.steps_per_epoch, 9);
    assert_int_equal(rec.banner.total_steps, 5);
    assert_string_equal(rec.banner_grad_comm, "fake"); /* the CPU sums over the job's own comm */
    assert_int_equal(rec.first_steps, 1);
    assert_int_equal(rec.steps, 5);
    assert_int_equal(rec.epochs, 0);
    assert_int_equal(rec.finals, 1);
    assert_int_equal(rec.final_step, 5);
    snprintf(path_a, sizeof path_a, "%s/final.h5", a);
    assert_string_equal(rec.final_ckpt, path_a);
    assert_int_equal(rec.n_notes + rec.n_warnings, 0);

    /* Trained: the weights moved away from the seed's initial ones, and momentum is non-zero. */
    weights w;
    read_ckpt(path_a, &w);
    assert_int_equal(w.meta.step, 5);
    cd_model_spec spec;
    const cd_kernels *k;
    cd_model m;
    cd_error err = {0};
    assert_int_equal(cd_spec_parse("seed", &spec, &err), CD_OK);
    assert_int_equal(cd_kernels_select(CD_KERNELS_AUTO, &k, &err), CD_OK);
    assert_int_equal(cd_model_build(&spec, (cd_shape){1, SIDE, SIDE}, 10, 1, k, &m, &err), CD_OK);
    cd_model_init_params(&m, cfg.seed);
    size_t moved = 0, nonzero = 0;
    for (size_t i = 0; i < g.n_params; i++) moved += w.params[i] != m.arena.params[i], nonzero += w.momentum[i] != 0;
    cd_model_free(&m);
    free_weights(&w);
    assert_true(moved > g.n_params / 2);
    assert_true(nonzero > g.n_params / 2);

    cd_comm self;
    cd_comm_self(&self);
    base_config(&cfg, b, 5);
    run_ok(&cfg, &self, NULL);
    snprintf(path_b, sizeof path_b, "%s/final.h5", b);
    assert_same_weights(path_a, path_b);
}

/* --resume picks the newest checkpoint that verifies (step-4.h5), warns about the damaged newer one,
 * runs only the missing steps and ends where a run that was never stopped ends. */
static void test_resume_picks_newest_valid(void **state)
{
    (void)state;
    char ref[CD_PATH_MAX], dir[CD_PATH_MAX], p[4][CD_PATH_MAX + 16];
    subdir("resume_ref", ref);
    subdir("resume", dir);
    cd_train_config cfg;
    cd_comm self;
    cd_comm_self(&self);

    /* The reference: 6 steps without a stop. Cosine, so a schedule that followed --max-steps rather
     * than --epochs would part the runs below. */
    base_config(&cfg, ref, 6);
    cfg.ckpt_every = 2;
    cfg.lr_schedule = CD_LR_COSINE;
    run_ok(&cfg, &self, NULL);

    /* A run that got to step 5 writes step-2, step-4 and final (step 5); remove final.h5 to leave what
     * a run stopped after step 4 leaves, and add a newer step-6.h5 with a damaged tensor. */
    base_config(&cfg, dir, 5);
    cfg.ckpt_every = 2;
    cfg.lr_schedule = CD_LR_COSINE;
    run_ok(&cfg, &self, NULL);
    snprintf(p[0], sizeof p[0], "%s/final.h5", dir);
    snprintf(p[1], sizeof p[1], "%s/step-4.h5", dir);
    snprintf(p[2], sizeof p[2], "%s/step-6.h5", dir);
    snprintf(p[3], sizeof p[3], "%s/step-2.h5", dir);
    assert_true(exists(p[3]));
    assert_int_equal(remove(p[0]), 0);
    copy_file(p[1], p[2], tensor_offset(p[1]));

    recorder rec;
    cd_reporter rep = reporter_of(&rec);
    fake_comm f;
    fake_init(&f, g.n_params, 1);
    base_config(&cfg, dir, 6);
    cfg.ckpt_every = 2;
    cfg.lr_schedule = CD_LR_COSINE;
    cfg.resume = CD_RESUME_NEWEST;
    run_ok(&cfg, &f.comm, &rep);

    assert_int_equal(rec.n_warnings, 1);
    assert_non_null(strstr(rec.warnings[0], "skipping damaged checkpoint"));
    assert_non_null(strstr(rec.warnings[0], p[2]));
    assert_int_equal(rec.n_notes, 1);
    char want[CD_PATH_MAX + 64];
    snprintf(want, sizeof want, "resumed from %s at step 4 ", p[1]);
    if (strncmp(rec.notes[0], want, strlen(want)) != 0) fail_msg("note: %s", rec.notes[0]);
    /* Only steps 5 and 6 ran; the weights came by broadcast from rank 0. */
    assert_int_equal(f.steps, 2);
    assert_int_equal(count_calls(&f, CALL_BROADCAST, sizeof(float) * g.n_params), 2);
    assert_int_equal(rec.final_step, 6);

    char ref_final[CD_PATH_MAX + 16];
    snprintf(ref_final, sizeof ref_final, "%s/final.h5", ref);
    assert_same_weights(p[0], ref_final);
}

/* A spec's canonical text (what checkpoints and messages hold); static, one at a time per slot. */
static const char *canonical(const char *text)
{
    static char out[2][CD_SPEC_TEXT_MAX];
    static int slot;
    cd_model_spec spec;
    cd_error err = {0};
    assert_int_equal(cd_spec_parse(text, &spec, &err), CD_OK);
    cd_spec_set_classes(&spec, 10); /* the fixture's labels are 0-9 */
    slot ^= 1;
    cd_spec_format(&spec, out[slot], sizeof out[slot]);
    return out[slot];
}

/* Resuming a checkpoint of another run is refused with CD_E_INPUT naming the field that differs, and
 * leaves the directory as it was. */
static void test_resume_refuses_other_runs(void **state)
{
    (void)state;
    char dir[CD_PATH_MAX];
    subdir("refuse", dir);
    cd_train_config cfg;
    cd_comm self;
    cd_comm_self(&self);
    base_config(&cfg, dir, 3);
    cfg.ckpt_every = 2;
    run_ok(&cfg, &self, NULL); /* step-2.h5 and final.h5 (step 3) */
    char before[4096], after[4096];
    dir_listing(dir, before, sizeof before);

    /* The message for each change below, in order. */
    static const char *const cases[] = {
        "checkpoint has --seed 1, this run --seed 7",
        "checkpoint has a global batch of 64 (written by 1 rank), this run 32 (1 rank): resume with --batch 64",
        "checkpoint has a global batch of 64 (written by 1 rank), this run 16 (1 rank): resume with --batch 64",
        "checkpoint has --lr 0.01 --momentum 0.5, this run --lr 0.02 --momentum 0.5",
        "checkpoint has --lr 0.01 --momentum 0.5, this run --lr 0.01 --momentum 0.9",
        "checkpoint has --lr-schedule constant, this run cosine/90",
        NULL, /* the model's: see below */
    };
    char model_msg[3 * CD_SPEC_TEXT_MAX];
    snprintf(model_msg, sizeof model_msg, "checkpoint model '%s' does not match --model '%s'", canonical("seed"),
             canonical(TINY_SPEC));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        base_config(&cfg, dir, 6);
        cfg.resume = CD_RESUME_NEWEST;
        switch (i) {
        case 0: cfg.seed = 7; break;
        case 1: cfg.batch = 32; break;
        case 2: cfg.batch = 0, cfg.batch_per_rank = 16; break;
        case 3: cfg.lr = 0.02; break;
        case 4: cfg.momentum = 0.9; break;
        case 5: cfg.lr_schedule = CD_LR_COSINE; break;
        case 6: snprintf(cfg.model, sizeof cfg.model, "%s", TINY_SPEC); break;
        }
        recorder rec;
        cd_reporter rep = reporter_of(&rec);
        cd_error err = {0};
        cd_status st = cd_train_run(&cfg, &self, &rep, &err);
        char want[CD_PATH_MAX + sizeof model_msg];
        snprintf(want, sizeof want, "%s/final.h5: %s", dir, cases[i] ? cases[i] : model_msg);
        if (st != CD_E_INPUT || strncmp(err.msg, want, strlen(want)) != 0)
            fail_msg("case %zu: %s: %s\n  wanted CD_E_INPUT: %s", i, cd_status_name(st), err.msg, want);
        assert_int_equal(rec.banners + rec.steps + rec.finals + rec.n_notes, 0);
        dir_listing(dir, after, sizeof after);
        assert_string_equal(before, after);
    }
}

/* A checkpoint trained on another data file of the same shape is refused naming both files; resuming a run
 * that has already finished reports it (through `result`, not `final`) and writes nothing. */
static void test_resume_refuses_other_data_and_finished_is_a_no_op(void **state)
{
    (void)state;
    char dir[CD_PATH_MAX], other[CD_PATH_MAX + 16];
    subdir("data_identity", dir);
    cd_train_config cfg;
    cd_comm self;
    cd_comm_self(&self);
    base_config(&cfg, dir, 3);
    run_ok(&cfg, &self, NULL);

    snprintf(other, sizeof other, "%s/other.h5", g.root);
    hid_t file = H5Fcreate(other, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(file >= 0);
    write_split(file, "train", TRAIN_ROWS, 99); /* same shape, other rows */
    write_split(file, "test", TEST_ROWS, 12);
    H5Fclose(file);
    char ckpt[CD_PATH_MAX + 16];
    snprintf(ckpt, sizeof ckpt, "%s/final.h5", dir);
    char out_dir[CD_PATH_MAX];
    subdir("data_identity_out", out_dir);
    base_config(&cfg, out_dir, 6);
    snprintf(cfg.data, sizeof cfg.data, "%s", other);
    cfg.resume = CD_RESUME_FILE;
    snprintf(cfg.resume_path, sizeof cfg.resume_path, "%s", ckpt);
    cd_error err = {0};
    assert_int_equal(cd_train_run(&cfg, &self, NULL, &err), CD_E_INPUT);
    char want[3 * CD_PATH_MAX];
    snprintf(want, sizeof want, "%s: checkpoint was trained on %s, this run's --data %s has the same shape", ckpt, g.data,
             other);
    if (strncmp(err.msg, want, strlen(want)) != 0) fail_msg("got: %s\nwanted: %s", err.msg, want);

    struct stat before, after;
    assert_int_equal(stat(ckpt, &before), 0);
    base_config(&cfg, dir, 3);
    cfg.resume = CD_RESUME_NEWEST;
    recorder rec;
    cd_reporter rep = reporter_of(&rec);
    run_ok(&cfg, &self, &rep);
    assert_int_equal(rec.finals + rec.steps + rec.banners, 0);
    assert_int_equal(rec.n_results, 1);
    snprintf(want, sizeof want, "%s: this run already finished (checkpoint at step 3, last step 3): nothing to do, "
             "no file changed", ckpt);
    assert_string_equal(rec.result, want);
    assert_int_equal(stat(ckpt, &after), 0);
    assert_true(before.st_mtim.tv_sec == after.st_mtim.tv_sec && before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
}

/* Rank 0's periodic write fails at step 2 (a regular file stands where a parent directory should be):
 * the failure is not returned at once but travels as the error slot of step 3's reduction, and the
 * run returns it from there, having done no more steps. */
static void test_failed_periodic_write_stops_at_next_step(void **state)
{
    (void)state;
    /* A directory squats on step-2.h5: the start-up probe of --ckpt-dir passes, the first periodic
     * write fails. */
    char dir[CD_PATH_MAX], squat[CD_PATH_MAX + 16];
    subdir("pending", dir);
    snprintf(squat, sizeof squat, "%s/step-2.h5", dir);
    assert_int_equal(mkdir(squat, 0777), 0);

    cd_train_config cfg;
    base_config(&cfg, dir, 6);
    cfg.ckpt_every = 2;
    recorder rec;
    cd_reporter rep = reporter_of(&rec);
    fake_comm f;
    fake_init(&f, g.n_params, 1);
    cd_error err = {0};
    cd_status st = cd_train_run(&cfg, &f.comm, &rep, &err);

    assert_int_equal(st, CD_E_IO);
    char want[CD_PATH_MAX + 64];
    snprintf(want, sizeof want, "%s: cannot move ", squat);
    if (strncmp(err.msg, want, strlen(want)) != 0) fail_msg("message: %s", err.msg);
    char trail[256];
    error_trail(&f, trail, sizeof trail);
    assert_string_equal(trail, "0,0,1");
    /* After the reduction that carried it: the agreement and rank 0's message, then nothing. */
    const int last = last_step_call(&f);
    assert_int_equal(f.n_calls, last + 3);
    assert_int_equal(f.calls[last + 1].kind, CALL_ALLGATHER);
    assert_int_equal(f.calls[last + 2].kind, CALL_BROADCAST);
    assert_int_equal(f.calls[last + 2].root, 0);
    assert_int_equal(rec.steps, 2);
    assert_int_equal(rec.finals, 0);
}

/* The last periodic write of a run (step 3 of 4, every 3) fails while the final one would succeed
 * (a directory squats on step-3.h5): the failure still ends the run, with step 4's reduction, and no
 * final.h5 is written as if all were well. */
static void test_failed_last_periodic_write_is_reported(void **state)
{
    (void)state;
    char dir[CD_PATH_MAX], squat[CD_PATH_MAX + 16], final[CD_PATH_MAX + 16];
    subdir("pending_last", dir);
    snprintf(squat, sizeof squat, "%s/step-3.h5", dir);
    snprintf(final, sizeof final, "%s/final.h5", dir);
    assert_int_equal(mkdir(squat, 0777), 0);

    cd_train_config cfg;
    base_config(&cfg, dir, 4);
    cfg.ckpt_every = 3;
    recorder rec;
    cd_reporter rep = reporter_of(&rec);
    fake_comm f;
    fake_init(&f, g.n_params, 1);
    cd_error err = {0};
    cd_status st = cd_train_run(&cfg, &f.comm, &rep, &err);

    assert_int_equal(st, CD_E_IO);
    char want[CD_PATH_MAX + 64];
    snprintf(want, sizeof want, "%s: cannot move ", squat);
    if (strncmp(err.msg, want, strlen(want)) != 0) fail_msg("message: %s", err.msg);
    char trail[256];
    error_trail(&f, trail, sizeof trail);
    assert_string_equal(trail, "0,0,0,1");
    assert_false(exists(final));
    assert_int_equal(rec.finals, 0);
    assert_int_equal(rec.steps, 3);
}

/* The comm fails the third allreduce (step 3's): the run ends with CD_E_COMM and the comm's message,
 * and calls the broken comm no more. */
static void test_allreduce_failure(void **state)
{
    (void)state;
    char dir[CD_PATH_MAX], final[CD_PATH_MAX + 16];
    subdir("comm_fail", dir);
    snprintf(final, sizeof final, "%s/final.h5", dir);
    cd_train_config cfg;
    base_config(&cfg, dir, 5);
    fake_comm f;
    fake_init(&f, g.n_params, 1);
    f.fail_allreduce = 3;
    cd_error err = {0};
    cd_status st = cd_train_run(&cfg, &f.comm, NULL, &err);

    assert_int_equal(st, CD_E_COMM);
    assert_string_equal(err.msg, "fake comm: allreduce 3 failed (injected)");
    assert_int_equal(f.steps, 3);
    assert_int_equal(last_step_call(&f), f.n_calls - 1);
    assert_false(exists(final));
}

/* The pretend rank 1 fails its local work in step 2: the error slot comes back set, rank 0's own
 * chunks were fine, and the agreement gives every rank rank 1's status and message, named. */
static void test_other_rank_fails_a_step(void **state)
{
    (void)state;
    char dir[CD_PATH_MAX];
    subdir("peer_step", dir);
    cd_train_config cfg;
    base_config(&cfg, dir, 5);
    recorder rec;
    cd_reporter rep = reporter_of(&rec);
    fake_comm f;
    fake_init(&f, g.n_params, 2);
    f.peer_fail_step = 2;
    f.peer_status = CD_E_NUMERIC;
    snprintf(f.peer_msg, sizeof f.peer_msg, "step 1 (shard 4): gradient element 17 (of %zu) is nan", g.n_params);
    cd_error err = {0};
    cd_status st = cd_train_run(&cfg, &f.comm, &rep, &err);

    assert_int_equal(st, CD_E_NUMERIC);
    char want[sizeof err.msg + 16];
    snprintf(want, sizeof want, "rank 1: %s", f.peer_msg);
    assert_string_equal(err.msg, want);
    assert_int_equal(rec.banner.ranks, 2);
    char trail[256];
    error_trail(&f, trail, sizeof trail);
    assert_string_equal(trail, "0,0"); /* rank 0 itself never failed */
    const int last = last_step_call(&f);
    assert_int_equal(f.n_calls, last + 3);
    assert_int_equal(f.calls[last + 1].kind, CALL_ALLGATHER);
    assert_int_equal(f.calls[last + 2].kind, CALL_BROADCAST);
    assert_int_equal(f.calls[last + 2].root, 1);
    assert_int_equal(rec.steps, 1);
    assert_int_equal(rec.finals, 0);
}

/* The pretend rank 1 fails at start-up (its first agreement): no step runs, rank 1's message named. */
static void test_other_rank_fails_at_start(void **state)
{
    (void)state;
    char dir[CD_PATH_MAX];
    subdir("peer_start", dir);
    cd_train_config cfg;
    base_config(&cfg, dir, 5);
    recorder rec;
    cd_reporter rep = reporter_of(&rec);
    fake_comm f;
    fake_init(&f, g.n_params, 2);
    f.peer_fail_allgather = 1;
    f.peer_status = CD_E_INPUT;
    snprintf(f.peer_msg, sizeof f.peer_msg, "%s: /train/images: cannot read rows 300-600 (injected)", g.data);
    cd_error err = {0};
    cd_status st = cd_train_run(&cfg, &f.comm, &rep, &err);

    assert_int_equal(st, CD_E_INPUT);
    char want[sizeof err.msg + 16];
    snprintf(want, sizeof want, "rank 1: %s", f.peer_msg);
    assert_string_equal(err.msg, want);
    assert_int_equal(count_kind(&f, CALL_ALLREDUCE), 0);
    assert_int_equal(rec.banners, 0);
}

/* CNN_DDP_FAULT=nan:0:2 poisons one gradient element of rank 0's first chunk in step 2 (0-based): the
 * run fails in that step's reduction with the element named. */
static void test_nan_fault(void **state)
{
    (void)state;
    char dir[CD_PATH_MAX];
    subdir("nan", dir);
    cd_train_config cfg;
    base_config(&cfg, dir, 5);
    fake_comm f;
    fake_init(&f, g.n_params, 1);
    cd_error err = {0};
    setenv("CNN_DDP_FAULT", "nan:0:2", 1);
    cd_status st = cd_train_run(&cfg, &f.comm, NULL, &err);
    unsetenv("CNN_DDP_FAULT");

    assert_int_equal(st, CD_E_NUMERIC);
    char want[256];
    snprintf(want, sizeof want, "step 2 (samples 0-15): gradient element %zu (of %zu) is nan", g.n_params / 2, g.n_params);
    assert_string_equal(err.msg, want);
    char trail[256];
    error_trail(&f, trail, sizeof trail);
    assert_string_equal(trail, "0,0,1");
}

/* A global batch the split cannot fill, and more ranks than samples, are refused before any file is
 * written (the checkpoint directory is not created), each with its one line. */
static void test_batch_refusals(void **state)
{
    (void)state;
    char dir[CD_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/refused", g.root); /* not made: the runs must not make it either */
    cd_train_config cfg;
    base_config(&cfg, dir, 5);
    cfg.batch = TRAIN_ROWS + 1;
    cd_comm self;
    cd_comm_self(&self);
    cd_error err = {0};
    assert_int_equal(cd_train_run(&cfg, &self, NULL, &err), CD_E_USAGE);
    assert_non_null(strstr(err.msg, ": 600 training rows, fewer than the global batch of 601 (a step takes one sample "
                                    "from each of 601 blocks of the rows): lower --batch"));
    base_config(&cfg, dir, 5);
    cfg.batch = 4;
    fake_comm f;
    fake_init(&f, g.n_params, 5);
    assert_int_equal(cd_train_run(&cfg, &f.comm, NULL, &err), CD_E_USAGE);
    assert_string_equal(err.msg, "rank 0: 5 ranks but a global batch of 4: every rank needs at least one sample per step; use "
                                 "--batch 5 or more, or --batch-per-rank N (a global batch of N x 5)");
    struct stat st;
    assert_int_not_equal(stat(dir, &st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_refusals),
        cmocka_unit_test(test_short_run_collectives_and_determinism),
        cmocka_unit_test(test_resume_picks_newest_valid),
        cmocka_unit_test(test_resume_refuses_other_data_and_finished_is_a_no_op),
        cmocka_unit_test(test_resume_refuses_other_runs),
        cmocka_unit_test(test_failed_periodic_write_stops_at_next_step),
        cmocka_unit_test(test_failed_last_periodic_write_is_reported),
        cmocka_unit_test(test_allreduce_failure),
        cmocka_unit_test(test_other_rank_fails_a_step),
        cmocka_unit_test(test_other_rank_fails_at_start),
        cmocka_unit_test(test_nan_fault),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
