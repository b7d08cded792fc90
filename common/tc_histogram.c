// Fixed-bound latency histograms (tc_histogram.h).
#include "tc_histogram.h"

#include <stdio.h>
#include <string.h>

#include "tc_assert.h"

#define US 1000u
#define MS 1000000u
#define S 1000000000u

// Fine steps around the targets (commit p99 <= 5 ms; fdatasync ~0.2 ms), coarse ones to 1 s.
const struct tc_histogram_layout tc_histogram_layout_commit = {
    .count = 23,
    .bounds_ns = {100 * US, 200 * US, 300 * US, 400 * US, 500 * US, 750 * US, 1 * MS,
                  1500 * US, 2 * MS, 3 * MS, 4 * MS, 5 * MS, 7500 * US, 10 * MS, 15 * MS,
                  20 * MS, 30 * MS, 50 * MS, 100 * MS, 250 * MS, 500 * MS, 750 * MS, 1 * S},
};

const struct tc_histogram_layout tc_histogram_layout_fdatasync = {
    .count = 20,
    .bounds_ns = {50 * US, 100 * US, 150 * US, 200 * US, 250 * US, 300 * US, 400 * US, 500 * US,
                  750 * US, 1 * MS, 2 * MS, 3 * MS, 5 * MS, 10 * MS, 25 * MS, 50 * MS, 100 * MS,
                  250 * MS, 500 * MS, 1 * S},
};

static bool layout_valid(const struct tc_histogram_layout *layout) {
    if (layout->count == 0 || layout->count > TC_HISTOGRAM_BOUNDS_MAX) return false;
    if (layout->bounds_ns[0] == 0) return false;
    for (uint32_t i = 1; i < layout->count; i++) {
        if (layout->bounds_ns[i] <= layout->bounds_ns[i - 1]) return false;
    }
    return true;
}

void tc_histogram_init(struct tc_histogram *histogram, const struct tc_histogram_layout *layout) {
    tc_assert(layout != NULL);
    tc_assert(layout_valid(layout));
    memset(histogram, 0, sizeof(*histogram));
    histogram->layout = layout;
}

// The first bucket whose bound is >= value (binary search), layout->count for +Inf.
static uint32_t bucket_index(const struct tc_histogram_layout *layout, uint64_t value_ns) {
    uint32_t low = 0, high = layout->count;
    while (low < high) {
        const uint32_t middle = low + (high - low) / 2;
        if (layout->bounds_ns[middle] < value_ns) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    tc_assert_hot(low == layout->count || value_ns <= layout->bounds_ns[low]);
    tc_assert_hot(low == 0 || value_ns > layout->bounds_ns[low - 1]);
    return low;
}

void tc_histogram_observe(struct tc_histogram *histogram, uint64_t value_ns) {
    tc_assert(histogram->layout != NULL);
    const uint32_t index = bucket_index(histogram->layout, value_ns);
    histogram->buckets[index] += 1;
    histogram->count += 1;
    histogram->sum_ns += value_ns;
}

void tc_histogram_merge(struct tc_histogram *into, const struct tc_histogram *from) {
    tc_assert(into->layout != NULL);
    tc_assert(into->layout == from->layout);
    for (uint32_t i = 0; i <= into->layout->count; i++) into->buckets[i] += from->buckets[i];
    into->count += from->count;
    into->sum_ns += from->sum_ns;
}

void tc_histogram_difference(struct tc_histogram *out, const struct tc_histogram *now,
                             const struct tc_histogram *before) {
    tc_assert(now->layout != NULL);
    tc_assert(now->layout == before->layout);
    tc_assert(now->count >= before->count && now->sum_ns >= before->sum_ns);
    tc_histogram_init(out, now->layout);
    for (uint32_t i = 0; i <= now->layout->count; i++) {
        tc_assert(now->buckets[i] >= before->buckets[i]);
        out->buckets[i] = now->buckets[i] - before->buckets[i];
    }
    out->count = now->count - before->count;
    out->sum_ns = now->sum_ns - before->sum_ns;
}

static uint64_t buckets_total(const struct tc_histogram *histogram) {
    uint64_t total = 0;
    for (uint32_t i = 0; i <= histogram->layout->count; i++) total += histogram->buckets[i];
    return total;
}

uint64_t tc_histogram_quantile_ns(const struct tc_histogram *histogram, double q) {
    const struct tc_histogram_layout *layout = histogram->layout;
    tc_assert(layout != NULL);
    tc_assert(q > 0.0 && q <= 1.0);
    tc_assert(buckets_total(histogram) == histogram->count);
    if (histogram->count == 0) return 0;
    const double rank = q * (double)histogram->count;
    uint64_t below = 0; // observations in the buckets before i
    for (uint32_t i = 0; i < layout->count; i++) {
        const uint64_t in_bucket = histogram->buckets[i];
        if ((double)(below + in_bucket) >= rank && in_bucket > 0) {
            const uint64_t lower = i == 0 ? 0 : layout->bounds_ns[i - 1];
            const uint64_t width = layout->bounds_ns[i] - lower;
            const double fraction = (rank - (double)below) / (double)in_bucket;
            return lower + (uint64_t)(fraction * (double)width);
        }
        below += in_bucket;
    }
    return layout->bounds_ns[layout->count - 1]; // in +Inf: the highest bound known
}

uint32_t tc_histogram_seconds_text(uint64_t ns, char *out, uint32_t out_size) {
    tc_assert(out_size >= TC_HISTOGRAM_SECONDS_TEXT_SIZE);
    const uint64_t whole = ns / S;
    uint64_t fraction = ns % S;
    int length = 0;
    if (fraction == 0) {
        length = snprintf(out, out_size, "%llu", (unsigned long long)whole);
    } else {
        uint32_t digits = 9;
        while (fraction % 10 == 0) {
            fraction /= 10;
            digits -= 1;
        }
        length = snprintf(out, out_size, "%llu.%0*llu", (unsigned long long)whole, (int)digits,
                          (unsigned long long)fraction);
    }
    tc_assert(length > 0 && (uint32_t)length < out_size);
    return (uint32_t)length;
}

struct format_out {
    char *out;
    uint32_t size;
    uint32_t used;
    bool overflow;
};

static void format_line(struct format_out *f, const char *name, const char *suffix,
                        const char *labels, const char *le, const char *value) {
    if (f->overflow) return;
    const bool any = labels[0] != '\0' || le != NULL;
    const int length = snprintf(f->out + f->used, f->size - f->used, "%s%s%s%s%s%s%s%s %s\n",
                                name, suffix, any ? "{" : "", labels,
                                labels[0] != '\0' && le != NULL ? "," : "",
                                le != NULL ? "le=\"" : "", le != NULL ? le : "",
                                le != NULL ? "\"}" : (any ? "}" : ""), value);
    if (length < 0 || (uint32_t)length >= f->size - f->used) {
        f->overflow = true;
        return;
    }
    f->used += (uint32_t)length;
}

int32_t tc_histogram_format(const struct tc_histogram *histogram, const char *name,
                            const char *labels, char *out, uint32_t out_size) {
    const struct tc_histogram_layout *layout = histogram->layout;
    tc_assert(layout != NULL);
    tc_assert(name != NULL && name[0] != '\0');
    tc_assert(labels != NULL);
    tc_assert(out_size > 0);
    tc_assert(buckets_total(histogram) == histogram->count);
    struct format_out f = {.out = out, .size = out_size};
    out[0] = '\0';
    char le[TC_HISTOGRAM_SECONDS_TEXT_SIZE];
    char value[TC_HISTOGRAM_SECONDS_TEXT_SIZE];
    uint64_t cumulative = 0;
    for (uint32_t i = 0; i < layout->count; i++) {
        cumulative += histogram->buckets[i];
        (void)tc_histogram_seconds_text(layout->bounds_ns[i], le, sizeof(le));
        (void)snprintf(value, sizeof(value), "%llu", (unsigned long long)cumulative);
        format_line(&f, name, "_bucket", labels, le, value);
    }
    cumulative += histogram->buckets[layout->count];
    tc_assert(cumulative == histogram->count);
    (void)snprintf(value, sizeof(value), "%llu", (unsigned long long)cumulative);
    format_line(&f, name, "_bucket", labels, "+Inf", value);
    (void)tc_histogram_seconds_text(histogram->sum_ns, value, sizeof(value));
    format_line(&f, name, "_sum", labels, NULL, value);
    (void)snprintf(value, sizeof(value), "%llu", (unsigned long long)histogram->count);
    format_line(&f, name, "_count", labels, NULL, value);
    if (f.overflow) return -1;
    return (int32_t)f.used;
}
