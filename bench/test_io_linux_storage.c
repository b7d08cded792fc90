// Unit tests for node/io_linux storage: real files in a temporary directory.
// Built from bench/CMakeLists.txt (it links tc_io_linux, which the core test library does not).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_linux.h"
#include "tc_assert.h"
#include "tc_err.h"

#define TEST_FILE_SIZE (1024u * 1024u)
#define TEST_BLOCK_SIZE 4096u
#define TEST_OPS_MAX 64u

struct test_fixture {
    char directory[256];
    char path[512];
    struct tc_io_linux_storage storage;
    struct tc_io_storage_op ops[TEST_OPS_MAX];
    int results[TEST_OPS_MAX];
    uint32_t completed[TEST_OPS_MAX]; // how many times each callback fired
    uint32_t completion_order[TEST_OPS_MAX];
    uint32_t completion_count;
    uint8_t buffers[TEST_OPS_MAX][TEST_BLOCK_SIZE];
    uint32_t format_writes;
};

static struct test_fixture fixture; // Large: keep off the stack.

static void test_op_callback(struct tc_io_storage_op *op, int result) {
    const uint32_t index = (uint32_t)(op - fixture.ops);
    assert_true(index < TEST_OPS_MAX);
    assert_ptr_equal(op->context, &fixture);
    fixture.results[index] = result;
    fixture.completed[index]++;
    assert_true(fixture.completion_count < TEST_OPS_MAX);
    fixture.completion_order[fixture.completion_count] = index;
    fixture.completion_count++;
}

// Format: a recognisable pattern in the first block only (the rest stays zero).
static void test_format(void *format_context, tc_io_linux_format_write_fn write,
                        void *write_context) {
    assert_ptr_equal(format_context, &fixture);
    uint8_t block[TEST_BLOCK_SIZE];
    memset(block, 0xA5, sizeof(block));
    write(write_context, 0, block, sizeof(block));
    fixture.format_writes++;
}

static struct tc_io_linux_storage_options test_options(bool create, uint32_t threads) {
    return (struct tc_io_linux_storage_options){
        .path = fixture.path,
        .size_bytes = TEST_FILE_SIZE,
        .create_if_missing = create,
        .threads_count = threads,
        .format = test_format,
        .format_context = &fixture,
    };
}

static int setup(void **state) {
    (void)state;
    memset(&fixture, 0, sizeof(fixture));
    (void)snprintf(fixture.directory, sizeof(fixture.directory), "/tmp/tc_io_linux_XXXXXX");
    assert_non_null(mkdtemp(fixture.directory));
    (void)snprintf(fixture.path, sizeof(fixture.path), "%s/replica.data", fixture.directory);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    (void)unlink(fixture.path);
    assert_int_equal(rmdir(fixture.directory), 0);
    return 0;
}

static void test_op_prepare(uint32_t index, uint64_t offset, uint32_t size) {
    assert_true(index < TEST_OPS_MAX);
    assert_true(size <= TEST_BLOCK_SIZE);
    fixture.ops[index] = (struct tc_io_storage_op){
        .callback = test_op_callback,
        .context = &fixture,
        .offset_bytes = offset,
        .buffer = fixture.buffers[index],
        .size_bytes = size,
    };
    fixture.completed[index] = 0;
    fixture.results[index] = 1; // Not a valid result: proves the callback wrote it.
}

// Waits on the eventfd (bounded) and polls until `count` callbacks fired in total.
static void test_wait_completions(uint32_t count) {
    const int event_fd = tc_io_linux_storage_event_fd(&fixture.storage);
    for (uint32_t attempt = 0; attempt < 10000u && fixture.completion_count < count; attempt++) {
        struct pollfd descriptor = {.fd = event_fd, .events = POLLIN};
        const int ready = poll(&descriptor, 1, 100);
        assert_true(ready >= 0);
        (void)tc_io_linux_storage_poll(&fixture.storage);
    }
    assert_int_equal(fixture.completion_count, count);
    assert_int_equal(tc_io_linux_storage_inflight(&fixture.storage), 0);
}

static void test_open(bool create, uint32_t threads) {
    const struct tc_io_linux_storage_options options = test_options(create, threads);
    const int result = tc_io_linux_storage_open(&fixture.storage, &options);
    if (result != 0) fprintf(stderr, "open: %s\n", fixture.storage.error);
    assert_int_equal(result, 0);
}

static void test_create_formats_and_sizes(void **state) {
    (void)state;
    test_open(true, 2);
    assert_int_equal(fixture.format_writes, 1);
    struct stat status;
    assert_int_equal(stat(fixture.path, &status), 0);
    assert_int_equal((uint64_t)status.st_size, TEST_FILE_SIZE);
    char temporary[600];
    (void)snprintf(temporary, sizeof(temporary), "%s.tmp", fixture.path);
    assert_int_equal(access(temporary, F_OK), -1); // The temporary was renamed into place.
    test_op_prepare(0, 0, TEST_BLOCK_SIZE);
    test_op_prepare(1, TEST_FILE_SIZE - TEST_BLOCK_SIZE, TEST_BLOCK_SIZE);
    tc_io_linux_storage_read(&fixture.storage, &fixture.ops[0]);
    tc_io_linux_storage_read(&fixture.storage, &fixture.ops[1]);
    test_wait_completions(2);
    for (uint32_t i = 0; i < TEST_BLOCK_SIZE; i++) {
        assert_int_equal(fixture.buffers[0][i], 0xA5);
        assert_int_equal(fixture.buffers[1][i], 0);
    }
    tc_io_linux_storage_close(&fixture.storage);
}

static void test_write_read_round_trip(void **state) {
    (void)state;
    test_open(true, 4);
    const uint32_t blocks = 16;
    for (uint32_t i = 0; i < blocks; i++) {
        // Unaligned offsets and odd sizes: buffered I/O has no alignment requirement.
        test_op_prepare(i, 7u + (uint64_t)i * 5000u, 1000u + i);
        memset(fixture.buffers[i], (int)(i + 1u), TEST_BLOCK_SIZE);
        tc_io_linux_storage_write(&fixture.storage, &fixture.ops[i]);
    }
    test_op_prepare(blocks, 0, 0);
    tc_io_linux_storage_sync(&fixture.storage, &fixture.ops[blocks]);
    test_wait_completions(blocks + 1u);
    for (uint32_t i = 0; i <= blocks; i++) {
        assert_int_equal(fixture.completed[i], 1);
        assert_int_equal(fixture.results[i], 0);
    }
    // The sync covers every earlier write: it completes after all of them.
    assert_int_equal(fixture.completion_order[blocks], blocks);
    for (uint32_t i = 0; i < blocks; i++) {
        const uint32_t r = blocks + 1u + i;
        test_op_prepare(r, 7u + (uint64_t)i * 5000u, 1000u + i);
        memset(fixture.buffers[r], 0, TEST_BLOCK_SIZE);
        tc_io_linux_storage_read(&fixture.storage, &fixture.ops[r]);
    }
    test_wait_completions(2u * blocks + 1u);
    for (uint32_t i = 0; i < blocks; i++) {
        const uint32_t r = blocks + 1u + i;
        assert_int_equal(fixture.results[r], 0);
        assert_memory_equal(fixture.buffers[r], fixture.buffers[i], 1000u + i);
    }
    struct tc_io_linux_storage_stats stats;
    tc_io_linux_storage_stats_get(&fixture.storage, &stats);
    assert_int_equal(stats.writes, blocks);
    assert_int_equal(stats.syncs, 1);
    assert_int_equal(stats.reads, blocks);
    assert_int_equal(stats.errors, 0);
    tc_io_linux_storage_close(&fixture.storage);
}

// writeback_early (checkpoint and store files): every write goes to a worker (none inline on the
// caller's thread, where starting writeback could wait for the device), reads back as written and
// is covered by a later sync; without it, small writes that conflict with nothing go inline.
static void test_writeback_early(void **state) {
    (void)state;
    for (uint32_t early = 0; early < 2; early++) {
        struct tc_io_linux_storage_options options = test_options(early == 0, 2);
        options.writeback_early = early == 1;
        assert_int_equal(tc_io_linux_storage_open(&fixture.storage, &options), 0);
        fixture.completion_count = 0;
        const uint32_t blocks = 8;
        for (uint32_t i = 0; i < blocks; i++) {
            test_op_prepare(i, (uint64_t)i * TEST_BLOCK_SIZE * 3u, TEST_BLOCK_SIZE);
            memset(fixture.buffers[i], (int)(0x40u + early * 16u + i), TEST_BLOCK_SIZE);
            tc_io_linux_storage_write(&fixture.storage, &fixture.ops[i]);
        }
        test_op_prepare(blocks, 0, 0);
        tc_io_linux_storage_sync(&fixture.storage, &fixture.ops[blocks]);
        test_wait_completions(blocks + 1u);
        assert_int_equal(fixture.completion_order[blocks], blocks);
        for (uint32_t i = 0; i < blocks; i++) {
            const uint32_t r = blocks + 1u + i;
            test_op_prepare(r, (uint64_t)i * TEST_BLOCK_SIZE * 3u, TEST_BLOCK_SIZE);
            tc_io_linux_storage_read(&fixture.storage, &fixture.ops[r]);
        }
        test_wait_completions(2u * blocks + 1u);
        for (uint32_t i = 0; i <= 2u * blocks; i++) assert_int_equal(fixture.results[i], 0);
        for (uint32_t i = 0; i < blocks; i++) {
            assert_memory_equal(fixture.buffers[blocks + 1u + i], fixture.buffers[i], TEST_BLOCK_SIZE);
        }
        struct tc_io_linux_storage_stats stats;
        tc_io_linux_storage_stats_get(&fixture.storage, &stats);
        assert_int_equal(stats.writes, blocks);
        if (early == 1) {
            assert_int_equal(stats.writes_inline, 0);
        } else {
            assert_true(stats.writes_inline > 0);
        }
        tc_io_linux_storage_close(&fixture.storage);
    }
}

// Group commit: syncs waiting behind the same writes complete with one fdatasync; a sync never
// completes before a write submitted before it.
static void test_syncs_coalesce(void **state) {
    (void)state;
    test_open(true, 1);
    uint64_t coalesced = 0;
    const uint32_t syncs = 8;
    for (uint32_t round = 0; round < 20; round++) {
        fixture.completion_count = 0;
        test_op_prepare(0, (uint64_t)round * TEST_BLOCK_SIZE, TEST_BLOCK_SIZE);
        memset(fixture.buffers[0], (int)round, TEST_BLOCK_SIZE);
        tc_io_linux_storage_write(&fixture.storage, &fixture.ops[0]);
        for (uint32_t i = 1; i <= syncs; i++) {
            test_op_prepare(i, 0, 0);
            tc_io_linux_storage_sync(&fixture.storage, &fixture.ops[i]);
        }
        // A write and a sync after the batch: that sync waits for its own write.
        test_op_prepare(syncs + 1, (uint64_t)(round + 1) * TEST_BLOCK_SIZE, TEST_BLOCK_SIZE);
        tc_io_linux_storage_write(&fixture.storage, &fixture.ops[syncs + 1]);
        test_op_prepare(syncs + 2, 0, 0);
        tc_io_linux_storage_sync(&fixture.storage, &fixture.ops[syncs + 2]);
        test_wait_completions(syncs + 3);
        assert_int_equal(fixture.completion_order[0], 0); // the first write before any sync
        uint32_t position[TEST_OPS_MAX];
        for (uint32_t i = 0; i < syncs + 3; i++) position[fixture.completion_order[i]] = i;
        assert_true(position[syncs + 2] > position[syncs + 1]);
        for (uint32_t i = 0; i <= syncs + 2; i++) {
            assert_int_equal(fixture.completed[i], 1);
            assert_int_equal(fixture.results[i], 0);
        }
    }
    struct tc_io_linux_storage_stats stats;
    tc_io_linux_storage_stats_get(&fixture.storage, &stats);
    coalesced = stats.syncs_coalesced;
    assert_int_equal(stats.syncs + stats.syncs_coalesced, 20u * (syncs + 1u));
    assert_true(coalesced > 0); // the 8 syncs behind one write share fdatasyncs
    tc_io_linux_storage_close(&fixture.storage);
}

static void test_completion_never_inside_submit(void **state) {
    (void)state;
    test_open(true, 2);
    for (uint32_t i = 0; i < 8u; i++) {
        test_op_prepare(i, (uint64_t)i * TEST_BLOCK_SIZE, TEST_BLOCK_SIZE);
        tc_io_linux_storage_write(&fixture.storage, &fixture.ops[i]);
        usleep(2000); // Give the workers time to finish: still nothing may be delivered.
        assert_int_equal(fixture.completion_count, 0);
        assert_int_equal(fixture.completed[i], 0);
    }
    test_op_prepare(8, 0, 0);
    tc_io_linux_storage_sync(&fixture.storage, &fixture.ops[8]);
    usleep(20000);
    assert_int_equal(fixture.completion_count, 0);
    // The eventfd is readable: completions are waiting for poll().
    struct pollfd descriptor = {.fd = tc_io_linux_storage_event_fd(&fixture.storage),
                                .events = POLLIN};
    assert_int_equal(poll(&descriptor, 1, 1000), 1);
    test_wait_completions(9);
    for (uint32_t i = 0; i < 9u; i++) assert_int_equal(fixture.completed[i], 1);
    tc_io_linux_storage_close(&fixture.storage);
}

// Writes to the same range execute in submission order, and a read after them sees the last one.
static void test_overlapping_writes_keep_order(void **state) {
    (void)state;
    test_open(true, TC_IO_LINUX_STORAGE_THREADS_MAX);
    const uint32_t writes = 40;
    for (uint32_t i = 0; i < writes; i++) {
        // Alternate two overlapping shapes so that ranges partially overlap.
        const uint64_t offset = (i % 2u == 0) ? 0u : 512u;
        test_op_prepare(i, offset, TEST_BLOCK_SIZE);
        memset(fixture.buffers[i], (int)(i + 1u), TEST_BLOCK_SIZE);
        tc_io_linux_storage_write(&fixture.storage, &fixture.ops[i]);
    }
    test_op_prepare(writes, 0, TEST_BLOCK_SIZE);
    tc_io_linux_storage_read(&fixture.storage, &fixture.ops[writes]);
    test_wait_completions(writes + 1u);
    for (uint32_t i = 0; i < writes; i++) {
        assert_int_equal(fixture.completion_order[i], i); // Each waited for the previous one.
    }
    // Bytes [0, 512) were last written by write 38, [512, 4096) by write 39.
    assert_int_equal(fixture.buffers[writes][0], writes - 1u);
    assert_int_equal(fixture.buffers[writes][511], writes - 1u);
    assert_int_equal(fixture.buffers[writes][512], writes);
    assert_int_equal(fixture.buffers[writes][TEST_BLOCK_SIZE - 1u], writes);
    tc_io_linux_storage_close(&fixture.storage);
}

static void test_reopen_keeps_data(void **state) {
    (void)state;
    test_open(true, 2);
    test_op_prepare(0, 123456u, 3000u);
    for (uint32_t i = 0; i < 3000u; i++) fixture.buffers[0][i] = (uint8_t)(i * 7u);
    tc_io_linux_storage_write(&fixture.storage, &fixture.ops[0]);
    test_op_prepare(1, 0, 0);
    tc_io_linux_storage_sync(&fixture.storage, &fixture.ops[1]);
    test_wait_completions(2);
    tc_io_linux_storage_close(&fixture.storage);

    test_open(false, 1); // Existing file: not formatted again.
    assert_int_equal(fixture.format_writes, 1);
    test_op_prepare(2, 123456u, 3000u);
    tc_io_linux_storage_read(&fixture.storage, &fixture.ops[2]);
    test_op_prepare(3, 0, 16u);
    tc_io_linux_storage_read(&fixture.storage, &fixture.ops[3]);
    test_wait_completions(4);
    assert_memory_equal(fixture.buffers[2], fixture.buffers[0], 3000u);
    assert_int_equal(fixture.buffers[3][0], 0xA5); // The format survived too.
    tc_io_linux_storage_close(&fixture.storage);
}

static void test_open_errors(void **state) {
    (void)state;
    struct tc_io_linux_storage_options options = test_options(false, 1);
    // Missing file without create.
    assert_int_equal(tc_io_linux_storage_open(&fixture.storage, &options), TC_ENOENT);
    assert_non_null(strstr(fixture.storage.error, fixture.path));
    assert_non_null(strstr(fixture.storage.error, "No such file or directory"));
    // Missing directory with create.
    options.path = "/nonexistent-tigerchat-dir/replica.data";
    options.create_if_missing = true;
    assert_int_equal(tc_io_linux_storage_open(&fixture.storage, &options), TC_ENOENT);
    assert_non_null(strstr(fixture.storage.error, "/nonexistent-tigerchat-dir/replica.data"));
    // A directory is not a data file.
    options.path = fixture.directory;
    options.create_if_missing = false;
    assert_int_not_equal(tc_io_linux_storage_open(&fixture.storage, &options), 0);
    assert_non_null(strstr(fixture.storage.error, fixture.directory));
    // Wrong size: a file from another configuration is refused, not truncated.
    test_open(true, 1);
    tc_io_linux_storage_close(&fixture.storage);
    options = test_options(false, 1);
    options.size_bytes = TEST_FILE_SIZE * 2u;
    assert_int_equal(tc_io_linux_storage_open(&fixture.storage, &options), TC_EINVAL);
    assert_non_null(strstr(fixture.storage.error, "expected"));
}

static void test_second_opener_is_refused(void **state) {
    (void)state;
    test_open(true, 1);
    static struct tc_io_linux_storage second;
    const struct tc_io_linux_storage_options options = test_options(false, 1);
    assert_int_equal(tc_io_linux_storage_open(&second, &options), TC_EBUSY);
    assert_non_null(strstr(second.error, "already in use"));
    tc_io_linux_storage_close(&fixture.storage);
}

// A failed write is reported as TC_EIO, and the storage stays failed: later writes and syncs fail
// without touching the disk (a failed fdatasync must never be retried into a false "durable").
static void test_write_error_is_sticky(void **state) {
    (void)state;
    test_open(true, 2);
    // Swap the data file descriptor for a read-only one: pwrite now fails with EBADF.
    const int read_only = open(fixture.path, O_RDONLY | O_CLOEXEC);
    assert_true(read_only >= 0);
    assert_int_equal(dup2(read_only, fixture.storage.fd), fixture.storage.fd);
    (void)close(read_only);
    test_op_prepare(0, 0, TEST_BLOCK_SIZE);
    tc_io_linux_storage_write(&fixture.storage, &fixture.ops[0]);
    test_wait_completions(1);
    assert_int_equal(fixture.results[0], TC_EIO);
    test_op_prepare(1, 0, 0);
    tc_io_linux_storage_sync(&fixture.storage, &fixture.ops[1]);
    test_op_prepare(2, TEST_BLOCK_SIZE, TEST_BLOCK_SIZE);
    tc_io_linux_storage_write(&fixture.storage, &fixture.ops[2]);
    test_op_prepare(3, 0, 16u);
    tc_io_linux_storage_read(&fixture.storage, &fixture.ops[3]);
    test_wait_completions(4);
    assert_int_equal(fixture.results[1], TC_EIO);
    assert_int_equal(fixture.results[2], TC_EIO);
    assert_int_equal(fixture.results[3], 0); // Reads still work.
    assert_int_equal(fixture.buffers[3][0], 0xA5);
    struct tc_io_linux_storage_stats stats;
    tc_io_linux_storage_stats_get(&fixture.storage, &stats);
    assert_int_equal(stats.errors, 3);
    tc_io_linux_storage_close(&fixture.storage);
}

static void test_clocks(void **state) {
    (void)state;
    const uint64_t a = tc_io_linux_monotonic_ns();
    const uint64_t b = tc_io_linux_monotonic_ns();
    assert_true(b >= a);
    const uint64_t wall = tc_io_linux_realtime_ns();
    assert_true(wall > 1600000000ull * 1000000000ull); // After 2020.
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_formats_and_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_read_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syncs_coalesce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writeback_early, setup, teardown),
        cmocka_unit_test_setup_teardown(test_completion_never_inside_submit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlapping_writes_keep_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_opener_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_error_is_sticky, setup, teardown),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
