// Retained messages: a FIFO ring of message records (messages_max) plus a ring of body bytes
// (body_bytes_max), indexed by (room, seq). The oldest message (across all rooms) is evicted first
// when either ring is full. Bodies are contiguous: a body that would straddle the end of the byte
// ring starts at the ring's beginning instead (the skipped tail counts as used until the messages
// before it are evicted). Positions are logical (monotonic u64); physical = logical % size.

#include <string.h>

#include "room_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

struct message_key {
    uint64_t room;
    uint64_t seq;
};

static bool message_match(const void *context, uint32_t value, const void *key) {
    const struct tc_room_machine *machine = context;
    const struct message_key *k = key;
    tc_assert_hot(value < machine->config.messages_max);
    const struct room_message *message = &machine->messages[value];
    return message->room == k->room && message->seq == k->seq;
}

uint32_t tc_room__messages_find(const struct tc_room_machine *machine, uint64_t room,
                                uint64_t seq) {
    struct message_key key = {.room = room, .seq = seq};
    uint32_t position = tc_room__index_find(&machine->messages_index, tc_room__hash_u64(room, seq),
                                            message_match, machine, &key);
    if (position == ROOM_INDEX_NONE) return ROOM_INDEX_NONE;
    uint32_t slot = tc_room__index_value(&machine->messages_index, position);
    tc_assert(slot < machine->config.messages_max);
    return slot;
}

const uint8_t *tc_room__message_body(const struct tc_room_machine *machine,
                                     const struct room_message *message) {
    uint64_t physical = message->body_position % machine->config.body_bytes_max;
    tc_assert(physical + message->body_size <= machine->config.body_bytes_max);
    return machine->bodies + physical;
}

static void messages_evict_oldest(struct tc_room_machine *machine) {
    tc_assert(machine->messages_count > 0);
    uint32_t slot = machine->messages_head;
    const struct room_message *message = &machine->messages[slot];
    struct message_key key = {.room = message->room, .seq = message->seq};
    uint32_t position =
        tc_room__index_find(&machine->messages_index, tc_room__hash_u64(key.room, key.seq),
                            message_match, machine, &key);
    tc_assert(position != ROOM_INDEX_NONE);
    tc_assert(tc_room__index_value(&machine->messages_index, position) == slot);
    tc_room__index_remove_at(&machine->messages_index, position);

    struct room_entry *room = &machine->rooms[message->room_index];
    tc_assert(room->id == message->room);
    tc_assert(room->seq_retained_min == message->seq); // a room's messages leave in seq order
    room->seq_retained_min += 1;
    tc_assert(room->seq_retained_min <= room->seq_last + 1);

    machine->messages_head = (machine->messages_head + 1u) % machine->config.messages_max;
    machine->messages_count -= 1;
}

// The logical position a body of `size` bytes goes to: the next position, or the start of the
// next lap of the ring if the body would straddle its end.
static uint64_t body_position_for(const struct tc_room_machine *machine, uint32_t size) {
    uint64_t ring_size = machine->config.body_bytes_max;
    uint64_t position = machine->body_position_next;
    if (position % ring_size + size > ring_size) position = tc_align_up(position, ring_size);
    tc_assert(position % ring_size + size <= ring_size);
    return position;
}

void tc_room__messages_append(struct tc_room_machine *machine, const struct room_message *message,
                              const uint8_t *body) {
    tc_assert(message->body_size >= 1);
    tc_assert(message->body_size <= TC_ROOM_BODY_SIZE_MAX);
    uint64_t position = body_position_for(machine, message->body_size);
    uint64_t end = position + message->body_size;
    for (uint32_t i = 0; i <= machine->config.messages_max; i++) {
        if (machine->messages_count == 0) break;
        const struct room_message *oldest = &machine->messages[machine->messages_head];
        bool records_full = machine->messages_count == machine->config.messages_max;
        bool bytes_full = end - oldest->body_position > machine->config.body_bytes_max;
        if (!records_full && !bytes_full) break;
        messages_evict_oldest(machine);
    }
    tc_assert(machine->messages_count < machine->config.messages_max);

    uint32_t slot =
        (machine->messages_head + machine->messages_count) % machine->config.messages_max;
    struct room_message *stored = &machine->messages[slot];
    *stored = *message;
    stored->body_position = position;
    memcpy(machine->bodies + position % machine->config.body_bytes_max, body, message->body_size);
    machine->body_position_next = end;
    machine->messages_count += 1;
    tc_assert_hot(tc_room__messages_find(machine, message->room, message->seq) == ROOM_INDEX_NONE);
    uint64_t hash = tc_room__hash_u64(message->room, message->seq);
    tc_room__index_insert(&machine->messages_index, hash, slot);
}

static void message_export(const struct tc_room_machine *machine,
                           const struct room_message *message, struct tc_room_message *out) {
    out->room = message->room;
    out->seq = message->seq;
    out->thread_parent_seq = message->thread_parent_seq;
    out->thread_seq = message->thread_seq;
    out->sender = message->sender;
    out->timestamp_ns = message->timestamp_ns;
    out->hash = message->hash;
    out->prev_hash = message->prev_hash;
    out->body = tc_room__message_body(machine, message);
    out->body_size = message->body_size;
}

int tc_room_history(const struct tc_room_machine *machine, uint64_t room, uint64_t from_seq,
                    uint32_t limit, struct tc_room_message *out, uint32_t *count,
                    uint64_t *seq_retained_min) {
    tc_assert(machine != NULL);
    tc_assert(out != NULL || limit == 0);
    tc_assert(count != NULL);
    tc_assert(seq_retained_min != NULL);
    *count = 0;
    *seq_retained_min = 0;
    uint32_t room_index = tc_room__find(machine, room);
    if (room_index == ROOM_INDEX_NONE) return TC_ENOENT;
    const struct room_entry *entry = &machine->rooms[room_index];
    *seq_retained_min = entry->seq_retained_min;
    if (from_seq == 0) from_seq = 1;
    if (from_seq < entry->seq_retained_min) return TC_ERANGE;
    uint32_t copied = 0;
    for (uint64_t seq = from_seq; seq <= entry->seq_last && copied < limit; seq++) {
        uint32_t slot = tc_room__messages_find(machine, room, seq);
        tc_assert(slot != ROOM_INDEX_NONE); // retained seqs are contiguous
        const struct room_message *message = &machine->messages[slot];
        tc_assert(message->room == room);
        tc_assert(message->seq == seq);
        message_export(machine, message, &out[copied]);
        copied += 1;
    }
    *count = copied;
    return TC_OK;
}

int tc_room_chain_head(const struct tc_room_machine *machine, uint64_t room, uint64_t *seq,
                       struct tc_hash256 *hash) {
    tc_assert(machine != NULL);
    tc_assert(seq != NULL);
    tc_assert(hash != NULL);
    uint32_t room_index = tc_room__find(machine, room);
    if (room_index == ROOM_INDEX_NONE) return TC_ENOENT;
    *seq = machine->rooms[room_index].seq_last;
    *hash = machine->rooms[room_index].hash_last;
    return TC_OK;
}
