#ifndef TC_ROOM_H
#define TC_ROOM_H

#include <stdbool.h>
#include <stdint.h>

#include "tc_arena.h"
#include "tc_checksum.h"
#include "constants.h"

// The room state machine: deterministic, applied on every replica to every committed chat
// operation (a batch of chat ops carried by one prepare). See docs/room.md.
//
// Determinism: the result depends only on the state and the arguments (op, timestamp stamped by
// the primary, client id, body). No clock, no rand, no I/O, no allocation after init.

struct tc_room_config {
    uint32_t rooms_max;            // rooms + DMs
    uint32_t members_max;          // memberships across all rooms
    uint32_t idempotency_keys_max; // remembered (room, key) -> (seq, hash); oldest evicted first
    uint32_t messages_max;         // thread window: the newest messages whose thread metadata and
                                   // sender are kept (a reply's root, a redacted message must be
                                   // among them); also the redaction table's capacity
    uint64_t store_bytes_max;      // budget of the message store, in TC_ROOM_STORE_COST bytes per
                                   // message; a send that would exceed it fails with store_full
                                   // (0: no budget, for tests without a store)
};

// The message store's accounting cost of one message (docs/store.md §2, S5): its record header,
// the most tower pointers a run's first record carries, and the body padded to 8 bytes. The store
// proves at init that `store_bytes_max` such costs always fit its segments.
#define TC_ROOM_STORE_RECORD_HEADER_SIZE 152u
#define TC_ROOM_STORE_POINTERS_SIZE_MAX (10u * 32u)
#define TC_ROOM_STORE_COST(body_size)                                                              \
    (TC_ROOM_STORE_RECORD_HEADER_SIZE + TC_ROOM_STORE_POINTERS_SIZE_MAX +                          \
     (((uint64_t)(body_size) + 7u) & ~(uint64_t)7u))

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

// Where committed messages and retention changes go (the replica's message store). Called
// during tc_room_apply, in op order, only for ops that succeed (a duplicate send is not a new
// message: no event), after the op's state change is complete (so the callback may read the
// machine, e.g. tc_room_info, but must not apply). `room_index` is the room's creation index
// (tc_room_info.index). The pointers (message, body, retention) are valid only during the call.
// A machine without a sink (unit tests) just drops the events; either callback may be NULL.
// `message` also carries each committed, non-duplicate redaction, with message->redacted set: the
// room, the redacted message's seq and sender, the batch's timestamp; no body, zero hashes and
// thread fields (docs/room.md §3.1). It shares the callback so that the fan-out (the replica's one
// message hook) sees messages and redactions in apply order.
struct tc_room_message;
struct tc_room_retention;
struct tc_room_sink {
    void *context;
    void (*message)(void *context, uint32_t room_index, const struct tc_room_message *message);
    void (*retention)(void *context, uint32_t room_index, const struct tc_room_retention *retention,
                      uint64_t timestamp_ns);
};
// Installs (or, with NULL, removes) the sink; the struct is copied. The sink is not state: it is
// never encoded or digested, and a checkpoint decode leaves it installed.
void tc_room_set_sink(struct tc_room_machine *machine, const struct tc_room_sink *sink);

// Applies one committed chat batch. Writes the reply (one result per op in the batch) into
// `reply` and returns its size in bytes (<= reply_size_max, which must be at least
// TC_ROOM_REPLY_SIZE_MAX).
uint32_t tc_room_apply(struct tc_room_machine *machine, uint64_t op, uint64_t timestamp_ns,
                       uint64_t client, const uint8_t *body, uint32_t body_size, uint8_t *reply,
                       uint32_t reply_size_max);

// BLAKE2b-128 over the entire logical state (rooms with their retention policies, members with
// their read markers, chain heads, idempotency table, thread window, store budget used,
// redactions) in a canonical order: replicas that applied the same ops have equal digests.
void tc_room_digest(const struct tc_room_machine *machine, struct tc_checksum *out);

// ------------------------------------------------------------------------------------------------
// Limits and wire sizes (docs/room.md has the byte tables).

#define TC_ROOM_BODY_SIZE_MAX 4096u   // bytes of one message body (>= 1)
#define TC_ROOM_BATCH_OPS_MAX 512u    // ops in one batch; bounds the reply
#define TC_ROOM_KEY_SIZE 16u          // idempotency key bytes

#define TC_ROOM_BATCH_MAGIC 0x42524354u // "TCRB" little-endian
#define TC_ROOM_REPLY_MAGIC 0x52524354u // "TCRR" little-endian
#define TC_ROOM_BATCH_HEADER_SIZE 16u
#define TC_ROOM_OP_HEADER_SIZE 8u
#define TC_ROOM_OP_ROOM_SIZE (TC_ROOM_OP_HEADER_SIZE + 16u) // create_room, join, leave
#define TC_ROOM_OP_DM_SIZE (TC_ROOM_OP_HEADER_SIZE + 24u)   // create_dm
#define TC_ROOM_OP_SEND_FIXED_SIZE (TC_ROOM_OP_HEADER_SIZE + 48u) // send, before the body
#define TC_ROOM_OP_RETENTION_SIZE (TC_ROOM_OP_HEADER_SIZE + 32u)  // set_retention
#define TC_ROOM_OP_READ_MARKER_SIZE (TC_ROOM_OP_HEADER_SIZE + 24u) // read_marker
#define TC_ROOM_OP_REDACT_SIZE (TC_ROOM_OP_HEADER_SIZE + 24u)      // redact
#define TC_ROOM_REPLY_HEADER_SIZE 16u
#define TC_ROOM_RESULT_SIZE 56u
#define TC_ROOM_REPLY_SIZE_MAX                                                                     \
    (TC_ROOM_REPLY_HEADER_SIZE + TC_ROOM_BATCH_OPS_MAX * TC_ROOM_RESULT_SIZE)
// Largest valid batch: one max-size send per op until the message body is full is smaller than
// this bound; the primary also rejects batches larger than the message body.
#define TC_ROOM_BATCH_SIZE_MAX TC_MESSAGE_BODY_SIZE_MAX

_Static_assert(TC_ROOM_REPLY_SIZE_MAX <= TC_REPLY_SIZE_MAX - TC_HEADER_SIZE,
               "a reply for a full batch fits in a client reply");
_Static_assert(TC_ROOM_OP_ROOM_SIZE <= TC_ROOM_OP_RETENTION_SIZE &&
                   TC_ROOM_OP_DM_SIZE <= TC_ROOM_OP_RETENTION_SIZE &&
                   TC_ROOM_OP_READ_MARKER_SIZE <= TC_ROOM_OP_RETENTION_SIZE &&
                   TC_ROOM_OP_REDACT_SIZE <= TC_ROOM_OP_RETENTION_SIZE,
               "set_retention is the largest fixed-size op");
_Static_assert(TC_ROOM_BATCH_HEADER_SIZE + TC_ROOM_BATCH_OPS_MAX * TC_ROOM_OP_RETENTION_SIZE <=
                   TC_MESSAGE_BODY_SIZE_MAX,
               "a full batch of fixed-size ops fits in a message body");
_Static_assert(TC_ROOM_BATCH_HEADER_SIZE + TC_ROOM_OP_SEND_FIXED_SIZE + TC_ROOM_BODY_SIZE_MAX <=
                   TC_MESSAGE_BODY_SIZE_MAX,
               "a max-size send fits in a message body");
_Static_assert(TC_ROOM_BATCH_OPS_MAX <= 0xffffu, "op count is encoded in the batch header");

enum tc_room_op_kind {
    TC_ROOM_OP_CREATE_ROOM = 1,
    TC_ROOM_OP_CREATE_DM = 2,
    TC_ROOM_OP_JOIN = 3,
    TC_ROOM_OP_LEAVE = 4,
    TC_ROOM_OP_SEND = 5,
    TC_ROOM_OP_SET_RETENTION = 6,
    TC_ROOM_OP_READ_MARKER = 7,
    TC_ROOM_OP_REDACT = 8,
};

// Retention policy of a room (docs/store.md §7). Stable numbers (on the wire).
enum tc_room_retention_mode {
    TC_ROOM_RETENTION_KEEP_ALL = 0,      // value must be 0
    TC_ROOM_RETENTION_KEEP_DAYS = 1,     // value: days, 1..TC_ROOM_RETENTION_DAYS_MAX
    TC_ROOM_RETENTION_KEEP_MESSAGES = 2, // value: messages, 1..TC_ROOM_RETENTION_MESSAGES_MAX
};
#define TC_ROOM_RETENTION_DAYS_MAX 36500u
#define TC_ROOM_RETENTION_MESSAGES_MAX (1ull << 40)

struct tc_room_retention {
    uint8_t mode; // enum tc_room_retention_mode
    uint64_t value;
};

// Per-op result status: stable numbers (they are on the wire). Never renumber; only append (and
// keep node/edge/edge_proto.h's error table, which maps them by number, in step).
#define TC_ROOM_STATUS_TABLE(X)                                                                    \
    X(TC_ROOM_OK, 0, "ok")                                                                         \
    X(TC_ROOM_MALFORMED_BATCH, 1, "malformed_batch")                                               \
    X(TC_ROOM_INVALID_ROOM, 2, "invalid_room")                                                     \
    X(TC_ROOM_INVALID_USER, 3, "invalid_user")                                                     \
    X(TC_ROOM_INVALID_KEY, 4, "invalid_key")                                                       \
    X(TC_ROOM_ROOM_EXISTS, 5, "room_exists")                                                       \
    X(TC_ROOM_ROOM_NOT_FOUND, 6, "room_not_found")                                                 \
    X(TC_ROOM_ROOMS_FULL, 7, "rooms_full")                                                         \
    X(TC_ROOM_MEMBERS_FULL, 8, "members_full")                                                     \
    X(TC_ROOM_ALREADY_MEMBER, 9, "already_member")                                                 \
    X(TC_ROOM_NOT_MEMBER, 10, "not_member")                                                        \
    X(TC_ROOM_DM_FIXED, 11, "dm_fixed")                                                            \
    X(TC_ROOM_THREAD_PARENT_NOT_FOUND, 12, "thread_parent_not_found")                              \
    X(TC_ROOM_THREAD_PARENT_EVICTED, 13, "thread_parent_evicted")                                  \
    X(TC_ROOM_THREAD_PARENT_IS_REPLY, 14, "thread_parent_is_reply")                              \
    X(TC_ROOM_STORE_FULL, 15, "store_full")                                                        \
    X(TC_ROOM_INVALID_RETENTION, 16, "invalid_retention")                                          \
    X(TC_ROOM_INVALID_SEQ, 17, "invalid_seq")                                                      \
    X(TC_ROOM_MESSAGE_EVICTED, 18, "message_evicted")                                              \
    X(TC_ROOM_REDACTIONS_FULL, 19, "redactions_full")                                              \
    X(TC_ROOM_NOT_SENDER, 20, "not_sender")

enum tc_room_status {
#define TC_ROOM_STATUS_ENUM(name, value, text) name = value,
    TC_ROOM_STATUS_TABLE(TC_ROOM_STATUS_ENUM)
#undef TC_ROOM_STATUS_ENUM
        TC_ROOM_STATUS_COUNT = 21,
};

// "ok", "room_exists", ...; "unknown" for a number outside the table.
const char *tc_room_status_name(uint32_t status);

// One decoded result (one per op of the batch, in op order).
struct tc_room_result {
    uint8_t status;     // enum tc_room_status
    bool duplicate;     // send: the key was seen before; seq/thread_seq/hash are the original ones;
                        // redact: the message was already redacted (nothing changed)
    uint64_t seq;       // send: the message's room seq; read_marker: the member's read marker after
                        // the op; redact: the redacted seq; other ok ops: the chain head seq
    uint64_t thread_seq; // send in a thread: the sub-sequence within the thread root; else 0
    struct tc_hash256 hash; // send: the message hash; read_marker, redact: zero; other ok ops: the
                            // chain head hash
};

// One decoded op (see tc_room_batch_reader).
struct tc_room_op {
    uint8_t kind;      // enum tc_room_op_kind
    uint64_t room;
    // creator (create_room), user_a (create_dm), user (join/leave/set_retention/read_marker/
    // redact), sender (send)
    uint64_t user;
    uint64_t user_b;   // create_dm only
    uint64_t seq;      // read_marker: the seq read up to; redact: the message to redact
    uint8_t key[TC_ROOM_KEY_SIZE]; // send only
    uint64_t thread_parent_seq;    // send only
    const uint8_t *body;           // send only: points into the batch
    uint32_t body_size;
    // set_retention only. The wire mode is a u32: a mode above 255 decodes as 255 (unknown, so
    // the op fails with invalid_retention like any other unknown mode).
    struct tc_room_retention retention;
};

// ------------------------------------------------------------------------------------------------
// Batch encoder: a builder over a caller buffer. The buffer always holds a valid batch once at
// least one op was added. Adders return 0, TC_ENOSPC (buffer or TC_ROOM_BATCH_OPS_MAX full; the
// batch is unchanged) or TC_EINVAL (send body size outside 1..TC_ROOM_BODY_SIZE_MAX; set_retention
// mode unknown or value out of range).
struct tc_room_batch {
    uint8_t *buffer;
    uint32_t size_max;
    uint32_t size;     // bytes used, header included
    uint32_t op_count;
};

void tc_room_batch_init(struct tc_room_batch *batch, uint8_t *buffer, uint32_t size_max);
int tc_room_batch_add_create_room(struct tc_room_batch *batch, uint64_t room, uint64_t creator);
int tc_room_batch_add_create_dm(struct tc_room_batch *batch, uint64_t room, uint64_t user_a,
                                uint64_t user_b);
int tc_room_batch_add_join(struct tc_room_batch *batch, uint64_t room, uint64_t user);
int tc_room_batch_add_leave(struct tc_room_batch *batch, uint64_t room, uint64_t user);
int tc_room_batch_add_send(struct tc_room_batch *batch, uint64_t room, uint64_t sender,
                           const uint8_t key[TC_ROOM_KEY_SIZE], uint64_t thread_parent_seq,
                           const uint8_t *body, uint32_t body_size);
// TC_EINVAL if the mode is unknown or the value is outside its range (the machine checks again).
int tc_room_batch_add_set_retention(struct tc_room_batch *batch, uint64_t room, uint64_t user,
                                    uint8_t mode, uint64_t value);
// Any seq encodes (the machine checks it against the room's head: invalid_seq).
int tc_room_batch_add_read_marker(struct tc_room_batch *batch, uint64_t room, uint64_t user,
                                  uint64_t seq);
// Any seq encodes (the machine checks it: invalid_seq, message_evicted, not_sender, ...).
int tc_room_batch_add_redact(struct tc_room_batch *batch, uint64_t room, uint64_t user,
                             uint64_t seq);

// Batch decoder. init validates the whole batch (0 or TC_ECORRUPT); next then yields every op in
// order and returns false after the last one.
struct tc_room_batch_reader {
    const uint8_t *body;
    uint32_t body_size;
    uint32_t offset;
    uint32_t op_count;
    uint32_t op_index;
};

int tc_room_batch_reader_init(struct tc_room_batch_reader *reader, const uint8_t *body,
                              uint32_t body_size);
bool tc_room_batch_reader_next(struct tc_room_batch_reader *reader, struct tc_room_op *op);

// Reply encoder (used by apply, the model and tests) and decoder (clients, simulator, edge).
// The writer asserts that the caller's buffer holds TC_ROOM_REPLY_SIZE_MAX bytes.
struct tc_room_reply_writer {
    uint8_t *buffer;
    uint32_t size_max;
    uint32_t count;
};
void tc_room_reply_writer_init(struct tc_room_reply_writer *writer, uint8_t *buffer,
                               uint32_t size_max);
void tc_room_reply_writer_add(struct tc_room_reply_writer *writer,
                              const struct tc_room_result *result);
// Finishes the header and returns the reply size in bytes.
uint32_t tc_room_reply_writer_finish(struct tc_room_reply_writer *writer);

// Number of results (>= 1), or TC_ECORRUPT if the reply does not decode.
int tc_room_reply_count(const uint8_t *reply, uint32_t reply_size);
// 0, TC_ECORRUPT (reply does not decode) or TC_ERANGE (index >= count).
int tc_room_reply_get(const uint8_t *reply, uint32_t reply_size, uint32_t index,
                      struct tc_room_result *out);

// ------------------------------------------------------------------------------------------------
// Reads (local, read-only, not through consensus). History lives in the message store
// (node/store, docs/store.md); the machine keeps only chain heads, policies and thread metadata.

// One committed message, as given to the sink and returned by store reads. `redacted` set: in a
// store read, the message was redacted (body NULL, body_size 0, body_hash = BLAKE2b-256 of the
// dropped body, so tc_room_chain_hash_step still verifies it); from the sink, a redaction event
// (room, seq, sender, timestamp_ns only; tc_room_sink).
struct tc_room_message {
    uint64_t room;
    uint64_t seq;
    uint64_t thread_parent_seq; // 0 if not a thread reply
    uint64_t thread_seq;        // 0 if not a thread reply
    uint64_t sender;
    uint64_t timestamp_ns;
    struct tc_hash256 hash;
    struct tc_hash256 prev_hash;
    const uint8_t *body; // sink: valid during the call; store reads: until the next read
    uint32_t body_size;
    bool redacted;
    struct tc_hash256 body_hash; // redacted only (zero otherwise)
};

// A room as the store and the edge need it.
struct tc_room_info {
    uint64_t room;
    uint32_t index;   // creation order: 0, 1, 2, ... (stable for the room's life)
    uint32_t kind;    // 1 group room, 2 DM
    uint64_t seq_last; // 0 if no message yet
    struct tc_hash256 hash_last;
    struct tc_room_retention retention;
    uint32_t member_count;
};

// TC_OK and *info, or TC_ENOENT.
int tc_room_info(const struct tc_room_machine *machine, uint64_t room, struct tc_room_info *info);
// The room created `index`-th (index < tc_room_count).
void tc_room_info_at(const struct tc_room_machine *machine, uint32_t index,
                     struct tc_room_info *info);
// Whether `user` is a member of `room` (false for an unknown room).
bool tc_room_is_member(const struct tc_room_machine *machine, uint64_t room, uint64_t user);
// The member's read marker in the room (0 until a read_marker op moves it; a leave forgets it).
// TC_OK and *seq, or TC_ENOENT if the room does not exist or the user is not a member.
int tc_room_read_marker(const struct tc_room_machine *machine, uint64_t room, uint64_t user,
                        uint64_t *seq);
// Store budget used so far (sum of TC_ROOM_STORE_COST over committed messages).
uint64_t tc_room_store_bytes_used(const struct tc_room_machine *machine);
// Whether message `seq` of `room` was redacted (false for an unknown room or seq). O(1).
bool tc_room_redacted(const struct tc_room_machine *machine, uint64_t room, uint64_t seq);
// Redactions committed so far (<= messages_max; they are never removed).
uint32_t tc_room_redaction_count(const struct tc_room_machine *machine);

// The room's last seq (0 if empty) and chain hash (zeros if empty). 0 or TC_ENOENT.
int tc_room_chain_head(const struct tc_room_machine *machine, uint64_t room, uint64_t *seq,
                       struct tc_hash256 *hash);

// Rooms created so far (for checkers and stats).
uint32_t tc_room_count(const struct tc_room_machine *machine);

// The hash-chain step: hash(n) from hash(n-1) and the message fields (body hashed inside).
void tc_room_chain_hash(struct tc_hash256 *out, const struct tc_hash256 *prev, uint64_t room,
                        uint64_t seq, uint64_t sender, uint64_t timestamp_ns, const uint8_t *body,
                        uint32_t body_size);
// The same step from the body's BLAKE2b-256 (a redacted message keeps only that).
void tc_room_chain_hash_step(struct tc_hash256 *out, const struct tc_hash256 *prev, uint64_t room,
                             uint64_t seq, uint64_t sender, uint64_t timestamp_ns,
                             const struct tc_hash256 *body_hash);

// ------------------------------------------------------------------------------------------------
// Checkpoint: the whole logical state as canonical bytes (docs/room.md, "Checkpoint encoding").
// Two machines that applied the same ops encode to identical bytes, so a checksum of the encoding
// can name the checkpoint across replicas. Hash indexes are not encoded: decode rebuilds them.

#define TC_ROOM_CHECKPOINT_MAGIC 0x43524354u // "TCRC" little-endian
// 4: redactions, window entries with their sender (3: without; 2: members without read markers)
#define TC_ROOM_CHECKPOINT_VERSION 4u
#define TC_ROOM_CHECKPOINT_HEADER_SIZE 80u // config, op_last, store_bytes_used, counts
#define TC_ROOM_CHECKPOINT_ROOM_SIZE 80u   // chain head, window start, members, kind, retention
#define TC_ROOM_CHECKPOINT_MEMBER_SIZE 24u // (room, user, read marker)
#define TC_ROOM_CHECKPOINT_WINDOW_SIZE 48u // thread-window entry with its sender: no body, no hash
#define TC_ROOM_CHECKPOINT_KEY_SIZE 72u    // idempotency entry
#define TC_ROOM_CHECKPOINT_REDACTION_SIZE 24u // (room, seq, sender)

// Upper bound of the encoded checkpoint for this (valid) config, in bytes.
uint64_t tc_room_checkpoint_size_max(const struct tc_room_config *config);
// Encodes the whole logical state canonically into `buffer`, which must hold
// tc_room_checkpoint_size_max(config) bytes. Returns the bytes written.
uint64_t tc_room_checkpoint_encode(const struct tc_room_machine *machine, uint8_t *buffer,
                                   uint64_t buffer_size);
// Replaces the machine's state by the decoded checkpoint. Returns TC_OK, or TC_ECORRUPT if the
// bytes are malformed or inconsistent (bad magic or version, a config other than the machine's,
// counts over limits, references to missing rooms, duplicate keys, a broken thread window, a store
// budget that disagrees with the message counts, trailing bytes, ...). On error the machine is left
// empty: same digest, encoding and behaviour as right after tc_room_init. The sink stays installed
// either way (it is not state).
int tc_room_checkpoint_decode(struct tc_room_machine *machine, const uint8_t *buffer,
                              uint64_t size);

#endif
