#ifndef TC_NODE_CONFIG_H
#define TC_NODE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "edge_jwt.h"

// The configuration file of tigerchat-node (`--config FILE`), documented in docs/node-config.md.
//
// Format: UTF-8 text, one `key = value` per line, `#` comments (a whole line, or after whitespace),
// blank lines ignored, keys [a-z0-9_.]+, values trimmed, a value may be double-quoted to keep
// spaces and `#`. Indexed keys: `peer.N = host:port`, `group.G = a,b,c`. Every key is validated
// when the file is loaded; unknown keys, duplicates, missing required keys and out-of-range values
// are errors whose message names the file, the line and the key:
//
//     node.conf:12: listen_client: "127.0.0.1:99999": port must be 1..65535
//
// The struct is plain data with fixed-size arrays: no allocation, copyable, comparable.

#define TC_NODE_CONFIG_TEXT_SIZE_MAX (1024u * 1024u) // bytes of a config file
#define TC_NODE_CONFIG_NODES_MAX 63u                 // node ids are 1..63
#define TC_NODE_CONFIG_GROUPS_MAX 1024u
#define TC_NODE_CONFIG_GROUP_ID_MAX (1u << 31) // group ids are 1..2^31
#define TC_NODE_CONFIG_GROUP_MEMBERS_MAX 5u    // replicas of a group (TC_REPLICAS_MAX)
#define TC_NODE_CONFIG_PATH_SIZE_MAX 512u      // bytes of a path, NUL excluded
#define TC_NODE_CONFIG_HOST_SIZE 16u           // "255.255.255.255" and its NUL
#define TC_NODE_CONFIG_ADDRESS_TEXT_SIZE 22u   // "255.255.255.255:65535" and its NUL
#define TC_NODE_CONFIG_KEY_FILE_SIZE_MAX 256u  // bytes of the JWT key file
#define TC_NODE_CONFIG_ZONE_SIZE_MAX 63u       // bytes of `zone`, NUL excluded
#define TC_NODE_CONFIG_NODE_KEY_FILE_DEFAULT "node.key" // node_key_file: <data_dir>/node.key
// An error buffer of this size holds every message whole (longer paths are cut, never overrun).
#define TC_NODE_CONFIG_ERROR_SIZE 1024u
// tc_node_config_print's output for any valid config fits in this many bytes (NUL included).
#define TC_NODE_CONFIG_PRINT_SIZE_MAX (96u * 1024u)

enum tc_node_config_bus {
    TC_NODE_CONFIG_BUS_BUILTIN = 1, // "builtin": fan-out between nodes over the peer links
    TC_NODE_CONFIG_BUS_REDIS = 2,   // "redis": fan-out through Redis pub/sub at `redis`
};

enum tc_node_config_log_level {
    TC_NODE_CONFIG_LOG_ERROR = 1,
    TC_NODE_CONFIG_LOG_WARN = 2,
    TC_NODE_CONFIG_LOG_INFO = 3,
    TC_NODE_CONFIG_LOG_DEBUG = 4,
};

enum tc_node_config_log_format {
    TC_NODE_CONFIG_LOG_TEXT = 1,
    TC_NODE_CONFIG_LOG_JSON = 2,
};

// An IPv4 endpoint. The host is stored normalized: "*" as "0.0.0.0", "localhost" as "127.0.0.1".
struct tc_node_config_address {
    char host[TC_NODE_CONFIG_HOST_SIZE]; // dotted quad, NUL-terminated; "" when unset
    uint16_t port;                       // 1..65535; 0 when unset
};

struct tc_node_config_peer {
    uint16_t node_id; // 1..TC_NODE_CONFIG_NODES_MAX
    struct tc_node_config_address address;
};

struct tc_node_config_group {
    uint32_t id;           // 1..TC_NODE_CONFIG_GROUP_ID_MAX
    uint32_t member_count; // 1, 3 or 5
    uint16_t members[TC_NODE_CONFIG_GROUP_MEMBERS_MAX]; // node ids by replica slot; 0 after
};

struct tc_node_config {
    // Identity.
    uint64_t cluster; // non-zero; the same on every node
    uint16_t node_id; // key `node`: this node's id, 1..63, a declared peer
    char data_dir[TC_NODE_CONFIG_PATH_SIZE_MAX + 1];
    // Network.
    struct tc_node_config_address listen_peer; // port = this node's peer.N port
    struct tc_node_config_address listen_client;
    struct tc_node_config_address listen_admin;
    uint32_t peer_count; // 1..63
    struct tc_node_config_peer peers[TC_NODE_CONFIG_NODES_MAX];     // ascending node id
    uint32_t group_count;                                           // 1..1024
    struct tc_node_config_group groups[TC_NODE_CONFIG_GROUPS_MAX]; // ascending group id
    // Authentication. `jwt` holds alg, leeway_s, lifetime_s_max and tenant after parsing; its key
    // is read from jwt_key_file by tc_node_config_jwt_key_read (key_size stays 0 until then).
    struct tc_edge_jwt_config jwt;
    char jwt_key_file[TC_NODE_CONFIG_PATH_SIZE_MAX + 1];
    uint32_t jwt_key_file_line; // where jwt_key_file was set, for the key file's errors
    // Replica sizing (struct tc_replica_options, struct tc_room_config); the same on every node.
    uint32_t journal_slot_count;       // journal_slots
    uint32_t store_segment_size_bytes; // store_segment_size
    uint32_t store_segment_count;      // store_segments
    uint32_t clients_max;
    uint32_t rooms_max;
    uint32_t members_max;
    uint32_t idempotency_keys_max;
    uint32_t thread_messages_max; // tc_room_config.messages_max (the thread window)
    // Edge limits (docs/protocol.md §8, §9, §11).
    uint32_t connections_max;
    uint32_t connections_per_user_max;
    uint32_t subscriptions_per_connection_max;
    uint32_t requests_in_flight_per_connection_max;
    uint32_t send_buffer_size_bytes;  // send_buffer_size
    uint32_t message_size_bytes_max;  // message_size_max
    uint32_t rate_connection_per_s;
    uint32_t rate_connection_burst;
    uint32_t rate_user_per_s;
    uint32_t rate_user_burst;
    uint32_t rate_handshake_per_ip_per_s;
    uint32_t rate_handshake_per_ip_burst;
    uint32_t ping_interval_ms;
    uint32_t idle_timeout_ms; // > ping_interval_ms
    uint32_t slow_consumer_timeout_ms;
    // Fan-out bus.
    enum tc_node_config_bus bus;
    struct tc_node_config_address redis; // set iff bus is redis
    // Logging.
    enum tc_node_config_log_level log_level;
    enum tc_node_config_log_format log_format;
    // TLS for the client listener: both paths or neither ("" when unset). Not read here.
    char tls_cert_file[TC_NODE_CONFIG_PATH_SIZE_MAX + 1];
    char tls_key_file[TC_NODE_CONFIG_PATH_SIZE_MAX + 1];
    // Controller (docs/node-config.md, docs/node.md §13): all optional; without `controller` the
    // node never calls one. controller_key_file is required iff controller is set; its key is read
    // into controller_key by tc_node_config_controller_key_read (zeros until then).
    struct tc_node_config_address controller; // port 0: unset
    char controller_key_file[TC_NODE_CONFIG_PATH_SIZE_MAX + 1];
    uint32_t controller_key_file_line; // where controller_key_file was set (its errors name it)
    uint8_t controller_key[32];        // the controller's Ed25519 public key
    // The node's Ed25519 secret key. Default <data_dir>/node.key, filled in by the parser when that
    // fits TC_NODE_CONFIG_PATH_SIZE_MAX bytes (else "" and, with a controller, an error).
    char node_key_file[TC_NODE_CONFIG_PATH_SIZE_MAX + 1];
    char zone[TC_NODE_CONFIG_ZONE_SIZE_MAX + 1]; // "" by default
    uint32_t controller_interval_ms;             // heartbeat period, 200..60000
};

// Parses and validates `text` (text_size bytes, not NUL-terminated; at most
// TC_NODE_CONFIG_TEXT_SIZE_MAX). Pure: no I/O, the JWT key file is not read. `name` (the file's
// path) prefixes error messages. Returns 0, or TC_EINVAL with a message in `error` (always
// NUL-terminated when error_size > 0; error may be NULL when error_size is 0) and *config zeroed.
int tc_node_config_parse(struct tc_node_config *config, const char *name, const char *text,
                         uint32_t text_size, char *error, uint32_t error_size);

// Reads jwt_key_file (relative paths: from the working directory) into config->jwt.key and checks
// the result with tc_edge_jwt_config_invalid. The file holds the key as raw bytes (HS256: a 32..64
// byte secret; EdDSA: the 32-byte Ed25519 public key) or as hex text (64..128 hex digits,
// optionally ending in a newline). `name` is the config file, for messages. Returns 0, TC_ENOENT
// (no such file), TC_EIO (unreadable) or TC_EINVAL (bad key). The read buffer is wiped.
int tc_node_config_jwt_key_read(struct tc_node_config *config, const char *name, char *error,
                                uint32_t error_size);

// Reads controller_key_file (a public key file, "tigerchat-ed25519-public-v1 <64 hex>", as written
// by tc_audit_keygen) into config->controller_key. Only when `controller` is set (asserted).
// Returns 0, TC_ENOENT, TC_EIO or TC_EINVAL with a message naming the config file, line and key.
int tc_node_config_controller_key_read(struct tc_node_config *config, const char *name,
                                       char *error, uint32_t error_size);

// Reads `path` (at most TC_NODE_CONFIG_TEXT_SIZE_MAX bytes), parses it, then reads the JWT key
// file and, when `controller` is set, the controller's public key file. Returns 0, TC_ENOENT /
// TC_EIO for any of the files, or TC_EINVAL for bad content. Startup only: it allocates (and
// frees) a buffer for the file.
int tc_node_config_load(struct tc_node_config *config, const char *path, char *error,
                        uint32_t error_size);

// Writes the effective configuration (every key, defaults included; unset optional keys as
// comments) in the file format, re-parseable by tc_node_config_parse. The JWT key itself is never
// written, only jwt_key_file. Returns the bytes written (NUL excluded) or TC_ENOSPC.
int tc_node_config_print(const struct tc_node_config *config, char *out, uint32_t out_size);

// A documented example for a 3-node local cluster (this is node 1; groups 1..4 over nodes 1, 2, 3
// in rotated slot orders; the JWT key in ./jwt.key).
const char *tc_node_config_example(void);

// Routing (docs/node-config.md §6, docs/controller.md §5): a room belongs to hash slot
// tc_node_config_room_mix(room) % TC_ROUTING_SLOTS, a slot to a group. The config's groups, in
// ascending id order, own the slots in contiguous blocks: group i of n owns
// [tc_node_config_slot_first(i, n), tc_node_config_slot_first(i + 1, n) - 1]. The controller's
// slot map of registered groups is the same blocks, so both route a room alike.
#define TC_ROUTING_SLOTS 4096u
uint32_t tc_node_config_room_slot(uint64_t room);
// The first slot of block `index` of `count` blocks: ceil(index * 4096 / count).
uint32_t tc_node_config_slot_first(uint32_t index, uint32_t count);
// The group that owns `slot` (< TC_ROUTING_SLOTS) by the config's blocks, and the group that
// hosts `room` (its slot's). Pure: every node with the same groups agrees.
uint32_t tc_node_config_slot_group(const struct tc_node_config *config, uint32_t slot);
uint32_t tc_node_config_room_group(const struct tc_node_config *config, uint64_t room);
// SplitMix64's finalizer applied to room + 0x9E3779B97F4A7C15 (the routing hash).
uint64_t tc_node_config_room_mix(uint64_t room);

// The declared peer `node_id`, or NULL.
const struct tc_node_config_peer *tc_node_config_peer_find(const struct tc_node_config *config,
                                                           uint16_t node_id);
// The group `id`, or NULL.
const struct tc_node_config_group *tc_node_config_group_find(const struct tc_node_config *config,
                                                             uint32_t id);
// The replica slot of `node_id` in `group`, or -1 if the group does not list it.
int32_t tc_node_config_group_slot(const struct tc_node_config_group *group, uint16_t node_id);
// Writes "host:port" (NUL-terminated) for sockets and logs; returns its size or TC_ENOSPC.
// TC_NODE_CONFIG_ADDRESS_TEXT_SIZE bytes always suffice.
int tc_node_config_address_format(const struct tc_node_config_address *address, char *out,
                                  uint32_t out_size);

#endif
