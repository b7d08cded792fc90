// tigerctl status, groups, groups create, rooms: the cluster as a whole (docs/controller.md §4-§5).
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cmd.h"
#include "table.h"
#include "tc_assert.h"

// ------------------------------------------------------------------------------------------------
// status: GET /v1/status

// "seq 25, head 8f34..." and, when the controller can no longer write it, a warning.
static void audit_cell(const cJSON *status, char *cell, uint32_t size) {
    int64_t seq = 0;
    const char *head = tigerctl_json_string(status, "audit.head");
    const cJSON *writable = tigerctl_json_member(status, "audit.writable");
    if (!tigerctl_json_integer(status, "audit.seq", &seq) || head == NULL) {
        tigerctl_cell_printf(cell, size, "?");
        return;
    }
    char shown[72];
    tigerctl_sanitize(shown, sizeof(shown), head);
    tigerctl_cell_printf(cell, size, "seq %lld, head %s%s", (long long)seq, shown,
                         cJSON_IsFalse(writable) ? " (NOT WRITABLE: actions are refused)" : "");
}

static const struct tigerctl_column status_fields[] = {
    {"cluster", "cluster", TIGERCTL_CELL_TEXT, NULL, 0},
    {"controller key", "controller_key", TIGERCTL_CELL_TEXT, NULL, 0},
    {"audit", NULL, TIGERCTL_CELL_CUSTOM, audit_cell, 0},
    {"topology version", "topology_version", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"nodes", "nodes", TIGERCTL_CELL_COUNTS, NULL, 0},
    {"groups", "groups", TIGERCTL_CELL_COUNTS, NULL, 0},
    {"running jobs", "jobs_running", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"operator keys", "keys_active", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"rejected requests", "rejected_requests", TIGERCTL_CELL_INTEGER, NULL, 0},
};

static int status_print(const struct tigerctl_context *context, const cJSON *json) {
    if (!cJSON_IsObject(json)) return tigerctl_unexpected(context, "status is not an object");
    tigerctl_fields_print(context->out, status_fields, TC_ARRAY_COUNT(status_fields), json);
    return TIGERCTL_EXIT_OK;
}

static int status_run(const struct tigerctl_context *context, const struct tigerctl_args *args) {
    (void)args;
    return tigerctl_show(context, "/v1/status", NULL, 0, status_print);
}

static const struct tigerctl_option plain_options[] = {
    TIGERCTL_COMMON_OPTIONS,
    TIGERCTL_CONTROLLER_OPTIONS,
};

const struct tigerctl_command tigerctl_command_status = {
    .name = "status",
    .summary = "the cluster at a glance: audit head, topology, nodes, groups, jobs",
    .description =
        "Shows the cluster's name, the controller's key, the audit chain's head (seq and\n"
        "hash), the topology version, nodes by state (and how many are live), groups by\n"
        "health (healthy, degraded, no_quorum), running jobs, active operator keys and\n"
        "requests rejected before the chain (GET /v1/status).",
    .transport = TIGERCTL_CONTROLLER,
    .options = plain_options,
    .option_count = TC_ARRAY_COUNT(plain_options),
    .run = status_run,
};

// ------------------------------------------------------------------------------------------------
// groups: GET /v1/groups

// "replace 3->4 (job 2, step 1)" for a group's declared change, "-" for none.
static void change_cell(const cJSON *group, char *cell, uint32_t size) {
    const cJSON *change = cJSON_GetObjectItemCaseSensitive(group, "change");
    if (change == NULL || cJSON_IsNull(change)) {
        tigerctl_cell_printf(cell, size, "-");
        return;
    }
    const char *kind = tigerctl_json_string(change, "kind");
    int64_t from = 0, to = 0, job = 0, step = 0;
    if (kind == NULL || !tigerctl_json_integer(change, "from", &from) ||
        !tigerctl_json_integer(change, "to", &to) || !tigerctl_json_integer(change, "job", &job) ||
        !tigerctl_json_integer(change, "step", &step)) {
        tigerctl_cell_printf(cell, size, "?");
        return;
    }
    char shown[32];
    tigerctl_sanitize(shown, sizeof(shown), kind);
    tigerctl_cell_printf(cell, size, "%s %lld->%lld (job %lld, step %lld)", shown, (long long)from,
                         (long long)to, (long long)job, (long long)step);
}

static const struct tigerctl_column group_columns[] = {
    {"GROUP", "id", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"EPOCH", "epoch", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"PRIMARY", "primary", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"MEMBERS", "members", TIGERCTL_CELL_LIST, NULL, 0},
    {"LIVE", "live_members", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"HEALTH", "health", TIGERCTL_CELL_TEXT, NULL, 0},
    {"SLOTS", "slots", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"CHANGE", NULL, TIGERCTL_CELL_CUSTOM, change_cell, 0},
};

static int groups_print(const struct tigerctl_context *context, const cJSON *json) {
    if (!cJSON_IsArray(json)) return tigerctl_unexpected(context, "groups is not an array");
    if (cJSON_GetArraySize(json) == 0) {
        (void)fprintf(context->out, "no groups (create one with tigerctl groups create)\n");
        return TIGERCTL_EXIT_OK;
    }
    (void)tigerctl_table_print(context->out, group_columns, TC_ARRAY_COUNT(group_columns), json);
    return TIGERCTL_EXIT_OK;
}

static int groups_run(const struct tigerctl_context *context, const struct tigerctl_args *args) {
    (void)args;
    return tigerctl_show(context, "/v1/groups", NULL, 0, groups_print);
}

const struct tigerctl_command tigerctl_command_groups = {
    .name = "groups",
    .summary = "list replica groups: epoch, primary, members, health, slots, change",
    .description =
        "Lists the replica groups (GET /v1/groups): epoch, primary node, the 3 member\n"
        "nodes and how many of them are live, health (healthy, degraded, no_quorum), how\n"
        "many hash slots route to it, and the change a job has declared for it, if any.",
    .transport = TIGERCTL_CONTROLLER,
    .options = plain_options,
    .option_count = TC_ARRAY_COUNT(plain_options),
    .run = groups_run,
};

// ------------------------------------------------------------------------------------------------
// groups create --id G: group.create

static const struct tigerctl_option groups_create_options[] = {
    TIGERCTL_COMMON_OPTIONS,
    TIGERCTL_CONTROLLER_OPTIONS,
    {"id", "G", 1, "the new group's id (1..65535)"},
    {"members", "A,B,C", 1, "register a group the nodes already run (their configs list it)"},
    {"slots", "F-L[,F-L...]", 1, "hash slots (0..4095) routed to it; each must be unassigned"},
};

// "F-L[,F-L...]" (or "S" for one slot) into [[F,L,group],...]; false when malformed.
static bool slots_parse(const char *text, uint64_t group, cJSON *array) {
    const char *cursor = text;
    for (uint32_t count = 0; count < 4096; count++) {
        char *end = NULL;
        const unsigned long first = strtoul(cursor, &end, 10);
        if (end == cursor || first > 4095) return false;
        unsigned long last = first;
        if (*end == '-') {
            cursor = end + 1;
            last = strtoul(cursor, &end, 10);
            if (end == cursor || last > 4095 || last < first) return false;
        }
        cJSON *range = cJSON_CreateArray();
        tc_assert(range != NULL);
        bool added = cJSON_AddItemToArray(array, range);
        added = added && cJSON_AddItemToArray(range, cJSON_CreateNumber((double)first));
        added = added && cJSON_AddItemToArray(range, cJSON_CreateNumber((double)last));
        added = added && cJSON_AddItemToArray(range, cJSON_CreateNumber((double)group));
        tc_assert(added);
        if (*end == '\0') return true;
        if (*end != ',') return false;
        cursor = end + 1;
    }
    return false;
}

// "A,B,C": three node ids 1..255 into a JSON array; false when malformed.
static bool members_parse(const char *text, cJSON *array) {
    const char *cursor = text;
    for (uint32_t i = 0; i < 3; i++) {
        char *end = NULL;
        const unsigned long id = strtoul(cursor, &end, 10);
        if (end == cursor || id < 1 || id > 255) return false;
        const bool added = cJSON_AddItemToArray(array, cJSON_CreateNumber((double)id));
        tc_assert(added);
        if (i < 2 && *end != ',') return false;
        if (i == 2 && *end != '\0') return false;
        cursor = end + 1;
    }
    return true;
}

static int groups_create_run(const struct tigerctl_context *context,
                             const struct tigerctl_args *args) {
    uint64_t group = 0;
    const int code =
        tigerctl_option_u64(context, args, "id", true, 1, TIGERCTL_GROUP_ID_MAX, 0, &group);
    if (code != TIGERCTL_EXIT_OK) return code;
    cJSON *action_args = cJSON_CreateObject();
    tc_assert(action_args != NULL);
    tc_assert(cJSON_AddNumberToObject(action_args, "group", (double)group) != NULL);
    const char *members = tigerctl_args_value(args, "members", 0);
    if (members != NULL) {
        cJSON *array = cJSON_AddArrayToObject(action_args, "members");
        tc_assert(array != NULL);
        if (!members_parse(members, array)) {
            cJSON_Delete(action_args);
            return tigerctl_fail(context, TIGERCTL_EXIT_USAGE,
                                 "--members: three node ids, e.g. 1,2,3 (see --help)");
        }
    }
    const char *slots = tigerctl_args_value(args, "slots", 0);
    if (slots != NULL) {
        cJSON *array = cJSON_AddArrayToObject(action_args, "slots");
        tc_assert(array != NULL);
        if (!slots_parse(slots, group, array)) {
            cJSON_Delete(action_args);
            return tigerctl_fail(context, TIGERCTL_EXIT_USAGE,
                                 "--slots: ranges of slots 0..4095, e.g. 0-1023,2048 (see --help)");
        }
    }
    char done[64];
    (void)snprintf(done, sizeof(done), "group %llu created", (unsigned long long)group);
    return tigerctl_act(context, "group.create", action_args, done);
}

const struct tigerctl_command tigerctl_command_groups_create = {
    .name = "groups create",
    .summary = "create a replica group on 3 nodes chosen by placement (admin)",
    .description =
        "Creates replica group G (signed action group.create, role admin). The controller\n"
        "places it on the 3 least loaded active nodes, in distinct zones when every node\n"
        "has one; refused (exit 1) with the excluded nodes named when fewer than 3\n"
        "candidates exist. The nodes it names start its replicas from the topology.\n"
        "With --members A,B,C it registers a group the nodes already run from their\n"
        "configuration (its epoch-0 members, in slot order) instead of placing one.\n"
        "--slots routes hash slots to it (rooms hash to one of 4096 slots); only\n"
        "unassigned slots: a routed slot never moves, since its rooms live in its group.\n"
        "Example: tigerctl groups create --id 1 --slots 0-2047",
    .transport = TIGERCTL_CONTROLLER,
    .options = groups_create_options,
    .option_count = TC_ARRAY_COUNT(groups_create_options),
    .run = groups_create_run,
};

// ------------------------------------------------------------------------------------------------
// rooms [--room ID]: the slot map of the signed topology (GET /v1/topology), or one room
// (GET /v1/rooms?room=ID)

// A slot range of the topology body: [first, last, group].
static bool range_item(const cJSON *range, int index, int64_t *value) {
    if (!cJSON_IsArray(range) || cJSON_GetArraySize(range) != 3) return false;
    const cJSON *item = cJSON_GetArrayItem(range, index);
    if (!cJSON_IsNumber(item) || item->valuedouble != (double)(int64_t)item->valuedouble) {
        return false;
    }
    *value = (int64_t)item->valuedouble;
    return true;
}

static void slots_cell(const cJSON *range, char *cell, uint32_t size) {
    int64_t first = 0, last = 0;
    if (!range_item(range, 0, &first) || !range_item(range, 1, &last)) {
        tigerctl_cell_printf(cell, size, "?");
        return;
    }
    tigerctl_cell_printf(cell, size, "%lld-%lld", (long long)first, (long long)last);
}

static void slots_group_cell(const cJSON *range, char *cell, uint32_t size) {
    int64_t group = 0;
    if (!range_item(range, 2, &group)) {
        tigerctl_cell_printf(cell, size, "?");
        return;
    }
    tigerctl_cell_printf(cell, size, "%lld", (long long)group);
}

static const struct tigerctl_column slot_columns[] = {
    {"SLOTS", NULL, TIGERCTL_CELL_CUSTOM, slots_cell, 0},
    {"GROUP", NULL, TIGERCTL_CELL_CUSTOM, slots_group_cell, 0},
};

static const struct tigerctl_column room_fields[] = {
    {"room", "room", TIGERCTL_CELL_TEXT, NULL, 0},
    {"slot", "slot", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"group", "group", TIGERCTL_CELL_INTEGER, NULL, 0},
};

static int slots_print(const struct tigerctl_context *context, const cJSON *json) {
    const cJSON *slots = tigerctl_json_member(json, "body.slots");
    int64_t version = 0;
    if (!cJSON_IsArray(slots) || !tigerctl_json_integer(json, "body.version", &version)) {
        return tigerctl_unexpected(context, "the topology needs body.slots and body.version");
    }
    (void)fprintf(context->out, "topology version %lld\n", (long long)version);
    if (cJSON_GetArraySize(slots) == 0) {
        (void)fprintf(context->out, "no slot is assigned yet (create a group first)\n");
        return TIGERCTL_EXIT_OK;
    }
    (void)tigerctl_table_print(context->out, slot_columns, TC_ARRAY_COUNT(slot_columns), slots);
    return TIGERCTL_EXIT_OK;
}

static int room_print(const struct tigerctl_context *context, const cJSON *json) {
    if (!cJSON_IsObject(json)) return tigerctl_unexpected(context, "the room is not an object");
    tigerctl_fields_print(context->out, room_fields, TC_ARRAY_COUNT(room_fields), json);
    return TIGERCTL_EXIT_OK;
}

static int rooms_run(const struct tigerctl_context *context, const struct tigerctl_args *args) {
    const char *room = tigerctl_args_value(args, "room", 0);
    if (room == NULL) return tigerctl_show(context, "/v1/topology", NULL, 0, slots_print);
    uint64_t id = 0;
    if (tigerctl_parse_u64(room, 1, UINT64_MAX, &id) != 0) {
        return tigerctl_usage(context, "--room must be a room id (decimal, 1..2^64-1)");
    }
    const struct tigerctl_query query[] = {{"room", room}};
    return tigerctl_show(context, "/v1/rooms", query, TC_ARRAY_COUNT(query), room_print);
}

static const struct tigerctl_option rooms_options[] = {
    TIGERCTL_COMMON_OPTIONS,
    TIGERCTL_CONTROLLER_OPTIONS,
    {"room", "ID", 1, "a room id (decimal, 1..2^64-1): show its hash slot and group"},
};

const struct tigerctl_command tigerctl_command_rooms = {
    .name = "rooms",
    .summary = "room routing: the slot map, or where one room lives (--room ID)",
    .description =
        "Without --room: the slot map of the current signed topology, ranges of hash\n"
        "slots and the group each routes to (GET /v1/topology; --json prints the signed\n"
        "topology). With --room ID: the room's hash slot and group (GET /v1/rooms?room=ID;\n"
        "see tigerctl groups for that group's members).",
    .transport = TIGERCTL_CONTROLLER,
    .options = rooms_options,
    .option_count = TC_ARRAY_COUNT(rooms_options),
    .run = rooms_run,
};
