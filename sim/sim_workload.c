#include <stdlib.h>
#include <string.h>

#include "sim_cluster.h"
#include "tc_assert.h"
#include "tc_err.h"

// Simulated app clients. Each app has one VSR session (tc_client) per group and builds chat batches
// with the room module's batch builder: create rooms and DMs, join, leave, set retention, move read
// markers, redact messages, send with fresh random idempotency keys, and sometimes re-send an
// earlier send with the SAME key (as an edge does after a failover, possibly from a new session
// after an eviction).

#define SIM_THINK_TICKS_MAX 20u
#define SIM_ROOM_ID_MAX (1ull << 40)

static struct sim_session *io_session(struct tc_io *io) { return io->context; }

static void session_send_to_replica(struct tc_io *io, uint8_t replica, uint32_t epoch,
                                    const uint8_t *message) {
    struct sim_session *session = io_session(io);
    tc_assert(replica < session->group->replica_count);
    tc_assert(epoch == TC_EPOCH_CURRENT); // clients know no epochs
    struct tc_header header;
    memcpy(&header, message, sizeof(header));
    sim_network_send(&session->cluster->network, session->endpoint,
                     sim_endpoint_replica(session->group->index, replica), epoch, message,
                     header.size);
}

static void session_send_to_client(struct tc_io *io, uint64_t client, const uint8_t *message) {
    (void)io;
    (void)client;
    (void)message;
    tc_unreachable();
}

static uint64_t session_realtime_ns(struct tc_io *io) {
    (void)io;
    tc_unreachable(); // a client never reads the clock
    return 0;
}

static void session_log(struct tc_io *io, enum tc_log_level level, const char *line) {
    (void)io;
    (void)level;
    (void)line;
}

static const struct tc_io_vtable session_vtable = {
    .send_to_replica = session_send_to_replica,
    .send_to_client = session_send_to_client,
    .storage_read = NULL,
    .storage_write = NULL,
    .storage_sync = NULL,
    .realtime_ns = session_realtime_ns,
    .log = session_log,
};

struct sim_session *sim_session_by_client(struct sim_group *group, uint64_t client_id) {
    struct sim_cluster *cluster = group->replicas[0].cluster;
    for (uint32_t a = 0; a < cluster->app_count; a++) {
        struct sim_session *session = &cluster->apps[a].sessions[group->index];
        if (session->client_id == client_id) return session;
    }
    return NULL;
}

// A fresh session: a new client id (never reused) and a new tc_client in the same memory.
static void session_open(struct sim_session *session) {
    struct sim_cluster *cluster = session->cluster;
    session->client_id = tc_prng_next(&cluster->prng) | 1u;
    struct tc_client_options options = {
        .cluster = cluster->cluster_id,
        .group = session->group->index,
        .replica_count = session->group->replica_count,
        .client_id = session->client_id,
        .request_timeout_ticks = 0,
        .seed = tc_prng_next(&cluster->prng),
        .io = &session->io,
    };
    tc_arena_init(&session->arena, session->memory, session->memory_size);
    int result = tc_client_init(&session->client, &options, &session->arena);
    tc_assert(result == TC_OK);
}

int sim_workload_init(struct sim_cluster *cluster) {
    for (uint32_t a = 0; a < cluster->app_count; a++) {
        struct sim_app *app = &cluster->apps[a];
        memset(app, 0, sizeof(*app));
        app->index = a;
        app->user = tc_prng_next(&cluster->prng) | 1u;
        for (uint32_t g = 0; g < cluster->group_count; g++) {
            struct sim_session *session = &app->sessions[g];
            session->cluster = cluster;
            session->app = app;
            session->group = &cluster->groups[g];
            session->endpoint = sim_endpoint_session(g, a);
            session->io.vtable = &session_vtable;
            session->io.context = session;
            session->io.log_level = TC_LOG_ERROR;
            session->memory_size = tc_client_memory_size();
            session->memory = malloc(session->memory_size);
            if (session->memory == NULL) return TC_ENOMEM;
            session_open(session);
            session->next_request_tick = tc_prng_range(&cluster->prng, 1, 50);
        }
    }
    return TC_OK;
}

void sim_workload_deinit(struct sim_cluster *cluster) {
    for (uint32_t a = 0; a < cluster->app_count; a++) {
        for (uint32_t g = 0; g < cluster->group_count; g++) {
            free(cluster->apps[a].sessions[g].memory);
            cluster->apps[a].sessions[g].memory = NULL;
        }
    }
}

static void on_register(void *context, struct tc_client *client, const struct tc_header *reply,
                        const uint8_t *body, uint32_t body_size) {
    struct sim_session *session = context;
    tc_assert(session->client == client);
    if (reply == NULL) return; // evicted while registering: sim_workload_tick opens a new session
    sim_checker_client_reply(session->cluster, session, reply, body, body_size);
}

// Checks what a reply says about the sends of the batch: a fresh key is never a duplicate; a
// re-sent key whose original was acked returns the original (seq, hash).
static void sends_check(struct sim_session *session, const uint8_t *body, uint32_t body_size) {
    struct sim_cluster *cluster = session->cluster;
    bool keys_remembered =
        session->group->keys_sent <= session->group->options.room.idempotency_keys_max;
    for (uint32_t i = 0; i < session->batch_ops; i++) {
        if (session->batch_send[i] < 0) continue;
        struct sim_send *send = &session->sends[session->batch_send[i]];
        struct tc_room_result result;
        if (tc_room_reply_get(body, body_size, i, &result) != TC_OK) {
            sim_fail(cluster, "client_reply_decodes", "group %u op %u", session->group->index, i);
            return;
        }
        if (result.status == TC_ROOM_STORE_FULL) cluster->coverage.faults[SIM_FAULT_STORE_FULL] += 1;
        if (result.status != TC_ROOM_OK) continue;
        if (!session->batch_retry[i] && result.duplicate) {
            sim_fail(cluster, "idempotency_fresh_key", "group %u: a fresh key was a duplicate",
                     session->group->index);
            return;
        }
        if (session->batch_retry[i] && send->acked && keys_remembered) {
            send->retry_checked = true;
            if (!result.duplicate || result.seq != send->seq ||
                !tc_hash256_equal(&result.hash, &send->hash)) {
                sim_fail(cluster, "idempotency_retry",
                         "group %u room %llu: retry returned seq %llu dup %d, original seq %llu",
                         session->group->index, (unsigned long long)send->room,
                         (unsigned long long)result.seq, result.duplicate,
                         (unsigned long long)send->seq);
                return;
            }
        }
        if (!send->acked) {
            send->acked = true;
            send->seq = result.seq;
            send->hash = result.hash;
        }
    }
}

static void on_chat(void *context, struct tc_client *client, const struct tc_header *reply,
                    const uint8_t *body, uint32_t body_size) {
    struct sim_session *session = context;
    tc_assert(session->client == client);
    struct sim_cluster *cluster = session->cluster;
    session->next_request_tick = cluster->tick + tc_prng_range(&cluster->prng, 0, SIM_THINK_TICKS_MAX);
    if (reply == NULL) return; // evicted: the outcome of the batch is unknown
    session->replies += 1;
    sim_checker_client_reply(cluster, session, reply, body, body_size);
    sends_check(session, body, body_size);
}

static uint64_t room_new(struct sim_cluster *cluster, struct sim_group *group) {
    uint64_t room = tc_prng_range(&cluster->prng, 1, SIM_ROOM_ID_MAX) * cluster->group_count +
                    group->index;
    tc_assert(sim_group_of_room(cluster, room) == group->index);
    if (group->rooms_count < SIM_ROOMS_PER_GROUP_MAX) group->rooms[group->rooms_count++] = room;
    return room;
}

static uint64_t room_known(struct sim_cluster *cluster, struct sim_group *group) {
    tc_assert(group->rooms_count > 0);
    return group->rooms[tc_prng_below(&cluster->prng, group->rooms_count)];
}

static uint64_t user_other(struct sim_cluster *cluster) {
    if (tc_prng_below(&cluster->prng, 8) == 0) return tc_prng_next(&cluster->prng) | 1u;
    return cluster->apps[tc_prng_below(&cluster->prng, cluster->app_count)].user;
}

// Adds a fresh send (new random key) and remembers it for later retries.
static int batch_add_send_fresh(struct sim_session *session, struct tc_room_batch *batch) {
    struct sim_cluster *cluster = session->cluster;
    uint32_t index = session->sends_count % SIM_SENDS_PER_SESSION_MAX;
    struct sim_send *send = &session->sends[index];
    memset(send, 0, sizeof(*send));
    send->room = room_known(cluster, session->group);
    tc_prng_fill(&cluster->prng, send->key, TC_ROOM_KEY_SIZE);
    send->thread_parent_seq =
        tc_prng_below(&cluster->prng, 8) == 0 ? tc_prng_range(&cluster->prng, 1, 6) : 0;
    send->body_size = (uint32_t)tc_prng_range(&cluster->prng, 1, SIM_SEND_BODY_MAX);
    tc_prng_fill(&cluster->prng, send->body, send->body_size);
    int result = tc_room_batch_add_send(batch, send->room, session->app->user, send->key,
                                        send->thread_parent_seq, send->body, send->body_size);
    if (result != TC_OK) return result;
    session->batch_send[session->batch_ops] = (int32_t)index;
    session->batch_retry[session->batch_ops] = false;
    session->sends_count += 1;
    session->group->keys_sent += 1;
    return TC_OK;
}

// Re-sends an earlier send (not one of this batch) with the same key, room, body and parent.
static int batch_add_send_retry(struct sim_session *session, struct tc_room_batch *batch) {
    struct sim_cluster *cluster = session->cluster;
    if (session->sends_count == 0) return TC_ENOENT;
    // One of the last sends, but never a record the fresh sends of this batch may overwrite (the
    // next SIM_BATCH_OPS_MAX ring slots, which wrap onto the oldest records even before the ring
    // first fills): the reply would otherwise be booked against another key.
    uint32_t available = tc_min_u32(session->sends_count,
                                    SIM_SENDS_PER_SESSION_MAX - SIM_BATCH_OPS_MAX);
    uint32_t back = 1 + (uint32_t)tc_prng_below(&cluster->prng, available);
    tc_assert(back <= session->sends_count);
    int32_t index = (int32_t)((session->sends_count - back) % SIM_SENDS_PER_SESSION_MAX);
    for (uint32_t i = 0; i < session->batch_ops; i++) {
        if (session->batch_send[i] == index) return TC_EEXIST;
    }
    struct sim_send *send = &session->sends[index];
    int result = tc_room_batch_add_send(batch, send->room, session->app->user, send->key,
                                        send->thread_parent_seq, send->body, send->body_size);
    if (result != TC_OK) return result;
    session->batch_send[session->batch_ops] = index;
    session->batch_retry[session->batch_ops] = true;
    return TC_OK;
}

// A retention policy for a known room: mostly keep the last few messages (so that reads hit the
// floor), sometimes by age, sometimes back to keep-all (the floor must not move back).
static int batch_add_retention(struct sim_session *session, struct tc_room_batch *batch) {
    struct sim_cluster *cluster = session->cluster;
    struct sim_group *group = session->group;
    uint32_t index = (uint32_t)tc_prng_below(&cluster->prng, group->rooms_count);
    uint64_t draw = tc_prng_below(&cluster->prng, 4);
    uint8_t mode = draw < 2 ? TC_ROOM_RETENTION_KEEP_MESSAGES
                            : (draw == 2 ? TC_ROOM_RETENTION_KEEP_DAYS : TC_ROOM_RETENTION_KEEP_ALL);
    uint64_t value = mode == TC_ROOM_RETENTION_KEEP_MESSAGES ? tc_prng_range(&cluster->prng, 1, 6)
                     : mode == TC_ROOM_RETENTION_KEEP_DAYS  ? tc_prng_range(&cluster->prng, 1, 3)
                                                            : 0;
    group->rooms_retention[index] = true;
    cluster->stats.retention_ops += 1;
    return tc_room_batch_add_set_retention(batch, group->rooms[index], session->app->user, mode,
                                           value);
}

// A read marker of the app's user, appended to about one request in six that has room for it:
// mostly at or just below the seq of one of the session's acked sends (at most its room's head: the
// marker moves forward, or stays and the reply carries the current one; not_member if the user left
// since), otherwise a small seq in any known room (often above its head: invalid_seq; or in a room
// the user is not in: not_member). It draws from a stream of its own (a hash of the seed, the
// session, the request number and the tick), never from the cluster's PRNG, so every other draw of
// a seed stays where it was before read markers existed: the seeds that docs/simulator.md and
// scripts/planted-bugs.sh name keep their schedules as far as the larger batches allow.
static void batch_add_read_marker(struct sim_session *session, struct tc_room_batch *batch) {
    struct sim_cluster *cluster = session->cluster;
    struct sim_group *group = session->group;
    tc_assert(session->batch_ops >= 1);
    if (session->batch_ops == SIM_BATCH_OPS_MAX || group->rooms_count == 0) return;
    uint64_t state = cluster->seed ^ session->client_id ^
                     (cluster->tick * 0x9e3779b97f4a7c15ull) ^
                     ((uint64_t)tc_client_request_number(session->client) << 40);
    if (tc_prng_splitmix64(&state) % 6 != 0) return;
    uint64_t room = group->rooms[tc_prng_splitmix64(&state) % group->rooms_count];
    uint64_t seq = tc_prng_splitmix64(&state) % 12;
    if (session->sends_count > 0 && tc_prng_splitmix64(&state) % 4 != 0) {
        uint32_t available = tc_min_u32(session->sends_count, SIM_SENDS_PER_SESSION_MAX);
        uint32_t back = 1 + (uint32_t)(tc_prng_splitmix64(&state) % available);
        const struct sim_send *send =
            &session->sends[(session->sends_count - back) % SIM_SENDS_PER_SESSION_MAX];
        if (send->acked) {
            tc_assert(send->seq >= 1);
            room = send->room;
            seq = send->seq - tc_prng_splitmix64(&state) % (tc_min_u64(send->seq, 3) + 1);
        }
    }
    session->batch_send[session->batch_ops] = -1;
    if (tc_room_batch_add_read_marker(batch, room, session->app->user, seq) != TC_OK) return;
    session->batch_ops += 1;
}

// A redaction by the app's user, appended to about one request in eight that has room for it:
// mostly of one of the session's acked sends (its own message: committed, or message_evicted once
// it left the group's thread window of messages_max messages, or a repeat; not_member if the user
// left since), sometimes a small seq in any known room (another user's message: not_sender; above
// the head: invalid_seq; ...). Like read markers, from a stream of its own (seed, session, request
// number, tick), so every other draw of a seed stays where it was before redactions existed.
static void batch_add_redact(struct sim_session *session, struct tc_room_batch *batch) {
    struct sim_cluster *cluster = session->cluster;
    struct sim_group *group = session->group;
    tc_assert(session->batch_ops >= 1);
    if (session->batch_ops == SIM_BATCH_OPS_MAX || group->rooms_count == 0) return;
    uint64_t state = cluster->seed ^ (session->client_id * 0xc2b2ae3d27d4eb4full) ^
                     (cluster->tick * 0x94d049bb133111ebull) ^
                     ((uint64_t)tc_client_request_number(session->client) << 32) ^ 0x7265646163ull;
    if (tc_prng_splitmix64(&state) % 8 != 0) return;
    uint64_t room = group->rooms[tc_prng_splitmix64(&state) % group->rooms_count];
    uint64_t seq = tc_prng_splitmix64(&state) % 10;
    if (session->sends_count > 0 && tc_prng_splitmix64(&state) % 4 != 0) {
        uint32_t available = tc_min_u32(session->sends_count, 8);
        uint32_t back = 1 + (uint32_t)(tc_prng_splitmix64(&state) % available);
        const struct sim_send *send =
            &session->sends[(session->sends_count - back) % SIM_SENDS_PER_SESSION_MAX];
        if (send->acked) {
            tc_assert(send->seq >= 1);
            room = send->room;
            seq = send->seq;
        }
    }
    session->batch_send[session->batch_ops] = -1;
    if (tc_room_batch_add_redact(batch, room, session->app->user, seq) != TC_OK) return;
    session->batch_ops += 1;
    cluster->stats.redact_ops += 1;
}

static int batch_add_one(struct sim_session *session, struct tc_room_batch *batch) {
    struct sim_cluster *cluster = session->cluster;
    struct sim_group *group = session->group;
    uint64_t user = session->app->user;
    uint64_t draw = group->rooms_count == 0 ? 0 : tc_prng_below(&cluster->prng, 100);
    session->batch_send[session->batch_ops] = -1;
    if (draw < 12) return tc_room_batch_add_create_room(batch, room_new(cluster, group), user);
    if (draw < 16) {
        uint64_t room = room_new(cluster, group);
        return tc_room_batch_add_create_dm(batch, room, user, user_other(cluster));
    }
    if (draw < 30) return tc_room_batch_add_join(batch, room_known(cluster, group), user);
    if (draw < 33) return tc_room_batch_add_leave(batch, room_known(cluster, group), user);
    if (draw < 35) return batch_add_retention(session, batch);
    if (draw < 85) return batch_add_send_fresh(session, batch);
    return batch_add_send_retry(session, batch);
}

static void request_start(struct sim_session *session) {
    struct sim_cluster *cluster = session->cluster;
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, session->batch, SIM_BATCH_SIZE_MAX);
    session->batch_ops = 0;
    uint32_t ops = (uint32_t)tc_prng_range(&cluster->prng, 1, SIM_BATCH_OPS_MAX);
    for (uint32_t attempt = 0; attempt < 2 * SIM_BATCH_OPS_MAX && session->batch_ops < ops;
         attempt++) {
        if (batch_add_one(session, &batch) == TC_OK) session->batch_ops += 1;
    }
    if (session->batch_ops == 0) return;
    batch_add_read_marker(session, &batch);
    batch_add_redact(session, &batch);
    tc_assert(batch.op_count == session->batch_ops);
    session->batch_size = batch.size;
    session->request_start_tick = cluster->tick;
    tc_client_request(session->client, session->batch, session->batch_size, on_chat, session);
}

static void session_tick(struct sim_session *session) {
    struct sim_cluster *cluster = session->cluster;
    tc_client_tick(session->client);
    if (cluster->liveness) return; // only outstanding requests complete
    if (cluster->tick < session->next_request_tick) return;
    switch (tc_client_state_get(session->client)) {
    case TC_CLIENT_IDLE:
        session->request_start_tick = cluster->tick;
        tc_client_register(session->client, on_register, session);
        break;
    case TC_CLIENT_READY:
        if (session->group->commit_count < session->group->ops_limit) request_start(session);
        break;
    case TC_CLIENT_EVICTED:
        cluster->coverage.faults[SIM_FAULT_EVICTION] += 1;
        session->evictions += 1;
        session_open(session);
        break;
    case TC_CLIENT_REGISTERING:
    case TC_CLIENT_BUSY: break;
    }
}

void sim_workload_tick(struct sim_cluster *cluster) {
    for (uint32_t a = 0; a < cluster->app_count; a++) {
        for (uint32_t g = 0; g < cluster->group_count; g++) {
            session_tick(&cluster->apps[a].sessions[g]);
        }
    }
}

bool sim_workload_idle(const struct sim_cluster *cluster) {
    for (uint32_t a = 0; a < cluster->app_count; a++) {
        for (uint32_t g = 0; g < cluster->group_count; g++) {
            enum tc_client_state state = tc_client_state_get(cluster->apps[a].sessions[g].client);
            if (state == TC_CLIENT_REGISTERING || state == TC_CLIENT_BUSY) return false;
        }
    }
    return true;
}
