#include "tc_assert.h"

#include <stdio.h>
#include <stdlib.h>

static tc_assert_handler_fn assert_handler = NULL;

tc_assert_handler_fn tc_assert_set_handler(tc_assert_handler_fn handler) {
    tc_assert_handler_fn previous = assert_handler;
    assert_handler = handler;
    return previous;
}

_Noreturn void tc_assert_fail(const char *expression, const char *file, int line) {
    if (assert_handler != NULL) {
        assert_handler(expression, file, line);
        // A test handler normally longjmps out; if it returns, abort regardless.
    }
    fprintf(stderr, "tigerchat: assertion failed: %s (%s:%d)\n", expression, file, line);
    fflush(stderr);
    abort();
}
