/* The --metrics writer (src/train/metrics.c, through jansson): every record reads back as one JSON
 * object with unique keys (decoded with JSON_REJECT_DUPLICATES), "type" first and "time" an ISO-8601
 * UTC instant last; numbers are numbers, booleans booleans; quotes, backslashes, control characters and
 * UTF-8 survive the round trip, invalid UTF-8 becomes '?', NaN and infinities become null; the config
 * record types each value by the option table. Also the bar's layout (cli/console.c): never as wide as
 * the terminal, and the rate, loss and ETAs kept while they fit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>

#include "cli/console.h"
#include "train/metrics.h"

/* The file's lines as decoded objects (at most 16). */
static int read_records(const char *path, json_t *out[16])
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < 16) {
        json_error_t e;
        out[n] = json_loads(line, JSON_REJECT_DUPLICATES, &e);
        if (!out[n]) fail_msg("line %d is not JSON with unique keys: %s: %s", n + 1, e.text, line);
        assert_true(json_is_object(out[n]));
        /* "type" first, "time" last */
        assert_int_equal(strncmp(line, "{\"type\":", 8), 0);
        const char *t = strstr(line, ",\"time\":\"");
        assert_non_null(t);
        assert_int_equal(strlen(t), strlen(",\"time\":\"2026-01-02T03:04:05.678Z\"}\n"));
        int y, mo, d, h, mi, s, ms;
        char z;
        assert_int_equal(sscanf(t + 9, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z), 8);
        assert_int_equal(z, 'Z');
        assert_true(y >= 2024 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && s < 61);
        n++;
    }
    fclose(f);
    return n;
}

static void test_records(void **state)
{
    (void)state;
    char path[] = "/tmp/cnn_ddp-metrics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *tmp = fdopen(fd, "w");
    assert_non_null(tmp);
    fclose(tmp); /* empty: accepted as a metrics file to write */
    cd_metrics m;
    cd_error err = {0};
    const char *config = "data=/d/a \"quoted\" \\ path\tx.h5\nmodel=seed\nepochs=3\nlr=0.05\nmomentum=0.9\n"
                         "device=auto\nckpt_dir=(disabled)\ntimeout=0\nval_rows=0.1\nweird=1\n";
    assert_int_equal(cd_metrics_open(&m, path, 0, config, 2, "cpu", &err), CD_OK);
    cd_metrics_step(&m, 7, 0.25, 0.01);
    const cd_epoch_summary e = {.epoch = 1, .epochs = 3, .step = 354, .loss = 0.5, .train_acc = 0.9, .test_acc = 0.95,
                                .test_loss = 0.2, .img_per_s = 1234.56, .elapsed_s = 1.23456, .has_test = 1, .lr = 0.05};
    cd_metrics_epoch(&m, &e, 2);
    cd_metrics_note(&m, "first_step_s", 0.125);
    const char ctl[] = {'a', 1, 0x1f, '\n', 'b', 0};
    const cd_metrics_field f[] = {
        CD_MF_TEXT_OF("quote", "say \"hi\" \\ now"), CD_MF_TEXT_OF("control", ctl),
        CD_MF_TEXT_OF("utf8", "gr\xc3\xbc\xc3\x9f \xe2\x82\xac"), CD_MF_TEXT_OF("latin1", "caf\xe9"),
        CD_MF_REAL_OF("nan", NAN), CD_MF_REAL_OF("inf", INFINITY), CD_MF_BOOL_OF("ok", 1),
        CD_MF_INT_OF("big", INT64_MAX), CD_MF_INT_OF("twice", 1), CD_MF_INT_OF("twice", 2)};
    cd_metrics_record(&m, "custom", f, sizeof f / sizeof f[0]);
    cd_metrics_final(&m, 1062, 0.97, 0.1, 3.5);
    cd_metrics_final(&m, 5, NAN, NAN, 1.0);
    cd_metrics_close(&m);

    json_t *r[16];
    const int n = read_records(path, r);
    assert_int_equal(n, 7);
    /* config: typed by the option table; the device used, once */
    assert_string_equal(json_string_value(json_object_get(r[0], "type")), "config");
    assert_string_equal(json_string_value(json_object_get(r[0], "data")), "/d/a \"quoted\" \\ path\tx.h5");
    assert_true(json_is_integer(json_object_get(r[0], "epochs")));
    assert_int_equal(json_integer_value(json_object_get(r[0], "epochs")), 3);
    assert_true(json_real_value(json_object_get(r[0], "lr")) == 0.05);
    assert_true(json_real_value(json_object_get(r[0], "momentum")) == 0.9);
    assert_true(json_is_number(json_object_get(r[0], "timeout")));
    assert_true(json_number_value(json_object_get(r[0], "val_rows")) == 0.1);
    assert_string_equal(json_string_value(json_object_get(r[0], "device")), "cpu");
    assert_string_equal(json_string_value(json_object_get(r[0], "ckpt_dir")), "(disabled)");
    assert_string_equal(json_string_value(json_object_get(r[0], "weird")), "1"); /* not an option: text */
    assert_int_equal(json_integer_value(json_object_get(r[0], "world_size")), 2);
    /* step */
    assert_int_equal(json_integer_value(json_object_get(r[1], "step")), 7);
    assert_true(json_real_value(json_object_get(r[1], "loss")) == 0.25);
    assert_true(json_real_value(json_object_get(r[1], "lr")) == 0.01);
    /* epoch: test loss and lr */
    assert_string_equal(json_string_value(json_object_get(r[2], "type")), "epoch");
    assert_true(json_real_value(json_object_get(r[2], "test_acc")) == 0.95);
    assert_true(json_real_value(json_object_get(r[2], "test_loss")) == 0.2);
    assert_true(json_real_value(json_object_get(r[2], "lr")) == 0.05);
    assert_true(json_real_value(json_object_get(r[2], "img_per_s")) == 1234.6);
    assert_true(json_real_value(json_object_get(r[2], "elapsed_s")) == 1.235);
    assert_null(json_object_get(r[2], "val_acc"));
    /* note */
    assert_true(json_real_value(json_object_get(r[3], "first_step_s")) == 0.125);
    /* escaping, UTF-8, non-finite numbers, booleans, a repeated key */
    assert_string_equal(json_string_value(json_object_get(r[4], "quote")), "say \"hi\" \\ now");
    assert_string_equal(json_string_value(json_object_get(r[4], "control")), ctl);
    assert_string_equal(json_string_value(json_object_get(r[4], "utf8")), "gr\xc3\xbc\xc3\x9f \xe2\x82\xac");
    assert_string_equal(json_string_value(json_object_get(r[4], "latin1")), "caf?");
    assert_true(json_is_null(json_object_get(r[4], "nan")));
    assert_true(json_is_null(json_object_get(r[4], "inf")));
    assert_true(json_is_true(json_object_get(r[4], "ok")));
    assert_int_equal(json_integer_value(json_object_get(r[4], "big")), INT64_MAX);
    assert_int_equal(json_integer_value(json_object_get(r[4], "twice")), 2);
    /* final, with and without a test split */
    assert_true(json_real_value(json_object_get(r[5], "test_loss")) == 0.1);
    assert_null(json_object_get(r[6], "test_acc"));
    assert_null(json_object_get(r[6], "test_loss"));
    for (int k = 0; k < n; k++) json_decref(r[k]);
    /* An earlier run's file is accepted again; a file of other content is refused. */
    assert_int_equal(cd_metrics_open(&m, path, 1, config, 1, "cpu", &err), CD_OK);
    cd_metrics_close(&m);
    FILE *other = fopen(path, "w");
    fputs("notes\n", other);
    fclose(other);
    assert_int_equal(cd_metrics_open(&m, path, 0, config, 1, "cpu", &err), CD_E_USAGE);
    remove(path);
}

static void test_bar_layout(void **state)
{
    (void)state;
    const cd_progress p = {.step = 354 + 131, .steps_per_epoch = 354, .epochs = 10, .total_steps = 3540, .batch = 64,
                           .epoch_samples = 131 * 64, .epoch_seconds = 1.6, .epoch_loss = 0.1234, .run_seconds = 9};
    char out[512];
    for (int width = 1; width <= 200; width++) {
        cd_console_format_bar(&p, 40.0, width, out, sizeof out);
        if ((int)strlen(out) >= width && width > 1) fail_msg("width %d: %zu characters: '%s'", width, strlen(out), out);
        if (width >= 80) {
            assert_non_null(strstr(out, " img/s"));
            assert_non_null(strstr(out, "loss 0.1234"));
            assert_non_null(strstr(out, "ETA "));
            assert_non_null(strstr(out, "total 1m16s"));
        }
        if (width >= 60) assert_non_null(strstr(out, "total 1m16s"));
        assert_int_equal(strncmp(out, "epoch 2/10", width > 10 ? 10 : (width > 1 ? width - 1 : 1)), 0);
    }
    cd_console_format_bar(&p, 40.0, 120, out, sizeof out);
    assert_non_null(strstr(out, "131/354"));
    assert_non_null(strstr(out, "[===========> "));
    cd_console_format_line(&p, 0, out, sizeof out);
    assert_string_equal(out, "step 485/3540  epoch 2/10 37%  5240 img/s  loss 0.1234  epoch ETA 3s  total ETA ?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_records), cmocka_unit_test(test_bar_layout)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
