// libcurl transport for tigerctl: one easy handle per request (the controller serves one request
// per connection), a body buffer that grows up to TIGERCTL_HTTP_BODY_SIZE_MAX and no further.
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "tc_assert.h"

#ifndef TIGERCTL_VERSION
#define TIGERCTL_VERSION "0.0.0"
#endif

#define BODY_CAPACITY_INITIAL (16u * 1024u)

_Static_assert(TIGERCTL_HTTP_ERROR_SIZE >= CURL_ERROR_SIZE, "curl's error buffer fits");
_Static_assert(TIGERCTL_HTTP_BODY_SIZE_MAX < UINT32_MAX / 4u, "body sizes fit in uint32_t");

struct body {
    char *data;
    uint32_t size;     // bytes received, data[size] == '\0'
    uint32_t capacity; // bytes allocated, at most TIGERCTL_HTTP_BODY_SIZE_MAX + 1
    bool too_big;
    bool no_memory;
};

static bool body_reserve(struct body *body, uint32_t need) {
    tc_assert(need <= TIGERCTL_HTTP_BODY_SIZE_MAX + 1u);
    if (need <= body->capacity) return true;
    uint32_t capacity = body->capacity == 0 ? BODY_CAPACITY_INITIAL : body->capacity;
    while (capacity < need) capacity *= 2u;
    if (capacity > TIGERCTL_HTTP_BODY_SIZE_MAX + 1u) capacity = TIGERCTL_HTTP_BODY_SIZE_MAX + 1u;
    char *grown = realloc(body->data, capacity);
    if (grown == NULL) return false;
    body->data = grown;
    body->capacity = capacity;
    tc_assert(body->capacity >= need);
    return true;
}

static size_t body_write(char *data, size_t size, size_t count, void *user) {
    struct body *body = user;
    tc_assert(size == 1); // libcurl documents size as always 1
    tc_assert(body->size < body->capacity);
    if (count > TIGERCTL_HTTP_BODY_SIZE_MAX - body->size) {
        body->too_big = true;
        return 0; // makes curl_easy_perform fail with CURLE_WRITE_ERROR
    }
    const uint32_t need = body->size + (uint32_t)count + 1u;
    if (!body_reserve(body, need)) {
        body->no_memory = true;
        return 0;
    }
    memcpy(body->data + body->size, data, count);
    body->size += (uint32_t)count;
    body->data[body->size] = '\0';
    return count;
}

static bool curl_ready(void) {
    static bool initialised = false;
    static CURLcode result = CURLE_OK;
    if (!initialised) {
        result = curl_global_init(CURL_GLOBAL_DEFAULT);
        initialised = true;
    }
    return result == CURLE_OK;
}

static CURLcode options_set(CURL *curl, const char *url, const char *post, uint32_t post_size,
                            uint32_t timeout_ms, struct curl_slist *headers, struct body *body,
                            char *error) {
    CURLcode result = curl_easy_setopt(curl, CURLOPT_URL, url);
    if (result == CURLE_OK) result = curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    if (result == CURLE_OK) result = curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (result == CURLE_OK) result = curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    if (result == CURLE_OK) {
        result = curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    }
    if (result == CURLE_OK) result = curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    if (result == CURLE_OK) result = curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    if (result == CURLE_OK) {
        result =
            curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    }
#endif
    if (result == CURLE_OK) {
        result = curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
    if (result == CURLE_OK) {
        result = curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
                                  (curl_off_t)TIGERCTL_HTTP_BODY_SIZE_MAX);
    }
    if (result == CURLE_OK) result = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, body_write);
    if (result == CURLE_OK) result = curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
    if (result == CURLE_OK) result = curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (result == CURLE_OK) {
        result = curl_easy_setopt(curl, CURLOPT_USERAGENT, "tigerctl/" TIGERCTL_VERSION);
    }
    if (result == CURLE_OK && post != NULL) {
        result = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)post_size);
        if (result == CURLE_OK) result = curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post);
    }
    return result;
}

// Accept JSON; for a POST, say it is JSON and send it at once (no "Expect: 100-continue" wait).
static struct curl_slist *headers_make(bool post) {
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    if (headers == NULL || !post) return headers;
    struct curl_slist *more = curl_slist_append(headers, "Content-Type: application/json");
    if (more != NULL) more = curl_slist_append(more, "Expect:");
    if (more == NULL) curl_slist_free_all(headers);
    return more;
}

static enum tigerctl_http_outcome outcome_of(CURLcode code, const struct body *body) {
    if (code == CURLE_OK) return TIGERCTL_HTTP_ANSWERED;
    if (body->too_big || code == CURLE_FILESIZE_EXCEEDED) return TIGERCTL_HTTP_TOO_BIG;
    if (body->no_memory) return TIGERCTL_HTTP_FAILED;
    switch (code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: return TIGERCTL_HTTP_UNREACHABLE;
    default: return TIGERCTL_HTTP_FAILED;
    }
}

// Fills status, sent and error after curl_easy_perform.
static void response_finish(CURL *curl, CURLcode code, enum tigerctl_http_outcome outcome,
                            const struct body *body, struct tigerctl_http_response *response) {
    long request_size = 0;
    if (curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &request_size) != CURLE_OK) {
        request_size = 1; // unknown: assume the controller may have seen it
    }
    response->sent = request_size > 0;
    if (outcome == TIGERCTL_HTTP_ANSWERED) {
        if (curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response->status) != CURLE_OK) {
            response->status = 0;
        }
        response->error[0] = '\0';
        return;
    }
    if (outcome == TIGERCTL_HTTP_TOO_BIG) {
        (void)snprintf(response->error, sizeof(response->error),
                       "the answer is larger than %u bytes", TIGERCTL_HTTP_BODY_SIZE_MAX);
    } else if (body->no_memory) {
        (void)snprintf(response->error, sizeof(response->error), "out of memory");
    } else if (response->error[0] == '\0') {
        (void)snprintf(response->error, sizeof(response->error), "%s", curl_easy_strerror(code));
    }
}

enum tigerctl_http_outcome tigerctl_http_request(const char *url, const char *post,
                                                 uint32_t post_size, uint32_t timeout_ms,
                                                 struct tigerctl_http_response *response) {
    tc_assert(url != NULL && response != NULL);
    tc_assert(timeout_ms > 0);
    tc_assert(post == NULL || strlen(post) == post_size);
    memset(response, 0, sizeof(*response));
    struct body body = {0};
    enum tigerctl_http_outcome outcome = TIGERCTL_HTTP_FAILED;
    CURL *curl = NULL;
    struct curl_slist *headers = NULL;
    if (!body_reserve(&body, BODY_CAPACITY_INITIAL)) {
        (void)snprintf(response->error, sizeof(response->error), "out of memory");
        goto done;
    }
    body.data[0] = '\0';
    if (!curl_ready() || (curl = curl_easy_init()) == NULL ||
        (headers = headers_make(post != NULL)) == NULL) {
        (void)snprintf(response->error, sizeof(response->error), "cannot initialise libcurl");
        goto done;
    }
    CURLcode code =
        options_set(curl, url, post, post_size, timeout_ms, headers, &body, response->error);
    if (code == CURLE_OK) code = curl_easy_perform(curl);
    outcome = outcome_of(code, &body);
    response_finish(curl, code, outcome, &body, response);
done:
    curl_slist_free_all(headers);
    if (curl != NULL) curl_easy_cleanup(curl);
    response->body = body.data;
    response->body_size = body.size;
    tc_assert(outcome != TIGERCTL_HTTP_ANSWERED || response->body != NULL);
    return outcome;
}

void tigerctl_http_response_free(struct tigerctl_http_response *response) {
    tc_assert(response != NULL);
    free(response->body);
    response->body = NULL;
    response->body_size = 0;
}
