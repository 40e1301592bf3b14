/* teleport_client.c - see teleport_client.h.
 *
 * Every RPC is a unary gRPC call (tc_call) on the shared HTTP/2 connection:
 * the request is packed with protobuf-c and framed, the reply assembled by
 * grpc_frame, and the status taken from grpc-status/grpc-message.  An
 * operation (tc_op) holds the user's callback and, for ListResources, the
 * paging state; it may issue several calls one after the other.
 *
 * Connection policy: opened lazily; reused while usable; after GOAWAY the
 * old connection drains its streams while new calls use a fresh one; after a
 * failed connect, calls fail fast with UNAVAILABLE for a backoff period
 * (0.5 s doubling to 30 s) so a dead server is not hammered. */
#include "teleport_client.h"

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

#include "grpc_frame.h"
#include "http2_conn.h"
#include "identity_file.h"
#include "log.h"

#ifndef ENR_VERSION
#define ENR_VERSION "dev"
#endif

#define DEFAULT_TIMEOUT_MS 10000u
#define BACKOFF_MIN_MS 500u
#define BACKOFF_MAX_MS 30000u
#define LIST_PAGE_SIZE 500
#define GO_ZERO_TIME (-62135596800LL) /* 0001-01-01T00:00:00Z: Go's "unset" time */

struct tc_op;
typedef void (*op_finish_fn)(struct tc_op *op, const struct enr_error *err, const uint8_t *msg, size_t len);

struct tc_op {
    struct teleport_client *tc;
    op_finish_fn finish;
    void *ud;
    teleport_done_cb done_cb;
    teleport_ping_cb ping_cb;
    teleport_list_cb list_cb;
    char *secret;                 /* CreateTokenV2: the token, scrubbed from error messages */
    /* ListResources paging */
    int32_t limit;
    char *start_key;
    struct resource_list acc;
};

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
    struct tc_op *op;
    struct tc_call *prev, *next;
};

struct teleport_client {
    uv_loop_t *loop;
    char *addr, *server_name;
    unsigned timeout_ms;
    struct identity_file *id;
    SSL_CTX *ssl_ctx;
    struct http2_conn *conn;      /* current connection, NULL before the first call */
    struct http2_conn *draining;  /* previous one, finishing its streams after GOAWAY */
    bool conn_connected;          /* tc->conn finished its handshake */
    bool conn_counted;            /* tc->conn's connect failure already set the backoff */
    struct tc_call *calls;        /* in flight */
    unsigned backoff_ms;
    uint64_t retry_at_ms;         /* uv_now before which no reconnect is tried */
    struct enr_error last_connect_err;
};

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
    grpc_frame_decoder_cleanup(&call->dec);
    grpc_frame_status_cleanup(&call->st);
    free(call->msg);
    call->msg = NULL;
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
    if (call->local.code != 0)
        return;
    grpc_frame_decoder_feed(&call->dec, data, len, on_message, call, &call->local);
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

static void on_stream_close(void *ud, const struct enr_error *err)
{
    struct tc_call *call = ud;
    char msg[ENR_ERROR_MSG_LEN];

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
    if (call->n_msgs != 1) {
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
    log_info(LOG_TELEPORT, "connected to %s as %s", tc->addr, identity_file_user(tc->id));
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

static struct http2_conn *get_conn(struct teleport_client *tc, struct enr_error *err)
{
    struct http2_conn_options o = {
        .addr = tc->addr, .ssl_ctx = tc->ssl_ctx, .server_name = tc->server_name, .connect_timeout_ms = tc->timeout_ms,
    };
    uint64_t now = uv_now(tc->loop);

    if (tc->draining != NULL && (!http2_conn_usable(tc->draining) && http2_conn_n_streams(tc->draining) == 0)) {
        http2_conn_free(tc->draining);
        tc->draining = NULL;
    }
    if (tc->conn != NULL && http2_conn_usable(tc->conn))
        return tc->conn;
    if (tc->conn != NULL && !tc->conn_connected && !tc->conn_counted && http2_conn_failure(tc->conn)->code != 0) {
        /* The last connect attempt failed: wait before the next one. */
        tc->conn_counted = true;
        tc->backoff_ms = tc->backoff_ms ? tc->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (tc->backoff_ms > BACKOFF_MAX_MS)
            tc->backoff_ms = BACKOFF_MAX_MS;
        tc->retry_at_ms = now + tc->backoff_ms;
        tc->last_connect_err = *http2_conn_failure(tc->conn);
    }
    if (tc->conn != NULL && tc->retry_at_ms > now) {
        err_set_grpc(err, GRPC_STATUS_UNAVAILABLE, "UNAVAILABLE: not reconnecting for %llu ms after: %s",
                     (unsigned long long)(tc->retry_at_ms - now), tc->last_connect_err.msg);
        return NULL;
    }
    if (tc->conn != NULL) {
        if (http2_conn_n_streams(tc->conn) > 0) { /* GOAWAY: let it finish */
            http2_conn_free(tc->draining);
            tc->draining = tc->conn;
        } else {
            http2_conn_free(tc->conn);
        }
        tc->conn = NULL;
    }
    tc->conn_connected = false;
    tc->conn_counted = false;
    tc->conn = http2_conn_connect(tc->loop, &o, &conn_cbs, tc, err);
    return tc->conn;
}

/* Packs req, opens a stream and arms the deadline.  On failure the
 * operation is untouched (the caller still owns it). */
static int call_start_packed(struct teleport_client *tc, const char *path_method, const char *what,
                             const uint8_t *packed, size_t len, struct tc_op *op, struct enr_error *err)
{
    char path[128], timeout[GRPC_FRAME_TIMEOUT_LEN];
    uint8_t *framed = NULL;
    size_t framed_len = 0;
    struct tc_call *call = NULL;
    struct http2_conn *conn;
    int rc;

    struct enr_error tmp;
    if (err == NULL)
        err = &tmp;
    snprintf(path, sizeof(path), "/proto.AuthService/%s", path_method);
    grpc_frame_timeout_format(tc->timeout_ms, timeout);
    const struct http2_header hdrs[] = {
        {":method", "POST"},
        {":scheme", "https"},
        {":path", path},
        {":authority", tc->server_name},
        {"content-type", "application/grpc"},
        {"te", "trailers"},
        {"grpc-timeout", timeout},
        {"user-agent", "enroller/" ENR_VERSION},
    };

    if ((rc = grpc_frame_encode(packed, len, &framed, &framed_len, err)) < 0)
        goto fail;
    if ((call = calloc(1, sizeof(*call))) == NULL) {
        rc = err_set(err, -ENOMEM, "%s: out of memory", what);
        goto fail;
    }
    call->tc = tc;
    call->op = op;
    call->timeout_ms = tc->timeout_ms;
    snprintf(call->what, sizeof(call->what), "%s", what);
    grpc_frame_decoder_init(&call->dec, 0);
    grpc_frame_status_init(&call->st);
    if ((conn = get_conn(tc, err)) == NULL) {
        rc = err->code ? err->code : -ENOMEM;
        err_wrap(err, "%s", what);
        goto fail;
    }
    call->conn = conn;
    call->stream_id = http2_conn_submit(conn, hdrs, sizeof(hdrs) / sizeof(hdrs[0]), framed, framed_len, &stream_cbs,
                                        call, err);
    if (call->stream_id < 0) {
        rc = call->stream_id;
        err_wrap(err, "%s", what);
        goto fail;
    }
    uv_timer_init(tc->loop, &call->timer); /* cannot fail for timers */
    call->timer_init = true;
    call->timer.data = call;
    uv_timer_start(&call->timer, on_deadline, tc->timeout_ms, 0);
    call->next = tc->calls;
    if (tc->calls)
        tc->calls->prev = call;
    tc->calls = call;
    free(framed);
    return 0;
fail:
    if (call != NULL) {
        call->op = NULL;
        call_release(call);
    }
    free(framed);
    return rc;
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

/* ---- conversions ---- */

static const char *nz(const char *s) { return s ? s : ""; }

static int from_app(const Types__AppV3 *a, struct resource *r)
{
    const Types__Metadata *md = a->metadata;
    const Types__AppSpecV3 *sp = a->spec;

    r->kind = RESOURCE_APP;
    if (md != NULL) {
        if (resource_set_str(&r->name, nz(md->name)) < 0 || resource_set_str(&r->description, nz(md->description)) < 0 ||
            resource_set_str(&r->revision, nz(md->revision)) < 0)
            return -ENOMEM;
        for (size_t i = 0; i < md->n_labels; i++)
            if (kv_set(&r->labels, nz(md->labels[i]->key), nz(md->labels[i]->value)) < 0)
                return -ENOMEM;
        if (md->expires != NULL && md->expires->seconds != GO_ZERO_TIME)
            r->expires = md->expires->seconds;
    }
    if (sp != NULL) {
        if (resource_set_str(&r->uri, nz(sp->uri)) < 0 || resource_set_str(&r->public_addr, nz(sp->publicaddr)) < 0)
            return -ENOMEM;
        r->insecure_skip_verify = sp->insecureskipverify;
        if (sp->rewrite != NULL && sp->rewrite->n_redirect > 0) {
            if ((r->rewrite_redirect = calloc(sp->rewrite->n_redirect, sizeof(char *))) == NULL)
                return -ENOMEM;
            for (; r->n_rewrite_redirect < sp->rewrite->n_redirect; r->n_rewrite_redirect++)
                if ((r->rewrite_redirect[r->n_rewrite_redirect] =
                         strdup(nz(sp->rewrite->redirect[r->n_rewrite_redirect]))) == NULL)
                    return -ENOMEM;
        }
        if (sp->rewrite != NULL && sp->rewrite->n_headers > 0) {
            if ((r->rewrite_headers = calloc(sp->rewrite->n_headers, sizeof(*r->rewrite_headers))) == NULL)
                return -ENOMEM;
            for (size_t i = 0; i < sp->rewrite->n_headers; i++) {
                r->rewrite_headers[i].name = strdup(nz(sp->rewrite->headers[i]->name));
                r->rewrite_headers[i].value = strdup(nz(sp->rewrite->headers[i]->value));
                r->n_rewrite_headers++;
                if (r->rewrite_headers[i].name == NULL || r->rewrite_headers[i].value == NULL)
                    return -ENOMEM;
            }
        }
    }
    return 0;
}

/* Packs r as a types.AppV3 into a malloc'd buffer.  The protobuf-c structs
 * point into r; only the arrays are allocated here. */
static int pack_app(const struct resource *r, uint8_t **out, size_t *out_len)
{
    Types__AppV3 app = TYPES__APP_V3__INIT;
    Types__Metadata md = TYPES__METADATA__INIT;
    Types__AppSpecV3 spec = TYPES__APP_SPEC_V3__INIT;
    Types__Rewrite rw = TYPES__REWRITE__INIT;
    Google__Protobuf__Timestamp exp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Types__Metadata__LabelsEntry *lab = NULL, **labp = NULL;
    Types__Header *hdr = NULL, **hdrp = NULL;
    size_t nl = r->labels.len, nh = r->n_rewrite_headers;
    int rc = -ENOMEM;

    lab = calloc(nl ? nl : 1, sizeof(*lab));
    labp = calloc(nl ? nl : 1, sizeof(*labp));
    hdr = calloc(nh ? nh : 1, sizeof(*hdr));
    hdrp = calloc(nh ? nh : 1, sizeof(*hdrp));
    if (lab == NULL || labp == NULL || hdr == NULL || hdrp == NULL)
        goto fail;
    app.kind = "app";
    app.version = "v3";
    app.metadata = &md;
    app.spec = &spec;
    md.name = r->name;
    md.namespace_ = "default";
    md.description = (char *)nz(r->description);
    md.revision = (char *)nz(r->revision);
    for (size_t i = 0; i < nl; i++) {
        Types__Metadata__LabelsEntry e = TYPES__METADATA__LABELS_ENTRY__INIT;
        e.key = r->labels.items[i].key;
        e.value = r->labels.items[i].value;
        lab[i] = e;
        labp[i] = &lab[i];
    }
    md.n_labels = nl;
    md.labels = labp;
    if (r->expires != 0) {
        exp.seconds = r->expires;
        md.expires = &exp;
    }
    spec.uri = r->uri;
    spec.publicaddr = (char *)nz(r->public_addr);
    spec.insecureskipverify = r->insecure_skip_verify;
    if (r->n_rewrite_redirect > 0 || nh > 0) {
        rw.n_redirect = r->n_rewrite_redirect;
        rw.redirect = r->rewrite_redirect;
        for (size_t i = 0; i < nh; i++) {
            Types__Header h = TYPES__HEADER__INIT;
            h.name = r->rewrite_headers[i].name;
            h.value = r->rewrite_headers[i].value;
            hdr[i] = h;
            hdrp[i] = &hdr[i];
        }
        rw.n_headers = nh;
        rw.headers = hdrp;
        spec.rewrite = &rw;
    }
    *out_len = types__app_v3__get_packed_size(&app);
    if ((*out = malloc(*out_len ? *out_len : 1)) == NULL)
        goto fail;
    types__app_v3__pack(&app, *out);
    rc = 0;
fail:
    free(lab);
    free(labp);
    free(hdr);
    free(hdrp);
    return rc;
}

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
        if (r == NULL || from_app(list->apps[i], r) < 0)
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
        if (r == NULL || from_app(pr->appserver->spec->app, r) < 0 ||
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
    Proto__ListResourcesRequest req = PROTO__LIST_RESOURCES_REQUEST__INIT;
    req.resourcetype = "app_server";
    req.namespace_ = "default";
    req.limit = op->limit;
    req.startkey = op->start_key ? op->start_key : "";
    return call_start(op->tc, "ListResources", "ListResources(app_server)", &req.base, op, err);
}

/* ---- public API ---- */

struct teleport_client *teleport_client_new(uv_loop_t *loop, const struct teleport_client_config *cfg,
                                            struct enr_error *err)
{
    struct teleport_client *tc = calloc(1, sizeof(*tc));

    if (tc == NULL) {
        err_set(err, -ENOMEM, "teleport client: out of memory");
        return NULL;
    }
    tc->loop = loop;
    tc->timeout_ms = cfg->call_timeout_ms ? cfg->call_timeout_ms : DEFAULT_TIMEOUT_MS;
    if (cfg->addr == NULL || cfg->addr[0] == '\0') {
        err_set(err, -EINVAL, "teleport.addr: missing");
        goto fail;
    }
    if (cfg->identity_file == NULL || cfg->identity_file[0] == '\0') {
        err_set(err, -EINVAL, "teleport.identity: missing");
        goto fail;
    }
    tc->addr = strdup(cfg->addr);
    tc->server_name = strdup(cfg->server_name ? cfg->server_name : HTTP2_CONN_DEFAULT_SERVER_NAME);
    if (tc->addr == NULL || tc->server_name == NULL) {
        err_set(err, -ENOMEM, "teleport client: out of memory");
        goto fail;
    }
    if ((tc->id = identity_file_load(cfg->identity_file, err)) == NULL)
        goto fail;
    if ((tc->ssl_ctx = identity_file_ssl_ctx(tc->id, err)) == NULL)
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
    http2_conn_free(tc->draining);
    SSL_CTX_free(tc->ssl_ctx);
    identity_file_free(tc->id);
    free(tc->addr);
    free(tc->server_name);
    free(tc);
}

int64_t teleport_client_identity_ttl(const struct teleport_client *tc)
{
    return identity_file_not_after(tc->id) - (int64_t)time(NULL);
}

const char *teleport_client_identity_user(const struct teleport_client *tc)
{
    return identity_file_user(tc->id);
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

static int app_write(struct teleport_client *tc, const char *method, const struct resource *app,
                     teleport_done_cb cb, void *ud, struct enr_error *err)
{
    char what[192];
    uint8_t *packed = NULL;
    size_t len = 0;
    struct tc_op *op = NULL;
    int rc;

    snprintf(what, sizeof(what), "%s \"%s\"", method, app->name);
    if (app->kind != RESOURCE_APP)
        return err_set(err, -EINVAL, "%s: not an app", what);
    if (pack_app(app, &packed, &len) < 0 || (op = op_new(tc, finish_done, ud)) == NULL) {
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

int teleport_client_create_app(struct teleport_client *tc, const struct resource *app, teleport_done_cb cb,
                               void *ud, struct enr_error *err)
{
    return app_write(tc, "CreateApp", app, cb, ud, err);
}

int teleport_client_update_app(struct teleport_client *tc, const struct resource *app, teleport_done_cb cb,
                               void *ud, struct enr_error *err)
{
    return app_write(tc, "UpdateApp", app, cb, ud, err);
}

int teleport_client_delete_app(struct teleport_client *tc, const char *name, teleport_done_cb cb, void *ud,
                               struct enr_error *err)
{
    Types__ResourceRequest req = TYPES__RESOURCE_REQUEST__INIT;
    char what[192];
    struct tc_op *op = op_new(tc, finish_done, ud);
    int rc;

    snprintf(what, sizeof(what), "DeleteApp \"%s\"", name);
    if (op == NULL)
        return err_set(err, -ENOMEM, "%s: out of memory", what);
    op->done_cb = cb;
    req.name = (char *)name;
    if ((rc = call_start(tc, "DeleteApp", what, &req.base, op, err)) < 0)
        op_free(op);
    return rc;
}

int teleport_client_create_token(struct teleport_client *tc, const char *token, const char *const *roles,
                                 size_t n_roles, int64_t ttl_sec, teleport_done_cb cb, void *ud,
                                 struct enr_error *err)
{
    Proto__CreateTokenV2Request req = PROTO__CREATE_TOKEN_V2_REQUEST__INIT;
    Types__ProvisionTokenV2 tok = TYPES__PROVISION_TOKEN_V2__INIT;
    Types__Metadata md = TYPES__METADATA__INIT;
    Types__ProvisionTokenSpecV2 spec = TYPES__PROVISION_TOKEN_SPEC_V2__INIT;
    Google__Protobuf__Timestamp exp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    struct tc_op *op = op_new(tc, finish_token, ud);
    int rc;

    /* The token value is the secret: the operation name never includes it. */
    if (op == NULL || (op->secret = strdup(token)) == NULL) {
        op_free(op);
        return err_set(err, -ENOMEM, "CreateTokenV2: out of memory");
    }
    op->done_cb = cb;
    tok.kind = "token";
    tok.version = "v2";
    tok.metadata = &md;
    tok.spec = &spec;
    md.name = (char *)token;
    md.namespace_ = "default";
    if (ttl_sec > 0) {
        exp.seconds = (int64_t)time(NULL) + ttl_sec;
        md.expires = &exp;
    }
    spec.n_roles = n_roles;
    spec.roles = (char **)(uintptr_t)roles;
    spec.joinmethod = "token";
    req.token_case = PROTO__CREATE_TOKEN_V2_REQUEST__TOKEN_V2;
    req.v2 = &tok;
    if ((rc = call_start(tc, "CreateTokenV2", "CreateTokenV2", &req.base, op, err)) < 0)
        op_free(op);
    return rc;
}
