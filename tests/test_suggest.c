/* "did you mean": the edit distance (swaps count once, case ignored), the closeness rule (at most 2 edits
 * and fewer than the word's letters, else a prefix), and the messages that use it: training flags,
 * subcommands, model and layer names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cnn_ddp/cli.h"
#include "cnn_ddp/spec.h"
#include "cnn_ddp/suggest.h"

static size_t dist(const char *a, const char *b) { return cd_edit_distance(a, strlen(a), b); }

static void test_distance(void **state)
{
    (void)state;
    assert_int_equal(dist("batch", "batch"), 0);
    assert_int_equal(dist("BATCH", "batch"), 0);
    assert_int_equal(dist("bach", "batch"), 1);     /* a deletion */
    assert_int_equal(dist("btach", "batch"), 1);    /* a swap of neighbours counts once */
    assert_int_equal(dist("exercize", "exercise"), 1);
    assert_int_equal(dist("predcit", "predict"), 1);
    assert_int_equal(dist("", "abc"), 3);
    assert_int_equal(dist("kitten", "sitting"), 3);
    char longer[80];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_true(dist(longer, "a") == SIZE_MAX);
}

static void test_suggest(void **state)
{
    (void)state;
    static const char *const names[] = {"train", "eval", "predict", "info", "help"};
    const size_t n = sizeof names / sizeof names[0];
    assert_string_equal(cd_suggest("evl", 3, names, n), "eval");
    assert_string_equal(cd_suggest("inof", 4, names, n), "info");
    assert_string_equal(cd_suggest("pred", 4, names, n), "predict"); /* a prefix, 3 edits away */
    assert_null(cd_suggest("x", 1, names, n));                      /* 1 letter: never close */
    assert_null(cd_suggest("zzzzzz", 6, names, n));
    assert_null(cd_suggest("e", 1, names, n)); /* too short for a prefix */
}

static void expect_parse_error(const char *arg, const char *want)
{
    cd_train_config *c = calloc(1, sizeof *c);
    assert_non_null(c);
    cd_cli_action action;
    cd_error err = {0};
    char *argv[] = {(char *)arg};
    assert_int_equal(cd_cli_parse(1, argv, NULL, c, &action, NULL, &err), CD_E_USAGE);
    assert_string_equal(err.msg, want);
    free(c);
}

static void test_flags_and_subcommands(void **state)
{
    (void)state;
    expect_parse_error("--bach", "unknown option '--bach' (did you mean --batch?)");
    expect_parse_error("--momentun=0.9", "unknown option '--momentun' (did you mean --momentum?)");
    expect_parse_error("--verison", "unknown option '--verison' (did you mean --version?)");
    expect_parse_error("--bogus", "unknown option '--bogus' (see --help)");
    expect_parse_error("evla", "unknown subcommand 'evla' (did you mean eval?)");
    cd_train_config *c = calloc(1, sizeof *c);
    assert_non_null(c);
    cd_cli_action action = CD_CLI_TRAIN;
    cd_error err = {0};
    char *h[] = {"-h"};
    assert_int_equal(cd_cli_parse(1, h, NULL, c, &action, NULL, &err), CD_OK);
    assert_int_equal(action, CD_CLI_HELP);
    free(c);
}

static void expect_spec_error(const char *text, const char *want)
{
    cd_model_spec spec;
    cd_error err = {0};
    assert_int_equal(cd_spec_parse(text, &spec, &err), CD_E_INPUT);
    if (!strstr(err.msg, want)) fail_msg("'%s': '%s' lacks '%s'", text, err.msg, want);
}

static void test_models_and_layers(void **state)
{
    (void)state;
    expect_spec_error("exercize", "unknown model 'exercize' (did you mean exercise?)");
    expect_spec_error("  sed ", "unknown model 'sed' (did you mean seed?)");
    expect_spec_error("conv(10,k=5) cnv(3) fc(10)", "unknown layer 'cnv' (did you mean conv?)");
    expect_spec_error("Conv(10) fc(10)", "unknown layer 'Conv' (did you mean conv?)");
    expect_spec_error("relu exercise", "built-in model name and must stand alone");
    expect_spec_error("qqqq", "unknown model 'qqqq' (built-in: seed, exercise;");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distance),
        cmocka_unit_test(test_suggest),
        cmocka_unit_test(test_flags_and_subcommands),
        cmocka_unit_test(test_models_and_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
