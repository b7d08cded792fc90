#ifndef TC_NODE_REPLACE_H
#define TC_NODE_REPLACE_H

// Replica replacement on running nodes (docs/node.md §14; the controller's side is
// docs/controller.md §7 "replace F -> T", the replica's docs/vsr.md §11.4):
//
//   not hosted ──topology: replace F -> this node──▶ learner ──reconfigure committed──▶ member
//   member ──replaced (its replica retired) and the topology's members left this node──▶ retired
//   retired ──no I/O in flight: closed, freed, files renamed group-G.retired-<epoch>.*──▶
//   not hosted
//
// The pure parts (routing, the identity file's text, the decisions) are tested by
// tests/unit/test_node_ctl.c; the loop-side driver needs struct node (node.h).

#include <stdbool.h>
#include <stdint.h>

#include "constants.h"
#include "header.h"
#include "node_ctl.h"

#define NODE_IDENTITY_FILE_SUFFIX "identity"
#define NODE_IDENTITY_SIZE_MAX 512u // the identity file's text (~130 bytes)
#define NODE_IDENTITY_MAGIC "tigerchat-replica-identity-v1"
// The low byte of every replica id a replacement draws. Epoch-0 ids (node_member_id_epoch0) end
// in 0x10 | slot, so the two kinds never collide; the 56 random bits keep replacements apart.
#define NODE_REPLACE_ID_TAG 0x80u
#define NODE_RECONFIGURE_RETRY_MS 1000u  // after an answer other than ok
#define NODE_RETIRE_WAIT_WARN_MS 10000u  // a retiring replica still has I/O in flight: warn

// ------------------------------------------------------------------------------------------------
// Routing (docs/node.md §14): where a replica's or client's message to a group address goes.

struct node_route {
    uint8_t replica_count;
    uint16_t members[TC_REPLICAS_MAX]; // node ids by slot: the newest topology's, else the config's
    uint64_t epoch;                    // that topology's epoch of the group (0: the config's)
    // A slot's member before `epoch` began, when the route saw it change (0: none): a replaced
    // replica that has not learned its replacement yet still gets what names an older epoch.
    uint16_t previous[TC_REPLICAS_MAX];
    bool change;                       // a replace of change_slot by change_to is pending
    uint8_t change_slot;
    uint16_t change_to;
};

#define NODE_ROUTE_TARGETS_MAX 2u

// The nodes a message to `address` (a slot, or TC_REPLICA_ADDRESS_LEARNER(slot)) in `epoch` (the
// sender's naming, or TC_EPOCH_CURRENT) goes to; returns how many (0: an address beyond the
// group's slots). With a replace of slot s pending, the learner address of s and a slot address s
// named in an epoch after the route's go to the replacement; everything else to the slot's member,
// and a slot address named in an epoch before the route's also to the slot's previous member.
uint32_t node_route_targets(const struct node_route *route, uint8_t address, uint32_t epoch,
                            uint16_t targets[NODE_ROUTE_TARGETS_MAX]);

// Installs a topology's entry for the group (members, epoch, a pending replace). TC_EINVAL, the
// route unchanged, when the entry does not fit the group: another slot count, a member id of 0 or
// twice. A replace whose `from` is not a member is not routed (change stays false). A newer epoch
// remembers the members it replaced (`previous`); the same epoch keeps them.
int node_route_install(struct node_route *route, const struct node_ctl_topology_group *entry);

// The slot of node_id in the route's members, or -1.
int32_t node_route_slot(const struct node_route *route, uint16_t node_id);

// ------------------------------------------------------------------------------------------------
// Replica ids.

// The epoch-0 member id of (cluster, group, slot): a pure function, so that every node formats the
// same configuration without coordination (docs/node.md §2). Never 0, low byte 0x10 | slot.
uint64_t node_member_id_epoch0(uint64_t cluster, uint32_t group, uint8_t slot);
// A replacement's id from 64 random bits: low byte NODE_REPLACE_ID_TAG, never 0, never an epoch-0
// id, never the id of a learner address.
uint64_t node_replica_id_draw(uint64_t random_bits);

// ------------------------------------------------------------------------------------------------
// The identity file <data_dir>/group-G.identity: who a replica started by a replacement is.
// Written (temporary file, fsync, rename, fsync of the directory) before its storage is formatted;
// a group with one is hosted with it at every start, and never formatted again.

struct node_identity {
    uint64_t cluster;
    uint32_t group;
    uint8_t slot;
    uint64_t replica_id;
    uint64_t job;
    uint64_t step;
};

// The file's text: the magic line, then "cluster N", "group N", "slot N", "replica_id N",
// "job N", "step N" lines, decimal. Returns its size (NUL excluded) or TC_ENOSPC.
int32_t node_identity_encode(const struct node_identity *identity, char *out, uint32_t capacity);
// Exactly what node_identity_encode writes (no leading zeros, no other bytes). TC_EINVAL otherwise,
// also for a slot >= TC_REPLICAS_MAX, a replica_id of 0 or a group of 0.
int node_identity_decode(const char *text, uint32_t size, struct node_identity *identity);
// TC_ENOENT when the group has no identity file; TC_EINVAL (malformed, or another group's),
// TC_ETOOBIG, TC_EIO with a message in error.
int node_identity_read(const char *data_dir, uint32_t group, struct node_identity *identity,
                       char error[NODE_CTL_ERROR_SIZE]);
int node_identity_write(const char *data_dir, const struct node_identity *identity,
                        char error[NODE_CTL_ERROR_SIZE]);

// ------------------------------------------------------------------------------------------------
// Decisions (pure).

enum node_learner_decision {
    NODE_LEARNER_NONE = 0,       // not a replace to this node, hosted already, or tried
    NODE_LEARNER_START,          // format and start a learner in from_slot
    NODE_LEARNER_FROM_UNKNOWN,   // the replaced node is not a member: log, not acted on
};

// change: the group's change (kind replace). from_slot: the slot of change->from_node in the
// topology's members (-1: not a member). tried: a learner start was attempted for this step.
enum node_learner_decision node_learner_decide(const struct node_ctl_change *change,
                                               uint16_t node_id, bool hosted, int32_t from_slot,
                                               bool tried);

enum node_reconfigure_decision {
    NODE_RECONFIGURE_NONE = 0, // no learner named, or not this node's business
    NODE_RECONFIGURE_WAIT,     // the local replica is not a normal primary of the topology's epoch
    NODE_RECONFIGURE_SUBMIT,   // *body is the request
    NODE_RECONFIGURE_APPLIED,  // the slot already holds the learner: done
};

// The local replica's view of the group: its acting epoch, whether it leads a normal view, and the
// id its acting configuration names for the slot being replaced.
struct node_reconfigure_input {
    const struct node_ctl_change *change; // kind replace, learner_known
    uint64_t topology_epoch;
    int32_t slot; // the slot of change->from_node in the topology's members (-1: none)
    bool primary_normal;
    uint32_t acting_epoch;
    uint64_t slot_member_id;
};

enum node_reconfigure_decision node_reconfigure_decide(const struct node_reconfigure_input *input,
                                                       struct tc_reconfigure *body);
// The request body's bytes (little-endian, TC_RECONFIGURE_BODY_SIZE).
void node_reconfigure_encode(const struct tc_reconfigure *body,
                             uint8_t out[TC_RECONFIGURE_BODY_SIZE]);

// Whether a hosted replica stops: the topology names the group, without this node among its
// members and not as the target of its change, and the local replica (recovered) is retired.
bool node_retire_decide(const struct node_ctl_topology_group *entry, uint16_t node_id,
                        bool recovering, bool retired);

// ------------------------------------------------------------------------------------------------
// The loop-side driver (node_replace.c, needs node.h).

struct node;
struct node_group;

// Every tick with an installed topology, per group (entry: the group's, or NULL): starts a
// learner, submits the reconfiguration, begins the retirement of a replaced replica.
void node_replace_group_tick(struct node *node, struct node_group *group,
                             const struct node_ctl_topology_group *entry);

#endif
