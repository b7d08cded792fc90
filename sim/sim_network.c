#include "sim_network.h"

#include <stdlib.h>
#include <string.h>

#include "tc_arena.h"
#include "tc_assert.h"
#include "tc_err.h"

#define SIM_NETWORK_STEP_DELIVERIES_MAX 10000000u

static uint32_t path_index(const struct sim_network *network, uint32_t from, uint32_t to) {
    tc_assert(from < network->options.endpoint_count);
    tc_assert(to < network->options.endpoint_count);
    return from * network->options.endpoint_count + to;
}

int sim_network_init(struct sim_network *network, const struct sim_network_options *options,
                     sim_network_deliver_fn deliver, void *deliver_context) {
    tc_assert(options->endpoint_count > 0);
    tc_assert(options->packets_max > 0);
    tc_assert(options->path_capacity > 0);
    tc_assert(options->message_size_max >= SIM_NETWORK_SMALL_SIZE);
    tc_assert(deliver != NULL);
    memset(network, 0, sizeof(*network));
    network->options = *options;
    tc_prng_init(&network->prng, options->seed);
    network->deliver = deliver;
    network->deliver_context = deliver_context;
    uint32_t paths = options->endpoint_count * options->endpoint_count;
    network->heap_capacity = options->packets_max + options->large_packets_max;
    network->heap = calloc(network->heap_capacity, sizeof(struct sim_packet));
    network->small = calloc(options->packets_max, SIM_NETWORK_SMALL_SIZE);
    network->small_free = calloc(options->packets_max, sizeof(uint32_t));
    network->large = calloc(tc_max_u32(options->large_packets_max, 1), options->message_size_max);
    network->large_free = calloc(tc_max_u32(options->large_packets_max, 1), sizeof(uint32_t));
    network->path_queued = calloc(paths, sizeof(uint32_t));
    network->path_clogged_until = calloc(paths, sizeof(uint64_t));
    network->path_sent = calloc(paths, sizeof(uint64_t));
    network->path_delivered_max = calloc(paths, sizeof(uint64_t));
    network->side = calloc(options->endpoint_count, 1);
    network->faults_disabled = calloc(options->endpoint_count, 1);
    if (network->heap == NULL || network->small == NULL || network->small_free == NULL ||
        network->large == NULL || network->large_free == NULL || network->path_queued == NULL ||
        network->path_clogged_until == NULL || network->path_sent == NULL ||
        network->path_delivered_max == NULL || network->side == NULL ||
        network->faults_disabled == NULL) {
        sim_network_deinit(network);
        return TC_ENOMEM;
    }
    for (uint32_t i = 0; i < options->packets_max; i++) {
        network->small_free[i] = options->packets_max - 1 - i;
    }
    network->small_free_count = options->packets_max;
    for (uint32_t i = 0; i < options->large_packets_max; i++) {
        network->large_free[i] = options->large_packets_max - 1 - i;
    }
    network->large_free_count = options->large_packets_max;
    return TC_OK;
}

void sim_network_deinit(struct sim_network *network) {
    free(network->heap);
    free(network->small);
    free(network->small_free);
    free(network->large);
    free(network->large_free);
    free(network->path_queued);
    free(network->path_clogged_until);
    free(network->path_sent);
    free(network->path_delivered_max);
    free(network->side);
    free(network->faults_disabled);
    memset(network, 0, sizeof(*network));
}

static bool packet_before(const struct sim_packet *a, const struct sim_packet *b) {
    if (a->deliver_tick != b->deliver_tick) return a->deliver_tick < b->deliver_tick;
    return a->sequence < b->sequence;
}

static void heap_push(struct sim_network *network, const struct sim_packet *packet) {
    tc_assert(network->heap_count < network->heap_capacity);
    uint32_t index = network->heap_count++;
    network->heap[index] = *packet;
    while (index > 0) {
        uint32_t parent = (index - 1) / 2;
        if (!packet_before(&network->heap[index], &network->heap[parent])) break;
        struct sim_packet swap = network->heap[parent];
        network->heap[parent] = network->heap[index];
        network->heap[index] = swap;
        index = parent;
    }
}

static struct sim_packet heap_pop(struct sim_network *network) {
    tc_assert(network->heap_count > 0);
    struct sim_packet top = network->heap[0];
    network->heap_count -= 1;
    network->heap[0] = network->heap[network->heap_count];
    uint32_t index = 0;
    while (true) {
        uint32_t left = 2 * index + 1;
        uint32_t right = left + 1;
        uint32_t smallest = index;
        if (left < network->heap_count && packet_before(&network->heap[left], &network->heap[smallest])) {
            smallest = left;
        }
        if (right < network->heap_count && packet_before(&network->heap[right], &network->heap[smallest])) {
            smallest = right;
        }
        if (smallest == index) break;
        struct sim_packet swap = network->heap[smallest];
        network->heap[smallest] = network->heap[index];
        network->heap[index] = swap;
        index = smallest;
    }
    return top;
}

// True if a partition blocks packets from `from` to `to`.
static bool partition_blocks(const struct sim_network *network, uint32_t from, uint32_t to) {
    if (network->faults_disabled[from] != 0 && network->faults_disabled[to] != 0) return false;
    uint8_t a = network->side[from];
    uint8_t b = network->side[to];
    if (a == 0 || b == 0 || a == b) return false;
    if (network->partition_asymmetric) return a == 1 && b == 2;
    return true;
}

static bool path_clean(const struct sim_network *network, uint32_t from, uint32_t to) {
    return network->faults_disabled[from] != 0 && network->faults_disabled[to] != 0;
}

// An exponential-ish extra delay with the given mean, in integer math: a geometric whole part
// (leading zeros of a random word, P(k) = 2^-(k+1)) plus a uniform fraction approximates an
// exponential of rate ln 2, whose mean is 1/ln 2 ~= 1477/1024.
static uint64_t delay_extra(struct sim_network *network, uint32_t mean_ticks) {
    if (mean_ticks == 0) return 0;
    uint64_t random = tc_prng_next(&network->prng) | 1u;
    uint64_t whole = tc_min_u64((uint64_t)__builtin_clzll(random), 20);
    uint64_t fraction = tc_prng_below(&network->prng, 1024);
    return (uint64_t)mean_ticks * (whole * 1024 + fraction) / 1477;
}

static uint64_t packet_delay(struct sim_network *network, uint32_t path, bool clean) {
    uint64_t delay = network->options.delay_min_ticks +
                     delay_extra(network, network->options.delay_mean_ticks);
    if (!clean && network->path_clogged_until[path] > network->now_tick) {
        delay += network->options.clog_delay_ticks;
    }
    return tc_max_u64(delay, 1); // never inside the sending call's tick
}

static void clog_maybe(struct sim_network *network, uint32_t path, bool clean) {
    if (clean) return;
    if (network->path_clogged_until[path] > network->now_tick) return;
    if (!tc_prng_chance_ppm(&network->prng, network->options.clog_ppm)) return;
    uint64_t duration = tc_prng_range(&network->prng, 1, tc_max_u32(network->options.clog_duration_max_ticks, 1));
    network->path_clogged_until[path] = network->now_tick + duration;
    network->stats.clogs += 1;
}

// Copies the message into a pool buffer and queues it. Returns false if dropped.
static bool packet_enqueue(struct sim_network *network, uint32_t from, uint32_t to, uint32_t tag,
                           const uint8_t *message, uint32_t size, bool clean) {
    uint32_t path = path_index(network, from, to);
    if (network->path_queued[path] >= network->options.path_capacity) {
        network->stats.dropped[SIM_DROP_PATH_FULL] += 1;
        return false;
    }
    struct sim_packet packet;
    memset(&packet, 0, sizeof(packet));
    packet.large = size > SIM_NETWORK_SMALL_SIZE;
    if (packet.large ? network->large_free_count == 0 : network->small_free_count == 0) {
        network->stats.dropped[SIM_DROP_POOL_FULL] += 1;
        return false;
    }
    uint8_t *buffer = NULL;
    if (packet.large) {
        packet.buffer = network->large_free[--network->large_free_count];
        buffer = network->large + (uint64_t)packet.buffer * network->options.message_size_max;
    } else {
        packet.buffer = network->small_free[--network->small_free_count];
        buffer = network->small + (uint64_t)packet.buffer * SIM_NETWORK_SMALL_SIZE;
    }
    memcpy(buffer, message, size);
    packet.from = from;
    packet.to = to;
    packet.tag = tag;
    packet.size = size;
    packet.sequence = network->sequence++;
    packet.path_sequence = ++network->path_sent[path];
    packet.deliver_tick = network->now_tick + packet_delay(network, path, clean);
    network->path_queued[path] += 1;
    heap_push(network, &packet);
    return true;
}

void sim_network_send(struct sim_network *network, uint32_t from, uint32_t to, uint32_t tag,
                      const uint8_t *message, uint32_t size) {
    tc_assert(size > 0);
    tc_assert(size <= network->options.message_size_max);
    uint32_t path = path_index(network, from, to);
    bool clean = path_clean(network, from, to);
    network->stats.sent += 1;
    clog_maybe(network, path, clean);
    if (partition_blocks(network, from, to)) {
        network->stats.dropped[SIM_DROP_PARTITION] += 1;
        return;
    }
    if (tc_prng_chance_ppm(&network->prng, network->options.loss_ppm)) {
        network->stats.dropped[SIM_DROP_LOSS] += 1;
        return;
    }
    if (!packet_enqueue(network, from, to, tag, message, size, clean)) return;
    if (tc_prng_chance_ppm(&network->prng, network->options.duplicate_ppm)) {
        if (packet_enqueue(network, from, to, tag, message, size, clean)) {
            network->stats.duplicated += 1;
        }
    }
}

static uint8_t *packet_buffer(const struct sim_network *network, const struct sim_packet *packet) {
    if (packet->large) {
        return network->large + (uint64_t)packet->buffer * network->options.message_size_max;
    }
    return network->small + (uint64_t)packet->buffer * SIM_NETWORK_SMALL_SIZE;
}

static void packet_free(struct sim_network *network, const struct sim_packet *packet) {
    uint32_t path = path_index(network, packet->from, packet->to);
    tc_assert(network->path_queued[path] > 0);
    network->path_queued[path] -= 1;
    if (packet->large) {
        tc_assert(network->large_free_count < network->options.large_packets_max);
        network->large_free[network->large_free_count++] = packet->buffer;
    } else {
        tc_assert(network->small_free_count < network->options.packets_max);
        network->small_free[network->small_free_count++] = packet->buffer;
    }
}

uint32_t sim_network_step(struct sim_network *network, uint64_t now_tick) {
    tc_assert(now_tick >= network->now_tick);
    network->now_tick = now_tick;
    uint32_t deliveries = 0;
    for (uint32_t i = 0; i < SIM_NETWORK_STEP_DELIVERIES_MAX; i++) {
        if (network->heap_count == 0 || network->heap[0].deliver_tick > now_tick) break;
        struct sim_packet packet = heap_pop(network);
        uint32_t path = path_index(network, packet.from, packet.to);
        if (partition_blocks(network, packet.from, packet.to)) {
            network->stats.dropped[SIM_DROP_PARTITION] += 1;
            packet_free(network, &packet);
            continue;
        }
        if (packet.path_sequence < network->path_delivered_max[path]) {
            network->stats.delayed_reordered += 1;
        } else {
            network->path_delivered_max[path] = packet.path_sequence;
        }
        network->stats.delivered += 1;
        deliveries += 1;
        // The buffer stays owned by this packet during the callback (which may send).
        network->deliver(network->deliver_context, packet.from, packet.to, packet.tag,
                         packet_buffer(network, &packet), packet.size);
        packet_free(network, &packet);
    }
    return deliveries;
}

void sim_network_partition(struct sim_network *network, const uint8_t *sides, bool asymmetric) {
    if (sides == NULL) {
        memset(network->side, 0, network->options.endpoint_count);
        network->partition_asymmetric = false;
        return;
    }
    for (uint32_t i = 0; i < network->options.endpoint_count; i++) tc_assert(sides[i] <= 2);
    memcpy(network->side, sides, network->options.endpoint_count);
    network->partition_asymmetric = asymmetric;
}

bool sim_network_partitioned(const struct sim_network *network) {
    for (uint32_t i = 0; i < network->options.endpoint_count; i++) {
        if (network->side[i] != 0) return true;
    }
    return false;
}

void sim_network_faults_disable(struct sim_network *network, uint32_t endpoint, bool disabled) {
    tc_assert(endpoint < network->options.endpoint_count);
    network->faults_disabled[endpoint] = disabled ? 1 : 0;
}

void sim_network_unclog_all(struct sim_network *network) {
    uint32_t paths = network->options.endpoint_count * network->options.endpoint_count;
    memset(network->path_clogged_until, 0, (uint64_t)paths * sizeof(uint64_t));
}

uint32_t sim_network_in_flight(const struct sim_network *network) { return network->heap_count; }
