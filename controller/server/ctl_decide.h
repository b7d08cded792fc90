#ifndef CTL_DECIDE_H
#define CTL_DECIDE_H

// The controller's decision on a request whose signature and role have been checked: the result
// to chain (docs/controller.md §8). Reads the current tables; writes nothing. A result is
// "\"ok\"", an object {"status":"ok",...} carrying what the controller decided (a new group's
// members, a job's id and moves: the store merges those members into the action's arguments when
// it applies the entry), or {"reason":"...","status":"refused"}.

#include <stdbool.h>

#include "ctl_server.h"

#define CTL_RESULT_SIZE_MAX (TC_AUDIT_RESULT_SIZE_MAX + 1u)

enum ctl_role_need {
    CTL_NEED_VIEWER = 0,
    CTL_NEED_OPERATOR,
    CTL_NEED_ADMIN,
    CTL_NEED_CONTROLLER, // only the controller's own key (job steps, node.update, ...)
    CTL_NEED_UNKNOWN,    // not an action
};

enum ctl_role_need ctl_action_need(const char *action);

// Fills result (NUL-terminated JSON, CTL_RESULT_SIZE_MAX bytes); *refused tells which kind.
// Returns 0, or a negative TC_E* code when the tables could not be read.
int ctl_decide(struct ctl_server *server, const char *action, const char *args_json, char *result,
               bool *refused);

// Shared by the plan endpoints and job.start: the plan for {"kind":"drain","node":N} or
// {"kind":"rebalance","max_moves":M} against `model`. 0 with *plan, or the plan's error with
// plan->reason (or `reason` for malformed arguments).
struct ctl_plan;
int ctl_decide_plan(const struct ctl_model *model, const char *kind, int64_t node,
                    int64_t max_moves, struct ctl_plan *plan);

#endif
