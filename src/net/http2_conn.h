/*
 * http2_conn.h - one HTTP/2 client connection (nghttp2) carrying many
 * concurrent request streams, over TCP + TLS (tls_socket) on a libuv loop.
 *
 *     struct http2_conn *c = http2_conn_connect(loop, &opts, &conn_cbs, ud, &err);
 *     int32_t id = http2_conn_submit(c, hdrs, n, body, len, &stream_cbs, call, &err);
 *     ...                           // stream_cbs.on_header/on_data/on_close run on the loop
 *     http2_conn_free(c);
 *
 * Requests may be submitted before the TLS handshake finishes; they are sent
 * once it does.  Connection setup never blocks (tls_socket resolves names
 * with uv_getaddrinfo, takes a numeric address as it is, and tries each
 * address in turn).  More requests than the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS wait in nghttp2's queue and are sent as
 * streams close.
 *
 * Keepalive: when nothing has been received for keepalive_ms the client
 * sends an HTTP/2 PING; no ACK (or any other frame) within
 * keepalive_timeout_ms fails the connection (-ETIMEDOUT).
 *
 * GOAWAY: streams the server will not process (above its last-stream-id,
 * or not yet sent) close with err->code == -EAGAIN: safe to retry on a new
 * connection.  Streams below it finish normally.
 *
 * The byte transport can be replaced (http2_conn_new_io): bytes to the peer
 * go to an injected send callback and bytes from the peer are pushed in with
 * http2_conn_input(), as in nghttp2's own scripted tests.
 *
 * When the connection breaks (I/O error, EOF, protocol error, GOAWAY
 * followed by close) every stream still open gets on_close with a gRPC
 * UNAVAILABLE error, then on_error runs once; the owner frees the
 * connection afterwards (freeing from inside any callback is allowed).
 */
#ifndef ENR_HTTP2_CONN_H
#define ENR_HTTP2_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "base/error.h"
#include "net/tls_socket.h"

#define HTTP2_CONN_DEFAULT_SERVER_NAME "teleport.cluster.local"
/* Keepalive defaults.  gRPC servers (grpc-go's EnforcementPolicy.MinTime,
 * grpc core's min ping interval without data) refuse PINGs more often than
 * every 5 minutes on an idle connection with GOAWAY ENHANCE_YOUR_CALM
 * "too_many_pings", and Teleport's own Go client pings every 5 minutes
 * (apidefaults.ServerKeepAliveTTL), so that is the default here too. */
#define HTTP2_CONN_KEEPALIVE_MS 300000u
#define HTTP2_CONN_KEEPALIVE_TIMEOUT_MS 20000u

struct http2_conn;

struct http2_header {
    const char *name;
    const char *value;
};

struct http2_stream_callbacks {
    /* One response header field; trailer is true for the trailing HEADERS. */
    void (*on_header)(void *ud, const char *name, size_t name_len, const char *value, size_t value_len,
                      bool trailer);
    /* A chunk of response body. */
    void (*on_data)(void *ud, const uint8_t *data, size_t len);
    /* The stream ended: err NULL when it closed normally, else why (reset by
     * the peer, GOAWAY, connection lost; err->grpc_status is the matching gRPC
     * status).  Runs exactly once unless the stream was cancelled. */
    void (*on_close)(void *ud, const struct enr_error *err);
};

struct http2_conn_callbacks {
    void (*on_connected)(void *ud);                          /* optional: TLS + ALPN done */
    void (*on_error)(void *ud, const struct enr_error *err); /* the connection is dead */
};

struct http2_conn_options {
    const char *addr;          /* "host:port" */
    SSL_CTX *ssl_ctx;          /* client context (identity_file_ssl_ctx); a reference is taken */
    const char *server_name;   /* SNI + verified name; NULL: HTTP2_CONN_DEFAULT_SERVER_NAME */
    unsigned connect_timeout_ms; /* TCP connect + TLS handshake; 0: 10000 */
    const char *alpn[TLS_SOCKET_MAX_ALPN]; /* offered ALPN list, NULL-terminated; none: {"h2"} */
    unsigned keepalive_ms;       /* idle time before a PING; 0: HTTP2_CONN_KEEPALIVE_MS */
    unsigned keepalive_timeout_ms; /* wait for its ACK; 0: HTTP2_CONN_KEEPALIVE_TIMEOUT_MS */
};

/* Starts connecting.  NULL with err only for a bad address or no memory;
 * a failed connect is reported later through on_error. */
struct http2_conn *http2_conn_connect(uv_loop_t *loop, const struct http2_conn_options *opts,
                                      const struct http2_conn_callbacks *cbs, void *ud, struct enr_error *err);

/* Injected transport: send gets every byte for the peer and returns 0 or a
 * negative code (the connection then fails). */
struct http2_conn_io {
    int (*send)(void *io_ud, const uint8_t *data, size_t len);
    void *io_ud;
};
/* A connection over an injected transport, already "connected". */
struct http2_conn *http2_conn_new_io(const struct http2_conn_io *io, const struct http2_conn_callbacks *cbs,
                                     void *ud, struct enr_error *err);
/* Bytes from the peer (injected transport).  Runs callbacks; then flushes. */
void http2_conn_input(struct http2_conn *c, const uint8_t *data, size_t len);
/* The peer closed the transport (injected transport). */
void http2_conn_input_eof(struct http2_conn *c);
/* Sends whatever nghttp2 has queued (injected transport; the socket
 * transport flushes from the loop by itself). */
void http2_conn_flush(struct http2_conn *c);

/* Opens a stream: HEADERS from hdrs (pseudo-headers first), then body (copied)
 * with END_STREAM.  Returns the stream id (> 0) or a negative code with err
 * (callbacks never run then): -ECONNRESET once the connection failed or got
 * GOAWAY. */
int32_t http2_conn_submit(struct http2_conn *c, const struct http2_header *hdrs, size_t n_hdrs, const uint8_t *body,
                          size_t body_len, const struct http2_stream_callbacks *cbs, void *stream_ud,
                          struct enr_error *err);
/* Resets the stream (RST_STREAM CANCEL); none of its callbacks run after. */
void http2_conn_cancel(struct http2_conn *c, int32_t stream_id);
/* False once the connection failed or the server sent GOAWAY: open a new one. */
bool http2_conn_usable(const struct http2_conn *c);
/* Why the connection died (code 0 while it is alive). */
const struct enr_error *http2_conn_failure(const struct http2_conn *c);
/* Number of streams still open. */
size_t http2_conn_n_streams(const struct http2_conn *c);
/* PINGs sent by the keepalive and ACKs received (for tests and benchmarks). */
unsigned http2_conn_n_pings(const struct http2_conn *c);
unsigned http2_conn_n_ping_acks(const struct http2_conn *c);
/* Closes the connection; open streams are dropped without callbacks.
 * NULL is a no-op.  Safe inside any of this connection's callbacks. */
void http2_conn_free(struct http2_conn *c);

#endif
