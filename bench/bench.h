#ifndef TC_BENCH_H
#define TC_BENCH_H

// tigerchat-bench: one VSR group of 3 replicas in one process, on real files (fdatasync through
// node/io_linux), over a zero-delay in-process network, driven by N VSR clients that each keep
// one chat batch in flight. See docs/benchmarks.md for the method.
//
// Everything is allocated at start-up (bench_cluster_init); the measured loop does not allocate.

#include <stdbool.h>
#include <stdint.h>

#include "client.h"
#include "io.h"
#include "io_linux.h"
#include "replica.h"
#include "room.h"

#define BENCH_REPLICAS 3u
#define BENCH_CLIENTS_MAX TC_CLIENTS_MAX
#define BENCH_PATH_SIZE_MAX 768u

// ------------------------------------------------------------------------------------------------
// Options (bench_main.c parses them).

struct bench_options {
    uint32_t duration_s;     // measured interval (after warm-up); the only bound on the load
    uint32_t warmup_ms;      // load runs, nothing is recorded
    uint32_t clients;        // VSR clients, each with one request in flight
    uint32_t message_size;   // bytes of each chat message body
    uint32_t batch;          // messages per request; 0: as many as fit in one message
    uint32_t journal_slots;  // journal_slot_count of every replica (power of two)
    uint32_t store_mib;      // message store per replica: store_mib segments of 1 MiB
    uint32_t net_slots;      // capacity of the in-process network queue (messages)
    uint32_t storage_threads; // worker threads per replica data file
    uint32_t transfer_at_ms; // leadership transfer this long into the measured interval; 0: off
    uint32_t lag_mib;        // isolate a backup until it is this far behind, then time its catch-up
    uint64_t seed;
    const char *dir;
    bool keep;  // keep the data files (default: delete them at the end)
    bool json;  // one JSON object instead of the key=value line and the summary
    bool verbose; // replica INFO logs to stderr
};

// ------------------------------------------------------------------------------------------------
// Latency histogram: log-linear buckets (32 per power of two, <= 3.2% relative error) over
// nanoseconds, fixed size, no allocation per sample.

#define BENCH_HISTOGRAM_SUB_BITS 5u
#define BENCH_HISTOGRAM_SUB_COUNT (1u << BENCH_HISTOGRAM_SUB_BITS)
#define BENCH_HISTOGRAM_MSB_MAX 40u // values >= 2^41 ns (~36 min) land in the last bucket
#define BENCH_HISTOGRAM_BUCKETS                                                                    \
    ((BENCH_HISTOGRAM_MSB_MAX - BENCH_HISTOGRAM_SUB_BITS + 2u) * BENCH_HISTOGRAM_SUB_COUNT)

struct bench_histogram {
    uint64_t counts[BENCH_HISTOGRAM_BUCKETS];
    uint64_t total;
    uint64_t value_min;
    uint64_t value_max;
    uint64_t value_sum; // for the mean (saturates only after ~584 years of latency)
};

void bench_histogram_reset(struct bench_histogram *histogram);
void bench_histogram_record(struct bench_histogram *histogram, uint64_t value, uint64_t count);
// The smallest bucket upper bound covering `permille`/1000 of the samples (clamped to the max).
uint64_t bench_histogram_percentile(const struct bench_histogram *histogram, uint32_t permille);
uint32_t bench_histogram_index(uint64_t value);
uint64_t bench_histogram_bucket_max(uint32_t index);

// ------------------------------------------------------------------------------------------------
// In-process network: a bounded FIFO of fixed-size slots (one message each). send_* copies the
// message into a slot; deliveries pass a pointer to the slot (valid during the call only).

enum bench_target {
    BENCH_TARGET_REPLICA = 1,
    BENCH_TARGET_CLIENT = 2,
};

struct bench_net_slot {
    uint64_t client;   // target client id
    uint32_t size;
    uint8_t target;    // enum bench_target
    uint8_t replica;   // target replica
    uint8_t reserved[2];
    uint8_t *data;     // TC_MESSAGE_SIZE_MAX bytes
};

struct bench_net_stats {
    uint64_t sent;
    uint64_t delivered;
    uint64_t dropped_full;      // queue full at send: lost (the protocol resends)
    uint64_t dropped_unknown;   // addressed to no known replica or client
    uint64_t discarded_at_stop; // still queued when the bench stopped the network
    uint64_t bytes_sent;
    uint32_t queued_max;
};

struct bench_net {
    struct bench_net_slot *slots;
    uint8_t *memory;
    uint32_t capacity;
    uint32_t head;  // next to deliver
    uint32_t count; // queued
    struct bench_net_stats stats;
};

int bench_net_init(struct bench_net *net, uint32_t capacity);
void bench_net_deinit(struct bench_net *net);
void bench_net_send(struct bench_net *net, enum bench_target target, uint8_t replica,
                    uint64_t client, const uint8_t *message);
// The oldest message, or NULL; it stays queued until bench_net_pop (sends may happen meanwhile).
const struct bench_net_slot *bench_net_peek(const struct bench_net *net);
void bench_net_pop(struct bench_net *net);

// ------------------------------------------------------------------------------------------------
// The group: replicas with their data files, clients, and the event loop primitives.

struct bench;

struct bench_replica {
    struct tc_io io; // first: the io callbacks recover the bench_replica from it
    struct bench *bench;
    uint8_t index;
    bool storage_open;
    struct tc_replica_options options;
    struct tc_replica *replica;
    void *memory;
    uint64_t memory_size;
    struct tc_io_linux_replica_storage storage; // one file per storage zone
    char path[BENCH_PATH_SIZE_MAX];
};

enum bench_client_phase {
    BENCH_CLIENT_REGISTERING = 0,
    BENCH_CLIENT_CREATING_ROOM = 1,
    BENCH_CLIENT_LOADED = 2, // sending chat batches
    BENCH_CLIENT_DONE = 3,   // stopped; no request in flight
};

struct bench_client {
    struct tc_io io; // first
    struct bench *bench;
    uint32_t index;
    enum bench_client_phase phase;
    struct tc_client *client;
    void *memory;
    uint64_t room;
    uint64_t user;
    uint64_t key_sequence;      // per-client idempotency key counter
    uint64_t request_start_ns;  // monotonic time of the in-flight request
    uint32_t request_messages;  // chat sends in the in-flight request
    bool request_in_flight;
};

enum bench_phase {
    BENCH_PHASE_SETUP = 0,
    BENCH_PHASE_WARMUP = 1,
    BENCH_PHASE_MEASURE = 2,
    BENCH_PHASE_DRAIN = 3, // no new requests; waiting for in-flight ones
};

struct bench_results {
    uint64_t measure_start_ns;
    uint64_t measure_end_ns;
    uint64_t batches;  // replies received during the measured interval
    uint64_t messages; // chat messages committed in those replies
    uint64_t message_errors; // results with a status other than ok (or duplicates)
    uint64_t batches_total;  // over the whole run, warm-up and drain included
    uint64_t messages_total;
    uint64_t requests_issued; // every request (register, create room, chat) of every client
    uint32_t messages_per_batch; // chat sends per request
    uint32_t batch_body_bytes;   // body bytes of a full chat request
    const char *stop_reason;     // "duration" or "failure"
    uint64_t commit_min_at_stop[BENCH_REPLICAS]; // how far each replica had applied at the stop
    uint64_t commit_max_at_stop;
    // checkpoints_durable of each replica when the measured interval started and when the load
    // stopped: the checkpoints that landed while latency was being recorded.
    uint64_t checkpoints_at_measure_start[BENCH_REPLICAS];
    uint64_t checkpoints_at_stop[BENCH_REPLICAS];
    struct bench_histogram latency_request;  // one sample per measured request
    struct bench_histogram latency_message;  // one sample per measured message
};

// Leadership transfer during the load (--transfer-at-ms, bench_transfer.c): the primary is asked
// to hand the group to the next replica, and the bench times it until a replica reports that it
// is a normal primary in the transfer's view (or a later one).
enum bench_transfer_state {
    BENCH_TRANSFER_OFF = 0,       // --transfer-at-ms 0
    BENCH_TRANSFER_PENDING = 1,   // not requested yet
    BENCH_TRANSFER_REQUESTED = 2, // waiting for a normal primary in view >= view_target
    BENCH_TRANSFER_DONE = 3,
    BENCH_TRANSFER_REFUSED = 4,   // tc_replica_transfer_leadership returned an error
};

struct bench_transfer {
    enum bench_transfer_state state;
    int result;              // of tc_replica_transfer_leadership
    uint8_t from;            // the primary asked to transfer
    uint8_t to;              // (from + 1) % BENCH_REPLICAS
    uint8_t leader;          // the replica first seen normal primary in a view >= view_target
    uint32_t view_from;      // view of `from` at the request
    uint32_t view_target;    // smallest view > view_from that `to` leads (as the replica computes)
    uint32_t view_reached;   // view of `leader` when it was seen
    uint64_t request_ns;     // monotonic, just before the call
    uint64_t done_ns;        // monotonic, when `leader` was seen
    uint64_t requests;       // chat requests in flight at some point during the transfer
    uint64_t latency_max_ns; // their largest send -> reply latency (= per-message latency)
};

// Catch-up of a replica far behind (--lag-mib, bench_lag.c): one backup is cut off from every
// message while the others commit N MiB of message-store history (the journal ring wraps, so it
// must state sync: checkpoint, store segments, then the journal suffix); then the load stops, the
// replica is reconnected, and the bench times it until it has applied everything.
enum bench_lag_state {
    BENCH_LAG_OFF = 0,
    BENCH_LAG_PENDING = 1,  // the load has not started
    BENCH_LAG_ISOLATED = 2, // replica `lagging` hears nothing, says nothing
    BENCH_LAG_CATCHING_UP = 3,
    BENCH_LAG_DONE = 4,
};

struct bench_lag {
    enum bench_lag_state state;
    uint8_t lagging;
    uint64_t behind_bytes;   // store bytes the others had beyond it at reconnection
    uint64_t commit_target;  // the group's commit_max at reconnection
    uint64_t reconnect_ns;
    uint64_t done_ns;
    uint64_t store_bytes_synced_before;
};

struct bench {
    struct bench_options options;
    struct bench_net net;
    struct bench_replica replicas[BENCH_REPLICAS];
    struct bench_client clients[BENCH_CLIENTS_MAX];
    uint32_t clients_count;
    enum bench_phase phase;
    uint64_t cluster;
    uint64_t tick_next_ns;
    uint64_t ticks;
    uint64_t ticks_skipped; // the loop fell more than BENCH_TICKS_PER_TURN_MAX ticks behind
    uint64_t waits;         // idle waits for storage or the next tick
    uint64_t turns;         // loop turns (bench_cluster_run_once calls)
    uint64_t warmup_start_ns;
    uint8_t *payload;   // message_size bytes, the body of every chat message
    uint8_t *batch_buffer; // TC_MESSAGE_BODY_SIZE_MAX bytes, scratch for building a request
    struct bench_results results;
    struct bench_transfer transfer;
    struct bench_lag lag;
    uint64_t format_ns; // time to create + format the three data files
    uint64_t recover_ns; // time from open to all replicas normal
    const char *failure;    // set when the run cannot be trusted (eviction, failed op)
    bool directory_created; // --dir did not exist: remove it at the end unless --keep
};

// bench_cluster.c
int bench_cluster_init(struct bench *bench);
void bench_cluster_deinit(struct bench *bench);
// One turn of the loop: ticks due, network deliveries, storage completions, the leadership
// transfer step (bench_transfer_update), then (if idle) a
// bounded wait for a storage completion or the next tick. Returns the monotonic time at the end.
uint64_t bench_cluster_run_once(struct bench *bench);
// Stops the network (discarding queued messages) and waits until no storage op is in flight.
void bench_cluster_quiesce(struct bench *bench);
// Index of the replica that believes it is primary in the highest view, or -1.
int bench_cluster_primary(const struct bench *bench);
bool bench_cluster_all_normal(const struct bench *bench);
bool bench_cluster_converged(const struct bench *bench);
bool bench_cluster_digests_equal(const struct bench *bench);
void bench_cluster_storage_stats(struct bench *bench, struct tc_io_linux_storage_stats *total);

// bench_load.c
int bench_load_init(struct bench *bench);
void bench_load_deinit(struct bench *bench);
void bench_load_start(struct bench *bench); // registers every client
bool bench_load_all_loaded(const struct bench *bench);
bool bench_load_idle(const struct bench *bench); // no request in flight
void bench_load_client_message(struct bench *bench, uint64_t client_id, const uint8_t *message,
                               uint32_t size);
void bench_load_tick(struct bench *bench);
// Moves the bench between warm-up, measurement and drain according to the clock.
void bench_load_phase_update(struct bench *bench, uint64_t now_ns);

// Stops the load (the measured interval ends): `reason` names why ("duration", "lag", ...).
void bench_load_stop(struct bench *bench, uint64_t now_ns, const char *reason);

// bench_lag.c
void bench_lag_init(struct bench *bench);
// Whether the in-process network drops this message (to or from the isolated replica).
bool bench_lag_blocks(const struct bench *bench, uint8_t target_replica, bool to_replica,
                      const uint8_t *message);
// Isolates at load start, reconnects when far enough behind, notes when caught up. Every turn.
void bench_lag_update(struct bench *bench);

// bench_transfer.c
void bench_transfer_init(struct bench *bench); // pending if --transfer-at-ms is set, else off
// Requests the transfer when due, then watches for its completion. Called every loop turn.
void bench_transfer_update(struct bench *bench);
// A chat reply: counted if the request was in flight during the transfer.
void bench_transfer_on_reply(struct bench *bench, uint64_t request_start_ns, uint64_t reply_ns);

#endif
