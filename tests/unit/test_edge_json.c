// Unit tests of the edge's JSON layer (node/edge/edge_json.c, edge_proto*.c): cJSON over a
// scratch buffer and its pre-scan, request parsing for every op with every error, the server
// message writers (read back through the parser), the error table against docs/protocol.md, and
// a deterministic fuzz.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edge_json.h"
#include "edge_proto.h"
#include "edge_utf8.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_prng.h"

static void assert_handler(const char *expression, const char *file, int line) {
    mock_assert(0, expression, file, line);
}

static _Alignas(16) uint8_t scratch_buffer[TC_EDGE_REQUEST_SCRATCH_SIZE];
static struct tc_edge_json_scratch scratch;
static struct tc_edge_request request;

static int setup(void **state) {
    (void)state;
    tc_edge_json_scratch_init(&scratch, scratch_buffer, sizeof(scratch_buffer));
    return 0;
}

static enum tc_edge_error parse(const char *text, const char **field) {
    return tc_edge_request_parse(&scratch, text, (uint32_t)strlen(text), &request, field);
}

// ------------------------------------------------------------------------------------------------
// The pre-scan and cJSON over the scratch.

static void test_json_parse(void **state) {
    (void)state;
    const struct {
        const char *text;
        int expected;
    } cases[] = {
        {"{}", TC_OK},
        {" \t\r\n{\"a\":[1,2,{\"b\":null}]}\n ", TC_OK},
        {"\"\\u00e9\\ud83d\\ude00\"", TC_OK},
        {"", TC_EINVAL},
        {"{", TC_EINVAL},
        {"{} {}", TC_EINVAL},
        {"{}x", TC_EINVAL},
        {"{\"a\":1,}", TC_EINVAL},
        {"\"a\tb\"", TC_EINVAL},           // raw control byte in a string
        {"\"a\\u0000b\"", TC_EINVAL},      // NUL escape
        {"\"\\ud800\"", TC_EINVAL},        // lone surrogate escape
        {"\"abc", TC_EINVAL},
        {"\"abc\\", TC_EINVAL},
        {"[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]", TC_OK},    // depth 16
        {"[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]", TC_EINVAL}, // depth 17
        {"\"[[[[[[[[[[[[[[[[[[[[\"", TC_OK},             // brackets inside a string
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        cJSON *root;
        int got = tc_edge_json_parse(&scratch, cases[i].text, (uint32_t)strlen(cases[i].text),
                                     &root);
        if (got != cases[i].expected) fail_msg("case %u: %d", i, got);
        assert_true((got == TC_OK) == (root != NULL));
    }
    // A raw NUL inside the given size.
    cJSON *root;
    assert_int_equal(tc_edge_json_parse(&scratch, "{}\0", 3, &root), TC_EINVAL);
    // A scratch too small says so (and cJSON's hooks are restored: the next parse works).
    static _Alignas(16) uint8_t small_buffer[256];
    struct tc_edge_json_scratch small;
    tc_edge_json_scratch_init(&small, small_buffer, sizeof(small_buffer));
    const char *wide = "[1,2,3,4,5,6,7,8,9,10]";
    assert_int_equal(tc_edge_json_parse(&small, wide, (uint32_t)strlen(wide), &root), TC_ENOMEM);
    assert_true(small.exhausted);
    assert_int_equal(tc_edge_json_parse(&scratch, wide, (uint32_t)strlen(wide), &root), TC_OK);
    assert_int_equal(cJSON_GetArraySize(root), 10);
    // Duplicate members.
    assert_int_equal(tc_edge_json_parse(&scratch, "{\"a\":1,\"b\":2,\"a\":3}", 19, &root), TC_OK);
    assert_false(tc_edge_json_object_unique(root));
    // Integers.
    uint64_t v;
    const char *numbers = "[0,1.5,-1,9007199254740992,1e400,7]";
    assert_int_equal(tc_edge_json_parse(&scratch, numbers, (uint32_t)strlen(numbers), &root),
                     TC_OK);
    const bool expected[] = {true, false, false, true, false, true};
    uint32_t i = 0;
    for (const cJSON *item = root->child; item != NULL; item = item->next, i++) {
        assert_int_equal(tc_edge_json_integer(item, TC_EDGE_JSON_INTEGER_MAX, &v), expected[i]);
    }
    assert_false(tc_edge_json_integer(root->child->next->next->next->next->next, 6, &v));
}

// ------------------------------------------------------------------------------------------------
// Requests.

#define KEY "6f1e0c2a9b8d47e5a3c1f0e2d4b6a8c0"

static void test_requests_valid(void **state) {
    (void)state;
    const char *field;
    assert_int_equal(parse("{\"id\":\"c1\",\"op\":\"create_room\",\"room\":\"7\"}", &field),
                     TC_EDGE_ERROR_NONE);
    assert_null(field);
    assert_int_equal(request.op, TC_EDGE_OP_CREATE_ROOM);
    assert_string_equal(request.id, "c1");
    assert_true(request.room == 7);
    assert_int_equal(parse("{\"id\":\"c2\",\"op\":\"create_dm\",\"room\":\"8\",\"peer\":\"43\"}",
                           &field),
                     TC_EDGE_ERROR_NONE);
    assert_true(request.room == 8 && request.peer == 43);
    assert_int_equal(parse("{\"op\":\"join\",\"room\":\"18446744073709551615\",\"id\":\"j\"}",
                           &field),
                     TC_EDGE_ERROR_NONE);
    assert_true(request.op == TC_EDGE_OP_JOIN && request.room == UINT64_MAX);
    assert_int_equal(parse("{\"id\":\"l\",\"op\":\"leave\",\"room\":\"0\"}", &field),
                     TC_EDGE_ERROR_NONE); // room 0 reaches the room machine: invalid_room
    assert_int_equal(parse("{\"id\":\"s1\",\"op\":\"send\",\"room\":\"7\",\"key\":\"" KEY
                           "\",\"body\":\"h\\u00e9\\\"\",\"thread_parent\":\"12\",\"x\":[]}",
                           &field),
                     TC_EDGE_ERROR_NONE);
    assert_int_equal(request.op, TC_EDGE_OP_SEND);
    assert_int_equal(request.key[0], 0x6f);
    assert_int_equal(request.key[15], 0xc0);
    assert_int_equal(request.body_size, 4);
    assert_memory_equal(request.body, "h\xc3\xa9\"", 4);
    assert_true(request.seq == 12);
    assert_int_equal(parse("{\"id\":\"b\",\"op\":\"subscribe\",\"room\":\"7\"}", &field),
                     TC_EDGE_ERROR_NONE);
    assert_true(request.seq == 0);
    assert_int_equal(parse("{\"id\":\"b\",\"op\":\"subscribe\",\"room\":\"7\",\"since\":\"10\"}",
                           &field),
                     TC_EDGE_ERROR_NONE);
    assert_true(request.seq == 10);
    assert_int_equal(parse("{\"id\":\"u\",\"op\":\"unsubscribe\",\"room\":\"7\"}", &field),
                     TC_EDGE_ERROR_NONE);
    assert_int_equal(parse("{\"id\":\"h\",\"op\":\"history\",\"room\":\"7\",\"from_seq\":\"1\"}",
                           &field),
                     TC_EDGE_ERROR_NONE);
    assert_int_equal(request.limit, TC_EDGE_HISTORY_LIMIT_DEFAULT);
    assert_int_equal(parse("{\"id\":\"h\",\"op\":\"history\",\"room\":\"7\",\"from_seq\":\"1\","
                           "\"limit\":100}",
                           &field),
                     TC_EDGE_ERROR_NONE);
    assert_int_equal(request.limit, 100);
    assert_int_equal(parse("{\"id\":\"t\",\"op\":\"set_retention\",\"room\":\"7\",\"mode\":"
                           "\"days\",\"value\":30}",
                           &field),
                     TC_EDGE_ERROR_NONE);
    assert_true(request.retention_mode == TC_EDGE_RETENTION_DAYS && request.retention_value == 30);
    assert_int_equal(parse("{\"id\":\"t\",\"op\":\"set_retention\",\"room\":\"7\","
                           "\"mode\":\"all\"}",
                           &field),
                     TC_EDGE_ERROR_NONE);
    assert_int_equal(request.retention_mode, TC_EDGE_RETENTION_ALL);
    assert_int_equal(parse("{\"id\":\"t\",\"op\":\"set_retention\",\"room\":\"7\",\"mode\":"
                           "\"messages\",\"value\":1099511627776}",
                           &field),
                     TC_EDGE_ERROR_NONE);
    assert_int_equal(parse("{\"id\":\"m\",\"op\":\"read_marker\",\"room\":\"7\",\"seq\":\"13\"}",
                           &field),
                     TC_EDGE_ERROR_NONE);
    assert_true(request.seq == 13);
    assert_int_equal(parse("{\"id\":\"y\",\"op\":\"typing\",\"room\":\"7\"}", &field),
                     TC_EDGE_ERROR_NONE);
    assert_int_equal(parse("{\"id\":\"x\",\"op\":\"redact\",\"room\":\"7\",\"seq\":\"12\"}",
                           &field),
                     TC_EDGE_ERROR_NONE);
    assert_int_equal(parse("{\"id\":\"p\",\"op\":\"ping\"}", &field), TC_EDGE_ERROR_NONE);
    assert_int_equal(request.op, TC_EDGE_OP_PING);
    assert_int_equal(parse("{\"id\":\"a\",\"op\":\"auth\",\"token\":\"x.y.z\"}", &field),
                     TC_EDGE_ERROR_NONE);
    assert_int_equal(request.token_size, 5);
    assert_memory_equal(request.token, "x.y.z", 5);
    // Every op name parses to its op.
    for (uint32_t op = 1; op < TC_EDGE_OP_COUNT; op++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"id\":\"i\",\"op\":\"%s\",\"room\":\"1\",\"peer\":\"2\",\"key\":\"" KEY
                 "\",\"body\":\"b\",\"from_seq\":\"1\",\"mode\":\"all\",\"seq\":\"1\","
                 "\"token\":\"t\"}",
                 tc_edge_op_name((enum tc_edge_op)op));
        assert_int_equal(parse(text, &field), TC_EDGE_ERROR_NONE);
        assert_int_equal(request.op, op);
    }
}

struct error_case {
    const char *text;
    enum tc_edge_error expected;
    const char *field;
    bool id_known;
};

static void test_requests_invalid(void **state) {
    (void)state;
    const struct error_case cases[] = {
        {"", TC_EDGE_ERROR_MALFORMED_FRAME, NULL, false},
        {"[]", TC_EDGE_ERROR_MALFORMED_FRAME, NULL, false},
        {"\"send\"", TC_EDGE_ERROR_MALFORMED_FRAME, NULL, false},
        {"{\"id\":\"a\",\"op\":\"ping\"", TC_EDGE_ERROR_MALFORMED_FRAME, NULL, false},
        {"{\"id\":\"a\",\"op\":\"ping\",\"op\":\"ping\"}", TC_EDGE_ERROR_MALFORMED_FRAME, NULL,
         false},
        {"{\"op\":\"ping\"}", TC_EDGE_ERROR_MISSING_FIELD, "id", false},
        {"{\"id\":7,\"op\":\"ping\"}", TC_EDGE_ERROR_MALFORMED_FRAME, "id", false},
        {"{\"id\":\"\",\"op\":\"ping\"}", TC_EDGE_ERROR_INVALID_FIELD, "id", false},
        {"{\"id\":\"a b\",\"op\":\"ping\"}", TC_EDGE_ERROR_INVALID_FIELD, "id", false},
        {"{\"id\":\"\\u00e9\",\"op\":\"ping\"}", TC_EDGE_ERROR_INVALID_FIELD, "id", false},
        {"{\"id\":\"01234567890123456789012345678901234567890123456789012345678901234\","
         "\"op\":\"ping\"}",
         TC_EDGE_ERROR_INVALID_FIELD, "id", false},
        {"{\"id\":\"a\"}", TC_EDGE_ERROR_MISSING_FIELD, "op", true},
        {"{\"id\":\"a\",\"op\":1}", TC_EDGE_ERROR_MALFORMED_FRAME, "op", true},
        {"{\"id\":\"a\",\"op\":\"frobnicate\"}", TC_EDGE_ERROR_UNKNOWN_OP, "op", true},
        {"{\"id\":\"a\",\"op\":\"Send\"}", TC_EDGE_ERROR_UNKNOWN_OP, "op", true},
        {"{\"id\":\"a\",\"op\":\"join\"}", TC_EDGE_ERROR_MISSING_FIELD, "room", true},
        {"{\"id\":\"a\",\"op\":\"join\",\"room\":7}", TC_EDGE_ERROR_MALFORMED_FRAME, "room", true},
        {"{\"id\":\"a\",\"op\":\"join\",\"room\":\"07\"}", TC_EDGE_ERROR_INVALID_FIELD, "room",
         true},
        {"{\"id\":\"a\",\"op\":\"join\",\"room\":\"-7\"}", TC_EDGE_ERROR_INVALID_FIELD, "room",
         true},
        {"{\"id\":\"a\",\"op\":\"join\",\"room\":\"18446744073709551616\"}",
         TC_EDGE_ERROR_INVALID_FIELD, "room", true},
        {"{\"id\":\"a\",\"op\":\"create_dm\",\"room\":\"1\"}", TC_EDGE_ERROR_MISSING_FIELD, "peer",
         true},
        {"{\"id\":\"a\",\"op\":\"send\",\"room\":\"1\",\"body\":\"b\"}",
         TC_EDGE_ERROR_MISSING_FIELD, "key", true},
        {"{\"id\":\"a\",\"op\":\"send\",\"room\":\"1\",\"key\":\"abc\",\"body\":\"b\"}",
         TC_EDGE_ERROR_INVALID_FIELD, "key", true},
        {"{\"id\":\"a\",\"op\":\"send\",\"room\":\"1\","
         "\"key\":\"6f1e0c2a9b8d47e5a3c1f0e2d4b6a8cg\","
         "\"body\":\"b\"}",
         TC_EDGE_ERROR_INVALID_FIELD, "key", true},
        {"{\"id\":\"a\",\"op\":\"send\",\"room\":\"1\",\"key\":\"" KEY "\"}",
         TC_EDGE_ERROR_MISSING_FIELD, "body", true},
        {"{\"id\":\"a\",\"op\":\"send\",\"room\":\"1\",\"key\":\"" KEY "\",\"body\":\"\"}",
         TC_EDGE_ERROR_INVALID_FIELD, "body", true},
        {"{\"id\":\"a\",\"op\":\"send\",\"room\":\"1\",\"key\":\"" KEY "\",\"body\":null}",
         TC_EDGE_ERROR_MALFORMED_FRAME, "body", true},
        {"{\"id\":\"a\",\"op\":\"send\",\"room\":\"1\",\"key\":\"" KEY
         "\",\"body\":\"b\",\"thread_parent\":12}",
         TC_EDGE_ERROR_MALFORMED_FRAME, "thread_parent", true},
        {"{\"id\":\"a\",\"op\":\"history\",\"room\":\"1\"}", TC_EDGE_ERROR_MISSING_FIELD,
         "from_seq", true},
        {"{\"id\":\"a\",\"op\":\"history\",\"room\":\"1\",\"from_seq\":\"1\",\"limit\":0}",
         TC_EDGE_ERROR_INVALID_FIELD, "limit", true},
        {"{\"id\":\"a\",\"op\":\"history\",\"room\":\"1\",\"from_seq\":\"1\",\"limit\":101}",
         TC_EDGE_ERROR_INVALID_FIELD, "limit", true},
        {"{\"id\":\"a\",\"op\":\"history\",\"room\":\"1\",\"from_seq\":\"1\",\"limit\":1.5}",
         TC_EDGE_ERROR_INVALID_FIELD, "limit", true},
        {"{\"id\":\"a\",\"op\":\"history\",\"room\":\"1\",\"from_seq\":\"1\",\"limit\":\"5\"}",
         TC_EDGE_ERROR_MALFORMED_FRAME, "limit", true},
        {"{\"id\":\"a\",\"op\":\"set_retention\",\"room\":\"1\"}", TC_EDGE_ERROR_MISSING_FIELD,
         "mode", true},
        {"{\"id\":\"a\",\"op\":\"set_retention\",\"room\":\"1\",\"mode\":\"weeks\"}",
         TC_EDGE_ERROR_INVALID_FIELD, "mode", true},
        {"{\"id\":\"a\",\"op\":\"set_retention\",\"room\":\"1\",\"mode\":\"days\"}",
         TC_EDGE_ERROR_MISSING_FIELD, "value", true},
        {"{\"id\":\"a\",\"op\":\"set_retention\",\"room\":\"1\",\"mode\":\"days\",\"value\":0}",
         TC_EDGE_ERROR_INVALID_FIELD, "value", true},
        {"{\"id\":\"a\",\"op\":\"set_retention\",\"room\":\"1\",\"mode\":\"days\",\"value\":36501}",
         TC_EDGE_ERROR_INVALID_FIELD, "value", true},
        {"{\"id\":\"a\",\"op\":\"set_retention\",\"room\":\"1\",\"mode\":\"all\",\"value\":3}",
         TC_EDGE_ERROR_INVALID_FIELD, "value", true},
        {"{\"id\":\"a\",\"op\":\"set_retention\",\"room\":\"1\",\"mode\":\"messages\","
         "\"value\":1099511627777}",
         TC_EDGE_ERROR_INVALID_FIELD, "value", true},
        {"{\"id\":\"a\",\"op\":\"read_marker\",\"room\":\"1\"}", TC_EDGE_ERROR_MISSING_FIELD,
         "seq", true},
        {"{\"id\":\"a\",\"op\":\"redact\",\"room\":\"1\",\"seq\":\"x\"}",
         TC_EDGE_ERROR_INVALID_FIELD, "seq", true},
        {"{\"id\":\"a\",\"op\":\"auth\"}", TC_EDGE_ERROR_MISSING_FIELD, "token", true},
        {"{\"id\":\"a\",\"op\":\"auth\",\"token\":\"\"}", TC_EDGE_ERROR_INVALID_FIELD, "token",
         true},
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        const char *field = "unset";
        enum tc_edge_error got = parse(cases[i].text, &field);
        if (got != cases[i].expected) {
            fail_msg("case %u: %s, expected %s", i, tc_edge_error_name(got),
                     tc_edge_error_name(cases[i].expected));
        }
        if (cases[i].field == NULL) {
            assert_null(field);
        } else {
            assert_non_null(field);
            assert_string_equal(field, cases[i].field);
        }
        assert_int_equal(request.id_size > 0, cases[i].id_known);
    }
}

static void test_body_limits(void **state) {
    (void)state;
    static char text[32768];
    static char body[4200];
    const char *field;
    // 4096 ASCII bytes pass, 4097 do not.
    for (uint32_t size = 4095; size <= 4097; size++) {
        memset(body, 'a', size);
        body[size] = '\0';
        snprintf(text, sizeof(text),
                 "{\"id\":\"s\",\"op\":\"send\",\"room\":\"1\",\"key\":\"" KEY
                 "\",\"body\":\"%s\"}",
                 body);
        assert_int_equal(parse(text, &field),
                         size <= 4096 ? TC_EDGE_ERROR_NONE : TC_EDGE_ERROR_BODY_TOO_LARGE);
    }
    // The limit counts UTF-8 bytes after unescaping: 2048 x "\u00e9" is 4096 bytes.
    uint32_t n = (uint32_t)snprintf(text, sizeof(text),
                                    "{\"id\":\"s\",\"op\":\"send\",\"room\":\"1\",\"key\":\"" KEY
                                    "\",\"body\":\"");
    for (uint32_t i = 0; i < 2048; i++) n += (uint32_t)snprintf(text + n, 8, "\\u00e9");
    snprintf(text + n, sizeof(text) - n, "\"}");
    assert_int_equal(parse(text, &field), TC_EDGE_ERROR_NONE);
    assert_int_equal(request.body_size, 4096);
    assert_true(tc_edge_utf8_valid((const uint8_t *)request.body, request.body_size));
    snprintf(text + n, sizeof(text) - n, "x\"}");
    assert_int_equal(parse(text, &field), TC_EDGE_ERROR_BODY_TOO_LARGE);
    assert_string_equal(field, "body");
}

// ------------------------------------------------------------------------------------------------
// Writers, read back through the parser.

static cJSON *read_back(const char *out, int32_t size) {
    assert_true(size > 0);
    cJSON *root;
    assert_int_equal(tc_edge_json_parse(&scratch, out, (uint32_t)size, &root), TC_OK);
    assert_true(cJSON_IsObject(root));
    assert_true(tc_edge_json_object_unique(root));
    return root;
}

static void assert_member(const cJSON *root, const char *name, const char *value) {
    const char *got;
    uint32_t size;
    assert_true(tc_edge_json_get_string(root, name, &got, &size));
    assert_string_equal(got, value);
}

static void test_writers(void **state) {
    (void)state;
    char out[2048];
    int32_t size = tc_edge_response_error(out, sizeof(out), "r1", 2, TC_EDGE_ERROR_RATE_LIMITED,
                                          NULL, 250);
    assert_int_equal(size, (int32_t)strlen("{\"type\":\"error\",\"id\":\"r1\",\"code\":120,"
                                           "\"error\":\"rate_limited\",\"message\":\"too many "
                                           "requests\",\"retry_after_ms\":250}"));
    assert_memory_equal(out, "{\"type\":\"error\",\"id\":\"r1\",\"code\":120,", 36);
    cJSON *root = read_back(out, size);
    assert_member(root, "error", "rate_limited");
    size = tc_edge_response_error(out, sizeof(out), NULL, 0, TC_EDGE_ERROR_INVALID_FIELD, "key",
                                  0);
    root = read_back(out, size);
    assert_null(cJSON_GetObjectItemCaseSensitive(root, "id"));
    assert_member(root, "field", "key");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(root, "code")->valuedouble, 103);
    uint8_t hash[32];
    for (uint32_t i = 0; i < 32; i++) hash[i] = (uint8_t)(i * 7);
    size = tc_edge_response_send(out, sizeof(out), "s\"1", 3, 7, 13, 0, hash, true);
    root = read_back(out, size);
    assert_member(root, "id", "s\"1");
    assert_member(root, "seq", "13");
    assert_member(root, "thread_seq", "0");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "duplicate")));
    const char *hex;
    uint32_t hex_size;
    assert_true(tc_edge_json_get_string(root, "hash", &hex, &hex_size));
    assert_int_equal(hex_size, 64);
    assert_memory_equal(hex, "00070e151c23", 12);
    size = tc_edge_response_chain_head(out, sizeof(out), "c", 1, UINT64_MAX, 0, hash);
    root = read_back(out, size);
    assert_member(root, "room", "18446744073709551615");
    size = tc_edge_response_history_truncated(out, sizeof(out), "h", 1, 7, 40);
    root = read_back(out, size);
    assert_member(root, "truncated_at", "40");
    assert_member(root, "reason", "retention");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "messages")), 0);
    size = tc_edge_response_subscribed(out, sizeof(out), "b", 1, 7, 13);
    assert_member(read_back(out, size), "head_seq", "13");
    size = tc_edge_response_ok(out, sizeof(out), "p", 1, 0);
    assert_int_equal(size, (int32_t)strlen("{\"type\":\"result\",\"id\":\"p\"}"));
    size = tc_edge_event_truncated(out, sizeof(out), 7, 40);
    assert_member(read_back(out, size), "type", "truncated");
    size = tc_edge_event_catch_up(out, sizeof(out), 7, 5120);
    assert_member(read_back(out, size), "reason", "slow_consumer");
    size = tc_edge_event_typing(out, sizeof(out), 7, 43);
    assert_member(read_back(out, size), "user", "43");
    // redact's result and the redacted event (docs/protocol.md §5.12, §6), exactly.
    size = tc_edge_response_redact(out, sizeof(out), "x1", 2, 7, 12, false);
    assert_int_equal(size, (int32_t)strlen("{\"type\":\"result\",\"id\":\"x1\",\"room\":\"7\","
                                           "\"seq\":\"12\",\"duplicate\":false}"));
    assert_memory_equal(out, "{\"type\":\"result\",\"id\":\"x1\",\"room\":\"7\",\"seq\":\"12\","
                             "\"duplicate\":false}", (size_t)size);
    size = tc_edge_response_redact(out, sizeof(out), "x2", 2, 7, 12, true);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(read_back(out, size), "duplicate")));
    size = tc_edge_event_redacted(out, sizeof(out), 7, 12);
    const char *redacted = "{\"type\":\"redacted\",\"room\":\"7\",\"seq\":\"12\"}";
    assert_int_equal(size, (int32_t)strlen(redacted));
    assert_memory_equal(out, redacted, (size_t)size);
    // Every shorter buffer is refused.
    size = tc_edge_response_send(out, sizeof(out), "s1", 2, 7, 13, 2, hash, false);
    for (uint32_t n = 0; n < (uint32_t)size; n++) {
        assert_int_equal(tc_edge_response_send(out, n, "s1", 2, 7, 13, 2, hash, false), TC_ENOSPC);
    }
}

static void test_message_event(void **state) {
    (void)state;
    static char out[40000];
    struct tc_edge_message message = {.room = 7, .seq = 13, .sender = 42,
                                      .timestamp_ns = 1700000123456789012ull,
                                      .thread_parent = 12, .thread_seq = 3,
                                      .body = "a\"b\\c\n\x01\x1f\xc3\xa9", .body_size = 10};
    memset(message.hash, 0xab, 32);
    int32_t size = tc_edge_event_message(out, sizeof(out), &message);
    cJSON *root = read_back(out, size);
    assert_member(root, "type", "message");
    assert_member(root, "timestamp_ns", "1700000123456789012");
    assert_member(root, "thread_parent", "12");
    assert_member(root, "body", "a\"b\\c\n\x01\x1f\xc3\xa9");
    assert_null(cJSON_GetObjectItemCaseSensitive(root, "redacted"));
    message.redacted = true;
    size = tc_edge_event_message(out, sizeof(out), &message);
    root = read_back(out, size);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "body")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "redacted")));
    // The worst-case body (4096 control bytes, 6 bytes each escaped) fits the server frame cap.
    static char body[4096];
    memset(body, 0x01, sizeof(body));
    message.redacted = false;
    message.body = body;
    message.body_size = 4096;
    size = tc_edge_event_message(out, sizeof(out), &message);
    assert_true(size > 6 * 4096 && size < 32768);
    tc_assert_set_handler(assert_handler);
    message.seq = 0;
    expect_assert_failure(tc_edge_event_message(out, sizeof(out), &message));
    tc_assert_set_handler(NULL);
}

// ------------------------------------------------------------------------------------------------
// The error table is the one docs/protocol.md §7 promises.

static void test_error_table_matches_doc(void **state) {
    (void)state;
    char path[1024];
    const char *file = __FILE__;
    const char *tests = strstr(file, "tests/unit/test_edge_json.c");
    assert_non_null(tests);
    snprintf(path, sizeof(path), "%.*sdocs/protocol.md", (int)(tests - file), file);
    FILE *doc = fopen(path, "r");
    if (doc == NULL) fail_msg("cannot open %s", path);
    static char text[200000];
    size_t size = fread(text, 1, sizeof(text) - 1, doc);
    fclose(doc);
    text[size] = '\0';
    const char *section = strstr(text, "## 7. Errors");
    assert_non_null(section);
    uint32_t rows = 0;
    for (uint32_t code = 0; code < 1000; code++) {
        if (!tc_edge_error_known(code) || code == 0) continue;
        char row[96];
        snprintf(row, sizeof(row), "\n| %u | %s |", code,
                 tc_edge_error_name((enum tc_edge_error)code));
        if (strstr(section, row) == NULL) fail_msg("docs/protocol.md §7 lacks the row%s", row);
        rows++;
    }
    // And every row of the doc's table is a known code with that name.
    uint32_t doc_rows = 0;
    for (const char *line = strstr(section, "\n| 1 |"); line != NULL && line[1] == '|';
         line = strchr(line + 1, '\n')) {
        unsigned code;
        char name[64];
        if (sscanf(line, "\n| %u | %63[a-z_] |", &code, name) != 2) break;
        assert_true(tc_edge_error_known(code));
        assert_string_equal(tc_edge_error_name((enum tc_edge_error)code), name);
        doc_rows++;
    }
    assert_int_equal(rows, doc_rows);
    assert_int_equal(tc_edge_error_from_room_status(10), TC_EDGE_ERROR_NOT_MEMBER);
    assert_int_equal(tc_edge_error_from_room_status(16), TC_EDGE_ERROR_INVALID_RETENTION);
    assert_int_equal(tc_edge_error_from_room_status(17), TC_EDGE_ERROR_INVALID_SEQ);
    assert_int_equal(tc_edge_error_from_room_status(18), TC_EDGE_ERROR_MESSAGE_EVICTED);
    assert_int_equal(tc_edge_error_from_room_status(19), TC_EDGE_ERROR_REDACTIONS_FULL);
    // not_sender: a redact of another user's message is forbidden_room (docs/protocol.md §5.12).
    assert_int_equal(tc_edge_error_from_room_status(20), TC_EDGE_ERROR_FORBIDDEN_ROOM);
    assert_false(tc_edge_error_known(20));
    tc_assert_set_handler(assert_handler);
    expect_assert_failure(tc_edge_error_from_room_status(21));
    expect_assert_failure(tc_edge_error_from_room_status(0));
    tc_assert_set_handler(NULL);
    assert_string_equal(tc_edge_error_name(tc_edge_error_from_room_status(14)),
                        "thread_parent_is_reply");
}

// ------------------------------------------------------------------------------------------------
// Fuzz: mutated requests never crash and a parsed request always satisfies its invariants;
// random bodies survive the writer and the parser unchanged.

static void check_request(const struct tc_edge_request *r) {
    assert_true(r->op > TC_EDGE_OP_NONE && r->op < TC_EDGE_OP_COUNT);
    assert_true(r->id_size >= 1 && r->id_size <= TC_EDGE_REQUEST_ID_SIZE_MAX);
    assert_int_equal(strlen(r->id), r->id_size);
    if (r->op == TC_EDGE_OP_SEND) {
        assert_true(r->body_size >= 1 && r->body_size <= TC_EDGE_BODY_SIZE_MAX);
        assert_true(tc_edge_utf8_valid((const uint8_t *)r->body, r->body_size));
    }
    if (r->op == TC_EDGE_OP_HISTORY) assert_true(r->limit >= 1 && r->limit <= 100);
}

static void test_fuzz(void **state) {
    (void)state;
    static const char *seeds[] = {
        "{\"id\":\"s1\",\"op\":\"send\",\"room\":\"7\",\"key\":\"" KEY "\",\"body\":\"h\\u00e9\"}",
        "{\"id\":\"h\",\"op\":\"history\",\"room\":\"7\",\"from_seq\":\"1\",\"limit\":100}",
        "{\"id\":\"t\",\"op\":\"set_retention\",\"room\":\"7\",\"mode\":\"days\",\"value\":30}",
        "{\"id\":\"c2\",\"op\":\"create_dm\",\"room\":\"8\",\"peer\":\"43\"}",
    };
    static const char interesting[] = "{}[]\":,\\u0123456789eE.-+ntf \x01\x7f\xc3\xa9";
    struct tc_prng prng;
    tc_prng_init(&prng, 0xed6e0005u);
    char text[512];
    uint32_t parsed = 0;
    for (uint32_t iteration = 0; iteration < 150000; iteration++) {
        const char *seed = seeds[iteration % TC_ARRAY_COUNT(seeds)];
        uint32_t size = (uint32_t)strlen(seed);
        memcpy(text, seed, size);
        uint32_t edits = (uint32_t)tc_prng_range(&prng, 1, 3);
        for (uint32_t e = 0; e < edits && size > 1; e++) {
            uint32_t at = (uint32_t)tc_prng_below(&prng, size);
            if (tc_prng_chance_ppm(&prng, 700000)) {
                text[at] = interesting[tc_prng_below(&prng, sizeof(interesting) - 1)];
            } else {
                memmove(text + at, text + at + 1, size - at - 1);
                size--;
            }
        }
        const char *field;
        enum tc_edge_error e = tc_edge_request_parse(&scratch, text, size, &request, &field);
        assert_true(tc_edge_error_known(e));
        if (e == TC_EDGE_ERROR_NONE) {
            check_request(&request);
            parsed++;
        }
        assert_false(scratch.exhausted);
    }
    print_message("fuzz: %u of 150000 mutated requests parsed\n", parsed);
    assert_true(parsed > 3000);
    // Writer round trip with random bodies (valid UTF-8 of random code points).
    static char out[40000];
    static char body[4096];
    for (uint32_t iteration = 0; iteration < 3000; iteration++) {
        uint32_t size = 0;
        uint32_t target = (uint32_t)tc_prng_range(&prng, 1, 4090);
        while (size < target) {
            uint32_t cp = (uint32_t)tc_prng_range(&prng, 1, 0x10ffff);
            if (tc_prng_chance_ppm(&prng, 500000)) cp = (uint32_t)tc_prng_range(&prng, 1, 0x7f);
            if (cp >= 0xd800 && cp <= 0xdfff) continue;
            if (cp < 0x80) {
                body[size++] = (char)cp;
            } else if (cp < 0x800) {
                body[size++] = (char)(0xc0 | cp >> 6);
                body[size++] = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                body[size++] = (char)(0xe0 | cp >> 12);
                body[size++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                body[size++] = (char)(0x80 | (cp & 0x3f));
            } else {
                body[size++] = (char)(0xf0 | cp >> 18);
                body[size++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                body[size++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                body[size++] = (char)(0x80 | (cp & 0x3f));
            }
        }
        struct tc_edge_message message = {.room = 1, .seq = 1, .body = body, .body_size = size};
        int32_t written = tc_edge_event_message(out, sizeof(out), &message);
        assert_true(tc_edge_utf8_valid((const uint8_t *)out, (uint32_t)written));
        cJSON *root = read_back(out, written);
        const char *back;
        uint32_t back_size;
        assert_true(tc_edge_json_get_string(root, "body", &back, &back_size));
        assert_int_equal(back_size, size);
        assert_memory_equal(back, body, size);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_parse),
        cmocka_unit_test(test_requests_valid),
        cmocka_unit_test(test_requests_invalid),
        cmocka_unit_test(test_body_limits),
        cmocka_unit_test(test_writers),
        cmocka_unit_test(test_message_event),
        cmocka_unit_test(test_error_table_matches_doc),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
