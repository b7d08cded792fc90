#ifndef CTL_MODEL_H
#define CTL_MODEL_H

// The controller's in-memory picture of the cluster (docs/controller.md §4–§7): plain, bounded
// structs, filled from SQLite by the store (controller/store) and read by placement and plans
// (controller/plan), which are pure functions of it. No pointers, no allocation: a model can be
// copied, compared and built by hand in tests.

#include <stdbool.h>
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

#endif
