#ifndef TC_EDGE_JWT_H
#define TC_EDGE_JWT_H

#include <stdbool.h>
#include <stdint.h>

#include "edge_json.h"

// JWT (RFC 7519) verification and minting for the edge (docs/protocol.md §2). Compact JWS only,
// with one algorithm pinned by configuration: HS256 (HMAC-SHA-256, libsodium) or EdDSA
// (Ed25519, RFC 8037, libsodium). `alg: none` and every other algorithm are refused before the
// signature is looked at. Claims are parsed with cJSON over a caller scratch buffer (edge_json.h).
// No clock: the caller passes `now_s`. No allocation, no I/O.

#define TC_EDGE_JWT_TOKEN_SIZE_MAX 4096u
#define TC_EDGE_JWT_ROOMS_MAX 64u
#define TC_EDGE_JWT_TENANT_SIZE_MAX 64u
#define TC_EDGE_JWT_LEEWAY_S_MAX 300u
#define TC_EDGE_JWT_HEADER_JSON_SIZE_MAX 512u // decoded header bytes
#define TC_EDGE_JWT_KEY_SIZE_MAX 64u
// Scratch that always suffices for tc_edge_jwt_verify (payload JSON is smaller than the token).
#define TC_EDGE_JWT_SCRATCH_SIZE TC_EDGE_JSON_SCRATCH_SIZE(TC_EDGE_JWT_TOKEN_SIZE_MAX)

enum tc_edge_jwt_alg {
    TC_EDGE_JWT_HS256 = 1, // key: a shared secret of 32..64 bytes
    TC_EDGE_JWT_EDDSA = 2, // key: the issuer's Ed25519 public key (32 bytes)
};

// Verification results, each with the protocol error code (docs/protocol.md §7) a client sees:
// 110 auth_failed, 111 token_expired, 112 token_not_yet_valid. The precise name is for logs.
#define TC_EDGE_JWT_STATUS_TABLE(X)                                                                \
    X(TC_EDGE_JWT_OK, 0, "ok")                                                                     \
    X(TC_EDGE_JWT_TOO_LARGE, 110, "too_large")                                                     \
    X(TC_EDGE_JWT_MALFORMED, 110, "malformed")                                                     \
    X(TC_EDGE_JWT_ALG_NOT_ALLOWED, 110, "alg_not_allowed")                                         \
    X(TC_EDGE_JWT_BAD_SIGNATURE, 110, "bad_signature")                                             \
    X(TC_EDGE_JWT_MISSING_CLAIM, 110, "missing_claim")                                             \
    X(TC_EDGE_JWT_INVALID_CLAIM, 110, "invalid_claim")                                             \
    X(TC_EDGE_JWT_EXPIRED, 111, "expired")                                                         \
    X(TC_EDGE_JWT_NOT_YET_VALID, 112, "not_yet_valid")                                             \
    X(TC_EDGE_JWT_LIFETIME_TOO_LONG, 110, "lifetime_too_long")                                     \
    X(TC_EDGE_JWT_TENANT_MISMATCH, 110, "tenant_mismatch")

enum tc_edge_jwt_status {
#define TC_EDGE_JWT_STATUS_ENUM(name, code, text) name,
    TC_EDGE_JWT_STATUS_TABLE(TC_EDGE_JWT_STATUS_ENUM)
#undef TC_EDGE_JWT_STATUS_ENUM
        TC_EDGE_JWT_STATUS_COUNT
};

// The stable name of a status ("bad_signature"), for logs; "invalid" out of range.
const char *tc_edge_jwt_status_name(enum tc_edge_jwt_status status);
// The protocol error code (110, 111, 112; 0 for OK).
uint32_t tc_edge_jwt_status_code(enum tc_edge_jwt_status status);

struct tc_edge_jwt_config {
    enum tc_edge_jwt_alg alg;
    uint8_t key[TC_EDGE_JWT_KEY_SIZE_MAX];
    uint32_t key_size;
    uint32_t leeway_s;       // clock skew tolerated on exp and nbf: 0..300
    uint32_t lifetime_s_max; // refuse tokens with exp - now beyond this (+ leeway); 0: no cap
    char tenant[TC_EDGE_JWT_TENANT_SIZE_MAX + 1]; // required tenant claim, NUL-terminated; ""
};

// NULL if the config is valid, else a static message naming the bad field. Also initialises
// libsodium (idempotent).
const char *tc_edge_jwt_config_invalid(const struct tc_edge_jwt_config *config);

struct tc_edge_jwt_claims {
    uint64_t user; // sub, non-zero
    uint64_t exp_s;
    uint64_t nbf_s; // 0 when absent
    uint64_t iat_s; // 0 when absent
    bool rooms_all; // rooms: "*"
    uint32_t room_count;
    uint64_t rooms[TC_EDGE_JWT_ROOMS_MAX];
    uint32_t tenant_size; // 0 when absent
    char tenant[TC_EDGE_JWT_TENANT_SIZE_MAX + 1];
};

// Verifies `token` (not NUL-terminated, `size` bytes) against a valid config at time now_s
// (seconds since the Unix epoch). On TC_EDGE_JWT_OK fills *claims. Checks, in order: size; three
// canonical base64url parts; header JSON with the configured alg (and typ "JWT" if present, no
// crit); the signature (constant time); the payload's claims; exp, nbf, lifetime and tenant.
// `scratch` holds at least TC_EDGE_JWT_SCRATCH_SIZE bytes and is clobbered.
enum tc_edge_jwt_status tc_edge_jwt_verify(const struct tc_edge_jwt_config *config,
                                           const char *token, uint32_t size, uint64_t now_s,
                                           struct tc_edge_json_scratch *scratch,
                                           struct tc_edge_jwt_claims *claims);

// True when the claims allow `room` (rooms "*" or listed).
bool tc_edge_jwt_claims_allow_room(const struct tc_edge_jwt_claims *claims, uint64_t room);

struct tc_edge_jwt_signer {
    enum tc_edge_jwt_alg alg;
    uint8_t key[TC_EDGE_JWT_KEY_SIZE_MAX]; // HS256: the secret; EdDSA: the 64-byte secret key
    uint32_t key_size;                     // HS256: 32..64; EdDSA: 64 (libsodium's seed ‖ pk)
};

// Mints a token for `claims` (user non-zero, exp set; nbf and iat written when non-zero, tenant
// when set, rooms as "*" or the list) into out, NUL-terminated. Header {"alg":..,"typ":"JWT"}.
// Returns the token size or TC_ENOSPC. For the developer command `tigerctl token` (later) and
// tests.
int32_t tc_edge_jwt_mint(const struct tc_edge_jwt_signer *signer,
                         const struct tc_edge_jwt_claims *claims, char *out, uint32_t out_size);

#endif
