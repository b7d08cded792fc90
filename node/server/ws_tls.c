// TLS for the WebSocket edge (see ws_tls.h): the OpenSSL context, a BIO over the node's
// non-blocking socket calls, and the struct tc_ws_transport hooks.
#include "ws_tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "loop.h"
#include "server_net.h"
#include "tc_assert.h"
#include "tc_err.h"

// TLS 1.2: forward secrecy and AEAD only, strongest-first for the server's preference. TLS 1.3
// keeps OpenSSL's suites (all AEAD).
#define TLS_CIPHERS_1_2                                                                            \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

struct tc_ws_tls {
    struct tc_ws_transport transport; // instance: this
    SSL_CTX *context;
    BIO_METHOD *bio_method;
};

// One connection's state, in the slot's transport context (zeroed by the server).
struct ws_tls_conn {
    SSL *ssl;
    int fd;
    int32_t socket_error; // the last socket error the BIO saw in this call (TC_OK: none)
    uint32_t read_waits;  // TC_LOOP_READ, or TC_LOOP_WRITE: what a read that blocked waits for
    uint32_t write_waits; // TC_LOOP_WRITE, or TC_LOOP_READ
};

// ------------------------------------------------------------------------------------------------
// The BIO: OpenSSL's socket I/O through tc_server_net_read/write (MSG_NOSIGNAL, EINTR retried).

static int tls_bio_read(BIO *bio, char *data, int size) {
    struct ws_tls_conn *conn = BIO_get_data(bio);
    tc_assert(conn != NULL && data != NULL);
    BIO_clear_retry_flags(bio);
    if (size <= 0) return 0;
    const int32_t result = tc_server_net_read(conn->fd, (uint8_t *)data, (uint32_t)size);
    if (result >= 0) return (int)result; // 0: end of stream
    if (result == TC_EAGAIN) {
        BIO_set_retry_read(bio);
    } else {
        conn->socket_error = result;
    }
    return -1;
}

static int tls_bio_write(BIO *bio, const char *data, int size) {
    struct ws_tls_conn *conn = BIO_get_data(bio);
    tc_assert(conn != NULL && data != NULL);
    BIO_clear_retry_flags(bio);
    if (size <= 0) return 0;
    const int32_t result = tc_server_net_write(conn->fd, (const uint8_t *)data, (uint32_t)size);
    if (result > 0) return (int)result;
    if (result == TC_EAGAIN) {
        BIO_set_retry_write(bio);
    } else {
        conn->socket_error = result;
    }
    return -1;
}

static long tls_bio_ctrl(BIO *bio, int command, long number, void *pointer) {
    (void)bio;
    (void)number;
    (void)pointer;
    // Writes go straight to the socket: nothing to flush. Every other control is unsupported.
    return command == BIO_CTRL_FLUSH ? 1 : 0;
}

static BIO_METHOD *tls_bio_method_new(void) {
    BIO_METHOD *method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tc_server_net");
    if (method == NULL) return NULL;
    if (BIO_meth_set_read(method, tls_bio_read) != 1 ||
        BIO_meth_set_write(method, tls_bio_write) != 1 ||
        BIO_meth_set_ctrl(method, tls_bio_ctrl) != 1) {
        BIO_meth_free(method);
        return NULL;
    }
    return method;
}

// ------------------------------------------------------------------------------------------------
// The transport hooks.

static int tls_open(void *instance, void *context, int fd) {
    struct tc_ws_tls *tls = instance;
    struct ws_tls_conn *conn = context;
    tc_assert(tls != NULL && conn != NULL && fd >= 0);
    tc_assert(conn->ssl == NULL);
    conn->fd = fd;
    conn->socket_error = TC_OK;
    conn->read_waits = TC_LOOP_READ;
    conn->write_waits = TC_LOOP_WRITE;
    ERR_clear_error();
    conn->ssl = SSL_new(tls->context);
    BIO *bio = conn->ssl == NULL ? NULL : BIO_new(tls->bio_method);
    if (bio == NULL) {
        SSL_free(conn->ssl); // NULL is fine
        conn->ssl = NULL;
        ERR_clear_error();
        return TC_ENOMEM;
    }
    BIO_set_data(bio, conn);
    BIO_set_init(bio, 1);
    SSL_set_bio(conn->ssl, bio, bio); // the SSL owns the BIO's one reference
    SSL_set_accept_state(conn->ssl);
    return TC_OK;
}

static void tls_close(void *instance, void *context) {
    struct ws_tls_conn *conn = context;
    (void)instance;
    tc_assert(conn->ssl != NULL);
    SSL_free(conn->ssl); // frees the BIO; the socket is the server's to close
    conn->ssl = NULL;
}

// A read or write that did not move bytes: where it waits (*waits), or why it failed.
static int32_t tls_failure(struct ws_tls_conn *conn, int result, uint32_t *waits) {
    const int error = SSL_get_error(conn->ssl, result);
    switch (error) {
    case SSL_ERROR_WANT_READ: *waits = TC_LOOP_READ; return TC_EAGAIN;
    case SSL_ERROR_WANT_WRITE: *waits = TC_LOOP_WRITE; return TC_EAGAIN;
    case SSL_ERROR_ZERO_RETURN: return 0; // close_notify, or end of stream (IGNORE_UNEXPECTED_EOF)
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        return conn->socket_error < 0 ? conn->socket_error : TC_EIO;
    case SSL_ERROR_SSL: ERR_clear_error(); return TC_ECORRUPT; // an alert, a bad record, not TLS
    default: ERR_clear_error(); return TC_EIO;                 // callbacks this server never sets
    }
}

static int32_t tls_read(void *context, int fd, uint8_t *buffer, uint32_t size) {
    struct ws_tls_conn *conn = context;
    tc_assert(conn->ssl != NULL && conn->fd == fd);
    tc_assert(buffer != NULL && size > 0 && size <= INT32_MAX);
    ERR_clear_error(); // SSL_get_error reads this thread's queue: it must hold only this call's
    conn->socket_error = TC_OK;
    const int result = SSL_read(conn->ssl, buffer, (int)size);
    if (result > 0) {
        tc_assert((uint32_t)result <= size);
        conn->read_waits = TC_LOOP_READ;
        return result;
    }
    return tls_failure(conn, result, &conn->read_waits);
}

static int32_t tls_write(void *context, int fd, const uint8_t *data, uint32_t size) {
    struct ws_tls_conn *conn = context;
    tc_assert(conn->ssl != NULL && conn->fd == fd);
    tc_assert(data != NULL && size > 0 && size <= INT32_MAX);
    ERR_clear_error();
    conn->socket_error = TC_OK;
    // SSL_MODE_ENABLE_PARTIAL_WRITE: answers after each record, like send(2) after a partial write.
    const int result = SSL_write(conn->ssl, data, (int)size);
    if (result > 0) {
        tc_assert((uint32_t)result <= size);
        conn->write_waits = TC_LOOP_WRITE;
        return result;
    }
    const int32_t failure = tls_failure(conn, result, &conn->write_waits);
    return failure == 0 ? TC_EIO : failure; // a write has no end of stream
}

static uint32_t tls_pending(void *context) {
    struct ws_tls_conn *conn = context;
    tc_assert(conn->ssl != NULL);
    const int pending = SSL_pending(conn->ssl);
    tc_assert(pending >= 0 && (uint32_t)pending <= TC_WS_TRANSPORT_PENDING_MAX);
    return (uint32_t)pending;
}

static uint32_t tls_interest(void *context, uint32_t wanted) {
    const struct ws_tls_conn *conn = context;
    tc_assert(conn->ssl != NULL);
    tc_assert((wanted & ~(uint32_t)(TC_LOOP_READ | TC_LOOP_WRITE)) == 0);
    uint32_t interest = 0;
    if ((wanted & TC_LOOP_READ) != 0) interest |= conn->read_waits;
    if ((wanted & TC_LOOP_WRITE) != 0) interest |= conn->write_waits;
    return interest;
}

static bool tls_established(void *context) {
    const struct ws_tls_conn *conn = context;
    tc_assert(conn->ssl != NULL);
    return SSL_is_init_finished(conn->ssl) == 1;
}

static void tls_shutdown_write(void *context, int fd) {
    struct ws_tls_conn *conn = context;
    tc_assert(conn->ssl != NULL && conn->fd == fd);
    if (SSL_is_init_finished(conn->ssl) == 1) {
        // close_notify: best effort. The send ring is empty, so it normally fits the socket; if
        // not, the peer sees the TCP end of stream alone (and after a close frame, that is fine).
        ERR_clear_error();
        (void)SSL_shutdown(conn->ssl);
        ERR_clear_error();
    }
    tc_server_net_shutdown_write(fd);
}

// ------------------------------------------------------------------------------------------------
// The context.

static int no_password(char *buffer, int size, int writing, void *context) {
    (void)buffer;
    (void)size;
    (void)writing;
    (void)context;
    return 0; // never prompt on the terminal: an encrypted key fails to load
}

// The oldest queued OpenSSL error's text (and the queue emptied).
static const char *tls_reason(char *text, size_t text_size) {
    const unsigned long code = ERR_peek_error(); // the first: the root cause
    if (code == 0) {
        (void)snprintf(text, text_size, "unknown OpenSSL error");
    } else {
        ERR_error_string_n(code, text, text_size);
    }
    ERR_clear_error();
    return text;
}

static int tls_file_readable(const char *key, const char *path, char *error, uint32_t error_size) {
    FILE *file = fopen(path, "r");
    if (file != NULL) {
        (void)fclose(file);
        return TC_OK;
    }
    const int error_number = errno;
    char text_buffer[128];
    // GNU strerror_r (_GNU_SOURCE): returns a pointer to the text, maybe not text_buffer.
    const char *text = strerror_r(error_number, text_buffer, sizeof(text_buffer));
    (void)snprintf(error, error_size, "%s %s: cannot read: %s", key, path, text);
    return TC_ENOENT;
}

// The policy of ws_tls.h. False only when OpenSSL is out of memory or lacks every TLS 1.2 cipher.
static bool tls_context_configure(SSL_CTX *context) {
    if (SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) != 1) return false;
    // NO_RENEGOTIATION: TLS 1.2 HelloRequests neither sent nor honoured, a client's
    // renegotiation answered with a no_renegotiation alert (TLS 1.3 has none).
    (void)SSL_CTX_set_options(context, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
                                           SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                                           SSL_OP_IGNORE_UNEXPECTED_EOF);
    (void)SSL_CTX_clear_options(context, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
    (void)SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                        SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                        SSL_MODE_RELEASE_BUFFERS);
    // One record per SSL_read: the server's loop decides when to read again.
    (void)SSL_CTX_clear_mode(context, SSL_MODE_AUTO_RETRY);
    (void)SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_set_num_tickets(context, 0) != 1) return false;
    SSL_CTX_set_verify(context, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_default_passwd_cb(context, no_password);
    return SSL_CTX_set_cipher_list(context, TLS_CIPHERS_1_2) == 1;
}

static int tls_load_certificate(SSL_CTX *context, const char *cert_file, char *error,
                                uint32_t error_size) {
    int result = tls_file_readable("tls_cert_file", cert_file, error, error_size);
    if (result != TC_OK) return result;
    if (SSL_CTX_use_certificate_chain_file(context, cert_file) != 1) {
        char reason[256];
        (void)snprintf(error, error_size, "tls_cert_file %s: not a PEM certificate chain (%s)",
                       cert_file, tls_reason(reason, sizeof(reason)));
        return TC_EINVAL;
    }
    return TC_OK;
}

static int tls_load_key(SSL_CTX *context, const char *cert_file, const char *key_file,
                        char *error, uint32_t error_size) {
    int result = tls_file_readable("tls_key_file", key_file, error, error_size);
    if (result != TC_OK) return result;
    char reason[256];
    BIO *file = BIO_new_file(key_file, "r");
    EVP_PKEY *key = file == NULL ? NULL : PEM_read_bio_PrivateKey(file, NULL, no_password, NULL);
    BIO_free(file); // NULL is fine
    if (key == NULL) {
        (void)snprintf(error, error_size,
                       "tls_key_file %s: not an unencrypted PEM private key (%s)", key_file,
                       tls_reason(reason, sizeof(reason)));
        return TC_EINVAL;
    }
    X509 *certificate = SSL_CTX_get0_certificate(context);
    tc_assert(certificate != NULL); // loaded first
    if (X509_check_private_key(certificate, key) != 1) {
        ERR_clear_error();
        EVP_PKEY_free(key);
        (void)snprintf(error, error_size,
                       "tls_key_file %s does not match the certificate in tls_cert_file %s",
                       key_file, cert_file);
        return TC_EINVAL;
    }
    result = SSL_CTX_use_PrivateKey(context, key) == 1 && SSL_CTX_check_private_key(context) == 1
                 ? TC_OK
                 : TC_EINVAL;
    EVP_PKEY_free(key); // the context holds its own reference
    if (result != TC_OK) {
        (void)snprintf(error, error_size, "tls_key_file %s: unusable with tls_cert_file %s (%s)",
                       key_file, cert_file, tls_reason(reason, sizeof(reason)));
    }
    return result;
}

static void tls_transport_init(struct tc_ws_tls *tls) {
    tls->transport = (struct tc_ws_transport){
        .instance = tls,
        .context_size = sizeof(struct ws_tls_conn),
        .open = tls_open,
        .close = tls_close,
        .read = tls_read,
        .write = tls_write,
        .pending = tls_pending,
        .interest = tls_interest,
        .established = tls_established,
        .shutdown_write = tls_shutdown_write,
    };
}

int tc_ws_tls_create(const char *cert_file, const char *key_file, struct tc_ws_tls **out,
                     char *error, uint32_t error_size) {
    tc_assert(cert_file != NULL && key_file != NULL && out != NULL);
    tc_assert(error != NULL && error_size > 0);
    *out = NULL;
    error[0] = '\0';
    ERR_clear_error();
    struct tc_ws_tls *tls = calloc(1, sizeof(*tls));
    if (tls != NULL) tls->context = SSL_CTX_new(TLS_server_method());
    if (tls != NULL && tls->context != NULL) tls->bio_method = tls_bio_method_new();
    if (tls == NULL || tls->context == NULL || tls->bio_method == NULL ||
        !tls_context_configure(tls->context)) {
        char reason[256];
        (void)snprintf(error, error_size, "tls: cannot set up OpenSSL (%s)",
                       tls_reason(reason, sizeof(reason)));
        tc_ws_tls_destroy(tls);
        return TC_ENOMEM;
    }
    int result = tls_load_certificate(tls->context, cert_file, error, error_size);
    if (result == TC_OK) {
        result = tls_load_key(tls->context, cert_file, key_file, error, error_size);
    }
    if (result != TC_OK) {
        tc_ws_tls_destroy(tls);
        return result;
    }
    tls_transport_init(tls);
    *out = tls;
    return TC_OK;
}

void tc_ws_tls_destroy(struct tc_ws_tls *tls) {
    if (tls == NULL) return;
    SSL_CTX_free(tls->context); // NULL is fine; live SSL objects hold their own reference
    BIO_meth_free(tls->bio_method);
    free(tls);
}

const struct tc_ws_transport *tc_ws_tls_transport(const struct tc_ws_tls *tls) {
    tc_assert(tls != NULL && tls->transport.instance == tls);
    return &tls->transport;
}
