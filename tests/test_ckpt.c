/* Checkpoints: a written file reads back bit for bit; every kind of damage (truncation, a flipped byte
 * in data or metadata, another model's file, a missing tensor, garbage) is refused with a message
 * naming the file and the problem; a writer killed at any moment never leaves a half-written file
 * under the final name; listing and pruning touch only checkpoint names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cnn_ddp/ckpt.h"
#include "test_support.h"

/* ---- a small model: conv1 [10,1,5,5]+[10], fc1 [10,40]+[10] ---- */

enum { ARENA = 250 + 10 + 400 + 10, N_TENSORS = 4 };

static const cd_tensor_view k_model[N_TENSORS] = {
    {"conv1", "weight", 0, 250, 4, {10, 1, 5, 5}},
    {"conv1", "bias", 250, 10, 1, {10}},
    {"fc1", "weight", 260, 400, 2, {10, 40}},
    {"fc1", "bias", 660, 10, 1, {10}},
};

#define MODEL_TAG "conv(10,5)-fc(10)#UNIQUEMODELTAG"
static const int64_t k_step = 987654321987LL; /* distinctive bytes, to find it in the file */

typedef struct fixture {
    char *dir;
    char path[4096];
    float params[ARENA], momentum[ARENA];
    cd_ckpt_meta meta;
} fixture;

/* cd_ckpt_list's count, asserting it succeeded. */
static int list_count(const char *dir, char (*paths)[CD_PATH_MAX], int max)
{
    cd_error err = {0};
    int found = -1;
    assert_int_equal(cd_ckpt_list(dir, paths, max, &found, &err), CD_OK);
    return found;
}

/* A position the training loop could have reached: whole epochs of K_SPE steps plus a part of one,
 * and the part's totals (the reader refuses impossible ones). */
#define K_SPE 1000003
static void place(cd_ckpt_meta *m, int64_t step)
{
    m->step = step;
    m->epoch = step / K_SPE;
    m->step_in_epoch = step % K_SPE;
    m->epoch_samples = m->step_in_epoch * m->batch;
    m->epoch_correct = m->epoch_samples / 3;
    m->epoch_loss_fx = m->epoch_samples * 1234567LL;
}

static void make_meta(cd_ckpt_meta *m, int64_t step)
{
    memset(m, 0, sizeof *m);
    snprintf(m->version, sizeof m->version, "0.1.0-test");
    snprintf(m->model, sizeof m->model, "%s", MODEL_TAG);
    m->seed = 0xfedcba9876543210ull; /* above INT64_MAX: must survive as unsigned */
    m->ranks = 8;
    m->batch = 64;
    place(m, step);
    m->lr = 0.01;
    m->momentum = 0.9;
    snprintf(m->lr_schedule, sizeof m->lr_schedule, "cosine/999999999999");
    m->epoch_seconds = 1.0 / 3.0;
    snprintf(m->data, sizeof m->data, "/data/train set \"7\".h5");
    m->data_rows = 22699;
    m->data_height = 28;
    m->data_width = 28;
    m->data_checksum = 0x8000000000000001ull; /* above INT64_MAX */
    m->data_channels = 3;
    m->classes = 12;
    snprintf(m->norm_mean, sizeof m->norm_mean, "0.25,0.5,0.75");
    snprintf(m->norm_std, sizeof m->norm_std, "0.125,0.25,0.30000000000000004");
    snprintf(m->class_names, sizeof m->class_names, "red circle\nblue square\n...");
    m->val_rows = 100;
    /* Long, multi-line, with '=' and quotes: the config is free text. */
    size_t used = 0;
    for (int i = 0; used + 40 < sizeof m->config - 1; i++)
        used += (size_t)snprintf(m->config + used, sizeof m->config - used, "key%d = \"value %d\"\n", i, i * 7);
}

static void fill_arenas(float *params, float *momentum, uint64_t seed)
{
    ts_fill_uniform(params, ARENA, seed, -1.0f, 1.0f);
    ts_fill_uniform(momentum, ARENA, seed + 1, -0.1f, 0.1f);
    /* Values whose bits a careless conversion would change. */
    params[1] = -0.0f;
    params[2] = 1e-42f; /* subnormal */
    params[3] = 3.4028235e38f;
    momentum[5] = -1e-45f; /* the smallest negative subnormal (NaN and Inf are refused as unusable) */
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = ts_make_temp_dir("ckpt");
    if (f->dir == NULL) return -1;
    snprintf(f->path, sizeof f->path, "%s/step-%lld.h5", f->dir, (long long)k_step);
    fill_arenas(f->params, f->momentum, 42);
    make_meta(&f->meta, k_step);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ts_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void write_good(fixture *f)
{
    cd_error err = {0};
    cd_status st = cd_ckpt_write(f->path, &f->meta, k_model, N_TENSORS, f->params, f->momentum, ARENA, &err);
    if (st != CD_OK) fail_msg("write failed: %s", err.msg);
}

static void assert_meta_equal(const cd_ckpt_meta *a, const cd_ckpt_meta *b)
{
    assert_string_equal(a->version, b->version);
    assert_string_equal(a->model, b->model);
    assert_int_equal(a->step, b->step);
    assert_int_equal(a->epoch, b->epoch);
    assert_int_equal(a->step_in_epoch, b->step_in_epoch);
    assert_true(a->seed == b->seed);
    assert_int_equal(a->ranks, b->ranks);
    assert_int_equal(a->batch, b->batch);
    assert_memory_equal(&a->lr, &b->lr, sizeof a->lr);
    assert_memory_equal(&a->momentum, &b->momentum, sizeof a->momentum);
    assert_string_equal(a->lr_schedule, b->lr_schedule);
    assert_int_equal(a->epoch_loss_fx, b->epoch_loss_fx);
    assert_int_equal(a->epoch_correct, b->epoch_correct);
    assert_int_equal(a->epoch_samples, b->epoch_samples);
    assert_memory_equal(&a->epoch_seconds, &b->epoch_seconds, sizeof a->epoch_seconds);
    assert_string_equal(a->config, b->config);
    assert_string_equal(a->data, b->data);
    assert_int_equal(a->data_rows, b->data_rows);
    assert_int_equal(a->data_height, b->data_height);
    assert_int_equal(a->data_width, b->data_width);
    assert_true(a->data_checksum == b->data_checksum);
    assert_int_equal(a->data_channels, b->data_channels);
    assert_int_equal(a->classes, b->classes);
    assert_string_equal(a->norm_mean, b->norm_mean);
    assert_string_equal(a->norm_std, b->norm_std);
    assert_string_equal(a->class_names, b->class_names);
    assert_int_equal(a->val_rows, b->val_rows);
}

/* ---- file surgery ---- */

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len + 1);
    assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    *n = (size_t)len;
    return buf;
}

/* Offset of the only occurrence of needle in hay; fails the test if absent or repeated. */
static size_t find_once(const unsigned char *hay, size_t n, const void *needle, size_t m)
{
    size_t at = (size_t)-1;
    int hits = 0;
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0) {
            at = i;
            hits++;
        }
    if (hits != 1) fail_msg("expected one occurrence of the pattern, found %d", hits);
    return at;
}

/* Flips one byte at `at` and rewrites the file in place. */
static void flip_byte(const char *path, size_t at)
{
    size_t n;
    unsigned char *buf = slurp(path, &n);
    assert_true(at < n);
    buf[at] ^= 0x5a;
    assert_int_equal(ts_write_file(path, buf, n), 0);
    free(buf);
}

/* Reads with the fixture's model into sentinel-filled buffers: on failure they must be untouched, on
 * success they must hold the fixture's arenas. */
static cd_status read_expect_untouched(const fixture *f, cd_error *err)
{
    static float p[ARENA], mo[ARENA];
    for (int i = 0; i < ARENA; i++) p[i] = mo[i] = 7.0f;
    cd_ckpt_meta m;
    memset(&m, 0xab, sizeof m);
    cd_status st = cd_ckpt_read(f->path, k_model, N_TENSORS, &m, p, mo, ARENA, err);
    if (st != CD_OK) {
        for (int i = 0; i < ARENA; i++) assert_true(p[i] == 7.0f && mo[i] == 7.0f);
        assert_int_equal(((unsigned char *)&m)[0], 0xab);
    } else {
        assert_memory_equal(p, f->params, sizeof p);
        assert_memory_equal(mo, f->momentum, sizeof mo);
        assert_int_equal(m.step, f->meta.step);
    }
    return st;
}

static void assert_refused(const fixture *f, const char *want)
{
    cd_error err = {0};
    cd_status st = read_expect_untouched(f, &err);
    assert_int_equal(st, CD_E_INPUT);
    assert_non_null(strstr(err.msg, f->path));
    if (want && !strstr(err.msg, want)) fail_msg("read: message \"%s\" lacks \"%s\"", err.msg, want);
    cd_error verr = {0};
    cd_ckpt_meta m;
    assert_int_equal(cd_ckpt_verify(f->path, &m, &verr), CD_E_INPUT);
    assert_non_null(strstr(verr.msg, f->path));
    if (want && !strstr(verr.msg, want)) fail_msg("verify: message \"%s\" lacks \"%s\"", verr.msg, want);
}

/* Number of entries in dir whose name contains `part`. */
static int count_names(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, part)) n++;
    closedir(d);
    return n;
}

/* ---- tests ---- */

static void test_round_trip_is_bit_identical(void **state)
{
    fixture *f = *state;
    write_good(f);
    assert_int_equal(count_names(f->dir, ".tmp-"), 0);

    float p[ARENA], mo[ARENA];
    cd_ckpt_meta m;
    cd_error err = {0};
    cd_status st = cd_ckpt_read(f->path, k_model, N_TENSORS, &m, p, mo, ARENA, &err);
    if (st != CD_OK) fail_msg("%s", err.msg);
    assert_memory_equal(p, f->params, sizeof p);
    assert_memory_equal(mo, f->momentum, sizeof mo);
    assert_meta_equal(&m, &f->meta);

    cd_ckpt_meta vm;
    assert_int_equal(cd_ckpt_verify(f->path, &vm, &err), CD_OK);
    assert_meta_equal(&vm, &f->meta);

    /* Overwriting replaces the file as a whole; an empty version is filled with the library's. */
    fill_arenas(f->params, f->momentum, 99);
    place(&f->meta, k_step + 1);
    f->meta.version[0] = '\0';
    f->meta.config[0] = '\0';
    write_good(f);
    assert_int_equal(cd_ckpt_read(f->path, k_model, N_TENSORS, &m, p, mo, ARENA, &err), CD_OK);
    assert_memory_equal(p, f->params, sizeof p);
    assert_memory_equal(mo, f->momentum, sizeof mo);
    assert_int_equal(m.step, k_step + 1);
    assert_string_equal(m.version, CNN_DDP_VERSION);
    assert_string_equal(m.config, "");
    assert_int_equal(count_names(f->dir, ".tmp-"), 0);
}

static void test_truncated_file_is_refused(void **state)
{
    fixture *f = *state;
    write_good(f);
    size_t n;
    unsigned char *whole = slurp(f->path, &n);
    size_t cuts[] = {n - 1, n - 8, n * 3 / 4, n / 2, n / 4, 2048, 512, 100, 8, 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        assert_int_equal(ts_write_file(f->path, whole, cuts[i]), 0);
        assert_refused(f, "truncated or not an HDF5 file");
    }
    /* A torn write that kept the length: the second half zeroed. Damage of any kind, no crash. */
    memset(whole + n / 2, 0, n - n / 2);
    assert_int_equal(ts_write_file(f->path, whole, n), 0);
    assert_refused(f, NULL);
    free(whole);
}

static void test_flipped_data_byte_is_refused(void **state)
{
    fixture *f = *state;
    write_good(f);
    size_t n;
    unsigned char *buf = slurp(f->path, &n);
    /* conv1/weight starts at params[0]; flip a byte in the middle of its 250 floats. */
    size_t at = find_once(buf, n, &f->params[4], 16 * sizeof(float));
    free(buf);
    flip_byte(f->path, at + 100 * sizeof(float) + 1);
    assert_refused(f, "/params/conv1/weight: checksum mismatch (file is damaged)");

    write_good(f);
    buf = slurp(f->path, &n);
    at = find_once(buf, n, &f->momentum[660], 10 * sizeof(float)); /* all of /optim/fc1/bias */
    free(buf);
    flip_byte(f->path, at + 9 * sizeof(float) + 3);
    assert_refused(f, "/optim/fc1/bias: checksum mismatch");
}

static void test_flipped_attribute_byte_is_refused(void **state)
{
    fixture *f = *state;
    write_good(f);
    size_t n;
    unsigned char *buf = slurp(f->path, &n);
    size_t at = find_once(buf, n, "UNIQUEMODELTAG", 14);
    free(buf);
    flip_byte(f->path, at + 3);
    /* Attributes live in metadata HDF5 checksums itself (the 1.10 format): its check fires first;
     * meta_checksum still guards against an attribute rewritten through HDF5 (h5py). */
    assert_refused(f, "incorrect metadata checksum");

    write_good(f);
    buf = slurp(f->path, &n);
    at = find_once(buf, n, &k_step, sizeof k_step); /* little-endian int64, as stored */
    free(buf);
    flip_byte(f->path, at);
    assert_refused(f, "checksum");

    write_good(f);
    buf = slurp(f->path, &n);
    at = find_once(buf, n, "key17 = \"value 119\"", 19);
    free(buf);
    flip_byte(f->path, at + 10);
    assert_refused(f, "checksum");

    /* The format tag itself: damage too, not "somebody else's file" (that needs an intact file). */
    write_good(f);
    buf = slurp(f->path, &n);
    at = find_once(buf, n, CD_CKPT_FORMAT, strlen(CD_CKPT_FORMAT));
    free(buf);
    flip_byte(f->path, at);
    assert_refused(f, "file is damaged");
}

/* Written by the project's own writer, so every checksum holds: only the values are wrong. */
static void write_with(fixture *f, const cd_ckpt_meta *m)
{
    cd_error err = {0};
    if (cd_ckpt_write(f->path, m, k_model, N_TENSORS, f->params, f->momentum, ARENA, &err) != CD_OK)
        fail_msg("write failed: %s", err.msg);
}

static void test_non_finite_tensor_values_are_refused(void **state)
{
    fixture *f = *state;
    const float good37 = f->params[37], good663 = f->momentum[663];
    f->params[37] = nanf("");
    f->params[40] = nanf(""); /* the first bad element is the one named */
    write_good(f);
    assert_refused(f, "/params/conv1/weight: element 37 (of 250) is nan");
    f->params[37] = good37;
    f->params[40] = good37;
    f->momentum[663] = -HUGE_VALF; /* /optim/fc1/bias starts at 660 */
    write_good(f);
    assert_refused(f, "/optim/fc1/bias: element 3 (of 10) is -inf");
    f->momentum[663] = HUGE_VALF;
    write_good(f);
    assert_refused(f, "/optim/fc1/bias: element 3 (of 10) is inf");
    f->momentum[663] = good663;
    write_good(f);
    cd_error err = {0};
    assert_int_equal(read_expect_untouched(f, &err), CD_OK);
}

static void test_impossible_metadata_is_refused(void **state)
{
    fixture *f = *state;
    const cd_ckpt_meta good = f->meta;
    cd_ckpt_meta m;
#define REFUSED(change, want)                                                                                          \
    do {                                                                                                               \
        m = good;                                                                                                      \
        change;                                                                                                        \
        write_with(f, &m);                                                                                             \
        assert_refused(f, want);                                                                                       \
    } while (0)
    REFUSED(place(&m, (int64_t)1 << 62), "step 4611686018427387904 of batch 64 is more samples than a run can train");
    REFUSED(place(&m, -1), "position step -1, epoch 0, step_in_epoch -1 is negative");
    REFUSED(m.epoch += 1, "is not epoch 987652 whole epochs plus step_in_epoch 359034");
    REFUSED((m.step = 10, m.epoch = 1, m.step_in_epoch = 5, m.epoch_samples = 5 * 64, m.epoch_correct = 0,
             m.epoch_loss_fx = 0),
            "step 10 is not epoch 1 whole epochs plus step_in_epoch 5");
    REFUSED((m.step = 7, m.epoch = 0, m.step_in_epoch = 6), "step 7 is not epoch 0 whole epochs plus step_in_epoch 6");
    REFUSED(snprintf(m.lr_schedule, sizeof m.lr_schedule, "cosine/3540"),
            "step 987654321987 is past the end of its lr_schedule cosine/3540");
    REFUSED(m.batch = 0, "batch 0 is outside 1..4096");
    REFUSED(m.ranks = 0, "ranks 0 is outside");
    REFUSED(m.epoch_samples += 1, "epoch_samples 22978177 is not step_in_epoch 359034 x batch 64");
    REFUSED(m.epoch_samples = -64, "epoch_samples -64 is not step_in_epoch");
    REFUSED(m.epoch_correct = m.epoch_samples + 1, "epoch_correct 22978177 is outside 0..epoch_samples 22978176");
    REFUSED(m.epoch_correct = -1, "epoch_correct -1 is outside");
    REFUSED(m.epoch_loss_fx = -1, "epoch_loss_fx -1 is outside 0..");
    /* Each sample's share of a step's mean loss is at most CD_FIXED_LIMIT (1024) in 2^-40 units. */
    REFUSED((m.step = m.step_in_epoch = 5, m.epoch = 0, m.epoch_samples = 5 * 64, m.epoch_correct = 0,
             m.epoch_loss_fx = 5 * 64 * ((int64_t)1024 << 40) + 1),
            "epoch_loss_fx 360287970189639681 is outside 0..360287970189639680 for 320 samples");
    REFUSED(m.epoch_seconds = -1, "epoch_seconds -1 is not a finite, non-negative time");
    REFUSED(m.epoch_seconds = nan(""), "epoch_seconds nan");
    REFUSED(m.epoch_seconds = HUGE_VAL, "epoch_seconds inf");
    REFUSED(m.lr = nan(""), "lr nan is not a finite, positive rate");
    REFUSED(m.lr = 0, "lr 0 is not");
    REFUSED(m.lr = -0.5, "lr -0.5 is not");
    REFUSED(m.data_channels = 0, "data_channels 0 is outside 1..64");
    REFUSED(m.classes = 1, "classes 1 is outside 2..256");
    REFUSED(m.classes = 257, "classes 257 is outside 2..256");
    REFUSED(m.val_rows = -1, "val_rows -1 is negative");
    REFUSED(m.lr = HUGE_VAL, "lr inf is not");
    REFUSED(m.momentum = 1, "momentum 1 is outside [0, 1)");
    REFUSED(m.momentum = -0.25, "momentum -0.25 is outside");
    REFUSED(m.momentum = nan(""), "momentum nan is outside");
#undef REFUSED

    /* What the loop does write is accepted: the first epoch (nothing known of its length), an epoch's
     * start with empty totals, and a run stopped right at an epoch's end (totals not yet reset). */
    cd_error err = {0};
    cd_ckpt_meta got;
    m = good;
    m.step = m.step_in_epoch = 5, m.epoch = 0, m.epoch_samples = 5 * 64, m.epoch_correct = 320;
    m.epoch_loss_fx = 5 * 64 * (int64_t)1 << 40;
    write_with(f, &m);
    if (cd_ckpt_verify(f->path, &got, &err) != CD_OK) fail_msg("%s", err.msg);
    m = good;
    m.step = 2 * K_SPE, m.epoch = 2, m.step_in_epoch = 0, m.epoch_samples = m.epoch_correct = m.epoch_loss_fx = 0;
    m.epoch_seconds = 0;
    write_with(f, &m);
    if (cd_ckpt_verify(f->path, &got, &err) != CD_OK) fail_msg("%s", err.msg);
    m.epoch_samples = K_SPE * 64, m.epoch_correct = 1, m.epoch_seconds = 12.5;
    write_with(f, &m);
    if (cd_ckpt_verify(f->path, &got, &err) != CD_OK) fail_msg("%s", err.msg);
    m.epoch_samples = 64; /* one step's totals at step_in_epoch 0: neither */
    write_with(f, &m);
    assert_refused(f, "epoch_samples 64 is not step_in_epoch 0 x batch 64");
}

static void test_other_model_is_refused_naming_both_shapes(void **state)
{
    fixture *f = *state;
    write_good(f);
    /* Same names, different first conv. */
    enum { OTHER = 144 + 16 + 400 + 10 };
    cd_tensor_view other[N_TENSORS] = {
        {"conv1", "weight", 0, 144, 4, {16, 1, 3, 3}},
        {"conv1", "bias", 144, 16, 1, {16}},
        {"fc1", "weight", 160, 400, 2, {10, 40}},
        {"fc1", "bias", 560, 10, 1, {10}},
    };
    float p[OTHER], mo[OTHER];
    cd_ckpt_meta m;
    cd_error err = {0};
    assert_int_equal(cd_ckpt_read(f->path, other, N_TENSORS, &m, p, mo, OTHER, &err), CD_E_INPUT);
    char want[4200];
    snprintf(want, sizeof want, "%s: /params/conv1/weight has shape [10,1,5,5], this model needs [16,1,3,3]", f->path);
    assert_string_equal(err.msg, want);

    /* A model with one more layer: the file lacks it. */
    enum { BIGGER = ARENA + 20 };
    cd_tensor_view bigger[N_TENSORS + 1];
    memcpy(bigger, k_model, sizeof k_model);
    bigger[N_TENSORS] = (cd_tensor_view){"fc2", "weight", ARENA, 20, 2, {2, 10}};
    float pb[BIGGER], mb[BIGGER];
    assert_int_equal(cd_ckpt_read(f->path, bigger, N_TENSORS + 1, &m, pb, mb, BIGGER, &err), CD_E_INPUT);
    snprintf(want, sizeof want, "%s: missing /params/fc2/weight", f->path);
    assert_string_equal(err.msg, want);

    /* A model with one layer fewer: the file has a tensor the model would silently drop. */
    assert_int_equal(cd_ckpt_read(f->path, k_model, 2, &m, p, mo, ARENA, &err), CD_E_INPUT);
    assert_non_null(strstr(err.msg, "/params/fc1/bias is not a tensor of this model"));

    /* A descriptor whose dims disagree with its count is a bug in the caller, caught before reading. */
    cd_tensor_view wrong[N_TENSORS];
    memcpy(wrong, k_model, sizeof k_model);
    wrong[3].dims[0] = 11;
    assert_int_equal(cd_ckpt_read(f->path, wrong, N_TENSORS, &m, p, mo, ARENA, &err), CD_E_INTERNAL);
}

static void test_missing_tensor_is_refused(void **state)
{
    fixture *f = *state;
    write_good(f);
    hid_t file = H5Fopen(f->path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(file >= 0);
    assert_true(H5Ldelete(file, "/optim/fc1/bias", H5P_DEFAULT) >= 0);
    H5Fclose(file);
    assert_refused(f, "missing /optim/fc1/bias");

    /* A whole section gone. */
    write_good(f);
    file = H5Fopen(f->path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Ldelete(file, "/params", H5P_DEFAULT) >= 0);
    H5Fclose(file);
    assert_refused(f, "/params");

    /* A tensor whose checksum attribute is gone. */
    write_good(f);
    file = H5Fopen(f->path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Adelete_by_name(file, "/params/fc1/weight", "checksum", H5P_DEFAULT) >= 0);
    H5Fclose(file);
    assert_refused(f, "/params/fc1/weight: no checksum attribute");
}

static void test_garbage_files_are_refused(void **state)
{
    fixture *f = *state;
    unsigned char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)((i * 2654435761u) >> 13);
    assert_int_equal(ts_write_file(f->path, junk, sizeof junk), 0);
    assert_refused(f, "truncated or not an HDF5 file");

    assert_int_equal(ts_write_file(f->path, "", 0), 0);
    assert_refused(f, "truncated or not an HDF5 file");

    /* An HDF5 file, but someone else's. */
    hid_t file = H5Fcreate(f->path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(file >= 0);
    hsize_t dims[1] = {4};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t ds = H5Dcreate2(file, "data", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(ds);
    H5Sclose(space);
    H5Fclose(file);
    assert_refused(f, "not a cnn_ddp checkpoint");

    assert_int_equal(unlink(f->path), 0);
    cd_error err = {0};
    assert_int_equal(read_expect_untouched(f, &err), CD_E_INPUT);
    assert_non_null(strstr(err.msg, "no such checkpoint file"));

    assert_int_equal(mkdir(f->path, 0755), 0);
    assert_int_equal(read_expect_untouched(f, &err), CD_E_INPUT);
    assert_non_null(strstr(err.msg, "is a directory"));
}

/* ---- crash safety ---- */

enum { BIG = 4 * 1024 * 1024 }; /* floats per arena: 32 MiB written per checkpoint */

static void big_model(cd_tensor_view *t)
{
    *t = (cd_tensor_view){"big", "weight", 0, BIG, 2, {BIG / 1024, 1024}};
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Child: write the big checkpoint to `path`; exit 0 on success. */
static pid_t spawn_big_writer(const char *path, const float *big)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        cd_tensor_view t;
        big_model(&t);
        cd_ckpt_meta m;
        make_meta(&m, 2);
        cd_error err = {0};
        _exit(cd_ckpt_write(path, &m, &t, 1, big, big, BIG, &err) == CD_OK ? 0 : 1);
    }
    return pid;
}

static void assert_final_is_whole(const fixture *f, int64_t *step_out)
{
    cd_ckpt_meta m;
    cd_error err = {0};
    cd_status st = cd_ckpt_verify(f->path, &m, &err);
    if (st != CD_OK) fail_msg("after a killed write: %s", err.msg);
    assert_true(m.step == k_step || m.step == 2);
    *step_out = m.step;
}

static void test_killed_writer_never_leaves_a_partial_file(void **state)
{
    fixture *f = *state;
    write_good(f);
    float *big = calloc(BIG, sizeof *big);
    assert_non_null(big);
    big[12345] = 1.5f;

    /* How long one uninterrupted write takes, so the kills can be spread across it. */
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/probe.h5", f->dir);
    double t0 = now_s();
    pid_t pid = spawn_big_writer(probe, big);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    double full = now_s() - t0;
    /* Left alone, a writer produces a complete file. */
    cd_ckpt_meta pm;
    cd_error perr = {0};
    assert_int_equal(cd_ckpt_verify(probe, &pm, &perr), CD_OK);
    assert_int_equal(pm.step, 2);
    assert_int_equal(unlink(probe), 0);
    print_message("one %d MiB checkpoint write took %.3f s\n", (int)(2 * (size_t)BIG * 4 >> 20), full);

    const double fractions[] = {0.02, 0.25, 0.5, 0.75, 0.9};
    int killed_midway = 0;
    int64_t before = k_step;
    for (size_t i = 0; i < sizeof fractions / sizeof fractions[0]; i++) {
        pid = spawn_big_writer(f->path, big);
        struct timespec d = {0, (long)(fractions[i] * full * 1e9)};
        while (d.tv_nsec >= 1000000000L) {
            d.tv_sec++;
            d.tv_nsec -= 1000000000L;
        }
        nanosleep(&d, NULL);
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s/.step-%lld.h5.tmp-%ld", f->dir, (long long)k_step, (long)pid);
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        int64_t step;
        assert_final_is_whole(f, &step);
        if (WIFSIGNALED(status) && access(tmp, F_OK) == 0) {
            killed_midway++;
            assert_int_equal(step, before); /* the new file never got its name */
        }
        if (step == k_step) { /* the original: reads back exactly */
            cd_error err = {0};
            assert_int_equal(read_expect_untouched(f, &err), CD_OK);
        }
        before = step; /* a writer that finished before the kill has replaced the file */
    }
    print_message("%d of 5 kills landed while the temporary existed\n", killed_midway);
    assert_true(killed_midway >= 1);

    /* The stale temporaries are not checkpoints. */
    char paths[4][CD_PATH_MAX];
    assert_int_equal(list_count(f->dir, paths, 4), 1);
    assert_string_equal(paths[0], f->path);
    free(big);
}

static void test_failed_write_removes_temporary_and_keeps_old_file(void **state)
{
    fixture *f = *state;
    write_good(f);
    float *big = calloc(BIG / 8, sizeof *big);
    assert_non_null(big);

    /* A full disk, as root can meet it: a file size limit makes write(2) fail with EFBIG. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {1 << 20, 1 << 20};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(2);
        cd_tensor_view t = {"big", "weight", 0, BIG / 8, 1, {BIG / 8}};
        cd_ckpt_meta m;
        make_meta(&m, 2);
        cd_error err = {0};
        cd_status st = cd_ckpt_write(f->path, &m, &t, 1, big, big, BIG / 8, &err);
        _exit(st == CD_E_IO && strstr(err.msg, f->path) && strstr(err.msg, "File too large") ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    free(big);
    int64_t step;
    assert_final_is_whole(f, &step);
    assert_int_equal(step, k_step);
    assert_int_equal(count_names(f->dir, ".tmp-"), 0);

    /* The final name is taken by a directory: rename fails, the temporary goes. */
    char blocked[4200];
    snprintf(blocked, sizeof blocked, "%s/final.h5", f->dir);
    char inner[4300];
    snprintf(inner, sizeof inner, "%s/keep", blocked);
    assert_int_equal(mkdir(blocked, 0755), 0);
    assert_int_equal(ts_write_file(inner, "x", 1), 0);
    cd_error err = {0};
    assert_int_equal(cd_ckpt_write(blocked, &f->meta, k_model, N_TENSORS, f->params, f->momentum, ARENA, &err),
                     CD_E_IO);
    assert_non_null(strstr(err.msg, "cannot move"));
    assert_int_equal(count_names(f->dir, ".tmp-"), 0);

    /* No such directory. */
    char nodir[4200];
    snprintf(nodir, sizeof nodir, "%s/absent/step-1.h5", f->dir);
    assert_int_equal(cd_ckpt_write(nodir, &f->meta, k_model, N_TENSORS, f->params, f->momentum, ARENA, &err),
                     CD_E_IO);
    assert_non_null(strstr(err.msg, "No such file or directory"));

    /* A tensor that does not fit the arena is a bug, refused before anything is written. */
    cd_tensor_view bad = k_model[2];
    bad.offset = ARENA - 5;
    assert_int_equal(cd_ckpt_write(f->path, &f->meta, &bad, 1, f->params, f->momentum, ARENA, &err), CD_E_INTERNAL);
    assert_final_is_whole(f, &step);
    assert_int_equal(step, k_step);
}

/* ---- the directory ---- */

static void touch(const char *dir, const char *name)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_int_equal(ts_write_file(p, "x", 1), 0);
}

static int exists_in(const char *dir, const char *name)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static void test_list_orders_newest_first(void **state)
{
    fixture *f = *state;
    const char *names[] = {"step-5.h5",   "step-100.h5",        "step-20.h5", "final.h5",    ".step-7.h5.tmp-123",
                           "step-abc.h5", "step-.h5",           "notes.txt",  "step-3.h5.x", "step--4.h5",
                           "step-9.h5",   "step-1000.h5.tmp-9", "xstep-50.h5"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) touch(f->dir, names[i]);

    char paths[8][CD_PATH_MAX];
    char want[4200];
    const char *order[] = {"final.h5", "step-100.h5", "step-20.h5", "step-9.h5", "step-5.h5"};
    assert_int_equal(list_count(f->dir, paths, 8), 5);
    for (int i = 0; i < 5; i++) {
        snprintf(want, sizeof want, "%s/%s", f->dir, order[i]);
        assert_string_equal(paths[i], want);
    }
    assert_int_equal(list_count(f->dir, paths, 2), 2);
    snprintf(want, sizeof want, "%s/step-100.h5", f->dir);
    assert_string_equal(paths[1], want);

    char absent[4200];
    snprintf(absent, sizeof absent, "%s/nothing-here", f->dir);
    assert_int_equal(list_count(absent, paths, 8), 0);
    /* A directory that exists but cannot be read is an error, not "no checkpoints". */
    char file_not_dir[4200];
    snprintf(file_not_dir, sizeof file_not_dir, "%s/notes.txt", f->dir);
    int found = -1;
    cd_error list_err = {0};
    assert_int_equal(cd_ckpt_list(file_not_dir, paths, 8, &found, &list_err), CD_E_IO);
    assert_int_equal(found, 0);
    assert_non_null(strstr(list_err.msg, "cannot list checkpoint directory"));

}

/* A real checkpoint at dir/name, of the fixture's run (seed as given). */
static void write_named(fixture *f, const char *name, int64_t step, uint64_t seed)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", f->dir, name);
    cd_ckpt_meta m = f->meta;
    place(&m, step);
    m.seed = seed;
    cd_error err = {0};
    if (cd_ckpt_write(p, &m, k_model, N_TENSORS, f->params, f->momentum, ARENA, &err) != CD_OK)
        fail_msg("write %s failed: %s", p, err.msg);
}

static void test_run_id_covers_identity_only(void **state)
{
    fixture *f = *state;
    cd_ckpt_meta m = f->meta;
    const uint64_t id = cd_ckpt_run_id(&m);
    m.step = 1, m.epoch = 0, m.ranks = 3, m.epoch_samples = 7; /* position and rank count: same run */
    snprintf(m.data, sizeof m.data, "/elsewhere/copy.h5");  /* the path names, it does not identify */
    snprintf(m.config, sizeof m.config, "other text");
    assert_true(cd_ckpt_run_id(&m) == id);
    m = f->meta, m.seed ^= 1;
    assert_true(cd_ckpt_run_id(&m) != id);
    m = f->meta, m.data_checksum ^= 1;
    assert_true(cd_ckpt_run_id(&m) != id);
    m = f->meta, m.data_rows += 1;
    assert_true(cd_ckpt_run_id(&m) != id);
    m = f->meta, m.lr = 0.02;
    assert_true(cd_ckpt_run_id(&m) != id);
    char text[17];
    cd_ckpt_run_id_text(0x0123456789abcdefull, text);
    assert_string_equal(text, "0123456789abcdef");
}

static void test_prune_deletes_only_this_runs_old_step_files(void **state)
{
    fixture *f = *state;
    const uint64_t mine = f->meta.seed, other = mine ^ 7;
    write_named(f, "step-5.h5", 5, mine);
    write_named(f, "step-100.h5", 100, mine);
    write_named(f, "step-20.h5", 20, mine);
    write_named(f, "step-9.h5", 9, mine);
    write_named(f, "final.h5", 120, mine);
    write_named(f, "step-500.h5", 500, other); /* another run's newer files count for nothing, stay */
    write_named(f, "step-50.h5", 50, other);
    touch(f->dir, "step-7.h5");                 /* unreadable: not provably anyone's, stays */
    touch(f->dir, "notes.txt");
    cd_ckpt_meta m = f->meta;
    const uint64_t run_id = cd_ckpt_run_id(&m);

    cd_error err = {0};
    assert_int_equal(cd_ckpt_prune(f->dir, 2, run_id, NULL, &err), CD_OK);
    assert_true(exists_in(f->dir, "step-100.h5") && exists_in(f->dir, "step-20.h5"));
    assert_false(exists_in(f->dir, "step-9.h5") || exists_in(f->dir, "step-5.h5"));
    assert_true(exists_in(f->dir, "final.h5") && exists_in(f->dir, "step-500.h5") && exists_in(f->dir, "step-50.h5") &&
                exists_in(f->dir, "step-7.h5") && exists_in(f->dir, "notes.txt"));

    /* The file just written is kept whatever its step, and counts as one of the `keep`. */
    write_named(f, "step-3.h5", 3, mine);
    assert_int_equal(cd_ckpt_prune(f->dir, 1, run_id, "step-3.h5", &err), CD_OK);
    assert_true(exists_in(f->dir, "step-3.h5"));
    assert_false(exists_in(f->dir, "step-100.h5") || exists_in(f->dir, "step-20.h5"));
    assert_true(exists_in(f->dir, "step-500.h5") && exists_in(f->dir, "step-7.h5") && exists_in(f->dir, "final.h5"));

    assert_int_equal(cd_ckpt_prune(f->dir, -1, run_id, NULL, &err), CD_E_USAGE);
    char absent[4200];
    snprintf(absent, sizeof absent, "%s/nothing-here", f->dir);
    assert_int_equal(cd_ckpt_prune(absent, 1, run_id, NULL, &err), CD_E_IO);
    assert_non_null(strstr(err.msg, absent));
}

static void test_read_meta_reads_identity_without_tensors(void **state)
{
    fixture *f = *state;
    snprintf(f->meta.data, sizeof f->meta.data, "/data/mnist.h5");
    f->meta.data_rows = 60000, f->meta.data_width = 27;
    f->meta.data_checksum = 0xfedcba9876543210ull;
    write_good(f);
    cd_ckpt_meta got;
    cd_error err = {0};
    assert_int_equal(cd_ckpt_read_meta(f->path, &got, &err), CD_OK);
    assert_string_equal(got.data, "/data/mnist.h5");
    assert_true(got.data_rows == 60000 && got.data_height == 28 && got.data_width == 27);
    assert_true(got.data_checksum == 0xfedcba9876543210ull);
    assert_true(cd_ckpt_run_id(&got) == cd_ckpt_run_id(&f->meta));
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/garbage.h5", f->dir);
    assert_int_equal(ts_write_file(bad, "garbage", 7), 0);
    assert_int_equal(cd_ckpt_read_meta(bad, &got, &err), CD_E_INPUT);
}

static void test_lock_refuses_a_second_holder_and_names_the_first(void **state)
{
    fixture *f = *state;
    cd_ckpt_lock a, b;
    cd_error err = {0};
    assert_int_equal(cd_ckpt_lock_dir(f->dir, &a, &err), CD_OK);
    /* flock belongs to the open file: a second open, even in this process, is another holder. */
    assert_int_equal(cd_ckpt_lock_dir(f->dir, &b, &err), CD_E_USAGE);
    assert_int_equal(b.fd, -1);
    char pid[64];
    snprintf(pid, sizeof pid, "pid %ld on host ", (long)getpid());
    assert_non_null(strstr(err.msg, "is in use by another job"));
    assert_non_null(strstr(err.msg, pid));
    assert_non_null(strstr(err.msg, f->dir));
    cd_ckpt_unlock_dir(&a);
    assert_int_equal(cd_ckpt_lock_dir(f->dir, &b, &err), CD_OK);
    cd_ckpt_unlock_dir(&b);
    assert_true(exists_in(f->dir, CD_CKPT_LOCK_NAME)); /* the file stays: see ckpt_lock.c */
}

static void test_stale_temporaries_of_dead_writers_are_removed(void **state)
{
    fixture *f = *state;
    /* A pid that is not running: a child that has exited and been reaped. */
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char stale1[64], stale2[64], stale3[64], live[64], mine[64];
    snprintf(stale1, sizeof stale1, ".step-40.h5.tmp-%ld", (long)dead);
    snprintf(stale2, sizeof stale2, ".final.h5.tmp-%ld", (long)dead);
    snprintf(stale3, sizeof stale3, ".cnn_ddp-probe-%ld", (long)dead);
    snprintf(live, sizeof live, ".step-41.h5.tmp-%ld", (long)getppid()); /* a live process: not ours to judge */
    snprintf(mine, sizeof mine, ".final.h5.tmp-%ld", (long)getpid());
    const char *keep[] = {live, mine, ".notes.txt.tmp-1234567", ".step-x.h5.tmp-1234567", "step-3.h5.tmp-1234567",
                          ".step-4.h5.tmp-12a"};
    touch(f->dir, stale1);
    touch(f->dir, stale2);
    touch(f->dir, stale3);
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) touch(f->dir, keep[i]);
    int removed = -1;
    cd_error err = {0};
    assert_int_equal(cd_ckpt_remove_stale_temps(f->dir, &removed, &err), CD_OK);
    assert_int_equal(removed, 3);
    assert_false(exists_in(f->dir, stale1) || exists_in(f->dir, stale2) || exists_in(f->dir, stale3));
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) assert_true(exists_in(f->dir, keep[i]));
}

static void test_make_dir_creates_parents_and_explains_failures(void **state)
{
    fixture *f = *state;
    char p[4200];
    cd_error err = {0};
    snprintf(p, sizeof p, "%s/a/b//c/", f->dir);
    assert_int_equal(cd_ckpt_make_dir(p, &err), CD_OK);
    snprintf(p, sizeof p, "%s/a/b/c", f->dir);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(cd_ckpt_make_dir(p, &err), CD_OK); /* already there: fine */

    touch(f->dir, "plain");
    snprintf(p, sizeof p, "%s/plain", f->dir);
    assert_int_equal(cd_ckpt_make_dir(p, &err), CD_E_IO);
    assert_non_null(strstr(err.msg, "exists and is not a directory"));
    snprintf(p, sizeof p, "%s/plain/sub", f->dir);
    assert_int_equal(cd_ckpt_make_dir(p, &err), CD_E_IO);
    assert_non_null(strstr(err.msg, "not a directory"));

    assert_int_equal(cd_ckpt_make_dir("", &err), CD_E_USAGE);

    /* Permission checks do not apply to root; test them only where they can fail. */
    if (geteuid() != 0) {
        snprintf(p, sizeof p, "%s/locked", f->dir);
        assert_int_equal(mkdir(p, 0500), 0);
        snprintf(p, sizeof p, "%s/locked/sub", f->dir);
        assert_int_equal(cd_ckpt_make_dir(p, &err), CD_E_IO);
        assert_non_null(strstr(err.msg, "Permission denied"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_is_bit_identical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_file_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_data_byte_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_attribute_byte_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_finite_tensor_values_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_impossible_metadata_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_model_is_refused_naming_both_shapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_tensor_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_files_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_writer_never_leaves_a_partial_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_removes_temporary_and_keeps_old_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_orders_newest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_make_dir_creates_parents_and_explains_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_id_covers_identity_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_deletes_only_this_runs_old_step_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_meta_reads_identity_without_tensors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_refuses_a_second_holder_and_names_the_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_temporaries_of_dead_writers_are_removed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
