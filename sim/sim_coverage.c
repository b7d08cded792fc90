#include <string.h>

#include "sim_cluster.h"
#include "tc_assert.h"

static const char *const fault_names[SIM_FAULT_COUNT] = {
    [SIM_FAULT_LOSS] = "loss",
    [SIM_FAULT_DUPLICATION] = "duplication",
    [SIM_FAULT_REORDER] = "delay_reorder",
    [SIM_FAULT_CLOG] = "clog",
    [SIM_FAULT_PARTITION_SYMMETRIC] = "partition_symmetric",
    [SIM_FAULT_PARTITION_ASYMMETRIC] = "partition_asymmetric",
    [SIM_FAULT_READ_ERROR] = "read_error",
    [SIM_FAULT_BIT_FLIP] = "bit_flip",
    [SIM_FAULT_LOST_WRITE] = "lost_unsynced_write",
    [SIM_FAULT_TORN_WRITE] = "torn_write",
    [SIM_FAULT_CRASH_PROCESS] = "crash_process",
    [SIM_FAULT_CRASH_MACHINE] = "crash_machine",
    [SIM_FAULT_PAUSE] = "pause",
    [SIM_FAULT_CLOCK] = "clock_skew_jump",
    [SIM_FAULT_EVICTION] = "client_eviction",
    [SIM_FAULT_LEADER_TRANSFER] = "leadership_transfer",
    [SIM_FAULT_STORE_FULL] = "store_full",
    [SIM_FAULT_RETENTION_TRUNCATED] = "retention_truncated",
    [SIM_FAULT_REPLACEMENT] = "replica_replaced",
    [SIM_FAULT_REQUESTER_CRASH] = "requester_crash",
    [SIM_FAULT_REDACTED_READ] = "redacted_read",
    [SIM_FAULT_FLUSH_SLOW] = "slow_bulk_flush",
};

const char *sim_fault_name(uint32_t fault) {
    tc_assert(fault < SIM_FAULT_COUNT);
    tc_assert(fault_names[fault] != NULL);
    return fault_names[fault];
}

void sim_coverage_add(struct sim_coverage *into, const struct sim_coverage *from) {
    for (uint32_t i = 0; i < TC_COMMAND_COUNT; i++) into->commands[i] += from->commands[i];
    for (uint32_t i = 0; i < SIM_FAULT_COUNT; i++) into->faults[i] += from->faults[i];
}

// Commands the simulator does not drive, so their count may be zero (none at present: the
// replacement driver brings start_epoch, docs/simulator.md).
static bool command_not_required(uint32_t command) {
    (void)command;
    return false;
}

uint32_t sim_coverage_print(const struct sim_coverage *coverage, FILE *out) {
    uint32_t zero = 0;
    fprintf(out, "coverage: messages delivered\n");
    for (uint32_t command = 1; command < TC_COMMAND_COUNT; command++) {
        bool optional = command_not_required(command);
        fprintf(out, "  %-22s %12llu%s\n", tc_command_name(command),
                (unsigned long long)coverage->commands[command],
                coverage->commands[command] != 0 ? ""
                : optional                       ? "  (not driven yet)"
                                                 : "  <- zero");
        zero += coverage->commands[command] == 0 && !optional ? 1u : 0u;
    }
    fprintf(out, "coverage: faults and paths\n");
    for (uint32_t fault = 0; fault < SIM_FAULT_COUNT; fault++) {
        fprintf(out, "  %-22s %12llu%s\n", sim_fault_name(fault),
                (unsigned long long)coverage->faults[fault],
                coverage->faults[fault] == 0 ? "  <- zero" : "");
        zero += coverage->faults[fault] == 0 ? 1u : 0u;
    }
    return zero;
}
