/* `cnn_ddp info FILE`: what a checkpoint or data file holds, and whether it verifies. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "subcommands.h"
#include "cnn_ddp/ckpt.h"
#include "cnn_ddp/data.h"

/* One split read whole through the data reader, as training would read it (every label 0-9, every
 * pixel 0-255), a block at a time; per_class counts its rows of each label. */
typedef struct split_scan {
    cd_data_info info;
    int64_t per_class[CD_CLASSES];
    char storage[512];
} split_scan;

static cd_status scan_split(const char *path, const char *split, split_scan *s, cd_error *err)
{
    memset(s, 0, sizeof *s);
    CD_TRY(cd_data_inspect(path, split, &s->info, err));
    const int64_t pixels = (int64_t)s->info.height * s->info.width;
    const int64_t block = pixels < (1 << 24) ? (1 << 24) / pixels : 1; /* about 16 MiB of pixels at a time */
    for (int64_t at = 0; at < s->info.count; at += block) {
        const int64_t n = s->info.count - at < block ? s->info.count - at : block;
        cd_dataset d;
        CD_TRY(cd_data_load(path, split, at, n, &d, err));
        for (int64_t i = 0; i < n; i++) s->per_class[d.labels[i]]++;
        cd_data_free(&d);
    }
    return cd_data_describe_storage(path, split, s->storage, sizeof s->storage, err);
}

static void print_split(FILE *out, const char *split, const split_scan *s)
{
    int present = 0;
    int64_t fewest = INT64_MAX, most = 0;
    for (int c = 0; c < CD_CLASSES; c++) {
        if (s->per_class[c] == 0) continue;
        present++;
        if (s->per_class[c] < fewest) fewest = s->per_class[c];
        if (s->per_class[c] > most) most = s->per_class[c];
    }
    fprintf(out, "  /%s: %" PRId64 " images of %dx%d, %d of %d classes present (%" PRId64 " to %" PRId64
            " rows each)\n    %s\n", split, s->info.count, s->info.height, s->info.width, present, CD_CLASSES,
            fewest, most, s->storage);
}

/* A file with a /train or /test group is meant as a data set: described when both splits read
 * whole, else refused for what is wrong with it (the data reader's own message). */
static cd_status describe_data(const char *path, FILE *out, cd_error *err)
{
    split_scan *s = NULL;
    CD_ALLOC(err, s, 2);
    cd_status st = scan_split(path, "train", &s[0], err);
    if (st == CD_OK) st = scan_split(path, "test", &s[1], err);
    if (st == CD_OK && (s[0].info.height != s[1].info.height || s[0].info.width != s[1].info.width))
        st = CD_FAIL(err, CD_E_INPUT, "%s: /test/images are %dx%d but /train/images are %dx%d", path, s[1].info.height,
                     s[1].info.width, s[0].info.height, s[0].info.width);
    if (st == CD_OK) {
        fprintf(out, "%s: cnn_ddp data set, verified (every row read: labels 0-9, pixels 0-255)\n", path);
        print_split(out, "train", &s[0]);
        print_split(out, "test", &s[1]);
    }
    cd_free(s);
    return st;
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
        fprintf(out, "  data         %s: %" PRId64 " training rows of %" PRId64 "x%" PRId64 ", checksum %016" PRIx64 "\n",
                meta->data, meta->data_rows, meta->data_height, meta->data_width, meta->data_checksum);
        fprintf(out, "  position     step %" PRId64 " (epoch %" PRId64 ", step %" PRId64 " of it)\n", meta->step,
                meta->epoch + 1, meta->step_in_epoch);
        fprintf(out, "  training     seed %" PRIu64 ", batch %" PRId64 " (written by %" PRId64 " rank%s), lr %g (%s), "
                "momentum %g\n", meta->seed, meta->batch, meta->ranks, meta->ranks == 1 ? "" : "s", meta->lr,
                meta->lr_schedule, meta->momentum);
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
