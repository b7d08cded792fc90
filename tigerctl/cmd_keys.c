// tigerctl keys list, keys add, keys remove: operator keys and their roles (docs/controller.md §4
// keys, §8 key.add / key.remove).
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "cmd.h"
#include "table.h"
#include "tc_assert.h"
#include "tc_audit.h"

#define KEY_NAME_SIZE_MAX 64u

// ------------------------------------------------------------------------------------------------
// keys list: GET /v1/keys

static const struct tigerctl_column key_columns[] = {
    {"NAME", "name", TIGERCTL_CELL_TEXT, NULL, 0},
    {"ROLE", "role", TIGERCTL_CELL_TEXT, NULL, 0},
    {"ADDED", "added_seq", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"REMOVED", "removed_seq", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"PUBLIC KEY", "public_key", TIGERCTL_CELL_TEXT, NULL, 0},
};

static int keys_print(const struct tigerctl_context *context, const cJSON *json) {
    if (!cJSON_IsArray(json)) return tigerctl_unexpected(context, "keys is not an array");
    (void)tigerctl_table_print(context->out, key_columns, TC_ARRAY_COUNT(key_columns), json);
    return TIGERCTL_EXIT_OK;
}

static int keys_list_run(const struct tigerctl_context *context, const struct tigerctl_args *args) {
    (void)args;
    return tigerctl_show(context, "/v1/keys", NULL, 0, keys_print);
}

static const struct tigerctl_option plain_options[] = {
    TIGERCTL_COMMON_OPTIONS,
    TIGERCTL_CONTROLLER_OPTIONS,
};

const struct tigerctl_command tigerctl_command_keys_list = {
    .name = "keys list",
    .summary = "list operator keys: name, role, added/removed audit seq",
    .description = "Lists the keys the controller knows (GET /v1/keys): name, role (viewer,\n"
                   "operator, admin, controller), the audit seq that added it and, for a removed\n"
                   "key, the seq that removed it, and the public key.",
    .transport = TIGERCTL_CONTROLLER,
    .options = plain_options,
    .option_count = TC_ARRAY_COUNT(plain_options),
    .run = keys_list_run,
};

// ------------------------------------------------------------------------------------------------
// keys add --name NAME --role ROLE --pub PUBFILE: key.add

static const char *const roles[] = {"viewer", "operator", "admin"};

static bool name_valid(const char *name) {
    const size_t size = strnlen(name, KEY_NAME_SIZE_MAX + 1);
    if (size == 0 || size > KEY_NAME_SIZE_MAX) return false;
    for (size_t i = 0; i < size; i++) {
        const char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == '@')) {
            return false;
        }
    }
    return true;
}

static bool role_valid(const char *role) {
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(roles); i++) {
        if (strcmp(role, roles[i]) == 0) return true;
    }
    return false;
}

static int keys_add_run(const struct tigerctl_context *context, const struct tigerctl_args *args) {
    const char *name = tigerctl_args_value(args, "name", 0);
    const char *role = tigerctl_args_value(args, "role", 0);
    const char *pub = tigerctl_args_value(args, "pub", 0);
    if (name == NULL || role == NULL || pub == NULL) {
        return tigerctl_usage(context, "--name, --role and --pub are required");
    }
    if (!name_valid(name)) {
        return tigerctl_usage(context, "--name must be 1..%u of A-Z a-z 0-9 . - _ @",
                              KEY_NAME_SIZE_MAX);
    }
    if (!role_valid(role)) {
        return tigerctl_usage(context, "--role must be viewer, operator or admin");
    }
    char key[TC_AUDIT_KEY_HEX_SIZE + 1];
    const int code = tigerctl_public_key_file(context, "pub", pub, key);
    if (code != TIGERCTL_EXIT_OK) return code;
    cJSON *action_args = cJSON_CreateObject();
    tc_assert(action_args != NULL);
    tc_assert(cJSON_AddStringToObject(action_args, "public_key", key) != NULL);
    tc_assert(cJSON_AddStringToObject(action_args, "name", name) != NULL);
    tc_assert(cJSON_AddStringToObject(action_args, "role", role) != NULL);
    char done[KEY_NAME_SIZE_MAX + 48];
    (void)snprintf(done, sizeof(done), "key %s (%s) added", name, role);
    return tigerctl_act(context, "key.add", action_args, done);
}

static const struct tigerctl_option keys_add_options[] = {
    TIGERCTL_COMMON_OPTIONS,
    TIGERCTL_CONTROLLER_OPTIONS,
    {"name", "NAME", 1, "the key's name (unique; 1..64 of A-Z a-z 0-9 . - _ @)"},
    {"role", "ROLE", 1, "viewer (reads), operator (cordon, jobs) or admin (everything)"},
    {"pub", "PUBFILE", 1, "the public key file (from tigerctl keygen: FILE.pub)"},
};

const struct tigerctl_command tigerctl_command_keys_add = {
    .name = "keys add",
    .summary = "authorise an operator key with a role (admin)",
    .description =
        "Adds a public key with a name and a role (signed action key.add, role admin).\n"
        "viewer: reads only (reads need no key at all; a viewer key is refused every\n"
        "action); operator: cordon, uncordon, drain, rebalance, cancel; admin: also nodes\n"
        "add, groups create, keys add and keys remove.",
    .transport = TIGERCTL_CONTROLLER,
    .options = keys_add_options,
    .option_count = TC_ARRAY_COUNT(keys_add_options),
    .run = keys_add_run,
};

// ------------------------------------------------------------------------------------------------
// keys remove --pub PUBFILE | --public-key HEX: key.remove

static int keys_remove_run(const struct tigerctl_context *context,
                           const struct tigerctl_args *args) {
    const char *pub = tigerctl_args_value(args, "pub", 0);
    const char *hex = tigerctl_args_value(args, "public-key", 0);
    if ((pub == NULL) == (hex == NULL)) {
        return tigerctl_usage(context, "give exactly one of --pub PUBFILE and --public-key HEX");
    }
    char key[TC_AUDIT_KEY_HEX_SIZE + 1];
    if (pub != NULL) {
        const int code = tigerctl_public_key_file(context, "pub", pub, key);
        if (code != TIGERCTL_EXIT_OK) return code;
    } else {
        struct tc_audit_public_key parsed;
        if (tc_audit_key_from_hex(&parsed, hex) != 0) {
            return tigerctl_usage(context, "--public-key must be 64 lowercase hex digits");
        }
        tc_audit_key_hex(&parsed, key);
    }
    cJSON *action_args = cJSON_CreateObject();
    tc_assert(action_args != NULL);
    tc_assert(cJSON_AddStringToObject(action_args, "public_key", key) != NULL);
    char done[TC_AUDIT_KEY_HEX_SIZE + 32];
    (void)snprintf(done, sizeof(done), "key %s removed", key);
    return tigerctl_act(context, "key.remove", action_args, done);
}

static const struct tigerctl_option keys_remove_options[] = {
    TIGERCTL_COMMON_OPTIONS,
    TIGERCTL_CONTROLLER_OPTIONS,
    {"pub", "PUBFILE", 1, "the public key file of the key to remove"},
    {"public-key", "HEX", 1, "or the key itself, 64 hex digits (as keys list shows it)"},
};

const struct tigerctl_command tigerctl_command_keys_remove = {
    .name = "keys remove",
    .summary = "revoke an operator key (admin)",
    .description =
        "Removes a key (signed action key.remove, role admin): its signatures are refused\n"
        "from then on (403 unknown_key); the audit chain keeps what it signed before.\n"
        "The last admin key cannot be removed (refused, exit 1).",
    .transport = TIGERCTL_CONTROLLER,
    .options = keys_remove_options,
    .option_count = TC_ARRAY_COUNT(keys_remove_options),
    .run = keys_remove_run,
};
