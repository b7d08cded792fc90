#ifndef TC_EDGE_UTF8_H
#define TC_EDGE_UTF8_H

#include <stdbool.h>
#include <stdint.h>

// Incremental UTF-8 validation (RFC 3629, Unicode Table 3-7): refuses overlong forms, UTF-16
// surrogates (U+D800..U+DFFF), code points above U+10FFFF, stray continuation bytes and bytes
// C0, C1, F5..FF. Input may be split anywhere, including inside a sequence, so a WebSocket text
// message is checked fragment by fragment and fails fast on the first bad byte (RFC 6455 §8.1).

struct tc_edge_utf8 {
    uint8_t need;    // continuation bytes still expected in the current sequence (0..3)
    uint8_t low;     // the next byte's allowed range [low, high] while need > 0
    uint8_t high;
    bool invalid;    // sticky: once invalid, always invalid
};

// Starts validating a new string (nothing fed is valid and complete).
void tc_edge_utf8_init(struct tc_edge_utf8 *utf8);
// Feeds bytes; returns false as soon as the input so far cannot be a prefix of valid UTF-8.
bool tc_edge_utf8_feed(struct tc_edge_utf8 *utf8, const uint8_t *data, uint32_t size);
// True when everything fed is valid and no sequence is left open.
bool tc_edge_utf8_complete(const struct tc_edge_utf8 *utf8);
// One-shot check of a complete string.
bool tc_edge_utf8_valid(const uint8_t *data, uint32_t size);

#endif
