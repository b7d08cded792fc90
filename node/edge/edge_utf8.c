#include "edge_utf8.h"

#include <string.h>

#include "tc_assert.h"

void tc_edge_utf8_init(struct tc_edge_utf8 *utf8) {
    tc_assert(utf8 != NULL);
    memset(utf8, 0, sizeof(*utf8));
}

// Starts a sequence at lead byte `b`: sets how many continuation bytes follow and the range of
// the first one (Table 3-7 narrows it after E0, ED, F0 and F4). Returns false for a bad lead.
static bool utf8_lead(struct tc_edge_utf8 *utf8, uint8_t b) {
    utf8->low = 0x80;
    utf8->high = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
        utf8->need = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
        utf8->need = 2;
        if (b == 0xe0) utf8->low = 0xa0;  // overlong below U+0800
        if (b == 0xed) utf8->high = 0x9f; // surrogates U+D800..U+DFFF
    } else if (b >= 0xf0 && b <= 0xf4) {
        utf8->need = 3;
        if (b == 0xf0) utf8->low = 0x90;  // overlong below U+10000
        if (b == 0xf4) utf8->high = 0x8f; // above U+10FFFF
    } else {
        return false; // 80..C1 (continuation or overlong 2-byte lead), F5..FF
    }
    return true;
}

bool tc_edge_utf8_feed(struct tc_edge_utf8 *utf8, const uint8_t *data, uint32_t size) {
    tc_assert(data != NULL || size == 0);
    tc_assert(utf8->need <= 3);
    if (utf8->invalid) return false;
    for (uint32_t i = 0; i < size; i++) {
        uint8_t b = data[i];
        if (utf8->need == 0) {
            if (b < 0x80) continue;
            if (!utf8_lead(utf8, b)) {
                utf8->invalid = true;
                return false;
            }
            continue;
        }
        if (b < utf8->low || b > utf8->high) {
            utf8->invalid = true;
            return false;
        }
        utf8->need--;
        utf8->low = 0x80;
        utf8->high = 0xbf;
    }
    return true;
}

bool tc_edge_utf8_complete(const struct tc_edge_utf8 *utf8) {
    return !utf8->invalid && utf8->need == 0;
}

bool tc_edge_utf8_valid(const uint8_t *data, uint32_t size) {
    struct tc_edge_utf8 utf8;
    tc_edge_utf8_init(&utf8);
    return tc_edge_utf8_feed(&utf8, data, size) && tc_edge_utf8_complete(&utf8);
}
