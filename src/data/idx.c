/* IDX reader over zlib's gz* functions, which read gzip and raw files alike. Items are streamed in
 * caller-sized pieces; the header is trusted only after it is checked, and the data length is checked
 * against it both ways (short file, trailing bytes). */
#include "cnn_ddp/idx.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

static const char *kind_of(uint32_t magic)
{
    return magic == CD_IDX_MAGIC_IMAGES ? "image" : "label";
}

/* Reads up to `want` bytes; returns the count read (short only at end of data) or -1 on a zlib error. */
static int64_t read_bytes(gzFile gz, uint8_t *buf, int64_t want)
{
    int64_t got = 0;
    while (got < want) {
        int64_t left = want - got;
        unsigned piece = left > (1 << 30) ? (1u << 30) : (unsigned)left; /* gzread takes an unsigned */
        int n = gzread(gz, buf + got, piece);
        if (n < 0) return got > 0 ? got : -1;
        if (n == 0) break;
        got += n;
    }
    return got;
}

/* zlib reports a gzip stream cut short as Z_BUF_ERROR; anything else is damage. */
static cd_status stream_problem(cd_idx_file *f, const char *what, cd_error *err)
{
    int errnum = Z_OK;
    const char *zmsg = gzerror(f->gz, &errnum);
    if (errnum != Z_OK && errnum != Z_BUF_ERROR)
        return CD_FAIL(err, CD_E_INPUT, "%s: corrupt gzip data: %s", f->path,
                       zmsg ? zmsg : "unknown zlib error");
    return CD_FAIL(err, CD_E_INPUT, "%s: truncated: %s", f->path, what);
}

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

cd_status cd_idx_open(const char *path, uint32_t magic, cd_idx_file *f, cd_error *err)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    if (magic != CD_IDX_MAGIC_IMAGES && magic != CD_IDX_MAGIC_LABELS)
        return CD_FAIL(err, CD_E_INTERNAL, "%s: unsupported IDX magic 0x%08x requested", path, magic);
    errno = 0;
    f->gz = gzopen(path, "rb");
    if (f->gz == NULL)
        return CD_FAIL(err, CD_E_INPUT, "%s: cannot open: %s", path,
                       errno ? strerror(errno) : "out of memory");
    gzbuffer(f->gz, 1u << 17);

    uint8_t head[16];
    int ndims = magic == CD_IDX_MAGIC_IMAGES ? 3 : 1;
    int64_t head_bytes = 4 + 4 * (int64_t)ndims;
    int64_t got = read_bytes(f->gz, head, 4);
    if (got < 0) return stream_problem(f, "while reading the header", err);
    if (got < 4) return CD_FAIL(err, CD_E_INPUT, "%s: truncated: only %lld bytes, no IDX header", path,
                                (long long)got);
    uint32_t found = be32(head);
    if (found != magic) {
        const char *hint = "";
        if (found == CD_IDX_MAGIC_IMAGES) hint = "; this is an IDX image file";
        if (found == CD_IDX_MAGIC_LABELS) hint = "; this is an IDX label file";
        return CD_FAIL(err, CD_E_INPUT, "%s: bad magic number 0x%08x (expected 0x%08x for an IDX %s file%s)",
                       path, found, magic, kind_of(magic), hint);
    }
    got = read_bytes(f->gz, head + 4, head_bytes - 4);
    if (got < 0) return stream_problem(f, "while reading the header", err);
    if (got < head_bytes - 4) return CD_FAIL(err, CD_E_INPUT, "%s: truncated: the IDX header is cut short", path);

    f->magic = magic;
    f->count = be32(head + 4);
    f->rows = 1;
    f->cols = 1;
    if (ndims == 3) {
        uint32_t rows = be32(head + 8), cols = be32(head + 12);
        if (rows < 1 || rows > CD_IDX_MAX_SIDE || cols < 1 || cols > CD_IDX_MAX_SIDE)
            return CD_FAIL(err, CD_E_INPUT, "%s: image size %ux%u is outside 1..%d per side", path, rows,
                           cols, CD_IDX_MAX_SIDE);
        f->rows = (int)rows;
        f->cols = (int)cols;
    }
    f->item_bytes = (int64_t)f->rows * f->cols;
    return CD_OK;
}

cd_status cd_idx_read(cd_idx_file *f, int64_t n, uint8_t *buf, cd_error *err)
{
    if (n < 0 || n > f->count - f->next)
        return CD_FAIL(err, CD_E_INTERNAL, "%s: read of %lld items past the %lld the header declares",
                       f->path, (long long)n, (long long)f->count);
    int64_t want = n * f->item_bytes;
    int64_t got = read_bytes(f->gz, buf, want);
    if (got != want) {
        char what[160];
        snprintf(what, sizeof what, "the header declares %lld %ss but the data ends in %s %lld",
                 (long long)f->count, kind_of(f->magic), kind_of(f->magic),
                 (long long)(f->next + (got > 0 ? got : 0) / f->item_bytes));
        return stream_problem(f, what, err);
    }
    f->next += n;
    return CD_OK;
}

cd_status cd_idx_finish(cd_idx_file *f, cd_error *err)
{
    if (f->next != f->count)
        return CD_FAIL(err, CD_E_INTERNAL, "%s: finished after %lld of %lld items", f->path,
                       (long long)f->next, (long long)f->count);
    uint8_t extra[4096];
    int64_t got = read_bytes(f->gz, extra, (int64_t)sizeof extra);
    if (got < 0) return stream_problem(f, "after the declared data", err);
    if (got > 0) {
        int64_t total = got;
        while ((got = read_bytes(f->gz, extra, (int64_t)sizeof extra)) > 0) total += got;
        return CD_FAIL(err, CD_E_INPUT, "%s: %lld%s bytes follow the %lld %ss the header declares", f->path,
                       (long long)total, got < 0 ? " or more" : "", (long long)f->count, kind_of(f->magic));
    }
    /* A gzip member cut inside its trailer yields all data yet leaves an error behind. */
    int errnum = Z_OK;
    gzerror(f->gz, &errnum);
    if (errnum != Z_OK) return stream_problem(f, "the gzip stream ends without its trailer", err);
    return CD_OK;
}

void cd_idx_close(cd_idx_file *f)
{
    if (f->gz) gzclose(f->gz);
    f->gz = NULL;
}
