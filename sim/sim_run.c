#include "sim_run.h"

#include <setjmp.h>
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

static void phases(struct sim_cluster *cluster, struct sim_run_result *result) {
    for (uint64_t t = 0; t < result->safety_ticks && !cluster->failed; t++) {
        sim_cluster_tick(cluster);
    }
    if (cluster->failed) return;
    if (cluster->verbose) printf("%llu sim: liveness phase\n", (unsigned long long)cluster->tick);
    sim_faults_liveness_begin(cluster);
    char why[512] = "";
    for (uint64_t t = 0; t < SIM_LIVENESS_TICKS_MAX && !cluster->failed; t++) {
        sim_cluster_tick(cluster);
        result->liveness_ticks += 1;
        if (cluster->failed) return;
        if (sim_checker_converged(cluster, why, sizeof(why))) return;
    }
    if (!cluster->failed) {
        char cores[128] = "";
        uint32_t used = 0;
        for (uint32_t g = 0; g < cluster->group_count && used < sizeof(cores); g++) {
            const struct sim_group *group = &cluster->groups[g];
            int n = snprintf(cores + used, sizeof(cores) - used, "%sg%u(%u replicas):", g ? " " : "",
                             g, group->replica_count);
            used += n > 0 ? (uint32_t)n : 0;
            for (uint8_t r = 0; r < group->replica_count && used < sizeof(cores); r++) {
                if (!group->replicas[r].core) continue;
                n = snprintf(cores + used, sizeof(cores) - used, "r%u", r);
                used += n > 0 ? (uint32_t)n : 0;
            }
        }
        sim_fail(cluster, "liveness", "no convergence %u ticks after healing the core [%s]: %s",
                 SIM_LIVENESS_TICKS_MAX, cores, why);
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
        int init = sim_cluster_init(cluster, options->seed, options->verbose);
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
