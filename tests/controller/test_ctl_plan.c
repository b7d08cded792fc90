// Unit and property tests of placement and plan computation (controller/plan, docs/controller.md
// §6–§7). Models are built by hand; the property test checks every plan returned for 1,000 random
// models against checks written here independently of the library (C3, C4, C7, candidates, band).

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_model.h"
#include "ctl_placement.h"
#include "ctl_plan.h"
#include "tc_err.h"
#include "tc_prng.h"

// ------------------------------------------------------------------------------------------------
// Building models.

static struct ctl_model *model_new(void) {
    struct ctl_model *model = calloc(1, sizeof(*model));
    assert_non_null(model);
    return model;
}

static struct ctl_plan *plan_new(void) {
    struct ctl_plan *plan = calloc(1, sizeof(*plan));
    assert_non_null(plan);
    return plan;
}

static void node_add(struct ctl_model *model, uint16_t id, enum ctl_node_state state, bool live,
                     const char *zone) {
    assert_true(model->node_count < CTL_NODES_MAX);
    if (model->node_count > 0) assert_true(model->nodes[model->node_count - 1].id < id);
    struct ctl_node *node = &model->nodes[model->node_count++];
    memset(node, 0, sizeof(*node));
    node->id = id;
    node->state = state;
    node->live = live;
    snprintf(node->zone, sizeof(node->zone), "%s", zone);
}

static void nodes_add_active(struct ctl_model *model, uint16_t count) {
    for (uint16_t id = 1; id <= count; id++) node_add(model, id, CTL_NODE_ACTIVE, true, "");
}

static struct ctl_node *node_get(struct ctl_model *model, uint16_t id) {
    for (uint32_t index = 0; index < model->node_count; index++) {
        if (model->nodes[index].id == id) return &model->nodes[index];
    }
    fail_msg("node %u not in the model", id);
    return NULL;
}

static struct ctl_group *group_add(struct ctl_model *model, uint32_t id, uint16_t a, uint16_t b,
                                   uint16_t c, uint16_t primary) {
    assert_true(model->group_count < CTL_GROUPS_MAX);
    if (model->group_count > 0) assert_true(model->groups[model->group_count - 1].id < id);
    struct ctl_group *group = &model->groups[model->group_count++];
    memset(group, 0, sizeof(*group));
    group->id = id;
    group->members[0] = a;
    group->members[1] = b;
    group->members[2] = c;
    group->primary_node = primary;
    return group;
}

static struct ctl_group *group_get(struct ctl_model *model, uint32_t id) {
    for (uint32_t index = 0; index < model->group_count; index++) {
        if (model->groups[index].id == id) return &model->groups[index];
    }
    return NULL;
}

static void assert_step(const struct ctl_plan *plan, uint32_t index, uint32_t group_id,
                        enum ctl_change_kind kind, uint16_t from, uint16_t to) {
    assert_true(index < plan->step_count);
    const struct ctl_plan_step *step = &plan->steps[index];
    assert_int_equal(step->step, index + 1);
    assert_int_equal(step->group_id, group_id);
    assert_int_equal(step->kind, kind);
    assert_int_equal(step->from_node, from);
    assert_int_equal(step->to_node, to);
}

// ------------------------------------------------------------------------------------------------
// Independent checks.

static const struct ctl_node *find_node(const struct ctl_model *model, uint16_t id) {
    for (uint32_t index = 0; index < model->node_count; index++) {
        if (model->nodes[index].id == id) return &model->nodes[index];
    }
    return NULL;
}

static bool is_live(const struct ctl_model *model, uint16_t id) {
    const struct ctl_node *node = find_node(model, id);
    assert_non_null(node);
    return node->live && node->state != CTL_NODE_DOWN;
}

static uint32_t live_besides(const struct ctl_model *model, const struct ctl_group *group,
                             uint16_t except) {
    uint32_t count = 0;
    for (uint32_t slot = 0; slot < CTL_REPLICAS; slot++) {
        if (group->members[slot] != except && is_live(model, group->members[slot])) count++;
    }
    return count;
}

static bool is_member(const struct ctl_group *group, uint16_t id) {
    return group->members[0] == id || group->members[1] == id || group->members[2] == id;
}

// C3: 3 distinct known members; 3 distinct zones when all 3 have one.
static bool group_c3(const struct ctl_model *model, const struct ctl_group *group) {
    const char *zones[CTL_REPLICAS];
    bool zoned = true;
    for (uint32_t slot = 0; slot < CTL_REPLICAS; slot++) {
        const struct ctl_node *node = find_node(model, group->members[slot]);
        if (node == NULL) return false;
        zones[slot] = node->zone;
        if (node->zone[0] == '\0') zoned = false;
        for (uint32_t other = 0; other < slot; other++) {
            if (group->members[other] == group->members[slot]) return false;
        }
    }
    if (!zoned) return true;
    return strcmp(zones[0], zones[1]) != 0 && strcmp(zones[0], zones[2]) != 0 &&
           strcmp(zones[1], zones[2]) != 0;
}

// The placement rule of docs §6 (as chosen in ctl_placement.h), written again here: may candidate
// take the replica of `leaving` in group?
static bool may_take(const struct ctl_model *model, const struct ctl_group *group, uint16_t leaving,
                     const struct ctl_node *candidate) {
    if (candidate->state != CTL_NODE_ACTIVE || !candidate->live) return false;
    if (is_member(group, candidate->id)) return false;
    const char *stay[2];
    uint32_t stay_count = 0;
    bool stay_zoned = true;
    for (uint32_t slot = 0; slot < CTL_REPLICAS; slot++) {
        if (group->members[slot] == leaving) continue;
        stay[stay_count] = find_node(model, group->members[slot])->zone;
        if (stay[stay_count][0] == '\0') stay_zoned = false;
        stay_count++;
    }
    assert_int_equal(stay_count, 2);
    if (candidate->zone[0] == '\0') return true;
    bool all_zoned = stay_zoned;
    for (uint32_t index = 0; index < model->node_count; index++) {
        const struct ctl_node *node = &model->nodes[index];
        bool candidate_now = node->state == CTL_NODE_ACTIVE && node->live;
        if (candidate_now && !is_member(group, node->id) && node->zone[0] == '\0') {
            all_zoned = false;
        }
    }
    bool used = strcmp(stay[0], candidate->zone) == 0 || strcmp(stay[1], candidate->zone) == 0;
    if (used && (all_zoned || stay_zoned)) return false;
    if (stay_zoned && strcmp(stay[0], stay[1]) == 0) return false; // would break C3
    return true;
}

static bool has_target(const struct ctl_model *model, const struct ctl_group *group,
                       uint16_t leaving) {
    for (uint32_t index = 0; index < model->node_count; index++) {
        if (may_take(model, group, leaving, &model->nodes[index])) return true;
    }
    return false;
}

// Sum of squares of per-node counts over active live nodes: every rebalance move lowers it.
static uint64_t spread(const struct ctl_model *model, bool primaries) {
    uint64_t total = 0;
    for (uint32_t index = 0; index < model->node_count; index++) {
        const struct ctl_node *node = &model->nodes[index];
        if (node->state != CTL_NODE_ACTIVE || !node->live) continue;
        uint64_t count = 0;
        for (uint32_t g = 0; g < model->group_count; g++) {
            const struct ctl_group *group = &model->groups[g];
            count += primaries ? group->primary_node == node->id : is_member(group, node->id);
        }
        total += count * count;
    }
    return total;
}

// The band of docs §7 in floating point (mean / 10 is exact when it is an integer).
static bool balanced(const struct ctl_model *model, bool primaries) {
    double counts[CTL_NODES_MAX];
    uint32_t n = 0;
    double sum = 0;
    for (uint32_t index = 0; index < model->node_count; index++) {
        const struct ctl_node *node = &model->nodes[index];
        if (node->state != CTL_NODE_ACTIVE || !node->live) continue;
        double count = 0;
        for (uint32_t g = 0; g < model->group_count; g++) {
            const struct ctl_group *group = &model->groups[g];
            count += primaries ? group->primary_node == node->id : is_member(group, node->id);
        }
        counts[n++] = count;
        sum += count;
    }
    assert_true(n > 0);
    double mean = sum / n;
    double band = (double)(long long)(sum / (10.0 * n));
    if (band < sum / (10.0 * n)) band += 1;
    if (band < 1) band = 1;
    for (uint32_t index = 0; index < n; index++) {
        double distance = counts[index] > mean ? counts[index] - mean : mean - counts[index];
        if (distance > band + 1e-9) return false;
    }
    return true;
}

// Applies the plan step by step to model: before each step the library's re-check accepts it and
// C4 holds (>= 2 live members that stay); after each, the group keeps C3 and, for rebalance, the
// spread it targets strictly narrows.
static void apply_checked(struct ctl_model *model, const struct ctl_plan *plan, bool rebalance) {
    for (uint32_t index = 0; index < plan->step_count; index++) {
        const struct ctl_plan_step *step = &plan->steps[index];
        char reason[CTL_PLAN_REASON_SIZE];
        int result = ctl_plan_check_step(model, step, reason, sizeof(reason));
        if (result != 0) fail_msg("step %u refused by the re-check: %s", step->step, reason);
        struct ctl_group *group = group_get(model, step->group_id);
        assert_non_null(group);
        assert_int_equal(group->change.kind, CTL_CHANGE_NONE); // C7
        uint16_t leaving = step->kind == CTL_CHANGE_REPLACE ? step->from_node : 0;
        assert_true(live_besides(model, group, leaving) >= 2); // C4
        bool primaries = step->kind == CTL_CHANGE_MOVE_PRIMARY;
        uint64_t spread_before = spread(model, primaries);
        assert_int_equal(ctl_plan_apply_to_model(model, step), 0);
        assert_true(group_c3(model, group));                   // C3
        assert_true(live_besides(model, group, 0) >= 2);        // C4 after the step
        if (rebalance) assert_true(spread(model, primaries) < spread_before);
    }
}

static uint32_t hosted(const struct ctl_model *model, uint16_t node_id) {
    uint32_t count = 0;
    for (uint32_t g = 0; g < model->group_count; g++) {
        const struct ctl_group *group = &model->groups[g];
        count += is_member(group, node_id) || group->primary_node == node_id;
    }
    return count;
}

// ------------------------------------------------------------------------------------------------
// Placement.

static void test_placement_new_group_least_loaded(void **state) {
    (void)state;
    struct ctl_model *model = model_new();
    nodes_add_active(model, 6);
    group_add(model, 1, 1, 2, 3, 1);
    group_add(model, 2, 1, 2, 4, 4);
    group_add(model, 3, 5, 1, 2, 5);
    // Replicas: 1:3 2:3 3:1 4:1 5:1 6:0; primaries: 1:1 4:1 5:1.
    uint16_t members[CTL_REPLICAS];
    char reason[CTL_PLACEMENT_REASON_SIZE];
    assert_int_equal(ctl_placement_new_group(model, members, reason, sizeof(reason)), 0);
    assert_int_equal(members[0], 6); // 0 replicas
    assert_int_equal(members[1], 3); // 1 replica, 0 primaries (4 and 5 lead a group)
    assert_int_equal(members[2], 4); // 1 replica, 1 primary, lower id than 5
    assert_string_equal(reason, "");
    free(model);
}

static void test_placement_new_group_zones(void **state) {
    (void)state;
    struct ctl_model *model = model_new();
    node_add(model, 1, CTL_NODE_ACTIVE, true, "a");
    node_add(model, 2, CTL_NODE_ACTIVE, true, "a");
    node_add(model, 3, CTL_NODE_ACTIVE, true, "b");
    node_add(model, 4, CTL_NODE_ACTIVE, true, "b");
    node_add(model, 5, CTL_NODE_ACTIVE, true, "c");
    uint16_t members[CTL_REPLICAS];
    char reason[CTL_PLACEMENT_REASON_SIZE];
    assert_int_equal(ctl_placement_new_group(model, members, reason, sizeof(reason)), 0);
    assert_int_equal(members[0], 1);
    assert_int_equal(members[1], 3); // 2 shares zone a with 1
    assert_int_equal(members[2], 5); // 4 shares zone b with 3
    // Without zones the same cluster would take 1, 2, 3.
    for (uint32_t index = 0; index < model->node_count; index++) model->nodes[index].zone[0] = 0;
    assert_int_equal(ctl_placement_new_group(model, members, reason, sizeof(reason)), 0);
    assert_int_equal(members[0], 1);
    assert_int_equal(members[1], 2);
    assert_int_equal(members[2], 3);
    free(model);
}

static void test_placement_partial_zones(void **state) {
    (void)state;
    struct ctl_model *model = model_new();
    node_add(model, 1, CTL_NODE_ACTIVE, true, "a");
    node_add(model, 2, CTL_NODE_ACTIVE, true, "a");
    node_add(model, 3, CTL_NODE_ACTIVE, true, "a");
    node_add(model, 4, CTL_NODE_ACTIVE, true, "");
    uint16_t members[CTL_REPLICAS];
    char reason[CTL_PLACEMENT_REASON_SIZE];
    // Node 4 has no zone: diversity is not enforced, so 1 and 2 (both zone a) may share a group,
    // but a third zone-a node would make a fully zoned group with one zone (C3): 4 completes it.
    assert_int_equal(ctl_placement_new_group(model, members, reason, sizeof(reason)), 0);
    assert_int_equal(members[0], 1);
    assert_int_equal(members[1], 2);
    assert_int_equal(members[2], 4);
    // Without node 4 every node has a zone: enforced, and one zone cannot host a group.
    node_get(model, 4)->state = CTL_NODE_CORDONED;
    assert_int_equal(ctl_placement_new_group(model, members, reason, sizeof(reason)), TC_ENOENT);
    assert_string_equal(reason, "a new group needs 3 nodes, only 1 eligible: node 2: zone a "
                                "already used; node 3: zone a already used; node 4: cordoned");
    assert_int_equal(members[0], 0);
    free(model);
}

static void test_placement_zone_pair(void **state) {
    (void)state;
    struct ctl_model *model = model_new();
    node_add(model, 1, CTL_NODE_ACTIVE, true, "a");
    node_add(model, 2, CTL_NODE_ACTIVE, true, "a");
    node_add(model, 3, CTL_NODE_ACTIVE, true, "");
    node_add(model, 4, CTL_NODE_ACTIVE, true, "b");
    node_add(model, 5, CTL_NODE_ACTIVE, true, "a");
    group_add(model, 1, 1, 2, 3, 1); // legal: node 3 has no zone
    // Replacing 3: 1 and 2 stay, both in zone a, so any zoned newcomer breaks C3.
    uint16_t target = 9;
    char reason[CTL_PLACEMENT_REASON_SIZE];
    assert_int_equal(ctl_placement_replacement(model, 0, 3, &target, reason, sizeof(reason)),
                     TC_ENOENT);
    assert_int_equal(target, 0);
    assert_string_equal(reason, "no node can take node 3's replica of group 1: node 4: zone b, "
                                "but the other members share zone a; node 5: zone a already used");
    node_add(model, 6, CTL_NODE_ACTIVE, true, "");
    assert_int_equal(ctl_placement_replacement(model, 0, 3, &target, reason, sizeof(reason)), 0);
    assert_int_equal(target, 6);
    // Replacing 1 instead: 2 (zone a) and 3 (no zone) stay, so C3 cannot be at stake and zones
    // are not enforced (3 and 6 have none): the least loaded wins, whatever its zone.
    assert_int_equal(ctl_placement_replacement(model, 0, 1, &target, reason, sizeof(reason)), 0);
    assert_int_equal(target, 4);
    free(model);
}

static void test_placement_refusal_reason(void **state) {
    (void)state;
    struct ctl_model *model = model_new();
    node_add(model, 1, CTL_NODE_ACTIVE, true, "a");
    node_add(model, 2, CTL_NODE_ACTIVE, true, "b");
    node_add(model, 3, CTL_NODE_CORDONED, true, "c");
    node_add(model, 4, CTL_NODE_DOWN, false, "c");
    node_add(model, 5, CTL_NODE_ACTIVE, true, "b");
    node_add(model, 6, CTL_NODE_ACTIVE, false, "c");
    node_add(model, 7, CTL_NODE_DRAINING, true, "d");
    uint16_t members[CTL_REPLICAS] = {9, 9, 9};
    char reason[CTL_PLACEMENT_REASON_SIZE];
    assert_int_equal(ctl_placement_new_group(model, members, reason, sizeof(reason)), TC_ENOENT);
    assert_string_equal(reason, "a new group needs 3 nodes, only 2 eligible: node 3: cordoned; "
                                "node 4: down; node 5: zone b already used; node 6: not live; "
                                "node 7: draining");
    assert_int_equal(members[0], 0);
    assert_int_equal(members[1], 0);
    assert_int_equal(members[2], 0);
    // A reason longer than the buffer is cut and ends with "...".
    char small[40];
    assert_int_equal(ctl_placement_new_group(model, members, small, sizeof(small)), TC_ENOENT);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_string_equal(small + sizeof(small) - 4, "...");
    free(model);
}

static void test_placement_replacement(void **state) {
    (void)state;
    struct ctl_model *model = model_new();
    nodes_add_active(model, 6);
    group_add(model, 1, 1, 2, 3, 1);
    group_add(model, 2, 4, 5, 2, 4);
    group_add(model, 3, 5, 6, 1, 6);
    // Replicas: 1:2 2:2 3:1 4:1 5:2 6:1; primaries 1, 4, 6. Candidates for 3 in group 1: 4, 5, 6.
    uint16_t target = 0;
    char reason[CTL_PLACEMENT_REASON_SIZE];
    assert_int_equal(ctl_placement_replacement(model, 0, 3, &target, reason, sizeof(reason)), 0);
    assert_int_equal(target, 4); // 4 and 6 tie on (1 replica, 1 primary): lowest id
    node_get(model, 4)->live = false;
    assert_int_equal(ctl_placement_replacement(model, 0, 3, &target, reason, sizeof(reason)), 0);
    assert_int_equal(target, 6);
    assert_int_equal(ctl_placement_replacement(model, 0, 4, &target, reason, sizeof(reason)),
                     TC_EINVAL);
    assert_string_equal(reason, "node 4 is not a member of group 1");
    node_get(model, 5)->state = CTL_NODE_CORDONED;
    node_get(model, 6)->state = CTL_NODE_DRAINED;
    assert_int_equal(ctl_placement_replacement(model, 0, 3, &target, reason, sizeof(reason)),
                     TC_ENOENT);
    assert_int_equal(target, 0);
    assert_string_equal(reason, "no node can take node 3's replica of group 1: node 4: not live; "
                                "node 5: cordoned; node 6: drained");
    free(model);
}

// ------------------------------------------------------------------------------------------------
// Drain.

static struct ctl_model *model_drain_primaries(void) {
    struct ctl_model *model = model_new();
    nodes_add_active(model, 6);
    group_add(model, 1, 1, 2, 3, 1);
    group_add(model, 2, 1, 2, 3, 2);
    group_add(model, 3, 1, 4, 5, 1);
    group_add(model, 4, 2, 3, 4, 4);
    // Replicas: 1:3 2:3 3:3 4:2 5:1 6:0; primaries: 1:2 2:1 4:1.
    return model;
}

static void test_drain_primaries_first(void **state) {
    (void)state;
    struct ctl_model *model = model_drain_primaries();
    struct ctl_plan *plan = plan_new();
    assert_int_equal(ctl_plan_drain(model, 1, plan), 0);
    assert_string_equal(plan->reason, "");
    assert_int_equal(plan->step_count, 5);
    assert_step(plan, 0, 1, CTL_CHANGE_MOVE_PRIMARY, 1, 3); // 3 leads nothing, 2 leads group 2
    assert_step(plan, 1, 3, CTL_CHANGE_MOVE_PRIMARY, 1, 5); // 5 leads nothing, 4 leads group 4
    assert_step(plan, 2, 1, CTL_CHANGE_REPLACE, 1, 6);
    assert_step(plan, 3, 2, CTL_CHANGE_REPLACE, 1, 6);      // 6 (1, 0) before 5 (1, 1)
    assert_step(plan, 4, 3, CTL_CHANGE_REPLACE, 1, 6);      // 6 (2, 0) before 2 and 3 (3 each)
    apply_checked(model, plan, false);
    assert_int_equal(hosted(model, 1), 0);
    free(plan);
    free(model);
}

static void test_drain_spreads_out(void **state) {
    (void)state;
    struct ctl_model *model = model_new();
    nodes_add_active(model, 6);
    group_add(model, 1, 1, 2, 3, 2);
    group_add(model, 2, 1, 2, 3, 3);
    group_add(model, 3, 1, 2, 3, 2);
    group_add(model, 4, 1, 2, 3, 3);
    struct ctl_plan *plan = plan_new();
    assert_int_equal(ctl_plan_drain(model, 1, plan), 0);
    assert_int_equal(plan->step_count, 4);
    assert_step(plan, 0, 1, CTL_CHANGE_REPLACE, 1, 4);
    assert_step(plan, 1, 2, CTL_CHANGE_REPLACE, 1, 5);
    assert_step(plan, 2, 3, CTL_CHANGE_REPLACE, 1, 6);
    assert_step(plan, 3, 4, CTL_CHANGE_REPLACE, 1, 4);
    apply_checked(model, plan, false);
    assert_int_equal(hosted(model, 1), 0);
    // Draining a node that now hosts nothing: an empty plan.
    assert_int_equal(ctl_plan_drain(model, 1, plan), 0);
    assert_int_equal(plan->step_count, 0);
    free(plan);
    free(model);
}

static void test_drain_refused_member_down(void **state) {
    (void)state;
    struct ctl_model *model = model_new();
    nodes_add_active(model, 5);
    group_add(model, 1, 1, 4, 5, 4);
    group_add(model, 2, 1, 2, 3, 1);
    node_get(model, 3)->state = CTL_NODE_DOWN;
    node_get(model, 3)->live = false;
    struct ctl_plan *plan = plan_new();
    plan->step_count = 7; // refused plans have no steps
    assert_int_equal(ctl_plan_drain(model, 1, plan), TC_EPERM);
    assert_int_equal(plan->step_count, 0);
    assert_string_equal(plan->reason, "cannot drain node 1: group 2 would keep only 1 live replica "
                                      "besides node 1 (node 3: down); a group needs 2 live "
                                      "replicas (C4)");
    // The same when the member is merely silent (state active, no heartbeat).
    node_get(model, 3)->state = CTL_NODE_ACTIVE;
    assert_int_equal(ctl_plan_drain(model, 1, plan), TC_EPERM);
    assert_non_null(strstr(plan->reason, "(node 3: not live)"));
    // With 3 live again the rule is met: 2 live members besides node 1 throughout.
    node_get(model, 3)->live = true;
    assert_int_equal(ctl_plan_drain(model, 1, plan), 0);
    assert_int_equal(plan->step_count, 3);
    free(plan);
    free(model);
}

static void test_drain_refused_no_target(void **state) {
    (void)state;
    struct ctl_model *model = model_new();
    nodes_add_active(model, 3);
    group_add(model, 1, 1, 2, 3, 1);
    struct ctl_plan *plan = plan_new();
    assert_int_equal(ctl_plan_drain(model, 2, plan), TC_ENOENT);
    assert_int_equal(plan->step_count, 0);
    assert_string_equal(plan->reason, "cannot drain node 2: no node can take its replica of group "
                                      "1: no node outside the group");
    free(plan);
    free(model);
}

static void test_drain_refusals(void **state) {
    (void)state;
    struct ctl_model *model = model_new();
    nodes_add_active(model, 5);
    struct ctl_group *group = group_add(model, 4, 1, 2, 3, 1);
    node_get(model, 5)->state = CTL_NODE_DRAINED;
    struct ctl_plan *plan = plan_new();
    assert_int_equal(ctl_plan_drain(model, 0, plan), TC_EINVAL);
    assert_string_equal(plan->reason, "node 0 is not a valid node id (1..255)");
    assert_int_equal(ctl_plan_drain(model, 256, plan), TC_EINVAL);
    assert_int_equal(ctl_plan_drain(model, 9, plan), TC_ENOENT);
    assert_string_equal(plan->reason, "node 9 is not in the cluster");
    assert_int_equal(ctl_plan_drain(model, 5, plan), TC_EPERM);
    assert_string_equal(plan->reason, "node 5 is already drained");
    group->change = (struct ctl_change){CTL_CHANGE_REPLACE, 3, 4, 12, 2, 0};
    assert_int_equal(ctl_plan_drain(model, 1, plan), TC_EPERM);
    assert_string_equal(plan->reason, "cannot drain node 1: group 4 already has a change in "
                                      "progress (replace 3->4, job 12 step 2); one change per "
                                      "group at a time (C7)");
    // The primary cannot go to a draining member, nor to one without a heartbeat.
    group->change.kind = CTL_CHANGE_NONE;
    node_get(model, 2)->state = CTL_NODE_DRAINING;
    node_get(model, 3)->live = false;
    node_get(model, 4)->live = true;
    assert_int_equal(ctl_plan_drain(model, 1, plan), TC_EPERM);
    assert_non_null(strstr(plan->reason, "would keep only 1 live replica"));
    node_get(model, 3)->live = true;
    node_get(model, 3)->state = CTL_NODE_DRAINING;
    assert_int_equal(ctl_plan_drain(model, 1, plan), TC_EPERM);
    assert_string_equal(plan->reason, "cannot drain node 1: group 4 has no live active or "
                                      "cordoned member besides node 1 to take the primary "
                                      "(node 2: draining; node 3: draining)");
    node_get(model, 3)->state = CTL_NODE_CORDONED; // cordoned members may lead
    assert_int_equal(ctl_plan_drain(model, 1, plan), 0);
    assert_step(plan, 0, 4, CTL_CHANGE_MOVE_PRIMARY, 1, 3);
    assert_step(plan, 1, 4, CTL_CHANGE_REPLACE, 1, 4);
    free(plan);
    free(model);
}

static void test_drain_zones(void **state) {
    (void)state;
    struct ctl_model *model = model_new();
    node_add(model, 1, CTL_NODE_ACTIVE, true, "a");
    node_add(model, 2, CTL_NODE_ACTIVE, true, "a");
    node_add(model, 3, CTL_NODE_ACTIVE, true, "b");
    node_add(model, 4, CTL_NODE_ACTIVE, true, "b");
    node_add(model, 5, CTL_NODE_ACTIVE, true, "c");
    node_add(model, 6, CTL_NODE_ACTIVE, true, "c");
    group_add(model, 1, 1, 3, 5, 3);
    group_add(model, 2, 1, 4, 6, 4);
    group_add(model, 3, 2, 3, 6, 2);
    struct ctl_plan *plan = plan_new();
    assert_int_equal(ctl_plan_drain(model, 1, plan), 0);
    assert_int_equal(plan->step_count, 2);
    assert_step(plan, 0, 1, CTL_CHANGE_REPLACE, 1, 2); // the only other node in zone a
    assert_step(plan, 1, 2, CTL_CHANGE_REPLACE, 1, 2);
    node_get(model, 2)->state = CTL_NODE_CORDONED;
    assert_int_equal(ctl_plan_drain(model, 1, plan), TC_ENOENT);
    assert_string_equal(plan->reason, "cannot drain node 1: no node can take its replica of group "
                                      "1: node 2: cordoned; node 4: zone b already used; node 6: "
                                      "zone c already used");
    node_get(model, 2)->state = CTL_NODE_ACTIVE;
    assert_int_equal(ctl_plan_drain(model, 1, plan), 0);
    assert_int_equal(plan->step_count, 2);
    apply_checked(model, plan, false);
    assert_int_equal(hosted(model, 1), 0);
    free(plan);
    free(model);
}

// ------------------------------------------------------------------------------------------------
// Rebalance.

// Three nodes hosting 4 groups, then `extra` empty nodes.
static struct ctl_model *model_grown(uint16_t extra) {
    struct ctl_model *model = model_new();
    nodes_add_active(model, (uint16_t)(3 + extra));
    group_add(model, 1, 1, 2, 3, 1);
    group_add(model, 2, 1, 2, 3, 2);
    group_add(model, 3, 1, 2, 3, 3);
    group_add(model, 4, 1, 2, 3, 1);
    return model;
}

static void test_rebalance_new_fourth_node(void **state) {
    (void)state;
    struct ctl_model *model = model_grown(1);
    struct ctl_plan *plan = plan_new();
    // Replicas 4,4,4,0: mean 3, band 1, allowed 2..4.
    assert_false(balanced(model, false));
    assert_int_equal(ctl_plan_rebalance(model, 8, plan), 0);
    assert_int_equal(plan->step_count, 2);
    assert_step(plan, 0, 2, CTL_CHANGE_REPLACE, 1, 4); // node 1 leads groups 1 and 4: group 2 first
    assert_step(plan, 1, 1, CTL_CHANGE_REPLACE, 2, 4);
    apply_checked(model, plan, true);
    assert_true(balanced(model, false));
    assert_true(balanced(model, true));
    assert_int_equal(ctl_plan_rebalance(model, 8, plan), 0); // now balanced: nothing to do
    assert_int_equal(plan->step_count, 0);
    assert_string_equal(plan->reason, "");
    free(plan);
    free(model);
}

static void test_rebalance_new_fourth_and_fifth_nodes(void **state) {
    (void)state;
    struct ctl_model *model = model_grown(2);
    struct ctl_plan *plan = plan_new();
    // Replicas 4,4,4,0,0: mean 2.4, band 1, allowed 2..3.
    assert_int_equal(ctl_plan_rebalance(model, 2, plan), 0); // bounded by max_moves
    assert_int_equal(plan->step_count, 2);
    assert_int_equal(ctl_plan_rebalance(model, 8, plan), 0);
    assert_int_equal(plan->step_count, 4);
    assert_step(plan, 0, 2, CTL_CHANGE_REPLACE, 1, 4);
    assert_step(plan, 1, 1, CTL_CHANGE_REPLACE, 2, 5);
    assert_step(plan, 2, 4, CTL_CHANGE_REPLACE, 3, 4);
    assert_step(plan, 3, 3, CTL_CHANGE_REPLACE, 1, 5);
    for (uint32_t a = 0; a < plan->step_count; a++) {
        for (uint32_t b = 0; b < a; b++) {
            assert_int_not_equal(plan->steps[a].group_id, plan->steps[b].group_id);
        }
    }
    apply_checked(model, plan, true);
    assert_true(balanced(model, false));
    for (uint16_t id = 1; id <= 5; id++) {
        uint32_t count = 0;
        for (uint32_t g = 0; g < model->group_count; g++) count += is_member(&model->groups[g], id);
        assert_true(count >= 2 && count <= 3);
    }
    free(plan);
    free(model);
}

static void test_rebalance_primaries(void **state) {
    (void)state;
    struct ctl_model *model = model_new();
    nodes_add_active(model, 4);
    group_add(model, 1, 1, 2, 3, 1);
    group_add(model, 2, 1, 2, 4, 1);
    group_add(model, 3, 1, 3, 4, 1);
    group_add(model, 4, 2, 3, 4, 2);
    // Replicas 3 each (balanced); primaries 3,1,0,0: mean 1, allowed 0..2.
    struct ctl_plan *plan = plan_new();
    assert_int_equal(ctl_plan_rebalance(model, 8, plan), 0);
    assert_int_equal(plan->step_count, 1);
    assert_step(plan, 0, 1, CTL_CHANGE_MOVE_PRIMARY, 1, 3);
    apply_checked(model, plan, true);
    assert_true(balanced(model, true));
    free(plan);
    free(model);
}

static void test_rebalance_balanced_and_invalid(void **state) {
    (void)state;
    struct ctl_model *model = model_new();
    nodes_add_active(model, 3);
    group_add(model, 1, 1, 2, 3, 1);
    group_add(model, 2, 1, 2, 3, 2);
    group_add(model, 3, 1, 2, 3, 3);
    node_add(model, 4, CTL_NODE_CORDONED, true, ""); // not active: neither counted nor a target
    struct ctl_plan *plan = plan_new();
    assert_int_equal(ctl_plan_rebalance(model, 8, plan), 0);
    assert_int_equal(plan->step_count, 0);
    assert_string_equal(plan->reason, "");
    assert_int_equal(ctl_plan_rebalance(model, 0, plan), TC_EINVAL);
    assert_string_equal(plan->reason, "max_moves must be 1..64, got 0");
    assert_int_equal(ctl_plan_rebalance(model, 65, plan), TC_EINVAL);
    assert_int_equal(ctl_plan_rebalance(model, 64, plan), 0);
    for (uint32_t index = 0; index < 3; index++) model->nodes[index].live = false;
    assert_int_equal(ctl_plan_rebalance(model, 8, plan), TC_ENOENT);
    assert_string_equal(plan->reason, "cannot rebalance: no node is active and live");
    free(plan);
    free(model);
}

static void test_rebalance_stuck(void **state) {
    (void)state;
    struct ctl_model *model = model_new();
    node_add(model, 1, CTL_NODE_ACTIVE, true, "a");
    node_add(model, 2, CTL_NODE_CORDONED, false, "b"); // not active: neither counted nor a target
    node_add(model, 3, CTL_NODE_ACTIVE, true, "c");
    node_add(model, 4, CTL_NODE_ACTIVE, true, "b");
    struct ctl_group *busy = group_add(model, 1, 1, 2, 3, 1);
    busy->change = (struct ctl_change){CTL_CHANGE_MOVE_PRIMARY, 1, 3, 5, 1, 0};
    group_add(model, 2, 1, 2, 3, 3);
    group_add(model, 3, 1, 2, 3, 3);
    // Active live: 1, 3, 4 with 3, 3, 0 replicas: mean 2, allowed 1..3.
    struct ctl_plan *plan = plan_new();
    assert_int_equal(ctl_plan_rebalance(model, 8, plan), TC_EPERM);
    assert_int_equal(plan->step_count, 0);
    assert_string_equal(plan->reason,
                        "cannot rebalance: replicas per active live node should be within 1..3, "
                        "node 1 has 3 and node 4 has 0, but no replica can move safely; from node "
                        "1 to node 4: group 1: change in progress (C7); group 2: only 1 live "
                        "replica besides node 1 (C4); group 3: only 1 live replica besides node 1 "
                        "(C4)");
    node_get(model, 2)->live = true; // C4 met again; now zones decide: 4 is in 2's zone b (C3)
    assert_int_equal(ctl_plan_rebalance(model, 8, plan), TC_EPERM);
    assert_non_null(strstr(plan->reason, "group 2: node 4: zone b already used; group 3: node 4: "
                                         "zone b already used"));
    snprintf(node_get(model, 4)->zone, CTL_ZONE_SIZE_MAX, "a");
    assert_int_equal(ctl_plan_rebalance(model, 8, plan), 0);
    assert_int_equal(plan->step_count, 1);
    assert_step(plan, 0, 2, CTL_CHANGE_REPLACE, 1, 4); // group 1 is busy (C7)
    apply_checked(model, plan, true);
    free(plan);
    free(model);
}

// ------------------------------------------------------------------------------------------------
// Re-check, apply, formatting.

static void test_check_step(void **state) {
    (void)state;
    struct ctl_model *model = model_new();
    nodes_add_active(model, 5);
    struct ctl_group *group = group_add(model, 1, 1, 2, 3, 1);
    struct ctl_plan_step replace = {1, 1, CTL_CHANGE_REPLACE, 1, 4};
    struct ctl_plan_step lead = {2, 1, CTL_CHANGE_MOVE_PRIMARY, 1, 2};
    char reason[CTL_PLAN_REASON_SIZE];
    assert_int_equal(ctl_plan_check_step(model, &replace, reason, sizeof(reason)), 0);
    assert_string_equal(reason, "");
    assert_int_equal(ctl_plan_check_step(model, &lead, reason, sizeof(reason)), 0);
    node_get(model, 4)->state = CTL_NODE_CORDONED;
    assert_int_equal(ctl_plan_check_step(model, &replace, reason, sizeof(reason)), TC_EPERM);
    assert_string_equal(reason, "node 4 can no longer take node 1's replica of group 1: node 4: "
                                "cordoned");
    node_get(model, 4)->state = CTL_NODE_ACTIVE;
    node_get(model, 3)->state = CTL_NODE_DOWN;
    assert_int_equal(ctl_plan_check_step(model, &replace, reason, sizeof(reason)), TC_EPERM);
    assert_string_equal(reason, "group 1 would keep only 1 live replica besides node 1 (node 3: "
                                "down); a group needs 2 live replicas (C4)");
    assert_int_equal(ctl_plan_check_step(model, &lead, reason, sizeof(reason)), 0);
    node_get(model, 2)->live = false;
    assert_int_equal(ctl_plan_check_step(model, &lead, reason, sizeof(reason)), TC_EPERM);
    assert_string_equal(reason, "node 2 cannot take the primary of group 1: not live");
    node_get(model, 2)->live = true;
    node_get(model, 3)->state = CTL_NODE_ACTIVE;
    group->change = (struct ctl_change){CTL_CHANGE_REPLACE, 2, 5, 3, 1, 0};
    assert_int_equal(ctl_plan_check_step(model, &replace, reason, sizeof(reason)), TC_EPERM);
    assert_string_equal(reason, "group 1 already has a change in progress (replace 2->5, job 3 "
                                "step 1); one change per group at a time (C7)");
    group->change = (struct ctl_change){CTL_CHANGE_REPLACE, 1, 4, 3, 1, 0}; // this step, declared
    assert_int_equal(ctl_plan_check_step(model, &replace, reason, sizeof(reason)), 0);
    group->change.kind = CTL_CHANGE_NONE;
    group->primary_node = 2;
    assert_int_equal(ctl_plan_check_step(model, &lead, reason, sizeof(reason)), TC_EPERM);
    assert_string_equal(reason, "the primary of group 1 is node 2, not node 1");
    struct ctl_plan_step gone = {1, 9, CTL_CHANGE_REPLACE, 1, 4};
    assert_int_equal(ctl_plan_check_step(model, &gone, reason, sizeof(reason)), TC_EPERM);
    assert_string_equal(reason, "group 9 does not exist");
    struct ctl_plan_step zero = {1, 1, CTL_CHANGE_REPLACE, 0, 4};
    assert_int_equal(ctl_plan_check_step(model, &zero, reason, sizeof(reason)), TC_EPERM);
    assert_string_equal(reason, "step 1 of group 1 names node 0");
    struct ctl_plan_step itself = {1, 1, CTL_CHANGE_MOVE_PRIMARY, 2, 2};
    assert_int_equal(ctl_plan_check_step(model, &itself, reason, sizeof(reason)), TC_EPERM);
    assert_string_equal(reason, "step 1 of group 1 moves node 2 to itself");
    struct ctl_plan_step member = {1, 1, CTL_CHANGE_REPLACE, 1, 3};
    assert_int_equal(ctl_plan_check_step(model, &member, reason, sizeof(reason)), TC_EPERM);
    assert_string_equal(reason, "node 3 can no longer take node 1's replica of group 1: node 3: "
                                "already a member");
    free(model);
}

static void test_apply_to_model(void **state) {
    (void)state;
    struct ctl_model *model = model_new();
    nodes_add_active(model, 5);
    struct ctl_group *group = group_add(model, 7, 1, 2, 3, 2);
    struct ctl_plan_step step = {1, 7, CTL_CHANGE_MOVE_PRIMARY, 2, 3};
    assert_int_equal(ctl_plan_apply_to_model(model, &step), 0);
    assert_int_equal(group->primary_node, 3);
    assert_int_equal(group->epoch, 0);
    assert_int_equal(ctl_plan_apply_to_model(model, &step), TC_EINVAL); // 2 no longer leads
    step = (struct ctl_plan_step){2, 7, CTL_CHANGE_REPLACE, 3, 5};
    assert_int_equal(ctl_plan_apply_to_model(model, &step), 0);
    assert_int_equal(group->members[0], 1);
    assert_int_equal(group->members[1], 2);
    assert_int_equal(group->members[2], 5); // same slot
    assert_int_equal(group->primary_node, 0); // the primary left: unknown until heartbeats
    assert_int_equal(group->epoch, 1);
    step = (struct ctl_plan_step){3, 7, CTL_CHANGE_REPLACE, 1, 2};
    assert_int_equal(ctl_plan_apply_to_model(model, &step), TC_EINVAL); // 2 already a member
    step = (struct ctl_plan_step){3, 7, CTL_CHANGE_REPLACE, 4, 3};
    assert_int_equal(ctl_plan_apply_to_model(model, &step), TC_EINVAL); // 4 not a member
    step = (struct ctl_plan_step){3, 7, CTL_CHANGE_REPLACE, 1, 9};
    assert_int_equal(ctl_plan_apply_to_model(model, &step), TC_ENOENT); // no node 9
    step = (struct ctl_plan_step){3, 8, CTL_CHANGE_REPLACE, 1, 4};
    assert_int_equal(ctl_plan_apply_to_model(model, &step), TC_ENOENT); // no group 8
    assert_int_equal(group->members[0], 1);
    assert_int_equal(group->epoch, 1);
    free(model);
}

static void test_format(void **state) {
    (void)state;
    struct ctl_model *model = model_drain_primaries();
    struct ctl_plan *plan = plan_new();
    assert_int_equal(ctl_plan_drain(model, 1, plan), 0);
    char buffer[1024];
    assert_int_equal(ctl_plan_format_text(plan, buffer, sizeof(buffer)), 0);
    assert_string_equal(buffer, "step  group  kind          from  to\n"
                                "1     1      move_primary  1     3\n"
                                "2     3      move_primary  1     5\n"
                                "3     1      replace       1     6\n"
                                "4     2      replace       1     6\n"
                                "5     3      replace       1     6\n");
    assert_int_equal(ctl_plan_format_json(plan, buffer, sizeof(buffer)), 0);
    assert_string_equal(buffer,
                        "{\"steps\":["
                        "{\"from\":1,\"group\":1,\"kind\":\"move_primary\",\"step\":1,\"to\":3},"
                        "{\"from\":1,\"group\":3,\"kind\":\"move_primary\",\"step\":2,\"to\":5},"
                        "{\"from\":1,\"group\":1,\"kind\":\"replace\",\"step\":3,\"to\":6},"
                        "{\"from\":1,\"group\":2,\"kind\":\"replace\",\"step\":4,\"to\":6},"
                        "{\"from\":1,\"group\":3,\"kind\":\"replace\",\"step\":5,\"to\":6}]}");
    uint32_t json_length = (uint32_t)strlen(buffer);
    assert_int_equal(ctl_plan_format_json(plan, buffer, json_length + 1), 0);
    assert_int_equal(ctl_plan_format_json(plan, buffer, json_length), TC_ENOSPC);
    assert_string_equal(buffer, "");
    assert_int_equal(ctl_plan_format_text(plan, buffer, 50), TC_ENOSPC);
    assert_string_equal(buffer, "");
    plan->step_count = 0;
    assert_int_equal(ctl_plan_format_json(plan, buffer, sizeof(buffer)), 0);
    assert_string_equal(buffer, "{\"steps\":[]}");
    assert_int_equal(ctl_plan_format_text(plan, buffer, sizeof(buffer)), 0);
    assert_string_equal(buffer, "step  group  kind          from  to\n(no steps)\n");
    free(plan);
    free(model);
}

// ------------------------------------------------------------------------------------------------
// Property test: random models, every plan checked step by step.

static void random_nodes(struct tc_prng *prng, struct ctl_model *model) {
    uint32_t zone_mode = (uint32_t)tc_prng_below(prng, 3); // none, all, some
    uint32_t zone_count = (uint32_t)tc_prng_range(prng, 2, 4);
    uint32_t node_count = (uint32_t)tc_prng_range(prng, 3, 12);
    uint16_t id = 0;
    for (uint32_t index = 0; index < node_count; index++) {
        id = (uint16_t)(id + tc_prng_range(prng, 1, 3));
        enum ctl_node_state state = CTL_NODE_ACTIVE;
        if (tc_prng_chance_ppm(prng, 200000)) {
            state = (enum ctl_node_state)tc_prng_range(prng, CTL_NODE_CORDONED, CTL_NODE_DOWN);
        }
        bool live = state == CTL_NODE_DOWN ? tc_prng_chance_ppm(prng, 100000)
                                           : tc_prng_chance_ppm(prng, 900000);
        char zone[8] = "";
        if (zone_mode == 1 || (zone_mode == 2 && tc_prng_chance_ppm(prng, 500000))) {
            snprintf(zone, sizeof(zone), "z%u", (unsigned)tc_prng_below(prng, zone_count));
        }
        node_add(model, id, state, live, zone);
    }
}

static void random_group(struct tc_prng *prng, struct ctl_model *model, uint32_t group_id) {
    for (uint32_t attempt = 0; attempt < 20; attempt++) {
        uint16_t members[CTL_REPLICAS];
        for (uint32_t slot = 0; slot < CTL_REPLICAS; slot++) {
            members[slot] = model->nodes[tc_prng_below(prng, model->node_count)].id;
        }
        struct ctl_group *group = group_add(model, group_id, members[0], members[1], members[2], 0);
        if (!group_c3(model, group)) {
            model->group_count -= 1; // a model must start with C3 (placement built it)
            continue;
        }
        if (!tc_prng_chance_ppm(prng, 100000)) {
            group->primary_node = members[tc_prng_below(prng, CTL_REPLICAS)];
        }
        if (tc_prng_chance_ppm(prng, 80000)) {
            group->change.kind = tc_prng_chance_ppm(prng, 500000) ? CTL_CHANGE_REPLACE
                                                                   : CTL_CHANGE_MOVE_PRIMARY;
            group->change.from_node = members[0];
            group->change.to_node = model->nodes[tc_prng_below(prng, model->node_count)].id;
            group->change.job_id = 1;
            group->change.step = 1;
        }
        return;
    }
}

static void random_model(struct tc_prng *prng, struct ctl_model *model) {
    memset(model, 0, sizeof(*model));
    random_nodes(prng, model);
    uint32_t group_count = (uint32_t)tc_prng_below(prng, 25);
    uint32_t group_id = 0;
    for (uint32_t index = 0; index < group_count; index++) {
        group_id += (uint32_t)tc_prng_range(prng, 1, 4);
        random_group(prng, model, group_id);
    }
}

// What the drain of node_id must return, from the rules of ctl_plan.h checked independently.
static int drain_expected(const struct ctl_model *model, uint32_t node_id) {
    if (node_id == 0 || node_id > CTL_NODES_MAX) return TC_EINVAL;
    const struct ctl_node *node = find_node(model, (uint16_t)node_id);
    if (node == NULL) return TC_ENOENT;
    if (node->state == CTL_NODE_DRAINED) return TC_EPERM;
    bool no_target = false;
    for (uint32_t g = 0; g < model->group_count; g++) {
        const struct ctl_group *group = &model->groups[g];
        if (!is_member(group, node->id)) continue;
        if (group->change.kind != CTL_CHANGE_NONE) return TC_EPERM;
        if (live_besides(model, group, node->id) < 2) return TC_EPERM;
        if (!has_target(model, group, node->id)) no_target = true;
        if (group->primary_node != node->id) continue;
        bool leader = false;
        for (uint32_t slot = 0; slot < CTL_REPLICAS; slot++) {
            const struct ctl_node *other = find_node(model, group->members[slot]);
            bool state_ok = other->state == CTL_NODE_ACTIVE || other->state == CTL_NODE_CORDONED;
            if (other->id != node->id && state_ok && is_live(model, other->id)) leader = true;
        }
        if (!leader) return TC_EPERM;
    }
    return no_target ? TC_ENOENT : 0;
}

struct property_counts {
    uint32_t drain_steps;   // drains that returned steps
    uint32_t drain_eperm;
    uint32_t drain_enoent;
    uint32_t rebalance_steps;
    uint32_t rebalance_empty;
    uint32_t rebalance_eperm;
    uint32_t rebalance_stuck; // plans that stopped short of max_moves unbalanced
};

static void property_drain(const struct ctl_model *model, struct ctl_model *copy,
                           struct tc_prng *prng, struct ctl_plan *plan, struct ctl_plan *again,
                           struct property_counts *counts) {
    uint32_t node_id = tc_prng_chance_ppm(prng, 900000)
                           ? model->nodes[tc_prng_below(prng, model->node_count)].id
                           : (uint32_t)tc_prng_below(prng, 300);
    int result = ctl_plan_drain(model, node_id, plan);
    assert_int_equal(ctl_plan_drain(model, node_id, again), result); // deterministic
    assert_int_equal(again->step_count, plan->step_count);
    assert_memory_equal(again->steps, plan->steps, plan->step_count * sizeof(plan->steps[0]));
    assert_int_equal(result, drain_expected(model, node_id));
    if (result != 0) {
        assert_int_equal(plan->step_count, 0);
        assert_true(strlen(plan->reason) > 0);
        counts->drain_eperm += result == TC_EPERM;
        counts->drain_enoent += result == TC_ENOENT;
        return;
    }
    uint32_t replaces = 0;
    uint32_t leads = 0;
    for (uint32_t g = 0; g < model->group_count; g++) {
        replaces += is_member(&model->groups[g], (uint16_t)node_id);
        leads += model->groups[g].primary_node == node_id;
    }
    assert_int_equal(plan->step_count, replaces + leads);
    for (uint32_t index = 0; index < plan->step_count; index++) { // primaries first
        enum ctl_change_kind kind = index < leads ? CTL_CHANGE_MOVE_PRIMARY : CTL_CHANGE_REPLACE;
        assert_int_equal(plan->steps[index].kind, kind);
        assert_int_equal(plan->steps[index].from_node, node_id);
    }
    memcpy(copy, model, sizeof(*model));
    apply_checked(copy, plan, false);
    assert_int_equal(hosted(copy, (uint16_t)node_id), 0);
    counts->drain_steps += plan->step_count > 0;
}

static bool active_live(const struct ctl_node *node) {
    return node->state == CTL_NODE_ACTIVE && node->live;
}

static uint32_t count_on(const struct ctl_model *model, uint16_t id, bool primaries) {
    uint32_t count = 0;
    for (uint32_t g = 0; g < model->group_count; g++) {
        const struct ctl_group *group = &model->groups[g];
        count += primaries ? group->primary_node == id : is_member(group, id);
    }
    return count;
}

// Whether some group not in the plan (moved) could still move a replica (or its primary) from a
// node to one with at least 2 fewer, keeping C3, C4 and C7: rebalance must not stop while one can.
static bool move_exists(const struct ctl_model *model, const bool *moved, bool primaries) {
    for (uint32_t g = 0; g < model->group_count; g++) {
        const struct ctl_group *group = &model->groups[g];
        if (moved[g] || group->change.kind != CTL_CHANGE_NONE) continue;
        for (uint32_t s = 0; s < model->node_count; s++) {
            const struct ctl_node *source = &model->nodes[s];
            bool hosts = primaries ? group->primary_node == source->id
                                   : is_member(group, source->id);
            if (!active_live(source) || !hosts) continue;
            if (live_besides(model, group, primaries ? 0 : source->id) < 2) continue;
            for (uint32_t d = 0; d < model->node_count; d++) {
                const struct ctl_node *target = &model->nodes[d];
                if (!active_live(target)) continue;
                uint32_t from_count = count_on(model, source->id, primaries);
                if (from_count < count_on(model, target->id, primaries) + 2) continue;
                bool fits = primaries ? is_member(group, target->id)
                                      : may_take(model, group, source->id, target);
                if (fits) return true;
            }
        }
    }
    return false;
}

static void property_rebalance(const struct ctl_model *model, struct ctl_model *copy,
                               struct tc_prng *prng, struct ctl_plan *plan, struct ctl_plan *again,
                               struct property_counts *counts) {
    uint32_t max_moves = tc_prng_chance_ppm(prng, 50000) ? (uint32_t)tc_prng_below(prng, 2) * 65
                                                         : (uint32_t)tc_prng_range(prng, 1, 64);
    int result = ctl_plan_rebalance(model, max_moves, plan);
    assert_int_equal(ctl_plan_rebalance(model, max_moves, again), result); // deterministic
    assert_int_equal(again->step_count, plan->step_count);
    assert_memory_equal(again->steps, plan->steps, plan->step_count * sizeof(plan->steps[0]));
    bool any_active = false;
    for (uint32_t n = 0; n < model->node_count; n++) any_active |= active_live(&model->nodes[n]);
    if (max_moves == 0 || max_moves == 65) {
        assert_int_equal(result, TC_EINVAL);
        return;
    }
    if (!any_active) {
        assert_int_equal(result, TC_ENOENT);
        return;
    }
    bool was_balanced = balanced(model, false) && balanced(model, true);
    if (result == TC_EPERM) {
        assert_int_equal(plan->step_count, 0);
        assert_false(was_balanced);
        counts->rebalance_eperm += 1;
        return;
    }
    assert_int_equal(result, 0);
    assert_true(plan->step_count <= max_moves);
    if (plan->step_count == 0) {
        assert_true(was_balanced);
        counts->rebalance_empty += 1;
        return;
    }
    bool moved[CTL_GROUPS_MAX] = {false};
    for (uint32_t index = 0; index < plan->step_count; index++) {
        uint32_t g = 0;
        while (model->groups[g].id != plan->steps[index].group_id) g++;
        assert_false(moved[g]); // never the same group twice
        moved[g] = true;
    }
    memcpy(copy, model, sizeof(*model));
    apply_checked(copy, plan, true);
    counts->rebalance_steps += 1;
    if (plan->step_count == max_moves) return;
    // Stopped early: balanced, or no move is left for the phase that is not.
    if (!balanced(copy, false)) {
        assert_false(move_exists(copy, moved, false));
        counts->rebalance_stuck += 1;
    } else if (!balanced(copy, true)) {
        assert_false(move_exists(copy, moved, true));
        counts->rebalance_stuck += 1;
    }
}

static void test_property_random_models(void **state) {
    (void)state;
    struct ctl_model *model = model_new();
    struct ctl_model *copy = model_new();
    struct ctl_plan *plan = plan_new();
    struct ctl_plan *again = plan_new();
    struct tc_prng prng;
    tc_prng_init(&prng, 0x7c0de2026u);
    struct property_counts counts = {0};
    for (uint32_t iteration = 0; iteration < 1000; iteration++) {
        random_model(&prng, model);
        property_drain(model, copy, &prng, plan, again, &counts);
        property_rebalance(model, copy, &prng, plan, again, &counts);
    }
    print_message("drain: %u with steps, %u EPERM, %u ENOENT; rebalance: %u with steps, %u empty, "
                  "%u EPERM, %u stopped unbalanced\n", counts.drain_steps, counts.drain_eperm,
                  counts.drain_enoent, counts.rebalance_steps, counts.rebalance_empty,
                  counts.rebalance_eperm, counts.rebalance_stuck);
    // The generator must reach every outcome, or the properties above prove little.
    assert_true(counts.drain_steps >= 100);
    assert_true(counts.drain_eperm >= 50);
    assert_true(counts.drain_enoent >= 20);
    assert_true(counts.rebalance_steps >= 100);
    assert_true(counts.rebalance_empty >= 20);
    assert_true(counts.rebalance_eperm >= 10);
    free(again);
    free(plan);
    free(copy);
    free(model);
}

// The bounds: 255 nodes, 1,024 groups all led by node 1; its drain takes CTL_PLAN_STEPS_MAX steps.
static void test_large_cluster(void **state) {
    (void)state;
    struct ctl_model *model = model_new();
    nodes_add_active(model, CTL_NODES_MAX);
    for (uint32_t index = 0; index < CTL_GROUPS_MAX; index++) {
        uint16_t b = (uint16_t)(2 + index % 254);
        uint16_t c = (uint16_t)(2 + (index + 1) % 254);
        group_add(model, index + 1, 1, b, c, 1);
    }
    struct ctl_plan *plan = plan_new();
    assert_int_equal(ctl_plan_drain(model, 1, plan), 0);
    assert_int_equal(plan->step_count, CTL_PLAN_STEPS_MAX);
    apply_checked(model, plan, false);
    assert_int_equal(hosted(model, 1), 0);
    uint32_t low = UINT32_MAX;
    uint32_t high = 0;
    for (uint16_t id = 2; id <= CTL_NODES_MAX; id++) {
        uint32_t count = count_on(model, id, false);
        if (count < low) low = count;
        if (count > high) high = count;
    }
    assert_true(high - low <= 1); // the drain spread its 1,024 replicas evenly
    // Node 1 is still active and now empty: rebalance fills it, 64 moves at most.
    assert_false(balanced(model, false));
    assert_int_equal(ctl_plan_rebalance(model, CTL_PLAN_MOVES_MAX, plan), 0);
    assert_true(plan->step_count >= 11 && plan->step_count <= CTL_PLAN_MOVES_MAX);
    apply_checked(model, plan, true);
    assert_true(balanced(model, false));
    char *text = malloc(128u * 1024u);
    assert_non_null(text);
    assert_int_equal(ctl_plan_format_text(plan, text, 128u * 1024u), 0);
    free(text);
    free(plan);
    free(model);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placement_new_group_least_loaded),
        cmocka_unit_test(test_placement_new_group_zones),
        cmocka_unit_test(test_placement_partial_zones),
        cmocka_unit_test(test_placement_zone_pair),
        cmocka_unit_test(test_placement_refusal_reason),
        cmocka_unit_test(test_placement_replacement),
        cmocka_unit_test(test_drain_primaries_first),
        cmocka_unit_test(test_drain_spreads_out),
        cmocka_unit_test(test_drain_refused_member_down),
        cmocka_unit_test(test_drain_refused_no_target),
        cmocka_unit_test(test_drain_refusals),
        cmocka_unit_test(test_drain_zones),
        cmocka_unit_test(test_rebalance_new_fourth_node),
        cmocka_unit_test(test_rebalance_new_fourth_and_fifth_nodes),
        cmocka_unit_test(test_rebalance_primaries),
        cmocka_unit_test(test_rebalance_balanced_and_invalid),
        cmocka_unit_test(test_rebalance_stuck),
        cmocka_unit_test(test_check_step),
        cmocka_unit_test(test_apply_to_model),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_large_cluster),
        cmocka_unit_test(test_property_random_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
