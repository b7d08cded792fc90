#include "sim_run.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tc_assert.h"
#include "tc_err.h"

// A core assertion (tc_assert in replica, journal, room or client) is a failed run, not a crashed
// simulator: the handler escapes back to sim_run, which reports it and frees the cluster.
static jmp_buf *assert_escape = NULL;
static char assert_message[512];

static void assert_handler(const char *expression, const char *file, int line) {
    snprintf(assert_message, sizeof(assert_message), "%s (%s:%d)", expression, file, line);
    if (assert_escape != NULL) longjmp(*assert_escape, 1);
}

static uint64_t safety_ticks_draw(uint64_t seed, uint64_t cap) {
    uint64_t state = seed ^ 0x5afe7ea5ull;
    struct tc_prng prng;
    tc_prng_init(&prng, tc_prng_splitmix64(&state));
    uint64_t ticks = tc_prng_range(&prng, 500, 3000);
    return cap == 0 ? ticks : tc_min_u64(ticks, cap);
}

// One liveness budget: ticks until every core replica and client converged (true), or a violation,
// or the budget is spent (false; *why names the first thing missing).
static bool liveness_run(struct sim_cluster *cluster, struct sim_run_result *result, char *why,
                         uint32_t why_size) {
    for (uint64_t t = 0; t < SIM_LIVENESS_TICKS_MAX && !cluster->failed; t++) {
        sim_cluster_tick(cluster);
        result->liveness_ticks += 1;
        if (cluster->failed) return false;
        if (sim_checker_converged(cluster, why, why_size)) return true;
    }
    return false;
}

static void cores_describe(const struct sim_cluster *cluster, char *out, uint32_t size) {
    uint32_t used = 0;
    out[0] = '\0';
    for (uint32_t g = 0; g < cluster->group_count && used < size; g++) {
        const struct sim_group *group = &cluster->groups[g];
        int n = snprintf(out + used, size - used, "%sg%u(%u replicas):", g ? " " : "", g,
                         group->replica_count);
        used += n > 0 ? (uint32_t)n : 0;
        for (uint32_t h = 0; h < SIM_HOLDERS && used < size; h++) {
            const struct sim_replica *replica = sim_holder_view(group, h);
            if (replica == NULL || !replica->core) continue;
            n = snprintf(out + used, size - used, "r%u%s", replica->index,
                         replica->since_epoch > 0 ? "'" : "");
            used += n > 0 ? (uint32_t)n : 0;
        }
    }
}

// Safety phase, then liveness: heal a core (a view-change quorum per group) and require it to
// converge. If it does not, and the state is excusable (the core may lack the only intact copy of
// something, which is legitimately outside it), heal every replica and require convergence within a
// second budget; the seed then passes as "core excused". A safety violation is never excused: the
// checkers keep running in every phase.
static void phases(struct sim_cluster *cluster, struct sim_run_result *result) {
    for (uint64_t t = 0; t < result->safety_ticks && !cluster->failed; t++) {
        sim_cluster_tick(cluster);
    }
    if (cluster->failed) return;
    if (cluster->verbose) printf("%llu sim: liveness phase\n", (unsigned long long)cluster->tick);
    sim_reconfig_liveness_begin(cluster);
    sim_faults_liveness_begin(cluster);
    char why[512] = "";
    char cores[160] = "";
    cores_describe(cluster, cores, sizeof(cores));
    if (liveness_run(cluster, result, why, sizeof(why))) {
        sim_history_check(cluster);
        return;
    }
    if (cluster->failed) return;
    char excuse[512] = "";
    if (!sim_checker_liveness_excusable(cluster, excuse, sizeof(excuse))) {
        sim_fail(cluster, "liveness", "no convergence %u ticks after healing the core [%s]: %s (%s)",
                 SIM_LIVENESS_TICKS_MAX, cores, why, excuse);
        return;
    }
    if (cluster->verbose) {
        printf("%llu sim: liveness: core [%s] stuck (%s); excusable (%s): healing every replica\n",
               (unsigned long long)cluster->tick, cores, why, excuse);
    }
    sim_faults_liveness_heal_all(cluster);
    char why_all[512] = "";
    if (liveness_run(cluster, result, why_all, sizeof(why_all))) {
        sim_history_check(cluster);
        result->liveness_core_excused = true;
        snprintf(result->liveness_excuse, sizeof(result->liveness_excuse), "core [%s]: %s; %s",
                 cores, why, excuse);
        return;
    }
    if (cluster->failed) return;
    sim_fail(cluster, "liveness",
             "no convergence %u ticks after healing the core [%s] (%s), nor %u more ticks after "
             "healing every replica: %s",
             SIM_LIVENESS_TICKS_MAX, cores, why, SIM_LIVENESS_TICKS_MAX, why_all);
}

struct text {
    char *buffer;
    uint32_t size;
    uint32_t used;
};

static void text_add(struct text *text, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *text, const char *format, ...) {
    if (text->used + 1 >= text->size) return;
    va_list args;
    va_start(args, format);
    int n = vsnprintf(text->buffer + text->used, text->size - text->used, format, args);
    va_end(args);
    if (n < 0) return;
    text->used = tc_min_u32(text->used + (uint32_t)n, text->size - 1);
}

// The human-readable account of a run (tigerchat-sim --seed N without --quiet).
static void summary_build(const struct sim_cluster *cluster, struct sim_run_result *result) {
    struct text text = {.buffer = result->summary, .size = sizeof(result->summary), .used = 0};
    const uint64_t *faults = cluster->coverage.faults;
    const struct sim_network_stats *net = &cluster->network.stats;
    text_add(&text, "cluster: %u group%s (", cluster->group_count,
             cluster->group_count == 1 ? "" : "s");
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        text_add(&text, "%sg%u: %u replica%s, %u journal slots", g ? "; " : "", g,
                 cluster->groups[g].replica_count, cluster->groups[g].replica_count == 1 ? "" : "s",
                 cluster->groups[g].options.journal_slot_count);
    }
    text_add(&text, "), %u app client%s with one session per group\n", cluster->app_count,
             cluster->app_count == 1 ? "" : "s");
    text_add(&text, "time: %llu ticks of %u ms = %llu.%02llu s simulated (safety %llu, liveness %llu)\n",
             (unsigned long long)cluster->tick, TC_TICK_MS,
             (unsigned long long)(cluster->tick * TC_TICK_MS / 1000),
             (unsigned long long)(cluster->tick * TC_TICK_MS % 1000 / 10),
             (unsigned long long)(cluster->tick - result->liveness_ticks),
             (unsigned long long)result->liveness_ticks);
    text_add(&text, "commits:");
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        text_add(&text, " g%u %llu ops", g, (unsigned long long)(cluster->groups[g].commit_count - 1));
    }
    text_add(&text, "; %llu replies accepted by clients; %llu view changes (%llu primaries' "
                    "do_view_change quorums checked)\n",
             (unsigned long long)cluster->client_replies,
             (unsigned long long)cluster->stats.view_changes,
             (unsigned long long)cluster->stats.view_change_quorums_checked);
    text_add(&text, "processes: %llu process crashes, %llu machine crashes, %llu restarts, %llu pauses\n",
             (unsigned long long)faults[SIM_FAULT_CRASH_PROCESS],
             (unsigned long long)faults[SIM_FAULT_CRASH_MACHINE],
             (unsigned long long)cluster->stats.restarts, (unsigned long long)faults[SIM_FAULT_PAUSE]);
    text_add(&text, "network: %llu sent, %llu delivered, dropped %llu (loss %llu, queue full %llu, "
                    "pool full %llu, partition %llu, to a down replica %llu), %llu duplicated, "
                    "%llu reordered, %llu clogs, %llu partitions\n",
             (unsigned long long)net->sent,
             (unsigned long long)(net->delivered - cluster->stats.lost_at_down),
             (unsigned long long)(net->dropped[SIM_DROP_LOSS] + net->dropped[SIM_DROP_PATH_FULL] +
                                  net->dropped[SIM_DROP_POOL_FULL] +
                                  net->dropped[SIM_DROP_PARTITION] + cluster->stats.lost_at_down),
             (unsigned long long)net->dropped[SIM_DROP_LOSS],
             (unsigned long long)net->dropped[SIM_DROP_PATH_FULL],
             (unsigned long long)net->dropped[SIM_DROP_POOL_FULL],
             (unsigned long long)net->dropped[SIM_DROP_PARTITION],
             (unsigned long long)cluster->stats.lost_at_down, (unsigned long long)net->duplicated,
             (unsigned long long)net->delayed_reordered, (unsigned long long)net->clogs,
             (unsigned long long)(faults[SIM_FAULT_PARTITION_SYMMETRIC] +
                                  faults[SIM_FAULT_PARTITION_ASYMMETRIC]));
    text_add(&text, "storage: %llu read errors, %llu bit flips, %llu lost and %llu torn unsynced "
                    "sectors; clocks: %llu skews/jumps; sessions evicted: %llu\n",
             (unsigned long long)faults[SIM_FAULT_READ_ERROR],
             (unsigned long long)faults[SIM_FAULT_BIT_FLIP],
             (unsigned long long)faults[SIM_FAULT_LOST_WRITE],
             (unsigned long long)faults[SIM_FAULT_TORN_WRITE],
             (unsigned long long)faults[SIM_FAULT_CLOCK],
             (unsigned long long)faults[SIM_FAULT_EVICTION]);
    text_add(&text, "checkpoints:");
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        const struct sim_group *group = &cluster->groups[g];
        uint64_t newest = 0;
        for (uint32_t h = 0; h < SIM_HOLDERS; h++) {
            const struct sim_replica *replica = sim_holder_view(group, h);
            if (replica == NULL || replica->replica == NULL) continue;
            struct tc_replica_status status;
            tc_replica_status_get(replica->replica, &status);
            if (status.checkpoint_op > newest) newest = status.checkpoint_op;
        }
        text_add(&text, " g%u every %llu ops, newest at op %llu (ring laps %llu);", g,
                 (unsigned long long)tc_replica_checkpoint_interval(&group->options),
                 (unsigned long long)newest,
                 (unsigned long long)((group->commit_count - 1) / group->options.journal_slot_count));
    }
    text_add(&text, " state sync chunks delivered %llu\n",
             (unsigned long long)cluster->coverage.commands[TC_COMMAND_SYNC]);
    text_add(&text, "leadership transfers:");
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        const struct sim_group *group = &cluster->groups[g];
        text_add(&text, " g%u %llu requested, %llu led by their target", g,
                 (unsigned long long)group->transfers_requested,
                 (unsigned long long)group->transfers_done);
        if (group->transfers_done > 0) {
            text_add(&text, " (mean %llu ms, max %llu ms)",
                     (unsigned long long)(group->transfer_ticks_sum * TC_TICK_MS /
                                          group->transfers_done),
                     (unsigned long long)(group->transfer_ticks_max * TC_TICK_MS));
        }
        text_add(&text, ";");
    }
    text_add(&text, "\n");
    text_add(&text, "replacements:");
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        const struct sim_group *group = &cluster->groups[g];
        text_add(&text, " g%u %llu started, %llu committed, %llu rolled back, %llu requester "
                 "crashes, epoch %u;", g,
                 (unsigned long long)group->replacements_requested,
                 (unsigned long long)group->replacements_done,
                 (unsigned long long)group->replacements_rolled_back,
                 (unsigned long long)group->replacement_requester_crashes, group->epoch);
    }
    text_add(&text, "\n");
    text_add(&text, "history: %llu retention ops; %llu pages, %llu messages compared with the "
             "model on %llu replicas, %llu truncated-by-retention answers, %llu keep_days floors "
             "checked\n",
             (unsigned long long)cluster->stats.retention_ops,
             (unsigned long long)cluster->stats.history_pages,
             (unsigned long long)cluster->stats.history_messages,
             (unsigned long long)cluster->stats.history_replicas,
             (unsigned long long)cluster->stats.history_truncated,
             (unsigned long long)cluster->stats.history_days_checked);
    uint64_t redactions = 0;
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        redactions += tc_room_model_redaction_count(cluster->groups[g].model);
    }
    text_add(&text, "redactions: %llu redact ops, %llu committed, %llu redacted messages read "
             "back without their body, chain verified\n",
             (unsigned long long)cluster->stats.redact_ops, (unsigned long long)redactions,
             (unsigned long long)cluster->stats.history_redacted);
    text_add(&text, "durability: %llu acknowledged prepares recorded, %llu not on disk after a "
                    "crash (allowed only if never committed)\n",
             (unsigned long long)cluster->stats.acks_recorded,
             (unsigned long long)cluster->stats.acks_suspect);
    if (result->liveness_core_excused) {
        text_add(&text, "liveness: core excused (%s); the whole healed group converged\n",
                 result->liveness_excuse);
    } else if (cluster->liveness && !cluster->failed) {
        text_add(&text, "liveness: the healed core converged in %llu ticks\n",
                 (unsigned long long)result->liveness_ticks);
    }
    text_add(&text, "final replica states:\n");
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        const struct sim_group *group = &cluster->groups[g];
        for (uint32_t h = 0; h < SIM_HOLDERS; h++) {
            const struct sim_replica *replica = sim_holder_view(group, h);
            if (replica == NULL) continue;
            text_add(&text, "  g%u r%u%s %-5s", g, replica->index,
                     replica->since_epoch > 0 ? "'" : " ", replica->core ? "core" : "");
            if (replica->replica == NULL) {
                text_add(&text, " down                                  restarts %llu\n",
                         (unsigned long long)replica->restarts);
                continue;
            }
            struct tc_replica_status status;
            tc_replica_status_get(replica->replica, &status);
            text_add(&text, " %-15s view %-3u %-7s op_head %-5llu commit %-5llu checkpoint %-5llu "
                            "restarts %llu\n",
                     tc_replica_state_name(status.state), status.view, status.primary ? "primary" : "backup",
                     (unsigned long long)status.op_head, (unsigned long long)status.commit_min,
                     (unsigned long long)status.checkpoint_op, (unsigned long long)replica->restarts);
        }
    }
}

static void result_fill(const struct sim_cluster *cluster, struct sim_run_result *result) {
    result->ok = !cluster->failed;
    if (cluster->failed) snprintf(result->failure, sizeof(result->failure), "%s", cluster->failure);
    result->ticks = cluster->tick;
    result->commits = sim_checker_commits(cluster);
    result->client_replies = cluster->client_replies;
    result->group_count = cluster->group_count;
    result->app_count = cluster->app_count;
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        result->replica_count += cluster->groups[g].replica_count;
    }
    result->coverage = cluster->coverage;
    summary_build(cluster, result);
    sim_checker_digest(cluster, result->ok ? "ok" : result->failure, &result->digest);
}

void sim_run(const struct sim_run_options *options, struct sim_run_result *result) {
    memset(result, 0, sizeof(*result));
    result->safety_ticks = safety_ticks_draw(options->seed, options->safety_ticks_max);
    struct sim_cluster *cluster = calloc(1, sizeof(struct sim_cluster));
    tc_assert(cluster != NULL);
    jmp_buf escape;
    tc_assert_handler_fn previous = tc_assert_set_handler(assert_handler);
    assert_escape = &escape;
    if (setjmp(escape) == 0) {
        int init = sim_cluster_init(cluster, options->seed, options->verbose,
                                    options->reconfig_heavy);
        if (init != TC_OK) {
            sim_fail(cluster, "setup", "cluster init failed: %s", tc_strerror(init));
        } else {
            phases(cluster, result);
        }
    } else {
        cluster->failed = false; // an assertion outranks a violation recorded earlier this tick
        sim_fail(cluster, "assertion", "%s", assert_message);
    }
    assert_escape = NULL;
    tc_assert_set_handler(previous);
    result_fill(cluster, result);
    sim_cluster_deinit(cluster);
    free(cluster);
}
