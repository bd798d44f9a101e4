/* Argument splitting for the subcommands (eval, predict): strict, so a typo is an error, not a default. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "subcommands.h"
#include "cnn_ddp/suggest.h"

int cd_cli_launcher_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return atoi(v);
    }
    return 0;
}

cd_status cd_cli_next_arg(int argc, char **argv, int *i, const char *const *valued, char *name, size_t cap,
                          const char **value, cd_error *err)
{
    const char *a = argv[*i];
    name[0] = '\0';
    *value = NULL;
    if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
        *value = a;
        return CD_OK;
    }
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (len + 1 > cap) return CD_FAIL(err, CD_E_USAGE, "unknown option %s", a);
    memcpy(name, a + 2, len);
    name[len] = '\0';
    int takes = 0;
    for (const char *const *v = valued; *v; v++)
        if (!strcmp(*v, name)) takes = 1;
    if (!takes) {
        if (eq) return CD_FAIL(err, CD_E_USAGE, "--%s takes no value", name);
        return CD_OK;
    }
    if (eq) {
        *value = eq + 1;
    } else {
        if (*i + 1 >= argc) return CD_FAIL(err, CD_E_USAGE, "--%s needs a value", name);
        *value = argv[++*i];
    }
    return CD_OK;
}

cd_status cd_cli_parse_int(const char *flag, const char *text, long long lo, long long hi, long long *out,
                           cd_error *err)
{
    const char *p = text;
    if (*p == '-') p++;
    if (*p == '\0') return CD_FAIL(err, CD_E_USAGE, "%s: '%s' is not a whole number", flag, text);
    for (; *p; p++)
        if (*p < '0' || *p > '9') return CD_FAIL(err, CD_E_USAGE, "%s: '%s' is not a whole number", flag, text);
    errno = 0;
    long long v = strtoll(text, NULL, 10);
    if (errno == ERANGE || v < lo || v > hi)
        return CD_FAIL(err, CD_E_USAGE, "%s: %s is out of range (%lld..%lld)", flag, text, lo, hi);
    *out = v;
    return CD_OK;
}

cd_status cd_cli_unknown_option(const char *sub, const char *name, const char *const *valued,
                                const char *const *flags, cd_error *err)
{
    const char *names[64];
    size_t n = 0;
    for (const char *const *v = valued; *v && n < 32; v++) names[n++] = *v;
    for (const char *const *f = flags; *f && n < 64; f++) names[n++] = *f;
    const char *close = cd_suggest(name, strlen(name), names, n);
    if (close) return CD_FAIL(err, CD_E_USAGE, "%s: unknown option --%s (did you mean --%s?)", sub, name, close);
    return CD_FAIL(err, CD_E_USAGE, "%s: unknown option --%s (see cnn_ddp help %s)", sub, name, sub);
}
