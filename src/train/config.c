/* The option table, and what is made from it here: the defaults, the strict parsing of one value into
 * its field, and the printable form of a training configuration. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn_ddp/config_options.h"
#include "cnn_ddp/watchdog.h"

/* Every enum field is stored and read as an int. */
_Static_assert(sizeof(cd_kernel_kind) == sizeof(int), "cd_kernel_kind is not int-sized");
_Static_assert(sizeof(cd_lr_schedule) == sizeof(int), "cd_lr_schedule is not int-sized");
_Static_assert(sizeof(cd_device_kind) == sizeof(int), "cd_device_kind is not int-sized");
_Static_assert(sizeof(cd_comm_kind) == sizeof(int), "cd_comm_kind is not int-sized");
_Static_assert(sizeof(cd_resume_kind) == sizeof(int), "cd_resume_kind is not int-sized");
_Static_assert(sizeof(cd_progress_mode) == sizeof(int), "cd_progress_mode is not int-sized");

/* Bounds that only keep a number sane (the hard limits are in cnn_ddp/limits.h). Steps stay below
 * INT64_MAX / 2 so that a step count plus an interval cannot overflow. */
#define MAX_STEPS (INT64_MAX / 2)
#define MAX_EPOCHS 1000000
#define MAX_KEEP 1000000

static const cd_option_name lr_schedule_names[] = {
    {"model", CD_LR_MODEL_DEFAULT, 1}, /* resolved before training, so only an unresolved config shows it */
    {"constant", CD_LR_CONSTANT, 0},
    {"cosine", CD_LR_COSINE, 0},
};
/* The kernel sets' own names (kernels.h), in the order --help lists them. */
static const cd_option_name kernel_names[] = {
    {cd_kernel_names[CD_KERNELS_SCALAR], CD_KERNELS_SCALAR, 0},
    {cd_kernel_names[CD_KERNELS_AVX2], CD_KERNELS_AVX2, 0},
    {cd_kernel_names[CD_KERNELS_AVX512], CD_KERNELS_AVX512, 0},
    {cd_kernel_names[CD_KERNELS_AUTO], CD_KERNELS_AUTO, 0},
};
static const cd_option_name device_names[] = {
    {"cpu", CD_DEVICE_CPU, 0},
    {"cuda", CD_DEVICE_CUDA, 0},
    {"auto", CD_DEVICE_AUTO, 0},
};
static const cd_option_name progress_names[] = {
    {"auto", CD_PROGRESS_AUTO, 0},
    {"bar", CD_PROGRESS_BAR, 0},
    {"lines", CD_PROGRESS_LINES, 0},
    {"none", CD_PROGRESS_NONE, 0},
};
static const cd_option_name comm_names[] = {
    {"mpi", CD_COMM_MPI, 0},
    {"nccl", CD_COMM_NCCL, 0},
    {"auto", CD_COMM_AUTO, 0},
};

#define STORE_OF(x)                                                                                           \
    _Generic((x), int: CD_STORE_INT, int64_t: CD_STORE_I64, uint64_t: CD_STORE_U64, double: CD_STORE_REAL,   \
             char *: CD_STORE_TEXT, default: CD_STORE_ENUM)
#define FIELD(f)                                                                                              \
    .offset = offsetof(cd_train_config, f), .size = sizeof(((cd_train_config *)0)->f),                        \
    .store = STORE_OF(((cd_train_config *)0)->f)
#define INT(f, lo_, hi_, def) .arg = CD_ARG_REQUIRED, .kind = CD_OPT_INT, FIELD(f), .lo = (lo_), .hi = (hi_), .def_int = (def)
#define REAL(f, lo_, lo_end, hi_, hi_end, def)                                                                \
    .arg = CD_ARG_REQUIRED, .kind = CD_OPT_REAL, FIELD(f), .min = (lo_), .min_open = (lo_end), .max = (hi_),   \
    .max_open = (hi_end), .def_real = (def)
#define TEXT(f, def) .arg = CD_ARG_REQUIRED, .kind = CD_OPT_TEXT, FIELD(f), .def_text = (def)
#define ENUM(f, names_, def)                                                                                  \
    .arg = CD_ARG_REQUIRED, .kind = CD_OPT_ENUM, FIELD(f), .names = (names_),                                 \
    .name_count = sizeof(names_) / sizeof((names_)[0]), .def_int = (def)
#define FLAG(f) .arg = CD_ARG_NONE, .kind = CD_OPT_FLAG, FIELD(f)
enum { CLOSED = 0, OPEN = 1 };

/* The keyed entries print in this order, which the checkpoints already written store: keep it. */
static const cd_option options[] = {
    {"data", "data", CD_SECTION_DATA, TEXT(data, "datasets/mnist.h5"), .metavar = "FILE.h5",
     .help = "training/test data\nmake it with datasets/prepare.sh mnist"},
    {"model", "model", CD_SECTION_DATA, TEXT(model, "seed"), .metavar = "M",
     .help = "seed | exercise | a spec\nsuch as \"conv(10,k=5) pool(2) relu conv(20,k=5) pool(2) relu fc(10)\"\n"
             "layers: conv(OUT,k=K,s=S,p=P) pool(K,s=S) relu flatten fc(OUT)"},
    {"epochs", "epochs", CD_SECTION_TRAINING, INT(epochs, 0, MAX_EPOCHS, 10), .metavar = "N",
     .help = "epochs, counted from the start of training, also on resume"},
    {"max-steps", "max_steps", CD_SECTION_TRAINING, INT(max_steps, 0, MAX_STEPS, 0), .metavar = "N",
     .help = "stop after N global steps in total", .default_note = ": no limit"},
    {"batch", "batch", CD_SECTION_TRAINING, INT(batch, 1, CD_MAX_BATCH, 0), .metavar = "N",
     .help = "global batch: the samples of one step, over all ranks\nEach rank takes a contiguous block of about "
             "batch/ranks of them; any rank count from 1 to the batch gives the same result.",
     .default_doc = "64"},
    {"batch-per-rank", "batch_per_rank", CD_SECTION_TRAINING, INT(batch_per_rank, 1, CD_MAX_BATCH, 0),
     .metavar = "N",
     .help = "weak scaling: a global batch of N times the ranks, instead of --batch\nThe result then depends "
             "on the rank count (the global batch does); a resume must use the same global batch.",
     .default_doc = "off"},
    {"lr", "lr", CD_SECTION_TRAINING, REAL(lr, 0.0, OPEN, 1e6, CLOSED, 0.0), .metavar = "X",
     .help = "SGD learning rate", .default_doc = "0.01; 0.05 for --model exercise"},
    {"lr-schedule", "lr_schedule", CD_SECTION_TRAINING, ENUM(lr_schedule, lr_schedule_names, CD_LR_MODEL_DEFAULT),
     .metavar = "S", .help = ": lr * (1 + cos(pi * step / steps)) / 2 over the --epochs",
     .default_doc = "constant; cosine for --model exercise"},
    {"momentum", "momentum", CD_SECTION_TRAINING, REAL(momentum, 0.0, CLOSED, 1.0, OPEN, 0.5), .metavar = "X",
     .help = "SGD momentum, 0 <= X < 1"},
    {"seed", "seed", CD_SECTION_TRAINING, INT(seed, 0, INT64_MAX, 1), .metavar = "N",
     .help = "seed for the initial weights and the data order"},
    {"kernels", "kernels", CD_SECTION_TRAINING, ENUM(kernels, kernel_names, CD_KERNELS_AUTO), .metavar = "K",
     .help = "", .default_note = ": the best this CPU supports"},
    {"ckpt-dir", "ckpt_dir", CD_SECTION_CKPT, TEXT(ckpt_dir, "checkpoints"), .disabled_by = "no-ckpt",
     .metavar = "DIR", .help = "where rank 0 writes checkpoints"},
    {"ckpt-every", "ckpt_every", CD_SECTION_CKPT, INT(ckpt_every, 0, MAX_STEPS, 0), .metavar = "S",
     .help = "write step-<S>.h5 every S steps\nfinal.h5 is written at the end",
     .default_note = ": at the end of each epoch"},
    {"keep", "keep", CD_SECTION_CKPT, INT(keep, 1, MAX_KEEP, 3), .metavar = "N",
     .help = "keep the newest N step checkpoints"},
    {"no-ckpt", NULL, CD_SECTION_CKPT, FLAG(no_ckpt), .help = "write no checkpoints"},
    {"overwrite", NULL, CD_SECTION_CKPT, FLAG(overwrite),
     .help = "delete the checkpoints of other runs in --ckpt-dir at start\n(without it, such a directory is "
             "refused)"},
    {"resume", NULL, CD_SECTION_CKPT, .arg = CD_ARG_OPTIONAL, .kind = CD_OPT_RESUME, FIELD(resume),
     .metavar = "FILE", .help = "continue from FILE, or from the newest checkpoint in --ckpt-dir that verifies "
                                "(an empty directory starts from scratch)"},
    {"init-from", NULL, CD_SECTION_CKPT, TEXT(init_from, ""), .empty_ok = 1, .metavar = "CKPT",
     .help = "start from the weights of checkpoint CKPT (fine-tuning): same parameter shapes, fresh momentum, this "
             "run's --lr, schedule and seed\nRecorded in this run's checkpoints; a --resume of this run needs the same "
             "CKPT, and resumes (a checkpoint of this run in --ckpt-dir wins over CKPT).",
     .default_doc = "none"},
    {"check-every", "check_every", CD_SECTION_ROBUSTNESS, INT(check_every, 0, MAX_STEPS, 50), .metavar = "S",
     .help = "compare a weight checksum across ranks every S steps", .default_note = "; 0: never"},
    {"timeout", "timeout", CD_SECTION_ROBUSTNESS,
     REAL(timeout_s, CD_WATCHDOG_MIN_S, CLOSED, CD_WATCHDOG_MAX_S, CLOSED, 120.0), .zero_off = 1, .print_g = 1,
     .metavar = "SEC", .help = "end the job when this process makes no progress for SEC seconds, from before MPI_Init "
                               "to after MPI_Finalize (5 to 86400)",
     .default_note = "; 0: no watchdog"},
    {"memory-limit", NULL, CD_SECTION_ROBUSTNESS, TEXT(memory_limit, ""), .empty_ok = 1, .metavar = "SIZE",
     .help = "refuse to start when the run would need more than 90% of SIZE per rank (512M, 2G; none: no check)",
     .default_doc = "the cgroup's memory.max, else MemAvailable, shared by the node's ranks"},
    {"device", "device", CD_SECTION_TRAINING, ENUM(device, device_names, CD_DEVICE_CPU), .metavar = "D",
     .help = "\nEach rank uses GPU (node-local rank mod the GPUs it sees), so one GPU per rank by CUDA_VISIBLE_DEVICES "
             "or srun --gpus-per-task works; ranks on one GPU need --comm mpi. A "
             "CUDA run follows the scalar CPU kernels (the same weights, to the bit in practice; see the README).",
     .default_note = "; auto: cuda when the CUDA backend (libcnn_ddp_cuda.so) loads and a GPU is visible"},
    {"comm", "comm", CD_SECTION_TRAINING, ENUM(comm, comm_names, CD_COMM_AUTO), .metavar = "C",
     .help = ": how GPU ranks sum gradients\nThe sum is exact either way, so the result is the same.",
     .default_note = ": nccl with --device cuda, else mpi"},
    {"val-rows", "val_rows", CD_SECTION_DATA, REAL(val_rows, 0.0, CLOSED, 1e15, CLOSED, 0.0), .print_g = 1,
     .metavar = "N",
     .help = "hold out the last N training rows (or, below 1, that fraction of them, rounded down) for "
             "validation\nEach epoch then reports the validation accuracy and loss; the test set is evaluated at "
             "the end. The same rows for any rank count; a resume must use the same value.",
     .default_note = ": none, each epoch reports the test accuracy"},
    {"metrics", NULL, CD_SECTION_OUTPUT, TEXT(metrics, ""), .empty_ok = 1, .metavar = "FILE",
     .help = "JSON lines (schema in the README): config, per-epoch (epoch, step, train_loss, train_acc, "
             "test_acc and test_loss or val_acc and val_loss, lr, img_per_s, elapsed_s), per-step with --log-every, "
             "final; every record has an ISO-8601 UTC time",
     .default_doc = "none"},
    {"log-every", NULL, CD_SECTION_OUTPUT, INT(log_every, 0, MAX_STEPS, 0), .metavar = "S",
     .help = "also write a per-step loss line to --metrics every S steps", .default_note = ": none"},
    {"progress", NULL, CD_SECTION_OUTPUT, ENUM(progress, progress_names, CD_PROGRESS_AUTO), .metavar = "P",
     .help = ": how rank 0 shows progress between epoch lines\nbar: one line redrawn in place, fitted to the "
             "terminal's width (rate, loss, epoch and total ETA); lines: a plain line every --progress-every "
             "seconds, for logs and batch jobs; auto: bar on a terminal, lines otherwise (and always under mpirun "
             "or srun)"},
    {"progress-every", NULL, CD_SECTION_OUTPUT, REAL(progress_every, 0.0, OPEN, 86400.0, CLOSED, 30.0), .print_g = 1,
     .metavar = "SEC", .help = "seconds between --progress lines"},
    {"quiet", NULL, CD_SECTION_OUTPUT, FLAG(quiet), .help = "print only errors and the final result (no progress)"},
    {"verbose", NULL, CD_SECTION_OUTPUT, FLAG(verbose), .help = "print the start-up plan: each conv layer's kernel path"},
};
#undef STORE_OF
#undef FIELD
#undef INT
#undef REAL
#undef TEXT
#undef ENUM
#undef FLAG

const cd_option *cd_options(size_t *count)
{
    *count = sizeof options / sizeof options[0];
    return options;
}

const cd_option *cd_option_find(const char *name, size_t len)
{
    for (size_t k = 0; k < sizeof options / sizeof options[0]; k++)
        if (strlen(options[k].name) == len && !strncmp(options[k].name, name, len)) return &options[k];
    return NULL;
}

/* ---- reading and writing a field ------------------------------------------------------------------- */

/* A field's value, whatever its type; memcpy keeps the byte offsets free of aliasing questions. */
typedef struct field_value {
    int64_t i; /* INT, I64, ENUM */
    uint64_t u;
    double r;
    const char *text;
} field_value;

static field_value read_field(const cd_option *o, const cd_train_config *cfg)
{
    const char *f = (const char *)cfg + o->offset;
    field_value v = {0};
    int x;
    switch (o->store) {
    case CD_STORE_INT:
    case CD_STORE_ENUM: memcpy(&x, f, sizeof x), v.i = x; break;
    case CD_STORE_I64: memcpy(&v.i, f, sizeof v.i); break;
    case CD_STORE_U64: memcpy(&v.u, f, sizeof v.u); break;
    case CD_STORE_REAL: memcpy(&v.r, f, sizeof v.r); break;
    case CD_STORE_TEXT: v.text = f; break;
    }
    return v;
}

static void store_int(const cd_option *o, cd_train_config *cfg, int64_t i)
{
    char *f = (char *)cfg + o->offset;
    const int x = (int)i;
    const uint64_t u = (uint64_t)i;
    if (o->store == CD_STORE_INT || o->store == CD_STORE_ENUM) memcpy(f, &x, sizeof x);
    else if (o->store == CD_STORE_I64) memcpy(f, &i, sizeof i);
    else if (o->store == CD_STORE_U64) memcpy(f, &u, sizeof u);
}

static void store_real(const cd_option *o, cd_train_config *cfg, double r)
{
    memcpy((char *)cfg + o->offset, &r, sizeof r);
}

static void store_text(const cd_option *o, cd_train_config *cfg, const char *text)
{
    char *f = (char *)cfg + o->offset;
    snprintf(f, o->size, "%s", text ? text : "");
}

void cd_train_config_defaults(cd_train_config *cfg)
{
    memset(cfg, 0, sizeof *cfg); /* flags off, no resume, and the fields that are not options */
    for (size_t k = 0; k < sizeof options / sizeof options[0]; k++) {
        const cd_option *o = &options[k];
        if (o->kind == CD_OPT_INT || o->kind == CD_OPT_ENUM) store_int(o, cfg, o->def_int);
        else if (o->kind == CD_OPT_REAL) store_real(o, cfg, o->def_real);
        else if (o->kind == CD_OPT_TEXT) store_text(o, cfg, o->def_text);
    }
}

/* ---- parsing one value ------------------------------------------------------------------------------ */

/* strtoll and strtod also take leading blanks, a '+', hex ("0x10") and "inf": a value typed by a
 * person or a script is only ever plain decimal, so anything else is a mistake to report. */
static int plain_integer(const char *t)
{
    if (*t == '-') t++;
    if (!*t) return 0;
    for (; *t; t++)
        if (*t < '0' || *t > '9') return 0;
    return 1;
}

static int plain_decimal(const char *t)
{
    if (*t == '-') t++;
    if (!((*t >= '0' && *t <= '9') || *t == '.')) return 0;
    for (; *t; t++)
        if (!((*t >= '0' && *t <= '9') || *t == '.' || *t == 'e' || *t == 'E' || *t == '+' || *t == '-')) return 0;
    return 1;
}

static cd_status parse_int(const cd_option *o, const char *text, cd_train_config *cfg, cd_error *err)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (!plain_integer(text) || *end || errno == ERANGE)
        return CD_FAIL(err, CD_E_USAGE, "--%s %s: not an integer", o->name, text);
    if (v < o->lo || v > o->hi)
        return CD_FAIL(err, CD_E_USAGE, "--%s %s: must be between %" PRId64 " and %" PRId64, o->name, text, o->lo,
                       o->hi);
    store_int(o, cfg, v);
    return CD_OK;
}

static cd_status parse_real(const cd_option *o, const char *text, cd_train_config *cfg, cd_error *err)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (!*text || *end || errno == ERANGE || !isfinite(v))
        return CD_FAIL(err, CD_E_USAGE, "--%s %s: not a finite number", o->name, text);
    if (!plain_decimal(text))
        return CD_FAIL(err, CD_E_USAGE, "--%s %s: not a plain decimal number", o->name, text);
    if (o->zero_off && v == 0) {
        store_real(o, cfg, v);
        return CD_OK;
    }
    if ((o->min_open ? v <= o->min : v < o->min) || (o->max_open ? v >= o->max : v > o->max))
        return CD_FAIL(err, CD_E_USAGE, "--%s %s: must be in %c%g, %g%c%s", o->name, text, o->min_open ? '(' : '[',
                       o->min, o->max, o->max_open ? ')' : ']', o->zero_off ? ", or 0 (off)" : "");
    store_real(o, cfg, v);
    return CD_OK;
}

static cd_status check_text(const cd_option *o, const char *text, size_t size, cd_error *err)
{
    if (!o->empty_ok && !*text) return CD_FAIL(err, CD_E_USAGE, "--%s: empty value", o->name);
    if (strlen(text) >= size)
        return CD_FAIL(err, CD_E_USAGE, "--%s: value longer than %zu characters", o->name, size - 1);
    return CD_OK;
}

/* "a, b or c": the names an enum option accepts. */
static void accepted_names(const cd_option *o, char *buf, size_t size)
{
    size_t total = 0, seen = 0, used = 0;
    for (size_t k = 0; k < o->name_count; k++) total += !o->names[k].output_only;
    buf[0] = '\0';
    for (size_t k = 0; k < o->name_count && used < size; k++) {
        if (o->names[k].output_only) continue;
        const char *sep = seen == 0 ? "" : seen + 1 == total ? " or " : ", ";
        int n = snprintf(buf + used, size - used, "%s%s", sep, o->names[k].name);
        used += n > 0 ? (size_t)n : 0;
        seen++;
    }
}

static cd_status parse_enum(const cd_option *o, const char *text, cd_train_config *cfg, cd_error *err)
{
    for (size_t k = 0; k < o->name_count; k++)
        if (!o->names[k].output_only && !strcmp(text, o->names[k].name)) {
            store_int(o, cfg, o->names[k].value);
            return CD_OK;
        }
    char expected[256];
    accepted_names(o, expected, sizeof expected);
    return CD_FAIL(err, CD_E_USAGE, "--%s %s: expected %s", o->name, text, expected);
}

cd_status cd_option_set(const cd_option *o, const char *value, cd_train_config *cfg, cd_error *err)
{
    if (o->kind == CD_OPT_FLAG) return store_int(o, cfg, 1), CD_OK;
    if (o->kind == CD_OPT_RESUME) {
        if (value) CD_TRY(check_text(o, value, sizeof cfg->resume_path, err));
        store_int(o, cfg, value ? CD_RESUME_FILE : CD_RESUME_NEWEST);
        if (value) snprintf(cfg->resume_path, sizeof cfg->resume_path, "%s", value);
        return CD_OK;
    }
    if (!value) return CD_FAIL(err, CD_E_USAGE, "--%s needs a value", o->name);
    switch (o->kind) {
    case CD_OPT_INT: return parse_int(o, value, cfg, err);
    case CD_OPT_REAL: return parse_real(o, value, cfg, err);
    case CD_OPT_ENUM: return parse_enum(o, value, cfg, err);
    case CD_OPT_TEXT:
        CD_TRY(check_text(o, value, o->size, err));
        store_text(o, cfg, value);
        return CD_OK;
    default: return CD_FAIL(err, CD_E_INTERNAL, "option --%s has no parser", o->name);
    }
}

/* ---- printing ---------------------------------------------------------------------------------------- */

/* The shortest decimal that reads back as exactly x, so 0.05 prints as 0.05 and still round-trips. */
static void shortest(double x, char out[32])
{
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(out, 32, "%.*g", digits, x);
        if (strtod(out, NULL) == x) return;
    }
}

static const char *enum_name(const cd_option *o, int64_t v)
{
    const char *fallback = "?";
    for (size_t k = 0; k < o->name_count; k++) {
        if (o->names[k].value == v) return o->names[k].name;
        if (o->names[k].value == o->def_int) fallback = o->names[k].name;
    }
    return fallback; /* a value outside the enum prints as the default, as it always has */
}

static void print_value(const cd_option *o, const field_value *v, char *buf, size_t size)
{
    char real[32];
    if (o->kind == CD_OPT_ENUM) snprintf(buf, size, "%s", enum_name(o, v->i));
    else if (o->kind == CD_OPT_RESUME) snprintf(buf, size, "%s", v->text ? v->text : "");
    else if (o->store == CD_STORE_U64) snprintf(buf, size, "%" PRIu64, v->u);
    else if (o->store == CD_STORE_I64) snprintf(buf, size, "%" PRId64, v->i);
    else if (o->store == CD_STORE_INT) snprintf(buf, size, "%d", (int)v->i);
    else if (o->store == CD_STORE_TEXT) snprintf(buf, size, "%.*s", (int)o->size, v->text ? v->text : "");
    else if (o->print_g) snprintf(buf, size, "%g", v->r);
    else shortest(v->r, real), snprintf(buf, size, "%s", real); /* whole, then cut: as one snprintf did */
}

void cd_option_format(const cd_option *o, const cd_train_config *cfg, char *buf, size_t size)
{
    if (!size) return;
    const cd_option *off = o->disabled_by ? cd_option_find(o->disabled_by, strlen(o->disabled_by)) : NULL;
    if (off && read_field(off, cfg).i) {
        snprintf(buf, size, "(disabled)");
        return;
    }
    field_value v = read_field(o, cfg);
    if (o->kind == CD_OPT_RESUME) v.text = v.i == CD_RESUME_FILE ? cfg->resume_path : "";
    print_value(o, &v, buf, size);
}

void cd_option_format_default(const cd_option *o, char *buf, size_t size)
{
    if (!size) return;
    field_value v = {.i = o->def_int, .u = (uint64_t)o->def_int, .r = o->def_real, .text = o->def_text};
    print_value(o, &v, buf, size);
}

void cd_train_config_format(const cd_train_config *c, char *buf, size_t size)
{
    size_t used = 0;
    if (!size) return;
    buf[0] = '\0';
    for (size_t k = 0; k < sizeof options / sizeof options[0] && used + 1 < size; k++) {
        const cd_option *o = &options[k];
        if (!o->key) continue;
        int n = snprintf(buf + used, size - used, "%s=", o->key);
        used += n > 0 && (size_t)n < size - used ? (size_t)n : size - used - 1;
        cd_option_format(o, c, buf + used, size - used);
        used += strlen(buf + used);
        n = snprintf(buf + used, size - used, "\n");
        used += n > 0 && (size_t)n < size - used ? (size_t)n : size - used - 1;
    }
}
