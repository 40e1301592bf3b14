/* teleport_conn.c - see teleport_conn.h. */
#include "teleport/teleport_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/backoff.h"
#include "base/log.h"
#include "net/grpc_frame.h"
#include "net/http2_conn.h"
#include "teleport/credentials.h"
#include "teleport/identity_file.h"

#define BACKOFF_MIN_MS 250u
#define BACKOFF_MAX_MS 30000u

struct teleport_conn {
    uv_loop_t *loop;
    char *addr, *server_name;
    char *cluster;                /* from the config, NULL: the identity's CA */
    char *alpn_auth;              /* "teleport-auth@<hex>.teleport.cluster.local" */
    unsigned connect_timeout_ms, ka_ms, ka_timeout_ms;
    enum teleport_mode mode_cfg, mode; /* configured; in use (AUTO: DIRECT until the Proxy way is needed) */
    bool mode_locked;             /* a connection succeeded in tn->mode */
    bool switch_pending;          /* AUTO: the next connection uses the other mode, no backoff */
    struct credentials *cr;
    unsigned cred_gen;            /* generation tn->conn was opened with */
    unsigned n_connects;
    struct http2_conn *conn;      /* current connection, NULL before the first call */
    struct http2_conn **draining; /* older ones, finishing their streams */
    size_t n_draining, cap_draining;
    bool conn_connected;          /* tn->conn finished its handshake */
    bool conn_counted;            /* tn->conn's connect failure already set the backoff */
    struct backoff backoff;
    struct backoff_rng rng;
    uint64_t retry_at_ms;         /* uv_now before which no reconnect is tried */
    struct enr_error last_connect_err;
};

static void on_conn_connected(void *ud)
{
    struct teleport_conn *tn = ud;
    tn->conn_connected = true;
    backoff_reset(&tn->backoff);
    tn->retry_at_ms = 0;
    log_info(LOG_TELEPORT, "connected to %s as %s (%s)", tn->addr,
             identity_file_user(credentials_identity(tn->cr)),
             tn->mode == TELEPORT_MODE_PROXY ? "through the Proxy, TLS routing" : "Auth Service, direct");
    tn->mode_locked = true;
}

/* What the TLS alert in msg says of our certificate, or NULL.  OpenSSL
 * names a received alert "... alert <description>". */
static const char *alert_of(const char *msg)
{
    static const char *const alerts[] = {"alert unknown ca", "alert bad certificate", "alert certificate unknown",
                                         "alert certificate required", "alert certificate revoked",
                                         "alert certificate expired", "alert unsupported certificate",
                                         "alert access denied"};
    for (size_t i = 0; i < sizeof(alerts) / sizeof(alerts[0]); i++)
        if (strstr(msg, alerts[i]) != NULL)
            return alerts[i] + 6; /* after "alert " */
    return NULL;
}

static void utc(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "%lld", (long long)t);
}

/* The connection failed with err: when our certificate is the likely cause,
 * names it (one line, with the file) into out and returns true.  Teleport's
 * Auth asks for a client certificate with tls.VerifyClientCertIfGiven
 * (lib/auth/middleware.go, NewTLSServer): one that does not verify (expired,
 * not yet valid, from another CA) fails the handshake with a TLS alert, which
 * under TLS 1.3 reaches the client only after its side of the handshake is
 * done, or as the connection closing. */
static bool credentials_problem(const struct teleport_conn *tn, const struct enr_error *err, char *out,
                                size_t size)
{
    const struct identity_file *id = credentials_identity(tn->cr);
    int64_t now = (int64_t)time(NULL), na = identity_file_not_after(id), nb = identity_file_not_before(id);
    const char *alert = alert_of(err->msg);
    char t1[32], t2[32];

    if (now >= na) {
        utc(na, t1, sizeof(t1));
        snprintf(out, size, "credentials %s: certificate expired at %s (%lld s ago): %s refuses it; write a "
                 "fresh identity (tctl auth sign, tbot) and enroller picks it up (%.160s)", credentials_source(tn->cr),
                 t1, (long long)(now - na), tn->addr, err->msg);
        return true;
    }
    if (now < nb) {
        utc(nb, t1, sizeof(t1));
        utc(now, t2, sizeof(t2));
        snprintf(out, size, "credentials %s: certificate not yet valid (valid from %s; now %s: check this "
                 "machine's clock) (%.160s)", credentials_source(tn->cr), t1, t2, err->msg);
        return true;
    }
    if (alert != NULL) {
        snprintf(out, size, "credentials %s: rejected by the server %s (%s%s): the certificate of user %s %s (%.160s)",
                 credentials_source(tn->cr), tn->addr, alert,
                 strcmp(alert, "unknown ca") == 0 || strcmp(alert, "bad certificate") == 0 ? ", unknown CA?" : "",
                 identity_file_user(id),
                 strcmp(alert, "certificate expired") == 0
                     ? "is not yet expired here: check the clocks of this machine and of Auth"
                     : "was not issued by this cluster's user CA, or was revoked",
                 err->msg);
        return true;
    }
    return false;
}

static void on_conn_error(void *ud, const struct enr_error *err)
{
    struct teleport_conn *tn = ud;
    struct enr_error named = {0};
    char why[sizeof(named.msg)];

    /* Backoff is decided in teleport_conn_get(), which may run (from a
     * failed call's callback) before this; a credentials problem is named
     * here, and holds reconnects back even after a completed handshake (the
     * server refused the certificate afterwards). */
    if (!credentials_problem(tn, err, why, sizeof(why))) {
        log_warn(LOG_TELEPORT, "%s", err->msg);
        return;
    }
    log_error(LOG_TELEPORT, "%s", why);
    err_set(&named, err->code ? err->code : -EACCES, "%s", why);
    tn->conn_counted = true;
    tn->retry_at_ms = uv_now(tn->loop) + backoff_next_equal(&tn->backoff, &tn->rng);
    tn->last_connect_err = named;
}

static const struct http2_conn_callbacks conn_cbs = {on_conn_connected, on_conn_error};

/* Keeps c until its streams are done (it is freed by prune_draining). */
static void retire(struct teleport_conn *tn, struct http2_conn *c)
{
    if (http2_conn_n_streams(c) == 0) {
        http2_conn_free(c);
        return;
    }
    if (tn->n_draining == tn->cap_draining) {
        size_t cap = tn->cap_draining ? tn->cap_draining * 2 : 4;
        struct http2_conn **p = realloc(tn->draining, cap * sizeof(*p));
        if (p == NULL) { /* cannot keep it: its calls fail now */
            http2_conn_free(c);
            return;
        }
        tn->draining = p;
        tn->cap_draining = cap;
    }
    tn->draining[tn->n_draining++] = c;
}

static void prune_draining(struct teleport_conn *tn)
{
    size_t j = 0;
    for (size_t i = 0; i < tn->n_draining; i++) {
        if (http2_conn_n_streams(tn->draining[i]) == 0)
            http2_conn_free(tn->draining[i]);
        else
            tn->draining[j++] = tn->draining[i];
    }
    tn->n_draining = j;
}

/* Credentials were reloaded: new calls go to a new connection. */
static void on_credentials(void *ud)
{
    struct teleport_conn *tn = ud;
    log_info(LOG_TELEPORT, "new credentials for %s: new calls use a new connection",
             identity_file_user(credentials_identity(tn->cr)));
    backoff_reset(&tn->backoff);
    tn->retry_at_ms = 0;
}

static int set_alpn_auth(struct teleport_conn *tn, struct enr_error *err)
{
    const char *cluster = tn->cluster ? tn->cluster : identity_file_cluster(credentials_identity(tn->cr));
    static const char hex[] = "0123456789abcdef";
    static const char pre[] = "teleport-auth@", suf[] = ".teleport.cluster.local";
    size_t n, o = 0;

    if (cluster == NULL || cluster[0] == '\0')
        return err_set(err, -EINVAL, "teleport.cluster: needed to go through the Proxy and the identity's CA names no cluster (subject O)");
    n = strlen(cluster);
    if (sizeof(pre) - 1 + 2 * n + sizeof(suf) - 1 > 255)
        return err_set(err, -EINVAL, "teleport.cluster: \"%s\" is too long for an ALPN protocol name", cluster);
    free(tn->alpn_auth);
    if ((tn->alpn_auth = malloc(sizeof(pre) + 2 * n + sizeof(suf))) == NULL)
        return err_set(err, -ENOMEM, "teleport client: out of memory");
    memcpy(tn->alpn_auth, pre, sizeof(pre) - 1);
    o = sizeof(pre) - 1;
    for (size_t i = 0; i < n; i++) {
        tn->alpn_auth[o++] = hex[(unsigned char)cluster[i] >> 4];
        tn->alpn_auth[o++] = hex[(unsigned char)cluster[i] & 15];
    }
    memcpy(tn->alpn_auth + o, suf, sizeof(suf));
    return 0;
}

/* tn->conn never connected: either AUTO switches to the Proxy way (a
 * handshake closed by a Proxy that does not route "h2") or the backoff
 * grows. */
static void count_connect_failure(struct teleport_conn *tn, const struct enr_error *f, uint64_t now)
{
    tn->conn_counted = true;
    if (tn->mode_cfg == TELEPORT_MODE_AUTO && !tn->mode_locked && !tn->switch_pending &&
        tn->mode == TELEPORT_MODE_DIRECT && f->code == -ECONNABORTED) {
        log_info(LOG_TELEPORT, "%s closed the connection during the TLS handshake: trying it as a Proxy with TLS routing",
                 tn->addr);
        tn->mode = TELEPORT_MODE_PROXY;
        tn->switch_pending = true;
        return;
    }
    if (tn->mode_cfg == TELEPORT_MODE_AUTO && !tn->mode_locked)
        tn->mode = TELEPORT_MODE_DIRECT;
    tn->switch_pending = false;
    tn->retry_at_ms = now + backoff_next_equal(&tn->backoff, &tn->rng);
    tn->last_connect_err = *f;
}

struct http2_conn *teleport_conn_get(struct teleport_conn *tn, struct enr_error *err)
{
    struct http2_conn_options o = {
        .addr = tn->addr, .ssl_ctx = credentials_ssl_ctx(tn->cr), .server_name = tn->server_name,
        .connect_timeout_ms = tn->connect_timeout_ms, .keepalive_ms = tn->ka_ms,
        .keepalive_timeout_ms = tn->ka_timeout_ms,
    };
    uint64_t now;

    uv_update_time(tn->loop); /* callers may run between loop iterations */
    now = uv_now(tn->loop);

    prune_draining(tn);
    if (tn->conn != NULL && tn->cred_gen != credentials_generation(tn->cr)) {
        retire(tn, tn->conn); /* credentials changed: calls in flight finish there */
        tn->conn = NULL;
    }
    if (tn->conn != NULL && http2_conn_usable(tn->conn))
        return tn->conn;
    if (tn->conn != NULL && !tn->conn_connected && !tn->conn_counted && http2_conn_failure(tn->conn)->code != 0)
        count_connect_failure(tn, http2_conn_failure(tn->conn), now);
    if (tn->conn != NULL && tn->retry_at_ms > now) {
        err_set_grpc(err, GRPC_STATUS_UNAVAILABLE, "UNAVAILABLE: not reconnecting for %llu ms after: %s",
                     (unsigned long long)(tn->retry_at_ms - now), tn->last_connect_err.msg);
        return NULL;
    }
    if (tn->conn != NULL) {
        retire(tn, tn->conn); /* GOAWAY: let it finish */
        tn->conn = NULL;
    }
    if (tn->mode == TELEPORT_MODE_PROXY) {
        if (set_alpn_auth(tn, err) < 0)
            return NULL;
        o.alpn[0] = tn->alpn_auth;
        o.alpn[1] = "h2";
    }
    tn->conn_connected = false;
    tn->conn_counted = false;
    tn->cred_gen = credentials_generation(tn->cr);
    tn->conn = http2_conn_connect(tn->loop, &o, &conn_cbs, tn, err);
    if (tn->conn != NULL)
        tn->n_connects++;
    return tn->conn;
}

bool teleport_conn_retryable(const struct teleport_conn *tn, const struct http2_conn *conn,
                             const struct enr_error *err)
{
    if (err->code == -EAGAIN) /* refused after GOAWAY: never processed */
        return true;
    /* AUTO mode, closed during the handshake: teleport_conn_get switches to the Proxy way. */
    return err->code == -ECONNABORTED && tn->mode_cfg == TELEPORT_MODE_AUTO && !tn->mode_locked &&
           (tn->mode == TELEPORT_MODE_DIRECT || conn != tn->conn);
}

struct teleport_conn *teleport_conn_new(uv_loop_t *loop, const struct teleport_conn_config *cfg,
                                        struct enr_error *err)
{
    struct teleport_conn *tn = calloc(1, sizeof(*tn));
    struct credentials_config cc = {0};

    if (tn == NULL) {
        err_set(err, -ENOMEM, "teleport client: out of memory");
        return NULL;
    }
    tn->loop = loop;
    tn->connect_timeout_ms = cfg->connect_timeout_ms;
    tn->ka_ms = cfg->keepalive_ms;
    tn->ka_timeout_ms = cfg->keepalive_timeout_ms;
    tn->mode_cfg = cfg->mode;
    tn->mode = cfg->mode == TELEPORT_MODE_PROXY ? TELEPORT_MODE_PROXY : TELEPORT_MODE_DIRECT;
    backoff_init(&tn->backoff, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
    backoff_rng_seed(&tn->rng);
    if (cfg->addr == NULL || cfg->addr[0] == '\0') {
        err_set(err, -EINVAL, "teleport.addr: missing");
        goto fail;
    }
    if ((cfg->identity_file == NULL || cfg->identity_file[0] == '\0') &&
        (cfg->tbot_dir == NULL || cfg->tbot_dir[0] == '\0')) {
        err_set(err, -EINVAL, "teleport.identity: missing (or teleport.tbot_dir)");
        goto fail;
    }
    tn->addr = strdup(cfg->addr);
    tn->server_name = strdup(cfg->server_name ? cfg->server_name : HTTP2_CONN_DEFAULT_SERVER_NAME);
    if (tn->addr == NULL || tn->server_name == NULL ||
        (cfg->cluster != NULL && (tn->cluster = strdup(cfg->cluster)) == NULL)) {
        err_set(err, -ENOMEM, "teleport client: out of memory");
        goto fail;
    }
    cc.identity_file = cfg->identity_file && cfg->identity_file[0] ? cfg->identity_file : NULL;
    cc.tbot_dir = cfg->tbot_dir && cfg->tbot_dir[0] ? cfg->tbot_dir : NULL;
    cc.watch = cfg->watch_credentials;
    cc.debounce_ms = cfg->reload_debounce_ms;
    if ((tn->cr = credentials_new(loop, &cc, on_credentials, tn, err)) == NULL)
        goto fail;
    if (cfg->mode == TELEPORT_MODE_PROXY && set_alpn_auth(tn, err) < 0)
        goto fail;
    return tn;
fail:
    teleport_conn_free(tn);
    return NULL;
}

void teleport_conn_free(struct teleport_conn *tn)
{
    if (tn == NULL)
        return;
    http2_conn_free(tn->conn);
    for (size_t i = 0; i < tn->n_draining; i++)
        http2_conn_free(tn->draining[i]);
    free(tn->draining);
    credentials_free(tn->cr);
    free(tn->addr);
    free(tn->server_name);
    free(tn->cluster);
    free(tn->alpn_auth);
    free(tn);
}

uv_loop_t *teleport_conn_loop(const struct teleport_conn *tn) { return tn->loop; }

const char *teleport_conn_server_name(const struct teleport_conn *tn) { return tn->server_name; }

const struct identity_file *teleport_conn_identity(const struct teleport_conn *tn)
{
    return credentials_identity(tn->cr);
}

enum teleport_mode teleport_conn_mode(const struct teleport_conn *tn)
{
    return tn->mode_locked || tn->mode_cfg != TELEPORT_MODE_AUTO ? tn->mode : TELEPORT_MODE_AUTO;
}

unsigned teleport_conn_n_connects(const struct teleport_conn *tn) { return tn->n_connects; }

unsigned teleport_conn_credentials_generation(const struct teleport_conn *tn)
{
    return credentials_generation(tn->cr);
}
