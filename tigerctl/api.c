// The controller's HTTP API for tigerctl commands: URL building, reads, signed actions, and the
// mapping of every failure to a message and an exit code (see api.h).
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "sign.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tigerctl.h"

#define RETRY_DELAY_MS 250u
#define SHOWN_BODY_SIZE 200u // bytes of a non-JSON answer quoted in a message

static bool url_put(char *out, uint32_t capacity, uint32_t *at, const char *text, bool encode) {
    static const char hex[] = "0123456789ABCDEF";
    for (const char *p = text; *p != '\0'; p++) {
        const unsigned char c = (unsigned char)*p;
        const bool plain = !encode || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
        const uint32_t need = plain ? 1u : 3u;
        if (capacity - *at <= need) return false; // keep room for the NUL
        if (plain) {
            out[(*at)++] = (char)c;
        } else {
            out[(*at)++] = '%';
            out[(*at)++] = hex[c >> 4];
            out[(*at)++] = hex[c & 15u];
        }
    }
    out[*at] = '\0';
    return true;
}

int tigerctl_url_build(char *out, uint32_t capacity, const char *base, const char *path,
                       const struct tigerctl_query *query, uint32_t query_count) {
    tc_assert(out != NULL && base != NULL && path != NULL);
    tc_assert(capacity > 0);
    tc_assert(path[0] == '/');
    tc_assert(query_count == 0 || query != NULL);
    uint32_t at = 0;
    out[0] = '\0';
    bool fits =
        url_put(out, capacity, &at, base, false) && url_put(out, capacity, &at, path, false);
    for (uint32_t i = 0; fits && i < query_count; i++) {
        tc_assert(query[i].name != NULL && query[i].value != NULL);
        fits = url_put(out, capacity, &at, i == 0 ? "?" : "&", false) &&
               url_put(out, capacity, &at, query[i].name, true) &&
               url_put(out, capacity, &at, "=", false) &&
               url_put(out, capacity, &at, query[i].value, true);
    }
    if (!fits) {
        out[0] = '\0';
        return TC_ETOOBIG;
    }
    tc_assert(at < capacity && out[at] == '\0');
    return 0;
}

void tigerctl_reply_free(struct tigerctl_reply *reply) {
    tc_assert(reply != NULL);
    cJSON_Delete(reply->json);
    reply->json = NULL;
    tigerctl_http_response_free(&reply->http);
}

void tigerctl_reply_print(const struct tigerctl_context *context,
                          const struct tigerctl_reply *reply) {
    tc_assert(context != NULL && reply != NULL);
    tc_assert(reply->http.body != NULL);
    const uint32_t size = reply->http.body_size;
    const bool newline = size > 0 && reply->http.body[size - 1] == '\n';
    (void)fprintf(context->out, "%s%s", reply->http.body, newline ? "" : "\n");
}

// The body as JSON if it is exactly one JSON value (no NUL inside, nothing after it), else NULL.
static cJSON *body_parse(const struct tigerctl_http_response *http) {
    if (http->body == NULL || strlen(http->body) != http->body_size) return NULL;
    return cJSON_ParseWithOpts(http->body, NULL, true);
}

// An answer with a status other than 2xx: the controller's error, or whatever it said.
static int answer_fail(const struct tigerctl_context *context,
                       const struct tigerctl_http_response *http) {
    tc_assert(http->status < 200 || http->status > 299);
    cJSON *json = body_parse(http);
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(json, "error");
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(json, "message");
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(json, "seq");
    int code = TIGERCTL_EXIT_FAILURE;
    if (cJSON_IsString(error) && context->json) {
        tigerctl_reply_print(context, &(struct tigerctl_reply){.http = *http, .json = NULL});
    } else if (cJSON_IsString(error)) {
        char error_text[64];
        char message_text[512];
        tigerctl_sanitize(error_text, sizeof(error_text), error->valuestring);
        tigerctl_sanitize(message_text, sizeof(message_text),
                          cJSON_IsString(message) ? message->valuestring : "(no message)");
        char where[48] = "";
        if (cJSON_IsNumber(seq)) {
            (void)snprintf(where, sizeof(where), " (audit seq %.0f)", seq->valuedouble);
        }
        (void)tigerctl_fail(context, code, "%s: %s%s", error_text, message_text, where);
    } else {
        char shown[SHOWN_BODY_SIZE];
        tigerctl_sanitize(shown, sizeof(shown), http->body != NULL ? http->body : "");
        (void)tigerctl_fail(context, code, "controller answered HTTP %ld: %s", http->status,
                            shown[0] != '\0' ? shown : "(empty body)");
    }
    cJSON_Delete(json);
    return code;
}

// Turns a finished request into an exit code, printing the failure; on success parses the JSON.
static int reply_check(const struct tigerctl_context *context, enum tigerctl_http_outcome outcome,
                       struct tigerctl_reply *reply) {
    tc_assert(reply->json == NULL);
    const struct tigerctl_http_response *http = &reply->http;
    switch (outcome) {
    case TIGERCTL_HTTP_UNREACHABLE:
        return tigerctl_fail(context, TIGERCTL_EXIT_UNREACHABLE, "controller at %s unreachable: %s",
                             context->controller, http->error);
    case TIGERCTL_HTTP_TOO_BIG:
        return tigerctl_fail(context, TIGERCTL_EXIT_FAILURE,
                             "the controller's answer is larger than %u bytes (4 MiB); ask for "
                             "less (e.g. a smaller --limit)",
                             TIGERCTL_HTTP_BODY_SIZE_MAX);
    case TIGERCTL_HTTP_FAILED:
        return tigerctl_fail(context, TIGERCTL_EXIT_FAILURE, "request to %s failed: %s",
                             context->controller, http->error);
    case TIGERCTL_HTTP_ANSWERED: break;
    default: tc_unreachable();
    }
    if (http->status < 200 || http->status > 299) return answer_fail(context, http);
    reply->json = body_parse(http);
    if (!cJSON_IsObject(reply->json) && !cJSON_IsArray(reply->json)) {
        char shown[SHOWN_BODY_SIZE];
        tigerctl_sanitize(shown, sizeof(shown), http->body);
        return tigerctl_fail(context, TIGERCTL_EXIT_FAILURE,
                             "the controller's answer is not a JSON object or array: %s", shown);
    }
    return TIGERCTL_EXIT_OK;
}

int tigerctl_api_get(const struct tigerctl_context *context, const char *path,
                     const struct tigerctl_query *query, uint32_t query_count,
                     struct tigerctl_reply *reply) {
    tc_assert(context != NULL && path != NULL && reply != NULL);
    tc_assert(context->controller != NULL);
    memset(reply, 0, sizeof(*reply));
    char url[TIGERCTL_URL_SIZE_MAX];
    if (tigerctl_url_build(url, sizeof(url), context->controller, path, query, query_count) != 0) {
        return tigerctl_fail(context, TIGERCTL_EXIT_USAGE,
                             "the request URL is longer than %u "
                             "bytes",
                             TIGERCTL_URL_SIZE_MAX - 1);
    }
    const enum tigerctl_http_outcome outcome =
        tigerctl_http_request(url, NULL, 0, context->timeout_ms, &reply->http);
    return reply_check(context, outcome, reply);
}

// Whether a failed POST may be tried once more (see api.h).
static bool action_retryable(enum tigerctl_http_outcome outcome,
                             const struct tigerctl_http_response *http) {
    if (outcome == TIGERCTL_HTTP_UNREACHABLE) return http->sent;
    if (outcome != TIGERCTL_HTTP_ANSWERED) return false;
    return http->status >= 500 && http->status <= 599 && http->status != 503;
}

static void sleep_ms(uint32_t ms) {
    const struct timespec delay = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    (void)nanosleep(&delay, NULL);
}

// One signed POST: a fresh nonce and time, signed, sent. TIGERCTL_EXIT_OK and *outcome, or the
// exit code of a request that could not be built.
static int action_post(const struct tigerctl_context *context,
                       const struct tc_audit_secret_key *key, const char *action,
                       const char *args_json, const char *url, struct tigerctl_http_response *http,
                       enum tigerctl_http_outcome *outcome) {
    static char envelope[TIGERCTL_ENVELOPE_SIZE_MAX];
    uint8_t nonce[TC_AUDIT_NONCE_SIZE];
    tc_audit_nonce_random(nonce);
    uint32_t size = 0;
    const char *detail = NULL;
    const int rc = tigerctl_envelope_build(key, action, args_json, tigerctl_time_now_ms(), nonce,
                                           envelope, sizeof(envelope), &size, &detail);
    if (rc != 0) {
        return tigerctl_fail(context, TIGERCTL_EXIT_USAGE, "cannot build the request: %s",
                             detail != NULL ? detail : tc_strerror(rc));
    }
    *outcome = tigerctl_http_request(url, envelope, size, context->timeout_ms, http);
    return TIGERCTL_EXIT_OK;
}

static void retry_note(const struct tigerctl_context *context, enum tigerctl_http_outcome outcome,
                       const struct tigerctl_http_response *http) {
    char what[TIGERCTL_HTTP_ERROR_SIZE + 32];
    if (outcome == TIGERCTL_HTTP_ANSWERED) {
        (void)snprintf(what, sizeof(what), "HTTP %ld", http->status);
    } else {
        (void)snprintf(what, sizeof(what), "%s", http->error);
    }
    (void)fprintf(context->err,
                  "tigerctl %s: %s after the request was sent; retrying once with a "
                  "new nonce (actions are idempotent)\n",
                  context->command->name, what);
}

int tigerctl_api_action(const struct tigerctl_context *context, const char *action,
                        const cJSON *args, struct tigerctl_reply *reply) {
    tc_assert(context != NULL && action != NULL && reply != NULL);
    tc_assert(cJSON_IsObject(args));
    memset(reply, 0, sizeof(*reply));
    char url[TIGERCTL_URL_SIZE_MAX];
    if (tigerctl_url_build(url, sizeof(url), context->controller, "/v1/actions", NULL, 0) != 0) {
        tc_unreachable(); // the base URL is at most TIGERCTL_BASE_URL_SIZE_MAX - 1 bytes
    }
    struct tc_audit_secret_key key;
    int code = tigerctl_key_load(context, &key);
    if (code != TIGERCTL_EXIT_OK) return code;
    char *args_json = cJSON_PrintUnformatted(args);
    tc_assert(args_json != NULL);
    enum tigerctl_http_outcome outcome = TIGERCTL_HTTP_FAILED;
    for (uint32_t attempt = 0; attempt < 2; attempt++) {
        code = action_post(context, &key, action, args_json, url, &reply->http, &outcome);
        if (code != TIGERCTL_EXIT_OK || attempt == 1) break;
        if (!action_retryable(outcome, &reply->http)) break;
        retry_note(context, outcome, &reply->http);
        tigerctl_http_response_free(&reply->http);
        sleep_ms(RETRY_DELAY_MS);
    }
    tc_audit_secret_key_wipe(&key);
    cJSON_free(args_json);
    if (code != TIGERCTL_EXIT_OK) return code;
    return reply_check(context, outcome, reply);
}
