#ifndef TC_ROOM_MODEL_H
#define TC_ROOM_MODEL_H

// A deliberately simple reference model of the room state machine (docs/room.md): plain arrays,
// linear scans, its own hash-chain computation, no hash tables and nothing from room.c's insides.
// Given the same committed batches it must produce the same per-op results as tc_room_apply, the
// same history and the same chain heads. Used by property tests and the simulator's checker.
// Test-only code: it allocates with malloc at creation (never afterwards).

#include <stdbool.h>
#include <stdint.h>

#include "room.h"

struct tc_room_model;

// NULL if the config is invalid (tc_room_config_invalid) or out of memory.
struct tc_room_model *tc_room_model_create(const struct tc_room_config *config);
void tc_room_model_destroy(struct tc_room_model *model);

// Applies one batch; writes one result per op (or one TC_ROOM_MALFORMED_BATCH result) into
// `results` (room for TC_ROOM_BATCH_OPS_MAX) and returns how many.
uint32_t tc_room_model_apply(struct tc_room_model *model, uint64_t timestamp_ns,
                             const uint8_t *body, uint32_t body_size,
                             struct tc_room_result *results);

// Same contract as tc_room_history / tc_room_chain_head.
int tc_room_model_history(const struct tc_room_model *model, uint64_t room, uint64_t from_seq,
                          uint32_t limit, struct tc_room_message *out, uint32_t *count,
                          uint64_t *seq_retained_min);
int tc_room_model_chain_head(const struct tc_room_model *model, uint64_t room, uint64_t *seq,
                             struct tc_hash256 *hash);

// Compares expected results with an encoded reply: -1 if they agree, else the index of the first
// difference (count if the reply does not decode or has a different number of results).
int32_t tc_room_model_reply_mismatch(const struct tc_room_result *expected, uint32_t count,
                                     const uint8_t *reply, uint32_t reply_size);

bool tc_room_result_equal(const struct tc_room_result *a, const struct tc_room_result *b);

#endif
