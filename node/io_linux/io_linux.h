#ifndef TC_IO_LINUX_H
#define TC_IO_LINUX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "io.h"
#include "tc_histogram.h"

struct tc_replica_options;

// node/io_linux: the real-world side of struct tc_io (see node/io.h for the contract).
//
// This file offers the pieces a host (tigerchat-node, tigerchat-bench) composes into its tc_io:
//  - tc_io_linux_storage: one replica's data file, with asynchronous read/write/sync executed by a
//    small pool of worker threads. Completions are delivered only by tc_io_linux_storage_poll() on
//    the caller's thread, never inside a submit call. The caller may wait on the storage's eventfd.
//  - tc_io_linux_monotonic_ns / tc_io_linux_realtime_ns: the only clock reads in the project.
//
// Ordering guarantees of the storage (stronger than node/io.h requires, so that the journal never
// depends on which worker thread wins a race):
//  - A sync covers every write submitted before it: it starts only after those writes finished.
//    Group commit: when a worker starts an fdatasync, every other pending sync whose earlier
//    writes have all finished completes with it (one fdatasync, several syncs answered).
//  - Overlapping reads and writes execute in submission order (write/write, write->read,
//    read->write); non-overlapping operations run in parallel.
//  - A write of at most TC_IO_LINUX_STORAGE_INLINE_WRITE_MAX bytes that overlaps nothing pending
//    or running is done by the submitting thread (a page-cache pwrite of microseconds, instead of
//    two thread handoffs); its completion is still delivered by poll() only. Larger writes, syncs
//    and reads run on the workers (fdatasync blocks; big copies would stall the loop).
//  - After any write or sync failure the storage is "failed": every later write and sync completes
//    with TC_EIO without touching the disk (a failed fdatasync must never be retried and reported
//    as durable). Reads still run.
//
// Errors: open returns 0 or a negative TC_E* code and fills storage->error with a message naming
// the path and the errno text. Callbacks get 0 (success) or TC_EIO.

#define TC_IO_LINUX_STORAGE_THREADS_MAX 8u
#define TC_IO_LINUX_STORAGE_THREADS_DEFAULT 2u
// Operations submitted and not yet delivered by poll(), per storage. Submitting more is a
// programming error of the caller (asserted): the replica's own I/O is bounded well below this.
#define TC_IO_LINUX_STORAGE_OPS_MAX 256u
#define TC_IO_LINUX_STORAGE_INLINE_WRITE_MAX (16u * 1024u)
#define TC_IO_LINUX_PATH_SIZE_MAX 1024u
#define TC_IO_LINUX_ERROR_SIZE_MAX 1280u

// Formats a freshly created file: called once with a write function that must be used for every
// byte range to initialise (synchronous pwrite; errors are latched and reported by open).
typedef void (*tc_io_linux_format_write_fn)(void *write_context, uint64_t offset,
                                            const uint8_t *data, uint32_t size);
typedef void (*tc_io_linux_format_fn)(void *format_context, tc_io_linux_format_write_fn write,
                                      void *write_context);

struct tc_io_linux_storage_options {
    const char *path;
    uint64_t size_bytes;    // exact size of the file; an existing file of another size is refused
    uint64_t base_offset_bytes; // the file holds storage bytes [base, base + size): operations
                                // name storage offsets, the file is addressed from base
    bool create_if_missing; // else a missing file is TC_ENOENT
    uint32_t threads_count; // 1..TC_IO_LINUX_STORAGE_THREADS_MAX; 0 selects the default
    tc_io_linux_format_fn format; // required when create_if_missing
    void *format_context;
    // Start writeback of every write as soon as it is written (sync_file_range WRITE, no wait):
    // for files synced rarely and in bulk (checkpoint areas, message store), so that their sync
    // finds little dirty data instead of a half-ring's worth flushed in one burst that stalls the
    // journal's commit-path syncs on the same disk. A hint only: durability still comes from the
    // sync, which reports any writeback error.
    bool writeback_early;
};

struct tc_io_linux_storage_stats {
    uint64_t reads;
    uint64_t writes;
    uint64_t syncs;
    uint64_t errors;
    uint64_t bytes_read;
    uint64_t bytes_written;
    uint64_t sync_ns_total; // time spent inside fdatasync, summed over syncs
    uint64_t sync_ns_max;
    uint64_t syncs_coalesced; // syncs completed by another sync's fdatasync (not in `syncs`)
    uint64_t writes_inline;   // writes done on the submitting thread (also in `writes`)
};

struct tc_io_linux_storage_entry {
    struct tc_io_storage_op *op;
    uint64_t sequence; // submission order
};

// sync_ns of a completion whose operation ran no fdatasync (reads, writes, coalesced syncs, and
// syncs refused because the storage had failed).
#define TC_IO_LINUX_SYNC_NS_NONE UINT64_MAX

struct tc_io_linux_storage_completion {
    struct tc_io_storage_op *op;
    int result;
    uint64_t sync_ns; // time inside the fdatasync this operation ran, or TC_IO_LINUX_SYNC_NS_NONE
};

struct tc_io_linux_storage_worker {
    struct tc_io_linux_storage *storage;
    pthread_t thread;
    struct tc_io_linux_storage_entry running; // op == NULL when idle
    uint32_t index;
    // Syncs that ride on the running sync (group commit): each was pending with every write
    // submitted before it already finished, so the running fdatasync covers them too.
    uint32_t riders_count;
    struct tc_io_storage_op *riders[TC_IO_LINUX_STORAGE_OPS_MAX];
};

// Caller-owned; initialise in place with tc_io_linux_storage_open. All memory is inside.
struct tc_io_linux_storage {
    int fd;
    int event_fd;
    uint64_t size_bytes;
    uint64_t base_offset_bytes;
    uint32_t threads_count;
    bool opened;
    bool stopping; // protected by mutex
    bool failed;   // protected by mutex: a write or sync failed (sticky)
    bool writeback_early;
    pthread_mutex_t mutex;
    pthread_cond_t work_available;
    struct tc_io_linux_storage_worker workers[TC_IO_LINUX_STORAGE_THREADS_MAX];
    // Everything below is protected by mutex.
    uint64_t sequence_next;
    uint32_t inflight_count; // pending + running + completed, not yet delivered by poll()
    uint32_t pending_count;
    struct tc_io_linux_storage_entry pending[TC_IO_LINUX_STORAGE_OPS_MAX]; // submission order
    uint32_t completion_head;
    uint32_t completion_count;
    struct tc_io_linux_storage_completion completions[TC_IO_LINUX_STORAGE_OPS_MAX];
    struct tc_io_linux_storage_stats stats;
    // Not under the mutex: the duration of every fdatasync, recorded by poll() (the owner's
    // thread, the node's loop) when it delivers the sync; read it on that thread only.
    struct tc_histogram sync_latency;
    char path[TC_IO_LINUX_PATH_SIZE_MAX];
    char error[TC_IO_LINUX_ERROR_SIZE_MAX];
};

// Opens (or creates, preallocates, formats and makes durable) the file and starts the workers.
// A new file is built as "<path>.tmp" and renamed into place after it is formatted and synced, so
// a file at `path` is always completely formatted. The file is locked (flock) against a second
// opener. On failure nothing is left running and storage->error says why.
int tc_io_linux_storage_open(struct tc_io_linux_storage *storage,
                             const struct tc_io_linux_storage_options *options);
// Stops the workers (after their current operation) and closes the file. Operations not yet
// delivered never call back: call only when the owner of the operations is being torn down, or
// after tc_io_linux_storage_inflight() reached 0.
void tc_io_linux_storage_close(struct tc_io_linux_storage *storage);

// Submission (the tc_io storage_* functions forward here). Never blocks on disk, never calls back.
void tc_io_linux_storage_read(struct tc_io_linux_storage *storage, struct tc_io_storage_op *op);
void tc_io_linux_storage_write(struct tc_io_linux_storage *storage, struct tc_io_storage_op *op);
void tc_io_linux_storage_sync(struct tc_io_linux_storage *storage, struct tc_io_storage_op *op);

// Delivers the completions available now (each callback exactly once, on this thread) and returns
// how many. Callbacks may submit new operations; those complete in a later poll.
uint32_t tc_io_linux_storage_poll(struct tc_io_linux_storage *storage);
// Readable (counter > 0) when completions may be waiting; poll() drains it. For epoll/poll.
int tc_io_linux_storage_event_fd(const struct tc_io_linux_storage *storage);
uint32_t tc_io_linux_storage_inflight(struct tc_io_linux_storage *storage);
void tc_io_linux_storage_stats_get(struct tc_io_linux_storage *storage,
                                   struct tc_io_linux_storage_stats *stats);
// fdatasync durations (tc_histogram_layout_fdatasync), one observation per fdatasync call (syncs
// that rode on another's are not observed). On the thread that polls only.
const struct tc_histogram *tc_io_linux_storage_sync_latency(
    const struct tc_io_linux_storage *storage);

// The storage of a VSR replica (storage_replica.c; links tc_vsr's replica): one file per storage
// zone (tc_replica_storage_zones: "<path>.journal", "<path>.checkpoints", "<path>.store"), so that
// the journal's fdatasync never has to flush checkpoint or message-store data (node/io.h: a sync
// names its zone). New files are formatted with tc_replica_format. Operations are dispatched by
// offset; completions of every file are delivered by one poll.
#define TC_IO_LINUX_REPLICA_ZONES 3u
struct tc_io_linux_replica_storage {
    uint64_t zone_offsets[TC_IO_LINUX_REPLICA_ZONES];
    struct tc_io_linux_storage files[TC_IO_LINUX_REPLICA_ZONES];
    uint32_t opened;      // files opened (close closes these)
    char error[TC_IO_LINUX_ERROR_SIZE_MAX];
};
// threads_count 0 selects TC_IO_LINUX_STORAGE_THREADS_DEFAULT (per file).
int tc_io_linux_replica_storage_open(struct tc_io_linux_replica_storage *storage, const char *path,
                                     const struct tc_replica_options *replica_options,
                                     bool create_if_missing, uint32_t threads_count);
void tc_io_linux_replica_storage_close(struct tc_io_linux_replica_storage *storage);
void tc_io_linux_replica_storage_read(struct tc_io_linux_replica_storage *storage,
                                      struct tc_io_storage_op *op);
void tc_io_linux_replica_storage_write(struct tc_io_linux_replica_storage *storage,
                                       struct tc_io_storage_op *op);
void tc_io_linux_replica_storage_sync(struct tc_io_linux_replica_storage *storage,
                                      struct tc_io_storage_op *op);
uint32_t tc_io_linux_replica_storage_poll(struct tc_io_linux_replica_storage *storage);
uint32_t tc_io_linux_replica_storage_inflight(struct tc_io_linux_replica_storage *storage);
// Event fds of the files (for poll/epoll): `count` of them into `fds`.
uint32_t tc_io_linux_replica_storage_event_fds(const struct tc_io_linux_replica_storage *storage,
                                               int *fds, uint32_t count);
// Sums over the files (sync_ns_max: the largest).
void tc_io_linux_replica_storage_stats_get(struct tc_io_linux_replica_storage *storage,
                                           struct tc_io_linux_storage_stats *stats);
// The fdatasync durations of one zone's file (zone < TC_IO_LINUX_REPLICA_ZONES; the journal is
// zone 0): tc_io_linux_storage_sync_latency of that file. On the thread that polls only.
const struct tc_histogram *tc_io_linux_replica_storage_sync_latency(
    const struct tc_io_linux_replica_storage *storage, uint32_t zone);

// Clocks (clock_gettime). The deterministic core never calls these; hosts pass time in as ticks
// (monotonic) and through tc_io.realtime_ns (wall clock).
uint64_t tc_io_linux_monotonic_ns(void);
uint64_t tc_io_linux_realtime_ns(void);

#endif
