#ifndef TC_ROOM_MODEL_H
#define TC_ROOM_MODEL_H

// A deliberately simple reference model of the room state machine (docs/room.md): plain arrays,
// linear scans, its own hash-chain computation, no hash tables and nothing from room.c's insides.
// Given the same committed batches it must produce the same per-op results as tc_room_apply, the
// same chain heads, retention policies, read markers, redactions and store budget. Unlike the
// machine it also keeps the full history of every message (fields and body), which is what the
// message store must serve: the simulator's checker compares store reads with it. Used by
// property tests and the checker. Test-only code: it allocates with malloc at creation (never afterwards).

#include <stdbool.h>
#include <stdint.h>

#include "room.h"

struct tc_room_model;

// History capacity of tc_room_model_create: with a store budget, every message the budget admits
// (store_bytes_max / TC_ROOM_STORE_COST(1) messages, store_bytes_max body bytes), capped at the
// _CAP values; without a budget, the _DEFAULT values.
#define TC_ROOM_MODEL_HISTORY_MESSAGES_DEFAULT (1u << 16)
#define TC_ROOM_MODEL_HISTORY_BYTES_DEFAULT (16u << 20)
#define TC_ROOM_MODEL_HISTORY_MESSAGES_CAP (1u << 20)
#define TC_ROOM_MODEL_HISTORY_BYTES_CAP (64u << 20)

// NULL if the config is invalid (tc_room_config_invalid) or out of memory.
struct tc_room_model *tc_room_model_create(const struct tc_room_config *config);
// The same with an explicit history capacity: up to `history_messages_max` messages holding
// `history_bytes_max` body bytes in total. Messages committed once it is full are applied as usual
// but not recorded (tc_room_model_message returns TC_ENOSPC for them).
struct tc_room_model *tc_room_model_create_history(const struct tc_room_config *config,
                                                   uint32_t history_messages_max,
                                                   uint64_t history_bytes_max);
void tc_room_model_destroy(struct tc_room_model *model);

// Applies one batch; writes one result per op (or one TC_ROOM_MALFORMED_BATCH result) into
// `results` (room for TC_ROOM_BATCH_OPS_MAX) and returns how many.
uint32_t tc_room_model_apply(struct tc_room_model *model, uint64_t timestamp_ns,
                             const uint8_t *body, uint32_t body_size,
                             struct tc_room_result *results);

// Same contract as tc_room_chain_head.
int tc_room_model_chain_head(const struct tc_room_model *model, uint64_t room, uint64_t *seq,
                             struct tc_hash256 *hash);
// The committed message (room, seq) with every field; `body` points into the model (valid until
// the model is destroyed). A redacted message has `redacted` set and `body_hash` = BLAKE2b-256 of
// its body, which (unlike a store read's) the model still returns, for checkers to compare. Cost: a walk back over the room's own messages from its newest. TC_OK; TC_ENOENT if the room does not exist or seq is not in
// 1..seq_last; TC_ENOSPC if the message was committed after the history capacity ran out.
int tc_room_model_message(const struct tc_room_model *model, uint64_t room, uint64_t seq,
                          struct tc_room_message *out);
// The room's retention policy (keep_all until a set_retention succeeds). TC_OK or TC_ENOENT.
int tc_room_model_retention(const struct tc_room_model *model, uint64_t room,
                            struct tc_room_retention *out);
// Same contract as tc_room_read_marker: the member's read marker, or TC_ENOENT (no such room or
// not a member).
int tc_room_model_read_marker(const struct tc_room_model *model, uint64_t room, uint64_t user,
                              uint64_t *seq);
// Same contract as tc_room_redacted and tc_room_redaction_count.
bool tc_room_model_redacted(const struct tc_room_model *model, uint64_t room, uint64_t seq);
uint32_t tc_room_model_redaction_count(const struct tc_room_model *model);
// The index-th redaction, oldest first: TC_OK, or TC_ERANGE past the last.
int tc_room_model_redaction_at(const struct tc_room_model *model, uint32_t index, uint64_t *room,
                               uint64_t *seq);
// Whether message->hash is the chain step (docs/room.md §4) of the message's own fields, computed
// here independently of tc_room_chain_hash: from the body, or from body_hash when redacted.
bool tc_room_model_chain_verify(const struct tc_room_message *message);
// Sum of TC_ROOM_STORE_COST over every committed message (tc_room_store_bytes_used).
uint64_t tc_room_model_store_bytes_used(const struct tc_room_model *model);
// Messages committed but not recorded in the history (0 while the capacity suffices).
uint64_t tc_room_model_history_dropped(const struct tc_room_model *model);

// Compares expected results with an encoded reply: -1 if they agree, else the index of the first
// difference (count if the reply does not decode or has a different number of results).
int32_t tc_room_model_reply_mismatch(const struct tc_room_result *expected, uint32_t count,
                                     const uint8_t *reply, uint32_t reply_size);

bool tc_room_result_equal(const struct tc_room_result *a, const struct tc_room_result *b);

#endif
