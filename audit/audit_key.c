// Ed25519 keys (libsodium), key files and signed operator requests.
//
// Key files are one line of text: a type tag, a space, 64 lowercase hex characters, a newline.
//   secret: "tigerchat-ed25519-secret-v1 <seed hex>"   (mode 0600; the public key is derived)
//   public: "tigerchat-ed25519-public-v1 <key hex>"
// The tag keeps a secret key from being passed where a public one is expected and vice versa.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

_Static_assert(sizeof(struct tc_audit_public_key) == crypto_sign_PUBLICKEYBYTES, "public key");
_Static_assert(sizeof(struct tc_audit_secret_key) == crypto_sign_SECRETKEYBYTES, "secret key");
_Static_assert(sizeof(struct tc_audit_signature) == crypto_sign_BYTES, "signature");

static const char secret_tag[] = "tigerchat-ed25519-secret-v1 ";
static const char public_tag[] = "tigerchat-ed25519-public-v1 ";
#define KEY_FILE_SIZE_MAX 128u

void tc_audit_keypair_from_seed(const uint8_t seed[32], struct tc_audit_secret_key *secret,
                                struct tc_audit_public_key *public_key) {
    tc_assert(seed != NULL && secret != NULL && public_key != NULL);
    audit_sodium_ready();
    const int rc = crypto_sign_seed_keypair(public_key->bytes, secret->bytes, seed);
    tc_assert(rc == 0);
    tc_assert(memcmp(secret->bytes + 32, public_key->bytes, 32) == 0);
}

void tc_audit_key_public(const struct tc_audit_secret_key *secret,
                         struct tc_audit_public_key *public_key) {
    tc_assert(secret != NULL && public_key != NULL);
    const int rc = crypto_sign_ed25519_sk_to_pk(public_key->bytes, secret->bytes);
    tc_assert(rc == 0);
}

bool tc_audit_key_valid(const struct tc_audit_public_key *key) {
    tc_assert(key != NULL);
    return crypto_core_ed25519_is_valid_point(key->bytes) == 1;
}

void tc_audit_key_hex(const struct tc_audit_public_key *key, char *out) {
    tc_assert(key != NULL && out != NULL);
    tc_hex_encode(out, key->bytes, sizeof(key->bytes));
    tc_assert(out[TC_AUDIT_KEY_HEX_SIZE] == '\0');
}

int tc_audit_key_from_hex(struct tc_audit_public_key *key, const char *hex) {
    tc_assert(key != NULL && hex != NULL);
    const size_t size = strnlen(hex, TC_AUDIT_KEY_HEX_SIZE + 1);
    return audit_hex_decode(key->bytes, sizeof(key->bytes), hex, size) ? 0 : TC_EINVAL;
}

void tc_audit_secret_key_wipe(struct tc_audit_secret_key *secret) {
    tc_assert(secret != NULL);
    sodium_memzero(secret->bytes, sizeof(secret->bytes));
}

// Formats "<tag><hex>\n" into out (KEY_FILE_SIZE_MAX bytes); returns its size.
static uint32_t key_text(char *out, const char *tag, const uint8_t bytes[32]) {
    const size_t tag_size = strlen(tag);
    tc_assert(tag_size + 64 + 2 <= KEY_FILE_SIZE_MAX);
    memcpy(out, tag, tag_size);
    tc_hex_encode(out + tag_size, bytes, 32);
    out[tag_size + 64] = '\n';
    out[tag_size + 65] = '\0';
    return (uint32_t)(tag_size + 65);
}

// Creates path exclusively with exactly `mode`, writes data, fsyncs file and directory.
static int write_new_file(const char *path, mode_t mode, const char *data, uint32_t size) {
    const int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) return audit_errno_to_tc(errno);
    int rc = fchmod(fd, mode) == 0 ? 0 : audit_errno_to_tc(errno); // umask may have cut bits
    if (rc == 0) rc = audit_write_all(fd, data, size);
    if (rc == 0 && fsync(fd) != 0) rc = audit_errno_to_tc(errno);
    if (close(fd) != 0 && rc == 0) rc = audit_errno_to_tc(errno);
    if (rc == 0) rc = audit_fsync_parent_dir(path);
    if (rc != 0) (void)unlink(path);
    return rc;
}

int tc_audit_keygen(const char *secret_path, struct tc_audit_public_key *public_key) {
    tc_assert(secret_path != NULL);
    char public_path[PATH_MAX];
    const size_t path_size = strnlen(secret_path, sizeof(public_path));
    if (path_size + sizeof(".pub") > sizeof(public_path)) return TC_ETOOBIG;
    memcpy(public_path, secret_path, path_size);
    memcpy(public_path + path_size, ".pub", sizeof(".pub"));
    struct stat st;
    if (lstat(secret_path, &st) == 0 || lstat(public_path, &st) == 0) return TC_EEXIST;

    audit_sodium_ready();
    uint8_t seed[32];
    randombytes_buf(seed, sizeof(seed));
    struct tc_audit_secret_key secret;
    struct tc_audit_public_key key;
    tc_audit_keypair_from_seed(seed, &secret, &key);
    char text[KEY_FILE_SIZE_MAX];
    uint32_t size = key_text(text, secret_tag, seed);
    int rc = write_new_file(secret_path, 0600, text, size);
    sodium_memzero(text, sizeof(text));
    sodium_memzero(seed, sizeof(seed));
    tc_audit_secret_key_wipe(&secret);
    if (rc != 0) return rc;
    size = key_text(text, public_tag, key.bytes);
    rc = write_new_file(public_path, 0644, text, size);
    if (rc != 0) {
        (void)unlink(secret_path);
        (void)audit_fsync_parent_dir(secret_path);
        return rc;
    }
    if (public_key != NULL) *public_key = key;
    return 0;
}

// Reads a key file: "<tag><64 hex>" with an optional final newline. *mode gets st_mode.
static int read_key_file(const char *path, const char *tag, uint8_t out[32], mode_t *mode) {
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return audit_errno_to_tc(errno);
    struct stat st;
    char text[KEY_FILE_SIZE_MAX];
    int64_t size = -1;
    int rc = fstat(fd, &st) == 0 ? 0 : audit_errno_to_tc(errno);
    if (rc == 0 && !S_ISREG(st.st_mode)) rc = TC_EINVAL;
    if (rc == 0) size = audit_pread_full(fd, text, sizeof(text), 0);
    (void)close(fd);
    if (rc != 0) return rc;
    if (size < 0) return (int)size;
    *mode = st.st_mode;
    const size_t tag_size = strlen(tag);
    size_t content = (size_t)size;
    if (content > 0 && text[content - 1] == '\n') content--;
    int result = TC_EINVAL;
    if (content == tag_size + 64 && memcmp(text, tag, tag_size) == 0 &&
        audit_hex_decode(out, 32, text + tag_size, 64)) {
        result = 0;
    }
    sodium_memzero(text, sizeof(text));
    return result;
}

int tc_audit_key_load_secret(const char *path, struct tc_audit_secret_key *secret) {
    tc_assert(path != NULL && secret != NULL);
    uint8_t seed[32];
    mode_t mode = 0;
    const int rc = read_key_file(path, secret_tag, seed, &mode);
    if (rc != 0) return rc;
    if ((mode & 077) != 0) {
        sodium_memzero(seed, sizeof(seed));
        return TC_EPERM;
    }
    struct tc_audit_public_key key;
    tc_audit_keypair_from_seed(seed, secret, &key);
    sodium_memzero(seed, sizeof(seed));
    return 0;
}

int tc_audit_key_load_public(const char *path, struct tc_audit_public_key *public_key) {
    tc_assert(path != NULL && public_key != NULL);
    mode_t mode = 0;
    const int rc = read_key_file(path, public_tag, public_key->bytes, &mode);
    if (rc != 0) return rc;
    return tc_audit_key_valid(public_key) ? 0 : TC_EINVAL;
}

void tc_audit_nonce_random(uint8_t nonce[TC_AUDIT_NONCE_SIZE]) {
    tc_assert(nonce != NULL);
    audit_sodium_ready();
    randombytes_buf(nonce, TC_AUDIT_NONCE_SIZE);
}
