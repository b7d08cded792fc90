#ifndef TC_STORE_FORMAT_H
#define TC_STORE_FORMAT_H

// The message store's on-disk encodings (docs/store.md §2): segment header, records (message and
// seal), tower pointers. Little-endian, byte by byte; every decoder verifies checksums and
// structure and never reads outside the bytes it is given.

#include <stdbool.h>
#include <stdint.h>

#include "store.h"
#include "tc_checksum.h"

#define STORE_SEGMENT_MAGIC 0x47534354u // "TCSG" little-endian
#define STORE_FORMAT_VERSION 1u
#define STORE_RECORD_MESSAGE 1u
#define STORE_RECORD_SEAL 2u

struct store_pointer {
    uint64_t segment;   // logical segment number
    uint32_t offset;    // of the run's first record in the segment
    uint64_t seq_first; // the run's first seq
    uint64_t timestamp_first;
};

struct store_record {
    struct tc_checksum checksum;
    uint8_t kind;
    uint8_t pointer_count;
    uint32_t size; // whole record, multiple of 8
    uint64_t room;
    uint64_t seq;
    uint64_t op;
    uint64_t thread_parent_seq;
    uint64_t thread_seq;
    uint64_t sender;
    uint64_t timestamp_ns;
    struct tc_hash256 hash;
    struct tc_hash256 prev_hash;
    uint32_t body_size;
    const uint8_t *pointers; // pointer_count x TC_STORE_POINTER_SIZE bytes (decode only)
    const uint8_t *body;     // body_size bytes (decode only)
};

uint32_t store_record_size(uint32_t pointer_count, uint32_t body_size);

void store_segment_header_encode(uint8_t *p, uint64_t cluster, uint32_t group, uint64_t segment,
                                 const struct tc_checksum *chain_in);
// TC_OK if the header checks and names (cluster, group, segment), else TC_ECORRUPT.
int store_segment_header_decode(const uint8_t *p, uint64_t cluster, uint32_t group,
                                uint64_t segment, struct tc_checksum *chain_in);

// Writes a message record at p (record->size bytes, zero padding), computes its checksum into
// record->checksum.
void store_record_encode(uint8_t *p, struct store_record *record,
                         const struct store_pointer *pointers, const uint8_t *body);
// A seal record carrying the chain after the segment's last message.
void store_seal_encode(uint8_t *p, const struct tc_checksum *chain, struct tc_checksum *checksum);
// Decodes and verifies the record at p with `available` bytes left in the segment.
// TC_OK, or TC_ECORRUPT (checksum, structure or a size beyond `available`).
int store_record_decode(const uint8_t *p, uint32_t available, struct store_record *record);
void store_record_pointer(const struct store_record *record, uint32_t level,
                          struct store_pointer *out);
// The chain stored in a decoded seal record.
void store_seal_chain(const struct store_record *record, struct tc_checksum *chain);

// chain' = BLAKE2b-128(chain || record checksum).
void store_chain_step(struct tc_checksum *chain, const struct tc_checksum *record_checksum);

// Level of a room's run number `ordinal` (>= 1): min(ctz(ordinal) / 2, levels - 1).
uint32_t store_run_level(uint64_t ordinal);

#endif
