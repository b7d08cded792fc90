// Unit tests of the WebSocket edge's connection layer (node/server/ws_server*.c) and the admin
// HTTP server (node/server/admin_server.c) over real sockets on 127.0.0.1 (port 0). The server
// runs on this thread: the test client uses plain sockets (or OpenSSL's client over them, for
// the TLS transport of node/server/ws_tls.c) and, whenever it waits for bytes, polls the
// server's loop (and ticks it) in between, with a deadline on every wait.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "admin_server.h"
#include "edge_jwt.h"
#include "edge_ws.h"
#include "io_linux.h"
#include "loop.h"
#include "tc_err.h"
#include "tc_prng.h"
#include "tls_fixture.h"
#include "ws_server.h"
#include "ws_tls.h"

#define SECRET "0123456789abcdef0123456789abcdef"
#define NOW_S 1700000000u
#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" // RFC 6455 §1.3 for KEY
#define WAIT_MS 3000u
#define CLIENTS_MAX 8u
#define CLIENT_BUFFER (1u << 16)
#define RECORD_MAX 256u

// ------------------------------------------------------------------------------------------------
// Fixture: one loop, one ws server, maybe an admin server, a recorder of callbacks.

static struct tc_loop loop;
static struct tc_ws_server server;
static bool server_started;
static struct tc_admin_server admin;
static bool admin_started;
static struct tc_ws_tls *tls; // the server's TLS transport, when a test starts one
static uint64_t offset_ms; // added to the monotonic clock: tests move time forward
static uint64_t now_s = NOW_S;

static struct {
    uint32_t opens;
    uint64_t open_ids[RECORD_MAX];
    uint64_t open_users[RECORD_MAX];
    char peer_ip[TC_SERVER_NET_IP_TEXT_SIZE];
    uint32_t texts;
    char last_text[256];
    uint32_t closes;
    uint64_t closed_ids[RECORD_MAX];
    bool close_unknown_or_twice;
    bool echo;
} record;

static uint64_t test_now_s(void *context) {
    (void)context;
    return now_s;
}

static void on_open(void *context, uint64_t conn_id, const struct tc_edge_jwt_claims *claims,
                    const char *peer_ip) {
    (void)context;
    if (record.opens < RECORD_MAX) {
        record.open_ids[record.opens] = conn_id;
        record.open_users[record.opens] = claims->user;
    }
    record.opens += 1;
    (void)snprintf(record.peer_ip, sizeof(record.peer_ip), "%s", peer_ip);
}

static void on_text(void *context, uint64_t conn_id, const uint8_t *data, uint32_t size) {
    (void)context;
    record.texts += 1;
    const uint32_t copy = size < sizeof(record.last_text) - 1 ? size : sizeof(record.last_text) - 1;
    memcpy(record.last_text, data, copy);
    record.last_text[copy] = '\0';
    if (size == 8 && memcmp(data, "close-me", 8) == 0) {
        // Re-entrancy: close this very connection from inside its own on_text.
        assert_int_equal(tc_ws_server_close(&server, conn_id, 4000, "bye"), TC_OK);
        assert_int_equal(tc_ws_server_send_text(&server, conn_id, "x", 1), TC_ENOENT);
        return;
    }
    if (record.echo) {
        assert_int_equal(tc_ws_server_send_text(&server, conn_id, (const char *)data, size), TC_OK);
    }
}

static void on_close(void *context, uint64_t conn_id) {
    (void)context;
    bool opened = false;
    for (uint32_t i = 0; i < record.opens && i < RECORD_MAX; i++) {
        if (record.open_ids[i] == conn_id) opened = true;
    }
    for (uint32_t i = 0; i < record.closes && i < RECORD_MAX; i++) {
        if (record.closed_ids[i] == conn_id) opened = false;
    }
    if (!opened) record.close_unknown_or_twice = true;
    if (record.closes < RECORD_MAX) record.closed_ids[record.closes] = conn_id;
    record.closes += 1;
}

static uint64_t clock_ms(void) {
    return tc_io_linux_monotonic_ns() / 1000000u + offset_ms;
}

// Polls the loop once (up to 1 ms) and runs the timers.
static void pump_once(void) {
    (void)tc_loop_poll(&loop, 1);
    const uint64_t now_ms = clock_ms();
    if (server_started) tc_ws_server_tick(&server, now_ms);
    if (admin_started) tc_admin_server_tick(&admin, now_ms);
}

static void pump(uint32_t duration_ms) {
    const uint64_t deadline = tc_io_linux_monotonic_ns() / 1000000u + duration_ms;
    while (tc_io_linux_monotonic_ns() / 1000000u < deadline) pump_once();
}

static void options_test(struct tc_ws_server_options *options) {
    tc_ws_server_options_default(options);
    options->loop = &loop;
    options->listen_address = "127.0.0.1:0";
    options->connections_max = 4;
    options->connections_per_user_max = 4;
    options->message_size_max = 1024;
    options->frame_size_max = 1024;
    options->send_buffer_bytes = 8192;
    options->jwt.alg = TC_EDGE_JWT_HS256;
    memcpy(options->jwt.key, SECRET, 32);
    options->jwt.key_size = 32;
    options->jwt.leeway_s = 0;
    options->now_s = test_now_s;
    options->on_open = on_open;
    options->on_text = on_text;
    options->on_close = on_close;
}

static void start(const struct tc_ws_server_options *options) {
    const int result = tc_ws_server_init(&server, options);
    if (result != TC_OK) fprintf(stderr, "init: %s\n", server.error);
    assert_int_equal(result, TC_OK);
    assert_true(tc_ws_server_port(&server) != 0);
    server_started = true;
}

static void start_default(void) {
    struct tc_ws_server_options options;
    options_test(&options);
    start(&options);
}

// ------------------------------------------------------------------------------------------------
// The test client.

struct client {
    int fd;
    SSL *ssl; // NULL: plain TCP
    bool eof;
    uint32_t used;
    uint8_t buffer[CLIENT_BUFFER];
};

static struct client clients[CLIENTS_MAX];

static int setup(void **state) {
    (void)state;
    memset(&record, 0, sizeof(record));
    offset_ms = 0;
    now_s = NOW_S;
    server_started = false;
    admin_started = false;
    tls = NULL;
    for (uint32_t i = 0; i < CLIENTS_MAX; i++) clients[i].fd = -1;
    assert_int_equal(tc_loop_init(&loop), TC_OK);
    return 0;
}

static void client_close(struct client *client) {
    SSL_free(client->ssl); // NULL is fine
    client->ssl = NULL;
    close(client->fd);
    client->fd = -1;
}

static int teardown(void **state) {
    (void)state;
    for (uint32_t i = 0; i < CLIENTS_MAX; i++) {
        if (clients[i].fd >= 0) client_close(&clients[i]);
    }
    if (server_started) tc_ws_server_deinit(&server);
    tc_ws_tls_destroy(tls); // after the server: its connections hold SSL objects
    tls = NULL;
    if (admin_started) tc_admin_server_deinit(&admin);
    server_started = false;
    admin_started = false;
    tc_loop_deinit(&loop);
    return 0;
}

static struct client *client_connect_port(uint16_t port, int receive_buffer) {
    struct client *client = NULL;
    for (uint32_t i = 0; i < CLIENTS_MAX && client == NULL; i++) {
        if (clients[i].fd < 0) client = &clients[i];
    }
    assert_non_null(client);
    client->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(client->fd >= 0);
    client->ssl = NULL;
    client->eof = false;
    client->used = 0;
    const struct timeval timeout = {.tv_sec = 2};
    assert_int_equal(setsockopt(client->fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout)), 0);
    if (receive_buffer > 0) {
        assert_int_equal(setsockopt(client->fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer,
                                    sizeof(receive_buffer)),
                         0);
    }
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(client->fd, (struct sockaddr *)&address, sizeof(address)), 0);
    return client;
}

static struct client *client_connect(void) {
    return client_connect_port(tc_ws_server_port(&server), 0);
}

static uint64_t wall_ms(void) {
    return tc_io_linux_monotonic_ns() / 1000000u;
}

// OpenSSL's client on a non-blocking socket: WANT_READ/WANT_WRITE mean "let the server run".
static void client_tls_send(struct client *client, const void *data, size_t size) {
    const uint64_t deadline = wall_ms() + WAIT_MS;
    size_t at = 0;
    while (at < size) {
        assert_true(wall_ms() < deadline);
        ERR_clear_error();
        const int written = SSL_write(client->ssl, (const uint8_t *)data + at, (int)(size - at));
        if (written > 0) {
            at += (size_t)written;
            continue;
        }
        const int error = SSL_get_error(client->ssl, written);
        assert_true(error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE);
        pump_once();
    }
}

static void client_send(struct client *client, const void *data, size_t size) {
    if (client->ssl != NULL) {
        client_tls_send(client, data, size);
        return;
    }
    const ssize_t sent = send(client->fd, data, size, MSG_NOSIGNAL);
    assert_int_equal(sent, (ssize_t)size);
}

// One SSL_read into the client's buffer: 1 with bytes, 0 when it would block, -1 at the end
// (close_notify, a reset, a TLS error).
static int client_tls_receive(struct client *client) {
    ERR_clear_error();
    const int got = SSL_read(client->ssl, client->buffer + client->used,
                             (int)(CLIENT_BUFFER - client->used));
    if (got > 0) {
        client->used += (uint32_t)got;
        return 1;
    }
    const int error = SSL_get_error(client->ssl, got);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return 0;
    ERR_clear_error();
    return -1;
}

// Waits (polling the server) until at least one more byte arrived; false at end of stream or
// after the deadline.
static bool client_fill(struct client *client, uint32_t timeout_ms) {
    assert_true(client->used < CLIENT_BUFFER);
    const uint64_t deadline = tc_io_linux_monotonic_ns() / 1000000u + timeout_ms;
    while (tc_io_linux_monotonic_ns() / 1000000u < deadline) {
        if (client->ssl != NULL) {
            const int received = client_tls_receive(client);
            if (received > 0) return true;
            if (received < 0) {
                client->eof = true;
                return false;
            }
            pump_once();
            continue;
        }
        const ssize_t got = recv(client->fd, client->buffer + client->used,
                                 CLIENT_BUFFER - client->used, MSG_DONTWAIT);
        if (got > 0) {
            client->used += (uint32_t)got;
            return true;
        }
        if (got == 0 || (got < 0 && errno == ECONNRESET)) {
            client->eof = true;
            return false;
        }
        pump_once();
    }
    return false;
}

static void client_consume(struct client *client, uint32_t size) {
    assert_true(size <= client->used);
    memmove(client->buffer, client->buffer + size, client->used - size);
    client->used -= size;
}

struct http_answer {
    int status;
    char head[2048];
    char body[1024];
    uint32_t body_size;
};

// Reads one response: head, then Content-Length bytes of body.
static void client_read_http(struct client *client, struct http_answer *answer) {
    memset(answer, 0, sizeof(*answer));
    uint8_t *end = NULL;
    while ((end = memmem(client->buffer, client->used, "\r\n\r\n", 4)) == NULL) {
        assert_true(client_fill(client, WAIT_MS));
    }
    const uint32_t head_size = (uint32_t)(end - client->buffer) + 4;
    assert_true(head_size < sizeof(answer->head));
    memcpy(answer->head, client->buffer, head_size);
    assert_int_equal(sscanf(answer->head, "HTTP/1.1 %d ", &answer->status), 1);
    uint32_t length = 0;
    const char *length_header = strstr(answer->head, "Content-Length: ");
    if (length_header != NULL) length = (uint32_t)strtoul(length_header + 16, NULL, 10);
    assert_true(length < sizeof(answer->body));
    while (client->used < head_size + length) assert_true(client_fill(client, WAIT_MS));
    memcpy(answer->body, client->buffer + head_size, length);
    answer->body_size = length;
    client_consume(client, head_size + length);
}

// Reads (and drops) until the server ends the stream, then closes the client's socket.
static void client_expect_eof(struct client *client) {
    while (!client->eof) {
        client->used = 0;
        if (!client_fill(client, WAIT_MS)) break;
    }
    assert_true(client->eof);
    client_close(client);
}

static void client_request(struct client *client, const char *path, const char *token) {
    char request[4096];
    int size;
    if (token == NULL) {
        size = snprintf(request, sizeof(request),
                        "GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n",
                        path);
    } else {
        size = snprintf(request, sizeof(request),
                        "GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
                        "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n",
                        path, token);
    }
    assert_true(size > 0 && (size_t)size < sizeof(request));
    client_send(client, request, (size_t)size);
}

static void token_mint(char *out, uint32_t out_size, uint64_t user, uint64_t exp_s) {
    struct tc_edge_jwt_signer signer = {.alg = TC_EDGE_JWT_HS256, .key_size = 32};
    memcpy(signer.key, SECRET, 32);
    struct tc_edge_jwt_claims claims;
    memset(&claims, 0, sizeof(claims));
    claims.user = user;
    claims.exp_s = exp_s;
    claims.rooms_all = true;
    assert_true(tc_edge_jwt_mint(&signer, &claims, out, out_size) > 0);
}

// Upgrades a connected client as `user` and checks the 101.
static void client_upgrade(struct client *client, uint64_t user) {
    char token[1024];
    token_mint(token, sizeof(token), user, NOW_S + 3600);
    client_request(client, "/v1/ws", token);
    struct http_answer answer;
    client_read_http(client, &answer);
    assert_int_equal(answer.status, 101);
    assert_non_null(strstr(answer.head, "Sec-WebSocket-Accept: " ACCEPT "\r\n"));
    assert_non_null(strstr(answer.head, "Upgrade: websocket\r\n"));
}

static struct client *client_open(uint64_t user) {
    struct client *client = client_connect();
    client_upgrade(client, user);
    return client;
}

static void client_frame(struct client *client, enum tc_edge_ws_opcode opcode, bool fin,
                         const void *payload, uint32_t size) {
    static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    uint8_t frame[4096];
    const int32_t frame_size = tc_edge_ws_frame_write_masked(frame, sizeof(frame), opcode, fin,
                                                             mask, payload, size);
    assert_true(frame_size > 0);
    client_send(client, frame, (size_t)frame_size);
}

struct frame {
    uint8_t opcode;
    uint32_t size;
    uint8_t payload[CLIENT_BUFFER];
};

// Reads one server frame (final, unmasked, as the server writes them); false on end of stream.
static bool client_read_frame(struct client *client, struct frame *frame) {
    for (;;) {
        if (client->used >= 2) {
            assert_int_equal(client->buffer[0] & 0x70, 0); // no reserved bit
            assert_int_equal(client->buffer[1] & 0x80, 0); // server frames are not masked
            assert_true(client->buffer[0] & 0x80);        // FIN: the server never fragments
            uint32_t header = 2;
            uint64_t size = client->buffer[1] & 0x7f;
            if (size == 126) header = 4;
            if (size == 127) header = 10;
            if (client->used >= header) {
                if (header == 4) size = (uint64_t)client->buffer[2] << 8 | client->buffer[3];
                if (header == 10) {
                    size = 0;
                    for (uint32_t i = 0; i < 8; i++) size = size << 8 | client->buffer[2 + i];
                }
                assert_true(size <= CLIENT_BUFFER - header);
                if (client->used >= header + size) {
                    frame->opcode = client->buffer[0] & 0x0f;
                    frame->size = (uint32_t)size;
                    memcpy(frame->payload, client->buffer + header, (size_t)size);
                    client_consume(client, header + (uint32_t)size);
                    return true;
                }
            }
        }
        if (!client_fill(client, WAIT_MS)) return false;
    }
}

// Reads frames up to the server's close frame; returns its code. Text frames before it are
// kept in `text` (the last one).
static uint16_t client_read_close(struct client *client, char *text, uint32_t text_size) {
    static struct frame frame;
    while (client_read_frame(client, &frame)) {
        if (frame.opcode == TC_EDGE_WS_OP_TEXT && text != NULL) {
            const uint32_t copy = frame.size < text_size - 1 ? frame.size : text_size - 1;
            memcpy(text, frame.payload, copy);
            text[copy] = '\0';
        }
        if (frame.opcode == TC_EDGE_WS_OP_CLOSE) {
            assert_true(frame.size >= 2);
            return (uint16_t)(frame.payload[0] << 8 | frame.payload[1]);
        }
    }
    fail_msg("no close frame");
    return 0;
}

static void wait_for(const uint32_t *counter, uint32_t value) {
    const uint64_t deadline = tc_io_linux_monotonic_ns() / 1000000u + WAIT_MS;
    while (*counter < value && tc_io_linux_monotonic_ns() / 1000000u < deadline) pump_once();
    assert_int_equal(*counter, value);
}

static void wait_connections(uint32_t value) {
    const uint64_t deadline = tc_io_linux_monotonic_ns() / 1000000u + WAIT_MS;
    while (tc_ws_server_connections(&server) != value &&
           tc_io_linux_monotonic_ns() / 1000000u < deadline) {
        pump_once();
    }
    assert_int_equal(tc_ws_server_connections(&server), value);
}

// ------------------------------------------------------------------------------------------------
// Handshake.

static void test_upgrade(void **state) {
    (void)state;
    start_default();
    struct client *client = client_open(42);
    wait_for(&record.opens, 1);
    assert_int_equal(record.open_users[0], 42);
    assert_string_equal(record.peer_ip, "127.0.0.1");
    assert_int_equal(tc_ws_server_stats(&server)->handshakes, 1);
    assert_int_equal(tc_ws_server_stats(&server)->connections_open, 1);
    (void)client;
}

static void expect_refusal(const char *path, const char *token, int status, const char *body) {
    struct client *client = client_connect();
    client_request(client, path, token);
    struct http_answer answer;
    client_read_http(client, &answer);
    assert_int_equal(answer.status, status);
    assert_non_null(strstr(answer.head, "Connection: close\r\n"));
    if (body != NULL) {
        if (strstr(answer.body, body) == NULL) fail_msg("body %s lacks %s", answer.body, body);
        assert_non_null(strstr(answer.head, "Content-Type: application/json\r\n"));
    }
    client_expect_eof(client);
}

static void test_missing_token(void **state) {
    (void)state;
    start_default();
    expect_refusal("/v1/ws", NULL, 401,
                   "{\"error\":{\"code\":110,\"name\":\"auth_failed\",\"message\":");
    assert_int_equal(tc_ws_server_stats(&server)->http_401, 1);
    assert_int_equal(record.opens, 0);
}

static void test_expired_token(void **state) {
    (void)state;
    start_default();
    char token[1024];
    token_mint(token, sizeof(token), 42, NOW_S - 10);
    expect_refusal("/v1/ws", token, 401, "\"code\":111,\"name\":\"token_expired\"");
    // A token signed with another secret: auth_failed, whatever the precise reason.
    char forged[1024];
    token_mint(forged, sizeof(forged), 42, NOW_S + 60);
    forged[strlen(forged) - 2] = forged[strlen(forged) - 2] == 'A' ? 'B' : 'A';
    expect_refusal("/v1/ws", forged, 401, "\"code\":110");
    assert_int_equal(record.opens, 0);
}

static void test_wrong_path(void **state) {
    (void)state;
    start_default();
    expect_refusal("/v1/nope", NULL, 404, "\"code\":404,\"name\":\"not_found\"");
    // A malformed head: the parser's precise reason in the body.
    struct client *client = client_connect();
    client_send(client, "GET /v1/ws HTTP/1.1\nHost: x\r\n\r\n", 30);
    struct http_answer answer;
    client_read_http(client, &answer);
    assert_int_equal(answer.status, 400);
    assert_non_null(strstr(answer.body, "bare_lf"));
    client_expect_eof(client);
}

static void test_healthz(void **state) {
    (void)state;
    start_default();
    struct client *client = client_connect();
    client_send(client, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35);
    struct http_answer answer;
    client_read_http(client, &answer);
    assert_int_equal(answer.status, 200);
    assert_string_equal(answer.body, "ok\n");
    client_expect_eof(client);
    struct client *open = client_open(7);
    tc_ws_server_drain(&server);
    client = client_connect();
    client_send(client, "GET /healthz HTTP/1.0\r\n\r\n", 25);
    client_read_http(client, &answer);
    assert_int_equal(answer.status, 503);
    expect_refusal("/v1/ws", NULL, 503, "\"code\":140,\"name\":\"server_busy\"");
    // SIGTERM: every open WebSocket gets 1001.
    tc_ws_server_close_all(&server, 1001, "going away");
    assert_int_equal(client_read_close(open, NULL, 0), 1001);
    wait_for(&record.closes, 1);
}

// ------------------------------------------------------------------------------------------------
// Frames.

static void test_echo(void **state) {
    (void)state;
    start_default();
    record.echo = true;
    struct client *client = client_open(42);
    client_frame(client, TC_EDGE_WS_OP_TEXT, true, "hello", 5);
    static struct frame frame;
    assert_true(client_read_frame(client, &frame));
    assert_int_equal(frame.opcode, TC_EDGE_WS_OP_TEXT);
    assert_int_equal(frame.size, 5);
    assert_memory_equal(frame.payload, "hello", 5);
    // A fragmented message, with a ping between the fragments.
    client_frame(client, TC_EDGE_WS_OP_TEXT, false, "wor", 3);
    client_frame(client, TC_EDGE_WS_OP_PING, true, "p", 1);
    client_frame(client, TC_EDGE_WS_OP_CONTINUATION, true, "ld", 2);
    assert_true(client_read_frame(client, &frame));
    assert_int_equal(frame.opcode, TC_EDGE_WS_OP_PONG);
    assert_true(client_read_frame(client, &frame));
    assert_int_equal(frame.opcode, TC_EDGE_WS_OP_TEXT);
    assert_int_equal(frame.size, 5);
    assert_memory_equal(frame.payload, "world", 5);
    assert_int_equal(record.texts, 2);
}

static void expect_violation(const void *frame_bytes, uint32_t size, uint16_t code) {
    start_default();
    struct client *client = client_open(42);
    client_send(client, frame_bytes, size);
    assert_int_equal(client_read_close(client, NULL, 0), code);
    // Answer like a client: the server ends TCP once the handshake is done (or, after a
    // violation it cannot parse past, once it reads end of stream).
    const uint8_t echo[2] = {(uint8_t)(code >> 8), (uint8_t)(code & 0xff)};
    client_frame(client, TC_EDGE_WS_OP_CLOSE, true, echo, 2);
    client_expect_eof(client);
    wait_for(&record.closes, 1);
    assert_false(record.close_unknown_or_twice);
    assert_int_equal(record.texts, 0);
}

static void test_binary(void **state) {
    (void)state;
    static const uint8_t mask[4] = {1, 2, 3, 4};
    uint8_t frame[64];
    const int32_t size =
        tc_edge_ws_frame_write_masked(frame, sizeof(frame), TC_EDGE_WS_OP_BINARY, true, mask,
                                      (const uint8_t *)"\x01\x02", 2);
    expect_violation(frame, (uint32_t)size, 1003);
    assert_int_equal(tc_ws_server_stats(&server)->close_1003, 1);
}

static void test_invalid_utf8(void **state) {
    (void)state;
    static const uint8_t mask[4] = {1, 2, 3, 4};
    uint8_t frame[64];
    const int32_t size = tc_edge_ws_frame_write_masked(
        frame, sizeof(frame), TC_EDGE_WS_OP_TEXT, true, mask, (const uint8_t *)"a\xc0\xaf", 3);
    expect_violation(frame, (uint32_t)size, 1007);
}

static void test_unmasked(void **state) {
    (void)state;
    uint8_t frame[64];
    const int32_t size = tc_edge_ws_frame_write(frame, sizeof(frame), TC_EDGE_WS_OP_TEXT, true,
                                                (const uint8_t *)"hi", 2);
    expect_violation(frame, (uint32_t)size, 1002);
}

static void test_oversized(void **state) {
    (void)state;
    start_default(); // message_size_max 1024
    struct client *client = client_open(42);
    static char big[2000];
    memset(big, 'a', sizeof(big));
    client_frame(client, TC_EDGE_WS_OP_TEXT, true, big, sizeof(big));
    char text[256] = "";
    assert_int_equal(client_read_close(client, text, sizeof(text)), 1009);
    assert_non_null(strstr(text, "\"type\":\"error\""));
    assert_non_null(strstr(text, "\"code\":105,\"error\":\"frame_too_large\""));
    client_expect_eof(client);
    wait_for(&record.closes, 1);
    assert_int_equal(record.texts, 0);
}

static void test_ping_pong(void **state) {
    (void)state;
    struct tc_ws_server_options options;
    options_test(&options);
    options.ping_interval_ms = 1000;
    start(&options);
    struct client *client = client_open(42);
    client_frame(client, TC_EDGE_WS_OP_PING, true, "abc", 3);
    static struct frame frame;
    assert_true(client_read_frame(client, &frame));
    assert_int_equal(frame.opcode, TC_EDGE_WS_OP_PONG);
    assert_int_equal(frame.size, 3);
    assert_memory_equal(frame.payload, "abc", 3);
    // The server's keepalive ping after ping_interval_ms.
    offset_ms += 1500;
    assert_true(client_read_frame(client, &frame));
    assert_int_equal(frame.opcode, TC_EDGE_WS_OP_PING);
    client_frame(client, TC_EDGE_WS_OP_PONG, true, frame.payload, frame.size);
    const uint64_t deadline = tc_io_linux_monotonic_ns() / 1000000u + WAIT_MS;
    while (tc_ws_server_stats(&server)->pongs_received == 0 &&
           tc_io_linux_monotonic_ns() / 1000000u < deadline) {
        pump_once();
    }
    assert_int_equal(tc_ws_server_stats(&server)->pongs_received, 1);
    assert_int_equal(tc_ws_server_stats(&server)->pings_sent, 1);
}

static void test_client_close(void **state) {
    (void)state;
    start_default();
    struct client *client = client_open(42);
    wait_for(&record.opens, 1);
    const uint64_t id = record.open_ids[0];
    client_frame(client, TC_EDGE_WS_OP_CLOSE, true, "\x03\xe8" "done", 6);
    assert_int_equal(client_read_close(client, NULL, 0), 1000);
    client_expect_eof(client);
    wait_for(&record.closes, 1);
    assert_int_equal(record.closed_ids[0], id);
    pump(50);
    assert_int_equal(record.closes, 1);
    assert_false(record.close_unknown_or_twice);
    assert_int_equal(tc_ws_server_send_text(&server, id, "late", 4), TC_ENOENT);
    assert_int_equal(tc_ws_server_close(&server, id, 1000, ""), TC_ENOENT);
    wait_connections(0);
    assert_int_equal(tc_ws_server_stats(&server)->closes_by_peer, 1);
}

static void test_close_inside_on_text(void **state) {
    (void)state;
    start_default();
    record.echo = true;
    struct client *client = client_open(42);
    // Two messages in one write: the second arrives after the first closed the connection.
    static const uint8_t mask[4] = {9, 8, 7, 6};
    uint8_t frames[64];
    int32_t size = tc_edge_ws_frame_write_masked(frames, sizeof(frames), TC_EDGE_WS_OP_TEXT, true,
                                                 mask, (const uint8_t *)"close-me", 8);
    size += tc_edge_ws_frame_write_masked(frames + size, sizeof(frames) - (uint32_t)size,
                                          TC_EDGE_WS_OP_TEXT, true, mask,
                                          (const uint8_t *)"after", 5);
    client_send(client, frames, (size_t)size);
    char text[64] = "";
    assert_int_equal(client_read_close(client, text, sizeof(text)), 4000);
    assert_string_equal(text, ""); // "after" was not echoed
    assert_int_equal(record.texts, 1);
    wait_for(&record.closes, 1);
    client_frame(client, TC_EDGE_WS_OP_CLOSE, true, "\x0f\xa0", 2);
    client_expect_eof(client);
    wait_connections(0);
    assert_int_equal(record.closes, 1);
}

// ------------------------------------------------------------------------------------------------
// Timers.

static void test_idle_timeout(void **state) {
    (void)state;
    struct tc_ws_server_options options;
    options_test(&options);
    options.idle_timeout_ms = 300;
    start(&options);
    struct client *client = client_open(42);
    pump(20);
    assert_int_equal(record.closes, 0);
    offset_ms += 400;
    assert_int_equal(client_read_close(client, NULL, 0), 4004);
    wait_for(&record.closes, 1);
    client_frame(client, TC_EDGE_WS_OP_CLOSE, true, "\x0f\xa4", 2);
    client_expect_eof(client);
    assert_int_equal(tc_ws_server_stats(&server)->close_4004, 1);
}

static void test_token_expiry(void **state) {
    (void)state;
    start_default();
    char token[1024];
    token_mint(token, sizeof(token), 42, NOW_S + 60);
    struct client *client = client_connect();
    client_request(client, "/v1/ws", token);
    struct http_answer answer;
    client_read_http(client, &answer);
    assert_int_equal(answer.status, 101);
    wait_for(&record.opens, 1);
    // A refreshed token (the auth op) moves the expiry.
    assert_int_equal(tc_ws_server_set_expiry(&server, record.open_ids[0], NOW_S + 120), TC_OK);
    now_s = NOW_S + 60;
    pump(20);
    assert_int_equal(record.closes, 0);
    now_s = NOW_S + 120;
    char text[256] = "";
    assert_int_equal(client_read_close(client, text, sizeof(text)), 4001);
    assert_non_null(strstr(text, "\"error\":\"token_expired\""));
    wait_for(&record.closes, 1);
}

static void test_header_timeout(void **state) {
    (void)state;
    start_default();
    struct client *client = client_connect();
    client_send(client, "GET /v1/ws HTTP/1.1\r\n", 21);
    pump(20);
    offset_ms += 11000;
    client_expect_eof(client);
    assert_int_equal(tc_ws_server_stats(&server)->header_timeouts, 1);
}

// ------------------------------------------------------------------------------------------------
// Limits.

static void test_send_buffer_full(void **state) {
    (void)state;
    start_default(); // send_buffer_bytes 8192
    struct client *client = client_connect_port(tc_ws_server_port(&server), 4096);
    client_upgrade(client, 42);
    wait_for(&record.opens, 1);
    const uint64_t id = record.open_ids[0];
    static char message[1000];
    static char huge[8192];
    memset(huge, 'h', sizeof(huge));
    assert_int_equal(tc_ws_server_send_text(&server, id, huge, sizeof(huge)), TC_ETOOBIG);
    uint32_t sent = 0;
    int result = TC_OK;
    while (sent < 1000000) { // the client does not read: kernel buffers, then the ring fill up
        memset(message, 'a' + (char)(sent % 26), sizeof(message));
        (void)snprintf(message, 16, "%010u", sent);
        message[10] = '.';
        result = tc_ws_server_send_text(&server, id, message, sizeof(message));
        if (result != TC_OK) break;
        sent += 1;
    }
    assert_int_equal(result, TC_ENOSPC);
    assert_true(sent > 0);
    assert_true(tc_ws_server_send_space(&server, id) < sizeof(message));
    assert_int_equal(tc_ws_server_stats(&server)->send_buffer_full, 2); // TOOBIG + NOSPC
    // A frame that still fits is accepted.
    const uint32_t space = tc_ws_server_send_space(&server, id);
    if (space > 0) assert_int_equal(tc_ws_server_send_text(&server, id, message, space), TC_OK);
    // Every queued message arrives whole and in order; nothing of the refused one.
    static struct frame frame;
    for (uint32_t i = 0; i < sent; i++) {
        assert_true(client_read_frame(client, &frame));
        assert_int_equal(frame.opcode, TC_EDGE_WS_OP_TEXT);
        assert_int_equal(frame.size, sizeof(message));
        char expected[16];
        (void)snprintf(expected, sizeof(expected), "%010u", i);
        assert_memory_equal(frame.payload, expected, 10);
        assert_int_equal(frame.payload[999], 'a' + (char)(i % 26));
    }
    if (space > 0) {
        assert_true(client_read_frame(client, &frame));
        assert_int_equal(frame.size, space);
    }
    assert_false(client_fill(client, 50));
    assert_int_equal(client->used, 0);
}

static void test_slow_consumer(void **state) {
    (void)state;
    struct tc_ws_server_options options;
    options_test(&options);
    options.slow_consumer_timeout_ms = 200;
    start(&options);
    struct client *client = client_connect_port(tc_ws_server_port(&server), 4096);
    client_upgrade(client, 42);
    wait_for(&record.opens, 1);
    static char message[1000];
    memset(message, 'm', sizeof(message));
    uint32_t sent = 0;
    while (tc_ws_server_send_text(&server, record.open_ids[0], message, 1000) == TC_OK) {
        sent += 1;
        assert_true(sent < 1000000);
    }
    pump(20);
    assert_int_equal(record.closes, 0); // full, but not for long enough yet
    offset_ms += 250;
    wait_for(&record.closes, 1);
    assert_int_equal(tc_ws_server_stats(&server)->close_4002, 1);
    assert_int_equal(client_read_close(client, NULL, 0), 4002); // after every queued message
    client_frame(client, TC_EDGE_WS_OP_CLOSE, true, "\x0f\xa2", 2);
    client_expect_eof(client);
    wait_connections(0);
}

static void test_pool_exhaustion(void **state) {
    (void)state;
    struct tc_ws_server_options options;
    options_test(&options);
    options.connections_max = 2;
    start(&options);
    (void)client_open(1);
    (void)client_open(2);
    struct client *third = client_connect();
    char token[1024];
    token_mint(token, sizeof(token), 3, NOW_S + 3600);
    client_request(third, "/v1/ws", token);
    struct http_answer answer;
    client_read_http(third, &answer);
    assert_int_equal(answer.status, 503);
    assert_non_null(strstr(answer.head, "Retry-After: 1\r\n"));
    assert_non_null(strstr(answer.body, "\"code\":140,\"name\":\"server_busy\""));
    client_expect_eof(third);
    assert_int_equal(tc_ws_server_stats(&server)->refused_pool_full, 1);
    assert_int_equal(record.opens, 2);
}

static void test_user_limit(void **state) {
    (void)state;
    struct tc_ws_server_options options;
    options_test(&options);
    options.connections_per_user_max = 1;
    start(&options);
    (void)client_open(42);
    char token[1024];
    token_mint(token, sizeof(token), 42, NOW_S + 3600);
    expect_refusal("/v1/ws", token, 429, "\"code\":120,\"name\":\"rate_limited\"");
    (void)client_open(43); // another user is fine
    assert_int_equal(tc_ws_server_stats(&server)->refused_user_limit, 1);
    assert_int_equal(record.opens, 2);
}

static void test_rate_limit(void **state) {
    (void)state;
    struct tc_ws_server_options options;
    options_test(&options);
    options.handshake_rate_per_s = 1;
    options.handshake_burst = 2;
    start(&options);
    (void)client_open(1);
    (void)client_open(2);
    char token[1024];
    token_mint(token, sizeof(token), 3, NOW_S + 3600);
    struct client *client = client_connect();
    client_request(client, "/v1/ws", token);
    struct http_answer answer;
    client_read_http(client, &answer);
    assert_int_equal(answer.status, 429);
    assert_non_null(strstr(answer.head, "Retry-After: 1\r\n"));
    assert_non_null(strstr(answer.body, "\"code\":120"));
    client_expect_eof(client);
    offset_ms += 1000; // one handshake back in the bucket
    pump(5);
    (void)client_open(3);
    assert_int_equal(tc_ws_server_stats(&server)->refused_rate_limited, 1);
}

// Random bytes before and after the upgrade: every connection gets an answer or is closed, the
// server stays up, and every on_open has its on_close.
static void test_garbage(void **state) {
    (void)state;
    struct tc_ws_server_options options;
    options_test(&options);
    options.handshake_burst = 1000;
    start(&options);
    struct tc_prng prng;
    tc_prng_init(&prng, 20240601);
    static uint8_t bytes[3000];
    for (uint32_t round = 0; round < 200; round++) {
        struct client *client = client_connect();
        if (round % 2 == 1) client_upgrade(client, 1000 + round);
        const uint32_t size = (uint32_t)tc_prng_range(&prng, 1, sizeof(bytes));
        tc_prng_fill(&prng, bytes, size);
        if (round % 4 == 1) bytes[0] = 0x81; // a text frame header with random length and mask
        (void)send(client->fd, bytes, size, MSG_NOSIGNAL);
        pump(1);
        close(client->fd);
        client->fd = -1;
    }
    wait_connections(0);
    assert_int_equal(record.opens, 100);
    assert_int_equal(record.closes, 100);
    assert_false(record.close_unknown_or_twice);
    assert_int_equal(tc_ws_server_stats(&server)->connections_open, 0);
    (void)client_open(7); // still serving
}

// ------------------------------------------------------------------------------------------------
// Admin server.

static bool metrics_overflow;

static int32_t metrics(void *context, char *out, uint32_t out_size) {
    (void)context;
    if (metrics_overflow) return TC_ENOSPC;
    const int size = snprintf(out, out_size, "tigerchat_test_metric 42\n");
    assert_true(size > 0 && (uint32_t)size < out_size);
    return size;
}

static void admin_get(const char *request, struct http_answer *answer) {
    struct client *client = client_connect_port(tc_admin_server_port(&admin), 0);
    client_send(client, request, strlen(request));
    client_read_http(client, answer);
    client_expect_eof(client);
}

static void test_admin(void **state) {
    (void)state;
    struct tc_admin_server_options options;
    tc_admin_server_options_default(&options);
    options.loop = &loop;
    options.listen_address = "127.0.0.1:0";
    options.metrics = metrics;
    const int result = tc_admin_server_init(&admin, &options);
    if (result != TC_OK) fprintf(stderr, "admin init: %s\n", admin.error);
    assert_int_equal(result, TC_OK);
    admin_started = true;
    struct http_answer answer;
    admin_get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &answer);
    assert_int_equal(answer.status, 200);
    assert_non_null(strstr(answer.head, "Content-Type: text/plain; version=0.0.4\r\n"));
    assert_string_equal(answer.body, "tigerchat_test_metric 42\n");
    admin_get("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", &answer);
    assert_int_equal(answer.status, 404);
    admin_get("DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &answer);
    assert_int_equal(answer.status, 405);
    admin_get("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &answer);
    assert_int_equal(answer.status, 200);
    assert_string_equal(answer.body, "ok\n");
    metrics_overflow = true;
    admin_get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &answer);
    metrics_overflow = false;
    assert_int_equal(answer.status, 500);
    assert_int_equal(admin.stats.http_200, 2);
}

// options.handle: echoes "METHOD PATH remote=IP body=BODY" so the test sees what it was given.
static void admin_echo(void *context, const struct tc_admin_request *request,
                       struct tc_admin_response *response) {
    (void)context;
    const struct tc_edge_str method = tc_edge_http_slice_str(request->http, request->http->method);
    const struct tc_edge_str path = tc_edge_http_slice_str(request->http, request->http->path);
    const int size = snprintf(response->body, response->body_capacity,
                              "%.*s %.*s remote=%s body=%.*s", (int)method.size, method.data, (int)path.size, path.data,
                              request->remote_ip, (int)request->body_size,
                              (const char *)request->body);
    assert_true(size > 0 && (uint32_t)size < response->body_capacity);
    response->status = 200;
    response->content_type = "text/plain";
    response->body_size = (uint32_t)size;
}

static void test_admin_handle(void **state) {
    (void)state;
    struct tc_admin_server_options options;
    tc_admin_server_options_default(&options);
    options.loop = &loop;
    options.listen_address = "127.0.0.1:0";
    options.metrics = metrics;
    options.handle = admin_echo;
    options.request_body_size_max = 16;
    assert_int_equal(tc_admin_server_init(&admin, &options), TC_OK);
    admin_started = true;
    struct http_answer answer;
    admin_get("GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n", &answer);
    assert_int_equal(answer.status, 200);
    assert_string_equal(answer.body, "GET /v1/status remote=127.0.0.1 body=");
    admin_get("POST /v1/actions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", &answer);
    assert_int_equal(answer.status, 200);
    assert_string_equal(answer.body, "POST /v1/actions remote=127.0.0.1 body=hello");
    // The body split over several reads, the head first.
    struct client *client = client_connect_port(tc_admin_server_port(&admin), 0);
    const char *head = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n0123";
    client_send(client, head, strlen(head));
    pump(2);
    client_send(client, "456789", 6);
    pump(2);
    client_send(client, "abcdef", 6);
    client_read_http(client, &answer);
    client_expect_eof(client);
    assert_int_equal(answer.status, 200);
    assert_string_equal(answer.body, "POST /x remote=127.0.0.1 body=0123456789abcdef");
    admin_get("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n", &answer);
    assert_int_equal(answer.status, 413);
    admin_get("POST /x HTTP/1.1\r\nHost: x\r\n\r\n", &answer);
    assert_int_equal(answer.status, 411);
    admin_get("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", &answer);
    assert_int_equal(answer.status, 411);
    admin_get("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", &answer);
    assert_int_equal(answer.status, 400);
    admin_get("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
              &answer);
    assert_int_equal(answer.status, 400);
    admin_get("PUT /x HTTP/1.1\r\nHost: x\r\n\r\n", &answer);
    assert_int_equal(answer.status, 405);
    admin_get("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &answer); // still built in
    assert_string_equal(answer.body, "ok\n");
    assert_int_equal(admin.stats.handled, 3);
}

static void test_bad_address(void **state) {
    (void)state;
    struct tc_ws_server_options options;
    options_test(&options);
    options.listen_address = "127.0.0.1:99999";
    assert_int_equal(tc_ws_server_init(&server, &options), TC_EINVAL);
    assert_non_null(strstr(server.error, "127.0.0.1:99999"));
    // A port in use: the error names the address and the errno text.
    start_default();
    char address[64];
    (void)snprintf(address, sizeof(address), "127.0.0.1:%u", tc_ws_server_port(&server));
    static struct tc_ws_server second;
    options.listen_address = address;
    assert_true(tc_ws_server_init(&second, &options) < 0);
    assert_non_null(strstr(second.error, address));
    assert_non_null(strstr(second.error, "in use"));
}

// ------------------------------------------------------------------------------------------------
// TLS (node/server/ws_tls.c): a self-signed certificate made for this run (tls_fixture.h), and
// OpenSSL's client verifying the server against it.

static char tls_dir[64];
static char tls_cert_path[128], tls_key_path[128], tls_other_key_path[128], tls_garbage_path[128];
static SSL_CTX *tls_client_context;

static int tls_group_setup(void **state) {
    (void)state;
    (void)snprintf(tls_dir, sizeof(tls_dir), "/tmp/tc_test_tls_XXXXXX");
    if (mkdtemp(tls_dir) == NULL) return -1;
    (void)snprintf(tls_cert_path, sizeof(tls_cert_path), "%s/cert.pem", tls_dir);
    (void)snprintf(tls_key_path, sizeof(tls_key_path), "%s/key.pem", tls_dir);
    (void)snprintf(tls_other_key_path, sizeof(tls_other_key_path), "%s/other.pem", tls_dir);
    (void)snprintf(tls_garbage_path, sizeof(tls_garbage_path), "%s/garbage.pem", tls_dir);
    if (!tls_fixture_write(tls_cert_path, tls_key_path)) return -1;
    if (!tls_fixture_write_other_key(tls_other_key_path)) return -1;
    FILE *garbage = fopen(tls_garbage_path, "w");
    if (garbage == NULL) return -1;
    (void)fputs("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n",
                garbage);
    (void)fclose(garbage);
    tls_client_context = SSL_CTX_new(TLS_client_method());
    if (tls_client_context == NULL) return -1;
    SSL_CTX_set_verify(tls_client_context, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(tls_client_context, tls_cert_path, NULL) != 1) return -1;
    return 0;
}

static int tls_group_teardown(void **state) {
    (void)state;
    SSL_CTX_free(tls_client_context);
    tls_client_context = NULL;
    const char *paths[] = {tls_cert_path, tls_key_path, tls_other_key_path, tls_garbage_path};
    for (uint32_t i = 0; i < 4; i++) (void)unlink(paths[i]);
    (void)rmdir(tls_dir);
    return 0;
}

static void start_tls(struct tc_ws_server_options *options) {
    char error[512];
    const int result = tc_ws_tls_create(tls_cert_path, tls_key_path, &tls, error, sizeof(error));
    if (result != TC_OK) fprintf(stderr, "tls: %s\n", error);
    assert_int_equal(result, TC_OK);
    options->transport = tc_ws_tls_transport(tls);
    start(options);
}

static void start_tls_default(void) {
    struct tc_ws_server_options options;
    options_test(&options);
    start_tls(&options);
}

// Connects and runs the TLS handshake with `context` (verifying "localhost"); false when the
// server refused it.
static bool client_tls_connect_with(struct client *client, SSL_CTX *context) {
    const int flags = fcntl(client->fd, F_GETFL);
    assert_int_equal(fcntl(client->fd, F_SETFL, flags | O_NONBLOCK), 0);
    client->ssl = SSL_new(context);
    assert_non_null(client->ssl);
    assert_int_equal(SSL_set_fd(client->ssl, client->fd), 1);
    assert_int_equal(SSL_set_tlsext_host_name(client->ssl, "localhost"), 1);
    assert_int_equal(SSL_set1_host(client->ssl, "localhost"), 1);
    const uint64_t deadline = wall_ms() + WAIT_MS;
    while (wall_ms() < deadline) {
        ERR_clear_error();
        const int result = SSL_connect(client->ssl);
        if (result == 1) return true;
        const int error = SSL_get_error(client->ssl, result);
        if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            return false;
        }
        pump_once();
    }
    fail_msg("TLS handshake timed out");
    return false;
}

static struct client *client_tls_connect(void) {
    struct client *client = client_connect();
    assert_true(client_tls_connect_with(client, tls_client_context));
    assert_int_equal(SSL_get_verify_result(client->ssl), X509_V_OK);
    return client;
}

static struct client *client_tls_open(uint64_t user) {
    struct client *client = client_tls_connect();
    client_upgrade(client, user);
    return client;
}

static void client_healthz(struct client *client, int status, const char *body) {
    client_send(client, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35);
    struct http_answer answer;
    client_read_http(client, &answer);
    assert_int_equal(answer.status, status);
    assert_string_equal(answer.body, body);
    client_expect_eof(client); // close_notify, then end of stream
}

// Waiting (for the peer, or for a full socket) dispatches nothing: no readiness spins.
static void expect_no_spin(void) {
    const uint64_t before = loop.dispatched;
    pump(50);
    assert_true(loop.dispatched - before <= 2);
}

static void test_tls_upgrade_echo(void **state) {
    (void)state;
    start_tls_default();
    record.echo = true;
    struct client *client = client_tls_open(42);
    assert_int_equal(SSL_version(client->ssl), TLS1_3_VERSION);
    wait_for(&record.opens, 1);
    assert_int_equal(record.open_users[0], 42);
    assert_string_equal(record.peer_ip, "127.0.0.1");
    client_frame(client, TC_EDGE_WS_OP_TEXT, true, "hello", 5);
    static struct frame frame;
    assert_true(client_read_frame(client, &frame));
    assert_int_equal(frame.opcode, TC_EDGE_WS_OP_TEXT);
    assert_int_equal(frame.size, 5);
    assert_memory_equal(frame.payload, "hello", 5);
    assert_string_equal(record.last_text, "hello");
    expect_no_spin();
    // The close handshake, then close_notify and end of stream.
    client_frame(client, TC_EDGE_WS_OP_CLOSE, true, "\x03\xe8", 2);
    assert_int_equal(client_read_close(client, NULL, 0), 1000);
    client_expect_eof(client);
    wait_for(&record.closes, 1);
    wait_connections(0);
    const struct tc_ws_server_stats *stats = tc_ws_server_stats(&server);
    assert_int_equal(stats->handshakes, 1);
    assert_int_equal(stats->closes_by_peer, 1);
    assert_int_equal(stats->tls_handshake_failures + stats->tls_errors, 0);
    assert_false(record.close_unknown_or_twice);
}

static void test_tls_healthz(void **state) {
    (void)state;
    start_tls_default();
    client_healthz(client_tls_connect(), 200, "ok\n");
    tc_ws_server_drain(&server);
    client_healthz(client_tls_connect(), 503, "draining\n");
    assert_int_equal(tc_ws_server_stats(&server)->healthz, 2);
    wait_connections(0);
}

// Plain HTTP on the TLS port, a TLS 1.1 client, a handshake that never starts: each connection
// is closed (and counted), and the server keeps serving TLS.
static void test_tls_refusals(void **state) {
    (void)state;
    start_tls_default();
    struct client *plain = client_connect();
    client_send(plain, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35);
    client_expect_eof(plain);
    wait_connections(0);
    assert_int_equal(tc_ws_server_stats(&server)->tls_handshake_failures, 1);
    assert_int_equal(tc_ws_server_stats(&server)->healthz, 0);
    // An old client (TLS 1.1 at most; security level 0 lets OpenSSL offer it at all).
    SSL_CTX *old = SSL_CTX_new(TLS_client_method());
    assert_non_null(old);
    SSL_CTX_set_security_level(old, 0);
    assert_int_equal(SSL_CTX_set_min_proto_version(old, TLS1_VERSION), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(old, TLS1_1_VERSION), 1);
    SSL_CTX_set_verify(old, SSL_VERIFY_NONE, NULL);
    struct client *client = client_connect();
    assert_false(client_tls_connect_with(client, old));
    client_close(client);
    SSL_CTX_free(old);
    wait_connections(0);
    assert_int_equal(tc_ws_server_stats(&server)->tls_handshake_failures, 2);
    // Silence: the handshake timeout (the same as for the request head).
    struct client *silent = client_connect();
    expect_no_spin();
    offset_ms += 11000;
    client_expect_eof(silent);
    assert_int_equal(tc_ws_server_stats(&server)->header_timeouts, 1);
    client_healthz(client_tls_connect(), 200, "ok\n");
    assert_int_equal(tc_ws_server_stats(&server)->tls_handshake_failures, 2);
}

// No free slot: over TLS the socket is just closed (a 503 would need a handshake).
static void test_tls_pool_full(void **state) {
    (void)state;
    struct tc_ws_server_options options;
    options_test(&options);
    options.connections_max = 1;
    start_tls(&options);
    (void)client_tls_open(1);
    struct client *second = client_connect();
    assert_false(client_tls_connect_with(second, tls_client_context));
    assert_int_equal(tc_ws_server_stats(&server)->refused_pool_full, 1);
    assert_int_equal(tc_ws_server_stats(&server)->http_503, 0);
}

static void client_frame_large(struct client *client, const uint8_t *payload, uint32_t size) {
    static const uint8_t mask[4] = {0xa1, 0xb2, 0xc3, 0xd4};
    static uint8_t frame[40 * 1024];
    const int32_t frame_size = tc_edge_ws_frame_write_masked(
        frame, sizeof(frame), TC_EDGE_WS_OP_TEXT, true, mask, payload, size);
    assert_true(frame_size > 0);
    client_send(client, frame, (size_t)frame_size);
}

static void expect_large_frame(struct client *client, const uint8_t *payload, uint32_t size) {
    static struct frame frame;
    assert_true(client_read_frame(client, &frame));
    assert_int_equal(frame.opcode, TC_EDGE_WS_OP_TEXT);
    assert_int_equal(frame.size, size);
    assert_memory_equal(frame.payload, payload, size);
}

// 30 KiB messages span several TLS records each way. The server reads 1 KiB at a time, so most
// of each record is drained from OpenSSL (SSL_pending) without a new readiness event. (The
// message limit is 64 KiB: node/edge's reader counts the previous message's size against a new
// one's limit, so two 30 KiB messages in a row would be refused under 60 KiB.)
static void test_tls_large_message(void **state) {
    (void)state;
    struct tc_ws_server_options options;
    options_test(&options);
    options.message_size_max = 64 * 1024;
    options.frame_size_max = 64 * 1024;
    options.send_buffer_bytes = 128 * 1024;
    options.read_buffer_bytes = TC_WS_SERVER_READ_BUFFER_MIN;
    start_tls(&options);
    record.echo = true;
    struct client *client = client_tls_open(42);
    wait_for(&record.opens, 1);
    static uint8_t first[30 * 1024], second[30 * 1024];
    for (uint32_t i = 0; i < sizeof(first); i++) {
        first[i] = (uint8_t)('a' + i % 26);
        second[i] = (uint8_t)('0' + i % 10);
    }
    client_frame_large(client, first, sizeof(first));
    expect_large_frame(client, first, sizeof(first));
    // Two in one go, then one the server sends on its own.
    client_frame_large(client, second, sizeof(second));
    client_frame_large(client, first, sizeof(first));
    expect_large_frame(client, second, sizeof(second));
    expect_large_frame(client, first, sizeof(first));
    assert_int_equal(record.texts, 3);
    assert_int_equal(tc_ws_server_send_text(&server, record.open_ids[0], (const char *)second,
                                            sizeof(second)),
                     TC_OK);
    expect_large_frame(client, second, sizeof(second));
    assert_int_equal(tc_ws_server_stats(&server)->tls_errors, 0);
}

// A client that does not read: SSL_write answers WANT_WRITE and the ring fills; the retries (the
// same bytes, from a ring that only grows meanwhile) deliver every message whole and in order.
static void test_tls_backpressure(void **state) {
    (void)state;
    start_tls_default(); // send_buffer_bytes 8192
    struct client *client = client_connect_port(tc_ws_server_port(&server), 4096);
    assert_true(client_tls_connect_with(client, tls_client_context));
    client_upgrade(client, 42);
    wait_for(&record.opens, 1);
    const uint64_t id = record.open_ids[0];
    static char message[1000];
    uint32_t sent = 0;
    for (;;) {
        memset(message, 'a' + (char)(sent % 26), sizeof(message));
        (void)snprintf(message, 16, "%010u", sent);
        message[10] = '.';
        if (tc_ws_server_send_text(&server, id, message, sizeof(message)) != TC_OK) break;
        sent += 1;
        assert_true(sent < 1000000);
    }
    assert_true(sent > 8); // more than the ring: the kernel buffers took some
    expect_no_spin();      // waiting for the socket to drain
    static struct frame frame;
    for (uint32_t i = 0; i < sent; i++) {
        assert_true(client_read_frame(client, &frame));
        assert_int_equal(frame.size, sizeof(message));
        char expected[16];
        (void)snprintf(expected, sizeof(expected), "%010u", i);
        assert_memory_equal(frame.payload, expected, 10);
        assert_int_equal(frame.payload[999], 'a' + (char)(i % 26));
    }
    assert_int_equal(tc_ws_server_send_text(&server, id, "after", 5), TC_OK);
    assert_true(client_read_frame(client, &frame));
    assert_memory_equal(frame.payload, "after", 5);
    assert_int_equal(tc_ws_server_stats(&server)->tls_errors, 0);
}

static void expect_tls_create_error(const char *cert, const char *key, int code,
                                    const char *needle) {
    char error[512];
    struct tc_ws_tls *made = NULL;
    assert_int_equal(tc_ws_tls_create(cert, key, &made, error, sizeof(error)), code);
    assert_null(made);
    if (strstr(error, needle) == NULL) fail_msg("error '%s' lacks '%s'", error, needle);
}

static void test_tls_bad_files(void **state) {
    (void)state;
    char missing[160];
    (void)snprintf(missing, sizeof(missing), "%s/missing.pem", tls_dir);
    char needle[256];
    (void)snprintf(needle, sizeof(needle), "tls_cert_file %s: cannot read", missing);
    expect_tls_create_error(missing, tls_key_path, TC_ENOENT, needle);
    (void)snprintf(needle, sizeof(needle), "tls_key_file %s: cannot read", missing);
    expect_tls_create_error(tls_cert_path, missing, TC_ENOENT, needle);
    (void)snprintf(needle, sizeof(needle), "tls_cert_file %s: not a PEM", tls_garbage_path);
    expect_tls_create_error(tls_garbage_path, tls_key_path, TC_EINVAL, needle);
    (void)snprintf(needle, sizeof(needle), "tls_key_file %s: not an unencrypted PEM",
                   tls_cert_path);
    expect_tls_create_error(tls_cert_path, tls_cert_path, TC_EINVAL, needle);
    (void)snprintf(needle, sizeof(needle), "tls_key_file %s does not match", tls_other_key_path);
    expect_tls_create_error(tls_cert_path, tls_other_key_path, TC_EINVAL, needle);
    // A transport missing a hook is refused by the server.
    char error[512];
    assert_int_equal(tc_ws_tls_create(tls_cert_path, tls_key_path, &tls, error, sizeof(error)),
                     TC_OK);
    struct tc_ws_transport broken = *tc_ws_tls_transport(tls);
    broken.pending = NULL;
    struct tc_ws_server_options options;
    options_test(&options);
    options.transport = &broken;
    assert_int_equal(tc_ws_server_init(&server, &options), TC_EINVAL);
    assert_non_null(strstr(server.error, "transport"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_healthz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unmasked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ping_pong, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_inside_on_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_buffer_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_consumer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_exhaustion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_handle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_upgrade_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_healthz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_pool_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_large_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_bad_files, setup, teardown),
    };
    // OpenSSL's client writes with write(2): a server that closed first must not kill the test.
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, tls_group_setup, tls_group_teardown);
}
