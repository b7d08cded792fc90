// The room state machine: configuration, memory layout, init, sink, digest and the chain hash.
// The ops themselves are in room_apply.c (redact and its table in room_redaction.c), the thread
// window in room_window.c, local reads in room_read.c, the wire encodings in room_codec.c, the
// checkpoint in room_checkpoint.c and the shared hash index in room_table.c. Semantics:
// docs/room.md.

#include <string.h>

#include "room_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

const char *tc_room_config_invalid(const struct tc_room_config *config) {
    if (config == NULL) return "config is NULL";
    if (config->rooms_max < 1) return "rooms_max must be >= 1";
    if (config->rooms_max > ROOM_CONFIG_ROOMS_MAX) return "rooms_max is too large";
    if (config->members_max < 2) return "members_max must be >= 2";
    if (config->members_max > ROOM_CONFIG_ENTRIES_MAX) return "members_max is too large";
    if (config->idempotency_keys_max < 1) return "idempotency_keys_max must be >= 1";
    if (config->idempotency_keys_max > ROOM_CONFIG_ENTRIES_MAX) {
        return "idempotency_keys_max is too large";
    }
    if (config->messages_max < 1) return "messages_max must be >= 1";
    if (config->messages_max > ROOM_CONFIG_ENTRIES_MAX) return "messages_max is too large";
    if (config->store_bytes_max > ROOM_STORE_BYTES_LIMIT) return "store_bytes_max is too large";
    return NULL;
}

// One place computes the layout both for sizing (arena NULL) and for allocating, so
// tc_room_memory_size and tc_room_init cannot disagree.
struct layout {
    struct tc_arena *arena; // NULL: size only
    uint64_t size_bytes;
    bool failed;
};

#define LAYOUT_ALIGNMENT 64u

static void *layout_alloc(struct layout *layout, uint64_t size_bytes) {
    tc_assert(size_bytes > 0);
    layout->size_bytes += tc_align_up(size_bytes, LAYOUT_ALIGNMENT) + LAYOUT_ALIGNMENT;
    if (layout->arena == NULL || layout->failed) return NULL;
    void *result = tc_arena_alloc(layout->arena, size_bytes, LAYOUT_ALIGNMENT);
    if (result == NULL) layout->failed = true;
    return result;
}

static struct room_index_slot *layout_index(struct layout *layout, uint32_t count_max) {
    uint64_t capacity = tc_room__index_capacity(count_max);
    return layout_alloc(layout, capacity * sizeof(struct room_index_slot));
}

#define LAYOUT_INDEXES 5u // rooms, members, keys, window, redactions

static struct tc_room_machine *layout_machine(struct layout *layout,
                                              const struct tc_room_config *config,
                                              struct room_index_slot *slots[LAYOUT_INDEXES]) {
    struct tc_room_machine *machine = layout_alloc(layout, sizeof(struct tc_room_machine));
    struct room_entry *rooms = layout_alloc(layout, sizeof(*rooms) * config->rooms_max);
    struct room_member *members = layout_alloc(layout, sizeof(*members) * config->members_max);
    struct room_idempotency *keys =
        layout_alloc(layout, sizeof(*keys) * config->idempotency_keys_max);
    struct room_window_entry *window = layout_alloc(layout, sizeof(*window) * config->messages_max);
    // The redaction table's capacity is messages_max (docs/room.md §3, redact).
    struct room_redaction *redactions =
        layout_alloc(layout, sizeof(*redactions) * config->messages_max);
    slots[0] = layout_index(layout, config->rooms_max);
    slots[1] = layout_index(layout, config->members_max);
    slots[2] = layout_index(layout, config->idempotency_keys_max);
    slots[3] = layout_index(layout, config->messages_max);
    slots[4] = layout_index(layout, config->messages_max);
    if (layout->arena == NULL || layout->failed) return NULL;
    machine->rooms = rooms;
    machine->members = members;
    machine->keys = keys;
    machine->window = window;
    machine->redactions = redactions;
    return machine;
}

uint64_t tc_room_memory_size(const struct tc_room_config *config) {
    tc_assert(tc_room_config_invalid(config) == NULL);
    struct layout layout = {.arena = NULL, .size_bytes = 0, .failed = false};
    struct room_index_slot *slots[LAYOUT_INDEXES];
    struct tc_room_machine *machine = layout_machine(&layout, config, slots);
    tc_assert(machine == NULL);
    tc_assert(layout.size_bytes > 0);
    return layout.size_bytes;
}

int tc_room_init(struct tc_room_machine **out, const struct tc_room_config *config,
                 struct tc_arena *arena) {
    tc_assert(out != NULL);
    tc_assert(arena != NULL);
    *out = NULL;
    if (tc_room_config_invalid(config) != NULL) return TC_EINVAL;
    struct layout layout = {.arena = arena, .size_bytes = 0, .failed = false};
    struct room_index_slot *slots[LAYOUT_INDEXES];
    struct tc_room_machine *machine = layout_machine(&layout, config, slots);
    if (machine == NULL) return TC_ENOMEM;

    machine->config = *config;
    tc_room__index_init(&machine->rooms_index, slots[0], config->rooms_max);
    tc_room__index_init(&machine->members_index, slots[1], config->members_max);
    tc_room__index_init(&machine->keys_index, slots[2], config->idempotency_keys_max);
    tc_room__index_init(&machine->window_index, slots[3], config->messages_max);
    tc_room__index_init(&machine->redactions_index, slots[4], config->messages_max);
    // Free list of member records: 0, 1, 2, ... (links are index + 1; 0 ends the list).
    for (uint32_t i = 0; i < config->members_max; i++) {
        machine->members[i].free_next = i + 1u < config->members_max ? i + 2u : 0u;
    }
    machine->members_free = 1;
    machine->op_last = 0;
    machine->store_bytes_used = 0;
    machine->sink_installed = false;
    tc_assert(machine->rooms_count == 0);
    tc_assert(machine->window_count == 0);
    tc_assert(machine->redactions_count == 0);
    *out = machine;
    return TC_OK;
}

void tc_room_set_sink(struct tc_room_machine *machine, const struct tc_room_sink *sink) {
    tc_assert(machine != NULL);
    tc_assert(sink == NULL || sink->message != NULL || sink->retention != NULL);
    memset(&machine->sink, 0, sizeof(machine->sink));
    machine->sink_installed = sink != NULL;
    if (sink != NULL) machine->sink = *sink;
}

static void hash_u64(struct tc_hash256_state *state, uint64_t value) {
    uint8_t bytes[8];
    for (uint32_t i = 0; i < 8; i++) bytes[i] = (uint8_t)(value >> (8u * i));
    tc_hash256_update(state, bytes, sizeof(bytes));
}

void tc_room_chain_hash_step(struct tc_hash256 *out, const struct tc_hash256 *prev, uint64_t room,
                             uint64_t seq, uint64_t sender, uint64_t timestamp_ns,
                             const struct tc_hash256 *body_hash) {
    tc_assert(out != NULL);
    tc_assert(prev != NULL);
    tc_assert(body_hash != NULL);
    struct tc_hash256_state state;
    tc_hash256_init(&state);
    tc_hash256_update(&state, prev->bytes, sizeof(prev->bytes));
    hash_u64(&state, room);
    hash_u64(&state, seq);
    hash_u64(&state, sender);
    hash_u64(&state, timestamp_ns);
    tc_hash256_update(&state, body_hash->bytes, sizeof(body_hash->bytes));
    tc_hash256_final(&state, out);
}

void tc_room_chain_hash(struct tc_hash256 *out, const struct tc_hash256 *prev, uint64_t room,
                        uint64_t seq, uint64_t sender, uint64_t timestamp_ns, const uint8_t *body,
                        uint32_t body_size) {
    tc_assert(out != NULL);
    tc_assert(body != NULL || body_size == 0);
    struct tc_hash256 body_hash;
    tc_hash256_compute(&body_hash, body, body_size);
    tc_room_chain_hash_step(out, prev, room, seq, sender, timestamp_ns, &body_hash);
}

// ------------------------------------------------------------------------------------------------
// Digest: BLAKE2b-128 of a BLAKE2b-256 stream over the logical state in canonical order: rooms in
// creation order (with their retention policies), the member set (with each member's read marker)
// as an order-independent sum (a set has no order), idempotency entries oldest first, the thread
// window oldest first (with senders), the store budget used, the redactions oldest first.

static void digest_members(const struct tc_room_machine *machine, struct tc_hash256_state *state) {
    uint64_t sum_a = 0;
    uint64_t sum_b = 0;
    uint64_t sum_c = 0; // the read markers, each tied to its (room, user)
    uint32_t seen = 0;
    for (uint32_t i = 0; i < machine->config.members_max; i++) {
        const struct room_member *member = &machine->members[i];
        if (member->used == 0) continue;
        uint64_t mix = tc_room__hash_u64(member->room, member->user);
        sum_a += mix;
        sum_b += tc_room__hash_u64(member->user ^ 0x5bd1e9955bd1e995ull, member->room);
        sum_c += tc_room__hash_u64(mix ^ 0xc2b2ae3d27d4eb4full, member->read_seq);
        seen += 1;
    }
    tc_assert(seen == machine->members_count);
    hash_u64(state, seen);
    hash_u64(state, sum_a);
    hash_u64(state, sum_b);
    hash_u64(state, sum_c);
}

static void digest_rooms(const struct tc_room_machine *machine, struct tc_hash256_state *state) {
    hash_u64(state, machine->rooms_count);
    for (uint32_t i = 0; i < machine->rooms_count; i++) {
        const struct room_entry *room = &machine->rooms[i];
        hash_u64(state, room->id);
        hash_u64(state, room->kind);
        hash_u64(state, room->member_count);
        hash_u64(state, room->seq_last);
        hash_u64(state, room->seq_window_min);
        tc_hash256_update(state, room->hash_last.bytes, sizeof(room->hash_last.bytes));
        hash_u64(state, room->retention.mode);
        hash_u64(state, room->retention.value);
    }
}

static void digest_keys(const struct tc_room_machine *machine, struct tc_hash256_state *state) {
    hash_u64(state, machine->keys_count);
    for (uint32_t i = 0; i < machine->keys_count; i++) {
        uint32_t slot = (machine->keys_head + i) % machine->config.idempotency_keys_max;
        const struct room_idempotency *entry = &machine->keys[slot];
        hash_u64(state, entry->room);
        tc_hash256_update(state, entry->key, sizeof(entry->key));
        hash_u64(state, entry->seq);
        hash_u64(state, entry->thread_seq);
        tc_hash256_update(state, entry->hash.bytes, sizeof(entry->hash.bytes));
    }
}

static void digest_window(const struct tc_room_machine *machine, struct tc_hash256_state *state) {
    hash_u64(state, machine->window_count);
    for (uint32_t i = 0; i < machine->window_count; i++) {
        uint32_t slot = (machine->window_head + i) % machine->config.messages_max;
        const struct room_window_entry *entry = &machine->window[slot];
        hash_u64(state, entry->room);
        hash_u64(state, entry->seq);
        hash_u64(state, entry->sender);
        hash_u64(state, entry->thread_parent_seq);
        hash_u64(state, entry->thread_seq);
        hash_u64(state, entry->thread_seq_last);
    }
}

static void digest_redactions(const struct tc_room_machine *machine,
                              struct tc_hash256_state *state) {
    tc_assert(machine->redactions_count <= machine->config.messages_max);
    hash_u64(state, machine->redactions_count);
    for (uint32_t i = 0; i < machine->redactions_count; i++) {
        const struct room_redaction *redaction = &machine->redactions[i];
        tc_assert(redaction->seq != 0);
        hash_u64(state, redaction->room);
        hash_u64(state, redaction->seq);
        hash_u64(state, redaction->sender);
    }
}

void tc_room_digest(const struct tc_room_machine *machine, struct tc_checksum *out) {
    tc_assert(machine != NULL);
    tc_assert(out != NULL);
    static const char tag[] = "tigerchat.room.digest.v4";
    struct tc_hash256_state state;
    tc_hash256_init(&state);
    tc_hash256_update(&state, tag, sizeof(tag));
    digest_rooms(machine, &state);
    digest_members(machine, &state);
    digest_keys(machine, &state);
    digest_window(machine, &state);
    hash_u64(&state, machine->store_bytes_used);
    digest_redactions(machine, &state);
    struct tc_hash256 stream;
    tc_hash256_final(&state, &stream);
    tc_checksum_compute(out, stream.bytes, sizeof(stream.bytes));
}
