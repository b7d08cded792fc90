// One connection of the WebSocket server: reads, the send ring, frames, keepalive and the close
// handshake (docs/protocol.md §3, §10, §11). See ws_server_internal.h for the states.
#include <string.h>

#include "edge_proto.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "ws_server_internal.h"

static uint64_t conn_id(const struct tc_ws_conn *conn) {
    tc_assert(conn->generation != 0);
    return (uint64_t)conn->generation << 32 | conn->index;
}

uint32_t ws_frame_header_size(uint64_t payload_size) {
    if (payload_size <= 125) return 2;
    if (payload_size <= 65535) return 4;
    return 10;
}

// The transport seam: plain TCP unless the options name another.
static int32_t conn_read(struct tc_ws_conn *conn, uint8_t *buffer, uint32_t size) {
    const struct tc_ws_transport *transport = conn->server->options.transport;
    if (transport == NULL) return tc_server_net_read(conn->handler.fd, buffer, size);
    tc_assert(conn->transport_open);
    return transport->read(conn->transport_context, conn->handler.fd, buffer, size);
}

static int32_t conn_write(struct tc_ws_conn *conn, const uint8_t *data, uint32_t size) {
    const struct tc_ws_transport *transport = conn->server->options.transport;
    if (transport == NULL) return tc_server_net_write(conn->handler.fd, data, size);
    tc_assert(conn->transport_open);
    return transport->write(conn->transport_context, conn->handler.fd, data, size);
}

static uint32_t conn_pending(const struct tc_ws_conn *conn) {
    const struct tc_ws_transport *transport = conn->server->options.transport;
    if (transport == NULL) return 0;
    const uint32_t pending = transport->pending(conn->transport_context);
    tc_assert(pending <= TC_WS_TRANSPORT_PENDING_MAX);
    return pending;
}

// The socket readiness that serves `wanted` (TC_LOOP_READ: reading, TC_LOOP_WRITE: writing).
static uint32_t conn_socket_interest(const struct tc_ws_conn *conn, uint32_t wanted) {
    const struct tc_ws_transport *transport = conn->server->options.transport;
    if (transport == NULL || wanted == 0) return wanted;
    const uint32_t interest = transport->interest(conn->transport_context, wanted);
    tc_assert((interest & ~(uint32_t)(TC_LOOP_READ | TC_LOOP_WRITE)) == 0);
    return interest;
}

static void conn_shutdown_write(struct tc_ws_conn *conn) {
    const struct tc_ws_transport *transport = conn->server->options.transport;
    if (transport == NULL) {
        tc_server_net_shutdown_write(conn->handler.fd);
        return;
    }
    transport->shutdown_write(conn->transport_context, conn->handler.fd);
}

void ws_conn_socket_close(struct tc_ws_conn *conn) {
    struct tc_ws_server *server = conn->server;
    const struct tc_ws_transport *transport = server->options.transport;
    tc_assert(conn->handler.registered);
    if (conn->transport_open) {
        tc_assert(transport != NULL);
        transport->close(transport->instance, conn->transport_context);
        conn->transport_open = false;
    }
    const int fd = conn->handler.fd;
    tc_loop_remove(server->loop, &conn->handler);
    tc_server_net_close(fd);
}

// A read or write failed: count it (a transport protocol failure, or an abort) and end.
static void conn_broken(struct tc_ws_conn *conn, int32_t error) {
    struct tc_ws_server *server = conn->server;
    const struct tc_ws_transport *transport = server->options.transport;
    tc_assert(error < 0 && error != TC_EAGAIN);
    if (error == TC_ECORRUPT && transport != NULL) {
        if (transport->established(conn->transport_context)) {
            server->stats.tls_errors += 1;
            ws_server_log(server, "connection from %s: TLS error", conn->peer.ip);
        } else {
            server->stats.tls_handshake_failures += 1;
            ws_server_log(server, "connection from %s: TLS handshake failed", conn->peer.ip);
        }
    }
    if (conn->state == WS_CONN_OPEN) server->stats.closes_aborted += 1;
    ws_conn_kill(conn);
}

// ------------------------------------------------------------------------------------------------
// The send ring.

static void ring_put(struct tc_ws_conn *conn, const uint8_t *data, uint32_t size) {
    const uint32_t capacity = conn->server->options.send_buffer_bytes;
    tc_assert(conn->send_used + size <= capacity);
    tc_assert(conn->send_head < capacity);
    if (size == 0) return;
    const uint32_t tail = (uint32_t)(((uint64_t)conn->send_head + conn->send_used) % capacity);
    const uint32_t first = tc_min_u32(size, capacity - tail);
    memcpy(conn->send_ring + tail, data, first);
    memcpy(conn->send_ring, data + first, size - first);
    conn->send_used += size;
}

// Tracks how long the ring has been above 3/4 full (the slow-consumer policy, §6).
static void conn_water_update(struct tc_ws_conn *conn) {
    const uint64_t capacity = conn->server->options.send_buffer_bytes;
    const bool above = (uint64_t)conn->send_used * 4 > capacity * 3;
    if (above && !conn->high_water) conn->high_water_since_ms = conn->server->now_ms;
    conn->high_water = above;
}

int ws_conn_append_frame(struct tc_ws_conn *conn, enum tc_edge_ws_opcode opcode,
                         const uint8_t *payload, uint32_t size, uint32_t reserve) {
    const uint32_t capacity = conn->server->options.send_buffer_bytes;
    tc_assert(reserve < capacity);
    tc_assert(conn->state != WS_CONN_FREE);
    const uint64_t frame_size = (uint64_t)ws_frame_header_size(size) + size;
    if (frame_size > capacity - reserve) return TC_ETOOBIG;
    if (conn->send_used + frame_size > capacity - reserve) return TC_ENOSPC;
    uint8_t header[TC_EDGE_WS_HEADER_SIZE_MAX];
    const uint32_t header_size = tc_edge_ws_header_write(header, opcode, true, size, NULL);
    tc_assert(header_size == ws_frame_header_size(size));
    ring_put(conn, header, header_size);
    ring_put(conn, payload, size);
    conn->server->stats.frames_out += 1;
    conn_water_update(conn);
    return TC_OK;
}

static void conn_interest_update(struct tc_ws_conn *conn) {
    tc_assert(conn->state != WS_CONN_FREE && conn->state != WS_CONN_DEAD);
    const uint32_t reading = conn_socket_interest(conn, conn->read_eof ? 0u : TC_LOOP_READ);
    const uint32_t writing = conn_socket_interest(conn, conn->send_used > 0 ? TC_LOOP_WRITE : 0u);
    if (conn->read_eof && (writing & TC_LOOP_READ) != 0) {
        // The transport's write waits for input after the stream ended: it never comes (and the
        // socket at end of stream would report readable forever).
        if (conn->state == WS_CONN_OPEN) conn->server->stats.closes_aborted += 1;
        ws_conn_kill(conn);
        return;
    }
    if (tc_loop_modify(conn->server->loop, &conn->handler, reading | writing) != TC_OK) {
        ws_conn_kill(conn); // epoll out of memory: the connection cannot be served
    }
}

// Writes until the ring is empty or the socket is full. In LINGER an empty ring shuts the write
// side (the peer reads end of stream) and, when the peer already ended, finishes.
void ws_conn_flush(struct tc_ws_conn *conn) {
    struct tc_ws_server *server = conn->server;
    const uint32_t capacity = server->options.send_buffer_bytes;
    if (conn->state == WS_CONN_DEAD || conn->state == WS_CONN_FREE) return;
    while (conn->send_used > 0) {
        const uint32_t segment = tc_min_u32(conn->send_used, capacity - conn->send_head);
        // After TC_EAGAIN the ring's head stays and the segment can only grow: a TLS write is
        // retried with the same bytes, as OpenSSL requires.
        const int32_t written = conn_write(conn, conn->send_ring + conn->send_head, segment);
        if (written == TC_EAGAIN) break;
        if (written < 0) {
            conn_broken(conn, written);
            return;
        }
        tc_assert((uint32_t)written <= segment);
        conn->send_head = (conn->send_head + (uint32_t)written) % capacity;
        conn->send_used -= (uint32_t)written;
        server->stats.bytes_out += (uint32_t)written;
    }
    if (conn->send_used == 0) conn->send_head = 0;
    conn_water_update(conn);
    if (conn->state == WS_CONN_LINGER && conn->send_used == 0) {
        if (conn->read_eof) {
            ws_conn_kill(conn);
            return;
        }
        if (!conn->write_shut) conn_shutdown_write(conn);
        conn->write_shut = true;
    }
    conn_interest_update(conn);
}

// ------------------------------------------------------------------------------------------------
// Ending.

// The id goes stale now; on_close is owed (delivered by ws_server_exit).
static void conn_app_end(struct tc_ws_conn *conn) {
    struct tc_ws_server *server = conn->server;
    tc_assert(conn->app_open);
    tc_assert(conn->state == WS_CONN_OPEN);
    conn->app_open = false;
    conn->close_callback_due = true;
    ws_users_remove(server, conn->claims.user);
    tc_assert(server->stats.connections_open > 0);
    server->stats.connections_open -= 1;
    ws_conn_queue(conn);
}

void ws_conn_kill(struct tc_ws_conn *conn) {
    tc_assert(conn->state != WS_CONN_FREE);
    if (conn->state == WS_CONN_DEAD) return;
    if (conn->app_open) conn_app_end(conn);
    conn->state = WS_CONN_DEAD;
    ws_conn_queue(conn);
}

void ws_conn_linger(struct tc_ws_conn *conn) {
    struct tc_ws_server *server = conn->server;
    tc_assert(!conn->app_open);
    tc_assert(conn->state == WS_CONN_HTTP || conn->state == WS_CONN_OPEN ||
              conn->state == WS_CONN_CLOSING);
    const uint64_t deadline_ms = server->now_ms + server->options.close_timeout_ms;
    if (conn->state != WS_CONN_CLOSING || deadline_ms < conn->deadline_ms) {
        conn->deadline_ms = deadline_ms;
    }
    conn->state = WS_CONN_LINGER;
    ws_conn_flush(conn);
}

static void close_count(struct tc_ws_server_stats *stats, uint16_t code) {
    switch (code) {
    case 1000: stats->close_1000 += 1; break;
    case 1001: stats->close_1001 += 1; break;
    case 1002: stats->close_1002 += 1; break;
    case 1003: stats->close_1003 += 1; break;
    case 1007: stats->close_1007 += 1; break;
    case 1008: stats->close_1008 += 1; break;
    case 1009: stats->close_1009 += 1; break;
    case 1011: stats->close_1011 += 1; break;
    case 4001: stats->close_4001 += 1; break;
    case 4002: stats->close_4002 += 1; break;
    case 4003: stats->close_4003 += 1; break;
    case 4004: stats->close_4004 += 1; break;
    default: stats->close_other += 1; break;
    }
}

// Queues our close frame; the reserve guarantees it fits (only one is ever sent).
static void conn_close_frame(struct tc_ws_conn *conn, uint16_t code, const char *reason) {
    tc_assert(tc_edge_ws_close_code_valid(code));
    const uint32_t reason_size = (uint32_t)strlen(reason);
    tc_assert(reason_size <= TC_EDGE_WS_CLOSE_REASON_SIZE_MAX);
    tc_assert_hot(tc_edge_utf8_valid((const uint8_t *)reason, reason_size));
    uint8_t payload[TC_EDGE_WS_CONTROL_SIZE_MAX];
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)(code & 0xff);
    memcpy(payload + 2, reason, reason_size);
    const int result =
        ws_conn_append_frame(conn, TC_EDGE_WS_OP_CLOSE, payload, 2 + reason_size, 0);
    tc_assert(result == TC_OK);
    close_count(&conn->server->stats, code);
}

// A connection-level error event ({"type":"error",...} without id) before a close; dropped when
// the ring is too full for it (a slow consumer).
static void conn_error_event(struct tc_ws_conn *conn, enum tc_edge_error error) {
    char event[256];
    const int32_t size = tc_edge_response_error(event, sizeof(event), NULL, 0, error, NULL, 0);
    tc_assert(size > 0);
    (void)ws_conn_append_frame(conn, TC_EDGE_WS_OP_TEXT, (const uint8_t *)event, (uint32_t)size,
                               TC_WS_SERVER_RESERVE_CLOSE);
}

void ws_conn_close_start(struct tc_ws_conn *conn, uint16_t code, const char *reason) {
    struct tc_ws_server *server = conn->server;
    tc_assert(conn->state == WS_CONN_OPEN && conn->app_open);
    conn_close_frame(conn, code, reason);
    conn_app_end(conn);
    conn->state = WS_CONN_CLOSING;
    conn->deadline_ms = server->now_ms + server->options.close_timeout_ms;
    ws_conn_flush(conn);
}

// ------------------------------------------------------------------------------------------------
// Frames from the peer.

void ws_conn_open(struct tc_ws_conn *conn) {
    struct tc_ws_server *server = conn->server;
    tc_assert(conn->state == WS_CONN_HTTP && !conn->app_open);
    const struct tc_edge_ws_limits limits = {
        .frame_size_max = server->options.frame_size_max,
        .message_size_max = server->options.message_size_max,
    };
    tc_edge_ws_reader_init(&conn->protocol.ws, &limits, conn->message);
    conn->state = WS_CONN_OPEN;
    conn->app_open = true;
    conn->last_in_ms = server->now_ms;
    conn->next_ping_ms = server->now_ms + server->options.ping_interval_ms;
    server->stats.connections_open += 1;
    server->stats.handshakes += 1;
    server->options.on_open(server->options.context, conn_id(conn), &conn->claims,
                                      conn->peer.ip);
}

// The peer's close: answer it (echo its code, 1000 when it gave none) and finish.
static void conn_on_peer_close(struct tc_ws_conn *conn, uint16_t code) {
    if (conn->state == WS_CONN_OPEN) {
        conn->server->stats.closes_by_peer += 1;
        conn_close_frame(conn, code == TC_EDGE_WS_CLOSE_NO_STATUS ? TC_EDGE_WS_CLOSE_NORMAL : code,
                         "");
        conn_app_end(conn);
    }
    ws_conn_linger(conn);
}

// A protocol violation: close with the reader's code. The reader cannot parse past it, so the
// peer's close is awaited as end of stream (LINGER).
static void conn_on_violation(struct tc_ws_conn *conn, const struct tc_edge_ws_event *event) {
    if (conn->state == WS_CONN_OPEN) {
        if (event->close_code == TC_EDGE_WS_CLOSE_MESSAGE_TOO_BIG) {
            conn_error_event(conn, TC_EDGE_ERROR_FRAME_TOO_LARGE); // §9: error, then 1009
        }
        conn_close_frame(conn, event->close_code, tc_edge_ws_error_name(event->error));
        conn_app_end(conn);
    }
    ws_conn_linger(conn);
}

static void conn_on_event(struct tc_ws_conn *conn, const struct tc_edge_ws_event *event) {
    struct tc_ws_server *server = conn->server;
    const bool open = conn->state == WS_CONN_OPEN;
    switch (event->kind) {
    case TC_EDGE_WS_EVENT_TEXT:
        if (!open) return; // after our close frame: data is dropped
        server->stats.messages_in += 1;
        server->options.on_text(server->options.context, conn_id(conn), event->payload,
                                          event->payload_size);
        return;
    case TC_EDGE_WS_EVENT_BINARY:
        if (open) ws_conn_close_start(conn, TC_EDGE_WS_CLOSE_UNSUPPORTED_DATA, "binary_message");
        return;
    case TC_EDGE_WS_EVENT_PING:
        server->stats.pings_received += 1;
        if (!open) return;
        if (ws_conn_append_frame(conn, TC_EDGE_WS_OP_PONG, event->payload, event->payload_size,
                                 TC_WS_SERVER_RESERVE_CLOSE) != TC_OK) {
            server->stats.pongs_dropped += 1;
        }
        return;
    case TC_EDGE_WS_EVENT_PONG: server->stats.pongs_received += 1; return;
    case TC_EDGE_WS_EVENT_CLOSE: conn_on_peer_close(conn, event->close_code); return;
    case TC_EDGE_WS_EVENT_ERROR: conn_on_violation(conn, event); return;
    case TC_EDGE_WS_EVENT_NONE:
    default: tc_unreachable();
    }
}

// Feeds frames to the reader while the connection still reads them. A callback may close this
// connection: the reader and its message buffer stay valid (teardown is deferred), and the loop
// stops or continues by the new state. Bytes after the last readable frame are dropped.
static void conn_ws_feed(struct tc_ws_conn *conn, const uint8_t *data, uint32_t size) {
    struct tc_ws_server *server = conn->server;
    uint32_t at = 0;
    while (at < size) {
        if (conn->state != WS_CONN_OPEN && conn->state != WS_CONN_CLOSING) return;
        uint32_t consumed = 0;
        struct tc_edge_ws_event event;
        const enum tc_edge_ws_event_kind kind =
            tc_edge_ws_reader_feed(&conn->protocol.ws, data + at, size - at, &consumed, &event);
        tc_assert(consumed <= size - at);
        at += consumed;
        if (kind == TC_EDGE_WS_EVENT_NONE) {
            tc_assert(at == size);
            return;
        }
        server->stats.frames_in += 1;
        conn->last_in_ms = server->now_ms;
        conn_on_event(conn, &event);
    }
}

static void conn_on_eof(struct tc_ws_conn *conn) {
    conn->read_eof = true;
    switch (conn->state) {
    case WS_CONN_OPEN:
        conn->server->stats.closes_aborted += 1;
        ws_conn_kill(conn);
        return;
    case WS_CONN_HTTP:
    case WS_CONN_CLOSING: ws_conn_kill(conn); return;
    case WS_CONN_LINGER: ws_conn_flush(conn); return; // ends once the ring is empty
    case WS_CONN_FREE:
    case WS_CONN_DEAD:
    default: tc_unreachable();
    }
}

// One read, every byte consumed before returning, so the server needs only one shared read
// buffer. False when nothing more is to be read now (TC_EAGAIN, end of stream, an error).
static bool conn_read_once(struct tc_ws_conn *conn) {
    struct tc_ws_server *server = conn->server;
    const int32_t result = conn_read(conn, server->read_buffer, server->options.read_buffer_bytes);
    if (result == TC_EAGAIN) return false;
    if (result == 0) {
        conn_on_eof(conn);
        return false;
    }
    if (result < 0) {
        conn_broken(conn, result);
        return false;
    }
    server->stats.bytes_in += (uint32_t)result;
    const uint8_t *data = server->read_buffer;
    uint32_t size = (uint32_t)result;
    if (conn->state == WS_CONN_HTTP) {
        const uint32_t consumed = ws_http_feed(conn, data, size);
        tc_assert(consumed <= size);
        data += consumed;
        size -= consumed;
    }
    if (size > 0) conn_ws_feed(conn, data, size); // LINGER and DEAD drop input
    return true;
}

// Level-triggered: bytes left in the socket fire again. Bytes a transport already decoded (a TLS
// record larger than the read buffer) do not, so they are drained here: at most
// TC_WS_TRANSPORT_PENDING_MAX of them, read_buffer_bytes (>= READ_BUFFER_MIN) at a time.
static void conn_on_readable(struct tc_ws_conn *conn) {
    for (uint32_t i = 0; i < WS_READS_PER_EVENT_MAX; i++) {
        if (conn->state == WS_CONN_DEAD || conn->read_eof) return;
        if (!conn_read_once(conn)) return;
        if (conn_pending(conn) == 0) return;
    }
    // Not reached while a transport keeps its bound; if one did not, ws_conn_tick reads the rest.
}

// A transport's read may wait for the socket to be writable (a TLS handshake flight that did not
// fit), its write for it to be readable: each readiness retries what waits for it. The flush at
// the end also recomputes the interest from where the transport now waits.
void ws_conn_on_ready(struct tc_loop_handler *handler, uint32_t ready) {
    struct tc_ws_conn *conn = handler->context;
    struct tc_ws_server *server = conn->server;
    tc_assert(conn->state != WS_CONN_FREE);
    ws_server_enter(server);
    const bool read_waits_write =
        !conn->read_eof && (conn_socket_interest(conn, TC_LOOP_READ) & TC_LOOP_WRITE) != 0;
    if ((ready & (TC_LOOP_READ | TC_LOOP_HANGUP)) != 0 ||
        ((ready & TC_LOOP_WRITE) != 0 && read_waits_write)) {
        conn_on_readable(conn);
    }
    ws_conn_flush(conn);
    ws_server_exit(server);
}

// ------------------------------------------------------------------------------------------------
// Timers.

static void conn_tick_open(struct tc_ws_conn *conn, uint64_t now_s) {
    struct tc_ws_server *server = conn->server;
    const struct tc_ws_server_options *o = &server->options;
    const uint64_t now_ms = server->now_ms;
    if (now_s >= conn->claims.exp_s + o->jwt.leeway_s) {
        conn_error_event(conn, TC_EDGE_ERROR_TOKEN_EXPIRED);
        ws_conn_close_start(conn, TC_EDGE_WS_CLOSE_TOKEN_EXPIRED, "token_expired");
        return;
    }
    if (now_ms - conn->last_in_ms >= o->idle_timeout_ms) {
        ws_conn_close_start(conn, TC_EDGE_WS_CLOSE_IDLE, "idle");
        return;
    }
    if (conn->high_water && now_ms - conn->high_water_since_ms >= o->slow_consumer_timeout_ms) {
        conn_error_event(conn, TC_EDGE_ERROR_SLOW_CONSUMER);
        ws_conn_close_start(conn, TC_EDGE_WS_CLOSE_SLOW_CONSUMER, "slow_consumer");
        return;
    }
    if (now_ms >= conn->next_ping_ms) {
        conn->next_ping_ms = now_ms + o->ping_interval_ms;
        // Skipped when the ring is that full: the peer is not reading anyway.
        if (ws_conn_append_frame(conn, TC_EDGE_WS_OP_PING, NULL, 0, TC_WS_SERVER_RESERVE_CLOSE) ==
            TC_OK) {
            server->stats.pings_sent += 1;
            ws_conn_flush(conn);
        }
    }
}

void ws_conn_tick(struct tc_ws_conn *conn, uint64_t now_s) {
    struct tc_ws_server *server = conn->server;
    if (conn->state == WS_CONN_FREE || conn->state == WS_CONN_DEAD) return;
    if (!conn->read_eof && conn_pending(conn) > 0) { // a safety net: see conn_on_readable
        conn_on_readable(conn);
        ws_conn_flush(conn);
        if (conn->state == WS_CONN_DEAD) return;
    }
    switch (conn->state) {
    case WS_CONN_FREE:
    case WS_CONN_DEAD: return;
    case WS_CONN_OPEN: conn_tick_open(conn, now_s); return;
    case WS_CONN_HTTP:
        if (server->now_ms >= conn->deadline_ms) {
            server->stats.header_timeouts += 1;
            ws_conn_kill(conn);
        }
        return;
    case WS_CONN_CLOSING:
    case WS_CONN_LINGER:
        if (server->now_ms >= conn->deadline_ms) {
            server->stats.close_timeouts += 1;
            ws_conn_kill(conn);
        }
        return;
    default: tc_unreachable();
    }
}
