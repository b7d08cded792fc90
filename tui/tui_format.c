// The dashboard's text (see tui_format.h): header, pane rows, details, help, plans.
#include "tui_format.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tc_assert.h"

#define HASH_SHOWN 16 // hex digits of a hash in one line
#define PROGRESS_BAR_CELLS 10u

// snprintf into a line; a cut is harmless (the view cuts to the width anyway).
__attribute__((format(printf, 2, 3))) static void line_printf(char out[TUI_LINE_SIZE],
                                                              const char *format, ...) {
    va_list args;
    va_start(args, format);
    (void)vsnprintf(out, TUI_LINE_SIZE, format, args);
    va_end(args);
}

bool tui_text_matches(const char *text, const char *needle) {
    tc_assert(text != NULL && needle != NULL);
    const size_t size = strlen(needle);
    if (size == 0) return true;
    for (const char *at = text; *at != '\0'; at++) {
        size_t i = 0;
        while (i < size && at[i] != '\0') {
            char a = at[i], b = needle[i];
            if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
            if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
            if (a != b) break;
            i++;
        }
        if (i == size) return true;
    }
    return false;
}

uint32_t tui_text_wrap(const char *text, uint32_t width, char lines[][TUI_LINE_SIZE],
                       uint32_t max) {
    tc_assert(text != NULL && lines != NULL && width > 0 && width < TUI_LINE_SIZE);
    uint32_t count = 0;
    const char *at = text;
    while (*at != '\0' && count < max) {
        size_t take = strlen(at);
        if (take > width) {
            take = width;
            while (take > 0 && at[take] != ' ') take--; // break at the last space that fits
            if (take == 0) take = width;                // a word longer than the line
        }
        (void)snprintf(lines[count++], TUI_LINE_SIZE, "%.*s", (int)take, at);
        at += take;
        while (*at == ' ') at++;
    }
    return count;
}

// "20:59:13" out of "2026-12-02T20:59:13.466Z"; the text itself when it has another shape.
static const char *clock_of(const char *time, char out[16]) {
    if (strlen(time) == 24 && time[10] == 'T') {
        (void)snprintf(out, 16, "%.8s", time + 11);
        return out;
    }
    return time;
}

// ------------------------------------------------------------------------------------------------
// Header

static const char *link_word(const struct tui_link *link) {
    switch (link->state) {
    case TUI_LINK_CONNECTING: return "connecting";
    case TUI_LINK_UP: return "up";
    case TUI_LINK_DOWN: return "DOWN";
    case TUI_LINK_ERROR: return "ERROR";
    }
    tc_unreachable();
}

static void health_word(enum tui_health health, char out[16]) {
    const char *name = tui_health_name(health);
    size_t i = 0;
    for (; name[i] != '\0' && i + 1 < 16; i++) {
        out[i] = name[i] >= 'a' && name[i] <= 'z' ? (char)(name[i] - 'a' + 'A') : name[i];
    }
    out[i] = '\0';
}

static void header_line1(const struct tui_header_input *input, char line1[TUI_LINE_SIZE]) {
    const struct tui_snapshot *snapshot = input->snapshot;
    const struct tui_status *status = &snapshot->status;
    char health[16];
    health_word(tui_cluster_health(snapshot), health);
    if (!snapshot->valid) {
        line_printf(line1, "TigerChat  %s  controller %s  (no data yet)", health,
                    link_word(input->link));
        return;
    }
    const bool up = input->link->state == TUI_LINK_UP;
    line_printf(line1,
                "TigerChat '%s' %s%s  controller %s  nodes %u/%u live  groups %u/%u healthy, "
                "%u degraded, %u no quorum  jobs %u running",
                status->cluster, up ? "" : "was ", health, link_word(input->link),
                status->nodes_live, snapshot->node_count, status->groups_healthy,
                status->groups_total, status->groups_degraded, status->groups_no_quorum,
                status->jobs_running);
}

static void header_line2(const struct tui_header_input *input, char line2[TUI_LINE_SIZE]) {
    const struct tui_snapshot *snapshot = input->snapshot;
    const struct tui_link *link = input->link;
    char age[16] = "-";
    if (snapshot->valid && input->wall_ms >= snapshot->fetched_ms) {
        tui_age_format(input->wall_ms - snapshot->fetched_ms, age, sizeof(age));
    }
    char retry[16];
    tui_age_format(input->next_in_ms + 999u, retry, sizeof(retry));
    if (link->state == TUI_LINK_DOWN || link->state == TUI_LINK_ERROR) {
        // "controller at URL unreachable: ..." loses its first words: the URL is on screen.
        char prefix[TUI_LINE_SIZE];
        (void)snprintf(prefix, sizeof(prefix), "controller at %s ", input->controller);
        const char *error = link->error;
        if (strncmp(error, prefix, strlen(prefix)) == 0) error += strlen(prefix);
        line_printf(line2,
                    "CONTROLLER %s: showing the view of %s ago; try %u failed, next in "
                    "%s: %s",
                    link->state == TUI_LINK_DOWN ? "DOWN" : "ERROR", snapshot->valid ? age : "-",
                    link->failures, retry, error);
        return;
    }
    if (!snapshot->valid) {
        line_printf(line2, "asking %s ...", input->controller);
        return;
    }
    const struct tui_status *status = &snapshot->status;
    char notes[64] = "";
    if (snapshot->rows_ignored + snapshot->rows_dropped > 0) {
        (void)snprintf(notes, sizeof(notes), "  (%u malformed rows ignored, %u over bounds)",
                       snapshot->rows_ignored, snapshot->rows_dropped);
    }
    line_printf(line2, "audit seq %llu head %.*s %s  topology v%llu  refreshed %s ago  %s%s",
                (unsigned long long)status->audit_seq, HASH_SHOWN, status->audit_head,
                status->audit_writable ? "(writable)" : "(NOT WRITABLE: changes refused)",
                (unsigned long long)status->topology_version, age, input->controller, notes);
}

void tui_format_header(const struct tui_header_input *input, char line1[TUI_LINE_SIZE],
                       char line2[TUI_LINE_SIZE]) {
    tc_assert(input != NULL && input->snapshot != NULL && input->link != NULL);
    header_line1(input, line1);
    header_line2(input, line2);
}

// ------------------------------------------------------------------------------------------------
// Panes

const char *tui_pane_name(enum tui_pane pane) {
    switch (pane) {
    case TUI_PANE_NODES: return "Nodes";
    case TUI_PANE_GROUPS: return "Groups";
    case TUI_PANE_JOBS: return "Jobs";
    case TUI_PANE_ROOMS: return "Busiest rooms";
    case TUI_PANE_AUDIT: return "Audit tail";
    case TUI_PANE_COUNT: break;
    }
    tc_unreachable();
}

void tui_format_title(enum tui_pane pane, uint32_t shown, uint32_t total, const char *filter,
                      char out[TUI_LINE_SIZE]) {
    if (filter[0] != '\0') {
        line_printf(out, "%s (%u of %u, filter: %s)", tui_pane_name(pane), shown, total, filter);
    } else {
        line_printf(out, "%s (%u)", tui_pane_name(pane), total);
    }
}

const char *tui_pane_columns(enum tui_pane pane) {
    switch (pane) {
    case TUI_PANE_NODES:
        return "NODE STATE     LIVE  HB    ZONE     REPL PRIM LRN  CONN COMMIT-P99  CLIENT         "
               " "
               "       ADMIN";
    case TUI_PANE_GROUPS:
        return "GROUP EPOCH VIEW PRIMARY MEMBERS (*primary !down +learner)  COMMIT      LAG  "
               "HEALTH     CHANGE";
    case TUI_PANE_JOBS: return " JOB KIND       STATE     DONE PROGRESS";
    case TUI_PANE_ROOMS: return "ROOM                  MSG/S GROUP NODE";
    case TUI_PANE_AUDIT:
        return "  SEQ TIME      ACTOR     ACTION              RESULT          ARGS";
    case TUI_PANE_COUNT: break;
    }
    tc_unreachable();
}

static void node_row(const struct tui_snapshot *snapshot, uint32_t index, uint64_t wall_ms,
                     char out[TUI_LINE_SIZE]) {
    const struct tui_node *node = &snapshot->nodes[index];
    char age[16] = "never";
    if (node->heartbeat_known) {
        tui_age_format(wall_ms > node->heartbeat_ms ? wall_ms - node->heartbeat_ms : 0, age,
                       sizeof(age));
    }
    char connections[24] = "-";
    if (node->connections_known) {
        (void)snprintf(connections, sizeof(connections), "%llu",
                       (unsigned long long)node->connections);
    }
    char p99[24] = "n/a";
    if (node->commit_p99_known) {
        (void)snprintf(p99, sizeof(p99), "%.1fms", (double)node->commit_p99_us / 1000.0);
    }
    line_printf(out, "%4u %-9s %-4s %5s %-8.8s %4u %4u %3u %5s %10s  %-21s %s", node->id,
                node->state, node->live ? "yes" : "NO", age,
                node->zone[0] != '\0' ? node->zone : "-", node->replicas, node->primaries,
                node->learners, connections, p99, node->address_client, node->address_admin);
}

static bool node_live(const struct tui_snapshot *snapshot, uint32_t id) {
    const struct tui_node *node = tui_node_find(snapshot, id);
    return node != NULL && node->live;
}

// "1,2*,3 +4L": members (primary starred, not live marked !), then learners the heartbeats show.
static void members_text(const struct tui_snapshot *snapshot, const struct tui_group *group,
                         char *out, uint32_t size) {
    uint32_t at = 0;
    out[0] = '\0';
    for (uint32_t m = 0; m < group->member_count && at < size; m++) {
        const uint32_t id = group->members[m];
        const int n =
            snprintf(out + at, size - at, "%s%u%s%s", m == 0 ? "" : ",", id,
                     id == group->primary_observed ? "*" : "", node_live(snapshot, id) ? "" : "!");
        at += n > 0 ? (uint32_t)n : 0;
    }
    for (uint32_t i = 0; i < group->observed_count && at < size; i++) {
        const struct tui_replica *replica = &group->observed[i];
        if (strcmp(replica->role, "learner") != 0) continue;
        const int n = snprintf(out + at, size - at, " +%uL", replica->node);
        at += n > 0 ? (uint32_t)n : 0;
    }
}

static void change_text(const struct tui_group *group, char *out, uint32_t size) {
    if (group->change.present) {
        (void)snprintf(out, size, "%s %u->%u (job %llu step %u)", group->change.kind,
                       group->change.from, group->change.to, (unsigned long long)group->change.job,
                       group->change.step);
    } else if (group->unsettled) {
        (void)snprintf(out, size, "view change");
    } else {
        (void)snprintf(out, size, "-");
    }
}

static void primary_text(const struct tui_group *group, char *out, uint32_t size) {
    if (group->primary_observed != 0) {
        (void)snprintf(out, size, "%u", group->primary_observed);
    } else if (group->primary_topology != 0) {
        (void)snprintf(out, size, "%u?", group->primary_topology); // no heartbeat confirms it
    } else {
        (void)snprintf(out, size, "-");
    }
}

static void group_row(const struct tui_snapshot *snapshot, uint32_t index,
                      char out[TUI_LINE_SIZE]) {
    const struct tui_group *group = &snapshot->groups[index];
    char members[48];
    char change[80];
    char primary[16];
    members_text(snapshot, group, members, sizeof(members));
    change_text(group, change, sizeof(change));
    primary_text(group, primary, sizeof(primary));
    line_printf(out, "%5u %5u %4u %7s %-35s %8llu %8llu  %-10s %s", group->id, group->epoch,
                group->view, primary, members, (unsigned long long)group->commit,
                (unsigned long long)group->lag, tui_health_name(group->health), change);
}

// "[####......]" for done of total.
static void bar_text(uint32_t done, uint32_t total, char *out, uint32_t size) {
    char cells[PROGRESS_BAR_CELLS + 1];
    const uint32_t full = total == 0 ? 0 : (uint32_t)((uint64_t)done * PROGRESS_BAR_CELLS / total);
    for (uint32_t i = 0; i < PROGRESS_BAR_CELLS; i++) cells[i] = i < full ? '#' : '.';
    cells[PROGRESS_BAR_CELLS] = '\0';
    (void)snprintf(out, size, "[%s]", cells);
}

// The running job's current step: "step 2 replace 1->4: declared: ...".
static void job_step_text(const struct tui_snapshot *snapshot, const struct tui_job *job, char *out,
                          uint32_t size) {
    out[0] = '\0';
    if (snapshot->running_job != job->id) return;
    for (uint32_t i = 0; i < snapshot->move_count; i++) {
        const struct tui_move *move = &snapshot->moves[i];
        if (strcmp(move->state, "running") != 0) continue;
        (void)snprintf(out, size, "step %u: %s", move->step,
                       move->progress[0] != '\0' ? move->progress : move->kind);
        return;
    }
}

static void job_row(const struct tui_snapshot *snapshot, uint32_t index, char out[TUI_LINE_SIZE]) {
    const struct tui_job *job = &snapshot->jobs[index];
    char subject[TUI_NAME_SIZE + 8];
    if (job->node != 0) {
        (void)snprintf(subject, sizeof(subject), "%s %u", job->kind, job->node); // "drain 3"
    } else {
        (void)snprintf(subject, sizeof(subject), "%s", job->kind);
    }
    char bar[PROGRESS_BAR_CELLS + 3];
    bar_text(job->moves_done, job->moves, bar, sizeof(bar));
    char step[TUI_LONG_TEXT_SIZE + 64];
    job_step_text(snapshot, job, step, sizeof(step));
    const char *detail = step[0] != '\0' ? step : job->reason;
    line_printf(out, "%4llu %-10s %-9s %u/%u %s %s", (unsigned long long)job->id, subject,
                job->state, job->moves_done, job->moves, bar, detail);
}

static void room_row(const struct tui_snapshot *snapshot, uint32_t index, char out[TUI_LINE_SIZE]) {
    const struct tui_room *room = &snapshot->rooms[index];
    line_printf(out, "%-20llu %7.1f %5u %4u", (unsigned long long)room->room, room->per_s,
                room->group, room->node);
}

static void audit_row(const struct tui_snapshot *snapshot, uint32_t index,
                      char out[TUI_LINE_SIZE]) {
    const struct tui_audit_entry *entry = &snapshot->audit[index];
    char clock[16];
    line_printf(out, "%5llu %-9s %-8.8s  %-19s %-15s %s", (unsigned long long)entry->seq,
                clock_of(entry->time, clock), entry->actor, entry->action, entry->result,
                entry->args);
}

void tui_format_row(const struct tui_snapshot *snapshot, enum tui_pane pane, uint32_t index,
                    uint64_t wall_ms, char out[TUI_LINE_SIZE]) {
    tc_assert(snapshot != NULL && out != NULL);
    switch (pane) {
    case TUI_PANE_NODES:
        tc_assert(index < snapshot->node_count);
        node_row(snapshot, index, wall_ms, out);
        return;
    case TUI_PANE_GROUPS:
        tc_assert(index < snapshot->group_count);
        group_row(snapshot, index, out);
        return;
    case TUI_PANE_JOBS:
        tc_assert(index < snapshot->job_count);
        job_row(snapshot, index, out);
        return;
    case TUI_PANE_ROOMS:
        tc_assert(index < snapshot->room_count);
        room_row(snapshot, index, out);
        return;
    case TUI_PANE_AUDIT:
        tc_assert(index < snapshot->audit_count);
        audit_row(snapshot, index, out);
        return;
    case TUI_PANE_COUNT: break;
    }
    tc_unreachable();
}

uint64_t tui_row_id(const struct tui_snapshot *snapshot, enum tui_pane pane, uint32_t index) {
    switch (pane) {
    case TUI_PANE_NODES: return snapshot->nodes[index].id;
    case TUI_PANE_GROUPS: return snapshot->groups[index].id;
    case TUI_PANE_ROOMS: return snapshot->rooms[index].room;
    case TUI_PANE_JOBS: return snapshot->jobs[index].id;
    case TUI_PANE_AUDIT: return snapshot->audit[index].seq;
    case TUI_PANE_COUNT: break;
    }
    tc_unreachable();
}

struct room_rank {
    double rate;
    uint64_t id;
    uint32_t index;
};

static int room_rank_order(const void *a, const void *b) {
    const struct room_rank *x = a, *y = b;
    if (x->rate != y->rate) return x->rate > y->rate ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id ? 1 : 0;
}

// Every row of the pane in display order, unfiltered.
static uint32_t rows_all(const struct tui_snapshot *snapshot, enum tui_pane pane,
                         uint32_t rows[TUI_ROWS_MAX]) {
    switch (pane) {
    case TUI_PANE_NODES:
        for (uint32_t i = 0; i < snapshot->node_count; i++) rows[i] = i;
        return snapshot->node_count;
    case TUI_PANE_GROUPS:
        for (uint32_t i = 0; i < snapshot->group_count; i++) rows[i] = i;
        return snapshot->group_count;
    case TUI_PANE_JOBS:
        for (uint32_t i = 0; i < snapshot->job_count; i++) rows[i] = i;
        return snapshot->job_count;
    case TUI_PANE_AUDIT:
        for (uint32_t i = 0; i < snapshot->audit_count; i++)
            rows[i] = snapshot->audit_count - 1 - i;
        return snapshot->audit_count;
    case TUI_PANE_ROOMS: {
        // Busiest first (messages per second over the reporting node's window), then room id.
        struct room_rank ranks[TUI_ROOMS_MAX];
        tc_assert(snapshot->room_count <= TUI_ROOMS_MAX);
        for (uint32_t i = 0; i < snapshot->room_count; i++) {
            ranks[i] = (struct room_rank){snapshot->rooms[i].per_s, snapshot->rooms[i].room, i};
        }
        qsort(ranks, snapshot->room_count, sizeof(ranks[0]), room_rank_order);
        for (uint32_t i = 0; i < snapshot->room_count; i++) rows[i] = ranks[i].index;
        return snapshot->room_count;
    }
    case TUI_PANE_COUNT: break;
    }
    tc_unreachable();
}

uint32_t tui_pane_rows(const struct tui_snapshot *snapshot, enum tui_pane pane, const char *filter,
                       uint64_t wall_ms, uint32_t rows[TUI_ROWS_MAX], uint32_t *total) {
    tc_assert(snapshot != NULL && filter != NULL && rows != NULL && total != NULL);
    *total = rows_all(snapshot, pane, rows);
    tc_assert(*total <= TUI_ROWS_MAX);
    if (filter[0] == '\0') return *total;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < *total; i++) {
        char line[TUI_LINE_SIZE];
        tui_format_row(snapshot, pane, rows[i], wall_ms, line);
        if (tui_text_matches(line, filter)) rows[kept++] = rows[i];
    }
    return kept;
}
