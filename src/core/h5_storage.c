/* See h5_storage.h. HDF5 trusts the layout, filter and chunk-index metadata it reads: a damaged chunk
 * size, address or pipeline in a file without metadata checksums sends H5Dread into invalid memory.
 * Everything here is asked of HDF5 without touching raw data, and compared with what the dataset's
 * shape and the file's size allow. */
#include "cnn_ddp/h5_storage.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

herr_t cd_h5_set_file_format(hid_t fapl)
{
    /* Low bound 1.10: superblock v3 and v2 object headers, and chunk indexes (fixed/extensible
     * arrays, v2 B-trees), heaps and attribute storage that carry checksums HDF5 verifies on every
     * read, so a flipped metadata byte is an error, not a wild pointer. The 1.8 format still indexes
     * chunks with unchecksummed v1 B-trees. High bound 1.10 too: a newer HDF5 building this keeps
     * writing files every HDF5 >= 1.10.0 reads (h5py wheels have bundled 1.10 or newer since 2.8). */
    return H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110);
}

static const char *known_filter(H5Z_filter_t id)
{
    switch (id) {
    case H5Z_FILTER_DEFLATE: return "deflate";
    case H5Z_FILTER_SHUFFLE: return "shuffle";
    case H5Z_FILTER_FLETCHER32: return "fletcher32";
    case H5Z_FILTER_SZIP: return "szip";
    case H5Z_FILTER_NBIT: return "nbit";
    case H5Z_FILTER_SCALEOFFSET: return "scaleoffset";
    case 32000: return "lzf";
    case 32001: return "blosc";
    case 32004: return "lz4";
    case 32008: return "bitshuffle";
    case 32015: return "zstd";
    default: return NULL;
    }
}

/* The filter's name: ours for the well-known ids, else the name the file stores, printable only. */
static void filter_name(H5Z_filter_t id, const char *stored, char *out, size_t cap)
{
    const char *known = known_filter(id);
    size_t n = 0;
    if (known) stored = known;
    for (; stored[n] && n + 1 < cap && n < 40; n++) out[n] = isprint((unsigned char)stored[n]) ? stored[n] : '?';
    out[n] = '\0';
    if (n == 0) snprintf(out, cap, "unknown");
}

static cd_status check_filters(hid_t dcpl, const char *path, const char *what, cd_error *err)
{
    int nf = H5Pget_nfilters(dcpl);
    if (nf < 0 || nf > 32)
        return CD_FAIL(err, CD_E_INPUT, "%s: %s: unreadable filter pipeline (file is damaged)", path, what);
    for (int i = 0; i < nf; i++) {
        unsigned flags = 0, config = 0;
        unsigned values[16];
        size_t nvalues = sizeof values / sizeof values[0];
        char stored[64] = "", name[48];
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &nvalues, values, sizeof stored, stored, &config);
        if (id < 0) return CD_FAIL(err, CD_E_INPUT, "%s: %s: unreadable filter pipeline (file is damaged)", path, what);
        filter_name(id, stored, name, sizeof name);
        /* H5Zfilter_avail also looks for a plugin (HDF5_PLUGIN_PATH); its failure is only "no". */
        htri_t avail = H5Zfilter_avail(id);
        unsigned info = 0;
        if (avail <= 0 || H5Zget_filter_info(id, &info) < 0 || !(info & H5Z_FILTER_CONFIG_DECODE_ENABLED))
            return CD_FAIL(err, CD_E_INPUT,
                           "%s: %s uses filter %s (id %d), which this HDF5 build cannot decode; rewrite it with "
                           "gzip: h5repack -f GZIP=4 %s OUT.h5",
                           path, what, name, (int)id, path);
    }
    return CD_OK;
}

typedef struct shape {
    int rank;
    hsize_t dims[H5S_MAX_RANK], maxdims[H5S_MAX_RANK];
    uint64_t bytes; /* of the whole dataset, in the file's element type */
    size_t type_size;
} shape;

static cd_status get_shape(hid_t ds, const char *path, const char *what, shape *s, cd_error *err)
{
    hid_t space = H5Dget_space(ds), type = H5Dget_type(ds);
    int ok = space >= 0 && type >= 0 && H5Sget_simple_extent_type(space) == H5S_SIMPLE;
    s->rank = ok ? H5Sget_simple_extent_dims(space, s->dims, s->maxdims) : -1;
    s->type_size = type >= 0 ? H5Tget_size(type) : 0;
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    if (s->rank < 1 || s->type_size == 0)
        return CD_FAIL(err, CD_E_INPUT, "%s: %s: unreadable shape or type (file is damaged)", path, what);
    s->bytes = s->type_size;
    for (int d = 0; d < s->rank; d++) {
        if (s->dims[d] != 0 && s->bytes > UINT64_MAX / s->dims[d])
            return CD_FAIL(err, CD_E_INPUT, "%s: %s: impossibly large shape (file is damaged)", path, what);
        s->bytes *= s->dims[d];
    }
    return CD_OK;
}

/* Each chunk that holds rows [first, first + rows): present, inside the file, of a plausible size. */
static cd_status check_chunks(hid_t ds, const char *path, const char *what, const shape *s, const hsize_t *chunk,
                              uint64_t chunk_bytes, int filtered, int64_t file_size, int64_t first, int64_t rows,
                              cd_error *err)
{
    hsize_t grid[H5S_MAX_RANK], at[H5S_MAX_RANK], stored = 0;
    uint64_t expected = 1;
    for (int d = 0; d < s->rank; d++) {
        grid[d] = (s->dims[d] + chunk[d] - 1) / chunk[d];
        expected = grid[d] == 0 ? 0 : expected * grid[d]; /* bounded: each chunk holds >= 1 stored byte */
    }
    hid_t space = H5Dget_space(ds); /* this HDF5 refuses H5S_ALL here */
    herr_t rc = space >= 0 ? H5Dget_num_chunks(ds, space, &stored) : -1;
    if (space >= 0) H5Sclose(space);
    if (rc < 0)
        return CD_FAIL(err, CD_E_INPUT, "%s: %s: unreadable chunk index (file is damaged)", path, what);
    if (stored != expected)
        return CD_FAIL(err, CD_E_INPUT, "%s: %s: %llu chunks stored where its shape needs %llu (file is damaged)",
                       path, what, (unsigned long long)stored, (unsigned long long)expected);
    if (expected == 0 || rows <= 0) return CD_OK;
    /* Worst-case growth of a filtered chunk (deflate, checksums) is far below this. An unfiltered
     * chunk, edge chunks included, is stored at exactly its full size: HDF5 copies that many bytes out
     * of whatever it read, so a shorter one (a damaged pipeline turning a compressed chunk into a
     * "raw" one) would be read past its end. */
    uint64_t max_size = 2 * chunk_bytes + 4096;
    unsigned all_skipped = filtered >= 32 ? ~0u : (1u << filtered) - 1;
    hsize_t lo = (hsize_t)first / chunk[0], hi = ((hsize_t)(first + rows) + chunk[0] - 1) / chunk[0];
    memset(at, 0, sizeof at);
    at[0] = lo;
    for (;;) {
        hsize_t offset[H5S_MAX_RANK];
        for (int d = 0; d < s->rank; d++) offset[d] = at[d] * chunk[d];
        unsigned mask = 0;
        haddr_t addr = HADDR_UNDEF;
        hsize_t size = 0;
        if (H5Dget_chunk_info_by_coord(ds, offset, &mask, &addr, &size) < 0 || addr == HADDR_UNDEF)
            return CD_FAIL(err, CD_E_INPUT, "%s: %s: the chunk at row %llu is missing (file is damaged)", path, what,
                           (unsigned long long)offset[0]);
        int raw = filtered == 0 || (mask & all_skipped) == all_skipped;
        if (size == 0 || size > max_size || (raw && size != chunk_bytes) || addr > (uint64_t)file_size ||
            size > (uint64_t)file_size - addr)
            return CD_FAIL(err, CD_E_INPUT,
                           "%s: %s: the chunk at row %llu is stored as %llu bytes at offset %llu, impossible for "
                           "a %llu-byte chunk%s in a %lld-byte file (file is damaged)",
                           path, what, (unsigned long long)offset[0], (unsigned long long)size,
                           (unsigned long long)addr, (unsigned long long)chunk_bytes, raw ? " stored unfiltered" : "",
                           (long long)file_size);
        /* Next chunk coordinate, last dimension fastest; rows only within [lo, hi). */
        int d = s->rank - 1;
        while (d >= 0 && ++at[d] == (d == 0 ? hi : grid[d])) {
            if (d == 0) return CD_OK;
            at[d--] = 0;
        }
    }
}

cd_status cd_h5_check_storage(hid_t ds, const char *path, const char *what, int64_t file_size, int64_t first_row,
                              int64_t rows, cd_error *err)
{
    shape s;
    CD_TRY(get_shape(ds, path, what, &s, err));
    hid_t dcpl = H5Dget_create_plist(ds);
    if (dcpl < 0) return CD_FAIL(err, CD_E_INPUT, "%s: %s: unreadable storage properties (file is damaged)", path, what);
    cd_status st = CD_OK;
    H5D_layout_t layout = H5Pget_layout(dcpl);
    hsize_t stored = H5Dget_storage_size(ds);
    if (H5Pget_external_count(dcpl) != 0)
        st = CD_FAIL(err, CD_E_INPUT, "%s: %s: data in external files is not supported", path, what);
    else if (stored > (uint64_t)file_size)
        st = CD_FAIL(err, CD_E_INPUT, "%s: %s: %llu bytes stored in a %lld-byte file (file is damaged)", path, what,
                     (unsigned long long)stored, (long long)file_size);
    else if (layout == H5D_COMPACT || layout == H5D_CONTIGUOUS) {
        haddr_t addr = layout == H5D_CONTIGUOUS ? H5Dget_offset(ds) : 0;
        if (stored != s.bytes || addr == HADDR_UNDEF || addr > (uint64_t)file_size - stored)
            st = CD_FAIL(err, CD_E_INPUT, "%s: %s: %llu bytes of data where its shape needs %llu, or they lie outside "
                         "the file (file is damaged)", path, what, (unsigned long long)stored,
                         (unsigned long long)s.bytes);
    } else if (layout == H5D_CHUNKED) {
        hsize_t chunk[H5S_MAX_RANK];
        int crank = H5Pget_chunk(dcpl, H5S_MAX_RANK, chunk);
        uint64_t chunk_bytes = s.type_size;
        int bad = crank != s.rank;
        for (int d = 0; !bad && d < s.rank; d++) {
            hsize_t limit = s.maxdims[d] == H5S_UNLIMITED ? CD_H5_MAX_CHUNK_BYTES : s.maxdims[d];
            bad = chunk[d] == 0 || chunk[d] > limit || chunk_bytes > CD_H5_MAX_CHUNK_BYTES / chunk[d];
            if (!bad) chunk_bytes *= chunk[d];
        }
        if (bad)
            st = CD_FAIL(err, CD_E_INPUT, "%s: %s: chunk shape does not fit the dataset's shape (file is damaged)",
                         path, what);
        if (st == CD_OK) st = check_filters(dcpl, path, what, err);
        if (st == CD_OK)
            st = check_chunks(ds, path, what, &s, chunk, chunk_bytes, H5Pget_nfilters(dcpl), file_size, first_row,
                              rows, err);
    } else if (layout == H5D_VIRTUAL) {
        st = CD_FAIL(err, CD_E_INPUT, "%s: %s: virtual datasets are not supported", path, what);
    } else {
        st = CD_FAIL(err, CD_E_INPUT, "%s: %s: unreadable storage layout (file is damaged)", path, what);
    }
    H5Pclose(dcpl);
    return st;
}
