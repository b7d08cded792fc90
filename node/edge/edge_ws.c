// RFC 6455 §5 frame reader and writer.
#include "edge_ws.h"

#include <string.h>

#include "tc_assert.h"
#include "tc_err.h"

const char *tc_edge_ws_error_name(enum tc_edge_ws_error error) {
    switch (error) {
#define TC_EDGE_WS_ERROR_CASE(name, close, text)                                                   \
    case name: return text;
        TC_EDGE_WS_ERROR_TABLE(TC_EDGE_WS_ERROR_CASE)
#undef TC_EDGE_WS_ERROR_CASE
    default: return "invalid";
    }
}

uint16_t tc_edge_ws_error_close_code(enum tc_edge_ws_error error) {
    switch (error) {
#define TC_EDGE_WS_ERROR_CASE(name, close, text)                                                   \
    case name: return close;
        TC_EDGE_WS_ERROR_TABLE(TC_EDGE_WS_ERROR_CASE)
#undef TC_EDGE_WS_ERROR_CASE
    default: tc_unreachable(); return 0;
    }
}

bool tc_edge_ws_close_code_valid(uint32_t code) {
    if (code >= 1000 && code <= 1003) return true;
    if (code >= 1007 && code <= 1014) return true;
    return code >= 3000 && code <= 4999;
}

static bool opcode_is_control(uint8_t opcode) {
    return (opcode & 0x8) != 0;
}

void tc_edge_ws_reader_init(struct tc_edge_ws_reader *reader,
                            const struct tc_edge_ws_limits *limits, uint8_t *message) {
    tc_assert(reader != NULL);
    tc_assert(message != NULL);
    tc_assert(limits->message_size_max >= TC_EDGE_WS_CONTROL_SIZE_MAX);
    tc_assert(limits->message_size_max <= TC_EDGE_WS_MESSAGE_SIZE_LIMIT);
    tc_assert(limits->frame_size_max >= TC_EDGE_WS_CONTROL_SIZE_MAX);
    tc_assert(limits->frame_size_max <= limits->message_size_max);
    memset(reader, 0, sizeof(*reader));
    reader->limits = *limits;
    reader->message = message;
    reader->state = TC_EDGE_WS_READ_HEADER;
    reader->header_need = 2;
    tc_edge_utf8_init(&reader->utf8);
}

static enum tc_edge_ws_event_kind reader_fail(struct tc_edge_ws_reader *reader,
                                              enum tc_edge_ws_error error,
                                              struct tc_edge_ws_event *event) {
    tc_assert(error != TC_EDGE_WS_OK);
    reader->state = TC_EDGE_WS_READ_FAILED;
    reader->error = error;
    memset(event, 0, sizeof(*event));
    event->kind = TC_EDGE_WS_EVENT_ERROR;
    event->error = error;
    event->close_code = tc_edge_ws_error_close_code(error);
    return TC_EDGE_WS_EVENT_ERROR;
}

// The first two bytes: everything they alone can refuse, and the size of the rest of the header.
static enum tc_edge_ws_error header_start(struct tc_edge_ws_reader *reader) {
    uint8_t b0 = reader->header[0];
    uint8_t b1 = reader->header[1];
    if ((b0 & 0x70) != 0) return TC_EDGE_WS_RESERVED_BITS; // no extension negotiated
    uint8_t opcode = b0 & 0x0f;
    bool known = opcode <= TC_EDGE_WS_OP_BINARY || (opcode >= TC_EDGE_WS_OP_CLOSE &&
                                                   opcode <= TC_EDGE_WS_OP_PONG);
    if (!known) return TC_EDGE_WS_UNKNOWN_OPCODE;
    if ((b1 & 0x80) == 0) return TC_EDGE_WS_UNMASKED;
    reader->fin = (b0 & 0x80) != 0;
    reader->opcode = opcode;
    uint8_t length7 = b1 & 0x7f;
    if (opcode_is_control(opcode)) {
        if (!reader->fin) return TC_EDGE_WS_CONTROL_FRAGMENTED;
        if (length7 > TC_EDGE_WS_CONTROL_SIZE_MAX) return TC_EDGE_WS_CONTROL_TOO_LONG;
    } else if (opcode == TC_EDGE_WS_OP_CONTINUATION && !reader->message_open) {
        return TC_EDGE_WS_UNEXPECTED_CONTINUATION;
    } else if (opcode != TC_EDGE_WS_OP_CONTINUATION && reader->message_open) {
        return TC_EDGE_WS_EXPECTED_CONTINUATION;
    }
    uint32_t extended = length7 == 126 ? 2u : (length7 == 127 ? 8u : 0u);
    reader->header_need = 2 + extended + 4;
    return TC_EDGE_WS_OK;
}

// The whole header is in: the length (minimal encoding, limits) and the mask.
static enum tc_edge_ws_error header_finish(struct tc_edge_ws_reader *reader) {
    const uint8_t *h = reader->header;
    uint8_t length7 = h[1] & 0x7f;
    uint64_t length = length7;
    uint32_t at = 2;
    if (length7 == 126) {
        length = (uint64_t)h[2] << 8 | h[3];
        if (length < 126) return TC_EDGE_WS_LENGTH_NOT_MINIMAL;
        at = 4;
    } else if (length7 == 127) {
        length = 0;
        for (uint32_t i = 0; i < 8; i++) length = length << 8 | h[2 + i];
        if ((length >> 63) != 0) return TC_EDGE_WS_LENGTH_TOP_BIT;
        if (length <= 0xffff) return TC_EDGE_WS_LENGTH_NOT_MINIMAL;
        at = 10;
    }
    tc_assert(at + 4 == reader->header_need);
    memcpy(reader->mask, h + at, 4);
    if (!opcode_is_control(reader->opcode)) {
        if (length > reader->limits.frame_size_max) return TC_EDGE_WS_FRAME_TOO_LARGE;
        // A new message starts from zero: only a continuation adds to the open message's size
        // (the previous message's size must not count against the next one).
        const bool continuation = reader->opcode == TC_EDGE_WS_OP_CONTINUATION;
        uint64_t total = (continuation ? (uint64_t)reader->message_size : 0) + length;
        if (total > reader->limits.message_size_max) return TC_EDGE_WS_MESSAGE_TOO_LARGE;
        if (!continuation) {
            reader->message_open = true;
            reader->message_opcode = reader->opcode;
            reader->message_size = 0;
            tc_edge_utf8_init(&reader->utf8);
        }
    }
    tc_assert(length <= reader->limits.message_size_max);
    reader->payload_size = (uint32_t)length;
    reader->payload_done = 0;
    return TC_EDGE_WS_OK;
}

static void reader_next_frame(struct tc_edge_ws_reader *reader) {
    reader->state = TC_EDGE_WS_READ_HEADER;
    reader->header_used = 0;
    reader->header_need = 2;
}

// A close frame's payload: nothing, or a valid code and a UTF-8 reason.
static enum tc_edge_ws_event_kind control_close(struct tc_edge_ws_reader *reader,
                                                struct tc_edge_ws_event *event) {
    uint32_t size = reader->payload_size;
    if (size == 1) return reader_fail(reader, TC_EDGE_WS_CLOSE_PAYLOAD_SIZE, event);
    event->close_code = TC_EDGE_WS_CLOSE_NO_STATUS;
    event->payload = reader->control;
    event->payload_size = 0;
    if (size >= 2) {
        uint16_t code = (uint16_t)(reader->control[0] << 8 | reader->control[1]);
        if (!tc_edge_ws_close_code_valid(code)) {
            return reader_fail(reader, TC_EDGE_WS_CLOSE_CODE_INVALID, event);
        }
        if (!tc_edge_utf8_valid(reader->control + 2, size - 2)) {
            return reader_fail(reader, TC_EDGE_WS_CLOSE_REASON_UTF8, event);
        }
        event->close_code = code;
        event->payload = reader->control + 2;
        event->payload_size = size - 2;
    }
    reader->state = TC_EDGE_WS_READ_CLOSED;
    event->kind = TC_EDGE_WS_EVENT_CLOSE;
    return TC_EDGE_WS_EVENT_CLOSE;
}

// The current frame's payload is complete: deliver a control frame or a finished message.
static enum tc_edge_ws_event_kind frame_complete(struct tc_edge_ws_reader *reader,
                                                 struct tc_edge_ws_event *event) {
    tc_assert(reader->payload_done == reader->payload_size);
    memset(event, 0, sizeof(*event));
    if (opcode_is_control(reader->opcode)) {
        if (reader->opcode == TC_EDGE_WS_OP_CLOSE) return control_close(reader, event);
        reader_next_frame(reader);
        event->kind = reader->opcode == TC_EDGE_WS_OP_PING ? TC_EDGE_WS_EVENT_PING
                                                           : TC_EDGE_WS_EVENT_PONG;
        event->payload = reader->control;
        event->payload_size = reader->payload_size;
        return event->kind;
    }
    reader->message_size += reader->payload_size;
    tc_assert(reader->message_size <= reader->limits.message_size_max);
    reader_next_frame(reader);
    if (!reader->fin) return TC_EDGE_WS_EVENT_NONE;
    bool text = reader->message_opcode == TC_EDGE_WS_OP_TEXT;
    if (text && !tc_edge_utf8_complete(&reader->utf8)) {
        return reader_fail(reader, TC_EDGE_WS_INVALID_UTF8, event);
    }
    reader->message_open = false;
    event->kind = text ? TC_EDGE_WS_EVENT_TEXT : TC_EDGE_WS_EVENT_BINARY;
    event->payload = reader->message;
    event->payload_size = reader->message_size;
    return event->kind;
}

// Copies and unmasks up to `size` payload bytes; returns how many were taken.
static uint32_t payload_take(struct tc_edge_ws_reader *reader, const uint8_t *data, uint32_t size) {
    uint32_t left = reader->payload_size - reader->payload_done;
    uint32_t take = size < left ? size : left;
    uint8_t *to = opcode_is_control(reader->opcode)
                      ? reader->control + reader->payload_done
                      : reader->message + reader->message_size + reader->payload_done;
    uint32_t phase = reader->payload_done;
    for (uint32_t i = 0; i < take; i++) to[i] = data[i] ^ reader->mask[(phase + i) & 3];
    reader->payload_done += take;
    return take;
}

// One step of the reader over data[0..size): returns bytes used, sets *kind when an event ends.
static uint32_t reader_step(struct tc_edge_ws_reader *reader, const uint8_t *data, uint32_t size,
                            struct tc_edge_ws_event *event, enum tc_edge_ws_event_kind *kind) {
    *kind = TC_EDGE_WS_EVENT_NONE;
    if (reader->state == TC_EDGE_WS_READ_HEADER) {
        reader->header[reader->header_used++] = data[0];
        if (reader->header_used < reader->header_need) return 1;
        enum tc_edge_ws_error error = reader->header_used == 2 ? header_start(reader)
                                                               : TC_EDGE_WS_OK;
        if (error == TC_EDGE_WS_OK && reader->header_used == reader->header_need) {
            error = header_finish(reader);
            if (error == TC_EDGE_WS_OK) reader->state = TC_EDGE_WS_READ_PAYLOAD;
        }
        if (error != TC_EDGE_WS_OK) *kind = reader_fail(reader, error, event);
        return 1;
    }
    tc_assert(reader->state == TC_EDGE_WS_READ_PAYLOAD);
    uint32_t start = reader->message_size + reader->payload_done;
    uint32_t used = payload_take(reader, data, size);
    bool text = !opcode_is_control(reader->opcode) && reader->message_opcode == TC_EDGE_WS_OP_TEXT;
    if (text && !tc_edge_utf8_feed(&reader->utf8, reader->message + start, used)) {
        *kind = reader_fail(reader, TC_EDGE_WS_INVALID_UTF8, event); // fail fast (RFC 6455 §8.1)
    }
    return used;
}

enum tc_edge_ws_event_kind tc_edge_ws_reader_feed(struct tc_edge_ws_reader *reader,
                                                  const uint8_t *data, uint32_t size,
                                                  uint32_t *consumed,
                                                  struct tc_edge_ws_event *event) {
    tc_assert(data != NULL || size == 0);
    tc_assert(consumed != NULL && event != NULL);
    memset(event, 0, sizeof(*event));
    *consumed = 0;
    if (reader->state == TC_EDGE_WS_READ_FAILED) return reader_fail(reader, reader->error, event);
    if (reader->state == TC_EDGE_WS_READ_CLOSED) {
        if (size == 0) return TC_EDGE_WS_EVENT_NONE;
        return reader_fail(reader, TC_EDGE_WS_DATA_AFTER_CLOSE, event);
    }
    uint32_t i = 0;
    for (;;) {
        enum tc_edge_ws_event_kind kind = TC_EDGE_WS_EVENT_NONE;
        // A frame whose payload is complete (possibly empty) ends before more input is needed.
        if (reader->state == TC_EDGE_WS_READ_PAYLOAD &&
            reader->payload_done == reader->payload_size) {
            kind = frame_complete(reader, event);
        } else if (i < size) {
            i += reader_step(reader, data + i, size - i, event, &kind);
        } else {
            break;
        }
        if (kind != TC_EDGE_WS_EVENT_NONE) {
            *consumed = i;
            return kind;
        }
    }
    tc_assert(i == size);
    *consumed = size;
    return TC_EDGE_WS_EVENT_NONE;
}

// ------------------------------------------------------------------------------------------------
// Writer.

uint32_t tc_edge_ws_header_write(uint8_t out[TC_EDGE_WS_HEADER_SIZE_MAX],
                                 enum tc_edge_ws_opcode opcode, bool fin, uint64_t payload_size,
                                 const uint8_t mask[4]) {
    tc_assert((opcode & ~0xfu) == 0);
    tc_assert(!opcode_is_control((uint8_t)opcode) ||
              (fin && payload_size <= TC_EDGE_WS_CONTROL_SIZE_MAX));
    tc_assert((payload_size >> 63) == 0);
    out[0] = (uint8_t)((fin ? 0x80u : 0u) | (uint32_t)opcode);
    uint8_t mask_bit = mask != NULL ? 0x80 : 0;
    uint32_t at = 2;
    if (payload_size < 126) {
        out[1] = (uint8_t)(mask_bit | payload_size);
    } else if (payload_size <= 0xffff) {
        out[1] = mask_bit | 126;
        out[2] = (uint8_t)(payload_size >> 8);
        out[3] = (uint8_t)payload_size;
        at = 4;
    } else {
        out[1] = mask_bit | 127;
        for (uint32_t i = 0; i < 8; i++) out[2 + i] = (uint8_t)(payload_size >> (56 - 8 * i));
        at = 10;
    }
    if (mask != NULL) {
        memcpy(out + at, mask, 4);
        at += 4;
    }
    return at;
}

static int32_t frame_write(uint8_t *out, uint32_t out_size, enum tc_edge_ws_opcode opcode,
                           bool fin, const uint8_t mask[4], const uint8_t *payload,
                           uint32_t payload_size) {
    tc_assert(out != NULL);
    tc_assert(payload != NULL || payload_size == 0);
    uint8_t header[TC_EDGE_WS_HEADER_SIZE_MAX];
    uint32_t header_size = tc_edge_ws_header_write(header, opcode, fin, payload_size, mask);
    if ((uint64_t)header_size + payload_size > out_size) return TC_ENOSPC;
    tc_assert((uint64_t)header_size + payload_size <= INT32_MAX);
    memcpy(out, header, header_size);
    for (uint32_t i = 0; i < payload_size; i++) {
        out[header_size + i] = mask != NULL ? payload[i] ^ mask[i & 3] : payload[i];
    }
    return (int32_t)(header_size + payload_size);
}

int32_t tc_edge_ws_frame_write(uint8_t *out, uint32_t out_size, enum tc_edge_ws_opcode opcode,
                               bool fin, const uint8_t *payload, uint32_t payload_size) {
    return frame_write(out, out_size, opcode, fin, NULL, payload, payload_size);
}

int32_t tc_edge_ws_frame_write_masked(uint8_t *out, uint32_t out_size,
                                      enum tc_edge_ws_opcode opcode, bool fin,
                                      const uint8_t mask[4], const uint8_t *payload,
                                      uint32_t payload_size) {
    tc_assert(mask != NULL);
    return frame_write(out, out_size, opcode, fin, mask, payload, payload_size);
}

int32_t tc_edge_ws_close_write(uint8_t *out, uint32_t out_size, uint16_t code, const char *reason,
                               uint32_t reason_size) {
    tc_assert(tc_edge_ws_close_code_valid(code));
    tc_assert(reason != NULL || reason_size == 0);
    tc_assert(reason_size <= TC_EDGE_WS_CLOSE_REASON_SIZE_MAX);
    tc_assert(tc_edge_utf8_valid((const uint8_t *)reason, reason_size));
    uint8_t payload[TC_EDGE_WS_CONTROL_SIZE_MAX];
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    if (reason_size > 0) memcpy(payload + 2, reason, reason_size);
    return frame_write(out, out_size, TC_EDGE_WS_OP_CLOSE, true, NULL, payload, reason_size + 2);
}
