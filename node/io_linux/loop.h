#ifndef TC_IO_LINUX_LOOP_H
#define TC_IO_LINUX_LOOP_H

#include <stdbool.h>
#include <stdint.h>

// node/io_linux/loop: one epoll instance driving caller-owned handlers on one thread.
//
// A handler is a caller-owned struct (it lives in the caller's fixed pools, never allocated here)
// registered for one file descriptor. Level-triggered: a handler that leaves bytes unread is
// called again on the next poll. Removing a handler during a poll is safe: an event already
// fetched for it is skipped (the handler is marked unregistered before its memory is reused).
//
// Time is not the loop's business: the owner computes its next deadline and passes the timeout.

#define TC_LOOP_EVENTS_MAX 64u // events fetched per poll

enum tc_loop_interest {
    TC_LOOP_READ = 1u << 0,
    TC_LOOP_WRITE = 1u << 1,
};

// Readiness passed to a handler: any of TC_LOOP_READ, TC_LOOP_WRITE, TC_LOOP_HANGUP (error or
// hang-up: the handler should read to learn the error, or close).
#define TC_LOOP_HANGUP (1u << 2)

struct tc_loop_handler;
typedef void (*tc_loop_fn)(struct tc_loop_handler *handler, uint32_t ready);

struct tc_loop_handler {
    tc_loop_fn fn;
    void *context;      // for the owner
    int fd;             // -1 when unregistered
    uint32_t interest;  // enum tc_loop_interest bits
    bool registered;
    uint8_t reserved[3];
};

struct tc_loop {
    int epoll_fd;
    uint32_t handlers_registered;
    uint64_t polls;
    uint64_t dispatched;
};

// 0 or a negative TC_E* code.
int tc_loop_init(struct tc_loop *loop);
// Every handler must have been removed first (asserted).
void tc_loop_deinit(struct tc_loop *loop);

// Prepares an unregistered handler (fd -1).
void tc_loop_handler_init(struct tc_loop_handler *handler, tc_loop_fn fn, void *context);
// Registers `fd` with the given interest (possibly 0). 0 or a negative TC_E* code.
int tc_loop_add(struct tc_loop *loop, struct tc_loop_handler *handler, int fd, uint32_t interest);
// Changes the interest; a no-op when unchanged. 0 or a negative TC_E* code.
int tc_loop_modify(struct tc_loop *loop, struct tc_loop_handler *handler, uint32_t interest);
// Unregisters (does not close the fd). Safe inside any handler's callback.
void tc_loop_remove(struct tc_loop *loop, struct tc_loop_handler *handler);

// Waits up to timeout_ms (0: do not wait; -1: forever) and dispatches the ready handlers once
// each. Returns the number dispatched (0 on timeout or EINTR).
uint32_t tc_loop_poll(struct tc_loop *loop, int32_t timeout_ms);

#endif
