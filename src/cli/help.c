/* `cnn_ddp help [SUBCOMMAND]`: the subcommands, their one-line summaries and their usage texts. */
#include <stdio.h>
#include <string.h>

#include "cnn_ddp/cli.h"
#include "cnn_ddp/suggest.h"
#include "subcommands.h"

typedef struct subcommand {
    const char *name;
    const char *synopsis; /* after "cnn_ddp " */
    const char *summary;
    const char *(*usage)(void);
} subcommand;

static const char *train_usage(void) { return cd_cli_usage(); }
static const char *help_usage(void)
{
    return "usage: cnn_ddp help [SUBCOMMAND]    (also: cnn_ddp -h, --help; cnn_ddp SUBCOMMAND --help)\n"
           "      the training options and the subcommands, or one subcommand's usage\n";
}

static const subcommand subcommands[] = {
    {"train", "[train] [options]", "train a model (the default subcommand)", train_usage},
    {"eval", "eval --ckpt FILE ...", "test accuracy of a checkpoint, per class, and the confusion matrix",
     cd_cli_eval_usage},
    {"predict", "predict --ckpt FILE IMAGE...", "the class a checkpoint's model sees in images or data rows",
     cd_cli_predict_usage},
    {"info", "info FILE", "what a checkpoint (layer by layer) or data file holds",
     cd_cli_info_usage},
    {"help", "help [SUBCOMMAND]", "this text, or one subcommand's usage", help_usage},
};
enum { N_SUBCOMMANDS = sizeof subcommands / sizeof subcommands[0] };

const char *cd_cli_closest_subcommand(const char *word)
{
    const char *names[N_SUBCOMMANDS];
    for (size_t k = 0; k < N_SUBCOMMANDS; k++) names[k] = subcommands[k].name;
    return cd_suggest(word, strlen(word), names, N_SUBCOMMANDS);
}

void cd_cli_print_subcommands(FILE *out)
{
    fprintf(out, "\nsubcommands (cnn_ddp help SUBCOMMAND, or cnn_ddp SUBCOMMAND --help, for each one's usage):\n");
    for (size_t k = 0; k < N_SUBCOMMANDS; k++)
        fprintf(out, "  cnn_ddp %-29s %s\n", subcommands[k].synopsis, subcommands[k].summary);
}

int cd_cli_help_main(int argc, char **argv)
{
    if (argc == 1) {
        fputs(cd_cli_usage(), stdout);
        cd_cli_print_subcommands(stdout);
        return 0;
    }
    if (argc > 2) {
        fprintf(stderr, "cnn_ddp: error: help takes at most one SUBCOMMAND (usage: cnn_ddp help [SUBCOMMAND])\n");
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(help_usage(), stdout);
        return 0;
    }
    for (size_t k = 0; k < N_SUBCOMMANDS; k++)
        if (!strcmp(argv[1], subcommands[k].name)) {
            fputs(subcommands[k].usage(), stdout);
            return 0;
        }
    const char *close = cd_cli_closest_subcommand(argv[1]);
    if (close)
        fprintf(stderr, "cnn_ddp: error: help: unknown subcommand '%s' (did you mean %s?)\n", argv[1], close);
    else
        fprintf(stderr, "cnn_ddp: error: help: unknown subcommand '%s' (subcommands: train, eval, predict, info, help)\n",
                argv[1]);
    return 2;
}
