/* The run history a checkpoint records (cd_run_history): each segment's rank count and steps, what
 * started it, oldest first; an over-long history keeps its newest entries whole behind "...". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "train/run_meta.h"

static void test_a_fresh_run_is_one_segment(void **state)
{
    (void)state;
    char out[CD_CKPT_HISTORY_MAX];
    cd_run_history("", NULL, 4, 0, 120, out, sizeof out);
    assert_string_equal(out, "4 ranks steps 0-120");
    cd_run_history("", NULL, 1, 0, 7, out, sizeof out);
    assert_string_equal(out, "1 rank steps 0-7");
}

static void test_restarts_and_resumes_append_in_order(void **state)
{
    (void)state;
    char a[CD_CKPT_HISTORY_MAX], b[CD_CKPT_HISTORY_MAX];
    cd_run_history("4 ranks steps 0-120", "restart (rank 3 on node vm killed by signal 9)", 3, 120, 260, a, sizeof a);
    assert_string_equal(a, "4 ranks steps 0-120; restart (rank 3 on node vm killed by signal 9); 3 ranks steps 120-260");
    cd_run_history(a, "resumed", 2, 260, 300, b, sizeof b);
    assert_string_equal(b, "4 ranks steps 0-120; restart (rank 3 on node vm killed by signal 9); 3 ranks steps 120-260; "
                           "resumed; 2 ranks steps 260-300");
    /* A restart that found no checkpoint starts a history of its own. */
    cd_run_history("", "restart (a node lost) from scratch", 2, 0, 40, a, sizeof a);
    assert_string_equal(a, "restart (a node lost) from scratch; 2 ranks steps 0-40");
}

static void test_an_overlong_history_keeps_the_newest_entries_whole(void **state)
{
    (void)state;
    char before[CD_CKPT_HISTORY_MAX] = "", out[CD_CKPT_HISTORY_MAX];
    for (int i = 0; strlen(before) + 40 < sizeof before; i++) {
        char seg[64];
        snprintf(seg, sizeof seg, "%s2 ranks steps %d-%d", before[0] ? "; resumed; " : "", i * 10, i * 10 + 10);
        strcat(before, seg);
    }
    const char *event = "restart (rank 12 on node a-rather-long-host-name.cluster.example.org killed by signal 9)";
    cd_run_history(before, event, 3, 5000, 5010, out, sizeof out);
    assert_true(strlen(out) < sizeof out);
    assert_true(strncmp(out, "...; ", 5) == 0);
    const char *first = out + 5;
    assert_true(strncmp(first, "resumed; ", 9) == 0 || strncmp(first, "2 ranks steps ", 14) == 0);
    const char *tail = "; restart (rank 12 on node a-rather-long-host-name.cluster.example.org killed by signal 9); "
                       "3 ranks steps 5000-5010";
    assert_string_equal(out + strlen(out) - strlen(tail), tail);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_fresh_run_is_one_segment),
        cmocka_unit_test(test_restarts_and_resumes_append_in_order),
        cmocka_unit_test(test_an_overlong_history_keeps_the_newest_entries_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
