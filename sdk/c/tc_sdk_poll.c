// Driving connections: the epoll poller for many, and the blocking layer for one (tigerchat.h).
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "tc_assert.h"
#include "tc_err.h"
#include "tigerchat.h"

#define POLLER_EVENTS_MAX 1024u

// ------------------------------------------------------------------------------------------------
// Poller.

int tc_sdk_poller_init(struct tc_sdk_poller *poller, uint32_t conns_max) {
    tc_assert(conns_max > 0);
    memset(poller, 0, sizeof(*poller));
    poller->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (poller->epoll_fd < 0) return TC_EIO;
    poller->conns_max = conns_max;
    poller->events_max = conns_max < POLLER_EVENTS_MAX ? conns_max : POLLER_EVENTS_MAX;
    poller->conns = calloc(conns_max, sizeof(poller->conns[0]));
    poller->events = calloc(poller->events_max, sizeof(struct epoll_event));
    if (poller->conns == NULL || poller->events == NULL) {
        tc_sdk_poller_deinit(poller);
        return TC_ENOMEM;
    }
    poller->tick_last_ms = tc_sdk__now_ms();
    return TC_OK;
}

void tc_sdk_poller_deinit(struct tc_sdk_poller *poller) {
    for (uint32_t i = 0; i < poller->conn_count; i++) poller->conns[i]->poller = NULL;
    if (poller->epoll_fd >= 0) close(poller->epoll_fd);
    free(poller->conns);
    free(poller->events);
    memset(poller, 0, sizeof(*poller));
    poller->epoll_fd = -1;
}

static uint64_t event_data(const struct tc_sdk_conn *conn) {
    return (uint64_t)conn->poll_index << 32 | (uint32_t)conn->fd;
}

void tc_sdk__poller_sync(struct tc_sdk_conn *conn) {
    struct tc_sdk_poller *poller = conn->poller;
    if (poller == NULL) return;
    const uint32_t wanted = conn->fd < 0 ? 0
                            : conn->state == TC_SDK_CONN_CONNECTING
                                ? (uint32_t)EPOLLOUT
                                : (uint32_t)EPOLLIN | (tc_sdk_conn_wants_write(conn)
                                                           ? (uint32_t)EPOLLOUT
                                                           : 0u);
    if (conn->poll_fd >= 0 && conn->poll_fd != conn->fd) {
        // The socket changed (closed, or closed and reopened): drop the old registration.
        (void)epoll_ctl(poller->epoll_fd, EPOLL_CTL_DEL, conn->poll_fd, NULL);
        conn->poll_fd = -1;
        conn->poll_events = 0;
    }
    if (conn->fd < 0) return;
    if (conn->poll_fd == conn->fd && conn->poll_events == wanted) return;
    struct epoll_event event = {.events = wanted, .data.u64 = event_data(conn)};
    const int op = conn->poll_fd == conn->fd ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    tc_assert(epoll_ctl(poller->epoll_fd, op, conn->fd, &event) == 0);
    conn->poll_fd = conn->fd;
    conn->poll_events = wanted;
}

int tc_sdk_poller_add(struct tc_sdk_poller *poller, struct tc_sdk_conn *conn) {
    tc_assert(conn->poller == NULL);
    if (poller->conn_count == poller->conns_max) return TC_ENOSPC;
    conn->poller = poller;
    conn->poll_index = poller->conn_count;
    conn->poll_fd = -1;
    conn->poll_events = 0;
    poller->conns[poller->conn_count++] = conn;
    tc_sdk__poller_sync(conn);
    return TC_OK;
}

void tc_sdk_poller_remove(struct tc_sdk_poller *poller, struct tc_sdk_conn *conn) {
    tc_assert(conn->poller == poller);
    tc_assert(conn->poll_index < poller->conn_count && poller->conns[conn->poll_index] == conn);
    if (conn->poll_fd >= 0) (void)epoll_ctl(poller->epoll_fd, EPOLL_CTL_DEL, conn->poll_fd, NULL);
    const uint32_t index = conn->poll_index;
    struct tc_sdk_conn *last = poller->conns[poller->conn_count - 1u];
    poller->conns[index] = last;
    poller->conn_count -= 1;
    if (last != conn) {
        // Its events carry its index: register it again under the new one.
        last->poll_index = index;
        if (last->poll_fd >= 0) {
            struct epoll_event event = {.events = last->poll_events,
                                        .data.u64 = event_data(last)};
            tc_assert(epoll_ctl(poller->epoll_fd, EPOLL_CTL_MOD, last->poll_fd, &event) == 0);
        }
    }
    conn->poller = NULL;
    conn->poll_fd = -1;
    conn->poll_events = 0;
}

static void poller_dispatch(struct tc_sdk_poller *poller, const struct epoll_event *event) {
    const uint32_t index = (uint32_t)(event->data.u64 >> 32);
    const int fd = (int)(uint32_t)event->data.u64;
    if (index >= poller->conn_count) return;
    struct tc_sdk_conn *conn = poller->conns[index];
    if (conn->fd != fd) return; // an event of a socket closed earlier in this batch
    const uint32_t error = (uint32_t)(EPOLLERR | EPOLLHUP);
    if (conn->state == TC_SDK_CONN_CONNECTING) {
        if ((event->events & ((uint32_t)EPOLLOUT | error)) != 0) tc_sdk_conn_on_writable(conn);
        return;
    }
    if ((event->events & (uint32_t)EPOLLOUT) != 0) tc_sdk_conn_on_writable(conn);
    if (conn->fd == fd && (event->events & ((uint32_t)EPOLLIN | error)) != 0) {
        tc_sdk_conn_on_readable(conn);
    }
}

int tc_sdk_poller_poll(struct tc_sdk_poller *poller, uint64_t timeout_us) {
    const uint64_t now_us = tc_sdk__now_us();
    const uint64_t tick_due_us = (poller->tick_last_ms + TC_SDK_TICK_MS) * 1000u;
    const uint64_t until_tick_us = tick_due_us > now_us ? tick_due_us - now_us : 0;
    const uint64_t wait_us = timeout_us < until_tick_us ? timeout_us : until_tick_us;
    const struct timespec timeout = {.tv_sec = (time_t)(wait_us / 1000000u),
                                     .tv_nsec = (long)(wait_us % 1000000u) * 1000};
    struct epoll_event *events = poller->events;
    const int count = epoll_pwait2(poller->epoll_fd, events, (int)poller->events_max, &timeout,
                                   NULL);
    if (count < 0 && errno != EINTR) return TC_EIO;
    for (int i = 0; i < count; i++) poller_dispatch(poller, &events[i]);
    const uint64_t now_ms = tc_sdk__now_ms();
    if (now_ms >= poller->tick_last_ms + TC_SDK_TICK_MS) {
        poller->tick_last_ms = now_ms;
        for (uint32_t i = 0; i < poller->conn_count; i++) tc_sdk_conn_tick(poller->conns[i]);
    }
    return count < 0 ? 0 : count;
}

// ------------------------------------------------------------------------------------------------
// Blocking layer.

// One wait on the connection's socket (or a sleep while it has none) of at most wait_ms.
static void conn_step(struct tc_sdk_conn *conn, uint32_t wait_ms) {
    const int fd = tc_sdk_conn_fd(conn);
    struct pollfd pfd = {.fd = fd, .events = 0};
    if (fd >= 0) {
        pfd.events = conn->state == TC_SDK_CONN_CONNECTING
                         ? POLLOUT
                         : (short)(POLLIN | (tc_sdk_conn_wants_write(conn) ? POLLOUT : 0));
    }
    const int ready = poll(fd >= 0 ? &pfd : NULL, fd >= 0 ? 1u : 0u, (int)wait_ms);
    if (ready > 0) {
        if (conn->state == TC_SDK_CONN_CONNECTING) {
            tc_sdk_conn_on_writable(conn);
        } else {
            if ((pfd.revents & POLLOUT) != 0) tc_sdk_conn_on_writable(conn);
            if (conn->fd == fd && (pfd.revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
                tc_sdk_conn_on_readable(conn);
            }
        }
    }
    tc_sdk_conn_tick(conn);
}

int tc_sdk_conn_run(struct tc_sdk_conn *conn, const bool *done, uint32_t timeout_ms) {
    tc_assert(conn->poller == NULL); // a polled connection is driven by its poller
    const uint64_t deadline = tc_sdk__now_ms() + timeout_ms;
    while (!*done) {
        const uint64_t now = tc_sdk__now_ms();
        if (now >= deadline) return TC_EAGAIN;
        const uint64_t left = deadline - now;
        conn_step(conn, left < TC_SDK_TICK_MS ? (uint32_t)left : TC_SDK_TICK_MS);
    }
    return TC_OK;
}

int tc_sdk_conn_connect_wait(struct tc_sdk_conn *conn, uint32_t timeout_ms) {
    tc_assert(conn->poller == NULL);
    if (conn->state == TC_SDK_CONN_IDLE) (void)tc_sdk_conn_start(conn);
    const uint64_t deadline = tc_sdk__now_ms() + timeout_ms;
    while (conn->state != TC_SDK_CONN_OPEN) {
        if (conn->state == TC_SDK_CONN_IDLE) return TC_EPERM; // refused for good
        const uint64_t now = tc_sdk__now_ms();
        if (now >= deadline) return TC_EAGAIN;
        const uint64_t left = deadline - now;
        conn_step(conn, left < TC_SDK_TICK_MS ? (uint32_t)left : TC_SDK_TICK_MS);
    }
    return TC_OK;
}

int tc_sdk_call(struct tc_sdk_conn *conn, const struct tc_sdk_request *request,
                struct tc_sdk_result *result, uint32_t timeout_ms) {
    struct tc_sdk_waiter waiter = {.done = false};
    uint32_t slot = 0;
    const int submitted = tc_sdk__submit(conn, request, 0, &slot);
    if (submitted != TC_OK) return submitted;
    conn->pending[slot].waiter = &waiter;
    const int ran = tc_sdk_conn_run(conn, &waiter.done, timeout_ms);
    if (ran != TC_OK) {
        // The answer may still come: it goes to on_result (tag 0), not to this stack frame.
        if (conn->pending[slot].waiter == &waiter) conn->pending[slot].waiter = NULL;
        return ran;
    }
    *result = waiter.result;
    return TC_OK;
}
