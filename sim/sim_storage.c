#include "sim_storage.h"

#include <stdlib.h>
#include <string.h>

#include "tc_arena.h"
#include "tc_assert.h"
#include "tc_err.h"

#define SIM_STORAGE_STEP_COMPLETIONS_MAX 1000000u
#define SIM_STORAGE_FLUSH_SEED_SALT 0x9e3779b97f4a7c15ull

static uint32_t sector_of(uint64_t offset) { return (uint32_t)(offset / SIM_SECTOR_SIZE); }

static uint32_t sector_bytes(const struct sim_storage *storage, uint32_t sector) {
    uint64_t start = (uint64_t)sector * SIM_SECTOR_SIZE;
    tc_assert(start < storage->options.size_bytes);
    return (uint32_t)tc_min_u64(SIM_SECTOR_SIZE, storage->options.size_bytes - start);
}

static void storage_invariants(const struct sim_storage *storage) {
    tc_assert(storage->image != NULL);
    tc_assert(storage->dirty_count <= storage->sector_count);
    tc_assert(storage->pending_count <= storage->options.ops_max);
    tc_assert(storage->epoch >= 1);
}

int sim_storage_init(struct sim_storage *storage, const struct sim_storage_options *options) {
    tc_assert(options->size_bytes > 0);
    tc_assert(options->ops_max > 0);
    tc_assert(options->latency_min_ticks <= options->latency_max_ticks);
    tc_assert(options->crash_keep_ppm + options->crash_torn_ppm <= 1000000u);
    memset(storage, 0, sizeof(*storage));
    storage->options = *options;
    tc_prng_init(&storage->prng, options->seed);
    tc_prng_init(&storage->flush_prng, options->seed ^ SIM_STORAGE_FLUSH_SEED_SALT);
    storage->sector_count = (uint32_t)tc_div_ceil(options->size_bytes, SIM_SECTOR_SIZE);
    // calloc of large regions maps zero pages lazily: untouched storage costs nothing.
    storage->image = calloc(1, options->size_bytes);
    storage->shadow = calloc(1, options->size_bytes);
    storage->covered = calloc(1, options->size_bytes);
    storage->covered_epoch = calloc(storage->sector_count, sizeof(uint32_t));
    storage->dirty_epoch = calloc(storage->sector_count, sizeof(uint32_t));
    storage->dirty_list = calloc(storage->sector_count, sizeof(uint32_t));
    storage->bad = calloc(storage->sector_count, 1);
    storage->pending = calloc(options->ops_max, sizeof(struct sim_storage_pending));
    if (storage->image == NULL || storage->shadow == NULL || storage->covered == NULL ||
        storage->covered_epoch == NULL || storage->dirty_epoch == NULL ||
        storage->dirty_list == NULL || storage->bad == NULL || storage->pending == NULL) {
        sim_storage_deinit(storage);
        return TC_ENOMEM;
    }
    storage->epoch = 1;
    storage->faults_enabled = true;
    storage_invariants(storage);
    return TC_OK;
}

void sim_storage_deinit(struct sim_storage *storage) {
    free(storage->image);
    free(storage->shadow);
    free(storage->covered);
    free(storage->covered_epoch);
    free(storage->dirty_epoch);
    free(storage->dirty_list);
    free(storage->bad);
    free(storage->pending);
    memset(storage, 0, sizeof(*storage));
}

static void range_check(const struct sim_storage *storage, uint64_t offset, uint64_t size) {
    tc_assert(size > 0);
    tc_assert(offset < storage->options.size_bytes);
    tc_assert(size <= storage->options.size_bytes - offset);
}

void sim_storage_write_direct(struct sim_storage *storage, uint64_t offset, const uint8_t *data,
                              uint32_t size) {
    range_check(storage, offset, size);
    tc_assert(storage->pending_count == 0);
    memcpy(storage->image + offset, data, size);
}

static bool fault_allowed(struct sim_storage *storage, uint64_t offset, uint64_t size) {
    if (!storage->faults_enabled) return false;
    if (storage->options.atlas == NULL) return true;
    if (sim_atlas_fault(storage->options.atlas, storage->options.replica, offset, size)) {
        return true;
    }
    storage->stats.faults_denied += 1;
    return false;
}

// Maybe makes one sector touched by a read latently bad.
static void read_fault_maybe(struct sim_storage *storage, const struct tc_io_storage_op *op) {
    if (!storage->faults_enabled) return;
    if (!tc_prng_chance_ppm(&storage->prng, storage->options.read_error_ppm)) return;
    uint32_t first = sector_of(op->offset_bytes);
    uint32_t last = sector_of(op->offset_bytes + op->size_bytes - 1);
    uint32_t sector = (uint32_t)tc_prng_range(&storage->prng, first, last);
    if (storage->bad[sector] != 0) return;
    if (!fault_allowed(storage, (uint64_t)sector * SIM_SECTOR_SIZE, sector_bytes(storage, sector))) {
        return;
    }
    storage->bad[sector] = 1;
    storage->stats.bad_sectors += 1;
}

// The zone [start, end) holding `offset` (a sync names its zone by any offset inside it).
static void sync_zone(const struct sim_storage *storage, uint64_t offset, uint64_t *start,
                      uint64_t *end) {
    const struct sim_storage_options *options = &storage->options;
    tc_assert(offset < options->size_bytes);
    *start = 0;
    *end = options->size_bytes;
    for (uint32_t i = 0; i < options->zone_count; i++) {
        uint64_t zone_end = i + 1 < options->zone_count ? options->zone_offsets[i + 1]
                                                        : options->size_bytes;
        if (offset >= options->zone_offsets[i] && offset < zone_end) {
            *start = options->zone_offsets[i];
            *end = zone_end;
        }
    }
    tc_assert(*start <= offset && offset < *end);
}

void sim_storage_submit(struct sim_storage *storage, enum tc_io_storage_kind kind,
                        struct tc_io_storage_op *op) {
    storage_invariants(storage);
    tc_assert(op != NULL);
    tc_assert(op->callback != NULL);
    tc_assert(storage->pending_count < storage->options.ops_max);
    for (uint32_t i = 0; i < storage->pending_count; i++) tc_assert(storage->pending[i].op != op);
    op->kind = (uint8_t)kind;
    op->next = NULL;
    struct sim_storage_pending *pending = &storage->pending[storage->pending_count];
    memset(pending, 0, sizeof(*pending));
    pending->op = op;
    pending->sequence = storage->sequence++;
    bool slow = tc_prng_chance_ppm(&storage->prng, storage->options.slow_ppm);
    uint64_t latency = 0;
    if (kind == TC_IO_STORAGE_SYNC) {
        pending->sync_epoch = storage->epoch;
        storage->epoch += 1;
        sync_zone(storage, op->offset_bytes, &pending->sync_zone_start, &pending->sync_zone_end);
        if (slow) latency = tc_prng_range(&storage->prng, 0, storage->options.sync_latency_max_ticks);
        const uint32_t flush_max = storage->options.flush_slow_ticks_max;
        if (flush_max > 0 && pending->sync_zone_start > 0) {
            latency += tc_prng_range(&storage->flush_prng, flush_max / 4, flush_max);
            storage->stats.flushes_slow += 1;
        }
    } else {
        tc_assert(kind == TC_IO_STORAGE_READ || kind == TC_IO_STORAGE_WRITE);
        tc_assert(op->buffer != NULL);
        range_check(storage, op->offset_bytes, op->size_bytes);
        latency = storage->options.latency_min_ticks;
        if (slow) {
            latency = tc_prng_range(&storage->prng, storage->options.latency_min_ticks,
                                    storage->options.latency_max_ticks);
        }
        if (kind == TC_IO_STORAGE_READ) read_fault_maybe(storage, op);
    }
    pending->ready_tick = storage->now_tick + latency;
    storage->pending_count += 1;
}

static void sector_dirty(struct sim_storage *storage, uint32_t sector) {
    tc_assert(sector < storage->sector_count);
    uint64_t start = (uint64_t)sector * SIM_SECTOR_SIZE;
    if (storage->dirty_epoch[sector] == 0) {
        memcpy(storage->shadow + start, storage->image + start, sector_bytes(storage, sector));
        tc_assert(storage->dirty_count < storage->sector_count);
        storage->dirty_list[storage->dirty_count++] = sector;
    } else if (storage->dirty_epoch[sector] < storage->epoch) {
        // A sync was submitted after this sector's last write: that content becomes durable when
        // the sync completes, even though this write re-dirties the sector (two headers of one
        // header-ring sector written on either side of a group sync). Keep it as the covered copy.
        // One covered copy per sector: if a third version arrives while the sync of the second is
        // in flight, the first's durability is forgotten (conservative: more loss, never less).
        memcpy(storage->covered + start, storage->image + start, sector_bytes(storage, sector));
        storage->covered_epoch[sector] = storage->dirty_epoch[sector];
    }
    storage->dirty_epoch[sector] = storage->epoch;
}

// Lands `size` bytes of a write in the image: dirty tracking, and a rewrite clears latent errors.
static void write_land(struct sim_storage *storage, uint64_t offset, const uint8_t *data,
                       uint64_t size) {
    range_check(storage, offset, size);
    uint32_t last = sector_of(offset + size - 1);
    for (uint32_t sector = sector_of(offset); sector <= last; sector++) {
        sector_dirty(storage, sector);
        storage->bad[sector] = 0;
    }
    memcpy(storage->image + offset, data, size);
}

static void bit_flip_maybe(struct sim_storage *storage, uint64_t offset, uint64_t size) {
    if (!storage->faults_enabled) return;
    if (!tc_prng_chance_ppm(&storage->prng, storage->options.bit_flip_ppm)) return;
    uint64_t byte = offset + tc_prng_below(&storage->prng, size);
    if (!fault_allowed(storage, byte, 1)) return;
    storage->image[byte] ^= (uint8_t)(1u << tc_prng_below(&storage->prng, 8));
    storage->stats.bit_flips += 1;
}

static int complete_read(struct sim_storage *storage, struct tc_io_storage_op *op) {
    storage->stats.reads += 1;
    uint32_t last = sector_of(op->offset_bytes + op->size_bytes - 1);
    for (uint32_t sector = sector_of(op->offset_bytes); sector <= last; sector++) {
        if (storage->bad[sector] != 0) {
            storage->stats.read_errors += 1;
            return TC_EIO;
        }
    }
    memcpy(op->buffer, storage->image + op->offset_bytes, op->size_bytes);
    return TC_OK;
}

static void complete_sync(struct sim_storage *storage, const struct sim_storage_pending *sync) {
    storage->stats.syncs += 1;
    uint32_t sync_epoch = sync->sync_epoch;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < storage->dirty_count; i++) {
        uint32_t sector = storage->dirty_list[i];
        tc_assert(storage->dirty_epoch[sector] != 0);
        uint64_t offset = (uint64_t)sector * SIM_SECTOR_SIZE;
        if (offset < sync->sync_zone_start || offset >= sync->sync_zone_end) {
            storage->dirty_list[kept++] = sector; // another zone: this sync does not cover it
            continue;
        }
        if (storage->dirty_epoch[sector] <= sync_epoch) {
            storage->dirty_epoch[sector] = 0; // durable
            storage->covered_epoch[sector] = 0;
        } else {
            if (storage->covered_epoch[sector] != 0 && storage->covered_epoch[sector] <= sync_epoch) {
                // The version this sync covered is durable: it is what a power loss falls back to.
                uint64_t start = (uint64_t)sector * SIM_SECTOR_SIZE;
                memcpy(storage->shadow + start, storage->covered + start,
                       sector_bytes(storage, sector));
                storage->covered_epoch[sector] = 0;
            }
            storage->dirty_list[kept++] = sector;
        }
    }
    storage->dirty_count = kept;
}

// The index of the next operation ready at now_tick (lowest ready tick, then sequence), or -1.
static int64_t pending_next(const struct sim_storage *storage) {
    int64_t best = -1;
    for (uint32_t i = 0; i < storage->pending_count; i++) {
        const struct sim_storage_pending *p = &storage->pending[i];
        if (p->ready_tick > storage->now_tick) continue;
        if (best == -1) {
            best = i;
            continue;
        }
        const struct sim_storage_pending *b = &storage->pending[best];
        if (p->ready_tick < b->ready_tick ||
            (p->ready_tick == b->ready_tick && p->sequence < b->sequence)) {
            best = i;
        }
    }
    return best;
}

static void pending_remove(struct sim_storage *storage, uint32_t index) {
    tc_assert(index < storage->pending_count);
    storage->pending[index] = storage->pending[storage->pending_count - 1];
    storage->pending_count -= 1;
}

uint32_t sim_storage_step(struct sim_storage *storage, uint64_t now_tick) {
    uint32_t completions =
        sim_storage_step_limit(storage, now_tick, SIM_STORAGE_STEP_COMPLETIONS_MAX);
    tc_assert(completions < SIM_STORAGE_STEP_COMPLETIONS_MAX);
    return completions;
}

uint32_t sim_storage_step_limit(struct sim_storage *storage, uint64_t now_tick,
                                uint32_t completions_max) {
    storage_invariants(storage);
    tc_assert(now_tick >= storage->now_tick);
    tc_assert(completions_max <= SIM_STORAGE_STEP_COMPLETIONS_MAX);
    storage->now_tick = now_tick;
    uint32_t completions = 0;
    for (; completions < completions_max; completions++) {
        int64_t index = pending_next(storage);
        if (index < 0) break;
        struct sim_storage_pending pending = storage->pending[index];
        pending_remove(storage, (uint32_t)index);
        struct tc_io_storage_op *op = pending.op;
        int result = TC_OK;
        if (op->kind == TC_IO_STORAGE_READ) {
            result = complete_read(storage, op);
        } else if (op->kind == TC_IO_STORAGE_WRITE) {
            storage->stats.writes += 1;
            write_land(storage, op->offset_bytes, op->buffer, op->size_bytes);
            bit_flip_maybe(storage, op->offset_bytes, op->size_bytes);
        } else {
            tc_assert(op->kind == TC_IO_STORAGE_SYNC);
            complete_sync(storage, &pending);
        }
        op->callback(op, result);
    }
    storage_invariants(storage);
    return completions;
}

// Resolves one dirty sector at a machine crash: a mix of old and new 512-byte pieces, and maybe a
// garbage piece where the atlas allows.
static void sector_tear(struct sim_storage *storage, uint32_t sector) {
    uint64_t start = (uint64_t)sector * SIM_SECTOR_SIZE;
    uint32_t bytes = sector_bytes(storage, sector);
    for (uint32_t piece = 0; piece < bytes; piece += SIM_TORN_PIECE_SIZE) {
        uint32_t piece_bytes = tc_min_u32(SIM_TORN_PIECE_SIZE, bytes - piece);
        if (tc_prng_below(&storage->prng, 2) == 0) {
            memcpy(storage->image + start + piece, storage->shadow + start + piece, piece_bytes);
        }
    }
    if (tc_prng_below(&storage->prng, 4) == 0 && fault_allowed(storage, start, bytes)) {
        uint32_t piece = (uint32_t)tc_prng_below(&storage->prng, tc_div_ceil(bytes, SIM_TORN_PIECE_SIZE)) * SIM_TORN_PIECE_SIZE;
        tc_prng_fill(&storage->prng, storage->image + start + piece,
                     tc_min_u32(SIM_TORN_PIECE_SIZE, bytes - piece));
    }
}

static void dirty_resolve_machine_crash(struct sim_storage *storage) {
    for (uint32_t i = 0; i < storage->dirty_count; i++) {
        uint32_t sector = storage->dirty_list[i];
        tc_assert(storage->dirty_epoch[sector] != 0);
        uint64_t draw = tc_prng_below(&storage->prng, 1000000);
        if (draw < storage->options.crash_keep_ppm) {
            // Kept: the write had reached the platter.
        } else if (draw < (uint64_t)storage->options.crash_keep_ppm + storage->options.crash_torn_ppm) {
            sector_tear(storage, sector);
            storage->stats.torn_sectors += 1;
        } else {
            uint64_t start = (uint64_t)sector * SIM_SECTOR_SIZE;
            memcpy(storage->image + start, storage->shadow + start, sector_bytes(storage, sector));
            storage->stats.lost_sectors += 1;
        }
        storage->dirty_epoch[sector] = 0;
        storage->covered_epoch[sector] = 0;
    }
    storage->dirty_count = 0;
}

void sim_storage_crash_machine(struct sim_storage *storage) {
    storage_invariants(storage);
    // In-flight writes: nothing, or a prefix of their sectors reached the page cache (then the
    // dirty resolution below decides what reached the disk).
    for (uint32_t i = 0; i < storage->pending_count; i++) {
        struct tc_io_storage_op *op = storage->pending[i].op;
        if (op->kind != TC_IO_STORAGE_WRITE) continue;
        if (tc_prng_below(&storage->prng, 2) == 0) continue;
        uint64_t landed = tc_prng_range(&storage->prng, 1, op->size_bytes);
        write_land(storage, op->offset_bytes, op->buffer, landed);
    }
    storage->pending_count = 0;
    dirty_resolve_machine_crash(storage);
    storage_invariants(storage);
}

void sim_storage_crash_process(struct sim_storage *storage) {
    storage_invariants(storage);
    // The kernel owns the page cache: an in-flight write either was copied in full or not at all.
    for (uint32_t i = 0; i < storage->pending_count; i++) {
        struct tc_io_storage_op *op = storage->pending[i].op;
        if (op->kind != TC_IO_STORAGE_WRITE) continue;
        if (tc_prng_below(&storage->prng, 2) == 0) continue;
        write_land(storage, op->offset_bytes, op->buffer, op->size_bytes);
    }
    storage->pending_count = 0;
    storage_invariants(storage);
}

bool sim_storage_sector_dirty(const struct sim_storage *storage, uint32_t sector) {
    tc_assert(sector < storage->sector_count);
    return storage->dirty_epoch[sector] != 0;
}

uint32_t sim_storage_dirty_count(const struct sim_storage *storage) { return storage->dirty_count; }

bool sim_storage_at_risk(const struct sim_storage *storage) {
    if (storage->dirty_count > 0) return true;
    for (uint32_t i = 0; i < storage->pending_count; i++) {
        if (storage->pending[i].op->kind == TC_IO_STORAGE_WRITE) return true;
    }
    return false;
}
