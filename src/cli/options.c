/* The command line and the CNN_DDP_<OPTION> environment, read through the option table
 * (cnn_ddp/config_options.h), and the usage text made from that table. Values are strict (see
 * cd_option_set): anything else is refused with the flag's name, before any work starts. */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cnn_ddp/cli.h"
#include "cnn_ddp/config_options.h"
#include "cnn_ddp/suggest.h"
#include "subcommands.h"

#define VAR_PREFIX "CNN_DDP_"
#define USAGE_WIDTH 100
#define HELP_COLUMN 22 /* where an option's help starts */

/* CNN_DDP_ variables that are not options but are read all the same, so they get no warning. */
static const char *const other_variables[] = {
    "CNN_DDP_FAULT",          /* fault injection for the robustness tests (src/train/fault.c) */
    "CNN_DDP_RESTART_REASON", /* launch/elastic.sh: why this run restarted, for the run history (src/train/loop.c) */
    "CNN_DDP_CUDA_BACKEND",   /* the CUDA backend library (src/train/backend_load.c) */
    "CNN_DDP_CUDA_SYNC",      /* check every CUDA kernel launch (src/model/cuda_sync_mode.h) */
    "CNN_DDP_BIN",            /* the launch/ scripts: which binary, */
    "CNN_DDP_BIND",           /* mpirun's binding (run_local.sh), */
    "CNN_DDP_IFACE",          /* the network interface (run_multinode.sh), */
    "CNN_DDP_MNIST_DIR",      /* the IDX files for PyTorch (bench.sh, torch_mnist.py), */
    "CNN_DDP_TEST_BUILD",     /* the build directory (test.sh), */
    "CNN_DDP_EXTRA_PACKAGES", /* more packages to install (setup.sh) */
};

static const char *const section_titles[] = {"data and model", "training", "checkpoints", "robustness", "output"};
_Static_assert(sizeof section_titles / sizeof section_titles[0] == CD_SECTION_COUNT, "a section without a title");

static const char usage_head[] =
    "usage: cnn_ddp [train] [options]    (under MPI: mpirun -np N cnn_ddp [options])\n"
    "       cnn_ddp eval|predict|info|help ...  (see below; cnn_ddp help SUBCOMMAND for each)\n"
    "\n"
    "Trains a CNN on MNIST-style HDF5 data, data-parallel over MPI ranks. The result is bit-identical\n"
    "for any number of ranks and across stop/resume, given the same data, model, seed, batch,\n"
    "learning rate, momentum and kernel set.\n"
    "\n";
static const char usage_tail[] =
    "\n"
    "Every option can also be set as CNN_DDP_<OPTION> in the environment (CNN_DDP_BATCH=128,\n"
    "CNN_DDP_QUIET=1); the command line wins. SIGINT/SIGTERM stop at the next step boundary after a\n"
    "checkpoint. Exit status: 0 done, 1 runtime failure, 2 bad option/input, 143/130 stopped by signal.\n";

/* ---- the usage text --------------------------------------------------------------------------------- */

/* Text appended to a fixed buffer: what does not fit is dropped, and the column is tracked for wrapping. */
typedef struct text {
    char *buf;
    size_t size, len, col;
} text;

static void put(text *t, const char *s, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (t->len + 1 < t->size) t->buf[t->len++] = s[k];
        t->col = s[k] == '\n' ? 0 : t->col + 1;
    }
    if (t->size) t->buf[t->len] = '\0';
}

static void put_str(text *t, const char *s) { put(t, s, strlen(s)); }

static void put_newline_indent(text *t)
{
    put(t, "\n", 1);
    while (t->col < HELP_COLUMN) put(t, " ", 1);
}

/* Words from the current column on, no line past USAGE_WIDTH, continued at HELP_COLUMN; '\n' breaks. */
static void put_wrapped(text *t, const char *s)
{
    while (*s) {
        if (*s == ' ') {
            s++;
            continue;
        }
        if (*s == '\n') {
            put_newline_indent(t);
            s++;
            continue;
        }
        const size_t w = strcspn(s, " \n");
        if (t->col > HELP_COLUMN && t->col + 1 + w > USAGE_WIDTH) put_newline_indent(t);
        else if (t->col > HELP_COLUMN) put(t, " ", 1);
        put(t, s, w);
        s += w;
    }
}

/* " (default 8)", " (default 0: no limit)", or the documented stand-in for a sentinel default. */
static void put_default(text *t, const cd_option *o)
{
    if (o->kind == CD_OPT_FLAG || o->kind == CD_OPT_RESUME) return;
    char def[128];
    cd_option_format_default(o, def, sizeof def);
    if (!o->default_doc && !*def) return;
    put_str(t, " (default ");
    put_str(t, o->default_doc ? o->default_doc : def);
    if (!o->default_doc && o->default_note) put_str(t, o->default_note);
    put_str(t, ")");
}

/* An option's help: an enum's names, the help's first paragraph, the default, the other paragraphs. */
static void option_help(const cd_option *o, char *buf, size_t size)
{
    text t = {buf, size, 0, 0};
    buf[0] = '\0';
    for (size_t k = 0, shown = 0; o->kind == CD_OPT_ENUM && k < o->name_count; k++) {
        if (o->names[k].output_only) continue;
        if (shown++) put_str(&t, " | ");
        put_str(&t, o->names[k].name);
    }
    const char *help = o->help ? o->help : "";
    const size_t first = strcspn(help, "\n");
    put(&t, help, first);
    put_default(&t, o);
    put_str(&t, help + first);
}

static void put_option(text *t, const cd_option *o)
{
    char head[96], help[2048];
    const char *m = o->metavar ? o->metavar : "VALUE";
    if (o->arg == CD_ARG_REQUIRED) snprintf(head, sizeof head, "  --%s %s", o->name, m);
    else if (o->arg == CD_ARG_OPTIONAL) snprintf(head, sizeof head, "  --%s [%s]", o->name, m);
    else snprintf(head, sizeof head, "  --%s", o->name);
    put_str(t, head);
    if (t->col + 2 > HELP_COLUMN) put(t, "\n", 1);
    while (t->col < HELP_COLUMN) put(t, " ", 1);
    option_help(o, help, sizeof help);
    put_wrapped(t, help);
    put(t, "\n", 1);
}

static void usage_format(char *buf, size_t size)
{
    text t = {buf, size, 0, 0};
    size_t count;
    const cd_option *opts = cd_options(&count);
    put_str(&t, usage_head);
    for (int s = 0; s < CD_SECTION_COUNT; s++) {
        put_str(&t, section_titles[s]);
        put_str(&t, ":\n");
        for (size_t k = 0; k < count; k++)
            if (opts[k].section == (cd_option_section)s) put_option(&t, &opts[k]);
    }
    put_str(&t, "  --help, --version\n");
    put_str(&t, usage_tail);
}

/* Built on first use, then only read. */
static struct {
    pthread_once_t once;
    char text[8192];
} usage = {PTHREAD_ONCE_INIT, ""};

static void build_usage(void) { usage_format(usage.text, sizeof usage.text); }

const char *cd_cli_usage(void)
{
    pthread_once(&usage.once, build_usage);
    return usage.text;
}

/* ---- the environment -------------------------------------------------------------------------------- */

/* CNN_DDP_ and the option's name in upper case, '-' as '_'. */
static void variable_of(const char *name, char *var, size_t size)
{
    size_t at = (size_t)snprintf(var, size, "%s", VAR_PREFIX);
    for (const char *p = name; *p && at + 1 < size; p++) var[at++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    var[at < size ? at : size - 1] = '\0';
}

static const char *env_get(char *const *envp, const char *var)
{
    const size_t n = strlen(var);
    for (; envp && *envp; envp++)
        if (!strncmp(*envp, var, n) && (*envp)[n] == '=') return *envp + n + 1;
    return NULL;
}

/* The i-th variable cnn_ddp reads: the options', then the others; 0 past the last. */
static int known_variable(size_t i, char *var, size_t size)
{
    size_t count;
    const cd_option *opts = cd_options(&count);
    if (i < count) return variable_of(opts[i].name, var, size), 1;
    i -= count;
    if (i >= sizeof other_variables / sizeof other_variables[0]) return 0;
    snprintf(var, size, "%s", other_variables[i]);
    return 1;
}

static void add_warning(cd_cli_warnings *w, const char *line)
{
    const size_t used = strlen(w->text);
    if (used + strlen(line) + 2 <= sizeof w->text) snprintf(w->text + used, sizeof w->text - used, "%s\n", line);
}

/* One warning for each CNN_DDP_ variable nothing reads, with the closest known name when one is close. */
static void warn_unknown_variables(char *const *envp, cd_cli_warnings *w)
{
    const size_t prefix = strlen(VAR_PREFIX);
    for (; envp && *envp; envp++) {
        const char *entry = *envp, *eq = strchr(entry, '=');
        if (!eq || strncmp(entry, VAR_PREFIX, prefix) != 0) continue;
        const size_t len = (size_t)(eq - entry);
        char var[64], best[64] = "";
        size_t best_d = SIZE_MAX;
        int known = 0;
        for (size_t i = 0; !known && known_variable(i, var, sizeof var); i++) {
            known = strlen(var) == len && !strncmp(var, entry, len);
            const size_t d = cd_edit_distance(entry + prefix, len - prefix, var + prefix);
            if (d < best_d) best_d = d, snprintf(best, sizeof best, "%s", var);
        }
        if (known) continue;
        char line[256];
        if (best_d * 3 <= len - prefix) /* one edit in three letters at most: CNN_DDP_BACH, not CNN_DDP_HELP */
            snprintf(line, sizeof line, "%.*s is not a cnn_ddp option (did you mean %s?)", (int)len, entry, best);
        else
            snprintf(line, sizeof line, "%.*s is not a cnn_ddp option", (int)len, entry);
        add_warning(w, line);
    }
}

/* CNN_DDP_BATCH=128 and friends; a flag is on unless its variable is empty, "0" or "false". */
static cd_status apply_environment(char *const *envp, cd_train_config *cfg, cd_error *err)
{
    size_t count;
    const cd_option *opts = cd_options(&count);
    for (size_t k = 0; k < count; k++) {
        const cd_option *o = &opts[k];
        char var[64];
        variable_of(o->name, var, sizeof var);
        const char *value = env_get(envp, var);
        if (!value) continue;
        if (o->arg == CD_ARG_NONE) {
            if (!*value || !strcmp(value, "0") || !strcmp(value, "false")) continue;
            value = NULL;
        } else if (o->arg == CD_ARG_OPTIONAL && (!*value || !strcmp(value, "1") || !strcmp(value, "true"))) {
            value = NULL;
        }
        cd_status st = cd_option_set(o, value, cfg, err);
        if (st != CD_OK) {
            cd_error_prefix(err, "environment variable %s: ", var);
            return st;
        }
    }
    return CD_OK;
}

/* ---- the command line ------------------------------------------------------------------------------- */

/* --help and --version: the program's own, so not in the configuration's table. */
static int program_option(const char *name, size_t len, cd_cli_action *action)
{
    if (len == 4 && !strncmp(name, "help", 4)) return *action = CD_CLI_HELP, 1;
    if (len == 7 && !strncmp(name, "version", 7)) return *action = CD_CLI_VERSION, 1;
    return 0;
}

/* The option (or --help, --version) closest to a mistyped name, or NULL. */
static const char *closest_option(const char *name, size_t len)
{
    size_t count;
    const cd_option *opts = cd_options(&count);
    const char *names[256];
    size_t n = 0;
    for (size_t k = 0; k < count && n < 254; k++) names[n++] = opts[k].name;
    names[n++] = "help";
    names[n++] = "version";
    return cd_suggest(name, len, names, n);
}

/* An argument that is no option: a mistyped subcommand in first place, else a stray word. */
static cd_status refuse_positional(const char *arg, int first, cd_error *err)
{
    const char *close = first && arg[0] != '-' ? cd_cli_closest_subcommand(arg) : NULL;
    if (close) return CD_FAIL(err, CD_E_USAGE, "unknown subcommand '%s' (did you mean %s?)", arg, close);
    if (arg[0] == '-' && arg[1] != '-' && arg[1] && closest_option(arg + 1, strlen(arg + 1)))
        return CD_FAIL(err, CD_E_USAGE, "unexpected argument '%s' (did you mean --%s?)", arg,
                       closest_option(arg + 1, strlen(arg + 1)));
    if (first)
        return CD_FAIL(err, CD_E_USAGE, "unexpected argument '%s' (not a subcommand: train, eval, predict, info or "
                       "help; options start with --; see --help)", arg);
    return CD_FAIL(err, CD_E_USAGE, "unexpected argument '%s' (options start with --; see --help)", arg);
}

static cd_status apply_argument(int argc, char **argv, int *a, cd_train_config *cfg, cd_cli_action *action,
                                cd_error *err)
{
    const char *arg = argv[*a];
    if (!strcmp(arg, "-h")) {
        *action = CD_CLI_HELP;
        return CD_OK;
    }
    if (strncmp(arg, "--", 2) != 0) return refuse_positional(arg, *a == 0, err);
    const char *name = arg + 2, *eq = strchr(name, '=');
    const size_t len = eq ? (size_t)(eq - name) : strlen(name);
    cd_cli_action wanted;
    if (program_option(name, len, &wanted)) {
        if (eq) return CD_FAIL(err, CD_E_USAGE, "--%.*s takes no value", (int)len, name);
        *action = wanted;
        return CD_OK;
    }
    const cd_option *o = cd_option_find(name, len);
    if (!o) {
        const char *close = closest_option(name, len);
        if (close) return CD_FAIL(err, CD_E_USAGE, "unknown option '%.*s' (did you mean --%s?)", (int)(len + 2), arg, close);
        return CD_FAIL(err, CD_E_USAGE, "unknown option '%.*s' (see --help)", (int)(len + 2), arg);
    }
    const char *value = NULL;
    if (eq) {
        if (o->arg == CD_ARG_NONE) return CD_FAIL(err, CD_E_USAGE, "--%s takes no value", o->name);
        value = eq + 1;
    } else if (o->arg == CD_ARG_REQUIRED) {
        if (*a + 1 >= argc) return CD_FAIL(err, CD_E_USAGE, "--%s needs a value", o->name);
        value = argv[++*a];
    } else if (o->arg == CD_ARG_OPTIONAL && *a + 1 < argc && strncmp(argv[*a + 1], "--", 2) != 0) {
        value = argv[++*a];
    }
    return cd_option_set(o, value, cfg, err);
}

cd_status cd_cli_parse(int argc, char **argv, char *const *envp, cd_train_config *cfg, cd_cli_action *action,
                       cd_cli_warnings *warnings, cd_error *err)
{
    cd_train_config_defaults(cfg);
    *action = CD_CLI_TRAIN;
    if (warnings) {
        warnings->text[0] = '\0';
        warn_unknown_variables(envp, warnings);
    }
    CD_TRY(apply_environment(envp, cfg, err));
    for (int a = 0; a < argc; a++) {
        if (!strcmp(argv[a], "train") && a == 0) continue; /* the default subcommand, spelled out */
        CD_TRY(apply_argument(argc, argv, &a, cfg, action, err));
    }
    return CD_OK;
}
