#ifndef TC_SIM_ATLAS_H
#define TC_SIM_ATLAS_H

#include <stdbool.h>
#include <stdint.h>

#include "constants.h"

// The fault atlas of one VSR group: decides whether a storage fault (latent read error, bit flip,
// torn garbage) may hit a byte range of one replica, so that every byte stays recoverable from a
// quorum. The storage of a replica is laid out by the journal (see sim_layout.h):
//
//   [superblock copy 0 .. copies-1][header ring: slot_count x 256 B][prepare ring: slot_count x slot]
//
// Rules (a fault, once allowed, is remembered forever: "ever faulted"):
//   - a journal slot may be faulted on at most f = (replica_count - 1) / 2 replicas;
//   - on one replica never both the header-ring entry and the prepare slot of the same journal slot;
//   - at most one superblock copy per replica.
// Bytes outside these areas (padding) may always be faulted.

struct sim_layout {
    uint64_t superblock_offset;     // copy i is at superblock_offset + i * superblock_copy_size
    uint64_t superblock_copy_size;
    uint32_t superblock_copies;
    uint32_t slot_count;            // journal slots
    uint64_t headers_offset;        // slot_count * TC_HEADER_SIZE bytes
    uint64_t prepares_offset;       // slot_count * prepare_slot_size bytes
    uint64_t prepare_slot_size;
    uint64_t checkpoint_offset;     // both checkpoint areas: checkpoint_size bytes
    uint64_t checkpoint_size;
    uint64_t size;                  // total storage bytes
};

struct sim_atlas {
    struct sim_layout layout;
    uint8_t replica_count;
    uint8_t faulty_max; // f
    uint8_t superblock_copy_faulted[TC_REPLICAS_MAX]; // copy index + 1, or 0
    uint8_t *slot_header_faulted;   // per slot: bitset of replicas with a faulted header entry
    uint8_t *slot_prepare_faulted;  // per slot: bitset of replicas with a faulted prepare slot
    uint64_t faults_allowed;
    uint64_t faults_denied;
};

// Checks the layout (areas in order, non-overlapping, inside size). Returns NULL if valid.
const char *sim_layout_invalid(const struct sim_layout *layout);

// Allocates per-slot tables with malloc (the simulator may allocate). Returns 0 or TC_ENOMEM.
int sim_atlas_init(struct sim_atlas *atlas, const struct sim_layout *layout, uint8_t replica_count);
void sim_atlas_deinit(struct sim_atlas *atlas);

// Returns true (and records the fault) if every area touched by [offset, offset + size) of
// `replica` may be faulted; false (recording nothing) otherwise.
bool sim_atlas_fault(struct sim_atlas *atlas, uint8_t replica, uint64_t offset, uint64_t size);

// Number of replicas faulted in `slot` (either ring).
uint32_t sim_atlas_slot_faulty_count(const struct sim_atlas *atlas, uint32_t slot);

#endif
