// Local reads of the room state machine (not through consensus): chain heads, room info,
// membership, read markers and the store budget. History is not here: the message store serves it
// (docs/store.md §6).

#include <string.h>

#include "room_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

uint32_t tc_room_count(const struct tc_room_machine *machine) {
    tc_assert(machine != NULL);
    tc_assert(machine->rooms_count <= machine->config.rooms_max);
    return machine->rooms_count;
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

void tc_room_info_at(const struct tc_room_machine *machine, uint32_t index,
                     struct tc_room_info *info) {
    tc_assert(machine != NULL);
    tc_assert(info != NULL);
    tc_assert(index < machine->rooms_count);
    const struct room_entry *room = &machine->rooms[index];
    memset(info, 0, sizeof(*info));
    info->room = room->id;
    info->index = index;
    info->kind = room->kind;
    info->seq_last = room->seq_last;
    info->hash_last = room->hash_last;
    info->retention = room->retention;
    info->member_count = room->member_count;
}

int tc_room_info(const struct tc_room_machine *machine, uint64_t room, struct tc_room_info *info) {
    tc_assert(machine != NULL);
    tc_assert(info != NULL);
    uint32_t room_index = tc_room__find(machine, room);
    if (room_index == ROOM_INDEX_NONE) return TC_ENOENT;
    tc_room_info_at(machine, room_index, info);
    tc_assert(info->room == room);
    return TC_OK;
}

bool tc_room_is_member(const struct tc_room_machine *machine, uint64_t room, uint64_t user) {
    tc_assert(machine != NULL);
    tc_assert(machine->members_count <= machine->config.members_max);
    return tc_room__member_exists(machine, room, user);
}

int tc_room_read_marker(const struct tc_room_machine *machine, uint64_t room, uint64_t user,
                        uint64_t *seq) {
    tc_assert(machine != NULL);
    tc_assert(seq != NULL);
    uint32_t member_index = tc_room__member_find(machine, room, user);
    if (member_index == ROOM_INDEX_NONE) return TC_ENOENT; // also: no such room
    const struct room_member *member = &machine->members[member_index];
    uint32_t room_index = tc_room__find(machine, room);
    tc_assert(room_index != ROOM_INDEX_NONE); // a member's room exists
    tc_assert(member->read_seq <= machine->rooms[room_index].seq_last);
    *seq = member->read_seq;
    return TC_OK;
}

uint64_t tc_room_store_bytes_used(const struct tc_room_machine *machine) {
    tc_assert(machine != NULL);
    tc_assert(machine->config.store_bytes_max == 0 ||
              machine->store_bytes_used <= machine->config.store_bytes_max);
    return machine->store_bytes_used;
}
