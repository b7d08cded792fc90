// Canonical JSON for the audit chain (docs/audit.md "Canonical bytes"): sorted keys, no
// whitespace, minimal string escapes, integers only. Parsing is cJSON's; encoding is ours, so the
// bytes never depend on cJSON's number or string formatting.
#include <cjson/cJSON.h>
#include <string.h>

#include "audit_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

void audit_buf_init(struct audit_buf *buf, char *data, uint32_t capacity) {
    tc_assert(buf != NULL);
    tc_assert(data != NULL);
    tc_assert(capacity > 0);
    buf->data = data;
    buf->capacity = capacity;
    buf->size = 0;
    buf->overflow = false;
}

void audit_buf_put(struct audit_buf *buf, const void *data, uint32_t size) {
    tc_assert(buf->size <= buf->capacity);
    if (buf->overflow || size > buf->capacity - buf->size) {
        buf->overflow = true;
        return;
    }
    memcpy(buf->data + buf->size, data, size);
    buf->size += size;
}

void audit_buf_put_cstr(struct audit_buf *buf, const char *text) {
    size_t size = strlen(text);
    tc_assert(size < UINT32_MAX);
    audit_buf_put(buf, text, (uint32_t)size);
}

void audit_buf_put_char(struct audit_buf *buf, char c) { audit_buf_put(buf, &c, 1); }

void audit_buf_put_u64(struct audit_buf *buf, uint64_t value) {
    char digits[20];
    uint32_t count = 0;
    do {
        digits[sizeof(digits) - 1 - count] = (char)('0' + value % 10);
        value /= 10;
        count++;
    } while (value != 0);
    tc_assert(count <= sizeof(digits));
    audit_buf_put(buf, digits + sizeof(digits) - count, count);
}

void audit_buf_put_hex_string(struct audit_buf *buf, const uint8_t *data, uint32_t size) {
    char hex[2 * 64 + 1];
    tc_assert(size <= 64);
    tc_hex_encode(hex, data, size);
    audit_buf_put_char(buf, '"');
    audit_buf_put(buf, hex, 2 * size);
    audit_buf_put_char(buf, '"');
}

void audit_buf_put_time_string(struct audit_buf *buf, uint64_t time_ms) {
    char text[TC_AUDIT_TIME_TEXT_SIZE + 1];
    audit_time_format(time_ms, text);
    audit_buf_put_char(buf, '"');
    audit_buf_put(buf, text, TC_AUDIT_TIME_TEXT_SIZE);
    audit_buf_put_char(buf, '"');
}

void audit_buf_put_json_string(struct audit_buf *buf, const char *text, uint32_t size) {
    static const char digits[] = "0123456789abcdef";
    audit_buf_put_char(buf, '"');
    for (uint32_t i = 0; i < size; i++) {
        const uint8_t c = (uint8_t)text[i];
        if (c == '"' || c == '\\') {
            const char escaped[2] = {'\\', (char)c};
            audit_buf_put(buf, escaped, 2);
        } else if (c == '\b') {
            audit_buf_put(buf, "\\b", 2);
        } else if (c == '\f') {
            audit_buf_put(buf, "\\f", 2);
        } else if (c == '\n') {
            audit_buf_put(buf, "\\n", 2);
        } else if (c == '\r') {
            audit_buf_put(buf, "\\r", 2);
        } else if (c == '\t') {
            audit_buf_put(buf, "\\t", 2);
        } else if (c < 0x20) {
            const char escaped[6] = {'\\', 'u', '0', '0', digits[c >> 4], digits[c & 0x0f]};
            audit_buf_put(buf, escaped, 6);
        } else {
            audit_buf_put(buf, &text[i], 1);
        }
    }
    audit_buf_put_char(buf, '"');
}

bool audit_buf_terminate(struct audit_buf *buf) {
    if (buf->overflow || buf->size >= buf->capacity) return false;
    buf->data[buf->size] = '\0';
    return true;
}

// RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
bool audit_utf8_valid(const char *text, uint32_t size) {
    uint32_t i = 0;
    while (i < size) {
        const uint8_t c = (uint8_t)text[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        uint32_t extra;
        uint32_t code_point;
        uint32_t code_point_min;
        if ((c & 0xe0) == 0xc0) {
            extra = 1, code_point = c & 0x1fu, code_point_min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2, code_point = c & 0x0fu, code_point_min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3, code_point = c & 0x07u, code_point_min = 0x10000;
        } else {
            return false;
        }
        if (size - i <= extra) return false;
        for (uint32_t k = 1; k <= extra; k++) {
            const uint8_t next = (uint8_t)text[i + k];
            if ((next & 0xc0) != 0x80) return false;
            code_point = (code_point << 6) | (next & 0x3fu);
        }
        if (code_point < code_point_min || code_point > 0x10ffff) return false;
        if (code_point >= 0xd800 && code_point <= 0xdfff) return false;
        i += extra + 1;
    }
    tc_assert(i == size);
    return true;
}

static int canonical_string(struct audit_buf *buf, const char *text, const char **detail) {
    tc_assert(text != NULL);
    const size_t size = strlen(text);
    if (size > TC_AUDIT_LINE_SIZE_MAX) {
        *detail = "string too long";
        return TC_ETOOBIG;
    }
    if (!audit_utf8_valid(text, (uint32_t)size)) {
        *detail = "string is not valid UTF-8";
        return TC_EINVAL;
    }
    audit_buf_put_json_string(buf, text, (uint32_t)size);
    return 0;
}

static int canonical_number(struct audit_buf *buf, double value, const char **detail) {
    const double limit = 9007199254740991.0; // 2^53 - 1: every integer up to it is exact
    if (!(value >= -limit && value <= limit)) {
        *detail = "number is not an integer within +-(2^53-1)";
        return TC_EINVAL;
    }
    const int64_t integer = (int64_t)value;
    if ((double)integer != value) {
        *detail = "number is not an integer (encode fractions as strings)";
        return TC_EINVAL;
    }
    if (integer < 0) audit_buf_put_char(buf, '-');
    audit_buf_put_u64(buf, integer < 0 ? (uint64_t)-integer : (uint64_t)integer);
    return 0;
}

// The member of object whose key is the smallest one greater than `after` (NULL: the smallest),
// or NULL. *duplicate is set if that key occurs more than once.
static const cJSON *next_member(const cJSON *object, const char *after, bool *duplicate) {
    const cJSON *best = NULL;
    *duplicate = false;
    for (const cJSON *child = object->child; child != NULL; child = child->next) {
        tc_assert(child->string != NULL);
        if (after != NULL && strcmp(child->string, after) <= 0) continue;
        const int order = best == NULL ? -1 : strcmp(child->string, best->string);
        if (order < 0) {
            best = child;
            *duplicate = false;
        } else if (order == 0) {
            *duplicate = true;
        }
    }
    return best;
}

static int canonical_object(struct audit_buf *buf, const cJSON *object, uint32_t depth,
                            const char **detail) {
    uint32_t count = 0;
    for (const cJSON *child = object->child; child != NULL; child = child->next) count++;
    if (count > TC_AUDIT_JSON_MEMBERS_MAX) {
        *detail = "object has too many members";
        return TC_ETOOBIG;
    }
    audit_buf_put_char(buf, '{');
    const char *previous = NULL;
    for (uint32_t i = 0; i < count; i++) {
        bool duplicate = false;
        const cJSON *member = next_member(object, previous, &duplicate);
        tc_assert(member != NULL); // count members, each key at least once: one per round
        if (duplicate) {
            *detail = "object has a duplicate key";
            return TC_EINVAL;
        }
        if (i > 0) audit_buf_put_char(buf, ',');
        int rc = canonical_string(buf, member->string, detail);
        if (rc != 0) return rc;
        audit_buf_put_char(buf, ':');
        rc = audit_json_canonical(buf, member, depth + 1, detail);
        if (rc != 0) return rc;
        previous = member->string;
    }
    audit_buf_put_char(buf, '}');
    return 0;
}

static int canonical_array(struct audit_buf *buf, const cJSON *array, uint32_t depth,
                           const char **detail) {
    audit_buf_put_char(buf, '[');
    uint32_t count = 0;
    for (const cJSON *child = array->child; child != NULL; child = child->next) {
        if (buf->overflow) return 0; // the caller reports the overflow; stop early
        if (count > 0) audit_buf_put_char(buf, ',');
        const int rc = audit_json_canonical(buf, child, depth + 1, detail);
        if (rc != 0) return rc;
        count++;
    }
    audit_buf_put_char(buf, ']');
    return 0;
}

int audit_json_canonical(struct audit_buf *buf, const cJSON *item, uint32_t depth,
                         const char **detail) {
    tc_assert(item != NULL);
    tc_assert(depth >= 1);
    if (depth > TC_AUDIT_JSON_DEPTH_MAX) {
        *detail = "nesting too deep";
        return TC_ETOOBIG;
    }
    if (cJSON_IsObject(item)) return canonical_object(buf, item, depth, detail);
    if (cJSON_IsArray(item)) return canonical_array(buf, item, depth, detail);
    if (cJSON_IsString(item)) return canonical_string(buf, item->valuestring, detail);
    if (cJSON_IsNumber(item)) return canonical_number(buf, item->valuedouble, detail);
    if (cJSON_IsTrue(item)) {
        audit_buf_put_cstr(buf, "true");
    } else if (cJSON_IsFalse(item)) {
        audit_buf_put_cstr(buf, "false");
    } else if (cJSON_IsNull(item)) {
        audit_buf_put_cstr(buf, "null");
    } else {
        *detail = "unsupported JSON value";
        return TC_EINVAL;
    }
    return 0;
}

// cJSON keeps strings NUL-terminated, so "\u0000" would silently cut a string short. Backslashes
// occur only inside strings in valid JSON, so a flat scan of escapes finds every such sequence.
static bool has_nul_escape(const char *text, size_t size) {
    for (size_t i = 0; i + 1 < size; i++) {
        if (text[i] != '\\') continue;
        if (text[i + 1] == 'u' && i + 5 < size && text[i + 2] == '0' && text[i + 3] == '0' &&
            text[i + 4] == '0' && text[i + 5] == '0') {
            return true;
        }
        i++; // skip the escaped character (it may be a backslash)
    }
    return false;
}

int audit_json_canonical_text(const char *text, enum audit_json_kind kind, char *out,
                              uint32_t capacity, uint32_t *size, const char **detail) {
    tc_assert(text != NULL);
    tc_assert(out != NULL && size != NULL && detail != NULL);
    // The caller's capacity bounds the text (the canonical form is never longer than what it
    // encodes once its whitespace is gone); audit lines pass TC_AUDIT_LINE_SIZE_MAX + 1.
    const size_t text_max = capacity - 1u < TC_AUDIT_JSON_SIZE_MAX ? capacity - 1u : TC_AUDIT_JSON_SIZE_MAX;
    const size_t text_size = strnlen(text, text_max + 1);
    if (text_size > text_max) {
        *detail = "JSON text too long";
        return TC_ETOOBIG;
    }
    if (has_nul_escape(text, text_size)) {
        *detail = "strings must not contain \\u0000";
        return TC_EINVAL;
    }
    cJSON *root = cJSON_ParseWithOpts(text, NULL, 1);
    if (root == NULL) {
        *detail = "not valid JSON";
        return TC_EINVAL;
    }
    int rc = 0;
    const bool kind_ok = cJSON_IsObject(root) ||
                         (kind == AUDIT_JSON_OBJECT_OR_STRING && cJSON_IsString(root));
    if (!kind_ok) {
        *detail = kind == AUDIT_JSON_OBJECT ? "not a JSON object" : "not a JSON object or string";
        rc = TC_EINVAL;
    } else {
        struct audit_buf buf;
        audit_buf_init(&buf, out, capacity);
        rc = audit_json_canonical(&buf, root, 1, detail);
        if (rc == 0 && !audit_buf_terminate(&buf)) {
            *detail = "canonical JSON too large";
            rc = TC_ETOOBIG;
        }
        if (rc == 0) *size = buf.size;
    }
    cJSON_Delete(root);
    return rc;
}
