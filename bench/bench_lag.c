// Catch-up of a replica far behind (--lag-mib N): at load start one backup is cut off (the
// in-process network drops everything to and from it); when the others' message store is N MiB
// ahead of its own, the load stops, the replica is reconnected, and the bench times it until it
// has applied every committed op. With the journal ring smaller than the lag it cannot repair op by
// op: it state syncs (the checkpoint, then the store segments it lacks, docs/store.md §8), then
// repairs the journal suffix. docs/benchmarks.md has the figures.
#include <string.h>

#include "bench.h"
#include "header.h"
#include "store.h"
#include "tc_assert.h"

void bench_lag_init(struct bench *bench) {
    memset(&bench->lag, 0, sizeof(bench->lag));
    bench->lag.state = bench->options.lag_mib == 0 ? BENCH_LAG_OFF : BENCH_LAG_PENDING;
}

bool bench_lag_blocks(const struct bench *bench, uint8_t target_replica, bool to_replica,
                      const uint8_t *message) {
    if (bench->lag.state != BENCH_LAG_ISOLATED) return false;
    if (to_replica && target_replica == bench->lag.lagging) return true;
    struct tc_header header;
    memcpy(&header, message, sizeof(header));
    bool from_replica = header.command != TC_COMMAND_REQUEST; // clients only send requests
    return from_replica && header.replica == bench->lag.lagging;
}

static uint64_t store_position(const struct bench *bench, uint8_t index) {
    struct tc_store_cursor cursor = tc_store_cursor(tc_replica_store(bench->replicas[index].replica));
    return cursor.segment * bench->replicas[index].options.store_segment_size_bytes +
           cursor.offset;
}

static void lag_isolate(struct bench *bench) {
    int primary = bench_cluster_primary(bench);
    if (primary < 0) return; // mid view change: try again next turn
    bench->lag.lagging = (uint8_t)(((uint32_t)primary + 1u) % BENCH_REPLICAS);
    bench->lag.state = BENCH_LAG_ISOLATED;
}

static void lag_reconnect(struct bench *bench, uint64_t ahead_bytes) {
    struct bench_lag *lag = &bench->lag;
    uint64_t now_ns = tc_io_linux_monotonic_ns();
    bench_load_stop(bench, now_ns, "lag");
    lag->behind_bytes = ahead_bytes;
    lag->commit_target = bench->results.commit_max_at_stop;
    struct tc_replica_status status;
    tc_replica_status_get(bench->replicas[lag->lagging].replica, &status);
    lag->store_bytes_synced_before = status.sync_store_bytes;
    lag->reconnect_ns = now_ns;
    lag->state = BENCH_LAG_CATCHING_UP;
}

void bench_lag_update(struct bench *bench) {
    struct bench_lag *lag = &bench->lag;
    if (lag->state == BENCH_LAG_PENDING && bench->phase >= BENCH_PHASE_WARMUP) lag_isolate(bench);
    if (lag->state == BENCH_LAG_ISOLATED) {
        uint64_t ahead = 0;
        uint64_t own = store_position(bench, lag->lagging);
        for (uint8_t index = 0; index < BENCH_REPLICAS; index++) {
            uint64_t position = store_position(bench, index);
            if (position > own && position - own > ahead) ahead = position - own;
        }
        if (ahead >= (uint64_t)bench->options.lag_mib << 20) lag_reconnect(bench, ahead);
        return;
    }
    if (lag->state != BENCH_LAG_CATCHING_UP) return;
    struct tc_replica_status status;
    tc_replica_status_get(bench->replicas[lag->lagging].replica, &status);
    if (status.state != TC_REPLICA_NORMAL || status.commit_min < lag->commit_target) return;
    lag->done_ns = tc_io_linux_monotonic_ns();
    lag->state = BENCH_LAG_DONE;
}
