// History reads (docs/store.md §3, §6): a seek down the room's skip list of runs to the run that
// holds the wanted seq (or the retention boundary by time), then one scan of that run.
//
//   start ─► [keep_days: SEEK by time ─► SCAN for the first seq at or after the cutoff] ─► floor
//         ─► from_seq below the floor: TRUNCATED; beyond the head: EMPTY
//         ─► SEEK by seq ─► SCAN the run: consecutive, checksummed, hash-linked messages ─► page
//
// A seek hop reads one record (the first record of a run, which carries its tower pointers); a
// scan reads the rest of one segment. Segments still in a write buffer are read from memory.

#include <stddef.h>
#include <string.h>

#include "store_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

#define STORE_DAY_NS (86400ull * 1000000000ull)
// Hops of one seek: at most 3 per level on average, bounded generously (asserted progress).
#define STORE_SEEK_HOPS_MAX 4096u

enum read_phase { READ_SEEK_TIME = 1, READ_SCAN_TIME, READ_SEEK_SEQ, READ_SCAN_SEQ };

struct store_read {
    bool busy;
    struct tc_store *store;
    tc_store_read_cb callback;
    void *context;
    uint32_t room_index;
    uint32_t limit;
    uint64_t cutoff_ns; // keep_days: the oldest timestamp kept
    uint8_t phase;
    int32_t level;
    uint32_t hops;
    // The node the seek stands on: its pointers (the room's tower at the start).
    struct store_pointer node[TC_STORE_TOWER_LEVELS];
    uint32_t node_levels;
    struct store_pointer target; // the run a hop or the scan reads
    uint8_t *buffer;             // segment_size bytes
    uint32_t buffer_base;        // segment offset of buffer[0] for disk reads
    struct tc_io_storage_op io;
    struct tc_store_page page;
};

uint64_t store_read_memory_size(const struct tc_store_options *options) {
    uint64_t one = sizeof(struct store_read) + 64 + options->segment_size_bytes + 4096;
    return one * options->reads_max;
}

int store_read_init(struct tc_store *store, struct tc_arena *arena) {
    uint32_t count = store->options.reads_max;
    store->reads = tc_arena_alloc(arena, sizeof(struct store_read) * count, 64);
    if (store->reads == NULL) return TC_ENOMEM;
    for (uint32_t i = 0; i < count; i++) {
        store->reads[i].store = store;
        store->reads[i].buffer = tc_arena_alloc(arena, store->options.segment_size_bytes, 4096);
        if (store->reads[i].buffer == NULL) return TC_ENOMEM;
    }
    return TC_OK;
}

uint32_t tc_store_reads_busy(const struct tc_store *store) {
    uint32_t busy = 0;
    for (uint32_t i = 0; i < store->options.reads_max; i++) busy += store->reads[i].busy ? 1u : 0u;
    return busy;
}

// S8 (docs/store.md §6): a redacted message leaves without its body, with the body's hash in its
// place. Checked against the room machine's table now, at delivery, so that a read in flight while
// a redaction was applied hides it too. The body was verified (record checksum, chain step) by
// page_add before it is hashed here.
static void page_redact(const struct tc_store *store, struct tc_store_page *page) {
    tc_assert(page->count <= TC_STORE_PAGE_MAX);
    if (tc_room_redaction_count(store->options.room) == 0) return;
    for (uint32_t i = 0; i < page->count; i++) {
        struct tc_room_message *message = &page->messages[i];
        tc_assert(!message->redacted && message->body_size >= 1);
        if (!tc_room_redacted(store->options.room, message->room, message->seq)) continue;
        tc_hash256_compute(&message->body_hash, message->body, message->body_size);
        message->body = NULL;
        message->body_size = 0;
        message->redacted = true;
    }
}

static void read_finish(struct store_read *read, int result, uint8_t kind) {
    tc_assert(read->busy);
    read->page.result = result;
    read->page.kind = result == TC_OK ? kind : 0;
    if (result != TC_OK) read->page.count = 0;
    if (result == TC_OK && kind == TC_STORE_PAGE_MESSAGES) page_redact(read->store, &read->page);
    // The slot stays busy during the callback: a read started from it takes another slot (or
    // TC_EBUSY) and never overwrites the page being delivered, nor recurses into this one.
    read->callback(read->context, &read->page);
    read->busy = false;
}

// ---------------------------------------------------------------------------------------------
// Where a segment's bytes are: a write buffer (memory) or storage.

static void read_step(struct store_read *read);

static void read_io_done(struct tc_io_storage_op *op, int result) {
    struct store_read *read = op->context;
    tc_assert(read->busy);
    if (result != TC_OK) {
        read_finish(read, result, 0);
        return;
    }
    read_step(read);
}

// Bytes of `segment` from `offset`: from memory (returns the pointer and the bytes available) or,
// if it is only on storage, starts a read of up to `size` bytes and returns NULL.
static const uint8_t *segment_bytes(struct store_read *read, uint64_t segment, uint32_t offset,
                                    uint32_t size, uint32_t *available, bool *pending) {
    struct tc_store *store = read->store;
    struct store_buffer *buffer = store_buffer_of(store, segment);
    *pending = false;
    if (buffer != NULL) {
        if (offset >= buffer->used) return NULL;
        *available = buffer->used - offset;
        return buffer->bytes + offset;
    }
    if (read->buffer_base != UINT32_MAX) {
        // The read we started has landed: the bytes are in our buffer.
        uint32_t base = read->buffer_base;
        read->buffer_base = UINT32_MAX;
        tc_assert(offset >= base);
        *available = store->options.segment_size_bytes - offset;
        if (*available > size) *available = size;
        return read->buffer + (offset - base);
    }
    uint32_t start = offset / TC_SECTOR_SIZE * TC_SECTOR_SIZE;
    uint32_t end = (uint32_t)tc_align_up((uint64_t)offset + size, TC_SECTOR_SIZE);
    if (end > store->options.segment_size_bytes) end = store->options.segment_size_bytes;
    read->buffer_base = start;
    *pending = true;
    store_submit(store, &read->io, TC_IO_STORAGE_READ, store_slot_offset(store, segment) + start,
                 read->buffer, end - start, read_io_done, read);
    return NULL;
}

// ---------------------------------------------------------------------------------------------
// Seek.

static bool pointer_beyond(const struct store_read *read, const struct store_pointer *pointer) {
    tc_assert(pointer->seq_first != 0);
    if (read->phase == READ_SEEK_TIME) return pointer->timestamp_first >= read->cutoff_ns;
    return pointer->seq_first > read->page.from_seq;
}

// Takes the hop to read->target: its record must be the first of a run of this room at the seq
// the pointer names, with pointers for every level up to the one we follow.
static int seek_arrive(struct store_read *read, const uint8_t *bytes, uint32_t available) {
    struct store_record record;
    if (store_record_decode(bytes, available, &record) != TC_OK) return TC_ECORRUPT;
    if (record.kind != STORE_RECORD_MESSAGE || record.room != read->page.room ||
        record.seq != read->target.seq_first ||
        record.timestamp_ns != read->target.timestamp_first ||
        (int32_t)record.pointer_count <= read->level) {
        return TC_ECORRUPT;
    }
    read->node_levels = record.pointer_count;
    const struct tc_store *store = read->store;
    for (uint32_t l = 0; l < record.pointer_count; l++) {
        const struct store_pointer *pointer = &read->node[l];
        store_record_pointer(&record, l, &read->node[l]);
        if (pointer->seq_first >= record.seq) return TC_ECORRUPT; // pointers go back
        if (pointer->seq_first == 0) continue;
        // A pointer names a record inside a segment written before this one.
        if (pointer->offset < TC_STORE_SEGMENT_HEADER_SIZE ||
            pointer->offset >= store->options.segment_size_bytes - TC_STORE_RECORD_HEADER_SIZE ||
            pointer->segment > read->target.segment) {
            return TC_ECORRUPT;
        }
    }
    return TC_OK;
}

// Descends from the current node. Returns true when the run is found (read->target), false when
// a hop's record must be read first (then read->target is the hop).
static bool seek_descend(struct store_read *read, bool *found) {
    *found = false;
    for (uint32_t guard = 0; guard <= TC_STORE_TOWER_LEVELS; guard++) {
        if (read->level < 0) return true;
        const struct store_pointer *pointer = &read->node[read->level];
        bool present = (uint32_t)read->level < read->node_levels && pointer->seq_first != 0;
        if (present && pointer_beyond(read, pointer)) {
            read->target = *pointer; // hop to this older run at the same level
            return false;
        }
        if (read->level == 0) {
            *found = present;
            if (present) read->target = *pointer;
            read->level = -1;
            return true;
        }
        read->level -= 1;
    }
    tc_unreachable();
    return true;
}

static void seek_start(struct store_read *read, uint8_t phase) {
    const struct store_room *room = &read->store->rooms[read->room_index];
    read->phase = phase;
    read->level = (int32_t)TC_STORE_TOWER_LEVELS - 1;
    read->hops = 0;
    read->node_levels = TC_STORE_TOWER_LEVELS;
    memcpy(read->node, room->tower, sizeof(read->node));
}

// ---------------------------------------------------------------------------------------------
// Scan of one run.

// Appends a verified message to the page: consecutive seq, linked to the previous one.
static int page_add(struct store_read *read, const struct store_record *record) {
    struct tc_store_page *page = &read->page;
    uint64_t expected = page->count == 0 ? page->from_seq : page->messages[page->count - 1].seq + 1;
    if (record->seq != expected) return TC_ECORRUPT; // a gap or a duplicate: never silent
    if (page->count > 0 &&
        !tc_hash256_equal(&record->prev_hash, &page->messages[page->count - 1].hash)) {
        return TC_ECORRUPT;
    }
    struct tc_hash256 hash;
    tc_room_chain_hash(&hash, &record->prev_hash, record->room, record->seq, record->sender,
                       record->timestamp_ns, record->body, record->body_size);
    if (!tc_hash256_equal(&hash, &record->hash)) return TC_ECORRUPT;
    struct tc_room_message *message = &page->messages[page->count];
    message->room = record->room;
    message->seq = record->seq;
    message->thread_parent_seq = record->thread_parent_seq;
    message->thread_seq = record->thread_seq;
    message->sender = record->sender;
    message->timestamp_ns = record->timestamp_ns;
    message->hash = record->hash;
    message->prev_hash = record->prev_hash;
    message->body = record->body;
    message->body_size = record->body_size;
    message->redacted = false;
    memset(&message->body_hash, 0, sizeof(message->body_hash));
    page->count += 1;
    return TC_OK;
}

// Scans the run's records. Time scan: sets page->floor_seq to the first seq at or after the cutoff.
static int scan_run(struct store_read *read, const uint8_t *bytes, uint32_t available) {
    struct tc_store_page *page = &read->page;
    bool time = read->phase == READ_SCAN_TIME;
    uint64_t seq_seen = 0;
    uint32_t offset = 0;
    for (uint32_t guard = 0; guard < read->store->options.segment_size_bytes / 8u; guard++) {
        if (offset >= available) break;
        struct store_record record;
        if (store_record_decode(bytes + offset, available - offset, &record) != TC_OK) {
            return TC_ECORRUPT;
        }
        offset += record.size;
        if (record.kind == STORE_RECORD_SEAL) break;
        if (record.room != page->room) continue;
        if (seq_seen != 0 && record.seq != seq_seen + 1) return TC_ECORRUPT;
        if (seq_seen == 0 && record.seq != read->target.seq_first) return TC_ECORRUPT;
        seq_seen = record.seq;
        if (time) {
            if (record.timestamp_ns >= read->cutoff_ns) return TC_OK;
            if (record.seq + 1 > page->floor_seq) page->floor_seq = record.seq + 1;
            continue;
        }
        if (record.seq < page->from_seq) continue;
        int rc = page_add(read, &record);
        if (rc != TC_OK) return rc;
        if (page->count == read->limit || record.seq == page->seq_last) break;
    }
    if (!time && page->count == 0) return TC_ECORRUPT; // the run must hold from_seq
    return TC_OK;
}

// ---------------------------------------------------------------------------------------------
// The state machine.

// After the floor is known: a final answer (returns false), or the seek by seq (returns true).
static bool read_decide(struct store_read *read) {
    struct tc_store_page *page = &read->page;
    if (page->from_seq < page->floor_seq) {
        read_finish(read, TC_OK, TC_STORE_PAGE_TRUNCATED);
        return false;
    }
    if (page->from_seq > page->seq_last) {
        read_finish(read, TC_OK, TC_STORE_PAGE_EMPTY);
        return false;
    }
    seek_start(read, READ_SEEK_SEQ);
    return true;
}

static uint32_t scan_size(const struct store_read *read) {
    return read->store->options.segment_size_bytes - read->target.offset;
}

// One seek step: arrive at the hop's record (if any), then descend. Returns TC_OK (another hop,
// or the run was found and the phase moved to its scan), TC_EAGAIN while storage is read,
// TC_ENOENT (keep_days: no run starts before the cutoff) or an error.
static int seek_step(struct store_read *read) {
    if (read->hops > 0) {
        uint32_t available = 0;
        bool pending = false;
        uint32_t size = (uint32_t)TC_ROOM_STORE_COST(TC_ROOM_BODY_SIZE_MAX);
        const uint8_t *bytes = segment_bytes(read, read->target.segment, read->target.offset,
                                             size, &available, &pending);
        if (pending) return TC_EAGAIN;
        int rc = bytes == NULL ? TC_ECORRUPT : seek_arrive(read, bytes, available);
        if (rc != TC_OK) return rc;
    }
    bool found = false;
    if (!seek_descend(read, &found)) {
        read->hops += 1;
        return TC_OK; // another hop
    }
    read->hops = 0;
    if (!found && read->phase == READ_SEEK_SEQ) return TC_ECORRUPT; // seq 1 starts a run
    if (!found) return TC_ENOENT; // keep_days: no run starts before the cutoff
    read->phase = read->phase == READ_SEEK_TIME ? READ_SCAN_TIME : READ_SCAN_SEQ;
    return TC_OK;
}

// Runs the phases until the read finishes or waits for storage.
static void read_step(struct store_read *read) {
    for (uint32_t guard = 0; guard < STORE_SEEK_HOPS_MAX; guard++) {
        if (read->phase == READ_SEEK_TIME || read->phase == READ_SEEK_SEQ) {
            int rc = seek_step(read);
            if (rc == TC_EAGAIN) return;
            if (rc == TC_ENOENT) {
                if (!read_decide(read)) return;
                continue;
            }
            if (rc != TC_OK) {
                read_finish(read, rc, 0);
                return;
            }
            continue;
        }
        uint32_t available = 0;
        bool pending = false;
        const uint8_t *bytes = segment_bytes(read, read->target.segment, read->target.offset,
                                             scan_size(read), &available, &pending);
        if (pending) return;
        int rc = bytes == NULL ? TC_ECORRUPT : scan_run(read, bytes, available);
        if (rc != TC_OK) {
            read_finish(read, rc, 0);
            return;
        }
        if (read->phase == READ_SCAN_SEQ) {
            read_finish(read, TC_OK, TC_STORE_PAGE_MESSAGES);
            return;
        }
        if (!read_decide(read)) return;
    }
    read_finish(read, TC_ECORRUPT, 0); // a seek that does not converge: damaged pointers
}

static struct store_read *read_slot(struct tc_store *store) {
    for (uint32_t i = 0; i < store->options.reads_max; i++) {
        if (!store->reads[i].busy) return &store->reads[i];
    }
    return NULL;
}

int tc_store_read(struct tc_store *store, uint64_t room, uint64_t from_seq, uint32_t limit,
                  uint64_t now_ns, tc_store_read_cb callback, void *callback_context) {
    tc_assert(callback != NULL);
    if (limit == 0 || limit > TC_STORE_PAGE_MAX) return TC_EINVAL;
    struct store_read *read = read_slot(store);
    if (read == NULL) return TC_EBUSY;
    read->busy = true;
    read->callback = callback;
    read->context = callback_context;
    read->limit = limit;
    read->buffer_base = UINT32_MAX;
    struct tc_store_page *page = &read->page;
    memset(page, 0, offsetof(struct tc_store_page, messages));
    page->room = room;
    page->from_seq = from_seq == 0 ? 1 : from_seq;
    struct tc_room_info info;
    if (tc_room_info(store->options.room, room, &info) != TC_OK) {
        read_finish(read, TC_ENOENT, 0);
        return TC_OK;
    }
    tc_assert(info.index < store->options.rooms_max);
    read->room_index = info.index;
    page->seq_last = info.seq_last;
    page->floor_seq = store_room_floor_state(store, info.index, info.seq_last);
    bool by_age = info.retention.mode == TC_ROOM_RETENTION_KEEP_DAYS && info.seq_last > 0 &&
                  now_ns > info.retention.value * STORE_DAY_NS;
    if (!by_age) {
        if (read_decide(read)) read_step(read);
        return TC_OK;
    }
    read->cutoff_ns = now_ns - info.retention.value * STORE_DAY_NS;
    seek_start(read, READ_SEEK_TIME);
    read_step(read);
    return TC_OK;
}
