// Unit tests of the edge's RFC 6455 frame reader and writer (node/edge/edge_ws.c) and of the
// incremental UTF-8 validator under it (node/edge/edge_utf8.c).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edge_utf8.h"
#include "edge_ws.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_prng.h"

static void assert_handler(const char *expression, const char *file, int line) {
    mock_assert(0, expression, file, line);
}

#define MESSAGE_MAX 4096u
#define EVENTS_MAX 64u

static uint8_t message_buffer[MESSAGE_MAX];
static struct tc_edge_ws_reader reader;

struct recorded {
    enum tc_edge_ws_event_kind kind;
    uint16_t close_code;
    enum tc_edge_ws_error error;
    uint32_t size;
    uint8_t payload[MESSAGE_MAX];
};

static struct recorded events[EVENTS_MAX];

static void reader_reset(uint32_t frame_max, uint32_t message_max) {
    struct tc_edge_ws_limits limits = {.frame_size_max = frame_max,
                                       .message_size_max = message_max};
    tc_edge_ws_reader_init(&reader, &limits, message_buffer);
}

// Feeds `data` in chunks of `chunk` bytes, handling each event as the edge would (feeding the
// rest again). Stops after an ERROR or CLOSE. Returns the number of events recorded.
static uint32_t feed(const uint8_t *data, uint32_t size, uint32_t chunk) {
    uint32_t count = 0;
    uint32_t at = 0;
    while (at < size && count < EVENTS_MAX) {
        uint32_t n = size - at < chunk ? size - at : chunk;
        uint32_t consumed;
        struct tc_edge_ws_event event;
        enum tc_edge_ws_event_kind kind =
            tc_edge_ws_reader_feed(&reader, data + at, n, &consumed, &event);
        assert_int_equal(kind, event.kind);
        assert_true(consumed <= n);
        at += consumed;
        if (kind == TC_EDGE_WS_EVENT_NONE) {
            assert_int_equal(consumed, n);
            continue;
        }
        struct recorded *r = &events[count++];
        r->kind = kind;
        r->close_code = event.close_code;
        r->error = event.error;
        r->size = event.payload_size;
        assert_true(event.payload_size <= MESSAGE_MAX);
        if (event.payload_size > 0) memcpy(r->payload, event.payload, event.payload_size);
        if (kind == TC_EDGE_WS_EVENT_ERROR || kind == TC_EDGE_WS_EVENT_CLOSE) break;
    }
    return count;
}

static uint32_t put_frame(uint8_t *out, uint32_t out_size, enum tc_edge_ws_opcode opcode,
                          bool fin, const void *payload, uint32_t size) {
    static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    int32_t n = tc_edge_ws_frame_write_masked(out, out_size, opcode, fin, mask, payload, size);
    assert_true(n > 0);
    return (uint32_t)n;
}

// ------------------------------------------------------------------------------------------------
// RFC 6455 §5.7 examples.

static void test_rfc_examples(void **state) {
    (void)state;
    // A single-frame masked text message "Hello".
    const uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    for (uint32_t chunk = 1; chunk <= sizeof(hello); chunk++) {
        reader_reset(MESSAGE_MAX, MESSAGE_MAX);
        assert_int_equal(feed(hello, sizeof(hello), chunk), 1);
        assert_int_equal(events[0].kind, TC_EDGE_WS_EVENT_TEXT);
        assert_int_equal(events[0].size, 5);
        assert_memory_equal(events[0].payload, "Hello", 5);
    }
    // The masked pong "Hello".
    const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    reader_reset(MESSAGE_MAX, MESSAGE_MAX);
    assert_int_equal(feed(pong, sizeof(pong), 3), 1);
    assert_int_equal(events[0].kind, TC_EDGE_WS_EVENT_PONG);
    assert_memory_equal(events[0].payload, "Hello", 5);
    // The unmasked examples are valid server frames but refused from a client.
    const uint8_t unmasked[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    reader_reset(MESSAGE_MAX, MESSAGE_MAX);
    assert_int_equal(feed(unmasked, sizeof(unmasked), 1), 1);
    assert_int_equal(events[0].kind, TC_EDGE_WS_EVENT_ERROR);
    assert_int_equal(events[0].error, TC_EDGE_WS_UNMASKED);
    assert_int_equal(events[0].close_code, 1002);
    // The writer produces exactly those server frames.
    uint8_t out[70000];
    assert_int_equal(tc_edge_ws_frame_write(out, sizeof(out), TC_EDGE_WS_OP_TEXT, true,
                                            (const uint8_t *)"Hello", 5),
                     7);
    assert_memory_equal(out, unmasked, 7);
    const uint8_t fragments[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
    assert_int_equal(tc_edge_ws_frame_write(out, sizeof(out), TC_EDGE_WS_OP_TEXT, false,
                                            (const uint8_t *)"Hel", 3),
                     5);
    assert_int_equal(tc_edge_ws_frame_write(out + 5, sizeof(out) - 5,
                                            TC_EDGE_WS_OP_CONTINUATION, true,
                                            (const uint8_t *)"lo", 2),
                     4);
    assert_memory_equal(out, fragments, sizeof(fragments));
    const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    assert_int_equal(tc_edge_ws_frame_write(out, sizeof(out), TC_EDGE_WS_OP_PING, true,
                                            (const uint8_t *)"Hello", 5),
                     7);
    assert_memory_equal(out, ping, sizeof(ping));
    // 256 bytes and 64 KiB binary: 16-bit and 64-bit lengths.
    static uint8_t big[65536];
    assert_int_equal(tc_edge_ws_frame_write(out, sizeof(out), TC_EDGE_WS_OP_BINARY, true, big,
                                            256),
                     4 + 256);
    assert_memory_equal(out, ((const uint8_t[]){0x82, 0x7e, 0x01, 0x00}), 4);
    assert_int_equal(tc_edge_ws_frame_write(out, sizeof(out), TC_EDGE_WS_OP_BINARY, true, big,
                                            65536),
                     10 + 65536);
    assert_memory_equal(out, ((const uint8_t[]){0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}), 10);
    assert_int_equal(tc_edge_ws_frame_write(out, 65545, TC_EDGE_WS_OP_BINARY, true, big, 65536),
                     TC_ENOSPC);
}

// Fragmented text with a ping between the fragments, byte at a time and whole.
static void test_fragmentation_with_ping(void **state) {
    (void)state;
    uint8_t stream[256];
    uint32_t size = 0;
    size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_TEXT, false, "Hel", 3);
    size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_PING, true, "p", 1);
    size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_CONTINUATION, false,
                      "", 0);
    size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_PONG, true, "", 0);
    size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_CONTINUATION, true,
                      "lo", 2);
    size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_BINARY, true, "\0\1", 2);
    size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_TEXT, true, "", 0);
    size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_CLOSE, true,
                      "\x03\xe8" "bye", 5);
    for (uint32_t chunk = 1; chunk <= size; chunk++) {
        reader_reset(MESSAGE_MAX, MESSAGE_MAX);
        assert_int_equal(feed(stream, size, chunk), 6);
        assert_int_equal(events[0].kind, TC_EDGE_WS_EVENT_PING);
        assert_int_equal(events[0].size, 1);
        assert_int_equal(events[0].payload[0], 'p');
        assert_int_equal(events[1].kind, TC_EDGE_WS_EVENT_PONG);
        assert_int_equal(events[1].size, 0);
        assert_int_equal(events[2].kind, TC_EDGE_WS_EVENT_TEXT);
        assert_int_equal(events[2].size, 5);
        assert_memory_equal(events[2].payload, "Hello", 5);
        assert_int_equal(events[3].kind, TC_EDGE_WS_EVENT_BINARY);
        assert_int_equal(events[3].size, 2);
        assert_memory_equal(events[3].payload, "\0\1", 2);
        assert_int_equal(events[4].kind, TC_EDGE_WS_EVENT_TEXT);
        assert_int_equal(events[4].size, 0);
        assert_int_equal(events[5].kind, TC_EDGE_WS_EVENT_CLOSE);
        assert_int_equal(events[5].close_code, 1000);
        assert_int_equal(events[5].size, 3);
        assert_memory_equal(events[5].payload, "bye", 3);
    }
    // After the close, any byte is a violation; no bytes is nothing.
    uint32_t consumed;
    struct tc_edge_ws_event event;
    assert_int_equal(tc_edge_ws_reader_feed(&reader, stream, 0, &consumed, &event),
                     TC_EDGE_WS_EVENT_NONE);
    assert_int_equal(tc_edge_ws_reader_feed(&reader, stream, 1, &consumed, &event),
                     TC_EDGE_WS_EVENT_ERROR);
    assert_int_equal(event.error, TC_EDGE_WS_DATA_AFTER_CLOSE);
}

// ------------------------------------------------------------------------------------------------
// Every violation and its close code.

struct violation {
    const char *name;
    uint8_t bytes[40];
    uint32_t size;
    enum tc_edge_ws_error expected;
};

#define MASK 0x11, 0x22, 0x33, 0x44

static void test_violations(void **state) {
    (void)state;
    const struct violation cases[] = {
        {"rsv1", {0xc1, 0x80, MASK}, 6, TC_EDGE_WS_RESERVED_BITS},
        {"rsv2", {0xa1, 0x80, MASK}, 6, TC_EDGE_WS_RESERVED_BITS},
        {"rsv3", {0x91, 0x80, MASK}, 6, TC_EDGE_WS_RESERVED_BITS},
        {"opcode 3", {0x83, 0x80, MASK}, 6, TC_EDGE_WS_UNKNOWN_OPCODE},
        {"opcode 7", {0x87, 0x80, MASK}, 6, TC_EDGE_WS_UNKNOWN_OPCODE},
        {"opcode b", {0x8b, 0x80, MASK}, 6, TC_EDGE_WS_UNKNOWN_OPCODE},
        {"opcode f", {0x8f, 0x80, MASK}, 6, TC_EDGE_WS_UNKNOWN_OPCODE},
        {"unmasked", {0x81, 0x00}, 2, TC_EDGE_WS_UNMASKED},
        {"ping not fin", {0x09, 0x80, MASK}, 6, TC_EDGE_WS_CONTROL_FRAGMENTED},
        {"close not fin", {0x08, 0x80, MASK}, 6, TC_EDGE_WS_CONTROL_FRAGMENTED},
        {"ping 126", {0x89, 0xfe, 0x00, 0x7e, MASK}, 8, TC_EDGE_WS_CONTROL_TOO_LONG},
        {"16-bit for 125", {0x82, 0xfe, 0x00, 0x7d, MASK}, 8, TC_EDGE_WS_LENGTH_NOT_MINIMAL},
        {"64-bit for 65535", {0x82, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff, MASK}, 14,
         TC_EDGE_WS_LENGTH_NOT_MINIMAL},
        {"64-bit top bit", {0x82, 0xff, 0x80, 0, 0, 0, 0, 1, 0, 0, MASK}, 14,
         TC_EDGE_WS_LENGTH_TOP_BIT},
        {"64-bit 4 GiB + 5", {0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 5, MASK}, 14,
         TC_EDGE_WS_FRAME_TOO_LARGE},
        {"64-bit 2^62", {0x82, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, MASK}, 14,
         TC_EDGE_WS_FRAME_TOO_LARGE},
        {"16-bit over frame limit", {0x82, 0xfe, 0x10, 0x01, MASK}, 8, TC_EDGE_WS_FRAME_TOO_LARGE},
        {"continuation first", {0x80, 0x80, MASK}, 6, TC_EDGE_WS_UNEXPECTED_CONTINUATION},
        {"text inside text", {0x01, 0x80, MASK, 0x81, 0x80, MASK}, 12,
         TC_EDGE_WS_EXPECTED_CONTINUATION},
        {"binary inside text", {0x01, 0x80, MASK, 0x02, 0x80, MASK}, 12,
         TC_EDGE_WS_EXPECTED_CONTINUATION},
        {"close 1 byte", {0x88, 0x81, MASK, 0x03 ^ 0x11}, 7, TC_EDGE_WS_CLOSE_PAYLOAD_SIZE},
        {"close 1005", {0x88, 0x82, MASK, 0x03 ^ 0x11, 0xed ^ 0x22}, 8,
         TC_EDGE_WS_CLOSE_CODE_INVALID},
        {"close 999", {0x88, 0x82, MASK, 0x03 ^ 0x11, 0xe7 ^ 0x22}, 8,
         TC_EDGE_WS_CLOSE_CODE_INVALID},
        {"close reason bad utf8", {0x88, 0x83, MASK, 0x03 ^ 0x11, 0xe8 ^ 0x22, 0xff ^ 0x33}, 9,
         TC_EDGE_WS_CLOSE_REASON_UTF8},
        {"text bad utf8", {0x81, 0x81, MASK, 0xff ^ 0x11}, 7, TC_EDGE_WS_INVALID_UTF8},
        {"text truncated utf8", {0x81, 0x81, MASK, 0xce ^ 0x11}, 7, TC_EDGE_WS_INVALID_UTF8},
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        for (uint32_t chunk = 1; chunk <= cases[i].size; chunk += cases[i].size - 1) {
            reader_reset(4096, 4096);
            uint32_t count = feed(cases[i].bytes, cases[i].size, chunk);
            if (count != 1 || events[0].kind != TC_EDGE_WS_EVENT_ERROR ||
                events[0].error != cases[i].expected) {
                fail_msg("case %s: %u events, first %d error %s", cases[i].name, count,
                         events[0].kind, tc_edge_ws_error_name(events[0].error));
            }
            assert_int_equal(events[0].close_code, tc_edge_ws_error_close_code(cases[i].expected));
            // Sticky.
            uint32_t consumed;
            struct tc_edge_ws_event event;
            assert_int_equal(tc_edge_ws_reader_feed(&reader, cases[i].bytes, 1, &consumed, &event),
                             TC_EDGE_WS_EVENT_ERROR);
            assert_int_equal(event.error, cases[i].expected);
            assert_int_equal(consumed, 0);
        }
    }
    assert_int_equal(tc_edge_ws_error_close_code(TC_EDGE_WS_INVALID_UTF8), 1007);
    assert_int_equal(tc_edge_ws_error_close_code(TC_EDGE_WS_MESSAGE_TOO_LARGE), 1009);
    assert_int_equal(tc_edge_ws_error_close_code(TC_EDGE_WS_UNMASKED), 1002);
}

static void test_message_limit(void **state) {
    (void)state;
    // Two 100-byte fragments under a 150-byte message limit: refused at the second header,
    // before its payload arrives.
    static uint8_t payload[100];
    memset(payload, 'x', sizeof(payload));
    uint8_t stream[512];
    uint32_t size = put_frame(stream, sizeof(stream), TC_EDGE_WS_OP_TEXT, false, payload, 100);
    uint32_t first = size;
    size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_CONTINUATION, true,
                      payload, 100);
    reader_reset(125, 150);
    assert_int_equal(feed(stream, first + 8, 1), 1);
    assert_int_equal(events[0].error, TC_EDGE_WS_MESSAGE_TOO_LARGE);
    assert_int_equal(events[0].close_code, 1009);
    // The same stream passes with room for both; exactly at the limit is allowed.
    reader_reset(125, 200);
    assert_int_equal(feed(stream, size, 7), 1);
    assert_int_equal(events[0].kind, TC_EDGE_WS_EVENT_TEXT);
    assert_int_equal(events[0].size, 200);
    // A control frame never counts against the message being assembled.
    size = put_frame(stream, sizeof(stream), TC_EDGE_WS_OP_TEXT, false, payload, 100);
    static uint8_t control[125];
    memset(control, 'c', sizeof(control));
    size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_PING, true, control,
                      125);
    size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_CONTINUATION, true,
                      payload, 100);
    reader_reset(125, 200);
    assert_int_equal(feed(stream, size, 1), 2);
    assert_int_equal(events[0].kind, TC_EDGE_WS_EVENT_PING);
    assert_int_equal(events[0].size, 125);
    assert_int_equal(events[1].kind, TC_EDGE_WS_EVENT_TEXT);
    assert_int_equal(events[1].size, 200);
    // Consecutive messages each under the limit pass, though together they exceed it (a bug
    // once: the previous message's size counted against the next one's first frame).
    size = put_frame(stream, sizeof(stream), TC_EDGE_WS_OP_TEXT, true, payload, 100);
    size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_TEXT, true, payload, 100);
    size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_TEXT, false, payload, 50);
    size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_CONTINUATION, true,
                      payload, 100);
    reader_reset(125, 150);
    assert_int_equal(feed(stream, size, 3), 3);
    assert_int_equal(events[0].size, 100);
    assert_int_equal(events[1].size, 100);
    assert_int_equal(events[2].size, 150);
}

static void test_close_codes(void **state) {
    (void)state;
    const uint32_t valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
                              1014, 3000, 3999, 4000, 4001, 4999};
    const uint32_t invalid[] = {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000,
                                65535};
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(valid); i++) {
        assert_true(tc_edge_ws_close_code_valid(valid[i]));
        uint8_t payload[2] = {(uint8_t)(valid[i] >> 8), (uint8_t)valid[i]};
        uint8_t frame[16];
        uint32_t size = put_frame(frame, sizeof(frame), TC_EDGE_WS_OP_CLOSE, true, payload, 2);
        reader_reset(4096, 4096);
        assert_int_equal(feed(frame, size, 1), 1);
        assert_int_equal(events[0].kind, TC_EDGE_WS_EVENT_CLOSE);
        assert_int_equal(events[0].close_code, valid[i]);
        assert_int_equal(events[0].size, 0);
    }
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(invalid); i++) {
        assert_false(tc_edge_ws_close_code_valid(invalid[i]));
        uint8_t payload[2] = {(uint8_t)(invalid[i] >> 8), (uint8_t)invalid[i]};
        uint8_t frame[16];
        uint32_t size = put_frame(frame, sizeof(frame), TC_EDGE_WS_OP_CLOSE, true, payload, 2);
        reader_reset(4096, 4096);
        assert_int_equal(feed(frame, size, 2), 1);
        assert_int_equal(events[0].error, TC_EDGE_WS_CLOSE_CODE_INVALID);
    }
    // An empty close reports 1005 (no status).
    uint8_t frame[16];
    uint32_t size = put_frame(frame, sizeof(frame), TC_EDGE_WS_OP_CLOSE, true, "", 0);
    reader_reset(4096, 4096);
    assert_int_equal(feed(frame, size, 1), 1);
    assert_int_equal(events[0].kind, TC_EDGE_WS_EVENT_CLOSE);
    assert_int_equal(events[0].close_code, 1005);
    // Server close frames.
    uint8_t out[200];
    assert_int_equal(tc_edge_ws_close_write(out, sizeof(out), 1009, "too big", 7), 11);
    assert_memory_equal(out, "\x88\x09\x03\xf1too big", 11);
    assert_int_equal(tc_edge_ws_close_write(out, 10, 1009, "too big", 7), TC_ENOSPC);
    char reason[124];
    memset(reason, 'r', sizeof(reason));
    tc_assert_set_handler(assert_handler);
    expect_assert_failure(tc_edge_ws_close_write(out, sizeof(out), 1005, "", 0));
    expect_assert_failure(tc_edge_ws_close_write(out, sizeof(out), 1000, reason, 124));
    expect_assert_failure(tc_edge_ws_close_write(out, sizeof(out), 1000, "\xff", 1));
    expect_assert_failure(tc_edge_ws_frame_write(out, sizeof(out), TC_EDGE_WS_OP_PING, true,
                                                 (const uint8_t *)reason, 126));
    expect_assert_failure(tc_edge_ws_frame_write(out, sizeof(out), TC_EDGE_WS_OP_PONG, false,
                                                 (const uint8_t *)reason, 1));
    tc_assert_set_handler(NULL);
    assert_int_equal(tc_edge_ws_close_write(out, sizeof(out), 4001, reason, 123), 127);
}

// ------------------------------------------------------------------------------------------------
// UTF-8.

static uint32_t from_hex(const char *hex, uint8_t *out) {
    uint32_t n = 0;
    for (; hex[0] != '\0' && hex[1] != '\0'; hex += 2) {
        unsigned value;
        sscanf(hex, "%2x", &value);
        out[n++] = (uint8_t)value;
    }
    return n;
}

static void test_utf8_cases(void **state) {
    (void)state;
    const struct {
        const char *hex;
        bool valid;
    } cases[] = {
        {"cebae1bdb9cf83cebcceb5", true},          // κόσμε
        {"00", true},                              // U+0000 is valid text
        {"7f", true},           {"c280", true},    {"dfbf", true},      {"e0a080", true},
        {"efbfbf", true},       {"f0908080", true}, {"f48fbfbf", true}, // U+10FFFF
        {"eda080", false},                         // U+D800 surrogate
        {"edbfbf", false},                         // U+DFFF surrogate
        {"ed9fbf", true},                          // U+D7FF
        {"ee8080", true},                          // U+E000
        {"f4908080", false},                       // U+110000
        {"f5808080", false},    {"fe", false},     {"ff", false},
        {"c0af", false},        {"c1bf", false},                        // overlong 2-byte
        {"e080af", false},      {"e09fbf", false},                      // overlong 3-byte
        {"f08080af", false},    {"f08fbfbf", false},                    // overlong 4-byte
        {"80", false},          {"bf", false},     {"c2", false},       // stray / truncated
        {"e0a0", false},        {"f09080", false}, {"c241", false},     // truncated, bad cont.
        {"cebae1bdb9cf83cebcceb5f4908080656469746564", false},          // Autobahn 6.4.1
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        uint8_t bytes[64];
        uint32_t size = from_hex(cases[i].hex, bytes);
        if (tc_edge_utf8_valid(bytes, size) != cases[i].valid) fail_msg("case %s", cases[i].hex);
        // Fed byte by byte, the verdict is the same.
        struct tc_edge_utf8 utf8;
        tc_edge_utf8_init(&utf8);
        bool ok = true;
        for (uint32_t b = 0; b < size; b++) ok = tc_edge_utf8_feed(&utf8, bytes + b, 1) && ok;
        assert_int_equal(ok && tc_edge_utf8_complete(&utf8), cases[i].valid);
    }
}

// A reference decoder: decode one code point by the definition and check its range.
static bool reference_valid(const uint8_t *s, uint32_t size) {
    uint32_t i = 0;
    while (i < size) {
        uint8_t b = s[i];
        uint32_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
        if (n == 0 || i + n > size) return false;
        uint32_t cp = n == 1 ? b : (uint32_t)(b & (0x7f >> n));
        for (uint32_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (s[i + k] & 0x3fu);
        }
        const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n;
    }
    return true;
}

static void test_utf8_exhaustive(void **state) {
    (void)state;
    uint8_t s[4];
    for (uint32_t a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        assert_int_equal(tc_edge_utf8_valid(s, 1), reference_valid(s, 1));
        for (uint32_t b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            assert_int_equal(tc_edge_utf8_valid(s, 2), reference_valid(s, 2));
            if (a < 0xe0 || a > 0xf4) continue;
            for (uint32_t c = 0; c < 256; c++) {
                s[2] = (uint8_t)c;
                assert_int_equal(tc_edge_utf8_valid(s, 3), reference_valid(s, 3));
            }
        }
    }
    struct tc_prng prng;
    tc_prng_init(&prng, 0xed6e0002u);
    for (uint32_t i = 0; i < 200000; i++) {
        s[0] = (uint8_t)tc_prng_range(&prng, 0xe8, 0xff);
        for (uint32_t k = 1; k < 4; k++) s[k] = (uint8_t)tc_prng_range(&prng, 0x70, 0xc5);
        assert_int_equal(tc_edge_utf8_valid(s, 4), reference_valid(s, 4));
    }
}

// Invalid UTF-8 split across fragments fails fast: at the fragment that makes it invalid, before
// the message ends (Autobahn 6.4.x). Valid code points split across fragments are fine.
static void test_utf8_across_fragments(void **state) {
    (void)state;
    uint8_t p1[16], p2[16], p3[16];
    uint32_t n1 = from_hex("cebae1bdb9cf83cebcceb5", p1);
    uint32_t n2 = from_hex("f4908080", p2);
    uint32_t n3 = from_hex("656469746564", p3);
    uint8_t stream[128];
    uint32_t size = put_frame(stream, sizeof(stream), TC_EDGE_WS_OP_TEXT, false, p1, n1);
    uint32_t after_first = size;
    size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_CONTINUATION, false,
                      p2, n2);
    uint32_t after_second = size;
    size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_CONTINUATION, true, p3,
                      n3);
    reader_reset(4096, 4096);
    assert_int_equal(feed(stream, after_first, 1), 0);
    assert_int_equal(feed(stream + after_first, after_second - after_first, 1), 1);
    assert_int_equal(events[0].error, TC_EDGE_WS_INVALID_UTF8);
    assert_int_equal(events[0].close_code, 1007);
    // Fail fast inside one frame too: the first bad byte is reported even if more is promised.
    size = put_frame(stream, sizeof(stream), TC_EDGE_WS_OP_TEXT, true, "ab\xc0\xafzz", 6);
    reader_reset(4096, 4096);
    assert_int_equal(feed(stream, 6 + 3, 1), 1); // header (6) + "ab" + 0xc0
    assert_int_equal(events[0].error, TC_EDGE_WS_INVALID_UTF8);
    // U+1F600 split 1 + 3 and 3 + 1 across fragments, and over a ping.
    const uint8_t smile[] = {0xf0, 0x9f, 0x98, 0x80};
    for (uint32_t split = 1; split <= 3; split++) {
        size = put_frame(stream, sizeof(stream), TC_EDGE_WS_OP_TEXT, false, smile, split);
        size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_PING, true, "", 0);
        size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_CONTINUATION, true,
                          smile + split, 4 - split);
        reader_reset(4096, 4096);
        assert_int_equal(feed(stream, size, 1), 2);
        assert_int_equal(events[1].kind, TC_EDGE_WS_EVENT_TEXT);
        assert_memory_equal(events[1].payload, smile, 4);
    }
    // A code point left open at the end of the message is invalid.
    size = put_frame(stream, sizeof(stream), TC_EDGE_WS_OP_TEXT, false, smile, 2);
    size += put_frame(stream + size, sizeof(stream) - size, TC_EDGE_WS_OP_CONTINUATION, true,
                      smile + 2, 1);
    reader_reset(4096, 4096);
    assert_int_equal(feed(stream, size, 1), 1);
    assert_int_equal(events[0].error, TC_EDGE_WS_INVALID_UTF8);
    // Binary messages are not checked.
    size = put_frame(stream, sizeof(stream), TC_EDGE_WS_OP_BINARY, true, "\xff\xfe", 2);
    reader_reset(4096, 4096);
    assert_int_equal(feed(stream, size, 1), 1);
    assert_int_equal(events[0].kind, TC_EDGE_WS_EVENT_BINARY);
}

// ------------------------------------------------------------------------------------------------
// Deterministic fuzz.

struct summary {
    uint32_t count;
    enum tc_edge_ws_event_kind kinds[EVENTS_MAX];
    enum tc_edge_ws_error errors[EVENTS_MAX];
    uint32_t sizes[EVENTS_MAX];
    uint32_t sums[EVENTS_MAX];
};

static void summarize(struct summary *s, uint32_t count) {
    memset(s, 0, sizeof(*s));
    s->count = count;
    for (uint32_t i = 0; i < count; i++) {
        s->kinds[i] = events[i].kind;
        s->errors[i] = events[i].error;
        s->sizes[i] = events[i].size;
        uint32_t sum = 0;
        for (uint32_t b = 0; b < events[i].size; b++) sum = sum * 31 + events[i].payload[b];
        s->sums[i] = sum;
    }
}

// A random stream of valid client frames: messages split in fragments with control frames in
// between; returns its size.
static uint32_t random_stream(struct tc_prng *prng, uint8_t *out, uint32_t capacity) {
    uint32_t size = 0;
    uint8_t payload[600];
    uint32_t messages = (uint32_t)tc_prng_range(prng, 1, 5);
    for (uint32_t m = 0; m < messages; m++) {
        uint32_t fragments = (uint32_t)tc_prng_range(prng, 1, 4);
        bool text = tc_prng_chance_ppm(prng, 500000);
        for (uint32_t f = 0; f < fragments; f++) {
            uint32_t n = (uint32_t)tc_prng_below(prng, text ? 200 : 600);
            if (text) {
                for (uint32_t b = 0; b < n; b++) payload[b] = (uint8_t)tc_prng_range(prng, 32, 126);
            } else {
                tc_prng_fill(prng, payload, n);
            }
            enum tc_edge_ws_opcode op = f > 0 ? TC_EDGE_WS_OP_CONTINUATION
                                              : (text ? TC_EDGE_WS_OP_TEXT : TC_EDGE_WS_OP_BINARY);
            uint8_t mask[4];
            tc_prng_fill(prng, mask, 4);
            int32_t w = tc_edge_ws_frame_write_masked(out + size, capacity - size, op,
                                                      f + 1 == fragments, mask, payload, n);
            assert_true(w > 0);
            size += (uint32_t)w;
            if (tc_prng_chance_ppm(prng, 300000)) {
                uint32_t c = (uint32_t)tc_prng_below(prng, 126);
                tc_prng_fill(prng, payload, c);
                w = tc_edge_ws_frame_write_masked(out + size, capacity - size, TC_EDGE_WS_OP_PING,
                                                  true, mask, payload, c);
                size += (uint32_t)w;
            }
        }
    }
    return size;
}

static void test_fuzz(void **state) {
    (void)state;
    struct tc_prng prng;
    tc_prng_init(&prng, 0xed6e0003u);
    static uint8_t stream[16384];
    static struct summary whole, chunked;
    uint32_t clean = 0;
    for (uint32_t iteration = 0; iteration < 15000; iteration++) {
        uint32_t size = random_stream(&prng, stream, sizeof(stream));
        bool mutated = tc_prng_chance_ppm(&prng, 500000);
        if (mutated) {
            uint32_t flips = (uint32_t)tc_prng_range(&prng, 1, 3);
            for (uint32_t i = 0; i < flips; i++) {
                stream[tc_prng_below(&prng, size)] ^= (uint8_t)(1u << tc_prng_below(&prng, 8));
            }
        }
        reader_reset(1024, MESSAGE_MAX);
        summarize(&whole, feed(stream, size, size));
        reader_reset(1024, MESSAGE_MAX);
        summarize(&chunked, feed(stream, size, (uint32_t)tc_prng_range(&prng, 1, 40)));
        assert_int_equal(whole.count, chunked.count);
        assert_memory_equal(&whole, &chunked, sizeof(whole));
        if (!mutated) {
            for (uint32_t i = 0; i < whole.count; i++) {
                assert_int_not_equal(whole.kinds[i], TC_EDGE_WS_EVENT_ERROR);
            }
            clean++;
        }
    }
    assert_true(clean > 5000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_examples),
        cmocka_unit_test(test_fragmentation_with_ping),
        cmocka_unit_test(test_violations),
        cmocka_unit_test(test_message_limit),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_utf8_cases),
        cmocka_unit_test(test_utf8_exhaustive),
        cmocka_unit_test(test_utf8_across_fragments),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
