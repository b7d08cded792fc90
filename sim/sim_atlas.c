#include "sim_atlas.h"

#include <stdlib.h>
#include <string.h>

#include "tc_arena.h"
#include "tc_assert.h"
#include "tc_err.h"

const char *sim_layout_invalid(const struct sim_layout *layout) {
    if (layout->superblock_copies == 0 || layout->superblock_copies > 16) return "superblock copies";
    if (layout->superblock_copy_size == 0) return "superblock copy size";
    if (layout->slot_count == 0) return "slot count";
    if (layout->prepare_slot_size == 0) return "prepare slot size";
    uint64_t superblock_end =
        layout->superblock_offset + layout->superblock_copies * layout->superblock_copy_size;
    uint64_t headers_end = layout->headers_offset + (uint64_t)layout->slot_count * TC_HEADER_SIZE;
    uint64_t prepares_end =
        layout->prepares_offset + (uint64_t)layout->slot_count * layout->prepare_slot_size;
    if (superblock_end > layout->headers_offset) return "superblock overlaps header ring";
    if (headers_end > layout->prepares_offset) return "header ring overlaps prepare ring";
    if (prepares_end > layout->checkpoint_offset) return "prepare ring overlaps checkpoints";
    if (layout->checkpoint_offset + layout->checkpoint_size > layout->size) {
        return "checkpoint areas beyond size";
    }
    return NULL;
}

int sim_atlas_init(struct sim_atlas *atlas, const struct sim_layout *layout,
                   uint8_t replica_count) {
    tc_assert(sim_layout_invalid(layout) == NULL);
    tc_assert(replica_count >= 1 && replica_count <= TC_REPLICAS_MAX);
    memset(atlas, 0, sizeof(*atlas));
    atlas->layout = *layout;
    atlas->replica_count = replica_count;
    atlas->faulty_max = (uint8_t)((replica_count - 1) / 2);
    atlas->slot_header_faulted = calloc(layout->slot_count, 1);
    atlas->slot_prepare_faulted = calloc(layout->slot_count, 1);
    if (atlas->slot_header_faulted == NULL || atlas->slot_prepare_faulted == NULL) {
        sim_atlas_deinit(atlas);
        return TC_ENOMEM;
    }
    return TC_OK;
}

void sim_atlas_deinit(struct sim_atlas *atlas) {
    free(atlas->slot_header_faulted);
    free(atlas->slot_prepare_faulted);
    atlas->slot_header_faulted = NULL;
    atlas->slot_prepare_faulted = NULL;
}

static uint32_t popcount8(uint8_t bits) { return (uint32_t)__builtin_popcount(bits); }

// The slots [*first, *last] of a ring of `slot_size`-byte entries at `ring_offset` that the byte
// range [offset, end) touches. Returns false if it touches none.
static bool ring_slots(const struct sim_atlas *atlas, uint64_t ring_offset, uint64_t slot_size,
                       uint64_t offset, uint64_t end, uint32_t *first, uint32_t *last) {
    uint64_t ring_end = ring_offset + slot_size * atlas->layout.slot_count;
    uint64_t lo = tc_max_u64(offset, ring_offset);
    uint64_t hi = tc_min_u64(end, ring_end);
    if (lo >= hi) return false;
    *first = (uint32_t)((lo - ring_offset) / slot_size);
    *last = (uint32_t)((hi - 1 - ring_offset) / slot_size);
    tc_assert(*first <= *last);
    tc_assert(*last < atlas->layout.slot_count);
    return true;
}

// Which superblock copy the range touches: -1 none, -2 more than one, else the copy index.
static int superblock_copy(const struct sim_atlas *atlas, uint64_t offset, uint64_t end) {
    const struct sim_layout *layout = &atlas->layout;
    int found = -1;
    for (uint32_t copy = 0; copy < layout->superblock_copies; copy++) {
        uint64_t lo = layout->superblock_offset + copy * layout->superblock_copy_size;
        uint64_t hi = lo + layout->superblock_copy_size;
        if (offset < hi && end > lo) {
            if (found != -1) return -2;
            found = (int)copy;
        }
    }
    return found;
}

struct slot_span {
    bool headers;
    bool prepares;
    uint32_t header_first, header_last;
    uint32_t prepare_first, prepare_last;
};

static bool slot_allowed(const struct sim_atlas *atlas, uint8_t replica, uint32_t slot,
                         const struct slot_span *span) {
    uint8_t bit = (uint8_t)(1u << replica);
    uint8_t header = atlas->slot_header_faulted[slot];
    uint8_t prepare = atlas->slot_prepare_faulted[slot];
    if (span->headers && slot >= span->header_first && slot <= span->header_last) header |= bit;
    if (span->prepares && slot >= span->prepare_first && slot <= span->prepare_last) {
        prepare |= bit;
    }
    if ((header & prepare & bit) != 0) return false; // both rings of one slot on one replica
    return popcount8((uint8_t)(header | prepare)) <= atlas->faulty_max;
}

static bool span_allowed(const struct sim_atlas *atlas, uint8_t replica,
                         const struct slot_span *span) {
    if (span->headers) {
        for (uint32_t slot = span->header_first; slot <= span->header_last; slot++) {
            if (!slot_allowed(atlas, replica, slot, span)) return false;
        }
    }
    if (span->prepares) {
        for (uint32_t slot = span->prepare_first; slot <= span->prepare_last; slot++) {
            if (!slot_allowed(atlas, replica, slot, span)) return false;
        }
    }
    return true;
}

static void span_record(struct sim_atlas *atlas, uint8_t replica, const struct slot_span *span) {
    uint8_t bit = (uint8_t)(1u << replica);
    if (span->headers) {
        for (uint32_t slot = span->header_first; slot <= span->header_last; slot++) {
            atlas->slot_header_faulted[slot] |= bit;
        }
    }
    if (span->prepares) {
        for (uint32_t slot = span->prepare_first; slot <= span->prepare_last; slot++) {
            atlas->slot_prepare_faulted[slot] |= bit;
        }
    }
}

// True if the superblock copies the range touches allow a fault on `replica`; sets *copy.
static bool superblock_allowed(const struct sim_atlas *atlas, uint8_t replica, uint64_t offset,
                               uint64_t end, int *copy) {
    *copy = superblock_copy(atlas, offset, end);
    if (*copy == -2) return false; // two copies at once
    if (*copy < 0) return true;
    uint8_t faulted = atlas->superblock_copy_faulted[replica];
    return faulted == 0 || faulted == (uint8_t)(*copy + 1);
}

bool sim_atlas_fault(struct sim_atlas *atlas, uint8_t replica, uint64_t offset, uint64_t size) {
    tc_assert(replica < atlas->replica_count);
    tc_assert(size > 0);
    uint64_t end = offset + size;
    tc_assert(end <= atlas->layout.size);

    int copy = -1;
    struct slot_span span;
    memset(&span, 0, sizeof(span));
    span.headers = ring_slots(atlas, atlas->layout.headers_offset, TC_HEADER_SIZE, offset, end,
                              &span.header_first, &span.header_last);
    span.prepares = ring_slots(atlas, atlas->layout.prepares_offset,
                               atlas->layout.prepare_slot_size, offset, end, &span.prepare_first,
                               &span.prepare_last);
    // Checkpoint areas and the message store zone after them are never faulted: a replica cannot
    // yet repair a damaged checkpoint or store segment from its peers (docs/vsr.md §12,
    // docs/store.md §10), so the simulator keeps those faults out until it can.
    const struct sim_layout *layout = &atlas->layout;
    bool checkpoint = end > layout->checkpoint_offset;
    if (checkpoint || !superblock_allowed(atlas, replica, offset, end, &copy) ||
        !span_allowed(atlas, replica, &span)) {
        atlas->faults_denied += 1;
        return false;
    }
    if (copy >= 0) atlas->superblock_copy_faulted[replica] = (uint8_t)(copy + 1);
    span_record(atlas, replica, &span);
    atlas->faults_allowed += 1;
    return true;
}

uint32_t sim_atlas_slot_faulty_count(const struct sim_atlas *atlas, uint32_t slot) {
    tc_assert(slot < atlas->layout.slot_count);
    return popcount8(
        (uint8_t)(atlas->slot_header_faulted[slot] | atlas->slot_prepare_faulted[slot]));
}
