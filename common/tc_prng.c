#include "tc_prng.h"

#include <string.h>

#include "tc_assert.h"

uint64_t tc_prng_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void tc_prng_init(struct tc_prng *prng, uint64_t seed) {
    tc_assert(prng != NULL);
    uint64_t state = seed;
    for (uint32_t i = 0; i < 4; i++) prng->s[i] = tc_prng_splitmix64(&state);
    tc_assert((prng->s[0] | prng->s[1] | prng->s[2] | prng->s[3]) != 0);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t tc_prng_next(struct tc_prng *prng) {
    uint64_t *s = prng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t tc_prng_below(struct tc_prng *prng, uint64_t bound) {
    tc_assert(bound > 0);
    uint64_t threshold = (0 - bound) % bound;
    for (uint32_t attempt = 0; attempt < 1000; attempt++) {
        uint64_t r = tc_prng_next(prng);
        if (r >= threshold) return r % bound;
    }
    tc_unreachable(); // Probability of 1000 rejections is < 2^-1000.
    return 0;
}

uint64_t tc_prng_range(struct tc_prng *prng, uint64_t min, uint64_t max) {
    tc_assert(min <= max);
    if (min == 0 && max == UINT64_MAX) return tc_prng_next(prng);
    return min + tc_prng_below(prng, max - min + 1);
}

bool tc_prng_chance_ppm(struct tc_prng *prng, uint32_t ppm) {
    tc_assert(ppm <= 1000000);
    if (ppm == 0) return false;
    return tc_prng_below(prng, 1000000) < ppm;
}

void tc_prng_fill(struct tc_prng *prng, void *buffer, uint32_t size_bytes) {
    uint8_t *out = buffer;
    uint32_t offset = 0;
    while (offset < size_bytes) {
        uint64_t r = tc_prng_next(prng);
        uint32_t n = size_bytes - offset < 8 ? size_bytes - offset : 8;
        memcpy(out + offset, &r, n);
        offset += n;
    }
}
