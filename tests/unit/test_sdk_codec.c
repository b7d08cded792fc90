// Unit tests of the C SDK's pure parts (sdk/c): server frame parsing and message assembly, the
// upgrade request and response, server JSON parsing, message hashes, request encoding, keys,
// node lists and development tokens. Where the edge has the other side of a codec (the server's
// frame writer, event writers, request parser, JWT verifier, the room's chain hash), the test
// round-trips through it, so the SDK is checked against an independent implementation.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "edge_http.h"
#include "edge_jwt.h"
#include "edge_proto.h"
#include "edge_ws.h"
#include "room.h"
#include "tc_assert.h"
#include "tc_checksum.h"
#include "tc_err.h"
#include "tigerchat.h"

static void assert_handler(const char *expression, const char *file, int line) {
    mock_assert(0, expression, file, line);
}

#define FRAME_MAX 70000u
static uint8_t frame[FRAME_MAX + 16];
static uint8_t payload[FRAME_MAX];
static uint8_t message_buffer[FRAME_MAX];
static uint8_t scratch_memory[TC_EDGE_JSON_SCRATCH_SIZE(65536u)] __attribute__((aligned(16)));
static struct tc_edge_json_scratch scratch;
static char text[65536];

static uint32_t server_frame(enum tc_edge_ws_opcode opcode, bool fin, const void *data,
                             uint32_t size) {
    const int32_t written = tc_edge_ws_frame_write(frame, sizeof(frame), opcode, fin, data, size);
    assert_true(written > 0);
    return (uint32_t)written;
}

// ------------------------------------------------------------------------------------------------
// Frames.

static void test_frame_lengths(void **state) {
    (void)state;
    const uint32_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536, FRAME_MAX};
    for (uint32_t s = 0; s < TC_ARRAY_COUNT(sizes); s++) {
        const uint32_t size = sizes[s];
        for (uint32_t i = 0; i < size; i++) payload[i] = (uint8_t)('a' + i % 26);
        const uint32_t total = server_frame(TC_EDGE_WS_OP_TEXT, true, payload, size);
        struct tc_sdk_ws_frame parsed;
        // Every strict prefix needs more bytes.
        for (uint32_t cut = 0; cut < total; cut += (total > 1000 ? 997u : 1u)) {
            assert_int_equal(tc_sdk_ws_frame_parse(frame, cut, FRAME_MAX, &parsed), 0);
        }
        assert_int_equal(tc_sdk_ws_frame_parse(frame, total, FRAME_MAX, &parsed), (int)total);
        assert_int_equal(parsed.opcode, TC_EDGE_WS_OP_TEXT);
        assert_true(parsed.fin);
        assert_int_equal(parsed.payload_size, size);
        assert_memory_equal(parsed.payload, payload, size);
        if (size > 0) {
            assert_int_equal(tc_sdk_ws_frame_parse(frame, total, size - 1u, &parsed), TC_ETOOBIG);
        }
    }
}

static void test_frame_violations(void **state) {
    (void)state;
    struct tc_sdk_ws_frame parsed;
    const uint8_t masked[] = {0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2};
    assert_int_equal(tc_sdk_ws_frame_parse(masked, sizeof(masked), 1000, &parsed), TC_EINVAL);
    const uint8_t reserved[] = {0xc1, 0x00};
    assert_int_equal(tc_sdk_ws_frame_parse(reserved, sizeof(reserved), 1000, &parsed), TC_EINVAL);
    const uint8_t opcode[] = {0x83, 0x00};
    assert_int_equal(tc_sdk_ws_frame_parse(opcode, sizeof(opcode), 1000, &parsed), TC_EINVAL);
    const uint8_t ping_fragment[] = {0x09, 0x00};
    assert_int_equal(tc_sdk_ws_frame_parse(ping_fragment, 2, 1000, &parsed), TC_EINVAL);
    const uint8_t ping_long[] = {0x89, 0x7e, 0x00, 0x7e};
    assert_int_equal(tc_sdk_ws_frame_parse(ping_long, 4, 1000, &parsed), TC_EINVAL);
    const uint8_t short16[] = {0x81, 0x7e, 0x00, 0x05};
    assert_int_equal(tc_sdk_ws_frame_parse(short16, 4, 1000, &parsed), TC_EINVAL);
    const uint8_t short64[] = {0x81, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    assert_int_equal(tc_sdk_ws_frame_parse(short64, 10, 1000, &parsed), TC_EINVAL);
    const uint8_t top_bit[] = {0x81, 0x7f, 0x80, 0, 0, 0, 0, 1, 0, 0};
    assert_int_equal(tc_sdk_ws_frame_parse(top_bit, 10, 1000, &parsed), TC_EINVAL);
    const uint8_t big[] = {0x81, 0x7f, 0, 0, 0, 1, 0, 0, 0, 0};
    assert_int_equal(tc_sdk_ws_frame_parse(big, 10, 1000, &parsed), TC_ETOOBIG);
}

static struct tc_sdk_ws_reader reader;

// Feeds `data` frame by frame; returns the last event.
static struct tc_sdk_ws_event read_all(const uint8_t *data, uint32_t size, uint32_t *texts) {
    struct tc_sdk_ws_event event = {.kind = TC_SDK_WS_NONE};
    uint32_t at = 0;
    while (at < size) {
        const uint32_t consumed = tc_sdk_ws_read(&reader, data + at, size - at, &event);
        if (event.kind == TC_SDK_WS_TEXT && texts != NULL) *texts += 1;
        if (consumed == 0) break;
        at += consumed;
    }
    return event;
}

static void test_reader_fragments(void **state) {
    (void)state;
    tc_sdk_ws_reader_init(&reader, message_buffer, 1000);
    uint8_t stream[512];
    uint32_t used = 0;
    used += (uint32_t)tc_edge_ws_frame_write(stream + used, 100, TC_EDGE_WS_OP_TEXT, false,
                                             (const uint8_t *)"hel", 3);
    used += (uint32_t)tc_edge_ws_frame_write(stream + used, 100, TC_EDGE_WS_OP_PING, true,
                                             (const uint8_t *)"p", 1);
    used += (uint32_t)tc_edge_ws_frame_write(stream + used, 100, TC_EDGE_WS_OP_CONTINUATION, false,
                                             (const uint8_t *)"lo ", 3);
    used += (uint32_t)tc_edge_ws_frame_write(stream + used, 100, TC_EDGE_WS_OP_CONTINUATION, true,
                                             (const uint8_t *)"w\xc3\xb6rld", 6);
    struct tc_sdk_ws_event event;
    uint32_t at = tc_sdk_ws_read(&reader, stream, used, &event);
    assert_int_equal(event.kind, TC_SDK_WS_NONE);
    at += tc_sdk_ws_read(&reader, stream + at, used - at, &event);
    assert_int_equal(event.kind, TC_SDK_WS_PING);
    assert_int_equal(event.payload_size, 1);
    at += tc_sdk_ws_read(&reader, stream + at, used - at, &event);
    assert_int_equal(event.kind, TC_SDK_WS_NONE);
    // The last frame arrives byte by byte.
    for (uint32_t end = at; end < used; end++) {
        assert_int_equal(tc_sdk_ws_read(&reader, stream + at, end - at, &event), 0);
        assert_int_equal(event.kind, TC_SDK_WS_NONE);
    }
    at += tc_sdk_ws_read(&reader, stream + at, used - at, &event);
    assert_int_equal(at, used);
    assert_int_equal(event.kind, TC_SDK_WS_TEXT);
    assert_int_equal(event.payload_size, 12);
    assert_memory_equal(event.payload, "hello w\xc3\xb6rld", 12);
}

static void test_reader_errors(void **state) {
    (void)state;
    struct tc_sdk_ws_event event;
    // A close with a code and reason.
    tc_sdk_ws_reader_init(&reader, message_buffer, 1000);
    uint32_t size = (uint32_t)tc_edge_ws_close_write(frame, sizeof(frame), 4001, "token expired",
                                                     13);
    event = read_all(frame, size, NULL);
    assert_int_equal(event.kind, TC_SDK_WS_CLOSE);
    assert_int_equal(event.close_code, 4001);
    assert_int_equal(event.payload_size, 13);
    // A close without a payload: 1005.
    size = server_frame(TC_EDGE_WS_OP_CLOSE, true, NULL, 0);
    event = read_all(frame, size, NULL);
    assert_int_equal(event.kind, TC_SDK_WS_CLOSE);
    assert_int_equal(event.close_code, 1005);
    // A one-byte close payload, a forbidden code.
    size = server_frame(TC_EDGE_WS_OP_CLOSE, true, "\x03", 1);
    assert_int_equal(read_all(frame, size, NULL).close_code, 1002);
    size = server_frame(TC_EDGE_WS_OP_CLOSE, true, "\x03\xed", 2); // 1005 may not be sent
    assert_int_equal(read_all(frame, size, NULL).kind, TC_SDK_WS_ERROR);
    // Invalid UTF-8 (an overlong '/'), a binary message, a stray continuation.
    size = server_frame(TC_EDGE_WS_OP_TEXT, true, "\xc0\xaf", 2);
    event = read_all(frame, size, NULL);
    assert_int_equal(event.kind, TC_SDK_WS_ERROR);
    assert_int_equal(event.close_code, 1007);
    size = server_frame(TC_EDGE_WS_OP_BINARY, true, "x", 1);
    assert_int_equal(read_all(frame, size, NULL).close_code, 1003);
    tc_sdk_ws_reader_init(&reader, message_buffer, 1000);
    size = server_frame(TC_EDGE_WS_OP_CONTINUATION, true, "x", 1);
    assert_int_equal(read_all(frame, size, NULL).close_code, 1002);
    // A new message inside a fragmented one.
    tc_sdk_ws_reader_init(&reader, message_buffer, 1000);
    size = server_frame(TC_EDGE_WS_OP_TEXT, false, "a", 1);
    assert_int_equal(read_all(frame, size, NULL).kind, TC_SDK_WS_NONE);
    size = server_frame(TC_EDGE_WS_OP_TEXT, true, "b", 1);
    assert_int_equal(read_all(frame, size, NULL).close_code, 1002);
    // Fragments adding up past the limit.
    tc_sdk_ws_reader_init(&reader, message_buffer, 200);
    memset(payload, 'x', 150);
    size = server_frame(TC_EDGE_WS_OP_TEXT, false, payload, 150);
    assert_int_equal(read_all(frame, size, NULL).kind, TC_SDK_WS_NONE);
    size = server_frame(TC_EDGE_WS_OP_CONTINUATION, true, payload, 100);
    assert_int_equal(read_all(frame, size, NULL).close_code, 1009);
}

// ------------------------------------------------------------------------------------------------
// HTTP.

static void test_http_request(void **state) {
    (void)state;
    const struct tc_sdk_node node = {.host = "127.0.0.1", .port = 7001};
    const char *token = "aaa.bbb.ccc";
    char out[1024];
    const int32_t size = tc_sdk_http_request_write(out, sizeof(out), &node,
                                                   "dGhlIHNhbXBsZSBub25jZQ==", token, 11);
    assert_true(size > 0);
    // The edge's own parser and upgrade checks accept it.
    static struct tc_edge_http_request request;
    struct tc_edge_http_limits limits;
    tc_edge_http_limits_default(&limits);
    tc_edge_http_request_init(&request, &limits);
    uint32_t consumed = 0;
    assert_int_equal(tc_edge_http_parse(&request, (const uint8_t *)out, (uint32_t)size,
                                        &consumed),
                     TC_EDGE_HTTP_DONE);
    assert_int_equal(consumed, (uint32_t)size);
    assert_true(tc_edge_http_path_equal(&request, "/v1/ws"));
    char accept[TC_EDGE_WS_ACCEPT_SIZE + 1];
    assert_int_equal(tc_edge_http_upgrade_check(&request, accept), TC_EDGE_HTTP_DONE);
    assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); // RFC 6455 §1.3
    char credentials[64];
    uint32_t credentials_size = 0;
    assert_int_equal(tc_edge_http_credentials(&request, credentials, sizeof(credentials),
                                              &credentials_size),
                     TC_OK);
    assert_string_equal(credentials, token);
    // IPv6 hosts are bracketed.
    const struct tc_sdk_node v6 = {.host = "::1", .port = 7002};
    assert_true(tc_sdk_http_request_write(out, sizeof(out), &v6, "k", token, 11) > 0);
    assert_non_null(strstr(out, "Host: [::1]:7002\r\n"));
    assert_int_equal(tc_sdk_http_request_write(out, 100, &node, "k", token, 11), TC_ENOSPC);
}

static void test_http_response(void **state) {
    (void)state;
    struct tc_sdk_http_response response;
    const char *ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                     "\r\n\x81\x02hi";
    const uint32_t head = (uint32_t)(strstr(ok, "\r\n\r\n") - ok) + 4u;
    for (uint32_t cut = 0; cut < head; cut++) {
        assert_int_equal(tc_sdk_http_response_parse((const uint8_t *)ok, cut, &response), 0);
    }
    assert_int_equal(tc_sdk_http_response_parse((const uint8_t *)ok, (uint32_t)strlen(ok),
                                                &response),
                     (int)head);
    assert_int_equal(response.status, 101);
    assert_true(response.upgrade_websocket && response.connection_upgrade);
    assert_string_equal(response.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    // The edge's refusal writer, parsed back.
    char out[1024];
    const int32_t size = tc_edge_http_write_error(out, sizeof(out), 429, 120, "rate_limited",
                                                  "too many handshakes", 3);
    assert_true(size > 0);
    const int32_t parsed = tc_sdk_http_response_parse((const uint8_t *)out, (uint32_t)size,
                                                      &response);
    assert_true(parsed > 0);
    assert_int_equal(response.status, 429);
    assert_int_equal(response.retry_after_s, 3);
    assert_int_equal((uint32_t)parsed + response.content_length, (uint32_t)size);
    assert_false(response.upgrade_websocket);
    const char *bad = "HTTP/1.1 1x1 Nope\r\n\r\n";
    assert_int_equal(tc_sdk_http_response_parse((const uint8_t *)bad, (uint32_t)strlen(bad),
                                                &response),
                     TC_EINVAL);
    const char *no_colon = "HTTP/1.1 101 OK\r\nUpgrade websocket\r\n\r\n";
    assert_int_equal(tc_sdk_http_response_parse((const uint8_t *)no_colon,
                                                (uint32_t)strlen(no_colon), &response),
                     TC_EINVAL);
    memset(text, 'a', TC_SDK_HTTP_HEAD_SIZE_MAX);
    assert_int_equal(tc_sdk_http_response_parse((const uint8_t *)text, TC_SDK_HTTP_HEAD_SIZE_MAX,
                                                &response),
                     TC_ETOOBIG);
}

// ------------------------------------------------------------------------------------------------
// JSON.

static struct tc_edge_message sample_message(uint64_t seq, const char *body) {
    struct tc_edge_message m = {.room = 7, .seq = seq, .sender = 42,
                                .timestamp_ns = 1700000123456789012ull, .body = body,
                                .body_size = (uint32_t)strlen(body)};
    memset(m.prev_hash, 0, sizeof(m.prev_hash));
    struct tc_hash256 body_hash, hash, prev = {{0}};
    tc_hash256_compute(&body_hash, body, m.body_size);
    memcpy(m.body_hash, body_hash.bytes, 32);
    tc_room_chain_hash(&hash, &prev, m.room, m.seq, m.sender, m.timestamp_ns,
                       (const uint8_t *)body, m.body_size);
    memcpy(m.hash, hash.bytes, 32);
    return m;
}

static void test_server_message(void **state) {
    (void)state;
    struct tc_edge_message m = sample_message(1, "h\xc3\xa9llo \"quoted\"\n\\ \x01");
    const int32_t size = tc_edge_event_message(text, sizeof(text), &m);
    assert_true(size > 0);
    struct tc_sdk_server_message parsed;
    assert_int_equal(tc_sdk_server_parse(&scratch, text, (uint32_t)size, &parsed), TC_OK);
    assert_int_equal(parsed.type, TC_SDK_SERVER_MESSAGE);
    const struct tc_sdk_message *p = &parsed.message;
    assert_int_equal(p->room, 7);
    assert_int_equal(p->seq, 1);
    assert_int_equal(p->sender, 42);
    assert_true(p->timestamp_ns == 1700000123456789012ull);
    assert_int_equal(p->body_size, m.body_size);
    assert_memory_equal(p->body, m.body, m.body_size);
    assert_memory_equal(p->hash, m.hash, 32);
    assert_false(p->redacted);
    // The SDK's hash is the room state machine's (tc_room_chain_hash).
    uint8_t hash[32];
    tc_sdk_message_chain_hash(p, hash);
    assert_memory_equal(hash, m.hash, 32);
    assert_true(tc_sdk_message_verify(p));
    struct tc_sdk_message tampered = *p;
    tampered.timestamp_ns += 1;
    assert_false(tc_sdk_message_verify(&tampered));
    tampered = *p;
    tampered.body = "other";
    tampered.body_size = 5;
    assert_false(tc_sdk_message_verify(&tampered));
    // Redacted: body null, the hash still verifies through body_hash.
    m.redacted = true;
    const int32_t redacted_size = tc_edge_event_message(text, sizeof(text), &m);
    assert_int_equal(tc_sdk_server_parse(&scratch, text, (uint32_t)redacted_size, &parsed), TC_OK);
    assert_true(parsed.message.redacted);
    assert_null(parsed.message.body);
    assert_true(tc_sdk_message_verify(&parsed.message));
}

static void test_server_answers(void **state) {
    (void)state;
    struct tc_sdk_server_message parsed;
    uint8_t hash[32];
    memset(hash, 0xab, sizeof(hash));
    int32_t size = tc_edge_response_send(text, sizeof(text), "3.17", 4, 7, 13, 2, hash, true);
    assert_int_equal(tc_sdk_server_parse(&scratch, text, (uint32_t)size, &parsed), TC_OK);
    assert_int_equal(parsed.type, TC_SDK_SERVER_RESULT);
    assert_int_equal(parsed.id_size, 4);
    assert_memory_equal(parsed.id, "3.17", 4);
    assert_int_equal(parsed.result.room, 7);
    assert_int_equal(parsed.result.seq, 13);
    assert_int_equal(parsed.result.thread_seq, 2);
    assert_true(parsed.result.duplicate && parsed.result.has_hash);
    assert_memory_equal(parsed.result.hash, hash, 32);

    size = tc_edge_response_subscribed(text, sizeof(text), "1.1", 3, 9, 1234);
    assert_int_equal(tc_sdk_server_parse(&scratch, text, (uint32_t)size, &parsed), TC_OK);
    assert_int_equal(parsed.result.head_seq, 1234);

    size = tc_edge_response_error(text, sizeof(text), "2.5", 3, TC_EDGE_ERROR_RATE_LIMITED, NULL,
                                  250);
    assert_int_equal(tc_sdk_server_parse(&scratch, text, (uint32_t)size, &parsed), TC_OK);
    assert_int_equal(parsed.type, TC_SDK_SERVER_ERROR);
    assert_int_equal(parsed.code, 120);
    assert_int_equal(parsed.retry_after_ms, 250);
    assert_string_equal(parsed.reason, "rate_limited");
    // A connection-level error has no id.
    size = tc_edge_response_error(text, sizeof(text), NULL, 0, TC_EDGE_ERROR_TOKEN_EXPIRED, NULL,
                                  0);
    assert_int_equal(tc_sdk_server_parse(&scratch, text, (uint32_t)size, &parsed), TC_OK);
    assert_null(parsed.id);
    assert_int_equal(parsed.code, 111);

    size = tc_edge_event_truncated(text, sizeof(text), 7, 40);
    assert_int_equal(tc_sdk_server_parse(&scratch, text, (uint32_t)size, &parsed), TC_OK);
    assert_int_equal(parsed.type, TC_SDK_SERVER_TRUNCATED);
    assert_int_equal(parsed.seq, 40);
    size = tc_edge_event_catch_up(text, sizeof(text), 7, 5120);
    assert_int_equal(tc_sdk_server_parse(&scratch, text, (uint32_t)size, &parsed), TC_OK);
    assert_int_equal(parsed.type, TC_SDK_SERVER_CATCH_UP);
    assert_int_equal(parsed.seq, 5120);
    size = tc_edge_event_typing(text, sizeof(text), 7, 43);
    assert_int_equal(tc_sdk_server_parse(&scratch, text, (uint32_t)size, &parsed), TC_OK);
    assert_int_equal(parsed.type, TC_SDK_SERVER_TYPING);
    assert_int_equal(parsed.user, 43);
    size = tc_edge_event_redacted(text, sizeof(text), 7, 12);
    assert_int_equal(tc_sdk_server_parse(&scratch, text, (uint32_t)size, &parsed), TC_OK);
    assert_int_equal(parsed.type, TC_SDK_SERVER_REDACTED);
    assert_int_equal(parsed.room, 7);
    assert_int_equal(parsed.seq, 12);
    size = tc_edge_response_redact(text, sizeof(text), "4.2", 3, 7, 12, true);
    assert_int_equal(tc_sdk_server_parse(&scratch, text, (uint32_t)size, &parsed), TC_OK);
    assert_int_equal(parsed.type, TC_SDK_SERVER_RESULT);
    assert_int_equal(parsed.result.room, 7);
    assert_int_equal(parsed.result.seq, 12);
    assert_true(parsed.result.duplicate);
    assert_false(parsed.result.has_hash);

    // History: the messages array, each item in the message format without "type".
    const char *history_head = "{\"type\":\"result\",\"id\":\"0.1\",\"room\":\"7\","
                               "\"head_seq\":\"2\",\"next_seq\":\"3\",\"messages\":[";
    struct tc_edge_json_writer writer;
    strcpy(text, history_head);
    uint32_t used = (uint32_t)strlen(text);
    for (uint64_t seq = 1; seq <= 2; seq++) {
        const struct tc_edge_message m = sample_message(seq, "x");
        tc_edge_json_writer_init(&writer, text + used, (uint32_t)sizeof(text) - used);
        tc_edge_json_object_begin(&writer);
        tc_edge_json_message_members(&writer, &m);
        tc_edge_json_object_end(&writer);
        used += (uint32_t)tc_edge_json_writer_finish(&writer);
        text[used++] = seq == 1 ? ',' : ']';
    }
    text[used++] = '}';
    assert_int_equal(tc_sdk_server_parse(&scratch, text, used, &parsed), TC_OK);
    assert_int_equal(parsed.result.next_seq, 3);
    assert_int_equal(cJSON_GetArraySize(parsed.messages), 2);
    struct tc_sdk_message item;
    assert_int_equal(tc_sdk_message_parse(cJSON_GetArrayItem(parsed.messages, 1), &item), TC_OK);
    assert_int_equal(item.seq, 2);

    // Unknown types are ignored; broken or incomplete known ones are refused.
    const char *unknown = "{\"type\":\"presence\",\"whatever\":[1,2]}";
    assert_int_equal(tc_sdk_server_parse(&scratch, unknown, (uint32_t)strlen(unknown), &parsed),
                     TC_OK);
    assert_int_equal(parsed.type, TC_SDK_SERVER_UNKNOWN);
    const char *refused[] = {
        "[1]",
        "{\"id\":\"1.1\"}",
        "{\"type\":\"result\"}",
        "{\"type\":\"result\",\"id\":\"1.1\",\"seq\":13}",
        "{\"type\":\"result\",\"id\":\"1.1\",\"seq\":\"013\"}",
        "{\"type\":\"result\",\"id\":\"1.1\",\"hash\":\"abc\"}",
        "{\"type\":\"error\",\"id\":\"1.1\"}",
        "{\"type\":\"message\",\"room\":\"7\",\"seq\":\"1\"}",
        "{\"type\":\"truncated\",\"room\":\"7\"}",
        "{\"type\":\"redacted\",\"room\":\"7\"}",
        "{\"type\":\"redacted\",\"room\":\"7\",\"seq\":\"0\"}",
        "{\"type\":\"result\",\"id\":\"1.1\"} trailing",
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(refused); i++) {
        assert_int_equal(tc_sdk_server_parse(&scratch, refused[i], (uint32_t)strlen(refused[i]),
                                             &parsed),
                         TC_EINVAL);
    }
}

// Every request the SDK encodes parses with the edge's request parser to the same fields.
static void test_request_encode(void **state) {
    (void)state;
    uint8_t key[TC_SDK_KEY_SIZE];
    assert_int_equal(tc_sdk_key_generate(key), TC_OK);
    struct tc_sdk_request requests[] = {
        {.op = TC_SDK_OP_CREATE_ROOM, .room = 7},
        {.op = TC_SDK_OP_CREATE_DM, .room = 8, .peer = 43},
        {.op = TC_SDK_OP_JOIN, .room = UINT64_MAX},
        {.op = TC_SDK_OP_LEAVE, .room = 7},
        {.op = TC_SDK_OP_SEND, .room = 7, .body = "a \"body\"\n\\ \x7f \xe2\x82\xac",
         .body_size = 16},
        {.op = TC_SDK_OP_SEND, .room = 7, .seq = 12, .body = "reply", .body_size = 5},
        {.op = TC_SDK_OP_SUBSCRIBE, .room = 7, .seq = 10},
        {.op = TC_SDK_OP_UNSUBSCRIBE, .room = 7},
        {.op = TC_SDK_OP_HISTORY, .room = 7, .seq = 1, .limit = 50},
        {.op = TC_SDK_OP_HISTORY, .room = 7, .seq = 1},
        {.op = TC_SDK_OP_PING},
        {.op = TC_SDK_OP_REDACT, .room = 7, .seq = 12},
    };
    static const enum tc_edge_op edge_ops[TC_SDK_OP_COUNT] = {
        [TC_SDK_OP_CREATE_ROOM] = TC_EDGE_OP_CREATE_ROOM,
        [TC_SDK_OP_CREATE_DM] = TC_EDGE_OP_CREATE_DM,
        [TC_SDK_OP_JOIN] = TC_EDGE_OP_JOIN,
        [TC_SDK_OP_LEAVE] = TC_EDGE_OP_LEAVE,
        [TC_SDK_OP_SEND] = TC_EDGE_OP_SEND,
        [TC_SDK_OP_SUBSCRIBE] = TC_EDGE_OP_SUBSCRIBE,
        [TC_SDK_OP_UNSUBSCRIBE] = TC_EDGE_OP_UNSUBSCRIBE,
        [TC_SDK_OP_HISTORY] = TC_EDGE_OP_HISTORY,
        [TC_SDK_OP_PING] = TC_EDGE_OP_PING,
        [TC_SDK_OP_REDACT] = TC_EDGE_OP_REDACT,
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(requests); i++) {
        struct tc_sdk_request *r = &requests[i];
        memcpy(r->key, key, sizeof(key));
        const int32_t size = tc_sdk_request_encode(text, sizeof(text), "12.345", r);
        assert_true(size > 0);
        struct tc_edge_request parsed;
        const char *field = NULL;
        assert_int_equal(tc_edge_request_parse(&scratch, text, (uint32_t)size, &parsed, &field),
                         TC_EDGE_ERROR_NONE);
        assert_int_equal(parsed.op, edge_ops[r->op]);
        assert_string_equal(parsed.id, "12.345");
        if (r->op != TC_SDK_OP_PING) assert_true(parsed.room == r->room);
        if (r->op == TC_SDK_OP_CREATE_DM) assert_int_equal(parsed.peer, r->peer);
        if (r->op == TC_SDK_OP_SEND) {
            assert_memory_equal(parsed.key, key, sizeof(key));
            assert_int_equal(parsed.body_size, r->body_size);
            assert_memory_equal(parsed.body, r->body, r->body_size);
        }
        if (r->op == TC_SDK_OP_SEND || r->op == TC_SDK_OP_SUBSCRIBE ||
            r->op == TC_SDK_OP_HISTORY || r->op == TC_SDK_OP_REDACT) {
            assert_int_equal(parsed.seq, r->seq);
        }
        if (r->op == TC_SDK_OP_HISTORY) {
            assert_int_equal(parsed.limit, r->limit == 0 ? TC_EDGE_HISTORY_LIMIT_DEFAULT
                                                         : r->limit);
        }
    }
    // Too small a buffer.
    assert_int_equal(tc_sdk_request_encode(text, 10, "1.1", &requests[0]), TC_ENOSPC);
}

static void test_keys(void **state) {
    (void)state;
    uint8_t a[TC_SDK_KEY_SIZE], b[TC_SDK_KEY_SIZE];
    assert_int_equal(tc_sdk_key_generate(a), TC_OK);
    assert_int_equal(tc_sdk_key_generate(b), TC_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    char hex[TC_SDK_KEY_HEX_SIZE + 1];
    tc_sdk_key_format(a, hex);
    assert_int_equal(strlen(hex), 32);
    for (uint32_t i = 0; i < 32; i++) {
        assert_true((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'));
    }
    uint8_t back[TC_SDK_KEY_SIZE];
    assert_int_equal(tc_edge_hex_decode(back, sizeof(back), hex, 32), TC_OK);
    assert_memory_equal(back, a, sizeof(a));
    // Bits are spread: over 64 keys every byte position takes many values.
    uint32_t ones = 0;
    for (uint32_t k = 0; k < 64; k++) {
        assert_int_equal(tc_sdk_key_generate(a), TC_OK);
        for (uint32_t i = 0; i < sizeof(a); i++) ones += (uint32_t)__builtin_popcount(a[i]);
    }
    assert_in_range(ones, 64 * 128 / 2 - 400, 64 * 128 / 2 + 400);
}

static void test_nodes(void **state) {
    (void)state;
    struct tc_sdk_node nodes[4];
    uint32_t count = 0;
    assert_int_equal(tc_sdk_nodes_parse("127.0.0.1:7001,localhost:7002,[::1]:7003", nodes, 4,
                                        &count),
                     TC_OK);
    assert_int_equal(count, 3);
    assert_string_equal(nodes[0].host, "127.0.0.1");
    assert_int_equal(nodes[0].port, 7001);
    assert_string_equal(nodes[1].host, "localhost");
    assert_string_equal(nodes[2].host, "::1");
    assert_int_equal(nodes[2].port, 7003);
    const char *bad[] = {"", "host", "host:", ":7001", "h:0", "h:65536", "h:07", "h:1,",
                         "::1:7001", "[::1]7001", "a:1,b:2,c:3,d:4,e:5"};
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(bad); i++) {
        assert_int_not_equal(tc_sdk_nodes_parse(bad[i], nodes, 4, &count), TC_OK);
    }
    assert_int_equal(tc_sdk_nodes_parse("a:1,b:2,c:3,d:4,e:5", nodes, 4, &count), TC_ENOSPC);
}

static void test_token(void **state) {
    (void)state;
    uint8_t key[32];
    memset(key, 7, sizeof(key));
    char token[TC_SDK_TOKEN_SIZE_MAX + 1];
    const int32_t size = tc_sdk_token_mint(key, sizeof(key), 42, 600, token, sizeof(token));
    assert_true(size > 0);
    struct tc_edge_jwt_config config = {.alg = TC_EDGE_JWT_HS256, .key_size = 32,
                                        .leeway_s = 30};
    memcpy(config.key, key, sizeof(key));
    assert_null(tc_edge_jwt_config_invalid(&config));
    struct tc_edge_jwt_claims claims;
    assert_int_equal(tc_edge_jwt_verify(&config, token, (uint32_t)size,
                                        (uint64_t)time(NULL), &scratch, &claims),
                     TC_EDGE_JWT_OK);
    assert_int_equal(claims.user, 42);
    assert_true(claims.rooms_all);
    // Key files: raw bytes or hex text.
    char path[] = "/tmp/test_sdk_codec_keyXXXXXX";
    const int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *file = fdopen(fd, "wb");
    fprintf(file, "%s\n", "0707070707070707070707070707070707070707070707070707070707070707");
    fclose(file);
    uint8_t read_back[64];
    assert_int_equal(tc_sdk_jwt_key_read(path, read_back, sizeof(read_back)), 32);
    assert_memory_equal(read_back, key, 32);
    file = fopen(path, "wb");
    fwrite(key, 1, sizeof(key), file);
    fclose(file);
    assert_int_equal(tc_sdk_jwt_key_read(path, read_back, sizeof(read_back)), 32);
    assert_memory_equal(read_back, key, 32);
    file = fopen(path, "wb");
    fwrite(key, 1, 16, file);
    fclose(file);
    assert_int_equal(tc_sdk_jwt_key_read(path, read_back, sizeof(read_back)), TC_EINVAL);
    remove(path);
    assert_int_equal(tc_sdk_jwt_key_read(path, read_back, sizeof(read_back)), TC_ENOENT);
}

static void test_names(void **state) {
    (void)state;
    assert_string_equal(tc_sdk_error_name(10), "not_member");
    assert_string_equal(tc_sdk_error_name(142), "timeout");
    assert_string_equal(tc_sdk_error_name(TC_SDK_ERROR_DISCONNECTED), "disconnected");
    assert_string_equal(tc_sdk_error_name(99), "unknown");
    assert_string_equal(tc_sdk_op_name(TC_SDK_OP_SEND), "send");
    assert_string_equal(tc_sdk_op_name(TC_SDK_OP_COUNT), "invalid");
}

static int setup(void **state) {
    (void)state;
    tc_assert_set_handler(assert_handler);
    tc_edge_json_scratch_init(&scratch, scratch_memory, sizeof(scratch_memory));
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_lengths),   cmocka_unit_test(test_frame_violations),
        cmocka_unit_test(test_reader_fragments), cmocka_unit_test(test_reader_errors),
        cmocka_unit_test(test_http_request),    cmocka_unit_test(test_http_response),
        cmocka_unit_test(test_server_message),  cmocka_unit_test(test_server_answers),
        cmocka_unit_test(test_request_encode),  cmocka_unit_test(test_keys),
        cmocka_unit_test(test_nodes),           cmocka_unit_test(test_token),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
