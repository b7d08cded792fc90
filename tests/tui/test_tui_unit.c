// Unit tests of the dashboard's model (tui/): parsing canned controller answers (real shapes,
// malformed ones, oversized ones), derived state (primaries, lag, rates, health), the link's
// backoff, keys and selection, filters, the layout, the text; and the client on tigerctl_core
// against an in-process fake controller (a thread serving canned answers by path): a full
// refresh, malformed JSON, error answers, a controller that is down, a refused plan, the signed
// job.start, and the audit chain verified over the API (a real chain written with tc_audit, then
// tampered with).
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tc_audit.h"
#include "tc_checksum.h"
#include "tc_err.h"
#include "tigerctl.h"
#include "tui.h"
#include "tui_client.h"
#include "tui_format.h"
#include "tui_model.h"
#include "tui_ui.h"

// ------------------------------------------------------------------------------------------------
// Canned answers, shaped as a real 4-node controller answered (docs/operations.md §7).

static const char status_json[] =
    "{\"cluster\":\"local\",\"controller_key\":\"1201e4e65ccc8d282acf5e5719fbefe7b704385b8050beaa"
    "5d2d8e468d282d6c\",\"audit\":{\"seq\":9,\"head\":\"38958d11c97482fe1f2a5ab84a8ebd90b23eeb3b6"
    "58f07357f0c9a6d43944223\",\"writable\":true},\"topology_version\":8,\"nodes\":{\"active\":4,"
    "\"cordoned\":0,\"draining\":0,\"drained\":0,\"down\":0,\"live\":3},\"groups\":{\"total\":2,"
    "\"healthy\":1,\"degraded\":1,\"no_quorum\":0},\"jobs_running\":1,\"keys_active\":2,"
    "\"rejected_requests\":0}";

static const char groups_json[] =
    "[{\"id\":2,\"epoch\":1,\"primary\":2,\"slots\":0,\"live_members\":2,\"health\":\"degraded\","
    "\"members\":[2,3,4],\"change\":{\"from\":3,\"job\":7,\"kind\":\"replace\",\"step\":2,\"to\":1}"
    "},"
    "{\"id\":1,\"epoch\":0,\"primary\":1,\"slots\":4096,\"live_members\":3,\"health\":\"healthy\","
    "\"members\":[1,2,3],\"change\":null}]";

#define HB "\"heartbeat_ms\":1796245158000"
static const char nodes_json[] =
    "[{\"id\":1,\"public_key\":\"a9\",\"zone\":\"a\",\"address_peer\":\"127.0.0.1:7901\","
    "\"address_client\":\"127.0.0.1:7801\",\"address_admin\":\"127.0.0.1:8001\",\"state\":"
    "\"active\",\"live\":true," HB ",\"status\":{\"connections\":12,\"groups\":["
    "{\"applied\":40,\"commit\":42,\"epoch\":0,\"id\":1,\"op\":42,\"primary\":false,\"replica_id\":"
    "\"7\",\"role\":\"member\",\"slot\":0,\"state\":\"normal\",\"view\":1},"
    "{\"applied\":5,\"commit\":9,\"epoch\":1,\"id\":2,\"op\":9,\"primary\":false,\"replica_id\":"
    "\"8\",\"role\":\"learner\",\"slot\":1,\"state\":\"normal\",\"view\":3}]}},"
    "{\"id\":2,\"public_key\":\"7b\",\"zone\":\"b\",\"address_peer\":\"127.0.0.1:7902\","
    "\"address_client\":\"127.0.0.1:7802\",\"address_admin\":\"127.0.0.1:8002\",\"state\":"
    "\"active\",\"live\":true," HB ",\"status\":{\"commit_p99_us\":1850,\"connections\":3,"
    "\"groups\":["
    "{\"applied\":42,\"commit\":42,\"epoch\":0,\"id\":1,\"op\":42,\"primary\":true,\"replica_id\":"
    "\"9\",\"role\":\"member\",\"slot\":1,\"state\":\"normal\",\"view\":1},"
    "{\"applied\":12,\"commit\":12,\"epoch\":1,\"id\":2,\"op\":12,\"primary\":true,\"replica_id\":"
    "\"10\",\"role\":\"member\",\"slot\":0,\"state\":\"normal\",\"view\":3}],"
    "\"rooms\":[{\"group\":2,\"messages\":5,\"room\":\"77\",\"seq\":5},{\"group\":1,"
    "\"messages\":30,\"room\":\"18446744073709551615\",\"seq\":900}],\"rooms_window_ms\":2000}},"
    "{\"id\":3,\"public_key\":\"a2\",\"zone\":\"\",\"address_peer\":\"127.0.0.1:7903\","
    "\"address_client\":\"127.0.0.1:7803\",\"address_admin\":\"127.0.0.1:8003\",\"state\":"
    "\"draining\",\"live\":false,\"heartbeat_ms\":null,\"status\":null},"
    "{\"id\":4,\"public_key\":\"5c\",\"zone\":\"c\",\"address_peer\":\"127.0.0.1:7904\","
    "\"address_client\":\"127.0.0.1:7804\",\"address_admin\":\"127.0.0.1:8004\",\"state\":"
    "\"active\",\"live\":true," HB ",\"status\":{\"connections\":0,\"groups\":["
    "{\"applied\":11,\"commit\":12,\"epoch\":1,\"id\":2,\"op\":12,\"primary\":false,\"replica_id\":"
    "\"11\",\"role\":\"member\",\"slot\":2,\"state\":\"view_change\",\"view\":3}]}}]";

static const char jobs_json[] =
    "[{\"id\":7,\"kind\":\"drain\",\"node\":3,\"topology_hash\":\"ab\",\"state\":\"running\","
    "\"reason\":\"\",\"created_seq\":20,\"updated_seq\":22,\"moves_done\":1,\"moves\":3},"
    "{\"id\":6,\"kind\":\"rebalance\",\"node\":null,\"topology_hash\":\"cd\",\"state\":\"failed\","
    "\"reason\":\"stalled: group 1\",\"created_seq\":10,\"updated_seq\":12,\"moves_done\":0,"
    "\"moves\":1}]";

static const char job7_json[] =
    "{\"id\":7,\"kind\":\"drain\",\"node\":3,\"state\":\"running\",\"moves_done\":1,\"moves\":["
    "{\"step\":1,\"group\":1,\"kind\":\"move_primary\",\"from\":3,\"to\":2,\"state\":\"done\","
    "\"progress\":\"node 2 leads group 1\"},"
    "{\"step\":2,\"group\":2,\"kind\":\"replace\",\"from\":3,\"to\":1,\"state\":\"running\","
    "\"progress\":\"declared; learner at op 5 of 12\"},"
    "{\"step\":3,\"group\":1,\"kind\":\"replace\",\"from\":3,\"to\":4,\"state\":\"pending\","
    "\"progress\":\"\"}]}";

static const char audit_json[] =
    "{\"entries\":[{\"action\":\"node.add\",\"actor\":\"1201e4e65ccc8d28\",\"args\":{\"node\":4},"
    "\"result\":\"ok\",\"seq\":8,\"time\":\"2026-12-02T20:59:15.394Z\"},"
    "{\"action\":\"job.start\",\"actor\":\"429eccaaf54966d4\",\"args\":{\"kind\":\"drain\"},"
    "\"result\":{\"job\":7,\"status\":\"ok\"},\"seq\":9,\"time\":\"2026-12-02T20:59:16.000Z\"}],"
    "\"head_seq\":9,\"next_after\":9}";

static const char plan_json[] =
    "{\"kind\":\"drain\",\"steps\":[{\"from\":1,\"group\":3,\"kind\":\"move_primary\",\"step\":1,"
    "\"to\":3},{\"from\":1,\"group\":1,\"kind\":\"replace\",\"step\":2,\"to\":4}],\"topology_"
    "hash\":"
    "\"84237ee3d08ac09a9f1cb263de4a4cd2f806b60ce73443f2d4c2464b907c72c5\",\"topology_version\":8}";

#define WALL_MS UINT64_C(1796245160000) // 2 s after the heartbeats above

static cJSON *parse(const char *text) {
    cJSON *json = cJSON_Parse(text);
    assert_non_null(json);
    return json;
}

static struct tui_snapshot *snapshot_new(void) {
    struct tui_snapshot *snapshot = calloc(1, sizeof(*snapshot));
    assert_non_null(snapshot);
    return snapshot;
}

// The canned cluster parsed and derived, as tui_refresh would leave it.
static struct tui_snapshot *snapshot_canned(void) {
    struct tui_snapshot *snapshot = snapshot_new();
    char error[128];
    const char *texts[] = {status_json, groups_json, nodes_json, jobs_json, audit_json};
    for (uint32_t i = 0; i < 5; i++) {
        cJSON *json = parse(texts[i]);
        int rc = 0;
        if (i == 0) rc = tui_parse_status(json, &snapshot->status, error, sizeof(error));
        if (i == 1) rc = tui_parse_groups(json, snapshot, error, sizeof(error));
        if (i == 2) rc = tui_parse_nodes(json, snapshot, error, sizeof(error));
        if (i == 3) rc = tui_parse_jobs(json, snapshot, error, sizeof(error));
        if (i == 4) rc = tui_parse_audit(json, snapshot, error, sizeof(error));
        assert_int_equal(rc, 0);
        cJSON_Delete(json);
    }
    cJSON *job = parse(job7_json);
    uint32_t total = 0;
    assert_int_equal(tui_parse_job_moves(job, snapshot->moves, TUI_MOVES_MAX, &snapshot->move_count,
                                         &total, error, sizeof(error)),
                     0);
    cJSON_Delete(job);
    snapshot->running_job = 7;
    tui_snapshot_derive(snapshot, NULL);
    snapshot->fetched_ms = WALL_MS;
    snapshot->valid = true;
    return snapshot;
}

// ------------------------------------------------------------------------------------------------
// Parsing and derived state

static void test_parse_real_shapes(void **state) {
    (void)state;
    struct tui_snapshot *s = snapshot_canned();
    assert_string_equal(s->status.cluster, "local");
    assert_int_equal(s->status.audit_seq, 9);
    assert_true(s->status.audit_writable);
    assert_int_equal(s->status.groups_degraded, 1);
    assert_int_equal(s->node_count, 4);
    assert_int_equal(s->group_count, 2);
    assert_int_equal(s->groups[0].id, 1); // sorted by id
    assert_int_equal(s->groups[1].id, 2);
    assert_int_equal(s->rows_ignored + s->rows_dropped, 0);
    // Group 1: node 2's heartbeat leads it; commit 42, node 1 applied 40: lag 2.
    const struct tui_group *g1 = tui_group_find(s, 1);
    assert_int_equal(g1->primary_topology, 1);
    assert_int_equal(g1->primary_observed, 2);
    assert_int_equal(g1->commit, 42);
    assert_int_equal(g1->lag, 2);
    assert_int_equal(g1->observed_count, 2);
    assert_false(g1->unsettled);
    // Group 2: a learner on node 1 (not in the lag), node 4 in a view change, a change declared.
    const struct tui_group *g2 = tui_group_find(s, 2);
    assert_int_equal(g2->view, 3);
    assert_int_equal(g2->commit, 12);
    assert_int_equal(g2->lag, 1);
    assert_true(g2->unsettled);
    assert_true(g2->change.present);
    assert_string_equal(g2->change.kind, "replace");
    assert_int_equal(g2->health, TUI_HEALTH_DEGRADED);
    // Nodes: replicas from the topology, primaries and learners from heartbeats.
    const struct tui_node *n1 = tui_node_find(s, 1);
    assert_int_equal(n1->replicas, 1);
    assert_int_equal(n1->learners, 1);
    assert_int_equal(n1->connections, 12);
    assert_false(n1->commit_p99_known);
    assert_true(tui_node_find(s, 2)->commit_p99_known);
    assert_int_equal(tui_node_find(s, 2)->commit_p99_us, 1850);
    // The busiest rooms (node 2 leads both groups): per second over its 2 s window, busiest first.
    assert_int_equal(s->room_count, 2);
    uint32_t rows[TUI_ROWS_MAX], total = 0;
    assert_int_equal(tui_pane_rows(s, TUI_PANE_ROOMS, "", 0, rows, &total), 2);
    assert_true(tui_row_id(s, TUI_PANE_ROOMS, rows[0]) == UINT64_MAX); // 64-bit ids: a string
    assert_int_equal(tui_row_id(s, TUI_PANE_ROOMS, rows[1]), 77);
    char line[TUI_LINE_SIZE];
    tui_format_row(s, TUI_PANE_ROOMS, rows[0], 0, line);
    assert_non_null(strstr(line, "18446744073709551615"));
    assert_non_null(strstr(line, "15.0"));
    static char detail[TUI_DETAIL_LINES_MAX][TUI_LINE_SIZE];
    assert_true(tui_format_detail(s, TUI_PANE_ROOMS, 77, NULL, 0, 0, detail) > 1);
    assert_non_null(strstr(detail[0], "Room 77: 2.5 messages/s, last seq 5"));
    assert_int_equal(tui_node_find(s, 2)->primaries, 2);
    assert_int_equal(tui_node_find(s, 2)->replicas, 2);
    assert_false(tui_node_find(s, 3)->heartbeat_known);
    assert_false(tui_node_find(s, 3)->live);
    // Jobs, the running job's moves, the audit tail.
    assert_int_equal(s->job_count, 2);
    assert_non_null(tui_job_running(s));
    assert_int_equal(tui_job_running(s)->id, 7);
    assert_int_equal(s->move_count, 3);
    assert_string_equal(s->audit[1].result, "ok (job 7)");
    assert_string_equal(s->audit[1].args, "{\"kind\":\"drain\"}");
    assert_int_equal(tui_cluster_health(s), TUI_HEALTH_DEGRADED);
    // Room ids are non-zero decimal strings of at most 64 bits; others are ignored, not shown.
    static const char *const bad_rooms[] = {"0", "012", "12a", "18446744073709551616",
                                            "123456789012345678901"};
    for (uint32_t i = 0; i < sizeof(bad_rooms) / sizeof(bad_rooms[0]); i++) {
        char json[512];
        (void)snprintf(json, sizeof(json), "[{\"id\":9,\"state\":\"active\",\"live\":true,"
                       "\"status\":{\"connections\":0,\"groups\":[],\"rooms\":[{\"group\":1,"
                       "\"messages\":1,\"room\":\"%s\",\"seq\":1}],\"rooms_window_ms\":1000}}]",
                       bad_rooms[i]);
        cJSON *parsed = cJSON_Parse(json);
        char error[128];
        assert_int_equal(tui_parse_nodes(parsed, s, error, sizeof(error)), 0);
        cJSON_Delete(parsed);
        assert_int_equal(s->room_count, 0);
    }
    // More rooms than kept: the busiest stay.
    char *many = malloc(64u * 1024u);
    assert_non_null(many);
    uint32_t used = (uint32_t)sprintf(many, "[");
    for (uint32_t n = 1; n <= 20; n++) {
        used += (uint32_t)sprintf(many + used, "%s{\"id\":%u,\"state\":\"active\",\"live\":true,"
                                  "\"status\":{\"connections\":0,\"groups\":[],\"rooms\":[",
                                  n == 1 ? "" : ",", n);
        for (uint32_t r = 0; r < 8; r++) {
            used += (uint32_t)sprintf(many + used, "%s{\"group\":1,\"messages\":%u,\"room\":\"%u\","
                                      "\"seq\":1}", r == 0 ? "" : ",", n * 10 + r, n * 100 + r);
        }
        used += (uint32_t)sprintf(many + used, "],\"rooms_window_ms\":1000}}");
    }
    (void)sprintf(many + used, "]");
    cJSON *parsed = cJSON_Parse(many);
    free(many);
    char error[128];
    assert_int_equal(tui_parse_nodes(parsed, s, error, sizeof(error)), 0);
    cJSON_Delete(parsed);
    assert_int_equal(s->room_count, TUI_ROOMS_MAX);
    double slowest = 1e9;
    for (uint32_t i = 0; i < s->room_count; i++) {
        if (s->rooms[i].per_s < slowest) slowest = s->rooms[i].per_s;
    }
    assert_true(slowest >= 120.0); // 160 offered (10..207/s): the 64 busiest are 120..207/s
    free(s);
}

static void expect_einval(int rc, const char *error, const char *needle) {
    assert_int_equal(rc, TC_EINVAL);
    assert_non_null(strstr(error, needle));
}

static void test_parse_wrong_shapes(void **state) {
    (void)state;
    struct tui_snapshot *s = snapshot_new();
    char error[128];
    cJSON *object = parse("{\"a\":1}");
    cJSON *array = parse("[1,2]");
    expect_einval(tui_parse_nodes(object, s, error, sizeof(error)), error, "/v1/nodes");
    expect_einval(tui_parse_groups(object, s, error, sizeof(error)), error, "/v1/groups");
    expect_einval(tui_parse_jobs(object, s, error, sizeof(error)), error, "/v1/jobs");
    expect_einval(tui_parse_audit(array, s, error, sizeof(error)), error, "/v1/audit");
    expect_einval(tui_parse_status(array, &s->status, error, sizeof(error)), error, "/v1/status");
    expect_einval(tui_parse_status(object, &s->status, error, sizeof(error)), error, "audit.seq");
    expect_einval(tui_parse_nodes(NULL, s, error, sizeof(error)), error, "not an array");
    uint32_t count = 0, total = 0;
    expect_einval(
        tui_parse_job_moves(array, s->moves, TUI_MOVES_MAX, &count, &total, error, sizeof(error)),
        error, "moves");
    cJSON_Delete(object);
    cJSON_Delete(array);
    free(s);
}

static void test_parse_malformed_rows(void **state) {
    (void)state;
    struct tui_snapshot *s = snapshot_new();
    char error[128];
    // Groups: no id, id 0, id too big, a string id, a repeated id; members of every wrong type.
    cJSON *groups =
        parse("[{\"epoch\":1},{\"id\":0},{\"id\":70000},{\"id\":\"3\"},"
              "{\"id\":5,\"members\":[1e300,-1,2.5,\"x\",null,7,8,9,10],\"health\":7,"
              "\"primary\":\"no\",\"change\":[1]},{\"id\":5},{\"id\":6,\"live_members\":"
              "-3}]");
    assert_int_equal(tui_parse_groups(groups, s, error, sizeof(error)), 0);
    assert_int_equal(s->group_count, 2);
    assert_int_equal(s->rows_ignored, 5);
    const struct tui_group *g5 = tui_group_find(s, 5);
    assert_int_equal(g5->member_count, 3); // 7, 8, 9: the first three valid ids
    assert_int_equal(g5->members[0], 7);
    assert_int_equal(g5->primary_topology, 0);
    assert_false(g5->change.present);
    assert_int_equal(tui_group_find(s, 6)->health, TUI_HEALTH_NO_QUORUM); // derived from live 0
    // Nodes: control characters sanitized, a status of the wrong type, reports of unknown groups
    // and without ids, a node id out of range.
    cJSON *nodes =
        parse("[{\"id\":1,\"state\":\"act\\u001bive\\n\",\"zone\":5,\"status\":[1]},"
              "{\"id\":256},{\"id\":2,\"status\":{\"connections\":-1,\"groups\":[{\"id\":"
              "99},{\"role\":\"member\"},{\"id\":5,\"commit\":1e20,\"primary\":1}]}}]");
    assert_int_equal(tui_parse_nodes(nodes, s, error, sizeof(error)), 0);
    assert_int_equal(s->node_count, 2);
    assert_string_equal(s->nodes[0].state, "act?ive?");
    assert_string_equal(s->nodes[0].zone, "?");
    assert_false(s->nodes[1].connections_known);
    assert_int_equal(s->nodes[1].reported, 2); // groups 99 and 5; the one without id is skipped
    assert_int_equal(tui_group_find(s, 5)->observed_count, 1);
    assert_int_equal(tui_group_find(s, 5)->observed[0].commit, 0); // beyond 2^53: unknown
    tui_snapshot_derive(s, NULL);
    cJSON_Delete(groups);
    cJSON_Delete(nodes);
    free(s);
}

static void test_parse_bounds(void **state) {
    (void)state;
    struct tui_snapshot *s = snapshot_new();
    char error[128];
    cJSON *nodes = cJSON_CreateArray();
    for (int i = 1; i <= 300; i++) {
        cJSON *node = cJSON_CreateObject();
        cJSON_AddNumberToObject(node, "id", i > 255 ? i - 255 : i); // 45 repeated ids too
        cJSON_AddItemToArray(nodes, node);
    }
    assert_int_equal(tui_parse_nodes(nodes, s, error, sizeof(error)), 0);
    assert_int_equal(s->node_count, 255 - 0); // the first 255 fit; the rest were dropped
    assert_int_equal(s->rows_dropped, 45);
    cJSON_Delete(nodes);
    // One group reported by 7 nodes: 5 kept.
    cJSON *groups = parse("[{\"id\":1,\"members\":[1,2,3]}]");
    assert_int_equal(tui_parse_groups(groups, s, error, sizeof(error)), 0);
    nodes = cJSON_CreateArray();
    for (int i = 1; i <= 7; i++) {
        char text[128];
        (void)snprintf(text, sizeof(text), "{\"id\":%d,\"status\":{\"groups\":[{\"id\":1}]}}", i);
        cJSON_AddItemToArray(nodes, parse(text));
    }
    s->rows_dropped = 0;
    assert_int_equal(tui_parse_nodes(nodes, s, error, sizeof(error)), 0);
    assert_int_equal(s->groups[0].observed_count, TUI_OBSERVED_MAX);
    assert_int_equal(s->rows_dropped, 7 - TUI_OBSERVED_MAX);
    cJSON_Delete(nodes);
    cJSON_Delete(groups);
    // 40 audit entries: the newest 32 kept, oldest first.
    cJSON *audit = cJSON_CreateObject();
    cJSON *entries = cJSON_AddArrayToObject(audit, "entries");
    for (int i = 1; i <= 40; i++) {
        cJSON *entry = cJSON_CreateObject();
        cJSON_AddNumberToObject(entry, "seq", i);
        cJSON_AddItemToArray(entries, entry);
    }
    assert_int_equal(tui_parse_audit(audit, s, error, sizeof(error)), 0);
    assert_int_equal(s->audit_count, TUI_AUDIT_TAIL_MAX);
    assert_int_equal(s->audit[0].seq, 9);
    assert_int_equal(s->audit[TUI_AUDIT_TAIL_MAX - 1].seq, 40);
    cJSON_Delete(audit);
    free(s);
}

static void test_parse_plan(void **state) {
    (void)state;
    struct tui_plan *plan = calloc(1, sizeof(*plan));
    assert_non_null(plan);
    char error[128];
    cJSON *json = parse(plan_json);
    assert_int_equal(tui_parse_plan(json, plan, error, sizeof(error)), 0);
    assert_int_equal(plan->step_total, 2);
    assert_int_equal(plan->topology_version, 8);
    assert_string_equal(plan->steps[0].kind, "move_primary");
    assert_int_equal(plan->steps[1].to, 4);
    cJSON_Delete(json);
    const char *bad[] = {
        "{\"steps\":[]}",                                       // no hash
        "{\"steps\":[],\"topology_hash\":\"a b\"}",             // a space in the hash
        "{\"steps\":{},\"topology_hash\":\"ab\"}",              // steps not an array
        "{\"steps\":[{\"group\":1}],\"topology_hash\":\"ab\"}", // a step without its number
        "[]",
    };
    for (uint32_t i = 0; i < 5; i++) {
        json = parse(bad[i]);
        assert_int_equal(tui_parse_plan(json, plan, error, sizeof(error)), TC_EINVAL);
        cJSON_Delete(json);
    }
    free(plan);
}

static void test_rates_and_health(void **state) {
    (void)state;
    struct tui_snapshot *before = snapshot_canned();
    struct tui_snapshot *after = snapshot_canned();
    // Group 1's best report comes 2 s later with 100 more commits: 50 commits/s.
    struct tui_group *g1 = (struct tui_group *)tui_group_find(after, 1);
    for (uint32_t i = 0; i < g1->observed_count; i++) {
        g1->observed[i].commit += 100;
        g1->observed[i].heartbeat_ms += 2000;
    }
    tui_snapshot_derive(after, before);
    assert_true(g1->rate_known);
    assert_true(g1->commits_per_s > 49.9 && g1->commits_per_s < 50.1);
    // The same heartbeat again: the rate stays.
    struct tui_snapshot *again = snapshot_canned();
    memcpy(again, after, sizeof(*again));
    tui_snapshot_derive(again, after);
    assert_true(tui_group_find(again, 1)->commits_per_s > 49.9);
    // Health: a group without quorum wins; an idle cluster with every node live is healthy.
    ((struct tui_group *)tui_group_find(after, 2))->health = TUI_HEALTH_NO_QUORUM;
    assert_int_equal(tui_cluster_health(after), TUI_HEALTH_NO_QUORUM);
    after->valid = false;
    assert_int_equal(tui_cluster_health(after), TUI_HEALTH_UNKNOWN);
    assert_int_equal(tui_health_of_live(3), TUI_HEALTH_HEALTHY);
    assert_int_equal(tui_health_of_live(2), TUI_HEALTH_DEGRADED);
    assert_int_equal(tui_health_of_live(1), TUI_HEALTH_NO_QUORUM);
    free(before);
    free(after);
    free(again);
}

static void test_link_backoff(void **state) {
    (void)state;
    const uint32_t expected[] = {500, 1000, 2000, 4000, 8000, 10000, 10000};
    for (uint32_t i = 0; i < 7; i++) assert_int_equal(tui_backoff_ms(500, i + 1), expected[i]);
    assert_int_equal(tui_backoff_ms(60000, 3), 60000); // never sooner than the refresh
    struct tui_link link = {0};
    tui_link_failure(&link, true, "controller at x unreachable", 100, 5000, 500);
    assert_int_equal(link.state, TUI_LINK_DOWN);
    assert_int_equal(link.next_ms, 600);
    tui_link_failure(&link, false, "bad\nanswer", 600, 6000, 500);
    assert_int_equal(link.state, TUI_LINK_ERROR);
    assert_int_equal(link.failures, 2);
    assert_int_equal(link.down_since_ms, 5000);
    assert_int_equal(link.next_ms, 1600);
    assert_string_equal(link.error, "bad?answer");
    tui_link_success(&link, 2000, 500);
    assert_int_equal(link.state, TUI_LINK_UP);
    assert_int_equal(link.failures, 0);
    assert_int_equal(link.next_ms, 2500);
}

// ------------------------------------------------------------------------------------------------
// Keys, filters, layout, text

static struct tui_effect press(struct tui_ui *ui, const struct tui_snapshot *s, int key) {
    return tui_ui_key(ui, s, key);
}

static void type(struct tui_ui *ui, const struct tui_snapshot *s, const char *text) {
    for (const char *c = text; *c != '\0'; c++) {
        assert_int_equal(press(ui, s, *c).kind, TUI_EFFECT_NONE);
    }
}

static void test_keys_select_and_focus(void **state) {
    (void)state;
    struct tui_snapshot *s = snapshot_canned();
    struct tui_ui ui;
    tui_ui_init(&ui);
    ui.now_ms = WALL_MS;
    uint64_t id = 0;
    assert_true(tui_ui_selected_id(&ui, s, TUI_PANE_NODES, &id));
    assert_int_equal(id, 1);
    press(&ui, s, TUI_KEY_DOWN);
    press(&ui, s, TUI_KEY_DOWN);
    assert_true(tui_ui_selected_id(&ui, s, TUI_PANE_NODES, &id));
    assert_int_equal(id, 3);
    for (int i = 0; i < 10; i++) press(&ui, s, TUI_KEY_DOWN); // stops at the last row
    assert_int_equal(ui.selected[TUI_PANE_NODES], 3);
    press(&ui, s, TUI_KEY_HOME);
    assert_int_equal(ui.selected[TUI_PANE_NODES], 0);
    press(&ui, s, TUI_KEY_END);
    assert_int_equal(ui.selected[TUI_PANE_NODES], 3);
    press(&ui, s, TUI_KEY_TAB);
    assert_int_equal(ui.focus, TUI_PANE_GROUPS);
    press(&ui, s, TUI_KEY_BACKTAB);
    press(&ui, s, TUI_KEY_LEFT);
    assert_int_equal(ui.focus, TUI_PANE_AUDIT); // wraps around
    assert_true(tui_ui_selected_id(&ui, s, TUI_PANE_AUDIT, &id));
    assert_int_equal(id, 9); // newest first
    // Enter opens details; on a job it asks for the job's moves.
    press(&ui, s, TUI_KEY_ENTER);
    assert_int_equal(ui.mode, TUI_MODE_DETAIL);
    assert_int_equal(ui.detail_id, 9);
    press(&ui, s, TUI_KEY_ESCAPE);
    assert_int_equal(ui.mode, TUI_MODE_NORMAL);
    ui.focus = TUI_PANE_JOBS;
    const struct tui_effect effect = press(&ui, s, TUI_KEY_ENTER);
    assert_int_equal(effect.kind, TUI_EFFECT_JOB_DETAIL);
    assert_int_equal(effect.job, 7);
    press(&ui, s, 'q'); // closes the details, does not quit
    assert_int_equal(ui.mode, TUI_MODE_NORMAL);
    assert_int_equal(press(&ui, s, '?').kind, TUI_EFFECT_NONE);
    assert_int_equal(ui.mode, TUI_MODE_HELP);
    press(&ui, s, 'x');
    assert_int_equal(ui.mode, TUI_MODE_NORMAL);
    assert_int_equal(press(&ui, s, 'v').kind, TUI_EFFECT_VERIFY);
    assert_int_equal(press(&ui, s, 'q').kind, TUI_EFFECT_QUIT);
    // After a refresh with fewer rows the selection stays within them.
    ui.focus = TUI_PANE_NODES;
    press(&ui, s, TUI_KEY_END);
    s->node_count = 2;
    tui_ui_clamp(&ui, s);
    assert_int_equal(ui.selected[TUI_PANE_NODES], 1);
    free(s);
}

static void test_keys_filter(void **state) {
    (void)state;
    struct tui_snapshot *s = snapshot_canned();
    struct tui_ui ui;
    tui_ui_init(&ui);
    ui.now_ms = WALL_MS;
    uint32_t rows[TUI_ROWS_MAX], total = 0;
    press(&ui, s, '/');
    assert_int_equal(ui.mode, TUI_MODE_FILTER);
    type(&ui, s, "DRAIN"); // case-insensitive, live while typing
    assert_int_equal(tui_pane_rows(s, TUI_PANE_NODES, ui.filter[0], WALL_MS, rows, &total), 1);
    assert_int_equal(total, 4);
    assert_int_equal(s->nodes[rows[0]].id, 3);
    press(&ui, s, TUI_KEY_ENTER);
    assert_int_equal(ui.mode, TUI_MODE_NORMAL);
    uint64_t id = 0;
    assert_true(tui_ui_selected_id(&ui, s, TUI_PANE_NODES, &id));
    assert_int_equal(id, 3);
    // A new filter that matches nothing, Escape restores the one before.
    press(&ui, s, '/');
    type(&ui, s, "zzz");
    assert_false(tui_ui_selected_id(&ui, s, TUI_PANE_NODES, &id));
    press(&ui, s, TUI_KEY_ESCAPE);
    assert_string_equal(ui.filter[TUI_PANE_NODES], "DRAIN");
    // Backspace edits; an empty filter shows all; other panes keep their own.
    press(&ui, s, '/');
    type(&ui, s, "x");
    press(&ui, s, TUI_KEY_BACKSPACE);
    press(&ui, s, TUI_KEY_ENTER);
    assert_string_equal(ui.filter[TUI_PANE_NODES], "");
    assert_int_equal(tui_pane_rows(s, TUI_PANE_NODES, "", WALL_MS, rows, &total), 4);
    assert_int_equal(tui_pane_rows(s, TUI_PANE_GROUPS, "degraded", WALL_MS, rows, &total), 1);
    assert_int_equal(tui_pane_rows(s, TUI_PANE_JOBS, "stalled", WALL_MS, rows, &total), 1);
    // Escape in the normal mode clears the focused pane's filter.
    (void)snprintf(ui.filter[TUI_PANE_NODES], TUI_FILTER_SIZE, "a");
    press(&ui, s, TUI_KEY_ESCAPE);
    assert_string_equal(ui.filter[TUI_PANE_NODES], "");
    free(s);
}

static void test_keys_drain_and_rebalance(void **state) {
    (void)state;
    struct tui_snapshot *s = snapshot_canned();
    struct tui_ui ui;
    tui_ui_init(&ui);
    ui.now_ms = WALL_MS;
    // d outside the nodes pane: a message, no plan.
    ui.focus = TUI_PANE_GROUPS;
    assert_int_equal(press(&ui, s, 'd').kind, TUI_EFFECT_NONE);
    assert_int_equal(ui.mode, TUI_MODE_MESSAGE);
    press(&ui, s, ' ');
    ui.focus = TUI_PANE_NODES;
    press(&ui, s, TUI_KEY_DOWN);
    struct tui_effect effect = press(&ui, s, 'd');
    assert_int_equal(effect.kind, TUI_EFFECT_PLAN_DRAIN);
    assert_int_equal(effect.node, 2);
    // The plan came back: a wrong name cancels, nothing is started.
    tui_ui_confirm_begin(&ui, TUI_PLAN_DRAIN, 2);
    type(&ui, s, "3");
    effect = press(&ui, s, TUI_KEY_ENTER);
    assert_int_equal(effect.kind, TUI_EFFECT_NONE);
    assert_int_equal(ui.mode, TUI_MODE_MESSAGE);
    assert_non_null(strstr(ui.message, "nothing started"));
    // Escape cancels too; the right name starts the job (q is typed, it does not quit).
    tui_ui_confirm_begin(&ui, TUI_PLAN_DRAIN, 2);
    assert_int_equal(press(&ui, s, TUI_KEY_ESCAPE).kind, TUI_EFFECT_NONE);
    assert_int_equal(ui.mode, TUI_MODE_MESSAGE);
    tui_ui_confirm_begin(&ui, TUI_PLAN_DRAIN, 2);
    type(&ui, s, "q");
    press(&ui, s, TUI_KEY_BACKSPACE);
    type(&ui, s, "2");
    char prompt[TUI_LINE_SIZE];
    tui_format_prompt(&ui, prompt);
    assert_non_null(strstr(prompt, "(2)"));
    effect = press(&ui, s, TUI_KEY_ENTER);
    assert_int_equal(effect.kind, TUI_EFFECT_START_JOB);
    assert_int_equal(effect.node, 2);
    assert_int_equal(ui.mode, TUI_MODE_NORMAL);
    // Rebalance: y starts, anything else cancels.
    assert_int_equal(press(&ui, s, 'r').kind, TUI_EFFECT_PLAN_REBALANCE);
    tui_ui_confirm_begin(&ui, TUI_PLAN_REBALANCE, 0);
    assert_int_equal(press(&ui, s, 'n').kind, TUI_EFFECT_NONE);
    assert_non_null(strstr(ui.message, "cancelled"));
    tui_ui_confirm_begin(&ui, TUI_PLAN_REBALANCE, 0);
    assert_int_equal(press(&ui, s, 'y').kind, TUI_EFFECT_START_JOB);
    free(s);
}

static void rect_check(const struct tui_rect *rect, uint32_t rows, uint32_t cols) {
    assert_true(rect->rows >= 1);
    assert_true(rect->row + rect->rows <= rows);
    assert_true(rect->col + rect->cols <= cols);
}

static void test_layout(void **state) {
    (void)state;
    struct tui_layout layout;
    tui_layout_compute(40, 120, 4, 4, &layout);
    assert_false(layout.too_small);
    assert_int_equal(layout.panes[TUI_PANE_NODES].rows, 6); // 4 rows, title and columns
    assert_int_equal(layout.panes[TUI_PANE_GROUPS].rows, 6);
    assert_int_equal(layout.footer.row, 39);
    uint32_t rows_used = layout.header.rows + layout.footer.rows;
    for (uint32_t p = 0; p < TUI_PANE_COUNT; p++) {
        rect_check(&layout.panes[p], 40, 120);
        if (p != TUI_PANE_ROOMS) rows_used += layout.panes[p].rows; // beside jobs
    }
    assert_int_equal(rows_used, 40);
    assert_true(layout.panes[TUI_PANE_JOBS].col + layout.panes[TUI_PANE_JOBS].cols <=
                layout.panes[TUI_PANE_ROOMS].col);
    // Many nodes and groups: bounded shares; the smallest terminal that fits; below it.
    tui_layout_compute(50, 200, 255, 1024, &layout);
    assert_int_equal(layout.panes[TUI_PANE_NODES].rows, (50 - 3) / 4);
    tui_layout_compute(TUI_ROWS_MIN, TUI_COLS_MIN, 255, 1024, &layout);
    assert_false(layout.too_small);
    assert_true(layout.panes[TUI_PANE_AUDIT].rows >= 3);
    tui_layout_compute(TUI_ROWS_MIN - 1, 120, 4, 4, &layout);
    assert_true(layout.too_small);
    tui_layout_compute(40, TUI_COLS_MIN - 1, 4, 4, &layout);
    assert_true(layout.too_small);
    tui_layout_compute(0, 0, 0, 0, &layout);
    assert_true(layout.too_small);
}

static void test_text(void **state) {
    (void)state;
    struct tui_snapshot *s = snapshot_canned();
    char line[TUI_LINE_SIZE], line2[TUI_LINE_SIZE];
    tui_format_row(s, TUI_PANE_GROUPS, 1, WALL_MS, line);
    assert_non_null(strstr(line, "2*,3!,4")); // primary starred, node 3 not live
    assert_non_null(strstr(line, "+1L"));     // the learner
    assert_non_null(strstr(line, "replace 3->1 (job 7 step 2)"));
    tui_format_row(s, TUI_PANE_NODES, 2, WALL_MS, line);
    assert_non_null(strstr(line, "draining"));
    assert_non_null(strstr(line, "never"));
    tui_format_row(s, TUI_PANE_JOBS, 0, WALL_MS, line);
    assert_non_null(strstr(line, "drain 3    running   1/3 [###.......] step 2: declared; "
                                 "learner at op 5 of 12"));
    struct tui_link link = {.state = TUI_LINK_UP};
    struct tui_header_input input = {
        .snapshot = s, .link = &link, .controller = "http://c", .wall_ms = WALL_MS};
    tui_format_header(&input, line, line2);
    assert_non_null(strstr(line, "DEGRADED"));
    assert_non_null(strstr(line, "nodes 3/4 live"));
    assert_non_null(strstr(line2, "audit seq 9 head 38958d11c97482fe"));
    tui_link_failure(&link, true, "controller at http://c unreachable", 0, WALL_MS, 1000);
    input.wall_ms = WALL_MS + 35000;
    input.next_in_ms = 1000;
    tui_format_header(&input, line, line2);
    assert_non_null(strstr(line, "was DEGRADED  controller DOWN"));
    assert_non_null(strstr(line2, "CONTROLLER DOWN: showing the view of 35s ago"));
    assert_non_null(strstr(line2, "next in 1s: unreachable"));
    // Details of each kind, and of an item that is gone.
    static char lines[TUI_DETAIL_LINES_MAX][TUI_LINE_SIZE];
    uint32_t n = tui_format_detail(s, TUI_PANE_GROUPS, 2, NULL, 0, WALL_MS, lines);
    assert_true(n >= 5);
    n = tui_format_detail(s, TUI_PANE_JOBS, 7, s->moves, s->move_count, WALL_MS, lines);
    assert_non_null(strstr(lines[n - 1], "pending"));
    n = tui_format_detail(s, TUI_PANE_NODES, 200, NULL, 0, WALL_MS, lines);
    assert_int_equal(n, 1);
    assert_non_null(strstr(lines[0], "no longer"));
    // Wrapping breaks at spaces, and inside a word longer than the line.
    char wrapped[4][TUI_LINE_SIZE];
    assert_int_equal(tui_text_wrap("aaa bbb ccc", 7, wrapped, 4), 2);
    assert_string_equal(wrapped[0], "aaa bbb");
    assert_string_equal(wrapped[1], "ccc");
    assert_int_equal(tui_text_wrap("abcdefghij", 4, wrapped, 4), 3);
    assert_true(tui_text_matches("Node 3", "node"));
    assert_false(tui_text_matches("Node 3", "node 4"));
    free(s);
}

// ------------------------------------------------------------------------------------------------
// The fake controller: a thread serving canned answers by "METHOD /path" until stopped.

#define ROUTES_MAX 12u
#define REQUEST_SIZE_MAX (128u * 1024u)

struct route {
    const char *target; // "GET /v1/status"
    int status;
    const char *body;
};

static struct {
    int listen_fd;
    int stop[2];
    pthread_t thread;
    char url[64];
    struct route routes[ROUTES_MAX];
    uint32_t route_count;
    char posted[REQUEST_SIZE_MAX]; // the last POST's body
} fake;

static void fake_route(const char *target, int status, const char *body) {
    for (uint32_t i = 0; i < fake.route_count; i++) {
        if (strcmp(fake.routes[i].target, target) == 0) {
            fake.routes[i] = (struct route){target, status, body};
            return;
        }
    }
    assert_true(fake.route_count < ROUTES_MAX);
    fake.routes[fake.route_count++] = (struct route){target, status, body};
}

static void fake_send(int fd, const char *data, size_t size) {
    while (size > 0) {
        const ssize_t sent = send(fd, data, size, MSG_NOSIGNAL);
        if (sent <= 0) return;
        data += sent;
        size -= (size_t)sent;
    }
}

// Reads one request: its "METHOD /path" (query cut) into target, a POST's body into fake.posted.
static bool fake_read(int fd, char *target, size_t target_size) {
    static char buffer[REQUEST_SIZE_MAX];
    size_t size = 0;
    char *end = NULL;
    while (end == NULL && size + 1 < sizeof(buffer)) {
        const ssize_t got = read(fd, buffer + size, sizeof(buffer) - 1 - size);
        if (got <= 0) return false;
        size += (size_t)got;
        buffer[size] = '\0';
        end = strstr(buffer, "\r\n\r\n");
    }
    if (end == NULL) return false;
    const size_t method = strcspn(buffer, " ");
    const size_t path = strcspn(buffer + method + 1, "? ");
    (void)snprintf(target, target_size, "%.*s", (int)(method + 1 + path), buffer);
    const char *length = strstr(buffer, "Content-Length: ");
    const size_t body_size = length != NULL ? strtoul(length + 16, NULL, 10) : 0;
    const size_t head = (size_t)(end - buffer) + 4;
    while (size < head + body_size && size + 1 < sizeof(buffer)) {
        const ssize_t got = read(fd, buffer + size, head + body_size - size);
        if (got <= 0) return false;
        size += (size_t)got;
    }
    if (body_size > 0)
        (void)snprintf(fake.posted, sizeof(fake.posted), "%.*s", (int)body_size, buffer + head);
    return true;
}

static void fake_serve(int fd) {
    char target[128];
    if (!fake_read(fd, target, sizeof(target))) return;
    const struct route missing = {"", 404, "{\"error\":\"not_found\",\"message\":\"no route\"}"};
    const struct route *route = &missing;
    for (uint32_t i = 0; i < fake.route_count; i++) {
        if (strcmp(fake.routes[i].target, target) == 0) route = &fake.routes[i];
    }
    char head[256];
    (void)snprintf(head, sizeof(head),
                   "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n",
                   route->status, strlen(route->body));
    fake_send(fd, head, strlen(head));
    fake_send(fd, route->body, strlen(route->body));
}

static void *fake_main(void *unused) {
    (void)unused;
    for (;;) {
        struct pollfd fds[2] = {{.fd = fake.listen_fd, .events = POLLIN},
                                {.fd = fake.stop[0], .events = POLLIN}};
        if (poll(fds, 2, 20000) <= 0 || (fds[1].revents & POLLIN) != 0) break;
        const int fd = accept(fake.listen_fd, NULL, NULL);
        if (fd < 0) break;
        fake_serve(fd);
        (void)close(fd);
    }
    return NULL;
}

static void fake_start(void) {
    fake.route_count = 0;
    fake.posted[0] = '\0';
    fake.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fake.listen_fd >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fake.listen_fd, (struct sockaddr *)&address, sizeof(address)), 0);
    assert_int_equal(listen(fake.listen_fd, 16), 0);
    socklen_t size = sizeof(address);
    assert_int_equal(getsockname(fake.listen_fd, (struct sockaddr *)&address, &size), 0);
    (void)snprintf(fake.url, sizeof(fake.url), "http://127.0.0.1:%u", ntohs(address.sin_port));
    assert_int_equal(pipe(fake.stop), 0);
    assert_int_equal(pthread_create(&fake.thread, NULL, fake_main, NULL), 0);
}

static void fake_stop(void) {
    assert_int_equal(write(fake.stop[1], "x", 1), 1);
    assert_int_equal(pthread_join(fake.thread, NULL), 0);
    (void)close(fake.listen_fd);
    (void)close(fake.stop[0]);
    (void)close(fake.stop[1]);
}

static void fake_routes_cluster(void) {
    fake_route("GET /v1/status", 200, status_json);
    fake_route("GET /v1/groups", 200, groups_json);
    fake_route("GET /v1/nodes", 200, nodes_json);
    fake_route("GET /v1/jobs", 200, jobs_json);
    fake_route("GET /v1/jobs/7", 200, job7_json);
    fake_route("GET /v1/audit", 200, audit_json);
}

static struct tui_client *client_open(const char *url, const char *key_path) {
    struct tigerctl_context base = {.controller = url,
                                    .key_path = key_path,
                                    .timeout_ms = 2000,
                                    .command = &tui_command_top,
                                    .out = stdout,
                                    .err = stderr};
    struct tui_client *client = calloc(1, sizeof(*client));
    assert_non_null(client);
    assert_int_equal(tui_client_open(client, &base), 0);
    return client;
}

static void client_close(struct tui_client *client) {
    tui_client_close(client);
    free(client);
}

static void test_client_refresh(void **state) {
    (void)state;
    fake_start();
    fake_routes_cluster();
    struct tui_client *client = client_open(fake.url, NULL);
    struct tui_snapshot *first = snapshot_new(), *second = snapshot_new();
    char message[TUI_MESSAGE_SIZE];
    assert_int_equal(tui_refresh(client, first, NULL, WALL_MS, message, sizeof(message)),
                     TUI_OUTCOME_OK);
    assert_true(first->valid);
    assert_int_equal(first->node_count, 4);
    assert_int_equal(first->running_job, 7);
    assert_int_equal(first->move_count, 3);
    assert_int_equal(first->audit_count, 2);
    // Malformed JSON in one answer: an error naming it; the last good snapshot is untouched.
    fake_route("GET /v1/nodes", 200, "[{\"id\":1,");
    assert_int_equal(tui_refresh(client, second, first, WALL_MS, message, sizeof(message)),
                     TUI_OUTCOME_ERROR);
    assert_non_null(strstr(message, "not a JSON object or array"));
    assert_true(first->valid && first->node_count == 4);
    // JSON of the wrong shape, an error answer, a non-JSON error page.
    fake_route("GET /v1/nodes", 200, "{\"nodes\":[]}");
    assert_int_equal(tui_refresh(client, second, first, WALL_MS, message, sizeof(message)),
                     TUI_OUTCOME_ERROR);
    assert_non_null(strstr(message, "/v1/nodes: not an array"));
    fake_route("GET /v1/groups", 500, "{\"error\":\"store\",\"message\":\"disk I/O error\"}");
    assert_int_equal(tui_refresh(client, second, first, WALL_MS, message, sizeof(message)),
                     TUI_OUTCOME_ERROR);
    assert_string_equal(message, "store: disk I/O error");
    fake_route("GET /v1/status", 502, "<html>\x1b[31mbad gateway</html>");
    assert_int_equal(tui_refresh(client, second, first, WALL_MS, message, sizeof(message)),
                     TUI_OUTCOME_ERROR);
    assert_non_null(strstr(message, "HTTP 502"));
    assert_null(strchr(message, '\x1b')); // sanitized
    client_close(client);
    fake_stop();
    free(first);
    free(second);
}

static void test_client_down(void **state) {
    (void)state;
    // A port nothing listens on: bind one, close it.
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof(address)), 0);
    socklen_t size = sizeof(address);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&address, &size), 0);
    (void)close(fd);
    char url[64];
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(address.sin_port));
    struct tui_client *client = client_open(url, NULL);
    struct tui_snapshot *next = snapshot_new();
    char message[TUI_MESSAGE_SIZE];
    assert_int_equal(tui_refresh(client, next, NULL, WALL_MS, message, sizeof(message)),
                     TUI_OUTCOME_DOWN);
    assert_non_null(strstr(message, "unreachable"));
    assert_null(strstr(message, "tigerctl top:")); // the prefix is dropped
    assert_false(next->valid);
    struct tui_plan *plan = calloc(1, sizeof(*plan));
    assert_non_null(plan);
    plan->kind = TUI_PLAN_REBALANCE;
    plan->max_moves = 8;
    assert_int_equal(tui_plan_fetch(client, plan, message, sizeof(message)), TUI_OUTCOME_DOWN);
    const struct tui_verify_options options = {0};
    assert_int_equal(tui_verify(client, &options, message, sizeof(message)), TUI_OUTCOME_DOWN);
    client_close(client);
    free(plan);
    free(next);
}

static char work_dir[64];

static void test_client_plan_and_job_start(void **state) {
    (void)state;
    fake_start();
    fake_route("GET /v1/plan/drain", 200, plan_json);
    fake_route("GET /v1/plan/rebalance", 409,
               "{\"error\":\"refused\",\"message\":\"no node can take a replica\"}");
    fake_route("POST /v1/actions", 200, "{\"result\":{\"job\":12,\"status\":\"ok\"},\"seq\":44}");
    char key_path[128];
    (void)snprintf(key_path, sizeof(key_path), "%s/operator", work_dir);
    struct tc_audit_public_key operator_key;
    assert_int_equal(tc_audit_keygen(key_path, &operator_key), 0);
    struct tui_client *client = client_open(fake.url, key_path);
    struct tui_plan *plan = calloc(1, sizeof(*plan));
    assert_non_null(plan);
    char message[TUI_MESSAGE_SIZE];
    plan->kind = TUI_PLAN_REBALANCE;
    plan->max_moves = 8;
    assert_int_equal(tui_plan_fetch(client, plan, message, sizeof(message)), TUI_OUTCOME_ERROR);
    assert_string_equal(message, "refused: no node can take a replica");
    plan->kind = TUI_PLAN_DRAIN;
    plan->node = 1;
    assert_int_equal(tui_plan_fetch(client, plan, message, sizeof(message)), TUI_OUTCOME_OK);
    assert_int_equal(plan->step_total, 2);
    uint64_t job = 0, seq = 0;
    assert_int_equal(tui_job_start(client, plan, &job, &seq, message, sizeof(message)),
                     TUI_OUTCOME_OK);
    assert_int_equal(job, 12);
    assert_int_equal(seq, 44);
    // What was posted: tigerctl's signed envelope with the plan's hash, verifiable.
    cJSON *posted = parse(fake.posted);
    assert_string_equal(cJSON_GetObjectItem(posted, "action")->valuestring, "job.start");
    const cJSON *args = cJSON_GetObjectItem(posted, "args");
    assert_string_equal(cJSON_GetObjectItem(args, "kind")->valuestring, "drain");
    assert_int_equal(cJSON_GetObjectItem(args, "node")->valueint, 1);
    assert_string_equal(cJSON_GetObjectItem(args, "topology_hash")->valuestring,
                        plan->topology_hash);
    char actor[TC_AUDIT_KEY_HEX_SIZE + 1];
    tc_audit_key_hex(&operator_key, actor);
    assert_string_equal(cJSON_GetObjectItem(posted, "actor")->valuestring, actor);
    cJSON_Delete(posted);
    // Without a key: refused locally, nothing sent.
    client_close(client);
    client = client_open(fake.url, NULL);
    fake.posted[0] = '\0';
    assert_int_equal(tui_job_start(client, plan, &job, &seq, message, sizeof(message)),
                     TUI_OUTCOME_ERROR);
    assert_non_null(strstr(message, "--key"));
    assert_string_equal(fake.posted, "");
    client_close(client);
    free(plan);
    fake_stop();
}

// A real chain written by tc_audit (as the controller writes it), served over the fake's
// /v1/audit as the controller serves it (each line parsed into the entries array).
struct chain {
    char status[1024];
    char *audit; // the /v1/audit answer
    char log_path[128];
};

static void chain_write(struct chain *chain, uint32_t count) {
    struct tc_audit_secret_key controller, operator_key;
    struct tc_audit_public_key controller_public, operator_public;
    uint8_t seed[32];
    memset(seed, 7, sizeof(seed));
    tc_audit_keypair_from_seed(seed, &controller, &controller_public);
    memset(seed, 9, sizeof(seed));
    tc_audit_keypair_from_seed(seed, &operator_key, &operator_public);
    (void)snprintf(chain->log_path, sizeof(chain->log_path), "%s/audit.jsonl", work_dir);
    (void)unlink(chain->log_path);
    struct tc_audit_writer *writer = NULL;
    struct tc_audit_report report;
    assert_int_equal(tc_audit_writer_open(&writer, chain->log_path, NULL, &controller, 0, &report),
                     0);
    static struct tc_audit_request request;
    for (uint32_t i = 1; i <= count; i++) {
        uint8_t nonce[TC_AUDIT_NONCE_SIZE];
        tc_audit_nonce_random(nonce);
        char args[64];
        (void)snprintf(args, sizeof(args), "{\"node\":%u,\"note\":\"caf\\u00e9 \\\"%u\\\"\"}", i,
                       i);
        const uint64_t time_ms = UINT64_C(1767225600000) + i * 1000u;
        assert_int_equal(tc_audit_request_init(&request, &operator_public, "node.cordon", args,
                                               time_ms, nonce, NULL),
                         0);
        tc_audit_request_sign(&request, &operator_key);
        assert_int_equal(tc_audit_writer_append(writer, &request, "\"ok\"", time_ms, NULL), 0);
    }
    struct tc_hash256 head;
    tc_audit_writer_head(writer, &head);
    tc_audit_writer_close(writer);
    char head_hex[65], key_hex[65];
    tc_hex_encode(head_hex, head.bytes, sizeof(head.bytes));
    tc_audit_key_hex(&controller_public, key_hex);
    (void)snprintf(chain->status, sizeof(chain->status),
                   "{\"cluster\":\"t\",\"controller_key\":\"%s\",\"audit\":{\"seq\":%u,\"head\":"
                   "\"%s\",\"writable\":true}}",
                   key_hex, count, head_hex);
    // The answer to /v1/audit: every line parsed, printed by cJSON, as ctl_read_audit does.
    cJSON *root = cJSON_CreateObject();
    cJSON *entries = cJSON_AddArrayToObject(root, "entries");
    FILE *log = fopen(chain->log_path, "r");
    assert_non_null(log);
    static char line[TC_AUDIT_LINE_SIZE_MAX + 2];
    while (fgets(line, sizeof(line), log) != NULL) cJSON_AddItemToArray(entries, parse(line));
    (void)fclose(log);
    cJSON_AddNumberToObject(root, "head_seq", count);
    cJSON_AddNumberToObject(root, "next_after", count);
    chain->audit = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    tc_audit_secret_key_wipe(&controller);
    tc_audit_secret_key_wipe(&operator_key);
}

static void test_verify_over_api(void **state) {
    (void)state;
    static struct chain chain;
    chain_write(&chain, 12);
    fake_start();
    fake_route("GET /v1/status", 200, chain.status);
    fake_route("GET /v1/audit", 200, chain.audit);
    struct tui_client *client = client_open(fake.url, NULL);
    char message[TUI_UI_MESSAGE_SIZE];
    const struct tui_verify_options api = {0};
    assert_int_equal(tui_verify(client, &api, message, sizeof(message)), TUI_OUTCOME_OK);
    assert_non_null(strstr(message, "PASS seq 1..12 (12 entries)"));
    assert_non_null(strstr(message, "is the head /v1/status reports"));
    // One byte of one entry's args changed in the answer: the operator's signature fails.
    char *tampered = strdup(chain.audit);
    assert_non_null(tampered);
    char *at = strstr(tampered, "\"node\":5");
    assert_non_null(at);
    at[7] = '6';
    fake_route("GET /v1/audit", 200, tampered);
    assert_int_equal(tui_verify(client, &api, message, sizeof(message)), TUI_OUTCOME_ERROR);
    assert_non_null(strstr(message, "FAIL line 5"));
    // The chain is intact but the head the controller reports is another one.
    char *status = strdup(chain.status);
    assert_non_null(status);
    char *head = strstr(status, "\"head\":\"");
    head[8] = head[8] == '0' ? '1' : '0';
    fake_route("GET /v1/audit", 200, chain.audit);
    fake_route("GET /v1/status", 200, status);
    assert_int_equal(tui_verify(client, &api, message, sizeof(message)), TUI_OUTCOME_ERROR);
    assert_non_null(strstr(message, "IS NOT the head"));
    // The local file, as tigerctl verify-audit --file.
    const struct tui_verify_options file = {.audit_file = chain.log_path};
    assert_int_equal(tui_verify(client, &file, message, sizeof(message)), TUI_OUTCOME_OK);
    assert_non_null(strstr(message, "PASS seq 1..12"));
    const struct tui_verify_options missing = {.audit_file = "/nonexistent/audit.jsonl"};
    assert_int_equal(tui_verify(client, &missing, message, sizeof(message)), TUI_OUTCOME_ERROR);
    client_close(client);
    fake_stop();
    free(tampered);
    free(status);
    cJSON_free(chain.audit);
    (void)unlink(chain.log_path);
}

static int setup(void **state) {
    (void)state;
    (void)snprintf(work_dir, sizeof(work_dir), "/tmp/tc-tui-unit.XXXXXX");
    return mkdtemp(work_dir) != NULL ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char path[128];
    (void)snprintf(path, sizeof(path), "%s/operator", work_dir);
    (void)unlink(path);
    (void)snprintf(path, sizeof(path), "%s/operator.pub", work_dir);
    (void)unlink(path);
    return rmdir(work_dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_real_shapes),
        cmocka_unit_test(test_parse_wrong_shapes),
        cmocka_unit_test(test_parse_malformed_rows),
        cmocka_unit_test(test_parse_bounds),
        cmocka_unit_test(test_parse_plan),
        cmocka_unit_test(test_rates_and_health),
        cmocka_unit_test(test_link_backoff),
        cmocka_unit_test(test_keys_select_and_focus),
        cmocka_unit_test(test_keys_filter),
        cmocka_unit_test(test_keys_drain_and_rebalance),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_client_refresh),
        cmocka_unit_test(test_client_down),
        cmocka_unit_test(test_client_plan_and_job_start),
        cmocka_unit_test(test_verify_over_api),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
