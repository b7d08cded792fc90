// Unit tests of the edge's HTTP/1.1 head parser, WebSocket handshake, credentials and response
// writers (node/edge/edge_http*.c), plus the codecs under them (base64, SHA-1, decimal).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edge_encoding.h"
#include "edge_http.h"
#include "edge_sha1.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_prng.h"

static void assert_handler(const char *expression, const char *file, int line) {
    mock_assert(0, expression, file, line);
}

// The opening handshake of RFC 6455 §1.3 (plus the Sec-WebSocket-Version every client sends).
static const char rfc_request[] = "GET /chat HTTP/1.1\r\n"
                                  "Host: server.example.com\r\n"
                                  "Upgrade: websocket\r\n"
                                  "Connection: Upgrade\r\n"
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                  "Origin: http://example.com\r\n"
                                  "Sec-WebSocket-Protocol: chat, superchat\r\n"
                                  "Sec-WebSocket-Version: 13\r\n"
                                  "\r\n";

static struct tc_edge_http_request request; // 8 KiB: static, like the node's connection pool

static enum tc_edge_http_status parse_all(const char *text, uint32_t *consumed) {
    struct tc_edge_http_limits limits;
    tc_edge_http_limits_default(&limits);
    tc_edge_http_request_init(&request, &limits);
    return tc_edge_http_parse(&request, (const uint8_t *)text, (uint32_t)strlen(text), consumed);
}

static enum tc_edge_http_status parse_text(const char *text) {
    uint32_t consumed;
    return parse_all(text, &consumed);
}

// Feeds in chunks of the given size; returns the final status and total bytes consumed.
static enum tc_edge_http_status parse_chunked(const struct tc_edge_http_limits *limits,
                                              const uint8_t *data, uint32_t size, uint32_t chunk,
                                              uint32_t *total) {
    tc_edge_http_request_init(&request, limits);
    *total = 0;
    enum tc_edge_http_status status = TC_EDGE_HTTP_NEED_MORE;
    for (uint32_t at = 0; at < size && status == TC_EDGE_HTTP_NEED_MORE; at += chunk) {
        uint32_t n = size - at < chunk ? size - at : chunk;
        uint32_t consumed;
        status = tc_edge_http_parse(&request, data + at, n, &consumed);
        assert_true(consumed <= n);
        if (status == TC_EDGE_HTTP_NEED_MORE) assert_int_equal(consumed, n);
        *total += consumed;
    }
    return status;
}

// ------------------------------------------------------------------------------------------------
// Codecs.

static void sha1_hex(const void *data, uint32_t size, char out[41]) {
    struct tc_edge_sha1 sha;
    uint8_t digest[20];
    tc_edge_sha1_init(&sha);
    tc_edge_sha1_update(&sha, data, size);
    tc_edge_sha1_final(&sha, digest);
    for (uint32_t i = 0; i < 20; i++) snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

static void test_sha1_fips_vectors(void **state) {
    (void)state;
    char hex[41];
    sha1_hex("", 0, hex);
    assert_string_equal(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    sha1_hex("abc", 3, hex);
    assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha1_hex(two_blocks, (uint32_t)strlen(two_blocks), hex);
    assert_string_equal(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    // One million 'a', fed in uneven pieces.
    static char a[1000];
    memset(a, 'a', sizeof(a));
    struct tc_edge_sha1 sha;
    tc_edge_sha1_init(&sha);
    for (uint32_t i = 0; i < 1000; i++) tc_edge_sha1_update(&sha, a, 999);
    tc_edge_sha1_update(&sha, a, 1000);
    uint8_t digest[20];
    tc_edge_sha1_final(&sha, digest);
    for (uint32_t i = 0; i < 20; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    assert_string_equal(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

static void test_base64_vectors(void **state) {
    (void)state;
    // RFC 4648 §10.
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *standard[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    const char *url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (uint32_t i = 0; i < 7; i++) {
        char out[16];
        uint8_t back[16];
        uint32_t size = (uint32_t)strlen(plain[i]);
        assert_int_equal(tc_edge_base64_encode(out, sizeof(out), (const uint8_t *)plain[i], size,
                                               TC_EDGE_BASE64_STANDARD),
                         (int32_t)strlen(standard[i]));
        assert_string_equal(out, standard[i]);
        assert_int_equal(tc_edge_base64_encode(out, sizeof(out), (const uint8_t *)plain[i], size,
                                               TC_EDGE_BASE64_URL),
                         (int32_t)strlen(url[i]));
        assert_string_equal(out, url[i]);
        assert_int_equal(tc_edge_base64_decode(back, sizeof(back), standard[i],
                                               (uint32_t)strlen(standard[i]),
                                               TC_EDGE_BASE64_STANDARD),
                         (int32_t)size);
        assert_memory_equal(back, plain[i], size);
        assert_int_equal(tc_edge_base64_decode(back, sizeof(back), url[i],
                                               (uint32_t)strlen(url[i]), TC_EDGE_BASE64_URL),
                         (int32_t)size);
        assert_memory_equal(back, plain[i], size);
    }
    // The two alphabets differ in exactly two characters.
    uint8_t bytes[] = {0xfb, 0xff};
    char out[8];
    tc_edge_base64_encode(out, sizeof(out), bytes, 2, TC_EDGE_BASE64_STANDARD);
    assert_string_equal(out, "+/8=");
    tc_edge_base64_encode(out, sizeof(out), bytes, 2, TC_EDGE_BASE64_URL);
    assert_string_equal(out, "-_8");
    // Encoding needs room for the NUL.
    assert_int_equal(tc_edge_base64_encode(out, 4, bytes, 2, TC_EDGE_BASE64_STANDARD), TC_ENOSPC);
}

static void test_base64_refusals(void **state) {
    (void)state;
    uint8_t out[16];
    struct {
        const char *text;
        enum tc_edge_base64_alphabet alphabet;
        int32_t expected;
    } cases[] = {
        {"Zg=", TC_EDGE_BASE64_STANDARD, TC_EINVAL},    // not a multiple of 4
        {"Zg", TC_EDGE_BASE64_STANDARD, TC_EINVAL},     // padding required
        {"Zh==", TC_EDGE_BASE64_STANDARD, TC_EINVAL},   // unused bits set (non-canonical)
        {"Zm9=", TC_EDGE_BASE64_STANDARD, TC_EINVAL},   // unused bits set
        {"Z===", TC_EDGE_BASE64_STANDARD, TC_EINVAL},   // three pads
        {"Zg==Zg==", TC_EDGE_BASE64_STANDARD, TC_EINVAL}, // padding inside
        {"Zm-v", TC_EDGE_BASE64_STANDARD, TC_EINVAL},   // url character in standard
        {"Zg==", TC_EDGE_BASE64_URL, TC_EINVAL},        // padding refused in base64url
        {"Z", TC_EDGE_BASE64_URL, TC_EINVAL},           // impossible length
        {"Zh", TC_EDGE_BASE64_URL, TC_EINVAL},          // unused bits set
        {"Zm+v", TC_EDGE_BASE64_URL, TC_EINVAL},        // standard character in url
        {"Zm9v Zm9v", TC_EDGE_BASE64_URL, TC_EINVAL},   // space
        {"Zm9vYmFyZm9vYmFyZm9vYmFy", TC_EDGE_BASE64_URL, TC_ENOSPC}, // 18 bytes > 16
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        int32_t got = tc_edge_base64_decode(out, sizeof(out), cases[i].text,
                                            (uint32_t)strlen(cases[i].text), cases[i].alphabet);
        if (got != cases[i].expected) fail_msg("case %u (%s): got %d", i, cases[i].text, got);
    }
}

static void test_decimal_and_hex(void **state) {
    (void)state;
    uint64_t v = 7;
    assert_int_equal(tc_edge_u64_parse("0", 1, &v), TC_OK);
    assert_int_equal(v, 0);
    assert_int_equal(tc_edge_u64_parse("18446744073709551615", 20, &v), TC_OK);
    assert_true(v == UINT64_MAX);
    const char *bad[] = {"", "01", "-1", "+1", "1a", "18446744073709551616",
                         "99999999999999999999", "123456789012345678901", " 1"};
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(bad); i++) {
        assert_int_equal(tc_edge_u64_parse(bad[i], (uint32_t)strlen(bad[i]), &v), TC_EINVAL);
    }
    char digits[21];
    assert_int_equal(tc_edge_u64_format(digits, UINT64_MAX), 20);
    assert_string_equal(digits, "18446744073709551615");
    assert_int_equal(tc_edge_u64_format(digits, 0), 1);
    assert_string_equal(digits, "0");
    uint8_t key[2];
    assert_int_equal(tc_edge_hex_decode(key, 2, "aB0f", 4), TC_OK);
    assert_int_equal(key[0], 0xab);
    assert_int_equal(key[1], 0x0f);
    assert_int_equal(tc_edge_hex_decode(key, 2, "aB0", 3), TC_EINVAL);
    assert_int_equal(tc_edge_hex_decode(key, 2, "aB0g", 4), TC_EINVAL);
}

// ------------------------------------------------------------------------------------------------
// Parser.

static void test_rfc_handshake(void **state) {
    (void)state;
    uint32_t consumed;
    assert_int_equal(parse_all(rfc_request, &consumed), TC_EDGE_HTTP_DONE);
    assert_int_equal(consumed, strlen(rfc_request));
    assert_true(tc_edge_http_path_equal(&request, "/chat"));
    assert_true(tc_edge_http_method_equal(&request, "GET"));
    assert_int_equal(request.version_minor, 1);
    assert_int_equal(request.header_count, 7);
    struct tc_edge_str value;
    assert_true(tc_edge_http_header_get(&request, "sec-websocket-protocol", &value));
    assert_int_equal(value.size, strlen("chat, superchat"));
    assert_memory_equal(value.data, "chat, superchat", value.size);
    assert_true(tc_edge_http_header_has_token(&request, "sec-websocket-protocol", "SUPERCHAT"));
    assert_false(tc_edge_http_header_has_token(&request, "sec-websocket-protocol", "super"));
    assert_int_equal(tc_edge_http_request_check(&request), TC_EDGE_HTTP_DONE);
    char accept[TC_EDGE_WS_ACCEPT_SIZE + 1];
    assert_int_equal(tc_edge_http_upgrade_check(&request, accept), TC_EDGE_HTTP_DONE);
    assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    char response[256];
    int32_t size = tc_edge_http_write_upgrade(response, sizeof(response), accept);
    const char *expected = "HTTP/1.1 101 Switching Protocols\r\n"
                           "Upgrade: websocket\r\n"
                           "Connection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                           "\r\n";
    assert_int_equal(size, (int32_t)strlen(expected));
    assert_memory_equal(response, expected, strlen(expected));
    assert_int_equal(tc_edge_http_write_upgrade(response, (uint32_t)size - 1, accept), TC_ENOSPC);
}

// Every split of the RFC request gives the same result as one call; bytes after the head
// (a pipelined first WebSocket frame) are left for the next layer.
static void test_every_split(void **state) {
    (void)state;
    uint8_t input[sizeof(rfc_request) + 6];
    uint32_t head = (uint32_t)strlen(rfc_request);
    memcpy(input, rfc_request, head);
    memcpy(input + head, "\x81\x85\x00\x00\x00\x00", 6);
    uint32_t size = head + 6;
    struct tc_edge_http_limits limits;
    tc_edge_http_limits_default(&limits);
    for (uint32_t chunk = 1; chunk <= size; chunk++) {
        uint32_t total;
        assert_int_equal(parse_chunked(&limits, input, size, chunk, &total), TC_EDGE_HTTP_DONE);
        assert_int_equal(total, head);
        assert_true(tc_edge_http_path_equal(&request, "/chat"));
        assert_int_equal(request.header_count, 7);
    }
    // A call after DONE consumes nothing and repeats DONE.
    uint32_t consumed = 99;
    assert_int_equal(tc_edge_http_parse(&request, input, size, &consumed), TC_EDGE_HTTP_DONE);
    assert_int_equal(consumed, 0);
}

struct parse_case {
    const char *text;
    enum tc_edge_http_status expected;
};

static void test_parse_errors(void **state) {
    (void)state;
    const struct parse_case cases[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", TC_EDGE_HTTP_DONE},
        {"GET /a?b=c HTTP/1.0\r\n\r\n", TC_EDGE_HTTP_DONE},
        {"GET / HTTP/1.1\r\nHost: a\r\n", TC_EDGE_HTTP_NEED_MORE},
        {"\r\nGET / HTTP/1.1\r\n\r\n", TC_EDGE_HTTP_REQUEST_LINE_INVALID},
        {"GET\r\n\r\n", TC_EDGE_HTTP_REQUEST_LINE_INVALID},
        {"GET /\r\n\r\n", TC_EDGE_HTTP_REQUEST_LINE_INVALID},
        {" GET / HTTP/1.1\r\n\r\n", TC_EDGE_HTTP_METHOD_INVALID},
        {"G(T / HTTP/1.1\r\n\r\n", TC_EDGE_HTTP_METHOD_INVALID},
        {"GET  / HTTP/1.1\r\n\r\n", TC_EDGE_HTTP_TARGET_INVALID},
        {"GET http://a/ HTTP/1.1\r\n\r\n", TC_EDGE_HTTP_TARGET_INVALID},
        {"GET * HTTP/1.1\r\n\r\n", TC_EDGE_HTTP_TARGET_INVALID},
        {"GET /a#b HTTP/1.1\r\n\r\n", TC_EDGE_HTTP_TARGET_INVALID},
        {"GET /\x80 HTTP/1.1\r\n\r\n", TC_EDGE_HTTP_TARGET_INVALID},
        {"GET / HTTP/1.1 \r\n\r\n", TC_EDGE_HTTP_VERSION_INVALID},
        {"GET / HTTP/1.x\r\n\r\n", TC_EDGE_HTTP_VERSION_INVALID},
        {"GET / http/1.1\r\n\r\n", TC_EDGE_HTTP_VERSION_INVALID},
        {"GET / HTTP/2.0\r\n\r\n", TC_EDGE_HTTP_VERSION_UNSUPPORTED},
        {"GET / HTTP/1.2\r\n\r\n", TC_EDGE_HTTP_VERSION_UNSUPPORTED},
        {"GET / HTTP/1.1\rX\n\r\n", TC_EDGE_HTTP_BARE_CR},
        {"GET / HTTP/1.1\n\r\n", TC_EDGE_HTTP_BARE_LF},
        {"GET / HTTP/1.1\r\nHost: a\n\r\n", TC_EDGE_HTTP_BARE_LF},
        {"GET / HTTP/1.1\r\nHost: a\r\n\n", TC_EDGE_HTTP_BARE_LF},
        {"GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", TC_EDGE_HTTP_FOLDING},
        {"GET / HTTP/1.1\r\nHost: a\r\n\tb\r\n\r\n", TC_EDGE_HTTP_FOLDING},
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", TC_EDGE_HTTP_HEADER_NAME_INVALID},
        {"GET / HTTP/1.1\r\n: a\r\n\r\n", TC_EDGE_HTTP_HEADER_NAME_INVALID},
        {"GET / HTTP/1.1\r\nHost a\r\n\r\n", TC_EDGE_HTTP_HEADER_NAME_INVALID},
        {"GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", TC_EDGE_HTTP_HEADER_NAME_INVALID},
        {"GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", TC_EDGE_HTTP_HEADER_VALUE_INVALID},
        {"GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", TC_EDGE_HTTP_HEADER_VALUE_INVALID},
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        enum tc_edge_http_status got = parse_text(cases[i].text);
        if (got != cases[i].expected) {
            fail_msg("case %u: got %s, expected %s", i, tc_edge_http_status_name(got),
                     tc_edge_http_status_name(cases[i].expected));
        }
    }
    // A NUL byte inside a value (strlen-based cases cannot carry it).
    const uint8_t nul[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
    struct tc_edge_http_limits limits;
    tc_edge_http_limits_default(&limits);
    uint32_t total;
    assert_int_equal(parse_chunked(&limits, nul, sizeof(nul) - 1, 1, &total),
                     TC_EDGE_HTTP_HEADER_VALUE_INVALID);
    // Errors are sticky.
    uint32_t consumed = 5;
    assert_int_equal(tc_edge_http_parse(&request, nul, 3, &consumed),
                     TC_EDGE_HTTP_HEADER_VALUE_INVALID);
    assert_int_equal(consumed, 0);
}

static void test_header_values_trimmed(void **state) {
    (void)state;
    assert_int_equal(parse_text("GET / HTTP/1.1\r\nHost:  \t a b \t\r\nX-Empty:\r\n"
                                "X-Obs: caf\xc3\xa9\r\n\r\n"),
                     TC_EDGE_HTTP_DONE);
    struct tc_edge_str value;
    assert_true(tc_edge_http_header_get(&request, "HOST", &value));
    assert_int_equal(value.size, 3);
    assert_memory_equal(value.data, "a b", 3);
    assert_true(tc_edge_http_header_get(&request, "x-empty", &value));
    assert_int_equal(value.size, 0);
    assert_true(tc_edge_http_header_get(&request, "X-Obs", &value)); // obs-text allowed
    assert_int_equal(value.size, 5);
    assert_false(tc_edge_http_header_get(&request, "X-Missing", &value));
    assert_int_equal(tc_edge_http_header_count(&request, "host"), 1);
}

static void test_limits(void **state) {
    (void)state;
    struct tc_edge_http_limits limits = {
        .head_size_max = 128, .line_size_max = 32, .header_count_max = 2};
    uint32_t total;
    // The request line at exactly the limit passes, one more byte is 414.
    char line[64];
    snprintf(line, sizeof(line), "GET /%s HTTP/1.1\r\n\r\n", "aaaaaaaaaaaaaaaaaa"); // 32 bytes
    assert_int_equal(strlen("GET /aaaaaaaaaaaaaaaaaa HTTP/1.1"), 32);
    assert_int_equal(parse_chunked(&limits, (const uint8_t *)line, (uint32_t)strlen(line), 1,
                                   &total),
                     TC_EDGE_HTTP_DONE);
    snprintf(line, sizeof(line), "GET /%s HTTP/1.1\r\n\r\n", "aaaaaaaaaaaaaaaaaaa");
    assert_int_equal(parse_chunked(&limits, (const uint8_t *)line, (uint32_t)strlen(line), 1,
                                   &total),
                     TC_EDGE_HTTP_REQUEST_LINE_TOO_LONG);
    assert_int_equal(total, 33); // refused on the first byte over, before the CRLF arrives
    const char *long_header = "GET / HTTP/1.1\r\nX: 0123456789012345678901234567890\r\n\r\n";
    assert_int_equal(parse_chunked(&limits, (const uint8_t *)long_header,
                                   (uint32_t)strlen(long_header), 7, &total),
                     TC_EDGE_HTTP_HEADER_LINE_TOO_LONG);
    const char *three = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_int_equal(parse_chunked(&limits, (const uint8_t *)three, (uint32_t)strlen(three), 3,
                                   &total),
                     TC_EDGE_HTTP_TOO_MANY_HEADERS);
    const char *big = "GET / HTTP/1.1\r\nA: 0123456789012345678901234\r\n"
                      "B: 0123456789012345678901234\r\nC";
    limits.header_count_max = 8;
    limits.head_size_max = 64;
    assert_int_equal(parse_chunked(&limits, (const uint8_t *)big, (uint32_t)strlen(big), 5,
                                   &total),
                     TC_EDGE_HTTP_HEAD_TOO_LARGE);
    assert_int_equal(total, 65);
    assert_int_equal(tc_edge_http_status_code(TC_EDGE_HTTP_HEAD_TOO_LARGE), 431);
    assert_int_equal(tc_edge_http_status_code(TC_EDGE_HTTP_REQUEST_LINE_TOO_LONG), 414);
    // Limits outside the compile-time maxima are programmer errors.
    limits.head_size_max = TC_EDGE_HTTP_HEAD_SIZE_MAX + 1;
    tc_assert_set_handler(assert_handler);
    expect_assert_failure(tc_edge_http_request_init(&request, &limits));
    tc_assert_set_handler(NULL);
}

// ------------------------------------------------------------------------------------------------
// Handshake checks.

static enum tc_edge_http_status upgrade_text(const char *text) {
    assert_int_equal(parse_text(text), TC_EDGE_HTTP_DONE);
    char accept[TC_EDGE_WS_ACCEPT_SIZE + 1];
    return tc_edge_http_upgrade_check(&request, accept);
}

#define WS_KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define WS_VERSION "Sec-WebSocket-Version: 13\r\n"
#define WS_UPGRADE "Upgrade: websocket\r\nConnection: Upgrade\r\n"

static void test_upgrade_refusals(void **state) {
    (void)state;
    const struct parse_case cases[] = {
        {"GET /v1/ws HTTP/1.1\r\nHost: h\r\n" WS_UPGRADE WS_VERSION WS_KEY "\r\n",
         TC_EDGE_HTTP_DONE},
        {"GET /v1/ws HTTP/1.1\r\nHost: h\r\nupgrade: WebSocket\r\n"
         "connection: keep-alive,  UPGRADE \r\n" WS_VERSION WS_KEY "\r\n",
         TC_EDGE_HTTP_DONE},
        {"GET /v1/ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
         "Connection: Upgrade\r\n" WS_VERSION WS_KEY "\r\n",
         TC_EDGE_HTTP_DONE},
        {"POST /v1/ws HTTP/1.1\r\nHost: h\r\n" WS_UPGRADE WS_VERSION WS_KEY "\r\n",
         TC_EDGE_HTTP_METHOD_NOT_ALLOWED},
        {"get /v1/ws HTTP/1.1\r\nHost: h\r\n" WS_UPGRADE WS_VERSION WS_KEY "\r\n",
         TC_EDGE_HTTP_METHOD_NOT_ALLOWED},
        {"GET /v1/ws HTTP/1.1\r\n" WS_UPGRADE WS_VERSION WS_KEY "\r\n", TC_EDGE_HTTP_HOST_INVALID},
        {"GET /v1/ws HTTP/1.1\r\nHost: h\r\nHost: i\r\n" WS_UPGRADE WS_VERSION WS_KEY "\r\n",
         TC_EDGE_HTTP_HOST_INVALID},
        {"GET /v1/ws HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n" WS_UPGRADE WS_VERSION WS_KEY
         "\r\n",
         TC_EDGE_HTTP_BODY_NOT_ALLOWED},
        {"GET /v1/ws HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 0\r\n" WS_UPGRADE
             WS_VERSION WS_KEY "\r\n",
         TC_EDGE_HTTP_BODY_NOT_ALLOWED},
        {"GET /v1/ws HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n" WS_UPGRADE WS_VERSION
             WS_KEY "\r\n",
         TC_EDGE_HTTP_BODY_NOT_ALLOWED},
        {"GET /v1/ws HTTP/1.0\r\nHost: h\r\n" WS_UPGRADE WS_VERSION WS_KEY "\r\n",
         TC_EDGE_HTTP_UPGRADE_REQUIRED},
        {"GET /v1/ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n" WS_VERSION WS_KEY "\r\n",
         TC_EDGE_HTTP_UPGRADE_REQUIRED},
        {"GET /v1/ws HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n" WS_VERSION
             WS_KEY "\r\n",
         TC_EDGE_HTTP_UPGRADE_REQUIRED},
        {"GET /v1/ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
             WS_VERSION WS_KEY "\r\n",
         TC_EDGE_HTTP_CONNECTION_NOT_UPGRADE},
        {"GET /v1/ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrades\r\n"
             WS_VERSION WS_KEY "\r\n",
         TC_EDGE_HTTP_CONNECTION_NOT_UPGRADE},
        {"GET /v1/ws HTTP/1.1\r\nHost: h\r\n" WS_UPGRADE WS_KEY "\r\n",
         TC_EDGE_HTTP_WS_VERSION_UNSUPPORTED},
        {"GET /v1/ws HTTP/1.1\r\nHost: h\r\n" WS_UPGRADE "Sec-WebSocket-Version: 8\r\n" WS_KEY
         "\r\n",
         TC_EDGE_HTTP_WS_VERSION_UNSUPPORTED},
        {"GET /v1/ws HTTP/1.1\r\nHost: h\r\n" WS_UPGRADE WS_VERSION WS_VERSION WS_KEY "\r\n",
         TC_EDGE_HTTP_WS_VERSION_UNSUPPORTED},
        {"GET /v1/ws HTTP/1.1\r\nHost: h\r\n" WS_UPGRADE WS_VERSION "\r\n",
         TC_EDGE_HTTP_WS_KEY_INVALID},
        {"GET /v1/ws HTTP/1.1\r\nHost: h\r\n" WS_UPGRADE WS_VERSION WS_KEY WS_KEY "\r\n",
         TC_EDGE_HTTP_WS_KEY_INVALID},
        {"GET /v1/ws HTTP/1.1\r\nHost: h\r\n" WS_UPGRADE WS_VERSION
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\n\r\n", // 15 bytes
         TC_EDGE_HTTP_WS_KEY_INVALID},
        {"GET /v1/ws HTTP/1.1\r\nHost: h\r\n" WS_UPGRADE WS_VERSION
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n\r\n", // non-canonical
         TC_EDGE_HTTP_WS_KEY_INVALID},
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        enum tc_edge_http_status got = upgrade_text(cases[i].text);
        if (got != cases[i].expected) {
            fail_msg("case %u: got %s, expected %s", i, tc_edge_http_status_name(got),
                     tc_edge_http_status_name(cases[i].expected));
        }
    }
    // A plain GET (e.g. /healthz over HTTP/1.0) passes the generic check.
    assert_int_equal(parse_text("GET /healthz HTTP/1.0\r\n\r\n"), TC_EDGE_HTTP_DONE);
    assert_int_equal(tc_edge_http_request_check(&request), TC_EDGE_HTTP_DONE);
}

// ------------------------------------------------------------------------------------------------
// Credentials.

// The largest token fits both places under the default limits.
static void test_largest_token(void **state) {
    (void)state;
    static char text[TC_EDGE_HTTP_HEAD_SIZE_MAX];
    static char token[TC_EDGE_HTTP_TOKEN_SIZE_MAX + 1];
    static char out[TC_EDGE_HTTP_TOKEN_SIZE_MAX + 1];
    memset(token, 'A', TC_EDGE_HTTP_TOKEN_SIZE_MAX);
    token[TC_EDGE_HTTP_TOKEN_SIZE_MAX] = '\0';
    for (uint32_t i = 0; i < 2; i++) {
        if (i == 0) {
            snprintf(text, sizeof(text),
                     "GET /v1/ws HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\n\r\n", token);
        } else {
            snprintf(text, sizeof(text), "GET /v1/ws?token=%s HTTP/1.1\r\nHost: h\r\n\r\n", token);
        }
        assert_int_equal(parse_text(text), TC_EDGE_HTTP_DONE);
        uint32_t size = 0;
        assert_int_equal(tc_edge_http_credentials(&request, out, sizeof(out), &size), TC_OK);
        assert_int_equal(size, TC_EDGE_HTTP_TOKEN_SIZE_MAX);
        assert_int_equal(tc_edge_http_credentials(&request, out, sizeof(out) - 1, &size),
                         TC_ENOSPC);
    }
}

static void test_query_and_credentials(void **state) {
    (void)state;
    char out[64];
    uint32_t size = 0;
    assert_int_equal(parse_text("GET /v1/ws?a=1&token=ab%2Ec+d&x HTTP/1.1\r\nHost: h\r\n\r\n"),
                     TC_EDGE_HTTP_DONE);
    assert_true(tc_edge_http_path_equal(&request, "/v1/ws"));
    assert_int_equal(tc_edge_http_query_get(&request, "token", out, sizeof(out), &size), TC_OK);
    assert_string_equal(out, "ab.c d");
    assert_int_equal(size, 6);
    assert_int_equal(tc_edge_http_query_get(&request, "x", out, sizeof(out), &size), TC_OK);
    assert_int_equal(size, 0);
    assert_int_equal(tc_edge_http_query_get(&request, "tok", out, sizeof(out), &size), TC_ENOENT);
    assert_int_equal(tc_edge_http_query_get(&request, "token", out, 6, &size), TC_ENOSPC);
    assert_int_equal(tc_edge_http_credentials(&request, out, sizeof(out), &size), TC_OK);
    assert_string_equal(out, "ab.c d");

    const struct {
        const char *text;
        int expected;
        const char *token;
    } cases[] = {
        {"GET /v1/ws HTTP/1.1\r\nAuthorization: Bearer abc.def.ghi\r\n\r\n", TC_OK, "abc.def.ghi"},
        {"GET /v1/ws HTTP/1.1\r\nAuthorization: bearer   t\r\n\r\n", TC_OK, "t"},
        {"GET /v1/ws?token=q HTTP/1.1\r\n\r\n", TC_OK, "q"},
        {"GET /v1/ws HTTP/1.1\r\n\r\n", TC_ENOENT, NULL},
        {"GET /v1/ws? HTTP/1.1\r\n\r\n", TC_ENOENT, NULL},
        {"GET /v1/ws?token=a&token=b HTTP/1.1\r\n\r\n", TC_EEXIST, NULL},
        {"GET /v1/ws?token=a HTTP/1.1\r\nAuthorization: Bearer a\r\n\r\n", TC_EEXIST, NULL},
        {"GET /v1/ws HTTP/1.1\r\nAuthorization: Bearer a\r\nAuthorization: Bearer a\r\n\r\n",
         TC_EEXIST, NULL},
        {"GET /v1/ws HTTP/1.1\r\nAuthorization: Basic YTpi\r\n\r\n", TC_EINVAL, NULL},
        {"GET /v1/ws HTTP/1.1\r\nAuthorization: Bearer\r\n\r\n", TC_EINVAL, NULL},
        {"GET /v1/ws HTTP/1.1\r\nAuthorization: Bearer  \r\n\r\n", TC_EINVAL, NULL},
        {"GET /v1/ws HTTP/1.1\r\nAuthorization: Bearer a b\r\n\r\n", TC_EINVAL, NULL},
        {"GET /v1/ws?token=a%2 HTTP/1.1\r\n\r\n", TC_EINVAL, NULL},
        {"GET /v1/ws?token=a%zz HTTP/1.1\r\n\r\n", TC_EINVAL, NULL},
        {"GET /v1/ws?token=a%00 HTTP/1.1\r\n\r\n", TC_EINVAL, NULL},
        {"GET /v1/ws?token=0123456789012345678901234567890123456789012345678901234567890123"
         " HTTP/1.1\r\n\r\n",
         TC_ENOSPC, NULL},
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        assert_int_equal(parse_text(cases[i].text), TC_EDGE_HTTP_DONE);
        int got = tc_edge_http_credentials(&request, out, sizeof(out), &size);
        if (got != cases[i].expected) fail_msg("case %u: got %d", i, got);
        if (cases[i].token != NULL) assert_string_equal(out, cases[i].token);
    }
}

// ------------------------------------------------------------------------------------------------
// Responses.

static void test_responses(void **state) {
    (void)state;
    char out[1024];
    int32_t size = tc_edge_http_write_error(out, sizeof(out), 401, 110, "auth_failed",
                                            "invalid token", 0);
    assert_true(size > 0);
    out[size] = '\0';
    assert_non_null(strstr(out, "HTTP/1.1 401 Unauthorized\r\n"));
    assert_non_null(strstr(out, "WWW-Authenticate: Bearer realm=\"tigerchat\""));
    assert_non_null(strstr(out, "Connection: close\r\n"));
    const char *body = "{\"error\":{\"code\":110,\"name\":\"auth_failed\","
                       "\"message\":\"invalid token\"}}\n";
    char length[64];
    snprintf(length, sizeof(length), "Content-Length: %zu\r\n", strlen(body));
    assert_non_null(strstr(out, length));
    assert_string_equal(strstr(out, "\r\n\r\n") + 4, body);
    // Every shorter buffer is refused, never overrun.
    for (uint32_t n = 0; n < (uint32_t)size; n++) {
        assert_int_equal(tc_edge_http_write_error(out, n, 401, 110, "auth_failed",
                                                  "invalid token", 0),
                         TC_ENOSPC);
    }
    size = tc_edge_http_write_error(out, sizeof(out), 429, 120, "rate_limited", "slow down", 3);
    out[size] = '\0';
    assert_non_null(strstr(out, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\n"));
    size = tc_edge_http_write_error(out, sizeof(out), 503, 140, "server_busy", "busy", 0);
    out[size] = '\0';
    assert_null(strstr(out, "Retry-After"));
    size = tc_edge_http_write_status(out, sizeof(out), TC_EDGE_HTTP_WS_VERSION_UNSUPPORTED);
    out[size] = '\0';
    assert_non_null(strstr(out, "HTTP/1.1 426 Upgrade Required\r\n"));
    assert_non_null(strstr(out, "Sec-WebSocket-Version: 13\r\n"));
    assert_non_null(strstr(out, "\"name\":\"upgrade_required\""));
    size = tc_edge_http_write_status(out, sizeof(out), TC_EDGE_HTTP_METHOD_NOT_ALLOWED);
    out[size] = '\0';
    assert_non_null(strstr(out, "Allow: GET\r\n"));
    size = tc_edge_http_write_error(out, sizeof(out), 404, 404, "not_found", "no such path", 0);
    out[size] = '\0';
    assert_non_null(strstr(out, "HTTP/1.1 404 Not Found\r\n"));
    size = tc_edge_http_write_text(out, sizeof(out), 200, "ok\n");
    out[size] = '\0';
    assert_string_equal(out, "HTTP/1.1 200 OK\r\nConnection: close\r\nCache-Control: no-store\r\n"
                             "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n"
                             "\r\nok\n");
    // Every refusal status has a response.
    for (uint32_t s = TC_EDGE_HTTP_REQUEST_LINE_INVALID; s < TC_EDGE_HTTP_STATUS_COUNT; s++) {
        assert_true(tc_edge_http_write_status(out, sizeof(out), (enum tc_edge_http_status)s) > 0);
    }
    // Server-made strings that would need escaping are programmer errors.
    tc_assert_set_handler(assert_handler);
    expect_assert_failure(tc_edge_http_write_error(out, sizeof(out), 400, 400, "a\"b", "m", 0));
    expect_assert_failure(tc_edge_http_write_text(out, sizeof(out), 302, "x"));
    tc_assert_set_handler(NULL);
}

// ------------------------------------------------------------------------------------------------
// Deterministic fuzz: mutated requests, fed whole and in random chunks, must give one status and
// one consumed count whatever the split, and never crash or read out of bounds (ASan).

static uint32_t mutate(struct tc_prng *prng, uint8_t *buffer, uint32_t size, uint32_t capacity) {
    static const uint8_t interesting[] = {'\r', '\n', ' ', '\t', ':', 0, 0x7f, 0x80, 0xff, '?'};
    uint32_t mutations = (uint32_t)tc_prng_range(prng, 1, 4);
    for (uint32_t m = 0; m < mutations && size > 0; m++) {
        uint32_t at = (uint32_t)tc_prng_below(prng, size);
        switch (tc_prng_below(prng, 4)) {
        case 0: buffer[at] = (uint8_t)tc_prng_next(prng); break;
        case 1: buffer[at] = interesting[tc_prng_below(prng, sizeof(interesting))]; break;
        case 2: // delete
            memmove(buffer + at, buffer + at + 1, size - at - 1);
            size--;
            break;
        default: // duplicate a run
            if (size + 16 <= capacity) {
                memmove(buffer + at + 16, buffer + at, size - at);
                size += 16;
            }
            break;
        }
    }
    return size;
}

static void test_fuzz(void **state) {
    (void)state;
    struct tc_prng prng;
    tc_prng_init(&prng, 0xed6e0001u);
    struct tc_edge_http_limits limits = {
        .head_size_max = 512, .line_size_max = 96, .header_count_max = 8};
    static uint8_t buffer[1024];
    uint32_t done = 0;
    for (uint32_t iteration = 0; iteration < 100000; iteration++) {
        uint32_t size = (uint32_t)strlen(rfc_request);
        memcpy(buffer, rfc_request, size);
        size = mutate(&prng, buffer, size, sizeof(buffer));
        uint32_t whole_total;
        enum tc_edge_http_status whole =
            parse_chunked(&limits, buffer, size, size == 0 ? 1 : size, &whole_total);
        uint32_t chunk = (uint32_t)tc_prng_range(&prng, 1, 64);
        uint32_t total;
        enum tc_edge_http_status chunked = parse_chunked(&limits, buffer, size, chunk, &total);
        assert_int_equal(whole, chunked);
        assert_int_equal(whole_total, total);
        if (chunked == TC_EDGE_HTTP_DONE) {
            done++;
            char accept[TC_EDGE_WS_ACCEPT_SIZE + 1];
            (void)tc_edge_http_upgrade_check(&request, accept);
            char token[64];
            uint32_t token_size;
            (void)tc_edge_http_credentials(&request, token, sizeof(token), &token_size);
        }
    }
    assert_true(done > 1000); // the mutations leave some requests whole
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1_fips_vectors),
        cmocka_unit_test(test_base64_vectors),
        cmocka_unit_test(test_base64_refusals),
        cmocka_unit_test(test_decimal_and_hex),
        cmocka_unit_test(test_rfc_handshake),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_header_values_trimmed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_upgrade_refusals),
        cmocka_unit_test(test_largest_token),
        cmocka_unit_test(test_query_and_credentials),
        cmocka_unit_test(test_responses),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
