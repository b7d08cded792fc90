#ifndef TC_ADMIN_SERVER_H
#define TC_ADMIN_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "edge_http.h"
#include "loop.h"
#include "server_net.h"

// node/server/admin_server: a tiny HTTP/1.1 server for admin ports (the node's, the controller's
// API), on the caller's tc_loop. One request per connection (Connection: close):
//   GET /healthz → 200 "ok\n", or 503 "unhealthy\n" when options.healthy says so
//   GET /metrics → 200 text/plain; version=0.0.4 with the body options.metrics writes into a
//                  buffer of body_size_max bytes (it returns the size, or TC_ENOSPC → 500)
//   other paths: options.handle when set (GET, or POST with a Content-Length body of at most
//                request_body_size_max bytes: 411 without a length, 413 beyond it), else 404;
//   other methods on /healthz and /metrics 405, malformed heads 400/414/431/505.
// A bounded pool of connections (more are answered 503 at once and closed), one deadline per
// connection from accept to the last byte written, and all memory allocated by init.

#define TC_ADMIN_SERVER_CONNECTIONS_LIMIT 256u
#define TC_ADMIN_SERVER_BODY_SIZE_LIMIT (64u << 20)
#define TC_ADMIN_SERVER_HEAD_ROOM 1024u // response head before the body
#define TC_ADMIN_SERVER_REQUEST_BODY_LIMIT (1u << 20)

// A request for options.handle: the parsed head, and the body of a POST (else size 0).
struct tc_admin_request {
    const struct tc_edge_http_request *http;
    const uint8_t *body;
    uint32_t body_size;
    const char *remote_ip; // the peer's address, NUL-terminated
};

// What options.handle answers: a status with a reason phrase (tc_edge_http_reason), and a body
// written into `body` (capacity body_size_max bytes; body_size 0 for none).
struct tc_admin_response {
    uint16_t status;
    const char *content_type; // e.g. "application/json"; required when body_size > 0
    char *body;
    uint32_t body_size;
    uint32_t body_capacity;
};

// Numeric fields left 0 select the defaults.
struct tc_admin_server_options {
    struct tc_loop *loop;
    const char *listen_address; // "host:port"; port 0 for tests
    uint32_t listen_backlog;    // 1..65535
    uint32_t connections_max;   // 1..256
    uint32_t body_size_max;     // the metrics body buffer: 1..64 MiB
    uint32_t timeout_ms;        // accept to response written; then the socket is closed
    bool (*healthy)(void *context);                                  // NULL: always healthy
    int32_t (*metrics)(void *context, char *out, uint32_t out_size); // required
    // Optional: every other path. Runs on the loop thread and must not block for long.
    void (*handle)(void *context, const struct tc_admin_request *request,
                   struct tc_admin_response *response);
    uint32_t request_body_size_max; // POST bodies for handle: 1..1 MiB (default 64 KiB)
    void *context;
    void (*log)(void *log_context, const char *message); // optional
    void *log_context;
};

// Defaults: backlog 64, 16 connections, 256 KiB body, 5 s timeout.
void tc_admin_server_options_default(struct tc_admin_server_options *options);

struct tc_admin_server_stats {
    uint64_t accepted;
    uint64_t refused_busy; // no free connection: 503 and close
    uint64_t timeouts;
    uint64_t http_200, http_404, http_405, http_500, http_503, http_other; // other: 400/414/...
    uint64_t handled; // requests answered by options.handle
};

enum tc_admin_conn_state {
    TC_ADMIN_CONN_FREE = 0,
    TC_ADMIN_CONN_READING,
    TC_ADMIN_CONN_READING_BODY, // a POST for options.handle: Content-Length bytes
    TC_ADMIN_CONN_WRITING, // then shut the write side and wait for end of stream
};

struct tc_admin_conn {
    struct tc_admin_server *server;
    struct tc_loop_handler handler;
    enum tc_admin_conn_state state;
    bool write_shut;
    bool read_eof;
    uint64_t deadline_ms;
    char *out; // TC_ADMIN_SERVER_HEAD_ROOM + body_size_max
    uint32_t out_size;
    uint32_t out_sent;
    uint8_t *in; // request_body_size_max bytes of POST body
    uint32_t in_size;
    uint32_t in_expected;
    char remote_ip[TC_SERVER_NET_IP_TEXT_SIZE];
    struct tc_edge_http_request request;
};

struct tc_admin_server {
    struct tc_admin_server_options options;
    char listen_address[256];
    struct tc_loop *loop;
    int listen_fd;
    uint16_t port;
    bool accept_paused; // out of descriptors: listener off until the next tick
    uint64_t now_ms;
    struct tc_loop_handler listen_handler;
    struct tc_admin_conn *conns;
    char *out_buffers;
    uint8_t *in_buffers;
    char *body; // body_size_max, shared: filled and copied out within one call
    uint8_t read_buffer[4096];
    struct tc_admin_server_stats stats;
    char error[TC_SERVER_NET_ERROR_SIZE_MAX];
};

// 0, or TC_EINVAL / TC_ENOMEM / the socket error with server->error saying why.
int tc_admin_server_init(struct tc_admin_server *server,
                         const struct tc_admin_server_options *options);
void tc_admin_server_deinit(struct tc_admin_server *server);
uint16_t tc_admin_server_port(const struct tc_admin_server *server);
// Deadlines; now_ms is monotonic milliseconds (tc_io_linux_monotonic_ns() / 10^6), never
// decreasing.
void tc_admin_server_tick(struct tc_admin_server *server, uint64_t now_ms);

#endif
