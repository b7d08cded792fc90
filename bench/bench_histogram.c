// Log-linear latency histogram (HdrHistogram-like): 32 linear sub-buckets per power of two.
#include <string.h>

#include "bench.h"
#include "tc_assert.h"

_Static_assert(BENCH_HISTOGRAM_BUCKETS ==
                   (BENCH_HISTOGRAM_MSB_MAX - 4u) * BENCH_HISTOGRAM_SUB_COUNT +
                       BENCH_HISTOGRAM_SUB_COUNT,
               "bucket count matches the index function");

void bench_histogram_reset(struct bench_histogram *histogram) {
    memset(histogram, 0, sizeof(*histogram));
    histogram->value_min = UINT64_MAX;
    tc_assert(histogram->total == 0);
}

uint32_t bench_histogram_index(uint64_t value) {
    if (value < BENCH_HISTOGRAM_SUB_COUNT) return (uint32_t)value;
    uint32_t msb = 63u - (uint32_t)__builtin_clzll(value);
    if (msb > BENCH_HISTOGRAM_MSB_MAX) return BENCH_HISTOGRAM_BUCKETS - 1u;
    tc_assert(msb >= BENCH_HISTOGRAM_SUB_BITS);
    const uint32_t shift = msb - BENCH_HISTOGRAM_SUB_BITS;
    const uint32_t sub = (uint32_t)(value >> shift) & (BENCH_HISTOGRAM_SUB_COUNT - 1u);
    const uint32_t index = (msb - 4u) * BENCH_HISTOGRAM_SUB_COUNT + sub;
    tc_assert(index < BENCH_HISTOGRAM_BUCKETS);
    return index;
}

static uint64_t histogram_bucket_min(uint32_t index) {
    tc_assert(index < BENCH_HISTOGRAM_BUCKETS);
    if (index < BENCH_HISTOGRAM_SUB_COUNT) return index;
    const uint32_t group = index / BENCH_HISTOGRAM_SUB_COUNT; // >= 1
    const uint32_t sub = index % BENCH_HISTOGRAM_SUB_COUNT;
    return (uint64_t)(BENCH_HISTOGRAM_SUB_COUNT + sub) << (group - 1u);
}

uint64_t bench_histogram_bucket_max(uint32_t index) {
    tc_assert(index < BENCH_HISTOGRAM_BUCKETS);
    if (index + 1u == BENCH_HISTOGRAM_BUCKETS) return UINT64_MAX;
    const uint64_t next = histogram_bucket_min(index + 1u);
    tc_assert(next > histogram_bucket_min(index));
    return next - 1u;
}

void bench_histogram_record(struct bench_histogram *histogram, uint64_t value, uint64_t count) {
    tc_assert(count > 0);
    const uint32_t index = bench_histogram_index(value);
    tc_assert_hot(value >= histogram_bucket_min(index));
    tc_assert_hot(value <= bench_histogram_bucket_max(index));
    histogram->counts[index] += count;
    histogram->total += count;
    histogram->value_sum += value * count;
    if (value < histogram->value_min) histogram->value_min = value;
    if (value > histogram->value_max) histogram->value_max = value;
}

uint64_t bench_histogram_percentile(const struct bench_histogram *histogram, uint32_t permille) {
    tc_assert(permille <= 1000u);
    if (histogram->total == 0) return 0;
    // Rank of the sample (1-based) that the percentile names, rounded up.
    uint64_t rank = (histogram->total * permille + 999u) / 1000u;
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    for (uint32_t index = 0; index < BENCH_HISTOGRAM_BUCKETS; index++) {
        seen += histogram->counts[index];
        if (seen >= rank) {
            const uint64_t bound = bench_histogram_bucket_max(index);
            return bound < histogram->value_max ? bound : histogram->value_max;
        }
    }
    tc_unreachable();
    return 0;
}
