// JWT verification and minting (RFC 7515 compact JWS, RFC 7519 claims, RFC 8037 EdDSA).
#include "edge_jwt.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "edge_encoding.h"
#include "edge_utf8.h"
#include "tc_assert.h"
#include "tc_err.h"

#define HS256_SIGNATURE_SIZE 32u
#define EDDSA_SIGNATURE_SIZE 64u
#define PAYLOAD_JSON_SIZE_MAX (TC_EDGE_JWT_TOKEN_SIZE_MAX / 4 * 3)

_Static_assert(crypto_auth_hmacsha256_BYTES == HS256_SIGNATURE_SIZE, "HS256 MAC size");
_Static_assert(crypto_sign_BYTES == EDDSA_SIGNATURE_SIZE, "Ed25519 signature size");
_Static_assert(crypto_sign_PUBLICKEYBYTES == 32, "Ed25519 public key size");
_Static_assert(crypto_sign_SECRETKEYBYTES == 64, "Ed25519 secret key size");

const char *tc_edge_jwt_status_name(enum tc_edge_jwt_status status) {
    switch (status) {
#define TC_EDGE_JWT_STATUS_CASE(name, code, text)                                                  \
    case name: return text;
        TC_EDGE_JWT_STATUS_TABLE(TC_EDGE_JWT_STATUS_CASE)
#undef TC_EDGE_JWT_STATUS_CASE
    default: return "invalid";
    }
}

uint32_t tc_edge_jwt_status_code(enum tc_edge_jwt_status status) {
    switch (status) {
#define TC_EDGE_JWT_STATUS_CASE(name, code, text)                                                  \
    case name: return code;
        TC_EDGE_JWT_STATUS_TABLE(TC_EDGE_JWT_STATUS_CASE)
#undef TC_EDGE_JWT_STATUS_CASE
    default: tc_unreachable(); return 0;
    }
}

static bool tenant_valid(const char *tenant, uint32_t size) {
    if (size == 0 || size > TC_EDGE_JWT_TENANT_SIZE_MAX) return false;
    for (uint32_t i = 0; i < size; i++) {
        char c = tenant[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

const char *tc_edge_jwt_config_invalid(const struct tc_edge_jwt_config *config) {
    tc_assert(config != NULL);
    if (sodium_init() < 0) return "libsodium failed to initialise";
    if (config->alg == TC_EDGE_JWT_HS256) {
        if (config->key_size < 32 || config->key_size > TC_EDGE_JWT_KEY_SIZE_MAX) {
            return "key_size: an HS256 secret has 32..64 bytes";
        }
    } else if (config->alg == TC_EDGE_JWT_EDDSA) {
        if (config->key_size != crypto_sign_PUBLICKEYBYTES) {
            return "key_size: an Ed25519 public key has 32 bytes";
        }
    } else {
        return "alg: HS256 or EdDSA";
    }
    if (config->leeway_s > TC_EDGE_JWT_LEEWAY_S_MAX) return "leeway_s: at most 300";
    size_t tenant_size = strnlen(config->tenant, sizeof(config->tenant));
    if (tenant_size == sizeof(config->tenant)) return "tenant: not NUL-terminated";
    if (tenant_size > 0 && !tenant_valid(config->tenant, (uint32_t)tenant_size)) {
        return "tenant: 1..64 of A-Z a-z 0-9 . _ -";
    }
    return NULL;
}

static const char *alg_name(enum tc_edge_jwt_alg alg) {
    return alg == TC_EDGE_JWT_HS256 ? "HS256" : "EdDSA";
}

bool tc_edge_jwt_claims_allow_room(const struct tc_edge_jwt_claims *claims, uint64_t room) {
    tc_assert(claims->room_count <= TC_EDGE_JWT_ROOMS_MAX);
    tc_assert(!claims->rooms_all || claims->room_count == 0);
    if (claims->rooms_all) return true;
    for (uint32_t i = 0; i < claims->room_count; i++) {
        if (claims->rooms[i] == room) return true;
    }
    return false;
}

// ------------------------------------------------------------------------------------------------
// Verification.

struct jwt_parts {
    struct tc_edge_str header;
    struct tc_edge_str payload;
    struct tc_edge_str signature;
    uint32_t signing_input_size; // header '.' payload
};

static bool split_parts(const char *token, uint32_t size, struct jwt_parts *parts) {
    const char *dot1 = memchr(token, '.', size);
    if (dot1 == NULL) return false;
    uint32_t header_size = (uint32_t)(dot1 - token);
    const char *rest = dot1 + 1;
    uint32_t rest_size = size - header_size - 1;
    const char *dot2 = memchr(rest, '.', rest_size);
    if (dot2 == NULL) return false;
    uint32_t payload_size = (uint32_t)(dot2 - rest);
    parts->header = (struct tc_edge_str){.data = token, .size = header_size};
    parts->payload = (struct tc_edge_str){.data = rest, .size = payload_size};
    parts->signature = (struct tc_edge_str){.data = dot2 + 1, .size = rest_size - payload_size - 1};
    parts->signing_input_size = header_size + 1 + payload_size;
    if (memchr(parts->signature.data, '.', parts->signature.size) != NULL) return false;
    return header_size > 0 && payload_size > 0;
}

// Base64url-decodes a part that must hold JSON text; returns its size or -1.
static int32_t decode_json_part(struct tc_edge_str part, char *out, uint32_t out_size) {
    int32_t size = tc_edge_base64_decode((uint8_t *)out, out_size, part.data, part.size,
                                         TC_EDGE_BASE64_URL);
    if (size <= 0) return -1;
    if (!tc_edge_utf8_valid((const uint8_t *)out, (uint32_t)size)) return -1;
    return size;
}

// A JSON object with unique members, or NULL.
static const cJSON *parse_object(struct tc_edge_json_scratch *scratch, const char *json,
                                 uint32_t size) {
    cJSON *root = NULL;
    if (tc_edge_json_parse(scratch, json, size, &root) != TC_OK) return NULL;
    if (!cJSON_IsObject(root) || !tc_edge_json_object_unique(root)) return NULL;
    return root;
}

static enum tc_edge_jwt_status check_header(const struct tc_edge_jwt_config *config,
                                            const cJSON *header) {
    const char *alg;
    uint32_t alg_size;
    if (!tc_edge_json_get_string(header, "alg", &alg, &alg_size)) return TC_EDGE_JWT_MALFORMED;
    const char *want = alg_name(config->alg);
    if (alg_size != strlen(want) || memcmp(alg, want, alg_size) != 0) {
        return TC_EDGE_JWT_ALG_NOT_ALLOWED; // "none", the other alg, RS256, ...
    }
    const cJSON *typ = cJSON_GetObjectItemCaseSensitive(header, "typ");
    if (typ != NULL) {
        const char *value;
        uint32_t value_size;
        if (!tc_edge_json_get_string(header, "typ", &value, &value_size)) {
            return TC_EDGE_JWT_MALFORMED;
        }
        if (!tc_edge_ascii_equal_nocase(value, value_size, "JWT", 3)) return TC_EDGE_JWT_MALFORMED;
    }
    if (cJSON_GetObjectItemCaseSensitive(header, "crit") != NULL) return TC_EDGE_JWT_MALFORMED;
    return TC_EDGE_JWT_OK;
}

static void hs256(const uint8_t *key, uint32_t key_size, const char *input, uint32_t size,
                  uint8_t mac[HS256_SIGNATURE_SIZE]) {
    crypto_auth_hmacsha256_state state;
    tc_assert(crypto_auth_hmacsha256_init(&state, key, key_size) == 0);
    tc_assert(crypto_auth_hmacsha256_update(&state, (const unsigned char *)input, size) == 0);
    tc_assert(crypto_auth_hmacsha256_final(&state, mac) == 0);
    sodium_memzero(&state, sizeof(state));
}

static enum tc_edge_jwt_status check_signature(const struct tc_edge_jwt_config *config,
                                               const char *input, uint32_t input_size,
                                               struct tc_edge_str signature_text) {
    uint8_t signature[EDDSA_SIGNATURE_SIZE];
    int32_t size = tc_edge_base64_decode(signature, sizeof(signature), signature_text.data,
                                         signature_text.size, TC_EDGE_BASE64_URL);
    if (size == TC_ENOSPC) return TC_EDGE_JWT_BAD_SIGNATURE;
    if (size < 0) return TC_EDGE_JWT_MALFORMED;
    if (config->alg == TC_EDGE_JWT_HS256) {
        if (size != (int32_t)HS256_SIGNATURE_SIZE) return TC_EDGE_JWT_BAD_SIGNATURE;
        uint8_t mac[HS256_SIGNATURE_SIZE];
        hs256(config->key, config->key_size, input, input_size, mac);
        bool equal = sodium_memcmp(mac, signature, sizeof(mac)) == 0;
        return equal ? TC_EDGE_JWT_OK : TC_EDGE_JWT_BAD_SIGNATURE;
    }
    tc_assert(config->alg == TC_EDGE_JWT_EDDSA);
    if (size != (int32_t)EDDSA_SIGNATURE_SIZE) return TC_EDGE_JWT_BAD_SIGNATURE;
    int rc = crypto_sign_verify_detached(signature, (const unsigned char *)input, input_size,
                                         config->key);
    return rc == 0 ? TC_EDGE_JWT_OK : TC_EDGE_JWT_BAD_SIGNATURE;
}

static enum tc_edge_jwt_status claim_time(const cJSON *payload, const char *name, bool required,
                                          uint64_t *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(payload, name);
    *out = 0;
    if (item == NULL) return required ? TC_EDGE_JWT_MISSING_CLAIM : TC_EDGE_JWT_OK;
    bool ok = tc_edge_json_integer(item, TC_EDGE_JSON_INTEGER_MAX, out);
    return ok ? TC_EDGE_JWT_OK : TC_EDGE_JWT_INVALID_CLAIM;
}

static bool room_id(const cJSON *item, uint64_t *room) {
    if (!cJSON_IsString(item)) return false;
    const char *text = item->valuestring;
    size_t size = strlen(text);
    if (size > 20 || tc_edge_u64_parse(text, (uint32_t)size, room) != TC_OK) return false;
    return *room != 0;
}

static enum tc_edge_jwt_status claim_rooms(const cJSON *payload,
                                           struct tc_edge_jwt_claims *claims) {
    const cJSON *rooms = cJSON_GetObjectItemCaseSensitive(payload, "rooms");
    if (rooms == NULL) return TC_EDGE_JWT_MISSING_CLAIM;
    if (cJSON_IsString(rooms)) {
        if (strcmp(rooms->valuestring, "*") != 0) return TC_EDGE_JWT_INVALID_CLAIM;
        claims->rooms_all = true;
        return TC_EDGE_JWT_OK;
    }
    if (!cJSON_IsArray(rooms)) return TC_EDGE_JWT_INVALID_CLAIM;
    for (const cJSON *item = rooms->child; item != NULL; item = item->next) {
        if (claims->room_count == TC_EDGE_JWT_ROOMS_MAX) return TC_EDGE_JWT_INVALID_CLAIM;
        if (!room_id(item, &claims->rooms[claims->room_count])) return TC_EDGE_JWT_INVALID_CLAIM;
        claims->room_count++;
    }
    return TC_EDGE_JWT_OK;
}

static enum tc_edge_jwt_status claim_subject(const cJSON *payload,
                                             struct tc_edge_jwt_claims *claims) {
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(payload, "sub");
    if (sub == NULL) return TC_EDGE_JWT_MISSING_CLAIM;
    return room_id(sub, &claims->user) ? TC_EDGE_JWT_OK : TC_EDGE_JWT_INVALID_CLAIM;
}

static enum tc_edge_jwt_status claim_tenant(const cJSON *payload,
                                            struct tc_edge_jwt_claims *claims) {
    const cJSON *tenant = cJSON_GetObjectItemCaseSensitive(payload, "tenant");
    if (tenant == NULL) return TC_EDGE_JWT_OK;
    if (!cJSON_IsString(tenant)) return TC_EDGE_JWT_INVALID_CLAIM;
    size_t size = strlen(tenant->valuestring);
    if (size > TC_EDGE_JWT_TENANT_SIZE_MAX) return TC_EDGE_JWT_INVALID_CLAIM;
    if (!tenant_valid(tenant->valuestring, (uint32_t)size)) return TC_EDGE_JWT_INVALID_CLAIM;
    memcpy(claims->tenant, tenant->valuestring, size + 1);
    claims->tenant_size = (uint32_t)size;
    return TC_EDGE_JWT_OK;
}

static enum tc_edge_jwt_status parse_claims(const cJSON *payload,
                                            struct tc_edge_jwt_claims *claims) {
    enum tc_edge_jwt_status status = claim_subject(payload, claims);
    if (status == TC_EDGE_JWT_OK) status = claim_time(payload, "exp", true, &claims->exp_s);
    if (status == TC_EDGE_JWT_OK) status = claim_time(payload, "nbf", false, &claims->nbf_s);
    if (status == TC_EDGE_JWT_OK) status = claim_time(payload, "iat", false, &claims->iat_s);
    if (status == TC_EDGE_JWT_OK) status = claim_rooms(payload, claims);
    if (status == TC_EDGE_JWT_OK) status = claim_tenant(payload, claims);
    return status;
}

static enum tc_edge_jwt_status check_claims(const struct tc_edge_jwt_config *config,
                                            const struct tc_edge_jwt_claims *claims,
                                            uint64_t now_s) {
    tc_assert(claims->exp_s <= TC_EDGE_JSON_INTEGER_MAX);
    tc_assert(now_s <= UINT64_MAX - TC_EDGE_JWT_LEEWAY_S_MAX - UINT32_MAX);
    if (now_s >= claims->exp_s + config->leeway_s) return TC_EDGE_JWT_EXPIRED;
    if (now_s + config->leeway_s < claims->nbf_s) return TC_EDGE_JWT_NOT_YET_VALID;
    if (config->lifetime_s_max > 0 &&
        claims->exp_s > now_s + config->lifetime_s_max + config->leeway_s) {
        return TC_EDGE_JWT_LIFETIME_TOO_LONG;
    }
    size_t tenant_size = strlen(config->tenant);
    if (tenant_size > 0) {
        if (claims->tenant_size != tenant_size) return TC_EDGE_JWT_TENANT_MISMATCH;
        if (memcmp(claims->tenant, config->tenant, tenant_size) != 0) {
            return TC_EDGE_JWT_TENANT_MISMATCH;
        }
    }
    return TC_EDGE_JWT_OK;
}

enum tc_edge_jwt_status tc_edge_jwt_verify(const struct tc_edge_jwt_config *config,
                                           const char *token, uint32_t size, uint64_t now_s,
                                           struct tc_edge_json_scratch *scratch,
                                           struct tc_edge_jwt_claims *claims) {
    tc_assert(tc_edge_jwt_config_invalid(config) == NULL);
    tc_assert(token != NULL || size == 0);
    tc_assert(scratch->size_bytes >= TC_EDGE_JWT_SCRATCH_SIZE);
    memset(claims, 0, sizeof(*claims));
    if (size > TC_EDGE_JWT_TOKEN_SIZE_MAX) return TC_EDGE_JWT_TOO_LARGE;
    struct jwt_parts parts;
    if (!split_parts(token, size, &parts)) return TC_EDGE_JWT_MALFORMED;
    char header_json[TC_EDGE_JWT_HEADER_JSON_SIZE_MAX];
    char payload_json[PAYLOAD_JSON_SIZE_MAX];
    int32_t header_size = decode_json_part(parts.header, header_json, sizeof(header_json));
    int32_t payload_size = decode_json_part(parts.payload, payload_json, sizeof(payload_json));
    if (header_size < 0 || payload_size < 0) return TC_EDGE_JWT_MALFORMED;
    const cJSON *header = parse_object(scratch, header_json, (uint32_t)header_size);
    if (header == NULL) return TC_EDGE_JWT_MALFORMED;
    enum tc_edge_jwt_status status = check_header(config, header);
    if (status != TC_EDGE_JWT_OK) return status;
    status = check_signature(config, token, parts.signing_input_size, parts.signature);
    if (status != TC_EDGE_JWT_OK) return status;
    const cJSON *payload = parse_object(scratch, payload_json, (uint32_t)payload_size);
    if (payload == NULL) return TC_EDGE_JWT_MALFORMED;
    status = parse_claims(payload, claims);
    if (status == TC_EDGE_JWT_OK) status = check_claims(config, claims, now_s);
    if (status != TC_EDGE_JWT_OK) memset(claims, 0, sizeof(*claims));
    return status;
}

// ------------------------------------------------------------------------------------------------
// Minting.

static int32_t write_payload(const struct tc_edge_jwt_claims *claims, char *out, uint32_t size) {
    struct tc_edge_json_writer w;
    tc_edge_json_writer_init(&w, out, size);
    tc_edge_json_object_begin(&w);
    tc_edge_json_key(&w, "sub");
    tc_edge_json_u64_string(&w, claims->user);
    tc_edge_json_key(&w, "rooms");
    if (claims->rooms_all) {
        tc_edge_json_cstring(&w, "*");
    } else {
        tc_edge_json_array_begin(&w);
        for (uint32_t i = 0; i < claims->room_count; i++) {
            tc_edge_json_u64_string(&w, claims->rooms[i]);
        }
        tc_edge_json_array_end(&w);
    }
    tc_edge_json_key(&w, "exp");
    tc_edge_json_u64(&w, claims->exp_s);
    if (claims->nbf_s != 0) {
        tc_edge_json_key(&w, "nbf");
        tc_edge_json_u64(&w, claims->nbf_s);
    }
    if (claims->iat_s != 0) {
        tc_edge_json_key(&w, "iat");
        tc_edge_json_u64(&w, claims->iat_s);
    }
    if (claims->tenant_size > 0) {
        tc_edge_json_key(&w, "tenant");
        tc_edge_json_string(&w, claims->tenant, claims->tenant_size);
    }
    tc_edge_json_object_end(&w);
    return tc_edge_json_writer_finish(&w);
}

// Appends base64url(data) at out + *used; false when it does not fit.
static bool append_part(char *out, uint32_t out_size, uint32_t *used, const void *data,
                        uint32_t size) {
    int32_t n = tc_edge_base64_encode(out + *used, out_size - *used, data, size,
                                      TC_EDGE_BASE64_URL);
    if (n < 0) return false;
    *used += (uint32_t)n;
    return true;
}

static bool append_dot(char *out, uint32_t out_size, uint32_t *used) {
    if (*used + 2 > out_size) return false;
    out[(*used)++] = '.';
    out[*used] = '\0';
    return true;
}

int32_t tc_edge_jwt_mint(const struct tc_edge_jwt_signer *signer,
                         const struct tc_edge_jwt_claims *claims, char *out, uint32_t out_size) {
    tc_assert(sodium_init() >= 0);
    tc_assert(claims->user != 0 && claims->exp_s != 0);
    tc_assert(claims->room_count <= TC_EDGE_JWT_ROOMS_MAX);
    tc_assert(signer->alg == TC_EDGE_JWT_HS256 || signer->key_size == crypto_sign_SECRETKEYBYTES);
    tc_assert(signer->alg == TC_EDGE_JWT_EDDSA ||
              (signer->key_size >= 32 && signer->key_size <= TC_EDGE_JWT_KEY_SIZE_MAX));
    char header[64];
    char payload[PAYLOAD_JSON_SIZE_MAX];
    int header_size = snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\"}",
                               alg_name(signer->alg));
    tc_assert(header_size > 0 && (uint32_t)header_size < sizeof(header));
    int32_t payload_size = write_payload(claims, payload, sizeof(payload));
    if (payload_size < 0) return TC_ENOSPC;
    uint32_t used = 0;
    if (!append_part(out, out_size, &used, header, (uint32_t)header_size)) return TC_ENOSPC;
    if (!append_dot(out, out_size, &used)) return TC_ENOSPC;
    if (!append_part(out, out_size, &used, payload, (uint32_t)payload_size)) return TC_ENOSPC;
    uint8_t signature[EDDSA_SIGNATURE_SIZE];
    uint32_t signature_size = HS256_SIGNATURE_SIZE;
    if (signer->alg == TC_EDGE_JWT_HS256) {
        hs256(signer->key, signer->key_size, out, used, signature);
    } else {
        signature_size = EDDSA_SIGNATURE_SIZE;
        tc_assert(crypto_sign_detached(signature, NULL, (const unsigned char *)out, used,
                                       signer->key) == 0);
    }
    if (!append_dot(out, out_size, &used)) return TC_ENOSPC;
    if (!append_part(out, out_size, &used, signature, signature_size)) return TC_ENOSPC;
    tc_assert(used <= INT32_MAX);
    return (int32_t)used;
}
