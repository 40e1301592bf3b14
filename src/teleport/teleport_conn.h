/*
 * teleport_conn.h - how enroller reaches Teleport: the credentials and the
 * HTTP/2 connection (http2_conn) new calls go to, under teleport_client.
 *
 *     struct teleport_conn *tn = teleport_conn_new(loop, &cfg, &err);
 *     struct http2_conn *c = teleport_conn_get(tn, &err);  // for each new stream
 *     ...
 *     teleport_conn_free(tn);
 *
 * Policy:
 *   - the connection is opened lazily by the first teleport_conn_get and
 *     reused while usable;
 *   - after GOAWAY or a credentials reload the old connection is retired: it
 *     finishes the streams it carries while new streams go to a fresh one,
 *     and is freed once they are done;
 *   - after a failed connect, teleport_conn_get fails fast with UNAVAILABLE
 *     for a backoff period: doubling from 250 ms to 30 s with equal jitter
 *     (base/backoff.h), so many enrollers do not reconnect in step; a
 *     successful connect and new credentials reset it.
 *
 * Mode (teleport_mode): in AUTO the first connection offers ALPN ["h2"] as
 * to an Auth listener.  A Teleport Proxy with TLS routing does not route
 * "h2" to Auth and closes the connection during the handshake without an
 * alert; that failure (-ECONNABORTED) switches to the Proxy ALPN list with
 * no backoff, and teleport_conn_retryable tells the calls to go again at
 * once.  The first mode that connects is kept.
 */
#ifndef ENR_TELEPORT_CONN_H
#define ENR_TELEPORT_CONN_H

#include <stdbool.h>
#include <uv.h>

#include "base/error.h"

struct teleport_conn;
struct http2_conn;
struct identity_file;

/* How addr is reached (Teleport's api/client/credentials.go for Auth; lib/srv/alpnproxy for the Proxy's TLS routing). */
enum teleport_mode {
    TELEPORT_MODE_AUTO = 0, /* direct first; if the server closes the connection during the TLS
                               handshake (a Proxy refusing ALPN "h2"), the Proxy way; the mode
                               that connects is kept */
    TELEPORT_MODE_DIRECT,   /* Auth listener: ALPN ["h2"] */
    TELEPORT_MODE_PROXY,    /* Proxy with TLS routing: ALPN ["teleport-auth@<hex cluster>.teleport.cluster.local", "h2"] */
};

struct teleport_conn_config {
    const char *addr;          /* "host:port" of the Auth Service or the Proxy */
    const char *identity_file; /* exactly one of these two */
    const char *tbot_dir;
    const char *cluster;       /* cluster name for the Proxy ALPN; NULL: the identity's CA subject O */
    enum teleport_mode mode;
    const char *server_name;   /* SNI and name to verify; NULL: "teleport.cluster.local" */
    unsigned connect_timeout_ms; /* TCP connect + TLS handshake; 0: 10000 */
    unsigned keepalive_ms;     /* 0: the http2_conn defaults */
    unsigned keepalive_timeout_ms;
    int watch_credentials;     /* reload the identity when its files change */
    unsigned reload_debounce_ms; /* 0: 500 */
};

/* Checks the configuration and loads the identity (err names the file and
 * the problem); no connection is made yet. */
struct teleport_conn *teleport_conn_new(uv_loop_t *loop, const struct teleport_conn_config *cfg,
                                        struct enr_error *err);
/* Closes every connection; streams still open are dropped without
 * callbacks.  NULL is a no-op. */
void teleport_conn_free(struct teleport_conn *tn);

/* The connection a new stream goes to (borrowed: valid until the next
 * teleport_conn_get or teleport_conn_free).  NULL with err: inside the
 * reconnect backoff (grpc_status UNAVAILABLE, "UNAVAILABLE: not reconnecting
 * for N ms after: <why>"), a bad address, no cluster name for the Proxy
 * ALPN, or no memory. */
struct http2_conn *teleport_conn_get(struct teleport_conn *tn, struct enr_error *err);
/* Whether a stream that closed with err on conn may be sent again on the
 * connection teleport_conn_get gives next: refused after GOAWAY (never
 * processed), or closed during the handshake while AUTO is still looking
 * for its mode. */
bool teleport_conn_retryable(const struct teleport_conn *tn, const struct http2_conn *conn,
                             const struct enr_error *err);

uv_loop_t *teleport_conn_loop(const struct teleport_conn *tn);
/* :authority of every request (the configured server name). */
const char *teleport_conn_server_name(const struct teleport_conn *tn);
const struct identity_file *teleport_conn_identity(const struct teleport_conn *tn);
/* The mode in use: DIRECT or PROXY once one connected (AUTO before). */
enum teleport_mode teleport_conn_mode(const struct teleport_conn *tn);
/* Connections opened so far. */
unsigned teleport_conn_n_connects(const struct teleport_conn *tn);
/* 1, +1 per accepted credentials reload. */
unsigned teleport_conn_credentials_generation(const struct teleport_conn *tn);

#endif
