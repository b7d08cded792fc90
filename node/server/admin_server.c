// The admin port's HTTP server (see admin_server.h).
#include "admin_server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_linux.h"
#include "tc_assert.h"
#include "tc_err.h"

void tc_admin_server_options_default(struct tc_admin_server_options *options) {
    tc_assert(options != NULL);
    memset(options, 0, sizeof(*options));
    options->listen_backlog = 64;
    options->connections_max = 16;
    options->body_size_max = 256u * 1024u;
    options->timeout_ms = 5000;
    options->request_body_size_max = 64u * 1024u;
}

// Fills the fields left 0 with the defaults.
static void admin_options_resolve(struct tc_admin_server_options *o) {
    struct tc_admin_server_options d;
    tc_admin_server_options_default(&d);
    if (o->listen_backlog == 0) o->listen_backlog = d.listen_backlog;
    if (o->connections_max == 0) o->connections_max = d.connections_max;
    if (o->body_size_max == 0) o->body_size_max = d.body_size_max;
    if (o->timeout_ms == 0) o->timeout_ms = d.timeout_ms;
    if (o->request_body_size_max == 0) o->request_body_size_max = d.request_body_size_max;
}

static const char *admin_options_invalid(const struct tc_admin_server_options *o) {
    if (o->loop == NULL) return "loop";
    if (o->listen_address == NULL || strlen(o->listen_address) >= 256) return "listen_address";
    if (o->listen_backlog < 1 || o->listen_backlog > TC_SERVER_NET_BACKLOG_MAX) {
        return "listen_backlog";
    }
    if (o->connections_max < 1 || o->connections_max > TC_ADMIN_SERVER_CONNECTIONS_LIMIT) {
        return "connections_max";
    }
    if (o->body_size_max < 1 || o->body_size_max > TC_ADMIN_SERVER_BODY_SIZE_LIMIT) {
        return "body_size_max";
    }
    if (o->timeout_ms == 0) return "timeout_ms";
    if (o->metrics == NULL) return "metrics";
    if (o->request_body_size_max > TC_ADMIN_SERVER_REQUEST_BODY_LIMIT) {
        return "request_body_size_max";
    }
    return NULL;
}

static void admin_log(struct tc_admin_server *server, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void admin_log(struct tc_admin_server *server, const char *format, ...) {
    if (server->options.log == NULL) return;
    char line[512];
    va_list arguments;
    va_start(arguments, format);
    (void)vsnprintf(line, sizeof(line), format, arguments);
    va_end(arguments);
    server->options.log(server->options.log_context, line);
}

static void admin_free(struct tc_admin_server *server) {
    free(server->conns);
    free(server->out_buffers);
    free(server->in_buffers);
    free(server->body);
    server->conns = NULL;
    server->out_buffers = NULL;
    server->in_buffers = NULL;
    server->body = NULL;
}

static void admin_on_listen(struct tc_loop_handler *handler, uint32_t ready);
static void admin_conn_on_ready(struct tc_loop_handler *handler, uint32_t ready);

static int admin_allocate(struct tc_admin_server *server) {
    const struct tc_admin_server_options *o = &server->options;
    const uint64_t out_size = (uint64_t)TC_ADMIN_SERVER_HEAD_ROOM + o->body_size_max;
    server->conns = calloc(o->connections_max, sizeof(struct tc_admin_conn));
    server->out_buffers = calloc(o->connections_max, out_size);
    server->body = calloc(1, o->body_size_max);
    // POST bodies only for options.handle: a node's admin port allocates none.
    const uint32_t in_size = o->handle == NULL ? 0u : o->request_body_size_max;
    server->in_buffers = in_size == 0 ? NULL : calloc(o->connections_max, in_size);
    if (server->conns == NULL || server->out_buffers == NULL || server->body == NULL ||
        (in_size > 0 && server->in_buffers == NULL)) {
        admin_free(server);
        (void)snprintf(server->error, sizeof(server->error), "admin server %s: out of memory",
                       server->listen_address);
        return TC_ENOMEM;
    }
    for (uint32_t i = 0; i < o->connections_max; i++) {
        struct tc_admin_conn *conn = &server->conns[i];
        conn->server = server;
        conn->state = TC_ADMIN_CONN_FREE;
        conn->out = server->out_buffers + (uint64_t)i * out_size;
        conn->in = in_size == 0 ? NULL : server->in_buffers + (uint64_t)i * in_size;
        tc_loop_handler_init(&conn->handler, admin_conn_on_ready, conn);
    }
    return TC_OK;
}

int tc_admin_server_init(struct tc_admin_server *server,
                         const struct tc_admin_server_options *options) {
    tc_assert(server != NULL && options != NULL);
    memset(server, 0, sizeof(*server));
    server->listen_fd = -1;
    server->options = *options;
    admin_options_resolve(&server->options);
    const char *invalid = admin_options_invalid(&server->options);
    if (invalid != NULL) {
        (void)snprintf(server->error, sizeof(server->error), "admin server options: invalid %s",
                       invalid);
        return TC_EINVAL;
    }
    (void)snprintf(server->listen_address, sizeof(server->listen_address), "%s",
                   options->listen_address);
    server->options.listen_address = server->listen_address;
    server->loop = options->loop;
    server->now_ms = tc_io_linux_monotonic_ns() / 1000000u;
    int result = admin_allocate(server);
    if (result != TC_OK) return result;
    result = tc_server_net_listen(server->listen_address, server->options.listen_backlog,
                                  &server->port, server->error, sizeof(server->error));
    if (result < 0) {
        admin_free(server);
        return result;
    }
    server->listen_fd = result;
    tc_loop_handler_init(&server->listen_handler, admin_on_listen, server);
    result = tc_loop_add(server->loop, &server->listen_handler, server->listen_fd, TC_LOOP_READ);
    if (result != TC_OK) {
        (void)snprintf(server->error, sizeof(server->error), "admin server %s: epoll add: %s",
                       server->listen_address, tc_strerror(result));
        tc_server_net_close(server->listen_fd);
        admin_free(server);
        return result;
    }
    return TC_OK;
}

static void admin_conn_release(struct tc_admin_conn *conn) {
    tc_assert(conn->state != TC_ADMIN_CONN_FREE);
    tc_assert(conn->handler.registered);
    const int fd = conn->handler.fd;
    tc_loop_remove(conn->server->loop, &conn->handler);
    tc_server_net_close(fd);
    conn->state = TC_ADMIN_CONN_FREE;
}

void tc_admin_server_deinit(struct tc_admin_server *server) {
    tc_assert(server->listen_fd >= 0);
    for (uint32_t i = 0; i < server->options.connections_max; i++) {
        if (server->conns[i].state != TC_ADMIN_CONN_FREE) admin_conn_release(&server->conns[i]);
    }
    tc_loop_remove(server->loop, &server->listen_handler);
    tc_server_net_close(server->listen_fd);
    server->listen_fd = -1;
    admin_free(server);
}

uint16_t tc_admin_server_port(const struct tc_admin_server *server) {
    return server->port;
}

void tc_admin_server_tick(struct tc_admin_server *server, uint64_t now_ms) {
    tc_assert(now_ms >= server->now_ms);
    server->now_ms = now_ms;
    if (server->accept_paused &&
        tc_loop_modify(server->loop, &server->listen_handler, TC_LOOP_READ) == TC_OK) {
        server->accept_paused = false;
    }
    for (uint32_t i = 0; i < server->options.connections_max; i++) {
        struct tc_admin_conn *conn = &server->conns[i];
        if (conn->state != TC_ADMIN_CONN_FREE && now_ms >= conn->deadline_ms) {
            server->stats.timeouts += 1;
            admin_conn_release(conn);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Responses.

static void admin_handle(struct tc_admin_conn *conn);

// Stores body bytes of a POST (bytes beyond Content-Length are ignored: one request per
// connection); hands the request over once complete.
static void admin_body_feed(struct tc_admin_conn *conn, const uint8_t *data, uint32_t size) {
    tc_assert(conn->state == TC_ADMIN_CONN_READING_BODY);
    tc_assert(conn->in_size <= conn->in_expected);
    const uint32_t wanted = conn->in_expected - conn->in_size;
    const uint32_t take = size < wanted ? size : wanted;
    if (take > 0) memcpy(conn->in + conn->in_size, data, take);
    conn->in_size += take;
    if (conn->in_size == conn->in_expected) admin_handle(conn);
}

static void admin_count(struct tc_admin_server_stats *stats, uint16_t status) {
    switch (status) {
    case 200: stats->http_200 += 1; break;
    case 404: stats->http_404 += 1; break;
    case 405: stats->http_405 += 1; break;
    case 500: stats->http_500 += 1; break;
    case 503: stats->http_503 += 1; break;
    default: stats->http_other += 1; break;
    }
}

// Writes as much as the socket takes; once all is written, shuts the write side and waits for
// the peer's end of stream (or the deadline) before closing, so the answer is not lost to a reset.
static void admin_conn_flush(struct tc_admin_conn *conn) {
    tc_assert(conn->state == TC_ADMIN_CONN_WRITING);
    while (conn->out_sent < conn->out_size) {
        const int32_t written =
            tc_server_net_write(conn->handler.fd, (const uint8_t *)conn->out + conn->out_sent,
                                conn->out_size - conn->out_sent);
        if (written == TC_EAGAIN) break;
        if (written < 0) {
            admin_conn_release(conn);
            return;
        }
        conn->out_sent += (uint32_t)written;
    }
    uint32_t interest = conn->read_eof ? 0u : (uint32_t)TC_LOOP_READ;
    if (conn->out_sent < conn->out_size) {
        interest |= TC_LOOP_WRITE;
    } else if (conn->read_eof) {
        admin_conn_release(conn); // written, and the peer is done
        return;
    } else if (!conn->write_shut) {
        tc_server_net_shutdown_write(conn->handler.fd);
        conn->write_shut = true;
    }
    if (tc_loop_modify(conn->server->loop, &conn->handler, interest) != TC_OK) {
        admin_conn_release(conn);
    }
}

static void admin_respond(struct tc_admin_conn *conn, uint16_t status, int32_t size) {
    tc_assert(size > 0);
    tc_assert((uint32_t)size <= TC_ADMIN_SERVER_HEAD_ROOM + conn->server->options.body_size_max);
    admin_count(&conn->server->stats, status);
    conn->state = TC_ADMIN_CONN_WRITING;
    conn->out_size = (uint32_t)size;
    conn->out_sent = 0;
    admin_conn_flush(conn);
}

static uint32_t admin_out_capacity(const struct tc_admin_conn *conn) {
    return TC_ADMIN_SERVER_HEAD_ROOM + conn->server->options.body_size_max;
}

static void admin_metrics(struct tc_admin_conn *conn) {
    struct tc_admin_server *server = conn->server;
    const uint32_t body_size_max = server->options.body_size_max;
    const int32_t size = server->options.metrics(server->options.context, server->body,
                                                 body_size_max);
    if (size < 0) {
        admin_log(server, "admin server: metrics failed: %s", tc_strerror(size));
        admin_respond(conn, 500,
                      tc_edge_http_write_text(conn->out, admin_out_capacity(conn), 500,
                                              size == TC_ENOSPC ? "metrics too large\n"
                                                                : "metrics failed\n"));
        return;
    }
    tc_assert((uint32_t)size <= body_size_max);
    const struct tc_edge_http_response response = {
        .status = 200,
        .content_type = "text/plain; version=0.0.4",
        .body = server->body,
        .body_size = (uint32_t)size,
    };
    admin_respond(conn, 200,
                  tc_edge_http_response_write(conn->out, admin_out_capacity(conn), &response));
}

// Hands a complete request (head, and the body of a POST) to options.handle.
static void admin_handle(struct tc_admin_conn *conn) {
    struct tc_admin_server *server = conn->server;
    tc_assert(server->options.handle != NULL);
    tc_assert(conn->in_size == conn->in_expected);
    const struct tc_admin_request request = {
        .http = &conn->request,
        .body = conn->in,
        .body_size = conn->in_size,
        .remote_ip = conn->remote_ip,
    };
    struct tc_admin_response response = {
        .status = 500,
        .body = server->body,
        .body_capacity = server->options.body_size_max,
    };
    server->options.handle(server->options.context, &request, &response);
    tc_assert(response.body_size <= response.body_capacity);
    tc_assert(response.body_size == 0 || response.content_type != NULL);
    tc_assert(tc_edge_http_reason(response.status) != NULL);
    server->stats.handled += 1;
    const struct tc_edge_http_response http = {
        .status = response.status,
        .content_type = response.content_type,
        .body = response.body,
        .body_size = response.body_size,
    };
    admin_respond(conn, response.status,
                  tc_edge_http_response_write(conn->out, admin_out_capacity(conn), &http));
}

// The request's Content-Length: TC_OK and *size, TC_ENOENT when absent, TC_EINVAL when repeated
// or not a decimal number, TC_ETOOBIG when above `size_max`.
static int admin_content_length(const struct tc_edge_http_request *request, uint32_t size_max,
                                uint32_t *size) {
    const uint32_t count = tc_edge_http_header_count(request, "Content-Length");
    if (count == 0) return TC_ENOENT;
    struct tc_edge_str value;
    if (count > 1 || !tc_edge_http_header_get(request, "Content-Length", &value)) return TC_EINVAL;
    if (value.size == 0 || value.size > 10) return value.size > 10 ? TC_ETOOBIG : TC_EINVAL;
    uint64_t number = 0;
    for (uint32_t i = 0; i < value.size; i++) {
        const char c = value.data[i];
        if (c < '0' || c > '9') return TC_EINVAL;
        number = number * 10u + (uint64_t)(c - '0');
    }
    if (number > size_max) return TC_ETOOBIG;
    *size = (uint32_t)number;
    return TC_OK;
}

static void admin_refuse(struct tc_admin_conn *conn, uint16_t status, const char *name,
                         const char *message) {
    admin_respond(conn, status, tc_edge_http_write_error(conn->out, admin_out_capacity(conn),
                                                         status, status, name, message, 0));
}

// GET goes to the handler at once; POST first reads its Content-Length body.
static void admin_route_other(struct tc_admin_conn *conn, const uint8_t *rest,
                              uint32_t rest_size) {
    const struct tc_edge_http_request *request = &conn->request;
    const uint32_t size_max = conn->server->options.request_body_size_max;
    conn->in_size = 0;
    conn->in_expected = 0;
    if (tc_edge_http_method_equal(request, "GET")) {
        const enum tc_edge_http_status status = tc_edge_http_request_check(request);
        if (status != TC_EDGE_HTTP_DONE) {
            admin_respond(conn, tc_edge_http_status_code(status),
                          tc_edge_http_write_status(conn->out, admin_out_capacity(conn), status));
            return;
        }
        admin_handle(conn);
        return;
    }
    if (!tc_edge_http_method_equal(request, "POST")) {
        admin_refuse(conn, 405, "method_not_allowed", "GET or POST");
        return;
    }
    if (tc_edge_http_header_count(request, "Transfer-Encoding") > 0) {
        admin_refuse(conn, 411, "length_required", "send a Content-Length, not chunked");
        return;
    }
    uint32_t size = 0;
    const int result = admin_content_length(request, size_max, &size);
    if (result == TC_ENOENT) {
        admin_refuse(conn, 411, "length_required", "POST needs a Content-Length");
        return;
    }
    if (result == TC_ETOOBIG) {
        admin_refuse(conn, 413, "body_too_large", "request body above the server's limit");
        return;
    }
    if (result != TC_OK) {
        admin_refuse(conn, 400, "content_length_invalid", "Content-Length is not one number");
        return;
    }
    conn->in_expected = size;
    conn->state = TC_ADMIN_CONN_READING_BODY;
    admin_body_feed(conn, rest, rest_size);
}

static void admin_route(struct tc_admin_conn *conn, const uint8_t *rest, uint32_t rest_size) {
    struct tc_admin_server *server = conn->server;
    const struct tc_edge_http_request *request = &conn->request;
    const uint32_t capacity = admin_out_capacity(conn);
    const bool healthz = tc_edge_http_path_equal(request, "/healthz");
    const bool metrics = tc_edge_http_path_equal(request, "/metrics");
    if (!healthz && !metrics && server->options.handle != NULL) {
        admin_route_other(conn, rest, rest_size);
        return;
    }
    if (!healthz && !metrics) {
        admin_respond(conn, 404, tc_edge_http_write_error(conn->out, capacity, 404, 404,
                                                          "not_found", "no such path", 0));
        return;
    }
    enum tc_edge_http_status status = TC_EDGE_HTTP_METHOD_NOT_ALLOWED;
    if (tc_edge_http_method_equal(request, "GET")) status = tc_edge_http_request_check(request);
    if (status != TC_EDGE_HTTP_DONE) {
        admin_respond(conn, tc_edge_http_status_code(status),
                      tc_edge_http_write_status(conn->out, capacity, status));
        return;
    }
    if (metrics) {
        admin_metrics(conn);
        return;
    }
    const bool healthy = server->options.healthy == NULL ||
                         server->options.healthy(server->options.context);
    const uint16_t code = healthy ? 200 : 503;
    admin_respond(conn, code, tc_edge_http_write_text(conn->out, capacity, code,
                                                      healthy ? "ok\n" : "unhealthy\n"));
}

// ------------------------------------------------------------------------------------------------
// I/O.

static void admin_conn_read(struct tc_admin_conn *conn) {
    struct tc_admin_server *server = conn->server;
    const int32_t result =
        tc_server_net_read(conn->handler.fd, server->read_buffer, sizeof(server->read_buffer));
    if (result == TC_EAGAIN) return;
    if (result == 0 && conn->state == TC_ADMIN_CONN_WRITING) { // half-closed: finish writing
        conn->read_eof = true;
        admin_conn_flush(conn);
        return;
    }
    if (result <= 0) { // end of stream or a broken connection: nothing more to answer
        admin_conn_release(conn);
        return;
    }
    if (conn->state == TC_ADMIN_CONN_READING_BODY) {
        admin_body_feed(conn, server->read_buffer, (uint32_t)result);
        return;
    }
    if (conn->state != TC_ADMIN_CONN_READING) return; // after the request: discarded
    uint32_t consumed = 0;
    const enum tc_edge_http_status status =
        tc_edge_http_parse(&conn->request, server->read_buffer, (uint32_t)result, &consumed);
    if (status == TC_EDGE_HTTP_NEED_MORE) return;
    if (status != TC_EDGE_HTTP_DONE) {
        admin_respond(conn, tc_edge_http_status_code(status),
                      tc_edge_http_write_status(conn->out, admin_out_capacity(conn), status));
        return;
    }
    tc_assert(consumed <= (uint32_t)result);
    admin_route(conn, server->read_buffer + consumed, (uint32_t)result - consumed);
}

static void admin_conn_on_ready(struct tc_loop_handler *handler, uint32_t ready) {
    struct tc_admin_conn *conn = handler->context;
    tc_assert(conn->state != TC_ADMIN_CONN_FREE);
    if (ready & (TC_LOOP_READ | TC_LOOP_HANGUP)) admin_conn_read(conn);
    if ((ready & TC_LOOP_WRITE) && conn->state == TC_ADMIN_CONN_WRITING) admin_conn_flush(conn);
}

static void admin_admit(struct tc_admin_server *server, int fd,
                        const struct tc_server_net_peer *peer) {
    for (uint32_t i = 0; i < server->options.connections_max; i++) {
        struct tc_admin_conn *conn = &server->conns[i];
        if (conn->state != TC_ADMIN_CONN_FREE) continue;
        if (tc_loop_add(server->loop, &conn->handler, fd, TC_LOOP_READ) != TC_OK) break;
        conn->state = TC_ADMIN_CONN_READING;
        conn->write_shut = false;
        conn->read_eof = false;
        conn->deadline_ms = server->now_ms + server->options.timeout_ms;
        conn->out_size = 0;
        conn->out_sent = 0;
        conn->in_size = 0;
        conn->in_expected = 0;
        (void)snprintf(conn->remote_ip, sizeof(conn->remote_ip), "%s", peer->ip);
        struct tc_edge_http_limits limits;
        tc_edge_http_limits_default(&limits);
        tc_edge_http_request_init(&conn->request, &limits);
        return;
    }
    char response[256];
    const int32_t size = tc_edge_http_write_text(response, sizeof(response), 503, "busy\n");
    tc_assert(size > 0);
    (void)tc_server_net_write(fd, (const uint8_t *)response, (uint32_t)size);
    tc_server_net_close(fd);
    server->stats.refused_busy += 1;
    server->stats.http_503 += 1;
}

static void admin_on_listen(struct tc_loop_handler *handler, uint32_t ready) {
    struct tc_admin_server *server = handler->context;
    (void)ready;
    for (uint32_t i = 0; i < 16; i++) { // bounded work per readiness
        struct tc_server_net_peer peer;
        const int fd = tc_server_net_accept(server->listen_fd, &peer);
        if (fd == TC_EAGAIN) return;
        if (fd == TC_EBUSY) {
            // Level-triggered: the listener would fire again at once. Resume at the next tick.
            admin_log(server, "admin server %s: out of descriptors", server->listen_address);
            if (tc_loop_modify(server->loop, &server->listen_handler, 0) == TC_OK) {
                server->accept_paused = true;
            }
            return;
        }
        if (fd < 0) continue;
        server->stats.accepted += 1;
        admin_admit(server, fd, &peer);
    }
}
