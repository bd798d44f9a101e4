/* `cnn_ddp info FILE`: what a checkpoint or data file holds, and whether it verifies. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "model_summary.h"
#include "subcommands.h"
#include "cnn_ddp/ckpt.h"
#include "cnn_ddp/data.h"
#include "cnn_ddp/model.h"
#include "cnn_ddp/spec.h"

/* One split read whole through the data reader, as training would read it (every label 0..K-1, every
 * pixel 0-255), a block at a time; per_class counts its rows of each label. */
typedef struct split_scan {
    cd_data_info info;
    int64_t per_class[CD_MAX_CLASSES];
    int64_t sums[2 * CD_MAX_CHANNELS]; /* cd_data_pixel_sums over the whole split */
    char storage[512];
} split_scan;

static cd_status scan_split(const char *path, const char *split, const cd_data_info *info, int classes, split_scan *s,
                            cd_error *err)
{
    memset(s, 0, sizeof *s);
    s->info = *info;
    const int64_t pixels = (int64_t)s->info.channels * s->info.height * s->info.width;
    const int64_t block = pixels < (1 << 24) ? (1 << 24) / pixels : 1; /* about 16 MiB of pixels at a time */
    for (int64_t at = 0; at < s->info.count; at += block) {
        const int64_t n = s->info.count - at < block ? s->info.count - at : block;
        cd_dataset d;
        CD_TRY(cd_data_load_beating(path, split, at, n, classes, NULL, NULL, &d, err));
        for (int64_t i = 0; i < n; i++) s->per_class[d.labels[i]]++;
        int64_t part[2 * CD_MAX_CHANNELS];
        cd_data_pixel_sums(&d, 0, d.count, part);
        for (int c = 0; c < 2 * s->info.channels; c++) s->sums[c] += part[c];
        cd_data_free(&d);
    }
    return cd_data_describe_storage(path, split, s->storage, sizeof s->storage, err);
}

static void print_split(FILE *out, const char *split, const split_scan *s, int classes)
{
    int present = 0;
    int64_t fewest = INT64_MAX, most = 0;
    for (int c = 0; c < classes; c++) {
        if (s->per_class[c] == 0) continue;
        present++;
        if (s->per_class[c] < fewest) fewest = s->per_class[c];
        if (s->per_class[c] > most) most = s->per_class[c];
    }
    fprintf(out, "  /%s: %" PRId64 " images of %dx%d, %d of %d classes present (%" PRId64 " to %" PRId64
            " rows each)\n    %s\n", split, s->info.count, s->info.height, s->info.width, present, classes,
            fewest, most, s->storage);
}

static void print_values(FILE *out, const double *v, int n)
{
    for (int c = 0; c < n; c++) fprintf(out, "%s%.6g", c ? "," : "", v[c]);
}

/* A file with a /train or /test group is meant as a data set: described as training would see it when
 * both splits read whole, else refused for what is wrong with it (the data reader's own message). */
static cd_status describe_data(const char *path, FILE *out, cd_error *err)
{
    split_scan *s = NULL;
    cd_data_set_info *set = NULL;
    CD_ALLOC(err, s, 2);
    cd_status st = CD_OK;
    set = cd_alloc_zeroed(sizeof *set);
    if (!set) st = CD_FAIL(err, CD_E_NOMEM, "out of memory");
    if (st == CD_OK) st = cd_data_inspect_set(path, set, err);
    if (st == CD_OK) st = scan_split(path, "train", &set->train, set->classes, &s[0], err);
    if (st == CD_OK && set->has_test) st = scan_split(path, "test", &set->test, set->classes, &s[1], err);
    double mean[CD_MAX_CHANNELS], std[CD_MAX_CHANNELS];
    /* What training would compute (over every training row; --val-rows leaves its rows out), or its refusal. */
    if (st == CD_OK && !set->train.has_norm)
        st = cd_data_norm_from_sums(s[0].sums, set->train.channels, set->train.count,
                                    (int64_t)set->train.height * set->train.width, path, mean, std, err);
    if (st == CD_OK) {
        const cd_data_info *t = &set->train;
        fprintf(out, "%s: cnn_ddp data set, verified (every row read: labels 0-%d, pixels 0-255)\n", path,
                set->classes - 1);
        fprintf(out, "  images       %dx%dx%d (CxHxW), layout %s\n", t->channels, t->height, t->width,
                cd_data_layout_name(t->layout));
        fprintf(out, "  classes      %d (%s)", set->classes,
                set->classes_from_attr ? "num_classes on /train/labels" : "the largest label + 1");
        if (set->class_names[0]) {
            fprintf(out, ": ");
            for (const char *c = set->class_names; *c; c++) fputs(*c == '\n' ? ", " : (char[]){*c, 0}, out);
        } else {
            fprintf(out, ", no class_names");
        }
        fprintf(out, "\n  normalise    ");
        if (t->has_norm) {
            fprintf(out, "mean ");
            print_values(out, t->mean, t->channels);
            fprintf(out, " std ");
            print_values(out, t->std, t->channels);
            fprintf(out, " (stored on /train/images)\n");
        } else {
            fprintf(out, "not stored: would be computed at start-up: mean ");
            print_values(out, mean, t->channels);
            fprintf(out, " std ");
            print_values(out, std, t->channels);
            fprintf(out, " over all %" PRId64 " training rows (without --val-rows)\n", t->count);
        }
        print_split(out, "train", &s[0], set->classes);
        if (set->has_test) print_split(out, "test", &s[1], set->classes);
        else fprintf(out, "  /test: none (training runs without a test evaluation; eval needs one)\n");
    }
    cd_free(set);
    cd_free(s);
    return st;
}

/* The checkpoint's network, rebuilt from its recorded spec for its training data's image shape and classes
 * (no weights are read: the shapes and counts are the spec's), one line per layer. */
static void print_layers(FILE *out, const cd_ckpt_meta *meta)
{
    cd_model_spec spec;
    const cd_kernels *kernels;
    cd_error why = {0};
    const cd_shape input = {(int)meta->data_channels, (int)meta->data_height, (int)meta->data_width};
    cd_model *model = cd_alloc_zeroed(sizeof *model);
    cd_status st = model ? CD_OK : CD_FAIL(&why, CD_E_NOMEM, "out of memory");
    if (st == CD_OK) st = cd_spec_parse(meta->model, &spec, &why);
    if (st == CD_OK) st = cd_kernels_select(CD_KERNELS_SCALAR, &kernels, &why);
    cd_model_bytes bytes;
    if (st == CD_OK) st = cd_model_memory(&spec, input, (int)meta->classes, 1, kernels, &bytes, &why);
    /* A table is not worth gigabytes: a huge model is described by the line above it. */
    if (st == CD_OK && bytes.arenas + bytes.activations > 512.0 * 1024 * 1024)
        st = CD_FAIL(&why, CD_E_NOMEM, "it would take %.1f GiB to rebuild", (bytes.arenas + bytes.activations) / 1073741824.0);
    if (st == CD_OK) st = cd_model_build(&spec, input, (int)meta->classes, 1, kernels, model, &why);
    if (st == CD_OK) {
        fprintf(out, "  layers\n");
        cd_cli_model_summary(out, "    ", input, model->layers, model->n_layers);
        cd_model_free(model);
    } else {
        fprintf(out, "  layers       not shown for %dx%dx%d inputs: %s\n", input.c, input.h,
                input.w, why.msg);
    }
    cd_free(model);
}

cd_status cd_cli_info(const char *path, FILE *out, cd_error *err)
{
    cd_ckpt_meta *meta = NULL;
    CD_ALLOC(err, meta, 1);
    cd_error ckpt_err = {0};
    cd_status st = cd_ckpt_verify(path, meta, &ckpt_err);
    if (st == CD_OK) {
        fprintf(out, "%s: cnn_ddp checkpoint, verified (every tensor checksum matches)\n", path);
        char run_id[17];
        cd_ckpt_run_id_text(cd_ckpt_run_id(meta), run_id);
        fprintf(out, "  written by   cnn_ddp %s\n  run          %s\n  model        %s\n", meta->version, run_id,
                meta->model);
        fprintf(out, "  data         %s: %" PRId64 " training rows of %" PRId64 "x%" PRId64 "x%" PRId64 " (CxHxW), "
                "checksum %016" PRIx64 "%s\n", meta->data, meta->data_rows, meta->data_channels, meta->data_height,
                meta->data_width, meta->data_checksum, meta->val_rows ? "" : ", no validation rows");
        if (meta->val_rows) fprintf(out, "  validation   the %" PRId64 " rows after them\n", meta->val_rows);
        fprintf(out, "  classes      %" PRId64, meta->classes);
        if (meta->class_names[0]) {
            fprintf(out, ": ");
            for (const char *c = meta->class_names; *c; c++) fputs(*c == '\n' ? ", " : (char[]){*c, 0}, out);
        }
        fprintf(out, "\n  normalise    mean %s std %s\n", meta->norm_mean, meta->norm_std);
        fprintf(out, "  position     step %" PRId64 " (epoch %" PRId64 ", step %" PRId64 " of it)\n", meta->step,
                meta->epoch + 1, meta->step_in_epoch);
        fprintf(out, "  training     seed %" PRIu64 ", batch %" PRId64 " (written by %" PRId64 " rank%s), lr %g (%s), "
                "momentum %g\n", meta->seed, meta->batch, meta->ranks, meta->ranks == 1 ? "" : "s", meta->lr,
                meta->lr_schedule, meta->momentum);
        print_layers(out, meta);
        if (meta->init_from[0])
            fprintf(out, "  init from    %s (%s; --init-from)\n", meta->init_from_path, meta->init_from);
        if (meta->history[0]) fprintf(out, "  history      %s\n", meta->history);
        if (meta->config[0]) {
            fprintf(out, "  configuration:\n");
            for (const char *line = meta->config; *line;) {
                const char *nl = strchr(line, '\n');
                int len = nl ? (int)(nl - line) : (int)strlen(line);
                fprintf(out, "    %.*s\n", len, line);
                line += len + (nl ? 1 : 0);
            }
        }
        cd_free(meta);
        return CD_OK;
    }
    cd_free(meta);
    /* An HDF5 file without our format tag: perhaps a data set, perhaps a malformed one. */
    if (strstr(ckpt_err.msg, "not a cnn_ddp checkpoint") &&
        (cd_data_has_split(path, "train") || cd_data_has_split(path, "test")))
        return describe_data(path, out, err);
    *err = ckpt_err;
    return st;
}

const char *cd_cli_info_usage(void)
{
    return "usage: cnn_ddp info FILE\n"
           "      what a checkpoint or data file holds, and whether every checksum verifies. A checkpoint:\n"
           "      the run, its data (path, rows, image shape, checksum), position, recipe, configuration, and\n"
           "      the model layer by layer (output shape and parameters of each, the totals). A data set: its\n"
           "      splits, classes and normalisation, every row read as training would read it.\n";
}

int cd_cli_info_main(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(cd_cli_info_usage(), stdout);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "cnn_ddp: error: info takes one FILE (usage: cnn_ddp info FILE; see cnn_ddp help info)\n");
        return 2;
    }
    if (!strncmp(argv[1], "--", 2)) {
        fprintf(stderr, "cnn_ddp: error: info: unknown option %s (info takes only FILE; a file of that name: ./%s)\n",
                argv[1], argv[1]);
        return 2;
    }
    cd_error err = {0};
    cd_status st = cd_cli_info(argv[1], stdout, &err);
    if (st != CD_OK) fprintf(stderr, "cnn_ddp: error: %s\n", err.msg);
    return cd_status_exit_code(st);
}
