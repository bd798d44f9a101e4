/* Refusing input paths that are not regular files before anything opens them (input_file.h). stat()
 * rather than open(O_NONBLOCK) + fstat(): opening a device can itself have effects (a tape rewinds). */
#include "cnn_ddp/input_file.h"

#include <sys/stat.h>

static const char *kind_of(mode_t mode)
{
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "a special file";
}

cd_status cd_input_file_check(const char *path, cd_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0 || S_ISREG(st.st_mode)) return CD_OK;
    return CD_FAIL(err, CD_E_INPUT, "%s: is %s, not a regular file", path, kind_of(st.st_mode));
}
