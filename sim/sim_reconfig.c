// Replica replacement in the simulator (docs/vsr.md §11.4, docs/simulator.md): what the controller
// does to drain a node, driven like a fault.
//
//   IDLE ─► LEARNING: a new replica (fresh disk, new identity) starts for slot k as a learner,
//           in the slot's free holder, and catches up (it polls, repairs, state syncs)
//        ─► SUBMITTED: once it is within a checkpoint interval of the group's commit, the group's
//           operator session sends reconfigure(epoch + 1, k, old id, new id)
//        ─► RETIRING: the reply says ok: the new replica is slot k's member from epoch + 1; the old
//           one is shut down once the new one has applied the reconfigure (until then the old one
//           may hold committed ops the new one lacks: the reconfigure's quorum may include it)
//        ─► IDLE
//   A learner that does not catch up in time is rolled back (its process and disk discarded), as
//   is one still learning when the liveness phase begins.
//
// Routing: a message to a slot goes to the holder that is the slot's member in the epoch the
// sender names (a client, which knows no epochs, names the current one: the group's newest), or
// to the slot's newest holder once that member has retired and stopped; a
// message to a learner address goes to the slot's newest holder (the learner, or the new member
// until it has applied the reconfigure; the replaced replica is retired and asks nothing).

#include <stdlib.h>
#include <string.h>

#include "sim_cluster.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_le.h"

#define RECONFIG_LEARN_TICKS_MAX 4000u // a learner must catch up within this many ticks
#define RECONFIG_REQUESTER_CRASH_PPM 5000u // per tick while a change is in flight

const struct sim_replica *sim_holder_view(const struct sim_group *group, uint32_t index) {
    tc_assert(index < SIM_HOLDERS);
    if (index % TC_REPLICAS_MAX >= group->replica_count) return NULL;
    const struct sim_replica *replica = index < TC_REPLICAS_MAX
                                            ? &group->replicas[index]
                                            : &group->spares[index - TC_REPLICAS_MAX];
    return replica->exists ? replica : NULL;
}

struct sim_replica *sim_holder(struct sim_group *group, uint32_t index) {
    tc_assert(index < SIM_HOLDERS);
    if (index % TC_REPLICAS_MAX >= group->replica_count) return NULL;
    struct sim_replica *replica = index < TC_REPLICAS_MAX ? &group->replicas[index]
                                                          : &group->spares[index - TC_REPLICAS_MAX];
    return replica->exists ? replica : NULL;
}

struct sim_replica *sim_member(struct sim_group *group, uint8_t slot, uint32_t epoch) {
    tc_assert(slot < group->replica_count);
    struct sim_replica *a = group->replicas[slot].exists ? &group->replicas[slot] : NULL;
    struct sim_replica *b = group->spares[slot].exists ? &group->spares[slot] : NULL;
    if (a != NULL && a->since_epoch > epoch) a = NULL;
    if (b != NULL && b->since_epoch > epoch) b = NULL;
    if (a == NULL) return b;
    if (b == NULL) return a;
    return a->since_epoch >= b->since_epoch ? a : b;
}

static struct sim_replica *slot_other(struct sim_group *group, uint8_t slot,
                                      const struct sim_replica *member) {
    struct sim_replica *a = &group->replicas[slot];
    struct sim_replica *b = &group->spares[slot];
    struct sim_replica *other = member == a ? b : a;
    return other->exists ? other : NULL;
}

// The slot's newest holder: the learner while it learns, the new member until the old one retires.
static struct sim_replica *slot_newest(struct sim_group *group, uint8_t slot) {
    struct sim_replica *a = group->replicas[slot].exists ? &group->replicas[slot] : NULL;
    struct sim_replica *b = group->spares[slot].exists ? &group->spares[slot] : NULL;
    if (a == NULL) return b;
    if (b == NULL) return a;
    return a->since_epoch >= b->since_epoch ? a : b;
}

struct sim_replica *sim_route(struct sim_group *group, uint8_t address, uint32_t epoch) {
    uint8_t slot = (uint8_t)(address % TC_REPLICAS_MAX);
    tc_assert(slot < group->replica_count);
    if (address >= TC_REPLICAS_MAX) {
        // A learner address belongs to the slot's newest holder: a replaced replica is retired
        // (it never asks anything, so nothing is addressed to it, docs/vsr.md §11.4). With one
        // holder, it is a member that restarted below its epoch floor and follows meanwhile.
        return slot_newest(group, slot);
    }
    if (epoch == TC_EPOCH_CURRENT) epoch = group->epoch;
    struct sim_replica *member = sim_member(group, slot, epoch);
    // The epoch's member retired and stopped: its successor answers (a replica left behind in an
    // older epoch must still reach somebody in every slot to hear start_epoch).
    return member != NULL ? member : slot_newest(group, slot);
}

// ---------------------------------------------------------------------------------------------
// The operator's session.

static void operator_send(struct tc_io *io, uint8_t replica, uint32_t epoch,
                          const uint8_t *message) {
    struct sim_group *group = io->context;
    struct tc_header header;
    memcpy(&header, message, sizeof(header));
    struct sim_cluster *cluster = group->replicas[0].cluster;
    tc_assert(epoch == TC_EPOCH_CURRENT);
    sim_network_send(&cluster->network, group->reconfig.endpoint,
                     sim_endpoint_replica(group->index, replica), epoch, message, header.size);
}

static void operator_send_to_client(struct tc_io *io, uint64_t client, const uint8_t *message) {
    (void)io;
    (void)client;
    (void)message;
    tc_unreachable();
}

static uint64_t operator_realtime(struct tc_io *io) {
    (void)io;
    tc_unreachable();
    return 0;
}

static void operator_log(struct tc_io *io, enum tc_log_level level, const char *line) {
    (void)io;
    (void)level;
    (void)line;
}

static const struct tc_io_vtable operator_vtable = {
    .send_to_replica = operator_send,
    .send_to_client = operator_send_to_client,
    .realtime_ns = operator_realtime,
    .log = operator_log,
};

// A fresh operator session (a new client id: an evicted one never comes back).
static int operator_open(struct sim_cluster *cluster, struct sim_group *group) {
    struct sim_reconfig *reconfig = &group->reconfig;
    reconfig->client_id = tc_prng_next(&cluster->prng) | 1u;
    struct tc_client_options options = {
        .cluster = cluster->cluster_id,
        .group = group->index,
        .replica_count = group->replica_count,
        .client_id = reconfig->client_id,
        .seed = tc_prng_next(&cluster->prng),
        .io = &reconfig->io,
    };
    tc_arena_init(&reconfig->arena, reconfig->memory, reconfig->memory_size);
    return tc_client_init(&reconfig->client, &options, &reconfig->arena);
}

static void operator_reopen(struct sim_group *group, struct sim_cluster *cluster) {
    int result = operator_open(cluster, group);
    tc_assert(result == TC_OK);
}

int sim_reconfig_init(struct sim_cluster *cluster, struct sim_group *group) {
    struct sim_reconfig *reconfig = &group->reconfig;
    memset(reconfig, 0, sizeof(*reconfig));
    reconfig->endpoint = sim_endpoint_operator(group->index);
    reconfig->io = (struct tc_io){.vtable = &operator_vtable, .context = group};
    reconfig->memory_size = tc_client_memory_size();
    reconfig->memory = malloc(reconfig->memory_size);
    if (reconfig->memory == NULL) return TC_ENOMEM;
    return operator_open(cluster, group);
}

void sim_reconfig_deinit(struct sim_group *group) {
    free(group->reconfig.memory);
    group->reconfig.memory = NULL;
    group->reconfig.client = NULL;
}

bool sim_reconfig_idle(const struct sim_cluster *cluster) {
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        enum tc_client_state state = tc_client_state_get(cluster->groups[g].reconfig.client);
        if (state == TC_CLIENT_BUSY || state == TC_CLIENT_REGISTERING) return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// The driver.

static void operator_on_register(void *context, struct tc_client *client,
                                 const struct tc_header *reply, const uint8_t *body,
                                 uint32_t body_size) {
    // The client's state says how it went (ready, or evicted: the tick opens a new session).
    (void)context;
    (void)client;
    (void)reply;
    (void)body;
    (void)body_size;
}

static void reconfig_discard(struct sim_cluster *cluster, struct sim_group *group,
                             struct sim_replica *replica, const char *why) {
    if (cluster->verbose) {
        printf("%llu g%u r%u sim: %s (replica id %llx)\n", (unsigned long long)cluster->tick,
               group->index, replica->index, why, (unsigned long long)replica->replica_id);
    }
    if (replica->replica != NULL) sim_replica_crash(replica, false);
    sim_holder_free(replica);
}

static struct sim_replica *reconfig_learner(struct sim_group *group) {
    struct sim_reconfig *reconfig = &group->reconfig;
    struct sim_replica *a = &group->replicas[reconfig->slot];
    struct sim_replica *b = &group->spares[reconfig->slot];
    return a->exists && a->replica_id == reconfig->replica_id_new ? a : b;
}

// The change committed (the group's newest epoch reached it), whatever the requester saw.
static bool reconfig_committed(const struct sim_group *group) {
    return group->epoch >= group->reconfig.epoch;
}

// A change may be rolled back only if it was never sent: a sent one may still commit (a crashed
// requester's request in flight, a pipeline of a primary the group has not yet left), naming a
// learner we would have discarded (seed 20472). Once sent, it is driven to completion.
static bool reconfig_cancellable(const struct sim_group *group) {
    return !group->reconfig.submitted && !reconfig_committed(group);
}

static void reconfig_rollback(struct sim_cluster *cluster, struct sim_group *group,
                              const char *why) {
    tc_assert(reconfig_cancellable(group)); // a member, or a learner a change names, stays
    struct sim_replica *learner = reconfig_learner(group);
    tc_assert(learner->exists && learner->replica_id == group->reconfig.replica_id_new);
    reconfig_discard(cluster, group, learner, why);
    group->replacements_rolled_back += 1;
    group->reconfig.state = SIM_RECONFIG_IDLE;
}

static void reconfig_on_reply(void *context, struct tc_client *client,
                              const struct tc_header *reply, const uint8_t *body,
                              uint32_t body_size) {
    struct sim_group *group = context;
    struct sim_cluster *cluster = group->replicas[0].cluster;
    struct sim_reconfig *reconfig = &group->reconfig;
    (void)client;
    tc_assert(reconfig->state == SIM_RECONFIG_SUBMITTED);
    if (reply == NULL) {
        // The operator's session was evicted: register again and resend the same change. It may
        // have committed already; the retry then answers ok (vsr.md §11.4: retries are safe).
        reconfig->state = SIM_RECONFIG_LEARNING;
        operator_reopen(group, cluster);
        return;
    }
    uint32_t status = body_size == TC_RECONFIGURE_REPLY_SIZE ? tc_le_get_u32(body) : UINT32_MAX;
    if (status != TC_RECONFIGURE_OK) {
        sim_fail(cluster, "reconfigure", "group %u: reconfigure to epoch %u answered %s",
                 group->index, reconfig->epoch, tc_reconfigure_status_name(status));
        return;
    }
    if (group->epoch < reconfig->epoch) group->epoch = reconfig->epoch;
    reconfig->state = SIM_RECONFIG_RETIRING;
    reconfig->start_tick = cluster->tick;
    group->replacements_done += 1;
    cluster->coverage.faults[SIM_FAULT_REPLACEMENT] += 1;
}

// Starts a learner for a random slot in that slot's free holder.
static void reconfig_start(struct sim_cluster *cluster, struct sim_group *group) {
    struct sim_reconfig *reconfig = &group->reconfig;
    struct tc_prng *prng = &cluster->fault_prng;
    uint8_t slot = (uint8_t)tc_prng_below(prng, group->replica_count);
    struct sim_replica *member = sim_member(group, slot, group->epoch);
    tc_assert(member != NULL && member->since_epoch <= group->epoch);
    struct sim_replica *holder = slot_other(group, slot, member);
    if (holder != NULL) return; // its previous occupant is still retiring
    holder = member == &group->replicas[slot] ? &group->spares[slot] : &group->replicas[slot];
    reconfig->slot = slot;
    reconfig->epoch = group->epoch + 1;
    reconfig->replica_id_old = member->replica_id;
    reconfig->replica_id_new = (tc_prng_next(prng) << 8) | 0x80u;
    reconfig->start_tick = cluster->tick;
    reconfig->state = SIM_RECONFIG_LEARNING;
    reconfig->submitted = false;
    group->replacements_requested += 1;
    int result = sim_holder_start(cluster, group, holder, slot, reconfig->replica_id_new,
                                  reconfig->epoch, true);
    tc_assert(result == TC_OK);
    if (cluster->verbose) {
        printf("%llu g%u r%u sim: replacement: learner %llx for epoch %u\n",
               (unsigned long long)cluster->tick, group->index, slot,
               (unsigned long long)reconfig->replica_id_new, reconfig->epoch);
    }
}

static void reconfig_submit(struct sim_group *group) {
    struct sim_reconfig *reconfig = &group->reconfig;
    uint8_t *body = reconfig->body;
    memset(body, 0, TC_RECONFIGURE_BODY_SIZE);
    tc_le_put_u32(body + 0, reconfig->epoch);
    body[4] = reconfig->slot;
    tc_le_put_u64(body + 8, reconfig->replica_id_old);
    tc_le_put_u64(body + 16, reconfig->replica_id_new);
    reconfig->state = SIM_RECONFIG_SUBMITTED;
    reconfig->submitted = true;
    tc_client_request_operation(reconfig->client, TC_OPERATION_RECONFIGURE, body,
                                TC_RECONFIGURE_BODY_SIZE, reconfig_on_reply, group);
}

// Caught up: normal, within a checkpoint interval of the group's commits, in the current epoch.
static bool learner_caught_up(struct sim_group *group, struct sim_replica *learner) {
    if (learner->replica == NULL) return false;
    struct tc_replica_status status;
    tc_replica_status_get(learner->replica, &status);
    uint64_t interval = tc_replica_checkpoint_interval(&group->options);
    return status.state == TC_REPLICA_NORMAL && status.epoch + 1 >= group->reconfig.epoch &&
           status.commit_min + interval >= group->commit_count;
}

// The successor has applied the reconfigure: it is a member of the new epoch.
static bool successor_entered(struct sim_group *group) {
    struct sim_replica *successor = reconfig_learner(group);
    if (successor->replica == NULL) return false;
    struct tc_replica_status status;
    tc_replica_status_get(successor->replica, &status);
    return status.epoch >= group->reconfig.epoch;
}

// An epoch runs once some member is a normal primary in it.
static bool epoch_running(struct sim_group *group, uint32_t epoch) {
    for (uint8_t slot = 0; slot < group->replica_count; slot++) {
        struct sim_replica *member = sim_member(group, slot, epoch);
        if (member == NULL || member->replica == NULL) continue;
        struct tc_replica_status status;
        tc_replica_status_get(member->replica, &status);
        if (status.state == TC_REPLICA_NORMAL && status.primary && status.epoch >= epoch) {
            return true;
        }
    }
    return false;
}

static void reconfig_group_tick(struct sim_cluster *cluster, struct sim_group *group) {
    struct sim_reconfig *reconfig = &group->reconfig;
    tc_client_tick(reconfig->client);
    switch (tc_client_state_get(reconfig->client)) {
    case TC_CLIENT_IDLE: tc_client_register(reconfig->client, operator_on_register, group); return;
    case TC_CLIENT_EVICTED: operator_reopen(group, cluster); return; // evicted while idle
    case TC_CLIENT_REGISTERING: return;
    case TC_CLIENT_READY: break;
    case TC_CLIENT_BUSY: break;
    }
    uint64_t ticks = cluster->tick - reconfig->start_tick;
    if (reconfig->state == SIM_RECONFIG_LEARNING) {
        if (tc_client_state_get(reconfig->client) == TC_CLIENT_READY &&
            learner_caught_up(group, reconfig_learner(group)) &&
            epoch_running(group, group->epoch)) {
            reconfig_submit(group);
        } else if (ticks > RECONFIG_LEARN_TICKS_MAX && reconfig_cancellable(group)) {
            reconfig_rollback(cluster, group, "replacement: learner did not catch up, rolled back");
        }
        return;
    }
    if (reconfig->state == SIM_RECONFIG_SUBMITTED && !cluster->liveness &&
        tc_prng_chance_ppm(&cluster->fault_prng, RECONFIG_REQUESTER_CRASH_PPM)) {
        // The requester crashes with its change in flight: a new session retries the same change
        // once its conditions hold again; it committed already or it did not (vsr.md §11.4).
        if (cluster->verbose) {
            printf("%llu g%u sim: replacement: requester crash, retrying as a new session\n",
                   (unsigned long long)cluster->tick, group->index);
        }
        group->replacement_requester_crashes += 1;
        cluster->coverage.faults[SIM_FAULT_REQUESTER_CRASH] += 1;
        reconfig->state = SIM_RECONFIG_LEARNING;
        operator_reopen(group, cluster);
        return;
    }
    if (reconfig->state == SIM_RECONFIG_RETIRING && successor_entered(group)) {
        struct sim_replica *old = sim_member(group, reconfig->slot, reconfig->epoch - 1);
        tc_assert(old != NULL && old->replica_id == reconfig->replica_id_old);
        reconfig_discard(cluster, group, old, "replacement: old member retired");
        reconfig->state = SIM_RECONFIG_IDLE;
        return;
    }
    if (reconfig->state != SIM_RECONFIG_IDLE || cluster->liveness) return;
    if (group->replica_count == 1) return; // a lone replica cannot keep a quorum meanwhile
    if (!tc_prng_chance_ppm(&cluster->fault_prng, cluster->swarm.replace_ppm)) return;
    reconfig_start(cluster, group);
}

void sim_reconfig_tick(struct sim_cluster *cluster) {
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        reconfig_group_tick(cluster, &cluster->groups[g]);
    }
}

void sim_reconfig_liveness_begin(struct sim_cluster *cluster) {
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        struct sim_group *group = &cluster->groups[g];
        if (group->reconfig.state == SIM_RECONFIG_LEARNING && reconfig_cancellable(group)) {
            reconfig_rollback(cluster, group, "replacement: still learning at liveness, rolled back");
        }
    }
}
