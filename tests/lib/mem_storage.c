#include "mem_storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tc_assert.h"
#include "tc_err.h"

#define MEM_STORAGE_RUN_MAX 10000000u
#define MEM_STORAGE_PIECE_SIZE 512u

struct mem_storage_range {
    uint64_t offset;
    uint64_t size;
};

struct mem_storage {
    struct tc_io io;
    struct tc_prng prng;
    uint64_t size_bytes;
    uint8_t *image;
    uint8_t *shadow; // per sector: content at the last completed sync (valid where dirty)
    uint8_t *dirty;  // per sector: 1 if written since the last completed sync
    uint32_t sector_count;
    uint32_t dirty_count;
    struct tc_io_storage_op *head; // FIFO of queued operations (intrusive through op->next)
    struct tc_io_storage_op *tail;
    uint32_t pending;
    struct mem_storage_range read_errors[MEM_STORAGE_READ_ERRORS_MAX];
    uint32_t read_error_count;
    uint64_t realtime_ns;
    struct mem_storage_stats stats;
};

static struct mem_storage *ms_of(struct tc_io *io) {
    struct mem_storage *ms = io->context;
    tc_assert(ms != NULL);
    tc_assert(&ms->io == io);
    return ms;
}

static void ms_enqueue(struct mem_storage *ms, struct tc_io_storage_op *op, uint8_t kind) {
    tc_assert(op != NULL);
    tc_assert(op->callback != NULL);
    if (kind != TC_IO_STORAGE_SYNC) {
        tc_assert(op->buffer != NULL || op->size_bytes == 0);
        tc_assert(op->offset_bytes <= ms->size_bytes);
        tc_assert(op->size_bytes <= ms->size_bytes - op->offset_bytes);
    }
    // An operation must not be submitted twice while in flight.
    for (struct tc_io_storage_op *it = ms->head; it != NULL; it = it->next) tc_assert(it != op);
    op->kind = kind;
    op->next = NULL;
    if (ms->tail == NULL) {
        ms->head = op;
    } else {
        ms->tail->next = op;
    }
    ms->tail = op;
    ms->pending++;
}

static void ms_send_to_replica(struct tc_io *io, uint8_t replica, uint32_t epoch,
                               const uint8_t *message) {
    (void)replica;
    (void)epoch;
    tc_assert(message != NULL);
    ms_of(io)->stats.sends_to_replica++;
}

static void ms_send_to_client(struct tc_io *io, uint64_t client, const uint8_t *message) {
    (void)client;
    tc_assert(message != NULL);
    ms_of(io)->stats.sends_to_client++;
}

static void ms_storage_read(struct tc_io *io, struct tc_io_storage_op *op) {
    ms_enqueue(ms_of(io), op, TC_IO_STORAGE_READ);
}

static void ms_storage_write(struct tc_io *io, struct tc_io_storage_op *op) {
    ms_enqueue(ms_of(io), op, TC_IO_STORAGE_WRITE);
}

static void ms_storage_sync(struct tc_io *io, struct tc_io_storage_op *op) {
    ms_enqueue(ms_of(io), op, TC_IO_STORAGE_SYNC);
}

static uint64_t ms_realtime_ns(struct tc_io *io) { return ms_of(io)->realtime_ns; }

static void ms_log(struct tc_io *io, enum tc_log_level level, const char *line) {
    struct mem_storage *ms = ms_of(io);
    ms->stats.logs++;
    if (getenv("TC_TEST_LOG") != NULL) fprintf(stderr, "[mem_storage %d] %s\n", (int)level, line);
}

static const struct tc_io_vtable ms_vtable = {
    .send_to_replica = ms_send_to_replica,
    .send_to_client = ms_send_to_client,
    .storage_read = ms_storage_read,
    .storage_write = ms_storage_write,
    .storage_sync = ms_storage_sync,
    .realtime_ns = ms_realtime_ns,
    .log = ms_log,
};

struct mem_storage *mem_storage_create(uint64_t size_bytes, uint64_t seed) {
    tc_assert(size_bytes > 0);
    tc_assert(size_bytes % MEM_STORAGE_SECTOR_SIZE == 0);
    tc_assert(size_bytes / MEM_STORAGE_SECTOR_SIZE <= UINT32_MAX);
    struct mem_storage *ms = calloc(1, sizeof(*ms));
    tc_assert(ms != NULL);
    ms->size_bytes = size_bytes;
    ms->sector_count = (uint32_t)(size_bytes / MEM_STORAGE_SECTOR_SIZE);
    ms->image = calloc(1, size_bytes);
    ms->shadow = calloc(1, size_bytes);
    ms->dirty = calloc(1, ms->sector_count);
    tc_assert(ms->image != NULL && ms->shadow != NULL && ms->dirty != NULL);
    tc_prng_init(&ms->prng, seed);
    ms->io.vtable = &ms_vtable;
    ms->io.context = ms;
    ms->io.log_level = getenv("TC_TEST_LOG") != NULL ? TC_LOG_DEBUG : TC_LOG_ERROR;
    ms->realtime_ns = 1700000000000000000ull;
    return ms;
}

void mem_storage_destroy(struct mem_storage *ms) {
    if (ms == NULL) return;
    free(ms->image);
    free(ms->shadow);
    free(ms->dirty);
    free(ms);
}

struct tc_io *mem_storage_io(struct mem_storage *ms) { return &ms->io; }
uint8_t *mem_storage_image(struct mem_storage *ms) { return ms->image; }
uint64_t mem_storage_size(const struct mem_storage *ms) { return ms->size_bytes; }
struct tc_prng *mem_storage_prng(struct mem_storage *ms) { return &ms->prng; }
const struct mem_storage_stats *mem_storage_stats(const struct mem_storage *ms) {
    return &ms->stats;
}
uint32_t mem_storage_pending(const struct mem_storage *ms) { return ms->pending; }
uint8_t mem_storage_next_kind(const struct mem_storage *ms) {
    return ms->head == NULL ? 0 : ms->head->kind;
}
uint32_t mem_storage_sector_count(const struct mem_storage *ms) { return ms->sector_count; }
uint32_t mem_storage_dirty_count(const struct mem_storage *ms) { return ms->dirty_count; }

bool mem_storage_sector_dirty(const struct mem_storage *ms, uint32_t sector) {
    tc_assert(sector < ms->sector_count);
    return ms->dirty[sector] != 0;
}

static bool ms_read_error(const struct mem_storage *ms, uint64_t offset, uint64_t size) {
    for (uint32_t i = 0; i < ms->read_error_count; i++) {
        const struct mem_storage_range *range = &ms->read_errors[i];
        if (offset < range->offset + range->size && range->offset < offset + size) return true;
    }
    return false;
}

static void ms_write_apply(struct mem_storage *ms, uint64_t offset, const uint8_t *data,
                           uint64_t size) {
    if (size == 0) return;
    uint64_t first = offset / MEM_STORAGE_SECTOR_SIZE;
    uint64_t last = (offset + size - 1) / MEM_STORAGE_SECTOR_SIZE;
    tc_assert(last < ms->sector_count);
    for (uint64_t sector = first; sector <= last; sector++) {
        if (ms->dirty[sector] != 0) continue;
        uint64_t base = sector * MEM_STORAGE_SECTOR_SIZE;
        memcpy(ms->shadow + base, ms->image + base, MEM_STORAGE_SECTOR_SIZE);
        ms->dirty[sector] = 1;
        ms->dirty_count++;
    }
    memmove(ms->image + offset, data, size);
}

bool mem_storage_run_one(struct mem_storage *ms) {
    struct tc_io_storage_op *op = ms->head;
    if (op == NULL) return false;
    ms->head = op->next;
    if (ms->head == NULL) ms->tail = NULL;
    op->next = NULL;
    tc_assert(ms->pending > 0);
    ms->pending--;
    int result = TC_OK;
    switch (op->kind) {
    case TC_IO_STORAGE_READ:
        ms->stats.reads++;
        if (ms_read_error(ms, op->offset_bytes, op->size_bytes)) {
            ms->stats.read_errors++;
            result = TC_EIO;
        } else if (op->size_bytes > 0) {
            memcpy(op->buffer, ms->image + op->offset_bytes, op->size_bytes);
        }
        break;
    case TC_IO_STORAGE_WRITE:
        ms->stats.writes++;
        ms_write_apply(ms, op->offset_bytes, op->buffer, op->size_bytes);
        break;
    case TC_IO_STORAGE_SYNC:
        ms->stats.syncs++;
        // FIFO: every write submitted before this sync has completed; all of them become durable.
        memset(ms->dirty, 0, ms->sector_count);
        ms->dirty_count = 0;
        break;
    default: tc_unreachable();
    }
    op->callback(op, result);
    return true;
}

uint32_t mem_storage_run(struct mem_storage *ms) {
    uint32_t count = 0;
    while (mem_storage_run_one(ms)) {
        count++;
        tc_assert(count < MEM_STORAGE_RUN_MAX);
    }
    return count;
}

uint32_t mem_storage_crash(struct mem_storage *ms, enum mem_storage_crash_mode mode) {
    ms->stats.crashes++;
    ms->head = NULL;
    ms->tail = NULL;
    ms->pending = 0;
    uint32_t changed = 0;
    for (uint32_t sector = 0; sector < ms->sector_count; sector++) {
        if (ms->dirty[sector] == 0) continue;
        uint8_t *now = ms->image + (uint64_t)sector * MEM_STORAGE_SECTOR_SIZE;
        const uint8_t *old = ms->shadow + (uint64_t)sector * MEM_STORAGE_SECTOR_SIZE;
        enum mem_storage_crash_mode choice = mode;
        if (mode == MEM_STORAGE_CRASH_RANDOM) {
            choice = (enum mem_storage_crash_mode)tc_prng_below(&ms->prng, 4);
        }
        switch (choice) {
        case MEM_STORAGE_CRASH_KEEP: break;
        case MEM_STORAGE_CRASH_LOSE:
            memcpy(now, old, MEM_STORAGE_SECTOR_SIZE);
            changed++;
            break;
        case MEM_STORAGE_CRASH_TEAR:
            tc_prng_fill(&ms->prng, now, MEM_STORAGE_SECTOR_SIZE);
            changed++;
            break;
        case MEM_STORAGE_CRASH_RANDOM:
            // Mixed: each 512-byte piece is independently old or new.
            for (uint32_t piece = 0; piece < MEM_STORAGE_SECTOR_SIZE / MEM_STORAGE_PIECE_SIZE;
                 piece++) {
                if (tc_prng_below(&ms->prng, 2) == 0) {
                    memcpy(now + piece * MEM_STORAGE_PIECE_SIZE, old + piece * MEM_STORAGE_PIECE_SIZE,
                           MEM_STORAGE_PIECE_SIZE);
                }
            }
            changed++;
            break;
        default: tc_unreachable();
        }
        ms->dirty[sector] = 0;
    }
    ms->dirty_count = 0;
    return changed;
}

void mem_storage_flip_bit(struct mem_storage *ms, uint64_t offset, uint32_t bit) {
    tc_assert(offset < ms->size_bytes);
    tc_assert(bit < 8);
    ms->image[offset] ^= (uint8_t)(1u << bit);
}

uint64_t mem_storage_flip_random_bit(struct mem_storage *ms, uint64_t offset, uint64_t size) {
    tc_assert(size > 0);
    tc_assert(offset + size <= ms->size_bytes);
    uint64_t at = offset + tc_prng_below(&ms->prng, size);
    mem_storage_flip_bit(ms, at, (uint32_t)tc_prng_below(&ms->prng, 8));
    return at;
}

void mem_storage_fill_garbage(struct mem_storage *ms, uint64_t offset, uint64_t size) {
    tc_assert(offset + size <= ms->size_bytes);
    tc_assert(size <= UINT32_MAX);
    tc_prng_fill(&ms->prng, ms->image + offset, (uint32_t)size);
}

void mem_storage_inject_read_error(struct mem_storage *ms, uint64_t offset, uint64_t size) {
    tc_assert(ms->read_error_count < MEM_STORAGE_READ_ERRORS_MAX);
    tc_assert(size > 0);
    ms->read_errors[ms->read_error_count].offset = offset;
    ms->read_errors[ms->read_error_count].size = size;
    ms->read_error_count++;
}

void mem_storage_clear_read_errors(struct mem_storage *ms) { ms->read_error_count = 0; }

static void ms_format_write(void *context, uint64_t offset, const uint8_t *data, uint32_t size) {
    struct mem_storage *ms = context;
    tc_assert(offset + size <= ms->size_bytes);
    memcpy(ms->image + offset, data, size);
}

void mem_storage_format(struct mem_storage *ms, const struct tc_journal_options *options) {
    struct tc_journal_layout layout;
    tc_journal_layout_init(&layout, options->slot_count, options->checkpoint_size_max);
    tc_assert(layout.storage_size <= ms->size_bytes);
    tc_assert(ms->pending == 0);
    tc_journal_format(options, ms_format_write, ms);
}

void mem_storage_set_realtime(struct mem_storage *ms, uint64_t realtime_ns) {
    ms->realtime_ns = realtime_ns;
}
