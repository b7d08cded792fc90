// What the dashboard derives from a snapshot (see tui_model.h): per-group view, commit, lag and
// observed primary from the heartbeats; commit rates between snapshots; the cluster's health; the
// link's state and retry schedule.
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "tc_assert.h"
#include "tigerctl.h"
#include "tui_model.h"

#define RATE_SMOOTHING 0.5 // weight of the newest rate in the running average

void tui_text_copy(char *out, uint32_t size, const char *text) {
    tc_assert(out != NULL && text != NULL && size > 0);
    tigerctl_sanitize(out, size, text);
}

void tui_age_format(uint64_t age_ms, char *out, uint32_t size) {
    tigerctl_age_text(age_ms, out, size);
}

// Binary search of a row by its id among `count` rows of `stride` bytes sorted by id, where the
// id is the uint32_t at `id_offset` (nodes and groups): the row, or NULL.
static const void *row_find(const void *rows, uint32_t count, size_t stride, size_t id_offset,
                            uint32_t id) {
    uint32_t low = 0, high = count;
    while (low < high) {
        const uint32_t middle = low + (high - low) / 2u;
        const char *row = (const char *)rows + (size_t)middle * stride;
        uint32_t at = 0;
        memcpy(&at, row + id_offset, sizeof(at));
        if (at == id) return row;
        if (at < id)
            low = middle + 1u;
        else
            high = middle;
    }
    return NULL;
}

const struct tui_node *tui_node_find(const struct tui_snapshot *snapshot, uint32_t id) {
    tc_assert(snapshot != NULL);
    return row_find(snapshot->nodes, snapshot->node_count, sizeof(snapshot->nodes[0]),
                    offsetof(struct tui_node, id), id);
}

const struct tui_group *tui_group_find(const struct tui_snapshot *snapshot, uint32_t id) {
    tc_assert(snapshot != NULL);
    return row_find(snapshot->groups, snapshot->group_count, sizeof(snapshot->groups[0]),
                    offsetof(struct tui_group, id), id);
}

const struct tui_job *tui_job_running(const struct tui_snapshot *snapshot) {
    tc_assert(snapshot != NULL);
    for (uint32_t i = 0; i < snapshot->job_count; i++) {
        if (strcmp(snapshot->jobs[i].state, "running") == 0) return &snapshot->jobs[i];
    }
    return NULL;
}

enum tui_health tui_health_of_live(uint32_t live_members) {
    if (live_members >= 3) return TUI_HEALTH_HEALTHY;
    if (live_members == 2) return TUI_HEALTH_DEGRADED;
    return TUI_HEALTH_NO_QUORUM;
}

const char *tui_health_name(enum tui_health health) {
    switch (health) {
    case TUI_HEALTH_UNKNOWN: return "unknown";
    case TUI_HEALTH_HEALTHY: return "healthy";
    case TUI_HEALTH_DEGRADED: return "degraded";
    case TUI_HEALTH_NO_QUORUM: return "no quorum";
    }
    tc_unreachable();
}

static bool is_member(const struct tui_group *group, uint32_t node) {
    for (uint32_t m = 0; m < group->member_count; m++) {
        if (group->members[m] == node) return true;
    }
    return false;
}

// View, commit, lag and primary of one group from its members' and learners' reports.
static void group_derive(struct tui_group *group) {
    group->primary_observed = 0;
    group->view = 0;
    group->commit = 0;
    group->commit_at_ms = 0;
    group->lag = 0;
    group->unsettled = false;
    uint64_t applied_min = UINT64_MAX;
    for (uint32_t i = 0; i < group->observed_count; i++) {
        const struct tui_replica *replica = &group->observed[i];
        const bool normal = strcmp(replica->state, "normal") == 0;
        const bool member = strcmp(replica->role, "member") == 0 && is_member(group, replica->node);
        if (replica->view > group->view) group->view = replica->view;
        if (replica->commit > group->commit) {
            group->commit = replica->commit;
            group->commit_at_ms = replica->heartbeat_ms;
        }
        if (!member) continue;
        if (replica->primary && normal) group->primary_observed = replica->node;
        if (!normal) group->unsettled = true;
        if (replica->applied < applied_min) applied_min = replica->applied;
    }
    if (applied_min != UINT64_MAX && applied_min < group->commit) {
        group->lag = group->commit - applied_min;
    }
}

// Commits per second of the group since the previous snapshot, from heartbeat times (each node
// reports once a second; the dashboard's own refresh times would alias with that).
static void group_rate(struct tui_group *group, const struct tui_group *before) {
    group->rate_known = false;
    group->commits_per_s = 0.0;
    if (before == NULL) return;
    group->rate_known = before->rate_known;
    group->commits_per_s = before->commits_per_s;
    if (group->commit_at_ms <= before->commit_at_ms || before->commit_at_ms == 0) return;
    const uint64_t elapsed_ms = group->commit_at_ms - before->commit_at_ms;
    const uint64_t commits = group->commit >= before->commit ? group->commit - before->commit : 0;
    const double rate = (double)commits * 1000.0 / (double)elapsed_ms;
    group->commits_per_s =
        before->rate_known ? RATE_SMOOTHING * rate + (1.0 - RATE_SMOOTHING) * before->commits_per_s
                           : rate;
    group->rate_known = true;
}

void tui_snapshot_derive(struct tui_snapshot *snapshot, const struct tui_snapshot *previous) {
    tc_assert(snapshot != NULL);
    const bool have_previous = previous != NULL && previous->valid;
    for (uint32_t g = 0; g < snapshot->group_count; g++) {
        struct tui_group *group = &snapshot->groups[g];
        group_derive(group);
        group_rate(group, have_previous ? tui_group_find(previous, group->id) : NULL);
    }
}

enum tui_health tui_cluster_health(const struct tui_snapshot *snapshot) {
    tc_assert(snapshot != NULL);
    if (!snapshot->valid) return TUI_HEALTH_UNKNOWN;
    enum tui_health worst = TUI_HEALTH_HEALTHY;
    for (uint32_t g = 0; g < snapshot->group_count; g++) {
        const enum tui_health health = snapshot->groups[g].health;
        if (health == TUI_HEALTH_NO_QUORUM) return TUI_HEALTH_NO_QUORUM;
        if (health != TUI_HEALTH_HEALTHY) worst = TUI_HEALTH_DEGRADED;
    }
    for (uint32_t n = 0; n < snapshot->node_count; n++) {
        const struct tui_node *node = &snapshot->nodes[n];
        if (!node->live && strcmp(node->state, "drained") != 0) worst = TUI_HEALTH_DEGRADED;
    }
    return worst;
}

// ------------------------------------------------------------------------------------------------
// The link

uint32_t tui_backoff_ms(uint32_t refresh_ms, uint32_t failures) {
    tc_assert(refresh_ms > 0);
    uint64_t delay = refresh_ms;
    for (uint32_t i = 1; i < failures && delay < TUI_BACKOFF_MAX_MS; i++) delay *= 2u;
    if (delay > TUI_BACKOFF_MAX_MS) delay = TUI_BACKOFF_MAX_MS;
    if (delay < refresh_ms) delay = refresh_ms;
    return (uint32_t)delay;
}

void tui_link_success(struct tui_link *link, uint64_t now_ms, uint32_t refresh_ms) {
    tc_assert(link != NULL);
    link->state = TUI_LINK_UP;
    link->failures = 0;
    link->down_since_ms = 0;
    link->error[0] = '\0';
    link->next_ms = now_ms + refresh_ms;
}

void tui_link_failure(struct tui_link *link, bool unreachable, const char *message, uint64_t now_ms,
                      uint64_t wall_ms, uint32_t refresh_ms) {
    tc_assert(link != NULL && message != NULL);
    if (link->failures == 0) link->down_since_ms = wall_ms;
    if (link->failures < UINT32_MAX) link->failures++;
    link->state = unreachable ? TUI_LINK_DOWN : TUI_LINK_ERROR;
    tui_text_copy(link->error, sizeof(link->error), message);
    link->next_ms = now_ms + tui_backoff_ms(refresh_ms, link->failures);
}
