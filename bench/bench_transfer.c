// Leadership transfer during the load (--transfer-at-ms): asks the primary to hand the group to
// the next replica (tc_replica_transfer_leadership, docs/vsr.md §11.5) and times it, from the
// request until a replica reports that it is a normal primary in the transfer's view or later.
// The load keeps running: clients find the new primary on their own.
#include "bench.h"
#include "tc_assert.h"
#include "tc_err.h"

#define NS_PER_MS 1000000ull

void bench_transfer_init(struct bench *bench) {
    bench->transfer = (struct bench_transfer){
        .state = bench->options.transfer_at_ms == 0 ? BENCH_TRANSFER_OFF : BENCH_TRANSFER_PENDING,
    };
}

// As the replica computes it: the smallest view above `view` that `target` leads.
static uint32_t transfer_view_target(uint32_t view, uint8_t target) {
    tc_assert(target < BENCH_REPLICAS);
    uint32_t view_target = view + 1u;
    while (view_target % BENCH_REPLICAS != target) view_target++;
    tc_assert(view_target - view <= BENCH_REPLICAS);
    return view_target;
}

static bool transfer_due(const struct bench *bench, uint64_t now_ns) {
    if (bench->phase != BENCH_PHASE_MEASURE) return false;
    const uint64_t delay_ns = (uint64_t)bench->options.transfer_at_ms * NS_PER_MS;
    return now_ns >= bench->results.measure_start_ns + delay_ns;
}

static void transfer_request(struct bench *bench, uint8_t primary) {
    struct bench_transfer *transfer = &bench->transfer;
    struct tc_replica *replica = bench->replicas[primary].replica;
    struct tc_replica_status status;
    tc_replica_status_get(replica, &status);
    transfer->from = primary;
    transfer->to = (uint8_t)((primary + 1u) % BENCH_REPLICAS);
    transfer->view_from = status.view;
    transfer->view_target = transfer_view_target(status.view, transfer->to);
    transfer->request_ns = tc_io_linux_monotonic_ns();
    transfer->result = tc_replica_transfer_leadership(replica, transfer->to);
    transfer->state =
        transfer->result == TC_OK ? BENCH_TRANSFER_REQUESTED : BENCH_TRANSFER_REFUSED;
}

// Done once any replica is a normal primary in a view >= view_target (a later view too: if the
// target view change stalled, the group may have moved past it).
static void transfer_check_done(struct bench *bench, uint64_t now_ns) {
    struct bench_transfer *transfer = &bench->transfer;
    for (uint8_t index = 0; index < BENCH_REPLICAS; index++) {
        struct tc_replica_status status;
        tc_replica_status_get(bench->replicas[index].replica, &status);
        if (status.state != TC_REPLICA_NORMAL || !status.primary) continue;
        if (status.view < transfer->view_target) continue;
        tc_assert(now_ns >= transfer->request_ns);
        transfer->state = BENCH_TRANSFER_DONE;
        transfer->leader = index;
        transfer->view_reached = status.view;
        transfer->done_ns = now_ns;
        return;
    }
}

void bench_transfer_update(struct bench *bench) {
    struct bench_transfer *transfer = &bench->transfer;
    if (transfer->state == BENCH_TRANSFER_PENDING) {
        if (!transfer_due(bench, tc_io_linux_monotonic_ns())) return;
        const int primary = bench_cluster_primary(bench);
        if (primary < 0) return; // Mid view change: ask the next turn there is a primary.
        transfer_request(bench, (uint8_t)primary);
    } else if (transfer->state == BENCH_TRANSFER_REQUESTED) {
        transfer_check_done(bench, tc_io_linux_monotonic_ns());
    }
}

// In flight during the transfer: answered after the request, and sent before completion (or
// the transfer has not completed).
void bench_transfer_on_reply(struct bench *bench, uint64_t request_start_ns, uint64_t reply_ns) {
    struct bench_transfer *transfer = &bench->transfer;
    tc_assert(request_start_ns <= reply_ns);
    const bool done = transfer->state == BENCH_TRANSFER_DONE;
    if (!done && transfer->state != BENCH_TRANSFER_REQUESTED) return;
    if (reply_ns < transfer->request_ns) return;
    if (done && request_start_ns > transfer->done_ns) return;
    transfer->requests++;
    transfer->latency_max_ns = tc_max_u64(transfer->latency_max_ns, reply_ns - request_start_ns);
}
