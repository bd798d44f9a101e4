/* The model description language: built-in names, a small hand-written parser for the layer text,
 * and the canonical form stored in checkpoints. Every refusal names the 1-based column so a user
 * can find the mistake in a long --model string. */
#include "cnn_ddp/spec.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cnn_ddp/suggest.h"

#define SPEC_MAX_OUT 65536
#define SPEC_MAX_KERNEL 64
#define SPEC_MAX_STRIDE 64

/* The built-in nets end in fc(classes): the data set's K (cd_spec_set_classes). */
static const char SEED_SPEC[] = "conv(10,k=5) pool(2) relu conv(20,k=5) pool(2) relu fc(classes)";
/* 3 conv, 3 ReLU, 3 max-pool, 3 linear, as the brief defines it: no ReLU between the linear layers.
 * 28 -> 14 -> 7 -> 3 after the three pools, so fc(128) sees 64*3*3 = 576 inputs. */
static const char EXERCISE_SPEC[] = "conv(16,k=3,p=1) relu pool(2) conv(32,k=3,p=1) relu pool(2) "
                                    "conv(64,k=3,p=1) relu pool(2) fc(128) fc(64) fc(classes)";
/* Six weight layers under PyTorch's default init (each layer scales the signal by about 1/sqrt(3)) learn
 * slowly at the seed net's lr 0.01: after 10 epochs of the shared MNIST the exercise net is still
 * underfitting (train 98.5%, test 98.1%). At a constant 0.05 it fits (train 99.6%) but its last-step
 * test accuracy swings by a point between seeds (98.0-98.8%); decaying 0.05 along a cosine settles it
 * (98.8-99.1%, seeds 1-6). The measurements are in the README ("Seed vs. exercise"). */
static const cd_model_recipe EXERCISE_RECIPE = {0.05, 1};
static const cd_model_recipe SEED_RECIPE = {0.01, 0};

typedef struct parser {
    const char *text;
    size_t pos;
    cd_error *err;
} parser;

/* Which argument of a layer a key or the positional slot fills. */
typedef enum arg_slot { SLOT_OUT = 0, SLOT_K, SLOT_S, SLOT_P, SLOT_COUNT } arg_slot;

static const char *const SLOT_NAME[SLOT_COUNT] = {"output count", "kernel size", "stride", "pad"};

static cd_status fail_at(const parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static cd_status fail_at(const parser *p, size_t pos, const char *fmt, ...)
{
    char reason[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return CD_FAIL(p->err, CD_E_INPUT, "model spec at %zu: %s", pos + 1, reason);
}

static char peek(const parser *p) { return p->text[p->pos]; }
static int is_space(char c) { return isspace((unsigned char)c) != 0; }
static int is_ident_start(char c) { return isalpha((unsigned char)c) != 0; }
static int is_ident(char c) { return isalnum((unsigned char)c) != 0 || c == '_'; }

static void skip_space(parser *p)
{
    while (is_space(peek(p))) p->pos++;
}

/* Length of the identifier at the current position (0 if none). */
static size_t ident_len(const parser *p)
{
    size_t n = 0;
    if (!is_ident_start(p->text[p->pos])) return 0;
    while (is_ident(p->text[p->pos + n])) n++;
    return n;
}

static int word_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && strncmp(s, word, n) == 0;
}

/* The layer types' own names (cd_layer_type_name), and "linear" for fc, as PyTorch calls it. */
static int lookup_layer(const char *s, size_t n, cd_layer_type *t)
{
    for (int k = 0; k < CD_LAYER_TYPES; k++)
        if (word_is(s, n, cd_layer_type_name((cd_layer_type)k))) {
            *t = (cd_layer_type)k;
            return 1;
        }
    if (!word_is(s, n, "linear")) return 0;
    *t = CD_LAYER_LINEAR;
    return 1;
}

/* A pool's positional argument is its kernel size; conv's and fc's the output count. */
static arg_slot positional_slot(cd_layer_type t) { return t == CD_LAYER_POOL ? SLOT_K : SLOT_OUT; }

static const char *example(cd_layer_type t)
{
    return t == CD_LAYER_CONV ? "conv(10,k=5)" : t == CD_LAYER_POOL ? "pool(2)" : "fc(10) or fc(classes)";
}

/* Maps a key to its slot for this layer type; -1 if the layer has no such key. */
static int lookup_key(cd_layer_type t, const char *s, size_t n)
{
    if (t == CD_LAYER_CONV) {
        if (word_is(s, n, "k") || word_is(s, n, "kernel")) return SLOT_K;
        if (word_is(s, n, "s") || word_is(s, n, "stride")) return SLOT_S;
        if (word_is(s, n, "p") || word_is(s, n, "pad") || word_is(s, n, "padding")) return SLOT_P;
    } else if (t == CD_LAYER_POOL) {
        if (word_is(s, n, "s") || word_is(s, n, "stride")) return SLOT_S;
    }
    return -1;
}

/* Reads a decimal integer token. Anything else up to the next separator is reported whole, so
 * "k=2.5" says "found '2.5'" rather than complaining about the '.'. */
static cd_status parse_int(parser *p, const char *what, long long *value)
{
    size_t start = p->pos, i = start;
    const char *t = p->text;
    int neg = 0;
    if (t[i] == '+' || t[i] == '-') neg = t[i++] == '-';
    size_t digits = 0;
    long long v = 0;
    while (isdigit((unsigned char)t[i])) {
        if (v < 1000000000000LL) v = v * 10 + (t[i] - '0'); /* saturate: the range check refuses it */
        i++;
        digits++;
    }
    if (digits == 0 || !(t[i] == '\0' || t[i] == ',' || t[i] == ')' || is_space(t[i]))) {
        size_t end = start;
        while (t[end] && t[end] != ',' && t[end] != ')' && !is_space(t[end]) && end - start < 32) end++;
        if (end == start) return fail_at(p, start, "expected an integer %s, found nothing", what);
        return fail_at(p, start, "expected an integer %s, found '%.*s'", what, (int)(end - start),
                       t + start);
    }
    p->pos = i;
    *value = neg ? -v : v;
    return CD_OK;
}

static cd_status check_range(const parser *p, size_t pos, const char *layer, arg_slot slot,
                             long long v)
{
    long long lo = slot == SLOT_P ? 0 : 1;
    long long hi = slot == SLOT_OUT ? SPEC_MAX_OUT
                 : slot == SLOT_K   ? SPEC_MAX_KERNEL
                 : slot == SLOT_S   ? SPEC_MAX_STRIDE
                                    : SPEC_MAX_KERNEL - 1;
    if (v < lo || v > hi)
        return fail_at(p, pos, "%s %s %lld is out of range %lld..%lld", layer, SLOT_NAME[slot], v, lo,
                       hi);
    return CD_OK;
}

/* The slot of the argument at the current position: a "key=" (consumed) or, for the first argument
 * only, the layer's positional slot. */
static cd_status parse_slot(parser *p, const cd_layer_spec *L, int argi, const int *have, const size_t *where,
                            int *out)
{
    const char *lname = cd_layer_type_name(L->type);
    const arg_slot first = positional_slot(L->type);
    const size_t arg_pos = p->pos, klen = ident_len(p);
    if (argi == 0 && L->type == CD_LAYER_LINEAR && word_is(p->text + p->pos, klen, "classes"))
        return *out = first, CD_OK; /* fc(classes): the value, read by parse_args */
    if (klen == 0) {
        if (argi == 0) return *out = first, CD_OK;
        if (L->type == CD_LAYER_LINEAR) return fail_at(p, arg_pos, "fc takes a single argument, its output count");
        return fail_at(p, arg_pos, "only the first argument of %s is positional; name the others (%s)", lname,
                       L->type == CD_LAYER_CONV ? "k=, s=, p=" : "s=");
    }
    const char *key = p->text + p->pos;
    if (argi == 0)
        return fail_at(p, arg_pos, "%s needs its %s first, without a key, e.g. %s", lname, SLOT_NAME[first],
                       example(L->type));
    const int slot = lookup_key(L->type, key, klen);
    if (slot < 0) {
        if (L->type == CD_LAYER_LINEAR)
            return fail_at(p, arg_pos, "unknown key '%.*s': fc takes only its output count, e.g. fc(10)", (int)klen, key);
        return fail_at(p, arg_pos, "unknown key '%.*s' for %s (known: %s)", (int)klen, key, lname,
                       L->type == CD_LAYER_CONV ? "k, s, p" : "s");
    }
    if (have[slot])
        return fail_at(p, arg_pos, "duplicate key '%.*s' for %s (its %s was already given at %zu)", (int)klen, key,
                       lname, SLOT_NAME[slot], where[slot] + 1);
    p->pos += klen;
    skip_space(p);
    if (peek(p) != '=') return fail_at(p, p->pos, "expected '=' after key '%.*s'", (int)klen, key);
    p->pos++;
    skip_space(p);
    *out = slot;
    return CD_OK;
}

/* The parsed arguments into the layer, with the defaults of those not given. */
static cd_status apply_args(const parser *p, cd_layer_spec *L, const int *have, const size_t *where,
                            const long long *val)
{
    if (L->type == CD_LAYER_CONV) {
        L->out = (int)val[SLOT_OUT];
        L->k = have[SLOT_K] ? (int)val[SLOT_K] : 3;
        L->stride = have[SLOT_S] ? (int)val[SLOT_S] : 1;
        L->pad = have[SLOT_P] ? (int)val[SLOT_P] : 0;
        /* A pad of k or more would add output positions whose window holds only padding zeros. */
        if (L->pad > L->k - 1)
            return fail_at(p, where[SLOT_P],
                           "conv pad %d must be 0..%d, less than the kernel size %d (a wider pad only "
                           "adds outputs that see nothing but zeros)",
                           L->pad, L->k - 1, L->k);
    } else if (L->type == CD_LAYER_POOL) {
        L->k = (int)val[SLOT_K];
        L->stride = have[SLOT_S] ? (int)val[SLOT_S] : L->k;
    } else {
        L->out = (int)val[SLOT_OUT];
    }
    return CD_OK;
}

/* Parses "(...)" after a conv/pool/fc name into the layer. The '(' is at the current position. */
static cd_status parse_args(parser *p, cd_layer_spec *L)
{
    const char *lname = cd_layer_type_name(L->type);
    const size_t open = p->pos;
    const arg_slot first = positional_slot(L->type);
    int have[SLOT_COUNT] = {0};
    size_t where[SLOT_COUNT] = {0};
    long long val[SLOT_COUNT] = {0};
    p->pos++;
    for (int argi = 0;; argi++) {
        skip_space(p);
        if (peek(p) == '\0') return fail_at(p, p->pos, "missing ')' to close the '(' at %zu", open + 1);
        if (peek(p) == ')' && argi == 0)
            return fail_at(p, p->pos, "%s needs its %s first, e.g. %s", lname, SLOT_NAME[first], example(L->type));
        int slot = first;
        CD_TRY(parse_slot(p, L, argi, have, where, &slot));
        const size_t vpos = p->pos;
        long long v = 0;
        char what[48];
        snprintf(what, sizeof what, "for the %s %s", lname, SLOT_NAME[slot]);
        const size_t word = ident_len(p);
        if (L->type == CD_LAYER_LINEAR && slot == SLOT_OUT && word_is(p->text + p->pos, word, "classes")) {
            p->pos += word; /* the data set's number of classes, filled in by cd_spec_set_classes */
            v = CD_SPEC_CLASSES;
        } else {
            CD_TRY(parse_int(p, what, &v));
            CD_TRY(check_range(p, vpos, lname, (arg_slot)slot, v));
        }
        have[slot] = 1;
        where[slot] = vpos;
        val[slot] = v;
        skip_space(p);
        if (peek(p) == ',') {
            p->pos++;
            skip_space(p);
            if (peek(p) == ')') return fail_at(p, p->pos, "expected an argument after ','");
            continue;
        }
        if (peek(p) == ')') {
            p->pos++;
            break;
        }
        if (peek(p) == '\0') return fail_at(p, p->pos, "missing ')' to close the '(' at %zu", open + 1);
        return fail_at(p, p->pos, "expected ',' or ')' but found '%c' (missing ')'?)", peek(p));
    }
    return apply_args(p, L, have, where, val);
}

static int format_layer(const cd_layer_spec *L, char *buf, size_t size)
{
    switch (L->type) {
    case CD_LAYER_CONV:
        return snprintf(buf, size, "conv(%d,k=%d,s=%d,p=%d)", L->out, L->k, L->stride, L->pad);
    case CD_LAYER_POOL: return snprintf(buf, size, "pool(%d,s=%d)", L->k, L->stride);
    case CD_LAYER_RELU: return snprintf(buf, size, "relu");
    case CD_LAYER_FLATTEN: return snprintf(buf, size, "flatten");
    case CD_LAYER_LINEAR:
        return L->out == CD_SPEC_CLASSES ? snprintf(buf, size, "fc(classes)") : snprintf(buf, size, "fc(%d)", L->out);
    }
    return snprintf(buf, size, "?");
}

static cd_status parse_layers(parser *p, cd_model_spec *spec)
{
    size_t last_start = 0, canon_len = 0;
    int flat = 0; /* set once an fc or flatten has turned the activations into a vector */
    const char *flat_by = "";
    spec->n_layers = 0;
    for (;;) {
        skip_space(p);
        if (peek(p) == '\0') break;
        size_t start = p->pos;
        size_t n = ident_len(p);
        if (n == 0) {
            if (spec->n_layers > 0 && (peek(p) == ',' || peek(p) == '-'))
                return fail_at(p, start, "expected a layer name, found '%c' (separate layers with spaces)",
                               peek(p));
            return fail_at(p, start, "expected a layer name, found '%c'", peek(p));
        }
        const char *name = p->text + start;
        cd_layer_type type;
        if (!lookup_layer(name, n, &type)) {
            if (word_is(name, n, "seed") || word_is(name, n, "exercise"))
                return fail_at(p, start, "'%.*s' is a built-in model name and must stand alone", (int)n, name);
            /* A word alone may be a mistyped built-in model; a word among layers, a mistyped layer. */
            const int alone = spec->n_layers == 0 && name[n + strspn(name + n, " \t\n")] == '\0';
            static const char *const words[] = {"seed", "exercise", "conv", "pool", "relu", "flatten", "fc", "linear"};
            const char *close = alone ? cd_suggest(name, n, words, 8) : cd_suggest(name, n, words + 2, 6);
            if (close)
                return fail_at(p, start, "unknown %s '%.*s' (did you mean %s?)", alone ? "model" : "layer",
                               n > 32 ? 32 : (int)n, name, close);
            if (alone)
                return fail_at(p, start, "unknown model '%.*s' (built-in: seed, exercise; or a spec of layers: conv, "
                               "pool, relu, flatten, fc, linear)", n > 32 ? 32 : (int)n, name);
            return fail_at(p, start, "unknown layer '%.*s' (known: conv, pool, relu, flatten, fc, linear)",
                           n > 32 ? 32 : (int)n, name);
        }
        if (spec->n_layers == CD_MAX_LAYERS)
            return fail_at(p, start, "more than %d layers", CD_MAX_LAYERS);
        if ((type == CD_LAYER_CONV || type == CD_LAYER_POOL) && flat)
            return fail_at(p, start,
                           "%.*s after %s: %s flattens its input to a vector, so conv and pool must "
                           "come before it",
                           (int)n, name, flat_by, flat_by);
        p->pos += n;
        cd_layer_spec *L = &spec->layers[spec->n_layers];
        *L = (cd_layer_spec){.type = type, .out = 0, .k = 0, .stride = 0, .pad = 0};
        size_t after_name = p->pos;
        skip_space(p);
        if (peek(p) == '(') {
            if (type == CD_LAYER_RELU || type == CD_LAYER_FLATTEN)
                return fail_at(p, p->pos, "%s takes no arguments", cd_layer_type_name(type));
            CD_TRY(parse_args(p, L));
            if (peek(p) != '\0' && !is_space(peek(p)))
                return fail_at(p, p->pos,
                               "expected a space after ')', found '%c' (separate layers with spaces)", peek(p));
        } else if (type != CD_LAYER_RELU && type != CD_LAYER_FLATTEN) {
            return fail_at(p, after_name, "expected '(' after %.*s, e.g. %s", (int)n, name, example(type));
        } else if (p->pos == after_name && peek(p) != '\0') {
            return fail_at(p, p->pos,
                           "expected a space after %.*s, found '%c' (separate layers with spaces)", (int)n,
                           name, peek(p));
        }
        if (type == CD_LAYER_LINEAR || type == CD_LAYER_FLATTEN) {
            if (!flat) flat_by = cd_layer_type_name(type);
            flat = 1;
        }
        /* The canonical text must fit the checkpoint's fixed-size attribute. */
        size_t add = (size_t)format_layer(L, NULL, 0) + (spec->n_layers > 0 ? 1 : 0);
        if (canon_len + add > CD_SPEC_TEXT_MAX - 1)
            return fail_at(p, start, "the canonical form of the spec would exceed %d characters",
                           CD_SPEC_TEXT_MAX - 1);
        canon_len += add;
        last_start = start;
        spec->n_layers++;
    }
    if (spec->n_layers == 0)
        return fail_at(p, 0, "empty; give 'seed', 'exercise' or layers such as "
                                  "'conv(10,k=5) pool(2) relu fc(10)'");
    /* A spec that does not end in fc gets fc(classes), the class scores, appended. */
    if (spec->layers[spec->n_layers - 1].type != CD_LAYER_LINEAR) {
        if (spec->n_layers == CD_MAX_LAYERS)
            return fail_at(p, last_start, "more than %d layers with the fc(classes) appended after the last one",
                           CD_MAX_LAYERS);
        if (canon_len + strlen(" fc(classes)") > CD_SPEC_TEXT_MAX - 1)
            return fail_at(p, last_start, "the canonical form of the spec would exceed %d characters",
                           CD_SPEC_TEXT_MAX - 1);
        spec->layers[spec->n_layers++] = (cd_layer_spec){.type = CD_LAYER_LINEAR, .out = CD_SPEC_CLASSES};
    }
    return CD_OK;
}

/* True when text, ignoring surrounding whitespace, is exactly `name`. */
static int is_builtin(const char *text, const char *name)
{
    while (is_space(*text)) text++;
    size_t n = strlen(name);
    if (strncmp(text, name, n) != 0) return 0;
    for (text += n; *text; text++)
        if (!is_space(*text)) return 0;
    return 1;
}

cd_status cd_spec_parse(const char *text, cd_model_spec *out, cd_error *err)
{
    if (text == NULL) text = "";
    const char *body = text;
    if (is_builtin(text, "seed")) body = SEED_SPEC;
    else if (is_builtin(text, "exercise")) body = EXERCISE_SPEC;
    parser p = {.text = body, .pos = 0, .err = err};
    cd_model_spec spec;
    memset(&spec, 0, sizeof spec);
    cd_status st = parse_layers(&p, &spec);
    if (st != CD_OK) {
        memset(out, 0, sizeof *out);
        return st;
    }
    *out = spec;
    return CD_OK;
}

void cd_spec_set_classes(cd_model_spec *spec, int classes)
{
    for (int i = 0; i < spec->n_layers; i++)
        if (spec->layers[i].out == CD_SPEC_CLASSES) spec->layers[i].out = classes;
}

cd_model_recipe cd_spec_default_recipe(const char *text)
{
    return text && is_builtin(text, "exercise") ? EXERCISE_RECIPE : SEED_RECIPE;
}

void cd_spec_format(const cd_model_spec *spec, char *buf, size_t size)
{
    if (size == 0) return;
    buf[0] = '\0';
    size_t used = 0;
    for (int i = 0; i < spec->n_layers; i++) {
        /* Truncates (still NUL-terminated) when buf is too small; CD_SPEC_TEXT_MAX always suffices
         * for a spec that cd_spec_parse accepted. */
        if (i > 0 && used + 1 < size) {
            buf[used++] = ' ';
            buf[used] = '\0';
        }
        if (used + 1 >= size) return;
        int w = format_layer(&spec->layers[i], buf + used, size - used);
        if (w < 0) return;
        used += (size_t)w;
        if (used >= size) return;
    }
}
