#include "edge_encoding.h"

#include <string.h>

#include "tc_assert.h"
#include "tc_err.h"

static const char base64_standard[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char base64_url[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

uint32_t tc_edge_base64_encoded_size(uint32_t size, enum tc_edge_base64_alphabet alphabet) {
    tc_assert(alphabet == TC_EDGE_BASE64_STANDARD || alphabet == TC_EDGE_BASE64_URL);
    tc_assert(size <= UINT32_MAX / 4 * 3 - 3);
    if (alphabet == TC_EDGE_BASE64_STANDARD) return (size + 2) / 3 * 4;
    uint32_t tail = size % 3;
    return size / 3 * 4 + (tail == 0 ? 0 : tail + 1);
}

int32_t tc_edge_base64_encode(char *out, uint32_t out_size, const uint8_t *data, uint32_t size,
                              enum tc_edge_base64_alphabet alphabet) {
    tc_assert(out != NULL);
    tc_assert(data != NULL || size == 0);
    uint32_t encoded = tc_edge_base64_encoded_size(size, alphabet);
    if (encoded >= out_size) return TC_ENOSPC;
    const char *digits = alphabet == TC_EDGE_BASE64_STANDARD ? base64_standard : base64_url;
    uint32_t o = 0;
    uint32_t i = 0;
    for (; i + 3 <= size; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        out[o++] = digits[v >> 18];
        out[o++] = digits[(v >> 12) & 63];
        out[o++] = digits[(v >> 6) & 63];
        out[o++] = digits[v & 63];
    }
    uint32_t tail = size - i;
    if (tail > 0) {
        uint32_t v = (uint32_t)data[i] << 16 | (tail == 2 ? (uint32_t)data[i + 1] << 8 : 0);
        out[o++] = digits[v >> 18];
        out[o++] = digits[(v >> 12) & 63];
        if (tail == 2) out[o++] = digits[(v >> 6) & 63];
        if (alphabet == TC_EDGE_BASE64_STANDARD) {
            if (tail == 1) out[o++] = '=';
            out[o++] = '=';
        }
    }
    tc_assert(o == encoded);
    out[o] = '\0';
    return (int32_t)o;
}

static int32_t base64_value(char c, enum tc_edge_base64_alphabet alphabet) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (alphabet == TC_EDGE_BASE64_STANDARD) {
        if (c == '+') return 62;
        if (c == '/') return 63;
    } else {
        if (c == '-') return 62;
        if (c == '_') return 63;
    }
    return -1;
}

// Characters of `text` that carry data: standard strips up to two '=' of a padded quantum.
static int32_t base64_data_chars(const char *text, uint32_t size,
                                 enum tc_edge_base64_alphabet alphabet) {
    if (alphabet == TC_EDGE_BASE64_URL) return size % 4 == 1 ? TC_EINVAL : (int32_t)size;
    if (size % 4 != 0) return TC_EINVAL;
    uint32_t chars = size;
    if (chars > 0 && text[chars - 1] == '=') chars--;
    if (chars > 0 && text[chars - 1] == '=') chars--;
    return (int32_t)chars;
}

int32_t tc_edge_base64_decode(uint8_t *out, uint32_t out_size, const char *text, uint32_t size,
                              enum tc_edge_base64_alphabet alphabet) {
    tc_assert(out != NULL || out_size == 0);
    tc_assert(text != NULL || size == 0);
    tc_assert(alphabet == TC_EDGE_BASE64_STANDARD || alphabet == TC_EDGE_BASE64_URL);
    int32_t chars = base64_data_chars(text, size, alphabet);
    if (chars < 0) return chars;
    uint32_t tail = (uint32_t)chars % 4;
    if (tail == 1) return TC_EINVAL;
    uint32_t decoded = (uint32_t)chars / 4 * 3 + (tail == 0 ? 0 : tail - 1);
    if (decoded > out_size) return TC_ENOSPC;
    uint32_t o = 0;
    uint32_t acc = 0;
    for (uint32_t i = 0; i < (uint32_t)chars; i++) {
        int32_t v = base64_value(text[i], alphabet);
        if (v < 0) return TC_EINVAL;
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            out[o++] = (uint8_t)(acc >> 16);
            out[o++] = (uint8_t)(acc >> 8);
            out[o++] = (uint8_t)acc;
            acc = 0;
        }
    }
    // The last partial quantum: its unused low bits must be zero (canonical form).
    if (tail == 2) {
        if ((acc & 0xf) != 0) return TC_EINVAL;
        out[o++] = (uint8_t)(acc >> 4);
    } else if (tail == 3) {
        if ((acc & 0x3) != 0) return TC_EINVAL;
        out[o++] = (uint8_t)(acc >> 10);
        out[o++] = (uint8_t)(acc >> 2);
    }
    tc_assert(o == decoded);
    return (int32_t)o;
}

static int32_t hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int tc_edge_hex_decode(uint8_t *out, uint32_t size, const char *text, uint32_t text_size) {
    tc_assert(out != NULL);
    tc_assert(text != NULL || text_size == 0);
    if (text_size != size * 2) return TC_EINVAL;
    for (uint32_t i = 0; i < size; i++) {
        int32_t high = hex_value(text[2 * i]);
        int32_t low = hex_value(text[2 * i + 1]);
        if (high < 0 || low < 0) return TC_EINVAL;
        out[i] = (uint8_t)(high << 4 | low);
    }
    return TC_OK;
}

int tc_edge_u64_parse(const char *text, uint32_t size, uint64_t *out) {
    tc_assert(out != NULL);
    tc_assert(text != NULL || size == 0);
    if (size == 0 || size > 20) return TC_EINVAL;
    if (text[0] == '0' && size > 1) return TC_EINVAL;
    uint64_t value = 0;
    for (uint32_t i = 0; i < size; i++) {
        if (text[i] < '0' || text[i] > '9') return TC_EINVAL;
        uint64_t digit = (uint64_t)(text[i] - '0');
        if (value > (UINT64_MAX - digit) / 10) return TC_EINVAL;
        value = value * 10 + digit;
    }
    *out = value;
    return TC_OK;
}

uint32_t tc_edge_u64_format(char out[21], uint64_t value) {
    char reversed[20];
    uint32_t n = 0;
    do {
        reversed[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    tc_assert(n <= 20);
    for (uint32_t i = 0; i < n; i++) out[i] = reversed[n - 1 - i];
    out[n] = '\0';
    return n;
}

static char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool tc_edge_ascii_equal_nocase(const char *a, uint32_t a_size, const char *b, uint32_t b_size) {
    tc_assert(a != NULL || a_size == 0);
    tc_assert(b != NULL || b_size == 0);
    if (a_size != b_size) return false;
    for (uint32_t i = 0; i < a_size; i++) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    }
    return true;
}
