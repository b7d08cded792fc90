// The dashboard's requests to the controller, on tigerctl_core (see tui_client.h).
#include "tui_client.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "table.h"
#include "tc_assert.h"
#include "tc_err.h"

#define AUDIT_TAIL_TEXT "32"
_Static_assert(TUI_AUDIT_TAIL_MAX == 32u, "AUDIT_TAIL_TEXT is TUI_AUDIT_TAIL_MAX");

int tui_client_open(struct tui_client *client, const struct tigerctl_context *base) {
    tc_assert(client != NULL && base != NULL);
    tc_assert(base->controller != NULL && base->command != NULL);
    memset(client, 0, sizeof(*client));
    // The last byte stays NUL: the stream may fill every byte before it.
    client->sink = fmemopen(client->sink_buffer, sizeof(client->sink_buffer) - 1u, "w");
    if (client->sink == NULL) return TC_ENOMEM;
    client->context = *base;
    client->context.json = false;
    client->context.out = client->sink;
    client->context.err = client->sink;
    return 0;
}

void tui_client_close(struct tui_client *client) {
    tc_assert(client != NULL);
    if (client->sink != NULL) (void)fclose(client->sink);
    client->sink = NULL;
}

static void sink_reset(struct tui_client *client) {
    (void)fflush(client->sink);
    rewind(client->sink);
    memset(client->sink_buffer, 0, sizeof(client->sink_buffer));
}

// What tigerctl_core printed, as one line: its "tigerctl NAME: " prefixes dropped, lines joined.
static void sink_message(struct tui_client *client, char *message, uint32_t size) {
    (void)fflush(client->sink);
    char prefix[64];
    (void)snprintf(prefix, sizeof(prefix), "tigerctl %s: ", client->context.command->name);
    const size_t prefix_size = strlen(prefix);
    uint32_t at = 0;
    message[0] = '\0';
    for (char *line = client->sink_buffer; *line != '\0' && at + 1 < size;) {
        char *end = strchr(line, '\n');
        const size_t length = end != NULL ? (size_t)(end - line) : strlen(line);
        const size_t skip =
            length >= prefix_size && memcmp(line, prefix, prefix_size) == 0 ? prefix_size : 0;
        const int n = snprintf(message + at, size - at, "%s%.*s", at > 0 ? "; " : "",
                               (int)(length - skip), line + skip);
        at += n > 0 ? (uint32_t)n : 0;
        if (at >= size) at = size - 1;
        if (end == NULL) break;
        line = end + 1;
    }
    if (message[0] == '\0') (void)snprintf(message, size, "no answer");
    tui_text_copy(message, size, message);
}

static enum tui_outcome outcome_of(int code) {
    if (code == TIGERCTL_EXIT_OK) return TUI_OUTCOME_OK;
    if (code == TIGERCTL_EXIT_UNREACHABLE) return TUI_OUTCOME_DOWN;
    return TUI_OUTCOME_ERROR;
}

enum tui_outcome tui_client_get(struct tui_client *client, const char *path,
                                const struct tigerctl_query *query, uint32_t query_count,
                                struct tigerctl_reply *reply, char *message,
                                uint32_t message_size) {
    tc_assert(client != NULL && client->sink != NULL && path != NULL && reply != NULL);
    tc_assert(message != NULL && message_size > 0);
    sink_reset(client);
    const int code = tigerctl_api_get(&client->context, path, query, query_count, reply);
    message[0] = '\0';
    if (code != TIGERCTL_EXIT_OK) sink_message(client, message, message_size);
    return outcome_of(code);
}

// ------------------------------------------------------------------------------------------------
// Refresh

typedef int (*parse_fn)(const cJSON *json, struct tui_snapshot *snapshot, char *error,
                        uint32_t error_size);

static int parse_status(const cJSON *json, struct tui_snapshot *snapshot, char *error,
                        uint32_t error_size) {
    return tui_parse_status(json, &snapshot->status, error, error_size);
}

// GET one answer and parse it into the snapshot.
static enum tui_outcome fetch_parse(struct tui_client *client, const char *path,
                                    const struct tigerctl_query *query, uint32_t query_count,
                                    parse_fn parse, struct tui_snapshot *snapshot, char *message,
                                    uint32_t message_size) {
    struct tigerctl_reply reply;
    enum tui_outcome outcome =
        tui_client_get(client, path, query, query_count, &reply, message, message_size);
    if (outcome == TUI_OUTCOME_OK && parse(reply.json, snapshot, message, message_size) != 0) {
        outcome = TUI_OUTCOME_ERROR;
    }
    tigerctl_reply_free(&reply);
    return outcome;
}

static enum tui_outcome fetch_running_job(struct tui_client *client, struct tui_snapshot *snapshot,
                                          char *message, uint32_t message_size) {
    snapshot->running_job = 0;
    snapshot->move_count = 0;
    const struct tui_job *job = tui_job_running(snapshot);
    if (job == NULL) return TUI_OUTCOME_OK;
    uint32_t count = 0;
    const enum tui_outcome outcome = tui_job_fetch(client, job->id, snapshot->moves, TUI_MOVES_MAX,
                                                   &count, message, message_size);
    if (outcome == TUI_OUTCOME_OK) {
        snapshot->running_job = job->id;
        snapshot->move_count = count;
    }
    return outcome;
}

static enum tui_outcome fetch_audit_tail(struct tui_client *client, struct tui_snapshot *snapshot,
                                         char *message, uint32_t message_size) {
    const uint64_t head = snapshot->status.audit_seq;
    const uint64_t after = head > TUI_AUDIT_TAIL_MAX ? head - TUI_AUDIT_TAIL_MAX : 0;
    char after_text[24];
    (void)snprintf(after_text, sizeof(after_text), "%llu", (unsigned long long)after);
    const struct tigerctl_query query[] = {{"after", after_text}, {"limit", AUDIT_TAIL_TEXT}};
    return fetch_parse(client, "/v1/audit", query, TC_ARRAY_COUNT(query), tui_parse_audit, snapshot,
                       message, message_size);
}

enum tui_outcome tui_refresh(struct tui_client *client, struct tui_snapshot *next,
                             const struct tui_snapshot *previous, uint64_t wall_ms, char *message,
                             uint32_t message_size) {
    tc_assert(client != NULL && next != NULL && next != previous);
    memset(next, 0, sizeof(*next));
    // Groups before nodes: the nodes' heartbeats are filed under the groups.
    static const struct {
        const char *path;
        parse_fn parse;
    } steps[] = {{"/v1/status", parse_status},
                 {"/v1/groups", tui_parse_groups},
                 {"/v1/nodes", tui_parse_nodes},
                 {"/v1/jobs", tui_parse_jobs}};
    enum tui_outcome outcome = TUI_OUTCOME_OK;
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(steps) && outcome == TUI_OUTCOME_OK; i++) {
        outcome = fetch_parse(client, steps[i].path, NULL, 0, steps[i].parse, next, message,
                              message_size);
    }
    if (outcome == TUI_OUTCOME_OK) outcome = fetch_running_job(client, next, message, message_size);
    if (outcome == TUI_OUTCOME_OK) outcome = fetch_audit_tail(client, next, message, message_size);
    if (outcome != TUI_OUTCOME_OK) return outcome;
    tui_snapshot_derive(next, previous);
    next->fetched_ms = wall_ms;
    next->valid = true;
    return TUI_OUTCOME_OK;
}

// ------------------------------------------------------------------------------------------------
// Plans and jobs

enum tui_outcome tui_plan_fetch(struct tui_client *client, struct tui_plan *plan, char *message,
                                uint32_t message_size) {
    tc_assert(client != NULL && plan != NULL);
    char value[24];
    struct tigerctl_query query;
    const char *path = NULL;
    if (plan->kind == TUI_PLAN_DRAIN) {
        (void)snprintf(value, sizeof(value), "%u", plan->node);
        query = (struct tigerctl_query){"node", value};
        path = "/v1/plan/drain";
    } else {
        (void)snprintf(value, sizeof(value), "%u", plan->max_moves);
        query = (struct tigerctl_query){"max_moves", value};
        path = "/v1/plan/rebalance";
    }
    struct tigerctl_reply reply;
    enum tui_outcome outcome =
        tui_client_get(client, path, &query, 1, &reply, message, message_size);
    if (outcome == TUI_OUTCOME_OK && tui_parse_plan(reply.json, plan, message, message_size) != 0) {
        outcome = TUI_OUTCOME_ERROR;
    }
    tigerctl_reply_free(&reply);
    return outcome;
}

// job.start's args as tigerctl drain / rebalance build them (tigerctl/cmd_plan.c).
static cJSON *job_start_args(const struct tui_plan *plan) {
    cJSON *args = cJSON_CreateObject();
    tc_assert(args != NULL);
    if (plan->kind == TUI_PLAN_DRAIN) {
        tc_assert(cJSON_AddStringToObject(args, "kind", "drain") != NULL);
        tc_assert(cJSON_AddNumberToObject(args, "node", (double)plan->node) != NULL);
    } else {
        tc_assert(cJSON_AddStringToObject(args, "kind", "rebalance") != NULL);
        tc_assert(cJSON_AddNumberToObject(args, "max_moves", (double)plan->max_moves) != NULL);
    }
    tc_assert(cJSON_AddStringToObject(args, "topology_hash", plan->topology_hash) != NULL);
    return args;
}

enum tui_outcome tui_job_start(struct tui_client *client, const struct tui_plan *plan,
                               uint64_t *job, uint64_t *seq, char *message, uint32_t message_size) {
    tc_assert(client != NULL && plan != NULL && job != NULL && seq != NULL);
    tc_assert(plan->topology_hash[0] != '\0');
    cJSON *args = job_start_args(plan);
    struct tigerctl_reply reply;
    sink_reset(client);
    const int code = tigerctl_api_action(&client->context, "job.start", args, &reply);
    cJSON_Delete(args);
    enum tui_outcome outcome = outcome_of(code);
    int64_t id = 0, at = 0;
    message[0] = '\0';
    if (outcome != TUI_OUTCOME_OK) {
        sink_message(client, message, message_size);
    } else if (!tigerctl_json_integer(reply.json, "result.job", &id) ||
               !tigerctl_json_integer(reply.json, "seq", &at) || id < 1 || at < 1) {
        (void)snprintf(message, message_size, "job.start's answer has no seq and result.job");
        outcome = TUI_OUTCOME_ERROR;
    }
    tigerctl_reply_free(&reply);
    *job = outcome == TUI_OUTCOME_OK ? (uint64_t)id : 0;
    *seq = outcome == TUI_OUTCOME_OK ? (uint64_t)at : 0;
    return outcome;
}

enum tui_outcome tui_job_fetch(struct tui_client *client, uint64_t job, struct tui_move *moves,
                               uint32_t capacity, uint32_t *count, char *message,
                               uint32_t message_size) {
    tc_assert(client != NULL && moves != NULL && count != NULL);
    char path[48];
    (void)snprintf(path, sizeof(path), "/v1/jobs/%llu", (unsigned long long)job);
    struct tigerctl_reply reply;
    enum tui_outcome outcome = tui_client_get(client, path, NULL, 0, &reply, message, message_size);
    uint32_t total = 0;
    *count = 0;
    if (outcome == TUI_OUTCOME_OK && tui_parse_job_moves(reply.json, moves, capacity, count, &total,
                                                         message, message_size) != 0) {
        outcome = TUI_OUTCOME_ERROR;
    }
    tigerctl_reply_free(&reply);
    return outcome;
}
