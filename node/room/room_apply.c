// Applying a committed chat batch: validation, the eight ops (redact's own code and table are in
// room_redaction.c), membership (with read markers) and idempotency tables, the store budget and
// the sink. Every op checks all of its preconditions
// before it changes anything, so a failed op leaves the state untouched (and the sink hears nothing
// of it). The order of the checks is part of the semantics (docs/room.md §3).

#include <string.h>

#include "room_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

// ------------------------------------------------------------------------------------------------
// Rooms.

static bool room_match(const void *context, uint32_t value, const void *key) {
    const struct tc_room_machine *machine = context;
    tc_assert_hot(value < machine->rooms_count);
    return machine->rooms[value].id == *(const uint64_t *)key;
}

uint32_t tc_room__find(const struct tc_room_machine *machine, uint64_t room) {
    uint32_t position = tc_room__index_find(&machine->rooms_index, tc_room__hash_u64(room, 0),
                                            room_match, machine, &room);
    if (position == ROOM_INDEX_NONE) return ROOM_INDEX_NONE;
    uint32_t index = tc_room__index_value(&machine->rooms_index, position);
    tc_assert(index < machine->rooms_count);
    return index;
}

static uint32_t room_create(struct tc_room_machine *machine, uint64_t room, uint32_t kind) {
    tc_assert(machine->rooms_count < machine->config.rooms_max);
    tc_assert_hot(tc_room__find(machine, room) == ROOM_INDEX_NONE);
    uint32_t index = machine->rooms_count;
    struct room_entry *entry = &machine->rooms[index];
    memset(entry, 0, sizeof(*entry));
    entry->id = room;
    entry->kind = kind;
    entry->seq_last = 0;
    entry->seq_window_min = 1;
    entry->retention.mode = TC_ROOM_RETENTION_KEEP_ALL;
    entry->retention.value = 0;
    machine->rooms_count += 1;
    tc_room__index_insert(&machine->rooms_index, tc_room__hash_u64(room, 0), index);
    return index;
}

// ------------------------------------------------------------------------------------------------
// Members.

struct member_key {
    uint64_t room;
    uint64_t user;
};

static bool member_match(const void *context, uint32_t value, const void *key) {
    const struct tc_room_machine *machine = context;
    const struct member_key *k = key;
    tc_assert_hot(value < machine->config.members_max);
    const struct room_member *member = &machine->members[value];
    tc_assert_hot(member->used == 1);
    return member->room == k->room && member->user == k->user;
}

static uint32_t member_find_position(const struct tc_room_machine *machine, uint64_t room,
                                     uint64_t user) {
    struct member_key key = {.room = room, .user = user};
    return tc_room__index_find(&machine->members_index, tc_room__hash_u64(room, user), member_match,
                               machine, &key);
}

bool tc_room__member_exists(const struct tc_room_machine *machine, uint64_t room, uint64_t user) {
    return member_find_position(machine, room, user) != ROOM_INDEX_NONE;
}

uint32_t tc_room__member_find(const struct tc_room_machine *machine, uint64_t room, uint64_t user) {
    uint32_t position = member_find_position(machine, room, user);
    if (position == ROOM_INDEX_NONE) return ROOM_INDEX_NONE;
    uint32_t index = tc_room__index_value(&machine->members_index, position);
    tc_assert(index < machine->config.members_max);
    tc_assert(machine->members[index].used == 1);
    tc_assert(machine->members[index].room == room && machine->members[index].user == user);
    return index;
}

static bool member_exists(const struct tc_room_machine *machine, uint64_t room, uint64_t user) {
    return tc_room__member_exists(machine, room, user);
}

static void member_add(struct tc_room_machine *machine, uint32_t room_index, uint64_t user) {
    tc_assert(machine->members_count < machine->config.members_max);
    tc_assert(machine->members_free != 0);
    struct room_entry *room = &machine->rooms[room_index];
    tc_assert_hot(!member_exists(machine, room->id, user));
    uint32_t index = machine->members_free - 1u;
    struct room_member *member = &machine->members[index];
    tc_assert(member->used == 0);
    machine->members_free = member->free_next;
    member->room = room->id;
    member->user = user;
    member->read_seq = 0; // a (re-)joining member starts unread
    member->free_next = 0;
    member->used = 1;
    machine->members_count += 1;
    room->member_count += 1;
    tc_room__index_insert(&machine->members_index, tc_room__hash_u64(room->id, user), index);
}

static void member_remove(struct tc_room_machine *machine, uint32_t room_index, uint64_t user) {
    struct room_entry *room = &machine->rooms[room_index];
    uint32_t position = member_find_position(machine, room->id, user);
    tc_assert(position != ROOM_INDEX_NONE);
    uint32_t index = tc_room__index_value(&machine->members_index, position);
    tc_room__index_remove_at(&machine->members_index, position);
    struct room_member *member = &machine->members[index];
    tc_assert(member->used == 1);
    tc_assert(member->read_seq <= room->seq_last);
    tc_assert(room->member_count > 0);
    memset(member, 0, sizeof(*member)); // the read marker goes with the membership
    member->free_next = machine->members_free;
    machine->members_free = index + 1u;
    machine->members_count -= 1;
    room->member_count -= 1;
}

// ------------------------------------------------------------------------------------------------
// Idempotency keys: a FIFO ring; the oldest entry is forgotten when a new one needs its place.

struct idempotency_key {
    uint64_t room;
    const uint8_t *key;
};

static bool key_match(const void *context, uint32_t value, const void *key) {
    const struct tc_room_machine *machine = context;
    const struct idempotency_key *k = key;
    tc_assert_hot(value < machine->config.idempotency_keys_max);
    const struct room_idempotency *entry = &machine->keys[value];
    return entry->room == k->room && memcmp(entry->key, k->key, TC_ROOM_KEY_SIZE) == 0;
}

static uint32_t key_find_position(const struct tc_room_machine *machine, uint64_t room,
                                  const uint8_t key[TC_ROOM_KEY_SIZE]) {
    struct idempotency_key k = {.room = room, .key = key};
    return tc_room__index_find(&machine->keys_index, tc_room__hash_key(room, key), key_match,
                               machine, &k);
}

static void key_evict_oldest(struct tc_room_machine *machine) {
    tc_assert(machine->keys_count > 0);
    const struct room_idempotency *oldest = &machine->keys[machine->keys_head];
    uint32_t position = key_find_position(machine, oldest->room, oldest->key);
    tc_assert(position != ROOM_INDEX_NONE);
    tc_assert(tc_room__index_value(&machine->keys_index, position) == machine->keys_head);
    tc_room__index_remove_at(&machine->keys_index, position);
    machine->keys_head = (machine->keys_head + 1u) % machine->config.idempotency_keys_max;
    machine->keys_count -= 1;
}

static void key_record(struct tc_room_machine *machine, const struct room_idempotency *entry) {
    tc_assert_hot(key_find_position(machine, entry->room, entry->key) == ROOM_INDEX_NONE);
    if (machine->keys_count == machine->config.idempotency_keys_max) key_evict_oldest(machine);
    tc_assert(machine->keys_count < machine->config.idempotency_keys_max);
    uint32_t slot =
        (machine->keys_head + machine->keys_count) % machine->config.idempotency_keys_max;
    machine->keys[slot] = *entry;
    machine->keys_count += 1;
    tc_room__index_insert(&machine->keys_index, tc_room__hash_key(entry->room, entry->key), slot);
}

// ------------------------------------------------------------------------------------------------
// Ops. Each returns a status and fills `result` (zeroed by the caller).

static void result_chain_head(const struct room_entry *room, struct tc_room_result *result) {
    result->seq = room->seq_last;
    result->hash = room->hash_last;
}

static uint8_t op_create(struct tc_room_machine *machine, const struct tc_room_op *op,
                         struct tc_room_result *result) {
    bool dm = op->kind == TC_ROOM_OP_CREATE_DM;
    uint32_t members_needed = dm ? 2u : 1u;
    if (op->room == 0) return TC_ROOM_INVALID_ROOM;
    if (op->user == 0) return TC_ROOM_INVALID_USER;
    if (dm && (op->user_b == 0 || op->user_b == op->user)) return TC_ROOM_INVALID_USER;
    if (tc_room__find(machine, op->room) != ROOM_INDEX_NONE) return TC_ROOM_ROOM_EXISTS;
    if (machine->rooms_count == machine->config.rooms_max) return TC_ROOM_ROOMS_FULL;
    if (machine->config.members_max - machine->members_count < members_needed) {
        return TC_ROOM_MEMBERS_FULL;
    }
    uint32_t index = room_create(machine, op->room, dm ? ROOM_KIND_DM : ROOM_KIND_GROUP);
    member_add(machine, index, op->user);
    if (dm) member_add(machine, index, op->user_b);
    tc_assert(machine->rooms[index].member_count == members_needed);
    result_chain_head(&machine->rooms[index], result);
    return TC_ROOM_OK;
}

static uint8_t op_join_leave(struct tc_room_machine *machine, const struct tc_room_op *op,
                             struct tc_room_result *result) {
    bool join = op->kind == TC_ROOM_OP_JOIN;
    tc_assert(join || op->kind == TC_ROOM_OP_LEAVE);
    if (op->room == 0) return TC_ROOM_INVALID_ROOM;
    if (op->user == 0) return TC_ROOM_INVALID_USER;
    uint32_t index = tc_room__find(machine, op->room);
    if (index == ROOM_INDEX_NONE) return TC_ROOM_ROOM_NOT_FOUND;
    if (machine->rooms[index].kind == ROOM_KIND_DM) return TC_ROOM_DM_FIXED;
    bool member = member_exists(machine, op->room, op->user);
    if (join) {
        if (member) return TC_ROOM_ALREADY_MEMBER;
        if (machine->members_count == machine->config.members_max) return TC_ROOM_MEMBERS_FULL;
        member_add(machine, index, op->user);
    } else {
        if (!member) return TC_ROOM_NOT_MEMBER;
        member_remove(machine, index, op->user);
    }
    tc_assert(member_exists(machine, op->room, op->user) == join);
    result_chain_head(&machine->rooms[index], result);
    return TC_ROOM_OK;
}

static bool key_is_zero(const uint8_t key[TC_ROOM_KEY_SIZE]) {
    uint8_t bits = 0;
    for (uint32_t i = 0; i < TC_ROOM_KEY_SIZE; i++) bits |= key[i];
    return bits == 0;
}

// Checks the thread parent of a send; on success *root is the parent's window slot (or NONE).
static uint8_t send_check_thread(const struct tc_room_machine *machine,
                                 const struct room_entry *room, uint64_t parent_seq,
                                 uint32_t *root) {
    *root = ROOM_INDEX_NONE;
    tc_assert(room->seq_window_min >= 1);
    tc_assert(room->seq_window_min <= room->seq_last + 1u);
    if (parent_seq == 0) return TC_ROOM_OK;
    if (parent_seq > room->seq_last) return TC_ROOM_THREAD_PARENT_NOT_FOUND;
    if (parent_seq < room->seq_window_min) return TC_ROOM_THREAD_PARENT_EVICTED;
    uint32_t slot = tc_room__window_find(machine, room->id, parent_seq);
    tc_assert(slot != ROOM_INDEX_NONE); // the window holds seq_window_min..seq_last
    if (machine->window[slot].thread_parent_seq != 0) return TC_ROOM_THREAD_PARENT_IS_REPLY;
    *root = slot;
    return TC_ROOM_OK;
}

// The duplicate check: a committed (room, key) returns its original result.
static bool send_duplicate(const struct tc_room_machine *machine, const struct tc_room_op *op,
                           struct tc_room_result *result) {
#if !defined(TC_PLANTED_BUG_SKIP_IDEMPOTENCY)
    uint32_t key_position = key_find_position(machine, op->room, op->key);
    if (key_position == ROOM_INDEX_NONE) return false;
    const struct room_idempotency *original =
        &machine->keys[tc_room__index_value(&machine->keys_index, key_position)];
    tc_assert(original->room == op->room);
    tc_assert(original->seq >= 1);
    result->duplicate = true;
    result->seq = original->seq;
    result->thread_seq = original->thread_seq;
    result->hash = original->hash;
    return true;
#else
    (void)machine;
    (void)op;
    (void)result;
    return false;
#endif
}

// Whether one more message of `body_size` bytes fits the store budget (0: no budget).
static bool send_fits_store(const struct tc_room_machine *machine, uint32_t body_size) {
    uint64_t cost = TC_ROOM_STORE_COST(body_size);
    tc_assert(machine->store_bytes_used <= ROOM_STORE_BYTES_LIMIT);
    if (machine->config.store_bytes_max == 0) return true;
    tc_assert(machine->store_bytes_used <= machine->config.store_bytes_max);
    return cost <= machine->config.store_bytes_max - machine->store_bytes_used;
}

static void sink_message(const struct tc_room_machine *machine, uint32_t room_index,
                         const struct tc_room_message *message) {
    if (!machine->sink_installed || machine->sink.message == NULL) return;
    machine->sink.message(machine->sink.context, room_index, message);
}

// Commits a send that passed every check: chain head, thread window, idempotency key, store budget,
// then the sink hears of it.
static void send_commit(struct tc_room_machine *machine, uint32_t index, uint32_t root,
                        const struct tc_room_op *op, uint64_t timestamp_ns,
                        struct tc_room_result *result) {
    struct room_entry *room = &machine->rooms[index];
    tc_assert(room->id == op->room);
    tc_assert(room->seq_last < UINT64_MAX); // a checkpoint never holds one (decode bounds it)
    struct tc_room_message message = {.room = op->room,
                                      .seq = room->seq_last + 1u,
                                      .thread_parent_seq = op->thread_parent_seq,
                                      .sender = op->user,
                                      .timestamp_ns = timestamp_ns,
                                      .prev_hash = room->hash_last,
                                      .body = op->body,
                                      .body_size = op->body_size};
    if (root != ROOM_INDEX_NONE) {
        machine->window[root].thread_seq_last += 1u; // before the append, which may evict it
        message.thread_seq = machine->window[root].thread_seq_last;
    }
    tc_room_chain_hash(&message.hash, &room->hash_last, op->room, message.seq, op->user,
                       timestamp_ns, op->body, op->body_size);
    room->seq_last = message.seq;
    room->hash_last = message.hash;
    struct room_window_entry entry = {.room = op->room,
                                      .seq = message.seq,
                                      .sender = op->user,
                                      .thread_parent_seq = message.thread_parent_seq,
                                      .thread_seq = message.thread_seq,
                                      .thread_seq_last = 0,
                                      .room_index = index};
    tc_room__window_append(machine, &entry);
    tc_assert(room->seq_window_min <= room->seq_last);

    struct room_idempotency key = {.room = op->room,
                                   .seq = message.seq,
                                   .thread_seq = message.thread_seq,
                                   .hash = message.hash};
    memcpy(key.key, op->key, TC_ROOM_KEY_SIZE);
#if !defined(TC_PLANTED_BUG_SKIP_IDEMPOTENCY)
    key_record(machine, &key);
#else
    (void)key_record;
#endif
    machine->store_bytes_used += TC_ROOM_STORE_COST(op->body_size);
    result->seq = message.seq;
    result->thread_seq = message.thread_seq;
    result->hash = message.hash;
    sink_message(machine, index, &message);
}

static uint8_t op_send(struct tc_room_machine *machine, const struct tc_room_op *op,
                       uint64_t timestamp_ns, struct tc_room_result *result) {
    tc_assert(op->body_size >= 1);
    tc_assert(op->body_size <= TC_ROOM_BODY_SIZE_MAX);
    if (op->room == 0) return TC_ROOM_INVALID_ROOM;
    if (op->user == 0) return TC_ROOM_INVALID_USER;
    if (key_is_zero(op->key)) return TC_ROOM_INVALID_KEY;
    uint32_t index = tc_room__find(machine, op->room);
    if (index == ROOM_INDEX_NONE) return TC_ROOM_ROOM_NOT_FOUND;
    if (send_duplicate(machine, op, result)) return TC_ROOM_OK;
    if (!member_exists(machine, op->room, op->user)) return TC_ROOM_NOT_MEMBER;
    uint32_t root = ROOM_INDEX_NONE;
    const struct room_entry *room = &machine->rooms[index];
    uint8_t status = send_check_thread(machine, room, op->thread_parent_seq, &root);
    if (status != TC_ROOM_OK) return status;
    if (!send_fits_store(machine, op->body_size)) return TC_ROOM_STORE_FULL;
    send_commit(machine, index, root, op, timestamp_ns, result);
    return TC_ROOM_OK;
}

static uint8_t op_set_retention(struct tc_room_machine *machine, const struct tc_room_op *op,
                                uint64_t timestamp_ns, struct tc_room_result *result) {
    if (op->room == 0) return TC_ROOM_INVALID_ROOM;
    if (op->user == 0) return TC_ROOM_INVALID_USER;
    if (!tc_room__retention_valid(op->retention.mode, op->retention.value)) {
        return TC_ROOM_INVALID_RETENTION;
    }
    uint32_t index = tc_room__find(machine, op->room);
    if (index == ROOM_INDEX_NONE) return TC_ROOM_ROOM_NOT_FOUND;
    if (!member_exists(machine, op->room, op->user)) return TC_ROOM_NOT_MEMBER;
    struct room_entry *room = &machine->rooms[index];
    tc_assert(room->id == op->room);
    room->retention = op->retention;
    tc_assert(tc_room__retention_valid(room->retention.mode, room->retention.value));
    result_chain_head(room, result);
    if (machine->sink_installed && machine->sink.retention != NULL) {
        machine->sink.retention(machine->sink.context, index, &room->retention, timestamp_ns);
    }
    return TC_ROOM_OK;
}

// Moves the member's read marker forward to `seq` (a lower or equal seq leaves it). No message, no
// sink event; the result carries the marker after the op and a zero hash.
static uint8_t op_read_marker(struct tc_room_machine *machine, const struct tc_room_op *op,
                              struct tc_room_result *result) {
    if (op->room == 0) return TC_ROOM_INVALID_ROOM;
    if (op->user == 0) return TC_ROOM_INVALID_USER;
    uint32_t index = tc_room__find(machine, op->room);
    if (index == ROOM_INDEX_NONE) return TC_ROOM_ROOM_NOT_FOUND;
    uint32_t member_index = tc_room__member_find(machine, op->room, op->user);
    if (member_index == ROOM_INDEX_NONE) return TC_ROOM_NOT_MEMBER;
    const struct room_entry *room = &machine->rooms[index];
    tc_assert(room->id == op->room);
    if (op->seq > room->seq_last) return TC_ROOM_INVALID_SEQ;
    struct room_member *member = &machine->members[member_index];
    tc_assert(member->read_seq <= room->seq_last);
    if (op->seq > member->read_seq) member->read_seq = op->seq;
    tc_assert(member->read_seq >= op->seq);
    tc_assert(member->read_seq <= room->seq_last);
    result->seq = member->read_seq;
    return TC_ROOM_OK;
}

static void op_apply(struct tc_room_machine *machine, const struct tc_room_op *op,
                     uint64_t timestamp_ns, struct tc_room_result *result) {
    memset(result, 0, sizeof(*result));
    uint8_t status = TC_ROOM_OK;
    switch (op->kind) {
    case TC_ROOM_OP_CREATE_ROOM:
    case TC_ROOM_OP_CREATE_DM: status = op_create(machine, op, result); break;
    case TC_ROOM_OP_JOIN:
    case TC_ROOM_OP_LEAVE: status = op_join_leave(machine, op, result); break;
    case TC_ROOM_OP_SEND: status = op_send(machine, op, timestamp_ns, result); break;
    case TC_ROOM_OP_SET_RETENTION:
        status = op_set_retention(machine, op, timestamp_ns, result);
        break;
    case TC_ROOM_OP_READ_MARKER: status = op_read_marker(machine, op, result); break;
    case TC_ROOM_OP_REDACT: status = tc_room__op_redact(machine, op, timestamp_ns, result); break;
    default: tc_unreachable();
    }
    if (status != TC_ROOM_OK) memset(result, 0, sizeof(*result));
    result->status = status;
}

uint32_t tc_room_apply(struct tc_room_machine *machine, uint64_t op, uint64_t timestamp_ns,
                       uint64_t client, const uint8_t *body, uint32_t body_size, uint8_t *reply,
                       uint32_t reply_size_max) {
    tc_assert(machine != NULL);
    tc_assert(reply != NULL);
    tc_assert(reply_size_max >= TC_ROOM_REPLY_SIZE_MAX);
    tc_assert(op > machine->op_last);
    (void)client; // users are named in the ops; the client (edge) authenticated them
    machine->op_last = op;

    struct tc_room_reply_writer writer;
    tc_room_reply_writer_init(&writer, reply, reply_size_max);
    struct tc_room_batch_reader reader;
    if (tc_room_batch_reader_init(&reader, body, body_size) != TC_OK) {
        struct tc_room_result malformed;
        memset(&malformed, 0, sizeof(malformed));
        malformed.status = TC_ROOM_MALFORMED_BATCH;
        tc_room_reply_writer_add(&writer, &malformed);
        return tc_room_reply_writer_finish(&writer);
    }
    struct tc_room_op decoded;
    for (uint32_t i = 0; i < TC_ROOM_BATCH_OPS_MAX; i++) {
        if (!tc_room_batch_reader_next(&reader, &decoded)) break;
        struct tc_room_result result;
        op_apply(machine, &decoded, timestamp_ns, &result);
        tc_room_reply_writer_add(&writer, &result);
    }
    tc_assert(writer.count == reader.op_count);
    return tc_room_reply_writer_finish(&writer);
}
