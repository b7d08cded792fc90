#ifndef CTL_ENVELOPE_H
#define CTL_ENVELOPE_H

// Parsing what arrives at the controller's API (docs/controller.md §8): an operator's signed
// request (POST /v1/actions) and a node's signed message (POST /v1/register, /v1/heartbeat).
// Pure: no store, no clock. Errors carry a message meant for the caller ("args: not a JSON
// object").

#include <stdbool.h>
#include <stdint.h>

#include "tc_audit.h"

#define CTL_ENVELOPE_ERROR_SIZE 192u

// {"action","actor","actor_sig","args","nonce","request_time"} → request (signature set, not yet
// verified: tc_audit_request_verify). TC_EINVAL (or TC_ETOOBIG) with `error` naming the field.
int ctl_envelope_parse(const uint8_t *body, uint32_t body_size, struct tc_audit_request *request,
                       char error[CTL_ENVELOPE_ERROR_SIZE]);

// A node's message: a JSON object with a "sig" member (128 hex). Writes the canonical encoding of
// the object without "sig" into canonical (NUL-terminated) and the signature. TC_EINVAL with
// `error`, TC_ETOOBIG when the canonical body exceeds capacity.
int ctl_node_message_parse(const uint8_t *body, uint32_t body_size, char *canonical,
                           uint32_t capacity, uint32_t *canonical_size,
                           struct tc_audit_signature *signature,
                           char error[CTL_ENVELOPE_ERROR_SIZE]);

// The domains of node messages (signed as domain || "\n" || canonical body).
#define CTL_DOMAIN_REGISTER "tigerchat-register-v1"
#define CTL_DOMAIN_HEARTBEAT "tigerchat-heartbeat-v1"
#define CTL_DOMAIN_TOPOLOGY "tigerchat-topology-v1"

#endif
