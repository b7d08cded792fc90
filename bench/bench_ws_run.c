// tigerchat-bench ws: set-up (connections, rooms, joins, subscriptions), the load, the drain.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "bench_ws.h"
#include "tc_assert.h"
#include "tc_err.h"

#define NS_PER_S 1000000000ull
#define SETUP_TAG (1ull << 63)
#define TOKEN_TTL_S 86400u
#define SUBSCRIBER_BODY_SIZE 16u

enum setup_kind {
    SETUP_CREATE = 1,
    SETUP_JOIN = 2,
    SETUP_SUBSCRIBE = 3,
};

static uint64_t setup_tag(enum setup_kind kind, uint32_t room) {
    return SETUP_TAG | (uint64_t)kind << 56 | room;
}

uint64_t bench_ws_now_ns(void) {
    struct timespec ts;
    tc_assert(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint32_t conn_index(const struct bench_ws *ws, const struct tc_sdk_conn *conn) {
    tc_assert(conn >= ws->conns && conn < ws->conns + ws->conn_count);
    return (uint32_t)(conn - ws->conns);
}

static bool is_sender(const struct bench_ws *ws, uint32_t index) {
    return index < ws->options.senders;
}

static uint32_t error_slot(uint32_t code) {
    return code < BENCH_WS_ERROR_CODES ? code : BENCH_WS_ERROR_CODES - 1u;
}

// ------------------------------------------------------------------------------------------------
// Tokens.

static int token_from_command(const char *command, uint64_t user, char *out) {
    char line[1024];
    const char *mark = strstr(command, "%u");
    if (mark != NULL) {
        snprintf(line, sizeof(line), "%.*s%" PRIu64 "%s", (int)(mark - command), command, user,
                 mark + 2);
    } else {
        snprintf(line, sizeof(line), "%s", command);
    }
    FILE *pipe = popen(line, "r");
    if (pipe == NULL) return TC_EIO;
    const bool read = fgets(out, TC_SDK_TOKEN_SIZE_MAX + 1, pipe) != NULL;
    const int status = pclose(pipe);
    if (!read || status != 0) return TC_EIO;
    out[strcspn(out, "\r\n")] = '\0';
    return out[0] == '\0' ? TC_EINVAL : TC_OK;
}

static int tokens_make(struct bench_ws *ws) {
    const struct bench_ws_options *o = &ws->options;
    uint8_t key[64];
    int key_size = 0;
    if (o->jwt_key_file != NULL) {
        key_size = tc_sdk_jwt_key_read(o->jwt_key_file, key, sizeof(key));
        if (key_size < 0) {
            fprintf(stderr, "tigerchat-bench ws: cannot read --jwt-key-file %s: %s\n",
                    o->jwt_key_file, tc_strerror(key_size));
            return key_size;
        }
    }
    const bool per_user = o->jwt_key_file != NULL ||
                          (o->token_cmd != NULL && strstr(o->token_cmd, "%u") != NULL);
    for (uint32_t i = 0; i < ws->conn_count; i++) {
        char *token = ws->tokens + (uint64_t)i * (TC_SDK_TOKEN_SIZE_MAX + 1u);
        const uint64_t user = ws->user_base + i;
        if (i > 0 && !per_user) {
            memcpy(token, ws->tokens, TC_SDK_TOKEN_SIZE_MAX + 1u);
            continue;
        }
        int result = TC_OK;
        if (o->jwt_key_file != NULL) {
            const int32_t size = tc_sdk_token_mint(key, (uint32_t)key_size, user, TOKEN_TTL_S,
                                                   token, TC_SDK_TOKEN_SIZE_MAX + 1u);
            result = size > 0 ? TC_OK : size;
        } else if (o->token_cmd != NULL) {
            result = token_from_command(o->token_cmd, user, token);
        } else {
            snprintf(token, TC_SDK_TOKEN_SIZE_MAX + 1u, "%s", o->token);
        }
        if (result != TC_OK) {
            fprintf(stderr, "tigerchat-bench ws: no token for user %" PRIu64 ": %s\n", user,
                    tc_strerror(result));
            return result;
        }
    }
    memset(key, 0, sizeof(key));
    return TC_OK;
}

// ------------------------------------------------------------------------------------------------
// Callbacks.

static uint64_t body_stamp(const char *body, uint32_t size) {
    if (size < BENCH_WS_STAMP_SIZE) return 0;
    uint64_t value = 0;
    for (uint32_t i = 0; i + 1u < BENCH_WS_STAMP_SIZE; i++) {
        if (body[i] < '0' || body[i] > '9') return 0;
        value = value * 10u + (uint64_t)(body[i] - '0');
    }
    return value;
}

static bool measured(const struct bench_ws *ws, uint64_t intended_ns) {
    return ws->measure_start_ns != 0 && intended_ns >= ws->measure_start_ns &&
           (ws->measure_end_ns == 0 || intended_ns < ws->measure_end_ns);
}

static bool now_measuring(const struct bench_ws *ws) { return ws->phase == BENCH_WS_MEASURE; }

static void sender_submit(struct bench_ws *ws, uint32_t index, uint64_t intended_ns);
static bool sender_has_room(const struct bench_ws *ws, uint32_t index);

// A set-up request whose outcome is unknown (the group was electing a primary, the connection
// dropped) is sent again later; creates and joins are then allowed to find their own effect.
static bool setup_retryable(uint32_t error) {
    return (error >= 140 && error <= 142) || error == TC_SDK_ERROR_DISCONNECTED;
}

static void setup_retry_later(struct bench_ws *ws, uint32_t conn, uint64_t tag) {
    tc_assert(ws->retry_count < ws->retry_capacity);
    ws->retries[ws->retry_count++] = (struct bench_ws_retry){
        .conn = conn, .tag = tag, .due_ns = bench_ws_now_ns() + BENCH_WS_SETUP_RETRY_NS};
}

static void on_setup_result(struct bench_ws *ws, struct tc_sdk_conn *conn,
                            const struct tc_sdk_result *r) {
    const enum setup_kind kind = (enum setup_kind)((r->tag >> 56) & 0x7f);
    if (setup_retryable(r->error) && ws->setup_retries < BENCH_WS_SETUP_RETRIES_MAX) {
        ws->setup_retries += 1;
        setup_retry_later(ws, conn_index(ws, conn), r->tag);
        return; // still outstanding
    }
    // Rooms are fresh (random ids): an existing room or membership is our own earlier attempt
    // whose answer was lost (the SDK reports it as disconnected or a retry answered it).
    const bool ok = r->error == 0 || (kind == SETUP_CREATE && r->error == 5) ||
                    (kind == SETUP_JOIN && r->error == 9);
    if (!ok) {
        ws->errors[error_slot(r->error)] += 1;
        fprintf(stderr, "tigerchat-bench ws: set-up %s of room %" PRIu64 " failed: %s (%u)\n",
                tc_sdk_op_name(r->op), r->room, tc_sdk_error_name(r->error), r->error);
        if (ws->failure == NULL) ws->failure = "set-up request failed";
    }
    tc_assert(ws->setup_outstanding > 0);
    ws->setup_outstanding -= 1;
}

static void on_result(void *context, struct tc_sdk_conn *conn, const struct tc_sdk_result *r) {
    struct bench_ws *ws = context;
    if ((r->tag & SETUP_TAG) != 0) {
        on_setup_result(ws, conn, r);
        return;
    }
    const uint32_t index = conn_index(ws, conn);
    tc_assert(is_sender(ws, index) && r->op == TC_SDK_OP_SEND);
    const uint64_t now = bench_ws_now_ns();
    if (r->error != 0) {
        ws->send_failures += 1;
        ws->errors[error_slot(r->error)] += 1;
    } else {
        struct bench_ws_room *room = &ws->rooms[r->room - ws->rooms[0].id];
        if (r->seq > room->seq_acked) room->seq_acked = r->seq;
        ws->senders[index].acked += 1;
        ws->acked_total += 1;
        if (r->duplicate) ws->duplicate_acks += 1;
        if (now_measuring(ws)) ws->acked_measured += 1;
        if (measured(ws, r->tag)) {
            bench_histogram_record(&ws->ack_latency, now > r->tag ? now - r->tag : 0, 1);
        }
    }
    if (ws->options.mode == BENCH_WS_MAX && sender_has_room(ws, index) &&
        (ws->phase == BENCH_WS_WARMUP || ws->phase == BENCH_WS_MEASURE)) {
        sender_submit(ws, index, now);
    }
}

static void on_message(void *context, struct tc_sdk_conn *conn, const struct tc_sdk_message *m) {
    struct bench_ws *ws = context;
    const uint32_t index = conn_index(ws, conn);
    if (is_sender(ws, index) || m->source != TC_SDK_SOURCE_SUBSCRIPTION) return;
    struct bench_ws_subscriber *sub = &ws->subscribers[index - ws->options.senders];
    sub->seq_last = m->seq;
    sub->delivered += 1;
    ws->delivered_total += 1;
    if (now_measuring(ws)) ws->delivered_measured += 1;
    const uint64_t stamp = m->body == NULL ? 0 : body_stamp(m->body, m->body_size);
    if (stamp != 0 && measured(ws, stamp)) {
        const uint64_t now = bench_ws_now_ns();
        bench_histogram_record(&ws->deliver_latency, now > stamp ? now - stamp : 0, 1);
    }
}

static void on_event(void *context, struct tc_sdk_conn *conn, const struct tc_sdk_event *e) {
    struct bench_ws *ws = context;
    (void)conn;
    switch (e->kind) {
    case TC_SDK_EVENT_DISCONNECTED:
        if (ws->phase != BENCH_WS_DONE && !e->stopped) ws->disconnects += 1;
        break;
    case TC_SDK_EVENT_HANDSHAKE_REFUSED:
        ws->refusals += 1;
        if (e->stopped) {
            fprintf(stderr, "tigerchat-bench ws: handshake refused for good: HTTP %u (%s)\n",
                    e->http_status, tc_sdk_error_name(e->code));
            if (ws->failure == NULL) ws->failure = "handshake refused";
        }
        break;
    case TC_SDK_EVENT_SERVER_ERROR: ws->errors[error_slot(e->code)] += 1; break;
    case TC_SDK_EVENT_GAP: ws->gaps += 1; break;
    case TC_SDK_EVENT_DUPLICATE: ws->duplicates += 1; break;
    case TC_SDK_EVENT_CHAIN_BREAK: ws->chain_breaks += 1; break;
    case TC_SDK_EVENT_HASH_MISMATCH: ws->hash_mismatches += 1; break;
    case TC_SDK_EVENT_RESUBSCRIBE_FAILED: ws->resubscribe_failures += 1; break;
    default: break;
    }
}

// ------------------------------------------------------------------------------------------------
// Init.

static void senders_assign(struct bench_ws *ws) {
    const struct bench_ws_options *o = &ws->options;
    for (uint32_t i = 0; i < o->senders; i++) {
        struct bench_ws_sender *s = &ws->senders[i];
        if (o->rooms >= o->senders) {
            // Rooms i, i + senders, i + 2 * senders, ...
            s->room_first = i;
            s->room_step = o->senders;
            s->room_count = (o->rooms - i + o->senders - 1u) / o->senders;
        } else {
            s->room_first = i % o->rooms;
            s->room_step = o->rooms;
            s->room_count = 1;
        }
    }
    for (uint32_t r = 0; r < o->rooms; r++) ws->rooms[r].owner = r % o->senders;
}

static int conns_init(struct bench_ws *ws) {
    const struct bench_ws_options *o = &ws->options;
    for (uint32_t i = 0; i < ws->conn_count; i++) {
        const bool sender = is_sender(ws, i);
        struct tc_sdk_options options;
        tc_sdk_options_default(&options);
        options.nodes = o->nodes;
        options.node_count = o->node_count;
        options.node_first = i;
        options.token = ws->tokens + (uint64_t)i * (TC_SDK_TOKEN_SIZE_MAX + 1u);
        char local[32];
        if (o->source_ips > 1) {
            snprintf(local, sizeof(local), "127.0.0.%u", 1u + i % o->source_ips);
            options.local_address = local;
        }
        const uint32_t rooms_per_sender = sender ? ws->senders[i].room_count : 1u;
        options.pending_max = sender ? o->window + rooms_per_sender + 4u : 4u;
        if (options.pending_max > TC_SDK_PENDING_LIMIT) options.pending_max = TC_SDK_PENDING_LIMIT;
        options.body_size_max = sender ? o->message_size : SUBSCRIBER_BODY_SIZE;
        options.message_size_max = 65536;
        options.backoff_min_ms = 50;
        options.backoff_max_ms = 2000;
        options.skip_hash_verify = o->no_verify;
        options.scratch = &ws->scratch;
        options.callbacks = (struct tc_sdk_callbacks){.context = ws, .on_result = on_result,
                                                      .on_message = on_message,
                                                      .on_event = on_event};
        int result = tc_sdk_conn_init(&ws->conns[i], &options);
        if (result == TC_OK) result = tc_sdk_poller_add(&ws->poller, &ws->conns[i]);
        if (result != TC_OK) {
            fprintf(stderr, "tigerchat-bench ws: connection %u: %s\n", i, tc_strerror(result));
            return result;
        }
    }
    return TC_OK;
}

int bench_ws_init(struct bench_ws *ws) {
    const struct bench_ws_options *o = &ws->options;
    ws->conn_count = o->senders + o->rooms * o->subscribers;
    uint64_t random_bits[2];
    tc_assert(getrandom(random_bits, sizeof(random_bits), 0) == (ssize_t)sizeof(random_bits));
    // Fresh users and rooms every run (ids below 2^48, far from small hand-made ids).
    ws->user_base = ((random_bits[0] >> 40) << 20) + (1ull << 40);
    const uint64_t room_base = ((random_bits[1] >> 40) << 20) + (1ull << 40);
    ws->conns = calloc(ws->conn_count, sizeof(ws->conns[0]));
    ws->senders = calloc(o->senders, sizeof(ws->senders[0]));
    ws->subscribers = calloc((uint64_t)o->rooms * o->subscribers + 1u, sizeof(ws->subscribers[0]));
    ws->rooms = calloc(o->rooms, sizeof(ws->rooms[0]));
    ws->tokens = calloc(ws->conn_count, TC_SDK_TOKEN_SIZE_MAX + 1u);
    ws->body = malloc(o->message_size);
    // Every set-up request at most once in the retry list at a time.
    ws->retry_capacity = 3u * o->rooms + 2u * o->rooms * o->subscribers + o->senders + 16u;
    ws->retries = calloc(ws->retry_capacity, sizeof(ws->retries[0]));
    if (ws->retries == NULL || ws->conns == NULL || ws->senders == NULL ||
        ws->subscribers == NULL || ws->rooms == NULL || ws->tokens == NULL || ws->body == NULL) {
        return TC_ENOMEM;
    }
    for (uint32_t r = 0; r < o->rooms; r++) ws->rooms[r].id = room_base + r;
    for (uint32_t s = 0; s < o->rooms * o->subscribers; s++) {
        ws->subscribers[s].room = s / o->subscribers;
    }
    memset(ws->body, 'x', o->message_size);
    senders_assign(ws);
    bench_histogram_reset(&ws->ack_latency);
    bench_histogram_reset(&ws->deliver_latency);
    int result = tokens_make(ws);
    if (result == TC_OK) result = tc_sdk_scratch_init(&ws->scratch, 65536);
    if (result == TC_OK) result = tc_sdk_poller_init(&ws->poller, ws->conn_count);
    if (result == TC_OK) result = conns_init(ws);
    return result;
}

void bench_ws_deinit(struct bench_ws *ws) {
    for (uint32_t i = 0; ws->conns != NULL && i < ws->conn_count; i++) {
        if (ws->conns[i].memory != NULL) tc_sdk_conn_deinit(&ws->conns[i]);
    }
    if (ws->poller.conns != NULL) tc_sdk_poller_deinit(&ws->poller);
    if (ws->scratch.memory != NULL) tc_sdk_scratch_deinit(&ws->scratch);
    free(ws->conns);
    free(ws->senders);
    free(ws->subscribers);
    free(ws->rooms);
    free(ws->tokens);
    free(ws->body);
    free(ws->retries);
}

// ------------------------------------------------------------------------------------------------
// Set-up phases.

static void phase_enter(struct bench_ws *ws, enum bench_ws_phase phase) {
    ws->phase = phase;
    ws->phase_start_ns[phase] = bench_ws_now_ns();
}

static bool all_open(const struct bench_ws *ws) {
    for (uint32_t i = 0; i < ws->conn_count; i++) {
        if (!tc_sdk_conn_open(&ws->conns[i])) return false;
    }
    return true;
}

static void setup_retries_submit(struct bench_ws *ws, uint64_t now) {
    uint32_t kept = 0;
    for (uint32_t i = 0; i < ws->retry_count; i++) {
        const struct bench_ws_retry retry = ws->retries[i];
        if (retry.due_ns > now) {
            ws->retries[kept++] = retry;
            continue;
        }
        const enum setup_kind kind = (enum setup_kind)((retry.tag >> 56) & 0x7f);
        const uint32_t room = (uint32_t)(retry.tag & 0xffffffffu);
        const enum tc_sdk_op op = kind == SETUP_CREATE ? TC_SDK_OP_CREATE_ROOM
                                  : kind == SETUP_JOIN ? TC_SDK_OP_JOIN
                                                       : TC_SDK_OP_SUBSCRIBE;
        const struct tc_sdk_request request = {.op = op, .room = ws->rooms[room].id};
        tc_assert(tc_sdk_submit(&ws->conns[retry.conn], &request, retry.tag) == TC_OK);
    }
    ws->retry_count = kept;
}

static void setup_submit(struct bench_ws *ws, uint32_t conn, const struct tc_sdk_request *r,
                         enum setup_kind kind, uint32_t room) {
    const int result = tc_sdk_submit(&ws->conns[conn], r, setup_tag(kind, room));
    tc_assert(result == TC_OK); // pending tables are sized for the set-up
    ws->setup_outstanding += 1;
}

static void creates_submit(struct bench_ws *ws) {
    for (uint32_t r = 0; r < ws->options.rooms; r++) {
        const struct tc_sdk_request request = {.op = TC_SDK_OP_CREATE_ROOM,
                                               .room = ws->rooms[r].id};
        setup_submit(ws, ws->rooms[r].owner, &request, SETUP_CREATE, r);
    }
}

static void joins_submit(struct bench_ws *ws) {
    const struct bench_ws_options *o = &ws->options;
    for (uint32_t i = 0; i < o->senders; i++) {
        const struct bench_ws_sender *s = &ws->senders[i];
        for (uint32_t k = 0; k < s->room_count; k++) {
            const uint32_t r = s->room_first + k * s->room_step;
            if (ws->rooms[r].owner == i) continue;
            const struct tc_sdk_request request = {.op = TC_SDK_OP_JOIN, .room = ws->rooms[r].id};
            setup_submit(ws, i, &request, SETUP_JOIN, r);
        }
    }
    for (uint32_t s = 0; s < o->rooms * o->subscribers; s++) {
        const uint32_t r = ws->subscribers[s].room;
        const struct tc_sdk_request request = {.op = TC_SDK_OP_JOIN, .room = ws->rooms[r].id};
        setup_submit(ws, o->senders + s, &request, SETUP_JOIN, r);
    }
}

static void subscribes_submit(struct bench_ws *ws) {
    const struct bench_ws_options *o = &ws->options;
    for (uint32_t s = 0; s < o->rooms * o->subscribers; s++) {
        const uint32_t r = ws->subscribers[s].room;
        const struct tc_sdk_request request = {.op = TC_SDK_OP_SUBSCRIBE, .room = ws->rooms[r].id};
        setup_submit(ws, o->senders + s, &request, SETUP_SUBSCRIBE, r);
    }
}

// ------------------------------------------------------------------------------------------------
// The load.

static void sender_submit(struct bench_ws *ws, uint32_t index, uint64_t intended_ns) {
    struct bench_ws_sender *s = &ws->senders[index];
    const uint32_t r = s->room_first + s->room_next * s->room_step;
    s->room_next = (s->room_next + 1u) % s->room_count;
    // The intended send time leads the body: subscribers measure send -> deliver from it.
    char stamp[BENCH_WS_STAMP_SIZE + 1];
    snprintf(stamp, sizeof(stamp), "%020" PRIu64 " ", intended_ns);
    memcpy(ws->body, stamp, BENCH_WS_STAMP_SIZE);
    const int result = tc_sdk_send(&ws->conns[index], ws->rooms[r].id, ws->body,
                                   ws->options.message_size, intended_ns);
    tc_assert(result == TC_OK); // callers check the window first
    s->issued += 1;
}

static bool sender_has_room(const struct bench_ws *ws, uint32_t index) {
    return tc_sdk_conn_pending(&ws->conns[index]) < ws->options.window;
}

static void senders_start(struct bench_ws *ws, uint64_t now) {
    const struct bench_ws_options *o = &ws->options;
    for (uint32_t i = 0; i < o->senders; i++) {
        struct bench_ws_sender *s = &ws->senders[i];
        if (o->mode == BENCH_WS_RATE) {
            s->interval_ns = NS_PER_S * o->senders / o->rate;
            if (s->interval_ns == 0) s->interval_ns = 1;
            s->schedule_start_ns = now + s->interval_ns * i / o->senders; // staggered
        } else {
            while (sender_has_room(ws, i)) sender_submit(ws, i, now);
        }
    }
}

// Open loop: every send whose time has come goes out (if the window allows; else it waits and
// its latency, measured from its scheduled time, includes the wait). Returns the next due time.
static uint64_t senders_schedule(struct bench_ws *ws, uint64_t now) {
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < ws->options.senders; i++) {
        struct bench_ws_sender *s = &ws->senders[i];
        uint64_t due = s->schedule_start_ns + s->issued * s->interval_ns;
        while (due <= now && sender_has_room(ws, i)) {
            sender_submit(ws, i, due);
            due = s->schedule_start_ns + s->issued * s->interval_ns;
        }
        if (due <= now) {
            // Blocked by its window: an answer (a socket event) unblocks it, not a timer.
            const uint64_t behind = (now - due) / s->interval_ns + 1u;
            if (behind > ws->backlog_max) ws->backlog_max = behind;
        } else if (due < next) {
            next = due;
        }
    }
    return next;
}

static bool drained(const struct bench_ws *ws) {
    for (uint32_t i = 0; i < ws->options.senders; i++) {
        if (tc_sdk_conn_pending(&ws->conns[i]) > 0) return false;
    }
    for (uint32_t s = 0; s < ws->options.rooms * ws->options.subscribers; s++) {
        const struct bench_ws_subscriber *sub = &ws->subscribers[s];
        if (sub->seq_last < ws->rooms[sub->room].seq_acked) return false;
    }
    return true;
}

static void missing_count(struct bench_ws *ws) {
    for (uint32_t s = 0; s < ws->options.rooms * ws->options.subscribers; s++) {
        const struct bench_ws_subscriber *sub = &ws->subscribers[s];
        const uint64_t acked = ws->rooms[sub->room].seq_acked;
        if (sub->seq_last < acked) ws->missing += acked - sub->seq_last;
    }
}

// Advances the phase machine; returns false when the run is over.
static bool phase_step(struct bench_ws *ws, uint64_t now) {
    const struct bench_ws_options *o = &ws->options;
    const uint64_t since = now - ws->phase_start_ns[ws->phase];
    const bool setup_phase = ws->phase <= BENCH_WS_SUBSCRIBE;
    if (ws->failure != NULL) return false;
    if (ws->retry_count > 0) setup_retries_submit(ws, now);
    if (setup_phase && since > (uint64_t)o->setup_timeout_s * NS_PER_S) {
        ws->failure = "set-up timed out";
        return false;
    }
    switch (ws->phase) {
    case BENCH_WS_CONNECT:
        if (!all_open(ws)) return true;
        phase_enter(ws, BENCH_WS_CREATE);
        creates_submit(ws);
        return true;
    case BENCH_WS_CREATE:
        if (ws->setup_outstanding > 0) return true;
        phase_enter(ws, BENCH_WS_JOIN);
        joins_submit(ws);
        return true;
    case BENCH_WS_JOIN:
        if (ws->setup_outstanding > 0) return true;
        phase_enter(ws, BENCH_WS_SUBSCRIBE);
        subscribes_submit(ws);
        return true;
    case BENCH_WS_SUBSCRIBE:
        if (ws->setup_outstanding > 0) return true;
        phase_enter(ws, BENCH_WS_WARMUP);
        ws->measure_start_ns = now + (uint64_t)o->warmup_s * NS_PER_S;
        senders_start(ws, now);
        return true;
    case BENCH_WS_WARMUP:
        if (now < ws->measure_start_ns) return true;
        phase_enter(ws, BENCH_WS_MEASURE);
        ws->measure_start_ns = ws->phase_start_ns[BENCH_WS_MEASURE];
        return true;
    case BENCH_WS_MEASURE:
        if (since < (uint64_t)o->duration_s * NS_PER_S) return true;
        ws->measure_end_ns = now;
        phase_enter(ws, BENCH_WS_DRAIN);
        return true;
    case BENCH_WS_DRAIN:
        if (!drained(ws) && since < (uint64_t)o->drain_timeout_s * NS_PER_S) return true;
        phase_enter(ws, BENCH_WS_DONE);
        return false;
    default: return false;
    }
}

void bench_ws_run(struct bench_ws *ws) {
    phase_enter(ws, BENCH_WS_CONNECT);
    for (uint32_t i = 0; i < ws->conn_count; i++) (void)tc_sdk_conn_start(&ws->conns[i]);
    uint64_t next_due = UINT64_MAX;
    for (;;) {
        uint64_t timeout_us = TC_SDK_TICK_MS * 1000u;
        const uint64_t before = bench_ws_now_ns();
        if (next_due != UINT64_MAX) {
            const uint64_t wait_ns = next_due > before ? next_due - before : 0;
            if (wait_ns / 1000u < timeout_us) timeout_us = wait_ns / 1000u;
        }
        if (tc_sdk_poller_poll(&ws->poller, timeout_us) < 0) {
            ws->failure = "epoll failed";
            break;
        }
        const uint64_t now = bench_ws_now_ns();
        if (!phase_step(ws, now)) break;
        const bool loading = ws->phase == BENCH_WS_WARMUP || ws->phase == BENCH_WS_MEASURE;
        next_due = UINT64_MAX;
        if (loading && ws->options.mode == BENCH_WS_RATE) next_due = senders_schedule(ws, now);
    }
    if (ws->phase != BENCH_WS_DONE) phase_enter(ws, BENCH_WS_DONE);
    if (ws->measure_end_ns == 0) ws->measure_end_ns = bench_ws_now_ns();
    missing_count(ws);
    for (uint32_t i = 0; i < ws->conn_count; i++) tc_sdk_conn_close(&ws->conns[i]);
}
