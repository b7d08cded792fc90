// Unit tests of JWT verification and minting (node/edge/edge_jwt.c): RFC 7515 and RFC 8037 test
// vectors, tokens made by an independent implementation, alg confusion, every claim and
// structure refusal, time checks with leeway, and a mutation fuzz (no changed token verifies).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "edge_encoding.h"
#include "edge_jwt.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_prng.h"

static void assert_handler(const char *expression, const char *file, int line) {
    mock_assert(0, expression, file, line);
}

static _Alignas(16) uint8_t scratch_buffer[TC_EDGE_JWT_SCRATCH_SIZE];
static struct tc_edge_json_scratch scratch;
static struct tc_edge_jwt_claims claims;

#define NOW 1700001000u
#define SECRET "0123456789abcdef0123456789abcdef"

// RFC 7515 Appendix A.1 (HS256).
static const char rfc7515_key[] =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
static const char rfc7515_token[] =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0"
    "cnVlfQ."
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
// RFC 8037 Appendix A (Ed25519 key pair, A.4 signature).
static const char rfc8037_d[] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
static const char rfc8037_x[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
static const char rfc8037_token[] =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
// Made by an independent implementation (Python hmac / cryptography) from the claims shown:
// HS256 with SECRET: {"sub":"42","rooms":["7","9"],"exp":1700003600,"nbf":1700000000}
static const char python_hs256[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiI0MiIsInJvb21zIjpbIjciLCI5Il0sImV4cCI6MTcwMDAwMzYwMCwibmJmIjoxNzAwMDAwMDAwfQ."
    "BZ7S9AkGoj9UE1FNcKx32Bn6ULjTzvd5N4z_p1u_qF0";
// EdDSA with the RFC 8037 key: {"sub":"18446744073709551615","rooms":"*","exp":1700003600,
// "tenant":"acme"}
static const char python_eddsa[] =
    "eyJhbGciOiJFZERTQSJ9."
    "eyJzdWIiOiIxODQ0Njc0NDA3MzcwOTU1MTYxNSIsInJvb21zIjoiKiIsImV4cCI6MTcwMDAwMzYwMCwidGVuYW50Ijoi"
    "YWNtZSJ9."
    "CRJzRfl5zTDJLLzV_FzJYFBQXGSzivSAB8myT0-0ldLdiH5V0K9Rc92Tq0Q5-NkFGAsoy9uVZY1Mmdny70z2Cg";

static int setup(void **state) {
    (void)state;
    assert_true(sodium_init() >= 0);
    tc_edge_json_scratch_init(&scratch, scratch_buffer, sizeof(scratch_buffer));
    return 0;
}

static void config_hs256(struct tc_edge_jwt_config *config, const void *key, uint32_t size) {
    memset(config, 0, sizeof(*config));
    config->alg = TC_EDGE_JWT_HS256;
    memcpy(config->key, key, size);
    config->key_size = size;
    assert_null(tc_edge_jwt_config_invalid(config));
}

static void config_eddsa(struct tc_edge_jwt_config *config) {
    memset(config, 0, sizeof(*config));
    config->alg = TC_EDGE_JWT_EDDSA;
    assert_int_equal(tc_edge_base64_decode(config->key, sizeof(config->key), rfc8037_x,
                                           (uint32_t)strlen(rfc8037_x), TC_EDGE_BASE64_URL),
                     32);
    config->key_size = 32;
    assert_null(tc_edge_jwt_config_invalid(config));
}

static enum tc_edge_jwt_status verify(const struct tc_edge_jwt_config *config, const char *token,
                                      uint64_t now_s) {
    return tc_edge_jwt_verify(config, token, (uint32_t)strlen(token), now_s, &scratch, &claims);
}

// Signs arbitrary header and payload text with HS256 through libsodium's one-shot HMAC (a path
// independent of the library's incremental one). out holds 4096 bytes.
static void make_hs256(char *out, const char *header, const char *payload) {
    int32_t n = tc_edge_base64_encode(out, 4096, (const uint8_t *)header,
                                      (uint32_t)strlen(header), TC_EDGE_BASE64_URL);
    assert_true(n > 0);
    uint32_t used = (uint32_t)n;
    out[used++] = '.';
    n = tc_edge_base64_encode(out + used, 4096 - used, (const uint8_t *)payload,
                              (uint32_t)strlen(payload), TC_EDGE_BASE64_URL);
    assert_true(n > 0);
    used += (uint32_t)n;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const uint8_t *)out, used, (const uint8_t *)SECRET);
    out[used++] = '.';
    n = tc_edge_base64_encode(out + used, 4096 - used, mac, sizeof(mac), TC_EDGE_BASE64_URL);
    assert_true(n > 0);
}

// ------------------------------------------------------------------------------------------------
// Vectors.

static void test_rfc7515_hs256(void **state) {
    (void)state;
    uint8_t key[64];
    assert_int_equal(tc_edge_base64_decode(key, sizeof(key), rfc7515_key,
                                           (uint32_t)strlen(rfc7515_key), TC_EDGE_BASE64_URL),
                     64);
    struct tc_edge_jwt_config config;
    config_hs256(&config, key, 64);
    // The signature verifies; the example has no sub, so the claims are refused after it.
    assert_int_equal(verify(&config, rfc7515_token, NOW), TC_EDGE_JWT_MISSING_CLAIM);
    char tampered[sizeof(rfc7515_token)];
    memcpy(tampered, rfc7515_token, sizeof(tampered));
    tampered[sizeof(tampered) - 3] = tampered[sizeof(tampered) - 3] == 'X' ? 'Y' : 'X';
    assert_int_equal(verify(&config, tampered, NOW), TC_EDGE_JWT_BAD_SIGNATURE);
    memcpy(tampered, rfc7515_token, sizeof(tampered));
    tampered[60] = tampered[60] == 'a' ? 'b' : 'a'; // inside the payload
    assert_int_equal(verify(&config, tampered, NOW), TC_EDGE_JWT_BAD_SIGNATURE);
    key[0] ^= 1;
    config_hs256(&config, key, 64);
    assert_int_equal(verify(&config, rfc7515_token, NOW), TC_EDGE_JWT_BAD_SIGNATURE);
}

static void test_rfc8037_eddsa(void **state) {
    (void)state;
    struct tc_edge_jwt_config config;
    config_eddsa(&config);
    // The signature verifies; the payload is text, not JSON claims.
    assert_int_equal(verify(&config, rfc8037_token, NOW), TC_EDGE_JWT_MALFORMED);
    char tampered[sizeof(rfc8037_token)];
    memcpy(tampered, rfc8037_token, sizeof(tampered));
    tampered[sizeof(tampered) - 10] ^= 0x01; // 'M' <-> 'L' stays in the alphabet
    assert_int_equal(verify(&config, tampered, NOW), TC_EDGE_JWT_BAD_SIGNATURE);
    // Our signer reproduces the RFC's signature from the RFC's seed (Ed25519 is deterministic).
    uint8_t seed[32];
    assert_int_equal(tc_edge_base64_decode(seed, sizeof(seed), rfc8037_d,
                                           (uint32_t)strlen(rfc8037_d), TC_EDGE_BASE64_URL),
                     32);
    uint8_t pk[32], sk[64];
    crypto_sign_seed_keypair(pk, sk, seed);
    assert_memory_equal(pk, config.key, 32);
    uint8_t signature[64];
    const char *input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    crypto_sign_detached(signature, NULL, (const uint8_t *)input, strlen(input), sk);
    char encoded[100];
    tc_edge_base64_encode(encoded, sizeof(encoded), signature, 64, TC_EDGE_BASE64_URL);
    assert_string_equal(encoded, strrchr(rfc8037_token, '.') + 1);
}

static void test_independent_tokens(void **state) {
    (void)state;
    struct tc_edge_jwt_config config;
    config_hs256(&config, SECRET, 32);
    assert_int_equal(verify(&config, python_hs256, NOW), TC_EDGE_JWT_OK);
    assert_true(claims.user == 42);
    assert_int_equal(claims.room_count, 2);
    assert_true(claims.rooms[0] == 7 && claims.rooms[1] == 9);
    assert_false(claims.rooms_all);
    assert_true(claims.exp_s == 1700003600 && claims.nbf_s == 1700000000);
    assert_true(tc_edge_jwt_claims_allow_room(&claims, 9));
    assert_false(tc_edge_jwt_claims_allow_room(&claims, 8));
    // Minting the same claims gives the same bytes.
    struct tc_edge_jwt_signer signer = {.alg = TC_EDGE_JWT_HS256, .key_size = 32};
    memcpy(signer.key, SECRET, 32);
    char minted[1024];
    struct tc_edge_jwt_claims copy = claims;
    assert_int_equal(tc_edge_jwt_mint(&signer, &copy, minted, sizeof(minted)),
                     (int32_t)strlen(python_hs256));
    assert_string_equal(minted, python_hs256);

    config_eddsa(&config);
    assert_int_equal(verify(&config, python_eddsa, NOW), TC_EDGE_JWT_OK);
    assert_true(claims.user == UINT64_MAX);
    assert_true(claims.rooms_all);
    assert_true(tc_edge_jwt_claims_allow_room(&claims, 123456));
    assert_string_equal(claims.tenant, "acme");
    strcpy(config.tenant, "acme");
    assert_null(tc_edge_jwt_config_invalid(&config));
    assert_int_equal(verify(&config, python_eddsa, NOW), TC_EDGE_JWT_OK);
    strcpy(config.tenant, "other");
    assert_int_equal(verify(&config, python_eddsa, NOW), TC_EDGE_JWT_TENANT_MISMATCH);
    config_hs256(&config, SECRET, 32);
    strcpy(config.tenant, "acme");
    assert_int_equal(verify(&config, python_hs256, NOW), TC_EDGE_JWT_TENANT_MISMATCH);
}

// ------------------------------------------------------------------------------------------------
// Algorithm pinning.

static void test_alg_confusion(void **state) {
    (void)state;
    char token[4096];
    struct tc_edge_jwt_config config;
    config_hs256(&config, SECRET, 32);
    const char *payload = "{\"sub\":\"1\",\"rooms\":\"*\",\"exp\":1800000000}";
    make_hs256(token, "{\"alg\":\"HS256\"}", payload);
    assert_int_equal(verify(&config, token, NOW), TC_EDGE_JWT_OK);
    // alg none, with and without a signature part.
    const char *refused[] = {"{\"alg\":\"none\"}", "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}",
                             "{\"alg\":\"HS512\"}", "{\"alg\":\"RS256\"}", "{\"alg\":\"hs256\"}",
                             "{\"alg\":\"EdDSA\"}", "{\"alg\":\"HS256 \"}"};
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(refused); i++) {
        make_hs256(token, refused[i], payload);
        assert_int_equal(verify(&config, token, NOW), TC_EDGE_JWT_ALG_NOT_ALLOWED);
        *(strrchr(token, '.') + 1) = '\0'; // unsigned: "header.payload."
        assert_int_equal(verify(&config, token, NOW), TC_EDGE_JWT_ALG_NOT_ALLOWED);
    }
    // The classic confusion: an HS256 token keyed with the EdDSA public key.
    struct tc_edge_jwt_config eddsa;
    config_eddsa(&eddsa);
    struct tc_edge_jwt_signer signer = {.alg = TC_EDGE_JWT_HS256, .key_size = 32};
    memcpy(signer.key, eddsa.key, 32);
    struct tc_edge_jwt_claims c = {.user = 1, .exp_s = 1800000000, .rooms_all = true};
    assert_true(tc_edge_jwt_mint(&signer, &c, token, sizeof(token)) > 0);
    assert_int_equal(verify(&eddsa, token, NOW), TC_EDGE_JWT_ALG_NOT_ALLOWED);
    // And the other way: an EdDSA token at an HS256 node.
    uint8_t pk[32];
    struct tc_edge_jwt_signer ed = {.alg = TC_EDGE_JWT_EDDSA, .key_size = 64};
    crypto_sign_keypair(pk, ed.key);
    assert_true(tc_edge_jwt_mint(&ed, &c, token, sizeof(token)) > 0);
    assert_int_equal(verify(&config, token, NOW), TC_EDGE_JWT_ALG_NOT_ALLOWED);
    memcpy(eddsa.key, pk, 32);
    assert_int_equal(verify(&eddsa, token, NOW), TC_EDGE_JWT_OK);
    // Header shapes.
    const struct {
        const char *header;
        enum tc_edge_jwt_status expected;
    } headers[] = {
        {"{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", TC_EDGE_JWT_OK},
        {"{\"alg\":\"HS256\",\"typ\":\"jwt\"}", TC_EDGE_JWT_OK},
        {"{\"typ\":\"JWT\"}", TC_EDGE_JWT_MALFORMED},
        {"{\"alg\":256}", TC_EDGE_JWT_MALFORMED},
        {"{\"alg\":\"HS256\",\"typ\":\"JWS\"}", TC_EDGE_JWT_MALFORMED},
        {"{\"alg\":\"HS256\",\"typ\":1}", TC_EDGE_JWT_MALFORMED},
        {"{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", TC_EDGE_JWT_MALFORMED},
        {"{\"alg\":\"HS256\",\"alg\":\"none\"}", TC_EDGE_JWT_MALFORMED},
        {"{\"alg\":\"none\",\"alg\":\"HS256\"}", TC_EDGE_JWT_MALFORMED},
        {"[\"HS256\"]", TC_EDGE_JWT_MALFORMED},
        {"{\"alg\":\"HS256\"} x", TC_EDGE_JWT_MALFORMED},
        {"{\"alg\":\"HS\\u0000256\"}", TC_EDGE_JWT_MALFORMED},
        {"{\"alg\":\"HS256\"", TC_EDGE_JWT_MALFORMED},
        {"\xff", TC_EDGE_JWT_MALFORMED},
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(headers); i++) {
        make_hs256(token, headers[i].header, payload);
        enum tc_edge_jwt_status got = verify(&config, token, NOW);
        if (got != headers[i].expected) {
            fail_msg("header %u: %s", i, tc_edge_jwt_status_name(got));
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Claims and time.

static void test_claims(void **state) {
    (void)state;
    struct tc_edge_jwt_config config;
    config_hs256(&config, SECRET, 32);
    const struct {
        const char *payload;
        enum tc_edge_jwt_status expected;
    } cases[] = {
        {"{\"sub\":\"1\",\"rooms\":[],\"exp\":1800000000}", TC_EDGE_JWT_OK},
        {"{\"sub\":\"1\",\"rooms\":\"*\",\"exp\":1800000000,\"iat\":1,\"iss\":{\"x\":[1]}}",
         TC_EDGE_JWT_OK},
        {"{\"rooms\":\"*\",\"exp\":1800000000}", TC_EDGE_JWT_MISSING_CLAIM},
        {"{\"sub\":\"1\",\"exp\":1800000000}", TC_EDGE_JWT_MISSING_CLAIM},
        {"{\"sub\":\"1\",\"rooms\":\"*\"}", TC_EDGE_JWT_MISSING_CLAIM},
        {"{\"sub\":1,\"rooms\":\"*\",\"exp\":1800000000}", TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"0\",\"rooms\":\"*\",\"exp\":1800000000}", TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"01\",\"rooms\":\"*\",\"exp\":1800000000}", TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"18446744073709551616\",\"rooms\":\"*\",\"exp\":1800000000}",
         TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"alice\",\"rooms\":\"*\",\"exp\":1800000000}", TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"1\",\"rooms\":\"*\",\"exp\":\"1800000000\"}", TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"1\",\"rooms\":\"*\",\"exp\":1800000000.5}", TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"1\",\"rooms\":\"*\",\"exp\":-1}", TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"1\",\"rooms\":\"*\",\"exp\":1e300}", TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"1\",\"rooms\":\"*\",\"exp\":true}", TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"1\",\"rooms\":\"*\",\"exp\":1800000000,\"nbf\":\"1\"}",
         TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"1\",\"rooms\":\"*\",\"exp\":1800000000,\"iat\":null}",
         TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"1\",\"rooms\":\"all\",\"exp\":1800000000}", TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"1\",\"rooms\":[7],\"exp\":1800000000}", TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"1\",\"rooms\":[\"0\"],\"exp\":1800000000}", TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"1\",\"rooms\":[\"*\"],\"exp\":1800000000}", TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"1\",\"rooms\":{},\"exp\":1800000000}", TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"1\",\"rooms\":\"*\",\"exp\":1800000000,\"tenant\":\"a b\"}",
         TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"1\",\"rooms\":\"*\",\"exp\":1800000000,\"tenant\":\"\"}",
         TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"1\",\"rooms\":\"*\",\"exp\":1800000000,\"tenant\":7}",
         TC_EDGE_JWT_INVALID_CLAIM},
        {"{\"sub\":\"1\",\"sub\":\"2\",\"rooms\":\"*\",\"exp\":1800000000}",
         TC_EDGE_JWT_MALFORMED},
        {"[{\"sub\":\"1\"}]", TC_EDGE_JWT_MALFORMED},
        {"{\"sub\":\"1\",\"rooms\":\"*\",\"exp\":1800000000,}", TC_EDGE_JWT_MALFORMED},
        {"{\"sub\":\"1\",\"rooms\":\"*\",\"exp\":1800000000}\n", TC_EDGE_JWT_OK},
    };
    char token[4096];
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        make_hs256(token, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", cases[i].payload);
        enum tc_edge_jwt_status got = verify(&config, token, NOW);
        if (got != cases[i].expected) fail_msg("case %u: %s", i, tc_edge_jwt_status_name(got));
        if (got != TC_EDGE_JWT_OK) assert_true(claims.user == 0); // nothing leaks on refusal
    }
    // Exactly 64 rooms pass, 65 do not.
    char payload[2048];
    for (uint32_t rooms = 64; rooms <= 65; rooms++) {
        uint32_t n = (uint32_t)snprintf(payload, sizeof(payload), "{\"sub\":\"5\",\"rooms\":[");
        for (uint32_t r = 1; r <= rooms; r++) {
            n += (uint32_t)snprintf(payload + n, sizeof(payload) - n, "%s\"%u\"", r > 1 ? "," : "",
                                    r);
        }
        snprintf(payload + n, sizeof(payload) - n, "],\"exp\":1800000000}");
        make_hs256(token, "{\"alg\":\"HS256\"}", payload);
        assert_int_equal(verify(&config, token, NOW),
                         rooms == 64 ? TC_EDGE_JWT_OK : TC_EDGE_JWT_INVALID_CLAIM);
    }
    assert_int_equal(claims.room_count, 0);
}

static void test_time(void **state) {
    (void)state;
    struct tc_edge_jwt_config config;
    config_hs256(&config, SECRET, 32);
    char token[4096];
    make_hs256(token, "{\"alg\":\"HS256\"}",
               "{\"sub\":\"1\",\"rooms\":\"*\",\"exp\":1000,\"nbf\":900}");
    assert_int_equal(verify(&config, token, 899), TC_EDGE_JWT_NOT_YET_VALID);
    assert_int_equal(verify(&config, token, 900), TC_EDGE_JWT_OK);
    assert_int_equal(verify(&config, token, 999), TC_EDGE_JWT_OK);
    assert_int_equal(verify(&config, token, 1000), TC_EDGE_JWT_EXPIRED);
    assert_int_equal(verify(&config, token, UINT32_MAX), TC_EDGE_JWT_EXPIRED);
    config.leeway_s = 30;
    assert_int_equal(verify(&config, token, 869), TC_EDGE_JWT_NOT_YET_VALID);
    assert_int_equal(verify(&config, token, 870), TC_EDGE_JWT_OK);
    assert_int_equal(verify(&config, token, 1029), TC_EDGE_JWT_OK);
    assert_int_equal(verify(&config, token, 1030), TC_EDGE_JWT_EXPIRED);
    assert_int_equal(tc_edge_jwt_status_code(TC_EDGE_JWT_EXPIRED), 111);
    assert_int_equal(tc_edge_jwt_status_code(TC_EDGE_JWT_NOT_YET_VALID), 112);
    assert_int_equal(tc_edge_jwt_status_code(TC_EDGE_JWT_BAD_SIGNATURE), 110);
    // Lifetime cap: exp - now beyond lifetime + leeway is refused.
    config.leeway_s = 0;
    config.lifetime_s_max = 60;
    assert_int_equal(verify(&config, token, 940), TC_EDGE_JWT_OK);
    assert_int_equal(verify(&config, token, 939), TC_EDGE_JWT_LIFETIME_TOO_LONG);
    // Time checks come after the signature: an expired forgery is a bad signature.
    token[strlen(token) - 2] = token[strlen(token) - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(&config, token, 5000), TC_EDGE_JWT_BAD_SIGNATURE);
}

// ------------------------------------------------------------------------------------------------
// Structure.

static void test_structure(void **state) {
    (void)state;
    struct tc_edge_jwt_config config;
    config_hs256(&config, SECRET, 32);
    char good[4096];
    make_hs256(good, "{\"alg\":\"HS256\"}", "{\"sub\":\"1\",\"rooms\":\"*\",\"exp\":1800000000}");
    assert_int_equal(verify(&config, good, NOW), TC_EDGE_JWT_OK);
    char token[8192];
    const char *dot1 = strchr(good, '.');
    const char *dot2 = strrchr(good, '.');
    const struct {
        const char *text;
        enum tc_edge_jwt_status expected;
    } cases[] = {
        {"", TC_EDGE_JWT_MALFORMED},
        {"abc", TC_EDGE_JWT_MALFORMED},
        {"a.b", TC_EDGE_JWT_MALFORMED},
        {"..", TC_EDGE_JWT_MALFORMED},
        {"a.b.c.d", TC_EDGE_JWT_MALFORMED},
        {".eyJ9.", TC_EDGE_JWT_MALFORMED},
        {"e30.e30.", TC_EDGE_JWT_MALFORMED}, // {} header: no alg
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        assert_int_equal(verify(&config, cases[i].text, NOW), cases[i].expected);
    }
    // Padding, foreign characters, non-canonical base64url, wrong signature size.
    snprintf(token, sizeof(token), "%s=", good);
    assert_int_equal(verify(&config, token, NOW), TC_EDGE_JWT_MALFORMED);
    snprintf(token, sizeof(token), "%.*s=%s", (int)(dot1 - good), good, dot1);
    assert_int_equal(verify(&config, token, NOW), TC_EDGE_JWT_MALFORMED);
    snprintf(token, sizeof(token), "%s", good);
    token[dot1 - good + 1] = '+';
    assert_int_equal(verify(&config, token, NOW), TC_EDGE_JWT_MALFORMED);
    snprintf(token, sizeof(token), "%s", good);
    char *last = token + strlen(token) - 1; // 43 chars for 32 bytes: 2 unused bits
    int32_t value = *last >= 'A' && *last <= 'Z' ? *last - 'A' : -1;
    if (value >= 0 && value % 4 == 0) {
        *last = (char)(*last + 1); // same bytes, unused bits set: refused as non-canonical
        assert_int_equal(verify(&config, token, NOW), TC_EDGE_JWT_MALFORMED);
    }
    snprintf(token, sizeof(token), "%.*sAAAA", (int)(dot2 - good + 1), good); // 3-byte signature
    assert_int_equal(verify(&config, token, NOW), TC_EDGE_JWT_BAD_SIGNATURE);
    snprintf(token, sizeof(token), "%s%s", good, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_int_equal(verify(&config, token, NOW), TC_EDGE_JWT_BAD_SIGNATURE); // > 64 bytes
    // Size limits: a token over 4096 bytes, a header over 512 bytes.
    memset(token, 'A', 5000);
    token[5000] = '\0';
    assert_int_equal(verify(&config, token, NOW), TC_EDGE_JWT_TOO_LARGE);
    char header[700];
    snprintf(header, sizeof(header), "{\"alg\":\"HS256\",\"kid\":\"%0600d\"}", 0);
    make_hs256(token, header, "{\"sub\":\"1\",\"rooms\":\"*\",\"exp\":1800000000}");
    assert_int_equal(verify(&config, token, NOW), TC_EDGE_JWT_MALFORMED);
    // Invalid UTF-8 inside a JSON string of the payload.
    make_hs256(token, "{\"alg\":\"HS256\"}",
               "{\"sub\":\"1\",\"rooms\":\"*\",\"exp\":1800000000,\"x\":\"\xc0\xaf\"}");
    assert_int_equal(verify(&config, token, NOW), TC_EDGE_JWT_MALFORMED);
}

static void test_config(void **state) {
    (void)state;
    struct tc_edge_jwt_config config;
    config_hs256(&config, SECRET, 32);
    config.key_size = 31;
    assert_non_null(tc_edge_jwt_config_invalid(&config));
    config.key_size = 65;
    assert_non_null(tc_edge_jwt_config_invalid(&config));
    config.key_size = 64;
    assert_null(tc_edge_jwt_config_invalid(&config));
    config.leeway_s = 301;
    assert_non_null(tc_edge_jwt_config_invalid(&config));
    config.leeway_s = 300;
    strcpy(config.tenant, "a/b");
    assert_non_null(tc_edge_jwt_config_invalid(&config));
    memset(config.tenant, 'a', sizeof(config.tenant));
    assert_non_null(tc_edge_jwt_config_invalid(&config));
    config.tenant[0] = '\0';
    config.alg = (enum tc_edge_jwt_alg)3;
    assert_non_null(tc_edge_jwt_config_invalid(&config));
    config_eddsa(&config);
    config.key_size = 64;
    assert_non_null(tc_edge_jwt_config_invalid(&config));
    // Verifying under an invalid config or with a small scratch is a programmer error.
    tc_assert_set_handler(assert_handler);
    expect_assert_failure(verify(&config, python_eddsa, NOW));
    config.key_size = 32;
    struct tc_edge_json_scratch small;
    tc_edge_json_scratch_init(&small, scratch_buffer, 1024);
    expect_assert_failure(tc_edge_jwt_verify(&config, "a.b.c", 5, NOW, &small, &claims));
    tc_assert_set_handler(NULL);
}

static void test_mint(void **state) {
    (void)state;
    struct tc_edge_jwt_claims c = {.user = 77, .exp_s = 1700003600, .nbf_s = 1700000000,
                                   .iat_s = 1700000000, .room_count = 3,
                                   .rooms = {1, UINT64_MAX, 5}, .tenant_size = 3};
    strcpy(c.tenant, "t-1");
    char token[2048];
    struct tc_edge_jwt_config config;
    struct tc_edge_jwt_signer signer = {.alg = TC_EDGE_JWT_HS256, .key_size = 48};
    memset(signer.key, 0x5a, 48);
    int32_t size = tc_edge_jwt_mint(&signer, &c, token, sizeof(token));
    assert_true(size > 0);
    assert_int_equal(strlen(token), (size_t)size);
    config_hs256(&config, signer.key, 48);
    assert_int_equal(verify(&config, token, NOW), TC_EDGE_JWT_OK);
    assert_memory_equal(&claims, &c, sizeof(c));
    for (uint32_t n = 0; n <= (uint32_t)size; n++) {
        assert_int_equal(tc_edge_jwt_mint(&signer, &c, token, n), TC_ENOSPC);
    }
    // EdDSA round trip.
    struct tc_edge_jwt_signer ed = {.alg = TC_EDGE_JWT_EDDSA, .key_size = 64};
    uint8_t pk[32];
    crypto_sign_keypair(pk, ed.key);
    config_eddsa(&config);
    memcpy(config.key, pk, 32);
    size = tc_edge_jwt_mint(&ed, &c, token, sizeof(token));
    assert_true(size > 0);
    assert_int_equal(verify(&config, token, NOW), TC_EDGE_JWT_OK);
    assert_memory_equal(&claims, &c, sizeof(c));
}

// ------------------------------------------------------------------------------------------------
// Fuzz: random edits of valid tokens never verify unless they leave the token unchanged.

static void test_fuzz(void **state) {
    (void)state;
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
    struct tc_prng prng;
    tc_prng_init(&prng, 0xed6e0004u);
    struct tc_edge_jwt_config hs, ed;
    config_hs256(&hs, SECRET, 32);
    config_eddsa(&ed);
    struct tc_edge_jwt_signer ed_signer = {.alg = TC_EDGE_JWT_EDDSA, .key_size = 64};
    crypto_sign_keypair(ed.key, ed_signer.key);
    struct tc_edge_jwt_signer hs_signer = {.alg = TC_EDGE_JWT_HS256, .key_size = 32};
    memcpy(hs_signer.key, SECRET, 32);
    char original[1024], token[1100];
    uint32_t counts[TC_EDGE_JWT_STATUS_COUNT] = {0};
    for (uint32_t iteration = 0; iteration < 30000; iteration++) {
        bool eddsa = iteration % 8 == 0;
        struct tc_edge_jwt_claims c = {.user = tc_prng_range(&prng, 1, UINT64_MAX),
                                       .exp_s = NOW + tc_prng_below(&prng, 1000),
                                       .room_count = (uint32_t)tc_prng_below(&prng, 4)};
        for (uint32_t r = 0; r < c.room_count; r++) c.rooms[r] = tc_prng_range(&prng, 1, 1000);
        int32_t size = tc_edge_jwt_mint(eddsa ? &ed_signer : &hs_signer, &c, original,
                                        sizeof(original));
        assert_true(size > 0);
        memcpy(token, original, (uint32_t)size + 1);
        uint32_t edits = (uint32_t)tc_prng_range(&prng, 1, 3);
        uint32_t length = (uint32_t)size;
        for (uint32_t e = 0; e < edits && length > 1; e++) {
            uint32_t at = (uint32_t)tc_prng_below(&prng, length);
            if (tc_prng_chance_ppm(&prng, 800000)) {
                token[at] = alphabet[tc_prng_below(&prng, sizeof(alphabet) - 1)];
            } else {
                memmove(token + at, token + at + 1, length - at);
                length--;
            }
        }
        enum tc_edge_jwt_status status =
            tc_edge_jwt_verify(eddsa ? &ed : &hs, token, length, NOW, &scratch, &claims);
        bool unchanged = length == (uint32_t)size && memcmp(token, original, length) == 0;
        if (unchanged) {
            assert_int_equal(status, TC_EDGE_JWT_OK);
        } else if (status == TC_EDGE_JWT_OK) {
            fail_msg("an edited token verified: %s", token);
        }
        assert_false(scratch.exhausted);
        counts[status]++;
    }
    assert_true(counts[TC_EDGE_JWT_BAD_SIGNATURE] > 1000);
    assert_true(counts[TC_EDGE_JWT_MALFORMED] > 1000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7515_hs256),
        cmocka_unit_test(test_rfc8037_eddsa),
        cmocka_unit_test(test_independent_tokens),
        cmocka_unit_test(test_alg_confusion),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_mint),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
