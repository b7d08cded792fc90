#ifndef TC_TEST_TLS_FIXTURE_H
#define TC_TEST_TLS_FIXTURE_H

// Test-only TLS material, made at test time with the OpenSSL API (no key is committed): a P-256
// key and a self-signed certificate for CN=localhost with subjectAltName DNS:localhost and
// IP:127.0.0.1, valid from an hour ago for a day. Included by one test file (static functions).
#include <stdbool.h>
#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static bool tls_fixture_key_write(EVP_PKEY *key, const char *key_path) {
    FILE *file = fopen(key_path, "w");
    if (file == NULL) return false;
    const bool ok = PEM_write_PrivateKey(file, key, NULL, NULL, 0, NULL, NULL) == 1;
    return fclose(file) == 0 && ok;
}

static bool tls_fixture_certificate_sign(X509 *certificate, EVP_PKEY *key) {
    bool ok = X509_set_version(certificate, 2) == 1 &&
              ASN1_INTEGER_set(X509_get_serialNumber(certificate), 1) == 1 &&
              X509_gmtime_adj(X509_getm_notBefore(certificate), -3600) != NULL &&
              X509_gmtime_adj(X509_getm_notAfter(certificate), 86400) != NULL &&
              X509_set_pubkey(certificate, key) == 1;
    X509_NAME *name = X509_get_subject_name(certificate);
    ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                          (const unsigned char *)"localhost", -1, -1, 0) == 1;
    ok = ok && X509_set_issuer_name(certificate, name) == 1;
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, certificate, certificate, NULL, NULL, 0);
    X509_EXTENSION *extension = X509V3_EXT_conf_nid(NULL, &context, NID_subject_alt_name,
                                                    "DNS:localhost,IP:127.0.0.1");
    ok = ok && extension != NULL && X509_add_ext(certificate, extension, -1) == 1;
    X509_EXTENSION_free(extension);
    return ok && X509_sign(certificate, key, EVP_sha256()) > 0;
}

// Writes a fresh self-signed certificate and its key. True on success.
static bool tls_fixture_write(const char *cert_path, const char *key_path) {
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *certificate = X509_new();
    bool ok = key != NULL && certificate != NULL && tls_fixture_certificate_sign(certificate, key);
    if (ok) {
        FILE *file = fopen(cert_path, "w");
        ok = file != NULL && PEM_write_X509(file, certificate) == 1;
        if (file != NULL && fclose(file) != 0) ok = false;
    }
    ok = ok && tls_fixture_key_write(key, key_path);
    X509_free(certificate);
    EVP_PKEY_free(key);
    return ok;
}

// Writes a fresh key that matches no certificate. True on success.
static bool tls_fixture_write_other_key(const char *key_path) {
    EVP_PKEY *key = EVP_EC_gen("P-256");
    const bool ok = key != NULL && tls_fixture_key_write(key, key_path);
    EVP_PKEY_free(key);
    return ok;
}

#endif
