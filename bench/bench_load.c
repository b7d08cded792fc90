// The load: N VSR clients, each registering, creating its own room, then keeping one chat batch
// (sends of --message-size bytes with unique idempotency keys) in flight until the bench stops.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_prng.h"

#define BENCH_CLIENT_ID_BASE 0x7463000000000000ull // "tc" in the high bytes
#define BENCH_USER_BASE 1000u
#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

// ------------------------------------------------------------------------------------------------
// tc_io of a client: only send_to_replica (and the clock / log) are used.

static struct bench_client *client_of(struct tc_io *io) {
    struct bench_client *client = io->context;
    tc_assert(client != NULL);
    tc_assert(&client->io == io);
    return client;
}

static void client_send_to_replica(struct tc_io *io, uint8_t replica, uint32_t epoch,
                                   const uint8_t *message) {
    (void)epoch;
    struct bench_client *client = client_of(io);
    tc_assert(replica < BENCH_REPLICAS);
    if (bench_lag_blocks(client->bench, replica, true, message)) return; // --lag-mib
    bench_net_send(&client->bench->net, BENCH_TARGET_REPLICA, replica, 0, message);
}

static void client_send_to_client(struct tc_io *io, uint64_t target, const uint8_t *message) {
    (void)io;
    (void)target;
    (void)message;
    tc_unreachable();
}

static void client_storage(struct tc_io *io, struct tc_io_storage_op *op) {
    (void)io;
    (void)op;
    tc_unreachable(); // A client has no storage.
}

static uint64_t client_realtime_ns(struct tc_io *io) {
    (void)client_of(io);
    return tc_io_linux_realtime_ns();
}

static void client_log(struct tc_io *io, enum tc_log_level level, const char *line) {
    struct bench_client *client = client_of(io);
    fprintf(stderr, "bench: client=%u level=%d %s\n", client->index, (int)level, line);
}

static const struct tc_io_vtable client_vtable = {
    .send_to_replica = client_send_to_replica,
    .send_to_client = client_send_to_client,
    .storage_read = client_storage,
    .storage_write = client_storage,
    .storage_sync = client_storage,
    .realtime_ns = client_realtime_ns,
    .log = client_log,
};

// ------------------------------------------------------------------------------------------------
// Batches.

// Appends one send with a fresh idempotency key: (client index, per-client counter).
static int load_add_send(struct bench *bench, struct bench_client *client,
                         struct tc_room_batch *batch) {
    uint8_t key[TC_ROOM_KEY_SIZE];
    const uint64_t key_high = (uint64_t)client->index + 1u;
    const uint64_t key_low = client->key_sequence + 1u;
    memcpy(key, &key_high, sizeof(key_high));
    memcpy(key + sizeof(key_high), &key_low, sizeof(key_low));
    const int result = tc_room_batch_add_send(batch, client->room, client->user, key, 0,
                                              bench->payload, bench->options.message_size);
    if (result == 0) client->key_sequence++;
    return result;
}

// How many sends one request carries (--batch, or as many as fit), from a trial build.
static int load_batch_shape(struct bench *bench) {
    struct bench_client trial = {.index = 0, .room = 1, .user = BENCH_USER_BASE};
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, bench->batch_buffer, TC_MESSAGE_BODY_SIZE_MAX);
    const uint32_t wanted = bench->options.batch == 0 ? UINT32_MAX : bench->options.batch;
    uint32_t count = 0;
    while (count < wanted && load_add_send(bench, &trial, &batch) == 0) count++;
    if (count == 0 || (bench->options.batch != 0 && count < bench->options.batch)) {
        fprintf(stderr, "bench: only %u sends of %u bytes fit in one request (--batch %u)\n",
                count, bench->options.message_size, bench->options.batch);
        return TC_EINVAL;
    }
    tc_assert(tc_room_validate_batch(bench->batch_buffer, batch.size) == 0);
    bench->results.messages_per_batch = count;
    bench->results.batch_body_bytes = batch.size;
    return 0;
}

static int load_client_init(struct bench *bench, uint32_t index) {
    struct bench_client *client = &bench->clients[index];
    client->bench = bench;
    client->index = index;
    client->room = (uint64_t)index + 1u;
    client->user = BENCH_USER_BASE + (uint64_t)index;
    client->io = (struct tc_io){.vtable = &client_vtable, .context = client,
                                .log_level = TC_LOG_WARN};
    const uint64_t size = tc_align_up(tc_client_memory_size(), 4096);
    client->memory = aligned_alloc(4096, size);
    if (client->memory == NULL) return TC_ENOMEM;
    memset(client->memory, 0, size);
    struct tc_arena arena;
    tc_arena_init(&arena, client->memory, size);
    const struct tc_client_options options = {
        .cluster = bench->cluster,
        .group = 1,
        .replica_count = BENCH_REPLICAS,
        .client_id = BENCH_CLIENT_ID_BASE + index + 1u,
        .seed = bench->options.seed ^ (0x9e3779b97f4a7c15ull * (index + 1u)),
        .io = &client->io,
    };
    const int result = tc_client_init(&client->client, &options, &arena);
    if (result != 0) {
        fprintf(stderr, "bench: tc_client_init(client %u): %s\n", index, tc_errname(result));
        return result;
    }
    tc_arena_seal(&arena);
    return 0;
}

int bench_load_init(struct bench *bench) {
    tc_assert(bench->options.clients >= 1 && bench->options.clients <= BENCH_CLIENTS_MAX);
    bench->payload = malloc(bench->options.message_size);
    bench->batch_buffer = malloc(TC_MESSAGE_BODY_SIZE_MAX);
    if (bench->payload == NULL || bench->batch_buffer == NULL) return TC_ENOMEM;
    struct tc_prng prng;
    tc_prng_init(&prng, bench->options.seed);
    tc_prng_fill(&prng, bench->payload, bench->options.message_size);
    int result = load_batch_shape(bench);
    if (result != 0) return result;
    for (uint32_t index = 0; index < bench->options.clients; index++) {
        result = load_client_init(bench, index);
        if (result != 0) return result;
        bench->clients_count++;
    }
    // No op limit: the journal ring wraps (replicas checkpoint every journal_slots / 2 ops and
    // reuse slots behind a quorum-durable checkpoint), so only --duration-s bounds the load.
    bench_histogram_reset(&bench->results.latency_request);
    bench_histogram_reset(&bench->results.latency_message);
    return 0;
}

void bench_load_deinit(struct bench *bench) {
    for (uint32_t index = 0; index < bench->clients_count; index++) {
        free(bench->clients[index].memory);
        bench->clients[index].memory = NULL;
    }
    free(bench->payload);
    free(bench->batch_buffer);
    bench->payload = NULL;
    bench->batch_buffer = NULL;
}

// ------------------------------------------------------------------------------------------------
// Requests and replies.

static void load_on_reply(void *context, struct tc_client *tc_client, const struct tc_header *reply,
                          const uint8_t *body, uint32_t body_size);

void bench_load_stop(struct bench *bench, uint64_t now_ns, const char *reason) {
    tc_assert(reason != NULL);
    if (bench->phase == BENCH_PHASE_DRAIN) return;
    const bool measuring = bench->phase == BENCH_PHASE_MEASURE;
    if (measuring) bench->results.measure_end_ns = now_ns;
    bench->results.stop_reason = reason;
    for (uint32_t index = 0; index < BENCH_REPLICAS; index++) {
        struct tc_replica_status status;
        tc_replica_status_get(bench->replicas[index].replica, &status);
        bench->results.commit_min_at_stop[index] = status.commit_min;
        // Stopped before measuring: no checkpoint counts as "during the measured interval".
        bench->results.checkpoints_at_stop[index] =
            measuring ? status.checkpoints_durable
                      : bench->results.checkpoints_at_measure_start[index];
        bench->results.commit_max_at_stop =
            tc_max_u64(bench->results.commit_max_at_stop, status.commit_max);
    }
    bench->phase = BENCH_PHASE_DRAIN;
}

static void load_request(struct bench *bench, struct bench_client *client, uint32_t body_size,
                         uint32_t messages) {
    tc_assert(!client->request_in_flight);
    tc_assert(tc_client_state_get(client->client) == TC_CLIENT_READY);
    client->request_in_flight = true;
    client->request_messages = messages;
    client->request_start_ns = tc_io_linux_monotonic_ns();
    bench->results.requests_issued++;
    tc_client_request(client->client, bench->batch_buffer, body_size, load_on_reply, client);
}

static void load_create_room(struct bench *bench, struct bench_client *client) {
    tc_assert(client->phase == BENCH_CLIENT_CREATING_ROOM);
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, bench->batch_buffer, TC_MESSAGE_BODY_SIZE_MAX);
    const int result = tc_room_batch_add_create_room(&batch, client->room, client->user);
    tc_assert(result == 0);
    load_request(bench, client, batch.size, 0);
}

// The next chat batch, unless the bench is stopping.
static void load_chat(struct bench *bench, struct bench_client *client) {
    tc_assert(client->phase == BENCH_CLIENT_LOADED);
    if (bench->phase == BENCH_PHASE_DRAIN) {
        client->phase = BENCH_CLIENT_DONE;
        return;
    }
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, bench->batch_buffer, TC_MESSAGE_BODY_SIZE_MAX);
    for (uint32_t i = 0; i < bench->results.messages_per_batch; i++) {
        const int result = load_add_send(bench, client, &batch);
        tc_assert(result == 0); // load_batch_shape proved that this many fit.
    }
    tc_assert(batch.op_count == bench->results.messages_per_batch);
    load_request(bench, client, batch.size, batch.op_count);
}

// Counts the results of a chat reply that are not a fresh "ok" (duplicates included).
static uint64_t load_reply_errors(const uint8_t *body, uint32_t body_size, uint32_t expected) {
    const int count = tc_room_reply_count(body, body_size);
    if (count < 0 || (uint32_t)count != expected) return expected;
    uint64_t errors = 0;
    for (uint32_t i = 0; i < expected; i++) {
        struct tc_room_result result;
        if (tc_room_reply_get(body, body_size, i, &result) != 0 || result.status != TC_ROOM_OK ||
            result.duplicate) {
            errors++;
        }
    }
    tc_assert(errors <= expected);
    return errors;
}

static void load_account(struct bench *bench, struct bench_client *client, const uint8_t *body,
                         uint32_t body_size, uint64_t now_ns) {
    tc_assert(client->request_start_ns <= now_ns);
    const uint64_t latency_ns = now_ns - client->request_start_ns;
    const uint32_t messages = client->request_messages;
    struct bench_results *results = &bench->results;
    results->batches_total++;
    results->messages_total += messages;
    results->message_errors += load_reply_errors(body, body_size, messages);
    bench_transfer_on_reply(bench, client->request_start_ns, now_ns);
    if (bench->phase != BENCH_PHASE_MEASURE) return;
    results->batches++;
    results->messages += messages;
    bench_histogram_record(&results->latency_request, latency_ns, 1);
    bench_histogram_record(&results->latency_message, latency_ns, messages);
}

static void load_loaded(struct bench *bench, struct bench_client *client, uint64_t now_ns) {
    client->phase = BENCH_CLIENT_LOADED;
    if (bench->phase == BENCH_PHASE_SETUP && bench_load_all_loaded(bench)) {
        bench->phase = BENCH_PHASE_WARMUP;
        bench->warmup_start_ns = now_ns;
    }
    load_chat(bench, client);
}

static void load_on_reply(void *context, struct tc_client *tc_client, const struct tc_header *reply,
                          const uint8_t *body, uint32_t body_size) {
    struct bench_client *client = context;
    struct bench *bench = client->bench;
    tc_assert(client->client == tc_client);
    tc_assert(client->request_in_flight);
    const uint64_t now_ns = tc_io_linux_monotonic_ns();
    client->request_in_flight = false;
    if (reply == NULL) { // Evicted: the group forgot this session. Not expected in a bench.
        fprintf(stderr, "bench: client %u was evicted\n", client->index);
        bench->failure = "client evicted";
        client->phase = BENCH_CLIENT_DONE;
        bench_load_stop(bench, now_ns, "failure");
        return;
    }
    switch (client->phase) {
    case BENCH_CLIENT_REGISTERING:
        client->phase = BENCH_CLIENT_CREATING_ROOM;
        load_create_room(bench, client);
        break;
    case BENCH_CLIENT_CREATING_ROOM:
        if (load_reply_errors(body, body_size, 1) != 0) bench->failure = "create_room failed";
        load_loaded(bench, client, now_ns);
        break;
    case BENCH_CLIENT_LOADED:
        load_account(bench, client, body, body_size, now_ns);
        load_chat(bench, client);
        break;
    default: tc_unreachable();
    }
}

void bench_load_start(struct bench *bench) {
    tc_assert(bench->phase == BENCH_PHASE_SETUP);
    for (uint32_t index = 0; index < bench->clients_count; index++) {
        struct bench_client *client = &bench->clients[index];
        tc_assert(client->phase == BENCH_CLIENT_REGISTERING);
        bench->results.requests_issued++;
        client->request_in_flight = true;
        client->request_start_ns = tc_io_linux_monotonic_ns();
        tc_client_register(client->client, load_on_reply, client);
    }
}

bool bench_load_all_loaded(const struct bench *bench) {
    for (uint32_t index = 0; index < bench->clients_count; index++) {
        if (bench->clients[index].phase < BENCH_CLIENT_LOADED) return false;
    }
    return true;
}

bool bench_load_idle(const struct bench *bench) {
    for (uint32_t index = 0; index < bench->clients_count; index++) {
        if (bench->clients[index].request_in_flight) return false;
    }
    return true;
}

void bench_load_client_message(struct bench *bench, uint64_t client_id, const uint8_t *message,
                               uint32_t size) {
    if (client_id <= BENCH_CLIENT_ID_BASE || client_id > BENCH_CLIENT_ID_BASE +
                                                             bench->clients_count) {
        bench->net.stats.dropped_unknown++;
        return;
    }
    const uint64_t index = client_id - BENCH_CLIENT_ID_BASE - 1u;
    tc_assert(index < bench->clients_count);
    tc_client_on_message(bench->clients[index].client, message, size);
}

void bench_load_tick(struct bench *bench) {
    for (uint32_t index = 0; index < bench->clients_count; index++) {
        tc_client_tick(bench->clients[index].client);
    }
}

void bench_load_phase_update(struct bench *bench, uint64_t now_ns) {
    struct bench_results *results = &bench->results;
    if (bench->phase == BENCH_PHASE_WARMUP &&
        now_ns >= bench->warmup_start_ns + bench->options.warmup_ms * NS_PER_MS) {
        bench->phase = BENCH_PHASE_MEASURE;
        results->measure_start_ns = now_ns;
        for (uint32_t index = 0; index < BENCH_REPLICAS; index++) {
            struct tc_replica_status status;
            tc_replica_status_get(bench->replicas[index].replica, &status);
            results->checkpoints_at_measure_start[index] = status.checkpoints_durable;
        }
    }
    if (bench->phase == BENCH_PHASE_MEASURE &&
        now_ns >= results->measure_start_ns + bench->options.duration_s * NS_PER_S) {
        bench_load_stop(bench, now_ns, "duration");
    }
}
