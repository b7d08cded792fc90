// The edge's chat layer (docs/node.md §5, docs/protocol.md §5): connections, rate limits,
// requests, and batching chat ops into one VSR request per group.
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "tc_arena.h"
#include "tc_assert.h"
#include "tc_err.h"

// tc_edge_error_from_room_status (node/edge) knows the room machine's statuses by number.
_Static_assert(TC_ROOM_STATUS_COUNT == 21 && TC_ROOM_NOT_SENDER == 20,
               "edge_proto.c's room status range and its not_sender mapping");
_Static_assert((int)TC_EDGE_ERROR_REDACTIONS_FULL == (int)TC_ROOM_REDACTIONS_FULL &&
                   (int)TC_EDGE_ERROR_MESSAGE_EVICTED == (int)TC_ROOM_MESSAGE_EVICTED,
               "room statuses keep their numbers as protocol codes");

// ------------------------------------------------------------------------------------------------
// Connections and users.

struct node_conn *node_conn_get(struct node *node, uint64_t conn_id) {
    const uint32_t slot = (uint32_t)(conn_id & 0xffffffffu);
    if (conn_id == 0 || slot >= node->conns_max) return NULL;
    struct node_conn *conn = &node->conns[slot];
    return conn->conn_id == conn_id ? conn : NULL;
}

static uint32_t conn_index(struct node *node, const struct node_conn *conn) {
    tc_assert(conn >= node->conns && conn < node->conns + node->conns_max);
    return (uint32_t)(conn - node->conns);
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

// Users with at least one connection (open addressing, linear probing, backward-shift delete).
static uint32_t user_slot(struct node *node, uint64_t user, bool insert) {
    tc_assert(user != 0);
    const uint32_t mask = node->users_capacity - 1;
    for (uint32_t probe = 0, i = (uint32_t)mix64(user) & mask; probe < node->users_capacity;
         probe++, i = (i + 1) & mask) {
        if (node->users[i].user == user) return i;
        if (node->users[i].user == 0) {
            if (!insert) return UINT32_MAX;
            node->users[i] = (struct node_user){.user = user};
            return i;
        }
    }
    tc_assert(false); // capacity is twice the connections: never full
    return UINT32_MAX;
}

// The entry of a connection's user. Looked up each time: a deletion moves entries (backward
// shift), so a slot index kept in the connection would go stale.
static struct node_user *conn_user(struct node *node, const struct node_conn *conn) {
    const uint32_t slot = user_slot(node, conn->claims.user, false);
    tc_assert(slot != UINT32_MAX); // present while any connection of the user is open
    return &node->users[slot];
}

static void user_release(struct node *node, uint32_t index) {
    tc_assert(index < node->users_capacity);
    struct node_user *entry = &node->users[index];
    tc_assert(entry->user != 0 && entry->connections > 0);
    if (--entry->connections > 0) return;
    const uint32_t mask = node->users_capacity - 1;
    uint32_t hole = index;
    node->users[hole].user = 0;
    for (uint32_t i = (hole + 1) & mask; node->users[i].user != 0; i = (i + 1) & mask) {
        const uint32_t home = (uint32_t)mix64(node->users[i].user) & mask;
        // Move entry i into the hole if its home is not in (hole, i] (cyclically).
        const bool stays = (hole <= i) ? (home > hole && home <= i) : (home > hole || home <= i);
        if (stays) continue;
        node->users[hole] = node->users[i];
        node->users[i].user = 0;
        hole = i;
    }
}

// Token buckets (capacity `burst`, refilled continuously at rate_per_s).
static void bucket_refill(struct node_bucket *bucket, uint64_t now_ms, uint32_t rate_per_s,
                          uint32_t burst) {
    if (now_ms > bucket->updated_ms) {
        bucket->tokens += (double)(now_ms - bucket->updated_ms) * rate_per_s / 1000.0;
        if (bucket->tokens > burst) bucket->tokens = burst;
        bucket->updated_ms = now_ms;
    }
}

// The time until the bucket holds one token again.
static uint32_t bucket_wait_ms(const struct node_bucket *bucket, uint32_t rate_per_s) {
    if (bucket->tokens >= 1.0) return 0;
    return (uint32_t)((1.0 - bucket->tokens) * 1000.0 / rate_per_s) + 1;
}

void node_edge_on_open(void *context, uint64_t conn_id, const struct tc_edge_jwt_claims *claims,
                       const char *peer_ip) {
    struct node *node = context;
    (void)peer_ip;
    const uint32_t slot = (uint32_t)(conn_id & 0xffffffffu);
    tc_assert(slot < node->conns_max);
    struct node_conn *conn = &node->conns[slot];
    tc_assert(conn->conn_id == 0);
    conn->conn_id = conn_id;
    conn->claims = *claims;
    conn->bucket = (struct node_bucket){.tokens = node->config.rate_connection_burst,
                                        .updated_ms = node->now_ms};
    struct node_user *user = &node->users[user_slot(node, claims->user, true)];
    if (user->connections++ == 0) {
        user->bucket = (struct node_bucket){.tokens = node->config.rate_user_burst,
                                            .updated_ms = node->now_ms};
        memset(user->typing_room, 0, sizeof(user->typing_room));
        memset(user->typing_ms, 0, sizeof(user->typing_ms));
    }
    conn->requests_used = 0;
    conn->rate_limited_streak = 0;
    conn->subscription_count = 0;
    conn->ryw_next = 0;
    memset(conn->ryw, 0, sizeof(conn->ryw));
    for (uint32_t i = 0; i < node->subs_per_conn; i++) conn->subscriptions[i] = UINT32_MAX;
}

void node_edge_on_close(void *context, uint64_t conn_id) {
    struct node *node = context;
    struct node_conn *conn = node_conn_get(node, conn_id);
    tc_assert(conn != NULL);
    node_subs_conn_closed(node, conn);
    for (uint32_t i = 0; i < node->requests_per_conn; i++) {
        // Batched ops stay in their batch; their answers are dropped by the generation check.
        if (conn->requests[i].state != NODE_REQUEST_FREE) node_request_free(conn, &conn->requests[i]);
    }
    user_release(node, user_slot(node, conn->claims.user, false));
    conn->conn_id = 0;
}

// ------------------------------------------------------------------------------------------------
// Answers.

void node_edge_send(struct node *node, uint64_t conn_id, int32_t size) {
    tc_assert(size > 0 && (uint32_t)size <= NODE_FRAME_SIZE_MAX);
    const int result = tc_ws_server_send_text(&node->ws, conn_id, node->frame, (uint32_t)size);
    if (result == TC_ETOOBIG) {
        // Answers are bounded below the send buffer (node_page_json_max); a bug if reached.
        node_log(node, TC_LOG_ERROR, "answer of %d bytes exceeds the connection's send buffer",
                 size);
        tc_ws_server_close(&node->ws, conn_id, 1011, "internal error");
    } else if (result == TC_ENOSPC) {
        // An answer must not be lost silently: a client that does not read is told to reconnect
        // (its sends are idempotent, its subscriptions resume with `since`).
        tc_ws_server_close(&node->ws, conn_id, 4002, "slow_consumer");
    }
}

void node_edge_error(struct node *node, uint64_t conn_id, const char *id, uint32_t id_size,
                     enum tc_edge_error error, const char *field) {
    const int32_t size = tc_edge_response_error(node->frame, NODE_FRAME_SIZE_MAX, id, id_size,
                                                error, field, 0);
    node_edge_send(node, conn_id, size);
}

void node_request_free(struct node_conn *conn, struct node_request *request) {
    tc_assert(request->state != NODE_REQUEST_FREE);
    tc_assert(conn->requests_used > 0);
    request->state = NODE_REQUEST_FREE;
    request->generation += 1;
    conn->requests_used -= 1;
}

static struct node_request *request_alloc(struct node *node, struct node_conn *conn,
                                          const struct tc_edge_request *parsed,
                                          enum tc_edge_error *error) {
    struct node_request *free_slot = NULL;
    for (uint32_t i = 0; i < node->requests_per_conn; i++) {
        struct node_request *request = &conn->requests[i];
        if (request->state == NODE_REQUEST_FREE) {
            if (free_slot == NULL) free_slot = request;
        } else if (request->id_size == parsed->id_size &&
                   memcmp(request->id, parsed->id, parsed->id_size) == 0) {
            *error = TC_EDGE_ERROR_DUPLICATE_REQUEST_ID;
            return NULL;
        }
    }
    if (free_slot == NULL) {
        *error = TC_EDGE_ERROR_TOO_MANY_IN_FLIGHT;
        return NULL;
    }
    free_slot->state = NODE_REQUEST_BATCHED; // the caller sets the final state
    free_slot->op = (uint8_t)parsed->op;
    free_slot->id_size = (uint8_t)parsed->id_size;
    memcpy(free_slot->id, parsed->id, parsed->id_size);
    free_slot->id[parsed->id_size] = '\0';
    free_slot->room = parsed->room;
    free_slot->seq = parsed->seq;
    free_slot->limit = parsed->limit;
    free_slot->retention_mode = (uint8_t)parsed->retention_mode;
    free_slot->retention_value = parsed->retention_value;
    free_slot->group = 0;
    free_slot->op_wait = 0;
    free_slot->deadline_ms = node->now_ms + NODE_REQUEST_TIMEOUT_MS;
    conn->requests_used += 1;
    return free_slot;
}

// ------------------------------------------------------------------------------------------------
// Read your writes (docs/node.md §6).

static void ryw_note(struct node_conn *conn, uint32_t group, uint64_t op) {
    for (uint32_t i = 0; i < NODE_RYW_GROUPS; i++) {
        if (conn->ryw[i].op != 0 && conn->ryw[i].group == group) {
            if (op > conn->ryw[i].op) conn->ryw[i].op = op;
            return;
        }
    }
    conn->ryw[conn->ryw_next] = (struct node_ryw){.group = group, .op = op};
    conn->ryw_next = (conn->ryw_next + 1) % NODE_RYW_GROUPS;
}

uint64_t node_edge_ryw_op(const struct node_conn *conn, uint32_t group) {
    for (uint32_t i = 0; i < NODE_RYW_GROUPS; i++) {
        if (conn->ryw[i].op != 0 && conn->ryw[i].group == group) return conn->ryw[i].op;
    }
    return 0;
}

bool node_edge_ryw_ready(struct node *node, const struct node_conn *conn, uint32_t group) {
    const struct node_group *g = &node->groups[group];
    if (!g->readable) return false;
    struct tc_replica_status status;
    tc_replica_status_get(g->replica, &status);
    if (status.state == TC_REPLICA_RECOVERING) return false;
    for (uint32_t i = 0; i < NODE_RYW_GROUPS; i++) {
        if (conn->ryw[i].op != 0 && conn->ryw[i].group == group) {
            return status.commit_min >= conn->ryw[i].op;
        }
    }
    return true;
}

// ------------------------------------------------------------------------------------------------
// Batching (docs/node.md §5).

// The protocol's retention modes (edge_proto.h) are not the room machine's wire numbers.
static uint8_t retention_mode_room(enum tc_edge_retention_mode mode) {
    switch (mode) {
    case TC_EDGE_RETENTION_ALL: return TC_ROOM_RETENTION_KEEP_ALL;
    case TC_EDGE_RETENTION_DAYS: return TC_ROOM_RETENTION_KEEP_DAYS;
    case TC_EDGE_RETENTION_MESSAGES: return TC_ROOM_RETENTION_KEEP_MESSAGES;
    }
    tc_assert(false); // the parser yields only these
    return UINT8_MAX;
}

static int batch_add(struct node_batch *batch, const struct tc_edge_request *parsed,
                     uint64_t user) {
    struct tc_room_batch *b = &batch->batch;
    switch (parsed->op) {
    case TC_EDGE_OP_CREATE_ROOM: return tc_room_batch_add_create_room(b, parsed->room, user);
    case TC_EDGE_OP_CREATE_DM:
        return tc_room_batch_add_create_dm(b, parsed->room, user, parsed->peer);
    case TC_EDGE_OP_JOIN: return tc_room_batch_add_join(b, parsed->room, user);
    case TC_EDGE_OP_LEAVE: return tc_room_batch_add_leave(b, parsed->room, user);
    case TC_EDGE_OP_SEND:
        return tc_room_batch_add_send(b, parsed->room, user, parsed->key, parsed->seq,
                                      (const uint8_t *)parsed->body, parsed->body_size);
    case TC_EDGE_OP_SET_RETENTION:
        return tc_room_batch_add_set_retention(b, parsed->room, user,
                                               retention_mode_room(parsed->retention_mode),
                                               parsed->retention_value);
    case TC_EDGE_OP_READ_MARKER:
        return tc_room_batch_add_read_marker(b, parsed->room, user, parsed->seq);
    case TC_EDGE_OP_REDACT: return tc_room_batch_add_redact(b, parsed->room, user, parsed->seq);
    default: tc_assert(false); return TC_EINVAL;
    }
}

// Adds the op to the newest pending batch of the session, opening the next one of the ring when
// that one is full. TC_OK with *batch, TC_ENOSPC when every pending batch is full (server_busy),
// or TC_EINVAL (the op does not encode).
static int session_add(struct node_session *session, const struct tc_edge_request *parsed,
                       uint64_t user, struct node_batch **batch) {
    if (session->pending_count == 0) session->pending_count = 1;
    *batch = &session->pending[(session->pending_head + session->pending_count - 1) %
                               NODE_SESSION_PENDING];
    int result = (*batch)->count == TC_ROOM_BATCH_OPS_MAX ? TC_ENOSPC
                                                           : batch_add(*batch, parsed, user);
    if (result != TC_OK && (*batch)->count == 0) {
        session->pending_count -= 1; // the op did not encode: leave no empty batch behind
        return result;
    }
    if (result != TC_ENOSPC || session->pending_count == NODE_SESSION_PENDING) return result;
    tc_assert((*batch)->count > 0); // an empty batch takes any single op
    session->pending_count += 1;
    *batch = &session->pending[(session->pending_head + session->pending_count - 1) %
                               NODE_SESSION_PENDING];
    tc_assert((*batch)->count == 0);
    result = batch_add(*batch, parsed, user);
    if (result != TC_OK) session->pending_count -= 1; // nothing in it: close it again
    return result;
}

static void edge_chat_op(struct node *node, struct node_conn *conn,
                         const struct tc_edge_request *parsed) {
    enum tc_edge_error error = TC_EDGE_ERROR_NONE;
    struct node_group *group = node_room_group(node, parsed->room);
    if (group == NULL) {
        node_edge_error(node, conn->conn_id, parsed->id, parsed->id_size, TC_EDGE_ERROR_NO_ROUTE,
                        NULL);
        return;
    }
    // One session per room: a room's ops are never in two requests in flight at once, so they
    // commit in the order the edge received them.
    struct node_session *session =
        &group->sessions[mix64(parsed->room ^ 0x5bd1e995u) % NODE_SESSIONS_PER_GROUP];
    struct node_request *request = request_alloc(node, conn, parsed, &error);
    if (request == NULL) {
        node_edge_error(node, conn->conn_id, parsed->id, parsed->id_size, error, NULL);
        return;
    }
    struct node_batch *batch = NULL;
    const int result = session_add(session, parsed, conn->claims.user, &batch);
    if (result != TC_OK) {
        node_request_free(conn, request);
        node_edge_error(node, conn->conn_id, parsed->id, parsed->id_size,
                        result == TC_ENOSPC ? TC_EDGE_ERROR_SERVER_BUSY
                                            : TC_EDGE_ERROR_INVALID_FIELD, NULL);
        return;
    }
    request->group = group->index;
    if (batch->count == 0) batch->first_op_ms = node->now_ms;
    batch->origin_conn[batch->count] = conn_index(node, conn);
    batch->origin_request[batch->count] = (uint16_t)(request - conn->requests);
    batch->origin_generation[batch->count] = request->generation;
    batch->count += 1;
    tc_assert(batch->count == batch->batch.op_count);
}

// Opens a server message in node->frame: {"type":type[,"id":id][,"room":room] — the prologue
// every result and event shares; the caller adds its members and finishes the writer.
void node_json_begin(struct node *node, struct tc_edge_json_writer *writer, const char *type,
                     const char *id, uint32_t id_size, uint64_t room) {
    tc_edge_json_writer_init(writer, node->frame, NODE_FRAME_SIZE_MAX);
    tc_edge_json_object_begin(writer);
    tc_edge_json_key(writer, "type");
    tc_edge_json_cstring(writer, type);
    if (id != NULL) {
        tc_edge_json_key(writer, "id");
        tc_edge_json_string(writer, id, id_size);
    }
    if (room != 0) {
        tc_edge_json_key(writer, "room");
        tc_edge_json_u64_string(writer, room);
    }
}

// read_marker's result {"type":"result","id":..,"room":..,"seq":..} (the marker after the op) and
// the event {"type":"read_marker","room":..,"user":..,"seq":..} (docs/protocol.md §5.10, §6).
int32_t write_read_marker(struct node *node, const char *id, uint32_t id_size, uint64_t room,
                          uint64_t user, uint64_t seq, const char *type) {
    struct tc_edge_json_writer writer;
    node_json_begin(node, &writer, type, id, id_size, room);
    if (user != 0) {
        tc_edge_json_key(&writer, "user");
        tc_edge_json_u64_string(&writer, user);
    }
    tc_edge_json_key(&writer, "seq");
    tc_edge_json_u64_string(&writer, seq);
    tc_edge_json_object_end(&writer);
    return tc_edge_json_writer_finish(&writer);
}

// set_retention's result echoes the policy (docs/protocol.md §5.9): {room, mode, value}.
static int32_t write_retention(struct node *node, const struct node_request *request) {
    static const char *const modes[] = {"", "all", "days", "messages"};
    tc_assert(request->retention_mode >= TC_EDGE_RETENTION_ALL &&
              request->retention_mode <= TC_EDGE_RETENTION_MESSAGES);
    struct tc_edge_json_writer writer;
    node_json_begin(node, &writer, "result", request->id, request->id_size, request->room);
    tc_edge_json_key(&writer, "mode");
    tc_edge_json_cstring(&writer, modes[request->retention_mode]);
    tc_edge_json_key(&writer, "value");
    tc_edge_json_u64(&writer, request->retention_value);
    tc_edge_json_object_end(&writer);
    return tc_edge_json_writer_finish(&writer);
}

static int32_t write_result(struct node *node, const struct node_request *request,
                            const struct tc_room_result *result) {
    char *out = node->frame;
    const uint32_t size = NODE_FRAME_SIZE_MAX;
    if (result->status != TC_ROOM_OK) {
        // A redact of another user's message is forbidden_room, naming the seq (the token's own
        // refusal names the room: docs/protocol.md §5.12).
        const char *field = result->status == TC_ROOM_NOT_SENDER ? "seq" : NULL;
        return tc_edge_response_error(out, size, request->id, request->id_size,
                                      tc_edge_error_from_room_status(result->status), field, 0);
    }
    if (request->op == TC_EDGE_OP_SEND) {
        return tc_edge_response_send(out, size, request->id, request->id_size, request->room,
                                     result->seq, result->thread_seq, result->hash.bytes,
                                     result->duplicate);
    }
    if (request->op == TC_EDGE_OP_SET_RETENTION) return write_retention(node, request);
    if (request->op == TC_EDGE_OP_READ_MARKER) {
        return write_read_marker(node, request->id, request->id_size, request->room, 0,
                                 result->seq, "result");
    }
    if (request->op == TC_EDGE_OP_REDACT) {
        // Its subscribers hear of it from the replica's message hook, in commit order
        // (node_subs.c), not from here.
        return tc_edge_response_redact(out, size, request->id, request->id_size, request->room,
                                       result->seq, result->duplicate);
    }
    return tc_edge_response_chain_head(out, size, request->id, request->id_size, request->room,
                                       result->seq, result->hash.bytes);
}

static void batch_reset(struct node_batch *batch) {
    tc_room_batch_init(&batch->batch, batch->body, TC_MESSAGE_BODY_SIZE_MAX);
    batch->count = 0;
    batch->expired = false;
}

static void batch_answer(struct node *node, struct node_group *group, struct node_batch *batch,
                         const struct tc_header *reply, const uint8_t *body, uint32_t body_size) {
    const int count = reply == NULL ? 0 : tc_room_reply_count(body, body_size);
    tc_assert(reply == NULL || count == (int)batch->count); // one result per op, always
    for (uint32_t i = 0; i < batch->count; i++) {
        struct node_conn *conn = &node->conns[batch->origin_conn[i]];
        if (conn->conn_id == 0) continue;
        struct node_request *request = &conn->requests[batch->origin_request[i]];
        if (request->generation != batch->origin_generation[i]) continue; // closed, reused
        tc_assert(request->state == NODE_REQUEST_BATCHED);
        int32_t size;
        bool left = false;
        uint64_t marker = 0; // read_marker committed: its subscribers hear of it
        if (reply == NULL) {
            size = tc_edge_response_error(node->frame, NODE_FRAME_SIZE_MAX, request->id,
                                          request->id_size, TC_EDGE_ERROR_SERVER_BUSY, NULL, 0);
        } else {
            struct tc_room_result result;
            tc_assert(tc_room_reply_get(body, body_size, i, &result) == TC_OK);
            ryw_note(conn, group->index, reply->op);
            size = write_result(node, request, &result);
            if (result.status == TC_ROOM_OK) node->stats.ops_committed += 1;
            left = result.status == TC_ROOM_OK && request->op == TC_EDGE_OP_LEAVE;
            if (result.status == TC_ROOM_OK && request->op == TC_EDGE_OP_READ_MARKER) {
                marker = result.seq;
            }
        }
        const uint64_t conn_id = conn->conn_id;
        const uint64_t room = request->room;
        const uint64_t user = conn->claims.user;
        node_request_free(conn, request);
        node_edge_send(node, conn_id, size);
        // Leaving ends the connection's subscription to the room (docs/protocol.md §5.4).
        if (left) node_subs_user_left(node, room, user, conn_id, true);
        if (marker != 0) node_subs_read_marker(node, room, user, marker, true);
    }
    batch_reset(batch);
}

static void session_on_reply(void *context, struct tc_client *client,
                             const struct tc_header *reply, const uint8_t *body,
                             uint32_t body_size) {
    struct node_session *session = context;
    struct node_group *group = session->group;
    struct node *node = group->node;
    tc_assert(client == session->client && session->busy);
    session->busy = false;
    if (reply != NULL) { // commit latency (an eviction is no commit)
        tc_assert(group->index < NODE_LATENCY_GROUPS_MAX);
        tc_assert(session->index < NODE_SESSIONS_PER_GROUP);
        const uint64_t sent_ns = node->stats.latency.batch_sent_ns[group->index][session->index];
        tc_histogram_observe(&node->stats.latency.batch_commit,
                             tc_io_linux_monotonic_ns() - sent_ns);
    }
    node->stats.batches_answered += 1;
    batch_answer(node, group, &session->batch, reply, body, body_size);
    if (reply == NULL) {
        node->stats.sessions_evicted += 1;
        node_log(node, TC_LOG_WARN, "group=%u edge session %u evicted; registering a new one",
                 group->id, session->index);
        tc_assert(node_session_renew(node, session) == TC_OK);
    }
}

static void session_on_registered(void *context, struct tc_client *client,
                                  const struct tc_header *reply, const uint8_t *body,
                                  uint32_t body_size) {
    struct node_session *session = context;
    struct node_group *group = session->group;
    (void)client, (void)body, (void)body_size;
    if (reply == NULL) {
        tc_assert(node_session_renew(group->node, session) == TC_OK);
        return;
    }
    session->registered = true;
    node_log(group->node, TC_LOG_INFO, "group=%u edge session %u registered client=%llx",
             group->id, session->index, (unsigned long long)session->client_id);
}

// Each idle session sends its oldest pending batch as one VSR request: the batch buffers swap,
// so the (empty) in-flight batch takes that ring slot.
static void group_flush(struct node *node, struct node_group *group) {
    for (uint32_t s = 0; s < NODE_SESSIONS_PER_GROUP; s++) {
        struct node_session *session = &group->sessions[s];
        const enum tc_client_state state = tc_client_state_get(session->client);
        if (state == TC_CLIENT_IDLE) {
            tc_client_register(session->client, session_on_registered, session);
            continue;
        }
        if (state != TC_CLIENT_READY || session->busy || session->pending_count == 0) continue;
        struct node_batch *oldest = &session->pending[session->pending_head];
        if (oldest->count == 0) continue; // only the newest can be empty, and then it is alone
        tc_assert(session->batch.count == 0);
        const struct node_batch empty = session->batch;
        session->batch = *oldest;
        *oldest = empty;
        session->pending_head = (session->pending_head + 1) % NODE_SESSION_PENDING;
        session->pending_count -= 1;
        session->busy = true;
        session->sent_ms = node->now_ms;
        tc_assert(group->index < NODE_LATENCY_GROUPS_MAX);
        node->stats.latency.batch_sent_ns[group->index][s] = tc_io_linux_monotonic_ns();
        node->stats.batches_sent += 1;
        tc_client_request(session->client, session->batch.body, session->batch.batch.size,
                          session_on_reply, session);
    }
}

void node_edge_flush(struct node *node) {
    for (uint32_t i = 0; i < node->group_count; i++) group_flush(node, &node->groups[i]);
}

// ------------------------------------------------------------------------------------------------
// Requests.

static bool room_allowed(const struct node_conn *conn, uint64_t room) {
    return tc_edge_jwt_claims_allow_room(&conn->claims, room);
}

static void edge_auth(struct node *node, struct node_conn *conn,
                      const struct tc_edge_request *parsed) {
    struct tc_edge_jwt_claims claims;
    const enum tc_edge_jwt_status status =
        tc_edge_jwt_verify(&node->config.jwt, parsed->token, parsed->token_size,
                           tc_io_linux_realtime_ns() / 1000000000u, &node->jwt_scratch, &claims);
    enum tc_edge_error error = TC_EDGE_ERROR_NONE;
    if (status != TC_EDGE_JWT_OK) {
        error = (enum tc_edge_error)tc_edge_jwt_status_code(status);
    } else if (claims.user != conn->claims.user) {
        error = TC_EDGE_ERROR_USER_MISMATCH;
    }
    if (error != TC_EDGE_ERROR_NONE) {
        node_edge_error(node, conn->conn_id, parsed->id, parsed->id_size, error, NULL);
        return;
    }
    conn->claims = claims;
    tc_ws_server_set_expiry(&node->ws, conn->conn_id, claims.exp_s);
    struct tc_edge_json_writer writer;
    node_json_begin(node, &writer, "result", parsed->id, parsed->id_size, 0);
    tc_edge_json_key(&writer, "exp");
    tc_edge_json_u64(&writer, claims.exp_s);
    tc_edge_json_object_end(&writer);
    node_edge_send(node, conn->conn_id, tc_edge_json_writer_finish(&writer));
    node_subs_conn_claims_changed(node, conn);
}

// At most one typing event per user and room per NODE_TYPING_INTERVAL_MS (docs/protocol.md
// §5.11): true when this one may go out (and it is recorded).
static bool typing_allowed(struct node *node, struct node_user *user, uint64_t room) {
    uint32_t oldest = 0;
    for (uint32_t i = 0; i < NODE_TYPING_ROOMS; i++) {
        if (user->typing_room[i] == room) {
            if (node->now_ms - user->typing_ms[i] < NODE_TYPING_INTERVAL_MS) return false;
            user->typing_ms[i] = node->now_ms;
            return true;
        }
        if (user->typing_ms[i] < user->typing_ms[oldest]) oldest = i;
    }
    user->typing_room[oldest] = room;
    user->typing_ms[oldest] = node->now_ms;
    return true;
}

static void edge_typing(struct node *node, struct node_conn *conn,
                        const struct tc_edge_request *parsed) {
    // Membership from the node's replica of the room's group (the edge's cached view).
    const struct node_group *group = node_room_group(node, parsed->room);
    if (group == NULL) {
        node_edge_error(node, conn->conn_id, parsed->id, parsed->id_size, TC_EDGE_ERROR_NO_ROUTE,
                        NULL);
        return;
    }
    if (group->readable &&
        !tc_room_is_member(tc_replica_room(group->replica), parsed->room, conn->claims.user)) {
        node_edge_error(node, conn->conn_id, parsed->id, parsed->id_size,
                        TC_EDGE_ERROR_NOT_MEMBER, NULL);
        return;
    }
    if (typing_allowed(node, conn_user(node, conn), parsed->room)) {
        node_subs_typing(node, parsed->room, conn->claims.user);
        node_bus_typing(node, parsed->room, conn->claims.user);
    }
    node_edge_send(node, conn->conn_id,
                   tc_edge_response_ok(node->frame, NODE_FRAME_SIZE_MAX, parsed->id,
                                       parsed->id_size, parsed->room));
}

static void edge_read(struct node *node, struct node_conn *conn,
                      const struct tc_edge_request *parsed) {
    enum tc_edge_error error = TC_EDGE_ERROR_NONE;
    struct node_group *group = node_room_group(node, parsed->room);
    if (group == NULL) error = TC_EDGE_ERROR_NO_ROUTE;
    struct node_request *request = NULL;
    if (error == TC_EDGE_ERROR_NONE) request = request_alloc(node, conn, parsed, &error);
    if (request == NULL) {
        node_edge_error(node, conn->conn_id, parsed->id, parsed->id_size, error, NULL);
        return;
    }
    request->group = group->index;
    if (parsed->op == TC_EDGE_OP_HISTORY) {
        node_subs_history(node, conn, request);
    } else {
        node_subs_subscribe(node, conn, request);
    }
}

static bool edge_rate_allowed(struct node *node, struct node_conn *conn, const char *id,
                              uint32_t id_size) {
    const struct tc_node_config *config = &node->config;
    struct node_user *user = conn_user(node, conn);
    bucket_refill(&conn->bucket, node->now_ms, config->rate_connection_per_s,
                  config->rate_connection_burst);
    bucket_refill(&user->bucket, node->now_ms, config->rate_user_per_s, config->rate_user_burst);
    // A request takes a token from both buckets or from neither.
    const uint32_t retry_after_ms =
        tc_max_u32(bucket_wait_ms(&conn->bucket, config->rate_connection_per_s),
                   bucket_wait_ms(&user->bucket, config->rate_user_per_s));
    if (retry_after_ms == 0) {
        conn->bucket.tokens -= 1.0;
        user->bucket.tokens -= 1.0;
        conn->rate_limited_streak = 0;
        return true;
    }
    node->stats.rate_limited += 1;
    const int32_t size = tc_edge_response_error(node->frame, NODE_FRAME_SIZE_MAX, id, id_size,
                                                TC_EDGE_ERROR_RATE_LIMITED, NULL, retry_after_ms);
    node_edge_send(node, conn->conn_id, size);
    if (++conn->rate_limited_streak >= 100) {
        tc_ws_server_close(&node->ws, conn->conn_id, 4003, "rate_limited");
    }
    return false;
}

static bool room_op(enum tc_edge_op op) {
    return op != TC_EDGE_OP_PING && op != TC_EDGE_OP_AUTH;
}

void node_edge_on_text(void *context, uint64_t conn_id, const uint8_t *data, uint32_t size) {
    struct node *node = context;
    struct node_conn *conn = node_conn_get(node, conn_id);
    tc_assert(conn != NULL);
    node->stats.requests += 1;
    struct tc_edge_request parsed;
    const char *field = NULL;
    const enum tc_edge_error error = tc_edge_request_parse(&node->json_scratch, (const char *)data,
                                                           size, &parsed, &field);
    if (!edge_rate_allowed(node, conn, parsed.id, parsed.id_size)) return;
    if (error != TC_EDGE_ERROR_NONE) {
        node->stats.requests_rejected += 1;
        node_edge_error(node, conn_id, parsed.id, parsed.id_size, error, field);
        return;
    }
    if (room_op(parsed.op) && !room_allowed(conn, parsed.room)) {
        node_edge_error(node, conn_id, parsed.id, parsed.id_size, TC_EDGE_ERROR_FORBIDDEN_ROOM,
                        "room");
        return;
    }
    switch (parsed.op) {
    case TC_EDGE_OP_CREATE_ROOM:
    case TC_EDGE_OP_CREATE_DM:
    case TC_EDGE_OP_JOIN:
    case TC_EDGE_OP_LEAVE:
    case TC_EDGE_OP_SEND:
    case TC_EDGE_OP_SET_RETENTION:
    case TC_EDGE_OP_READ_MARKER:
    case TC_EDGE_OP_REDACT: edge_chat_op(node, conn, &parsed); break;
    case TC_EDGE_OP_SUBSCRIBE:
    case TC_EDGE_OP_HISTORY: edge_read(node, conn, &parsed); break;
    case TC_EDGE_OP_UNSUBSCRIBE:
        node_subs_unsubscribe(node, conn, parsed.id, parsed.id_size, parsed.room);
        break;
    case TC_EDGE_OP_TYPING: edge_typing(node, conn, &parsed); break;
    case TC_EDGE_OP_PING:
        node_edge_send(node, conn_id, tc_edge_response_ok(node->frame, NODE_FRAME_SIZE_MAX,
                                                          parsed.id, parsed.id_size, 0));
        break;
    case TC_EDGE_OP_AUTH: edge_auth(node, conn, &parsed); break;
    default: tc_assert(false);
    }
}

// ------------------------------------------------------------------------------------------------
// Set-up.

static int batch_alloc(struct node_batch *batch) {
    batch->body = aligned_alloc(16, TC_MESSAGE_BODY_SIZE_MAX);
    batch->origin_conn = calloc(TC_ROOM_BATCH_OPS_MAX, sizeof(batch->origin_conn[0]));
    batch->origin_request = calloc(TC_ROOM_BATCH_OPS_MAX, sizeof(batch->origin_request[0]));
    batch->origin_generation = calloc(TC_ROOM_BATCH_OPS_MAX, sizeof(batch->origin_generation[0]));
    if (batch->body == NULL || batch->origin_conn == NULL || batch->origin_request == NULL ||
        batch->origin_generation == NULL) {
        return TC_ENOMEM;
    }
    batch_reset(batch);
    return TC_OK;
}

int node_edge_init(struct node *node) {
    const struct tc_node_config *config = &node->config;
    tc_histogram_init(&node->stats.latency.batch_commit, &tc_histogram_layout_commit);
    node->conns_max = config->connections_max;
    node->requests_per_conn = config->requests_in_flight_per_connection_max;
    node->subs_per_conn = config->subscriptions_per_connection_max;
    node->conns = calloc(node->conns_max, sizeof(node->conns[0]));
    node->requests_pool = calloc((uint64_t)node->conns_max * node->requests_per_conn,
                                 sizeof(node->requests_pool[0]));
    node->conn_subscriptions_pool = calloc((uint64_t)node->conns_max * node->subs_per_conn,
                                           sizeof(uint32_t));
    node->users_capacity = 1;
    while (node->users_capacity < 2 * node->conns_max) node->users_capacity *= 2;
    node->users = calloc(node->users_capacity, sizeof(node->users[0]));
    node->frame = malloc(NODE_FRAME_SIZE_MAX);
    const uint32_t scratch_size =
        (uint32_t)tc_align_up(TC_EDGE_JSON_SCRATCH_SIZE(config->message_size_bytes_max), 16);
    node->json_scratch_memory = aligned_alloc(16, scratch_size);
    const uint32_t jwt_scratch_size = (uint32_t)tc_align_up(TC_EDGE_JWT_SCRATCH_SIZE, 16);
    node->jwt_scratch_memory = aligned_alloc(16, jwt_scratch_size);
    if (node->conns == NULL || node->requests_pool == NULL ||
        node->conn_subscriptions_pool == NULL || node->users == NULL || node->frame == NULL ||
        node->json_scratch_memory == NULL || node->jwt_scratch_memory == NULL) {
        return TC_ENOMEM;
    }
    tc_edge_json_scratch_init(&node->json_scratch, node->json_scratch_memory,
                              scratch_size);
    tc_edge_json_scratch_init(&node->jwt_scratch, node->jwt_scratch_memory,
                              jwt_scratch_size);
    for (uint32_t i = 0; i < node->conns_max; i++) {
        node->conns[i].requests = &node->requests_pool[(uint64_t)i * node->requests_per_conn];
        node->conns[i].subscriptions =
            &node->conn_subscriptions_pool[(uint64_t)i * node->subs_per_conn];
    }
    for (uint32_t g = 0; g < node->group_count; g++) {
        const int result = node_edge_group_init(&node->groups[g]);
        if (result != TC_OK) return result;
    }
    return TC_OK;
}

int node_edge_group_init(struct node_group *group) {
    int result = TC_OK;
    for (uint32_t s = 0; s < NODE_SESSIONS_PER_GROUP && result == TC_OK; s++) {
        tc_assert(group->sessions[s].batch.body == NULL);
        result = batch_alloc(&group->sessions[s].batch);
        for (uint32_t b = 0; b < NODE_SESSION_PENDING && result == TC_OK; b++) {
            result = batch_alloc(&group->sessions[s].pending[b]);
        }
    }
    return result;
}

void node_edge_group_deinit(struct node_group *group) {
    for (uint32_t b = 0; b < (1 + NODE_SESSION_PENDING) * NODE_SESSIONS_PER_GROUP; b++) {
        struct node_session *session = &group->sessions[b / (1 + NODE_SESSION_PENDING)];
        const uint32_t k = b % (1 + NODE_SESSION_PENDING);
        struct node_batch *batch = k == 0 ? &session->batch : &session->pending[k - 1];
        free(batch->body);
        free(batch->origin_conn);
        free(batch->origin_request);
        free(batch->origin_generation);
        batch->body = NULL;
        batch->origin_conn = NULL;
        batch->origin_request = NULL;
        batch->origin_generation = NULL;
    }
}

void node_edge_deinit(struct node *node) {
    for (uint32_t g = 0; g < node->group_count && node->groups != NULL; g++) {
        node_edge_group_deinit(&node->groups[g]);
    }
    free(node->conns);
    free(node->requests_pool);
    free(node->conn_subscriptions_pool);
    free(node->users);
    free(node->frame);
    free(node->json_scratch_memory);
    free(node->jwt_scratch_memory);
}

// Answers `timeout` to the ops of a batch whose group did not answer in time. A batch that was
// never sent is discarded (nothing of it can commit); an in-flight batch stays in flight (the VSR
// client keeps retrying it) but its ops are answered now: the outcome of a send is then unknown
// and the client retries with the same key, which commits at most once (docs/protocol.md §5.5).
static void batch_expire(struct node *node, struct node_group *group, struct node_batch *batch,
                         bool discard) {
    for (uint32_t i = 0; i < batch->count; i++) {
        struct node_conn *conn = &node->conns[batch->origin_conn[i]];
        if (conn->conn_id == 0) continue;
        struct node_request *request = &conn->requests[batch->origin_request[i]];
        if (request->generation != batch->origin_generation[i]) continue;
        const uint64_t conn_id = conn->conn_id;
        const int32_t size = tc_edge_response_error(node->frame, NODE_FRAME_SIZE_MAX, request->id,
                                                    request->id_size, TC_EDGE_ERROR_TIMEOUT,
                                                    NULL, 0);
        node_request_free(conn, request); // a late reply finds another generation: dropped
        node_edge_send(node, conn_id, size);
    }
    if (node_log_allowed(node, &node->log_limit_edge)) {
        node_log_module(node, TC_LOG_WARN, "edge", group->id, "%u ops timed out (%s)",
                        batch->count, discard ? "never sent: discarded" : "in flight: still retried");
    }
    if (discard) batch_reset(batch);
}

void node_edge_tick(struct node *node) {
    for (uint32_t i = 0; i < node->group_count; i++) {
        struct node_group *group = &node->groups[i];
        for (uint32_t s = 0; s < NODE_SESSIONS_PER_GROUP; s++) {
            struct node_session *session = &group->sessions[s];
            // The oldest pending batch waits longest; expiring it (never sent: discarded) lets
            // the next ones move up. At most one per tick per session: bounded work.
            struct node_batch *oldest = &session->pending[session->pending_head];
            if (session->pending_count > 0 && oldest->count > 0 &&
                node->now_ms - oldest->first_op_ms >= NODE_REQUEST_TIMEOUT_MS) {
                batch_expire(node, group, oldest, true);
                session->pending_head = (session->pending_head + 1) % NODE_SESSION_PENDING;
                session->pending_count -= 1;
            }
            struct node_batch *flight = &session->batch;
            if (session->busy && !flight->expired &&
                node->now_ms - session->sent_ms >= NODE_REQUEST_TIMEOUT_MS) {
                batch_expire(node, group, flight, false);
                flight->expired = true;
            }
        }
    }
}
