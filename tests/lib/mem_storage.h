#ifndef TC_TEST_MEM_STORAGE_H
#define TC_TEST_MEM_STORAGE_H

// A small in-memory struct tc_io for unit tests (journal, replica pieces). Deterministic and
// test-driven: nothing happens until the test calls mem_storage_run / mem_storage_run_one.
//
// Semantics:
//  - Storage operations are queued FIFO and complete only inside mem_storage_run*(), never inside
//    the submitting call. A write lands in the image when it completes.
//  - Per 4096-byte sector, the storage remembers whether it was written since the last completed
//    sync ("dirty") and its content at that sync (the shadow). A completed sync makes every
//    completed write durable (clears all dirty marks).
//  - mem_storage_crash drops every queued operation without callbacks, then treats each dirty
//    sector according to the crash mode (keep, lose = restore the shadow, tear = seeded garbage,
//    random = a seeded choice among keep/lose/tear/mixed 512-byte pieces). Afterwards nothing is
//    dirty: what is in the image is what is on disk.
//  - Reads overlapping an injected read-error range complete with TC_EIO (buffer untouched).
//  - send_to_replica / send_to_client only count; realtime_ns returns a settable value; log prints
//    to stderr only when the environment variable TC_TEST_LOG is set.
// Test-only code: allocates with calloc at creation.

#include <stdbool.h>
#include <stdint.h>

#include "io.h"
#include "journal.h"
#include "tc_prng.h"

#define MEM_STORAGE_SECTOR_SIZE 4096u
#define MEM_STORAGE_READ_ERRORS_MAX 8u

enum mem_storage_crash_mode {
    MEM_STORAGE_CRASH_KEEP = 0,   // unsynced sectors keep their newest content
    MEM_STORAGE_CRASH_LOSE = 1,   // unsynced sectors revert to their content at the last sync
    MEM_STORAGE_CRASH_TEAR = 2,   // unsynced sectors become seeded garbage
    MEM_STORAGE_CRASH_RANDOM = 3, // per sector: keep, lose, tear, or a mix of old/new 512 B pieces
};

struct mem_storage_stats {
    uint64_t reads;
    uint64_t writes;
    uint64_t syncs;
    uint64_t read_errors;
    uint64_t sends_to_replica;
    uint64_t sends_to_client;
    uint64_t logs;
    uint64_t crashes;
};

struct mem_storage;

struct mem_storage *mem_storage_create(uint64_t size_bytes, uint64_t seed);
void mem_storage_destroy(struct mem_storage *ms);

struct tc_io *mem_storage_io(struct mem_storage *ms);
uint8_t *mem_storage_image(struct mem_storage *ms);
uint64_t mem_storage_size(const struct mem_storage *ms);
struct tc_prng *mem_storage_prng(struct mem_storage *ms);
const struct mem_storage_stats *mem_storage_stats(const struct mem_storage *ms);

// Queue.
uint32_t mem_storage_pending(const struct mem_storage *ms);
// Completes the oldest queued operation (its callback may queue more). False if the queue is empty.
bool mem_storage_run_one(struct mem_storage *ms);
// Completes operations until the queue is empty; returns how many completed.
uint32_t mem_storage_run(struct mem_storage *ms);
// The kind (enum tc_io_storage_kind) of the oldest queued operation, 0 if none.
uint8_t mem_storage_next_kind(const struct mem_storage *ms);

// Durability.
uint32_t mem_storage_sector_count(const struct mem_storage *ms);
bool mem_storage_sector_dirty(const struct mem_storage *ms, uint32_t sector);
uint32_t mem_storage_dirty_count(const struct mem_storage *ms);
// Drops queued operations (no callbacks) and resolves dirty sectors. Returns dirty sectors changed.
uint32_t mem_storage_crash(struct mem_storage *ms, enum mem_storage_crash_mode mode);

// Faults.
void mem_storage_flip_bit(struct mem_storage *ms, uint64_t offset, uint32_t bit);
// Flips one seeded random bit in [offset, offset + size); returns the byte offset flipped.
uint64_t mem_storage_flip_random_bit(struct mem_storage *ms, uint64_t offset, uint64_t size);
void mem_storage_fill_garbage(struct mem_storage *ms, uint64_t offset, uint64_t size);
void mem_storage_inject_read_error(struct mem_storage *ms, uint64_t offset, uint64_t size);
void mem_storage_clear_read_errors(struct mem_storage *ms);

// Writes a fresh journal image (tc_journal_format) directly into the image: durable, nothing dirty.
void mem_storage_format(struct mem_storage *ms, const struct tc_journal_options *options);

void mem_storage_set_realtime(struct mem_storage *ms, uint64_t realtime_ns);

#endif
