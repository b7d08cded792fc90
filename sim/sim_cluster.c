#include "sim_cluster.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "tc_assert.h"
#include "tc_err.h"

// Building the cluster, the tc_io implementations of replicas, crash/restart, and one tick.

uint32_t sim_endpoint_replica(uint32_t group, uint8_t address) {
    tc_assert(group < SIM_GROUPS_MAX);
    tc_assert(address < TC_REPLICA_ADDRESSES_MAX);
    return group * SIM_ENDPOINTS_PER_GROUP + address;
}

uint32_t sim_endpoint_session(uint32_t group, uint32_t app) {
    tc_assert(group < SIM_GROUPS_MAX);
    tc_assert(app < SIM_APPS_MAX);
    return group * SIM_ENDPOINTS_PER_GROUP + TC_REPLICA_ADDRESSES_MAX + app;
}

uint32_t sim_endpoint_operator(uint32_t group) {
    tc_assert(group < SIM_GROUPS_MAX);
    return group * SIM_ENDPOINTS_PER_GROUP + TC_REPLICA_ADDRESSES_MAX + SIM_APPS_MAX;
}

uint32_t sim_group_of_room(const struct sim_cluster *cluster, uint64_t room) {
    return (uint32_t)(room % cluster->group_count);
}

void sim_fail(struct sim_cluster *cluster, const char *invariant, const char *format, ...) {
    if (cluster->failed) return; // the first violation is the one to report
    cluster->failed = true;
    int prefix = snprintf(cluster->failure, sizeof(cluster->failure), "invariant=%s tick=%llu: ",
                          invariant, (unsigned long long)cluster->tick);
    tc_assert(prefix > 0);
    va_list args;
    va_start(args, format);
    vsnprintf(cluster->failure + prefix, sizeof(cluster->failure) - (uint32_t)prefix, format, args);
    va_end(args);
}

bool sim_replica_up(const struct sim_replica *replica) {
    return replica->replica != NULL && replica->paused_until_tick <= replica->cluster->tick;
}

static uint32_t message_size(const uint8_t *message) {
    struct tc_header header;
    memcpy(&header, message, sizeof(header));
    tc_assert(header.size >= TC_HEADER_SIZE && header.size <= TC_MESSAGE_SIZE_MAX);
    return header.size;
}

// ---- tc_io of a replica ---------------------------------------------------------------------

static struct sim_replica *io_replica(struct tc_io *io) { return io->context; }

// The routing epoch travels with the packet as its tag: the holder is chosen at delivery.
static void replica_send_to_replica(struct tc_io *io, uint8_t replica, uint32_t epoch,
                                    const uint8_t *message) {
    struct sim_replica *self = io_replica(io);
    tc_assert(replica < TC_REPLICA_ADDRESSES_MAX);
    tc_assert(replica % TC_REPLICAS_MAX < self->group->replica_count);
    sim_durability_on_send(self, message);
    sim_network_send(&self->cluster->network, self->endpoint,
                     sim_endpoint_replica(self->group->index, replica), epoch, message,
                     message_size(message));
}

static void replica_send_to_client(struct tc_io *io, uint64_t client, const uint8_t *message) {
    struct sim_replica *self = io_replica(io);
    if (client == self->group->reconfig.client_id) {
        sim_network_send(&self->cluster->network, self->endpoint, self->group->reconfig.endpoint,
                         0, message, message_size(message));
        return;
    }
    struct sim_session *session = sim_session_by_client(self->group, client);
    if (session == NULL) return; // an old (evicted) client id: nobody listens there any more
    sim_network_send(&self->cluster->network, self->endpoint, session->endpoint, 0, message,
                     message_size(message));
}

static void replica_storage_read(struct tc_io *io, struct tc_io_storage_op *op) {
    sim_storage_submit(&io_replica(io)->storage, TC_IO_STORAGE_READ, op);
}

static void replica_storage_write(struct tc_io *io, struct tc_io_storage_op *op) {
    sim_storage_submit(&io_replica(io)->storage, TC_IO_STORAGE_WRITE, op);
}

static void replica_storage_sync(struct tc_io *io, struct tc_io_storage_op *op) {
    sim_storage_submit(&io_replica(io)->storage, TC_IO_STORAGE_SYNC, op);
}

static uint64_t replica_realtime_ns(struct tc_io *io) {
    return sim_replica_realtime_ns(io_replica(io));
}

static void replica_log(struct tc_io *io, enum tc_log_level level, const char *line) {
    struct sim_replica *self = io_replica(io);
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    if (!self->cluster->verbose) return;
    // A holder that joined by replacement is marked with the epoch it was added for.
    char mark[16] = "";
    if (self->since_epoch > 0) snprintf(mark, sizeof(mark), "@e%u", self->since_epoch);
    printf("%llu g%u r%u%s %s: %s\n", (unsigned long long)self->cluster->tick, self->group->index,
           self->index, mark, (uint32_t)level < 4 ? levels[level] : "?", line);
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

// ---- replica lifecycle ----------------------------------------------------------------------

static void format_write(void *context, uint64_t offset, const uint8_t *data, uint32_t size) {
    sim_storage_write_direct(context, offset, data, size);
}

static struct tc_replica_options replica_options(const struct sim_replica *replica) {
    struct tc_replica_options options = replica->group->options;
    options.replica = replica->index;
    options.replica_id = replica->replica_id;
    options.seed = replica->cluster->seed * 131u + replica->group->index * 8u + replica->index +
                   replica->restarts * 1000003u;
    options.io = (struct tc_io *)&replica->io;
    options.commit_hook = sim_checker_commit_hook;
    options.hook_context = (void *)replica;
    return options;
}

// Verbose trace: what the superblock copies on storage say at a (re)start.
static void superblock_trace(const struct sim_replica *replica) {
    for (uint32_t copy = 0; copy < TC_SUPERBLOCK_COPIES; copy++) {
        uint64_t offset = replica->group->layout.superblock_offset +
                          copy * replica->group->layout.superblock_copy_size;
        struct tc_superblock superblock;
        memcpy(&superblock, replica->storage.image + offset, sizeof(superblock));
        struct tc_checksum expected;
        tc_checksum_compute(&expected, (const uint8_t *)&superblock + sizeof(superblock.checksum),
                            sizeof(superblock) - sizeof(superblock.checksum));
        uint32_t sector = (uint32_t)(offset / SIM_SECTOR_SIZE);
        uint32_t count = tc_min_u32(superblock.view_headers_count, TC_VIEW_HEADERS_MAX);
        for (uint32_t i = 0; i < count; i++) {
            const struct tc_header *header = &superblock.view_headers[i];
            const char *invalid = tc_header_valid_checksum(header) ? tc_header_invalid(header)
                                                                   : "header checksum";
            if (invalid == NULL && header->command == TC_COMMAND_PREPARE) continue;
            printf("%llu g%u r%u sim: superblock copy %u view header %u/%u (op %llu command %u): "
                   "%s\n",
                   (unsigned long long)replica->cluster->tick, replica->group->index,
                   replica->index, copy, i, count, (unsigned long long)header->op,
                   header->command, invalid == NULL ? "not a prepare" : invalid);
        }
        printf("%llu g%u r%u sim: superblock copy %u: checksum %s sequence %llu view %u "
               "log_view %u copy %u%s%s\n",
               (unsigned long long)replica->cluster->tick, replica->group->index, replica->index,
               copy, tc_checksum_equal(&expected, &superblock.checksum) ? "ok" : "BAD",
               (unsigned long long)superblock.sequence, superblock.view, superblock.log_view,
               superblock.copy, replica->storage.bad[sector] ? " latent-error" : "",
               sim_storage_sector_dirty(&replica->storage, sector) ? " unsynced" : "");
    }
}

void sim_replica_start(struct sim_replica *replica) {
    tc_assert(replica->replica == NULL);
    struct tc_replica_options options = replica_options(replica);
    tc_arena_init(&replica->arena, replica->memory, replica->memory_size);
    int result = tc_replica_init(&replica->replica, &options, &replica->arena);
    tc_assert(result == TC_OK);
    tc_assert(replica->replica != NULL);
    replica->commit_last = 0;
    replica->fresh = true;
    replica->paused_until_tick = 0;
    if (replica->restarts > 0) replica->cluster->stats.restarts += 1;
    if (replica->cluster->verbose) {
        printf("%llu g%u r%u sim: start (restarts %llu)\n", (unsigned long long)replica->cluster->tick,
               replica->group->index, replica->index, (unsigned long long)replica->restarts);
        superblock_trace(replica);
    }
    tc_replica_open(replica->replica);
}

// Discards the replica object and its memory; its storage keeps what the crash kind leaves.
void sim_replica_crash(struct sim_replica *replica, bool machine) {
    tc_assert(replica->replica != NULL);
    struct sim_cluster *cluster = replica->cluster;
    uint64_t lost = replica->storage.stats.lost_sectors;
    uint64_t torn = replica->storage.stats.torn_sectors;
    if (machine) {
        sim_storage_crash_machine(&replica->storage);
        cluster->coverage.faults[SIM_FAULT_CRASH_MACHINE] += 1;
        cluster->coverage.faults[SIM_FAULT_LOST_WRITE] += replica->storage.stats.lost_sectors - lost;
        cluster->coverage.faults[SIM_FAULT_TORN_WRITE] += replica->storage.stats.torn_sectors - torn;
    } else {
        sim_storage_crash_process(&replica->storage);
        cluster->coverage.faults[SIM_FAULT_CRASH_PROCESS] += 1;
    }
    sim_durability_on_crash(replica, machine);
    replica->replica = NULL;
    replica->paused_until_tick = 0;
    replica->restarts += 1;
    // Poison the old memory: nothing may survive a crash but the storage.
    memset(replica->memory, 0xA5, (size_t)tc_min_u64(replica->arena.used_bytes, replica->memory_size));
    if (cluster->verbose) {
        printf("%llu g%u r%u sim: %s crash\n", (unsigned long long)cluster->tick,
               replica->group->index, replica->index, machine ? "machine" : "process");
    }
}

int sim_holder_start(struct sim_cluster *cluster, struct sim_group *group,
                     struct sim_replica *replica, uint8_t index, uint64_t replica_id,
                     uint32_t since_epoch, bool learner) {
    memset(replica, 0, sizeof(*replica));
    replica->cluster = cluster;
    replica->group = group;
    replica->index = index;
    replica->exists = true;
    replica->replica_id = replica_id;
    replica->since_epoch = since_epoch;
    // Each of a slot's two holders sends from its own endpoint (both share the slot's side in a
    // partition): replicas[k] from the slot's, spares[k] from the slot's learner address's.
    bool spare = replica == &group->spares[index];
    replica->endpoint = sim_endpoint_replica(
        group->index, spare ? TC_REPLICA_ADDRESS_LEARNER(index) : index);
    replica->io.vtable = &replica_vtable;
    replica->io.context = replica;
    replica->io.log_level = cluster->verbose ? TC_LOG_DEBUG : TC_LOG_ERROR;
    struct tc_replica_options options = replica_options(replica);
    tc_assert(tc_replica_options_invalid(&options) == NULL);

    struct sim_storage_options storage_options;
    sim_storage_options_draw(cluster, &storage_options);
    storage_options.size_bytes = tc_replica_storage_size(&options);
    // A learner's disk is outside the fault atlas (it is faulted only by crashes): the atlas
    // budgets faults per slot, and the slot's member is still running.
    storage_options.atlas = learner ? NULL : &group->atlas;
    if (learner) {
        storage_options.read_error_ppm = 0;
        storage_options.bit_flip_ppm = 0;
    }
    storage_options.replica = index;
    struct tc_storage_zone zones[TC_REPLICA_STORAGE_ZONES];
    tc_replica_storage_zones(&options, zones);
    storage_options.zone_count = TC_REPLICA_STORAGE_ZONES;
    for (uint32_t z = 0; z < TC_REPLICA_STORAGE_ZONES; z++) {
        storage_options.zone_offsets[z] = zones[z].offset_bytes;
    }
    int result = sim_storage_init(&replica->storage, &storage_options);
    if (result != TC_OK) return result;
    result = sim_durability_init(replica);
    if (result != TC_OK) return result;
    tc_replica_format(&options, format_write, &replica->storage);

    replica->memory_size = tc_replica_memory_size(&options);
    replica->memory = malloc(replica->memory_size);
    if (replica->memory == NULL) return TC_ENOMEM;
    sim_replica_start(replica);
    return TC_OK;
}

static void layout_from_journal(struct sim_layout *out, const struct tc_replica_options *options) {
    uint32_t slot_count = options->journal_slot_count;
    struct tc_journal_layout journal;
    tc_journal_layout_init(&journal, slot_count, tc_replica_checkpoint_size_max(options));
    memset(out, 0, sizeof(*out));
    out->superblock_offset = journal.superblock_offset;
    out->superblock_copies = TC_SUPERBLOCK_COPIES;
    out->superblock_copy_size = journal.superblock_size / TC_SUPERBLOCK_COPIES;
    out->slot_count = slot_count;
    out->headers_offset = journal.header_ring_offset;
    out->prepares_offset = journal.prepare_ring_offset;
    out->prepare_slot_size = journal.prepare_ring_size / slot_count;
    out->checkpoint_offset = journal.checkpoint_area_offset;
    out->checkpoint_size = 2 * journal.checkpoint_area_size;
    out->size = tc_replica_storage_size(options); // the message store zone follows the journal
    tc_assert(sim_layout_invalid(out) == NULL);
}

static void group_options(struct sim_cluster *cluster, struct sim_group *group) {
    struct tc_replica_options *options = &group->options;
    memset(options, 0, sizeof(*options));
    options->cluster = cluster->cluster_id;
    options->group = group->index;
    options->replica_count = group->replica_count;
    // The initial configuration: one identity per slot (vsr.md §11.4), distinct and non-zero.
    for (uint8_t slot = 0; slot < group->replica_count; slot++) {
        options->members[slot] = (tc_prng_next(&cluster->prng) << 8) | (uint64_t)(slot + 1u);
    }
    // Small rings so that runs wrap them and checkpoint many times.
    static const uint32_t slot_counts[] = {64, 128, 256};
    options->journal_slot_count = slot_counts[tc_prng_below(&cluster->prng, 3)];
    if (cluster->reconfig_heavy) options->journal_slot_count = slot_counts[0]; // most syncs
    // Small session tables in some seeds, so that sessions get evicted.
    options->clients_max = tc_prng_below(&cluster->prng, 4) == 0
                               ? (uint32_t)tc_prng_range(&cluster->prng, 1, 3)
                               : TC_CLIENTS_MAX;
    options->room.rooms_max = 64;
    options->room.members_max = 256;
    options->room.idempotency_keys_max = 4096;
    options->room.messages_max = 128;
    // Small segments, so that history pages cross segment boundaries often; a small store in some
    // seeds, so that sends hit store_full (docs/store.md S5).
    // 256 KiB segments take several store_chunk messages each in a state sync.
    static const uint32_t segment_sizes[] = {16u * 1024u, 32u * 1024u, 64u * 1024u, 256u * 1024u};
    options->store_segment_size_bytes = segment_sizes[tc_prng_below(&cluster->prng, 4)];
    options->store_segment_count = tc_prng_below(&cluster->prng, 8) == 0
                                       ? (uint32_t)tc_prng_range(&cluster->prng, 2, 12)
                                       : 1024u;
    options->store_reads_max = 2;
    options->room.store_bytes_max = tc_replica_store_budget_bytes(options);
}

static int group_init(struct sim_cluster *cluster, uint32_t index) {
    struct sim_group *group = &cluster->groups[index];
    memset(group, 0, sizeof(*group));
    group->index = index;
    uint64_t shape = tc_prng_below(&cluster->prng, 10);
    group->replica_count = shape == 0 ? 1 : (shape == 1 ? 5 : 3);
    group->quorum = (uint8_t)(group->replica_count / 2 + 1);
    group_options(cluster, group);
    // Long enough to wrap the journal ring several times (checkpoints every half ring).
    group->ops_limit = group->options.journal_slot_count * 8;
    layout_from_journal(&group->layout, &group->options);
    int result = sim_atlas_init(&group->atlas, &group->layout, group->replica_count);
    if (result != TC_OK) return result;
    return sim_reconfig_init(cluster, group);
}

static void cluster_deliver(void *context, uint32_t from, uint32_t to, uint32_t tag,
                            const uint8_t *message, uint32_t size) {
    struct sim_cluster *cluster = context;
    struct tc_header header;
    memcpy(&header, message, sizeof(header));
    if (header.command < TC_COMMAND_COUNT) cluster->coverage.commands[header.command] += 1;
    uint32_t group_index = to / SIM_ENDPOINTS_PER_GROUP;
    uint32_t local = to % SIM_ENDPOINTS_PER_GROUP;
    tc_assert(group_index < cluster->group_count);
    struct sim_group *group = &cluster->groups[group_index];
    if (local < TC_REPLICA_ADDRESSES_MAX) {
        struct sim_replica *replica = sim_route(group, (uint8_t)local, tag);
        if (replica == NULL || !sim_replica_up(replica)) { // down, paused, retired: lost
            cluster->stats.lost_at_down += 1;
            return;
        }
        sim_checker_on_deliver(replica, from, message);
        tc_replica_on_message(replica->replica, message, size);
    } else if (local < TC_REPLICA_ADDRESSES_MAX + SIM_APPS_MAX) {
        uint32_t app = local - TC_REPLICA_ADDRESSES_MAX;
        struct sim_session *session = &cluster->apps[app].sessions[group_index];
        tc_client_on_message(session->client, message, size);
    } else {
        if (group->reconfig.client != NULL) {
            tc_client_on_message(group->reconfig.client, message, size);
        }
    }
}

int sim_cluster_init(struct sim_cluster *cluster, uint64_t seed, bool verbose,
                     bool reconfig_heavy) {
    memset(cluster, 0, sizeof(*cluster));
    cluster->seed = seed;
    cluster->verbose = verbose;
    cluster->reconfig_heavy = reconfig_heavy;
    uint64_t state = seed;
    tc_prng_init(&cluster->prng, tc_prng_splitmix64(&state));
    tc_prng_init(&cluster->fault_prng, tc_prng_splitmix64(&state));
    cluster->cluster_id = tc_prng_next(&cluster->prng) | 1u;
    sim_swarm_draw(cluster);
    cluster->group_count = (uint32_t)tc_prng_range(&cluster->prng, 1, SIM_GROUPS_MAX);
    cluster->app_count = (uint32_t)tc_prng_range(&cluster->prng, 1, SIM_APPS_MAX);
    cluster->scratch = malloc(TC_MESSAGE_SIZE_MAX);
    if (cluster->scratch == NULL) return TC_ENOMEM;

    struct sim_network_options network;
    sim_network_options_draw(cluster, &network);
    network.endpoint_count = cluster->group_count * SIM_ENDPOINTS_PER_GROUP;
    int result = sim_network_init(&cluster->network, &network, cluster_deliver, cluster);
    if (result != TC_OK) return result;
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        result = group_init(cluster, g);
        if (result != TC_OK) return result;
    }
    result = sim_checker_init(cluster);
    if (result != TC_OK) return result;
    result = sim_workload_init(cluster);
    if (result != TC_OK) return result;
    // Replicas start last: their first commits reach the checker.
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        for (uint8_t r = 0; r < cluster->groups[g].replica_count; r++) {
            struct sim_group *group = &cluster->groups[g];
            result = sim_holder_start(cluster, group, &group->replicas[r], r,
                                      group->options.members[r], 0, false);
            if (result != TC_OK) return result;
        }
    }
    return TC_OK;
}

void sim_cluster_deinit(struct sim_cluster *cluster) {
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        struct sim_group *group = &cluster->groups[g];
        for (uint32_t h = 0; h < SIM_HOLDERS; h++) {
            struct sim_replica *replica = sim_holder(group, h);
            if (replica != NULL) sim_holder_free(replica);
        }
        sim_reconfig_deinit(group);
        sim_atlas_deinit(&group->atlas);
    }
    sim_workload_deinit(cluster);
    sim_checker_deinit(cluster);
    sim_network_deinit(&cluster->network);
    free(cluster->scratch);
    cluster->scratch = NULL;
}

// Frees a holder's process, storage and checker state (a retired or rolled-back replica, or at
// the end of the run). Its statistics are folded into the group's first.
void sim_holder_free(struct sim_replica *replica) {
    tc_assert(replica->exists);
    replica->cluster->stats.freed_read_errors += replica->storage.stats.read_errors;
    replica->cluster->stats.freed_bit_flips += replica->storage.stats.bit_flips;
    replica->cluster->stats.freed_flushes_slow += replica->storage.stats.flushes_slow;
    sim_storage_deinit(&replica->storage);
    sim_durability_deinit(replica);
    free(replica->memory);
    replica->memory = NULL;
    replica->replica = NULL;
    replica->exists = false;
}

static void storage_coverage(struct sim_cluster *cluster) {
    uint64_t read_errors = cluster->stats.freed_read_errors;
    uint64_t bit_flips = cluster->stats.freed_bit_flips;
    uint64_t flushes_slow = cluster->stats.freed_flushes_slow;
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        for (uint32_t h = 0; h < SIM_HOLDERS; h++) {
            struct sim_replica *replica = sim_holder(&cluster->groups[g], h);
            if (replica == NULL) continue;
            read_errors += replica->storage.stats.read_errors;
            bit_flips += replica->storage.stats.bit_flips;
            flushes_slow += replica->storage.stats.flushes_slow;
        }
    }
    cluster->coverage.faults[SIM_FAULT_READ_ERROR] = read_errors;
    cluster->coverage.faults[SIM_FAULT_BIT_FLIP] = bit_flips;
    cluster->coverage.faults[SIM_FAULT_FLUSH_SLOW] = flushes_slow;
    cluster->coverage.faults[SIM_FAULT_LOSS] = cluster->network.stats.dropped[SIM_DROP_LOSS];
    cluster->coverage.faults[SIM_FAULT_DUPLICATION] = cluster->network.stats.duplicated;
    cluster->coverage.faults[SIM_FAULT_REORDER] = cluster->network.stats.delayed_reordered;
    cluster->coverage.faults[SIM_FAULT_CLOG] = cluster->network.stats.clogs;
}

// One tick: faults, network deliveries, storage completions, replica ticks, clients, checkers.
void sim_cluster_tick(struct sim_cluster *cluster) {
    cluster->tick += 1;
    sim_faults_tick(cluster);
    sim_network_step(&cluster->network, cluster->tick);
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        struct sim_group *group = &cluster->groups[g];
        for (uint32_t h = 0; h < SIM_HOLDERS; h++) {
            struct sim_replica *replica = sim_holder(group, h);
            if (replica == NULL || !sim_replica_up(replica)) continue;
            if (replica->crash_pending &&
                (sim_storage_at_risk(&replica->storage) ||
                 cluster->tick >= replica->crash_deadline_tick)) {
                replica->crash_pending = false;
                sim_storage_step_limit(&replica->storage, cluster->tick, replica->crash_after);
                sim_replica_crash(replica, replica->crash_machine);
                continue;
            }
            sim_storage_step(&replica->storage, cluster->tick);
            tc_replica_tick(replica->replica);
        }
    }
    sim_workload_tick(cluster);
    sim_reconfig_tick(cluster);
    sim_checker_tick(cluster);
    storage_coverage(cluster);
}
