#ifndef CNN_DDP_SRC_SUBCOMMANDS_H
#define CNN_DDP_SRC_SUBCOMMANDS_H
#include <stdio.h>
#include "cnn_ddp/error.h"
/* cnn_ddp info FILE */
cd_status cd_cli_info(const char *path, FILE *out, cd_error *err);
#endif
