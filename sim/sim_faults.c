#include <string.h>

#include "sim_cluster.h"
#include "tc_assert.h"
#include "tc_err.h"

// Swarm parameters (each seed draws its own fault rates, some of them zero) and the fault
// scheduler: crashes and restarts, pauses, partitions, clock jumps.

// Zero with probability 1/3, else uniform in [min, max].
static uint32_t swarm_rate(struct tc_prng *prng, uint32_t min, uint32_t max) {
    if (tc_prng_below(prng, 3) == 0) return 0;
    return (uint32_t)tc_prng_range(prng, min, max);
}

void sim_swarm_draw(struct sim_cluster *cluster) {
    struct tc_prng *prng = &cluster->prng;
    struct sim_swarm *swarm = &cluster->swarm;
    memset(swarm, 0, sizeof(*swarm));
    swarm->crash_ppm = swarm_rate(prng, 50, 1500);
    // Machine crashes (power loss: unsynced writes lost or torn) are the harsher kind: most seeds
    // lean towards them; a quarter draw any mix, down to process crashes only.
    swarm->machine_crash_share_ppm = tc_prng_below(prng, 4) == 0
                                         ? (uint32_t)tc_prng_range(prng, 0, 1000000)
                                         : (uint32_t)tc_prng_range(prng, 500000, 1000000);
    swarm->down_ticks_max = (uint32_t)tc_prng_range(prng, 10, 500);
    swarm->pause_ppm = swarm_rate(prng, 50, 1500);
    swarm->pause_ticks_max = (uint32_t)tc_prng_range(prng, 5, 300);
    swarm->partition_ppm = swarm_rate(prng, 100, 3000);
    swarm->partition_ticks_max = (uint32_t)tc_prng_range(prng, 20, 1000);
    swarm->clock_jump_ppm = swarm_rate(prng, 10, 500);
    swarm->clock_skew_ns_max = (uint32_t)tc_prng_range(prng, 0, 2000000000u);
    swarm->clock_drift_ppm_max = (uint32_t)tc_prng_range(prng, 0, 200);
    swarm->transfer_ppm = cluster->reconfig_heavy ? (uint32_t)tc_prng_range(prng, 2000, 20000)
                                                  : swarm_rate(prng, 20, 1000);
    // Replacements are long (a learner catches up first): rarer than transfers.
    swarm->replace_ppm = cluster->reconfig_heavy ? (uint32_t)tc_prng_range(prng, 1000, 5000)
                                                 : swarm_rate(prng, 50, 600);
}

void sim_network_options_draw(struct sim_cluster *cluster, struct sim_network_options *options) {
    struct tc_prng *prng = &cluster->prng;
    memset(options, 0, sizeof(*options));
    options->packets_max = 8192;
    options->large_packets_max = 64;
    options->message_size_max = TC_MESSAGE_SIZE_MAX;
    options->seed = tc_prng_next(prng);
    options->path_capacity = (uint32_t)tc_prng_range(prng, 4, 32);
    options->delay_min_ticks = (uint32_t)tc_prng_range(prng, 0, 2);
    options->delay_mean_ticks = (uint32_t)tc_prng_range(prng, 1, 8);
    options->loss_ppm = swarm_rate(prng, 1000, 200000);
    options->duplicate_ppm = swarm_rate(prng, 1000, 200000);
    options->clog_ppm = swarm_rate(prng, 10, 500);
    options->clog_duration_max_ticks = (uint32_t)tc_prng_range(prng, 10, 300);
    options->clog_delay_ticks = (uint32_t)tc_prng_range(prng, 50, 500);
}

void sim_storage_options_draw(struct sim_cluster *cluster, struct sim_storage_options *options) {
    struct tc_prng *prng = &cluster->prng;
    memset(options, 0, sizeof(*options));
    options->seed = tc_prng_next(prng);
    options->ops_max = 4096;
    options->latency_min_ticks = 0;
    options->latency_max_ticks = (uint32_t)tc_prng_range(prng, 1, 4);
    options->slow_ppm = (uint32_t)tc_prng_range(prng, 0, 300000);
    options->sync_latency_max_ticks = (uint32_t)tc_prng_range(prng, 1, 6);
    options->read_error_ppm = swarm_rate(prng, 100, 20000);
    options->bit_flip_ppm = swarm_rate(prng, 100, 20000);
    options->crash_keep_ppm = (uint32_t)tc_prng_range(prng, 0, 600000);
    options->crash_torn_ppm = (uint32_t)tc_prng_range(prng, 0, 1000000 - options->crash_keep_ppm);
    // Slow bulk flushes on one storage in four, decided by the storage's own seed (not the
    // cluster's PRNG: the other faults' schedules stay as they were). Up to 2 s per sync: a
    // checkpoint's store flush and area writes can then outlast half a ring of commits.
    struct tc_prng flush;
    tc_prng_init(&flush, options->seed ^ 0x5f1a5b0c2d3e4f60ull);
    if (tc_prng_below(&flush, 4) == 0) {
        options->flush_slow_ticks_max = (uint32_t)tc_prng_range(&flush, 20, 200);
    }
}

uint64_t sim_replica_realtime_ns(const struct sim_replica *replica) {
    uint64_t tick = replica->cluster->tick;
    int64_t drift = replica->clock_drift_ppm * (int64_t)(tick * SIM_NS_PER_TICK / 1000000u);
    int64_t offset = replica->clock_offset_ns + drift;
    uint64_t base = SIM_TIME_EPOCH_NS + tick * SIM_NS_PER_TICK;
    tc_assert(offset > -(int64_t)(SIM_TIME_EPOCH_NS / 2));
    return offset >= 0 ? base + (uint64_t)offset : base - (uint64_t)(-offset);
}

static int64_t signed_range(struct tc_prng *prng, uint64_t magnitude_max) {
    int64_t magnitude = (int64_t)tc_prng_range(prng, 0, magnitude_max);
    return tc_prng_below(prng, 2) == 0 ? magnitude : -magnitude;
}

static void clock_init(struct sim_cluster *cluster) {
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        for (uint8_t r = 0; r < cluster->groups[g].replica_count; r++) {
            struct sim_replica *replica = &cluster->groups[g].replicas[r]; // the initial members
            replica->clock_offset_ns = signed_range(&cluster->fault_prng, cluster->swarm.clock_skew_ns_max);
            replica->clock_drift_ppm = signed_range(&cluster->fault_prng, cluster->swarm.clock_drift_ppm_max);
            if (replica->clock_offset_ns != 0 || replica->clock_drift_ppm != 0) {
                cluster->coverage.faults[SIM_FAULT_CLOCK] += 1;
            }
        }
    }
}

// A machine crash may lose unsynced writes: allowed only while every other replica of the group is
// up and in normal or view-change status, so that a quorum can always recover what it acked.
static bool machine_crash_allowed(const struct sim_replica *replica) {
    struct sim_group *group = replica->group;
    for (uint8_t r = 0; r < group->replica_count; r++) {
        const struct sim_replica *other = sim_member(group, r, group->epoch);
        if (other == replica || other == NULL) continue;
        if (!sim_replica_up(other)) return false;
        struct tc_replica_status status;
        tc_replica_status_get(other->replica, &status);
        if (status.state != TC_REPLICA_NORMAL && status.state != TC_REPLICA_VIEW_CHANGE) return false;
    }
    return true;
}

// A crash decided for another replica of the group and not yet struck: a machine crash's rule above
// was checked with this replica up, so it stays up until then (one pending crash per group).
static bool group_crash_pending(const struct sim_replica *replica) {
    for (uint32_t h = 0; h < SIM_HOLDERS; h++) {
        const struct sim_replica *other = sim_holder(replica->group, h);
        if (other != NULL && other->crash_pending) return true;
    }
    return false;
}

static void partition_heal(struct sim_cluster *cluster) {
    sim_network_partition(&cluster->network, NULL, false);
    for (uint32_t g = 0; g < cluster->group_count; g++) cluster->groups[g].partition_until_tick = 0;
}

static void partition_start(struct sim_cluster *cluster, struct sim_group *group) {
    struct tc_prng *prng = &cluster->fault_prng;
    if (group->replica_count < 2) return;
    uint8_t sides[SIM_GROUPS_MAX * SIM_ENDPOINTS_PER_GROUP];
    memset(sides, 0, sizeof(sides));
    // A random split with both sides non-empty: replica 0..count-1 draw sides; fix one if needed.
    uint32_t ones = 0;
    for (uint8_t r = 0; r < group->replica_count; r++) {
        uint8_t side = (uint8_t)(1 + tc_prng_below(prng, 2));
        sides[sim_endpoint_replica(group->index, r)] = side;
        ones += side == 1 ? 1u : 0u;
    }
    if (ones == 0 || ones == group->replica_count) {
        uint8_t r = (uint8_t)tc_prng_below(prng, group->replica_count);
        uint32_t endpoint = sim_endpoint_replica(group->index, r);
        sides[endpoint] = (uint8_t)(3 - sides[endpoint]);
    }
    // A slot's second holder (a learner, or a member that replaced one) sends from the slot's
    // learner address: it shares the slot's side.
    for (uint8_t r = 0; r < group->replica_count; r++) {
        sides[sim_endpoint_replica(group->index, TC_REPLICA_ADDRESS_LEARNER(r))] =
            sides[sim_endpoint_replica(group->index, r)];
    }
    bool asymmetric = tc_prng_below(prng, 2) == 0;
    sim_network_partition(&cluster->network, sides, asymmetric);
    group->partition_until_tick =
        cluster->tick + tc_prng_range(prng, 1, tc_max_u32(cluster->swarm.partition_ticks_max, 1));
    cluster->coverage.faults[asymmetric ? SIM_FAULT_PARTITION_ASYMMETRIC
                                        : SIM_FAULT_PARTITION_SYMMETRIC] += 1;
}

static void partitions_tick(struct sim_cluster *cluster) {
    bool active = false;
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        if (cluster->groups[g].partition_until_tick == 0) continue;
        active = true;
        if (cluster->tick >= cluster->groups[g].partition_until_tick) {
            partition_heal(cluster);
            return;
        }
    }
    if (active) return; // one partition at a time
    if (!tc_prng_chance_ppm(&cluster->fault_prng, cluster->swarm.partition_ppm)) return;
    uint32_t g = (uint32_t)tc_prng_below(&cluster->fault_prng, cluster->group_count);
    partition_start(cluster, &cluster->groups[g]);
}

static void replica_faults_tick(struct sim_cluster *cluster, struct sim_replica *replica) {
    struct tc_prng *prng = &cluster->fault_prng;
    if (replica->replica == NULL) {
        if (!replica->stay_down && cluster->tick >= replica->down_until_tick) {
            sim_replica_start(replica);
        }
        return;
    }
    if (!replica->core && tc_prng_chance_ppm(prng, cluster->swarm.clock_jump_ppm)) {
        replica->clock_offset_ns += signed_range(prng, 10ull * 1000 * 1000 * 1000);
        if (tc_prng_below(prng, 16) == 0) {
            // A calendar jump forward (1-4 days): a primary stamps the days into prepares, so
            // retention by age (keep_days) has messages to hide within a run of a few minutes.
            replica->clock_offset_ns +=
                (int64_t)tc_prng_range(prng, 1, 4) * 86400ll * 1000 * 1000 * 1000;
        }
        cluster->coverage.faults[SIM_FAULT_CLOCK] += 1;
    }
    if (cluster->liveness) return; // no crashes or pauses while the core must converge
    if (!sim_replica_up(replica)) return; // paused
    if (tc_prng_chance_ppm(prng, cluster->swarm.crash_ppm) && !group_crash_pending(replica)) {
        bool machine = tc_prng_chance_ppm(prng, cluster->swarm.machine_crash_share_ppm) &&
                       machine_crash_allowed(replica);
        replica->down_until_tick =
            cluster->tick + tc_prng_range(prng, 1, tc_max_u32(cluster->swarm.down_ticks_max, 1));
        if (machine || tc_prng_below(prng, 2) == 0) {
            // The crash strikes in the middle of the I/O of a tick with writes at risk (or at the
            // deadline): see sim_cluster_tick. Mostly before the journal's prepare write -> header
            // write -> sync chain completes (0-2 completions), so that it lands while writes are in
            // flight: the window the ack_durable checker watches. A process crash otherwise
            // strikes between ticks.
            replica->crash_pending = true;
            replica->crash_machine = machine;
            replica->crash_after = tc_prng_below(prng, 4) == 0
                                       ? (uint32_t)tc_prng_range(prng, 0, 16)
                                       : (uint32_t)tc_prng_range(prng, 0, 2);
            replica->crash_deadline_tick = cluster->tick + 50;
            return;
        }
        sim_replica_crash(replica, false);
        return;
    }
    if (tc_prng_chance_ppm(prng, cluster->swarm.pause_ppm)) {
        replica->paused_until_tick =
            cluster->tick + tc_prng_range(prng, 1, tc_max_u32(cluster->swarm.pause_ticks_max, 1));
        cluster->coverage.faults[SIM_FAULT_PAUSE] += 1;
    }
}

// Asks the group's normal primary (if any) to hand over to another replica, as an operator would
// (tigerctl, later). Whether it completes depends on the faults; the summary counts both.
static void transfer_tick(struct sim_cluster *cluster, struct sim_group *group) {
    struct tc_prng *prng = &cluster->fault_prng;
    if (group->replica_count < 2 || cluster->liveness) return;
    if (!tc_prng_chance_ppm(prng, cluster->swarm.transfer_ppm)) return;
    for (uint8_t r = 0; r < group->replica_count; r++) {
        struct sim_replica *replica = sim_member(group, r, group->epoch);
        if (replica == NULL || !sim_replica_up(replica)) continue;
        struct tc_replica_status status;
        tc_replica_status_get(replica->replica, &status);
        if (!status.primary) continue;
        uint8_t target = (uint8_t)tc_prng_below(prng, group->replica_count - 1u);
        if (target >= r) target++;
        if (tc_replica_transfer_leadership(replica->replica, target) != TC_OK) return;
        uint32_t view = status.view + 1;
        while (view % group->replica_count != target) view++;
        group->transfer_view = view;
        group->transfer_target = target;
        group->transfer_tick = cluster->tick;
        group->transfers_requested += 1;
        cluster->coverage.faults[SIM_FAULT_LEADER_TRANSFER] += 1;
        return;
    }
}

void sim_faults_tick(struct sim_cluster *cluster) {
    if (cluster->tick == 1) clock_init(cluster);
    partitions_tick(cluster);
    for (uint32_t g = 0; g < cluster->group_count; g++) transfer_tick(cluster, &cluster->groups[g]);
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        for (uint32_t h = 0; h < SIM_HOLDERS; h++) {
            struct sim_replica *replica = sim_holder(&cluster->groups[g], h);
            if (replica != NULL) replica_faults_tick(cluster, replica);
        }
    }
}

// Liveness: a holder of the core is restarted if down, unpaused, and spared further faults.
static void core_heal(struct sim_cluster *cluster, struct sim_replica *replica) {
    replica->core = true;
    replica->stay_down = false;
    replica->crash_pending = false;
    replica->storage.faults_enabled = false;
    sim_network_faults_disable(&cluster->network, replica->endpoint, true);
    replica->paused_until_tick = 0;
    if (replica->replica == NULL) sim_replica_start(replica);
}

// Picks a view-change quorum per group as the core, heals it and stops its faults. Replicas
// outside the core keep their faults; a crashed one stays down.
void sim_faults_liveness_begin(struct sim_cluster *cluster) {
    tc_assert(!cluster->liveness);
    cluster->liveness = true;
    struct tc_prng *prng = &cluster->fault_prng;
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        struct sim_group *group = &cluster->groups[g];
        uint32_t chosen = 0;
        uint8_t order[TC_REPLICAS_MAX];
        for (uint8_t r = 0; r < group->replica_count; r++) order[r] = r;
        for (uint8_t r = group->replica_count - 1; r > 0; r--) { // Fisher-Yates
            uint8_t j = (uint8_t)tc_prng_below(prng, (uint64_t)r + 1);
            uint8_t swap = order[r];
            order[r] = order[j];
            order[j] = swap;
        }
        for (uint8_t i = 0; i < group->replica_count; i++) {
            struct sim_replica *replica = sim_member(group, order[i], group->epoch);
            tc_assert(replica != NULL);
            replica->crash_pending = false;
            if (chosen < group->quorum) {
                core_heal(cluster, replica);
            } else {
                replica->core = false;
                if (replica->replica == NULL) replica->stay_down = true;
            }
            chosen += 1;
        }
        // A replacement that must complete (sim_reconfig.c): both holders of its slot heal.
        if (group->reconfig.state != SIM_RECONFIG_IDLE) {
            for (uint32_t h = 0; h < SIM_HOLDERS; h++) {
                struct sim_replica *replica = sim_holder(group, h);
                if (replica != NULL && replica->index == group->reconfig.slot) {
                    core_heal(cluster, replica);
                }
            }
        }
        for (uint32_t a = 0; a < cluster->app_count; a++) {
            sim_network_faults_disable(&cluster->network, sim_endpoint_session(g, a), true);
        }
        sim_network_faults_disable(&cluster->network, sim_endpoint_operator(g), true);
    }
    partition_heal(cluster);
    sim_network_unclog_all(&cluster->network);
}

// The core did not converge and the state is excusable (sim_checker_liveness_excusable): heal the
// whole group, so that the copies outside the core become reachable. Every replica joins the core.
void sim_faults_liveness_heal_all(struct sim_cluster *cluster) {
    tc_assert(cluster->liveness);
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        struct sim_group *group = &cluster->groups[g];
        for (uint32_t h = 0; h < SIM_HOLDERS; h++) {
            struct sim_replica *replica = sim_holder(group, h);
            if (replica != NULL) core_heal(cluster, replica);
        }
    }
    partition_heal(cluster);
    sim_network_unclog_all(&cluster->network);
}
