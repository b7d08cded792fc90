// Development tokens: read an HS256 key file and mint tokens in-process (tigerchat.h).
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "edge_encoding.h"
#include "edge_jwt.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tigerchat.h"

#define KEY_FILE_SIZE_MAX 258u // 128 hex digits and a CRLF

int tc_sdk_jwt_key_read(const char *path, uint8_t *key, uint32_t key_size_max) {
    tc_assert(key_size_max >= 32);
    FILE *file = fopen(path, "rb");
    if (file == NULL) return errno == ENOENT ? TC_ENOENT : TC_EIO;
    uint8_t data[KEY_FILE_SIZE_MAX + 1];
    const size_t size = fread(data, 1, sizeof(data), file);
    const bool failed = ferror(file) != 0;
    fclose(file);
    if (failed) return TC_EIO;
    if (size > KEY_FILE_SIZE_MAX) return TC_EINVAL;
    uint32_t text_size = (uint32_t)size;
    while (text_size > 0 && (data[text_size - 1] == '\n' || data[text_size - 1] == '\r')) {
        text_size--;
    }
    // Hex text when it is 64..128 hex digits, else raw bytes (as node/config reads it).
    bool hex = text_size >= 64 && text_size <= 128 && text_size % 2 == 0;
    for (uint32_t i = 0; hex && i < text_size; i++) {
        const uint8_t c = data[i];
        hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    }
    int result = TC_EINVAL;
    if (hex && text_size / 2 <= key_size_max) {
        if (tc_edge_hex_decode(key, text_size / 2, (const char *)data, text_size) == TC_OK) {
            result = (int)(text_size / 2);
        }
    } else if (!hex && size >= 32 && size <= 64 && size <= key_size_max) {
        memcpy(key, data, size);
        result = (int)size;
    }
    memset(data, 0, sizeof(data));
    return result;
}

int32_t tc_sdk_token_mint(const uint8_t *key, uint32_t key_size, uint64_t user, uint32_t ttl_s,
                          char *out, uint32_t out_size) {
    tc_assert(key_size >= 32 && key_size <= TC_EDGE_JWT_KEY_SIZE_MAX);
    tc_assert(user != 0 && ttl_s > 0);
    struct tc_edge_jwt_signer signer = {.alg = TC_EDGE_JWT_HS256, .key_size = key_size};
    memcpy(signer.key, key, key_size);
    const uint64_t now_s = (uint64_t)time(NULL);
    struct tc_edge_jwt_claims claims = {.user = user, .exp_s = now_s + ttl_s, .iat_s = now_s,
                                        .rooms_all = true};
    const int32_t size = tc_edge_jwt_mint(&signer, &claims, out, out_size);
    memset(&signer, 0, sizeof(signer));
    return size;
}
