/* The error record, status names and exit codes; the aligned allocator every module uses. */
#include "cnn_ddp/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cd_status cd_error_set(cd_error *err, cd_status code, const char *file, int line, const char *fmt, ...)
{
    if (err == NULL) return code;
    err->code = code;
    err->file = file;
    err->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* One line: a message is printed as-is by main and must not break log parsing. */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return code;
}

void cd_error_prefix(cd_error *err, const char *fmt, ...)
{
    if (err == NULL) return;
    char prefix[256], joined[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t plen = strlen(prefix);
    if (plen >= sizeof joined) plen = sizeof joined - 1;
    memcpy(joined, prefix, plen);
    size_t rest = sizeof joined - 1 - plen, mlen = strlen(err->msg);
    if (mlen > rest) mlen = rest;
    memcpy(joined + plen, err->msg, mlen);
    joined[plen + mlen] = '\0';
    memcpy(err->msg, joined, sizeof joined);
}

void *cd_alloc_zeroed(size_t bytes)
{
    if (bytes == 0) return NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63; /* aligned_alloc needs a multiple of the alignment */
    void *p = aligned_alloc(64, rounded);
    if (p) memset(p, 0, rounded);
    return p;
}

void cd_free(void *ptr) { free(ptr); }

const char *cd_status_name(cd_status code)
{
    switch (code) {
    case CD_OK: return "ok";
    case CD_E_USAGE: return "usage error";
    case CD_E_INPUT: return "bad input";
    case CD_E_IO: return "I/O error";
    case CD_E_NOMEM: return "out of memory";
    case CD_E_NUMERIC: return "numerical error";
    case CD_E_COMM: return "communication error";
    case CD_E_INTERNAL: return "internal error";
    case CD_E_STOPPED: return "stopped";
    }
    return "unknown error";
}

int cd_status_exit_code(cd_status code)
{
    switch (code) {
    case CD_OK: return 0;
    case CD_E_USAGE:
    case CD_E_INPUT: return 2;
    case CD_E_STOPPED: return 143;
    case CD_E_COMM: return CD_EXIT_RESTARTABLE;
    default: return 1;
    }
}
