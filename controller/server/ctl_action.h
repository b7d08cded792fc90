#ifndef CTL_ACTION_H
#define CTL_ACTION_H

// POST /v1/actions: an operator's signed request (docs/controller.md §3, §8). Checks, in order:
// the envelope parses (400 bad_request), the signature holds (401 bad_signature), the key is known
// and not removed (403 unknown_key) — those three are recorded in the `rejected` table, not
// chained — then the role (403 forbidden, chained as refused), then the action's own rules against
// the current tables (409 refused, chained), and the chain's skew and replay checks (400
// stale_request / 409 replay, recorded as rejected).

#include "ctl_server.h"

void ctl_action_post(struct ctl_server *server, const struct tc_admin_request *request,
                     struct tc_admin_response *response);

#endif
