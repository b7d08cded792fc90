#ifndef TC_JOURNAL_H
#define TC_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "header.h"
#include "io.h"
#include "tc_arena.h"

// The write-ahead log of one group replica: a preallocated storage region holding
//
//   [superblock: TC_SUPERBLOCK_COPIES x TC_SECTOR_SIZE]
//   [header ring: slot_count x 256 B, rounded up to a sector]   redundant copy of each prepare header
//   [prepare ring: slot_count x TC_MESSAGE_SIZE_MAX]            each prepare byte for byte
//   [checkpoint areas: 2 x checkpoint_size_max, sector aligned]  alternate; the superblock names one
//
// Slot of op = op % slot_count. The ring holds ops [C, C + slot_count) where C is the durable
// checkpoint op: writing op x overwrites x - slot_count, which the checkpoint already covers.
// An empty slot holds a reserved header whose op is the slot index (exposes misdirected I/O). Writing op k: prepare into its slot, then its header into the header
// ring, then sync; only after the sync is the op durable (prepare_ok may be sent).
// See docs/vsr.md "On-disk layout" and "Recovery".

struct tc_journal_layout {
    uint32_t slot_count;
    uint64_t superblock_offset;
    uint64_t superblock_size;   // all copies
    uint64_t header_ring_offset;
    uint64_t header_ring_size;
    uint64_t prepare_ring_offset;
    uint64_t prepare_ring_size;
    uint64_t checkpoint_area_offset; // area i at checkpoint_area_offset + i * checkpoint_area_size
    uint64_t checkpoint_area_size;
    uint64_t storage_size;
};

void tc_journal_layout_init(struct tc_journal_layout *layout, uint32_t slot_count,
                            uint64_t checkpoint_size_max);

// One superblock copy (TC_SECTOR_SIZE bytes on disk). Copies are written one at a time, each
// followed by a sync, so a crash tears at most one copy; the newest valid copy wins on open, and
// copies that disagree are all rewritten before recovery continues.
struct tc_superblock {
    struct tc_checksum checksum; // over the bytes after this field
    uint64_t cluster;
    uint64_t sequence;           // +1 per write
    uint32_t group;
    uint32_t slot_count;
    uint32_t view;
    uint32_t log_view;
    uint32_t view_headers_count; // headers of the log suffix as of log_view (ascending op)
    uint8_t replica;
    uint8_t replica_count;
    uint8_t copy;                // which copy this is (catches misdirected I/O)
    uint8_t version;
    uint64_t replica_id;         // identity drawn at format (vsr.md §11.4); checked at open
    struct tc_header view_headers[TC_VIEW_HEADERS_MAX];
    // The durable checkpoint: the state after applying op checkpoint_op (0 and size 0: the
    // initial, empty state), its bytes in checkpoint area `checkpoint_area`, their checksum.
    uint64_t checkpoint_op;
    uint64_t checkpoint_size;
    struct tc_checksum checkpoint_id;
    uint32_t checkpoint_area;
    uint32_t checkpoint_reserved;
    struct tc_header checkpoint_header; // the prepare of checkpoint_op: anchors the hash chain
    // The highest epoch this replica acted in as a member (voted, acknowledged, led) and that
    // epoch's configuration (the replica id per slot; all zero for epoch 0, whose configuration
    // is the group's static member list). After a restart the replica acts in this configuration
    // even while its state replays from an older checkpoint (docs/vsr.md §11.4).
    uint32_t epoch;
    uint32_t epoch_reserved;
    uint64_t epoch_members[TC_REPLICAS_MAX];
    // The reconfigure op that began `epoch` and its prepare's checksum (0 for epoch 0): committed,
    // so recovery keeps the ops up to it whatever view wrote them (a follower repaired them).
    uint64_t epoch_op;
    struct tc_checksum epoch_op_checksum;
};
_Static_assert(sizeof(struct tc_superblock) <= TC_SECTOR_SIZE, "superblock fits a sector");

#define TC_SUPERBLOCK_VERSION 4u

// In-memory state of each slot after recovery and during operation.
enum tc_slot_state {
    TC_SLOT_EMPTY = 0,  // nothing of ours here (reserved header in memory)
    TC_SLOT_CLEAN = 1,  // header known and its prepare durable on our disk
    TC_SLOT_DIRTY = 2,  // header known (part of our log), prepare not durable here yet
    TC_SLOT_FAULTY = 3, // disk copy corrupt and the op's header unknown: never a nack
};

#define TC_JOURNAL_WRITES_MAX (2u * TC_PIPELINE_PREPARE_MAX)
#define TC_JOURNAL_READS_MAX 8u

struct tc_journal;

typedef void (*tc_journal_write_cb)(void *context, uint64_t op, const struct tc_checksum *checksum,
                                    int result);
typedef void (*tc_journal_read_cb)(void *context, uint8_t *buffer, uint64_t op, int result);
typedef void (*tc_journal_superblock_cb)(void *context, int result);
typedef void (*tc_journal_recover_cb)(void *context, int result);
typedef void (*tc_journal_checkpoint_cb)(void *context, uint64_t op, int result);

struct tc_journal_options {
    uint64_t cluster;
    uint32_t group;
    uint8_t replica;
    uint8_t replica_count;
    uint64_t replica_id;          // non-zero identity written at format, checked at recovery
    uint32_t slot_count;
    uint64_t checkpoint_size_max; // bytes of the largest encoded state (the replica computes it)
    struct tc_io *io;
    void *context; // passed to every callback
    tc_journal_write_cb write_callback;
    tc_journal_read_cb read_callback;
    tc_journal_superblock_cb superblock_callback;
    tc_journal_recover_cb recover_callback;
    tc_journal_checkpoint_cb checkpoint_callback;
};

uint64_t tc_journal_memory_size(uint32_t slot_count, uint64_t checkpoint_size_max);
int tc_journal_init(struct tc_journal **out, const struct tc_journal_options *options,
                    struct tc_arena *arena);

// A fresh journal image: superblock copies (view 0), reserved headers, reserved prepare slots, and
// the root prepare (op 0) in slot 0.
void tc_journal_format(const struct tc_journal_options *options,
                       void (*write)(void *context, uint64_t offset, const uint8_t *data,
                                     uint32_t size),
                       void *write_context);

// Recovery: reads every superblock copy and every slot, classifies each slot (docs/vsr.md table).
// Calls recover_callback(context, TC_OK) or an error (no valid superblock: TC_ECORRUPT).
void tc_journal_recover(struct tc_journal *journal);

// After a failed recovery: why, beyond the superblock copies (e.g. a checkpoint mismatch), or NULL.
const char *tc_journal_recover_error(const struct tc_journal *journal);
// After a failed recovery (TC_ECORRUPT): why superblock copy `copy` was rejected, or NULL.
const char *tc_journal_superblock_copy_invalid(const struct tc_journal *journal, uint32_t copy);

// Results of recovery.
const struct tc_superblock *tc_journal_superblock(const struct tc_journal *journal);
// Highest op with an in-memory header (CLEAN or DIRTY); FAULTY slots are not counted.
uint64_t tc_journal_recovered_op_max(const struct tc_journal *journal);
bool tc_journal_recovered_faulty_above(const struct tc_journal *journal, uint64_t op);

// Slot access by op. Ops below the durable checkpoint may still be present until overwritten.
enum tc_slot_state tc_journal_slot_state(const struct tc_journal *journal, uint64_t op);
// The header of op if the slot is CLEAN or DIRTY with a header for exactly this op, else NULL.
const struct tc_header *tc_journal_header(const struct tc_journal *journal, uint64_t op);
// Installs `header` as the log's entry for header->op: CLEAN if the same checksum is already
// durable, else DIRTY. Returns true if the slot's entry changed.
bool tc_journal_set_header(struct tc_journal *journal, const struct tc_header *header);
// Forgets op (EMPTY) — truncation of entries above a new head. Never for durable-acked state: the
// caller decides (see docs/vsr.md).
void tc_journal_remove(struct tc_journal *journal, uint64_t op);
// Keeps the header but marks the prepare as not durable here (a read found it corrupt): DIRTY.
void tc_journal_mark_dirty(struct tc_journal *journal, uint64_t op);
// Whether a DIRTY slot's version was once durable here (so it may have been acknowledged): such an
// entry is never a nack. A DIRTY slot without it never held this version durably.
bool tc_journal_slot_corrupt(const struct tc_journal *journal, uint64_t op);
// Marks the slot FAULTY (unknown header).
void tc_journal_mark_faulty(struct tc_journal *journal, uint64_t op);
uint32_t tc_journal_faulty_count(const struct tc_journal *journal);
bool tc_journal_writing(const struct tc_journal *journal, uint64_t op);

// Writes a full prepare message (header + body, contiguous; copied: the caller may reuse it).
// The slot must hold this header already (tc_journal_set_header). TC_EBUSY when all write slots
// are in use or the slot is being written: the caller retries later (the prepare is resent).
int tc_journal_write_prepare(struct tc_journal *journal, const uint8_t *message);
// Reads op's prepare into buffer (TC_MESSAGE_SIZE_MAX bytes) and verifies it against `checksum`:
// result TC_OK, TC_ECORRUPT (then the slot is marked FAULTY... by the caller) or TC_EIO.
int tc_journal_read_prepare(struct tc_journal *journal, uint64_t op,
                            const struct tc_checksum *checksum, uint8_t *buffer);
uint32_t tc_journal_reads_free(const struct tc_journal *journal);

// Persists view/log_view/view headers. Writes are serialized; a request while one is in flight is
// coalesced (the newest state is written next). The callback fires when a write completes.
void tc_journal_write_superblock(struct tc_journal *journal, uint32_t view, uint32_t log_view,
                                 const struct tc_header *view_headers, uint32_t count);
// The epoch the next superblock writes persist (monotonic; the view change into a new epoch writes
// it before the replica acts in that epoch). 0 at format.
// The configuration a replica acts in (docs/vsr.md §11.4), persisted with the next view write.
struct tc_journal_epoch {
    uint32_t epoch;
    uint64_t members[TC_REPLICAS_MAX];
    uint64_t op;                 // the reconfigure op that began it
    struct tc_checksum checksum; // that op's prepare checksum
};
void tc_journal_set_epoch(struct tc_journal *journal, const struct tc_journal_epoch *epoch);
uint32_t tc_journal_durable_epoch(const struct tc_journal *journal);
// The (view, log_view) currently durable, and whether a write is pending/in flight.
uint32_t tc_journal_durable_view(const struct tc_journal *journal);
uint32_t tc_journal_durable_log_view(const struct tc_journal *journal);
bool tc_journal_superblock_busy(const struct tc_journal *journal);

// Checkpoints (docs/vsr.md §11). The caller encodes the state after applying `header->op` into
// tc_journal_checkpoint_buffer() (at most checkpoint_size_max bytes), then calls
// tc_journal_write_checkpoint: the bytes go to the area the durable superblock does not name, are
// synced, and then the superblock names them; checkpoint_callback(op, result) fires after that.
// One checkpoint write at a time (tc_journal_checkpoint_busy).
uint8_t *tc_journal_checkpoint_buffer(struct tc_journal *journal);
bool tc_journal_checkpoint_busy(const struct tc_journal *journal);
void tc_journal_write_checkpoint(struct tc_journal *journal, const struct tc_header *header,
                                 uint64_t size);
// The durable checkpoint op (the ring holds ops [checkpoint_op, checkpoint_op + slot_count)).
uint64_t tc_journal_checkpoint_op(const struct tc_journal *journal);
// After recovery: the durable checkpoint's bytes (verified against its id), in the buffer.
const uint8_t *tc_journal_checkpoint_recovered(const struct tc_journal *journal, uint64_t *size);

#endif
