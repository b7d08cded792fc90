#ifndef TC_WS_TLS_H
#define TC_WS_TLS_H

#include <stdint.h>

#include "ws_server.h"

// node/server/ws_tls: TLS for the WebSocket edge's client listener (wss://, docs/protocol.md §1),
// a struct tc_ws_transport over OpenSSL (docs/dependencies.md).
//
// Policy: TLS 1.2 and 1.3 only; TLS 1.2 with ECDHE and AEAD ciphers only, the server's order
// preferred; no compression, no renegotiation, no session cache or tickets (WebSockets live
// long: resumption buys little), no client certificates. Non-blocking throughout: OpenSSL reads
// and writes the socket through a BIO over tc_server_net_read/write (never SIGPIPE), and its
// WANT_READ/WANT_WRITE become the loop interest the server asks for (struct tc_ws_transport).
//
// Memory: the context (SSL_CTX, certificate, key) is allocated once by create. Each connection
// costs one SSL object and one BIO, allocated by OpenSSL when the connection is accepted (bounded
// by the server's connections_max) and freed when it closes; SSL_MODE_RELEASE_BUFFERS lets idle
// connections give their record buffers back.

struct tc_ws_tls;

// Loads the certificate chain (PEM, leaf first) and the private key (PEM, unencrypted) and
// checks that they match. Returns TC_OK with *tls set, or TC_ENOENT (a file cannot be read),
// TC_EINVAL (not PEM, an encrypted key, a key that does not match the certificate) or TC_ENOMEM,
// with `error` naming the config key and the file ("tls_cert_file /x: ...").
int tc_ws_tls_create(const char *cert_file, const char *key_file, struct tc_ws_tls **tls,
                     char *error, uint32_t error_size);
// After every server using the transport is deinitialised.
void tc_ws_tls_destroy(struct tc_ws_tls *tls);
// For tc_ws_server_options.transport; valid until destroy.
const struct tc_ws_transport *tc_ws_tls_transport(const struct tc_ws_tls *tls);

#endif
