#ifndef TC_SIM_NETWORK_H
#define TC_SIM_NETWORK_H

#include <stdbool.h>
#include <stdint.h>

#include "tc_prng.h"

// The simulated packet network between endpoints (replicas and clients of every group).
//
// Every ordered pair (from, to) is a path with its own bounded queue: a packet sent on a full
// path is dropped. Each packet gets a delay drawn per packet (minimum plus an exponential-ish
// tail, integer math), so packets reorder. A packet may be lost or duplicated. A path may be
// clogged (a large extra delay for a while). Partitions assign endpoints to sides: a packet between
// different sides is dropped (symmetric), or only from side 1 to side 2 (asymmetric). Endpoints on
// side 0 are never partitioned. Messages are copied into a preallocated packet pool at send and
// handed to the deliver callback at their tick (the buffer is valid only during the callback).

#define SIM_NETWORK_SMALL_SIZE 4096u

enum sim_network_drop {
    SIM_DROP_LOSS = 0,
    SIM_DROP_PATH_FULL = 1,
    SIM_DROP_POOL_FULL = 2,
    SIM_DROP_PARTITION = 3,
    SIM_DROP_DISABLED = 4, // endpoint down (decided by the deliver callback's owner)
    SIM_DROP_COUNT = 5,
};

struct sim_network_options {
    uint32_t endpoint_count;
    uint32_t packets_max;        // pool size (small packets)
    uint32_t large_packets_max;  // pool of packets bigger than SIM_NETWORK_SMALL_SIZE
    uint32_t message_size_max;   // largest message (for the large pool)
    uint64_t seed;
    uint32_t path_capacity;      // packets queued per path
    uint32_t delay_min_ticks;
    uint32_t delay_mean_ticks;   // mean extra delay above min
    uint32_t loss_ppm;
    uint32_t duplicate_ppm;
    uint32_t clog_ppm;           // per send: chance to clog its path
    uint32_t clog_duration_max_ticks;
    uint32_t clog_delay_ticks;   // extra delay of a packet sent on a clogged path
};

typedef void (*sim_network_deliver_fn)(void *context, uint32_t from, uint32_t to, uint32_t tag,
                                       const uint8_t *message, uint32_t size);

struct sim_network_stats {
    uint64_t sent;
    uint64_t delivered;
    uint64_t duplicated;
    uint64_t delayed_reordered; // delivered before a packet sent earlier on the same path
    uint64_t clogs;
    uint64_t dropped[SIM_DROP_COUNT];
};

struct sim_packet {
    uint64_t deliver_tick;
    uint64_t sequence;      // global send order (tie-break)
    uint64_t path_sequence; // send order on its path
    uint32_t from;
    uint32_t to;
    uint32_t size;
    uint32_t buffer;        // index into the small or large pool
    uint32_t tag;           // opaque to the network, handed to deliver (the cluster's routing epoch)
    bool large;
    uint8_t reserved[3];
};

struct sim_network {
    struct sim_network_options options;
    struct tc_prng prng;
    sim_network_deliver_fn deliver;
    void *deliver_context;
    uint64_t now_tick;
    uint64_t sequence;

    struct sim_packet *heap; // min-heap by (deliver_tick, sequence)
    uint32_t heap_count;
    uint32_t heap_capacity;

    uint8_t *small;            // packets_max * SIM_NETWORK_SMALL_SIZE
    uint32_t *small_free;      // stack of free small buffers
    uint32_t small_free_count;
    uint8_t *large;            // large_packets_max * message_size_max
    uint32_t *large_free;
    uint32_t large_free_count;

    uint32_t *path_queued;            // [from * endpoint_count + to]
    uint64_t *path_clogged_until;     // tick
    uint64_t *path_sent;              // packets sent (path_sequence source)
    uint64_t *path_delivered_max;     // highest path_sequence delivered
    uint8_t *side;                    // per endpoint: 0 unpartitioned, 1 or 2
    uint8_t *faults_disabled;         // per endpoint: paths between two such endpoints are clean
    bool partition_asymmetric;        // true: only side 1 -> side 2 is blocked

    struct sim_network_stats stats;
};

int sim_network_init(struct sim_network *network, const struct sim_network_options *options,
                     sim_network_deliver_fn deliver, void *deliver_context);
void sim_network_deinit(struct sim_network *network);

void sim_network_send(struct sim_network *network, uint32_t from, uint32_t to, uint32_t tag,
                      const uint8_t *message, uint32_t size);
// Delivers every packet due at `now_tick`, in (deliver tick, send order). Returns the count.
uint32_t sim_network_step(struct sim_network *network, uint64_t now_tick);

// sides[endpoint] in {0, 1, 2}; NULL heals.
void sim_network_partition(struct sim_network *network, const uint8_t *sides, bool asymmetric);
bool sim_network_partitioned(const struct sim_network *network);
// Paths whose both endpoints have faults disabled are never clogged or partitioned (loss, delay
// and duplication stay).
void sim_network_faults_disable(struct sim_network *network, uint32_t endpoint, bool disabled);
void sim_network_unclog_all(struct sim_network *network);
uint32_t sim_network_in_flight(const struct sim_network *network);

#endif
