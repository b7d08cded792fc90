#ifndef TC_BENCH_WS_H
#define TC_BENCH_WS_H

// tigerchat-bench ws: a network load generator against running nodes, through the C SDK
// (sdk/c/tigerchat.h). Senders send chat messages (open loop at a fixed rate, or closed loop with
// a window of sends in flight); subscribers receive them. It measures committed messages/s,
// send -> ack and send -> deliver latency, and checks that every subscriber received every
// acknowledged message of its room exactly once and in chain order.
//
// One thread, one epoll (tc_sdk_poller); every connection, token and buffer is allocated at
// start, nothing during the run.

#include <stdbool.h>
#include <stdint.h>

#include "bench.h"
#include "tigerchat.h"

#define BENCH_WS_CONNECTIONS_MAX 100000u
#define BENCH_WS_ERROR_CODES 1100u // protocol codes < 200, local SDK codes 1000..1099
#define BENCH_WS_STAMP_SIZE 21u    // "%020llu " at the start of every body
#define BENCH_WS_SETUP_RETRY_NS 200000000ull // 200 ms
#define BENCH_WS_SETUP_RETRIES_MAX 10000u

enum bench_ws_mode {
    BENCH_WS_RATE = 1, // open loop: sends on a fixed timeline
    BENCH_WS_MAX = 2,  // closed loop: `window` sends in flight per sender
};

struct bench_ws_options {
    struct tc_sdk_node nodes[TC_SDK_NODES_MAX];
    uint32_t node_count;
    const char *token;        // one token for every connection (--token)
    const char *token_cmd;    // a command printing a token; "%u" becomes the user id
    const char *jwt_key_file; // mint one token per user in-process (HS256)
    uint32_t senders;         // --connections
    uint32_t rooms;
    uint32_t subscribers;     // per room
    enum bench_ws_mode mode;
    uint64_t rate;            // messages/s over all senders (open loop)
    uint32_t window;          // sends in flight per sender
    uint32_t message_size;
    uint32_t duration_s;
    uint32_t warmup_s;
    uint32_t setup_timeout_s;
    uint32_t drain_timeout_s;
    uint32_t source_ips;      // spread connections over 127.0.0.1..127.0.0.N (loopback nodes)
    bool no_verify;           // skip recomputing message hashes in the SDK
    bool json;
};

enum bench_ws_phase {
    BENCH_WS_CONNECT = 0,
    BENCH_WS_CREATE,
    BENCH_WS_JOIN,
    BENCH_WS_SUBSCRIBE,
    BENCH_WS_WARMUP,
    BENCH_WS_MEASURE,
    BENCH_WS_DRAIN,
    BENCH_WS_DONE,
    BENCH_WS_PHASE_COUNT,
};

struct bench_ws_sender {
    uint32_t room_first;  // sends cycle over rooms room_first, +step, ... (< rooms)
    uint32_t room_step;
    uint32_t room_count;
    uint32_t room_next;   // index into the cycle
    uint64_t schedule_start_ns;
    uint64_t interval_ns; // open loop
    uint64_t issued;      // sends submitted (open loop: also the schedule's index)
    uint64_t acked;
};

struct bench_ws_subscriber {
    uint32_t room;
    uint64_t seq_last;
    uint64_t delivered;
};

struct bench_ws_room {
    uint64_t id;
    uint32_t owner;       // the sender that creates it
    uint64_t seq_acked;   // highest seq acknowledged to a sender
};

struct bench_ws_retry {
    uint32_t conn;
    uint64_t tag;
    uint64_t due_ns;
};

struct bench_ws {
    struct bench_ws_options options;
    struct tc_sdk_poller poller;
    struct tc_sdk_scratch scratch;
    struct tc_sdk_conn *conns;     // senders, then subscribers (room-major)
    struct bench_ws_sender *senders;
    struct bench_ws_subscriber *subscribers;
    struct bench_ws_room *rooms;
    char *tokens;                  // one per connection, TC_SDK_TOKEN_SIZE_MAX + 1 each
    char *body;                    // message_size bytes
    uint32_t conn_count;
    uint64_t user_base;
    enum bench_ws_phase phase;
    uint64_t phase_start_ns[BENCH_WS_PHASE_COUNT];
    uint64_t measure_start_ns;
    uint64_t measure_end_ns;
    uint32_t setup_outstanding;    // setup requests of the current phase not answered yet
    struct bench_ws_retry *retries; // set-up requests to send again (unknown outcome)
    uint32_t retry_count;
    uint32_t retry_capacity;
    uint32_t setup_retries;
    const char *failure;
    // Results.
    uint64_t acked_measured;       // acks received during the measured interval
    uint64_t delivered_measured;   // deliveries received during the measured interval
    uint64_t acked_total;
    uint64_t delivered_total;
    uint64_t duplicate_acks;       // sends answered duplicate: true (retried sends)
    uint64_t send_failures;        // sends answered with an error
    uint64_t backlog_max;          // open loop: the most sends a sender was behind its timeline
    uint64_t missing;              // deliveries that never came (acked, not delivered by the end)
    uint64_t errors[BENCH_WS_ERROR_CODES];
    uint64_t gaps, duplicates, chain_breaks, hash_mismatches, resubscribe_failures;
    uint64_t refusals, disconnects;
    struct bench_histogram ack_latency;
    struct bench_histogram deliver_latency;
};

// `tigerchat-bench ws ...` (argv[0] is "ws"). Returns the exit status.
int bench_ws_main(int argc, char **argv);

// bench_ws_run.c
int bench_ws_init(struct bench_ws *ws);
void bench_ws_deinit(struct bench_ws *ws);
void bench_ws_run(struct bench_ws *ws);
uint64_t bench_ws_now_ns(void);

#endif
