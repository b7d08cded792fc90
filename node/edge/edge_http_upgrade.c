// The WebSocket handshake checks (RFC 6455 §4.2.1), credentials (docs/protocol.md §2) and the
// response writers.
#include <string.h>

#include "edge_http.h"
#include "edge_sha1.h"
#include "tc_assert.h"
#include "tc_err.h"

static const char websocket_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

enum tc_edge_http_status tc_edge_http_request_check(const struct tc_edge_http_request *request) {
    tc_assert(request->status == TC_EDGE_HTTP_DONE);
    uint32_t hosts = tc_edge_http_header_count(request, "Host");
    if (hosts > 1 || (hosts == 0 && request->version_minor == 1)) {
        return TC_EDGE_HTTP_HOST_INVALID;
    }
    if (tc_edge_http_header_count(request, "Transfer-Encoding") != 0) {
        return TC_EDGE_HTTP_BODY_NOT_ALLOWED;
    }
    uint32_t lengths = tc_edge_http_header_count(request, "Content-Length");
    if (lengths > 1) return TC_EDGE_HTTP_BODY_NOT_ALLOWED;
    struct tc_edge_str length;
    if (lengths == 1 && tc_edge_http_header_get(request, "Content-Length", &length)) {
        if (length.size != 1 || length.data[0] != '0') return TC_EDGE_HTTP_BODY_NOT_ALLOWED;
    }
    return TC_EDGE_HTTP_DONE;
}

void tc_edge_http_websocket_accept(const char *key, uint32_t key_size,
                                   char accept[TC_EDGE_WS_ACCEPT_SIZE + 1]) {
    tc_assert(key != NULL);
    tc_assert(key_size <= TC_EDGE_HTTP_LINE_SIZE_MAX);
    struct tc_edge_sha1 sha;
    uint8_t digest[TC_EDGE_SHA1_DIGEST_SIZE];
    tc_edge_sha1_init(&sha);
    tc_edge_sha1_update(&sha, key, key_size);
    tc_edge_sha1_update(&sha, websocket_guid, (uint32_t)strlen(websocket_guid));
    tc_edge_sha1_final(&sha, digest);
    int32_t written = tc_edge_base64_encode(accept, TC_EDGE_WS_ACCEPT_SIZE + 1, digest,
                                            sizeof(digest), TC_EDGE_BASE64_STANDARD);
    tc_assert(written == (int32_t)TC_EDGE_WS_ACCEPT_SIZE);
}

static enum tc_edge_http_status check_websocket_key(const struct tc_edge_http_request *request,
                                                    char accept[TC_EDGE_WS_ACCEPT_SIZE + 1]) {
    struct tc_edge_str key;
    if (tc_edge_http_header_count(request, "Sec-WebSocket-Key") != 1) {
        return TC_EDGE_HTTP_WS_KEY_INVALID;
    }
    bool found = tc_edge_http_header_get(request, "Sec-WebSocket-Key", &key);
    tc_assert(found);
    uint8_t nonce[16];
    int32_t decoded =
        tc_edge_base64_decode(nonce, sizeof(nonce), key.data, key.size, TC_EDGE_BASE64_STANDARD);
    if (decoded != (int32_t)sizeof(nonce)) return TC_EDGE_HTTP_WS_KEY_INVALID;
    tc_assert(key.size == TC_EDGE_WS_KEY_SIZE);
    tc_edge_http_websocket_accept(key.data, key.size, accept);
    return TC_EDGE_HTTP_DONE;
}

enum tc_edge_http_status tc_edge_http_upgrade_check(const struct tc_edge_http_request *request,
                                                    char accept[TC_EDGE_WS_ACCEPT_SIZE + 1]) {
    tc_assert(request->status == TC_EDGE_HTTP_DONE);
    tc_assert(accept != NULL);
    if (!tc_edge_http_method_equal(request, "GET")) return TC_EDGE_HTTP_METHOD_NOT_ALLOWED;
    enum tc_edge_http_status status = tc_edge_http_request_check(request);
    if (status != TC_EDGE_HTTP_DONE) return status;
    if (request->version_minor != 1 ||
        !tc_edge_http_header_has_token(request, "Upgrade", "websocket")) {
        return TC_EDGE_HTTP_UPGRADE_REQUIRED;
    }
    if (!tc_edge_http_header_has_token(request, "Connection", "upgrade")) {
        return TC_EDGE_HTTP_CONNECTION_NOT_UPGRADE;
    }
    struct tc_edge_str version;
    if (tc_edge_http_header_count(request, "Sec-WebSocket-Version") != 1 ||
        !tc_edge_http_header_get(request, "Sec-WebSocket-Version", &version) ||
        version.size != 2 || memcmp(version.data, "13", 2) != 0) {
        return TC_EDGE_HTTP_WS_VERSION_UNSUPPORTED;
    }
    return check_websocket_key(request, accept);
}

// ------------------------------------------------------------------------------------------------
// Credentials.

static int32_t hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Percent-decodes one query value (application/x-www-form-urlencoded: '+' is a space).
static int query_decode(const char *in, uint32_t size, char *out, uint32_t out_size,
                        uint32_t *out_used) {
    uint32_t used = 0;
    for (uint32_t i = 0; i < size; i++) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= size) return TC_EINVAL;
            int32_t high = hex_digit(in[i + 1]);
            int32_t low = hex_digit(in[i + 2]);
            if (high < 0 || low < 0) return TC_EINVAL;
            c = (char)(high << 4 | low);
            if (c == '\0') return TC_EINVAL;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (used + 1 >= out_size) return TC_ENOSPC;
        out[used++] = c;
    }
    out[used] = '\0';
    *out_used = used;
    return TC_OK;
}

int tc_edge_http_query_get(const struct tc_edge_http_request *request, const char *key, char *out,
                           uint32_t out_size, uint32_t *value_size) {
    tc_assert(request->status == TC_EDGE_HTTP_DONE);
    tc_assert(out != NULL && out_size > 0);
    struct tc_edge_str query = tc_edge_http_slice_str(request, request->query);
    uint32_t key_size = (uint32_t)strlen(key);
    const char *value = NULL;
    uint32_t value_raw_size = 0;
    uint32_t i = 0;
    while (request->query_present && i <= query.size) {
        uint32_t end = i;
        while (end < query.size && query.data[end] != '&') end++;
        const char *eq = memchr(query.data + i, '=', end - i);
        uint32_t name_size = eq == NULL ? end - i : (uint32_t)(eq - (query.data + i));
        if (name_size == key_size && memcmp(query.data + i, key, key_size) == 0) {
            if (value != NULL) return TC_EEXIST;
            value = eq == NULL ? query.data + end : eq + 1;
            value_raw_size = (uint32_t)(query.data + end - value);
        }
        i = end + 1;
    }
    if (value == NULL) return TC_ENOENT;
    return query_decode(value, value_raw_size, out, out_size, value_size);
}

// "Bearer" 1*SP token68 (RFC 6750 §2.1); the scheme is case-insensitive.
static int bearer_token(const struct tc_edge_http_request *request, char *out, uint32_t out_size,
                        uint32_t *token_size) {
    struct tc_edge_str value;
    bool found = tc_edge_http_header_get(request, "Authorization", &value);
    tc_assert(found);
    if (value.size < 8 || !tc_edge_ascii_equal_nocase(value.data, 7, "Bearer ", 7)) {
        return TC_EINVAL;
    }
    uint32_t begin = 7;
    while (begin < value.size && value.data[begin] == ' ') begin++;
    uint32_t size = value.size - begin;
    if (size == 0) return TC_EINVAL;
    for (uint32_t i = begin; i < value.size; i++) {
        uint8_t c = (uint8_t)value.data[i];
        if (c <= 0x20 || c >= 0x7f) return TC_EINVAL;
    }
    if (size + 1 > out_size) return TC_ENOSPC;
    memcpy(out, value.data + begin, size);
    out[size] = '\0';
    *token_size = size;
    return TC_OK;
}

int tc_edge_http_credentials(const struct tc_edge_http_request *request, char *out,
                             uint32_t out_size, uint32_t *token_size) {
    tc_assert(request->status == TC_EDGE_HTTP_DONE);
    tc_assert(out != NULL && out_size > 0);
    uint32_t headers = tc_edge_http_header_count(request, "Authorization");
    int query = tc_edge_http_query_get(request, "token", out, out_size, token_size);
    if (headers > 1 || query == TC_EEXIST) return TC_EEXIST;
    if (headers == 1 && query != TC_ENOENT) return TC_EEXIST;
    if (headers == 1) return bearer_token(request, out, out_size, token_size);
    return query;
}
