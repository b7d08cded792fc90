#include "edge_sha1.h"

#include <string.h>

#include "tc_assert.h"

static uint32_t rotl(uint32_t x, uint32_t n) {
    return (x << n) | (x >> (32 - n));
}

// One 64-byte block (FIPS 180-4 §6.1.2), with the 16-word rolling message schedule.
static void sha1_block(uint32_t h[5], const uint8_t block[64]) {
    uint32_t w[16];
    for (uint32_t i = 0; i < 16; i++) {
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 |
               (uint32_t)block[4 * i + 2] << 8 | block[4 * i + 3];
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (uint32_t t = 0; t < 80; t++) {
        if (t >= 16) {
            uint32_t x = w[(t + 13) & 15] ^ w[(t + 8) & 15] ^ w[(t + 2) & 15] ^ w[t & 15];
            w[t & 15] = rotl(x, 1);
        }
        uint32_t f;
        uint32_t k;
        if (t < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999u;
        } else if (t < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1u;
        } else if (t < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdcu;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6u;
        }
        uint32_t temp = rotl(a, 5) + f + e + k + w[t & 15];
        e = d;
        d = c;
        c = rotl(b, 30);
        b = a;
        a = temp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void tc_edge_sha1_init(struct tc_edge_sha1 *sha) {
    tc_assert(sha != NULL);
    memset(sha, 0, sizeof(*sha));
    sha->h[0] = 0x67452301u;
    sha->h[1] = 0xefcdab89u;
    sha->h[2] = 0x98badcfeu;
    sha->h[3] = 0x10325476u;
    sha->h[4] = 0xc3d2e1f0u;
}

void tc_edge_sha1_update(struct tc_edge_sha1 *sha, const void *data, uint32_t size) {
    tc_assert(sha->block_used < 64);
    tc_assert(data != NULL || size == 0);
    const uint8_t *bytes = data;
    sha->size_bytes += size;
    for (uint32_t i = 0; i < size; i++) {
        sha->block[sha->block_used++] = bytes[i];
        if (sha->block_used == 64) {
            sha1_block(sha->h, sha->block);
            sha->block_used = 0;
        }
    }
}

void tc_edge_sha1_final(struct tc_edge_sha1 *sha, uint8_t out[TC_EDGE_SHA1_DIGEST_SIZE]) {
    tc_assert(sha->block_used < 64);
    uint64_t bits = sha->size_bytes * 8;
    uint8_t pad = 0x80;
    tc_edge_sha1_update(sha, &pad, 1);
    pad = 0;
    while (sha->block_used != 56) tc_edge_sha1_update(sha, &pad, 1);
    uint8_t length[8];
    for (uint32_t i = 0; i < 8; i++) length[i] = (uint8_t)(bits >> (56 - 8 * i));
    tc_edge_sha1_update(sha, length, 8);
    tc_assert(sha->block_used == 0);
    for (uint32_t i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(sha->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(sha->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(sha->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)sha->h[i];
    }
}
