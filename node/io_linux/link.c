// The node-to-node link (see link.h): outbound connections that only send, inbound connections
// that only receive, a 32-byte checksummed prefix per frame, and two bounded send rings per peer.
//
// Send ring invariants (per peer): a ring holds whole frames back to back; only its head frame may
// be partly written (head_frame_sent_bytes > 0), and at most one of the two rings is mid-frame at
// any time, because the writer finishes a frame it started before switching class. The hello is
// always the first frame of a connection: it is pushed into the (empty) high ring on connect.
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io_linux_internal.h"
#include "link.h"
#include "tc_arena.h"
#include "tc_assert.h"
#include "tc_checksum.h"
#include "tc_err.h"
#include "tc_le.h"

#define LINK_READS_PER_EVENT 4u    // recv calls per readiness event of one inbound connection
#define LINK_WRITES_PER_FLUSH 4u   // sendmsg calls per flush of one peer
#define LINK_ACCEPTS_PER_EVENT 8u  // accept calls per readiness event of the listener
#define LINK_LISTEN_BACKLOG 64
#define LINK_LOG_LINE_SIZE 512u
#define LINK_REASON_SIZE 256u
#define LINK_BACKOFF_SHIFT_MAX 16u
#define LINK_PEER_NONE ((uint8_t)TC_LINK_NODES_MAX)
#define LINK_FRAME_SIZE_MAX_LIMIT (256u * 1024u * 1024u)
#define LINK_QUEUE_BYTES_LIMIT (1024u * 1024u * 1024u)
#define LINK_PORT_DIGITS_MAX 5u

// Prefix layout (link.h).
#define LINK_OFFSET_CLUSTER 16u
#define LINK_OFFSET_SIZE 24u
#define LINK_OFFSET_KIND 28u
#define LINK_OFFSET_VERSION 29u
#define LINK_OFFSET_RESERVED 30u
#define LINK_CHECKSUMMED_SIZE 16u // prefix bytes [16,32), and the hello's body [0,16)

_Static_assert(sizeof(struct tc_checksum) == 16, "the prefix starts with a 16-byte checksum");
_Static_assert(LINK_OFFSET_CLUSTER + LINK_CHECKSUMMED_SIZE == TC_LINK_PREFIX_SIZE, "prefix");
_Static_assert(LINK_CHECKSUMMED_SIZE + 16u == TC_LINK_HELLO_SIZE, "hello: body + checksum");
_Static_assert(TC_LINK_PEERS_MAX < LINK_PEER_NONE, "peer index fits a byte");

// ---------------------------------------------------------------------------------------------
// Logging and errors.

__attribute__((format(printf, 2, 3))) static void link_log(const struct tc_link *link,
                                                           const char *format, ...) {
    if (link->options.log == NULL) return;
    char line[LINK_LOG_LINE_SIZE];
    const int prefix_size = snprintf(line, sizeof(line), "link node %u: ", link->options.node_id);
    tc_assert(prefix_size > 0 && (uint32_t)prefix_size < sizeof(line));
    va_list arguments;
    va_start(arguments, format);
    (void)vsnprintf(line + prefix_size, sizeof(line) - (size_t)prefix_size, format, arguments);
    va_end(arguments);
    void *context = link->options.log_context;
    link->options.log(context != NULL ? context : link->options.context, line);
}

// Fills link->error and returns `code` (init failures only).
__attribute__((format(printf, 3, 4))) static int link_fail(struct tc_link *link, int code,
                                                           const char *format, ...) {
    tc_assert(code < 0);
    va_list arguments;
    va_start(arguments, format);
    (void)vsnprintf(link->error, sizeof(link->error), format, arguments);
    va_end(arguments);
    return code;
}

static int link_fail_errno(struct tc_link *link, int error_number, const char *what,
                           const char *address) {
    tc_assert(error_number > 0);
    char text_buffer[128];
    const char *text = strerror_r(error_number, text_buffer, sizeof(text_buffer)); // GNU variant
    return link_fail(link, io_linux_errno_to_tc(error_number), "link: %s '%s': %s (errno %d)",
                     what, address, text, error_number);
}

static void link_reason_errno(char reason[LINK_REASON_SIZE], const char *what, int error_number) {
    tc_assert(error_number > 0);
    char text_buffer[128];
    const char *text = strerror_r(error_number, text_buffer, sizeof(text_buffer));
    (void)snprintf(reason, LINK_REASON_SIZE, "%s: %s (errno %d)", what, text, error_number);
}

// ---------------------------------------------------------------------------------------------
// Prefix and hello codecs.

static void link_prefix_encode(uint8_t prefix[TC_LINK_PREFIX_SIZE], uint64_t cluster,
                               uint32_t size_bytes, uint8_t kind) {
    tc_le_put_u64(prefix + LINK_OFFSET_CLUSTER, cluster);
    tc_le_put_u32(prefix + LINK_OFFSET_SIZE, size_bytes);
    prefix[LINK_OFFSET_KIND] = kind;
    prefix[LINK_OFFSET_VERSION] = TC_LINK_VERSION;
    prefix[LINK_OFFSET_RESERVED] = 0;
    prefix[LINK_OFFSET_RESERVED + 1] = 0;
    struct tc_checksum checksum;
    tc_checksum_compute(&checksum, prefix + LINK_OFFSET_CLUSTER, LINK_CHECKSUMMED_SIZE);
    memcpy(prefix, checksum.bytes, sizeof(checksum.bytes));
}

// NULL when the prefix is valid for this link, else why not.
static const char *link_prefix_invalid(const struct tc_link *link, const uint8_t *prefix) {
    struct tc_checksum expected;
    struct tc_checksum found;
    tc_checksum_compute(&expected, prefix + LINK_OFFSET_CLUSTER, LINK_CHECKSUMMED_SIZE);
    memcpy(found.bytes, prefix, sizeof(found.bytes));
    if (!tc_checksum_equal(&expected, &found)) return "prefix checksum mismatch";
    if (prefix[LINK_OFFSET_VERSION] != TC_LINK_VERSION) return "unknown prefix version";
    if (prefix[LINK_OFFSET_RESERVED] != 0 || prefix[LINK_OFFSET_RESERVED + 1] != 0) {
        return "prefix reserved bytes not zero";
    }
    if (tc_le_get_u64(prefix + LINK_OFFSET_CLUSTER) != link->options.cluster) {
        return "prefix names another cluster";
    }
    if (tc_le_get_u32(prefix + LINK_OFFSET_SIZE) > link->options.frame_size_max) {
        return "frame larger than frame_size_max";
    }
    return NULL;
}

static void link_hello_encode(uint8_t hello[TC_LINK_HELLO_SIZE], uint64_t cluster,
                              uint16_t node_id) {
    memset(hello, 0, TC_LINK_HELLO_SIZE);
    tc_le_put_u64(hello, cluster);
    tc_le_put_u16(hello + 8, node_id);
    struct tc_checksum checksum;
    tc_checksum_compute(&checksum, hello, LINK_CHECKSUMMED_SIZE);
    memcpy(hello + LINK_CHECKSUMMED_SIZE, checksum.bytes, sizeof(checksum.bytes));
}

static uint8_t link_peer_index(const struct tc_link *link, uint16_t node_id) {
    if (node_id >= TC_LINK_NODES_MAX) return LINK_PEER_NONE;
    return link->peer_index_by_node[node_id];
}

// NULL when the hello is valid (sets *node_id), else why not.
static const char *link_hello_invalid(const struct tc_link *link, const uint8_t *payload,
                                      uint32_t size_bytes, uint16_t *node_id) {
    if (size_bytes != TC_LINK_HELLO_SIZE) return "hello of the wrong size";
    struct tc_checksum expected;
    struct tc_checksum found;
    tc_checksum_compute(&expected, payload, LINK_CHECKSUMMED_SIZE);
    memcpy(found.bytes, payload + LINK_CHECKSUMMED_SIZE, sizeof(found.bytes));
    if (!tc_checksum_equal(&expected, &found)) return "hello checksum mismatch";
    for (uint32_t i = 10; i < LINK_CHECKSUMMED_SIZE; i++) {
        if (payload[i] != 0) return "hello padding not zero";
    }
    if (tc_le_get_u64(payload) != link->options.cluster) return "hello names another cluster";
    *node_id = tc_le_get_u16(payload + 8);
    if (link_peer_index(link, *node_id) == LINK_PEER_NONE) return "hello names an unknown node";
    return NULL;
}

// ---------------------------------------------------------------------------------------------
// Send rings.

static uint32_t link_ring_free_bytes(const struct tc_link_ring *ring) {
    tc_assert(ring->count_bytes <= ring->capacity_bytes);
    return ring->capacity_bytes - ring->count_bytes;
}

static void link_ring_push(struct tc_link_ring *ring, const uint8_t *data, uint32_t size_bytes) {
    tc_assert(size_bytes <= link_ring_free_bytes(ring));
    if (size_bytes == 0) return;
    const uint32_t tail = (ring->head + ring->count_bytes) % ring->capacity_bytes;
    const uint32_t first = tc_min_u32(size_bytes, ring->capacity_bytes - tail);
    memcpy(ring->buffer + tail, data, first);
    if (first < size_bytes) memcpy(ring->buffer, data + first, size_bytes - first);
    ring->count_bytes += size_bytes;
}

static void link_ring_peek(const struct tc_link_ring *ring, uint32_t offset, uint8_t *out,
                           uint32_t size_bytes) {
    tc_assert(offset + size_bytes <= ring->count_bytes);
    for (uint32_t i = 0; i < size_bytes; i++) {
        out[i] = ring->buffer[(ring->head + offset + i) % ring->capacity_bytes];
    }
}

// The iovecs covering the ring's first `size_bytes` bytes: at most 2 (the ring may wrap).
static uint32_t link_ring_iovecs(const struct tc_link_ring *ring, uint32_t size_bytes,
                                 struct iovec *iov) {
    tc_assert(size_bytes <= ring->count_bytes);
    if (size_bytes == 0) return 0;
    const uint32_t first = tc_min_u32(size_bytes, ring->capacity_bytes - ring->head);
    iov[0].iov_base = ring->buffer + ring->head;
    iov[0].iov_len = first;
    if (first == size_bytes) return 1;
    iov[1].iov_base = ring->buffer;
    iov[1].iov_len = size_bytes - first;
    return 2;
}

static void link_ring_head_frame_start(struct tc_link_ring *ring) {
    tc_assert(ring->head_frame_sent_bytes == 0);
    tc_assert(ring->frames_count > 0 && ring->count_bytes >= TC_LINK_PREFIX_SIZE);
    uint8_t prefix[TC_LINK_PREFIX_SIZE];
    link_ring_peek(ring, 0, prefix, TC_LINK_PREFIX_SIZE);
    ring->head_frame_size_bytes = TC_LINK_PREFIX_SIZE + tc_le_get_u32(prefix + LINK_OFFSET_SIZE);
    ring->head_frame_hello = prefix[LINK_OFFSET_KIND] == TC_LINK_KIND_HELLO;
    tc_assert(ring->head_frame_size_bytes <= ring->count_bytes);
}

// Drops `size_bytes` written bytes from the ring's head, walking frame boundaries.
static void link_ring_consume(struct tc_link_ring *ring, uint32_t size_bytes,
                              uint64_t *frames_done, uint64_t *hellos_done) {
    tc_assert(size_bytes <= ring->count_bytes);
    const uint32_t frames_before = ring->frames_count;
    uint32_t remaining = size_bytes;
    for (uint32_t frame = 0; remaining > 0; frame++) {
        tc_assert(frame < frames_before);
        if (ring->head_frame_sent_bytes == 0) link_ring_head_frame_start(ring);
        const uint32_t take =
            tc_min_u32(remaining, ring->head_frame_size_bytes - ring->head_frame_sent_bytes);
        ring->head = (ring->head + take) % ring->capacity_bytes;
        ring->count_bytes -= take;
        ring->head_frame_sent_bytes += take;
        remaining -= take;
        if (ring->head_frame_sent_bytes == ring->head_frame_size_bytes) {
            ring->head_frame_sent_bytes = 0;
            ring->frames_count -= 1;
            if (ring->head_frame_hello) *hellos_done += 1;
            else *frames_done += 1;
        }
    }
    tc_assert(ring->frames_count > 0 || ring->count_bytes == 0);
}

static void link_ring_clear(struct tc_link_ring *ring) {
    ring->head = 0;
    ring->count_bytes = 0;
    ring->frames_count = 0;
    ring->head_frame_size_bytes = 0;
    ring->head_frame_sent_bytes = 0;
    ring->head_frame_hello = false;
}

// ---------------------------------------------------------------------------------------------
// Write planning: which ring bytes go into the next sendmsg, in order.

struct link_write_plan {
    uint32_t priorities[TC_LINK_PRIORITIES];
    uint32_t sizes_bytes[TC_LINK_PRIORITIES];
    uint32_t count;
};

static void link_write_plan_add(struct link_write_plan *plan, uint32_t priority,
                                uint32_t size_bytes) {
    tc_assert(plan->count < TC_LINK_PRIORITIES);
    if (size_bytes == 0) return;
    plan->priorities[plan->count] = priority;
    plan->sizes_bytes[plan->count] = size_bytes;
    plan->count += 1;
}

// High before low, except that a low frame already partly written is finished first (frames
// never interleave). Everything queued may go in one sendmsg: the order on the wire is the plan's.
static void link_write_plan_make(const struct tc_link_peer *peer, struct link_write_plan *plan) {
    const struct tc_link_ring *high = &peer->rings[TC_LINK_PRIORITY_HIGH];
    const struct tc_link_ring *low = &peer->rings[TC_LINK_PRIORITY_LOW];
    tc_assert(high->head_frame_sent_bytes == 0 || low->head_frame_sent_bytes == 0);
    plan->count = 0;
    if (low->head_frame_sent_bytes > 0 && high->count_bytes > 0) {
        link_write_plan_add(plan, TC_LINK_PRIORITY_LOW,
                            low->head_frame_size_bytes - low->head_frame_sent_bytes);
        link_write_plan_add(plan, TC_LINK_PRIORITY_HIGH, high->count_bytes);
    } else {
        link_write_plan_add(plan, TC_LINK_PRIORITY_HIGH, high->count_bytes);
        link_write_plan_add(plan, TC_LINK_PRIORITY_LOW, low->count_bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// Outbound connections (one per peer).

static uint32_t link_peer_queued_bytes(const struct tc_link_peer *peer) {
    return peer->rings[TC_LINK_PRIORITY_HIGH].count_bytes +
           peer->rings[TC_LINK_PRIORITY_LOW].count_bytes;
}

static uint32_t link_backoff_ms(struct tc_link *link, const struct tc_link_peer *peer) {
    const uint32_t shift = tc_min_u32(peer->backoff_attempts, LINK_BACKOFF_SHIFT_MAX);
    const uint64_t base_ms = tc_min_u64((uint64_t)link->options.reconnect_min_ms << shift,
                                        link->options.reconnect_max_ms);
    const uint64_t delay_ms = base_ms / 2 + tc_prng_below(&link->prng, base_ms / 2 + 1);
    const uint64_t result = tc_max_u64(delay_ms, link->options.reconnect_min_ms);
    tc_assert(result <= link->options.reconnect_max_ms);
    return (uint32_t)result;
}

static void link_peer_discard(struct tc_link *link, struct tc_link_peer *peer) {
    for (uint32_t p = 0; p < TC_LINK_PRIORITIES; p++) {
        link->stats.drops_disconnect_frames += peer->rings[p].frames_count;
        link->stats.drops_disconnect_bytes += peer->rings[p].count_bytes;
        link_ring_clear(&peer->rings[p]);
    }
}

// Back to IDLE; the next tick schedules the reconnect after a backoff delay.
static void link_peer_reset(struct tc_link *link, struct tc_link_peer *peer) {
    peer->state = TC_LINK_PEER_IDLE;
    peer->reconnect_delay_ms = link_backoff_ms(link, peer);
    peer->backoff_attempts += 1;
    peer->reconnect_scheduled = false;
    peer->connect_deadline_set = false;
}

// A connect that failed before the socket joined the loop.
static void link_peer_connect_failed(struct tc_link *link, struct tc_link_peer *peer, int fd,
                                     const char *what, int error_number) {
    tc_assert(peer->state == TC_LINK_PEER_IDLE && !peer->handler.registered);
    if (fd >= 0) close(fd);
    link->stats.connect_failures += 1;
    if (peer->backoff_attempts == 0) { // log the first failure of a series, not every retry
        char reason[LINK_REASON_SIZE];
        link_reason_errno(reason, what, error_number);
        link_log(link, "connect to node %u '%s' failed: %s", peer->node_id, peer->address,
                 reason);
    }
    link_peer_reset(link, peer);
}

static void link_peer_close(struct tc_link *link, struct tc_link_peer *peer, const char *reason) {
    tc_assert(peer->state != TC_LINK_PEER_IDLE && peer->handler.registered);
    const int fd = peer->handler.fd;
    tc_loop_remove(link->loop, &peer->handler);
    close(fd);
    link_peer_discard(link, peer);
    if (peer->state == TC_LINK_PEER_CONNECTED) {
        link->stats.disconnects += 1;
        link_log(link, "connection to node %u '%s' closed: %s", peer->node_id, peer->address,
                 reason);
    } else {
        link->stats.connect_failures += 1;
        if (peer->backoff_attempts == 0) {
            link_log(link, "connect to node %u '%s' failed: %s", peer->node_id, peer->address,
                     reason);
        }
    }
    link_peer_reset(link, peer);
}

static void link_peer_close_errno(struct tc_link *link, struct tc_link_peer *peer,
                                  const char *what, int error_number) {
    char reason[LINK_REASON_SIZE];
    link_reason_errno(reason, what, error_number);
    link_peer_close(link, peer, reason);
}

static void link_peer_consume(struct tc_link *link, struct tc_link_peer *peer,
                              const struct link_write_plan *plan, uint32_t written_bytes) {
    uint32_t remaining = written_bytes;
    for (uint32_t i = 0; i < plan->count && remaining > 0; i++) {
        const uint32_t priority = plan->priorities[i];
        const uint32_t take = tc_min_u32(remaining, plan->sizes_bytes[i]);
        link_ring_consume(&peer->rings[priority], take, &link->stats.frames_sent[priority],
                          &link->stats.hellos_sent);
        link->stats.bytes_sent[priority] += take;
        remaining -= take;
    }
    tc_assert(remaining == 0);
}

// One sendmsg of the planned bytes. TC_OK (progress or EINTR), TC_EAGAIN (kernel buffer full),
// or TC_EIO (the connection was closed).
static int link_peer_write_once(struct tc_link *link, struct tc_link_peer *peer) {
    struct link_write_plan plan;
    link_write_plan_make(peer, &plan);
    tc_assert(plan.count > 0);
    struct iovec iov[2 * TC_LINK_PRIORITIES];
    uint32_t iov_count = 0;
    uint64_t planned_bytes = 0;
    for (uint32_t i = 0; i < plan.count; i++) {
        iov_count += link_ring_iovecs(&peer->rings[plan.priorities[i]], plan.sizes_bytes[i],
                                      iov + iov_count);
        planned_bytes += plan.sizes_bytes[i];
    }
    struct msghdr message = {.msg_iov = iov, .msg_iovlen = iov_count};
    const ssize_t written = sendmsg(peer->handler.fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (written < 0) {
        if (errno == EINTR) return TC_OK;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return TC_EAGAIN;
        link_peer_close_errno(link, peer, "write", errno);
        return TC_EIO;
    }
    tc_assert(written > 0 && (uint64_t)written <= planned_bytes);
    link_peer_consume(link, peer, &plan, (uint32_t)written);
    return TC_OK;
}

// Writes until the queues are empty, the kernel buffer is full or the budget is spent, then asks
// the loop for writability exactly when bytes remain queued.
static void link_peer_flush(struct tc_link *link, struct tc_link_peer *peer) {
    tc_assert(peer->state == TC_LINK_PEER_CONNECTED);
    for (uint32_t i = 0; i < LINK_WRITES_PER_FLUSH; i++) {
        if (link_peer_queued_bytes(peer) == 0) break;
        const int result = link_peer_write_once(link, peer);
        if (result == TC_EAGAIN) break;
        if (result < 0) return; // closed
    }
    const uint32_t interest =
        TC_LOOP_READ | (link_peer_queued_bytes(peer) > 0 ? (uint32_t)TC_LOOP_WRITE : 0u);
    const int result = tc_loop_modify(link->loop, &peer->handler, interest);
    if (result != TC_OK) link_peer_close(link, peer, "epoll modify failed");
}

static bool link_socket_self_connected(int fd) {
    struct sockaddr_in local;
    struct sockaddr_in remote;
    socklen_t local_size = sizeof(local);
    socklen_t remote_size = sizeof(remote);
    if (getsockname(fd, (struct sockaddr *)&local, &local_size) != 0) return false;
    if (getpeername(fd, (struct sockaddr *)&remote, &remote_size) != 0) return false;
    return local.sin_port == remote.sin_port && local.sin_addr.s_addr == remote.sin_addr.s_addr;
}

static void link_peer_established(struct tc_link *link, struct tc_link_peer *peer) {
    tc_assert(peer->state == TC_LINK_PEER_CONNECTING);
    tc_assert(link_peer_queued_bytes(peer) == 0);
    if (link_socket_self_connected(peer->handler.fd)) {
        // TCP simultaneous open onto our own ephemeral port while nothing listens there.
        link_peer_close(link, peer, "connected to itself (nothing listening)");
        return;
    }
    peer->state = TC_LINK_PEER_CONNECTED;
    peer->backoff_attempts = 0;
    peer->connect_deadline_set = false;
    link->stats.connects += 1;
    link_log(link, "connected to node %u '%s'", peer->node_id, peer->address);

    uint8_t frame[TC_LINK_PREFIX_SIZE + TC_LINK_HELLO_SIZE];
    link_prefix_encode(frame, link->options.cluster, TC_LINK_HELLO_SIZE, TC_LINK_KIND_HELLO);
    link_hello_encode(frame + TC_LINK_PREFIX_SIZE, link->options.cluster, link->options.node_id);
    struct tc_link_ring *ring = &peer->rings[TC_LINK_PRIORITY_HIGH];
    link_ring_push(ring, frame, sizeof(frame));
    ring->frames_count += 1;
    link_peer_flush(link, peer);
}

static void link_peer_connect_complete(struct tc_link *link, struct tc_link_peer *peer,
                                       uint32_t ready) {
    int error_number = 0;
    socklen_t error_size = sizeof(error_number);
    if (getsockopt(peer->handler.fd, SOL_SOCKET, SO_ERROR, &error_number, &error_size) != 0) {
        error_number = errno;
    }
    if (error_number != 0) {
        link_peer_close_errno(link, peer, "connect", error_number);
        return;
    }
    struct sockaddr_in remote;
    socklen_t remote_size = sizeof(remote);
    if (getpeername(peer->handler.fd, (struct sockaddr *)&remote, &remote_size) != 0) {
        const int peer_error = errno;
        // ENOTCONN without a hang-up: spurious readiness, the connect is still in progress.
        if (peer_error == ENOTCONN && (ready & TC_LOOP_HANGUP) == 0) return;
        link_peer_close_errno(link, peer, "connect", peer_error);
        return;
    }
    link_peer_established(link, peer);
}

// The peer never sends on our outbound connection: readable means closed, failed, or misbehaving.
// Returns false when the connection was closed.
static bool link_peer_check_readable(struct tc_link *link, struct tc_link_peer *peer) {
    uint8_t bytes[64];
    const ssize_t count = recv(peer->handler.fd, bytes, sizeof(bytes), MSG_DONTWAIT);
    if (count > 0) {
        link->stats.invalid_frames += 1;
        link_peer_close(link, peer, "peer sent bytes on an outbound connection");
        return false;
    }
    if (count == 0) {
        link_peer_close(link, peer, "closed by peer");
        return false;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return true;
    link_peer_close_errno(link, peer, "read", errno);
    return false;
}

static void link_peer_on_ready(struct tc_loop_handler *handler, uint32_t ready) {
    struct tc_link_peer *peer = handler->context;
    struct tc_link *link = peer->link;
    tc_assert(link->initialized);
    if (peer->state == TC_LINK_PEER_CONNECTING) {
        link_peer_connect_complete(link, peer, ready);
        return;
    }
    tc_assert(peer->state == TC_LINK_PEER_CONNECTED);
    if (ready & (TC_LOOP_READ | TC_LOOP_HANGUP)) {
        if (!link_peer_check_readable(link, peer)) return;
    }
    if (ready & TC_LOOP_WRITE) link_peer_flush(link, peer);
}

static int link_socket_nodelay(int fd) {
    const int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) return errno;
    return 0;
}

static void link_peer_connect(struct tc_link *link, struct tc_link_peer *peer) {
    tc_assert(peer->state == TC_LINK_PEER_IDLE && !peer->handler.registered);
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        link_peer_connect_failed(link, peer, -1, "socket", errno);
        return;
    }
    const int nodelay_error = link_socket_nodelay(fd);
    if (nodelay_error != 0) {
        link_peer_connect_failed(link, peer, fd, "TCP_NODELAY", nodelay_error);
        return;
    }
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(peer->port)};
    address.sin_addr.s_addr = peer->address_ipv4;
    const int result = connect(fd, (const struct sockaddr *)&address, sizeof(address));
    if (result != 0 && errno != EINPROGRESS) {
        link_peer_connect_failed(link, peer, fd, "connect", errno);
        return;
    }
    const int add_result =
        tc_loop_add(link->loop, &peer->handler, fd, TC_LOOP_READ | TC_LOOP_WRITE);
    if (add_result != TC_OK) {
        link_peer_connect_failed(link, peer, fd, "epoll add", EIO);
        return;
    }
    peer->state = TC_LINK_PEER_CONNECTING;
    peer->reconnect_scheduled = false;
    peer->connect_deadline_set = true;
    peer->connect_deadline_ms = link->now_ms + link->options.connect_timeout_ms;
    if (result == 0) link_peer_established(link, peer);
}

static void link_peer_tick(struct tc_link *link, struct tc_link_peer *peer) {
    if (peer->state == TC_LINK_PEER_IDLE) {
        if (!peer->reconnect_scheduled) {
            peer->reconnect_at_ms = link->now_ms + peer->reconnect_delay_ms;
            peer->reconnect_scheduled = true;
        }
        if (link->now_ms >= peer->reconnect_at_ms) link_peer_connect(link, peer);
    } else if (peer->state == TC_LINK_PEER_CONNECTING) {
        tc_assert(peer->connect_deadline_set);
        if (link->now_ms >= peer->connect_deadline_ms) {
            link_peer_close(link, peer, "connect timed out");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Inbound connections (accepted; receive only).

static uint32_t link_inbound_buffer_size(const struct tc_link *link) {
    return link->options.frame_size_max + TC_LINK_PREFIX_SIZE;
}

static void link_inbound_close(struct tc_link *link, struct tc_link_inbound *inbound,
                               const char *reason) {
    tc_assert(inbound->handler.registered);
    const int fd = inbound->handler.fd;
    tc_loop_remove(link->loop, &inbound->handler);
    close(fd);
    link->stats.inbound_closed += 1;
    if (inbound->node_id != 0) {
        link_log(link, "inbound connection from node %u closed: %s", inbound->node_id, reason);
    } else {
        link_log(link, "inbound connection (no hello yet) closed: %s", reason);
    }
    inbound->node_id = 0;
    inbound->hello_deadline_set = false;
    inbound->buffer_used_bytes = 0;
}

static void link_inbound_invalid(struct tc_link *link, struct tc_link_inbound *inbound,
                                 const char *reason) {
    link->stats.invalid_frames += 1;
    link_inbound_close(link, inbound, reason);
}

// Returns false when the connection was closed.
static bool link_inbound_hello(struct tc_link *link, struct tc_link_inbound *inbound,
                               const uint8_t *payload, uint32_t size_bytes) {
    tc_assert(inbound->node_id == 0);
    uint16_t node_id = 0;
    const char *invalid = link_hello_invalid(link, payload, size_bytes, &node_id);
    if (invalid != NULL) {
        link_inbound_invalid(link, inbound, invalid);
        return false;
    }
    for (uint32_t i = 0; i < link->inbound_count; i++) {
        struct tc_link_inbound *other = &link->inbound[i];
        if (other == inbound || !other->handler.registered || other->node_id != node_id) continue;
        link->stats.inbound_replaced += 1;
        link_inbound_close(link, other, "replaced by a new connection from the same node");
    }
    inbound->node_id = node_id;
    link->stats.hellos_received += 1;
    link_log(link, "inbound connection from node %u", node_id);
    return true;
}

// Returns false when the connection was closed.
static bool link_inbound_deliver(struct tc_link *link, struct tc_link_inbound *inbound,
                                 uint8_t kind, const uint8_t *payload, uint32_t size_bytes) {
    if (inbound->node_id == 0) {
        if (kind != TC_LINK_KIND_HELLO) {
            link_inbound_invalid(link, inbound, "frame before hello");
            return false;
        }
        return link_inbound_hello(link, inbound, payload, size_bytes);
    }
    if (kind == TC_LINK_KIND_HELLO) {
        link_inbound_invalid(link, inbound, "second hello");
        return false;
    }
    link->stats.frames_received += 1;
    link->options.on_frame(link->options.context, inbound->node_id, kind, payload, size_bytes);
    return true;
}

// Delivers every whole frame in the buffer and keeps the partial rest at its start. Returns false
// when the connection was closed. The prefix is validated as soon as it is complete, so a bogus
// size is refused before any of its payload is awaited.
static bool link_inbound_parse(struct tc_link *link, struct tc_link_inbound *inbound) {
    const uint32_t used_bytes = inbound->buffer_used_bytes;
    uint32_t offset = 0;
    for (uint32_t frame = 0; used_bytes - offset >= TC_LINK_PREFIX_SIZE; frame++) {
        tc_assert(frame <= used_bytes / TC_LINK_PREFIX_SIZE);
        const uint8_t *prefix = inbound->buffer + offset;
        const char *invalid = link_prefix_invalid(link, prefix);
        if (invalid != NULL) {
            link_inbound_invalid(link, inbound, invalid);
            return false;
        }
        const uint32_t size_bytes = tc_le_get_u32(prefix + LINK_OFFSET_SIZE);
        if (used_bytes - offset - TC_LINK_PREFIX_SIZE < size_bytes) break;
        const uint8_t kind = prefix[LINK_OFFSET_KIND];
        if (!link_inbound_deliver(link, inbound, kind, prefix + TC_LINK_PREFIX_SIZE, size_bytes)) {
            return false;
        }
        offset += TC_LINK_PREFIX_SIZE + size_bytes;
    }
    tc_assert(offset <= used_bytes);
    if (offset > 0) memmove(inbound->buffer, inbound->buffer + offset, used_bytes - offset);
    inbound->buffer_used_bytes = used_bytes - offset;
    // A partial frame is smaller than the buffer, so the next read always has room.
    tc_assert(inbound->buffer_used_bytes < link_inbound_buffer_size(link));
    return true;
}

static void link_inbound_on_ready(struct tc_loop_handler *handler, uint32_t ready) {
    struct tc_link_inbound *inbound = handler->context;
    struct tc_link *link = inbound->link;
    tc_assert(link->initialized);
    (void)ready; // read in every case: a hang-up or an error shows up as 0 or -1 from recv
    const uint32_t buffer_size = link_inbound_buffer_size(link);
    for (uint32_t i = 0; i < LINK_READS_PER_EVENT; i++) {
        const uint32_t space = buffer_size - inbound->buffer_used_bytes;
        tc_assert(space > 0);
        const ssize_t count =
            recv(handler->fd, inbound->buffer + inbound->buffer_used_bytes, space, MSG_DONTWAIT);
        if (count == 0) {
            link_inbound_close(link, inbound, "closed by peer");
            return;
        }
        if (count < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            char reason[LINK_REASON_SIZE];
            link_reason_errno(reason, "read", errno);
            link_inbound_close(link, inbound, reason);
            return;
        }
        tc_assert((uint64_t)count <= space);
        inbound->buffer_used_bytes += (uint32_t)count;
        link->stats.bytes_received += (uint64_t)count;
        if (!link_inbound_parse(link, inbound)) return;
        if ((uint32_t)count < space) return; // drained (level-triggered: called again if not)
    }
}

// A free slot, else the oldest slot still waiting for its hello (closed now), else NULL.
static struct tc_link_inbound *link_inbound_slot(struct tc_link *link) {
    struct tc_link_inbound *oldest = NULL;
    for (uint32_t i = 0; i < link->inbound_count; i++) {
        struct tc_link_inbound *inbound = &link->inbound[i];
        if (!inbound->handler.registered) return inbound;
        if (inbound->node_id != 0) continue;
        if (oldest == NULL || inbound->accepted_sequence < oldest->accepted_sequence) {
            oldest = inbound;
        }
    }
    if (oldest != NULL) link_inbound_close(link, oldest, "evicted: inbound slots full");
    return oldest;
}

static void link_inbound_open(struct tc_link *link, int fd) {
    struct tc_link_inbound *inbound = link_inbound_slot(link);
    if (inbound == NULL || link_socket_nodelay(fd) != 0 ||
        tc_loop_add(link->loop, &inbound->handler, fd, TC_LOOP_READ) != TC_OK) {
        close(fd);
        link->stats.inbound_refused += 1;
        link_log(link, "inbound connection refused (no slot, or socket setup failed)");
        return;
    }
    tc_assert(inbound->node_id == 0 && inbound->buffer_used_bytes == 0);
    link->accepted_sequence += 1;
    inbound->accepted_sequence = link->accepted_sequence;
    inbound->hello_deadline_set = false; // set by the next tick
    link->stats.inbound_accepted += 1;
}

static void link_listener_on_ready(struct tc_loop_handler *handler, uint32_t ready) {
    struct tc_link *link = handler->context;
    tc_assert(link->initialized);
    (void)ready;
    for (uint32_t i = 0; i < LINK_ACCEPTS_PER_EVENT; i++) {
        const int fd = accept4(handler->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            link_inbound_open(link, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        char reason[LINK_REASON_SIZE];
        link_reason_errno(reason, "accept", errno);
        link_log(link, "listener '%s': %s", link->listen_address, reason);
        return; // e.g. EMFILE: level-triggered, retried on the next poll
    }
}

static void link_inbound_tick(struct tc_link *link, struct tc_link_inbound *inbound) {
    if (!inbound->handler.registered || inbound->node_id != 0) return;
    if (!inbound->hello_deadline_set) {
        inbound->hello_deadline_ms = link->now_ms + link->options.hello_timeout_ms;
        inbound->hello_deadline_set = true;
    } else if (link->now_ms >= inbound->hello_deadline_ms) {
        link->stats.inbound_timeouts += 1;
        link_inbound_close(link, inbound, "no hello in time");
    }
}

// ---------------------------------------------------------------------------------------------
// Init: options, addresses, memory, listener.

// Parses "host:port" (port 0 only when allowed) with getaddrinfo, IPv4 only.
static int link_address_resolve(struct tc_link *link, const char *text, bool passive,
                                uint32_t *address_ipv4, uint16_t *port) {
    if (text == NULL) return link_fail(link, TC_EINVAL, "link: missing address");
    const size_t length = strnlen(text, TC_LINK_ADDRESS_SIZE_MAX);
    if (length == TC_LINK_ADDRESS_SIZE_MAX) {
        return link_fail(link, TC_EINVAL, "link: address too long '%.32s...'", text);
    }
    const char *colon = strrchr(text, ':');
    const size_t digits = colon == NULL ? 0 : strlen(colon + 1);
    if (colon == NULL || colon == text || digits == 0 || digits > LINK_PORT_DIGITS_MAX ||
        strspn(colon + 1, "0123456789") != digits) {
        return link_fail(link, TC_EINVAL, "link: address '%s': expected host:port", text);
    }
    const unsigned long port_value = strtoul(colon + 1, NULL, 10);
    if (port_value > UINT16_MAX || (port_value == 0 && !passive)) {
        return link_fail(link, TC_EINVAL, "link: address '%s': invalid port", text);
    }
    char host[TC_LINK_ADDRESS_SIZE_MAX];
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    struct addrinfo *results = NULL;
    const int result = getaddrinfo(host, colon + 1, &hints, &results);
    if (result != 0) {
        return link_fail(link, TC_EINVAL, "link: address '%s': %s", text, gai_strerror(result));
    }
    tc_assert(results != NULL && results->ai_family == AF_INET);
    tc_assert(results->ai_addrlen >= sizeof(struct sockaddr_in));
    struct sockaddr_in address;
    memcpy(&address, results->ai_addr, sizeof(address));
    freeaddrinfo(results);
    *address_ipv4 = address.sin_addr.s_addr;
    *port = (uint16_t)port_value;
    return TC_OK;
}

static uint32_t link_default_u32(uint32_t value, uint32_t default_value) {
    return value == 0 ? default_value : value;
}

static int link_options_check(struct tc_link *link) {
    const struct tc_link_options *options = &link->options;
    if (options->node_id == 0 || options->node_id >= TC_LINK_NODES_MAX) {
        return link_fail(link, TC_EINVAL, "link: node id %u not in 1..%u", options->node_id,
                         TC_LINK_NODES_MAX - 1);
    }
    if (options->peer_count > TC_LINK_NODES_MAX) {
        return link_fail(link, TC_EINVAL, "link: %u peers, at most %u", options->peer_count,
                         TC_LINK_NODES_MAX);
    }
    if (options->frame_size_max > LINK_FRAME_SIZE_MAX_LIMIT) {
        return link_fail(link, TC_EINVAL, "link: frame_size_max %u above %u",
                         options->frame_size_max, LINK_FRAME_SIZE_MAX_LIMIT);
    }
    const uint32_t frame_bytes_max = options->frame_size_max + TC_LINK_PREFIX_SIZE;
    if (options->send_queue_high_bytes < frame_bytes_max ||
        options->send_queue_low_bytes < frame_bytes_max ||
        options->send_queue_high_bytes > LINK_QUEUE_BYTES_LIMIT ||
        options->send_queue_low_bytes > LINK_QUEUE_BYTES_LIMIT) {
        return link_fail(link, TC_EINVAL, "link: send queues must hold %u..%u bytes",
                         frame_bytes_max, LINK_QUEUE_BYTES_LIMIT);
    }
    if (options->reconnect_min_ms > options->reconnect_max_ms) {
        return link_fail(link, TC_EINVAL, "link: reconnect_min_ms %u > reconnect_max_ms %u",
                         options->reconnect_min_ms, options->reconnect_max_ms);
    }
    return TC_OK;
}

static int link_options_set(struct tc_link *link, const struct tc_link_options *options) {
    tc_assert(options->loop != NULL && options->on_frame != NULL);
    link->options = *options;
    struct tc_link_options *o = &link->options;
    o->frame_size_max = link_default_u32(o->frame_size_max, TC_LINK_FRAME_SIZE_MAX_DEFAULT);
    o->send_queue_high_bytes =
        link_default_u32(o->send_queue_high_bytes, TC_LINK_SEND_QUEUE_HIGH_BYTES_DEFAULT);
    o->send_queue_low_bytes =
        link_default_u32(o->send_queue_low_bytes, TC_LINK_SEND_QUEUE_LOW_BYTES_DEFAULT);
    o->reconnect_min_ms = link_default_u32(o->reconnect_min_ms, TC_LINK_RECONNECT_MIN_MS_DEFAULT);
    o->reconnect_max_ms = link_default_u32(o->reconnect_max_ms, TC_LINK_RECONNECT_MAX_MS_DEFAULT);
    o->connect_timeout_ms =
        link_default_u32(o->connect_timeout_ms, TC_LINK_CONNECT_TIMEOUT_MS_DEFAULT);
    o->hello_timeout_ms = link_default_u32(o->hello_timeout_ms, TC_LINK_HELLO_TIMEOUT_MS_DEFAULT);
    o->listen_address = link->listen_address; // our copy: the caller's string need not live on
    return link_options_check(link);
}

static int link_peer_add(struct tc_link *link, const struct tc_link_peer_address *entry) {
    if (entry->node_id == link->options.node_id) return TC_OK; // our own entry: ignored
    if (entry->node_id == 0 || entry->node_id >= TC_LINK_NODES_MAX) {
        return link_fail(link, TC_EINVAL, "link: peer node id %u not in 1..%u", entry->node_id,
                         TC_LINK_NODES_MAX - 1);
    }
    if (link->peer_index_by_node[entry->node_id] != LINK_PEER_NONE) {
        return link_fail(link, TC_EINVAL, "link: peer node id %u listed twice", entry->node_id);
    }
    tc_assert(link->peers_count < TC_LINK_PEERS_MAX);
    struct tc_link_peer *peer = &link->peers[link->peers_count];
    const int result =
        link_address_resolve(link, entry->address, false, &peer->address_ipv4, &peer->port);
    if (result != TC_OK) return result;
    const size_t address_length = strnlen(entry->address, sizeof(entry->address));
    tc_assert(address_length < sizeof(peer->address)); // checked by link_address_resolve
    memcpy(peer->address, entry->address, address_length + 1);
    peer->link = link;
    peer->node_id = entry->node_id;
    peer->state = TC_LINK_PEER_IDLE;
    peer->reconnect_delay_ms = 0; // the first tick connects
    tc_loop_handler_init(&peer->handler, link_peer_on_ready, peer);
    link->peer_index_by_node[entry->node_id] = (uint8_t)link->peers_count;
    link->peers_count += 1;
    return TC_OK;
}

// The one allocation: per peer a high and a low ring, per inbound slot a receive buffer.
static int link_memory_allocate(struct tc_link *link) {
    const struct tc_link_options *options = &link->options;
    const uint64_t rings_bytes =
        (uint64_t)options->send_queue_high_bytes + options->send_queue_low_bytes;
    const uint64_t buffer_bytes = link_inbound_buffer_size(link);
    const uint64_t total_bytes =
        rings_bytes * link->peers_count + buffer_bytes * link->inbound_count;
    link->memory = malloc(total_bytes == 0 ? 1 : (size_t)total_bytes);
    if (link->memory == NULL) {
        return link_fail(link, TC_ENOMEM, "link: cannot allocate %llu bytes",
                         (unsigned long long)total_bytes);
    }
    uint64_t offset = 0;
    for (uint32_t i = 0; i < link->peers_count; i++) {
        const uint32_t capacities[TC_LINK_PRIORITIES] = {options->send_queue_high_bytes,
                                                         options->send_queue_low_bytes};
        for (uint32_t p = 0; p < TC_LINK_PRIORITIES; p++) {
            link->peers[i].rings[p].buffer = link->memory + offset;
            link->peers[i].rings[p].capacity_bytes = capacities[p];
            offset += capacities[p];
        }
    }
    for (uint32_t i = 0; i < link->inbound_count; i++) {
        link->inbound[i].buffer = link->memory + offset;
        offset += buffer_bytes;
    }
    tc_assert(offset == total_bytes);
    return TC_OK;
}

static int link_listen(struct tc_link *link) {
    uint32_t address_ipv4 = 0;
    uint16_t port = 0;
    int result = link_address_resolve(link, link->listen_address, true, &address_ipv4, &port);
    if (result != TC_OK) return result;
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return link_fail_errno(link, errno, "socket", link->listen_address);
    const int one = 1;
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    address.sin_addr.s_addr = address_ipv4;
    socklen_t address_size = sizeof(address);
    const char *what = NULL;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) what = "SO_REUSEADDR";
    else if (bind(fd, (const struct sockaddr *)&address, sizeof(address)) != 0) what = "bind";
    else if (listen(fd, LINK_LISTEN_BACKLOG) != 0) what = "listen";
    else if (getsockname(fd, (struct sockaddr *)&address, &address_size) != 0) what = "getsockname";
    if (what != NULL) {
        result = link_fail_errno(link, errno, what, link->listen_address);
        close(fd);
        return result;
    }
    link->listen_port = ntohs(address.sin_port);
    result = tc_loop_add(link->loop, &link->listener, fd, TC_LOOP_READ);
    if (result != TC_OK) {
        close(fd);
        return link_fail(link, result, "link: epoll add of listener '%s' failed",
                         link->listen_address);
    }
    return TC_OK;
}

static int link_setup(struct tc_link *link, const struct tc_link_options *options) {
    if (options->listen_address == NULL) return link_fail(link, TC_EINVAL, "link: no listen address");
    if (strnlen(options->listen_address, TC_LINK_ADDRESS_SIZE_MAX) == TC_LINK_ADDRESS_SIZE_MAX) {
        return link_fail(link, TC_EINVAL, "link: listen address too long");
    }
    (void)snprintf(link->listen_address, sizeof(link->listen_address), "%s",
                   options->listen_address);
    int result = link_options_set(link, options);
    if (result != TC_OK) return result;
    for (uint32_t i = 0; i < link->options.peer_count; i++) {
        result = link_peer_add(link, &link->options.peers[i]);
        if (result != TC_OK) return result;
    }
    link->inbound_count = link->peers_count + TC_LINK_INBOUND_SPARE;
    tc_assert(link->inbound_count <= TC_LINK_INBOUND_MAX);
    result = link_memory_allocate(link);
    if (result != TC_OK) return result;
    return link_listen(link);
}

int tc_link_init(struct tc_link *link, const struct tc_link_options *options) {
    tc_assert(link != NULL && options != NULL);
    memset(link, 0, sizeof(*link));
    link->loop = options->loop;
    memset(link->peer_index_by_node, LINK_PEER_NONE, sizeof(link->peer_index_by_node));
    tc_loop_handler_init(&link->listener, link_listener_on_ready, link);
    for (uint32_t i = 0; i < TC_LINK_INBOUND_MAX; i++) {
        link->inbound[i].link = link;
        tc_loop_handler_init(&link->inbound[i].handler, link_inbound_on_ready, &link->inbound[i]);
    }
    tc_prng_init(&link->prng, options->seed);
    const int result = link_setup(link, options);
    if (result != TC_OK) {
        tc_assert(result < 0 && link->error[0] != '\0');
        tc_assert(!link->listener.registered);
        free(link->memory);
        link->memory = NULL;
        return result;
    }
    link->initialized = true;
    return TC_OK;
}

bool tc_link_peer_known(const struct tc_link *link, uint16_t node_id) {
    tc_assert(link->initialized);
    return node_id < TC_LINK_NODES_MAX && link_peer_index(link, node_id) != LINK_PEER_NONE;
}

uint32_t tc_link_peer_count(const struct tc_link *link) {
    tc_assert(link->initialized && link->peers_count <= TC_LINK_PEERS_MAX);
    return link->peers_count;
}

uint16_t tc_link_peer_node(const struct tc_link *link, uint32_t index) {
    tc_assert(link->initialized && index < link->peers_count);
    return link->peers[index].node_id;
}

int tc_link_peer_join(struct tc_link *link, uint16_t node_id, const char *address) {
    tc_assert(link->initialized && address != NULL);
    if (node_id == link->options.node_id || tc_link_peer_known(link, node_id)) return TC_EEXIST;
    if (link->peers_count == TC_LINK_PEERS_MAX || link->inbound_count == TC_LINK_INBOUND_MAX) {
        return link_fail(link, TC_ENOSPC, "link: %u peers already", link->peers_count);
    }
    struct tc_link_peer_address entry = {.node_id = node_id};
    if (strnlen(address, sizeof(entry.address)) == sizeof(entry.address)) {
        return link_fail(link, TC_EINVAL, "link: peer %u address too long", node_id);
    }
    (void)snprintf(entry.address, sizeof(entry.address), "%s", address);
    // At run time only a numeric IPv4 address: a name would be resolved (getaddrinfo, blocking)
    // on the loop thread.
    char host[sizeof(entry.address)];
    (void)snprintf(host, sizeof(host), "%s", address);
    char *colon = strrchr(host, ':');
    struct in_addr parsed;
    if (colon != NULL) *colon = '\0';
    if (colon == NULL || inet_pton(AF_INET, host, &parsed) != 1) {
        return link_fail(link, TC_EINVAL, "link: peer %u address '%s' is not IPv4:port (names "
                         "are resolved at start only)", node_id, address);
    }
    const struct tc_link_options *options = &link->options;
    const uint64_t rings_bytes =
        (uint64_t)options->send_queue_high_bytes + options->send_queue_low_bytes;
    uint8_t *rings = malloc((size_t)rings_bytes);
    uint8_t *buffer = malloc((size_t)link_inbound_buffer_size(link));
    if (rings == NULL || buffer == NULL) {
        free(rings);
        free(buffer);
        return link_fail(link, TC_ENOMEM, "link: cannot allocate peer %u", node_id);
    }
    const uint32_t index = link->peers_count;
    const int result = link_peer_add(link, &entry);
    if (result != TC_OK) {
        free(rings);
        free(buffer);
        return result;
    }
    tc_assert(link->peers_count == index + 1 && link_peer_index(link, node_id) == index);
    struct tc_link_peer *peer = &link->peers[index];
    peer->memory = rings;
    peer->rings[TC_LINK_PRIORITY_HIGH].buffer = rings;
    peer->rings[TC_LINK_PRIORITY_HIGH].capacity_bytes = options->send_queue_high_bytes;
    peer->rings[TC_LINK_PRIORITY_LOW].buffer = rings + options->send_queue_high_bytes;
    peer->rings[TC_LINK_PRIORITY_LOW].capacity_bytes = options->send_queue_low_bytes;
    struct tc_link_inbound *inbound = &link->inbound[link->inbound_count];
    tc_assert(!inbound->handler.registered && inbound->buffer == NULL);
    inbound->buffer = buffer;
    inbound->buffer_owned = true;
    link->inbound_count += 1;
    return TC_OK; // the caller logs it (a configuration change, not connection chatter)
}

void tc_link_deinit(struct tc_link *link) {
    tc_assert(link->initialized);
    for (uint32_t i = 0; i < link->peers_count; i++) {
        struct tc_link_peer *peer = &link->peers[i];
        free(peer->memory);
        peer->memory = NULL;
        if (!peer->handler.registered) continue;
        const int fd = peer->handler.fd;
        tc_loop_remove(link->loop, &peer->handler);
        close(fd);
    }
    for (uint32_t i = 0; i < link->inbound_count; i++) {
        struct tc_link_inbound *inbound = &link->inbound[i];
        if (inbound->buffer_owned) free(inbound->buffer);
        inbound->buffer = NULL;
        inbound->buffer_owned = false;
        if (!inbound->handler.registered) continue;
        const int fd = inbound->handler.fd;
        tc_loop_remove(link->loop, &inbound->handler);
        close(fd);
    }
    const int listener_fd = link->listener.fd;
    tc_loop_remove(link->loop, &link->listener);
    close(listener_fd);
    free(link->memory);
    link->memory = NULL;
    link->initialized = false;
}

void tc_link_tick(struct tc_link *link, uint64_t now_ms) {
    tc_assert(link->initialized);
    tc_assert(now_ms >= link->now_ms);
    link->now_ms = now_ms;
    for (uint32_t i = 0; i < link->peers_count; i++) link_peer_tick(link, &link->peers[i]);
    for (uint32_t i = 0; i < link->inbound_count; i++) link_inbound_tick(link, &link->inbound[i]);
}

int tc_link_send(struct tc_link *link, uint16_t node, uint8_t kind, uint8_t priority,
                 const uint8_t *payload, uint32_t size_bytes) {
    tc_assert(link->initialized);
    tc_assert(node != link->options.node_id);
    tc_assert(kind != TC_LINK_KIND_HELLO);
    tc_assert(priority < TC_LINK_PRIORITIES);
    tc_assert(size_bytes <= link->options.frame_size_max);
    tc_assert(payload != NULL || size_bytes == 0);
    const uint8_t index = link_peer_index(link, node);
    if (index == LINK_PEER_NONE) return TC_ENOENT;
    struct tc_link_peer *peer = &link->peers[index];
    if (peer->state != TC_LINK_PEER_CONNECTED) {
        link->stats.drops_not_connected += 1;
        return TC_EAGAIN;
    }
    struct tc_link_ring *ring = &peer->rings[priority];
    if (link_ring_free_bytes(ring) < TC_LINK_PREFIX_SIZE + size_bytes) {
        link->stats.drops_queue_full += 1;
        return TC_EBUSY;
    }
    uint8_t prefix[TC_LINK_PREFIX_SIZE];
    link_prefix_encode(prefix, link->options.cluster, size_bytes, kind);
    link_ring_push(ring, prefix, TC_LINK_PREFIX_SIZE);
    link_ring_push(ring, payload, size_bytes);
    ring->frames_count += 1;
    // Eager: write now unless the kernel buffer is known to be full (the loop will call).
    if ((peer->handler.interest & TC_LOOP_WRITE) == 0) link_peer_flush(link, peer);
    return TC_OK;
}

bool tc_link_connected(const struct tc_link *link, uint16_t node) {
    tc_assert(link->initialized);
    const uint8_t index = link_peer_index(link, node);
    if (index == LINK_PEER_NONE) return false;
    return link->peers[index].state == TC_LINK_PEER_CONNECTED;
}

void tc_link_stats_get(const struct tc_link *link, struct tc_link_stats *stats) {
    tc_assert(link->initialized);
    *stats = link->stats;
}

uint16_t tc_link_listen_port(const struct tc_link *link) {
    tc_assert(link->initialized);
    return link->listen_port;
}
