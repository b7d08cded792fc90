#include "ctl_plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tc_assert.h"
#include "tc_err.h"

_Static_assert(CTL_PLAN_STEPS_MAX >= 2u * CTL_GROUPS_MAX, "a drain may touch every group twice");
_Static_assert(CTL_PLAN_MOVES_MAX <= CTL_PLAN_STEPS_MAX, "rebalance fits a plan");
_Static_assert(CTL_GROUPS_MAX <= UINT16_MAX, "group indices are kept as uint16_t");

// The cluster as the plan so far leaves it: members and primaries per group (by model index),
// which groups the plan touched, and the loads those imply.
struct plan_state {
    uint16_t members[CTL_GROUPS_MAX][CTL_REPLICAS];
    uint16_t primary[CTL_GROUPS_MAX];
    bool moved[CTL_GROUPS_MAX];
    struct ctl_placement_loads loads;
};

const char *ctl_plan_kind_name(enum ctl_change_kind kind) {
    switch (kind) {
    case CTL_CHANGE_MOVE_PRIMARY: return "move_primary";
    case CTL_CHANGE_REPLACE: return "replace";
    case CTL_CHANGE_NONE: break;
    }
    tc_unreachable();
}

// ------------------------------------------------------------------------------------------------
// Groups and steps.

static bool members_have(const uint16_t members[CTL_REPLICAS], uint16_t node_id) {
    tc_assert(node_id != 0);
    return members[0] == node_id || members[1] == node_id || members[2] == node_id;
}

// Live members (C4) other than except (0: count all).
static uint32_t live_members(const struct ctl_model *model, const uint16_t members[CTL_REPLICAS],
                             uint16_t except) {
    uint32_t count = 0;
    for (uint32_t slot = 0; slot < CTL_REPLICAS; slot++) {
        tc_assert(members[slot] != 0);
        if (members[slot] == except) continue;
        if (ctl_placement_node_live(model, members[slot])) count += 1;
    }
    tc_assert(count <= CTL_REPLICAS);
    return count;
}

// Applies a step to one group's members and primary. False (and nothing changed) when it does not
// apply. Shared by plan states and ctl_plan_apply_to_model, so both read steps the same way.
static bool group_apply(uint16_t members[CTL_REPLICAS], uint16_t *primary,
                        enum ctl_change_kind kind, uint16_t from, uint16_t to) {
    if (from == 0 || to == 0 || from == to) return false;
    if (kind == CTL_CHANGE_MOVE_PRIMARY) {
        if (*primary != from || !members_have(members, to)) return false;
        *primary = to;
        return true;
    }
    tc_assert(kind == CTL_CHANGE_REPLACE);
    if (!members_have(members, from) || members_have(members, to)) return false;
    for (uint32_t slot = 0; slot < CTL_REPLICAS; slot++) {
        if (members[slot] == from) members[slot] = to;
    }
    if (*primary == from) *primary = 0;
    tc_assert(members_have(members, to));
    tc_assert(!members_have(members, from));
    return true;
}

static void state_init(const struct ctl_model *model, struct plan_state *state) {
    tc_assert(model->group_count <= CTL_GROUPS_MAX);
    for (uint32_t index = 0; index < model->group_count; index++) {
        memcpy(state->members[index], model->groups[index].members, sizeof(state->members[0]));
        state->primary[index] = model->groups[index].primary_node;
        state->moved[index] = false;
    }
    ctl_placement_loads_from_model(model, &state->loads);
}

static void state_group(const struct plan_state *state, uint32_t group_index, uint16_t leaving,
                        struct ctl_placement_group *group_out) {
    memcpy(group_out->members, state->members[group_index], sizeof(group_out->members));
    group_out->leaving_node = leaving;
    tc_assert(leaving == 0 || members_have(group_out->members, leaving));
}

static void plan_reset(struct ctl_plan *plan) {
    tc_assert(plan != NULL);
    plan->step_count = 0;
    plan->reason[0] = '\0';
}

// Appends a step and applies it to the state (members, primary, loads).
static void plan_push(struct ctl_plan *plan, struct plan_state *state,
                      const struct ctl_model *model, uint32_t group_index,
                      enum ctl_change_kind kind, uint16_t from, uint16_t to) {
    tc_assert(plan->step_count < CTL_PLAN_STEPS_MAX);
    tc_assert(group_index < model->group_count);
    uint16_t primary_before = state->primary[group_index];
    bool applied = group_apply(state->members[group_index], &state->primary[group_index], kind,
                               from, to);
    tc_assert(applied);
    if (kind == CTL_CHANGE_REPLACE) {
        tc_assert(state->loads.replicas[from] > 0);
        state->loads.replicas[from] -= 1;
        state->loads.replicas[to] += 1;
    }
    if (primary_before != state->primary[group_index]) {
        tc_assert(primary_before != 0 && state->loads.primaries[primary_before] > 0);
        state->loads.primaries[primary_before] -= 1;
        uint16_t primary_after = state->primary[group_index];
        if (primary_after != 0) state->loads.primaries[primary_after] += 1;
    }
    state->moved[group_index] = true;
    struct ctl_plan_step *step = &plan->steps[plan->step_count];
    step->step = plan->step_count + 1;
    step->group_id = model->groups[group_index].id;
    step->kind = kind;
    step->from_node = from;
    step->to_node = to;
    plan->step_count += 1;
}

// Refuses the plan: no steps, and the reason (already written into plan->reason by the caller).
static int plan_refused(struct ctl_plan *plan, int result) {
    tc_assert(result < 0);
    tc_assert(plan->reason[0] != '\0');
    plan->step_count = 0;
    return result;
}

static void explain_not_live(const struct ctl_model *model, const uint16_t members[CTL_REPLICAS],
                             uint16_t except, struct ctl_placement_text *text) {
    const char *separator = " (";
    for (uint32_t slot = 0; slot < CTL_REPLICAS; slot++) {
        if (members[slot] == except || ctl_placement_node_live(model, members[slot])) continue;
        const struct ctl_node *node = ctl_model_node_find(model, members[slot]);
        tc_assert(node != NULL);
        ctl_placement_text_append(text, "%snode %u: %s", separator, node->id,
                                  node->state == CTL_NODE_DOWN ? "down" : "not live");
        separator = "; ";
    }
    if (separator[0] == ';') ctl_placement_text_append(text, ")");
}

static void explain_change(const struct ctl_change *change, struct ctl_placement_text *text) {
    tc_assert(change->kind != CTL_CHANGE_NONE);
    ctl_placement_text_append(text, "%s %u->%u, job %llu step %u", ctl_plan_kind_name(change->kind),
                              change->from_node, change->to_node,
                              (unsigned long long)change->job_id, change->step);
}

// ------------------------------------------------------------------------------------------------
// Verification of every plan returned: an independent replay of the steps.

static void verify_zones(const struct ctl_model *model, const uint16_t members[CTL_REPLICAS]) {
    const char *zones[CTL_REPLICAS];
    for (uint32_t slot = 0; slot < CTL_REPLICAS; slot++) {
        const struct ctl_node *node = ctl_model_node_find(model, members[slot]);
        tc_assert(node != NULL);
        if (node->zone[0] == '\0') return; // C3's zone clause applies to fully zoned groups
        zones[slot] = node->zone;
    }
    tc_assert(strcmp(zones[0], zones[1]) != 0);
    tc_assert(strcmp(zones[0], zones[2]) != 0);
    tc_assert(strcmp(zones[1], zones[2]) != 0);
}

static void verify_step(const struct ctl_model *model, const struct ctl_plan_step *step,
                        uint16_t members[CTL_REPLICAS], uint16_t *primary) {
    const struct ctl_node *to = ctl_model_node_find(model, step->to_node);
    tc_assert(to != NULL);
    tc_assert(to->live && to->state != CTL_NODE_DOWN);
    if (step->kind == CTL_CHANGE_REPLACE) {
        tc_assert(to->state == CTL_NODE_ACTIVE);
        tc_assert(live_members(model, members, step->from_node) >= 2); // C4
    } else {
        tc_assert(step->kind == CTL_CHANGE_MOVE_PRIMARY);
        tc_assert(to->state == CTL_NODE_ACTIVE || to->state == CTL_NODE_CORDONED);
        tc_assert(live_members(model, members, 0) >= 2); // C4
    }
    bool applied = group_apply(members, primary, step->kind, step->from_node, step->to_node);
    tc_assert(applied);
    tc_assert(members[0] != members[1]); // C3
    tc_assert(members[0] != members[2]);
    tc_assert(members[1] != members[2]);
    if (step->kind == CTL_CHANGE_REPLACE) verify_zones(model, members);
}

// Replays the plan on a fresh state from the model; replay holds the result.
static void plan_verify(const struct ctl_model *model, const struct ctl_plan *plan,
                        struct plan_state *replay) {
    tc_assert(plan->step_count <= CTL_PLAN_STEPS_MAX);
    tc_assert(plan->reason[0] == '\0');
    state_init(model, replay);
    for (uint32_t index = 0; index < plan->step_count; index++) {
        const struct ctl_plan_step *step = &plan->steps[index];
        tc_assert(step->step == index + 1);
        int32_t group_index = ctl_model_group_find(model, step->group_id);
        tc_assert(group_index >= 0);
        tc_assert(model->groups[group_index].change.kind == CTL_CHANGE_NONE); // C7
        verify_step(model, step, replay->members[group_index], &replay->primary[group_index]);
    }
}

// ------------------------------------------------------------------------------------------------
// Drain.

static int drain_check_groups(const struct ctl_model *model, uint16_t node_id,
                              struct ctl_plan *out) {
    struct ctl_placement_text text;
    ctl_placement_text_init(&text, out->reason, sizeof(out->reason));
    for (uint32_t index = 0; index < model->group_count; index++) {
        const struct ctl_group *group = &model->groups[index];
        if (!members_have(group->members, node_id)) continue;
        if (group->change.kind != CTL_CHANGE_NONE) {
            ctl_placement_text_append(&text, "cannot drain node %u: group %u already has a change "
                                      "in progress (", node_id, group->id);
            explain_change(&group->change, &text);
            ctl_placement_text_append(&text, "); one change per group at a time (C7)");
            return plan_refused(out, TC_EPERM);
        }
        uint32_t live = live_members(model, group->members, node_id);
        if (live < 2) {
            ctl_placement_text_append(&text, "cannot drain node %u: group %u would keep only %u "
                                      "live replica%s besides node %u", node_id, group->id, live,
                                      live == 1 ? "" : "s", node_id);
            explain_not_live(model, group->members, node_id, &text);
            ctl_placement_text_append(&text, "; a group needs 2 live replicas (C4)");
            return plan_refused(out, TC_EPERM);
        }
    }
    return 0;
}

// The member other than node_id that takes the primary: live, active or cordoned, fewest
// (primaries, replicas, id). 0 when there is none.
static uint16_t drain_primary_target(const struct ctl_model *model, const struct plan_state *state,
                                     uint32_t group_index, uint16_t node_id) {
    const struct ctl_placement_loads *loads = &state->loads;
    uint16_t best = 0;
    for (uint32_t slot = 0; slot < CTL_REPLICAS; slot++) {
        uint16_t member = state->members[group_index][slot];
        if (member == node_id || !ctl_placement_node_live(model, member)) continue;
        const struct ctl_node *node = ctl_model_node_find(model, member);
        if (node->state != CTL_NODE_ACTIVE && node->state != CTL_NODE_CORDONED) continue;
        bool better = best == 0 || loads->primaries[member] < loads->primaries[best] ||
                      (loads->primaries[member] == loads->primaries[best] &&
                       ctl_placement_less_loaded(loads, member, best));
        if (better) best = member;
    }
    tc_assert(best != node_id);
    return best;
}

// Why no other member of the group can lead: " (node 2: draining; node 3: not live)".
static void explain_leaders(const struct ctl_model *model, const uint16_t members[CTL_REPLICAS],
                            uint16_t node_id, struct ctl_placement_text *text) {
    const char *separator = " (";
    for (uint32_t slot = 0; slot < CTL_REPLICAS; slot++) {
        if (members[slot] == node_id) continue;
        const struct ctl_node *node = ctl_model_node_find(model, members[slot]);
        tc_assert(node != NULL);
        bool state_ok = node->state == CTL_NODE_ACTIVE || node->state == CTL_NODE_CORDONED;
        tc_assert(!state_ok || !ctl_placement_node_live(model, node->id));
        ctl_placement_text_append(text, "%snode %u: %s", separator, node->id,
                                  state_ok ? "not live" : ctl_placement_state_name(node->state));
        separator = "; ";
    }
    ctl_placement_text_append(text, ")");
}

static int drain_primaries(const struct ctl_model *model, struct plan_state *state,
                           uint16_t node_id, struct ctl_plan *out) {
    for (uint32_t index = 0; index < model->group_count; index++) {
        if (state->primary[index] != node_id) continue;
        uint16_t target = drain_primary_target(model, state, index, node_id);
        if (target == 0) {
            struct ctl_placement_text text;
            ctl_placement_text_init(&text, out->reason, sizeof(out->reason));
            ctl_placement_text_append(&text, "cannot drain node %u: group %u has no live active "
                                      "or cordoned member besides node %u to take the primary",
                                      node_id, model->groups[index].id, node_id);
            explain_leaders(model, state->members[index], node_id, &text);
            return plan_refused(out, TC_EPERM);
        }
        plan_push(out, state, model, index, CTL_CHANGE_MOVE_PRIMARY, node_id, target);
    }
    return 0;
}

static int drain_replicas(const struct ctl_model *model, struct plan_state *state,
                          uint16_t node_id, struct ctl_plan *out) {
    for (uint32_t index = 0; index < model->group_count; index++) {
        if (!members_have(state->members[index], node_id)) continue;
        struct ctl_placement_group group;
        state_group(state, index, node_id, &group);
        uint16_t target = 0;
        char list[CTL_PLAN_REASON_SIZE];
        int result = ctl_placement_pick(model, &state->loads, &group, &target, list, sizeof(list));
        if (result != 0) {
            tc_assert(result == TC_ENOENT);
            struct ctl_placement_text text;
            ctl_placement_text_init(&text, out->reason, sizeof(out->reason));
            ctl_placement_text_append(&text, "cannot drain node %u: no node can take its replica "
                                      "of group %u: %s", node_id, model->groups[index].id, list);
            return plan_refused(out, TC_ENOENT);
        }
        plan_push(out, state, model, index, CTL_CHANGE_REPLACE, node_id, target);
    }
    return 0;
}

static int drain_refuse_node(const struct ctl_model *model, uint32_t node_id,
                             struct ctl_plan *out) {
    struct ctl_placement_text text;
    ctl_placement_text_init(&text, out->reason, sizeof(out->reason));
    if (node_id == 0 || node_id > CTL_NODES_MAX) {
        ctl_placement_text_append(&text, "node %u is not a valid node id (1..%u)", node_id,
                                  CTL_NODES_MAX);
        return plan_refused(out, TC_EINVAL);
    }
    const struct ctl_node *node = ctl_model_node_find(model, (uint16_t)node_id);
    if (node == NULL) {
        ctl_placement_text_append(&text, "node %u is not in the cluster", node_id);
        return plan_refused(out, TC_ENOENT);
    }
    if (node->state == CTL_NODE_DRAINED) {
        ctl_placement_text_append(&text, "node %u is already drained", node_id);
        return plan_refused(out, TC_EPERM);
    }
    return 0;
}

int ctl_plan_drain(const struct ctl_model *model, uint32_t node_id, struct ctl_plan *out) {
    ctl_placement_model_assert(model);
    plan_reset(out);
    int result = drain_refuse_node(model, node_id, out);
    if (result != 0) return result;
    uint16_t node = (uint16_t)node_id;
    result = drain_check_groups(model, node, out);
    if (result != 0) return result;
    struct plan_state state;
    state_init(model, &state);
    result = drain_primaries(model, &state, node, out);
    if (result != 0) return result;
    result = drain_replicas(model, &state, node, out);
    if (result != 0) return result;
    tc_assert(state.loads.replicas[node] == 0);
    tc_assert(state.loads.primaries[node] == 0);
    plan_verify(model, out, &state); // state now holds the independent replay
    for (uint32_t index = 0; index < model->group_count; index++) {
        tc_assert(!members_have(state.members[index], node));
        tc_assert(state.primary[index] != node);
    }
    return 0;
}

// ------------------------------------------------------------------------------------------------
// Rebalance.

// The nodes rebalance balances across: active and live, in id order.
struct active_set {
    uint32_t count;
    uint16_t ids[CTL_NODES_MAX];
};

static void active_set_init(const struct ctl_model *model, struct active_set *active) {
    active->count = 0;
    for (uint32_t index = 0; index < model->node_count; index++) {
        const struct ctl_node *node = &model->nodes[index];
        if (node->state != CTL_NODE_ACTIVE || !node->live) continue;
        active->ids[active->count] = node->id;
        active->count += 1;
    }
    tc_assert(active->count <= model->node_count);
}

// Whether every node of the set is within max(1, ceil(mean x 0.10)) of the mean of per_node over
// the set, and the counts that are: allowed_min..allowed_max. Integers only.
struct band {
    bool balanced;
    uint32_t allowed_min;
    uint32_t allowed_max;
};

static void band_compute(const struct active_set *active, const uint32_t *per_node,
                         struct band *band) {
    tc_assert(active->count > 0);
    uint64_t sum = 0;
    for (uint32_t index = 0; index < active->count; index++) sum += per_node[active->ids[index]];
    uint64_t count = active->count;
    uint64_t width = (sum + 10 * count - 1) / (10 * count); // ceil(mean / 10)
    if (width < 1) width = 1;
    band->balanced = true;
    for (uint32_t index = 0; index < active->count; index++) {
        uint64_t scaled = (uint64_t)per_node[active->ids[index]] * count;
        uint64_t distance = scaled > sum ? scaled - sum : sum - scaled;
        if (distance > width * count) band->balanced = false;
    }
    uint64_t low = sum > width * count ? (sum - width * count + count - 1) / count : 0;
    band->allowed_min = (uint32_t)low;
    band->allowed_max = (uint32_t)((sum + width * count) / count);
    tc_assert(band->allowed_min <= band->allowed_max);
}

static bool order_before(const uint32_t *per_node, uint16_t a, uint16_t b, bool descending) {
    if (per_node[a] != per_node[b]) {
        return descending ? per_node[a] > per_node[b] : per_node[a] < per_node[b];
    }
    return a < b;
}

// The set's ids ordered by per_node (descending or ascending), ties by the lowest id.
static void order_nodes(const struct active_set *active, const uint32_t *per_node, bool descending,
                        uint16_t *ids_out) {
    for (uint32_t index = 0; index < active->count; index++) {
        uint16_t id = active->ids[index];
        uint32_t position = index;
        while (position > 0 && order_before(per_node, id, ids_out[position - 1], descending)) {
            ids_out[position] = ids_out[position - 1];
            position -= 1;
        }
        ids_out[position] = id;
    }
    for (uint32_t index = 1; index < active->count; index++) {
        tc_assert_hot(order_before(per_node, ids_out[index - 1], ids_out[index], descending));
    }
}

// Groups a source may move (a replica or its primary), in the order they are tried.
struct movable {
    uint32_t count;
    uint16_t group_index[CTL_GROUPS_MAX];
    bool zones_enforced[CTL_GROUPS_MAX];
};

static bool group_may_move(const struct ctl_model *model, const struct plan_state *state,
                           uint32_t group_index, uint16_t leaving) {
    if (state->moved[group_index]) return false;
    if (model->groups[group_index].change.kind != CTL_CHANGE_NONE) return false; // C7
    return live_members(model, state->members[group_index], leaving) >= 2;       // C4
}

// Groups that may give a replica of source away: those not led by source first, then the others,
// each part in id order.
static void movable_replicas(const struct ctl_model *model, const struct plan_state *state,
                             uint16_t source, struct movable *movable) {
    movable->count = 0;
    for (uint32_t pass = 0; pass < 2; pass++) {
        for (uint32_t index = 0; index < model->group_count; index++) {
            if (!members_have(state->members[index], source)) continue;
            if ((state->primary[index] == source) != (pass == 1)) continue;
            if (!group_may_move(model, state, index, source)) continue;
            struct ctl_placement_group group;
            state_group(state, index, source, &group);
            movable->group_index[movable->count] = (uint16_t)index;
            movable->zones_enforced[movable->count] = ctl_placement_zones_enforced(model, &group);
            movable->count += 1;
        }
    }
    tc_assert(movable->count <= model->group_count);
}

static bool rebalance_replica_move(const struct ctl_model *model, const struct active_set *active,
                                   struct plan_state *state, struct ctl_plan *plan) {
    const uint32_t *replicas = state->loads.replicas;
    uint16_t sources[CTL_NODES_MAX];
    uint16_t destinations[CTL_NODES_MAX];
    order_nodes(active, replicas, true, sources);
    order_nodes(active, replicas, false, destinations);
    struct movable movable;
    for (uint32_t source_index = 0; source_index < active->count; source_index++) {
        uint16_t source = sources[source_index];
        if (replicas[source] < replicas[destinations[0]] + 2) return false;
        movable_replicas(model, state, source, &movable);
        for (uint32_t target_index = 0; target_index < active->count; target_index++) {
            uint16_t target = destinations[target_index];
            if (replicas[source] < replicas[target] + 2) break;
            for (uint32_t index = 0; index < movable.count; index++) {
                uint32_t group_index = movable.group_index[index];
                struct ctl_placement_group group;
                state_group(state, group_index, source, &group);
                if (ctl_placement_judge(model, &group, movable.zones_enforced[index], target) !=
                    CTL_PLACEMENT_OK) {
                    continue;
                }
                plan_push(plan, state, model, group_index, CTL_CHANGE_REPLACE, source, target);
                return true;
            }
        }
    }
    return false;
}

static void movable_primaries(const struct ctl_model *model, const struct plan_state *state,
                              uint16_t source, struct movable *movable) {
    movable->count = 0;
    for (uint32_t index = 0; index < model->group_count; index++) {
        if (state->primary[index] != source) continue;
        if (!group_may_move(model, state, index, 0)) continue;
        movable->group_index[movable->count] = (uint16_t)index;
        movable->zones_enforced[movable->count] = false; // unused: membership does not change
        movable->count += 1;
    }
    tc_assert(movable->count <= model->group_count);
}

static bool rebalance_primary_move(const struct ctl_model *model, const struct active_set *active,
                                   struct plan_state *state, struct ctl_plan *plan) {
    const uint32_t *primaries = state->loads.primaries;
    uint16_t sources[CTL_NODES_MAX];
    uint16_t destinations[CTL_NODES_MAX];
    order_nodes(active, primaries, true, sources);
    order_nodes(active, primaries, false, destinations);
    struct movable movable;
    for (uint32_t source_index = 0; source_index < active->count; source_index++) {
        uint16_t source = sources[source_index];
        if (primaries[source] < primaries[destinations[0]] + 2) return false;
        movable_primaries(model, state, source, &movable);
        for (uint32_t target_index = 0; target_index < active->count; target_index++) {
            uint16_t target = destinations[target_index];
            if (primaries[source] < primaries[target] + 2) break;
            for (uint32_t index = 0; index < movable.count; index++) {
                uint32_t group_index = movable.group_index[index];
                if (!members_have(state->members[group_index], target)) continue;
                plan_push(plan, state, model, group_index, CTL_CHANGE_MOVE_PRIMARY, source,
                          target);
                return true;
            }
        }
    }
    return false;
}

// Why no group of source can move to target ("group 3: change in progress (C7); ...").
static void explain_groups(const struct ctl_model *model, const struct plan_state *state,
                           uint16_t source, uint16_t target, bool primaries,
                           struct ctl_placement_text *text) {
    const char *separator = "";
    for (uint32_t index = 0; index < model->group_count; index++) {
        bool hosts = primaries ? state->primary[index] == source
                               : members_have(state->members[index], source);
        if (!hosts) continue;
        ctl_placement_text_append(text, "%sgroup %u: ", separator, model->groups[index].id);
        separator = "; ";
        uint16_t leaving = primaries ? 0 : source;
        uint32_t live = live_members(model, state->members[index], leaving);
        struct ctl_placement_group group;
        state_group(state, index, leaving, &group);
        enum ctl_placement_verdict verdict = CTL_PLACEMENT_OK;
        if (!primaries) {
            bool enforced = ctl_placement_zones_enforced(model, &group);
            verdict = ctl_placement_judge(model, &group, enforced, target);
        }
        if (model->groups[index].change.kind != CTL_CHANGE_NONE) {
            ctl_placement_text_append(text, "change in progress (C7)");
        } else if (live < 2) {
            ctl_placement_text_append(text, "only %u live replica%s", live, live == 1 ? "" : "s");
            if (!primaries) ctl_placement_text_append(text, " besides node %u", source);
            ctl_placement_text_append(text, " (C4)");
        } else if (primaries && !members_have(state->members[index], target)) {
            ctl_placement_text_append(text, "node %u is not a member", target);
        } else if (verdict != CTL_PLACEMENT_OK) {
            ctl_placement_explain(model, &group, target, verdict, text);
        } else {
            tc_unreachable(); // the move would have been planned
        }
    }
}

static int rebalance_refuse(const struct ctl_model *model, const struct active_set *active,
                            const struct plan_state *state, bool primaries,
                            const struct band *band, struct ctl_plan *out) {
    const uint32_t *per_node = primaries ? state->loads.primaries : state->loads.replicas;
    uint16_t sources[CTL_NODES_MAX];
    uint16_t destinations[CTL_NODES_MAX];
    order_nodes(active, per_node, true, sources);
    order_nodes(active, per_node, false, destinations);
    uint16_t source = sources[0];
    uint16_t target = destinations[0];
    tc_assert(per_node[source] >= per_node[target] + 2);
    struct ctl_placement_text text;
    ctl_placement_text_init(&text, out->reason, sizeof(out->reason));
    const char *noun = primaries ? "primaries" : "replicas";
    ctl_placement_text_append(&text, "cannot rebalance: %s per active live node should be within "
                              "%u..%u, node %u has %u and node %u has %u, but no %s can move "
                              "safely; from node %u to node %u: ", noun, band->allowed_min,
                              band->allowed_max, source, per_node[source], target,
                              per_node[target], primaries ? "primary" : "replica", source, target);
    explain_groups(model, state, source, target, primaries, &text);
    return plan_refused(out, TC_EPERM);
}

static void rebalance_verify(const struct ctl_model *model, const struct ctl_plan *plan,
                             uint32_t max_moves) {
    tc_assert(plan->step_count <= max_moves);
    bool seen[CTL_GROUPS_MAX];
    memset(seen, 0, sizeof(seen));
    for (uint32_t index = 0; index < plan->step_count; index++) {
        int32_t group_index = ctl_model_group_find(model, plan->steps[index].group_id);
        tc_assert(group_index >= 0);
        tc_assert(!seen[group_index]); // a group moves at most once per rebalance
        seen[group_index] = true;
    }
    struct plan_state replay;
    plan_verify(model, plan, &replay);
}

static void rebalance_steps(const struct ctl_model *model, const struct active_set *active,
                            uint32_t max_moves, struct plan_state *state, struct ctl_plan *out) {
    struct band band;
    while (out->step_count < max_moves) {
        band_compute(active, state->loads.replicas, &band);
        if (band.balanced) break;
        if (!rebalance_replica_move(model, active, state, out)) break;
    }
    while (out->step_count < max_moves) {
        band_compute(active, state->loads.primaries, &band);
        if (band.balanced) break;
        if (!rebalance_primary_move(model, active, state, out)) break;
    }
    tc_assert(out->step_count <= max_moves);
}

int ctl_plan_rebalance(const struct ctl_model *model, uint32_t max_moves, struct ctl_plan *out) {
    ctl_placement_model_assert(model);
    plan_reset(out);
    struct ctl_placement_text text;
    ctl_placement_text_init(&text, out->reason, sizeof(out->reason));
    if (max_moves < CTL_PLAN_MOVES_MIN || max_moves > CTL_PLAN_MOVES_MAX) {
        ctl_placement_text_append(&text, "max_moves must be %u..%u, got %u", CTL_PLAN_MOVES_MIN,
                                  CTL_PLAN_MOVES_MAX, max_moves);
        return plan_refused(out, TC_EINVAL);
    }
    struct active_set active;
    active_set_init(model, &active);
    if (active.count == 0) {
        ctl_placement_text_append(&text, "cannot rebalance: no node is active and live");
        return plan_refused(out, TC_ENOENT);
    }
    struct plan_state state;
    state_init(model, &state);
    rebalance_steps(model, &active, max_moves, &state, out);
    if (out->step_count == 0) {
        struct band band;
        band_compute(&active, state.loads.replicas, &band);
        if (!band.balanced) return rebalance_refuse(model, &active, &state, false, &band, out);
        band_compute(&active, state.loads.primaries, &band);
        if (!band.balanced) return rebalance_refuse(model, &active, &state, true, &band, out);
        return 0; // balanced: an empty plan
    }
    rebalance_verify(model, out, max_moves);
    return 0;
}

// ------------------------------------------------------------------------------------------------
// Re-check before a step, applying a step.

static bool change_is_step(const struct ctl_change *change, const struct ctl_plan_step *step) {
    return change->kind == step->kind && change->from_node == step->from_node &&
           change->to_node == step->to_node;
}

static int check_move_primary(const struct ctl_model *model, const struct ctl_group *group,
                              const struct ctl_plan_step *step, struct ctl_placement_text *text) {
    if (group->primary_node != step->from_node) {
        ctl_placement_text_append(text, "the primary of group %u is node %u, not node %u",
                                  group->id, group->primary_node, step->from_node);
        return TC_EPERM;
    }
    if (!members_have(group->members, step->to_node)) {
        ctl_placement_text_append(text, "node %u is not a member of group %u", step->to_node,
                                  group->id);
        return TC_EPERM;
    }
    const struct ctl_node *to = ctl_model_node_find(model, step->to_node);
    tc_assert(to != NULL);
    bool state_ok = to->state == CTL_NODE_ACTIVE || to->state == CTL_NODE_CORDONED;
    if (!state_ok || !ctl_placement_node_live(model, to->id)) {
        ctl_placement_text_append(text, "node %u cannot take the primary of group %u: %s",
                                  to->id, group->id,
                                  state_ok ? "not live" : ctl_placement_state_name(to->state));
        return TC_EPERM;
    }
    uint32_t live = live_members(model, group->members, 0);
    if (live < 2) {
        ctl_placement_text_append(text, "group %u has only %u live replica%s", group->id, live,
                                  live == 1 ? "" : "s");
        explain_not_live(model, group->members, 0, text);
        ctl_placement_text_append(text, "; a group needs 2 live replicas (C4)");
        return TC_EPERM;
    }
    return 0;
}

static int check_replace(const struct ctl_model *model, const struct ctl_group *group,
                         const struct ctl_plan_step *step, struct ctl_placement_text *text) {
    if (!members_have(group->members, step->from_node)) {
        ctl_placement_text_append(text, "node %u is not a member of group %u", step->from_node,
                                  group->id);
        return TC_EPERM;
    }
    if (step->to_node == 0 || ctl_model_node_find(model, step->to_node) == NULL) {
        ctl_placement_text_append(text, "node %u is not in the cluster", step->to_node);
        return TC_EPERM;
    }
    uint32_t live = live_members(model, group->members, step->from_node);
    if (live < 2) {
        ctl_placement_text_append(text, "group %u would keep only %u live replica%s besides node "
                                  "%u", group->id, live, live == 1 ? "" : "s", step->from_node);
        explain_not_live(model, group->members, step->from_node, text);
        ctl_placement_text_append(text, "; a group needs 2 live replicas (C4)");
        return TC_EPERM;
    }
    struct ctl_placement_group placement;
    memcpy(placement.members, group->members, sizeof(placement.members));
    placement.leaving_node = step->from_node;
    bool enforced = ctl_placement_zones_enforced(model, &placement);
    enum ctl_placement_verdict verdict =
        ctl_placement_judge(model, &placement, enforced, step->to_node);
    if (verdict != CTL_PLACEMENT_OK) {
        ctl_placement_text_append(text, "node %u can no longer take node %u's replica of group "
                                  "%u: ", step->to_node, step->from_node, group->id);
        ctl_placement_explain(model, &placement, step->to_node, verdict, text);
        return TC_EPERM;
    }
    return 0;
}

int ctl_plan_check_step(const struct ctl_model *model, const struct ctl_plan_step *step,
                        char *reason, uint32_t reason_size) {
    ctl_placement_model_assert(model);
    tc_assert(step != NULL);
    tc_assert(step->kind == CTL_CHANGE_MOVE_PRIMARY || step->kind == CTL_CHANGE_REPLACE);
    struct ctl_placement_text text;
    ctl_placement_text_init(&text, reason, reason_size);
    int32_t group_index = ctl_model_group_find(model, step->group_id);
    if (group_index < 0) {
        ctl_placement_text_append(&text, "group %u does not exist", step->group_id);
        return TC_EPERM;
    }
    const struct ctl_group *group = &model->groups[group_index];
    if (group->change.kind != CTL_CHANGE_NONE && !change_is_step(&group->change, step)) {
        ctl_placement_text_append(&text, "group %u already has a change in progress (",
                                  group->id);
        explain_change(&group->change, &text);
        ctl_placement_text_append(&text, "); one change per group at a time (C7)");
        return TC_EPERM;
    }
    if (step->from_node == 0 || step->to_node == 0) {
        ctl_placement_text_append(&text, "step %u of group %u names node 0", step->step,
                                  group->id);
        return TC_EPERM;
    }
    if (step->from_node == step->to_node) {
        ctl_placement_text_append(&text, "step %u of group %u moves node %u to itself",
                                  step->step, group->id, step->from_node);
        return TC_EPERM;
    }
    int result = step->kind == CTL_CHANGE_MOVE_PRIMARY
                     ? check_move_primary(model, group, step, &text)
                     : check_replace(model, group, step, &text);
    tc_assert(result == 0 || result == TC_EPERM);
    tc_assert((result == 0) == (reason[0] == '\0'));
    return result;
}

int ctl_plan_apply_to_model(struct ctl_model *model, const struct ctl_plan_step *step) {
    ctl_placement_model_assert(model);
    tc_assert(step != NULL);
    tc_assert(step->kind == CTL_CHANGE_MOVE_PRIMARY || step->kind == CTL_CHANGE_REPLACE);
    int32_t group_index = ctl_model_group_find(model, step->group_id);
    if (group_index < 0) return TC_ENOENT;
    if (step->to_node == 0 || ctl_model_node_find(model, step->to_node) == NULL) {
        return TC_ENOENT;
    }
    struct ctl_group *group = &model->groups[group_index];
    uint16_t members[CTL_REPLICAS];
    memcpy(members, group->members, sizeof(members));
    uint16_t primary = group->primary_node;
    if (!group_apply(members, &primary, step->kind, step->from_node, step->to_node)) {
        return TC_EINVAL;
    }
    memcpy(group->members, members, sizeof(members));
    group->primary_node = primary;
    if (step->kind == CTL_CHANGE_REPLACE) group->epoch += 1;
    tc_assert(members_have(group->members, step->to_node));
    return 0;
}

// ------------------------------------------------------------------------------------------------
// Formatting.

// Appends to buffer at *length; false (and buffer "") when it does not fit.
__attribute__((format(printf, 4, 5))) static bool
format_append(char *buffer, uint32_t size, uint32_t *length, const char *format, ...) {
    tc_assert(*length < size);
    va_list arguments;
    va_start(arguments, format);
    int written = vsnprintf(buffer + *length, size - *length, format, arguments);
    va_end(arguments);
    tc_assert(written >= 0);
    if ((uint32_t)written >= size - *length) {
        buffer[0] = '\0';
        return false;
    }
    *length += (uint32_t)written;
    return true;
}

int ctl_plan_format_text(const struct ctl_plan *plan, char *buffer, uint32_t size) {
    tc_assert(plan != NULL);
    tc_assert(plan->step_count <= CTL_PLAN_STEPS_MAX);
    tc_assert(buffer != NULL && size > 0);
    uint32_t length = 0;
    buffer[0] = '\0';
    if (!format_append(buffer, size, &length, "step  group  kind          from  to\n")) {
        return TC_ENOSPC;
    }
    if (plan->step_count == 0 && !format_append(buffer, size, &length, "(no steps)\n")) {
        return TC_ENOSPC;
    }
    for (uint32_t index = 0; index < plan->step_count; index++) {
        const struct ctl_plan_step *step = &plan->steps[index];
        if (!format_append(buffer, size, &length, "%-4u  %-5u  %-12s  %-4u  %u\n", step->step,
                           step->group_id, ctl_plan_kind_name(step->kind), step->from_node,
                           step->to_node)) {
            return TC_ENOSPC;
        }
    }
    tc_assert(length < size);
    tc_assert(buffer[length] == '\0');
    return 0;
}

int ctl_plan_format_json(const struct ctl_plan *plan, char *buffer, uint32_t size) {
    tc_assert(plan != NULL);
    tc_assert(plan->step_count <= CTL_PLAN_STEPS_MAX);
    tc_assert(buffer != NULL && size > 0);
    uint32_t length = 0;
    buffer[0] = '\0';
    if (!format_append(buffer, size, &length, "{\"steps\":[")) return TC_ENOSPC;
    for (uint32_t index = 0; index < plan->step_count; index++) {
        const struct ctl_plan_step *step = &plan->steps[index];
        if (!format_append(buffer, size, &length,
                           "%s{\"from\":%u,\"group\":%u,\"kind\":\"%s\",\"step\":%u,\"to\":%u}",
                           index == 0 ? "" : ",", step->from_node, step->group_id,
                           ctl_plan_kind_name(step->kind), step->step, step->to_node)) {
            return TC_ENOSPC;
        }
    }
    if (!format_append(buffer, size, &length, "]}")) return TC_ENOSPC;
    tc_assert(length < size);
    tc_assert(buffer[length] == '\0');
    return 0;
}
