// The Redis pub/sub bus (see node_redis.h, docs/node.md §7, docs/dependencies.md on hiredis).
//
// hiredis's async API drives a redisAsyncContext through five hooks (addRead, delRead, addWrite,
// delWrite, cleanup) that we map onto one tc_loop_handler per connection; on readiness the handler
// calls redisAsyncHandleRead/Write. hiredis frees a context itself when the connection fails or
// ends (inside those calls, after running every pending callback with a NULL reply); its cleanup
// hook is our single point where a context goes away: the handler leaves the loop, `ac` becomes
// NULL and a reconnect is scheduled. We free a context ourselves only outside hiredis callbacks
// (tick: connect timeout, a broken handler; deinit).
#include <stdio.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include "node.h"
#include "node_redis.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_le.h"

static uint64_t redis_now_ms(void) { return tc_io_linux_monotonic_ns() / 1000000u; }

static struct node *conn_node(const struct node_redis_conn *conn) { return conn->redis->node; }

// ------------------------------------------------------------------------------------------------
// Connection state.

// The context is gone (hiredis's cleanup hook): schedule the next attempt with backoff + jitter.
// `healthy` and `close_reason` stay until the next attempt: hiredis calls on_disconnect after
// the cleanup hook, and it reads them.
static void conn_down(struct node_redis_conn *conn) {
    struct node_redis *redis = conn->redis;
    tc_assert(conn->inflight == 0); // hiredis ran every pending callback before the cleanup hook
    conn->ac = NULL;
    conn->state = NODE_REDIS_DOWN;
    tc_assert(conn->backoff_ms >= NODE_REDIS_BACKOFF_MIN_MS &&
              conn->backoff_ms <= NODE_REDIS_BACKOFF_MAX_MS);
    const uint64_t jitter_ms = tc_prng_below(&redis->prng, conn->backoff_ms / 4 + 1);
    conn->retry_at_ms = redis_now_ms() + conn->backoff_ms - jitter_ms;
    conn->backoff_ms = conn->backoff_ms * 2 > NODE_REDIS_BACKOFF_MAX_MS ? NODE_REDIS_BACKOFF_MAX_MS
                                                                        : conn->backoff_ms * 2;
}

static void conn_failed(struct node_redis_conn *conn, const char *reason) {
    conn->failures += 1;
    conn->redis->stats.connect_failures += 1;
    if (conn->failures == 1 || conn->failures % NODE_REDIS_FAILURES_LOG_EVERY == 0) {
        node_log(conn_node(conn), TC_LOG_WARN, "redis %s: cannot connect to %s: %s (attempt %u)",
                 conn->name, conn->redis->address, reason, conn->failures);
    }
}

static void conn_interest(struct node_redis_conn *conn, uint32_t bit, bool on) {
    if (!conn->handler.registered) return; // after the cleanup hook
    const uint32_t interest = on ? (conn->handler.interest | bit) : (conn->handler.interest & ~bit);
    const int result = tc_loop_modify(&conn_node(conn)->loop, &conn->handler, interest);
    if (result != TC_OK && !conn->broken) {
        // A hook cannot fail back into hiredis: the next tick frees the context and reconnects.
        conn->broken = true;
        node_log(conn_node(conn), TC_LOG_ERROR, "redis %s: epoll: %s", conn->name,
                 tc_errname(result));
    }
}

// ------------------------------------------------------------------------------------------------
// The hiredis event-library adapter.

static void adapter_add_read(void *privdata) { conn_interest(privdata, TC_LOOP_READ, true); }
static void adapter_del_read(void *privdata) { conn_interest(privdata, TC_LOOP_READ, false); }
static void adapter_add_write(void *privdata) { conn_interest(privdata, TC_LOOP_WRITE, true); }
static void adapter_del_write(void *privdata) { conn_interest(privdata, TC_LOOP_WRITE, false); }

static void adapter_cleanup(void *privdata) {
    struct node_redis_conn *conn = privdata;
    tc_assert(conn->ac != NULL);
    if (conn->handler.registered) tc_loop_remove(&conn_node(conn)->loop, &conn->handler);
    conn_down(conn);
}

static void conn_ready(struct tc_loop_handler *handler, uint32_t ready) {
    struct node_redis_conn *conn = handler->context;
    redisAsyncContext *ac = conn->ac;
    tc_assert(ac != NULL && conn->state != NODE_REDIS_DOWN);
    // A read also completes a pending connect (and learns its error on a hang-up).
    if (ready & (TC_LOOP_READ | TC_LOOP_HANGUP)) redisAsyncHandleRead(ac);
    // The read may have freed the context (cleanup hook): then conn->ac is NULL.
    if (conn->ac == ac && (ready & TC_LOOP_WRITE)) redisAsyncHandleWrite(ac);
}

// Redis answered the connection's first command: it is up.
static void conn_healthy(struct node_redis_conn *conn) {
    tc_assert(conn->state == NODE_REDIS_CONNECTED);
    if (conn->healthy) return;
    conn->healthy = true;
    conn->failures = 0;
    conn->backoff_ms = NODE_REDIS_BACKOFF_MIN_MS;
    conn->error_logged = false;
    conn->backlog_logged = false;
    conn->redis->stats.connects += 1;
    node_log(conn_node(conn), TC_LOG_INFO, "redis %s: connected to %s%s%s", conn->name,
             conn->redis->address, conn->subscriber ? ", subscribed to " : "",
             conn->subscriber ? conn->redis->channel : "");
}

// Redis refused the connection's first command (e.g. NOAUTH): the next tick closes it, and the
// failure is logged and backed off like a refused connect.
static void conn_refused(struct node_redis_conn *conn, const char *command,
                         const redisReply *reply) {
    (void)snprintf(conn->refused, sizeof(conn->refused), "%s refused: %.*s", command,
                   reply->type == REDIS_REPLY_ERROR ? (int)(reply->len > 120 ? 120 : reply->len) : 0,
                   reply->type == REDIS_REPLY_ERROR ? reply->str : "");
    conn->close_reason = conn->refused;
    conn->broken = true;
}

static void ping_on_reply(redisAsyncContext *ac, void *reply_void, void *privdata) {
    (void)ac;
    struct node_redis_conn *conn = privdata;
    const redisReply *reply = reply_void;
    if (reply == NULL) return; // the context is going away
    if (reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_STRING) {
        conn_healthy(conn);
    } else {
        conn_refused(conn, "PING", reply);
    }
}

static void on_connect(const redisAsyncContext *ac, int status) {
    struct node_redis_conn *conn = ac->data;
    tc_assert(conn->ac == ac && conn->state == NODE_REDIS_CONNECTING);
    if (status != REDIS_OK) {
        conn_failed(conn, ac->errstr); // hiredis frees the context next (cleanup hook)
        return;
    }
    conn->state = NODE_REDIS_CONNECTED;
    // The subscriber's SUBSCRIBE is queued already; the publisher proves the peer with a PING.
    if (!conn->subscriber &&
        redisAsyncCommand(conn->ac, ping_on_reply, conn, "PING") != REDIS_OK) {
        conn->broken = true; // not expected on a fresh context; the next tick starts over
    }
}

// Only for contexts that had connected (TCP).
static void on_disconnect(const redisAsyncContext *ac, int status) {
    struct node_redis_conn *conn = ac->data;
    if (!conn->healthy) {
        if (conn->redis->closing) return; // shutting down: not a failure
        conn_failed(conn, conn->close_reason != NULL ? conn->close_reason
                          : status == REDIS_OK       ? "closed"
                                                     : ac->errstr);
        return;
    }
    conn->redis->stats.disconnects += 1;
    node_log(conn_node(conn), status == REDIS_OK ? TC_LOG_INFO : TC_LOG_WARN,
             "redis %s: disconnected from %s%s%s", conn->name, conn->redis->address,
             status == REDIS_OK ? "" : ": ", status == REDIS_OK ? "" : ac->errstr);
}

// ------------------------------------------------------------------------------------------------
// Replies.

static void publish_on_reply(redisAsyncContext *ac, void *reply_void, void *privdata) {
    (void)ac;
    struct node_redis_conn *conn = privdata;
    const redisReply *reply = reply_void;
    tc_assert(conn->inflight > 0);
    conn->inflight -= 1;
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER) return; // the subscriber count
    conn->redis->stats.publish_errors += 1;
    if (reply != NULL && !conn->error_logged) {
        conn->error_logged = true;
        node_log(conn_node(conn), TC_LOG_WARN, "redis publisher: PUBLISH refused: %.*s",
                 reply->type == REDIS_REPLY_ERROR ? (int)(reply->len > 200 ? 200 : reply->len) : 0,
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "");
    }
}

static bool reply_is(const redisReply *reply, const char *text) {
    const size_t size = strlen(text);
    return reply->type == REDIS_REPLY_STRING && reply->len == size &&
           memcmp(reply->str, text, size) == 0;
}

// One payload of the channel: check the prefix, skip our own, pass the frame on.
static void subscriber_on_payload(struct node_redis *redis, const redisReply *payload) {
    if (payload->type != REDIS_REPLY_STRING || payload->len < NODE_REDIS_PREFIX_SIZE ||
        payload->len > NODE_REDIS_PREFIX_SIZE + NODE_BUS_BUFFER_SIZE) {
        redis->stats.received_invalid += 1;
        return;
    }
    const uint8_t *bytes = (const uint8_t *)payload->str;
    const uint32_t size = (uint32_t)payload->len;
    if (bytes[2] != NODE_REDIS_PREFIX_VERSION) {
        redis->stats.received_invalid += 1;
        return;
    }
    if (tc_le_get_u16(bytes) == redis->node->node_id) {
        redis->stats.received_self += 1;
        return;
    }
    redis->stats.received_frames += 1;
    redis->stats.received_bytes += size;
    node_bus_on_frame(redis->node, bytes + NODE_REDIS_PREFIX_SIZE, size - NODE_REDIS_PREFIX_SIZE);
}

static void subscriber_on_reply(redisAsyncContext *ac, void *reply_void, void *privdata) {
    (void)ac;
    struct node_redis_conn *conn = privdata;
    struct node_redis *redis = conn->redis;
    const redisReply *reply = reply_void;
    if (reply == NULL) return; // the context is going away
    if (reply->type == REDIS_REPLY_ERROR) {
        conn_refused(conn, "SUBSCRIBE", reply);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
        redis->stats.received_invalid += 1;
        return;
    }
    if (reply_is(reply->element[0], "message")) {
        subscriber_on_payload(redis, reply->element[2]);
    } else if (reply_is(reply->element[0], "subscribe")) {
        conn_healthy(conn);
    }
}

// ------------------------------------------------------------------------------------------------
// Connecting.

static void conn_connect(struct node_redis_conn *conn) {
    struct node_redis *redis = conn->redis;
    tc_assert(conn->ac == NULL && conn->state == NODE_REDIS_DOWN && !conn->handler.registered);
    if (conn->attempts > 0) redis->stats.reconnects += 1;
    conn->attempts += 1;
    conn->healthy = false;
    conn->broken = false;
    conn->close_reason = NULL;
    // Non-blocking: the host is a dotted quad (node_config), so no name lookup blocks here.
    redisAsyncContext *ac = redisAsyncConnect(redis->host, redis->port);
    if (ac == NULL || ac->err) {
        conn_failed(conn, ac == NULL ? "out of memory" : ac->errstr);
        if (ac != NULL) redisAsyncFree(ac); // no hooks attached: no cleanup call
        conn_down(conn);
        return;
    }
    conn->ac = ac;
    conn->state = NODE_REDIS_CONNECTING;
    conn->connect_started_ms = redis_now_ms();
    ac->data = conn;
    ac->ev.data = conn;
    ac->ev.addRead = adapter_add_read;
    ac->ev.delRead = adapter_del_read;
    ac->ev.addWrite = adapter_add_write;
    ac->ev.delWrite = adapter_del_write;
    ac->ev.cleanup = adapter_cleanup;
    tc_assert(redisAsyncSetConnectCallback(ac, on_connect) == REDIS_OK);
    tc_assert(redisAsyncSetDisconnectCallback(ac, on_disconnect) == REDIS_OK);
    tc_loop_handler_init(&conn->handler, conn_ready, conn);
    // Writability completes the connect; hiredis then switches to reading.
    const int result = tc_loop_add(&conn_node(conn)->loop, &conn->handler, ac->c.fd, TC_LOOP_WRITE);
    if (result != TC_OK) {
        conn_failed(conn, tc_errname(result));
        redisAsyncFree(ac); // cleanup hook: conn_down
        return;
    }
    if (conn->subscriber &&
        redisAsyncCommand(ac, subscriber_on_reply, conn, "SUBSCRIBE %b", redis->channel,
                          (size_t)redis->channel_size) != REDIS_OK) {
        conn_failed(conn, "SUBSCRIBE not queued");
        redisAsyncFree(ac);
    }
}

static void conn_tick(struct node_redis_conn *conn, uint64_t now_ms) {
    if (conn->state == NODE_REDIS_DOWN) {
        if (now_ms >= conn->retry_at_ms) conn_connect(conn);
        return;
    }
    tc_assert(conn->ac != NULL);
    if (!conn->healthy && now_ms - conn->connect_started_ms >= NODE_REDIS_CONNECT_TIMEOUT_MS) {
        if (conn->state == NODE_REDIS_CONNECTING) {
            conn_failed(conn, "connect timed out"); // no on_disconnect: it never connected
        } else {
            conn->close_reason = "no answer from Redis"; // on_disconnect counts the failure
        }
        redisAsyncFree(conn->ac); // cleanup hook: conn_down
    } else if (conn->broken) {
        redisAsyncFree(conn->ac); // on_disconnect logs or counts, cleanup hook: conn_down
    }
}

static void conn_init(struct node_redis *redis, struct node_redis_conn *conn, const char *name,
                      bool subscriber) {
    *conn = (struct node_redis_conn){
        .redis = redis,
        .name = name,
        .subscriber = subscriber,
        .state = NODE_REDIS_DOWN,
        .backoff_ms = NODE_REDIS_BACKOFF_MIN_MS,
    };
    tc_loop_handler_init(&conn->handler, conn_ready, conn);
}

// ------------------------------------------------------------------------------------------------
// Interface.

int node_redis_init(struct node *node) {
    struct node_redis *redis = &node->redis;
    tc_assert(!redis->enabled);
    if (node->config.bus != TC_NODE_CONFIG_BUS_REDIS) return TC_OK;
    const struct tc_node_config_address *address = &node->config.redis;
    tc_assert(address->host[0] != '\0' && address->port != 0); // node_config checks bus = redis
    *redis = (struct node_redis){.node = node, .port = address->port};
    tc_assert(strlen(address->host) < sizeof(redis->host));
    memcpy(redis->host, address->host, strlen(address->host) + 1);
    (void)snprintf(redis->address, sizeof(redis->address), "%s:%u", redis->host, redis->port);
    const int channel_size = snprintf(redis->channel, sizeof(redis->channel), "tc:%llu:bus",
                                      (unsigned long long)node->config.cluster);
    tc_assert(channel_size > 0 && (size_t)channel_size < sizeof(redis->channel));
    redis->channel_size = (uint32_t)channel_size;
    tc_prng_init(&redis->prng, node->config.cluster ^ ((uint64_t)node->node_id << 32) ^ 0x7265646973ull);
    conn_init(redis, &redis->publisher, "publisher", false);
    conn_init(redis, &redis->subscriber, "subscriber", true);
    redis->enabled = true;
    node_log(node, TC_LOG_INFO, "bus: redis at %s, channel %s", redis->address, redis->channel);
    conn_connect(&redis->publisher);
    conn_connect(&redis->subscriber);
    return TC_OK;
}

void node_redis_deinit(struct node *node) {
    struct node_redis *redis = &node->redis;
    if (!redis->enabled) return;
    redis->closing = true;
    struct node_redis_conn *conns[] = {&redis->publisher, &redis->subscriber};
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(conns); i++) {
        if (conns[i]->ac != NULL) redisAsyncFree(conns[i]->ac); // cleanup hook: out of the loop
        tc_assert(conns[i]->ac == NULL && !conns[i]->handler.registered);
    }
    redis->enabled = false;
}

void node_redis_tick(struct node *node) {
    struct node_redis *redis = &node->redis;
    if (!redis->enabled) return;
    const uint64_t now_ms = redis_now_ms();
    conn_tick(&redis->publisher, now_ms);
    conn_tick(&redis->subscriber, now_ms);
    const struct node_redis_conn *publisher = &redis->publisher;
    redis->stats.publisher_connected = publisher->state == NODE_REDIS_CONNECTED &&
                                       publisher->healthy;
    redis->stats.subscriber_connected = redis->subscriber.state == NODE_REDIS_CONNECTED &&
                                        redis->subscriber.healthy;
    redis->stats.backlog_bytes = publisher->ac != NULL ? sdslen(publisher->ac->c.obuf) : 0;
    redis->stats.publish_inflight = publisher->inflight;
}

void node_redis_publish(struct node *node, const uint8_t *frame, uint32_t size) {
    struct node_redis *redis = &node->redis;
    tc_assert(redis->enabled);
    tc_assert(size > 0 && size <= NODE_BUS_BUFFER_SIZE);
    struct node_redis_conn *conn = &redis->publisher;
    if (conn->state != NODE_REDIS_CONNECTED || !conn->healthy || conn->broken) {
        redis->stats.dropped_disconnected += 1;
        return;
    }
    tc_assert(conn->ac != NULL && conn->ac->c.obuf != NULL);
    const size_t backlog_bytes = sdslen(conn->ac->c.obuf);
    if (backlog_bytes + NODE_REDIS_PREFIX_SIZE + size > NODE_REDIS_BACKLOG_BYTES_MAX ||
        conn->inflight >= NODE_REDIS_INFLIGHT_MAX) {
        redis->stats.dropped_backlog += 1;
        if (!conn->backlog_logged) {
            conn->backlog_logged = true;
            node_log(node, TC_LOG_WARN, "redis publisher: backlog full (%zu bytes, %u replies "
                     "outstanding): dropping frames", backlog_bytes, conn->inflight);
        }
        return;
    }
    uint8_t prefix[NODE_REDIS_PREFIX_SIZE] = {0};
    tc_le_put_u16(prefix, node->node_id);
    prefix[2] = NODE_REDIS_PREFIX_VERSION;
    // "%b%b" with no space between: one argument, the prefix then the frame (binary-safe).
    if (redisAsyncCommand(conn->ac, publish_on_reply, conn, "PUBLISH %b %b%b", redis->channel,
                          (size_t)redis->channel_size, prefix, (size_t)NODE_REDIS_PREFIX_SIZE,
                          frame, (size_t)size) != REDIS_OK) {
        redis->stats.dropped_disconnected += 1; // the context is disconnecting
        return;
    }
    conn->inflight += 1;
    redis->stats.published_frames += 1;
    redis->stats.published_bytes += NODE_REDIS_PREFIX_SIZE + size;
}
