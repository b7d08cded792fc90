#ifndef TC_EDGE_HTTP_H
#define TC_EDGE_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "edge_encoding.h"

// HTTP/1.1 for the edge (docs/protocol.md §1): an incremental request-head parser, the WebSocket
// upgrade handshake (RFC 6455 §4.2), credential extraction (§2) and response writers. Pure code
// over caller-owned memory: the request struct holds a copy of the head (at most
// TC_EDGE_HTTP_HEAD_SIZE_MAX bytes) and every parsed field is a slice of it. No allocation, no
// I/O, no clock. Request bodies are not supported (the edge serves GET only).

#define TC_EDGE_HTTP_HEAD_SIZE_MAX 16384u  // request line + headers + blank line
#define TC_EDGE_HTTP_LINE_SIZE_MAX 8192u   // one line, without its CRLF: fits a 4096-byte token
#define TC_EDGE_HTTP_HEADERS_MAX 32u
#define TC_EDGE_WS_ACCEPT_SIZE 28u         // base64 of a SHA-1 digest
#define TC_EDGE_WS_KEY_SIZE 24u            // base64 of 16 bytes, padded
#define TC_EDGE_HTTP_TOKEN_SIZE_MAX 4096u  // a JWT, from Authorization or ?token=

_Static_assert(TC_EDGE_HTTP_HEAD_SIZE_MAX <= 0xffffu, "slices use 16-bit offsets");

// Parse and check results. DONE and NEED_MORE are not errors; every other value names one
// refusal and carries the HTTP status to answer with.
#define TC_EDGE_HTTP_STATUS_TABLE(X)                                                               \
    X(TC_EDGE_HTTP_DONE, 200, "done")                                                              \
    X(TC_EDGE_HTTP_NEED_MORE, 0, "need_more")                                                      \
    X(TC_EDGE_HTTP_REQUEST_LINE_INVALID, 400, "request_line_invalid")                              \
    X(TC_EDGE_HTTP_METHOD_INVALID, 400, "method_invalid")                                          \
    X(TC_EDGE_HTTP_TARGET_INVALID, 400, "target_invalid")                                          \
    X(TC_EDGE_HTTP_VERSION_INVALID, 400, "version_invalid")                                        \
    X(TC_EDGE_HTTP_VERSION_UNSUPPORTED, 505, "version_unsupported")                                \
    X(TC_EDGE_HTTP_REQUEST_LINE_TOO_LONG, 414, "request_line_too_long")                            \
    X(TC_EDGE_HTTP_HEADER_LINE_TOO_LONG, 431, "header_line_too_long")                              \
    X(TC_EDGE_HTTP_TOO_MANY_HEADERS, 431, "too_many_headers")                                      \
    X(TC_EDGE_HTTP_HEAD_TOO_LARGE, 431, "head_too_large")                                          \
    X(TC_EDGE_HTTP_BARE_CR, 400, "bare_cr")                                                        \
    X(TC_EDGE_HTTP_BARE_LF, 400, "bare_lf")                                                        \
    X(TC_EDGE_HTTP_FOLDING, 400, "obsolete_line_folding")                                          \
    X(TC_EDGE_HTTP_HEADER_NAME_INVALID, 400, "header_name_invalid")                                \
    X(TC_EDGE_HTTP_HEADER_VALUE_INVALID, 400, "header_value_invalid")                              \
    X(TC_EDGE_HTTP_HOST_INVALID, 400, "host_missing_or_repeated")                                  \
    X(TC_EDGE_HTTP_BODY_NOT_ALLOWED, 400, "body_not_allowed")                                      \
    X(TC_EDGE_HTTP_METHOD_NOT_ALLOWED, 405, "method_not_allowed")                                  \
    X(TC_EDGE_HTTP_UPGRADE_REQUIRED, 426, "upgrade_required")                                      \
    X(TC_EDGE_HTTP_CONNECTION_NOT_UPGRADE, 400, "connection_not_upgrade")                          \
    X(TC_EDGE_HTTP_WS_VERSION_UNSUPPORTED, 426, "websocket_version_unsupported")                   \
    X(TC_EDGE_HTTP_WS_KEY_INVALID, 400, "websocket_key_invalid")

enum tc_edge_http_status {
#define TC_EDGE_HTTP_STATUS_ENUM(name, http, text) name,
    TC_EDGE_HTTP_STATUS_TABLE(TC_EDGE_HTTP_STATUS_ENUM)
#undef TC_EDGE_HTTP_STATUS_ENUM
        TC_EDGE_HTTP_STATUS_COUNT
};

// The stable name of a status ("bare_cr"), or "invalid" out of range.
const char *tc_edge_http_status_name(enum tc_edge_http_status status);
// The HTTP status code to answer a refusal with (400, 405, 414, 426, 431, 505); 0 for NEED_MORE.
uint16_t tc_edge_http_status_code(enum tc_edge_http_status status);

struct tc_edge_http_limits {
    uint32_t head_size_max;    // 64..TC_EDGE_HTTP_HEAD_SIZE_MAX
    uint32_t line_size_max;    // 16..TC_EDGE_HTTP_LINE_SIZE_MAX
    uint32_t header_count_max; // 1..TC_EDGE_HTTP_HEADERS_MAX
};

// The limits of docs/protocol.md §9.
void tc_edge_http_limits_default(struct tc_edge_http_limits *limits);

struct tc_edge_http_slice {
    uint16_t offset;
    uint16_t size;
};

struct tc_edge_http_header {
    struct tc_edge_http_slice name;
    struct tc_edge_http_slice value; // optional whitespace around the value removed
};

struct tc_edge_http_request {
    struct tc_edge_http_limits limits;
    enum tc_edge_http_status status; // NEED_MORE while parsing; then DONE or an error (sticky)
    uint32_t head_size;              // bytes of the head stored so far
    uint32_t line_start;             // offset of the line being read
    bool line_cr;                    // the last byte stored is a CR
    bool request_line_done;
    struct tc_edge_http_slice method;
    struct tc_edge_http_slice target; // path and query
    struct tc_edge_http_slice path;
    struct tc_edge_http_slice query; // after '?', without it; size 0 when absent
    bool query_present;
    uint8_t version_minor; // HTTP/1.<minor>: 0 or 1
    uint32_t header_count;
    struct tc_edge_http_header headers[TC_EDGE_HTTP_HEADERS_MAX];
    char head[TC_EDGE_HTTP_HEAD_SIZE_MAX];
};

// Prepares `request` to parse one request head under `limits` (asserted within the maxima).
void tc_edge_http_request_init(struct tc_edge_http_request *request,
                               const struct tc_edge_http_limits *limits);

// Feeds `size` bytes received from the peer, in any split (byte at a time works). Returns
// NEED_MORE when all of them were consumed and the head is not complete, DONE when the blank line
// ending the head was consumed, or an error. *consumed is set to the bytes used: on DONE the
// bytes after it belong to the next layer (e.g. the first WebSocket frames). After DONE or an
// error the request consumes nothing and returns the same status again.
enum tc_edge_http_status tc_edge_http_parse(struct tc_edge_http_request *request,
                                            const uint8_t *data, uint32_t size,
                                            uint32_t *consumed);

// Accessors of a parsed (DONE) request. A slice becomes a string of the request's head.
struct tc_edge_str tc_edge_http_slice_str(const struct tc_edge_http_request *request,
                                          struct tc_edge_http_slice slice);
bool tc_edge_http_path_equal(const struct tc_edge_http_request *request, const char *path);
// Exact, case-sensitive comparisons (RFC 9110: methods are case-sensitive).
bool tc_edge_http_method_equal(const struct tc_edge_http_request *request, const char *method);
// Header lines named `name` (case-insensitive).
uint32_t tc_edge_http_header_count(const struct tc_edge_http_request *request, const char *name);
// The value of the first header named `name`; false when there is none.
bool tc_edge_http_header_get(const struct tc_edge_http_request *request, const char *name,
                             struct tc_edge_str *value);
// True when some header named `name` lists `token` in its comma-separated value
// (case-insensitive, whitespace around items ignored), e.g. Connection: keep-alive, Upgrade.
bool tc_edge_http_header_has_token(const struct tc_edge_http_request *request, const char *name,
                                   const char *token);

// Checks every request must pass whatever its path: one Host header (HTTP/1.1; at most one for
// 1.0), no Transfer-Encoding, Content-Length absent or 0. Returns DONE or the refusal.
enum tc_edge_http_status tc_edge_http_request_check(const struct tc_edge_http_request *request);

// Checks a WebSocket upgrade request in docs/protocol.md §1's order (method, the checks of
// tc_edge_http_request_check, Upgrade + HTTP/1.1, Connection, Sec-WebSocket-Version 13,
// Sec-WebSocket-Key) and on success writes the NUL-terminated Sec-WebSocket-Accept into
// `accept`. Returns DONE or the refusal. The path is the caller's business.
enum tc_edge_http_status tc_edge_http_upgrade_check(const struct tc_edge_http_request *request,
                                                    char accept[TC_EDGE_WS_ACCEPT_SIZE + 1]);

// Sec-WebSocket-Accept for a key: base64(SHA-1(key ‖ 258EAFA5-E914-47DA-95CA-C5AB0DC85B11)).
void tc_edge_http_websocket_accept(const char *key, uint32_t key_size,
                                   char accept[TC_EDGE_WS_ACCEPT_SIZE + 1]);

// Finds query parameter `key` and percent-decodes its value ('+' is a space) into out, NUL
// terminated. Returns TC_OK, TC_ENOENT (absent), TC_EEXIST (given twice), TC_EINVAL (bad
// percent-encoding, or a decoded NUL) or TC_ENOSPC (value does not fit out_size - 1).
int tc_edge_http_query_get(const struct tc_edge_http_request *request, const char *key, char *out,
                           uint32_t out_size, uint32_t *value_size);

// The connection's token (docs/protocol.md §2): from exactly one `Authorization: Bearer <t>`
// header or exactly one `token` query parameter, copied NUL-terminated into out. Returns TC_OK,
// TC_ENOENT (no credentials), TC_EEXIST (both places or twice), TC_EINVAL (not a Bearer
// credential, bad encoding) or TC_ENOSPC (longer than out_size - 1).
int tc_edge_http_credentials(const struct tc_edge_http_request *request, char *out,
                             uint32_t out_size, uint32_t *token_size);

// ------------------------------------------------------------------------------------------------
// Responses. Every writer returns the bytes written to out, or TC_ENOSPC (out holds garbage).

struct tc_edge_http_response {
    uint16_t status;          // 101, 200, 400, ...; must have a reason phrase (asserted)
    const char *headers;      // extra header lines, each ending in CRLF, server-made; or NULL
    const char *content_type; // NULL: no body (Content-Length still written unless status 101)
    const char *body;
    uint32_t body_size;
};

// The reason phrase of a status code this edge sends, or NULL for any other code.
const char *tc_edge_http_reason(uint16_t status);

// Status line, `headers`, then (except 101) Connection: close, Cache-Control: no-store,
// Content-Type when there is one and Content-Length, the blank line and the body.
int32_t tc_edge_http_response_write(char *out, uint32_t out_size,
                                    const struct tc_edge_http_response *response);
// 101 Switching Protocols with the accept value.
int32_t tc_edge_http_write_upgrade(char *out, uint32_t out_size,
                                   const char accept[TC_EDGE_WS_ACCEPT_SIZE + 1]);
// A refusal with a JSON body {"error":{"code":..,"name":..,"message":..}} and Connection: close.
// `name` and `message` are server-made ASCII without '"', '\\' or control characters (asserted).
// 401 adds WWW-Authenticate, 405 Allow, 426 Upgrade + Sec-WebSocket-Version, and 429/503 a
// Retry-After when retry_after_s > 0.
int32_t tc_edge_http_write_error(char *out, uint32_t out_size, uint16_t status, uint32_t code,
                                 const char *name, const char *message, uint32_t retry_after_s);
// The refusal for a parse or check status (status code and HTTP-level name of docs/protocol.md §7).
int32_t tc_edge_http_write_status(char *out, uint32_t out_size, enum tc_edge_http_status status);
// A short text/plain answer, e.g. /healthz: 200 "ok\n".
int32_t tc_edge_http_write_text(char *out, uint32_t out_size, uint16_t status, const char *text);

#endif
