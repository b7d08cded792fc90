// tigerchat-bench: command line, run phases, report.
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#if TC_BENCH_WS
#include "bench_ws.h"
#endif
#include "tc_assert.h"
#include "tc_err.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
#define BENCH_SETTLE_NS (10ull * NS_PER_S) // bound on recovery and drain waits
// Backups may be far behind at the stop (they share the one loop thread with the primary).
#define BENCH_CONVERGE_NS (120ull * NS_PER_S)
// Target for the largest per-message commit latency of the measured interval, checkpoints
// included (the "checkpoint stall check" line). Reported; it does not change the exit status.
#define BENCH_STALL_TARGET_US ((uint64_t)50000u)

static struct bench bench; // Large (clients, histograms): static storage, not the stack.

static void usage(FILE *out) {
    fprintf(out,
            "usage: tigerchat-bench [options]\n"
            "       tigerchat-bench ws [options]   network load on running nodes (ws --help)\n"
            "  In-process 3-replica VSR group on real files (fdatasync), N clients with one chat\n"
            "  batch in flight each. Prints messages/s and commit latency (send -> reply).\n"
            "  --duration-s N     measured seconds after warm-up (default 5); the only bound on\n"
            "                     the load: the journal ring wraps (checkpoint every slots/2 ops)\n"
            "  --warmup-ms N      warm-up before measuring (default 500)\n"
            "  --clients N        VSR clients, 1..%u (default 8)\n"
            "  --message-size N   bytes per chat message body, 1..%u (default 200)\n"
            "  --batch N          messages per request (default: as many as fit)\n"
            "  --dir PATH         data files directory (default ./bench-data)\n"
            "  --journal-slots N  journal slots per replica, power of two %u..%u (default 8192)\n"
            "  --store-mib N      message store per replica in MiB of 1 MiB segments (default\n"
            "                     2048); sends fail with store_full when it is exhausted\n"
            "  --net-slots N      in-process network queue capacity (default 1024)\n"
            "  --storage-threads N  I/O threads per data file, 1..%u (default %u)\n"
            "  --transfer-at-ms N N ms into the measured interval, ask the primary to hand the\n"
            "                     group to the next replica and time it (default 0: off)\n"
            "  --lag-mib N        cut one backup off at load start; when the others' message\n"
            "                     store is N MiB ahead, stop the load, reconnect it and time its\n"
            "                     catch-up (state sync + repair; default 0: off)\n"
            "  --seed N           seed for ids, payload and replica PRNGs (default 1)\n"
            "  --keep             keep the data files (default: delete them)\n"
            "  --json             print one JSON object instead of the text report\n"
            "  --verbose          replica info logs on stderr\n",
            BENCH_CLIENTS_MAX, TC_ROOM_BODY_SIZE_MAX, TC_JOURNAL_SLOT_COUNT_MIN,
            TC_JOURNAL_SLOT_COUNT_MAX, TC_IO_LINUX_STORAGE_THREADS_MAX,
            TC_IO_LINUX_STORAGE_THREADS_DEFAULT);
}

static bool parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out) {
    if (text == NULL || text[0] == '\0' || text[0] == '-') return false;
    char *end = NULL;
    errno = 0;
    const unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || end == NULL || *end != '\0') return false;
    if (value < min || value > max) return false;
    *out = value;
    return true;
}

struct option_number {
    const char *name;
    uint64_t min;
    uint64_t max;
    uint32_t *target;
};

// Parses "--name VALUE" for the numeric options. Returns 1 if handled, 0 if not a number option,
// -1 on a bad value.
static int parse_number_option(struct bench_options *options, const char *name,
                               const char *value) {
    const struct option_number table[] = {
        {"--duration-s", 1, 3600, &options->duration_s},
        {"--warmup-ms", 0, 600000, &options->warmup_ms},
        {"--clients", 1, BENCH_CLIENTS_MAX, &options->clients},
        {"--message-size", 1, TC_ROOM_BODY_SIZE_MAX, &options->message_size},
        {"--batch", 0, TC_ROOM_BATCH_OPS_MAX, &options->batch},
        {"--journal-slots", TC_JOURNAL_SLOT_COUNT_MIN, TC_JOURNAL_SLOT_COUNT_MAX,
         &options->journal_slots},
        {"--store-mib", 2, 1u << 20, &options->store_mib},
        {"--net-slots", 64, 65536, &options->net_slots},
        {"--storage-threads", 1, TC_IO_LINUX_STORAGE_THREADS_MAX, &options->storage_threads},
        {"--transfer-at-ms", 0, 3600000, &options->transfer_at_ms},
        {"--lag-mib", 0, 1u << 20, &options->lag_mib},
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(table); i++) {
        if (strcmp(name, table[i].name) != 0) continue;
        uint64_t number = 0;
        if (!parse_u64(value, table[i].min, table[i].max, &number)) {
            fprintf(stderr, "tigerchat-bench: %s needs an integer in [%" PRIu64 ", %" PRIu64 "]\n",
                    name, table[i].min, table[i].max);
            return -1;
        }
        *table[i].target = (uint32_t)number;
        return 1;
    }
    return 0;
}

static int parse_flag(struct bench_options *options, const char *name) {
    if (strcmp(name, "--keep") == 0) options->keep = true;
    else if (strcmp(name, "--json") == 0) options->json = true;
    else if (strcmp(name, "--verbose") == 0) options->verbose = true;
    else return 0;
    return 1;
}

// Returns 0, or the exit status (0 after --help is signalled as -1).
static int parse_options(struct bench_options *options, int argc, char **argv) {
    *options = (struct bench_options){
        .duration_s = 5, .warmup_ms = 500, .clients = 8, .message_size = 200, .batch = 0,
        .journal_slots = 8192, .store_mib = 2048, .net_slots = 1024, .storage_threads = 2,
        .seed = 1,
        .dir = "./bench-data",
    };
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) return -1;
        if (parse_flag(options, name) == 1) continue;
        const int number = parse_number_option(options, name, value);
        if (number < 0) return 2;
        if (number == 1) {
            i++;
            continue;
        }
        if (strcmp(name, "--dir") == 0 && value != NULL && value[0] != '\0') {
            options->dir = value;
            i++;
        } else if (strcmp(name, "--seed") == 0 && parse_u64(value, 0, UINT64_MAX, &options->seed)) {
            i++;
        } else {
            fprintf(stderr, "tigerchat-bench: unknown or incomplete option '%s'\n", name);
            return 2;
        }
    }
    if (!tc_is_power_of_two(options->journal_slots)) {
        fprintf(stderr, "tigerchat-bench: --journal-slots must be a power of two\n");
        return 2;
    }
    if (options->transfer_at_ms >= (uint64_t)options->duration_s * 1000u) {
        fprintf(stderr, "tigerchat-bench: --transfer-at-ms must be below --duration-s x 1000\n");
        return 2;
    }
    return 0;
}

// ------------------------------------------------------------------------------------------------
// Running.

static bool run_until(bool (*done)(const struct bench *), uint64_t timeout_ns) {
    const uint64_t deadline_ns = tc_io_linux_monotonic_ns() + timeout_ns;
    while (!done(&bench)) {
        const uint64_t now_ns = bench_cluster_run_once(&bench);
        if (now_ns > deadline_ns) return done(&bench);
    }
    return true;
}

static bool load_finished(const struct bench *b) {
    return b->phase == BENCH_PHASE_DRAIN && bench_load_idle(b);
}

struct bench_end {
    bool normal;
    bool finished;
    bool converged;
    bool digests_equal;
    uint64_t load_setup_ns; // register + create rooms, until every client sends chat batches
    uint64_t drain_ns;      // end of measurement until no request is in flight
    uint64_t converge_ns;   // then until every replica applied everything committed
    uint64_t converged_at_ns;
    struct tc_replica_status statuses[BENCH_REPLICAS];
    struct tc_io_linux_storage_stats storage;
};

static void run(struct bench_end *end) {
    memset(end, 0, sizeof(*end));
    const uint64_t open_ns = tc_io_linux_monotonic_ns();
    end->normal = run_until(bench_cluster_all_normal, BENCH_SETTLE_NS);
    bench.recover_ns = tc_io_linux_monotonic_ns() - open_ns;
    if (end->normal) {
        const uint64_t load_start_ns = tc_io_linux_monotonic_ns();
        bench_load_start(&bench);
        const uint64_t budget_ns = bench.options.warmup_ms * NS_PER_MS +
                                   bench.options.duration_s * NS_PER_S + 6u * BENCH_SETTLE_NS;
        end->finished = run_until(load_finished, budget_ns);
        const uint64_t finished_ns = tc_io_linux_monotonic_ns();
        end->converged = run_until(bench_cluster_converged, BENCH_CONVERGE_NS);
        end->converge_ns = tc_io_linux_monotonic_ns() - finished_ns;
        end->converged_at_ns = finished_ns + end->converge_ns;
        if (bench.warmup_start_ns > load_start_ns) {
            end->load_setup_ns = bench.warmup_start_ns - load_start_ns;
        }
        const uint64_t stop_ns = bench.results.measure_end_ns;
        if (stop_ns > 0 && finished_ns > stop_ns) end->drain_ns = finished_ns - stop_ns;
        end->digests_equal = end->converged && bench_cluster_digests_equal(&bench);
    }
    for (uint32_t index = 0; index < BENCH_REPLICAS; index++) {
        tc_replica_status_get(bench.replicas[index].replica, &end->statuses[index]);
    }
    bench_cluster_quiesce(&bench);
    bench_cluster_storage_stats(&bench, &end->storage);
}

// ------------------------------------------------------------------------------------------------
// Report.

struct bench_figures {
    double duration_s;
    double messages_per_second;
    double batches_per_second;
    uint64_t message_us[5]; // p50 p90 p99 p999 max
    uint64_t request_us[5];
    uint64_t message_mean_us;
    uint64_t op_head; // highest op_head of the replicas at the end
    // Journal wrap-around and checkpoints (from tc_replica_status at the end of the run).
    double ring_laps;              // op_head / journal_slots
    uint64_t checkpoint_interval;  // ops between checkpoints (journal_slots / 2)
    uint64_t checkpoint_op_newest; // highest durable checkpoint op of the replicas
    uint64_t checkpoints_measured[BENCH_REPLICAS]; // durable during the measured interval
    uint64_t state_syncs;          // state syncs completed, all replicas (0 when healthy)
    // Checkpoint stall check: the exact max per-message latency of the measured interval.
    bool stall_measured; // at least one message was measured
    bool stall_pass;     // stall_measured and message_us[4] <= BENCH_STALL_TARGET_US
    // Every chat message of the run over the time from load start until all replicas applied
    // everything: the rate the single loop thread sustains with all three state machines.
    double applied_everywhere_per_second;
};

static uint64_t ns_to_us_ceil(uint64_t ns) { return (ns + 999u) / 1000u; }

static void figures_latency(const struct bench_histogram *histogram, uint64_t out_us[5]) {
    static const uint32_t permille[4] = {500, 900, 990, 999};
    for (uint32_t i = 0; i < 4u; i++) {
        out_us[i] = ns_to_us_ceil(bench_histogram_percentile(histogram, permille[i]));
    }
    out_us[4] = ns_to_us_ceil(histogram->total == 0 ? 0 : histogram->value_max);
    tc_assert(out_us[0] <= out_us[4]);
}

static void figures_compute(const struct bench_end *end, struct bench_figures *figures) {
    const struct bench_results *results = &bench.results;
    memset(figures, 0, sizeof(*figures));
    if (results->measure_end_ns > results->measure_start_ns) {
        figures->duration_s =
            (double)(results->measure_end_ns - results->measure_start_ns) / (double)NS_PER_S;
        figures->messages_per_second = (double)results->messages / figures->duration_s;
        figures->batches_per_second = (double)results->batches / figures->duration_s;
    }
    figures_latency(&results->latency_message, figures->message_us);
    figures_latency(&results->latency_request, figures->request_us);
    const struct bench_histogram *messages = &results->latency_message;
    figures->message_mean_us =
        messages->total == 0 ? 0 : ns_to_us_ceil(messages->value_sum / messages->total);
    if (end->converged && end->converged_at_ns > bench.warmup_start_ns &&
        bench.warmup_start_ns > 0) {
        const double seconds =
            (double)(end->converged_at_ns - bench.warmup_start_ns) / (double)NS_PER_S;
        figures->applied_everywhere_per_second = (double)results->messages_total / seconds;
    }
    for (uint32_t index = 0; index < BENCH_REPLICAS; index++) {
        const struct tc_replica_status *status = &end->statuses[index];
        figures->op_head = tc_max_u64(figures->op_head, status->op_head);
        figures->checkpoint_op_newest =
            tc_max_u64(figures->checkpoint_op_newest, status->checkpoint_op);
        figures->state_syncs += status->syncs_done;
        tc_assert(results->checkpoints_at_stop[index] >=
                  results->checkpoints_at_measure_start[index]);
        figures->checkpoints_measured[index] =
            results->checkpoints_at_stop[index] - results->checkpoints_at_measure_start[index];
    }
    tc_assert(bench.options.journal_slots > 0);
    figures->ring_laps = (double)figures->op_head / (double)bench.options.journal_slots;
    figures->checkpoint_interval = tc_replica_checkpoint_interval(&bench.replicas[0].options);
    // message_us[4] is the exact max rounded up to a microsecond, so "<= target us" is the same
    // as "max <= target x 1000 ns".
    figures->stall_measured = messages->total > 0;
    figures->stall_pass =
        figures->stall_measured && figures->message_us[4] <= BENCH_STALL_TARGET_US;
}

// ------------------------------------------------------------------------------------------------
// Leadership transfer (--transfer-at-ms): one line in the text report, fields in the JSON.

static const char *transfer_state_name(enum bench_transfer_state state) {
    switch (state) {
    case BENCH_TRANSFER_OFF: return "off";
    case BENCH_TRANSFER_PENDING: return "not_requested";
    case BENCH_TRANSFER_REQUESTED: return "incomplete";
    case BENCH_TRANSFER_DONE: return "done";
    case BENCH_TRANSFER_REFUSED: return "refused";
    default: return "unknown";
    }
}

static double transfer_ms(const struct bench_transfer *transfer) {
    tc_assert(transfer->state == BENCH_TRANSFER_DONE);
    tc_assert(transfer->done_ns >= transfer->request_ns);
    return (double)(transfer->done_ns - transfer->request_ns) / 1e6;
}

// The outcome after "r1 -> r2 (view 1 -> 4) ": refused, incomplete or the time it took.
static void report_transfer_outcome(const struct bench_transfer *t) {
    if (t->state == BENCH_TRANSFER_REFUSED) {
        printf("refused: %s (%s)\n", tc_errname(t->result), tc_strerror(t->result));
        return;
    }
    if (t->state == BENCH_TRANSFER_DONE) printf("took %.1f ms", transfer_ms(t));
    else printf("did not complete before the run ended");
    printf("; requests during it: max per-message latency %" PRIu64 " us (%" PRIu64
           " requests)", ns_to_us_ceil(t->latency_max_ns), t->requests);
    if (t->state == BENCH_TRANSFER_DONE &&
        (t->leader != t->to || t->view_reached != t->view_target)) {
        printf("; first normal primary seen: r%u in view %u", t->leader, t->view_reached);
    }
    printf("\n");
}

// Catch-up after a lag (--lag-mib): one line in the text report, fields in the JSON.
static double lag_ms(const struct bench_lag *lag) {
    return (double)(lag->done_ns - lag->reconnect_ns) / 1e6;
}

static uint64_t lag_synced_bytes(const struct bench_lag *lag, const struct tc_replica_status *s) {
    return s->sync_store_bytes - lag->store_bytes_synced_before;
}

static void report_lag_text(const struct bench_end *end) {
    const struct bench_lag *lag = &bench.lag;
    if (lag->state == BENCH_LAG_OFF) return;
    if (lag->state < BENCH_LAG_CATCHING_UP) {
        printf("  lag        replica %u never got %u MiB behind before the run ended\n",
               lag->lagging, bench.options.lag_mib);
        return;
    }
    const struct tc_replica_status *s = &end->statuses[lag->lagging];
    printf("  lag        replica %u cut off until %.1f MiB of store history behind (commit %" PRIu64
           "); ", lag->lagging, (double)lag->behind_bytes / (1024.0 * 1024.0), lag->commit_target);
    if (lag->state != BENCH_LAG_DONE) {
        printf("did not catch up before the run ended\n");
        return;
    }
    double ms = lag_ms(lag);
    double mib = (double)lag_synced_bytes(lag, s) / (1024.0 * 1024.0);
    printf("caught up in %.1f ms: %" PRIu64 " state syncs, %.1f MiB of store segments fetched "
           "(%.1f MiB/s)\n", ms, s->syncs_done, mib, ms > 0 ? mib / (ms / 1000.0) : 0.0);
}

static void report_lag_json(const struct bench_end *end) {
    const struct bench_lag *lag = &bench.lag;
    if (lag->state == BENCH_LAG_OFF) return;
    const struct tc_replica_status *s = &end->statuses[lag->lagging];
    printf("\"lag_replica\":%u,\"lag_behind_bytes\":%" PRIu64 ",", lag->lagging,
           lag->behind_bytes);
    if (lag->state == BENCH_LAG_DONE) {
        printf("\"lag_catch_up_ms\":%.1f,\"lag_store_bytes_fetched\":%" PRIu64
               ",\"lag_syncs\":%" PRIu64 ",", lag_ms(lag), lag_synced_bytes(lag, s),
               s->syncs_done);
    } else {
        printf("\"lag_catch_up_ms\":null,");
    }
}

static void report_transfer_text(void) {
    const struct bench_transfer *t = &bench.transfer;
    if (t->state == BENCH_TRANSFER_OFF) return;
    if (t->state == BENCH_TRANSFER_PENDING) {
        printf("  leadership transfer: not requested (the measured interval ended before %u ms "
               "had passed with a primary to ask)\n", bench.options.transfer_at_ms);
        return;
    }
    printf("  leadership transfer: r%u -> r%u (view %u -> %u) ", t->from, t->to, t->view_from,
           t->view_target);
    report_transfer_outcome(t);
}

// Fields followed by a comma; nothing without --transfer-at-ms.
static void report_transfer_json(void) {
    const struct bench_transfer *t = &bench.transfer;
    if (t->state == BENCH_TRANSFER_OFF) return;
    printf("\"transfer\":\"%s\",", transfer_state_name(t->state));
    if (t->state == BENCH_TRANSFER_DONE) printf("\"transfer_ms\":%.1f,", transfer_ms(t));
    else printf("\"transfer_ms\":null,");
    if (t->state == BENCH_TRANSFER_PENDING) return;
    printf("\"transfer_from\":%u,\"transfer_to\":%u,\"transfer_view_from\":%u,"
           "\"transfer_view_to\":%u,\"transfer_result\":\"%s\",\"transfer_requests\":%" PRIu64
           ",\"transfer_max_us\":%" PRIu64 ",", t->from, t->to, t->view_from, t->view_target,
           tc_errname(t->result), t->requests, ns_to_us_ceil(t->latency_max_ns));
    if (t->state == BENCH_TRANSFER_DONE) {
        printf("\"transfer_leader\":%u,\"transfer_view_reached\":%u,", t->leader,
               t->view_reached);
    }
}

static void report_text_summary(const struct bench_end *end, const struct bench_figures *f) {
    const struct bench_results *r = &bench.results;
    const struct bench_options *o = &bench.options;
    const struct bench_net_stats *net = &bench.net.stats;
    const struct tc_io_linux_storage_stats *s = &end->storage;
    printf("\ntigerchat-bench: 1 group x %u replicas in one process, real files + fdatasync, "
           "zero-delay in-process network\n", BENCH_REPLICAS);
    printf("  config     clients=%u message_size=%uB messages_per_batch=%u (body %u B) "
           "journal_slots=%u storage_threads=%u dir=%s\n", o->clients, o->message_size,
           r->messages_per_batch, r->batch_body_bytes, o->journal_slots, o->storage_threads,
           o->dir);
    printf("  throughput %.0f messages/s, %.1f batches/s over %.3f s measured (after %u ms "
           "warm-up; stopped by %s)\n", f->messages_per_second, f->batches_per_second,
           f->duration_s, o->warmup_ms, r->stop_reason == NULL ? "-" : r->stop_reason);
    printf("  latency    per message us: p50=%" PRIu64 " p90=%" PRIu64 " p99=%" PRIu64
           " p99.9=%" PRIu64 " max=%" PRIu64 " mean=%" PRIu64 "\n", f->message_us[0],
           f->message_us[1], f->message_us[2], f->message_us[3], f->message_us[4],
           f->message_mean_us);
    printf("             per request us: p50=%" PRIu64 " p90=%" PRIu64 " p99=%" PRIu64
           " p99.9=%" PRIu64 " max=%" PRIu64 " (client send -> reply, %" PRIu64 " requests)\n",
           f->request_us[0], f->request_us[1], f->request_us[2], f->request_us[3],
           f->request_us[4], r->latency_request.total);
    printf("  journal    ring laps=%.2f (op_head=%" PRIu64 " / %u slots; checkpoint every %" PRIu64
           " ops; requests issued=%" PRIu64 ")\n", f->ring_laps, f->op_head, o->journal_slots,
           f->checkpoint_interval, r->requests_issued);
    printf("  checkpoint durable: replica0=%" PRIu64 " replica1=%" PRIu64 " replica2=%" PRIu64
           " (in the measured interval: %" PRIu64 "/%" PRIu64 "/%" PRIu64 "); newest checkpoint "
           "op=%" PRIu64 "; state syncs=%" PRIu64 " (0 expected)\n",
           end->statuses[0].checkpoints_durable, end->statuses[1].checkpoints_durable,
           end->statuses[2].checkpoints_durable, f->checkpoints_measured[0],
           f->checkpoints_measured[1], f->checkpoints_measured[2], f->checkpoint_op_newest,
           f->state_syncs);
    printf("  at stop    commit_max=%" PRIu64 " applied: replica0=%" PRIu64 " replica1=%" PRIu64
           " replica2=%" PRIu64 "; applied on all replicas: %.0f messages/s (load start to "
           "convergence)\n", r->commit_max_at_stop, r->commit_min_at_stop[0],
           r->commit_min_at_stop[1], r->commit_min_at_stop[2], f->applied_everywhere_per_second);
    printf("  run total  batches=%" PRIu64 " messages=%" PRIu64 " failed_results=%" PRIu64 "\n",
           r->batches_total, r->messages_total, r->message_errors);
    printf("  storage    syncs=%" PRIu64 " (mean %" PRIu64 " us, max %" PRIu64 " us) writes=%"
           PRIu64 " (%.1f MiB) reads=%" PRIu64 " errors=%" PRIu64 "\n", s->syncs,
           s->syncs == 0 ? 0 : ns_to_us_ceil(s->sync_ns_total / s->syncs),
           ns_to_us_ceil(s->sync_ns_max), s->writes, (double)s->bytes_written / 1048576.0,
           s->reads, s->errors);
    printf("  network    messages=%" PRIu64 " (%.1f MiB) dropped_full=%" PRIu64
           " dropped_unknown=%" PRIu64 " queue_max=%u discarded_at_stop=%" PRIu64 "\n",
           net->sent, (double)net->bytes_sent / 1048576.0, net->dropped_full,
           net->dropped_unknown, net->queued_max, net->discarded_at_stop);
    for (uint32_t i = 0; i < BENCH_REPLICAS; i++) {
        const struct tc_replica_status *st = &end->statuses[i];
        printf("  replica %u  %s%s view=%u op_head=%" PRIu64 " commit_min=%" PRIu64
               " commit_max=%" PRIu64 " checkpoint_op=%" PRIu64 " checkpoints=%" PRIu64
               " syncs=%" PRIu64 " faulty=%u dropped_invalid=%" PRIu64 "\n", i,
               tc_replica_state_name(st->state), st->primary ? " primary" : "", st->view,
               st->op_head, st->commit_min, st->commit_max, st->checkpoint_op,
               st->checkpoints_durable, st->syncs_done, st->journal_faulty,
               st->messages_dropped_invalid);
    }
    if (f->stall_measured) {
        printf("  checkpoint stall check: max per-message latency %" PRIu64 " us (target <= %"
               PRIu64 " us): %s\n", f->message_us[4], BENCH_STALL_TARGET_US,
               f->stall_pass ? "PASS" : "FAIL");
    } else {
        printf("  checkpoint stall check: max per-message latency - us (target <= %" PRIu64
               " us): FAIL (no message measured)\n", BENCH_STALL_TARGET_US);
    }
    report_transfer_text();
    report_lag_text(end);
    printf("  checks     normal=%s finished=%s converged=%s digests_equal=%s failure=%s\n",
           end->normal ? "yes" : "no", end->finished ? "yes" : "no",
           end->converged ? "yes" : "no", end->digests_equal ? "yes" : "no",
           bench.failure == NULL ? "none" : bench.failure);
    printf("  phases     create+format 3 files %.1f ms, recovery to normal %.1f ms, register+rooms "
           "%.1f ms, drain %.1f ms, converge %.1f ms\n", (double)bench.format_ns / 1e6,
           (double)bench.recover_ns / 1e6, (double)end->load_setup_ns / 1e6,
           (double)end->drain_ns / 1e6, (double)end->converge_ns / 1e6);
    printf("  loop       turns=%" PRIu64 " ticks=%" PRIu64 " skipped=%" PRIu64 " idle_waits=%"
           PRIu64 "\n", bench.turns, bench.ticks, bench.ticks_skipped, bench.waits);
}

static void report_json(const struct bench_end *end, const struct bench_figures *f) {
    const struct bench_results *r = &bench.results;
    const struct bench_options *o = &bench.options;
    const struct bench_net_stats *net = &bench.net.stats;
    const struct tc_io_linux_storage_stats *s = &end->storage;
    printf("{\"messages_per_second\":%.1f,\"p50_us\":%" PRIu64 ",\"p90_us\":%" PRIu64
           ",\"p99_us\":%" PRIu64 ",\"p999_us\":%" PRIu64 ",\"max_us\":%" PRIu64
           ",\"mean_us\":%" PRIu64 ",", f->messages_per_second, f->message_us[0],
           f->message_us[1], f->message_us[2], f->message_us[3], f->message_us[4],
           f->message_mean_us);
    printf("\"request_p50_us\":%" PRIu64 ",\"request_p99_us\":%" PRIu64
           ",\"request_max_us\":%" PRIu64 ",\"batches\":%" PRIu64 ",\"messages\":%" PRIu64
           ",\"duration_s\":%.3f,\"stop_reason\":\"%s\",", f->request_us[0], f->request_us[2],
           f->request_us[4], r->batches, r->messages, f->duration_s,
           r->stop_reason == NULL ? "none" : r->stop_reason);
    printf("\"clients\":%u,\"message_size\":%u,\"messages_per_batch\":%u,\"journal_slots\":%u,"
           "\"op_head\":%" PRIu64 ",\"requests_issued\":%" PRIu64 ",\"failed_results\":%" PRIu64
           ",", o->clients, o->message_size, r->messages_per_batch, o->journal_slots, f->op_head,
           r->requests_issued, r->message_errors);
    printf("\"ring_laps\":%.3f,\"checkpoint_interval\":%" PRIu64 ",\"checkpoints_durable\":[%"
           PRIu64 ",%" PRIu64 ",%" PRIu64 "],\"checkpoints_measured\":[%" PRIu64 ",%" PRIu64 ",%"
           PRIu64 "],\"checkpoint_op\":%" PRIu64 ",\"state_syncs\":%" PRIu64 ",",
           f->ring_laps, f->checkpoint_interval, end->statuses[0].checkpoints_durable,
           end->statuses[1].checkpoints_durable, end->statuses[2].checkpoints_durable,
           f->checkpoints_measured[0], f->checkpoints_measured[1], f->checkpoints_measured[2],
           f->checkpoint_op_newest, f->state_syncs);
    printf("\"stall_target_us\":%" PRIu64 ",\"stall_check\":\"%s\",", BENCH_STALL_TARGET_US,
           f->stall_pass ? "pass" : "fail");
    printf("\"syncs\":%" PRIu64 ",\"sync_mean_us\":%" PRIu64 ",\"sync_max_us\":%" PRIu64
           ",\"storage_errors\":%" PRIu64 ",\"net_messages\":%" PRIu64 ",\"net_dropped\":%" PRIu64
           ",", s->syncs, s->syncs == 0 ? 0 : ns_to_us_ceil(s->sync_ns_total / s->syncs),
           ns_to_us_ceil(s->sync_ns_max), s->errors, net->sent,
           net->dropped_full + net->dropped_unknown);
    printf("\"commit_max_at_stop\":%" PRIu64 ",\"applied_at_stop\":[%" PRIu64 ",%" PRIu64
           ",%" PRIu64 "],\"converge_ms\":%.1f,\"applied_everywhere_per_second\":%.1f,",
           r->commit_max_at_stop, r->commit_min_at_stop[0], r->commit_min_at_stop[1],
           r->commit_min_at_stop[2], (double)end->converge_ns / 1e6,
           f->applied_everywhere_per_second);
    report_transfer_json();
    report_lag_json(end);
    printf("\"converged\":%s,\"digests_equal\":%s,\"failure\":\"%s\"}\n",
           end->converged ? "true" : "false", end->digests_equal ? "true" : "false",
           bench.failure == NULL ? "none" : bench.failure);
}

static int report(const struct bench_end *end) {
    struct bench_figures figures;
    figures_compute(end, &figures);
    const bool measured = bench.results.messages > 0 && figures.duration_s > 0;
    if (bench.options.json) {
        report_json(end, &figures);
    } else {
        printf("messages_per_second=%.0f p50_us=%" PRIu64 " p99_us=%" PRIu64 " max_us=%" PRIu64
               " batches=%" PRIu64 " messages=%" PRIu64 " duration_s=%.3f\n",
               figures.messages_per_second, figures.message_us[0], figures.message_us[2],
               figures.message_us[4], bench.results.batches, bench.results.messages,
               figures.duration_s);
        report_text_summary(end, &figures);
    }
    const char *why = NULL;
    if (!end->normal) why = "replicas did not reach normal status after recovery";
    else if (!end->finished) why = "requests still in flight at the deadline";
    else if (!end->converged) why = "replicas did not converge (commit/view) after the load";
    else if (!end->digests_equal) why = "room state digests differ between replicas";
    else if (bench.failure != NULL) why = bench.failure;
    else if (bench.results.message_errors != 0) why = "some chat results were not ok";
    else if (end->storage.errors != 0) why = "storage errors";
    else if (!measured) why = "nothing measured: no chat reply in the measured interval";
    if (why != NULL) fprintf(stderr, "tigerchat-bench: FAILED: %s\n", why);
    return why == NULL ? 0 : 1;
}

int main(int argc, char **argv) {
#if TC_BENCH_WS
    if (argc >= 2 && strcmp(argv[1], "ws") == 0) return bench_ws_main(argc - 1, argv + 1);
#endif
    const int parsed = parse_options(&bench.options, argc, argv);
    if (parsed != 0) {
        usage(parsed < 0 ? stdout : stderr);
        return parsed < 0 ? 0 : 2;
    }
    bench.cluster = 0x7463000000000000ull ^ bench.options.seed;
    bench_transfer_init(&bench);
    bench_lag_init(&bench);
    int result = bench_cluster_init(&bench);
    if (result == 0) result = bench_load_init(&bench);
    if (result != 0) {
        fprintf(stderr, "tigerchat-bench: set-up failed: %s\n", tc_strerror(result));
        bench_load_deinit(&bench);
        bench_cluster_deinit(&bench);
        return 1;
    }
    struct bench_end end;
    run(&end);
    const int status = report(&end);
    fflush(stdout); // The report is complete before the (possibly slow) file removal.
    if (!bench.options.keep && !bench.options.json) {
        fprintf(stderr, "tigerchat-bench: removing data files (slow on discard-mounted disks)\n");
    }
    bench_load_deinit(&bench);
    bench_cluster_deinit(&bench);
    return status;
}
