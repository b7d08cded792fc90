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

const cJSON *ctl_heartbeat_group(const cJSON *nodes, uint16_t node, uint32_t group) {
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
            if (cJSON_IsNumber(gid) && gid->valuedouble == group) return item;
        }
    }
    return NULL;
}

static bool json_is(const cJSON *object, const char *name, const char *value) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    return cJSON_IsString(item) && strcmp(item->valuestring, value) == 0;
}

static uint64_t json_u64(const cJSON *object, const char *name) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    return cJSON_IsNumber(item) && item->valuedouble >= 0 ? (uint64_t)item->valuedouble : 0;
}


// Progress (a growing learner commit, a new phase) restarts the stall timer.
static void progress_seen(struct ctl_server *server, uint64_t mark) {
    if (mark > server->job_step_mark) {
        server->job_step_mark = mark;
        server->job_step_started_ms = server->now_ms;
    }
}

static int move_primary_watch(struct ctl_server *server, const struct ctl_store_move *move,
                              const cJSON *nodes) {
    const cJSON *led = ctl_heartbeat_group(nodes, move->to_node, move->group_id);
    if (led == NULL || !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(led, "primary")) ||
        !json_is(led, "state", "normal")) {
        return 0;
    }
    server->job_step_started_ms = 0;
    return chain(server, "job.step",
                 "{\"job\":%llu,\"primary\":%u,\"progress\":\"node %u leads group %u\","
                 "\"state\":\"done\",\"step\":%u}",
                 (unsigned long long)move->job_id, move->to_node, move->to_node, move->group_id,
                 move->step);
}

uint64_t ctl_members_applied(const cJSON *nodes, const struct ctl_group *group) {
    uint64_t applied = 0;
    for (uint32_t i = 0; i < CTL_REPLICAS; i++) {
        const cJSON *entry = ctl_heartbeat_group(nodes, group->members[i], group->id);
        const uint64_t op = entry == NULL ? 0 : json_u64(entry, "applied");
        applied = op > applied ? op : applied;
    }
    return applied;
}

// Phases 1-4 of docs/controller.md §7 as the heartbeats of node `to` show them.
static int replace_watch(struct ctl_server *server, const struct ctl_store_move *move,
                         const cJSON *nodes) {
    const int32_t group_index = ctl_model_group_find(server->model, move->group_id);
    tc_assert(group_index >= 0);
    const struct ctl_group *group = &server->model->groups[group_index];
    tc_assert(group != NULL && group->change.kind == CTL_CHANGE_REPLACE);
    const cJSON *learner = ctl_heartbeat_group(nodes, move->to_node, move->group_id);
    if (learner == NULL) return 0; // phase 1: the node has not started the learner yet
    const uint64_t applied = json_u64(learner, "applied");
    const uint64_t epoch = json_u64(learner, "epoch");
    if (json_is(learner, "role", "member") && epoch > group->epoch) { // phase 4
        uint16_t members[CTL_REPLICAS];
        for (uint32_t i = 0; i < CTL_REPLICAS; i++) {
            members[i] = group->members[i] == move->from_node ? move->to_node : group->members[i];
        }
        server->job_step_started_ms = 0;
        return chain(server, "job.step",
                     "{\"group_epoch\":%llu,\"job\":%llu,\"members\":[%u,%u,%u],\"progress\":"
                     "\"node %u is a member at epoch %llu\",\"state\":\"done\",\"step\":%u}",
                     (unsigned long long)epoch, (unsigned long long)move->job_id, members[0],
                     members[1], members[2], move->to_node, (unsigned long long)epoch, move->step);
    }
    progress_seen(server, applied + 1);
    const cJSON *replica_id = cJSON_GetObjectItemCaseSensitive(learner, "replica_id");
    if (group->change.learner_id != 0 || !json_is(learner, "role", "learner") ||
        !cJSON_IsString(replica_id)) {
        return 0; // phase 3 in progress: the primary's node submits the reconfiguration
    }
    const uint64_t target = ctl_members_applied(nodes, group);
    if (applied + CTL_JOBS_LEARNER_LAG_OPS < target) return 0; // phase 2: syncing
    for (const char *c = replica_id->valuestring; *c != '\0'; c++) {
        if (*c < '0' || *c > '9') return 0; // the store refuses it: wait for a sane heartbeat
    }
    return chain(server, "job.step",
                 "{\"job\":%llu,\"learner_id\":\"%.20s\",\"progress\":\"learner caught up (op "
                 "%llu of %llu): reconfiguring\",\"state\":\"running\",\"step\":%u}",
                 (unsigned long long)move->job_id, replica_id->valuestring,
                 (unsigned long long)applied, (unsigned long long)target, move->step);
}

// A running step: done when heartbeats show it, failed when stalled.
static int step_watch(struct ctl_server *server, const struct ctl_store_move *move) {
    if (server->job_step_started_ms == 0) {
        server->job_step_started_ms = server->now_ms;
        server->job_step_mark = 0;
    }
    const cJSON *nodes = server->heartbeats; // read by ctl_jobs_tick's ctl_model_refresh
    tc_assert(nodes != NULL);
    const uint64_t started_ms = server->job_step_started_ms;
    const int rc = move->kind == CTL_CHANGE_MOVE_PRIMARY ? move_primary_watch(server, move, nodes)
                                                         : replace_watch(server, move, nodes);
    if (rc != 0 || server->job_step_started_ms != started_ms) return rc; // resolved or progress
    if (server->now_ms - server->job_step_started_ms < CTL_JOBS_STALL_MS) return 0;
    server->job_step_started_ms = 0;
    char reason[256];
    (void)snprintf(reason, sizeof(reason), "stalled: no progress for %u s (node %u %s)",
                   CTL_JOBS_STALL_MS / 1000u, move->to_node,
                   move->kind == CTL_CHANGE_MOVE_PRIMARY ? "never reported leading the group"
                                                         : "did not become a member");
    return job_fail(server, move, reason);
}

// A pending step: checked against a fresh model, then declared (running). Not in the first
// liveness window after the controller started: no node could heartbeat while it was down, so
// liveness (C4) is only known again once every live node had a chance to (a restart mid-job
// would otherwise fail the next step for nodes that are fine).
static int step_start(struct ctl_server *server, const struct ctl_store_move *move) {
    if (server->now_ms - server->serving_since_ms < server->options.liveness_ms) return 0;
    const struct ctl_plan_step step = {.step = move->step,
                                       .group_id = move->group_id,
                                       .kind = move->kind,
                                       .from_node = move->from_node,
                                       .to_node = move->to_node};
    char reason[CTL_PLAN_REASON_SIZE];
    if (ctl_plan_check_step(server->model, &step, reason, sizeof(reason)) != 0) {
        return job_fail(server, move, reason);
    }
    server->job_step_started_ms = server->now_ms;
    return chain(server, "job.step",
                 "{\"job\":%llu,\"progress\":\"declared: %s group %u from node %u to node %u\","
                 "\"state\":\"running\",\"step\":%u}",
                 (unsigned long long)move->job_id,
                 move->kind == CTL_CHANGE_MOVE_PRIMARY ? "leadership of" : "replica of",
                 move->group_id, move->from_node, move->to_node, move->step);
}


// The running job's next transition (one chain entry per tick at most).
static int job_advance(struct ctl_server *server, const struct ctl_store_move *next) {
    const struct ctl_store_job *job = &scratch.job;
    if (job->kind == CTL_STORE_JOB_DRAIN) {
        const struct ctl_node *node = ctl_model_node_find(server->model, job->node_id);
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
        rc = ctl_model_refresh(server);
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
