#ifndef TC_SIM_RUN_H
#define TC_SIM_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "sim_cluster.h"

// One seed, start to finish: build the cluster, the safety phase (all faults, clients working),
// the liveness phase (heal a core, every outstanding request completes, the core converges).

#define SIM_LIVENESS_TICKS_MAX 8000u

struct sim_run_options {
    uint64_t seed;
    uint64_t safety_ticks_max; // 0: as drawn from the seed; else a cap on the safety phase
    bool verbose;
    bool reconfig_heavy; // frequent leadership transfers and the smallest journal rings
};

struct sim_run_result {
    bool ok;
    char failure[1024];
    uint64_t ticks;
    uint64_t commits;
    uint64_t client_replies;
    uint32_t group_count;
    uint32_t replica_count;
    uint32_t app_count;
    uint64_t safety_ticks;
    uint64_t liveness_ticks;
    struct tc_checksum digest;
    struct sim_coverage coverage;
    // The core could not converge, the state was excusable (sim_checker_liveness_excusable) and
    // the whole group, healed, converged within the second budget: passed, but counted.
    bool liveness_core_excused;
    char liveness_excuse[1400]; // core + what was missing + why excusable
    // A human-readable account of the run (cluster, commits, view changes, faults, final replica
    // states), several lines, each ending in a newline.
    char summary[8192];
};

void sim_run(const struct sim_run_options *options, struct sim_run_result *result);

#endif
