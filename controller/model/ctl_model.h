#ifndef CTL_MODEL_H
#define CTL_MODEL_H

// The controller's in-memory picture of the cluster (docs/controller.md §4–§7): plain, bounded
// structs, filled from SQLite by the store (controller/store) and read by placement and plans
// (controller/plan), which are pure functions of it. No pointers, no allocation: a model can be
// copied, compared and built by hand in tests.

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_NODES_MAX 255u
#define CTL_GROUPS_MAX 1024u
#define CTL_REPLICAS 3u
#define CTL_SLOTS 4096u           // hash slots (fixed at format)
#define CTL_ZONE_SIZE_MAX 64u     // bytes including the NUL
#define CTL_ADDRESS_SIZE_MAX 262u // "host:port" including the NUL
#define CTL_KEY_HEX_SIZE 65u      // 64 lowercase hex digits and the NUL

enum ctl_node_state {
    CTL_NODE_ACTIVE = 0,
    CTL_NODE_CORDONED,
    CTL_NODE_DRAINING,
    CTL_NODE_DRAINED,
    CTL_NODE_DOWN,
};

struct ctl_node {
    uint16_t id; // 1..255
    enum ctl_node_state state;
    bool live; // a heartbeat within the liveness window (observation, not chained)
    char zone[CTL_ZONE_SIZE_MAX]; // "" when unset
    char public_key[CTL_KEY_HEX_SIZE];
    char address_peer[CTL_ADDRESS_SIZE_MAX];
    char address_client[CTL_ADDRESS_SIZE_MAX];
    char address_admin[CTL_ADDRESS_SIZE_MAX];
};

enum ctl_change_kind {
    CTL_CHANGE_NONE = 0,
    CTL_CHANGE_MOVE_PRIMARY,
    CTL_CHANGE_REPLACE,
};

// A membership or leadership change declared for a group (at most one: invariant C7).
struct ctl_change {
    enum ctl_change_kind kind;
    uint16_t from_node;
    uint16_t to_node;
    uint64_t job_id;
    uint32_t step;
    uint64_t learner_id; // replace: the new node's learner replica, once caught up (0: not yet)
};

struct ctl_group {
    uint32_t id; // 1..65535
    uint64_t epoch;
    uint16_t members[CTL_REPLICAS]; // distinct node ids, by slot
    uint16_t primary_node;          // one of members, or 0 when unknown
    struct ctl_change change;
};

struct ctl_model {
    uint32_t node_count;
    struct ctl_node nodes[CTL_NODES_MAX]; // sorted by id
    uint32_t group_count;
    struct ctl_group groups[CTL_GROUPS_MAX]; // sorted by id
    uint32_t slot_group[CTL_SLOTS];          // slot -> group id (0: unassigned)
};

// Lookups by id (nodes and groups are sorted by id): binary search.
static inline const struct ctl_node *ctl_model_node_find(const struct ctl_model *model,
                                                         uint64_t node_id) {
    uint32_t low = 0;
    uint32_t high = model->node_count;
    while (low < high) {
        const uint32_t middle = low + (high - low) / 2;
        if (model->nodes[middle].id == node_id) return &model->nodes[middle];
        if (model->nodes[middle].id < node_id) low = middle + 1;
        if (model->nodes[middle].id > node_id) high = middle;
    }
    return NULL;
}

// The index of group `group_id`, or -1.
static inline int32_t ctl_model_group_find(const struct ctl_model *model, uint64_t group_id) {
    uint32_t low = 0;
    uint32_t high = model->group_count;
    while (low < high) {
        const uint32_t middle = low + (high - low) / 2;
        if (model->groups[middle].id == group_id) return (int32_t)middle;
        if (model->groups[middle].id < group_id) low = middle + 1;
        if (model->groups[middle].id > group_id) high = middle;
    }
    return -1;
}

#endif
