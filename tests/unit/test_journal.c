// Unit and property tests of the write-ahead log (node/journal/journal.c) over the in-memory
// storage of tests/lib/mem_storage.c: format, write, recover (the slot classification table of
// docs/vsr.md "Recovery"), superblock copies, reads, crash durability.
//
// TC_TEST_SEEDS=n sets the number of property-test seeds; TC_TEST_LOG=1 prints their statistics.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "journal.h"
#include "mem_storage.h"
#include "tc_arena.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_prng.h"

#define CLUSTER 0xC1u
#define GROUP 3u
#define REPLICA 1u
#define REPLICA_COUNT 3u
#define SLOTS TC_JOURNAL_SLOT_COUNT_MIN
#define WRITE_RECORDS_MAX 1024u
#define CHECKPOINT_SIZE_MAX 10000u

// ------------------------------------------------------------------------------------------------
// Fixture: one storage image, one journal re-created (fresh arena) at every open.

struct write_record {
    uint64_t op;
    struct tc_checksum checksum;
    int result;
};

struct fx {
    struct mem_storage *ms;
    struct tc_journal_options options;
    struct tc_journal_layout layout;
    uint8_t *memory;
    uint64_t memory_size;
    struct tc_arena arena;
    struct tc_journal *journal;
    uint32_t recover_calls;
    int recover_result;
    uint32_t superblock_calls;
    int superblock_result;
    uint32_t checkpoint_calls;
    uint64_t checkpoint_op;
    int checkpoint_result;
    struct write_record writes[WRITE_RECORDS_MAX];
    uint32_t write_count;
    uint32_t read_calls;
    int read_result;
    uint64_t read_op;
    uint8_t *read_buffer_seen;
    // What the test wrote, per op (headers[0] is the root).
    struct tc_header headers[4 * SLOTS]; // ops of several laps of the ring
    uint8_t *message;     // TC_MESSAGE_SIZE_MAX
    uint8_t *read_buffer; // TC_MESSAGE_SIZE_MAX
    struct tc_prng prng;
};

static void on_write(void *context, uint64_t op, const struct tc_checksum *checksum, int result) {
    struct fx *f = context;
    assert_true(f->write_count < WRITE_RECORDS_MAX);
    f->writes[f->write_count].op = op;
    f->writes[f->write_count].checksum = *checksum;
    f->writes[f->write_count].result = result;
    f->write_count++;
}

static void on_read(void *context, uint8_t *buffer, uint64_t op, int result) {
    struct fx *f = context;
    f->read_calls++;
    f->read_result = result;
    f->read_op = op;
    f->read_buffer_seen = buffer;
}

static void on_superblock(void *context, int result) {
    struct fx *f = context;
    f->superblock_calls++;
    f->superblock_result = result;
}

static void on_checkpoint(void *context, uint64_t op, int result) {
    struct fx *f = context;
    f->checkpoint_calls++;
    f->checkpoint_op = op;
    f->checkpoint_result = result;
}

static void on_recover(void *context, int result) {
    struct fx *f = context;
    f->recover_calls++;
    f->recover_result = result;
}

static struct fx *fx_create(uint64_t seed) {
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    tc_journal_layout_init(&f->layout, SLOTS, CHECKPOINT_SIZE_MAX);
    f->ms = mem_storage_create(f->layout.storage_size, seed);
    f->options.cluster = CLUSTER;
    f->options.group = GROUP;
    f->options.replica = REPLICA;
    f->options.replica_count = REPLICA_COUNT;
    f->options.replica_id = 0x1d0000 + REPLICA;
    f->options.slot_count = SLOTS;
    f->options.io = mem_storage_io(f->ms);
    f->options.context = f;
    f->options.write_callback = on_write;
    f->options.read_callback = on_read;
    f->options.superblock_callback = on_superblock;
    f->options.recover_callback = on_recover;
    f->options.checkpoint_callback = on_checkpoint;
    f->options.checkpoint_size_max = CHECKPOINT_SIZE_MAX;
    f->memory_size = tc_journal_memory_size(SLOTS, CHECKPOINT_SIZE_MAX);
    f->memory = malloc(f->memory_size);
    assert_non_null(f->memory);
    f->message = calloc(1, TC_MESSAGE_SIZE_MAX);
    f->read_buffer = calloc(1, TC_MESSAGE_SIZE_MAX);
    assert_non_null(f->message);
    assert_non_null(f->read_buffer);
    tc_prng_init(&f->prng, seed ^ 0x9e3779b97f4a7c15ull);
    tc_header_root_prepare(&f->headers[0], CLUSTER, GROUP);
    mem_storage_format(f->ms, &f->options);
    return f;
}

static void fx_destroy(struct fx *f) {
    mem_storage_destroy(f->ms);
    free(f->memory);
    free(f->message);
    free(f->read_buffer);
    free(f);
}

// Starts recovery on a fresh journal and runs the io until the queue is empty. Returns the recover
// callback's result. The callback never fires inside tc_journal_recover.
static int fx_open(struct fx *f) {
    tc_arena_init(&f->arena, f->memory, f->memory_size);
    f->journal = NULL;
    assert_int_equal(tc_journal_init(&f->journal, &f->options, &f->arena), TC_OK);
    tc_arena_seal(&f->arena);
    f->recover_calls = 0;
    f->recover_result = 1;
    f->superblock_calls = 0;
    f->write_count = 0;
    f->read_calls = 0;
    tc_journal_recover(f->journal);
    assert_int_equal(f->recover_calls, 0);
    mem_storage_run(f->ms);
    assert_int_equal(f->recover_calls, 1);
    assert_int_equal(f->superblock_calls, 0); // a repair on open reports through recover
    return f->recover_result;
}

static void fx_open_ok(struct fx *f) { assert_int_equal(fx_open(f), TC_OK); }

static uint64_t prepare_offset(const struct fx *f, uint64_t op) {
    return f->layout.prepare_ring_offset + (op % SLOTS) * TC_MESSAGE_SIZE_MAX;
}

static uint64_t header_offset(const struct fx *f, uint64_t op) {
    return f->layout.header_ring_offset + (op % SLOTS) * TC_HEADER_SIZE;
}

static uint64_t superblock_offset(const struct fx *f, uint32_t copy) {
    return f->layout.superblock_offset + (uint64_t)copy * TC_SECTOR_SIZE;
}

// Builds a valid prepare of `op` in `buffer` chained to `parent`.
static const struct tc_header *build_prepare(uint8_t *buffer, uint64_t op, uint32_t view,
                                             const struct tc_header *parent, uint32_t body_size,
                                             uint64_t seed) {
    tc_assert(op > 0);
    tc_assert(body_size <= TC_MESSAGE_BODY_SIZE_MAX);
    struct tc_header *h = (struct tc_header *)(void *)buffer;
    memset(h, 0, sizeof(*h));
    h->version = TC_HEADER_VERSION;
    h->command = TC_COMMAND_PREPARE;
    h->operation = TC_OPERATION_CHAT;
    h->cluster = CLUSTER;
    h->group = GROUP;
    h->client = 0x1000 + (seed % 7);
    h->request = (uint32_t)(1 + op);
    h->session = 1 + seed % 5;
    h->op = op;
    h->commit = op - 1;
    h->timestamp = 1700000000000000000ull + op * 1000 + (seed % 1000);
    h->view = view;
    h->replica = (uint8_t)(view % REPLICA_COUNT);
    h->size = TC_HEADER_SIZE + body_size;
    h->parent = parent->checksum;
    struct tc_prng prng;
    tc_prng_init(&prng, seed);
    tc_prng_fill(&prng, buffer + TC_HEADER_SIZE, body_size);
    tc_prng_fill(&prng, h->context.bytes, sizeof(h->context.bytes));
    tc_header_set_checksum_body(h, buffer + TC_HEADER_SIZE, body_size);
    tc_header_set_checksum(h);
    tc_assert(tc_header_invalid(h) == NULL);
    return h;
}

static uint32_t body_size_for(uint64_t op) {
    switch (op % 5) {
    case 0: return 0;
    case 1: return 100;                                       // one sector
    case 2: return TC_SECTOR_SIZE - TC_HEADER_SIZE;           // exactly one sector
    case 3: return TC_SECTOR_SIZE - TC_HEADER_SIZE + 1 + 999; // spills into the rest
    default: return (uint32_t)(op * 1237u % 40000u) + 5000u;
    }
}

// Sets the header and submits the write of op (no io runs). Records the header in f->headers.
static const struct tc_header *fx_submit(struct fx *f, uint64_t op, uint32_t view,
                                         uint32_t body_size, uint64_t seed) {
    const struct tc_header *h =
        build_prepare(f->message, op, view, &f->headers[op - 1], body_size, seed);
    f->headers[op] = *h;
    assert_true(tc_journal_set_header(f->journal, h));
    assert_int_equal(tc_journal_slot_state(f->journal, op), TC_SLOT_DIRTY);
    uint32_t writes_before = f->write_count;
    assert_int_equal(tc_journal_write_prepare(f->journal, f->message), TC_OK);
    assert_int_equal(f->write_count, writes_before); // never completes inside the submit
    assert_true(tc_journal_writing(f->journal, op));
    return &f->headers[op];
}

// Writes ops [first, last] (view `view`) durably.
static void fx_write_ops(struct fx *f, uint64_t first, uint64_t last, uint32_t view) {
    for (uint64_t op = first; op <= last; op++) {
        fx_submit(f, op, view, body_size_for(op), op * 31 + view);
        uint32_t before = f->write_count;
        mem_storage_run(f->ms);
        assert_int_equal(f->write_count, before + 1);
        assert_int_equal(f->writes[before].op, op);
        assert_int_equal(f->writes[before].result, TC_OK);
        assert_memory_equal(&f->writes[before].checksum, &f->headers[op].checksum,
                            sizeof(struct tc_checksum));
        assert_int_equal(tc_journal_slot_state(f->journal, op), TC_SLOT_CLEAN);
        assert_false(tc_journal_writing(f->journal, op));
        assert_int_equal(mem_storage_dirty_count(f->ms), 0);
    }
}

static void assert_slot(const struct fx *f, uint64_t op, enum tc_slot_state state,
                        const struct tc_header *header) {
    enum tc_slot_state got = tc_journal_slot_state(f->journal, op);
    if (got != state) fail_msg("op %llu: state %d, expected %d", (unsigned long long)op, got, state);
    const struct tc_header *h = tc_journal_header(f->journal, op);
    if (header == NULL) {
        if (h != NULL) fail_msg("op %llu: unexpected header", (unsigned long long)op);
        return;
    }
    if (h == NULL) fail_msg("op %llu: no header", (unsigned long long)op);
    if (memcmp(h, header, sizeof(*h)) != 0) {
        fail_msg("op %llu: header differs (op %llu view %u)", (unsigned long long)op,
                 (unsigned long long)h->op, h->view);
    }
}

// Reads op with `checksum` and returns the read callback's result (runs the io).
static int fx_read(struct fx *f, uint64_t op, const struct tc_checksum *checksum) {
    memset(f->read_buffer, 0xAA, TC_MESSAGE_SIZE_MAX);
    uint32_t before = f->read_calls;
    assert_int_equal(tc_journal_read_prepare(f->journal, op, checksum, f->read_buffer), TC_OK);
    assert_int_equal(f->read_calls, before); // never inside the submit
    mem_storage_run(f->ms);
    assert_int_equal(f->read_calls, before + 1);
    assert_int_equal(f->read_op, op);
    assert_ptr_equal(f->read_buffer_seen, f->read_buffer);
    if (f->read_result == TC_OK) {
        const struct tc_header *h = (const struct tc_header *)(const void *)f->read_buffer;
        // Never a prepare other than the one asked for.
        assert_memory_equal(&h->checksum, checksum, sizeof(*checksum));
        assert_true(tc_header_valid_checksum(h));
        assert_true(tc_header_valid_checksum_body(h, f->read_buffer + TC_HEADER_SIZE));
        assert_int_equal(h->op, op);
    }
    return f->read_result;
}

static void fx_write_superblock(struct fx *f, uint32_t view, uint32_t log_view,
                                const struct tc_header *headers, uint32_t count) {
    uint32_t before = f->superblock_calls;
    tc_journal_write_superblock(f->journal, view, log_view, headers, count);
    assert_int_equal(f->superblock_calls, before);
    assert_true(tc_journal_superblock_busy(f->journal));
    mem_storage_run(f->ms);
    assert_int_equal(f->superblock_calls, before + 1);
    assert_int_equal(f->superblock_result, TC_OK);
    assert_false(tc_journal_superblock_busy(f->journal));
    assert_int_equal(tc_journal_durable_view(f->journal), view);
    assert_int_equal(tc_journal_durable_log_view(f->journal), log_view);
}

// A superblock copy in the image passes its checksum and holds its own index.
static bool image_superblock_valid(struct fx *f, uint32_t copy, uint64_t *sequence) {
    const uint8_t *bytes = mem_storage_image(f->ms) + superblock_offset(f, copy);
    struct tc_superblock sb;
    memcpy(&sb, bytes, sizeof(sb));
    struct tc_checksum expected;
    tc_checksum_compute(&expected, bytes + sizeof(sb.checksum), sizeof(sb) - sizeof(sb.checksum));
    if (!tc_checksum_equal(&expected, &sb.checksum) || sb.copy != copy) return false;
    if (sequence != NULL) *sequence = sb.sequence;
    return true;
}

static bool image_superblocks_agree(struct fx *f) {
    uint64_t first = 0;
    for (uint32_t copy = 0; copy < TC_SUPERBLOCK_COPIES; copy++) {
        uint64_t sequence = 0;
        if (!image_superblock_valid(f, copy, &sequence)) return false;
        if (copy == 0) first = sequence;
        if (sequence != first) return false;
    }
    return true;
}

// The acknowledged prepare of op is intact in the image (its header bytes as written and its body
// matching the header's body checksum).
static bool image_prepare_intact(struct fx *f, uint64_t op) {
    const uint8_t *bytes = mem_storage_image(f->ms) + prepare_offset(f, op);
    if (memcmp(bytes, &f->headers[op], TC_HEADER_SIZE) != 0) return false;
    return tc_header_valid_checksum_body(&f->headers[op], bytes + TC_HEADER_SIZE);
}

// ------------------------------------------------------------------------------------------------
// Format and recovery of a fresh image.

static void test_format_recover_fresh(void **state) {
    (void)state;
    struct fx *f = fx_create(1);
    fx_open_ok(f);
    assert_slot(f, 0, TC_SLOT_CLEAN, &f->headers[0]);
    for (uint64_t op = 1; op < SLOTS; op++) assert_slot(f, op, TC_SLOT_EMPTY, NULL);
    assert_int_equal(tc_journal_recovered_op_max(f->journal), 0);
    assert_int_equal(tc_journal_faulty_count(f->journal), 0);
    assert_false(tc_journal_recovered_faulty_above(f->journal, 0));
    const struct tc_superblock *sb = tc_journal_superblock(f->journal);
    assert_int_equal(sb->view, 0);
    assert_int_equal(sb->log_view, 0);
    assert_int_equal(sb->sequence, 1);
    assert_int_equal(sb->cluster, CLUSTER);
    assert_int_equal(sb->group, GROUP);
    assert_int_equal(sb->replica, REPLICA);
    assert_int_equal(sb->replica_count, REPLICA_COUNT);
    assert_int_equal(sb->slot_count, SLOTS);
    assert_int_equal(sb->view_headers_count, 1);
    assert_memory_equal(&sb->view_headers[0], &f->headers[0], sizeof(struct tc_header));
    assert_int_equal(tc_journal_durable_view(f->journal), 0);
    assert_false(tc_journal_superblock_busy(f->journal));
    assert_true(image_superblocks_agree(f));
    // Recovery only reads a clean image.
    assert_int_equal(mem_storage_stats(f->ms)->writes, 0);
    // The root reads back.
    assert_int_equal(fx_read(f, 0, &f->headers[0].checksum), TC_OK);
    // An empty slot does not read as anything.
    assert_int_equal(fx_read(f, 5, &f->headers[0].checksum), TC_ECORRUPT);
    fx_destroy(f);
}

static void test_recover_identity_mismatch(void **state) {
    (void)state;
    struct fx *f = fx_create(2);
    f->options.replica = REPLICA + 1;
    assert_int_equal(fx_open(f), TC_EINVAL);
    f->options.replica = REPLICA;
    f->options.cluster = CLUSTER + 1;
    assert_int_equal(fx_open(f), TC_EINVAL);
    f->options.cluster = CLUSTER;
    f->options.replica_count = REPLICA_COUNT + 2;
    assert_int_equal(fx_open(f), TC_EINVAL);
    f->options.replica_count = REPLICA_COUNT;
    // A different identity (a replica formatted anew) is refused: vsr.md §11.4, amnesia.
    f->options.replica_id += 1;
    assert_int_equal(fx_open(f), TC_EINVAL);
    f->options.replica_id -= 1;
    fx_open_ok(f);
    fx_destroy(f);
}

// ------------------------------------------------------------------------------------------------
// Writes.

static void test_write_recover_clean(void **state) {
    (void)state;
    struct fx *f = fx_create(3);
    fx_open_ok(f);
    uint64_t last = 40;
    fx_write_ops(f, 1, last, 0);
    // The largest prepare.
    fx_submit(f, last + 1, 0, TC_MESSAGE_BODY_SIZE_MAX, 99);
    mem_storage_run(f->ms);
    last++;
    assert_int_equal(f->writes[f->write_count - 1].result, TC_OK);
    for (uint64_t op = 1; op <= last; op++) assert_slot(f, op, TC_SLOT_CLEAN, &f->headers[op]);

    fx_open_ok(f);
    // Group commit: at most two syncs per write (the prepare, then its redundant header; several
    // writes may share them), plus one sync per open (recovery makes what it read durable before
    // anything is acknowledged).
    assert_true(mem_storage_stats(f->ms)->syncs >= 2);
    assert_true(mem_storage_stats(f->ms)->syncs <= 2 * last + 2);
    for (uint64_t op = 0; op <= last; op++) assert_slot(f, op, TC_SLOT_CLEAN, &f->headers[op]);
    for (uint64_t op = last + 1; op < SLOTS; op++) assert_slot(f, op, TC_SLOT_EMPTY, NULL);
    assert_int_equal(tc_journal_recovered_op_max(f->journal), last);
    assert_int_equal(tc_journal_faulty_count(f->journal), 0);
    for (uint64_t op = 0; op <= last; op++) {
        assert_int_equal(fx_read(f, op, &f->headers[op].checksum), TC_OK);
        assert_memory_equal(f->read_buffer, &f->headers[op], TC_HEADER_SIZE);
    }
    // The largest prepare reads back byte for byte.
    build_prepare(f->message, last, 0, &f->headers[last - 1], TC_MESSAGE_BODY_SIZE_MAX, 99);
    assert_int_equal(fx_read(f, last, &f->headers[last].checksum), TC_OK);
    assert_memory_equal(f->read_buffer, f->message, TC_MESSAGE_SIZE_MAX);
    fx_destroy(f);
}

static void test_write_busy_and_concurrent(void **state) {
    (void)state;
    struct fx *f = fx_create(4);
    fx_open_ok(f);
    // The same slot twice: busy.
    fx_submit(f, 1, 0, 100, 1);
    assert_int_equal(tc_journal_write_prepare(f->journal, f->message), TC_EBUSY);
    mem_storage_run(f->ms);
    assert_int_equal(f->write_count, 1);
    // TC_JOURNAL_WRITES_MAX writes in flight; one more is busy.
    for (uint64_t op = 2; op < 2 + TC_JOURNAL_WRITES_MAX; op++) fx_submit(f, op, 0, 300, op);
    uint64_t extra = 2 + TC_JOURNAL_WRITES_MAX;
    build_prepare(f->message, extra, 0, &f->headers[extra - 1], 10, 5);
    f->headers[extra] = *(const struct tc_header *)(const void *)f->message;
    tc_journal_set_header(f->journal, &f->headers[extra]);
    assert_int_equal(tc_journal_write_prepare(f->journal, f->message), TC_EBUSY);
    mem_storage_run(f->ms);
    assert_int_equal(f->write_count, 1 + TC_JOURNAL_WRITES_MAX);
    for (uint32_t i = 1; i < f->write_count; i++) {
        assert_int_equal(f->writes[i].op, i + 1); // completion order = submission order (FIFO io)
        assert_int_equal(f->writes[i].result, TC_OK);
    }
    assert_int_equal(tc_journal_write_prepare(f->journal, f->message), TC_OK);
    mem_storage_run(f->ms);
    fx_open_ok(f);
    for (uint64_t op = 1; op <= extra; op++) assert_slot(f, op, TC_SLOT_CLEAN, &f->headers[op]);
    fx_destroy(f);
}

// A header replaced while its old prepare is being written: the completion must not mark the new
// header CLEAN.
static void test_write_header_replaced_in_flight(void **state) {
    (void)state;
    struct fx *f = fx_create(5);
    fx_open_ok(f);
    fx_write_ops(f, 1, 3, 0);
    fx_submit(f, 4, 0, 200, 1);
    struct tc_header replacement;
    build_prepare(f->message, 4, 1, &f->headers[3], 300, 2);
    memcpy(&replacement, f->message, sizeof(replacement));
    assert_true(tc_journal_set_header(f->journal, &replacement));
    mem_storage_run(f->ms);
    assert_int_equal(f->writes[f->write_count - 1].result, TC_OK);
    assert_slot(f, 4, TC_SLOT_DIRTY, &replacement);
    assert_false(tc_journal_slot_corrupt(f->journal, 4)); // a new version, never durable here
    // Setting the same header again changes nothing.
    assert_false(tc_journal_set_header(f->journal, &replacement));
    fx_destroy(f);
}

// ------------------------------------------------------------------------------------------------
// Classification table.

static void test_classify_prepare_corrupt_redundant_valid(void **state) {
    (void)state;
    struct fx *f = fx_create(6);
    fx_open_ok(f);
    fx_write_ops(f, 1, 12, 0);
    // Flip: op 2 header byte, op 3 body byte (in the first sector), op 4 body byte past the first
    // sector, op 5 the checksum, op 6 the last body byte.
    mem_storage_flip_bit(f->ms, prepare_offset(f, 2) + 100, 3);
    mem_storage_flip_bit(f->ms, prepare_offset(f, 3) + TC_HEADER_SIZE + 10, 0);
    mem_storage_flip_bit(f->ms, prepare_offset(f, 4) + TC_SECTOR_SIZE + 500, 7);
    mem_storage_flip_bit(f->ms, prepare_offset(f, 5) + 0, 1);
    mem_storage_flip_bit(f->ms, prepare_offset(f, 6) + f->headers[6].size - 1, 5);
    // A flip past the prepare's size (unused slot bytes) is harmless.
    mem_storage_flip_bit(f->ms, prepare_offset(f, 7) + f->headers[7].size + 3, 2);
    // The whole prepare slot unreadable.
    mem_storage_inject_read_error(f->ms, prepare_offset(f, 8), TC_SECTOR_SIZE);
    fx_open_ok(f);
    mem_storage_clear_read_errors(f->ms);
    for (uint64_t op = 2; op <= 6; op++) {
        assert_slot(f, op, TC_SLOT_DIRTY, &f->headers[op]);
        assert_true(tc_journal_slot_corrupt(f->journal, op)); // was durable: never a nack
    }
    assert_slot(f, 7, TC_SLOT_CLEAN, &f->headers[7]);
    assert_false(tc_journal_slot_corrupt(f->journal, 7));
    assert_slot(f, 8, TC_SLOT_DIRTY, &f->headers[8]);
    assert_true(tc_journal_slot_corrupt(f->journal, 8));
    assert_slot(f, 12, TC_SLOT_CLEAN, &f->headers[12]);
    assert_int_equal(tc_journal_faulty_count(f->journal), 0);
    assert_false(tc_journal_recovered_faulty_above(f->journal, 0));
    assert_int_equal(tc_journal_recovered_op_max(f->journal), 12);
    // Repair: rewriting the prepare makes it CLEAN again.
    build_prepare(f->message, 2, 0, &f->headers[1], body_size_for(2), 2 * 31);
    assert_memory_equal(f->message, &f->headers[2], TC_HEADER_SIZE);
    assert_int_equal(tc_journal_write_prepare(f->journal, f->message), TC_OK);
    mem_storage_run(f->ms);
    assert_slot(f, 2, TC_SLOT_CLEAN, &f->headers[2]);
    assert_false(tc_journal_slot_corrupt(f->journal, 2));
    // A read that finds a CLEAN prepare corrupt marks it DIRTY and corrupt.
    tc_journal_mark_dirty(f->journal, 12);
    assert_slot(f, 12, TC_SLOT_DIRTY, &f->headers[12]);
    assert_true(tc_journal_slot_corrupt(f->journal, 12));
    fx_open_ok(f);
    assert_slot(f, 2, TC_SLOT_CLEAN, &f->headers[2]);
    fx_destroy(f);
}

static void test_classify_torn_or_lost_unacknowledged(void **state) {
    (void)state;
    // (1) The prepare write landed torn, the header write never happened: EMPTY.
    struct fx *f = fx_create(7);
    fx_open_ok(f);
    fx_write_ops(f, 1, 3, 0);
    f->write_count = 0;
    fx_submit(f, 4, 0, 9000, 4);
    assert_int_equal(mem_storage_next_kind(f->ms), TC_IO_STORAGE_WRITE);
    assert_true(mem_storage_run_one(f->ms)); // prepare lands (unsynced)
    assert_true(mem_storage_dirty_count(f->ms) > 0);
    assert_true(mem_storage_crash(f->ms, MEM_STORAGE_CRASH_TEAR) > 0);
    assert_int_equal(f->write_count, 0);
    fx_open_ok(f);
    assert_slot(f, 4, TC_SLOT_EMPTY, NULL);
    for (uint64_t op = 1; op <= 3; op++) assert_slot(f, op, TC_SLOT_CLEAN, &f->headers[op]);
    assert_int_equal(tc_journal_recovered_op_max(f->journal), 3);

    // (2) Lost: the prepare reverted to the reserved header: EMPTY.
    fx_submit(f, 4, 0, 9000, 5);
    assert_true(mem_storage_run_one(f->ms));
    mem_storage_crash(f->ms, MEM_STORAGE_CRASH_LOSE);
    fx_open_ok(f);
    assert_slot(f, 4, TC_SLOT_EMPTY, NULL);

    // (3) Garbage in an empty prepare slot and in an empty redundant header: never FAULTY beyond
    // what is unknown... garbage prepare + reserved redundant header is EMPTY.
    mem_storage_fill_garbage(f->ms, prepare_offset(f, 20), TC_SECTOR_SIZE);
    fx_open_ok(f);
    assert_slot(f, 20, TC_SLOT_EMPTY, NULL);

    // (4) The redundant header landed but the prepare slot shows the reserved header: the journal
    // writes the header only after the prepare's sync, so that prepare was durable (maybe
    // acknowledged) and vanished (misdirected I/O): DIRTY with its header, corrupt (never a nack).
    fx_submit(f, 4, 0, 9000, 6);
    uint8_t saved[TC_SECTOR_SIZE];
    memset(saved, 0, sizeof(saved));
    tc_header_reserved((struct tc_header *)(void *)saved, CLUSTER, GROUP, 4);
    assert_true(mem_storage_run_one(f->ms)); // prepare
    assert_int_equal(mem_storage_next_kind(f->ms), TC_IO_STORAGE_SYNC);
    assert_true(mem_storage_run_one(f->ms)); // the prepare's sync
    assert_true(mem_storage_run_one(f->ms)); // header
    assert_int_equal(mem_storage_next_kind(f->ms), TC_IO_STORAGE_SYNC);
    mem_storage_crash(f->ms, MEM_STORAGE_CRASH_KEEP);
    memcpy(mem_storage_image(f->ms) + prepare_offset(f, 4), saved, sizeof(saved));
    fx_open_ok(f);
    assert_int_equal(tc_journal_slot_state(f->journal, 4), TC_SLOT_DIRTY);
    assert_true(tc_journal_slot_corrupt(f->journal, 4));

    // (5) The prepare landed whole but the sync never completed: a valid prepare is CLEAN (it is
    // self-certifying), never a corrupt one.
    fx_submit(f, 4, 0, 9000, 7);
    assert_true(mem_storage_run_one(f->ms));
    assert_true(mem_storage_run_one(f->ms));
    mem_storage_crash(f->ms, MEM_STORAGE_CRASH_KEEP);
    fx_open_ok(f);
    assert_slot(f, 4, TC_SLOT_CLEAN, &f->headers[4]);
    fx_destroy(f);
}

static void test_classify_faulty(void **state) {
    (void)state;
    struct fx *f = fx_create(8);
    fx_open_ok(f);
    fx_write_ops(f, 1, 10, 0);
    // Both copies of op 10 (the head) corrupt.
    mem_storage_flip_bit(f->ms, prepare_offset(f, 10) + 40, 0);
    mem_storage_flip_bit(f->ms, header_offset(f, 10) + 40, 0);
    fx_open_ok(f);
    assert_slot(f, 10, TC_SLOT_FAULTY, NULL);
    assert_int_equal(tc_journal_faulty_count(f->journal), 1);
    assert_int_equal(tc_journal_recovered_op_max(f->journal), 9);
    assert_true(tc_journal_recovered_faulty_above(f->journal, 9));
    assert_false(tc_journal_recovered_faulty_above(f->journal, 10));
    for (uint64_t op = 1; op <= 9; op++) assert_slot(f, op, TC_SLOT_CLEAN, &f->headers[op]);
    // Both unreadable (read errors) for op 5: FAULTY in the middle.
    mem_storage_inject_read_error(f->ms, prepare_offset(f, 5), 1);
    mem_storage_inject_read_error(f->ms, header_offset(f, 0), TC_SECTOR_SIZE);
    fx_open_ok(f);
    mem_storage_clear_read_errors(f->ms);
    // The whole header ring read failed: every other op is still CLEAN from its prepare.
    assert_slot(f, 5, TC_SLOT_FAULTY, NULL);
    assert_int_equal(tc_journal_faulty_count(f->journal), 2);
    assert_true(tc_journal_recovered_faulty_above(f->journal, 4));
    for (uint64_t op = 1; op <= 9; op++) {
        if (op != 5) assert_slot(f, op, TC_SLOT_CLEAN, &f->headers[op]);
    }
    for (uint64_t op = 11; op < SLOTS; op++) assert_slot(f, op, TC_SLOT_EMPTY, NULL);
    // The superblock's view headers cover the root only; the root slot corrupt in both copies
    // becomes DIRTY with the superblock's header.
    mem_storage_flip_bit(f->ms, prepare_offset(f, 0) + 20, 4);
    mem_storage_flip_bit(f->ms, header_offset(f, 0) + 20, 4);
    fx_open_ok(f);
    assert_slot(f, 0, TC_SLOT_DIRTY, &f->headers[0]);
    // Marking: faulty count follows.
    tc_journal_mark_faulty(f->journal, 3);
    assert_int_equal(tc_journal_faulty_count(f->journal), 2);
    assert_true(tc_journal_set_header(f->journal, &f->headers[3]));
    assert_int_equal(tc_journal_faulty_count(f->journal), 1);
    assert_slot(f, 3, TC_SLOT_DIRTY, &f->headers[3]);
    fx_destroy(f);
}

static void test_classify_misdirected(void **state) {
    (void)state;
    struct fx *f = fx_create(9);
    fx_open_ok(f);
    fx_write_ops(f, 1, 8, 0);
    uint8_t *image = mem_storage_image(f->ms);
    // (1) Op 3's prepare written into op 5's slot: op 5 is known from its redundant header, DIRTY.
    memcpy(image + prepare_offset(f, 5), image + prepare_offset(f, 3), TC_MESSAGE_SIZE_MAX);
    // (2) Op 3's prepare written into an empty slot (20): not accepted as op 20.
    memcpy(image + prepare_offset(f, 20), image + prepare_offset(f, 3), TC_MESSAGE_SIZE_MAX);
    // (3) Op 4's prepare and redundant header both in slot 21: not accepted as op 21.
    memcpy(image + prepare_offset(f, 21), image + prepare_offset(f, 4), TC_MESSAGE_SIZE_MAX);
    memcpy(image + header_offset(f, 21), image + header_offset(f, 4), TC_HEADER_SIZE);
    // (4) Op 7's prepare corrupt and op 6's header in op 7's redundant slot: op 7 unknown.
    mem_storage_flip_bit(f->ms, prepare_offset(f, 7) + 50, 1);
    memcpy(image + header_offset(f, 7), image + header_offset(f, 6), TC_HEADER_SIZE);
    fx_open_ok(f);
    assert_slot(f, 5, TC_SLOT_DIRTY, &f->headers[5]);
    assert_slot(f, 3, TC_SLOT_CLEAN, &f->headers[3]);
    assert_null(tc_journal_header(f->journal, 20));
    assert_int_not_equal(tc_journal_slot_state(f->journal, 20), TC_SLOT_CLEAN);
    assert_int_not_equal(tc_journal_slot_state(f->journal, 20), TC_SLOT_DIRTY);
    assert_null(tc_journal_header(f->journal, 21));
    assert_int_not_equal(tc_journal_slot_state(f->journal, 21), TC_SLOT_CLEAN);
    assert_int_not_equal(tc_journal_slot_state(f->journal, 21), TC_SLOT_DIRTY);
    assert_slot(f, 7, TC_SLOT_FAULTY, NULL);
    assert_slot(f, 6, TC_SLOT_CLEAN, &f->headers[6]);
    // Reads never return the misdirected prepare.
    assert_int_equal(fx_read(f, 5, &f->headers[5].checksum), TC_ECORRUPT);
    assert_int_equal(fx_read(f, 5, &f->headers[3].checksum), TC_ECORRUPT);
    assert_int_equal(fx_read(f, 20, &f->headers[3].checksum), TC_ECORRUPT);
    fx_destroy(f);
}

// ------------------------------------------------------------------------------------------------
// View filtering with the superblock.

static void test_view_filtering(void **state) {
    (void)state;
    struct fx *f = fx_create(10);
    fx_open_ok(f);
    fx_write_ops(f, 1, 8, 0);
    // View 2 starts with ops 3..5 as its log suffix: ops 6..8 (view 0) are truncated.
    fx_write_superblock(f, 2, 2, &f->headers[3], 3);
    fx_open_ok(f);
    const struct tc_superblock *sb = tc_journal_superblock(f->journal);
    assert_int_equal(sb->view, 2);
    assert_int_equal(sb->log_view, 2);
    assert_int_equal(sb->sequence, 2);
    assert_int_equal(sb->view_headers_count, 3);
    for (uint64_t op = 1; op <= 5; op++) assert_slot(f, op, TC_SLOT_CLEAN, &f->headers[op]);
    for (uint64_t op = 6; op <= 8; op++) assert_slot(f, op, TC_SLOT_EMPTY, NULL);
    assert_int_equal(tc_journal_recovered_op_max(f->journal), 5);
    // Ops of view 2 above the view headers survive.
    fx_write_ops(f, 6, 9, 2);
    fx_open_ok(f);
    for (uint64_t op = 1; op <= 9; op++) assert_slot(f, op, TC_SLOT_CLEAN, &f->headers[op]);

    // View 4 (log_view 4) whose suffix says ops 8, 9, 10 are different prepares (prepared in
    // view 3): 8, 9 become DIRTY with the superblock's headers; 10 (never written here) too.
    struct tc_header canonical[3];
    uint8_t *buffer = calloc(1, TC_MESSAGE_SIZE_MAX);
    assert_non_null(buffer);
    memcpy(&canonical[0], build_prepare(buffer, 8, 3, &f->headers[7], 77, 1000), TC_HEADER_SIZE);
    memcpy(&canonical[1], build_prepare(buffer, 9, 3, &canonical[0], 77, 1001), TC_HEADER_SIZE);
    memcpy(&canonical[2], build_prepare(buffer, 10, 3, &canonical[1], 77, 1002), TC_HEADER_SIZE);
    free(buffer);
    fx_write_superblock(f, 4, 4, canonical, 3);
    fx_open_ok(f);
    for (uint64_t op = 1; op <= 7; op++) assert_slot(f, op, TC_SLOT_CLEAN, &f->headers[op]);
    assert_slot(f, 8, TC_SLOT_DIRTY, &canonical[0]);
    assert_slot(f, 9, TC_SLOT_DIRTY, &canonical[1]);
    assert_slot(f, 10, TC_SLOT_DIRTY, &canonical[2]);
    // Intact prepares of other versions (8, 9) or nothing (10): these versions were never durable
    // here, so they may be nacked.
    for (uint64_t op = 8; op <= 10; op++) assert_false(tc_journal_slot_corrupt(f->journal, op));
    assert_int_equal(tc_journal_recovered_op_max(f->journal), 10);
    // A view-headers entry whose prepare is corrupt in both copies is DIRTY, not FAULTY.
    mem_storage_flip_bit(f->ms, prepare_offset(f, 7) + 30, 0);
    mem_storage_flip_bit(f->ms, header_offset(f, 7) + 30, 0);
    fx_write_superblock(f, 5, 5, &f->headers[6], 2); // ops 6, 7
    fx_open_ok(f);
    assert_slot(f, 6, TC_SLOT_CLEAN, &f->headers[6]);
    assert_slot(f, 7, TC_SLOT_DIRTY, &f->headers[7]);
    assert_true(tc_journal_slot_corrupt(f->journal, 7)); // damaged: maybe acknowledged
    // Above op 7 only prepares of log_view 5 count: 8..10 (view 0/3 on disk, or never written).
    for (uint64_t op = 8; op < SLOTS; op++) assert_slot(f, op, TC_SLOT_EMPTY, NULL);
    assert_int_equal(tc_journal_faulty_count(f->journal), 0);
    fx_destroy(f);
}

// The acting configuration (docs/vsr.md §11.4) persists with the view, and recovery keeps every op
// up to the epoch's reconfigure op whatever view wrote it: a follower repairs them outside any view
// and commits them (seed 1989 lost such ops at a restart before this rule).
static void test_epoch_persisted_keeps_ops_below_its_op(void **state) {
    (void)state;
    struct fx *f = fx_create(12);
    fx_open_ok(f);
    fx_write_ops(f, 1, 8, 0); // view 0
    const struct tc_superblock *sb = tc_journal_superblock(f->journal);
    assert_int_equal(sb->epoch, 0);
    assert_int_equal(sb->epoch_op, 0);
    struct tc_journal_epoch epoch = {.epoch = 1, .op = 6, .checksum = f->headers[6].checksum};
    for (uint8_t slot = 0; slot < REPLICA_COUNT; slot++) epoch.members[slot] = 0xabc0u + slot;
    tc_journal_set_epoch(f->journal, &epoch);
    // Log view 2 with ops 1..3 as its suffix: without the epoch, ops 4..8 (view 0) are stale.
    fx_write_superblock(f, 3, 2, &f->headers[1], 3);
    fx_open_ok(f);
    sb = tc_journal_superblock(f->journal);
    assert_int_equal(sb->epoch, 1);
    assert_int_equal(sb->epoch_op, 6);
    assert_memory_equal(&sb->epoch_op_checksum, &f->headers[6].checksum, sizeof(struct tc_checksum));
    for (uint8_t slot = 0; slot < TC_REPLICAS_MAX; slot++) {
        assert_int_equal(sb->epoch_members[slot], slot < REPLICA_COUNT ? 0xabc0u + slot : 0);
    }
    for (uint64_t op = 1; op <= 6; op++) assert_slot(f, op, TC_SLOT_CLEAN, &f->headers[op]);
    for (uint64_t op = 7; op <= 8; op++) assert_slot(f, op, TC_SLOT_EMPTY, NULL);
    assert_int_equal(tc_journal_recovered_op_max(f->journal), 6);
    // The epoch survives later view writes (it is carried, not rewritten by the caller).
    fx_write_superblock(f, 4, 2, &f->headers[1], 3);
    fx_open_ok(f);
    assert_int_equal(tc_journal_superblock(f->journal)->epoch_op, 6);
    fx_destroy(f);
}

// ------------------------------------------------------------------------------------------------
// Superblock.

static void test_superblock_sequence(void **state) {
    (void)state;
    struct fx *f = fx_create(11);
    fx_open_ok(f);
    fx_write_ops(f, 1, 4, 0);
    for (uint32_t i = 1; i <= 5; i++) {
        fx_write_superblock(f, 2 * i, i, &f->headers[4], 1);
        assert_int_equal(tc_journal_superblock(f->journal)->sequence, 1 + i);
        assert_true(image_superblocks_agree(f));
        fx_open_ok(f);
        const struct tc_superblock *sb = tc_journal_superblock(f->journal);
        assert_int_equal(sb->sequence, 1 + i);
        assert_int_equal(sb->view, 2 * i);
        assert_int_equal(sb->log_view, i);
        assert_int_equal(tc_journal_durable_view(f->journal), 2 * i);
        assert_int_equal(tc_journal_durable_log_view(f->journal), i);
        // Each copy is written with a sync before the next (a crash tears at most one copy).
        assert_int_equal(mem_storage_dirty_count(f->ms), 0);
    }
    fx_destroy(f);
}

// The write order of the copies: one copy, then a sync, for every copy.
static void test_superblock_write_order(void **state) {
    (void)state;
    struct fx *f = fx_create(12);
    fx_open_ok(f);
    tc_journal_write_superblock(f->journal, 1, 1, &f->headers[0], 1);
    for (uint32_t copy = 0; copy < TC_SUPERBLOCK_COPIES; copy++) {
        assert_int_equal(mem_storage_pending(f->ms), 1);
        assert_int_equal(mem_storage_next_kind(f->ms), TC_IO_STORAGE_WRITE);
        assert_true(mem_storage_run_one(f->ms));
        assert_int_equal(mem_storage_dirty_count(f->ms), 1);
        assert_true(mem_storage_sector_dirty(
            f->ms, (uint32_t)(superblock_offset(f, copy) / MEM_STORAGE_SECTOR_SIZE)));
        assert_int_equal(mem_storage_next_kind(f->ms), TC_IO_STORAGE_SYNC);
        assert_true(mem_storage_run_one(f->ms));
        assert_int_equal(mem_storage_dirty_count(f->ms), 0);
    }
    assert_int_equal(f->superblock_calls, 1);
    assert_int_equal(mem_storage_pending(f->ms), 0);
    fx_destroy(f);
}

static void test_superblock_corrupt_copies(void **state) {
    (void)state;
    for (uint32_t bad = 0; bad < TC_SUPERBLOCK_COPIES; bad++) {
        struct fx *f = fx_create(13 + bad);
        fx_open_ok(f);
        fx_write_superblock(f, 3, 3, &f->headers[0], 1); // sequence 2
        mem_storage_flip_bit(f->ms, superblock_offset(f, bad) + 100 + bad, bad);
        fx_open_ok(f);
        const struct tc_superblock *sb = tc_journal_superblock(f->journal);
        assert_int_equal(sb->view, 3);
        assert_true(sb->sequence >= 2);
        // Disagreeing copies were rewritten on open.
        assert_true(image_superblocks_agree(f));
        // Three corrupt copies: the fourth still wins.
        for (uint32_t copy = 0; copy < TC_SUPERBLOCK_COPIES; copy++) {
            if (copy != bad) mem_storage_flip_bit(f->ms, superblock_offset(f, copy) + 2000, 6);
        }
        fx_open_ok(f);
        assert_int_equal(tc_journal_superblock(f->journal)->view, 3);
        assert_true(image_superblocks_agree(f));
        // Misdirected: copy 1's bytes in copy 0's place are not accepted as copy 0 (and the
        // newest state still wins).
        uint8_t *image = mem_storage_image(f->ms);
        memcpy(image + superblock_offset(f, 0), image + superblock_offset(f, 1), TC_SECTOR_SIZE);
        assert_false(image_superblock_valid(f, 0, NULL));
        fx_open_ok(f);
        assert_int_equal(tc_journal_superblock(f->journal)->view, 3);
        // All copies corrupt: recovery fails.
        for (uint32_t copy = 0; copy < TC_SUPERBLOCK_COPIES; copy++) {
            mem_storage_flip_bit(f->ms, superblock_offset(f, copy) + 17 + copy, 0);
        }
        assert_int_equal(fx_open(f), TC_ECORRUPT);
        for (uint32_t copy = 0; copy < TC_SUPERBLOCK_COPIES; copy++) {
            assert_non_null(tc_journal_superblock_copy_invalid(f->journal, copy));
        }
        fx_destroy(f);
    }
}

static void test_superblock_read_errors(void **state) {
    (void)state;
    struct fx *f = fx_create(20);
    fx_open_ok(f);
    fx_write_superblock(f, 1, 1, &f->headers[0], 1);
    mem_storage_inject_read_error(f->ms, superblock_offset(f, 2), 1);
    fx_open_ok(f);
    assert_int_equal(tc_journal_superblock(f->journal)->view, 1);
    mem_storage_clear_read_errors(f->ms);
    mem_storage_inject_read_error(f->ms, superblock_offset(f, 0), TC_SUPERBLOCK_COPIES * TC_SECTOR_SIZE);
    assert_int_equal(fx_open(f), TC_ECORRUPT);
    mem_storage_clear_read_errors(f->ms);
    fx_open_ok(f);
    assert_int_equal(tc_journal_superblock(f->journal)->view, 1);
    fx_destroy(f);
}

// A crash at every point of a superblock write, with every crash mode: recovery always finds the
// previous or the new state; the new one once the callback fired; and the sequence never goes back
// below the last recovered one, even across a second crash during the repair.
static void test_superblock_torn_writes(void **state) {
    (void)state;
    for (uint32_t mode = 0; mode < 4; mode++) {
        for (uint32_t steps = 0; steps <= 2 * TC_SUPERBLOCK_COPIES; steps++) {
            for (uint32_t repair_steps = 0; repair_steps <= 3; repair_steps++) {
                struct fx *f = fx_create(1000 + mode * 100 + steps * 10 + repair_steps);
                fx_open_ok(f);
                fx_write_ops(f, 1, 3, 0);
                fx_write_superblock(f, 1, 1, &f->headers[2], 1);
                uint64_t old_sequence = tc_journal_superblock(f->journal)->sequence;
                f->superblock_calls = 0;
                tc_journal_write_superblock(f->journal, 2, 2, &f->headers[3], 1);
                for (uint32_t s = 0; s < steps; s++) assert_true(mem_storage_run_one(f->ms));
                bool acked = f->superblock_calls == 1;
                assert_int_equal(acked, steps == 2 * TC_SUPERBLOCK_COPIES);
                mem_storage_crash(f->ms, (enum mem_storage_crash_mode)mode);

                // First recovery, possibly crashing during its repair.
                tc_arena_init(&f->arena, f->memory, f->memory_size);
                assert_int_equal(tc_journal_init(&f->journal, &f->options, &f->arena), TC_OK);
                f->recover_calls = 0;
                tc_journal_recover(f->journal);
                uint32_t run = 0;
                bool crashed_in_repair = false;
                while (f->recover_calls == 0 && mem_storage_pending(f->ms) > 0) {
                    if (mem_storage_next_kind(f->ms) != TC_IO_STORAGE_READ) {
                        if (run == repair_steps && repair_steps < 3) {
                            mem_storage_crash(f->ms, (enum mem_storage_crash_mode)mode);
                            crashed_in_repair = true;
                            break;
                        }
                        run++;
                    }
                    mem_storage_run_one(f->ms);
                }
                uint64_t first_sequence = 0;
                uint32_t first_view = 0;
                if (!crashed_in_repair) {
                    assert_int_equal(f->recover_calls, 1);
                    assert_int_equal(f->recover_result, TC_OK);
                    first_sequence = tc_journal_superblock(f->journal)->sequence;
                    first_view = tc_journal_superblock(f->journal)->view;
                }
                fx_open_ok(f);
                const struct tc_superblock *sb = tc_journal_superblock(f->journal);
                assert_true(sb->view == 1 || sb->view == 2);
                if (acked) assert_int_equal(sb->view, 2);
                assert_true(sb->sequence >= old_sequence);
                if (!crashed_in_repair) {
                    assert_true(sb->sequence >= first_sequence);
                    assert_int_equal(sb->view, first_view);
                }
                assert_int_equal(sb->log_view, sb->view);
                assert_int_equal(sb->view_headers[0].op, sb->view == 2 ? 3 : 2);
                assert_true(image_superblocks_agree(f));
                for (uint64_t op = 1; op <= 2; op++) {
                    assert_slot(f, op, TC_SLOT_CLEAN, &f->headers[op]);
                }
                // Op 3 (view 0) is above the old view headers (op 2, log_view 1): truncated; the
                // new superblock's view headers hold it.
                if (sb->view == 2) {
                    assert_slot(f, 3, TC_SLOT_CLEAN, &f->headers[3]);
                } else {
                    assert_slot(f, 3, TC_SLOT_EMPTY, NULL);
                }
                // A later write continues from the recovered sequence.
                uint64_t recovered = sb->sequence;
                fx_write_superblock(f, 7, 7, &f->headers[3], 1);
                assert_int_equal(tc_journal_superblock(f->journal)->sequence, recovered + 1);
                fx_destroy(f);
            }
        }
    }
}

// Two superblock writes requested back to back are coalesced: the newest requested state is
// written after the first completes, and it must be recoverable.
static void test_superblock_coalesced(void **state) {
    (void)state;
    struct fx *f = fx_create(21);
    fx_open_ok(f);
    fx_write_ops(f, 1, 3, 0);
    tc_journal_write_superblock(f->journal, 1, 1, &f->headers[2], 1);
    tc_journal_write_superblock(f->journal, 2, 2, &f->headers[2], 2);
    mem_storage_run(f->ms);
    assert_true(f->superblock_calls >= 1);
    assert_int_equal(f->superblock_result, TC_OK);
    assert_int_equal(tc_journal_durable_view(f->journal), 2);
    const struct tc_superblock *durable = tc_journal_superblock(f->journal);
    assert_int_equal(durable->view_headers_count, 2);
    assert_memory_equal(&durable->view_headers[0], &f->headers[2], TC_HEADER_SIZE);
    assert_memory_equal(&durable->view_headers[1], &f->headers[3], TC_HEADER_SIZE);
    assert_int_equal(fx_open(f), TC_OK);
    assert_int_equal(tc_journal_superblock(f->journal)->view, 2);
    for (uint64_t op = 1; op <= 3; op++) assert_slot(f, op, TC_SLOT_CLEAN, &f->headers[op]);
    fx_destroy(f);
}

// ------------------------------------------------------------------------------------------------
// Reads.

static void test_read_prepare(void **state) {
    (void)state;
    struct fx *f = fx_create(22);
    fx_open_ok(f);
    fx_write_ops(f, 1, 6, 0); // sizes: 100, 3840, 4840, ~9948, 0 (+ header)
    for (uint64_t op = 0; op <= 6; op++) {
        assert_int_equal(fx_read(f, op, &f->headers[op].checksum), TC_OK);
    }
    // The wrong checksum: never returns the prepare.
    assert_int_equal(fx_read(f, 2, &f->headers[3].checksum), TC_ECORRUPT);
    assert_int_equal(fx_read(f, 3, &f->headers[3].parent), TC_ECORRUPT);
    // An op whose slot holds nothing.
    assert_int_equal(fx_read(f, 30, &f->headers[3].checksum), TC_ECORRUPT);

    // Every single bit flip of a small prepare (header and body) is detected.
    uint64_t op = 1;
    uint32_t size = f->headers[op].size;
    for (uint32_t byte = 0; byte < size; byte++) {
        for (uint32_t bit = 0; bit < 8; bit += 3) {
            mem_storage_flip_bit(f->ms, prepare_offset(f, op) + byte, bit);
            if (fx_read(f, op, &f->headers[op].checksum) != TC_ECORRUPT) {
                fail_msg("flip at byte %u bit %u not detected", byte, bit);
            }
            mem_storage_flip_bit(f->ms, prepare_offset(f, op) + byte, bit);
        }
    }
    assert_int_equal(fx_read(f, op, &f->headers[op].checksum), TC_OK);
    // Random flips anywhere in the larger prepares (first sector and the rest).
    struct tc_prng prng;
    tc_prng_init(&prng, 5);
    for (uint32_t i = 0; i < 400; i++) {
        op = 2 + tc_prng_below(&prng, 3);
        uint64_t at = tc_prng_below(&prng, f->headers[op].size);
        uint32_t bit = (uint32_t)tc_prng_below(&prng, 8);
        mem_storage_flip_bit(f->ms, prepare_offset(f, op) + at, bit);
        if (fx_read(f, op, &f->headers[op].checksum) != TC_ECORRUPT) {
            fail_msg("op %llu flip at %llu not detected", (unsigned long long)op,
                     (unsigned long long)at);
        }
        mem_storage_flip_bit(f->ms, prepare_offset(f, op) + at, bit);
        assert_int_equal(fx_read(f, op, &f->headers[op].checksum), TC_OK);
    }
    // Flips past the prepare's size do not matter.
    mem_storage_flip_bit(f->ms, prepare_offset(f, 4) + f->headers[4].size, 0);
    assert_int_equal(fx_read(f, 4, &f->headers[4].checksum), TC_OK);

    // Read errors: the first sector, and a later sector of a multi-sector prepare.
    mem_storage_inject_read_error(f->ms, prepare_offset(f, 3), 1);
    assert_int_equal(fx_read(f, 3, &f->headers[3].checksum), TC_EIO);
    mem_storage_clear_read_errors(f->ms);
    mem_storage_inject_read_error(f->ms, prepare_offset(f, 4) + 2 * TC_SECTOR_SIZE, 1);
    assert_int_equal(fx_read(f, 4, &f->headers[4].checksum), TC_EIO);
    assert_int_equal(fx_read(f, 3, &f->headers[3].checksum), TC_OK);
    mem_storage_clear_read_errors(f->ms);
    assert_int_equal(fx_read(f, 4, &f->headers[4].checksum), TC_OK);
    fx_destroy(f);
}

static void test_read_slots_busy(void **state) {
    (void)state;
    struct fx *f = fx_create(23);
    fx_open_ok(f);
    fx_write_ops(f, 1, 4, 0);
    uint8_t *buffers = malloc((uint64_t)(TC_JOURNAL_READS_MAX + 1) * TC_MESSAGE_SIZE_MAX);
    assert_non_null(buffers);
    assert_int_equal(tc_journal_reads_free(f->journal), TC_JOURNAL_READS_MAX);
    for (uint32_t i = 0; i < TC_JOURNAL_READS_MAX; i++) {
        uint64_t op = 1 + i % 4;
        assert_int_equal(tc_journal_read_prepare(f->journal, op, &f->headers[op].checksum,
                                                 buffers + (uint64_t)i * TC_MESSAGE_SIZE_MAX),
                         TC_OK);
    }
    assert_int_equal(tc_journal_reads_free(f->journal), 0);
    assert_int_equal(tc_journal_read_prepare(f->journal, 1, &f->headers[1].checksum,
                                             buffers + (uint64_t)TC_JOURNAL_READS_MAX *
                                                           TC_MESSAGE_SIZE_MAX),
                     TC_EBUSY);
    assert_int_equal(f->read_calls, 0);
    mem_storage_run(f->ms);
    assert_int_equal(f->read_calls, TC_JOURNAL_READS_MAX);
    assert_int_equal(tc_journal_reads_free(f->journal), TC_JOURNAL_READS_MAX);
    for (uint32_t i = 0; i < TC_JOURNAL_READS_MAX; i++) {
        uint64_t op = 1 + i % 4;
        assert_memory_equal(buffers + (uint64_t)i * TC_MESSAGE_SIZE_MAX, &f->headers[op],
                            TC_HEADER_SIZE);
    }
    free(buffers);
    fx_destroy(f);
}

// ------------------------------------------------------------------------------------------------
// Crash durability.

static void test_crash_durability(void **state) {
    (void)state;
    for (uint32_t mode = 0; mode < 4; mode++) {
        // A write is four storage steps: prepare, sync, redundant header, sync.
        for (uint32_t steps = 0; steps <= 4; steps++) {
            for (uint32_t trial = 0; trial < 4; trial++) {
                struct fx *f = fx_create(5000 + mode * 100 + steps * 10 + trial);
                fx_open_ok(f);
                // Durable ops 1..N; N+1 shares a header-ring sector with several of them.
                uint64_t last = 5 + trial * 4;
                fx_write_ops(f, 1, last, 0);
                uint64_t op = last + 1;
                f->write_count = 0;
                fx_submit(f, op, 0, body_size_for(op + trial), 77 + trial);
                for (uint32_t s = 0; s < steps; s++) assert_true(mem_storage_run_one(f->ms));
                bool acked = f->write_count == 1;
                assert_int_equal(acked, steps == 4);
                if (acked) assert_int_equal(f->writes[0].result, TC_OK);
                mem_storage_crash(f->ms, (enum mem_storage_crash_mode)mode);
                fx_open_ok(f);
                for (uint64_t o = 0; o <= last; o++) assert_slot(f, o, TC_SLOT_CLEAN, &f->headers[o]);
                enum tc_slot_state s = tc_journal_slot_state(f->journal, op);
                if (acked) {
                    assert_slot(f, op, TC_SLOT_CLEAN, &f->headers[op]);
                } else if (s == TC_SLOT_CLEAN) {
                    // Only if the prepare landed whole (keep): it reads back.
                    assert_slot(f, op, TC_SLOT_CLEAN, &f->headers[op]);
                    assert_int_equal(fx_read(f, op, &f->headers[op].checksum), TC_OK);
                } else if (s == TC_SLOT_DIRTY) {
                    assert_slot(f, op, TC_SLOT_DIRTY, &f->headers[op]);
                }
                // Before the prepare's own sync (steps < 2) nothing of it is durable; after it, the
                // prepare survives any crash (CLEAN) even though it was not acknowledged yet.
                bool prepare_synced = steps >= 2;
                if (mode == MEM_STORAGE_CRASH_TEAR && !prepare_synced) {
                    assert_int_not_equal(s, TC_SLOT_CLEAN);
                }
                if (mode == MEM_STORAGE_CRASH_LOSE && !prepare_synced) {
                    assert_int_equal(s, TC_SLOT_EMPTY);
                }
                if (prepare_synced) assert_slot(f, op, TC_SLOT_CLEAN, &f->headers[op]);
                for (uint64_t o = op + 1; o < SLOTS; o++) assert_slot(f, o, TC_SLOT_EMPTY, NULL);
                fx_destroy(f);
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Property test: random writes, superblock writes, bit flips on synced sectors and crashes, each
// followed by recovery, against a simple model.

struct model_superblock {
    bool valid;
    uint32_t view;
    uint32_t log_view;
    uint32_t count;
    struct tc_header headers[TC_VIEW_HEADERS_MAX];
};

struct model {
    uint64_t head;                  // every op in [1, head] was acknowledged (write callback TC_OK)
    struct model_superblock acked;  // the superblock state acted upon (acked or recovered)
    struct model_superblock pending; // a superblock write in flight at a crash
    uint64_t sequence_min;
    uint32_t recoveries;
    uint32_t crashes;
    uint32_t flips;
    uint32_t flipped_seen;
    uint32_t dirty_seen;
    uint32_t faulty_seen;
    uint32_t superblock_writes;
};

static bool model_superblock_equal(const struct model_superblock *m, const struct tc_superblock *sb) {
    if (!m->valid) return false;
    if (m->view != sb->view || m->log_view != sb->log_view || m->count != sb->view_headers_count) {
        return false;
    }
    return memcmp(m->headers, sb->view_headers, (uint64_t)m->count * TC_HEADER_SIZE) == 0;
}

static void model_superblock_set(struct model_superblock *m, const struct tc_superblock *sb) {
    m->valid = true;
    m->view = sb->view;
    m->log_view = sb->log_view;
    m->count = sb->view_headers_count;
    memcpy(m->headers, sb->view_headers, (uint64_t)m->count * TC_HEADER_SIZE);
}

static void property_check(struct fx *f, struct model *m, uint64_t seed, uint32_t step) {
    const struct tc_superblock *sb = tc_journal_superblock(f->journal);
    if (!model_superblock_equal(&m->acked, sb) && !model_superblock_equal(&m->pending, sb)) {
        fail_msg("seed %llu step %u: recovered superblock view %u log_view %u matches no state "
                 "written", (unsigned long long)seed, step, sb->view, sb->log_view);
    }
    if (sb->sequence < m->sequence_min) {
        fail_msg("seed %llu step %u: superblock sequence went back from %llu to %llu",
                 (unsigned long long)seed, step, (unsigned long long)m->sequence_min,
                 (unsigned long long)sb->sequence);
    }
    m->sequence_min = sb->sequence;
    model_superblock_set(&m->acked, sb);
    m->pending.valid = false;
    assert_true(image_superblocks_agree(f));

    uint64_t first = sb->view_headers[0].op;
    uint64_t last = sb->view_headers[sb->view_headers_count - 1].op;
    uint8_t *image = mem_storage_image(f->ms);
    for (uint64_t op = 0; op <= m->head; op++) {
        enum tc_slot_state state = tc_journal_slot_state(f->journal, op);
        const struct tc_header *expected = &f->headers[op];
        bool in_range = op >= first && op <= last;
        if (in_range) {
            // The model only puts acknowledged headers into the superblock.
            assert_memory_equal(&sb->view_headers[op - first], expected, TC_HEADER_SIZE);
        }
        enum tc_slot_state want;
        bool intact = image_prepare_intact(f, op);
        if (!intact) m->flipped_seen++;
        if (intact) {
            want = TC_SLOT_CLEAN;
        } else if (in_range || memcmp(image + header_offset(f, op), expected, TC_HEADER_SIZE) == 0) {
            want = TC_SLOT_DIRTY;
        } else {
            want = TC_SLOT_FAULTY;
        }
        if (state != want) {
            fail_msg("seed %llu step %u: acknowledged op %llu (head %llu, flipped %d, view headers "
                     "%llu..%llu, log_view %u, op view %u) is %d, expected %d",
                     (unsigned long long)seed, step, (unsigned long long)op,
                     (unsigned long long)m->head, !intact,
                     (unsigned long long)first, (unsigned long long)last, sb->log_view,
                     expected->view, state, want);
        }
        if (want == TC_SLOT_FAULTY) {
            m->faulty_seen++;
            assert_null(tc_journal_header(f->journal, op));
        } else {
            if (want == TC_SLOT_DIRTY) {
                m->dirty_seen++;
                // Acknowledged and damaged: a do_view_change must never nack it.
                if (!tc_journal_slot_corrupt(f->journal, op)) {
                    fail_msg("seed %llu step %u: acknowledged op %llu DIRTY but not marked corrupt",
                             (unsigned long long)seed, step, (unsigned long long)op);
                }
            }
            const struct tc_header *h = tc_journal_header(f->journal, op);
            if (h == NULL || memcmp(h, expected, TC_HEADER_SIZE) != 0) {
                fail_msg("seed %llu step %u: acknowledged op %llu has a different header",
                         (unsigned long long)seed, step, (unsigned long long)op);
            }
        }
    }
    // No slot is CLEAN unless its prepare reads back; FAULTY counts agree.
    uint32_t faulty = 0;
    bool faulty_above_head = false;
    for (uint64_t op = 0; op < SLOTS; op++) {
        enum tc_slot_state state = tc_journal_slot_state(f->journal, op);
        if (state == TC_SLOT_FAULTY) {
            faulty++;
            if (op > m->head) faulty_above_head = true;
        }
        if (state == TC_SLOT_CLEAN) {
            const struct tc_header *h = tc_journal_header(f->journal, op);
            assert_non_null(h);
            struct tc_checksum checksum = h->checksum;
            if (fx_read(f, op, &checksum) != TC_OK) {
                fail_msg("seed %llu step %u: op %llu CLEAN but its prepare does not read back",
                         (unsigned long long)seed, step, (unsigned long long)op);
            }
        }
        if (op > last && (state == TC_SLOT_CLEAN || state == TC_SLOT_DIRTY)) {
            assert_int_equal(tc_journal_header(f->journal, op)->view, sb->log_view);
        }
    }
    assert_int_equal(tc_journal_faulty_count(f->journal), faulty);
    assert_int_equal(tc_journal_recovered_faulty_above(f->journal, m->head), faulty_above_head);
    if (tc_journal_slot_state(f->journal, m->head) != TC_SLOT_FAULTY) {
        assert_true(tc_journal_recovered_op_max(f->journal) >= m->head);
    }
}

// Recovery that may itself crash (during a superblock repair); retried until it completes.
static void property_recover(struct fx *f, struct model *m, struct tc_prng *prng, uint64_t seed,
                             uint32_t step) {
    for (uint32_t attempt = 0; attempt < 8; attempt++) {
        tc_arena_init(&f->arena, f->memory, f->memory_size);
        assert_int_equal(tc_journal_init(&f->journal, &f->options, &f->arena), TC_OK);
        tc_arena_seal(&f->arena);
        f->recover_calls = 0;
        f->write_count = 0;
        f->superblock_calls = 0;
        tc_journal_recover(f->journal);
        bool crash = attempt < 7 && tc_prng_chance_ppm(prng, 200000);
        uint32_t budget = (uint32_t)tc_prng_below(prng, 6);
        bool crashed = false;
        while (f->recover_calls == 0 && mem_storage_pending(f->ms) > 0) {
            if (crash && mem_storage_next_kind(f->ms) != TC_IO_STORAGE_READ) {
                if (budget == 0) {
                    mem_storage_crash(f->ms, (enum mem_storage_crash_mode)tc_prng_below(prng, 4));
                    m->crashes++;
                    crashed = true;
                    break;
                }
                budget--;
            }
            mem_storage_run_one(f->ms);
        }
        if (crashed) continue;
        assert_int_equal(f->recover_calls, 1);
        if (f->recover_result != TC_OK) {
            fail_msg("seed %llu step %u: recovery failed: %s", (unsigned long long)seed, step,
                     tc_errname(f->recover_result));
        }
        assert_int_equal(mem_storage_pending(f->ms), 0);
        m->recoveries++;
        property_check(f, m, seed, step);
        return;
    }
    fail_msg("seed %llu step %u: recovery never completed", (unsigned long long)seed, step);
}

// Runs the queued io to completion, or crashes after a random number of completions.
static bool property_run_or_crash(struct fx *f, struct model *m, struct tc_prng *prng,
                                  uint32_t crash_ppm) {
    if (!tc_prng_chance_ppm(prng, crash_ppm)) {
        mem_storage_run(f->ms);
        return false;
    }
    uint32_t steps = (uint32_t)tc_prng_below(prng, mem_storage_pending(f->ms) * 3 + 1);
    for (uint32_t s = 0; s < steps && mem_storage_run_one(f->ms); s++) {
    }
    mem_storage_crash(f->ms, (enum mem_storage_crash_mode)tc_prng_below(prng, 4));
    m->crashes++;
    return true;
}

static void property_run(uint64_t seed, uint32_t steps) {
    struct fx *f = fx_create(seed);
    struct model *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    struct tc_prng prng;
    tc_prng_init(&prng, seed);
    fx_open_ok(f);
    model_superblock_set(&m->acked, tc_journal_superblock(f->journal));
    m->sequence_min = tc_journal_superblock(f->journal)->sequence;
    uint64_t variant = 0;
    for (uint32_t step = 0; step < steps; step++) {
        uint64_t action = tc_prng_below(&prng, 100);
        if (action < 40 && m->head + 1 < SLOTS) {
            // A batch of writes (pipelined) in the current log_view.
            uint32_t batch = (uint32_t)tc_prng_range(&prng, 1, 3);
            uint32_t log_view = tc_journal_superblock(f->journal)->log_view;
            uint64_t first = m->head + 1;
            uint64_t end = tc_min_u64(first + batch, SLOTS);
            for (uint64_t op = first; op < end; op++) {
                uint32_t body = (uint32_t)(tc_prng_chance_ppm(&prng, 50000)
                                               ? TC_MESSAGE_BODY_SIZE_MAX
                                               : tc_prng_below(&prng, 12000));
                fx_submit(f, op, log_view, body, seed * 1000003 + (++variant));
            }
            bool crashed = property_run_or_crash(f, m, &prng, 250000);
            // Acknowledgements come in submission order: a prefix of the batch.
            for (uint32_t i = 0; i < f->write_count; i++) {
                assert_int_equal(f->writes[i].result, TC_OK);
                assert_int_equal(f->writes[i].op, first + i);
                assert_memory_equal(&f->writes[i].checksum, &f->headers[first + i].checksum,
                                    sizeof(struct tc_checksum));
                m->head = first + i;
            }
            if (!crashed) assert_int_equal(f->write_count, end - first);
            f->write_count = 0;
            if (crashed) property_recover(f, m, &prng, seed, step);
        } else if (action < 52) {
            // A view change: the new view's log suffix is the acknowledged suffix.
            const struct tc_superblock *sb = tc_journal_superblock(f->journal);
            uint32_t view = sb->view + 1 + (uint32_t)tc_prng_below(&prng, 2);
            uint32_t log_view = tc_prng_below(&prng, 4) == 0 ? sb->log_view : view;
            uint64_t count = tc_min_u64(m->head + 1, 1 + tc_prng_below(&prng, TC_VIEW_HEADERS_MAX));
            uint64_t from = m->head + 1 - count;
            if (log_view == sb->log_view && from + count - 1 < sb->view_headers[sb->view_headers_count - 1].op) {
                log_view = view; // keep the view headers' head monotonic within one log_view
            }
            m->pending.valid = true;
            m->pending.view = view;
            m->pending.log_view = log_view;
            m->pending.count = (uint32_t)count;
            memcpy(m->pending.headers, &f->headers[from], count * TC_HEADER_SIZE);
            f->superblock_calls = 0;
            tc_journal_write_superblock(f->journal, view, log_view, &f->headers[from],
                                        (uint32_t)count);
            m->superblock_writes++;
            bool crashed = property_run_or_crash(f, m, &prng, 300000);
            if (f->superblock_calls == 1) {
                assert_int_equal(f->superblock_result, TC_OK);
                m->acked = m->pending;
                m->pending.valid = false;
                m->sequence_min = tc_journal_superblock(f->journal)->sequence;
            }
            if (crashed) {
                property_recover(f, m, &prng, seed, step);
            } else {
                assert_int_equal(f->superblock_calls, 1);
            }
        } else if (action < 82) {
            // A bit flip on a synced sector (nothing is in flight here).
            assert_int_equal(mem_storage_pending(f->ms), 0);
            assert_int_equal(mem_storage_dirty_count(f->ms), 0);
            uint64_t target = tc_prng_below(&prng, 4);
            if (target == 0 && m->head > 0) {
                uint64_t op = tc_prng_range(&prng, 1, m->head);
                mem_storage_flip_random_bit(f->ms, prepare_offset(f, op), f->headers[op].size);
            } else if (target == 1) {
                mem_storage_flip_random_bit(f->ms, f->layout.header_ring_offset,
                                            f->layout.header_ring_size);
            } else if (target == 2) {
                uint64_t slot = tc_prng_below(&prng, SLOTS);
                if (slot <= m->head) slot = m->head + 1 + tc_prng_below(&prng, SLOTS);
                if (slot < SLOTS) {
                    mem_storage_flip_random_bit(f->ms, prepare_offset(f, slot), TC_SECTOR_SIZE);
                }
            } else if (image_superblocks_agree(f)) {
                // At most one copy is corrupt at a time (recovery rewrites all of them).
                uint32_t copy = (uint32_t)tc_prng_below(&prng, TC_SUPERBLOCK_COPIES);
                mem_storage_flip_random_bit(f->ms, superblock_offset(f, copy),
                                            sizeof(struct tc_superblock));
            }
            m->flips++;
        } else {
            // Crash (nothing in flight: the image is durable) or a clean restart.
            if (tc_prng_below(&prng, 2) == 0) {
                mem_storage_crash(f->ms, MEM_STORAGE_CRASH_RANDOM);
                m->crashes++;
            }
            property_recover(f, m, &prng, seed, step);
        }
    }
    property_recover(f, m, &prng, seed, steps);
    if (getenv("TC_TEST_LOG") != NULL) {
        fprintf(stderr,
                "seed %llu: head %llu recoveries %u crashes %u flips %u superblocks %u corrupt %u "
                "dirty %u faulty %u\n",
                (unsigned long long)seed, (unsigned long long)m->head, m->recoveries, m->crashes,
                m->flips, m->superblock_writes, m->flipped_seen, m->dirty_seen, m->faulty_seen);
    }
    free(m);
    fx_destroy(f);
}

static void test_property(void **state) {
    (void)state;
    uint64_t seeds = 24;
    const char *env = getenv("TC_TEST_SEEDS");
    if (env != NULL) seeds = strtoull(env, NULL, 10);
    for (uint64_t seed = 1; seed <= seeds; seed++) property_run(seed, 160);
}

// ---------------------------------------------------------------------------------------------
// Checkpoints and wrap-around (docs/vsr.md §11).

static uint8_t checkpoint_byte(uint8_t pattern, uint64_t i) { return (uint8_t)(pattern + i * 7u); }

// Writes a checkpoint of `size` pattern bytes as the state after op `op`; runs the io.
static void fx_checkpoint(struct fx *f, uint64_t op, uint64_t size, uint8_t pattern) {
    uint8_t *buffer = tc_journal_checkpoint_buffer(f->journal);
    for (uint64_t i = 0; i < size; i++) buffer[i] = checkpoint_byte(pattern, i);
    uint32_t before = f->checkpoint_calls;
    tc_journal_write_checkpoint(f->journal, &f->headers[op], size);
    assert_true(tc_journal_checkpoint_busy(f->journal));
    assert_int_equal(f->checkpoint_calls, before); // never inside the submit
    mem_storage_run(f->ms);
    assert_int_equal(f->checkpoint_calls, before + 1);
    assert_int_equal(f->checkpoint_result, TC_OK);
    assert_int_equal(f->checkpoint_op, op);
    assert_false(tc_journal_checkpoint_busy(f->journal));
    assert_int_equal(tc_journal_checkpoint_op(f->journal), op);
}

static void assert_checkpoint(struct fx *f, uint64_t op, uint64_t size, uint8_t pattern) {
    assert_int_equal(tc_journal_checkpoint_op(f->journal), op);
    uint64_t got = 0;
    const uint8_t *bytes = tc_journal_checkpoint_recovered(f->journal, &got);
    assert_int_equal(got, size);
    for (uint64_t i = 0; i < size; i++) {
        if (bytes[i] != checkpoint_byte(pattern, i)) fail_msg("checkpoint byte %llu", (unsigned long long)i);
    }
}

static void test_checkpoint_wrap_recover(void **state) {
    (void)state;
    struct fx *f = fx_create(41);
    fx_open_ok(f);
    assert_checkpoint(f, 0, 0, 0); // the initial state: no bytes
    fx_write_ops(f, 1, 40, 0);
    fx_checkpoint(f, 32, 5000, 1);
    // The ring now holds [32, 32 + SLOTS): ops 64..95 overwrite the slots of ops 0..31.
    fx_write_ops(f, 41, 32 + SLOTS - 1, 0);
    for (uint64_t op = 0; op < 32; op++) assert_null(tc_journal_header(f->journal, op));
    fx_open_ok(f);
    assert_checkpoint(f, 32, 5000, 1);
    for (uint64_t op = 32; op < 32 + SLOTS; op++) assert_slot(f, op, TC_SLOT_CLEAN, &f->headers[op]);
    assert_int_equal(tc_journal_recovered_op_max(f->journal), 32 + SLOTS - 1);
    assert_int_equal(tc_journal_faulty_count(f->journal), 0);
    // The next checkpoint goes to the other area, and a third one back to the first.
    fx_checkpoint(f, 64, 7000, 2);
    fx_write_ops(f, 32 + SLOTS, 64 + SLOTS - 1, 0);
    fx_open_ok(f);
    assert_checkpoint(f, 64, 7000, 2);
    for (uint64_t op = 64; op < 64 + SLOTS; op++) assert_slot(f, op, TC_SLOT_CLEAN, &f->headers[op]);
    fx_checkpoint(f, 96, 100, 3);
    fx_open_ok(f);
    assert_checkpoint(f, 96, 100, 3);
    // Ops below the checkpoint are not part of the recovered log (only the checkpoint op anchors it).
    assert_null(tc_journal_header(f->journal, 95));
    assert_slot(f, 96, TC_SLOT_CLEAN, &f->headers[96]);
    fx_destroy(f);
}

// A crash at every step of a checkpoint write recovers the old checkpoint or the new one, intact.
static void test_checkpoint_crash_every_step(void **state) {
    (void)state;
    for (uint32_t steps = 0; steps < 12; steps++) {
        for (uint32_t mode = MEM_STORAGE_CRASH_KEEP; mode <= MEM_STORAGE_CRASH_RANDOM; mode++) {
            struct fx *f = fx_create(100 + steps * 4 + mode);
            fx_open_ok(f);
            fx_write_ops(f, 1, 50, 0);
            fx_checkpoint(f, 32, 6000, 1);
            uint8_t *buffer = tc_journal_checkpoint_buffer(f->journal);
            for (uint64_t i = 0; i < 9000; i++) buffer[i] = checkpoint_byte(2, i);
            tc_journal_write_checkpoint(f->journal, &f->headers[48], 9000);
            for (uint32_t i = 0; i < steps; i++) {
                if (!mem_storage_run_one(f->ms)) break;
            }
            bool done = f->checkpoint_calls == 2;
            mem_storage_crash(f->ms, (enum mem_storage_crash_mode)mode);
            fx_open_ok(f);
            uint64_t op = tc_journal_checkpoint_op(f->journal);
            if (done) assert_int_equal(op, 48); // acknowledged: never lost
            if (op == 48) {
                assert_checkpoint(f, 48, 9000, 2);
            } else {
                assert_checkpoint(f, 32, 6000, 1);
            }
            assert_slot(f, op, TC_SLOT_CLEAN, &f->headers[op]);
            fx_destroy(f);
        }
    }
}

// A checkpoint whose bytes no longer match the superblock's id: the replica must not start.
static void test_checkpoint_corrupt_refuses(void **state) {
    (void)state;
    struct fx *f = fx_create(43);
    fx_open_ok(f);
    fx_write_ops(f, 1, 33, 0);
    fx_checkpoint(f, 32, 5000, 1);
    const struct tc_superblock *sb = tc_journal_superblock(f->journal);
    uint64_t area = f->layout.checkpoint_area_offset + sb->checkpoint_area * f->layout.checkpoint_area_size;
    mem_storage_flip_bit(f->ms, area + 4321, 3);
    assert_int_equal(fx_open(f), TC_ECORRUPT);
    assert_non_null(tc_journal_recover_error(f->journal));
    fx_destroy(f);
}

// After a wrap, a lost write of op x leaves op x - SLOTS in its slot: never acknowledged, EMPTY.
static void test_wrap_lost_write(void **state) {
    (void)state;
    struct fx *f = fx_create(44);
    fx_open_ok(f);
    fx_write_ops(f, 1, SLOTS - 1, 0);
    fx_checkpoint(f, 32, 64, 1);
    fx_write_ops(f, SLOTS, SLOTS + 5, 0);
    fx_submit(f, SLOTS + 6, 0, 100, 7);
    mem_storage_run_one(f->ms); // the prepare write lands, unsynced
    mem_storage_crash(f->ms, MEM_STORAGE_CRASH_LOSE);
    fx_open_ok(f);
    assert_slot(f, SLOTS + 6, TC_SLOT_EMPTY, NULL);
    assert_slot(f, SLOTS + 5, TC_SLOT_CLEAN, &f->headers[SLOTS + 5]);
    assert_int_equal(tc_journal_recovered_op_max(f->journal), SLOTS + 5);
    assert_false(tc_journal_recovered_faulty_above(f->journal, SLOTS + 5));
    fx_destroy(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_recover_fresh),
        cmocka_unit_test(test_recover_identity_mismatch),
        cmocka_unit_test(test_write_recover_clean),
        cmocka_unit_test(test_write_busy_and_concurrent),
        cmocka_unit_test(test_write_header_replaced_in_flight),
        cmocka_unit_test(test_classify_prepare_corrupt_redundant_valid),
        cmocka_unit_test(test_classify_torn_or_lost_unacknowledged),
        cmocka_unit_test(test_classify_faulty),
        cmocka_unit_test(test_classify_misdirected),
        cmocka_unit_test(test_view_filtering),
        cmocka_unit_test(test_epoch_persisted_keeps_ops_below_its_op),
        cmocka_unit_test(test_superblock_sequence),
        cmocka_unit_test(test_superblock_write_order),
        cmocka_unit_test(test_superblock_corrupt_copies),
        cmocka_unit_test(test_superblock_read_errors),
        cmocka_unit_test(test_superblock_torn_writes),
        cmocka_unit_test(test_superblock_coalesced),
        cmocka_unit_test(test_read_prepare),
        cmocka_unit_test(test_read_slots_busy),
        cmocka_unit_test(test_crash_durability),
        cmocka_unit_test(test_property),
        cmocka_unit_test(test_checkpoint_wrap_recover),
        cmocka_unit_test(test_checkpoint_crash_every_step),
        cmocka_unit_test(test_checkpoint_corrupt_refuses),
        cmocka_unit_test(test_wrap_lost_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
