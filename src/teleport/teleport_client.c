/* teleport_client.c - see teleport_client.h.
 *
 * Every RPC is a unary gRPC call (tc_call) on the shared HTTP/2 connection:
 * the request is packed with protobuf-c and framed, the reply assembled by
 * grpc_frame, and the status taken from grpc-status/grpc-message.  An
 * operation (tc_op) holds the user's callback and, for ListResources, the
 * paging state; it may issue several calls one after the other.
 *
 * Connection policy: opened lazily; reused while usable; after GOAWAY or a
 * credentials reload the old connection drains its streams while new calls
 * use a fresh one; a call the server never processed (refused after
 * GOAWAY) is sent again on the new connection.  After a failed connect,
 * calls fail fast with UNAVAILABLE for a backoff period: exponential from
 * 250 ms to 30 s, "equal jitter" (half fixed, half random) so many
 * enrollers do not reconnect in step.
 *
 * Mode (teleport_mode): in AUTO the first connection offers ALPN ["h2"] as
 * to an Auth listener.  A Teleport Proxy with TLS routing does not route
 * "h2" to Auth and closes the connection during the handshake without an
 * alert; that failure (-ECONNABORTED) switches to the Proxy ALPN list and
 * the calls are retried at once.  The first mode that connects is kept. */
#include "teleport/teleport_client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "teleport/legacy/client/proto/authservice.pb-c.h"
#include "teleport/legacy/types/types.pb-c.h"

#include "teleport/credentials.h"
#include "teleport/teleport_convert.h"

#include <openssl/crypto.h>
#include "net/grpc_frame.h"
#include "net/http2_conn.h"
#include "teleport/identity_file.h"
#include "base/log.h"

#ifndef ENR_VERSION
#define ENR_VERSION "dev"
#endif

#define DEFAULT_TIMEOUT_MS 10000u
#define BACKOFF_MIN_MS 250u
#define BACKOFF_MAX_MS 30000u
#define LIST_PAGE_SIZE 500
#define MAX_RETRIES 3

struct tc_op;
typedef void (*op_finish_fn)(struct tc_op *op, const struct enr_error *err, const uint8_t *msg, size_t len);

struct tc_op {
    struct teleport_client *tc;
    op_finish_fn finish;
    int (*on_msg)(struct tc_op *op, const uint8_t *msg, size_t len); /* server streams */
    void *ud;
    teleport_done_cb done_cb;
    teleport_ping_cb ping_cb;
    teleport_list_cb list_cb;
    char *secret;                 /* CreateTokenV2: the token, scrubbed from error messages */
    teleport_event_cb event_cb;   /* WatchEvents */
    int watch_id;
    const char *what;             /* list operations: "GetApps", "GetDatabases" */
    /* ListResources paging */
    int32_t limit;
    char *start_key;
    struct resource_list acc;
};

/* Receive limit for the unpaginated list calls (GetApps, GetDatabases). */
#define TELEPORT_CLIENT_LIST_MAX ((size_t)64 << 20)

struct tc_call {
    struct teleport_client *tc;
    struct http2_conn *conn;
    int32_t stream_id;
    uv_timer_t timer;
    bool timer_init, done;
    char what[192];               /* `CreateApp "x"`: prefix of every error message */
    unsigned timeout_ms;
    struct grpc_frame_decoder dec;
    struct grpc_frame_status st;
    int http_status;
    uint8_t *msg;                 /* the one reply message */
    size_t msg_len;
    int n_msgs;
    struct enr_error local;       /* a failure noticed while reading the reply */
    char path[128];
    uint8_t *framed;              /* the request, kept to send it again */
    size_t framed_len;
    int retries;
    size_t max_msg;               /* receive limit for one reply message */
    bool streaming;               /* server stream: each message goes to op->on_msg */
    bool dispatching;             /* inside on_stream_data: release waits for its end */
    bool release_pending;
    struct tc_op *op;
    struct tc_call *prev, *next;
};

struct teleport_client {
    uv_loop_t *loop;
    char *addr, *server_name;
    char *cluster;                /* from the config, NULL: the identity's CA */
    char *alpn_auth;              /* "teleport-auth@<hex>.teleport.cluster.local" */
    unsigned timeout_ms, ka_ms, ka_timeout_ms;
    enum teleport_mode mode_cfg, mode; /* configured; in use (AUTO: DIRECT until the Proxy way is needed) */
    bool mode_locked;             /* a connection succeeded in tc->mode */
    bool switch_pending;          /* AUTO: the next connection uses the other mode, no backoff */
    struct credentials *cr;
    unsigned cred_gen;            /* generation tc->conn was opened with */
    unsigned n_connects;
    int next_watch_id;
    uint64_t rng;
    struct http2_conn *conn;      /* current connection, NULL before the first call */
    struct http2_conn **draining; /* older ones, finishing their streams */
    size_t n_draining, cap_draining;
    bool conn_connected;          /* tc->conn finished its handshake */
    bool conn_counted;            /* tc->conn's connect failure already set the backoff */
    struct tc_call *calls;        /* in flight */
    unsigned backoff_ms;
    uint64_t retry_at_ms;         /* uv_now before which no reconnect is tried */
    struct enr_error last_connect_err;
};

static int call_submit(struct tc_call *call, struct enr_error *err);

/* ---- operations ---- */

static struct tc_op *op_new(struct teleport_client *tc, op_finish_fn finish, void *ud)
{
    struct tc_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    op->tc = tc;
    op->finish = finish;
    op->ud = ud;
    resource_list_init(&op->acc);
    return op;
}

static void op_free(struct tc_op *op)
{
    if (op == NULL)
        return;
    free(op->start_key);
    resource_list_cleanup(&op->acc);
    if (op->secret != NULL) {
        memset(op->secret, 0, strlen(op->secret));
        free(op->secret);
    }
    free(op);
}

/* ---- one gRPC call ---- */

static void call_closed(uv_handle_t *h)
{
    struct tc_call *call = h->data;
    free(call);
}

static void call_release(struct tc_call *call)
{
    if (call->dispatching) { /* freed from a stream callback: on_stream_data finishes it */
        call->release_pending = true;
        return;
    }
    grpc_frame_decoder_cleanup(&call->dec);
    grpc_frame_status_cleanup(&call->st);
    free(call->msg);
    call->msg = NULL;
    free(call->framed);
    call->framed = NULL;
    if (call->timer_init)
        uv_close((uv_handle_t *)&call->timer, call_closed);
    else
        free(call);
}

static void call_unlink(struct tc_call *call)
{
    struct teleport_client *tc = call->tc;
    if (call->prev)
        call->prev->next = call->next;
    else
        tc->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
}

/* Ends the call exactly once: the operation's finish runs with err (NULL on
 * success) or the reply message. */
static void call_finish(struct tc_call *call, const struct enr_error *err)
{
    struct tc_op *op = call->op;
    if (call->done)
        return;
    call->done = true;
    uv_timer_stop(&call->timer);
    call_unlink(call);
    call->op = NULL;
    op->finish(op, err, err ? NULL : call->msg, err ? 0 : call->msg_len);
    call_release(call);
}

/* An error for this call: `<what>: <STATUS>: <message>`. */
static void call_fail(struct tc_call *call, int status, const char *msg)
{
    struct enr_error err;
    err_set_grpc(&err, status, "%s: %s: %s", call->what, err_grpc_name(status), msg);
    call_finish(call, &err);
}

static void on_deadline(uv_timer_t *t)
{
    struct tc_call *call = t->data;
    char msg[96];
    if (call->conn != NULL)
        http2_conn_cancel(call->conn, call->stream_id);
    snprintf(msg, sizeof(msg), "no reply within %u ms", call->timeout_ms);
    call_fail(call, GRPC_STATUS_DEADLINE_EXCEEDED, msg);
}

static bool hname(const char *n, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(n, want, len) == 0;
}

static void on_stream_header(void *ud, const char *name, size_t name_len, const char *value, size_t value_len,
                             bool trailer)
{
    struct tc_call *call = ud;
    (void)trailer; /* trailers-only replies carry the status in the headers */
    if (hname(name, name_len, ":status")) {
        call->http_status = 0;
        for (size_t i = 0; i < value_len && i < 3; i++)
            call->http_status = call->http_status * 10 + (value[i] - '0');
        return;
    }
    if (call->local.code == 0)
        grpc_frame_status_header(&call->st, name, name_len, value, value_len, &call->local);
}

static int on_message(void *ud, const uint8_t *msg, size_t len)
{
    struct tc_call *call = ud;
    if (call->streaming) {
        if (call->op == NULL || call->release_pending)
            return 1; /* cancelled from the event callback: stop */
        call->n_msgs++;
        return call->op->on_msg(call->op, msg, len) < 0 ? err_set(&call->local, -EPROTO, "%s", "cannot use a streamed message") : 0;
    }
    if (++call->n_msgs > 1)
        return err_set(&call->local, -EPROTO, "more than one reply message on a unary call");
    call->msg = malloc(len ? len : 1);
    if (call->msg == NULL)
        return err_set(&call->local, -ENOMEM, "out of memory");
    memcpy(call->msg, msg, len);
    call->msg_len = len;
    return 0;
}

static void on_stream_data(void *ud, const uint8_t *data, size_t len)
{
    struct tc_call *call = ud;
    if (call->local.code != 0 || call->release_pending)
        return;
    call->dispatching = true;
    grpc_frame_decoder_feed(&call->dec, data, len, on_message, call, &call->local);
    call->dispatching = false;
    if (call->release_pending)
        call_release(call);
}

/* gRPC's mapping of HTTP statuses for replies without grpc-status. */
static int http_to_grpc(int http)
{
    switch (http) {
    case 400: return GRPC_STATUS_INTERNAL;
    case 401: return GRPC_STATUS_UNAUTHENTICATED;
    case 403: return GRPC_STATUS_PERMISSION_DENIED;
    case 404: return GRPC_STATUS_UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return GRPC_STATUS_UNAVAILABLE;
    default: return GRPC_STATUS_UNKNOWN;
    }
}

static bool call_retryable(const struct tc_call *call, const struct enr_error *err)
{
    const struct teleport_client *tc = call->tc;
    if (err->code == -EAGAIN) /* refused after GOAWAY: never processed */
        return true;
    /* AUTO mode, closed during the handshake: get_conn switches to the Proxy way. */
    return err->code == -ECONNABORTED && tc->mode_cfg == TELEPORT_MODE_AUTO && !tc->mode_locked &&
           (tc->mode == TELEPORT_MODE_DIRECT || call->conn != tc->conn);
}

static void on_stream_close(void *ud, const struct enr_error *err)
{
    struct tc_call *call = ud;
    char msg[ENR_ERROR_MSG_LEN];

    if (err != NULL && call->retries < MAX_RETRIES && call->n_msgs == 0 && call_retryable(call, err)) {
        struct enr_error e2 = {0};
        call->retries++;
        log_debug(LOG_TELEPORT, "%s: %s; sending it again", call->what, err->msg);
        grpc_frame_decoder_cleanup(&call->dec);
        grpc_frame_decoder_init(&call->dec, call->max_msg);
        grpc_frame_status_cleanup(&call->st);
        grpc_frame_status_init(&call->st);
        call->http_status = 0;
        err_clear(&call->local);
        if (call_submit(call, &e2) == 0)
            return;
        call->conn = NULL; /* no stream to cancel */
        call_fail(call, e2.grpc_status ? e2.grpc_status : GRPC_STATUS_UNAVAILABLE, e2.msg);
        return;
    }
    if (err != NULL) {
        call_fail(call, err->grpc_status ? err->grpc_status : GRPC_STATUS_UNAVAILABLE, err->msg);
        return;
    }
    if (call->local.code != 0) {
        call_fail(call, call->local.code == -EMSGSIZE ? GRPC_STATUS_RESOURCE_EXHAUSTED : GRPC_STATUS_INTERNAL,
                  call->local.msg);
        return;
    }
    if (call->http_status != 200) {
        snprintf(msg, sizeof(msg), "HTTP status %d from the server", call->http_status);
        call_fail(call, http_to_grpc(call->http_status), msg);
        return;
    }
    if (!call->st.have_status) {
        call_fail(call, GRPC_STATUS_INTERNAL, "reply without grpc-status");
        return;
    }
    if (call->st.status != GRPC_STATUS_OK) {
        call_fail(call, call->st.status, call->st.message ? call->st.message : "");
        return;
    }
    if (grpc_frame_decoder_finish(&call->dec, &call->local) < 0) {
        call_fail(call, GRPC_STATUS_INTERNAL, call->local.msg);
        return;
    }
    if (!call->streaming && call->n_msgs != 1) {
        call_fail(call, GRPC_STATUS_INTERNAL, "OK status without a reply message");
        return;
    }
    call_finish(call, NULL);
}

static const struct http2_stream_callbacks stream_cbs = {on_stream_header, on_stream_data, on_stream_close};

/* ---- connection ---- */

static void on_conn_connected(void *ud)
{
    struct teleport_client *tc = ud;
    tc->conn_connected = true;
    tc->backoff_ms = 0;
    tc->retry_at_ms = 0;
    log_info(LOG_TELEPORT, "connected to %s as %s (%s)", tc->addr,
                 identity_file_user(credentials_identity(tc->cr)),
                 tc->mode == TELEPORT_MODE_PROXY ? "through the Proxy, TLS routing" : "Auth Service, direct");
    tc->mode_locked = true;
}

static void on_conn_error(void *ud, const struct enr_error *err)
{
    struct teleport_client *tc = ud;
    /* Backoff is decided in get_conn(), which may run (from a failed call's
     * callback) before this; here we only log. */
    (void)tc;
    log_warn(LOG_TELEPORT, "%s", err->msg);
}

static const struct http2_conn_callbacks conn_cbs = {on_conn_connected, on_conn_error};

static uint64_t rng_next(struct teleport_client *tc)
{
    tc->rng ^= tc->rng << 13;
    tc->rng ^= tc->rng >> 7;
    tc->rng ^= tc->rng << 17;
    return tc->rng;
}

/* Keeps c until its streams are done (it is freed by prune_draining). */
static void retire(struct teleport_client *tc, struct http2_conn *c)
{
    if (http2_conn_n_streams(c) == 0) {
        http2_conn_free(c);
        return;
    }
    if (tc->n_draining == tc->cap_draining) {
        size_t cap = tc->cap_draining ? tc->cap_draining * 2 : 4;
        struct http2_conn **p = realloc(tc->draining, cap * sizeof(*p));
        if (p == NULL) { /* cannot keep it: its calls fail now */
            http2_conn_free(c);
            return;
        }
        tc->draining = p;
        tc->cap_draining = cap;
    }
    tc->draining[tc->n_draining++] = c;
}

static void prune_draining(struct teleport_client *tc)
{
    size_t j = 0;
    for (size_t i = 0; i < tc->n_draining; i++) {
        if (http2_conn_n_streams(tc->draining[i]) == 0)
            http2_conn_free(tc->draining[i]);
        else
            tc->draining[j++] = tc->draining[i];
    }
    tc->n_draining = j;
}

/* Credentials were reloaded: new calls go to a new connection. */
static void on_credentials(void *ud)
{
    struct teleport_client *tc = ud;
    log_info(LOG_TELEPORT, "new credentials for %s: new calls use a new connection",
             identity_file_user(credentials_identity(tc->cr)));
    tc->backoff_ms = 0;
    tc->retry_at_ms = 0;
}

static int set_alpn_auth(struct teleport_client *tc, struct enr_error *err)
{
    const char *cluster = tc->cluster ? tc->cluster : identity_file_cluster(credentials_identity(tc->cr));
    static const char hex[] = "0123456789abcdef";
    static const char pre[] = "teleport-auth@", suf[] = ".teleport.cluster.local";
    size_t n, o = 0;

    if (cluster == NULL || cluster[0] == '\0')
        return err_set(err, -EINVAL, "teleport.cluster: needed to go through the Proxy and the identity's CA names no cluster (subject O)");
    n = strlen(cluster);
    if (sizeof(pre) - 1 + 2 * n + sizeof(suf) - 1 > 255)
        return err_set(err, -EINVAL, "teleport.cluster: \"%s\" is too long for an ALPN protocol name", cluster);
    free(tc->alpn_auth);
    if ((tc->alpn_auth = malloc(sizeof(pre) + 2 * n + sizeof(suf))) == NULL)
        return err_set(err, -ENOMEM, "teleport client: out of memory");
    memcpy(tc->alpn_auth, pre, sizeof(pre) - 1);
    o = sizeof(pre) - 1;
    for (size_t i = 0; i < n; i++) {
        tc->alpn_auth[o++] = hex[(unsigned char)cluster[i] >> 4];
        tc->alpn_auth[o++] = hex[(unsigned char)cluster[i] & 15];
    }
    memcpy(tc->alpn_auth + o, suf, sizeof(suf));
    return 0;
}

static struct http2_conn *get_conn(struct teleport_client *tc, struct enr_error *err)
{
    struct http2_conn_options o = {
        .addr = tc->addr, .ssl_ctx = credentials_ssl_ctx(tc->cr), .server_name = tc->server_name,
        .connect_timeout_ms = tc->timeout_ms, .keepalive_ms = tc->ka_ms, .keepalive_timeout_ms = tc->ka_timeout_ms,
    };
    uint64_t now;

    uv_update_time(tc->loop); /* callers may run between loop iterations */
    now = uv_now(tc->loop);

    prune_draining(tc);
    if (tc->conn != NULL && tc->cred_gen != credentials_generation(tc->cr)) {
        retire(tc, tc->conn); /* credentials changed: calls in flight finish there */
        tc->conn = NULL;
    }
    if (tc->conn != NULL && http2_conn_usable(tc->conn))
        return tc->conn;
    if (tc->conn != NULL && !tc->conn_connected && !tc->conn_counted && http2_conn_failure(tc->conn)->code != 0) {
        const struct enr_error *f = http2_conn_failure(tc->conn);
        tc->conn_counted = true;
        if (tc->mode_cfg == TELEPORT_MODE_AUTO && !tc->mode_locked && !tc->switch_pending &&
            tc->mode == TELEPORT_MODE_DIRECT && f->code == -ECONNABORTED) {
            /* Closed during the handshake: a Proxy that does not route "h2". */
            log_info(LOG_TELEPORT, "%s closed the connection during the TLS handshake: trying it as a Proxy with TLS routing",
                     tc->addr);
            tc->mode = TELEPORT_MODE_PROXY;
            tc->switch_pending = true;
        } else {
            /* The last connect attempt failed: wait before the next one. */
            if (tc->mode_cfg == TELEPORT_MODE_AUTO && !tc->mode_locked)
                tc->mode = TELEPORT_MODE_DIRECT;
            tc->switch_pending = false;
            tc->backoff_ms = tc->backoff_ms ? tc->backoff_ms * 2 : BACKOFF_MIN_MS;
            if (tc->backoff_ms > BACKOFF_MAX_MS)
                tc->backoff_ms = BACKOFF_MAX_MS;
            tc->retry_at_ms = now + tc->backoff_ms / 2 + rng_next(tc) % (tc->backoff_ms / 2 + 1);
            tc->last_connect_err = *f;
        }
    }
    if (tc->conn != NULL && tc->retry_at_ms > now) {
        err_set_grpc(err, GRPC_STATUS_UNAVAILABLE, "UNAVAILABLE: not reconnecting for %llu ms after: %s",
                     (unsigned long long)(tc->retry_at_ms - now), tc->last_connect_err.msg);
        return NULL;
    }
    if (tc->conn != NULL) {
        retire(tc, tc->conn); /* GOAWAY: let it finish */
        tc->conn = NULL;
    }
    if (tc->mode == TELEPORT_MODE_PROXY) {
        if (set_alpn_auth(tc, err) < 0)
            return NULL;
        o.alpn[0] = tc->alpn_auth;
        o.alpn[1] = "h2";
    }
    tc->conn_connected = false;
    tc->conn_counted = false;
    tc->cred_gen = credentials_generation(tc->cr);
    tc->conn = http2_conn_connect(tc->loop, &o, &conn_cbs, tc, err);
    if (tc->conn != NULL)
        tc->n_connects++;
    return tc->conn;
}

/* Opens the call's stream on the current connection (again, for a retry). */
static int call_submit(struct tc_call *call, struct enr_error *err)
{
    struct teleport_client *tc = call->tc;
    char timeout[GRPC_FRAME_TIMEOUT_LEN];
    struct http2_conn *conn;
    size_t n_hdrs;

    grpc_frame_timeout_format(call->timeout_ms, timeout);
    const struct http2_header hdrs[] = {
        {":method", "POST"},
        {":scheme", "https"},
        {":path", call->path},
        {":authority", tc->server_name},
        {"content-type", "application/grpc"},
        {"te", "trailers"},
        {"user-agent", "enroller/" ENR_VERSION},
        {"grpc-timeout", timeout}, /* last: left out for a stream without deadline */
    };
    n_hdrs = sizeof(hdrs) / sizeof(hdrs[0]) - (call->timeout_ms == 0);
    if ((conn = get_conn(tc, err)) == NULL) {
        int rc = err->code ? err->code : -ENOMEM;
        err_wrap(err, "%s", call->what);
        return rc;
    }
    call->conn = conn;
    call->stream_id = http2_conn_submit(conn, hdrs, n_hdrs, call->framed, call->framed_len, &stream_cbs, call, err);
    if (call->stream_id < 0) {
        err_wrap(err, "%s", call->what);
        return call->stream_id;
    }
    return 0;
}

/* Frames the packed request, opens a stream and arms the deadline
 * (timeout_ms 0: none, for a server stream).  On failure the operation is
 * untouched (the caller still owns it). */
static int call_start_full(struct teleport_client *tc, const char *path_method, const char *what,
                           const uint8_t *packed, size_t len, unsigned timeout_ms, bool streaming, struct tc_op *op,
                           struct tc_call **out, struct enr_error *err)
{
    struct tc_call *call = NULL;
    int rc;

    struct enr_error tmp;
    if (err == NULL)
        err = &tmp;
    if ((call = calloc(1, sizeof(*call))) == NULL)
        return err_set(err, -ENOMEM, "%s: out of memory", what);
    call->tc = tc;
    call->op = op;
    call->timeout_ms = timeout_ms;
    call->streaming = streaming;
    snprintf(call->what, sizeof(call->what), "%s", what);
    snprintf(call->path, sizeof(call->path), "/proto.AuthService/%s", path_method);
    /* GetApps and GetDatabases are not paginated in v16/v17 (authservice.proto in v16/v17):
     * a large cluster's whole list exceeds grpc-go's 4 MiB default, so these
     * two replies may be larger.  Everything else keeps the default. */
    call->max_msg = strcmp(path_method, "GetApps") == 0 || strcmp(path_method, "GetDatabases") == 0
                        ? TELEPORT_CLIENT_LIST_MAX
                        : 0;
    grpc_frame_decoder_init(&call->dec, call->max_msg);
    grpc_frame_status_init(&call->st);
    if ((rc = grpc_frame_encode(packed, len, &call->framed, &call->framed_len, err)) < 0)
        goto fail;
    if ((rc = call_submit(call, err)) < 0)
        goto fail;
    uv_timer_init(tc->loop, &call->timer); /* cannot fail for timers */
    call->timer_init = true;
    call->timer.data = call;
    if (timeout_ms > 0)
        uv_timer_start(&call->timer, on_deadline, timeout_ms, 0);
    call->next = tc->calls;
    if (tc->calls)
        tc->calls->prev = call;
    tc->calls = call;
    if (out != NULL)
        *out = call;
    return 0;
fail:
    call->op = NULL;
    call_release(call);
    return rc;
}

static int call_start_packed(struct teleport_client *tc, const char *path_method, const char *what,
                             const uint8_t *packed, size_t len, struct tc_op *op, struct enr_error *err)
{
    return call_start_full(tc, path_method, what, packed, len, tc->timeout_ms, false, op, NULL, err);
}

static int call_start(struct teleport_client *tc, const char *path_method, const char *what,
                      const ProtobufCMessage *req, struct tc_op *op, struct enr_error *err)
{
    size_t len = protobuf_c_message_get_packed_size(req);
    uint8_t *packed = malloc(len ? len : 1);
    int rc;

    if (packed == NULL)
        return err_set(err, -ENOMEM, "%s: out of memory", what);
    protobuf_c_message_pack(req, packed);
    rc = call_start_packed(tc, path_method, what, packed, len, op, err);
    free(packed);
    return rc;
}

static const char *nz(const char *s) { return s ? s : ""; }

/* ---- finishing each operation ---- */

static void finish_done(struct tc_op *op, const struct enr_error *err, const uint8_t *msg, size_t len)
{
    (void)msg, (void)len; /* google.protobuf.Empty */
    op->done_cb(op->ud, err);
    op_free(op);
}

/* The server may quote the token in its message (ALREADY_EXISTS, ...); the
 * message ends up in logs, so every occurrence is replaced. */
static void finish_token(struct tc_op *op, const struct enr_error *err, const uint8_t *msg, size_t len)
{
    struct enr_error clean;
    (void)msg, (void)len;
    if (err != NULL && op->secret[0] != '\0' && strstr(err->msg, op->secret) != NULL) {
        size_t slen = strlen(op->secret), o = 0;
        const char *red = log_redact(op->secret);
        clean = *err;
        for (const char *p = err->msg; *p != '\0' && o + 1 < sizeof(clean.msg);) {
            if (strncmp(p, op->secret, slen) == 0) {
                o += (size_t)snprintf(clean.msg + o, sizeof(clean.msg) - o, "%s", red);
                if (o >= sizeof(clean.msg))
                    o = sizeof(clean.msg) - 1;
                p += slen;
            } else {
                clean.msg[o++] = *p++;
            }
        }
        clean.msg[o] = '\0';
        err = &clean;
    }
    op->done_cb(op->ud, err);
    op_free(op);
}

static void finish_ping(struct tc_op *op, const struct enr_error *err, const uint8_t *msg, size_t len)
{
    Proto__PingResponse *resp = NULL;
    struct enr_error e;
    if (err == NULL && (resp = proto__ping_response__unpack(NULL, len, msg)) == NULL)
        err = &e, err_set_grpc(&e, GRPC_STATUS_INTERNAL, "Ping: INTERNAL: cannot decode PingResponse");
    if (err != NULL)
        op->ping_cb(op->ud, err, NULL, NULL);
    else
        op->ping_cb(op->ud, NULL, nz(resp->clustername), nz(resp->serverversion));
    proto__ping_response__free_unpacked(resp, NULL);
    op_free(op);
}

static void finish_get_apps(struct tc_op *op, const struct enr_error *err, const uint8_t *msg, size_t len)
{
    Types__AppV3List *list = NULL;
    struct enr_error e;
    if (err == NULL && (list = types__app_v3_list__unpack(NULL, len, msg)) == NULL)
        err = &e, err_set_grpc(&e, GRPC_STATUS_INTERNAL, "GetApps: INTERNAL: cannot decode AppV3List");
    for (size_t i = 0; err == NULL && i < list->n_apps; i++) {
        struct resource *r = resource_list_push(&op->acc);
        if (r == NULL || teleport_convert_from_app(list->apps[i], r) < 0)
            err = &e, err_set(&e, -ENOMEM, "GetApps: out of memory");
    }
    op->list_cb(op->ud, err, err ? NULL : &op->acc);
    types__app_v3_list__free_unpacked(list, NULL);
    op_free(op);
}

static int list_page(struct tc_op *op, struct enr_error *err);

static void finish_list_page(struct tc_op *op, const struct enr_error *err, const uint8_t *msg, size_t len)
{
    Proto__ListResourcesResponse *resp = NULL;
    struct enr_error e;

    if (err != NULL && err->grpc_status == GRPC_STATUS_RESOURCE_EXHAUSTED && op->limit > 1) {
        /* The page did not fit in a message: halve it, as the Go client does. */
        op->limit /= 2;
        log_debug(LOG_TELEPORT, "ListResources(app_server): page too large, retrying with limit %d", (int)op->limit);
        if (list_page(op, &e) == 0)
            return;
        err = &e;
    }
    if (err == NULL && (resp = proto__list_resources_response__unpack(NULL, len, msg)) == NULL)
        err = &e, err_set_grpc(&e, GRPC_STATUS_INTERNAL,
                               "ListResources(app_server): INTERNAL: cannot decode ListResourcesResponse");
    for (size_t i = 0; err == NULL && i < resp->n_resources; i++) {
        const Proto__PaginatedResource *pr = resp->resources[i];
        if (pr->resource_case != PROTO__PAGINATED_RESOURCE__RESOURCE_APP_SERVER || pr->appserver == NULL ||
            pr->appserver->spec == NULL || pr->appserver->spec->app == NULL)
            continue;
        struct resource *r = resource_list_push(&op->acc);
        if (r == NULL || teleport_convert_from_app(pr->appserver->spec->app, r) < 0 ||
            resource_set_str(&r->container_id, nz(pr->appserver->spec->hostid)) < 0)
            err = &e, err_set(&e, -ENOMEM, "ListResources(app_server): out of memory");
    }
    if (err == NULL && resp->nextkey != NULL && resp->nextkey[0] != '\0') {
        if (op->start_key != NULL && strcmp(op->start_key, resp->nextkey) == 0) {
            err = &e, err_set_grpc(&e, GRPC_STATUS_INTERNAL,
                                   "ListResources(app_server): INTERNAL: server returned the same page key \"%s\" again",
                                   resp->nextkey);
        } else {
            free(op->start_key);
            if ((op->start_key = strdup(resp->nextkey)) == NULL)
                err = &e, err_set(&e, -ENOMEM, "ListResources(app_server): out of memory");
            else if (list_page(op, &e) == 0) {
                proto__list_resources_response__free_unpacked(resp, NULL);
                return;
            } else
                err = &e;
        }
    }
    op->list_cb(op->ud, err, err ? NULL : &op->acc);
    proto__list_resources_response__free_unpacked(resp, NULL);
    op_free(op);
}

static int list_page(struct tc_op *op, struct enr_error *err)
{
    uint8_t *packed = NULL;
    size_t len = 0;
    int rc;
    if (teleport_convert_pack_list_resources("app_server", op->limit, op->start_key, NULL, &packed, &len) < 0)
        return err_set(err, -ENOMEM, "ListResources(app_server): out of memory");
    rc = call_start_packed(op->tc, "ListResources", "ListResources(app_server)", packed, len, op, err);
    free(packed);
    return rc;
}

/* ---- public API ---- */

struct teleport_client *teleport_client_new(uv_loop_t *loop, const struct teleport_client_config *cfg,
                                            struct enr_error *err)
{
    struct teleport_client *tc = calloc(1, sizeof(*tc));
    struct credentials_config cc = {0};

    if (tc == NULL) {
        err_set(err, -ENOMEM, "teleport client: out of memory");
        return NULL;
    }
    tc->loop = loop;
    tc->timeout_ms = cfg->call_timeout_ms ? cfg->call_timeout_ms : DEFAULT_TIMEOUT_MS;
    tc->ka_ms = cfg->keepalive_ms;
    tc->ka_timeout_ms = cfg->keepalive_timeout_ms;
    tc->mode_cfg = cfg->mode;
    tc->mode = cfg->mode == TELEPORT_MODE_PROXY ? TELEPORT_MODE_PROXY : TELEPORT_MODE_DIRECT;
    tc->rng = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)(uintptr_t)tc;
    if (tc->rng == 0)
        tc->rng = 1;
    if (cfg->addr == NULL || cfg->addr[0] == '\0') {
        err_set(err, -EINVAL, "teleport.addr: missing");
        goto fail;
    }
    if ((cfg->identity_file == NULL || cfg->identity_file[0] == '\0') &&
        (cfg->tbot_dir == NULL || cfg->tbot_dir[0] == '\0')) {
        err_set(err, -EINVAL, "teleport.identity: missing (or teleport.tbot_dir)");
        goto fail;
    }
    tc->addr = strdup(cfg->addr);
    tc->server_name = strdup(cfg->server_name ? cfg->server_name : HTTP2_CONN_DEFAULT_SERVER_NAME);
    if (tc->addr == NULL || tc->server_name == NULL || (cfg->cluster != NULL && (tc->cluster = strdup(cfg->cluster)) == NULL)) {
        err_set(err, -ENOMEM, "teleport client: out of memory");
        goto fail;
    }
    cc.identity_file = cfg->identity_file && cfg->identity_file[0] ? cfg->identity_file : NULL;
    cc.tbot_dir = cfg->tbot_dir && cfg->tbot_dir[0] ? cfg->tbot_dir : NULL;
    cc.watch = cfg->watch_credentials;
    cc.debounce_ms = cfg->reload_debounce_ms;
    if ((tc->cr = credentials_new(loop, &cc, on_credentials, tc, err)) == NULL)
        goto fail;
    if (cfg->mode == TELEPORT_MODE_PROXY && set_alpn_auth(tc, err) < 0)
        goto fail;
    return tc;
fail:
    teleport_client_free(tc);
    return NULL;
}

void teleport_client_free(struct teleport_client *tc)
{
    if (tc == NULL)
        return;
    while (tc->calls != NULL) {
        struct tc_call *call = tc->calls;
        call_unlink(call);
        call->done = true;
        if (call->conn != NULL)
            http2_conn_cancel(call->conn, call->stream_id);
        op_free(call->op);
        call_release(call);
    }
    http2_conn_free(tc->conn);
    for (size_t i = 0; i < tc->n_draining; i++)
        http2_conn_free(tc->draining[i]);
    free(tc->draining);
    credentials_free(tc->cr);
    free(tc->addr);
    free(tc->server_name);
    free(tc->cluster);
    free(tc->alpn_auth);
    free(tc);
}

int64_t teleport_client_identity_ttl(const struct teleport_client *tc)
{
    return identity_file_not_after(credentials_identity(tc->cr)) - (int64_t)time(NULL);
}

const char *teleport_client_identity_user(const struct teleport_client *tc)
{
    return identity_file_user(credentials_identity(tc->cr));
}

enum teleport_mode teleport_client_mode(const struct teleport_client *tc)
{
    return tc->mode_locked || tc->mode_cfg != TELEPORT_MODE_AUTO ? tc->mode : TELEPORT_MODE_AUTO;
}

unsigned teleport_client_n_connects(const struct teleport_client *tc) { return tc->n_connects; }

unsigned teleport_client_credentials_generation(const struct teleport_client *tc)
{
    return credentials_generation(tc->cr);
}

int teleport_client_ping(struct teleport_client *tc, teleport_ping_cb cb, void *ud, struct enr_error *err)
{
    Proto__PingRequest req = PROTO__PING_REQUEST__INIT;
    struct tc_op *op = op_new(tc, finish_ping, ud);
    int rc;
    if (op == NULL)
        return err_set(err, -ENOMEM, "Ping: out of memory");
    op->ping_cb = cb;
    if ((rc = call_start(tc, "Ping", "Ping", &req.base, op, err)) < 0)
        op_free(op);
    return rc;
}

int teleport_client_get_apps(struct teleport_client *tc, teleport_list_cb cb, void *ud, struct enr_error *err)
{
    Google__Protobuf__Empty req = GOOGLE__PROTOBUF__EMPTY__INIT;
    struct tc_op *op = op_new(tc, finish_get_apps, ud);
    int rc;
    if (op == NULL)
        return err_set(err, -ENOMEM, "GetApps: out of memory");
    op->list_cb = cb;
    if ((rc = call_start(tc, "GetApps", "GetApps", &req.base, op, err)) < 0)
        op_free(op);
    return rc;
}

int teleport_client_list_app_servers(struct teleport_client *tc, teleport_list_cb cb, void *ud,
                                     struct enr_error *err)
{
    struct tc_op *op = op_new(tc, finish_list_page, ud);
    int rc;
    if (op == NULL)
        return err_set(err, -ENOMEM, "ListResources(app_server): out of memory");
    op->list_cb = cb;
    op->limit = LIST_PAGE_SIZE;
    if ((rc = list_page(op, err)) < 0)
        op_free(op);
    return rc;
}

/* CreateApp/UpdateApp/CreateDatabase/UpdateDatabase: the request is the
 * resource itself (types.AppV3 or types.DatabaseV3). */
static int resource_write(struct teleport_client *tc, const char *method, const struct resource *res,
                          teleport_done_cb cb, void *ud, struct enr_error *err)
{
    bool db = strstr(method, "Database") != NULL;
    char what[192];
    uint8_t *packed = NULL;
    size_t len = 0;
    struct tc_op *op = NULL;
    int rc;

    snprintf(what, sizeof(what), "%s \"%s\"", method, res->name);
    if (res->kind != (db ? RESOURCE_DB : RESOURCE_APP))
        return err_set(err, -EINVAL, "%s: not %s", what, db ? "a database" : "an app");
    if ((db ? teleport_convert_pack_db(res, &packed, &len) : teleport_convert_pack_app(res, &packed, &len)) < 0 ||
        (op = op_new(tc, finish_done, ud)) == NULL) {
        rc = err_set(err, -ENOMEM, "%s: out of memory", what);
        goto fail;
    }
    op->done_cb = cb;
    if ((rc = call_start_packed(tc, method, what, packed, len, op, err)) < 0)
        goto fail;
    free(packed);
    return 0;
fail:
    op_free(op);
    free(packed);
    return rc;
}

/* DeleteApp/DeleteDatabase: a types.ResourceRequest with the name. */
static int resource_delete(struct teleport_client *tc, const char *method, const char *name, teleport_done_cb cb,
                           void *ud, struct enr_error *err)
{
    Types__ResourceRequest req = TYPES__RESOURCE_REQUEST__INIT;
    char what[192];
    struct tc_op *op = op_new(tc, finish_done, ud);
    int rc;

    snprintf(what, sizeof(what), "%s \"%s\"", method, name);
    if (op == NULL)
        return err_set(err, -ENOMEM, "%s: out of memory", what);
    op->done_cb = cb;
    req.name = (char *)name;
    if ((rc = call_start(tc, method, what, &req.base, op, err)) < 0)
        op_free(op);
    return rc;
}

int teleport_client_create_app(struct teleport_client *tc, const struct resource *app, teleport_done_cb cb,
                               void *ud, struct enr_error *err)
{
    return resource_write(tc, "CreateApp", app, cb, ud, err);
}

int teleport_client_update_app(struct teleport_client *tc, const struct resource *app, teleport_done_cb cb,
                               void *ud, struct enr_error *err)
{
    return resource_write(tc, "UpdateApp", app, cb, ud, err);
}

int teleport_client_delete_app(struct teleport_client *tc, const char *name, teleport_done_cb cb, void *ud,
                               struct enr_error *err)
{
    return resource_delete(tc, "DeleteApp", name, cb, ud, err);
}

int teleport_client_create_token(struct teleport_client *tc, const char *token, const char *const *roles,
                                 size_t n_roles, int64_t ttl_sec, teleport_done_cb cb, void *ud,
                                 struct enr_error *err)
{
    struct tc_op *op = op_new(tc, finish_token, ud);
    uint8_t *packed = NULL;
    size_t len = 0;
    int rc;

    /* The token value is the secret: the operation name never includes it. */
    if (op == NULL || (op->secret = strdup(token)) == NULL ||
        teleport_convert_pack_token(token, roles, n_roles, ttl_sec > 0 ? (int64_t)time(NULL) + ttl_sec : 0, &packed,
                                    &len) < 0) {
        op_free(op);
        return err_set(err, -ENOMEM, "CreateTokenV2: out of memory");
    }
    op->done_cb = cb;
    if ((rc = call_start_packed(tc, "CreateTokenV2", "CreateTokenV2", packed, len, op, err)) < 0)
        op_free(op);
    OPENSSL_cleanse(packed, len);
    free(packed);
    return rc;
}

/* ---- databases ---- */

static void finish_get_databases(struct tc_op *op, const struct enr_error *err, const uint8_t *msg, size_t len)
{
    Types__DatabaseV3List *list = NULL;
    struct enr_error e;
    if (err == NULL && (list = types__database_v3_list__unpack(NULL, len, msg)) == NULL)
        err = &e, err_set_grpc(&e, GRPC_STATUS_INTERNAL, "GetDatabases: INTERNAL: cannot decode DatabaseV3List");
    for (size_t i = 0; err == NULL && i < list->n_databases; i++) {
        struct resource *r = resource_list_push(&op->acc);
        if (r == NULL || teleport_convert_from_db(list->databases[i], r) < 0)
            err = &e, err_set(&e, -ENOMEM, "GetDatabases: out of memory");
    }
    op->list_cb(op->ud, err, err ? NULL : &op->acc);
    types__database_v3_list__free_unpacked(list, NULL);
    op_free(op);
}

int teleport_client_get_databases(struct teleport_client *tc, teleport_list_cb cb, void *ud, struct enr_error *err)
{
    Google__Protobuf__Empty req = GOOGLE__PROTOBUF__EMPTY__INIT;
    struct tc_op *op = op_new(tc, finish_get_databases, ud);
    int rc;
    if (op == NULL)
        return err_set(err, -ENOMEM, "GetDatabases: out of memory");
    op->list_cb = cb;
    if ((rc = call_start(tc, "GetDatabases", "GetDatabases", &req.base, op, err)) < 0)
        op_free(op);
    return rc;
}

int teleport_client_create_database(struct teleport_client *tc, const struct resource *db, teleport_done_cb cb,
                                    void *ud, struct enr_error *err)
{
    return resource_write(tc, "CreateDatabase", db, cb, ud, err);
}

int teleport_client_update_database(struct teleport_client *tc, const struct resource *db, teleport_done_cb cb,
                                    void *ud, struct enr_error *err)
{
    return resource_write(tc, "UpdateDatabase", db, cb, ud, err);
}

int teleport_client_delete_database(struct teleport_client *tc, const char *name, teleport_done_cb cb, void *ud,
                                    struct enr_error *err)
{
    return resource_delete(tc, "DeleteDatabase", name, cb, ud, err);
}

/* ---- app servers ---- */

int teleport_client_upsert_app_server(struct teleport_client *tc, const struct resource *app, const char *host_id,
                                      int64_t expires, teleport_done_cb cb, void *ud, struct enr_error *err)
{
    Proto__UpsertApplicationServerRequest req = PROTO__UPSERT_APPLICATION_SERVER_REQUEST__INIT;
    Types__AppServerV3 srv = TYPES__APP_SERVER_V3__INIT;
    Types__Metadata md = TYPES__METADATA__INIT;
    Types__AppServerSpecV3 spec = TYPES__APP_SERVER_SPEC_V3__INIT;
    Google__Protobuf__Timestamp exp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Types__AppV3 *a = NULL;
    uint8_t *packed = NULL;
    size_t len = 0;
    char what[192];
    struct tc_op *op = NULL;
    int rc;

    snprintf(what, sizeof(what), "UpsertApplicationServer \"%s\" on \"%s\"", app->name, host_id);
    /* The AppV3 inside is exactly what CreateApp sends. */
    if (teleport_convert_pack_app(app, &packed, &len) < 0 || (a = types__app_v3__unpack(NULL, len, packed)) == NULL ||
        (op = op_new(tc, finish_done, ud)) == NULL) {
        rc = err_set(err, -ENOMEM, "%s: out of memory", what);
        goto fail;
    }
    op->done_cb = cb;
    srv.kind = "app_server";
    srv.version = "v3";
    srv.metadata = &md;
    srv.spec = &spec;
    md.name = app->name;
    md.namespace_ = "default";
    if (expires != 0) {
        exp.seconds = expires;
        md.expires = &exp;
    }
    spec.version = ENR_VERSION;
    spec.hostname = (char *)host_id;
    spec.hostid = (char *)host_id;
    spec.app = a;
    req.server = &srv;
    if ((rc = call_start(tc, "UpsertApplicationServer", what, &req.base, op, err)) < 0)
        goto fail;
    op = NULL;
fail:
    op_free(op);
    types__app_v3__free_unpacked(a, NULL);
    free(packed);
    return rc;
}

int teleport_client_delete_app_server(struct teleport_client *tc, const char *host_id, const char *name,
                                      teleport_done_cb cb, void *ud, struct enr_error *err)
{
    Proto__DeleteApplicationServerRequest req = PROTO__DELETE_APPLICATION_SERVER_REQUEST__INIT;
    char what[192];
    struct tc_op *op = op_new(tc, finish_done, ud);
    int rc;

    snprintf(what, sizeof(what), "DeleteApplicationServer \"%s\" on \"%s\"", name, host_id);
    if (op == NULL)
        return err_set(err, -ENOMEM, "%s: out of memory", what);
    op->done_cb = cb;
    req.namespace_ = "default";
    req.hostid = (char *)host_id;
    req.name = (char *)name;
    if ((rc = call_start(tc, "DeleteApplicationServer", what, &req.base, op, err)) < 0)
        op_free(op);
    return rc;
}

/* ---- WatchEvents ---- */

static int watch_msg(struct tc_op *op, const uint8_t *msg, size_t len)
{
    struct teleport_event ev;
    int rc = teleport_convert_event(msg, len, &ev);
    if (rc == 0)
        op->event_cb(op->ud, &ev);
    resource_cleanup(&ev.res);
    return rc;
}

static void finish_watch(struct tc_op *op, const struct enr_error *err, const uint8_t *msg, size_t len)
{
    (void)msg, (void)len;
    op->done_cb(op->ud, err);
    op_free(op);
}

int teleport_client_watch(struct teleport_client *tc, const char *const *kinds, size_t n_kinds,
                          teleport_event_cb event_cb, teleport_done_cb end_cb, void *ud, struct enr_error *err)
{
    char what[128];
    uint8_t *packed = NULL;
    size_t len = 0, o = 0;
    struct tc_op *op = NULL;
    int rc;

    o = (size_t)snprintf(what, sizeof(what), "WatchEvents(");
    for (size_t i = 0; i < n_kinds && o < sizeof(what); i++)
        o += (size_t)snprintf(what + o, sizeof(what) - o, "%s%s", i ? "," : "", kinds[i]);
    if (o < sizeof(what))
        snprintf(what + o, sizeof(what) - o, ")");
    if (n_kinds == 0)
        return err_set(err, -EINVAL, "%s: no kinds", what);
    /* AllowPartialSuccess: kinds the identity may not read are dropped (the
     * INIT event's WatchStatus lists the accepted ones) instead of failing. */
    if (teleport_convert_pack_watch(kinds, n_kinds, 1, &packed, &len) < 0 ||
        (op = op_new(tc, finish_watch, ud)) == NULL) {
        rc = err_set(err, -ENOMEM, "%s: out of memory", what);
        goto fail;
    }
    op->on_msg = watch_msg;
    op->event_cb = event_cb;
    op->done_cb = end_cb;
    op->watch_id = ++tc->next_watch_id;
    if ((rc = call_start_full(tc, "WatchEvents", what, packed, len, 0, true, op, NULL, err)) < 0)
        goto fail;
    free(packed);
    return op->watch_id;
fail:
    op_free(op);
    free(packed);
    return rc;
}

void teleport_client_watch_cancel(struct teleport_client *tc, int watch_id)
{
    for (struct tc_call *call = tc->calls; call != NULL; call = call->next) {
        if (call->op != NULL && call->op->watch_id == watch_id && call->streaming) {
            call_unlink(call);
            call->done = true;
            if (call->conn != NULL)
                http2_conn_cancel(call->conn, call->stream_id);
            op_free(call->op);
            call->op = NULL;
            call_release(call);
            return;
        }
    }
}
