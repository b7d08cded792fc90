#ifndef CTL_READ_H
#define CTL_READ_H

// GET endpoints of the controller's API (docs/controller.md §8).

#include "ctl_server.h"

void ctl_read_status(struct ctl_server *server, const struct tc_admin_request *http,
                     struct tc_admin_response *response);
void ctl_read_nodes(struct ctl_server *server, const struct tc_admin_request *http,
                    struct tc_admin_response *response);
void ctl_read_groups(struct ctl_server *server, const struct tc_admin_request *http,
                     struct tc_admin_response *response);
void ctl_read_keys(struct ctl_server *server, const struct tc_admin_request *http,
                   struct tc_admin_response *response);
// id_text NULL: the newest jobs; else the job with that decimal id.
void ctl_read_jobs(struct ctl_server *server, const struct tc_admin_request *http,
                   struct tc_admin_response *response, const char *id_text);
void ctl_read_room(struct ctl_server *server, const struct tc_admin_request *http,
                   struct tc_admin_response *response);
void ctl_read_audit(struct ctl_server *server, const struct tc_admin_request *http,
                    struct tc_admin_response *response);
void ctl_read_topology(struct ctl_server *server, const struct tc_admin_request *http,
                       struct tc_admin_response *response);
// kind: "drain" or "rebalance".
void ctl_read_plan(struct ctl_server *server, const struct tc_admin_request *http,
                   struct tc_admin_response *response, const char *kind);

#endif
