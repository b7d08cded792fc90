#include "tc_checksum.h"

#include <sodium.h>
#include <string.h>

#include "tc_assert.h"

_Static_assert(sizeof(struct tc_hash256_state) >= sizeof(crypto_generichash_state),
               "hash state storage must fit libsodium's state");

void tc_checksum_compute(struct tc_checksum *out, const void *data, uint64_t size_bytes) {
    tc_assert(out != NULL);
    tc_assert(data != NULL || size_bytes == 0);
    int rc = crypto_generichash(out->bytes, sizeof(out->bytes), (const unsigned char *)data,
                                (unsigned long long)size_bytes, NULL, 0);
    tc_assert(rc == 0);
}

_Static_assert(sizeof(struct tc_checksum_state) >= sizeof(crypto_generichash_state),
               "checksum state storage must fit libsodium's state");

void tc_checksum_init(struct tc_checksum_state *state) {
    tc_assert(state != NULL);
    int rc = crypto_generichash_init((crypto_generichash_state *)(void *)state->opaque, NULL, 0,
                                     sizeof(((struct tc_checksum *)NULL)->bytes));
    tc_assert(rc == 0);
}

void tc_checksum_update(struct tc_checksum_state *state, const void *data, uint64_t size_bytes) {
    tc_assert(state != NULL);
    tc_assert(data != NULL || size_bytes == 0);
    int rc = crypto_generichash_update((crypto_generichash_state *)(void *)state->opaque,
                                       (const unsigned char *)data,
                                       (unsigned long long)size_bytes);
    tc_assert(rc == 0);
}

void tc_checksum_final(struct tc_checksum_state *state, struct tc_checksum *out) {
    tc_assert(state != NULL);
    tc_assert(out != NULL);
    int rc = crypto_generichash_final((crypto_generichash_state *)(void *)state->opaque, out->bytes,
                                      sizeof(out->bytes));
    tc_assert(rc == 0);
}

bool tc_checksum_equal(const struct tc_checksum *a, const struct tc_checksum *b) {
    return memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

bool tc_checksum_is_zero(const struct tc_checksum *a) {
    uint8_t acc = 0;
    for (uint32_t i = 0; i < sizeof(a->bytes); i++) acc |= a->bytes[i];
    return acc == 0;
}

void tc_hex_encode(char *out, const uint8_t *data, uint32_t size) {
    static const char digits[] = "0123456789abcdef";
    for (uint32_t i = 0; i < size; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0x0f];
    }
    out[2 * size] = '\0';
}

void tc_checksum_short_hex(const struct tc_checksum *a, char out[17]) {
    tc_hex_encode(out, a->bytes, 8);
}

void tc_hash256_init(struct tc_hash256_state *state) {
    memset(state, 0, sizeof(*state));
    int rc = crypto_generichash_init((crypto_generichash_state *)(void *)state->opaque, NULL, 0,
                                     sizeof(struct tc_hash256));
    tc_assert(rc == 0);
}

void tc_hash256_update(struct tc_hash256_state *state, const void *data, uint64_t size_bytes) {
    tc_assert(data != NULL || size_bytes == 0);
    int rc = crypto_generichash_update((crypto_generichash_state *)(void *)state->opaque,
                                       (const unsigned char *)data,
                                       (unsigned long long)size_bytes);
    tc_assert(rc == 0);
}

void tc_hash256_final(struct tc_hash256_state *state, struct tc_hash256 *out) {
    int rc = crypto_generichash_final((crypto_generichash_state *)(void *)state->opaque, out->bytes,
                                      sizeof(out->bytes));
    tc_assert(rc == 0);
}

void tc_hash256_compute(struct tc_hash256 *out, const void *data, uint64_t size_bytes) {
    int rc = crypto_generichash(out->bytes, sizeof(out->bytes), (const unsigned char *)data,
                                (unsigned long long)size_bytes, NULL, 0);
    tc_assert(rc == 0);
}

bool tc_hash256_equal(const struct tc_hash256 *a, const struct tc_hash256 *b) {
    return memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}
