#ifndef TIGERCTL_HTTP_H
#define TIGERCTL_HTTP_H

// One HTTP request to the controller over libcurl: GET, or POST of a JSON body. Bounded: the
// answer's body is capped at TIGERCTL_HTTP_BODY_SIZE_MAX (beyond it the request fails, never
// truncates), the whole exchange at timeout_ms. No redirects, http and https only. Proxies come
// from the environment as for curl (http_proxy, no_proxy).

#include <stdbool.h>
#include <stdint.h>

#define TIGERCTL_HTTP_BODY_SIZE_MAX (4u * 1024u * 1024u)
#define TIGERCTL_HTTP_ERROR_SIZE 256u

enum tigerctl_http_outcome {
    TIGERCTL_HTTP_ANSWERED,    // a complete HTTP response (any status)
    TIGERCTL_HTTP_UNREACHABLE, // no connection, or it failed or timed out before a full answer
    TIGERCTL_HTTP_TOO_BIG,     // the answer's body exceeds TIGERCTL_HTTP_BODY_SIZE_MAX
    TIGERCTL_HTTP_FAILED,      // any other error (malformed URL, protocol error, out of memory)
};

struct tigerctl_http_response {
    long status; // HTTP status when answered, else 0
    // True when the request went (at least partly) on the wire: the controller may have acted on
    // it even if no answer came back. False when no connection was made.
    bool sent;
    char *body; // NUL-terminated, heap (tigerctl_http_response_free); "" when empty
    uint32_t body_size;
    char error[TIGERCTL_HTTP_ERROR_SIZE]; // what went wrong when not answered
};

// GET url (body == NULL) or POST body (Content-Type: application/json). Always fills response
// (free it with tigerctl_http_response_free, whatever the outcome).
enum tigerctl_http_outcome tigerctl_http_request(const char *url, const char *body,
                                                 uint32_t body_size, uint32_t timeout_ms,
                                                 struct tigerctl_http_response *response);

void tigerctl_http_response_free(struct tigerctl_http_response *response);

#endif
