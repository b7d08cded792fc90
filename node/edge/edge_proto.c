// The protocol's error table and request parsing (docs/protocol.md §3, §5, §7).
#include "edge_proto.h"

#include <string.h>

#include "edge_encoding.h"
#include "edge_utf8.h"
#include "tc_assert.h"
#include "tc_err.h"

bool tc_edge_error_known(uint32_t code) {
    switch (code) {
#define TC_EDGE_ERROR_CASE(name, value, text, message)                                             \
    case value: return true;
        TC_EDGE_ERROR_TABLE(TC_EDGE_ERROR_CASE)
#undef TC_EDGE_ERROR_CASE
    default: return false;
    }
}

const char *tc_edge_error_name(enum tc_edge_error error) {
    switch (error) {
#define TC_EDGE_ERROR_CASE(name, value, text, message)                                             \
    case name: return text;
        TC_EDGE_ERROR_TABLE(TC_EDGE_ERROR_CASE)
#undef TC_EDGE_ERROR_CASE
    default: tc_unreachable(); return "";
    }
}

const char *tc_edge_error_message(enum tc_edge_error error) {
    switch (error) {
#define TC_EDGE_ERROR_CASE(name, value, text, message)                                             \
    case name: return message;
        TC_EDGE_ERROR_TABLE(TC_EDGE_ERROR_CASE)
#undef TC_EDGE_ERROR_CASE
    default: tc_unreachable(); return "";
    }
}

// node/room/room.h's numbers, repeated here: node/edge does not depend on node/room.
#define EDGE_ROOM_STATUS_NOT_SENDER 20u
#define EDGE_ROOM_STATUS_MAX EDGE_ROOM_STATUS_NOT_SENDER // TC_ROOM_STATUS_COUNT - 1

enum tc_edge_error tc_edge_error_from_room_status(uint8_t status) {
    tc_assert(status >= 1 && status <= EDGE_ROOM_STATUS_MAX);
    if (status == EDGE_ROOM_STATUS_NOT_SENDER) return TC_EDGE_ERROR_FORBIDDEN_ROOM;
    tc_assert(tc_edge_error_known(status));
    return (enum tc_edge_error)status;
}

const char *tc_edge_op_name(enum tc_edge_op op) {
    switch (op) {
#define TC_EDGE_OP_CASE(name, text)                                                                \
    case name: return text;
        TC_EDGE_OP_TABLE(TC_EDGE_OP_CASE)
#undef TC_EDGE_OP_CASE
    default: return "invalid";
    }
}

// ------------------------------------------------------------------------------------------------
// Field readers. Each returns NONE or the error, and names the member in *field on error.

struct reader {
    const cJSON *root;
    const char **field;
};

static enum tc_edge_error field_error(struct reader *r, const char *name, enum tc_edge_error e) {
    *r->field = name;
    return e;
}

// A string member; *item NULL when absent and optional.
static enum tc_edge_error field_string(struct reader *r, const char *name, bool required,
                                       const char **value, uint32_t *size) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(r->root, name);
    *value = NULL;
    *size = 0;
    if (item == NULL) {
        return required ? field_error(r, name, TC_EDGE_ERROR_MISSING_FIELD) : TC_EDGE_ERROR_NONE;
    }
    if (!tc_edge_json_get_string(r->root, name, value, size)) {
        return field_error(r, name, TC_EDGE_ERROR_MALFORMED_FRAME);
    }
    return TC_EDGE_ERROR_NONE;
}

// A u64 written as a canonical decimal string (docs/protocol.md §4); 0 when absent.
static enum tc_edge_error field_u64(struct reader *r, const char *name, bool required,
                                    uint64_t *out) {
    const char *text;
    uint32_t size;
    *out = 0;
    enum tc_edge_error e = field_string(r, name, required, &text, &size);
    if (e != TC_EDGE_ERROR_NONE || text == NULL) return e;
    if (tc_edge_u64_parse(text, size, out) != TC_OK) {
        return field_error(r, name, TC_EDGE_ERROR_INVALID_FIELD);
    }
    return TC_EDGE_ERROR_NONE;
}

// A JSON integer in [min, max]; `fallback` when absent.
static enum tc_edge_error field_count(struct reader *r, const char *name, uint64_t min,
                                      uint64_t max, uint64_t fallback, uint64_t *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(r->root, name);
    *out = fallback;
    if (item == NULL) return TC_EDGE_ERROR_NONE;
    if (!cJSON_IsNumber(item)) return field_error(r, name, TC_EDGE_ERROR_MALFORMED_FRAME);
    if (!tc_edge_json_integer(item, max, out) || *out < min) {
        return field_error(r, name, TC_EDGE_ERROR_INVALID_FIELD);
    }
    return TC_EDGE_ERROR_NONE;
}

static enum tc_edge_error field_id(struct reader *r, struct tc_edge_request *request) {
    const char *id;
    uint32_t size;
    enum tc_edge_error e = field_string(r, "id", true, &id, &size);
    if (e != TC_EDGE_ERROR_NONE) return e;
    if (size == 0 || size > TC_EDGE_REQUEST_ID_SIZE_MAX) {
        return field_error(r, "id", TC_EDGE_ERROR_INVALID_FIELD);
    }
    for (uint32_t i = 0; i < size; i++) {
        if (id[i] < 0x21 || id[i] > 0x7e) return field_error(r, "id", TC_EDGE_ERROR_INVALID_FIELD);
    }
    memcpy(request->id, id, size + 1);
    request->id_size = size;
    return TC_EDGE_ERROR_NONE;
}

static enum tc_edge_error field_op(struct reader *r, struct tc_edge_request *request) {
    const char *op;
    uint32_t size;
    enum tc_edge_error e = field_string(r, "op", true, &op, &size);
    if (e != TC_EDGE_ERROR_NONE) return e;
    for (uint32_t candidate = 1; candidate < TC_EDGE_OP_COUNT; candidate++) {
        const char *name = tc_edge_op_name((enum tc_edge_op)candidate);
        if (strlen(name) == size && memcmp(name, op, size) == 0) {
            request->op = (enum tc_edge_op)candidate;
            return TC_EDGE_ERROR_NONE;
        }
    }
    return field_error(r, "op", TC_EDGE_ERROR_UNKNOWN_OP);
}

// ------------------------------------------------------------------------------------------------
// Per-operation members.

static enum tc_edge_error parse_send(struct reader *r, struct tc_edge_request *request) {
    const char *key;
    uint32_t key_size;
    enum tc_edge_error e = field_string(r, "key", true, &key, &key_size);
    if (e != TC_EDGE_ERROR_NONE) return e;
    if (tc_edge_hex_decode(request->key, TC_EDGE_KEY_SIZE, key, key_size) != TC_OK) {
        return field_error(r, "key", TC_EDGE_ERROR_INVALID_FIELD);
    }
    e = field_string(r, "body", true, &request->body, &request->body_size);
    if (e != TC_EDGE_ERROR_NONE) return e;
    if (request->body_size > TC_EDGE_BODY_SIZE_MAX) {
        return field_error(r, "body", TC_EDGE_ERROR_BODY_TOO_LARGE);
    }
    if (request->body_size == 0 ||
        !tc_edge_utf8_valid((const uint8_t *)request->body, request->body_size)) {
        return field_error(r, "body", TC_EDGE_ERROR_INVALID_FIELD);
    }
    return field_u64(r, "thread_parent", false, &request->seq);
}

static enum tc_edge_error parse_retention(struct reader *r, struct tc_edge_request *request) {
    const char *mode;
    uint32_t size;
    enum tc_edge_error e = field_string(r, "mode", true, &mode, &size);
    if (e != TC_EDGE_ERROR_NONE) return e;
    uint64_t value = 0;
    if (size == 3 && memcmp(mode, "all", 3) == 0) {
        request->retention_mode = TC_EDGE_RETENTION_ALL;
        e = field_count(r, "value", 0, 0, 0, &value);
    } else if (size == 4 && memcmp(mode, "days", 4) == 0) {
        request->retention_mode = TC_EDGE_RETENTION_DAYS;
        e = field_count(r, "value", 1, TC_EDGE_RETENTION_DAYS_MAX, 0, &value);
        if (e == TC_EDGE_ERROR_NONE && value == 0) {
            e = field_error(r, "value", TC_EDGE_ERROR_MISSING_FIELD);
        }
    } else if (size == 8 && memcmp(mode, "messages", 8) == 0) {
        request->retention_mode = TC_EDGE_RETENTION_MESSAGES;
        e = field_count(r, "value", 1, TC_EDGE_RETENTION_MESSAGES_MAX, 0, &value);
        if (e == TC_EDGE_ERROR_NONE && value == 0) {
            e = field_error(r, "value", TC_EDGE_ERROR_MISSING_FIELD);
        }
    } else {
        return field_error(r, "mode", TC_EDGE_ERROR_INVALID_FIELD);
    }
    request->retention_value = value;
    return e;
}

static enum tc_edge_error parse_auth(struct reader *r, struct tc_edge_request *request) {
    enum tc_edge_error e = field_string(r, "token", true, &request->token, &request->token_size);
    if (e != TC_EDGE_ERROR_NONE) return e;
    if (request->token_size == 0 || request->token_size > TC_EDGE_TOKEN_SIZE_MAX) {
        return field_error(r, "token", TC_EDGE_ERROR_INVALID_FIELD);
    }
    return TC_EDGE_ERROR_NONE;
}

static enum tc_edge_error parse_members(struct reader *r, struct tc_edge_request *request) {
    enum tc_edge_op op = request->op;
    if (op == TC_EDGE_OP_PING) return TC_EDGE_ERROR_NONE;
    if (op == TC_EDGE_OP_AUTH) return parse_auth(r, request);
    enum tc_edge_error e = field_u64(r, "room", true, &request->room);
    if (e != TC_EDGE_ERROR_NONE) return e;
    uint64_t limit = 0;
    switch (op) {
    case TC_EDGE_OP_CREATE_DM: return field_u64(r, "peer", true, &request->peer);
    case TC_EDGE_OP_SEND: return parse_send(r, request);
    case TC_EDGE_OP_SUBSCRIBE: return field_u64(r, "since", false, &request->seq);
    case TC_EDGE_OP_HISTORY:
        e = field_u64(r, "from_seq", true, &request->seq);
        if (e == TC_EDGE_ERROR_NONE) {
            e = field_count(r, "limit", 1, TC_EDGE_HISTORY_LIMIT_MAX,
                            TC_EDGE_HISTORY_LIMIT_DEFAULT, &limit);
        }
        request->limit = (uint32_t)limit;
        return e;
    case TC_EDGE_OP_SET_RETENTION: return parse_retention(r, request);
    case TC_EDGE_OP_READ_MARKER:
    case TC_EDGE_OP_REDACT: return field_u64(r, "seq", true, &request->seq);
    default: return TC_EDGE_ERROR_NONE; // create_room, join, leave, unsubscribe, typing
    }
}

enum tc_edge_error tc_edge_request_parse(struct tc_edge_json_scratch *scratch, const char *text,
                                         uint32_t size, struct tc_edge_request *request,
                                         const char **field) {
    tc_assert(scratch != NULL && request != NULL && field != NULL);
    tc_assert(text != NULL || size == 0);
    tc_assert(scratch->size_bytes >= TC_EDGE_JSON_SCRATCH_SIZE(size));
    memset(request, 0, sizeof(*request));
    *field = NULL;
    cJSON *root = NULL;
    int rc = tc_edge_json_parse(scratch, text, size, &root);
    tc_assert(rc != TC_ENOMEM); // the scratch is sized for the input
    if (rc != TC_OK || !cJSON_IsObject(root) || !tc_edge_json_object_unique(root)) {
        return TC_EDGE_ERROR_MALFORMED_FRAME;
    }
    struct reader r = {.root = root, .field = field};
    enum tc_edge_error e = field_id(&r, request);
    if (e == TC_EDGE_ERROR_NONE) e = field_op(&r, request);
    if (e == TC_EDGE_ERROR_NONE) e = parse_members(&r, request);
    tc_assert((e == TC_EDGE_ERROR_NONE) == (*field == NULL) || e == TC_EDGE_ERROR_MALFORMED_FRAME);
    return e;
}
