/* What `info` says about a data file beyond its shape: whether it has a split at all (a malformed data
 * set is told from some other HDF5 file by its /train or /test group), and how each split's datasets
 * are stored (layout, chunk shape, filters, bytes). Metadata only; info calls the storage description
 * after the split has been read through cd_data_load, whose validation protects the chunk index. */
#include "cnn_ddp/data.h"

#include <hdf5.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cnn_ddp/h5_quiet.h"
#include "cnn_ddp/input_file.h"

static hid_t open_ro(const char *path)
{
    cd_error ignored = {0};
    if (cd_input_file_check(path, &ignored) != CD_OK || H5Fis_hdf5(path) <= 0) return H5I_INVALID_HID;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0) H5Pset_file_locking(fapl, 0, 1);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl >= 0 ? fapl : H5P_DEFAULT);
    if (fapl >= 0) H5Pclose(fapl);
    return file;
}

int cd_data_has_split(const char *path, const char *split)
{
    cd_h5_quiet q;
    cd_h5_quiet_begin(&q);
    hid_t file = open_ro(path);
    int has = file >= 0 && H5Lexists(file, split, H5P_DEFAULT) > 0;
    if (file >= 0) H5Fclose(file);
    cd_h5_quiet_end(&q);
    return has;
}

/* Appends printf-style text to buf[cap] at *used. */
static void put(char *buf, size_t cap, size_t *used, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t cap, size_t *used, const char *fmt, ...)
{
    if (*used >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, cap - *used, fmt, ap);
    va_end(ap);
    if (n > 0) *used += (size_t)n;
}

static void describe_filters(hid_t dcpl, char *buf, size_t cap, size_t *used)
{
    int n = H5Pget_nfilters(dcpl);
    if (n <= 0) {
        put(buf, cap, used, ", no filters");
        return;
    }
    for (int i = 0; i < n; i++) {
        unsigned flags = 0, config = 0, values[8] = {0};
        size_t nvalues = sizeof values / sizeof values[0];
        char name[64] = "";
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &nvalues, values, sizeof name, name, &config);
        const char *sep = i ? "+" : ", ";
        if (id == H5Z_FILTER_DEFLATE && nvalues >= 1) put(buf, cap, used, "%sdeflate(level %u)", sep, values[0]);
        else if (id == H5Z_FILTER_SHUFFLE) put(buf, cap, used, "%sshuffle", sep);
        else if (id == H5Z_FILTER_FLETCHER32) put(buf, cap, used, "%sfletcher32", sep);
        else put(buf, cap, used, "%sfilter %d%s%s%s", sep, (int)id, name[0] ? " (" : "", name, name[0] ? ")" : "");
        if (id >= 0 && H5Zfilter_avail(id) <= 0) put(buf, cap, used, " [not available in this HDF5]");
    }
}

static void describe_dataset(hid_t group, const char *name, char *buf, size_t cap, size_t *used)
{
    put(buf, cap, used, "%s ", name);
    hid_t ds = H5Dopen2(group, name, H5P_DEFAULT);
    hid_t dcpl = ds >= 0 ? H5Dget_create_plist(ds) : H5I_INVALID_HID;
    if (dcpl < 0) {
        put(buf, cap, used, "(storage unreadable)");
        if (ds >= 0) H5Dclose(ds);
        return;
    }
    switch (H5Pget_layout(dcpl)) {
    case H5D_COMPACT: put(buf, cap, used, "compact"); break;
    case H5D_CONTIGUOUS: put(buf, cap, used, "contiguous"); break;
    case H5D_CHUNKED: {
        hsize_t chunk[H5S_MAX_RANK];
        int rank = H5Pget_chunk(dcpl, H5S_MAX_RANK, chunk);
        put(buf, cap, used, "chunked [");
        for (int d = 0; d < rank; d++) put(buf, cap, used, "%s%llu", d ? "," : "", (unsigned long long)chunk[d]);
        put(buf, cap, used, "]");
        break;
    }
    case H5D_VIRTUAL: put(buf, cap, used, "virtual"); break;
    default: put(buf, cap, used, "of unknown layout"); break;
    }
    describe_filters(dcpl, buf, cap, used);
    put(buf, cap, used, ", %llu bytes stored", (unsigned long long)H5Dget_storage_size(ds));
    H5Pclose(dcpl);
    H5Dclose(ds);
}

cd_status cd_data_describe_storage(const char *path, const char *split, char *buf, size_t cap, cd_error *err)
{
    buf[0] = '\0';
    cd_h5_quiet q;
    cd_h5_quiet_begin(&q);
    hid_t file = open_ro(path);
    hid_t group = file >= 0 && H5Lexists(file, split, H5P_DEFAULT) > 0 ? H5Gopen2(file, split, H5P_DEFAULT)
                                                                        : H5I_INVALID_HID;
    size_t used = 0;
    if (group >= 0) {
        describe_dataset(group, "images", buf, cap, &used);
        put(buf, cap, &used, "; ");
        describe_dataset(group, "labels", buf, cap, &used);
        H5Gclose(group);
    }
    if (file >= 0) H5Fclose(file);
    cd_h5_quiet_end(&q);
    if (group < 0) return CD_FAIL(err, CD_E_INPUT, "%s: /%s: cannot open the group", path, split);
    return CD_OK;
}
