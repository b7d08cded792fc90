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
// Fixture: one machine over a heap arena, an op counter and reply/batch buffers.

struct fixture {
    struct tc_room_config config;
    void *memory;
    struct tc_arena arena;
    struct tc_room_machine *machine;
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
        .body_bytes_max = 8192,
    };
    return config;
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
    return f;
}

static void fixture_destroy(struct fixture *f) {
    free(f->memory);
    free(f);
}

static void batch_reset(struct fixture *f) {
    tc_room_batch_init(&f->batch, f->batch_buffer, sizeof(f->batch_buffer));
}

static uint64_t timestamp_for(uint64_t op) { return 1700000000000000000ull + op * 1000u; }

// Applies raw bytes; returns the result count.
static uint32_t apply_raw(struct fixture *f, const uint8_t *body, uint32_t size) {
    f->op += 1;
    f->reply_size = tc_room_apply(f->machine, f->op, timestamp_for(f->op), 7, body, size, f->reply,
                                  sizeof(f->reply));
    int count = tc_room_reply_count(f->reply, f->reply_size);
    assert_true(count >= 1);
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

static struct tc_checksum digest_of(const struct fixture *f) {
    struct tc_checksum digest;
    tc_room_digest(f->machine, &digest);
    return digest;
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
    bad.body_bytes_max = TC_ROOM_BODY_SIZE_MAX - 1;
    assert_non_null(tc_room_config_invalid(&bad));
    bad = config;
    bad.messages_max = 0;
    assert_non_null(tc_room_config_invalid(&bad));

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
    free(memory);
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
    assert_int_equal(batch.size, size);
    assert_int_equal(batch.op_count, 2);
    assert_int_equal(tc_room_validate_batch(buffer, batch.size), TC_OK);

    uint8_t key[TC_ROOM_KEY_SIZE] = {1};
    static uint8_t big[TC_ROOM_BATCH_SIZE_MAX];
    tc_room_batch_init(&batch, big, sizeof(big));
    assert_int_equal(tc_room_batch_add_send(&batch, 1, 2, key, 0, key, 0), TC_EINVAL);
    static const uint8_t body[TC_ROOM_BODY_SIZE_MAX + 1] = {0};
    assert_int_equal(tc_room_batch_add_send(&batch, 1, 2, key, 0, body, sizeof(body)), TC_EINVAL);
    for (uint32_t i = 0; i < TC_ROOM_BATCH_OPS_MAX; i++) {
        assert_int_equal(tc_room_batch_add_join(&batch, 1, i + 1), TC_OK);
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
    uint32_t size = tc_room_reply_writer_finish(&writer);
    assert_int_equal(size, TC_ROOM_REPLY_HEADER_SIZE + 2 * TC_ROOM_RESULT_SIZE);
    assert_int_equal(tc_room_reply_count(reply, size), 2);
    struct tc_room_result out;
    assert_int_equal(tc_room_reply_get(reply, size, 0, &out), TC_OK);
    assert_true(tc_room_result_equal(&in, &out));
    assert_int_equal(tc_room_reply_get(reply, size, 1, &out), TC_OK);
    assert_true(tc_room_result_equal(&err, &out));
    assert_int_equal(tc_room_reply_get(reply, size, 2, &out), TC_ERANGE);
    assert_int_equal(tc_room_reply_count(reply, size - 1), TC_ECORRUPT);
    assert_int_equal(tc_room_reply_count(reply, 3), TC_ECORRUPT);
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
    struct tc_room_message messages[4];
    uint32_t count = 0;
    uint64_t retained = 0;
    assert_int_equal(tc_room_history(f->machine, room, 0, 4, messages, &count, &retained), TC_OK);
    assert_int_equal(count, 3);
    assert_int_equal(retained, 1);
    struct tc_hash256 zero;
    memset(&zero, 0, sizeof(zero));
    assert_true(tc_hash256_equal(&messages[0].prev_hash, &zero));
    for (uint32_t i = 1; i < 3; i++) {
        assert_true(tc_hash256_equal(&messages[i].prev_hash, &messages[i - 1].hash));
    }
    assert_true(tc_hash256_equal(&messages[2].hash, &prev));
    assert_memory_equal(messages[1].body, "two two", 7);
    assert_int_equal(messages[1].sender, 9);
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

    struct tc_room_message messages[8];
    uint32_t count = 0;
    uint64_t retained = 0;
    assert_int_equal(tc_room_history(f->machine, 1, 1, 8, messages, &count, &retained), TC_OK);
    assert_int_equal(count, 5);
    assert_int_equal(messages[2].thread_parent_seq, 1);
    assert_int_equal(messages[2].thread_seq, 1);
    assert_int_equal(messages[4].thread_seq, 2);
    assert_int_equal(messages[0].thread_parent_seq, 0);

    // Two more sends evict root A (messages_max 6); replying to it is then "evicted".
    assert_int_equal(do_send(f, 1, 1, 10, 0, "x").seq, 6);
    assert_int_equal(do_send(f, 1, 1, 11, 2, "B.2").thread_seq, 2);
    assert_int_equal(do_send(f, 1, 1, 12, 1, "A.3").status, TC_ROOM_THREAD_PARENT_EVICTED);
    fixture_destroy(f);
}

// ------------------------------------------------------------------------------------------------
// History retention.

static void test_history_ranges(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    config.messages_max = 5;
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 1, 1).status, TC_ROOM_OK);
    assert_int_equal(do_create(f, 2, 1).status, TC_ROOM_OK);
    struct tc_room_message messages[8];
    uint32_t count = 99;
    uint64_t retained = 0;
    assert_int_equal(tc_room_history(f->machine, 1, 1, 8, messages, &count, &retained), TC_OK);
    assert_int_equal(count, 0);
    assert_int_equal(retained, 1);
    assert_int_equal(tc_room_history(f->machine, 3, 1, 8, messages, &count, &retained), TC_ENOENT);
    for (uint64_t i = 1; i <= 6; i++) do_send(f, 1, 1, i, 0, "r1");
    for (uint64_t i = 1; i <= 2; i++) do_send(f, 2, 1, i, 0, "r2");
    // 8 messages, 5 retained: room 1 keeps seqs 4..6, room 2 keeps 1..2.
    assert_int_equal(tc_room_history(f->machine, 1, 1, 8, messages, &count, &retained), TC_ERANGE);
    assert_int_equal(count, 0);
    assert_int_equal(retained, 4);
    assert_int_equal(tc_room_history(f->machine, 1, 3, 8, messages, &count, &retained), TC_ERANGE);
    assert_int_equal(tc_room_history(f->machine, 1, 4, 8, messages, &count, &retained), TC_OK);
    assert_int_equal(count, 3);
    assert_int_equal(messages[0].seq, 4);
    assert_int_equal(messages[2].seq, 6);
    assert_int_equal(tc_room_history(f->machine, 1, 5, 1, messages, &count, &retained), TC_OK);
    assert_int_equal(count, 1);
    assert_int_equal(messages[0].seq, 5);
    assert_int_equal(tc_room_history(f->machine, 1, 7, 8, messages, &count, &retained), TC_OK);
    assert_int_equal(count, 0);
    assert_int_equal(tc_room_history(f->machine, 1, 4, 0, NULL, &count, &retained), TC_OK);
    assert_int_equal(tc_room_history(f->machine, 2, 0, 8, messages, &count, &retained), TC_OK);
    assert_int_equal(count, 2);

    // Room 2's messages go too: all evicted -> retained = seq_last + 1, reading 1 is ERANGE.
    for (uint64_t i = 7; i <= 11; i++) do_send(f, 1, 1, i, 0, "r1");
    assert_int_equal(tc_room_history(f->machine, 2, 1, 8, messages, &count, &retained), TC_ERANGE);
    assert_int_equal(retained, 3);
    assert_int_equal(tc_room_history(f->machine, 2, 3, 8, messages, &count, &retained), TC_OK);
    assert_int_equal(count, 0);
    fixture_destroy(f);
}

static void test_history_body_ring(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    config.messages_max = 100;
    config.body_bytes_max = TC_ROOM_BODY_SIZE_MAX; // exactly one max-size body
    struct fixture *f = fixture_create(&config);
    assert_int_equal(do_create(f, 1, 1).status, TC_ROOM_OK);
    static uint8_t body[TC_ROOM_BODY_SIZE_MAX];
    for (uint32_t i = 0; i < sizeof(body); i++) body[i] = (uint8_t)(i * 7u);
    assert_int_equal(do_send_body(f, 1, 1, 1, 0, body, 3000).status, TC_ROOM_OK);
    assert_int_equal(do_send_body(f, 1, 1, 2, 0, body, 1000).status, TC_ROOM_OK);
    struct tc_room_message messages[8];
    uint32_t count = 0;
    uint64_t retained = 0;
    assert_int_equal(tc_room_history(f->machine, 1, 1, 8, messages, &count, &retained), TC_OK);
    assert_int_equal(count, 2);
    // 1000 more bytes do not fit after 4000 used: wraps to 0 and evicts seq 1 (bytes 0..3000).
    assert_int_equal(do_send_body(f, 1, 1, 3, 0, body + 5, 1000).status, TC_ROOM_OK);
    assert_int_equal(tc_room_history(f->machine, 1, 1, 8, messages, &count, &retained), TC_ERANGE);
    assert_int_equal(retained, 2);
    assert_int_equal(tc_room_history(f->machine, 1, 2, 8, messages, &count, &retained), TC_OK);
    assert_int_equal(count, 2);
    assert_memory_equal(messages[0].body, body, 1000);
    assert_memory_equal(messages[1].body, body + 5, 1000);
    // A max-size body evicts everything else.
    assert_int_equal(do_send_body(f, 1, 1, 4, 0, body, TC_ROOM_BODY_SIZE_MAX).status, TC_ROOM_OK);
    assert_int_equal(tc_room_history(f->machine, 1, 4, 8, messages, &count, &retained), TC_OK);
    assert_int_equal(count, 1);
    assert_int_equal(retained, 4);
    assert_memory_equal(messages[0].body, body, TC_ROOM_BODY_SIZE_MAX);
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
    uint32_t good_size = batch.size;
    assert_int_equal(tc_room_validate_batch(good, good_size), TC_OK);

    expect_malformed(f, NULL, 0);
    for (uint32_t size = 0; size < good_size; size++) expect_malformed(f, good, size); // truncated
    static uint8_t bad[1024];
    uint32_t send_offset = TC_ROOM_BATCH_HEADER_SIZE + TC_ROOM_OP_ROOM_SIZE;
    struct {
        uint32_t offset;
        uint32_t value;
    } edits[] = {
        {0, 0x12345678},    // magic
        {4, 4},             // op count too high (4 ops claimed, 3 present)
        {4, 2},             // op count too low (trailing op)
        {4, 0},             // zero ops
        {8, good_size + 1}, // size field
        {12, 1},            // reserved
        {send_offset + 48, TC_ROOM_BODY_SIZE_MAX + 1},        // oversized body
        {send_offset + 48, 0},                                // empty body
        {send_offset + 52, 1},                                // reserved in send
        {send_offset + 4, 3},                                 // op size shorter than the op
        {TC_ROOM_BATCH_HEADER_SIZE, 9},                       // unknown kind
        {TC_ROOM_BATCH_HEADER_SIZE, 0x100 | TC_ROOM_OP_JOIN}, // reserved byte after kind
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

    struct tc_prng prng;
    tc_prng_init(&prng, 42);
    for (uint32_t round = 0; round < 2000; round++) {
        uint32_t size = (uint32_t)tc_prng_below(&prng, sizeof(bad));
        tc_prng_fill(&prng, bad, size);
        if (round % 2 == 0 && size >= 8) { // plausible header, random rest
            put32(bad, TC_ROOM_BATCH_MAGIC);
            put32(bad + 8, size);
        }
        expect_malformed(f, bad, size);
    }
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
// Determinism and the property test against the model.

struct generator {
    struct tc_prng prng;
    uint64_t rooms_span; // room ids 1..rooms_span (+ occasionally 0)
    uint64_t users_span;
    uint64_t keys_span; // small span => repeated idempotency keys
};

static uint64_t pick(struct generator *g, uint64_t span) {
    if (tc_prng_chance_ppm(&g->prng, 10000)) return 0; // 1%: the invalid id 0
    return tc_prng_range(&g->prng, 1, span);
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
    } else if (roll < 28) {
        rc = tc_room_batch_add_join(batch, room, user);
    } else if (roll < 32) {
        rc = tc_room_batch_add_leave(batch, room, user);
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

static void check_history_equal(struct fixture *f, const struct tc_room_model *model,
                                uint64_t rooms_span) {
    static struct tc_room_message actual[64];
    static struct tc_room_message expected[64];
    for (uint64_t room = 0; room <= rooms_span + 1; room++) {
        uint64_t seq = 0;
        uint64_t model_seq = 0;
        struct tc_hash256 hash;
        struct tc_hash256 model_hash;
        int rc = tc_room_chain_head(f->machine, room, &seq, &hash);
        assert_int_equal(rc, tc_room_model_chain_head(model, room, &model_seq, &model_hash));
        if (rc != TC_OK) continue;
        assert_int_equal(seq, model_seq);
        assert_true(tc_hash256_equal(&hash, &model_hash));
        for (uint64_t from = 0; from <= seq + 1; from++) {
            uint32_t count = 0, model_count = 0;
            uint64_t retained = 0, model_retained = 0;
            rc = tc_room_history(f->machine, room, from, 64, actual, &count, &retained);
            assert_int_equal(rc, tc_room_model_history(model, room, from, 64, expected,
                                                       &model_count, &model_retained));
            assert_int_equal(retained, model_retained);
            assert_int_equal(count, model_count);
            for (uint32_t i = 0; i < count; i++) {
                assert_int_equal(actual[i].seq, expected[i].seq);
                assert_int_equal(actual[i].thread_parent_seq, expected[i].thread_parent_seq);
                assert_int_equal(actual[i].thread_seq, expected[i].thread_seq);
                assert_int_equal(actual[i].sender, expected[i].sender);
                assert_int_equal(actual[i].timestamp_ns, expected[i].timestamp_ns);
                assert_true(tc_hash256_equal(&actual[i].hash, &expected[i].hash));
                assert_true(tc_hash256_equal(&actual[i].prev_hash, &expected[i].prev_hash));
                assert_int_equal(actual[i].body_size, expected[i].body_size);
                assert_memory_equal(actual[i].body, expected[i].body, actual[i].body_size);
            }
        }
    }
}

static void property_run(uint64_t seed, const struct tc_room_config *config, uint32_t batches) {
    struct fixture *f = fixture_create(config);
    struct fixture *twin = fixture_create(config);
    struct tc_room_model *model = tc_room_model_create(config);
    assert_non_null(model);
    static struct tc_room_result expected[TC_ROOM_BATCH_OPS_MAX];
    struct generator g = {.rooms_span = config->rooms_max + 2,
                          .users_span = 6,
                          .keys_span = config->idempotency_keys_max + 8};
    tc_prng_init(&g.prng, seed);
    uint64_t seq_hint = 0;
    for (uint32_t b = 0; b < batches; b++) {
        uint32_t ops = (uint32_t)tc_prng_range(&g.prng, 1, 12);
        for (uint32_t i = 0; i < ops; i++) generate_op(&g, &f->batch, seq_hint);
        if (f->batch.op_count == 0) continue;
        uint32_t size = f->batch.size;
        uint32_t count = apply_raw(f, f->batch.buffer, size);
        apply_raw(twin, f->batch.buffer, size);
        uint32_t model_count =
            tc_room_model_apply(model, timestamp_for(f->op), f->batch.buffer, size, expected);
        assert_int_equal(count, model_count);
        int32_t mismatch = tc_room_model_reply_mismatch(expected, count, f->reply, f->reply_size);
        if (mismatch != -1) {
            struct tc_room_result got = result_at(f, (uint32_t)mismatch);
            print_error("seed %llu batch %u op %d: expected %s seq %llu, got %s seq %llu\n",
                        (unsigned long long)seed, b, mismatch,
                        tc_room_status_name(expected[mismatch].status),
                        (unsigned long long)expected[mismatch].seq, tc_room_status_name(got.status),
                        (unsigned long long)got.seq);
        }
        assert_int_equal(mismatch, -1);
        for (uint32_t i = 0; i < count; i++) {
            if (expected[i].seq > seq_hint) seq_hint = expected[i].seq;
        }
        batch_reset(f);
        if (b % 64 == 63) check_history_equal(f, model, g.rooms_span);
    }
    check_history_equal(f, model, g.rooms_span);
    struct tc_checksum a = digest_of(f);
    struct tc_checksum b = digest_of(twin);
    assert_true(tc_checksum_equal(&a, &b));
    tc_room_model_destroy(model);
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
                                   .body_bytes_max = TC_ROOM_BODY_SIZE_MAX};
    struct tc_room_config roomy = {.rooms_max = 32,
                                   .members_max = 200,
                                   .idempotency_keys_max = 64,
                                   .messages_max = 60,
                                   .body_bytes_max = 3 * TC_ROOM_BODY_SIZE_MAX + 123};
    for (uint64_t seed = 1; seed <= 8; seed++) {
        property_run(seed, &small, 600);
        property_run(seed * 1000003u, &tight, 600);
        property_run(seed * 7919u, &roomy, 600);
    }
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
        cmocka_unit_test(test_codec_builder_limits),
        cmocka_unit_test(test_codec_reply_decoder),
        cmocka_unit_test(test_create_join_leave),
        cmocka_unit_test(test_dm_rules),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_idempotency),
        cmocka_unit_test(test_hash_chain),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_history_ranges),
        cmocka_unit_test(test_history_body_ring),
        cmocka_unit_test(test_malformed_batches),
        cmocka_unit_test(test_corrupted_batches_vs_model),
        cmocka_unit_test(test_digest_equality),
        cmocka_unit_test(test_property_vs_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
