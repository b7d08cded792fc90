// Unit tests for the VSR client (node/vsr/client.c) against a fake tc_io that captures sends.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client.h"
#include "tc_arena.h"
#include "tc_err.h"

#define CLUSTER 0xC1u
#define GROUP 3u
#define CLIENT_ID 0xABCDEFu
#define TIMEOUT_TICKS 10u
#define SENT_MAX 256u
#define SESSION 5u // the op of the client's register

struct sent {
    uint8_t replica;
    struct tc_header header;
    uint8_t body[64];
};

struct fake {
    struct tc_io io;
    struct sent sent[SENT_MAX];
    uint32_t sent_count;
    // Callback records.
    uint32_t callbacks;
    bool last_reply_null;
    struct tc_header last_reply;
    uint8_t last_body[64];
    uint32_t last_body_size;
    // Arena.
    uint8_t *memory;
    struct tc_arena arena;
    struct tc_client *client;
};

static struct fake *fake_of(struct tc_io *io) { return io->context; }

static void fake_send_to_replica(struct tc_io *io, uint8_t replica, uint32_t epoch,
                                 const uint8_t *message) {
    assert_int_equal(epoch, TC_EPOCH_CURRENT); // clients know no epochs
    struct fake *fake = fake_of(io);
    assert_true(fake->sent_count < SENT_MAX);
    struct sent *sent = &fake->sent[fake->sent_count++];
    sent->replica = replica;
    memcpy(&sent->header, message, sizeof(sent->header));
    uint32_t body_size = sent->header.size - TC_HEADER_SIZE;
    assert_true(body_size <= sizeof(sent->body));
    memcpy(sent->body, message + TC_HEADER_SIZE, body_size);
}

static void fake_send_to_client(struct tc_io *io, uint64_t client, const uint8_t *message) {
    (void)io;
    (void)client;
    (void)message;
    fail_msg("a client never sends to a client");
}

static uint64_t fake_realtime_ns(struct tc_io *io) {
    (void)io;
    fail_msg("the client never reads the clock");
    return 0;
}

static void fake_log(struct tc_io *io, enum tc_log_level level, const char *line) {
    (void)io;
    (void)level;
    (void)line;
}

static const struct tc_io_vtable fake_vtable = {
    .send_to_replica = fake_send_to_replica,
    .send_to_client = fake_send_to_client,
    .storage_read = NULL,
    .storage_write = NULL,
    .storage_sync = NULL,
    .realtime_ns = fake_realtime_ns,
    .log = fake_log,
};

static void on_reply(void *context, struct tc_client *client, const struct tc_header *reply,
                     const uint8_t *body, uint32_t body_size) {
    struct fake *fake = context;
    assert_ptr_equal(client, fake->client);
    fake->callbacks += 1;
    fake->last_reply_null = reply == NULL;
    if (reply != NULL) {
        fake->last_reply = *reply;
        assert_true(body_size <= sizeof(fake->last_body));
        memcpy(fake->last_body, body, body_size);
        fake->last_body_size = body_size;
    }
}

static int setup(void **state) {
    struct fake *fake = calloc(1, sizeof(struct fake));
    assert_non_null(fake);
    fake->io.vtable = &fake_vtable;
    fake->io.context = fake;
    fake->io.log_level = TC_LOG_INFO;
    uint64_t size = tc_client_memory_size();
    fake->memory = malloc(size);
    assert_non_null(fake->memory);
    tc_arena_init(&fake->arena, fake->memory, size);
    struct tc_client_options options = {
        .cluster = CLUSTER,
        .group = GROUP,
        .replica_count = 3,
        .client_id = CLIENT_ID,
        .request_timeout_ticks = TIMEOUT_TICKS,
        .seed = 42,
        .io = &fake->io,
    };
    assert_int_equal(tc_client_init(&fake->client, &options, &fake->arena), TC_OK);
    *state = fake;
    return 0;
}

static int teardown(void **state) {
    struct fake *fake = *state;
    free(fake->memory);
    free(fake);
    return 0;
}

// Builds a valid reply (or eviction) message into `out` and returns its size.
static uint32_t make_message(uint8_t *out, uint8_t command, uint8_t operation, uint64_t client,
                             uint32_t request, uint32_t view, const char *body) {
    uint32_t body_size = body == NULL ? 0 : (uint32_t)strlen(body);
    struct tc_header header;
    memset(&header, 0, sizeof(header));
    header.cluster = CLUSTER;
    header.group = GROUP;
    header.client = client;
    header.request = request;
    header.view = view;
    header.op = command == TC_COMMAND_REPLY ? 7 : 0;
    header.commit = header.op;
    header.timestamp = command == TC_COMMAND_REPLY ? 1000 : 0;
    header.size = TC_HEADER_SIZE + body_size;
    header.version = TC_HEADER_VERSION;
    header.command = command;
    header.operation = operation;
    header.replica = (uint8_t)(view % 3);
    header.session = command == TC_COMMAND_REPLY ? SESSION : 0;
    if (body_size > 0) memcpy(out + TC_HEADER_SIZE, body, body_size);
    tc_header_set_checksum_body(&header, out + TC_HEADER_SIZE, body_size);
    tc_header_set_checksum(&header);
    assert_null(tc_header_invalid(&header));
    memcpy(out, &header, sizeof(header));
    return header.size;
}

static void deliver(struct fake *fake, uint8_t command, uint8_t operation, uint64_t client,
                    uint32_t request, uint32_t view, const char *body) {
    uint8_t message[TC_HEADER_SIZE + 64];
    uint32_t size = make_message(message, command, operation, client, request, view, body);
    tc_client_on_message(fake->client, message, size);
}

static void check_request(const struct sent *sent, uint8_t operation, uint32_t request,
                          uint32_t view) {
    assert_true(tc_header_valid_checksum(&sent->header));
    assert_null(tc_header_invalid(&sent->header));
    assert_true(tc_header_valid_checksum_body(&sent->header, sent->body));
    assert_int_equal(sent->header.command, TC_COMMAND_REQUEST);
    assert_int_equal(sent->header.operation, operation);
    assert_int_equal(sent->header.request, request);
    assert_int_equal(sent->header.client, CLIENT_ID);
    assert_int_equal(sent->header.cluster, CLUSTER);
    assert_int_equal(sent->header.group, GROUP);
    assert_int_equal(sent->header.view, view);
    assert_int_equal(sent->header.version, TC_HEADER_VERSION);
    assert_int_equal(sent->header.op, 0);
    assert_int_equal(sent->header.commit, 0);
    assert_int_equal(sent->header.timestamp, 0);
    // A chat request carries the session learned from the register reply.
    assert_int_equal(sent->header.session, operation == TC_OPERATION_CHAT ? SESSION : 0);
}

static void register_client(struct fake *fake) {
    tc_client_register(fake->client, on_reply, fake);
    assert_int_equal(tc_client_state_get(fake->client), TC_CLIENT_REGISTERING);
    deliver(fake, TC_COMMAND_REPLY, TC_OPERATION_REGISTER, CLIENT_ID, 0, 0, NULL);
    assert_int_equal(tc_client_state_get(fake->client), TC_CLIENT_READY);
}

static void test_register_flow(void **state) {
    struct fake *fake = *state;
    assert_int_equal(tc_client_state_get(fake->client), TC_CLIENT_IDLE);
    assert_int_equal(tc_client_id(fake->client), CLIENT_ID);
    tc_client_register(fake->client, on_reply, fake);
    assert_int_equal(fake->sent_count, 1);
    assert_int_equal(fake->sent[0].replica, 0); // view 0: primary is replica 0
    assert_int_equal(fake->sent[0].header.size, TC_HEADER_SIZE);
    check_request(&fake->sent[0], TC_OPERATION_REGISTER, 0, 0);
    assert_int_equal(fake->callbacks, 0);

    // The reply carries view 4: the client learns it and sends the next request to 4 % 3 = 1.
    deliver(fake, TC_COMMAND_REPLY, TC_OPERATION_REGISTER, CLIENT_ID, 0, 4, NULL);
    assert_int_equal(fake->callbacks, 1);
    assert_false(fake->last_reply_null);
    assert_int_equal(fake->last_reply.request, 0);
    assert_int_equal(tc_client_state_get(fake->client), TC_CLIENT_READY);

    const uint8_t body[] = "batch-1";
    tc_client_request(fake->client, body, sizeof(body), on_reply, fake);
    assert_int_equal(tc_client_state_get(fake->client), TC_CLIENT_BUSY);
    assert_int_equal(tc_client_request_number(fake->client), 1);
    assert_int_equal(fake->sent_count, 2);
    assert_int_equal(fake->sent[1].replica, 1);
    check_request(&fake->sent[1], TC_OPERATION_CHAT, 1, 4);
    assert_memory_equal(fake->sent[1].body, body, sizeof(body));

    deliver(fake, TC_COMMAND_REPLY, TC_OPERATION_CHAT, CLIENT_ID, 1, 4, "result-1");
    assert_int_equal(fake->callbacks, 2);
    assert_int_equal(fake->last_body_size, 8);
    assert_memory_equal(fake->last_body, "result-1", 8);
    assert_int_equal(tc_client_state_get(fake->client), TC_CLIENT_READY);

    tc_client_request(fake->client, body, 3, on_reply, fake);
    assert_int_equal(tc_client_request_number(fake->client), 2);
    check_request(&fake->sent[2], TC_OPERATION_CHAT, 2, 4);
}

static void test_resend_on_timeout_to_all(void **state) {
    struct fake *fake = *state;
    register_client(fake);
    fake->sent_count = 0;
    const uint8_t body[] = "hello";
    tc_client_request(fake->client, body, sizeof(body), on_reply, fake);
    assert_int_equal(fake->sent_count, 1);
    struct tc_header first = fake->sent[0].header;

    // Nothing before the first timeout (jitter is at most half the timeout).
    for (uint32_t tick = 0; tick + 1 < TIMEOUT_TICKS; tick++) tc_client_tick(fake->client);
    assert_int_equal(fake->sent_count, 1);
    for (uint32_t tick = 0; tick < TIMEOUT_TICKS; tick++) tc_client_tick(fake->client);
    assert_int_equal(fake->sent_count, 4);
    bool seen[3] = {false, false, false};
    for (uint32_t i = 1; i < 4; i++) {
        assert_true(fake->sent[i].replica < 3);
        seen[fake->sent[i].replica] = true;
        // Resends are byte-identical.
        assert_memory_equal(&fake->sent[i].header, &first, sizeof(first));
        assert_memory_equal(fake->sent[i].body, body, sizeof(body));
    }
    assert_true(seen[0] && seen[1] && seen[2]);

    // Exponential backoff: over many ticks, resend rounds get sparser but never stop.
    uint32_t rounds = 0;
    uint32_t last_gap = 0;
    uint32_t since = 0;
    for (uint32_t tick = 0; tick < 5000; tick++) {
        uint32_t before = fake->sent_count;
        tc_client_tick(fake->client);
        since += 1;
        if (fake->sent_count != before) {
            assert_int_equal(fake->sent_count, before + 3);
            rounds += 1;
            last_gap = since;
            since = 0;
            fake->sent_count = 1; // keep the capture array small
        }
    }
    assert_true(rounds >= 10);
    assert_true(last_gap >= (TIMEOUT_TICKS << 5));
    assert_true(last_gap <= (TIMEOUT_TICKS << 5) + TIMEOUT_TICKS / 2);
    assert_int_equal(fake->callbacks, 1); // only the registration so far

    // Finally answered.
    deliver(fake, TC_COMMAND_REPLY, TC_OPERATION_CHAT, CLIENT_ID, 1, 0, "ok");
    assert_int_equal(fake->callbacks, 2);
    assert_int_equal(tc_client_state_get(fake->client), TC_CLIENT_READY);
    // No resends once answered.
    fake->sent_count = 0;
    for (uint32_t tick = 0; tick < 1000; tick++) tc_client_tick(fake->client);
    assert_int_equal(fake->sent_count, 0);
}

// A view hint resends the in-flight request to the new primary at once (no timeout), and
// resets the backoff; a stale hint does nothing.
static void test_view_hint_resends_at_once(void **state) {
    struct fake *fake = *state;
    register_client(fake);
    fake->sent_count = 0;
    const uint8_t body[] = "hint";
    tc_client_request(fake->client, body, sizeof(body), on_reply, fake);
    assert_int_equal(fake->sent_count, 1);
    assert_int_equal(fake->sent[0].replica, 0);
    // Back off a few rounds first, so that the reset is observable.
    for (uint32_t tick = 0; tick < 20 * TIMEOUT_TICKS; tick++) tc_client_tick(fake->client);
    const uint32_t before = fake->sent_count;
    assert_true(before > 1);
    fake->sent_count = 0;
    tc_client_view_hint(fake->client, 2);
    assert_int_equal(fake->sent_count, 1);
    assert_int_equal(fake->sent[0].replica, 2); // view 2: primary 2 % 3
    tc_client_view_hint(fake->client, 2);       // not newer: ignored
    tc_client_view_hint(fake->client, 1);
    assert_int_equal(fake->sent_count, 1);
    // The backoff restarted from the base timeout.
    for (uint32_t tick = 0; tick < TIMEOUT_TICKS + TIMEOUT_TICKS / 2; tick++) {
        tc_client_tick(fake->client);
    }
    assert_int_equal(fake->sent_count, 4);
    // The next request goes to the hinted view's primary; a hint while idle sends nothing.
    deliver(fake, TC_COMMAND_REPLY, TC_OPERATION_CHAT, CLIENT_ID, 1, 2, "ok");
    fake->sent_count = 0;
    tc_client_view_hint(fake->client, 4);
    assert_int_equal(fake->sent_count, 0);
    tc_client_request(fake->client, body, sizeof(body), on_reply, fake);
    assert_int_equal(fake->sent[0].replica, 1); // view 4: primary 4 % 3
}

static void test_stale_duplicate_invalid_ignored(void **state) {
    struct fake *fake = *state;
    register_client(fake);
    assert_int_equal(fake->callbacks, 1);
    // A duplicate register reply while READY is ignored.
    deliver(fake, TC_COMMAND_REPLY, TC_OPERATION_REGISTER, CLIENT_ID, 0, 0, NULL);
    assert_int_equal(fake->callbacks, 1);

    tc_client_request(fake->client, (const uint8_t *)"a", 1, on_reply, fake);
    // Stale: the register reply, a wrong request number, another client, wrong operation.
    deliver(fake, TC_COMMAND_REPLY, TC_OPERATION_REGISTER, CLIENT_ID, 0, 0, NULL);
    deliver(fake, TC_COMMAND_REPLY, TC_OPERATION_CHAT, CLIENT_ID, 2, 0, "x");
    deliver(fake, TC_COMMAND_REPLY, TC_OPERATION_CHAT, CLIENT_ID + 1, 1, 0, "x");
    deliver(fake, TC_COMMAND_EVICTION, 0, CLIENT_ID + 1, 0, 0, NULL);
    assert_int_equal(fake->callbacks, 1);
    assert_int_equal(tc_client_state_get(fake->client), TC_CLIENT_BUSY);

    // Invalid: corrupt header checksum, corrupt body, truncated, size mismatch, other cluster.
    uint8_t message[TC_HEADER_SIZE + 64];
    uint32_t size = make_message(message, TC_COMMAND_REPLY, TC_OPERATION_CHAT, CLIENT_ID, 1, 0,
                                 "body");
    message[100] ^= 1;
    tc_client_on_message(fake->client, message, size);
    message[100] ^= 1;
    message[TC_HEADER_SIZE] ^= 1;
    tc_client_on_message(fake->client, message, size);
    message[TC_HEADER_SIZE] ^= 1;
    tc_client_on_message(fake->client, message, size - 1);
    tc_client_on_message(fake->client, message, 100);
    struct tc_header other;
    memcpy(&other, message, sizeof(other));
    other.cluster += 1;
    tc_header_set_checksum(&other);
    memcpy(message, &other, sizeof(other));
    tc_client_on_message(fake->client, message, size);
    // Checksums valid but a structural rule broken (reserved byte set).
    other.cluster -= 1;
    other.reserved[0] = 1;
    tc_header_set_checksum(&other);
    memcpy(message, &other, sizeof(other));
    tc_client_on_message(fake->client, message, size);
    // A command a client does not handle.
    other.reserved[0] = 0;
    other.command = TC_COMMAND_COMMIT;
    tc_header_set_checksum(&other);
    memcpy(message, &other, sizeof(other));
    tc_client_on_message(fake->client, message, size);
    assert_int_equal(fake->callbacks, 1);
    assert_int_equal(tc_client_state_get(fake->client), TC_CLIENT_BUSY);

    // The real reply is accepted once; its duplicate is ignored.
    deliver(fake, TC_COMMAND_REPLY, TC_OPERATION_CHAT, CLIENT_ID, 1, 0, "r1");
    assert_int_equal(fake->callbacks, 2);
    deliver(fake, TC_COMMAND_REPLY, TC_OPERATION_CHAT, CLIENT_ID, 1, 0, "r1");
    assert_int_equal(fake->callbacks, 2);
    assert_int_equal(tc_client_state_get(fake->client), TC_CLIENT_READY);
}

static void test_register_reply_without_session_ignored(void **state) {
    struct fake *fake = *state;
    tc_client_register(fake->client, on_reply, fake);
    uint8_t message[TC_HEADER_SIZE + 64];
    uint32_t size =
        make_message(message, TC_COMMAND_REPLY, TC_OPERATION_REGISTER, CLIENT_ID, 0, 0, NULL);
    struct tc_header header;
    memcpy(&header, message, sizeof(header));
    header.session = 0;
    tc_header_set_checksum(&header);
    memcpy(message, &header, sizeof(header));
    tc_client_on_message(fake->client, message, size);
    assert_int_equal(fake->callbacks, 0);
    assert_int_equal(tc_client_state_get(fake->client), TC_CLIENT_REGISTERING);
}

static void test_unaligned_message(void **state) {
    struct fake *fake = *state;
    register_client(fake);
    tc_client_request(fake->client, (const uint8_t *)"a", 1, on_reply, fake);
    static uint8_t buffer[TC_HEADER_SIZE + 64 + 1];
    uint32_t size =
        make_message(buffer + 1, TC_COMMAND_REPLY, TC_OPERATION_CHAT, CLIENT_ID, 1, 0, "odd");
    tc_client_on_message(fake->client, buffer + 1, size);
    assert_int_equal(fake->callbacks, 2);
    assert_memory_equal(fake->last_body, "odd", 3);
}

static void test_eviction(void **state) {
    struct fake *fake = *state;
    register_client(fake);
    tc_client_request(fake->client, (const uint8_t *)"a", 1, on_reply, fake);
    deliver(fake, TC_COMMAND_EVICTION, 0, CLIENT_ID, 0, 0, NULL);
    assert_int_equal(tc_client_state_get(fake->client), TC_CLIENT_EVICTED);
    assert_int_equal(fake->callbacks, 2);
    assert_true(fake->last_reply_null);
    // An evicted client never resends and ignores later replies and evictions.
    fake->sent_count = 0;
    for (uint32_t tick = 0; tick < 1000; tick++) tc_client_tick(fake->client);
    assert_int_equal(fake->sent_count, 0);
    deliver(fake, TC_COMMAND_REPLY, TC_OPERATION_CHAT, CLIENT_ID, 1, 0, "late");
    deliver(fake, TC_COMMAND_EVICTION, 0, CLIENT_ID, 0, 0, NULL);
    assert_int_equal(fake->callbacks, 2);
}

static void test_eviction_while_idle_session(void **state) {
    struct fake *fake = *state;
    // Before registration an eviction is ignored.
    deliver(fake, TC_COMMAND_EVICTION, 0, CLIENT_ID, 0, 0, NULL);
    assert_int_equal(tc_client_state_get(fake->client), TC_CLIENT_IDLE);
    register_client(fake);
    // Between requests: the state changes, no callback (none is pending).
    deliver(fake, TC_COMMAND_EVICTION, 0, CLIENT_ID, 0, 0, NULL);
    assert_int_equal(tc_client_state_get(fake->client), TC_CLIENT_EVICTED);
    assert_int_equal(fake->callbacks, 1);
}

static void test_eviction_while_registering(void **state) {
    struct fake *fake = *state;
    tc_client_register(fake->client, on_reply, fake);
    deliver(fake, TC_COMMAND_EVICTION, 0, CLIENT_ID, 0, 0, NULL);
    assert_int_equal(tc_client_state_get(fake->client), TC_CLIENT_EVICTED);
    assert_int_equal(fake->callbacks, 1);
    assert_true(fake->last_reply_null);
}

static void test_init_rejects_bad_options(void **state) {
    struct fake *fake = *state;
    uint8_t memory[64];
    struct tc_arena arena;
    tc_arena_init(&arena, memory, sizeof(memory));
    struct tc_client *client = NULL;
    struct tc_client_options options = {
        .cluster = CLUSTER, .group = GROUP, .replica_count = 3, .client_id = 0, .io = &fake->io};
    assert_int_equal(tc_client_init(&client, &options, &arena), TC_EINVAL);
    options.client_id = 1;
    options.replica_count = 0;
    assert_int_equal(tc_client_init(&client, &options, &arena), TC_EINVAL);
    options.replica_count = TC_REPLICAS_MAX + 1;
    assert_int_equal(tc_client_init(&client, &options, &arena), TC_EINVAL);
    options.replica_count = 3;
    assert_int_equal(tc_client_init(&client, &options, &arena), TC_ENOMEM);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_register_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resend_on_timeout_to_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_hint_resends_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_duplicate_invalid_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_reply_without_session_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unaligned_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eviction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eviction_while_idle_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eviction_while_registering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_rejects_bad_options, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
