// Redaction (docs/room.md §3, redact): the op and the redaction table. A redaction names a message
// (room, seq) and its sender; the table is append-only (a redaction is permanent: every later read
// of the message must honour it), indexed by (room, seq), and bounded by messages_max entries.
//
// The sender check needs the message's sender, which the machine keeps only in the thread window
// (room_window.c): a message can be redacted while it is among the group's newest messages_max
// messages (the redaction horizon); an older one answers message_evicted. Nothing here touches the
// hash chain: the message keeps its hash, and the message store serves it without its body
// (docs/store.md §6, S8).

#include <string.h>

#include "room_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

struct redaction_key {
    uint64_t room;
    uint64_t seq;
};

static uint64_t redaction_hash(uint64_t room, uint64_t seq) {
    return tc_room__hash_u64(room ^ 0x7265646163746564ull, seq); // "redacted": not the window's
}

static bool redaction_match(const void *context, uint32_t value, const void *key) {
    const struct tc_room_machine *machine = context;
    const struct redaction_key *k = key;
    tc_assert_hot(value < machine->redactions_count);
    const struct room_redaction *redaction = &machine->redactions[value];
    return redaction->room == k->room && redaction->seq == k->seq;
}

uint32_t tc_room__redaction_find(const struct tc_room_machine *machine, uint64_t room,
                                 uint64_t seq) {
    tc_assert(machine->redactions_count <= machine->config.messages_max);
    if (machine->redactions_count == 0) return ROOM_INDEX_NONE;
    struct redaction_key key = {.room = room, .seq = seq};
    uint32_t position = tc_room__index_find(&machine->redactions_index, redaction_hash(room, seq),
                                            redaction_match, machine, &key);
    if (position == ROOM_INDEX_NONE) return ROOM_INDEX_NONE;
    uint32_t index = tc_room__index_value(&machine->redactions_index, position);
    tc_assert(index < machine->redactions_count);
    tc_assert(machine->redactions[index].room == room && machine->redactions[index].seq == seq);
    return index;
}

void tc_room__redaction_append(struct tc_room_machine *machine,
                               const struct room_redaction *redaction) {
    tc_assert(redaction->seq != 0);
    tc_assert(redaction->sender != 0);
    tc_assert(machine->redactions_count < machine->config.messages_max);
    tc_assert_hot(tc_room__redaction_find(machine, redaction->room, redaction->seq) ==
                  ROOM_INDEX_NONE);
    uint32_t index = machine->redactions_count;
    machine->redactions[index] = *redaction;
    machine->redactions_count += 1;
    tc_room__index_insert(&machine->redactions_index,
                          redaction_hash(redaction->room, redaction->seq), index);
    tc_assert(tc_room__redaction_find(machine, redaction->room, redaction->seq) == index);
}

// The sink hears of a committed redaction through its message callback (docs/room.md §3.1).
static void redaction_sink(const struct tc_room_machine *machine, uint32_t room_index,
                           const struct room_redaction *redaction, uint64_t timestamp_ns) {
    tc_assert(room_index < machine->rooms_count);
    tc_assert(machine->rooms[room_index].id == redaction->room);
    if (!machine->sink_installed || machine->sink.message == NULL) return;
    struct tc_room_message event;
    memset(&event, 0, sizeof(event));
    event.room = redaction->room;
    event.seq = redaction->seq;
    event.sender = redaction->sender;
    event.timestamp_ns = timestamp_ns;
    event.redacted = true;
    machine->sink.message(machine->sink.context, room_index, &event);
}

// Checks 6-9 of docs/room.md §3 (redact), for a seq of the room's committed range: the duplicate,
// the horizon, the sender, the table's capacity. TC_ROOM_OK means "commit it".
static uint8_t redact_check(const struct tc_room_machine *machine, const struct room_entry *room,
                            const struct tc_room_op *op, struct tc_room_result *result) {
    tc_assert(op->seq >= 1 && op->seq <= room->seq_last);
    uint32_t existing = tc_room__redaction_find(machine, op->room, op->seq);
    if (existing != ROOM_INDEX_NONE) {
        if (machine->redactions[existing].sender != op->user) return TC_ROOM_NOT_SENDER;
        result->duplicate = true;
        return TC_ROOM_OK;
    }
    if (op->seq < room->seq_window_min) return TC_ROOM_MESSAGE_EVICTED;
    uint32_t slot = tc_room__window_find(machine, op->room, op->seq);
    tc_assert(slot != ROOM_INDEX_NONE); // the window holds seq_window_min..seq_last
    tc_assert(machine->window[slot].sender != 0);
    if (machine->window[slot].sender != op->user) return TC_ROOM_NOT_SENDER;
    if (machine->redactions_count == machine->config.messages_max) return TC_ROOM_REDACTIONS_FULL;
    return TC_ROOM_OK;
}

uint8_t tc_room__op_redact(struct tc_room_machine *machine, const struct tc_room_op *op,
                           uint64_t timestamp_ns, struct tc_room_result *result) {
    tc_assert(op->kind == TC_ROOM_OP_REDACT);
    tc_assert(!result->duplicate);
    if (op->room == 0) return TC_ROOM_INVALID_ROOM;
    if (op->user == 0) return TC_ROOM_INVALID_USER;
    uint32_t room_index = tc_room__find(machine, op->room);
    if (room_index == ROOM_INDEX_NONE) return TC_ROOM_ROOM_NOT_FOUND;
    if (!tc_room__member_exists(machine, op->room, op->user)) return TC_ROOM_NOT_MEMBER;
    const struct room_entry *room = &machine->rooms[room_index];
    tc_assert(room->id == op->room);
    if (op->seq == 0 || op->seq > room->seq_last) return TC_ROOM_INVALID_SEQ;
    uint8_t status = redact_check(machine, room, op, result);
    if (status != TC_ROOM_OK) return status;
    result->seq = op->seq;
    if (result->duplicate) return TC_ROOM_OK; // already redacted: nothing new, no event
    struct room_redaction redaction = {.room = op->room, .seq = op->seq, .sender = op->user};
    tc_room__redaction_append(machine, &redaction);
    redaction_sink(machine, room_index, &redaction, timestamp_ns);
    return TC_ROOM_OK;
}

// ------------------------------------------------------------------------------------------------
// Reads.

bool tc_room_redacted(const struct tc_room_machine *machine, uint64_t room, uint64_t seq) {
    tc_assert(machine != NULL);
    tc_assert(machine->redactions_count <= machine->config.messages_max);
    return tc_room__redaction_find(machine, room, seq) != ROOM_INDEX_NONE;
}

uint32_t tc_room_redaction_count(const struct tc_room_machine *machine) {
    tc_assert(machine != NULL);
    tc_assert(machine->redactions_count <= machine->config.messages_max);
    return machine->redactions_count;
}
