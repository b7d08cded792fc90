#ifndef TC_WS_SERVER_INTERNAL_H
#define TC_WS_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "edge_http.h"
#include "edge_ws.h"
#include "tc_arena.h" // tc_min_u32 and friends
#include "ws_server.h"

// Private to node/server/ws_server*.c: the connection slot and the helpers the three files share.
//
// Connection life: FREE → HTTP (reading the request head) → OPEN (WebSocket, app_open) →
// CLOSING (our close frame sent, reading until the peer's close) → LINGER (flush, shutdown write,
// discard input until end of stream or the deadline) → DEAD (queued for teardown) → FREE.
// Refused handshakes go HTTP → LINGER; broken sockets and expired deadlines go straight to DEAD.
// Only ws_server_exit (the outermost return of a handler, tick or API call) releases DEAD slots,
// so no buffer is ever reused while a caller up the stack still reads it.

enum ws_conn_state {
    WS_CONN_FREE = 0,
    WS_CONN_HTTP,
    WS_CONN_OPEN,
    WS_CONN_CLOSING,
    WS_CONN_LINGER,
    WS_CONN_DEAD,
};

#define WS_QUEUE_NONE UINT32_MAX
// Reads per readiness event: one, then as many as it takes to drain what the transport already
// decoded (epoll cannot report it), read_buffer_bytes at a time.
#define WS_READS_PER_EVENT_MAX (1u + TC_WS_TRANSPORT_PENDING_MAX / TC_WS_SERVER_READ_BUFFER_MIN)

struct tc_ws_conn {
    struct tc_ws_server *server;
    struct tc_loop_handler handler;
    uint32_t index;
    uint32_t generation;     // bumped when the slot is taken; never 0
    enum ws_conn_state state;
    bool app_open;           // between on_open and the end of OPEN: the id is valid
    bool close_callback_due; // on_close owed (delivered by ws_server_exit)
    bool queued;
    bool read_eof;
    bool write_shut;
    bool high_water;         // send buffer above 3/4 since high_water_since_ms
    bool dirty;              // text frames appended, not yet written (tc_ws_server_flush)
    uint32_t queue_next;
    uint64_t deadline_ms;    // HTTP: handshake timeout; CLOSING, LINGER: close timeout
    uint64_t last_in_ms;     // the last complete frame received
    uint64_t next_ping_ms;
    uint64_t high_water_since_ms;
    struct tc_server_net_peer peer;
    uint8_t *send_ring;      // send_buffer_bytes
    uint32_t send_head;
    uint32_t send_used;
    uint8_t *message;        // the reader's message buffer
    void *transport_context; // NULL for plain TCP; else this slot's transport_context_size bytes
    bool transport_open;     // transport->open succeeded; close is owed
    struct tc_edge_jwt_claims claims;
    union {
        struct tc_edge_http_request http; // state HTTP
        struct tc_edge_ws_reader ws;      // OPEN, CLOSING
    } protocol;
};

// IP table: per-peer handshake token bucket (§8).
struct ws_ip_entry {
    uint8_t key[TC_SERVER_NET_IP_KEY_SIZE];
    bool used;
    uint64_t tokens_milli; // thousandths of a handshake
    uint64_t last_ms;      // last refill (and staleness for eviction)
};

// User table: open WebSockets per user (linear probing; user 0 marks a free entry).
struct ws_user_entry {
    uint64_t user;
    uint32_t count;
};

// ws_server.c
void ws_server_enter(struct tc_ws_server *server);
void ws_server_exit(struct tc_ws_server *server);
void ws_conn_queue(struct tc_ws_conn *conn);
void ws_server_log(struct tc_ws_server *server, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
uint64_t ws_server_now_s(struct tc_ws_server *server);

// ws_server_conn.c
// Closes the socket (the transport's close first) and leaves the loop.
void ws_conn_socket_close(struct tc_ws_conn *conn);
void ws_conn_on_ready(struct tc_loop_handler *handler, uint32_t ready);
// Appends one frame if frame + reserve fits; TC_OK, TC_ENOSPC or TC_ETOOBIG. Does not write.
int ws_conn_append_frame(struct tc_ws_conn *conn, enum tc_edge_ws_opcode opcode,
                         const uint8_t *payload, uint32_t size, uint32_t reserve);
void ws_conn_flush(struct tc_ws_conn *conn);
void ws_conn_open(struct tc_ws_conn *conn); // after the 101 is queued: reader, timers, on_open
void ws_conn_close_start(struct tc_ws_conn *conn, uint16_t code, const char *reason);
void ws_conn_linger(struct tc_ws_conn *conn);
void ws_conn_kill(struct tc_ws_conn *conn);
void ws_conn_tick(struct tc_ws_conn *conn, uint64_t now_s);
uint32_t ws_frame_header_size(uint64_t payload_size);

// ws_server_http.c
// Feeds bytes of the request head; on a complete head answers it (refusal → LINGER, upgrade →
// OPEN). Returns the bytes consumed (the rest belong to the WebSocket when OPEN).
uint32_t ws_http_feed(struct tc_ws_conn *conn, const uint8_t *data, uint32_t size);
// A refusal written at accept time, before any request byte is read (no slot needed).
int32_t ws_http_write_busy(struct tc_ws_server *server, char *out, uint32_t out_size);
void ws_users_remove(struct tc_ws_server *server, uint64_t user);

#endif
