// Unit tests of the node-to-node link (node/io_linux/link.c) over real loopback sockets: several
// links in one process, each driven by its own tc_loop that the test polls (so a test can stop
// servicing one node to fill the kernel buffers and the send queues of another). Time passed to
// tc_link_tick is a fake millisecond counter advanced once per pump.
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "link.h"
#include "loop.h"
#include "tc_assert.h"
#include "tc_checksum.h"
#include "tc_err.h"
#include "tc_le.h"
#include "tc_prng.h"

static void assert_handler(const char *expression, const char *file, int line) {
    mock_assert(0, expression, file, line);
}

#define CLUSTER 0x7c1ea5e5c0ffee01ull
#define NODE_SLOTS 6u // node ids 1..5
#define RECORDS_MAX 8192u
#define PEERS_PER_NODE_MAX 6u
#define ADDRESS_SIZE 32u
#define PUMP_ITERATIONS_MAX 60000u
#define RAW_MAX 8u
#define FRAME_MAX TC_LINK_FRAME_SIZE_MAX_DEFAULT

#define KIND_HIGH 1u
#define KIND_LOW 2u
#define KIND_MARK 3u

struct record {
    uint16_t from;
    uint8_t kind;
    uint32_t size;
    uint64_t sequence; // first 8 payload bytes, when there are 8
    struct tc_checksum checksum;
};

struct test_node {
    uint16_t node_id;
    bool loop_ready;
    bool link_ready;
    bool paused; // not polled by pump()
    struct tc_loop loop;
    struct tc_link link;
    char listen[ADDRESS_SIZE];
    uint32_t peers_count;
    struct tc_link_peer_address peers[PEERS_PER_NODE_MAX];
    uint32_t records_count;
    struct record records[RECORDS_MAX];
    uint32_t log_lines;
    char log_last[TC_LINK_ERROR_SIZE_MAX];
};

static struct test_node nodes[NODE_SLOTS];
static char addresses[NODE_SLOTS][ADDRESS_SIZE]; // "127.0.0.1:port" per node id
static uint64_t now_ms;
static int raw_fds[RAW_MAX];
static uint8_t payload_buffer[FRAME_MAX + 64];

// -------------------------------------------------------------------------------------------
// Harness.

static void on_frame(void *context, uint16_t from_node, uint8_t kind, const uint8_t *payload,
                     uint32_t size_bytes) {
    struct test_node *node = context;
    assert_true(size_bytes <= FRAME_MAX);
    assert_true(node->records_count < RECORDS_MAX);
    struct record *record = &node->records[node->records_count++];
    record->from = from_node;
    record->kind = kind;
    record->size = size_bytes;
    record->sequence = size_bytes >= 8 ? tc_le_get_u64(payload) : UINT64_MAX;
    tc_checksum_compute(&record->checksum, payload, size_bytes);
}

static void on_log(void *context, const char *line) {
    struct test_node *node = context;
    node->log_lines += 1;
    (void)snprintf(node->log_last, sizeof(node->log_last), "%s", line);
    if (getenv("TEST_LINK_VERBOSE") != NULL) fprintf(stderr, "%s\n", line);
}

// Deterministic payload: 8-byte sequence, then bytes derived from (sequence, size).
static void payload_fill(uint8_t *payload, uint32_t size_bytes, uint64_t sequence) {
    struct tc_prng prng;
    tc_prng_init(&prng, sequence * 31u + size_bytes);
    tc_prng_fill(&prng, payload, size_bytes);
    if (size_bytes >= 8) tc_le_put_u64(payload, sequence);
}

static void record_check(const struct record *record, uint16_t from, uint8_t kind,
                         uint32_t size_bytes, uint64_t sequence) {
    assert_int_equal(record->from, from);
    assert_int_equal(record->kind, kind);
    assert_int_equal(record->size, size_bytes);
    static uint8_t expected[FRAME_MAX];
    payload_fill(expected, size_bytes, sequence);
    struct tc_checksum checksum;
    tc_checksum_compute(&checksum, expected, size_bytes);
    assert_true(tc_checksum_equal(&checksum, &record->checksum));
}

static void pump(void) {
    uint32_t dispatched = 0;
    for (uint32_t id = 1; id < NODE_SLOTS; id++) {
        if (!nodes[id].loop_ready || nodes[id].paused) continue;
        dispatched += tc_loop_poll(&nodes[id].loop, 0);
    }
    now_ms += 1;
    for (uint32_t id = 1; id < NODE_SLOTS; id++) {
        if (nodes[id].link_ready) tc_link_tick(&nodes[id].link, now_ms);
    }
    if (dispatched == 0) {
        const struct timespec pause = {.tv_sec = 0, .tv_nsec = 50000};
        nanosleep(&pause, NULL);
    }
}

#define PUMP_UNTIL(condition)                                                                      \
    do {                                                                                           \
        for (uint32_t pump_i = 0; pump_i < PUMP_ITERATIONS_MAX && !(condition); pump_i++) pump();  \
        assert_true(condition);                                                                    \
    } while (0)

static void pump_for(uint32_t iterations) {
    for (uint32_t i = 0; i < iterations; i++) pump();
}

static struct tc_link_stats stats_of(uint16_t id) {
    struct tc_link_stats stats;
    tc_link_stats_get(&nodes[id].link, &stats);
    return stats;
}

// A port free right now (bound, read back, released).
static void ports_reserve(uint16_t *ports, uint32_t count) {
    int fds[NODE_SLOTS];
    assert_true(count <= NODE_SLOTS);
    for (uint32_t i = 0; i < count; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        struct sockaddr_in address = {.sin_family = AF_INET};
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fds[i], (struct sockaddr *)&address, sizeof(address)), 0);
        socklen_t size = sizeof(address);
        assert_int_equal(getsockname(fds[i], (struct sockaddr *)&address, &size), 0);
        ports[i] = ntohs(address.sin_port);
    }
    for (uint32_t i = 0; i < count; i++) close(fds[i]);
}

static struct tc_link_options node_options(struct test_node *node) {
    struct tc_link_options options = {
        .cluster = CLUSTER,
        .node_id = node->node_id,
        .listen_address = node->listen,
        .send_queue_high_bytes = 512u * 1024u,
        .send_queue_low_bytes = 512u * 1024u,
        .hello_timeout_ms = 100,
        .seed = node->node_id,
        .loop = &node->loop,
        .on_frame = on_frame,
        .log = on_log,
        .context = node,
    };
    assert_true(node->peers_count <= TC_LINK_NODES_MAX);
    for (uint32_t i = 0; i < node->peers_count; i++) options.peers[i] = node->peers[i];
    options.peer_count = node->peers_count;
    return options;
}

static void node_prepare(uint16_t id, const char *listen) {
    struct test_node *node = &nodes[id];
    node->node_id = id;
    (void)snprintf(node->listen, sizeof(node->listen), "%s", listen);
    if (!node->loop_ready) {
        assert_int_equal(tc_loop_init(&node->loop), TC_OK);
        node->loop_ready = true;
    }
}

static void node_peer_add(uint16_t id, uint16_t peer_id) {
    struct test_node *node = &nodes[id];
    assert_true(node->peers_count < PEERS_PER_NODE_MAX);
    struct tc_link_peer_address *entry = &node->peers[node->peers_count];
    entry->node_id = peer_id;
    (void)snprintf(entry->address, sizeof(entry->address), "%s", addresses[peer_id]);
    node->peers_count += 1;
}

static void node_start_with(uint16_t id, const struct tc_link_options *options) {
    const int result = tc_link_init(&nodes[id].link, options);
    if (result != TC_OK) fprintf(stderr, "tc_link_init: %s\n", nodes[id].link.error);
    assert_int_equal(result, TC_OK);
    nodes[id].link_ready = true;
}

static void node_start(uint16_t id) {
    const struct tc_link_options options = node_options(&nodes[id]);
    node_start_with(id, &options);
}

static void node_stop(uint16_t id) {
    assert_true(nodes[id].link_ready);
    tc_link_deinit(&nodes[id].link);
    nodes[id].link_ready = false;
}

static bool cluster_connected(uint16_t count) {
    for (uint16_t a = 1; a <= count; a++) {
        for (uint16_t b = 1; b <= count; b++) {
            if (a != b && !tc_link_connected(&nodes[a].link, b)) return false;
        }
        if (nodes[a].link.stats.hellos_received < (uint64_t)(count - 1)) return false;
    }
    return true;
}

// Nodes 1..count, all connected. Node 1 binds port 0 (its peers' ports are reserved first) and
// lists itself among its peers (an own entry is ignored); the others learn node 1's real port.
// With `ghost`, node 1 also lists GHOST_NODE, which never runs: raw sockets may speak as it.
#define GHOST_NODE 5u
static void cluster_start(uint16_t count, uint32_t low_queue_bytes, bool ghost) {
    assert_true(count >= 2 && count < GHOST_NODE);
    uint16_t ports[NODE_SLOTS];
    ports_reserve(ports, count);
    for (uint16_t id = 2; id <= count; id++) {
        (void)snprintf(addresses[id], ADDRESS_SIZE, "127.0.0.1:%u", ports[id - 2]);
    }
    (void)snprintf(addresses[GHOST_NODE], ADDRESS_SIZE, "127.0.0.1:%u", ports[count - 1]);
    (void)snprintf(addresses[1], ADDRESS_SIZE, "127.0.0.1:0");
    node_prepare(1, "127.0.0.1:0");
    for (uint16_t peer = 1; peer <= count; peer++) node_peer_add(1, peer);
    if (ghost) node_peer_add(1, GHOST_NODE);
    struct tc_link_options options = node_options(&nodes[1]);
    if (low_queue_bytes != 0) options.send_queue_low_bytes = low_queue_bytes;
    node_start_with(1, &options);
    assert_int_equal(nodes[1].link.peers_count, count - 1u + (ghost ? 1u : 0u));
    const uint16_t port_1 = tc_link_listen_port(&nodes[1].link);
    assert_true(port_1 != 0);
    (void)snprintf(addresses[1], ADDRESS_SIZE, "127.0.0.1:%u", port_1);
    for (uint16_t id = 2; id <= count; id++) {
        node_prepare(id, addresses[id]);
        for (uint16_t peer = 1; peer <= count; peer++) {
            if (peer != id) node_peer_add(id, peer);
        }
        node_start(id);
        assert_int_equal(tc_link_listen_port(&nodes[id].link), ports[id - 2]);
    }
    PUMP_UNTIL(cluster_connected(count));
}

static int raw_connect(uint16_t port) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&address, sizeof(address)), 0);
    for (uint32_t i = 0; i < RAW_MAX; i++) {
        if (raw_fds[i] < 0) {
            raw_fds[i] = fd;
            return fd;
        }
    }
    fail_msg("too many raw sockets");
    return -1;
}

static void raw_write(int fd, const uint8_t *data, uint32_t size_bytes) {
    const ssize_t written = send(fd, data, size_bytes, MSG_NOSIGNAL);
    assert_int_equal(written, (ssize_t)size_bytes);
}

// The peer closed: EOF or reset.
static bool raw_closed(int fd) {
    uint8_t byte;
    const ssize_t count = recv(fd, &byte, 1, MSG_DONTWAIT);
    if (count == 0) return true;
    return count < 0 && errno != EAGAIN && errno != EWOULDBLOCK;
}

// Frame bytes built from the documented wire format (independently of link.c).
static uint32_t raw_frame(uint8_t *out, uint64_t cluster, uint8_t kind, const uint8_t *payload,
                          uint32_t size_bytes) {
    memset(out, 0, TC_LINK_PREFIX_SIZE);
    tc_le_put_u64(out + 16, cluster);
    tc_le_put_u32(out + 24, size_bytes);
    out[28] = kind;
    out[29] = TC_LINK_VERSION;
    struct tc_checksum checksum;
    tc_checksum_compute(&checksum, out + 16, 16);
    memcpy(out, checksum.bytes, 16);
    if (size_bytes > 0) memcpy(out + TC_LINK_PREFIX_SIZE, payload, size_bytes);
    return TC_LINK_PREFIX_SIZE + size_bytes;
}

static uint32_t raw_hello(uint8_t *out, uint64_t frame_cluster, uint64_t hello_cluster,
                          uint16_t node_id) {
    uint8_t hello[TC_LINK_HELLO_SIZE] = {0};
    tc_le_put_u64(hello, hello_cluster);
    tc_le_put_u16(hello + 8, node_id);
    struct tc_checksum checksum;
    tc_checksum_compute(&checksum, hello, 16);
    memcpy(hello + 16, checksum.bytes, 16);
    return raw_frame(out, frame_cluster, TC_LINK_KIND_HELLO, hello, sizeof(hello));
}

static int setup(void **state) {
    (void)state;
    memset(nodes, 0, sizeof(nodes));
    memset(addresses, 0, sizeof(addresses));
    for (uint32_t i = 0; i < RAW_MAX; i++) raw_fds[i] = -1;
    now_ms = 0;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (uint32_t i = 0; i < RAW_MAX; i++) {
        if (raw_fds[i] >= 0) close(raw_fds[i]);
        raw_fds[i] = -1;
    }
    for (uint32_t id = 1; id < NODE_SLOTS; id++) {
        if (nodes[id].link_ready) tc_link_deinit(&nodes[id].link);
        nodes[id].link_ready = false;
        if (nodes[id].loop_ready) {
            assert_int_equal(nodes[id].loop.handlers_registered, 0);
            tc_loop_deinit(&nodes[id].loop);
        }
        nodes[id].loop_ready = false;
    }
    return 0;
}

static int send_frame(uint16_t from, uint16_t to, uint8_t kind, uint8_t priority,
                      uint32_t size_bytes, uint64_t sequence) {
    payload_fill(payload_buffer, size_bytes, sequence);
    return tc_link_send(&nodes[from].link, to, kind, priority, payload_buffer, size_bytes);
}

static uint8_t link_peer_of(uint16_t id, uint16_t peer) {
    const uint8_t index = nodes[id].link.peer_index_by_node[peer];
    assert_true(index < nodes[id].link.peers_count);
    return index;
}

// -------------------------------------------------------------------------------------------
// Tests.

// Every node sends to every other node, both classes; every frame arrives intact, once.
static void test_delivery_three_nodes(void **state) {
    (void)state;
    cluster_start(3, 0, false);
    const uint32_t per_pair = 10;
    for (uint16_t from = 1; from <= 3; from++) {
        for (uint16_t to = 1; to <= 3; to++) {
            if (from == to) continue;
            for (uint32_t i = 0; i < per_pair; i++) {
                const uint8_t priority = i % 2 == 0 ? TC_LINK_PRIORITY_HIGH : TC_LINK_PRIORITY_LOW;
                const uint64_t sequence = from * 1000u + to * 100u + i;
                assert_int_equal(send_frame(from, to, (uint8_t)(KIND_HIGH + priority), priority,
                                            100 + i * 37, sequence),
                                 TC_OK);
            }
        }
    }
    PUMP_UNTIL(nodes[1].records_count == 20 && nodes[2].records_count == 20 &&
               nodes[3].records_count == 20);
    pump_for(20);
    for (uint16_t to = 1; to <= 3; to++) {
        assert_int_equal(nodes[to].records_count, 2 * per_pair);
        uint32_t seen[NODE_SLOTS] = {0};
        for (uint32_t r = 0; r < nodes[to].records_count; r++) {
            const struct record *record = &nodes[to].records[r];
            assert_true(record->from >= 1 && record->from <= 3 && record->from != to);
            const uint32_t i = (uint32_t)(record->sequence % 100u);
            assert_int_equal(record->sequence, record->from * 1000u + to * 100u + i);
            record_check(record, record->from, (uint8_t)(KIND_HIGH + i % 2), 100 + i * 37,
                         record->sequence);
            seen[record->from] += 1;
        }
        for (uint16_t from = 1; from <= 3; from++) {
            assert_int_equal(seen[from], from == to ? 0 : per_pair);
        }
        const struct tc_link_stats stats = stats_of(to);
        assert_int_equal(stats.frames_sent[TC_LINK_PRIORITY_HIGH], per_pair);
        assert_int_equal(stats.frames_sent[TC_LINK_PRIORITY_LOW], per_pair);
        assert_int_equal(stats.frames_received, 2 * per_pair);
        assert_int_equal(stats.hellos_sent, 2);
        assert_int_equal(stats.hellos_received, 2);
        assert_int_equal(stats.connects, 2);
        assert_int_equal(stats.invalid_frames, 0);
        assert_int_equal(stats.disconnects, 0);
    }
    // Unknown nodes.
    assert_int_equal(send_frame(1, 9, KIND_HIGH, TC_LINK_PRIORITY_HIGH, 10, 0), TC_ENOENT);
    assert_int_equal(send_frame(1, 0, KIND_HIGH, TC_LINK_PRIORITY_HIGH, 10, 0), TC_ENOENT);
    assert_int_equal(send_frame(1, 200, KIND_HIGH, TC_LINK_PRIORITY_HIGH, 10, 0), TC_ENOENT);
    assert_false(tc_link_connected(&nodes[1].link, 9));
}

// A node that joins after start (docs/node.md §15): nodes 1-2 run; node 3 starts knowing both,
// but their hellos from it are refused until each adds it with tc_link_peer_join; then frames flow
// both ways. Joining a known peer, this node or a bad id is refused and changes nothing.
static void test_peer_join(void **state) {
    (void)state;
    uint16_t ports[NODE_SLOTS];
    ports_reserve(ports, 3);
    for (uint16_t id = 1; id <= 3; id++) {
        (void)snprintf(addresses[id], ADDRESS_SIZE, "127.0.0.1:%u", ports[id - 1]);
    }
    for (uint16_t id = 1; id <= 2; id++) {
        node_prepare(id, addresses[id]);
        node_peer_add(id, (uint16_t)(3 - id));
        node_start(id);
    }
    node_prepare(3, addresses[3]);
    node_peer_add(3, 1);
    node_peer_add(3, 2);
    node_start(3);
    PUMP_UNTIL(tc_link_connected(&nodes[1].link, 2) && tc_link_connected(&nodes[2].link, 1));
    PUMP_UNTIL(stats_of(1).invalid_frames >= 1 && stats_of(2).invalid_frames >= 1);
    assert_false(tc_link_peer_known(&nodes[1].link, 3));
    assert_int_equal(send_frame(1, 3, KIND_HIGH, TC_LINK_PRIORITY_HIGH, 10, 0), TC_ENOENT);
    for (uint16_t id = 1; id <= 2; id++) {
        const uint32_t inbound = nodes[id].link.inbound_count;
        assert_int_equal(tc_link_peer_join(&nodes[id].link, 3, addresses[3]), TC_OK);
        assert_true(tc_link_peer_known(&nodes[id].link, 3));
        assert_int_equal(nodes[id].link.inbound_count, inbound + 1);
        assert_int_equal(tc_link_peer_join(&nodes[id].link, 3, addresses[3]), TC_EEXIST);
        assert_int_equal(tc_link_peer_join(&nodes[id].link, id, addresses[id]), TC_EEXIST);
        assert_int_equal(tc_link_peer_join(&nodes[id].link, TC_LINK_NODES_MAX, "127.0.0.1:1"),
                         TC_EINVAL);
        assert_int_equal(tc_link_peer_join(&nodes[id].link, 4, "not an address"), TC_EINVAL);
        assert_int_equal(tc_link_peer_join(&nodes[id].link, 4, "localhost:7100"), TC_EINVAL);
        assert_false(tc_link_peer_known(&nodes[id].link, 4));
        assert_int_equal(nodes[id].link.inbound_count, inbound + 1);
    }
    PUMP_UNTIL(cluster_connected(3));
    for (uint16_t from = 1; from <= 3; from++) {
        for (uint16_t to = 1; to <= 3; to++) {
            if (from == to) continue;
            assert_int_equal(send_frame(from, to, KIND_HIGH, TC_LINK_PRIORITY_HIGH, 64,
                                        from * 10u + to),
                             TC_OK);
        }
    }
    PUMP_UNTIL(nodes[1].records_count == 2 && nodes[2].records_count == 2 &&
               nodes[3].records_count == 2);
    for (uint16_t to = 1; to <= 3; to++) {
        for (uint32_t r = 0; r < 2; r++) {
            const struct record *record = &nodes[to].records[r];
            record_check(record, record->from, KIND_HIGH, 64, record->from * 10u + to);
        }
    }
}

// Per pair and class, frames arrive in the order sent, across many writes and queue refills.
static void test_ordering(void **state) {
    (void)state;
    cluster_start(2, 136u * 1024u, false); // smallest low queue allowed: many refills
    const uint32_t frames = 3000;
    uint64_t next[TC_LINK_PRIORITIES] = {0, 0};
    uint32_t sent = 0;
    for (uint32_t attempt = 0; attempt < 1000000 && sent < frames; attempt++) {
        const uint8_t priority = (sent % 3 == 0) ? TC_LINK_PRIORITY_HIGH : TC_LINK_PRIORITY_LOW;
        const uint32_t size = 8u + (uint32_t)((sent * 7919u) % 3000u); // 8: room for the sequence
        const uint64_t sequence = priority * 1000000u + next[priority];
        const int result =
            send_frame(1, 2, (uint8_t)(KIND_HIGH + priority), priority, size, sequence);
        if (result == TC_EBUSY) {
            pump();
            continue;
        }
        assert_int_equal(result, TC_OK);
        next[priority] += 1;
        sent += 1;
    }
    assert_int_equal(sent, frames);
    PUMP_UNTIL(nodes[2].records_count == frames);
    uint64_t expected[TC_LINK_PRIORITIES] = {0, 0};
    for (uint32_t r = 0; r < frames; r++) {
        const struct record *record = &nodes[2].records[r];
        const uint8_t priority = (uint8_t)(record->kind - KIND_HIGH);
        assert_true(priority < TC_LINK_PRIORITIES);
        assert_int_equal(record->sequence, priority * 1000000u + expected[priority]);
        record_check(record, 1, record->kind, record->size, record->sequence);
        expected[priority] += 1;
    }
    assert_int_equal(expected[0] + expected[1], frames);
    assert_int_equal(stats_of(2).frames_received, frames);
    assert_true(stats_of(1).drops_queue_full > 0); // the queues did fill and refill
}

// Fills node 1's low queue while node 2 reads nothing, then sends one high frame: it goes out
// before every queued low frame except the one whose bytes may already be on the wire.
static void test_priority(void **state) {
    (void)state;
    cluster_start(2, 512u * 1024u, false);
    nodes[2].paused = true;
    const uint32_t size = 64u * 1024u;
    uint32_t low_sent = 0;
    int result = TC_OK;
    for (uint32_t i = 0; i < RECORDS_MAX; i++) {
        result = send_frame(1, 2, KIND_LOW, TC_LINK_PRIORITY_LOW, size, low_sent);
        if (result != TC_OK) break;
        low_sent += 1;
        if (i % 4 == 0) pump();
    }
    assert_int_equal(result, TC_EBUSY);
    assert_true(low_sent < RECORDS_MAX);
    const struct tc_link_peer *peer = &nodes[1].link.peers[link_peer_of(1, 2)];
    const uint32_t queued_low = peer->rings[TC_LINK_PRIORITY_LOW].frames_count;
    assert_true(queued_low >= 2);
    assert_true(queued_low < low_sent);
    assert_int_equal(send_frame(1, 2, KIND_HIGH, TC_LINK_PRIORITY_HIGH, 100, 777777), TC_OK);

    nodes[2].paused = false;
    PUMP_UNTIL(nodes[2].records_count == low_sent + 1);
    uint32_t high_index = UINT32_MAX;
    uint64_t low_expected = 0;
    for (uint32_t r = 0; r < nodes[2].records_count; r++) {
        const struct record *record = &nodes[2].records[r];
        if (record->kind == KIND_HIGH) {
            assert_int_equal(high_index, UINT32_MAX);
            high_index = r;
            record_check(record, 1, KIND_HIGH, 100, 777777);
            continue;
        }
        assert_int_equal(record->sequence, low_expected);
        record_check(record, 1, KIND_LOW, size, low_expected);
        low_expected += 1;
    }
    assert_true(high_index != UINT32_MAX);
    const uint32_t low_after_high = low_sent - high_index;
    if (getenv("TEST_LINK_VERBOSE") != NULL) {
        fprintf(stderr, "priority: low_sent %u queued_low %u high_index %u\n", low_sent,
                queued_low, high_index);
    }
    assert_true(low_after_high + 1 >= queued_low);
    assert_int_equal(stats_of(1).drops_queue_full, 1);
}

// Low frames queued behind a kernel buffer full of high frames (so no low byte is on the wire
// yet), then one more high frame: that frame overtakes every queued low frame.
static void test_priority_between_frames(void **state) {
    (void)state;
    cluster_start(2, 0, false);
    nodes[2].paused = true;
    const uint32_t size = 64u * 1024u;
    const struct tc_link_peer *peer = &nodes[1].link.peers[link_peer_of(1, 2)];
    const struct tc_link_ring *high = &peer->rings[TC_LINK_PRIORITY_HIGH];
    const struct tc_link_ring *low = &peer->rings[TC_LINK_PRIORITY_LOW];
    uint32_t high_sent = 0;
    for (uint32_t i = 0; i < RECORDS_MAX / 2 && high->frames_count < 2; i++) {
        assert_int_equal(send_frame(1, 2, KIND_HIGH, TC_LINK_PRIORITY_HIGH, size, high_sent),
                         TC_OK);
        high_sent += 1;
        if (i % 4 == 0) pump();
    }
    assert_true(high->frames_count >= 2); // the kernel buffers are full
    const uint32_t low_count = 5;
    for (uint32_t i = 0; i < low_count; i++) {
        assert_int_equal(send_frame(1, 2, KIND_LOW, TC_LINK_PRIORITY_LOW, 1000, i), TC_OK);
    }
    assert_int_equal(low->frames_count, low_count);
    assert_int_equal(low->head_frame_sent_bytes, 0);
    assert_int_equal(send_frame(1, 2, KIND_HIGH, TC_LINK_PRIORITY_HIGH, 100, 888888), TC_OK);

    nodes[2].paused = false;
    PUMP_UNTIL(nodes[2].records_count == high_sent + 1 + low_count);
    for (uint32_t r = 0; r < high_sent; r++) {
        record_check(&nodes[2].records[r], 1, KIND_HIGH, size, r);
    }
    record_check(&nodes[2].records[high_sent], 1, KIND_HIGH, 100, 888888);
    for (uint32_t i = 0; i < low_count; i++) {
        record_check(&nodes[2].records[high_sent + 1 + i], 1, KIND_LOW, 1000, i);
    }
    assert_int_equal(stats_of(1).invalid_frames + stats_of(2).invalid_frames, 0);
}

// A full queue refuses whole frames (TC_EBUSY, counted), the other class is unaffected, and
// exactly the accepted frames arrive once the receiver reads again.
static void test_queue_full(void **state) {
    (void)state;
    cluster_start(2, 0, false);
    nodes[2].paused = true;
    const uint32_t size = 32u * 1024u;
    uint32_t high_sent = 0;
    int result = TC_OK;
    for (uint32_t i = 0; i < RECORDS_MAX; i++) {
        result = send_frame(1, 2, KIND_HIGH, TC_LINK_PRIORITY_HIGH, size, high_sent);
        if (result != TC_OK) break;
        high_sent += 1;
    }
    assert_int_equal(result, TC_EBUSY);
    const struct tc_link_peer *peer = &nodes[1].link.peers[link_peer_of(1, 2)];
    const struct tc_link_ring *high = &peer->rings[TC_LINK_PRIORITY_HIGH];
    assert_true(high->capacity_bytes - high->count_bytes < TC_LINK_PREFIX_SIZE + size);
    // Refused again, nothing queued.
    const uint32_t queued_bytes = high->count_bytes;
    assert_int_equal(send_frame(1, 2, KIND_HIGH, TC_LINK_PRIORITY_HIGH, size, 99999), TC_EBUSY);
    assert_int_equal(high->count_bytes, queued_bytes);
    assert_int_equal(stats_of(1).drops_queue_full, 2);
    // The low class has its own room.
    assert_int_equal(send_frame(1, 2, KIND_LOW, TC_LINK_PRIORITY_LOW, 50, 555), TC_OK);

    nodes[2].paused = false;
    PUMP_UNTIL(nodes[2].records_count == high_sent + 1);
    pump_for(50);
    assert_int_equal(nodes[2].records_count, high_sent + 1);
    uint64_t high_expected = 0;
    for (uint32_t r = 0; r < nodes[2].records_count; r++) {
        const struct record *record = &nodes[2].records[r];
        if (record->kind == KIND_LOW) {
            record_check(record, 1, KIND_LOW, 50, 555);
            continue;
        }
        record_check(record, 1, KIND_HIGH, size, high_expected);
        high_expected += 1;
    }
    assert_int_equal(high_expected, high_sent);
    // Drained: room again.
    assert_int_equal(send_frame(1, 2, KIND_HIGH, TC_LINK_PRIORITY_HIGH, size, 12345), TC_OK);
}

static bool node_has_frame(uint16_t id, uint16_t from, uint64_t sequence) {
    for (uint32_t r = 0; r < nodes[id].records_count; r++) {
        if (nodes[id].records[r].from == from && nodes[id].records[r].sequence == sequence) {
            return true;
        }
    }
    return false;
}

// Node 2 goes away with frames queued for it (discarded, counted), sends fail with TC_EAGAIN
// meanwhile, and both directions recover once node 2 is back on the same port.
static void test_reconnect(void **state) {
    (void)state;
    cluster_start(2, 0, false);
    nodes[2].paused = true;
    uint32_t sent = 0;
    for (uint32_t i = 0; i < RECORDS_MAX; i++) {
        if (send_frame(1, 2, KIND_LOW, TC_LINK_PRIORITY_LOW, 32u * 1024u, i) != TC_OK) break;
        sent += 1;
    }
    assert_true(sent > 0);
    node_stop(2);
    nodes[2].paused = false;
    PUMP_UNTIL(!tc_link_connected(&nodes[1].link, 2));
    struct tc_link_stats stats = stats_of(1);
    assert_int_equal(stats.disconnects, 1);
    assert_true(stats.drops_disconnect_frames >= 1);
    assert_true(stats.drops_disconnect_bytes >= 32u * 1024u);
    const struct tc_link_peer *peer = &nodes[1].link.peers[link_peer_of(1, 2)];
    assert_int_equal(peer->rings[TC_LINK_PRIORITY_LOW].count_bytes, 0);
    assert_int_equal(send_frame(1, 2, KIND_LOW, TC_LINK_PRIORITY_LOW, 10, 1), TC_EAGAIN);
    assert_int_equal(stats_of(1).drops_not_connected, 1);
    pump_for(300); // several refused reconnect attempts (backoff)
    assert_true(stats_of(1).connect_failures >= 1);
    assert_false(tc_link_connected(&nodes[1].link, 2));

    nodes[2].records_count = 0;
    node_start(2); // same listen address, same port
    PUMP_UNTIL(cluster_connected(2));
    assert_int_equal(send_frame(1, 2, KIND_HIGH, TC_LINK_PRIORITY_HIGH, 64, 4242), TC_OK);
    assert_int_equal(send_frame(2, 1, KIND_HIGH, TC_LINK_PRIORITY_HIGH, 64, 2424), TC_OK);
    PUMP_UNTIL(node_has_frame(2, 1, 4242) && node_has_frame(1, 2, 2424));
    stats = stats_of(1);
    assert_int_equal(stats.connects, 2);
    assert_true(stats.inbound_closed >= 1); // node 2's first outbound connection
    assert_int_equal(stats.invalid_frames, 0);
}

static void expect_invalid(uint16_t id, int fd, uint64_t invalid_before) {
    PUMP_UNTIL(raw_closed(fd) && nodes[id].link.stats.invalid_frames == invalid_before + 1);
}

// Garbage and a corrupted prefix close only the offending connection; a second connection
// naming the same node replaces the first; the real peers keep working throughout.
static void test_corrupt_prefix(void **state) {
    (void)state;
    cluster_start(3, 0, true);
    const uint16_t port = tc_link_listen_port(&nodes[1].link);
    uint8_t frame[256];

    // 1. Garbage instead of a hello.
    int fd = raw_connect(port);
    struct tc_prng prng;
    tc_prng_init(&prng, 7);
    tc_prng_fill(&prng, frame, TC_LINK_PREFIX_SIZE);
    raw_write(fd, frame, TC_LINK_PREFIX_SIZE);
    expect_invalid(1, fd, 0);
    assert_non_null(strstr(nodes[1].log_last, "prefix checksum mismatch"));

    // 2. A valid hello as the ghost node and a valid frame (built from the documented format).
    const int first = raw_connect(port);
    uint32_t size = raw_hello(frame, CLUSTER, CLUSTER, GHOST_NODE);
    raw_write(first, frame, size);
    const uint8_t text[8] = {'r', 'a', 'w', ' ', 'b', 'y', 't', 'e'};
    size = raw_frame(frame, CLUSTER, KIND_MARK, text, sizeof(text));
    raw_write(first, frame, size);
    PUMP_UNTIL(nodes[1].records_count == 1);
    assert_int_equal(nodes[1].records[0].from, GHOST_NODE);
    assert_int_equal(nodes[1].records[0].kind, KIND_MARK);
    assert_int_equal(nodes[1].records[0].size, sizeof(text));
    assert_int_equal(nodes[1].records[0].sequence, tc_le_get_u64(text));

    // 3. A second connection as the ghost node replaces the first.
    fd = raw_connect(port);
    raw_write(fd, frame, raw_hello(frame, CLUSTER, CLUSTER, GHOST_NODE));
    PUMP_UNTIL(raw_closed(first));
    assert_int_equal(nodes[1].link.stats.inbound_replaced, 1);
    assert_int_equal(nodes[1].link.stats.invalid_frames, 1);

    // 4. One flipped bit in a prefix.
    size = raw_frame(frame, CLUSTER, KIND_MARK, text, sizeof(text));
    frame[24] ^= 0x10; // the size field: the checksum no longer matches
    raw_write(fd, frame, size);
    expect_invalid(1, fd, 1);
    assert_non_null(strstr(nodes[1].log_last, "prefix checksum mismatch"));
    assert_int_equal(nodes[1].records_count, 1);

    // 5. The real nodes were never disturbed and still talk to node 1 both ways.
    assert_true(cluster_connected(3));
    for (uint16_t peer = 2; peer <= 3; peer++) {
        assert_int_equal(send_frame(peer, 1, KIND_LOW, TC_LINK_PRIORITY_LOW, 200, peer), TC_OK);
        assert_int_equal(send_frame(1, peer, KIND_LOW, TC_LINK_PRIORITY_LOW, 200, 10u + peer),
                         TC_OK);
    }
    PUMP_UNTIL(node_has_frame(1, 2, 2) && node_has_frame(1, 3, 3) && node_has_frame(2, 1, 12) &&
               node_has_frame(3, 1, 13));
    for (uint16_t id = 1; id <= 3; id++) {
        assert_int_equal(stats_of(id).disconnects, 0);
        assert_int_equal(stats_of(id).invalid_frames, id == 1 ? 2 : 0);
    }
}

// Hellos naming the wrong cluster or an unknown node, frames before a hello, a second hello and
// a foreign-cluster prefix are refused; so is a real link configured for another cluster.
static void test_hello_refused(void **state) {
    (void)state;
    cluster_start(2, 0, true);
    const uint16_t port = tc_link_listen_port(&nodes[1].link);
    uint8_t frame[128];
    struct {
        uint64_t frame_cluster;
        uint64_t hello_cluster;
        uint16_t node_id;
        const char *reason;
    } cases[] = {
        {CLUSTER, CLUSTER + 1, GHOST_NODE, "hello names another cluster"},
        {CLUSTER + 1, CLUSTER + 1, GHOST_NODE, "prefix names another cluster"},
        {CLUSTER, CLUSTER, 42, "hello names an unknown node"},
        {CLUSTER, CLUSTER, 1, "hello names an unknown node"}, // itself
    };
    uint64_t invalid = 0;
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        const int fd = raw_connect(port);
        const uint32_t size =
            raw_hello(frame, cases[i].frame_cluster, cases[i].hello_cluster, cases[i].node_id);
        raw_write(fd, frame, size);
        expect_invalid(1, fd, invalid++);
        assert_non_null(strstr(nodes[1].log_last, cases[i].reason));
    }
    // A frame before any hello.
    int fd = raw_connect(port);
    raw_write(fd, frame, raw_frame(frame, CLUSTER, KIND_MARK, NULL, 0));
    expect_invalid(1, fd, invalid++);
    assert_non_null(strstr(nodes[1].log_last, "frame before hello"));
    // A second hello.
    fd = raw_connect(port);
    raw_write(fd, frame, raw_hello(frame, CLUSTER, CLUSTER, GHOST_NODE));
    raw_write(fd, frame, raw_hello(frame, CLUSTER, CLUSTER, GHOST_NODE));
    expect_invalid(1, fd, invalid++);
    assert_non_null(strstr(nodes[1].log_last, "second hello"));
    assert_int_equal(nodes[1].records_count, 0);

    // A real node of another cluster, listing node 1 as its peer.
    node_prepare(4, "127.0.0.1:0");
    node_peer_add(4, 1);
    struct tc_link_options options = node_options(&nodes[4]);
    options.cluster = CLUSTER + 1;
    node_start_with(4, &options);
    PUMP_UNTIL(nodes[1].link.stats.invalid_frames >= invalid + 1);
    assert_non_null(strstr(nodes[1].log_last, "another cluster"));
    assert_int_equal(nodes[1].records_count, 0);
    // Node 2 was never disturbed.
    assert_true(cluster_connected(2));
    assert_int_equal(stats_of(2).disconnects, 0);
}

// Frames of size 0 and of frame_size_max, both ways and both classes; misuse asserts.
static void test_frame_sizes(void **state) {
    (void)state;
    cluster_start(2, 0, false);
    const uint32_t sizes[] = {0, FRAME_MAX, 1, FRAME_MAX - 1, 0};
    // One class per direction: frames of one class keep their order (classes may overtake).
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(sizes); i++) {
        assert_int_equal(send_frame(1, 2, KIND_HIGH, TC_LINK_PRIORITY_HIGH, sizes[i], 100 + i),
                         TC_OK);
        assert_int_equal(send_frame(2, 1, KIND_LOW, TC_LINK_PRIORITY_LOW, sizes[i], 200 + i),
                         TC_OK);
    }
    const uint32_t count = TC_ARRAY_COUNT(sizes);
    PUMP_UNTIL(nodes[1].records_count == count && nodes[2].records_count == count);
    for (uint32_t i = 0; i < count; i++) {
        const struct record *to_2 = &nodes[2].records[i];
        const struct record *to_1 = &nodes[1].records[i];
        assert_int_equal(to_2->size, sizes[i]);
        assert_int_equal(to_1->size, sizes[i]);
        record_check(to_2, 1, KIND_HIGH, sizes[i], 100 + i);
        record_check(to_1, 2, KIND_LOW, sizes[i], 200 + i);
    }
    // Programming errors.
    expect_assert_failure(tc_link_send(&nodes[1].link, 1, KIND_HIGH, 0, payload_buffer, 1));
    expect_assert_failure(
        tc_link_send(&nodes[1].link, 2, TC_LINK_KIND_HELLO, 0, payload_buffer, 1));
    expect_assert_failure(
        tc_link_send(&nodes[1].link, 2, KIND_HIGH, 0, payload_buffer, FRAME_MAX + 1));
    expect_assert_failure(tc_link_send(&nodes[1].link, 2, KIND_HIGH, 2, payload_buffer, 1));
}

// Unidentified inbound connections are bounded: the oldest is evicted when the slots run out,
// and the rest are closed when no hello arrives in time.
static void test_inbound_limits(void **state) {
    (void)state;
    uint16_t ports[1];
    ports_reserve(ports, 1);
    (void)snprintf(addresses[2], ADDRESS_SIZE, "127.0.0.1:%u", ports[0]); // never started
    node_prepare(1, "127.0.0.1:0");
    node_peer_add(1, 2);
    node_start(1);
    const uint16_t port = tc_link_listen_port(&nodes[1].link);
    const uint32_t slots = nodes[1].link.inbound_count;
    assert_int_equal(slots, 1 + TC_LINK_INBOUND_SPARE);
    assert_true(slots + 1 <= RAW_MAX);
    int fds[RAW_MAX];
    for (uint32_t i = 0; i < slots; i++) fds[i] = raw_connect(port);
    PUMP_UNTIL(nodes[1].link.stats.inbound_accepted == slots);
    fds[slots] = raw_connect(port);
    PUMP_UNTIL(nodes[1].link.stats.inbound_accepted == slots + 1);
    PUMP_UNTIL(raw_closed(fds[0]));
    assert_int_equal(nodes[1].link.stats.inbound_closed, 1);
    for (uint32_t i = 1; i <= slots; i++) assert_false(raw_closed(fds[i]));
    // hello_timeout_ms is 100 (fake ms, one per pump).
    PUMP_UNTIL(nodes[1].link.stats.inbound_timeouts == slots);
    for (uint32_t i = 1; i <= slots; i++) assert_true(raw_closed(fds[i]));
    assert_int_equal(nodes[1].link.stats.inbound_closed, slots + 1);
    assert_true(nodes[1].link.stats.connect_failures >= 1); // node 2 never listened
}

static int init_expect_fail(struct tc_link_options *options, const char *needle) {
    struct tc_link link;
    const uint32_t handlers_before = options->loop->handlers_registered;
    const int result = tc_link_init(&link, options);
    assert_true(result < 0);
    assert_false(link.initialized);
    if (needle != NULL && strstr(link.error, needle) == NULL) {
        fail_msg("error '%s' lacks '%s'", link.error, needle);
    }
    assert_int_equal(options->loop->handlers_registered, handlers_before); // nothing left behind
    return result;
}

static void test_init_errors(void **state) {
    (void)state;
    static struct tc_link link; // large: not on the stack twice
    node_prepare(1, "localhost:0");
    struct tc_link_options options = node_options(&nodes[1]);
    options.listen_address = "localhost:0";
    assert_int_equal(tc_link_init(&link, &options), TC_OK);
    const uint16_t port = tc_link_listen_port(&link);
    assert_true(port != 0);

    char in_use[ADDRESS_SIZE];
    (void)snprintf(in_use, sizeof(in_use), "127.0.0.1:%u", port);
    options.listen_address = in_use;
    init_expect_fail(&options, in_use);
    init_expect_fail(&options, "Address already in use");
    tc_link_deinit(&link);

    options = node_options(&nodes[1]);
    options.listen_address = "nonsense";
    assert_int_equal(init_expect_fail(&options, "nonsense"), TC_EINVAL);
    options.listen_address = "127.0.0.1:99999";
    assert_int_equal(init_expect_fail(&options, "invalid port"), TC_EINVAL);
    options.listen_address = "127.0.0.1:0";
    options.node_id = 0;
    assert_int_equal(init_expect_fail(&options, "node id"), TC_EINVAL);
    options.node_id = TC_LINK_NODES_MAX;
    assert_int_equal(init_expect_fail(&options, "node id"), TC_EINVAL);
    options.node_id = 1;
    options.peers[0] = (struct tc_link_peer_address){.node_id = 2, .address = "127.0.0.1:1"};
    options.peers[1] = (struct tc_link_peer_address){.node_id = 2, .address = "127.0.0.1:2"};
    options.peer_count = 2;
    assert_int_equal(init_expect_fail(&options, "twice"), TC_EINVAL);
    options.peers[0] = (struct tc_link_peer_address){.node_id = 2, .address = "127.0.0.1:0"};
    options.peer_count = 1;
    assert_int_equal(init_expect_fail(&options, "127.0.0.1:0"), TC_EINVAL);
    memset(options.peers[0].address, 'x', sizeof(options.peers[0].address)); // no terminator
    assert_int_equal(init_expect_fail(&options, "too long"), TC_EINVAL);
    options.peer_count = 0;
    options.send_queue_low_bytes = 1000; // smaller than a largest frame
    assert_int_equal(init_expect_fail(&options, "send queues"), TC_EINVAL);
}

int main(void) {
    tc_assert_set_handler(assert_handler);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_delivery_three_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ordering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_priority, setup, teardown),
        cmocka_unit_test_setup_teardown(test_priority_between_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hello_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frame_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbound_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_join, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
