/* The memory limit of this process (cgroup v2, MemAvailable, RLIMIT_AS) and the check of a planned
 * set of allocations against it: see memory_limit.h. */
#include "cnn_ddp/memory_limit.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

cd_status cd_memory_parse_size(const char *text, const char *what, double *bytes, cd_error *err)
{
    if (!strcmp(text, "none")) {
        *bytes = 0;
        return CD_OK;
    }
    const char *p = text;
    if (!isdigit((unsigned char)*p)) goto bad;
    char *end;
    double v = strtod(p, &end);
    if (end == p || !isfinite(v) || v < 0) goto bad;
    double unit = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': unit = 1024.0; break;
    case 'M': unit = 1024.0 * 1024; break;
    case 'G': unit = 1024.0 * 1024 * 1024; break;
    case 'T': unit = 1024.0 * 1024 * 1024 * 1024; break;
    case '\0': break;
    default: goto bad;
    }
    if (unit > 1) {
        end++;
        if (!strcmp(end, "iB") || !strcmp(end, "B")) end += strlen(end);
    }
    if (*end) goto bad;
    *bytes = v * unit;
    if (*bytes > 0 && *bytes < 1024.0 * 1024) goto bad; /* "100" is a mistake, not a limit of 100 bytes */
    return CD_OK;
bad:
    return CD_FAIL(err, CD_E_USAGE, "%s '%s': expected a size such as 512M, 2G or 1.5GiB (at least 1M), or none",
                   what, text);
}

static int read_line(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    int ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    if (!ok) return -1;
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

static int read_number(const char *path, double *v)
{
    char line[64], *end;
    if (read_line(path, line, sizeof line) != 0) return -1;
    *v = strtod(line, &end);
    return end != line && *end == '\0' ? 0 : -1; /* "max" is no limit */
}

static void take(cd_memory_limit *out, double bytes, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void take(cd_memory_limit *out, double bytes, const char *fmt, ...)
{
    if (bytes < 0) bytes = 0;
    if (out->bytes > 0 && bytes >= out->bytes) return;
    out->bytes = bytes > 0 ? bytes : 1; /* a full cgroup: 1 byte, so that every plan is refused */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->source, sizeof out->source, fmt, ap);
    va_end(ap);
}

/* The cgroup v2 path of this process ("0::/a/b" in /proc/self/cgroup), then memory.max - memory.current
 * of it and each parent: a child's limit does not show its parent's, which may be the tighter. */
static void cgroup_limits(const char *root, cd_memory_limit *out)
{
    char path[1024], line[900];
    snprintf(path, sizeof path, "%s/proc/self/cgroup", root);
    FILE *f = fopen(path, "re");
    if (!f) return;
    char group[900] = "";
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "0::", 3)) {
            snprintf(group, sizeof group, "%s", line + 3);
            group[strcspn(group, "\n")] = '\0';
        }
    fclose(f);
    if (group[0] != '/') return; /* cgroup v1 only, or not in one */
    for (;;) {
        double max, current;
        snprintf(path, sizeof path, "%s/sys/fs/cgroup%s/memory.max", root, strcmp(group, "/") ? group : "");
        if (read_number(path, &max) == 0) {
            snprintf(path, sizeof path, "%s/sys/fs/cgroup%s/memory.current", root, strcmp(group, "/") ? group : "");
            if (read_number(path, &current) != 0) current = 0;
            char m[32], c[32];
            cd_memory_format(max, m, sizeof m);
            cd_memory_format(current, c, sizeof c);
            take(out, max - current, "cgroup %s: memory.max %s, %s in use", group, m, c);
        }
        char *slash = strrchr(group, '/');
        if (!slash || slash == group) break;
        *slash = '\0';
    }
}

static void meminfo_available(const char *root, cd_memory_limit *out)
{
    char path[1024], line[256];
    snprintf(path, sizeof path, "%s/proc/meminfo", root);
    FILE *f = fopen(path, "re");
    if (!f) return;
    double kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kib) == 1) break;
    fclose(f);
    if (kib >= 0) take(out, kib * 1024.0, "MemAvailable in %s/proc/meminfo", root);
}

/* Address space: the limit less what is mapped already (VmSize), which the libraries take. */
static void address_space(const char *root, cd_memory_limit *out)
{
    struct rlimit rl;
    if (root[0] || getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return;
    FILE *f = fopen("/proc/self/status", "re");
    double vm_kib = 0;
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmSize: %lf kB", &vm_kib) == 1) break;
        fclose(f);
    }
    take(out, (double)rl.rlim_cur - vm_kib * 1024.0, "ulimit -v (RLIMIT_AS), less the %.0f MiB already mapped",
         vm_kib / 1024.0);
}

cd_status cd_memory_limit_find(const char *root, const char *override, const char *override_name, int local_ranks,
                               cd_memory_limit *out, cd_error *err)
{
    memset(out, 0, sizeof *out);
    if (override && override[0]) {
        double bytes;
        CD_TRY(cd_memory_parse_size(override, override_name, &bytes, err));
        out->bytes = bytes;
        snprintf(out->source, sizeof out->source, "%s %s", override_name, override);
        return CD_OK;
    }
    cgroup_limits(root, out);
    meminfo_available(root, out);
    /* The node's memory is shared by its ranks, which all start together: each may plan for its share. */
    if (local_ranks > 1 && out->bytes > 0) {
        out->bytes /= local_ranks;
        size_t len = strlen(out->source);
        snprintf(out->source + len, sizeof out->source - len, ", shared by %d ranks", local_ranks);
    }
    address_space(root, out); /* per process already */
    return CD_OK;
}

int cd_memory_local_ranks(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "PMI_LOCAL_SIZE",
                                       "SLURM_NTASKS_PER_NODE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        char *end;
        long n = v ? strtol(v, &end, 10) : 0;
        if (v && end != v && *end == '\0' && n >= 1 && n <= 1 << 20) return (int)n;
    }
    return 1;
}

void cd_memory_plan_add(cd_memory_plan *plan, double bytes, const char *fmt, ...)
{
    if (plan->n >= CD_MEMORY_PARTS) return;
    plan->part[plan->n].bytes = bytes;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(plan->part[plan->n].what, sizeof plan->part[plan->n].what, fmt, ap);
    va_end(ap);
    plan->n++;
}

double cd_memory_plan_total(const cd_memory_plan *plan)
{
    double total = 0;
    for (int i = 0; i < plan->n; i++) total += plan->part[i].bytes;
    return total;
}

void cd_memory_format(double bytes, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 5) {
        bytes /= 1024.0;
        u++;
    }
    snprintf(buf, size, u == 0 ? "%.0f %s" : bytes < 10 ? "%.2f %s" : "%.1f %s", bytes, units[u]);
}

cd_status cd_memory_check(const cd_memory_plan *plan, const cd_memory_limit *limit, const char *hint, cd_error *err)
{
    const double need = cd_memory_plan_total(plan);
    if (limit->bytes <= 0 || need <= CD_MEMORY_MARGIN * limit->bytes) return CD_OK;
    int big = 0;
    for (int i = 1; i < plan->n; i++)
        if (plan->part[i].bytes > plan->part[big].bytes) big = i;
    char n[32], l[32], b[32];
    cd_memory_format(need, n, sizeof n);
    cd_memory_format(limit->bytes, l, sizeof l);
    cd_memory_format(plan->n ? plan->part[big].bytes : 0, b, sizeof b);
    return CD_FAIL(err, CD_E_USAGE, "needs about %s of memory, more than %.0f%% of the %s this rank may use (%s): the "
                   "biggest part is %s (%s); %s", n, 100.0 * CD_MEMORY_MARGIN, l, limit->source,
                   plan->n ? plan->part[big].what : "?", b, hint);
}
