#ifndef TC_HISTOGRAM_H
#define TC_HISTOGRAM_H

// Latency histograms with fixed bucket bounds (Prometheus histograms: docs/node.md §10).
//
// A histogram is plain memory owned by one thread: observing is a bucket search and three
// additions, no lock, no allocation. Bounds are nanoseconds, inclusive upper bounds (Prometheus
// `le`); a value above the last bound goes to the +Inf bucket. The layouts are static constants,
// so two histograms of one layout merge by adding their buckets.
//
// tc_histogram_format writes the series of one histogram in Prometheus text format (0.0.4): the
// cumulative `_bucket{le=...}` lines in seconds, `+Inf`, `_sum` (seconds) and `_count`. The
// `# HELP` and `# TYPE histogram` lines of the family are the caller's (one per family, however
// many label sets it has).

#include <stdbool.h>
#include <stdint.h>

#define TC_HISTOGRAM_BOUNDS_MAX 32u

struct tc_histogram_layout {
    uint32_t count;                              // finite bounds: 1..TC_HISTOGRAM_BOUNDS_MAX
    uint64_t bounds_ns[TC_HISTOGRAM_BOUNDS_MAX]; // strictly increasing, > 0
};

// Commit latency (target p99 <= 5 ms, DESIGN.md §10): 100 us .. 1 s.
extern const struct tc_histogram_layout tc_histogram_layout_commit;
// fdatasync latency (0.17 ms p50, 0.26 ms p99 on the reference VM): 50 us .. 1 s.
extern const struct tc_histogram_layout tc_histogram_layout_fdatasync;

struct tc_histogram {
    const struct tc_histogram_layout *layout;
    // Observations per bucket, not cumulative: [i] holds values in (bounds[i-1], bounds[i]];
    // [layout->count] holds the values above the last bound (+Inf).
    uint64_t buckets[TC_HISTOGRAM_BOUNDS_MAX + 1];
    uint64_t count;  // the sum of buckets
    uint64_t sum_ns; // the sum of the observed values
};

// Asserts that the layout is valid (count in range, bounds strictly increasing and > 0).
void tc_histogram_init(struct tc_histogram *histogram, const struct tc_histogram_layout *layout);
void tc_histogram_observe(struct tc_histogram *histogram, uint64_t value_ns);
// Adds `from` into `into`; both must have the same layout (asserted).
void tc_histogram_merge(struct tc_histogram *into, const struct tc_histogram *from);
// The observations made between two copies of one histogram: out = now - before, bucket by
// bucket (a window, e.g. the p99 of the last heartbeat interval). Same layout, and `before` an
// earlier copy (no bucket above now's), asserted.
void tc_histogram_difference(struct tc_histogram *out, const struct tc_histogram *now,
                             const struct tc_histogram *before);

// The q-quantile (0 < q <= 1) estimated as Prometheus' histogram_quantile does: linear
// interpolation inside the bucket holding it (from 0 for the first); the last finite bound when it
// falls in +Inf. 0 for an empty histogram.
uint64_t tc_histogram_quantile_ns(const struct tc_histogram *histogram, double q);

// Writes the series lines of `name` (the family name, without _bucket/_sum/_count) with `labels`
// (zero or more `key="value"` pairs separated by commas, "" for none) into out. Returns the
// bytes written (no NUL counted; out is NUL-terminated), or -1 if out_size is too small.
int32_t tc_histogram_format(const struct tc_histogram *histogram, const char *name,
                            const char *labels, char *out, uint32_t out_size);

// Nanoseconds as decimal seconds, exactly, without trailing zeros ("0.00025", "1", "12.5").
// out_size >= TC_HISTOGRAM_SECONDS_TEXT_SIZE. Returns the length.
#define TC_HISTOGRAM_SECONDS_TEXT_SIZE 32u
uint32_t tc_histogram_seconds_text(uint64_t ns, char *out, uint32_t out_size);

#endif
