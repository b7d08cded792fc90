#ifndef TC_WS_SERVER_H
#define TC_WS_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "edge_json.h"
#include "edge_jwt.h"
#include "loop.h"
#include "server_net.h"

// node/server/ws_server: the WebSocket edge's connection layer (docs/protocol.md §1, §2, §8-§11).
// It owns a listening socket and a fixed pool of connections, all memory allocated by init; it
// runs single-threaded on the caller's tc_loop. Per connection: HTTP/1.1 upgrade (parsed and
// checked by node/edge), JWT verification, RFC 6455 frames, keepalive, token expiry, a bounded
// send buffer, and the close handshake. The chat logic above it sees only callbacks and
// tc_ws_server_send_text.
//
// Connection ids: (generation << 32) | slot index. An id is valid from on_open until on_close;
// afterwards every call with it answers TC_ENOENT (and the slot's next user has a new id).
//
// Callbacks run only from inside tc_loop_poll (this server's handlers) and tc_ws_server_tick,
// never from inside send_text, close, close_all or drain. They may call those functions for any
// connection. Teardown is deferred: a connection closed inside a callback keeps its buffers until
// the server's handler returns, and its on_close follows then (exactly once per on_open).
//
// Time: the server reads no clock for its timers; tc_ws_server_tick passes monotonic
// milliseconds (the same clock as tc_io_linux_monotonic_ns() / 10^6, which init reads once as
// the starting point). Tokens are checked against options.now_s (wall-clock seconds).

#define TC_WS_SERVER_CONNECTIONS_LIMIT (1u << 20)
#define TC_WS_SERVER_SEND_BUFFER_MIN 4096u
#define TC_WS_SERVER_SEND_BUFFER_LIMIT (1u << 30)
#define TC_WS_SERVER_READ_BUFFER_MIN 1024u
#define TC_WS_SERVER_READ_BUFFER_LIMIT (1u << 24)
#define TC_WS_SERVER_IP_TABLE_LIMIT (1u << 24)
#define TC_WS_SERVER_IP_PROBES 8u      // the IP table's probe window (and eviction scope)
#define TC_WS_SERVER_REFUSALS_MAX 16u  // sockets refused at accept, lingering until EOF
#define TC_WS_SERVER_ERROR_SIZE_MAX TC_SERVER_NET_ERROR_SIZE_MAX
// Send buffer reserves: text frames never use the last TEXT bytes (so an error event and the
// close frame always fit), pings, pongs and error events never use the last CLOSE bytes.
#define TC_WS_SERVER_RESERVE_TEXT 512u
#define TC_WS_SERVER_RESERVE_CLOSE 128u

// The byte stream under a connection. Plain TCP (server_net.h) when options.transport is NULL;
// TLS is ws_tls.h. A transport keeps per-connection state in `context_size` bytes per slot,
// allocated (zeroed, 16-byte aligned) by tc_ws_server_init; it may allocate more inside `open`
// (OpenSSL does), released by `close`. All hooks are required; they never call back into the
// server. `instance` is passed to open and close.
//
// read/write answer as tc_server_net_read/write: bytes (> 0), 0 = end of stream (read only),
// TC_EAGAIN (wait for the readiness `interest` names), TC_ECORRUPT when the transport's own
// protocol failed (a TLS alert, a bad record, plain HTTP on a TLS port: counted in
// tls_handshake_failures or tls_errors), or another negative TC_E* code for a broken socket.
#define TC_WS_TRANSPORT_CONTEXT_SIZE_MAX 4096u
// The most plaintext a transport holds after a read (`pending`): one TLS record (RFC 8446 §5.1).
#define TC_WS_TRANSPORT_PENDING_MAX 16384u

struct tc_ws_transport {
    void *instance;
    uint32_t context_size; // 1..TC_WS_TRANSPORT_CONTEXT_SIZE_MAX
    // An accepted socket, before its first read: fills `context`. TC_OK, or a negative code (the
    // socket is closed at once and counted in accept_errors).
    int (*open)(void *instance, void *context, int fd);
    // Before the server closes the socket (also without a handshake, and at deinit).
    void (*close)(void *instance, void *context);
    int32_t (*read)(void *context, int fd, uint8_t *buffer, uint32_t size);
    int32_t (*write)(void *context, int fd, const uint8_t *data, uint32_t size);
    // Bytes already read from the socket and decoded that the next read returns: epoll does not
    // report them, so the server reads again until this is 0 (<= TC_WS_TRANSPORT_PENDING_MAX).
    uint32_t (*pending)(void *context);
    // The socket readiness (TC_LOOP_READ | TC_LOOP_WRITE bits) to wait for when the connection
    // wants `wanted`: TC_LOOP_READ to read, TC_LOOP_WRITE to write. A TLS read may wait for the
    // socket to be writable (a handshake flight), a TLS write for it to be readable.
    uint32_t (*interest)(void *context, uint32_t wanted);
    // The transport's own handshake is done (a protocol failure before it is a handshake failure).
    bool (*established)(void *context);
    // Ends the write side after the last byte (TLS: close_notify, best effort), then
    // shutdown(SHUT_WR).
    void (*shutdown_write)(void *context, int fd);
};

// Numeric fields left 0 select the default of tc_ws_server_options_default (docs/protocol.md's
// values); every other value is checked by init.
struct tc_ws_server_options {
    struct tc_loop *loop;
    const char *listen_address;        // "host:port", "[ipv6]:port", ":port"; port 0 for tests
    uint32_t listen_backlog;           // 1..65535 (1024)
    uint32_t connections_max;          // pool slots: handshakes + open WebSockets (1024)
    uint32_t connections_per_user_max; // open WebSockets per token `sub` (§8: 16; 17th: 429)
    uint32_t message_size_max;         // assembled client message (§9): 125..2^24 (32768)
    uint32_t frame_size_max;           // one client data frame: 125..message_size_max (= it)
    uint32_t send_buffer_bytes;        // per connection (§6: 1 MiB)
    uint32_t read_buffer_bytes;        // one recv (16 KiB; shared: bytes never stay in it)
    uint32_t accepts_per_event;        // accept4 calls per listener readiness (64)
    uint32_t ping_interval_ms;         // §11: 30 s
    uint32_t idle_timeout_ms;          // §11: no frame for this long: close 4004 (60 s)
    uint32_t close_timeout_ms;         // close handshake and lingering close (5 s)
    uint32_t handshake_timeout_ms;     // accept to complete request head, TLS included (10 s)
    uint32_t slow_consumer_timeout_ms; // send buffer over 3/4 for this long: 4002 (30 s)
    uint32_t handshake_rate_per_s;     // per peer IP (§8: 20/s)
    uint32_t handshake_burst;          // bucket capacity (§8: 50)
    uint32_t ip_table_size;            // IPs tracked, a power of two (4096); stalest evicted
    uint32_t retry_after_s;            // Retry-After of 503 answers (1)
    struct tc_edge_jwt_config jwt;     // must pass tc_edge_jwt_config_invalid
    uint64_t (*now_s)(void *now_context); // Unix seconds for tokens; NULL: the realtime clock
    void *now_context;
    // Callbacks (all three required), called with `context`.
    // on_open: after the 101 is queued; claims and peer_ip are valid during the call only.
    void (*on_open)(void *context, uint64_t conn_id, const struct tc_edge_jwt_claims *claims,
                    const char *peer_ip);
    // on_text: a complete UTF-8 text message; data is valid during the call only.
    void (*on_text)(void *context, uint64_t conn_id, const uint8_t *data, uint32_t size);
    // on_close: exactly once per on_open; conn_id is stale from then on.
    void (*on_close)(void *context, uint64_t conn_id);
    void *context;
    void (*log)(void *log_context, const char *line); // optional; one line, no newline
    void *log_context;
    const struct tc_ws_transport *transport; // NULL: plain TCP
    bool defer_text_writes; // send_text queues; tc_ws_server_flush writes (see there); else outlives the server (ws_tls.h)
};

// The defaults, spelled out. The caller still sets loop, listen_address, jwt and the callbacks.
void tc_ws_server_options_default(struct tc_ws_server_options *options);

struct tc_ws_server_stats {
    uint64_t connections_active;  // slots in use (handshake, open, closing)
    uint64_t connections_open;    // WebSockets between on_open and on_close
    uint64_t accepted;
    uint64_t refused_pool_full;   // 503 at accept: no free slot (with a transport: closed)
    uint64_t refused_draining;    // 503
    uint64_t refused_rate_limited; // 429: per-IP handshake bucket
    uint64_t refused_user_limit;  // 429: connections_per_user_max
    uint64_t refused_auth;        // 401
    uint64_t accept_errors;
    uint64_t handshakes;          // 101 sent
    uint64_t healthz;
    uint64_t header_timeouts;     // no complete request head (or TLS handshake) in time
    uint64_t http_400, http_401, http_404, http_405, http_414, http_426, http_429, http_431,
        http_503, http_505;
    uint64_t frames_in, frames_out, bytes_in, bytes_out;
    uint64_t messages_in;          // text messages delivered to on_text
    uint64_t pings_sent, pongs_received, pings_received, pongs_dropped; // pong: no buffer room
    uint64_t send_buffer_full;     // send_text answered TC_ENOSPC or TC_ETOOBIG
    uint64_t closes_by_peer;       // the client's close frame came first
    uint64_t closes_aborted;       // TCP ended without a close handshake (1006)
    uint64_t close_timeouts;       // the peer did not finish the close handshake in time
    // The transport's protocol (TLS) failed, closing the connection: before its handshake was
    // done (e.g. plain HTTP on a TLS port, no common version or cipher), or after it.
    uint64_t tls_handshake_failures, tls_errors;
    // Close frames sent by the server, by code.
    uint64_t close_1000, close_1001, close_1002, close_1003, close_1007, close_1008, close_1009,
        close_1011, close_4001, close_4002, close_4003, close_4004, close_other;
};

struct tc_ws_conn;
struct ws_ip_entry;
struct ws_user_entry;

struct tc_ws_refusal {
    struct tc_ws_server *server;
    struct tc_loop_handler handler;
    uint64_t deadline_ms;
};

// Caller-owned; all memory is allocated by init and freed by deinit.
struct tc_ws_server {
    struct tc_ws_server_options options;
    char listen_address[256];
    struct tc_loop *loop;
    int listen_fd;
    uint16_t port;
    bool draining;
    bool accept_paused; // out of descriptors: listener off until the next tick
    uint32_t entered;   // nesting of handlers, callbacks and API calls (teardown at 0)
    uint64_t now_ms;
    struct tc_loop_handler listen_handler;
    struct tc_ws_conn *conns;     // connections_max
    uint32_t *free_slots;         // stack of free slot indices
    uint32_t free_count;
    uint32_t queue_head;          // deferred on_close and teardown (UINT32_MAX: empty)
    uint32_t queue_tail;
    uint8_t *send_buffers;        // connections_max * send_buffer_bytes
    uint8_t *message_buffers;     // connections_max * message_size_max
    uint8_t *read_buffer;         // read_buffer_bytes, shared
    uint8_t *transport_contexts;  // connections_max * transport_context_size (TLS state)
    uint32_t transport_context_size;
    struct ws_ip_entry *ip_table; // ip_table_size
    uint8_t ip_hash_key[16];
    struct ws_user_entry *users;  // users_capacity (power of two, >= 2 * connections_max)
    uint32_t users_capacity;
    uint8_t *jwt_scratch;         // TC_EDGE_JWT_SCRATCH_SIZE
    char token[TC_EDGE_JWT_TOKEN_SIZE_MAX + 1];
    struct tc_ws_refusal refusals[TC_WS_SERVER_REFUSALS_MAX];
    uint32_t *dirty;             // connections_max: slots with text frames awaiting flush
    uint32_t dirty_count;
    struct tc_ws_server_stats stats;
    char error[TC_WS_SERVER_ERROR_SIZE_MAX];
};

// Validates the options, allocates everything and listens. Returns 0, or TC_EINVAL (bad
// options), TC_ENOMEM, or the socket error, with server->error saying why (naming the address
// and the errno text). On failure nothing is left allocated or registered.
int tc_ws_server_init(struct tc_ws_server *server, const struct tc_ws_server_options *options);
// Closes every socket without calling back and frees everything. For a graceful stop first call
// tc_ws_server_close_all and poll until tc_ws_server_connections() is 0 (or a deadline).
void tc_ws_server_deinit(struct tc_ws_server *server);

uint16_t tc_ws_server_port(const struct tc_ws_server *server);
// Slots in use: handshakes, open WebSockets and connections still closing.
uint32_t tc_ws_server_connections(const struct tc_ws_server *server);
const struct tc_ws_server_stats *tc_ws_server_stats(const struct tc_ws_server *server);

// Timers: handshake and close timeouts, pings, idle (4004), token expiry (4001), slow consumers
// (4002), and resuming accepts. O(connections_max); call every 100 ms or so. now_ms never
// decreases (asserted). Not from inside a callback (asserted).
void tc_ws_server_tick(struct tc_ws_server *server, uint64_t now_ms);

// Frames `data` (valid UTF-8: the server made it) as one text message and queues it whole, then
// writes eagerly. TC_OK, TC_ENOSPC when the frame does not fit now (nothing queued), TC_ETOOBIG
// when it could never fit (over send_buffer_bytes - RESERVE_TEXT with the header; nothing
// queued), TC_ENOENT for a stale id or a connection that is closing.
int tc_ws_server_send_text(struct tc_ws_server *server, uint64_t conn_id, const char *data,
                           uint32_t size);
// The largest payload a text frame could have and still be accepted by send_text now (header
// accounted for); 0 for a stale id.
uint32_t tc_ws_server_send_space(const struct tc_ws_server *server, uint64_t conn_id);
// With options.defer_text_writes, send_text only queues the frame; this writes every connection
// that has queued frames (one write per connection for everything sent since the last flush:
// fan-out of many events costs one syscall, not one per event). Call once per loop iteration.
void tc_ws_server_flush(struct tc_ws_server *server);
// Graceful close: a close frame with `code` (valid to send, not 1005/1006/1015) and `reason`
// (UTF-8, <= 123 bytes), then the close handshake with close_timeout_ms, then TCP close.
// on_close follows (deferred). TC_OK or TC_ENOENT.
int tc_ws_server_close(struct tc_ws_server *server, uint64_t conn_id, uint16_t code,
                       const char *reason);
// The connection's token was replaced (the `auth` op, §5.14): expiry (4001) now follows exp_s.
// TC_OK or TC_ENOENT.
int tc_ws_server_set_expiry(struct tc_ws_server *server, uint64_t conn_id, uint64_t exp_s);
// Stops admitting connections: /v1/ws and /healthz answer 503 from now on.
void tc_ws_server_drain(struct tc_ws_server *server);
bool tc_ws_server_draining(const struct tc_ws_server *server);
// tc_ws_server_close for every open WebSocket (SIGTERM: drain, then close_all 1001 "going away").
void tc_ws_server_close_all(struct tc_ws_server *server, uint16_t code, const char *reason);

#endif
