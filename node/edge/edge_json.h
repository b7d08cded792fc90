#ifndef TC_EDGE_JSON_H
#define TC_EDGE_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

// JSON for the edge (docs/protocol.md §3-§7).
//
// Parsing goes through cJSON, but never through malloc: for the duration of one
// tc_edge_json_parse call, cJSON's allocation hooks point at a caller-provided scratch buffer
// (a bump allocator, reset by the next parse), and they are restored to the defaults before the
// call returns. So parsing allocates nothing, is bounded by the scratch size, and the tree lives
// until the scratch is reused. cJSON's hooks are process-global: the node must not use cJSON on
// another thread while the edge parses (the edge runs on one thread; nothing else in the node
// uses cJSON).
//
// Before cJSON sees the text, a strict pre-scan refuses what cJSON would accept or mangle:
// control bytes (raw or \u0000) inside strings, bytes after the value, and nesting deeper than
// TC_EDGE_JSON_DEPTH_MAX. Callers check member uniqueness with tc_edge_json_object_unique.
//
// Writing uses a bounded writer over a caller buffer: no tree, no allocation.

#define TC_EDGE_JSON_DEPTH_MAX 16u
// Scratch bytes that always suffice to parse `input_size` bytes: every cJSON node (64 bytes)
// costs at least two input bytes, every string at most its input size plus 16 bytes of rounding,
// and every string at least two input bytes.
#define TC_EDGE_JSON_SCRATCH_SIZE(input_size) ((input_size) * 48u + 512u)

struct tc_edge_json_scratch {
    uint8_t *base;
    uint32_t size_bytes;
    uint32_t used_bytes;
    bool exhausted; // an allocation failed during the last parse
};

// Points a scratch at `buffer` (16-byte aligned, asserted), which must outlive it.
void tc_edge_json_scratch_init(struct tc_edge_json_scratch *scratch, uint8_t *buffer,
                               uint32_t size_bytes);

// Parses exactly one JSON value filling text[0..size) (whitespace around it allowed). Returns
// TC_OK with *root set (valid until the scratch is reused), TC_EINVAL for invalid or refused JSON
// (see above), or TC_ENOMEM when the scratch ran out (cannot happen when the scratch holds
// TC_EDGE_JSON_SCRATCH_SIZE(size) bytes).
int tc_edge_json_parse(struct tc_edge_json_scratch *scratch, const char *text, uint32_t size,
                       cJSON **root);

// True when no two members of `object` share a name (duplicates make JSON ambiguous: parsers
// disagree on which one wins). Asserts `object` is an object.
bool tc_edge_json_object_unique(const cJSON *object);

// The string value of member `name` and its size, or false when absent or not a string.
bool tc_edge_json_get_string(const cJSON *object, const char *name, const char **value,
                             uint32_t *size);

// True when `item` is a JSON number holding an integer in [0, max] (max <= 2^53, where doubles
// stop being exact); sets *out. NaN, infinities, fractions and negatives are refused.
bool tc_edge_json_integer(const cJSON *item, uint64_t max, uint64_t *out);

#define TC_EDGE_JSON_INTEGER_MAX (1ull << 53)

// ------------------------------------------------------------------------------------------------
// Writer.

struct tc_edge_json_writer {
    char *out;
    uint32_t size;
    uint32_t used;
    bool overflow;
    bool after_key;
    uint32_t depth;
    uint32_t members[TC_EDGE_JSON_DEPTH_MAX]; // values written at each open level
};

// Starts writing into out[0..size). Values are written in document order; the writer inserts
// the commas. Misuse (a value where a key is due, unbalanced levels, depth > 16) is asserted;
// running out of space is not: it is reported once, by tc_edge_json_writer_finish.
void tc_edge_json_writer_init(struct tc_edge_json_writer *writer, char *out, uint32_t size);
// Open and close an object or an array (as a value: after a key, in an array, or at the top).
void tc_edge_json_object_begin(struct tc_edge_json_writer *writer);
void tc_edge_json_object_end(struct tc_edge_json_writer *writer);
void tc_edge_json_array_begin(struct tc_edge_json_writer *writer);
void tc_edge_json_array_end(struct tc_edge_json_writer *writer);
// A member name inside an object; `key` is a server-made ASCII identifier (asserted).
void tc_edge_json_key(struct tc_edge_json_writer *writer, const char *key);
// A string, escaped: '"', '\\' and bytes below 0x20 (as \u00XX); other bytes copied (the caller
// guarantees UTF-8).
void tc_edge_json_string(struct tc_edge_json_writer *writer, const char *text, uint32_t size);
// tc_edge_json_string of a NUL-terminated string.
void tc_edge_json_cstring(struct tc_edge_json_writer *writer, const char *text);
// A u64 as a decimal string ("42"): ids and seqs (docs/protocol.md §4).
void tc_edge_json_u64_string(struct tc_edge_json_writer *writer, uint64_t value);
// A non-negative integer as a JSON number (counts, codes, seconds).
void tc_edge_json_u64(struct tc_edge_json_writer *writer, uint64_t value);
// The literals true, false and null.
void tc_edge_json_bool(struct tc_edge_json_writer *writer, bool value);
void tc_edge_json_null(struct tc_edge_json_writer *writer);
// Bytes as a lowercase hex string.
void tc_edge_json_hex(struct tc_edge_json_writer *writer, const uint8_t *bytes, uint32_t size);
// Ends writing (every level closed, asserted). Returns the bytes written or TC_ENOSPC.
int32_t tc_edge_json_writer_finish(struct tc_edge_json_writer *writer);

#endif
