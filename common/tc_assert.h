#ifndef TC_ASSERT_H
#define TC_ASSERT_H

// Assertions are the specification. tc_assert() stays on in every build type, release included:
// crashing is better than corrupting a replicated log. tc_assert_hot() is for O(n) checks on hot
// paths and is compiled in only for Debug and Sanitize builds (TC_ASSERT_HOT=1).
//
// The failure handler is replaceable so that unit tests can expect an assertion to fire.

typedef void (*tc_assert_handler_fn)(const char *expression, const char *file, int line);

// Never returns: the default handler logs and aborts; an installed handler (unit tests, the
// simulator) escapes with longjmp, and if it returns, tc_assert_fail aborts anyway.
_Noreturn void tc_assert_fail(const char *expression, const char *file, int line);

// Installs a handler; NULL restores the default. Returns the previous handler.
tc_assert_handler_fn tc_assert_set_handler(tc_assert_handler_fn handler);

#define tc_assert(condition)                                                                       \
    do {                                                                                           \
        if (__builtin_expect(!(condition), 0)) tc_assert_fail(#condition, __FILE__, __LINE__);     \
    } while (0)

#if defined(TC_ASSERT_HOT) && TC_ASSERT_HOT
#define tc_assert_hot(condition) tc_assert(condition)
#else
#define tc_assert_hot(condition) ((void)0)
#endif

// Marks code that must never run.
#define tc_unreachable() tc_assert_fail("unreachable", __FILE__, __LINE__)

#define TC_ARRAY_COUNT(array) ((uint32_t)(sizeof(array) / sizeof((array)[0])))

#endif
