// The thread window (docs/room.md §5): a FIFO ring of the newest `messages_max` messages across all
// rooms, each reduced to its thread metadata, indexed by (room, seq). The oldest message is evicted
// when a new one needs its slot (by count only). A room's messages therefore leave in seq order,
// and the window always holds a contiguous suffix seq_window_min..seq_last of every room. Message
// bodies and hashes are not here: they go to the sink (the message store) and nowhere else.

#include <string.h>

#include "room_internal.h"
#include "tc_assert.h"

struct window_key {
    uint64_t room;
    uint64_t seq;
};

static bool window_match(const void *context, uint32_t value, const void *key) {
    const struct tc_room_machine *machine = context;
    const struct window_key *k = key;
    tc_assert_hot(value < machine->config.messages_max);
    const struct room_window_entry *entry = &machine->window[value];
    return entry->room == k->room && entry->seq == k->seq;
}

static uint32_t window_find_position(const struct tc_room_machine *machine, uint64_t room,
                                     uint64_t seq) {
    struct window_key key = {.room = room, .seq = seq};
    return tc_room__index_find(&machine->window_index, tc_room__hash_u64(room, seq), window_match,
                               machine, &key);
}

uint32_t tc_room__window_find(const struct tc_room_machine *machine, uint64_t room, uint64_t seq) {
    uint32_t position = window_find_position(machine, room, seq);
    if (position == ROOM_INDEX_NONE) return ROOM_INDEX_NONE;
    uint32_t slot = tc_room__index_value(&machine->window_index, position);
    tc_assert(slot < machine->config.messages_max);
    return slot;
}

static void window_evict_oldest(struct tc_room_machine *machine) {
    tc_assert(machine->window_count > 0);
    uint32_t slot = machine->window_head;
    const struct room_window_entry *entry = &machine->window[slot];
    uint32_t position = window_find_position(machine, entry->room, entry->seq);
    tc_assert(position != ROOM_INDEX_NONE);
    tc_assert(tc_room__index_value(&machine->window_index, position) == slot);
    tc_room__index_remove_at(&machine->window_index, position);

    struct room_entry *room = &machine->rooms[entry->room_index];
    tc_assert(room->id == entry->room);
    tc_assert(room->seq_window_min == entry->seq); // a room's messages leave in seq order
    room->seq_window_min += 1;
    tc_assert(room->seq_window_min <= room->seq_last + 1);

    machine->window_head = (machine->window_head + 1u) % machine->config.messages_max;
    machine->window_count -= 1;
}

void tc_room__window_append(struct tc_room_machine *machine,
                            const struct room_window_entry *entry) {
    tc_assert(entry->room_index < machine->rooms_count);
    tc_assert(machine->rooms[entry->room_index].seq_last == entry->seq); // the newest message
    if (machine->window_count == machine->config.messages_max) window_evict_oldest(machine);
    tc_assert(machine->window_count < machine->config.messages_max);

    uint32_t slot = (machine->window_head + machine->window_count) % machine->config.messages_max;
    machine->window[slot] = *entry;
    machine->window_count += 1;
    tc_assert_hot(window_find_position(machine, entry->room, entry->seq) == ROOM_INDEX_NONE);
    tc_room__index_insert(&machine->window_index, tc_room__hash_u64(entry->room, entry->seq),
                          slot);
}
