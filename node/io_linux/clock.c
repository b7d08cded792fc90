// The only clock reads in TigerChat. The deterministic core gets time as ticks and through
// tc_io.realtime_ns; hosts (node, bench) call these.
#include <time.h>

#include "io_linux.h"
#include "tc_assert.h"

static uint64_t clock_read_ns(clockid_t clock_id) {
    struct timespec now;
    const int result = clock_gettime(clock_id, &now);
    tc_assert(result == 0); // Only fails for an invalid clock id or pointer.
    tc_assert(now.tv_sec >= 0);
    tc_assert(now.tv_nsec >= 0 && now.tv_nsec < 1000000000L);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

uint64_t tc_io_linux_monotonic_ns(void) {
    // CLOCK_MONOTONIC (not _RAW): slewed by NTP but never stepped, and it never goes backwards.
    return clock_read_ns(CLOCK_MONOTONIC);
}

uint64_t tc_io_linux_realtime_ns(void) {
    const uint64_t now_ns = clock_read_ns(CLOCK_REALTIME);
    tc_assert(now_ns > 0);
    return now_ns;
}
