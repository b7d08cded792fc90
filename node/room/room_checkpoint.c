// The room state machine's checkpoint: the whole logical state as canonical bytes, and back.
// Byte layout and validation rules: docs/room.md §11. Integers are little-endian and written byte
// by byte, so the bytes depend neither on the host nor on alignment.
//
// Canonical: the encoding holds no pool, ring or hash-table layout. Rooms are written in creation
// order, members sorted by (room, user), the thread window, idempotency keys and redactions oldest
// first.
// Decode rebuilds a canonical layout (rings from slot 0, members from pool index 0, fresh indexes).
// That layout never shows in replies, digest or encoding, so the decoded machine behaves like the
// original.
//
// Decode trusts nothing: every count, size, reference, ordering and range is checked before it is
// used, so that a decoded machine satisfies every invariant the ops assert. Any failure leaves the
// machine empty.

#include <stddef.h>
#include <string.h>

#include "room_internal.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_le.h"

// Every committed message costs at least ROOM_STORE_COST_MIN of the store budget, and the budget
// used never exceeds ROOM_STORE_BYTES_LIMIT: so no room (and no group) ever holds more messages.
#define CHECKPOINT_MESSAGES_MAX (ROOM_STORE_BYTES_LIMIT / ROOM_STORE_COST_MIN)

_Static_assert(TC_ROOM_CHECKPOINT_HEADER_SIZE == 4u * 2u + 8u + 4u * 4u + 8u * 3u + 4u * 6u,
               "header layout");
_Static_assert(TC_ROOM_CHECKPOINT_ROOM_SIZE == 8u * 3u + 32u + 4u * 4u + 8u, "room record layout");
_Static_assert(TC_ROOM_CHECKPOINT_WINDOW_SIZE == 8u * 6u, "window record layout");
_Static_assert(TC_ROOM_CHECKPOINT_REDACTION_SIZE == 8u * 3u, "redaction record layout");
_Static_assert(TC_ROOM_CHECKPOINT_MEMBER_SIZE == 8u * 3u, "member record layout");
_Static_assert(TC_ROOM_CHECKPOINT_KEY_SIZE == 8u + TC_ROOM_KEY_SIZE + 8u * 2u + 32u, "key layout");
_Static_assert(ROOM_STORE_COST_MIN % 8u == 0 && ROOM_STORE_COST_MAX % 8u == 0, "costs of 8");

static bool bytes_are_zero(const uint8_t *bytes, uint32_t size_bytes) {
    uint8_t bits = 0;
    for (uint32_t i = 0; i < size_bytes; i++) bits |= bytes[i];
    return bits == 0;
}

uint64_t tc_room_checkpoint_size_max(const struct tc_room_config *config) {
    tc_assert(tc_room_config_invalid(config) == NULL);
    uint64_t size = TC_ROOM_CHECKPOINT_HEADER_SIZE +
                    (uint64_t)config->rooms_max * TC_ROOM_CHECKPOINT_ROOM_SIZE +
                    (uint64_t)config->members_max * TC_ROOM_CHECKPOINT_MEMBER_SIZE +
                    (uint64_t)config->messages_max * TC_ROOM_CHECKPOINT_WINDOW_SIZE +
                    (uint64_t)config->idempotency_keys_max * TC_ROOM_CHECKPOINT_KEY_SIZE +
                    (uint64_t)config->messages_max * TC_ROOM_CHECKPOINT_REDACTION_SIZE;
    tc_assert(size > TC_ROOM_CHECKPOINT_HEADER_SIZE);
    return size;
}

// ------------------------------------------------------------------------------------------------
// Encode.

struct checkpoint_writer {
    uint8_t *buffer;
    uint64_t size;
    uint64_t offset;
};

static uint8_t *writer_take(struct checkpoint_writer *writer, uint64_t size_bytes) {
    tc_assert(writer->offset <= writer->size);
    tc_assert(size_bytes <= writer->size - writer->offset);
    uint8_t *p = writer->buffer + writer->offset;
    writer->offset += size_bytes;
    return p;
}

static void encode_header(const struct tc_room_machine *machine, uint8_t *p, uint64_t size) {
    const struct tc_room_config *config = &machine->config;
    tc_assert(config->store_bytes_max == 0 || machine->store_bytes_used <= config->store_bytes_max);
    tc_le_put_u32(p + 0, TC_ROOM_CHECKPOINT_MAGIC);
    tc_le_put_u32(p + 4, TC_ROOM_CHECKPOINT_VERSION);
    tc_le_put_u64(p + 8, size);
    tc_le_put_u32(p + 16, config->rooms_max);
    tc_le_put_u32(p + 20, config->members_max);
    tc_le_put_u32(p + 24, config->idempotency_keys_max);
    tc_le_put_u32(p + 28, config->messages_max);
    tc_le_put_u64(p + 32, config->store_bytes_max);
    tc_le_put_u64(p + 40, machine->op_last);
    tc_le_put_u64(p + 48, machine->store_bytes_used);
    tc_le_put_u32(p + 56, machine->rooms_count);
    tc_le_put_u32(p + 60, machine->members_count);
    tc_le_put_u32(p + 64, machine->window_count);
    tc_le_put_u32(p + 68, machine->keys_count);
    tc_le_put_u32(p + 72, machine->redactions_count);
    tc_le_put_u32(p + 76, 0);
}

static void encode_rooms(const struct tc_room_machine *machine, struct checkpoint_writer *writer) {
    tc_assert(machine->rooms_count <= machine->config.rooms_max);
    for (uint32_t i = 0; i < machine->rooms_count; i++) {
        const struct room_entry *room = &machine->rooms[i];
        tc_assert(room->id != 0);
        tc_assert(room->kind == ROOM_KIND_GROUP || room->kind == ROOM_KIND_DM);
        uint8_t *p = writer_take(writer, TC_ROOM_CHECKPOINT_ROOM_SIZE);
        tc_le_put_u64(p + 0, room->id);
        tc_le_put_u64(p + 8, room->seq_last);
        tc_le_put_u64(p + 16, room->seq_window_min);
        memcpy(p + 24, room->hash_last.bytes, sizeof(room->hash_last.bytes));
        tc_le_put_u32(p + 56, room->member_count);
        tc_le_put_u32(p + 60, room->kind);
        tc_le_put_u32(p + 64, room->retention.mode);
        tc_le_put_u32(p + 68, 0);
        tc_le_put_u64(p + 72, room->retention.value);
    }
}

// Member records are (room u64, user u64, read marker u64); the canonical order is ascending
// (room, user), which names each record once (the marker is not part of the order).
static bool member_record_less(const uint8_t *a, const uint8_t *b) {
    uint64_t room_a = tc_le_get_u64(a);
    uint64_t room_b = tc_le_get_u64(b);
    if (room_a != room_b) return room_a < room_b;
    return tc_le_get_u64(a + 8) < tc_le_get_u64(b + 8);
}

static void member_record_swap(uint8_t *a, uint8_t *b) {
    uint8_t swap[TC_ROOM_CHECKPOINT_MEMBER_SIZE];
    memcpy(swap, a, sizeof(swap));
    memcpy(a, b, sizeof(swap));
    memcpy(b, swap, sizeof(swap));
}

static uint8_t *member_record(uint8_t *records, uint64_t index) {
    return records + index * TC_ROOM_CHECKPOINT_MEMBER_SIZE;
}

// Heap sift-down of `root` within the first `count` records. A heap of <= 2^26 records is at
// most 27 levels deep.
static void member_records_sift(uint8_t *records, uint64_t root, uint64_t count) {
    for (uint32_t depth = 0; depth < 64; depth++) {
        uint64_t child = 2u * root + 1u;
        if (child >= count) return;
        uint8_t *larger = member_record(records, child);
        if (child + 1u < count && member_record_less(larger, member_record(records, child + 1u))) {
            child += 1u;
            larger = member_record(records, child);
        }
        if (!member_record_less(member_record(records, root), larger)) return;
        member_record_swap(member_record(records, root), larger);
        root = child;
    }
    tc_unreachable();
}

// In-place heapsort: O(n log n), no memory beyond the output buffer itself.
static void member_records_sort(uint8_t *records, uint64_t count) {
    for (uint64_t i = count / 2u; i > 0; i--) member_records_sift(records, i - 1u, count);
    for (uint64_t end = count; end > 1; end--) {
        member_record_swap(member_record(records, 0), member_record(records, end - 1u));
        member_records_sift(records, 0, end - 1u);
    }
    for (uint64_t i = 1; i < count; i++) {
        tc_assert_hot(member_record_less(member_record(records, i - 1u),
                                         member_record(records, i)));
    }
}

static void encode_members(const struct tc_room_machine *machine,
                           struct checkpoint_writer *writer) {
    uint8_t *records = writer->buffer + writer->offset;
    uint32_t count = 0;
    for (uint32_t i = 0; i < machine->config.members_max; i++) {
        const struct room_member *member = &machine->members[i];
        if (member->used == 0) continue;
        uint8_t *p = writer_take(writer, TC_ROOM_CHECKPOINT_MEMBER_SIZE);
        tc_le_put_u64(p + 0, member->room);
        tc_le_put_u64(p + 8, member->user);
        tc_le_put_u64(p + 16, member->read_seq);
        count += 1;
    }
    tc_assert(count == machine->members_count);
    member_records_sort(records, count);
}

static void encode_window(const struct tc_room_machine *machine,
                          struct checkpoint_writer *writer) {
    tc_assert(machine->window_count <= machine->config.messages_max);
    for (uint32_t i = 0; i < machine->window_count; i++) {
        uint32_t slot = (machine->window_head + i) % machine->config.messages_max;
        const struct room_window_entry *entry = &machine->window[slot];
        tc_assert(entry->seq != 0);
        uint8_t *p = writer_take(writer, TC_ROOM_CHECKPOINT_WINDOW_SIZE);
        tc_le_put_u64(p + 0, entry->room);
        tc_le_put_u64(p + 8, entry->seq);
        tc_le_put_u64(p + 16, entry->thread_parent_seq);
        tc_le_put_u64(p + 24, entry->thread_seq);
        tc_le_put_u64(p + 32, entry->thread_seq_last);
        tc_le_put_u64(p + 40, entry->sender);
    }
}

static void encode_redactions(const struct tc_room_machine *machine,
                              struct checkpoint_writer *writer) {
    tc_assert(machine->redactions_count <= machine->config.messages_max);
    for (uint32_t i = 0; i < machine->redactions_count; i++) {
        const struct room_redaction *redaction = &machine->redactions[i];
        tc_assert(redaction->seq != 0);
        uint8_t *p = writer_take(writer, TC_ROOM_CHECKPOINT_REDACTION_SIZE);
        tc_le_put_u64(p + 0, redaction->room);
        tc_le_put_u64(p + 8, redaction->seq);
        tc_le_put_u64(p + 16, redaction->sender);
    }
}

// The in-memory key record is its own little-endian encoding (same fields, same offsets, no
// padding): on a little-endian host the FIFO ring is copied out in at most two memcpys, so a
// checkpoint of a large idempotency table costs memory bandwidth, not a field-by-field loop
// (docs/benchmarks.md, the checkpoint stall).
_Static_assert(sizeof(struct room_idempotency) == TC_ROOM_CHECKPOINT_KEY_SIZE, "key record size");
_Static_assert(offsetof(struct room_idempotency, key) == 8, "key offset");
_Static_assert(offsetof(struct room_idempotency, seq) == 24, "seq offset");
_Static_assert(offsetof(struct room_idempotency, thread_seq) == 32, "thread_seq offset");
_Static_assert(offsetof(struct room_idempotency, hash) == 40, "hash offset");

static bool host_little_endian(void) {
    const uint16_t probe = 1;
    uint8_t first = 0;
    memcpy(&first, &probe, 1);
    return first == 1;
}

static void encode_keys(const struct tc_room_machine *machine, struct checkpoint_writer *writer) {
    tc_assert(machine->keys_count <= machine->config.idempotency_keys_max);
    if (host_little_endian()) {
        uint32_t capacity = machine->config.idempotency_keys_max;
        uint32_t first = tc_min_u32(machine->keys_count, capacity - machine->keys_head);
        uint8_t *p = writer_take(writer, (uint64_t)first * TC_ROOM_CHECKPOINT_KEY_SIZE);
        memcpy(p, &machine->keys[machine->keys_head], (uint64_t)first * TC_ROOM_CHECKPOINT_KEY_SIZE);
        uint32_t second = machine->keys_count - first;
        p = writer_take(writer, (uint64_t)second * TC_ROOM_CHECKPOINT_KEY_SIZE);
        memcpy(p, &machine->keys[0], (uint64_t)second * TC_ROOM_CHECKPOINT_KEY_SIZE);
        return;
    }
    for (uint32_t i = 0; i < machine->keys_count; i++) {
        uint32_t slot = (machine->keys_head + i) % machine->config.idempotency_keys_max;
        const struct room_idempotency *entry = &machine->keys[slot];
        uint8_t *p = writer_take(writer, TC_ROOM_CHECKPOINT_KEY_SIZE);
        tc_le_put_u64(p + 0, entry->room);
        memcpy(p + 8, entry->key, TC_ROOM_KEY_SIZE);
        tc_le_put_u64(p + 24, entry->seq);
        tc_le_put_u64(p + 32, entry->thread_seq);
        memcpy(p + 40, entry->hash.bytes, sizeof(entry->hash.bytes));
    }
}

uint64_t tc_room_checkpoint_encode(const struct tc_room_machine *machine, uint8_t *buffer,
                                   uint64_t buffer_size) {
    tc_assert(machine != NULL);
    tc_assert(buffer != NULL);
    uint64_t size_max = tc_room_checkpoint_size_max(&machine->config);
    tc_assert(buffer_size >= size_max);
    struct checkpoint_writer writer = {.buffer = buffer, .size = buffer_size, .offset = 0};
    uint8_t *header = writer_take(&writer, TC_ROOM_CHECKPOINT_HEADER_SIZE);
    encode_rooms(machine, &writer);
    encode_members(machine, &writer);
    encode_window(machine, &writer);
    encode_keys(machine, &writer);
    encode_redactions(machine, &writer);
    encode_header(machine, header, writer.offset);
    tc_assert(writer.offset <= size_max);
    return writer.offset;
}

// ------------------------------------------------------------------------------------------------
// Decode.

struct checkpoint_reader {
    const uint8_t *buffer;
    uint64_t size;
    uint64_t offset;
};

// The next `size_bytes` bytes, or NULL if fewer remain.
static const uint8_t *reader_take(struct checkpoint_reader *reader, uint64_t size_bytes) {
    tc_assert(reader->offset <= reader->size);
    if (size_bytes > reader->size - reader->offset) return NULL;
    const uint8_t *p = reader->buffer + reader->offset;
    reader->offset += size_bytes;
    return p;
}

struct checkpoint_counts {
    uint32_t rooms;
    uint32_t members;
    uint32_t window;
    uint32_t keys;
    uint32_t redactions;
    uint64_t messages; // committed messages: the sum of the rooms' seq_last
};

// Empties the machine: the state, layout and free list tc_room_init leaves (the entry arrays keep
// stale bytes, which nothing reads beyond the counts). The sink is not state: it stays.
static void checkpoint_reset(struct tc_room_machine *machine) {
    const struct tc_room_config *config = &machine->config;
    machine->op_last = 0;
    machine->store_bytes_used = 0;
    machine->rooms_count = 0;
    machine->members_count = 0;
    machine->keys_head = 0;
    machine->keys_count = 0;
    machine->window_head = 0;
    machine->window_count = 0;
    machine->redactions_count = 0;
    tc_room__index_init(&machine->rooms_index, machine->rooms_index.slots, config->rooms_max);
    tc_room__index_init(&machine->members_index, machine->members_index.slots,
                        config->members_max);
    tc_room__index_init(&machine->keys_index, machine->keys_index.slots,
                        config->idempotency_keys_max);
    tc_room__index_init(&machine->window_index, machine->window_index.slots,
                        config->messages_max);
    tc_room__index_init(&machine->redactions_index, machine->redactions_index.slots,
                        config->messages_max);
    memset(machine->members, 0, sizeof(*machine->members) * config->members_max);
    for (uint32_t i = 0; i < config->members_max; i++) {
        machine->members[i].free_next = i + 1u < config->members_max ? i + 2u : 0u;
    }
    machine->members_free = 1;
}

static bool header_config_equal(const struct tc_room_config *config, const uint8_t *p) {
    return tc_le_get_u32(p + 16) == config->rooms_max &&
           tc_le_get_u32(p + 20) == config->members_max &&
           tc_le_get_u32(p + 24) == config->idempotency_keys_max &&
           tc_le_get_u32(p + 28) == config->messages_max &&
           tc_le_get_u64(p + 32) == config->store_bytes_max;
}

// The budget used fits the budget (or, without one, the limit), and is a sum of costs (each a
// multiple of 8). decode_budget later compares it with the message count.
static bool header_budget_valid(const struct tc_room_config *config, uint64_t store_bytes_used) {
    uint64_t limit = ROOM_STORE_BYTES_LIMIT;
    if (config->store_bytes_max != 0) limit = config->store_bytes_max;
    return store_bytes_used <= limit && store_bytes_used % 8u == 0;
}

static int decode_header(struct tc_room_machine *machine, struct checkpoint_reader *reader,
                         struct checkpoint_counts *counts) {
    const struct tc_room_config *config = &machine->config;
    const uint8_t *p = reader_take(reader, TC_ROOM_CHECKPOINT_HEADER_SIZE);
    if (p == NULL) return TC_ECORRUPT;
    if (tc_le_get_u32(p + 0) != TC_ROOM_CHECKPOINT_MAGIC) return TC_ECORRUPT;
    // Only the current version: 1 (with bodies), 2 (members without read markers) and 3 (no
    // redactions, window entries without senders) are refused.
    if (tc_le_get_u32(p + 4) != TC_ROOM_CHECKPOINT_VERSION) return TC_ECORRUPT;
    if (tc_le_get_u64(p + 8) != reader->size) return TC_ECORRUPT;
    if (!header_config_equal(config, p)) return TC_ECORRUPT;
    uint64_t op_last = tc_le_get_u64(p + 40);
    uint64_t store_bytes_used = tc_le_get_u64(p + 48);
    if (op_last == UINT64_MAX) return TC_ECORRUPT; // no op could follow
    if (!header_budget_valid(config, store_bytes_used)) return TC_ECORRUPT;
    counts->rooms = tc_le_get_u32(p + 56);
    counts->members = tc_le_get_u32(p + 60);
    counts->window = tc_le_get_u32(p + 64);
    counts->keys = tc_le_get_u32(p + 68);
    counts->redactions = tc_le_get_u32(p + 72);
    if (tc_le_get_u32(p + 76) != 0) return TC_ECORRUPT; // reserved
    if (counts->redactions > config->messages_max) return TC_ECORRUPT;
    if (counts->rooms > config->rooms_max) return TC_ECORRUPT;
    if (counts->members > config->members_max) return TC_ECORRUPT;
    if (counts->window > config->messages_max) return TC_ECORRUPT;
    if (counts->keys > config->idempotency_keys_max) return TC_ECORRUPT;
    machine->op_last = op_last;
    machine->store_bytes_used = store_bytes_used;
    return TC_OK;
}

static void room_read(const uint8_t *p, struct room_entry *entry, uint32_t *reserved) {
    tc_assert(p != NULL);
    tc_assert(reserved != NULL);
    memset(entry, 0, sizeof(*entry));
    entry->id = tc_le_get_u64(p + 0);
    entry->seq_last = tc_le_get_u64(p + 8);
    entry->seq_window_min = tc_le_get_u64(p + 16);
    memcpy(entry->hash_last.bytes, p + 24, sizeof(entry->hash_last.bytes));
    entry->member_count = tc_le_get_u32(p + 56);
    entry->kind = tc_le_get_u32(p + 60);
    uint32_t mode = tc_le_get_u32(p + 64);
    *reserved = tc_le_get_u32(p + 68);
    entry->retention.value = tc_le_get_u64(p + 72);
    // A mode outside u8 is invalid anyway: keep it recognisably invalid for the check.
    entry->retention.mode = mode > UINT8_MAX ? UINT8_MAX : (uint8_t)mode;
}

static int decode_room(struct tc_room_machine *machine, const uint8_t *p) {
    struct room_entry entry;
    uint32_t reserved = 0;
    room_read(p, &entry, &reserved);
    if (entry.id == 0) return TC_ECORRUPT;
    if (entry.kind != ROOM_KIND_GROUP && entry.kind != ROOM_KIND_DM) return TC_ECORRUPT;
    if (entry.kind == ROOM_KIND_DM && entry.member_count != 2) return TC_ECORRUPT;
    if (entry.seq_last > CHECKPOINT_MESSAGES_MAX) return TC_ECORRUPT;
    if (entry.seq_window_min == 0) return TC_ECORRUPT;
    if (entry.seq_window_min > entry.seq_last + 1u) return TC_ECORRUPT;
    bool hash_zero = bytes_are_zero(entry.hash_last.bytes, sizeof(entry.hash_last.bytes));
    if (entry.seq_last == 0 && !hash_zero) return TC_ECORRUPT;
    if (reserved != 0) return TC_ECORRUPT;
    if (!tc_room__retention_valid(entry.retention.mode, entry.retention.value)) return TC_ECORRUPT;
    if (tc_room__find(machine, entry.id) != ROOM_INDEX_NONE) return TC_ECORRUPT; // duplicate

    uint32_t index = machine->rooms_count;
    tc_assert(index < machine->config.rooms_max);
    machine->rooms[index] = entry;
    machine->rooms_count += 1;
    tc_room__index_insert(&machine->rooms_index, tc_room__hash_u64(entry.id, 0), index);
    return TC_OK;
}

// The sum of the rooms' member counts must be the member count (decode_members checks each one).
// The sum of their seq_last is the number of committed messages, which the budget bounds.
static int decode_rooms(struct tc_room_machine *machine, struct checkpoint_reader *reader,
                        struct checkpoint_counts *counts) {
    uint64_t member_count_sum = 0;
    counts->messages = 0;
    for (uint32_t i = 0; i < counts->rooms; i++) {
        const uint8_t *p = reader_take(reader, TC_ROOM_CHECKPOINT_ROOM_SIZE);
        if (p == NULL) return TC_ECORRUPT;
        int rc = decode_room(machine, p);
        if (rc != TC_OK) return rc;
        member_count_sum += machine->rooms[i].member_count;
        counts->messages += machine->rooms[i].seq_last; // each <= CHECKPOINT_MESSAGES_MAX
        if (counts->messages > CHECKPOINT_MESSAGES_MAX) return TC_ECORRUPT;
    }
    tc_assert(machine->rooms_count == counts->rooms);
    if (member_count_sum != counts->members) return TC_ECORRUPT;
    return TC_OK;
}

// Every message cost between the smallest and the largest store cost: store_bytes_used must lie
// between messages x ROOM_STORE_COST_MIN and messages x ROOM_STORE_COST_MAX. (Both products are
// computed without overflow: messages <= CHECKPOINT_MESSAGES_MAX.)
static int decode_budget(const struct tc_room_machine *machine,
                         const struct checkpoint_counts *counts) {
    tc_assert(counts->messages <= CHECKPOINT_MESSAGES_MAX);
    uint64_t used = machine->store_bytes_used;
    tc_assert(used <= ROOM_STORE_BYTES_LIMIT);
    if (used < counts->messages * ROOM_STORE_COST_MIN) return TC_ECORRUPT;
    uint64_t messages_at_most_max = (used + ROOM_STORE_COST_MAX - 1u) / ROOM_STORE_COST_MAX;
    if (messages_at_most_max > counts->messages) return TC_ECORRUPT; // used > messages x max
    return TC_OK;
}

// Takes the next pool record: reset left the free list 0, 1, 2, ..., so the decoded members fill
// the pool from index 0 and the free list continues after them.
static void member_insert(struct tc_room_machine *machine, uint64_t room, uint64_t user,
                          uint64_t read_seq) {
    uint32_t index = machine->members_count;
    tc_assert(index < machine->config.members_max);
    tc_assert(machine->members_free == index + 1u);
    struct room_member *member = &machine->members[index];
    tc_assert(member->used == 0);
    machine->members_free = member->free_next;
    member->room = room;
    member->user = user;
    member->read_seq = read_seq;
    member->free_next = 0;
    member->used = 1;
    machine->members_count += 1;
    tc_room__index_insert(&machine->members_index, tc_room__hash_u64(room, user), index);
}

// One room's members are consecutive (the records are sorted by room first).
struct member_run {
    uint32_t room_index; // ROOM_INDEX_NONE before the first record
    uint32_t length;
};

static bool member_run_complete(const struct tc_room_machine *machine,
                                const struct member_run *run) {
    if (run->room_index == ROOM_INDEX_NONE) return true;
    return machine->rooms[run->room_index].member_count == run->length;
}

// Members must be strictly ascending by (room, user), which also rules out duplicates; each run
// must be as long as its room's member_count. With decode_rooms' sum check, every count is exact.
// A read marker is at most its room's seq_last (a marker only ever names a committed seq).
static int decode_members(struct tc_room_machine *machine, struct checkpoint_reader *reader,
                          const struct checkpoint_counts *counts) {
    struct member_run run = {.room_index = ROOM_INDEX_NONE, .length = 0};
    const uint8_t *previous = NULL;
    for (uint32_t i = 0; i < counts->members; i++) {
        const uint8_t *p = reader_take(reader, TC_ROOM_CHECKPOINT_MEMBER_SIZE);
        if (p == NULL) return TC_ECORRUPT;
        uint64_t room = tc_le_get_u64(p + 0);
        uint64_t user = tc_le_get_u64(p + 8);
        uint64_t read_seq = tc_le_get_u64(p + 16);
        if (user == 0) return TC_ECORRUPT;
        if (previous != NULL && !member_record_less(previous, p)) return TC_ECORRUPT;
        if (previous == NULL || tc_le_get_u64(previous) != room) {
            if (!member_run_complete(machine, &run)) return TC_ECORRUPT;
            run.room_index = tc_room__find(machine, room);
            run.length = 0;
            if (run.room_index == ROOM_INDEX_NONE) return TC_ECORRUPT;
        }
        tc_assert(machine->rooms[run.room_index].id == room);
        if (read_seq > machine->rooms[run.room_index].seq_last) return TC_ECORRUPT;
        member_insert(machine, room, user, read_seq);
        run.length += 1;
        previous = p;
    }
    if (!member_run_complete(machine, &run)) return TC_ECORRUPT;
    tc_assert(machine->members_count == counts->members);
    return TC_OK;
}

static void window_read(const uint8_t *p, struct room_window_entry *entry) {
    memset(entry, 0, sizeof(*entry));
    entry->room = tc_le_get_u64(p + 0);
    entry->seq = tc_le_get_u64(p + 8);
    entry->thread_parent_seq = tc_le_get_u64(p + 16);
    entry->thread_seq = tc_le_get_u64(p + 24);
    entry->thread_seq_last = tc_le_get_u64(p + 32);
    entry->sender = tc_le_get_u64(p + 40);
}

// The thread fields. A root has thread_seq 0 on disk. A reply names an earlier seq, has
// thread_seq >= 1 and no replies of its own; while its root is in the window (and then all the
// root's replies are: they follow it in the room), the root is not a reply and the reply is the
// root's next one. For that count, decode keeps each root's replies seen so far in the root's
// thread_seq (scratch: window_finish compares it with thread_seq_last and puts 0 back).
static bool window_thread_valid(const struct tc_room_machine *machine,
                                const struct room_entry *room,
                                const struct room_window_entry *entry, uint32_t *root) {
    *root = ROOM_INDEX_NONE;
    if (entry->thread_parent_seq == 0) {
        return entry->thread_seq == 0 && entry->thread_seq_last < UINT64_MAX;
    }
    if (entry->thread_parent_seq >= entry->seq) return false;
    if (entry->thread_seq == 0 || entry->thread_seq_last != 0) return false;
    if (entry->thread_parent_seq < room->seq_window_min) return true; // the root was evicted
    uint32_t slot = tc_room__window_find(machine, entry->room, entry->thread_parent_seq);
    tc_assert(slot != ROOM_INDEX_NONE); // window_check proved seq_window_min..seq - 1 present
    const struct room_window_entry *parent = &machine->window[slot];
    if (parent->thread_parent_seq != 0) return false;
    tc_assert(parent->thread_seq < UINT32_MAX); // the scratch count: at most the window's size
    if (entry->thread_seq != parent->thread_seq + 1u) return false;
    if (entry->thread_seq > parent->thread_seq_last) return false;
    *root = slot;
    return true;
}

// A room's window entries arrive in seq order from seq_window_min, without gaps or repeats.
static int window_check(const struct tc_room_machine *machine, struct room_window_entry *entry,
                        uint32_t *root) {
    tc_assert(*root == ROOM_INDEX_NONE);
    uint32_t room_index = tc_room__find(machine, entry->room);
    if (room_index == ROOM_INDEX_NONE) return TC_ECORRUPT;
    if (entry->sender == 0) return TC_ECORRUPT; // senders are users: non-zero
    const struct room_entry *room = &machine->rooms[room_index];
    tc_assert(room->seq_window_min >= 1); // decode_room checked it
    if (entry->seq < room->seq_window_min) return TC_ECORRUPT;
    if (entry->seq > room->seq_last) return TC_ECORRUPT;
    if (tc_room__window_find(machine, entry->room, entry->seq) != ROOM_INDEX_NONE) {
        return TC_ECORRUPT; // a repeat
    }
    if (entry->seq > room->seq_window_min &&
        tc_room__window_find(machine, entry->room, entry->seq - 1u) == ROOM_INDEX_NONE) {
        return TC_ECORRUPT; // a gap, or out of order
    }
    if (!window_thread_valid(machine, room, entry, root)) return TC_ECORRUPT;
    entry->room_index = room_index;
    return TC_OK;
}

static void window_store(struct tc_room_machine *machine, const struct room_window_entry *entry,
                         uint32_t root) {
    tc_assert(machine->window_head == 0);
    uint32_t slot = machine->window_count;
    tc_assert(slot < machine->config.messages_max);
    machine->window[slot] = *entry; // a root's thread_seq is 0: its scratch count starts there
    if (root != ROOM_INDEX_NONE) machine->window[root].thread_seq += 1u;
    machine->window_count += 1;
    tc_room__index_insert(&machine->window_index, tc_room__hash_u64(entry->room, entry->seq),
                          slot);
}

static int decode_window(struct tc_room_machine *machine, struct checkpoint_reader *reader,
                         const struct checkpoint_counts *counts) {
    for (uint32_t i = 0; i < counts->window; i++) {
        const uint8_t *p = reader_take(reader, TC_ROOM_CHECKPOINT_WINDOW_SIZE);
        if (p == NULL) return TC_ECORRUPT;
        struct room_window_entry entry;
        window_read(p, &entry);
        uint32_t root = ROOM_INDEX_NONE;
        int rc = window_check(machine, &entry, &root);
        if (rc != TC_OK) return rc;
        window_store(machine, &entry, root);
    }
    tc_assert(machine->window_count == counts->window);
    return TC_OK;
}

// After the window: every root's reply counter is the number of its replies (all in the window);
// every room's window range seq_window_min..seq_last is complete (its entries arrived without gaps,
// so the newest one must be there); and the window holds the newest messages_max messages, or all
// of them if fewer were ever committed (eviction is by count only).
static int window_finish(struct tc_room_machine *machine, const struct checkpoint_counts *counts) {
    tc_assert(machine->window_head == 0);
    tc_assert(machine->window_count <= machine->config.messages_max);
    for (uint32_t i = 0; i < machine->window_count; i++) {
        struct room_window_entry *entry = &machine->window[i];
        if (entry->thread_parent_seq != 0) continue;
        if (entry->thread_seq != entry->thread_seq_last) return TC_ECORRUPT;
        entry->thread_seq = 0;
    }
    for (uint32_t i = 0; i < machine->rooms_count; i++) {
        const struct room_entry *room = &machine->rooms[i];
        if (room->seq_window_min > room->seq_last) continue; // nothing in the window
        if (tc_room__window_find(machine, room->id, room->seq_last) == ROOM_INDEX_NONE) {
            return TC_ECORRUPT;
        }
    }
    uint64_t expected = tc_min_u64(counts->messages, machine->config.messages_max);
    if (machine->window_count != expected) return TC_ECORRUPT;
    return TC_OK;
}

struct key_lookup {
    uint64_t room;
    const uint8_t *key;
};

static bool key_match(const void *context, uint32_t value, const void *key) {
    const struct tc_room_machine *machine = context;
    const struct key_lookup *lookup = key;
    tc_assert(value < machine->keys_count);
    const struct room_idempotency *entry = &machine->keys[value];
    return entry->room == lookup->room && memcmp(entry->key, lookup->key, TC_ROOM_KEY_SIZE) == 0;
}

static bool key_exists(const struct tc_room_machine *machine,
                       const struct room_idempotency *entry) {
    struct key_lookup lookup = {.room = entry->room, .key = entry->key};
    uint64_t hash = tc_room__hash_key(entry->room, entry->key);
    return tc_room__index_find(&machine->keys_index, hash, key_match, machine, &lookup) !=
           ROOM_INDEX_NONE;
}

// A key names a committed message of an existing room. What can still be compared is: the hash,
// when the message is the room's newest (the chain head); the thread_seq, while the message is in
// the thread window.
static bool key_valid(const struct tc_room_machine *machine, const struct room_idempotency *entry) {
    uint32_t room_index = tc_room__find(machine, entry->room);
    if (room_index == ROOM_INDEX_NONE) return false;
    const struct room_entry *room = &machine->rooms[room_index];
    if (bytes_are_zero(entry->key, TC_ROOM_KEY_SIZE)) return false;
    if (entry->seq == 0 || entry->seq > room->seq_last) return false;
    if (entry->seq == room->seq_last && !tc_hash256_equal(&entry->hash, &room->hash_last)) {
        return false;
    }
    if (entry->seq < room->seq_window_min) return true;
    uint32_t slot = tc_room__window_find(machine, entry->room, entry->seq);
    tc_assert(slot != ROOM_INDEX_NONE); // window_finish proved the range complete
    return machine->window[slot].thread_seq == entry->thread_seq;
}

// Each key names a distinct committed message, so there are at most as many keys as messages.
static int decode_keys(struct tc_room_machine *machine, struct checkpoint_reader *reader,
                       const struct checkpoint_counts *counts) {
    tc_assert(machine->keys_head == 0);
    if (counts->keys > counts->messages) return TC_ECORRUPT;
    for (uint32_t i = 0; i < counts->keys; i++) {
        const uint8_t *p = reader_take(reader, TC_ROOM_CHECKPOINT_KEY_SIZE);
        if (p == NULL) return TC_ECORRUPT;
        struct room_idempotency entry;
        memset(&entry, 0, sizeof(entry));
        entry.room = tc_le_get_u64(p + 0);
        memcpy(entry.key, p + 8, TC_ROOM_KEY_SIZE);
        entry.seq = tc_le_get_u64(p + 24);
        entry.thread_seq = tc_le_get_u64(p + 32);
        memcpy(entry.hash.bytes, p + 40, sizeof(entry.hash.bytes));
        if (!key_valid(machine, &entry)) return TC_ECORRUPT;
        if (key_exists(machine, &entry)) return TC_ECORRUPT; // duplicate
        machine->keys[i] = entry;
        machine->keys_count += 1;
        tc_room__index_insert(&machine->keys_index, tc_room__hash_key(entry.room, entry.key), i);
    }
    return TC_OK;
}

// A redaction names a committed message of an existing room, once; while the message is in the
// window, its sender (only the sender redacts). With (room, seq) unique and seq <= seq_last, there
// are at most as many redactions as messages.
static bool redaction_valid(const struct tc_room_machine *machine,
                            const struct room_redaction *redaction) {
    uint32_t room_index = tc_room__find(machine, redaction->room);
    if (room_index == ROOM_INDEX_NONE) return false;
    const struct room_entry *room = &machine->rooms[room_index];
    if (redaction->seq == 0 || redaction->seq > room->seq_last) return false;
    if (redaction->sender == 0) return false;
    if (tc_room__redaction_find(machine, redaction->room, redaction->seq) != ROOM_INDEX_NONE) {
        return false; // a duplicate
    }
    if (redaction->seq < room->seq_window_min) return true;
    uint32_t slot = tc_room__window_find(machine, redaction->room, redaction->seq);
    tc_assert(slot != ROOM_INDEX_NONE); // window_finish proved the range complete
    return machine->window[slot].sender == redaction->sender;
}

static int decode_redactions(struct tc_room_machine *machine, struct checkpoint_reader *reader,
                             const struct checkpoint_counts *counts) {
    tc_assert(machine->redactions_count == 0);
    tc_assert(counts->redactions <= machine->config.messages_max); // decode_header checked it
    for (uint32_t i = 0; i < counts->redactions; i++) {
        const uint8_t *p = reader_take(reader, TC_ROOM_CHECKPOINT_REDACTION_SIZE);
        if (p == NULL) return TC_ECORRUPT;
        struct room_redaction redaction = {.room = tc_le_get_u64(p + 0),
                                           .seq = tc_le_get_u64(p + 8),
                                           .sender = tc_le_get_u64(p + 16)};
        if (!redaction_valid(machine, &redaction)) return TC_ECORRUPT;
        tc_room__redaction_append(machine, &redaction);
    }
    tc_assert(machine->redactions_count == counts->redactions);
    tc_assert(machine->redactions_count <= counts->messages);
    return TC_OK;
}

int tc_room_checkpoint_decode(struct tc_room_machine *machine, const uint8_t *buffer,
                              uint64_t size) {
    tc_assert(machine != NULL);
    tc_assert(buffer != NULL || size == 0);
    checkpoint_reset(machine);
    struct checkpoint_reader reader = {.buffer = buffer, .size = size, .offset = 0};
    struct checkpoint_counts counts;
    memset(&counts, 0, sizeof(counts));
    int rc = decode_header(machine, &reader, &counts);
    if (rc == TC_OK) rc = decode_rooms(machine, &reader, &counts);
    if (rc == TC_OK) rc = decode_budget(machine, &counts);
    if (rc == TC_OK) rc = decode_members(machine, &reader, &counts);
    if (rc == TC_OK) rc = decode_window(machine, &reader, &counts);
    if (rc == TC_OK) rc = window_finish(machine, &counts);
    if (rc == TC_OK) rc = decode_keys(machine, &reader, &counts);
    if (rc == TC_OK) rc = decode_redactions(machine, &reader, &counts);
    if (rc == TC_OK && reader.offset != reader.size) rc = TC_ECORRUPT; // trailing bytes
    if (rc != TC_OK) {
        checkpoint_reset(machine);
        return rc;
    }
    tc_assert(machine->rooms_count == counts.rooms);
    tc_assert(machine->members_count == counts.members);
    tc_assert(machine->window_count == counts.window);
    tc_assert(machine->keys_count == counts.keys);
    tc_assert(machine->redactions_count == counts.redactions);
    return TC_OK;
}
