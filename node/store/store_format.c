// The message store's on-disk encodings (docs/store.md §2).

#include <string.h>

#include "store_format.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_le.h"

_Static_assert(TC_STORE_RECORD_HEADER_SIZE == 152u, "record header layout");
_Static_assert(TC_STORE_SEGMENT_HEADER_SIZE == 64u, "segment header layout");

uint32_t store_record_size(uint32_t pointer_count, uint32_t body_size) {
    tc_assert(pointer_count <= TC_STORE_TOWER_LEVELS);
    tc_assert(body_size <= TC_ROOM_BODY_SIZE_MAX || body_size == sizeof(struct tc_checksum));
    uint64_t size = TC_STORE_RECORD_HEADER_SIZE + (uint64_t)pointer_count * TC_STORE_POINTER_SIZE +
                    tc_align_up(body_size, 8);
    tc_assert(size <= TC_ROOM_STORE_COST(body_size));
    return (uint32_t)size;
}

void store_chain_step(struct tc_checksum *chain, const struct tc_checksum *record_checksum) {
    uint8_t preimage[2 * sizeof(struct tc_checksum)];
    memcpy(preimage, chain->bytes, sizeof(chain->bytes));
    memcpy(preimage + sizeof(chain->bytes), record_checksum->bytes, sizeof(chain->bytes));
    tc_checksum_compute(chain, preimage, sizeof(preimage));
}

uint32_t store_run_level(uint64_t ordinal) {
    tc_assert(ordinal >= 1);
    uint32_t level = (uint32_t)__builtin_ctzll(ordinal) / 2u;
    return level < TC_STORE_TOWER_LEVELS - 1u ? level : TC_STORE_TOWER_LEVELS - 1u;
}

// ------------------------------------------------------------------------------------------------
// Segment header: checksum(16) magic u32 version u32 cluster u64 group u32 reserved u32
// segment u64 chain_in(16).

void store_segment_header_encode(uint8_t *p, uint64_t cluster, uint32_t group, uint64_t segment,
                                 const struct tc_checksum *chain_in) {
    memset(p, 0, TC_STORE_SEGMENT_HEADER_SIZE);
    tc_le_put_u32(p + 16, STORE_SEGMENT_MAGIC);
    tc_le_put_u32(p + 20, STORE_FORMAT_VERSION);
    tc_le_put_u64(p + 24, cluster);
    tc_le_put_u32(p + 32, group);
    tc_le_put_u64(p + 40, segment);
    memcpy(p + 48, chain_in->bytes, sizeof(chain_in->bytes));
    struct tc_checksum checksum;
    tc_checksum_compute(&checksum, p + 16, TC_STORE_SEGMENT_HEADER_SIZE - 16u);
    memcpy(p, checksum.bytes, sizeof(checksum.bytes));
}

int store_segment_header_decode(const uint8_t *p, uint64_t cluster, uint32_t group,
                                uint64_t segment, struct tc_checksum *chain_in) {
    struct tc_checksum checksum;
    tc_checksum_compute(&checksum, p + 16, TC_STORE_SEGMENT_HEADER_SIZE - 16u);
    if (memcmp(checksum.bytes, p, sizeof(checksum.bytes)) != 0) return TC_ECORRUPT;
    if (tc_le_get_u32(p + 16) != STORE_SEGMENT_MAGIC) return TC_ECORRUPT;
    if (tc_le_get_u32(p + 20) != STORE_FORMAT_VERSION) return TC_ECORRUPT;
    if (tc_le_get_u64(p + 24) != cluster || tc_le_get_u32(p + 32) != group) return TC_ECORRUPT;
    if (tc_le_get_u32(p + 36) != 0) return TC_ECORRUPT;
    if (tc_le_get_u64(p + 40) != segment) return TC_ECORRUPT; // misdirected or stale
    memcpy(chain_in->bytes, p + 48, sizeof(chain_in->bytes));
    return TC_OK;
}

static bool bytes_zero(const uint8_t *p, uint32_t size) {
    uint8_t bits = 0;
    for (uint32_t i = 0; i < size; i++) bits |= p[i];
    return bits == 0;
}

// ------------------------------------------------------------------------------------------------
// Records.

static void record_header_encode(uint8_t *p, const struct store_record *record) {
    memset(p, 0, TC_STORE_RECORD_HEADER_SIZE);
    p[16] = record->kind;
    p[17] = record->pointer_count;
    tc_le_put_u32(p + 20, record->size);
    tc_le_put_u64(p + 24, record->room);
    tc_le_put_u64(p + 32, record->seq);
    tc_le_put_u64(p + 40, record->op);
    tc_le_put_u64(p + 48, record->thread_parent_seq);
    tc_le_put_u64(p + 56, record->thread_seq);
    tc_le_put_u64(p + 64, record->sender);
    tc_le_put_u64(p + 72, record->timestamp_ns);
    memcpy(p + 80, record->hash.bytes, sizeof(record->hash.bytes));
    memcpy(p + 112, record->prev_hash.bytes, sizeof(record->prev_hash.bytes));
    tc_le_put_u32(p + 144, record->body_size);
}

static void pointer_encode(uint8_t *p, const struct store_pointer *pointer) {
    tc_le_put_u64(p + 0, pointer->segment);
    tc_le_put_u32(p + 8, pointer->offset);
    tc_le_put_u32(p + 12, 0);
    tc_le_put_u64(p + 16, pointer->seq_first);
    tc_le_put_u64(p + 24, pointer->timestamp_first);
}

static void record_seal_checksum(uint8_t *p, uint32_t size, struct tc_checksum *checksum) {
    tc_checksum_compute(checksum, p + 16, size - 16u);
    memcpy(p, checksum->bytes, sizeof(checksum->bytes));
}

void store_record_encode(uint8_t *p, struct store_record *record,
                         const struct store_pointer *pointers, const uint8_t *body) {
    tc_assert(record->kind == STORE_RECORD_MESSAGE);
    tc_assert(record->body_size >= 1 && record->body_size <= TC_ROOM_BODY_SIZE_MAX);
    tc_assert(record->size == store_record_size(record->pointer_count, record->body_size));
    tc_assert(pointers != NULL || record->pointer_count == 0);
    record_header_encode(p, record);
    uint8_t *cursor = p + TC_STORE_RECORD_HEADER_SIZE;
    for (uint32_t i = 0; i < record->pointer_count; i++) {
        pointer_encode(cursor, &pointers[i]);
        cursor += TC_STORE_POINTER_SIZE;
    }
    memcpy(cursor, body, record->body_size);
    uint32_t used = (uint32_t)(cursor - p) + record->body_size;
    tc_assert(used <= record->size);
    memset(p + used, 0, record->size - used);
    record_seal_checksum(p, record->size, &record->checksum);
}

void store_seal_encode(uint8_t *p, const struct tc_checksum *chain, struct tc_checksum *checksum) {
    struct store_record seal;
    memset(&seal, 0, sizeof(seal));
    seal.kind = STORE_RECORD_SEAL;
    seal.size = TC_STORE_SEAL_SIZE;
    seal.body_size = sizeof(chain->bytes);
    record_header_encode(p, &seal);
    memcpy(p + TC_STORE_RECORD_HEADER_SIZE, chain->bytes, sizeof(chain->bytes));
    record_seal_checksum(p, TC_STORE_SEAL_SIZE, checksum);
}


// Structure of a header whose checksum matched: sizes and reserved fields.
static int record_structure(const uint8_t *p, const struct store_record *record) {
    if (tc_le_get_u16(p + 18) != 0 || tc_le_get_u32(p + 148) != 0) return TC_ECORRUPT;
    if (record->pointer_count > TC_STORE_TOWER_LEVELS) return TC_ECORRUPT;
    if (record->kind == STORE_RECORD_SEAL) {
        bool ok = record->size == TC_STORE_SEAL_SIZE && record->pointer_count == 0 &&
                  record->body_size == sizeof(struct tc_checksum);
        return ok ? TC_OK : TC_ECORRUPT;
    }
    if (record->kind != STORE_RECORD_MESSAGE) return TC_ECORRUPT;
    if (record->body_size == 0 || record->body_size > TC_ROOM_BODY_SIZE_MAX) return TC_ECORRUPT;
    if (record->size != store_record_size(record->pointer_count, record->body_size)) {
        return TC_ECORRUPT;
    }
    if (record->room == 0 || record->seq == 0 || record->sender == 0) return TC_ECORRUPT;
    uint32_t used = TC_STORE_RECORD_HEADER_SIZE +
                    (uint32_t)record->pointer_count * TC_STORE_POINTER_SIZE + record->body_size;
    if (!bytes_zero(p + used, record->size - used)) return TC_ECORRUPT;
    return TC_OK;
}

int store_record_decode(const uint8_t *p, uint32_t available, struct store_record *record) {
    tc_assert(p != NULL);
    tc_assert(record != NULL);
    memset(record, 0, sizeof(*record));
    if (available < TC_STORE_RECORD_HEADER_SIZE) return TC_ECORRUPT;
    uint32_t size = tc_le_get_u32(p + 20);
    if (size < TC_STORE_RECORD_HEADER_SIZE || size > available || size % 8u != 0) {
        return TC_ECORRUPT;
    }
    struct tc_checksum checksum;
    tc_checksum_compute(&checksum, p + 16, size - 16u);
    if (memcmp(checksum.bytes, p, sizeof(checksum.bytes)) != 0) return TC_ECORRUPT;
    record->checksum = checksum;
    record->size = size;
    record->kind = p[16];
    record->pointer_count = p[17];
    record->room = tc_le_get_u64(p + 24);
    record->seq = tc_le_get_u64(p + 32);
    record->op = tc_le_get_u64(p + 40);
    record->thread_parent_seq = tc_le_get_u64(p + 48);
    record->thread_seq = tc_le_get_u64(p + 56);
    record->sender = tc_le_get_u64(p + 64);
    record->timestamp_ns = tc_le_get_u64(p + 72);
    memcpy(record->hash.bytes, p + 80, sizeof(record->hash.bytes));
    memcpy(record->prev_hash.bytes, p + 112, sizeof(record->prev_hash.bytes));
    record->body_size = tc_le_get_u32(p + 144);
    if (record_structure(p, record) != TC_OK) return TC_ECORRUPT;
    record->pointers = p + TC_STORE_RECORD_HEADER_SIZE;
    record->body = record->pointers + (uint32_t)record->pointer_count * TC_STORE_POINTER_SIZE;
    return TC_OK;
}

void store_record_pointer(const struct store_record *record, uint32_t level,
                          struct store_pointer *out) {
    tc_assert(record->kind == STORE_RECORD_MESSAGE);
    tc_assert(level < record->pointer_count);
    const uint8_t *p = record->pointers + level * TC_STORE_POINTER_SIZE;
    out->segment = tc_le_get_u64(p + 0);
    out->offset = tc_le_get_u32(p + 8);
    out->seq_first = tc_le_get_u64(p + 16);
    out->timestamp_first = tc_le_get_u64(p + 24);
}

void store_seal_chain(const struct store_record *record, struct tc_checksum *chain) {
    tc_assert(record->kind == STORE_RECORD_SEAL);
    memcpy(chain->bytes, record->body, sizeof(chain->bytes));
}
