/* JSON-lines metrics; see metrics.h. Each line is flushed so a crash loses at most the line in flight.
 * The records are built and written by jansson (a small, well-kept library: its strings are escaped
 * and checked as UTF-8, its objects hold each key once, and it refuses NaN and infinities), so this
 * file only decides what goes in them. */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cnn_ddp/config_options.h"

/* Fifteen significant digits: 0.1 stays "0.1", and every value the options print reads back the same. */
#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

/* "2026-01-02T03:04:05.678Z": the wall clock, UTC, to the millisecond. */
static void iso_time(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char day[24];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", day, (int)(ts.tv_nsec / 1000000));
}

/* A JSON string of s; bytes that do not form UTF-8 (a path can hold any) become '?'. */
static json_t *text_value(const char *s)
{
    json_t *v = json_string(s ? s : "");
    if (v) return v;
    char *copy = strdup(s);
    if (!copy) return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p > 0x7f) *p = '?';
    v = json_string(copy);
    free(copy);
    return v;
}

static json_t *field_value(const cd_metrics_field *f)
{
    switch (f->kind) {
    case CD_MF_INT: return json_integer((json_int_t)f->i);
    case CD_MF_REAL: return isfinite(f->r) ? json_real(f->r) : json_null();
    case CD_MF_BOOL: return json_boolean(f->i);
    case CD_MF_TEXT: return text_value(f->s);
    }
    return json_null();
}

/* Writes {"type":type, fields..., "time":...} and a newline. Out of memory: the record is dropped (a
 * metrics file must never stop a run). */
static void write_record(FILE *file, const char *type, const cd_metrics_field *fields, size_t n)
{
    json_t *o = json_object();
    if (!o) return;
    json_object_set_new(o, "type", text_value(type));
    for (size_t k = 0; k < n; k++) json_object_set_new(o, fields[k].key, field_value(&fields[k]));
    char when[32];
    iso_time(when);
    json_object_set_new(o, "time", json_string(when));
    if (json_dumpf(o, file, DUMP_FLAGS) == 0) fputc('\n', file);
    fflush(file);
    json_decref(o);
}

void cd_metrics_record(cd_metrics *m, const char *type, const cd_metrics_field *fields, size_t n)
{
    if (m->file) write_record(m->file, type, fields, n);
}

/* The option whose cd_train_config_format key is key[0..len), or NULL. */
static const cd_option *option_of_key(const char *key, size_t len)
{
    size_t count;
    const cd_option *o = cd_options(&count);
    for (size_t k = 0; k < count; k++)
        if (o[k].key && strlen(o[k].key) == len && !strncmp(o[k].key, key, len)) return &o[k];
    return NULL;
}

/* One "key=value" configuration line as a typed member: the option table says what the value is. */
static cd_metrics_field config_field(const char *key, size_t key_len, const char *value, char *key_buf)
{
    memcpy(key_buf, key, key_len);
    key_buf[key_len] = '\0';
    const cd_option *o = option_of_key(key, key_len);
    char *end = NULL;
    errno = 0;
    if (o && o->kind == CD_OPT_INT) {
        const long long i = strtoll(value, &end, 10);
        if (*value && end && !*end && !errno) return CD_MF_INT_OF(key_buf, i);
    } else if (o && o->kind == CD_OPT_REAL) {
        const double r = strtod(value, &end);
        if (*value && end && !*end && !errno && isfinite(r)) return CD_MF_REAL_OF(key_buf, r);
    } else if (o && o->kind == CD_OPT_FLAG) {
        return CD_MF_BOOL_OF(key_buf, strcmp(value, "0") != 0);
    }
    return CD_MF_TEXT_OF(key_buf, value); /* an enum's name, a path, a model spec, "(disabled)" */
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
    /* The configuration as one object, each "key=value" line a typed member; "device" is the one the
     * run uses (the option may have said "auto"). */
    enum { MAX_FIELDS = 64, KEY_MAX = 64 };
    cd_metrics_field f[MAX_FIELDS];
    char keys[MAX_FIELDS][KEY_MAX];
    char *values = malloc(config_lines ? strlen(config_lines) + 1 : 1); /* each value, NUL-ended */
    if (!values) return CD_FAIL(err, CD_E_NOMEM, "--metrics %s: out of memory", path);
    size_t n = 0, used = 0;
    f[n++] = CD_MF_INT_OF("world_size", world_size);
    f[n++] = CD_MF_TEXT_OF("device", m->device);
    for (const char *line = config_lines; line && *line && n < MAX_FIELDS;) {
        const char *eq = strchr(line, '='), *nl = strchr(line, '\n');
        if (!nl) nl = line + strlen(line);
        const size_t key_len = eq && eq < nl ? (size_t)(eq - line) : 0;
        if (key_len > 0 && key_len < KEY_MAX && strncmp(line, "device=", 7) != 0) {
            char *value = values + used;
            memcpy(value, eq + 1, (size_t)(nl - eq - 1));
            value[nl - eq - 1] = '\0';
            used += (size_t)(nl - eq);
            f[n] = config_field(line, key_len, value, keys[n]);
            n++;
        }
        line = *nl ? nl + 1 : nl;
    }
    write_record(m->file, "config", f, n);
    free(values);
    return CD_OK;
}

void cd_metrics_step(cd_metrics *m, int64_t step, double loss, double lr)
{
    const cd_metrics_field f[] = {CD_MF_INT_OF("step", step), CD_MF_REAL_OF("loss", loss), CD_MF_REAL_OF("lr", lr)};
    cd_metrics_record(m, "step", f, sizeof f / sizeof f[0]);
}

void cd_metrics_epoch(cd_metrics *m, const cd_epoch_summary *e, int world_size)
{
    cd_metrics_field f[16];
    size_t n = 0;
    f[n++] = CD_MF_INT_OF("epoch", e->epoch);
    f[n++] = CD_MF_INT_OF("step", e->step);
    f[n++] = CD_MF_REAL_OF("train_loss", e->loss);
    f[n++] = CD_MF_REAL_OF("train_acc", e->train_acc);
    if (e->has_val) {
        f[n++] = CD_MF_REAL_OF("val_acc", e->val_acc);
        f[n++] = CD_MF_REAL_OF("val_loss", e->val_loss);
    } else if (e->has_test) {
        f[n++] = CD_MF_REAL_OF("test_acc", e->test_acc);
        f[n++] = CD_MF_REAL_OF("test_loss", e->test_loss);
    }
    f[n++] = CD_MF_REAL_OF("lr", e->lr);
    f[n++] = CD_MF_REAL_OF("img_per_s", round(e->img_per_s * 10) / 10);
    f[n++] = CD_MF_REAL_OF("elapsed_s", round(e->elapsed_s * 1000) / 1000);
    f[n++] = CD_MF_INT_OF("world_size", world_size);
    f[n++] = CD_MF_TEXT_OF("device", m->device);
    cd_metrics_record(m, "epoch", f, n);
}

void cd_metrics_note(cd_metrics *m, const char *name, double value)
{
    const cd_metrics_field f[] = {CD_MF_REAL_OF(name, value)};
    cd_metrics_record(m, "note", f, 1);
}

void cd_metrics_segment(cd_metrics *m, int ranks, int64_t from_step, const char *event, const char *history)
{
    const cd_metrics_field f[] = {CD_MF_INT_OF("ranks", ranks), CD_MF_INT_OF("from_step", from_step),
                                  CD_MF_TEXT_OF("event", event), CD_MF_TEXT_OF("history", history)};
    cd_metrics_record(m, "segment", f, 4);
}

void cd_metrics_final(cd_metrics *m, int64_t step, double test_acc, double test_loss, double elapsed_s)
{
    cd_metrics_field f[4];
    size_t n = 0;
    f[n++] = CD_MF_INT_OF("step", step);
    if (!isnan(test_acc)) { /* no /test split: neither */
        f[n++] = CD_MF_REAL_OF("test_acc", test_acc);
        f[n++] = CD_MF_REAL_OF("test_loss", test_loss);
    }
    f[n++] = CD_MF_REAL_OF("elapsed_s", round(elapsed_s * 1000) / 1000);
    cd_metrics_record(m, "final", f, n);
}

void cd_metrics_close(cd_metrics *m)
{
    if (m->file) fclose(m->file);
    m->file = NULL;
}
