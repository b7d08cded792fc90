// The model as the nodes see it (ctl_server.h: ctl_model_refresh): the chained tables, with each
// group's primary taken from the heartbeats. Leadership moves without the controller (failover,
// a transfer), so the chained primary is only the last one a job or placement decided; plans and
// step checks must start from who leads now.
#include <cjson/cJSON.h>
#include <string.h>

#include "ctl_server.h"
#include "ctl_store.h"
#include "tc_assert.h"
#include "tc_err.h"

static char nodes_json[CTL_RESPONSE_SIZE_MAX]; // one thread


static bool is_member(const struct ctl_group *group, double node) {
    for (uint32_t i = 0; i < CTL_REPLICAS; i++) {
        if (group->members[i] == node) return true;
    }
    return false;
}

// Every live node's groups it leads in a normal view; the highest view wins a disagreement
// (a deposed primary may not know yet).
static void primaries_overlay(struct ctl_model *model, const cJSON *nodes) {
    static double view_best[CTL_GROUPS_MAX];
    for (uint32_t i = 0; i < model->group_count; i++) view_best[i] = -1;
    const cJSON *entry = NULL;
    cJSON_ArrayForEach(entry, nodes) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(entry, "id");
        if (!cJSON_IsNumber(id) || !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(entry, "live"))) {
            continue;
        }
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(entry, "status");
        const cJSON *item = NULL;
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(status, "groups")) {
            const cJSON *gid = cJSON_GetObjectItemCaseSensitive(item, "id");
            const cJSON *view = cJSON_GetObjectItemCaseSensitive(item, "view");
            const cJSON *state = cJSON_GetObjectItemCaseSensitive(item, "state");
            if (!cJSON_IsNumber(gid) || !cJSON_IsNumber(view) || !cJSON_IsString(state) ||
                strcmp(state->valuestring, "normal") != 0 ||
                !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "primary"))) {
                continue;
            }
            const int32_t found = ctl_model_group_find(model, (uint64_t)gid->valuedouble);
            if (found < 0 || !is_member(&model->groups[found], id->valuedouble)) continue;
            const uint32_t index = (uint32_t)found;
            struct ctl_group *group = &model->groups[index];
            if (view->valuedouble <= view_best[index]) continue;
            view_best[index] = view->valuedouble;
            group->primary_node = (uint16_t)id->valuedouble;
        }
    }
}

int ctl_model_refresh(struct ctl_server *server) {
    int rc = ctl_store_model_load(server->store, server->model, ctl_wall_ms(),
                                  server->options.liveness_ms);
    size_t size = 0;
    if (rc == 0) {
        rc = ctl_store_nodes_json(server->store, ctl_wall_ms(), server->options.liveness_ms,
                                  nodes_json, sizeof(nodes_json), &size);
    }
    if (rc != 0) return rc;
    cJSON_Delete(server->heartbeats);
    server->heartbeats = cJSON_Parse(nodes_json);
    tc_assert(server->heartbeats != NULL);
    primaries_overlay(server->model, server->heartbeats);
    return 0;
}
