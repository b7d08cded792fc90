#ifndef TC_CHECKSUM_H
#define TC_CHECKSUM_H

#include <stdbool.h>
#include <stdint.h>

// 128-bit checksums (BLAKE2b-128, keyless, via libsodium) for everything that crosses a disk or a
// socket, and 256-bit hashes (BLAKE2b-256) for the per-room hash chain. Pure computation: no I/O.

struct tc_checksum {
    uint8_t bytes[16];
};

struct tc_hash256 {
    uint8_t bytes[32];
};

_Static_assert(sizeof(struct tc_checksum) == 16, "checksum is 16 bytes");
_Static_assert(sizeof(struct tc_hash256) == 32, "hash256 is 32 bytes");

void tc_checksum_compute(struct tc_checksum *out, const void *data, uint64_t size_bytes);
bool tc_checksum_equal(const struct tc_checksum *a, const struct tc_checksum *b);
bool tc_checksum_is_zero(const struct tc_checksum *a);
// Formats the first 8 bytes as 16 hex chars (for logs); out must hold 17 bytes.
void tc_checksum_short_hex(const struct tc_checksum *a, char out[17]);

// Incremental BLAKE2b-128: the same value as tc_checksum_compute over the concatenated input
// (a checkpoint's id is computed chunk by chunk while it is written).
struct tc_checksum_state {
    _Alignas(64) uint8_t opaque[384];
};
void tc_checksum_init(struct tc_checksum_state *state);
void tc_checksum_update(struct tc_checksum_state *state, const void *data, uint64_t size_bytes);
void tc_checksum_final(struct tc_checksum_state *state, struct tc_checksum *out);

// Incremental BLAKE2b-256 for the room hash chain.
struct tc_hash256_state {
    _Alignas(64) uint8_t opaque[384];
};
void tc_hash256_init(struct tc_hash256_state *state);
void tc_hash256_update(struct tc_hash256_state *state, const void *data, uint64_t size_bytes);
void tc_hash256_final(struct tc_hash256_state *state, struct tc_hash256 *out);
void tc_hash256_compute(struct tc_hash256 *out, const void *data, uint64_t size_bytes);
bool tc_hash256_equal(const struct tc_hash256 *a, const struct tc_hash256 *b);

// Lowercase hex of a byte string; out must hold 2*size+1 bytes.
void tc_hex_encode(char *out, const uint8_t *data, uint32_t size);

#endif
