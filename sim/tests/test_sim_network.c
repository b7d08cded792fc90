// Unit tests for the simulated network (sim/sim_network.c).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim_network.h"
#include "tc_err.h"

#define ENDPOINTS 4u
#define RECEIVED_MAX 4096u

struct received {
    uint32_t from;
    uint32_t to;
    uint32_t size;
    uint32_t value; // first 4 bytes of the message
    uint64_t tick;
};

struct sink {
    struct received received[RECEIVED_MAX];
    uint32_t count;
    uint64_t tick;
    struct sim_network *network; // for re-sends inside delivery
    bool echo;
};

// Every send tags its packet with from + 7: the network hands the tag back unchanged.
#define TAG_OF(from) ((from) + 7u)

static void sink_deliver(void *context, uint32_t from, uint32_t to, uint32_t tag,
                         const uint8_t *message, uint32_t size) {
    struct sink *sink = context;
    assert_int_equal(tag, TAG_OF(from));
    assert_true(sink->count < RECEIVED_MAX);
    struct received *r = &sink->received[sink->count++];
    r->from = from;
    r->to = to;
    r->size = size;
    memcpy(&r->value, message, sizeof(r->value));
    r->tick = sink->tick;
    if (sink->echo && to != 0) sim_network_send(sink->network, to, 0, TAG_OF(to), message, size);
}

static struct sim_network_options options_default(void) {
    struct sim_network_options options;
    memset(&options, 0, sizeof(options));
    options.endpoint_count = ENDPOINTS;
    options.packets_max = 256;
    options.large_packets_max = 4;
    options.message_size_max = 128 * 1024;
    options.seed = 11;
    options.path_capacity = 64;
    options.delay_min_ticks = 1;
    options.delay_mean_ticks = 3;
    return options;
}

static void send_value(struct sim_network *network, uint32_t from, uint32_t to, uint32_t value) {
    uint8_t message[64];
    memset(message, 0, sizeof(message));
    memcpy(message, &value, sizeof(value));
    sim_network_send(network, from, to, TAG_OF(from), message, sizeof(message));
}

static void run(struct sim_network *network, struct sink *sink, uint64_t ticks) {
    uint64_t end = sink->tick + ticks;
    while (sink->tick < end) {
        sink->tick += 1;
        sim_network_step(network, sink->tick);
    }
}

static void test_delivery_and_reordering(void **state) {
    (void)state;
    struct sim_network network;
    struct sink *sink = calloc(1, sizeof(struct sink));
    struct sim_network_options options = options_default();
    assert_int_equal(sim_network_init(&network, &options, sink_deliver, sink), TC_OK);
    for (uint32_t i = 0; i < 50; i++) send_value(&network, 1, 2, i);
    assert_int_equal(sink->count, 0); // never inside send
    run(&network, sink, 500);
    assert_int_equal(sink->count, 50);
    assert_int_equal(sim_network_in_flight(&network), 0);
    bool seen[50] = {false};
    bool reordered = false;
    for (uint32_t i = 0; i < 50; i++) {
        assert_int_equal(sink->received[i].from, 1);
        assert_int_equal(sink->received[i].to, 2);
        assert_int_equal(sink->received[i].size, 64);
        assert_true(sink->received[i].value < 50);
        assert_false(seen[sink->received[i].value]);
        seen[sink->received[i].value] = true;
        assert_true(sink->received[i].tick >= 1 + options.delay_min_ticks - 1);
        if (i > 0 && sink->received[i].value < sink->received[i - 1].value) reordered = true;
    }
    assert_true(reordered);
    assert_true(network.stats.delayed_reordered > 0);
    sim_network_deinit(&network);
    free(sink);
}

static void test_large_messages_and_send_during_delivery(void **state) {
    (void)state;
    struct sim_network network;
    struct sink *sink = calloc(1, sizeof(struct sink));
    struct sim_network_options options = options_default();
    assert_int_equal(sim_network_init(&network, &options, sink_deliver, sink), TC_OK);
    sink->network = &network;
    sink->echo = true;
    static uint8_t big[100 * 1024];
    memset(big, 0x77, sizeof(big));
    uint32_t value = 1234;
    memcpy(big, &value, sizeof(value));
    sim_network_send(&network, 3, 1, TAG_OF(3), big, sizeof(big));
    run(&network, sink, 500);
    assert_int_equal(sink->count, 2); // 3 -> 1, echoed 1 -> 0
    assert_int_equal(sink->received[0].size, sizeof(big));
    assert_int_equal(sink->received[1].to, 0);
    assert_int_equal(sink->received[1].value, 1234);
    // The large pool is bounded: 5 large sends with 4 buffers drop one.
    sink->echo = false;
    for (uint32_t i = 0; i < 5; i++) sim_network_send(&network, 3, 2, TAG_OF(3), big, sizeof(big));
    assert_int_equal(network.stats.dropped[SIM_DROP_POOL_FULL], 1);
    run(&network, sink, 500);
    assert_int_equal(sink->count, 6);
    sim_network_deinit(&network);
    free(sink);
}

static void test_loss_and_duplication(void **state) {
    (void)state;
    struct sim_network network;
    struct sink *sink = calloc(1, sizeof(struct sink));
    struct sim_network_options options = options_default();
    options.loss_ppm = 300000;
    options.duplicate_ppm = 200000;
    options.path_capacity = 1000;
    options.packets_max = 2048;
    assert_int_equal(sim_network_init(&network, &options, sink_deliver, sink), TC_OK);
    for (uint32_t i = 0; i < 1000; i++) send_value(&network, 0, 1, i);
    run(&network, sink, 1000);
    uint64_t lost = network.stats.dropped[SIM_DROP_LOSS];
    assert_true(lost > 200 && lost < 400);
    assert_true(network.stats.duplicated > 80 && network.stats.duplicated < 220);
    assert_int_equal(sink->count, 1000 - lost + network.stats.duplicated);
    sim_network_deinit(&network);
    free(sink);
}

static void test_path_capacity(void **state) {
    (void)state;
    struct sim_network network;
    struct sink *sink = calloc(1, sizeof(struct sink));
    struct sim_network_options options = options_default();
    options.path_capacity = 5;
    assert_int_equal(sim_network_init(&network, &options, sink_deliver, sink), TC_OK);
    for (uint32_t i = 0; i < 8; i++) send_value(&network, 0, 1, i);
    for (uint32_t i = 0; i < 3; i++) send_value(&network, 0, 2, i); // another path: own queue
    assert_int_equal(network.stats.dropped[SIM_DROP_PATH_FULL], 3);
    run(&network, sink, 500);
    assert_int_equal(sink->count, 8);
    // Capacity frees up after delivery.
    for (uint32_t i = 0; i < 5; i++) send_value(&network, 0, 1, i);
    assert_int_equal(network.stats.dropped[SIM_DROP_PATH_FULL], 3);
    sim_network_deinit(&network);
    free(sink);
}

static void test_partitions(void **state) {
    (void)state;
    struct sim_network network;
    struct sink *sink = calloc(1, sizeof(struct sink));
    struct sim_network_options options = options_default();
    assert_int_equal(sim_network_init(&network, &options, sink_deliver, sink), TC_OK);
    // Symmetric: {0, 1} | {2}; endpoint 3 (a client) unpartitioned.
    uint8_t sides[ENDPOINTS] = {1, 1, 2, 0};
    send_value(&network, 0, 2, 1); // in flight when the partition starts: dropped at delivery
    sim_network_partition(&network, sides, false);
    assert_true(sim_network_partitioned(&network));
    send_value(&network, 2, 0, 2);
    send_value(&network, 0, 1, 3);
    send_value(&network, 3, 2, 4);
    send_value(&network, 2, 3, 5);
    run(&network, sink, 200);
    assert_int_equal(sink->count, 3);
    assert_int_equal(network.stats.dropped[SIM_DROP_PARTITION], 2);

    // Asymmetric: side 1 -> side 2 blocked, side 2 -> side 1 passes.
    sink->count = 0;
    sim_network_partition(&network, sides, true);
    send_value(&network, 0, 2, 6);
    send_value(&network, 2, 0, 7);
    run(&network, sink, 200);
    assert_int_equal(sink->count, 1);
    assert_int_equal(sink->received[0].value, 7);

    // Faults disabled on both ends: the partition no longer applies to that path.
    sink->count = 0;
    sim_network_faults_disable(&network, 0, true);
    sim_network_faults_disable(&network, 2, true);
    send_value(&network, 0, 2, 8);
    run(&network, sink, 200);
    assert_int_equal(sink->count, 1);

    // Healed.
    sim_network_faults_disable(&network, 0, false);
    sim_network_faults_disable(&network, 2, false);
    sim_network_partition(&network, NULL, false);
    assert_false(sim_network_partitioned(&network));
    sink->count = 0;
    send_value(&network, 1, 2, 9);
    run(&network, sink, 200);
    assert_int_equal(sink->count, 1);
    sim_network_deinit(&network);
    free(sink);
}

static void test_clogging_delays(void **state) {
    (void)state;
    struct sim_network network;
    struct sink *sink = calloc(1, sizeof(struct sink));
    struct sim_network_options options = options_default();
    options.clog_ppm = 1000000;
    options.clog_duration_max_ticks = 100;
    options.clog_delay_ticks = 1000;
    assert_int_equal(sim_network_init(&network, &options, sink_deliver, sink), TC_OK);
    send_value(&network, 0, 1, 1);
    assert_int_equal(network.stats.clogs, 1);
    run(&network, sink, 900);
    assert_int_equal(sink->count, 0);
    run(&network, sink, 1000);
    assert_int_equal(sink->count, 1);
    sim_network_deinit(&network);
    free(sink);
}

static void test_deterministic(void **state) {
    (void)state;
    uint64_t ticks[2][100];
    for (uint32_t round = 0; round < 2; round++) {
        struct sim_network network;
        struct sink *sink = calloc(1, sizeof(struct sink));
        struct sim_network_options options = options_default();
        options.loss_ppm = 100000;
        options.duplicate_ppm = 100000;
        options.path_capacity = 200;
        assert_int_equal(sim_network_init(&network, &options, sink_deliver, sink), TC_OK);
        for (uint32_t i = 0; i < 100; i++) send_value(&network, i % 4, (i + 1) % 4, i);
        run(&network, sink, 300);
        for (uint32_t i = 0; i < 100; i++) {
            ticks[round][i] = i < sink->count ? sink->received[i].tick * 1000 + sink->received[i].value : 0;
        }
        sim_network_deinit(&network);
        free(sink);
    }
    assert_memory_equal(ticks[0], ticks[1], sizeof(ticks[0]));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delivery_and_reordering),
        cmocka_unit_test(test_large_messages_and_send_during_delivery),
        cmocka_unit_test(test_loss_and_duplication),
        cmocka_unit_test(test_path_capacity),
        cmocka_unit_test(test_partitions),
        cmocka_unit_test(test_clogging_delays),
        cmocka_unit_test(test_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
