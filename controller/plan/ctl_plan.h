#ifndef CTL_PLAN_H
#define CTL_PLAN_H

// Plans (docs/controller.md §7): the steps that drain a node or rebalance the cluster, computed
// from a struct ctl_model. Pure functions: no I/O, no allocation, no clock; the same model always
// gives the same plan. A plan does not carry the topology hash: the caller binds it (C5).
//
// All functions return 0 or a negative TC_E* code; a refused plan has 0 steps and an
// operator-facing reason. Every plan returned with 0 is verified before it is returned (tc_assert,
// all builds): replaying its steps in order keeps every touched group with 3 distinct members (3
// distinct zones when all 3 have one: C3), never starts a step on a group that has fewer than 2
// live members that stay (C4), and never touches a group that has a change in progress (C7).
//
// Rules (the lead copies them into docs/controller.md §7):
//  - "Live" member: the node has a recent heartbeat and is not in state `down`.
//  - C4 for every step: a `replace FROM -> TO` needs at least 2 live members other than FROM. The
//    new replica joins as a learner, syncs, and only then does FROM retire, so the group keeps
//    those >= 2 live members throughout, and 3 once TO has joined. A `move_primary` needs at least
//    2 live members (a leadership transfer needs a quorum) and does not change membership.
//  - C7: a group whose `change` is set is never part of a plan (drain refuses; rebalance skips it).
//  - drain NODE: refused (TC_EINVAL) for an id outside 1..255, (TC_ENOENT) for an unknown node,
//    (TC_EPERM) for a node already `drained`, or when any group hosting NODE has a change in
//    progress or fewer than 2 live members other than NODE. A node in state `draining` can be
//    planned again (resuming a failed or cancelled drain covers what is left); a node that is
//    down can be drained (its replicas are rebuilt elsewhere). Steps, groups in id order:
//      1. for every group whose primary is NODE: move_primary to the member other than NODE that
//         is live and `active` or `cordoned` with the fewest (primaries, replicas, id) — primary
//         count first because that is the load a primary adds; none: TC_EPERM;
//      2. for every group with a replica on NODE: replace NODE -> placement's pick (§6) with NODE
//         as the leaving member; none: TC_ENOENT naming the excluded nodes.
//    Loads (replicas, primaries per node) are updated after every step, so later picks see the
//    earlier ones and the drain spreads out. A node hosting nothing gives an empty plan.
//  - rebalance MAX_MOVES (1..64, else TC_EINVAL): A = the nodes `active` and live (none:
//    TC_ENOENT). Replica counts are balanced when every node of A is within
//    band = max(1, ceil(mean x 0.10)) of the mean (mean of A's counts; integer arithmetic:
//    |count x n - sum| <= band x n). Replicas on nodes outside A are neither moved nor counted.
//    While not balanced and steps < MAX_MOVES: try sources from the most loaded (ties: lowest id)
//    and destinations from the least loaded (ties: lowest id), only pairs whose counts differ by
//    >= 2 (so every move narrows the spread and the loop ends); for a pair, the groups of the
//    source in id order, groups whose primary is not the source first; the first group that is
//    not yet in the plan, has no change (C7), keeps C4 and accepts the destination under
//    placement's rules (§6, C3) moves: replace SOURCE -> DEST. No such move: stop. Then primaries,
//    the same way and band over the primary counts of A: move_primary SOURCE -> DEST for a group
//    led by SOURCE of which DEST is a member. A group appears at most once in a rebalance plan.
//    Balanced replicas and primaries: 0 steps, return 0. Unbalanced but no move possible:
//    TC_EPERM, naming the most and least loaded nodes and why each of the source's groups cannot
//    move. Some moves found, then stuck: return 0 with those steps (a partial improvement).
//    A replace of the source's own primary happens only when none of the groups it does not lead
//    can move to that destination; it leaves the group's primary unknown (0) until heartbeats
//    show the new view.

#include <stdbool.h>
#include <stdint.h>

#include "ctl_model.h"
#include "ctl_placement.h"

// A drain takes at most one move_primary and one replace per group.
#define CTL_PLAN_STEPS_MAX (2u * CTL_GROUPS_MAX)
#define CTL_PLAN_REASON_SIZE CTL_PLACEMENT_REASON_SIZE
#define CTL_PLAN_MOVES_MIN 1u
#define CTL_PLAN_MOVES_MAX 64u
#define CTL_PLAN_MOVES_DEFAULT 8u

struct ctl_plan_step {
    uint32_t step;             // 1-based position in the plan
    uint32_t group_id;
    enum ctl_change_kind kind; // CTL_CHANGE_MOVE_PRIMARY or CTL_CHANGE_REPLACE
    uint16_t from_node;
    uint16_t to_node;
};

struct ctl_plan {
    uint32_t step_count;
    struct ctl_plan_step steps[CTL_PLAN_STEPS_MAX];
    char reason[CTL_PLAN_REASON_SIZE]; // "" unless the plan was refused
};

// Drain node_id (rules above). 0 with the steps (possibly none), or TC_EINVAL / TC_ENOENT /
// TC_EPERM with out->reason.
int ctl_plan_drain(const struct ctl_model *model, uint32_t node_id, struct ctl_plan *out);

// Rebalance with at most max_moves steps (rules above).
int ctl_plan_rebalance(const struct ctl_model *model, uint32_t max_moves, struct ctl_plan *out);

// Re-checks one step against a fresh model before the executor starts it: the group exists and has
// no other change in progress (a change equal to this step, already declared, is accepted: C7); for
// move_primary, FROM is still the primary, TO still a member, live and `active` or `cordoned`, and
// the group has >= 2 live members; for replace, FROM is still a member, the group has >= 2 live
// members other than FROM (C4) and placement still accepts TO with FROM leaving (C3: active, live,
// not a member, zones). 0, or TC_EPERM with the reason.
int ctl_plan_check_step(const struct ctl_model *model, const struct ctl_plan_step *step,
                        char *reason, uint32_t reason_size);

// Applies a completed step to model: move_primary sets the primary; replace puts TO in FROM's slot,
// bumps the group's epoch and clears the primary if it was FROM. The group's `change` is left as
// it is. TC_ENOENT when the group or TO is unknown, TC_EINVAL when the step does not apply (FROM
// not the primary / not a member, TO not a member / already a member); the model is then unchanged.
int ctl_plan_apply_to_model(struct ctl_model *model, const struct ctl_plan_step *step);

// "move_primary" or "replace".
const char *ctl_plan_kind_name(enum ctl_change_kind kind);

// A table for humans, one line per step:
//   step  group  kind          from  to
//   1     3      move_primary  2     1
// and "(no steps)" under the header for an empty plan. TC_ENOSPC when buffer is too small (the
// buffer then holds "").
int ctl_plan_format_text(const struct ctl_plan *plan, char *buffer, uint32_t size);

// Canonical JSON (keys sorted, no whitespace, integers only):
//   {"steps":[{"from":2,"group":3,"kind":"move_primary","step":1,"to":1}]}
// TC_ENOSPC when buffer is too small (the buffer then holds "").
int ctl_plan_format_json(const struct ctl_plan *plan, char *buffer, uint32_t size);

#endif
