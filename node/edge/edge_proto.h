#ifndef TC_EDGE_PROTO_H
#define TC_EDGE_PROTO_H

#include <stdbool.h>
#include <stdint.h>

#include "edge_json.h"

// The client protocol's JSON layer (docs/protocol.md §3-§7): the stable error table, request
// parsing into a typed struct with precise errors, and writers for results, errors and events.
// Pure: over a caller scratch (parsing) and caller buffers (writing).

#define TC_EDGE_REQUEST_ID_SIZE_MAX 64u
#define TC_EDGE_BODY_SIZE_MAX 4096u // = TC_ROOM_BODY_SIZE_MAX (docs/room.md §6)
#define TC_EDGE_KEY_SIZE 16u
#define TC_EDGE_HASH_SIZE 32u
#define TC_EDGE_HISTORY_LIMIT_MAX 100u
#define TC_EDGE_HISTORY_LIMIT_DEFAULT 50u
#define TC_EDGE_RETENTION_DAYS_MAX 36500u
#define TC_EDGE_RETENTION_MESSAGES_MAX (1ull << 40) // = TC_ROOM_RETENTION_MESSAGES_MAX
#define TC_EDGE_TOKEN_SIZE_MAX 4096u
// Scratch that always suffices to parse one client message of the default size limit.
#define TC_EDGE_REQUEST_SCRATCH_SIZE TC_EDGE_JSON_SCRATCH_SIZE(32768u)

// docs/protocol.md §7: code, stable name, default human message. Codes 1-19 are the room state
// machine's statuses (node/room/room.h, docs/room.md §9) with the same numbers; its status 20
// (not_sender: a redact of another user's message) is answered as forbidden_room; 21-99 are
// kept for its future statuses.
#define TC_EDGE_ERROR_TABLE(X)                                                                     \
    X(TC_EDGE_ERROR_NONE, 0, "ok", "ok")                                                           \
    X(TC_EDGE_ERROR_MALFORMED_BATCH, 1, "malformed_batch", "internal error: bad batch")            \
    X(TC_EDGE_ERROR_INVALID_ROOM, 2, "invalid_room", "room id must not be 0")                      \
    X(TC_EDGE_ERROR_INVALID_USER, 3, "invalid_user", "invalid user")                               \
    X(TC_EDGE_ERROR_INVALID_KEY, 4, "invalid_key", "idempotency key must not be all zero")         \
    X(TC_EDGE_ERROR_ROOM_EXISTS, 5, "room_exists", "the room already exists")                      \
    X(TC_EDGE_ERROR_ROOM_NOT_FOUND, 6, "room_not_found", "no such room")                           \
    X(TC_EDGE_ERROR_ROOMS_FULL, 7, "rooms_full", "the group holds its maximum number of rooms")    \
    X(TC_EDGE_ERROR_MEMBERS_FULL, 8, "members_full", "no free membership in the group")            \
    X(TC_EDGE_ERROR_ALREADY_MEMBER, 9, "already_member", "already a member")                       \
    X(TC_EDGE_ERROR_NOT_MEMBER, 10, "not_member", "the user is not a member of the room")          \
    X(TC_EDGE_ERROR_DM_FIXED, 11, "dm_fixed", "a DM's membership cannot change")                   \
    X(TC_EDGE_ERROR_THREAD_PARENT_NOT_FOUND, 12, "thread_parent_not_found",                        \
      "no message with that seq")                                                                  \
    X(TC_EDGE_ERROR_THREAD_PARENT_EVICTED, 13, "thread_parent_evicted",                            \
      "the thread root is no longer retained")                                                     \
    X(TC_EDGE_ERROR_THREAD_PARENT_IS_REPLY, 14, "thread_parent_is_reply",                          \
      "threads are one level deep")                                                                \
    X(TC_EDGE_ERROR_STORE_FULL, 15, "store_full", "the group's message store is full")             \
    X(TC_EDGE_ERROR_INVALID_RETENTION, 16, "invalid_retention", "invalid retention policy")        \
    X(TC_EDGE_ERROR_INVALID_SEQ, 17, "invalid_seq", "seq is above the room's head")                \
    X(TC_EDGE_ERROR_MESSAGE_EVICTED, 18, "message_evicted", "the message is too old to redact")    \
    X(TC_EDGE_ERROR_REDACTIONS_FULL, 19, "redactions_full",                                        \
      "the group cannot redact more messages")                                                     \
    X(TC_EDGE_ERROR_MALFORMED_FRAME, 100, "malformed_frame", "frame is not a valid request")       \
    X(TC_EDGE_ERROR_UNKNOWN_OP, 101, "unknown_op", "unknown op")                                   \
    X(TC_EDGE_ERROR_MISSING_FIELD, 102, "missing_field", "a required field is missing")            \
    X(TC_EDGE_ERROR_INVALID_FIELD, 103, "invalid_field", "a field has an invalid value")           \
    X(TC_EDGE_ERROR_BODY_TOO_LARGE, 104, "body_too_large", "body exceeds 4096 bytes")              \
    X(TC_EDGE_ERROR_FRAME_TOO_LARGE, 105, "frame_too_large", "message exceeds the size limit")     \
    X(TC_EDGE_ERROR_DUPLICATE_REQUEST_ID, 106, "duplicate_request_id",                             \
      "request id already in flight")                                                              \
    X(TC_EDGE_ERROR_AUTH_FAILED, 110, "auth_failed", "invalid token")                              \
    X(TC_EDGE_ERROR_TOKEN_EXPIRED, 111, "token_expired", "token expired")                          \
    X(TC_EDGE_ERROR_TOKEN_NOT_YET_VALID, 112, "token_not_yet_valid", "token not yet valid")        \
    X(TC_EDGE_ERROR_FORBIDDEN_ROOM, 113, "forbidden_room", "the token does not allow this room")   \
    X(TC_EDGE_ERROR_USER_MISMATCH, 114, "user_mismatch", "the new token names another user")       \
    X(TC_EDGE_ERROR_RATE_LIMITED, 120, "rate_limited", "too many requests")                        \
    X(TC_EDGE_ERROR_TOO_MANY_SUBSCRIPTIONS, 121, "too_many_subscriptions",                         \
      "too many subscriptions on this connection")                                                 \
    X(TC_EDGE_ERROR_TOO_MANY_IN_FLIGHT, 122, "too_many_in_flight",                                 \
      "too many requests in flight on this connection")                                            \
    X(TC_EDGE_ERROR_ALREADY_SUBSCRIBED, 123, "already_subscribed",                                 \
      "already subscribed to this room")                                                           \
    X(TC_EDGE_ERROR_NOT_SUBSCRIBED, 124, "not_subscribed", "not subscribed to this room")          \
    X(TC_EDGE_ERROR_SLOW_CONSUMER, 130, "slow_consumer", "connection too slow; closing")           \
    X(TC_EDGE_ERROR_SERVER_BUSY, 140, "server_busy", "the node is overloaded; retry later")        \
    X(TC_EDGE_ERROR_NOT_LEADER, 141, "not_leader",                                                 \
      "the room's group is electing a primary; retry")                                             \
    X(TC_EDGE_ERROR_TIMEOUT, 142, "timeout", "no answer from the room's group in time")            \
    X(TC_EDGE_ERROR_NO_ROUTE, 143, "no_route",                                                     \
      "the room's hash slot is not routed to a group yet; retry later")                            \
    X(TC_EDGE_ERROR_NOT_IMPLEMENTED, 150, "not_implemented", "operation not implemented yet")      \
    X(TC_EDGE_ERROR_INTERNAL_ERROR, 151, "internal_error", "internal error")

enum tc_edge_error {
#define TC_EDGE_ERROR_ENUM(name, code, text, message) name = code,
    TC_EDGE_ERROR_TABLE(TC_EDGE_ERROR_ENUM)
#undef TC_EDGE_ERROR_ENUM
};

// True for a code of the table.
bool tc_edge_error_known(uint32_t code);
// The stable name ("not_member") and default message of a known code (asserted).
const char *tc_edge_error_name(enum tc_edge_error error);
const char *tc_edge_error_message(enum tc_edge_error error);
// The error for a room state machine status 1..20 (asserted in range): the same number, but
// not_sender (20) is forbidden_room (docs/protocol.md §5.12).
enum tc_edge_error tc_edge_error_from_room_status(uint8_t status);

#define TC_EDGE_OP_TABLE(X)                                                                        \
    X(TC_EDGE_OP_CREATE_ROOM, "create_room")                                                       \
    X(TC_EDGE_OP_CREATE_DM, "create_dm")                                                           \
    X(TC_EDGE_OP_JOIN, "join")                                                                     \
    X(TC_EDGE_OP_LEAVE, "leave")                                                                   \
    X(TC_EDGE_OP_SEND, "send")                                                                     \
    X(TC_EDGE_OP_SUBSCRIBE, "subscribe")                                                           \
    X(TC_EDGE_OP_UNSUBSCRIBE, "unsubscribe")                                                       \
    X(TC_EDGE_OP_HISTORY, "history")                                                               \
    X(TC_EDGE_OP_SET_RETENTION, "set_retention")                                                   \
    X(TC_EDGE_OP_READ_MARKER, "read_marker")                                                       \
    X(TC_EDGE_OP_TYPING, "typing")                                                                 \
    X(TC_EDGE_OP_REDACT, "redact")                                                                 \
    X(TC_EDGE_OP_PING, "ping")                                                                     \
    X(TC_EDGE_OP_AUTH, "auth")

enum tc_edge_op {
    TC_EDGE_OP_NONE = 0,
#define TC_EDGE_OP_ENUM(name, text) name,
    TC_EDGE_OP_TABLE(TC_EDGE_OP_ENUM)
#undef TC_EDGE_OP_ENUM
        TC_EDGE_OP_COUNT
};

// The op's name in requests ("create_room"), or "invalid" for NONE and out of range.
const char *tc_edge_op_name(enum tc_edge_op op);

enum tc_edge_retention_mode {
    TC_EDGE_RETENTION_ALL = 1,
    TC_EDGE_RETENTION_DAYS = 2,
    TC_EDGE_RETENTION_MESSAGES = 3,
};

struct tc_edge_request {
    enum tc_edge_op op;
    char id[TC_EDGE_REQUEST_ID_SIZE_MAX + 1]; // NUL-terminated; id_size 0 until the id is valid
    uint32_t id_size;
    uint64_t room;
    uint64_t peer;          // create_dm
    uint64_t seq;           // subscribe: since; history: from_seq; read_marker, redact: seq;
                            // send: thread_parent (0: not a reply)
    uint32_t limit;         // history
    uint8_t key[TC_EDGE_KEY_SIZE]; // send
    const char *body;       // send: UTF-8, 1..4096 bytes; points into the scratch
    uint32_t body_size;
    enum tc_edge_retention_mode retention_mode; // set_retention
    uint64_t retention_value;
    const char *token;      // auth: points into the scratch
    uint32_t token_size;
};

// Parses one client message (docs/protocol.md §3, §5). Returns TC_EDGE_ERROR_NONE with *request
// filled, or MALFORMED_FRAME, UNKNOWN_OP, MISSING_FIELD, INVALID_FIELD or BODY_TOO_LARGE with
// *field naming the member at fault (NULL when none). request->id is set as soon as the id is
// read, so an error can be answered with it. Pointers into the scratch stay valid until the
// scratch is reused; the scratch must hold TC_EDGE_JSON_SCRATCH_SIZE(size) bytes.
enum tc_edge_error tc_edge_request_parse(struct tc_edge_json_scratch *scratch, const char *text,
                                         uint32_t size, struct tc_edge_request *request,
                                         const char **field);

// ------------------------------------------------------------------------------------------------
// Server messages. Each writer returns the bytes written into out or TC_ENOSPC. `id` may be NULL
// (id_size 0) for connection-level messages.

// {"type":"error","id":..,"code":..,"error":..,"message":..[,"field":..][,"retry_after_ms":..]}
int32_t tc_edge_response_error(char *out, uint32_t out_size, const char *id, uint32_t id_size,
                               enum tc_edge_error error, const char *field,
                               uint32_t retry_after_ms);
// {"type":"result","id":..} with "room" when room != 0 (unsubscribe, typing, ping).
int32_t tc_edge_response_ok(char *out, uint32_t out_size, const char *id, uint32_t id_size,
                            uint64_t room);
// create_room, create_dm, join, leave: the chain head.
int32_t tc_edge_response_chain_head(char *out, uint32_t out_size, const char *id,
                                    uint32_t id_size, uint64_t room, uint64_t seq,
                                    const uint8_t hash[TC_EDGE_HASH_SIZE]);
// send.
int32_t tc_edge_response_send(char *out, uint32_t out_size, const char *id, uint32_t id_size,
                              uint64_t room, uint64_t seq, uint64_t thread_seq,
                              const uint8_t hash[TC_EDGE_HASH_SIZE], bool duplicate);
// subscribe.
int32_t tc_edge_response_subscribed(char *out, uint32_t out_size, const char *id,
                                    uint32_t id_size, uint64_t room, uint64_t head_seq);
// redact: {"type":"result","id":..,"room":..,"seq":..,"duplicate":..}.
int32_t tc_edge_response_redact(char *out, uint32_t out_size, const char *id, uint32_t id_size,
                                uint64_t room, uint64_t seq, bool duplicate);
// history below the retention floor: {"truncated_at":S,"reason":"retention","messages":[]}.
int32_t tc_edge_response_history_truncated(char *out, uint32_t out_size, const char *id,
                                           uint32_t id_size, uint64_t room,
                                           uint64_t truncated_at);

struct tc_edge_message {
    uint64_t room;
    uint64_t seq;
    uint8_t prev_hash[TC_EDGE_HASH_SIZE];
    uint8_t hash[TC_EDGE_HASH_SIZE];
    uint64_t sender;
    uint64_t timestamp_ns;
    uint64_t thread_parent; // 0: not a reply
    uint64_t thread_seq;
    uint8_t body_hash[TC_EDGE_HASH_SIZE];
    bool redacted;          // body is then null
    const char *body;       // UTF-8 (validated when it was sent)
    uint32_t body_size;
};

// The message object's members (docs/protocol.md §6), into an open object of `writer`.
void tc_edge_json_message_members(struct tc_edge_json_writer *writer,
                                  const struct tc_edge_message *message);
// {"type":"message", ...}.
int32_t tc_edge_event_message(char *out, uint32_t out_size, const struct tc_edge_message *message);
// {"type":"truncated","room":..,"truncated_at":..,"reason":"retention"}.
int32_t tc_edge_event_truncated(char *out, uint32_t out_size, uint64_t room,
                                uint64_t truncated_at);
// {"type":"catch_up","room":..,"from_seq":..,"reason":"slow_consumer"}.
int32_t tc_edge_event_catch_up(char *out, uint32_t out_size, uint64_t room, uint64_t from_seq);
// {"type":"typing","room":..,"user":..}.
int32_t tc_edge_event_typing(char *out, uint32_t out_size, uint64_t room, uint64_t user);
// {"type":"redacted","room":..,"seq":..} (docs/protocol.md §6).
int32_t tc_edge_event_redacted(char *out, uint32_t out_size, uint64_t room, uint64_t seq);

#endif
