// The protocol's JSON from the client's side (pure code, no I/O apart from getrandom): request
// encoding, server message parsing into typed structs, message hash verification, idempotency
// keys, names and node lists.
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "edge_encoding.h"
#include "edge_proto.h"
#include "tc_assert.h"
#include "tc_checksum.h"
#include "tc_err.h"
#include "tc_le.h"
#include "tigerchat.h"

_Static_assert(TC_SDK_KEY_SIZE == TC_EDGE_KEY_SIZE, "key size");
_Static_assert(TC_SDK_HASH_SIZE == TC_EDGE_HASH_SIZE, "hash size");
_Static_assert(TC_SDK_BODY_SIZE_MAX == TC_EDGE_BODY_SIZE_MAX, "body size");

// ------------------------------------------------------------------------------------------------
// Names.

const char *tc_sdk_error_name(uint32_t code) {
    switch (code) {
    case TC_SDK_ERROR_DISCONNECTED: return "disconnected";
    case TC_SDK_ERROR_DEADLINE: return "deadline";
    case TC_SDK_ERROR_CLOSED: return "closed";
    case TC_SDK_ERROR_BAD_RESPONSE: return "bad_response";
    default: break;
    }
    if (tc_edge_error_known(code)) return tc_edge_error_name((enum tc_edge_error)code);
    return "unknown";
}

static const char *const op_names[TC_SDK_OP_COUNT] = {
    [TC_SDK_OP_NONE] = "none",          [TC_SDK_OP_CREATE_ROOM] = "create_room",
    [TC_SDK_OP_CREATE_DM] = "create_dm", [TC_SDK_OP_JOIN] = "join",
    [TC_SDK_OP_LEAVE] = "leave",         [TC_SDK_OP_SEND] = "send",
    [TC_SDK_OP_SUBSCRIBE] = "subscribe", [TC_SDK_OP_UNSUBSCRIBE] = "unsubscribe",
    [TC_SDK_OP_HISTORY] = "history",     [TC_SDK_OP_PING] = "ping",
    [TC_SDK_OP_REDACT] = "redact",
};

const char *tc_sdk_op_name(enum tc_sdk_op op) {
    if ((uint32_t)op >= TC_SDK_OP_COUNT) return "invalid";
    return op_names[op];
}

// ------------------------------------------------------------------------------------------------
// Nodes.

static bool port_parse(const char *text, uint32_t size, uint16_t *port) {
    if (size == 0 || size > 5 || text[0] == '0') return false;
    uint32_t value = 0;
    for (uint32_t i = 0; i < size; i++) {
        if (text[i] < '0' || text[i] > '9') return false;
        value = value * 10u + (uint32_t)(text[i] - '0');
    }
    if (value > 65535u) return false;
    *port = (uint16_t)value;
    return true;
}

static int node_parse(const char *item, uint32_t size, struct tc_sdk_node *node) {
    const char *host = item;
    uint32_t host_size = 0;
    const char *port = NULL;
    if (size > 0 && item[0] == '[') {
        const char *close = memchr(item, ']', size);
        if (close == NULL || close + 1 >= item + size || close[1] != ':') return TC_EINVAL;
        host = item + 1;
        host_size = (uint32_t)(close - host);
        port = close + 2;
    } else {
        const char *colon = memchr(item, ':', size);
        if (colon == NULL) return TC_EINVAL;
        host_size = (uint32_t)(colon - item);
        port = colon + 1;
        if (memchr(port, ':', size - host_size - 1u) != NULL) return TC_EINVAL;
    }
    const uint32_t port_size = size - (uint32_t)(port - item);
    if (host_size == 0 || host_size > TC_SDK_HOST_SIZE_MAX) return TC_EINVAL;
    if (!port_parse(port, port_size, &node->port)) return TC_EINVAL;
    memcpy(node->host, host, host_size);
    node->host[host_size] = '\0';
    return TC_OK;
}

int tc_sdk_nodes_parse(const char *text, struct tc_sdk_node *nodes, uint32_t nodes_max,
                       uint32_t *count) {
    *count = 0;
    const uint32_t size = (uint32_t)strlen(text);
    if (size == 0) return TC_EINVAL;
    uint32_t at = 0;
    while (at <= size) {
        uint32_t end = at;
        while (end < size && text[end] != ',') end++;
        if (*count == nodes_max) return TC_ENOSPC;
        const int result = node_parse(text + at, end - at, &nodes[*count]);
        if (result != TC_OK) return result;
        *count += 1;
        at = end + 1;
    }
    return TC_OK;
}

// ------------------------------------------------------------------------------------------------
// Keys.

int tc_sdk_key_generate(uint8_t key[TC_SDK_KEY_SIZE]) {
    for (uint32_t attempt = 0; attempt < 4; attempt++) {
        const ssize_t got = getrandom(key, TC_SDK_KEY_SIZE, 0);
        if (got != (ssize_t)TC_SDK_KEY_SIZE) return TC_EIO;
        for (uint32_t i = 0; i < TC_SDK_KEY_SIZE; i++) {
            if (key[i] != 0) return TC_OK;
        }
    }
    return TC_EIO; // four all-zero draws: the generator is broken
}

void tc_sdk_key_format(const uint8_t key[TC_SDK_KEY_SIZE], char out[TC_SDK_KEY_HEX_SIZE + 1]) {
    tc_hex_encode(out, key, TC_SDK_KEY_SIZE);
}

// ------------------------------------------------------------------------------------------------
// Requests.

int32_t tc_sdk_request_encode(char *out, uint32_t out_size, const char *id,
                              const struct tc_sdk_request *request) {
    struct tc_edge_json_writer writer;
    tc_edge_json_writer_init(&writer, out, out_size);
    tc_edge_json_object_begin(&writer);
    tc_edge_json_key(&writer, "id");
    tc_edge_json_cstring(&writer, id);
    tc_edge_json_key(&writer, "op");
    tc_edge_json_cstring(&writer, tc_sdk_op_name(request->op));
    if (request->op != TC_SDK_OP_PING) {
        tc_edge_json_key(&writer, "room");
        tc_edge_json_u64_string(&writer, request->room);
    }
    switch (request->op) {
    case TC_SDK_OP_CREATE_DM:
        tc_edge_json_key(&writer, "peer");
        tc_edge_json_u64_string(&writer, request->peer);
        break;
    case TC_SDK_OP_SEND:
        tc_edge_json_key(&writer, "key");
        tc_edge_json_hex(&writer, request->key, TC_SDK_KEY_SIZE);
        tc_edge_json_key(&writer, "body");
        tc_edge_json_string(&writer, request->body, request->body_size);
        if (request->seq != 0) {
            tc_edge_json_key(&writer, "thread_parent");
            tc_edge_json_u64_string(&writer, request->seq);
        }
        break;
    case TC_SDK_OP_SUBSCRIBE:
        tc_edge_json_key(&writer, "since");
        tc_edge_json_u64_string(&writer, request->seq);
        break;
    case TC_SDK_OP_REDACT:
        tc_edge_json_key(&writer, "seq");
        tc_edge_json_u64_string(&writer, request->seq);
        break;
    case TC_SDK_OP_HISTORY:
        tc_edge_json_key(&writer, "from_seq");
        tc_edge_json_u64_string(&writer, request->seq);
        if (request->limit != 0) {
            tc_edge_json_key(&writer, "limit");
            tc_edge_json_u64(&writer, request->limit);
        }
        break;
    default: break;
    }
    tc_edge_json_object_end(&writer);
    return tc_edge_json_writer_finish(&writer);
}

// ------------------------------------------------------------------------------------------------
// Server messages.

// Member `name` as a decimal-string u64. TC_OK (set *present), or TC_EINVAL when it is there but
// is not a canonical decimal string.
static int member_u64(const cJSON *object, const char *name, uint64_t *out, bool *present) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    *present = item != NULL;
    if (item == NULL) return TC_OK;
    if (!cJSON_IsString(item)) return TC_EINVAL;
    return tc_edge_u64_parse(item->valuestring, (uint32_t)strlen(item->valuestring), out);
}

static int member_u64_required(const cJSON *object, const char *name, uint64_t *out) {
    bool present = false;
    const int result = member_u64(object, name, out, &present);
    if (result != TC_OK) return result;
    return present ? TC_OK : TC_EINVAL;
}

static int member_hash(const cJSON *object, const char *name, uint8_t out[TC_SDK_HASH_SIZE],
                       bool *present) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    *present = item != NULL;
    if (item == NULL) return TC_OK;
    if (!cJSON_IsString(item)) return TC_EINVAL;
    return tc_edge_hex_decode(out, TC_SDK_HASH_SIZE, item->valuestring,
                              (uint32_t)strlen(item->valuestring));
}

static int member_hash_required(const cJSON *object, const char *name,
                                uint8_t out[TC_SDK_HASH_SIZE]) {
    bool present = false;
    const int result = member_hash(object, name, out, &present);
    if (result != TC_OK) return result;
    return present ? TC_OK : TC_EINVAL;
}

// A non-negative integer JSON number member (absent: *out untouched).
static int member_number(const cJSON *object, const char *name, uint64_t max, uint64_t *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    if (item == NULL) return TC_OK;
    return tc_edge_json_integer(item, max, out) ? TC_OK : TC_EINVAL;
}

static void member_text(const cJSON *object, const char *name, char *out, uint32_t out_size) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    out[0] = '\0';
    if (item == NULL || !cJSON_IsString(item)) return;
    const uint32_t size = (uint32_t)strlen(item->valuestring);
    const uint32_t copy = size < out_size - 1u ? size : out_size - 1u;
    memcpy(out, item->valuestring, copy);
    out[copy] = '\0';
}

int tc_sdk_message_parse(const cJSON *object, struct tc_sdk_message *message) {
    *message = (struct tc_sdk_message){.source = TC_SDK_SOURCE_SUBSCRIPTION};
    if (!cJSON_IsObject(object)) return TC_EINVAL;
    int result = member_u64_required(object, "room", &message->room);
    if (result == TC_OK) result = member_u64_required(object, "seq", &message->seq);
    if (result == TC_OK) result = member_hash_required(object, "prev_hash", message->prev_hash);
    if (result == TC_OK) result = member_hash_required(object, "hash", message->hash);
    if (result == TC_OK) result = member_u64_required(object, "sender", &message->sender);
    if (result == TC_OK) {
        result = member_u64_required(object, "timestamp_ns", &message->timestamp_ns);
    }
    if (result == TC_OK) result = member_hash_required(object, "body_hash", message->body_hash);
    bool present = false;
    if (result == TC_OK) result = member_u64(object, "thread_parent", &message->thread_parent,
                                             &present);
    if (result == TC_OK) result = member_u64(object, "thread_seq", &message->thread_seq, &present);
    if (result != TC_OK) return TC_EINVAL;
    if (message->room == 0 || message->seq == 0) return TC_EINVAL;
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(object, "body");
    const cJSON *redacted = cJSON_GetObjectItemCaseSensitive(object, "redacted");
    message->redacted = redacted != NULL && cJSON_IsTrue(redacted);
    if (cJSON_IsString(body)) {
        message->body = body->valuestring;
        message->body_size = (uint32_t)strlen(body->valuestring);
    } else if (!(message->redacted && (body == NULL || cJSON_IsNull(body)))) {
        return TC_EINVAL;
    }
    return TC_OK;
}

void tc_sdk_message_chain_hash(const struct tc_sdk_message *message,
                               uint8_t out[TC_SDK_HASH_SIZE]) {
    uint8_t preimage[TC_SDK_HASH_SIZE * 2 + 32];
    memcpy(preimage, message->prev_hash, TC_SDK_HASH_SIZE);
    tc_le_put_u64(preimage + 32, message->room);
    tc_le_put_u64(preimage + 40, message->seq);
    tc_le_put_u64(preimage + 48, message->sender);
    tc_le_put_u64(preimage + 56, message->timestamp_ns);
    memcpy(preimage + 64, message->body_hash, TC_SDK_HASH_SIZE);
    struct tc_hash256 hash;
    tc_hash256_compute(&hash, preimage, sizeof(preimage));
    memcpy(out, hash.bytes, TC_SDK_HASH_SIZE);
}

bool tc_sdk_message_verify(const struct tc_sdk_message *message) {
    if (message->body != NULL) {
        struct tc_hash256 body_hash;
        tc_hash256_compute(&body_hash, message->body, message->body_size);
        if (memcmp(body_hash.bytes, message->body_hash, TC_SDK_HASH_SIZE) != 0) return false;
    }
    uint8_t hash[TC_SDK_HASH_SIZE];
    tc_sdk_message_chain_hash(message, hash);
    return memcmp(hash, message->hash, TC_SDK_HASH_SIZE) == 0;
}

static int parse_result(const cJSON *root, struct tc_sdk_server_message *out) {
    struct tc_sdk_result *r = &out->result;
    bool present = false;
    int result = member_u64(root, "room", &r->room, &present);
    if (result == TC_OK) result = member_u64(root, "seq", &r->seq, &present);
    if (result == TC_OK) result = member_u64(root, "thread_seq", &r->thread_seq, &present);
    if (result == TC_OK) result = member_u64(root, "head_seq", &r->head_seq, &present);
    if (result == TC_OK) result = member_u64(root, "next_seq", &r->next_seq, &present);
    if (result == TC_OK) result = member_u64(root, "truncated_at", &r->truncated_at, &present);
    if (result == TC_OK) result = member_hash(root, "hash", r->hash, &r->has_hash);
    if (result != TC_OK) return TC_EINVAL;
    const cJSON *duplicate = cJSON_GetObjectItemCaseSensitive(root, "duplicate");
    if (duplicate != NULL && !cJSON_IsBool(duplicate)) return TC_EINVAL;
    r->duplicate = duplicate != NULL && cJSON_IsTrue(duplicate);
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (messages != NULL && !cJSON_IsArray(messages)) return TC_EINVAL;
    out->messages = messages;
    return TC_OK;
}

static int parse_error(const cJSON *root, struct tc_sdk_server_message *out) {
    uint64_t code = 0;
    uint64_t retry_after_ms = 0;
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "code");
    if (item == NULL || !tc_edge_json_integer(item, UINT32_MAX, &code) || code == 0) {
        return TC_EINVAL;
    }
    if (member_number(root, "retry_after_ms", UINT32_MAX, &retry_after_ms) != TC_OK) {
        return TC_EINVAL;
    }
    out->code = (uint32_t)code;
    out->retry_after_ms = (uint32_t)retry_after_ms;
    member_text(root, "error", out->reason, sizeof(out->reason));
    return TC_OK;
}

static int parse_event(const cJSON *root, struct tc_sdk_server_message *out) {
    int result = member_u64_required(root, "room", &out->room);
    if (result != TC_OK) return TC_EINVAL;
    switch (out->type) {
    case TC_SDK_SERVER_TRUNCATED: return member_u64_required(root, "truncated_at", &out->seq);
    case TC_SDK_SERVER_CATCH_UP: return member_u64_required(root, "from_seq", &out->seq);
    case TC_SDK_SERVER_TYPING: return member_u64_required(root, "user", &out->user);
    case TC_SDK_SERVER_READ_MARKER:
        result = member_u64_required(root, "user", &out->user);
        return result == TC_OK ? member_u64_required(root, "seq", &out->seq) : result;
    case TC_SDK_SERVER_REDACTED:
        result = member_u64_required(root, "seq", &out->seq);
        return result == TC_OK && out->seq == 0 ? TC_EINVAL : result;
    case TC_SDK_SERVER_UNSUBSCRIBED:
        member_text(root, "reason", out->reason, sizeof(out->reason));
        return TC_OK;
    default: tc_unreachable();
    }
}

static enum tc_sdk_server_type type_parse(const char *type) {
    static const struct {
        const char *name;
        enum tc_sdk_server_type type;
    } types[] = {
        {"result", TC_SDK_SERVER_RESULT},       {"error", TC_SDK_SERVER_ERROR},
        {"message", TC_SDK_SERVER_MESSAGE},     {"truncated", TC_SDK_SERVER_TRUNCATED},
        {"catch_up", TC_SDK_SERVER_CATCH_UP},   {"typing", TC_SDK_SERVER_TYPING},
        {"read_marker", TC_SDK_SERVER_READ_MARKER},
        {"unsubscribed", TC_SDK_SERVER_UNSUBSCRIBED},
        {"redacted", TC_SDK_SERVER_REDACTED},
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(types); i++) {
        if (strcmp(type, types[i].name) == 0) return types[i].type;
    }
    return TC_SDK_SERVER_UNKNOWN;
}

int tc_sdk_server_parse(struct tc_edge_json_scratch *scratch, const char *text, uint32_t size,
                        struct tc_sdk_server_message *out) {
    memset(out, 0, sizeof(*out));
    cJSON *root = NULL;
    const int parsed = tc_edge_json_parse(scratch, text, size, &root);
    if (parsed != TC_OK) return parsed;
    if (!cJSON_IsObject(root)) return TC_EINVAL;
    const char *type = NULL;
    uint32_t type_size = 0;
    if (!tc_edge_json_get_string(root, "type", &type, &type_size)) return TC_EINVAL;
    out->type = type_parse(type);
    const char *id = NULL;
    uint32_t id_size = 0;
    if (tc_edge_json_get_string(root, "id", &id, &id_size) && id_size > 0) {
        out->id = id;
        out->id_size = id_size;
    }
    switch (out->type) {
    case TC_SDK_SERVER_UNKNOWN: return TC_OK;
    case TC_SDK_SERVER_RESULT: return out->id == NULL ? TC_EINVAL : parse_result(root, out);
    case TC_SDK_SERVER_ERROR: return parse_error(root, out);
    case TC_SDK_SERVER_MESSAGE: return tc_sdk_message_parse(root, &out->message);
    default: return parse_event(root, out);
    }
}
