// tigerctl jobs, job [--watch], cancel: the jobs that carry out plans (docs/controller.md §7);
// drain and rebalance, which start them, are in cmd_plan.c.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "cmd.h"
#include "table.h"
#include "tc_assert.h"
#include "tc_checksum.h"

static const struct tigerctl_option plain_options[] = {
    TIGERCTL_COMMON_OPTIONS,
    TIGERCTL_CONTROLLER_OPTIONS,
};

void tigerctl_move_cell(const cJSON *step, char *cell, uint32_t size) {
    int64_t from = 0, to = 0;
    if (!tigerctl_json_integer(step, "from", &from) || !tigerctl_json_integer(step, "to", &to)) {
        tigerctl_cell_printf(cell, size, "?");
        return;
    }
    tigerctl_cell_printf(cell, size, "%lld -> %lld", (long long)from, (long long)to);
}

static const struct tigerctl_column step_columns[] = {
    {"STEP", "step", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"GROUP", "group", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"KIND", "kind", TIGERCTL_CELL_TEXT, NULL, 0},
    {"MOVE", NULL, TIGERCTL_CELL_CUSTOM, tigerctl_move_cell, 0},
    {"STATE", "state", TIGERCTL_CELL_TEXT, NULL, 0},
    {"PROGRESS", "progress", TIGERCTL_CELL_TEXT, NULL, 0},
};

void tigerctl_job_subject(const cJSON *object, char *out, uint32_t size) {
    const char *kind = tigerctl_json_string(object, "kind");
    int64_t value = 0;
    char shown[32];
    tigerctl_sanitize(shown, sizeof(shown), kind != NULL ? kind : "?");
    if (tigerctl_json_integer(object, "node", &value)) {
        tigerctl_cell_printf(out, size, "%s node %lld", shown, (long long)value);
    } else if (tigerctl_json_integer(object, "max_moves", &value)) {
        tigerctl_cell_printf(out, size, "%s (at most %lld moves)", shown, (long long)value);
    } else {
        tigerctl_cell_printf(out, size, "%s", shown);
    }
}

// ------------------------------------------------------------------------------------------------
// job ID [--watch]: GET /v1/jobs/ID

static const char *const job_states_final[] = {"succeeded", "failed", "cancelled"};

static bool job_state_final(const char *state) {
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(job_states_final); i++) {
        if (strcmp(state, job_states_final[i]) == 0) return true;
    }
    return false;
}

static int job_print(const struct tigerctl_context *context, const cJSON *job) {
    int64_t id = 0;
    const char *state = tigerctl_json_string(job, "state");
    const cJSON *steps = tigerctl_json_member(job, "moves");
    if (!tigerctl_json_integer(job, "id", &id) || state == NULL || !cJSON_IsArray(steps)) {
        return tigerctl_unexpected(context, "a job needs id, state and moves");
    }
    uint32_t done = 0;
    const cJSON *step = NULL;
    cJSON_ArrayForEach(step, steps) {
        const char *step_state = tigerctl_json_string(step, "state");
        done += step_state != NULL && strcmp(step_state, "done") == 0 ? 1u : 0u;
    }
    char subject[TIGERCTL_CELL_SIZE_MAX];
    char shown[32];
    tigerctl_job_subject(job, subject, sizeof(subject));
    tigerctl_sanitize(shown, sizeof(shown), state);
    (void)fprintf(context->out, "job %lld: %s, %s, %u/%d steps done\n", (long long)id, subject,
                  shown, done, cJSON_GetArraySize(steps));
    const char *reason = tigerctl_json_string(job, "reason");
    if (reason != NULL && reason[0] != '\0') {
        char reason_shown[512];
        tigerctl_sanitize(reason_shown, sizeof(reason_shown), reason);
        (void)fprintf(context->out, "reason: %s\n", reason_shown);
    }
    if (cJSON_GetArraySize(steps) > 0) {
        (void)tigerctl_table_print(context->out, step_columns, TC_ARRAY_COUNT(step_columns), steps);
    }
    return TIGERCTL_EXIT_OK;
}

static void sleep_ms(uint32_t ms) {
    const struct timespec delay = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    (void)nanosleep(&delay, NULL);
}

// Prints the job if its answer changed since *last; sets *state to its state (NULL if missing).
static int watch_show(const struct tigerctl_context *context, const struct tigerctl_reply *reply,
                      struct tc_checksum *last, bool *printed, const char **state) {
    struct tc_checksum now;
    tc_checksum_compute(&now, reply->http.body, reply->http.body_size);
    *state = tigerctl_json_string(reply->json, "state");
    if (*state == NULL) return tigerctl_unexpected(context, "a job needs a state");
    if (*printed && tc_checksum_equal(&now, last)) return TIGERCTL_EXIT_OK;
    if (context->json) {
        tigerctl_reply_print(context, reply);
    } else {
        if (*printed) (void)fputc('\n', context->out);
        const int code = job_print(context, reply->json);
        if (code != TIGERCTL_EXIT_OK) return code;
    }
    (void)fflush(context->out);
    *last = now;
    *printed = true;
    return TIGERCTL_EXIT_OK;
}

int tigerctl_job_watch(const struct tigerctl_context *context, uint64_t job) {
    tc_assert(job >= 1 && job <= TIGERCTL_SEQ_MAX);
    tc_assert(context->watch_interval_ms > 0);
    char path[48];
    (void)snprintf(path, sizeof(path), "/v1/jobs/%llu", (unsigned long long)job);
    struct tc_checksum last = {{0}};
    bool printed = false;
    for (;;) { // until the job ends, the controller fails us, or the operator interrupts
        struct tigerctl_reply reply;
        const char *state = NULL;
        int code = tigerctl_api_get(context, path, NULL, 0, &reply);
        if (code == TIGERCTL_EXIT_OK) code = watch_show(context, &reply, &last, &printed, &state);
        const bool final = code == TIGERCTL_EXIT_OK && job_state_final(state);
        const bool succeeded = final && strcmp(state, "succeeded") == 0;
        if (final && !succeeded && !context->json) {
            char shown[32];
            tigerctl_sanitize(shown, sizeof(shown), state);
            (void)fprintf(context->err, "tigerctl %s: job %llu %s\n", context->command->name,
                          (unsigned long long)job, shown);
        }
        tigerctl_reply_free(&reply);
        if (code == TIGERCTL_EXIT_UNREACHABLE && !context->json) {
            (void)fprintf(context->err,
                          "the job goes on in the controller; follow it again with "
                          "tigerctl job %llu --watch\n",
                          (unsigned long long)job);
        }
        if (code != TIGERCTL_EXIT_OK) return code;
        if (final) return succeeded ? TIGERCTL_EXIT_OK : TIGERCTL_EXIT_FAILURE;
        sleep_ms(context->watch_interval_ms);
    }
}

static int job_run(const struct tigerctl_context *context, const struct tigerctl_args *args) {
    uint64_t job = 0;
    const int code = tigerctl_positional_u64(context, args, 1, TIGERCTL_SEQ_MAX, &job);
    if (code != TIGERCTL_EXIT_OK) return code;
    if (tigerctl_args_count(args, "watch") > 0) return tigerctl_job_watch(context, job);
    char path[48];
    (void)snprintf(path, sizeof(path), "/v1/jobs/%llu", (unsigned long long)job);
    return tigerctl_show(context, path, NULL, 0, job_print);
}

static const struct tigerctl_option job_options[] = {
    TIGERCTL_COMMON_OPTIONS,
    TIGERCTL_CONTROLLER_OPTIONS,
    {"watch", NULL, 1, "poll every second until the job ends; exit 0 only if it succeeded"},
};

const struct tigerctl_command tigerctl_command_job = {
    .name = "job",
    .summary = "one job and its steps; --watch follows it to the end",
    .description =
        "Shows job JOB (GET /v1/jobs/JOB): kind, state, reason, and per step the group,\n"
        "kind (move_primary, replace), from -> to, state and progress. --watch polls\n"
        "every second and prints the job again whenever it changed, until it is\n"
        "succeeded (exit 0), failed or cancelled (exit 1). Interrupting --watch does not\n"
        "stop the job; cancel it with tigerctl cancel JOB. With --json, --watch prints\n"
        "one JSON line per change.",
    .transport = TIGERCTL_CONTROLLER,
    .positional = "JOB",
    .options = job_options,
    .option_count = TC_ARRAY_COUNT(job_options),
    .run = job_run,
};

// ------------------------------------------------------------------------------------------------
// jobs: GET /v1/jobs

static void steps_cell(const cJSON *job, char *cell, uint32_t size) {
    int64_t done = 0, count = 0;
    if (!tigerctl_json_integer(job, "moves_done", &done) ||
        !tigerctl_json_integer(job, "moves", &count)) {
        tigerctl_cell_printf(cell, size, "?");
        return;
    }
    tigerctl_cell_printf(cell, size, "%lld/%lld", (long long)done, (long long)count);
}

static const struct tigerctl_column job_columns[] = {
    {"JOB", "id", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"KIND", "kind", TIGERCTL_CELL_TEXT, NULL, 0},
    {"NODE", "node", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"STATE", "state", TIGERCTL_CELL_TEXT, NULL, 0},
    {"STEPS", NULL, TIGERCTL_CELL_CUSTOM, steps_cell, 0},
    {"CREATED", "created_seq", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"REASON", "reason", TIGERCTL_CELL_TEXT, NULL, 0},
};

static int jobs_print(const struct tigerctl_context *context, const cJSON *json) {
    if (!cJSON_IsArray(json)) return tigerctl_unexpected(context, "jobs is not an array");
    if (cJSON_GetArraySize(json) == 0) {
        (void)fprintf(context->out, "no jobs\n");
        return TIGERCTL_EXIT_OK;
    }
    (void)tigerctl_table_print(context->out, job_columns, TC_ARRAY_COUNT(job_columns), json);
    return TIGERCTL_EXIT_OK;
}

static int jobs_run(const struct tigerctl_context *context, const struct tigerctl_args *args) {
    (void)args;
    return tigerctl_show(context, "/v1/jobs", NULL, 0, jobs_print);
}

const struct tigerctl_command tigerctl_command_jobs = {
    .name = "jobs",
    .summary = "list jobs: kind, node, state, steps done",
    .description = "Lists the jobs (GET /v1/jobs): id, kind (drain, rebalance), the drained node,\n"
                   "state (running, succeeded, failed, cancelled), steps done of all steps, the\n"
                   "audit seq that started it, and the reason of a failure.",
    .transport = TIGERCTL_CONTROLLER,
    .options = plain_options,
    .option_count = TC_ARRAY_COUNT(plain_options),
    .run = jobs_run,
};

// ------------------------------------------------------------------------------------------------
// cancel JOB: job.cancel

static int cancel_run(const struct tigerctl_context *context, const struct tigerctl_args *args) {
    uint64_t job = 0;
    const int code = tigerctl_positional_u64(context, args, 1, TIGERCTL_SEQ_MAX, &job);
    if (code != TIGERCTL_EXIT_OK) return code;
    cJSON *action_args = cJSON_CreateObject();
    tc_assert(action_args != NULL);
    tc_assert(cJSON_AddNumberToObject(action_args, "job", (double)job) != NULL);
    char done[96];
    (void)snprintf(done, sizeof(done),
                   "job %llu: cancel requested (the running step resolves first)",
                   (unsigned long long)job);
    return tigerctl_act(context, "job.cancel", action_args, done);
}

const struct tigerctl_command tigerctl_command_cancel = {
    .name = "cancel",
    .summary = "cancel a running job (operator)",
    .description =
        "Cancels job JOB (signed action job.cancel, role operator). The running step\n"
        "either completes or is withdrawn before it commits; completed steps stay. Watch\n"
        "it end with tigerctl job JOB --watch.",
    .transport = TIGERCTL_CONTROLLER,
    .positional = "JOB",
    .options = plain_options,
    .option_count = TC_ARRAY_COUNT(plain_options),
    .run = cancel_run,
};
