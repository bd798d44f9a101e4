#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cnn_ddp/rng.h"

void ts_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * cd_rng_uniform(seed, 77, i);
}

double ts_max_rel_err(const float *a, const float *b, size_t n)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        if (d < 0) d = -d;
        double s = (double)b[i] < 0 ? -(double)b[i] : (double)b[i];
        if (s < 1.0) s = 1.0;
        if (d / s > worst || d != d) worst = d != d ? 1e30 : d / s;
    }
    return worst;
}

char *ts_make_temp_dir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    size_t len = strlen(base) + strlen(tag) + 32;
    char *path = malloc(len);
    snprintf(path, len, "%s/cnn_ddp-%s-XXXXXX", base, tag);
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

void ts_rmtree(const char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", path);
}

int ts_run(const char *cmd, char *out, size_t cap)
{
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t used = 0;
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, p)) > 0) {
        if (out && used + 1 < cap) {
            size_t take = got < cap - 1 - used ? got : cap - 1 - used;
            memcpy(out + used, buf, take);
            used += take;
        }
    }
    if (out && cap) out[used] = '\0';
    int status = pclose(p);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

const char *ts_bin_dir(void) { return CD_TEST_BIN_DIR; }
const char *ts_src_dir(void) { return CD_TEST_SOURCE_DIR; }
const char *ts_mnist_idx_dir(void)
{
    const char *env = getenv("MNIST_IDX_DIR");
    return env && *env ? env : CD_TEST_MNIST_IDX_DIR;
}

int ts_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}
