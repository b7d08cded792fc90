// Text validation and the names of enums as stored in the tables (the CHECK constraints of the
// schema list the same names).
#include <string.h>

#include "store_internal.h"
#include "tc_assert.h"
#include "tc_audit.h"
#include "tc_err.h"

static const char *const role_names[] = {
    [CTL_STORE_ROLE_VIEWER] = "viewer",
    [CTL_STORE_ROLE_OPERATOR] = "operator",
    [CTL_STORE_ROLE_ADMIN] = "admin",
    [CTL_STORE_ROLE_CONTROLLER] = "controller",
};

static const char *const node_state_names[] = {
    [CTL_NODE_ACTIVE] = "active",     [CTL_NODE_CORDONED] = "cordoned",
    [CTL_NODE_DRAINING] = "draining", [CTL_NODE_DRAINED] = "drained",
    [CTL_NODE_DOWN] = "down",
};

static const char *const job_kind_names[] = {
    [CTL_STORE_JOB_DRAIN] = "drain",
    [CTL_STORE_JOB_REBALANCE] = "rebalance",
};

static const char *const job_state_names[] = {
    [CTL_STORE_JOB_RUNNING] = "running",
    [CTL_STORE_JOB_SUCCEEDED] = "succeeded",
    [CTL_STORE_JOB_FAILED] = "failed",
    [CTL_STORE_JOB_CANCELLED] = "cancelled",
};

static const char *const move_state_names[] = {
    [CTL_STORE_MOVE_PENDING] = "pending", [CTL_STORE_MOVE_RUNNING] = "running",
    [CTL_STORE_MOVE_DONE] = "done",       [CTL_STORE_MOVE_FAILED] = "failed",
    [CTL_STORE_MOVE_CANCELLED] = "cancelled",
};

static const char *const change_kind_names[] = {
    [CTL_CHANGE_NONE] = "none",
    [CTL_CHANGE_MOVE_PRIMARY] = "move_primary",
    [CTL_CHANGE_REPLACE] = "replace",
};

_Static_assert(sizeof(node_state_names) / sizeof(node_state_names[0]) == CTL_NODE_DOWN + 1,
               "every node state has a name");

static int name_find(const char *const *names, uint32_t count, const char *text) {
    tc_assert(names != NULL && count > 0);
    if (text == NULL) return -1;
    for (uint32_t i = 0; i < count; i++) {
        tc_assert(names[i] != NULL);
        if (strcmp(names[i], text) == 0) return (int)i;
    }
    return -1;
}

#define NAME_PARSE(function, enum_type, names)                                                     \
    int function(const char *text, enum_type *out) {                                               \
        tc_assert(out != NULL);                                                                    \
        const int found = name_find(names, TC_ARRAY_COUNT(names), text);                           \
        if (found < 0) return TC_EINVAL;                                                           \
        *out = (enum_type)found;                                                                   \
        return 0;                                                                                  \
    }

NAME_PARSE(store_role_parse, enum ctl_store_role, role_names)
NAME_PARSE(store_node_state_parse, enum ctl_node_state, node_state_names)
NAME_PARSE(store_job_kind_parse, enum ctl_store_job_kind, job_kind_names)
NAME_PARSE(store_job_state_parse, enum ctl_store_job_state, job_state_names)
NAME_PARSE(store_move_state_parse, enum ctl_store_move_state, move_state_names)

int store_change_kind_parse(const char *text, enum ctl_change_kind *kind) {
    tc_assert(kind != NULL);
    const int found = name_find(change_kind_names, TC_ARRAY_COUNT(change_kind_names), text);
    if (found <= 0) return TC_EINVAL; // "none" is not a kind a move or change can have
    *kind = (enum ctl_change_kind)found;
    return 0;
}

const char *ctl_store_role_name(enum ctl_store_role role) {
    tc_assert((uint32_t)role < TC_ARRAY_COUNT(role_names));
    return role_names[role];
}

const char *ctl_store_node_state_name(enum ctl_node_state state) {
    tc_assert((uint32_t)state < TC_ARRAY_COUNT(node_state_names));
    return node_state_names[state];
}

const char *ctl_store_job_state_name(enum ctl_store_job_state state) {
    tc_assert((uint32_t)state < TC_ARRAY_COUNT(job_state_names));
    return job_state_names[state];
}

const char *ctl_store_move_state_name(enum ctl_store_move_state state) {
    tc_assert((uint32_t)state < TC_ARRAY_COUNT(move_state_names));
    return move_state_names[state];
}

const char *store_job_kind_name(enum ctl_store_job_kind kind) {
    tc_assert((uint32_t)kind < TC_ARRAY_COUNT(job_kind_names));
    return job_kind_names[kind];
}

const char *store_change_kind_name(enum ctl_change_kind kind) {
    tc_assert(kind == CTL_CHANGE_MOVE_PRIMARY || kind == CTL_CHANGE_REPLACE);
    return change_kind_names[kind];
}

bool store_text_plain(const char *text, uint32_t min_size, uint32_t size_max) {
    tc_assert(size_max > 0);
    tc_assert(min_size < size_max);
    if (text == NULL) return false;
    const size_t size = strnlen(text, size_max);
    if (size < min_size || size >= size_max) return false;
    for (size_t i = 0; i < size; i++) {
        const unsigned char c = (unsigned char)text[i];
        if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') return false;
    }
    return true;
}

static bool hex_lower(const char *text, size_t size) {
    if (text == NULL || strnlen(text, size + 1) != size) return false;
    for (size_t i = 0; i < size; i++) {
        const char c = text[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

bool store_hex64(const char *text, bool key) {
    if (!hex_lower(text, 64)) return false;
    if (!key) return true;
    struct tc_audit_public_key public_key;
    if (tc_audit_key_from_hex(&public_key, text) != 0) return false;
    return tc_audit_key_valid(&public_key);
}

bool store_hex128(const char *text) { return hex_lower(text, 128); }

bool store_decimal_u64(const char *text, uint64_t *value) {
    const size_t size = strlen(text);
    // 1..20 digits, no leading zero, not zero, at most 2^64 - 1.
    if (size == 0 || size > 20 || strspn(text, "0123456789") != size || text[0] == '0') return false;
    uint64_t result = 0;
    for (size_t i = 0; i < size; i++) {
        const uint64_t digit = (uint64_t)(text[i] - '0');
        if (result > (UINT64_MAX - digit) / 10u) return false;
        result = result * 10u + digit;
    }
    *value = result;
    return true;
}
