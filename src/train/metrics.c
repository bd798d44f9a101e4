/* JSON-lines metrics; see metrics.h. Each line is flushed so a crash loses at most the line in flight. */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* An existing path is written only when it is a cnn_ddp metrics file (or empty, or a character device
 * such as /dev/null): anything else — the data file, a checkpoint, someone's notes — is refused
 * before it could be truncated, and a FIFO before open() could block. */
static cd_status check_metrics_path(const char *path, cd_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0) return CD_OK; /* a new file (a bad directory fails at fopen) */
    if (S_ISCHR(st.st_mode)) return CD_OK;
    if (!S_ISREG(st.st_mode))
        return CD_FAIL(err, CD_E_USAGE, "--metrics %s: exists and is not a regular file: choose another path", path);
    if (st.st_size == 0) return CD_OK;
    static const char head[] = "{\"type\":\"config\"";
    char got[sizeof head - 1] = {0};
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(got, 1, sizeof got, f) : 0;
    if (f) fclose(f);
    if (n != sizeof got || memcmp(got, head, sizeof got) != 0)
        return CD_FAIL(err, CD_E_USAGE, "--metrics %s: an existing file that is not a cnn_ddp metrics file (it would be "
                       "overwritten): choose another path", path);
    return CD_OK;
}

cd_status cd_metrics_open(cd_metrics *m, const char *path, int append, const char *config_lines, int world_size,
                          const char *device, cd_error *err)
{
    memset(m, 0, sizeof *m);
    snprintf(m->device, sizeof m->device, "%s", device);
    if (!path || !*path) return CD_OK;
    CD_TRY(check_metrics_path(path, err));
    m->file = fopen(path, append ? "a" : "w");
    if (!m->file) return CD_FAIL(err, CD_E_IO, "--metrics %s: cannot open for writing: %s", path, strerror(errno));
    /* The configuration as one object: each "key=value" line becomes a string member. */
    fprintf(m->file, "{\"type\":\"config\",\"world_size\":%d,\"device\":\"%s\"", world_size, m->device);
    const char *line = config_lines;
    while (line && *line) {
        const char *eq = strchr(line, '='), *nl = strchr(line, '\n');
        if (!nl) nl = line + strlen(line);
        /* "device" is the one the run uses, written above; the option may have said "auto". */
        if (eq && eq < nl && strncmp(line, "device=", 7) != 0) {
            char key[64], value[4200];
            snprintf(key, sizeof key, "%.*s", (int)(eq - line), line);
            snprintf(value, sizeof value, "%.*s", (int)(nl - eq - 1), eq + 1);
            fputc(',', m->file);
            json_string(m->file, key);
            fputc(':', m->file);
            json_string(m->file, value);
        }
        line = *nl ? nl + 1 : nl;
    }
    fputs("}\n", m->file);
    fflush(m->file);
    return CD_OK;
}

void cd_metrics_step(cd_metrics *m, int64_t step, double loss, double lr)
{
    if (!m->file) return;
    fprintf(m->file, "{\"type\":\"step\",\"step\":%" PRId64 ",\"loss\":%.6g,\"lr\":%.6g}\n", step, loss, lr);
    fflush(m->file);
}

void cd_metrics_epoch(cd_metrics *m, const cd_epoch_summary *e, int world_size)
{
    if (!m->file) return;
    fprintf(m->file, "{\"type\":\"epoch\",\"epoch\":%" PRId64 ",\"step\":%" PRId64 ",\"train_loss\":%.6f,"
            "\"train_acc\":%.6f,", e->epoch, e->step, e->loss, e->train_acc);
    if (e->has_val) fprintf(m->file, "\"val_acc\":%.6f,\"val_loss\":%.6f,", e->val_acc, e->val_loss);
    else if (e->has_test) fprintf(m->file, "\"test_acc\":%.6f,", e->test_acc);
    fprintf(m->file, "\"img_per_s\":%.1f,\"elapsed_s\":%.3f,\"world_size\":%d,\"device\":\"%s\"}\n", e->img_per_s,
            e->elapsed_s, world_size, m->device);
    fflush(m->file);
}

void cd_metrics_note(cd_metrics *m, const char *name, double value)
{
    if (!m->file) return;
    fprintf(m->file, "{\"type\":\"note\",\"%s\":%.6g}\n", name, value);
    fflush(m->file);
}

void cd_metrics_segment(cd_metrics *m, int ranks, int64_t from_step, const char *event, const char *history)
{
    if (!m->file) return;
    fprintf(m->file, "{\"type\":\"segment\",\"ranks\":%d,\"from_step\":%" PRId64 ",\"event\":", ranks, from_step);
    json_string(m->file, event);
    fputs(",\"history\":", m->file);
    json_string(m->file, history);
    fputs("}\n", m->file);
    fflush(m->file);
}

void cd_metrics_final(cd_metrics *m, int64_t step, double test_acc, double elapsed_s)
{
    if (!m->file) return;
    if (isnan(test_acc)) /* no /test split */
        fprintf(m->file, "{\"type\":\"final\",\"step\":%" PRId64 ",\"elapsed_s\":%.3f}\n", step, elapsed_s);
    else
        fprintf(m->file, "{\"type\":\"final\",\"step\":%" PRId64 ",\"test_acc\":%.6f,\"elapsed_s\":%.3f}\n", step,
                test_acc, elapsed_s);
    fflush(m->file);
}

void cd_metrics_close(cd_metrics *m)
{
    if (m->file) fclose(m->file);
    m->file = NULL;
}
