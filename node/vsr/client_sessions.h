#ifndef TC_CLIENT_SESSIONS_H
#define TC_CLIENT_SESSIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "header.h"
#include "tc_arena.h"

// The replicated client table: one session per VSR client (an edge gateway), registered through
// consensus (the register op number is the session number), holding the client's latest committed
// request number and the reply to it, so a duplicate request gets the stored reply. Bounded: when
// full, registering evicts the session whose latest commit is oldest. Deterministic; part of the
// replicated state.

struct tc_client_session {
    uint64_t client;   // 0 = free entry
    uint64_t session;  // op of the register
    uint64_t last_op;  // op of the latest committed request (eviction order)
    uint32_t request;  // latest committed request number
    uint32_t reply_size;
    uint8_t *reply;    // TC_REPLY_SIZE_MAX: reply message (header + body) as committed
};

struct tc_client_sessions {
    uint32_t capacity;
    uint32_t count;
    struct tc_client_session *entries;
};

int tc_client_sessions_init(struct tc_client_sessions *sessions, uint32_t capacity,
                            struct tc_arena *arena);
uint64_t tc_client_sessions_memory_size(uint32_t capacity);
struct tc_client_session *tc_client_sessions_find(struct tc_client_sessions *sessions,
                                                  uint64_t client);
// Registers `client` at `op`. If the table is full, evicts the oldest session and returns its
// client id in *evicted (else 0). The client must not be registered already.
struct tc_client_session *tc_client_sessions_register(struct tc_client_sessions *sessions,
                                                      uint64_t client, uint64_t op,
                                                      uint64_t *evicted);
// Stores the committed reply (header + body) for the session's request.
void tc_client_sessions_store_reply(struct tc_client_session *session, const uint8_t *reply,
                                    uint32_t reply_size);
void tc_client_sessions_digest(const struct tc_client_sessions *sessions, struct tc_checksum *out);

#endif
