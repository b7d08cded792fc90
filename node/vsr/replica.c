// VSR replica: init, recovery, ticks, message intake, the normal case (request -> prepare ->
// prepare_ok -> commit -> reply), the commit path and repair. View change is in replica_view.c.
// Protocol, invariants and diagrams: docs/vsr.md.

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "replica_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

// ---------------------------------------------------------------------------------------------
// Small helpers.

uint8_t replica_primary_index(const struct tc_replica *replica, uint32_t view) {
    return (uint8_t)(view % replica->replica_count);
}

bool replica_is_primary(const struct tc_replica *replica) {
    return replica_member(replica) && replica_primary_index(replica, replica->view) == replica->replica;
}

const char *tc_replica_state_name(enum tc_replica_state state) {
    switch (state) {
    case TC_REPLICA_RECOVERING: return "recovering";
    case TC_REPLICA_NORMAL: return "normal";
    case TC_REPLICA_VIEW_CHANGE: return "view_change";
    case TC_REPLICA_RECOVERING_HEAD: return "recovering_head";
    case TC_REPLICA_STOPPED: return "stopped";
    default: return "unknown";
    }
}

void replica_log(struct tc_replica *replica, enum tc_log_level level, const char *format, ...) {
    if (level > replica->io->log_level) return;
    char line[320];
    int prefix = snprintf(line, sizeof(line), "g%u r%u v%u %s op=%llu c=%llu/%llu ",
                          replica->options.group, replica->replica, replica->view,
                          tc_replica_state_name(replica->state),
                          (unsigned long long)replica->op_head,
                          (unsigned long long)replica->commit_min,
                          (unsigned long long)replica->commit_max);
    if (prefix < 0) prefix = 0;
    if ((size_t)prefix >= sizeof(line)) prefix = (int)sizeof(line) - 1;
    va_list args;
    va_start(args, format);
    vsnprintf(line + prefix, sizeof(line) - (size_t)prefix, format, args);
    va_end(args);
    replica->io->vtable->log(replica->io, level, line);
}

// `target` is an address: a slot, resolved by the io in `epoch` (our acting epoch for our own
// messages, the asker's for an answer: vsr.md §11.4), or a learner address.
void replica_send_answer(struct tc_replica *replica, uint8_t target, uint32_t epoch,
                         const uint8_t *message) {
    bool slot = target < replica->replica_count;
    bool learner = target >= TC_REPLICAS_MAX && target - TC_REPLICAS_MAX < replica->replica_count;
    tc_assert(slot || learner);
    tc_assert(target != replica_address(replica));
    if (replica_retired(replica)) {
        // A retired replica only answers: prepares it serves by checksum, state sync and store
        // chunks, start_epoch (the group may need it: its successor can still be catching up).
        uint8_t command = ((const struct tc_header *)(const void *)message)->command;
        if (command != TC_COMMAND_PREPARE && command != TC_COMMAND_SYNC &&
            command != TC_COMMAND_STORE_CHUNK && command != TC_COMMAND_START_EPOCH) {
            return;
        }
    }
    replica->io->vtable->send_to_replica(replica->io, target, epoch, message);
}

void replica_send(struct tc_replica *replica, uint8_t target, const uint8_t *message) {
    replica_send_answer(replica, target, replica->acting_epoch, message);
}

void replica_header_init(const struct tc_replica *replica, struct tc_header *header,
                         enum tc_command command) {
    memset(header, 0, sizeof(*header));
    header->version = TC_HEADER_VERSION;
    header->command = (uint8_t)command;
    header->cluster = replica->options.cluster;
    header->group = replica->options.group;
    header->view = replica->view;
    header->epoch = replica->acting_epoch;
    header->replica = replica_address(replica);
    header->size = TC_HEADER_SIZE;
}

void replica_send_header(struct tc_replica *replica, uint8_t target, struct tc_header *header) {
    tc_assert(header->size == TC_HEADER_SIZE);
    tc_header_set_checksum_body(header, NULL, 0);
    tc_header_set_checksum(header);
    tc_assert_hot(tc_header_invalid(header) == NULL);
    replica_send(replica, target, (const uint8_t *)header);
}

// The primary streams prepares and commit heartbeats to learners it heard from recently
// (they poll with request_start_view), so they keep up without acknowledging anything.
#define REPLICA_LEARNER_HEARD_TICKS 100u
static void send_to_learners(struct tc_replica *replica, const uint8_t *message) {
    for (uint8_t slot = 0; slot < replica->replica_count; slot++) {
        if (replica->learner_heard_ticks[slot] >= REPLICA_LEARNER_HEARD_TICKS) continue;
        replica_send(replica, TC_REPLICA_ADDRESS_LEARNER(slot), message);
    }
}

static void send_header_to_all(struct tc_replica *replica, struct tc_header *header) {
    tc_header_set_checksum_body(header, NULL, 0);
    tc_header_set_checksum(header);
    for (uint8_t r = 0; r < replica->replica_count; r++) {
        if (r != replica->replica) replica_send(replica, r, (const uint8_t *)header);
    }
}

static const struct tc_header *log_header(const struct tc_replica *replica, uint64_t op) {
    return tc_journal_header(replica->journal, op);
}

static bool log_clean(const struct tc_replica *replica, uint64_t op) {
    return tc_journal_slot_state(replica->journal, op) == TC_SLOT_CLEAN &&
           log_header(replica, op) != NULL;
}

bool replica_log_clean(const struct tc_replica *replica, uint64_t op) {
    return log_clean(replica, op);
}

// ---------------------------------------------------------------------------------------------
// The log: headers in the journal plus the hash-chain bookkeeping (op_chained_min).

bool replica_connected(const struct tc_replica *replica) {
    return replica->op_chained_min <= replica->commit_min;
}

// Extends op_chained_min downward while each header's parent is the header below it.
void replica_chain_extend(struct tc_replica *replica) {
    tc_assert(replica->op_chained_min <= replica->op_head);
    if (log_header(replica, replica->op_chained_min) == NULL) return; // head known by anchor only
    for (uint64_t guard = 0; guard <= replica->options.journal_slot_count; guard++) {
        uint64_t op = replica->op_chained_min;
        if (op == 0) return;
        const struct tc_header *upper = log_header(replica, op);
        const struct tc_header *lower = log_header(replica, op - 1);
        if (lower == NULL || !tc_checksum_equal(&upper->parent, &lower->checksum)) {
            // A committed op that does not chain to the canonical log is a safety violation.
            tc_assert(op - 1 > replica->commit_min || lower == NULL);
            return;
        }
        replica->op_chained_min = op - 1;
    }
    tc_unreachable();
}

static void prepare_ok_cache_invalidate(struct tc_replica *replica, uint64_t op) {
    if (op <= replica->op_prepare_ok_max) {
        replica->op_prepare_ok_max = op == 0 ? 0 : op - 1;
    }
    if (replica->op_prepare_ok_max < replica->commit_min) {
        replica->op_prepare_ok_max = replica->commit_min;
    }
}

// Installs `header` as the log's entry for its op. Entries above a replaced entry no longer chain
// to it: the caller truncates or repairs. Committed entries never change.
void replica_log_set(struct tc_replica *replica, const struct tc_header *header) {
    tc_assert(header->command == TC_COMMAND_PREPARE);
    uint64_t op = header->op;
    if (op < tc_journal_checkpoint_op(replica->journal)) return; // covered by the checkpoint
    tc_assert(op <= replica_op_write_max(replica));
    const struct tc_header *existing = log_header(replica, op);
    if (op <= replica->commit_min) {
        tc_assert(existing != NULL);
        tc_assert(tc_checksum_equal(&existing->checksum, &header->checksum));
        return;
    }
    bool changed = tc_journal_set_header(replica->journal, header);
    if (changed) prepare_ok_cache_invalidate(replica, op);
    if (!changed && op <= replica->op_head) return;
    if (op > replica->op_head) {
        const struct tc_header *lower = log_header(replica, replica->op_head);
        bool chains = op == replica->op_head + 1 && replica->op_chained_min <= replica->op_head &&
                      lower != NULL && tc_checksum_equal(&header->parent, &lower->checksum);
        replica->op_head = op;
        if (!chains) replica->op_chained_min = op;
        replica_chain_extend(replica);
        return;
    }
    if (op >= replica->op_chained_min) {
        // Replaced inside the chained suffix: entries above no longer chain; the caller truncated.
        tc_assert(op == replica->op_head);
        replica->op_chained_min = op;
        replica_chain_extend(replica);
        return;
    }
    if (op + 1 == replica->op_chained_min) replica_chain_extend(replica);
}

static void pipeline_pop_applied(struct tc_replica *replica);

// After state sync: the state is the checkpoint's, after applying `header->op`. Entries between our
// old commit and the checkpoint are dropped (covered, and possibly stale); our log above the
// checkpoint stays (it may hold acknowledged ops) unless its chained suffix provably forks from
// the checkpoint's op (then it can never commit: it is cut).
void replica_log_adopt_checkpoint(struct tc_replica *replica, const struct tc_header *header) {
    uint64_t op = header->op;
    tc_assert(op > replica->commit_min);
    bool primary = replica->state == TC_REPLICA_NORMAL && replica_is_primary(replica);
    for (uint64_t o = replica->commit_min + 1; o < op && o <= replica->op_head; o++) {
        if (log_header(replica, o) != NULL) tc_journal_remove(replica->journal, o);
    }
    replica->commit_min = op;
    replica->applied_timestamp_ns = header->timestamp;
    if (replica->commit_max < op) replica->commit_max = op;
    if (replica->op_prepare_ok_max < op) replica->op_prepare_ok_max = op;
    if (replica->anchor_op > 0 && replica->anchor_op <= op) replica->anchor_op = 0;
    if (primary) pipeline_pop_applied(replica); // a new primary catching up: ops <= op are done
    if (tc_journal_set_header(replica->journal, header)) prepare_ok_cache_invalidate(replica, op);
    if (replica->op_head <= op) {
        replica->op_head = op;
        replica->op_chained_min = op;
        return;
    }
    uint64_t chained = replica->op_head;
    while (chained > op) {
        const struct tc_header *upper = log_header(replica, chained);
        const struct tc_header *lower = log_header(replica, chained - 1);
        if (upper == NULL || lower == NULL || !tc_checksum_equal(&upper->parent, &lower->checksum)) {
            break;
        }
        chained--;
    }
    replica->op_chained_min = chained;
    const struct tc_header *above = log_header(replica, op + 1);
    if (chained == op + 1 && above != NULL && !tc_checksum_equal(&above->parent, &header->checksum)) {
        replica_log(replica, TC_LOG_WARN, "sync: our suffix above op %llu forks from the "
                    "checkpoint: cut", (unsigned long long)op);
        if (primary) {
            // Only a primary of a view the group has left can hold a fork of the committed
            // history (seed 8680): it leaves its view before its log is cut.
            replica_view_change_start(replica, replica->view + 1);
        }
        replica_log_truncate(replica, op);
        replica->op_chained_min = op;
    }
}

// Forgets every entry above op_head (uncommitted entries superseded by the canonical log).
void replica_log_truncate(struct tc_replica *replica, uint64_t op_head) {
    tc_assert(op_head >= replica->commit_min);
    tc_assert(op_head >= replica->commit_max || replica->state != TC_REPLICA_NORMAL ||
              !replica_is_primary(replica));
    if (op_head < replica->op_head) {
        replica_log(replica, TC_LOG_DEBUG, "truncate log to %llu", (unsigned long long)op_head);
    }
    const struct tc_header *above = log_header(replica, op_head + 1);
    if (op_head < replica->op_head && log_header(replica, op_head) == NULL && above != NULL) {
        // The new head is known only by checksum (the parent of the op above): repair it.
        replica->anchor_op = op_head;
        replica->anchor_checksum = above->parent;
    }
    for (uint64_t op = op_head + 1; op <= replica->op_head; op++) {
        if (tc_journal_slot_state(replica->journal, op) != TC_SLOT_EMPTY) {
            tc_journal_remove(replica->journal, op);
        }
    }
    if (op_head < replica->op_head) {
        replica->op_head = op_head;
        prepare_ok_cache_invalidate(replica, op_head + 1);
    }
    if (replica->op_chained_min > replica->op_head) {
        replica->op_chained_min = replica->op_head;
        if (log_header(replica, replica->op_head) != NULL) replica_chain_extend(replica);
    }
    if (replica->anchor_op > 0 && replica->anchor_op <= replica->commit_min) replica->anchor_op = 0;
    if (replica->anchor_op > replica->op_head) replica->anchor_op = 0;
}

// Installs a canonical, hash-chained log suffix (start_view body or the canonical do_view_change):
// entries above it are truncated, differing entries inside it replaced (DIRTY until repaired).
void replica_log_install(struct tc_replica *replica, const struct tc_header *headers,
                         uint32_t count) {
    tc_assert(count >= 1 && count <= TC_VIEW_HEADERS_MAX);
    uint64_t last = headers[count - 1].op;
    tc_assert(last >= replica->commit_min);
    tc_assert(last <= replica_op_write_max(replica)); // the caller checked replica_op_writable
    if (replica->op_head > last) replica_log_truncate(replica, last);
    for (uint32_t i = 0; i < count; i++) {
        const struct tc_header *header = &headers[i];
        tc_assert(i == 0 || header->op == headers[i - 1].op + 1);
        tc_assert(i == 0 || tc_checksum_equal(&header->parent, &headers[i - 1].checksum));
        if (header->op < tc_journal_checkpoint_op(replica->journal)) continue; // covered
        if (header->op <= replica->commit_min) {
            const struct tc_header *existing = log_header(replica, header->op);
            tc_assert(existing != NULL);
            tc_assert(tc_checksum_equal(&existing->checksum, &header->checksum));
            continue;
        }
        if (tc_journal_set_header(replica->journal, header)) {
            prepare_ok_cache_invalidate(replica, header->op);
        }
    }
    replica->op_head = last;
    replica->op_chained_min = last;
    replica_chain_extend(replica);
    if (replica->anchor_op > 0 && replica->anchor_op <= last) replica->anchor_op = 0;
}

// Writes a prepare whose header is in our log to the journal if it is not durable yet.
static void log_write(struct tc_replica *replica, const uint8_t *message) {
    const struct tc_header *header = (const struct tc_header *)(const void *)message;
    const struct tc_header *entry = log_header(replica, header->op);
    if (entry == NULL || !tc_checksum_equal(&entry->checksum, &header->checksum)) return;
    if (tc_journal_slot_state(replica->journal, header->op) == TC_SLOT_CLEAN) return;
    if (tc_journal_writing(replica->journal, header->op)) return;
    int rc = tc_journal_write_prepare(replica->journal, message);
    if (rc == TC_EBUSY) return; // resent by the primary or re-requested by repair
    tc_assert(rc == TC_OK);
#if defined(TC_PLANTED_BUG_ACK_BEFORE_DURABLE)
    if (replica->state == TC_REPLICA_NORMAL && !replica_is_primary(replica)) {
        replica_send_prepare_ok(replica); // planted bug: the journal already claims durability
    }
#endif
}

// ---------------------------------------------------------------------------------------------
// Options, memory, init.

static uint32_t default_ticks(uint32_t value, uint32_t fallback) {
    return value == 0 ? fallback : value;
}

static void store_ready_callback(void *context);
static uint64_t journal_storage_size(const struct tc_replica_options *options);

// The store's options from the replica's; `replica` NULL for sizing and validation only (a
// placeholder io/room keep the store's checks about geometry).
static void store_options_build(const struct tc_replica_options *options,
                                struct tc_store_options *out, struct tc_replica *replica,
                                const struct tc_room_machine *room) {
    static const uint8_t placeholder;
    memset(out, 0, sizeof(*out));
    out->cluster = options->cluster;
    out->group = options->group;
    out->segment_size_bytes = options->store_segment_size_bytes;
    out->segment_count = options->store_segment_count;
    out->rooms_max = options->room.rooms_max;
    out->reads_max = options->store_reads_max == 0 ? 2u : options->store_reads_max;
    out->io = options->io;
    out->room = room != NULL ? room : (const struct tc_room_machine *)(const void *)&placeholder;
    out->context = replica;
    out->ready_callback = store_ready_callback;
    if (options->journal_slot_count >= TC_JOURNAL_SLOT_COUNT_MIN &&
        tc_is_power_of_two(options->journal_slot_count) &&
        options->journal_slot_count <= TC_JOURNAL_SLOT_COUNT_MAX &&
        tc_room_config_invalid(&options->room) == NULL) {
        out->zone_offset_bytes = journal_storage_size(options);
    }
}

const char *tc_replica_options_invalid(const struct tc_replica_options *o) {
    if (o->io == NULL) return "io is required";
    if (o->replica_count == 0 || o->replica_count > TC_REPLICAS_MAX) return "replica_count";
    if (o->replica >= o->replica_count) return "replica must be < replica_count";
    if (!tc_is_power_of_two(o->journal_slot_count)) return "journal_slot_count: power of two";
    if (o->journal_slot_count < TC_JOURNAL_SLOT_COUNT_MIN) return "journal_slot_count too small";
    if (o->journal_slot_count > TC_JOURNAL_SLOT_COUNT_MAX) return "journal_slot_count too large";
    if (o->clients_max == 0 || o->clients_max > TC_CLIENTS_MAX) return "clients_max";
    if (o->cluster == 0) return "cluster must be non-zero";
    if (o->replica_id == 0) return "replica_id must be non-zero";
    for (uint8_t slot = 0; slot < TC_REPLICAS_MAX; slot++) {
        bool used = slot < o->replica_count;
        if (used != (o->members[slot] != 0)) return "members: one non-zero id per slot, zero after";
        for (uint8_t other = 0; used && other < slot; other++) {
            if (o->members[other] == o->members[slot]) return "members: ids must be distinct";
        }
    }
    const char *room = tc_room_config_invalid(&o->room);
    if (room != NULL) return room;
    if (replica_checkpoint_size_max(o) >= UINT32_MAX) return "room limits: checkpoint over 4 GiB";
    struct tc_store_options store;
    store_options_build(o, &store, NULL, NULL);
    const char *invalid = tc_store_options_invalid(&store);
    if (invalid != NULL) return invalid;
    if (o->room.store_bytes_max == 0) return "room.store_bytes_max must be set (the store budget)";
    if (o->room.store_bytes_max > tc_store_budget_bytes(&store)) {
        return "room.store_bytes_max exceeds the store's budget (tc_replica_store_budget_bytes)";
    }
    return NULL;
}

static uint64_t journal_storage_size(const struct tc_replica_options *options) {
    struct tc_journal_layout layout;
    tc_journal_layout_init(&layout, options->journal_slot_count, replica_checkpoint_size_max(options));
    tc_assert(layout.storage_size % TC_SECTOR_SIZE == 0);
    return layout.storage_size;
}

uint64_t tc_replica_storage_size(const struct tc_replica_options *options) {
    struct tc_store_options store;
    store_options_build(options, &store, NULL, NULL);
    return journal_storage_size(options) + tc_store_zone_size(&store);
}

void tc_replica_storage_zones(const struct tc_replica_options *options,
                              struct tc_storage_zone zones[TC_REPLICA_STORAGE_ZONES]) {
    tc_assert(tc_replica_options_invalid(options) == NULL || options->io == NULL);
    struct tc_journal_layout layout;
    tc_journal_layout_init(&layout, options->journal_slot_count, replica_checkpoint_size_max(options));
    uint64_t total = tc_replica_storage_size(options);
    zones[0] = (struct tc_storage_zone){0, layout.checkpoint_area_offset, "journal"};
    zones[1] = (struct tc_storage_zone){layout.checkpoint_area_offset,
                                        layout.storage_size - layout.checkpoint_area_offset,
                                        "checkpoints"};
    zones[2] = (struct tc_storage_zone){layout.storage_size, total - layout.storage_size, "store"};
    for (uint32_t i = 0; i < TC_REPLICA_STORAGE_ZONES; i++) {
        tc_assert(zones[i].offset_bytes % TC_SECTOR_SIZE == 0);
        tc_assert(zones[i].size_bytes > 0 && zones[i].size_bytes % TC_SECTOR_SIZE == 0);
    }
}

uint64_t tc_replica_store_budget_bytes(const struct tc_replica_options *options) {
    struct tc_store_options store;
    store_options_build(options, &store, NULL, NULL);
    if (tc_store_geometry_invalid(&store) != NULL) return 0;
    return tc_store_budget_bytes(&store);
}

uint64_t tc_replica_memory_size(const struct tc_replica_options *options) {
    uint64_t size = sizeof(struct tc_replica) + 4096;
    size += tc_journal_memory_size(options->journal_slot_count, replica_checkpoint_size_max(options));
    size += tc_client_sessions_memory_size(options->clients_max);
    size += tc_room_memory_size(&options->room) + 4096;
    struct tc_store_options store;
    store_options_build(options, &store, NULL, NULL);
    size += tc_store_memory_size(&store) + 4096;
    uint64_t buffers = TC_PIPELINE_PREPARE_MAX + REPLICA_SERVE_READS_MAX + 3 +
                       REPLICA_REQUEST_QUEUE_MAX + REPLICA_PREPARE_CACHE_MAX;
    size += buffers * (TC_MESSAGE_SIZE_MAX + 4096) + TC_REPLY_SIZE_MAX + 4096;
    return size;
}

static void journal_write_callback(void *context, uint64_t op, const struct tc_checksum *checksum,
                                   int result);
static void journal_read_callback(void *context, uint8_t *buffer, uint64_t op, int result);
static void journal_superblock_callback(void *context, int result);
static void journal_recover_callback(void *context, int result);
static void journal_checkpoint_callback(void *context, uint64_t op, int result);

static void journal_options_build(const struct tc_replica_options *options,
                                  struct tc_journal_options *out, void *context) {
    memset(out, 0, sizeof(*out));
    out->cluster = options->cluster;
    out->group = options->group;
    out->replica = options->replica;
    out->replica_count = options->replica_count;
    out->replica_id = options->replica_id;
    out->slot_count = options->journal_slot_count;
    out->checkpoint_size_max = replica_checkpoint_size_max(options);
    out->io = options->io;
    out->context = context;
    out->write_callback = journal_write_callback;
    out->read_callback = journal_read_callback;
    out->superblock_callback = journal_superblock_callback;
    out->recover_callback = journal_recover_callback;
    out->checkpoint_callback = journal_checkpoint_callback;
}

void tc_replica_format(const struct tc_replica_options *options,
                       void (*write)(void *context, uint64_t offset, const uint8_t *data,
                                     uint32_t size),
                       void *context) {
    tc_assert(tc_replica_options_invalid(options) == NULL);
    struct tc_journal_options journal_options;
    journal_options_build(options, &journal_options, NULL);
    tc_journal_format(&journal_options, write, context);
}

static int replica_buffers_init(struct tc_replica *replica, struct tc_arena *arena) {
    for (uint32_t i = 0; i < TC_PIPELINE_PREPARE_MAX; i++) {
        replica->pipeline[i].message = tc_arena_alloc(arena, TC_MESSAGE_SIZE_MAX, 4096);
        if (replica->pipeline[i].message == NULL) return TC_ENOMEM;
    }
    for (uint32_t i = 0; i < REPLICA_SERVE_READS_MAX; i++) {
        replica->serve_reads[i].buffer = tc_arena_alloc(arena, TC_MESSAGE_SIZE_MAX, 4096);
        if (replica->serve_reads[i].buffer == NULL) return TC_ENOMEM;
    }
    for (uint32_t i = 0; i < REPLICA_REQUEST_QUEUE_MAX; i++) {
        replica->request_queue[i].message = tc_arena_alloc(arena, TC_MESSAGE_SIZE_MAX, 4096);
        if (replica->request_queue[i].message == NULL) return TC_ENOMEM;
    }
    for (uint32_t i = 0; i < REPLICA_PREPARE_CACHE_MAX; i++) {
        replica->prepare_cache[i].message = tc_arena_alloc(arena, TC_MESSAGE_SIZE_MAX, 4096);
        if (replica->prepare_cache[i].message == NULL) return TC_ENOMEM;
    }
    replica->commit_buffer = tc_arena_alloc(arena, TC_MESSAGE_SIZE_MAX, 4096);
    replica->send_buffer = tc_arena_alloc(arena, TC_MESSAGE_SIZE_MAX, 4096);
    replica->reply_buffer = tc_arena_alloc(arena, TC_REPLY_SIZE_MAX, 4096);
    replica->store_serve_buffer = tc_arena_alloc(arena, TC_MESSAGE_SIZE_MAX, 4096);
    if (replica->store_serve_buffer == NULL) return TC_ENOMEM;
    if (replica->commit_buffer == NULL || replica->send_buffer == NULL) return TC_ENOMEM;
    if (replica->reply_buffer == NULL) return TC_ENOMEM;
    return TC_OK;
}

// The room machine's sink: the store first (it must hold a message before anyone is told of it),
// then the host's message hook (fan-out). Retention goes to the store only.
static void replica_sink_message(void *context, uint32_t room_index,
                                 const struct tc_room_message *message) {
    struct tc_replica *replica = context;
    replica->store_sink.message(replica->store_sink.context, room_index, message);
    replica->counters.messages_applied++;
    if (replica->options.message_hook != NULL) {
        replica->options.message_hook(replica->options.hook_context, replica->options.group,
                                      message);
    }
}

static void replica_sink_retention(void *context, uint32_t room_index,
                                   const struct tc_room_retention *retention,
                                   uint64_t timestamp_ns) {
    struct tc_replica *replica = context;
    replica->store_sink.retention(replica->store_sink.context, room_index, retention,
                                  timestamp_ns);
}

static void replica_sink_install(struct tc_replica *replica) {
    replica->store_sink = *tc_store_sink(replica->store);
    tc_assert(replica->store_sink.message != NULL && replica->store_sink.retention != NULL);
    const struct tc_room_sink sink = {
        .context = replica,
        .message = replica_sink_message,
        .retention = replica_sink_retention,
    };
    tc_room_set_sink(replica->room, &sink);
}

int tc_replica_init(struct tc_replica **out, const struct tc_replica_options *options,
                    struct tc_arena *arena) {
    if (tc_replica_options_invalid(options) != NULL) return TC_EINVAL;
    struct tc_replica *replica = tc_arena_alloc(arena, sizeof(*replica), 64);
    if (replica == NULL) return TC_ENOMEM;
    replica->options = *options;
    replica->io = options->io;
    replica->options.prepare_timeout_ticks = default_ticks(options->prepare_timeout_ticks, 5);
    replica->options.heartbeat_timeout_ticks = default_ticks(options->heartbeat_timeout_ticks, 5);
    replica->options.normal_timeout_ticks = default_ticks(options->normal_timeout_ticks, 30);
    replica->options.view_change_timeout_ticks =
        default_ticks(options->view_change_timeout_ticks, 30);
    replica->options.repair_timeout_ticks = default_ticks(options->repair_timeout_ticks, 5);
    tc_prng_init(&replica->prng, options->seed);
    replica->replica = options->replica;
    replica->replica_count = options->replica_count;
    uint8_t f = (uint8_t)((options->replica_count - 1) / 2);
    replica->quorum_replication = (uint8_t)(f + 1);
    replica->quorum_view_change = (uint8_t)(options->replica_count - f);
    replica->quorum_nack = (uint8_t)(options->replica_count - replica->quorum_replication + 1);
#if defined(TC_PLANTED_BUG_COMMIT_SINGLE_OK)
    replica->quorum_replication = 1; // planted bug: commit on a single prepare_ok
#endif
    struct tc_journal_options journal_options;
    journal_options_build(options, &journal_options, replica);
    int rc = tc_journal_init(&replica->journal, &journal_options, arena);
    if (rc == TC_OK) rc = tc_client_sessions_init(&replica->sessions, options->clients_max, arena);
    if (rc == TC_OK) rc = tc_room_init(&replica->room, &options->room, arena);
    if (rc == TC_OK) {
        struct tc_store_options store;
        store_options_build(options, &store, replica, replica->room);
        rc = tc_store_init(&replica->store, &store, arena);
    }
    if (rc == TC_OK) rc = replica_buffers_init(replica, arena);
    if (rc != TC_OK) return rc;
    replica_sink_install(replica);
    replica->state = TC_REPLICA_RECOVERING;
    replica->view_lead_forbidden = UINT32_MAX;
    replica->epoch = 0; // the initial configuration until a checkpoint or a reconfigure says else
    memcpy(replica->members, options->members, sizeof(replica->members));
    replica->acting_epoch = 0;
    memcpy(replica->acting_members, options->members, sizeof(replica->acting_members));
    for (uint8_t slot = 0; slot < TC_REPLICAS_MAX; slot++) {
        replica->learner_heard_ticks[slot] = REPLICA_LEARNER_HEARD_TICKS; // none heard yet
    }
    *out = replica;
    return TC_OK;
}

void tc_replica_open(struct tc_replica *replica) {
    tc_assert(replica->state == TC_REPLICA_RECOVERING);
    tc_journal_recover(replica->journal);
}

// ---------------------------------------------------------------------------------------------
// Recovery.

void replica_normal_timeout_reset(struct tc_replica *replica) {
    replica->normal_ticks = 0;
    uint32_t base = replica->options.normal_timeout_ticks;
    replica->normal_timeout_ticks = base + (uint32_t)tc_prng_below(&replica->prng, base / 2 + 1);
}

// A single replica has no peer to repair from. It commits in op order and only what is durable,
// so everything it ever committed is a clean, hash-chained prefix of its journal; anything after
// the first unreadable, missing or unchained slot was never acknowledged (torn or lost unsynced
// writes) or is corruption no one could repair. It keeps that prefix and drops the rest, loudly.
static void solo_trim_head(struct tc_replica *replica) {
    uint64_t head = tc_journal_checkpoint_op(replica->journal);
    while (head < replica->op_head && log_clean(replica, head + 1) &&
           tc_checksum_equal(&log_header(replica, head + 1)->parent,
                             &log_header(replica, head)->checksum)) {
        head++;
    }
    uint32_t dropped = 0;
    for (uint64_t op = replica_op_write_max(replica); op > head; op--) {
        if (tc_journal_slot_state(replica->journal, op) == TC_SLOT_EMPTY) continue;
        tc_journal_remove(replica->journal, op);
        dropped++;
    }
    replica->op_head = head;
    if (dropped > 0) {
        replica_log(replica, TC_LOG_WARN, "single replica: kept the clean chained prefix up to op "
                    "%llu, dropped %u slots above it (torn or lost unacknowledged writes, or "
                    "corruption with no peer to repair from)", (unsigned long long)head, dropped);
    }
}

static void store_recover_callback(void *context, int result);

static void journal_recover_callback(void *context, int result) {
    struct tc_replica *replica = context;
    tc_assert(replica->state == TC_REPLICA_RECOVERING);
    if (result != TC_OK && tc_journal_recover_error(replica->journal) != NULL) {
        replica->state = TC_REPLICA_STOPPED;
        replica_log(replica, TC_LOG_ERROR, "recovery failed: %s",
                    tc_journal_recover_error(replica->journal));
        return;
    }
    if (result != TC_OK) {
        replica->state = TC_REPLICA_STOPPED;
        const char *why[TC_SUPERBLOCK_COPIES];
        for (uint32_t copy = 0; copy < TC_SUPERBLOCK_COPIES; copy++) {
            why[copy] = tc_journal_superblock_copy_invalid(replica->journal, copy);
            if (why[copy] == NULL) why[copy] = "-";
        }
        replica_log(replica, TC_LOG_ERROR, "recovery failed: %s (storage not formatted for this "
                    "replica, or every superblock copy is corrupt: %s / %s / %s / %s)",
                    tc_strerror(result), why[0], why[1], why[2], why[3]);
        return;
    }
    int rc = replica_checkpoint_restore(replica);
    if (rc != TC_OK) {
        replica->state = TC_REPLICA_STOPPED;
        replica_log(replica, TC_LOG_ERROR, "recovery failed: checkpoint at op %llu does not decode "
                    "(%s)", (unsigned long long)tc_journal_checkpoint_op(replica->journal),
                    tc_strerror(rc));
        return;
    }
    tc_store_recover(replica->store, store_recover_callback);
}

// The message store's open segment is loaded and verified against the checkpoint: the log above
// the checkpoint can be replayed.
static void store_recover_callback(void *context, int result) {
    struct tc_replica *replica = context;
    tc_assert(replica->state == TC_REPLICA_RECOVERING);
    if (result != TC_OK) {
        replica->state = TC_REPLICA_STOPPED;
        replica_log(replica, TC_LOG_ERROR, "recovery failed: the message store's open segment does "
                    "not match checkpoint %llu (%s)",
                    (unsigned long long)tc_journal_checkpoint_op(replica->journal),
                    tc_strerror(result));
        return;
    }
    const struct tc_superblock *sb = tc_journal_superblock(replica->journal);
    replica->applied_timestamp_ns = sb->checkpoint_header.timestamp;
    // We act in the configuration our superblock persisted if our state (from an older
    // checkpoint) has not reached it yet: we acted in that epoch, never in an older one again.
    replica->epoch_persisted = sb->epoch;
    if (sb->epoch > replica->epoch) {
        replica->acting_epoch = sb->epoch;
        memcpy(replica->acting_members, sb->epoch_members, sizeof(replica->acting_members));
        replica->acting_epoch_op = sb->epoch_op;
        replica->acting_epoch_op_checksum = sb->epoch_op_checksum;
    } else {
        replica_config_adopt(replica);
    }
    replica->view = sb->view;
    replica->log_view = sb->log_view;
    replica->view_headers_count = sb->view_headers_count;
    memcpy(replica->view_headers, sb->view_headers, sizeof(sb->view_headers));
    uint64_t view_head = sb->view_headers[sb->view_headers_count - 1].op;
    replica->op_head = tc_journal_recovered_op_max(replica->journal);
    if (replica->replica_count == 1) solo_trim_head(replica);
    tc_assert(replica->op_head >= view_head || replica->replica_count == 1);
    replica->op_chained_min = replica->op_head;
    replica_chain_extend(replica);
    replica->commit_min = sb->checkpoint_op;
    replica->commit_max = view_head > TC_PIPELINE_PREPARE_MAX ? view_head - TC_PIPELINE_PREPARE_MAX : 0;
    if (replica->commit_max < replica->commit_min) replica->commit_max = replica->commit_min;
    // The reconfigure op that began our acting epoch is committed: our log reaches it (recovery
    // kept the ops up to it whatever view wrote them: a follower repairs them outside any view),
    // by checksum if our copy is gone (seed 1989: without it, a do_view_change below a committed
    // op won the next view change and the op was lost).
    if (sb->epoch_op > replica->commit_min) {
        if (sb->epoch_op >= replica->op_head && sb->epoch_op <= replica_op_write_max(replica)) {
            replica_log_anchor_committed(replica, sb->epoch_op, &sb->epoch_op_checksum);
        } else if (sb->epoch_op > replica->commit_max) {
            replica->commit_max = sb->epoch_op;
        }
    }
    replica->op_prepare_ok_max = replica->commit_min;
    replica_normal_timeout_reset(replica);
    if (tc_journal_recovered_faulty_above(replica->journal, replica->op_head)) {
        replica->state = TC_REPLICA_RECOVERING_HEAD;
        replica->head_uncertain = true;
    } else if (replica->log_view < replica->view) {
        replica->state = TC_REPLICA_VIEW_CHANGE;
    } else if (replica_is_primary(replica)) {
        // A restarted primary may have sent prepares it never made durable: it must never lead
        // this view again (it could prepare a different op under the same (view, op) that a
        // backup already acknowledged). It leaves the view and lets the group move on.
        replica->state = TC_REPLICA_VIEW_CHANGE;
        replica->view_lead_forbidden = replica->view;
        replica_vote(replica, replica->view + 1);
    } else {
        replica->state = TC_REPLICA_NORMAL;
    }
    replica_log(replica, TC_LOG_INFO, "recovered log_view=%u chained_min=%llu faulty=%u",
                replica->log_view, (unsigned long long)replica->op_chained_min,
                tc_journal_faulty_count(replica->journal));
    replica_view_on_superblock(replica);
}

// ---------------------------------------------------------------------------------------------
// Pipeline (primary).

static struct pipeline_entry *pipeline_find(struct tc_replica *replica, uint64_t op) {
    if (replica->pipeline_count == 0) return NULL;
    if (op < replica->pipeline_op_first) return NULL;
    if (op >= replica->pipeline_op_first + replica->pipeline_count) return NULL;
    return &replica->pipeline[op % TC_PIPELINE_PREPARE_MAX];
}

void replica_pipeline_reset(struct tc_replica *replica) {
    for (uint32_t i = 0; i < TC_PIPELINE_PREPARE_MAX; i++) {
        struct pipeline_entry *entry = &replica->pipeline[i];
        // A read in flight into this buffer completes later and is ignored (loading stays set).
        entry->loaded = false;
        entry->ok_from = 0;
        entry->resend_ticks = 0;
        memset(&entry->header, 0, sizeof(entry->header));
    }
    replica->pipeline_count = 0;
    replica->pipeline_op_first = 0;
    replica->commit_stall_ticks = 0;
    replica->apply_stall_ticks = 0;
    replica->abdicating = false;
    replica->request_queue_first = 0;
    replica->request_queue_count = 0; // clients resend to the new primary
}

static void pipeline_load(struct tc_replica *replica, struct pipeline_entry *entry) {
    if (entry->loaded || entry->loading) return;
    if (!log_clean(replica, entry->header.op)) return;
    int rc = tc_journal_read_prepare(replica->journal, entry->header.op, &entry->header.checksum,
                                     entry->message);
    if (rc == TC_OK) entry->loading = true;
}

// A new primary owns the uncommitted suffix (commit_max, op_head] of the canonical log.
void replica_pipeline_from_log(struct tc_replica *replica) {
    replica_pipeline_reset(replica);
    tc_assert(replica->op_head - replica->commit_max <= TC_PIPELINE_PREPARE_MAX);
    replica->pipeline_op_first = replica->commit_max + 1;
    for (uint64_t op = replica->commit_max + 1; op <= replica->op_head; op++) {
        struct pipeline_entry *entry = &replica->pipeline[op % TC_PIPELINE_PREPARE_MAX];
        const struct tc_header *header = log_header(replica, op);
        tc_assert(header != NULL);
        entry->header = *header;
        entry->ok_from = (uint8_t)(1u << replica->replica);
        replica->pipeline_count++;
        pipeline_load(replica, entry);
    }
}

static void pipeline_pop_applied(struct tc_replica *replica) {
    while (replica->pipeline_count > 0 && replica->pipeline_op_first <= replica->commit_min) {
        struct pipeline_entry *entry = &replica->pipeline[replica->pipeline_op_first %
                                                          TC_PIPELINE_PREPARE_MAX];
        entry->loaded = false;
        entry->ok_from = 0;
        replica->pipeline_op_first++;
        replica->pipeline_count--;
    }
    if (replica->pipeline_count == 0) replica->pipeline_op_first = replica->commit_min + 1;
}

static uint32_t popcount8(uint8_t bits) {
    uint32_t count = 0;
    for (uint32_t i = 0; i < 8; i++) count += ((uint32_t)bits >> i) & 1u;
    return count;
}

void replica_primary_commit_quorum(struct tc_replica *replica) {
    tc_assert(replica_is_primary(replica));
    for (uint32_t guard = 0; guard < TC_PIPELINE_PREPARE_MAX; guard++) {
        struct pipeline_entry *entry = pipeline_find(replica, replica->commit_max + 1);
        if (entry == NULL) break;
        if (popcount8(entry->ok_from) < replica->quorum_replication) break;
        replica->commit_max++;
        replica->commit_stall_ticks = 0;
    }
    replica_commit_journal(replica);
}

// ---------------------------------------------------------------------------------------------
// Replies and the state machine.

static void send_eviction(struct tc_replica *replica, uint64_t client) {
    struct tc_header header;
    replica_header_init(replica, &header, TC_COMMAND_EVICTION);
    header.client = client;
    tc_header_set_checksum_body(&header, NULL, 0);
    tc_header_set_checksum(&header);
    replica->io->vtable->send_to_client(replica->io, client, (const uint8_t *)&header);
}

static void send_stored_reply(struct tc_replica *replica, const struct tc_client_session *session) {
    tc_assert(session->reply_size >= TC_HEADER_SIZE);
    memcpy(replica->send_buffer, session->reply, session->reply_size);
    struct tc_header *header = (struct tc_header *)(void *)replica->send_buffer;
    header->view = replica->view;
    header->replica = replica->replica;
    tc_header_set_checksum(header);
    replica->io->vtable->send_to_client(replica->io, session->client, replica->send_buffer);
}

static void request_queue_drain(struct tc_replica *replica);

// Builds the reply for a committed prepare in reply_buffer; deterministic on every replica.
static uint32_t reply_build(struct tc_replica *replica, const struct tc_header *prepare,
                            uint32_t body_size) {
    struct tc_header *reply = (struct tc_header *)(void *)replica->reply_buffer;
    memset(reply, 0, sizeof(*reply));
    reply->version = TC_HEADER_VERSION;
    reply->command = TC_COMMAND_REPLY;
    reply->operation = prepare->operation;
    reply->cluster = prepare->cluster;
    reply->group = prepare->group;
    reply->client = prepare->client;
    reply->request = prepare->request;
    reply->op = prepare->op;
    reply->commit = prepare->op;
    reply->timestamp = prepare->timestamp;
    reply->view = prepare->view;
    // A register's reply names the new session (its op); a chat reply echoes the request's.
    reply->session = prepare->operation == TC_OPERATION_REGISTER ? prepare->op : prepare->session;
    reply->parent = prepare->checksum;
    reply->context = prepare->context;
    reply->size = TC_HEADER_SIZE + body_size;
    tc_header_set_checksum_body(reply, replica->reply_buffer + TC_HEADER_SIZE, body_size);
    tc_header_set_checksum(reply);
    return reply->size;
}

// Applies op commit_min + 1. Returns the stored reply's session or NULL (duplicate / no session).
static struct tc_client_session *apply_operation(struct tc_replica *replica,
                                                 const struct tc_header *prepare,
                                                 const uint8_t *body) {
    struct tc_client_session *session = tc_client_sessions_find(&replica->sessions, prepare->client);
    if (prepare->operation == TC_OPERATION_REGISTER) {
        if (session != NULL) return NULL; // registered twice: the second is a no-op
        uint64_t evicted = 0;
        session = tc_client_sessions_register(&replica->sessions, prepare->client, prepare->op,
                                              &evicted);
        if (evicted != 0) {
            replica_log(replica, TC_LOG_DEBUG, "evicted client %llx", (unsigned long long)evicted);
        }
        uint32_t size = reply_build(replica, prepare, 0);
        tc_client_sessions_store_reply(session, replica->reply_buffer, size);
        return session;
    }
    tc_assert(prepare->operation == TC_OPERATION_CHAT ||
              prepare->operation == TC_OPERATION_RECONFIGURE);
    if (session == NULL) return NULL;                      // evicted before it committed
    if (session->session != prepare->session) return NULL; // from an evicted, older session
    if (prepare->request <= session->request) return NULL; // prepared twice across views
    uint32_t body_size = prepare->size - TC_HEADER_SIZE;
    uint32_t reply_body = 0;
    if (prepare->operation == TC_OPERATION_RECONFIGURE) {
        reply_body = replica_reconfigure_apply(replica, prepare, body,
                                               replica->reply_buffer + TC_HEADER_SIZE,
                                               &replica->epoch_entered);
    } else {
        tc_store_set_op(replica->store, prepare->op);
        reply_body = tc_room_apply(replica->room, prepare->op, prepare->timestamp,
                                   prepare->client, body, body_size,
                                   replica->reply_buffer + TC_HEADER_SIZE,
                                   TC_REPLY_SIZE_MAX - TC_HEADER_SIZE);
    }
    tc_assert(reply_body <= TC_REPLY_SIZE_MAX - TC_HEADER_SIZE);
    uint32_t size = reply_build(replica, prepare, reply_body);
    tc_client_sessions_store_reply(session, replica->reply_buffer, size);
    return session;
}

static void commit_apply(struct tc_replica *replica, const struct tc_header *prepare,
                         const uint8_t *body) {
    tc_assert(prepare->op == replica->commit_min + 1);
    tc_assert(prepare->op <= replica->commit_max);
    const struct tc_header *previous = log_header(replica, replica->commit_min);
    tc_assert(previous != NULL);
    tc_assert(tc_checksum_equal(&prepare->parent, &previous->checksum));
    tc_assert(prepare->timestamp > previous->timestamp || prepare->op == 1);
    struct tc_client_session *session = apply_operation(replica, prepare, body);
    replica->commit_min = prepare->op;
    replica->applied_timestamp_ns = prepare->timestamp;
    replica->counters.ops_applied++;
    replica_checkpoint_after_apply(replica, prepare);
    if (replica->op_prepare_ok_max < replica->commit_min) {
        replica->op_prepare_ok_max = replica->commit_min;
    }
    if (replica->options.commit_hook != NULL) {
        struct tc_replica_commit_event event = {
            .replica = replica->replica,
            .op = prepare->op,
            .prepare = prepare,
            .body = body,
            .reply = session != NULL ? session->reply + TC_HEADER_SIZE : NULL,
            .reply_size = session != NULL ? session->reply_size - TC_HEADER_SIZE : 0,
        };
        replica->options.commit_hook(replica->options.hook_context, &event);
    }
    bool primary = replica->state == TC_REPLICA_NORMAL && replica_is_primary(replica);
    if (primary && session != NULL) send_stored_reply(replica, session);
    if (replica->epoch_entered) {
        replica->epoch_entered = false;
        // The old epoch ended at this op (vsr.md §11.4), and its view with it; nothing changes if
        // we already act in the new epoch (a replay): the op then leaves the pipeline as usual.
        if (replica_epoch_enter(replica)) return;
    }
    if (primary) {
        pipeline_pop_applied(replica);
        request_queue_drain(replica);
    }
}

// Applies committed ops in order: from the pipeline when the primary holds them, else from the
// journal (one read at a time). Stops at anything not yet repaired.
void replica_commit_journal(struct tc_replica *replica) {
    for (uint32_t guard = 0; guard <= replica->options.journal_slot_count; guard++) {
        if (replica->commit_min >= replica->commit_max) return;
        if (replica->commit_reading) return;
        if (!replica_connected(replica)) return;
        uint64_t op = replica->commit_min + 1;
        if (op > replica->op_head) return;
        if (replica_checkpoint_wait(replica, op)) return; // resumed by the checkpoint callback
        if (replica_sync_busy(replica)) return;           // the checkpoint replaces the state
        if (!tc_store_ready(replica->store)) return;      // resumed by store_ready_callback
        const struct tc_header *header = log_header(replica, op);
        if (header == NULL) return;
        struct pipeline_entry *entry = replica_is_primary(replica) ? pipeline_find(replica, op) : NULL;
        if (entry != NULL && entry->loaded &&
            tc_checksum_equal(&entry->header.checksum, &header->checksum)) {
            commit_apply(replica, &entry->header, entry->message + TC_HEADER_SIZE);
            continue;
        }
        const struct cached_prepare *cached = &replica->prepare_cache[op % REPLICA_PREPARE_CACHE_MAX];
        if (cached->valid && cached->op == op &&
            tc_checksum_equal(&cached->checksum, &header->checksum)) {
            // Committed means durable on a quorum: applying needs no read of our own copy.
            commit_apply(replica, header, cached->message + TC_HEADER_SIZE);
            continue;
        }
        if (!log_clean(replica, op)) return;
        int rc = tc_journal_read_prepare(replica->journal, op, &header->checksum,
                                         replica->commit_buffer);
        if (rc == TC_OK) replica->commit_reading = true;
        return;
    }
}

// ---------------------------------------------------------------------------------------------
// Journal callbacks.

static void stop(struct tc_replica *replica, const char *why) {
    replica->state = TC_REPLICA_STOPPED;
    replica_log(replica, TC_LOG_ERROR, "stopped: %s", why);
}

static void journal_write_callback(void *context, uint64_t op, const struct tc_checksum *checksum,
                                   int result) {
    struct tc_replica *replica = context;
    if (replica->state == TC_REPLICA_STOPPED) return;
    if (result != TC_OK) {
        stop(replica, "journal write failed");
        return;
    }
    if (!log_clean(replica, op)) return; // superseded while in flight
    if (!tc_checksum_equal(&log_header(replica, op)->checksum, checksum)) return;
    if (replica->state == TC_REPLICA_NORMAL && replica_is_primary(replica)) {
        struct pipeline_entry *entry = pipeline_find(replica, op);
        if (entry != NULL && tc_checksum_equal(&entry->header.checksum, checksum)) {
            entry->ok_from |= (uint8_t)(1u << replica->replica);
            replica_primary_commit_quorum(replica);
        }
    }
    if (replica->state == TC_REPLICA_NORMAL && !replica_is_primary(replica)) {
        replica_send_prepare_ok(replica);
    }
    if (replica->state == TC_REPLICA_VIEW_CHANGE) replica_view_change_progress(replica);
    replica_commit_journal(replica);
}

static void serve_read_done(struct tc_replica *replica, struct serve_read *read, int result) {
    read->busy = false;
    if (result == TC_OK) {
        // Our address may have changed since (a member that became a follower).
        if (read->target != replica_address(replica)) {
            replica_send_answer(replica, read->target, read->target_epoch, read->buffer);
            replica->counters.repairs_served++;
        }
        return;
    }
    if (result != TC_OK && log_clean(replica, read->op)) {
        // Corrupt or unreadable (a latent sector error): stop advertising it; repair rewrites it.
        tc_journal_mark_dirty(replica->journal, read->op);
        prepare_ok_cache_invalidate(replica, read->op);
    }
}

static void journal_read_callback(void *context, uint8_t *buffer, uint64_t op, int result) {
    struct tc_replica *replica = context;
    if (replica->state == TC_REPLICA_STOPPED) return;
    for (uint32_t i = 0; i < REPLICA_SERVE_READS_MAX; i++) {
        if (replica->serve_reads[i].buffer == buffer) {
            serve_read_done(replica, &replica->serve_reads[i], result);
            return;
        }
    }
    if (result != TC_OK && log_clean(replica, op)) {
        tc_journal_mark_dirty(replica->journal, op); // repair fetches it from a peer
        prepare_ok_cache_invalidate(replica, op);
    }
    if (buffer == replica->commit_buffer) {
        replica->commit_reading = false;
        const struct tc_header *header = (const struct tc_header *)(const void *)buffer;
        const struct tc_header *entry = log_header(replica, op);
        // A sync or a checkpoint write may have begun while the read was in flight (seeds 1840,
        // 3116, ...: a checkpoint op applied while the journal was writing a synced checkpoint).
        if (result == TC_OK && op == replica->commit_min + 1 && op <= replica->commit_max &&
            entry != NULL && tc_checksum_equal(&entry->checksum, &header->checksum) &&
            replica_connected(replica) && !replica_sync_busy(replica) &&
            !replica_checkpoint_wait(replica, op) && tc_store_ready(replica->store)) {
            commit_apply(replica, entry, buffer + TC_HEADER_SIZE);
        }
        replica_commit_journal(replica);
        return;
    }
    for (uint32_t i = 0; i < TC_PIPELINE_PREPARE_MAX; i++) {
        struct pipeline_entry *entry = &replica->pipeline[i];
        if (entry->message != buffer) continue;
        entry->loading = false;
        const struct tc_header *header = (const struct tc_header *)(const void *)buffer;
        // The entry may belong to another op by now (a view changed meanwhile): only a read of
        // exactly its prepare loads it.
        if (result == TC_OK && !entry->loaded && entry->header.op == op &&
            tc_checksum_equal(&entry->header.checksum, &header->checksum)) {
            entry->loaded = true;
            replica_commit_journal(replica);
        }
        if (replica->state == TC_REPLICA_NORMAL && replica_is_primary(replica)) {
            request_queue_drain(replica); // the buffer is free for a new prepare again
        }
        return;
    }
    tc_unreachable();
}

static void journal_superblock_callback(void *context, int result) {
    struct tc_replica *replica = context;
    if (replica->state == TC_REPLICA_STOPPED) return;
    if (result != TC_OK) {
        stop(replica, "superblock write failed");
        return;
    }
    replica_view_on_superblock(replica);
}

// The checkpoint at `op` is durable here: journal slots up to op + slot_count - 1 are usable.
static void journal_checkpoint_callback(void *context, uint64_t op, int result) {
    struct tc_replica *replica = context;
    if (replica->state == TC_REPLICA_STOPPED) return;
    if (result != TC_OK) {
        stop(replica, "checkpoint write failed");
        return;
    }
    tc_assert(tc_journal_checkpoint_op(replica->journal) == op);
    replica->checkpoints_durable++;
    replica->sync.buffer_overwritten = false; // the buffer holds the durable checkpoint again
    if (replica->sync.installing) replica_sync_installed(replica);
    if (replica->state == TC_REPLICA_STOPPED) return;
    replica_log(replica, TC_LOG_DEBUG, "checkpoint durable at op %llu", (unsigned long long)op);
    if (replica->state == TC_REPLICA_NORMAL && replica_is_primary(replica)) {
        request_queue_drain(replica);
    } else if (replica->state == TC_REPLICA_NORMAL) {
        replica_send_prepare_ok(replica);
    }
    replica_commit_journal(replica); // a checkpoint op may be waiting for the buffer
}

// ---------------------------------------------------------------------------------------------
// Requests (primary).

static bool pipeline_has_client(struct tc_replica *replica, uint64_t client) {
    for (uint64_t op = replica->pipeline_op_first;
         op < replica->pipeline_op_first + replica->pipeline_count; op++) {
        if (pipeline_find(replica, op)->header.client == client) return true;
    }
    return false;
}

static void primary_prepare(struct tc_replica *replica, const struct tc_header *request,
                            const uint8_t *body);

// Decides whether a request is new, a duplicate (answer from the session table) or to be dropped.
static bool request_queue_has_client(const struct tc_replica *replica, uint64_t client) {
    for (uint32_t i = 0; i < replica->request_queue_count; i++) {
        uint32_t index = (replica->request_queue_first + i) % REPLICA_REQUEST_QUEUE_MAX;
        const struct tc_header *queued =
            (const struct tc_header *)(const void *)replica->request_queue[index].message;
        if (queued->client == client) return true;
    }
    return false;
}

static void request_queue_push(struct tc_replica *replica, const struct tc_header *request) {
    if (replica->request_queue_count == REPLICA_REQUEST_QUEUE_MAX) {
        replica->requests_dropped++; // bounded: the client resends
        return;
    }
    uint32_t index = (replica->request_queue_first + replica->request_queue_count) %
                     REPLICA_REQUEST_QUEUE_MAX;
    memcpy(replica->request_queue[index].message, request, request->size);
    replica->request_queue_count++;
}

static void on_request(struct tc_replica *replica, const struct tc_header *request,
                       const uint8_t *body) {
    if (!replica_member(replica)) return; // clients find the members
    if (replica->state == TC_REPLICA_NORMAL && !replica_is_primary(replica)) {
        // Forward to the primary: saves the client a timeout after a view change.
        replica_send(replica, replica_primary_index(replica, replica->view),
                     (const uint8_t *)request);
        return;
    }
    if (replica->state != TC_REPLICA_NORMAL || !replica_is_primary(replica)) return;
    if (replica->abdicating || replica->commit_min < replica->commit_max ||
        replica_epoch_closing(replica)) {
        // A reconfigure op in the pipeline is the last op of this epoch: nothing after it.
        replica->requests_dropped++;
        return;
    }
    struct tc_client_session *session = tc_client_sessions_find(&replica->sessions, request->client);
    bool in_pipeline = pipeline_has_client(replica, request->client) ||
                       request_queue_has_client(replica, request->client);
    if (request->operation == TC_OPERATION_REGISTER) {
        if (session != NULL && session->request == 0) send_stored_reply(replica, session);
        if (session != NULL || in_pipeline) return;
    } else {
        if (session == NULL || session->session != request->session) {
            // Unknown, or a request of an older session (evicted, then re-registered by a late
            // duplicate register): its request numbers restarted, so it must re-register.
            if (!in_pipeline) send_eviction(replica, request->client);
            return;
        }
        if (request->request == session->request) {
            send_stored_reply(replica, session);
            return;
        }
        if (request->request != session->request + 1 || in_pipeline) return;
    }
    // A pipeline buffer with a journal read still landing in it (from a previous view) cannot
    // take a new prepare yet: the read would overwrite it. An op whose slot still holds an op no
    // quorum-durable checkpoint covers waits too (docs/vsr.md §11.2).
    struct pipeline_entry *next = &replica->pipeline[(replica->op_head + 1) % TC_PIPELINE_PREPARE_MAX];
    if (replica->pipeline_count == TC_PIPELINE_PREPARE_MAX || next->loading ||
        replica->op_head + 1 > replica_op_prepare_max(replica)) {
        request_queue_push(replica, request);
        return;
    }
    primary_prepare(replica, request, body);
}

// Prepares queued requests as pipeline slots free up (re-checked against the session table).
static void request_queue_drain(struct tc_replica *replica) {
    if (replica->state != TC_REPLICA_NORMAL || !replica_is_primary(replica)) return;
    while (replica->request_queue_count > 0 &&
           replica->pipeline_count < TC_PIPELINE_PREPARE_MAX &&
           !replica->pipeline[(replica->op_head + 1) % TC_PIPELINE_PREPARE_MAX].loading &&
           replica->op_head + 1 <= replica_op_prepare_max(replica)) {
        uint32_t index = replica->request_queue_first;
        replica->request_queue_first = (index + 1) % REPLICA_REQUEST_QUEUE_MAX;
        replica->request_queue_count--;
        // The slot is not reused before on_request returns: the pipeline has room, so nothing is
        // queued meanwhile.
        const uint8_t *message = replica->request_queue[index].message;
        on_request(replica, (const struct tc_header *)(const void *)message,
                   message + TC_HEADER_SIZE);
    }
}

static void primary_prepare(struct tc_replica *replica, const struct tc_header *request,
                            const uint8_t *body) {
    uint64_t op = replica->op_head + 1;
    const struct tc_header *parent = log_header(replica, replica->op_head);
    tc_assert(parent != NULL);
    tc_assert(replica->pipeline_count == 0 ||
              replica->pipeline_op_first + replica->pipeline_count == op);
    if (replica->pipeline_count == 0) replica->pipeline_op_first = op;
    struct pipeline_entry *entry = &replica->pipeline[op % TC_PIPELINE_PREPARE_MAX];
    tc_assert(!entry->loading);
    struct tc_header *header = (struct tc_header *)(void *)entry->message;
    memcpy(entry->message + TC_HEADER_SIZE, body, request->size - TC_HEADER_SIZE);
    *header = *request;
    header->command = TC_COMMAND_PREPARE;
    header->op = op;
    header->commit = replica->commit_max;
    header->view = replica->view;
    header->epoch = replica->acting_epoch;
    header->replica = replica->replica;
    header->parent = parent->checksum;
    header->context = request->checksum;
    uint64_t now = replica->io->vtable->realtime_ns(replica->io);
    header->timestamp = now > parent->timestamp ? now : parent->timestamp + 1;
    tc_header_set_checksum(header);
    tc_assert_hot(tc_header_invalid(header) == NULL);
    entry->header = *header;
    entry->loaded = true;
    entry->ok_from = 0;
    entry->resend_ticks = 0;
    replica->pipeline_count++;
    replica->counters.prepares++;
    replica_log_set(replica, header);
    tc_assert(replica->op_head == op);
    log_write(replica, entry->message);
    for (uint8_t r = 0; r < replica->replica_count; r++) {
        if (r != replica->replica) replica_send(replica, r, entry->message);
    }
    send_to_learners(replica, entry->message);
}

// ---------------------------------------------------------------------------------------------
// Prepares (backups, and repair everywhere).

static void request_prepare(struct tc_replica *replica, uint64_t op,
                            const struct tc_checksum *checksum);

static bool prepare_wanted(const struct tc_replica *replica, const struct tc_header *header) {
    const struct tc_header *entry = log_header(replica, header->op);
    if (entry != NULL && tc_checksum_equal(&entry->checksum, &header->checksum)) return true;
    // A gap below our chained suffix, filled ahead of the hash-chain walk (requested by op from
    // the primary). Unverified until the chain reaches it: never acknowledged or applied before.
    if (entry == NULL && replica->state == TC_REPLICA_NORMAL && !replica_is_primary(replica) &&
        header->op > replica->commit_min && header->op + 1 < replica->op_chained_min) {
        return true;
    }
    if (replica->op_chained_min > 0 && header->op + 1 == replica->op_chained_min) {
        const struct tc_header *upper = log_header(replica, replica->op_chained_min);
        if (upper != NULL && tc_checksum_equal(&upper->parent, &header->checksum)) return true;
    }
    return replica->anchor_op == header->op &&
           tc_checksum_equal(&replica->anchor_checksum, &header->checksum);
}

// A prepare from the primary of our view during normal operation.
static void backup_accept_prepare(struct tc_replica *replica, const struct tc_header *header) {
    const struct tc_header *entry = log_header(replica, header->op);
    if (entry != NULL && tc_checksum_equal(&entry->checksum, &header->checksum)) return;
    if (header->op <= replica->commit_min) {
        replica_log(replica, TC_LOG_WARN, "primary sent a different committed op %llu",
                    (unsigned long long)header->op);
        return;
    }
    // A different entry inside our chained suffix means our head is stale: the primary's log wins.
    // Below the chained suffix (a gap or an unverified entry), the prepare just fills the slot.
    if (entry != NULL && header->op >= replica->op_chained_min && header->op <= replica->op_head) {
        replica_log_truncate(replica, header->op - 1);
    }
    replica_log_set(replica, header);
}

static void install_wanted(struct tc_replica *replica, const struct tc_header *header) {
    if (replica->anchor_op == header->op &&
        tc_checksum_equal(&replica->anchor_checksum, &header->checksum)) {
        replica->anchor_op = 0;
        const struct tc_header *entry = log_header(replica, header->op);
        if (entry != NULL && tc_checksum_equal(&entry->checksum, &header->checksum)) return;
        if (entry != NULL && header->op >= replica->op_chained_min &&
            header->op <= replica->op_head) {
            replica_log_truncate(replica, header->op - 1);
        }
    }
    replica_log_set(replica, header);
}

static void prepare_cache_put(struct tc_replica *replica, const struct tc_header *header,
                              const uint8_t *message) {
    if (header->op <= replica->commit_min) return;
    const struct tc_header *entry = log_header(replica, header->op);
    if (entry == NULL || !tc_checksum_equal(&entry->checksum, &header->checksum)) return;
    struct cached_prepare *cached = &replica->prepare_cache[header->op % REPLICA_PREPARE_CACHE_MAX];
    if (cached->valid && cached->op == header->op &&
        tc_checksum_equal(&cached->checksum, &header->checksum)) {
        return;
    }
    memcpy(cached->message, message, header->size);
    cached->valid = true;
    cached->op = header->op;
    cached->checksum = header->checksum;
}

static void on_prepare(struct tc_replica *replica, const struct tc_header *header,
                       const uint8_t *message) {
    if (replica->state == TC_REPLICA_RECOVERING || replica->state == TC_REPLICA_STOPPED) return;
    // Ops beyond our ring wait for our next checkpoint (the primary resends); ops below it are
    // covered by it.
    if (header->op == 0 || !replica_op_writable(replica, header->op)) return;
    bool from_primary = replica->state == TC_REPLICA_NORMAL && !replica_is_primary(replica) &&
                        header->view == replica->view && header->epoch == replica->acting_epoch &&
                        !replica_epoch_closed(replica) && // only R's chain counts (epoch_admits)
                        header->replica == replica_primary_index(replica, replica->view);
    if (header->view > replica->view && replica->state != TC_REPLICA_RECOVERING_HEAD) {
        // We missed a view change: ask the new primary for its log.
        struct tc_header rsv;
        replica_header_init(replica, &rsv, TC_COMMAND_REQUEST_START_VIEW);
        rsv.view = header->view;
        uint8_t target = replica_primary_index(replica, header->view);
        if (target != replica->replica) replica_send_header(replica, target, &rsv);
    }
    if (from_primary) {
        // Only new ops prove the primary is making progress: repair answers from an abdicating
        // primary must not keep the backups from electing another.
        if (header->op > replica->op_head) replica_normal_timeout_reset(replica);
        if (header->commit > replica->commit_max) replica->commit_max = header->commit;
        backup_accept_prepare(replica, header);
    } else if (prepare_wanted(replica, header)) {
        uint64_t chained_min = replica->op_chained_min;
        install_wanted(replica, header);
        // The chain grew downward: ask for the next link now rather than at the next repair tick.
        if (replica->op_chained_min < chained_min && replica->op_chained_min > replica->commit_min) {
            const struct tc_header *upper = log_header(replica, replica->op_chained_min);
            if (upper != NULL) request_prepare(replica, replica->op_chained_min - 1, &upper->parent);
        }
    } else {
        return;
    }
    log_write(replica, message);
    if (!replica_is_primary(replica)) prepare_cache_put(replica, header, message);
    if (replica->state == TC_REPLICA_NORMAL && !replica_is_primary(replica)) {
        replica_send_prepare_ok(replica); // also answers a resent prepare we hold already
    }
    if (replica->state == TC_REPLICA_VIEW_CHANGE) replica_view_change_progress(replica);
    replica_commit_journal(replica);
}

// The highest op such that our log is hash-chained from our head down to a committed op and every
// op in (commit_max, op] is durable here: our log up to op equals the primary's, and everything the
// acknowledgement covers that is not yet known committed is on our disk. Committed ops we still lack
// below are repaired later; they are durable on a quorum already.
static uint64_t prepare_ok_max(struct tc_replica *replica) {
    if (replica->op_chained_min > replica->commit_max) return 0;
    if (replica->commit_max >= replica->op_head) return 0;
    uint64_t op = replica->op_prepare_ok_max;
    if (op < replica->commit_max) op = replica->commit_max;
    while (op < replica->op_head && log_clean(replica, op + 1)) op++;
    replica->op_prepare_ok_max = op;
    return op > replica->commit_max ? op : 0;
}

void replica_send_prepare_ok(struct tc_replica *replica) {
    tc_assert(replica->state == TC_REPLICA_NORMAL);
    tc_assert(!replica_is_primary(replica));
    tc_assert(replica->log_view == replica->view);
#if !defined(TC_PLANTED_BUG_LEARNER_QUORUM)
    if (!replica_member(replica)) return; // a learner never acknowledges (vsr.md §11.4)
#endif
    uint64_t op = prepare_ok_max(replica);
    uint64_t checkpoint_op = replica_checkpoint_op_covering(replica);
    if (op == 0 && checkpoint_op > 0 && replica->commit_min > 0 &&
        replica->op_chained_min <= replica->commit_min) {
        // Nothing new to acknowledge, but the primary must learn our durable checkpoint (it may be
        // waiting for a quorum of them to reuse journal slots, and a report can be lost): every
        // call (each repair tick while idle) reports it by acknowledging an applied op, which is
        // harmless.
        op = replica->commit_min;
    }
    if (op == 0) return;
    const struct tc_header *entry = log_header(replica, op);
    tc_assert(entry != NULL);
    struct tc_header ok;
    replica_header_init(replica, &ok, TC_COMMAND_PREPARE_OK);
#if defined(TC_PLANTED_BUG_LEARNER_QUORUM)
    ok.replica = replica->replica; // planted bug: a learner acknowledges as its slot's member
#endif
    ok.op = op;
    ok.commit = replica->commit_max;
    ok.context = entry->checksum;
    ok.checkpoint_op = checkpoint_op;
    replica_send_header(replica, replica_primary_index(replica, replica->view), &ok);
    replica->prepare_ok_sent_op = op;
}

static void on_prepare_ok(struct tc_replica *replica, const struct tc_header *header) {
    if (replica->state != TC_REPLICA_NORMAL || !replica_is_primary(replica)) return;
    replica_checkpoint_heard(replica, header->replica, header->checkpoint_op);
    request_queue_drain(replica); // a newly quorum-durable checkpoint frees journal slots
    if (header->view != replica->view) return;
    const struct tc_header *entry = log_header(replica, header->op);
    if (entry == NULL || !tc_checksum_equal(&entry->checksum, &header->context)) return;
    // Cumulative: the backup's log equals ours up to header->op.
    for (uint64_t op = replica->pipeline_op_first;
         op < replica->pipeline_op_first + replica->pipeline_count && op <= header->op; op++) {
        pipeline_find(replica, op)->ok_from |= (uint8_t)(1u << header->replica);
    }
    replica_primary_commit_quorum(replica);
}

static void on_commit(struct tc_replica *replica, const struct tc_header *header) {
    if (header->view > replica->view && replica->state != TC_REPLICA_RECOVERING_HEAD) {
        struct tc_header rsv;
        replica_header_init(replica, &rsv, TC_COMMAND_REQUEST_START_VIEW);
        rsv.view = header->view;
        replica_send_header(replica, header->replica, &rsv);
        return;
    }
    if (header->view != replica->view || replica_is_primary(replica)) return;
    if (header->replica != replica_primary_index(replica, replica->view)) return;
    if (replica->state == TC_REPLICA_VIEW_CHANGE && !replica->pending_normal) {
        struct tc_header rsv; // we missed the start_view of this view
        replica_header_init(replica, &rsv, TC_COMMAND_REQUEST_START_VIEW);
        replica_send_header(replica, header->replica, &rsv);
        return;
    }
    if (replica->state != TC_REPLICA_NORMAL) return;
    replica_normal_timeout_reset(replica);
    replica_checkpoint_heard(replica, header->replica, header->checkpoint_op);
    if (!replica_checkpoint_matches(replica, header->checkpoint_op, &header->parent)) {
        // Byte-identical checkpoints are an invariant: our state diverged from the primary's.
        stop(replica, "checkpoint id differs from the primary's at the same op: state diverged");
        return;
    }
    if (header->commit > replica->commit_max) replica->commit_max = header->commit;
    const struct tc_header *entry = log_header(replica, header->commit);
    if (header->commit > 0 &&
        (entry == NULL || !tc_checksum_equal(&entry->checksum, &header->context))) {
        replica->anchor_op = header->commit; // canonical (op, checksum) we do not hold yet
        replica->anchor_checksum = header->context;
    }
    replica_commit_journal(replica);
}

// ---------------------------------------------------------------------------------------------
// Repair: serving prepares and requesting missing ones.

static void on_request_prepare(struct tc_replica *replica, const struct tc_header *header) {
    if (replica->state == TC_REPLICA_RECOVERING || replica->state == TC_REPLICA_STOPPED) return;
    const struct tc_header *entry = log_header(replica, header->op);
    if (entry == NULL) return;
    if (tc_checksum_is_zero(&header->context)) {
        // By op only: just the primary answers, from its (canonical) log.
        if (replica->state != TC_REPLICA_NORMAL || !replica_is_primary(replica)) return;
    } else if (!tc_checksum_equal(&entry->checksum, &header->context)) {
        return;
    }
    struct pipeline_entry *pipe = pipeline_find(replica, header->op);
    if (pipe != NULL && pipe->loaded && tc_checksum_equal(&pipe->header.checksum, &entry->checksum)) {
        replica_send_answer(replica, header->replica, header->epoch, pipe->message);
        replica->counters.repairs_served++;
        return;
    }
    if (!log_clean(replica, header->op)) return;
    for (uint32_t i = 0; i < REPLICA_SERVE_READS_MAX; i++) {
        struct serve_read *read = &replica->serve_reads[i];
        if (read->busy) continue;
        if (tc_journal_read_prepare(replica->journal, header->op, &entry->checksum, read->buffer) !=
            TC_OK) {
            return;
        }
        read->busy = true;
        read->target = header->replica;
        read->target_epoch = header->epoch;
        read->op = header->op;
        return;
    }
}

static uint8_t repair_target(struct tc_replica *replica) {
    uint8_t primary = replica_primary_index(replica, replica->view);
    if (replica->state == TC_REPLICA_NORMAL && !replica_slot_self(replica, primary) &&
        tc_prng_below(&replica->prng, 2) == 0) {
        return primary;
    }
    if (!replica_slot_self(replica, replica->replica)) {
        return (uint8_t)tc_prng_below(&replica->prng, replica->replica_count); // a learner
    }
    uint8_t target = (uint8_t)tc_prng_below(&replica->prng, replica->replica_count - 1u);
    return target >= replica->replica ? (uint8_t)(target + 1) : target;
}

static void request_prepare(struct tc_replica *replica, uint64_t op,
                            const struct tc_checksum *checksum) {
    if (replica->replica_count == 1) return;
    struct tc_header request;
    replica_header_init(replica, &request, TC_COMMAND_REQUEST_PREPARE);
    request.op = op;
    request.context = *checksum;
    uint8_t target = repair_target(replica);
    replica_log(replica, TC_LOG_DEBUG, "repair: request op %llu from r%u",
                (unsigned long long)op, target);
    replica_send_header(replica, target, &request);
    replica->counters.repair_requests++;
}

// A backup far behind (e.g. restarted) asks the primary for the ops below its chained suffix by
// op number, several at a time, instead of walking the hash chain one round trip per op; the walk
// then only verifies them.
#define REPLICA_REPAIR_FILL_MAX 8u
static void repair_fill_below_chain(struct tc_replica *replica) {
    if (replica->state != TC_REPLICA_NORMAL || replica_is_primary(replica)) return;
    if (replica->op_chained_min <= replica->commit_min + 1) return;
    uint8_t primary = replica_primary_index(replica, replica->view);
    if (replica_slot_self(replica, primary)) return; // a follower in the slot of its view's primary
    uint32_t sent = 0;
    for (uint64_t op = replica->op_chained_min - 1; op > replica->commit_min; op--) {
        if (sent == REPLICA_REPAIR_FILL_MAX) return;
        if (log_header(replica, op) != NULL) continue;
        struct tc_header request;
        replica_header_init(replica, &request, TC_COMMAND_REQUEST_PREPARE);
        request.op = op;
        replica_send_header(replica, primary, &request);
        replica->counters.repair_requests++;
        sent++;
    }
}

// Requests what our log lacks: the anchor, the next link of a broken chain, dirty prepares.
void replica_repair(struct tc_replica *replica) {
    if (replica_retired(replica)) return; // it only answers now (vsr.md §11.4)
    uint32_t budget = REPLICA_REPAIR_REQUESTS_MAX;
    if (replica->anchor_op > 0) {
        request_prepare(replica, replica->anchor_op, &replica->anchor_checksum);
        budget--;
    }
    if (replica->op_chained_min > replica->commit_min && replica->op_chained_min > 0) {
        const struct tc_header *upper = log_header(replica, replica->op_chained_min);
        if (upper != NULL) {
            request_prepare(replica, replica->op_chained_min - 1, &upper->parent);
            budget--;
        }
    }
    repair_fill_below_chain(replica);
    uint64_t from = replica->commit_min + 1;
    if (from < replica->op_chained_min) from = replica->op_chained_min;
    for (uint64_t op = from; op <= replica->op_head && budget > 0; op++) {
        if (tc_journal_slot_state(replica->journal, op) != TC_SLOT_DIRTY) continue;
        if (tc_journal_writing(replica->journal, op)) continue;
        const struct tc_header *entry = log_header(replica, op);
        if (entry == NULL) continue;
        request_prepare(replica, op, &entry->checksum);
        budget--;
    }
}

// ---------------------------------------------------------------------------------------------
// Ticks.

// A primary that cannot apply a committed op (its copy is damaged and no member it can reach holds
// a clean one: e.g. a backup applied it and then lost the slot, the other copy is on a down replica
// or a learner) stalls its clients with nothing on the wire to show it: commits are quorum-acked,
// so the commit backstop above never fires (sim seed 820). A backup that applied the op can lead:
// hand the group over after the same bound as the commit backstop. It syncs or repairs later.
static bool primary_apply_stalled(struct tc_replica *replica) {
    if (replica->commit_min >= replica->commit_max || replica->commit_min != replica->apply_stall_op) {
        replica->apply_stall_op = replica->commit_min;
        replica->apply_stall_ticks = 0;
        return false;
    }
    replica->apply_stall_ticks++;
    return replica->apply_stall_ticks >= 10 * replica->options.normal_timeout_ticks;
}

static void primary_tick(struct tc_replica *replica) {
    if (replica->abdicating) return;
    uint32_t heard = 0;
    for (uint8_t r = 0; r < replica->replica_count; r++) {
        if (replica->heard_ticks[r] < UINT32_MAX) replica->heard_ticks[r]++;
        bool recent = replica->heard_ticks[r] <= replica->options.normal_timeout_ticks;
        if (r == replica->replica || recent) heard++;
    }
    if (replica->op_head > replica->commit_max) {
        replica->commit_stall_ticks++;
        // Abdicate when a quorum has gone silent (we cannot receive), or as a backstop when
        // nothing commits for much longer (our log may be the problem).
        bool deaf = heard < replica->quorum_replication &&
                    replica->commit_stall_ticks >= replica->options.normal_timeout_ticks;
        if (deaf || replica->commit_stall_ticks >= 10 * replica->options.normal_timeout_ticks) {
            // We cannot reach a quorum: stop heartbeats so the group elects another primary.
            replica->abdicating = true;
            replica_log(replica, TC_LOG_INFO, "abdicating: no commit progress");
            replica_vote(replica, replica->view + 1);
            return;
        }
    }
    if (primary_apply_stalled(replica)) {
        replica->abdicating = true;
        replica_log(replica, TC_LOG_INFO, "abdicating: cannot apply committed op %llu",
                    (unsigned long long)(replica->commit_min + 1));
        replica_vote(replica, replica->view + 1);
        return;
    }
    if (++replica->heartbeat_ticks >= replica->options.heartbeat_timeout_ticks) {
        replica->heartbeat_ticks = 0;
        struct tc_header commit;
        replica_header_init(replica, &commit, TC_COMMAND_COMMIT);
        commit.commit = replica->commit_max;
        commit.op = replica->commit_max;
        commit.context = log_header(replica, replica->commit_max)->checksum;
        const struct tc_superblock *sb = tc_journal_superblock(replica->journal);
        commit.checkpoint_op = sb->checkpoint_op;
        if (sb->checkpoint_op > 0) commit.parent = sb->checkpoint_id;
        send_header_to_all(replica, &commit);
        send_to_learners(replica, (const uint8_t *)&commit);
    }
    for (uint64_t op = replica->pipeline_op_first;
         op < replica->pipeline_op_first + replica->pipeline_count; op++) {
        struct pipeline_entry *entry = pipeline_find(replica, op);
        pipeline_load(replica, entry);
        if (!entry->loaded || op <= replica->commit_max) continue;
        if (++entry->resend_ticks < replica->options.prepare_timeout_ticks) continue;
        entry->resend_ticks = 0;
        log_write(replica, entry->message); // our own write, if it could not start before
        for (uint8_t r = 0; r < replica->replica_count; r++) {
            if (r == replica->replica || (entry->ok_from & (1u << r)) != 0) continue;
            replica_send(replica, r, entry->message);
        }
    }
}

void tc_replica_tick(struct tc_replica *replica) {
    if (replica->state == TC_REPLICA_RECOVERING || replica->state == TC_REPLICA_STOPPED) return;
    if (replica->state == TC_REPLICA_NORMAL && replica_is_primary(replica)) {
        primary_tick(replica);
    } else if (replica->state == TC_REPLICA_NORMAL) {
        if (++replica->normal_ticks >= replica->normal_timeout_ticks) {
            replica_normal_timeout_reset(replica);
            if (replica_member(replica)) {
                replica_vote(replica, replica->view + 1);
            } else if (!replica_retired(replica)) {
                replica_learner_poll(replica);
            }
        }
    } else if (!replica_member(replica) && !replica_retired(replica) &&
               ++replica->normal_ticks >= replica->normal_timeout_ticks) {
        replica_normal_timeout_reset(replica); // a learner outside normal: poll too
        replica_learner_poll(replica);
    }
    if (replica->state == TC_REPLICA_NORMAL && replica_is_primary(replica)) {
        for (uint8_t slot = 0; slot < replica->replica_count; slot++) {
            if (replica->learner_heard_ticks[slot] < UINT32_MAX) replica->learner_heard_ticks[slot]++;
        }
    }
    replica_view_tick(replica);
    if (replica->state == TC_REPLICA_STOPPED) return;
    replica_sync_tick(replica);
    if (++replica->repair_ticks >= replica->options.repair_timeout_ticks) {
        replica->repair_ticks = 0;
        bool repairing = replica->state == TC_REPLICA_NORMAL ||
                         (replica->state == TC_REPLICA_VIEW_CHANGE && replica->canonical_installed) ||
                         replica->epoch_heard > replica->acting_epoch; // catching up to a newer epoch
        if (repairing) replica_repair(replica);
        if (replica->state == TC_REPLICA_NORMAL && !replica_is_primary(replica)) {
            replica_send_prepare_ok(replica);
        }
        replica_commit_journal(replica);
    }
}

// ---------------------------------------------------------------------------------------------
// Message intake: validate everything, then dispatch.

static bool body_valid_for_command(const struct tc_header *header) {
    switch (header->command) {
    case TC_COMMAND_REQUEST:
    case TC_COMMAND_PREPARE:
    case TC_COMMAND_DO_VIEW_CHANGE:
    case TC_COMMAND_START_VIEW:
    case TC_COMMAND_SYNC:
    case TC_COMMAND_STORE_CHUNK: return true;
    default: return header->size == TC_HEADER_SIZE;
    }
}

// A slot of our group, or the learner address of one.
static bool address_valid(const struct tc_replica *replica, uint8_t address) {
    if (address < replica->replica_count) return true;
    return address >= TC_REPLICAS_MAX && address - TC_REPLICAS_MAX < replica->replica_count;
}

// Requests that only read immutable facts (prepares by checksum, durable checkpoints and store
// segments): served to anyone, learners and other epochs included.
static bool command_read_only(uint8_t command) {
    return command == TC_COMMAND_REQUEST_PREPARE || command == TC_COMMAND_REQUEST_SYNC ||
           command == TC_COMMAND_REQUEST_STORE || command == TC_COMMAND_SYNC ||
           command == TC_COMMAND_STORE_CHUNK;
}

// Epochs and learners (vsr.md §11.4): consensus messages count only from members of our epoch.
// One from an older epoch is answered with start_epoch; one from a newer epoch is ignored (the
// sender answers ours). Prepares are judged by checksum (a repaired prepare keeps the epoch it
// was prepared in); the live stream from our primary is checked in on_prepare.
// Once a start_epoch told us that our epoch ended at op R, nothing of our epoch's consensus counts
// either: R's hash chain is the committed history, and a start_view, heartbeat or vote of our
// epoch may come from a primary of a view the group left long ago, whose log forks below R (seed
// 1327 --reconfig-heavy: a learner that had heard R installed such a start_view and committed its
// op 20 under the commit number R had given it).
static bool epoch_admits(struct tc_replica *replica, const struct tc_header *header) {
    uint8_t command = header->command;
    if (command == TC_COMMAND_REQUEST || command == TC_COMMAND_PREPARE) return true;
    if (command == TC_COMMAND_START_EPOCH || command_read_only(command)) return true;
    bool learner = header->replica >= TC_REPLICAS_MAX;
    if (header->epoch < replica->acting_epoch) {
        replica_send_start_epoch(replica, header->replica, header->epoch);
#if !defined(TC_PLANTED_BUG_OLD_EPOCH_ACCEPTED)
        return false;
#endif
    }
    if (header->epoch > replica->acting_epoch) return false;
    if (replica_epoch_closed(replica)) return false;
    // A learner may only ask for the current view (it polls); it never votes or acknowledges.
    if (learner && command != TC_COMMAND_REQUEST_START_VIEW) return false;
    return true;
}

void tc_replica_on_message(struct tc_replica *replica, const uint8_t *message, uint32_t size) {
    if (replica->state == TC_REPLICA_RECOVERING || replica->state == TC_REPLICA_STOPPED) return;
    const struct tc_header *header = (const struct tc_header *)(const void *)message;
    const char *invalid = NULL;
    if (size < TC_HEADER_SIZE) invalid = "short message";
    else if (!tc_header_valid_checksum(header)) invalid = "header checksum";
    else if ((invalid = tc_header_invalid(header)) != NULL) {}
    else if (header->size != size) invalid = "size mismatch";
    else if (header->cluster != replica->options.cluster) invalid = "cluster";
    else if (header->group != replica->options.group) invalid = "group";
    else if (!tc_header_valid_checksum_body(header, message + TC_HEADER_SIZE)) invalid = "body checksum";
    else if (!body_valid_for_command(header)) invalid = "body";
    else if (header->command != TC_COMMAND_REQUEST && !address_valid(replica, header->replica)) {
        invalid = "replica address";
    } else if (header->command != TC_COMMAND_REQUEST && header->command != TC_COMMAND_PREPARE &&
               header->replica == replica_address(replica)) {
        invalid = "from ourselves";
    }
    if (invalid != NULL) {
        replica->messages_dropped_invalid++;
        replica_log(replica, TC_LOG_DEBUG, "dropped message: %s", invalid);
        return;
    }
    const uint8_t *body = message + TC_HEADER_SIZE;
    if (!epoch_admits(replica, header)) return;
    if (header->command != TC_COMMAND_REQUEST && header->command != TC_COMMAND_PREPARE) {
        if (header->replica < replica->replica_count) {
            replica->heard_ticks[header->replica] = 0; // for the primary's abdication decision
        } else {
            replica->learner_heard_ticks[header->replica - TC_REPLICAS_MAX] = 0;
        }
    }
    switch (header->command) {
    case TC_COMMAND_REQUEST: on_request(replica, header, body); break;
    case TC_COMMAND_PREPARE: on_prepare(replica, header, message); break;
    case TC_COMMAND_PREPARE_OK: on_prepare_ok(replica, header); break;
    case TC_COMMAND_COMMIT: on_commit(replica, header); break;
    case TC_COMMAND_START_VIEW_CHANGE: replica_on_start_view_change(replica, header); break;
    case TC_COMMAND_DO_VIEW_CHANGE: replica_on_do_view_change(replica, header, body); break;
    case TC_COMMAND_START_VIEW: replica_on_start_view(replica, header, body); break;
    case TC_COMMAND_REQUEST_START_VIEW: replica_on_request_start_view(replica, header); break;
    case TC_COMMAND_REQUEST_PREPARE: on_request_prepare(replica, header); break;
    case TC_COMMAND_REQUEST_SYNC: replica_on_request_sync(replica, header); break;
    case TC_COMMAND_SYNC: replica_on_sync(replica, header, body); break;
    case TC_COMMAND_REQUEST_STORE: replica_on_request_store(replica, header); break;
    case TC_COMMAND_STORE_CHUNK: replica_on_store_chunk(replica, header, body); break;
    case TC_COMMAND_START_EPOCH: replica_on_start_epoch(replica, header); break;
    default: replica->messages_dropped_invalid++; break; // replies/evictions go to clients
    }
}

// ---------------------------------------------------------------------------------------------
// Introspection.

void tc_replica_status_get(const struct tc_replica *replica, struct tc_replica_status *status) {
    memset(status, 0, sizeof(*status));
    status->state = replica->state;
    status->view = replica->view;
    status->log_view = replica->log_view;
    status->op_head = replica->op_head;
    status->commit_min = replica->commit_min;
    status->commit_max = replica->commit_max;
    status->primary = replica->state == TC_REPLICA_NORMAL && replica_is_primary(replica);
    status->journal_faulty = replica->state == TC_REPLICA_RECOVERING
                                 ? 0
                                 : tc_journal_faulty_count(replica->journal);
    status->messages_dropped_invalid = replica->messages_dropped_invalid;
    if (replica->state != TC_REPLICA_RECOVERING) {
        const struct tc_superblock *sb = tc_journal_superblock(replica->journal);
        status->checkpoint_op = sb->checkpoint_op;
        status->checkpoint_id = sb->checkpoint_id;
    }
    status->checkpoints_durable = replica->checkpoints_durable;
    status->syncs_done = replica->syncs_done;
    status->epoch = replica->epoch;
    status->acting_epoch = replica->acting_epoch;
    status->member = replica_member(replica);
    status->retired = replica_retired(replica);
    status->sync_store_bytes = replica->sync_store_bytes;
    status->counters = replica->counters;
}

uint64_t tc_replica_member_id(const struct tc_replica *replica, uint8_t slot) {
    tc_assert(slot < replica->replica_count);
    tc_assert(replica->acting_members[slot] != 0);
    return replica->acting_members[slot];
}

const struct tc_header *tc_replica_log_header(const struct tc_replica *replica, uint64_t op) {
    if (replica->state == TC_REPLICA_RECOVERING) return NULL;
    if (!log_clean(replica, op)) return NULL;
    return log_header(replica, op);
}

static void store_ready_callback(void *context) {
    struct tc_replica *replica = context;
    if (replica->state == TC_REPLICA_STOPPED || replica->state == TC_REPLICA_RECOVERING) return;
    replica_commit_journal(replica);
}

struct tc_store *tc_replica_store(struct tc_replica *replica) { return replica->store; }

uint64_t tc_replica_applied_timestamp(const struct tc_replica *replica) {
    return replica->applied_timestamp_ns;
}

const struct tc_room_machine *tc_replica_room(const struct tc_replica *replica) {
    return replica->room;
}

// View headers: the log suffix (op_head - pipeline .. op_head), ascending. With placeholders,
// unknown entries become reserved headers naming their op (request = 1 when the slot is faulty or
// the op is committed here: "not a nack"); without, the suffix starts above the highest unknown
// entry.
uint32_t replica_view_headers_build(const struct tc_replica *replica, struct tc_header *out,
                                    uint64_t head, bool placeholders) {
    tc_assert(head <= replica->op_head);
    uint64_t first = head > TC_PIPELINE_PREPARE_MAX ? head - TC_PIPELINE_PREPARE_MAX : 0;
    uint32_t count = 0;
    for (uint64_t op = first; op <= head; op++) {
        const struct tc_header *entry = log_header(replica, op);
        if (entry != NULL) {
            out[count++] = *entry;
            continue;
        }
        if (!placeholders) {
            count = 0; // keep only the contiguous known suffix
            continue;
        }
        struct tc_header *placeholder = &out[count++];
        tc_header_reserved(placeholder, replica->options.cluster, replica->options.group, op);
        // Not a nack: a faulty slot may have held it, and an op at or below commit_min was
        // committed (a restart from a checkpoint forgets the headers below it).
        if (op <= replica->commit_min ||
            tc_journal_slot_state(replica->journal, op) == TC_SLOT_FAULTY) {
            placeholder->request = 1;
            tc_header_set_checksum(placeholder);
        }
    }
    tc_assert(count <= TC_VIEW_HEADERS_MAX);
    return count;
}
