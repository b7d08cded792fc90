#ifndef TC_VSR_HEADER_H
#define TC_VSR_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "constants.h"
#include "tc_checksum.h"

// One fixed 256-byte header for every message, identical on the wire and on disk (a journal slot
// holds a prepare byte for byte as it was received). Little-endian host layout (asserted).
//
//   checksum       BLAKE2b-128 over header bytes [16, 256)
//   checksum_body  BLAKE2b-128 over the body (size - 256 bytes)
//   parent         prepare: checksum of the previous op's prepare header (the hash chain)
//                  reply: checksum of the prepare that produced it
//   context        prepare: checksum of the client request it carries
//                  prepare_ok / request_prepare: checksum of the prepare named by `op`
//                  reply: checksum of the request it answers
//                  start_view / do_view_change: checksum of the sender's head op header
//                  commit: checksum of the prepare at `commit`
//   parent (commit) checksum (id) of the sender's durable checkpoint at `checkpoint_op`, or zero
//   state sync (docs/vsr.md §11.3): request_sync: op = byte offset wanted, commit = requester's
//                  commit_min, checkpoint_op = the checkpoint being fetched (0: any newer one);
//                  sync: op = byte offset of this chunk, commit = checkpoint size in bytes,
//                  parent = checkpoint id, body = the checkpoint op's prepare header + the chunk
//   cluster        cluster id; every field below is validated per command by tc_header_validate
//
// Fields a command does not use must be zero; reserved bytes must be zero.
struct tc_header {
    struct tc_checksum checksum;
    struct tc_checksum checksum_body;
    struct tc_checksum parent;
    struct tc_checksum context;
    uint64_t cluster;
    uint64_t client;    // client id (request, prepare, reply, eviction)
    uint64_t op;        // op number (prepare, prepare_ok, reply, do_view_change head, ...)
    uint64_t commit;    // sender's commit number (commit_max)
    uint64_t timestamp; // wall-clock nanoseconds stamped by the primary (prepare, reply);
                        // do_view_change: 1 if the sender's head is uncertain (nacks only)
    uint64_t session;   // client session (the op of its register): chat request, prepare, reply
    uint64_t checkpoint_op; // prepare_ok / commit: the sender's durable checkpoint op;
                            // request_sync / sync: the checkpoint being transferred (else 0)
    uint32_t size;      // header + body bytes
    uint32_t epoch;     // the sender's group configuration epoch (docs/vsr.md §11.4)
    uint32_t view;
    uint32_t log_view;  // do_view_change: the last view in which the sender was normal
    uint32_t request;   // client request number (request, prepare, reply)
    uint32_t group;     // VSR group id; a node hosts replicas of many groups
    uint8_t version;    // TC_HEADER_VERSION
    uint8_t command;    // enum tc_command
    uint8_t operation;  // enum tc_operation (request, prepare, reply)
    uint8_t replica;    // sender address: slot or learner (TC_REPLICA_ADDRESS_LEARNER); 0 in requests
    uint8_t reserved[108];
};

_Static_assert(sizeof(struct tc_header) == TC_HEADER_SIZE, "header is 256 bytes");
_Static_assert(offsetof(struct tc_header, cluster) == 64, "checksums come first");
_Static_assert(offsetof(struct tc_header, reserved) == 148, "no padding before reserved");

#define TC_HEADER_VERSION 1u

#define TC_COMMAND_TABLE(X)                                                                        \
    X(TC_COMMAND_RESERVED, 0, "reserved")                                                          \
    X(TC_COMMAND_REQUEST, 1, "request")                                                            \
    X(TC_COMMAND_PREPARE, 2, "prepare")                                                            \
    X(TC_COMMAND_PREPARE_OK, 3, "prepare_ok")                                                      \
    X(TC_COMMAND_REPLY, 4, "reply")                                                                \
    X(TC_COMMAND_COMMIT, 5, "commit")                                                              \
    X(TC_COMMAND_START_VIEW_CHANGE, 6, "start_view_change")                                        \
    X(TC_COMMAND_DO_VIEW_CHANGE, 7, "do_view_change")                                              \
    X(TC_COMMAND_START_VIEW, 8, "start_view")                                                      \
    X(TC_COMMAND_REQUEST_START_VIEW, 9, "request_start_view")                                      \
    X(TC_COMMAND_REQUEST_PREPARE, 10, "request_prepare")                                           \
    X(TC_COMMAND_EVICTION, 11, "eviction")                                                         \
    X(TC_COMMAND_REQUEST_SYNC, 12, "request_sync")                                                 \
    X(TC_COMMAND_SYNC, 13, "sync")                                                                 \
    X(TC_COMMAND_REQUEST_STORE, 14, "request_store")                                               \
    X(TC_COMMAND_STORE_CHUNK, 15, "store_chunk")                                                   \
    X(TC_COMMAND_START_EPOCH, 16, "start_epoch")

enum tc_command {
#define TC_COMMAND_ENUM(name, value, text) name = value,
    TC_COMMAND_TABLE(TC_COMMAND_ENUM)
#undef TC_COMMAND_ENUM
    TC_COMMAND_COUNT
};

#define TC_OPERATION_TABLE(X)                                                                      \
    X(TC_OPERATION_RESERVED, 0, "reserved")                                                        \
    X(TC_OPERATION_ROOT, 1, "root")                                                                \
    X(TC_OPERATION_REGISTER, 2, "register")                                                        \
    X(TC_OPERATION_CHAT, 3, "chat")                                                                \
    X(TC_OPERATION_RECONFIGURE, 4, "reconfigure")

enum tc_operation {
#define TC_OPERATION_ENUM(name, value, text) name = value,
    TC_OPERATION_TABLE(TC_OPERATION_ENUM)
#undef TC_OPERATION_ENUM
    TC_OPERATION_COUNT
};

// Addresses (header.replica of a replica's message, and send_to_replica's target): a member sends
// as its slot (< TC_REPLICAS_MAX); a learner, a replica not in its group's configuration, as
// TC_REPLICA_ADDRESS_LEARNER(slot). The io routes a slot address by the epoch the sender names
// (the member of that slot in that epoch) and a learner address to that slot's newest replica
// (vsr.md §11.4).
#define TC_REPLICA_ADDRESS_LEARNER(slot) ((uint8_t)(TC_REPLICAS_MAX + (slot)))
#define TC_EPOCH_CURRENT UINT32_MAX // send_to_replica: the newest epoch the io knows
#define TC_REPLICA_ADDRESSES_MAX (2u * TC_REPLICAS_MAX)

// The body of a reconfigure request/prepare (docs/vsr.md §11.4): replace the member of `slot`
// (replica_id_old) by replica_id_new, entering epoch `epoch`. Little-endian, 24 bytes.
#define TC_RECONFIGURE_BODY_SIZE 24u
struct tc_reconfigure {
    uint32_t epoch; // the epoch this change starts (current + 1)
    uint8_t slot;
    uint8_t reserved[3];
    uint64_t replica_id_old;
    uint64_t replica_id_new;
};
_Static_assert(sizeof(struct tc_reconfigure) == TC_RECONFIGURE_BODY_SIZE, "reconfigure layout");

// The reply body of a reconfigure: a status and the epoch the group is in after the op.
#define TC_RECONFIGURE_REPLY_SIZE 8u
#define TC_RECONFIGURE_STATUS_TABLE(X)                                                             \
    X(TC_RECONFIGURE_OK, 0, "ok")                           /* applied, or applied before */       \
    X(TC_RECONFIGURE_STALE_EPOCH, 1, "stale_epoch")         /* epoch is not current + 1 */         \
    X(TC_RECONFIGURE_MEMBER_MISMATCH, 2, "member_mismatch") /* slot holds another replica */       \
    X(TC_RECONFIGURE_INVALID, 3, "invalid")                 /* bad slot, ids, reserved bytes */

enum tc_reconfigure_status {
#define TC_RECONFIGURE_STATUS_ENUM(name, value, text) name = value,
    TC_RECONFIGURE_STATUS_TABLE(TC_RECONFIGURE_STATUS_ENUM)
#undef TC_RECONFIGURE_STATUS_ENUM
};
const char *tc_reconfigure_status_name(uint32_t status);

const char *tc_command_name(uint32_t command);
const char *tc_operation_name(uint32_t operation);

// Sets `checksum` from the other header bytes. Call after every field (and checksum_body) is final.
void tc_header_set_checksum(struct tc_header *header);
void tc_header_set_checksum_body(struct tc_header *header, const uint8_t *body, uint32_t body_size);
bool tc_header_valid_checksum(const struct tc_header *header);
bool tc_header_valid_checksum_body(const struct tc_header *header, const uint8_t *body);

// Validates the structure of a header whose checksum already verified: version, command,
// size bounds, per-command field rules, zero reserved bytes. Returns NULL if valid, else a static
// string naming the first violated rule (used in drop counters and logs).
const char *tc_header_invalid(const struct tc_header *header);

// The header of op 0: the same root prepare on every replica of a (cluster, group).
void tc_header_root_prepare(struct tc_header *header, uint64_t cluster, uint32_t group);
// A reserved (empty) journal slot header: command reserved, op = slot index (exposes misdirected I/O).
void tc_header_reserved(struct tc_header *header, uint64_t cluster, uint32_t group, uint64_t slot);

#endif
