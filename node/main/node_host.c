// Hosting replicas (docs/node.md §2-§3, §14): the replica of every configured group that lists
// this node (or that a replacement started here: its identity file), its storage files, its tc_io,
// the router of incoming VSR frames and the deferred queue of same-node deliveries; starting a
// learner and closing a retired replica at run time. The edge's VSR clients (one per group) and
// the group's control client share the io helpers here.
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node.h"
#include "tc_log_text.h"
#include "node_remote.h"
#include "tc_arena.h"
#include "tc_assert.h"
#include "tc_err.h"

// The data files of a group replica: tc_replica_storage_zones' names (asserted at open).
static const char *const zone_names[TC_REPLICA_STORAGE_ZONES] = {"journal", "checkpoints",
                                                                 "store"};

// ------------------------------------------------------------------------------------------------
// Logging: one line per event, text or JSON (the config chooses), to stderr.

static void log_write(struct node *node, enum tc_log_level level, const char *module,
                      uint32_t group, const char *line) {
    static const char *const names[] = {"error", "warn", "info", "debug"};
    tc_assert((uint32_t)level < 4 && module != NULL);
    char escaped[2100];
    tc_log_text_escape(line, escaped, sizeof(escaped));
    const uint64_t now_ns = tc_io_linux_realtime_ns();
    char group_text[32] = "";
    if (node->log_json) {
        if (group != 0) (void)snprintf(group_text, sizeof(group_text), ",\"group\":%u", group);
        fprintf(stderr, "{\"ts_ns\":%llu,\"level\":\"%s\",\"node\":%u,\"module\":\"%s\"%s,"
                "\"msg\":\"%s\"}\n", (unsigned long long)now_ns, names[level], node->node_id,
                module, group_text, escaped);
    } else {
        if (group != 0) (void)snprintf(group_text, sizeof(group_text), "group=%u ", group);
        fprintf(stderr, "ts=%llu.%06llu level=%s node=%u module=%s %smsg=\"%s\"\n",
                (unsigned long long)(now_ns / 1000000000u),
                (unsigned long long)((now_ns / 1000u) % 1000000u), names[level], node->node_id,
                module, group_text, escaped);
    }
}

static void log_format(struct node *node, enum tc_log_level level, const char *module,
                       uint32_t group, const char *format, va_list args)
    __attribute__((format(printf, 5, 0)));
static void log_format(struct node *node, enum tc_log_level level, const char *module,
                       uint32_t group, const char *format, va_list args) {
    if ((uint32_t)level > (uint32_t)node->log_level) return;
    char line[1024];
    (void)vsnprintf(line, sizeof(line), format, args);
    log_write(node, level, module, group, line);
}

void node_log_module(struct node *node, enum tc_log_level level, const char *module,
                     uint32_t group, const char *format, ...) {
    va_list args;
    va_start(args, format);
    log_format(node, level, module, group, format, args);
    va_end(args);
}

void node_log(struct node *node, enum tc_log_level level, const char *format, ...) {
    va_list args;
    va_start(args, format);
    log_format(node, level, "node", 0, format, args);
    va_end(args);
}

bool node_log_allowed(struct node *node, struct node_log_limit *limit) {
    const uint64_t now_ms = node->now_ms;
    if (now_ms >= limit->window_start_ms + NODE_LOG_LIMIT_WINDOW_MS) {
        if (limit->suppressed > 0) {
            node_log_module(node, TC_LOG_WARN, limit->module, 0, "%u log lines suppressed in "
                            "the last %u ms (at most %u per window)", limit->suppressed,
                            NODE_LOG_LIMIT_WINDOW_MS,
                            limit->lines_max != 0 ? limit->lines_max : NODE_LOG_LIMIT_LINES);
        }
        limit->window_start_ms = now_ms;
        limit->lines = 0;
        limit->suppressed = 0;
    }
    const uint32_t lines_max = limit->lines_max != 0 ? limit->lines_max : NODE_LOG_LIMIT_LINES;
    if (limit->lines < lines_max) {
        limit->lines++;
        return true;
    }
    limit->suppressed++;
    return false;
}

// ------------------------------------------------------------------------------------------------
// Group lookup.

struct node_group *node_group_find(struct node *node, uint32_t group_id) {
    // Groups are few (<= TC_NODE_CONFIG_GROUPS_MAX); group_order keeps them sorted by id.
    uint32_t low = 0, high = node->group_count;
    while (low < high) {
        const uint32_t middle = low + (high - low) / 2;
        if (node->groups[node->group_order[middle]].id < group_id) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    if (low < node->group_count && node->groups[node->group_order[low]].id == group_id) {
        return &node->groups[node->group_order[low]];
    }
    return NULL;
}

bool node_topology_mode(const struct node *node) {
    tc_assert(node->config.group_count > 0 || node->config.controller.port != 0);
    return node->config.group_count == 0;
}

struct node_group *node_room_group(struct node *node, uint64_t room) {
    if (!node_topology_mode(node)) {
        struct node_group *group =
            node_group_find(node, tc_node_config_room_group(&node->config, room));
        tc_assert(group != NULL); // the routing function only names configured groups
        return group;
    }
    const struct node_ctl_topology *topology = node_ctl_topology_installed(node);
    if (topology == NULL) return NULL;
    const uint32_t id = topology->slot_group[tc_node_config_room_slot(room)];
    if (id == 0) return NULL;
    // NULL too when its group was not adopted (a member this node cannot reach, a bad entry:
    // node_groups_adopt logged why): the client gets no_route, the node keeps serving.
    return node_group_find(node, id);
}

// ------------------------------------------------------------------------------------------------
// Deferred local deliveries.

// The edge session or the control client of the group with this client id (NULL: none).
static struct tc_client *group_client_find(struct node_group *group, uint64_t client_id) {
    struct node_session *session = node_session_find(group, client_id);
    if (session != NULL) return session->client;
    if (group->control.client != NULL && group->control.client_id == client_id) {
        return group->control.client;
    }
    return NULL;
}

static void local_push(struct node *node, uint32_t group, bool to_client, const uint8_t *message) {
    const struct tc_header *header = (const struct tc_header *)message;
    tc_assert(header->size >= TC_HEADER_SIZE && header->size <= TC_MESSAGE_SIZE_MAX);
    if (node->local_count == NODE_LOCAL_QUEUE_SLOTS) {
        node->stats.local_dropped += 1; // VSR resends
        return;
    }
    struct node_local_slot *slot =
        &node->local[(node->local_head + node->local_count) % NODE_LOCAL_QUEUE_SLOTS];
    slot->group = group;
    slot->to_client = to_client;
    slot->size = header->size;
    memcpy(slot->message, message, header->size);
    node->local_count += 1;
}

void node_local_flush(struct node *node) {
    // Bounded: only what was queued before this call (deliveries may queue more).
    uint32_t count = node->local_count;
    while (count-- > 0) {
        tc_assert(node->local_count > 0);
        struct node_local_slot *slot = &node->local[node->local_head];
        struct node_group *group = &node->groups[slot->group];
        if (slot->to_client) {
            const struct tc_header *header = (const struct tc_header *)slot->message;
            struct tc_client *client = group_client_find(group, header->client);
            if (client != NULL) tc_client_on_message(client, slot->message, slot->size);
        } else if (group->hosted) {
            tc_replica_on_message(group->replica, slot->message, slot->size);
        } else {
            node->stats.vsr_dropped_group += 1; // queued before the replica was retired
        }
        node->local_head = (node->local_head + 1) % NODE_LOCAL_QUEUE_SLOTS;
        node->local_count -= 1;
    }
}

// ------------------------------------------------------------------------------------------------
// Sending.

static void send_to_node(struct node *node, uint16_t node_id, uint8_t priority,
                         const uint8_t *message) {
    const struct tc_header *header = (const struct tc_header *)message;
    const int result = tc_link_send(&node->link, node_id, NODE_LINK_KIND_VSR, priority, message,
                                    header->size);
    if (result != TC_OK) node->stats.link_send_failed += 1; // not connected or queue full
}

// An address resolves by the group's route (node_route_targets, docs/node.md §14): the newest
// topology's member of the slot, or the pending replacement for its learner address and for the
// slot named in a later epoch, and also the slot's previous member for an earlier epoch. A
// replica's message never goes to its own node (one replica per group per node): one that
// resolves there is dropped and counted.
static void group_send_to_replica(struct node_group *group, uint8_t address, uint32_t epoch,
                                  const uint8_t *message, uint8_t priority, bool from_client) {
    struct node *node = group->node;
    tc_assert(address < TC_REPLICA_ADDRESSES_MAX);
    tc_assert(from_client || group->hosted || group->closing);
    uint16_t targets[NODE_ROUTE_TARGETS_MAX];
    const uint32_t count = node_route_targets(&group->route, address, epoch, targets);
    tc_assert(count <= NODE_ROUTE_TARGETS_MAX);
    for (uint32_t i = 0; i < count; i++) {
        if (targets[i] != node->node_id) {
            send_to_node(node, targets[i], priority, message);
        } else if (from_client && group->hosted) {
            local_push(node, group->index, false, message);
        } else {
            node->stats.vsr_dropped_self += 1;
        }
    }
}

static struct node_group *group_of_io(struct tc_io *io) { return (struct node_group *)io->context; }

static void replica_send_to_replica(struct tc_io *io, uint8_t address, uint32_t epoch,
                                    const uint8_t *message) {
    group_send_to_replica(group_of_io(io), address, epoch, message, TC_LINK_PRIORITY_HIGH, false);
}

static void replica_send_to_client(struct tc_io *io, uint64_t client, const uint8_t *message) {
    struct node_group *group = group_of_io(io);
    struct node *node = group->node;
    const uint16_t target = (uint16_t)(client >> NODE_CLIENT_ID_NODE_SHIFT);
    if (target == node->node_id) {
        local_push(node, group->index, true, message);
    } else if (target != 0) {
        send_to_node(node, target, TC_LINK_PRIORITY_LOW, message);
    }
}

static void client_send_to_replica(struct tc_io *io, uint8_t address, uint32_t epoch,
                                   const uint8_t *message) {
    tc_assert(epoch == TC_EPOCH_CURRENT); // clients know no epochs
    group_send_to_replica(group_of_io(io), address, epoch, message, TC_LINK_PRIORITY_LOW, true);
}

static void client_send_to_client(struct tc_io *io, uint64_t client, const uint8_t *message) {
    (void)io, (void)client, (void)message;
    tc_assert(false); // a VSR client never sends to a client
}

static void replica_storage_read(struct tc_io *io, struct tc_io_storage_op *op) {
    tc_io_linux_replica_storage_read(&group_of_io(io)->storage, op);
}
static void replica_storage_write(struct tc_io *io, struct tc_io_storage_op *op) {
    tc_io_linux_replica_storage_write(&group_of_io(io)->storage, op);
}
static void replica_storage_sync(struct tc_io *io, struct tc_io_storage_op *op) {
    tc_io_linux_replica_storage_sync(&group_of_io(io)->storage, op);
}
static void client_storage_op(struct tc_io *io, struct tc_io_storage_op *op) {
    (void)io, (void)op;
    tc_assert(false); // clients have no storage
}
static uint64_t io_realtime_ns(struct tc_io *io) {
    (void)io;
    return tc_io_linux_realtime_ns();
}
// The core's lines: rate-limited per node (a replica may warn per incoming message in a fault).
static void io_log(struct tc_io *io, enum tc_log_level level, const char *line) {
    struct node_group *group = group_of_io(io);
    struct node *node = group->node;
    if ((uint32_t)level > (uint32_t)node->log_level) return;
    // Errors always (a storage failure must not drown in another replica's warnings).
    if (level != TC_LOG_ERROR && !node_log_allowed(node, &node->log_limit_replica)) return;
    node_log_module(node, level, io == &group->client_io ? "client" : "replica", group->id, "%s",
                    line);
}

static const struct tc_io_vtable replica_vtable = {
    .send_to_replica = replica_send_to_replica,
    .send_to_client = replica_send_to_client,
    .storage_read = replica_storage_read,
    .storage_write = replica_storage_write,
    .storage_sync = replica_storage_sync,
    .realtime_ns = io_realtime_ns,
    .log = io_log,
};

static const struct tc_io_vtable client_vtable = {
    .send_to_replica = client_send_to_replica,
    .send_to_client = client_send_to_client,
    .storage_read = client_storage_op,
    .storage_write = client_storage_op,
    .storage_sync = client_storage_op,
    .realtime_ns = io_realtime_ns,
    .log = io_log,
};

// ------------------------------------------------------------------------------------------------
// Receiving: the router (docs/node.md §3).

static void route_vsr(struct node *node, const uint8_t *message, uint32_t size) {
    if (size < TC_HEADER_SIZE || size > TC_MESSAGE_SIZE_MAX) {
        node->stats.vsr_dropped_invalid += 1;
        return;
    }
    struct tc_header header;
    memcpy(&header, message, sizeof(header)); // the payload may be unaligned
    if (!tc_header_valid_checksum(&header) || header.size != size ||
        header.cluster != node->config.cluster) {
        node->stats.vsr_dropped_invalid += 1;
        return;
    }
    struct node_group *group = node_group_find(node, header.group);
    if (group == NULL) {
        node->stats.vsr_dropped_group += 1;
        return;
    }
    // The core reads headers in place: hand it an aligned copy when the link's buffer is not
    // (frames follow each other at arbitrary offsets).
    if (((uintptr_t)message % _Alignof(struct tc_header)) != 0) {
        memcpy(node->vsr_aligned, message, size);
        message = node->vsr_aligned;
    }
    if (header.command == TC_COMMAND_REPLY || header.command == TC_COMMAND_EVICTION) {
        struct tc_client *client = group_client_find(group, header.client);
        if (client == NULL) {
            node->stats.vsr_dropped_client += 1; // a reply for an earlier incarnation
            return;
        }
        tc_client_on_message(client, message, size);
        return;
    }
    if (!group->hosted) {
        node->stats.vsr_dropped_group += 1;
        return;
    }
    tc_replica_on_message(group->replica, message, size);
}

void node_link_on_frame(void *context, uint16_t from_node, uint8_t kind, const uint8_t *payload,
                        uint32_t size) {
    struct node *node = context;
    if (kind == NODE_LINK_KIND_VSR) {
        route_vsr(node, payload, size);
    } else if (kind == NODE_LINK_KIND_BUS) {
        node_bus_on_frame(node, payload, size);
    } else if (kind == NODE_LINK_KIND_READ) {
        node_remote_on_read(node, from_node, payload, size);
    } else if (kind == NODE_LINK_KIND_PAGE) {
        node_remote_on_page(node, from_node, payload, size);
    } else {
        node->stats.vsr_dropped_invalid += 1;
    }
}

// ------------------------------------------------------------------------------------------------
// Set-up.

static void group_replica_options(struct node *node, struct node_group *group,
                                  uint64_t replica_id) {
    const struct tc_node_config *config = &node->config;
    struct tc_replica_options *options = &group->replica_options;
    memset(options, 0, sizeof(*options));
    options->cluster = config->cluster;
    options->group = group->id;
    options->replica = group->slot;
    options->replica_count = group->replica_count;
    // Epoch 0's configuration, the same on every replica and learner of the group (replica.h).
    for (uint8_t slot = 0; slot < group->replica_count; slot++) {
        options->members[slot] = node_member_id_epoch0(config->cluster, group->id, slot);
    }
    options->replica_id = replica_id;
    options->journal_slot_count = config->journal_slot_count;
    options->seed = config->cluster ^ ((uint64_t)node->node_id << 32) ^ group->id ^ replica_id;
    options->clients_max = config->clients_max;
    options->room = (struct tc_room_config){
        .rooms_max = config->rooms_max,
        .members_max = config->members_max,
        .idempotency_keys_max = config->idempotency_keys_max,
        .messages_max = config->thread_messages_max,
    };
    options->store_segment_size_bytes = config->store_segment_size_bytes;
    options->store_segment_count = config->store_segment_count;
    options->store_reads_max = 4;
    options->room.store_bytes_max = tc_replica_store_budget_bytes(options);
    // A 10 ms commit heartbeat keeps backups' state (reads, docs/node.md §6) fresh when idle,
    // and lets backups suspect a dead primary after 150 ms (the failover budget, docs/node.md §5).
    options->heartbeat_timeout_ticks = 1;
    options->normal_timeout_ticks = NODE_NORMAL_TIMEOUT_TICKS;
    options->view_change_timeout_ticks = NODE_VIEW_CHANGE_TIMEOUT_TICKS;
    options->io = &group->replica_io;
    options->message_hook = node_subs_on_message;
    options->hook_context = node;
    group->replica_io = (struct tc_io){
        .vtable = &replica_vtable,
        .context = group,
        .log_level = node->log_level,
    };
}

static void storage_ready(struct tc_loop_handler *handler, uint32_t ready) {
    (void)ready;
    struct node_group *group = handler->context;
    tc_assert(group->storage_open);
    (void)tc_io_linux_replica_storage_poll(&group->storage);
}

static int group_path(struct node *node, struct node_group *group) {
    const int length = snprintf(group->path, sizeof(group->path), "%s/group-%u",
                                node->config.data_dir, group->id);
    tc_assert(length > 0);
    return (uint32_t)length < sizeof(group->path) ? TC_OK : TC_EINVAL;
}

uint32_t node_group_files_present(struct node *node, const struct node_group *group) {
    uint32_t present = 0;
    for (uint32_t z = 0; z < TC_REPLICA_STORAGE_ZONES; z++) {
        char file[TC_NODE_CONFIG_PATH_SIZE_MAX + 64];
        const int n = snprintf(file, sizeof(file), "%s/group-%u.%s", node->config.data_dir,
                               group->id, zone_names[z]);
        tc_assert(n > 0 && (uint32_t)n < sizeof(file));
        if (access(file, F_OK) == 0) present += 1;
    }
    tc_assert(present <= TC_REPLICA_STORAGE_ZONES);
    return present;
}

// Whether data_dir holds files of a replica of this group that a replacement retired here.
static bool group_retired_here(struct node *node, const struct node_group *group) {
    char prefix[64];
    const int n = snprintf(prefix, sizeof(prefix), "group-%u.retired-", group->id);
    tc_assert(n > 0 && (uint32_t)n < sizeof(prefix));
    DIR *dir = opendir(node->config.data_dir);
    if (dir == NULL) return false;
    bool found = false;
    for (struct dirent *entry = readdir(dir); entry != NULL && !found; entry = readdir(dir)) {
        found = strncmp(entry->d_name, prefix, (size_t)n) == 0;
    }
    (void)closedir(dir);
    return found;
}

// create: no file may exist (format, or a learner); else all must (start).
static int group_storage_open(struct node *node, struct node_group *group, bool create) {
    if (group_path(node, group) != TC_OK) return TC_EINVAL;
    struct tc_storage_zone zones[TC_REPLICA_STORAGE_ZONES];
    tc_replica_storage_zones(&group->replica_options, zones);
    for (uint32_t z = 0; z < TC_REPLICA_STORAGE_ZONES; z++) {
        tc_assert(strcmp(zones[z].name, zone_names[z]) == 0);
    }
    const uint32_t present = node_group_files_present(node, group);
    if (create && present > 0) {
        (void)snprintf(node->error, sizeof(node->error),
                       "format: %s.* exists (group %u); refusing to overwrite a replica's data",
                       group->path, group->id);
        return TC_EEXIST;
    }
    if (!create && present < TC_REPLICA_STORAGE_ZONES) {
        (void)snprintf(node->error, sizeof(node->error),
                       "start: the data files of group %u are missing (%s.*, %u of %u present). "
                       "A replica never restarts with an empty disk under its old identity (it "
                       "could lose acknowledged messages, docs/node.md §2): run `tigerchat-node "
                       "format` only for a new cluster, else replace this replica",
                       group->id, group->path, present, TC_REPLICA_STORAGE_ZONES);
        return TC_ENOENT;
    }
    const int result = tc_io_linux_replica_storage_open(&group->storage, group->path,
                                                        &group->replica_options, create, 0);
    if (result != TC_OK) {
        (void)snprintf(node->error, sizeof(node->error), "group %u: %.1500s", group->id,
                       group->storage.error);
        return result;
    }
    group->storage_open = true;
    return TC_OK;
}

static int group_storage_watch(struct node *node, struct node_group *group) {
    int fds[TC_IO_LINUX_REPLICA_ZONES];
    const uint32_t count = tc_io_linux_replica_storage_event_fds(&group->storage, fds,
                                                                 TC_IO_LINUX_REPLICA_ZONES);
    tc_assert(count <= TC_IO_LINUX_REPLICA_ZONES);
    for (uint32_t i = 0; i < count; i++) {
        tc_loop_handler_init(&group->storage_handlers[i], storage_ready, group);
        const int result = tc_loop_add(&node->loop, &group->storage_handlers[i], fds[i],
                                       TC_LOOP_READ);
        if (result != TC_OK) return result;
    }
    return TC_OK;
}

// The replica's arena: allocated when the node starts hosting the group (at start, or when a
// replacement starts a learner: a configuration change, never per request), freed when it stops.
static int group_replica_init(struct node *node, struct node_group *group) {
    tc_assert(group->replica == NULL && group->replica_memory == NULL);
    const uint64_t size = tc_align_up(tc_replica_memory_size(&group->replica_options), 4096);
    group->replica_memory = aligned_alloc(4096, size);
    if (group->replica_memory == NULL) return TC_ENOMEM;
    memset(group->replica_memory, 0, size);
    struct tc_arena arena;
    tc_arena_init(&arena, group->replica_memory, size);
    const int result = tc_replica_init(&group->replica, &group->replica_options, &arena);
    if (result != TC_OK) {
        (void)snprintf(node->error, sizeof(node->error), "group %u: replica init: %s", group->id,
                       tc_errname(result));
        return result;
    }
    tc_arena_seal(&arena);
    return TC_OK;
}

// Undoes a group_host that failed half-way (the files stay).
static void group_unhost(struct node *node, struct node_group *group) {
    tc_assert(!group->hosted);
    for (uint32_t h = 0; h < TC_IO_LINUX_REPLICA_ZONES; h++) {
        if (group->storage_handlers[h].registered) {
            tc_loop_remove(&node->loop, &group->storage_handlers[h]);
        }
    }
    if (group->storage_open) tc_io_linux_replica_storage_close(&group->storage);
    group->storage_open = false;
    free(group->replica_memory);
    group->replica_memory = NULL;
    group->replica = NULL;
}

// format: `tigerchat-node format` (create the files, nothing runs). create: a learner's files.
static int group_host(struct node *node, struct node_group *group, uint64_t replica_id,
                      bool format, bool create) {
    tc_assert(!group->hosted && !group->closing && group->replica == NULL);
    tc_assert(!format || create);
    group_replica_options(node, group, replica_id);
    const char *invalid = tc_replica_options_invalid(&group->replica_options);
    if (invalid != NULL) {
        (void)snprintf(node->error, sizeof(node->error), "group %u: replica options: %s",
                       group->id, invalid);
        return TC_EINVAL;
    }
    int result = group_storage_open(node, group, create);
    if (result != TC_OK || format) return result;
    result = group_storage_watch(node, group);
    if (result == TC_OK) result = group_replica_init(node, group);
    if (result != TC_OK) group_unhost(node, group);
    return result;
}

// Starts the replica of a group group_host prepared (at start, or a learner at run time).
static void group_open(struct node *node, struct node_group *group) {
    tc_assert(group->replica != NULL && group->storage_open && !group->hosted);
    tc_replica_open(group->replica);
    group->hosted = true;
    group->readable = false; // node_hosts_tick decides once the replica reports its role
    node->group_hosted_count += 1;
    tc_assert(node->group_hosted_count <= node->group_count);
}

int node_group_host_learner(struct node *node, struct node_group *group,
                            const struct node_identity *identity) {
    tc_assert(identity->group == group->id && identity->cluster == node->config.cluster);
    tc_assert(identity->slot < group->replica_count && identity->replica_id != 0);
    group->slot = identity->slot;
    const int result = group_host(node, group, identity->replica_id, false, true);
    if (result != TC_OK) return result;
    group_open(node, group);
    tc_assert(group->replica_options.replica_id == identity->replica_id);
    return TC_OK;
}

struct node_session *node_session_find(struct node_group *group, uint64_t client_id) {
    for (uint32_t i = 0; i < NODE_SESSIONS_PER_GROUP; i++) {
        struct node_session *session = &group->sessions[i];
        if (session->client != NULL && session->client_id == client_id) return session;
    }
    return NULL;
}

// Ready for clients: every session of the edge with the group is registered.
bool node_group_ready(const struct node_group *group) {
    for (uint32_t i = 0; i < NODE_SESSIONS_PER_GROUP; i++) {
        if (!group->sessions[i].registered) return false;
    }
    return true;
}

// A VSR client of the group in `memory` (tc_client_memory_size, allocated on first use) with a
// fresh id: the node id in the top bits routes its replies, the random rest makes every
// incarnation a new session.
static int group_client_init(struct node *node, struct node_group *group, void **memory,
                             struct tc_client **client, uint64_t *client_id) {
    uint64_t random_bits = 0;
    tc_assert(getentropy(&random_bits, sizeof(random_bits)) == 0);
    const uint64_t mask = (1ull << NODE_CLIENT_ID_NODE_SHIFT) - 1;
    *client_id = ((uint64_t)node->node_id << NODE_CLIENT_ID_NODE_SHIFT) | (random_bits & mask);
    if ((*client_id & mask) == 0) *client_id |= 1;
    const struct tc_client_options options = {
        .cluster = node->config.cluster,
        .group = group->id,
        .replica_count = group->replica_count,
        .client_id = *client_id,
        .request_timeout_ticks = NODE_CLIENT_REQUEST_TIMEOUT_TICKS,
        .seed = random_bits ^ group->id,
        .io = &group->client_io,
    };
    const uint64_t size = tc_align_up(tc_client_memory_size(), 64);
    if (*memory == NULL) *memory = aligned_alloc(64, size);
    if (*memory == NULL) return TC_ENOMEM;
    struct tc_arena arena;
    tc_arena_init(&arena, *memory, size);
    const int result = tc_client_init(client, &options, &arena);
    tc_arena_seal(&arena);
    tc_assert(result != TC_OK || tc_client_id(*client) == *client_id);
    return result;
}

// A fresh session (new random client id): at start, and after the group evicted the old one.
int node_session_renew(struct node *node, struct node_session *session) {
    session->registered = false;
    return group_client_init(node, session->group, &session->client_memory, &session->client,
                             &session->client_id);
}

int node_control_renew(struct node *node, struct node_group *group) {
    struct node_control *control = &group->control;
    tc_assert(node->config.controller.port != 0);
    control->submitted = false; // an answer for the old id is dropped by the router
    return group_client_init(node, group, &control->client_memory, &control->client,
                             &control->client_id);
}

static int group_sessions_init(struct node *node, struct node_group *group) {
    group->client_io = (struct tc_io){
        .vtable = &client_vtable,
        .context = group,
        .log_level = node->log_level,
    };
    for (uint32_t i = 0; i < NODE_SESSIONS_PER_GROUP; i++) {
        struct node_session *session = &group->sessions[i];
        session->group = group;
        session->index = i;
        const int result = node_session_renew(node, session);
        if (result != TC_OK) return result;
    }
    // The control client (a reconfigure per replace step) only with a controller.
    if (node->config.controller.port == 0) return TC_OK;
    return node_control_renew(node, group);
}

// Inserts index `index` into group_order (sorted by id; ids are distinct).
static void group_order_insert(struct node *node, uint32_t index) {
    tc_assert(index == node->group_count && node->group_count < node->group_capacity);
    const uint32_t id = node->groups[index].id;
    uint32_t at = node->group_count;
    while (at > 0 && node->groups[node->group_order[at - 1]].id > id) {
        node->group_order[at] = node->group_order[at - 1];
        at--;
    }
    tc_assert(at == 0 || node->groups[node->group_order[at - 1]].id < id);
    node->group_order[at] = index;
    node->group_count += 1;
}

// Groups by id, with the config's members as their route until a topology names them. In topology
// mode there are none yet: room for every group a topology can name.
static int groups_build(struct node *node) {
    const struct tc_node_config *config = &node->config;
    node->group_capacity = node_topology_mode(node) ? NODE_CTL_TOPOLOGY_GROUPS_MAX
                                                    : config->group_count;
    node->group_count = 0;
    node->groups = calloc(node->group_capacity, sizeof(node->groups[0]));
    node->group_order = calloc(node->group_capacity, sizeof(node->group_order[0]));
    if (node->groups == NULL || node->group_order == NULL) return TC_ENOMEM;
    for (uint32_t i = 0; i < config->group_count; i++) {
        struct node_group *group = &node->groups[i];
        group->node = node;
        group->index = i;
        group->id = config->groups[i].id;
        tc_assert(config->groups[i].member_count <= TC_REPLICAS_MAX);
        group->replica_count = (uint8_t)config->groups[i].member_count;
        group->route.replica_count = group->replica_count;
        for (uint8_t slot = 0; slot < group->replica_count; slot++) {
            group->route.members[slot] = config->groups[i].members[slot];
        }
        group_order_insert(node, i);
        // The cached topology (node_ctl_init loaded it) routes from the start.
        const struct node_ctl_topology_group *entry = node_ctl_topology_group(node, group->id);
        if (entry != NULL && node_route_install(&group->route, entry) != TC_OK) {
            node_log(node, TC_LOG_WARN, "group %u: the topology's entry does not fit the config "
                     "(%u members): routing follows the config", group->id, entry->member_count);
        }
    }
    return TC_OK;
}

// A group this node's config lists, whose replica here a replacement retired: its files were
// renamed group-G.retired-<epoch>.*, or the installed topology no longer names this node.
static bool group_replaced_here(struct node *node, const struct node_group *group) {
    if (group_retired_here(node, group)) return true;
    const struct node_ctl_topology_group *entry = node_ctl_topology_group(node, group->id);
    if (entry == NULL) return false;
    const bool target = entry->change.kind == NODE_CTL_CHANGE_REPLACE &&
                        entry->change.to_node == node->node_id;
    return node_route_slot(&group->route, node->node_id) < 0 && !target;
}

// A replica a replacement started here: hosted with its identity file's slot and id, from its
// existing files. Missing or unusable files are never formatted again (amnesia, docs/node.md §14):
// the group is not hosted and the log says why; the node serves the rest.
static int group_start_identity(struct node *node, struct node_group *group,
                                const struct node_identity *identity) {
    tc_assert(identity->group == group->id);
    if (identity->cluster != node->config.cluster || identity->slot >= group->replica_count) {
        node_log(node, TC_LOG_ERROR, "group %u: NOT HOSTED: its identity file names cluster "
                 "%llu slot %u, this node runs cluster %llu with %u slots in the group",
                 group->id, (unsigned long long)identity->cluster, identity->slot,
                 (unsigned long long)node->config.cluster, group->replica_count);
        return TC_OK;
    }
    group->slot = identity->slot;
    const int result = group_host(node, group, identity->replica_id, false, false);
    if (result != TC_OK) {
        node_log(node, TC_LOG_ERROR, "group %u: NOT HOSTED: the replica of its identity file "
                 "(replica id %llu, slot %u, replacement job %llu step %llu) cannot open: %s. A "
                 "replica a replacement started is never formatted again (docs/node.md §14): the "
                 "controller's job must replace it", group->id,
                 (unsigned long long)identity->replica_id, identity->slot,
                 (unsigned long long)identity->job, (unsigned long long)identity->step,
                 node->error);
        node->error[0] = '\0';
        return TC_OK; // not a start-up error: the other groups serve
    }
    group_open(node, group);
    char origin[96] = "an epoch-0 member placed by the controller"; // job 0: node_groups_adopt
    if (identity->job != 0) {
        (void)snprintf(origin, sizeof(origin), "replacement job %llu step %llu",
                       (unsigned long long)identity->job, (unsigned long long)identity->step);
    }
    node_log(node, TC_LOG_INFO, "group %u: hosting replica %llu in slot %u (identity file of %s)",
             group->id, (unsigned long long)identity->replica_id, identity->slot, origin);
    return TC_OK;
}

// Which replica of the group runs here at start: the identity file's, else the config's slot
// (under the epoch-0 id); a config slot a replacement retired is not hosted.
static int group_start(struct node *node, struct node_group *group) {
    char error[NODE_CTL_ERROR_SIZE];
    struct node_identity identity;
    const int rc = node_identity_read(node->config.data_dir, group->id, &identity, error);
    if (rc == TC_OK) return group_start_identity(node, group, &identity);
    if (rc != TC_ENOENT) {
        node_log(node, TC_LOG_ERROR, "group %u: NOT HOSTED: %s; it is never formatted again "
                 "(docs/node.md §14)", group->id, error);
        return TC_OK;
    }
    const struct tc_node_config_group *listed = tc_node_config_group_find(&node->config, group->id);
    tc_assert(listed != NULL);
    const int32_t slot = tc_node_config_group_slot(listed, node->node_id);
    if (slot < 0) return TC_OK;
    if (node_group_files_present(node, group) == 0 && group_replaced_here(node, group)) {
        node_log(node, TC_LOG_INFO, "group %u: not hosted: this node's replica was replaced "
                 "(the topology names other members; retired files keep its data)", group->id);
        return TC_OK;
    }
    group->slot = (uint8_t)slot;
    const uint64_t id = node_member_id_epoch0(node->config.cluster, group->id, group->slot);
    const int result = group_host(node, group, id, false, false);
    if (result == TC_OK) group_open(node, group);
    return result;
}

// `tigerchat-node format`: the files of the config's replicas (epoch-0 identities).
static int group_format(struct node *node, struct node_group *group) {
    const struct tc_node_config_group *listed = tc_node_config_group_find(&node->config, group->id);
    tc_assert(listed != NULL);
    const int32_t slot = tc_node_config_group_slot(listed, node->node_id);
    if (slot < 0) return TC_OK;
    char error[NODE_CTL_ERROR_SIZE];
    struct node_identity identity;
    if (group_retired_here(node, group) ||
        node_identity_read(node->config.data_dir, group->id, &identity, error) != TC_ENOENT) {
        (void)snprintf(node->error, sizeof(node->error), "format: group %u: a replacement "
                       "started or retired a replica of it here (group-%u.identity or "
                       "group-%u.retired-*): refusing to format it under its epoch-0 identity",
                       group->id, group->id, group->id);
        return TC_EEXIST;
    }
    group->slot = (uint8_t)slot;
    const uint64_t id = node_member_id_epoch0(node->config.cluster, group->id, group->slot);
    const int result = group_host(node, group, id, true, true);
    if (result == TC_OK) node->group_hosted_count += 1; // formatted (nothing runs)
    return result;
}

// ------------------------------------------------------------------------------------------------
// Topology mode (docs/node.md §15): groups the controller placed.

static const struct node_ctl_topology_node *topology_node_find(
    const struct node_ctl_topology *topology, uint16_t id) {
    for (uint32_t i = 0; i < topology->node_count; i++) {
        if (topology->nodes[i].id == id) return &topology->nodes[i];
    }
    return NULL;
}

void node_peers_join(struct node *node, const struct node_ctl_topology *topology) {
    if (!node->link_open) return; // node_listen joins them once the link runs
    for (uint32_t i = 0; i < topology->node_count; i++) {
        const struct node_ctl_topology_node *peer = &topology->nodes[i];
        if (peer->id == node->node_id || peer->id >= TC_LINK_NODES_MAX ||
            tc_link_peer_known(&node->link, peer->id)) {
            continue;
        }
        const int rc = tc_link_peer_join(&node->link, peer->id, peer->address_peer);
        if (rc != TC_OK) {
            node_log(node, TC_LOG_WARN, "topology version %llu: node %u '%s' cannot join the "
                     "link: %s", (unsigned long long)topology->version, peer->id,
                     peer->address_peer, node->link.error);
        } else {
            node_log(node, TC_LOG_INFO, "peer node %u '%s' joined the link (topology version "
                     "%llu)", peer->id, peer->address_peer, (unsigned long long)topology->version);
        }
    }
}

// Every member is this node, a peer of the config, or a node of the topology (it joins the link:
// node_peers_join). Node ids beyond the link's cannot be.
static bool group_members_reachable(struct node *node, const struct node_ctl_topology *topology,
                                    const struct node_ctl_topology_group *entry) {
    for (uint32_t i = 0; i < entry->member_count; i++) {
        const uint16_t member = entry->members[i];
        const bool known = member == node->node_id ||
                           tc_node_config_peer_find(&node->config, member) != NULL ||
                           (member < TC_LINK_NODES_MAX && topology_node_find(topology, member));
        if (!known) {
            node_log(node, TC_LOG_ERROR, "group %u: NOT ADOPTED: member node %u is neither a "
                     "peer.N of this node's config nor a node of the topology with an address "
                     "the link can use (ids 1..%u)", entry->id, member, TC_LINK_NODES_MAX - 1u);
            return false;
        }
    }
    return true;
}

// A placed group's epoch-0 replica of this node: formatted on first sight, then its identity file
// (slot, epoch-0 id, job 0) written, then started; later starts go by the identity file. Files
// present without an identity file were formatted here by an adoption that crashed before writing
// it (the replica never ran): they are kept and used. A member of a later epoch without an
// identity file lost its disk: never formatted again (amnesia), the controller must replace it.
static void group_adopt_member(struct node *node, struct node_group *group, uint64_t epoch,
                               uint8_t slot) {
    const uint32_t present = node_group_files_present(node, group);
    if (epoch != 0 || (present != 0 && present != TC_REPLICA_STORAGE_ZONES) ||
        group_retired_here(node, group)) {
        node_log(node, TC_LOG_ERROR, "group %u: NOT HOSTED: the topology names this node in slot "
                 "%u at epoch %llu, and data_dir has no identity file for it (%u of %u data files"
                 "%s): a replica is never formatted again under an identity it may have used "
                 "(docs/node.md §15); replace it (tigerctl drain)", group->id, slot,
                 (unsigned long long)epoch, present, TC_REPLICA_STORAGE_ZONES,
                 group_retired_here(node, group) ? ", retired files" : "");
        return;
    }
    const struct node_identity identity = {
        .cluster = node->config.cluster,
        .group = group->id,
        .slot = slot,
        .replica_id = node_member_id_epoch0(node->config.cluster, group->id, slot),
    };
    group->slot = slot;
    int rc = group_host(node, group, identity.replica_id, false, present == 0);
    char error[NODE_CTL_ERROR_SIZE] = "";
    if (rc == TC_OK) {
        rc = node_identity_write(node->config.data_dir, &identity, error);
        if (rc != TC_OK) group_unhost(node, group); // the files stay: the next start uses them
    }
    if (rc != TC_OK) {
        node_log(node, TC_LOG_ERROR, "group %u: NOT HOSTED: %s%s", group->id, node->error, error);
        node->error[0] = '\0';
        return;
    }
    group_open(node, group);
    node_log(node, TC_LOG_INFO, "group %u: hosting its epoch-0 replica in slot %u (%s, placed by "
             "the controller)", group->id, slot, present == 0 ? "formatted now" : "files kept");
}

static void group_adopt_host(struct node *node, struct node_group *group,
                             const struct node_ctl_topology_group *entry) {
    char error[NODE_CTL_ERROR_SIZE];
    struct node_identity identity;
    const int rc = node_identity_read(node->config.data_dir, group->id, &identity, error);
    if (rc == TC_OK) {
        (void)group_start_identity(node, group, &identity);
        return;
    }
    if (rc != TC_ENOENT) {
        node_log(node, TC_LOG_ERROR, "group %u: NOT HOSTED: %s; it is never formatted again "
                 "(docs/node.md §15)", group->id, error);
        return;
    }
    const int32_t slot = node_route_slot(&group->route, node->node_id);
    if (slot < 0) return; // routed to only (a replace may make it a learner: node_replace.c)
    group_adopt_member(node, group, entry->epoch, (uint8_t)slot);
}

static void group_adopt(struct node *node, const struct node_ctl_topology *topology,
                        const struct node_ctl_topology_group *entry, bool running) {
    tc_assert(node_topology_mode(node) && node_group_find(node, entry->id) == NULL);
    if (node->group_count == node->group_capacity || entry->member_count > TC_REPLICAS_MAX ||
        !group_members_reachable(node, topology, entry)) {
        return;
    }
    struct node_group *group = &node->groups[node->group_count];
    tc_assert(group->node == NULL && group->replica == NULL);
    group->node = node;
    group->index = node->group_count;
    group->id = entry->id;
    group->replica_count = (uint8_t)entry->member_count;
    group->route.replica_count = group->replica_count;
    if (node_route_install(&group->route, entry) != TC_OK) {
        node_log(node, TC_LOG_ERROR, "group %u: NOT ADOPTED: its topology entry is not a valid "
                 "configuration (members %u)", entry->id, entry->member_count);
        memset(group, 0, sizeof(*group));
        return;
    }
    int rc = group_sessions_init(node, group);
    if (rc == TC_OK && running) rc = node_edge_group_init(group);
    if (rc != TC_OK) {
        // Out of memory for a configuration change: the node keeps serving what it has, and
        // tries again with the next topology version.
        node_log(node, TC_LOG_ERROR, "group %u: NOT ADOPTED: %s", entry->id, tc_strerror(rc));
        node_edge_group_deinit(group);
        for (uint32_t s = 0; s < NODE_SESSIONS_PER_GROUP; s++) free(group->sessions[s].client_memory);
        free(group->control.client_memory);
        memset(group, 0, sizeof(*group));
        return;
    }
    group_order_insert(node, group->index);
    group_adopt_host(node, group, entry);
    node_log(node, TC_LOG_INFO, "group %u adopted from the topology: members %u,%u,%u epoch %llu%s",
             group->id, entry->members[0], entry->member_count > 1 ? entry->members[1] : 0,
             entry->member_count > 2 ? entry->members[2] : 0, (unsigned long long)entry->epoch,
             group->hosted ? ", hosted here" : ", routed to");
}

void node_groups_adopt(struct node *node, const struct node_ctl_topology *topology, bool running) {
    if (!node_topology_mode(node)) return;
    for (uint32_t i = 0; i < topology->group_count; i++) {
        if (node_group_find(node, topology->groups[i].id) != NULL) continue;
        group_adopt(node, topology, &topology->groups[i], running);
    }
}

int node_hosts_init(struct node *node, bool format) {
    int result = groups_build(node);
    if (result != TC_OK) return result;
    node->vsr_aligned = format ? NULL : aligned_alloc(16, TC_MESSAGE_SIZE_MAX);
    if (!format && node->vsr_aligned == NULL) return TC_ENOMEM;
    for (uint32_t i = 0; i < NODE_LOCAL_QUEUE_SLOTS && !format; i++) {
        node->local[i].message = aligned_alloc(16, TC_MESSAGE_SIZE_MAX);
        if (node->local[i].message == NULL) return TC_ENOMEM;
    }
    for (uint32_t i = 0; i < node->group_count; i++) {
        struct node_group *group = &node->groups[i];
        result = format ? group_format(node, group) : group_start(node, group);
        if (result == TC_OK && !format) result = group_sessions_init(node, group);
        if (result != TC_OK) return result;
    }
    // Topology mode: the cached topology's groups host and route from the start.
    const struct node_ctl_topology *topology = format ? NULL : node_ctl_topology_installed(node);
    if (topology != NULL) node_groups_adopt(node, topology, false);
    return TC_OK;
}

uint32_t node_hosts_inflight(struct node *node) {
    uint32_t inflight = 0;
    for (uint32_t i = 0; i < node->group_count; i++) {
        if (node->groups[i].storage_open) {
            inflight += tc_io_linux_replica_storage_inflight(&node->groups[i].storage);
        }
    }
    return inflight;
}

void node_hosts_deinit(struct node *node) {
    if (node->groups == NULL) return;
    for (uint32_t i = 0; i < node->group_count; i++) {
        struct node_group *group = &node->groups[i];
        group->hosted = false;
        group->closing = false;
        group_unhost(node, group);
        for (uint32_t s = 0; s < NODE_SESSIONS_PER_GROUP; s++) free(group->sessions[s].client_memory);
        free(group->control.client_memory);
    }
    free(node->groups);
    node->groups = NULL;
    free(node->group_order);
    node->group_order = NULL;
    for (uint32_t i = 0; i < NODE_LOCAL_QUEUE_SLOTS; i++) free(node->local[i].message);
    free(node->vsr_aligned);
}

// ------------------------------------------------------------------------------------------------
// Retirement (docs/node.md §14).

void node_group_retire_begin(struct node *node, struct node_group *group, uint64_t epoch) {
    tc_assert(group->hosted && !group->closing && group->replica != NULL);
    tc_assert(node->group_hosted_count > 0);
    group->hosted = false; // no more ticks, messages or reads; I/O in flight completes
    group->readable = false;
    group->primary = false;
    group->closing = true;
    group->retire_epoch = epoch;
    group->closing_since_ms = node->now_ms;
    group->closing_warned = false;
    node->group_hosted_count -= 1;
}

// group-G.<zone> and group-G.identity -> group-G.retired-<epoch>.*: kept for forensics, and never
// taken for a live replica's files again (start and format check for them).
static void group_files_retire(struct node *node, struct node_group *group) {
    static const char *const names[] = {"journal", "checkpoints", "store",
                                        NODE_IDENTITY_FILE_SUFFIX};
    const char *dir = node->config.data_dir;
    uint32_t renamed = 0;
    for (uint32_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char from[TC_NODE_CONFIG_PATH_SIZE_MAX + 64], to[TC_NODE_CONFIG_PATH_SIZE_MAX + 96];
        (void)snprintf(from, sizeof(from), "%s/group-%u.%s", dir, group->id, names[i]);
        (void)snprintf(to, sizeof(to), "%s/group-%u.retired-%llu.%s", dir, group->id,
                       (unsigned long long)group->retire_epoch, names[i]);
        if (access(from, F_OK) != 0) continue; // no identity file: an epoch-0 replica
        if (access(to, F_OK) == 0 || rename(from, to) != 0) {
            node_log(node, TC_LOG_ERROR, "group %u: retired, but %s cannot become %s: %s (left "
                     "in place)", group->id, from, to, access(to, F_OK) == 0 ? "it exists" :
                     strerror(errno));
            continue;
        }
        renamed += 1;
    }
    if (node_ctl_directory_sync(dir) != TC_OK) {
        node_log(node, TC_LOG_ERROR, "%s: cannot sync the directory: %s", dir, strerror(errno));
    }
    node_log(node, TC_LOG_INFO, "group %u: no longer hosted (replaced at epoch %llu): %u file(s) "
             "renamed group-%u.retired-%llu.*", group->id, (unsigned long long)group->retire_epoch,
             renamed, group->id, (unsigned long long)group->retire_epoch);
}

// A closing replica goes once nothing of it is in flight: storage I/O, store reads.
static void group_retire_step(struct node *node, struct node_group *group) {
    tc_assert(group->closing && !group->hosted && group->replica != NULL);
    const uint32_t inflight = tc_io_linux_replica_storage_inflight(&group->storage);
    const uint32_t reads = tc_store_reads_busy(tc_replica_store(group->replica));
    if (inflight > 0 || reads > 0) {
        if (!group->closing_warned &&
            node->now_ms - group->closing_since_ms > NODE_RETIRE_WAIT_WARN_MS) {
            node_log(node, TC_LOG_WARN, "group %u: retiring: %u storage op(s) and %u store "
                     "read(s) still in flight", group->id, inflight, reads);
            group->closing_warned = true;
        }
        return;
    }
    group->closing = false;
    group_unhost(node, group);
    tc_assert(group->replica == NULL && !group->storage_open);
    group_files_retire(node, group);
    node->stats.replicas_retired += 1;
}

// ------------------------------------------------------------------------------------------------
// Ticks.

// The local replica: its tick, the role the edge reads by, and view hints for the group's clients.
static void group_replica_tick(struct node_group *group) {
    tc_assert(group->hosted && group->replica != NULL);
    tc_replica_tick(group->replica);
    struct tc_replica_status status;
    tc_replica_status_get(group->replica, &status);
    group->primary = status.state == TC_REPLICA_NORMAL && status.primary;
    // Reads are served here while the replica is a member (or recovering as one): a learner's or
    // a retired replica's state is not the group's.
    group->readable = !status.retired &&
                      (status.member || status.state == TC_REPLICA_RECOVERING);
    if (status.state != TC_REPLICA_NORMAL) return;
    // Our replica knows of a new normal view before the group's clients could time out.
    for (uint32_t s = 0; s < NODE_SESSIONS_PER_GROUP; s++) {
        tc_client_view_hint(group->sessions[s].client, status.view);
    }
    if (group->control.client != NULL) tc_client_view_hint(group->control.client, status.view);
}

void node_hosts_tick(struct node *node) {
    for (uint32_t i = 0; i < node->group_count; i++) {
        struct node_group *group = &node->groups[i];
        if (group->closing) group_retire_step(node, group);
        if (group->hosted) group_replica_tick(group);
        for (uint32_t s = 0; s < NODE_SESSIONS_PER_GROUP; s++) {
            tc_client_tick(group->sessions[s].client);
        }
        if (group->control.client != NULL) tc_client_tick(group->control.client);
    }
}
