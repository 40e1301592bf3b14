/*
 * tls_socket.h - one TCP + TLS client connection driven by a libuv loop:
 * asynchronous name resolution (uv_getaddrinfo; a numeric IPv4 or IPv6
 * host is used as it is, without libuv's thread pool), non-blocking connect
 * to each resolved address in turn, the TLS handshake with SNI, host name
 * verification and an ALPN list, then buffered SSL reads and writes.
 *
 *     struct tls_socket *s = tls_socket_connect(loop, &opts, &cbs, ud, &err);
 *     ...  cbs.on_open, then cbs.on_read(data) and cbs.on_ready on the loop
 *     tls_socket_write(s, bytes, n);  tls_socket_flush(s);
 *     tls_socket_free(s);
 *
 * Only the TLS byte stream is handled here; the protocol spoken over it
 * (HTTP/2) is the owner's.  Every failure is reported once through
 * on_error; the owner frees the socket afterwards (freeing from inside any
 * callback is allowed).
 */
#ifndef ENR_TLS_SOCKET_H
#define ENR_TLS_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "base/error.h"

#define TLS_SOCKET_MAX_ALPN 4

/* Codes on_error uses beyond errno values for I/O: */
/* -ECONNABORTED: the server closed the connection during the TLS handshake
 *                (what a Teleport Proxy does for an ALPN it does not route);
 * -EPERM:        the server certificate is not trusted or names another host;
 * -ETIMEDOUT:    connect + handshake took longer than connect_timeout_ms;
 * -EHOSTUNREACH: the name did not resolve. */

struct tls_socket;

struct tls_socket_options {
    const char *addr;          /* "host:port", "[v6]:port"; host may be a DNS name */
    SSL_CTX *ssl_ctx;          /* a reference is taken */
    const char *server_name;   /* SNI and the name verified in the certificate */
    const char *alpn[TLS_SOCKET_MAX_ALPN]; /* offered in this order; NULL-terminated; none: {"h2"} */
    const char *want_alpn;     /* the protocol the server must select; NULL: "h2" */
    unsigned connect_timeout_ms; /* resolve + every connect + handshake; 0: 10000 */
};

struct tls_socket_callbacks {
    void (*on_open)(void *ud);                               /* handshake done, ALPN checked */
    void (*on_read)(void *ud, const uint8_t *data, size_t len);
    void (*on_ready)(void *ud);                              /* after each loop event while open: write more */
    void (*on_error)(void *ud, const struct enr_error *err); /* the connection is dead */
};

/* Checks the address syntax and starts resolving.  NULL with err only for
 * a malformed address or no memory; everything else goes to on_error. */
struct tls_socket *tls_socket_connect(uv_loop_t *loop, const struct tls_socket_options *opts,
                                      const struct tls_socket_callbacks *cbs, void *ud, struct enr_error *err);
/* Queues bytes for the peer (they are sent by tls_socket_flush or the loop).
 * -ENOMEM, or -EPIPE once the socket failed. */
int tls_socket_write(struct tls_socket *s, const uint8_t *data, size_t len);
/* Asks for an on_ready from the loop before it next waits (never from inside
 * this call): what the owner queued in this loop iteration leaves together. */
void tls_socket_want_ready(struct tls_socket *s);
/* Writes what it can now; may run on_error. */
void tls_socket_flush(struct tls_socket *s);
/* Bytes queued but not yet accepted by TLS. */
size_t tls_socket_pending(const struct tls_socket *s);
bool tls_socket_is_open(const struct tls_socket *s);
/* The configured "host:port" and the address connected to ("" before). */
const char *tls_socket_addr(const struct tls_socket *s);
const char *tls_socket_peer(const struct tls_socket *s);
/* Closes at once; no callback runs afterwards.  NULL is a no-op. */
void tls_socket_free(struct tls_socket *s);

/* Splits "host:port" / "[v6]:port" (exposed for tests). */
int tls_socket_split_addr(const char *addr, char *host, size_t host_size, char *port, size_t port_size,
                          struct enr_error *err);

#endif
