/* Writing a run's checkpoints (rank 0): the file name, the metadata, pruning its own old step files. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "run_meta.h"

cd_status cd_write_checkpoint(const cd_train_config *cfg, const cd_run_identity *id, const cd_position *pos,
                              const cd_run_arenas *a, int rank, int final, char written[CD_PATH_MAX], cd_error *err)
{
    if (cfg->no_ckpt || rank != 0) return CD_OK;
    CD_TRY(cd_ckpt_make_dir(cfg->ckpt_dir, err));
    char path[CD_PATH_MAX];
    int len = final ? snprintf(path, sizeof path, "%s/final.h5", cfg->ckpt_dir)
                    : snprintf(path, sizeof path, "%s/step-%" PRId64 ".h5", cfg->ckpt_dir, pos->step);
    /* Room for the temporary's name beside it, too (".<name>.tmp-<pid>"). */
    if (len < 0 || (size_t)len + 40 >= sizeof path)
        return CD_FAIL(err, CD_E_USAGE, "--ckpt-dir %s: path too long for checkpoint files", cfg->ckpt_dir);
    cd_ckpt_meta *meta = NULL;
    CD_ALLOC(err, meta, 1);
    cd_run_meta_fill(id, pos, cfg, meta);
    cd_status st = cd_ckpt_write(path, meta, a->tensors, a->n_tensors, a->params, a->momentum, a->n_params, err);
    const uint64_t run_id = cd_ckpt_run_id(meta);
    cd_free(meta);
    CD_TRY(st);
    snprintf(written, CD_PATH_MAX, "%s", path);
    /* Only this run's step files, and never the one just written: the stop line names it. */
    return final ? CD_OK : cd_ckpt_prune(cfg->ckpt_dir, cfg->keep, run_id, strrchr(path, '/') + 1, err);
}
