// HTTP/1.1 response writers (docs/protocol.md §1): bounded appends into a caller buffer.
#include <string.h>

#include "edge_http.h"
#include "tc_assert.h"
#include "tc_err.h"

struct writer {
    char *out;
    uint32_t size;
    uint32_t used;
    bool overflow;
};

static void put(struct writer *w, const char *data, uint32_t size) {
    if (w->overflow || size > w->size - w->used) {
        w->overflow = true;
        return;
    }
    memcpy(w->out + w->used, data, size);
    w->used += size;
}

static void put_str(struct writer *w, const char *text) {
    put(w, text, (uint32_t)strlen(text));
}

static void put_u64(struct writer *w, uint64_t value) {
    char digits[21];
    put(w, digits, tc_edge_u64_format(digits, value));
}

static int32_t writer_result(const struct writer *w) {
    if (w->overflow) return TC_ENOSPC;
    tc_assert(w->used <= w->size);
    tc_assert(w->used <= INT32_MAX);
    return (int32_t)w->used;
}

const char *tc_edge_http_reason(uint16_t status) {
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return NULL;
    }
}

int32_t tc_edge_http_response_write(char *out, uint32_t out_size,
                                    const struct tc_edge_http_response *response) {
    tc_assert(out != NULL);
    const char *reason = tc_edge_http_reason(response->status);
    tc_assert(reason != NULL);
    tc_assert(response->body != NULL || response->body_size == 0);
    tc_assert(response->content_type != NULL || response->body_size == 0);
    struct writer w = {.out = out, .size = out_size};
    put_str(&w, "HTTP/1.1 ");
    put_u64(&w, response->status);
    put_str(&w, " ");
    put_str(&w, reason);
    put_str(&w, "\r\n");
    if (response->headers != NULL) put_str(&w, response->headers);
    if (response->status != 101) {
        put_str(&w, "Connection: close\r\nCache-Control: no-store\r\n");
        if (response->content_type != NULL) {
            put_str(&w, "Content-Type: ");
            put_str(&w, response->content_type);
            put_str(&w, "\r\n");
        }
        put_str(&w, "Content-Length: ");
        put_u64(&w, response->body_size);
        put_str(&w, "\r\n");
    }
    put_str(&w, "\r\n");
    if (response->body_size > 0) put(&w, response->body, response->body_size);
    return writer_result(&w);
}

int32_t tc_edge_http_write_upgrade(char *out, uint32_t out_size,
                                   const char accept[TC_EDGE_WS_ACCEPT_SIZE + 1]) {
    tc_assert(strlen(accept) == TC_EDGE_WS_ACCEPT_SIZE);
    char headers[128];
    struct writer h = {.out = headers, .size = sizeof(headers) - 1};
    put_str(&h, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
    put_str(&h, accept);
    put_str(&h, "\r\n");
    tc_assert(!h.overflow);
    headers[h.used] = '\0';
    struct tc_edge_http_response response = {.status = 101, .headers = headers};
    return tc_edge_http_response_write(out, out_size, &response);
}

static bool json_safe(const char *text) {
    for (const char *c = text; *c != '\0'; c++) {
        if ((uint8_t)*c < 0x20 || (uint8_t)*c > 0x7e || *c == '"' || *c == '\\') return false;
    }
    return true;
}

static void error_headers(struct writer *h, uint16_t status, uint32_t retry_after_s) {
    if (status == 401) {
        put_str(h, "WWW-Authenticate: Bearer realm=\"tigerchat\", error=\"invalid_token\"\r\n");
    } else if (status == 405) {
        put_str(h, "Allow: GET\r\n");
    } else if (status == 426) {
        put_str(h, "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
    }
    if ((status == 429 || status == 503) && retry_after_s > 0) {
        put_str(h, "Retry-After: ");
        put_u64(h, retry_after_s);
        put_str(h, "\r\n");
    }
}

int32_t tc_edge_http_write_error(char *out, uint32_t out_size, uint16_t status, uint32_t code,
                                 const char *name, const char *message, uint32_t retry_after_s) {
    tc_assert(status >= 400);
    tc_assert(json_safe(name));
    tc_assert(json_safe(message));
    char headers[192];
    struct writer h = {.out = headers, .size = sizeof(headers) - 1};
    error_headers(&h, status, retry_after_s);
    tc_assert(!h.overflow);
    headers[h.used] = '\0';
    char body[512];
    struct writer b = {.out = body, .size = sizeof(body)};
    put_str(&b, "{\"error\":{\"code\":");
    put_u64(&b, code);
    put_str(&b, ",\"name\":\"");
    put_str(&b, name);
    put_str(&b, "\",\"message\":\"");
    put_str(&b, message);
    put_str(&b, "\"}}\n");
    tc_assert(!b.overflow);
    struct tc_edge_http_response response = {
        .status = status,
        .headers = headers,
        .content_type = "application/json",
        .body = body,
        .body_size = b.used,
    };
    return tc_edge_http_response_write(out, out_size, &response);
}

// The HTTP-level names of docs/protocol.md §7.
static const char *status_error_name(uint16_t code) {
    switch (code) {
    case 400: return "bad_request";
    case 405: return "method_not_allowed";
    case 414: return "uri_too_long";
    case 426: return "upgrade_required";
    case 431: return "headers_too_large";
    case 505: return "http_version_not_supported";
    default: tc_unreachable(); return "";
    }
}

int32_t tc_edge_http_write_status(char *out, uint32_t out_size, enum tc_edge_http_status status) {
    tc_assert(status != TC_EDGE_HTTP_DONE && status != TC_EDGE_HTTP_NEED_MORE);
    uint16_t code = tc_edge_http_status_code(status);
    return tc_edge_http_write_error(out, out_size, code, code, status_error_name(code),
                                    tc_edge_http_status_name(status), 0);
}

int32_t tc_edge_http_write_text(char *out, uint32_t out_size, uint16_t status, const char *text) {
    tc_assert(text != NULL);
    struct tc_edge_http_response response = {
        .status = status,
        .content_type = "text/plain; charset=utf-8",
        .body = text,
        .body_size = (uint32_t)strlen(text),
    };
    return tc_edge_http_response_write(out, out_size, &response);
}
