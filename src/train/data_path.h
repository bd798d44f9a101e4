/* The training data file, found before it is opened (see data_path.c). */
#ifndef CNN_DDP_SRC_DATA_PATH_H
#define CNN_DDP_SRC_DATA_PATH_H

#include <stddef.h>
#include "cnn_ddp/config.h"
#include "cnn_ddp/error.h"

/* OK when cfg->data exists. When it does not and --data was left at its default (datasets/mnist.h5,
 * relative to the working directory), a --resume run takes the absolute path its checkpoint recorded
 * (a run resumed from another directory): cfg->data becomes that path and `note` says so ("" otherwise).
 * Else CD_E_INPUT saying where it looked (the absolute path, and the checkpoint's) and how to make the
 * data (datasets/prepare.sh mnist) or to pass --data. */
cd_status cd_train_find_data(cd_train_config *cfg, char *note, size_t note_size, cd_error *err);

#endif
