#include "header.h"

#include <string.h>

#include "tc_assert.h"

const char *tc_command_name(uint32_t command) {
    switch (command) {
#define TC_COMMAND_CASE(name, value, text)                                                         \
    case value: return text;
        TC_COMMAND_TABLE(TC_COMMAND_CASE)
#undef TC_COMMAND_CASE
    default: return "invalid";
    }
}

const char *tc_operation_name(uint32_t operation) {
    switch (operation) {
#define TC_OPERATION_CASE(name, value, text)                                                       \
    case value: return text;
        TC_OPERATION_TABLE(TC_OPERATION_CASE)
#undef TC_OPERATION_CASE
    default: return "invalid";
    }
}

const char *tc_reconfigure_status_name(uint32_t status) {
    switch (status) {
#define TC_RECONFIGURE_STATUS_CASE(name, value, text)                                              \
    case value: return text;
        TC_RECONFIGURE_STATUS_TABLE(TC_RECONFIGURE_STATUS_CASE)
#undef TC_RECONFIGURE_STATUS_CASE
    default: return "invalid";
    }
}

enum { checksum_offset = sizeof(struct tc_checksum) };

// Operations a client request (and its prepare) may carry after registering: a chat batch or a
// reconfiguration (fixed-size body).
static bool operation_session(uint8_t operation) {
    return operation == TC_OPERATION_CHAT || operation == TC_OPERATION_RECONFIGURE;
}

static bool operation_body_valid(const struct tc_header *h) {
    if (h->operation != TC_OPERATION_RECONFIGURE) return true;
    return h->size == TC_HEADER_SIZE + TC_RECONFIGURE_BODY_SIZE;
}

void tc_header_set_checksum(struct tc_header *header) {
    tc_assert(header->size >= TC_HEADER_SIZE);
    tc_assert(header->size <= TC_MESSAGE_SIZE_MAX);
    tc_checksum_compute(&header->checksum, (const uint8_t *)header + checksum_offset,
                        TC_HEADER_SIZE - checksum_offset);
}

void tc_header_set_checksum_body(struct tc_header *header, const uint8_t *body,
                                 uint32_t body_size) {
    tc_assert(body_size == header->size - TC_HEADER_SIZE);
    tc_checksum_compute(&header->checksum_body, body, body_size);
}

bool tc_header_valid_checksum(const struct tc_header *header) {
    struct tc_checksum expected;
    tc_checksum_compute(&expected, (const uint8_t *)header + checksum_offset,
                        TC_HEADER_SIZE - checksum_offset);
    return tc_checksum_equal(&expected, &header->checksum);
}

bool tc_header_valid_checksum_body(const struct tc_header *header, const uint8_t *body) {
    tc_assert(header->size >= TC_HEADER_SIZE);
    tc_assert(header->size <= TC_MESSAGE_SIZE_MAX);
    struct tc_checksum expected;
    tc_checksum_compute(&expected, body, header->size - TC_HEADER_SIZE);
    return tc_checksum_equal(&expected, &header->checksum_body);
}

static bool reserved_zero(const struct tc_header *header) {
    uint8_t acc = 0;
    for (uint32_t i = 0; i < sizeof(header->reserved); i++) acc |= header->reserved[i];
    return acc == 0;
}

static const char *invalid_request(const struct tc_header *h) {
    if (h->client == 0) return "request: client is zero";
    if (h->operation != TC_OPERATION_REGISTER && !operation_session(h->operation)) {
        return "request: operation";
    }
    if (h->operation == TC_OPERATION_REGISTER && h->request != 0) return "request: register != 0";
    if (operation_session(h->operation) && h->request == 0) return "request: chat request == 0";
    if (h->operation == TC_OPERATION_REGISTER && h->session != 0) return "request: register session";
    if (operation_session(h->operation) && h->session == 0) return "request: chat session is 0";
    if (!operation_body_valid(h)) return "request: reconfigure body size";
    if (h->epoch != 0) return "request: epoch";
    if (h->op != 0 || h->commit != 0 || h->timestamp != 0) return "request: op/commit/timestamp";
    if (h->log_view != 0 || h->replica != 0) return "request: log_view/replica";
    if (!tc_checksum_is_zero(&h->context)) return "request: context";
    return NULL;
}

static const char *invalid_prepare(const struct tc_header *h) {
    if (h->op == 0) {
        if (h->operation != TC_OPERATION_ROOT) return "prepare: op 0 is not root";
        if (h->client != 0 || h->request != 0 || h->view != 0) return "prepare: root fields";
        if (h->size != TC_HEADER_SIZE || h->commit != 0) return "prepare: root size/commit";
        if (h->session != 0) return "prepare: root session";
        return NULL;
    }
    if (h->operation != TC_OPERATION_REGISTER && !operation_session(h->operation)) {
        return "prepare: operation";
    }
    if (!operation_body_valid(h)) return "prepare: reconfigure body size";
    if (h->client == 0) return "prepare: client is zero";
    if (h->commit >= h->op) return "prepare: commit >= op";
    if (h->timestamp == 0) return "prepare: timestamp is zero";
    if (h->log_view != 0) return "prepare: log_view";
    if (h->operation == TC_OPERATION_REGISTER && h->request != 0) return "prepare: register req";
    if (operation_session(h->operation) && h->request == 0) return "prepare: chat request 0";
    if (h->operation == TC_OPERATION_REGISTER && h->session != 0) return "prepare: register session";
    if (operation_session(h->operation) && h->session == 0) return "prepare: chat session 0";
    return NULL;
}

static const char *invalid_control(const struct tc_header *h) {
    // Commands without a body and without client fields.
    if (h->size != TC_HEADER_SIZE) return "control: size";
    if (h->client != 0 || h->request != 0 || h->timestamp != 0) return "control: client fields";
    if (h->operation != 0) return "control: operation";
    switch (h->command) {
    case TC_COMMAND_PREPARE_OK:
        if (h->op == 0) return "prepare_ok: op is zero";
        if (tc_checksum_is_zero(&h->context)) return "prepare_ok: context";
        if (h->checkpoint_op > h->op) return "prepare_ok: checkpoint_op > op";
        break;
    case TC_COMMAND_REQUEST_PREPARE:
        if (h->op == 0) return "request_prepare: op is zero";
        break;
    case TC_COMMAND_COMMIT:
        if (h->checkpoint_op > h->commit) return "commit: checkpoint_op > commit";
        if ((h->checkpoint_op == 0) != tc_checksum_is_zero(&h->parent)) {
            return "commit: checkpoint id"; // the id of checkpoint_op, zero for the initial state
        }
        if (h->log_view != 0) return "control: log_view";
        break;
    case TC_COMMAND_START_VIEW_CHANGE:
    case TC_COMMAND_REQUEST_START_VIEW:
        if (h->log_view != 0) return "control: log_view";
        break;
    default: tc_unreachable();
    }
    return NULL;
}

static const char *invalid_view_headers(const struct tc_header *h) {
    uint32_t body_size = h->size - TC_HEADER_SIZE;
    if (body_size == 0 || body_size % TC_HEADER_SIZE != 0) return "view: body not headers";
    if (body_size / TC_HEADER_SIZE > TC_VIEW_HEADERS_MAX) return "view: too many headers";
    if (h->client != 0) return "view: client fields";
    // do_view_change: timestamp 1 marks a sender whose journal head is uncertain.
    if (h->timestamp > (h->command == TC_COMMAND_DO_VIEW_CHANGE ? 1u : 0u)) return "view: timestamp";
    // do_view_change: request is the nack bitmask over the body headers; start_view: zero.
    if (h->command == TC_COMMAND_START_VIEW && h->request != 0) return "sv: request";
    if (h->request >= (1u << (body_size / TC_HEADER_SIZE))) return "dvc: nack bits";
    if (h->log_view > h->view) return "view: log_view > view";
    if (h->commit > h->op) return "view: commit > op";
    if (h->command == TC_COMMAND_START_VIEW && h->log_view != h->view) return "sv: log_view";
    return NULL;
}

// request_store (op = segment, commit = byte offset) and store_chunk (the same, body = bytes of
// the segment from that offset): state sync of the message store (docs/store.md §8).
static const char *invalid_store(const struct tc_header *h) {
    if (h->client != 0 || h->request != 0 || h->timestamp != 0 || h->operation != 0) {
        return "store: client fields";
    }
    if (h->log_view != 0) return "store: log_view";
    if (h->commit % TC_SECTOR_SIZE != 0) return "store: offset not sector aligned";
    if (h->commit > UINT32_MAX) return "store: offset";
    if (h->command == TC_COMMAND_REQUEST_STORE) {
        if (h->size != TC_HEADER_SIZE) return "request_store: size";
        return NULL;
    }
    uint32_t body_size = h->size - TC_HEADER_SIZE;
    if (body_size == 0 || body_size % TC_SECTOR_SIZE != 0) return "store_chunk: body size";
    return NULL;
}

const char *tc_header_invalid(const struct tc_header *h) {
    if (h->version != TC_HEADER_VERSION) return "version";
    if (h->size < TC_HEADER_SIZE) return "size < header";
    if (h->size > TC_MESSAGE_SIZE_MAX) return "size > message_size_max";
    if (!reserved_zero(h)) return "reserved bytes not zero";
    if (h->replica >= TC_REPLICA_ADDRESSES_MAX) return "replica address out of range";
    bool session_allowed = h->command == TC_COMMAND_REQUEST || h->command == TC_COMMAND_PREPARE ||
                           h->command == TC_COMMAND_REPLY;
    if (!session_allowed && h->session != 0) return "session on a command without one";
    bool checkpoint_allowed = h->command == TC_COMMAND_PREPARE_OK || h->command == TC_COMMAND_COMMIT ||
                              h->command == TC_COMMAND_REQUEST_SYNC || h->command == TC_COMMAND_SYNC ||
                              h->command == TC_COMMAND_START_EPOCH;
    if (!checkpoint_allowed && h->checkpoint_op != 0) return "checkpoint_op on a command without one";
    switch (h->command) {
    case TC_COMMAND_RESERVED:
        if (h->size != TC_HEADER_SIZE || h->operation != 0) return "reserved: size/operation";
        return NULL;
    case TC_COMMAND_REQUEST: return invalid_request(h);
    case TC_COMMAND_PREPARE: return invalid_prepare(h);
    case TC_COMMAND_REPLY:
        if (h->client == 0 || h->op == 0) return "reply: client/op";
        if (h->size > TC_REPLY_SIZE_MAX) return "reply: size";
        return NULL;
    case TC_COMMAND_EVICTION:
        if (h->client == 0 || h->size != TC_HEADER_SIZE) return "eviction: client/size";
        return NULL;
    case TC_COMMAND_PREPARE_OK:
    case TC_COMMAND_COMMIT:
    case TC_COMMAND_START_VIEW_CHANGE:
    case TC_COMMAND_REQUEST_START_VIEW:
    case TC_COMMAND_REQUEST_PREPARE: return invalid_control(h);
    case TC_COMMAND_DO_VIEW_CHANGE:
    case TC_COMMAND_START_VIEW: return invalid_view_headers(h);
    case TC_COMMAND_REQUEST_SYNC:
        if (h->size != TC_HEADER_SIZE) return "request_sync: size";
        if (h->client != 0 || h->request != 0 || h->timestamp != 0 || h->operation != 0) {
            return "request_sync: client fields";
        }
        if (h->log_view != 0) return "request_sync: log_view";
        return NULL;
    case TC_COMMAND_SYNC:
        if (h->size <= 2 * TC_HEADER_SIZE) return "sync: no chunk";
        if (h->client != 0 || h->request != 0 || h->timestamp != 0 || h->operation != 0) {
            return "sync: client fields";
        }
        if (h->checkpoint_op == 0 || tc_checksum_is_zero(&h->parent)) return "sync: checkpoint";
        if (h->op >= h->commit || h->size - 2 * TC_HEADER_SIZE > h->commit - h->op) {
            return "sync: chunk beyond the checkpoint";
        }
        if (h->log_view != 0) return "sync: log_view";
        return NULL;
    case TC_COMMAND_REQUEST_STORE:
    case TC_COMMAND_STORE_CHUNK: return invalid_store(h);
    case TC_COMMAND_START_EPOCH:
        // op: the reconfigure op that started `epoch`; context: its checksum (vsr.md §11.4).
        if (h->size != TC_HEADER_SIZE) return "start_epoch: size";
        if (h->client != 0 || h->request != 0 || h->timestamp != 0 || h->operation != 0) {
            return "start_epoch: client fields";
        }
        if (h->op == 0 || h->commit != h->op || h->epoch == 0) return "start_epoch: op/epoch";
        if (tc_checksum_is_zero(&h->context)) return "start_epoch: context";
        if (h->log_view != 0) return "start_epoch: log_view";
        return NULL;
    default: return "command out of range";
    }
}

void tc_header_root_prepare(struct tc_header *header, uint64_t cluster, uint32_t group) {
    memset(header, 0, sizeof(*header));
    header->version = TC_HEADER_VERSION;
    header->command = TC_COMMAND_PREPARE;
    header->operation = TC_OPERATION_ROOT;
    header->cluster = cluster;
    header->group = group;
    header->size = TC_HEADER_SIZE;
    tc_header_set_checksum_body(header, NULL, 0);
    tc_header_set_checksum(header);
    tc_assert(tc_header_invalid(header) == NULL);
}

void tc_header_reserved(struct tc_header *header, uint64_t cluster, uint32_t group, uint64_t slot) {
    memset(header, 0, sizeof(*header));
    header->version = TC_HEADER_VERSION;
    header->command = TC_COMMAND_RESERVED;
    header->cluster = cluster;
    header->group = group;
    header->op = slot;
    header->size = TC_HEADER_SIZE;
    tc_header_set_checksum_body(header, NULL, 0);
    tc_header_set_checksum(header);
    tc_assert(tc_header_invalid(header) == NULL);
}
