// The message store (docs/store.md): append, seal, flush, state encoding, recovery and the
// storage side of state sync. History reads are in store_read.c, encodings in store_format.c.
//
// Buffers: `buffer_count` segment-sized buffers. Exactly one is OPEN (the segment being appended
// to); SEALED ones wait for their write; FREE ones are available. tc_store_ready promises that an
// op can seal as many segments as one batch possibly can, so apply never waits inside a batch.

#include <string.h>

#include "store_internal.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_le.h"

#define STORE_STATE_MAGIC 0x53534354u // "TCSS" little-endian
#define STORE_STATE_VERSION 1u
#define STORE_STATE_HEADER_SIZE TC_STORE_STATE_HEADER_SIZE
#define STORE_STATE_ROOM_SIZE TC_STORE_STATE_ROOM_SIZE
#define STORE_DAY_NS (86400ull * 1000000000ull)

// The largest record (a run's first record with a full tower and a max body).
#define STORE_RECORD_SIZE_MAX TC_ROOM_STORE_COST(TC_ROOM_BODY_SIZE_MAX)
// The most record bytes one batch can append (TC_ROOM_BATCH_OPS_MAX sends, all starting runs).
#define STORE_BATCH_BYTES_MAX                                                                      \
    ((uint64_t)TC_ROOM_BATCH_OPS_MAX * TC_ROOM_STORE_COST(0) + TC_MESSAGE_BODY_SIZE_MAX)

static uint32_t segment_usable(const struct tc_store_options *options) {
    return options->segment_size_bytes - TC_STORE_SEGMENT_HEADER_SIZE - TC_STORE_SEAL_SIZE;
}

const char *tc_store_geometry_invalid(const struct tc_store_options *options) {
    if (options == NULL) return "options are NULL";
    if (!tc_is_power_of_two(options->segment_size_bytes)) return "segment size not a power of two";
    if (options->segment_size_bytes < TC_STORE_SEGMENT_SIZE_MIN) return "segment size too small";
    if (options->segment_size_bytes > TC_STORE_SEGMENT_SIZE_MAX) return "segment size too large";
    if (options->segment_count < 2) return "segment count below 2";
    if (options->rooms_max == 0) return "rooms_max is 0";
    if (options->reads_max == 0 || options->reads_max > TC_STORE_READS_MAX) return "reads_max";
    if (options->zone_offset_bytes % TC_SECTOR_SIZE != 0) return "zone offset not sector aligned";
    return NULL;
}

const char *tc_store_options_invalid(const struct tc_store_options *options) {
    const char *geometry = tc_store_geometry_invalid(options);
    if (geometry != NULL) return geometry;
    if (options->io == NULL || options->room == NULL) return "io or room machine missing";
    if (options->ready_callback == NULL) return "ready callback missing";
    return NULL;
}

// Segments one batch can seal: its bytes spread over segments that each take at least
// usable - largest record before sealing, plus the segment open when it starts.
static uint32_t seals_per_batch(const struct tc_store_options *options) {
    uint64_t fill_min = segment_usable(options) - STORE_RECORD_SIZE_MAX;
    return (uint32_t)tc_div_ceil(STORE_BATCH_BYTES_MAX, fill_min) + 1u;
}

static uint32_t buffer_count(const struct tc_store_options *options) {
    return seals_per_batch(options) + 2u; // + the open one + one for state sync
}

uint64_t tc_store_zone_size(const struct tc_store_options *options) {
    tc_assert(tc_store_geometry_invalid(options) == NULL);
    return (uint64_t)options->segment_count * options->segment_size_bytes;
}

uint64_t tc_store_budget_bytes(const struct tc_store_options *options) {
    tc_assert(tc_store_geometry_invalid(options) == NULL);
    // A segment is sealed only when the next record does not fit, so it holds at least
    // usable - largest record bytes of records; every cost is >= the record's real size.
    uint64_t per_segment = segment_usable(options) - STORE_RECORD_SIZE_MAX;
    return per_segment * options->segment_count;
}

uint64_t tc_store_memory_size(const struct tc_store_options *options) {
    tc_assert(tc_store_geometry_invalid(options) == NULL);
    uint64_t count = buffer_count(options);
    uint64_t size = sizeof(struct tc_store) + 4096;
    size += count * (sizeof(struct store_buffer) + options->segment_size_bytes + 4096);
    size += (uint64_t)options->rooms_max * sizeof(struct store_room) + 64;
    size += 2 * TC_SECTOR_SIZE;
    size += store_read_memory_size(options);
    return size;
}

uint64_t store_slot_offset(const struct tc_store *store, uint64_t segment) {
    uint64_t slot = segment % store->options.segment_count;
    return store->options.zone_offset_bytes + slot * store->options.segment_size_bytes;
}

void store_submit(struct tc_store *store, struct tc_io_storage_op *op, uint8_t kind,
                  uint64_t offset, uint8_t *buffer, uint32_t size, tc_io_storage_cb callback,
                  void *context) {
    tc_assert(kind == TC_IO_STORAGE_SYNC || size > 0);
    tc_assert(kind == TC_IO_STORAGE_SYNC || offset % TC_SECTOR_SIZE == 0);
    memset(op, 0, sizeof(*op));
    op->callback = callback;
    op->context = context;
    op->offset_bytes = offset;
    op->buffer = buffer;
    op->size_bytes = size;
    struct tc_io *io = store->options.io;
    if (kind == TC_IO_STORAGE_READ) io->vtable->storage_read(io, op);
    if (kind == TC_IO_STORAGE_WRITE) io->vtable->storage_write(io, op);
    if (kind == TC_IO_STORAGE_SYNC) io->vtable->storage_sync(io, op);
}

struct store_buffer *store_buffer_of(struct tc_store *store, uint64_t segment) {
    for (uint32_t i = 0; i < store->buffer_count; i++) {
        struct store_buffer *buffer = &store->buffers[i];
        bool holds = buffer->state == STORE_BUFFER_OPEN || buffer->state == STORE_BUFFER_SEALED;
        if (holds && buffer->segment == segment) return buffer;
    }
    return NULL;
}

static struct store_buffer *buffer_free(struct tc_store *store) {
    for (uint32_t i = 0; i < store->buffer_count; i++) {
        if (store->buffers[i].state == STORE_BUFFER_FREE) return &store->buffers[i];
    }
    return NULL;
}

static uint32_t buffers_free_count(const struct tc_store *store) {
    uint32_t count = 0;
    for (uint32_t i = 0; i < store->buffer_count; i++) {
        if (store->buffers[i].state == STORE_BUFFER_FREE) count++;
    }
    return count;
}

// Makes `buffer` the open buffer of `segment`, starting with the segment header.
static void buffer_open(struct tc_store *store, struct store_buffer *buffer, uint64_t segment) {
    tc_assert(buffer->state == STORE_BUFFER_FREE);
    tc_assert(!buffer->writing && !buffer->write_pending);
    memset(buffer->bytes, 0, store->options.segment_size_bytes);
    store_segment_header_encode(buffer->bytes, store->options.cluster, store->options.group,
                                segment, &store->chain);
    buffer->state = STORE_BUFFER_OPEN;
    buffer->segment = segment;
    buffer->used = TC_STORE_SEGMENT_HEADER_SIZE;
    buffer->written = 0;
    store->open = buffer;
    store->cursor.segment = segment;
    store->cursor.offset = buffer->used;
}

// The empty store: segment 0 open in memory, nothing durable. Buffers lent to state sync stay lent.
static void store_reset(struct tc_store *store) {
    tc_assert(store->flush_stage == FLUSH_IDLE);
    for (uint32_t i = 0; i < store->buffer_count; i++) {
        struct store_buffer *buffer = &store->buffers[i];
        tc_assert(!buffer->writing);
        if (buffer->state != STORE_BUFFER_SYNC) buffer->state = STORE_BUFFER_FREE;
        buffer->write_pending = false;
    }
    memset(&store->chain, 0, sizeof(store->chain));
    memset(store->rooms, 0, sizeof(struct store_room) * store->options.rooms_max);
    store->rooms_known = 0;
    store->op_applying = 0;
    struct store_buffer *open = buffer_free(store);
    tc_assert(open != NULL);
    buffer_open(store, open, 0);
    store->durable.segment = 0;
    store->durable.offset = 0;
    memset(&store->durable_chain, 0, sizeof(store->durable_chain));
}

static void store_sink_message(void *context, uint32_t room_index,
                               const struct tc_room_message *message);
static void store_sink_retention(void *context, uint32_t room_index,
                                 const struct tc_room_retention *retention, uint64_t timestamp_ns);

int tc_store_init(struct tc_store **out, const struct tc_store_options *options,
                  struct tc_arena *arena) {
    tc_assert(out != NULL);
    tc_assert(arena != NULL);
    *out = NULL;
    if (tc_store_options_invalid(options) != NULL) return TC_EINVAL;
    struct tc_store *store = tc_arena_alloc(arena, sizeof(*store), 64);
    if (store == NULL) return TC_ENOMEM;
    store->options = *options;
    store->buffer_count = buffer_count(options);
    store->seals_per_batch_max = seals_per_batch(options);
    store->buffers = tc_arena_alloc(arena, sizeof(struct store_buffer) * store->buffer_count, 64);
    store->rooms = tc_arena_alloc(arena, sizeof(struct store_room) * options->rooms_max, 64);
    if (store->buffers == NULL || store->rooms == NULL) {
        return TC_ENOMEM;
    }
    for (uint32_t i = 0; i < store->buffer_count; i++) {
        store->buffers[i].store = store;
        store->buffers[i].bytes = tc_arena_alloc(arena, options->segment_size_bytes, 4096);
        if (store->buffers[i].bytes == NULL) return TC_ENOMEM;
    }
    int rc = store_read_init(store, arena);
    if (rc != TC_OK) return rc;
    store->sink.context = store;
    store->sink.message = store_sink_message;
    store->sink.retention = store_sink_retention;
    store_reset(store);
    *out = store;
    return TC_OK;
}

const struct tc_room_sink *tc_store_sink(struct tc_store *store) {
    tc_assert(store != NULL);
    return &store->sink;
}

bool tc_store_ready(const struct tc_store *store) {
    return buffers_free_count(store) >= store->seals_per_batch_max;
}

struct tc_store_cursor tc_store_cursor(const struct tc_store *store) { return store->cursor; }
struct tc_store_cursor tc_store_cursor_durable(const struct tc_store *store) {
    return store->durable;
}
struct tc_checksum tc_store_chain(const struct tc_store *store) { return store->chain; }

// ---------------------------------------------------------------------------------------------
// Writes of sealed segments.

static void flush_progress(struct tc_store *store);

static void buffer_write_done(struct tc_io_storage_op *op, int result);

// Writes the buffer's sectors from the first one not known written up to its end.
static void buffer_write(struct tc_store *store, struct store_buffer *buffer) {
    tc_assert(buffer->state == STORE_BUFFER_SEALED);
    tc_assert(!buffer->writing);
    uint32_t start = (uint32_t)(buffer->written / TC_SECTOR_SIZE * TC_SECTOR_SIZE);
    uint32_t end = (uint32_t)tc_align_up(buffer->used, TC_SECTOR_SIZE);
    tc_assert(end <= store->options.segment_size_bytes);
    tc_assert(start < end);
    buffer->writing = true;
    buffer->write_pending = false;
    buffer->write_end = end;
    store_submit(store, &buffer->io, TC_IO_STORAGE_WRITE,
                 store_slot_offset(store, buffer->segment) + start, buffer->bytes + start,
                 end - start, buffer_write_done, buffer);
}

static void trickle_done(struct tc_io_storage_op *op, int result) {
    struct tc_store *store = op->context;
    tc_assert(store->trickle_busy);
    tc_assert(result == TC_OK); // a failed sync is fatal (fail-stop)
    store->trickle_busy = false;
}

static void buffer_write_done(struct tc_io_storage_op *op, int result) {
    struct store_buffer *buffer = op->context;
    struct tc_store *store = buffer->store;
    tc_assert(buffer->writing);
    tc_assert(result == TC_OK); // a failed write is fatal (fail-stop), as in the journal
    buffer->writing = false;
    if (buffer->state == STORE_BUFFER_SEALED) {
        buffer->written = buffer->used;
        buffer->state = STORE_BUFFER_FREE;
        if (!store->trickle_busy) {
            store->trickle_busy = true;
            store_submit(store, &store->trickle_io, TC_IO_STORAGE_SYNC,
                         store->options.zone_offset_bytes, NULL, 0, trickle_done, store);
        }
        store->options.ready_callback(store->options.context);
    }
    flush_progress(store);
}

// Ends the open segment with a seal record and opens the next one.
static void segment_seal(struct tc_store *store) {
    struct store_buffer *buffer = store->open;
    tc_assert(buffer->state == STORE_BUFFER_OPEN);
    tc_assert(buffer->used + TC_STORE_SEAL_SIZE <= store->options.segment_size_bytes);
    struct tc_checksum checksum;
    store_seal_encode(buffer->bytes + buffer->used, &store->chain, &checksum);
    buffer->used += TC_STORE_SEAL_SIZE;
    buffer->state = STORE_BUFFER_SEALED;
    if (buffer->writing) {
        buffer->write_pending = true; // a flush write of its prefix is in flight
    } else {
        buffer_write(store, buffer);
    }
    struct store_buffer *next = buffer_free(store);
    tc_assert(next != NULL); // tc_store_ready held before the op
    tc_assert(buffer->segment + 1 < store->options.segment_count); // the budget (S5) holds
    buffer_open(store, next, buffer->segment + 1);
}

// ---------------------------------------------------------------------------------------------
// Append (the room sink).

static struct store_room *room_state(struct tc_store *store, uint32_t room_index) {
    tc_assert(room_index < store->options.rooms_max);
    if (room_index >= store->rooms_known) store->rooms_known = room_index + 1;
    return &store->rooms[room_index];
}

// The floor a keep_days policy proves from the tower alone: the newest run whose first message is
// older than the cutoff starts at or below the true floor (timestamps increase along a room).
static uint64_t floor_days_conservative(const struct store_room *room, uint64_t now_ns) {
    uint64_t window_ns = room->retention_value * STORE_DAY_NS;
    if (now_ns <= window_ns) return 0;
    uint64_t cutoff_ns = now_ns - window_ns;
    uint64_t floor = 0;
    for (uint32_t l = 0; l < TC_STORE_TOWER_LEVELS; l++) {
        const struct store_pointer *pointer = &room->tower[l];
        if (pointer->seq_first == 0) continue;
        if (pointer->timestamp_first < cutoff_ns && pointer->seq_first > floor) {
            floor = pointer->seq_first;
        }
    }
    return floor;
}

// Raises the retention ratchet to what the current policy proves from state at `now_ns`.
static void room_ratchet(struct store_room *room, uint64_t now_ns) {
    uint64_t floor = 0;
    if (room->retention_mode == TC_ROOM_RETENTION_KEEP_MESSAGES) {
        if (room->seq_last >= room->retention_value) {
            floor = room->seq_last - room->retention_value + 1;
        }
    } else if (room->retention_mode == TC_ROOM_RETENTION_KEEP_DAYS) {
        floor = floor_days_conservative(room, now_ns);
    }
    tc_assert(floor <= room->seq_last + 1);
    if (floor > room->floor_seq) room->floor_seq = floor;
}

void tc_store_set_op(struct tc_store *store, uint64_t op) {
    tc_assert(op >= store->op_applying);
    store->op_applying = op;
}

static void record_fill(struct store_record *record, const struct tc_room_message *message,
                        uint32_t pointer_count, uint64_t op) {
    memset(record, 0, sizeof(*record));
    record->kind = STORE_RECORD_MESSAGE;
    record->pointer_count = (uint8_t)pointer_count;
    record->size = store_record_size(pointer_count, message->body_size);
    record->room = message->room;
    record->seq = message->seq;
    record->op = op;
    record->thread_parent_seq = message->thread_parent_seq;
    record->thread_seq = message->thread_seq;
    record->sender = message->sender;
    record->timestamp_ns = message->timestamp_ns;
    record->hash = message->hash;
    record->prev_hash = message->prev_hash;
    record->body_size = message->body_size;
}

// Pointers of a new run's first record, and the run's level.
static uint32_t run_start(const struct store_room *room, struct store_pointer *pointers) {
    uint32_t level = store_run_level(room->run_ordinal + 1);
    for (uint32_t l = 0; l <= level; l++) pointers[l] = room->tower[l];
    return level + 1;
}

static void store_sink_message(void *context, uint32_t room_index,
                               const struct tc_room_message *message) {
    struct tc_store *store = context;
    if (message->redacted) {
        // A redaction event: the room machine keeps the table, reads consult it (S8); nothing is
        // appended, so the store's bytes, chain and budget do not change.
        tc_assert(message->body == NULL && message->body_size == 0);
        tc_assert(room_index < store->rooms_known);
        tc_assert(message->seq >= 1 && message->seq <= store->rooms[room_index].seq_last);
        return;
    }
    struct store_room *room = room_state(store, room_index);
    tc_assert(message->seq == room->seq_last + 1);
    tc_assert(message->body_size >= 1 && message->body_size <= TC_ROOM_BODY_SIZE_MAX);
    struct store_pointer pointers[TC_STORE_TOWER_LEVELS];
    bool new_run = room->run_ordinal == 0 || room->run_segment != store->cursor.segment;
    uint32_t pointer_count = new_run ? run_start(room, pointers) : 0;
    uint32_t size = store_record_size(pointer_count, message->body_size);
    if (store->cursor.offset + size + TC_STORE_SEAL_SIZE > store->options.segment_size_bytes) {
        segment_seal(store);
        new_run = true;
        pointer_count = run_start(room, pointers);
        size = store_record_size(pointer_count, message->body_size);
    }
    struct store_buffer *buffer = store->open;
    tc_assert(buffer->used == store->cursor.offset);
    struct store_record record;
    record_fill(&record, message, pointer_count, store->op_applying);
    store_record_encode(buffer->bytes + buffer->used, &record, pointers, message->body);
    store_chain_step(&store->chain, &record.checksum);
    if (new_run) {
        room->run_ordinal += 1;
        room->run_segment = store->cursor.segment;
        struct store_pointer run = {.segment = store->cursor.segment,
                                    .offset = store->cursor.offset,
                                    .seq_first = message->seq,
                                    .timestamp_first = message->timestamp_ns};
        for (uint32_t l = 0; l < pointer_count; l++) room->tower[l] = run;
    }
    buffer->used += size;
    store->cursor.offset = buffer->used;
    room->seq_last = message->seq;
    room_ratchet(room, message->timestamp_ns);
}

static void store_sink_retention(void *context, uint32_t room_index,
                                 const struct tc_room_retention *retention, uint64_t timestamp_ns) {
    struct tc_store *store = context;
    struct store_room *room = room_state(store, room_index);
    tc_assert(retention->mode <= TC_ROOM_RETENTION_KEEP_MESSAGES);
    room_ratchet(room, timestamp_ns); // what the old policy proves now is never given back
    room->retention_mode = retention->mode;
    room->retention_value = retention->value;
    room_ratchet(room, timestamp_ns);
}

uint64_t tc_store_floor_ratchet(const struct tc_store *store, uint32_t room_index) {
    tc_assert(room_index < store->options.rooms_max);
    if (room_index >= store->rooms_known) return 1;
    uint64_t floor = store->rooms[room_index].floor_seq;
    return floor == 0 ? 1 : floor;
}

uint64_t store_room_floor_state(const struct tc_store *store, uint32_t room_index,
                                uint64_t seq_last) {
    uint64_t floor = tc_store_floor_ratchet(store, room_index);
    if (room_index >= store->rooms_known) return floor;
    const struct store_room *room = &store->rooms[room_index];
    if (room->retention_mode == TC_ROOM_RETENTION_KEEP_MESSAGES &&
        seq_last >= room->retention_value) {
        floor = tc_max_u64(floor, seq_last - room->retention_value + 1);
    }
    return floor;
}

// ---------------------------------------------------------------------------------------------
// Flush: everything up to the cursor at the request becomes durable (S2).

static void flush_done(struct tc_store *store, int result) {
    tc_assert(store->flush_stage != FLUSH_IDLE);
    tc_store_done_cb callback = store->flush_callback;
    store->flush_stage = FLUSH_IDLE;
    store->flush_callback = NULL;
    if (result == TC_OK) {
        store->durable = store->flush_target;
        store->durable_chain = store->flush_chain;
    }
    callback(store->options.context, result);
}

static void flush_sync_done(struct tc_io_storage_op *op, int result) {
    struct tc_store *store = op->context;
    tc_assert(store->flush_stage == FLUSH_SYNCING);
    flush_done(store, result);
}

static void flush_tail_done(struct tc_io_storage_op *op, int result) {
    struct store_buffer *buffer = op->context;
    struct tc_store *store = buffer->store;
    tc_assert(buffer->writing);
    tc_assert(result == TC_OK); // a failed write is fatal (fail-stop), as in the journal
    buffer->writing = false;
    // The target segment's whole sectors are on storage.
    if (buffer->written < buffer->write_end) buffer->written = buffer->write_end;
    if (buffer->write_pending) buffer_write(store, buffer);
    flush_progress(store);
}

// Writes the open segment's whole sectors [written, sector_floor(target)). The partial last
// sector is not written in place: its bytes travel in the encoded state (the checkpoint), so a
// sector holding durable bytes is never rewritten (S7).
static void flush_tail_write(struct tc_store *store, struct store_buffer *buffer, uint32_t end) {
    uint32_t start = buffer->written;
    tc_assert(start % TC_SECTOR_SIZE == 0 && end % TC_SECTOR_SIZE == 0);
    tc_assert(start < end);
    buffer->writing = true;
    buffer->write_end = end;
    store_submit(store, &buffer->io, TC_IO_STORAGE_WRITE,
                 store_slot_offset(store, buffer->segment) + start, buffer->bytes + start,
                 end - start, flush_tail_done, buffer);
}

static uint32_t sector_floor(uint32_t offset) { return offset / TC_SECTOR_SIZE * TC_SECTOR_SIZE; }

// Whether every segment up to the target is on storage (the target's whole sectors); issues the
// write when only the target's open prefix is missing.
static bool flush_written(struct tc_store *store) {
    const struct tc_store_cursor *target = &store->flush_target;
    uint32_t end = sector_floor(target->offset);
    for (uint32_t i = 0; i < store->buffer_count; i++) {
        struct store_buffer *buffer = &store->buffers[i];
        bool holds = buffer->state == STORE_BUFFER_OPEN || buffer->state == STORE_BUFFER_SEALED;
        if (!holds || buffer->segment > target->segment) continue;
        if (buffer->segment < target->segment) return false; // its seal write has not landed
        if (buffer->written >= end) continue;
        if (buffer->writing || buffer->state == STORE_BUFFER_SEALED) return false;
        flush_tail_write(store, buffer, end);
        return false;
    }
    return true;
}

static void flush_progress(struct tc_store *store) {
    if (store->flush_stage != FLUSH_WAITING) return;
    if (!flush_written(store)) return;
    store->flush_stage = FLUSH_SYNCING;
    store_submit(store, &store->flush_sync_io, TC_IO_STORAGE_SYNC,
                 store->options.zone_offset_bytes, NULL, 0, flush_sync_done, store);
}

void tc_store_flush(struct tc_store *store, tc_store_done_cb callback) {
    tc_assert(store->flush_stage == FLUSH_IDLE);
    tc_assert(callback != NULL);
    store->flush_stage = FLUSH_WAITING;
    store->flush_callback = callback;
    store->flush_target = store->cursor;
    store->flush_chain = store->chain;
    flush_progress(store);
}

bool tc_store_flush_busy(const struct tc_store *store) { return store->flush_stage != FLUSH_IDLE; }

// ---------------------------------------------------------------------------------------------
// State encoding (a section of the checkpoint).

uint64_t tc_store_state_size_max(const struct tc_store_options *options) {
    return STORE_STATE_HEADER_SIZE + (uint64_t)options->rooms_max * STORE_STATE_ROOM_SIZE +
           TC_SECTOR_SIZE;
}

// The open segment's bytes past its last whole sector: [sector_floor(offset), offset).
static uint32_t tail_size(uint32_t offset) { return offset - sector_floor(offset); }

static void pointer_put(uint8_t *p, const struct store_pointer *pointer) {
    tc_le_put_u64(p + 0, pointer->segment);
    tc_le_put_u32(p + 8, pointer->offset);
    tc_le_put_u32(p + 12, 0);
    tc_le_put_u64(p + 16, pointer->seq_first);
    tc_le_put_u64(p + 24, pointer->timestamp_first);
}

static void room_encode(uint8_t *p, const struct store_room *room) {
    tc_le_put_u64(p + 0, room->run_segment);
    tc_le_put_u64(p + 8, room->run_ordinal);
    tc_le_put_u64(p + 16, room->seq_last);
    tc_le_put_u64(p + 24, room->floor_seq);
    tc_le_put_u32(p + 32, room->retention_mode);
    tc_le_put_u32(p + 36, 0);
    tc_le_put_u64(p + 40, room->retention_value);
    for (uint32_t l = 0; l < TC_STORE_TOWER_LEVELS; l++) {
        pointer_put(p + 48 + l * TC_STORE_POINTER_SIZE, &room->tower[l]);
    }
}

uint64_t tc_store_state_encode(const struct tc_store *store, uint8_t *buffer, uint64_t size_max) {
    uint32_t tail = tail_size(store->cursor.offset);
    uint64_t rooms_end =
        STORE_STATE_HEADER_SIZE + (uint64_t)store->rooms_known * STORE_STATE_ROOM_SIZE;
    uint64_t size = rooms_end + tail;
    tc_assert(size <= size_max);
    tc_assert(size <= tc_store_state_size_max(&store->options));
    memset(buffer, 0, STORE_STATE_HEADER_SIZE);
    tc_le_put_u32(buffer + 0, STORE_STATE_MAGIC);
    tc_le_put_u32(buffer + 4, STORE_STATE_VERSION);
    tc_le_put_u64(buffer + 8, store->cursor.segment);
    tc_le_put_u32(buffer + 16, store->cursor.offset);
    tc_le_put_u32(buffer + 20, store->rooms_known);
    memcpy(buffer + 24, store->chain.bytes, sizeof(store->chain.bytes));
    for (uint32_t i = 0; i < store->rooms_known; i++) {
        room_encode(buffer + STORE_STATE_HEADER_SIZE + (uint64_t)i * STORE_STATE_ROOM_SIZE,
                    &store->rooms[i]);
    }
    // The tail: the open segment's bytes that no whole-sector write covers (S7).
    memcpy(buffer + rooms_end, store->open->bytes + sector_floor(store->cursor.offset), tail);
    return size;
}

int tc_store_state_tail(const uint8_t *buffer, uint64_t size, const uint8_t **tail,
                        uint32_t *tail_bytes) {
    uint64_t segment = 0;
    uint32_t offset = 0;
    struct tc_checksum chain;
    if (tc_store_state_peek(buffer, size, &segment, &offset, &chain) != TC_OK) return TC_ECORRUPT;
    uint32_t bytes = tail_size(offset);
    if (size < STORE_STATE_HEADER_SIZE + bytes) return TC_ECORRUPT;
    *tail = buffer + size - bytes;
    *tail_bytes = bytes;
    return TC_OK;
}

int tc_store_state_peek(const uint8_t *buffer, uint64_t size, uint64_t *segment, uint32_t *offset,
                        struct tc_checksum *chain) {
    if (size < STORE_STATE_HEADER_SIZE) return TC_ECORRUPT;
    if (tc_le_get_u32(buffer + 0) != STORE_STATE_MAGIC) return TC_ECORRUPT;
    if (tc_le_get_u32(buffer + 4) != STORE_STATE_VERSION) return TC_ECORRUPT;
    *segment = tc_le_get_u64(buffer + 8);
    *offset = tc_le_get_u32(buffer + 16);
    memcpy(chain->bytes, buffer + 24, sizeof(chain->bytes));
    return TC_OK;
}

static void pointer_get(const uint8_t *p, struct store_pointer *pointer) {
    pointer->segment = tc_le_get_u64(p + 0);
    pointer->offset = tc_le_get_u32(p + 8);
    pointer->seq_first = tc_le_get_u64(p + 16);
    pointer->timestamp_first = tc_le_get_u64(p + 24);
}

// A pointer names a run's first record inside the segments written so far (or none).
static bool pointer_valid(const struct tc_store *store, const uint8_t *p,
                          const struct store_room *room) {
    struct store_pointer pointer;
    pointer_get(p, &pointer);
    if (tc_le_get_u32(p + 12) != 0) return false;
    if (pointer.seq_first == 0) {
        return pointer.segment == 0 && pointer.offset == 0 && pointer.timestamp_first == 0;
    }
    if (pointer.seq_first > room->seq_last) return false;
    if (pointer.segment > store->cursor.segment) return false;
    if (pointer.offset < TC_STORE_SEGMENT_HEADER_SIZE) return false;
    if (pointer.offset >= store->options.segment_size_bytes) return false;
    return pointer.segment < store->cursor.segment || pointer.offset < store->cursor.offset;
}

static int room_decode(struct tc_store *store, const uint8_t *p, struct store_room *room) {
    memset(room, 0, sizeof(*room));
    room->run_segment = tc_le_get_u64(p + 0);
    room->run_ordinal = tc_le_get_u64(p + 8);
    room->seq_last = tc_le_get_u64(p + 16);
    room->floor_seq = tc_le_get_u64(p + 24);
    uint32_t mode = tc_le_get_u32(p + 32);
    room->retention_value = tc_le_get_u64(p + 40);
    if (mode > TC_ROOM_RETENTION_KEEP_MESSAGES || tc_le_get_u32(p + 36) != 0) return TC_ECORRUPT;
    room->retention_mode = (uint8_t)mode;
    if (room->floor_seq > room->seq_last + 1 || room->seq_last == UINT64_MAX) return TC_ECORRUPT;
    if ((room->run_ordinal == 0) != (room->seq_last == 0)) return TC_ECORRUPT;
    if (room->run_ordinal > room->seq_last) return TC_ECORRUPT;
    if (room->run_segment > store->cursor.segment) return TC_ECORRUPT;
    for (uint32_t l = 0; l < TC_STORE_TOWER_LEVELS; l++) {
        const uint8_t *q = p + 48 + l * TC_STORE_POINTER_SIZE;
        if (!pointer_valid(store, q, room)) return TC_ECORRUPT;
        pointer_get(q, &room->tower[l]);
    }
    bool has_run = room->run_ordinal > 0;
    if (has_run != (room->tower[0].seq_first != 0)) return TC_ECORRUPT;
    if (has_run && room->tower[0].segment != room->run_segment) return TC_ECORRUPT;
    return TC_OK;
}

// The header's fields and the size agree with this store's geometry.
static bool state_shape_valid(const struct tc_store *store, const uint8_t *buffer, uint64_t size) {
    uint64_t segment = 0;
    uint32_t offset = 0;
    struct tc_checksum chain;
    if (tc_store_state_peek(buffer, size, &segment, &offset, &chain) != TC_OK) return false;
    uint32_t rooms = tc_le_get_u32(buffer + 20);
    bool shape = segment < store->options.segment_count &&
                 offset >= TC_STORE_SEGMENT_HEADER_SIZE && offset % 8u == 0 &&
                 offset + TC_STORE_SEAL_SIZE <= store->options.segment_size_bytes &&
                 rooms <= store->options.rooms_max &&
                 size == STORE_STATE_HEADER_SIZE + (uint64_t)rooms * STORE_STATE_ROOM_SIZE +
                             tail_size(offset);
    for (uint32_t i = 40; shape && i < STORE_STATE_HEADER_SIZE; i++) shape = buffer[i] == 0;
    return shape;
}

int tc_store_state_decode(struct tc_store *store, const uint8_t *buffer, uint64_t size) {
    tc_assert(store->flush_stage == FLUSH_IDLE);
    store_reset(store);
    uint64_t segment = 0;
    uint32_t offset = 0;
    struct tc_checksum chain;
    if (tc_store_state_peek(buffer, size, &segment, &offset, &chain) != TC_OK) return TC_ECORRUPT;
    uint32_t rooms = tc_le_get_u32(buffer + 20);
    if (!state_shape_valid(store, buffer, size)) return TC_ECORRUPT;
    store->cursor.segment = segment;
    store->cursor.offset = offset;
    for (uint32_t i = 0; i < rooms; i++) {
        const uint8_t *p = buffer + STORE_STATE_HEADER_SIZE + (uint64_t)i * STORE_STATE_ROOM_SIZE;
        if (room_decode(store, p, &store->rooms[i]) != TC_OK) {
            store_reset(store);
            return TC_ECORRUPT;
        }
    }
    store->rooms_known = rooms;
    store->chain = chain;
    // The open segment: its tail comes with the state; tc_store_recover reads the whole sectors
    // before it (or tc_store_recover_from copies them).
    struct store_buffer *open = store->open;
    memset(open->bytes, 0, store->options.segment_size_bytes);
    memcpy(open->bytes + sector_floor(offset), buffer + size - tail_size(offset),
           tail_size(offset));
    open->segment = segment;
    open->used = offset;
    open->written = sector_floor(offset);
    store->durable = store->cursor;
    store->durable_chain = chain;
    return TC_OK;
}

int tc_store_state_validate(const struct tc_store *store, const uint8_t *buffer, uint64_t size) {
    if (!state_shape_valid(store, buffer, size)) return TC_ECORRUPT;
    uint32_t rooms = tc_le_get_u32(buffer + 20);
    struct tc_store scratch = *store; // room_decode only reads the cursor and the geometry
    scratch.cursor.segment = tc_le_get_u64(buffer + 8);
    scratch.cursor.offset = tc_le_get_u32(buffer + 16);
    for (uint32_t i = 0; i < rooms; i++) {
        struct store_room room;
        const uint8_t *p = buffer + STORE_STATE_HEADER_SIZE + (uint64_t)i * STORE_STATE_ROOM_SIZE;
        if (room_decode(&scratch, p, &room) != TC_OK) return TC_ECORRUPT;
    }
    return TC_OK;
}

// ---------------------------------------------------------------------------------------------
// Verification of segment bytes (recovery and state sync).

int tc_store_segment_verify(const struct tc_store *store, uint64_t segment, const uint8_t *bytes,
                            uint32_t size, struct tc_checksum *chain_out, uint32_t *used,
                            bool *sealed) {
    tc_assert(size <= store->options.segment_size_bytes);
    *sealed = false;
    *used = 0;
    if (size < TC_STORE_SEGMENT_HEADER_SIZE) return TC_ECORRUPT;
    struct tc_checksum chain;
    if (store_segment_header_decode(bytes, store->options.cluster, store->options.group, segment,
                                    &chain) != TC_OK) {
        return TC_ECORRUPT;
    }
    if (!tc_checksum_equal(&chain, chain_out)) return TC_ECORRUPT; // chain_out holds chain_in
    uint32_t offset = TC_STORE_SEGMENT_HEADER_SIZE;
    for (uint32_t guard = 0; guard < store->options.segment_size_bytes / 8u; guard++) {
        if (offset == size) {
            *chain_out = chain;
            *used = size;
            return TC_OK;
        }
        struct store_record record;
        if (store_record_decode(bytes + offset, size - offset, &record) != TC_OK) {
            return TC_ECORRUPT;
        }
        offset += record.size;
        if (record.kind == STORE_RECORD_SEAL) {
            struct tc_checksum sealed_chain;
            store_seal_chain(&record, &sealed_chain);
            if (!tc_checksum_equal(&sealed_chain, &chain)) return TC_ECORRUPT;
            *sealed = true;
            *used = offset;
            *chain_out = chain;
            return TC_OK;
        }
        store_chain_step(&chain, &record.checksum);
    }
    return TC_ECORRUPT;
}

// ---------------------------------------------------------------------------------------------
// Recovery: load the open segment's durable prefix and check it against the state's chain.

static void recover_done(struct tc_store *store, int result) {
    tc_store_done_cb callback = store->recover_callback;
    store->recover_callback = NULL;
    callback(store->options.context, result);
}

// The open segment's prefix [0, cursor) (whole sectors read or copied, the tail from the state)
// is a valid segment prefix whose records lead to the state's chain.
static int recover_verify(const struct tc_store *store, const uint8_t *bytes) {
    uint32_t used = store->cursor.offset;
    struct tc_checksum chain;
    if (store_segment_header_decode(bytes, store->options.cluster, store->options.group,
                                    store->cursor.segment, &chain) != TC_OK) {
        return TC_ECORRUPT;
    }
    bool sealed = false;
    uint32_t verified = 0;
    int rc = tc_store_segment_verify(store, store->cursor.segment, bytes, used, &chain,
                                     &verified, &sealed);
    if (rc == TC_OK && (sealed || !tc_checksum_equal(&chain, &store->chain))) rc = TC_ECORRUPT;
    return rc;
}

static void recover_read_done(struct tc_io_storage_op *op, int result) {
    struct tc_store *store = op->context;
    if (result != TC_OK) {
        recover_done(store, result);
        return;
    }
    recover_done(store, recover_verify(store, store->open->bytes));
}

int tc_store_segment_chain_in(const struct tc_store *store, uint64_t segment, const uint8_t *bytes,
                              struct tc_checksum *chain) {
    return store_segment_header_decode(bytes, store->options.cluster, store->options.group,
                                       segment, chain);
}

int tc_store_recover_from(struct tc_store *store, const uint8_t *bytes) {
    struct store_buffer *buffer = store->open;
    tc_assert(buffer->state == STORE_BUFFER_OPEN);
    tc_assert(bytes != buffer->bytes);
    memcpy(buffer->bytes, bytes, sector_floor(store->cursor.offset)); // the tail is there already
    return recover_verify(store, buffer->bytes);
}

bool tc_store_idle(const struct tc_store *store) {
    if (store->flush_stage != FLUSH_IDLE || store->sync_callback != NULL) return false;
    if (store->trickle_busy) return false;
    for (uint32_t i = 0; i < store->buffer_count; i++) {
        const struct store_buffer *buffer = &store->buffers[i];
        if (buffer->writing || buffer->state == STORE_BUFFER_SEALED) return false;
    }
    return true;
}

void tc_store_recover(struct tc_store *store, tc_store_done_cb callback) {
    tc_assert(store->recover_callback == NULL);
    tc_assert(callback != NULL);
    store->recover_callback = callback;
    struct store_buffer *buffer = store->open;
    tc_assert(buffer->state == STORE_BUFFER_OPEN);
    uint32_t size = sector_floor(store->cursor.offset);
    if (size == 0) {
        // The state's tail holds the whole open prefix: nothing to read.
        recover_done(store, recover_verify(store, buffer->bytes));
        return;
    }
    store_submit(store, &store->recover_io, TC_IO_STORAGE_READ,
                 store_slot_offset(store, buffer->segment), buffer->bytes, size,
                 recover_read_done, store);
}

// ---------------------------------------------------------------------------------------------
// State sync support: serve durable bytes, lend buffers, write fetched segments.

// One sync-support I/O at a time (a serve read, a fetched segment's write, or the sync).
static void sync_io_done(struct tc_io_storage_op *op, int result) {
    struct tc_store *store = op->context;
    tc_assert(store->sync_callback != NULL);
    tc_store_done_cb callback = store->sync_callback;
    store->sync_callback = NULL;
    callback(store->sync_context, result);
}

static void sync_io_start(struct tc_store *store, tc_store_done_cb callback, void *context) {
    tc_assert(store->sync_callback == NULL);
    tc_assert(callback != NULL);
    store->sync_callback = callback;
    store->sync_context = context;
}

bool tc_store_sync_io_busy(const struct tc_store *store) { return store->sync_callback != NULL; }

int tc_store_serve(struct tc_store *store, uint64_t segment, uint32_t offset, uint32_t size,
                   uint8_t *buffer, tc_store_done_cb callback, void *callback_context) {
    tc_assert(size > 0 && size % TC_SECTOR_SIZE == 0 && offset % TC_SECTOR_SIZE == 0);
    tc_assert(offset + size <= store->options.segment_size_bytes);
    // Only whole sectors below the durable cursor are on storage (the tail is in the checkpoint).
    bool durable = segment < store->durable.segment ||
                   (segment == store->durable.segment &&
                    offset + size <= sector_floor(store->durable.offset));
    if (!durable) return TC_ERANGE;
    if (store->sync_callback != NULL) return TC_EBUSY;
    sync_io_start(store, callback, callback_context);
    store_submit(store, &store->sync_io, TC_IO_STORAGE_READ,
                 store_slot_offset(store, segment) + offset, buffer, size, sync_io_done, store);
    return TC_OK;
}

uint8_t *tc_store_sync_buffer(struct tc_store *store) {
    struct store_buffer *buffer = buffer_free(store);
    if (buffer == NULL) return NULL;
    buffer->state = STORE_BUFFER_SYNC;
    return buffer->bytes;
}

void tc_store_sync_buffer_release(struct tc_store *store, uint8_t *bytes) {
    for (uint32_t i = 0; i < store->buffer_count; i++) {
        struct store_buffer *buffer = &store->buffers[i];
        if (buffer->bytes != bytes) continue;
        tc_assert(buffer->state == STORE_BUFFER_SYNC);
        tc_assert(!buffer->writing);
        buffer->state = STORE_BUFFER_FREE;
        store->options.ready_callback(store->options.context);
        return;
    }
    tc_unreachable();
}

uint32_t tc_store_sync_write_start(const struct tc_store *store, uint64_t segment) {
    tc_assert(segment >= store->durable.segment);
    // Our own durable whole sectors of this segment are identical (S1) and already durable:
    // rewriting them would put durable bytes at the mercy of a torn write (S7).
    return segment == store->durable.segment ? sector_floor(store->durable.offset) : 0;
}

void tc_store_sync_write(struct tc_store *store, uint64_t segment, const uint8_t *bytes,
                         uint32_t start, uint32_t end, tc_store_done_cb callback,
                         void *callback_context) {
    tc_assert(segment < store->options.segment_count); // no reclamation yet: slots never reused
    tc_assert(start == tc_store_sync_write_start(store, segment));
    tc_assert(start < end && end <= store->options.segment_size_bytes);
    tc_assert(start % TC_SECTOR_SIZE == 0 && end % TC_SECTOR_SIZE == 0);
    tc_assert(store_buffer_of(store, segment) == NULL || store->open->segment == segment);
    sync_io_start(store, callback, callback_context);
    store_submit(store, &store->sync_io, TC_IO_STORAGE_WRITE,
                 store_slot_offset(store, segment) + start, (uint8_t *)(uintptr_t)bytes + start,
                 end - start, sync_io_done, store);
}

struct tc_checksum tc_store_chain_durable(const struct tc_store *store) {
    return store->durable_chain;
}

void tc_store_sync_storage(struct tc_store *store, tc_store_done_cb callback,
                           void *callback_context) {
    sync_io_start(store, callback, callback_context);
    store_submit(store, &store->sync_io, TC_IO_STORAGE_SYNC, store->options.zone_offset_bytes, NULL, 0, sync_io_done, store);
}
