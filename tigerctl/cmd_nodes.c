// tigerctl nodes, nodes add, cordon, uncordon (docs/controller.md §4 nodes, §8 actions).
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "cmd.h"
#include "sign.h"
#include "table.h"
#include "tc_assert.h"
#include "tc_audit.h"

#define ZONE_SIZE_MAX 63u     // bytes (the controller's CTL_ZONE_SIZE_MAX without the NUL)
#define ADDRESS_SIZE_MAX 261u // "host:port" bytes (CTL_ADDRESS_SIZE_MAX without the NUL)

static const struct tigerctl_option plain_options[] = {
    TIGERCTL_COMMON_OPTIONS,
    TIGERCTL_CONTROLLER_OPTIONS,
};

// ------------------------------------------------------------------------------------------------
// nodes: GET /v1/nodes, with replicas and primaries per node counted from GET /v1/groups

// "4s ago", "12m ago", ... from the node's last heartbeat (heartbeat_ms, the controller's clock
// when it arrived), or "never".
static void heartbeat_cell(const cJSON *node, char *cell, uint32_t size) {
    int64_t heartbeat_ms = 0;
    if (cJSON_IsNull(tigerctl_json_member(node, "heartbeat_ms"))) {
        tigerctl_cell_printf(cell, size, "never");
        return;
    }
    if (!tigerctl_json_integer(node, "heartbeat_ms", &heartbeat_ms) || heartbeat_ms < 0) {
        tigerctl_cell_printf(cell, size, "?");
        return;
    }
    const uint64_t now_ms = tigerctl_time_now_ms();
    char age[24];
    tigerctl_age_text(now_ms > (uint64_t)heartbeat_ms ? now_ms - (uint64_t)heartbeat_ms : 0, age,
                      sizeof(age));
    tigerctl_cell_printf(cell, size, "%s ago", age);
}

static const struct tigerctl_column node_columns[] = {
    {"NODE", "id", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"STATE", "state", TIGERCTL_CELL_TEXT, NULL, 0},
    {"LIVE", "live", TIGERCTL_CELL_BOOL, NULL, 0},
    {"HEARTBEAT", NULL, TIGERCTL_CELL_CUSTOM, heartbeat_cell, 0},
    {"ZONE", "zone", TIGERCTL_CELL_TEXT, NULL, 0},
    {"REPLICAS", "replicas", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"PRIMARIES", "primaries", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"PEER", "address_peer", TIGERCTL_CELL_TEXT, NULL, 0},
    {"CLIENT", "address_client", TIGERCTL_CELL_TEXT, NULL, 0},
    {"ADMIN", "address_admin", TIGERCTL_CELL_TEXT, NULL, 0},
};

// Adds "replicas" and "primaries" to every node of nodes, counted over the groups' members and
// primaries.
static int nodes_count(const struct tigerctl_context *context, cJSON *nodes,
                       const cJSON *groups) {
    if (!cJSON_IsArray(nodes) || !cJSON_IsArray(groups)) {
        return tigerctl_unexpected(context, "nodes and groups must be arrays");
    }
    static uint32_t replicas[TIGERCTL_NODE_ID_MAX + 1];
    static uint32_t primaries[TIGERCTL_NODE_ID_MAX + 1];
    memset(replicas, 0, sizeof(replicas));
    memset(primaries, 0, sizeof(primaries));
    const cJSON *group = NULL;
    cJSON_ArrayForEach(group, groups) {
        int64_t node = 0;
        if (tigerctl_json_integer(group, "primary", &node) && node >= 1 &&
            node <= TIGERCTL_NODE_ID_MAX) {
            primaries[node]++;
        }
        const cJSON *member = NULL;
        cJSON_ArrayForEach(member, tigerctl_json_member(group, "members")) {
            const double id = cJSON_IsNumber(member) ? member->valuedouble : 0;
            if (id >= 1 && id <= TIGERCTL_NODE_ID_MAX) replicas[(uint32_t)id]++;
        }
    }
    cJSON *node = NULL;
    cJSON_ArrayForEach(node, nodes) {
        int64_t id = 0;
        if (!cJSON_IsObject(node) || !tigerctl_json_integer(node, "id", &id) || id < 1 ||
            id > TIGERCTL_NODE_ID_MAX) {
            continue; // printed with "?" cells
        }
        tc_assert(cJSON_AddNumberToObject(node, "replicas", replicas[id]) != NULL);
        tc_assert(cJSON_AddNumberToObject(node, "primaries", primaries[id]) != NULL);
    }
    return TIGERCTL_EXIT_OK;
}

static int nodes_print(const struct tigerctl_context *context, const cJSON *json) {
    if (!cJSON_IsArray(json)) return tigerctl_unexpected(context, "nodes is not an array");
    if (cJSON_GetArraySize(json) == 0) {
        (void)fprintf(context->out, "no nodes (add one with tigerctl nodes add)\n");
        return TIGERCTL_EXIT_OK;
    }
    (void)tigerctl_table_print(context->out, node_columns, TC_ARRAY_COUNT(node_columns), json);
    return TIGERCTL_EXIT_OK;
}

static int nodes_run(const struct tigerctl_context *context, const struct tigerctl_args *args) {
    (void)args;
    if (context->json) return tigerctl_show(context, "/v1/nodes", NULL, 0, nodes_print);
    struct tigerctl_reply nodes;
    struct tigerctl_reply groups;
    memset(&groups, 0, sizeof(groups));
    int code = tigerctl_api_get(context, "/v1/nodes", NULL, 0, &nodes);
    if (code == TIGERCTL_EXIT_OK) code = tigerctl_api_get(context, "/v1/groups", NULL, 0, &groups);
    if (code == TIGERCTL_EXIT_OK) code = nodes_count(context, nodes.json, groups.json);
    if (code == TIGERCTL_EXIT_OK) code = nodes_print(context, nodes.json);
    tigerctl_reply_free(&nodes);
    tigerctl_reply_free(&groups);
    return code;
}

const struct tigerctl_command tigerctl_command_nodes = {
    .name = "nodes",
    .summary = "list nodes: state, liveness, zone, replicas, primaries, addresses",
    .description =
        "Lists the nodes (GET /v1/nodes): state (active, cordoned, draining, drained,\n"
        "down), whether it is live (a heartbeat within the liveness window) and when its\n"
        "last heartbeat came, zone, how many replicas and primaries it hosts (counted\n"
        "from GET /v1/groups), and its peer, client and admin addresses. --json prints\n"
        "the controller's nodes answer (with each node's last heartbeat status).",
    .transport = TIGERCTL_CONTROLLER,
    .options = plain_options,
    .option_count = TC_ARRAY_COUNT(plain_options),
    .run = nodes_run,
};

// ------------------------------------------------------------------------------------------------
// nodes add: node.add

// "host:port" with a non-empty host (a name, an IPv4 address or a [bracketed] IPv6 address) and a
// port in 1..65535. Returns 0 or -1.
static int address_check(const char *address) {
    const size_t size = strnlen(address, ADDRESS_SIZE_MAX + 1);
    const char *colon = strrchr(address, ':');
    if (size > ADDRESS_SIZE_MAX || colon == NULL || colon == address) return -1;
    uint64_t port = 0;
    if (tigerctl_parse_u64(colon + 1, 1, 65535, &port) != 0) return -1;
    const bool bracketed = address[0] == '[';
    if (bracketed && colon[-1] != ']') return -1;
    for (const char *p = address; p < colon; p++) {
        const char c = *p;
        const bool name = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
        const bool v6 = bracketed && (c == ':' || c == '[' || c == ']');
        if (!name && !v6) return -1;
    }
    return 0;
}

static int zone_check(const char *zone) {
    if (strnlen(zone, ZONE_SIZE_MAX + 1) > ZONE_SIZE_MAX) return -1;
    for (const char *p = zone; *p != '\0'; p++) {
        const char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_')) {
            return -1;
        }
    }
    return 0;
}

static const char *const address_options[] = {"peer", "client", "admin"};
static const char *const address_members[] = {"address_peer", "address_client", "address_admin"};

// Adds the three addresses to args after checking them; usage error on a bad one.
static int addresses_add(const struct tigerctl_context *context, const struct tigerctl_args *args,
                         cJSON *action_args) {
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(address_options); i++) {
        const char *address = tigerctl_args_value(args, address_options[i], 0);
        if (address == NULL) {
            return tigerctl_usage(context, "--%s H:P is required", address_options[i]);
        }
        if (address_check(address) != 0) {
            return tigerctl_usage(context, "--%s must be host:port (port 1..65535, %u bytes max)",
                                  address_options[i], ADDRESS_SIZE_MAX);
        }
        tc_assert(cJSON_AddStringToObject(action_args, address_members[i], address) != NULL);
    }
    return TIGERCTL_EXIT_OK;
}

static int nodes_add_run(const struct tigerctl_context *context, const struct tigerctl_args *args) {
    uint64_t node = 0;
    int code = tigerctl_option_u64(context, args, "id", true, 1, TIGERCTL_NODE_ID_MAX, 0, &node);
    if (code != TIGERCTL_EXIT_OK) return code;
    const char *key_file = tigerctl_args_value(args, "node-key", 0);
    if (key_file == NULL) return tigerctl_usage(context, "--node-key PUBFILE is required");
    char key[TC_AUDIT_KEY_HEX_SIZE + 1];
    code = tigerctl_public_key_file(context, "node-key", key_file, key);
    if (code != TIGERCTL_EXIT_OK) return code;
    const char *zone = tigerctl_args_value(args, "zone", 0);
    if (zone == NULL) zone = "";
    if (zone_check(zone) != 0) {
        return tigerctl_usage(context, "--zone must be at most %u of A-Z a-z 0-9 . - _",
                              ZONE_SIZE_MAX);
    }
    cJSON *action_args = cJSON_CreateObject();
    tc_assert(action_args != NULL);
    tc_assert(cJSON_AddNumberToObject(action_args, "node", (double)node) != NULL);
    tc_assert(cJSON_AddStringToObject(action_args, "public_key", key) != NULL);
    tc_assert(cJSON_AddStringToObject(action_args, "zone", zone) != NULL);
    code = addresses_add(context, args, action_args);
    if (code != TIGERCTL_EXIT_OK) {
        cJSON_Delete(action_args);
        return code;
    }
    char done[64];
    (void)snprintf(done, sizeof(done), "node %llu added", (unsigned long long)node);
    return tigerctl_act(context, "node.add", action_args, done);
}

static const struct tigerctl_option nodes_add_options[] = {
    TIGERCTL_COMMON_OPTIONS,
    TIGERCTL_CONTROLLER_OPTIONS,
    {"id", "N", 1, "the node's id (1..255), as in its config"},
    {"node-key", "PUBFILE", 1, "the node's public key file (its identity key .pub)"},
    {"zone", "Z", 1, "failure zone (placement puts a group's replicas in distinct zones)"},
    {"peer", "H:P", 1, "address other nodes reach it at (replication)"},
    {"client", "H:P", 1, "address clients connect to"},
    {"admin", "H:P", 1, "admin/metrics address"},
};

const struct tigerctl_command tigerctl_command_nodes_add = {
    .name = "nodes add",
    .summary = "add a node to the cluster (admin)",
    .description =
        "Adds node N with its identity key, zone and addresses (signed action node.add,\n"
        "role admin). The node is active at once and a candidate for placement; it must\n"
        "register and heartbeat with the same key. --zone may be omitted (no zone).",
    .transport = TIGERCTL_CONTROLLER,
    .options = nodes_add_options,
    .option_count = TC_ARRAY_COUNT(nodes_add_options),
    .run = nodes_add_run,
};

// ------------------------------------------------------------------------------------------------
// cordon NODE, uncordon NODE: node.cordon, node.uncordon

static int node_action(const struct tigerctl_context *context, const struct tigerctl_args *args,
                       const char *action, const char *done_verb) {
    uint64_t node = 0;
    const int code = tigerctl_positional_u64(context, args, 1, TIGERCTL_NODE_ID_MAX, &node);
    if (code != TIGERCTL_EXIT_OK) return code;
    cJSON *action_args = cJSON_CreateObject();
    tc_assert(action_args != NULL);
    tc_assert(cJSON_AddNumberToObject(action_args, "node", (double)node) != NULL);
    char done[64];
    (void)snprintf(done, sizeof(done), "node %llu %s", (unsigned long long)node, done_verb);
    return tigerctl_act(context, action, action_args, done);
}

static int cordon_run(const struct tigerctl_context *context, const struct tigerctl_args *args) {
    return node_action(context, args, "node.cordon", "cordoned");
}

static int uncordon_run(const struct tigerctl_context *context, const struct tigerctl_args *args) {
    return node_action(context, args, "node.uncordon", "uncordoned");
}

const struct tigerctl_command tigerctl_command_cordon = {
    .name = "cordon",
    .summary = "stop placing new replicas on a node (operator)",
    .description =
        "Cordons node NODE (signed action node.cordon, role operator): placement no\n"
        "longer picks it for new groups or replacements; what it hosts stays. Cordoning a\n"
        "cordoned node is ok and changes nothing. Undo with tigerctl uncordon NODE.",
    .transport = TIGERCTL_CONTROLLER,
    .positional = "NODE",
    .options = plain_options,
    .option_count = TC_ARRAY_COUNT(plain_options),
    .run = cordon_run,
};

const struct tigerctl_command tigerctl_command_uncordon = {
    .name = "uncordon",
    .summary = "make a cordoned node a placement candidate again (operator)",
    .description =
        "Uncordons node NODE (signed action node.uncordon, role operator): it is active\n"
        "again and a candidate for placement.",
    .transport = TIGERCTL_CONTROLLER,
    .positional = "NODE",
    .options = plain_options,
    .option_count = TC_ARRAY_COUNT(plain_options),
    .run = uncordon_run,
};
