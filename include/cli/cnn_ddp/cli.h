/* The command line (and CNN_DDP_<OPTION> environment variables) -> a training configuration. */
#ifndef CNN_DDP_CLI_H
#define CNN_DDP_CLI_H

#include "cnn_ddp/error.h"
#include "cnn_ddp/train.h"

typedef enum cd_cli_action { CD_CLI_TRAIN, CD_CLI_HELP, CD_CLI_VERSION } cd_cli_action;

/* Parses options after the program name. Environment variables CNN_DDP_<OPTION> (upper case, '-' as
 * '_', e.g. CNN_DDP_BATCH=128, CNN_DDP_QUIET=1) apply first; the command line overrides them.
 * CD_E_USAGE with a one-line message naming the flag and the problem. */
cd_status cd_cli_parse(int argc, char **argv, cd_train_config *cfg, cd_cli_action *action, cd_error *err);
const char *cd_cli_usage(void);

#endif
