/* The model spec language: built-ins, custom stacks, the canonical form, and every refusal with the
 * exact column it names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cnn_ddp/spec.h"
#include "test_support.h"

static void expect_layer(const cd_layer_spec *L, cd_layer_type type, int out, int k, int stride, int pad)
{
    assert_int_equal(L->type, type);
    assert_int_equal(L->out, out);
    assert_int_equal(L->k, k);
    assert_int_equal(L->stride, stride);
    assert_int_equal(L->pad, pad);
}

static void parse_ok(const char *text, cd_model_spec *spec)
{
    cd_error err = {0};
    cd_status st = cd_spec_parse(text, spec, &err);
    if (st != CD_OK) fail_msg("'%s' was refused: %s", text, err.msg);
}

static void format_is(const char *text, const char *canonical)
{
    cd_model_spec spec;
    char buf[CD_SPEC_TEXT_MAX];
    parse_ok(text, &spec);
    cd_spec_format(&spec, buf, sizeof buf);
    assert_string_equal(buf, canonical);
}

/* The canonical text once the data set's K is known. */
static void classes_format_is(const char *text, int classes, const char *canonical)
{
    cd_model_spec spec;
    char buf[CD_SPEC_TEXT_MAX];
    parse_ok(text, &spec);
    cd_spec_set_classes(&spec, classes);
    cd_spec_format(&spec, buf, sizeof buf);
    assert_string_equal(buf, canonical);
}

/* The refusal must be CD_E_INPUT, start "model spec at <col>: " and contain `reason`. */
static void expect_error(const char *text, int col, const char *reason)
{
    cd_model_spec spec;
    memset(&spec, 0x5a, sizeof spec);
    cd_error err = {0};
    cd_status st = cd_spec_parse(text, &spec, &err);
    if (st != CD_E_INPUT) fail_msg("'%s': expected CD_E_INPUT, got %d (%s)", text, (int)st, err.msg);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "model spec at %d: ", col);
    if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
        fail_msg("'%s': expected a message starting '%s', got '%s'", text, prefix, err.msg);
    if (strstr(err.msg, reason) == NULL)
        fail_msg("'%s': expected '%s' in '%s'", text, reason, err.msg);
    assert_int_equal(spec.n_layers, 0);
}

static void test_seed(void **state)
{
    (void)state;
    cd_model_spec s;
    parse_ok("seed", &s);
    assert_int_equal(s.n_layers, 7);
    expect_layer(&s.layers[0], CD_LAYER_CONV, 10, 5, 1, 0);
    expect_layer(&s.layers[1], CD_LAYER_POOL, 0, 2, 2, 0);
    expect_layer(&s.layers[2], CD_LAYER_RELU, 0, 0, 0, 0);
    expect_layer(&s.layers[3], CD_LAYER_CONV, 20, 5, 1, 0);
    expect_layer(&s.layers[4], CD_LAYER_POOL, 0, 2, 2, 0);
    expect_layer(&s.layers[5], CD_LAYER_RELU, 0, 0, 0, 0);
    expect_layer(&s.layers[6], CD_LAYER_LINEAR, CD_SPEC_CLASSES, 0, 0, 0);
    format_is("seed", "conv(10,k=5,s=1,p=0) pool(2,s=2) relu conv(20,k=5,s=1,p=0) pool(2,s=2) relu fc(classes)");
    /* With MNIST's ten classes filled in: the canonical text checkpoints have always held. */
    classes_format_is("  seed\n", 10,
                      "conv(10,k=5,s=1,p=0) pool(2,s=2) relu conv(20,k=5,s=1,p=0) pool(2,s=2) relu fc(10)");
}

static void test_exercise(void **state)
{
    (void)state;
    cd_model_spec s;
    parse_ok("exercise", &s);
    assert_int_equal(s.n_layers, 12); /* 3 conv, 3 relu, 3 pool, 3 fc: no ReLU between the fc layers */
    for (int b = 0; b < 3; b++) {
        expect_layer(&s.layers[3 * b], CD_LAYER_CONV, 16 << b, 3, 1, 1);
        expect_layer(&s.layers[3 * b + 1], CD_LAYER_RELU, 0, 0, 0, 0);
        expect_layer(&s.layers[3 * b + 2], CD_LAYER_POOL, 0, 2, 2, 0);
    }
    expect_layer(&s.layers[9], CD_LAYER_LINEAR, 128, 0, 0, 0);
    expect_layer(&s.layers[10], CD_LAYER_LINEAR, 64, 0, 0, 0);
    expect_layer(&s.layers[11], CD_LAYER_LINEAR, CD_SPEC_CLASSES, 0, 0, 0);
    /* 28 -> 14 -> 7 -> 3 (same-size convs, floor pooling): 64*3*3 = 576 inputs to fc(128). */
    int hw = 28;
    for (int i = 0; i < s.n_layers; i++) {
        const cd_layer_spec *L = &s.layers[i];
        if (L->type == CD_LAYER_CONV) hw = (hw + 2 * L->pad - L->k) / L->stride + 1;
        if (L->type == CD_LAYER_POOL) hw = (hw - L->k) / L->stride + 1;
    }
    assert_int_equal(64 * hw * hw, 576);
}

/* The exercise net trains at 0.05 along a cosine unless told otherwise; everything else at the seed
 * recipe's constant 0.01. */
static void expect_recipe(const char *text, double lr, int cosine)
{
    cd_model_recipe r = cd_spec_default_recipe(text);
    if (r.lr != lr || r.cosine != cosine)
        fail_msg("'%s': recipe lr %g cosine %d, expected %g %d", text ? text : "(null)", r.lr, r.cosine, lr, cosine);
}

/* fc(classes) is the data set's K; a spec not ending in fc gets fc(classes) appended. */
static void test_classes(void **state)
{
    (void)state;
    classes_format_is("conv(8) relu", 12, "conv(8,k=3,s=1,p=0) relu fc(12)");
    classes_format_is("conv(8)", 47, "conv(8,k=3,s=1,p=0) fc(47)");
    classes_format_is("conv(8) fc(32) fc(classes)", 3, "conv(8,k=3,s=1,p=0) fc(32) fc(3)");
    classes_format_is("fc( classes )", 5, "fc(5)");
    /* an fc of its own at the end stays: a wrong count is the model's to refuse, naming K */
    classes_format_is("conv(8) fc(10)", 12, "conv(8,k=3,s=1,p=0) fc(10)");
    format_is("conv(8) relu", "conv(8,k=3,s=1,p=0) relu fc(classes)");
    classes_format_is("exercise", 12, "conv(16,k=3,s=1,p=1) relu pool(2,s=2) conv(32,k=3,s=1,p=1) relu pool(2,s=2) "
                                      "conv(64,k=3,s=1,p=1) relu pool(2,s=2) fc(128) fc(64) fc(12)");
}

static void test_default_recipe(void **state)
{
    (void)state;
    expect_recipe("exercise", 0.05, 1);
    expect_recipe("  exercise\n", 0.05, 1);
    expect_recipe("seed", 0.01, 0);
    expect_recipe("exercises", 0.01, 0);
    expect_recipe("conv(16,k=3,p=1) relu pool(2) fc(10)", 0.01, 0);
    expect_recipe(NULL, 0.01, 0);
}

static void test_custom_specs(void **state)
{
    (void)state;
    cd_model_spec s;
    parse_ok("conv(8,k=1) fc(10)", &s); /* 1x1 conv */
    assert_int_equal(s.n_layers, 2);
    expect_layer(&s.layers[0], CD_LAYER_CONV, 8, 1, 1, 0);

    parse_ok("conv(8,k=3,s=2) fc(10)", &s);
    expect_layer(&s.layers[0], CD_LAYER_CONV, 8, 3, 2, 0);

    parse_ok("conv(8,kernel=5,stride=2,pad=2) relu fc(10)", &s);
    expect_layer(&s.layers[0], CD_LAYER_CONV, 8, 5, 2, 2);

    parse_ok("conv(8,p=2,k=5) fc(10)", &s); /* key order is free; pad checked against the final k */
    expect_layer(&s.layers[0], CD_LAYER_CONV, 8, 5, 1, 2);

    parse_ok("conv(4) fc(10)", &s); /* defaults k=3, s=1, p=0 */
    expect_layer(&s.layers[0], CD_LAYER_CONV, 4, 3, 1, 0);

    parse_ok("conv( 8 , k = 5 ) fc(10)", &s); /* spaces inside the parentheses */
    expect_layer(&s.layers[0], CD_LAYER_CONV, 8, 5, 1, 0);

    parse_ok("conv (8) fc (10)", &s); /* and before them */
    expect_layer(&s.layers[0], CD_LAYER_CONV, 8, 3, 1, 0);
    expect_layer(&s.layers[1], CD_LAYER_LINEAR, 10, 0, 0, 0);

    parse_ok("pool(3,s=1) fc(10)", &s);
    expect_layer(&s.layers[0], CD_LAYER_POOL, 0, 3, 1, 0);
    parse_ok("pool(3) fc(10)", &s); /* stride defaults to the kernel */
    expect_layer(&s.layers[0], CD_LAYER_POOL, 0, 3, 3, 0);
    parse_ok("pool(2,stride=1) fc(10)", &s);
    expect_layer(&s.layers[0], CD_LAYER_POOL, 0, 2, 1, 0);

    parse_ok("linear(10)", &s);
    assert_int_equal(s.n_layers, 1);
    expect_layer(&s.layers[0], CD_LAYER_LINEAR, 10, 0, 0, 0);

    parse_ok("flatten fc(64) relu fc(10)", &s);
    assert_int_equal(s.n_layers, 4);
    assert_int_equal(s.layers[0].type, CD_LAYER_FLATTEN);
    expect_layer(&s.layers[1], CD_LAYER_LINEAR, 64, 0, 0, 0);
    assert_int_equal(s.layers[2].type, CD_LAYER_RELU);

    parse_ok("\tconv(8,k=5)\n pool(2)\r\nfc(10)  ", &s); /* any whitespace separates */
    assert_int_equal(s.n_layers, 3);

    parse_ok("conv(65536,k=64,s=64,p=63) fc(65536)", &s); /* every upper bound */
    expect_layer(&s.layers[0], CD_LAYER_CONV, 65536, 64, 64, 63);
    expect_layer(&s.layers[1], CD_LAYER_LINEAR, 65536, 0, 0, 0);

    parse_ok("fc(10) flatten relu fc(10)", &s); /* flatten/relu after fc are harmless */
    assert_int_equal(s.n_layers, 4);

    char many[CD_SPEC_TEXT_MAX];
    many[0] = '\0';
    for (int i = 0; i < CD_MAX_LAYERS - 1; i++) strcat(many, "relu ");
    strcat(many, "fc(10)");
    parse_ok(many, &s);
    assert_int_equal(s.n_layers, CD_MAX_LAYERS);
}

static void test_round_trip(void **state)
{
    (void)state;
    const char *texts[] = {
        "seed", "exercise", "conv(8,k=1) fc(10)", "conv(8,kernel=5,stride=2,pad=2) relu fc(10)",
        "pool(3) flatten linear(10)", "conv(65536,k=64,s=64,p=63) fc(65536)",
        "conv(16,k=3,p=1) relu conv(16,k=3,p=1) relu pool(2) conv(32,k=5,s=2,p=2) fc(32) relu fc(10)",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        cd_model_spec a, b;
        char fa[CD_SPEC_TEXT_MAX], fb[CD_SPEC_TEXT_MAX];
        parse_ok(texts[i], &a);
        cd_spec_format(&a, fa, sizeof fa);
        parse_ok(fa, &b);
        cd_spec_format(&b, fb, sizeof fb);
        assert_string_equal(fa, fb);
        assert_int_equal(a.n_layers, b.n_layers);
        assert_memory_equal(a.layers, b.layers, sizeof a.layers[0] * (size_t)a.n_layers);
    }
    format_is("pool(3) flatten linear(10)", "pool(3,s=3) flatten fc(10)");
    format_is("conv(8,kernel=5,stride=2,pad=2) relu fc(10)", "conv(8,k=5,s=2,p=2) relu fc(10)");

    /* A short buffer truncates but stays a NUL-terminated prefix of the canonical form. */
    cd_model_spec s;
    parse_ok("seed", &s);
    char small[12];
    memset(small, 'x', sizeof small);
    cd_spec_format(&s, small, sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, "conv(10,k=5", sizeof small - 1);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("conv(10,k=5) cnv(3) fc(10)", 14, "unknown layer 'cnv'");
    expect_error("Conv(10) fc(10)", 1, "unknown layer 'Conv'");
    expect_error("seed relu", 1, "built-in model name");
    expect_error("conv(10,k=5 fc(10)", 13, "missing ')'");
    expect_error("conv(10,k=5", 12, "missing ')' to close the '(' at 5");
    expect_error("fc(10", 6, "missing ')'");
    expect_error("conv(10,k=2.5) fc(10)", 11, "expected an integer for the conv kernel size, found '2.5'");
    expect_error("conv(ten) fc(10)", 6, "needs its output count first");
    expect_error("conv(1x) fc(10)", 6, "found '1x'");
    expect_error("conv(8,k=) fc(10)", 10, "found nothing");
    expect_error("conv(0) fc(10)", 6, "conv output count 0 is out of range 1..65536");
    expect_error("conv(65537) fc(10)", 6, "out of range 1..65536");
    expect_error("conv(-1) fc(10)", 6, "out of range 1..65536");
    expect_error("conv(99999999999999999999999) fc(10)", 6, "out of range");
    expect_error("fc(0)", 4, "fc output count 0 is out of range 1..65536");
    expect_error("conv(8,k=65) fc(10)", 10, "conv kernel size 65 is out of range 1..64");
    expect_error("conv(8,k=0) fc(10)", 10, "out of range 1..64");
    expect_error("conv(8,k=3,s=0) fc(10)", 14, "conv stride 0 is out of range 1..64");
    expect_error("pool(2,s=65) fc(10)", 10, "pool stride 65 is out of range 1..64");
    expect_error("pool(0) fc(10)", 6, "pool kernel size 0 is out of range 1..64");
    expect_error("conv(8,k=3,p=3) fc(10)", 14, "pad 3 must be 0..2, less than the kernel size 3");
    expect_error("conv(8,p=1,k=1) fc(10)", 10, "pad 1 must be 0..0");
    expect_error("conv(8,p=-1) fc(10)", 10, "pad -1 is out of range");
    expect_error("conv(8,q=1) fc(10)", 8, "unknown key 'q' for conv");
    expect_error("pool(2,k=2) fc(10)", 8, "unknown key 'k' for pool");
    expect_error("fc(10,k=3)", 7, "unknown key 'k'");
    expect_error("conv(8,k=3,kernel=5) fc(10)", 12, "duplicate key 'kernel' for conv (its kernel size was already given at 10)");
    expect_error("pool(2,s=1,s=1) fc(10)", 12, "duplicate key 's'");
    expect_error("conv(k=3) fc(10)", 6, "conv needs its output count first");
    expect_error("pool() fc(10)", 6, "pool needs its kernel size first");
    expect_error("conv(8,3) fc(10)", 8, "only the first argument of conv is positional");
    expect_error("fc(10,10)", 7, "fc takes a single argument");
    expect_error("conv(8,) fc(10)", 8, "expected an argument after ','");
    expect_error("conv(8 k=3) fc(10)", 8, "expected ',' or ')'");
    expect_error("conv(8,k 3) fc(10)", 10, "expected '=' after key 'k'");
    expect_error("conv fc(10)", 5, "expected '(' after conv");
    expect_error("relu(1) fc(10)", 5, "relu takes no arguments");
    expect_error("relu() fc(10)", 5, "relu takes no arguments");
    expect_error("flatten(2) fc(10)", 8, "flatten takes no arguments");
    expect_error("conv(8),fc(10)", 8, "expected a space after ')'");
    expect_error("conv(8) -> fc(10)", 9, "separate layers with spaces");
    expect_error("relu,fc(10)", 5, "expected a space after relu");
    expect_error("", 1, "empty");
    expect_error("   \n", 1, "empty");
    expect_error(NULL, 1, "empty");
    expect_error("fc(100) conv(8) fc(10)", 9, "conv after fc: fc flattens its input");
    expect_error("fc(100) relu pool(2) fc(10)", 14, "pool after fc");
    expect_error("flatten conv(8) fc(10)", 9, "conv after flatten");
    expect_error("fc(classes,k=3)", 12, "unknown key 'k': fc takes only its output count");
    expect_error("fc(class)", 4, "fc needs its output count first, without a key, e.g. fc(10) or fc(classes)");

    char many[CD_SPEC_TEXT_MAX];
    many[0] = '\0';
    for (int i = 0; i < CD_MAX_LAYERS; i++) strcat(many, "relu ");
    strcat(many, "fc(10)");
    expect_error(many, 5 * CD_MAX_LAYERS + 1, "more than 64 layers");

    /* 27 canonical characters per widest conv: the 38th would pass 1023. */
    char wide[2 * CD_SPEC_TEXT_MAX];
    wide[0] = '\0';
    for (int i = 0; i < 40; i++) strcat(wide, "conv(65536,k=64,s=64,p=63) ");
    strcat(wide, "fc(10)");
    expect_error(wide, 37 * 27 + 1, "canonical form of the spec would exceed 1023 characters");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed),        cmocka_unit_test(test_exercise),
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_custom_specs), cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_errors),      cmocka_unit_test(test_default_recipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
