// tigerchat-bench ws: command line and report.
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_ws.h"
#include "tc_assert.h"
#include "tc_err.h"

static struct bench_ws ws; // large: static storage

static void usage(FILE *out) {
    fprintf(out,
            "usage: tigerchat-bench ws [options]\n"
            "  Network load against running nodes through the C SDK (one thread, epoll).\n"
            "  Senders send to their rooms; subscribers (distinct users) receive. Reports\n"
            "  committed messages/s, send->ack and send->deliver latency, and checks that every\n"
            "  acknowledged message reached every subscriber of its room once, in chain order.\n"
            "  --nodes H:P,H:P,...  (default 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003)\n"
            "  Tokens (one of; rooms \"*\"):\n"
            "  --jwt-key-file F     mint one token per user in-process (HS256 key, e.g. the\n"
            "                       cluster's DIR/jwt.key); recommended: per-user limits apply\n"
            "  --token-cmd CMD      run CMD per user, \"%%u\" replaced by the user id, e.g.\n"
            "                       'scripts/cluster.sh token %%u' (TC_CLUSTER_DIR set)\n"
            "  --token T            one token for every connection (one user: at most 16\n"
            "                       connections per node, 100 requests/s per node by default)\n"
            "  --connections N      senders (default 1)\n"
            "  --rooms R            rooms, created fresh each run (default 1)\n"
            "  --subscribers S      subscriber connections per room, spread over the nodes\n"
            "                       (default 0)\n"
            "  --rate N             open loop: N messages/s over all senders on a fixed\n"
            "                       timeline; latency counts from the scheduled time (default\n"
            "                       1000)\n"
            "  --max                closed loop: each sender keeps --window sends in flight\n"
            "  --window W           sends in flight per sender (default: 1 with --max, 32 with\n"
            "                       --rate; the SDK puts at most 32 on the wire)\n"
            "  --message-size B     body bytes, %u..%u (default 64)\n"
            "  --duration-s D       measured seconds (default 10)\n"
            "  --warmup-s W         load before measuring (default 1)\n"
            "  --setup-timeout-s T  connect + create + join + subscribe (default 120)\n"
            "  --drain-timeout-s T  wait for answers and deliveries after the load (default 10)\n"
            "  --source-ips N       bind connections to 127.0.0.1..127.0.0.N (loopback nodes;\n"
            "                       spreads the per-IP handshake limit, default 1 = no bind)\n"
            "  --no-verify          do not recompute message hashes (prev_hash still checked)\n"
            "  --json               one JSON object instead of the text report\n",
            BENCH_WS_STAMP_SIZE + 3u, TC_SDK_BODY_SIZE_MAX);
}

static bool parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out) {
    if (text == NULL || text[0] < '0' || text[0] > '9') return false;
    char *end = NULL;
    errno = 0;
    const unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || end == NULL || *end != '\0' || value < min || value > max) return false;
    *out = value;
    return true;
}

static bool parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *out) {
    uint64_t value = 0;
    if (!parse_u64(text, min, max, &value)) return false;
    *out = (uint32_t)value;
    return true;
}

static void options_default(struct bench_ws_options *o) {
    *o = (struct bench_ws_options){.senders = 1, .rooms = 1, .subscribers = 0,
                                   .mode = BENCH_WS_RATE, .rate = 1000, .message_size = 64,
                                   .duration_s = 10, .warmup_s = 1, .setup_timeout_s = 120,
                                   .drain_timeout_s = 10, .source_ips = 1};
    uint32_t count = 0;
    tc_assert(tc_sdk_nodes_parse("127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003", o->nodes,
                                 TC_SDK_NODES_MAX, &count) == TC_OK);
    o->node_count = count;
}

// Returns 0, -1 for --help, or 1 for a bad command line (with a message).
static int parse_options(struct bench_ws_options *o, int argc, char **argv) {
    options_default(o);
    bool window_set = false;
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        bool takes_value = true;
        if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) return -1;
        if (strcmp(name, "--max") == 0) {
            o->mode = BENCH_WS_MAX;
            takes_value = false;
        } else if (strcmp(name, "--json") == 0) {
            o->json = true;
            takes_value = false;
        } else if (strcmp(name, "--no-verify") == 0) {
            o->no_verify = true;
            takes_value = false;
        } else if (value == NULL) {
            ok = false;
        } else if (strcmp(name, "--nodes") == 0) {
            ok = tc_sdk_nodes_parse(value, o->nodes, TC_SDK_NODES_MAX, &o->node_count) == TC_OK;
        } else if (strcmp(name, "--token") == 0) {
            o->token = value;
        } else if (strcmp(name, "--token-cmd") == 0) {
            o->token_cmd = value;
        } else if (strcmp(name, "--jwt-key-file") == 0) {
            o->jwt_key_file = value;
        } else if (strcmp(name, "--connections") == 0) {
            ok = parse_u32(value, 1, BENCH_WS_CONNECTIONS_MAX, &o->senders);
        } else if (strcmp(name, "--rooms") == 0) {
            ok = parse_u32(value, 1, BENCH_WS_CONNECTIONS_MAX, &o->rooms);
        } else if (strcmp(name, "--subscribers") == 0) {
            ok = parse_u32(value, 0, BENCH_WS_CONNECTIONS_MAX, &o->subscribers);
        } else if (strcmp(name, "--rate") == 0) {
            ok = parse_u64(value, 1, 100000000, &o->rate);
            o->mode = BENCH_WS_RATE;
        } else if (strcmp(name, "--window") == 0) {
            ok = parse_u32(value, 1, TC_SDK_PENDING_LIMIT - 512u, &o->window);
            window_set = true;
        } else if (strcmp(name, "--message-size") == 0) {
            ok = parse_u32(value, BENCH_WS_STAMP_SIZE + 3u, TC_SDK_BODY_SIZE_MAX, &o->message_size);
        } else if (strcmp(name, "--duration-s") == 0) {
            ok = parse_u32(value, 1, 86400, &o->duration_s);
        } else if (strcmp(name, "--warmup-s") == 0) {
            ok = parse_u32(value, 0, 3600, &o->warmup_s);
        } else if (strcmp(name, "--setup-timeout-s") == 0) {
            ok = parse_u32(value, 1, 86400, &o->setup_timeout_s);
        } else if (strcmp(name, "--drain-timeout-s") == 0) {
            ok = parse_u32(value, 1, 3600, &o->drain_timeout_s);
        } else if (strcmp(name, "--source-ips") == 0) {
            ok = parse_u32(value, 1, 254, &o->source_ips);
        } else {
            fprintf(stderr, "tigerchat-bench ws: unknown option %s\n", name);
            return 1;
        }
        if (!ok) {
            fprintf(stderr, "tigerchat-bench ws: bad or missing value for %s\n", name);
            return 1;
        }
        if (takes_value) i++;
    }
    if (!window_set) o->window = o->mode == BENCH_WS_MAX ? 1u : TC_SDK_IN_FLIGHT_MAX;
    if (o->token == NULL && o->token_cmd == NULL && o->jwt_key_file == NULL) {
        fprintf(stderr, "tigerchat-bench ws: a token source is required: --jwt-key-file "
                        "DIR/jwt.key, --token-cmd 'scripts/cluster.sh token %%u' or --token T "
                        "(scripts/cluster.sh token SUB prints one)\n");
        return 1;
    }
    if ((uint64_t)o->senders + (uint64_t)o->rooms * o->subscribers > BENCH_WS_CONNECTIONS_MAX) {
        fprintf(stderr, "tigerchat-bench ws: at most %u connections\n", BENCH_WS_CONNECTIONS_MAX);
        return 1;
    }
    return 0;
}

// ------------------------------------------------------------------------------------------------
// Report.

struct figures {
    double duration_s;
    double committed_per_s;
    double delivered_per_s;
    uint64_t ack_us[4];     // p50, p99, p99.9, max
    uint64_t deliver_us[4];
    uint64_t expected_deliveries;
    struct tc_sdk_stats sdk; // summed over the connections
};

static uint64_t ns_to_us(uint64_t ns) { return (ns + 999u) / 1000u; }

static void latency_figures(const struct bench_histogram *h, uint64_t out[4]) {
    out[0] = ns_to_us(bench_histogram_percentile(h, 500));
    out[1] = ns_to_us(bench_histogram_percentile(h, 990));
    // p99.9 with the histogram's permille resolution: rank ceil(total * 999 / 1000).
    out[2] = ns_to_us(bench_histogram_percentile(h, 999));
    out[3] = h->total == 0 ? 0 : ns_to_us(h->value_max);
}

static void figures_compute(struct figures *f) {
    memset(f, 0, sizeof(*f));
    const bool measured = ws.phase_start_ns[BENCH_WS_MEASURE] != 0;
    f->duration_s = measured ? (double)(ws.measure_end_ns - ws.measure_start_ns) / 1e9 : 0.0;
    if (f->duration_s > 0) {
        f->committed_per_s = (double)ws.acked_measured / f->duration_s;
        f->delivered_per_s = (double)ws.delivered_measured / f->duration_s;
    }
    latency_figures(&ws.ack_latency, f->ack_us);
    latency_figures(&ws.deliver_latency, f->deliver_us);
    for (uint32_t r = 0; r < ws.options.rooms; r++) {
        f->expected_deliveries += ws.rooms[r].seq_acked * ws.options.subscribers;
    }
    for (uint32_t i = 0; i < ws.conn_count; i++) {
        const struct tc_sdk_stats *s = tc_sdk_conn_stats(&ws.conns[i]);
        f->sdk.connects += s->connects;
        f->sdk.requests_sent += s->requests_sent;
        f->sdk.retries += s->retries;
        f->sdk.stale_answers += s->stale_answers;
        f->sdk.bytes_in += s->bytes_in;
        f->sdk.bytes_out += s->bytes_out;
    }
}

static const char *mode_text(char *out, uint32_t size) {
    if (ws.options.mode == BENCH_WS_RATE) {
        snprintf(out, size, "rate %" PRIu64 "/s (open loop), window %u", ws.options.rate,
                 ws.options.window);
    } else {
        snprintf(out, size, "max (closed loop), window %u", ws.options.window);
    }
    return out;
}

static void errors_text(void) {
    bool any = false;
    for (uint32_t code = 0; code < BENCH_WS_ERROR_CODES; code++) {
        if (ws.errors[code] == 0) continue;
        printf("%s %s(%u)=%" PRIu64, any ? "" : "  errors    ", tc_sdk_error_name(code), code,
               ws.errors[code]);
        any = true;
    }
    printf(any ? "\n" : "  errors     none\n");
}

static void report_text(const struct figures *f) {
    const struct bench_ws_options *o = &ws.options;
    char mode[96];
    printf("tigerchat-bench ws: %u node(s), %u sender(s), %u room(s), %u subscriber(s)/room "
           "(%u connections), %s, %u-byte bodies\n", o->node_count, o->senders, o->rooms,
           o->subscribers, ws.conn_count, mode_text(mode, sizeof(mode)), o->message_size);
    printf("  committed  %.0f messages/s (%" PRIu64 " acks in %.3f s measured, after %u s "
           "warm-up)\n", f->committed_per_s, ws.acked_measured, f->duration_s, o->warmup_s);
    printf("  send->ack  us: p50=%" PRIu64 " p99=%" PRIu64 " p99.9=%" PRIu64 " max=%" PRIu64
           " (%" PRIu64 " sends)\n", f->ack_us[0], f->ack_us[1], f->ack_us[2], f->ack_us[3],
           ws.ack_latency.total);
    printf("  send->deliver us: p50=%" PRIu64 " p99=%" PRIu64 " p99.9=%" PRIu64 " max=%" PRIu64
           " (%" PRIu64 " deliveries)\n", f->deliver_us[0], f->deliver_us[1], f->deliver_us[2],
           f->deliver_us[3], ws.deliver_latency.total);
    printf("  delivered  %" PRIu64 " messages (%.0f/s measured), expected %" PRIu64
           " (acked x subscribers)\n", ws.delivered_total, f->delivered_per_s,
           f->expected_deliveries);
    printf("  checks     gaps=%" PRIu64 " duplicates=%" PRIu64 " chain_breaks=%" PRIu64
           " hash_mismatches=%" PRIu64 " missing=%" PRIu64 " resubscribe_failures=%" PRIu64
           " duplicate_acks=%" PRIu64 "\n", ws.gaps, ws.duplicates, ws.chain_breaks,
           ws.hash_mismatches, ws.missing, ws.resubscribe_failures, ws.duplicate_acks);
    errors_text();
    printf("  sdk        connects=%" PRIu64 " disconnects=%" PRIu64 " refusals=%" PRIu64
           " requests=%" PRIu64 " retries=%" PRIu64 " stale_answers=%" PRIu64
           " backlog_max=%" PRIu64 "\n", f->sdk.connects, ws.disconnects, ws.refusals,
           f->sdk.requests_sent, f->sdk.retries, f->sdk.stale_answers, ws.backlog_max);
    static const char *const names[] = {"connect", "create", "join", "subscribe"};
    const uint64_t *t = ws.phase_start_ns;
    printf("  set-up    ");
    for (uint32_t p = BENCH_WS_CONNECT; p < BENCH_WS_WARMUP; p++) {
        if (t[p] == 0) break;
        const uint64_t end = t[p + 1] != 0 ? t[p + 1] : t[BENCH_WS_DONE];
        printf(" %s %.0f ms%s", names[p], end >= t[p] ? (double)(end - t[p]) / 1e6 : 0.0,
               p + 1 < BENCH_WS_WARMUP ? "," : "");
    }
    printf(" (set-up retries %u)\n", ws.setup_retries);
}

static void report_json(const struct figures *f) {
    const struct bench_ws_options *o = &ws.options;
    printf("{\"nodes\":%u,\"senders\":%u,\"rooms\":%u,\"subscribers_per_room\":%u,"
           "\"connections\":%u,\"mode\":\"%s\",\"rate\":%" PRIu64 ",\"window\":%u,"
           "\"message_size\":%u,\"duration_s\":%.3f,", o->node_count, o->senders, o->rooms,
           o->subscribers, ws.conn_count, o->mode == BENCH_WS_RATE ? "rate" : "max",
           o->mode == BENCH_WS_RATE ? o->rate : 0, o->window, o->message_size, f->duration_s);
    printf("\"committed_per_s\":%.1f,\"acks\":%" PRIu64 ",\"ack_p50_us\":%" PRIu64
           ",\"ack_p99_us\":%" PRIu64 ",\"ack_p999_us\":%" PRIu64 ",\"ack_max_us\":%" PRIu64 ",",
           f->committed_per_s, ws.acked_measured, f->ack_us[0], f->ack_us[1], f->ack_us[2],
           f->ack_us[3]);
    printf("\"deliver_p50_us\":%" PRIu64 ",\"deliver_p99_us\":%" PRIu64
           ",\"deliver_p999_us\":%" PRIu64 ",\"deliver_max_us\":%" PRIu64
           ",\"delivered\":%" PRIu64 ",\"delivered_per_s\":%.1f,\"expected_deliveries\":%" PRIu64
           ",", f->deliver_us[0], f->deliver_us[1], f->deliver_us[2], f->deliver_us[3],
           ws.delivered_total, f->delivered_per_s, f->expected_deliveries);
    printf("\"gaps\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"chain_breaks\":%" PRIu64
           ",\"hash_mismatches\":%" PRIu64 ",\"missing\":%" PRIu64
           ",\"resubscribe_failures\":%" PRIu64 ",\"duplicate_acks\":%" PRIu64 ",\"errors\":{",
           ws.gaps, ws.duplicates, ws.chain_breaks, ws.hash_mismatches, ws.missing,
           ws.resubscribe_failures, ws.duplicate_acks);
    bool first = true;
    for (uint32_t code = 0; code < BENCH_WS_ERROR_CODES; code++) {
        if (ws.errors[code] == 0) continue;
        printf("%s\"%s\":%" PRIu64, first ? "" : ",", tc_sdk_error_name(code), ws.errors[code]);
        first = false;
    }
    printf("},\"connects\":%" PRIu64 ",\"disconnects\":%" PRIu64 ",\"refusals\":%" PRIu64
           ",\"retries\":%" PRIu64 ",\"backlog_max\":%" PRIu64 ",\"failure\":\"%s\"}\n",
           f->sdk.connects, ws.disconnects, ws.refusals, f->sdk.retries, ws.backlog_max,
           ws.failure == NULL ? "none" : ws.failure);
}

static const char *verdict(const struct figures *f) {
    (void)f;
    if (ws.failure != NULL) return ws.failure;
    if (ws.gaps + ws.duplicates + ws.chain_breaks + ws.hash_mismatches != 0) {
        return "a subscription saw a gap, duplicate or chain violation";
    }
    if (ws.missing != 0) return "acknowledged messages never reached some subscribers";
    if (ws.resubscribe_failures != 0) return "a resubscribe failed";
    if (ws.acked_measured == 0) return "nothing measured: no send acknowledged";
    return NULL;
}

int bench_ws_main(int argc, char **argv) {
    const int parsed = parse_options(&ws.options, argc, argv);
    if (parsed != 0) {
        usage(parsed < 0 ? stdout : stderr);
        return parsed < 0 ? 0 : 2;
    }
    const int result = bench_ws_init(&ws);
    if (result != TC_OK) {
        fprintf(stderr, "tigerchat-bench ws: set-up failed: %s\n", tc_strerror(result));
        bench_ws_deinit(&ws);
        return 1;
    }
    bench_ws_run(&ws);
    struct figures f;
    figures_compute(&f);
    if (ws.options.json) {
        report_json(&f);
    } else {
        report_text(&f);
    }
    const char *why = verdict(&f);
    if (why != NULL) fprintf(stderr, "tigerchat-bench ws: FAILED: %s\n", why);
    bench_ws_deinit(&ws);
    return why == NULL ? 0 : 1;
}
