// Unit tests of the 256-byte VSR header (node/vsr/header.c): per-command validation rules,
// checksums, root/reserved constructors and names.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "header.h"
#include "tc_assert.h"
#include "tc_prng.h"

#define CLUSTER 0xC1u
#define GROUP 3u

static void assert_handler(const char *expression, const char *file, int line) {
    mock_assert(0, expression, file, line);
}

// ------------------------------------------------------------------------------------------------
// Valid examples of every command.

static void base(struct tc_header *h, enum tc_command command) {
    memset(h, 0, sizeof(*h));
    h->version = TC_HEADER_VERSION;
    h->command = (uint8_t)command;
    h->cluster = CLUSTER;
    h->group = GROUP;
    h->size = TC_HEADER_SIZE;
    h->view = 4;
    h->replica = 2;
}

static void fill_checksum(struct tc_checksum *c, uint8_t seed) {
    for (uint32_t i = 0; i < sizeof(c->bytes); i++) c->bytes[i] = (uint8_t)(seed + i + 1);
}

static void valid_request(struct tc_header *h) {
    base(h, TC_COMMAND_REQUEST);
    h->client = 77;
    h->operation = TC_OPERATION_CHAT;
    h->request = 5;
    h->session = 3;
    h->replica = 0;
    h->size = TC_HEADER_SIZE + 100;
}

static void valid_register(struct tc_header *h) {
    base(h, TC_COMMAND_REQUEST);
    h->client = 77;
    h->operation = TC_OPERATION_REGISTER;
    h->request = 0;
    h->replica = 0;
}

static void valid_prepare(struct tc_header *h) {
    base(h, TC_COMMAND_PREPARE);
    h->client = 77;
    h->op = 10;
    h->commit = 9;
    h->timestamp = 123456789;
    h->operation = TC_OPERATION_CHAT;
    h->request = 3;
    h->session = 2;
    h->size = TC_HEADER_SIZE + 1000;
    fill_checksum(&h->parent, 1);
    fill_checksum(&h->context, 2);
}

static void valid_prepare_register(struct tc_header *h) {
    valid_prepare(h);
    h->operation = TC_OPERATION_REGISTER;
    h->request = 0;
    h->session = 0;
    h->size = TC_HEADER_SIZE;
}

static void valid_prepare_ok(struct tc_header *h) {
    base(h, TC_COMMAND_PREPARE_OK);
    h->op = 10;
    h->commit = 8;
    fill_checksum(&h->context, 3);
}

static void valid_reply(struct tc_header *h) {
    base(h, TC_COMMAND_REPLY);
    h->client = 77;
    h->op = 10;
    h->request = 3;
    h->timestamp = 5;
    h->session = 2;
    h->operation = TC_OPERATION_CHAT;
    h->size = TC_HEADER_SIZE + 64;
}

static void valid_control(struct tc_header *h, enum tc_command command) {
    base(h, command);
    h->op = command == TC_COMMAND_REQUEST_PREPARE ? 7 : 0;
    h->commit = 6;
}

static void valid_view(struct tc_header *h, enum tc_command command, uint32_t headers) {
    base(h, command);
    h->view = 6;
    h->log_view = command == TC_COMMAND_START_VIEW ? 6 : 3;
    h->op = 20;
    h->commit = 18;
    h->size = TC_HEADER_SIZE * (1 + headers);
}

static void valid_start_epoch(struct tc_header *h) {
    valid_control(h, TC_COMMAND_START_EPOCH);
    h->op = 40;
    h->commit = 40;
    h->epoch = 2;
    memset(&h->context, 0x5a, sizeof(h->context));
}

static void valid_request_store(struct tc_header *h) {
    valid_control(h, TC_COMMAND_REQUEST_STORE);
    h->op = 3;
    h->commit = 2 * TC_SECTOR_SIZE;
}

static void valid_eviction(struct tc_header *h) {
    base(h, TC_COMMAND_EVICTION);
    h->client = 77;
}

static void test_valid_examples(void **state) {
    (void)state;
    struct tc_header h;
    tc_header_reserved(&h, CLUSTER, GROUP, 9);
    assert_null(tc_header_invalid(&h));
    tc_header_root_prepare(&h, CLUSTER, GROUP);
    assert_null(tc_header_invalid(&h));
    valid_request(&h);
    assert_null(tc_header_invalid(&h));
    valid_register(&h);
    assert_null(tc_header_invalid(&h));
    valid_prepare(&h);
    assert_null(tc_header_invalid(&h));
    valid_prepare_register(&h);
    assert_null(tc_header_invalid(&h));
    valid_prepare_ok(&h);
    assert_null(tc_header_invalid(&h));
    valid_reply(&h);
    assert_null(tc_header_invalid(&h));
    h.size = TC_REPLY_SIZE_MAX;
    assert_null(tc_header_invalid(&h));
    valid_control(&h, TC_COMMAND_COMMIT);
    assert_null(tc_header_invalid(&h));
    h.checkpoint_op = h.commit; // a heartbeat names the primary's durable checkpoint and its id
    fill_checksum(&h.parent, 4);
    assert_null(tc_header_invalid(&h));
    valid_prepare_ok(&h);
    h.checkpoint_op = h.op;
    assert_null(tc_header_invalid(&h));
    valid_control(&h, TC_COMMAND_START_VIEW_CHANGE);
    assert_null(tc_header_invalid(&h));
    valid_control(&h, TC_COMMAND_REQUEST_START_VIEW);
    assert_null(tc_header_invalid(&h));
    valid_control(&h, TC_COMMAND_REQUEST_PREPARE);
    assert_null(tc_header_invalid(&h));
    for (uint32_t n = 1; n <= TC_VIEW_HEADERS_MAX; n++) {
        valid_view(&h, TC_COMMAND_DO_VIEW_CHANGE, n);
        assert_null(tc_header_invalid(&h));
        valid_view(&h, TC_COMMAND_START_VIEW, n);
        assert_null(tc_header_invalid(&h));
    }
    for (uint32_t n = 1; n <= TC_VIEW_HEADERS_MAX; n++) {
        valid_view(&h, TC_COMMAND_DO_VIEW_CHANGE, n);
        h.request = (1u << n) - 1; // nack bits: one per body header
        assert_null(tc_header_invalid(&h));
        h.timestamp = 1; // the sender's head is uncertain: it only nacks
        assert_null(tc_header_invalid(&h));
    }
    valid_reply(&h);
    h.session = 0; // a reply may carry no session (register)
    assert_null(tc_header_invalid(&h));
    valid_view(&h, TC_COMMAND_DO_VIEW_CHANGE, 1);
    h.log_view = h.view; // equal is allowed
    assert_null(tc_header_invalid(&h));
    h.commit = h.op;
    assert_null(tc_header_invalid(&h));
    valid_eviction(&h);
    assert_null(tc_header_invalid(&h));
    // Size bounds are inclusive.
    valid_prepare(&h);
    h.size = TC_MESSAGE_SIZE_MAX;
    assert_null(tc_header_invalid(&h));
    // Every replica index below the maximum.
    for (uint32_t r = 0; r < TC_REPLICAS_MAX; r++) {
        valid_prepare_ok(&h);
        h.replica = (uint8_t)r;
        assert_null(tc_header_invalid(&h));
    }
}

// ------------------------------------------------------------------------------------------------
// Every rule is hit by a mutated header.

struct mutation {
    const char *name;
    void (*make)(struct tc_header *h);
    const char *expected;
};

#define MUTATION(fn_name, expected_text, body)                                                    \
    static void fn_name(struct tc_header *h) { body }

MUTATION(m_version0, "version", valid_prepare(h); h->version = 0;)
MUTATION(m_version2, "version", valid_prepare_ok(h); h->version = 2;)
MUTATION(m_size_small, "size < header", valid_prepare(h); h->size = TC_HEADER_SIZE - 1;)
MUTATION(m_size_zero, "size < header", valid_eviction(h); h->size = 0;)
MUTATION(m_size_big, "size > message_size_max", valid_prepare(h);
         h->size = TC_MESSAGE_SIZE_MAX + 1;)
MUTATION(m_size_huge, "size > message_size_max", valid_request(h); h->size = UINT32_MAX;)
MUTATION(m_reserved_first, "reserved bytes not zero", valid_prepare(h); h->reserved[0] = 1;)
MUTATION(m_reserved_last, "reserved bytes not zero", valid_prepare_ok(h);
         h->reserved[sizeof(h->reserved) - 1] = 0x80;)
MUTATION(m_reserved_mid, "reserved bytes not zero", tc_header_reserved(h, CLUSTER, GROUP, 1);
         h->reserved[61] = 0x10;)
MUTATION(m_replica, "replica address out of range", valid_prepare_ok(h);
         h->replica = 2 * TC_REPLICAS_MAX;)
MUTATION(m_replica_max, "replica address out of range", valid_prepare(h); h->replica = 255;)
MUTATION(m_request_epoch, "request: epoch", valid_request(h); h->epoch = 1;)
MUTATION(m_request_reconfigure_size, "request: reconfigure body size", valid_request(h);
         h->operation = TC_OPERATION_RECONFIGURE;)
MUTATION(m_prepare_reconfigure_size, "prepare: reconfigure body size", valid_prepare(h);
         h->operation = TC_OPERATION_RECONFIGURE;)
MUTATION(m_start_epoch_size, "start_epoch: size", valid_start_epoch(h); h->size = 2 * TC_HEADER_SIZE;)
MUTATION(m_start_epoch_client, "start_epoch: client fields", valid_start_epoch(h); h->client = 1;)
MUTATION(m_start_epoch_op, "start_epoch: op/epoch", valid_start_epoch(h); h->commit = h->op + 1;)
MUTATION(m_start_epoch_epoch, "start_epoch: op/epoch", valid_start_epoch(h); h->epoch = 0;)
MUTATION(m_start_epoch_context, "start_epoch: context", valid_start_epoch(h);
         memset(&h->context, 0, sizeof(h->context));)
MUTATION(m_start_epoch_log_view, "start_epoch: log_view", valid_start_epoch(h); h->log_view = 1;)
MUTATION(m_store_client, "store: client fields", valid_request_store(h); h->timestamp = 1;)
MUTATION(m_store_log_view, "store: log_view", valid_request_store(h); h->log_view = 1;)
MUTATION(m_store_offset, "store: offset not sector aligned", valid_request_store(h); h->commit = 1;)
MUTATION(m_store_offset_max, "store: offset", valid_request_store(h);
         h->commit = (uint64_t)TC_SECTOR_SIZE << 32;)
MUTATION(m_request_store_size, "request_store: size", valid_request_store(h);
         h->size = TC_HEADER_SIZE + TC_SECTOR_SIZE;)
MUTATION(m_store_chunk_size, "store_chunk: body size", valid_request_store(h);
         h->command = TC_COMMAND_STORE_CHUNK; h->size = TC_HEADER_SIZE + 100;)
MUTATION(m_command_range, "command out of range", valid_prepare_ok(h);
         h->command = TC_COMMAND_COUNT;)
MUTATION(m_command_255, "command out of range", valid_prepare_ok(h); h->command = 255;)
MUTATION(m_reserved_size, "reserved: size/operation", tc_header_reserved(h, CLUSTER, GROUP, 1);
         h->size = TC_HEADER_SIZE + 256;)
MUTATION(m_reserved_operation, "reserved: size/operation",
         tc_header_reserved(h, CLUSTER, GROUP, 1); h->operation = TC_OPERATION_CHAT;)
// Request.
MUTATION(m_request_client, "request: client is zero", valid_request(h); h->client = 0;)
MUTATION(m_request_operation_root, "request: operation", valid_request(h);
         h->operation = TC_OPERATION_ROOT;)
MUTATION(m_request_operation_reserved, "request: operation", valid_request(h);
         h->operation = TC_OPERATION_RESERVED;)
MUTATION(m_request_operation_range, "request: operation", valid_request(h);
         h->operation = TC_OPERATION_COUNT;)
MUTATION(m_request_register_request, "request: register != 0", valid_register(h);
         h->request = 1;)
MUTATION(m_request_chat_zero, "request: chat request == 0", valid_request(h); h->request = 0;)
MUTATION(m_request_register_session, "request: register session", valid_register(h);
         h->session = 1;)
MUTATION(m_request_chat_session, "request: chat session is 0", valid_request(h); h->session = 0;)
MUTATION(m_request_op, "request: op/commit/timestamp", valid_request(h); h->op = 1;)
MUTATION(m_request_commit, "request: op/commit/timestamp", valid_request(h); h->commit = 1;)
MUTATION(m_request_timestamp, "request: op/commit/timestamp", valid_request(h);
         h->timestamp = 1;)
MUTATION(m_request_log_view, "request: log_view/replica", valid_request(h); h->log_view = 1;)
MUTATION(m_request_replica, "request: log_view/replica", valid_request(h); h->replica = 1;)
MUTATION(m_request_context, "request: context", valid_request(h); h->context.bytes[15] = 1;)
// Prepare (root).
MUTATION(m_root_operation, "prepare: op 0 is not root", tc_header_root_prepare(h, CLUSTER, GROUP);
         h->operation = TC_OPERATION_CHAT;)
MUTATION(m_root_client, "prepare: root fields", tc_header_root_prepare(h, CLUSTER, GROUP);
         h->client = 1;)
MUTATION(m_root_request, "prepare: root fields", tc_header_root_prepare(h, CLUSTER, GROUP);
         h->request = 1;)
MUTATION(m_root_view, "prepare: root fields", tc_header_root_prepare(h, CLUSTER, GROUP);
         h->view = 1;)
MUTATION(m_root_size, "prepare: root size/commit", tc_header_root_prepare(h, CLUSTER, GROUP);
         h->size = TC_HEADER_SIZE + 1;)
MUTATION(m_root_commit, "prepare: root size/commit", tc_header_root_prepare(h, CLUSTER, GROUP);
         h->commit = 1;)
MUTATION(m_root_session, "prepare: root session", tc_header_root_prepare(h, CLUSTER, GROUP);
         h->session = 1;)
// Prepare (op > 0).
MUTATION(m_prepare_operation_root, "prepare: operation", valid_prepare(h);
         h->operation = TC_OPERATION_ROOT;)
MUTATION(m_prepare_operation_reserved, "prepare: operation", valid_prepare(h);
         h->operation = TC_OPERATION_RESERVED;)
MUTATION(m_prepare_operation_range, "prepare: operation", valid_prepare(h); h->operation = 200;)
MUTATION(m_prepare_client, "prepare: client is zero", valid_prepare(h); h->client = 0;)
MUTATION(m_prepare_commit_eq, "prepare: commit >= op", valid_prepare(h); h->commit = h->op;)
MUTATION(m_prepare_commit_gt, "prepare: commit >= op", valid_prepare(h); h->commit = UINT64_MAX;)
MUTATION(m_prepare_timestamp, "prepare: timestamp is zero", valid_prepare(h); h->timestamp = 0;)
MUTATION(m_prepare_log_view, "prepare: log_view", valid_prepare(h); h->log_view = 1;)
MUTATION(m_prepare_register_request, "prepare: register req", valid_prepare_register(h);
         h->request = 2;)
MUTATION(m_prepare_chat_zero, "prepare: chat request 0", valid_prepare(h); h->request = 0;)
MUTATION(m_prepare_register_session, "prepare: register session", valid_prepare_register(h);
         h->session = 5;)
MUTATION(m_prepare_chat_session, "prepare: chat session 0", valid_prepare(h); h->session = 0;)
// Session only on request, prepare and reply.
MUTATION(m_session_eviction, "session on a command without one", valid_eviction(h);
         h->session = 1;)
MUTATION(m_session_prepare_ok, "session on a command without one", valid_prepare_ok(h);
         h->session = 1;)
MUTATION(m_session_reserved, "session on a command without one",
         tc_header_reserved(h, CLUSTER, GROUP, 1); h->session = UINT64_MAX;)
MUTATION(m_session_dvc, "session on a command without one",
         valid_view(h, TC_COMMAND_DO_VIEW_CHANGE, 2); h->session = 2;)
MUTATION(m_session_commit, "session on a command without one",
         valid_control(h, TC_COMMAND_COMMIT); h->session = 3;)
// Reply.
MUTATION(m_reply_client, "reply: client/op", valid_reply(h); h->client = 0;)
MUTATION(m_reply_op, "reply: client/op", valid_reply(h); h->op = 0;)
MUTATION(m_reply_size, "reply: size", valid_reply(h); h->size = TC_REPLY_SIZE_MAX + 1;)
// Eviction.
MUTATION(m_eviction_client, "eviction: client/size", valid_eviction(h); h->client = 0;)
MUTATION(m_eviction_size, "eviction: client/size", valid_eviction(h);
         h->size = TC_HEADER_SIZE + 256;)
// Control commands.
MUTATION(m_prepare_ok_size, "control: size", valid_prepare_ok(h); h->size = TC_HEADER_SIZE * 2;)
MUTATION(m_commit_size, "control: size", valid_control(h, TC_COMMAND_COMMIT);
         h->size = TC_HEADER_SIZE + 1;)
MUTATION(m_control_client, "control: client fields", valid_control(h, TC_COMMAND_COMMIT);
         h->client = 1;)
MUTATION(m_control_request, "control: client fields",
         valid_control(h, TC_COMMAND_START_VIEW_CHANGE); h->request = 1;)
MUTATION(m_control_timestamp, "control: client fields", valid_prepare_ok(h); h->timestamp = 1;)
MUTATION(m_control_operation, "control: operation", valid_control(h, TC_COMMAND_REQUEST_PREPARE);
         h->operation = TC_OPERATION_CHAT;)
MUTATION(m_prepare_ok_op, "prepare_ok: op is zero", valid_prepare_ok(h); h->op = 0;)
MUTATION(m_prepare_ok_context, "prepare_ok: context", valid_prepare_ok(h);
         memset(&h->context, 0, sizeof(h->context));)
MUTATION(m_request_prepare_op, "request_prepare: op is zero",
         valid_control(h, TC_COMMAND_REQUEST_PREPARE); h->op = 0;)
MUTATION(m_commit_log_view, "control: log_view", valid_control(h, TC_COMMAND_COMMIT);
         h->log_view = 1;)
MUTATION(m_checkpoint_op_prepare, "checkpoint_op on a command without one", valid_prepare(h);
         h->checkpoint_op = 1;)
MUTATION(m_prepare_ok_checkpoint, "prepare_ok: checkpoint_op > op", valid_prepare_ok(h);
         h->checkpoint_op = h->op + 1;)
MUTATION(m_commit_checkpoint, "commit: checkpoint_op > commit", valid_control(h, TC_COMMAND_COMMIT);
         h->checkpoint_op = h->commit + 1; h->parent.bytes[0] = 1;)
MUTATION(m_commit_checkpoint_id, "commit: checkpoint id", valid_control(h, TC_COMMAND_COMMIT);
         h->parent.bytes[3] = 7;)
MUTATION(m_svc_log_view, "control: log_view", valid_control(h, TC_COMMAND_START_VIEW_CHANGE);
         h->log_view = 2;)
MUTATION(m_rsv_log_view, "control: log_view", valid_control(h, TC_COMMAND_REQUEST_START_VIEW);
         h->log_view = 3;)
// View headers (do_view_change / start_view).
MUTATION(m_dvc_empty, "view: body not headers", valid_view(h, TC_COMMAND_DO_VIEW_CHANGE, 1);
         h->size = TC_HEADER_SIZE;)
MUTATION(m_dvc_partial, "view: body not headers", valid_view(h, TC_COMMAND_DO_VIEW_CHANGE, 2);
         h->size -= 1;)
MUTATION(m_sv_partial, "view: body not headers", valid_view(h, TC_COMMAND_START_VIEW, 1);
         h->size += 128;)
MUTATION(m_dvc_too_many, "view: too many headers",
         valid_view(h, TC_COMMAND_DO_VIEW_CHANGE, TC_VIEW_HEADERS_MAX + 1);)
MUTATION(m_sv_too_many, "view: too many headers",
         valid_view(h, TC_COMMAND_START_VIEW, TC_VIEW_HEADERS_MAX + 7);)
MUTATION(m_view_client, "view: client fields", valid_view(h, TC_COMMAND_DO_VIEW_CHANGE, 1);
         h->client = 9;)
MUTATION(m_sv_request, "sv: request", valid_view(h, TC_COMMAND_START_VIEW, 1); h->request = 1;)
MUTATION(m_dvc_nack_bits, "dvc: nack bits", valid_view(h, TC_COMMAND_DO_VIEW_CHANGE, 3);
         h->request = 1u << 3;)
MUTATION(m_dvc_nack_bits_max, "dvc: nack bits",
         valid_view(h, TC_COMMAND_DO_VIEW_CHANGE, TC_VIEW_HEADERS_MAX); h->request = UINT32_MAX;)
MUTATION(m_view_timestamp, "view: timestamp", valid_view(h, TC_COMMAND_START_VIEW, 1);
         h->timestamp = 1;)
MUTATION(m_dvc_timestamp, "view: timestamp", valid_view(h, TC_COMMAND_DO_VIEW_CHANGE, 1);
         h->timestamp = 2;)
MUTATION(m_dvc_log_view, "view: log_view > view", valid_view(h, TC_COMMAND_DO_VIEW_CHANGE, 1);
         h->log_view = h->view + 1;)
MUTATION(m_sv_log_view_gt, "view: log_view > view", valid_view(h, TC_COMMAND_START_VIEW, 1);
         h->log_view = h->view + 1;)
MUTATION(m_view_commit, "view: commit > op", valid_view(h, TC_COMMAND_DO_VIEW_CHANGE, 1);
         h->commit = h->op + 1;)
MUTATION(m_sv_log_view, "sv: log_view", valid_view(h, TC_COMMAND_START_VIEW, 1);
         h->log_view = h->view - 1;)

#define M(fn, text) {#fn, fn, text}
static const struct mutation mutations[] = {
    M(m_version0, "version"),
    M(m_version2, "version"),
    M(m_size_small, "size < header"),
    M(m_size_zero, "size < header"),
    M(m_size_big, "size > message_size_max"),
    M(m_size_huge, "size > message_size_max"),
    M(m_reserved_first, "reserved bytes not zero"),
    M(m_reserved_last, "reserved bytes not zero"),
    M(m_reserved_mid, "reserved bytes not zero"),
    M(m_replica, "replica address out of range"),
    M(m_replica_max, "replica address out of range"),
    M(m_request_epoch, "request: epoch"),
    M(m_request_reconfigure_size, "request: reconfigure body size"),
    M(m_prepare_reconfigure_size, "prepare: reconfigure body size"),
    M(m_start_epoch_size, "start_epoch: size"),
    M(m_start_epoch_client, "start_epoch: client fields"),
    M(m_start_epoch_op, "start_epoch: op/epoch"),
    M(m_start_epoch_epoch, "start_epoch: op/epoch"),
    M(m_start_epoch_context, "start_epoch: context"),
    M(m_start_epoch_log_view, "start_epoch: log_view"),
    M(m_store_client, "store: client fields"),
    M(m_store_log_view, "store: log_view"),
    M(m_store_offset, "store: offset not sector aligned"),
    M(m_store_offset_max, "store: offset"),
    M(m_request_store_size, "request_store: size"),
    M(m_store_chunk_size, "store_chunk: body size"),
    M(m_command_range, "command out of range"),
    M(m_command_255, "command out of range"),
    M(m_reserved_size, "reserved: size/operation"),
    M(m_reserved_operation, "reserved: size/operation"),
    M(m_request_client, "request: client is zero"),
    M(m_request_operation_root, "request: operation"),
    M(m_request_operation_reserved, "request: operation"),
    M(m_request_operation_range, "request: operation"),
    M(m_request_register_request, "request: register != 0"),
    M(m_request_chat_zero, "request: chat request == 0"),
    M(m_request_register_session, "request: register session"),
    M(m_request_chat_session, "request: chat session is 0"),
    M(m_request_op, "request: op/commit/timestamp"),
    M(m_request_commit, "request: op/commit/timestamp"),
    M(m_request_timestamp, "request: op/commit/timestamp"),
    M(m_request_log_view, "request: log_view/replica"),
    M(m_request_replica, "request: log_view/replica"),
    M(m_request_context, "request: context"),
    M(m_root_operation, "prepare: op 0 is not root"),
    M(m_root_client, "prepare: root fields"),
    M(m_root_request, "prepare: root fields"),
    M(m_root_view, "prepare: root fields"),
    M(m_root_size, "prepare: root size/commit"),
    M(m_root_commit, "prepare: root size/commit"),
    M(m_root_session, "prepare: root session"),
    M(m_prepare_operation_root, "prepare: operation"),
    M(m_prepare_operation_reserved, "prepare: operation"),
    M(m_prepare_operation_range, "prepare: operation"),
    M(m_prepare_client, "prepare: client is zero"),
    M(m_prepare_commit_eq, "prepare: commit >= op"),
    M(m_prepare_commit_gt, "prepare: commit >= op"),
    M(m_prepare_timestamp, "prepare: timestamp is zero"),
    M(m_prepare_log_view, "prepare: log_view"),
    M(m_prepare_register_request, "prepare: register req"),
    M(m_prepare_chat_zero, "prepare: chat request 0"),
    M(m_prepare_register_session, "prepare: register session"),
    M(m_prepare_chat_session, "prepare: chat session 0"),
    M(m_session_eviction, "session on a command without one"),
    M(m_session_prepare_ok, "session on a command without one"),
    M(m_session_reserved, "session on a command without one"),
    M(m_session_dvc, "session on a command without one"),
    M(m_session_commit, "session on a command without one"),
    M(m_reply_client, "reply: client/op"),
    M(m_reply_op, "reply: client/op"),
    M(m_reply_size, "reply: size"),
    M(m_eviction_client, "eviction: client/size"),
    M(m_eviction_size, "eviction: client/size"),
    M(m_prepare_ok_size, "control: size"),
    M(m_commit_size, "control: size"),
    M(m_control_client, "control: client fields"),
    M(m_control_request, "control: client fields"),
    M(m_control_timestamp, "control: client fields"),
    M(m_control_operation, "control: operation"),
    M(m_prepare_ok_op, "prepare_ok: op is zero"),
    M(m_prepare_ok_context, "prepare_ok: context"),
    M(m_request_prepare_op, "request_prepare: op is zero"),
    M(m_commit_log_view, "control: log_view"),
    M(m_svc_log_view, "control: log_view"),
    M(m_checkpoint_op_prepare, "checkpoint_op on a command without one"),
    M(m_prepare_ok_checkpoint, "prepare_ok: checkpoint_op > op"),
    M(m_commit_checkpoint, "commit: checkpoint_op > commit"),
    M(m_commit_checkpoint_id, "commit: checkpoint id"),
    M(m_rsv_log_view, "control: log_view"),
    M(m_dvc_empty, "view: body not headers"),
    M(m_dvc_partial, "view: body not headers"),
    M(m_sv_partial, "view: body not headers"),
    M(m_dvc_too_many, "view: too many headers"),
    M(m_sv_too_many, "view: too many headers"),
    M(m_view_client, "view: client fields"),
    M(m_sv_request, "sv: request"),
    M(m_dvc_nack_bits, "dvc: nack bits"),
    M(m_dvc_nack_bits_max, "dvc: nack bits"),
    M(m_view_timestamp, "view: timestamp"),
    M(m_dvc_timestamp, "view: timestamp"),
    M(m_dvc_log_view, "view: log_view > view"),
    M(m_sv_log_view_gt, "view: log_view > view"),
    M(m_view_commit, "view: commit > op"),
    M(m_sv_log_view, "sv: log_view"),
};
#undef M

static void test_each_rule(void **state) {
    (void)state;
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(mutations); i++) {
        struct tc_header h;
        mutations[i].make(&h);
        const char *got = tc_header_invalid(&h);
        if (got == NULL) fail_msg("%s: accepted, expected \"%s\"", mutations[i].name,
                                  mutations[i].expected);
        if (strcmp(got, mutations[i].expected) != 0) {
            fail_msg("%s: got \"%s\", expected \"%s\"", mutations[i].name, got,
                     mutations[i].expected);
        }
    }
}

// Every distinct rule string in tc_header_invalid appears in the table above.
static void test_rules_covered(void **state) {
    (void)state;
    static const char *const rules[] = {
        "version",
        "size < header",
        "size > message_size_max",
        "reserved bytes not zero",
        "replica address out of range",
        "request: epoch",
        "request: reconfigure body size",
        "prepare: reconfigure body size",
        "start_epoch: size",
        "start_epoch: client fields",
        "start_epoch: op/epoch",
        "start_epoch: context",
        "start_epoch: log_view",
        "store: client fields",
        "store: log_view",
        "store: offset not sector aligned",
        "store: offset",
        "request_store: size",
        "store_chunk: body size",
        "reserved: size/operation",
        "request: client is zero",
        "request: operation",
        "request: register != 0",
        "request: chat request == 0",
        "request: register session",
        "request: chat session is 0",
        "request: op/commit/timestamp",
        "request: log_view/replica",
        "request: context",
        "prepare: op 0 is not root",
        "prepare: root fields",
        "prepare: root size/commit",
        "prepare: root session",
        "prepare: operation",
        "prepare: client is zero",
        "prepare: commit >= op",
        "prepare: timestamp is zero",
        "prepare: log_view",
        "prepare: register req",
        "prepare: chat request 0",
        "prepare: register session",
        "prepare: chat session 0",
        "session on a command without one",
        "reply: client/op",
        "reply: size",
        "eviction: client/size",
        "control: size",
        "control: client fields",
        "control: operation",
        "prepare_ok: op is zero",
        "prepare_ok: context",
        "request_prepare: op is zero",
        "control: log_view",
        "view: body not headers",
        "view: too many headers",
        "view: client fields",
        "sv: request",
        "dvc: nack bits",
        "view: log_view > view",
        "view: commit > op",
        "sv: log_view",
        "command out of range",
    };
    for (uint32_t r = 0; r < TC_ARRAY_COUNT(rules); r++) {
        bool found = false;
        for (uint32_t i = 0; i < TC_ARRAY_COUNT(mutations); i++) {
            if (strcmp(rules[r], mutations[i].expected) == 0) found = true;
        }
        if (!found) fail_msg("rule \"%s\" has no mutation", rules[r]);
    }
}

// ------------------------------------------------------------------------------------------------
// Checksums.

static void test_checksum_header_bit_flips(void **state) {
    (void)state;
    struct tc_header h;
    valid_prepare(&h);
    uint8_t body[1000];
    for (uint32_t i = 0; i < sizeof(body); i++) body[i] = (uint8_t)(i * 7u + 3u);
    tc_header_set_checksum_body(&h, body, sizeof(body));
    tc_header_set_checksum(&h);
    assert_true(tc_header_valid_checksum(&h));
    assert_true(tc_header_valid_checksum_body(&h, body));
    uint8_t *bytes = (uint8_t *)&h;
    for (uint32_t byte = 0; byte < sizeof(h); byte++) {
        for (uint32_t bit = 0; bit < 8; bit++) {
            bytes[byte] ^= (uint8_t)(1u << bit);
            if (tc_header_valid_checksum(&h)) fail_msg("flip of byte %u bit %u undetected", byte, bit);
            bytes[byte] ^= (uint8_t)(1u << bit);
        }
    }
    assert_true(tc_header_valid_checksum(&h));
}

static void test_checksum_body_bit_flips(void **state) {
    (void)state;
    struct tc_header h;
    valid_prepare(&h);
    uint8_t body[1000];
    struct tc_prng prng;
    tc_prng_init(&prng, 42);
    tc_prng_fill(&prng, body, sizeof(body));
    tc_header_set_checksum_body(&h, body, sizeof(body));
    tc_header_set_checksum(&h);
    for (uint32_t byte = 0; byte < sizeof(body); byte++) {
        for (uint32_t bit = 0; bit < 8; bit++) {
            body[byte] ^= (uint8_t)(1u << bit);
            if (tc_header_valid_checksum_body(&h, body)) {
                fail_msg("body flip of byte %u bit %u undetected", byte, bit);
            }
            body[byte] ^= (uint8_t)(1u << bit);
        }
    }
    assert_true(tc_header_valid_checksum_body(&h, body));
    // A flip in checksum_body makes both the body check and the header check fail.
    h.checksum_body.bytes[3] ^= 0x04;
    assert_false(tc_header_valid_checksum_body(&h, body));
    assert_false(tc_header_valid_checksum(&h));
}

static void test_checksum_empty_body(void **state) {
    (void)state;
    struct tc_header a;
    struct tc_header b;
    valid_prepare_ok(&a);
    valid_eviction(&b);
    tc_header_set_checksum_body(&a, NULL, 0);
    tc_header_set_checksum_body(&b, NULL, 0);
    assert_memory_equal(&a.checksum_body, &b.checksum_body, sizeof(a.checksum_body));
    assert_true(tc_header_valid_checksum_body(&a, NULL));
    assert_false(tc_checksum_is_zero(&a.checksum_body));
    tc_header_set_checksum(&a);
    tc_header_set_checksum(&b);
    assert_memory_not_equal(&a.checksum, &b.checksum, sizeof(a.checksum));
}

static void test_checksum_asserts_size(void **state) {
    (void)state;
    tc_assert_handler_fn previous = tc_assert_set_handler(assert_handler);
    struct tc_header h;
    valid_prepare(&h);
    h.size = TC_HEADER_SIZE - 1;
    expect_assert_failure(tc_header_set_checksum(&h));
    h.size = TC_MESSAGE_SIZE_MAX + 1;
    expect_assert_failure(tc_header_set_checksum(&h));
    expect_assert_failure(tc_header_valid_checksum_body(&h, NULL));
    h.size = TC_HEADER_SIZE + 8;
    uint8_t body[8] = {0};
    expect_assert_failure(tc_header_set_checksum_body(&h, body, 7));
    tc_assert_set_handler(previous);
}

// ------------------------------------------------------------------------------------------------
// Random input.

static void test_random_bytes(void **state) {
    (void)state;
    struct tc_prng prng;
    tc_prng_init(&prng, 0x5eed);
    uint32_t accepted_structure = 0;
    for (uint32_t i = 0; i < 20000; i++) {
        struct tc_header h;
        tc_prng_fill(&prng, &h, sizeof(h));
        // Random bytes never carry a valid checksum.
        assert_false(tc_header_valid_checksum(&h));
        if (tc_header_invalid(&h) == NULL) accepted_structure++;
        // Random with the structural preconditions forced, so deeper rules run.
        h.version = TC_HEADER_VERSION;
        memset(h.reserved, 0, sizeof(h.reserved));
        h.epoch = 0;
        h.replica = (uint8_t)tc_prng_below(&prng, TC_REPLICAS_MAX);
        h.size = (uint32_t)tc_prng_range(&prng, TC_HEADER_SIZE, TC_MESSAGE_SIZE_MAX);
        h.command = (uint8_t)tc_prng_below(&prng, TC_COMMAND_COUNT + 2);
        (void)tc_header_invalid(&h);
        assert_false(tc_header_valid_checksum(&h));
        // Once constructed so, the checksum verifies.
        tc_header_set_checksum(&h);
        assert_true(tc_header_valid_checksum(&h));
    }
    // The version byte and 124 reserved zero bytes make structural acceptance of noise impossible
    // in practice.
    assert_int_equal(accepted_structure, 0);
}

// An independent statement of the rules, compared with tc_header_invalid on headers whose fields
// are drawn from small distributions around the boundaries.
static bool reference_valid(const struct tc_header *h) {
    if (h->version != TC_HEADER_VERSION) return false;
    if (h->size < TC_HEADER_SIZE || h->size > TC_MESSAGE_SIZE_MAX) return false;
    for (uint32_t i = 0; i < sizeof(h->reserved); i++) {
        if (h->reserved[i] != 0) return false;
    }
    if (h->replica >= 2 * TC_REPLICAS_MAX) return false;
    bool session_allowed = h->command == TC_COMMAND_REQUEST || h->command == TC_COMMAND_PREPARE ||
                           h->command == TC_COMMAND_REPLY;
    if (!session_allowed && h->session != 0) return false;
    bool checkpoint_allowed = h->command == TC_COMMAND_PREPARE_OK || h->command == TC_COMMAND_COMMIT ||
                              h->command == TC_COMMAND_REQUEST_SYNC || h->command == TC_COMMAND_SYNC ||
                              h->command == TC_COMMAND_START_EPOCH;
    if (!checkpoint_allowed && h->checkpoint_op != 0) return false;
    bool with_session = h->operation == TC_OPERATION_CHAT ||
                        h->operation == TC_OPERATION_RECONFIGURE;
    bool session_matches = (h->operation == TC_OPERATION_REGISTER && h->session == 0) ||
                           (with_session && h->session != 0);
    bool client_fields_zero = h->client == 0 && h->request == 0 && h->timestamp == 0;
    bool chat_or_register = with_session || h->operation == TC_OPERATION_REGISTER;
    bool request_matches = (h->operation == TC_OPERATION_REGISTER && h->request == 0) ||
                           (with_session && h->request != 0);
    uint32_t body = h->size - TC_HEADER_SIZE;
    bool body_matches = h->operation != TC_OPERATION_RECONFIGURE ||
                        body == TC_RECONFIGURE_BODY_SIZE;
    switch (h->command) {
    case TC_COMMAND_RESERVED: return h->size == TC_HEADER_SIZE && h->operation == 0;
    case TC_COMMAND_REQUEST:
        return h->client != 0 && chat_or_register && request_matches && session_matches &&
               body_matches && h->epoch == 0 && h->op == 0 &&
               h->commit == 0 && h->timestamp == 0 && h->log_view == 0 && h->replica == 0 &&
               tc_checksum_is_zero(&h->context);
    case TC_COMMAND_PREPARE:
        if (h->op == 0) {
            return h->operation == TC_OPERATION_ROOT && h->client == 0 && h->request == 0 &&
                   h->view == 0 && h->size == TC_HEADER_SIZE && h->commit == 0 && h->session == 0;
        }
        return chat_or_register && h->client != 0 && h->commit < h->op && h->timestamp != 0 &&
               h->log_view == 0 && request_matches && session_matches && body_matches;
    case TC_COMMAND_REPLY: return h->client != 0 && h->op != 0 && h->size <= TC_REPLY_SIZE_MAX;
    case TC_COMMAND_EVICTION: return h->client != 0 && h->size == TC_HEADER_SIZE;
    case TC_COMMAND_PREPARE_OK:
    case TC_COMMAND_COMMIT:
    case TC_COMMAND_START_VIEW_CHANGE:
    case TC_COMMAND_REQUEST_START_VIEW:
    case TC_COMMAND_REQUEST_PREPARE:
        if (h->size != TC_HEADER_SIZE || !client_fields_zero || h->operation != 0) return false;
        if (h->command == TC_COMMAND_PREPARE_OK) {
            return h->op != 0 && !tc_checksum_is_zero(&h->context) && h->checkpoint_op <= h->op;
        }
        if (h->command == TC_COMMAND_COMMIT) {
            return h->log_view == 0 && h->checkpoint_op <= h->commit &&
                   (h->checkpoint_op == 0) == tc_checksum_is_zero(&h->parent);
        }
        if (h->command == TC_COMMAND_REQUEST_PREPARE) return h->op != 0;
        return h->log_view == 0;
    case TC_COMMAND_REQUEST_SYNC:
        return h->size == TC_HEADER_SIZE && client_fields_zero && h->operation == 0 &&
               h->log_view == 0;
    case TC_COMMAND_SYNC:
        return h->size > 2 * TC_HEADER_SIZE && client_fields_zero && h->operation == 0 &&
               h->checkpoint_op != 0 && !tc_checksum_is_zero(&h->parent) && h->op < h->commit &&
               h->size - 2 * TC_HEADER_SIZE <= h->commit - h->op && h->log_view == 0;
    case TC_COMMAND_START_EPOCH:
        return h->size == TC_HEADER_SIZE && client_fields_zero && h->operation == 0 &&
               h->op != 0 && h->commit == h->op && h->epoch != 0 &&
               !tc_checksum_is_zero(&h->context) && h->log_view == 0;
    case TC_COMMAND_REQUEST_STORE:
        return h->size == TC_HEADER_SIZE && client_fields_zero && h->operation == 0 &&
               h->log_view == 0 && h->commit % TC_SECTOR_SIZE == 0 && h->commit <= UINT32_MAX;
    case TC_COMMAND_STORE_CHUNK:
        return body > 0 && body % TC_SECTOR_SIZE == 0 && client_fields_zero &&
               h->operation == 0 && h->log_view == 0 && h->commit % TC_SECTOR_SIZE == 0 &&
               h->commit <= UINT32_MAX;
    case TC_COMMAND_DO_VIEW_CHANGE:
    case TC_COMMAND_START_VIEW:
        if (body == 0 || body % TC_HEADER_SIZE != 0) return false;
        if (body / TC_HEADER_SIZE > TC_VIEW_HEADERS_MAX) return false;
        if (h->client != 0) return false;
        if (h->timestamp > (h->command == TC_COMMAND_DO_VIEW_CHANGE ? 1u : 0u)) return false;
        if (h->command == TC_COMMAND_START_VIEW && h->request != 0) return false;
        if ((uint64_t)h->request >= (1ull << (body / TC_HEADER_SIZE))) return false; // nack bits
        if (h->log_view > h->view || h->commit > h->op) return false;
        return h->command != TC_COMMAND_START_VIEW || h->log_view == h->view;
    default: return false;
    }
}

static uint64_t small_u64(struct tc_prng *prng) {
    switch (tc_prng_below(prng, 6)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return 2;
    case 3: return tc_prng_below(prng, 8);
    case 4: return UINT64_MAX;
    default: return tc_prng_next(prng);
    }
}

static uint32_t small_u32(struct tc_prng *prng) {
    switch (tc_prng_below(prng, 5)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return (uint32_t)tc_prng_below(prng, 8);
    case 3: return UINT32_MAX;
    default: return (uint32_t)tc_prng_next(prng);
    }
}

static void test_reference_model(void **state) {
    (void)state;
    struct tc_prng prng;
    tc_prng_init(&prng, 0xbead);
    uint32_t accepted = 0;
    uint32_t accepted_per_command[TC_COMMAND_COUNT] = {0};
    for (uint32_t i = 0; i < 600000; i++) {
        struct tc_header h;
        memset(&h, 0, sizeof(h));
        h.version = tc_prng_chance_ppm(&prng, 20000) ? 2 : TC_HEADER_VERSION;
        h.command = (uint8_t)tc_prng_below(&prng, TC_COMMAND_COUNT + 1);
        h.operation = (uint8_t)tc_prng_below(&prng, TC_OPERATION_COUNT + 1);
        h.client = tc_prng_below(&prng, 2) == 0 ? 0 : small_u64(&prng);
        h.op = small_u64(&prng);
        h.commit = small_u64(&prng);
        h.timestamp = tc_prng_below(&prng, 2) == 0 ? 0 : small_u64(&prng);
        h.view = (uint32_t)tc_prng_below(&prng, 4);
        h.log_view = tc_prng_below(&prng, 2) == 0 ? 0 : (uint32_t)tc_prng_below(&prng, 5);
        h.request = tc_prng_below(&prng, 2) == 0 ? 0 : small_u32(&prng);
        h.session = tc_prng_below(&prng, 2) == 0 ? 0 : small_u64(&prng);
        h.replica = tc_prng_below(&prng, 2) == 0 ? 0 : (uint8_t)tc_prng_below(&prng, 2 * TC_REPLICAS_MAX + 1);
        h.epoch = tc_prng_chance_ppm(&prng, 200000) ? 1 : 0;
        if (tc_prng_below(&prng, 4) == 0) h.commit = h.op; // start_epoch needs commit == op
        if (h.command == TC_COMMAND_REQUEST && tc_prng_below(&prng, 2) == 0) {
            // Requests have many fields that must be zero: zero them often so that valid ones
            // occur (and each remaining field is still drawn).
            h.op = 0;
            h.commit = 0;
            h.timestamp = 0;
            h.log_view = 0;
            h.replica = 0;
        }
        switch (tc_prng_below(&prng, 7)) {
        case 0: h.size = TC_HEADER_SIZE; break;
        case 5: h.size = TC_HEADER_SIZE + TC_SECTOR_SIZE * (uint32_t)tc_prng_range(&prng, 0, 31); break;
        case 6: h.size = TC_HEADER_SIZE + TC_RECONFIGURE_BODY_SIZE; break;
        case 1: h.size = TC_HEADER_SIZE * (uint32_t)tc_prng_range(&prng, 1, 12); break;
        case 2: h.size = (uint32_t)tc_prng_range(&prng, TC_HEADER_SIZE - 2, TC_HEADER_SIZE + 600); break;
        case 3: h.size = (uint32_t)tc_prng_range(&prng, TC_REPLY_SIZE_MAX - 1, TC_REPLY_SIZE_MAX + 1); break;
        default: h.size = (uint32_t)tc_prng_range(&prng, TC_MESSAGE_SIZE_MAX - 1, TC_MESSAGE_SIZE_MAX + 1); break;
        }
        if (tc_prng_below(&prng, 2) == 0) fill_checksum(&h.context, (uint8_t)i);
        if (tc_prng_below(&prng, 2) == 0) fill_checksum(&h.parent, (uint8_t)(i + 1));
        h.checkpoint_op = tc_prng_below(&prng, 4) == 0 ? small_u64(&prng) : 0;
        if (tc_prng_chance_ppm(&prng, 20000)) h.reserved[tc_prng_below(&prng, sizeof(h.reserved))] = 1;
        bool expected = reference_valid(&h);
        const char *got = tc_header_invalid(&h);
        if (expected != (got == NULL)) {
            fail_msg("iteration %u: command %u operation %u client %llu op %llu commit %llu "
                     "timestamp %llu view %u log_view %u request %u size %u replica %u session %llu: "
                     "reference %d, tc_header_invalid \"%s\"",
                     i, h.command, h.operation, (unsigned long long)h.client,
                     (unsigned long long)h.op, (unsigned long long)h.commit,
                     (unsigned long long)h.timestamp, h.view, h.log_view, h.request, h.size,
                     h.replica, (unsigned long long)h.session, expected,
                     got == NULL ? "(valid)" : got);
        }
        if (expected) {
            accepted++;
            accepted_per_command[h.command]++;
        }
    }
    assert_true(accepted > 1000);
    for (uint32_t c = 0; c < TC_COMMAND_COUNT; c++) {
        if (accepted_per_command[c] == 0) fail_msg("no valid %s generated", tc_command_name(c));
    }
}

// ------------------------------------------------------------------------------------------------
// Constructors and names.

static void test_root_prepare(void **state) {
    (void)state;
    struct tc_header a;
    struct tc_header b;
    tc_header_root_prepare(&a, CLUSTER, GROUP);
    tc_header_root_prepare(&b, CLUSTER, GROUP);
    assert_memory_equal(&a, &b, sizeof(a)); // identical on every replica
    assert_true(tc_header_valid_checksum(&a));
    assert_true(tc_header_valid_checksum_body(&a, NULL));
    assert_null(tc_header_invalid(&a));
    assert_int_equal(a.command, TC_COMMAND_PREPARE);
    assert_int_equal(a.operation, TC_OPERATION_ROOT);
    assert_int_equal(a.op, 0);
    assert_int_equal(a.size, TC_HEADER_SIZE);
    assert_int_equal(a.cluster, CLUSTER);
    assert_int_equal(a.group, GROUP);
    assert_true(tc_checksum_is_zero(&a.parent));
    tc_header_root_prepare(&b, CLUSTER, GROUP + 1);
    assert_memory_not_equal(&a.checksum, &b.checksum, sizeof(a.checksum));
    tc_header_root_prepare(&b, CLUSTER + 1, GROUP);
    assert_memory_not_equal(&a.checksum, &b.checksum, sizeof(a.checksum));
}

static void test_reserved(void **state) {
    (void)state;
    struct tc_header previous;
    memset(&previous, 0, sizeof(previous));
    for (uint64_t slot = 0; slot < 200; slot++) {
        struct tc_header h;
        tc_header_reserved(&h, CLUSTER, GROUP, slot);
        assert_true(tc_header_valid_checksum(&h));
        assert_true(tc_header_valid_checksum_body(&h, NULL));
        assert_null(tc_header_invalid(&h));
        assert_int_equal(h.command, TC_COMMAND_RESERVED);
        assert_int_equal(h.op, slot);
        assert_int_equal(h.size, TC_HEADER_SIZE);
        assert_int_equal(h.cluster, CLUSTER);
        assert_int_equal(h.group, GROUP);
        // Each slot's reserved header is distinct (misdirected I/O is visible).
        if (slot > 0) assert_memory_not_equal(&h.checksum, &previous.checksum, sizeof(h.checksum));
        previous = h;
    }
    struct tc_header root;
    struct tc_header reserved0;
    tc_header_root_prepare(&root, CLUSTER, GROUP);
    tc_header_reserved(&reserved0, CLUSTER, GROUP, 0);
    assert_memory_not_equal(&root.checksum, &reserved0.checksum, sizeof(root.checksum));
}

static void test_names(void **state) {
    (void)state;
    assert_string_equal(tc_command_name(TC_COMMAND_RESERVED), "reserved");
    assert_string_equal(tc_command_name(TC_COMMAND_REQUEST), "request");
    assert_string_equal(tc_command_name(TC_COMMAND_PREPARE), "prepare");
    assert_string_equal(tc_command_name(TC_COMMAND_PREPARE_OK), "prepare_ok");
    assert_string_equal(tc_command_name(TC_COMMAND_REPLY), "reply");
    assert_string_equal(tc_command_name(TC_COMMAND_COMMIT), "commit");
    assert_string_equal(tc_command_name(TC_COMMAND_START_VIEW_CHANGE), "start_view_change");
    assert_string_equal(tc_command_name(TC_COMMAND_DO_VIEW_CHANGE), "do_view_change");
    assert_string_equal(tc_command_name(TC_COMMAND_START_VIEW), "start_view");
    assert_string_equal(tc_command_name(TC_COMMAND_REQUEST_START_VIEW), "request_start_view");
    assert_string_equal(tc_command_name(TC_COMMAND_REQUEST_PREPARE), "request_prepare");
    assert_string_equal(tc_command_name(TC_COMMAND_EVICTION), "eviction");
    assert_string_equal(tc_command_name(TC_COMMAND_COUNT), "invalid");
    assert_string_equal(tc_command_name(255), "invalid");
    assert_string_equal(tc_command_name(UINT32_MAX), "invalid");
    assert_string_equal(tc_operation_name(TC_OPERATION_RESERVED), "reserved");
    assert_string_equal(tc_operation_name(TC_OPERATION_ROOT), "root");
    assert_string_equal(tc_operation_name(TC_OPERATION_REGISTER), "register");
    assert_string_equal(tc_operation_name(TC_OPERATION_CHAT), "chat");
    assert_string_equal(tc_operation_name(TC_OPERATION_COUNT), "invalid");
    assert_string_equal(tc_operation_name(UINT32_MAX), "invalid");
    // Every command name is distinct.
    for (uint32_t a = 0; a < TC_COMMAND_COUNT; a++) {
        for (uint32_t b = a + 1; b < TC_COMMAND_COUNT; b++) {
            assert_string_not_equal(tc_command_name(a), tc_command_name(b));
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_examples),
        cmocka_unit_test(test_each_rule),
        cmocka_unit_test(test_rules_covered),
        cmocka_unit_test(test_checksum_header_bit_flips),
        cmocka_unit_test(test_checksum_body_bit_flips),
        cmocka_unit_test(test_checksum_empty_body),
        cmocka_unit_test(test_checksum_asserts_size),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_reference_model),
        cmocka_unit_test(test_root_prepare),
        cmocka_unit_test(test_reserved),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
