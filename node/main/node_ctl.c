// The node's controller client (docs/node.md §13): pure builders of the signed register and
// heartbeat messages, the topology verifier, the topology file, the client thread (libcurl), and
// the loop-side half (status snapshot, topology hand-over, move_primary).
#include "node_ctl.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "node.h"
#include "tc_assert.h"
#include "tc_checksum.h"
#include "tc_err.h"

#define JSON_INTEGER_MAX ((UINT64_C(1) << 53) - 1) // canonical JSON integers are exact doubles
#define SIG_SUFFIX_SIZE (sizeof(",\"sig\":\"\"}") - 1u + 128u)
#define TOPOLOGY_FILE "topology.json"
#define FILE_PATH_SIZE (TC_NODE_CONFIG_PATH_SIZE_MAX + 32u)
// The longest status entry (every number at its maximum, the longest state and role names) and a
// comma.
#define STATUS_ENTRY_LONGEST                                                                       \
    "{\"applied\":18446744073709551615,\"commit\":18446744073709551615,\"epoch\":4294967295,"     \
    "\"id\":4294967295,\"op\":18446744073709551615,\"primary\":false,\"replica_id\":"            \
    "\"18446744073709551615\",\"role\":\"learner\",\"slot\":255,\"state\":"                     \
    "\"recovering_head\",\"view\":4294967295},"
#define STATUS_FRAME_LONGEST "{\"connections\":18446744073709551615,\"groups\":[],"             \
                             "\"groups_omitted\":4294967295}"
#define STATUS_ROOM_LONGEST                                                                        \
    "{\"group\":4294967295,\"messages\":9007199254740991,\"room\":\"18446744073709551615\","    \
    "\"seq\":9007199254740991},"
#define STATUS_EXTRA_LONGEST                                                                       \
    "\"commit_p99_us\":9007199254740991,,\"rooms\":[],\"rooms_window_ms\":9007199254740991"
_Static_assert(NODE_CTL_STATUS_GROUPS_MAX * (sizeof(STATUS_ENTRY_LONGEST) - 1) +
                       sizeof(STATUS_FRAME_LONGEST) + sizeof(STATUS_EXTRA_LONGEST) +
                       NODE_CTL_ROOMS_TOP * (sizeof(STATUS_ROOM_LONGEST) - 1) <=
                   NODE_CTL_STATUS_SIZE_MAX,
               "the largest status fits its buffer");
_Static_assert(NODE_CTL_STATUS_SIZE_MAX + 256u + SIG_SUFFIX_SIZE <= NODE_CTL_REQUEST_SIZE_MAX,
               "the largest heartbeat fits the controller's body limit");
_Static_assert(NODE_CTL_REQUEST_SIZE_MAX <= TC_AUDIT_LINE_SIZE_MAX + SIG_SUFFIX_SIZE,
               "the controller's canonical encoder takes every message sent");
_Static_assert(NODE_CTL_TOPOLOGY_GROUPS_MAX >= TC_NODE_CONFIG_GROUPS_MAX, "one entry per group");
_Static_assert(NODE_CTL_MEMBERS_MAX == TC_NODE_CONFIG_GROUP_MEMBERS_MAX, "members by slot");
_Static_assert(NODE_CTL_ADDRESS_SIZE_MAX == TC_LINK_ADDRESS_SIZE_MAX, "a topology address fits the link");

// ------------------------------------------------------------------------------------------------
// A bounded text writer.

struct out {
    char *data;
    uint32_t capacity;
    uint32_t used;
    bool overflow;
};

__attribute__((format(printf, 2, 3))) static void out_printf(struct out *out, const char *format,
                                                             ...) {
    tc_assert(out->capacity > 0);
    tc_assert(out->used < out->capacity);
    if (out->overflow) return;
    va_list args;
    va_start(args, format);
    const int n = vsnprintf(out->data + out->used, out->capacity - out->used, format, args);
    va_end(args);
    tc_assert(n >= 0);
    if ((uint32_t)n >= out->capacity - out->used) {
        out->overflow = true;
        out->data[out->used] = '\0';
        return;
    }
    out->used += (uint32_t)n;
}

// ------------------------------------------------------------------------------------------------
// Pure message builders.

void node_ctl_rooms_offer(struct node_ctl_status_extra *extra,
                          const struct node_ctl_room_load *load) {
    tc_assert(extra->room_count <= NODE_CTL_ROOMS_TOP && load->room != 0);
    uint32_t at = extra->room_count;
    while (at > 0 && (extra->rooms[at - 1].messages < load->messages ||
                      (extra->rooms[at - 1].messages == load->messages &&
                       extra->rooms[at - 1].seq < load->seq))) {
        at--;
    }
    if (at == NODE_CTL_ROOMS_TOP) return; // not among the busiest
    const uint32_t kept = extra->room_count < NODE_CTL_ROOMS_TOP ? extra->room_count
                                                                 : NODE_CTL_ROOMS_TOP - 1;
    memmove(&extra->rooms[at + 1], &extra->rooms[at], (kept - at) * sizeof(extra->rooms[0]));
    extra->rooms[at] = *load;
    extra->room_count = kept + 1;
    for (uint32_t i = 1; i < extra->room_count; i++) {
        tc_assert_hot(extra->rooms[i - 1].messages >= extra->rooms[i].messages);
    }
}

static void status_rooms(struct out *text, const struct node_ctl_status_extra *extra) {
    tc_assert(extra->room_count <= NODE_CTL_ROOMS_TOP);
    out_printf(text, ",\"rooms\":[");
    for (uint32_t i = 0; i < extra->room_count; i++) {
        const struct node_ctl_room_load *r = &extra->rooms[i];
        out_printf(text, "%s{\"group\":%" PRIu32 ",\"messages\":%" PRIu64 ",\"room\":\"%" PRIu64
                   "\",\"seq\":%" PRIu64 "}", i == 0 ? "" : ",", r->group, r->messages, r->room,
                   r->seq);
    }
    out_printf(text, "],\"rooms_window_ms\":%" PRIu64, extra->window_ms);
}

int32_t node_ctl_status_build(const struct node_ctl_group_status *groups, uint32_t group_count,
                              uint64_t connections, const struct node_ctl_status_extra *extra,
                              char *out, uint32_t capacity) {
    tc_assert(groups != NULL || group_count == 0);
    tc_assert(out != NULL && capacity > 0 && capacity <= INT32_MAX);
    const uint32_t count = group_count < NODE_CTL_STATUS_GROUPS_MAX ? group_count
                                                                    : NODE_CTL_STATUS_GROUPS_MAX;
    struct out text = {.data = out, .capacity = capacity};
    out_printf(&text, "{");
    if (extra != NULL && extra->commit_p99_known) {
        if (extra->commit_p99_us > JSON_INTEGER_MAX) return TC_ERANGE;
        out_printf(&text, "\"commit_p99_us\":%" PRIu64 ",", extra->commit_p99_us);
    }
    out_printf(&text, "\"connections\":%" PRIu64 ",\"groups\":[", connections);
    if (connections > JSON_INTEGER_MAX) return TC_ERANGE;
    for (uint32_t i = 0; i < count; i++) {
        const struct node_ctl_group_status *g = &groups[i];
        tc_assert(g->id != 0 && g->replica_id != 0);
        tc_assert(g->role <= NODE_CTL_ROLE_RETIRED);
        if (g->op > JSON_INTEGER_MAX || g->commit > JSON_INTEGER_MAX ||
            g->applied > JSON_INTEGER_MAX) {
            return TC_ERANGE;
        }
        out_printf(&text,
                   "%s{\"applied\":%" PRIu64 ",\"commit\":%" PRIu64 ",\"epoch\":%" PRIu32
                   ",\"id\":%" PRIu32 ",\"op\":%" PRIu64 ",\"primary\":%s,\"replica_id\":\"%"
                   PRIu64 "\",\"role\":\"%s\",\"slot\":%u,\"state\":\"%s\",\"view\":%" PRIu32
                   "}",
                   i == 0 ? "" : ",", g->applied, g->commit, g->epoch, g->id, g->op,
                   g->primary ? "true" : "false", g->replica_id,
                   node_ctl_role_name((enum node_ctl_role)g->role), g->slot,
                   tc_replica_state_name((enum tc_replica_state)g->state), g->view);
    }
    out_printf(&text, "]");
    if (count < group_count) out_printf(&text, ",\"groups_omitted\":%" PRIu32, group_count - count);
    if (extra != NULL && extra->window_ms > 0) {
        for (uint32_t i = 0; i < extra->room_count; i++) {
            if (extra->rooms[i].messages > JSON_INTEGER_MAX || extra->rooms[i].seq > JSON_INTEGER_MAX) {
                return TC_ERANGE;
            }
        }
        if (extra->window_ms > JSON_INTEGER_MAX) return TC_ERANGE;
        status_rooms(&text, extra);
    }
    out_printf(&text, "}");
    if (text.overflow) return TC_ENOSPC;
    tc_assert(text.used == strlen(out));
    return (int32_t)text.used;
}

const char *node_ctl_role_name(enum node_ctl_role role) {
    switch (role) {
    case NODE_CTL_ROLE_MEMBER: return "member";
    case NODE_CTL_ROLE_LEARNER: return "learner";
    case NODE_CTL_ROLE_RETIRED: return "retired";
    }
    tc_assert(false);
    return "";
}

uint64_t node_ctl_time_next(uint64_t time_last_ms, uint64_t time_now_ms) {
    tc_assert(time_last_ms < TC_AUDIT_TIME_MS_MAX);
    const uint64_t next = time_now_ms > time_last_ms ? time_now_ms : time_last_ms + 1;
    tc_assert(next > time_last_ms);
    return next <= TC_AUDIT_TIME_MS_MAX ? next : TC_AUDIT_TIME_MS_MAX;
}

// Strings the builders write between quotes: only characters that need no JSON escape, so the
// objects below are canonical by construction (keys in sorted order, integers, no whitespace).
static bool text_plain(const char *text) {
    for (const char *c = text; *c != '\0'; c++) {
        const bool plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                           (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-' ||
                           *c == ':';
        if (!plain) return false;
    }
    return true;
}

// out holds a canonical object of unsigned_size bytes: signs exactly those bytes under `domain`
// and replaces its final '}' with ,"sig":"<128 hex>"} (the signature as the last member).
static int sign_append(const char *domain, const struct tc_audit_secret_key *secret, char *out,
                       uint32_t capacity, uint32_t unsigned_size, uint32_t *size) {
    tc_assert(unsigned_size > 2 && out[0] == '{' && out[unsigned_size - 1] == '}');
    tc_assert(out[unsigned_size] == '\0');
    if (unsigned_size + (uint32_t)SIG_SUFFIX_SIZE > capacity) return TC_ETOOBIG;
    struct tc_audit_signature signature;
    const int rc = tc_audit_sign_domain(domain, out, unsigned_size, secret, &signature);
    if (rc != 0) return rc;
    char hex[129];
    tc_audit_signature_hex(&signature, hex);
    const uint32_t at = unsigned_size - 1;
    const int n = snprintf(out + at, capacity - at, ",\"sig\":\"%s\"}", hex);
    tc_assert(n > 0 && (uint32_t)n == SIG_SUFFIX_SIZE && (uint32_t)n < capacity - at);
    *size = at + (uint32_t)n;
    tc_assert(out[*size] == '\0');
    return 0;
}

int node_ctl_register_build(const struct node_ctl_identity *identity, uint64_t time_ms,
                            const struct tc_audit_secret_key *secret, char *out,
                            uint32_t capacity, uint32_t *size) {
    tc_assert(identity != NULL && secret != NULL && out != NULL && size != NULL);
    tc_assert(identity->node_id != 0 && capacity > 0);
    tc_assert(text_plain(identity->zone) && text_plain(identity->address_peer));
    tc_assert(text_plain(identity->address_client) && text_plain(identity->address_admin));
    struct tc_audit_public_key derived;
    tc_audit_key_public(secret, &derived);
    tc_assert(memcmp(derived.bytes, identity->public_key.bytes, sizeof(derived.bytes)) == 0);
    char key_hex[TC_AUDIT_KEY_HEX_SIZE + 1];
    tc_audit_key_hex(&identity->public_key, key_hex);
    char time_text[TC_AUDIT_TIME_TEXT_SIZE + 1];
    tc_audit_time_format(time_ms, time_text);
    struct out text = {.data = out, .capacity = capacity};
    out_printf(&text,
               "{\"address_admin\":\"%s\",\"address_client\":\"%s\",\"address_peer\":\"%s\","
               "\"node\":%u,\"public_key\":\"%s\",\"time\":\"%s\",\"zone\":\"%s\"}",
               identity->address_admin, identity->address_client, identity->address_peer,
               identity->node_id, key_hex, time_text, identity->zone);
    if (text.overflow) return TC_ETOOBIG;
    return sign_append(NODE_CTL_DOMAIN_REGISTER, secret, out, capacity, text.used, size);
}

int node_ctl_heartbeat_build(uint16_t node_id, const char *status, uint64_t time_ms,
                             const struct tc_audit_secret_key *secret, char *out,
                             uint32_t capacity, uint32_t *size) {
    tc_assert(node_id != 0 && status != NULL && secret != NULL);
    tc_assert(out != NULL && size != NULL && capacity > 0);
    tc_assert(status[0] == '{' && status[strlen(status) - 1] == '}');
    char time_text[TC_AUDIT_TIME_TEXT_SIZE + 1];
    tc_audit_time_format(time_ms, time_text);
    struct out text = {.data = out, .capacity = capacity};
    out_printf(&text, "{\"node\":%u,\"status\":%s,\"time\":\"%s\"}", node_id, status,
               time_text);
    if (text.overflow) return TC_ETOOBIG;
    return sign_append(NODE_CTL_DOMAIN_HEARTBEAT, secret, out, capacity, text.used, size);
}

bool node_ctl_answer_member(const char *answer, const char *name, char *value,
                            uint32_t value_size) {
    tc_assert(answer != NULL && name != NULL && value != NULL && value_size > 1);
    char pattern[64];
    const int n = snprintf(pattern, sizeof(pattern), "\"%s\"", name);
    tc_assert(n > 2 && (uint32_t)n < sizeof(pattern));
    for (const char *at = strstr(answer, pattern); at != NULL; at = strstr(at + 1, pattern)) {
        const char *c = at + n;
        while (*c == ' ') c++;
        if (*c++ != ':') continue;
        while (*c == ' ') c++;
        const bool quoted = *c == '"';
        if (quoted) c++;
        uint32_t used = 0;
        for (; *c != '\0' && used + 1 < value_size; c++) {
            if (quoted ? (*c == '"' || *c == '\\' || (uint8_t)*c < 0x20)
                       : !((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9'))) {
                break;
            }
            value[used++] = *c;
        }
        value[used] = '\0';
        return quoted ? *c == '"' : used > 0 && (*c == '\0' || *c == ',' || *c == '}' ||
                                                 *c == ' ');
    }
    value[0] = '\0';
    return false;
}

// ------------------------------------------------------------------------------------------------
// The signed topology.

static bool json_u64(const cJSON *item, uint64_t min, uint64_t max, uint64_t *out) {
    tc_assert(min <= max && max <= JSON_INTEGER_MAX);
    if (!cJSON_IsNumber(item)) return false;
    const double value = item->valuedouble;
    if (!(value >= (double)min && value <= (double)max) || floor(value) != value) return false;
    *out = (uint64_t)value;
    tc_assert(*out >= min && *out <= max);
    return true;
}

__attribute__((format(printf, 3, 4))) static int fail(char *error, int rc, const char *format,
                                                      ...) {
    tc_assert(rc < 0);
    va_list args;
    va_start(args, format);
    (void)vsnprintf(error, NODE_CTL_ERROR_SIZE, format, args);
    va_end(args);
    return rc;
}

// body's canonical bytes: hash and signature.
static int topology_authentic(const cJSON *root, const struct tc_audit_public_key *key,
                              char *canonical, uint32_t capacity, char *error) {
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(root, "body");
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(root, "hash");
    const cJSON *signature_hex = cJSON_GetObjectItemCaseSensitive(root, "signature");
    if (!cJSON_IsObject(body) || !cJSON_IsString(hash) || !cJSON_IsString(signature_hex)) {
        return fail(error, TC_EINVAL, "not {\"body\":{..},\"hash\":\"..\",\"signature\":\"..\"}");
    }
    struct tc_audit_signature signature;
    if (tc_audit_signature_from_hex(&signature, signature_hex->valuestring,
                                    strlen(signature_hex->valuestring)) != 0) {
        return fail(error, TC_EINVAL, "signature: not 128 lowercase hex digits");
    }
    char *text = cJSON_PrintUnformatted(body);
    if (text == NULL) return fail(error, TC_ENOMEM, "out of memory");
    const char *detail = NULL;
    uint32_t size = 0;
    int rc = tc_audit_json_canonical(text, canonical, capacity, &size, &detail);
    cJSON_free(text);
    if (rc != 0) return fail(error, rc, "body: %s", detail != NULL ? detail : tc_strerror(rc));
    struct tc_hash256 digest;
    tc_hash256_compute(&digest, canonical, size);
    char digest_hex[2 * sizeof(digest.bytes) + 1];
    tc_hex_encode(digest_hex, digest.bytes, sizeof(digest.bytes));
    if (strcmp(digest_hex, hash->valuestring) != 0) {
        return fail(error, TC_EPERM, "hash %.64s is not BLAKE2b-256 of the body (%s)",
                    hash->valuestring, digest_hex);
    }
    rc = tc_audit_verify_domain(NODE_CTL_DOMAIN_TOPOLOGY, canonical, size, key, &signature);
    if (rc != 0) {
        return fail(error, rc, "%s", rc == TC_EPERM ? "the signature does not verify with the "
                                                      "controller key (controller_key_file)"
                                                    : tc_strerror(rc));
    }
    return 0;
}

// A decimal u64 without sign, leading zeros or other characters.
static bool decimal_u64(const char *text, uint64_t *value) {
    const size_t size = strnlen(text, 21);
    if (size == 0 || size > 20 || (text[0] == '0' && size > 1)) return false;
    uint64_t number = 0;
    for (size_t i = 0; i < size; i++) {
        if (text[i] < '0' || text[i] > '9') return false;
        const uint64_t digit = (uint64_t)(text[i] - '0');
        if (number > (UINT64_MAX - digit) / 10u) return false;
        number = number * 10u + digit;
    }
    *value = number;
    return true;
}

static int change_parse(const cJSON *item, struct node_ctl_change *change, char *error,
                        uint32_t group) {
    memset(change, 0, sizeof(*change));
    if (item == NULL || cJSON_IsNull(item)) return 0;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(item, "kind");
    uint64_t from = 0, to = 0;
    if (!cJSON_IsObject(item) || !cJSON_IsString(kind) ||
        !json_u64(cJSON_GetObjectItemCaseSensitive(item, "from"), 1, UINT16_MAX, &from) ||
        !json_u64(cJSON_GetObjectItemCaseSensitive(item, "to"), 1, UINT16_MAX, &to)) {
        return fail(error, TC_EINVAL, "group %" PRIu32 ": change: needs kind, from and to", group);
    }
    change->kind = strcmp(kind->valuestring, "move_primary") == 0 ? NODE_CTL_CHANGE_MOVE_PRIMARY
                   : strcmp(kind->valuestring, "replace") == 0    ? NODE_CTL_CHANGE_REPLACE
                                                                  : NODE_CTL_CHANGE_OTHER;
    change->from_node = (uint16_t)from;
    change->to_node = (uint16_t)to;
    const cJSON *job = cJSON_GetObjectItemCaseSensitive(item, "job");
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(item, "step");
    if (job != NULL || step != NULL) {
        if (!json_u64(job, 0, JSON_INTEGER_MAX, &change->job) ||
            !json_u64(step, 0, JSON_INTEGER_MAX, &change->step)) {
            return fail(error, TC_EINVAL, "group %" PRIu32 ": change: bad job or step", group);
        }
        change->job_known = true;
    }
    const cJSON *learner = cJSON_GetObjectItemCaseSensitive(item, "learner_id");
    if (learner != NULL) {
        if (!cJSON_IsString(learner) || !decimal_u64(learner->valuestring, &change->learner_id) ||
            change->learner_id == 0 || change->kind != NODE_CTL_CHANGE_REPLACE) {
            return fail(error, TC_EINVAL, "group %" PRIu32 ": change: learner_id is not a "
                        "replica id (a non-zero decimal string, replace only)", group);
        }
        change->learner_known = true;
    }
    return 0;
}

static int group_parse(const cJSON *item, struct node_ctl_topology_group *group, char *error) {
    memset(group, 0, sizeof(*group));
    uint64_t id = 0;
    if (!cJSON_IsObject(item) ||
        !json_u64(cJSON_GetObjectItemCaseSensitive(item, "id"), 1, UINT32_MAX, &id)) {
        return fail(error, TC_EINVAL, "groups: an entry without an id");
    }
    group->id = (uint32_t)id;
    const cJSON *members = cJSON_GetObjectItemCaseSensitive(item, "members");
    const cJSON *primary = cJSON_GetObjectItemCaseSensitive(item, "primary");
    uint64_t primary_node = 0;
    const bool primary_ok = cJSON_IsNull(primary) ||
                            json_u64(primary, 1, UINT16_MAX, &primary_node);
    if (!json_u64(cJSON_GetObjectItemCaseSensitive(item, "epoch"), 0, JSON_INTEGER_MAX,
                  &group->epoch) ||
        !cJSON_IsArray(members) || !primary_ok) {
        return fail(error, TC_EINVAL, "group %" PRIu32 ": needs epoch, members and primary",
                    group->id);
    }
    group->primary_node = (uint16_t)primary_node;
    const int count = cJSON_GetArraySize(members);
    if (count < 1 || count > (int)NODE_CTL_MEMBERS_MAX) {
        return fail(error, TC_EINVAL, "group %" PRIu32 ": %d members", group->id, count);
    }
    const cJSON *member = NULL;
    cJSON_ArrayForEach(member, members) {
        uint64_t node = 0;
        if (!json_u64(member, 1, UINT16_MAX, &node)) {
            return fail(error, TC_EINVAL, "group %" PRIu32 ": a member is not a node id",
                        group->id);
        }
        group->members[group->member_count++] = (uint16_t)node;
    }
    tc_assert(group->member_count == (uint32_t)count);
    return change_parse(cJSON_GetObjectItemCaseSensitive(item, "change"), &group->change, error,
                        group->id);
}

// "slots": [[first,last,group],...] into slot_group; every range within the 4096 slots, naming a
// listed group, no slot twice (the controller writes them so: docs/controller.md §5).
static int slots_parse(const cJSON *slots, struct node_ctl_topology *topology, char *error) {
    if (!cJSON_IsArray(slots)) return fail(error, TC_EINVAL, "body: needs slots");
    const cJSON *range = NULL;
    cJSON_ArrayForEach(range, slots) {
        uint64_t first = 0, last = 0, group = 0;
        const bool shaped = cJSON_IsArray(range) && cJSON_GetArraySize(range) == 3 &&
                            json_u64(cJSON_GetArrayItem(range, 0), 0, TC_ROUTING_SLOTS - 1, &first) &&
                            json_u64(cJSON_GetArrayItem(range, 1), first, TC_ROUTING_SLOTS - 1,
                                     &last) &&
                            json_u64(cJSON_GetArrayItem(range, 2), 1, UINT32_MAX, &group);
        if (!shaped) {
            return fail(error, TC_EINVAL, "slots: a range is not [first,last,group] within "
                        "0..%u", TC_ROUTING_SLOTS - 1);
        }
        bool listed = false;
        for (uint32_t i = 0; i < topology->group_count && !listed; i++) {
            listed = topology->groups[i].id == group;
        }
        if (!listed) {
            return fail(error, TC_EINVAL, "slots: group %" PRIu64 " is not in groups", group);
        }
        for (uint64_t slot = first; slot <= last; slot++) {
            if (topology->slot_group[slot] != 0) {
                return fail(error, TC_EINVAL, "slots: slot %" PRIu64 " routed twice", slot);
            }
            topology->slot_group[slot] = (uint32_t)group;
            topology->slots_routed += 1;
        }
    }
    tc_assert(topology->slots_routed <= TC_ROUTING_SLOTS);
    return 0;
}

// "nodes": the peer address of each (what the link joins); an entry without a usable id and
// address_peer is left out, never an error (the groups and slots are what a node must trust).
static void nodes_parse(const cJSON *nodes, struct node_ctl_topology *topology) {
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, nodes) {
        if (topology->node_count == NODE_CTL_TOPOLOGY_NODES_MAX) return;
        uint64_t id = 0;
        const cJSON *address = cJSON_GetObjectItemCaseSensitive(item, "address_peer");
        if (!json_u64(cJSON_GetObjectItemCaseSensitive(item, "id"), 1, UINT16_MAX, &id) ||
            !cJSON_IsString(address) || strlen(address->valuestring) >= NODE_CTL_ADDRESS_SIZE_MAX) {
            continue;
        }
        struct node_ctl_topology_node *node = &topology->nodes[topology->node_count++];
        node->id = (uint16_t)id;
        (void)snprintf(node->address_peer, sizeof(node->address_peer), "%s", address->valuestring);
    }
}

static int topology_parse(const cJSON *body, uint64_t version_have, const char *cluster,
                          struct node_ctl_topology *topology, char *error) {
    memset(topology, 0, offsetof(struct node_ctl_topology, groups));
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "cluster");
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(body, "groups");
    if (!json_u64(cJSON_GetObjectItemCaseSensitive(body, "version"), 1, JSON_INTEGER_MAX,
                  &topology->version) ||
        !cJSON_IsString(name) || !cJSON_IsArray(groups)) {
        return fail(error, TC_EINVAL, "body: needs version, cluster and groups");
    }
    if (topology->version <= version_have) {
        return fail(error, TC_ERANGE, "version %" PRIu64 " is not newer than the installed %" PRIu64
                    " (topology versions only grow, C6)", topology->version, version_have);
    }
    if (strlen(name->valuestring) > NODE_CTL_CLUSTER_SIZE_MAX) {
        return fail(error, TC_EINVAL, "cluster: longer than %u bytes", NODE_CTL_CLUSTER_SIZE_MAX);
    }
    if (cluster != NULL && cluster[0] != '\0' && strcmp(cluster, name->valuestring) != 0) {
        return fail(error, TC_EPERM, "cluster \"%s\" is not the installed topology's \"%s\"",
                    name->valuestring, cluster);
    }
    (void)snprintf(topology->cluster, sizeof(topology->cluster), "%s", name->valuestring);
    if (cJSON_GetArraySize(groups) > (int)NODE_CTL_TOPOLOGY_GROUPS_MAX) {
        return fail(error, TC_ETOOBIG, "more than %u groups", NODE_CTL_TOPOLOGY_GROUPS_MAX);
    }
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, groups) {
        tc_assert(topology->group_count < NODE_CTL_TOPOLOGY_GROUPS_MAX);
        const int rc = group_parse(item, &topology->groups[topology->group_count], error);
        if (rc != 0) return rc;
        topology->group_count += 1;
    }
    nodes_parse(cJSON_GetObjectItemCaseSensitive(body, "nodes"), topology);
    return slots_parse(cJSON_GetObjectItemCaseSensitive(body, "slots"), topology, error);
}

int node_ctl_topology_verify(const char *response, uint32_t size,
                             const struct tc_audit_public_key *key, uint64_t version_have,
                             const char *cluster, struct node_ctl_topology *topology,
                             char error[NODE_CTL_ERROR_SIZE]) {
    tc_assert(response != NULL && key != NULL && topology != NULL && error != NULL);
    tc_assert(size <= NODE_CTL_RESPONSE_SIZE_MAX);
    error[0] = '\0';
    cJSON *root = cJSON_ParseWithLength(response, size);
    if (root == NULL) return fail(error, TC_EINVAL, "not JSON");
    // A topology body may exceed an audit line (1024 groups, 4096 slot ranges): up to the answer.
    const uint32_t capacity = NODE_CTL_RESPONSE_SIZE_MAX + 1;
    char *canonical = malloc(capacity);
    int rc = canonical == NULL ? fail(error, TC_ENOMEM, "out of memory") : 0;
    if (rc == 0) rc = topology_authentic(root, key, canonical, capacity, error);
    if (rc == 0) {
        rc = topology_parse(cJSON_GetObjectItemCaseSensitive(root, "body"), version_have, cluster,
                            topology, error);
    }
    free(canonical);
    cJSON_Delete(root);
    tc_assert(rc != 0 || topology->version > version_have);
    tc_assert(rc == 0 || error[0] != '\0');
    return rc;
}

bool node_ctl_change_equal(const struct node_ctl_change *a, const struct node_ctl_change *b) {
    tc_assert(a != NULL && b != NULL);
    if (a->kind != b->kind || a->from_node != b->from_node || a->to_node != b->to_node) {
        return false;
    }
    if (a->job_known != b->job_known) return false;
    return !a->job_known || (a->job == b->job && a->step == b->step);
}

enum node_ctl_action node_ctl_change_decide(const struct node_ctl_change *change,
                                            const struct node_ctl_change *acted, uint16_t node_id,
                                            bool primary_normal, int32_t target_slot) {
    tc_assert(node_id != 0);
    tc_assert(target_slot >= -1 && target_slot < (int32_t)NODE_CTL_MEMBERS_MAX);
    if (change == NULL || change->kind == NODE_CTL_CHANGE_NONE) return NODE_CTL_ACTION_NONE;
    if (acted != NULL && node_ctl_change_equal(change, acted)) return NODE_CTL_ACTION_NONE;
    if (change->kind == NODE_CTL_CHANGE_REPLACE) return NODE_CTL_ACTION_NONE; // node_replace.c
    if (change->kind != NODE_CTL_CHANGE_MOVE_PRIMARY) return NODE_CTL_ACTION_UNSUPPORTED;
    // Only the source acts: it hands its primaryship over; the target just follows the view.
    if (change->from_node != node_id || change->to_node == node_id) return NODE_CTL_ACTION_NONE;
    if (target_slot < 0) return NODE_CTL_ACTION_NOT_MEMBER;
    if (!primary_normal) return NODE_CTL_ACTION_WAIT;
    return NODE_CTL_ACTION_TRANSFER;
}

// ------------------------------------------------------------------------------------------------
// The topology file.

static int file_path(char *out, const char *data_dir, const char *name) {
    const int n = snprintf(out, FILE_PATH_SIZE, "%s/%s", data_dir, name);
    tc_assert(n > 0);
    return (uint32_t)n < FILE_PATH_SIZE ? 0 : TC_ETOOBIG;
}

static int write_all(int fd, const char *bytes, uint32_t size) {
    uint32_t done = 0;
    while (done < size) {
        const ssize_t n = write(fd, bytes + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return TC_EIO;
        done += (uint32_t)n;
    }
    tc_assert(done == size);
    return 0;
}

int node_ctl_directory_sync(const char *data_dir) {
    const int fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return TC_EIO;
    const int rc = fsync(fd) == 0 ? 0 : TC_EIO;
    (void)close(fd);
    return rc;
}

int node_ctl_topology_file_write(const char *data_dir, const char *bytes, uint32_t size,
                                 char error[NODE_CTL_ERROR_SIZE]) {
    tc_assert(size <= NODE_CTL_RESPONSE_SIZE_MAX);
    return node_ctl_file_write(data_dir, TOPOLOGY_FILE, bytes, size, error);
}

int node_ctl_file_write(const char *data_dir, const char *name, const char *bytes, uint32_t size,
                        char error[NODE_CTL_ERROR_SIZE]) {
    tc_assert(data_dir != NULL && name != NULL && bytes != NULL && error != NULL);
    tc_assert(size > 0 && size <= NODE_CTL_RESPONSE_SIZE_MAX);
    char path[FILE_PATH_SIZE];
    char tmp[FILE_PATH_SIZE];
    char tmp_name[96];
    const int n = snprintf(tmp_name, sizeof(tmp_name), "%s.tmp", name);
    tc_assert(n > 0 && (uint32_t)n < sizeof(tmp_name));
    if (file_path(path, data_dir, name) != 0 || file_path(tmp, data_dir, tmp_name) != 0) {
        return fail(error, TC_ETOOBIG, "%s/%s: path too long", data_dir, name);
    }
    const int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return fail(error, TC_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    int rc = write_all(fd, bytes, size);
    if (rc == 0 && fsync(fd) != 0) rc = TC_EIO;
    const int saved = errno;
    if (close(fd) != 0 && rc == 0) rc = TC_EIO;
    if (rc == 0 && rename(tmp, path) != 0) rc = TC_EIO;
    if (rc != 0) {
        (void)unlink(tmp);
        return fail(error, rc, "%s: cannot write: %s", path, strerror(saved));
    }
    if (node_ctl_directory_sync(data_dir) != 0) {
        return fail(error, TC_EIO, "%s: cannot sync the directory: %s", data_dir, strerror(errno));
    }
    return 0;
}

int node_ctl_topology_file_read(const char *data_dir, char *buffer, uint32_t capacity,
                                uint32_t *size) {
    return node_ctl_file_read(data_dir, TOPOLOGY_FILE, buffer, capacity, size);
}

int node_ctl_file_read(const char *data_dir, const char *name, char *buffer, uint32_t capacity,
                       uint32_t *size) {
    tc_assert(data_dir != NULL && name != NULL && buffer != NULL && size != NULL);
    tc_assert(capacity > 1);
    *size = 0;
    char path[FILE_PATH_SIZE];
    if (file_path(path, data_dir, name) != 0) return TC_ETOOBIG;
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? TC_ENOENT : TC_EIO;
    int rc = 0;
    for (;;) {
        const ssize_t n = read(fd, buffer + *size, capacity - *size);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) rc = TC_EIO;
        if (n <= 0) break;
        *size += (uint32_t)n;
        if (*size == capacity) {
            rc = TC_ETOOBIG; // capacity - 1 bytes at most, and the NUL
            break;
        }
    }
    (void)close(fd);
    tc_assert(*size <= capacity);
    if (rc != 0) return rc;
    buffer[*size] = '\0';
    return 0;
}

// ------------------------------------------------------------------------------------------------
// The client: state shared by the loop thread and the client thread.

enum ctl_warn {
    WARN_UNREACHABLE = 0,
    WARN_REGISTER,
    WARN_HEARTBEAT,
    WARN_TOPOLOGY,
    WARN_COUNT,
};

// One per loop group (node->groups index): the topology's change and the one last acted on.
struct ctl_group_state {
    // Each room's last seq at the previous pass over it (ctl_rooms_tick), by room index
    // (creation order, stable): allocated (rooms_max entries) the first time this node leads it.
    uint64_t *room_seq;
    uint32_t room_seq_count; // rooms measured (valid entries)
    bool room_seq_valid;     // measured while leading, at the previous measurement
    const struct node_ctl_topology_group *entry; // in topology_loop (NULL: not in it, or unfit)
    bool change_present;
    struct node_ctl_change change;
    bool acted_valid;
    struct node_ctl_change acted;
};

struct node_ctl {
    struct node *node; // node_log and the config: read-only after start
    struct node_ctl_identity identity;
    struct tc_audit_secret_key secret;
    struct tc_audit_public_key controller_key; // controller_key_file's
    char controller_address[TC_NODE_CONFIG_ADDRESS_TEXT_SIZE];
    uint32_t interval_ms;
    uint32_t groups_max; // the config's group count: status and state arrays
    // Thread and synchronisation.
    bool sync_ready, curl_global_ready, thread_started;
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t cond; // CLOCK_MONOTONIC: stop, wakes the client thread
    atomic_bool stop;    // set under the mutex; also read by curl's progress callback
    // Under the mutex.
    bool status_ready;
    uint32_t status_count;
    uint64_t status_connections;
    // The busiest rooms and commit latency (loop: measured every interval_ms; shared: under the
    // mutex; thread: the client's copy for the heartbeat).
    struct node_ctl_status_extra extra_loop, extra_shared, extra_thread;
    uint64_t rooms_measured_ms; // loop time the previous pass ended (0: none)
    bool scan_active;           // a pass over the led groups' rooms is under way (ctl_rooms_tick)
    uint32_t scan_group;        // its next group index and room index
    uint32_t scan_room;
    struct node_ctl_status_extra extra_pass; // the busiest rooms of the pass so far
    struct tc_histogram commit_before; // the edge's commit histogram at that measurement
    struct node_ctl_group_status *status_shared;
    // A fetched topology answer for the loop to verify (cJSON runs on the loop thread only: the
    // edge swaps cJSON's process-wide allocator hooks there, node/edge/edge_json.c). The client
    // thread does not touch `response` until the verdict for raw_seq is in.
    uint64_t raw_seq;
    uint32_t raw_size;
    uint64_t raw_have;
    char raw_cluster[NODE_CTL_CLUSTER_SIZE_MAX + 1];
    uint64_t verdict_seq;
    int verdict_rc;
    char verdict_error[NODE_CTL_ERROR_SIZE];
    uint64_t verdict_version;
    char verdict_cluster[NODE_CTL_CLUSTER_SIZE_MAX + 1];
    uint32_t verdict_group_count;
    uint64_t install_seq; // the verified answer of this raw_seq is on disk: the loop installs it
    struct node_ctl_stats stats; // leadership_transfers excepted (loop-only)
    // Client thread only.
    CURL *curl;
    struct curl_slist *headers;
    char curl_error[CURL_ERROR_SIZE];
    char *response; // NODE_CTL_RESPONSE_SIZE_MAX + 1
    uint32_t response_size;
    bool response_overflow;
    char *request;     // NODE_CTL_REQUEST_SIZE_MAX
    char *status_json; // NODE_CTL_STATUS_SIZE_MAX
    struct node_ctl_group_status *status_thread;
    bool registered;
    bool unreachable_logged; // a warning said so; the next answer says it is back
    uint64_t time_last_ms; // wall clock of the last message (strictly increasing)
    uint64_t topology_version;
    char cluster[NODE_CTL_CLUSTER_SIZE_MAX + 1];
    uint64_t warn_next_ms[WARN_COUNT];
    // Loop thread only.
    struct node_ctl_group_status *status_loop;
    struct node_ctl_topology *candidate; // verified, waiting for install_seq
    uint64_t candidate_seq;
    struct node_ctl_topology *topology_loop; // installed
    uint64_t installed_seq;
    struct ctl_group_state *group_states;
    uint64_t leadership_transfers;
    uint32_t differ_count; // groups whose topology entry does not fit the config, last logged
    uint32_t differ_first;
    uint32_t unknown_count; // topology groups the config does not list, last logged
    uint64_t slots_warned_version; // a slot map that differs from the config's, last logged
    bool refresh_due;       // the topology loaded at start: refreshed on the first tick
};

static uint64_t monotonic_ms(void) { return tc_io_linux_monotonic_ns() / 1000000u; }
static uint64_t wall_ms(void) { return tc_io_linux_realtime_ns() / 1000000u; }

// A repeated warning is logged at most once per NODE_CTL_WARN_INTERVAL_MS.
static bool warn_due(struct node_ctl *ctl, enum ctl_warn which) {
    tc_assert((uint32_t)which < WARN_COUNT);
    const uint64_t now = monotonic_ms();
    if (now < ctl->warn_next_ms[which]) return false;
    ctl->warn_next_ms[which] = now + NODE_CTL_WARN_INTERVAL_MS;
    return true;
}

static void stats_up(struct node_ctl *ctl, bool up) {
    pthread_mutex_lock(&ctl->mutex);
    ctl->stats.up = up;
    pthread_mutex_unlock(&ctl->mutex);
}

// ------------------------------------------------------------------------------------------------
// HTTP (client thread).

static size_t response_write(char *data, size_t size, size_t count, void *context) {
    struct node_ctl *ctl = context;
    tc_assert(size == 1); // libcurl's contract
    tc_assert(ctl->response_size <= NODE_CTL_RESPONSE_SIZE_MAX);
    if (count > NODE_CTL_RESPONSE_SIZE_MAX - ctl->response_size) {
        ctl->response_overflow = true;
        return 0; // curl_easy_perform fails with CURLE_WRITE_ERROR
    }
    memcpy(ctl->response + ctl->response_size, data, count);
    ctl->response_size += (uint32_t)count;
    return count;
}

static int transfer_progress(void *context, curl_off_t down_total, curl_off_t down,
                             curl_off_t up_total, curl_off_t up) {
    (void)down_total, (void)down, (void)up_total, (void)up;
    struct node_ctl *ctl = context;
    return atomic_load(&ctl->stop) ? 1 : 0; // non-zero aborts the transfer: shutting down
}

static int curl_setup(struct node_ctl *ctl) {
    tc_assert(ctl->curl == NULL && ctl->headers == NULL);
    ctl->curl = curl_easy_init();
    ctl->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (ctl->headers != NULL) ctl->headers = curl_slist_append(ctl->headers, "Expect:");
    if (ctl->curl == NULL || ctl->headers == NULL) return TC_ENOMEM;
    CURL *curl = ctl->curl;
    CURLcode c = curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (c == CURLE_OK) c = curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, ctl->curl_error);
    if (c == CURLE_OK) c = curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                                            (long)NODE_CTL_CONNECT_TIMEOUT_MS);
    if (c == CURLE_OK) c = curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)NODE_CTL_TIMEOUT_MS);
    if (c == CURLE_OK) c = curl_easy_setopt(curl, CURLOPT_PROXY, ""); // never an env proxy
    if (c == CURLE_OK) c = curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
    if (c == CURLE_OK) c = curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    if (c == CURLE_OK) c = curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    if (c == CURLE_OK) c = curl_easy_setopt(curl, CURLOPT_USERAGENT, "tigerchat-node");
    if (c == CURLE_OK) c = curl_easy_setopt(curl, CURLOPT_HTTPHEADER, ctl->headers);
    if (c == CURLE_OK) c = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, response_write);
    if (c == CURLE_OK) c = curl_easy_setopt(curl, CURLOPT_WRITEDATA, ctl);
    if (c == CURLE_OK) c = curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    if (c == CURLE_OK) c = curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, transfer_progress);
    if (c == CURLE_OK) c = curl_easy_setopt(curl, CURLOPT_XFERINFODATA, ctl);
    return c == CURLE_OK ? 0 : TC_EINVAL;
}

// One request; body NULL: GET. Returns 0 with *status for any HTTP answer (response NUL-terminated
// in ctl->response), TC_EIO when the controller could not be reached, TC_ETOOBIG for an answer
// over NODE_CTL_RESPONSE_SIZE_MAX. Keeps controller_up.
static int http_call(struct node_ctl *ctl, const char *path, const char *body, uint32_t body_size,
                     long *status) {
    tc_assert(path[0] == '/' && (body == NULL || body_size <= NODE_CTL_REQUEST_SIZE_MAX));
    char url[TC_NODE_CONFIG_ADDRESS_TEXT_SIZE + 64];
    const int n = snprintf(url, sizeof(url), "http://%s%s", ctl->controller_address, path);
    tc_assert(n > 0 && (uint32_t)n < sizeof(url));
    CURL *curl = ctl->curl;
    CURLcode c = curl_easy_setopt(curl, CURLOPT_URL, url);
    if (c == CURLE_OK && body != NULL) {
        c = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)body_size);
        if (c == CURLE_OK) c = curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    } else if (c == CURLE_OK) {
        c = curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    }
    ctl->response_size = 0;
    ctl->response_overflow = false;
    ctl->curl_error[0] = '\0';
    if (c == CURLE_OK) c = curl_easy_perform(curl);
    tc_assert(ctl->response_size <= NODE_CTL_RESPONSE_SIZE_MAX);
    ctl->response[ctl->response_size] = '\0';
    *status = 0;
    if (c == CURLE_OK) c = curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    const bool answered = c == CURLE_OK;
    stats_up(ctl, answered && *status >= 200 && *status < 300);
    if (ctl->response_overflow) {
        if (warn_due(ctl, WARN_UNREACHABLE)) {
            node_log(ctl->node, TC_LOG_WARN, "controller %s: an answer to %s is larger than %u "
                     "bytes: refused", ctl->controller_address, path, NODE_CTL_RESPONSE_SIZE_MAX);
        }
        return TC_ETOOBIG;
    }
    if (!answered) {
        if (!atomic_load(&ctl->stop) && warn_due(ctl, WARN_UNREACHABLE)) {
            node_log(ctl->node, TC_LOG_WARN, "controller %s unreachable (%s); retrying every %u "
                     "ms, the node keeps serving", ctl->controller_address,
                     ctl->curl_error[0] != '\0' ? ctl->curl_error : curl_easy_strerror(c),
                     ctl->interval_ms);
            ctl->unreachable_logged = true;
        }
        return TC_EIO;
    }
    if (ctl->unreachable_logged) {
        node_log(ctl->node, TC_LOG_INFO, "controller %s reachable again",
                 ctl->controller_address);
        ctl->unreachable_logged = false;
    }
    return 0;
}

// A decimal integer of a controller's answer, at most 2^53 - 1.
static bool number_parse(const char *text, uint64_t *value) {
    if (text[0] == '\0' || (text[0] == '0' && text[1] != '\0')) return false;
    uint64_t number = 0;
    for (const char *c = text; *c != '\0'; c++) {
        if (*c < '0' || *c > '9') return false;
        number = number * 10u + (uint64_t)(*c - '0');
        if (number > JSON_INTEGER_MAX) return false;
    }
    *value = number;
    return true;
}

// The answer for a log line: at most 160 bytes, anything but printable ASCII as '?'.
static void answer_snippet(const struct node_ctl *ctl, char *out, uint32_t out_size) {
    tc_assert(out_size > 1);
    uint32_t used = 0;
    for (uint32_t i = 0; i < ctl->response_size && used + 1 < out_size && used < 160; i++) {
        const char c = ctl->response[i];
        out[used++] = (c >= 0x20 && c <= 0x7e) ? c : '?';
    }
    out[used] = '\0';
}

// The "error" code of a refusal ("" when the answer has none).
static void answer_error(const struct node_ctl *ctl, char *code, uint32_t code_size) {
    if (!node_ctl_answer_member(ctl->response, "error", code, code_size)) code[0] = '\0';
}

// ------------------------------------------------------------------------------------------------
// The client thread's steps. No cJSON here (see raw_seq): messages are built canonical by
// construction and answers are read with node_ctl_answer_member.

static void ctl_register(struct node_ctl *ctl) {
    tc_assert(!ctl->registered);
    ctl->time_last_ms = node_ctl_time_next(ctl->time_last_ms, wall_ms());
    uint32_t size = 0;
    const int rc = node_ctl_register_build(&ctl->identity, ctl->time_last_ms, &ctl->secret,
                                           ctl->request, NODE_CTL_REQUEST_SIZE_MAX, &size);
    tc_assert(rc == 0); // bounded fields, checked by the config
    long status = 0;
    if (http_call(ctl, "/v1/register", ctl->request, size, &status) != 0) return;
    const struct node_ctl_identity *id = &ctl->identity;
    char snippet[192];
    answer_snippet(ctl, snippet, sizeof(snippet));
    if (status == 200) {
        ctl->registered = true;
        node_log(ctl->node, TC_LOG_INFO, "controller %s: registered as node %u (%s)",
                 ctl->controller_address, id->node_id, snippet);
        return;
    }
    char code[64];
    answer_error(ctl, code, sizeof(code));
    if (!warn_due(ctl, WARN_REGISTER)) return;
    if (status == 403 && strcmp(code, "unknown_node") == 0) {
        node_log(ctl->node, TC_LOG_WARN,
                 "controller does not know node %u: tigerctl nodes add --id %u --node-key %s.pub "
                 "--zone '%s' --peer %s --client %s --admin %s (or start the controller with "
                 "--auto-accept-nodes); retrying every %u ms",
                 id->node_id, id->node_id, ctl->node->config.node_key_file, id->zone,
                 id->address_peer, id->address_client, id->address_admin, ctl->interval_ms);
        return;
    }
    node_log(ctl->node, TC_LOG_WARN, "controller %s refused to register node %u: HTTP %ld %s; "
             "retrying every %u ms", ctl->controller_address, id->node_id, status, snippet,
             ctl->interval_ms);
}

// The loop's latest status snapshot as JSON in ctl->status_json; false before the first one.
static bool ctl_status_take(struct node_ctl *ctl) {
    pthread_mutex_lock(&ctl->mutex);
    const bool ready = ctl->status_ready;
    const uint32_t count = ctl->status_count;
    const uint64_t connections = ctl->status_connections;
    tc_assert(count <= ctl->groups_max);
    if (ready) memcpy(ctl->status_thread, ctl->status_shared, count * sizeof(*ctl->status_thread));
    ctl->extra_thread = ctl->extra_shared;
    pthread_mutex_unlock(&ctl->mutex);
    if (!ready) return false;
    const int32_t size = node_ctl_status_build(ctl->status_thread, count, connections,
                                               &ctl->extra_thread, ctl->status_json,
                                               NODE_CTL_STATUS_SIZE_MAX);
    tc_assert(size != TC_ENOSPC); // NODE_CTL_STATUS_GROUPS_MAX bounds it (static assert)
    if (size < 0 && warn_due(ctl, WARN_HEARTBEAT)) {
        node_log(ctl->node, TC_LOG_ERROR, "heartbeat not sent: an op or count beyond 2^53");
    }
    return size > 0;
}

static void heartbeat_refused(struct node_ctl *ctl, long status) {
    char code[64], snippet[192];
    answer_error(ctl, code, sizeof(code));
    answer_snippet(ctl, snippet, sizeof(snippet));
    // Not known (any more), or known with another key: register again, which says why.
    const bool unknown = (status == 403 && strcmp(code, "unknown_node") == 0) || status == 401;
    if (unknown) ctl->registered = false;
    if (!warn_due(ctl, WARN_HEARTBEAT)) return;
    node_log(ctl->node, TC_LOG_WARN, "controller %s refused a heartbeat: HTTP %ld %s%s",
             ctl->controller_address, status, snippet, unknown ? "; registering again" : "");
}

// Sends a heartbeat; 0 with the controller's topology version.
static int ctl_heartbeat(struct node_ctl *ctl, uint64_t *topology_version) {
    tc_assert(ctl->registered);
    if (!ctl_status_take(ctl)) return TC_EAGAIN;
    ctl->time_last_ms = node_ctl_time_next(ctl->time_last_ms, wall_ms());
    uint32_t size = 0;
    int rc = node_ctl_heartbeat_build(ctl->identity.node_id, ctl->status_json, ctl->time_last_ms,
                                      &ctl->secret, ctl->request, NODE_CTL_REQUEST_SIZE_MAX,
                                      &size);
    tc_assert(rc == 0); // the status is bounded to fit (static assert)
    long status = 0;
    rc = http_call(ctl, "/v1/heartbeat", ctl->request, size, &status);
    if (rc != 0) return rc;
    if (status != 200) {
        heartbeat_refused(ctl, status);
        return TC_EPERM;
    }
    pthread_mutex_lock(&ctl->mutex);
    ctl->stats.heartbeats += 1;
    pthread_mutex_unlock(&ctl->mutex);
    char value[24];
    const bool valid = node_ctl_answer_member(ctl->response, "topology_version", value,
                                              sizeof(value)) &&
                       number_parse(value, topology_version);
    if (!valid && warn_due(ctl, WARN_HEARTBEAT)) {
        char snippet[192];
        answer_snippet(ctl, snippet, sizeof(snippet));
        node_log(ctl->node, TC_LOG_WARN, "controller %s: heartbeat answer without "
                 "topology_version: %s", ctl->controller_address, snippet);
    }
    return valid ? 0 : TC_EINVAL;
}

// Hands ctl->response to the loop thread, which verifies it (node_ctl_topology_verify, into its
// candidate), and waits for the verdict. TC_EAGAIN when stopping.
static int ctl_topology_check(struct node_ctl *ctl, char error[NODE_CTL_ERROR_SIZE],
                              uint64_t *version, uint32_t *group_count) {
    pthread_mutex_lock(&ctl->mutex);
    tc_assert(ctl->verdict_seq == ctl->raw_seq);
    ctl->raw_size = ctl->response_size;
    ctl->raw_have = ctl->topology_version;
    (void)snprintf(ctl->raw_cluster, sizeof(ctl->raw_cluster), "%s", ctl->cluster);
    ctl->raw_seq += 1;
    while (ctl->verdict_seq != ctl->raw_seq && !atomic_load(&ctl->stop)) {
        tc_assert(pthread_cond_wait(&ctl->cond, &ctl->mutex) == 0);
    }
    int rc = TC_EAGAIN;
    if (ctl->verdict_seq == ctl->raw_seq) {
        rc = ctl->verdict_rc;
        (void)snprintf(error, NODE_CTL_ERROR_SIZE, "%s", ctl->verdict_error);
        *version = ctl->verdict_version;
        *group_count = ctl->verdict_group_count;
        if (rc == 0) {
            (void)snprintf(ctl->cluster, sizeof(ctl->cluster), "%s", ctl->verdict_cluster);
        }
    }
    pthread_mutex_unlock(&ctl->mutex);
    return rc;
}

// The verified answer is on disk: the loop installs it; the client asks with its version next.
static void ctl_topology_install(struct node_ctl *ctl, uint64_t version, uint32_t group_count,
                                 const char *source) {
    tc_assert(version > ctl->topology_version); // C6
    ctl->topology_version = version;
    pthread_mutex_lock(&ctl->mutex);
    tc_assert(ctl->verdict_seq == ctl->raw_seq && ctl->verdict_rc == 0);
    ctl->install_seq = ctl->raw_seq;
    ctl->stats.topology_version = version;
    pthread_mutex_unlock(&ctl->mutex);
    node_log(ctl->node, TC_LOG_INFO, "topology version %" PRIu64 " installed from %s (cluster "
             "\"%s\", %u groups)", version, source, ctl->cluster, group_count);
}

static void ctl_topology_fetch(struct node_ctl *ctl) {
    char path[64];
    (void)snprintf(path, sizeof(path), "/v1/topology?have=%" PRIu64, ctl->topology_version);
    long status = 0;
    if (http_call(ctl, path, NULL, 0, &status) != 0) return;
    if (status == 404) return; // no topology yet
    char error[NODE_CTL_ERROR_SIZE];
    char value[8];
    int rc = 0;
    if (status != 200) {
        char snippet[192];
        answer_snippet(ctl, snippet, sizeof(snippet));
        rc = fail(error, TC_EIO, "HTTP %ld: %s", status, snippet);
    } else if (node_ctl_answer_member(ctl->response, "unchanged", value, sizeof(value)) &&
               strcmp(value, "true") == 0) {
        return;
    }
    uint64_t version = 0;
    uint32_t group_count = 0;
    if (rc == 0) rc = ctl_topology_check(ctl, error, &version, &group_count);
    if (rc == TC_EAGAIN) return; // stopping
    if (rc == 0) {
        rc = node_ctl_topology_file_write(ctl->node->config.data_dir, ctl->response,
                                          ctl->response_size, error);
    }
    if (rc != 0) {
        if (warn_due(ctl, WARN_TOPOLOGY)) {
            node_log(ctl->node, rc == TC_ERANGE ? TC_LOG_WARN : TC_LOG_ERROR,
                     "controller %s: topology not installed (keeping version %" PRIu64 "): %s",
                     ctl->controller_address, ctl->topology_version, error);
        }
        return;
    }
    ctl_topology_install(ctl, version, group_count, ctl->controller_address);
}

static void ctl_step(struct node_ctl *ctl) {
    if (!ctl->registered) ctl_register(ctl);
    if (!ctl->registered) return;
    uint64_t version = 0;
    if (ctl_heartbeat(ctl, &version) != 0) return;
    if (version > ctl->topology_version) ctl_topology_fetch(ctl);
}

static struct timespec timespec_of_ms(uint64_t ms) {
    return (struct timespec){.tv_sec = (time_t)(ms / 1000u),
                             .tv_nsec = (long)((ms % 1000u) * 1000000u)};
}

static void *ctl_thread(void *context) {
    struct node_ctl *ctl = context;
    uint64_t next_ms = monotonic_ms();
    pthread_mutex_lock(&ctl->mutex);
    while (!atomic_load(&ctl->stop)) {
        const uint64_t now = monotonic_ms();
        if (now < next_ms) {
            const struct timespec deadline = timespec_of_ms(next_ms);
            const int rc = pthread_cond_timedwait(&ctl->cond, &ctl->mutex, &deadline);
            tc_assert(rc == 0 || rc == ETIMEDOUT);
            continue;
        }
        pthread_mutex_unlock(&ctl->mutex);
        ctl_step(ctl);
        next_ms += ctl->interval_ms;
        const uint64_t after = monotonic_ms();
        if (next_ms < after) next_ms = after; // a slow step: the next one at once
        pthread_mutex_lock(&ctl->mutex);
    }
    pthread_mutex_unlock(&ctl->mutex);
    return NULL;
}

// ------------------------------------------------------------------------------------------------
// Set-up and tear-down (main thread).

int node_ctl_format_key(struct node *node) {
    const char *path = node->config.node_key_file;
    if (path[0] == '\0') {
        printf("node key: not created: data_dir is too long for the default <data_dir>/%s; set "
               "node_key_file\n", TC_NODE_CONFIG_NODE_KEY_FILE_DEFAULT);
        return TC_OK;
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        printf("node key: %s (exists, kept)\n", path);
        return TC_OK;
    }
    struct tc_audit_public_key key;
    const int rc = tc_audit_keygen(path, &key);
    if (rc == TC_EEXIST) {
        (void)snprintf(node->error, sizeof(node->error), "node_key_file %s: %s.pub exists "
                       "without its secret key; remove it, or set node_key_file", path, path);
        return rc;
    }
    if (rc != TC_OK) {
        (void)snprintf(node->error, sizeof(node->error), "node_key_file %s: cannot create it: %s",
                       path, tc_strerror(rc));
        return rc;
    }
    char hex[TC_AUDIT_KEY_HEX_SIZE + 1];
    tc_audit_key_hex(&key, hex);
    printf("node key: created %s (public key %s, also in %s.pub)\n", path, hex, path);
    return TC_OK;
}

static int ctl_key_load(struct node *node, struct node_ctl *ctl) {
    const char *path = node->config.node_key_file;
    tc_assert(path[0] != '\0'); // the config requires it with a controller
    const int rc = tc_audit_key_load_secret(path, &ctl->secret);
    if (rc == TC_OK) return TC_OK;
    const char *why = rc == TC_ENOENT ? "cannot read: No such file or directory. The node signs "
                                        "its registration and heartbeats with it: create it with "
                                        "`tigerchat-node format` (a new node) or `tigerctl keygen "
                                        "--out FILE`"
                      : rc == TC_EPERM ? "readable or writable by group or others (chmod 600 it)"
                      : rc == TC_EINVAL ? "not a secret key file (tigerchat-ed25519-secret-v1 "
                                          "<hex>, as written by tigerctl keygen)"
                                        : tc_strerror(rc);
    (void)snprintf(node->error, sizeof(node->error), "node_key_file \"%s\": %s", path, why);
    return rc;
}

static void ctl_identity(struct node *node, struct node_ctl *ctl) {
    const struct tc_node_config *config = &node->config;
    struct node_ctl_identity *id = &ctl->identity;
    id->node_id = config->node_id;
    (void)snprintf(id->zone, sizeof(id->zone), "%s", config->zone);
    // Peers reach this node at its peer.N address (listen_peer may be *); clients and admins at
    // the listen addresses as configured.
    const struct tc_node_config_peer *self = tc_node_config_peer_find(config, config->node_id);
    tc_assert(self != NULL); // checked by the config
    tc_assert(tc_node_config_address_format(&self->address, id->address_peer,
                                            sizeof(id->address_peer)) > 0);
    tc_assert(tc_node_config_address_format(&config->listen_client, id->address_client,
                                            sizeof(id->address_client)) > 0);
    tc_assert(tc_node_config_address_format(&config->listen_admin, id->address_admin,
                                            sizeof(id->address_admin)) > 0);
    tc_assert(tc_node_config_address_format(&config->controller, ctl->controller_address,
                                            sizeof(ctl->controller_address)) > 0);
    tc_audit_key_public(&ctl->secret, &id->public_key);
    memcpy(ctl->controller_key.bytes, config->controller_key, sizeof(ctl->controller_key.bytes));
    ctl->interval_ms = config->controller_interval_ms;
    tc_assert(ctl->interval_ms >= 200 && ctl->interval_ms <= 60000);
}

static int ctl_alloc(struct node_ctl *ctl, uint32_t groups_max) {
    tc_assert(groups_max >= 1 && groups_max <= TC_NODE_CONFIG_GROUPS_MAX);
    ctl->groups_max = groups_max;
    ctl->response = malloc(NODE_CTL_RESPONSE_SIZE_MAX + 1);
    ctl->request = malloc(NODE_CTL_REQUEST_SIZE_MAX);
    ctl->status_json = malloc(NODE_CTL_STATUS_SIZE_MAX);
    ctl->status_shared = calloc(groups_max, sizeof(*ctl->status_shared));
    ctl->status_thread = calloc(groups_max, sizeof(*ctl->status_thread));
    ctl->status_loop = calloc(groups_max, sizeof(*ctl->status_loop));
    ctl->group_states = calloc(groups_max, sizeof(*ctl->group_states));
    ctl->candidate = calloc(1, sizeof(*ctl->candidate));
    ctl->topology_loop = calloc(1, sizeof(*ctl->topology_loop));
    const bool ok = ctl->response != NULL && ctl->request != NULL && ctl->status_json != NULL &&
                    ctl->status_shared != NULL && ctl->status_thread != NULL &&
                    ctl->status_loop != NULL && ctl->group_states != NULL &&
                    ctl->candidate != NULL && ctl->topology_loop != NULL;
    return ok ? TC_OK : TC_ENOMEM;
}

static int ctl_sync_init(struct node_ctl *ctl) {
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0) return TC_ENOMEM;
    int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 ? 0 : TC_EINVAL;
    if (rc == 0 && pthread_cond_init(&ctl->cond, &attr) != 0) rc = TC_ENOMEM;
    (void)pthread_condattr_destroy(&attr);
    if (rc != 0) return rc;
    if (pthread_mutex_init(&ctl->mutex, NULL) != 0) {
        (void)pthread_cond_destroy(&ctl->cond);
        return TC_ENOMEM;
    }
    atomic_init(&ctl->stop, false);
    ctl->sync_ready = true;
    return 0;
}

static void topology_copy(struct node_ctl_topology *to, const struct node_ctl_topology *from) {
    tc_assert(from->group_count <= NODE_CTL_TOPOLOGY_GROUPS_MAX);
    memcpy(to, from, offsetof(struct node_ctl_topology, groups));
    memcpy(to->groups, from->groups, from->group_count * sizeof(from->groups[0]));
}

// data_dir/topology.json from an earlier run: verified like a fresh one; a bad one is ignored.
// Before the threads start (no cJSON hooks swapped yet), so it is verified here directly.
static void ctl_topology_load(struct node *node, struct node_ctl *ctl) {
    tc_assert(!ctl->thread_started && ctl->topology_version == 0);
    uint32_t size = 0;
    int rc = node_ctl_topology_file_read(node->config.data_dir, ctl->response,
                                         NODE_CTL_RESPONSE_SIZE_MAX + 1, &size);
    if (rc == TC_ENOENT) return;
    char error[NODE_CTL_ERROR_SIZE];
    if (rc != 0) (void)snprintf(error, sizeof(error), "cannot read: %s", tc_strerror(rc));
    if (rc == 0) {
        rc = node_ctl_topology_verify(ctl->response, size, &ctl->controller_key, 0, NULL,
                                      ctl->candidate, error);
    }
    if (rc != 0) {
        node_log(node, TC_LOG_WARN, "%s/%s ignored (fetching a fresh one): %s",
                 node->config.data_dir, TOPOLOGY_FILE, error);
        return;
    }
    // As if the loop had verified it (raw_seq 1) and the client had installed it, and the loop
    // had taken it: the replicas start (node_hosts_init) and route by it at once.
    ctl->raw_seq = ctl->verdict_seq = ctl->candidate_seq = 1;
    (void)snprintf(ctl->cluster, sizeof(ctl->cluster), "%s", ctl->candidate->cluster);
    ctl_topology_install(ctl, ctl->candidate->version, ctl->candidate->group_count,
                         TOPOLOGY_FILE);
    topology_copy(ctl->topology_loop, ctl->candidate);
    ctl->installed_seq = ctl->install_seq;
    ctl->refresh_due = true;
}

int node_ctl_init(struct node *node) {
    tc_assert(node->ctl == NULL);
    const struct tc_node_config *config = &node->config;
    if (config->controller.port == 0) return TC_OK;
    struct node_ctl *ctl = calloc(1, sizeof(*ctl));
    if (ctl == NULL) return TC_ENOMEM;
    node->ctl = ctl;
    ctl->node = node;
    tc_histogram_init(&ctl->commit_before, &tc_histogram_layout_commit);
    int rc = ctl_key_load(node, ctl);
    if (rc != TC_OK) return rc;
    ctl_identity(node, ctl);
    // One status and state entry per group the node can know (topology mode: any it is given).
    rc = ctl_alloc(ctl, config->group_count > 0 ? config->group_count
                                                : NODE_CTL_TOPOLOGY_GROUPS_MAX);
    if (rc == TC_OK) rc = ctl_sync_init(ctl);
    if (rc == TC_OK && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) rc = TC_EIO;
    if (rc == TC_OK) ctl->curl_global_ready = true;
    if (rc == TC_OK) rc = curl_setup(ctl);
    if (rc != TC_OK) {
        (void)snprintf(node->error, sizeof(node->error), "controller client: %s",
                       tc_strerror(rc));
        return rc;
    }
    ctl->stats.configured = true;
    ctl_topology_load(node, ctl);
    char key_hex[TC_AUDIT_KEY_HEX_SIZE + 1];
    tc_audit_key_hex(&ctl->identity.public_key, key_hex);
    node_log(node, TC_LOG_INFO, "controller %s: node key %s (public %s), zone '%s', heartbeat "
             "every %u ms", ctl->controller_address, config->node_key_file, key_hex,
             ctl->identity.zone, ctl->interval_ms);
    return TC_OK;
}

int node_ctl_start(struct node *node) {
    struct node_ctl *ctl = node->ctl;
    if (ctl == NULL) return TC_OK;
    tc_assert(ctl->sync_ready && ctl->curl != NULL);
    tc_assert(!ctl->thread_started);
    if (pthread_create(&ctl->thread, NULL, ctl_thread, ctl) != 0) {
        (void)snprintf(node->error, sizeof(node->error), "controller client: no thread");
        return TC_ENOMEM;
    }
    ctl->thread_started = true;
    return TC_OK;
}

void node_ctl_deinit(struct node *node) {
    struct node_ctl *ctl = node->ctl;
    if (ctl == NULL) return;
    if (ctl->thread_started) {
        pthread_mutex_lock(&ctl->mutex);
        atomic_store(&ctl->stop, true);
        pthread_cond_signal(&ctl->cond);
        pthread_mutex_unlock(&ctl->mutex);
        tc_assert(pthread_join(ctl->thread, NULL) == 0);
        ctl->thread_started = false;
    }
    if (ctl->curl != NULL) curl_easy_cleanup(ctl->curl);
    curl_slist_free_all(ctl->headers);
    if (ctl->curl_global_ready) curl_global_cleanup();
    if (ctl->sync_ready) {
        (void)pthread_cond_destroy(&ctl->cond);
        (void)pthread_mutex_destroy(&ctl->mutex);
    }
    tc_audit_secret_key_wipe(&ctl->secret);
    free(ctl->response), free(ctl->request), free(ctl->status_json);
    free(ctl->status_shared), free(ctl->status_thread), free(ctl->status_loop);
    for (uint32_t i = 0; i < ctl->groups_max && ctl->group_states != NULL; i++) {
        free(ctl->group_states[i].room_seq);
    }
    free(ctl->group_states), free(ctl->candidate), free(ctl->topology_loop);
    free(ctl);
    node->ctl = NULL;
}

void node_ctl_stats_get(struct node *node, struct node_ctl_stats *stats) {
    memset(stats, 0, sizeof(*stats));
    struct node_ctl *ctl = node->ctl;
    if (ctl == NULL) return;
    pthread_mutex_lock(&ctl->mutex);
    *stats = ctl->stats;
    pthread_mutex_unlock(&ctl->mutex);
    tc_assert(stats->configured);
    stats->leadership_transfers = ctl->leadership_transfers;
}

// ------------------------------------------------------------------------------------------------
// The loop thread: the status snapshot, the newest topology, move_primary.

static uint32_t ctl_status_snapshot(struct node *node, struct node_ctl *ctl) {
    uint32_t count = 0;
    for (uint32_t i = 0; i < node->group_count; i++) {
        const struct node_group *group = &node->groups[i];
        if (!group->hosted) continue;
        struct tc_replica_status status;
        tc_replica_status_get(group->replica, &status);
        tc_assert(count < ctl->groups_max);
        tc_assert(!(status.member && status.retired));
        ctl->status_loop[count++] = (struct node_ctl_group_status){
            .id = group->id,
            .slot = group->slot,
            .primary = status.state == TC_REPLICA_NORMAL && status.primary,
            .state = (uint8_t)status.state,
            .role = status.member    ? NODE_CTL_ROLE_MEMBER
                    : status.retired ? NODE_CTL_ROLE_RETIRED
                                     : NODE_CTL_ROLE_LEARNER,
            .view = status.view,
            .epoch = status.acting_epoch,
            .op = status.op_head,
            .commit = status.commit_max,
            .applied = status.commit_min,
            .replica_id = group->replica_options.replica_id,
        };
    }
    tc_assert(count == node->group_hosted_count);
    return count;
}

// One group's rooms into the busiest list: messages since the previous measurement (a room
// created since counts all of its messages; the first measurement of a group only records).
// Rooms [from, to) of one led group into the pass's busiest list: messages since the previous
// visit (a room created since counts all of its messages; the first pass over a group only
// records; a seq lower than recorded — the replica was replaced meanwhile — counts nothing).
static void ctl_rooms_scan_group(struct node_ctl *ctl, struct ctl_group_state *state,
                                 const struct node_group *group, uint32_t from, uint32_t to) {
    const struct tc_room_machine *machine = tc_replica_room(group->replica);
    const bool window = ctl->rooms_measured_ms != 0;
    for (uint32_t index = from; index < to; index++) {
        struct tc_room_info info;
        tc_room_info_at(machine, index, &info);
        uint64_t previous = info.seq_last; // first sight of the group: nothing counted
        if (state->room_seq_valid) previous = index < state->room_seq_count ? state->room_seq[index] : 0;
        if (previous > info.seq_last) previous = info.seq_last;
        state->room_seq[index] = info.seq_last;
        if (!window || info.seq_last == previous) continue;
        const struct node_ctl_room_load load = {.group = group->id, .room = info.room,
                                                .messages = info.seq_last - previous,
                                                .seq = info.seq_last};
        node_ctl_rooms_offer(&ctl->extra_pass, &load);
    }
}

// The pass ends: its busiest rooms and the commit latency p99 over the same window are what the
// next heartbeats carry.
static void ctl_rooms_publish(struct node *node, struct node_ctl *ctl) {
    const bool window = ctl->rooms_measured_ms != 0;
    ctl->extra_loop.room_count = ctl->extra_pass.room_count;
    memcpy(ctl->extra_loop.rooms, ctl->extra_pass.rooms, sizeof(ctl->extra_loop.rooms));
    ctl->extra_loop.window_ms = window ? node->now_ms - ctl->rooms_measured_ms : 0;
    ctl->rooms_measured_ms = node->now_ms;
    static struct tc_histogram window_commits; // loop thread only
    tc_histogram_difference(&window_commits, &node->stats.latency.batch_commit,
                            &ctl->commit_before);
    ctl->commit_before = node->stats.latency.batch_commit;
    ctl->extra_loop.commit_p99_known = window_commits.count > 0;
    ctl->extra_loop.commit_p99_us =
        window_commits.count > 0 ? tc_histogram_quantile_ns(&window_commits, 0.99) / 1000u : 0;
}

// The busiest rooms of the groups this node leads (each room counted by one node): a pass over
// their rooms starts every interval_ms and visits at most NODE_CTL_ROOMS_SCAN_PER_TICK rooms per
// tick (a group of 2^21 rooms takes ~10 s), so a tick's work stays bounded. Each group's array of
// last seqs (rooms_max entries) is allocated the first time this node leads it.
static void ctl_rooms_tick(struct node *node, struct node_ctl *ctl) {
    if (!ctl->scan_active) {
        if (node->now_ms - ctl->rooms_measured_ms < ctl->interval_ms) return;
        ctl->scan_active = true;
        ctl->scan_group = 0;
        ctl->scan_room = 0;
        ctl->extra_pass.room_count = 0;
    }
    uint32_t budget = NODE_CTL_ROOMS_SCAN_PER_TICK;
    while (budget > 0 && ctl->scan_group < node->group_count) {
        const struct node_group *group = &node->groups[ctl->scan_group];
        struct ctl_group_state *state = &ctl->group_states[ctl->scan_group];
        if (state->room_seq == NULL && group->hosted && group->primary) {
            state->room_seq = calloc(node->config.rooms_max, sizeof(state->room_seq[0]));
            state->room_seq_valid = false;
        }
        if (!group->hosted || !group->primary || state->room_seq == NULL) {
            state->room_seq_valid = false; // counted again from the next pass as its leader
            ctl->scan_group++, ctl->scan_room = 0;
            continue;
        }
        const uint32_t count = tc_room_count(tc_replica_room(group->replica));
        tc_assert(count <= node->config.rooms_max && ctl->scan_room <= count);
        const uint32_t to = count - ctl->scan_room < budget ? count : ctl->scan_room + budget;
        ctl_rooms_scan_group(ctl, state, group, ctl->scan_room, to);
        budget -= to - ctl->scan_room;
        ctl->scan_room = to;
        if (ctl->scan_room == count) {
            state->room_seq_count = count;
            state->room_seq_valid = true;
            ctl->scan_group++, ctl->scan_room = 0;
        }
    }
    if (ctl->scan_group < node->group_count) return; // the pass goes on next tick
    ctl->scan_active = false;
    ctl_rooms_publish(node, ctl);
}

static const struct node_ctl_topology_group *topology_group_find(
    const struct node_ctl_topology *topology, uint32_t id) {
    for (uint32_t i = 0; i < topology->group_count; i++) {
        if (topology->groups[i].id == id) return &topology->groups[i];
    }
    return NULL;
}

// C8 on the nodes' side (docs/controller.md): a slot this node routes never moves, whatever a
// newer topology says (a controller restored from an old backup could say it). The newer map is
// installed with the old owner kept for every such slot, and the difference said loudly.
static void ctl_slots_keep(struct node *node, const struct node_ctl_topology *installed,
                           struct node_ctl_topology *candidate) {
    uint32_t kept = 0, first = 0;
    for (uint32_t slot = 0; slot < TC_ROUTING_SLOTS; slot++) {
        const uint32_t owner = installed->slot_group[slot];
        if (owner == 0 || candidate->slot_group[slot] == owner) continue;
        if (kept == 0) first = slot;
        kept += 1;
        if (candidate->slot_group[slot] == 0) candidate->slots_routed += 1;
        candidate->slot_group[slot] = owner;
    }
    tc_assert(candidate->slots_routed <= TC_ROUTING_SLOTS);
    if (kept == 0) return;
    node_log(node, TC_LOG_ERROR, "topology version %" PRIu64 " moves %u routed hash slot(s) (first: "
             "slot %u, routed to group %u; a routed slot never moves, C8): kept where they were",
             candidate->version, kept, first, installed->slot_group[first]);
}

// A node routing by its config checks that the topology routes every slot it routes the same way
// (docs/node-config.md §6): a difference is an operator's registration error, said loudly once per
// version; the node keeps routing by its config (moving a room would hide its history).
static void ctl_slots_check(struct node *node, struct node_ctl *ctl,
                            const struct node_ctl_topology *topology) {
    const struct tc_node_config *config = &node->config;
    uint32_t differ = 0, first = 0;
    for (uint32_t slot = 0; slot < TC_ROUTING_SLOTS; slot++) {
        const uint32_t routed = topology->slot_group[slot];
        if (routed != 0 && routed != tc_node_config_slot_group(config, slot)) {
            if (differ == 0) first = slot;
            differ += 1;
        }
    }
    if (differ > 0 && topology->version != ctl->slots_warned_version) {
        node_log(node, TC_LOG_ERROR, "topology version %" PRIu64 ": %u hash slot(s) route to "
                 "another group than this node's config (first: slot %u -> group %u, the config "
                 "says group %u): rooms keep the config's groups; register groups with the blocks "
                 "of docs/node-config.md §6", topology->version, differ, first,
                 topology->slot_group[first], tc_node_config_slot_group(config, first));
        ctl->slots_warned_version = topology->version;
    }
}

// A new topology: each group's route (members, epoch, pending replace: node_replace.h) and change,
// and forgetting what was acted on when its change went.
static void ctl_groups_refresh(struct node *node, struct node_ctl *ctl) {
    const struct node_ctl_topology *topology = ctl->topology_loop;
    uint32_t unfit = 0, unfit_first = 0, unknown = 0;
    node_peers_join(node, topology);         // nodes added since this node started (§15)
    node_groups_adopt(node, topology, true); // topology mode: the groups it placed (§15)
    tc_assert(node->group_count <= ctl->groups_max);
    for (uint32_t i = 0; i < node->group_count; i++) {
        struct node_group *group = &node->groups[i];
        struct ctl_group_state *state = &ctl->group_states[i];
        const struct node_ctl_topology_group *entry = topology_group_find(topology, group->id);
        state->entry = entry;
        state->change_present = entry != NULL && entry->change.kind != NODE_CTL_CHANGE_NONE;
        if (state->change_present) state->change = entry->change;
        if (state->acted_valid &&
            (!state->change_present || !node_ctl_change_equal(&state->change, &state->acted))) {
            state->acted_valid = false; // a new step (or none): the next one is acted on again
        }
        if (entry != NULL && node_route_install(&group->route, entry) != TC_OK) {
            state->entry = NULL; // neither routed by nor acted on
            state->change_present = false;
            if (unfit == 0) unfit_first = group->id;
            unfit += 1;
        }
    }
    for (uint32_t i = 0; i < topology->group_count; i++) {
        if (node_group_find(node, topology->groups[i].id) == NULL) unknown += 1;
    }
    if (!node_topology_mode(node)) ctl_slots_check(node, ctl, topology);
    // Said again only when it changes: every version of the same topology would repeat it.
    if ((unfit > 0 || unknown > 0) &&
        (unfit != ctl->differ_count || unfit_first != ctl->differ_first ||
         unknown != ctl->unknown_count)) {
        node_log(node, TC_LOG_WARN, "topology version %" PRIu64 ": %u group(s) whose entry does "
                 "not fit this node's config (first: group %u; they route by the config), %u "
                 "group(s) this node's config does not list (ignored; docs/node.md §14)",
                 topology->version, unfit, unfit_first, unknown);
    }
    ctl->differ_count = unfit;
    ctl->differ_first = unfit_first;
    ctl->unknown_count = unknown;
}

static void ctl_group_act(struct node *node, struct node_ctl *ctl, struct node_group *group,
                          struct ctl_group_state *state, enum node_ctl_action action,
                          int32_t target_slot) {
    const struct node_ctl_change *change = &state->change;
    char step[64] = "";
    if (change->job_known) {
        (void)snprintf(step, sizeof(step), " (job %" PRIu64 " step %" PRIu64 ")", change->job,
                       change->step);
    }
    if (action == NODE_CTL_ACTION_NONE || action == NODE_CTL_ACTION_WAIT) return;
    if (action == NODE_CTL_ACTION_TRANSFER) {
        tc_assert(target_slot >= 0 && target_slot < group->replica_count);
        const int rc = tc_replica_transfer_leadership(group->replica, (uint8_t)target_slot);
        if (rc == TC_EPERM) return; // not a normal primary after all (abdicating): next tick
        if (rc == TC_OK) ctl->leadership_transfers += 1;
        node_log(node, rc == TC_OK ? TC_LOG_INFO : TC_LOG_WARN,
                 "group %u: move_primary %u -> %u%s: leadership transfer to slot %d: %s",
                 group->id, change->from_node, change->to_node, step, target_slot,
                 tc_strerror(rc));
    } else if (action == NODE_CTL_ACTION_NOT_MEMBER) {
        node_log(node, TC_LOG_WARN, "group %u: move_primary %u -> %u%s: node %u is not a member "
                 "of group %u in this node's config: not acted on", group->id, change->from_node,
                 change->to_node, step, change->to_node, group->id);
    } else {
        tc_assert(action == NODE_CTL_ACTION_UNSUPPORTED);
        node_log(node, TC_LOG_WARN, "group %u: change of an unknown kind %u -> %u%s: not acted "
                 "on by this release", group->id, change->from_node, change->to_node, step);
    }
    state->acted = *change; // once per (job, step)
    state->acted_valid = true;
}

static void ctl_groups_act(struct node *node, struct node_ctl *ctl) {
    for (uint32_t i = 0; i < node->group_count; i++) {
        struct node_group *group = &node->groups[i];
        struct ctl_group_state *state = &ctl->group_states[i];
        // Replacement first: it may start (or stop) hosting the group.
        if (ctl->installed_seq > 0) node_replace_group_tick(node, group, state->entry);
        if (!group->hosted || !state->change_present) continue;
        struct tc_replica_status status;
        tc_replica_status_get(group->replica, &status);
        const bool primary_normal = status.state == TC_REPLICA_NORMAL && status.primary;
        const int32_t target_slot = node_route_slot(&group->route, state->change.to_node);
        const enum node_ctl_action action = node_ctl_change_decide(
            &state->change, state->acted_valid ? &state->acted : NULL, node->node_id,
            primary_normal, target_slot);
        ctl_group_act(node, ctl, group, state, action, target_slot);
    }
}

const struct node_ctl_topology *node_ctl_topology_installed(struct node *node) {
    struct node_ctl *ctl = node->ctl;
    if (ctl == NULL || ctl->installed_seq == 0) return NULL;
    tc_assert(ctl->topology_loop->version > 0);
    return ctl->topology_loop;
}

const struct node_ctl_topology_group *node_ctl_topology_group(struct node *node,
                                                              uint32_t group_id) {
    struct node_ctl *ctl = node->ctl;
    if (ctl == NULL || ctl->installed_seq == 0) return NULL;
    tc_assert(ctl->topology_loop->version > 0);
    return topology_group_find(ctl->topology_loop, group_id);
}

// A topology answer the client fetched: verified here, on the loop thread, where cJSON is safe.
static void ctl_topology_verdict(struct node_ctl *ctl, uint64_t seq, uint32_t size, uint64_t have,
                                 const char *cluster) {
    char error[NODE_CTL_ERROR_SIZE];
    const int rc = node_ctl_topology_verify(ctl->response, size, &ctl->controller_key, have,
                                            cluster, ctl->candidate, error);
    ctl->candidate_seq = seq;
    pthread_mutex_lock(&ctl->mutex);
    tc_assert(ctl->raw_seq == seq && ctl->verdict_seq + 1 == seq);
    ctl->verdict_rc = rc;
    (void)snprintf(ctl->verdict_error, sizeof(ctl->verdict_error), "%s", rc == 0 ? "" : error);
    ctl->verdict_version = rc == 0 ? ctl->candidate->version : 0;
    ctl->verdict_group_count = rc == 0 ? ctl->candidate->group_count : 0;
    (void)snprintf(ctl->verdict_cluster, sizeof(ctl->verdict_cluster), "%s",
                   rc == 0 ? ctl->candidate->cluster : "");
    ctl->verdict_seq = seq;
    pthread_cond_broadcast(&ctl->cond);
    pthread_mutex_unlock(&ctl->mutex);
}

void node_ctl_tick(struct node *node) {
    struct node_ctl *ctl = node->ctl;
    if (ctl == NULL) return;
    tc_assert(node->group_count <= ctl->groups_max);
    const uint32_t count = ctl_status_snapshot(node, ctl);
    const uint64_t connections = tc_ws_server_stats(&node->ws)->connections_open;
    ctl_rooms_tick(node, ctl);
    char cluster[NODE_CTL_CLUSTER_SIZE_MAX + 1];
    pthread_mutex_lock(&ctl->mutex);
    memcpy(ctl->status_shared, ctl->status_loop, count * sizeof(*ctl->status_loop));
    ctl->extra_shared = ctl->extra_loop;
    ctl->status_count = count;
    ctl->status_connections = connections;
    ctl->status_ready = true;
    const uint64_t install_seq = ctl->install_seq;
    const uint64_t raw_seq = ctl->raw_seq;
    const bool verify = raw_seq != ctl->verdict_seq;
    const uint32_t raw_size = ctl->raw_size;
    const uint64_t raw_have = ctl->raw_have;
    memcpy(cluster, ctl->raw_cluster, sizeof(cluster));
    pthread_mutex_unlock(&ctl->mutex);
    // Install first: the candidate of install_seq is replaced by the next verification only.
    if (install_seq != ctl->installed_seq) {
        tc_assert(install_seq == ctl->candidate_seq);
        if (ctl->installed_seq > 0) ctl_slots_keep(node, ctl->topology_loop, ctl->candidate);
        topology_copy(ctl->topology_loop, ctl->candidate);
        ctl->installed_seq = install_seq;
        ctl->refresh_due = true;
    }
    if (ctl->refresh_due) {
        ctl->refresh_due = false;
        ctl_groups_refresh(node, ctl);
    }
    if (verify) ctl_topology_verdict(ctl, raw_seq, raw_size, raw_have, cluster);
    ctl_groups_act(node, ctl);
}
