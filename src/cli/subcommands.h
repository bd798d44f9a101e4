#ifndef CNN_DDP_SRC_SUBCOMMANDS_H
#define CNN_DDP_SRC_SUBCOMMANDS_H
#include "cnn_ddp/memory_limit.h"
#include <stdio.h>
#include "cnn_ddp/ckpt.h"
#include "cnn_ddp/data.h"
#include "cnn_ddp/error.h"
#include "cnn_ddp/kernels.h"
#include "cnn_ddp/model.h"
/* cnn_ddp info FILE */
cd_status cd_cli_info(const char *path, FILE *out, cd_error *err);

/* `cnn_ddp eval ...` and `cnn_ddp predict ...`: argv[0] is the subcommand's name. They print their
 * own results and errors and return the process exit code (eval starts MPI itself under mpirun). */
int cd_cli_eval_main(int argc, char **argv);
int cd_cli_predict_main(int argc, char **argv);
/* Each subcommand's usage ("usage: cnn_ddp eval ..." and what it does), for `help eval` and `eval --help`. */
const char *cd_cli_eval_usage(void);
const char *cd_cli_predict_usage(void);
const char *cd_cli_info_usage(void);
/* `cnn_ddp help [SUBCOMMAND]` (argv[0] is "help"): the usage on stdout, exit code 0; 2 with one line
 * (and the closest name) for an unknown subcommand. */
int cd_cli_help_main(int argc, char **argv);
/* The subcommands, one line each, for the end of --help. */
void cd_cli_print_subcommands(FILE *out);
/* The subcommand closest to a mistyped word (cd_suggest), or NULL. */
const char *cd_cli_closest_subcommand(const char *word);
/* `cnn_ddp info FILE`, `info --help` and `info -h`, returning the exit code. */
int cd_cli_info_main(int argc, char **argv);
/* CD_E_USAGE "<sub>: unknown option --<name> (did you mean --<close>?)", or pointing at `help <sub>` when no
 * name in valued or flags (NULL-terminated) is close. */
cd_status cd_cli_unknown_option(const char *sub, const char *name, const char *const *valued,
                                const char *const *flags, cd_error *err);

/* A checkpoint's model, rebuilt from the spec in its metadata for data_channels x height x width inputs and batches
 * of up to max_batch, with the checkpoint's weights loaded. CD_E_INPUT when the checkpoint is missing
 * or damaged, or when the model cannot take images of that size. On success the caller frees `model`
 * with cd_model_free; meta is filled. */
/* With `budget` (the caller's other planned allocations) and `limit`, the model's memory is added and
 * checked against the limit before anything is allocated. */
cd_status cd_cli_load_model(const char *ckpt, int height, int width, int max_batch, cd_kernel_kind kernels,
                            const cd_memory_plan *budget, const cd_memory_limit *limit, cd_model *model,
                            cd_ckpt_meta *meta, cd_error *err);
/* Refuses (CD_E_INPUT, "<what>: <data> has 3 channels, the checkpoint's run had 1 (data_channels)") a data
 * set whose channels, classes or stored normalisation differ from the checkpoint's run. */
cd_status cd_cli_check_data(const char *what, const char *data, const cd_data_set_info *set, const cd_ckpt_meta *meta,
                            cd_error *err);
/* The checkpoint's normalisation (norm_mean, norm_std) as data_channels doubles each. */
cd_status cd_cli_ckpt_norm(const char *ckpt, const cd_ckpt_meta *meta, double *mean, double *std, cd_error *err);
/* The training data path recorded in a checkpoint's configuration ("data=..."); "" if none. */
void cd_cli_ckpt_data_path(const cd_ckpt_meta *meta, char *buf, size_t size);
/* The checkpoint's training data, wherever this process runs: the absolute path it recorded (data), else the
 * path as its run was given it (data=, from the working directory), else (nothing recorded) datasets/mnist.h5.
 * CD_E_INPUT "<what>: the training data of <ckpt> is gone: looked for ... (both paths)" when neither exists. */
cd_status cd_cli_ckpt_data_find(const char *what, const char *ckpt, const cd_ckpt_meta *meta, char *out, size_t size,
                                cd_error *err);

/* Subcommand arguments: splits argv[*i] = "--name[=value]" into name (without the dashes) and value.
 * A flag listed in `valued` (NULL-terminated) without "=value" takes the next argument (*i advances);
 * CD_E_USAGE when that is missing, or when a flag not listed is given a value. A positional argument
 * gives name "" and value = the argument. */
cd_status cd_cli_next_arg(int argc, char **argv, int *i, const char *const *valued, char *name, size_t cap,
                          const char **value, cd_error *err);
/* The rank before MPI is up, from the launcher's environment (0 without one): so that a usage error
 * is printed once, and the watchdog started before MPI_Init names the rank. */
int cd_cli_launcher_rank(void);
/* A whole decimal number in [lo, hi]; CD_E_USAGE naming the flag otherwise. */
cd_status cd_cli_parse_int(const char *flag, const char *text, long long lo, long long hi, long long *out,
                           cd_error *err);
#endif
