// Unit tests for the simulated storage (sim/sim_storage.c) and the fault atlas (sim/sim_atlas.c).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim_atlas.h"
#include "sim_storage.h"
#include "tc_err.h"

#define SECTORS 64u
#define SIZE (SECTORS * SIM_SECTOR_SIZE)

struct probe {
    struct tc_io_storage_op op;
    uint32_t completions;
    int result;
    bool *submitting; // set while the submitting call runs
    bool fired_inside_submit;
};

static void probe_callback(struct tc_io_storage_op *op, int result) {
    struct probe *probe = op->context;
    probe->completions += 1;
    probe->result = result;
    if (probe->submitting != NULL && *probe->submitting) probe->fired_inside_submit = true;
}

static void probe_init(struct probe *probe, uint64_t offset, uint8_t *buffer, uint32_t size) {
    memset(probe, 0, sizeof(*probe));
    probe->op.callback = probe_callback;
    probe->op.context = probe;
    probe->op.offset_bytes = offset;
    probe->op.buffer = buffer;
    probe->op.size_bytes = size;
}

static struct sim_storage_options options_default(void) {
    struct sim_storage_options options;
    memset(&options, 0, sizeof(options));
    options.size_bytes = SIZE;
    options.seed = 7;
    options.ops_max = 64;
    options.latency_min_ticks = 0;
    options.latency_max_ticks = 3;
    options.slow_ppm = 500000;
    options.sync_latency_max_ticks = 2;
    options.crash_keep_ppm = 0;
    options.crash_torn_ppm = 0; // every dirty sector is lost unless a test says otherwise
    return options;
}

static uint64_t now;

static void run_until_idle(struct sim_storage *storage) {
    for (uint32_t i = 0; i < 100 && storage->pending_count > 0; i++) sim_storage_step(storage, ++now);
    assert_int_equal(storage->pending_count, 0);
}

static void write_sync(struct sim_storage *storage, uint64_t offset, uint8_t *data, uint32_t size,
                       bool sync) {
    struct probe write;
    probe_init(&write, offset, data, size);
    sim_storage_submit(storage, TC_IO_STORAGE_WRITE, &write.op);
    run_until_idle(storage);
    assert_int_equal(write.completions, 1);
    assert_int_equal(write.result, TC_OK);
    if (!sync) return;
    struct probe probe_sync;
    probe_init(&probe_sync, 0, NULL, 0);
    sim_storage_submit(storage, TC_IO_STORAGE_SYNC, &probe_sync.op);
    run_until_idle(storage);
    assert_int_equal(probe_sync.completions, 1);
}

static void test_callbacks_never_inside_submit(void **state) {
    (void)state;
    struct sim_storage storage;
    struct sim_storage_options options = options_default();
    options.latency_max_ticks = 0; // even at zero latency
    options.sync_latency_max_ticks = 0;
    assert_int_equal(sim_storage_init(&storage, &options), TC_OK);
    static uint8_t buffer[SIM_SECTOR_SIZE];
    bool submitting = false;
    struct probe probes[3];
    enum tc_io_storage_kind kinds[3] = {TC_IO_STORAGE_WRITE, TC_IO_STORAGE_READ,
                                         TC_IO_STORAGE_SYNC};
    for (uint32_t i = 0; i < 3; i++) {
        probe_init(&probes[i], 0, buffer, SIM_SECTOR_SIZE);
        probes[i].submitting = &submitting;
        submitting = true;
        sim_storage_submit(&storage, kinds[i], &probes[i].op);
        submitting = false;
        assert_int_equal(probes[i].completions, 0);
    }
    assert_int_equal(sim_storage_step(&storage, 0), 3);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(probes[i].completions, 1);
        assert_false(probes[i].fired_inside_submit);
    }
    assert_int_equal(probes[0].op.kind, TC_IO_STORAGE_WRITE);
    sim_storage_deinit(&storage);
}

static void test_write_read_roundtrip(void **state) {
    (void)state;
    struct sim_storage storage;
    struct sim_storage_options options = options_default();
    assert_int_equal(sim_storage_init(&storage, &options), TC_OK);
    static uint8_t data[2 * SIM_SECTOR_SIZE];
    static uint8_t back[2 * SIM_SECTOR_SIZE];
    memset(data, 0x5a, sizeof(data));
    write_sync(&storage, 3 * SIM_SECTOR_SIZE, data, sizeof(data), false);
    struct probe read;
    probe_init(&read, 3 * SIM_SECTOR_SIZE, back, sizeof(back));
    sim_storage_submit(&storage, TC_IO_STORAGE_READ, &read.op);
    run_until_idle(&storage);
    assert_int_equal(read.result, TC_OK);
    assert_memory_equal(back, data, sizeof(data));
    sim_storage_deinit(&storage);
}

static void test_machine_crash_loses_unsynced(void **state) {
    (void)state;
    struct sim_storage storage;
    struct sim_storage_options options = options_default();
    assert_int_equal(sim_storage_init(&storage, &options), TC_OK);
    static uint8_t one[SIM_SECTOR_SIZE];
    static uint8_t two[SIM_SECTOR_SIZE];
    memset(one, 1, sizeof(one));
    memset(two, 2, sizeof(two));
    write_sync(&storage, 0, one, sizeof(one), true);                  // durable
    write_sync(&storage, 0, two, sizeof(two), false);                 // overwrite, unsynced
    write_sync(&storage, SIM_SECTOR_SIZE, two, sizeof(two), false);   // new, unsynced
    assert_true(sim_storage_sector_dirty(&storage, 0));
    assert_true(sim_storage_sector_dirty(&storage, 1));
    assert_int_equal(sim_storage_dirty_count(&storage), 2);
    sim_storage_crash_machine(&storage);
    assert_int_equal(sim_storage_dirty_count(&storage), 0);
    assert_memory_equal(storage.image, one, sizeof(one)); // back to the synced content
    for (uint32_t i = 0; i < SIM_SECTOR_SIZE; i++) assert_int_equal(storage.image[SIM_SECTOR_SIZE + i], 0);
    assert_int_equal(storage.stats.lost_sectors, 2);
    sim_storage_deinit(&storage);
}

static void test_sync_covers_only_writes_completed_before_it(void **state) {
    (void)state;
    struct sim_storage storage;
    struct sim_storage_options options = options_default();
    options.latency_min_ticks = 5;
    options.latency_max_ticks = 5;
    options.slow_ppm = 0;
    options.sync_latency_max_ticks = 0;
    assert_int_equal(sim_storage_init(&storage, &options), TC_OK);
    static uint8_t data[SIM_SECTOR_SIZE];
    memset(data, 9, sizeof(data));
    now = 0;
    struct probe write;
    probe_init(&write, 0, data, sizeof(data));
    sim_storage_submit(&storage, TC_IO_STORAGE_WRITE, &write.op);
    struct probe sync;
    probe_init(&sync, 0, NULL, 0);
    sim_storage_submit(&storage, TC_IO_STORAGE_SYNC, &sync.op); // before the write completes
    sim_storage_step(&storage, 0);
    assert_int_equal(sync.completions, 1);
    sim_storage_step(&storage, 5);
    assert_int_equal(write.completions, 1);
    assert_true(sim_storage_sector_dirty(&storage, 0)); // not covered by that sync
    sim_storage_crash_machine(&storage);
    assert_int_equal(storage.image[0], 0);
    sim_storage_deinit(&storage);
}

static void test_process_crash_keeps_unsynced(void **state) {
    (void)state;
    struct sim_storage storage;
    struct sim_storage_options options = options_default();
    assert_int_equal(sim_storage_init(&storage, &options), TC_OK);
    static uint8_t data[SIM_SECTOR_SIZE];
    memset(data, 3, sizeof(data));
    write_sync(&storage, 5 * SIM_SECTOR_SIZE, data, sizeof(data), false);
    // An in-flight read and sync vanish without callbacks.
    static uint8_t back[SIM_SECTOR_SIZE];
    struct probe read;
    probe_init(&read, 0, back, sizeof(back));
    sim_storage_submit(&storage, TC_IO_STORAGE_READ, &read.op);
    struct probe sync;
    probe_init(&sync, 0, NULL, 0);
    sim_storage_submit(&storage, TC_IO_STORAGE_SYNC, &sync.op);
    sim_storage_crash_process(&storage);
    assert_int_equal(storage.pending_count, 0);
    for (uint32_t i = 0; i < 10; i++) sim_storage_step(&storage, ++now);
    assert_int_equal(read.completions, 0);
    assert_int_equal(sync.completions, 0);
    assert_memory_equal(storage.image + 5 * SIM_SECTOR_SIZE, data, sizeof(data));
    // Still unsynced: a later machine crash may lose it.
    assert_true(sim_storage_sector_dirty(&storage, 5));
    sim_storage_crash_machine(&storage);
    assert_int_equal(storage.image[5 * SIM_SECTOR_SIZE], 0);
    sim_storage_deinit(&storage);
}

static void test_machine_crash_tears(void **state) {
    (void)state;
    struct sim_storage storage;
    struct sim_storage_options options = options_default();
    options.crash_torn_ppm = 1000000; // every dirty sector torn
    assert_int_equal(sim_storage_init(&storage, &options), TC_OK);
    static uint8_t old_data[SECTORS * SIM_SECTOR_SIZE];
    static uint8_t new_data[SECTORS * SIM_SECTOR_SIZE];
    memset(old_data, 0x11, sizeof(old_data));
    memset(new_data, 0x22, sizeof(new_data));
    write_sync(&storage, 0, old_data, sizeof(old_data), true);
    write_sync(&storage, 0, new_data, sizeof(new_data), false);
    sim_storage_crash_machine(&storage);
    assert_int_equal(storage.stats.torn_sectors, SECTORS);
    // Over 64 torn sectors, both old and new pieces (and maybe garbage) appear.
    uint32_t old_pieces = 0;
    uint32_t new_pieces = 0;
    for (uint32_t piece = 0; piece < SIZE; piece += SIM_TORN_PIECE_SIZE) {
        if (storage.image[piece] == 0x11) old_pieces++;
        if (storage.image[piece] == 0x22) new_pieces++;
    }
    assert_true(old_pieces > 0);
    assert_true(new_pieces > 0);
    sim_storage_deinit(&storage);
}

static void test_read_errors_until_rewritten(void **state) {
    (void)state;
    struct sim_storage storage;
    struct sim_storage_options options = options_default();
    options.read_error_ppm = 1000000;
    assert_int_equal(sim_storage_init(&storage, &options), TC_OK);
    static uint8_t buffer[SIM_SECTOR_SIZE];
    struct probe read;
    probe_init(&read, 2 * SIM_SECTOR_SIZE, buffer, sizeof(buffer));
    sim_storage_submit(&storage, TC_IO_STORAGE_READ, &read.op);
    run_until_idle(&storage);
    assert_int_equal(read.result, TC_EIO);
    storage.faults_enabled = false;
    probe_init(&read, 2 * SIM_SECTOR_SIZE, buffer, sizeof(buffer));
    sim_storage_submit(&storage, TC_IO_STORAGE_READ, &read.op);
    run_until_idle(&storage);
    assert_int_equal(read.result, TC_EIO); // latent: persists
    write_sync(&storage, 2 * SIM_SECTOR_SIZE, buffer, sizeof(buffer), true);
    probe_init(&read, 2 * SIM_SECTOR_SIZE, buffer, sizeof(buffer));
    sim_storage_submit(&storage, TC_IO_STORAGE_READ, &read.op);
    run_until_idle(&storage);
    assert_int_equal(read.result, TC_OK);
    sim_storage_deinit(&storage);
}

// A layout like the journal's: 4 superblock copies of one sector, 64 slots, prepare slots of
// 4 sectors (small for the test).
static struct sim_layout layout_test(void) {
    struct sim_layout layout;
    memset(&layout, 0, sizeof(layout));
    layout.superblock_offset = 0;
    layout.superblock_copy_size = SIM_SECTOR_SIZE;
    layout.superblock_copies = 4;
    layout.slot_count = 64;
    layout.headers_offset = 4 * SIM_SECTOR_SIZE;
    layout.prepares_offset = layout.headers_offset + 64 * 256;
    layout.prepare_slot_size = 4 * SIM_SECTOR_SIZE;
    layout.checkpoint_offset = layout.prepares_offset + 64 * layout.prepare_slot_size;
    layout.checkpoint_size = 2 * SIM_SECTOR_SIZE;
    layout.size = layout.checkpoint_offset + layout.checkpoint_size;
    assert_null(sim_layout_invalid(&layout));
    return layout;
}

static void test_atlas_rules(void **state) {
    (void)state;
    struct sim_layout layout = layout_test();
    struct sim_atlas atlas;
    assert_int_equal(sim_atlas_init(&atlas, &layout, 3), TC_OK);
    assert_int_equal(atlas.faulty_max, 1);
    uint64_t prepare7 = layout.prepares_offset + 7 * layout.prepare_slot_size;
    uint64_t header7 = layout.headers_offset + 7 * 256;
    // Slot 7's prepare on replica 0: allowed; again on replica 0: allowed (already faulted).
    assert_true(sim_atlas_fault(&atlas, 0, prepare7 + 10, 1));
    assert_true(sim_atlas_fault(&atlas, 0, prepare7 + 100, 1));
    // Slot 7 on another replica: denied (f = 1), either ring.
    assert_false(sim_atlas_fault(&atlas, 1, prepare7, 1));
    assert_false(sim_atlas_fault(&atlas, 2, header7, 1));
    // Slot 7's header on replica 0 too: denied (both rings of one slot).
    assert_false(sim_atlas_fault(&atlas, 0, header7, 1));
    // A header-ring sector read error covers 16 slots (0..15): slot 7 is faulted on replica 0.
    assert_false(sim_atlas_fault(&atlas, 1, layout.headers_offset, SIM_SECTOR_SIZE));
    assert_true(sim_atlas_fault(&atlas, 1, layout.headers_offset + SIM_SECTOR_SIZE, SIM_SECTOR_SIZE));
    assert_int_equal(sim_atlas_slot_faulty_count(&atlas, 20), 1);
    assert_int_equal(sim_atlas_slot_faulty_count(&atlas, 7), 1);
    // Superblock: one copy per replica.
    assert_true(sim_atlas_fault(&atlas, 2, SIM_SECTOR_SIZE, 16));
    assert_true(sim_atlas_fault(&atlas, 2, SIM_SECTOR_SIZE + 100, 1));
    assert_false(sim_atlas_fault(&atlas, 2, 0, 1));
    assert_true(sim_atlas_fault(&atlas, 0, 0, 1));
    assert_false(sim_atlas_fault(&atlas, 0, 0, 2 * SIM_SECTOR_SIZE)); // two copies at once
    sim_atlas_deinit(&atlas);

    // One replica: f = 0, no journal slot may ever be faulted.
    assert_int_equal(sim_atlas_init(&atlas, &layout, 1), TC_OK);
    assert_false(sim_atlas_fault(&atlas, 0, prepare7, 1));
    sim_atlas_deinit(&atlas);
}

// Storage faults through the atlas, three replicas hammering the same layout: every slot stays
// faulted on at most f replicas, never both rings on one replica, at most one superblock copy.
static void test_atlas_confines_storage_faults(void **state) {
    (void)state;
    struct sim_layout layout = layout_test();
    struct sim_atlas atlas;
    assert_int_equal(sim_atlas_init(&atlas, &layout, 3), TC_OK);
    struct sim_storage storages[3];
    static uint8_t buffer[SIM_SECTOR_SIZE];
    for (uint8_t r = 0; r < 3; r++) {
        struct sim_storage_options options = options_default();
        options.size_bytes = layout.size;
        options.seed = 100 + r;
        options.read_error_ppm = 500000;
        options.bit_flip_ppm = 500000;
        options.atlas = &atlas;
        options.replica = r;
        assert_int_equal(sim_storage_init(&storages[r], &options), TC_OK);
    }
    uint32_t sectors = (uint32_t)(layout.size / SIM_SECTOR_SIZE);
    for (uint32_t round = 0; round < 2000; round++) {
        for (uint8_t r = 0; r < 3; r++) {
            uint64_t offset = (uint64_t)((round * 7 + r * 13) % sectors) * SIM_SECTOR_SIZE;
            struct probe probe;
            probe_init(&probe, offset, buffer, SIM_SECTOR_SIZE);
            sim_storage_submit(&storages[r], round % 2 == 0 ? TC_IO_STORAGE_READ : TC_IO_STORAGE_WRITE,
                               &probe.op);
            run_until_idle(&storages[r]);
        }
    }
    uint64_t faults = 0;
    for (uint8_t r = 0; r < 3; r++) {
        faults += storages[r].stats.bit_flips + storages[r].stats.bad_sectors;
        assert_true(storages[r].stats.faults_denied > 0);
    }
    assert_true(faults > 0);
    for (uint32_t slot = 0; slot < layout.slot_count; slot++) {
        assert_true(sim_atlas_slot_faulty_count(&atlas, slot) <= 1);
        assert_int_equal(atlas.slot_header_faulted[slot] & atlas.slot_prepare_faulted[slot], 0);
    }
    for (uint8_t r = 0; r < 3; r++) sim_storage_deinit(&storages[r]);
    sim_atlas_deinit(&atlas);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_callbacks_never_inside_submit),
        cmocka_unit_test(test_write_read_roundtrip),
        cmocka_unit_test(test_machine_crash_loses_unsynced),
        cmocka_unit_test(test_sync_covers_only_writes_completed_before_it),
        cmocka_unit_test(test_process_crash_keeps_unsynced),
        cmocka_unit_test(test_machine_crash_tears),
        cmocka_unit_test(test_read_errors_until_rewritten),
        cmocka_unit_test(test_atlas_rules),
        cmocka_unit_test(test_atlas_confines_storage_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
