#ifndef CTL_CHAIN_H
#define CTL_CHAIN_H

// Entering the audit chain and the database (docs/controller.md §3). Every function runs on the
// controller's one thread.

#include "ctl_server.h"

// Appends a signed request with the controller's result (JSON: "\"ok\"" or an object) to the
// chain (durable on return), then applies it to the database. Errors from the chain writer are
// returned as they are (TC_EPERM bad signature, TC_ERANGE skew, TC_EEXIST replay, TC_EBUSY window
// full, TC_EINVAL result); TC_EIO when the chain or the apply failed, after which every further
// append is refused until restart.
int ctl_chain_append(struct ctl_server *server, const struct tc_audit_request *request,
                     const char *result_json, uint64_t *seq);

// A request signed by the controller itself (actor = controller key): job steps, node.add of an
// auto-accepted node, node.update.
int ctl_chain_controller(struct ctl_server *server, const char *action, const char *args_json,
                         const char *result_json, uint64_t *seq);

// A signed checkpoint of the chain's head (TC_EEXIST/TC_ENOENT are not errors).
void ctl_chain_checkpoint(struct ctl_server *server);

// At start: applies the chain's entries the database does not have yet (a crash between the
// chain append and the commit). TC_ECORRUPT when the database is ahead of the chain.
int ctl_chain_catch_up(struct ctl_server *server, uint64_t *replayed);

#endif
