/* Absolute paths (see cnn_ddp/abs_path.h). */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cnn_ddp/abs_path.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void cd_path_absolute(const char *path, char *out, size_t size)
{
    char resolved[PATH_MAX], cwd[PATH_MAX];
    if (size == 0) return;
    if (realpath(path, resolved)) snprintf(out, size, "%s", resolved);
    else if (path[0] != '/' && getcwd(cwd, sizeof cwd)) snprintf(out, size, "%s/%s", cwd, path);
    else snprintf(out, size, "%s", path);
}
