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
        fprintf(out, "  written by   cnn_ddp %s\n  model        %s\n", meta->version, meta->model);
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
    if (strstr(ckpt_err.msg, "not a cnn_ddp checkpoint")) {
        cd_status dst = cd_data_inspect(path, "train", &info, &data_err);
        /* A damaged /test is damage too (a missing one is only absent). */
        if (dst == CD_OK && (dst = cd_data_inspect(path, "test", &info, &data_err)) != CD_OK &&
            strstr(data_err.msg, ": /test: missing group"))
            dst = CD_OK;
        if (dst == CD_OK) {
            fprintf(out, "%s: cnn_ddp data set\n", path);
            print_split(out, path, "train");
            print_split(out, path, "test");
            return CD_OK;
        }
        /* A file with a /train group is meant as a data set: its problem is the one to report, on
         * its own line and with its status. */
        if (!strstr(data_err.msg, ": /train: missing group")) {
            *err = data_err;
            return dst;
        }
    }
    *err = ckpt_err;
    return st;
}
