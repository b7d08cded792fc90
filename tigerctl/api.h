#ifndef TIGERCTL_API_H
#define TIGERCTL_API_H

// The controller's HTTP API as tigerctl uses it (docs/controller.md §8): URLs, reads (GET, no
// signature) and signed actions (POST /v1/actions), with every failure turned into a message and
// an exit code the same way for every command:
//   unreachable (refused, timed out, cut off)        exit 3  "controller at URL unreachable: ..."
//   an error answer {"error":"code","message":".."}  exit 1  "code: message" (--json: the answer)
//   anything else that is not a JSON answer          exit 1
// A signed action that fails after it was sent (the controller may or may not have acted) or gets
// a 5xx other than 503 is retried once, re-signed with a NEW nonce: the controller's replay check
// refuses a reused nonce (docs/audit.md §5), and every action is idempotent on state, so a second
// copy of an action that did happen is harmless ("ok, unchanged", or refused as conflicting).
// A request that never reached the controller is not retried: the same attempt would fail again.

#include <stdint.h>

#include "http.h"

struct cJSON;
struct tigerctl_context;

struct tigerctl_query {
    const char *name;
    const char *value;
};

// base + path + "?name=value&..." (names and values percent-encoded except A-Z a-z 0-9 - . _ ~).
// 0, or TC_ETOOBIG if it does not fit capacity (NUL included).
int tigerctl_url_build(char *out, uint32_t capacity, const char *base, const char *path,
                       const struct tigerctl_query *query, uint32_t query_count);

struct tigerctl_reply {
    struct tigerctl_http_response http;
    struct cJSON *json; // the parsed body of a successful (2xx) answer, else NULL
};

// GET path (+ query) from context->controller. TIGERCTL_EXIT_OK with reply->json (an object or an
// array) on a 2xx JSON answer; otherwise prints why and returns the exit code. Free the reply
// with tigerctl_reply_free in every case.
int tigerctl_api_get(const struct tigerctl_context *context, const char *path,
                     const struct tigerctl_query *query, uint32_t query_count,
                     struct tigerctl_reply *reply);

// Signs `action` with args (a JSON object) using the operator's key (context->key_path), POSTs it
// to /v1/actions, retrying once as described above. TIGERCTL_EXIT_OK with reply->json (the
// answer object, {"seq":N,"result":...}) on 200; otherwise prints why (refused, forbidden, ...)
// and returns the exit code (TIGERCTL_EXIT_USAGE for a key problem). Free the reply in every case.
int tigerctl_api_action(const struct tigerctl_context *context, const char *action,
                        const struct cJSON *args, struct tigerctl_reply *reply);

void tigerctl_reply_free(struct tigerctl_reply *reply);

// With --json: prints the answer's body as the controller sent it (one line).
void tigerctl_reply_print(const struct tigerctl_context *context,
                          const struct tigerctl_reply *reply);

#endif
