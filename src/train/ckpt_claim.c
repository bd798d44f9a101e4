/* Taking a checkpoint directory for a run (rank 0, before anything is written): a directory that holds
 * another run's checkpoints is refused, so a run never deletes or overwrites a file of another run unless
 * --overwrite says so; the lock keeps a second live job out for the life of the run. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "run_meta.h"

static void say(const cd_reporter *rep, int warning, const char *line)
{
    if (rep && warning && rep->warning) rep->warning(rep->ctx, line);
    if (rep && !warning && rep->note) rep->note(rep->ctx, line);
}

/* Another run's files: how many, the first one and what differs in it. */
typedef struct others {
    int count;
    char first[CD_PATH_MAX];
    char first_id[17];
    char why[512];
} others;

/* What a scan does with what it finds: only count (the look before touching anything), count and report
 * damaged files, or report them and delete other runs' files (--overwrite). */
enum { SCAN_QUIET, SCAN_REPORT, SCAN_DELETE };

static cd_status scan_dir(const cd_train_config *cfg, const cd_run_identity *id, const cd_reporter *rep,
                          char (*paths)[CD_PATH_MAX], int n, cd_ckpt_meta *m, others *o, int mode, cd_error *err)
{
    int removed = 0;
    for (int i = 0; i < n; i++) {
        cd_error e = {0};
        char line[sizeof e.msg + 128];
        if (cd_ckpt_read_meta(paths[i], m, &e) != CD_OK) {
            /* Not provably another run's: never deleted, never pruned; a resume from the directory
             * reports it as it skips it. */
            if (mode != SCAN_QUIET && cfg->resume != CD_RESUME_NEWEST) {
                snprintf(line, sizeof line, "%s (left alone: not read as any run's checkpoint)", e.msg);
                say(rep, 1, line);
            }
            continue;
        }
        char why[512];
        if (!cd_run_meta_diff(id, m, why, sizeof why)) continue;
        if (mode == SCAN_DELETE) {
            if (unlink(paths[i]) != 0)
                return CD_FAIL(err, CD_E_IO, "--overwrite: cannot delete %s: %s", paths[i], strerror(errno));
            removed++;
            continue;
        }
        if (o->count++ == 0) {
            snprintf(o->first, sizeof o->first, "%s", paths[i]);
            cd_ckpt_run_id_text(cd_ckpt_run_id(m), o->first_id);
            snprintf(o->why, sizeof o->why, "%s", why);
        }
    }
    if (removed > 0) {
        char line[CD_PATH_MAX + 128];
        snprintf(line, sizeof line, "--overwrite: deleted %d checkpoint%s of other runs from %s", removed,
                 removed == 1 ? "" : "s", cfg->ckpt_dir);
        say(rep, 1, line); /* a warning: shown even with --quiet */
    }
    return CD_OK;
}

/* Lists the directory (one that does not exist holds nothing) and scans it. */
static cd_status list_and_scan(const cd_train_config *cfg, const cd_run_identity *id, const cd_reporter *rep,
                               char (*paths)[CD_PATH_MAX], cd_ckpt_meta *m, others *o, int mode, cd_error *err)
{
    int n = 0;
    *o = (others){0};
    /* Unreadable is an error, never "no checkpoints here": that would start from scratch over them. The
     * first look leaves it to the probe, which names the usual problems (a file, /dev/null) in its words. */
    if (cd_ckpt_list(cfg->ckpt_dir, paths, CD_MAX_CKPTS, &n, err) != CD_OK) {
        if (mode == SCAN_QUIET) return CD_OK;
        err->code = CD_E_USAGE;
        cd_error_prefix(err, "--ckpt-dir: ");
        return CD_E_USAGE;
    }
    return scan_dir(cfg, id, rep, paths, n, m, o, mode, err);
}

static cd_status refuse(const cd_train_config *cfg, const cd_run_identity *id, const others *o, cd_error *err)
{
    char mine[17];
    cd_ckpt_run_id_text(cd_run_id(id), mine);
    /* The file and what differs first, as a --resume of it would say: often a forgotten option. */
    return CD_FAIL(err, CD_E_INPUT, "%s: %s; --ckpt-dir %s holds %d checkpoint%s of that run (run %s; this run is %s): "
                   "give this run a new --ckpt-dir, or --overwrite to delete them", o->first, o->why, cfg->ckpt_dir,
                   o->count, o->count == 1 ? "" : "s", o->first_id, mine);
}

static cd_status claim(const cd_train_config *cfg, const cd_run_identity *id, const cd_reporter *rep,
                       cd_ckpt_lock *lock, char (*paths)[CD_PATH_MAX], cd_ckpt_meta *m, cd_error *err)
{
    const char *dir = cfg->ckpt_dir;
    others o;
    /* A first look that changes nothing, so a refused run leaves the directory exactly as it was. */
    CD_TRY(list_and_scan(cfg, id, rep, paths, m, &o, SCAN_QUIET, err));
    if (o.count > 0 && !cfg->overwrite) return refuse(cfg, id, &o, err);
    CD_TRY(cd_ckpt_probe_dir(dir, err));
    CD_TRY(cd_ckpt_lock_dir(dir, lock, err));
    int stale = 0;
    if (cd_ckpt_remove_stale_temps(dir, &stale, err) != CD_OK) {
        err->code = CD_E_USAGE;
        cd_error_prefix(err, "--ckpt-dir: ");
        return CD_E_USAGE;
    }
    if (stale > 0) {
        char line[CD_PATH_MAX + 128];
        snprintf(line, sizeof line, "removed %d stale temporary file%s of killed checkpoint writers from %s", stale,
                 stale == 1 ? "" : "s", dir);
        say(rep, 0, line);
    }
    /* Again under the lock, where no other job can be writing: what is here now is what counts. */
    CD_TRY(list_and_scan(cfg, id, rep, paths, m, &o, cfg->overwrite ? SCAN_DELETE : SCAN_REPORT, err));
    return o.count > 0 ? refuse(cfg, id, &o, err) : CD_OK;
}

cd_status cd_claim_ckpt_dir(const cd_train_config *cfg, const cd_run_identity *id, int rank, const cd_reporter *rep,
                            cd_ckpt_lock *lock, cd_error *err)
{
    lock->fd = -1;
    if (cfg->no_ckpt || rank != 0) return CD_OK;
    char(*paths)[CD_PATH_MAX] = cd_alloc_zeroed(sizeof *paths * CD_MAX_CKPTS);
    cd_ckpt_meta *m = cd_alloc_zeroed(sizeof *m);
    cd_status st = paths && m ? claim(cfg, id, rep, lock, paths, m, err)
                              : CD_FAIL(err, CD_E_NOMEM, "out of memory listing %s", cfg->ckpt_dir);
    cd_free(paths);
    cd_free(m);
    return st;
}
