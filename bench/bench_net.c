// The in-process network: a bounded FIFO of message slots, zero delay, no reordering.
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "header.h"
#include "tc_assert.h"
#include "tc_err.h"

int bench_net_init(struct bench_net *net, uint32_t capacity) {
    tc_assert(capacity > 0);
    memset(net, 0, sizeof(*net));
    net->slots = calloc(capacity, sizeof(net->slots[0]));
    // Pages are touched only as far as messages reach into their slot.
    net->memory = malloc((size_t)capacity * TC_MESSAGE_SIZE_MAX);
    if (net->slots == NULL || net->memory == NULL) {
        bench_net_deinit(net);
        return TC_ENOMEM;
    }
    for (uint32_t i = 0; i < capacity; i++) {
        net->slots[i].data = net->memory + (size_t)i * TC_MESSAGE_SIZE_MAX;
    }
    net->capacity = capacity;
    tc_assert(net->count == 0);
    return 0;
}

void bench_net_deinit(struct bench_net *net) {
    free(net->slots);
    free(net->memory);
    memset(net, 0, sizeof(*net));
}

void bench_net_send(struct bench_net *net, enum bench_target target, uint8_t replica,
                    uint64_t client, const uint8_t *message) {
    tc_assert(net->capacity > 0);
    tc_assert(message != NULL);
    tc_assert(target == BENCH_TARGET_REPLICA || target == BENCH_TARGET_CLIENT);
    struct tc_header header;
    memcpy(&header, message, sizeof(header));
    tc_assert(header.size >= TC_HEADER_SIZE);
    tc_assert(header.size <= TC_MESSAGE_SIZE_MAX);
    net->stats.sent++;
    if (net->count == net->capacity) {
        net->stats.dropped_full++;
        return;
    }
    const uint32_t tail = (net->head + net->count) % net->capacity;
    struct bench_net_slot *slot = &net->slots[tail];
    memcpy(slot->data, message, header.size);
    slot->size = header.size;
    slot->target = (uint8_t)target;
    slot->replica = replica;
    slot->client = client;
    net->count++;
    net->stats.bytes_sent += header.size;
    if (net->count > net->stats.queued_max) net->stats.queued_max = net->count;
    tc_assert(net->count <= net->capacity);
}

const struct bench_net_slot *bench_net_peek(const struct bench_net *net) {
    tc_assert(net->count <= net->capacity);
    if (net->count == 0) return NULL;
    const struct bench_net_slot *slot = &net->slots[net->head];
    tc_assert(slot->size >= TC_HEADER_SIZE);
    return slot;
}

void bench_net_pop(struct bench_net *net) {
    tc_assert(net->count > 0);
    net->slots[net->head].size = 0;
    net->head = (net->head + 1u) % net->capacity;
    net->count--;
    net->stats.delivered++;
}
