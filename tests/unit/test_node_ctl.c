// Unit tests of the node's controller client (node/main/node_ctl.c, docs/node.md §13):
//   - the status, register and heartbeat builders produce the exact canonical bytes, and their
//     signatures verify the way the controller checks them (detach sig, re-canonicalize, verify
//     under the message's domain) and under no other domain or key;
//   - the topology verifier accepts exactly the controller's signed topology and refuses a wrong
//     key, hash, body, an older or equal version (C6), another cluster, malformed answers and
//     over-limit ones;
//   - the move_primary decision acts once per (job, step), only on the source, only when primary;
//   - replica replacement (node_replace.c): routing by topology, epoch and learner address; the
//     identity file's text and its atomic file; replacement ids never collide with epoch-0 ids;
//     the learner, reconfigure and retirement decisions;
//   - topology.json is replaced atomically and read back bounded;
//   - the client thread against a fake controller on a socket: refused then accepted registration,
//     signed heartbeats with strictly increasing times, the topology fetched, verified, cached and
//     handed to the loop; the cache loaded at the next start; an older topology refused; a down
//     controller; a missing node key; and a stop that does not wait for the interval.
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "node.h"
#include "node_ctl.h"
#include "node_replace.h"
#include "tc_assert.h"
#include "tc_le.h"
#include "tc_err.h"

#define TIME_MS UINT64_C(1767225600000) // 2026-01-01T00:00:00.000Z
#define TIME_TEXT "2026-01-01T00:00:00.000Z"
#define BUFFER_SIZE (64u * 1024u)
#define JSON_MAX ((UINT64_C(1) << 53) - 1)

static char buffer[BUFFER_SIZE];
static char canonical[TC_AUDIT_JSON_SIZE_MAX + 1];
static char response[NODE_CTL_RESPONSE_SIZE_MAX + 1];
static struct node_ctl_topology topology;

struct keypair {
    struct tc_audit_secret_key secret;
    struct tc_audit_public_key key;
};

static void keypair_init(struct keypair *pair, uint8_t byte) {
    uint8_t seed[32];
    memset(seed, byte, sizeof(seed));
    tc_audit_keypair_from_seed(seed, &pair->secret, &pair->key);
}

// What the controller does with a signed node message: detach "sig", re-encode the rest
// canonically and verify. Returns tc_audit_verify_domain's result; the canonical bytes stay in
// `canonical`.
static int controller_check(const char *body, uint32_t size, const char *domain,
                            const struct tc_audit_public_key *key) {
    cJSON *root = cJSON_ParseWithLength(body, size);
    assert_non_null(root);
    cJSON *sig = cJSON_DetachItemFromObjectCaseSensitive(root, "sig");
    assert_true(cJSON_IsString(sig));
    struct tc_audit_signature signature;
    assert_int_equal(tc_audit_signature_from_hex(&signature, sig->valuestring,
                                                 strlen(sig->valuestring)), 0);
    cJSON_Delete(sig);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    assert_non_null(text);
    const char *detail = NULL;
    uint32_t canonical_size = 0;
    assert_int_equal(tc_audit_json_canonical(text, canonical, sizeof(canonical), &canonical_size,
                                             &detail), 0);
    cJSON_free(text);
    return tc_audit_verify_domain(domain, canonical, canonical_size, key, &signature);
}

// ------------------------------------------------------------------------------------------------
// Builders.

static void test_status_build(void **state) {
    (void)state;
    const struct node_ctl_group_status groups[3] = {
        {.id = 4, .slot = 2, .primary = true, .state = TC_REPLICA_NORMAL, .view = 7, .epoch = 1,
         .op = 90, .commit = 88, .applied = 87, .replica_id = UINT64_MAX,
         .role = NODE_CTL_ROLE_MEMBER},
        {.id = 9, .slot = 0, .primary = false, .state = TC_REPLICA_VIEW_CHANGE, .view = 3,
         .replica_id = 1, .role = NODE_CTL_ROLE_LEARNER},
        {.id = 11, .slot = 1, .state = TC_REPLICA_NORMAL, .epoch = 2, .replica_id = 77,
         .role = NODE_CTL_ROLE_RETIRED},
    };
    // replica_id is a decimal string: replica ids use all 64 bits, beyond JSON's exact integers.
    const char *expected =
        "{\"connections\":12,\"groups\":[{\"applied\":87,\"commit\":88,\"epoch\":1,\"id\":4,"
        "\"op\":90,\"primary\":true,\"replica_id\":\"18446744073709551615\",\"role\":\"member\","
        "\"slot\":2,\"state\":\"normal\",\"view\":7},{\"applied\":0,\"commit\":0,\"epoch\":0,"
        "\"id\":9,\"op\":0,\"primary\":false,\"replica_id\":\"1\",\"role\":\"learner\",\"slot\":0,"
        "\"state\":\"view_change\",\"view\":3},{\"applied\":0,\"commit\":0,\"epoch\":2,\"id\":11,"
        "\"op\":0,\"primary\":false,\"replica_id\":\"77\",\"role\":\"retired\",\"slot\":1,"
        "\"state\":\"normal\",\"view\":0}]}";
    assert_int_equal(node_ctl_status_build(groups, 3, 12, NULL, buffer, sizeof(buffer)),
                     (int32_t)strlen(expected));
    assert_string_equal(buffer, expected);
    // Already canonical: the heartbeat signs it as is.
    const char *detail = NULL;
    uint32_t size = 0;
    assert_int_equal(tc_audit_json_canonical(buffer, canonical, sizeof(canonical), &size, &detail),
                     0);
    assert_string_equal(canonical, expected);
    const char *empty = "{\"connections\":0,\"groups\":[]}";
    assert_int_equal(node_ctl_status_build(NULL, 0, 0, NULL, buffer, sizeof(buffer)),
                     (int32_t)strlen(empty));
    assert_string_equal(buffer, empty);
    assert_int_equal(node_ctl_status_build(groups, 3, 12, NULL, buffer, (uint32_t)strlen(expected)),
                     TC_ENOSPC);
    assert_int_equal(node_ctl_status_build(groups, 3, 12, NULL, buffer, (uint32_t)strlen(expected) + 1),
                     (int32_t)strlen(expected));
}

// The most groups, every number at its maximum: fits, and one more group is counted, not sent.
static void test_status_bounds(void **state) {
    (void)state;
    static struct node_ctl_group_status groups[NODE_CTL_STATUS_GROUPS_MAX + 1];
    for (uint32_t i = 0; i <= NODE_CTL_STATUS_GROUPS_MAX; i++) {
        groups[i] = (struct node_ctl_group_status){
            .id = UINT32_MAX - i, .slot = 255, .state = TC_REPLICA_RECOVERING_HEAD,
            .role = NODE_CTL_ROLE_LEARNER, .view = UINT32_MAX, .epoch = UINT32_MAX,
            .op = JSON_MAX, .commit = JSON_MAX, .applied = JSON_MAX, .replica_id = UINT64_MAX};
    }
    static char status[NODE_CTL_STATUS_SIZE_MAX];
    // The largest extra too: p99, every room slot used with the largest numbers.
    struct node_ctl_status_extra extra = {.commit_p99_known = true, .commit_p99_us = JSON_MAX,
                                          .window_ms = JSON_MAX, .room_count = NODE_CTL_ROOMS_TOP};
    for (uint32_t i = 0; i < NODE_CTL_ROOMS_TOP; i++) {
        extra.rooms[i] = (struct node_ctl_room_load){.group = UINT32_MAX, .room = UINT64_MAX,
                                                     .messages = JSON_MAX, .seq = JSON_MAX};
    }
    const int32_t size = node_ctl_status_build(groups, NODE_CTL_STATUS_GROUPS_MAX + 1, JSON_MAX,
                                               &extra, status, sizeof(status));
    assert_true(size > 0 && (uint32_t)size < sizeof(status));
    uint32_t entries = 0;
    for (const char *at = status; (at = strstr(at, "{\"applied\"")) != NULL; at++) entries++;
    assert_int_equal(entries, NODE_CTL_STATUS_GROUPS_MAX);
    assert_non_null(strstr(status, "],\"groups_omitted\":1,\"rooms\":["));
    assert_non_null(strstr(status, "\"id\":4294967056"));  // UINT32_MAX - 239: the last sent
    assert_null(strstr(status, "\"id\":4294967055")); // UINT32_MAX - 240: the one left out
    // Canonical as built, hence signed as is.
    const char *detail = NULL;
    uint32_t canonical_size = 0;
    assert_int_equal(tc_audit_json_canonical(status, canonical, sizeof(canonical),
                                             &canonical_size, &detail), 0);
    assert_string_equal(canonical, status);
    assert_non_null(strstr(status, ",\"rooms_window_ms\":9007199254740991}"));
    extra.rooms[3].messages = JSON_MAX + 1;
    assert_int_equal(node_ctl_status_build(groups, 8, 0, &extra, status, sizeof(status)),
                     TC_ERANGE);
    // Canonical JSON has no integer beyond 2^53 - 1: such a status is refused, not sent.
    groups[7].commit = JSON_MAX + 1;
    assert_int_equal(node_ctl_status_build(groups, 8, 0, NULL, status, sizeof(status)), TC_ERANGE);
    groups[7].commit = JSON_MAX;
    groups[6].applied = JSON_MAX + 1;
    assert_int_equal(node_ctl_status_build(groups, 8, 0, NULL, status, sizeof(status)), TC_ERANGE);
    groups[6].applied = JSON_MAX;
    assert_int_equal(node_ctl_status_build(groups, 8, JSON_MAX + 1, NULL, status, sizeof(status)),
                     TC_ERANGE);
    assert_true(node_ctl_status_build(groups, 8, JSON_MAX, NULL, status, sizeof(status)) > 0);
}

// The busiest rooms: the top NODE_CTL_ROOMS_TOP by messages (then seq), most first, and the
// status with p99 first and rooms last, canonical as built.
static void test_status_extra(void **state) {
    (void)state;
    struct node_ctl_status_extra extra = {.commit_p99_known = true, .commit_p99_us = 1850,
                                          .window_ms = 1000};
    for (uint64_t room = 1; room <= 20; room++) {
        const struct node_ctl_room_load load = {.group = (uint32_t)(room % 3 + 1), .room = room,
                                                .messages = room % 7, .seq = 100 + room};
        node_ctl_rooms_offer(&extra, &load);
    }
    assert_int_equal(extra.room_count, NODE_CTL_ROOMS_TOP);
    // messages 6: rooms 20, 13, 6 (higher seq first); 5: 19, 12, 5; 4: 18, 11.
    static const uint64_t expected_rooms[NODE_CTL_ROOMS_TOP] = {20, 13, 6, 19, 12, 5, 18, 11};
    for (uint32_t i = 0; i < NODE_CTL_ROOMS_TOP; i++) {
        assert_int_equal(extra.rooms[i].room, expected_rooms[i]);
    }
    extra.room_count = 2;
    const struct node_ctl_group_status group = {.id = 2, .state = TC_REPLICA_NORMAL,
                                                .replica_id = 77, .primary = true};
    char status[2048];
    assert_true(node_ctl_status_build(&group, 1, 3, &extra, status, sizeof(status)) > 0);
    assert_string_equal(status,
        "{\"commit_p99_us\":1850,\"connections\":3,\"groups\":[{\"applied\":0,\"commit\":0,"
        "\"epoch\":0,\"id\":2,\"op\":0,\"primary\":true,\"replica_id\":\"77\",\"role\":\"member\","
        "\"slot\":0,\"state\":\"normal\",\"view\":0}],\"rooms\":[{\"group\":3,\"messages\":6,"
        "\"room\":\"20\",\"seq\":120},{\"group\":2,\"messages\":6,\"room\":\"13\",\"seq\":113}],"
        "\"rooms_window_ms\":1000}");
    const char *detail = NULL;
    uint32_t canonical_size = 0;
    assert_int_equal(tc_audit_json_canonical(status, canonical, sizeof(canonical),
                                             &canonical_size, &detail), 0);
    assert_string_equal(canonical, status);
    // No window yet, no p99: the status of before.
    extra = (struct node_ctl_status_extra){0};
    assert_true(node_ctl_status_build(&group, 1, 3, &extra, status, sizeof(status)) > 0);
    assert_null(strstr(status, "rooms"));
    assert_null(strstr(status, "commit_p99_us"));
}

// The hot-path log limiter: lines_max per window, then the rest dropped and counted; the next
// window starts over (its first line is preceded by the count of the dropped ones).
static void test_log_limit(void **state) {
    (void)state;
    static struct node limited;
    limited.log_level = TC_LOG_INFO;
    limited.now_ms = 5000;
    struct node_log_limit limit = {.module = "edge"};
    for (uint32_t i = 0; i < NODE_LOG_LIMIT_LINES; i++) {
        assert_true(node_log_allowed(&limited, &limit));
    }
    assert_false(node_log_allowed(&limited, &limit));
    assert_false(node_log_allowed(&limited, &limit));
    assert_int_equal(limit.suppressed, 2);
    limited.now_ms += NODE_LOG_LIMIT_WINDOW_MS - 1;
    assert_false(node_log_allowed(&limited, &limit));
    limited.now_ms += 1;
    assert_true(node_log_allowed(&limited, &limit));
    assert_int_equal(limit.suppressed, 0);
    assert_int_equal(limit.lines, 1);
    struct node_log_limit wide = {.module = "replica", .lines_max = NODE_LOG_LIMIT_REPLICA_LINES};
    for (uint32_t i = 0; i < NODE_LOG_LIMIT_REPLICA_LINES; i++) {
        assert_true(node_log_allowed(&limited, &wide));
    }
    assert_false(node_log_allowed(&limited, &wide));
}

static void test_time_next(void **state) {
    (void)state;
    assert_int_equal(node_ctl_time_next(0, TIME_MS), TIME_MS);
    assert_int_equal(node_ctl_time_next(TIME_MS, TIME_MS), TIME_MS + 1);
    assert_int_equal(node_ctl_time_next(TIME_MS, TIME_MS - 5000), TIME_MS + 1); // clock stepped
    assert_int_equal(node_ctl_time_next(TIME_MS, TIME_MS + 7), TIME_MS + 7);
}

static void identity_init(struct node_ctl_identity *identity, const struct keypair *node_key) {
    memset(identity, 0, sizeof(*identity));
    identity->node_id = 3;
    (void)snprintf(identity->zone, sizeof(identity->zone), "eu-1a");
    (void)snprintf(identity->address_peer, sizeof(identity->address_peer), "127.0.0.1:7103");
    (void)snprintf(identity->address_client, sizeof(identity->address_client), "0.0.0.0:7203");
    (void)snprintf(identity->address_admin, sizeof(identity->address_admin), "127.0.0.1:7303");
    identity->public_key = node_key->key;
}

static void test_register_build(void **state) {
    (void)state;
    struct keypair node_key, other;
    keypair_init(&node_key, 7);
    keypair_init(&other, 8);
    struct node_ctl_identity identity;
    identity_init(&identity, &node_key);
    uint32_t size = 0;
    assert_int_equal(node_ctl_register_build(&identity, TIME_MS, &node_key.secret, buffer,
                                             sizeof(buffer), &size), 0);
    assert_int_equal(size, strlen(buffer));
    char key_hex[TC_AUDIT_KEY_HEX_SIZE + 1];
    tc_audit_key_hex(&node_key.key, key_hex);
    char expected[1024];
    (void)snprintf(expected, sizeof(expected),
                   "{\"address_admin\":\"127.0.0.1:7303\",\"address_client\":\"0.0.0.0:7203\","
                   "\"address_peer\":\"127.0.0.1:7103\",\"node\":3,\"public_key\":\"%s\","
                   "\"time\":\"" TIME_TEXT "\",\"zone\":\"eu-1a\"", key_hex);
    // The canonical unsigned object, then the signature as the last member.
    assert_memory_equal(buffer, expected, strlen(expected));
    assert_int_equal(size, strlen(expected) + strlen(",\"sig\":\"\"}") + 128);
    assert_int_equal(controller_check(buffer, size, NODE_CTL_DOMAIN_REGISTER, &node_key.key), 0);
    assert_memory_equal(canonical, expected, strlen(expected));
    // Bound to its domain and its key.
    assert_int_equal(controller_check(buffer, size, NODE_CTL_DOMAIN_HEARTBEAT, &node_key.key),
                     TC_EPERM);
    assert_int_equal(controller_check(buffer, size, NODE_CTL_DOMAIN_REGISTER, &other.key),
                     TC_EPERM);
    // Any changed field breaks it.
    char *zone = strstr(buffer, "eu-1a");
    assert_non_null(zone);
    zone[4] = 'b';
    assert_int_equal(controller_check(buffer, size, NODE_CTL_DOMAIN_REGISTER, &node_key.key),
                     TC_EPERM);
    // Deterministic (Ed25519), and refused when it does not fit.
    static char again[BUFFER_SIZE];
    uint32_t again_size = 0;
    assert_int_equal(node_ctl_register_build(&identity, TIME_MS, &node_key.secret, again,
                                             sizeof(again), &again_size), 0);
    zone[4] = 'a';
    assert_int_equal(again_size, size);
    assert_memory_equal(again, buffer, size);
    assert_int_equal(node_ctl_register_build(&identity, TIME_MS, &node_key.secret, again, size,
                                             &again_size), TC_ETOOBIG);
    assert_int_equal(node_ctl_register_build(&identity, TIME_MS, &node_key.secret, again,
                                             size + 1, &again_size), 0);
}

static void test_heartbeat_build(void **state) {
    (void)state;
    struct keypair node_key, other;
    keypair_init(&node_key, 7);
    keypair_init(&other, 8);
    const struct node_ctl_group_status group = {.id = 1, .primary = true,
                                                .state = TC_REPLICA_NORMAL, .view = 2, .op = 5,
                                                .commit = 5, .applied = 5, .replica_id = 0x1011};
    char status[512];
    assert_true(node_ctl_status_build(&group, 1, 4, NULL, status, sizeof(status)) > 0);
    uint32_t size = 0;
    assert_int_equal(node_ctl_heartbeat_build(3, status, TIME_MS + 1, &node_key.secret, buffer,
                                              sizeof(buffer), &size), 0);
    char expected[1024];
    (void)snprintf(expected, sizeof(expected), "{\"node\":3,\"status\":%s,\"time\":"
                   "\"2026-01-01T00:00:00.001Z\"", status);
    assert_memory_equal(buffer, expected, strlen(expected));
    assert_int_equal(controller_check(buffer, size, NODE_CTL_DOMAIN_HEARTBEAT, &node_key.key), 0);
    assert_memory_equal(canonical, expected, strlen(expected));
    assert_int_equal(controller_check(buffer, size, NODE_CTL_DOMAIN_REGISTER, &node_key.key),
                     TC_EPERM);
    assert_int_equal(controller_check(buffer, size, NODE_CTL_DOMAIN_HEARTBEAT, &other.key),
                     TC_EPERM);
    // Too small an output: refused (the exact size fits).
    assert_int_equal(node_ctl_heartbeat_build(3, status, TIME_MS + 1, &node_key.secret, buffer,
                                              size, &size), TC_ETOOBIG);
    assert_int_equal(node_ctl_heartbeat_build(3, status, TIME_MS + 1, &node_key.secret, buffer,
                                              (uint32_t)strlen(expected) + 139, &size), 0);
    assert_int_equal(node_ctl_heartbeat_build(3, status, TIME_MS, &node_key.secret, buffer, 64,
                                              &size), TC_ETOOBIG);
}

// The controller's small answers, read without a JSON library.
static void test_answer_member(void **state) {
    (void)state;
    char value[16];
    assert_true(node_ctl_answer_member("{\"topology_version\":17}", "topology_version", value,
                                       sizeof(value)));
    assert_string_equal(value, "17");
    assert_true(node_ctl_answer_member(
        "{\"error\":\"unknown_node\",\"message\":\"add \\\"it\\\"\"}", "error", value,
        sizeof(value)));
    assert_string_equal(value, "unknown_node");
    assert_true(node_ctl_answer_member("{ \"unchanged\" : true }", "unchanged", value,
                                       sizeof(value)));
    assert_string_equal(value, "true");
    // A name inside a string value is not a member; absent, truncated or malformed: false.
    assert_true(node_ctl_answer_member("{\"message\":\"\\\"error\\\": x\",\"error\":\"forbidden\"}",
                                       "error", value, sizeof(value)));
    assert_string_equal(value, "forbidden");
    assert_false(node_ctl_answer_member("{\"status\":\"added\"}", "error", value, sizeof(value)));
    assert_string_equal(value, "");
    assert_false(node_ctl_answer_member("{\"error\":\"unterminated", "error", value,
                                        sizeof(value)));
    assert_false(node_ctl_answer_member("{\"error\":\"a\\\"b\"}", "error", value, sizeof(value)));
    assert_false(node_ctl_answer_member("{\"topology_version\":12345678901234567890}",
                                        "topology_version", value, sizeof(value)));
    assert_false(node_ctl_answer_member("{\"topology_version\":-1}", "topology_version", value,
                                        sizeof(value)));
    assert_false(node_ctl_answer_member("", "error", value, sizeof(value)));
}

// ------------------------------------------------------------------------------------------------
// The signed topology.

static const char body_json[] =
    "{\"version\": 17, \"cluster\": \"prod\", \"slots\": [[0, 4095, 1]],"
    " \"nodes\": [{\"id\": 1, \"zone\": \"a\", \"state\": \"active\"}],"
    " \"groups\": [{\"members\": [1, 2, 3], \"id\": 1, \"epoch\": 0, \"primary\": 1},"
    " {\"id\": 2, \"epoch\": 4, \"members\": [2, 3, 1], \"primary\": null,"
    " \"change\": {\"kind\": \"move_primary\", \"from\": 2, \"to\": 3, \"job\": 9, \"step\": 1}},"
    " {\"id\": 3, \"epoch\": 1, \"members\": [3, 1, 2], \"primary\": 3,"
    " \"change\": {\"kind\": \"replace\", \"from\": 1, \"to\": 4}},"
    " {\"id\": 5, \"epoch\": 2, \"members\": [1, 2, 3], \"primary\": 2,"
    " \"change\": {\"kind\": \"replace\", \"from\": 3, \"to\": 4, \"job\": 2, \"step\": 6,"
    " \"learner_id\": \"18446744073709551488\"}}]}";

// The controller's answer for `body` (any JSON object text), signed with `signer`; `sent_body`
// (NULL: the canonical body) is what goes on the wire as "body".
static uint32_t signed_topology(const char *body, const struct keypair *signer,
                                const char *sent_body, char *out, uint32_t capacity) {
    const char *detail = NULL;
    uint32_t size = 0;
    assert_int_equal(tc_audit_json_canonical(body, canonical, sizeof(canonical), &size, &detail),
                     0);
    struct tc_hash256 hash;
    tc_hash256_compute(&hash, canonical, size);
    char hash_hex[65];
    tc_hex_encode(hash_hex, hash.bytes, sizeof(hash.bytes));
    struct tc_audit_signature signature;
    assert_int_equal(tc_audit_sign_domain(NODE_CTL_DOMAIN_TOPOLOGY, canonical, size,
                                          &signer->secret, &signature), 0);
    char signature_hex[129];
    tc_audit_signature_hex(&signature, signature_hex);
    const int n = snprintf(out, capacity, "{\"body\":%s,\"hash\":\"%s\",\"signature\":\"%s\"}",
                           sent_body != NULL ? sent_body : canonical, hash_hex, signature_hex);
    assert_true(n > 0 && (uint32_t)n < capacity);
    return (uint32_t)n;
}

static int verify(uint32_t size, const struct keypair *controller, uint64_t have,
                  const char *cluster, const char *expected_error) {
    char error[NODE_CTL_ERROR_SIZE];
    const int rc = node_ctl_topology_verify(response, size, &controller->key, have, cluster,
                                            &topology, error);
    if (expected_error != NULL && strstr(error, expected_error) == NULL) {
        fail_msg("error \"%s\" lacks \"%s\"", error, expected_error);
    }
    return rc;
}

static void test_topology_verify(void **state) {
    (void)state;
    struct keypair controller, other;
    keypair_init(&controller, 1);
    keypair_init(&other, 2);
    uint32_t size = signed_topology(body_json, &controller, NULL, response, sizeof(response));
    assert_int_equal(verify(size, &controller, 0, NULL, NULL), 0);
    assert_int_equal(topology.version, 17);
    assert_string_equal(topology.cluster, "prod");
    assert_int_equal(topology.group_count, 4);
    const struct node_ctl_topology_group *g = &topology.groups[0];
    assert_int_equal(g->id, 1);
    assert_int_equal(g->member_count, 3);
    assert_int_equal(g->primary_node, 1);
    assert_int_equal(g->change.kind, NODE_CTL_CHANGE_NONE);
    g = &topology.groups[1];
    assert_int_equal(g->epoch, 4);
    assert_int_equal(g->primary_node, 0); // null
    assert_int_equal(g->members[0], 2);
    assert_int_equal(g->members[2], 1);
    assert_int_equal(g->change.kind, NODE_CTL_CHANGE_MOVE_PRIMARY);
    assert_int_equal(g->change.from_node, 2);
    assert_int_equal(g->change.to_node, 3);
    assert_true(g->change.job_known);
    assert_int_equal(g->change.job, 9);
    assert_int_equal(g->change.step, 1);
    g = &topology.groups[2];
    assert_int_equal(g->change.kind, NODE_CTL_CHANGE_REPLACE);
    assert_false(g->change.job_known);
    assert_false(g->change.learner_known);
    g = &topology.groups[3];
    assert_int_equal(g->change.kind, NODE_CTL_CHANGE_REPLACE);
    assert_true(g->change.job_known && g->change.learner_known);
    assert_int_equal(g->change.step, 6);
    assert_true(g->change.learner_id == UINT64_C(18446744073709551488)); // above 2^53: a string
    assert_int_equal(topology.slots_routed, 4096);
    assert_int_equal(topology.slot_group[0], 1);
    assert_int_equal(topology.slot_group[4095], 1);
    // The node re-encodes the body: whitespace and key order on the wire do not matter.
    size = signed_topology(body_json, &controller, body_json, response, sizeof(response));
    assert_int_equal(verify(size, &controller, 16, "prod", NULL), 0);
    // C6: never an older or equal version; never another cluster.
    assert_int_equal(verify(size, &controller, 17, NULL, "not newer than the installed 17"),
                     TC_ERANGE);
    assert_int_equal(verify(size, &controller, 100, NULL, NULL), TC_ERANGE);
    assert_int_equal(verify(size, &controller, 0, "staging", "cluster \"prod\""), TC_EPERM);
    // Another key.
    assert_int_equal(verify(size, &other, 0, NULL, "signature does not verify"), TC_EPERM);
}

// The slot map: ranges become slot -> group; unrouted slots stay 0; a range that names a group
// the topology does not list, leaves 0..4095 or routes a slot twice refuses the whole topology.
static void test_topology_slots(void **state) {
    (void)state;
    struct keypair controller;
    keypair_init(&controller, 1);
    static const char *const cases[][2] = {
        {"[[0,99,1],[100,100,2]]", NULL},
        {"[]", NULL},
        {"[[0,10,9]]", "group 9 is not in groups"},
        {"[[0,4096,1]]", "within 0..4095"},
        {"[[5,4,1]]", "within 0..4095"},
        {"[[0,10,1],[10,12,2]]", "slot 10 routed twice"},
        {"[[0,1]]", "not [first,last,group]"},
    };
    for (uint32_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[512];
        (void)snprintf(body, sizeof(body), "{\"version\":3,\"cluster\":\"c\",\"slots\":%s,"
                       "\"groups\":[{\"id\":1,\"epoch\":0,\"members\":[1,2,3],\"primary\":1},"
                       "{\"id\":2,\"epoch\":0,\"members\":[2,3,1],\"primary\":null}]}",
                       cases[i][0]);
        const uint32_t size = signed_topology(body, &controller, NULL, response, sizeof(response));
        const int rc = verify(size, &controller, 0, NULL, cases[i][1]);
        assert_int_equal(rc, cases[i][1] == NULL ? 0 : TC_EINVAL);
    }
    uint32_t size = signed_topology("{\"version\":3,\"cluster\":\"c\",\"slots\":[[0,99,1],"
                                    "[100,100,2]],\"groups\":[{\"id\":1,\"epoch\":0,"
                                    "\"members\":[1,2,3],\"primary\":1},{\"id\":2,\"epoch\":0,"
                                    "\"members\":[2,3,1],\"primary\":null}]}",
                                    &controller, NULL, response, sizeof(response));
    assert_int_equal(verify(size, &controller, 0, NULL, NULL), 0);
    assert_int_equal(topology.slots_routed, 101);
    assert_int_equal(topology.slot_group[99], 1);
    assert_int_equal(topology.slot_group[100], 2);
    assert_int_equal(topology.slot_group[101], 0);
    // A body without slots is malformed.
    size = signed_topology("{\"version\":3,\"cluster\":\"c\",\"groups\":[]}", &controller,
                           NULL, response, sizeof(response));
    assert_int_equal(verify(size, &controller, 0, NULL, "needs slots"), TC_EINVAL);
}

static void test_topology_tampered(void **state) {
    (void)state;
    struct keypair controller;
    keypair_init(&controller, 1);
    uint32_t size = signed_topology(body_json, &controller, NULL, response, sizeof(response));
    // A changed body (version 17 -> 18): its hash no longer matches.
    char *version = strstr(response, "\"version\":17");
    assert_non_null(version);
    version[11] = '8';
    assert_int_equal(verify(size, &controller, 0, NULL, "is not BLAKE2b-256 of the body"),
                     TC_EPERM);
    version[11] = '7';
    assert_int_equal(verify(size, &controller, 0, NULL, NULL), 0);
    // A changed hash, then a changed signature.
    char *hash = strstr(response, "\"hash\":\"") + 8;
    const char hash_first = hash[0];
    hash[0] = hash_first == '0' ? '1' : '0';
    assert_int_equal(verify(size, &controller, 0, NULL, "BLAKE2b"), TC_EPERM);
    hash[0] = hash_first;
    assert_int_equal(verify(size, &controller, 0, NULL, NULL), 0);
    char *signature = strstr(response, "\"signature\":\"") + 13;
    signature[5] = signature[5] == '0' ? '1' : '0';
    assert_int_equal(verify(size, &controller, 0, NULL, "signature does not verify"), TC_EPERM);
    signature[5] = 'x';
    assert_int_equal(verify(size, &controller, 0, NULL, "signature: not 128"), TC_EINVAL);
    // Malformed answers.
    memcpy(response, "{\"unchanged\":true}", 19);
    assert_int_equal(verify(18, &controller, 0, NULL, "not {\"body\""), TC_EINVAL);
    assert_int_equal(verify(5, &controller, 0, NULL, "not JSON"), TC_EINVAL);
    // Signed, but not a topology: every field is checked.
    static const char *const bad[] = {
        "{\"cluster\":\"prod\",\"groups\":[]}",
        "{\"cluster\":\"prod\",\"groups\":[],\"version\":0}",
        "{\"cluster\":7,\"groups\":[],\"version\":3}",
        "{\"cluster\":\"prod\",\"groups\":[{\"epoch\":0,\"members\":[1],\"primary\":1}],"
        "\"version\":3}",
        "{\"cluster\":\"prod\",\"groups\":[{\"epoch\":0,\"id\":1,\"members\":[],\"primary\":1}],"
        "\"version\":3}",
        "{\"cluster\":\"prod\",\"groups\":[{\"epoch\":0,\"id\":1,\"members\":[1,2,3,4,5,6],"
        "\"primary\":1}],\"version\":3}",
        "{\"cluster\":\"prod\",\"groups\":[{\"epoch\":0,\"id\":1,\"members\":[1],"
        "\"primary\":\"1\"}],\"version\":3}",
        "{\"cluster\":\"prod\",\"groups\":[{\"change\":{\"kind\":\"replace\",\"to\":2},\"epoch\":0,"
        "\"id\":1,\"members\":[1],\"primary\":1}],\"version\":3}",
        "{\"cluster\":\"prod\",\"groups\":[{\"change\":{\"from\":1,\"job\":1,\"kind\":\"replace\","
        "\"to\":2},\"epoch\":0,\"id\":1,\"members\":[1],\"primary\":1}],\"version\":3}",
        // learner_id: a non-zero decimal string (no number, sign, leading zero, overflow), on a
        // replace only.
        "{\"cluster\":\"prod\",\"groups\":[{\"change\":{\"from\":1,\"kind\":\"replace\","
        "\"learner_id\":5,\"to\":2},\"epoch\":0,\"id\":1,\"members\":[1],\"primary\":1}],"
        "\"version\":3}",
        "{\"cluster\":\"prod\",\"groups\":[{\"change\":{\"from\":1,\"kind\":\"replace\","
        "\"learner_id\":\"0\",\"to\":2},\"epoch\":0,\"id\":1,\"members\":[1],\"primary\":1}],"
        "\"version\":3}",
        "{\"cluster\":\"prod\",\"groups\":[{\"change\":{\"from\":1,\"kind\":\"replace\","
        "\"learner_id\":\"012\",\"to\":2},\"epoch\":0,\"id\":1,\"members\":[1],\"primary\":1}],"
        "\"version\":3}",
        "{\"cluster\":\"prod\",\"groups\":[{\"change\":{\"from\":1,\"kind\":\"replace\","
        "\"learner_id\":\"18446744073709551616\",\"to\":2},\"epoch\":0,\"id\":1,\"members\":[1],"
        "\"primary\":1}],\"version\":3}",
        "{\"cluster\":\"prod\",\"groups\":[{\"change\":{\"from\":1,\"kind\":\"replace\","
        "\"learner_id\":\"-4\",\"to\":2},\"epoch\":0,\"id\":1,\"members\":[1],\"primary\":1}],"
        "\"version\":3}",
        "{\"cluster\":\"prod\",\"groups\":[{\"change\":{\"from\":1,\"kind\":\"move_primary\","
        "\"learner_id\":\"4\",\"to\":2},\"epoch\":0,\"id\":1,\"members\":[1],\"primary\":1}],"
        "\"version\":3}",
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(bad); i++) {
        size = signed_topology(bad[i], &controller, NULL, response, sizeof(response));
        assert_int_equal(verify(size, &controller, 0, NULL, NULL), TC_EINVAL);
    }
}

// Limits: more groups than a topology has; a body beyond an audit line (64 KiB) verifies.
static void test_topology_limits(void **state) {
    (void)state;
    struct keypair controller;
    keypair_init(&controller, 1);
    static char body[200u * 1024u];
    uint32_t used = (uint32_t)sprintf(body, "{\"cluster\":\"c\",\"version\":2,\"slots\":[],"
                                      "\"groups\":[");
    for (uint32_t i = 1; i <= NODE_CTL_TOPOLOGY_GROUPS_MAX + 1; i++) {
        used += (uint32_t)sprintf(body + used, "%s{\"epoch\":0,\"id\":%u,\"members\":[1],"
                                  "\"primary\":1}", i == 1 ? "" : ",", i);
    }
    (void)sprintf(body + used, "]}");
    assert_true(strlen(body) < TC_AUDIT_LINE_SIZE_MAX);
    uint32_t size = signed_topology(body, &controller, NULL, response, sizeof(response));
    assert_int_equal(verify(size, &controller, 0, NULL, "more than 1024 groups"), TC_ETOOBIG);
    // Exactly the maximum parses.
    char *last = strstr(body, ",{\"epoch\":0,\"id\":1025,");
    assert_non_null(last);
    memcpy(last, "]}", 3);
    size = signed_topology(body, &controller, NULL, response, sizeof(response));
    assert_int_equal(verify(size, &controller, 0, NULL, NULL), 0);
    assert_int_equal(topology.group_count, NODE_CTL_TOPOLOGY_GROUPS_MAX);
    assert_int_equal(topology.groups[NODE_CTL_TOPOLOGY_GROUPS_MAX - 1].id, 1024);
    // A body beyond an audit line's 64 KiB verifies: the most groups, each slot its own range
    // (about 118 KB).
    used = (uint32_t)sprintf(body, "{\"cluster\":\"c\",\"version\":2,\"slots\":[");
    for (uint32_t slot = 0; slot < TC_ROUTING_SLOTS; slot++) {
        used += (uint32_t)sprintf(body + used, "%s[%u,%u,%u]", slot ? "," : "", slot, slot,
                                  1 + slot % NODE_CTL_TOPOLOGY_GROUPS_MAX);
    }
    used += (uint32_t)sprintf(body + used, "],\"groups\":[");
    for (uint32_t i = 1; i <= NODE_CTL_TOPOLOGY_GROUPS_MAX; i++) {
        used += (uint32_t)sprintf(body + used, "%s{\"epoch\":0,\"id\":%u,\"members\":[1,2,3],"
                                  "\"primary\":1}", i == 1 ? "" : ",", i);
    }
    (void)sprintf(body + used, "]}");
    assert_true(strlen(body) > TC_AUDIT_LINE_SIZE_MAX && strlen(body) < sizeof(body));
    size = signed_topology(body, &controller, NULL, response, sizeof(response));
    assert_int_equal(verify(size, &controller, 0, NULL, NULL), 0);
    assert_int_equal(topology.group_count, NODE_CTL_TOPOLOGY_GROUPS_MAX);
    assert_int_equal(topology.slots_routed, TC_ROUTING_SLOTS);
    assert_int_equal(topology.slot_group[4095], 1 + 4095 % NODE_CTL_TOPOLOGY_GROUPS_MAX);
}

// ------------------------------------------------------------------------------------------------
// Acting on a change.

static void test_change_decide(void **state) {
    (void)state;
    const struct node_ctl_change move = {.kind = NODE_CTL_CHANGE_MOVE_PRIMARY, .job_known = true,
                                         .from_node = 1, .to_node = 2, .job = 5, .step = 0};
    struct node_ctl_change next_step = move;
    next_step.step = 1;
    const struct node_ctl_change replace = {.kind = NODE_CTL_CHANGE_REPLACE, .from_node = 3,
                                            .to_node = 4};
    const struct node_ctl_change none = {0};
    // The source, a normal primary, the target a member: transfer; then never again for it.
    assert_int_equal(node_ctl_change_decide(&move, NULL, 1, true, 1), NODE_CTL_ACTION_TRANSFER);
    assert_int_equal(node_ctl_change_decide(&move, &move, 1, true, 1), NODE_CTL_ACTION_NONE);
    // The next step of the job is a new change.
    assert_false(node_ctl_change_equal(&move, &next_step));
    assert_int_equal(node_ctl_change_decide(&next_step, &move, 1, true, 1),
                     NODE_CTL_ACTION_TRANSFER);
    // Not yet primary: wait. Another node's move, or ours as the target: nothing.
    assert_int_equal(node_ctl_change_decide(&move, NULL, 1, false, 1), NODE_CTL_ACTION_WAIT);
    assert_int_equal(node_ctl_change_decide(&move, NULL, 2, true, 1), NODE_CTL_ACTION_NONE);
    assert_int_equal(node_ctl_change_decide(&move, NULL, 3, true, -1), NODE_CTL_ACTION_NONE);
    // The target is not in the local group.
    assert_int_equal(node_ctl_change_decide(&move, NULL, 1, true, -1),
                     NODE_CTL_ACTION_NOT_MEMBER);
    // replace: node_replace.c's business, never a leadership transfer; an unknown kind: logged
    // once.
    assert_int_equal(node_ctl_change_decide(&replace, NULL, 3, true, 1), NODE_CTL_ACTION_NONE);
    assert_int_equal(node_ctl_change_decide(&replace, NULL, 4, true, -1), NODE_CTL_ACTION_NONE);
    struct node_ctl_change other = replace;
    other.kind = NODE_CTL_CHANGE_OTHER;
    assert_int_equal(node_ctl_change_decide(&other, NULL, 1, true, -1),
                     NODE_CTL_ACTION_UNSUPPORTED);
    assert_int_equal(node_ctl_change_decide(&other, &other, 1, true, -1), NODE_CTL_ACTION_NONE);
    assert_int_equal(node_ctl_change_decide(&none, NULL, 1, true, 0), NODE_CTL_ACTION_NONE);
    assert_int_equal(node_ctl_change_decide(NULL, &move, 1, true, 0), NODE_CTL_ACTION_NONE);
    // Without a job id, the change's identity is (kind, from, to).
    struct node_ctl_change anonymous = move;
    anonymous.job_known = false;
    assert_false(node_ctl_change_equal(&anonymous, &move));
    assert_true(node_ctl_change_equal(&anonymous, &anonymous));
    anonymous.to_node = 3;
    struct node_ctl_change acted = move;
    acted.job_known = false;
    assert_int_equal(node_ctl_change_decide(&anonymous, &acted, 1, true, 2),
                     NODE_CTL_ACTION_TRANSFER);
}

// ------------------------------------------------------------------------------------------------
// The topology file.

static char dir[64];

static int setup(void **state) {
    (void)state;
    (void)snprintf(dir, sizeof(dir), "/tmp/tc-node-ctl-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char command[128];
    (void)snprintf(command, sizeof(command), "rm -rf %s", dir);
    assert_int_equal(system(command), 0);
    return 0;
}

static bool file_exists(const char *name) {
    char path[128];
    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0;
}

// ------------------------------------------------------------------------------------------------
// Replica replacement (node_replace.c).

// Members 1 2 3 in epoch 4; node 3 (slot 2) being replaced by node 4.
static struct node_route route_replacing(void) {
    struct node_route route = {.replica_count = 3};
    const struct node_ctl_topology_group entry = {
        .id = 7, .epoch = 4, .member_count = 3, .members = {1, 2, 3},
        .change = {.kind = NODE_CTL_CHANGE_REPLACE, .from_node = 3, .to_node = 4}};
    assert_int_equal(node_route_install(&route, &entry), 0);
    assert_true(route.change && route.change_slot == 2 && route.change_to == 4);
    return route;
}

// The single node `address` in `epoch` goes to (0: none, or two).
static uint16_t route_one(const struct node_route *route, uint8_t address, uint32_t epoch) {
    uint16_t targets[NODE_ROUTE_TARGETS_MAX] = {0};
    return node_route_targets(route, address, epoch, targets) == 1 ? targets[0] : 0;
}

static void test_route_target(void **state) {
    (void)state;
    const struct node_route route = route_replacing();
    // Slot addresses in the topology's epoch (or older, or a client's "current"): the members.
    for (uint8_t slot = 0; slot < 3; slot++) {
        assert_int_equal(route_one(&route, slot, 4), slot + 1);
        assert_int_equal(route_one(&route, slot, 0), slot + 1);
        assert_int_equal(route_one(&route, slot, TC_EPOCH_CURRENT), slot + 1);
    }
    // The replaced slot named in a later epoch: its new member (the learner's node).
    assert_int_equal(route_one(&route, 2, 5), 4);
    assert_int_equal(route_one(&route, 2, 9), 4);
    assert_int_equal(route_one(&route, 0, 5), 1); // other slots keep their member
    // The learner address of the replaced slot: the learner, whatever the epoch.
    assert_int_equal(route_one(&route, TC_REPLICA_ADDRESS_LEARNER(2), 0), 4);
    assert_int_equal(route_one(&route, TC_REPLICA_ADDRESS_LEARNER(2), TC_EPOCH_CURRENT), 4);
    // A learner address of a slot without a change: the slot's member (restarted below its epoch
    // floor, it follows meanwhile: docs/vsr.md §11.4).
    assert_int_equal(route_one(&route, TC_REPLICA_ADDRESS_LEARNER(0), 4), 1);
    // Beyond the group's slots: nowhere.
    uint16_t targets[NODE_ROUTE_TARGETS_MAX];
    assert_int_equal(node_route_targets(&route, 3, 4, targets), 0);
    assert_int_equal(node_route_targets(&route, TC_REPLICA_ADDRESS_LEARNER(4), 4, targets), 0);
    assert_int_equal(node_route_targets(&route, TC_REPLICA_ADDRESSES_MAX, 4, targets), 0);
    // The step done: the topology names node 4 in slot 2 at epoch 5, no change.
    struct node_route done = route;
    const struct node_ctl_topology_group after = {.id = 7, .epoch = 5, .member_count = 3,
                                                  .members = {1, 2, 4}};
    assert_int_equal(node_route_install(&done, &after), 0);
    assert_false(done.change);
    assert_int_equal(done.previous[2], 3);
    assert_int_equal(done.previous[0], 0);
    assert_int_equal(route_one(&done, 2, 5), 4);
    assert_int_equal(route_one(&done, 2, TC_EPOCH_CURRENT), 4);
    assert_int_equal(route_one(&done, TC_REPLICA_ADDRESS_LEARNER(2), 4), 4);
    // Named in the epoch before: the replaced member (still running until it learns that it was
    // replaced) and the new one (which answers once the old one stopped).
    assert_int_equal(node_route_targets(&done, 2, 4, targets), 2);
    assert_int_equal(targets[0], 4);
    assert_int_equal(targets[1], 3);
    assert_int_equal(route_one(&done, 0, 4), 1); // a slot that kept its member
    // Another version of the same epoch keeps what it replaced; the next epoch forgets it.
    assert_int_equal(node_route_install(&done, &after), 0);
    assert_int_equal(done.previous[2], 3);
    const struct node_ctl_topology_group next = {.id = 7, .epoch = 6, .member_count = 3,
                                                 .members = {5, 2, 4}};
    assert_int_equal(node_route_install(&done, &next), 0);
    assert_int_equal(done.previous[2], 0);
    assert_int_equal(done.previous[0], 1);
    assert_int_equal(route_one(&done, 2, 4), 4);
    assert_int_equal(route_one(&done, 2, 5), 4);
    assert_int_equal(node_route_slot(&done, 4), 2);
    assert_int_equal(node_route_slot(&done, 3), -1);
}

static void test_route_install(void **state) {
    (void)state;
    struct node_route route = route_replacing();
    const struct node_route before = route;
    // Entries that do not fit the group leave the route as it was.
    struct node_ctl_topology_group entry = {.id = 7, .epoch = 6, .member_count = 2,
                                            .members = {1, 2}};
    assert_int_equal(node_route_install(&route, &entry), TC_EINVAL);
    entry = (struct node_ctl_topology_group){.id = 7, .epoch = 6, .member_count = 3,
                                             .members = {1, 2, 2}};
    assert_int_equal(node_route_install(&route, &entry), TC_EINVAL);
    entry.members[2] = 0;
    assert_int_equal(node_route_install(&route, &entry), TC_EINVAL);
    assert_memory_equal(&route, &before, sizeof(route));
    // A replace from a node that is no member, or to one that is: not routed.
    entry = (struct node_ctl_topology_group){
        .id = 7, .epoch = 6, .member_count = 3, .members = {1, 2, 3},
        .change = {.kind = NODE_CTL_CHANGE_REPLACE, .from_node = 9, .to_node = 4}};
    assert_int_equal(node_route_install(&route, &entry), 0);
    assert_false(route.change);
    assert_int_equal(route.epoch, 6);
    entry.change.from_node = 1;
    entry.change.to_node = 2;
    assert_int_equal(node_route_install(&route, &entry), 0);
    assert_false(route.change);
    // A move_primary changes no routing.
    entry.change = (struct node_ctl_change){.kind = NODE_CTL_CHANGE_MOVE_PRIMARY, .from_node = 1,
                                            .to_node = 2};
    assert_int_equal(node_route_install(&route, &entry), 0);
    assert_false(route.change);
    assert_int_equal(route_one(&route, TC_REPLICA_ADDRESS_LEARNER(1), 6), 2);
}

static void test_replica_ids(void **state) {
    (void)state;
    // Epoch-0 ids: deterministic, distinct per slot, tagged 0x10 | slot.
    for (uint8_t slot = 0; slot < TC_REPLICAS_MAX; slot++) {
        const uint64_t id = node_member_id_epoch0(1, 2, slot);
        assert_true(id == node_member_id_epoch0(1, 2, slot));
        assert_int_equal(id & 0xffu, 0x10u | slot);
        for (uint8_t other = 0; other < slot; other++) {
            assert_true(id != node_member_id_epoch0(1, 2, other));
        }
    }
    assert_true(node_member_id_epoch0(1, 2, 0) != node_member_id_epoch0(1, 3, 0));
    assert_true(node_member_id_epoch0(1, 2, 0) != node_member_id_epoch0(2, 2, 0));
    // Replacement ids: never 0, never an epoch-0 id (the low byte differs), random above it.
    const uint64_t draws[] = {0, 0xff, 0x100, UINT64_MAX, 0x123456789abcdef0ull};
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(draws); i++) {
        const uint64_t id = node_replica_id_draw(draws[i]);
        assert_true(id != 0);
        assert_int_equal(id & 0xffu, NODE_REPLACE_ID_TAG);
        assert_true((id & ~0xffull) != 0);
        for (uint8_t slot = 0; slot < TC_REPLICAS_MAX; slot++) {
            assert_true(id != node_member_id_epoch0(1, 2, slot));
        }
    }
    assert_true(node_replica_id_draw(0x1234500) == 0x1234580);
    assert_true(node_replica_id_draw(0x4200) != node_replica_id_draw(0x4300));
    assert_true(node_replica_id_draw(0x42) == 0x180); // no random bits above the tag: still not 0
}

static void test_identity_text(void **state) {
    (void)state;
    const struct node_identity identity = {.cluster = 1, .group = 12, .slot = 2,
                                           .replica_id = UINT64_MAX - 127, .job = 3, .step = 0};
    char text[NODE_IDENTITY_SIZE_MAX];
    const char *expected = "tigerchat-replica-identity-v1\ncluster 1\ngroup 12\nslot 2\n"
                           "replica_id 18446744073709551488\njob 3\nstep 0\n";
    const int32_t size = node_identity_encode(&identity, text, sizeof(text));
    assert_int_equal(size, (int32_t)strlen(expected));
    assert_string_equal(text, expected);
    assert_int_equal(node_identity_encode(&identity, text, (uint32_t)size), TC_ENOSPC);
    struct node_identity decoded;
    assert_int_equal(node_identity_decode(expected, (uint32_t)size, &decoded), 0);
    assert_true(decoded.replica_id == identity.replica_id && decoded.cluster == 1);
    assert_int_equal(decoded.group, 12);
    assert_int_equal(decoded.slot, 2);
    assert_int_equal(decoded.job, 3);
    // Exactly the encoder's bytes: anything else is refused.
    static const char *const bad[] = {
        "tigerchat-replica-identity-v2\ncluster 1\ngroup 12\nslot 2\nreplica_id 9\njob 3\nstep 0\n",
        "tigerchat-replica-identity-v1\ncluster 1\ngroup 12\nslot 2\nreplica_id 9\njob 3\nstep 0",
        "tigerchat-replica-identity-v1\ncluster 1\ngroup 12\nslot 2\nreplica_id 9\njob 3\nstep 0\n"
        "x",
        "tigerchat-replica-identity-v1\ncluster 1\ngroup 12\nslot 5\nreplica_id 9\njob 3\nstep 0\n",
        "tigerchat-replica-identity-v1\ncluster 1\ngroup 12\nslot 2\nreplica_id 0\njob 3\nstep 0\n",
        "tigerchat-replica-identity-v1\ncluster 1\ngroup 0\nslot 2\nreplica_id 9\njob 3\nstep 0\n",
        "tigerchat-replica-identity-v1\ncluster 1\ngroup 012\nslot 2\nreplica_id 9\njob 3\n"
        "step 0\n",
        "tigerchat-replica-identity-v1\ncluster 1\nslot 2\ngroup 12\nreplica_id 9\njob 3\nstep 0\n",
        "tigerchat-replica-identity-v1\ncluster 1\ngroup 12\nslot 2\nreplica_id "
        "18446744073709551616\njob 3\nstep 0\n",
        "tigerchat-replica-identity-v1\ncluster 1\ngroup 4294967296\nslot 2\nreplica_id 9\njob 3\n"
        "step 0\n",
        "tigerchat-replica-identity-v1\ncluster  1\ngroup 12\nslot 2\nreplica_id 9\njob 3\n"
        "step 0\n",
        "",
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(bad); i++) {
        assert_int_equal(node_identity_decode(bad[i], (uint32_t)strlen(bad[i]), &decoded),
                         TC_EINVAL);
    }
}

static void test_identity_file(void **state) {
    (void)state;
    char error[NODE_CTL_ERROR_SIZE];
    struct node_identity read;
    assert_int_equal(node_identity_read(dir, 12, &read, error), TC_ENOENT);
    const struct node_identity identity = {.cluster = 1, .group = 12, .slot = 1,
                                           .replica_id = 0xabc80, .job = 9, .step = 4};
    assert_int_equal(node_identity_write(dir, &identity, error), 0);
    assert_true(file_exists("group-12.identity"));
    assert_false(file_exists("group-12.identity.tmp"));
    assert_int_equal(node_identity_read(dir, 12, &read, error), 0);
    assert_true(read.replica_id == 0xabc80 && read.step == 4 && read.slot == 1);
    // Another group's file under this group's name, or a damaged one: refused, with the path.
    char path[128];
    (void)snprintf(path, sizeof(path), "%s/group-13.identity", dir);
    char from[128];
    (void)snprintf(from, sizeof(from), "%s/group-12.identity", dir);
    assert_int_equal(link(from, path), 0);
    assert_int_equal(node_identity_read(dir, 13, &read, error), TC_EINVAL);
    assert_non_null(strstr(error, "group-13.identity"));
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    assert_int_equal(fputs("tigerchat-replica-identity-v1\ncluster 1\n", file) >= 0, 1);
    assert_int_equal(fclose(file), 0);
    assert_int_equal(node_identity_read(dir, 13, &read, error), TC_EINVAL);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(unlink(from), 0);
}

static void test_learner_decide(void **state) {
    (void)state;
    const struct node_ctl_change replace = {.kind = NODE_CTL_CHANGE_REPLACE, .job_known = true,
                                            .from_node = 1, .to_node = 4, .job = 2, .step = 3};
    // The target, not hosting the group, the replaced node a member: start, once.
    assert_int_equal(node_learner_decide(&replace, 4, false, 0, false), NODE_LEARNER_START);
    assert_int_equal(node_learner_decide(&replace, 4, false, 0, true), NODE_LEARNER_NONE);
    assert_int_equal(node_learner_decide(&replace, 4, true, 0, false), NODE_LEARNER_NONE);
    // Not the target (the source, a member, a bystander): nothing.
    for (uint16_t node_id = 1; node_id <= 3; node_id++) {
        assert_int_equal(node_learner_decide(&replace, node_id, false, 0, false),
                         NODE_LEARNER_NONE);
    }
    assert_int_equal(node_learner_decide(&replace, 4, false, -1, false),
                     NODE_LEARNER_FROM_UNKNOWN);
    struct node_ctl_change move = replace;
    move.kind = NODE_CTL_CHANGE_MOVE_PRIMARY;
    assert_int_equal(node_learner_decide(&move, 4, false, 0, false), NODE_LEARNER_NONE);
    assert_int_equal(node_learner_decide(NULL, 4, false, 0, false), NODE_LEARNER_NONE);
}

static void test_reconfigure_decide(void **state) {
    (void)state;
    const uint64_t learner = 0x5555580, old = 0x7777712;
    const struct node_ctl_change change = {.kind = NODE_CTL_CHANGE_REPLACE, .job_known = true,
                                           .learner_known = true, .from_node = 3, .to_node = 4,
                                           .job = 1, .step = 2, .learner_id = learner};
    struct node_reconfigure_input input = {.change = &change, .topology_epoch = 2, .slot = 2,
                                           .primary_normal = true, .acting_epoch = 2,
                                           .slot_member_id = old};
    struct tc_reconfigure body;
    assert_int_equal(node_reconfigure_decide(&input, &body), NODE_RECONFIGURE_SUBMIT);
    assert_int_equal(body.epoch, 3);
    assert_int_equal(body.slot, 2);
    assert_true(body.replica_id_old == old && body.replica_id_new == learner);
    uint8_t bytes[TC_RECONFIGURE_BODY_SIZE];
    node_reconfigure_encode(&body, bytes);
    assert_int_equal(tc_le_get_u32(bytes), 3);
    assert_int_equal(bytes[4], 2);
    assert_true(bytes[5] == 0 && bytes[6] == 0 && bytes[7] == 0);
    assert_true(tc_le_get_u64(bytes + 8) == old && tc_le_get_u64(bytes + 16) == learner);
    // Not the primary, or acting in another epoch than the step's: wait.
    input.primary_normal = false;
    assert_int_equal(node_reconfigure_decide(&input, &body), NODE_RECONFIGURE_WAIT);
    input.primary_normal = true;
    input.acting_epoch = 1;
    assert_int_equal(node_reconfigure_decide(&input, &body), NODE_RECONFIGURE_WAIT);
    // The slot holds the learner already (a committed change, whatever the epoch): applied.
    input.acting_epoch = 3;
    input.slot_member_id = learner;
    assert_int_equal(node_reconfigure_decide(&input, &body), NODE_RECONFIGURE_APPLIED);
    input.slot_member_id = 0x9999980; // a newer epoch with another member: not ours to change
    assert_int_equal(node_reconfigure_decide(&input, &body), NODE_RECONFIGURE_WAIT);
    // No learner named yet, or the replaced node not a member: nothing.
    struct node_ctl_change early = change;
    early.learner_known = false;
    early.learner_id = 0;
    input = (struct node_reconfigure_input){.change = &early, .topology_epoch = 2, .slot = 2,
                                            .primary_normal = true, .acting_epoch = 2,
                                            .slot_member_id = old};
    assert_int_equal(node_reconfigure_decide(&input, &body), NODE_RECONFIGURE_NONE);
    input.change = &change;
    input.slot = -1;
    assert_int_equal(node_reconfigure_decide(&input, &body), NODE_RECONFIGURE_NONE);
}

static void test_retire_decide(void **state) {
    (void)state;
    const struct node_ctl_topology_group done = {.id = 1, .epoch = 3, .member_count = 3,
                                                 .members = {4, 2, 3}};
    // Node 1: replaced (no longer a member) and its replica retired: it stops.
    assert_true(node_retire_decide(&done, 1, false, true));
    // Not yet retired (it has not applied the reconfigure), or still recovering: kept.
    assert_false(node_retire_decide(&done, 1, false, false));
    assert_false(node_retire_decide(&done, 1, true, true));
    // A member of the topology, or no topology entry: kept.
    assert_false(node_retire_decide(&done, 2, false, true));
    assert_false(node_retire_decide(NULL, 1, false, true));
    // The step still running (the topology lists node 1): kept; a learner target: kept.
    const struct node_ctl_topology_group running = {
        .id = 1, .epoch = 2, .member_count = 3, .members = {1, 2, 3},
        .change = {.kind = NODE_CTL_CHANGE_REPLACE, .from_node = 1, .to_node = 4}};
    assert_false(node_retire_decide(&running, 1, false, true));
    assert_false(node_retire_decide(&running, 4, false, true));
}

static void test_topology_file(void **state) {
    (void)state;
    char error[NODE_CTL_ERROR_SIZE];
    uint32_t size = 0;
    assert_int_equal(node_ctl_topology_file_read(dir, buffer, sizeof(buffer), &size), TC_ENOENT);
    assert_int_equal(node_ctl_topology_file_write(dir, "{\"a\":1}", 7, error), 0);
    assert_int_equal(node_ctl_topology_file_write(dir, "{\"b\":22}", 8, error), 0);
    assert_false(file_exists("topology.json.tmp"));
    assert_int_equal(node_ctl_topology_file_read(dir, buffer, sizeof(buffer), &size), 0);
    assert_int_equal(size, 8);
    assert_string_equal(buffer, "{\"b\":22}");
    assert_int_equal(node_ctl_topology_file_read(dir, buffer, 9, &size), 0);
    assert_int_equal(node_ctl_topology_file_read(dir, buffer, 8, &size), TC_ETOOBIG);
    char missing[96];
    (void)snprintf(missing, sizeof(missing), "%s/no/such/dir", dir);
    assert_int_equal(node_ctl_topology_file_write(missing, "{}", 2, error), TC_EIO);
    assert_non_null(strstr(error, "cannot create"));
}

// ------------------------------------------------------------------------------------------------
// The client thread against a fake controller.

struct fake {
    int fd;
    uint16_t port;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t mutex;
    // Under the mutex.
    uint32_t register_refusals; // answer 403 unknown_node this many times first
    uint32_t registers;
    uint32_t heartbeats;
    uint32_t topology_gets;
    uint32_t bad_messages; // a signature or time the controller would refuse
    uint64_t topology_version; // announced in heartbeat answers
    char *topology;            // the GET /v1/topology answer
    struct tc_audit_public_key node_key;
    bool node_key_known;
    uint64_t heartbeat_time_ms;
};

static struct fake fake;

static int fake_read(int fd, char *request, uint32_t capacity, const char **body,
                     uint32_t *body_size) {
    uint32_t used = 0;
    for (;;) {
        const ssize_t n = recv(fd, request + used, capacity - 1 - used, 0);
        if (n <= 0) return -1;
        used += (uint32_t)n;
        request[used] = '\0';
        char *end = strstr(request, "\r\n\r\n");
        if (end == NULL) continue;
        const char *length = strcasestr(request, "Content-Length: ");
        const uint32_t want = length == NULL ? 0 : (uint32_t)strtoul(length + 16, NULL, 10);
        const uint32_t head = (uint32_t)(end + 4 - request);
        if (used - head < want) continue;
        *body = end + 4;
        *body_size = want;
        return 0;
    }
}

static void fake_answer(int fd, int status, const char *body) {
    char head[256];
    const int n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Type: application/json"
                           "\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
                           strlen(body));
    assert_true(send(fd, head, (size_t)n, MSG_NOSIGNAL) == n);
    assert_true(send(fd, body, strlen(body), MSG_NOSIGNAL) == (ssize_t)strlen(body));
}

static const char *fake_register(const char *body, uint32_t size, int *status) {
    cJSON *root = cJSON_ParseWithLength(body, size);
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(root, "public_key");
    struct tc_audit_public_key node_key;
    const bool valid = cJSON_IsString(key) &&
                       tc_audit_key_from_hex(&node_key, key->valuestring) == 0 &&
                       controller_check(body, size, NODE_CTL_DOMAIN_REGISTER, &node_key) == 0;
    cJSON_Delete(root);
    fake.registers += 1;
    if (!valid) fake.bad_messages += 1;
    if (fake.register_refusals > 0) {
        fake.register_refusals -= 1;
        *status = 403;
        return "{\"error\":\"unknown_node\",\"message\":\"add it with tigerctl nodes add\"}";
    }
    fake.node_key = node_key;
    fake.node_key_known = true;
    *status = 200;
    return "{\"status\":\"added\"}";
}

static const char *fake_heartbeat(const char *body, uint32_t size, int *status, char *answer) {
    assert_true(fake.node_key_known); // heartbeats only after a registration
    bool valid = controller_check(body, size, NODE_CTL_DOMAIN_HEARTBEAT, &fake.node_key) == 0;
    cJSON *root = cJSON_ParseWithLength(body, size);
    const cJSON *time = cJSON_GetObjectItemCaseSensitive(root, "time");
    uint64_t time_ms = 0;
    valid = valid && cJSON_IsString(time) &&
            tc_audit_time_parse(time->valuestring, strlen(time->valuestring), &time_ms) &&
            time_ms > fake.heartbeat_time_ms &&
            cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "status"));
    cJSON_Delete(root);
    if (!valid) {
        fake.bad_messages += 1;
        *status = 409;
        return "{\"error\":\"replay\",\"message\":\"bad heartbeat\"}";
    }
    fake.heartbeat_time_ms = time_ms;
    fake.heartbeats += 1;
    *status = 200;
    (void)sprintf(answer, "{\"topology_version\":%llu}", (unsigned long long)fake.topology_version);
    return answer;
}

static void fake_serve(int fd) {
    static char request[BUFFER_SIZE];
    char answer[64];
    const char *body = NULL;
    uint32_t size = 0;
    if (fake_read(fd, request, sizeof(request), &body, &size) != 0) return;
    pthread_mutex_lock(&fake.mutex);
    int status = 404;
    const char *reply = "{\"error\":\"not_found\",\"message\":\"\"}";
    if (strncmp(request, "POST /v1/register ", 18) == 0) {
        reply = fake_register(body, size, &status);
    } else if (strncmp(request, "POST /v1/heartbeat ", 19) == 0) {
        reply = fake_heartbeat(body, size, &status, answer);
    } else if (strncmp(request, "GET /v1/topology?have=", 22) == 0 && fake.topology != NULL) {
        fake.topology_gets += 1;
        status = 200;
        reply = fake.topology;
    }
    pthread_mutex_unlock(&fake.mutex);
    fake_answer(fd, status, reply);
}

static void *fake_thread(void *context) {
    (void)context;
    while (!atomic_load(&fake.stop)) {
        struct pollfd poll_fd = {.fd = fake.fd, .events = POLLIN};
        if (poll(&poll_fd, 1, 20) <= 0) continue;
        const int fd = accept(fake.fd, NULL, NULL);
        if (fd < 0) continue;
        fake_serve(fd);
        (void)close(fd);
    }
    return NULL;
}

static void fake_start(void) {
    fake.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fake.fd >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    assert_int_equal(bind(fake.fd, (struct sockaddr *)&address, sizeof(address)), 0);
    socklen_t length = sizeof(address);
    assert_int_equal(getsockname(fake.fd, (struct sockaddr *)&address, &length), 0);
    fake.port = ntohs(address.sin_port);
    assert_int_equal(listen(fake.fd, 16), 0);
    atomic_store(&fake.stop, false);
    assert_int_equal(pthread_mutex_init(&fake.mutex, NULL), 0);
    assert_int_equal(pthread_create(&fake.thread, NULL, fake_thread, NULL), 0);
}

static void fake_stop(void) {
    atomic_store(&fake.stop, true);
    assert_int_equal(pthread_join(fake.thread, NULL), 0);
    assert_int_equal(close(fake.fd), 0);
    assert_int_equal(pthread_mutex_destroy(&fake.mutex), 0);
}

static struct node node;

// A node of group 1 (not hosted: no replica needed) whose controller is the fake.
static void node_setup(uint16_t port, uint32_t interval_ms, const struct keypair *controller) {
    free(node.groups);
    free(node.group_order);
    memset(&node, 0, sizeof(node));
    char text[1024];
    const int n = snprintf(text, sizeof(text),
                           "cluster = 1\nnode = 3\ndata_dir = %s\nlisten_peer = *:7103\n"
                           "listen_client = 127.0.0.1:7203\nlisten_admin = 127.0.0.1:7303\n"
                           "peer.3 = 127.0.0.1:7103\npeer.4 = 127.0.0.1:7104\ngroup.1 = 4\n"
                           "jwt_key_file = jwt.key\ncontroller = 127.0.0.1:%u\n"
                           "controller_key_file = ctl.pub\nzone = z1\n"
                           "controller_interval_ms = %u\n", dir, port, interval_ms);
    char error[TC_NODE_CONFIG_ERROR_SIZE];
    const int rc = tc_node_config_parse(&node.config, "node.conf", text, (uint32_t)n, error,
                                        sizeof(error));
    if (rc != 0) fail_msg("%s", error);
    memcpy(node.config.controller_key, controller->key.bytes, 32);
    node.node_id = 3;
    node.log_level = TC_LOG_DEBUG;
    node.group_count = node.config.group_count;
    node.group_capacity = node.group_count;
    tc_histogram_init(&node.stats.latency.batch_commit, &tc_histogram_layout_commit);
    node.groups = calloc(node.group_count, sizeof(node.groups[0]));
    node.group_order = calloc(node.group_count, sizeof(node.group_order[0]));
    assert_non_null(node.groups);
    assert_non_null(node.group_order);
    node.groups[0].id = 1;
    node.groups[0].node = &node;
    node.groups[0].replica_count = 1;
    node.groups[0].route = (struct node_route){.replica_count = 1, .members = {4}};
}

static uint64_t now_ms(void) { return tc_io_linux_monotonic_ns() / 1000000u; }

// Ticks like the loop until `done` holds (at most 10 s).
static void run_until(bool (*done)(void)) {
    const uint64_t deadline = now_ms() + 10000;
    while (!done()) {
        assert_true(now_ms() < deadline);
        node_ctl_tick(&node);
        (void)usleep(10000);
    }
    node_ctl_tick(&node);
}

static bool topology_installed(void) {
    struct node_ctl_stats stats;
    node_ctl_stats_get(&node, &stats);
    pthread_mutex_lock(&fake.mutex);
    const bool done = stats.topology_version == 17 && fake.heartbeats >= 3;
    pthread_mutex_unlock(&fake.mutex);
    return done;
}

static bool topology_asked(void) {
    pthread_mutex_lock(&fake.mutex);
    const bool done = fake.topology_gets >= 1;
    pthread_mutex_unlock(&fake.mutex);
    return done;
}

static void stop_quickly(void) {
    const uint64_t start = now_ms();
    node_ctl_deinit(&node);
    assert_null(node.ctl);
    assert_true(now_ms() - start < 1000); // never waits out the interval
}

static void test_client_thread(void **state) {
    (void)state;
    struct keypair controller;
    keypair_init(&controller, 1);
    char key_path[128];
    (void)snprintf(key_path, sizeof(key_path), "%s/node.key", dir);
    struct tc_audit_public_key node_key;
    assert_int_equal(tc_audit_keygen(key_path, &node_key), 0);
    memset(&fake, 0, sizeof(fake));
    fake_start();
    fake.register_refusals = 1;
    fake.topology_version = 17;
    const uint32_t size = signed_topology(body_json, &controller, NULL, response,
                                          sizeof(response));
    fake.topology = strdup(response);
    // Refused once (unknown node), registered, heartbeats, the topology fetched and handed over.
    node_setup(fake.port, 200, &controller);
    assert_string_equal(node.config.node_key_file, key_path);
    assert_int_equal(node_ctl_init(&node), 0);
    assert_int_equal(node_ctl_start(&node), 0);
    run_until(topology_installed);
    struct node_ctl_stats stats;
    node_ctl_stats_get(&node, &stats);
    assert_true(stats.configured && stats.up);
    assert_int_equal(fake.registers, 2);
    assert_int_equal(fake.bad_messages, 0);
    assert_int_equal(fake.topology_gets, 1); // once installed, no more fetches
    assert_memory_equal(fake.node_key.bytes, node_key.bytes, 32);
    uint32_t file_size = 0;
    assert_int_equal(node_ctl_topology_file_read(dir, buffer, sizeof(buffer), &file_size), 0);
    assert_int_equal(file_size, size);
    assert_memory_equal(buffer, response, size);
    stop_quickly();
    // Restart with a long interval: the cached topology is loaded before any call; a topology
    // older than it is refused (C6) and the file stays; the stop does not wait 60 s.
    fake.heartbeat_time_ms = 0;
    fake.topology_gets = 0;
    fake.topology_version = 18;
    free(fake.topology);
    char older[1024];
    (void)snprintf(older, sizeof(older), "%s", body_json);
    memcpy(strstr(older, "17"), "16", 2);
    (void)signed_topology(older, &controller, NULL, response, sizeof(response));
    fake.topology = strdup(response);
    node_setup(fake.port, 60000, &controller);
    assert_int_equal(node_ctl_init(&node), 0);
    node_ctl_stats_get(&node, &stats);
    assert_int_equal(stats.topology_version, 17);
    assert_int_equal(node_ctl_start(&node), 0);
    run_until(topology_asked);
    node_ctl_stats_get(&node, &stats);
    assert_int_equal(stats.topology_version, 17);
    assert_int_equal(node_ctl_topology_file_read(dir, buffer, sizeof(buffer), &file_size), 0);
    assert_int_equal(file_size, size);
    stop_quickly();
    fake_stop();
    free(fake.topology);
}

// The controller is down: the client keeps trying, the loop keeps ticking, the stop is prompt.
// A missing node key refuses the start; a damaged cached topology is ignored.
static void test_client_failures(void **state) {
    (void)state;
    struct keypair controller;
    keypair_init(&controller, 1);
    memset(&fake, 0, sizeof(fake));
    fake_start();
    const uint16_t port = fake.port;
    fake_stop(); // nothing listens on the port any more
    node_setup(port, 200, &controller);
    memcpy(strrchr(node.config.node_key_file, '/'), "/missing.key", 13);
    assert_int_equal(node_ctl_init(&node), TC_ENOENT);
    assert_non_null(strstr(node.error, "node_key_file"));
    assert_non_null(strstr(node.error, "tigerchat-node format"));
    node_ctl_deinit(&node);
    assert_null(node.ctl);
    char error[NODE_CTL_ERROR_SIZE];
    assert_int_equal(node_ctl_topology_file_write(dir, "{\"body\":{}}", 11, error), 0);
    node_setup(port, 200, &controller);
    if (!file_exists("node.key")) {
        char key_path[128];
        (void)snprintf(key_path, sizeof(key_path), "%s/node.key", dir);
        assert_int_equal(tc_audit_keygen(key_path, NULL), 0);
    }
    assert_int_equal(node_ctl_init(&node), 0);
    struct node_ctl_stats stats;
    node_ctl_stats_get(&node, &stats);
    assert_int_equal(stats.topology_version, 0); // the damaged file was not installed
    assert_int_equal(node_ctl_start(&node), 0);
    const uint64_t until = now_ms() + 600;
    while (now_ms() < until) {
        node_ctl_tick(&node);
        (void)usleep(10000);
    }
    node_ctl_stats_get(&node, &stats);
    assert_false(stats.up);
    assert_int_equal(stats.heartbeats, 0);
    stop_quickly();
    free(node.groups);
    free(node.group_order);
    node.groups = NULL;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_build),
        cmocka_unit_test(test_status_bounds),
        cmocka_unit_test(test_status_extra),
        cmocka_unit_test(test_log_limit),
        cmocka_unit_test(test_time_next),
        cmocka_unit_test(test_register_build),
        cmocka_unit_test(test_heartbeat_build),
        cmocka_unit_test(test_answer_member),
        cmocka_unit_test(test_topology_verify),
        cmocka_unit_test(test_topology_slots),
        cmocka_unit_test(test_topology_tampered),
        cmocka_unit_test(test_topology_limits),
        cmocka_unit_test(test_change_decide),
        cmocka_unit_test(test_route_target),
        cmocka_unit_test(test_route_install),
        cmocka_unit_test(test_replica_ids),
        cmocka_unit_test(test_identity_text),
        cmocka_unit_test(test_identity_file),
        cmocka_unit_test(test_learner_decide),
        cmocka_unit_test(test_reconfigure_decide),
        cmocka_unit_test(test_retire_decide),
        cmocka_unit_test(test_topology_file),
        cmocka_unit_test(test_client_thread),
        cmocka_unit_test(test_client_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
