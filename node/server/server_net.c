// Sockets of the node's servers (see server_net.h).
#include "server_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io_linux_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

#define NET_HOST_SIZE_MAX 256u

struct net_address {
    char host[NET_HOST_SIZE_MAX]; // "" for all interfaces
    char port[6];
};

static int net_fail(char *error, uint32_t error_size, const char *what, const char *address,
                    int error_number) {
    tc_assert(error_number > 0);
    char text_buffer[128];
    // GNU strerror_r (_GNU_SOURCE): returns a pointer to the text, maybe not text_buffer.
    const char *text = strerror_r(error_number, text_buffer, sizeof(text_buffer));
    (void)snprintf(error, error_size, "%s %s: %s (errno %d)", what, address, text, error_number);
    const int result = io_linux_errno_to_tc(error_number);
    tc_assert(result < 0);
    return result;
}

static int net_refuse(char *error, uint32_t error_size, const char *address, const char *why) {
    (void)snprintf(error, error_size, "listen address '%s': %s", address, why);
    return TC_EINVAL;
}

// Splits "host:port", "[v6]:port" or ":port". Returns 0 or TC_EINVAL with error filled.
static int net_address_split(const char *address, struct net_address *out, char *error,
                             uint32_t error_size) {
    const size_t size = strlen(address);
    const char *colon = strrchr(address, ':');
    if (colon == NULL) return net_refuse(error, error_size, address, "expected host:port");
    const char *host = address;
    size_t host_size = (size_t)(colon - address);
    if (host_size > 0 && host[0] == '[') {
        if (host_size < 2 || host[host_size - 1] != ']') {
            return net_refuse(error, error_size, address, "unbalanced [ ]");
        }
        host += 1;
        host_size -= 2;
    }
    if (host_size >= NET_HOST_SIZE_MAX) return net_refuse(error, error_size, address, "long host");
    const size_t port_size = size - (size_t)(colon - address) - 1;
    if (port_size < 1 || port_size > 5) return net_refuse(error, error_size, address, "bad port");
    uint32_t port = 0;
    for (size_t i = 0; i < port_size; i++) {
        const char c = colon[1 + i];
        if (c < '0' || c > '9') return net_refuse(error, error_size, address, "bad port");
        port = port * 10u + (uint32_t)(c - '0');
    }
    if (port > 65535u) return net_refuse(error, error_size, address, "port above 65535");
    memcpy(out->host, host, host_size);
    out->host[host_size] = '\0';
    (void)snprintf(out->port, sizeof(out->port), "%u", port);
    return TC_OK;
}

static uint16_t net_bound_port(int fd) {
    struct sockaddr_storage bound;
    socklen_t bound_size = sizeof(bound);
    const int result = getsockname(fd, (struct sockaddr *)&bound, &bound_size);
    tc_assert(result == 0); // a bound socket always has a name
    if (bound.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    tc_assert(bound.ss_family == AF_INET);
    return ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

// socket + SO_REUSEADDR + bind + listen for one resolved address. Returns the fd or -errno.
static int net_listen_one(const struct addrinfo *info, uint32_t backlog, const char **what) {
    const int fd = socket(info->ai_family, info->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          info->ai_protocol);
    *what = "socket for";
    if (fd < 0) return -errno;
    const int one = 1;
    *what = "setsockopt SO_REUSEADDR on";
    int result = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (result == 0) {
        *what = "bind";
        result = bind(fd, info->ai_addr, info->ai_addrlen);
    }
    if (result == 0) {
        *what = "listen on";
        result = listen(fd, (int)backlog);
    }
    if (result != 0) {
        const int error_number = errno;
        close(fd);
        return -error_number;
    }
    return fd;
}

int tc_server_net_listen(const char *address, uint32_t backlog, uint16_t *port, char *error,
                         uint32_t error_size) {
    tc_assert(address != NULL && port != NULL && error != NULL && error_size > 0);
    tc_assert(backlog >= 1 && backlog <= TC_SERVER_NET_BACKLOG_MAX);
    struct net_address split;
    int result = net_address_split(address, &split, error, error_size);
    if (result != TC_OK) return result;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *list = NULL;
    const int gai = getaddrinfo(split.host[0] == '\0' ? NULL : split.host, split.port, &hints,
                                &list);
    if (gai != 0) {
        (void)snprintf(error, error_size, "resolve %s: %s", address, gai_strerror(gai));
        return TC_ENOENT;
    }
    int error_number = EADDRNOTAVAIL;
    const char *what = "listen on";
    int fd = -1;
    for (const struct addrinfo *info = list; info != NULL && fd < 0; info = info->ai_next) {
        const int one = net_listen_one(info, backlog, &what);
        if (one >= 0) fd = one;
        else error_number = -one;
    }
    freeaddrinfo(list);
    if (fd < 0) return net_fail(error, error_size, what, address, error_number);
    *port = net_bound_port(fd);
    return fd;
}

static void net_peer_describe(const struct sockaddr_storage *address,
                              struct tc_server_net_peer *peer) {
    memset(peer, 0, sizeof(*peer));
    if (address->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)address;
        peer->ip_key[10] = 0xff;
        peer->ip_key[11] = 0xff;
        memcpy(peer->ip_key + 12, &v4->sin_addr, 4);
        (void)inet_ntop(AF_INET, &v4->sin_addr, peer->ip, sizeof(peer->ip));
    } else if (address->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)address;
        memcpy(peer->ip_key, &v6->sin6_addr, TC_SERVER_NET_IP_KEY_SIZE);
        (void)inet_ntop(AF_INET6, &v6->sin6_addr, peer->ip, sizeof(peer->ip));
    } else {
        (void)snprintf(peer->ip, sizeof(peer->ip), "unknown");
    }
}

int tc_server_net_accept(int listen_fd, struct tc_server_net_peer *peer) {
    tc_assert(listen_fd >= 0 && peer != NULL);
    struct sockaddr_storage address;
    socklen_t address_size = sizeof(address);
    int fd;
    do {
        fd = accept4(listen_fd, (struct sockaddr *)&address, &address_size,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return TC_EAGAIN;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            return TC_EBUSY;
        }
        return TC_EIO;
    }
    const int one = 1;
    // Fails only for a socket that is not TCP; the connection still works without it.
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    net_peer_describe(&address, peer);
    return fd;
}

int32_t tc_server_net_read(int fd, uint8_t *buffer, uint32_t size) {
    tc_assert(fd >= 0 && buffer != NULL);
    tc_assert(size > 0 && size <= INT32_MAX);
    ssize_t count;
    do {
        count = recv(fd, buffer, size, 0);
    } while (count < 0 && errno == EINTR);
    if (count < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return TC_EAGAIN;
        return io_linux_errno_to_tc(errno);
    }
    tc_assert((size_t)count <= size);
    return (int32_t)count;
}

int32_t tc_server_net_write(int fd, const uint8_t *data, uint32_t size) {
    tc_assert(fd >= 0 && data != NULL);
    tc_assert(size > 0 && size <= INT32_MAX);
    ssize_t count;
    do {
        count = send(fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (count < 0 && errno == EINTR);
    if (count < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return TC_EAGAIN;
        return io_linux_errno_to_tc(errno);
    }
    tc_assert(count > 0 && (size_t)count <= size);
    return (int32_t)count;
}

void tc_server_net_shutdown_write(int fd) {
    tc_assert(fd >= 0);
    // Fails only when the peer already reset the connection: nothing left to shut down.
    (void)shutdown(fd, SHUT_WR);
}

void tc_server_net_close(int fd) {
    tc_assert(fd >= 0);
    // close(2) on Linux releases the descriptor even when it reports an error; never retry.
    (void)close(fd);
}
