// tigerctl drain, rebalance: GET the plan (a dry run: GET /v1/plan/...), print it, and unless
// --dry-run start a job bound to the plan's topology_hash (signed job.start), so the job does
// exactly what was shown or is refused because the topology changed meanwhile (C5,
// docs/controller.md §7). --watch follows the job to its end.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "cmd.h"
#include "table.h"
#include "tc_assert.h"

#define MAX_MOVES_DEFAULT 8u
#define MAX_MOVES_MAX 64u // the controller's CTL_PLAN_MOVES_MAX
#define TOPOLOGY_HASH_SIZE_MAX 128u
#define HASH_SHOWN 16

static const struct tigerctl_column plan_columns[] = {
    {"STEP", "step", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"GROUP", "group", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"KIND", "kind", TIGERCTL_CELL_TEXT, NULL, 0},
    {"MOVE", NULL, TIGERCTL_CELL_CUSTOM, tigerctl_move_cell, 0},
};

struct plan_request {
    const char *path;            // "/v1/plan/drain"
    struct tigerctl_query query; // node=N or max_moves=N
    char subject[64];            // "drain node 3"
    cJSON *start_args;           // job.start's args but topology_hash (owned)
    bool start_when_empty;       // drain: a node hosting nothing is still drained by a job
    bool dry_run;
    bool watch;
};

static bool hash_valid(const char *hash) {
    const size_t size = strnlen(hash, TOPOLOGY_HASH_SIZE_MAX + 1);
    if (size == 0 || size > TOPOLOGY_HASH_SIZE_MAX) return false;
    for (size_t i = 0; i < size; i++) {
        if (hash[i] <= 0x20 || hash[i] >= 0x7f) return false;
    }
    return true;
}

static void plan_print(const struct tigerctl_context *context, const struct plan_request *request,
                       const cJSON *plan, const char *hash, const cJSON *steps) {
    const int count = cJSON_GetArraySize(steps);
    int64_t version = 0;
    char topology[48] = "";
    if (tigerctl_json_integer(plan, "topology_version", &version)) {
        (void)snprintf(topology, sizeof(topology), "version %lld, ", (long long)version);
    }
    (void)fprintf(context->out, "plan: %s, %d step%s (topology %shash %.*s...)\n",
                  request->subject, count, count == 1 ? "" : "s", topology, HASH_SHOWN, hash);
    if (count > 0) {
        (void)tigerctl_table_print(context->out, plan_columns, TC_ARRAY_COUNT(plan_columns), steps);
    }
}

// Starts the job with the plan's hash; prints it; *job is its id.
static int job_start(const struct tigerctl_context *context, struct plan_request *request,
                     const char *hash, uint64_t *job) {
    tc_assert(cJSON_AddStringToObject(request->start_args, "topology_hash", hash) != NULL);
    struct tigerctl_reply reply;
    int code = tigerctl_api_action(context, "job.start", request->start_args, &reply);
    int64_t id = 0, seq = 0;
    if (code == TIGERCTL_EXIT_OK && (!tigerctl_json_integer(reply.json, "result.job", &id) ||
                                     !tigerctl_json_integer(reply.json, "seq", &seq) || id < 1)) {
        code = tigerctl_unexpected(context, "job.start's answer needs seq and result.job");
    }
    if (code == TIGERCTL_EXIT_OK && context->json) {
        tigerctl_reply_print(context, &reply);
    } else if (code == TIGERCTL_EXIT_OK) {
        (void)fprintf(context->out, "job %lld started (audit seq %lld)\n", (long long)id,
                      (long long)seq);
        if (!request->watch) {
            (void)fprintf(context->out, "follow it: tigerctl job %lld --watch\n", (long long)id);
        }
    }
    (void)fflush(context->out);
    tigerctl_reply_free(&reply);
    *job = (uint64_t)id;
    return code;
}

// The plan's hash and steps, or an exit code for an answer without them.
static int plan_parse(const struct tigerctl_context *context, const cJSON *plan, const char **hash,
                      const cJSON **steps) {
    *hash = tigerctl_json_string(plan, "topology_hash");
    *steps = tigerctl_json_member(plan, "steps");
    if (*hash == NULL || !cJSON_IsArray(*steps)) {
        return tigerctl_unexpected(context, "a plan needs topology_hash and steps");
    }
    if (!hash_valid(*hash)) return tigerctl_unexpected(context, "a malformed topology_hash");
    return TIGERCTL_EXIT_OK;
}

static int plan_run(const struct tigerctl_context *context, struct plan_request *request) {
    struct tigerctl_reply plan;
    int code = tigerctl_api_get(context, request->path, &request->query, 1, &plan);
    const char *hash = NULL;
    const cJSON *steps = NULL;
    if (code == TIGERCTL_EXIT_OK) code = plan_parse(context, plan.json, &hash, &steps);
    if (code == TIGERCTL_EXIT_OK && context->json) tigerctl_reply_print(context, &plan);
    if (code == TIGERCTL_EXIT_OK && !context->json) {
        plan_print(context, request, plan.json, hash, steps);
    }
    const bool empty = code == TIGERCTL_EXIT_OK && cJSON_GetArraySize(steps) == 0;
    uint64_t job = 0;
    if (code != TIGERCTL_EXIT_OK) {
        // the failure is printed
    } else if (request->dry_run) {
        if (!context->json) (void)fprintf(context->out, "dry run: no job started\n");
    } else if (empty && !request->start_when_empty) {
        if (!context->json) (void)fprintf(context->out, "nothing to move: no job started\n");
    } else {
        code = job_start(context, request, hash, &job);
    }
    tigerctl_reply_free(&plan);
    cJSON_Delete(request->start_args);
    request->start_args = NULL;
    if (code != TIGERCTL_EXIT_OK || job == 0 || !request->watch) return code;
    return tigerctl_job_watch(context, job);
}

// --dry-run and --watch, which exclude each other.
static int flags_read(const struct tigerctl_context *context, const struct tigerctl_args *args,
                      struct plan_request *request) {
    request->dry_run = tigerctl_args_count(args, "dry-run") > 0;
    request->watch = tigerctl_args_count(args, "watch") > 0;
    if (request->dry_run && request->watch) {
        return tigerctl_usage(context, "--dry-run starts no job to --watch");
    }
    return TIGERCTL_EXIT_OK;
}

static int drain_run(const struct tigerctl_context *context, const struct tigerctl_args *args) {
    static struct plan_request request;
    memset(&request, 0, sizeof(request));
    uint64_t node = 0;
    int code = tigerctl_positional_u64(context, args, 1, TIGERCTL_NODE_ID_MAX, &node);
    if (code == TIGERCTL_EXIT_OK) code = flags_read(context, args, &request);
    if (code != TIGERCTL_EXIT_OK) return code;
    request.path = "/v1/plan/drain";
    request.query = (struct tigerctl_query){"node", args->positionals[0]};
    (void)snprintf(request.subject, sizeof(request.subject), "drain node %llu",
                   (unsigned long long)node);
    request.start_when_empty = true;
    request.start_args = cJSON_CreateObject();
    tc_assert(request.start_args != NULL);
    tc_assert(cJSON_AddStringToObject(request.start_args, "kind", "drain") != NULL);
    tc_assert(cJSON_AddNumberToObject(request.start_args, "node", (double)node) != NULL);
    return plan_run(context, &request);
}

static int rebalance_run(const struct tigerctl_context *context, const struct tigerctl_args *args) {
    static struct plan_request request;
    static char moves_text[24];
    memset(&request, 0, sizeof(request));
    uint64_t moves = 0;
    int code = tigerctl_option_u64(context, args, "max-moves", false, 1, MAX_MOVES_MAX,
                                   MAX_MOVES_DEFAULT, &moves);
    if (code == TIGERCTL_EXIT_OK) code = flags_read(context, args, &request);
    if (code != TIGERCTL_EXIT_OK) return code;
    (void)snprintf(moves_text, sizeof(moves_text), "%llu", (unsigned long long)moves);
    request.path = "/v1/plan/rebalance";
    request.query = (struct tigerctl_query){"max_moves", moves_text};
    (void)snprintf(request.subject, sizeof(request.subject), "rebalance (at most %llu moves)",
                   (unsigned long long)moves);
    request.start_when_empty = false;
    request.start_args = cJSON_CreateObject();
    tc_assert(request.start_args != NULL);
    tc_assert(cJSON_AddStringToObject(request.start_args, "kind", "rebalance") != NULL);
    tc_assert(cJSON_AddNumberToObject(request.start_args, "max_moves", (double)moves) != NULL);
    return plan_run(context, &request);
}

static const struct tigerctl_option drain_options[] = {
    TIGERCTL_COMMON_OPTIONS,
    TIGERCTL_CONTROLLER_OPTIONS,
    {"dry-run", NULL, 1, "print the plan and stop"},
    {"watch", NULL, 1, "follow the job it starts until it ends (as tigerctl job J --watch)"},
};

static const struct tigerctl_option rebalance_options[] = {
    TIGERCTL_COMMON_OPTIONS,
    TIGERCTL_CONTROLLER_OPTIONS,
    {"max-moves", "N", 1, "at most N steps in the plan (1..64, default 8)"},
    {"dry-run", NULL, 1, "print the plan and stop"},
    {"watch", NULL, 1, "follow the job it starts until it ends (as tigerctl job J --watch)"},
};

const struct tigerctl_command tigerctl_command_drain = {
    .name = "drain",
    .summary = "move every primary and replica off a node, as a job (operator)",
    .description =
        "Plans the drain of node NODE (GET /v1/plan/drain?node=NODE): move_primary for\n"
        "each group it leads, then replace NODE -> target for each group it is in; prints\n"
        "the plan and, unless --dry-run, starts it as a job bound to the plan's topology\n"
        "(signed job.start, role operator) and prints the job's id. Refused (exit 1, the\n"
        "reason printed) if a group would keep fewer than 2 live replicas or has no\n"
        "target, or if the topology changed since the plan. --json prints the plan and\n"
        "the controller's answer as two JSON lines.",
    .transport = TIGERCTL_CONTROLLER,
    .positional = "NODE",
    .options = drain_options,
    .option_count = TC_ARRAY_COUNT(drain_options),
    .run = drain_run,
};

const struct tigerctl_command tigerctl_command_rebalance = {
    .name = "rebalance",
    .summary = "even out replicas and primaries across nodes, as a job (operator)",
    .description =
        "Plans a rebalance (GET /v1/plan/rebalance?max_moves=N): replicas move from the\n"
        "most to the least loaded active nodes until every node is within 10% of the\n"
        "mean, then primaries even out; at most --max-moves steps. Prints the plan and,\n"
        "unless --dry-run or the plan is empty, starts it as a job bound to the plan's\n"
        "topology (signed job.start, role operator). --json prints the plan and the\n"
        "controller's answer as two JSON lines.",
    .transport = TIGERCTL_CONTROLLER,
    .options = rebalance_options,
    .option_count = TC_ARRAY_COUNT(rebalance_options),
    .run = rebalance_run,
};
