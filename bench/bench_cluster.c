// The replicas of the benchmarked group: their tc_io (in-process network + io_linux storage),
// data files, memory, and the event loop turn.
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "tc_assert.h"
#include "tc_err.h"

#define BENCH_TICKS_PER_TURN_MAX 16u // catch-up bound: later ticks are skipped, not bunched
#define BENCH_QUIESCE_NS (10ull * 1000u * 1000u * 1000u)
#define NS_PER_MS 1000000ull

// ------------------------------------------------------------------------------------------------
// tc_io of a replica.

static struct bench_replica *replica_of(struct tc_io *io) {
    struct bench_replica *replica = io->context;
    tc_assert(replica != NULL);
    tc_assert(&replica->io == io);
    return replica;
}

static void replica_send_to_replica(struct tc_io *io, uint8_t target, uint32_t epoch,
                                    const uint8_t *message) {
    (void)epoch; // the bench never reconfigures: epoch 0 throughout
    struct bench_replica *replica = replica_of(io);
    tc_assert(target < BENCH_REPLICAS);
    if (bench_lag_blocks(replica->bench, target, true, message)) return; // --lag-mib
    bench_net_send(&replica->bench->net, BENCH_TARGET_REPLICA, target, 0, message);
}

static void replica_send_to_client(struct tc_io *io, uint64_t client, const uint8_t *message) {
    struct bench_replica *replica = replica_of(io);
    tc_assert(client != 0);
    if (bench_lag_blocks(replica->bench, 0, false, message)) return; // --lag-mib
    bench_net_send(&replica->bench->net, BENCH_TARGET_CLIENT, 0, client, message);
}

static void replica_storage_read(struct tc_io *io, struct tc_io_storage_op *op) {
    tc_io_linux_replica_storage_read(&replica_of(io)->storage, op);
}

static void replica_storage_write(struct tc_io *io, struct tc_io_storage_op *op) {
    tc_io_linux_replica_storage_write(&replica_of(io)->storage, op);
}

static void replica_storage_sync(struct tc_io *io, struct tc_io_storage_op *op) {
    tc_io_linux_replica_storage_sync(&replica_of(io)->storage, op);
}

static uint64_t replica_realtime_ns(struct tc_io *io) {
    (void)replica_of(io);
    return tc_io_linux_realtime_ns();
}

static void replica_log(struct tc_io *io, enum tc_log_level level, const char *line) {
    static const char *const names[] = {"error", "warn", "info", "debug"};
    struct bench_replica *replica = replica_of(io);
    tc_assert((uint32_t)level < TC_ARRAY_COUNT(names));
    fprintf(stderr, "bench: replica=%u level=%s %s\n", replica->index, names[level], line);
}

static const struct tc_io_vtable replica_vtable = {
    .send_to_replica = replica_send_to_replica,
    .send_to_client = replica_send_to_client,
    .storage_read = replica_storage_read,
    .storage_write = replica_storage_write,
    .storage_sync = replica_storage_sync,
    .realtime_ns = replica_realtime_ns,
    .log = replica_log,
};

// ------------------------------------------------------------------------------------------------
// Set-up and tear-down.

static void cluster_replica_options(struct bench *bench, struct bench_replica *replica) {
    struct tc_replica_options *options = &replica->options;
    memset(options, 0, sizeof(*options));
    options->cluster = bench->cluster;
    options->group = 1;
    options->replica = replica->index;
    for (uint8_t slot = 0; slot < BENCH_REPLICAS; slot++) {
        options->members[slot] = 0xbe0c000000000000ull | (bench->cluster << 8) | (slot + 1u);
    }
    options->replica_id = options->members[replica->index];
    options->replica_count = BENCH_REPLICAS;
    options->journal_slot_count = bench->options.journal_slots;
    options->seed = bench->options.seed + replica->index;
    options->clients_max = TC_CLIENTS_MAX;
    options->room = (struct tc_room_config){
        .rooms_max = 1024,
        .members_max = 2048,
        .idempotency_keys_max = 1u << 18,
        .messages_max = 1u << 16,
    };
    options->store_segment_size_bytes = 1u << 20;
    options->store_segment_count = bench->options.store_mib;
    options->store_reads_max = 2;
    options->room.store_bytes_max = tc_replica_store_budget_bytes(options);
    options->io = &replica->io;
    replica->io = (struct tc_io){
        .vtable = &replica_vtable,
        .context = replica,
        .log_level = bench->options.verbose ? TC_LOG_INFO : TC_LOG_WARN,
    };
}

static int cluster_directory(struct bench *bench) {
    if (mkdir(bench->options.dir, 0755) == 0) {
        bench->directory_created = true;
        return 0;
    }
    if (errno == EEXIST) return 0;
    fprintf(stderr, "bench: cannot create directory '%s': %s\n", bench->options.dir,
            strerror(errno));
    return TC_EIO;
}

// Removes the replica's data files (one per storage zone); `stale` reports old ones found.
static bool cluster_replica_unlink(const struct bench_replica *replica, bool stale) {
    struct tc_storage_zone zones[TC_REPLICA_STORAGE_ZONES];
    tc_replica_storage_zones(&replica->options, zones);
    bool ok = true;
    for (uint32_t z = 0; z < TC_REPLICA_STORAGE_ZONES; z++) {
        char file[sizeof(replica->path) + 16];
        (void)snprintf(file, sizeof(file), "%s.%s", replica->path, zones[z].name);
        if (unlink(file) == 0) {
            if (stale) fprintf(stderr, "bench: removed stale data file %s\n", file);
        } else if (errno != ENOENT) {
            fprintf(stderr, "bench: cannot remove %s: %s\n", file, strerror(errno));
            ok = false;
        }
    }
    return ok;
}

static int cluster_replica_storage(struct bench *bench, struct bench_replica *replica) {
    int length = snprintf(replica->path, sizeof(replica->path), "%s/replica-%u.tigerchat-bench",
                          bench->options.dir, replica->index);
    if (length < 0 || (uint32_t)length >= sizeof(replica->path)) {
        fprintf(stderr, "bench: --dir is too long\n");
        return TC_EINVAL;
    }
    cluster_replica_unlink(replica, true);
    const int result = tc_io_linux_replica_storage_open(&replica->storage, replica->path,
                                                        &replica->options, true,
                                                        bench->options.storage_threads);
    if (result != 0) {
        fprintf(stderr, "bench: %s (%s)\n", replica->storage.error, tc_errname(result));
        return result;
    }
    replica->storage_open = true;
    return 0;
}

static int cluster_replica_memory(struct bench_replica *replica) {
    replica->memory_size = tc_align_up(tc_replica_memory_size(&replica->options), 4096);
    replica->memory = aligned_alloc(4096, replica->memory_size);
    if (replica->memory == NULL) {
        fprintf(stderr, "bench: cannot allocate %llu bytes for replica %u\n",
                (unsigned long long)replica->memory_size, replica->index);
        return TC_ENOMEM;
    }
    memset(replica->memory, 0, replica->memory_size); // Touch it now, not in the measured loop.
    struct tc_arena arena;
    tc_arena_init(&arena, replica->memory, replica->memory_size);
    const int result = tc_replica_init(&replica->replica, &replica->options, &arena);
    if (result != 0) {
        fprintf(stderr, "bench: tc_replica_init(replica %u): %s\n", replica->index,
                tc_errname(result));
        return result;
    }
    tc_arena_seal(&arena);
    return 0;
}

static int cluster_replica_init(struct bench *bench, uint8_t index) {
    struct bench_replica *replica = &bench->replicas[index];
    replica->bench = bench;
    replica->index = index;
    cluster_replica_options(bench, replica);
    const char *invalid = tc_replica_options_invalid(&replica->options);
    if (invalid != NULL) {
        fprintf(stderr, "bench: invalid replica options: %s\n", invalid);
        return TC_EINVAL;
    }
    int result = cluster_replica_storage(bench, replica);
    if (result == 0) result = cluster_replica_memory(replica);
    return result;
}

int bench_cluster_init(struct bench *bench) {
    tc_assert(bench->options.journal_slots > 0);
    int result = bench_net_init(&bench->net, bench->options.net_slots);
    if (result != 0) {
        fprintf(stderr, "bench: cannot allocate the network queue\n");
        return result;
    }
    result = cluster_directory(bench);
    if (result != 0) return result;
    const uint64_t format_start_ns = tc_io_linux_monotonic_ns();
    for (uint8_t index = 0; index < BENCH_REPLICAS; index++) {
        result = cluster_replica_init(bench, index);
        if (result != 0) return result;
    }
    bench->format_ns = tc_io_linux_monotonic_ns() - format_start_ns;
    for (uint8_t index = 0; index < BENCH_REPLICAS; index++) {
        tc_replica_open(bench->replicas[index].replica);
    }
    bench->tick_next_ns = tc_io_linux_monotonic_ns() + TC_TICK_MS * NS_PER_MS;
    return 0;
}

void bench_cluster_deinit(struct bench *bench) {
    for (uint32_t index = 0; index < BENCH_REPLICAS; index++) {
        struct bench_replica *replica = &bench->replicas[index];
        if (replica->storage_open) {
            tc_io_linux_replica_storage_close(&replica->storage);
            replica->storage_open = false;
            if (!bench->options.keep) (void)cluster_replica_unlink(replica, false);
        }
        free(replica->memory);
        replica->memory = NULL;
    }
    bench_net_deinit(&bench->net);
    if (!bench->options.keep && bench->directory_created) (void)rmdir(bench->options.dir);
}

// ------------------------------------------------------------------------------------------------
// The loop.

static void cluster_ticks(struct bench *bench, uint64_t now_ns) {
    const uint64_t tick_ns = TC_TICK_MS * NS_PER_MS;
    for (uint32_t i = 0; i < BENCH_TICKS_PER_TURN_MAX && now_ns >= bench->tick_next_ns; i++) {
        for (uint32_t index = 0; index < BENCH_REPLICAS; index++) {
            tc_replica_tick(bench->replicas[index].replica);
        }
        bench_load_tick(bench);
        bench->ticks++;
        bench->tick_next_ns += tick_ns;
    }
    if (now_ns >= bench->tick_next_ns) { // Far behind (a stall): do not replay every tick.
        bench->ticks_skipped += (now_ns - bench->tick_next_ns) / tick_ns + 1u;
        bench->tick_next_ns = now_ns + tick_ns;
    }
    tc_assert(bench->tick_next_ns > now_ns);
}

// Delivers the messages queued now (messages sent during delivery wait for the next turn).
static uint32_t cluster_deliver(struct bench *bench) {
    const uint32_t budget = bench->net.count;
    for (uint32_t i = 0; i < budget; i++) {
        const struct bench_net_slot *slot = bench_net_peek(&bench->net);
        tc_assert(slot != NULL);
        if (slot->target == BENCH_TARGET_REPLICA) {
            if (slot->replica < BENCH_REPLICAS) {
                tc_replica_on_message(bench->replicas[slot->replica].replica, slot->data,
                                      slot->size);
            } else {
                bench->net.stats.dropped_unknown++;
            }
        } else {
            tc_assert(slot->target == BENCH_TARGET_CLIENT);
            bench_load_client_message(bench, slot->client, slot->data, slot->size);
        }
        bench_net_pop(&bench->net);
    }
    return budget;
}

static uint32_t cluster_poll_storage(struct bench *bench) {
    uint32_t completions = 0;
    for (uint32_t index = 0; index < BENCH_REPLICAS; index++) {
        completions += tc_io_linux_replica_storage_poll(&bench->replicas[index].storage);
    }
    return completions;
}

// Sleeps until a storage completion is signalled or `deadline_ns` (monotonic) passes.
static void cluster_wait(struct bench *bench, uint64_t deadline_ns) {
    struct pollfd descriptors[BENCH_REPLICAS * TC_IO_LINUX_REPLICA_ZONES];
    uint32_t count = 0;
    for (uint32_t index = 0; index < BENCH_REPLICAS; index++) {
        int fds[TC_IO_LINUX_REPLICA_ZONES];
        uint32_t n = tc_io_linux_replica_storage_event_fds(&bench->replicas[index].storage, fds,
                                                           TC_IO_LINUX_REPLICA_ZONES);
        for (uint32_t i = 0; i < n; i++) {
            descriptors[count++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        }
    }
    const uint64_t now_ns = tc_io_linux_monotonic_ns();
    const uint64_t wait_ns = deadline_ns > now_ns ? deadline_ns - now_ns : 0;
    const struct timespec timeout = {
        .tv_sec = (time_t)(wait_ns / 1000000000u),
        .tv_nsec = (long)(wait_ns % 1000000000u),
    };
    const int ready = ppoll(descriptors, count, &timeout, NULL);
    tc_assert(ready >= 0 || errno == EINTR);
    bench->waits++;
}

uint64_t bench_cluster_run_once(struct bench *bench) {
    uint64_t now_ns = tc_io_linux_monotonic_ns();
    bench->turns++;
    cluster_ticks(bench, now_ns);
    const uint32_t delivered = cluster_deliver(bench);
    const uint32_t completed = cluster_poll_storage(bench);
    bench_transfer_update(bench); // Before the idle wait: it reads the clock of this turn.
    bench_lag_update(bench);
    if (delivered == 0 && completed == 0 && bench->net.count == 0) {
        cluster_wait(bench, bench->tick_next_ns);
    }
    now_ns = tc_io_linux_monotonic_ns();
    bench_load_phase_update(bench, now_ns);
    return now_ns;
}

void bench_cluster_quiesce(struct bench *bench) {
    const uint64_t deadline_ns = tc_io_linux_monotonic_ns() + BENCH_QUIESCE_NS;
    for (uint32_t turn = 0; turn < 1000000u; turn++) {
        bench->net.stats.discarded_at_stop += bench->net.count;
        while (bench->net.count > 0) bench_net_pop(&bench->net);
        (void)cluster_poll_storage(bench);
        uint32_t inflight = 0;
        for (uint32_t index = 0; index < BENCH_REPLICAS; index++) {
            inflight += tc_io_linux_replica_storage_inflight(&bench->replicas[index].storage);
        }
        if (inflight == 0 && bench->net.count == 0) return;
        if (tc_io_linux_monotonic_ns() > deadline_ns) break;
        cluster_wait(bench, tc_io_linux_monotonic_ns() + 10u * NS_PER_MS);
    }
    fprintf(stderr, "bench: storage still busy after %llu s at stop\n",
            (unsigned long long)(BENCH_QUIESCE_NS / 1000000000u));
}

// ------------------------------------------------------------------------------------------------
// Observation.

int bench_cluster_primary(const struct bench *bench) {
    int primary = -1;
    uint32_t view_max = 0;
    for (uint32_t index = 0; index < BENCH_REPLICAS; index++) {
        struct tc_replica_status status;
        tc_replica_status_get(bench->replicas[index].replica, &status);
        if (status.state != TC_REPLICA_NORMAL || !status.primary) continue;
        if (primary == -1 || status.view > view_max) {
            primary = (int)index;
            view_max = status.view;
        }
    }
    tc_assert(primary < (int)BENCH_REPLICAS);
    return primary;
}

bool bench_cluster_all_normal(const struct bench *bench) {
    for (uint32_t index = 0; index < BENCH_REPLICAS; index++) {
        struct tc_replica_status status;
        tc_replica_status_get(bench->replicas[index].replica, &status);
        if (status.state != TC_REPLICA_NORMAL) return false;
    }
    return bench_cluster_primary(bench) >= 0;
}

// Every replica normal in the same view and has applied everything any replica knows committed.
bool bench_cluster_converged(const struct bench *bench) {
    struct tc_replica_status statuses[BENCH_REPLICAS];
    uint64_t commit_max = 0;
    for (uint32_t index = 0; index < BENCH_REPLICAS; index++) {
        tc_replica_status_get(bench->replicas[index].replica, &statuses[index]);
        if (statuses[index].commit_max > commit_max) commit_max = statuses[index].commit_max;
    }
    for (uint32_t index = 0; index < BENCH_REPLICAS; index++) {
        if (statuses[index].state != TC_REPLICA_NORMAL) return false;
        if (statuses[index].view != statuses[0].view) return false;
        if (statuses[index].commit_min != commit_max) return false;
    }
    return true;
}

bool bench_cluster_digests_equal(const struct bench *bench) {
    struct tc_checksum digests[BENCH_REPLICAS];
    for (uint32_t index = 0; index < BENCH_REPLICAS; index++) {
        tc_room_digest(tc_replica_room(bench->replicas[index].replica), &digests[index]);
    }
    for (uint32_t index = 1; index < BENCH_REPLICAS; index++) {
        if (!tc_checksum_equal(&digests[0], &digests[index])) return false;
    }
    return true;
}

void bench_cluster_storage_stats(struct bench *bench, struct tc_io_linux_storage_stats *total) {
    memset(total, 0, sizeof(*total));
    for (uint32_t index = 0; index < BENCH_REPLICAS; index++) {
        struct tc_io_linux_storage_stats stats;
        tc_io_linux_replica_storage_stats_get(&bench->replicas[index].storage, &stats);
        total->reads += stats.reads;
        total->writes += stats.writes;
        total->syncs += stats.syncs;
        total->errors += stats.errors;
        total->bytes_read += stats.bytes_read;
        total->bytes_written += stats.bytes_written;
        total->sync_ns_total += stats.sync_ns_total;
        if (stats.sync_ns_max > total->sync_ns_max) total->sync_ns_max = stats.sync_ns_max;
    }
}
