// The job executor (ctl_jobs.h).
//
//   job running ──▶ (drain: node.state draining) ──▶ for each step in order:
//       pending ──check (C3, C4, C7 on a fresh model)──▶ running (declared in the topology)
//       running ──heartbeats show the change──▶ done
//       running ──stalled / check failed──▶ failed ──▶ job.finish failed (reason names the group)
//   all done ──▶ (drain: node.state drained) ──▶ job.finish succeeded
//   cancelled by an operator: a running step resolves first; pending steps are cancelled.
#include "ctl_jobs.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl_chain.h"
#include "ctl_plan.h"
#include "ctl_store.h"
#include "tc_assert.h"
#include "tc_err.h"

struct jobs_scratch {
    struct ctl_store_job job;
    struct ctl_store_move moves[CTL_STORE_JOB_MOVES_MAX];
    uint32_t move_count;
    char nodes_json[CTL_RESPONSE_SIZE_MAX];
};

static struct jobs_scratch scratch; // one thread; large

static int chain(struct ctl_server *server, const char *action, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

// A controller-signed entry with an "ok" result; args built from a printf format (integers and
// server-made ASCII only).
static int chain(struct ctl_server *server, const char *action, const char *format, ...) {
    char args[2048];
    va_list arguments;
    va_start(arguments, format);
    const int size = vsnprintf(args, sizeof(args), format, arguments);
    va_end(arguments);
    tc_assert(size > 0 && (uint32_t)size < sizeof(args));
    uint64_t seq = 0;
    const int rc = ctl_chain_controller(server, action, args, "\"ok\"", &seq);
    if (rc != 0) ctl_log("error", "job executor: %s %s: %s", action, args, tc_strerror(rc));
    return rc;
}

// Replaces characters that would need escaping in a JSON string made by printf.
static void text_clean(char *text) {
    for (char *c = text; *c != '\0'; c++) {
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            *c = '\'';
    }
}

static int job_fail(struct ctl_server *server, const struct ctl_store_move *move, char *reason) {
    text_clean(reason);
    ctl_log("warn", "job %llu step %u (group %u): %s", (unsigned long long)move->job_id, move->step,
            move->group_id, reason);
    int rc = chain(server, "job.step",
                   "{\"job\":%llu,\"progress\":\"%.200s\",\"state\":\"failed\",\"step\":%u}",
                   (unsigned long long)move->job_id, reason, move->step);
    if (rc == 0) {
        rc = chain(server, "job.finish",
                   "{\"job\":%llu,\"reason\":\"step %u (group %u): %.180s\",\"state\":\"failed\"}",
                   (unsigned long long)move->job_id, move->step, move->group_id, reason);
    }
    return rc;
}

// True when node `node`'s last heartbeat says it leads group `group` in a normal view.
static bool heartbeat_leads(const cJSON *nodes, uint16_t node, uint32_t group) {
    const cJSON *entry = NULL;
    cJSON_ArrayForEach(entry, nodes) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(entry, "id");
        const cJSON *live = cJSON_GetObjectItemCaseSensitive(entry, "live");
        if (!cJSON_IsNumber(id) || id->valuedouble != node || !cJSON_IsTrue(live)) continue;
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(entry, "status");
        const cJSON *groups = cJSON_GetObjectItemCaseSensitive(status, "groups");
        const cJSON *item = NULL;
        cJSON_ArrayForEach(item, groups) {
            const cJSON *gid = cJSON_GetObjectItemCaseSensitive(item, "id");
            const cJSON *primary = cJSON_GetObjectItemCaseSensitive(item, "primary");
            const cJSON *state = cJSON_GetObjectItemCaseSensitive(item, "state");
            if (cJSON_IsNumber(gid) && gid->valuedouble == group && cJSON_IsTrue(primary) &&
                cJSON_IsString(state) && strcmp(state->valuestring, "normal") == 0) {
                return true;
            }
        }
    }
    return false;
}

// A running step: done when heartbeats show it, failed when stalled.
static int step_watch(struct ctl_server *server, const struct ctl_store_move *move) {
    if (server->job_step_started_ms == 0) server->job_step_started_ms = server->now_ms;
    if (move->kind == CTL_CHANGE_MOVE_PRIMARY) {
        size_t size = 0;
        int rc = ctl_store_nodes_json(server->store, ctl_wall_ms(), server->options.liveness_ms,
                                      scratch.nodes_json, sizeof(scratch.nodes_json), &size);
        if (rc != 0) return rc;
        cJSON *nodes = cJSON_Parse(scratch.nodes_json);
        tc_assert(nodes != NULL);
        const bool led = heartbeat_leads(nodes, move->to_node, move->group_id);
        cJSON_Delete(nodes);
        if (led) {
            server->job_step_started_ms = 0;
            return chain(server, "job.step",
                         "{\"job\":%llu,\"primary\":%u,\"progress\":\"node %u leads group %u\","
                         "\"state\":\"done\",\"step\":%u}",
                         (unsigned long long)move->job_id, move->to_node, move->to_node,
                         move->group_id, move->step);
        }
    }
    if (server->now_ms - server->job_step_started_ms < CTL_JOBS_STALL_MS) return 0;
    server->job_step_started_ms = 0;
    char reason[256];
    (void)snprintf(reason, sizeof(reason),
                   "stalled: no heartbeat showed the change within %u s (node %u %s)",
                   CTL_JOBS_STALL_MS / 1000u, move->to_node,
                   move->kind == CTL_CHANGE_MOVE_PRIMARY ? "never reported leading the group"
                                                         : "did not join the group");
    return job_fail(server, move, reason);
}

// A pending step: checked against a fresh model, then declared (running).
static int step_start(struct ctl_server *server, const struct ctl_store_move *move) {
    const struct ctl_plan_step step = {.step = move->step,
                                       .group_id = move->group_id,
                                       .kind = move->kind,
                                       .from_node = move->from_node,
                                       .to_node = move->to_node};
    char reason[CTL_PLAN_REASON_SIZE];
    if (ctl_plan_check_step(server->model, &step, reason, sizeof(reason)) != 0) {
        return job_fail(server, move, reason);
    }
    if (move->kind == CTL_CHANGE_REPLACE) {
        (void)snprintf(reason, sizeof(reason),
                       "replacing node %u by node %u needs replica replacement on running nodes, "
                       "which this release's nodes do not perform yet",
                       move->from_node, move->to_node);
        return job_fail(server, move, reason);
    }
    server->job_step_started_ms = server->now_ms;
    return chain(server, "job.step",
                 "{\"job\":%llu,\"progress\":\"declared: node %u hands group %u to node %u\","
                 "\"state\":\"running\",\"step\":%u}",
                 (unsigned long long)move->job_id, move->from_node, move->group_id, move->to_node,
                 move->step);
}

static const struct ctl_node *model_node(const struct ctl_model *model, uint16_t id) {
    for (uint32_t i = 0; i < model->node_count; i++) {
        if (model->nodes[i].id == id) return &model->nodes[i];
    }
    return NULL;
}

// The running job's next transition (one chain entry per tick at most).
static int job_advance(struct ctl_server *server, const struct ctl_store_move *next) {
    const struct ctl_store_job *job = &scratch.job;
    if (job->kind == CTL_STORE_JOB_DRAIN) {
        const struct ctl_node *node = model_node(server->model, job->node_id);
        tc_assert(node != NULL);
        if (node->state != CTL_NODE_DRAINING && next != NULL) {
            return chain(server, "node.state", "{\"node\":%u,\"state\":\"draining\"}",
                         job->node_id);
        }
        if (next == NULL && node->state != CTL_NODE_DRAINED) {
            return chain(server, "node.state", "{\"node\":%u,\"state\":\"drained\"}", job->node_id);
        }
    }
    if (next == NULL) {
        ctl_log("info", "job %llu succeeded", (unsigned long long)job->id);
        return chain(server, "job.finish", "{\"job\":%llu,\"state\":\"succeeded\"}",
                     (unsigned long long)job->id);
    }
    if (next->state == CTL_STORE_MOVE_RUNNING) return step_watch(server, next);
    tc_assert(next->state == CTL_STORE_MOVE_PENDING);
    return step_start(server, next);
}

void ctl_jobs_tick(struct ctl_server *server) {
    if (server->audit_failed) return;
    uint32_t count = 0;
    int rc = ctl_store_jobs_list(server->store, false, 0, &scratch.job, 1, &count);
    if (rc != 0 || count == 0) return;
    rc = ctl_store_job_moves(server->store, scratch.job.id, scratch.moves, CTL_STORE_JOB_MOVES_MAX,
                             &scratch.move_count);
    if (rc == 0) {
        rc = ctl_store_model_load(server->store, server->model, ctl_wall_ms(),
                                  server->options.liveness_ms);
    }
    if (rc != 0) {
        ctl_log("error", "job executor: %s", ctl_store_error(server->store));
        return;
    }
    const struct ctl_store_move *next = NULL;
    for (uint32_t i = 0; i < scratch.move_count && next == NULL; i++) {
        const enum ctl_store_move_state state = scratch.moves[i].state;
        if (state == CTL_STORE_MOVE_PENDING || state == CTL_STORE_MOVE_RUNNING)
            next = &scratch.moves[i];
    }
    if (scratch.job.state == CTL_STORE_JOB_RUNNING) {
        (void)job_advance(server, next);
    } else if (next != NULL && next->state == CTL_STORE_MOVE_RUNNING) {
        (void)step_watch(server, next); // cancelled: the declared step still resolves
    }
}
