// A TigerChat client connection: socket, upgrade, frames, the pending-request table with retries,
// subscriptions with chain checks, reconnects (tigerchat.h).
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "edge_encoding.h"
#include "edge_http.h"
#include "edge_utf8.h"
#include "edge_ws.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tigerchat.h"

enum subscription_state {
    SUBSCRIPTION_WANT = 1,  // needs a subscribe (after a reconnect)
    SUBSCRIPTION_REQUESTED, // a subscribe is pending
    SUBSCRIPTION_ACTIVE,
};

#define ID_SIZE_MAX 24u
#define SEND_BUFFER_MIN (TC_SDK_REQUEST_SIZE_MAX + 8192u)

uint64_t tc_sdk__now_us(void) {
    struct timespec ts;
    tc_assert(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t tc_sdk__now_ms(void) { return tc_sdk__now_us() / 1000u; }

// ------------------------------------------------------------------------------------------------
// Options.

void tc_sdk_options_default(struct tc_sdk_options *options) {
    *options = (struct tc_sdk_options){
        .pending_max = 64,
        .in_flight_max = TC_SDK_IN_FLIGHT_MAX,
        .body_size_max = TC_SDK_BODY_SIZE_MAX,
        .message_size_max = TC_SDK_MESSAGE_SIZE_DEFAULT,
        .send_buffer_size = 65536,
        .backoff_min_ms = 100,
        .backoff_max_ms = 5000,
        .connect_timeout_ms = 5000,
        .request_timeout_ms = 0,
        .retries_max = 32,
        .idle_timeout_ms = 75000,
    };
}

static void options_fill(struct tc_sdk_options *o) {
    struct tc_sdk_options d;
    tc_sdk_options_default(&d);
    if (o->pending_max == 0) o->pending_max = d.pending_max;
    if (o->in_flight_max == 0) o->in_flight_max = d.in_flight_max;
    if (o->body_size_max == 0) o->body_size_max = d.body_size_max;
    if (o->message_size_max == 0) o->message_size_max = d.message_size_max;
    if (o->send_buffer_size == 0) o->send_buffer_size = d.send_buffer_size;
    if (o->backoff_min_ms == 0) o->backoff_min_ms = d.backoff_min_ms;
    if (o->backoff_max_ms == 0) o->backoff_max_ms = d.backoff_max_ms;
    if (o->connect_timeout_ms == 0) o->connect_timeout_ms = d.connect_timeout_ms;
    if (o->retries_max == 0) o->retries_max = d.retries_max;
    if (o->idle_timeout_ms == 0) o->idle_timeout_ms = d.idle_timeout_ms;
}

static bool options_valid(const struct tc_sdk_options *o) {
    return o->node_count >= 1 && o->node_count <= TC_SDK_NODES_MAX && o->nodes != NULL &&
           o->token != NULL && o->pending_max <= TC_SDK_PENDING_LIMIT &&
           o->in_flight_max <= TC_SDK_IN_FLIGHT_MAX && o->body_size_max <= TC_SDK_BODY_SIZE_MAX &&
           o->message_size_max >= TC_SDK_MESSAGE_SIZE_MIN &&
           o->message_size_max <= TC_SDK_MESSAGE_SIZE_LIMIT &&
           o->send_buffer_size >= SEND_BUFFER_MIN && o->send_buffer_size <= (64u << 20) &&
           o->backoff_min_ms <= o->backoff_max_ms &&
           (o->scratch == NULL || o->scratch->message_size_max >= o->message_size_max);
}

static int address_resolve(const char *host, uint16_t port, int flags,
                           struct sockaddr_storage *out, socklen_t *out_size) {
    char service[8];
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | flags};
    struct addrinfo *list = NULL;
    if (getaddrinfo(host, service, &hints, &list) != 0 || list == NULL) return TC_EINVAL;
    tc_assert(list->ai_addrlen <= sizeof(*out));
    memcpy(out, list->ai_addr, list->ai_addrlen);
    *out_size = list->ai_addrlen;
    freeaddrinfo(list);
    return TC_OK;
}

// ------------------------------------------------------------------------------------------------
// Init.

static uint64_t align64(uint64_t value) { return (value + 63u) & ~(uint64_t)63u; }

static int memory_alloc(struct tc_sdk_conn *conn) {
    const struct tc_sdk_options *o = &conn->options;
    conn->recv_capacity = o->message_size_max + TC_EDGE_WS_HEADER_SIZE_MAX;
    const uint64_t send_at = 0;
    const uint64_t recv_at = align64(send_at + o->send_buffer_size);
    const uint64_t message_at = align64(recv_at + conn->recv_capacity);
    const uint64_t encode_at = align64(message_at + o->message_size_max);
    const uint64_t pending_at = align64(encode_at + TC_SDK_REQUEST_SIZE_MAX);
    const uint64_t free_at = align64(pending_at + (uint64_t)o->pending_max *
                                                       sizeof(struct tc_sdk_pending));
    const uint64_t bodies_at = align64(free_at + (uint64_t)o->pending_max * sizeof(uint32_t));
    const uint64_t total = align64(bodies_at + (uint64_t)o->pending_max * o->body_size_max);
    conn->memory = aligned_alloc(64, total);
    if (conn->memory == NULL) return TC_ENOMEM;
    conn->send_buffer = conn->memory + send_at;
    conn->recv_buffer = conn->memory + recv_at;
    conn->encode = (char *)(conn->memory + encode_at);
    conn->pending = (struct tc_sdk_pending *)(void *)(conn->memory + pending_at);
    conn->free_slots = (uint32_t *)(void *)(conn->memory + free_at);
    conn->bodies = conn->memory + bodies_at;
    tc_sdk_ws_reader_init(&conn->reader, conn->memory + message_at, o->message_size_max);
    memset(conn->pending, 0, (uint64_t)o->pending_max * sizeof(struct tc_sdk_pending));
    for (uint32_t i = 0; i < o->pending_max; i++) {
        conn->free_slots[i] = o->pending_max - 1u - i; // slot 0 on top
    }
    return TC_OK;
}

int tc_sdk_conn_init(struct tc_sdk_conn *conn, const struct tc_sdk_options *options) {
    memset(conn, 0, sizeof(*conn));
    conn->fd = -1;
    conn->poll_fd = -1;
    conn->options = *options;
    options_fill(&conn->options);
    if (!options_valid(&conn->options)) return TC_EINVAL;
    const size_t token_size = strlen(options->token);
    if (token_size == 0 || token_size > TC_SDK_TOKEN_SIZE_MAX) return TC_EINVAL;
    memcpy(conn->token, options->token, token_size + 1);
    conn->token_size = (uint32_t)token_size;
    for (uint32_t i = 0; i < options->node_count; i++) {
        conn->nodes[i] = options->nodes[i];
        const int result = address_resolve(conn->nodes[i].host, conn->nodes[i].port, 0,
                                           &conn->addresses[i], &conn->address_sizes[i]);
        if (result != TC_OK) return result;
    }
    conn->options.nodes = conn->nodes;
    conn->options.token = conn->token;
    if (options->local_address != NULL && options->local_address[0] != '\0') {
        const int result = address_resolve(options->local_address, 0,
                                           AI_NUMERICHOST | AI_PASSIVE, &conn->local,
                                           &conn->local_size);
        if (result != TC_OK) return result;
    }
    conn->options.local_address = NULL;
    conn->node_index = options->node_first % options->node_count;
    conn->backoff_ms = conn->options.backoff_min_ms;
    conn->random_used = sizeof(conn->random);
    int result = memory_alloc(conn);
    if (result == TC_OK && conn->options.scratch == NULL) {
        result = tc_sdk_scratch_init(&conn->scratch_own, conn->options.message_size_max);
        conn->scratch = &conn->scratch_own;
    } else {
        conn->scratch = conn->options.scratch;
    }
    if (result != TC_OK) {
        free(conn->memory);
        conn->memory = NULL;
        return result;
    }
    conn->state = TC_SDK_CONN_IDLE;
    return TC_OK;
}

static void socket_close(struct tc_sdk_conn *conn) {
    if (conn->fd < 0) return;
    const int fd = conn->fd;
    conn->fd = -1;
    tc_sdk__poller_sync(conn); // unregisters before the descriptor can be reused
    close(fd);
}

void tc_sdk_conn_deinit(struct tc_sdk_conn *conn) {
    tc_assert(!conn->in_callback);
    if (conn->poller != NULL) tc_sdk_poller_remove(conn->poller, conn);
    socket_close(conn);
    if (conn->scratch == &conn->scratch_own) tc_sdk_scratch_deinit(&conn->scratch_own);
    free(conn->memory);
    memset(conn, 0, sizeof(*conn));
    conn->fd = -1;
    conn->poll_fd = -1;
}

int tc_sdk_scratch_init(struct tc_sdk_scratch *scratch, uint32_t message_size_max) {
    tc_assert(message_size_max <= TC_SDK_MESSAGE_SIZE_LIMIT);
    const uint32_t size = (TC_EDGE_JSON_SCRATCH_SIZE(message_size_max) + 15u) & ~15u;
    scratch->memory = aligned_alloc(16, size);
    if (scratch->memory == NULL) return TC_ENOMEM;
    scratch->message_size_max = message_size_max;
    tc_edge_json_scratch_init(&scratch->json, scratch->memory, size);
    return TC_OK;
}

void tc_sdk_scratch_deinit(struct tc_sdk_scratch *scratch) {
    free(scratch->memory);
    memset(scratch, 0, sizeof(*scratch));
}

// ------------------------------------------------------------------------------------------------
// Small helpers.

static void random_take(struct tc_sdk_conn *conn, uint8_t *out, uint32_t size) {
    tc_assert(size <= sizeof(conn->random));
    if (conn->random_used + size > sizeof(conn->random)) {
        // getrandom never returns short for requests of at most 256 bytes.
        tc_assert(getrandom(conn->random, sizeof(conn->random), 0) ==
                  (ssize_t)sizeof(conn->random));
        conn->random_used = 0;
    }
    memcpy(out, conn->random + conn->random_used, size);
    conn->random_used += size;
}

static uint32_t jitter(struct tc_sdk_conn *conn, uint32_t ms) {
    uint8_t r[2];
    random_take(conn, r, sizeof(r));
    const uint32_t fraction = (uint32_t)r[0] << 8 | r[1]; // 0..65535
    return ms / 2u + (uint32_t)(((uint64_t)ms / 2u) * fraction / 65535u);
}

static void emit_event(struct tc_sdk_conn *conn, struct tc_sdk_event *event) {
    event->node_index = conn->node_index;
    if (event->reason == NULL) event->reason = "";
    if (conn->options.callbacks.on_event == NULL) return;
    const bool nested = conn->in_callback;
    conn->in_callback = true;
    conn->options.callbacks.on_event(conn->options.callbacks.context, conn, event);
    conn->in_callback = nested;
}

static uint8_t *pending_body(struct tc_sdk_conn *conn, uint32_t slot) {
    return conn->bodies + (uint64_t)slot * conn->options.body_size_max;
}

static uint32_t pending_slot(const struct tc_sdk_conn *conn, const struct tc_sdk_pending *p) {
    tc_assert(p >= conn->pending && p < conn->pending + conn->options.pending_max);
    return (uint32_t)(p - conn->pending);
}

static struct tc_sdk_subscription *subscription_find(struct tc_sdk_conn *conn, uint64_t room) {
    if (room == 0 || conn->subscription_count == 0) return NULL;
    for (uint32_t i = 0; i < TC_SDK_SUBSCRIPTIONS_MAX; i++) {
        if (conn->subscriptions[i].room == room) return &conn->subscriptions[i];
    }
    return NULL;
}

static void subscription_remove(struct tc_sdk_conn *conn, struct tc_sdk_subscription *sub) {
    tc_assert(sub->room != 0 && conn->subscription_count > 0);
    memset(sub, 0, sizeof(*sub));
    conn->subscription_count -= 1;
}

bool tc_sdk_subscription_seq(const struct tc_sdk_conn *conn, uint64_t room, uint64_t *seq) {
    struct tc_sdk_subscription *sub = subscription_find((struct tc_sdk_conn *)conn, room);
    if (sub == NULL) return false;
    *seq = sub->seq_last;
    return true;
}

// ------------------------------------------------------------------------------------------------
// The pending table.

static struct tc_sdk_pending *pending_alloc(struct tc_sdk_conn *conn) {
    if (conn->pending_used == conn->options.pending_max) return NULL;
    const uint32_t slot = conn->free_slots[conn->options.pending_max - 1u - conn->pending_used];
    struct tc_sdk_pending *p = &conn->pending[slot];
    tc_assert(p->state == TC_SDK_PENDING_FREE);
    conn->pending_used += 1;
    const uint32_t generation = p->generation;
    *p = (struct tc_sdk_pending){.state = TC_SDK_PENDING_QUEUED, .generation = generation,
                                 .order = conn->order_next++, .created_ms = conn->now_ms};
    conn->queued += 1;
    return p;
}

static void pending_free(struct tc_sdk_conn *conn, struct tc_sdk_pending *p) {
    tc_assert(p->state != TC_SDK_PENDING_FREE);
    if (p->state == TC_SDK_PENDING_QUEUED) conn->queued -= 1;
    if (p->state == TC_SDK_PENDING_SENT || p->state == TC_SDK_PENDING_ABANDONED) {
        conn->in_flight -= 1;
    }
    p->state = TC_SDK_PENDING_FREE;
    p->generation += 1; // answers to it are stale from now on
    p->waiter = NULL;
    tc_assert(conn->pending_used > 0);
    conn->pending_used -= 1;
    conn->free_slots[conn->options.pending_max - 1u - conn->pending_used] = pending_slot(conn, p);
}

// Delivers the answer of a request. `result` holds the answer's fields (error and values); the
// request's own fields are filled in here. The slot is freed first (the callback may submit),
// unless `abandon` keeps it as ABANDONED until the server's answer arrives.
static void pending_complete(struct tc_sdk_conn *conn, struct tc_sdk_pending *p,
                             struct tc_sdk_result *result, bool abandon) {
    result->op = (enum tc_sdk_op)p->op;
    result->tag = p->tag;
    result->attempts = p->attempts;
    if (result->room == 0) result->room = p->room;
    memcpy(result->key, p->key, TC_SDK_KEY_SIZE);
    if (p->op == TC_SDK_OP_SUBSCRIBE) {
        struct tc_sdk_subscription *sub = subscription_find(conn, p->room);
        if (sub != NULL && sub->state == SUBSCRIPTION_REQUESTED &&
            sub->pending_slot == pending_slot(conn, p)) {
            if (result->error == 0) {
                sub->state = SUBSCRIPTION_ACTIVE;
            } else {
                subscription_remove(conn, sub);
            }
        }
    }
    const bool internal = p->internal;
    struct tc_sdk_waiter *waiter = p->waiter;
    if (abandon) {
        tc_assert(p->state == TC_SDK_PENDING_SENT);
        p->state = TC_SDK_PENDING_ABANDONED;
        p->waiter = NULL;
    } else {
        pending_free(conn, p);
    }
    if (waiter != NULL) {
        waiter->result = *result;
        waiter->done = true;
        return;
    }
    if (internal) {
        if (result->error != 0) {
            struct tc_sdk_event event = {.kind = TC_SDK_EVENT_RESUBSCRIBE_FAILED,
                                         .room = result->room, .code = result->error};
            emit_event(conn, &event);
        }
        return;
    }
    conn->stats.results += 1;
    if (conn->options.callbacks.on_result == NULL) return;
    const bool nested = conn->in_callback;
    conn->in_callback = true;
    conn->options.callbacks.on_result(conn->options.callbacks.context, conn, result);
    conn->in_callback = nested;
}

static void pending_fail(struct tc_sdk_conn *conn, struct tc_sdk_pending *p, uint32_t error) {
    struct tc_sdk_result result = {.error = error};
    pending_complete(conn, p, &result, false);
}

// Sends and reads may be repeated; a send repeats with its key (exactly once), a redact is
// idempotent (a repeat answers duplicate).
static bool op_repeatable(uint8_t op) {
    return op == TC_SDK_OP_SEND || op == TC_SDK_OP_SUBSCRIBE || op == TC_SDK_OP_HISTORY ||
           op == TC_SDK_OP_PING || op == TC_SDK_OP_REDACT;
}

static bool error_retryable(uint8_t op, uint32_t code) {
    switch (code) {
    case 120: // rate_limited: refused before anything happened
    case 122: // too_many_in_flight: likewise
    case 143: // no_route: likewise (the operator may route the room's slot soon)
        return true;
    case 140: // server_busy
    case 141: // not_leader
    case 142: // timeout: the outcome is unknown, so only what may be repeated is retried
        return op_repeatable(op);
    default: return false;
    }
}

static uint32_t retry_delay_ms(struct tc_sdk_conn *conn, uint32_t attempts,
                               uint32_t retry_after_ms) {
    uint64_t delay = conn->options.backoff_min_ms;
    for (uint32_t i = 1; i < attempts && delay < conn->options.backoff_max_ms; i++) delay *= 2;
    if (delay > conn->options.backoff_max_ms) delay = conn->options.backoff_max_ms;
    const uint32_t jittered = jitter(conn, (uint32_t)delay);
    return jittered > retry_after_ms ? jittered : retry_after_ms;
}

static void pending_requeue(struct tc_sdk_conn *conn, struct tc_sdk_pending *p, uint32_t delay_ms) {
    tc_assert(p->state == TC_SDK_PENDING_SENT);
    conn->in_flight -= 1;
    p->state = TC_SDK_PENDING_QUEUED;
    p->not_before_ms = conn->now_ms + delay_ms;
    conn->queued += 1;
}

// ------------------------------------------------------------------------------------------------
// Submitting.

static bool key_all_zero(const uint8_t *key) {
    for (uint32_t i = 0; i < TC_SDK_KEY_SIZE; i++) {
        if (key[i] != 0) return false;
    }
    return true;
}

static int request_check(const struct tc_sdk_conn *conn, const struct tc_sdk_request *r) {
    if (r->op <= TC_SDK_OP_NONE || r->op >= TC_SDK_OP_COUNT) return TC_EINVAL;
    if (r->op != TC_SDK_OP_PING && r->room == 0) return TC_EINVAL;
    if (r->op == TC_SDK_OP_CREATE_DM && r->peer == 0) return TC_EINVAL;
    if (r->op == TC_SDK_OP_HISTORY && r->limit > 100) return TC_EINVAL;
    if (r->op == TC_SDK_OP_REDACT && r->seq == 0) return TC_EINVAL; // seq 0 names no message
    if (r->op == TC_SDK_OP_SEND) {
        if (r->body == NULL || r->body_size == 0) return TC_EINVAL;
        if (r->body_size > conn->options.body_size_max) return TC_EINVAL;
        if (!tc_edge_utf8_valid((const uint8_t *)r->body, r->body_size)) return TC_EINVAL;
        if (r->key_set && key_all_zero(r->key)) return TC_EINVAL;
    }
    return TC_OK;
}

static void pump(struct tc_sdk_conn *conn);

int tc_sdk__submit(struct tc_sdk_conn *conn, const struct tc_sdk_request *request, uint64_t tag,
                   uint32_t *slot) {
    const int check = request_check(conn, request);
    if (check != TC_OK) return check;
    struct tc_sdk_subscription *sub = NULL;
    if (request->op == TC_SDK_OP_SUBSCRIBE) {
        if (subscription_find(conn, request->room) != NULL) return TC_EEXIST;
        if (conn->subscription_count == TC_SDK_SUBSCRIPTIONS_MAX) return TC_ENOSPC;
    }
    if (conn->pending_used == conn->options.pending_max) return TC_EBUSY;
    conn->now_ms = tc_sdk__now_ms();
    struct tc_sdk_pending *p = pending_alloc(conn);
    tc_assert(p != NULL);
    p->op = (uint8_t)request->op;
    p->tag = tag;
    p->room = request->room;
    p->peer = request->peer;
    p->seq = request->seq;
    p->limit = request->limit;
    if (request->op == TC_SDK_OP_SEND) {
        if (request->key_set) {
            memcpy(p->key, request->key, TC_SDK_KEY_SIZE);
        } else {
            do {
                random_take(conn, p->key, TC_SDK_KEY_SIZE);
            } while (key_all_zero(p->key));
        }
        memcpy(pending_body(conn, pending_slot(conn, p)), request->body, request->body_size);
        p->body_size = request->body_size;
    }
    if (request->op == TC_SDK_OP_SUBSCRIBE) {
        for (uint32_t i = 0; i < TC_SDK_SUBSCRIPTIONS_MAX && sub == NULL; i++) {
            if (conn->subscriptions[i].room == 0) sub = &conn->subscriptions[i];
        }
        tc_assert(sub != NULL);
        *sub = (struct tc_sdk_subscription){.room = request->room, .seq_last = request->seq,
                                            .state = SUBSCRIPTION_REQUESTED,
                                            .pending_slot = pending_slot(conn, p)};
        // Message `since` is known when it is 0 (the chain starts at 32 zero bytes) or given.
        sub->hash_known = request->seq == 0 || request->since_hash != NULL;
        if (request->since_hash != NULL) {
            memcpy(sub->hash_last, request->since_hash, TC_SDK_HASH_SIZE);
        }
        conn->subscription_count += 1;
    }
    if (request->op == TC_SDK_OP_UNSUBSCRIBE) {
        // Events of the room are ignored from now on; the server confirms.
        struct tc_sdk_subscription *gone = subscription_find(conn, request->room);
        if (gone != NULL) subscription_remove(conn, gone);
    }
    if (slot != NULL) *slot = pending_slot(conn, p);
    if (!conn->in_callback) {
        pump(conn);
        tc_sdk__poller_sync(conn);
    }
    return TC_OK;
}

int tc_sdk_submit(struct tc_sdk_conn *conn, const struct tc_sdk_request *request, uint64_t tag) {
    return tc_sdk__submit(conn, request, tag, NULL);
}

int tc_sdk_create_room(struct tc_sdk_conn *conn, uint64_t room, uint64_t tag) {
    const struct tc_sdk_request r = {.op = TC_SDK_OP_CREATE_ROOM, .room = room};
    return tc_sdk_submit(conn, &r, tag);
}

int tc_sdk_create_dm(struct tc_sdk_conn *conn, uint64_t room, uint64_t peer, uint64_t tag) {
    const struct tc_sdk_request r = {.op = TC_SDK_OP_CREATE_DM, .room = room, .peer = peer};
    return tc_sdk_submit(conn, &r, tag);
}

int tc_sdk_join(struct tc_sdk_conn *conn, uint64_t room, uint64_t tag) {
    const struct tc_sdk_request r = {.op = TC_SDK_OP_JOIN, .room = room};
    return tc_sdk_submit(conn, &r, tag);
}

int tc_sdk_leave(struct tc_sdk_conn *conn, uint64_t room, uint64_t tag) {
    const struct tc_sdk_request r = {.op = TC_SDK_OP_LEAVE, .room = room};
    return tc_sdk_submit(conn, &r, tag);
}

int tc_sdk_send(struct tc_sdk_conn *conn, uint64_t room, const char *body, uint32_t body_size,
                uint64_t tag) {
    const struct tc_sdk_request r = {.op = TC_SDK_OP_SEND, .room = room, .body = body,
                                     .body_size = body_size};
    return tc_sdk_submit(conn, &r, tag);
}

int tc_sdk_subscribe(struct tc_sdk_conn *conn, uint64_t room, uint64_t since, uint64_t tag) {
    const struct tc_sdk_request r = {.op = TC_SDK_OP_SUBSCRIBE, .room = room, .seq = since};
    return tc_sdk_submit(conn, &r, tag);
}

int tc_sdk_unsubscribe(struct tc_sdk_conn *conn, uint64_t room, uint64_t tag) {
    const struct tc_sdk_request r = {.op = TC_SDK_OP_UNSUBSCRIBE, .room = room};
    return tc_sdk_submit(conn, &r, tag);
}

int tc_sdk_history(struct tc_sdk_conn *conn, uint64_t room, uint64_t from_seq, uint32_t limit,
                   uint64_t tag) {
    const struct tc_sdk_request r = {.op = TC_SDK_OP_HISTORY, .room = room, .seq = from_seq,
                                     .limit = limit};
    return tc_sdk_submit(conn, &r, tag);
}

int tc_sdk_ping(struct tc_sdk_conn *conn, uint64_t tag) {
    const struct tc_sdk_request r = {.op = TC_SDK_OP_PING};
    return tc_sdk_submit(conn, &r, tag);
}

int tc_sdk_redact(struct tc_sdk_conn *conn, uint64_t room, uint64_t seq, uint64_t tag) {
    const struct tc_sdk_request r = {.op = TC_SDK_OP_REDACT, .room = room, .seq = seq};
    return tc_sdk_submit(conn, &r, tag);
}

// ------------------------------------------------------------------------------------------------
// Socket output.

static void disconnect(struct tc_sdk_conn *conn, uint16_t close_code, const char *reason);

// Makes room for `size` more bytes at the end of the send buffer (moving unwritten bytes down).
static bool send_reserve(struct tc_sdk_conn *conn, uint32_t size) {
    if (conn->send_used + size <= conn->options.send_buffer_size) return true;
    if (conn->send_done > 0) {
        memmove(conn->send_buffer, conn->send_buffer + conn->send_done,
                conn->send_used - conn->send_done);
        conn->send_used -= conn->send_done;
        conn->send_done = 0;
    }
    return conn->send_used + size <= conn->options.send_buffer_size;
}

static bool send_frame(struct tc_sdk_conn *conn, enum tc_edge_ws_opcode opcode,
                       const uint8_t *payload, uint32_t size) {
    if (!send_reserve(conn, size + TC_EDGE_WS_HEADER_SIZE_MAX)) return false;
    uint8_t mask[4];
    random_take(conn, mask, sizeof(mask));
    const int32_t written = tc_edge_ws_frame_write_masked(
        conn->send_buffer + conn->send_used, conn->options.send_buffer_size - conn->send_used,
        opcode, true, mask, payload, size);
    tc_assert(written > 0);
    conn->send_used += (uint32_t)written;
    return true;
}

static void send_close_frame(struct tc_sdk_conn *conn, uint16_t code) {
    if (conn->close_sent) return;
    conn->close_sent = true;
    const uint8_t payload[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    (void)send_frame(conn, TC_EDGE_WS_OP_CLOSE, payload, sizeof(payload));
}

// Writes what the socket takes. False when the connection broke (and was disconnected).
static bool socket_flush(struct tc_sdk_conn *conn) {
    while (conn->fd >= 0 && conn->send_done < conn->send_used) {
        const ssize_t n = send(conn->fd, conn->send_buffer + conn->send_done,
                               conn->send_used - conn->send_done, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
            disconnect(conn, 1006, "write failed");
            return false;
        }
        conn->send_done += (uint32_t)n;
        conn->stats.bytes_out += (uint64_t)n;
    }
    if (conn->send_done == conn->send_used) conn->send_done = conn->send_used = 0;
    return true;
}

// ------------------------------------------------------------------------------------------------
// Sending requests.

static struct tc_sdk_pending *queued_next(struct tc_sdk_conn *conn) {
    struct tc_sdk_pending *best = NULL;
    for (uint32_t i = 0; i < conn->options.pending_max; i++) {
        struct tc_sdk_pending *p = &conn->pending[i];
        if (p->state != TC_SDK_PENDING_QUEUED || p->not_before_ms > conn->now_ms) continue;
        if (best == NULL || p->order < best->order) best = p;
    }
    return best;
}

static void resubscribe_wanted(struct tc_sdk_conn *conn) {
    if (!conn->subscriptions_wanted) return;
    for (uint32_t i = 0; i < TC_SDK_SUBSCRIPTIONS_MAX; i++) {
        struct tc_sdk_subscription *sub = &conn->subscriptions[i];
        if (sub->room == 0 || sub->state != SUBSCRIPTION_WANT) continue;
        struct tc_sdk_pending *p = pending_alloc(conn);
        if (p == NULL) return; // retried at the next pump (subscriptions_wanted stays set)
        p->op = TC_SDK_OP_SUBSCRIBE;
        p->internal = true;
        p->room = sub->room;
        sub->state = SUBSCRIPTION_REQUESTED;
        sub->pending_slot = pending_slot(conn, p);
    }
    conn->subscriptions_wanted = false;
}

// Encodes one queued request into the send buffer. False when the buffer is full.
static bool request_write(struct tc_sdk_conn *conn, struct tc_sdk_pending *p) {
    const uint32_t slot = pending_slot(conn, p);
    struct tc_sdk_request request = {.op = (enum tc_sdk_op)p->op, .room = p->room,
                                     .peer = p->peer, .seq = p->seq, .limit = p->limit,
                                     .body = (const char *)pending_body(conn, slot),
                                     .body_size = p->body_size};
    memcpy(request.key, p->key, TC_SDK_KEY_SIZE);
    if (p->op == TC_SDK_OP_SUBSCRIBE) {
        // Resume after the last message delivered (a reconnect or a retry).
        const struct tc_sdk_subscription *sub = subscription_find(conn, p->room);
        if (sub != NULL) request.seq = sub->seq_last;
    }
    char id[ID_SIZE_MAX];
    snprintf(id, sizeof(id), "%u.%u", slot, p->generation + 1u);
    const int32_t size = tc_sdk_request_encode(conn->encode, TC_SDK_REQUEST_SIZE_MAX, id, &request);
    tc_assert(size > 0); // bodies are bounded by body_size_max <= 4096
    if (!send_frame(conn, TC_EDGE_WS_OP_TEXT, (const uint8_t *)conn->encode, (uint32_t)size)) {
        return false;
    }
    p->generation += 1;
    p->attempts += 1;
    p->state = TC_SDK_PENDING_SENT;
    conn->queued -= 1;
    conn->in_flight += 1;
    conn->stats.requests_sent += 1;
    if (p->attempts > 1) conn->stats.retries += 1;
    return true;
}

static void pump(struct tc_sdk_conn *conn) {
    if (conn->state != TC_SDK_CONN_OPEN) return;
    resubscribe_wanted(conn);
    while (conn->queued > 0 && conn->in_flight < conn->options.in_flight_max) {
        struct tc_sdk_pending *p = queued_next(conn);
        if (p == NULL || !request_write(conn, p)) break;
    }
    (void)socket_flush(conn);
}

// ------------------------------------------------------------------------------------------------
// Connecting.

static void state_set(struct tc_sdk_conn *conn, enum tc_sdk_conn_state state) {
    conn->state = state;
    conn->state_since_ms = conn->now_ms;
}

// Every request on the wire is answered by the new connection or locally.
static void pending_after_disconnect(struct tc_sdk_conn *conn) {
    for (uint32_t i = 0; i < conn->options.pending_max; i++) {
        struct tc_sdk_pending *p = &conn->pending[i];
        if (p->state == TC_SDK_PENDING_ABANDONED) {
            pending_free(conn, p);
        } else if (p->state == TC_SDK_PENDING_SENT) {
            if (op_repeatable(p->op)) {
                pending_requeue(conn, p, 0);
            } else if (p->op == TC_SDK_OP_UNSUBSCRIBE) {
                struct tc_sdk_result result = {0}; // the new connection has no subscription
                pending_complete(conn, p, &result, false);
            } else {
                pending_fail(conn, p, TC_SDK_ERROR_DISCONNECTED);
            }
        }
    }
}

static void disconnect(struct tc_sdk_conn *conn, uint16_t close_code, const char *reason) {
    tc_assert(conn->state != TC_SDK_CONN_IDLE && conn->state != TC_SDK_CONN_BACKOFF);
    socket_close(conn);
    conn->send_used = conn->send_done = 0;
    conn->recv_used = 0;
    conn->reader.message_open = false;
    conn->close_sent = false;
    conn->incarnation += 1;
    conn->stats.disconnects += 1;
    conn->reconnect_at_ms = conn->now_ms + jitter(conn, conn->backoff_ms);
    conn->backoff_ms = conn->backoff_ms * 2u > conn->options.backoff_max_ms
                           ? conn->options.backoff_max_ms
                           : conn->backoff_ms * 2u;
    state_set(conn, TC_SDK_CONN_BACKOFF);
    for (uint32_t i = 0; i < TC_SDK_SUBSCRIPTIONS_MAX; i++) {
        struct tc_sdk_subscription *sub = &conn->subscriptions[i];
        if (sub->room != 0 && sub->state == SUBSCRIPTION_ACTIVE) {
            sub->state = SUBSCRIPTION_WANT;
            conn->subscriptions_wanted = true;
        }
    }
    pending_after_disconnect(conn);
    struct tc_sdk_event event = {.kind = TC_SDK_EVENT_DISCONNECTED, .close_code = close_code,
                                 .reason = reason, .stopped = false};
    emit_event(conn, &event);
    // The next attempt goes to the next node (the same one when there is only one).
    conn->node_index = (conn->node_index + 1u) % conn->options.node_count;
}

static void connect_start(struct tc_sdk_conn *conn) {
    const uint32_t n = conn->node_index;
    const struct sockaddr *address = (const struct sockaddr *)&conn->addresses[n];
    state_set(conn, TC_SDK_CONN_CONNECTING);
    const int fd = socket(address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        disconnect(conn, 1006, "socket failed");
        return;
    }
    conn->fd = fd;
    const int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (conn->local_size > 0) {
#ifdef IP_BIND_ADDRESS_NO_PORT
        (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
        if (bind(fd, (const struct sockaddr *)&conn->local, conn->local_size) != 0) {
            disconnect(conn, 1006, "bind failed");
            return;
        }
    }
    if (connect(fd, address, conn->address_sizes[n]) != 0 && errno != EINPROGRESS) {
        disconnect(conn, 1006, "connect failed");
        return;
    }
    tc_sdk__poller_sync(conn);
}

int tc_sdk_conn_start(struct tc_sdk_conn *conn) {
    if (conn->state != TC_SDK_CONN_IDLE) return TC_EINVAL;
    conn->now_ms = tc_sdk__now_ms();
    connect_start(conn);
    tc_sdk__poller_sync(conn);
    return TC_OK;
}

int tc_sdk_conn_set_token(struct tc_sdk_conn *conn, const char *token) {
    const size_t size = strlen(token);
    if (size == 0 || size > TC_SDK_TOKEN_SIZE_MAX) return TC_EINVAL;
    memcpy(conn->token, token, size + 1);
    conn->token_size = (uint32_t)size;
    return TC_OK;
}

static void handshake_send(struct tc_sdk_conn *conn) {
    uint8_t nonce[16];
    random_take(conn, nonce, sizeof(nonce));
    char key[TC_EDGE_WS_KEY_SIZE + 1];
    tc_assert(tc_edge_base64_encode(key, sizeof(key), nonce, sizeof(nonce),
                                    TC_EDGE_BASE64_STANDARD) == (int32_t)TC_EDGE_WS_KEY_SIZE);
    tc_edge_http_websocket_accept(key, TC_EDGE_WS_KEY_SIZE, conn->ws_accept);
    tc_assert(conn->send_used == 0);
    const int32_t size = tc_sdk_http_request_write((char *)conn->send_buffer,
                                                   conn->options.send_buffer_size,
                                                   &conn->nodes[conn->node_index], key,
                                                   conn->token, conn->token_size);
    tc_assert(size > 0); // the send buffer holds a 4096-byte token and more
    conn->send_used = (uint32_t)size;
    state_set(conn, TC_SDK_CONN_HANDSHAKE);
    (void)socket_flush(conn);
}

void tc_sdk_conn_on_writable(struct tc_sdk_conn *conn) {
    conn->now_ms = tc_sdk__now_ms();
    if (conn->fd < 0) return;
    if (conn->state == TC_SDK_CONN_CONNECTING) {
        int error = 0;
        socklen_t size = sizeof(error);
        if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error != 0) {
            disconnect(conn, 1006, "connect failed");
            tc_sdk__poller_sync(conn);
            return;
        }
        struct sockaddr_storage peer;
        socklen_t peer_size = sizeof(peer);
        if (getpeername(conn->fd, (struct sockaddr *)&peer, &peer_size) != 0) return; // not yet
        handshake_send(conn);
    } else {
        (void)socket_flush(conn);
        pump(conn);
    }
    tc_sdk__poller_sync(conn);
}

// ------------------------------------------------------------------------------------------------
// The upgrade response.

// The protocol code in a refusal's body {"error":{"code":N,...}} (0 when there is none).
static uint32_t refusal_code(struct tc_sdk_conn *conn, const uint8_t *body, uint32_t size) {
    if (size == 0) return 0;
    cJSON *root = NULL;
    if (tc_edge_json_parse(&conn->scratch->json, (const char *)body, size, &root) != TC_OK) {
        return 0;
    }
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *code = error == NULL ? NULL : cJSON_GetObjectItemCaseSensitive(error, "code");
    uint64_t value = 0;
    if (code == NULL || !tc_edge_json_integer(code, UINT32_MAX, &value)) return 0;
    return (uint32_t)value;
}

static void stop(struct tc_sdk_conn *conn);

static void handshake_refused(struct tc_sdk_conn *conn, const struct tc_sdk_http_response *response,
                              const uint8_t *body, uint32_t body_size) {
    conn->stats.handshake_refusals += 1;
    struct tc_sdk_event event = {.kind = TC_SDK_EVENT_HANDSHAKE_REFUSED,
                                 .http_status = response->status,
                                 .code = refusal_code(conn, body, body_size),
                                 .retry_after_ms = response->retry_after_s * 1000u};
    // 429 (rate limits) and 503 (draining, full) pass; anything else needs a fix first.
    const bool retry = response->status == 429 || response->status == 503;
    event.stopped = !retry;
    if (retry) {
        disconnect(conn, 1006, "handshake refused");
        const uint64_t not_before = conn->now_ms + event.retry_after_ms;
        if (conn->reconnect_at_ms < not_before) conn->reconnect_at_ms = not_before;
    } else {
        stop(conn);
    }
    emit_event(conn, &event);
}

static void frames_process(struct tc_sdk_conn *conn);

// The bytes of the 101 and whatever followed it.
static void handshake_process(struct tc_sdk_conn *conn) {
    struct tc_sdk_http_response response;
    const int32_t head = tc_sdk_http_response_parse(conn->recv_buffer, conn->recv_used, &response);
    if (head == 0) return;
    if (head < 0) {
        disconnect(conn, 1006, "bad upgrade response");
        return;
    }
    if (response.status != 101) {
        if (response.content_length > TC_SDK_HTTP_BODY_SIZE_MAX) {
            handshake_refused(conn, &response, NULL, 0);
            return;
        }
        if (conn->recv_used < (uint32_t)head + response.content_length) return; // body to come
        handshake_refused(conn, &response, conn->recv_buffer + head, response.content_length);
        return;
    }
    if (!response.upgrade_websocket || !response.connection_upgrade ||
        strcmp(response.accept, conn->ws_accept) != 0) {
        disconnect(conn, 1006, "bad upgrade response");
        return;
    }
    memmove(conn->recv_buffer, conn->recv_buffer + head, conn->recv_used - (uint32_t)head);
    conn->recv_used -= (uint32_t)head;
    state_set(conn, TC_SDK_CONN_OPEN);
    conn->backoff_ms = conn->options.backoff_min_ms;
    conn->stats.connects += 1;
    struct tc_sdk_event event = {.kind = TC_SDK_EVENT_CONNECTED};
    const uint64_t incarnation = conn->incarnation;
    emit_event(conn, &event);
    if (conn->incarnation != incarnation || conn->state != TC_SDK_CONN_OPEN) return;
    pump(conn);
    if (conn->state == TC_SDK_CONN_OPEN) frames_process(conn);
}

// ------------------------------------------------------------------------------------------------
// Server messages.

static bool id_parse(const char *id, uint32_t size, uint32_t *slot, uint32_t *generation) {
    uint64_t values[2] = {0, 0};
    uint32_t part = 0, digits = 0;
    for (uint32_t i = 0; i < size; i++) {
        if (id[i] == '.' && part == 0 && digits > 0) {
            part = 1;
            digits = 0;
        } else if (id[i] >= '0' && id[i] <= '9' && digits < 10) {
            values[part] = values[part] * 10u + (uint64_t)(id[i] - '0');
            digits += 1;
        } else {
            return false;
        }
    }
    if (part != 1 || digits == 0 || values[0] > UINT32_MAX || values[1] > UINT32_MAX) return false;
    *slot = (uint32_t)values[0];
    *generation = (uint32_t)values[1];
    return true;
}

static struct tc_sdk_pending *answer_find(struct tc_sdk_conn *conn,
                                          const struct tc_sdk_server_message *m) {
    uint32_t slot = 0, generation = 0;
    if (m->id == NULL || !id_parse(m->id, m->id_size, &slot, &generation)) return NULL;
    if (slot >= conn->options.pending_max) return NULL;
    struct tc_sdk_pending *p = &conn->pending[slot];
    if (p->generation != generation) return NULL;
    if (p->state != TC_SDK_PENDING_SENT && p->state != TC_SDK_PENDING_ABANDONED) return NULL;
    return p;
}

static void history_deliver(struct tc_sdk_conn *conn, const struct tc_sdk_pending *p,
                            const cJSON *messages, struct tc_sdk_result *result) {
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, messages) {
        struct tc_sdk_message message;
        if (tc_sdk_message_parse(item, &message) != TC_OK) {
            result->error = TC_SDK_ERROR_BAD_RESPONSE;
            return;
        }
        message.source = TC_SDK_SOURCE_HISTORY;
        message.tag = p->tag;
        result->message_count += 1;
        if (conn->options.callbacks.on_message == NULL) continue;
        const bool nested = conn->in_callback;
        conn->in_callback = true;
        conn->options.callbacks.on_message(conn->options.callbacks.context, conn, &message);
        conn->in_callback = nested;
    }
}

static void answer_handle(struct tc_sdk_conn *conn, const struct tc_sdk_server_message *m) {
    struct tc_sdk_pending *p = answer_find(conn, m);
    if (p == NULL) {
        conn->stats.stale_answers += 1;
        if (m->type == TC_SDK_SERVER_ERROR && m->id == NULL) {
            struct tc_sdk_event event = {.kind = TC_SDK_EVENT_SERVER_ERROR, .code = m->code,
                                         .retry_after_ms = m->retry_after_ms,
                                         .reason = m->reason};
            emit_event(conn, &event);
        }
        return;
    }
    if (p->state == TC_SDK_PENDING_ABANDONED) {
        pending_free(conn, p);
        return;
    }
    if (m->type == TC_SDK_SERVER_ERROR) {
        if (p->op == TC_SDK_OP_UNSUBSCRIBE && m->code == 124) { // not_subscribed: done anyway
            struct tc_sdk_result result = {0};
            pending_complete(conn, p, &result, false);
            return;
        }
        if (error_retryable(p->op, m->code) && p->attempts <= conn->options.retries_max) {
            pending_requeue(conn, p, retry_delay_ms(conn, p->attempts, m->retry_after_ms));
            return;
        }
        struct tc_sdk_result result = {.error = m->code, .retry_after_ms = m->retry_after_ms};
        pending_complete(conn, p, &result, false);
        return;
    }
    struct tc_sdk_result result = m->result;
    result.error = 0;
    if (p->op == TC_SDK_OP_HISTORY && m->messages != NULL) {
        history_deliver(conn, p, m->messages, &result);
    }
    pending_complete(conn, p, &result, false);
}

static void chain_event(struct tc_sdk_conn *conn, enum tc_sdk_event_kind kind,
                        const struct tc_sdk_message *message, uint64_t expected) {
    struct tc_sdk_event event = {.kind = kind, .room = message->room, .seq = message->seq,
                                 .expected_seq = expected};
    emit_event(conn, &event);
}

static void message_handle(struct tc_sdk_conn *conn, const struct tc_sdk_message *message) {
    struct tc_sdk_subscription *sub = subscription_find(conn, message->room);
    if (sub == NULL) return; // unsubscribed meanwhile
    const uint64_t expected = sub->seq_last + 1u;
    if (message->seq < expected) {
        conn->stats.duplicates += 1;
        chain_event(conn, TC_SDK_EVENT_DUPLICATE, message, expected);
        return;
    }
    const bool gap = message->seq > expected;
    const bool broken = !gap && sub->hash_known &&
                        memcmp(message->prev_hash, sub->hash_last, TC_SDK_HASH_SIZE) != 0;
    const bool mismatch = !conn->options.skip_hash_verify && !tc_sdk_message_verify(message);
    sub->seq_last = message->seq;
    memcpy(sub->hash_last, message->hash, TC_SDK_HASH_SIZE);
    sub->hash_known = true;
    const uint64_t incarnation = conn->incarnation;
    if (gap) {
        conn->stats.gaps += 1;
        chain_event(conn, TC_SDK_EVENT_GAP, message, expected);
    }
    if (broken) {
        conn->stats.chain_breaks += 1;
        chain_event(conn, TC_SDK_EVENT_CHAIN_BREAK, message, expected);
    }
    if (mismatch) {
        conn->stats.hash_mismatches += 1;
        chain_event(conn, TC_SDK_EVENT_HASH_MISMATCH, message, expected);
    }
    if (conn->incarnation != incarnation) return;
    conn->stats.messages += 1;
    if (conn->options.callbacks.on_message == NULL) return;
    const bool nested = conn->in_callback;
    conn->in_callback = true;
    conn->options.callbacks.on_message(conn->options.callbacks.context, conn, message);
    conn->in_callback = nested;
}

static void room_event_handle(struct tc_sdk_conn *conn, const struct tc_sdk_server_message *m) {
    struct tc_sdk_event event = {.room = m->room, .seq = m->seq, .user = m->user,
                                 .reason = m->reason};
    struct tc_sdk_subscription *sub = subscription_find(conn, m->room);
    switch (m->type) {
    case TC_SDK_SERVER_TRUNCATED:
        event.kind = TC_SDK_EVENT_TRUNCATED;
        // Messages below truncated_at are gone: the next one is truncated_at.
        if (sub != NULL && m->seq > sub->seq_last + 1u) {
            sub->seq_last = m->seq - 1u;
            sub->hash_known = false;
        }
        break;
    case TC_SDK_SERVER_CATCH_UP: event.kind = TC_SDK_EVENT_CATCH_UP; break;
    case TC_SDK_SERVER_TYPING: event.kind = TC_SDK_EVENT_TYPING; break;
    case TC_SDK_SERVER_READ_MARKER: event.kind = TC_SDK_EVENT_READ_MARKER; break;
    case TC_SDK_SERVER_REDACTED: event.kind = TC_SDK_EVENT_REDACTED; break;
    case TC_SDK_SERVER_UNSUBSCRIBED:
        event.kind = TC_SDK_EVENT_UNSUBSCRIBED;
        if (sub != NULL) subscription_remove(conn, sub);
        break;
    default: tc_unreachable();
    }
    emit_event(conn, &event);
}

static void text_handle(struct tc_sdk_conn *conn, const uint8_t *text, uint32_t size) {
    struct tc_sdk_server_message m;
    const int parsed = tc_sdk_server_parse(&conn->scratch->json, (const char *)text, size, &m);
    if (parsed != TC_OK) {
        disconnect(conn, 1006, "unparsable server message");
        return;
    }
    switch (m.type) {
    case TC_SDK_SERVER_UNKNOWN: return; // forward compatibility (protocol §3)
    case TC_SDK_SERVER_RESULT:
    case TC_SDK_SERVER_ERROR: answer_handle(conn, &m); return;
    case TC_SDK_SERVER_MESSAGE: message_handle(conn, &m.message); return;
    default: room_event_handle(conn, &m); return;
    }
}

// ------------------------------------------------------------------------------------------------
// Socket input.

static void frame_event_handle(struct tc_sdk_conn *conn, const struct tc_sdk_ws_event *event) {
    switch (event->kind) {
    case TC_SDK_WS_TEXT: text_handle(conn, event->payload, event->payload_size); return;
    case TC_SDK_WS_PING:
        if (!send_frame(conn, TC_EDGE_WS_OP_PONG, event->payload, event->payload_size)) {
            disconnect(conn, 1006, "send buffer full");
        }
        return;
    case TC_SDK_WS_CLOSE: {
        char reason[TC_EDGE_WS_CLOSE_REASON_SIZE_MAX + 1];
        memcpy(reason, event->payload, event->payload_size);
        reason[event->payload_size] = '\0';
        // Answer the close (echoing a sendable code), then end the connection.
        const uint16_t code = event->close_code == TC_EDGE_WS_CLOSE_NO_STATUS
                                  ? TC_EDGE_WS_CLOSE_NORMAL
                                  : event->close_code;
        send_close_frame(conn, code);
        (void)socket_flush(conn);
        if (conn->fd >= 0) disconnect(conn, event->close_code, reason);
        return;
    }
    case TC_SDK_WS_ERROR:
        send_close_frame(conn, event->close_code);
        (void)socket_flush(conn);
        if (conn->fd >= 0) disconnect(conn, event->close_code, "protocol error");
        return;
    case TC_SDK_WS_PONG:
    case TC_SDK_WS_NONE: return;
    }
}

static void frames_process(struct tc_sdk_conn *conn) {
    const uint64_t incarnation = conn->incarnation;
    uint32_t offset = 0;
    while (conn->state == TC_SDK_CONN_OPEN && conn->incarnation == incarnation) {
        struct tc_sdk_ws_event event;
        const uint32_t consumed = tc_sdk_ws_read(&conn->reader, conn->recv_buffer + offset,
                                                 conn->recv_used - offset, &event);
        if (event.kind == TC_SDK_WS_ERROR) {
            frame_event_handle(conn, &event);
            return;
        }
        if (consumed == 0) break;
        offset += consumed;
        frame_event_handle(conn, &event);
    }
    if (conn->incarnation != incarnation) return; // the buffer was reset
    memmove(conn->recv_buffer, conn->recv_buffer + offset, conn->recv_used - offset);
    conn->recv_used -= offset;
}

void tc_sdk_conn_on_readable(struct tc_sdk_conn *conn) {
    conn->now_ms = tc_sdk__now_ms();
    if (conn->fd < 0 ||
        (conn->state != TC_SDK_CONN_HANDSHAKE && conn->state != TC_SDK_CONN_OPEN)) {
        return;
    }
    tc_assert(conn->recv_used < conn->recv_capacity);
    const ssize_t n = recv(conn->fd, conn->recv_buffer + conn->recv_used,
                           conn->recv_capacity - conn->recv_used, 0);
    if (n == 0) {
        disconnect(conn, 1006, "connection closed");
    } else if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            disconnect(conn, 1006, "read failed");
        }
    } else {
        conn->recv_used += (uint32_t)n;
        conn->received_ms = conn->now_ms;
        conn->stats.bytes_in += (uint64_t)n;
        if (conn->state == TC_SDK_CONN_HANDSHAKE) {
            handshake_process(conn);
            if (conn->state == TC_SDK_CONN_HANDSHAKE && conn->recv_used == conn->recv_capacity) {
                disconnect(conn, 1006, "upgrade response too large");
            }
        } else {
            frames_process(conn);
        }
        pump(conn);
    }
    tc_sdk__poller_sync(conn);
}

// ------------------------------------------------------------------------------------------------
// Timers, stopping, accessors.

static void deadlines_check(struct tc_sdk_conn *conn) {
    const uint32_t timeout = conn->options.request_timeout_ms;
    if (timeout == 0 || conn->pending_used == 0) return;
    for (uint32_t i = 0; i < conn->options.pending_max; i++) {
        struct tc_sdk_pending *p = &conn->pending[i];
        if (p->state != TC_SDK_PENDING_QUEUED && p->state != TC_SDK_PENDING_SENT) continue;
        if (p->internal || conn->now_ms < p->created_ms + timeout) continue;
        struct tc_sdk_result result = {.error = TC_SDK_ERROR_DEADLINE};
        pending_complete(conn, p, &result, p->state == TC_SDK_PENDING_SENT);
    }
}

void tc_sdk_conn_tick(struct tc_sdk_conn *conn) {
    conn->now_ms = tc_sdk__now_ms();
    switch (conn->state) {
    case TC_SDK_CONN_IDLE: break;
    case TC_SDK_CONN_BACKOFF:
        if (conn->now_ms >= conn->reconnect_at_ms) connect_start(conn);
        break;
    case TC_SDK_CONN_CONNECTING:
    case TC_SDK_CONN_HANDSHAKE:
        if (conn->now_ms >= conn->state_since_ms + conn->options.connect_timeout_ms) {
            disconnect(conn, 1006, "connect timeout");
        }
        break;
    case TC_SDK_CONN_OPEN:
        if (conn->now_ms >= conn->received_ms + conn->options.idle_timeout_ms) {
            disconnect(conn, 1006, "idle");
        }
        break;
    }
    deadlines_check(conn);
    pump(conn);
    tc_sdk__poller_sync(conn);
}

static void stop(struct tc_sdk_conn *conn) {
    socket_close(conn);
    conn->send_used = conn->send_done = 0;
    conn->recv_used = 0;
    conn->reader.message_open = false;
    conn->close_sent = false;
    conn->incarnation += 1;
    state_set(conn, TC_SDK_CONN_IDLE);
    conn->backoff_ms = conn->options.backoff_min_ms;
    memset(conn->subscriptions, 0, sizeof(conn->subscriptions));
    conn->subscription_count = 0;
    conn->subscriptions_wanted = false;
    for (uint32_t i = 0; i < conn->options.pending_max; i++) {
        struct tc_sdk_pending *p = &conn->pending[i];
        if (p->state == TC_SDK_PENDING_ABANDONED) {
            pending_free(conn, p);
        } else if (p->state != TC_SDK_PENDING_FREE) {
            pending_fail(conn, p, TC_SDK_ERROR_CLOSED);
        }
    }
}

void tc_sdk_conn_close(struct tc_sdk_conn *conn) {
    conn->now_ms = tc_sdk__now_ms();
    if (conn->state == TC_SDK_CONN_OPEN) {
        send_close_frame(conn, TC_EDGE_WS_CLOSE_NORMAL);
        (void)socket_flush(conn); // best effort: the close frame, then FIN
    }
    if (conn->state != TC_SDK_CONN_IDLE) {
        stop(conn);
        struct tc_sdk_event event = {.kind = TC_SDK_EVENT_DISCONNECTED,
                                     .close_code = TC_EDGE_WS_CLOSE_NORMAL, .reason = "closed",
                                     .stopped = true};
        emit_event(conn, &event);
    }
    tc_sdk__poller_sync(conn);
}

enum tc_sdk_conn_state tc_sdk_conn_state_get(const struct tc_sdk_conn *conn) {
    return conn->state;
}

bool tc_sdk_conn_open(const struct tc_sdk_conn *conn) { return conn->state == TC_SDK_CONN_OPEN; }

int tc_sdk_conn_fd(const struct tc_sdk_conn *conn) { return conn->fd; }

bool tc_sdk_conn_wants_write(const struct tc_sdk_conn *conn) {
    return conn->fd >= 0 &&
           (conn->state == TC_SDK_CONN_CONNECTING || conn->send_done < conn->send_used);
}

const struct tc_sdk_stats *tc_sdk_conn_stats(const struct tc_sdk_conn *conn) {
    return &conn->stats;
}

uint32_t tc_sdk_conn_pending(const struct tc_sdk_conn *conn) { return conn->pending_used; }
