#ifndef TC_ROOM_H
#define TC_ROOM_H

#include <stdbool.h>
#include <stdint.h>

#include "tc_arena.h"
#include "tc_checksum.h"

// The room state machine: deterministic, applied on every replica to every committed chat
// operation (a batch of chat ops carried by one prepare). See docs/room.md.
//
// Determinism: the result depends only on the state and the arguments (op, timestamp stamped by
// the primary, client id, body). No clock, no rand, no I/O, no allocation after init.

struct tc_room_config {
    uint32_t rooms_max;            // rooms + DMs
    uint32_t members_max;          // memberships across all rooms
    uint32_t idempotency_keys_max; // remembered (room, key) -> (seq, hash); oldest evicted first
    uint32_t messages_max;         // messages retained in memory for history reads
    uint32_t body_bytes_max;       // body bytes retained in memory for history reads
};

struct tc_room_machine;

uint64_t tc_room_memory_size(const struct tc_room_config *config);
// NULL if the config is valid, else a static message naming the bad field.
const char *tc_room_config_invalid(const struct tc_room_config *config);
int tc_room_init(struct tc_room_machine **out, const struct tc_room_config *config,
                 struct tc_arena *arena);

// Checks that a chat batch body decodes (structure, sizes, counts). Called by the primary before
// it prepares a request; a batch that fails is rejected and never enters the log. Apply still
// validates defensively and never corrupts state on bad input.
int tc_room_validate_batch(const uint8_t *body, uint32_t body_size);

// Applies one committed chat batch. Writes the reply (one result per op in the batch) into
// `reply` and returns its size in bytes (<= reply_size_max, which must be >= TC_ROOM_REPLY_SIZE_MAX).
uint32_t tc_room_apply(struct tc_room_machine *machine, uint64_t op, uint64_t timestamp_ns,
                       uint64_t client, const uint8_t *body, uint32_t body_size, uint8_t *reply,
                       uint32_t reply_size_max);

// BLAKE2b-128 over the entire logical state (rooms, members, chain heads, idempotency table,
// retained messages) in a canonical order: replicas that applied the same ops have equal digests.
void tc_room_digest(const struct tc_room_machine *machine, struct tc_checksum *out);

#endif
