/* HDF5 plumbing for checkpoints: silencing its error printer, turning its error stack into a short
 * reason, and opening a file for reading with a message a person can act on. */
#include "ckpt_internal.h"

#include "cnn_ddp/input_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

hid_t ck_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return fapl;
    /* Strong close: H5Fclose releases every object still open, so error paths cannot leak handles
     * and "closed" really means the bytes were handed to the OS. */
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
#if H5_VERSION_GE(1, 10, 7)
    /* Final files are never modified in place and temporaries have unique names, so locks protect
     * nothing here, and they fail on some cluster file systems. */
    H5Pset_file_locking(fapl, 0, 1);
#endif
    return fapl;
}

cd_status ck_open_read(const char *path, hid_t *file, off_t *file_size, cd_error *err)
{
    *file = H5I_INVALID_HID;
    /* Before open(): a FIFO would block it (a FIFO named final.h5 in --ckpt-dir, or given to info). */
    CD_TRY(cd_input_file_check(path, err));
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT) return CD_FAIL(err, CD_E_INPUT, "%s: no such checkpoint file", path);
        return CD_FAIL(err, CD_E_IO, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    int rc = fstat(fd, &st);
    int e = errno;
    close(fd);
    if (rc != 0) return CD_FAIL(err, CD_E_IO, "%s: cannot stat: %s", path, strerror(e));
    if (st.st_size == 0) return CD_FAIL(err, CD_E_INPUT, "%s: truncated or not an HDF5 file (it is empty)", path);
    *file_size = st.st_size;

    hid_t fapl = ck_fapl();
    if (fapl < 0) return CD_FAIL(err, CD_E_INTERNAL, "%s: cannot create HDF5 file access properties", path);
    *file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    char why[CK_NAME_MAX] = "";
    if (*file < 0) cd_h5_reason(why, sizeof why); /* before another call clears the stack */
    H5Pclose(fapl);
    /* HDF5 refuses a file shorter than the end address its superblock records, so a file cut off
     * anywhere after the superblock lands here too. A superblock failing its own checksum is damage. */
    if (*file < 0 && strstr(why, "checksum"))
        return CD_FAIL(err, CD_E_INPUT, "%s: damaged HDF5 superblock (%s)", path, why);
    if (*file < 0) return CD_FAIL(err, CD_E_INPUT, "%s: truncated or not an HDF5 file", path);
    return CD_OK;
}

void ck_format_dims(char *buf, size_t cap, int ndims, const int64_t *dims)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndims && used < cap; i++) {
        int n = snprintf(buf + used, cap - used, "%s%lld", i ? "," : "[", (long long)dims[i]);
        if (n < 0) return;
        used += (size_t)n;
    }
    if (used < cap) snprintf(buf + used, cap - used, "%s", ndims > 0 ? "]" : "[]");
}
