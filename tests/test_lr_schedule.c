/* The learning-rate schedules: constant stays put; cosine starts at lr, is at lr/2 halfway, falls
 * monotonically and ends near 0 on the last step; the stored identity names the horizon. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cnn_ddp/lr_schedule.h"

static void test_constant(void **state)
{
    (void)state;
    for (int64_t s = 0; s < 100; s += 7) assert_true(cd_lr_at(0.05, CD_LR_CONSTANT, s, 100) == 0.05);
}

static void test_cosine(void **state)
{
    (void)state;
    const int64_t total = 3540;
    assert_true(cd_lr_at(0.05, CD_LR_COSINE, 0, total) == 0.05);
    double half = cd_lr_at(0.05, CD_LR_COSINE, total / 2, total);
    assert_true(half > 0.025 - 1e-15 && half < 0.025 + 1e-15);
    double prev = 1.0;
    for (int64_t s = 0; s < total; s++) {
        double lr = cd_lr_at(0.05, CD_LR_COSINE, s, total);
        if (!(lr > 0 && lr <= prev)) fail_msg("step %lld: lr %.17g after %.17g", (long long)s, lr, prev);
        prev = lr;
    }
    assert_true(prev < 0.05 * 1e-6); /* the last step: (1 + cos(pi (T-1)/T)) / 2 ~ (pi/2T)^2 */
    assert_true(cd_lr_at(0.05, CD_LR_COSINE, total, total) == 0.0);
}

static void test_format(void **state)
{
    (void)state;
    char buf[32];
    cd_lr_schedule_format(CD_LR_CONSTANT, 3540, buf, sizeof buf);
    assert_string_equal(buf, "constant");
    cd_lr_schedule_format(CD_LR_COSINE, 3540, buf, sizeof buf);
    assert_string_equal(buf, "cosine/3540");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant),
        cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
