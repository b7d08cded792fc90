// Effects of node.add, node.update, node.cordon, node.uncordon and node.state (store_apply.c
// describes them).
#include <cjson/cJSON.h>
#include <string.h>

#include "store_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

struct node_row {
    char public_key[CTL_KEY_HEX_SIZE];
    char zone[CTL_ZONE_SIZE_MAX];
    char address_peer[CTL_ADDRESS_SIZE_MAX];
    char address_client[CTL_ADDRESS_SIZE_MAX];
    char address_admin[CTL_ADDRESS_SIZE_MAX];
    char state[16];
};

// Reads node `node`; TC_EINVAL (naming the action) if unknown.
static int node_get(struct store_apply *apply, uint64_t node, struct node_row *row) {
    struct ctl_store *store = apply->store;
    store_bind_u64(store, STMT_NODE_GET, 1, node);
    int rc = store_step(store, STMT_NODE_GET);
    if (rc == 0) return args_fail(apply, "unknown node %llu", (unsigned long long)node);
    if (rc < 0) return rc;
    rc = store_column_text(store, STMT_NODE_GET, 0, row->public_key, sizeof(row->public_key));
    if (rc == 0) rc = store_column_text(store, STMT_NODE_GET, 1, row->zone, sizeof(row->zone));
    if (rc == 0) {
        rc = store_column_text(store, STMT_NODE_GET, 2, row->address_peer,
                               sizeof(row->address_peer));
    }
    if (rc == 0) {
        rc = store_column_text(store, STMT_NODE_GET, 3, row->address_client,
                               sizeof(row->address_client));
    }
    if (rc == 0) {
        rc = store_column_text(store, STMT_NODE_GET, 4, row->address_admin,
                               sizeof(row->address_admin));
    }
    if (rc == 0) rc = store_column_text(store, STMT_NODE_GET, 5, row->state, sizeof(row->state));
    store_reset(store, STMT_NODE_GET);
    return rc;
}

static int args_address(struct store_apply *apply, const char *name, const char **out) {
    return args_plain(apply, name, 1, CTL_ADDRESS_SIZE_MAX, out);
}

int apply_node_add(struct store_apply *apply) {
    struct ctl_store *store = apply->store;
    uint64_t node = 0;
    const char *key = NULL;
    const char *zone = "";
    const char *peer = NULL;
    const char *client = NULL;
    const char *admin = NULL;
    int rc = args_u64(apply, "node", 1, CTL_NODES_MAX, &node);
    if (rc == 0) rc = args_key(apply, "public_key", &key);
    if (rc == 0 && args_member(apply, "zone") != NULL) {
        rc = args_plain(apply, "zone", 0, CTL_ZONE_SIZE_MAX, &zone);
    }
    if (rc == 0) rc = args_address(apply, "address_peer", &peer);
    if (rc == 0) rc = args_address(apply, "address_client", &client);
    if (rc == 0) rc = args_address(apply, "address_admin", &admin);
    if (rc != 0) return rc;
    store_bind_u64(store, STMT_NODE_INSERT, 1, node);
    store_bind_text(store, STMT_NODE_INSERT, 2, key);
    store_bind_text(store, STMT_NODE_INSERT, 3, zone);
    store_bind_text(store, STMT_NODE_INSERT, 4, peer);
    store_bind_text(store, STMT_NODE_INSERT, 5, client);
    store_bind_text(store, STMT_NODE_INSERT, 6, admin);
    store_bind_i64(store, STMT_NODE_INSERT, 7, apply->seq);
    return store_exec(store, STMT_NODE_INSERT);
}

// Replaces field with the arg `name` if present; *changed if it differs.
static int update_field(struct store_apply *apply, const char *name, uint32_t min_size,
                        char *field, size_t field_size, bool *changed) {
    if (args_member(apply, name) == NULL) return 0;
    const char *value = NULL;
    const int rc = args_plain(apply, name, min_size, (uint32_t)field_size, &value);
    if (rc != 0) return rc;
    tc_assert(strlen(value) < field_size);
    if (strcmp(field, value) == 0) return 0;
    memcpy(field, value, strlen(value) + 1);
    *changed = true;
    return 0;
}

int apply_node_update(struct store_apply *apply) {
    struct ctl_store *store = apply->store;
    uint64_t node = 0;
    struct node_row row;
    int rc = args_u64(apply, "node", 1, CTL_NODES_MAX, &node);
    if (rc == 0) rc = node_get(apply, node, &row);
    if (rc != 0) return rc;
    const cJSON *key = args_member(apply, "public_key");
    if (key != NULL && (!cJSON_IsString(key) || strcmp(key->valuestring, row.public_key) != 0)) {
        return args_fail(apply, "public_key differs from node %llu's", (unsigned long long)node);
    }
    bool changed = false;
    rc = update_field(apply, "zone", 0, row.zone, sizeof(row.zone), &changed);
    if (rc == 0) {
        rc = update_field(apply, "address_peer", 1, row.address_peer, sizeof(row.address_peer),
                          &changed);
    }
    if (rc == 0) {
        rc = update_field(apply, "address_client", 1, row.address_client,
                          sizeof(row.address_client), &changed);
    }
    if (rc == 0) {
        rc = update_field(apply, "address_admin", 1, row.address_admin,
                          sizeof(row.address_admin), &changed);
    }
    if (rc != 0 || !changed) return rc; // nothing differs: ok, unchanged
    store_bind_u64(store, STMT_NODE_UPDATE, 1, node);
    store_bind_text(store, STMT_NODE_UPDATE, 2, row.zone);
    store_bind_text(store, STMT_NODE_UPDATE, 3, row.address_peer);
    store_bind_text(store, STMT_NODE_UPDATE, 4, row.address_client);
    store_bind_text(store, STMT_NODE_UPDATE, 5, row.address_admin);
    store_bind_i64(store, STMT_NODE_UPDATE, 6, apply->seq);
    return store_exec(store, STMT_NODE_UPDATE);
}

// Sets a node's state; the schema's CHECK refuses a state it does not name.
static int node_state_set(struct store_apply *apply, uint64_t node, const char *state) {
    struct ctl_store *store = apply->store;
    struct node_row row;
    int rc = node_get(apply, node, &row);
    if (rc != 0) return rc;
    if (strcmp(row.state, state) == 0) return 0; // ok, unchanged
    store_bind_u64(store, STMT_NODE_STATE, 1, node);
    store_bind_text(store, STMT_NODE_STATE, 2, state);
    store_bind_i64(store, STMT_NODE_STATE, 3, apply->seq);
    rc = store_exec(store, STMT_NODE_STATE);
    tc_assert(rc != 0 || sqlite3_changes(store->db) == 1);
    return rc;
}

static int node_state_action(struct store_apply *apply, const char *state) {
    uint64_t node = 0;
    const int rc = args_u64(apply, "node", 1, CTL_NODES_MAX, &node);
    if (rc != 0) return rc;
    return node_state_set(apply, node, state);
}

int apply_node_cordon(struct store_apply *apply) { return node_state_action(apply, "cordoned"); }

int apply_node_uncordon(struct store_apply *apply) { return node_state_action(apply, "active"); }

int apply_node_state(struct store_apply *apply) {
    const char *state = NULL;
    const int rc = args_text(apply, "state", &state);
    if (rc != 0) return rc;
    return node_state_action(apply, state);
}
