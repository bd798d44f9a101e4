/* Where the training data is: as given, or (resuming from another directory with the default --data)
 * where the checkpoint's run found it; and what to do when it is nowhere. */
#include "data_path.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cnn_ddp/abs_path.h"
#include "cnn_ddp/ckpt.h"
#include "cnn_ddp/config_options.h"

static int is_default_data(const char *data)
{
    const cd_option *o = cd_option_find("data", strlen("data"));
    return o && o->def_text && !strcmp(data, o->def_text);
}

/* The checkpoint --resume would start from: the named file, else the newest readable one in --ckpt-dir
 * (whoever's: this only finds the data, the resume itself checks the run). 0 when none. */
static int resume_source(const cd_train_config *cfg, cd_ckpt_meta *meta, char *path, size_t size)
{
    cd_error ignored = {0};
    if (cfg->resume == CD_RESUME_FILE) {
        snprintf(path, size, "%s", cfg->resume_path);
        return cd_ckpt_read_meta(path, meta, &ignored) == CD_OK;
    }
    enum { MAX = 16 };
    char (*paths)[CD_PATH_MAX] = cd_alloc_zeroed(MAX * sizeof *paths);
    int found = 0, ok = 0;
    if (paths && cd_ckpt_list(cfg->ckpt_dir, paths, MAX, &found, &ignored) == CD_OK)
        for (int k = 0; k < found && !ok; k++)
            if (cd_ckpt_read_meta(paths[k], meta, &ignored) == CD_OK) {
                snprintf(path, size, "%s", paths[k]);
                ok = 1;
            }
    cd_free(paths);
    return ok;
}

cd_status cd_train_find_data(cd_train_config *cfg, char *note, size_t note_size, cd_error *err)
{
    note[0] = '\0';
    if (access(cfg->data, F_OK) == 0 || errno != ENOENT) return CD_OK; /* the reader names any other problem */
    char abs[CD_PATH_MAX];
    cd_path_absolute(cfg->data, abs, sizeof abs);
    if (!is_default_data(cfg->data))
        return CD_FAIL(err, CD_E_INPUT, "--data %s: no such file (looked for %s)", cfg->data, abs);
    char recorded[300 + 2 * CD_PATH_MAX] = "";
    if (cfg->resume != CD_RESUME_NONE) {
        cd_ckpt_meta *meta = cd_alloc_zeroed(sizeof *meta);
        char ckpt[CD_PATH_MAX];
        if (!meta) return CD_FAIL(err, CD_E_NOMEM, "out of memory");
        if (resume_source(cfg, meta, ckpt, sizeof ckpt) && meta->data[0]) {
            if (access(meta->data, F_OK) == 0) {
                snprintf(note, note_size, "%s is not in this directory: training on %s, the data %s recorded",
                         cfg->data, meta->data, ckpt);
                snprintf(cfg->data, sizeof cfg->data, "%s", meta->data);
                cd_free(meta);
                return CD_OK;
            }
            snprintf(recorded, sizeof recorded, ", and for %s, where the run of %s found it", meta->data, ckpt);
        }
        cd_free(meta);
    }
    return CD_FAIL(err, CD_E_INPUT, "%s: no such file (looked for %s%s): make it with datasets/prepare.sh mnist "
                   "(in the cnn_ddp source directory), or pass --data FILE.h5", cfg->data, abs, recorded);
}
