/* The training options, each described once, in one table (src/train/config.c): its name, its value
 * and range, the cd_train_config field it sets, its default, its key in cd_train_config_format and its
 * --help text. The defaults, the formatted configuration, the command line, the CNN_DDP_<OPTION>
 * environment variables and the usage text are all made from it. */
#ifndef CNN_DDP_CONFIG_OPTIONS_H
#define CNN_DDP_CONFIG_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include "cnn_ddp/config.h"
#include "cnn_ddp/error.h"

typedef enum cd_option_arg { CD_ARG_NONE, CD_ARG_REQUIRED, CD_ARG_OPTIONAL } cd_option_arg;

typedef enum cd_option_kind {
    CD_OPT_INT,    /* a whole number in [lo, hi] */
    CD_OPT_REAL,   /* a finite number between min and max, each end open or closed */
    CD_OPT_TEXT,   /* a path or a model spec, shorter than its field; "" only with empty_ok */
    CD_OPT_ENUM,   /* one of names[] */
    CD_OPT_FLAG,   /* no value: sets its int field to 1 */
    CD_OPT_RESUME, /* --resume [FILE]: the newest checkpoint, or FILE (into resume_path) */
} cd_option_kind;

/* The C type of the field; the table derives it from the field itself, so it cannot disagree. */
typedef enum cd_option_store {
    CD_STORE_INT,
    CD_STORE_I64,
    CD_STORE_U64,
    CD_STORE_REAL,
    CD_STORE_TEXT,
    CD_STORE_ENUM, /* an enum type, stored as an int */
} cd_option_store;

/* The --help headings, in their order. */
typedef enum cd_option_section {
    CD_SECTION_DATA,
    CD_SECTION_TRAINING,
    CD_SECTION_CKPT,
    CD_SECTION_ROBUSTNESS,
    CD_SECTION_OUTPUT,
    CD_SECTION_COUNT
} cd_option_section;

typedef struct cd_option_name {
    const char *name;
    int value;
    int output_only; /* printed by cd_train_config_format, refused as a value (lr_schedule=model) */
} cd_option_name;

typedef struct cd_option {
    const char *name;          /* "max-steps": --max-steps and CNN_DDP_MAX_STEPS */
    const char *key;           /* "max_steps" in cd_train_config_format; NULL: not printed there */
    cd_option_section section;
    cd_option_arg arg;
    cd_option_kind kind;
    cd_option_store store;
    size_t offset, size;       /* of the field in cd_train_config */
    int64_t lo, hi;            /* CD_OPT_INT */
    double min, max;           /* CD_OPT_REAL; an open end excludes its value */
    int min_open, max_open;
    int zero_off;              /* CD_OPT_REAL: 0 is accepted too, and turns the feature off */
    int empty_ok;              /* CD_OPT_TEXT */
    const cd_option_name *names; /* CD_OPT_ENUM */
    size_t name_count;
    int64_t def_int;           /* the default of an INT or ENUM option */
    double def_real;           /* ... of a REAL one */
    const char *def_text;      /* ... of a TEXT one (NULL: "") */
    int print_g;               /* REAL: printed with %g (six digits), not as the shortest exact decimal */
    const char *disabled_by;   /* TEXT: printed as "(disabled)" while this flag option is set */
    const char *metavar;       /* "N" in "--epochs N" */
    const char *help;          /* --help text: paragraphs split by '\n', wrapped by the usage */
    const char *default_note;  /* follows the default in --help: "(default 0" ": no limit" ")" */
    const char *default_doc;   /* replaces the default in --help where the stored one is a sentinel */
} cd_option;

/* Every option, in the order cd_train_config_format prints the keyed ones. */
const cd_option *cd_options(size_t *count);
/* The option called name[0..len), or NULL. */
const cd_option *cd_option_find(const char *name, size_t len);
/* Parses `value` (NULL: none given, for a flag or a bare --resume) strictly and stores it in cfg;
 * CD_E_USAGE with a message naming --NAME and the problem otherwise. */
cd_status cd_option_set(const cd_option *o, const char *value, cd_train_config *cfg, cd_error *err);
/* The option's value in cfg, spelled as cd_train_config_format spells it. */
void cd_option_format(const cd_option *o, const cd_train_config *cfg, char *buf, size_t size);
/* Its default, spelled the same way ("0" for a flag, "" for --resume). */
void cd_option_format_default(const cd_option *o, char *buf, size_t size);

#endif
