// tigerctl audit tail: the newest entries of the controller's audit chain (GET /v1/audit; the
// entries' fields are docs/audit.md §3's).
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "cmd.h"
#include "table.h"
#include "tc_assert.h"

#define LIMIT_DEFAULT 20u
#define LIMIT_MAX 1000u // the controller's cap (docs/controller.md §8)
#define ACTOR_SHOWN 12  // hex digits of the actor's key in the table
#define ARGS_SHOWN 48u  // bytes of an entry's args in the table (--json has them all)

static void actor_cell(const cJSON *entry, char *cell, uint32_t size) {
    const char *actor = tigerctl_json_string(entry, "actor");
    if (actor == NULL) {
        tigerctl_cell_printf(cell, size, "?");
        return;
    }
    char shown[ACTOR_SHOWN + 1];
    tigerctl_sanitize(shown, sizeof(shown), actor);
    tigerctl_cell_printf(cell, size, "%s%s", shown, strlen(actor) > ACTOR_SHOWN ? "..." : "");
}

// "ok", "refused: <reason>", "ok (job 2)" for a started job, or else the result's JSON.
static void result_cell(const cJSON *entry, char *cell, uint32_t size) {
    const cJSON *result = tigerctl_json_member(entry, "result");
    const char *status = tigerctl_json_string(result, "status");
    const char *reason = tigerctl_json_string(result, "reason");
    int64_t job = 0;
    char text[TIGERCTL_CELL_SIZE_MAX];
    char shown[24];
    tigerctl_sanitize(shown, sizeof(shown), status != NULL ? status : "");
    if (cJSON_IsString(result)) {
        tigerctl_sanitize(text, sizeof(text), result->valuestring);
        tigerctl_cell_printf(cell, size, "%s", text);
    } else if (status != NULL && reason != NULL) {
        tigerctl_sanitize(text, sizeof(text), reason);
        tigerctl_cell_printf(cell, size, "%s: %s", shown, text);
    } else if (status != NULL && tigerctl_json_integer(result, "job", &job)) {
        tigerctl_cell_printf(cell, size, "%s (job %lld)", shown, (long long)job);
    } else {
        const struct tigerctl_column column = {"RESULT", "result", TIGERCTL_CELL_JSON, NULL, 0};
        tigerctl_cell_format(&column, entry, text);
        tigerctl_cell_printf(cell, size, "%s", text);
    }
}

static const struct tigerctl_column entry_columns[] = {
    {"SEQ", "seq", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"TIME", "time", TIGERCTL_CELL_TEXT, NULL, 0},
    {"ACTOR", NULL, TIGERCTL_CELL_CUSTOM, actor_cell, 0},
    {"ACTION", "action", TIGERCTL_CELL_TEXT, NULL, 0},
    {"ARGS", "args", TIGERCTL_CELL_JSON, NULL, ARGS_SHOWN},
    {"RESULT", NULL, TIGERCTL_CELL_CUSTOM, result_cell, 0},
};

static int entries_print(const struct tigerctl_context *context, const cJSON *json) {
    const cJSON *entries = tigerctl_json_member(json, "entries");
    int64_t head = 0;
    if (!cJSON_IsArray(entries) || !tigerctl_json_integer(json, "head_seq", &head)) {
        return tigerctl_unexpected(context, "the audit answer needs entries and head_seq");
    }
    if (cJSON_GetArraySize(entries) == 0) {
        (void)fprintf(context->out, "no entries (the chain's head is seq %lld)\n", (long long)head);
        return TIGERCTL_EXIT_OK;
    }
    (void)tigerctl_table_print(context->out, entry_columns, TC_ARRAY_COUNT(entry_columns),
                               entries);
    return TIGERCTL_EXIT_OK;
}

// The chain's head seq, from GET /v1/status.
static int head_seq(const struct tigerctl_context *context, uint64_t *seq) {
    struct tigerctl_reply reply;
    int code = tigerctl_api_get(context, "/v1/status", NULL, 0, &reply);
    int64_t head = 0;
    if (code == TIGERCTL_EXIT_OK &&
        (!tigerctl_json_integer(reply.json, "audit.seq", &head) || head < 0)) {
        code = tigerctl_unexpected(context, "status has no audit.seq");
    }
    tigerctl_reply_free(&reply);
    *seq = (uint64_t)head;
    return code;
}

static int audit_tail_run(const struct tigerctl_context *context,
                          const struct tigerctl_args *args) {
    uint64_t limit = 0;
    uint64_t after = 0;
    int code =
        tigerctl_option_u64(context, args, "limit", false, 1, LIMIT_MAX, LIMIT_DEFAULT, &limit);
    if (code == TIGERCTL_EXIT_OK) {
        code = tigerctl_option_u64(context, args, "after", false, 0, TIGERCTL_SEQ_MAX, 0, &after);
    }
    if (code != TIGERCTL_EXIT_OK) return code;
    if (tigerctl_args_count(args, "after") == 0) {
        uint64_t head = 0;
        code = head_seq(context, &head);
        if (code != TIGERCTL_EXIT_OK) return code;
        after = head > limit ? head - limit : 0;
    }
    char after_text[24];
    char limit_text[24];
    (void)snprintf(after_text, sizeof(after_text), "%llu", (unsigned long long)after);
    (void)snprintf(limit_text, sizeof(limit_text), "%llu", (unsigned long long)limit);
    const struct tigerctl_query query[] = {{"after", after_text}, {"limit", limit_text}};
    return tigerctl_show(context, "/v1/audit", query, TC_ARRAY_COUNT(query), entries_print);
}

static const struct tigerctl_option audit_tail_options[] = {
    TIGERCTL_COMMON_OPTIONS,
    TIGERCTL_CONTROLLER_OPTIONS,
    {"after", "SEQ", 1, "entries after this seq (default: the last --limit entries)"},
    {"limit", "N", 1, "at most N entries (1..1000, default 20)"},
};

const struct tigerctl_command tigerctl_command_audit_tail = {
    .name = "audit tail",
    .summary = "the newest audit chain entries: who did what, and the result",
    .description =
        "Shows audit chain entries (GET /v1/audit): seq, time, actor (the start of the\n"
        "key), action, args and result. Without --after, the last --limit entries (the\n"
        "head comes from GET /v1/status). --json prints the controller's answer:\n"
        "{\"entries\":[...],\"head_seq\":N,\"next_after\":N}, each entry a chain line.\n"
        "To verify the chain, copy audit.jsonl off the controller and run tigerctl\n"
        "verify-audit.",
    .transport = TIGERCTL_CONTROLLER,
    .options = audit_tail_options,
    .option_count = TC_ARRAY_COUNT(audit_tail_options),
    .run = audit_tail_run,
};
