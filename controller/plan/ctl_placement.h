#ifndef CTL_PLACEMENT_H
#define CTL_PLACEMENT_H

// Placement (docs/controller.md §6): which node takes a new replica of a group. Pure functions of a
// struct ctl_model: no I/O, no allocation, no clock. All functions return 0 or a negative TC_E*
// code (tc_err.h); programmer errors (a malformed model, NULL) are asserted.
//
// Rules (the lead copies them into docs/controller.md §6):
//  - A candidate for a new replica of group G is a node in state `active` that is live (a recent
//    heartbeat), is not a member of G and is not the member being replaced.
//  - Zones. Let M be G's members that stay (the member being replaced excluded). A candidate
//    without a zone never conflicts. A zoned candidate is excluded when
//      (a) diversity is enforced — every candidate and every node of M has a non-empty zone — and
//          a node of M already uses its zone; or
//      (b) M is 2 zoned nodes and the candidate would leave the group's 3 zones not distinct (a
//          node of M uses its zone, or M's two nodes share one): C3 stays literally true.
//    So when zones are set on only some nodes, diversity is not enforced beyond (b): a partial
//    zone setup is treated as "no zones", and e.g. a new group may get two nodes of zone a and
//    one without a zone. With every node zoned this is docs §6's rule ((b) then only adds the
//    case of a group that already breaks C3).
//  - Among candidates the least loaded wins, by (replicas hosted, primaries hosted, node id).
//  - A new group takes the 3 best candidates one by one, each pick joining M before the next;
//    its first member is its initial primary.
//  - Refusals name every excluded node outside the group and why, in node id order:
//    "node 3: cordoned; node 4: down; node 5: not live; node 6: zone b already used".

#include <stdbool.h>
#include <stdint.h>

#include "ctl_model.h"

// Bytes of the reason texts the controller returns to operators (NUL included).
#define CTL_PLACEMENT_REASON_SIZE 1024u

// Load per node, indexed by node id (index 0 unused).
struct ctl_placement_loads {
    uint32_t replicas[CTL_NODES_MAX + 1];
    uint32_t primaries[CTL_NODES_MAX + 1];
};

// Bounded text for reasons: appends are cut at the buffer's end, which then reads "...".
struct ctl_placement_text {
    char *buffer;
    uint32_t size;   // bytes of buffer, >= 4
    uint32_t length; // bytes written, NUL excluded
    bool truncated;
};

void ctl_placement_text_init(struct ctl_placement_text *text, char *buffer, uint32_t size);
__attribute__((format(printf, 2, 3))) void
ctl_placement_text_append(struct ctl_placement_text *text, const char *format, ...);

// Why a node can or cannot take a new replica of a group.
enum ctl_placement_verdict {
    CTL_PLACEMENT_OK = 0,
    CTL_PLACEMENT_MEMBER,     // already a member of the group
    CTL_PLACEMENT_LEAVING,    // the member being replaced
    CTL_PLACEMENT_STATE,      // state is not `active` (cordoned, draining, drained, down)
    CTL_PLACEMENT_NOT_LIVE,   // active but no recent heartbeat
    CTL_PLACEMENT_ZONE_USED,  // its zone is already used by a member that stays
    CTL_PLACEMENT_ZONE_PAIR,  // the two members that stay share a zone: a zoned node breaks C3
};

// A group for placement: its members (0 marks an empty slot while a new group is being picked) and
// the member being replaced (0: none).
struct ctl_placement_group {
    uint16_t members[CTL_REPLICAS];
    uint16_t leaving_node;
};

// The three members of a new group, best first (members_out[0] is the initial primary). On
// TC_ENOENT (fewer than 3 candidates) members_out is zeroed and reason names the excluded nodes.
int ctl_placement_new_group(const struct ctl_model *model, uint16_t members_out[CTL_REPLICAS],
                            char *reason, uint32_t reason_size);

// The node that should replace excluded_node in model->groups[group_index]. TC_EINVAL when
// excluded_node is not a member; TC_ENOENT (with the reason) when no candidate exists.
int ctl_placement_replacement(const struct ctl_model *model, uint32_t group_index,
                              uint16_t excluded_node, uint16_t *target_out, char *reason,
                              uint32_t reason_size);

// ------------------------------------------------------------------------------------------------
// Building blocks, shared with plan computation (ctl_plan.c), which places against loads and
// members already changed by earlier steps of the same plan.

// Replicas and primaries hosted per node, counted from model->groups.
void ctl_placement_loads_from_model(const struct ctl_model *model,
                                    struct ctl_placement_loads *loads_out);

// (replicas, primaries, id) of a is smaller than that of b.
bool ctl_placement_less_loaded(const struct ctl_placement_loads *loads, uint16_t a, uint16_t b);

// Whether zone diversity is enforced for a new replica of group (the rule above). O(nodes).
bool ctl_placement_zones_enforced(const struct ctl_model *model,
                                  const struct ctl_placement_group *group);

// The verdict on node_id for a new replica of group; zones_enforced from the function above.
enum ctl_placement_verdict ctl_placement_judge(const struct ctl_model *model,
                                               const struct ctl_placement_group *group,
                                               bool zones_enforced, uint16_t node_id);

// The least loaded candidate. TC_ENOENT when there is none; the reason then lists the excluded
// nodes outside the group ("node 3: cordoned; ..." or "no node outside the group").
int ctl_placement_pick(const struct ctl_model *model, const struct ctl_placement_loads *loads,
                       const struct ctl_placement_group *group, uint16_t *target_out,
                       char *reason, uint32_t reason_size);

// Appends "node N: why" for a verdict other than OK (zone names come from the model).
void ctl_placement_explain(const struct ctl_model *model, const struct ctl_placement_group *group,
                           uint16_t node_id, enum ctl_placement_verdict verdict,
                           struct ctl_placement_text *text);

// Model checks (lookups by id: ctl_model_node_find, ctl_model_group_find in ctl_model.h).
// A member that counts towards C4: live and not in state `down`.
bool ctl_placement_node_live(const struct ctl_model *model, uint16_t node_id);
const char *ctl_placement_state_name(enum ctl_node_state state);
// Asserts the model's structure: sorted unique ids, 3 distinct known members per group, primary
// one of them or 0, NUL-terminated zones. O(groups × log nodes).
void ctl_placement_model_assert(const struct ctl_model *model);

#endif
