#ifndef TC_SIM_CLUSTER_H
#define TC_SIM_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "client.h"
#include "replica.h"
#include "room.h"
#include "room_model.h"
#include "sim_atlas.h"
#include "sim_network.h"
#include "sim_storage.h"
#include "tc_prng.h"

// The simulated cluster: groups of replicas (the real replica code) and simulated app clients on
// one thread, one seed, no wall clock. See docs/simulator.md.
//
// Files: sim_cluster.c (build, io vtables, crash/restart, stepping), sim_faults.c (swarm
// parameters and the fault scheduler), sim_workload.c (app clients), sim_checker.c (invariants),
// sim_run.c (phases, outcome, digest), sim_coverage.c (counters and their names).

#define SIM_GROUPS_MAX 3u
#define SIM_APPS_MAX 8u                // app clients; each has one VSR session per group
#define SIM_ROOMS_PER_GROUP_MAX 48u    // rooms the workload knows per group
#define SIM_SENDS_PER_SESSION_MAX 32u  // remembered sends (for same-key retries)
#define SIM_BATCH_OPS_MAX 4u
#define SIM_SEND_BODY_MAX 48u
#define SIM_BATCH_SIZE_MAX 1024u
// Per group: one endpoint per replica address (slots, then learner addresses, docs/vsr.md §11.4),
// one per app session, one for the group's operator (reconfigurations).
#define SIM_ENDPOINTS_PER_GROUP (TC_REPLICA_ADDRESSES_MAX + SIM_APPS_MAX + 1u)
#define SIM_TIME_EPOCH_NS 1700000000000000000ull // sim time 0 on every replica's wall clock
#define SIM_NS_PER_TICK (TC_TICK_MS * 1000000ull)

enum sim_fault {
    SIM_FAULT_LOSS = 0,
    SIM_FAULT_DUPLICATION,
    SIM_FAULT_REORDER,
    SIM_FAULT_CLOG,
    SIM_FAULT_PARTITION_SYMMETRIC,
    SIM_FAULT_PARTITION_ASYMMETRIC,
    SIM_FAULT_READ_ERROR,
    SIM_FAULT_BIT_FLIP,
    SIM_FAULT_LOST_WRITE,
    SIM_FAULT_TORN_WRITE,
    SIM_FAULT_CRASH_PROCESS,
    SIM_FAULT_CRASH_MACHINE,
    SIM_FAULT_PAUSE,
    SIM_FAULT_CLOCK,
    SIM_FAULT_EVICTION, // not a fault, but a path the workload must reach
    SIM_FAULT_LEADER_TRANSFER, // an operator-style leadership transfer (not a fault either)
    SIM_FAULT_STORE_FULL,      // a send refused because the message store's budget is spent
    SIM_FAULT_RETENTION_TRUNCATED, // a history read answered "truncated by retention"
    SIM_FAULT_REPLACEMENT,         // a replica replacement committed (sim_reconfig.c)
    SIM_FAULT_REQUESTER_CRASH,     // the operator session lost with its change in flight
    SIM_FAULT_REDACTED_READ,       // a history read served a redacted message (body dropped)
    SIM_FAULT_FLUSH_SLOW,          // a checkpoint or store sync made slow (sim_storage.h)
    SIM_FAULT_COUNT,
};

struct sim_coverage {
    uint64_t commands[TC_COMMAND_COUNT]; // delivered messages per command
    uint64_t faults[SIM_FAULT_COUNT];
};

const char *sim_fault_name(uint32_t fault);
void sim_coverage_add(struct sim_coverage *into, const struct sim_coverage *from);
// Prints the table; returns how many required counters are zero.
uint32_t sim_coverage_print(const struct sim_coverage *coverage, FILE *out);

// Per-seed fault probabilities ("swarm testing": each seed draws its own).
struct sim_swarm {
    uint32_t crash_ppm;          // per replica per tick
    uint32_t machine_crash_share_ppm; // of crashes, how many are machine crashes
    uint32_t down_ticks_max;
    uint32_t pause_ppm;
    uint32_t pause_ticks_max;
    uint32_t partition_ppm;      // per group per tick
    uint32_t partition_ticks_max;
    uint32_t clock_jump_ppm;     // per replica per tick
    uint32_t clock_skew_ns_max;  // initial offset bound
    uint32_t clock_drift_ppm_max;
    uint32_t transfer_ppm;       // per group per tick: the primary hands over to another replica
    uint32_t replace_ppm;        // per group per tick: start replacing a member (sim_reconfig.c)
};

// An acknowledged prepare (sim_durability.c): what a replica's prepare_ok promised is on its disk.
struct sim_ack {
    struct tc_checksum checksum;
    uint64_t op;         // acks are kept per journal slot: the latest acknowledged op there
    uint64_t tick;       // of the prepare_ok
    uint64_t crash_tick; // suspects: the crash after which the disk no longer held it
    uint32_t view;
    bool valid;
    bool machine;        // suspects: machine (else process) crash
    uint8_t reserved[2];
};

struct sim_replica {
    struct sim_cluster *cluster;
    struct sim_group *group;
    uint8_t index;     // the slot
    uint32_t endpoint; // where it sends from: the slot's endpoint (replicas[k]) or the slot's
                       // learner endpoint (spares[k])
    // Replacement (sim_reconfig.c): each slot has two process holders, `replicas[slot]` and
    // `spares[slot]`; a holder is a member from `since_epoch` on until its successor's.
    bool exists;       // the holder holds a process (running, down or paused)
    bool retired;      // replaced: it is shut down once the new epoch has a normal primary
    uint32_t since_epoch;
    uint64_t replica_id;
    struct tc_io io;
    struct sim_storage storage;
    uint8_t *memory;
    uint64_t memory_size;
    struct tc_arena arena;
    struct tc_replica *replica; // NULL while crashed
    uint64_t down_until_tick;   // crashed: restart at
    uint64_t paused_until_tick; // > now: paused (no ticks, deliveries dropped, storage frozen)
    bool core;                  // liveness core: no more faults
    bool stay_down;             // liveness: a crashed non-core replica stays down
    bool crash_pending;   // the crash strikes during a storage step with writes at risk ...
    bool crash_machine;   // ... as a machine (power loss) or process crash ...
    uint32_t crash_after; // ... after this many completions
    uint64_t crash_deadline_tick; // ... or at this tick regardless
    int64_t clock_offset_ns;
    int64_t clock_drift_ppm;
    uint64_t restarts;
    // Checker state.
    // view_change_quorum: the do_view_changes of view `dvc_view` delivered to this holder from the
    // members of the epoch it acted in (slot bitmask), and whether its leading that view was
    // checked.
    uint32_t dvc_view;
    uint32_t dvc_epoch;
    uint8_t dvc_slots;
    bool dvc_checked;
    uint64_t commit_last; // last op committed since (re)start; 0 after a restart
    bool fresh;           // no commit since (re)start
    struct sim_ack *acks;     // [journal_slot_count] by op: the latest prepare_ok covering it
    struct sim_ack *suspects; // acknowledged entries a crash left off the disk
};

struct sim_commit {
    struct tc_checksum checksum; // of the committed prepare header
    struct tc_checksum parent;
    struct tc_checksum reply;    // of the state machine reply body (zero-size if none)
    uint64_t timestamp;
    uint64_t client;
    uint32_t request;
    uint8_t operation;
    uint8_t reserved[3];
};

// A replacement of one member in progress (sim_reconfig.c, docs/simulator.md).
enum sim_reconfig_state {
    SIM_RECONFIG_IDLE = 0,
    SIM_RECONFIG_LEARNING = 1,  // the new replica runs as a learner, catching up
    SIM_RECONFIG_SUBMITTED = 2, // the reconfigure request is in flight
    SIM_RECONFIG_RETIRING = 3,  // committed: the old member stops once the new epoch runs
};

struct sim_reconfig {
    enum sim_reconfig_state state;
    uint8_t slot;
    uint32_t epoch;             // the epoch the change starts
    uint64_t start_tick;
    uint64_t replica_id_old;
    uint64_t replica_id_new;
    bool submitted; // sent at least once: never rolled back any more
    // The group's operator: one VSR session that sends the reconfigure requests.
    struct tc_client *client;
    struct tc_io io;
    uint8_t *memory;
    uint64_t memory_size;
    struct tc_arena arena;
    uint64_t client_id;
    uint32_t endpoint;
    uint8_t body[TC_RECONFIGURE_BODY_SIZE];
};

struct sim_group {
    uint32_t index;
    uint8_t replica_count;
    uint8_t quorum; // view-change quorum
    uint32_t epoch;  // the newest epoch a reconfigure reply or a commit reported
    struct sim_replica spares[TC_REPLICAS_MAX]; // the second holder of each slot
    struct sim_reconfig reconfig;
    uint64_t replacements_requested;
    uint64_t replacements_done;
    uint64_t replacements_rolled_back;
    uint64_t replacement_requester_crashes; // the operator session lost with its change in flight
    struct tc_replica_options options; // template (replica, io, seed differ per replica)
    struct sim_layout layout;
    struct sim_atlas atlas;
    struct sim_replica replicas[TC_REPLICAS_MAX];
    uint64_t partition_until_tick; // 0: none
    uint64_t ops_limit;            // the workload stops before the journal could wrap
    uint32_t view_normal_max;      // highest view a replica of the group was seen normal in

    // Checker: the canonical committed history, op -> commit (index 0 is the root).
    struct sim_commit *commits;
    uint64_t commit_count; // highest canonical op + 1
    // Checkpoint ids first seen per checkpoint (index op / interval): every replica must agree.
    struct tc_checksum *checkpoint_ids;
    bool *checkpoint_seen;
    uint64_t checkpoint_capacity;
    // Leadership transfers: the target and the view it should lead; counted done when it is seen
    // normal primary of that view or a later one.
    uint64_t transfers_requested;
    uint64_t transfers_done;
    uint32_t transfer_view; // 0: none pending
    uint64_t transfer_tick; // when the pending transfer was requested
    uint64_t transfer_ticks_sum; // request -> target normal primary, over completed transfers
    uint64_t transfer_ticks_max;
    uint8_t transfer_target;
    uint64_t commit_capacity;
    uint64_t *request_keys; // open-addressing set of (client, request) committed
    uint64_t request_keys_capacity;
    uint64_t request_keys_count;
    struct tc_room_model *model;
    struct tc_room_result *model_results;
    uint64_t keys_sent; // distinct idempotency keys sent (retry checks need no key eviction)
    // Workload: rooms created or being created in this group.
    uint64_t rooms[SIM_ROOMS_PER_GROUP_MAX];
    bool rooms_retention[SIM_ROOMS_PER_GROUP_MAX]; // a set_retention was sent for the room
    uint32_t rooms_count;
};

struct sim_send {
    uint64_t room;
    uint8_t key[TC_ROOM_KEY_SIZE];
    uint64_t thread_parent_seq;
    uint8_t body[SIM_SEND_BODY_MAX];
    uint32_t body_size;
    bool acked; // committed with status ok (seq, hash below are the original)
    bool retry_checked;
    uint64_t seq;
    struct tc_hash256 hash;
};

struct sim_session {
    struct sim_cluster *cluster;
    struct sim_app *app;
    struct sim_group *group;
    uint32_t endpoint;
    struct tc_io io;
    uint8_t *memory;
    uint64_t memory_size;
    struct tc_arena arena;
    struct tc_client *client;
    uint64_t client_id;
    uint64_t next_request_tick;
    uint64_t request_start_tick;
    uint32_t evictions;
    // The in-flight batch: which op of the batch is which send record (or -1).
    uint8_t batch[SIM_BATCH_SIZE_MAX];
    uint32_t batch_size;
    uint32_t batch_ops;
    int32_t batch_send[SIM_BATCH_OPS_MAX];
    bool batch_retry[SIM_BATCH_OPS_MAX];
    struct sim_send sends[SIM_SENDS_PER_SESSION_MAX];
    uint32_t sends_count; // total ever (ring index = count % max)
    uint64_t replies;
};

struct sim_app {
    uint32_t index;
    uint64_t user;
    struct sim_session sessions[SIM_GROUPS_MAX];
};

// Counters for the run summary (and the durability checker's own accounting).
struct sim_stats {
    uint64_t acks_recorded;   // (replica, op) acknowledgements recorded from prepare_ok
    uint64_t acks_suspect;    // acknowledged entries a crash left off the disk (legitimate only if
                              // superseded, i.e. never committed)
    uint64_t restarts;
    uint64_t view_changes;    // times a group's highest normal view grew (all groups)
    uint64_t view_change_quorums_checked; // view_change_quorum checks made
    uint64_t lost_at_down;    // packets that reached a crashed or paused replica
    uint64_t freed_read_errors; // storage counters of holders freed during the run
    uint64_t freed_flushes_slow;
    uint64_t freed_bit_flips;
    uint64_t history_replicas;  // core replicas whose store the history checker read
    uint64_t history_pages;     // store pages read
    uint64_t history_messages;  // messages compared with the model
    uint64_t history_truncated; // truncated-by-retention answers
    uint64_t retention_ops;     // set_retention ops sent
    uint64_t redact_ops;        // redact ops sent
    uint64_t history_redacted;  // redacted messages read back (no body, chain verified)
    uint64_t history_days_checked; // rooms whose keep_days floor was checked against the model
};

struct sim_cluster {
    uint64_t seed;
    uint64_t cluster_id;
    uint64_t tick;
    bool verbose;
    bool reconfig_heavy; // --reconfig-heavy: frequent leadership transfers, smallest rings
    bool liveness; // the liveness phase has begun
    struct tc_prng prng;          // structure and workload decisions
    struct tc_prng fault_prng;    // fault scheduler
    struct sim_swarm swarm;
    uint32_t group_count;
    struct sim_group groups[SIM_GROUPS_MAX];
    uint32_t app_count;
    struct sim_app apps[SIM_APPS_MAX];
    struct sim_network network;
    struct sim_coverage coverage;
    uint64_t client_replies;
    struct sim_stats stats;
    // Scratch for checkers (sized for a reply).
    uint8_t *scratch;
    // The first violated invariant (the run stops at the end of the tick).
    bool failed;
    char failure[1024];
};

// sim_cluster.c
int sim_cluster_init(struct sim_cluster *cluster, uint64_t seed, bool verbose,
                     bool reconfig_heavy);
void sim_cluster_deinit(struct sim_cluster *cluster);
void sim_cluster_tick(struct sim_cluster *cluster);
void sim_replica_crash(struct sim_replica *replica, bool machine);
void sim_replica_start(struct sim_replica *replica);
bool sim_replica_up(const struct sim_replica *replica);
uint32_t sim_endpoint_replica(uint32_t group, uint8_t address);
uint32_t sim_endpoint_session(uint32_t group, uint32_t app);
uint32_t sim_endpoint_operator(uint32_t group);
// A process in `replica` (a holder of `group`): formatted storage, started. learner: a new replica
// joining (a fresh identity, its own endpoint, no storage faults but crashes).
int sim_holder_start(struct sim_cluster *cluster, struct sim_group *group,
                     struct sim_replica *replica, uint8_t index, uint64_t replica_id,
                     uint32_t since_epoch, bool learner);
void sim_holder_free(struct sim_replica *replica);
uint32_t sim_group_of_room(const struct sim_cluster *cluster, uint64_t room);
void sim_fail(struct sim_cluster *cluster, const char *invariant, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

// sim_faults.c
void sim_swarm_draw(struct sim_cluster *cluster);
void sim_network_options_draw(struct sim_cluster *cluster, struct sim_network_options *options);
void sim_storage_options_draw(struct sim_cluster *cluster, struct sim_storage_options *options);
void sim_faults_tick(struct sim_cluster *cluster);
void sim_faults_liveness_begin(struct sim_cluster *cluster);
void sim_faults_liveness_heal_all(struct sim_cluster *cluster);
uint64_t sim_replica_realtime_ns(const struct sim_replica *replica);

// sim_workload.c
int sim_workload_init(struct sim_cluster *cluster);
void sim_workload_deinit(struct sim_cluster *cluster);
void sim_workload_tick(struct sim_cluster *cluster);
bool sim_workload_idle(const struct sim_cluster *cluster); // nothing in flight
struct sim_session *sim_session_by_client(struct sim_group *group, uint64_t client_id);

// sim_durability.c: acknowledged prepares stay on the acknowledging replica's disk (ack_durable).
int sim_durability_init(struct sim_replica *replica);
void sim_durability_deinit(struct sim_replica *replica);
void sim_durability_on_send(struct sim_replica *replica, const uint8_t *message);
void sim_durability_on_crash(struct sim_replica *replica, bool machine);
void sim_durability_on_commit(struct sim_cluster *cluster, struct sim_group *group, uint64_t op);
void sim_durability_commit_quorum(struct sim_cluster *cluster, struct sim_group *group,
                                  const struct tc_header *prepare);

// sim_checker.c
int sim_checker_init(struct sim_cluster *cluster);
void sim_checker_deinit(struct sim_cluster *cluster);
void sim_checker_commit_hook(void *context, const struct tc_replica_commit_event *event);
void sim_checker_client_reply(struct sim_cluster *cluster, struct sim_session *session,
                              const struct tc_header *reply, const uint8_t *body,
                              uint32_t body_size);
void sim_checker_tick(struct sim_cluster *cluster);
// Every message delivered to a replica (do_view_changes feed view_change_quorum).
void sim_checker_on_deliver(struct sim_replica *to, uint32_t from_endpoint,
                            const uint8_t *message);
// Liveness: true once every core replica is normal, has committed the whole canonical history and
// the core agrees on the state digest. *why explains what is missing (for the failure report).
bool sim_checker_converged(struct sim_cluster *cluster, char *why, uint32_t why_size);
// The core did not converge: true if that may be because something the core needs exists intact
// only outside it (a core replica is not normal, or a committed op some core replica still lacks is
// clean in no core replica's log). False means the core holds everything it needs: a liveness bug.
bool sim_checker_liveness_excusable(struct sim_cluster *cluster, char *why, uint32_t why_size);
void sim_checker_digest(const struct sim_cluster *cluster, const char *outcome,
                        struct tc_checksum *out);
uint64_t sim_checker_commits(const struct sim_cluster *cluster);

// sim_reconfig.c: replica replacement (learner, reconfigure, retire) and routing by epoch.
int sim_reconfig_init(struct sim_cluster *cluster, struct sim_group *group);
void sim_reconfig_deinit(struct sim_group *group);
void sim_reconfig_tick(struct sim_cluster *cluster);
// Liveness: a replacement not yet submitted is rolled back; a submitted one must complete.
void sim_reconfig_liveness_begin(struct sim_cluster *cluster);
bool sim_reconfig_idle(const struct sim_cluster *cluster);
// The member of `slot` in `epoch` (the holder with the newest since_epoch <= epoch).
struct sim_replica *sim_member(struct sim_group *group, uint8_t slot, uint32_t epoch);
// The process a message to `address`, resolved in `epoch`, reaches (NULL: nobody listens there).
struct sim_replica *sim_route(struct sim_group *group, uint8_t address, uint32_t epoch);
// Every holder of the group (slot holders then spares); NULL for an empty holder.
struct sim_replica *sim_holder(struct sim_group *group, uint32_t index);
const struct sim_replica *sim_holder_view(const struct sim_group *group, uint32_t index);
#define SIM_HOLDERS (2u * TC_REPLICAS_MAX)

// sim_history.c: after convergence, every core replica's store serves every room's history exactly
// as the model committed it (fails the run otherwise).
void sim_history_check(struct sim_cluster *cluster);

#endif
