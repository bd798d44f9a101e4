/* `cnn_ddp info FILE`: what a checkpoint or data file holds, and whether it verifies. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "subcommands.h"
#include "cnn_ddp/ckpt.h"
#include "cnn_ddp/data.h"

static void print_split(FILE *out, const char *path, const char *split)
{
    cd_data_info info;
    cd_error err = {0};
    if (cd_data_inspect(path, split, &info, &err) == CD_OK)
        fprintf(out, "  /%s: %" PRId64 " images of %dx%d\n", split, info.count, info.height, info.width);
    else
        fprintf(out, "  /%s: %s\n", split, err.msg);
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
    /* Not a (valid) checkpoint: perhaps a data set. */
    cd_data_info info;
    cd_error data_err = {0};
    if (strstr(ckpt_err.msg, "not a cnn_ddp checkpoint") && cd_data_inspect(path, "train", &info, &data_err) == CD_OK) {
        fprintf(out, "%s: cnn_ddp data set\n", path);
        print_split(out, path, "train");
        print_split(out, path, "test");
        return CD_OK;
    }
    *err = ckpt_err;
    return st;
}
