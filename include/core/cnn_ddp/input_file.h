/* Input files a user names (--data, `info FILE`, --ckpt, --resume, a checkpoint found in --ckpt-dir,
 * images to predict) must be regular files: opening a FIFO for reading blocks until a writer comes,
 * and a device or socket is never what was meant. Checked before any open(), fopen() or H5Fopen(). */
#ifndef CNN_DDP_INPUT_FILE_H
#define CNN_DDP_INPUT_FILE_H

#include "cnn_ddp/error.h"

/* CD_E_INPUT "<path>: is a FIFO, not a regular file" when `path` exists and is not a regular file
 * (after following symbolic links). CD_OK otherwise, including when it cannot be stat'ed: the
 * caller's own open then reports that in its words ("no such checkpoint file"). Never blocks. */
cd_status cd_input_file_check(const char *path, cd_error *err);

#endif
