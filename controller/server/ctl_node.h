#ifndef CTL_NODE_H
#define CTL_NODE_H

// Node registration and heartbeats (docs/controller.md §8).

#include "ctl_server.h"

void ctl_node_register(struct ctl_server *server, const struct tc_admin_request *http,
                       struct tc_admin_response *response);
void ctl_node_heartbeat(struct ctl_server *server, const struct tc_admin_request *http,
                        struct tc_admin_response *response);

#endif
