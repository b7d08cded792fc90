// ctl_store_apply: one chained action per transaction (invariants C1, C2). The entry is checked,
// its seq must be the head + 1 (a replay of an applied seq is TC_EEXIST), its `actions` row is
// written, and if its result is ok ("ok", or an object with "status":"ok" whose other members are
// parameters the controller decided) its effects (below), then the topology refresh. Any failure
// rolls everything back. Effects of the actions of this file (the rest in store_apply_group.c and
// store_apply_jobs.c):
//
//   controller.bootstrap {"cluster","admin_key","admin_name","slots"}  seq 1 only; the cluster
//       row (or, after format, a check that it says the same), keys: actor as role controller
//       (name "controller"), admin_key as admin
//   node.add {"node","public_key","zone"?,"address_peer","address_client","address_admin"}
//       a node in state active
//   node.update {"node","public_key"?,"zone"?,"address_*"?}  the given fields (public_key must
//       be the node's); unchanged fields are no-ops
//   node.cordon / node.uncordon {"node"}  state cordoned / active
//   node.state {"node","state"}  any state of the schema (jobs: draining, drained; down)
//   key.add {"public_key","name","role"}; key.remove {"public_key"} sets removed_seq
//
// Setting what is already set is "ok, unchanged" (no write, no topology version). An unknown
// node or key is TC_EINVAL: the controller refuses such a request before chaining it.
#include <cjson/cJSON.h>
#include <string.h>

#include "audit_internal.h"
#include "store_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

struct apply_handler {
    const char *name;
    int (*apply)(struct store_apply *apply);
};

static const struct apply_handler handlers[] = {
    {"controller.bootstrap", apply_bootstrap},
    {"node.add", apply_node_add},
    {"node.update", apply_node_update},
    {"node.cordon", apply_node_cordon},
    {"node.uncordon", apply_node_uncordon},
    {"node.state", apply_node_state},
    {"key.add", apply_key_add},
    {"key.remove", apply_key_remove},
    {"group.create", apply_group_create},
    {"slots.assign", apply_slots_assign},
    {"job.start", apply_job_start},
    {"job.step", apply_job_step},
    {"job.finish", apply_job_finish},
    {"job.cancel", apply_job_cancel},
};

// text must be the canonical encoding of itself (uses store->body as scratch).
static int check_canonical(struct ctl_store *store, const char *what, const char *text,
                           enum audit_json_kind kind, uint32_t size_max) {
    if (text == NULL || strnlen(text, (size_t)size_max + 1) > size_max) {
        return store_fail(store, TC_EINVAL, "apply: %s missing or longer than %u", what, size_max);
    }
    uint32_t size = 0;
    const char *detail = "";
    const int rc = audit_json_canonical_text(text, kind, store->body, sizeof(store->body), &size,
                                             &detail);
    if (rc != 0) return store_fail(store, TC_EINVAL, "apply: %s: %s", what, detail);
    if (strcmp(store->body, text) != 0) {
        return store_fail(store, TC_EINVAL, "apply: %s is not canonical JSON", what);
    }
    return 0;
}

static int action_check(struct ctl_store *store, const struct ctl_store_action *action) {
    if (action->seq == 0 || action->seq > TC_AUDIT_SEQ_MAX) {
        return store_fail(store, TC_ERANGE, "apply: seq %llu out of range",
                          (unsigned long long)action->seq);
    }
    uint64_t time_ms = 0;
    if (action->time == NULL || !audit_time_parse(action->time, strlen(action->time), &time_ms)) {
        return store_fail(store, TC_EINVAL, "apply: bad time");
    }
    if (!store_hex64(action->actor, true)) return store_fail(store, TC_EINVAL, "apply: bad actor");
    if (action->action == NULL || !audit_action_valid(action->action, strlen(action->action))) {
        return store_fail(store, TC_EINVAL, "apply: bad action name");
    }
    if (!store_hex64(action->line_hash, false)) {
        return store_fail(store, TC_EINVAL, "apply: bad line hash");
    }
    int rc = check_canonical(store, "args", action->args, AUDIT_JSON_OBJECT,
                             TC_AUDIT_ARGS_SIZE_MAX);
    if (rc == 0) {
        rc = check_canonical(store, "result", action->result, AUDIT_JSON_OBJECT_OR_STRING,
                             TC_AUDIT_RESULT_SIZE_MAX);
    }
    return rc;
}

// seq must be head + 1; an applied seq is a replay (same line hash) or a disagreement.
static int action_sequence(struct ctl_store *store, const struct ctl_store_action *action) {
    int64_t head = 0;
    int rc = store_query_i64(store, STMT_HEAD_SEQ, &head);
    if (rc != 0) return rc;
    tc_assert(head >= 0);
    if (action->seq == (uint64_t)head + 1) return 0;
    if (action->seq > (uint64_t)head) {
        return store_fail(store, TC_ERANGE, "apply: seq %llu after head %lld (expected %lld)",
                          (unsigned long long)action->seq, (long long)head, (long long)head + 1);
    }
    char hash[CTL_STORE_HASH_HEX_SIZE];
    store_bind_u64(store, STMT_ACTION_HASH, 1, action->seq);
    rc = store_step(store, STMT_ACTION_HASH);
    if (rc == 0) rc = store_fail(store, TC_ECORRUPT, "apply: seq %llu missing below the head",
                                 (unsigned long long)action->seq);
    if (rc < 0) return rc;
    rc = store_column_text(store, STMT_ACTION_HASH, 0, hash, sizeof(hash));
    store_reset(store, STMT_ACTION_HASH);
    if (rc != 0) return rc;
    if (strcmp(hash, action->line_hash) != 0) {
        return store_fail(store, TC_ECORRUPT, "apply: seq %llu was applied with another line hash",
                          (unsigned long long)action->seq);
    }
    return store_fail(store, TC_EEXIST, "apply: seq %llu already applied",
                      (unsigned long long)action->seq);
}

static int action_insert(struct ctl_store *store, const struct ctl_store_action *action) {
    store_bind_u64(store, STMT_ACTION_INSERT, 1, action->seq);
    store_bind_text(store, STMT_ACTION_INSERT, 2, action->time);
    store_bind_text(store, STMT_ACTION_INSERT, 3, action->actor);
    store_bind_text(store, STMT_ACTION_INSERT, 4, action->action);
    store_bind_text(store, STMT_ACTION_INSERT, 5, action->args);
    store_bind_text(store, STMT_ACTION_INSERT, 6, action->result);
    store_bind_text(store, STMT_ACTION_INSERT, 7, action->line_hash);
    return store_exec(store, STMT_ACTION_INSERT);
}

// "ok", or an object whose "status" is "ok": the controller's decisions ride along in it
// (group.create: members, slots; job.start: job, moves).
static bool result_ok(const cJSON *result) {
    if (cJSON_IsString(result)) return strcmp(result->valuestring, "ok") == 0;
    tc_assert(cJSON_IsObject(result)); // action_check: a canonical object or string
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(result, "status");
    return cJSON_IsString(status) && strcmp(status->valuestring, "ok") == 0;
}

static const struct apply_handler *handler_find(const char *name) {
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(handlers); i++) {
        if (strcmp(handlers[i].name, name) == 0) return &handlers[i];
    }
    return NULL;
}

// A parameter named by both args and the result would be ambiguous.
static int parameters_check(struct store_apply *apply) {
    if (apply->result == NULL) return 0;
    for (const cJSON *item = apply->result->child; item != NULL; item = item->next) {
        tc_assert(item->string != NULL);
        if (strcmp(item->string, "status") == 0) continue;
        if (cJSON_GetObjectItemCaseSensitive(apply->args, item->string) != NULL) {
            return args_fail(apply, "args and result both name \"%s\"", item->string);
        }
    }
    return 0;
}

static int action_run(struct ctl_store *store, const struct ctl_store_action *action,
                      const cJSON *result) {
    const struct apply_handler *handler = handler_find(action->action);
    if (handler == NULL) {
        return store_fail(store, TC_EINVAL, "apply: unknown action %s", action->action);
    }
    cJSON *args = cJSON_Parse(action->args);
    if (args == NULL) return store_fail(store, TC_ENOMEM, "apply: cannot parse args");
    tc_assert(cJSON_IsObject(args)); // action_check parsed it as an object before
    struct store_apply apply = {
        .store = store,
        .action = action,
        .args = args,
        .result = cJSON_IsObject(result) ? result : NULL,
        .seq = (int64_t)action->seq,
    };
    int rc = parameters_check(&apply);
    if (rc == 0) rc = handler->apply(&apply);
    if (rc == 0) rc = store_topology_refresh(store, apply.seq);
    cJSON_Delete(args);
    return rc;
}

// The effects of an ok result; nothing for any other result (refused: the actions row only).
static int action_effects(struct ctl_store *store, const struct ctl_store_action *action) {
    cJSON *result = cJSON_Parse(action->result);
    if (result == NULL) return store_fail(store, TC_ENOMEM, "apply: cannot parse the result");
    int rc = 0;
    if (result_ok(result)) rc = action_run(store, action, result);
    cJSON_Delete(result);
    return rc;
}

int ctl_store_apply(struct ctl_store *store, const struct ctl_store_action *action) {
    tc_assert(store != NULL && action != NULL);
    store->error[0] = '\0';
    int rc = action_check(store, action);
    if (rc != 0) return rc;
    rc = store_begin(store);
    if (rc != 0) return rc;
    rc = action_sequence(store, action);
    if (rc == 0) rc = action_insert(store, action);
    if (rc == 0) rc = action_effects(store, action);
    if (rc == 0) return store_commit(store);
    store_rollback(store);
    tc_assert(sqlite3_get_autocommit(store->db) != 0 || store->broken);
    return rc;
}

int ctl_store_head_seq(struct ctl_store *store, uint64_t *seq) {
    tc_assert(store != NULL && seq != NULL);
    int64_t head = 0;
    const int rc = store_query_i64(store, STMT_HEAD_SEQ, &head);
    if (rc != 0) return rc;
    tc_assert(head >= 0);
    *seq = (uint64_t)head;
    return 0;
}

// ------------------------------------------------------------------------------------------------
// Cluster and keys.

static int key_insert(struct store_apply *apply, const char *key, const char *name,
                      const char *role) {
    struct ctl_store *store = apply->store;
    int64_t count = 0;
    int rc = store_query_i64(store, STMT_KEY_COUNT, &count);
    if (rc != 0) return rc;
    if (count >= (int64_t)CTL_STORE_KEYS_MAX) {
        return store_fail(store, TC_ENOSPC, "%s: %u keys already", apply->action->action,
                          CTL_STORE_KEYS_MAX);
    }
    store_bind_text(store, STMT_KEY_INSERT, 1, key);
    store_bind_text(store, STMT_KEY_INSERT, 2, name);
    store_bind_text(store, STMT_KEY_INSERT, 3, role);
    store_bind_i64(store, STMT_KEY_INSERT, 4, apply->seq);
    return store_exec(store, STMT_KEY_INSERT);
}

// Inserts the cluster row, or checks that the one written by format says the same.
static int cluster_ensure(struct store_apply *apply, const char *name, uint64_t slots) {
    char name_stored[CTL_STORE_NAME_SIZE_MAX];
    char key_stored[CTL_KEY_HEX_SIZE];
    uint32_t slots_stored = 0;
    struct ctl_store *store = apply->store;
    int rc = store_cluster_get(store, name_stored, sizeof(name_stored), key_stored, &slots_stored);
    if (rc == TC_ENOENT) {
        store_bind_text(store, STMT_CLUSTER_INSERT, 1, name);
        store_bind_text(store, STMT_CLUSTER_INSERT, 2, apply->action->actor);
        store_bind_u64(store, STMT_CLUSTER_INSERT, 3, slots);
        return store_exec(store, STMT_CLUSTER_INSERT);
    }
    if (rc != 0) return rc;
    if (strcmp(name_stored, name) != 0 || strcmp(key_stored, apply->action->actor) != 0 ||
        slots_stored != slots) {
        return args_fail(apply, "the formatted cluster row differs (cluster, key or slots)");
    }
    return 0;
}

int apply_bootstrap(struct store_apply *apply) {
    if (apply->seq != 1) return args_fail(apply, "only seq 1 can bootstrap");
    const char *cluster = NULL;
    const char *admin_key = NULL;
    const char *admin_name = NULL;
    uint64_t slots = 0;
    int rc = args_plain(apply, "cluster", 1, CTL_STORE_NAME_SIZE_MAX, &cluster);
    if (rc == 0) rc = args_key(apply, "admin_key", &admin_key);
    if (rc == 0) rc = args_plain(apply, "admin_name", 1, CTL_STORE_NAME_SIZE_MAX, &admin_name);
    if (rc == 0) rc = args_u64(apply, "slots", 1, CTL_SLOTS, &slots);
    if (rc == 0) rc = cluster_ensure(apply, cluster, slots);
    if (rc == 0) rc = key_insert(apply, apply->action->actor, "controller", "controller");
    if (rc == 0) rc = key_insert(apply, admin_key, admin_name, "admin");
    return rc;
}

int apply_key_add(struct store_apply *apply) {
    const char *key = NULL;
    const char *name = NULL;
    const char *role = NULL;
    int rc = args_key(apply, "public_key", &key);
    if (rc == 0) rc = args_plain(apply, "name", 1, CTL_STORE_NAME_SIZE_MAX, &name);
    if (rc == 0) rc = args_text(apply, "role", &role); // the schema's CHECK names the roles
    if (rc == 0) rc = key_insert(apply, key, name, role);
    return rc;
}

int apply_key_remove(struct store_apply *apply) {
    struct ctl_store *store = apply->store;
    const char *key = NULL;
    int rc = args_key(apply, "public_key", &key);
    if (rc != 0) return rc;
    store_bind_text(store, STMT_KEY_GET, 1, key);
    rc = store_step(store, STMT_KEY_GET);
    if (rc == 0) return args_fail(apply, "unknown key %s", key);
    if (rc < 0) return rc;
    const bool removed = sqlite3_column_type(store_stmt(store, STMT_KEY_GET), 1) != SQLITE_NULL;
    store_reset(store, STMT_KEY_GET);
    if (removed) return 0; // ok, unchanged
    store_bind_text(store, STMT_KEY_REMOVE, 1, key);
    store_bind_i64(store, STMT_KEY_REMOVE, 2, apply->seq);
    rc = store_exec(store, STMT_KEY_REMOVE);
    tc_assert(rc != 0 || sqlite3_changes(store->db) == 1);
    return rc;
}
