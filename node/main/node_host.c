// Hosting replicas (docs/node.md §2-§3): the replica of every configured group that lists this
// node, its storage files, its tc_io, the router of incoming VSR frames and the deferred queue of
// same-node deliveries. The edge's VSR clients (one per group) share the io helpers here.
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node.h"
#include "node_remote.h"
#include "tc_arena.h"
#include "tc_assert.h"
#include "tc_err.h"

// ------------------------------------------------------------------------------------------------
// Logging: one line per event, text or JSON (the config chooses), to stderr.

void node_log(struct node *node, enum tc_log_level level, const char *format, ...) {
    static const char *const names[] = {"error", "warn", "info", "debug"};
    tc_assert((uint32_t)level < 4);
    if ((uint32_t)level > (uint32_t)node->log_level) return;
    char line[1024];
    va_list args;
    va_start(args, format);
    (void)vsnprintf(line, sizeof(line), format, args);
    va_end(args);
    const uint64_t now_ns = tc_io_linux_realtime_ns();
    if (node->log_json) {
        // The line is ASCII made by us; quotes in it are escaped minimally.
        char escaped[2048];
        uint32_t used = 0;
        for (const char *c = line; *c != '\0' && used + 2 < sizeof(escaped); c++) {
            if (*c == '"' || *c == '\\') escaped[used++] = '\\';
            escaped[used++] = (*c >= 0x20) ? *c : ' ';
        }
        escaped[used] = '\0';
        fprintf(stderr, "{\"ts_ns\":%llu,\"level\":\"%s\",\"node\":%u,\"msg\":\"%s\"}\n",
                (unsigned long long)now_ns, names[level], node->node_id, escaped);
    } else {
        fprintf(stderr, "ts=%llu.%06llu level=%s node=%u %s\n",
                (unsigned long long)(now_ns / 1000000000u),
                (unsigned long long)((now_ns / 1000u) % 1000000u), names[level],
                node->node_id, line);
    }
}

// ------------------------------------------------------------------------------------------------
// Group lookup.

struct node_group *node_group_find(struct node *node, uint32_t group_id) {
    // Groups are few (<= TC_NODE_CONFIG_GROUPS_MAX) and sorted by id at init: binary search.
    uint32_t low = 0, high = node->group_count;
    while (low < high) {
        const uint32_t middle = low + (high - low) / 2;
        if (node->groups[middle].id < group_id) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    if (low < node->group_count && node->groups[low].id == group_id) return &node->groups[low];
    return NULL;
}

struct node_group *node_room_group(struct node *node, uint64_t room) {
    struct node_group *group = node_group_find(node, tc_node_config_room_group(&node->config, room));
    tc_assert(group != NULL); // the routing function only names configured groups
    return group;
}

// ------------------------------------------------------------------------------------------------
// Deferred local deliveries.

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
            struct node_session *session = node_session_find(group, header->client);
            if (session != NULL) tc_client_on_message(session->client, slot->message, slot->size);
        } else {
            tc_assert(group->hosted);
            tc_replica_on_message(group->replica, slot->message, slot->size);
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

// A slot address resolves to the node listed at that slot; the static topology has one
// configuration, so the epoch names it. Learner addresses have no node yet: dropped.
static void group_send_to_replica(struct node_group *group, uint8_t address,
                                  const uint8_t *message, uint8_t priority, bool from_client) {
    struct node *node = group->node;
    if (address >= group->replica_count) return;
    const uint16_t target = group->members[address];
    if (target == node->node_id) {
        tc_assert(group->hosted);
        tc_assert(from_client || address != group->slot); // a replica never sends to itself
        local_push(node, group->index, false, message);
        return;
    }
    send_to_node(node, target, priority, message);
}

static struct node_group *group_of_io(struct tc_io *io) { return (struct node_group *)io->context; }

static void replica_send_to_replica(struct tc_io *io, uint8_t address, uint32_t epoch,
                                    const uint8_t *message) {
    (void)epoch;
    group_send_to_replica(group_of_io(io), address, message, TC_LINK_PRIORITY_HIGH, false);
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
    (void)epoch;
    group_send_to_replica(group_of_io(io), address, message, TC_LINK_PRIORITY_LOW, true);
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
static void io_log(struct tc_io *io, enum tc_log_level level, const char *line) {
    struct node_group *group = group_of_io(io);
    node_log(group->node, level, "group=%u %s %s", group->id, io == &group->client_io ? "client" :
             "replica", line);
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
        struct node_session *session = node_session_find(group, header.client);
        if (session == NULL) {
            node->stats.vsr_dropped_client += 1; // a reply for an earlier incarnation
            return;
        }
        tc_client_on_message(session->client, message, size);
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

// The epoch-0 member ids are a pure function of (cluster, group, slot), so every node formats
// the same configuration without coordination (docs/node.md §2).
static uint64_t member_id(uint64_t cluster, uint32_t group, uint8_t slot) {
    uint64_t x = cluster * 0x9e3779b97f4a7c15ull ^ ((uint64_t)group << 8) ^ slot;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return (x & ~0xffull) | 0x10u | slot; // never zero, never a learner-style id
}

static void group_replica_options(struct node *node, struct node_group *group) {
    const struct tc_node_config *config = &node->config;
    struct tc_replica_options *options = &group->replica_options;
    memset(options, 0, sizeof(*options));
    options->cluster = config->cluster;
    options->group = group->id;
    options->replica = group->slot;
    options->replica_count = group->replica_count;
    for (uint8_t slot = 0; slot < group->replica_count; slot++) {
        options->members[slot] = member_id(config->cluster, group->id, slot);
    }
    options->replica_id = options->members[group->slot];
    options->journal_slot_count = config->journal_slot_count;
    options->seed = config->cluster ^ ((uint64_t)node->node_id << 32) ^ group->id;
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
    (void)tc_io_linux_replica_storage_poll(&group->storage);
}

static int group_storage_open(struct node *node, struct node_group *group, bool format) {
    int length = snprintf(group->path, sizeof(group->path), "%s/group-%u", node->config.data_dir,
                          group->id);
    if (length < 0 || (uint32_t)length >= sizeof(group->path)) return TC_EINVAL;
    struct tc_storage_zone zones[TC_REPLICA_STORAGE_ZONES];
    tc_replica_storage_zones(&group->replica_options, zones);
    uint32_t present = 0;
    for (uint32_t z = 0; z < TC_REPLICA_STORAGE_ZONES; z++) {
        char file[sizeof(group->path) + 32];
        (void)snprintf(file, sizeof(file), "%s.%s", group->path, zones[z].name);
        if (access(file, F_OK) == 0) present += 1;
    }
    if (format && present > 0) {
        (void)snprintf(node->error, sizeof(node->error),
                       "format: %s.* exists (group %u); refusing to overwrite a replica's data",
                       group->path, group->id);
        return TC_EEXIST;
    }
    if (!format && present < TC_REPLICA_STORAGE_ZONES) {
        (void)snprintf(node->error, sizeof(node->error),
                       "start: the data files of group %u are missing (%s.*, %u of %u present). "
                       "A replica never restarts with an empty disk under its old identity (it "
                       "could lose acknowledged messages, docs/node.md §2): run `tigerchat-node "
                       "format` only for a new cluster, else replace this replica",
                       group->id, group->path, present, TC_REPLICA_STORAGE_ZONES);
        return TC_ENOENT;
    }
    const int result = tc_io_linux_replica_storage_open(&group->storage, group->path,
                                                        &group->replica_options, format, 0);
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

static int group_replica_init(struct node *node, struct node_group *group) {
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

static int group_host(struct node *node, struct node_group *group, bool format) {
    group_replica_options(node, group);
    const char *invalid = tc_replica_options_invalid(&group->replica_options);
    if (invalid != NULL) {
        (void)snprintf(node->error, sizeof(node->error), "group %u: replica options: %s",
                       group->id, invalid);
        return TC_EINVAL;
    }
    int result = group_storage_open(node, group, format);
    if (result != TC_OK || format) return result;
    result = group_storage_watch(node, group);
    if (result == TC_OK) result = group_replica_init(node, group);
    return result;
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

static int session_client_init(struct node *node, struct node_session *session,
                               uint64_t random_bits) {
    struct node_group *group = session->group;
    const uint64_t mask = (1ull << NODE_CLIENT_ID_NODE_SHIFT) - 1;
    session->client_id = ((uint64_t)node->node_id << NODE_CLIENT_ID_NODE_SHIFT) |
                         (random_bits & mask);
    if ((session->client_id & mask) == 0) session->client_id |= 1;
    const struct tc_client_options options = {
        .cluster = node->config.cluster,
        .group = group->id,
        .replica_count = group->replica_count,
        .client_id = session->client_id,
        .request_timeout_ticks = NODE_CLIENT_REQUEST_TIMEOUT_TICKS,
        .seed = random_bits ^ group->id,
        .io = &group->client_io,
    };
    const uint64_t size = tc_align_up(tc_client_memory_size(), 64);
    if (session->client_memory == NULL) session->client_memory = aligned_alloc(64, size);
    if (session->client_memory == NULL) return TC_ENOMEM;
    struct tc_arena arena;
    tc_arena_init(&arena, session->client_memory, size);
    const int result = tc_client_init(&session->client, &options, &arena);
    tc_arena_seal(&arena);
    session->registered = false;
    return result;
}

// A fresh session (new random client id): at start, and after the group evicted the old one.
int node_session_renew(struct node *node, struct node_session *session) {
    uint64_t random_bits = 0;
    tc_assert(getentropy(&random_bits, sizeof(random_bits)) == 0);
    return session_client_init(node, session, random_bits);
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
    return TC_OK;
}

static int compare_groups(const void *a, const void *b) {
    const struct node_group *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

int node_hosts_init(struct node *node, bool format) {
    const struct tc_node_config *config = &node->config;
    node->group_count = config->group_count;
    node->groups = calloc(node->group_count, sizeof(node->groups[0]));
    if (node->groups == NULL) return TC_ENOMEM;
    for (uint32_t i = 0; i < node->group_count; i++) {
        struct node_group *group = &node->groups[i];
        group->node = node;
        group->id = config->groups[i].id;
        tc_assert(config->groups[i].member_count <= TC_REPLICAS_MAX);
        group->replica_count = (uint8_t)config->groups[i].member_count;
        for (uint8_t slot = 0; slot < group->replica_count; slot++) {
            group->members[slot] = config->groups[i].members[slot];
            if (group->members[slot] == node->node_id) {
                group->hosted = true;
                group->slot = slot;
            }
        }
    }
    qsort(node->groups, node->group_count, sizeof(node->groups[0]), compare_groups);
    node->vsr_aligned = format ? NULL : aligned_alloc(16, TC_MESSAGE_SIZE_MAX);
    if (!format && node->vsr_aligned == NULL) return TC_ENOMEM;
    for (uint32_t i = 0; i < NODE_LOCAL_QUEUE_SLOTS && !format; i++) {
        node->local[i].message = aligned_alloc(16, TC_MESSAGE_SIZE_MAX);
        if (node->local[i].message == NULL) return TC_ENOMEM;
    }
    for (uint32_t i = 0; i < node->group_count; i++) {
        struct node_group *group = &node->groups[i];
        group->index = i;
        if (group->hosted) {
            const int result = group_host(node, group, format);
            if (result != TC_OK) return result;
            node->group_hosted_count += 1;
        }
        if (!format) {
            const int result = group_sessions_init(node, group);
            if (result != TC_OK) return result;
        }
    }
    if (format) return TC_OK;
    for (uint32_t i = 0; i < node->group_count; i++) {
        if (node->groups[i].hosted) tc_replica_open(node->groups[i].replica);
    }
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
        for (uint32_t h = 0; h < TC_IO_LINUX_REPLICA_ZONES; h++) {
            if (group->storage_handlers[h].registered) {
                tc_loop_remove(&node->loop, &group->storage_handlers[h]);
            }
        }
        if (group->storage_open) tc_io_linux_replica_storage_close(&group->storage);
        free(group->replica_memory);
        for (uint32_t s = 0; s < NODE_SESSIONS_PER_GROUP; s++) free(group->sessions[s].client_memory);
    }
    free(node->groups);
    node->groups = NULL;
    for (uint32_t i = 0; i < NODE_LOCAL_QUEUE_SLOTS; i++) free(node->local[i].message);
    free(node->vsr_aligned);
}

void node_hosts_tick(struct node *node) {
    for (uint32_t i = 0; i < node->group_count; i++) {
        struct node_group *group = &node->groups[i];
        if (group->hosted) {
            tc_replica_tick(group->replica);
            struct tc_replica_status status;
            tc_replica_status_get(group->replica, &status);
            group->primary = status.state == TC_REPLICA_NORMAL && status.primary;
            // Our replica knows of a new normal view before the edge's client could time out.
            for (uint32_t s = 0; s < NODE_SESSIONS_PER_GROUP && status.state == TC_REPLICA_NORMAL;
                 s++) {
                tc_client_view_hint(group->sessions[s].client, status.view);
            }
        }
        for (uint32_t s = 0; s < NODE_SESSIONS_PER_GROUP; s++) {
            tc_client_tick(group->sessions[s].client);
        }
    }
}
