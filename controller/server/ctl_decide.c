// Decisions on signed requests (ctl_decide.h): each action's rules against the current tables.
#include "ctl_decide.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl_placement.h"
#include "ctl_plan.h"
#include "ctl_store.h"
#include "tc_assert.h"
#include "tc_err.h"

static const struct {
    const char *action;
    enum ctl_role_need need;
} action_needs[] = {
    {"node.add", CTL_NEED_ADMIN},
    {"node.cordon", CTL_NEED_OPERATOR},
    {"node.uncordon", CTL_NEED_OPERATOR},
    {"group.create", CTL_NEED_ADMIN},
    {"slots.assign", CTL_NEED_ADMIN},
    {"key.add", CTL_NEED_ADMIN},
    {"key.remove", CTL_NEED_ADMIN},
    {"job.start", CTL_NEED_OPERATOR},
    {"job.cancel", CTL_NEED_OPERATOR},
    {"node.update", CTL_NEED_CONTROLLER},
    {"node.state", CTL_NEED_CONTROLLER},
    {"job.step", CTL_NEED_CONTROLLER},
    {"job.finish", CTL_NEED_CONTROLLER},
    {"controller.bootstrap", CTL_NEED_CONTROLLER},
};

enum ctl_role_need ctl_action_need(const char *action) {
    for (uint32_t i = 0; i < sizeof(action_needs) / sizeof(action_needs[0]); i++) {
        if (strcmp(action_needs[i].action, action) == 0) return action_needs[i].need;
    }
    return CTL_NEED_UNKNOWN;
}

static int refuse(char *result, bool *refused, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

// {"reason":"...","status":"refused"} built by cJSON (the reason may hold any text).
static int refuse(char *result, bool *refused, const char *format, ...) {
    char reason[1024];
    va_list arguments;
    va_start(arguments, format);
    (void)vsnprintf(reason, sizeof(reason), format, arguments);
    va_end(arguments);
    cJSON *object = cJSON_CreateObject();
    tc_assert(object != NULL);
    (void)cJSON_AddStringToObject(object, "reason", reason);
    (void)cJSON_AddStringToObject(object, "status", "refused");
    const bool printed = cJSON_PrintPreallocated(object, result, (int)CTL_RESULT_SIZE_MAX, 0);
    tc_assert(printed);
    cJSON_Delete(object);
    *refused = true;
    return 0;
}

static int ok(char *result, bool *refused) {
    (void)snprintf(result, CTL_RESULT_SIZE_MAX, "\"ok\"");
    *refused = false;
    return 0;
}

static bool arg_int(const cJSON *args, const char *name, int64_t min, int64_t max, int64_t *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(args, name);
    if (!cJSON_IsNumber(item)) return false;
    const double value = item->valuedouble;
    if (value < (double)min || value > (double)max || value != (double)(int64_t)value) return false;
    *out = (int64_t)value;
    return true;
}

static const char *arg_string(const cJSON *args, const char *name) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(args, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static bool address_valid(const char *address) {
    if (address == NULL) return false;
    const size_t size = strlen(address);
    const char *colon = strrchr(address, ':');
    return size >= 3 && size < CTL_ADDRESS_SIZE_MAX && colon != NULL && colon != address &&
           colon[1] != '\0' && strspn(colon + 1, "0123456789") == strlen(colon + 1);
}

static int decide_node_add(const struct ctl_model *model, const cJSON *args, char *result,
                           bool *refused) {
    int64_t id = 0;
    if (!arg_int(args, "node", 1, 255, &id)) return refuse(result, refused, "node: 1..255");
    const char *key = arg_string(args, "public_key");
    struct tc_audit_public_key parsed;
    if (key == NULL || tc_audit_key_from_hex(&parsed, key) != 0 || !tc_audit_key_valid(&parsed)) {
        return refuse(result, refused, "public_key: not a valid Ed25519 public key (64 hex)");
    }
    const char *zone = arg_string(args, "zone");
    if (zone == NULL || strlen(zone) >= CTL_ZONE_SIZE_MAX) {
        return refuse(result, refused, "zone: a string of at most 63 bytes (\"\" for none)");
    }
    static const char *addresses[] = {"address_peer", "address_client", "address_admin"};
    for (uint32_t i = 0; i < 3; i++) {
        if (!address_valid(arg_string(args, addresses[i]))) {
            return refuse(result, refused, "%s: not host:port", addresses[i]);
        }
    }
    if (ctl_model_node_find(model, (uint64_t)id) != NULL)
        return refuse(result, refused, "node %lld exists", (long long)id);
    for (uint32_t i = 0; i < model->node_count; i++) {
        if (strcmp(model->nodes[i].public_key, key) == 0) {
            return refuse(result, refused, "node %u already has this key", model->nodes[i].id);
        }
    }
    if (model->node_count == CTL_NODES_MAX) return refuse(result, refused, "255 nodes already");
    return ok(result, refused);
}

static int decide_cordon(const struct ctl_model *model, const cJSON *args, bool cordon,
                         bool job_running, char *result, bool *refused) {
    int64_t id = 0;
    if (!arg_int(args, "node", 1, 255, &id)) return refuse(result, refused, "node: 1..255");
    const struct ctl_node *node = ctl_model_node_find(model, (uint64_t)id);
    if (node == NULL) return refuse(result, refused, "node %lld is unknown", (long long)id);
    (void)cordon; // a drained node, or one whose drain failed, returns to service with uncordon
    if (node->state == CTL_NODE_DRAINING && job_running) {
        return refuse(result, refused, "node %lld is being drained: cancel the job first",
                      (long long)id);
    }
    return ok(result, refused);
}

// Three distinct known nodes (any state: an existing group is registered as it is).
static int members_given(const struct ctl_model *model, const cJSON *given,
                         uint16_t members[CTL_REPLICAS], char *reason, uint32_t reason_size) {
    if (!cJSON_IsArray(given) || cJSON_GetArraySize(given) != (int)CTL_REPLICAS) {
        (void)snprintf(reason, reason_size, "three node ids");
        return TC_EINVAL;
    }
    for (uint32_t i = 0; i < CTL_REPLICAS; i++) {
        const cJSON *item = cJSON_GetArrayItem(given, (int)i);
        if (!cJSON_IsNumber(item) ||
            ctl_model_node_find(model, (uint64_t)item->valuedouble) == NULL ||
            item->valuedouble != (double)(int64_t)item->valuedouble) {
            (void)snprintf(reason, reason_size, "member %u is not a known node", i + 1u);
            return TC_EINVAL;
        }
        members[i] = (uint16_t)item->valuedouble;
        for (uint32_t j = 0; j < i; j++) {
            if (members[j] == members[i]) {
                (void)snprintf(reason, reason_size, "node %u is listed twice", members[i]);
                return TC_EINVAL;
            }
        }
    }
    return 0;
}

// One [first,last,group] range of operator-given slots, parsed.
static bool range_parse(const cJSON *range, int64_t *first, int64_t *last, int64_t *group) {
    if (!cJSON_IsArray(range) || cJSON_GetArraySize(range) != 3) return false;
    const int64_t limits[3][2] = {{0, CTL_SLOTS - 1}, {0, CTL_SLOTS - 1}, {1, 65535}};
    int64_t values[3] = {0};
    int index = 0;
    for (const cJSON *item = range->child; item != NULL; item = item->next, index++) {
        const double value = cJSON_IsNumber(item) ? item->valuedouble : -1.0;
        if (value < (double)limits[index][0] || value > (double)limits[index][1] ||
            value != (double)(int64_t)value) {
            return false;
        }
        values[index] = (int64_t)value;
    }
    *first = values[0];
    *last = values[1];
    *group = values[2];
    return *first <= *last;
}

// Operator-given slot ranges (group.create: each names `creating`; slots.assign, creating 0: each
// names a known group), no slot twice, and every slot is unassigned. A slot routed to a group never moves:
// its rooms' logs live in that group and this release does not move rooms (docs/controller.md §5).
static bool slots_given(const struct ctl_model *model, const cJSON *ranges, int64_t creating,
                        char *reason, size_t reason_size) {
    if (!cJSON_IsArray(ranges) || cJSON_GetArraySize(ranges) == 0) {
        (void)snprintf(reason, reason_size, "a non-empty array of [first,last,group]");
        return false;
    }
    bool taken[CTL_SLOTS] = {false};
    for (const cJSON *range = ranges->child; range != NULL; range = range->next) {
        int64_t first = 0, last = 0, group = 0;
        if (!range_parse(range, &first, &last, &group)) {
            (void)snprintf(reason, reason_size, "each range is [first,last,group] with "
                           "0 <= first <= last <= %u", CTL_SLOTS - 1u);
            return false;
        }
        if (creating != 0 && group != creating) {
            (void)snprintf(reason, reason_size, "a range names group %lld, not the new group %lld",
                           (long long)group, (long long)creating);
            return false;
        }
        if (creating == 0 && ctl_model_group_find(model, (uint64_t)group) < 0) {
            (void)snprintf(reason, reason_size, "group %lld is unknown", (long long)group);
            return false;
        }
        for (int64_t slot = first; slot <= last; slot++) {
            const uint32_t owner = model->slot_group[slot];
            if (owner != 0 || taken[slot]) {
                (void)snprintf(reason, reason_size, owner != 0 ?
                               "slot %lld already routes to group %u: a routed slot never moves "
                               "(its rooms would need to move too)" :
                               "slot %lld is named twice", (long long)slot, owner);
                return false;
            }
            taken[slot] = true;
        }
    }
    return true;
}

static int decide_group_create(const struct ctl_model *model, const cJSON *args, char *result,
                               bool *refused) {
    int64_t id = 0;
    if (!arg_int(args, "group", 1, 65535, &id)) return refuse(result, refused, "group: 1..65535");
    if (ctl_model_group_find(model, (uint64_t)id) >= 0) {
        return refuse(result, refused, "group %lld exists", (long long)id);
    }
    if (model->group_count == CTL_GROUPS_MAX)
        return refuse(result, refused, "%u groups already", CTL_GROUPS_MAX);
    uint16_t members[CTL_REPLICAS];
    char reason[CTL_PLACEMENT_REASON_SIZE];
    const cJSON *slots = cJSON_GetObjectItemCaseSensitive(args, "slots");
    if (slots != NULL && !slots_given(model, slots, id, reason, sizeof(reason))) {
        return refuse(result, refused, "slots: %s", reason);
    }
    const cJSON *given = cJSON_GetObjectItemCaseSensitive(args, "members");
    if (given != NULL) {
        // Registering a group the nodes already run (their configs list its epoch-0 members):
        // the members are the operator's, checked, not placement's.
        if (members_given(model, given, members, reason, sizeof(reason)) != 0) {
            return refuse(result, refused, "members: %s", reason);
        }
        return ok(result, refused);
    }
    if (ctl_placement_new_group(model, members, reason, sizeof(reason)) != 0) {
        return refuse(result, refused, "no 3 nodes can take group %lld: %s", (long long)id, reason);
    }
    (void)snprintf(result, CTL_RESULT_SIZE_MAX, "{\"members\":[%u,%u,%u],\"status\":\"ok\"}",
                   members[0], members[1], members[2]);
    *refused = false;
    return 0;
}

static int decide_slots_assign(const struct ctl_model *model, const cJSON *args, char *result,
                               bool *refused) {
    char reason[CTL_PLACEMENT_REASON_SIZE];
    const cJSON *slots = cJSON_GetObjectItemCaseSensitive(args, "slots");
    if (!slots_given(model, slots, 0, reason, sizeof(reason))) {
        return refuse(result, refused, "slots: %s", reason);
    }
    return ok(result, refused);
}

static int decide_key(struct ctl_server *server, const cJSON *args, bool add, char *result,
                      bool *refused) {
    const char *key = arg_string(args, "public_key");
    struct tc_audit_public_key parsed;
    if (key == NULL || tc_audit_key_from_hex(&parsed, key) != 0 || !tc_audit_key_valid(&parsed)) {
        return refuse(result, refused, "public_key: not a valid Ed25519 public key (64 hex)");
    }
    if (strcmp(key, server->key_hex) == 0) {
        return refuse(result, refused, "the controller's own key cannot be changed here");
    }
    static struct ctl_store_key keys[CTL_STORE_KEYS_MAX];
    uint32_t count = 0;
    const int rc = ctl_store_keys_list(server->store, keys, CTL_STORE_KEYS_MAX, &count);
    if (rc != 0) return rc;
    uint32_t admins = 0;
    const struct ctl_store_key *found = NULL;
    for (uint32_t i = 0; i < count; i++) {
        if (keys[i].removed_seq == 0 && keys[i].role == CTL_STORE_ROLE_ADMIN) admins++;
        if (strcmp(keys[i].public_key, key) == 0) found = &keys[i];
    }
    if (!add) {
        if (found == NULL || found->removed_seq != 0)
            return refuse(result, refused, "key is not active");
        if (found->role == CTL_STORE_ROLE_ADMIN && admins == 1) {
            return refuse(result, refused, "the last admin key cannot be removed");
        }
        return ok(result, refused);
    }
    const char *name = arg_string(args, "name");
    const char *role = arg_string(args, "role");
    if (name == NULL || strlen(name) == 0 || strlen(name) >= CTL_STORE_NAME_SIZE_MAX) {
        return refuse(result, refused, "name: 1..64 bytes");
    }
    if (role == NULL || (strcmp(role, "viewer") != 0 && strcmp(role, "operator") != 0 &&
                         strcmp(role, "admin") != 0)) {
        return refuse(result, refused, "role: viewer, operator or admin");
    }
    if (found != NULL)
        return refuse(result, refused, "key was already added (as '%s')", found->name);
    for (uint32_t i = 0; i < count; i++) {
        if (strcmp(keys[i].name, name) == 0)
            return refuse(result, refused, "name '%s' is taken", name);
    }
    if (count == CTL_STORE_KEYS_MAX) return refuse(result, refused, "%u keys already", count);
    return ok(result, refused);
}

int ctl_decide_plan(const struct ctl_model *model, const char *kind, int64_t node,
                    int64_t max_moves, struct ctl_plan *plan) {
    if (strcmp(kind, "drain") == 0) return ctl_plan_drain(model, (uint32_t)node, plan);
    tc_assert(strcmp(kind, "rebalance") == 0);
    return ctl_plan_rebalance(model, (uint32_t)max_moves, plan);
}

// {"job":J,"moves":[...],"status":"ok"}: the plan's canonical steps under "moves".
static int job_result(const struct ctl_plan *plan, uint64_t job_id, char *result, bool *refused) {
    static char steps[CTL_RESULT_SIZE_MAX];
    if (ctl_plan_format_json(plan, steps, sizeof(steps)) != 0) {
        return refuse(result, refused, "the plan has %u steps, more than one job holds",
                      plan->step_count);
    }
    // steps is {"steps":[...]}: take the array.
    const char *array = strchr(steps, '[');
    const char *end = strrchr(steps, ']');
    tc_assert(array != NULL && end != NULL && end > array);
    const int size =
        snprintf(result, CTL_RESULT_SIZE_MAX, "{\"job\":%llu,\"moves\":%.*s,\"status\":\"ok\"}",
                 (unsigned long long)job_id, (int)(end - array + 1), array);
    if (size < 0 || (uint32_t)size >= CTL_RESULT_SIZE_MAX ||
        plan->step_count > CTL_STORE_JOB_MOVES_MAX) {
        return refuse(result, refused, "the plan has %u steps, more than one job holds (%u)",
                      plan->step_count, CTL_STORE_JOB_MOVES_MAX);
    }
    *refused = false;
    return 0;
}

static int decide_job_start(struct ctl_server *server, const struct ctl_model *model,
                            const cJSON *args, char *result, bool *refused) {
    const char *kind = arg_string(args, "kind");
    const char *hash = arg_string(args, "topology_hash");
    int64_t node = 0;
    int64_t max_moves = CTL_PLAN_MOVES_DEFAULT;
    if (kind == NULL || (strcmp(kind, "drain") != 0 && strcmp(kind, "rebalance") != 0)) {
        return refuse(result, refused, "kind: drain or rebalance");
    }
    if (strcmp(kind, "drain") == 0 && !arg_int(args, "node", 1, 255, &node)) {
        return refuse(result, refused, "node: 1..255");
    }
    if (strcmp(kind, "rebalance") == 0 && cJSON_HasObjectItem(args, "max_moves") &&
        !arg_int(args, "max_moves", CTL_PLAN_MOVES_MIN, CTL_PLAN_MOVES_MAX, &max_moves)) {
        return refuse(result, refused, "max_moves: %u..%u", CTL_PLAN_MOVES_MIN, CTL_PLAN_MOVES_MAX);
    }
    if (hash == NULL) return refuse(result, refused, "topology_hash: missing (get a plan first)");
    uint64_t version = 0;
    char latest[CTL_STORE_HASH_HEX_SIZE];
    static char body[CTL_STORE_TOPOLOGY_SIZE_MAX];
    char signature[CTL_STORE_SIGNATURE_HEX_SIZE];
    size_t body_size = 0;
    int rc = ctl_store_topology_latest(server->store, &version, latest, body, sizeof(body),
                                       &body_size, signature);
    if (rc != 0 && rc != TC_ENOENT) return rc;
    if (rc == TC_ENOENT || strcmp(latest, hash) != 0) {
        return refuse(result, refused,
                      "the topology changed since the plan was made (now version "
                      "%llu): make a new plan",
                      (unsigned long long)version);
    }
    struct ctl_store_job jobs[1];
    uint32_t count = 0;
    rc = ctl_store_jobs_list(server->store, true, 0, jobs, 1, &count);
    if (rc != 0) return rc;
    if (count > 0) {
        return refuse(result, refused, "job %llu is running: one job at a time (cancel it or wait)",
                      (unsigned long long)jobs[0].id);
    }
    rc = ctl_store_jobs_list(server->store, false, 0, jobs, 1, &count);
    if (rc != 0) return rc;
    const uint64_t job_id = count == 0 ? 1u : jobs[0].id + 1u;
    static struct ctl_plan plan;
    rc = ctl_decide_plan(model, kind, node, max_moves, &plan);
    if (rc != 0) return refuse(result, refused, "%s", plan.reason);
    return job_result(&plan, job_id, result, refused);
}

static int decide_job_cancel(struct ctl_server *server, const cJSON *args, char *result,
                             bool *refused) {
    int64_t id = 0;
    if (!arg_int(args, "job", 1, INT64_C(9007199254740991), &id))
        return refuse(result, refused, "job: a job id");
    struct ctl_store_job job;
    const int rc = ctl_store_job_get(server->store, (uint64_t)id, &job);
    if (rc == TC_ENOENT) return refuse(result, refused, "job %lld is unknown", (long long)id);
    if (rc != 0) return rc;
    if (job.state != CTL_STORE_JOB_RUNNING) {
        return refuse(result, refused, "job %lld is %s", (long long)id,
                      ctl_store_job_state_name(job.state));
    }
    return ok(result, refused);
}

// The store applies args and the decided result together and refuses a parameter both name
// (store_apply.c parameters_check) — after the entry is chained, which would stop the chain. So
// such a request is refused here, before: an operator may not name what the controller decides
// (e.g. a group's members when placement picks them).
static int decided_apart(const cJSON *args, const char *action, char *result, bool *refused) {
    cJSON *decided = cJSON_Parse(result);
    tc_assert(decided != NULL); // written by this file
    const char *both = NULL;
    for (const cJSON *item = cJSON_IsObject(decided) ? decided->child : NULL;
         item != NULL && both == NULL; item = item->next) {
        if (strcmp(item->string, "status") != 0 &&
            cJSON_GetObjectItemCaseSensitive(args, item->string) != NULL) {
            both = item->string;
        }
    }
    int rc = 0;
    if (both != NULL) {
        rc = refuse(result, refused, "%s: the controller decides \"%s\"; leave it out", action,
                    both);
    }
    cJSON_Delete(decided);
    return rc;
}

int ctl_decide(struct ctl_server *server, const char *action, const char *args_json, char *result,
               bool *refused) {
    tc_assert(server != NULL && action != NULL && args_json != NULL && result != NULL);
    cJSON *args = cJSON_Parse(args_json);
    tc_assert(args != NULL && cJSON_IsObject(args)); // canonical JSON, checked by the request
    int rc = ctl_model_refresh(server);
    const struct ctl_model *model = server->model;
    if (rc != 0) {
        // leave rc
    } else if (strcmp(action, "node.add") == 0) {
        rc = decide_node_add(model, args, result, refused);
    } else if (strcmp(action, "node.cordon") == 0 || strcmp(action, "node.uncordon") == 0) {
        struct ctl_store_job job;
        uint32_t count = 0;
        rc = ctl_store_jobs_list(server->store, true, 0, &job, 1, &count);
        if (rc == 0) {
            rc = decide_cordon(model, args, strcmp(action, "node.cordon") == 0, count > 0, result,
                               refused);
        }
    } else if (strcmp(action, "group.create") == 0) {
        rc = decide_group_create(model, args, result, refused);
    } else if (strcmp(action, "slots.assign") == 0) {
        rc = decide_slots_assign(model, args, result, refused);
    } else if (strcmp(action, "key.add") == 0 || strcmp(action, "key.remove") == 0) {
        rc = decide_key(server, args, strcmp(action, "key.add") == 0, result, refused);
    } else if (strcmp(action, "job.start") == 0) {
        rc = decide_job_start(server, model, args, result, refused);
    } else if (strcmp(action, "job.cancel") == 0) {
        rc = decide_job_cancel(server, args, result, refused);
    } else {
        rc = refuse(result, refused, "action %s is not accepted from operators", action);
    }
    if (rc == 0 && !*refused) rc = decided_apart(args, action, result, refused);
    cJSON_Delete(args);
    return rc;
}
