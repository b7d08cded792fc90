// cJSON over a scratch buffer, a strict pre-scan, and a bounded JSON writer.
#include "edge_json.h"

#include <string.h>

#include "edge_encoding.h"
#include "tc_assert.h"
#include "tc_err.h"

#define SCRATCH_ALIGN 16u

// The scratch cJSON allocates from during tc_edge_json_parse; NULL at all other times.
static _Thread_local struct tc_edge_json_scratch *scratch_active;

void tc_edge_json_scratch_init(struct tc_edge_json_scratch *scratch, uint8_t *buffer,
                               uint32_t size_bytes) {
    tc_assert(scratch != NULL);
    tc_assert(buffer != NULL);
    tc_assert(((uintptr_t)buffer % SCRATCH_ALIGN) == 0);
    scratch->base = buffer;
    scratch->size_bytes = size_bytes;
    scratch->used_bytes = 0;
    scratch->exhausted = false;
}

static void *scratch_malloc(size_t size) {
    struct tc_edge_json_scratch *scratch = scratch_active;
    tc_assert(scratch != NULL); // cJSON used outside tc_edge_json_parse while hooks installed
    size_t rounded = (size + SCRATCH_ALIGN - 1) / SCRATCH_ALIGN * SCRATCH_ALIGN;
    if (size == 0 || rounded > scratch->size_bytes - scratch->used_bytes) {
        scratch->exhausted = true;
        return NULL;
    }
    void *p = scratch->base + scratch->used_bytes;
    scratch->used_bytes += (uint32_t)rounded;
    return p;
}

static void scratch_free(void *pointer) {
    (void)pointer; // the scratch is reset as a whole by the next parse
}

// Control bytes inside strings (raw, or the escape \u0000 that cJSON would cut a string at),
// nesting depth, and raw NUL anywhere. cJSON checks the rest of the grammar.
static bool prescan(const char *text, uint32_t size) {
    bool in_string = false;
    uint32_t depth = 0;
    for (uint32_t i = 0; i < size; i++) {
        uint8_t c = (uint8_t)text[i];
        if (c == 0) return false;
        if (in_string) {
            if (c < 0x20) return false;
            if (c == '"') in_string = false;
            if (c != '\\') continue;
            if (i + 1 >= size) return false;
            if (text[i + 1] == 'u' && i + 5 < size && memcmp(text + i + 2, "0000", 4) == 0) {
                return false;
            }
            i++; // skip the escaped character
            continue;
        }
        if (c == '"') in_string = true;
        if (c == '[' || c == '{') {
            if (++depth > TC_EDGE_JSON_DEPTH_MAX) return false;
        }
        if ((c == ']' || c == '}') && depth > 0) depth--;
    }
    return !in_string;
}

static bool is_json_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int tc_edge_json_parse(struct tc_edge_json_scratch *scratch, const char *text, uint32_t size,
                       cJSON **root) {
    tc_assert(scratch != NULL && root != NULL);
    tc_assert(text != NULL || size == 0);
    tc_assert(scratch_active == NULL);
    *root = NULL;
    scratch->used_bytes = 0;
    scratch->exhausted = false;
    if (size == 0 || !prescan(text, size)) return TC_EINVAL;
    cJSON_Hooks hooks = {.malloc_fn = scratch_malloc, .free_fn = scratch_free};
    scratch_active = scratch;
    cJSON_InitHooks(&hooks);
    const char *end = NULL;
    cJSON *parsed = cJSON_ParseWithLengthOpts(text, size, &end, false);
    cJSON_InitHooks(NULL);
    scratch_active = NULL;
    if (scratch->exhausted) return TC_ENOMEM;
    if (parsed == NULL) return TC_EINVAL;
    tc_assert(end != NULL && end >= text && end <= text + size);
    while (end < text + size && is_json_space(*end)) end++;
    if (end != text + size) return TC_EINVAL;
    *root = parsed;
    return TC_OK;
}

bool tc_edge_json_object_unique(const cJSON *object) {
    tc_assert(cJSON_IsObject(object));
    for (const cJSON *a = object->child; a != NULL; a = a->next) {
        tc_assert(a->string != NULL);
        for (const cJSON *b = a->next; b != NULL; b = b->next) {
            if (strcmp(a->string, b->string) == 0) return false;
        }
    }
    return true;
}

bool tc_edge_json_get_string(const cJSON *object, const char *name, const char **value,
                             uint32_t *size) {
    tc_assert(cJSON_IsObject(object));
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    if (!cJSON_IsString(item)) return false;
    tc_assert(item->valuestring != NULL);
    size_t length = strlen(item->valuestring); // no \u0000 inside (prescan)
    tc_assert(length <= UINT32_MAX);
    *value = item->valuestring;
    *size = (uint32_t)length;
    return true;
}

bool tc_edge_json_integer(const cJSON *item, uint64_t max, uint64_t *out) {
    tc_assert(max <= TC_EDGE_JSON_INTEGER_MAX);
    tc_assert(out != NULL);
    if (!cJSON_IsNumber(item)) return false;
    double value = item->valuedouble;
    if (!(value >= 0.0 && value <= (double)max)) return false; // also refuses NaN
    uint64_t integer = (uint64_t)value;
    if ((double)integer != value) return false;
    *out = integer;
    return true;
}

// ------------------------------------------------------------------------------------------------
// Writer.

void tc_edge_json_writer_init(struct tc_edge_json_writer *writer, char *out, uint32_t size) {
    tc_assert(writer != NULL);
    tc_assert(out != NULL || size == 0);
    memset(writer, 0, sizeof(*writer));
    writer->out = out;
    writer->size = size;
}

static void put(struct tc_edge_json_writer *w, const char *data, uint32_t size) {
    if (w->overflow || size > w->size - w->used) {
        w->overflow = true;
        return;
    }
    memcpy(w->out + w->used, data, size);
    w->used += size;
}

static void put_char(struct tc_edge_json_writer *w, char c) {
    put(w, &c, 1);
}

// Before a value: the comma between array elements (an object member's comma comes with its key).
static void value_prefix(struct tc_edge_json_writer *w) {
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth == 0) return;
    if (w->members[w->depth - 1] > 0) put_char(w, ',');
    w->members[w->depth - 1]++;
}

static void open_level(struct tc_edge_json_writer *w, char c) {
    value_prefix(w);
    tc_assert(w->depth < TC_EDGE_JSON_DEPTH_MAX);
    w->members[w->depth++] = 0;
    put_char(w, c);
}

static void close_level(struct tc_edge_json_writer *w, char c) {
    tc_assert(w->depth > 0);
    tc_assert(!w->after_key);
    w->depth--;
    put_char(w, c);
}

void tc_edge_json_object_begin(struct tc_edge_json_writer *writer) {
    open_level(writer, '{');
}

void tc_edge_json_object_end(struct tc_edge_json_writer *writer) {
    close_level(writer, '}');
}

void tc_edge_json_array_begin(struct tc_edge_json_writer *writer) {
    open_level(writer, '[');
}

void tc_edge_json_array_end(struct tc_edge_json_writer *writer) {
    close_level(writer, ']');
}

void tc_edge_json_key(struct tc_edge_json_writer *writer, const char *key) {
    tc_assert(writer->depth > 0);
    tc_assert(!writer->after_key);
    for (const char *c = key; *c != '\0'; c++) tc_assert(*c == '_' || (*c >= 'a' && *c <= 'z'));
    if (writer->members[writer->depth - 1] > 0) put_char(writer, ',');
    writer->members[writer->depth - 1]++;
    put_char(writer, '"');
    put(writer, key, (uint32_t)strlen(key));
    put(writer, "\":", 2);
    writer->after_key = true;
}

void tc_edge_json_string(struct tc_edge_json_writer *writer, const char *text, uint32_t size) {
    tc_assert(text != NULL || size == 0);
    static const char digits[] = "0123456789abcdef";
    value_prefix(writer);
    put_char(writer, '"');
    uint32_t run = 0; // bytes copied as they are, flushed before each escape
    for (uint32_t i = 0; i < size; i++) {
        uint8_t c = (uint8_t)text[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        put(writer, text + run, i - run);
        run = i + 1;
        if (c == '"' || c == '\\') {
            char escaped[2] = {'\\', (char)c};
            put(writer, escaped, 2);
        } else {
            char escaped[6] = {'\\', 'u', '0', '0', digits[c >> 4], digits[c & 15]};
            put(writer, escaped, 6);
        }
    }
    put(writer, text + run, size - run);
    put_char(writer, '"');
}

void tc_edge_json_cstring(struct tc_edge_json_writer *writer, const char *text) {
    tc_edge_json_string(writer, text, (uint32_t)strlen(text));
}

void tc_edge_json_u64_string(struct tc_edge_json_writer *writer, uint64_t value) {
    char digits[21];
    uint32_t size = tc_edge_u64_format(digits, value);
    value_prefix(writer);
    put_char(writer, '"');
    put(writer, digits, size);
    put_char(writer, '"');
}

void tc_edge_json_u64(struct tc_edge_json_writer *writer, uint64_t value) {
    char digits[21];
    uint32_t size = tc_edge_u64_format(digits, value);
    value_prefix(writer);
    put(writer, digits, size);
}

void tc_edge_json_bool(struct tc_edge_json_writer *writer, bool value) {
    value_prefix(writer);
    if (value) {
        put(writer, "true", 4);
    } else {
        put(writer, "false", 5);
    }
}

void tc_edge_json_null(struct tc_edge_json_writer *writer) {
    value_prefix(writer);
    put(writer, "null", 4);
}

void tc_edge_json_hex(struct tc_edge_json_writer *writer, const uint8_t *bytes, uint32_t size) {
    static const char digits[] = "0123456789abcdef";
    tc_assert(bytes != NULL || size == 0);
    value_prefix(writer);
    put_char(writer, '"');
    for (uint32_t i = 0; i < size; i++) {
        char pair[2] = {digits[bytes[i] >> 4], digits[bytes[i] & 15]};
        put(writer, pair, 2);
    }
    put_char(writer, '"');
}

int32_t tc_edge_json_writer_finish(struct tc_edge_json_writer *writer) {
    tc_assert(writer->depth == 0);
    tc_assert(!writer->after_key);
    if (writer->overflow) return TC_ENOSPC;
    tc_assert(writer->used <= writer->size);
    tc_assert(writer->used <= INT32_MAX);
    return (int32_t)writer->used;
}
