// Unit tests of the fixed-bound latency histograms (common/tc_histogram.c): bucket edges (le is
// inclusive), +Inf, merge, quantiles, the Prometheus text and the layouts' invariants.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tc_assert.h"
#include "tc_histogram.h"

static void assert_handler(const char *expression, const char *file, int line) {
    mock_assert(0, expression, file, line);
}

static const struct tc_histogram_layout layout_small = {
    .count = 3,
    .bounds_ns = {1000, 2000, 4000}, // 1 us, 2 us, 4 us
};

static void test_bucket_edges(void **state) {
    (void)state;
    struct tc_histogram h;
    tc_histogram_init(&h, &layout_small);
    const uint64_t values[] = {0, 1000, 1001, 2000, 3999, 4000, 4001, UINT64_MAX / 4};
    const uint32_t expected[] = {0, 0, 1, 1, 2, 2, 3, 3};
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(values); i++) {
        const uint64_t before = h.buckets[expected[i]];
        tc_histogram_observe(&h, values[i]);
        assert_int_equal(h.buckets[expected[i]], before + 1);
    }
    assert_int_equal(h.count, TC_ARRAY_COUNT(values));
    assert_int_equal(h.buckets[0], 2);
    assert_int_equal(h.buckets[1], 2);
    assert_int_equal(h.buckets[2], 2);
    assert_int_equal(h.buckets[3], 2); // +Inf
    uint64_t sum = 0;
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(values); i++) sum += values[i];
    assert_int_equal(h.sum_ns, sum);
}

static void test_merge(void **state) {
    (void)state;
    struct tc_histogram a, b;
    tc_histogram_init(&a, &tc_histogram_layout_fdatasync);
    tc_histogram_init(&b, &tc_histogram_layout_fdatasync);
    tc_histogram_observe(&a, 170000);
    tc_histogram_observe(&b, 260000);
    tc_histogram_observe(&b, 2000000000);
    tc_histogram_merge(&a, &b);
    assert_int_equal(a.count, 3);
    assert_int_equal(a.sum_ns, 170000u + 260000u + 2000000000u);
    assert_int_equal(a.buckets[3], 1);  // (150 us, 200 us]
    assert_int_equal(a.buckets[5], 1);  // (250 us, 300 us]
    assert_int_equal(a.buckets[20], 1); // +Inf
    // Different layouts never merge.
    struct tc_histogram c;
    tc_histogram_init(&c, &tc_histogram_layout_commit);
    tc_assert_handler_fn previous = tc_assert_set_handler(assert_handler);
    expect_assert_failure(tc_histogram_merge(&a, &c));
    tc_assert_set_handler(previous);
}

static void test_difference(void **state) {
    (void)state;
    struct tc_histogram before, now, window;
    tc_histogram_init(&now, &tc_histogram_layout_commit);
    for (uint32_t i = 0; i < 1000; i++) tc_histogram_observe(&now, 800000); // 0.8 ms
    before = now;
    for (uint32_t i = 0; i < 100; i++) tc_histogram_observe(&now, 40000000); // 40 ms
    tc_histogram_difference(&window, &now, &before);
    assert_int_equal(window.count, 100);
    assert_int_equal(window.sum_ns, 100u * 40000000u);
    // The window's p99 is the slow tail alone; since start it is hidden under the fast ops.
    assert_true(tc_histogram_quantile_ns(&window, 0.99) > 30000000);
    assert_true(tc_histogram_quantile_ns(&now, 0.5) < 1000000);
    tc_assert_handler_fn previous = tc_assert_set_handler(assert_handler);
    expect_assert_failure(tc_histogram_difference(&window, &before, &now)); // not earlier
    tc_assert_set_handler(previous);
}

static void test_quantile(void **state) {
    (void)state;
    struct tc_histogram h;
    tc_histogram_init(&h, &layout_small);
    assert_int_equal(tc_histogram_quantile_ns(&h, 0.99), 0); // empty
    // 100 observations in (1 us, 2 us]: the median interpolates to the middle of the bucket.
    for (uint32_t i = 0; i < 100; i++) tc_histogram_observe(&h, 1500);
    assert_int_equal(tc_histogram_quantile_ns(&h, 0.5), 1500);
    assert_int_equal(tc_histogram_quantile_ns(&h, 1.0), 2000);
    // One in the first bucket: it interpolates from 0.
    struct tc_histogram first;
    tc_histogram_init(&first, &layout_small);
    tc_histogram_observe(&first, 10);
    assert_int_equal(tc_histogram_quantile_ns(&first, 1.0), 1000);
    // The 99th percentile falls into +Inf: the highest finite bound.
    for (uint32_t i = 0; i < 5; i++) tc_histogram_observe(&h, 1000000);
    assert_int_equal(tc_histogram_quantile_ns(&h, 0.99), 4000);
    tc_assert_handler_fn previous = tc_assert_set_handler(assert_handler);
    expect_assert_failure(tc_histogram_quantile_ns(&h, 0.0));
    expect_assert_failure(tc_histogram_quantile_ns(&h, 1.5));
    tc_assert_set_handler(previous);
}

static void test_seconds_text(void **state) {
    (void)state;
    char text[TC_HISTOGRAM_SECONDS_TEXT_SIZE];
    const struct {
        uint64_t ns;
        const char *text;
    } cases[] = {{0, "0"},          {1, "0.000000001"},      {50000, "0.00005"},
                 {250000, "0.00025"}, {1000000000, "1"},   {12500000000, "12.5"},
                 {1000000001, "1.000000001"}, {UINT64_MAX, "18446744073.709551615"}};
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        const uint32_t length = tc_histogram_seconds_text(cases[i].ns, text, sizeof(text));
        assert_string_equal(text, cases[i].text);
        assert_int_equal(length, strlen(cases[i].text));
    }
}

static void test_format(void **state) {
    (void)state;
    struct tc_histogram h;
    tc_histogram_init(&h, &layout_small);
    tc_histogram_observe(&h, 500);
    tc_histogram_observe(&h, 1500);
    tc_histogram_observe(&h, 1500);
    tc_histogram_observe(&h, 9000);
    char out[1024];
    int32_t size = tc_histogram_format(&h, "x_seconds", "", out, sizeof(out));
    assert_true(size > 0);
    assert_int_equal((uint32_t)size, strlen(out));
    assert_string_equal(out, "x_seconds_bucket{le=\"0.000001\"} 1\n"
                             "x_seconds_bucket{le=\"0.000002\"} 3\n"
                             "x_seconds_bucket{le=\"0.000004\"} 3\n"
                             "x_seconds_bucket{le=\"+Inf\"} 4\n"
                             "x_seconds_sum 0.0000125\n"
                             "x_seconds_count 4\n");
    size = tc_histogram_format(&h, "x_seconds", "zone=\"journal\"", out, sizeof(out));
    assert_true(size > 0);
    assert_non_null(strstr(out, "x_seconds_bucket{zone=\"journal\",le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(out, "x_seconds_sum{zone=\"journal\"} 0.0000125\n"));
    assert_non_null(strstr(out, "x_seconds_count{zone=\"journal\"} 4\n"));
    // Too small a buffer: -1, never a cut line.
    for (uint32_t small = 1; small < (uint32_t)size; small += 7) {
        assert_int_equal(tc_histogram_format(&h, "x_seconds", "zone=\"journal\"", out, small), -1);
    }
    assert_int_equal(tc_histogram_format(&h, "x_seconds", "zone=\"journal\"", out,
                                         (uint32_t)size + 1),
                     size);
}

static void test_layouts(void **state) {
    (void)state;
    // The targets: commit 100 us .. 1 s, fdatasync 50 us .. 1 s (docs/node.md §10).
    const struct tc_histogram_layout *commit = &tc_histogram_layout_commit;
    const struct tc_histogram_layout *sync = &tc_histogram_layout_fdatasync;
    assert_int_equal(commit->bounds_ns[0], 100000);
    assert_int_equal(commit->bounds_ns[commit->count - 1], 1000000000);
    assert_int_equal(sync->bounds_ns[0], 50000);
    assert_int_equal(sync->bounds_ns[sync->count - 1], 1000000000);
    struct tc_histogram h;
    tc_histogram_init(&h, commit); // asserts the layout
    tc_histogram_init(&h, sync);
    // 5 ms (the p99 target) is a bound: "p99 <= 5 ms" reads straight off a bucket.
    bool five_ms = false;
    for (uint32_t i = 0; i < commit->count; i++) five_ms |= commit->bounds_ns[i] == 5000000;
    assert_true(five_ms);
    static const struct tc_histogram_layout unsorted = {.count = 2, .bounds_ns = {2, 1}};
    static const struct tc_histogram_layout empty = {.count = 0};
    static const struct tc_histogram_layout zero = {.count = 1, .bounds_ns = {0}};
    tc_assert_handler_fn previous = tc_assert_set_handler(assert_handler);
    expect_assert_failure(tc_histogram_init(&h, &unsorted));
    expect_assert_failure(tc_histogram_init(&h, &empty));
    expect_assert_failure(tc_histogram_init(&h, &zero));
    tc_assert_set_handler(previous);
}

// Every value lands in exactly one bucket whose bounds hold it, for every bound +- 1.
static void test_every_edge(void **state) {
    (void)state;
    const struct tc_histogram_layout *layouts[] = {&tc_histogram_layout_commit,
                                                   &tc_histogram_layout_fdatasync};
    for (uint32_t l = 0; l < TC_ARRAY_COUNT(layouts); l++) {
        const struct tc_histogram_layout *layout = layouts[l];
        for (uint32_t i = 0; i < layout->count; i++) {
            for (int32_t delta = -1; delta <= 1; delta++) {
                const uint64_t value = (uint64_t)((int64_t)layout->bounds_ns[i] + delta);
                struct tc_histogram h;
                tc_histogram_init(&h, layout);
                tc_histogram_observe(&h, value);
                const uint32_t expected = delta <= 0 ? i : i + 1;
                assert_int_equal(h.buckets[expected], 1);
                assert_int_equal(h.count, 1);
            }
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_edges), cmocka_unit_test(test_merge),
        cmocka_unit_test(test_difference),
        cmocka_unit_test(test_quantile),     cmocka_unit_test(test_seconds_text),
        cmocka_unit_test(test_format),       cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_every_edge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
