#ifndef TC_EDGE_SHA1_H
#define TC_EDGE_SHA1_H

#include <stdint.h>

// SHA-1 (FIPS 180-4), used for one thing only: the WebSocket handshake's Sec-WebSocket-Accept
// (RFC 6455 §4.2.2). It is not a security primitive there (it proves the server speaks
// WebSocket), so SHA-1's collision weakness does not matter. Hand-written rather than taken from
// OpenSSL: libsodium has no SHA-1, OpenSSL 3 deprecates SHA1() and its EVP interface allocates a
// context per digest; this is 60 lines, allocation-free and checked against the FIPS vectors
// (docs/dependencies.md).

#define TC_EDGE_SHA1_DIGEST_SIZE 20u

struct tc_edge_sha1 {
    uint32_t h[5];
    uint64_t size_bytes; // total bytes hashed so far
    uint8_t block[64];
    uint32_t block_used;
};

// Starts a digest; update with any number of pieces of any size; final writes the 20 bytes.
void tc_edge_sha1_init(struct tc_edge_sha1 *sha);
void tc_edge_sha1_update(struct tc_edge_sha1 *sha, const void *data, uint32_t size);
// Writes the digest; the state must be re-initialised before reuse.
void tc_edge_sha1_final(struct tc_edge_sha1 *sha, uint8_t out[TC_EDGE_SHA1_DIGEST_SIZE]);

#endif
