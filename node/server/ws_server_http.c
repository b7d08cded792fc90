// The HTTP side of the WebSocket server (docs/protocol.md §1, §2, §8): the request head, /healthz,
// the upgrade checks in the documented order, the per-IP handshake bucket, connections per user,
// token verification and the 101. Every answer but the 101 closes the connection (LINGER).
#include <string.h>

#include <sodium.h>

#include "edge_http.h"
#include "edge_proto.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "ws_server_internal.h"

// ------------------------------------------------------------------------------------------------
// Per-IP handshake token buckets: a fixed table, SipHash-keyed (a peer cannot aim collisions),
// probed over a short window; a full window evicts its stalest entry (which only forgets a
// bucket, giving that IP a fresh burst).

static struct ws_ip_entry *ip_entry(struct tc_ws_server *server,
                                    const uint8_t key[TC_SERVER_NET_IP_KEY_SIZE]) {
    uint8_t hash_bytes[crypto_shorthash_BYTES];
    crypto_shorthash(hash_bytes, key, TC_SERVER_NET_IP_KEY_SIZE, server->ip_hash_key);
    uint64_t hash = 0;
    memcpy(&hash, hash_bytes, sizeof(hash));
    const uint32_t mask = server->options.ip_table_size - 1;
    struct ws_ip_entry *free_entry = NULL;
    struct ws_ip_entry *stalest = NULL;
    for (uint32_t probe = 0; probe < TC_WS_SERVER_IP_PROBES; probe++) {
        struct ws_ip_entry *entry = &server->ip_table[(hash + probe) & mask];
        if (!entry->used) {
            if (free_entry == NULL) free_entry = entry;
            continue;
        }
        if (memcmp(entry->key, key, TC_SERVER_NET_IP_KEY_SIZE) == 0) return entry;
        if (stalest == NULL || entry->last_ms < stalest->last_ms) stalest = entry;
    }
    struct ws_ip_entry *entry = free_entry != NULL ? free_entry : stalest;
    tc_assert(entry != NULL);
    memcpy(entry->key, key, TC_SERVER_NET_IP_KEY_SIZE);
    entry->used = true;
    entry->tokens_milli = (uint64_t)server->options.handshake_burst * 1000u;
    entry->last_ms = server->now_ms;
    return entry;
}

// Takes one handshake from the peer's bucket; false with the seconds until one is back.
static bool ip_take(struct tc_ws_server *server, const uint8_t key[TC_SERVER_NET_IP_KEY_SIZE],
                    uint32_t *retry_after_s) {
    const uint64_t rate = server->options.handshake_rate_per_s; // milli-tokens per ms
    if (rate == 0) return true;
    struct ws_ip_entry *entry = ip_entry(server, key);
    const uint64_t capacity_milli = (uint64_t)server->options.handshake_burst * 1000u;
    tc_assert(server->now_ms >= entry->last_ms);
    const uint64_t elapsed_ms = server->now_ms - entry->last_ms;
    if (elapsed_ms >= capacity_milli / rate + 1) {
        entry->tokens_milli = capacity_milli;
    } else {
        entry->tokens_milli = tc_min_u64(capacity_milli, entry->tokens_milli + elapsed_ms * rate);
    }
    entry->last_ms = server->now_ms;
    if (entry->tokens_milli >= 1000) {
        entry->tokens_milli -= 1000;
        return true;
    }
    const uint64_t wait_ms = tc_div_ceil(1000 - entry->tokens_milli, rate);
    *retry_after_s = (uint32_t)tc_max_u64(1, tc_div_ceil(wait_ms, 1000));
    return false;
}

// ------------------------------------------------------------------------------------------------
// Open WebSockets per user: linear probing, backward-shift deletion. The table holds at least
// twice as many entries as there can be users, so a probe always ends.

static uint32_t user_home(const struct tc_ws_server *server, uint64_t user) {
    uint64_t x = user + 0x9e3779b97f4a7c15ull; // splitmix64's finaliser
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
    return (uint32_t)(x & (server->users_capacity - 1));
}

static uint32_t user_find(const struct tc_ws_server *server, uint64_t user) {
    tc_assert(user != 0);
    const uint32_t mask = server->users_capacity - 1;
    uint32_t at = user_home(server, user);
    for (uint32_t probe = 0; probe < server->users_capacity; probe++) {
        const uint64_t held = server->users[at].user;
        if (held == 0 || held == user) return at;
        at = (at + 1) & mask;
    }
    tc_unreachable();
    return 0;
}

static uint32_t users_count(const struct tc_ws_server *server, uint64_t user) {
    const struct ws_user_entry *entry = &server->users[user_find(server, user)];
    return entry->user == user ? entry->count : 0;
}

static void users_add(struct tc_ws_server *server, uint64_t user) {
    struct ws_user_entry *entry = &server->users[user_find(server, user)];
    if (entry->user == 0) {
        entry->user = user;
        entry->count = 0;
    }
    entry->count += 1;
    tc_assert(entry->count <= server->options.connections_max);
}

void ws_users_remove(struct tc_ws_server *server, uint64_t user) {
    const uint32_t mask = server->users_capacity - 1;
    uint32_t hole = user_find(server, user);
    tc_assert(server->users[hole].user == user && server->users[hole].count > 0);
    server->users[hole].count -= 1;
    if (server->users[hole].count > 0) return;
    // Backward shift: move later entries of the run into the hole when their home allows it.
    uint32_t at = hole;
    for (uint32_t probe = 0; probe < server->users_capacity; probe++) {
        at = (at + 1) & mask;
        if (server->users[at].user == 0) break;
        const uint32_t home = user_home(server, server->users[at].user);
        const bool stays = hole <= at ? (hole < home && home <= at) : (hole < home || home <= at);
        if (stays) continue;
        server->users[hole] = server->users[at];
        hole = at;
    }
    server->users[hole].user = 0;
    server->users[hole].count = 0;
}

// ------------------------------------------------------------------------------------------------
// Answers. The send ring is empty during the handshake, so responses are written into it
// directly.

static void http_count(struct tc_ws_server_stats *stats, uint16_t status) {
    switch (status) {
    case 400: stats->http_400 += 1; break;
    case 401: stats->http_401 += 1; break;
    case 404: stats->http_404 += 1; break;
    case 405: stats->http_405 += 1; break;
    case 414: stats->http_414 += 1; break;
    case 426: stats->http_426 += 1; break;
    case 429: stats->http_429 += 1; break;
    case 431: stats->http_431 += 1; break;
    case 503: stats->http_503 += 1; break;
    case 505: stats->http_505 += 1; break;
    default: break;
    }
}

static void http_queue(struct tc_ws_conn *conn, int32_t size) {
    tc_assert(size > 0);
    tc_assert(conn->send_used == 0 && conn->send_head == 0);
    tc_assert((uint32_t)size <= conn->server->options.send_buffer_bytes);
    conn->send_used = (uint32_t)size;
}

static void http_refuse(struct tc_ws_conn *conn, uint16_t status, int32_t size) {
    http_count(&conn->server->stats, status);
    http_queue(conn, size);
    ws_conn_linger(conn);
}

static void http_refuse_status(struct tc_ws_conn *conn, enum tc_edge_http_status status) {
    struct tc_ws_server *server = conn->server;
    ws_server_log(server, "handshake from %s refused: %s", conn->peer.ip,
                  tc_edge_http_status_name(status));
    const int32_t size = tc_edge_http_write_status(
        (char *)conn->send_ring, server->options.send_buffer_bytes, status);
    http_refuse(conn, tc_edge_http_status_code(status), size);
}

// A refusal with {"error":{"code":..,"name":..,"message":..}} in its body.
static void http_refuse_named(struct tc_ws_conn *conn, uint16_t status, uint32_t code,
                              const char *name, const char *message, uint32_t retry_after_s) {
    struct tc_ws_server *server = conn->server;
    const int32_t size =
        tc_edge_http_write_error((char *)conn->send_ring, server->options.send_buffer_bytes,
                                 status, code, name, message, retry_after_s);
    http_refuse(conn, status, size);
}

// A refusal with a protocol error (§7): 401, 429, 503.
static void http_refuse_error(struct tc_ws_conn *conn, uint16_t status, enum tc_edge_error error,
                              const char *message, uint32_t retry_after_s) {
    http_refuse_named(conn, status, (uint32_t)error, tc_edge_error_name(error), message,
                      retry_after_s);
}

int32_t ws_http_write_busy(struct tc_ws_server *server, char *out, uint32_t out_size) {
    return tc_edge_http_write_error(out, out_size, 503, TC_EDGE_ERROR_SERVER_BUSY,
                                    tc_edge_error_name(TC_EDGE_ERROR_SERVER_BUSY),
                                    tc_edge_error_message(TC_EDGE_ERROR_SERVER_BUSY),
                                    server->options.retry_after_s);
}

static void http_healthz(struct tc_ws_conn *conn) {
    struct tc_ws_server *server = conn->server;
    const struct tc_edge_http_request *request = &conn->protocol.http;
    if (!tc_edge_http_method_equal(request, "GET")) {
        http_refuse_status(conn, TC_EDGE_HTTP_METHOD_NOT_ALLOWED);
        return;
    }
    const enum tc_edge_http_status status = tc_edge_http_request_check(request);
    if (status != TC_EDGE_HTTP_DONE) {
        http_refuse_status(conn, status);
        return;
    }
    server->stats.healthz += 1;
    const uint16_t code = server->draining ? 503 : 200;
    const int32_t size = tc_edge_http_write_text((char *)conn->send_ring,
                                                 server->options.send_buffer_bytes, code,
                                                 server->draining ? "draining\n" : "ok\n");
    http_refuse(conn, code, size);
}

// §2: exactly one credential that verifies. Fills conn->claims; false after answering 401.
static bool http_authenticate(struct tc_ws_conn *conn) {
    struct tc_ws_server *server = conn->server;
    uint32_t token_size = 0;
    const int found = tc_edge_http_credentials(&conn->protocol.http, server->token,
                                               sizeof(server->token), &token_size);
    if (found != TC_OK) {
        sodium_memzero(server->token, sizeof(server->token)); // maybe a partial copy
        ws_server_log(server, "handshake from %s refused: credentials %s", conn->peer.ip,
                      tc_errname(found));
        server->stats.refused_auth += 1;
        http_refuse_error(conn, 401, TC_EDGE_ERROR_AUTH_FAILED,
                          tc_edge_error_message(TC_EDGE_ERROR_AUTH_FAILED), 0);
        return false;
    }
    struct tc_edge_json_scratch scratch;
    tc_edge_json_scratch_init(&scratch, server->jwt_scratch, TC_EDGE_JWT_SCRATCH_SIZE);
    const enum tc_edge_jwt_status status =
        tc_edge_jwt_verify(&server->options.jwt, server->token, token_size,
                           ws_server_now_s(server), &scratch, &conn->claims);
    sodium_memzero(server->token, token_size); // a bearer credential: do not keep it around
    if (status != TC_EDGE_JWT_OK) {
        ws_server_log(server, "handshake from %s refused: token %s", conn->peer.ip,
                      tc_edge_jwt_status_name(status));
        server->stats.refused_auth += 1;
        const enum tc_edge_error error = (enum tc_edge_error)tc_edge_jwt_status_code(status);
        http_refuse_error(conn, 401, error, tc_edge_error_message(error), 0);
        return false;
    }
    tc_assert(conn->claims.user != 0);
    return true;
}

// /v1/ws in docs/protocol.md §1's order: path (done), upgrade checks, 503, 429, 401, then the
// per-user limit (§8), then 101.
static void http_upgrade(struct tc_ws_conn *conn) {
    struct tc_ws_server *server = conn->server;
    char accept[TC_EDGE_WS_ACCEPT_SIZE + 1];
    const enum tc_edge_http_status status = tc_edge_http_upgrade_check(&conn->protocol.http,
                                                                       accept);
    if (status != TC_EDGE_HTTP_DONE) {
        http_refuse_status(conn, status);
        return;
    }
    if (server->draining) {
        server->stats.refused_draining += 1;
        http_refuse_error(conn, 503, TC_EDGE_ERROR_SERVER_BUSY, "the node is draining",
                          server->options.retry_after_s);
        return;
    }
    uint32_t retry_after_s = 0;
    if (!ip_take(server, conn->peer.ip_key, &retry_after_s)) {
        server->stats.refused_rate_limited += 1;
        http_refuse_error(conn, 429, TC_EDGE_ERROR_RATE_LIMITED, "too many connection attempts",
                          retry_after_s);
        return;
    }
    if (!http_authenticate(conn)) return;
    if (users_count(server, conn->claims.user) >= server->options.connections_per_user_max) {
        ws_server_log(server, "handshake from %s refused: user %llu has %u connections",
                      conn->peer.ip, (unsigned long long)conn->claims.user,
                      server->options.connections_per_user_max);
        server->stats.refused_user_limit += 1;
        http_refuse_error(conn, 429, TC_EDGE_ERROR_RATE_LIMITED, "too many connections for user",
                          server->options.retry_after_s);
        return;
    }
    users_add(server, conn->claims.user);
    const int32_t size = tc_edge_http_write_upgrade((char *)conn->send_ring,
                                                    server->options.send_buffer_bytes, accept);
    http_queue(conn, size);
    ws_conn_open(conn); // replaces the request by the frame reader: nothing reads it after this
}

uint32_t ws_http_feed(struct tc_ws_conn *conn, const uint8_t *data, uint32_t size) {
    tc_assert(conn->state == WS_CONN_HTTP);
    uint32_t consumed = 0;
    const enum tc_edge_http_status status =
        tc_edge_http_parse(&conn->protocol.http, data, size, &consumed);
    tc_assert(consumed <= size);
    if (status == TC_EDGE_HTTP_NEED_MORE) {
        tc_assert(consumed == size);
        return consumed;
    }
    if (status != TC_EDGE_HTTP_DONE) {
        http_refuse_status(conn, status);
        return consumed;
    }
    const struct tc_edge_http_request *request = &conn->protocol.http;
    if (tc_edge_http_path_equal(request, "/healthz")) {
        http_healthz(conn);
    } else if (tc_edge_http_path_equal(request, "/v1/ws")) {
        http_upgrade(conn);
    } else {
        http_refuse_named(conn, 404, 404, "not_found", "no such path", 0);
    }
    return consumed;
}
