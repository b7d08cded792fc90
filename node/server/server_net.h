#ifndef TC_SERVER_NET_H
#define TC_SERVER_NET_H

#include <stdint.h>

// Sockets shared by the node's servers (ws_server, admin_server): a non-blocking listening socket
// on "host:port", accepting, and plain-TCP reads and writes. errno never leaves this file: every
// result is a TC_E* code, and set-up failures also get a message naming the address and the
// errno text.

#define TC_SERVER_NET_IP_KEY_SIZE 16u  // IPv6, or IPv4 mapped to ::ffff:a.b.c.d
#define TC_SERVER_NET_IP_TEXT_SIZE 46u // INET6_ADDRSTRLEN
#define TC_SERVER_NET_ERROR_SIZE_MAX 512u
#define TC_SERVER_NET_BACKLOG_MAX 65535u

struct tc_server_net_peer {
    uint8_t ip_key[TC_SERVER_NET_IP_KEY_SIZE];
    char ip[TC_SERVER_NET_IP_TEXT_SIZE]; // NUL-terminated, e.g. "127.0.0.1" or "::1"
};

// Creates a listening socket (SO_REUSEADDR, non-blocking, close-on-exec) bound to `address`:
// "host:port", "[ipv6]:port" or ":port" (all interfaces). Port 0 lets the kernel pick one; the
// bound port is returned in *port. Names are resolved with getaddrinfo (blocking: start-up only).
// Returns the fd, or a negative TC_E* code with `error` filled.
int tc_server_net_listen(const char *address, uint32_t backlog, uint16_t *port, char *error,
                         uint32_t error_size);

// Accepts one connection (non-blocking, close-on-exec, TCP_NODELAY) and describes its peer.
// Returns the fd, TC_EAGAIN when none is waiting, TC_EBUSY when out of file descriptors or kernel
// memory (stop accepting for a while: the listening socket stays readable), or TC_EIO when this
// one connection failed (aborted before it was accepted; try the next).
int tc_server_net_accept(int listen_fd, struct tc_server_net_peer *peer);

// One recv: the bytes read (> 0), 0 at end of stream, TC_EAGAIN when nothing is there now, or
// another negative TC_E* code (the connection is broken).
int32_t tc_server_net_read(int fd, uint8_t *buffer, uint32_t size);
// One send (never raises SIGPIPE): the bytes written (> 0), TC_EAGAIN, or a negative TC_E* code.
int32_t tc_server_net_write(int fd, const uint8_t *data, uint32_t size);
// shutdown(SHUT_WR): the peer reads end of stream after the bytes already written.
void tc_server_net_shutdown_write(int fd);
void tc_server_net_close(int fd);

#endif
