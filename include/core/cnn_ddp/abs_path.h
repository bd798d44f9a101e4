/* A path as an absolute one, for recording where a file was (a checkpoint's training data) and for
 * saying where a missing file was looked for. */
#ifndef CNN_DDP_ABS_PATH_H
#define CNN_DDP_ABS_PATH_H

#include <stddef.h>

/* realpath(path) when the file exists; else, for a relative path, the working directory joined to it
 * ("/home/u/run/datasets/mnist.h5", not normalised); else path as given. Cut to size - 1 bytes. */
void cd_path_absolute(const char *path, char *out, size_t size);

#endif
