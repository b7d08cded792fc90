// ctl_store_model_load: the tables as a ctl_model (ctl_model.h), read in one snapshot. A table
// that breaks a model bound is TC_ECORRUPT: apply never writes one, so someone else did.
#include <string.h>

#include "store_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

static struct ctl_group *model_group_find(struct ctl_model *model, uint64_t id) {
    const int32_t index = ctl_model_group_find(model, id);
    return index < 0 ? NULL : &model->groups[index];
}

static int model_node_row(struct ctl_store *store, struct ctl_node *node, uint64_t now_ms,
                          uint64_t liveness_ms) {
    const enum store_stmt id = STMT_NODES_ALL;
    char state[16];
    node->id = (uint16_t)store_column_u64(store, id, 0);
    int rc = store_column_text(store, id, 1, node->public_key, sizeof(node->public_key));
    if (rc == 0) rc = store_column_text(store, id, 2, node->zone, sizeof(node->zone));
    if (rc == 0) {
        rc = store_column_text(store, id, 3, node->address_peer, sizeof(node->address_peer));
    }
    if (rc == 0) {
        rc = store_column_text(store, id, 4, node->address_client, sizeof(node->address_client));
    }
    if (rc == 0) {
        rc = store_column_text(store, id, 5, node->address_admin, sizeof(node->address_admin));
    }
    if (rc == 0) rc = store_column_text(store, id, 6, state, sizeof(state));
    if (rc == 0 && store_node_state_parse(state, &node->state) != 0) {
        rc = store_fail(store, TC_ECORRUPT, "node %u has state %s", node->id, state);
    }
    node->live = false;
    if (sqlite3_column_type(store_stmt(store, id), 7) != SQLITE_NULL) {
        const uint64_t heartbeat_ms = store_column_u64(store, id, 7);
        node->live = heartbeat_ms >= now_ms || now_ms - heartbeat_ms <= liveness_ms;
    }
    return rc;
}

static int model_nodes(struct ctl_store *store, struct ctl_model *model, uint64_t now_ms,
                       uint64_t liveness_ms) {
    int rc = 0;
    while ((rc = store_step(store, STMT_NODES_ALL)) == 1) {
        if (model->node_count == CTL_NODES_MAX) {
            rc = store_fail(store, TC_ECORRUPT, "more than %u nodes", CTL_NODES_MAX);
            break;
        }
        struct ctl_node *node = &model->nodes[model->node_count];
        rc = model_node_row(store, node, now_ms, liveness_ms);
        if (rc != 0) break;
        tc_assert(node->id >= 1); // the schema's CHECK, ORDER BY id
        tc_assert(model->node_count == 0 || model->nodes[model->node_count - 1].id < node->id);
        model->node_count++;
    }
    if (rc != 0) store_reset(store, STMT_NODES_ALL); // a break leaves the statement mid-scan
    return rc < 0 ? rc : 0;
}

static int model_groups(struct ctl_store *store, struct ctl_model *model) {
    int rc = 0;
    while ((rc = store_step(store, STMT_GROUPS_ALL)) == 1) {
        if (model->group_count == CTL_GROUPS_MAX) {
            rc = store_fail(store, TC_ECORRUPT, "more than %u groups", CTL_GROUPS_MAX);
            break;
        }
        struct ctl_group *group = &model->groups[model->group_count];
        group->id = (uint32_t)store_column_u64(store, STMT_GROUPS_ALL, 0);
        group->epoch = store_column_u64(store, STMT_GROUPS_ALL, 1);
        group->primary_node = (uint16_t)store_column_u64(store, STMT_GROUPS_ALL, 2);
        group->change.kind = CTL_CHANGE_NONE;
        tc_assert(model->group_count == 0 || model->groups[model->group_count - 1].id < group->id);
        model->group_count++;
    }
    if (rc != 0) store_reset(store, STMT_GROUPS_ALL);
    return rc < 0 ? rc : 0;
}

// Members by slot; then every group must have CTL_REPLICAS of them and its primary among them.
static int model_members(struct ctl_store *store, struct ctl_model *model) {
    int rc = 0;
    while ((rc = store_step(store, STMT_MEMBERS_ALL)) == 1) {
        const uint64_t group_id = store_column_u64(store, STMT_MEMBERS_ALL, 0);
        const uint64_t slot = store_column_u64(store, STMT_MEMBERS_ALL, 1);
        struct ctl_group *group = model_group_find(model, group_id);
        if (group == NULL || slot >= CTL_REPLICAS) { // REFERENCES groups(id); CHECK on slot
            rc = store_fail(store, TC_ECORRUPT, "member of group %llu in slot %llu",
                            (unsigned long long)group_id, (unsigned long long)slot);
            break;
        }
        group->members[slot] = (uint16_t)store_column_u64(store, STMT_MEMBERS_ALL, 2);
    }
    if (rc != 0) store_reset(store, STMT_MEMBERS_ALL);
    if (rc < 0) return rc;
    for (uint32_t g = 0; g < model->group_count; g++) {
        const struct ctl_group *group = &model->groups[g];
        bool primary_found = group->primary_node == 0;
        for (uint32_t i = 0; i < CTL_REPLICAS; i++) {
            if (group->members[i] == 0) {
                return store_fail(store, TC_ECORRUPT, "group %u lacks member slot %u", group->id,
                                  i);
            }
            if (group->members[i] == group->primary_node) primary_found = true;
        }
        if (!primary_found) {
            return store_fail(store, TC_ECORRUPT, "group %u's primary is not a member", group->id);
        }
    }
    return 0;
}

static int model_changes(struct ctl_store *store, struct ctl_model *model) {
    int rc = 0;
    while ((rc = store_step(store, STMT_CHANGES_ALL)) == 1) {
        const enum store_stmt id = STMT_CHANGES_ALL;
        struct ctl_group *group = model_group_find(model, store_column_u64(store, id, 0));
        if (group == NULL) { // REFERENCES groups(id)
            rc = store_fail(store, TC_ECORRUPT, "group change of a missing group");
            break;
        }
        char kind[16];
        rc = store_column_text(store, id, 3, kind, sizeof(kind));
        if (rc == 0 && store_change_kind_parse(kind, &group->change.kind) != 0) {
            rc = store_fail(store, TC_ECORRUPT, "group change of kind %s", kind);
        }
        if (rc != 0) break;
        group->change.job_id = store_column_u64(store, id, 1);
        group->change.step = (uint32_t)store_column_u64(store, id, 2);
        group->change.from_node = (uint16_t)store_column_u64(store, id, 4);
        group->change.to_node = (uint16_t)store_column_u64(store, id, 5);
        char learner[24];
        rc = store_column_text(store, id, 6, learner, sizeof(learner));
        if (rc == 0 && learner[0] != '\0' &&
            !store_decimal_u64(learner, &group->change.learner_id)) {
            rc = store_fail(store, TC_ECORRUPT, "group change with learner id '%s'", learner);
        }
        if (rc != 0) break;
    }
    if (rc != 0) store_reset(store, STMT_CHANGES_ALL);
    return rc < 0 ? rc : 0;
}

static int model_slots(struct ctl_store *store, struct ctl_model *model) {
    int rc = 0;
    while ((rc = store_step(store, STMT_SLOTS_ALL)) == 1) {
        const uint64_t slot = store_column_u64(store, STMT_SLOTS_ALL, 0);
        if (slot >= CTL_SLOTS) {
            rc = store_fail(store, TC_ECORRUPT, "slot %llu beyond %u", (unsigned long long)slot,
                            CTL_SLOTS);
            break;
        }
        const uint64_t group = store_column_u64(store, STMT_SLOTS_ALL, 1);
        if (model_group_find(model, group) == NULL) { // REFERENCES groups(id)
            rc = store_fail(store, TC_ECORRUPT, "slot %llu in missing group %llu",
                            (unsigned long long)slot, (unsigned long long)group);
            break;
        }
        model->slot_group[slot] = (uint32_t)group;
    }
    if (rc != 0) store_reset(store, STMT_SLOTS_ALL);
    return rc < 0 ? rc : 0;
}

int store_model_load(struct ctl_store *store, struct ctl_model *model, uint64_t now_ms,
                     uint64_t liveness_ms) {
    tc_assert(store != NULL && model != NULL);
    tc_assert(sqlite3_get_autocommit(store->db) == 0); // one snapshot for all five reads
    memset(model, 0, sizeof(*model));
    int rc = model_nodes(store, model, now_ms, liveness_ms);
    if (rc == 0) rc = model_groups(store, model);
    if (rc == 0) rc = model_members(store, model);
    if (rc == 0) rc = model_changes(store, model);
    if (rc == 0) rc = model_slots(store, model);
    return rc;
}

int ctl_store_model_load(struct ctl_store *store, struct ctl_model *model, uint64_t now_ms,
                         uint64_t liveness_ms) {
    tc_assert(store != NULL && model != NULL);
    bool started = false;
    int rc = store_read_begin(store, &started);
    if (rc != 0) return rc;
    rc = store_model_load(store, model, now_ms, liveness_ms);
    return store_read_end(store, started, rc);
}
