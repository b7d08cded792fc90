#ifndef TC_SIM_STORAGE_H
#define TC_SIM_STORAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "io.h"
#include "sim_atlas.h"
#include "tc_prng.h"

// The simulated storage of one replica: an in-memory byte image with completion-based reads,
// writes and syncs, and faults.
//
// Semantics:
//  - An operation completes in sim_storage_step after a latency in ticks (0 = later in the same
//    step loop, so a chain of dependent I/Os can finish within one tick as on a real disk; with
//    probability slow_ppm an operation is slow: up to the maximum), never inside the submitting
//    call. Ties complete in submission order.
//  - A write lands in the image when it completes. It is durable only once a sync of its zone
//    that was submitted after the write completed has itself completed, even if the sector is
//    written again before that sync completes (the covered version then becomes the sector's
//    shadow).
//  - Per 4096-byte sector, the storage remembers the content at the last sync (a shadow copy)
//    for sectors written since ("dirty").
//  - Process crash (SIGKILL, page cache intact): dirty sectors survive and stay dirty; each
//    in-flight write either lands or not; in-flight reads and syncs vanish. No callbacks.
//  - Machine crash (power loss): each in-flight write lands partially or not at all, then every
//    dirty sector is independently kept, lost (restored to its shadow) or torn (a mix of old and
//    new 512-byte pieces, or garbage where the atlas allows). No callbacks.
//  - Latent read errors: a read may mark a sector it touches bad (if the atlas allows); a read
//    touching a bad sector completes with TC_EIO until the sector is rewritten.
//  - Bit flips: a completed write may flip one random bit of the range it wrote (atlas allowing),
//    persistently.
//  - Slow bulk flushes (flush_slow_ticks_max > 0): a sync of any zone but the first (checkpoint
//    areas, message store: synced rarely and in bulk, docs/vsr.md §11.6) takes
//    [flush_slow_ticks_max / 4, flush_slow_ticks_max] ticks, as a real disk flushing half a ring
//    of data can; the journal's syncs keep their latency. Drawn from their own PRNG, so a storage
//    without them keeps the schedule it had before they existed.

#define SIM_SECTOR_SIZE 4096u
#define SIM_TORN_PIECE_SIZE 512u

struct sim_storage_options {
    uint64_t size_bytes;
    uint64_t seed;
    uint32_t ops_max;            // in-flight operations (asserted)
    uint32_t latency_min_ticks;  // read/write
    uint32_t latency_max_ticks;
    uint32_t slow_ppm;           // chance an operation takes [1, max] ticks instead of min
    uint32_t sync_latency_max_ticks;
    uint32_t read_error_ppm;     // per read: chance to make one touched sector latently bad
    uint32_t bit_flip_ppm;       // per write: chance to flip a bit of the written range
    uint32_t crash_keep_ppm;     // machine crash: chance a dirty sector is kept ...
    uint32_t crash_torn_ppm;     // ... else torn with this chance, else lost
    struct sim_atlas *atlas;     // NULL: no confinement
    uint8_t replica;             // index in the atlas
    // Zones (node/io.h): a sync makes durable only the writes of the zone holding its offset.
    // zone_count 0: one zone, the whole storage.
    uint32_t zone_count;
    uint64_t zone_offsets[4];    // ascending; zone i is [zone_offsets[i], zone_offsets[i + 1])
    uint32_t flush_slow_ticks_max; // 0: off; see "Slow bulk flushes"
};

struct sim_storage_stats {
    uint64_t reads;
    uint64_t writes;
    uint64_t syncs;
    uint64_t read_errors;      // reads completed with TC_EIO
    uint64_t bad_sectors;      // sectors made latently bad
    uint64_t bit_flips;
    uint64_t lost_sectors;     // unsynced sectors lost at machine crashes
    uint64_t torn_sectors;     // unsynced sectors torn at machine crashes
    uint64_t faults_denied;    // by the atlas
    uint64_t flushes_slow;     // syncs of a bulk zone made slow
};

struct sim_storage_pending {
    struct tc_io_storage_op *op;
    uint64_t ready_tick;
    uint64_t sequence;
    uint32_t sync_epoch; // for syncs: writes completed in epochs <= this become durable ...
    uint32_t reserved;
    uint64_t sync_zone_start; // ... in this zone
    uint64_t sync_zone_end;
};

struct sim_storage {
    struct sim_storage_options options;
    struct tc_prng prng;
    struct tc_prng flush_prng; // slow bulk flushes only (keeps prng's stream as it was)
    uint8_t *image;        // size_bytes
    uint8_t *shadow;       // size_bytes: sector content at the last sync, valid for dirty sectors
    uint8_t *covered;      // size_bytes: an older version of a re-dirtied sector that a sync in
                           // flight covers (becomes the shadow when that sync completes)
    uint32_t *covered_epoch; // per sector: 0 none, else the epoch of the covered version
    uint32_t *dirty_epoch; // per sector: 0 clean, else the epoch of the last write
    uint32_t *dirty_list;  // sectors with dirty_epoch != 0
    uint32_t dirty_count;
    uint8_t *bad;          // per sector: latent read error
    uint32_t sector_count;
    uint32_t epoch;        // incremented at every sync submission
    struct sim_storage_pending *pending;
    uint32_t pending_count;
    bool faults_enabled;
    uint64_t now_tick;
    uint64_t sequence;
    struct sim_storage_stats stats;
};

int sim_storage_init(struct sim_storage *storage, const struct sim_storage_options *options);
void sim_storage_deinit(struct sim_storage *storage);

// Synchronous, durable write (formatting before the replica starts). Asserts nothing is pending.
void sim_storage_write_direct(struct sim_storage *storage, uint64_t offset, const uint8_t *data,
                              uint32_t size);

void sim_storage_submit(struct sim_storage *storage, enum tc_io_storage_kind kind,
                        struct tc_io_storage_op *op);
// Completes every operation ready at `now_tick`, including ones submitted by callbacks with zero
// latency. Returns the number of completions.
uint32_t sim_storage_step(struct sim_storage *storage, uint64_t now_tick);
// The same, but stops after `completions_max` completions (a crash can strike between a write's
// completion and the sync that would make it durable).
uint32_t sim_storage_step_limit(struct sim_storage *storage, uint64_t now_tick,
                                uint32_t completions_max);

void sim_storage_crash_process(struct sim_storage *storage);
void sim_storage_crash_machine(struct sim_storage *storage);

bool sim_storage_sector_dirty(const struct sim_storage *storage, uint32_t sector);
uint32_t sim_storage_dirty_count(const struct sim_storage *storage);
// True if a write is in flight or a completed write is not yet synced.
bool sim_storage_at_risk(const struct sim_storage *storage);

#endif
