/* The checkpoint directory: creating it, listing its checkpoints newest first, pruning a run's old
 * step files, and removing the temporaries of killed writers. Only "final.h5" and "step-<S>.h5" count as
 * checkpoints; anything else is left alone. */
#include "ckpt_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* S of "step-<S>.h5" (decimal digits only), or -1 for any other name. */
static long long step_of(const char *name)
{
    if (strncmp(name, "step-", 5) != 0) return -1;
    const char *p = name + 5;
    long long s = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (s > (0x7fffffffffffffffLL - 9) / 10) return -1;
        s = s * 10 + (*p - '0');
    }
    return digits > 0 && strcmp(p, ".h5") == 0 ? s : -1;
}

typedef struct step_file {
    long long step;
    char name[256];
} step_file;

static int newest_first(const void *a, const void *b)
{
    const step_file *x = a, *y = b;
    if (x->step != y->step) return x->step > y->step ? -1 : 1;
    return strcmp(x->name, y->name); /* "step-7.h5" vs "step-007.h5": any fixed order */
}

/* All step files of `dir`, newest first, into a cd_alloc'd array; *has_final says whether final.h5
 * exists. Returns -1 (errno set) if the directory cannot be read. */
static long scan(const char *dir, step_file **out, int *has_final)
{
    *out = NULL;
    *has_final = 0;
    DIR *d = opendir(dir);
    if (d == NULL) return -1;
    step_file *files = NULL;
    long n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, "final.h5") == 0) *has_final = 1;
        long long s = step_of(e->d_name);
        if (s < 0 || strlen(e->d_name) >= sizeof files->name) continue;
        if (n == cap) {
            long ncap = cap ? 2 * cap : 16;
            step_file *grown = cd_alloc_zeroed((size_t)ncap * sizeof *grown);
            if (grown == NULL) {
                cd_free(files);
                closedir(d);
                errno = ENOMEM;
                return -1;
            }
            if (n > 0) memcpy(grown, files, (size_t)n * sizeof *grown);
            cd_free(files);
            files = grown;
            cap = ncap;
        }
        files[n].step = s;
        snprintf(files[n].name, sizeof files[n].name, "%s", e->d_name);
        n++;
    }
    closedir(d);
    if (n > 1) qsort(files, (size_t)n, sizeof *files, newest_first);
    *out = files;
    return n;
}

cd_status cd_ckpt_list(const char *dir, char (*paths)[CD_PATH_MAX], int max, int *found, cd_error *err)
{
    step_file *files;
    int has_final;
    *found = 0;
    long n = scan(dir, &files, &has_final);
    if (n < 0 && errno == ENOENT) return CD_OK; /* no directory yet: no checkpoints */
    if (n < 0) return CD_FAIL(err, errno == ENOMEM ? CD_E_NOMEM : CD_E_IO, "%s: cannot list checkpoint directory: %s", dir,
                              strerror(errno));
    int k = 0;
    cd_status st = CD_OK;
    if (has_final && k < max) snprintf(paths[k++], CD_PATH_MAX, "%s/final.h5", dir);
    for (long i = 0; i < n && k < max && st == CD_OK; i++) {
        int len = snprintf(paths[k], CD_PATH_MAX, "%s/%s", dir, files[i].name);
        if (len < 0 || len >= CD_PATH_MAX)
            st = CD_FAIL(err, CD_E_USAGE, "%s/%s: path longer than %d characters", dir, files[i].name, CD_PATH_MAX - 1);
        else
            k++;
    }
    cd_free(files);
    *found = k;
    return st;
}

cd_status cd_ckpt_prune(const char *dir, int keep, uint64_t run_id, const char *written, cd_error *err)
{
    if (keep < 0) return CD_FAIL(err, CD_E_USAGE, "%s: number of checkpoints to keep must be >= 0, got %d", dir, keep);
    step_file *files;
    int has_final;
    long n = scan(dir, &files, &has_final);
    if (n < 0) return CD_FAIL(err, CD_E_IO, "%s: cannot list checkpoint directory: %s", dir, strerror(errno));
    cd_ckpt_meta *meta = cd_alloc_zeroed(sizeof *meta);
    if (meta == NULL) {
        cd_free(files);
        return CD_FAIL(err, CD_E_NOMEM, "%s: out of memory pruning checkpoints", dir);
    }
    /* The one just written counts first, so a newer file of the same run left by an earlier start
     * cannot push it out (the stop line names it). */
    int kept = written != NULL && keep > 0;
    cd_status st = CD_OK;
    for (long i = 0; i < n && st == CD_OK; i++) {
        if (written != NULL && strcmp(files[i].name, written) == 0) continue;
        char p[CD_PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dir, files[i].name);
        cd_error ignored = {0};
        /* Only files provably of this run: another run's, or one whose metadata does not read, stay. */
        if (cd_ckpt_read_meta(p, meta, &ignored) != CD_OK || cd_ckpt_run_id(meta) != run_id) continue;
        if (kept < keep) {
            kept++;
            continue;
        }
        if (unlink(p) != 0 && errno != ENOENT)
            st = CD_FAIL(err, CD_E_IO, "%s: cannot delete old checkpoint: %s", p, strerror(errno));
    }
    cd_free(meta);
    cd_free(files);
    return st;
}

/* The pid of a temporary's name (".<final.h5|step-<S>.h5>.tmp-<pid>" or ".cnn_ddp-probe-<pid>"), else -1. */
static long temp_pid(const char *name)
{
    const char *digits = NULL;
    if (strncmp(name, ".cnn_ddp-probe-", 15) == 0) {
        digits = name + 15;
    } else if (name[0] == '.') {
        const char *tag = strstr(name, ".tmp-");
        if (tag == NULL) return -1;
        char base[256];
        size_t len = (size_t)(tag - (name + 1));
        if (len == 0 || len >= sizeof base) return -1;
        memcpy(base, name + 1, len);
        base[len] = '\0';
        if (strcmp(base, "final.h5") != 0 && step_of(base) < 0) return -1;
        digits = tag + 5;
    } else {
        return -1;
    }
    long pid = 0;
    const char *p = digits;
    for (; *p >= '0' && *p <= '9' && pid < 100000000; p++) pid = pid * 10 + (*p - '0');
    return p > digits && *p == '\0' ? pid : -1;
}

cd_status cd_ckpt_remove_stale_temps(const char *dir, int *removed, cd_error *err)
{
    *removed = 0;
    DIR *d = opendir(dir);
    if (d == NULL) return CD_FAIL(err, CD_E_IO, "%s: cannot list checkpoint directory: %s", dir, strerror(errno));
    cd_status st = CD_OK;
    struct dirent *e;
    while (st == CD_OK && (e = readdir(d)) != NULL) {
        const long pid = temp_pid(e->d_name);
        if (pid < 0) continue;
        /* The lock already rules out a live writer of a cnn_ddp that takes it; a live pid here may still
         * be an older cnn_ddp that does not, so its file stays. */
        if (pid == (long)getpid() || (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM))) continue;
        char p[CD_PATH_MAX];
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p) continue;
        if (unlink(p) == 0)
            (*removed)++;
        else if (errno != ENOENT)
            st = CD_FAIL(err, CD_E_IO, "%s: cannot remove a stale temporary: %s", p, strerror(errno));
    }
    closedir(d);
    return st;
}

cd_status cd_ckpt_make_dir(const char *dir, cd_error *err)
{
    if (dir == NULL || dir[0] == '\0') return CD_FAIL(err, CD_E_USAGE, "empty checkpoint directory name");
    char p[CD_PATH_MAX];
    size_t len = strlen(dir);
    if (len >= sizeof p) return CD_FAIL(err, CD_E_USAGE, "checkpoint directory name is too long (%zu bytes)", len);
    memcpy(p, dir, len + 1);
    /* Create each prefix in turn; one that exists must be a directory. */
    for (size_t i = 1; i <= len; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        if (p[i - 1] == '/') continue; /* "a//b" */
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, 0777) != 0) {
            int e = errno;
            struct stat st;
            if (stat(p, &st) == 0) {
                if (!S_ISDIR(st.st_mode))
                    return CD_FAIL(err, CD_E_IO,
                                   "%s: cannot create checkpoint directory: %s exists and is not a directory", dir, p);
            } else {
                return CD_FAIL(err, CD_E_IO, "%s: cannot create checkpoint directory %s: %s", dir, p, strerror(e));
            }
        }
        p[i] = saved;
    }
    return CD_OK;
}

cd_status cd_ckpt_probe_dir(const char *dir, cd_error *err)
{
    /* The longest name a checkpoint write uses: step-<int64>.h5 and its .tmp-<pid> sibling. */
    char probe[CD_PATH_MAX];
    const int len = snprintf(probe, sizeof probe, "%s/step-%s.h5.tmp-%ld", dir, "9223372036854775807", (long)getpid());
    if (len < 0 || (size_t)len >= sizeof probe)
        return CD_FAIL(err, CD_E_USAGE, "--ckpt-dir: the name (%zu bytes) leaves no room for checkpoint file names",
                       strlen(dir));
    cd_status st = cd_ckpt_make_dir(dir, err);
    if (st != CD_OK) {
        err->code = CD_E_USAGE;
        cd_error_prefix(err, "--ckpt-dir: ");
        return CD_E_USAGE;
    }
    snprintf(probe, sizeof probe, "%s/.cnn_ddp-probe-%ld", dir, (long)getpid());
    const int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return CD_FAIL(err, CD_E_USAGE, "--ckpt-dir %s: cannot create a file there: %s", dir, strerror(errno));
    close(fd);
    unlink(probe);
    return CD_OK;
}
