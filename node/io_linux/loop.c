// The epoll loop (see loop.h). Stale events: epoll may hand back an event for a handler that an
// earlier callback of the same poll removed. Removal clears `registered`, and because handlers
// live in the owner's pools (not freed), the pointer stays valid memory; a handler re-registered
// for a new fd within the same poll may see one spurious readiness, which level-triggered
// handlers tolerate (their read or write answers EAGAIN).
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "io_linux_internal.h"
#include "loop.h"
#include "tc_assert.h"
#include "tc_err.h"

static uint32_t loop_epoll_events(uint32_t interest) {
    tc_assert((interest & ~(uint32_t)(TC_LOOP_READ | TC_LOOP_WRITE)) == 0);
    uint32_t events = 0;
    if (interest & TC_LOOP_READ) events |= EPOLLIN | EPOLLRDHUP;
    if (interest & TC_LOOP_WRITE) events |= EPOLLOUT;
    return events;
}

int tc_loop_init(struct tc_loop *loop) {
    tc_assert(loop != NULL);
    loop->handlers_registered = 0;
    loop->polls = 0;
    loop->dispatched = 0;
    loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epoll_fd < 0) return io_linux_errno_to_tc(errno);
    return TC_OK;
}

void tc_loop_deinit(struct tc_loop *loop) {
    tc_assert(loop->epoll_fd >= 0);
    tc_assert(loop->handlers_registered == 0);
    close(loop->epoll_fd);
    loop->epoll_fd = -1;
}

void tc_loop_handler_init(struct tc_loop_handler *handler, tc_loop_fn fn, void *context) {
    tc_assert(handler != NULL && fn != NULL);
    handler->fn = fn;
    handler->context = context;
    handler->fd = -1;
    handler->interest = 0;
    handler->registered = false;
}

int tc_loop_add(struct tc_loop *loop, struct tc_loop_handler *handler, int fd, uint32_t interest) {
    tc_assert(!handler->registered && handler->fd == -1);
    tc_assert(fd >= 0);
    struct epoll_event event = {.events = loop_epoll_events(interest), .data.ptr = handler};
    if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
        return io_linux_errno_to_tc(errno);
    }
    handler->fd = fd;
    handler->interest = interest;
    handler->registered = true;
    loop->handlers_registered += 1;
    return TC_OK;
}

int tc_loop_modify(struct tc_loop *loop, struct tc_loop_handler *handler, uint32_t interest) {
    tc_assert(handler->registered && handler->fd >= 0);
    if (handler->interest == interest) return TC_OK;
    struct epoll_event event = {.events = loop_epoll_events(interest), .data.ptr = handler};
    if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, handler->fd, &event) != 0) {
        return io_linux_errno_to_tc(errno);
    }
    handler->interest = interest;
    return TC_OK;
}

void tc_loop_remove(struct tc_loop *loop, struct tc_loop_handler *handler) {
    tc_assert(handler->registered && handler->fd >= 0);
    tc_assert(loop->handlers_registered > 0);
    // Fails only if the fd was closed already (then epoll dropped it itself) or never added.
    (void)epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, handler->fd, NULL);
    handler->registered = false;
    handler->fd = -1;
    handler->interest = 0;
    loop->handlers_registered -= 1;
}

uint32_t tc_loop_poll(struct tc_loop *loop, int32_t timeout_ms) {
    tc_assert(loop->epoll_fd >= 0);
    tc_assert(timeout_ms >= -1);
    struct epoll_event events[TC_LOOP_EVENTS_MAX];
    const int count = epoll_wait(loop->epoll_fd, events, (int)TC_LOOP_EVENTS_MAX, timeout_ms);
    loop->polls += 1;
    if (count < 0) {
        tc_assert(errno == EINTR); // EBADF/EFAULT/EINVAL are programming errors
        return 0;
    }
    tc_assert((uint32_t)count <= TC_LOOP_EVENTS_MAX);
    uint32_t dispatched = 0;
    for (int i = 0; i < count; i++) {
        struct tc_loop_handler *handler = events[i].data.ptr;
        tc_assert(handler != NULL);
        if (!handler->registered) continue; // removed by an earlier callback of this poll
        uint32_t ready = 0;
        if (events[i].events & (EPOLLIN | EPOLLRDHUP)) ready |= TC_LOOP_READ;
        if (events[i].events & EPOLLOUT) ready |= TC_LOOP_WRITE;
        if (events[i].events & (EPOLLERR | EPOLLHUP)) ready |= TC_LOOP_HANGUP;
        handler->fn(handler, ready);
        dispatched += 1;
    }
    loop->dispatched += dispatched;
    return dispatched;
}
