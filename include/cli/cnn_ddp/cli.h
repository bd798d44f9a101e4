/* The command line (and CNN_DDP_<OPTION> environment variables) -> a training configuration. */
#ifndef CNN_DDP_CLI_H
#define CNN_DDP_CLI_H

#include "cnn_ddp/error.h"
#include "cnn_ddp/train.h"

typedef enum cd_cli_action { CD_CLI_TRAIN, CD_CLI_HELP, CD_CLI_VERSION } cd_cli_action;

/* What parsing found odd but not wrong, one line each ending in '\n', without the program's prefix
 * (the caller prints them, on rank 0 only); "" when nothing. */
typedef struct cd_cli_warnings {
    char text[2048];
} cd_cli_warnings;

/* Parses options after the program name (the options are in cnn_ddp/config_options.h). Environment
 * variables CNN_DDP_<OPTION> (upper case, '-' as '_', e.g. CNN_DDP_BATCH=128, CNN_DDP_QUIET=1), taken
 * from envp ("NAME=value" strings ending in NULL, e.g. environ; NULL: none), apply first; the command
 * line overrides them. A CNN_DDP_ variable that is no option's and that nothing else reads leaves a
 * warning in *warnings (may be NULL), with the closest name when one is close. CD_E_USAGE with a
 * one-line message naming the flag and the problem. */
cd_status cd_cli_parse(int argc, char **argv, char *const *envp, cd_train_config *cfg, cd_cli_action *action,
                       cd_cli_warnings *warnings, cd_error *err);
/* The --help text of the training options, built from the option table on first use. */
const char *cd_cli_usage(void);

#endif
