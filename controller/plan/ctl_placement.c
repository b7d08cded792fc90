#include "ctl_placement.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tc_assert.h"
#include "tc_err.h"

_Static_assert(CTL_REPLICAS == 3, "placement and C3 are written for 3 replicas");
_Static_assert(CTL_NODES_MAX <= UINT16_MAX, "node ids are uint16_t");
_Static_assert(CTL_PLACEMENT_REASON_SIZE >= 64, "reasons need room for a sentence");

// ------------------------------------------------------------------------------------------------
// Text.

void ctl_placement_text_init(struct ctl_placement_text *text, char *buffer, uint32_t size) {
    tc_assert(text != NULL);
    tc_assert(buffer != NULL);
    tc_assert(size >= 4);
    text->buffer = buffer;
    text->size = size;
    text->length = 0;
    text->truncated = false;
    buffer[0] = '\0';
}

void ctl_placement_text_append(struct ctl_placement_text *text, const char *format, ...) {
    tc_assert(text->size >= 4);
    tc_assert(text->length < text->size);
    if (text->truncated) return;
    uint32_t free_size = text->size - text->length;
    va_list arguments;
    va_start(arguments, format);
    int written = vsnprintf(text->buffer + text->length, free_size, format, arguments);
    va_end(arguments);
    tc_assert(written >= 0);
    if ((uint32_t)written < free_size) {
        text->length += (uint32_t)written;
    } else {
        text->truncated = true;
        text->length = text->size - 1;
        memcpy(text->buffer + text->size - 4, "...", 4);
    }
    tc_assert(text->buffer[text->length] == '\0');
}

// ------------------------------------------------------------------------------------------------
// Model access.


bool ctl_placement_node_live(const struct ctl_model *model, uint16_t node_id) {
    const struct ctl_node *node = ctl_model_node_find(model, node_id);
    tc_assert(node != NULL);
    tc_assert(node->id == node_id);
    return node->live && node->state != CTL_NODE_DOWN;
}

const char *ctl_placement_state_name(enum ctl_node_state state) {
    switch (state) {
    case CTL_NODE_ACTIVE: return "active";
    case CTL_NODE_CORDONED: return "cordoned";
    case CTL_NODE_DRAINING: return "draining";
    case CTL_NODE_DRAINED: return "drained";
    case CTL_NODE_DOWN: return "down";
    }
    tc_unreachable();
}

static void model_assert_group(const struct ctl_model *model, const struct ctl_group *group) {
    tc_assert(group->id >= 1 && group->id <= 65535);
    for (uint32_t slot = 0; slot < CTL_REPLICAS; slot++) {
        tc_assert(group->members[slot] != 0);
        tc_assert(ctl_model_node_find(model, group->members[slot]) != NULL);
        for (uint32_t other = slot + 1; other < CTL_REPLICAS; other++) {
            tc_assert(group->members[slot] != group->members[other]);
        }
    }
    if (group->primary_node != 0) {
        tc_assert(group->primary_node == group->members[0] ||
                  group->primary_node == group->members[1] ||
                  group->primary_node == group->members[2]);
    }
    tc_assert(group->change.kind == CTL_CHANGE_NONE ||
              group->change.kind == CTL_CHANGE_MOVE_PRIMARY ||
              group->change.kind == CTL_CHANGE_REPLACE);
}

void ctl_placement_model_assert(const struct ctl_model *model) {
    tc_assert(model != NULL);
    tc_assert(model->node_count <= CTL_NODES_MAX);
    tc_assert(model->group_count <= CTL_GROUPS_MAX);
    for (uint32_t index = 0; index < model->node_count; index++) {
        const struct ctl_node *node = &model->nodes[index];
        tc_assert(node->id >= 1 && node->id <= CTL_NODES_MAX);
        tc_assert(index == 0 || model->nodes[index - 1].id < node->id);
        tc_assert(memchr(node->zone, '\0', CTL_ZONE_SIZE_MAX) != NULL);
        tc_assert(node->state <= CTL_NODE_DOWN);
    }
    for (uint32_t index = 0; index < model->group_count; index++) {
        tc_assert(index == 0 || model->groups[index - 1].id < model->groups[index].id);
        model_assert_group(model, &model->groups[index]);
    }
}

// ------------------------------------------------------------------------------------------------
// Loads and judging.

void ctl_placement_loads_from_model(const struct ctl_model *model,
                                    struct ctl_placement_loads *loads_out) {
    tc_assert(model != NULL);
    tc_assert(loads_out != NULL);
    memset(loads_out, 0, sizeof(*loads_out));
    for (uint32_t index = 0; index < model->group_count; index++) {
        const struct ctl_group *group = &model->groups[index];
        for (uint32_t slot = 0; slot < CTL_REPLICAS; slot++) {
            tc_assert(group->members[slot] <= CTL_NODES_MAX);
            loads_out->replicas[group->members[slot]] += 1;
        }
        tc_assert(group->primary_node <= CTL_NODES_MAX);
        if (group->primary_node != 0) loads_out->primaries[group->primary_node] += 1;
    }
    tc_assert(loads_out->replicas[0] == 0);
}

bool ctl_placement_less_loaded(const struct ctl_placement_loads *loads, uint16_t a, uint16_t b) {
    tc_assert(a >= 1 && a <= CTL_NODES_MAX);
    tc_assert(b >= 1 && b <= CTL_NODES_MAX);
    if (loads->replicas[a] != loads->replicas[b]) return loads->replicas[a] < loads->replicas[b];
    if (loads->primaries[a] != loads->primaries[b]) {
        return loads->primaries[a] < loads->primaries[b];
    }
    return a < b;
}

static bool group_has(const struct ctl_placement_group *group, uint16_t node_id) {
    tc_assert(node_id != 0);
    for (uint32_t slot = 0; slot < CTL_REPLICAS; slot++) {
        if (group->members[slot] == node_id) return true;
    }
    return false;
}

// The zones of the members that stay (empty slots and the leaving member skipped).
struct staying {
    uint32_t count;
    uint32_t zoned_count;
    const char *zones[CTL_REPLICAS];
};

static void staying_zones(const struct ctl_model *model, const struct ctl_placement_group *group,
                          struct staying *staying) {
    memset(staying, 0, sizeof(*staying));
    for (uint32_t slot = 0; slot < CTL_REPLICAS; slot++) {
        uint16_t member = group->members[slot];
        if (member == 0 || member == group->leaving_node) continue;
        const struct ctl_node *node = ctl_model_node_find(model, member);
        tc_assert(node != NULL);
        staying->zones[staying->count] = node->zone;
        staying->count += 1;
        if (node->zone[0] != '\0') staying->zoned_count += 1;
    }
    tc_assert(staying->count <= CTL_REPLICAS);
    tc_assert(staying->zoned_count <= staying->count);
}

static bool node_is_candidate(const struct ctl_placement_group *group,
                              const struct ctl_node *node) {
    if (node->state != CTL_NODE_ACTIVE || !node->live) return false;
    if (node->id == group->leaving_node) return false;
    return !group_has(group, node->id);
}

bool ctl_placement_zones_enforced(const struct ctl_model *model,
                                  const struct ctl_placement_group *group) {
    tc_assert(model != NULL);
    tc_assert(group != NULL);
    struct staying staying;
    staying_zones(model, group, &staying);
    if (staying.zoned_count != staying.count) return false;
    for (uint32_t index = 0; index < model->node_count; index++) {
        const struct ctl_node *node = &model->nodes[index];
        if (node_is_candidate(group, node) && node->zone[0] == '\0') return false;
    }
    return true;
}

static enum ctl_placement_verdict judge_zone(const struct staying *staying, const char *zone,
                                             bool zones_enforced) {
    if (zone[0] == '\0') return CTL_PLACEMENT_OK;
    bool used = false;
    for (uint32_t index = 0; index < staying->count; index++) {
        if (strcmp(staying->zones[index], zone) == 0) used = true;
    }
    // The C3 exception: two zoned members stay, so a zoned newcomer completes a fully zoned group.
    bool completes_zoned = staying->count == 2 && staying->zoned_count == 2;
    if (used && (zones_enforced || completes_zoned)) return CTL_PLACEMENT_ZONE_USED;
    if (completes_zoned && strcmp(staying->zones[0], staying->zones[1]) == 0) {
        return CTL_PLACEMENT_ZONE_PAIR;
    }
    return CTL_PLACEMENT_OK;
}

enum ctl_placement_verdict ctl_placement_judge(const struct ctl_model *model,
                                               const struct ctl_placement_group *group,
                                               bool zones_enforced, uint16_t node_id) {
    tc_assert(group != NULL);
    tc_assert(node_id >= 1 && node_id <= CTL_NODES_MAX);
    const struct ctl_node *node = ctl_model_node_find(model, node_id);
    tc_assert(node != NULL);
    if (node_id == group->leaving_node) return CTL_PLACEMENT_LEAVING;
    if (group_has(group, node_id)) return CTL_PLACEMENT_MEMBER;
    if (node->state != CTL_NODE_ACTIVE) return CTL_PLACEMENT_STATE;
    if (!node->live) return CTL_PLACEMENT_NOT_LIVE;
    struct staying staying;
    staying_zones(model, group, &staying);
    return judge_zone(&staying, node->zone, zones_enforced);
}

void ctl_placement_explain(const struct ctl_model *model, const struct ctl_placement_group *group,
                           uint16_t node_id, enum ctl_placement_verdict verdict,
                           struct ctl_placement_text *text) {
    const struct ctl_node *node = ctl_model_node_find(model, node_id);
    tc_assert(node != NULL);
    tc_assert(verdict != CTL_PLACEMENT_OK);
    struct staying staying;
    switch (verdict) {
    case CTL_PLACEMENT_MEMBER:
        ctl_placement_text_append(text, "node %u: already a member", node_id);
        return;
    case CTL_PLACEMENT_LEAVING:
        ctl_placement_text_append(text, "node %u: being replaced", node_id);
        return;
    case CTL_PLACEMENT_STATE:
        ctl_placement_text_append(text, "node %u: %s", node_id,
                                  ctl_placement_state_name(node->state));
        return;
    case CTL_PLACEMENT_NOT_LIVE:
        ctl_placement_text_append(text, "node %u: not live", node_id);
        return;
    case CTL_PLACEMENT_ZONE_USED:
        ctl_placement_text_append(text, "node %u: zone %s already used", node_id, node->zone);
        return;
    case CTL_PLACEMENT_ZONE_PAIR:
        staying_zones(model, group, &staying);
        tc_assert(staying.count == 2);
        ctl_placement_text_append(text, "node %u: zone %s, but the other members share zone %s",
                                  node_id, node->zone, staying.zones[0]);
        return;
    case CTL_PLACEMENT_OK: break;
    }
    tc_unreachable();
}

// ------------------------------------------------------------------------------------------------
// Picking.

static void explain_excluded(const struct ctl_model *model, const struct ctl_placement_group *group,
                             bool zones_enforced, struct ctl_placement_text *text) {
    uint32_t listed = 0;
    for (uint32_t index = 0; index < model->node_count; index++) {
        uint16_t node_id = model->nodes[index].id;
        enum ctl_placement_verdict verdict =
            ctl_placement_judge(model, group, zones_enforced, node_id);
        if (verdict == CTL_PLACEMENT_MEMBER || verdict == CTL_PLACEMENT_LEAVING) continue;
        tc_assert(verdict != CTL_PLACEMENT_OK);
        if (listed > 0) ctl_placement_text_append(text, "; ");
        ctl_placement_explain(model, group, node_id, verdict, text);
        listed += 1;
    }
    if (listed == 0) ctl_placement_text_append(text, "no node outside the group");
}

int ctl_placement_pick(const struct ctl_model *model, const struct ctl_placement_loads *loads,
                       const struct ctl_placement_group *group, uint16_t *target_out,
                       char *reason, uint32_t reason_size) {
    tc_assert(loads != NULL);
    tc_assert(target_out != NULL);
    struct ctl_placement_text text;
    ctl_placement_text_init(&text, reason, reason_size);
    bool zones_enforced = ctl_placement_zones_enforced(model, group);
    uint16_t best = 0;
    for (uint32_t index = 0; index < model->node_count; index++) {
        uint16_t node_id = model->nodes[index].id;
        if (ctl_placement_judge(model, group, zones_enforced, node_id) != CTL_PLACEMENT_OK) {
            continue;
        }
        if (best == 0 || ctl_placement_less_loaded(loads, node_id, best)) best = node_id;
    }
    *target_out = best;
    if (best == 0) {
        explain_excluded(model, group, zones_enforced, &text);
        return TC_ENOENT;
    }
    tc_assert(!group_has(group, best));
    tc_assert(best != group->leaving_node);
    return 0;
}

int ctl_placement_new_group(const struct ctl_model *model, uint16_t members_out[CTL_REPLICAS],
                            char *reason, uint32_t reason_size) {
    ctl_placement_model_assert(model);
    tc_assert(members_out != NULL);
    tc_assert(reason != NULL && reason_size >= 4);
    struct ctl_placement_loads loads;
    ctl_placement_loads_from_model(model, &loads);
    struct ctl_placement_group group;
    memset(&group, 0, sizeof(group));
    char list[CTL_PLACEMENT_REASON_SIZE];
    for (uint32_t slot = 0; slot < CTL_REPLICAS; slot++) {
        uint16_t target = 0;
        int result = ctl_placement_pick(model, &loads, &group, &target, list, sizeof(list));
        if (result != 0) {
            tc_assert(result == TC_ENOENT);
            memset(members_out, 0, CTL_REPLICAS * sizeof(members_out[0]));
            struct ctl_placement_text text;
            ctl_placement_text_init(&text, reason, reason_size);
            ctl_placement_text_append(&text, "a new group needs 3 nodes, only %u eligible: %s",
                                      slot, list);
            return TC_ENOENT;
        }
        group.members[slot] = target;
        loads.replicas[target] += 1;
        if (slot == 0) loads.primaries[target] += 1;
    }
    memcpy(members_out, group.members, sizeof(group.members));
    tc_assert(members_out[0] != members_out[1]);
    tc_assert(members_out[1] != members_out[2] && members_out[0] != members_out[2]);
    reason[0] = '\0';
    return 0;
}

int ctl_placement_replacement(const struct ctl_model *model, uint32_t group_index,
                              uint16_t excluded_node, uint16_t *target_out, char *reason,
                              uint32_t reason_size) {
    ctl_placement_model_assert(model);
    tc_assert(group_index < model->group_count);
    tc_assert(target_out != NULL);
    const struct ctl_group *model_group = &model->groups[group_index];
    struct ctl_placement_group group;
    memcpy(group.members, model_group->members, sizeof(group.members));
    group.leaving_node = excluded_node;
    *target_out = 0;
    struct ctl_placement_text text;
    ctl_placement_text_init(&text, reason, reason_size);
    if (excluded_node == 0 || !group_has(&group, excluded_node)) {
        ctl_placement_text_append(&text, "node %u is not a member of group %u", excluded_node,
                                  model_group->id);
        return TC_EINVAL;
    }
    struct ctl_placement_loads loads;
    ctl_placement_loads_from_model(model, &loads);
    char list[CTL_PLACEMENT_REASON_SIZE];
    int result = ctl_placement_pick(model, &loads, &group, target_out, list, sizeof(list));
    if (result != 0) {
        ctl_placement_text_append(&text, "no node can take node %u's replica of group %u: %s",
                                  excluded_node, model_group->id, list);
        return result;
    }
    return 0;
}
