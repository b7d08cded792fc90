#ifndef CTL_JOBS_H
#define CTL_JOBS_H

// The job executor (docs/controller.md §7), run from the controller's tick: at most one running
// job, its steps in order, one change per group (C7). Each transition is a chain entry signed by
// the controller (node.state, job.step, job.finish), so a restarted controller resumes from the
// tables; only the stall timer restarts.

#include "ctl_server.h"

#define CTL_JOBS_TICK_MS 500u
#define CTL_JOBS_STALL_MS (60u * 1000u) // a running step without progress this long fails the job
#define CTL_JOBS_LEARNER_LAG_OPS 256u   // a learner this close to the members' applied op is caught up

void ctl_jobs_tick(struct ctl_server *server);

// Heartbeat lookups shared with the read API (GET /v1/jobs/ID shows a learner's sync progress).
// `nodes` is the parsed ctl_store_nodes_json array.
struct cJSON;
// The entry for `group` in the last heartbeat of live node `node`, or NULL.
const struct cJSON *ctl_heartbeat_group(const struct cJSON *nodes, uint16_t node, uint32_t group);
// The highest applied op any member of `group` reports (a learner's yardstick).
uint64_t ctl_members_applied(const struct cJSON *nodes, const struct ctl_group *group);

#endif
