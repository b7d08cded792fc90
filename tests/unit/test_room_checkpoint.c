// Unit and property tests of the room state machine's checkpoint (node/room/room_checkpoint.c):
// round trips at many points of random workloads (equal digests, byte-identical re-encodings,
// identical behaviour afterwards), targeted corruptions, every truncation, random byte flips.
// docs/room.md, "Checkpoint encoding", has the layout under test.

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "room.h"
#include "room_internal.h" // white-box: op_last, ring heads and counts for coverage checks
#include "tc_arena.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_prng.h"

// ------------------------------------------------------------------------------------------------
// Fixture: a machine over a heap arena.

struct box {
    struct tc_room_config config;
    void *memory;
    struct tc_arena arena;
    struct tc_room_machine *machine;
};

static struct box *box_create(const struct tc_room_config *config) {
    struct box *box = calloc(1, sizeof(*box));
    assert_non_null(box);
    box->config = *config;
    uint64_t size = tc_room_memory_size(config);
    box->memory = malloc(size);
    assert_non_null(box->memory);
    tc_arena_init(&box->arena, box->memory, size);
    assert_int_equal(tc_room_init(&box->machine, config, &box->arena), TC_OK);
    tc_arena_seal(&box->arena);
    return box;
}

static void box_destroy(struct box *box) {
    free(box->memory);
    free(box);
}

static uint64_t timestamp_for(uint64_t op) { return 1700000000000000000ull + op * 1000u; }

// Applies a batch as the next op (op_last + 1); returns the reply size.
static uint32_t box_apply(struct box *box, const uint8_t *batch, uint32_t batch_size,
                          uint8_t *reply) {
    uint64_t op = box->machine->op_last + 1u;
    return tc_room_apply(box->machine, op, timestamp_for(op), 7, batch, batch_size, reply,
                         TC_ROOM_REPLY_SIZE_MAX);
}

static struct tc_checksum box_digest(const struct box *box) {
    struct tc_checksum digest;
    tc_room_digest(box->machine, &digest);
    return digest;
}

// A checkpoint buffer of size_max bytes for the config.
struct image {
    uint8_t *bytes;
    uint64_t size;
    uint64_t size_max;
};

static void image_init(struct image *image, const struct tc_room_config *config) {
    image->size_max = tc_room_checkpoint_size_max(config);
    image->bytes = malloc(image->size_max);
    assert_non_null(image->bytes);
    image->size = 0;
}

static void image_encode(struct image *image, const struct box *box) {
    image->size = tc_room_checkpoint_encode(box->machine, image->bytes, image->size_max);
    assert_true(image->size >= TC_ROOM_CHECKPOINT_HEADER_SIZE);
    assert_true(image->size <= image->size_max);
}

static void image_free(struct image *image) {
    free(image->bytes);
    image->bytes = NULL;
}

// ------------------------------------------------------------------------------------------------
// Random workloads.

struct workload {
    struct tc_prng prng;
    uint64_t rooms_span; // room ids 1..rooms_span (+ occasionally 0)
    uint64_t users_span;
    uint64_t keys_span; // small span: repeated idempotency keys (duplicates)
    uint32_t body_large_ppm;
    uint64_t seq_hint; // the highest seq seen in a reply: thread parents near it
    uint8_t batch_buffer[TC_ROOM_BATCH_SIZE_MAX];
    struct tc_room_batch batch;
};

static void workload_init(struct workload *w, uint64_t seed, const struct tc_room_config *config) {
    memset(w, 0, sizeof(*w));
    tc_prng_init(&w->prng, seed);
    w->rooms_span = config->rooms_max + 2u;
    w->users_span = 6;
    w->keys_span = config->idempotency_keys_max + 8u;
    w->body_large_ppm = 80000;
}

static uint64_t pick(struct workload *w, uint64_t span) {
    if (tc_prng_chance_ppm(&w->prng, 10000)) return 0; // 1%: the invalid id 0
    return tc_prng_range(&w->prng, 1, span);
}

static void workload_add_send(struct workload *w, uint64_t room, uint64_t user) {
    uint8_t key[TC_ROOM_KEY_SIZE];
    memset(key, 0, sizeof(key));
    uint64_t key_value = pick(w, w->keys_span);
    memcpy(key, &key_value, sizeof(key_value));
    key[15] = (uint8_t)tc_prng_below(&w->prng, 2);
    uint64_t parent = 0;
    if (tc_prng_chance_ppm(&w->prng, 300000) && w->seq_hint > 0) {
        parent = w->seq_hint - tc_prng_below(&w->prng, tc_min_u64(w->seq_hint, 5));
    }
    static uint8_t body[TC_ROOM_BODY_SIZE_MAX];
    uint32_t size = tc_prng_chance_ppm(&w->prng, w->body_large_ppm)
                        ? (uint32_t)tc_prng_range(&w->prng, 1000, TC_ROOM_BODY_SIZE_MAX)
                        : (uint32_t)tc_prng_range(&w->prng, 1, 200);
    tc_prng_fill(&w->prng, body, size);
    int rc = tc_room_batch_add_send(&w->batch, room, user, key, parent, body, size);
    assert_true(rc == TC_OK || rc == TC_ENOSPC);
}

static void workload_add_op(struct workload *w) {
    uint64_t roll = tc_prng_below(&w->prng, 100);
    uint64_t room = pick(w, w->rooms_span);
    uint64_t user = pick(w, w->users_span);
    int rc = TC_OK;
    if (roll < 8) {
        rc = tc_room_batch_add_create_room(&w->batch, room, user);
    } else if (roll < 12) {
        rc = tc_room_batch_add_create_dm(&w->batch, room, user, pick(w, w->users_span));
    } else if (roll < 30) {
        rc = tc_room_batch_add_join(&w->batch, room, user);
    } else if (roll < 40) {
        rc = tc_room_batch_add_leave(&w->batch, room, user);
    } else {
        workload_add_send(w, room, user);
    }
    assert_true(rc == TC_OK || rc == TC_ENOSPC);
}

// Builds the next random batch (1..12 ops) in w->batch.
static void workload_next(struct workload *w) {
    tc_room_batch_init(&w->batch, w->batch_buffer, sizeof(w->batch_buffer));
    uint32_t ops = (uint32_t)tc_prng_range(&w->prng, 1, 12);
    for (uint32_t i = 0; i < ops; i++) workload_add_op(w);
    assert_true(w->batch.op_count >= 1);
}

static void workload_learn(struct workload *w, const uint8_t *reply, uint32_t reply_size) {
    int count = tc_room_reply_count(reply, reply_size);
    assert_true(count >= 1);
    for (uint32_t i = 0; i < (uint32_t)count; i++) {
        struct tc_room_result result;
        assert_int_equal(tc_room_reply_get(reply, reply_size, i, &result), TC_OK);
        if (result.status == TC_ROOM_OK && result.seq > w->seq_hint) w->seq_hint = result.seq;
    }
}

// Applies the next random batch to every machine in `boxes` and checks that the replies agree.
static void apply_next_to_all(struct workload *w, struct box **boxes, uint32_t count) {
    static uint8_t reply_first[TC_ROOM_REPLY_SIZE_MAX];
    static uint8_t reply[TC_ROOM_REPLY_SIZE_MAX];
    workload_next(w);
    uint32_t size_first = box_apply(boxes[0], w->batch.buffer, w->batch.size, reply_first);
    for (uint32_t i = 1; i < count; i++) {
        assert_int_equal(boxes[i]->machine->op_last + 1u, boxes[0]->machine->op_last);
        uint32_t size = box_apply(boxes[i], w->batch.buffer, w->batch.size, reply);
        assert_int_equal(size, size_first);
        assert_memory_equal(reply, reply_first, size);
    }
    workload_learn(w, reply_first, size_first);
}

static void apply_batches(struct workload *w, struct box *box, uint32_t batches) {
    for (uint32_t i = 0; i < batches; i++) apply_next_to_all(w, &box, 1);
}

// ------------------------------------------------------------------------------------------------
// Equality of two machines: digest, encoding, and every room's chain head and history.

static void assert_history_equal(const struct box *a, const struct box *b, uint64_t room) {
    static struct tc_room_message history_a[64];
    static struct tc_room_message history_b[64];
    uint32_t count_a = 0, count_b = 0;
    uint64_t retained_a = 0, retained_b = 0;
    int rc_a = tc_room_history(a->machine, room, 0, 64, history_a, &count_a, &retained_a);
    int rc_b = tc_room_history(b->machine, room, 0, 64, history_b, &count_b, &retained_b);
    assert_int_equal(rc_a, rc_b);
    if (rc_a == TC_ERANGE) {
        rc_a = tc_room_history(a->machine, room, retained_a, 64, history_a, &count_a, &retained_a);
        rc_b = tc_room_history(b->machine, room, retained_b, 64, history_b, &count_b, &retained_b);
        assert_int_equal(rc_a, rc_b);
    }
    assert_int_equal(retained_a, retained_b);
    assert_int_equal(count_a, count_b);
    for (uint32_t i = 0; i < count_a; i++) {
        const struct tc_room_message *x = &history_a[i];
        const struct tc_room_message *y = &history_b[i];
        assert_int_equal(x->seq, y->seq);
        assert_int_equal(x->thread_parent_seq, y->thread_parent_seq);
        assert_int_equal(x->thread_seq, y->thread_seq);
        assert_int_equal(x->sender, y->sender);
        assert_int_equal(x->timestamp_ns, y->timestamp_ns);
        assert_true(tc_hash256_equal(&x->hash, &y->hash));
        assert_true(tc_hash256_equal(&x->prev_hash, &y->prev_hash));
        assert_int_equal(x->body_size, y->body_size);
        assert_memory_equal(x->body, y->body, x->body_size);
    }
}

static void assert_boxes_equal(const struct box *a, const struct box *b) {
    struct tc_checksum digest_a = box_digest(a);
    struct tc_checksum digest_b = box_digest(b);
    assert_memory_equal(&digest_a, &digest_b, sizeof(digest_a));
    assert_int_equal(a->machine->op_last, b->machine->op_last);
    struct image image_a;
    struct image image_b;
    image_init(&image_a, &a->config);
    image_init(&image_b, &b->config);
    image_encode(&image_a, a);
    image_encode(&image_b, b);
    assert_int_equal(image_a.size, image_b.size);
    assert_memory_equal(image_a.bytes, image_b.bytes, image_a.size);
    image_free(&image_a);
    image_free(&image_b);
    assert_int_equal(tc_room_count(a->machine), tc_room_count(b->machine));
    for (uint32_t i = 0; i < a->machine->rooms_count; i++) {
        uint64_t room = a->machine->rooms[i].id;
        uint64_t seq_a = 0, seq_b = 0;
        struct tc_hash256 hash_a, hash_b;
        assert_int_equal(tc_room_chain_head(a->machine, room, &seq_a, &hash_a), TC_OK);
        assert_int_equal(tc_room_chain_head(b->machine, room, &seq_b, &hash_b), TC_OK);
        assert_int_equal(seq_a, seq_b);
        assert_true(tc_hash256_equal(&hash_a, &hash_b));
        assert_history_equal(a, b, room);
    }
}

// Encodes `from` and decodes it into `into`; both must then be equal.
static void checkpoint_copy(const struct box *from, struct box *into) {
    struct image image;
    image_init(&image, &from->config);
    image_encode(&image, from);
    assert_int_equal(tc_room_checkpoint_decode(into->machine, image.bytes, image.size), TC_OK);
    image_free(&image);
    assert_boxes_equal(from, into);
}

// The state right after init: digest, encoding and behaviour of a fresh machine.
static void assert_box_empty(const struct box *box) {
    struct box *fresh = box_create(&box->config);
    assert_int_equal(box->machine->op_last, 0);
    assert_boxes_equal(fresh, box);
    box_destroy(fresh);
}

// ------------------------------------------------------------------------------------------------
// Round trips during random workloads.

static struct tc_room_config config_tight(void) {
    struct tc_room_config config = {.rooms_max = 3,
                                    .members_max = 5,
                                    .idempotency_keys_max = 3,
                                    .messages_max = 7,
                                    .body_bytes_max = TC_ROOM_BODY_SIZE_MAX};
    return config;
}

static struct tc_room_config config_small(void) {
    struct tc_room_config config = {.rooms_max = 8,
                                    .members_max = 32,
                                    .idempotency_keys_max = 16,
                                    .messages_max = 16,
                                    .body_bytes_max = 8192};
    return config;
}

static struct tc_room_config config_roomy(void) {
    struct tc_room_config config = {.rooms_max = 32,
                                    .members_max = 200,
                                    .idempotency_keys_max = 64,
                                    .messages_max = 60,
                                    .body_bytes_max = 3 * TC_ROOM_BODY_SIZE_MAX + 123};
    return config;
}

// Which interesting states a checkpoint was taken in.
struct coverage {
    uint32_t empty;
    uint32_t rooms_full;
    uint32_t members_full;
    uint32_t members_pool_holes; // a freed record is reused before the next unused one
    uint32_t keys_wrapped;
    uint32_t messages_wrapped;
    uint32_t bodies_wrapped;
    uint32_t room_all_evicted; // a room with messages, none retained
};

static void coverage_note(struct coverage *coverage, const struct tc_room_machine *machine) {
    const struct tc_room_config *config = &machine->config;
    if (machine->op_last == 0) coverage->empty += 1;
    if (machine->rooms_count == config->rooms_max) coverage->rooms_full += 1;
    if (machine->members_count == config->members_max) coverage->members_full += 1;
    if (machine->members_free != 0 && machine->members_free != machine->members_count + 1u) {
        coverage->members_pool_holes += 1;
    }
    if (machine->keys_head != 0) coverage->keys_wrapped += 1;
    if (machine->messages_head != 0) coverage->messages_wrapped += 1;
    if (machine->body_position_next > config->body_bytes_max) coverage->bodies_wrapped += 1;
    for (uint32_t i = 0; i < machine->rooms_count; i++) {
        const struct room_entry *room = &machine->rooms[i];
        if (room->seq_last > 0 && room->seq_retained_min > room->seq_last) {
            coverage->room_all_evicted += 1;
            break;
        }
    }
}

// Machine `a` runs the workload. Every `every` batches (and before the first) its checkpoint is
// decoded into `b` (alternately a fresh machine and `b` as it is, to replace a live state); then
// both apply the same batches with identical replies, and stay equal.
static void run_round_trips(uint64_t seed, const struct tc_room_config *config, uint32_t batches,
                            uint32_t every, struct coverage *coverage) {
    struct workload *w = malloc(sizeof(*w));
    assert_non_null(w);
    workload_init(w, seed, config);
    struct box *a = box_create(config);
    struct box *b = box_create(config);
    for (uint32_t batch = 0; batch < batches; batch++) {
        if (batch % every == 0) {
            if ((batch / every) % 2 == 0) {
                box_destroy(b);
                b = box_create(config);
            }
            coverage_note(coverage, a->machine);
            checkpoint_copy(a, b);
        }
        struct box *both[2] = {a, b};
        apply_next_to_all(w, both, 2);
    }
    assert_boxes_equal(a, b);
    box_destroy(a);
    box_destroy(b);
    free(w);
}

static void test_round_trip_random(void **state) {
    (void)state;
    struct coverage tight = {0};
    struct coverage other = {0};
    struct tc_room_config tight_config = config_tight();
    struct tc_room_config small_config = config_small();
    struct tc_room_config roomy_config = config_roomy();
    for (uint64_t seed = 1; seed <= 6; seed++) {
        run_round_trips(seed, &tight_config, 400, 7, &tight);
        run_round_trips(seed * 1000003u, &small_config, 400, 13, &other);
        run_round_trips(seed * 7919u, &roomy_config, 400, 29, &other);
    }
    // The tight config reaches every interesting state at some checkpoint.
    assert_true(tight.empty > 0);
    assert_true(tight.rooms_full > 0);
    assert_true(tight.members_full > 0);
    assert_true(tight.members_pool_holes > 0);
    assert_true(tight.keys_wrapped > 0);
    assert_true(tight.messages_wrapped > 0);
    assert_true(tight.bodies_wrapped > 0);
    assert_true(tight.room_all_evicted > 0);
    assert_true(other.messages_wrapped > 0);
    assert_true(other.keys_wrapped > 0);
}

// A chain of checkpoints: each machine is decoded from the previous one's checkpoint and runs on;
// the last one still equals the original that never went through a checkpoint.
static void test_round_trip_chain(void **state) {
    (void)state;
    struct tc_room_config config = config_small();
    struct workload *w = malloc(sizeof(*w));
    assert_non_null(w);
    workload_init(w, 99, &config);
    struct box *original = box_create(&config);
    struct box *current = box_create(&config);
    for (uint32_t hop = 0; hop < 20; hop++) {
        struct box *next = box_create(&config);
        checkpoint_copy(current, next);
        box_destroy(current);
        current = next;
        for (uint32_t i = 0; i < 25; i++) {
            struct box *both[2] = {original, current};
            apply_next_to_all(w, both, 2);
        }
    }
    assert_boxes_equal(original, current);
    box_destroy(original);
    box_destroy(current);
    free(w);
}

// The encoding is a pure function of the logical state: two machines fed the same batches
// encode identically, and encoding twice gives the same bytes.
static void test_encoding_deterministic(void **state) {
    (void)state;
    struct tc_room_config config = config_roomy();
    struct workload *w = malloc(sizeof(*w));
    assert_non_null(w);
    workload_init(w, 5, &config);
    struct box *a = box_create(&config);
    struct box *b = box_create(&config);
    struct box *both[2] = {a, b};
    for (uint32_t i = 0; i < 300; i++) apply_next_to_all(w, both, 2);
    assert_boxes_equal(a, b);
    struct image first;
    struct image second;
    image_init(&first, &config);
    image_init(&second, &config);
    image_encode(&first, a);
    image_encode(&second, a);
    assert_int_equal(first.size, second.size);
    assert_memory_equal(first.bytes, second.bytes, first.size);
    assert_int_equal(tc_room_checkpoint_size_max(&config),
                     TC_ROOM_CHECKPOINT_HEADER_SIZE + 32u * TC_ROOM_CHECKPOINT_ROOM_SIZE +
                         200u * TC_ROOM_CHECKPOINT_MEMBER_SIZE +
                         60u * TC_ROOM_CHECKPOINT_MESSAGE_SIZE + config.body_bytes_max +
                         64u * TC_ROOM_CHECKPOINT_KEY_SIZE);
    image_free(&first);
    image_free(&second);
    box_destroy(a);
    box_destroy(b);
    free(w);
}

// Every table at capacity, every body at its maximum size: the encoding stays within size_max.
static void test_size_max_reached(void **state) {
    (void)state;
    struct tc_room_config config = {.rooms_max = 2,
                                    .members_max = 4,
                                    .idempotency_keys_max = 4,
                                    .messages_max = 4,
                                    .body_bytes_max = 4 * TC_ROOM_BODY_SIZE_MAX};
    struct box *a = box_create(&config);
    static uint8_t batch_buffer[TC_ROOM_BATCH_SIZE_MAX];
    static uint8_t reply[TC_ROOM_REPLY_SIZE_MAX];
    static uint8_t body[TC_ROOM_BODY_SIZE_MAX];
    memset(body, 0x5a, sizeof(body));
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
    assert_int_equal(tc_room_batch_add_create_dm(&batch, 1, 1, 2), TC_OK);
    assert_int_equal(tc_room_batch_add_create_dm(&batch, 2, 1, 2), TC_OK);
    for (uint8_t i = 1; i <= 6; i++) {
        uint8_t key[TC_ROOM_KEY_SIZE] = {i};
        assert_int_equal(tc_room_batch_add_send(&batch, 1 + i % 2u, 1, key, 0, body, sizeof(body)),
                         TC_OK);
    }
    box_apply(a, batch.buffer, batch.size, reply);
    assert_int_equal(a->machine->members_count, 4);
    assert_int_equal(a->machine->keys_count, 4);
    assert_int_equal(a->machine->messages_count, 4);
    struct image image;
    image_init(&image, &config);
    image_encode(&image, a);
    assert_int_equal(image.size, image.size_max);
    struct box *b = box_create(&config);
    checkpoint_copy(a, b);
    image_free(&image);
    box_destroy(a);
    box_destroy(b);
}

// ------------------------------------------------------------------------------------------------
// Corruption: a small known state and its byte layout.

static struct tc_room_config config_known(void) {
    struct tc_room_config config = {.rooms_max = 4,
                                    .members_max = 8,
                                    .idempotency_keys_max = 4,
                                    .messages_max = 4,
                                    .body_bytes_max = TC_ROOM_BODY_SIZE_MAX};
    return config;
}

// Room 1 (group: users 1, 2) with "hello" (seq 1, a thread root) and "reply" (seq 2, in its
// thread); DM 2 (users 3, 4) with no message; room 3 (group) whose only member left. Keys 1 and 2
// name the two messages.
static struct box *known_create(void) {
    struct tc_room_config config = config_known();
    struct box *box = box_create(&config);
    static uint8_t batch_buffer[1024];
    static uint8_t reply[TC_ROOM_REPLY_SIZE_MAX];
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
    uint8_t key_1[TC_ROOM_KEY_SIZE] = {1};
    uint8_t key_2[TC_ROOM_KEY_SIZE] = {2};
    assert_int_equal(tc_room_batch_add_create_room(&batch, 1, 1), TC_OK);
    assert_int_equal(tc_room_batch_add_join(&batch, 1, 2), TC_OK);
    assert_int_equal(tc_room_batch_add_create_dm(&batch, 2, 3, 4), TC_OK);
    assert_int_equal(tc_room_batch_add_create_room(&batch, 3, 5), TC_OK);
    assert_int_equal(tc_room_batch_add_leave(&batch, 3, 5), TC_OK);
    assert_int_equal(tc_room_batch_add_send(&batch, 1, 1, key_1, 0, (const uint8_t *)"hello", 5),
                     TC_OK);
    box_apply(box, batch.buffer, batch.size, reply);
    tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
    assert_int_equal(tc_room_batch_add_send(&batch, 1, 2, key_2, 1, (const uint8_t *)"reply", 5),
                     TC_OK);
    box_apply(box, batch.buffer, batch.size, reply);
    assert_int_equal(box->machine->messages_count, 2);
    assert_int_equal(box->machine->messages[1].thread_seq, 1);
    return box;
}

#define KNOWN_ROOM_0 TC_ROOM_CHECKPOINT_HEADER_SIZE
#define KNOWN_ROOM_1 (KNOWN_ROOM_0 + TC_ROOM_CHECKPOINT_ROOM_SIZE)
#define KNOWN_ROOM_2 (KNOWN_ROOM_1 + TC_ROOM_CHECKPOINT_ROOM_SIZE)
#define KNOWN_MEMBER_0 (KNOWN_ROOM_2 + TC_ROOM_CHECKPOINT_ROOM_SIZE)
#define KNOWN_MEMBER_1 (KNOWN_MEMBER_0 + TC_ROOM_CHECKPOINT_MEMBER_SIZE)
#define KNOWN_MEMBER_3 (KNOWN_MEMBER_0 + 3u * TC_ROOM_CHECKPOINT_MEMBER_SIZE)
#define KNOWN_MESSAGE_0 (KNOWN_MEMBER_0 + 4u * TC_ROOM_CHECKPOINT_MEMBER_SIZE)
#define KNOWN_MESSAGE_1 (KNOWN_MESSAGE_0 + TC_ROOM_CHECKPOINT_MESSAGE_SIZE + 5u)
#define KNOWN_KEY_0 (KNOWN_MESSAGE_1 + TC_ROOM_CHECKPOINT_MESSAGE_SIZE + 5u)
#define KNOWN_KEY_1 (KNOWN_KEY_0 + TC_ROOM_CHECKPOINT_KEY_SIZE)
#define KNOWN_SIZE (KNOWN_KEY_1 + TC_ROOM_CHECKPOINT_KEY_SIZE)

static void put_u64(uint8_t *p, uint64_t v) {
    for (uint32_t i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8u * i));
}

static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (uint32_t i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8u * i);
    return v;
}

static void put_u32(uint8_t *p, uint32_t v) {
    for (uint32_t i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8u * i));
}

// The decode must fail, and leave the machine as after init.
static void expect_corrupt(struct box *box, const uint8_t *bytes, uint64_t size) {
    assert_int_equal(tc_room_checkpoint_decode(box->machine, bytes, size), TC_ECORRUPT);
    assert_box_empty(box);
}

static void test_known_layout(void **state) {
    (void)state;
    struct box *a = known_create();
    struct image image;
    image_init(&image, &a->config);
    image_encode(&image, a);
    assert_int_equal(image.size, KNOWN_SIZE);
    const uint8_t *p = image.bytes;
    assert_int_equal(get_u64(p + 0) & 0xffffffffu, TC_ROOM_CHECKPOINT_MAGIC);
    assert_int_equal(get_u64(p + 8), KNOWN_SIZE);
    assert_int_equal(get_u64(p + 56) & 0xffffffffu, 3); // rooms
    assert_int_equal(get_u64(p + 40), 2); // op_last
    assert_int_equal(get_u64(p + 48), 10); // body_position_next: two 5-byte bodies
    assert_int_equal(get_u64(p + KNOWN_ROOM_0), 1);
    assert_int_equal(get_u64(p + KNOWN_ROOM_1), 2);
    assert_int_equal(get_u64(p + KNOWN_ROOM_2), 3);
    // Members sorted by (room, user).
    uint64_t expected[4][2] = {{1, 1}, {1, 2}, {2, 3}, {2, 4}};
    for (uint32_t i = 0; i < 4; i++) {
        const uint8_t *member = p + KNOWN_MEMBER_0 + i * TC_ROOM_CHECKPOINT_MEMBER_SIZE;
        assert_int_equal(get_u64(member), expected[i][0]);
        assert_int_equal(get_u64(member + 8), expected[i][1]);
    }
    assert_memory_equal(p + KNOWN_MESSAGE_0 + TC_ROOM_CHECKPOINT_MESSAGE_SIZE, "hello", 5);
    assert_memory_equal(p + KNOWN_MESSAGE_1 + TC_ROOM_CHECKPOINT_MESSAGE_SIZE, "reply", 5);
    assert_int_equal(p[KNOWN_KEY_0 + 8], 1);
    assert_int_equal(p[KNOWN_KEY_1 + 8], 2);
    image_free(&image);
    box_destroy(a);
}

// Up to two field changes; width 1: XOR the byte with value; 4 or 8: store value (little-endian);
// 0: no second change.
struct edit {
    const char *name;
    uint64_t offset;
    uint32_t width;
    uint64_t value;
    uint64_t offset_2;
    uint32_t width_2;
    uint64_t value_2;
};

#define EDIT(name, offset, width, value) {name, offset, width, value, 0, 0, 0}
#define EDIT_2(name, offset, width, value, offset_2, width_2, value_2)                             \
    {name, offset, width, value, offset_2, width_2, value_2}

static const struct edit known_edits[] = {
    EDIT("magic", 0, 1, 0x01),
    EDIT("version", 4, 4, 2),
    EDIT("size field", 8, 8, KNOWN_SIZE + 1u),
    EDIT("rooms_max", 16, 4, 5),
    EDIT("members_max", 20, 4, 9),
    EDIT("idempotency_keys_max", 24, 4, 5),
    EDIT("messages_max", 28, 4, 5),
    EDIT("body_bytes_max", 32, 4, TC_ROOM_BODY_SIZE_MAX + 1u),
    EDIT("header reserved", 36, 4, 1),
    EDIT("op_last max", 40, 8, UINT64_MAX),
    EDIT("body_position_next", 48, 8, 11),
    EDIT("body_position_next huge", 48, 8, UINT64_MAX - 3u),
    EDIT("rooms count + 1", 56, 4, 4),
    EDIT("rooms count - 1", 56, 4, 2),
    EDIT("members count + 1", 60, 4, 5),
    EDIT("members count over max", 60, 4, 9),
    EDIT("messages count - 1", 64, 4, 1),
    EDIT("messages count over max", 64, 4, 5),
    EDIT("keys count - 1", 68, 4, 1),
    EDIT("keys count over max", 68, 4, 5),
    EDIT("room id 0", KNOWN_ROOM_0, 8, 0),
    EDIT("room id duplicate", KNOWN_ROOM_1, 8, 1),
    EDIT("room seq_last beyond messages", KNOWN_ROOM_0 + 8, 8, 3),
    EDIT("room seq_last max", KNOWN_ROOM_0 + 8, 8, UINT64_MAX),
    EDIT("room seq_retained_min 0", KNOWN_ROOM_0 + 16, 8, 0),
    EDIT("room seq_retained_min above seq_last + 1", KNOWN_ROOM_0 + 16, 8, 4),
    EDIT("room seq_retained_min above a retained message", KNOWN_ROOM_0 + 16, 8, 2),
    EDIT("room seq_retained_min: nothing retained", KNOWN_ROOM_0 + 16, 8, 3),
    EDIT("room hash_last is not the head", KNOWN_ROOM_0 + 24, 1, 0x80),
    EDIT("empty room hash_last not zero", KNOWN_ROOM_1 + 24, 1, 0x01),
    EDIT("room member_count", KNOWN_ROOM_0 + 56, 4, 3),
    EDIT("dm member_count", KNOWN_ROOM_1 + 56, 4, 3),
    EDIT("room kind", KNOWN_ROOM_0 + 60, 4, 3),
    EDIT("empty room kind dm", KNOWN_ROOM_2 + 60, 4, ROOM_KIND_DM),
    EDIT("empty room member_count (sum)", KNOWN_ROOM_2 + 56, 4, 1),
    EDIT_2("member counts moved between rooms, sum kept", KNOWN_ROOM_0 + 56, 4, 1,
           KNOWN_ROOM_2 + 56, 4, 1),
    EDIT("member user 0", KNOWN_MEMBER_0 + 8, 8, 0),
    EDIT("member duplicate", KNOWN_MEMBER_1 + 8, 8, 1),
    EDIT("member order", KNOWN_MEMBER_0 + 8, 8, 5),
    EDIT("member of a missing room", KNOWN_MEMBER_3, 8, 9),
    EDIT("member moved to another room", KNOWN_MEMBER_1, 8, 2),
    EDIT("message room missing", KNOWN_MESSAGE_0, 8, 9),
    EDIT("message room other", KNOWN_MESSAGE_0, 8, 2),
    EDIT("message seq", KNOWN_MESSAGE_0 + 8, 8, 3),
    EDIT("message seq duplicate", KNOWN_MESSAGE_1 + 8, 8, 1),
    EDIT("message seq order", KNOWN_MESSAGE_0 + 8, 8, 2),
    EDIT("reply parent is itself", KNOWN_MESSAGE_1 + 16, 8, 2),
    EDIT("root with a parent", KNOWN_MESSAGE_0 + 16, 8, 1),
    EDIT("reply thread_seq 0", KNOWN_MESSAGE_1 + 24, 8, 0),
    EDIT("reply thread_seq beyond root counter", KNOWN_MESSAGE_1 + 24, 8, 2),
    EDIT("root thread_seq", KNOWN_MESSAGE_0 + 24, 8, 1),
    EDIT("root counter below reply", KNOWN_MESSAGE_0 + 32, 8, 0),
    EDIT("root counter max", KNOWN_MESSAGE_0 + 32, 8, UINT64_MAX),
    EDIT("reply with replies", KNOWN_MESSAGE_1 + 32, 8, 1),
    EDIT("sender 0", KNOWN_MESSAGE_0 + 40, 8, 0),
    EDIT("sender changed (hash)", KNOWN_MESSAGE_0 + 40, 8, 2),
    EDIT("timestamp (hash)", KNOWN_MESSAGE_1 + 48, 1, 0x01),
    EDIT("body position first", KNOWN_MESSAGE_0 + 56, 8, 1),
    EDIT("body position gap", KNOWN_MESSAGE_1 + 56, 8, 6),
    EDIT("body position overlap", KNOWN_MESSAGE_1 + 56, 8, 4),
    EDIT("body straddles the ring end", KNOWN_MESSAGE_0 + 56, 8, TC_ROOM_BODY_SIZE_MAX - 2u),
    EDIT("body size 0", KNOWN_MESSAGE_0 + 64, 4, 0),
    EDIT("body size too large", KNOWN_MESSAGE_0 + 64, 4, TC_ROOM_BODY_SIZE_MAX + 1u),
    EDIT("body size shorter", KNOWN_MESSAGE_1 + 64, 4, 4),
    EDIT("message reserved", KNOWN_MESSAGE_0 + 68, 4, 1),
    EDIT("message hash", KNOWN_MESSAGE_1 + 72, 1, 0x01),
    EDIT("first prev_hash not zero", KNOWN_MESSAGE_0 + 104, 1, 0x01),
    EDIT("prev_hash not the previous hash", KNOWN_MESSAGE_1 + 104, 1, 0x01),
    EDIT("body byte (hash)", KNOWN_MESSAGE_1 + TC_ROOM_CHECKPOINT_MESSAGE_SIZE, 1, 0x01),
    EDIT("key room missing", KNOWN_KEY_0, 8, 9),
    EDIT("key room other", KNOWN_KEY_0, 8, 2),
    EDIT("key all zero", KNOWN_KEY_0 + 8, 1, 0x01),
    EDIT("key duplicate", KNOWN_KEY_1 + 8, 1, 0x03),
    EDIT("key seq 0", KNOWN_KEY_0 + 24, 8, 0),
    EDIT("key seq beyond seq_last", KNOWN_KEY_0 + 24, 8, 3),
    EDIT("key seq other message", KNOWN_KEY_0 + 24, 8, 2),
    EDIT("key thread_seq", KNOWN_KEY_1 + 32, 8, 2),
    EDIT("key hash", KNOWN_KEY_1 + 40, 1, 0x01),
};

static void edit_field(uint8_t *bytes, uint64_t offset, uint32_t width, uint64_t value) {
    uint8_t *p = bytes + offset;
    switch (width) {
    case 0: break;
    case 1: p[0] ^= (uint8_t)value; break;
    case 4: put_u32(p, (uint32_t)value); break;
    case 8: put_u64(p, value); break;
    default: fail_msg("edit width %u", width);
    }
}

static void edit_apply(uint8_t *bytes, const struct edit *edit) {
    assert_true(edit->width != 0);
    edit_field(bytes, edit->offset, edit->width, edit->value);
    edit_field(bytes, edit->offset_2, edit->width_2, edit->value_2);
}

static void test_corrupt_fields(void **state) {
    (void)state;
    struct box *a = known_create();
    struct image good;
    image_init(&good, &a->config);
    image_encode(&good, a);
    uint8_t *bad = malloc(good.size + 1u);
    assert_non_null(bad);
    struct box *b = box_create(&a->config);
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(known_edits); i++) {
        checkpoint_copy(a, b); // b holds a live state that the failed decode must wipe
        memcpy(bad, good.bytes, good.size);
        edit_apply(bad, &known_edits[i]);
        int rc = tc_room_checkpoint_decode(b->machine, bad, good.size);
        if (rc != TC_ECORRUPT) fail_msg("edit '%s': decode returned %d", known_edits[i].name, rc);
        assert_box_empty(b);
    }
    // A trailing byte, with the size field telling the truth about it.
    memcpy(bad, good.bytes, good.size);
    bad[good.size] = 0;
    put_u64(bad + 8, good.size + 1u);
    expect_corrupt(b, bad, good.size + 1u);
    // A harmless edit decodes: op_last is free (apply only needs later ops to be larger).
    memcpy(bad, good.bytes, good.size);
    put_u64(bad + 40, 1000);
    assert_int_equal(tc_room_checkpoint_decode(b->machine, bad, good.size), TC_OK);
    assert_int_equal(b->machine->op_last, 1000);
    // And the original still decodes.
    assert_int_equal(tc_room_checkpoint_decode(b->machine, good.bytes, good.size), TC_OK);
    assert_boxes_equal(a, b);
    free(bad);
    image_free(&good);
    box_destroy(a);
    box_destroy(b);
}

// Two max-size bodies laid out consistently for a ring of two bodies, presented as a checkpoint
// of a ring of one: every position is plausible, but the bodies would overlap.
static void test_corrupt_body_span(void **state) {
    (void)state;
    struct tc_room_config config = config_known();
    struct tc_room_config wide = config;
    wide.body_bytes_max = 2u * TC_ROOM_BODY_SIZE_MAX;
    struct box *a = box_create(&wide);
    static uint8_t batch_buffer[TC_ROOM_BATCH_SIZE_MAX];
    static uint8_t reply[TC_ROOM_REPLY_SIZE_MAX];
    static uint8_t body[TC_ROOM_BODY_SIZE_MAX];
    memset(body, 0x33, sizeof(body));
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
    uint8_t key_1[TC_ROOM_KEY_SIZE] = {1};
    uint8_t key_2[TC_ROOM_KEY_SIZE] = {2};
    assert_int_equal(tc_room_batch_add_create_room(&batch, 1, 1), TC_OK);
    assert_int_equal(tc_room_batch_add_send(&batch, 1, 1, key_1, 0, body, sizeof(body)), TC_OK);
    assert_int_equal(tc_room_batch_add_send(&batch, 1, 1, key_2, 0, body, sizeof(body)), TC_OK);
    box_apply(a, batch.buffer, batch.size, reply);
    assert_int_equal(a->machine->messages_count, 2);
    struct image image;
    image_init(&image, &wide);
    image_encode(&image, a);
    put_u32(image.bytes + 32, config.body_bytes_max);
    struct box *b = box_create(&config);
    expect_corrupt(b, image.bytes, image.size);
    put_u32(image.bytes + 32, wide.body_bytes_max);
    struct box *c = box_create(&wide);
    assert_int_equal(tc_room_checkpoint_decode(c->machine, image.bytes, image.size), TC_OK);
    image_free(&image);
    box_destroy(a);
    box_destroy(b);
    box_destroy(c);
}

static void test_truncations(void **state) {
    (void)state;
    struct box *a = known_create();
    struct image good;
    image_init(&good, &a->config);
    image_encode(&good, a);
    struct box *b = box_create(&a->config);
    expect_corrupt(b, NULL, 0);
    for (uint64_t size = 0; size < good.size; size++) {
        checkpoint_copy(a, b);
        // The size field is patched to match, so that the sections themselves must notice.
        uint8_t *bytes = malloc(good.size);
        assert_non_null(bytes);
        memcpy(bytes, good.bytes, good.size);
        expect_corrupt(b, bytes, size); // as truncated
        if (size >= 16) {
            put_u64(bytes + 8, size);
            expect_corrupt(b, bytes, size); // with a consistent size field
        }
        free(bytes);
    }
    image_free(&good);
    box_destroy(a);
    box_destroy(b);
}

static void test_config_mismatch(void **state) {
    (void)state;
    struct box *a = known_create();
    struct image good;
    image_init(&good, &a->config);
    image_encode(&good, a);
    for (uint32_t field = 0; field < 5; field++) {
        struct tc_room_config other = a->config;
        switch (field) {
        case 0: other.rooms_max += 1; break;
        case 1: other.members_max += 1; break;
        case 2: other.idempotency_keys_max += 1; break;
        case 3: other.messages_max += 1; break;
        default: other.body_bytes_max += 1; break;
        }
        struct box *b = box_create(&other);
        expect_corrupt(b, good.bytes, good.size);
        box_destroy(b);
    }
    image_free(&good);
    box_destroy(a);
}

// An empty checkpoint replaces a live state.
static void test_decode_empty_replaces(void **state) {
    (void)state;
    struct box *a = known_create();
    struct box *empty = box_create(&a->config);
    checkpoint_copy(empty, a);
    assert_box_empty(a);
    assert_int_equal(tc_room_count(a->machine), 0);
    box_destroy(a);
    box_destroy(empty);
}

// ------------------------------------------------------------------------------------------------
// Random byte flips: a decode either fails (machine empty) or yields a machine that is internally
// consistent: its checkpoint decodes into an equal machine, and both apply further ops alike.

static void assert_usable(struct box *box, struct workload *w) {
    struct box *copy = box_create(&box->config);
    checkpoint_copy(box, copy);
    struct box *both[2] = {box, copy};
    for (uint32_t i = 0; i < 4; i++) apply_next_to_all(w, both, 2);
    assert_boxes_equal(box, copy);
    box_destroy(copy);
}

static void fuzz_flips(const struct box *a, uint64_t seed, uint32_t rounds, uint32_t *decoded) {
    struct image good;
    image_init(&good, &a->config);
    image_encode(&good, a);
    uint8_t *bad = malloc(good.size);
    assert_non_null(bad);
    struct workload *w = malloc(sizeof(*w));
    assert_non_null(w);
    workload_init(w, seed, &a->config);
    struct box *b = box_create(&a->config);
    for (uint32_t round = 0; round < rounds; round++) {
        memcpy(bad, good.bytes, good.size);
        uint32_t flips = (uint32_t)tc_prng_range(&w->prng, 1, 3);
        for (uint32_t i = 0; i < flips; i++) {
            uint64_t at = tc_prng_below(&w->prng, good.size);
            bad[at] ^= (uint8_t)tc_prng_range(&w->prng, 1, 255);
        }
        int rc = tc_room_checkpoint_decode(b->machine, bad, good.size);
        if (rc == TC_OK) {
            *decoded += 1;
            assert_usable(b, w);
        } else {
            assert_int_equal(rc, TC_ECORRUPT);
            if (round % 16 == 0) assert_box_empty(b);
        }
    }
    box_destroy(b);
    free(w);
    free(bad);
    image_free(&good);
}

static void test_random_flips(void **state) {
    (void)state;
    uint32_t decoded = 0;
    struct box *known = known_create();
    fuzz_flips(known, 11, 3000, &decoded);
    box_destroy(known);
    // A state with evictions everywhere (some fields are then unconstrained).
    struct tc_room_config config = config_tight();
    struct box *a = box_create(&config);
    struct workload *w = malloc(sizeof(*w));
    assert_non_null(w);
    workload_init(w, 3, &config);
    apply_batches(w, a, 300);
    assert_true(a->machine->messages_head != 0 || a->machine->keys_head != 0);
    fuzz_flips(a, 12, 3000, &decoded);
    box_destroy(a);
    free(w);
    assert_true(decoded > 0); // some flips land in free fields (op_last, evicted keys' fields)
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_layout),
        cmocka_unit_test(test_decode_empty_replaces),
        cmocka_unit_test(test_encoding_deterministic),
        cmocka_unit_test(test_size_max_reached),
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_round_trip_chain),
        cmocka_unit_test(test_corrupt_fields),
        cmocka_unit_test(test_corrupt_body_span),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_config_mismatch),
        cmocka_unit_test(test_random_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
