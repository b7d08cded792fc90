// POST /v1/actions (ctl_action.h).
#include "ctl_action.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "ctl_chain.h"
#include "ctl_decide.h"
#include "ctl_envelope.h"
#include "ctl_store.h"
#include "tc_assert.h"
#include "tc_err.h"

// Recorded in the `rejected` table (never chained), logged, counted, answered.
static void action_reject(struct ctl_server *server, const struct tc_admin_request *http,
                          struct tc_admin_response *response, uint16_t status, const char *code,
                          const char *actor, const char *action, const char *message) {
    struct ctl_store_rejected row = {.time_ms = ctl_wall_ms()};
    (void)snprintf(row.remote, sizeof(row.remote), "%s", http->remote_ip);
    (void)snprintf(row.actor, sizeof(row.actor), "%s", actor);
    (void)snprintf(row.action, sizeof(row.action), "%s", action);
    (void)snprintf(row.reason, sizeof(row.reason), "%s: %s", code, message);
    const int rc = ctl_store_rejected_add(server->store, &row);
    if (rc != 0)
        ctl_log("error", "recording a rejected request: %s", ctl_store_error(server->store));
    server->stats.requests_rejected += 1;
    ctl_log("warn", "rejected request from %s: %s (%s)", http->remote_ip, code, message);
    ctl_respond_error(response, status, code, message);
}

static bool role_allows(enum ctl_store_role role, enum ctl_role_need need) {
    switch (need) {
    case CTL_NEED_VIEWER: return true;
    case CTL_NEED_OPERATOR: return role == CTL_STORE_ROLE_OPERATOR || role == CTL_STORE_ROLE_ADMIN;
    case CTL_NEED_ADMIN: return role == CTL_STORE_ROLE_ADMIN;
    case CTL_NEED_CONTROLLER: return role == CTL_STORE_ROLE_CONTROLLER;
    case CTL_NEED_UNKNOWN: return false;
    }
    tc_unreachable();
}

// The answer to a chained request: 200 with the result, or 403/409 with the refusal's reason.
static void action_answer(struct tc_admin_response *response, uint64_t seq, const char *result,
                          bool refused, bool forbidden) {
    cJSON *parsed = cJSON_Parse(result);
    tc_assert(parsed != NULL);
    cJSON *answer = cJSON_CreateObject();
    tc_assert(answer != NULL);
    if (refused) {
        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(parsed, "reason");
        (void)cJSON_AddStringToObject(answer, "error", forbidden ? "forbidden" : "refused");
        (void)cJSON_AddStringToObject(answer, "message",
                                      cJSON_IsString(reason) ? reason->valuestring : "refused");
        cJSON_Delete(parsed);
    } else {
        cJSON_AddItemToObject(answer, "result", parsed);
    }
    (void)cJSON_AddNumberToObject(answer, "seq", (double)seq);
    char *text = cJSON_PrintUnformatted(answer);
    tc_assert(text != NULL);
    ctl_respond_json(response, refused ? (forbidden ? 403 : 409) : 200, text);
    cJSON_free(text);
    cJSON_Delete(answer);
}

// Chains the decided request; maps the chain's refusals to answers.
static void action_chain(struct ctl_server *server, const struct tc_admin_request *http,
                         struct tc_admin_response *response, const struct tc_audit_request *request,
                         const char *actor, const char *result, bool refused, bool forbidden) {
    uint64_t seq = 0;
    const int rc = ctl_chain_append(server, request, result, &seq);
    if (rc == TC_ERANGE) {
        action_reject(server, http, response, 400, "stale_request", actor, request->action,
                      "request_time is more than 5 minutes from the controller's clock");
    } else if (rc == TC_EEXIST) {
        action_reject(server, http, response, 409, "replay", actor, request->action,
                      "this signed request was already received (sign a new one)");
    } else if (rc == TC_EBUSY) {
        ctl_respond_error(response, 503, "busy", "too many actions in the last 10 minutes");
    } else if (rc != 0) {
        ctl_respond_error(response, 503, "audit_unavailable",
                          "the audit chain cannot be written: the controller refuses changes "
                          "until it is restarted (see its log)");
    } else {
        if (refused) server->stats.actions_refused += 1;
        if (!refused) server->stats.actions_ok += 1;
        ctl_log("info", "seq %llu %s by %.16s: %s", (unsigned long long)seq, request->action, actor,
                refused ? "refused" : "ok");
        action_answer(response, seq, result, refused, forbidden);
    }
}

void ctl_action_post(struct ctl_server *server, const struct tc_admin_request *http,
                     struct tc_admin_response *response) {
    static struct tc_audit_request request; // one thread; ~17 KiB
    static char result[CTL_RESULT_SIZE_MAX];
    char error[CTL_ENVELOPE_ERROR_SIZE];
    if (server->audit_failed) {
        ctl_respond_error(response, 503, "audit_unavailable",
                          "the audit chain cannot be written: restart the controller");
        return;
    }
    if (ctl_envelope_parse(http->body, http->body_size, &request, error) != 0) {
        action_reject(server, http, response, 400, "bad_request", "", "", error);
        return;
    }
    char actor[TC_AUDIT_KEY_HEX_SIZE + 1];
    tc_audit_key_hex(&request.actor, actor);
    if (tc_audit_request_verify(&request) != 0) {
        action_reject(server, http, response, 401, "bad_signature", actor, request.action,
                      "actor_sig does not verify for this actor and request");
        return;
    }
    enum ctl_store_role role;
    int rc = ctl_store_key_role(server->store, actor, &role);
    if (rc == TC_ENOENT) {
        action_reject(server, http, response, 403, "unknown_key", actor, request.action,
                      "this key is not an operator key of this cluster (tigerctl keys add)");
        return;
    }
    if (rc != 0) {
        ctl_respond_error(response, 500, "store", ctl_store_error(server->store));
        return;
    }
    const enum ctl_role_need need = ctl_action_need(request.action);
    bool refused = true;
    const bool forbidden = need != CTL_NEED_UNKNOWN && !role_allows(role, need);
    if (need == CTL_NEED_UNKNOWN) {
        (void)snprintf(result, sizeof(result),
                       "{\"reason\":\"unknown action %s\",\"status\":\"refused\"}", request.action);
    } else if (forbidden) {
        (void)snprintf(result, sizeof(result),
                       "{\"reason\":\"role %s may not %s\",\"status\":\"refused\"}",
                       ctl_store_role_name(role), request.action);
    } else {
        rc = ctl_decide(server, request.action, request.args, result, &refused);
        if (rc != 0) {
            ctl_respond_error(response, 500, "store", ctl_store_error(server->store));
            return;
        }
    }
    action_chain(server, http, response, &request, actor, result, refused, forbidden);
}
