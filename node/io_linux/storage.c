// Asynchronous storage for one replica: a bounded submission list, a pool of worker threads doing
// pread/pwrite/fdatasync, and a bounded completion ring drained by tc_io_linux_storage_poll() on
// the owner's thread. See io_linux.h for the ordering guarantees.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "io_linux_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

_Static_assert(TC_IO_LINUX_STORAGE_OPS_MAX >= 64u, "room for the replica's concurrent I/O");
_Static_assert(TC_IO_LINUX_STORAGE_THREADS_MAX <= TC_IO_LINUX_STORAGE_OPS_MAX, "threads <= ops");

static bool storage_ranges_overlap(const struct tc_io_storage_op *a,
                                   const struct tc_io_storage_op *b) {
    tc_assert(a->kind != TC_IO_STORAGE_SYNC);
    tc_assert(b->kind != TC_IO_STORAGE_SYNC);
    return a->offset_bytes < b->offset_bytes + b->size_bytes &&
           b->offset_bytes < a->offset_bytes + a->size_bytes;
}

// Must `later` wait for `earlier` (submitted before it) to finish?
static bool storage_conflict(const struct tc_io_storage_op *earlier,
                             const struct tc_io_storage_op *later) {
    tc_assert(earlier != later);
    if (later->kind == TC_IO_STORAGE_SYNC) return earlier->kind == TC_IO_STORAGE_WRITE;
    if (earlier->kind == TC_IO_STORAGE_SYNC) return false;
    if (earlier->kind == TC_IO_STORAGE_READ && later->kind == TC_IO_STORAGE_READ) return false;
    return storage_ranges_overlap(earlier, later);
}

static bool storage_pending_blocked(const struct tc_io_linux_storage *storage, uint32_t index) {
    tc_assert(index < storage->pending_count);
    const struct tc_io_linux_storage_entry *candidate = &storage->pending[index];
    for (uint32_t w = 0; w < storage->threads_count; w++) {
        const struct tc_io_linux_storage_entry *running = &storage->workers[w].running;
        if (running->op == NULL || running->sequence > candidate->sequence) continue;
        if (storage_conflict(running->op, candidate->op)) return true;
    }
    for (uint32_t j = 0; j < index; j++) {
        tc_assert(storage->pending[j].sequence < candidate->sequence);
        if (storage_conflict(storage->pending[j].op, candidate->op)) return true;
    }
    return false;
}

// Takes the oldest pending operation that may start now. Caller holds the mutex.
static bool storage_pending_take(struct tc_io_linux_storage *storage,
                                 struct tc_io_linux_storage_entry *out) {
    for (uint32_t index = 0; index < storage->pending_count; index++) {
        if (storage_pending_blocked(storage, index)) continue;
        *out = storage->pending[index];
        const uint32_t after = storage->pending_count - index - 1u;
        memmove(&storage->pending[index], &storage->pending[index + 1u],
                after * sizeof(storage->pending[0]));
        storage->pending_count--;
        tc_assert(out->op != NULL);
        return true;
    }
    return false;
}

static int storage_execute(struct tc_io_linux_storage *storage, struct tc_io_storage_op *op,
                           bool failed, uint64_t *sync_ns) {
    tc_assert(op != NULL);
    *sync_ns = TC_IO_LINUX_SYNC_NS_NONE;
    int error_number = 0;
    switch (op->kind) {
    case TC_IO_STORAGE_READ:
        error_number = io_linux_pread_all(storage->fd, op->buffer, op->size_bytes,
                                          op->offset_bytes - storage->base_offset_bytes);
        break;
    case TC_IO_STORAGE_WRITE:
        if (failed) return TC_EIO;
        error_number = io_linux_pwrite_all(storage->fd, op->buffer, op->size_bytes,
                                           op->offset_bytes - storage->base_offset_bytes);
        break;
    case TC_IO_STORAGE_SYNC: {
        if (failed) return TC_EIO;
        const uint64_t start_ns = tc_io_linux_monotonic_ns();
        error_number = io_linux_fdatasync(storage->fd);
        *sync_ns = tc_io_linux_monotonic_ns() - start_ns;
        tc_assert(*sync_ns != TC_IO_LINUX_SYNC_NS_NONE);
        break;
    }
    default: tc_unreachable();
    }
    tc_assert(error_number >= 0);
    return error_number == 0 ? 0 : TC_EIO;
}

static void storage_stats_count(struct tc_io_linux_storage *storage,
                                const struct tc_io_storage_op *op, int result, uint64_t sync_ns) {
    struct tc_io_linux_storage_stats *stats = &storage->stats;
    if (result != 0) stats->errors++;
    if (op->kind == TC_IO_STORAGE_READ) {
        stats->reads++;
        stats->bytes_read += op->size_bytes;
    } else if (op->kind == TC_IO_STORAGE_WRITE) {
        stats->writes++;
        stats->bytes_written += op->size_bytes;
    } else {
        tc_assert(op->kind == TC_IO_STORAGE_SYNC);
        stats->syncs++;
        if (sync_ns == TC_IO_LINUX_SYNC_NS_NONE) return; // refused: the storage had failed
        stats->sync_ns_total += sync_ns;
        stats->sync_ns_max = sync_ns > stats->sync_ns_max ? sync_ns : stats->sync_ns_max;
    }
}

// Takes every pending sync that may start now (all writes submitted before it finished) as a
// rider of the sync this worker is about to run. Caller holds the mutex.
static void storage_sync_riders_take(struct tc_io_linux_storage *storage,
                                     struct tc_io_linux_storage_worker *worker) {
    tc_assert(worker->running.op != NULL && worker->running.op->kind == TC_IO_STORAGE_SYNC);
    tc_assert(worker->riders_count == 0);
    uint32_t index = 0;
    while (index < storage->pending_count) {
        struct tc_io_storage_op *op = storage->pending[index].op;
        if (op->kind != TC_IO_STORAGE_SYNC || storage_pending_blocked(storage, index)) {
            index++;
            continue;
        }
        tc_assert(worker->riders_count < TC_IO_LINUX_STORAGE_OPS_MAX);
        worker->riders[worker->riders_count++] = op;
        const uint32_t after = storage->pending_count - index - 1u;
        memmove(&storage->pending[index], &storage->pending[index + 1u],
                after * sizeof(storage->pending[0]));
        storage->pending_count--;
    }
}

static void storage_completion_push(struct tc_io_linux_storage *storage,
                                    struct tc_io_storage_op *op, int result, uint64_t sync_ns) {
    tc_assert(storage->completion_count < TC_IO_LINUX_STORAGE_OPS_MAX);
    const uint32_t tail =
        (storage->completion_head + storage->completion_count) % TC_IO_LINUX_STORAGE_OPS_MAX;
    tc_assert(sync_ns == TC_IO_LINUX_SYNC_NS_NONE || op->kind == TC_IO_STORAGE_SYNC);
    storage->completions[tail] = (struct tc_io_linux_storage_completion){op, result, sync_ns};
    storage->completion_count++;
    tc_assert(storage->completion_count <= storage->inflight_count);
}

// Publishes a finished operation (and the syncs that rode on it). Caller holds the mutex.
static void storage_complete(struct tc_io_linux_storage *storage,
                             struct tc_io_linux_storage_worker *worker, int result,
                             uint64_t sync_ns) {
    struct tc_io_storage_op *op = worker->running.op;
    tc_assert(op != NULL);
    tc_assert(result == 0 || result == TC_EIO);
    if (result != 0 && op->kind != TC_IO_STORAGE_READ) storage->failed = true;
    storage_stats_count(storage, op, result, sync_ns);
    worker->running.op = NULL;
    storage_completion_push(storage, op, result, sync_ns);
    tc_assert(worker->riders_count == 0 || op->kind == TC_IO_STORAGE_SYNC);
    for (uint32_t i = 0; i < worker->riders_count; i++) {
        tc_assert(worker->riders[i]->kind == TC_IO_STORAGE_SYNC);
        if (result != 0) storage->stats.errors++;
        storage->stats.syncs_coalesced++;
        storage_completion_push(storage, worker->riders[i], result, TC_IO_LINUX_SYNC_NS_NONE);
    }
    worker->riders_count = 0;
    const uint64_t one = 1;
    const ssize_t written = write(storage->event_fd, &one, sizeof(one));
    tc_assert(written == (ssize_t)sizeof(one));
    // Finishing may unblock several pending operations (a sync, overlapping writes).
    pthread_cond_broadcast(&storage->work_available);
}

static void *storage_worker_main(void *argument) {
    struct tc_io_linux_storage_worker *worker = argument;
    struct tc_io_linux_storage *storage = worker->storage;
    tc_assert(worker->running.op == NULL);
    pthread_mutex_lock(&storage->mutex);
    while (!storage->stopping) {
        if (!storage_pending_take(storage, &worker->running)) {
            pthread_cond_wait(&storage->work_available, &storage->mutex);
            continue;
        }
        if (worker->running.op->kind == TC_IO_STORAGE_SYNC) storage_sync_riders_take(storage, worker);
        // Hand further work to an idle worker rather than leaving it pending behind us.
        if (storage->pending_count > 0) pthread_cond_signal(&storage->work_available);
        const bool failed = storage->failed;
        pthread_mutex_unlock(&storage->mutex);
        uint64_t sync_ns = TC_IO_LINUX_SYNC_NS_NONE;
        struct tc_io_storage_op *op = worker->running.op;
        const int result = storage_execute(storage, op, failed, &sync_ns);
        if (result == 0 && op->kind == TC_IO_STORAGE_WRITE && storage->writeback_early) {
            io_linux_writeback_start(storage->fd, op->offset_bytes - storage->base_offset_bytes,
                                     op->size_bytes);
        }
        pthread_mutex_lock(&storage->mutex);
        storage_complete(storage, worker, result, sync_ns);
    }
    tc_assert(worker->running.op == NULL);
    pthread_mutex_unlock(&storage->mutex);
    return NULL;
}

static void storage_workers_stop(struct tc_io_linux_storage *storage, uint32_t started) {
    tc_assert(started <= storage->threads_count);
    pthread_mutex_lock(&storage->mutex);
    storage->stopping = true;
    pthread_cond_broadcast(&storage->work_available);
    pthread_mutex_unlock(&storage->mutex);
    for (uint32_t w = 0; w < started; w++) {
        const int error = pthread_join(storage->workers[w].thread, NULL);
        tc_assert(error == 0);
    }
}

static int storage_workers_start(struct tc_io_linux_storage *storage) {
    tc_assert(storage->threads_count >= 1);
    tc_assert(storage->threads_count <= TC_IO_LINUX_STORAGE_THREADS_MAX);
    for (uint32_t w = 0; w < storage->threads_count; w++) {
        struct tc_io_linux_storage_worker *worker = &storage->workers[w];
        worker->storage = storage;
        worker->index = w;
        worker->running.op = NULL;
        worker->riders_count = 0;
        const int error = pthread_create(&worker->thread, NULL, storage_worker_main, worker);
        if (error != 0) {
            storage_workers_stop(storage, w);
            return io_linux_fail(storage, error, "start storage thread for", storage->path);
        }
    }
    return 0;
}

static int storage_options_check(struct tc_io_linux_storage *storage,
                                 const struct tc_io_linux_storage_options *options) {
    tc_assert(options->path != NULL);
    if (strlen(options->path) == 0 || strlen(options->path) >= TC_IO_LINUX_PATH_SIZE_MAX) {
        (void)snprintf(storage->error, sizeof(storage->error),
                       "data file path is empty or longer than %u bytes",
                       TC_IO_LINUX_PATH_SIZE_MAX - 1u);
        return TC_EINVAL;
    }
    if (options->size_bytes == 0 || options->threads_count > TC_IO_LINUX_STORAGE_THREADS_MAX ||
        (options->create_if_missing && options->format == NULL)) {
        (void)snprintf(storage->error, sizeof(storage->error),
                       "data file '%s': invalid storage options (size, threads or format)",
                       options->path);
        return TC_EINVAL;
    }
    return 0;
}

int tc_io_linux_storage_open(struct tc_io_linux_storage *storage,
                             const struct tc_io_linux_storage_options *options) {
    tc_assert(storage != NULL);
    tc_assert(options != NULL);
    memset(storage, 0, sizeof(*storage));
    storage->fd = -1;
    storage->event_fd = -1;
    int result = storage_options_check(storage, options);
    if (result != 0) return result;
    (void)snprintf(storage->path, sizeof(storage->path), "%s", options->path);
    storage->size_bytes = options->size_bytes;
    storage->base_offset_bytes = options->base_offset_bytes;
    storage->writeback_early = options->writeback_early;
    storage->threads_count = options->threads_count == 0 ? TC_IO_LINUX_STORAGE_THREADS_DEFAULT
                                                         : options->threads_count;
    result = io_linux_file_open(storage, options);
    if (result != 0) return result;
    storage->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (storage->event_fd < 0) {
        result = io_linux_fail(storage, errno, "create eventfd for", storage->path);
        (void)close(storage->fd);
        return result;
    }
    int error = pthread_mutex_init(&storage->mutex, NULL);
    tc_assert(error == 0);
    error = pthread_cond_init(&storage->work_available, NULL);
    tc_assert(error == 0);
    result = storage_workers_start(storage);
    if (result != 0) {
        pthread_cond_destroy(&storage->work_available);
        pthread_mutex_destroy(&storage->mutex);
        (void)close(storage->event_fd);
        (void)close(storage->fd);
        return result;
    }
    tc_histogram_init(&storage->sync_latency, &tc_histogram_layout_fdatasync);
    storage->opened = true;
    return 0;
}

void tc_io_linux_storage_close(struct tc_io_linux_storage *storage) {
    tc_assert(storage->opened);
    tc_assert(storage->fd >= 0);
    storage_workers_stop(storage, storage->threads_count);
    for (uint32_t w = 0; w < storage->threads_count; w++) {
        tc_assert(storage->workers[w].running.op == NULL);
    }
    pthread_cond_destroy(&storage->work_available);
    pthread_mutex_destroy(&storage->mutex);
    (void)close(storage->event_fd);
    (void)close(storage->fd); // Durability comes from the syncs the replica asked for.
    storage->event_fd = -1;
    storage->fd = -1;
    storage->opened = false;
}

// A write that conflicts with nothing submitted before it (no overlapping read or write pending
// or running) goes to the page cache at once, on the caller's thread: a 4 KiB pwrite costs a few
// microseconds, a handoff to a worker and back costs two thread wake-ups (docs/benchmarks.md).
// Its completion still goes through the ring and poll(), so callers see the same contract; a
// later sync starts after it (it has finished) and so covers it. Caller holds the mutex.
static bool storage_write_inline(struct tc_io_linux_storage *storage,
                                 struct tc_io_storage_op *op) {
    tc_assert(op->kind == TC_IO_STORAGE_WRITE);
    // Large writes (full batches, checkpoints, store segments) stay on the workers: copying them
    // on the loop thread would stall every other replica and connection it serves.
    if (op->size_bytes > TC_IO_LINUX_STORAGE_INLINE_WRITE_MAX) return false;
    // Early writeback may wait for the device queue: never on the loop thread.
    if (storage->writeback_early) return false;
    for (uint32_t i = 0; i < storage->pending_count; i++) {
        if (storage_conflict(storage->pending[i].op, op)) return false;
    }
    for (uint32_t w = 0; w < storage->threads_count; w++) {
        const struct tc_io_storage_op *running = storage->workers[w].running.op;
        if (running != NULL && storage_conflict(running, op)) return false;
    }
    uint64_t sync_ns = 0;
    const int result = storage_execute(storage, op, storage->failed, &sync_ns);
    tc_assert(sync_ns == TC_IO_LINUX_SYNC_NS_NONE);
    if (result != 0) storage->failed = true;
    storage_stats_count(storage, op, result, sync_ns);
    storage->stats.writes_inline++;
    storage->sequence_next++;
    storage->inflight_count++;
    storage_completion_push(storage, op, result, sync_ns);
    const uint64_t one = 1;
    const ssize_t written = write(storage->event_fd, &one, sizeof(one));
    tc_assert(written == (ssize_t)sizeof(one));
    return true;
}

static void storage_submit(struct tc_io_linux_storage *storage, struct tc_io_storage_op *op,
                           enum tc_io_storage_kind kind) {
    tc_assert(storage->opened);
    tc_assert(op != NULL);
    tc_assert(op->callback != NULL);
    if (kind != TC_IO_STORAGE_SYNC) {
        tc_assert(op->buffer != NULL);
        tc_assert(op->size_bytes > 0);
        tc_assert(op->offset_bytes >= storage->base_offset_bytes);
        const uint64_t offset = op->offset_bytes - storage->base_offset_bytes;
        tc_assert(offset <= storage->size_bytes);
        tc_assert(op->size_bytes <= storage->size_bytes - offset);
    }
    op->kind = (uint8_t)kind;
    op->next = NULL;
    pthread_mutex_lock(&storage->mutex);
    tc_assert(!storage->stopping);
    tc_assert(storage->inflight_count < TC_IO_LINUX_STORAGE_OPS_MAX); // The queues are bounded.
    tc_assert(storage->pending_count < TC_IO_LINUX_STORAGE_OPS_MAX);
    for (uint32_t i = 0; i < storage->pending_count; i++) {
        tc_assert_hot(storage->pending[i].op != op); // Not submitted twice while in flight.
    }
    if (kind == TC_IO_STORAGE_WRITE && storage_write_inline(storage, op)) {
        pthread_mutex_unlock(&storage->mutex);
        return;
    }
    storage->pending[storage->pending_count] =
        (struct tc_io_linux_storage_entry){op, storage->sequence_next};
    storage->pending_count++;
    storage->sequence_next++;
    storage->inflight_count++;
    pthread_cond_signal(&storage->work_available);
    pthread_mutex_unlock(&storage->mutex);
}

void tc_io_linux_storage_read(struct tc_io_linux_storage *storage, struct tc_io_storage_op *op) {
    storage_submit(storage, op, TC_IO_STORAGE_READ);
}

void tc_io_linux_storage_write(struct tc_io_linux_storage *storage, struct tc_io_storage_op *op) {
    storage_submit(storage, op, TC_IO_STORAGE_WRITE);
}

void tc_io_linux_storage_sync(struct tc_io_linux_storage *storage, struct tc_io_storage_op *op) {
    storage_submit(storage, op, TC_IO_STORAGE_SYNC);
}

uint32_t tc_io_linux_storage_poll(struct tc_io_linux_storage *storage) {
    tc_assert(storage->opened);
    uint64_t counter = 0;
    const ssize_t drained = read(storage->event_fd, &counter, sizeof(counter));
    tc_assert(drained == (ssize_t)sizeof(counter) || (drained < 0 && errno == EAGAIN));
    // Take a snapshot: callbacks may submit new operations, which complete in a later poll.
    struct tc_io_linux_storage_completion batch[TC_IO_LINUX_STORAGE_OPS_MAX];
    pthread_mutex_lock(&storage->mutex);
    const uint32_t count = storage->completion_count;
    tc_assert(count <= storage->inflight_count);
    for (uint32_t i = 0; i < count; i++) {
        batch[i] = storage->completions[(storage->completion_head + i) %
                                        TC_IO_LINUX_STORAGE_OPS_MAX];
    }
    storage->completion_head = (storage->completion_head + count) % TC_IO_LINUX_STORAGE_OPS_MAX;
    storage->completion_count = 0;
    storage->inflight_count -= count;
    pthread_mutex_unlock(&storage->mutex);
    for (uint32_t i = 0; i < count; i++) {
        struct tc_io_storage_op *op = batch[i].op;
        tc_assert(op != NULL);
        tc_assert(batch[i].result == 0 || batch[i].result == TC_EIO);
        // Recorded here, on the owner's thread: the histogram needs no lock.
        if (batch[i].sync_ns != TC_IO_LINUX_SYNC_NS_NONE) {
            tc_histogram_observe(&storage->sync_latency, batch[i].sync_ns);
        }
        op->next = NULL;
        op->callback(op, batch[i].result);
    }
    return count;
}

int tc_io_linux_storage_event_fd(const struct tc_io_linux_storage *storage) {
    tc_assert(storage->opened);
    tc_assert(storage->event_fd >= 0);
    return storage->event_fd;
}

uint32_t tc_io_linux_storage_inflight(struct tc_io_linux_storage *storage) {
    tc_assert(storage->opened);
    pthread_mutex_lock(&storage->mutex);
    const uint32_t inflight = storage->inflight_count;
    pthread_mutex_unlock(&storage->mutex);
    tc_assert(inflight <= TC_IO_LINUX_STORAGE_OPS_MAX);
    return inflight;
}

void tc_io_linux_storage_stats_get(struct tc_io_linux_storage *storage,
                                   struct tc_io_linux_storage_stats *stats) {
    tc_assert(storage->opened);
    pthread_mutex_lock(&storage->mutex);
    *stats = storage->stats;
    pthread_mutex_unlock(&storage->mutex);
    tc_assert(stats->errors <= stats->reads + stats->writes + stats->syncs + stats->syncs_coalesced);
}

const struct tc_histogram *tc_io_linux_storage_sync_latency(
    const struct tc_io_linux_storage *storage) {
    tc_assert(storage->opened);
    tc_assert(storage->sync_latency.layout == &tc_histogram_layout_fdatasync);
    return &storage->sync_latency;
}
