// The overlays' text (see tui_format.h): one item's details, the help, a plan and its prompt.
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tc_assert.h"
#include "tui_format.h"

#define HASH_SHOWN 16

struct lines {
    char (*text)[TUI_LINE_SIZE];
    uint32_t count;
    uint32_t max;
};

__attribute__((format(printf, 2, 3))) static void add(struct lines *lines, const char *format,
                                                      ...) {
    if (lines->count == lines->max) return;
    va_list args;
    va_start(args, format);
    (void)vsnprintf(lines->text[lines->count], TUI_LINE_SIZE, format, args);
    va_end(args);
    lines->count++;
}

static void replica_line(struct lines *lines, const char *what, uint32_t id,
                         const struct tui_replica *replica) {
    add(lines, "  %s %u: %s, slot %u, %s, view %u, epoch %u, op %llu, commit %llu, applied %llu%s",
        what, id, replica->role, replica->slot, replica->state, replica->view, replica->epoch,
        (unsigned long long)replica->op, (unsigned long long)replica->commit,
        (unsigned long long)replica->applied, replica->primary ? ", PRIMARY" : "");
}

static void node_detail(struct lines *lines, const struct tui_snapshot *snapshot,
                        const struct tui_node *node, uint64_t wall_ms) {
    char age[16] = "never";
    if (node->heartbeat_known) {
        tui_age_format(wall_ms > node->heartbeat_ms ? wall_ms - node->heartbeat_ms : 0, age,
                       sizeof(age));
    }
    add(lines, "node %u: %s, %s, last heartbeat %s ago, zone %s", node->id, node->state,
        node->live ? "live" : "NOT LIVE", age, node->zone[0] != '\0' ? node->zone : "-");
    add(lines, "public key  %s", node->public_key);
    add(lines, "peer %s  client %s  admin %s", node->address_peer, node->address_client,
        node->address_admin);
    add(lines, "replicas %u (topology), leads %u, learner of %u, reports %u groups%s",
        node->replicas, node->primaries, node->learners, node->reported,
        node->reported_omitted > 0 ? " (its heartbeat left some out)" : "");
    add(lines, "client connections %s, commit p99 %s",
        node->connections_known ? "reported" : "not reported",
        node->commit_p99_known ? "reported" : "not reported by heartbeats");
    add(lines, "%s", "its groups, as its heartbeat reports them:");
    for (uint32_t g = 0; g < snapshot->group_count; g++) {
        const struct tui_group *group = &snapshot->groups[g];
        for (uint32_t i = 0; i < group->observed_count; i++) {
            if (group->observed[i].node != node->id) continue;
            replica_line(lines, "group", group->id, &group->observed[i]);
        }
    }
}

static void group_detail(struct lines *lines, const struct tui_group *group) {
    add(lines, "group %u: %s, epoch %u, view %u, %u live members, %u slots", group->id,
        tui_health_name(group->health), group->epoch, group->view, group->live_members,
        group->slots);
    char members[32] = "";
    for (uint32_t m = 0; m < group->member_count; m++) {
        const size_t at = strlen(members);
        (void)snprintf(members + at, sizeof(members) - at, "%s%u", m == 0 ? "" : ",",
                       group->members[m]);
    }
    add(lines, "members %s; primary: topology %u, heartbeats %u (0: none)", members,
        group->primary_topology, group->primary_observed);
    add(lines, "commit %llu, commit lag %llu ops (commit - lowest applied of the members)",
        (unsigned long long)group->commit, (unsigned long long)group->lag);
    if (group->rate_known) add(lines, "commits/s %.1f (between heartbeats)", group->commits_per_s);
    if (group->change.present) {
        add(lines, "change: %s %u -> %u (job %llu, step %u)", group->change.kind,
            group->change.from, group->change.to, (unsigned long long)group->change.job,
            group->change.step);
    }
    add(lines, "heartbeat reports (%u):", group->observed_count);
    for (uint32_t i = 0; i < group->observed_count; i++) {
        replica_line(lines, "node", group->observed[i].node, &group->observed[i]);
    }
}

static void job_detail(struct lines *lines, const struct tui_job *job, const struct tui_move *moves,
                       uint32_t move_count) {
    char subject[TUI_NAME_SIZE + 16];
    if (job->node != 0) {
        (void)snprintf(subject, sizeof(subject), "%s node %u", job->kind, job->node);
    } else {
        (void)snprintf(subject, sizeof(subject), "%s", job->kind);
    }
    add(lines, "job %llu: %s, %s, %u/%u steps done (started at audit seq %llu)",
        (unsigned long long)job->id, subject, job->state, job->moves_done, job->moves,
        (unsigned long long)job->created_seq);
    if (job->reason[0] != '\0') add(lines, "reason: %s", job->reason);
    add(lines, "%s", "STEP  GROUP  KIND          MOVE      STATE      PROGRESS");
    for (uint32_t i = 0; i < move_count; i++) {
        const struct tui_move *move = &moves[i];
        char move_text[24];
        (void)snprintf(move_text, sizeof(move_text), "%u -> %u", move->from, move->to);
        add(lines, "%4u  %5u  %-12s  %-8s  %-9s  %s", move->step, move->group, move->kind,
            move_text, move->state, move->progress);
    }
}

static void audit_detail(struct lines *lines, const struct tui_audit_entry *entry) {
    add(lines, "audit entry seq %llu at %s", (unsigned long long)entry->seq, entry->time);
    add(lines, "action %s", entry->action);
    add(lines, "actor  %s", entry->actor);
    add(lines, "result %s", entry->result);
    add(lines, "args   %s", entry->args);
}

static const struct tui_audit_entry *audit_find(const struct tui_snapshot *snapshot, uint64_t seq) {
    for (uint32_t i = 0; i < snapshot->audit_count; i++) {
        if (snapshot->audit[i].seq == seq) return &snapshot->audit[i];
    }
    return NULL;
}

static const struct tui_room *room_find(const struct tui_snapshot *snapshot, uint64_t id) {
    for (uint32_t i = 0; i < snapshot->room_count; i++) {
        if (snapshot->rooms[i].room == id) return &snapshot->rooms[i];
    }
    return NULL;
}

static const struct tui_job *job_find(const struct tui_snapshot *snapshot, uint64_t id) {
    for (uint32_t i = 0; i < snapshot->job_count; i++) {
        if (snapshot->jobs[i].id == id) return &snapshot->jobs[i];
    }
    return NULL;
}

uint32_t tui_format_detail(const struct tui_snapshot *snapshot, enum tui_pane pane, uint64_t id,
                           const struct tui_move *moves, uint32_t move_count, uint64_t wall_ms,
                           char text[TUI_DETAIL_LINES_MAX][TUI_LINE_SIZE]) {
    tc_assert(snapshot != NULL && text != NULL);
    struct lines lines = {.text = text, .count = 0, .max = TUI_DETAIL_LINES_MAX};
    const struct tui_node *node = id <= UINT32_MAX ? tui_node_find(snapshot, (uint32_t)id) : NULL;
    const struct tui_group *group =
        id <= UINT32_MAX ? tui_group_find(snapshot, (uint32_t)id) : NULL;
    const struct tui_job *job = job_find(snapshot, id);
    const struct tui_audit_entry *entry = audit_find(snapshot, id);
    if (pane == TUI_PANE_NODES && node != NULL) {
        node_detail(&lines, snapshot, node, wall_ms);
    } else if (pane == TUI_PANE_GROUPS && group != NULL) {
        group_detail(&lines, group);
    } else if (pane == TUI_PANE_ROOMS && room_find(snapshot, id) != NULL) {
        const struct tui_room *room = room_find(snapshot, id);
        add(&lines, "Room %llu: %.1f messages/s, last seq %llu (reported by node %u, which "
            "leads group %u)", (unsigned long long)room->room, room->per_s,
            (unsigned long long)room->seq, room->node, room->group);
        const struct tui_group *of = tui_group_find(snapshot, room->group);
        if (of != NULL) group_detail(&lines, of);
    } else if (pane == TUI_PANE_JOBS && job != NULL) {
        job_detail(&lines, job, moves, move_count);
    } else if (pane == TUI_PANE_AUDIT && entry != NULL) {
        audit_detail(&lines, entry);
    } else {
        add(&lines, "%s %llu is no longer in the controller's answer", tui_pane_name(pane),
            (unsigned long long)id);
    }
    return lines.count;
}

static const char *const help_lines[] = {
    "Keys",
    "  Up/Down, PgUp/PgDn, Home/End   select a row in the focused pane",
    "  Tab/Shift-Tab, Left/Right      focus the next/previous pane",
    "  Enter                          details of the selected row (Esc closes)",
    "  /                              filter the focused pane (Enter keeps, Esc restores,",
    "                                 an empty filter shows all)",
    "  d                              drain the selected node: shows the controller's plan,",
    "                                 type the node's name (its id) and Enter to start it",
    "  r                              rebalance: shows the plan, y starts it",
    "  v                              verify the audit chain (signatures, links, head)",
    "  ?                              this help        q  quit",
    "",
    "Panes: nodes (state, live, last heartbeat, replicas, primaries, learners, connections),",
    "groups (members: * primary, ! not live, +NL learner on node N; view, epoch, commit, lag,",
    "health), jobs (progress of the running step), the busiest rooms, the audit tail.",
    "Signed actions use --key (or $TIGERCTL_KEY), as tigerctl drain and rebalance do.",
    "",
    "Press any key to close.",
};

uint32_t tui_format_help(const char *const **lines) {
    *lines = help_lines;
    return TC_ARRAY_COUNT(help_lines);
}

uint32_t tui_format_plan(const struct tui_plan *plan, char text[][TUI_LINE_SIZE], uint32_t max) {
    tc_assert(plan != NULL && text != NULL && max >= 3);
    struct lines lines = {.text = text, .count = 0, .max = max};
    char subject[48];
    if (plan->kind == TUI_PLAN_DRAIN) {
        (void)snprintf(subject, sizeof(subject), "drain node %u", plan->node);
    } else {
        (void)snprintf(subject, sizeof(subject), "rebalance (at most %u moves)", plan->max_moves);
    }
    add(&lines, "plan: %s, %u step%s (topology version %llu, hash %.*s...)", subject,
        plan->step_total, plan->step_total == 1 ? "" : "s",
        (unsigned long long)plan->topology_version, HASH_SHOWN, plan->topology_hash);
    if (plan->step_total == 0) return lines.count;
    add(&lines, "%s", "STEP  GROUP  KIND          MOVE");
    for (uint32_t i = 0; i < plan->step_count; i++) {
        if (lines.count + 1 == lines.max && i + 1 < plan->step_total) {
            add(&lines, "... %u more steps", plan->step_total - i);
            break;
        }
        const struct tui_plan_step *step = &plan->steps[i];
        add(&lines, "%4u  %5u  %-12s  %u -> %u", step->step, step->group, step->kind, step->from,
            step->to);
    }
    return lines.count;
}

void tui_format_prompt(const struct tui_ui *ui, char out[TUI_LINE_SIZE]) {
    tc_assert(ui != NULL);
    if (ui->confirm_kind == TUI_PLAN_DRAIN) {
        (void)snprintf(out, TUI_LINE_SIZE,
                       "Type the node's name (%s) and Enter to start this drain, Esc cancels: %s_",
                       ui->expected, ui->typed);
    } else {
        (void)snprintf(out, TUI_LINE_SIZE,
                       "Start this rebalance? y starts it, any other key "
                       "cancels");
    }
}
