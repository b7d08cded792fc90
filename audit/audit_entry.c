// Log entries and checkpoints: canonical encoding, controller signatures, and strict parsing that
// re-derives the exact bytes of a line (a line is accepted only if it equals its re-encoding).
#include <cjson/cJSON.h>
#include <sodium.h>
#include <string.h>

#include "audit_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

#define ENTRY_SIGNED_SIZE_MAX (AUDIT_ENTRY_SIZE_MAX + AUDIT_DOMAIN_SIZE_MAX)

static void key_put(struct audit_buf *buf, const char *key, bool first) {
    audit_buf_put_cstr(buf, first ? "{\"" : ",\"");
    audit_buf_put_cstr(buf, key);
    audit_buf_put_cstr(buf, "\":");
}

// The entry's canonical object; keys in sorted order. Without controller_sig it is what the
// controller signs.
static void entry_put(struct audit_buf *buf, const struct tc_audit_entry *entry,
                      bool with_controller_sig) {
    const struct tc_audit_request *request = &entry->request;
    const size_t action_size = strnlen(request->action, sizeof(request->action));
    tc_assert(action_size < sizeof(request->action));
    tc_assert(request->args_size <= TC_AUDIT_ARGS_SIZE_MAX);
    tc_assert(entry->result_size <= TC_AUDIT_RESULT_SIZE_MAX);
    tc_assert(entry->seq <= TC_AUDIT_SEQ_MAX);
    key_put(buf, "action", true);
    audit_buf_put_json_string(buf, request->action, (uint32_t)action_size);
    key_put(buf, "actor", false);
    audit_buf_put_hex_string(buf, request->actor.bytes, sizeof(request->actor.bytes));
    key_put(buf, "actor_sig", false);
    audit_buf_put_hex_string(buf, request->signature.bytes, sizeof(request->signature.bytes));
    key_put(buf, "args", false);
    audit_buf_put(buf, request->args, request->args_size);
    key_put(buf, "controller", false);
    audit_buf_put_hex_string(buf, entry->controller.bytes, sizeof(entry->controller.bytes));
    if (with_controller_sig) {
        key_put(buf, "controller_sig", false);
        audit_buf_put_hex_string(buf, entry->controller_sig.bytes,
                                 sizeof(entry->controller_sig.bytes));
    }
    key_put(buf, "nonce", false);
    audit_buf_put_hex_string(buf, request->nonce, TC_AUDIT_NONCE_SIZE);
    key_put(buf, "prev", false);
    audit_buf_put_hex_string(buf, entry->prev.bytes, sizeof(entry->prev.bytes));
    key_put(buf, "request_time", false);
    audit_buf_put_time_string(buf, request->time_ms);
    key_put(buf, "result", false);
    audit_buf_put(buf, entry->result, entry->result_size);
    key_put(buf, "seq", false);
    audit_buf_put_u64(buf, entry->seq);
    key_put(buf, "time", false);
    audit_buf_put_time_string(buf, entry->time_ms);
    audit_buf_put_char(buf, '}');
}

int tc_audit_entry_init(struct tc_audit_entry *entry, const struct tc_audit_request *request,
                        const char *result_json, uint64_t seq, uint64_t time_ms,
                        const struct tc_hash256 *prev, const char **detail) {
    tc_assert(entry != NULL && request != NULL && result_json != NULL && prev != NULL);
    tc_assert(request->args_size <= TC_AUDIT_ARGS_SIZE_MAX);
    const char *ignored = NULL;
    if (detail == NULL) detail = &ignored;
    memset(entry, 0, sizeof(*entry));
    const size_t action_size = strnlen(request->action, sizeof(request->action));
    if (!audit_action_valid(request->action, action_size)) {
        *detail = "the request's action is not valid (use tc_audit_request_init)";
        return TC_EINVAL;
    }
    if (seq == 0 || seq > TC_AUDIT_SEQ_MAX) {
        *detail = "seq must be in 1..2^53-1";
        return TC_EINVAL;
    }
    if (time_ms > TC_AUDIT_TIME_MS_MAX || request->time_ms > TC_AUDIT_TIME_MS_MAX) {
        *detail = "time is after 9999-12-31";
        return TC_EINVAL;
    }
    const int rc = audit_json_canonical_text(result_json, AUDIT_JSON_OBJECT_OR_STRING,
                                             entry->result, sizeof(entry->result),
                                             &entry->result_size, detail);
    if (rc != 0) return rc;
    entry->request = *request;
    entry->seq = seq;
    entry->time_ms = time_ms;
    entry->prev = *prev;
    return 0;
}

static uint32_t entry_signed_bytes(const struct tc_audit_entry *entry, char *out,
                                   uint32_t capacity) {
    struct audit_buf buf;
    audit_buf_init(&buf, out, capacity);
    audit_buf_put_cstr(&buf, audit_domain_entry);
    entry_put(&buf, entry, false);
    tc_assert(!buf.overflow); // AUDIT_ENTRY_SIZE_MAX bounds every entry the struct can hold
    return buf.size;
}

void tc_audit_entry_sign(struct tc_audit_entry *entry,
                         const struct tc_audit_secret_key *controller) {
    tc_assert(entry != NULL && controller != NULL);
    tc_audit_key_public(controller, &entry->controller);
    char bytes[ENTRY_SIGNED_SIZE_MAX];
    const uint32_t size = entry_signed_bytes(entry, bytes, sizeof(bytes));
    const int rc = crypto_sign_detached(entry->controller_sig.bytes, NULL,
                                        (const unsigned char *)bytes, size, controller->bytes);
    tc_assert(rc == 0);
    tc_assert(audit_entry_signature_valid(entry));
}

bool audit_entry_signature_valid(const struct tc_audit_entry *entry) {
    tc_assert(entry != NULL);
    char bytes[ENTRY_SIGNED_SIZE_MAX];
    const uint32_t size = entry_signed_bytes(entry, bytes, sizeof(bytes));
    return crypto_sign_verify_detached(entry->controller_sig.bytes, (const unsigned char *)bytes,
                                       size, entry->controller.bytes) == 0;
}

int tc_audit_entry_encode(const struct tc_audit_entry *entry, char *line, uint32_t capacity,
                          uint32_t *size) {
    tc_assert(entry != NULL && line != NULL && size != NULL);
    struct audit_buf buf;
    audit_buf_init(&buf, line, capacity);
    entry_put(&buf, entry, true);
    if (!audit_buf_terminate(&buf) || buf.size > TC_AUDIT_LINE_SIZE_MAX) return TC_ETOOBIG;
    *size = buf.size;
    return 0;
}

// ------------------------------------------------------------------------------------------------
// Checkpoints.

static void checkpoint_put(struct audit_buf *buf, const struct tc_audit_checkpoint *checkpoint,
                           bool with_controller_sig) {
    tc_assert(checkpoint->seq <= TC_AUDIT_SEQ_MAX);
    key_put(buf, "controller", true);
    audit_buf_put_hex_string(buf, checkpoint->controller.bytes, sizeof(checkpoint->controller));
    if (with_controller_sig) {
        key_put(buf, "controller_sig", false);
        audit_buf_put_hex_string(buf, checkpoint->controller_sig.bytes,
                                 sizeof(checkpoint->controller_sig.bytes));
    }
    key_put(buf, "head", false);
    audit_buf_put_hex_string(buf, checkpoint->head.bytes, sizeof(checkpoint->head.bytes));
    key_put(buf, "seq", false);
    audit_buf_put_u64(buf, checkpoint->seq);
    key_put(buf, "time", false);
    audit_buf_put_time_string(buf, checkpoint->time_ms);
    audit_buf_put_char(buf, '}');
}

static uint32_t checkpoint_signed_bytes(const struct tc_audit_checkpoint *checkpoint, char *out,
                                        uint32_t capacity) {
    struct audit_buf buf;
    audit_buf_init(&buf, out, capacity);
    audit_buf_put_cstr(&buf, audit_domain_checkpoint);
    checkpoint_put(&buf, checkpoint, false);
    tc_assert(!buf.overflow);
    return buf.size;
}

void tc_audit_checkpoint_sign(struct tc_audit_checkpoint *checkpoint,
                              const struct tc_audit_secret_key *controller) {
    tc_assert(checkpoint != NULL && controller != NULL);
    tc_audit_key_public(controller, &checkpoint->controller);
    char bytes[AUDIT_CHECKPOINT_SIZE_MAX];
    const uint32_t size = checkpoint_signed_bytes(checkpoint, bytes, sizeof(bytes));
    const int rc = crypto_sign_detached(checkpoint->controller_sig.bytes, NULL,
                                        (const unsigned char *)bytes, size, controller->bytes);
    tc_assert(rc == 0);
    tc_assert(audit_checkpoint_signature_valid(checkpoint));
}

bool audit_checkpoint_signature_valid(const struct tc_audit_checkpoint *checkpoint) {
    tc_assert(checkpoint != NULL);
    char bytes[AUDIT_CHECKPOINT_SIZE_MAX];
    const uint32_t size = checkpoint_signed_bytes(checkpoint, bytes, sizeof(bytes));
    return crypto_sign_verify_detached(checkpoint->controller_sig.bytes,
                                       (const unsigned char *)bytes, size,
                                       checkpoint->controller.bytes) == 0;
}

int tc_audit_checkpoint_encode(const struct tc_audit_checkpoint *checkpoint, char *line,
                               uint32_t capacity, uint32_t *size) {
    tc_assert(checkpoint != NULL && line != NULL && size != NULL);
    struct audit_buf buf;
    audit_buf_init(&buf, line, capacity);
    checkpoint_put(&buf, checkpoint, true);
    if (!audit_buf_terminate(&buf)) return TC_ETOOBIG;
    tc_assert(buf.size <= AUDIT_CHECKPOINT_SIZE_MAX);
    *size = buf.size;
    return 0;
}

// ------------------------------------------------------------------------------------------------
// Parsing: a table of the fields a record must have, in canonical (sorted) order.

typedef bool (*audit_field_parse_fn)(const cJSON *item, const char *name, void *target,
                                     struct audit_problem *problem);

struct audit_field {
    const char *name;
    audit_field_parse_fn parse;
};

static bool parse_hex(const cJSON *item, const char *name, uint8_t *out, uint32_t size,
                      struct audit_problem *problem) {
    if (cJSON_IsString(item) &&
        audit_hex_decode(out, size, item->valuestring, strlen(item->valuestring))) {
        return true;
    }
    audit_problem_set(problem, TC_AUDIT_BAD_FIELD, "field '%s' is not %u lowercase hex characters",
                      name, 2 * size);
    return false;
}

static bool parse_time(const cJSON *item, const char *name, uint64_t *time_ms,
                       struct audit_problem *problem) {
    if (cJSON_IsString(item) &&
        audit_time_parse(item->valuestring, strlen(item->valuestring), time_ms)) {
        return true;
    }
    audit_problem_set(problem, TC_AUDIT_BAD_FIELD,
                      "field '%s' is not a UTC time like 2025-01-02T03:04:05.678Z", name);
    return false;
}

static bool parse_seq(const cJSON *item, const char *name, uint64_t *seq,
                      struct audit_problem *problem) {
    const double limit = (double)TC_AUDIT_SEQ_MAX;
    if (cJSON_IsNumber(item) && item->valuedouble >= 1.0 && item->valuedouble <= limit) {
        *seq = (uint64_t)item->valuedouble; // a fraction shows up in the canonical comparison
        return true;
    }
    audit_problem_set(problem, TC_AUDIT_BAD_FIELD, "field '%s' is not an integer in 1..2^53-1",
                      name);
    return false;
}

// args (an object) or result (an object or a string), canonicalised into out.
static bool parse_json(const cJSON *item, const char *name, bool string_allowed, char *out,
                       uint32_t capacity, uint32_t *size, struct audit_problem *problem) {
    if (!cJSON_IsObject(item) && !(string_allowed && cJSON_IsString(item))) {
        audit_problem_set(problem, TC_AUDIT_BAD_FIELD, "field '%s' is not a JSON %s", name,
                          string_allowed ? "object or string" : "object");
        return false;
    }
    struct audit_buf buf;
    audit_buf_init(&buf, out, capacity);
    const char *detail = NULL;
    const int rc = audit_json_canonical(&buf, item, 1, &detail);
    if (rc != 0) {
        audit_problem_set(problem, TC_AUDIT_BAD_FIELD, "field '%s': %s", name, detail);
        return false;
    }
    if (!audit_buf_terminate(&buf)) {
        audit_problem_set(problem, TC_AUDIT_BAD_FIELD, "field '%s' exceeds %u bytes", name,
                          capacity - 1);
        return false;
    }
    *size = buf.size;
    return true;
}

static bool field_action(const cJSON *item, const char *name, void *target,
                         struct audit_problem *problem) {
    struct tc_audit_entry *entry = target;
    if (cJSON_IsString(item)) {
        const size_t size = strlen(item->valuestring);
        if (audit_action_valid(item->valuestring, size)) {
            memcpy(entry->request.action, item->valuestring, size + 1);
            return true;
        }
    }
    audit_problem_set(problem, TC_AUDIT_BAD_FIELD, "field '%s' is not an action name", name);
    return false;
}

static bool field_actor(const cJSON *item, const char *name, void *target,
                        struct audit_problem *problem) {
    struct tc_audit_entry *entry = target;
    return parse_hex(item, name, entry->request.actor.bytes, 32, problem);
}

static bool field_actor_sig(const cJSON *item, const char *name, void *target,
                            struct audit_problem *problem) {
    struct tc_audit_entry *entry = target;
    return parse_hex(item, name, entry->request.signature.bytes, 64, problem);
}

static bool field_args(const cJSON *item, const char *name, void *target,
                       struct audit_problem *problem) {
    struct tc_audit_entry *entry = target;
    return parse_json(item, name, false, entry->request.args, sizeof(entry->request.args),
                      &entry->request.args_size, problem);
}

static bool field_controller(const cJSON *item, const char *name, void *target,
                             struct audit_problem *problem) {
    struct tc_audit_entry *entry = target;
    return parse_hex(item, name, entry->controller.bytes, 32, problem);
}

static bool field_controller_sig(const cJSON *item, const char *name, void *target,
                                 struct audit_problem *problem) {
    struct tc_audit_entry *entry = target;
    return parse_hex(item, name, entry->controller_sig.bytes, 64, problem);
}

static bool field_nonce(const cJSON *item, const char *name, void *target,
                        struct audit_problem *problem) {
    struct tc_audit_entry *entry = target;
    return parse_hex(item, name, entry->request.nonce, TC_AUDIT_NONCE_SIZE, problem);
}

static bool field_prev(const cJSON *item, const char *name, void *target,
                       struct audit_problem *problem) {
    struct tc_audit_entry *entry = target;
    return parse_hex(item, name, entry->prev.bytes, 32, problem);
}

static bool field_request_time(const cJSON *item, const char *name, void *target,
                               struct audit_problem *problem) {
    struct tc_audit_entry *entry = target;
    return parse_time(item, name, &entry->request.time_ms, problem);
}

static bool field_result(const cJSON *item, const char *name, void *target,
                         struct audit_problem *problem) {
    struct tc_audit_entry *entry = target;
    return parse_json(item, name, true, entry->result, sizeof(entry->result), &entry->result_size,
                      problem);
}

static bool field_seq(const cJSON *item, const char *name, void *target,
                      struct audit_problem *problem) {
    struct tc_audit_entry *entry = target;
    return parse_seq(item, name, &entry->seq, problem);
}

static bool field_time(const cJSON *item, const char *name, void *target,
                       struct audit_problem *problem) {
    struct tc_audit_entry *entry = target;
    return parse_time(item, name, &entry->time_ms, problem);
}

static const struct audit_field entry_fields[] = {
    {"action", field_action},
    {"actor", field_actor},
    {"actor_sig", field_actor_sig},
    {"args", field_args},
    {"controller", field_controller},
    {"controller_sig", field_controller_sig},
    {"nonce", field_nonce},
    {"prev", field_prev},
    {"request_time", field_request_time},
    {"result", field_result},
    {"seq", field_seq},
    {"time", field_time},
};

static bool checkpoint_controller(const cJSON *item, const char *name, void *target,
                                  struct audit_problem *problem) {
    struct tc_audit_checkpoint *checkpoint = target;
    return parse_hex(item, name, checkpoint->controller.bytes, 32, problem);
}

static bool checkpoint_controller_sig(const cJSON *item, const char *name, void *target,
                                      struct audit_problem *problem) {
    struct tc_audit_checkpoint *checkpoint = target;
    return parse_hex(item, name, checkpoint->controller_sig.bytes, 64, problem);
}

static bool checkpoint_head(const cJSON *item, const char *name, void *target,
                            struct audit_problem *problem) {
    struct tc_audit_checkpoint *checkpoint = target;
    return parse_hex(item, name, checkpoint->head.bytes, 32, problem);
}

static bool checkpoint_seq(const cJSON *item, const char *name, void *target,
                           struct audit_problem *problem) {
    struct tc_audit_checkpoint *checkpoint = target;
    return parse_seq(item, name, &checkpoint->seq, problem);
}

static bool checkpoint_time(const cJSON *item, const char *name, void *target,
                            struct audit_problem *problem) {
    struct tc_audit_checkpoint *checkpoint = target;
    return parse_time(item, name, &checkpoint->time_ms, problem);
}

static const struct audit_field checkpoint_fields[] = {
    {"controller", checkpoint_controller},
    {"controller_sig", checkpoint_controller_sig},
    {"head", checkpoint_head},
    {"seq", checkpoint_seq},
    {"time", checkpoint_time},
};

static bool field_known(const struct audit_field *fields, uint32_t count, const char *name) {
    for (uint32_t i = 0; i < count; i++) {
        if (strcmp(fields[i].name, name) == 0) return true;
    }
    return false;
}

// Exactly the fields of the table, each once, in the table's (sorted) order; then each parsed.
static bool fields_parse(const cJSON *root, const struct audit_field *fields, uint32_t count,
                         void *target, struct audit_problem *problem) {
    if (!cJSON_IsObject(root)) {
        audit_problem_set(problem, TC_AUDIT_BAD_FIELD, "not a JSON object");
        return false;
    }
    uint32_t members = 0;
    for (const cJSON *child = root->child; child != NULL; child = child->next, members++) {
        if (!field_known(fields, count, child->string)) {
            char name[48];
            audit_sanitize(name, sizeof(name), child->string);
            audit_problem_set(problem, TC_AUDIT_BAD_FIELD, "unexpected field '%s'", name);
            return false;
        }
    }
    for (uint32_t i = 0; i < count; i++) {
        if (cJSON_GetObjectItemCaseSensitive(root, fields[i].name) == NULL) {
            audit_problem_set(problem, TC_AUDIT_BAD_FIELD, "missing field '%s'", fields[i].name);
            return false;
        }
    }
    if (members != count) {
        audit_problem_set(problem, TC_AUDIT_BAD_FIELD, "a field appears twice");
        return false;
    }
    uint32_t i = 0;
    for (const cJSON *child = root->child; child != NULL; child = child->next, i++) {
        if (strcmp(child->string, fields[i].name) != 0) {
            audit_problem_set(problem, TC_AUDIT_NOT_CANONICAL, "fields are not in sorted order");
            return false;
        }
    }
    i = 0;
    for (const cJSON *child = root->child; child != NULL; child = child->next, i++) {
        if (!fields[i].parse(child, fields[i].name, target, problem)) return false;
    }
    return true;
}

// Parses line as JSON and fills target through the field table. Raw control bytes never occur in
// a canonical line (they are escaped), so they are refused before parsing.
static bool record_parse(const char *line, uint32_t size, const struct audit_field *fields,
                         uint32_t count, void *target, struct audit_problem *problem) {
    if (size == 0) {
        audit_problem_set(problem, TC_AUDIT_NOT_JSON, "empty line");
        return false;
    }
    for (uint32_t i = 0; i < size; i++) {
        if ((uint8_t)line[i] < 0x20) {
            audit_problem_set(problem, TC_AUDIT_NOT_CANONICAL,
                              "raw control byte 0x%02x at byte %u", (unsigned)(uint8_t)line[i],
                              i + 1);
            return false;
        }
    }
    const char *error_at = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(line, size, &error_at, 0);
    if (root == NULL) {
        const uint64_t at = error_at == NULL ? 0 : (uint64_t)(error_at - line);
        audit_problem_set(problem, TC_AUDIT_NOT_JSON, "not valid JSON (error near byte %llu)",
                          (unsigned long long)at + 1);
        return false;
    }
    const bool ok = fields_parse(root, fields, count, target, problem);
    cJSON_Delete(root);
    return ok;
}

static bool same_bytes(const char *line, uint32_t size, const char *canonical,
                       uint32_t canonical_size, struct audit_problem *problem) {
    uint32_t i = 0;
    while (i < size && i < canonical_size && line[i] == canonical[i]) i++;
    if (i == size && i == canonical_size) return true;
    audit_problem_set(problem, TC_AUDIT_NOT_CANONICAL,
                      "differs from its canonical encoding at byte %u", i + 1);
    return false;
}

bool audit_entry_parse(const char *line, uint32_t size, struct tc_audit_entry *entry, char *scratch,
                       struct audit_problem *problem) {
    tc_assert(line != NULL && entry != NULL && scratch != NULL && problem != NULL);
    tc_assert(size <= TC_AUDIT_LINE_SIZE_MAX);
    memset(entry, 0, sizeof(*entry));
    if (!record_parse(line, size, entry_fields, TC_ARRAY_COUNT(entry_fields), entry, problem)) {
        return false;
    }
    uint32_t canonical_size = 0;
    const int rc = tc_audit_entry_encode(entry, scratch, TC_AUDIT_LINE_SIZE_MAX + 1,
                                         &canonical_size);
    tc_assert(rc == 0);
    return same_bytes(line, size, scratch, canonical_size, problem);
}

bool audit_checkpoint_parse(const char *line, uint32_t size, struct tc_audit_checkpoint *checkpoint,
                            char *scratch, struct audit_problem *problem) {
    tc_assert(line != NULL && checkpoint != NULL && scratch != NULL && problem != NULL);
    tc_assert(size <= TC_AUDIT_LINE_SIZE_MAX);
    memset(checkpoint, 0, sizeof(*checkpoint));
    if (!record_parse(line, size, checkpoint_fields, TC_ARRAY_COUNT(checkpoint_fields), checkpoint,
                      problem)) {
        return false;
    }
    uint32_t canonical_size = 0;
    const int rc = tc_audit_checkpoint_encode(checkpoint, scratch, TC_AUDIT_LINE_SIZE_MAX + 1,
                                              &canonical_size);
    tc_assert(rc == 0);
    return same_bytes(line, size, scratch, canonical_size, problem);
}
