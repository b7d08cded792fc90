// The room state machine's checkpoint: the whole logical state as canonical bytes, and back.
// Byte layout and validation rules: docs/room.md, "Checkpoint encoding". Integers are little-endian
// and written byte by byte, so the bytes depend neither on the host nor on alignment.
//
// Canonical: the encoding holds no pool, ring or hash-table layout. Rooms are written in creation
// order, members sorted by (room, user), messages and idempotency keys oldest first. Decode
// rebuilds a canonical layout (rings from slot 0, members from pool index 0, fresh indexes). That
// layout never shows in replies, digest or encoding, so the decoded machine behaves like the
// original.
//
// Decode trusts nothing: every count, size, reference, ring position and chain link is checked
// before it is used, so that a decoded machine satisfies every invariant the ops assert. Any
// failure leaves the machine empty.

#include <string.h>

#include "room_internal.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_le.h"

// Body ring positions above this are rejected, so that no later position arithmetic overflows.
// (A position grows by at most 2 * TC_ROOM_BODY_SIZE_MAX per message: never reached in practice.)
#define CHECKPOINT_POSITION_MAX (UINT64_MAX / 4u)

_Static_assert(TC_ROOM_CHECKPOINT_ROOM_SIZE == 8u * 3u + 32u + 4u * 2u, "room record layout");
_Static_assert(TC_ROOM_CHECKPOINT_MESSAGE_SIZE == 8u * 8u + 4u * 2u + 32u * 2u, "message layout");
_Static_assert(TC_ROOM_CHECKPOINT_KEY_SIZE == 8u + TC_ROOM_KEY_SIZE + 8u * 2u + 32u, "key layout");

static bool bytes_are_zero(const uint8_t *bytes, uint32_t size_bytes) {
    uint8_t bits = 0;
    for (uint32_t i = 0; i < size_bytes; i++) bits |= bytes[i];
    return bits == 0;
}

uint64_t tc_room_checkpoint_size_max(const struct tc_room_config *config) {
    tc_assert(tc_room_config_invalid(config) == NULL);
    // Retained bodies never overlap in the body ring, so together they hold <= body_bytes_max.
    return TC_ROOM_CHECKPOINT_HEADER_SIZE +
           (uint64_t)config->rooms_max * TC_ROOM_CHECKPOINT_ROOM_SIZE +
           (uint64_t)config->members_max * TC_ROOM_CHECKPOINT_MEMBER_SIZE +
           (uint64_t)config->messages_max * TC_ROOM_CHECKPOINT_MESSAGE_SIZE +
           (uint64_t)config->body_bytes_max +
           (uint64_t)config->idempotency_keys_max * TC_ROOM_CHECKPOINT_KEY_SIZE;
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
    tc_le_put_u32(p + 0, TC_ROOM_CHECKPOINT_MAGIC);
    tc_le_put_u32(p + 4, TC_ROOM_CHECKPOINT_VERSION);
    tc_le_put_u64(p + 8, size);
    tc_le_put_u32(p + 16, config->rooms_max);
    tc_le_put_u32(p + 20, config->members_max);
    tc_le_put_u32(p + 24, config->idempotency_keys_max);
    tc_le_put_u32(p + 28, config->messages_max);
    tc_le_put_u32(p + 32, config->body_bytes_max);
    tc_le_put_u32(p + 36, 0);
    tc_le_put_u64(p + 40, machine->op_last);
    tc_le_put_u64(p + 48, machine->body_position_next);
    tc_le_put_u32(p + 56, machine->rooms_count);
    tc_le_put_u32(p + 60, machine->members_count);
    tc_le_put_u32(p + 64, machine->messages_count);
    tc_le_put_u32(p + 68, machine->keys_count);
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
        tc_le_put_u64(p + 16, room->seq_retained_min);
        memcpy(p + 24, room->hash_last.bytes, sizeof(room->hash_last.bytes));
        tc_le_put_u32(p + 56, room->member_count);
        tc_le_put_u32(p + 60, room->kind);
    }
}

// Member records are (room u64, user u64); the canonical order is ascending (room, user).
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
        count += 1;
    }
    tc_assert(count == machine->members_count);
    member_records_sort(records, count);
}

static void encode_message(const struct tc_room_machine *machine,
                           const struct room_message *message, struct checkpoint_writer *writer) {
    tc_assert(message->body_size >= 1);
    tc_assert(message->body_size <= TC_ROOM_BODY_SIZE_MAX);
    uint8_t *p = writer_take(writer, TC_ROOM_CHECKPOINT_MESSAGE_SIZE);
    tc_le_put_u64(p + 0, message->room);
    tc_le_put_u64(p + 8, message->seq);
    tc_le_put_u64(p + 16, message->thread_parent_seq);
    tc_le_put_u64(p + 24, message->thread_seq);
    tc_le_put_u64(p + 32, message->thread_seq_last);
    tc_le_put_u64(p + 40, message->sender);
    tc_le_put_u64(p + 48, message->timestamp_ns);
    tc_le_put_u64(p + 56, message->body_position);
    tc_le_put_u32(p + 64, message->body_size);
    tc_le_put_u32(p + 68, 0);
    memcpy(p + 72, message->hash.bytes, sizeof(message->hash.bytes));
    memcpy(p + 104, message->prev_hash.bytes, sizeof(message->prev_hash.bytes));
    uint8_t *body = writer_take(writer, message->body_size);
    memcpy(body, tc_room__message_body(machine, message), message->body_size);
}

static void encode_messages(const struct tc_room_machine *machine,
                            struct checkpoint_writer *writer) {
    tc_assert(machine->messages_count <= machine->config.messages_max);
    for (uint32_t i = 0; i < machine->messages_count; i++) {
        uint32_t slot = (machine->messages_head + i) % machine->config.messages_max;
        encode_message(machine, &machine->messages[slot], writer);
    }
}

static void encode_keys(const struct tc_room_machine *machine, struct checkpoint_writer *writer) {
    tc_assert(machine->keys_count <= machine->config.idempotency_keys_max);
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
    encode_messages(machine, &writer);
    encode_keys(machine, &writer);
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
    uint32_t messages;
    uint32_t keys;
};

// Empties the machine: the state, layout and free list tc_room_init leaves (the entry arrays keep
// stale bytes, which nothing reads beyond the counts).
static void checkpoint_reset(struct tc_room_machine *machine) {
    const struct tc_room_config *config = &machine->config;
    machine->op_last = 0;
    machine->rooms_count = 0;
    machine->members_count = 0;
    machine->keys_head = 0;
    machine->keys_count = 0;
    machine->messages_head = 0;
    machine->messages_count = 0;
    machine->body_position_next = 0;
    tc_room__index_init(&machine->rooms_index, machine->rooms_index.slots, config->rooms_max);
    tc_room__index_init(&machine->members_index, machine->members_index.slots,
                        config->members_max);
    tc_room__index_init(&machine->keys_index, machine->keys_index.slots,
                        config->idempotency_keys_max);
    tc_room__index_init(&machine->messages_index, machine->messages_index.slots,
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
           tc_le_get_u32(p + 32) == config->body_bytes_max;
}

static int decode_header(struct tc_room_machine *machine, struct checkpoint_reader *reader,
                         struct checkpoint_counts *counts) {
    const struct tc_room_config *config = &machine->config;
    const uint8_t *p = reader_take(reader, TC_ROOM_CHECKPOINT_HEADER_SIZE);
    if (p == NULL) return TC_ECORRUPT;
    if (tc_le_get_u32(p + 0) != TC_ROOM_CHECKPOINT_MAGIC) return TC_ECORRUPT;
    if (tc_le_get_u32(p + 4) != TC_ROOM_CHECKPOINT_VERSION) return TC_ECORRUPT;
    if (tc_le_get_u64(p + 8) != reader->size) return TC_ECORRUPT;
    if (!header_config_equal(config, p)) return TC_ECORRUPT;
    if (tc_le_get_u32(p + 36) != 0) return TC_ECORRUPT;
    uint64_t op_last = tc_le_get_u64(p + 40);
    uint64_t body_position_next = tc_le_get_u64(p + 48);
    if (op_last == UINT64_MAX) return TC_ECORRUPT; // no op could follow
    if (body_position_next > CHECKPOINT_POSITION_MAX) return TC_ECORRUPT;
    counts->rooms = tc_le_get_u32(p + 56);
    counts->members = tc_le_get_u32(p + 60);
    counts->messages = tc_le_get_u32(p + 64);
    counts->keys = tc_le_get_u32(p + 68);
    if (counts->rooms > config->rooms_max) return TC_ECORRUPT;
    if (counts->members > config->members_max) return TC_ECORRUPT;
    if (counts->messages > config->messages_max) return TC_ECORRUPT;
    if (counts->keys > config->idempotency_keys_max) return TC_ECORRUPT;
    machine->op_last = op_last;
    machine->body_position_next = body_position_next;
    return TC_OK;
}

static int decode_room(struct tc_room_machine *machine, const uint8_t *p) {
    struct room_entry entry;
    memset(&entry, 0, sizeof(entry));
    entry.id = tc_le_get_u64(p + 0);
    entry.seq_last = tc_le_get_u64(p + 8);
    entry.seq_retained_min = tc_le_get_u64(p + 16);
    memcpy(entry.hash_last.bytes, p + 24, sizeof(entry.hash_last.bytes));
    entry.member_count = tc_le_get_u32(p + 56);
    entry.kind = tc_le_get_u32(p + 60);
    if (entry.id == 0) return TC_ECORRUPT;
    if (entry.kind != ROOM_KIND_GROUP && entry.kind != ROOM_KIND_DM) return TC_ECORRUPT;
    if (entry.kind == ROOM_KIND_DM && entry.member_count != 2) return TC_ECORRUPT;
    if (entry.seq_last == UINT64_MAX) return TC_ECORRUPT; // the next seq must exist
    if (entry.seq_retained_min == 0) return TC_ECORRUPT;
    if (entry.seq_retained_min > entry.seq_last + 1u) return TC_ECORRUPT;
    bool hash_zero = bytes_are_zero(entry.hash_last.bytes, sizeof(entry.hash_last.bytes));
    if (entry.seq_last == 0 && !hash_zero) return TC_ECORRUPT;
    if (tc_room__find(machine, entry.id) != ROOM_INDEX_NONE) return TC_ECORRUPT; // duplicate

    uint32_t index = machine->rooms_count;
    tc_assert(index < machine->config.rooms_max);
    machine->rooms[index] = entry;
    machine->rooms_count += 1;
    tc_room__index_insert(&machine->rooms_index, tc_room__hash_u64(entry.id, 0), index);
    return TC_OK;
}

// The sum of the rooms' member counts must be the member count (decode_members checks each one).
static int decode_rooms(struct tc_room_machine *machine, struct checkpoint_reader *reader,
                        const struct checkpoint_counts *counts) {
    uint64_t member_count_sum = 0;
    for (uint32_t i = 0; i < counts->rooms; i++) {
        const uint8_t *p = reader_take(reader, TC_ROOM_CHECKPOINT_ROOM_SIZE);
        if (p == NULL) return TC_ECORRUPT;
        int rc = decode_room(machine, p);
        if (rc != TC_OK) return rc;
        member_count_sum += machine->rooms[i].member_count;
    }
    tc_assert(machine->rooms_count == counts->rooms);
    if (member_count_sum != counts->members) return TC_ECORRUPT;
    return TC_OK;
}

// Takes the next pool record: reset left the free list 0, 1, 2, ..., so the decoded members fill
// the pool from index 0 and the free list continues after them.
static void member_insert(struct tc_room_machine *machine, uint64_t room, uint64_t user) {
    uint32_t index = machine->members_count;
    tc_assert(index < machine->config.members_max);
    tc_assert(machine->members_free == index + 1u);
    struct room_member *member = &machine->members[index];
    tc_assert(member->used == 0);
    machine->members_free = member->free_next;
    member->room = room;
    member->user = user;
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
static int decode_members(struct tc_room_machine *machine, struct checkpoint_reader *reader,
                          const struct checkpoint_counts *counts) {
    struct member_run run = {.room_index = ROOM_INDEX_NONE, .length = 0};
    const uint8_t *previous = NULL;
    for (uint32_t i = 0; i < counts->members; i++) {
        const uint8_t *p = reader_take(reader, TC_ROOM_CHECKPOINT_MEMBER_SIZE);
        if (p == NULL) return TC_ECORRUPT;
        uint64_t room = tc_le_get_u64(p + 0);
        uint64_t user = tc_le_get_u64(p + 8);
        if (user == 0) return TC_ECORRUPT;
        if (previous != NULL && !member_record_less(previous, p)) return TC_ECORRUPT;
        if (previous == NULL || tc_le_get_u64(previous) != room) {
            if (!member_run_complete(machine, &run)) return TC_ECORRUPT;
            run.room_index = tc_room__find(machine, room);
            run.length = 0;
            if (run.room_index == ROOM_INDEX_NONE) return TC_ECORRUPT;
        }
        member_insert(machine, room, user);
        run.length += 1;
        previous = p;
    }
    if (!member_run_complete(machine, &run)) return TC_ECORRUPT;
    tc_assert(machine->members_count == counts->members);
    return TC_OK;
}

// Reads one message record and its body (structure only).
static int message_read(struct checkpoint_reader *reader, struct room_message *message,
                        const uint8_t **body) {
    const uint8_t *p = reader_take(reader, TC_ROOM_CHECKPOINT_MESSAGE_SIZE);
    if (p == NULL) return TC_ECORRUPT;
    memset(message, 0, sizeof(*message));
    message->room = tc_le_get_u64(p + 0);
    message->seq = tc_le_get_u64(p + 8);
    message->thread_parent_seq = tc_le_get_u64(p + 16);
    message->thread_seq = tc_le_get_u64(p + 24);
    message->thread_seq_last = tc_le_get_u64(p + 32);
    message->sender = tc_le_get_u64(p + 40);
    message->timestamp_ns = tc_le_get_u64(p + 48);
    message->body_position = tc_le_get_u64(p + 56);
    message->body_size = tc_le_get_u32(p + 64);
    if (tc_le_get_u32(p + 68) != 0) return TC_ECORRUPT;
    memcpy(message->hash.bytes, p + 72, sizeof(message->hash.bytes));
    memcpy(message->prev_hash.bytes, p + 104, sizeof(message->prev_hash.bytes));
    if (message->body_size == 0 || message->body_size > TC_ROOM_BODY_SIZE_MAX) return TC_ECORRUPT;
    *body = reader_take(reader, message->body_size);
    if (*body == NULL) return TC_ECORRUPT;
    return TC_OK;
}

// Message i's body sits where append put it: right after message i - 1's body, or at the start of
// the next lap of the ring if it would straddle the ring's end. It never straddles the end.
static bool message_position_valid(const struct tc_room_machine *machine,
                                   const struct room_message *message, uint32_t i,
                                   uint64_t position_end_previous) {
    uint64_t ring_size = machine->config.body_bytes_max;
    uint64_t position = message->body_position;
    if (position > machine->body_position_next) return false; // also bounds the arithmetic
    if (position % ring_size + message->body_size > ring_size) return false;
    if (i == 0) return true;
    uint64_t expected = position_end_previous;
    if (expected % ring_size + message->body_size > ring_size) {
        expected = tc_align_up(expected, ring_size);
    }
    return position == expected;
}

// A room's retained messages arrive in seq order from seq_retained_min (so its first one in the
// ring is seq_retained_min and the rest follow without gaps), each linked to the one before, and
// each hash is the chain step over its fields and body.
static bool message_chain_valid(const struct tc_room_machine *machine,
                                const struct room_entry *room, const struct room_message *message,
                                const uint8_t *body) {
    if (message->seq > room->seq_retained_min) {
        uint32_t slot = tc_room__messages_find(machine, message->room, message->seq - 1u);
        if (slot == ROOM_INDEX_NONE) return false;
        if (!tc_hash256_equal(&message->prev_hash, &machine->messages[slot].hash)) return false;
    } else if (message->seq == 1) {
        if (!bytes_are_zero(message->prev_hash.bytes, sizeof(message->prev_hash.bytes))) {
            return false;
        }
    }
    struct tc_hash256 hash;
    tc_room_chain_hash(&hash, &message->prev_hash, message->room, message->seq, message->sender,
                       message->timestamp_ns, body, message->body_size);
    return tc_hash256_equal(&hash, &message->hash);
}

// A root has thread_seq 0; a reply names an earlier root (when still retained, a root whose reply
// counter covers it), has thread_seq >= 1 and no replies of its own.
static bool message_thread_valid(const struct tc_room_machine *machine,
                                 const struct room_entry *room,
                                 const struct room_message *message) {
    if (message->thread_parent_seq == 0) {
        return message->thread_seq == 0 && message->thread_seq_last < UINT64_MAX;
    }
    if (message->thread_parent_seq >= message->seq) return false;
    if (message->thread_seq == 0 || message->thread_seq_last != 0) return false;
    if (message->thread_parent_seq < room->seq_retained_min) return true; // the root was evicted
    uint32_t slot = tc_room__messages_find(machine, message->room, message->thread_parent_seq);
    if (slot == ROOM_INDEX_NONE) return false;
    const struct room_message *root = &machine->messages[slot];
    return root->thread_parent_seq == 0 && message->thread_seq <= root->thread_seq_last;
}

static int message_check(const struct tc_room_machine *machine, struct room_message *message,
                         const uint8_t *body) {
    uint32_t room_index = tc_room__find(machine, message->room);
    if (room_index == ROOM_INDEX_NONE) return TC_ECORRUPT;
    const struct room_entry *room = &machine->rooms[room_index];
    if (message->sender == 0) return TC_ECORRUPT;
    if (message->seq < room->seq_retained_min) return TC_ECORRUPT;
    if (message->seq > room->seq_last) return TC_ECORRUPT;
    if (tc_room__messages_find(machine, message->room, message->seq) != ROOM_INDEX_NONE) {
        return TC_ECORRUPT; // duplicate
    }
    if (!message_chain_valid(machine, room, message, body)) return TC_ECORRUPT;
    if (!message_thread_valid(machine, room, message)) return TC_ECORRUPT;
    message->room_index = room_index;
    return TC_OK;
}

static void message_store(struct tc_room_machine *machine, const struct room_message *message,
                          const uint8_t *body) {
    tc_assert(machine->messages_head == 0);
    uint32_t slot = machine->messages_count;
    tc_assert(slot < machine->config.messages_max);
    machine->messages[slot] = *message;
    uint64_t physical = message->body_position % machine->config.body_bytes_max;
    tc_assert(physical + message->body_size <= machine->config.body_bytes_max);
    memcpy(machine->bodies + physical, body, message->body_size);
    machine->messages_count += 1;
    tc_room__index_insert(&machine->messages_index,
                          tc_room__hash_u64(message->room, message->seq), slot);
}

// After the last message, the ring's next position is the end of the newest body, and the retained
// bodies span at most the ring (append evicts until they do). An empty ring never held a message.
static int decode_messages(struct tc_room_machine *machine, struct checkpoint_reader *reader,
                           const struct checkpoint_counts *counts) {
    uint64_t position_first = 0;
    uint64_t position_end = 0;
    for (uint32_t i = 0; i < counts->messages; i++) {
        struct room_message message;
        const uint8_t *body = NULL;
        int rc = message_read(reader, &message, &body);
        if (rc != TC_OK) return rc;
        if (!message_position_valid(machine, &message, i, position_end)) return TC_ECORRUPT;
        rc = message_check(machine, &message, body);
        if (rc != TC_OK) return rc;
        message_store(machine, &message, body);
        if (i == 0) position_first = message.body_position;
        position_end = message.body_position + message.body_size;
    }
    if (position_end != machine->body_position_next) return TC_ECORRUPT;
    if (position_end - position_first > machine->config.body_bytes_max) return TC_ECORRUPT;
    return TC_OK;
}

// Every room's retained range seq_retained_min..seq_last is complete (its messages arrived without
// gaps, so the newest one must be there) and ends at the room's chain head.
static int decode_chain_heads(const struct tc_room_machine *machine) {
    for (uint32_t i = 0; i < machine->rooms_count; i++) {
        const struct room_entry *room = &machine->rooms[i];
        if (room->seq_retained_min > room->seq_last) continue; // nothing retained
        uint32_t slot = tc_room__messages_find(machine, room->id, room->seq_last);
        if (slot == ROOM_INDEX_NONE) return TC_ECORRUPT;
        if (!tc_hash256_equal(&machine->messages[slot].hash, &room->hash_last)) return TC_ECORRUPT;
    }
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

// A key names a committed message of an existing room; while that message is retained, the key
// holds its thread_seq and hash.
static bool key_valid(const struct tc_room_machine *machine, const struct room_idempotency *entry) {
    uint32_t room_index = tc_room__find(machine, entry->room);
    if (room_index == ROOM_INDEX_NONE) return false;
    const struct room_entry *room = &machine->rooms[room_index];
    if (bytes_are_zero(entry->key, TC_ROOM_KEY_SIZE)) return false;
    if (entry->seq == 0 || entry->seq > room->seq_last) return false;
    if (entry->seq < room->seq_retained_min) return true;
    uint32_t slot = tc_room__messages_find(machine, entry->room, entry->seq);
    tc_assert(slot != ROOM_INDEX_NONE); // decode_chain_heads proved the range complete
    const struct room_message *message = &machine->messages[slot];
    return message->thread_seq == entry->thread_seq &&
           tc_hash256_equal(&message->hash, &entry->hash);
}

static int decode_keys(struct tc_room_machine *machine, struct checkpoint_reader *reader,
                       const struct checkpoint_counts *counts) {
    tc_assert(machine->keys_head == 0);
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
    if (rc == TC_OK) rc = decode_members(machine, &reader, &counts);
    if (rc == TC_OK) rc = decode_messages(machine, &reader, &counts);
    if (rc == TC_OK) rc = decode_chain_heads(machine);
    if (rc == TC_OK) rc = decode_keys(machine, &reader, &counts);
    if (rc == TC_OK && reader.offset != reader.size) rc = TC_ECORRUPT; // trailing bytes
    if (rc != TC_OK) {
        checkpoint_reset(machine);
        return rc;
    }
    tc_assert(machine->rooms_count == counts.rooms);
    tc_assert(machine->members_count == counts.members);
    tc_assert(machine->messages_count == counts.messages);
    tc_assert(machine->keys_count == counts.keys);
    return TC_OK;
}
