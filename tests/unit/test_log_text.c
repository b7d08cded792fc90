// tc_log_text_escape (common/tc_log_text.c): the msg="..." value of node and controller log lines.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tc_log_text.h"

static void test_escape(void **state) {
    (void)state;
    char out[64];
    tc_log_text_escape("plain text", out, sizeof(out));
    assert_string_equal(out, "plain text");
    tc_log_text_escape("say \"hi\" \\ now", out, sizeof(out));
    assert_string_equal(out, "say \\\"hi\\\" \\\\ now");
    tc_log_text_escape("tab\there\nnewline", out, sizeof(out));
    assert_string_equal(out, "tab here newline");
    tc_log_text_escape("", out, sizeof(out));
    assert_string_equal(out, "");
}

// Cut to fit, never in the middle of an escape, always NUL-terminated.
static void test_cut(void **state) {
    (void)state;
    char out[6];
    tc_log_text_escape("abcdefgh", out, sizeof(out));
    assert_string_equal(out, "abcd");
    tc_log_text_escape("abc\"def", out, sizeof(out));
    assert_string_equal(out, "abc\\\""); // the escape fits whole
    tc_log_text_escape("abcd\"ef", out, sizeof(out));
    assert_string_equal(out, "abcd"); // it would not: cut before it
    char one[1];
    tc_log_text_escape("x", one, sizeof(one));
    assert_string_equal(one, "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
