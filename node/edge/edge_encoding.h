#ifndef TC_EDGE_ENCODING_H
#define TC_EDGE_ENCODING_H

#include <stdbool.h>
#include <stdint.h>

// Text codecs of the edge (docs/protocol.md §4): base64 (RFC 4648 §4, padded), base64url (§5, no
// padding, as JWS uses it), hex and canonical decimal u64. Pure functions over caller buffers:
// no allocation, no I/O. Decoders are strict and canonical: exactly one spelling of each value is
// accepted, so a token or key cannot be re-encoded into a second valid form.

// A byte string that is not NUL-terminated (a slice of some caller buffer).
struct tc_edge_str {
    const char *data;
    uint32_t size;
};

enum tc_edge_base64_alphabet {
    TC_EDGE_BASE64_STANDARD = 1, // '+' '/' and '=' padding to a multiple of 4 characters
    TC_EDGE_BASE64_URL = 2,      // '-' '_' and no padding
};

// Characters needed to encode `size` bytes (no terminating NUL counted).
uint32_t tc_edge_base64_encoded_size(uint32_t size, enum tc_edge_base64_alphabet alphabet);

// Encodes `size` bytes into `out` and NUL-terminates it. Returns the characters written (without
// the NUL), or TC_ENOSPC when out_size < encoded size + 1.
int32_t tc_edge_base64_encode(char *out, uint32_t out_size, const uint8_t *data, uint32_t size,
                              enum tc_edge_base64_alphabet alphabet);

// Decodes `text` into `out`. Returns the bytes written, TC_EINVAL for any character outside the
// alphabet, wrong padding (standard: required, base64url: refused), an impossible length or
// non-zero unused bits in the last character, or TC_ENOSPC when out is too small.
int32_t tc_edge_base64_decode(uint8_t *out, uint32_t out_size, const char *text, uint32_t size,
                              enum tc_edge_base64_alphabet alphabet);

// Decodes exactly `size * 2` hex digits (either case) into `size` bytes. Returns 0 or TC_EINVAL.
int tc_edge_hex_decode(uint8_t *out, uint32_t size, const char *text, uint32_t text_size);

// Parses a canonical decimal u64: 1..20 digits, no sign, no leading zero (except "0" itself),
// value <= UINT64_MAX. Returns 0 or TC_EINVAL.
int tc_edge_u64_parse(const char *text, uint32_t size, uint64_t *out);

// Formats `value` in decimal into out (NUL-terminated). Returns the digits written (1..20).
uint32_t tc_edge_u64_format(char out[21], uint64_t value);

// Case-insensitive ASCII comparison of two byte strings of known sizes.
bool tc_edge_ascii_equal_nocase(const char *a, uint32_t a_size, const char *b, uint32_t b_size);

#endif
