// Access to an applying action's parameters: its args (a canonical JSON object parsed by cJSON)
// and the members of an ok result object. Every failure names the action and the field in
// store->error and returns TC_EINVAL.
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "store_internal.h"
#include "tc_assert.h"
#include "tc_audit.h"
#include "tc_err.h"

int args_fail(struct store_apply *apply, const char *format, ...) {
    tc_assert(apply != NULL && apply->store != NULL);
    char detail[CTL_STORE_ERROR_SIZE];
    va_list ap;
    va_start(ap, format);
    (void)vsnprintf(detail, sizeof(detail), format, ap);
    va_end(ap);
    return store_fail(apply->store, TC_EINVAL, "%s (seq %lld): %s", apply->action->action,
                      (long long)apply->seq, detail);
}

int args_item_u64(struct store_apply *apply, const cJSON *item, const char *what, uint64_t min,
                  uint64_t max, uint64_t *out) {
    tc_assert(out != NULL);
    tc_assert(min <= max && max <= TC_AUDIT_SEQ_MAX);
    if (item == NULL || !cJSON_IsNumber(item)) {
        return args_fail(apply, "%s must be an integer", what);
    }
    const double value = item->valuedouble;
    // Canonical JSON holds integers within +-(2^53-1) only; check again rather than trust it.
    if (!(value >= (double)min && value <= (double)max) || value != (double)(uint64_t)value) {
        return args_fail(apply, "%s must be an integer in %llu..%llu", what,
                         (unsigned long long)min, (unsigned long long)max);
    }
    *out = (uint64_t)value;
    tc_assert(*out >= min && *out <= max);
    return 0;
}

const cJSON *args_member(struct store_apply *apply, const char *name) {
    tc_assert(apply->args != NULL && name != NULL);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(apply->args, name);
    if (item == NULL && apply->result != NULL) {
        item = cJSON_GetObjectItemCaseSensitive(apply->result, name);
    }
    return item;
}

int args_u64(struct store_apply *apply, const char *name, uint64_t min, uint64_t max,
             uint64_t *out) {
    return args_item_u64(apply, args_member(apply, name), name, min, max, out);
}

int args_u64_opt(struct store_apply *apply, const char *name, uint64_t min, uint64_t max,
                 uint64_t *out, bool *present) {
    tc_assert(present != NULL);
    const cJSON *item = args_member(apply, name);
    *present = item != NULL;
    if (item == NULL) return 0;
    return args_item_u64(apply, item, name, min, max, out);
}

int args_text_opt(struct store_apply *apply, const char *name, const char **out, bool *present) {
    tc_assert(out != NULL && present != NULL);
    const cJSON *item = args_member(apply, name);
    *present = item != NULL;
    if (item == NULL) return 0;
    if (!cJSON_IsString(item) || item->valuestring == NULL) {
        return args_fail(apply, "%s must be a string", name);
    }
    *out = item->valuestring;
    return 0;
}

int args_text(struct store_apply *apply, const char *name, const char **out) {
    bool present = false;
    const int rc = args_text_opt(apply, name, out, &present);
    if (rc != 0) return rc;
    if (!present) return args_fail(apply, "%s is missing", name);
    return 0;
}

int args_plain(struct store_apply *apply, const char *name, uint32_t min_size, uint32_t size_max,
               const char **out) {
    const int rc = args_text(apply, name, out);
    if (rc != 0) return rc;
    if (!store_text_plain(*out, min_size, size_max)) {
        return args_fail(apply, "%s must be %u..%u printable bytes without quotes or backslashes",
                         name, min_size, size_max - 1);
    }
    return 0;
}

int args_key(struct store_apply *apply, const char *name, const char **out) {
    const int rc = args_text(apply, name, out);
    if (rc != 0) return rc;
    if (!store_hex64(*out, true)) {
        return args_fail(apply, "%s must be an Ed25519 public key (64 lowercase hex)", name);
    }
    return 0;
}

int args_array_opt(struct store_apply *apply, const char *name, const cJSON **out) {
    tc_assert(out != NULL);
    const cJSON *item = args_member(apply, name);
    *out = NULL;
    if (item == NULL) return 0;
    if (!cJSON_IsArray(item)) return args_fail(apply, "%s must be an array", name);
    *out = item;
    return 0;
}
