// tigerchat-node: command line, start-up, the event loop and graceful shutdown (docs/node.md).
//
//   tigerchat-node format --config FILE   create the data files of this node's replicas (once)
//   tigerchat-node start --config FILE    serve (also: tigerchat-node --config FILE)
//   tigerchat-node --config FILE --print-config
//   tigerchat-node example-config         a documented 3-node example (docs/node-config.md)
//   tigerchat-node token --config FILE --sub USER [--rooms '*'|ID,ID..] [--ttl-s N]
//                                         a development token signed with the node's HS256 key
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "node.h"
#include "node_ctl.h"
#include "node_remote.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "ws_tls.h"

#define NODE_SHUTDOWN_TIMEOUT_MS 5000u
#define NODE_CLOSE_GRACE_MS 500u
#define NODE_WS_TICK_EVERY 10u // ticks between ws server ticks (100 ms)

static const char usage[] =
    "usage: tigerchat-node format --config FILE\n"
    "       tigerchat-node [start] --config FILE [--print-config]\n"
    "       tigerchat-node example-config\n"
    "       tigerchat-node token --config FILE --sub USER [--rooms '*'|ID,ID,...] [--ttl-s N]\n"
    "See docs/node.md and docs/node-config.md.\n";

struct node_args {
    const char *command;
    const char *config_path;
    bool print_config;
    uint64_t sub;
    const char *rooms;
    uint64_t ttl_s;
};

static bool parse_u64(const char *text, uint64_t *out) {
    if (text == NULL || *text == '\0') return false;
    char *end = NULL;
    errno = 0;
    const unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || text[0] == '-') return false;
    *out = value;
    return true;
}

static int args_parse(int argc, char **argv, struct node_args *args) {
    *args = (struct node_args){.command = "start", .rooms = "*", .ttl_s = 3600};
    int i = 1;
    if (i < argc && argv[i][0] != '-') args->command = argv[i++];
    for (; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        } else if (strcmp(arg, "--print-config") == 0) {
            args->print_config = true;
        } else if (strcmp(arg, "--config") == 0 && value != NULL) {
            args->config_path = value, i++;
        } else if (strcmp(arg, "--sub") == 0 && value != NULL && parse_u64(value, &args->sub)) {
            i++;
        } else if (strcmp(arg, "--rooms") == 0 && value != NULL) {
            args->rooms = value, i++;
        } else if (strcmp(arg, "--ttl-s") == 0 && value != NULL &&
                   parse_u64(value, &args->ttl_s) && args->ttl_s > 0) {
            i++;
        } else {
            fprintf(stderr, "tigerchat-node: bad argument '%s'\n%s", arg, usage);
            return TC_EINVAL;
        }
    }
    return TC_OK;
}

// ------------------------------------------------------------------------------------------------
// Development tokens.

static int command_token(const struct node *node, const struct node_args *args) {
    if (args->sub == 0) {
        fprintf(stderr, "tigerchat-node token: --sub USER (a non-zero integer) is required\n");
        return 2;
    }
    if (node->config.jwt.alg != TC_EDGE_JWT_HS256) {
        fprintf(stderr, "tigerchat-node token: the node verifies EdDSA tokens; mint them with "
                        "the issuer's secret key, not here\n");
        return 2;
    }
    struct tc_edge_jwt_claims claims = {.user = args->sub};
    const uint64_t now_s = tc_io_linux_realtime_ns() / 1000000000u;
    claims.iat_s = now_s;
    claims.exp_s = now_s + args->ttl_s;
    if (strcmp(args->rooms, "*") == 0) {
        claims.rooms_all = true;
    } else {
        char rooms[4096];
        (void)snprintf(rooms, sizeof(rooms), "%s", args->rooms);
        for (char *save = NULL, *item = strtok_r(rooms, ",", &save); item != NULL;
             item = strtok_r(NULL, ",", &save)) {
            uint64_t room = 0;
            if (!parse_u64(item, &room) || room == 0 || claims.room_count == TC_EDGE_JWT_ROOMS_MAX) {
                fprintf(stderr, "tigerchat-node token: bad --rooms entry '%s'\n", item);
                return 2;
            }
            claims.rooms[claims.room_count++] = room;
        }
    }
    if (node->config.jwt.tenant[0] != '\0') {
        (void)snprintf(claims.tenant, sizeof(claims.tenant), "%s", node->config.jwt.tenant);
        claims.tenant_size = (uint32_t)strlen(claims.tenant);
    }
    struct tc_edge_jwt_signer signer = {.alg = TC_EDGE_JWT_HS256,
                                        .key_size = node->config.jwt.key_size};
    memcpy(signer.key, node->config.jwt.key, node->config.jwt.key_size);
    char token[TC_EDGE_JWT_TOKEN_SIZE_MAX + 1];
    const int32_t size = tc_edge_jwt_mint(&signer, &claims, token, sizeof(token));
    if (size < 0) {
        fprintf(stderr, "tigerchat-node token: the token does not fit\n");
        return 1;
    }
    printf("%s\n", token);
    return 0;
}

// ------------------------------------------------------------------------------------------------
// Serving.

static void signal_ready(struct tc_loop_handler *handler, uint32_t ready) {
    (void)ready;
    struct node *node = handler->context;
    struct signalfd_siginfo info;
    while (read(handler->fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
        if (!node->stop_requested) {
            node_log(node, TC_LOG_INFO, "signal %u: shutting down gracefully", info.ssi_signo);
        }
        node->stop_requested = true;
    }
}

static uint64_t now_ms(void) { return tc_io_linux_monotonic_ns() / 1000000u; }

static uint64_t ws_now_s(void *context) {
    (void)context;
    return tc_io_linux_realtime_ns() / 1000000000u;
}

// The link's and the WebSocket server's lines (connections, refusals: per peer or client, so
// limited).
static void link_log(void *context, const char *line) {
    struct node *node = context;
    if (node->log_level < TC_LOG_INFO) return; // not printed: not counted either
    if (node_log_allowed(node, &node->log_limit_link)) {
        node_log_module(node, TC_LOG_INFO, "link", 0, "%s", line);
    }
}

static void ws_log(void *context, const char *line) {
    struct node *node = context;
    if (node->log_level < TC_LOG_INFO) return;
    if (node_log_allowed(node, &node->log_limit_ws)) {
        node_log_module(node, TC_LOG_INFO, "ws", 0, "%s", line);
    }
}

// Values derived from the config once, in the forms the components take.
static void node_settings(struct node *node) {
    const struct tc_node_config *config = &node->config;
    node->node_id = config->node_id;
    node->log_limit_link.module = "link";
    node->log_limit_ws.module = "ws";
    node->log_limit_edge.module = "edge";
    node->log_limit_reads.module = "reads";
    node->log_limit_replica.module = "replica";
    node->log_limit_replica.lines_max = NODE_LOG_LIMIT_REPLICA_LINES;
    tc_assert(config->log_level >= TC_NODE_CONFIG_LOG_ERROR &&
              config->log_level <= TC_NODE_CONFIG_LOG_DEBUG);
    node->log_level = (enum tc_log_level)(config->log_level - TC_NODE_CONFIG_LOG_ERROR);
    node->log_json = config->log_format == TC_NODE_CONFIG_LOG_JSON;
    (void)snprintf(node->listen_peer, sizeof(node->listen_peer), "%s:%u", config->listen_peer.host,
                   config->listen_peer.port);
    (void)snprintf(node->listen_client, sizeof(node->listen_client), "%s:%u",
                   config->listen_client.host, config->listen_client.port);
    (void)snprintf(node->listen_admin, sizeof(node->listen_admin), "%s:%u",
                   config->listen_admin.host, config->listen_admin.port);
}

static struct tc_ws_tls *node_tls; // TLS on the client listener (tls_cert_file), or NULL

static int node_listen(struct node *node) {
    const struct tc_node_config *config = &node->config;
    struct tc_link_options link = {
        .cluster = config->cluster,
        .node_id = node->node_id,
        .listen_address = node->listen_peer,
        .loop = &node->loop,
        .on_frame = node_link_on_frame,
        .context = node,
        .seed = config->cluster ^ node->node_id,
        .log = link_log,
        .log_context = node,
    };
    for (uint32_t i = 0; i < config->peer_count; i++) {
        link.peers[link.peer_count].node_id = config->peers[i].node_id;
        (void)snprintf(link.peers[link.peer_count].address,
                       sizeof(link.peers[link.peer_count].address), "%s:%u",
                       config->peers[i].address.host, config->peers[i].address.port);
        link.peer_count += 1;
    }
    int result = tc_link_init(&node->link, &link);
    if (result != TC_OK) {
        (void)snprintf(node->error, sizeof(node->error), "listen_peer: %s", node->link.error);
        return result;
    }
    node->link_open = true;
    const struct node_ctl_topology *topology = node_ctl_topology_installed(node);
    if (topology != NULL) node_peers_join(node, topology); // nodes added after the config
    if (config->tls_cert_file[0] != '\0') {
        result = tc_ws_tls_create(config->tls_cert_file, config->tls_key_file, &node_tls,
                                  node->error, sizeof(node->error));
        if (result != TC_OK) return result;
    }
    struct tc_ws_server_options ws = {
        .loop = &node->loop,
        .listen_address = node->listen_client,
        .connections_max = config->connections_max,
        .connections_per_user_max = config->connections_per_user_max,
        .message_size_max = config->message_size_bytes_max,
        .send_buffer_bytes = config->send_buffer_size_bytes,
        .ping_interval_ms = config->ping_interval_ms,
        .idle_timeout_ms = config->idle_timeout_ms,
        .slow_consumer_timeout_ms = config->slow_consumer_timeout_ms,
        .handshake_rate_per_s = config->rate_handshake_per_ip_per_s,
        .handshake_burst = config->rate_handshake_per_ip_burst,
        .jwt = config->jwt,
        .now_s = ws_now_s,
        .on_open = node_edge_on_open,
        .on_text = node_edge_on_text,
        .on_close = node_edge_on_close,
        .context = node,
        .log = ws_log,
        .log_context = node,
        .transport = node_tls == NULL ? NULL : tc_ws_tls_transport(node_tls),
        .defer_text_writes = true, // one write per connection per loop iteration (fan-out)
    };
    result = tc_ws_server_init(&node->ws, &ws);
    if (result != TC_OK) {
        (void)snprintf(node->error, sizeof(node->error), "listen_client: %s", node->ws.error);
        return result;
    }
    node->ws_open = true;
    // /metrics: the node-wide families, then ~30 series per hosted group (docs/node.md §10).
    const uint64_t metrics_bytes = NODE_METRICS_BASE_BYTES +
                                   (uint64_t)node->group_capacity * NODE_METRICS_GROUP_BYTES;
    const struct tc_admin_server_options admin = {
        .loop = &node->loop,
        .listen_address = node->listen_admin,
        .body_size_max = (uint32_t)(metrics_bytes < TC_ADMIN_SERVER_BODY_SIZE_LIMIT
                                        ? metrics_bytes
                                        : TC_ADMIN_SERVER_BODY_SIZE_LIMIT),
        .metrics = node_metrics_write,
        .healthy = node_healthy,
        .context = node,
    };
    result = tc_admin_server_init(&node->admin, &admin);
    if (result != TC_OK) {
        (void)snprintf(node->error, sizeof(node->error), "listen_admin: %s", node->admin.error);
        return result;
    }
    node->admin_open = true;
    // Redis bus (node_redis.c): connects in the background; Redis down is not a start-up error.
    return node_redis_init(node);
}

static void node_ticks(struct node *node) {
    node->now_ms = now_ms();
    uint32_t ran = 0;
    while (node->now_ms >= node->tick_next_ms) {
        if (ran == NODE_TICKS_CATCH_UP_MAX) {
            const uint64_t skipped = (node->now_ms - node->tick_next_ms) / TC_TICK_MS + 1;
            node->stats.ticks_skipped += skipped;
            node->tick_next_ms += skipped * TC_TICK_MS;
            break;
        }
        node_hosts_tick(node);
        node_edge_tick(node);
        node->stats.ticks += 1;
        node->tick_next_ms += TC_TICK_MS;
        ran += 1;
    }
    if (ran == 0) return;
    node_ctl_tick(node); // the controller client: status snapshot, topology, move_primary
    // The servers' timers walk their tables: once per tick, not per loop iteration.
    tc_link_tick(&node->link, node->now_ms);
    // The ws server's timers (keepalive, idle, close and handshake timeouts, slow consumers)
    // are seconds long and its tick walks every slot: every 10th tick is plenty.
    if (node->stats.ticks % NODE_WS_TICK_EVERY == 0) tc_ws_server_tick(&node->ws, node->now_ms);
    tc_admin_server_tick(&node->admin, node->now_ms);
    node_redis_tick(node); // Redis bus (node_redis.c): reconnects, connect timeouts
}

static bool node_quiet(struct node *node) {
    for (uint32_t i = 0; i < node->group_count; i++) {
        const struct node_group *group = &node->groups[i];
        for (uint32_t s = 0; s < NODE_SESSIONS_PER_GROUP; s++) {
            if (group->sessions[s].busy || group->sessions[s].pending_count > 0) return false;
        }
    }
    return true;
}

// SIGTERM: refuse new connections, finish the batches in flight, close clients with 1001, let
// the writes drain, wait for storage I/O in flight (docs/node.md §9).
static bool node_shutdown_step(struct node *node) {
    if (!node->stopping) {
        node->stopping = true;
        node->stop_deadline_ms = node->now_ms + NODE_SHUTDOWN_TIMEOUT_MS;
        tc_ws_server_drain(&node->ws);
        return false;
    }
    if (node->stop_deadline_ms != 0 && (node_quiet(node) || node->now_ms >= node->stop_deadline_ms)) {
        if (!node_quiet(node)) node_log(node, TC_LOG_WARN, "shutdown: batches still in flight");
        tc_ws_server_close_all(&node->ws, 1001, "going away");
        node->stop_deadline_ms = 0;
        node->started_ms = node->now_ms + NODE_CLOSE_GRACE_MS; // reused: close grace deadline
        return false;
    }
    return node->stop_deadline_ms == 0 && node->now_ms >= node->started_ms &&
           node_hosts_inflight(node) == 0;
}

// SIGTERM and SIGINT are read from a signalfd by the loop. They are blocked in main() before any
// thread exists (storage workers inherit the mask), else a worker could take the signal and die.
static void node_signal_mask(sigset_t *mask) {
    sigemptyset(mask);
    sigaddset(mask, SIGTERM);
    sigaddset(mask, SIGINT);
}

static int node_serve(struct node *node) {
    sigset_t mask;
    node_signal_mask(&mask);
    const int signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd < 0) return TC_EIO;
    struct tc_loop_handler signal_handler;
    tc_loop_handler_init(&signal_handler, signal_ready, node);
    tc_assert(tc_loop_add(&node->loop, &signal_handler, signal_fd, TC_LOOP_READ) == TC_OK);
    node->now_ms = now_ms();
    node->tick_next_ms = node->now_ms + TC_TICK_MS;
    node_log(node, TC_LOG_INFO,
             "serving: client %s (%s), peer %s, admin %s, %u groups (%u hosted), bus %s, "
             "controller %s",
             node->listen_client, node_tls != NULL ? "wss" : "ws", node->listen_peer,
             node->listen_admin, node->group_count, node->group_hosted_count,
             node->config.bus == TC_NODE_CONFIG_BUS_REDIS ? "redis" : "builtin",
             node->ctl != NULL ? "on" : "off");
    for (;;) {
        const uint64_t now = now_ms();
        const int32_t timeout_ms = now >= node->tick_next_ms ? 0
                                   : (int32_t)(node->tick_next_ms - now);
        (void)tc_loop_poll(&node->loop, node->local_count > 0 ? 0 : timeout_ms);
        node_ticks(node);
        node_local_flush(node);
        node_subs_pump(node);
        node_remote_pump(node);
        node_edge_flush(node);
        node_bus_flush(node);
        tc_ws_server_flush(&node->ws);
        if (node->stop_requested && node_shutdown_step(node)) break;
    }
    tc_loop_remove(&node->loop, &signal_handler);
    close(signal_fd);
    node_log(node, TC_LOG_INFO, "stopped");
    return TC_OK;
}

static void node_deinit(struct node *node) {
    node_ctl_deinit(node); // first: its thread stops (a request in flight is aborted) and joins
    node_redis_deinit(node); // Redis bus (node_redis.c): its handlers leave the loop
    if (node->admin_open) tc_admin_server_deinit(&node->admin);
    if (node->ws_open) tc_ws_server_deinit(&node->ws);
    tc_ws_tls_destroy(node_tls); // after the server: its connections hold SSL objects
    node_tls = NULL;
    if (node->link_open) tc_link_deinit(&node->link);
    node_subs_deinit(node);
    node_edge_deinit(node);
    node_hosts_deinit(node);
    if (node->loop_open) tc_loop_deinit(&node->loop);
}

static int node_run(struct node *node, bool format) {
    int result = tc_loop_init(&node->loop);
    if (result != TC_OK) return result;
    node->loop_open = true;
    // The controller client first: a missing node key refuses the start before any replica opens.
    if (!format) result = node_ctl_init(node);
    if (result == TC_OK) result = node_hosts_init(node, format);
    if (result == TC_OK && format) result = node_ctl_format_key(node);
    if (result != TC_OK || format) return result;
    result = node_edge_init(node);
    if (result == TC_OK) result = node_subs_init(node);
    if (result == TC_OK) result = node_listen(node);
    if (result == TC_OK) result = node_ctl_start(node);
    if (result == TC_OK) result = node_serve(node);
    return result;
}

int main(int argc, char **argv) {
    struct node_args args;
    if (args_parse(argc, argv, &args) != TC_OK) return 2;
    signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    node_signal_mask(&mask);
    tc_assert(pthread_sigmask(SIG_BLOCK, &mask, NULL) == 0);
    if (strcmp(args.command, "example-config") == 0) {
        fputs(tc_node_config_example(), stdout);
        return 0;
    }
    const bool known = strcmp(args.command, "start") == 0 || strcmp(args.command, "format") == 0 ||
                       strcmp(args.command, "token") == 0;
    if (!known || args.config_path == NULL) {
        fprintf(stderr, "tigerchat-node: %s\n%s",
                known ? "--config FILE is required" : "unknown command", usage);
        return 2;
    }
    static struct node node; // large; one per process
    char error[1024];
    if (tc_node_config_load(&node.config, args.config_path, error, sizeof(error)) != TC_OK) {
        fprintf(stderr, "tigerchat-node: %s\n", error);
        return 2;
    }
    node_settings(&node);
    if (args.print_config) {
        static char text[256 * 1024];
        if (tc_node_config_print(&node.config, text, sizeof(text)) < 0) return 1;
        fputs(text, stdout);
        return 0;
    }
    if (strcmp(args.command, "token") == 0) return command_token(&node, &args);
    const bool format = strcmp(args.command, "format") == 0;
    const int result = node_run(&node, format);
    if (result != TC_OK) {
        fprintf(stderr, "tigerchat-node: %s%s(%s)\n", node.error, node.error[0] ? " " : "",
                tc_errname(result));
    } else if (format) {
        printf("formatted %u replica(s) under %s\n", node.group_hosted_count,
               node.config.data_dir);
    }
    node_deinit(&node);
    return result == TC_OK ? 0 : 1;
}
