// The incremental HTTP/1.1 request-head parser (RFC 9112 §2-§5, strict subset).
#include "edge_http.h"

#include <stddef.h>
#include <string.h>

#include "tc_assert.h"
#include "tc_err.h"

const char *tc_edge_http_status_name(enum tc_edge_http_status status) {
    switch (status) {
#define TC_EDGE_HTTP_STATUS_CASE(name, http, text)                                                 \
    case name: return text;
        TC_EDGE_HTTP_STATUS_TABLE(TC_EDGE_HTTP_STATUS_CASE)
#undef TC_EDGE_HTTP_STATUS_CASE
    default: return "invalid";
    }
}

uint16_t tc_edge_http_status_code(enum tc_edge_http_status status) {
    switch (status) {
#define TC_EDGE_HTTP_STATUS_CASE(name, http, text)                                                 \
    case name: return http;
        TC_EDGE_HTTP_STATUS_TABLE(TC_EDGE_HTTP_STATUS_CASE)
#undef TC_EDGE_HTTP_STATUS_CASE
    default: tc_unreachable(); return 0;
    }
}

void tc_edge_http_limits_default(struct tc_edge_http_limits *limits) {
    tc_assert(limits != NULL);
    limits->head_size_max = TC_EDGE_HTTP_HEAD_SIZE_MAX;
    limits->line_size_max = TC_EDGE_HTTP_LINE_SIZE_MAX;
    limits->header_count_max = TC_EDGE_HTTP_HEADERS_MAX;
}

void tc_edge_http_request_init(struct tc_edge_http_request *request,
                               const struct tc_edge_http_limits *limits) {
    tc_assert(request != NULL);
    tc_assert(limits->head_size_max >= 64 && limits->head_size_max <= TC_EDGE_HTTP_HEAD_SIZE_MAX);
    tc_assert(limits->line_size_max >= 16 && limits->line_size_max <= TC_EDGE_HTTP_LINE_SIZE_MAX);
    tc_assert(limits->header_count_max >= 1 &&
              limits->header_count_max <= TC_EDGE_HTTP_HEADERS_MAX);
    // The head buffer needs no clearing: only bytes below head_size are ever read.
    memset(request, 0, offsetof(struct tc_edge_http_request, head));
    request->limits = *limits;
    request->status = TC_EDGE_HTTP_NEED_MORE;
}

// RFC 9110 §5.6.2 tchar.
static bool is_tchar(uint8_t c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static struct tc_edge_http_slice slice_make(uint32_t offset, uint32_t size) {
    tc_assert(offset + size <= TC_EDGE_HTTP_HEAD_SIZE_MAX);
    return (struct tc_edge_http_slice){.offset = (uint16_t)offset, .size = (uint16_t)size};
}

static enum tc_edge_http_status parse_version(const char *v, uint32_t size, uint8_t *minor) {
    if (size != 8 || memcmp(v, "HTTP/", 5) != 0) return TC_EDGE_HTTP_VERSION_INVALID;
    if (v[5] < '0' || v[5] > '9' || v[6] != '.' || v[7] < '0' || v[7] > '9') {
        return TC_EDGE_HTTP_VERSION_INVALID;
    }
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) return TC_EDGE_HTTP_VERSION_UNSUPPORTED;
    *minor = (uint8_t)(v[7] - '0');
    return TC_EDGE_HTTP_NEED_MORE;
}

// Origin-form only (RFC 9112 §3.2.1): "/" path ["?" query], visible ASCII, no fragment.
static enum tc_edge_http_status parse_target(struct tc_edge_http_request *request,
                                             uint32_t offset, uint32_t size) {
    const char *t = request->head + offset;
    if (size == 0 || t[0] != '/') return TC_EDGE_HTTP_TARGET_INVALID;
    uint32_t path_size = size;
    for (uint32_t i = 0; i < size; i++) {
        uint8_t c = (uint8_t)t[i];
        if (c < 0x21 || c > 0x7e || c == '#') return TC_EDGE_HTTP_TARGET_INVALID;
        if (c == '?' && path_size == size) path_size = i;
    }
    request->target = slice_make(offset, size);
    request->path = slice_make(offset, path_size);
    request->query_present = path_size < size;
    if (request->query_present) {
        request->query = slice_make(offset + path_size + 1, size - path_size - 1);
    }
    return TC_EDGE_HTTP_NEED_MORE;
}

// method SP request-target SP HTTP-version; exactly one space between the parts.
static enum tc_edge_http_status parse_request_line(struct tc_edge_http_request *request,
                                                   uint32_t start, uint32_t size) {
    const char *line = request->head + start;
    const char *sp1 = memchr(line, ' ', size);
    if (sp1 == NULL) return TC_EDGE_HTTP_REQUEST_LINE_INVALID;
    uint32_t method_size = (uint32_t)(sp1 - line);
    if (method_size == 0) return TC_EDGE_HTTP_METHOD_INVALID;
    for (uint32_t i = 0; i < method_size; i++) {
        if (!is_tchar((uint8_t)line[i])) return TC_EDGE_HTTP_METHOD_INVALID;
    }
    uint32_t rest = size - method_size - 1;
    const char *sp2 = memchr(sp1 + 1, ' ', rest);
    if (sp2 == NULL) return TC_EDGE_HTTP_REQUEST_LINE_INVALID;
    uint32_t target_size = (uint32_t)(sp2 - sp1 - 1);
    enum tc_edge_http_status status =
        parse_target(request, start + method_size + 1, target_size);
    if (status != TC_EDGE_HTTP_NEED_MORE) return status;
    status = parse_version(sp2 + 1, rest - target_size - 1, &request->version_minor);
    if (status != TC_EDGE_HTTP_NEED_MORE) return status;
    request->method = slice_make(start, method_size);
    request->request_line_done = true;
    return TC_EDGE_HTTP_NEED_MORE;
}

static bool is_ows(char c) {
    return c == ' ' || c == '\t';
}

// field-name ":" OWS field-value OWS (RFC 9112 §5); no whitespace before the colon.
static enum tc_edge_http_status parse_header(struct tc_edge_http_request *request,
                                             uint32_t start, uint32_t size) {
    if (request->header_count == request->limits.header_count_max) {
        return TC_EDGE_HTTP_TOO_MANY_HEADERS;
    }
    const char *line = request->head + start;
    const char *colon = memchr(line, ':', size);
    if (colon == NULL || colon == line) return TC_EDGE_HTTP_HEADER_NAME_INVALID;
    uint32_t name_size = (uint32_t)(colon - line);
    for (uint32_t i = 0; i < name_size; i++) {
        if (!is_tchar((uint8_t)line[i])) return TC_EDGE_HTTP_HEADER_NAME_INVALID;
    }
    uint32_t begin = name_size + 1;
    uint32_t end = size;
    while (begin < end && is_ows(line[begin])) begin++;
    while (end > begin && is_ows(line[end - 1])) end--;
    for (uint32_t i = begin; i < end; i++) {
        uint8_t c = (uint8_t)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return TC_EDGE_HTTP_HEADER_VALUE_INVALID;
    }
    struct tc_edge_http_header *header = &request->headers[request->header_count++];
    header->name = slice_make(start, name_size);
    header->value = slice_make(start + begin, end - begin);
    return TC_EDGE_HTTP_NEED_MORE;
}

// A complete line [start, start + size) without its CRLF.
static enum tc_edge_http_status parse_line(struct tc_edge_http_request *request, uint32_t start,
                                           uint32_t size) {
    if (!request->request_line_done) return parse_request_line(request, start, size);
    if (size == 0) return TC_EDGE_HTTP_DONE;
    if (is_ows(request->head[start])) return TC_EDGE_HTTP_FOLDING;
    return parse_header(request, start, size);
}

// Stores one byte; returns the status after it (NEED_MORE while the head goes on).
static enum tc_edge_http_status parse_byte(struct tc_edge_http_request *request, uint8_t b) {
    if (request->line_cr && b != '\n') return TC_EDGE_HTTP_BARE_CR;
    if (request->head_size == request->limits.head_size_max) return TC_EDGE_HTTP_HEAD_TOO_LARGE;
    request->head[request->head_size++] = (char)b;
    uint32_t line_size = request->head_size - request->line_start;
    if (b == '\n') {
        if (!request->line_cr) return TC_EDGE_HTTP_BARE_LF;
        uint32_t start = request->line_start;
        request->line_start = request->head_size;
        request->line_cr = false;
        return parse_line(request, start, line_size - 2);
    }
    request->line_cr = b == '\r';
    uint32_t content_size = line_size - (request->line_cr ? 1u : 0u);
    if (content_size > request->limits.line_size_max) {
        return request->request_line_done ? TC_EDGE_HTTP_HEADER_LINE_TOO_LONG
                                          : TC_EDGE_HTTP_REQUEST_LINE_TOO_LONG;
    }
    return TC_EDGE_HTTP_NEED_MORE;
}

enum tc_edge_http_status tc_edge_http_parse(struct tc_edge_http_request *request,
                                            const uint8_t *data, uint32_t size,
                                            uint32_t *consumed) {
    tc_assert(request != NULL);
    tc_assert(data != NULL || size == 0);
    tc_assert(consumed != NULL);
    *consumed = 0;
    if (request->status != TC_EDGE_HTTP_NEED_MORE) return request->status;
    for (uint32_t i = 0; i < size; i++) {
        enum tc_edge_http_status status = parse_byte(request, data[i]);
        if (status != TC_EDGE_HTTP_NEED_MORE) {
            request->status = status;
            *consumed = i + 1;
            return status;
        }
    }
    tc_assert(request->head_size <= request->limits.head_size_max);
    *consumed = size;
    return TC_EDGE_HTTP_NEED_MORE;
}

// ------------------------------------------------------------------------------------------------
// Accessors.

struct tc_edge_str tc_edge_http_slice_str(const struct tc_edge_http_request *request,
                                          struct tc_edge_http_slice slice) {
    tc_assert((uint32_t)slice.offset + slice.size <= request->head_size);
    return (struct tc_edge_str){.data = request->head + slice.offset, .size = slice.size};
}

static bool slice_equal(const struct tc_edge_http_request *request,
                        struct tc_edge_http_slice slice, const char *text) {
    uint32_t size = (uint32_t)strlen(text);
    return slice.size == size && memcmp(request->head + slice.offset, text, size) == 0;
}

bool tc_edge_http_path_equal(const struct tc_edge_http_request *request, const char *path) {
    tc_assert(request->status == TC_EDGE_HTTP_DONE);
    return slice_equal(request, request->path, path);
}

bool tc_edge_http_method_equal(const struct tc_edge_http_request *request, const char *method) {
    tc_assert(request->status == TC_EDGE_HTTP_DONE);
    return slice_equal(request, request->method, method); // methods are case-sensitive
}

static bool header_named(const struct tc_edge_http_request *request, uint32_t index,
                         const char *name) {
    struct tc_edge_http_slice slice = request->headers[index].name;
    return tc_edge_ascii_equal_nocase(request->head + slice.offset, slice.size, name,
                                      (uint32_t)strlen(name));
}

uint32_t tc_edge_http_header_count(const struct tc_edge_http_request *request, const char *name) {
    tc_assert(request->status == TC_EDGE_HTTP_DONE);
    uint32_t count = 0;
    for (uint32_t i = 0; i < request->header_count; i++) count += header_named(request, i, name);
    return count;
}

bool tc_edge_http_header_get(const struct tc_edge_http_request *request, const char *name,
                             struct tc_edge_str *value) {
    tc_assert(request->status == TC_EDGE_HTTP_DONE);
    for (uint32_t i = 0; i < request->header_count; i++) {
        if (header_named(request, i, name)) {
            *value = tc_edge_http_slice_str(request, request->headers[i].value);
            return true;
        }
    }
    return false;
}

static bool list_has_token(struct tc_edge_str list, const char *token) {
    uint32_t token_size = (uint32_t)strlen(token);
    uint32_t i = 0;
    while (i <= list.size) {
        uint32_t end = i;
        while (end < list.size && list.data[end] != ',') end++;
        uint32_t a = i;
        uint32_t b = end;
        while (a < b && is_ows(list.data[a])) a++;
        while (b > a && is_ows(list.data[b - 1])) b--;
        if (tc_edge_ascii_equal_nocase(list.data + a, b - a, token, token_size)) return true;
        i = end + 1;
    }
    return false;
}

bool tc_edge_http_header_has_token(const struct tc_edge_http_request *request, const char *name,
                                   const char *token) {
    tc_assert(request->status == TC_EDGE_HTTP_DONE);
    tc_assert(token[0] != '\0');
    for (uint32_t i = 0; i < request->header_count; i++) {
        if (!header_named(request, i, name)) continue;
        if (list_has_token(tc_edge_http_slice_str(request, request->headers[i].value), token)) {
            return true;
        }
    }
    return false;
}
