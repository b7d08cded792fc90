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

// Checkpoint: the table as canonical bytes (docs/room.md, "Checkpoint encoding"). Sessions are
// written in table order (the used entries are always a prefix of the table, and which entry a
// register takes depends on it), each with the reply_size bytes of its stored reply.
#define TC_CLIENT_SESSIONS_CHECKPOINT_MAGIC 0x53435443u // "TCCS" little-endian
#define TC_CLIENT_SESSIONS_CHECKPOINT_VERSION 1u
#define TC_CLIENT_SESSIONS_CHECKPOINT_HEADER_SIZE 24u
#define TC_CLIENT_SESSIONS_CHECKPOINT_ENTRY_SIZE 32u // then reply_size bytes of reply

// Upper bound of the encoded table for this capacity, in bytes.
uint64_t tc_client_sessions_checkpoint_size_max(uint32_t capacity);
// Encodes the table into `buffer`, which must hold tc_client_sessions_checkpoint_size_max(capacity)
// bytes. Returns the bytes written.
uint64_t tc_client_sessions_checkpoint_encode(const struct tc_client_sessions *sessions,
                                              uint8_t *buffer, uint64_t buffer_size);
// Replaces the table by the decoded one. TC_OK, or TC_ECORRUPT if the bytes are malformed or
// inconsistent (magic, version, capacity other than the table's, count, a reply size, a duplicate
// client, a session or reply that does not match its entry, trailing bytes, ...). On error the
// table is left empty, as after init.
int tc_client_sessions_checkpoint_decode(struct tc_client_sessions *sessions,
                                         const uint8_t *buffer, uint64_t size);

#endif
