// Unit and property tests of the message store (node/store, docs/store.md) over the in-memory
// storage of tests/lib/mem_storage.c, fed by the real room state machine through its sink:
// append across segments, history pages (memory and storage), flush + state + recovery,
// determinism, crashes, retention floors, corruption (never a silent gap), the skip list's seek
// cost, the store budget, and the state-sync helpers.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mem_storage.h"
#include "room.h"
#include "store.h"
#include "tc_arena.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_prng.h"

#define CLUSTER 0xC1u
#define GROUP 2u
#define SEGMENT_SIZE (16u * 1024u)
#define SEGMENT_COUNT 256u
#define ROOMS_MAX 16u
#define USER 77u
#define DAY_NS (86400ull * 1000000000ull)
#define EXPECTED_MAX 6000u

struct expected {
    uint64_t room;
    uint64_t seq;
    uint64_t timestamp_ns;
    struct tc_hash256 hash;
    uint32_t body_size;
    uint8_t body[64];
};

struct fx {
    struct mem_storage *ms;
    struct tc_room_config room_config;
    struct tc_store_options options;
    uint8_t *memory;
    uint64_t memory_size;
    struct tc_arena arena;
    struct tc_room_machine *room;
    struct tc_store *store;
    uint64_t op;
    uint64_t timestamp_ns;
    struct tc_prng prng;
    uint32_t ready_calls;
    uint32_t done_calls;
    int done_result;
    struct expected *expected;
    uint32_t expected_count;
    // The last page a read delivered (copied: pointers die with the callback).
    uint32_t page_calls;
    struct tc_store_page page;
    uint8_t page_bodies[TC_STORE_PAGE_MAX][64];
};

static void on_ready(void *context) { ((struct fx *)context)->ready_calls++; }

static void on_done(void *context, int result) {
    struct fx *f = context;
    f->done_calls++;
    f->done_result = result;
}

static void on_page(void *context, const struct tc_store_page *page) {
    struct fx *f = context;
    f->page_calls++;
    memcpy(&f->page, page, sizeof(*page));
    for (uint32_t i = 0; i < page->count; i++) {
        assert_true(page->messages[i].body_size <= sizeof(f->page_bodies[i]));
        if (page->messages[i].redacted) { // no body to copy (S8)
            assert_null(page->messages[i].body);
            continue;
        }
        memcpy(f->page_bodies[i], page->messages[i].body, page->messages[i].body_size);
        f->page.messages[i].body = f->page_bodies[i];
    }
}

// (Re)creates the room machine and the store over the same storage.
static void fx_open(struct fx *f) {
    if (f->memory == NULL) f->memory = malloc(f->memory_size);
    assert_non_null(f->memory);
    tc_arena_init(&f->arena, f->memory, f->memory_size);
    assert_int_equal(tc_room_init(&f->room, &f->room_config, &f->arena), TC_OK);
    f->options.room = f->room;
    assert_int_equal(tc_store_init(&f->store, &f->options, &f->arena), TC_OK);
    tc_room_set_sink(f->room, tc_store_sink(f->store));
}

static void fx_setup_geometry(struct fx *f, uint32_t segment_size, uint32_t segment_count) {
    f->options = (struct tc_store_options){
        .cluster = CLUSTER,
        .group = GROUP,
        .zone_offset_bytes = 8192,
        .segment_size_bytes = segment_size,
        .segment_count = segment_count,
        .rooms_max = ROOMS_MAX,
        .reads_max = 2,
        .context = f,
        .ready_callback = on_ready,
    };
    uint64_t size = f->options.zone_offset_bytes + tc_store_zone_size(&f->options);
    f->ms = mem_storage_create(size, 42);
    assert_non_null(f->ms);
    f->options.io = mem_storage_io(f->ms);
    f->room_config = (struct tc_room_config){.rooms_max = ROOMS_MAX,
                                             .members_max = 64,
                                             .idempotency_keys_max = 4096,
                                             .messages_max = 64,
                                             .store_bytes_max = tc_store_budget_bytes(&f->options)};
    f->memory_size = tc_room_memory_size(&f->room_config) + tc_store_memory_size(&f->options) +
                     (1u << 20);
    f->timestamp_ns = 1700000000000000000ull;
    tc_prng_init(&f->prng, 7);
    f->expected = calloc(EXPECTED_MAX, sizeof(struct expected));
    assert_non_null(f->expected);
    fx_open(f);
}

static int setup(void **state) {
    struct fx *f = calloc(1, sizeof(struct fx));
    assert_non_null(f);
    fx_setup_geometry(f, SEGMENT_SIZE, SEGMENT_COUNT);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fx *f = *state;
    mem_storage_destroy(f->ms);
    free(f->memory);
    free(f->expected);
    free(f);
    return 0;
}

// Applies one batch (the store must be ready, as the replica guarantees); returns the reply.
static uint8_t fx_reply[TC_ROOM_REPLY_SIZE_MAX];
static uint32_t fx_apply(struct fx *f, struct tc_room_batch *batch, uint64_t step_ns) {
    // The replica applies only when the store is ready; it waits for segment writes to land.
    uint32_t ready_calls = f->ready_calls;
    while (!tc_store_ready(f->store)) assert_true(mem_storage_run_one(f->ms));
    if (f->ready_calls != ready_calls) assert_true(tc_store_ready(f->store));
    f->op += 1;
    f->timestamp_ns += step_ns;
    uint32_t size = tc_room_apply(f->room, f->op, f->timestamp_ns, 1, batch->buffer, batch->size,
                                  fx_reply, sizeof(fx_reply));
    assert_int_equal(tc_room_reply_count(fx_reply, size), (int)batch->op_count);
    return size;
}

static uint8_t batch_buffer[TC_ROOM_BATCH_SIZE_MAX];

static void fx_create_rooms(struct fx *f, uint32_t count) {
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
    for (uint64_t room = 1; room <= count; room++) {
        assert_int_equal(tc_room_batch_add_create_room(&batch, room, USER), TC_OK);
    }
    fx_apply(f, &batch, 1000);
}

// One batch of `sends` messages to rooms drawn from [1, rooms]; records what must be readable.
static void fx_send(struct fx *f, uint32_t sends, uint32_t rooms, uint64_t step_ns) {
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
    uint32_t first = f->expected_count;
    for (uint32_t i = 0; i < sends; i++) {
        assert_true(f->expected_count < EXPECTED_MAX);
        struct expected *e = &f->expected[f->expected_count++];
        e->room = 1 + tc_prng_below(&f->prng, rooms);
        e->body_size = 1 + (uint32_t)tc_prng_below(&f->prng, sizeof(e->body));
        tc_prng_fill(&f->prng, e->body, e->body_size);
        uint8_t key[TC_ROOM_KEY_SIZE];
        tc_prng_fill(&f->prng, key, sizeof(key));
        key[0] |= 1;
        assert_int_equal(tc_room_batch_add_send(&batch, e->room, USER, key, 0, e->body,
                                                e->body_size),
                         TC_OK);
    }
    uint32_t size = fx_apply(f, &batch, step_ns);
    for (uint32_t i = 0; i < sends; i++) {
        struct tc_room_result result;
        assert_int_equal(tc_room_reply_get(fx_reply, size, i, &result), TC_OK);
        assert_int_equal(result.status, TC_ROOM_OK);
        struct expected *e = &f->expected[first + i];
        e->seq = result.seq;
        e->hash = result.hash;
        e->timestamp_ns = f->timestamp_ns;
    }
}

static const struct expected *fx_expected(const struct fx *f, uint64_t room, uint64_t seq) {
    for (uint32_t i = 0; i < f->expected_count; i++) {
        if (f->expected[i].room == room && f->expected[i].seq == seq) return &f->expected[i];
    }
    return NULL;
}

// Runs one read to completion (driving the storage) and returns the page.
static const struct tc_store_page *fx_read(struct fx *f, uint64_t room, uint64_t from_seq,
                                           uint32_t limit, uint64_t now_ns) {
    uint32_t calls = f->page_calls;
    assert_int_equal(tc_store_read(f->store, room, from_seq, limit, now_ns, on_page, f), TC_OK);
    for (uint32_t i = 0; i < 10000 && f->page_calls == calls; i++) {
        if (!mem_storage_run_one(f->ms)) break;
    }
    assert_int_equal(f->page_calls, calls + 1);
    return &f->page;
}

// Reads a room's whole history page by page from `from` and checks every message against what
// was sent: consecutive seqs, equal bodies and hashes, pages chained by prev_hash.
static uint32_t fx_check_room(struct fx *f, uint64_t room, uint64_t from, uint32_t limit) {
    uint64_t seq_last = 0;
    struct tc_hash256 head;
    assert_int_equal(tc_room_chain_head(f->room, room, &seq_last, &head), TC_OK);
    uint64_t next = from;
    uint32_t pages = 0;
    for (uint32_t guard = 0; guard < 100000; guard++) {
        const struct tc_store_page *page = fx_read(f, room, next, limit, f->timestamp_ns);
        assert_int_equal(page->result, TC_OK);
        pages++;
        if (next > seq_last) {
            assert_int_equal(page->kind, TC_STORE_PAGE_EMPTY);
            return pages;
        }
        assert_int_equal(page->kind, TC_STORE_PAGE_MESSAGES);
        assert_true(page->count >= 1 && page->count <= limit);
        for (uint32_t i = 0; i < page->count; i++) {
            const struct tc_room_message *m = &page->messages[i];
            const struct expected *e = fx_expected(f, room, next);
            assert_non_null(e);
            assert_int_equal(m->seq, next);
            assert_int_equal(m->room, room);
            assert_int_equal(m->body_size, e->body_size);
            assert_memory_equal(m->body, e->body, e->body_size);
            assert_memory_equal(m->hash.bytes, e->hash.bytes, 32);
            const struct expected *previous = fx_expected(f, room, next - 1);
            if (previous != NULL) assert_memory_equal(m->prev_hash.bytes, previous->hash.bytes, 32);
            next++;
        }
    }
    fail_msg("history of room %llu did not end", (unsigned long long)room);
    return pages;
}

static void fx_check_all(struct fx *f, uint32_t rooms, uint32_t limit) {
    for (uint64_t room = 1; room <= rooms; room++) fx_check_room(f, room, 1, limit);
}

static void fx_flush(struct fx *f) {
    uint32_t calls = f->done_calls;
    tc_store_flush(f->store, on_done);
    mem_storage_run(f->ms);
    assert_int_equal(f->done_calls, calls + 1);
    assert_int_equal(f->done_result, TC_OK);
    assert_false(tc_store_flush_busy(f->store));
}

// ------------------------------------------------------------------------------------------------
// Tests.

static void test_history_across_segments(void **state) {
    struct fx *f = *state;
    fx_create_rooms(f, 5);
    for (uint32_t i = 0; i < 300; i++) fx_send(f, 1 + i % 7, 5, 1000);
    assert_true(tc_store_cursor(f->store).segment >= 5); // many segment boundaries
    fx_check_all(f, 5, 1);   // page by page: every page chains to the one before
    fx_check_all(f, 5, 17);
    mem_storage_run(f->ms); // sealed segments land: reads now go to storage
    fx_check_all(f, 5, TC_STORE_PAGE_MAX);
    // Reads from any seq in the middle.
    fx_check_room(f, 3, 77, 5);
}

static void test_unknown_room_and_limits(void **state) {
    struct fx *f = *state;
    fx_create_rooms(f, 2);
    fx_send(f, 3, 1, 1000);
    const struct tc_store_page *page = fx_read(f, 99, 1, 4, f->timestamp_ns);
    assert_int_equal(page->result, TC_ENOENT);
    page = fx_read(f, 2, 1, 4, f->timestamp_ns); // exists, no message yet
    assert_int_equal(page->result, TC_OK);
    assert_int_equal(page->kind, TC_STORE_PAGE_EMPTY);
    assert_int_equal(page->seq_last, 0);
    page = fx_read(f, 1, 0, 4, f->timestamp_ns); // 0 reads as 1
    assert_int_equal(page->kind, TC_STORE_PAGE_MESSAGES);
    assert_int_equal(page->messages[0].seq, 1);
    assert_int_equal(tc_store_read(f->store, 1, 1, 0, 0, on_page, f), TC_EINVAL);
    assert_int_equal(tc_store_read(f->store, 1, 1, TC_STORE_PAGE_MAX + 1, 0, on_page, f),
                     TC_EINVAL);
}

// Flush, encode the state, reopen everything from storage (as a restart from a checkpoint does),
// and read the same history; then keep appending: the bytes match a store that never restarted.
static void test_flush_state_recover(void **state) {
    struct fx *f = *state;
    fx_create_rooms(f, 4);
    for (uint32_t i = 0; i < 120; i++) fx_send(f, 3, 4, 1000);
    fx_flush(f);
    static uint8_t room_bytes[1u << 20];
    static uint8_t store_bytes[1u << 16];
    uint64_t room_size = tc_room_checkpoint_encode(f->room, room_bytes, sizeof(room_bytes));
    uint64_t store_size = tc_store_state_encode(f->store, store_bytes, sizeof(store_bytes));
    struct tc_store_cursor before = tc_store_cursor(f->store);
    struct tc_checksum chain = tc_store_chain(f->store);

    fx_open(f); // a fresh machine and store over the same storage
    assert_int_equal(tc_room_checkpoint_decode(f->room, room_bytes, room_size), TC_OK);
    assert_int_equal(tc_store_state_decode(f->store, store_bytes, store_size), TC_OK);
    uint32_t calls = f->done_calls;
    tc_store_recover(f->store, on_done);
    mem_storage_run(f->ms);
    assert_int_equal(f->done_calls, calls + 1);
    assert_int_equal(f->done_result, TC_OK);
    assert_int_equal(tc_store_cursor(f->store).segment, before.segment);
    assert_int_equal(tc_store_cursor(f->store).offset, before.offset);
    struct tc_checksum chain_after = tc_store_chain(f->store);
    assert_true(tc_checksum_equal(&chain, &chain_after));
    fx_check_all(f, 4, 9);
    for (uint32_t i = 0; i < 60; i++) fx_send(f, 2, 4, 1000);
    fx_check_all(f, 4, 9);
    static uint8_t again[1u << 16];
    uint64_t again_size = tc_store_state_encode(f->store, again, sizeof(again));
    assert_true(again_size >= store_size);
}

// Two stores fed the same ops hold byte-identical state and segments (S1).
static void test_deterministic(void **state) {
    struct fx *a = *state;
    struct fx *b = calloc(1, sizeof(struct fx));
    assert_non_null(b);
    fx_setup_geometry(b, SEGMENT_SIZE, SEGMENT_COUNT);
    fx_create_rooms(a, 6);
    fx_create_rooms(b, 6);
    for (uint32_t i = 0; i < 200; i++) {
        fx_send(a, 1 + i % 5, 6, 1000 + i);
        fx_send(b, 1 + i % 5, 6, 1000 + i);
    }
    fx_flush(a);
    fx_flush(b);
    static uint8_t state_a[1u << 16];
    static uint8_t state_b[1u << 16];
    uint64_t size_a = tc_store_state_encode(a->store, state_a, sizeof(state_a));
    uint64_t size_b = tc_store_state_encode(b->store, state_b, sizeof(state_b));
    assert_int_equal(size_a, size_b);
    assert_memory_equal(state_a, state_b, size_a);
    struct tc_store_cursor cursor = tc_store_cursor(a->store);
    uint64_t used = (cursor.segment * SEGMENT_SIZE) + cursor.offset;
    assert_memory_equal(mem_storage_image(a->ms) + 8192, mem_storage_image(b->ms) + 8192, used);
    teardown((void **)&b);
}

// A crash after a flush loses only what came after it; recovery from the flushed state works and
// its reads are complete up to that state.
static void test_crash_after_flush(void **state) {
    struct fx *f = *state;
    fx_create_rooms(f, 3);
    for (uint32_t i = 0; i < 80; i++) fx_send(f, 4, 3, 1000);
    fx_flush(f);
    static uint8_t room_bytes[1u << 20];
    static uint8_t store_bytes[1u << 16];
    uint64_t room_size = tc_room_checkpoint_encode(f->room, room_bytes, sizeof(room_bytes));
    uint64_t store_size = tc_store_state_encode(f->store, store_bytes, sizeof(store_bytes));
    uint32_t kept = f->expected_count;
    for (uint32_t i = 0; i < 80; i++) fx_send(f, 4, 3, 1000); // never flushed
    mem_storage_run_one(f->ms);
    mem_storage_crash(f->ms, MEM_STORAGE_CRASH_RANDOM);
    f->expected_count = kept;
    fx_open(f);
    assert_int_equal(tc_room_checkpoint_decode(f->room, room_bytes, room_size), TC_OK);
    assert_int_equal(tc_store_state_decode(f->store, store_bytes, store_size), TC_OK);
    tc_store_recover(f->store, on_done);
    mem_storage_run(f->ms);
    assert_int_equal(f->done_result, TC_OK);
    fx_check_all(f, 3, 11);
}

// Corruption of a stored record is reported, never served and never skipped silently.
static void test_corruption_is_an_error(void **state) {
    struct fx *f = *state;
    fx_create_rooms(f, 2);
    for (uint32_t i = 0; i < 150; i++) fx_send(f, 3, 2, 1000);
    fx_flush(f);
    // Flip a byte in the first segment's records (room 1's first run starts there).
    mem_storage_flip_bit(f->ms, 8192 + TC_STORE_SEGMENT_HEADER_SIZE + 200, 3);
    const struct tc_store_page *page = fx_read(f, 1, 1, 8, f->timestamp_ns);
    bool corrupt = page->result == TC_ECORRUPT;
    page = fx_read(f, 2, 1, 8, f->timestamp_ns);
    corrupt = corrupt || page->result == TC_ECORRUPT;
    assert_true(corrupt);
    // Recovery of a store whose open segment is damaged refuses.
    static uint8_t store_bytes[1u << 16];
    uint64_t store_size = tc_store_state_encode(f->store, store_bytes, sizeof(store_bytes));
    struct tc_store_cursor cursor = tc_store_cursor(f->store);
    mem_storage_flip_bit(f->ms, 8192 + cursor.segment * SEGMENT_SIZE + 100, 1);
    static uint8_t room_bytes[1u << 20];
    uint64_t room_size = tc_room_checkpoint_encode(f->room, room_bytes, sizeof(room_bytes));
    fx_open(f);
    assert_int_equal(tc_room_checkpoint_decode(f->room, room_bytes, room_size), TC_OK);
    assert_int_equal(tc_store_state_decode(f->store, store_bytes, store_size), TC_OK);
    tc_store_recover(f->store, on_done);
    mem_storage_run(f->ms);
    assert_int_equal(f->done_result, TC_ECORRUPT);
}

static void test_state_decode_refuses_garbage(void **state) {
    struct fx *f = *state;
    fx_create_rooms(f, 2);
    for (uint32_t i = 0; i < 40; i++) fx_send(f, 2, 2, 1000);
    fx_flush(f); // the state is encoded after a flush (its cursor sits on a sector boundary)
    static uint8_t good[1u << 16];
    uint64_t size = tc_store_state_encode(f->store, good, sizeof(good));
    static uint8_t bad[1u << 16];
    uint32_t refused = 0;
    for (uint64_t i = 0; i < size; i += 3) {
        memcpy(bad, good, size);
        bad[i] ^= 0x40;
        if (tc_store_state_decode(f->store, bad, size) != TC_OK) refused++;
    }
    assert_true(refused > 0);
    assert_int_equal(tc_store_state_decode(f->store, good, size - 1), TC_ECORRUPT);
    assert_int_equal(tc_store_state_decode(f->store, good, size), TC_OK);
}

// keep_messages N: reads below seq_last - N + 1 get TRUNCATED with the floor; the ratchet keeps
// the floor when the policy is relaxed again.
static void test_retention_keep_messages(void **state) {
    struct fx *f = *state;
    fx_create_rooms(f, 2);
    for (uint32_t i = 0; i < 40; i++) fx_send(f, 2, 1, 1000); // 80 messages in room 1
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
    assert_int_equal(tc_room_batch_add_set_retention(&batch, 1, USER,
                                                     TC_ROOM_RETENTION_KEEP_MESSAGES, 10),
                     TC_OK);
    fx_apply(f, &batch, 1000);
    const struct tc_store_page *page = fx_read(f, 1, 1, 8, f->timestamp_ns);
    assert_int_equal(page->result, TC_OK);
    assert_int_equal(page->kind, TC_STORE_PAGE_TRUNCATED);
    assert_int_equal(page->floor_seq, 71);
    fx_check_room(f, 1, 71, 4);
    page = fx_read(f, 1, 70, 8, f->timestamp_ns);
    assert_int_equal(page->kind, TC_STORE_PAGE_TRUNCATED);
    fx_send(f, 5, 1, 1000); // the floor follows the head
    page = fx_read(f, 1, 75, 8, f->timestamp_ns);
    assert_int_equal(page->kind, TC_STORE_PAGE_TRUNCATED);
    assert_int_equal(page->floor_seq, 76);
    // Relaxing the policy does not bring removed messages back (the ratchet).
    tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
    assert_int_equal(tc_room_batch_add_set_retention(&batch, 1, USER, TC_ROOM_RETENTION_KEEP_ALL,
                                                     0),
                     TC_OK);
    fx_apply(f, &batch, 1000);
    page = fx_read(f, 1, 1, 8, f->timestamp_ns);
    assert_int_equal(page->kind, TC_STORE_PAGE_TRUNCATED);
    assert_int_equal(page->floor_seq, 76);
    assert_int_equal(tc_store_floor_ratchet(f->store, 0), 76);
    // Another room is untouched.
    fx_send(f, 3, 2, 1000);
    fx_check_room(f, 2, 1, 2);
}

// keep_days N: messages older than N days (from the newest applied timestamp) are truncated.
static void test_retention_keep_days(void **state) {
    struct fx *f = *state;
    fx_create_rooms(f, 2);
    for (uint32_t day = 0; day < 10; day++) {
        for (uint32_t i = 0; i < 12; i++) fx_send(f, 3, 2, day == 0 || i > 0 ? 1000 : DAY_NS);
    }
    mem_storage_run(f->ms);
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
    assert_int_equal(tc_room_batch_add_set_retention(&batch, 1, USER, TC_ROOM_RETENTION_KEEP_DAYS,
                                                     3),
                     TC_OK);
    fx_apply(f, &batch, 1000);
    uint64_t cutoff = f->timestamp_ns - 3 * DAY_NS;
    uint64_t floor_expected = 0;
    for (uint32_t i = 0; i < f->expected_count; i++) {
        const struct expected *e = &f->expected[i];
        if (e->room == 1 && e->timestamp_ns < cutoff && e->seq + 1 > floor_expected) {
            floor_expected = e->seq + 1;
        }
    }
    assert_true(floor_expected > 1);
    const struct tc_store_page *page = fx_read(f, 1, 1, 8, f->timestamp_ns);
    assert_int_equal(page->result, TC_OK);
    assert_int_equal(page->kind, TC_STORE_PAGE_TRUNCATED);
    assert_int_equal(page->floor_seq, floor_expected);
    fx_check_room(f, 1, floor_expected, 7);
    // The ratchet never passes the exact floor (it is conservative).
    assert_true(tc_store_floor_ratchet(f->store, 0) <= floor_expected);
}

// One room with thousands of runs: a seek reads O(log runs) records, not the chain.
static void test_seek_is_logarithmic(void **state) {
    struct fx *f = *state;
    teardown(state);
    f = calloc(1, sizeof(struct fx));
    assert_non_null(f);
    *state = f;
    fx_setup_geometry(f, SEGMENT_SIZE, 4096);
    fx_create_rooms(f, 2);
    // Room 1 gets one message per segment: room 2 fills the segments with big bodies.
    uint32_t runs = 0;
    for (uint32_t i = 0; i < 3000; i++) {
        uint64_t segment = tc_store_cursor(f->store).segment;
        fx_send(f, 1, 1, 1000);
        struct tc_room_batch batch;
        tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
        static uint8_t body[TC_ROOM_BODY_SIZE_MAX];
        uint8_t key[TC_ROOM_KEY_SIZE] = {1, (uint8_t)i, (uint8_t)(i >> 8), 9};
        assert_int_equal(tc_room_batch_add_send(&batch, 2, USER, key, 0, body, sizeof(body)),
                         TC_OK);
        key[5] = 1;
        assert_int_equal(tc_room_batch_add_send(&batch, 2, USER, key, 0, body, sizeof(body)),
                         TC_OK);
        fx_apply(f, &batch, 1000);
        mem_storage_run(f->ms);
        if (tc_store_cursor(f->store).segment != segment) runs++;
    }
    assert_true(runs > 1000);
    uint64_t reads_before = mem_storage_stats(f->ms)->reads;
    const struct tc_store_page *page = fx_read(f, 1, 7, 1, f->timestamp_ns);
    assert_int_equal(page->kind, TC_STORE_PAGE_MESSAGES);
    assert_int_equal(page->messages[0].seq, 7);
    uint64_t reads = mem_storage_stats(f->ms)->reads - reads_before;
    assert_true(reads <= 60); // ~3 hops per level, 10 levels, plus the scan
    assert_true(reads >= 2);
    // Every seq is reachable.
    for (uint64_t seq = 1; seq <= 3000; seq += 97) {
        page = fx_read(f, 1, seq, 1, f->timestamp_ns);
        assert_int_equal(page->kind, TC_STORE_PAGE_MESSAGES);
        assert_int_equal(page->messages[0].seq, seq);
    }
}

// The budget: sends that would exceed it fail with store_full; the store never overflows.
static void test_budget_store_full(void **state) {
    struct fx *f = *state;
    teardown(state);
    f = calloc(1, sizeof(struct fx));
    assert_non_null(f);
    *state = f;
    fx_setup_geometry(f, SEGMENT_SIZE, 3);
    fx_create_rooms(f, 3);
    uint32_t full = 0;
    for (uint32_t i = 0; i < 400 && full == 0; i++) {
        struct tc_room_batch batch;
        tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
        static uint8_t body[1000];
        uint8_t key[TC_ROOM_KEY_SIZE] = {1, (uint8_t)i, (uint8_t)(i >> 8), 3};
        assert_int_equal(tc_room_batch_add_send(&batch, 1 + i % 3, USER, key, 0, body,
                                                sizeof(body)),
                         TC_OK);
        uint32_t size = fx_apply(f, &batch, 1000);
        mem_storage_run(f->ms);
        struct tc_room_result result;
        assert_int_equal(tc_room_reply_get(fx_reply, size, 0, &result), TC_OK);
        if (result.status == TC_ROOM_STORE_FULL) full++;
        else assert_int_equal(result.status, TC_ROOM_OK);
    }
    assert_int_equal(full, 1);
    assert_true(tc_store_cursor(f->store).segment < 3);
    assert_true(tc_room_store_bytes_used(f->room) <= f->room_config.store_bytes_max);
}

// The state-sync helpers: serve only durable bytes; verify a fetched segment and refuse a damaged
// or misplaced one.
static void test_sync_helpers(void **state) {
    struct fx *f = *state;
    fx_create_rooms(f, 3);
    for (uint32_t i = 0; i < 150; i++) fx_send(f, 3, 3, 1000);
    struct tc_store_cursor cursor = tc_store_cursor(f->store);
    assert_true(cursor.segment >= 2);
    static uint8_t buffer[SEGMENT_SIZE];
    assert_int_equal(tc_store_serve(f->store, 0, 0, SEGMENT_SIZE, buffer, on_done, f), TC_ERANGE);
    fx_flush(f);
    assert_int_equal(tc_store_serve(f->store, 0, 0, SEGMENT_SIZE, buffer, on_done, f), TC_OK);
    assert_true(tc_store_sync_io_busy(f->store));
    mem_storage_run(f->ms);
    assert_int_equal(f->done_result, TC_OK);
    assert_int_equal(tc_store_serve(f->store, cursor.segment + 1, 0, 4096, buffer, on_done, f),
                     TC_ERANGE);
    struct tc_checksum chain;
    assert_int_equal(tc_store_segment_chain_in(f->store, 0, buffer, &chain), TC_OK);
    assert_true(tc_checksum_is_zero(&chain));
    uint32_t used = 0;
    bool sealed = false;
    assert_int_equal(tc_store_segment_verify(f->store, 0, buffer, SEGMENT_SIZE, &chain, &used,
                                             &sealed),
                     TC_OK);
    assert_true(sealed);
    assert_true(used > TC_STORE_SEGMENT_HEADER_SIZE && used <= SEGMENT_SIZE);
    struct tc_checksum chain_1;
    assert_int_equal(tc_store_serve(f->store, 1, 0, SEGMENT_SIZE, buffer, on_done, f), TC_OK);
    mem_storage_run(f->ms);
    assert_int_equal(tc_store_segment_chain_in(f->store, 1, buffer, &chain_1), TC_OK);
    assert_true(tc_checksum_equal(&chain, &chain_1)); // segments chain
    assert_int_equal(tc_store_segment_chain_in(f->store, 2, buffer, &chain_1), TC_ECORRUPT);
    // A fetched copy of our own durable segment is written only past our durable whole sectors.
    struct tc_store_cursor durable = tc_store_cursor_durable(f->store);
    assert_int_equal(tc_store_sync_write_start(f->store, durable.segment),
                     durable.offset / TC_SECTOR_SIZE * TC_SECTOR_SIZE);
    assert_int_equal(tc_store_sync_write_start(f->store, durable.segment + 1), 0);
    // Serving stops at the last whole durable sector: the tail is in the checkpoint.
    uint32_t whole = durable.offset / TC_SECTOR_SIZE * TC_SECTOR_SIZE;
    if (durable.offset % TC_SECTOR_SIZE != 0) {
        assert_int_equal(tc_store_serve(f->store, durable.segment, whole, TC_SECTOR_SIZE, buffer,
                                        on_done, f),
                         TC_ERANGE);
    }
    buffer[TC_STORE_SEGMENT_HEADER_SIZE + 40] ^= 1;
    assert_int_equal(tc_store_segment_verify(f->store, 1, buffer, SEGMENT_SIZE, &chain_1, &used,
                                             &sealed),
                     TC_ECORRUPT);
}

// A checkpoint every message or two (a quiet group): the flush writes only whole sectors and the
// tail travels in the state, so the store never spends space the budget does not count (found by
// review: padding each flush to a sector boundary overflowed the store and crashed every replica
// at the same op). Runs until the budget refuses, then every message is still readable, also
// after a restart from the last state.
static void test_quiet_group_many_flushes(void **state) {
    struct fx *f = *state;
    teardown(state);
    f = calloc(1, sizeof(struct fx));
    assert_non_null(f);
    *state = f;
    fx_setup_geometry(f, SEGMENT_SIZE, 3);
    fx_create_rooms(f, 2);
    static uint8_t room_bytes[1u << 20];
    static uint8_t store_bytes[1u << 16];
    uint64_t room_size = 0;
    uint64_t store_size = 0;
    uint32_t full = 0;
    for (uint32_t i = 0; i < 2000 && full == 0; i++) {
        struct tc_room_batch batch;
        tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
        uint8_t key[TC_ROOM_KEY_SIZE] = {1, (uint8_t)i, (uint8_t)(i >> 8), 7};
        uint8_t body[1] = {(uint8_t)i};
        assert_int_equal(tc_room_batch_add_send(&batch, 1 + i % 2, USER, key, 0, body, 1), TC_OK);
        uint32_t size = fx_apply(f, &batch, 1000);
        struct tc_room_result result;
        assert_int_equal(tc_room_reply_get(fx_reply, size, 0, &result), TC_OK);
        if (result.status == TC_ROOM_STORE_FULL) {
            full++;
            break;
        }
        assert_int_equal(result.status, TC_ROOM_OK);
        assert_true(f->expected_count < EXPECTED_MAX);
        struct expected *e = &f->expected[f->expected_count++];
        *e = (struct expected){.room = 1 + i % 2, .seq = result.seq, .hash = result.hash,
                               .body_size = 1, .timestamp_ns = f->timestamp_ns};
        e->body[0] = (uint8_t)i;
        fx_flush(f); // a checkpoint after every message
        room_size = tc_room_checkpoint_encode(f->room, room_bytes, sizeof(room_bytes));
        store_size = tc_store_state_encode(f->store, store_bytes, sizeof(store_bytes));
    }
    assert_int_equal(full, 1);
    fx_check_all(f, 2, 5);
    fx_open(f);
    assert_int_equal(tc_room_checkpoint_decode(f->room, room_bytes, room_size), TC_OK);
    assert_int_equal(tc_store_state_decode(f->store, store_bytes, store_size), TC_OK);
    tc_store_recover(f->store, on_done);
    mem_storage_run(f->ms);
    assert_int_equal(f->done_result, TC_OK);
    fx_check_all(f, 2, 3);
}

// A crash tearing every sector written after a flush never damages what the flush made durable:
// the open segment's partial sector is never rewritten in place while it holds durable bytes.
static void test_torn_after_flush(void **state) {
    struct fx *f = *state;
    fx_create_rooms(f, 2);
    for (uint32_t round = 0; round < 6; round++) {
        for (uint32_t i = 0; i < 7; i++) fx_send(f, 1 + i % 3, 2, 1000);
        fx_flush(f);
        static uint8_t room_bytes[1u << 20];
        static uint8_t store_bytes[1u << 16];
        uint64_t room_size = tc_room_checkpoint_encode(f->room, room_bytes, sizeof(room_bytes));
        uint64_t store_size = tc_store_state_encode(f->store, store_bytes, sizeof(store_bytes));
        uint32_t kept = f->expected_count;
        for (uint32_t i = 0; i < 40; i++) fx_send(f, 3, 2, 1000); // seals, writes, unsynced
        while (mem_storage_pending(f->ms) > 1) mem_storage_run_one(f->ms);
        mem_storage_crash(f->ms, MEM_STORAGE_CRASH_TEAR);
        f->expected_count = kept;
        fx_open(f);
        assert_int_equal(tc_room_checkpoint_decode(f->room, room_bytes, room_size), TC_OK);
        assert_int_equal(tc_store_state_decode(f->store, store_bytes, store_size), TC_OK);
        tc_store_recover(f->store, on_done);
        mem_storage_run(f->ms);
        assert_int_equal(f->done_result, TC_OK);
        fx_check_all(f, 2, 6);
    }
}

// Relaxing a policy never brings back what the old one removed: the ratchet records the old
// policy's floor before the switch.
static void test_retention_relax_keeps_floor(void **state) {
    struct fx *f = *state;
    fx_create_rooms(f, 1);
    for (uint32_t i = 0; i < 10; i++) fx_send(f, 3, 1, 1000); // 30 messages
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
    assert_int_equal(tc_room_batch_add_set_retention(&batch, 1, USER,
                                                     TC_ROOM_RETENTION_KEEP_MESSAGES, 5),
                     TC_OK);
    assert_int_equal(tc_room_batch_add_set_retention(&batch, 1, USER, TC_ROOM_RETENTION_KEEP_DAYS,
                                                     30),
                     TC_OK);
    fx_apply(f, &batch, 1000);
    const struct tc_store_page *page = fx_read(f, 1, 1, 4, f->timestamp_ns);
    assert_int_equal(page->kind, TC_STORE_PAGE_TRUNCATED);
    assert_int_equal(page->floor_seq, 26);
    assert_int_equal(tc_store_floor_ratchet(f->store, 0), 26);
}

// A read started from a read's callback takes another slot: the page being delivered stays intact.
struct chained_read {
    struct fx *f;
    uint32_t calls;
    int inner;
    uint64_t first_seq_seen;
};

static void on_page_chained(void *context, const struct tc_store_page *page) {
    struct chained_read *chained = context;
    chained->calls++;
    if (chained->calls == 1) {
        uint64_t seq = page->messages[0].seq;
        chained->inner = tc_store_read(chained->f->store, 1, 2, 1, 0, on_page, chained->f);
        chained->first_seq_seen = page->messages[0].seq; // unchanged by the inner read
        assert_int_equal(seq, chained->first_seq_seen);
    }
}

static void test_read_from_callback(void **state) {
    struct fx *f = *state;
    fx_create_rooms(f, 1);
    fx_send(f, 3, 1, 1000);
    struct chained_read chained = {.f = f};
    assert_int_equal(tc_store_read(f->store, 1, 1, 1, 0, on_page_chained, &chained), TC_OK);
    mem_storage_run(f->ms);
    assert_int_equal(chained.calls, 1);
    assert_int_equal(chained.inner, TC_OK);
    assert_int_equal(chained.first_seq_seen, 1);
    assert_int_equal(f->page_calls, 1);
    assert_int_equal(f->page.messages[0].seq, 2);
}

// Redacts message `seq` of `room` (sent by USER); the result must be a fresh redaction.
static void fx_redact(struct fx *f, uint64_t room, uint64_t seq) {
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
    assert_int_equal(tc_room_batch_add_redact(&batch, room, USER, seq), TC_OK);
    uint32_t size = fx_apply(f, &batch, 1000);
    struct tc_room_result result;
    assert_int_equal(tc_room_reply_get(fx_reply, size, 0, &result), TC_OK);
    assert_int_equal(result.status, TC_ROOM_OK);
    assert_false(result.duplicate);
}

// Every page of the room from seq 1: consecutive, chained, each message exactly as sent, except
// that the redacted ones (redacted[seq]) have no body and carry its hash, and still verify.
static uint32_t fx_check_redacted(struct fx *f, uint64_t room, uint32_t limit,
                                  const bool *redacted) {
    uint32_t hidden = 0;
    uint64_t next = 1;
    struct tc_hash256 prev;
    memset(&prev, 0, sizeof(prev));
    for (uint32_t guard = 0; guard < 10000; guard++) {
        const struct tc_store_page *page = fx_read(f, room, next, limit, f->timestamp_ns);
        assert_int_equal(page->result, TC_OK);
        if (page->kind == TC_STORE_PAGE_EMPTY) return hidden;
        assert_int_equal(page->kind, TC_STORE_PAGE_MESSAGES);
        for (uint32_t i = 0; i < page->count; i++, next++) {
            const struct tc_room_message *m = &page->messages[i];
            const struct expected *e = fx_expected(f, room, next);
            assert_non_null(e);
            assert_int_equal(m->seq, next);
            assert_memory_equal(m->hash.bytes, e->hash.bytes, 32); // the chain is untouched
            assert_memory_equal(m->prev_hash.bytes, prev.bytes, 32);
            struct tc_hash256 body_hash;
            tc_hash256_compute(&body_hash, e->body, e->body_size);
            assert_int_equal(m->redacted, redacted[next]);
            if (m->redacted) {
                assert_null(m->body);
                assert_int_equal(m->body_size, 0);
                assert_memory_equal(m->body_hash.bytes, body_hash.bytes, 32);
                hidden++;
            } else {
                assert_int_equal(m->body_size, e->body_size);
                assert_memory_equal(m->body, e->body, e->body_size);
            }
            struct tc_hash256 hash; // a reader verifies a redacted message from its body_hash
            tc_room_chain_hash_step(&hash, &m->prev_hash, m->room, m->seq, m->sender,
                                    m->timestamp_ns, &body_hash);
            assert_memory_equal(hash.bytes, m->hash.bytes, 32);
            prev = m->hash;
        }
    }
    fail_msg("history of room %llu did not end", (unsigned long long)room);
    return hidden;
}

// S8: a redacted message is read without its body, wherever its record is (open segment, a sealed
// one in memory or on storage, a read in flight when the redaction is applied); the store appends
// nothing for a redaction; the other room is untouched.
static void test_redacted_reads(void **state) {
    struct fx *f = *state;
    fx_create_rooms(f, 2);
    for (uint32_t i = 0; i < 25; i++) fx_send(f, 4, 1, 1000); // room 1: seqs 1..100
    fx_send(f, 3, 2, 1000);
    assert_int_equal(tc_store_cursor(f->store).segment, 1); // segment 0 holds seqs 1..~80
    mem_storage_run(f->ms); // the sealed segments land: their records are read from storage
    static bool redacted[128];
    memset(redacted, 0, sizeof(redacted));
    assert_int_equal(fx_check_redacted(f, 1, 7, redacted), 0);
    const struct tc_store_cursor cursor = tc_store_cursor(f->store);
    const struct tc_checksum chain = tc_store_chain(f->store);
    // The thread window (64 messages) holds room 1's seqs 40..100 and room 2's 3: 40 and 41 are
    // in segment 0 (on storage), 100 in the open one.
    assert_int_equal(f->room_config.messages_max, 64);
    const uint64_t seqs[] = {40, 41, 60, 99, 100};
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(seqs); i++) {
        fx_redact(f, 1, seqs[i]);
        redacted[seqs[i]] = true;
    }
    assert_int_equal(tc_store_cursor(f->store).segment, cursor.segment);
    assert_int_equal(tc_store_cursor(f->store).offset, cursor.offset);
    struct tc_checksum chain_after = tc_store_chain(f->store);
    assert_true(tc_checksum_equal(&chain, &chain_after));
    assert_int_equal(fx_check_redacted(f, 1, 1, redacted), 5);
    assert_int_equal(fx_check_redacted(f, 1, 7, redacted), 5);
    assert_int_equal(fx_check_redacted(f, 1, TC_STORE_PAGE_MAX, redacted), 5);
    fx_check_room(f, 2, 1, 4); // room 2: nothing redacted
    // A read waiting for storage when a redaction is applied: the page it delivers hides it.
    uint32_t calls = f->page_calls;
    assert_int_equal(tc_store_read(f->store, 1, 50, 4, f->timestamp_ns, on_page, f), TC_OK);
    assert_int_equal(f->page_calls, calls); // seq 50 is on storage: pending
    fx_redact(f, 1, 51);
    mem_storage_run(f->ms);
    assert_int_equal(f->page_calls, calls + 1);
    assert_int_equal(f->page.count, 4);
    assert_false(f->page.messages[0].redacted); // seq 50
    assert_true(f->page.messages[1].redacted);  // seq 51
    assert_null(f->page.messages[1].body);
    // Older than the window: refused, and the store still serves it whole.
    struct tc_room_batch batch;
    tc_room_batch_init(&batch, batch_buffer, sizeof(batch_buffer));
    assert_int_equal(tc_room_batch_add_redact(&batch, 1, USER, 39), TC_OK);
    uint32_t size = fx_apply(f, &batch, 1000);
    struct tc_room_result result;
    assert_int_equal(tc_room_reply_get(fx_reply, size, 0, &result), TC_OK);
    assert_int_equal(result.status, TC_ROOM_MESSAGE_EVICTED);
    redacted[51] = true;
    assert_int_equal(fx_check_redacted(f, 1, 9, redacted), 6);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_history_across_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_room_and_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_state_recover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deterministic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_after_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corruption_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_decode_refuses_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_keep_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_keep_days, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seek_is_logarithmic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_store_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_helpers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quiet_group_many_flushes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_after_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_relax_keeps_floor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redacted_reads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
