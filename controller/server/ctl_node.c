// POST /v1/register and /v1/heartbeat: messages signed by a node's own Ed25519 key
// (docs/controller.md §8). Registration may chain node.add (auto-accept) or node.update, with the
// controller as actor; heartbeats are observations (node_status), never chained.
#include "ctl_node.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "ctl_chain.h"
#include "ctl_envelope.h"
#include "ctl_store.h"
#include "tc_assert.h"
#include "tc_err.h"

#define CTL_NODE_SKEW_MS (5u * 60u * 1000u)

struct node_message {
    cJSON *root;
    int64_t node;
    uint64_t time_ms;
};

// Parses and checks the signature with the key the caller picks (from the body or the tables).
static int node_message_open(struct ctl_server *server, const struct tc_admin_request *http,
                             struct tc_admin_response *response, const char *domain,
                             bool key_from_body, struct node_message *message) {
    static char canonical[TC_AUDIT_LINE_SIZE_MAX + 1];
    uint32_t canonical_size = 0;
    struct tc_audit_signature signature;
    char error[CTL_ENVELOPE_ERROR_SIZE];
    if (ctl_node_message_parse(http->body, http->body_size, canonical, sizeof(canonical),
                               &canonical_size, &signature, error) != 0) {
        ctl_respond_error(response, 400, "bad_request", error);
        return TC_EINVAL;
    }
    message->root = cJSON_Parse(canonical);
    tc_assert(message->root != NULL);
    const cJSON *node = cJSON_GetObjectItemCaseSensitive(message->root, "node");
    const cJSON *time = cJSON_GetObjectItemCaseSensitive(message->root, "time");
    if (!cJSON_IsNumber(node) || node->valuedouble < 1 || node->valuedouble > 255 ||
        node->valuedouble != (double)(int64_t)node->valuedouble || !cJSON_IsString(time) ||
        !tc_audit_time_parse(time->valuestring, strlen(time->valuestring), &message->time_ms)) {
        ctl_respond_error(response, 400, "bad_request", "node (1..255) and time are required");
        return TC_EINVAL;
    }
    message->node = (int64_t)node->valuedouble;
    const uint64_t now = ctl_wall_ms();
    const uint64_t skew = now > message->time_ms ? now - message->time_ms : message->time_ms - now;
    if (skew > CTL_NODE_SKEW_MS) {
        ctl_respond_error(response, 400, "stale_request", "time is more than 5 minutes off");
        return TC_ERANGE;
    }
    struct tc_audit_public_key key;
    const char *key_hex = NULL;
    if (key_from_body) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(message->root, "public_key");
        key_hex = cJSON_IsString(item) ? item->valuestring : NULL;
    } else {
        const struct ctl_node *known = ctl_model_node_find(server->model, (uint64_t)message->node);
        if (known != NULL) key_hex = known->public_key;
        if (key_hex == NULL) {
            ctl_respond_error(response, 403, "unknown_node", "register the node first");
            return TC_ENOENT;
        }
    }
    if (key_hex == NULL || tc_audit_key_from_hex(&key, key_hex) != 0 ||
        tc_audit_verify_domain(domain, canonical, canonical_size, &key, &signature) != 0) {
        ctl_respond_error(response, 401, "bad_signature", "sig does not verify for this node");
        return TC_EPERM;
    }
    return 0;
}

// The nodes' keys and addresses as chained: reloaded only when the chain moved (heartbeats
// arrive every second from every node; the model holds thousands of slot rows).
static bool node_model(struct ctl_server *server, struct tc_admin_response *response) {
    uint64_t seq = 0;
    int rc = ctl_store_head_seq(server->store, &seq);
    if (rc == 0 && seq != server->node_model_seq) {
        rc = ctl_store_model_load(server->store, server->model, ctl_wall_ms(),
                                  server->options.liveness_ms);
        server->node_model_seq = rc == 0 ? seq : 0;
    }
    if (rc != 0) ctl_respond_error(response, 500, "store", ctl_store_error(server->store));
    return rc == 0;
}

static const char *field(const cJSON *root, const char *name) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);
    return cJSON_IsString(item) ? item->valuestring : "";
}

// The node.add / node.update arguments: the registration without its time.
static char *node_args(const cJSON *root) {
    cJSON *args = cJSON_Duplicate(root, 1);
    tc_assert(args != NULL);
    cJSON_DeleteItemFromObjectCaseSensitive(args, "time");
    char *text = cJSON_PrintUnformatted(args);
    cJSON_Delete(args);
    tc_assert(text != NULL);
    return text;
}

static void register_known(struct ctl_server *server, const struct ctl_node *known,
                           const struct node_message *message, struct tc_admin_response *response) {
    const cJSON *root = message->root;
    if (strcmp(known->public_key, field(root, "public_key")) != 0) {
        ctl_respond_error(response, 403, "key_mismatch",
                          "this node id is registered with another key");
        return;
    }
    if (strcmp(known->zone, field(root, "zone")) == 0 &&
        strcmp(known->address_peer, field(root, "address_peer")) == 0 &&
        strcmp(known->address_client, field(root, "address_client")) == 0 &&
        strcmp(known->address_admin, field(root, "address_admin")) == 0) {
        ctl_respond_json(response, 200, "{\"status\":\"known\"}");
        return;
    }
    char *args = node_args(root);
    uint64_t seq = 0;
    const int rc = ctl_chain_controller(server, "node.update", args, "\"ok\"", &seq);
    cJSON_free(args);
    if (rc != 0) {
        ctl_respond_error(response, 500, "store", "could not record the node's new addresses");
        return;
    }
    ctl_respond_json(response, 200, "{\"status\":\"updated\"}");
}

void ctl_node_register(struct ctl_server *server, const struct tc_admin_request *http,
                       struct tc_admin_response *response) {
    if (!node_model(server, response)) return;
    struct node_message message = {0};
    int rc = node_message_open(server, http, response, CTL_DOMAIN_REGISTER, true, &message);
    if (rc == 0) {
        server->stats.registrations += 1;
        const struct ctl_node *known = ctl_model_node_find(server->model, (uint64_t)message.node);
        if (known != NULL) {
            register_known(server, known, &message, response);
        } else if (!server->options.auto_accept_nodes) {
            ctl_respond_error(
                response, 403, "unknown_node",
                "this node is not part of the cluster: add it with tigerctl nodes add");
        } else {
            char *args = node_args(message.root);
            uint64_t seq = 0;
            rc = ctl_chain_controller(server, "node.add", args, "\"ok\"", &seq);
            cJSON_free(args);
            if (rc == 0) ctl_respond_json(response, 200, "{\"status\":\"added\"}");
            if (rc != 0)
                ctl_respond_error(response, 400, "bad_request",
                                  "node.add refused: check the addresses and key");
        }
    }
    cJSON_Delete(message.root);
}

void ctl_node_heartbeat(struct ctl_server *server, const struct tc_admin_request *http,
                        struct tc_admin_response *response) {
    if (!node_model(server, response)) return;
    struct node_message message = {0};
    int rc = node_message_open(server, http, response, CTL_DOMAIN_HEARTBEAT, false, &message);
    if (rc == 0) {
        // A replayed (older or equal) heartbeat never overwrites a newer observation.
        if (message.time_ms <= server->heartbeat_time_ms[message.node]) {
            ctl_respond_error(response, 409, "replay", "a newer heartbeat was already received");
        } else {
            const cJSON *status = cJSON_GetObjectItemCaseSensitive(message.root, "status");
            char *text = cJSON_IsObject(status) ? cJSON_PrintUnformatted(status) : NULL;
            rc = text == NULL ? TC_EINVAL
                              : ctl_store_heartbeat(server->store, (uint16_t)message.node,
                                                    ctl_wall_ms(), text);
            cJSON_free(text);
            if (rc == 0) {
                server->heartbeat_time_ms[message.node] = message.time_ms;
                server->stats.heartbeats += 1;
                char answer[64];
                (void)snprintf(answer, sizeof(answer), "{\"topology_version\":%llu}",
                               (unsigned long long)ctl_topology_version(server));
                ctl_respond_json(response, 200, answer);
            } else {
                ctl_respond_error(response, 400, "bad_request", "status: not a JSON object");
            }
        }
    }
    cJSON_Delete(message.root);
}
