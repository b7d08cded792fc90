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
#include "room_internal.h" // white-box: op_last, ring heads, counts and fields for coverage
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
    uint32_t retention_percent; // of the ops
    uint32_t read_marker_percent; // of the ops
    uint32_t redact_percent;      // of the ops
    uint64_t seq_hint; // the highest seq seen in a reply: thread parents near it
    // The last committed sends (room, sender, seq), a ring: redactions name real messages.
    uint64_t sent[8][3];
    uint32_t sent_count;
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
    w->retention_percent = 4;
    w->read_marker_percent = 6;
    w->redact_percent = 6;
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
    } else if (roll < 40 + w->retention_percent) {
        uint8_t mode = (uint8_t)tc_prng_below(&w->prng, 3);
        uint64_t value = mode == 0 ? 0 : tc_prng_range(&w->prng, 1, 400);
        rc = tc_room_batch_add_set_retention(&w->batch, room, user, mode, value);
    } else if (roll < 40 + w->retention_percent + w->read_marker_percent) {
        uint64_t seq = tc_prng_below(&w->prng, w->seq_hint + 2u); // sometimes above the head
        rc = tc_room_batch_add_read_marker(&w->batch, room, user, seq);
    } else if (roll < 40 + w->retention_percent + w->read_marker_percent + w->redact_percent) {
        uint64_t seq = tc_prng_below(&w->prng, w->seq_hint + 2u);
        if (w->sent_count > 0 && tc_prng_chance_ppm(&w->prng, 800000)) { // a real message
            const uint64_t *sent = w->sent[tc_prng_below(&w->prng, tc_min_u32(w->sent_count, 8))];
            room = sent[0];
            user = tc_prng_chance_ppm(&w->prng, 850000) ? sent[1] : user;
            seq = sent[2];
        }
        rc = tc_room_batch_add_redact(&w->batch, room, user, seq);
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
    struct tc_room_batch_reader reader;
    assert_int_equal(tc_room_batch_reader_init(&reader, w->batch.buffer, w->batch.size), TC_OK);
    struct tc_room_op op;
    for (uint32_t i = 0; i < (uint32_t)count; i++) {
        struct tc_room_result result;
        assert_int_equal(tc_room_reply_get(reply, reply_size, i, &result), TC_OK);
        assert_true(tc_room_batch_reader_next(&reader, &op));
        if (result.status == TC_ROOM_OK && result.seq > w->seq_hint) w->seq_hint = result.seq;
        if (op.kind != TC_ROOM_OP_SEND || result.status != TC_ROOM_OK || result.duplicate) continue;
        uint64_t *sent = w->sent[w->sent_count % 8u];
        sent[0] = op.room;
        sent[1] = op.user;
        sent[2] = result.seq;
        w->sent_count += 1;
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
// Equality of two machines: digest, encoding, the store budget used and every room's info.

static void assert_info_equal(const struct box *a, const struct box *b, uint32_t index) {
    struct tc_room_info x;
    struct tc_room_info y;
    tc_room_info_at(a->machine, index, &x);
    tc_room_info_at(b->machine, index, &y);
    assert_int_equal(x.room, y.room);
    assert_int_equal(x.index, index);
    assert_int_equal(y.index, index);
    assert_int_equal(x.kind, y.kind);
    assert_int_equal(x.seq_last, y.seq_last);
    assert_true(tc_hash256_equal(&x.hash_last, &y.hash_last));
    assert_int_equal(x.retention.mode, y.retention.mode);
    assert_int_equal(x.retention.value, y.retention.value);
    assert_int_equal(x.member_count, y.member_count);
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
    assert_int_equal(tc_room_store_bytes_used(a->machine), tc_room_store_bytes_used(b->machine));
    for (uint32_t i = 0; i < a->machine->rooms_count; i++) assert_info_equal(a, b, i);
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
                                    .store_bytes_max = 0};
    return config;
}

static struct tc_room_config config_small(void) {
    struct tc_room_config config = {.rooms_max = 8,
                                    .members_max = 32,
                                    .idempotency_keys_max = 16,
                                    .messages_max = 16,
                                    .store_bytes_max = 300u * TC_ROOM_STORE_COST(100)};
    return config;
}

static struct tc_room_config config_roomy(void) {
    struct tc_room_config config = {.rooms_max = 32,
                                    .members_max = 200,
                                    .idempotency_keys_max = 64,
                                    .messages_max = 60,
                                    .store_bytes_max = 0};
    return config;
}

// Which interesting states a checkpoint was taken in.
struct coverage {
    uint32_t empty;
    uint32_t rooms_full;
    uint32_t members_full;
    uint32_t members_pool_holes; // a freed record is reused before the next unused one
    uint32_t keys_wrapped;
    uint32_t window_wrapped;
    uint32_t store_full; // the next smallest message would not fit the budget
    uint32_t retention_set; // a room with a policy other than keep_all
    uint32_t room_all_evicted; // a room with messages, none in the window
    uint32_t read_marker_set; // a member whose read marker is above 0
    uint32_t redactions;      // some redaction
    uint32_t redactions_full; // the table at its capacity
    uint32_t redaction_evicted; // a redaction whose message left the window
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
    if (machine->window_head != 0) coverage->window_wrapped += 1;
    if (config->store_bytes_max != 0 &&
        config->store_bytes_max - machine->store_bytes_used < TC_ROOM_STORE_COST(1)) {
        coverage->store_full += 1;
    }
    bool all_evicted = false;
    bool retention_set = false;
    for (uint32_t i = 0; i < machine->rooms_count; i++) {
        const struct room_entry *room = &machine->rooms[i];
        if (room->seq_last > 0 && room->seq_window_min > room->seq_last) all_evicted = true;
        if (room->retention.mode != TC_ROOM_RETENTION_KEEP_ALL) retention_set = true;
    }
    if (all_evicted) coverage->room_all_evicted += 1;
    if (retention_set) coverage->retention_set += 1;
    for (uint32_t i = 0; i < config->members_max; i++) {
        if (machine->members[i].used == 1 && machine->members[i].read_seq > 0) {
            coverage->read_marker_set += 1;
            break;
        }
    }
    if (machine->redactions_count > 0) coverage->redactions += 1;
    if (machine->redactions_count == config->messages_max) coverage->redactions_full += 1;
    for (uint32_t i = 0; i < machine->redactions_count; i++) {
        const struct room_redaction *redaction = &machine->redactions[i];
        const struct room_entry *room = &machine->rooms[tc_room__find(machine, redaction->room)];
        if (redaction->seq < room->seq_window_min) {
            coverage->redaction_evicted += 1;
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
    assert_true(tight.window_wrapped > 0);
    assert_true(tight.room_all_evicted > 0);
    assert_true(tight.retention_set > 0);
    assert_true(tight.read_marker_set > 0);
    assert_true(other.read_marker_set > 0);
    assert_true(other.window_wrapped > 0);
    assert_true(other.keys_wrapped > 0);
    assert_true(other.store_full > 0); // the small config's budget fills up
    assert_true(other.retention_set > 0);
    assert_true(tight.redactions_full > 0);
    assert_true(tight.redaction_evicted > 0);
    assert_true(other.redactions > 0);
    assert_true(other.redaction_evicted > 0);
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
                         60u * TC_ROOM_CHECKPOINT_WINDOW_SIZE + 64u * TC_ROOM_CHECKPOINT_KEY_SIZE +
                         60u * TC_ROOM_CHECKPOINT_REDACTION_SIZE);
    assert_int_equal(tc_room_checkpoint_size_max(&config), 80u + 32u * 80u + 200u * 24u +
                                                               60u * 48u + 64u * 72u + 60u * 24u);
    image_free(&first);
    image_free(&second);
    box_destroy(a);
    box_destroy(b);
    free(w);
}

// Every table at capacity: the encoding reaches size_max exactly (bodies are not in it: their size
// does not matter).
static void test_size_max_reached(void **state) {
    (void)state;
    struct tc_room_config config = {.rooms_max = 2,
                                    .members_max = 4,
                                    .idempotency_keys_max = 4,
                                    .messages_max = 4,
                                    .store_bytes_max = 0};
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
    // The window holds sends 3..6: (room 2, seq 2), (1, 2), (2, 3), (1, 3); redact them all.
    for (uint64_t seq = 2; seq <= 3; seq++) {
        assert_int_equal(tc_room_batch_add_redact(&batch, 1, 1, seq), TC_OK);
        assert_int_equal(tc_room_batch_add_redact(&batch, 2, 1, seq), TC_OK);
    }
    box_apply(a, batch.buffer, batch.size, reply);
    assert_int_equal(a->machine->members_count, 4);
    assert_int_equal(a->machine->keys_count, 4);
    assert_int_equal(a->machine->window_count, 4);
    assert_int_equal(a->machine->rooms_count, 2);
    assert_int_equal(a->machine->redactions_count, 4);
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
                                    .store_bytes_max = (1ull << 32) + 8u}; // uses all 8 bytes
    return config;
}

// Room 1 (group: users 1, 2; keep_days 30) with "hello" (seq 1 by user 1, a thread root) and
// "reply" (seq 2 by user 2, in its thread, redacted by user 2), user 2's read marker at 1; DM 2
// (users 3, 4) with no message; room 3 (group) whose only member left. Keys 1 and 2 name the two
// messages.
static struct box *known_create_with(const struct tc_room_config *config) {
    struct box *box = box_create(config);
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
    assert_int_equal(tc_room_batch_add_set_retention(&batch, 1, 2, TC_ROOM_RETENTION_KEEP_DAYS, 30),
                     TC_OK);
    box_apply(box, batch.buffer, batch.size, reply);
    tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
    assert_int_equal(tc_room_batch_add_send(&batch, 1, 2, key_2, 1, (const uint8_t *)"reply", 5),
                     TC_OK);
    assert_int_equal(tc_room_batch_add_read_marker(&batch, 1, 2, 1), TC_OK);
    assert_int_equal(tc_room_batch_add_redact(&batch, 1, 2, 2), TC_OK);
    box_apply(box, batch.buffer, batch.size, reply);
    assert_true(tc_room_redacted(box->machine, 1, 2));
    uint64_t marker = 0;
    assert_int_equal(tc_room_read_marker(box->machine, 1, 2, &marker), TC_OK);
    assert_int_equal(marker, 1);
    assert_int_equal(box->machine->keys_count, 2);
    assert_int_equal(tc_room_store_bytes_used(box->machine), 2u * TC_ROOM_STORE_COST(5));
    return box;
}

static struct box *known_create(void) {
    struct tc_room_config config = config_known();
    struct box *box = known_create_with(&config);
    assert_int_equal(box->machine->window_count, 2);
    assert_int_equal(box->machine->window[1].thread_seq, 1);
    return box;
}

#define KNOWN_ROOM_0 TC_ROOM_CHECKPOINT_HEADER_SIZE
#define KNOWN_ROOM_1 (KNOWN_ROOM_0 + TC_ROOM_CHECKPOINT_ROOM_SIZE)
#define KNOWN_ROOM_2 (KNOWN_ROOM_1 + TC_ROOM_CHECKPOINT_ROOM_SIZE)
#define KNOWN_MEMBER_0 (KNOWN_ROOM_2 + TC_ROOM_CHECKPOINT_ROOM_SIZE)
#define KNOWN_MEMBER_1 (KNOWN_MEMBER_0 + TC_ROOM_CHECKPOINT_MEMBER_SIZE)
#define KNOWN_MEMBER_3 (KNOWN_MEMBER_0 + 3u * TC_ROOM_CHECKPOINT_MEMBER_SIZE)
#define KNOWN_WINDOW_0 (KNOWN_MEMBER_0 + 4u * TC_ROOM_CHECKPOINT_MEMBER_SIZE)
#define KNOWN_WINDOW_1 (KNOWN_WINDOW_0 + TC_ROOM_CHECKPOINT_WINDOW_SIZE)
#define KNOWN_KEY_0 (KNOWN_WINDOW_1 + TC_ROOM_CHECKPOINT_WINDOW_SIZE)
#define KNOWN_KEY_1 (KNOWN_KEY_0 + TC_ROOM_CHECKPOINT_KEY_SIZE)
#define KNOWN_REDACTION_0 (KNOWN_KEY_1 + TC_ROOM_CHECKPOINT_KEY_SIZE)
#define KNOWN_SIZE (KNOWN_REDACTION_0 + TC_ROOM_CHECKPOINT_REDACTION_SIZE)
#define KNOWN_USED (2u * TC_ROOM_STORE_COST(5)) // 960

static void put_u64(uint8_t *p, uint64_t v) {
    for (uint32_t i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8u * i));
}

static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (uint32_t i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8u * i);
    return v;
}

static uint32_t get_u32(const uint8_t *p) { return (uint32_t)(get_u64(p) & 0xffffffffu); }

static void put_u32(uint8_t *p, uint32_t v) {
    for (uint32_t i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8u * i));
}

// The decode must fail, and leave the machine as after init.
static void expect_corrupt(struct box *box, const uint8_t *bytes, uint64_t size) {
    assert_int_equal(tc_room_checkpoint_decode(box->machine, bytes, size), TC_ECORRUPT);
    assert_box_empty(box);
}

static void assert_window_record(const uint8_t *p, uint64_t room, uint64_t seq, uint64_t parent,
                                 uint64_t thread_seq, uint64_t thread_seq_last, uint64_t sender) {
    assert_int_equal(get_u64(p + 0), room);
    assert_int_equal(get_u64(p + 8), seq);
    assert_int_equal(get_u64(p + 16), parent);
    assert_int_equal(get_u64(p + 24), thread_seq);
    assert_int_equal(get_u64(p + 32), thread_seq_last);
    assert_int_equal(get_u64(p + 40), sender);
}

static void test_known_layout(void **state) {
    (void)state;
    struct box *a = known_create();
    struct image image;
    image_init(&image, &a->config);
    image_encode(&image, a);
    assert_int_equal(image.size, KNOWN_SIZE);
    const uint8_t *p = image.bytes;
    assert_int_equal(get_u32(p + 0), TC_ROOM_CHECKPOINT_MAGIC);
    assert_int_equal(get_u32(p + 4), 4); // version
    assert_int_equal(get_u64(p + 8), KNOWN_SIZE);
    assert_int_equal(get_u32(p + 16), 4);
    assert_int_equal(get_u32(p + 20), 8);
    assert_int_equal(get_u32(p + 24), 4);
    assert_int_equal(get_u32(p + 28), 4);
    assert_int_equal(get_u64(p + 32), (1ull << 32) + 8u); // store_bytes_max
    assert_int_equal(get_u64(p + 40), 2);                 // op_last
    assert_int_equal(get_u64(p + 48), KNOWN_USED);        // store_bytes_used
    assert_int_equal(get_u32(p + 56), 3);                 // rooms
    assert_int_equal(get_u32(p + 60), 4);                 // members
    assert_int_equal(get_u32(p + 64), 2);                 // window
    assert_int_equal(get_u32(p + 68), 2);                 // keys
    assert_int_equal(get_u32(p + 72), 1);                 // redactions
    assert_int_equal(get_u32(p + 76), 0);                 // reserved
    const uint8_t *room = p + KNOWN_ROOM_0;
    assert_int_equal(get_u64(room + 0), 1);
    assert_int_equal(get_u64(room + 8), 2);  // seq_last
    assert_int_equal(get_u64(room + 16), 1); // seq_window_min
    assert_memory_equal(room + 24, a->machine->rooms[0].hash_last.bytes, 32);
    assert_int_equal(get_u32(room + 56), 2);  // member_count
    assert_int_equal(get_u32(room + 60), 1);  // kind: group
    assert_int_equal(get_u32(room + 64), 1);  // keep_days
    assert_int_equal(get_u32(room + 68), 0);  // reserved
    assert_int_equal(get_u64(room + 72), 30); // days
    room = p + KNOWN_ROOM_1;
    assert_int_equal(get_u64(room + 0), 2);
    assert_int_equal(get_u64(room + 8), 0);
    assert_int_equal(get_u64(room + 16), 1);
    assert_int_equal(get_u32(room + 60), 2); // kind: DM
    assert_int_equal(get_u32(room + 64), 0); // keep_all
    assert_int_equal(get_u64(room + 72), 0);
    assert_int_equal(get_u64(p + KNOWN_ROOM_2), 3);
    assert_int_equal(get_u32(p + KNOWN_ROOM_2 + 56), 0);
    // Members sorted by (room, user), each with its read marker.
    uint64_t expected[4][3] = {{1, 1, 0}, {1, 2, 1}, {2, 3, 0}, {2, 4, 0}};
    for (uint32_t i = 0; i < 4; i++) {
        const uint8_t *member = p + KNOWN_MEMBER_0 + i * TC_ROOM_CHECKPOINT_MEMBER_SIZE;
        assert_int_equal(get_u64(member), expected[i][0]);
        assert_int_equal(get_u64(member + 8), expected[i][1]);
        assert_int_equal(get_u64(member + 16), expected[i][2]);
    }
    assert_window_record(p + KNOWN_WINDOW_0, 1, 1, 0, 0, 1, 1);
    assert_window_record(p + KNOWN_WINDOW_1, 1, 2, 1, 1, 0, 2);
    assert_int_equal(get_u64(p + KNOWN_KEY_0), 1);
    assert_int_equal(p[KNOWN_KEY_0 + 8], 1);
    assert_int_equal(get_u64(p + KNOWN_KEY_0 + 24), 1); // seq
    assert_int_equal(get_u64(p + KNOWN_KEY_0 + 32), 0); // thread_seq
    assert_int_equal(p[KNOWN_KEY_1 + 8], 2);
    assert_int_equal(get_u64(p + KNOWN_KEY_1 + 24), 2);
    assert_int_equal(get_u64(p + KNOWN_KEY_1 + 32), 1);
    assert_memory_equal(p + KNOWN_KEY_1 + 40, a->machine->rooms[0].hash_last.bytes, 32);
    assert_int_equal(get_u64(p + KNOWN_REDACTION_0), 1);      // room
    assert_int_equal(get_u64(p + KNOWN_REDACTION_0 + 8), 2);  // seq
    assert_int_equal(get_u64(p + KNOWN_REDACTION_0 + 16), 2); // sender
    image_free(&image);
    box_destroy(a);
}

// The decoded machine is consistent: its checkpoint decodes into an equal machine, and both apply
// further ops alike (defined with the random flips below).
struct workload;
static void assert_usable(struct box *box, struct workload *w);

static void assert_usable_simple(struct box *box) {
    struct workload *w = malloc(sizeof(*w));
    assert_non_null(w);
    workload_init(w, 77, &box->config);
    assert_usable(box, w);
    free(w);
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

#define MESSAGES_MAX_PLUS_1 ((1ull << 62) / TC_ROOM_STORE_COST(1) + 1u)

static const struct edit known_edits[] = {
    // Header.
    EDIT("magic", 0, 1, 0x01),
    EDIT("version 1", 4, 4, 1),
    EDIT("version 2 (members without read markers)", 4, 4, 2),
    EDIT("version 3 (no redactions, no window senders)", 4, 4, 3),
    EDIT("version 5", 4, 4, 5),
    EDIT("size field", 8, 8, KNOWN_SIZE + 1u),
    EDIT("rooms_max", 16, 4, 5),
    EDIT("members_max", 20, 4, 9),
    EDIT("idempotency_keys_max", 24, 4, 5),
    EDIT("messages_max", 28, 4, 5),
    EDIT("store_bytes_max", 32, 8, (1ull << 32) + 16u),
    EDIT("store_bytes_max high bytes", 39, 1, 0x01),
    EDIT("op_last max", 40, 8, UINT64_MAX),
    EDIT("store_bytes_used over the budget", 48, 8, (1ull << 32) + 16u),
    EDIT("store_bytes_used not a sum of costs (of 8)", 48, 8, KNOWN_USED + 4u),
    EDIT("store_bytes_used below 2 x the smallest cost", 48, 8, KNOWN_USED - 8u),
    EDIT("store_bytes_used above 2 x the largest cost", 48, 8,
         2u * TC_ROOM_STORE_COST(TC_ROOM_BODY_SIZE_MAX) + 8u),
    EDIT("store_bytes_used huge", 48, 8, UINT64_MAX - 7u),
    EDIT("rooms count + 1", 56, 4, 4),
    EDIT("rooms count - 1", 56, 4, 2),
    EDIT("members count + 1", 60, 4, 5),
    EDIT("members count over max", 60, 4, 9),
    EDIT("window count - 1", 64, 4, 1),
    EDIT("window count + 1", 64, 4, 3),
    EDIT("window count over max", 64, 4, 5),
    EDIT("keys count - 1", 68, 4, 1),
    EDIT("keys count over max", 68, 4, 5),
    EDIT("redactions count 0", 72, 4, 0),
    EDIT("redactions count + 1", 72, 4, 2),
    EDIT("redactions count over max", 72, 4, 5),
    EDIT("header reserved", 76, 4, 1),
    // Rooms.
    EDIT("room id 0", KNOWN_ROOM_0, 8, 0),
    EDIT("room id duplicate", KNOWN_ROOM_1, 8, 1),
    EDIT("room seq_last beyond the budget", KNOWN_ROOM_0 + 8, 8, 3),
    EDIT_2("room seq_last beyond the window, budget kept", KNOWN_ROOM_0 + 8, 8, 3, 48, 8,
           3u * TC_ROOM_STORE_COST(5)),
    EDIT("room seq_last below the window", KNOWN_ROOM_0 + 8, 8, 1),
    EDIT("room seq_last over the message bound", KNOWN_ROOM_0 + 8, 8, MESSAGES_MAX_PLUS_1),
    EDIT("room seq_last max", KNOWN_ROOM_0 + 8, 8, UINT64_MAX),
    EDIT("room seq_window_min 0", KNOWN_ROOM_0 + 16, 8, 0),
    EDIT("room seq_window_min above seq_last + 1", KNOWN_ROOM_0 + 16, 8, 4),
    EDIT("room seq_window_min above a window entry", KNOWN_ROOM_0 + 16, 8, 2),
    EDIT("room seq_window_min: nothing in the window", KNOWN_ROOM_0 + 16, 8, 3),
    EDIT("empty room seq_window_min 2", KNOWN_ROOM_1 + 16, 8, 2),
    EDIT("room hash_last is not the head key's hash", KNOWN_ROOM_0 + 24, 1, 0x80),
    EDIT("empty room hash_last not zero", KNOWN_ROOM_1 + 24, 1, 0x01),
    EDIT("room member_count", KNOWN_ROOM_0 + 56, 4, 3),
    EDIT("dm member_count", KNOWN_ROOM_1 + 56, 4, 3),
    EDIT("room kind", KNOWN_ROOM_0 + 60, 4, 3),
    EDIT("room kind 0", KNOWN_ROOM_0 + 60, 4, 0),
    EDIT("empty room kind dm", KNOWN_ROOM_2 + 60, 4, ROOM_KIND_DM),
    EDIT("empty room member_count (sum)", KNOWN_ROOM_2 + 56, 4, 1),
    EDIT_2("member counts moved between rooms, sum kept", KNOWN_ROOM_0 + 56, 4, 1,
           KNOWN_ROOM_2 + 56, 4, 1),
    EDIT("retention mode unknown", KNOWN_ROOM_0 + 64, 4, 3),
    EDIT("retention mode above u8 (0x101: keep_days if truncated)", KNOWN_ROOM_0 + 64, 4, 0x101),
    EDIT("retention keep_all with a value", KNOWN_ROOM_0 + 64, 4, TC_ROOM_RETENTION_KEEP_ALL),
    EDIT("retention keep_days 0", KNOWN_ROOM_0 + 72, 8, 0),
    EDIT("retention keep_days over max", KNOWN_ROOM_0 + 72, 8, TC_ROOM_RETENTION_DAYS_MAX + 1u),
    EDIT_2("retention keep_messages 0", KNOWN_ROOM_0 + 64, 4, TC_ROOM_RETENTION_KEEP_MESSAGES,
           KNOWN_ROOM_0 + 72, 8, 0),
    EDIT_2("retention keep_messages over max", KNOWN_ROOM_0 + 64, 4,
           TC_ROOM_RETENTION_KEEP_MESSAGES, KNOWN_ROOM_0 + 72, 8,
           TC_ROOM_RETENTION_MESSAGES_MAX + 1u),
    EDIT("room reserved", KNOWN_ROOM_0 + 68, 4, 1),
    EDIT("dm retention keep_all value 1", KNOWN_ROOM_1 + 72, 8, 1),
    // Members.
    EDIT("member user 0", KNOWN_MEMBER_0 + 8, 8, 0),
    EDIT("member duplicate", KNOWN_MEMBER_1 + 8, 8, 1),
    EDIT("member order", KNOWN_MEMBER_0 + 8, 8, 5),
    EDIT("member of a missing room", KNOWN_MEMBER_3, 8, 9),
    EDIT("member moved to another room", KNOWN_MEMBER_1, 8, 2),
    EDIT("member read marker above seq_last", KNOWN_MEMBER_1 + 16, 8, 3),
    EDIT("member read marker max", KNOWN_MEMBER_0 + 16, 8, UINT64_MAX),
    EDIT("member read marker high byte", KNOWN_MEMBER_0 + 23, 1, 0x80),
    EDIT("member read marker in an empty DM", KNOWN_MEMBER_3 + 16, 8, 1),
    // Thread window.
    EDIT("window room missing", KNOWN_WINDOW_0, 8, 9),
    EDIT("window room other", KNOWN_WINDOW_0, 8, 2),
    EDIT("window seq beyond seq_last", KNOWN_WINDOW_0 + 8, 8, 3),
    EDIT("window seq 0", KNOWN_WINDOW_0 + 8, 8, 0),
    EDIT("window seq duplicate", KNOWN_WINDOW_1 + 8, 8, 1),
    EDIT("window seq order (gap)", KNOWN_WINDOW_0 + 8, 8, 2),
    EDIT("reply parent is itself", KNOWN_WINDOW_1 + 16, 8, 2),
    EDIT("reply parent is later", KNOWN_WINDOW_1 + 16, 8, 3),
    EDIT("root with a parent", KNOWN_WINDOW_0 + 16, 8, 1),
    EDIT("reply without a parent (a root with a thread_seq)", KNOWN_WINDOW_1 + 16, 8, 0),
    EDIT("reply thread_seq 0", KNOWN_WINDOW_1 + 24, 8, 0),
    EDIT("reply thread_seq not the root's next", KNOWN_WINDOW_1 + 24, 8, 2),
    EDIT_2("reply thread_seq 2, root counter 2", KNOWN_WINDOW_1 + 24, 8, 2, KNOWN_WINDOW_0 + 32, 8,
           2),
    EDIT("root thread_seq", KNOWN_WINDOW_0 + 24, 8, 1),
    EDIT("root counter below its reply", KNOWN_WINDOW_0 + 32, 8, 0),
    EDIT("root counter above its replies", KNOWN_WINDOW_0 + 32, 8, 2),
    EDIT("root counter max", KNOWN_WINDOW_0 + 32, 8, UINT64_MAX),
    EDIT("reply with replies", KNOWN_WINDOW_1 + 32, 8, 1),
    EDIT("window sender 0", KNOWN_WINDOW_0 + 40, 8, 0),
    EDIT("window sender is not the redactor", KNOWN_WINDOW_1 + 40, 8, 1),
    // Idempotency entries.
    EDIT("key room missing", KNOWN_KEY_0, 8, 9),
    EDIT("key room other", KNOWN_KEY_0, 8, 2),
    EDIT("key all zero", KNOWN_KEY_0 + 8, 1, 0x01),
    EDIT("key duplicate", KNOWN_KEY_1 + 8, 1, 0x03),
    EDIT("key seq 0", KNOWN_KEY_0 + 24, 8, 0),
    EDIT("key seq beyond seq_last", KNOWN_KEY_0 + 24, 8, 3),
    EDIT("key seq other message", KNOWN_KEY_0 + 24, 8, 2),
    EDIT("key thread_seq (message in the window)", KNOWN_KEY_1 + 32, 8, 2),
    EDIT("key thread_seq of a root", KNOWN_KEY_0 + 32, 8, 1),
    EDIT("key hash of the room's head", KNOWN_KEY_1 + 40, 1, 0x01),
    // Redactions.
    EDIT("redaction room missing", KNOWN_REDACTION_0, 8, 9),
    EDIT("redaction room without messages", KNOWN_REDACTION_0, 8, 2),
    EDIT("redaction seq 0", KNOWN_REDACTION_0 + 8, 8, 0),
    EDIT("redaction seq beyond seq_last", KNOWN_REDACTION_0 + 8, 8, 3),
    EDIT("redaction seq max", KNOWN_REDACTION_0 + 8, 8, UINT64_MAX),
    EDIT("redaction sender 0", KNOWN_REDACTION_0 + 16, 8, 0),
    EDIT("redaction sender not the message's (in the window)", KNOWN_REDACTION_0 + 16, 8, 1),
    EDIT("redaction of another user's message", KNOWN_REDACTION_0 + 8, 8, 1),
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

// Decodes `good` with one field changed: the decode must succeed (the field is free: nothing is
// left to check it against), and the machine must then differ from `a` exactly as the digest says.
static void expect_harmless(const struct image *good, const struct box *a, struct box *b,
                            uint64_t offset, uint64_t value, bool digest_changes) {
    uint8_t *bytes = malloc(good->size);
    assert_non_null(bytes);
    memcpy(bytes, good->bytes, good->size);
    put_u64(bytes + offset, value);
    assert_int_equal(tc_room_checkpoint_decode(b->machine, bytes, good->size), TC_OK);
    struct image again;
    image_init(&again, &b->config);
    image_encode(&again, b); // the edited value was taken as it is
    assert_int_equal(again.size, good->size);
    assert_memory_equal(again.bytes, bytes, good->size);
    image_free(&again);
    struct tc_checksum digest_a = box_digest(a);
    struct tc_checksum digest_b = box_digest(b);
    if (tc_checksum_equal(&digest_a, &digest_b) == digest_changes) {
        fail_msg("field at offset %llu: digest change %d", (unsigned long long)offset,
                 digest_changes);
    }
    assert_usable_simple(b);
    free(bytes);
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
    // Fields that are free: op_last (apply only needs later ops to be larger, and it is not in the
    // digest); a budget used that is still between the message counts' bounds; the hash of a key
    // whose message is neither the head nor checkable otherwise. The checkpoint's checksum covers
    // them; the digest sees the last two.
    expect_harmless(&good, a, b, 40, 1000, false);
    expect_harmless(&good, a, b, 48, KNOWN_USED + 8u, true);
    expect_harmless(&good, a, b, 48, 2u * TC_ROOM_STORE_COST(TC_ROOM_BODY_SIZE_MAX), true);
    expect_harmless(&good, a, b, KNOWN_KEY_0 + 40, 0x1234, true);
    // A read marker anywhere in 0..seq_last is a state the ops reach too; the digest sees it.
    expect_harmless(&good, a, b, KNOWN_MEMBER_0 + 16, 2, true);
    expect_harmless(&good, a, b, KNOWN_MEMBER_1 + 16, 0, true);
    // And the original still decodes.
    assert_int_equal(tc_room_checkpoint_decode(b->machine, good.bytes, good.size), TC_OK);
    assert_boxes_equal(a, b);
    free(bad);
    image_free(&good);
    box_destroy(a);
    box_destroy(b);
}

// The known state with its oldest window entry cut out (and the room's window start moved past
// it): every record is consistent, but a window of 4 that held 1 of 2 messages lost one. With
// messages_max 1 the same bytes are exactly the checkpoint of the same ops.
static void test_corrupt_window_dropped(void **state) {
    (void)state;
    struct box *a = known_create();
    struct image image;
    image_init(&image, &a->config);
    image_encode(&image, a);
    uint8_t *cut = malloc(image.size);
    assert_non_null(cut);
    uint64_t size = image.size - TC_ROOM_CHECKPOINT_WINDOW_SIZE;
    memcpy(cut, image.bytes, KNOWN_WINDOW_0);
    memcpy(cut + KNOWN_WINDOW_0, image.bytes + KNOWN_WINDOW_1, image.size - KNOWN_WINDOW_1);
    put_u64(cut + 8, size);
    put_u32(cut + 64, 1);                 // window count
    put_u64(cut + KNOWN_ROOM_0 + 16, 2); // seq_window_min
    struct box *b = box_create(&a->config);
    expect_corrupt(b, cut, size);

    struct tc_room_config narrow = config_known();
    narrow.messages_max = 1;
    struct box *c = known_create_with(&narrow);
    struct image expected;
    image_init(&expected, &narrow);
    image_encode(&expected, c);
    put_u32(cut + 28, 1); // messages_max
    assert_int_equal(expected.size, size);
    assert_memory_equal(expected.bytes, cut, size);
    struct box *d = box_create(&narrow);
    assert_int_equal(tc_room_checkpoint_decode(d->machine, cut, size), TC_OK);
    assert_boxes_equal(c, d);
    // In that full window (1 of 2), a room whose head is missing: the count is right (1 of 3),
    // the budget too, but the room's window range 2..3 lacks seq 3.
    put_u64(cut + KNOWN_ROOM_0 + 8, 3);
    put_u64(cut + 48, 3u * TC_ROOM_STORE_COST(5));
    expect_corrupt(d, cut, size);
    image_free(&expected);
    image_free(&image);
    free(cut);
    box_destroy(a);
    box_destroy(b);
    box_destroy(c);
    box_destroy(d);
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
    for (uint32_t field = 0; field < 6; field++) {
        struct tc_room_config other = a->config;
        switch (field) {
        case 0: other.rooms_max += 1; break;
        case 1: other.members_max += 1; break;
        case 2: other.idempotency_keys_max += 1; break;
        case 3: other.messages_max += 1; break;
        case 4: other.store_bytes_max += 8; break;
        default: other.store_bytes_max = 0; break; // no budget is a different config too
        }
        struct box *b = box_create(&other);
        expect_corrupt(b, good.bytes, good.size);
        box_destroy(b);
    }
    image_free(&good);
    box_destroy(a);
}

// Room 1 with a root and two replies: the replies must be numbered 1, 2 in seq order (the root's
// counter alone, 2, would accept 1, 1 or 2, 1).
static void test_corrupt_thread_numbering(void **state) {
    (void)state;
    struct tc_room_config config = config_known();
    struct box *a = box_create(&config);
    static uint8_t batch_buffer[1024];
    static uint8_t reply[TC_ROOM_REPLY_SIZE_MAX];
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
    uint8_t keys[3][TC_ROOM_KEY_SIZE] = {{1}, {2}, {3}};
    assert_int_equal(tc_room_batch_add_create_room(&batch, 1, 1), TC_OK);
    for (uint32_t i = 0; i < 3; i++) {
        int rc = tc_room_batch_add_send(&batch, 1, 1, keys[i], i == 0 ? 0 : 1,
                                        (const uint8_t *)"m", 1);
        assert_int_equal(rc, TC_OK);
    }
    box_apply(a, batch.buffer, batch.size, reply);
    struct image good;
    image_init(&good, &config);
    image_encode(&good, a);
    const uint64_t window = TC_ROOM_CHECKPOINT_HEADER_SIZE + TC_ROOM_CHECKPOINT_ROOM_SIZE +
                            TC_ROOM_CHECKPOINT_MEMBER_SIZE;
    const uint64_t reply_1 = window + TC_ROOM_CHECKPOINT_WINDOW_SIZE + 24u; // its thread_seq
    const uint64_t reply_2 = reply_1 + TC_ROOM_CHECKPOINT_WINDOW_SIZE;
    assert_int_equal(get_u64(good.bytes + window + 32), 2); // the root's counter
    assert_int_equal(get_u64(good.bytes + reply_1), 1);
    assert_int_equal(get_u64(good.bytes + reply_2), 2);
    // The keys no longer check a thread_seq: these edits touch only the window.
    uint8_t *bad = malloc(good.size);
    assert_non_null(bad);
    struct box *b = box_create(&config);
    const uint64_t numbers[][2] = {{1, 1}, {2, 1}, {2, 2}, {0, 2}, {1, 3}};
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(numbers); i++) {
        memcpy(bad, good.bytes, good.size);
        put_u64(bad + reply_1, numbers[i][0]);
        put_u64(bad + reply_2, numbers[i][1]);
        for (uint32_t k = 0; k < 3; k++) { // keep the keys consistent with the edited window
            uint64_t key = window + 3u * TC_ROOM_CHECKPOINT_WINDOW_SIZE +
                           k * TC_ROOM_CHECKPOINT_KEY_SIZE + 32u;
            put_u64(bad + key, k == 0 ? 0 : numbers[i][k - 1]);
        }
        expect_corrupt(b, bad, good.size);
    }
    assert_int_equal(tc_room_checkpoint_decode(b->machine, good.bytes, good.size), TC_OK);
    free(bad);
    image_free(&good);
    box_destroy(a);
    box_destroy(b);
}

// Rooms whose seq_last sum wraps around 2^64 to the true message count: each seq_last must be
// bounded by itself, not only through the sum.
static void test_corrupt_seq_last_wrap(void **state) {
    (void)state;
    struct box *a = known_create();
    struct image good;
    image_init(&good, &a->config);
    image_encode(&good, a);
    uint8_t *bad = malloc(good.size);
    assert_non_null(bad);
    memcpy(bad, good.bytes, good.size);
    // Room 1 (the DM): 2^64 - 2 messages, none in the window; room 2: 2 more, none in the window.
    // 2 + (2^64 - 2) + 2 = 2 (mod 2^64): the sum alone would see the known 2 messages.
    put_u64(bad + KNOWN_ROOM_1 + 8, UINT64_MAX - 1u);
    put_u64(bad + KNOWN_ROOM_1 + 16, UINT64_MAX);
    bad[KNOWN_ROOM_1 + 24] = 1;
    put_u64(bad + KNOWN_ROOM_2 + 8, 2);
    put_u64(bad + KNOWN_ROOM_2 + 16, 3);
    bad[KNOWN_ROOM_2 + 24] = 1;
    struct box *b = box_create(&a->config);
    expect_corrupt(b, bad, good.size);
    free(bad);
    image_free(&good);
    box_destroy(a);
    box_destroy(b);
}

// A third key, consistent with everything it names (the head message: its seq, thread_seq and
// hash), in a group that committed only two messages: each key names a distinct message, so there
// cannot be more keys than messages.
static void test_corrupt_more_keys_than_messages(void **state) {
    (void)state;
    struct box *a = known_create();
    struct image image;
    image_init(&image, &a->config);
    image_encode(&image, a);
    uint64_t size = image.size + TC_ROOM_CHECKPOINT_KEY_SIZE;
    uint8_t *more = malloc(size);
    assert_non_null(more);
    const uint64_t key_2 = KNOWN_REDACTION_0; // the third key goes after the second
    memcpy(more, image.bytes, key_2);
    memcpy(more + key_2, image.bytes + KNOWN_KEY_1, TC_ROOM_CHECKPOINT_KEY_SIZE);
    memcpy(more + key_2 + TC_ROOM_CHECKPOINT_KEY_SIZE, image.bytes + key_2, image.size - key_2);
    more[key_2 + 8] = 3; // key {3}: unique
    put_u64(more + 8, size);
    put_u32(more + 68, 3);
    struct box *b = box_create(&a->config);
    expect_corrupt(b, more, size);
    // The same bytes with a third message (the DM's seq 1, in the window, its budget counted)
    // decode: only the count was wrong.
    uint64_t size_3 = size + TC_ROOM_CHECKPOINT_WINDOW_SIZE;
    uint8_t *three = malloc(size_3);
    assert_non_null(three);
    memcpy(three, more, KNOWN_KEY_0);
    memset(three + KNOWN_KEY_0, 0, TC_ROOM_CHECKPOINT_WINDOW_SIZE);
    put_u64(three + KNOWN_KEY_0, 2);     // room: the DM
    put_u64(three + KNOWN_KEY_0 + 8, 1); // seq 1, a root without replies
    put_u64(three + KNOWN_KEY_0 + 40, 3); // sent by user 3
    memcpy(three + KNOWN_KEY_0 + TC_ROOM_CHECKPOINT_WINDOW_SIZE, more + KNOWN_KEY_0,
           size - KNOWN_KEY_0);
    put_u64(three + 8, size_3);
    put_u32(three + 64, 3);                                  // window count
    put_u64(three + KNOWN_ROOM_1 + 8, 1);                    // the DM's seq_last
    three[KNOWN_ROOM_1 + 24] = 1;                            // its (non-zero) chain head
    put_u64(three + 48, KNOWN_USED + TC_ROOM_STORE_COST(1)); // the budget it used
    assert_int_equal(tc_room_checkpoint_decode(b->machine, three, size_3), TC_OK);
    assert_int_equal(b->machine->keys_count, 3);
    free(three);
    image_free(&image);
    free(more);
    box_destroy(a);
    box_destroy(b);
}

// A version 2 checkpoint of the known state (member records of 16 bytes: no read marker) is refused
// (docs/room.md §11), and so are the same bytes claiming version 3.
static void test_version_2_refused(void **state) {
    (void)state;
    struct box *a = known_create();
    struct image image;
    image_init(&image, &a->config);
    image_encode(&image, a);
    const uint32_t members = 4;
    uint64_t size = image.size - members * 8u;
    uint8_t *old = malloc(image.size);
    assert_non_null(old);
    memcpy(old, image.bytes, KNOWN_MEMBER_0);
    for (uint32_t i = 0; i < members; i++) {
        memcpy(old + KNOWN_MEMBER_0 + i * 16u,
               image.bytes + KNOWN_MEMBER_0 + i * TC_ROOM_CHECKPOINT_MEMBER_SIZE, 16);
    }
    memcpy(old + KNOWN_MEMBER_0 + members * 16u, image.bytes + KNOWN_WINDOW_0,
           image.size - KNOWN_WINDOW_0);
    put_u32(old + 4, 2);
    put_u64(old + 8, size);
    struct box *b = box_create(&a->config);
    checkpoint_copy(a, b);
    expect_corrupt(b, old, size);
    put_u32(old + 4, TC_ROOM_CHECKPOINT_VERSION);
    checkpoint_copy(a, b);
    expect_corrupt(b, old, size);
    free(old);
    image_free(&image);
    box_destroy(a);
    box_destroy(b);
}

// A version 3 checkpoint of the known state (a 72-byte header, 40-byte window entries without
// senders, no redactions section) is refused, and so are the same bytes claiming version 4: a
// version 3 data file must be formatted again (docs/room.md §11).
static void test_version_3_refused(void **state) {
    (void)state;
    struct box *a = known_create();
    struct image image;
    image_init(&image, &a->config);
    image_encode(&image, a);
    uint8_t *old = malloc(image.size);
    assert_non_null(old);
    uint64_t at = 0;
    memcpy(old, image.bytes, 72); // the header without the redactions count
    at += 72;
    memcpy(old + at, image.bytes + KNOWN_ROOM_0, KNOWN_WINDOW_0 - KNOWN_ROOM_0);
    at += KNOWN_WINDOW_0 - KNOWN_ROOM_0;
    for (uint32_t i = 0; i < 2; i++) { // window entries without their sender
        memcpy(old + at, image.bytes + KNOWN_WINDOW_0 + i * TC_ROOM_CHECKPOINT_WINDOW_SIZE, 40);
        at += 40;
    }
    memcpy(old + at, image.bytes + KNOWN_KEY_0, KNOWN_REDACTION_0 - KNOWN_KEY_0);
    at += KNOWN_REDACTION_0 - KNOWN_KEY_0;
    assert_int_equal(at, image.size - 8u - 2u * 8u - TC_ROOM_CHECKPOINT_REDACTION_SIZE);
    put_u32(old + 4, 3);
    put_u64(old + 8, at);
    struct box *b = box_create(&a->config);
    checkpoint_copy(a, b);
    expect_corrupt(b, old, at);
    put_u32(old + 4, TC_ROOM_CHECKPOINT_VERSION);
    checkpoint_copy(a, b);
    expect_corrupt(b, old, at);
    free(old);
    image_free(&image);
    box_destroy(a);
    box_destroy(b);
}

// Room 1 (user 1) with 3 messages in a window of 2, seqs 1 and 3 redacted (seq 1 while in the
// window). Redactions are unique; the sender of one whose message left the window has nothing left
// to be checked against (the digest sees it); one of the window's messages is checked.
static void test_corrupt_redactions(void **state) {
    (void)state;
    struct tc_room_config config = config_known();
    config.messages_max = 2;
    struct box *a = box_create(&config);
    static uint8_t batch_buffer[1024];
    static uint8_t reply[TC_ROOM_REPLY_SIZE_MAX];
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
    uint8_t keys[3][TC_ROOM_KEY_SIZE] = {{1}, {2}, {3}};
    assert_int_equal(tc_room_batch_add_create_room(&batch, 1, 1), TC_OK);
    assert_int_equal(tc_room_batch_add_send(&batch, 1, 1, keys[0], 0, (const uint8_t *)"m", 1), 0);
    assert_int_equal(tc_room_batch_add_redact(&batch, 1, 1, 1), TC_OK);
    for (uint32_t i = 1; i < 3; i++) {
        assert_int_equal(tc_room_batch_add_send(&batch, 1, 1, keys[i], 0, (const uint8_t *)"m", 1),
                         TC_OK);
    }
    assert_int_equal(tc_room_batch_add_redact(&batch, 1, 1, 3), TC_OK);
    box_apply(a, batch.buffer, batch.size, reply);
    assert_int_equal(a->machine->redactions_count, 2);
    assert_int_equal(a->machine->rooms[0].seq_window_min, 2);
    struct image good;
    image_init(&good, &config);
    image_encode(&good, a);
    const uint64_t first = good.size - 2u * TC_ROOM_CHECKPOINT_REDACTION_SIZE;
    const uint64_t second = first + TC_ROOM_CHECKPOINT_REDACTION_SIZE;
    assert_int_equal(get_u64(good.bytes + first + 8), 1);
    assert_int_equal(get_u64(good.bytes + second + 8), 3);
    uint8_t *bad = malloc(good.size);
    assert_non_null(bad);
    struct box *b = box_create(&config);
    memcpy(bad, good.bytes, good.size);
    put_u64(bad + second + 8, 1); // a duplicate of the first
    expect_corrupt(b, bad, good.size);
    memcpy(bad, good.bytes, good.size);
    put_u64(bad + second + 16, 2); // seq 3 is in the window: its sender is user 1
    expect_corrupt(b, bad, good.size);
    memcpy(bad, good.bytes, good.size);
    put_u64(bad + second + 8, 2); // seq 2 (in the window, user 1's, not redacted): another state
    assert_int_equal(tc_room_checkpoint_decode(b->machine, bad, good.size), TC_OK);
    assert_true(tc_room_redacted(b->machine, 1, 2));
    assert_false(tc_room_redacted(b->machine, 1, 3));
    expect_harmless(&good, a, b, first + 16, 7, true); // seq 1 left the window
    free(bad);
    image_free(&good);
    box_destroy(a);
    box_destroy(b);
}

// The sink is not state: a decode (successful or not) neither encodes nor removes it.
static uint32_t sink_heard;

static void sink_count(void *context, uint32_t room_index, const struct tc_room_message *message) {
    (void)context;
    (void)room_index;
    assert_true(message->seq >= 1);
    sink_heard += 1;
}

static void test_sink_survives_decode(void **state) {
    (void)state;
    struct box *a = known_create();
    struct box *b = box_create(&a->config);
    struct tc_room_sink sink = {.context = NULL, .message = sink_count, .retention = NULL};
    tc_room_set_sink(b->machine, &sink);
    checkpoint_copy(a, b); // equal encodings and digests: the sink is in neither
    static const uint8_t junk[1] = {0};
    expect_corrupt(b, junk, sizeof(junk));
    checkpoint_copy(a, b);
    static uint8_t batch_buffer[256];
    static uint8_t reply[TC_ROOM_REPLY_SIZE_MAX];
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
    uint8_t key[TC_ROOM_KEY_SIZE] = {9};
    assert_int_equal(tc_room_batch_add_send(&batch, 1, 1, key, 1, (const uint8_t *)"r2", 2), 0);
    sink_heard = 0;
    box_apply(b, batch.buffer, batch.size, reply);
    assert_int_equal(sink_heard, 1);
    struct tc_room_result result;
    assert_int_equal(tc_room_reply_get(reply, TC_ROOM_REPLY_HEADER_SIZE + TC_ROOM_RESULT_SIZE, 0,
                                       &result), TC_OK);
    assert_int_equal(result.seq, 3);
    assert_int_equal(result.thread_seq, 2); // the root's counter came through the checkpoint
    box_destroy(a);
    box_destroy(b);
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
    assert_true(a->machine->window_head != 0 || a->machine->keys_head != 0);
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
        cmocka_unit_test(test_corrupt_window_dropped),
        cmocka_unit_test(test_corrupt_more_keys_than_messages),
        cmocka_unit_test(test_corrupt_thread_numbering),
        cmocka_unit_test(test_corrupt_seq_last_wrap),
        cmocka_unit_test(test_version_2_refused),
        cmocka_unit_test(test_version_3_refused),
        cmocka_unit_test(test_corrupt_redactions),
        cmocka_unit_test(test_sink_survives_decode),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_config_mismatch),
        cmocka_unit_test(test_random_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
