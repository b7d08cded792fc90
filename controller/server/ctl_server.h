#ifndef CTL_SERVER_H
#define CTL_SERVER_H

// tigerchat-controller (docs/controller.md): one process, one thread, one epoll loop. The HTTP API
// (node/server/admin_server with a handler) answers reads from SQLite and turns signed requests
// into audit-chain entries and then SQLite transactions (§3). Mutations are serialised by the
// single thread, which is also what gives the chain its order.

#include <stdbool.h>
#include <stdint.h>

#include "admin_server.h"
#include "ctl_model.h"
#include "loop.h"
#include "tc_audit.h"

struct ctl_store;

#define CTL_PATH_SIZE_MAX 512u
#define CTL_LIVENESS_MS_DEFAULT 10000u
#define CTL_CHECKPOINT_EVERY_ENTRIES 64u // a signed checkpoint at least this often
#define CTL_RESPONSE_SIZE_MAX (4u << 20)

struct ctl_options {
    char data_dir[CTL_PATH_SIZE_MAX];
    char listen[CTL_ADDRESS_SIZE_MAX]; // the API: "host:port"
    bool auto_accept_nodes;            // development clusters: unknown nodes are added
    uint32_t liveness_ms;              // a node without a heartbeat this long is not live
};

struct ctl_stats {
    uint64_t actions_ok;
    uint64_t actions_refused;
    uint64_t requests_rejected; // not chained: malformed, bad signature, unknown key, skew, replay
    uint64_t heartbeats;
    uint64_t registrations;
    uint64_t topology_versions;
};

struct ctl_server {
    struct ctl_options options;
    char path_db[CTL_PATH_SIZE_MAX + 32];
    char path_log[CTL_PATH_SIZE_MAX + 32];
    char path_checkpoints[CTL_PATH_SIZE_MAX + 32];
    char path_key[CTL_PATH_SIZE_MAX + 32];
    struct ctl_store *store;
    struct tc_audit_writer *audit;
    bool audit_failed; // a chain write or an apply failed: refuse mutations until restarted
    struct tc_audit_secret_key key;
    struct tc_audit_public_key key_public;
    char key_hex[CTL_KEY_HEX_SIZE];
    struct ctl_model *model; // reloaded from the store when needed (heap: ~300 KiB)
    uint64_t node_model_seq; // the chain seq `model` was loaded at for node messages (0: stale)
    uint64_t topology_version;     // cached for heartbeat answers, valid at topology_version_seq
    uint64_t topology_version_seq; // the chain seq it was read at (0: not read)
    struct cJSON *heartbeats; // the nodes as ctl_model_refresh last read them (parsed), or NULL
    struct tc_loop loop;
    struct tc_admin_server http;
    bool http_open;
    bool stopping;
    uint64_t now_ms; // monotonic, for timers
    uint64_t serving_since_ms; // monotonic: when the loop started (heartbeats stale before it)
    uint64_t entries_since_checkpoint;
    uint64_t job_step_started_ms; // monotonic; 0: no step being watched (restarts on restart)
    uint64_t job_step_mark;       // the progress last seen on it (learner applied op + 1)
    uint64_t heartbeat_time_ms[CTL_NODES_MAX + 1]; // the newest accepted per node (replays)
    struct ctl_stats stats;
    char error[CTL_PATH_SIZE_MAX * 2 + 512];
};

// Wall-clock milliseconds since 1970 (entry and request times), and monotonic milliseconds.
uint64_t ctl_wall_ms(void);
uint64_t ctl_monotonic_ms(void);

void ctl_log(const char *level, const char *format, ...) __attribute__((format(printf, 2, 3)));

// The API's request handler (admin_server's options.handle).
void ctl_http_handle(void *context, const struct tc_admin_request *request,
                     struct tc_admin_response *response);
int32_t ctl_metrics_write(void *context, char *out, uint32_t out_size);

// Loads server->model from the store and overlays each group's primary as the live nodes'
// heartbeats report it (ctl_observe.c); server->heartbeats keeps the parsed nodes (the
// ctl_store_nodes_json array, with each node's last status) until the next refresh. 0 or the
// store's error.
int ctl_model_refresh(struct ctl_server *server);

// The newest topology version (0: none yet).
uint64_t ctl_topology_version(struct ctl_server *server);

// Writes a JSON body (NUL-terminated text) with a status; too large → 500.
void ctl_respond_json(struct tc_admin_response *response, uint16_t status, const char *json);
// {"error":"<code>","message":"<message>"}.
void ctl_respond_error(struct tc_admin_response *response, uint16_t status, const char *code,
                       const char *message);

#endif
