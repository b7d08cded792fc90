// The client side of the wire (pure code, no I/O): RFC 6455 server frames and message assembly,
// the HTTP upgrade request and the server's response head.
#include <stdio.h>
#include <string.h>

#include "edge_encoding.h"
#include "edge_utf8.h"
#include "edge_ws.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tigerchat.h"

// ------------------------------------------------------------------------------------------------
// Frames.

static bool opcode_known(uint8_t opcode) {
    return opcode <= TC_EDGE_WS_OP_BINARY ||
           (opcode >= TC_EDGE_WS_OP_CLOSE && opcode <= TC_EDGE_WS_OP_PONG);
}

static uint64_t big_endian_get(const uint8_t *p, uint32_t size) {
    uint64_t value = 0;
    for (uint32_t i = 0; i < size; i++) value = value << 8 | p[i];
    return value;
}

int32_t tc_sdk_ws_frame_parse(const uint8_t *data, uint32_t size, uint32_t payload_max,
                              struct tc_sdk_ws_frame *frame) {
    tc_assert(payload_max <= TC_SDK_MESSAGE_SIZE_LIMIT);
    if (size < 2) return 0;
    const uint8_t opcode = data[0] & 0x0f;
    const bool fin = (data[0] & 0x80) != 0;
    if ((data[0] & 0x70) != 0) return TC_EINVAL; // no extension was negotiated
    if (!opcode_known(opcode)) return TC_EINVAL;
    if ((data[1] & 0x80) != 0) return TC_EINVAL; // RFC 6455 §5.1: server frames are not masked
    const uint32_t length7 = data[1] & 0x7fu;
    uint32_t header_size = 2;
    uint64_t length = length7;
    if (length7 == 126) {
        header_size = 4;
        if (size < header_size) return 0;
        length = big_endian_get(data + 2, 2);
        if (length < 126) return TC_EINVAL;
    } else if (length7 == 127) {
        header_size = 10;
        if (size < header_size) return 0;
        length = big_endian_get(data + 2, 8);
        if ((length >> 63) != 0) return TC_EINVAL;
        if (length <= 0xffff) return TC_EINVAL;
    }
    if (opcode >= TC_EDGE_WS_OP_CLOSE) {
        if (!fin || length > TC_EDGE_WS_CONTROL_SIZE_MAX) return TC_EINVAL;
    }
    if (length > payload_max) return TC_ETOOBIG;
    if ((uint64_t)size < header_size + length) return 0;
    frame->opcode = opcode;
    frame->fin = fin;
    frame->header_size = header_size;
    frame->payload_size = (uint32_t)length;
    frame->payload = data + header_size;
    return (int32_t)(header_size + (uint32_t)length);
}

void tc_sdk_ws_reader_init(struct tc_sdk_ws_reader *reader, uint8_t *message,
                           uint32_t message_size_max) {
    tc_assert(message != NULL);
    tc_assert(message_size_max >= TC_EDGE_WS_CONTROL_SIZE_MAX);
    *reader = (struct tc_sdk_ws_reader){.message = message, .message_size_max = message_size_max};
}

static uint32_t read_error(struct tc_sdk_ws_event *event, uint16_t close_code) {
    event->kind = TC_SDK_WS_ERROR;
    event->close_code = close_code;
    return 0;
}

static uint32_t read_close(const struct tc_sdk_ws_frame *frame, struct tc_sdk_ws_event *event) {
    if (frame->payload_size == 1) return read_error(event, TC_EDGE_WS_CLOSE_PROTOCOL_ERROR);
    event->kind = TC_SDK_WS_CLOSE;
    event->close_code = TC_EDGE_WS_CLOSE_NO_STATUS;
    if (frame->payload_size == 0) return frame->header_size;
    const uint16_t code = (uint16_t)big_endian_get(frame->payload, 2);
    if (!tc_edge_ws_close_code_valid(code)) return read_error(event, 1002);
    if (!tc_edge_utf8_valid(frame->payload + 2, frame->payload_size - 2u)) {
        return read_error(event, TC_EDGE_WS_CLOSE_INVALID_PAYLOAD);
    }
    event->close_code = code;
    event->payload = frame->payload + 2;
    event->payload_size = frame->payload_size - 2u;
    return frame->header_size + frame->payload_size;
}

// A complete text message: UTF-8 checked (RFC 6455 §8.1).
static bool read_text(const uint8_t *payload, uint32_t size, struct tc_sdk_ws_event *event) {
    if (!tc_edge_utf8_valid(payload, size)) {
        read_error(event, TC_EDGE_WS_CLOSE_INVALID_PAYLOAD);
        return false;
    }
    event->kind = TC_SDK_WS_TEXT;
    event->payload = payload;
    event->payload_size = size;
    return true;
}

static uint32_t read_data(struct tc_sdk_ws_reader *reader, const struct tc_sdk_ws_frame *frame,
                          uint32_t frame_size, struct tc_sdk_ws_event *event) {
    if (frame->opcode == TC_EDGE_WS_OP_CONTINUATION) {
        if (!reader->message_open) return read_error(event, TC_EDGE_WS_CLOSE_PROTOCOL_ERROR);
    } else {
        if (reader->message_open) return read_error(event, TC_EDGE_WS_CLOSE_PROTOCOL_ERROR);
        // The protocol has text messages only (docs/protocol.md §3).
        if (frame->opcode == TC_EDGE_WS_OP_BINARY) {
            return read_error(event, TC_EDGE_WS_CLOSE_UNSUPPORTED_DATA);
        }
        if (frame->fin) {
            return read_text(frame->payload, frame->payload_size, event) ? frame_size : 0;
        }
        reader->message_open = true;
        reader->message_opcode = frame->opcode;
        reader->message_used = 0;
    }
    if (frame->payload_size > reader->message_size_max - reader->message_used) {
        return read_error(event, TC_EDGE_WS_CLOSE_MESSAGE_TOO_BIG);
    }
    memcpy(reader->message + reader->message_used, frame->payload, frame->payload_size);
    reader->message_used += frame->payload_size;
    if (!frame->fin) return frame_size;
    reader->message_open = false;
    return read_text(reader->message, reader->message_used, event) ? frame_size : 0;
}

uint32_t tc_sdk_ws_read(struct tc_sdk_ws_reader *reader, const uint8_t *data, uint32_t size,
                        struct tc_sdk_ws_event *event) {
    *event = (struct tc_sdk_ws_event){.kind = TC_SDK_WS_NONE};
    struct tc_sdk_ws_frame frame;
    const int32_t parsed = tc_sdk_ws_frame_parse(data, size, reader->message_size_max, &frame);
    if (parsed == 0) return 0;
    if (parsed == TC_ETOOBIG) return read_error(event, TC_EDGE_WS_CLOSE_MESSAGE_TOO_BIG);
    if (parsed < 0) return read_error(event, TC_EDGE_WS_CLOSE_PROTOCOL_ERROR);
    const uint32_t frame_size = (uint32_t)parsed;
    switch (frame.opcode) {
    case TC_EDGE_WS_OP_PING:
    case TC_EDGE_WS_OP_PONG:
        event->kind = frame.opcode == TC_EDGE_WS_OP_PING ? TC_SDK_WS_PING : TC_SDK_WS_PONG;
        event->payload = frame.payload;
        event->payload_size = frame.payload_size;
        return frame_size;
    case TC_EDGE_WS_OP_CLOSE: return read_close(&frame, event);
    default: return read_data(reader, &frame, frame_size, event);
    }
}

// ------------------------------------------------------------------------------------------------
// HTTP.

int32_t tc_sdk_http_request_write(char *out, uint32_t out_size, const struct tc_sdk_node *node,
                                  const char *key_base64, const char *token, uint32_t token_size) {
    tc_assert(token_size > 0 && token_size <= TC_SDK_TOKEN_SIZE_MAX);
    const bool v6 = strchr(node->host, ':') != NULL;
    const int head = snprintf(out, out_size,
                              "GET /v1/ws HTTP/1.1\r\nHost: %s%s%s:%u\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                              "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer ",
                              v6 ? "[" : "", node->host, v6 ? "]" : "", (unsigned)node->port,
                              key_base64);
    if (head < 0 || (uint32_t)head + token_size + 4u > out_size) return TC_ENOSPC;
    memcpy(out + head, token, token_size);
    memcpy(out + (uint32_t)head + token_size, "\r\n\r\n", 4);
    return head + (int32_t)token_size + 4;
}

static bool name_is(const char *name, uint32_t name_size, const char *expected) {
    return tc_edge_ascii_equal_nocase(name, name_size, expected, (uint32_t)strlen(expected));
}

// True when the comma-separated list `value` holds `token` (case-insensitive).
static bool list_has(const char *value, uint32_t size, const char *token) {
    uint32_t at = 0;
    while (at <= size) {
        uint32_t end = at;
        while (end < size && value[end] != ',') end++;
        uint32_t a = at, b = end;
        while (a < b && (value[a] == ' ' || value[a] == '\t')) a++;
        while (b > a && (value[b - 1] == ' ' || value[b - 1] == '\t')) b--;
        if (name_is(value + a, b - a, token)) return true;
        at = end + 1;
    }
    return false;
}

static bool digits_parse(const char *text, uint32_t size, uint32_t *out) {
    if (size == 0 || size > 9) return false;
    uint32_t value = 0;
    for (uint32_t i = 0; i < size; i++) {
        if (text[i] < '0' || text[i] > '9') return false;
        value = value * 10u + (uint32_t)(text[i] - '0');
    }
    *out = value;
    return true;
}

static bool status_line_parse(const char *line, uint32_t size, uint16_t *status) {
    // "HTTP/1.1 101 Switching Protocols" (the reason may be empty).
    if (size < 12) return false;
    if (memcmp(line, "HTTP/1.1 ", 9) != 0 && memcmp(line, "HTTP/1.0 ", 9) != 0) return false;
    uint32_t value = 0;
    if (!digits_parse(line + 9, 3, &value) || value < 100) return false;
    if (size > 12 && line[12] != ' ') return false;
    *status = (uint16_t)value;
    return true;
}

static bool header_line_apply(const char *line, uint32_t size,
                              struct tc_sdk_http_response *response) {
    const char *colon = memchr(line, ':', size);
    if (colon == NULL || colon == line) return false;
    const uint32_t name_size = (uint32_t)(colon - line);
    uint32_t a = name_size + 1, b = size;
    while (a < b && (line[a] == ' ' || line[a] == '\t')) a++;
    while (b > a && (line[b - 1] == ' ' || line[b - 1] == '\t')) b--;
    const char *value = line + a;
    const uint32_t value_size = b - a;
    if (name_is(line, name_size, "upgrade")) {
        response->upgrade_websocket = list_has(value, value_size, "websocket");
    } else if (name_is(line, name_size, "connection")) {
        response->connection_upgrade |= list_has(value, value_size, "upgrade");
    } else if (name_is(line, name_size, "sec-websocket-accept")) {
        if (value_size >= sizeof(response->accept)) return false;
        memcpy(response->accept, value, value_size);
        response->accept[value_size] = '\0';
    } else if (name_is(line, name_size, "content-length")) {
        if (!digits_parse(value, value_size, &response->content_length)) return false;
    } else if (name_is(line, name_size, "retry-after")) {
        if (!digits_parse(value, value_size, &response->retry_after_s)) return false;
    }
    return true;
}

int32_t tc_sdk_http_response_parse(const uint8_t *data, uint32_t size,
                                   struct tc_sdk_http_response *response) {
    *response = (struct tc_sdk_http_response){0};
    const uint32_t limit = size < TC_SDK_HTTP_HEAD_SIZE_MAX ? size : TC_SDK_HTTP_HEAD_SIZE_MAX;
    uint32_t head_end = 0;
    for (uint32_t i = 3; i < limit; i++) {
        if (data[i] == '\n' && data[i - 1] == '\r' && data[i - 2] == '\n' && data[i - 3] == '\r') {
            head_end = i + 1;
            break;
        }
    }
    if (head_end == 0) return size >= TC_SDK_HTTP_HEAD_SIZE_MAX ? TC_ETOOBIG : 0;
    const char *text = (const char *)data;
    uint32_t at = 0;
    bool first = true;
    while (at + 2 < head_end) {
        uint32_t end = at;
        while (end + 1 < head_end && !(text[end] == '\r' && text[end + 1] == '\n')) end++;
        if (first) {
            if (!status_line_parse(text + at, end - at, &response->status)) return TC_EINVAL;
            first = false;
        } else if (!header_line_apply(text + at, end - at, response)) {
            return TC_EINVAL;
        }
        at = end + 2;
    }
    if (first) return TC_EINVAL;
    return (int32_t)head_end;
}
