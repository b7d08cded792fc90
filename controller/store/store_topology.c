// The signed topology (docs/controller.md §5): its canonical body, computed from the model (pure)
// and encoded by the audit library's canonical JSON encoder; the refresh after each applied
// action, which writes version + 1 exactly when the body (apart from its version) changed; and
// the signing helpers.
#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_internal.h"
#include "store_internal.h"
#include "tc_assert.h"
#include "tc_audit.h"
#include "tc_checksum.h"
#include "tc_err.h"

// The largest body: every field at its bound, no escapes (apply admits printable text without
// quotes or backslashes only), generous per-item overhead.
#define BODY_NODE_SIZE_MAX (3u * CTL_ADDRESS_SIZE_MAX + CTL_ZONE_SIZE_MAX + 128u)
#define BODY_GROUP_SIZE_MAX 160u
#define BODY_RANGE_SIZE_MAX 20u
_Static_assert(CTL_NODES_MAX * BODY_NODE_SIZE_MAX + CTL_GROUPS_MAX * BODY_GROUP_SIZE_MAX +
                       CTL_SLOTS * BODY_RANGE_SIZE_MAX + 1024u <=
                   CTL_STORE_TOPOLOGY_SIZE_MAX,
               "the largest topology body fits the store's buffer");

static bool add_u64(cJSON *object, const char *name, uint64_t value) {
    tc_assert(value <= TC_AUDIT_SEQ_MAX); // exact as a double, canonical as an integer
    return cJSON_AddNumberToObject(object, name, (double)value) != NULL;
}

// A replace step's learner, once known: a decimal string (replica ids use all 64 bits, beyond
// what a JSON number carries exactly).
static bool change_learner_add(cJSON *change, uint64_t learner_id) {
    if (learner_id == 0) return true;
    char text[24];
    (void)snprintf(text, sizeof(text), "%llu", (unsigned long long)learner_id);
    return cJSON_AddStringToObject(change, "learner_id", text) != NULL;
}

static bool body_node(cJSON *nodes, const struct ctl_node *node) {
    cJSON *item = cJSON_CreateObject();
    if (item == NULL) return false;
    cJSON_AddItemToArray(nodes, item); // owned by nodes from here on
    return cJSON_AddStringToObject(item, "address_admin", node->address_admin) != NULL &&
           cJSON_AddStringToObject(item, "address_client", node->address_client) != NULL &&
           cJSON_AddStringToObject(item, "address_peer", node->address_peer) != NULL &&
           add_u64(item, "id", node->id) &&
           cJSON_AddStringToObject(item, "state", ctl_store_node_state_name(node->state)) !=
               NULL &&
           cJSON_AddStringToObject(item, "zone", node->zone) != NULL;
}

static bool body_group(cJSON *groups, const struct ctl_group *group) {
    cJSON *item = cJSON_CreateObject();
    if (item == NULL) return false;
    cJSON_AddItemToArray(groups, item);
    bool ok = add_u64(item, "epoch", group->epoch) && add_u64(item, "id", group->id);
    if (ok && group->change.kind != CTL_CHANGE_NONE) {
        cJSON *change = cJSON_AddObjectToObject(item, "change");
        ok = change != NULL && add_u64(change, "from", group->change.from_node) &&
             cJSON_AddStringToObject(change, "kind", store_change_kind_name(group->change.kind)) !=
                 NULL &&
             add_u64(change, "job", group->change.job_id) &&
             add_u64(change, "step", group->change.step) &&
             add_u64(change, "to", group->change.to_node) &&
             change_learner_add(change, group->change.learner_id);
    }
    ok = ok && store_json_members(item, group);
    if (ok && group->primary_node != 0) ok = add_u64(item, "primary", group->primary_node);
    if (ok && group->primary_node == 0) ok = cJSON_AddNullToObject(item, "primary") != NULL;
    return ok;
}

static bool body_range(cJSON *slots, uint32_t first, uint32_t last, uint32_t group) {
    tc_assert(first <= last && group != 0);
    const double values[3] = {(double)first, (double)last, (double)group};
    cJSON *range = cJSON_CreateDoubleArray(values, 3);
    if (range == NULL) return false;
    cJSON_AddItemToArray(slots, range);
    return true;
}

// Consecutive slots of one group as inclusive ranges [first, last, group]; unassigned skipped.
static bool body_slots(cJSON *slots, const struct ctl_model *model) {
    uint32_t first = 0;
    for (uint32_t slot = 1; slot <= CTL_SLOTS; slot++) {
        const bool end = slot == CTL_SLOTS || model->slot_group[slot] != model->slot_group[first];
        if (!end) continue;
        if (model->slot_group[first] != 0 &&
            !body_range(slots, first, slot - 1, model->slot_group[first])) {
            return false;
        }
        first = slot;
    }
    return true;
}

static cJSON *body_tree(const char *cluster, const struct ctl_model *model, uint64_t version) {
    cJSON *root = cJSON_CreateObject();
    if (root == NULL) return NULL;
    cJSON *nodes = cJSON_AddArrayToObject(root, "nodes");
    cJSON *groups = cJSON_AddArrayToObject(root, "groups");
    cJSON *slots = cJSON_AddArrayToObject(root, "slots");
    bool ok = nodes != NULL && groups != NULL && slots != NULL &&
              cJSON_AddStringToObject(root, "cluster", cluster) != NULL &&
              add_u64(root, "version", version);
    for (uint32_t i = 0; ok && i < model->node_count; i++) ok = body_node(nodes, &model->nodes[i]);
    for (uint32_t i = 0; ok && i < model->group_count; i++) {
        ok = body_group(groups, &model->groups[i]);
    }
    if (ok) ok = body_slots(slots, model);
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

int ctl_store_topology_body(const char *cluster, const struct ctl_model *model, uint64_t version,
                            char *out, size_t capacity, size_t *size) {
    tc_assert(cluster != NULL && model != NULL && out != NULL && size != NULL);
    tc_assert(model->node_count <= CTL_NODES_MAX && model->group_count <= CTL_GROUPS_MAX);
    tc_assert(capacity > 0 && capacity <= UINT32_MAX);
    cJSON *root = body_tree(cluster, model, version);
    if (root == NULL) return TC_ENOMEM;
    struct audit_buf buf;
    audit_buf_init(&buf, out, (uint32_t)capacity);
    const char *detail = NULL;
    int rc = audit_json_canonical(&buf, root, 1, &detail);
    cJSON_Delete(root);
    if (rc == 0 && !audit_buf_terminate(&buf)) rc = TC_ENOSPC;
    if (rc != 0) return rc == TC_ETOOBIG ? TC_EINVAL : rc;
    tc_assert(buf.size < capacity && out[buf.size] == '\0');
    *size = buf.size;
    return 0;
}

int store_cluster_get(struct ctl_store *store, char *name, size_t name_capacity, char *key,
                      uint32_t *slots) {
    tc_assert(name != NULL && key != NULL && slots != NULL);
    int rc = store_step(store, STMT_CLUSTER_GET);
    if (rc == 0) return store_fail(store, TC_ENOENT, "no cluster row (not formatted)");
    if (rc < 0) return rc;
    rc = store_column_text(store, STMT_CLUSTER_GET, 0, name, name_capacity);
    if (rc == 0) rc = store_column_text(store, STMT_CLUSTER_GET, 1, key, CTL_KEY_HEX_SIZE);
    const uint64_t count = store_column_u64(store, STMT_CLUSTER_GET, 2);
    store_reset(store, STMT_CLUSTER_GET);
    tc_assert(count >= 1 && count <= CTL_SLOTS); // the schema's CHECK
    *slots = (uint32_t)count;
    return rc;
}

// Signs and inserts store->body (body_size bytes) as `version`.
static int topology_insert(struct ctl_store *store, uint64_t version, size_t body_size,
                           int64_t seq) {
    if (store->options.sign_topology == NULL) {
        return store_fail(store, TC_EPERM, "the topology changed but the store has no signer");
    }
    struct tc_hash256 hash;
    char hash_hex[CTL_STORE_HASH_HEX_SIZE];
    tc_hash256_compute(&hash, store->body, body_size);
    tc_hex_encode(hash_hex, hash.bytes, sizeof(hash.bytes));
    char signature[CTL_STORE_SIGNATURE_HEX_SIZE];
    memset(signature, 0, sizeof(signature));
    const int rc = store->options.sign_topology(store->options.sign_context, store->body,
                                                body_size, signature);
    if (rc != 0) return store_fail(store, rc, "signing topology version %llu failed",
                                   (unsigned long long)version);
    tc_assert(store_hex128(signature)); // the signer's contract
    store_bind_u64(store, STMT_TOPOLOGY_INSERT, 1, version);
    store_bind_text(store, STMT_TOPOLOGY_INSERT, 2, hash_hex);
    store_bind_text(store, STMT_TOPOLOGY_INSERT, 3, store->body);
    store_bind_text(store, STMT_TOPOLOGY_INSERT, 4, signature);
    store_bind_i64(store, STMT_TOPOLOGY_INSERT, 5, seq);
    return store_exec(store, STMT_TOPOLOGY_INSERT);
}

static int body_render(struct ctl_store *store, const char *cluster, uint64_t version,
                       size_t *size) {
    const int rc = ctl_store_topology_body(cluster, &store->model, version, store->body,
                                           sizeof(store->body), size);
    if (rc != 0) {
        return store_fail(store, rc, "topology body version %llu: %s",
                          (unsigned long long)version, tc_strerror(rc));
    }
    return 0;
}

// Renders store->model at the latest version (0: none) into store->body and compares it with the
// latest stored body; without one, any node or group is a change.
static int topology_compare(struct ctl_store *store, const char *cluster, uint64_t *version,
                            bool *changed) {
    int rc = store_step(store, STMT_TOPOLOGY_LATEST);
    if (rc < 0) return rc;
    const bool latest = rc == 1;
    *version = latest ? store_column_u64(store, STMT_TOPOLOGY_LATEST, 0) : 0;
    *changed = store->model.node_count > 0 || store->model.group_count > 0;
    size_t size = 0;
    rc = body_render(store, cluster, *version, &size);
    if (rc == 0 && latest) {
        sqlite3_stmt *stmt = store_stmt(store, STMT_TOPOLOGY_LATEST);
        const unsigned char *body = sqlite3_column_text(stmt, 2);
        if (body == NULL) rc = store_fail(store, TC_ENOMEM, "reading the latest topology");
        *changed = body == NULL || (size_t)sqlite3_column_bytes(stmt, 2) != size ||
                   memcmp(body, store->body, size) != 0;
    }
    if (latest) store_reset(store, STMT_TOPOLOGY_LATEST);
    return rc;
}

// After an action's effects: writes version + 1 exactly when the body changed.
int store_topology_refresh(struct ctl_store *store, int64_t seq) {
    tc_assert(sqlite3_get_autocommit(store->db) == 0);
    char cluster[CTL_STORE_NAME_SIZE_MAX];
    char key[CTL_KEY_HEX_SIZE];
    uint32_t slots = 0;
    int rc = store_cluster_get(store, cluster, sizeof(cluster), key, &slots);
    if (rc == TC_ENOENT) return store_fail(store, TC_EINVAL, "apply: no cluster row yet");
    if (rc == 0) rc = store_model_load(store, &store->model, 0, 0);
    uint64_t version = 0;
    bool changed = false;
    if (rc == 0) rc = topology_compare(store, cluster, &version, &changed);
    if (rc != 0 || !changed) return rc;
    size_t size = 0;
    rc = body_render(store, cluster, version + 1, &size);
    if (rc != 0) return rc;
    return topology_insert(store, version + 1, size, seq);
}

int ctl_store_topology_latest(struct ctl_store *store, uint64_t *version, char *hash, char *body,
                              size_t body_capacity, size_t *body_size, char *signature) {
    tc_assert(store != NULL && version != NULL && hash != NULL && body != NULL);
    tc_assert(body_size != NULL && signature != NULL);
    int rc = store_step(store, STMT_TOPOLOGY_LATEST);
    if (rc == 0) return store_fail(store, TC_ENOENT, "no topology yet");
    if (rc < 0) return rc;
    *version = store_column_u64(store, STMT_TOPOLOGY_LATEST, 0);
    rc = store_column_text(store, STMT_TOPOLOGY_LATEST, 1, hash, CTL_STORE_HASH_HEX_SIZE);
    if (rc == 0) {
        const int bytes = sqlite3_column_bytes(store_stmt(store, STMT_TOPOLOGY_LATEST), 2);
        tc_assert(bytes >= 0);
        if ((size_t)bytes >= body_capacity) {
            rc = store_fail(store, TC_ENOSPC, "topology body of %d bytes", bytes);
        } else {
            rc = store_column_text(store, STMT_TOPOLOGY_LATEST, 2, body, body_capacity);
            *body_size = (size_t)bytes;
        }
    }
    if (rc == 0) {
        rc = store_column_text(store, STMT_TOPOLOGY_LATEST, 3, signature,
                               CTL_STORE_SIGNATURE_HEX_SIZE);
    }
    store_reset(store, STMT_TOPOLOGY_LATEST);
    return rc;
}

// CTL_STORE_TOPOLOGY_DOMAIN || body in a fresh allocation (the caller frees it).
static unsigned char *signed_bytes(const char *body, size_t body_size, size_t *size) {
    const size_t domain_size = sizeof(CTL_STORE_TOPOLOGY_DOMAIN) - 1;
    tc_assert(body_size < CTL_STORE_TOPOLOGY_SIZE_MAX);
    unsigned char *message = malloc(domain_size + body_size);
    if (message == NULL) return NULL;
    memcpy(message, CTL_STORE_TOPOLOGY_DOMAIN, domain_size);
    memcpy(message + domain_size, body, body_size);
    *size = domain_size + body_size;
    return message;
}

int ctl_store_topology_sign(void *context, const char *body, size_t body_size,
                            char signature_hex[CTL_STORE_SIGNATURE_HEX_SIZE]) {
    tc_assert(context != NULL && body != NULL && signature_hex != NULL);
    const struct tc_audit_secret_key *secret = context;
    audit_sodium_ready();
    size_t size = 0;
    unsigned char *message = signed_bytes(body, body_size, &size);
    if (message == NULL) return TC_ENOMEM;
    struct tc_audit_signature signature;
    const int rc = crypto_sign_ed25519_detached(signature.bytes, NULL, message, size,
                                                secret->bytes);
    free(message);
    tc_assert(rc == 0); // libsodium's signing cannot fail
    tc_hex_encode(signature_hex, signature.bytes, sizeof(signature.bytes));
    return 0;
}

int ctl_store_topology_verify(const char *body, size_t body_size, const char *signature_hex,
                              const char *public_key_hex) {
    tc_assert(body != NULL && signature_hex != NULL && public_key_hex != NULL);
    struct tc_audit_public_key key;
    struct tc_audit_signature signature;
    if (tc_audit_key_from_hex(&key, public_key_hex) != 0 || !tc_audit_key_valid(&key)) {
        return TC_EPERM;
    }
    if (!store_hex128(signature_hex) ||
        !audit_hex_decode(signature.bytes, sizeof(signature.bytes), signature_hex, 128)) {
        return TC_EPERM;
    }
    audit_sodium_ready();
    size_t size = 0;
    unsigned char *message = signed_bytes(body, body_size, &size);
    if (message == NULL) return TC_ENOMEM;
    const int rc = crypto_sign_ed25519_verify_detached(signature.bytes, message, size, key.bytes);
    free(message);
    return rc == 0 ? 0 : TC_EPERM;
}
