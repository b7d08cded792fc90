// The WebSocket edge's connection layer (see ws_server.h): options, start-up allocation, the
// listener, the deferred teardown queue, timers and the public API. Connection I/O and frames are
// in ws_server_conn.c, the HTTP handshake in ws_server_http.c.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "io_linux.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "ws_server_internal.h"

void tc_ws_server_options_default(struct tc_ws_server_options *options) {
    tc_assert(options != NULL);
    memset(options, 0, sizeof(*options));
    options->listen_backlog = 1024;
    options->connections_max = 1024;
    options->connections_per_user_max = 16;
    options->message_size_max = TC_EDGE_WS_MESSAGE_SIZE_DEFAULT;
    options->frame_size_max = TC_EDGE_WS_MESSAGE_SIZE_DEFAULT;
    options->send_buffer_bytes = 1u << 20;
    options->read_buffer_bytes = 16384;
    options->accepts_per_event = 64;
    options->ping_interval_ms = 30000;
    options->idle_timeout_ms = 60000;
    options->close_timeout_ms = 5000;
    options->handshake_timeout_ms = 10000;
    options->slow_consumer_timeout_ms = 30000;
    options->handshake_rate_per_s = 20;
    options->handshake_burst = 50;
    options->ip_table_size = 4096;
    options->retry_after_s = 1;
}

// Fills the fields left 0 with the defaults.
static void options_resolve(struct tc_ws_server_options *o) {
    struct tc_ws_server_options d;
    tc_ws_server_options_default(&d);
    if (o->listen_backlog == 0) o->listen_backlog = d.listen_backlog;
    if (o->connections_max == 0) o->connections_max = d.connections_max;
    if (o->connections_per_user_max == 0) o->connections_per_user_max = d.connections_per_user_max;
    if (o->message_size_max == 0) o->message_size_max = d.message_size_max;
    if (o->frame_size_max == 0) o->frame_size_max = o->message_size_max;
    if (o->send_buffer_bytes == 0) o->send_buffer_bytes = d.send_buffer_bytes;
    if (o->read_buffer_bytes == 0) o->read_buffer_bytes = d.read_buffer_bytes;
    if (o->accepts_per_event == 0) o->accepts_per_event = d.accepts_per_event;
    if (o->ping_interval_ms == 0) o->ping_interval_ms = d.ping_interval_ms;
    if (o->idle_timeout_ms == 0) o->idle_timeout_ms = d.idle_timeout_ms;
    if (o->close_timeout_ms == 0) o->close_timeout_ms = d.close_timeout_ms;
    if (o->handshake_timeout_ms == 0) o->handshake_timeout_ms = d.handshake_timeout_ms;
    if (o->slow_consumer_timeout_ms == 0) o->slow_consumer_timeout_ms = d.slow_consumer_timeout_ms;
    if (o->handshake_rate_per_s == 0) o->handshake_rate_per_s = d.handshake_rate_per_s;
    if (o->handshake_burst == 0) o->handshake_burst = d.handshake_burst;
    if (o->ip_table_size == 0) o->ip_table_size = d.ip_table_size;
    if (o->retry_after_s == 0) o->retry_after_s = d.retry_after_s;
}

static bool range_ok(uint64_t value, uint64_t min, uint64_t max) {
    return value >= min && value <= max;
}

static const char *options_invalid_sizes(const struct tc_ws_server_options *o) {
    if (!range_ok(o->connections_max, 1, TC_WS_SERVER_CONNECTIONS_LIMIT)) {
        return "connections_max";
    }
    if (!range_ok(o->connections_per_user_max, 1, UINT32_MAX)) return "connections_per_user_max";
    if (!range_ok(o->message_size_max, TC_EDGE_WS_CONTROL_SIZE_MAX,
                  TC_EDGE_WS_MESSAGE_SIZE_LIMIT)) {
        return "message_size_max";
    }
    if (!range_ok(o->frame_size_max, TC_EDGE_WS_CONTROL_SIZE_MAX, o->message_size_max)) {
        return "frame_size_max";
    }
    if (!range_ok(o->send_buffer_bytes, TC_WS_SERVER_SEND_BUFFER_MIN,
                  TC_WS_SERVER_SEND_BUFFER_LIMIT)) {
        return "send_buffer_bytes";
    }
    if (!range_ok(o->read_buffer_bytes, TC_WS_SERVER_READ_BUFFER_MIN,
                  TC_WS_SERVER_READ_BUFFER_LIMIT)) {
        return "read_buffer_bytes";
    }
    if (!range_ok(o->ip_table_size, TC_WS_SERVER_IP_PROBES, TC_WS_SERVER_IP_TABLE_LIMIT) ||
        !tc_is_power_of_two(o->ip_table_size)) {
        return "ip_table_size (a power of two)";
    }
    if (!range_ok(o->listen_backlog, 1, TC_SERVER_NET_BACKLOG_MAX)) return "listen_backlog";
    if (!range_ok(o->accepts_per_event, 1, 4096)) return "accepts_per_event";
    return NULL;
}

static const char *options_invalid_times(const struct tc_ws_server_options *o) {
    if (o->ping_interval_ms == 0) return "ping_interval_ms";
    if (o->idle_timeout_ms == 0) return "idle_timeout_ms";
    if (o->close_timeout_ms == 0) return "close_timeout_ms";
    if (o->handshake_timeout_ms == 0) return "handshake_timeout_ms";
    if (o->slow_consumer_timeout_ms == 0) return "slow_consumer_timeout_ms";
    if (!range_ok(o->handshake_rate_per_s, 1, 1000000)) return "handshake_rate_per_s";
    if (!range_ok(o->handshake_burst, 1, 1000000)) return "handshake_burst";
    if (!range_ok(o->retry_after_s, 1, 3600)) return "retry_after_s";
    return NULL;
}

static const char *options_invalid_transport(const struct tc_ws_transport *t) {
    if (t == NULL) return NULL;
    if (t->open == NULL || t->close == NULL || t->read == NULL || t->write == NULL ||
        t->pending == NULL || t->interest == NULL || t->established == NULL ||
        t->shutdown_write == NULL) {
        return "transport (every hook is required)";
    }
    if (!range_ok(t->context_size, 1, TC_WS_TRANSPORT_CONTEXT_SIZE_MAX)) {
        return "transport context_size";
    }
    return NULL;
}

static const char *options_invalid(const struct tc_ws_server_options *o) {
    if (o->loop == NULL) return "loop";
    if (o->listen_address == NULL || strlen(o->listen_address) >= 256) return "listen_address";
    if (o->on_open == NULL || o->on_text == NULL ||
        o->on_close == NULL) {
        return "callbacks";
    }
    const char *invalid = options_invalid_sizes(o);
    if (invalid == NULL) invalid = options_invalid_times(o);
    if (invalid == NULL) invalid = options_invalid_transport(o->transport);
    if (invalid == NULL) invalid = tc_edge_jwt_config_invalid(&o->jwt);
    return invalid;
}

static void server_free(struct tc_ws_server *server) {
    free(server->conns);
    free(server->free_slots);
    free(server->send_buffers);
    free(server->message_buffers);
    free(server->read_buffer);
    free(server->transport_contexts);
    free(server->ip_table);
    free(server->users);
    free(server->jwt_scratch);
    free(server->dirty);
    server->dirty = NULL;
    server->dirty_count = 0;
    server->conns = NULL;
    server->free_slots = NULL;
    server->send_buffers = NULL;
    server->message_buffers = NULL;
    server->read_buffer = NULL;
    server->transport_contexts = NULL;
    server->ip_table = NULL;
    server->users = NULL;
    server->jwt_scratch = NULL;
}

// calloc for the large arrays: the kernel zeroes their pages lazily, so idle slots cost no RAM.
static int server_allocate(struct tc_ws_server *server) {
    const struct tc_ws_server_options *o = &server->options;
    const uint64_t count = o->connections_max;
    server->users_capacity = 1;
    while (server->users_capacity < 2 * o->connections_max) server->users_capacity *= 2;
    server->conns = calloc(count, sizeof(struct tc_ws_conn));
    server->free_slots = calloc(count, sizeof(uint32_t));
    server->send_buffers = calloc(count, o->send_buffer_bytes);
    server->message_buffers = calloc(count, o->message_size_max);
    server->read_buffer = calloc(1, o->read_buffer_bytes);
    bool transport_ok = true;
    if (o->transport != NULL) {
        // Rounded up so every slot's context is 16-byte aligned (calloc's base is).
        server->transport_context_size = (uint32_t)tc_div_ceil(o->transport->context_size, 16) * 16;
        server->transport_contexts = calloc(count, server->transport_context_size);
        transport_ok = server->transport_contexts != NULL;
    }
    server->ip_table = calloc(o->ip_table_size, sizeof(struct ws_ip_entry));
    server->users = calloc(server->users_capacity, sizeof(struct ws_user_entry));
    server->jwt_scratch = aligned_alloc(16, TC_EDGE_JWT_SCRATCH_SIZE);
    server->dirty = calloc(count, sizeof(uint32_t));
    server->dirty_count = 0;
    if (server->dirty == NULL || server->conns == NULL || server->free_slots == NULL || server->send_buffers == NULL ||
        server->message_buffers == NULL || server->read_buffer == NULL ||
        server->ip_table == NULL || server->users == NULL || server->jwt_scratch == NULL ||
        !transport_ok) {
        server_free(server);
        (void)snprintf(server->error, sizeof(server->error),
                       "ws server %s: out of memory for %llu connections", o->listen_address,
                       (unsigned long long)count);
        return TC_ENOMEM;
    }
    return TC_OK;
}

static void server_slots_init(struct tc_ws_server *server) {
    const struct tc_ws_server_options *o = &server->options;
    for (uint32_t i = 0; i < o->connections_max; i++) {
        struct tc_ws_conn *conn = &server->conns[i];
        conn->server = server;
        conn->index = i;
        conn->state = WS_CONN_FREE;
        conn->queue_next = WS_QUEUE_NONE;
        conn->send_ring = server->send_buffers + (uint64_t)i * o->send_buffer_bytes;
        conn->message = server->message_buffers + (uint64_t)i * o->message_size_max;
        conn->transport_context = NULL;
        if (o->transport != NULL) {
            conn->transport_context =
                server->transport_contexts + (uint64_t)i * server->transport_context_size;
        }
        tc_loop_handler_init(&conn->handler, ws_conn_on_ready, conn);
        // Popped from the top: slot 0 first.
        server->free_slots[i] = o->connections_max - 1 - i;
    }
    server->free_count = o->connections_max;
}

static void server_on_listen(struct tc_loop_handler *handler, uint32_t ready);
static void server_on_refusal(struct tc_loop_handler *handler, uint32_t ready);

static int server_listen(struct tc_ws_server *server) {
    int result = tc_server_net_listen(server->listen_address, server->options.listen_backlog,
                                      &server->port, server->error, sizeof(server->error));
    if (result < 0) return result;
    server->listen_fd = result;
    tc_loop_handler_init(&server->listen_handler, server_on_listen, server);
    result = tc_loop_add(server->loop, &server->listen_handler, server->listen_fd, TC_LOOP_READ);
    if (result != TC_OK) {
        (void)snprintf(server->error, sizeof(server->error), "ws server %s: epoll add: %s",
                       server->listen_address, tc_strerror(result));
        tc_server_net_close(server->listen_fd);
        server->listen_fd = -1;
        return result;
    }
    return TC_OK;
}

int tc_ws_server_init(struct tc_ws_server *server, const struct tc_ws_server_options *options) {
    tc_assert(server != NULL && options != NULL);
    memset(server, 0, sizeof(*server));
    server->listen_fd = -1;
    server->options = *options;
    options_resolve(&server->options);
    const char *invalid = options_invalid(&server->options);
    if (invalid != NULL) {
        (void)snprintf(server->error, sizeof(server->error), "ws server options: invalid %s",
                       invalid);
        return TC_EINVAL;
    }
    (void)snprintf(server->listen_address, sizeof(server->listen_address), "%s",
                   options->listen_address);
    server->options.listen_address = server->listen_address;
    server->loop = options->loop;
    server->now_ms = tc_io_linux_monotonic_ns() / 1000000u;
    server->queue_head = WS_QUEUE_NONE;
    server->queue_tail = WS_QUEUE_NONE;
    int result = server_allocate(server);
    if (result != TC_OK) return result;
    server_slots_init(server);
    const int sodium = sodium_init(); // 0, or 1 when already initialised
    tc_assert(sodium >= 0);
    randombytes_buf(server->ip_hash_key, sizeof(server->ip_hash_key));
    for (uint32_t i = 0; i < TC_WS_SERVER_REFUSALS_MAX; i++) {
        server->refusals[i].server = server;
        tc_loop_handler_init(&server->refusals[i].handler, server_on_refusal, &server->refusals[i]);
    }
    result = server_listen(server);
    if (result != TC_OK) server_free(server);
    return result;
}

static void handler_close(struct tc_loop *loop, struct tc_loop_handler *handler) {
    tc_assert(handler->registered);
    const int fd = handler->fd;
    tc_loop_remove(loop, handler);
    tc_server_net_close(fd);
}

void tc_ws_server_deinit(struct tc_ws_server *server) {
    tc_assert(server->entered == 0);
    tc_assert(server->listen_fd >= 0);
    for (uint32_t i = 0; i < server->options.connections_max; i++) {
        struct tc_ws_conn *conn = &server->conns[i];
        if (conn->state != WS_CONN_FREE) ws_conn_socket_close(conn);
    }
    for (uint32_t i = 0; i < TC_WS_SERVER_REFUSALS_MAX; i++) {
        if (server->refusals[i].handler.registered) {
            handler_close(server->loop, &server->refusals[i].handler);
        }
    }
    handler_close(server->loop, &server->listen_handler);
    server->listen_fd = -1;
    server_free(server);
}

uint16_t tc_ws_server_port(const struct tc_ws_server *server) {
    return server->port;
}

uint32_t tc_ws_server_connections(const struct tc_ws_server *server) {
    tc_assert(server->free_count <= server->options.connections_max);
    return server->options.connections_max - server->free_count;
}

const struct tc_ws_server_stats *tc_ws_server_stats(const struct tc_ws_server *server) {
    return &server->stats;
}

void ws_server_log(struct tc_ws_server *server, const char *format, ...) {
    if (server->options.log == NULL) return;
    char line[512];
    va_list arguments;
    va_start(arguments, format);
    (void)vsnprintf(line, sizeof(line), format, arguments);
    va_end(arguments);
    server->options.log(server->options.log_context, line);
}

uint64_t ws_server_now_s(struct tc_ws_server *server) {
    if (server->options.now_s != NULL) return server->options.now_s(server->options.now_context);
    return tc_io_linux_realtime_ns() / 1000000000u;
}

// ------------------------------------------------------------------------------------------------
// Deferred teardown: on_close and slot release happen only at the outermost exit.

void ws_conn_queue(struct tc_ws_conn *conn) {
    struct tc_ws_server *server = conn->server;
    if (conn->queued) return;
    tc_assert(conn->queue_next == WS_QUEUE_NONE);
    conn->queued = true;
    if (server->queue_tail == WS_QUEUE_NONE) {
        server->queue_head = conn->index;
    } else {
        server->conns[server->queue_tail].queue_next = conn->index;
    }
    server->queue_tail = conn->index;
}

static struct tc_ws_conn *queue_pop(struct tc_ws_server *server) {
    if (server->queue_head == WS_QUEUE_NONE) return NULL;
    struct tc_ws_conn *conn = &server->conns[server->queue_head];
    tc_assert(conn->queued);
    server->queue_head = conn->queue_next;
    if (server->queue_head == WS_QUEUE_NONE) server->queue_tail = WS_QUEUE_NONE;
    conn->queue_next = WS_QUEUE_NONE;
    conn->queued = false;
    return conn;
}

static void conn_release(struct tc_ws_conn *conn) {
    struct tc_ws_server *server = conn->server;
    tc_assert(conn->state == WS_CONN_DEAD);
    tc_assert(!conn->app_open && !conn->close_callback_due && !conn->queued);
    ws_conn_socket_close(conn);
    conn->state = WS_CONN_FREE;
    tc_assert(server->free_count < server->options.connections_max);
    server->free_slots[server->free_count] = conn->index;
    server->free_count += 1;
    tc_assert(server->stats.connections_active > 0);
    server->stats.connections_active -= 1;
}

void ws_server_enter(struct tc_ws_server *server) {
    server->entered += 1;
}

void ws_server_exit(struct tc_ws_server *server) {
    tc_assert(server->entered > 0);
    if (server->entered == 1) {
        // Each pass ends one owed on_close or releases one slot; callbacks may queue more, but a
        // slot owes at most one on_close per generation, so this ends.
        struct tc_ws_conn *conn;
        while ((conn = queue_pop(server)) != NULL) {
            if (conn->close_callback_due) {
                conn->close_callback_due = false;
                const uint64_t id = (uint64_t)conn->generation << 32 | conn->index;
                server->options.on_close(server->options.context, id);
            }
            if (conn->state == WS_CONN_DEAD && !conn->queued) conn_release(conn);
        }
    }
    server->entered -= 1;
}

// ------------------------------------------------------------------------------------------------
// Accepting.

static void refusal_linger(struct tc_ws_server *server, int fd) {
    for (uint32_t i = 0; i < TC_WS_SERVER_REFUSALS_MAX; i++) {
        struct tc_ws_refusal *refusal = &server->refusals[i];
        if (refusal->handler.registered) continue;
        if (tc_loop_add(server->loop, &refusal->handler, fd, TC_LOOP_READ) != TC_OK) break;
        refusal->deadline_ms = server->now_ms + server->options.close_timeout_ms;
        return;
    }
    tc_server_net_close(fd); // no room to linger: the answer may be lost to a reset
}

// No free slot: answer 503 at once (it fits any fresh socket buffer), then linger. Over a
// transport (TLS) an answer would need a handshake, hence a slot: the socket is just closed.
static void server_refuse_busy(struct tc_ws_server *server, int fd) {
    if (server->options.transport != NULL) {
        server->stats.refused_pool_full += 1;
        tc_server_net_close(fd);
        return;
    }
    char response[512];
    const int32_t size = ws_http_write_busy(server, response, sizeof(response));
    tc_assert(size > 0);
    (void)tc_server_net_write(fd, (const uint8_t *)response, (uint32_t)size);
    tc_server_net_shutdown_write(fd);
    server->stats.refused_pool_full += 1;
    server->stats.http_503 += 1;
    refusal_linger(server, fd);
}

static void server_on_refusal(struct tc_loop_handler *handler, uint32_t ready) {
    struct tc_ws_refusal *refusal = handler->context;
    struct tc_ws_server *server = refusal->server;
    (void)ready;
    const int32_t result = tc_server_net_read(handler->fd, server->read_buffer,
                                              server->options.read_buffer_bytes);
    if (result == TC_EAGAIN || result > 0) return; // discard until end of stream
    handler_close(server->loop, handler);
}

// The transport's state for a new connection (plain TCP has none). False when it failed.
static bool server_transport_open(struct tc_ws_conn *conn, int fd) {
    struct tc_ws_server *server = conn->server;
    const struct tc_ws_transport *transport = server->options.transport;
    tc_assert(!conn->transport_open);
    if (transport == NULL) return true;
    memset(conn->transport_context, 0, server->transport_context_size);
    conn->transport_open =
        transport->open(transport->instance, conn->transport_context, fd) == TC_OK;
    return conn->transport_open;
}

static void server_admit(struct tc_ws_server *server, int fd,
                         const struct tc_server_net_peer *peer) {
    if (server->free_count == 0) {
        server_refuse_busy(server, fd);
        return;
    }
    server->free_count -= 1;
    struct tc_ws_conn *conn = &server->conns[server->free_slots[server->free_count]];
    tc_assert(conn->state == WS_CONN_FREE && !conn->queued);
    conn->generation = conn->generation == UINT32_MAX ? 1 : conn->generation + 1;
    conn->state = WS_CONN_HTTP;
    conn->app_open = false;
    conn->close_callback_due = false;
    conn->read_eof = false;
    conn->write_shut = false;
    conn->high_water = false;
    // conn->dirty is left alone: it mirrors the slot's presence in server->dirty, which only
    // tc_ws_server_flush clears (flushing a reused slot early is harmless).
    conn->deadline_ms = server->now_ms + server->options.handshake_timeout_ms;
    conn->peer = *peer;
    conn->send_head = 0;
    conn->send_used = 0;
    conn->transport_open = false;
    struct tc_edge_http_limits limits;
    tc_edge_http_limits_default(&limits);
    tc_edge_http_request_init(&conn->protocol.http, &limits);
    if (!server_transport_open(conn, fd) ||
        tc_loop_add(server->loop, &conn->handler, fd, TC_LOOP_READ) != TC_OK) {
        const struct tc_ws_transport *transport = server->options.transport;
        if (conn->transport_open) transport->close(transport->instance, conn->transport_context);
        conn->transport_open = false;
        tc_server_net_close(fd);
        conn->state = WS_CONN_FREE;
        server->free_slots[server->free_count] = conn->index;
        server->free_count += 1;
        server->stats.accept_errors += 1;
        return;
    }
    server->stats.connections_active += 1;
}

static void server_on_listen(struct tc_loop_handler *handler, uint32_t ready) {
    struct tc_ws_server *server = handler->context;
    (void)ready;
    ws_server_enter(server);
    for (uint32_t i = 0; i < server->options.accepts_per_event; i++) {
        struct tc_server_net_peer peer;
        const int fd = tc_server_net_accept(server->listen_fd, &peer);
        if (fd == TC_EAGAIN) break;
        if (fd == TC_EBUSY) {
            // Level-triggered: the listener would fire again at once. Resume at the next tick.
            ws_server_log(server, "ws server %s: out of descriptors; accepting paused",
                          server->listen_address);
            server->stats.accept_errors += 1;
            if (tc_loop_modify(server->loop, &server->listen_handler, 0) == TC_OK) {
                server->accept_paused = true;
            }
            break;
        }
        if (fd < 0) {
            server->stats.accept_errors += 1;
            continue;
        }
        server->stats.accepted += 1;
        server_admit(server, fd, &peer);
    }
    ws_server_exit(server);
}

// ------------------------------------------------------------------------------------------------
// Timers and the API.

void tc_ws_server_tick(struct tc_ws_server *server, uint64_t now_ms) {
    tc_assert(server->entered == 0);
    tc_assert(now_ms >= server->now_ms);
    server->now_ms = now_ms;
    ws_server_enter(server);
    if (server->accept_paused &&
        tc_loop_modify(server->loop, &server->listen_handler, TC_LOOP_READ) == TC_OK) {
        server->accept_paused = false;
    }
    const uint64_t now_s = ws_server_now_s(server);
    for (uint32_t i = 0; i < server->options.connections_max; i++) {
        ws_conn_tick(&server->conns[i], now_s);
    }
    for (uint32_t i = 0; i < TC_WS_SERVER_REFUSALS_MAX; i++) {
        struct tc_ws_refusal *refusal = &server->refusals[i];
        if (refusal->handler.registered && now_ms >= refusal->deadline_ms) {
            handler_close(server->loop, &refusal->handler);
        }
    }
    ws_server_exit(server);
}

static struct tc_ws_conn *conn_lookup(const struct tc_ws_server *server, uint64_t conn_id) {
    const uint64_t index = conn_id & UINT32_MAX;
    if (index >= server->options.connections_max) return NULL;
    struct tc_ws_conn *conn = &server->conns[index];
    if (!conn->app_open || conn->generation != (uint32_t)(conn_id >> 32)) return NULL;
    tc_assert(conn->state == WS_CONN_OPEN);
    return conn;
}

int tc_ws_server_send_text(struct tc_ws_server *server, uint64_t conn_id, const char *data,
                           uint32_t size) {
    tc_assert(data != NULL || size == 0);
    tc_assert_hot(tc_edge_utf8_valid((const uint8_t *)data, size));
    struct tc_ws_conn *conn = conn_lookup(server, conn_id);
    if (conn == NULL) return TC_ENOENT;
    const int result = ws_conn_append_frame(conn, TC_EDGE_WS_OP_TEXT, (const uint8_t *)data, size,
                                            TC_WS_SERVER_RESERVE_TEXT);
    if (result != TC_OK) {
        server->stats.send_buffer_full += 1;
        return result;
    }
    if (!server->options.defer_text_writes) {
        ws_conn_flush(conn);
    } else if (!conn->dirty) {
        conn->dirty = true;
        tc_assert(server->dirty_count < server->options.connections_max);
        server->dirty[server->dirty_count++] = conn->index;
    }
    return TC_OK;
}

void tc_ws_server_flush(struct tc_ws_server *server) {
    // Bounded by connections_max: each slot is listed at most once (its dirty flag).
    const uint32_t count = server->dirty_count;
    server->dirty_count = 0;
    for (uint32_t i = 0; i < count; i++) {
        struct tc_ws_conn *conn = &server->conns[server->dirty[i]];
        tc_assert(conn->dirty);
        conn->dirty = false;
        ws_conn_flush(conn); // a dead or freed slot returns at once
    }
}

uint32_t tc_ws_server_send_space(const struct tc_ws_server *server, uint64_t conn_id) {
    const struct tc_ws_conn *conn = conn_lookup(server, conn_id);
    if (conn == NULL) return 0;
    const uint32_t limit = server->options.send_buffer_bytes - TC_WS_SERVER_RESERVE_TEXT;
    if (conn->send_used >= limit) return 0;
    const uint32_t free_bytes = limit - conn->send_used;
    // The largest payload p with p + header(p) <= free_bytes, over the three header sizes.
    uint32_t best = 0;
    if (free_bytes >= 2) best = tc_min_u32(125, free_bytes - 2);
    if (free_bytes >= 4) best = tc_max_u32(best, tc_min_u32(65535, free_bytes - 4));
    if (free_bytes >= 10) best = tc_max_u32(best, free_bytes - 10);
    tc_assert(best == 0 || best + ws_frame_header_size(best) <= free_bytes);
    return best;
}

int tc_ws_server_close(struct tc_ws_server *server, uint64_t conn_id, uint16_t code,
                       const char *reason) {
    tc_assert(tc_edge_ws_close_code_valid(code));
    tc_assert(reason == NULL || strlen(reason) <= TC_EDGE_WS_CLOSE_REASON_SIZE_MAX);
    struct tc_ws_conn *conn = conn_lookup(server, conn_id);
    if (conn == NULL) return TC_ENOENT;
    ws_conn_close_start(conn, code, reason == NULL ? "" : reason);
    return TC_OK;
}

int tc_ws_server_set_expiry(struct tc_ws_server *server, uint64_t conn_id, uint64_t exp_s) {
    struct tc_ws_conn *conn = conn_lookup(server, conn_id);
    if (conn == NULL) return TC_ENOENT;
    conn->claims.exp_s = exp_s;
    return TC_OK;
}

void tc_ws_server_drain(struct tc_ws_server *server) {
    if (!server->draining) ws_server_log(server, "ws server %s: draining", server->listen_address);
    server->draining = true;
}

bool tc_ws_server_draining(const struct tc_ws_server *server) {
    return server->draining;
}

void tc_ws_server_close_all(struct tc_ws_server *server, uint16_t code, const char *reason) {
    tc_assert(tc_edge_ws_close_code_valid(code));
    for (uint32_t i = 0; i < server->options.connections_max; i++) {
        struct tc_ws_conn *conn = &server->conns[i];
        if (conn->app_open) ws_conn_close_start(conn, code, reason == NULL ? "" : reason);
    }
}
