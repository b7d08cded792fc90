// Unit and property tests of the room state machine (node/room) against its reference model
// (tests/lib/room_model.c). See docs/room.md for the semantics under test.

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "room.h"
#include "room_model.h"
#include "tc_arena.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_prng.h"

// ------------------------------------------------------------------------------------------------
// A sink that records every event (bodies copied), and checks at each one that the machine's state
// already includes it (the sink is called after the op's state change).

#define RECORDER_EVENTS_MAX 4096u

struct sink_event {
    bool message; // else a retention event (fields.redacted: a redaction event)
    uint32_t room_index;
    struct tc_room_message fields; // body points into `body` below
    uint8_t body[TC_ROOM_BODY_SIZE_MAX];
    struct tc_room_retention retention;
    uint64_t timestamp_ns;
};

struct recorder {
    const struct tc_room_machine *machine;
    struct sink_event *events; // RECORDER_EVENTS_MAX
    uint32_t count;
    uint32_t state_mismatches; // events the machine's reads did not already reflect
};

static bool bytes_zero(const uint8_t *bytes, uint32_t size) {
    uint8_t bits = 0;
    for (uint32_t i = 0; i < size; i++) bits |= bytes[i];
    return bits == 0;
}

static struct sink_event *recorder_next(struct recorder *recorder) {
    assert_true(recorder->count < RECORDER_EVENTS_MAX);
    struct sink_event *event = &recorder->events[recorder->count++];
    memset(event, 0, offsetof(struct sink_event, body));
    return event;
}

static void recorder_message(void *context, uint32_t room_index,
                             const struct tc_room_message *message) {
    struct recorder *recorder = context;
    struct sink_event *event = recorder_next(recorder);
    event->message = true;
    event->room_index = room_index;
    event->fields = *message;
    if (message->redacted) { // a redaction: the table already holds it, nothing else is set
        assert_null(message->body);
        assert_int_equal(message->body_size, 0);
        assert_true(bytes_zero(message->hash.bytes, sizeof(message->hash.bytes)));
        struct tc_room_info info;
        tc_room_info_at(recorder->machine, room_index, &info);
        if (info.room != message->room || message->seq == 0 || message->seq > info.seq_last ||
            !tc_room_redacted(recorder->machine, message->room, message->seq)) {
            recorder->state_mismatches += 1;
        }
        return;
    }
    assert_true(message->body_size >= 1 && message->body_size <= TC_ROOM_BODY_SIZE_MAX);
    memcpy(event->body, message->body, message->body_size);
    event->fields.body = event->body;
    struct tc_room_info info;
    tc_room_info_at(recorder->machine, room_index, &info);
    if (info.room != message->room || info.seq_last != message->seq ||
        !tc_hash256_equal(&info.hash_last, &message->hash)) {
        recorder->state_mismatches += 1;
    }
}

static void recorder_retention(void *context, uint32_t room_index,
                               const struct tc_room_retention *retention, uint64_t timestamp_ns) {
    struct recorder *recorder = context;
    struct sink_event *event = recorder_next(recorder);
    event->message = false;
    event->room_index = room_index;
    event->retention = *retention;
    event->timestamp_ns = timestamp_ns;
    struct tc_room_info info;
    tc_room_info_at(recorder->machine, room_index, &info);
    if (info.retention.mode != retention->mode || info.retention.value != retention->value) {
        recorder->state_mismatches += 1;
    }
}

// ------------------------------------------------------------------------------------------------
// Fixture: one machine over a heap arena with a recording sink, the reference model as its shadow
// (every batch any test applies goes to both, and their replies must agree), an op counter and
// reply/batch buffers.

struct fixture {
    struct tc_room_config config;
    void *memory;
    struct tc_arena arena;
    struct tc_room_machine *machine;
    struct tc_room_model *model;
    struct recorder recorder;
    uint64_t op;
    uint8_t reply[TC_ROOM_REPLY_SIZE_MAX];
    uint32_t reply_size;
    uint8_t batch_buffer[TC_ROOM_BATCH_SIZE_MAX];
    struct tc_room_batch batch;
};

static struct tc_room_config config_small(void) {
    struct tc_room_config config = {
        .rooms_max = 8,
        .members_max = 32,
        .idempotency_keys_max = 16,
        .messages_max = 16,
        .store_bytes_max = 0,
    };
    return config;
}

static void fixture_sink(struct fixture *f, bool installed) {
    struct tc_room_sink sink = {.context = &f->recorder,
                                .message = recorder_message,
                                .retention = recorder_retention};
    tc_room_set_sink(f->machine, installed ? &sink : NULL);
}

static struct fixture *fixture_create(const struct tc_room_config *config) {
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->config = *config;
    uint64_t size = tc_room_memory_size(config);
    f->memory = malloc(size);
    assert_non_null(f->memory);
    tc_arena_init(&f->arena, f->memory, size);
    assert_int_equal(tc_room_init(&f->machine, config, &f->arena), TC_OK);
    tc_arena_seal(&f->arena);
    tc_room_batch_init(&f->batch, f->batch_buffer, sizeof(f->batch_buffer));
    f->recorder.machine = f->machine;
    f->recorder.events = calloc(RECORDER_EVENTS_MAX, sizeof(*f->recorder.events));
    assert_non_null(f->recorder.events);
    fixture_sink(f, true);
    f->model = tc_room_model_create(config);
    assert_non_null(f->model);
    return f;
}

static void fixture_destroy(struct fixture *f) {
    assert_int_equal(f->recorder.state_mismatches, 0);
    uint64_t used = tc_room_store_bytes_used(f->machine);
    assert_int_equal(used, tc_room_model_store_bytes_used(f->model));
    tc_room_model_destroy(f->model);
    free(f->recorder.events);
    free(f->memory);
    free(f);
}

static void batch_reset(struct fixture *f) {
    tc_room_batch_init(&f->batch, f->batch_buffer, sizeof(f->batch_buffer));
}

static uint64_t timestamp_for(uint64_t op) { return 1700000000000000000ull + op * 1000u; }

// How often each status came up in the replies of every test (test_property_vs_model checks that
// each one did, across its runs).
static uint64_t statuses_seen[TC_ROOM_STATUS_COUNT];
// Redaction events the property runs compared with the model.
static uint64_t redaction_events_seen;

// Applies raw bytes to the machine and its model; returns the result count.
static uint32_t apply_raw(struct fixture *f, const uint8_t *body, uint32_t size) {
    static struct tc_room_result expected[TC_ROOM_BATCH_OPS_MAX];
    f->op += 1;
    f->reply_size = tc_room_apply(f->machine, f->op, timestamp_for(f->op), 7, body, size, f->reply,
                                  sizeof(f->reply));
    int count = tc_room_reply_count(f->reply, f->reply_size);
    assert_true(count >= 1);
    uint32_t model_count =
        tc_room_model_apply(f->model, timestamp_for(f->op), body, size, expected);
    assert_int_equal((uint32_t)count, model_count);
    int32_t mismatch = tc_room_model_reply_mismatch(expected, model_count, f->reply, f->reply_size);
    if (mismatch != -1) {
        struct tc_room_result got;
        assert_int_equal(tc_room_reply_get(f->reply, f->reply_size, (uint32_t)mismatch, &got), 0);
        fail_msg("op %llu result %d: model %s seq %llu, machine %s seq %llu",
                 (unsigned long long)f->op, mismatch,
                 tc_room_status_name(expected[mismatch].status),
                 (unsigned long long)expected[mismatch].seq, tc_room_status_name(got.status),
                 (unsigned long long)got.seq);
    }
    for (uint32_t i = 0; i < model_count; i++) statuses_seen[expected[i].status] += 1;
    return (uint32_t)count;
}

// Applies the fixture's batch and resets it.
static uint32_t apply_batch(struct fixture *f) {
    uint32_t count = apply_raw(f, f->batch.buffer, f->batch.size);
    assert_int_equal(count, f->batch.op_count);
    batch_reset(f);
    return count;
}

static struct tc_room_result result_at(const struct fixture *f, uint32_t index) {
    struct tc_room_result result;
    assert_int_equal(tc_room_reply_get(f->reply, f->reply_size, index, &result), TC_OK);
    return result;
}

static uint8_t status_at(const struct fixture *f, uint32_t index) {
    return result_at(f, index).status;
}

// One-op helpers: build, apply, return the single result.
static struct tc_room_result do_create(struct fixture *f, uint64_t room, uint64_t creator) {
    assert_int_equal(tc_room_batch_add_create_room(&f->batch, room, creator), TC_OK);
    apply_batch(f);
    return result_at(f, 0);
}

static struct tc_room_result do_dm(struct fixture *f, uint64_t room, uint64_t a, uint64_t b) {
    assert_int_equal(tc_room_batch_add_create_dm(&f->batch, room, a, b), TC_OK);
    apply_batch(f);
    return result_at(f, 0);
}

static struct tc_room_result do_join(struct fixture *f, uint64_t room, uint64_t user) {
    assert_int_equal(tc_room_batch_add_join(&f->batch, room, user), TC_OK);
    apply_batch(f);
    return result_at(f, 0);
}

static struct tc_room_result do_leave(struct fixture *f, uint64_t room, uint64_t user) {
    assert_int_equal(tc_room_batch_add_leave(&f->batch, room, user), TC_OK);
    apply_batch(f);
    return result_at(f, 0);
}

static void key_from(uint8_t key[TC_ROOM_KEY_SIZE], uint64_t value) {
    memset(key, 0, TC_ROOM_KEY_SIZE);
    memcpy(key, &value, sizeof(value));
}

static struct tc_room_result do_send_body(struct fixture *f, uint64_t room, uint64_t sender,
                                          uint64_t key_value, uint64_t parent, const void *body,
                                          uint32_t body_size) {
    uint8_t key[TC_ROOM_KEY_SIZE];
    key_from(key, key_value);
    assert_int_equal(tc_room_batch_add_send(&f->batch, room, sender, key, parent, body, body_size),
                     TC_OK);
    apply_batch(f);
    return result_at(f, 0);
}

static struct tc_room_result do_send(struct fixture *f, uint64_t room, uint64_t sender,
                                     uint64_t key_value, uint64_t parent, const char *text) {
    return do_send_body(f, room, sender, key_value, parent, text, (uint32_t)strlen(text));
}

// A set_retention op written byte by byte (any mode and reserved value: the encoder refuses bad
// modes), applied alone.
static struct tc_room_result do_retention_raw(struct fixture *f, uint64_t room, uint64_t user,
                                              uint32_t mode, uint32_t reserved, uint64_t value) {
    uint8_t bytes[TC_ROOM_BATCH_HEADER_SIZE + TC_ROOM_OP_RETENTION_SIZE];
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, bytes, sizeof(bytes));
    assert_int_equal(tc_room_batch_add_set_retention(&batch, room, user, 0, 0), TC_OK);
    uint8_t *op = bytes + TC_ROOM_BATCH_HEADER_SIZE;
    for (uint32_t i = 0; i < 4; i++) op[24 + i] = (uint8_t)(mode >> (8u * i));
    for (uint32_t i = 0; i < 4; i++) op[28 + i] = (uint8_t)(reserved >> (8u * i));
    for (uint32_t i = 0; i < 8; i++) op[32 + i] = (uint8_t)(value >> (8u * i));
    assert_int_equal(apply_raw(f, bytes, batch.size), 1);
    return result_at(f, 0);
}

static struct tc_room_result do_retention(struct fixture *f, uint64_t room, uint64_t user,
                                          uint8_t mode, uint64_t value) {
    return do_retention_raw(f, room, user, mode, 0, value);
}

static struct tc_room_result do_read_marker(struct fixture *f, uint64_t room, uint64_t user,
                                            uint64_t seq) {
    assert_int_equal(tc_room_batch_add_read_marker(&f->batch, room, user, seq), TC_OK);
    apply_batch(f);
    return result_at(f, 0);
}

static struct tc_room_result do_redact(struct fixture *f, uint64_t room, uint64_t user,
                                       uint64_t seq) {
    assert_int_equal(tc_room_batch_add_redact(&f->batch, room, user, seq), TC_OK);
    apply_batch(f);
    return result_at(f, 0);
}

// Whether (room, seq) is redacted, asserting that the machine and the model agree.
static bool redacted_both(const struct fixture *f, uint64_t room, uint64_t seq) {
    bool redacted = tc_room_redacted(f->machine, room, seq);
    assert_int_equal(redacted, tc_room_model_redacted(f->model, room, seq));
    assert_int_equal(tc_room_redaction_count(f->machine), tc_room_model_redaction_count(f->model));
    return redacted;
}

// The member's read marker as the machine and the model both read it; TC_ENOENT in both when
// `expected` is UINT64_MAX.
static void assert_marker(const struct fixture *f, uint64_t room, uint64_t user,
                          uint64_t expected) {
    uint64_t seq = 77;
    uint64_t model_seq = 77;
    int rc = tc_room_read_marker(f->machine, room, user, &seq);
    assert_int_equal(tc_room_model_read_marker(f->model, room, user, &model_seq), rc);
    if (expected == UINT64_MAX) {
        assert_int_equal(rc, TC_ENOENT);
        assert_int_equal(seq, 77); // untouched
        return;
    }
    assert_int_equal(rc, TC_OK);
    assert_int_equal(seq, expected);
    assert_int_equal(model_seq, expected);
}

static struct tc_checksum digest_of(const struct fixture *f) {
    struct tc_checksum digest;
    tc_room_digest(f->machine, &digest);
    return digest;
}

static void assert_digest_unchanged(const struct fixture *f, const struct tc_checksum *before) {
    struct tc_checksum after = digest_of(f);
    assert_true(tc_checksum_equal(before, &after));
}

// ------------------------------------------------------------------------------------------------
// Config, memory, codec.

static void test_config(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    assert_null(tc_room_config_invalid(&config));
    assert_non_null(tc_room_config_invalid(NULL));
    struct tc_room_config bad = config;
    bad.rooms_max = 0;
    assert_non_null(tc_room_config_invalid(&bad));
    bad = config;
    bad.members_max = 1;
    assert_non_null(tc_room_config_invalid(&bad));
    bad = config;
    bad.messages_max = 0;
    assert_non_null(tc_room_config_invalid(&bad));
    bad = config;
    bad.store_bytes_max = (1ull << 62) + 1u;
    assert_non_null(tc_room_config_invalid(&bad));
    bad.store_bytes_max = 1ull << 62; // the largest budget
    assert_null(tc_room_config_invalid(&bad));
    bad.store_bytes_max = 1; // too small for any message, but valid: every send is store_full
    assert_null(tc_room_config_invalid(&bad));

    // An arena one byte too small fails cleanly; the exact size succeeds.
    uint64_t size = tc_room_memory_size(&config);
    void *memory = malloc(size);
    assert_non_null(memory);
    struct tc_arena arena;
    struct tc_room_machine *machine = NULL;
    tc_arena_init(&arena, memory, size / 2);
    assert_int_equal(tc_room_init(&machine, &config, &arena), TC_ENOMEM);
    assert_null(machine);
    tc_arena_init(&arena, memory, size);
    assert_int_equal(tc_room_init(&machine, &config, &arena), TC_OK);
    assert_non_null(machine);
    assert_true(arena.used_bytes <= size);
    assert_int_equal(tc_room_count(machine), 0);
    assert_int_equal(tc_room_store_bytes_used(machine), 0);
    free(memory);
}

static void test_store_cost(void **state) {
    (void)state;
    // Record header 152 + at most 10 tower pointers of 32 + the body padded to 8 (docs/store.md).
    assert_int_equal(TC_ROOM_STORE_COST(1), 152 + 320 + 8);
    assert_int_equal(TC_ROOM_STORE_COST(8), 480);
    assert_int_equal(TC_ROOM_STORE_COST(9), 488);
    assert_int_equal(TC_ROOM_STORE_COST(4095), 472 + 4096);
    assert_int_equal(TC_ROOM_STORE_COST(TC_ROOM_BODY_SIZE_MAX), 472 + 4096);
}

static void test_codec_builder_limits(void **state) {
    (void)state;
    uint8_t buffer[TC_ROOM_BATCH_HEADER_SIZE + TC_ROOM_OP_ROOM_SIZE * 2];
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, buffer, sizeof(buffer));
    assert_int_equal(tc_room_validate_batch(buffer, batch.size), TC_ECORRUPT); // zero ops
    assert_int_equal(tc_room_batch_add_join(&batch, 1, 2), TC_OK);
    assert_int_equal(tc_room_batch_add_leave(&batch, 1, 2), TC_OK);
    uint32_t size = batch.size;
    assert_int_equal(tc_room_batch_add_join(&batch, 1, 3), TC_ENOSPC);
    assert_int_equal(tc_room_batch_add_set_retention(&batch, 1, 3, 0, 0), TC_ENOSPC);
    assert_int_equal(batch.size, size);
    assert_int_equal(batch.op_count, 2);
    assert_int_equal(tc_room_validate_batch(buffer, batch.size), TC_OK);

    uint8_t key[TC_ROOM_KEY_SIZE] = {1};
    static uint8_t big[TC_ROOM_BATCH_SIZE_MAX];
    tc_room_batch_init(&batch, big, sizeof(big));
    assert_int_equal(tc_room_batch_add_send(&batch, 1, 2, key, 0, key, 0), TC_EINVAL);
    static const uint8_t body[TC_ROOM_BODY_SIZE_MAX + 1] = {0};
    assert_int_equal(tc_room_batch_add_send(&batch, 1, 2, key, 0, body, sizeof(body)), TC_EINVAL);
    for (uint32_t i = 0; i < TC_ROOM_BATCH_OPS_MAX; i++) { // the largest fixed-size op, 512 times
        assert_int_equal(tc_room_batch_add_set_retention(&batch, 1, i + 1, 1, 7), TC_OK);
    }
    assert_int_equal(tc_room_batch_add_join(&batch, 1, 9999), TC_ENOSPC);
    assert_int_equal(tc_room_validate_batch(big, batch.size), TC_OK);

    // Max-size sends until the message body is full.
    tc_room_batch_init(&batch, big, sizeof(big));
    uint32_t sends = 0;
    while (tc_room_batch_add_send(&batch, 1, 2, key, 0, body, TC_ROOM_BODY_SIZE_MAX) == TC_OK) {
        sends++;
    }
    assert_true(sends >= 30);
    assert_int_equal(tc_room_validate_batch(big, batch.size), TC_OK);
    assert_true(tc_room_status_name(TC_ROOM_DM_FIXED)[0] == 'd');
    assert_string_equal(tc_room_status_name(200), "unknown");
    assert_string_equal(tc_room_status_name(TC_ROOM_MALFORMED_BATCH), "malformed_batch");
    assert_string_equal(tc_room_status_name(15), "store_full");
    assert_string_equal(tc_room_status_name(16), "invalid_retention");
    assert_string_equal(tc_room_status_name(17), "invalid_seq");
    assert_string_equal(tc_room_status_name(18), "message_evicted");
    assert_string_equal(tc_room_status_name(19), "redactions_full");
    assert_string_equal(tc_room_status_name(20), "not_sender");
    assert_string_equal(tc_room_status_name(21), "unknown");
    assert_int_equal(TC_ROOM_STATUS_COUNT, 21);
}

static void test_codec_read_marker(void **state) {
    (void)state;
    uint8_t buffer[TC_ROOM_BATCH_HEADER_SIZE + 3 * TC_ROOM_OP_READ_MARKER_SIZE];
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, buffer, sizeof(buffer));
    // Any seq encodes: the machine checks it against the head.
    const uint64_t seqs[3] = {0, 13, UINT64_MAX};
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(tc_room_batch_add_read_marker(&batch, 10 + i, 20 + i, seqs[i]), TC_OK);
    }
    assert_int_equal(batch.size, sizeof(buffer));
    assert_int_equal(tc_room_batch_add_read_marker(&batch, 1, 1, 1), TC_ENOSPC);
    assert_int_equal(batch.size, sizeof(buffer));
    assert_int_equal(batch.op_count, 3);
    // The wire layout (docs/room.md §8): kind 7, op_size 32, room, user, seq.
    const uint8_t *op = buffer + TC_ROOM_BATCH_HEADER_SIZE + TC_ROOM_OP_READ_MARKER_SIZE;
    const uint8_t expected[32] = {7, 0, 0, 0, 32, 0, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0,
                                  21, 0, 0, 0, 0, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(op, expected, sizeof(expected));
    struct tc_room_batch_reader reader;
    assert_int_equal(tc_room_batch_reader_init(&reader, buffer, batch.size), TC_OK);
    struct tc_room_op decoded;
    for (uint32_t i = 0; i < 3; i++) {
        assert_true(tc_room_batch_reader_next(&reader, &decoded));
        assert_int_equal(decoded.kind, TC_ROOM_OP_READ_MARKER);
        assert_int_equal(decoded.room, 10 + i);
        assert_int_equal(decoded.user, 20 + i);
        assert_int_equal(decoded.seq, seqs[i]);
        assert_int_equal(decoded.user_b, 0);
        assert_null(decoded.body);
    }
    assert_false(tc_room_batch_reader_next(&reader, &decoded));
    // 512 of them fit a message body (the largest fixed-size op, set_retention, does).
    static uint8_t big[TC_ROOM_BATCH_SIZE_MAX];
    tc_room_batch_init(&batch, big, sizeof(big));
    for (uint32_t i = 0; i < TC_ROOM_BATCH_OPS_MAX; i++) {
        assert_int_equal(tc_room_batch_add_read_marker(&batch, 1, i + 1, i), TC_OK);
    }
    assert_int_equal(tc_room_batch_add_read_marker(&batch, 1, 1, 1), TC_ENOSPC);
    assert_int_equal(tc_room_validate_batch(big, batch.size), TC_OK);
}

static void test_codec_set_retention(void **state) {
    (void)state;
    uint8_t buffer[TC_ROOM_BATCH_HEADER_SIZE + 8 * TC_ROOM_OP_RETENTION_SIZE];
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, buffer, sizeof(buffer));
    // The encoder refuses what the machine would refuse, and accepts every boundary value.
    struct {
        uint8_t mode;
        uint64_t value;
        int rc;
    } cases[] = {
        {TC_ROOM_RETENTION_KEEP_ALL, 0, TC_OK},
        {TC_ROOM_RETENTION_KEEP_ALL, 1, TC_EINVAL},
        {TC_ROOM_RETENTION_KEEP_DAYS, 0, TC_EINVAL},
        {TC_ROOM_RETENTION_KEEP_DAYS, 1, TC_OK},
        {TC_ROOM_RETENTION_KEEP_DAYS, TC_ROOM_RETENTION_DAYS_MAX, TC_OK},
        {TC_ROOM_RETENTION_KEEP_DAYS, TC_ROOM_RETENTION_DAYS_MAX + 1u, TC_EINVAL},
        {TC_ROOM_RETENTION_KEEP_MESSAGES, 0, TC_EINVAL},
        {TC_ROOM_RETENTION_KEEP_MESSAGES, 1, TC_OK},
        {TC_ROOM_RETENTION_KEEP_MESSAGES, TC_ROOM_RETENTION_MESSAGES_MAX, TC_OK},
        {TC_ROOM_RETENTION_KEEP_MESSAGES, TC_ROOM_RETENTION_MESSAGES_MAX + 1u, TC_EINVAL},
        {3, 1, TC_EINVAL},
        {255, 0, TC_EINVAL},
    };
    uint32_t added = 0;
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        uint32_t size = batch.size;
        int rc = tc_room_batch_add_set_retention(&batch, 10 + i, 20 + i, cases[i].mode,
                                                 cases[i].value);
        assert_int_equal(rc, cases[i].rc);
        if (rc == TC_OK) added += 1;
        if (rc != TC_OK) assert_int_equal(batch.size, size);
    }
    assert_int_equal(batch.op_count, added);
    assert_int_equal(batch.size, TC_ROOM_BATCH_HEADER_SIZE + added * TC_ROOM_OP_RETENTION_SIZE);
    // The reader gives back every field.
    struct tc_room_batch_reader reader;
    assert_int_equal(tc_room_batch_reader_init(&reader, buffer, batch.size), TC_OK);
    struct tc_room_op op;
    uint32_t read = 0;
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        if (cases[i].rc != TC_OK) continue;
        assert_true(tc_room_batch_reader_next(&reader, &op));
        assert_int_equal(op.kind, TC_ROOM_OP_SET_RETENTION);
        assert_int_equal(op.room, 10 + i);
        assert_int_equal(op.user, 20 + i);
        assert_int_equal(op.retention.mode, cases[i].mode);
        assert_int_equal(op.retention.value, cases[i].value);
        read += 1;
    }
    assert_false(tc_room_batch_reader_next(&reader, &op));
    assert_int_equal(read, added);
    // A wire mode above 255 decodes as 255: still unknown, never a valid mode by truncation.
    buffer[TC_ROOM_BATCH_HEADER_SIZE + 24] = 1;
    buffer[TC_ROOM_BATCH_HEADER_SIZE + 25] = 1; // 0x101: would truncate to keep_days
    assert_int_equal(tc_room_batch_reader_init(&reader, buffer, batch.size), TC_OK);
    assert_true(tc_room_batch_reader_next(&reader, &op));
    assert_int_equal(op.retention.mode, 255);
}

static void test_codec_reply_decoder(void **state) {
    (void)state;
    uint8_t reply[TC_ROOM_REPLY_SIZE_MAX];
    struct tc_room_reply_writer writer;
    tc_room_reply_writer_init(&writer, reply, sizeof(reply));
    struct tc_room_result in = {
        .status = TC_ROOM_OK, .duplicate = true, .seq = 42, .thread_seq = 3};
    memset(in.hash.bytes, 0xab, sizeof(in.hash.bytes));
    tc_room_reply_writer_add(&writer, &in);
    struct tc_room_result err = {.status = TC_ROOM_NOT_MEMBER};
    tc_room_reply_writer_add(&writer, &err);
    struct tc_room_result full = {.status = TC_ROOM_INVALID_RETENTION};
    tc_room_reply_writer_add(&writer, &full);
    uint32_t size = tc_room_reply_writer_finish(&writer);
    assert_int_equal(size, TC_ROOM_REPLY_HEADER_SIZE + 3 * TC_ROOM_RESULT_SIZE);
    assert_int_equal(tc_room_reply_count(reply, size), 3);
    struct tc_room_result out;
    assert_int_equal(tc_room_reply_get(reply, size, 0, &out), TC_OK);
    assert_true(tc_room_result_equal(&in, &out));
    assert_int_equal(tc_room_reply_get(reply, size, 1, &out), TC_OK);
    assert_true(tc_room_result_equal(&err, &out));
    assert_int_equal(tc_room_reply_get(reply, size, 2, &out), TC_OK);
    assert_true(tc_room_result_equal(&full, &out));
    assert_int_equal(tc_room_reply_get(reply, size, 3, &out), TC_ERANGE);
    assert_int_equal(tc_room_reply_count(reply, size - 1), TC_ECORRUPT);
    assert_int_equal(tc_room_reply_count(reply, 3), TC_ECORRUPT);
    reply[TC_ROOM_REPLY_HEADER_SIZE + 2 * TC_ROOM_RESULT_SIZE] = TC_ROOM_STATUS_COUNT; // unknown
    assert_int_equal(tc_room_reply_get(reply, size, 2, &out), TC_ECORRUPT);
    reply[TC_ROOM_REPLY_HEADER_SIZE] = 99; // unknown status
    assert_int_equal(tc_room_reply_get(reply, size, 0, &out), TC_ECORRUPT);
    reply[0] ^= 1; // magic
    assert_int_equal(tc_room_reply_count(reply, size), TC_ECORRUPT);
}

// ------------------------------------------------------------------------------------------------
// Rooms, members, DMs.

static void test_create_join_leave(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 100, 1).status, TC_ROOM_OK);
    assert_int_equal(do_create(f, 100, 2).status, TC_ROOM_ROOM_EXISTS);
    assert_int_equal(do_create(f, 0, 1).status, TC_ROOM_INVALID_ROOM);
    assert_int_equal(do_create(f, 101, 0).status, TC_ROOM_INVALID_USER);
    assert_int_equal(tc_room_count(f->machine), 1);

    assert_int_equal(do_join(f, 100, 2).status, TC_ROOM_OK);
    assert_int_equal(do_join(f, 100, 2).status, TC_ROOM_ALREADY_MEMBER);
    assert_int_equal(do_join(f, 100, 1).status, TC_ROOM_ALREADY_MEMBER); // the creator
    assert_int_equal(do_join(f, 999, 2).status, TC_ROOM_ROOM_NOT_FOUND);
    assert_int_equal(do_join(f, 0, 2).status, TC_ROOM_INVALID_ROOM);
    assert_int_equal(do_join(f, 100, 0).status, TC_ROOM_INVALID_USER);

    assert_int_equal(do_send(f, 100, 2, 1, 0, "hi").status, TC_ROOM_OK);
    assert_int_equal(do_leave(f, 100, 2).status, TC_ROOM_OK);
    assert_int_equal(do_leave(f, 100, 2).status, TC_ROOM_NOT_MEMBER);
    assert_int_equal(do_send(f, 100, 2, 2, 0, "hi").status, TC_ROOM_NOT_MEMBER);
    assert_int_equal(do_leave(f, 999, 2).status, TC_ROOM_ROOM_NOT_FOUND);

    // A successful join reports the chain head at join time.
    struct tc_room_result joined = do_join(f, 100, 3);
    assert_int_equal(joined.status, TC_ROOM_OK);
    assert_int_equal(joined.seq, 1);
    uint64_t seq = 0;
    struct tc_hash256 head;
    assert_int_equal(tc_room_chain_head(f->machine, 100, &seq, &head), TC_OK);
    assert_int_equal(seq, 1);
    assert_true(tc_hash256_equal(&head, &joined.hash));
    assert_int_equal(tc_room_chain_head(f->machine, 12345, &seq, &head), TC_ENOENT);

    // Everyone leaves; the room stays and can be re-joined.
    assert_int_equal(do_leave(f, 100, 1).status, TC_ROOM_OK);
    assert_int_equal(do_leave(f, 100, 3).status, TC_ROOM_OK);
    assert_int_equal(do_join(f, 100, 1).status, TC_ROOM_OK);
    fixture_destroy(f);
}

static void test_dm_rules(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_dm(f, 7, 10, 10).status, TC_ROOM_INVALID_USER);
    assert_int_equal(do_dm(f, 7, 0, 10).status, TC_ROOM_INVALID_USER);
    assert_int_equal(do_dm(f, 7, 10, 0).status, TC_ROOM_INVALID_USER);
    assert_int_equal(do_dm(f, 0, 10, 11).status, TC_ROOM_INVALID_ROOM);
    assert_int_equal(do_dm(f, 7, 10, 11).status, TC_ROOM_OK);
    assert_int_equal(do_dm(f, 7, 12, 13).status, TC_ROOM_ROOM_EXISTS);
    assert_int_equal(do_create(f, 7, 12).status, TC_ROOM_ROOM_EXISTS);
    assert_int_equal(do_join(f, 7, 12).status, TC_ROOM_DM_FIXED);
    assert_int_equal(do_join(f, 7, 10).status, TC_ROOM_DM_FIXED);
    assert_int_equal(do_leave(f, 7, 10).status, TC_ROOM_DM_FIXED);
    assert_int_equal(do_leave(f, 7, 12).status, TC_ROOM_DM_FIXED);
    assert_int_equal(do_send(f, 7, 10, 1, 0, "a").status, TC_ROOM_OK);
    assert_int_equal(do_send(f, 7, 11, 2, 0, "b").status, TC_ROOM_OK);
    assert_int_equal(do_send(f, 7, 12, 3, 0, "c").status, TC_ROOM_NOT_MEMBER);
    uint64_t seq = 0;
    struct tc_hash256 head;
    assert_int_equal(tc_room_chain_head(f->machine, 7, &seq, &head), TC_OK);
    assert_int_equal(seq, 2);
    fixture_destroy(f);
}

static void test_capacity(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    config.rooms_max = 3;
    config.members_max = 4;
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 1, 10).status, TC_ROOM_OK);
    assert_int_equal(do_dm(f, 2, 10, 11).status, TC_ROOM_OK);
    assert_int_equal(do_join(f, 1, 12).status, TC_ROOM_OK); // 4 members now
    assert_int_equal(do_join(f, 1, 13).status, TC_ROOM_MEMBERS_FULL);
    assert_int_equal(do_create(f, 3, 10).status, TC_ROOM_MEMBERS_FULL);
    assert_int_equal(tc_room_count(f->machine), 2); // nothing half-created
    assert_int_equal(do_leave(f, 1, 12).status, TC_ROOM_OK);
    assert_int_equal(do_dm(f, 3, 20, 21).status, TC_ROOM_MEMBERS_FULL); // needs two
    assert_int_equal(do_create(f, 3, 20).status, TC_ROOM_OK);
    assert_int_equal(do_create(f, 4, 20).status, TC_ROOM_ROOMS_FULL);
    assert_int_equal(do_dm(f, 4, 20, 21).status, TC_ROOM_ROOMS_FULL);
    assert_int_equal(do_create(f, 3, 20).status, TC_ROOM_ROOM_EXISTS); // exists before full
    assert_int_equal(tc_room_count(f->machine), 3);
    fixture_destroy(f);
}

// ------------------------------------------------------------------------------------------------
// ------------------------------------------------------------------------------------------------
// Sends: idempotency, the hash chain, threads.

static void test_idempotency(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    config.idempotency_keys_max = 4;
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 5, 1).status, TC_ROOM_OK);
    struct tc_room_result first = do_send(f, 5, 1, 77, 0, "hello");
    assert_int_equal(first.status, TC_ROOM_OK);
    assert_false(first.duplicate);
    assert_int_equal(first.seq, 1);
    struct tc_checksum before = digest_of(f);

    // Same key, different body, later timestamp: the original result, nothing committed.
    struct tc_room_result again = do_send(f, 5, 1, 77, 0, "something else");
    assert_int_equal(again.status, TC_ROOM_OK);
    assert_true(again.duplicate);
    assert_int_equal(again.seq, first.seq);
    assert_true(tc_hash256_equal(&again.hash, &first.hash));
    struct tc_checksum after = digest_of(f);
    assert_true(tc_checksum_equal(&before, &after));

    // Twice in one batch: the second op is the duplicate of the first.
    uint8_t key[TC_ROOM_KEY_SIZE];
    key_from(key, 78);
    assert_int_equal(tc_room_batch_add_send(&f->batch, 5, 1, key, 0, (const uint8_t *)"x", 1), 0);
    assert_int_equal(tc_room_batch_add_send(&f->batch, 5, 1, key, 0, (const uint8_t *)"y", 1), 0);
    apply_batch(f);
    assert_int_equal(result_at(f, 0).seq, 2);
    assert_false(result_at(f, 0).duplicate);
    assert_int_equal(result_at(f, 1).seq, 2);
    assert_true(result_at(f, 1).duplicate);

    // The same key in another room is a different key. A zero key is invalid.
    assert_int_equal(do_create(f, 6, 1).status, TC_ROOM_OK);
    struct tc_room_result other = do_send(f, 6, 1, 77, 0, "hello");
    assert_false(other.duplicate);
    assert_int_equal(other.seq, 1);
    assert_int_equal(do_send(f, 5, 1, 0, 0, "zero").status, TC_ROOM_INVALID_KEY);

    // A retry after leaving still gets the original (the key check precedes membership).
    assert_int_equal(do_join(f, 5, 2).status, TC_ROOM_OK);
    struct tc_room_result by_two = do_send(f, 5, 2, 90, 0, "two");
    assert_int_equal(do_leave(f, 5, 2).status, TC_ROOM_OK);
    struct tc_room_result retry = do_send(f, 5, 2, 90, 0, "two");
    assert_true(retry.duplicate);
    assert_int_equal(retry.seq, by_two.seq);

    // A failed send records nothing: key 91 is fresh after the failure.
    assert_int_equal(do_send(f, 5, 2, 91, 0, "x").status, TC_ROOM_NOT_MEMBER);
    assert_false(do_send(f, 5, 1, 91, 0, "x").duplicate);

    // Window: 4 keys remembered. Keys 77 (room 5) is the oldest and has been forgotten by now.
    struct tc_room_result forgotten = do_send(f, 5, 1, 77, 0, "hello");
    assert_false(forgotten.duplicate);
    assert_true(forgotten.seq > first.seq);
    fixture_destroy(f);
}

static void le64(uint8_t *out, uint64_t v) {
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)(v >> (8 * i));
}

static void test_hash_chain(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    struct fixture *f = fixture_create(&config);
    const uint64_t room = 0x0102030405060708ull;
    assert_int_equal(do_create(f, room, 9).status, TC_ROOM_OK);
    const char *bodies[3] = {"one", "two two", "three three three"};
    struct tc_hash256 prev;
    memset(&prev, 0, sizeof(prev));
    for (uint32_t i = 0; i < 3; i++) {
        struct tc_room_result result = do_send(f, room, 9, 100 + i, 0, bodies[i]);
        assert_int_equal(result.status, TC_ROOM_OK);
        assert_int_equal(result.seq, i + 1);
        // By hand: BLAKE2b-256(prev || room || seq || sender || timestamp || BLAKE2b-256(body)).
        uint8_t preimage[96];
        memcpy(preimage, prev.bytes, 32);
        le64(preimage + 32, room);
        le64(preimage + 40, i + 1);
        le64(preimage + 48, 9);
        le64(preimage + 56, timestamp_for(f->op));
        struct tc_hash256 body_hash;
        tc_hash256_compute(&body_hash, bodies[i], strlen(bodies[i]));
        memcpy(preimage + 64, body_hash.bytes, 32);
        struct tc_hash256 expected;
        tc_hash256_compute(&expected, preimage, sizeof(preimage));
        assert_true(tc_hash256_equal(&expected, &result.hash));
        prev = expected;
    }
    // The sink saw the same chain: seq 1 links to zeros, each later one to the one before.
    assert_int_equal(f->recorder.count, 3);
    const struct sink_event *events = f->recorder.events;
    struct tc_hash256 zero;
    memset(&zero, 0, sizeof(zero));
    assert_true(tc_hash256_equal(&events[0].fields.prev_hash, &zero));
    for (uint32_t i = 1; i < 3; i++) {
        assert_true(tc_hash256_equal(&events[i].fields.prev_hash, &events[i - 1].fields.hash));
    }
    assert_true(tc_hash256_equal(&events[2].fields.hash, &prev));
    assert_memory_equal(events[1].fields.body, "two two", 7);
    assert_int_equal(events[1].fields.sender, 9);
    uint64_t seq = 0;
    struct tc_hash256 head;
    assert_int_equal(tc_room_chain_head(f->machine, room, &seq, &head), TC_OK);
    assert_int_equal(seq, 3);
    assert_true(tc_hash256_equal(&head, &prev));
    fixture_destroy(f);
}

static void test_threads(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    config.messages_max = 6;
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 1, 1).status, TC_ROOM_OK);
    assert_int_equal(do_send(f, 1, 1, 1, 0, "root A").seq, 1);
    assert_int_equal(do_send(f, 1, 1, 2, 0, "root B").seq, 2);
    struct tc_room_result r1 = do_send(f, 1, 1, 3, 1, "A.1");
    assert_int_equal(r1.seq, 3);
    assert_int_equal(r1.thread_seq, 1);
    struct tc_room_result r2 = do_send(f, 1, 1, 4, 2, "B.1");
    assert_int_equal(r2.seq, 4);
    assert_int_equal(r2.thread_seq, 1);
    struct tc_room_result r3 = do_send(f, 1, 1, 5, 1, "A.2");
    assert_int_equal(r3.seq, 5);
    assert_int_equal(r3.thread_seq, 2);
    struct tc_room_result dup = do_send(f, 1, 1, 5, 1, "A.2");
    assert_true(dup.duplicate);
    assert_int_equal(dup.thread_seq, 2);
    assert_int_equal(do_send(f, 1, 1, 6, 3, "reply to reply").status,
                     TC_ROOM_THREAD_PARENT_IS_REPLY);
    assert_int_equal(do_send(f, 1, 1, 6, 6, "self").status, TC_ROOM_THREAD_PARENT_NOT_FOUND);
    assert_int_equal(do_send(f, 1, 1, 6, 99, "future").status, TC_ROOM_THREAD_PARENT_NOT_FOUND);

    // The sink saw the five messages with their thread fields (not the duplicate, not the errors).
    assert_int_equal(f->recorder.count, 5);
    const struct sink_event *events = f->recorder.events;
    assert_int_equal(events[0].fields.thread_parent_seq, 0);
    assert_int_equal(events[0].fields.thread_seq, 0);
    assert_int_equal(events[2].fields.thread_parent_seq, 1);
    assert_int_equal(events[2].fields.thread_seq, 1);
    assert_int_equal(events[3].fields.thread_parent_seq, 2);
    assert_int_equal(events[4].fields.thread_seq, 2);

    // Two more sends evict root A (messages_max 6); replying to it is then "evicted".
    assert_int_equal(do_send(f, 1, 1, 10, 0, "x").seq, 6);
    assert_int_equal(do_send(f, 1, 1, 11, 2, "B.2").thread_seq, 2);
    assert_int_equal(do_send(f, 1, 1, 12, 1, "A.3").status, TC_ROOM_THREAD_PARENT_EVICTED);
    fixture_destroy(f);
}

// ------------------------------------------------------------------------------------------------
// The thread window: the newest messages_max messages across all rooms, evicted by count only.

static void test_thread_window(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    config.messages_max = 4;
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 1, 1).status, TC_ROOM_OK);
    assert_int_equal(do_create(f, 2, 1).status, TC_ROOM_OK);
    static uint8_t big[TC_ROOM_BODY_SIZE_MAX];
    memset(big, 0x42, sizeof(big));
    // Max-size bodies cost nothing more in the window: 4 messages fit whatever their size.
    assert_int_equal(do_send_body(f, 1, 1, 1, 0, big, sizeof(big)).seq, 1); // root 1/1
    assert_int_equal(do_send_body(f, 2, 1, 2, 0, big, sizeof(big)).seq, 1); // root 2/1
    assert_int_equal(do_send(f, 2, 1, 3, 0, "2/2").seq, 2);
    assert_int_equal(do_send(f, 2, 1, 4, 1, "2/3 reply").thread_seq, 1);
    // The window is full (1/1, 2/1, 2/2, 2/3), and root 1/1 is its oldest: still in the window.
    // The reply's append evicts it, after the root's counter was taken.
    struct tc_room_result last = do_send(f, 1, 1, 5, 1, "1/2 reply");
    assert_int_equal(last.status, TC_ROOM_OK);
    assert_int_equal(last.thread_seq, 1);
    assert_int_equal(do_send(f, 1, 1, 6, 1, "1/3 reply").status, TC_ROOM_THREAD_PARENT_EVICTED);
    // Beyond seq_last is "not found", not "evicted", even when everything older is evicted.
    assert_int_equal(do_send(f, 1, 1, 6, 3, "x").status, TC_ROOM_THREAD_PARENT_NOT_FOUND);
    // A reply still in the window answers "is a reply"; the oldest root is still a root.
    assert_int_equal(do_send(f, 1, 1, 6, 2, "x").status, TC_ROOM_THREAD_PARENT_IS_REPLY);
    assert_int_equal(do_send(f, 2, 1, 6, 1, "2/4 reply").thread_seq, 2); // evicts 2/1
    assert_int_equal(do_send(f, 2, 1, 7, 1, "x").status, TC_ROOM_THREAD_PARENT_EVICTED);
    // Room 1's messages push room 2's out, one by one, oldest first.
    assert_int_equal(do_send(f, 1, 1, 7, 0, "1/3").seq, 3); // evicts 2/2
    assert_int_equal(do_send(f, 2, 1, 8, 2, "x").status, TC_ROOM_THREAD_PARENT_EVICTED);
    assert_int_equal(do_send(f, 2, 1, 8, 3, "x").status, TC_ROOM_THREAD_PARENT_IS_REPLY);
    assert_int_equal(do_send(f, 1, 1, 8, 0, "1/4").seq, 4);  // evicts 2/3
    assert_int_equal(do_send(f, 1, 1, 9, 0, "1/5").seq, 5);  // evicts 1/2
    assert_int_equal(do_send(f, 1, 1, 10, 0, "1/6").seq, 6); // evicts 2/4: room 2 is all gone
    assert_int_equal(do_send(f, 2, 1, 11, 4, "x").status, TC_ROOM_THREAD_PARENT_EVICTED);
    assert_int_equal(do_send(f, 2, 1, 11, 5, "x").status, TC_ROOM_THREAD_PARENT_NOT_FOUND);
    assert_int_equal(do_send(f, 1, 1, 11, 3, "1/7 reply").thread_seq, 1); // 1/3 is in
    // A duplicate of an evicted message still returns its original result (keys are separate).
    struct tc_room_result again = do_send(f, 2, 1, 4, 1, "2/3 reply");
    assert_true(again.duplicate);
    assert_int_equal(again.seq, 3);
    assert_int_equal(again.thread_seq, 1);
    // New messages of room 2 are roots again for new threads.
    assert_int_equal(do_send(f, 2, 1, 12, 0, "2/5").seq, 5);
    assert_int_equal(do_send(f, 2, 1, 13, 5, "2/6 reply").thread_seq, 1);
    fixture_destroy(f);
}

// ------------------------------------------------------------------------------------------------
// The store budget.

// Two machines that differ only by one byte of budget: the send that fits one exactly is one byte
// over in the other.
static void test_store_budget_exact(void **state) {
    (void)state;
    static uint8_t body[TC_ROOM_BODY_SIZE_MAX];
    memset(body, 7, sizeof(body));
    uint64_t used = TC_ROOM_STORE_COST(1) + TC_ROOM_STORE_COST(9) + TC_ROOM_STORE_COST(4096);
    uint64_t exact = used + TC_ROOM_STORE_COST(100);
    for (uint32_t variant = 0; variant < 2; variant++) {
        struct tc_room_config config = config_small();
        config.store_bytes_max = exact - variant; // variant 1: one byte short
        struct fixture *f = fixture_create(&config);
        assert_int_equal(do_create(f, 1, 1).status, TC_ROOM_OK);
        assert_int_equal(do_send_body(f, 1, 1, 1, 0, body, 1).status, TC_ROOM_OK);
        assert_int_equal(do_send_body(f, 1, 1, 2, 0, body, 9).status, TC_ROOM_OK);
        assert_int_equal(do_send_body(f, 1, 1, 3, 0, body, 4096).status, TC_ROOM_OK);
        assert_int_equal(tc_room_store_bytes_used(f->machine), used);
        struct tc_checksum before = digest_of(f);
        uint32_t events = f->recorder.count;
        struct tc_room_result result = do_send_body(f, 1, 1, 4, 0, body, 100);
        if (variant == 0) {
            assert_int_equal(result.status, TC_ROOM_OK);
            assert_int_equal(result.seq, 4);
            assert_int_equal(tc_room_store_bytes_used(f->machine), config.store_bytes_max);
            assert_int_equal(f->recorder.count, events + 1);
        } else {
            assert_int_equal(result.status, TC_ROOM_STORE_FULL);
            assert_int_equal(result.seq, 0);
            assert_digest_unchanged(f, &before); // nothing committed, no key recorded
            assert_int_equal(tc_room_store_bytes_used(f->machine), used);
            assert_int_equal(f->recorder.count, events); // no sink event
            // Bodies of 97..104 bytes all cost as much as 100; one of 96 costs 8 less and fits.
            assert_int_equal(do_send_body(f, 1, 1, 4, 0, body, 97).status, TC_ROOM_STORE_FULL);
            assert_int_equal(do_send_body(f, 1, 1, 4, 0, body, 96).status, TC_ROOM_OK);
        }
        fixture_destroy(f);
    }
}

static void test_store_full_rules(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    config.store_bytes_max = 2 * TC_ROOM_STORE_COST(1);
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 1, 1).status, TC_ROOM_OK);
    assert_int_equal(do_join(f, 1, 2).status, TC_ROOM_OK);
    struct tc_room_result first = do_send(f, 1, 1, 1, 0, "a");
    assert_int_equal(do_send(f, 1, 2, 2, 0, "b").status, TC_ROOM_OK);
    assert_int_equal(tc_room_store_bytes_used(f->machine), config.store_bytes_max);
    struct tc_checksum before = digest_of(f);
    // Full: the earlier checks keep their precedence; store_full comes just before the commit.
    assert_int_equal(do_send(f, 0, 1, 3, 0, "c").status, TC_ROOM_INVALID_ROOM);
    assert_int_equal(do_send(f, 1, 0, 3, 0, "c").status, TC_ROOM_INVALID_USER);
    assert_int_equal(do_send(f, 1, 1, 0, 0, "c").status, TC_ROOM_INVALID_KEY);
    assert_int_equal(do_send(f, 9, 1, 3, 0, "c").status, TC_ROOM_ROOM_NOT_FOUND);
    assert_int_equal(do_send(f, 1, 3, 3, 0, "c").status, TC_ROOM_NOT_MEMBER);
    assert_int_equal(do_send(f, 1, 1, 3, 5, "c").status, TC_ROOM_THREAD_PARENT_NOT_FOUND);
    assert_int_equal(do_send(f, 1, 1, 3, 1, "c").status, TC_ROOM_STORE_FULL);
    assert_int_equal(do_send(f, 1, 1, 3, 0, "c").status, TC_ROOM_STORE_FULL);
    // A retry of a committed send still gets its original result, even from a member who left.
    assert_int_equal(do_leave(f, 1, 2).status, TC_ROOM_OK);
    before = digest_of(f);
    struct tc_room_result retry = do_send(f, 1, 1, 1, 0, "a");
    assert_int_equal(retry.status, TC_ROOM_OK);
    assert_true(retry.duplicate);
    assert_int_equal(retry.seq, first.seq);
    assert_true(tc_hash256_equal(&retry.hash, &first.hash));
    assert_int_equal(do_send(f, 1, 2, 2, 0, "b").seq, 2);
    assert_digest_unchanged(f, &before);
    // Other ops do not use the budget.
    assert_int_equal(do_create(f, 2, 1).status, TC_ROOM_OK);
    assert_int_equal(do_join(f, 1, 2).status, TC_ROOM_OK);
    assert_int_equal(do_retention(f, 1, 1, TC_ROOM_RETENTION_KEEP_MESSAGES, 5).status, TC_ROOM_OK);
    assert_int_equal(do_send(f, 2, 1, 4, 0, "d").status, TC_ROOM_STORE_FULL);
    fixture_destroy(f);
}

static void test_store_unlimited(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    assert_int_equal(config.store_bytes_max, 0);
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 1, 1).status, TC_ROOM_OK);
    static uint8_t body[TC_ROOM_BODY_SIZE_MAX];
    uint8_t key[TC_ROOM_KEY_SIZE];
    uint32_t sends = 0;
    for (uint32_t batch = 0; batch < 20; batch++) {
        for (uint32_t i = 0; i < 20; i++) {
            key_from(key, 1000u + sends++);
            assert_int_equal(
                tc_room_batch_add_send(&f->batch, 1, 1, key, 0, body, TC_ROOM_BODY_SIZE_MAX), 0);
        }
        apply_batch(f);
        for (uint32_t i = 0; i < 20; i++) assert_int_equal(status_at(f, i), TC_ROOM_OK);
    }
    assert_int_equal(tc_room_store_bytes_used(f->machine),
                     (uint64_t)sends * TC_ROOM_STORE_COST(TC_ROOM_BODY_SIZE_MAX));
    assert_int_equal(f->recorder.count, sends);
    fixture_destroy(f);
}

// ------------------------------------------------------------------------------------------------
// set_retention.

static void test_set_retention_errors(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 1, 1).status, TC_ROOM_OK);
    assert_int_equal(do_dm(f, 2, 3, 4).status, TC_ROOM_OK);
    struct tc_checksum before = digest_of(f);
    // Each check, with every later check also failing: the first one wins.
    const uint32_t bad_mode = 3;
    assert_int_equal(do_retention_raw(f, 0, 0, bad_mode, 0, 1).status, TC_ROOM_INVALID_ROOM);
    assert_int_equal(do_retention_raw(f, 1, 0, bad_mode, 0, 1).status, TC_ROOM_INVALID_USER);
    assert_int_equal(do_retention_raw(f, 9, 5, bad_mode, 0, 1).status, TC_ROOM_INVALID_RETENTION);
    assert_int_equal(do_retention(f, 9, 5, TC_ROOM_RETENTION_KEEP_DAYS, 1).status,
                     TC_ROOM_ROOM_NOT_FOUND);
    assert_int_equal(do_retention(f, 1, 5, TC_ROOM_RETENTION_KEEP_DAYS, 1).status,
                     TC_ROOM_NOT_MEMBER);
    assert_int_equal(do_retention(f, 2, 1, TC_ROOM_RETENTION_KEEP_DAYS, 1).status,
                     TC_ROOM_NOT_MEMBER); // a DM's outsider
    // Every invalid (mode, value) is a status (the op decodes), on an existing room by a member.
    struct {
        uint32_t mode;
        uint64_t value;
    } invalid[] = {
        {TC_ROOM_RETENTION_KEEP_ALL, 1},
        {TC_ROOM_RETENTION_KEEP_ALL, UINT64_MAX},
        {TC_ROOM_RETENTION_KEEP_DAYS, 0},
        {TC_ROOM_RETENTION_KEEP_DAYS, TC_ROOM_RETENTION_DAYS_MAX + 1u},
        {TC_ROOM_RETENTION_KEEP_MESSAGES, 0},
        {TC_ROOM_RETENTION_KEEP_MESSAGES, TC_ROOM_RETENTION_MESSAGES_MAX + 1u},
        {3, 0},
        {255, 0},
        {256, 0}, // truncated to u8 it would be keep_all
        {0x101, 1}, // truncated to u8 it would be keep_days 1
        {UINT32_MAX, 0},
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(invalid); i++) {
        struct tc_room_result result =
            do_retention_raw(f, 1, 1, invalid[i].mode, 0, invalid[i].value);
        assert_int_equal(result.status, TC_ROOM_INVALID_RETENTION);
        assert_int_equal(result.seq, 0);
    }
    assert_digest_unchanged(f, &before);
    assert_int_equal(f->recorder.count, 0); // no sink event for a failed op
    // A non-zero reserved field is malformed (the whole batch), like any reserved field.
    assert_int_equal(do_retention_raw(f, 1, 1, 0, 1, 0).status, TC_ROOM_MALFORMED_BATCH);
    assert_digest_unchanged(f, &before);
    fixture_destroy(f);
}

static void assert_retention(const struct fixture *f, uint64_t room, uint8_t mode,
                             uint64_t value) {
    struct tc_room_info info;
    assert_int_equal(tc_room_info(f->machine, room, &info), TC_OK);
    assert_int_equal(info.retention.mode, mode);
    assert_int_equal(info.retention.value, value);
}

static void test_set_retention_success(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 1, 1).status, TC_ROOM_OK);
    assert_int_equal(do_dm(f, 2, 3, 4).status, TC_ROOM_OK);
    assert_retention(f, 1, TC_ROOM_RETENTION_KEEP_ALL, 0); // the default
    assert_retention(f, 2, TC_ROOM_RETENTION_KEEP_ALL, 0);
    // On an empty room the result is the empty chain head.
    struct tc_room_result result = do_retention(f, 2, 4, TC_ROOM_RETENTION_KEEP_DAYS, 30);
    assert_int_equal(result.status, TC_ROOM_OK);
    assert_int_equal(result.seq, 0);
    assert_true(bytes_zero(result.hash.bytes, sizeof(result.hash.bytes)));
    assert_retention(f, 2, TC_ROOM_RETENTION_KEEP_DAYS, 30);
    assert_retention(f, 1, TC_ROOM_RETENTION_KEEP_ALL, 0);
    assert_int_equal(f->recorder.count, 1);
    const struct sink_event *event = &f->recorder.events[0];
    assert_false(event->message);
    assert_int_equal(event->room_index, 1); // the DM was created second
    assert_int_equal(event->retention.mode, TC_ROOM_RETENTION_KEEP_DAYS);
    assert_int_equal(event->retention.value, 30);
    assert_int_equal(event->timestamp_ns, timestamp_for(f->op));

    // After messages, the result is the chain head at that point; the policy can change again.
    assert_int_equal(do_send(f, 1, 1, 1, 0, "a").status, TC_ROOM_OK);
    struct tc_room_result sent = do_send(f, 1, 1, 2, 0, "b");
    struct tc_checksum before = digest_of(f);
    result = do_retention(f, 1, 1, TC_ROOM_RETENTION_KEEP_MESSAGES, TC_ROOM_RETENTION_MESSAGES_MAX);
    assert_int_equal(result.status, TC_ROOM_OK);
    assert_false(result.duplicate);
    assert_int_equal(result.seq, 2);
    assert_int_equal(result.thread_seq, 0);
    assert_true(tc_hash256_equal(&result.hash, &sent.hash));
    struct tc_checksum after = digest_of(f);
    assert_false(tc_checksum_equal(&before, &after)); // the policy is state
    assert_retention(f, 1, TC_ROOM_RETENTION_KEEP_MESSAGES, TC_ROOM_RETENTION_MESSAGES_MAX);
    event = &f->recorder.events[f->recorder.count - 1];
    assert_false(event->message);
    assert_int_equal(event->room_index, 0);
    assert_int_equal(event->retention.value, TC_ROOM_RETENTION_MESSAGES_MAX);
    assert_int_equal(event->timestamp_ns, timestamp_for(f->op));
    // The same policy again is a success too (and an event); back to keep_all.
    uint32_t events = f->recorder.count;
    assert_int_equal(do_retention(f, 1, 1, TC_ROOM_RETENTION_KEEP_MESSAGES,
                                  TC_ROOM_RETENTION_MESSAGES_MAX).status, TC_ROOM_OK);
    assert_digest_unchanged(f, &after);
    assert_int_equal(do_retention(f, 1, 1, TC_ROOM_RETENTION_KEEP_ALL, 0).status, TC_ROOM_OK);
    assert_retention(f, 1, TC_ROOM_RETENTION_KEEP_ALL, 0);
    assert_int_equal(f->recorder.count, events + 2);
    assert_digest_unchanged(f, &before);
    // Two in one batch: both apply in order with the batch's timestamp; the last one stays.
    assert_int_equal(tc_room_batch_add_set_retention(&f->batch, 1, 1, 1, 7), TC_OK);
    assert_int_equal(tc_room_batch_add_set_retention(&f->batch, 1, 1, 2, 9), TC_OK);
    apply_batch(f);
    assert_retention(f, 1, TC_ROOM_RETENTION_KEEP_MESSAGES, 9);
    assert_int_equal(f->recorder.count, events + 4);
    assert_int_equal(f->recorder.events[events + 2].retention.value, 7);
    assert_int_equal(f->recorder.events[events + 3].timestamp_ns, timestamp_for(f->op));
    fixture_destroy(f);
}

// ------------------------------------------------------------------------------------------------
// read_marker.

static void test_read_marker_errors(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 1, 1).status, TC_ROOM_OK);
    assert_int_equal(do_dm(f, 2, 3, 4).status, TC_ROOM_OK);
    assert_int_equal(do_send(f, 1, 1, 1, 0, "a").status, TC_ROOM_OK); // head 1
    assert_int_equal(do_read_marker(f, 1, 1, 1).status, TC_ROOM_OK);
    uint32_t events = f->recorder.count;
    struct tc_checksum before = digest_of(f);
    // Each check, with every later check also failing (seq above any head): the first one wins.
    struct {
        uint64_t room;
        uint64_t user;
        uint64_t seq;
        uint8_t status;
    } cases[] = {
        {0, 0, 99, TC_ROOM_INVALID_ROOM},
        {1, 0, 99, TC_ROOM_INVALID_USER},
        {9, 5, 99, TC_ROOM_ROOM_NOT_FOUND},
        {1, 5, 99, TC_ROOM_NOT_MEMBER},
        {2, 1, 99, TC_ROOM_NOT_MEMBER}, // a DM's outsider
        {1, 1, 2, TC_ROOM_INVALID_SEQ}, // head + 1
        {1, 1, UINT64_MAX, TC_ROOM_INVALID_SEQ},
        {2, 3, 1, TC_ROOM_INVALID_SEQ}, // the DM has no message: only 0 is valid
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        struct tc_room_result result =
            do_read_marker(f, cases[i].room, cases[i].user, cases[i].seq);
        assert_int_equal(result.status, cases[i].status);
        assert_int_equal(result.seq, 0); // an error carries nothing but its status
        assert_int_equal(result.thread_seq, 0);
        assert_true(bytes_zero(result.hash.bytes, sizeof(result.hash.bytes)));
    }
    assert_digest_unchanged(f, &before);
    assert_int_equal(f->recorder.count, events); // no sink event
    assert_marker(f, 1, 1, 1); // a refused seq left the marker
    assert_marker(f, 2, 3, 0);
    fixture_destroy(f);
}

static void test_read_marker_success(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    config.store_bytes_max = 100 * TC_ROOM_STORE_COST(8);
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 1, 1).status, TC_ROOM_OK);
    assert_int_equal(do_join(f, 1, 2).status, TC_ROOM_OK);
    assert_marker(f, 1, 1, 0); // a creator and a joiner start at 0
    assert_marker(f, 1, 2, 0);
    assert_marker(f, 1, 3, UINT64_MAX); // not a member
    assert_marker(f, 9, 1, UINT64_MAX); // no such room
    // On an empty room, 0 is the only valid seq; it succeeds and changes nothing.
    struct tc_checksum before = digest_of(f);
    struct tc_room_result result = do_read_marker(f, 1, 1, 0);
    assert_int_equal(result.status, TC_ROOM_OK);
    assert_int_equal(result.seq, 0);
    assert_digest_unchanged(f, &before);
    for (uint64_t key = 1; key <= 5; key++) {
        assert_int_equal(do_send(f, 1, 1, key, 0, "m").status, TC_ROOM_OK);
    }
    uint32_t events = f->recorder.count;
    uint64_t store_used = tc_room_store_bytes_used(f->machine);
    // Forward: the result is the new marker, with thread_seq 0 and a zero hash (not the head's).
    before = digest_of(f);
    result = do_read_marker(f, 1, 2, 3);
    assert_int_equal(result.status, TC_ROOM_OK);
    assert_false(result.duplicate);
    assert_int_equal(result.seq, 3);
    assert_int_equal(result.thread_seq, 0);
    assert_true(bytes_zero(result.hash.bytes, sizeof(result.hash.bytes)));
    assert_marker(f, 1, 2, 3);
    assert_marker(f, 1, 1, 0); // per member
    struct tc_checksum after = digest_of(f);
    assert_false(tc_checksum_equal(&before, &after)); // the marker is state
    // Lower or equal: unchanged, a success, and the result carries the current marker.
    assert_int_equal(do_read_marker(f, 1, 2, 1).seq, 3);
    assert_int_equal(do_read_marker(f, 1, 2, 0).seq, 3);
    assert_int_equal(do_read_marker(f, 1, 2, 3).seq, 3);
    assert_int_equal(status_at(f, 0), TC_ROOM_OK);
    assert_digest_unchanged(f, &after);
    // Up to the head exactly; then one above it is refused.
    assert_int_equal(do_read_marker(f, 1, 2, 5).seq, 5);
    assert_int_equal(do_read_marker(f, 1, 2, 6).status, TC_ROOM_INVALID_SEQ);
    assert_marker(f, 1, 2, 5);
    // No message, no budget, no sink event, no chain change.
    assert_int_equal(f->recorder.count, events);
    assert_int_equal(tc_room_store_bytes_used(f->machine), store_used);
    struct tc_room_info info;
    assert_int_equal(tc_room_info(f->machine, 1, &info), TC_OK);
    assert_int_equal(info.seq_last, 5);
    // Several in one batch apply in order: forward, back (unchanged), above the head, forward.
    struct tc_room_batch *b = &f->batch;
    assert_int_equal(tc_room_batch_add_read_marker(b, 1, 1, 2), TC_OK);
    assert_int_equal(tc_room_batch_add_read_marker(b, 1, 1, 1), TC_OK);
    assert_int_equal(tc_room_batch_add_read_marker(b, 1, 1, 9), TC_OK);
    uint8_t key[TC_ROOM_KEY_SIZE];
    key_from(key, 6);
    assert_int_equal(tc_room_batch_add_send(b, 1, 2, key, 0, (const uint8_t *)"x", 1), TC_OK);
    assert_int_equal(tc_room_batch_add_read_marker(b, 1, 1, 6), TC_OK); // the new head
    assert_int_equal(apply_batch(f), 5);
    assert_int_equal(result_at(f, 0).seq, 2);
    assert_int_equal(result_at(f, 1).seq, 2);
    assert_int_equal(status_at(f, 2), TC_ROOM_INVALID_SEQ);
    assert_int_equal(result_at(f, 3).seq, 6);
    assert_int_equal(result_at(f, 4).seq, 6);
    assert_marker(f, 1, 1, 6);
    // A leave forgets the marker; re-joining starts at 0.
    assert_int_equal(do_leave(f, 1, 2).status, TC_ROOM_OK);
    assert_marker(f, 1, 2, UINT64_MAX);
    assert_int_equal(do_read_marker(f, 1, 2, 1).status, TC_ROOM_NOT_MEMBER);
    assert_int_equal(do_join(f, 1, 2).status, TC_ROOM_OK);
    assert_marker(f, 1, 2, 0);
    assert_int_equal(do_read_marker(f, 1, 2, 0).seq, 0);
    assert_int_equal(do_read_marker(f, 1, 2, 4).seq, 4);
    // The last member leaves; the room stays, and a new member starts at 0.
    assert_int_equal(do_leave(f, 1, 1).status, TC_ROOM_OK);
    assert_int_equal(do_leave(f, 1, 2).status, TC_ROOM_OK);
    assert_int_equal(do_join(f, 1, 1).status, TC_ROOM_OK);
    assert_marker(f, 1, 1, 0);
    // In a DM, either user; each has their own marker.
    assert_int_equal(do_dm(f, 2, 3, 4).status, TC_ROOM_OK);
    assert_int_equal(do_send(f, 2, 3, 7, 0, "dm").status, TC_ROOM_OK);
    assert_int_equal(do_read_marker(f, 2, 4, 1).seq, 1);
    assert_marker(f, 2, 3, 0);
    assert_marker(f, 2, 4, 1);
    // When the store is full, markers still move (they cost no budget).
    while (do_send(f, 2, 3, 100 + f->op, 0, "12345678").status == TC_ROOM_OK) {
    }
    assert_int_equal(status_at(f, 0), TC_ROOM_STORE_FULL);
    assert_int_equal(tc_room_info(f->machine, 2, &info), TC_OK);
    assert_int_equal(do_read_marker(f, 2, 3, info.seq_last).seq, info.seq_last);
    // The events since: the batch's send, the DM's first send and the rest of the DM's messages.
    assert_int_equal(f->recorder.count, events + 1u + (uint32_t)info.seq_last);
    fixture_destroy(f);
}

// ------------------------------------------------------------------------------------------------
// redact.

static void test_redact_errors(void **state) {
    (void)state;
    struct tc_room_config config = config_small(); // messages_max 16
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 1, 1).status, TC_ROOM_OK);
    assert_int_equal(do_join(f, 1, 2).status, TC_ROOM_OK);
    assert_int_equal(do_dm(f, 2, 3, 4).status, TC_ROOM_OK);
    assert_int_equal(do_send(f, 1, 1, 1, 0, "a").status, TC_ROOM_OK); // seq 1 by user 1
    assert_int_equal(do_send(f, 1, 2, 2, 0, "b").status, TC_ROOM_OK); // seq 2 by user 2
    assert_int_equal(do_redact(f, 1, 2, 2).status, TC_ROOM_OK);      // user 2 redacted seq 2
    uint32_t events = f->recorder.count;
    struct tc_checksum before = digest_of(f);
    // Each check, with the later ones also failing where they can: the first one wins.
    struct {
        uint64_t room;
        uint64_t user;
        uint64_t seq;
        uint8_t status;
    } cases[] = {
        {0, 0, 99, TC_ROOM_INVALID_ROOM},
        {1, 0, 99, TC_ROOM_INVALID_USER},
        {9, 5, 99, TC_ROOM_ROOM_NOT_FOUND},
        {1, 5, 1, TC_ROOM_NOT_MEMBER},  // a non-member, even of someone's message
        {2, 1, 99, TC_ROOM_NOT_MEMBER}, // a DM's outsider
        {1, 1, 0, TC_ROOM_INVALID_SEQ}, // seq 0 names no message
        {1, 1, 3, TC_ROOM_INVALID_SEQ}, // head + 1
        {1, 1, UINT64_MAX, TC_ROOM_INVALID_SEQ},
        {2, 3, 1, TC_ROOM_INVALID_SEQ}, // the DM has no message
        {1, 2, 1, TC_ROOM_NOT_SENDER},  // user 1's message
        {1, 1, 2, TC_ROOM_NOT_SENDER},  // redacted already, by its sender 2: not user 1's
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        struct tc_room_result result = do_redact(f, cases[i].room, cases[i].user, cases[i].seq);
        assert_int_equal(result.status, cases[i].status);
        assert_false(result.duplicate);
        assert_int_equal(result.seq, 0); // an error carries nothing but its status
        assert_true(bytes_zero(result.hash.bytes, sizeof(result.hash.bytes)));
    }
    assert_digest_unchanged(f, &before);
    assert_int_equal(f->recorder.count, events); // no sink event
    assert_false(redacted_both(f, 1, 1));
    assert_true(redacted_both(f, 1, 2));
    // A member who left cannot redact their own message; back in the room, they can.
    assert_int_equal(do_leave(f, 1, 1).status, TC_ROOM_OK);
    assert_int_equal(do_redact(f, 1, 1, 1).status, TC_ROOM_NOT_MEMBER);
    assert_int_equal(do_join(f, 1, 1).status, TC_ROOM_OK);
    assert_int_equal(do_redact(f, 1, 1, 1).status, TC_ROOM_OK);
    fixture_destroy(f);
}

// A message leaves the redaction horizon with the thread window (messages_max messages of the
// group, any room): then message_evicted, but a redaction made before stays, and its repeat is ok.
static void test_redact_horizon(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    config.messages_max = 4;
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 1, 1).status, TC_ROOM_OK);
    assert_int_equal(do_create(f, 2, 2).status, TC_ROOM_OK);
    assert_int_equal(do_send(f, 1, 1, 1, 0, "r1").status, TC_ROOM_OK); // room 1 seq 1
    assert_int_equal(do_send(f, 1, 1, 2, 0, "r2").status, TC_ROOM_OK); // room 1 seq 2
    assert_int_equal(do_redact(f, 1, 1, 2).status, TC_ROOM_OK);
    for (uint64_t key = 10; key < 13; key++) { // room 2's messages push room 1's seq 1 out
        assert_int_equal(do_send(f, 2, 2, key, 0, "x").status, TC_ROOM_OK);
    }
    assert_int_equal(do_redact(f, 1, 1, 1).status, TC_ROOM_MESSAGE_EVICTED);
    assert_int_equal(do_redact(f, 1, 2, 1).status, TC_ROOM_NOT_MEMBER); // membership first
    assert_int_equal(do_send(f, 2, 2, 13, 0, "y").status, TC_ROOM_OK); // and seq 2 out
    struct tc_room_result result = do_redact(f, 1, 1, 2);
    assert_int_equal(result.status, TC_ROOM_OK); // the repeat: duplicate before the horizon
    assert_true(result.duplicate);
    assert_int_equal(result.seq, 2);
    assert_true(redacted_both(f, 1, 2));
    assert_false(redacted_both(f, 1, 1));
    // The window's newest message of room 2 is still redactable by its sender only.
    assert_int_equal(do_redact(f, 2, 1, 4).status, TC_ROOM_NOT_MEMBER);
    assert_int_equal(do_join(f, 2, 1).status, TC_ROOM_OK);
    assert_int_equal(do_redact(f, 2, 1, 4).status, TC_ROOM_NOT_SENDER);
    assert_int_equal(do_redact(f, 2, 2, 4).status, TC_ROOM_OK);
    fixture_destroy(f);
}

static void test_redact_success(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    config.store_bytes_max = 100 * TC_ROOM_STORE_COST(8);
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 1, 1).status, TC_ROOM_OK);
    assert_int_equal(do_join(f, 1, 2).status, TC_ROOM_OK);
    struct tc_room_result sent = do_send(f, 1, 1, 1, 0, "secret");
    assert_int_equal(do_send(f, 1, 2, 2, 1, "reply").status, TC_ROOM_OK); // a thread reply
    struct tc_room_info head_before;
    assert_int_equal(tc_room_info(f->machine, 1, &head_before), TC_OK);
    uint64_t store_used = tc_room_store_bytes_used(f->machine);
    uint32_t events = f->recorder.count;
    struct tc_checksum before = digest_of(f);
    struct tc_room_result result = do_redact(f, 1, 1, 1);
    assert_int_equal(result.status, TC_ROOM_OK);
    assert_false(result.duplicate);
    assert_int_equal(result.seq, 1);
    assert_int_equal(result.thread_seq, 0);
    assert_true(bytes_zero(result.hash.bytes, sizeof(result.hash.bytes)));
    assert_true(redacted_both(f, 1, 1));
    assert_false(redacted_both(f, 1, 2));
    assert_int_equal(tc_room_redaction_count(f->machine), 1);
    struct tc_checksum after = digest_of(f);
    assert_false(tc_checksum_equal(&before, &after)); // the table is state
    // One sink event: a redaction, with the batch's timestamp; the chain, the thread rules and
    // the budget do not change.
    assert_int_equal(f->recorder.count, events + 1);
    const struct sink_event *event = &f->recorder.events[events];
    assert_true(event->message && event->fields.redacted);
    assert_int_equal(event->room_index, 0);
    assert_int_equal(event->fields.room, 1);
    assert_int_equal(event->fields.seq, 1);
    assert_int_equal(event->fields.sender, 1);
    assert_int_equal(event->fields.timestamp_ns, timestamp_for(f->op));
    struct tc_room_info head_after;
    assert_int_equal(tc_room_info(f->machine, 1, &head_after), TC_OK);
    assert_int_equal(head_after.seq_last, head_before.seq_last);
    assert_true(tc_hash256_equal(&head_after.hash_last, &head_before.hash_last));
    assert_int_equal(tc_room_store_bytes_used(f->machine), store_used);
    assert_int_equal(do_send(f, 1, 2, 3, 1, "another reply").thread_seq, 2); // still a root
    // The send's idempotency entry still answers with the original seq and hash.
    struct tc_room_result retry = do_send(f, 1, 1, 1, 0, "secret");
    assert_true(retry.duplicate);
    assert_true(tc_hash256_equal(&retry.hash, &sent.hash));
    // Again: ok, a duplicate, nothing changes, no event.
    events = f->recorder.count;
    after = digest_of(f);
    result = do_redact(f, 1, 1, 1);
    assert_int_equal(result.status, TC_ROOM_OK);
    assert_true(result.duplicate);
    assert_int_equal(result.seq, 1);
    assert_digest_unchanged(f, &after);
    assert_int_equal(f->recorder.count, events);
    fixture_destroy(f);
}

static void test_redact_batch_and_dm(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    config.store_bytes_max = 100 * TC_ROOM_STORE_COST(8);
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 1, 1).status, TC_ROOM_OK);
    assert_int_equal(do_join(f, 1, 2).status, TC_ROOM_OK);
    assert_int_equal(do_send(f, 1, 2, 1, 0, "a").status, TC_ROOM_OK);
    assert_int_equal(do_send(f, 1, 2, 2, 0, "b").status, TC_ROOM_OK);
    uint32_t events = f->recorder.count;
    // Several in one batch, in order: the second is a duplicate of the first.
    assert_int_equal(tc_room_batch_add_redact(&f->batch, 1, 2, 1), TC_OK);
    assert_int_equal(tc_room_batch_add_redact(&f->batch, 1, 2, 1), TC_OK);
    assert_int_equal(tc_room_batch_add_redact(&f->batch, 1, 2, 2), TC_OK);
    assert_int_equal(apply_batch(f), 3);
    assert_false(result_at(f, 0).duplicate);
    assert_true(result_at(f, 1).duplicate);
    assert_int_equal(result_at(f, 2).seq, 2);
    assert_int_equal(f->recorder.count, events + 2);
    assert_int_equal(f->recorder.events[events + 1].fields.seq, 2);
    // In a DM, either user redacts their own messages; with the store full too (no budget).
    assert_int_equal(do_dm(f, 2, 3, 4).status, TC_ROOM_OK);
    assert_int_equal(do_send(f, 2, 4, 9, 0, "dm").status, TC_ROOM_OK);
    assert_int_equal(do_redact(f, 2, 3, 1).status, TC_ROOM_NOT_SENDER);
    assert_int_equal(do_redact(f, 2, 4, 1).status, TC_ROOM_OK);
    while (do_send(f, 2, 3, 100 + f->op, 0, "12345678").status == TC_ROOM_OK) {
    }
    assert_int_equal(status_at(f, 0), TC_ROOM_STORE_FULL);
    struct tc_room_info dm;
    assert_int_equal(tc_room_info(f->machine, 2, &dm), TC_OK);
    assert_int_equal(do_redact(f, 2, 3, dm.seq_last).status, TC_ROOM_OK);
    assert_int_equal(do_redact(f, 2, 3, 1).status, TC_ROOM_NOT_SENDER); // 4's, long evicted
    fixture_destroy(f);
}

// The table holds messages_max redactions for good: then redactions_full, but repeats are ok.
static void test_redact_table_full(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    config.messages_max = 3;
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 1, 1).status, TC_ROOM_OK);
    for (uint64_t round = 0; round < 3; round++) { // each sent and redacted within the window
        assert_int_equal(do_send(f, 1, 1, 1 + round, 0, "m").status, TC_ROOM_OK);
        assert_int_equal(do_redact(f, 1, 1, 1 + round).status, TC_ROOM_OK);
    }
    assert_int_equal(tc_room_redaction_count(f->machine), 3);
    assert_int_equal(do_send(f, 1, 1, 9, 0, "m").status, TC_ROOM_OK);
    struct tc_checksum before = digest_of(f);
    assert_int_equal(do_redact(f, 1, 1, 4).status, TC_ROOM_REDACTIONS_FULL);
    assert_int_equal(do_redact(f, 1, 1, 3).status, TC_ROOM_OK); // a repeat
    assert_true(result_at(f, 0).duplicate);
    assert_digest_unchanged(f, &before);
    for (uint64_t seq = 1; seq <= 4; seq++) assert_int_equal(redacted_both(f, 1, seq), seq <= 3);
    fixture_destroy(f);
}

// ------------------------------------------------------------------------------------------------
// The sink's message events and the local reads.

// Every event is one successful, non-duplicate send, in op order, with the fields of its result.
static void test_sink_messages(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    config.store_bytes_max = 6 * TC_ROOM_STORE_COST(1);
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 10, 1).status, TC_ROOM_OK);
    assert_int_equal(do_dm(f, 20, 1, 2).status, TC_ROOM_OK);
    uint8_t keys[8][TC_ROOM_KEY_SIZE];
    for (uint32_t i = 0; i < 8; i++) key_from(keys[i], i + 1);
    const uint8_t *text = (const uint8_t *)"abcdefgh";
    struct tc_room_batch *b = &f->batch;
    assert_int_equal(tc_room_batch_add_send(b, 10, 1, keys[0], 0, text, 1), TC_OK);     // 10/1
    assert_int_equal(tc_room_batch_add_send(b, 20, 2, keys[1], 0, text + 1, 2), TC_OK); // 20/1
    assert_int_equal(tc_room_batch_add_send(b, 10, 1, keys[0], 0, text, 1), TC_OK);     // dup
    assert_int_equal(tc_room_batch_add_send(b, 10, 2, keys[2], 0, text, 1), TC_OK);     // no member
    assert_int_equal(tc_room_batch_add_send(b, 10, 1, keys[3], 1, text + 2, 3), TC_OK); // 10/2
    assert_int_equal(tc_room_batch_add_set_retention(b, 10, 1, 1, 5), TC_OK);           // event
    assert_int_equal(tc_room_batch_add_send(b, 20, 1, keys[4], 1, text + 3, 4), TC_OK); // 20/2
    assert_int_equal(tc_room_batch_add_send(b, 10, 1, keys[5], 0, text + 4, 4), TC_OK); // 10/3
    assert_int_equal(tc_room_batch_add_send(b, 10, 1, keys[6], 0, text, 8), TC_OK);     // 10/4
    assert_int_equal(tc_room_batch_add_send(b, 10, 1, keys[7], 0, text, 8), TC_OK);     // full
    assert_int_equal(apply_batch(f), 10);
    const uint32_t ops_with_events[] = {0, 1, 4, 5, 6, 7, 8};
    const uint32_t room_index[] = {0, 1, 0, 0, 1, 0, 0};
    assert_int_equal(status_at(f, 3), TC_ROOM_NOT_MEMBER);
    assert_int_equal(status_at(f, 9), TC_ROOM_STORE_FULL);
    assert_true(result_at(f, 2).duplicate);
    assert_int_equal(f->recorder.count, TC_ARRAY_COUNT(ops_with_events));
    struct tc_hash256 zero;
    memset(&zero, 0, sizeof(zero));
    struct tc_hash256 prev[2] = {zero, zero}; // per room index
    for (uint32_t i = 0; i < f->recorder.count; i++) {
        const struct sink_event *event = &f->recorder.events[i];
        struct tc_room_result result = result_at(f, ops_with_events[i]);
        assert_int_equal(event->room_index, room_index[i]);
        if (!event->message) continue;
        const struct tc_room_message *m = &event->fields;
        assert_int_equal(m->room, room_index[i] == 0 ? 10 : 20);
        assert_int_equal(m->seq, result.seq);
        assert_int_equal(m->thread_seq, result.thread_seq);
        assert_true(tc_hash256_equal(&m->hash, &result.hash));
        assert_true(tc_hash256_equal(&m->prev_hash, &prev[room_index[i]]));
        assert_int_equal(m->timestamp_ns, timestamp_for(f->op));
        struct tc_hash256 hash;
        tc_room_chain_hash(&hash, &m->prev_hash, m->room, m->seq, m->sender, m->timestamp_ns,
                           m->body, m->body_size);
        assert_true(tc_hash256_equal(&hash, &m->hash));
        prev[room_index[i]] = m->hash;
    }
    const struct sink_event *e = f->recorder.events;
    assert_int_equal(e[1].fields.sender, 2);
    assert_memory_equal(e[1].fields.body, "bc", 2);
    assert_int_equal(e[2].fields.thread_parent_seq, 1);
    assert_int_equal(e[2].fields.thread_seq, 1);
    assert_int_equal(e[4].fields.thread_seq, 1);
    assert_int_equal(e[6].fields.body_size, 8);
    assert_memory_equal(e[6].fields.body, text, 8);
    assert_false(e[3].message);
    // Without a sink, nothing is heard; a sink with only a message callback hears only messages.
    fixture_sink(f, false);
    assert_int_equal(do_create(f, 30, 1).status, TC_ROOM_OK);
    assert_int_equal(do_send(f, 30, 1, 1, 0, "z").status, TC_ROOM_STORE_FULL);
    assert_int_equal(do_retention(f, 30, 1, 1, 1).status, TC_ROOM_OK);
    assert_int_equal(f->recorder.count, TC_ARRAY_COUNT(ops_with_events));
    struct tc_room_sink messages_only = {.context = &f->recorder, .message = recorder_message};
    tc_room_set_sink(f->machine, &messages_only);
    assert_int_equal(do_retention(f, 30, 1, 1, 2).status, TC_ROOM_OK);
    assert_int_equal(f->recorder.count, TC_ARRAY_COUNT(ops_with_events));
    fixture_destroy(f);
}

static void test_reads(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    struct fixture *f = fixture_create(&config);
    struct tc_room_info info;
    assert_int_equal(tc_room_info(f->machine, 5, &info), TC_ENOENT);
    assert_false(tc_room_is_member(f->machine, 5, 1));
    assert_int_equal(do_create(f, 5, 1).status, TC_ROOM_OK);
    assert_int_equal(do_dm(f, 6, 1, 2).status, TC_ROOM_OK);
    assert_int_equal(do_join(f, 5, 3).status, TC_ROOM_OK);
    struct tc_room_result sent = do_send(f, 6, 2, 1, 0, "dm");
    assert_int_equal(tc_room_info(f->machine, 6, &info), TC_OK);
    assert_int_equal(info.room, 6);
    assert_int_equal(info.index, 1);
    assert_int_equal(info.kind, 2);
    assert_int_equal(info.seq_last, 1);
    assert_true(tc_hash256_equal(&info.hash_last, &sent.hash));
    assert_int_equal(info.member_count, 2);
    assert_int_equal(info.retention.mode, TC_ROOM_RETENTION_KEEP_ALL);
    tc_room_info_at(f->machine, 0, &info);
    assert_int_equal(info.room, 5);
    assert_int_equal(info.index, 0);
    assert_int_equal(info.kind, 1);
    assert_int_equal(info.seq_last, 0);
    assert_true(bytes_zero(info.hash_last.bytes, sizeof(info.hash_last.bytes)));
    assert_int_equal(info.member_count, 2);
    assert_true(tc_room_is_member(f->machine, 5, 1));
    assert_true(tc_room_is_member(f->machine, 5, 3));
    assert_false(tc_room_is_member(f->machine, 5, 2));
    assert_true(tc_room_is_member(f->machine, 6, 2));
    assert_false(tc_room_is_member(f->machine, 6, 3));
    assert_false(tc_room_is_member(f->machine, 0, 0));
    assert_int_equal(do_leave(f, 5, 3).status, TC_ROOM_OK);
    assert_false(tc_room_is_member(f->machine, 5, 3));
    tc_room_info_at(f->machine, 0, &info);
    assert_int_equal(info.member_count, 1);
    assert_int_equal(tc_room_store_bytes_used(f->machine), TC_ROOM_STORE_COST(2));
    fixture_destroy(f);
}

// ------------------------------------------------------------------------------------------------
// Malformed batches: one "malformed batch" result and no state change, whatever the bytes.

static void expect_malformed(struct fixture *f, const uint8_t *body, uint32_t size) {
    struct tc_checksum before = digest_of(f);
    assert_int_equal(tc_room_validate_batch(body, size), TC_ECORRUPT);
    assert_int_equal(apply_raw(f, body, size), 1);
    assert_int_equal(status_at(f, 0), TC_ROOM_MALFORMED_BATCH);
    struct tc_checksum after = digest_of(f);
    assert_true(tc_checksum_equal(&before, &after));
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

// Random bytes (half of them behind a plausible header) never decode.
static void expect_malformed_random(struct fixture *f, uint8_t *bad, uint32_t size_max) {
    struct tc_prng prng;
    tc_prng_init(&prng, 42);
    for (uint32_t round = 0; round < 2000; round++) {
        uint32_t size = (uint32_t)tc_prng_below(&prng, size_max);
        tc_prng_fill(&prng, bad, size);
        if (round % 2 == 0 && size >= 8) { // plausible header, random rest
            put32(bad, TC_ROOM_BATCH_MAGIC);
            put32(bad + 8, size);
        }
        expect_malformed(f, bad, size);
    }
}

static void test_malformed_batches(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 1, 1).status, TC_ROOM_OK);
    uint8_t key[TC_ROOM_KEY_SIZE] = {9};
    static uint8_t good[1024];
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, good, sizeof(good));
    assert_int_equal(tc_room_batch_add_join(&batch, 1, 2), TC_OK);
    assert_int_equal(tc_room_batch_add_send(&batch, 1, 1, key, 0, (const uint8_t *)"abc", 3), 0);
    assert_int_equal(tc_room_batch_add_create_dm(&batch, 2, 3, 4), TC_OK);
    assert_int_equal(tc_room_batch_add_set_retention(&batch, 1, 1, 1, 30), TC_OK);
    assert_int_equal(tc_room_batch_add_read_marker(&batch, 1, 1, 0), TC_OK);
    assert_int_equal(tc_room_batch_add_redact(&batch, 1, 1, 0), TC_OK);
    uint32_t good_size = batch.size;
    assert_int_equal(tc_room_validate_batch(good, good_size), TC_OK);

    expect_malformed(f, NULL, 0);
    for (uint32_t size = 0; size < good_size; size++) expect_malformed(f, good, size); // truncated
    static uint8_t bad[1024];
    uint32_t send_offset = TC_ROOM_BATCH_HEADER_SIZE + TC_ROOM_OP_ROOM_SIZE;
    uint32_t retention_offset = send_offset + TC_ROOM_OP_SEND_FIXED_SIZE + 3 + TC_ROOM_OP_DM_SIZE;
    uint32_t marker_offset = retention_offset + TC_ROOM_OP_RETENTION_SIZE;
    uint32_t redact_offset = marker_offset + TC_ROOM_OP_READ_MARKER_SIZE;
    assert_int_equal(redact_offset + TC_ROOM_OP_REDACT_SIZE, good_size);
    struct {
        uint32_t offset;
        uint32_t value;
    } edits[] = {
        {0, 0x12345678},    // magic
        {4, 7},             // op count too high (7 ops claimed, 6 present)
        {4, 5},             // op count too low (trailing op)
        {4, 0},             // zero ops
        {8, good_size + 1}, // size field
        {12, 1},            // reserved
        {send_offset + 48, TC_ROOM_BODY_SIZE_MAX + 1},        // oversized body
        {send_offset + 48, 0},                                // empty body
        {send_offset + 52, 1},                                // reserved in send
        {send_offset + 4, 3},                                 // op size shorter than the op
        {TC_ROOM_BATCH_HEADER_SIZE, 9},                       // unknown kind
        {TC_ROOM_BATCH_HEADER_SIZE, 0x100 | TC_ROOM_OP_JOIN}, // reserved byte after kind
        {retention_offset + 28, 1},                           // reserved in set_retention
        {retention_offset + 28, 0x80000000u},                 // reserved in set_retention
        {retention_offset + 4, TC_ROOM_OP_RETENTION_SIZE - 1}, // op size short
        {retention_offset + 4, TC_ROOM_OP_RETENTION_SIZE + 1}, // op size past the end
        {retention_offset, 9},                                 // unknown kind
        {retention_offset, TC_ROOM_OP_REDACT},                 // a redact of 40 bytes
        {retention_offset, 0x10000 | TC_ROOM_OP_SET_RETENTION}, // reserved u16 after kind
        {marker_offset + 4, TC_ROOM_OP_READ_MARKER_SIZE - 1},   // op size short
        {marker_offset + 4, TC_ROOM_OP_READ_MARKER_SIZE + 1},   // op size past the end
        {marker_offset + 4, TC_ROOM_OP_RETENTION_SIZE},         // another kind's size
        {marker_offset, 9},                                     // unknown kind
        {marker_offset, 0x100 | TC_ROOM_OP_READ_MARKER},        // reserved byte after kind
        {retention_offset, TC_ROOM_OP_READ_MARKER},             // a read_marker of 40 bytes
        {redact_offset + 4, TC_ROOM_OP_REDACT_SIZE - 1},        // op size short
        {redact_offset + 4, TC_ROOM_OP_REDACT_SIZE + 8},        // op size past the end
        {redact_offset, 0x10000 | TC_ROOM_OP_REDACT},           // reserved u16 after kind
        {redact_offset, 0},                                     // kind 0
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(edits); i++) {
        memcpy(bad, good, good_size);
        if (edits[i].offset == 4) {
            bad[4] = (uint8_t)edits[i].value;
            bad[5] = 0;
        } else {
            put32(bad + edits[i].offset, edits[i].value);
        }
        expect_malformed(f, bad, good_size);
    }
    memcpy(bad, good, good_size);
    bad[good_size] = 0;
    put32(bad + 8, good_size + 1);
    expect_malformed(f, bad, good_size + 1); // trailing byte, sizes consistent

    expect_malformed_random(f, bad, sizeof(bad));
    fixture_destroy(f);
}

// Single-byte corruptions of a valid batch: either still valid (then machine and model agree)
// or malformed with no state change; never a crash.
static void test_corrupted_batches_vs_model(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    struct fixture *f = fixture_create(&config);
    struct tc_room_model *model = tc_room_model_create(&config);
    assert_non_null(model);
    static struct tc_room_result expected[TC_ROOM_BATCH_OPS_MAX];
    static uint8_t good[512];
    static uint8_t bad[512];
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, good, sizeof(good));
    uint8_t key[TC_ROOM_KEY_SIZE] = {1, 2, 3};
    assert_int_equal(tc_room_batch_add_create_room(&batch, 1, 1), TC_OK);
    assert_int_equal(tc_room_batch_add_join(&batch, 1, 2), TC_OK);
    assert_int_equal(tc_room_batch_add_send(&batch, 1, 2, key, 0, (const uint8_t *)"body", 4), 0);
    assert_int_equal(tc_room_batch_add_set_retention(&batch, 1, 2, 1, 30), TC_OK);
    assert_int_equal(tc_room_batch_add_read_marker(&batch, 1, 2, 1), TC_OK);
    assert_int_equal(tc_room_batch_add_redact(&batch, 1, 2, 1), TC_OK);
    struct tc_prng prng;
    tc_prng_init(&prng, 7);
    for (uint32_t round = 0; round < 3000; round++) {
        memcpy(bad, good, batch.size);
        uint32_t at = (uint32_t)tc_prng_below(&prng, batch.size);
        bad[at] = (uint8_t)tc_prng_next(&prng);
        uint32_t count = apply_raw(f, bad, batch.size);
        uint32_t model_count =
            tc_room_model_apply(model, timestamp_for(f->op), bad, batch.size, expected);
        assert_int_equal(count, model_count);
        assert_int_equal(tc_room_model_reply_mismatch(expected, count, f->reply, f->reply_size),
                         -1);
    }
    tc_room_model_destroy(model);
    fixture_destroy(f);
}

// ------------------------------------------------------------------------------------------------
// ------------------------------------------------------------------------------------------------
// The reference model's own history accessors.

static void test_model_history(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    struct tc_room_model *model = tc_room_model_create_history(&config, 2, 10);
    assert_non_null(model);
    uint8_t buffer[512];
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, buffer, sizeof(buffer));
    uint8_t key[TC_ROOM_KEY_SIZE];
    assert_int_equal(tc_room_batch_add_create_room(&batch, 1, 1), TC_OK);
    key_from(key, 1);
    assert_int_equal(tc_room_batch_add_send(&batch, 1, 1, key, 0, (const uint8_t *)"four", 4), 0);
    key_from(key, 2);
    assert_int_equal(tc_room_batch_add_send(&batch, 1, 1, key, 1, (const uint8_t *)"sixsix", 6), 0);
    key_from(key, 3);
    assert_int_equal(tc_room_batch_add_send(&batch, 1, 1, key, 0, (const uint8_t *)"x", 1), 0);
    assert_int_equal(tc_room_batch_add_set_retention(&batch, 1, 1, 2, 100), TC_OK);
    static struct tc_room_result results[TC_ROOM_BATCH_OPS_MAX];
    assert_int_equal(tc_room_model_apply(model, 555, buffer, batch.size, results), 5);
    struct tc_room_message message;
    assert_int_equal(tc_room_model_message(model, 1, 2, &message), TC_OK);
    assert_int_equal(message.room, 1);
    assert_int_equal(message.seq, 2);
    assert_int_equal(message.thread_parent_seq, 1);
    assert_int_equal(message.thread_seq, 1);
    assert_int_equal(message.sender, 1);
    assert_int_equal(message.timestamp_ns, 555);
    assert_int_equal(message.body_size, 6);
    assert_memory_equal(message.body, "sixsix", 6);
    assert_true(tc_hash256_equal(&message.hash, &results[2].hash));
    assert_true(tc_hash256_equal(&message.prev_hash, &results[1].hash));
    assert_int_equal(tc_room_model_message(model, 1, 3, &message), TC_ENOSPC); // history full
    assert_int_equal(tc_room_model_history_dropped(model), 1);
    assert_int_equal(tc_room_model_message(model, 1, 4, &message), TC_ENOENT);
    assert_int_equal(tc_room_model_message(model, 1, 0, &message), TC_ENOENT);
    assert_int_equal(tc_room_model_message(model, 2, 1, &message), TC_ENOENT);
    struct tc_room_retention retention;
    assert_int_equal(tc_room_model_retention(model, 1, &retention), TC_OK);
    assert_int_equal(retention.mode, TC_ROOM_RETENTION_KEEP_MESSAGES);
    assert_int_equal(retention.value, 100);
    assert_int_equal(tc_room_model_retention(model, 2, &retention), TC_ENOENT);
    assert_int_equal(tc_room_model_store_bytes_used(model), 3 * TC_ROOM_STORE_COST(1));
    tc_room_model_destroy(model);
    // With a budget, the default history holds every message the budget admits.
    config.store_bytes_max = 100 * TC_ROOM_STORE_COST(1);
    model = tc_room_model_create(&config);
    assert_non_null(model);
    assert_int_equal(tc_room_model_apply(model, 555, buffer, batch.size, results), 5);
    assert_int_equal(tc_room_model_message(model, 1, 3, &message), TC_OK);
    assert_int_equal(tc_room_model_history_dropped(model), 0);
    tc_room_model_destroy(model);
}

// ------------------------------------------------------------------------------------------------
// Determinism and the property test against the model.

#define GENERATOR_SENT_MAX 8u

struct generator_sent {
    uint64_t room;
    uint64_t sender;
    uint64_t seq;
};

struct generator {
    struct tc_prng prng;
    uint64_t rooms_span; // room ids 1..rooms_span (+ occasionally 0)
    uint64_t users_span;
    uint64_t keys_span; // small span => repeated idempotency keys
    // The last committed sends (a ring), so that redactions often name a real message.
    struct generator_sent sent[GENERATOR_SENT_MAX];
    uint32_t sent_count;
};

// A redact: mostly of a recent message by its sender (ok, a duplicate, or message_evicted once it
// left the window), sometimes by another user (not_sender, not_member), sometimes any seq.
static int generate_redact(struct generator *g, struct tc_room_batch *batch, uint64_t room,
                           uint64_t user, uint64_t seq_hint) {
    uint64_t seq = tc_prng_below(&g->prng, seq_hint + 3);
    if (g->sent_count > 0 && tc_prng_chance_ppm(&g->prng, 750000)) {
        uint32_t available = tc_min_u32(g->sent_count, GENERATOR_SENT_MAX);
        const struct generator_sent *sent =
            &g->sent[(g->sent_count - 1u - (uint32_t)tc_prng_below(&g->prng, available)) %
                     GENERATOR_SENT_MAX];
        room = sent->room;
        seq = sent->seq;
        if (tc_prng_chance_ppm(&g->prng, 800000)) user = sent->sender;
    }
    return tc_room_batch_add_redact(batch, room, user, seq);
}

static uint64_t pick(struct generator *g, uint64_t span) {
    if (tc_prng_chance_ppm(&g->prng, 10000)) return 0; // 1%: the invalid id 0
    return tc_prng_range(&g->prng, 1, span);
}

// A set_retention op: mostly valid policies, sometimes a bad value or an unknown mode.
static int generate_retention(struct generator *g, struct tc_room_batch *batch, uint64_t room,
                              uint64_t user) {
    static const uint64_t values[] = {0, 1, 2, 30, 36500, 36501, 1ull << 40, (1ull << 40) + 1u};
    uint8_t mode = (uint8_t)tc_prng_below(&g->prng, 4);
    uint64_t value = values[tc_prng_below(&g->prng, TC_ARRAY_COUNT(values))];
    if (tc_prng_chance_ppm(&g->prng, 500000)) { // make it valid
        if (mode == 3) mode = 2;
        if (mode == 0) value = 0;
        if (mode == 1) value = tc_prng_range(&g->prng, 1, TC_ROOM_RETENTION_DAYS_MAX);
        if (mode == 2) value = tc_prng_range(&g->prng, 1, 1000);
    }
    int rc = tc_room_batch_add_set_retention(batch, room, user, mode, value);
    if (rc != TC_EINVAL) return rc;
    // The encoder refuses it: write a valid op, then patch the bytes (the machine must refuse).
    rc = tc_room_batch_add_set_retention(batch, room, user, 0, 0);
    if (rc != TC_OK) return rc;
    uint8_t *op = batch->buffer + batch->size - TC_ROOM_OP_RETENTION_SIZE;
    op[24] = mode;
    for (uint32_t i = 0; i < 8; i++) op[32 + i] = (uint8_t)(value >> (8u * i));
    return TC_OK;
}

static void generate_op(struct generator *g, struct tc_room_batch *batch, uint64_t seq_hint) {
    uint64_t roll = tc_prng_below(&g->prng, 100);
    uint64_t room = pick(g, g->rooms_span);
    uint64_t user = pick(g, g->users_span);
    int rc;
    if (roll < 6) {
        rc = tc_room_batch_add_create_room(batch, room, user);
    } else if (roll < 9) {
        rc = tc_room_batch_add_create_dm(batch, room, user, pick(g, g->users_span));
    } else if (roll < 26) {
        rc = tc_room_batch_add_join(batch, room, user);
    } else if (roll < 30) {
        rc = tc_room_batch_add_leave(batch, room, user);
    } else if (roll < 34) {
        rc = generate_retention(g, batch, room, user);
    } else if (roll < 40) { // a read marker: mostly at or below the highest head, sometimes above
        uint64_t seq = tc_prng_below(&g->prng, seq_hint + 3);
        if (tc_prng_chance_ppm(&g->prng, 20000)) seq = UINT64_MAX;
        rc = tc_room_batch_add_read_marker(batch, room, user, seq);
    } else if (roll < 46) {
        rc = generate_redact(g, batch, room, user, seq_hint);
    } else {
        uint8_t key[TC_ROOM_KEY_SIZE];
        key_from(key, pick(g, g->keys_span));
        key[15] = (uint8_t)tc_prng_below(&g->prng, 2);
        uint64_t parent = 0;
        if (tc_prng_chance_ppm(&g->prng, 150000)) parent = tc_prng_below(&g->prng, seq_hint + 3);
        if (tc_prng_chance_ppm(&g->prng, 150000) && seq_hint > 3) { // a recent seq: maybe a reply
            parent = seq_hint - tc_prng_below(&g->prng, 4);
        }
        static uint8_t body[TC_ROOM_BODY_SIZE_MAX];
        uint32_t size = tc_prng_chance_ppm(&g->prng, 50000)
                            ? (uint32_t)tc_prng_range(&g->prng, 1000, TC_ROOM_BODY_SIZE_MAX)
                            : (uint32_t)tc_prng_range(&g->prng, 1, 200);
        tc_prng_fill(&g->prng, body, size);
        rc = tc_room_batch_add_send(batch, room, user, key, parent, body, size);
    }
    assert_true(rc == TC_OK || rc == TC_ENOSPC);
}

// Chain heads, policies, room info, memberships, read markers and the store budget agree with the
// model; every message the sink heard since `*events_checked` is the model's message, field by
// field and byte by byte.
static void check_state_equal(struct fixture *f, const struct tc_room_model *model,
                              uint64_t rooms_span, uint64_t users_span, uint32_t *events_checked) {
    assert_int_equal(tc_room_store_bytes_used(f->machine), tc_room_model_store_bytes_used(model));
    for (uint64_t room = 0; room <= rooms_span + 1; room++) {
        uint64_t seq = 0, model_seq = 0;
        struct tc_hash256 hash, model_hash;
        int rc = tc_room_chain_head(f->machine, room, &seq, &hash);
        assert_int_equal(rc, tc_room_model_chain_head(model, room, &model_seq, &model_hash));
        struct tc_room_info info;
        struct tc_room_retention retention;
        assert_int_equal(tc_room_info(f->machine, room, &info), rc);
        assert_int_equal(tc_room_model_retention(model, room, &retention), rc);
        if (rc != TC_OK) continue;
        assert_int_equal(seq, model_seq);
        assert_true(tc_hash256_equal(&hash, &model_hash));
        assert_int_equal(info.seq_last, seq);
        assert_int_equal(info.retention.mode, retention.mode);
        assert_int_equal(info.retention.value, retention.value);
        for (uint64_t user = 0; user <= users_span + 1; user++) {
            uint64_t marker = UINT64_MAX;
            uint64_t model_marker = UINT64_MAX;
            int member = tc_room_read_marker(f->machine, room, user, &marker);
            assert_int_equal(member, tc_room_model_read_marker(model, room, user, &model_marker));
            assert_int_equal(member == TC_OK, tc_room_is_member(f->machine, room, user));
            assert_int_equal(marker, model_marker);
            if (member == TC_OK) assert_true(marker <= seq);
        }
    }
    // Every model redaction is the machine's, and no other (the counts agree).
    assert_int_equal(tc_room_redaction_count(f->machine), tc_room_model_redaction_count(model));
    for (uint32_t i = 0; i < tc_room_model_redaction_count(model); i++) {
        uint64_t room = 0, seq = 0;
        assert_int_equal(tc_room_model_redaction_at(model, i, &room, &seq), TC_OK);
        assert_true(tc_room_redacted(f->machine, room, seq));
    }
    for (; *events_checked < f->recorder.count; *events_checked += 1) {
        const struct sink_event *event = &f->recorder.events[*events_checked];
        if (!event->message) continue;
        const struct tc_room_message *actual = &event->fields;
        struct tc_room_message expected;
        assert_int_equal(tc_room_model_message(model, actual->room, actual->seq, &expected), 0);
        if (actual->redacted) { // a redaction event: of a redacted message, by its sender
            assert_true(expected.redacted);
            assert_int_equal(actual->sender, expected.sender);
            redaction_events_seen += 1;
            continue;
        }
        assert_int_equal(actual->thread_parent_seq, expected.thread_parent_seq);
        assert_int_equal(actual->thread_seq, expected.thread_seq);
        assert_int_equal(actual->sender, expected.sender);
        assert_int_equal(actual->timestamp_ns, expected.timestamp_ns);
        assert_true(tc_hash256_equal(&actual->hash, &expected.hash));
        assert_true(tc_hash256_equal(&actual->prev_hash, &expected.prev_hash));
        assert_int_equal(actual->body_size, expected.body_size);
        assert_memory_equal(actual->body, expected.body, actual->body_size);
        struct tc_room_info info;
        tc_room_info_at(f->machine, event->room_index, &info);
        assert_int_equal(info.room, actual->room);
    }
    f->recorder.count = 0; // the next events go to the start of the buffer
    *events_checked = 0;
}

static void apply_and_learn(struct fixture *f, struct fixture *twin, struct generator *g,
                            uint64_t *seq_hint) {
    uint32_t size = f->batch.size;
    uint32_t count = apply_raw(f, f->batch.buffer, size); // compares with f's model
    apply_raw(twin, f->batch.buffer, size);
    struct tc_room_batch_reader reader;
    assert_int_equal(tc_room_batch_reader_init(&reader, f->batch.buffer, size), TC_OK);
    struct tc_room_op op;
    for (uint32_t i = 0; i < count; i++) {
        assert_true(tc_room_batch_reader_next(&reader, &op));
        struct tc_room_result result = result_at(f, i);
        if (result.seq > *seq_hint) *seq_hint = result.seq;
        if (op.kind != TC_ROOM_OP_SEND || result.status != TC_ROOM_OK || result.duplicate) continue;
        g->sent[g->sent_count % GENERATOR_SENT_MAX] =
            (struct generator_sent){.room = op.room, .sender = op.user, .seq = result.seq};
        g->sent_count += 1;
    }
}

static void property_run(uint64_t seed, const struct tc_room_config *config, uint32_t batches) {
    struct fixture *f = fixture_create(config);
    struct fixture *twin = fixture_create(config);
    fixture_sink(twin, false); // the sink is not state: the digests agree without it
    const struct tc_room_model *model = f->model;
    struct generator g = {.rooms_span = config->rooms_max + 2,
                          .users_span = 6,
                          .keys_span = config->idempotency_keys_max + 8};
    tc_prng_init(&g.prng, seed);
    uint64_t seq_hint = 0;
    uint32_t events_checked = 0;
    for (uint32_t b = 0; b < batches; b++) {
        uint32_t ops = (uint32_t)tc_prng_range(&g.prng, 1, 12);
        for (uint32_t i = 0; i < ops; i++) generate_op(&g, &f->batch, seq_hint);
        if (f->batch.op_count == 0) continue;
        apply_and_learn(f, twin, &g, &seq_hint);
        batch_reset(f);
        if (b % 64 == 63) check_state_equal(f, model, g.rooms_span, g.users_span, &events_checked);
    }
    check_state_equal(f, model, g.rooms_span, g.users_span, &events_checked);
    assert_int_equal(tc_room_model_history_dropped(model), 0);
    struct tc_checksum a = digest_of(f);
    struct tc_checksum b = digest_of(twin);
    assert_true(tc_checksum_equal(&a, &b));
    fixture_destroy(twin);
    fixture_destroy(f);
}

static void test_property_vs_model(void **state) {
    (void)state;
    struct tc_room_config small = config_small();
    struct tc_room_config tight = {.rooms_max = 3,
                                   .members_max = 5,
                                   .idempotency_keys_max = 3,
                                   .messages_max = 7,
                                   .store_bytes_max = 0};
    struct tc_room_config roomy = {.rooms_max = 32,
                                   .members_max = 200,
                                   .idempotency_keys_max = 64,
                                   .messages_max = 60,
                                   .store_bytes_max = 0};
    struct tc_room_config budget = small; // fills up within the run
    memset(statuses_seen, 0, sizeof(statuses_seen));
    redaction_events_seen = 0;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        budget.store_bytes_max = 200u * TC_ROOM_STORE_COST(100) + seed * 8u;
        property_run(seed, &small, 600);
        property_run(seed * 1000003u, &tight, 600);
        property_run(seed * 7919u, &roomy, 600);
        property_run(seed * 104729u, &budget, 600);
    }
    for (uint32_t status = 0; status < TC_ROOM_STATUS_COUNT; status++) {
        if (status == TC_ROOM_MALFORMED_BATCH) continue; // the generator builds valid batches
        if (statuses_seen[status] == 0) {
            fail_msg("status %s never seen", tc_room_status_name(status));
        }
    }
    assert_true(redaction_events_seen >= 100); // committed redactions, not only refusals
}

static void test_digest_equality(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    struct fixture *a = fixture_create(&config);
    struct fixture *b = fixture_create(&config);
    struct tc_checksum da = digest_of(a);
    struct tc_checksum db = digest_of(b);
    assert_true(tc_checksum_equal(&da, &db));
    struct fixture *both[2] = {a, b};
    for (uint32_t i = 0; i < 2; i++) {
        struct fixture *f = both[i];
        do_create(f, 1, 1);
        do_join(f, 1, 2);
        do_dm(f, 2, 1, 2);
        do_send(f, 1, 2, 1, 0, "m");
        do_send(f, 1, 1, 2, 1, "t");
        do_leave(f, 1, 2);
        do_retention(f, 2, 1, TC_ROOM_RETENTION_KEEP_DAYS, 7);
    }
    da = digest_of(a);
    db = digest_of(b);
    assert_true(tc_checksum_equal(&da, &db));
    do_join(a, 1, 3); // diverge by one membership
    da = digest_of(a);
    assert_false(tc_checksum_equal(&da, &db));
    do_join(b, 1, 3);
    db = digest_of(b);
    assert_true(tc_checksum_equal(&da, &db));
    do_retention(a, 2, 1, TC_ROOM_RETENTION_KEEP_DAYS, 8); // diverge by a policy's value only
    do_retention(b, 2, 1, TC_ROOM_RETENTION_KEEP_DAYS, 9);
    da = digest_of(a);
    db = digest_of(b);
    assert_false(tc_checksum_equal(&da, &db));
    do_retention(a, 2, 1, TC_ROOM_RETENTION_KEEP_MESSAGES, 9); // by its mode only
    do_retention(b, 2, 1, TC_ROOM_RETENTION_KEEP_DAYS, 9);     // (ops stay aligned)
    da = digest_of(a);
    db = digest_of(b);
    assert_false(tc_checksum_equal(&da, &db));
    do_retention(a, 2, 1, TC_ROOM_RETENTION_KEEP_ALL, 0);
    do_retention(b, 2, 1, TC_ROOM_RETENTION_KEEP_ALL, 0);
    da = digest_of(a);
    db = digest_of(b);
    assert_true(tc_checksum_equal(&da, &db));
    do_read_marker(a, 1, 1, 1); // diverge by a read marker only
    do_read_marker(b, 1, 1, 2);
    da = digest_of(a);
    db = digest_of(b);
    assert_false(tc_checksum_equal(&da, &db));
    do_read_marker(a, 1, 1, 2);
    do_read_marker(b, 1, 1, 1); // a lower seq: b's marker stays at 2
    da = digest_of(a);
    db = digest_of(b);
    assert_true(tc_checksum_equal(&da, &db));
    for (uint32_t i = 0; i < 2; i++) { // the DM gets messages 1 and 2
        do_send(both[i], 2, 1, 10, 0, "d");
        do_send(both[i], 2, 2, 11, 0, "e");
    }
    do_read_marker(a, 2, 1, 1); // the same markers on swapped members
    do_read_marker(a, 2, 2, 2);
    do_read_marker(b, 2, 1, 2);
    do_read_marker(b, 2, 2, 1);
    da = digest_of(a);
    db = digest_of(b);
    assert_false(tc_checksum_equal(&da, &db));
    do_read_marker(a, 2, 1, 2);
    do_read_marker(b, 2, 2, 2);
    da = digest_of(a);
    db = digest_of(b);
    assert_true(tc_checksum_equal(&da, &db));
    do_send(a, 1, 1, 3, 0, "x"); // same op, different timestamps -> different digests
    b->op += 1;
    do_send(b, 1, 1, 3, 0, "x");
    da = digest_of(a);
    db = digest_of(b);
    assert_false(tc_checksum_equal(&da, &db));
    fixture_destroy(a);
    fixture_destroy(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_store_cost),
        cmocka_unit_test(test_codec_builder_limits),
        cmocka_unit_test(test_codec_set_retention),
        cmocka_unit_test(test_codec_reply_decoder),
        cmocka_unit_test(test_codec_read_marker),
        cmocka_unit_test(test_create_join_leave),
        cmocka_unit_test(test_dm_rules),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_idempotency),
        cmocka_unit_test(test_hash_chain),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_thread_window),
        cmocka_unit_test(test_store_budget_exact),
        cmocka_unit_test(test_store_full_rules),
        cmocka_unit_test(test_store_unlimited),
        cmocka_unit_test(test_set_retention_errors),
        cmocka_unit_test(test_set_retention_success),
        cmocka_unit_test(test_read_marker_errors),
        cmocka_unit_test(test_read_marker_success),
        cmocka_unit_test(test_redact_errors),
        cmocka_unit_test(test_redact_horizon),
        cmocka_unit_test(test_redact_success),
        cmocka_unit_test(test_redact_batch_and_dm),
        cmocka_unit_test(test_redact_table_full),
        cmocka_unit_test(test_sink_messages),
        cmocka_unit_test(test_reads),
        cmocka_unit_test(test_malformed_batches),
        cmocka_unit_test(test_corrupted_batches_vs_model),
        cmocka_unit_test(test_model_history),
        cmocka_unit_test(test_digest_equality),
        cmocka_unit_test(test_property_vs_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
