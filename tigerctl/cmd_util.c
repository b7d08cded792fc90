// Helpers shared by the controller commands (see cmd.h).
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "cmd.h"
#include "table.h"
#include "tc_assert.h"
#include "tc_audit.h"
#include "tc_err.h"

int tigerctl_positional_u64(const struct tigerctl_context *context,
                            const struct tigerctl_args *args, uint64_t min, uint64_t max,
                            uint64_t *value) {
    tc_assert(context->command->positional != NULL);
    tc_assert(args->positional_count == 1);
    if (tigerctl_parse_u64(args->positionals[0], min, max, value) != 0) {
        char shown[32];
        tigerctl_sanitize(shown, sizeof(shown), args->positionals[0]);
        return tigerctl_usage(context, "%s must be a number in %llu..%llu, not '%s'",
                              context->command->positional, (unsigned long long)min,
                              (unsigned long long)max, shown);
    }
    tc_assert(*value >= min && *value <= max);
    return TIGERCTL_EXIT_OK;
}

int tigerctl_option_u64(const struct tigerctl_context *context, const struct tigerctl_args *args,
                        const char *name, bool required, uint64_t min, uint64_t max,
                        uint64_t fallback, uint64_t *value) {
    tc_assert(name != NULL && value != NULL);
    const char *text = tigerctl_args_value(args, name, 0);
    if (text == NULL && required) return tigerctl_usage(context, "--%s is required", name);
    if (text == NULL) {
        *value = fallback;
        return TIGERCTL_EXIT_OK;
    }
    if (tigerctl_parse_u64(text, min, max, value) != 0) {
        return tigerctl_usage(context, "--%s must be a number in %llu..%llu", name,
                              (unsigned long long)min, (unsigned long long)max);
    }
    tc_assert(*value >= min && *value <= max);
    return TIGERCTL_EXIT_OK;
}

int tigerctl_unexpected(const struct tigerctl_context *context, const char *what) {
    return tigerctl_fail(context, TIGERCTL_EXIT_FAILURE,
                         "unexpected answer from the controller: "
                         "%s",
                         what);
}

int tigerctl_show(const struct tigerctl_context *context, const char *path,
                  const struct tigerctl_query *query, uint32_t query_count,
                  tigerctl_print_fn print) {
    tc_assert(context != NULL && path != NULL && print != NULL);
    struct tigerctl_reply reply;
    int code = tigerctl_api_get(context, path, query, query_count, &reply);
    if (code == TIGERCTL_EXIT_OK && context->json) {
        tigerctl_reply_print(context, &reply);
    } else if (code == TIGERCTL_EXIT_OK) {
        code = print(context, reply.json);
    }
    tigerctl_reply_free(&reply);
    return code;
}

int tigerctl_act(const struct tigerctl_context *context, const char *action, cJSON *args,
                 const char *done) {
    tc_assert(context != NULL && action != NULL && done != NULL);
    tc_assert(cJSON_IsObject(args));
    struct tigerctl_reply reply;
    int code = tigerctl_api_action(context, action, args, &reply);
    cJSON_Delete(args);
    if (code == TIGERCTL_EXIT_OK && context->json) {
        tigerctl_reply_print(context, &reply);
    } else if (code == TIGERCTL_EXIT_OK) {
        int64_t seq = 0;
        const cJSON *result = tigerctl_json_member(reply.json, "result");
        if (!tigerctl_json_integer(reply.json, "seq", &seq) || result == NULL) {
            code = tigerctl_unexpected(context, "no seq or result in the action's answer");
        } else if (cJSON_IsString(result) && strcmp(result->valuestring, "ok") == 0) {
            (void)fprintf(context->out, "%s (audit seq %lld)\n", done, (long long)seq);
        } else {
            const struct tigerctl_column column = {"result", "result", TIGERCTL_CELL_JSON, NULL, 0};
            char cell[TIGERCTL_CELL_SIZE_MAX];
            tigerctl_cell_format(&column, reply.json, cell);
            (void)fprintf(context->out, "%s (audit seq %lld): %s\n", done, (long long)seq, cell);
        }
    }
    tigerctl_reply_free(&reply);
    return code;
}

int tigerctl_public_key_file(const struct tigerctl_context *context, const char *option,
                             const char *path, char *hex) {
    tc_assert(option != NULL && path != NULL && hex != NULL);
    struct tc_audit_public_key key;
    const int rc = tc_audit_key_load_public(path, &key);
    if (rc != 0) {
        return tigerctl_usage(context, "--%s %s: %s", option, path,
                              rc == TC_EINVAL
                                  ? "not a public key file (tigerchat-ed25519-public-v1)"
                                  : tc_strerror(rc));
    }
    tc_audit_key_hex(&key, hex);
    tc_assert(strlen(hex) == TC_AUDIT_KEY_HEX_SIZE);
    return TIGERCTL_EXIT_OK;
}
