/* http2_conn.c - see http2_conn.h.
 *
 * Layout: stream bookkeeping, nghttp2 callbacks, the failure path, the
 * socket transport glue (tls_socket does TCP + TLS) and the keepalive, the
 * injected transport, then the public calls.  Every entry from the loop or
 * from the owner goes through enter()/leave() so the owner may free the
 * connection from inside a callback; the real teardown waits until the
 * outermost entry returns. */
#include "net/http2_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "net/grpc_frame.h"
#include "base/log.h"

#define OUT_HIGH_WATER (64 * 1024) /* stop pulling from nghttp2 above this many unsent bytes */
#define READ_CHUNK (16 * 1024)

enum conn_state { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_DEAD };

struct h2_stream {
    struct http2_conn *conn;
    int32_t id;
    struct http2_stream_callbacks cbs;
    void *ud;
    uint8_t *body;
    size_t body_len, body_off;
    bool cancelled;
    bool not_sent;             /* its HEADERS were never sent (GOAWAY came first) */
    struct h2_stream *prev, *next;
};

struct http2_conn {
    uv_loop_t *loop;
    struct http2_conn_callbacks cbs;
    void *ud;
    nghttp2_session *session;
    enum conn_state state;
    bool goaway;
    struct h2_stream *streams; /* open streams, newest first */
    size_t n_streams;
    struct enr_error fail;     /* why the connection died */

    /* injected transport */
    bool use_io;
    struct http2_conn_io io;

    /* socket transport */
    char *addr;                /* for messages: "host:port" or "http2" */
    struct tls_socket *sock;
    uv_timer_t *ka_timer;      /* keepalive; freed by its close callback */
    unsigned ka_ms, ka_timeout_ms;
    uint64_t last_recv_ms, ping_sent_ms;
    bool ping_outstanding;
    char proto_err[160];       /* nghttp2's reason when it ended the session itself */
    unsigned n_pings, n_ping_acks;

    int depth;                 /* nesting of enter() */
    bool free_pending;
};

static void conn_flush(struct http2_conn *c);
static void destroy(struct http2_conn *c);
static void on_keepalive(uv_timer_t *t);

/* ---- entry guard ---- */

static void enter(struct http2_conn *c) { c->depth++; }

static void leave(struct http2_conn *c)
{
    if (--c->depth == 0 && c->free_pending)
        destroy(c);
}

/* ---- streams ---- */

static void stream_unlink_free(struct h2_stream *s)
{
    struct http2_conn *c = s->conn;
    if (s->prev)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    c->n_streams--;
    free(s->body);
    free(s);
}

static struct h2_stream *find_stream(struct http2_conn *c, int32_t id)
{
    return c->session ? nghttp2_session_get_stream_user_data(c->session, id) : NULL;
}

/* gRPC status for an RST_STREAM code (gRPC's PROTOCOL-HTTP2 mapping). */
static int h2_to_grpc(uint32_t code)
{
    switch (code) {
    case NGHTTP2_REFUSED_STREAM: return GRPC_STATUS_UNAVAILABLE;
    case NGHTTP2_CANCEL: return GRPC_STATUS_CANCELLED;
    case NGHTTP2_ENHANCE_YOUR_CALM: return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case NGHTTP2_INADEQUATE_SECURITY: return GRPC_STATUS_PERMISSION_DENIED;
    default: return GRPC_STATUS_INTERNAL;
    }
}

/* ---- nghttp2 callbacks ---- */

static ssize_t read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    struct h2_stream *s = source->ptr;
    size_t n = s->body_len - s->body_off;
    (void)session, (void)stream_id, (void)user_data;
    if (n > length)
        n = length;
    if (n > 0)
        memcpy(buf, s->body + s->body_off, n);
    s->body_off += n;
    if (s->body_off == s->body_len)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data)
{
    struct http2_conn *c = user_data;
    struct h2_stream *s;
    (void)session, (void)flags;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    s = find_stream(c, frame->hd.stream_id);
    if (s != NULL && !s->cancelled && s->cbs.on_header)
        s->cbs.on_header(s->ud, (const char *)name, namelen, (const char *)value, valuelen,
                         frame->headers.cat == NGHTTP2_HCAT_HEADERS);
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
                         size_t len, void *user_data)
{
    struct http2_conn *c = user_data;
    struct h2_stream *s = find_stream(c, stream_id);
    (void)session, (void)flags;
    if (s != NULL && !s->cancelled && s->cbs.on_data)
        s->cbs.on_data(s->ud, data, len);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data)
{
    struct http2_conn *c = user_data;
    struct h2_stream *s = find_stream(c, stream_id);
    struct enr_error err = {0};
    (void)session;
    if (s == NULL)
        return 0;
    nghttp2_session_set_stream_user_data(c->session, stream_id, NULL);
    if (!s->cancelled && s->cbs.on_close) {
        if (error_code == NGHTTP2_NO_ERROR && !s->not_sent) {
            s->cbs.on_close(s->ud, NULL);
        } else {
            if (s->not_sent) {
                err_set_grpc(&err, GRPC_STATUS_UNAVAILABLE, "stream %d not sent: server sent GOAWAY", stream_id);
                err.code = -EAGAIN;
            } else if (error_code == NGHTTP2_REFUSED_STREAM) {
                err_set_grpc(&err, GRPC_STATUS_UNAVAILABLE, "stream %d refused%s (not processed)", stream_id,
                             c->goaway ? " after GOAWAY" : "");
                err.code = -EAGAIN;
            } else
                err_set_grpc(&err, h2_to_grpc(error_code), "stream %d reset: %s", stream_id,
                             nghttp2_http2_strerror(error_code));
            s->cbs.on_close(s->ud, &err);
        }
    }
    stream_unlink_free(s);
    return 0;
}

/* nghttp2 found the peer breaking the protocol (it answers with GOAWAY and
 * ends the session); keep the reason for the failure message. */
static int on_lib_error(nghttp2_session *session, int lib_error_code, const char *msg, size_t len, void *user_data)
{
    struct http2_conn *c = user_data;
    (void)session, (void)lib_error_code;
    if (c->proto_err[0] == '\0')
        snprintf(c->proto_err, sizeof(c->proto_err), "%.*s", (int)len, msg);
    return 0;
}

/* Our own GOAWAY with an error: nghttp2 caught the server breaking HTTP/2. */
static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct http2_conn *c = user_data;
    (void)session;
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR && c->proto_err[0] == '\0')
        snprintf(c->proto_err, sizeof(c->proto_err), "%s%s%.*s", nghttp2_http2_strerror(frame->goaway.error_code),
                 frame->goaway.opaque_data_len ? ": " : "", (int)(frame->goaway.opaque_data_len > 100 ? 100 : frame->goaway.opaque_data_len),
                 frame->goaway.opaque_data ? (const char *)frame->goaway.opaque_data : "");
    return 0;
}

/* A request the session will never send (GOAWAY arrived while it waited
 * for a free stream slot): the server never saw it, so it may be retried. */
static int on_frame_not_send(nghttp2_session *session, const nghttp2_frame *frame, int lib_error_code,
                             void *user_data)
{
    struct http2_conn *c = user_data;
    struct h2_stream *s;
    struct enr_error err;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    if ((s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id)) != NULL) {
        s->not_sent = true; /* nghttp2 closes the stream next: on_stream_close reports it */
        return 0;
    }
    for (s = c->streams; s != NULL && s->id != frame->hd.stream_id; s = s->next)
        ;
    if (s == NULL)
        return 0;
    if (!s->cancelled && s->cbs.on_close) {
        err_set_grpc(&err, GRPC_STATUS_UNAVAILABLE, "stream %d not sent: %s", s->id, nghttp2_strerror(lib_error_code));
        err.code = -EAGAIN;
        s->cbs.on_close(s->ud, &err);
    }
    stream_unlink_free(s);
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct http2_conn *c = user_data;
    (void)session;
    if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) {
        c->ping_outstanding = false;
        c->n_ping_acks++;
    }
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        c->goaway = true;
        if (frame->goaway.error_code == NGHTTP2_ENHANCE_YOUR_CALM)
            log_warn(LOG_TELEPORT, "%s: server sent GOAWAY ENHANCE_YOUR_CALM (%.*s): keepalive PINGs too frequent for it",
                     c->addr, (int)(frame->goaway.opaque_data_len > 64 ? 64 : frame->goaway.opaque_data_len),
                     frame->goaway.opaque_data ? (const char *)frame->goaway.opaque_data : "");
        log_debug(LOG_TELEPORT, "%s: GOAWAY (%s, last stream %d)", c->addr ? c->addr : "http2",
                  nghttp2_http2_strerror(frame->goaway.error_code), frame->goaway.last_stream_id);
    }
    return 0;
}

/* ---- failure ---- */

/* Marks the connection dead, fails every open stream with UNAVAILABLE, then
 * tells the owner.  Idempotent. */
static void conn_fail(struct http2_conn *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void conn_fail(struct http2_conn *c, int code, const char *fmt, ...)
{
    char msg[ENR_ERROR_MSG_LEN];
    va_list ap;

    if (c->state == ST_DEAD)
        return;
    c->state = ST_DEAD;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    err_set(&c->fail, code, "%s", msg);
    if (c->ka_timer != NULL)
        uv_timer_stop(c->ka_timer);
    enter(c);
    while (c->streams != NULL) {
        struct h2_stream *s = c->streams;
        struct enr_error err;
        err_set_grpc(&err, GRPC_STATUS_UNAVAILABLE, "%s", msg);
        err.code = code; /* keep the transport's errno-style code; grpc_status says UNAVAILABLE */
        if (c->session)
            nghttp2_session_set_stream_user_data(c->session, s->id, NULL);
        if (!s->cancelled && s->cbs.on_close && !c->free_pending)
            s->cbs.on_close(s->ud, &err);
        stream_unlink_free(s);
    }
    if (c->cbs.on_error && !c->free_pending)
        c->cbs.on_error(c->ud, &c->fail);
    leave(c);
}

/* ---- socket transport (tls_socket) and keepalive ---- */

static void ts_on_open(void *ud)
{
    struct http2_conn *c = ud;
    enter(c);
    c->state = ST_OPEN;
    c->last_recv_ms = uv_now(c->loop);
    if (c->ka_timer != NULL) {
        uint64_t tick = (c->ka_ms < c->ka_timeout_ms ? c->ka_ms : c->ka_timeout_ms) / 2;
        uv_timer_start(c->ka_timer, on_keepalive, tick ? tick : 1, tick ? tick : 1);
    }
    if (c->cbs.on_connected && !c->free_pending)
        c->cbs.on_connected(c->ud);
    leave(c);
}

static void ts_on_read(void *ud, const uint8_t *data, size_t len)
{
    struct http2_conn *c = ud;
    if (c->state != ST_OPEN || c->free_pending)
        return;
    enter(c);
    c->last_recv_ms = uv_now(c->loop);
    c->ping_outstanding = false; /* any frame shows the peer is alive */
    ssize_t rv = nghttp2_session_mem_recv(c->session, data, len);
    if (rv < 0)
        conn_fail(c, -EPROTO, "%s: HTTP/2: %s", c->addr, nghttp2_strerror((int)rv));
    leave(c);
}

static void ts_on_ready(void *ud)
{
    struct http2_conn *c = ud;
    enter(c);
    conn_flush(c);
    leave(c);
}

static void ts_on_error(void *ud, const struct enr_error *err)
{
    struct http2_conn *c = ud;
    conn_fail(c, err->code, "%s", err->msg);
}

static const struct tls_socket_callbacks ts_cbs = {ts_on_open, ts_on_read, ts_on_ready, ts_on_error};

static void on_keepalive(uv_timer_t *t)
{
    struct http2_conn *c = t->data;
    uint64_t now = uv_now(c->loop);

    enter(c);
    if (c->state != ST_OPEN)
        goto out;
    if (c->ping_outstanding && now - c->ping_sent_ms >= c->ka_timeout_ms) {
        conn_fail(c, -ETIMEDOUT, "%s: no reply to HTTP/2 PING within %u ms: connection is dead", c->addr,
                  c->ka_timeout_ms);
        goto out;
    }
    if (!c->ping_outstanding && now - c->last_recv_ms >= c->ka_ms) {
        if (nghttp2_submit_ping(c->session, NGHTTP2_FLAG_NONE, NULL) != 0) {
            conn_fail(c, -ENOMEM, "%s: cannot send PING", c->addr);
            goto out;
        }
        c->ping_outstanding = true;
        c->ping_sent_ms = now;
        c->n_pings++;
        conn_flush(c);
    }
out:
    leave(c);
}

/* Moves bytes from nghttp2 to the transport; notices a finished session. */
static void conn_flush(struct http2_conn *c)
{
    if (c->state != ST_OPEN)
        return;
    for (;;) {
        if (!c->use_io && tls_socket_pending(c->sock) >= OUT_HIGH_WATER)
            break;
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->session, &data);
        if (n < 0) {
            conn_fail(c, -EPROTO, "%s: HTTP/2: %s", c->addr, nghttp2_strerror((int)n));
            return;
        }
        if (n == 0)
            break;
        int rc = c->use_io ? c->io.send(c->io.io_ud, data, (size_t)n) : tls_socket_write(c->sock, data, (size_t)n);
        if (rc < 0) {
            conn_fail(c, rc, "%s: transport send failed (%s)", c->addr, strerror(-rc));
            return;
        }
    }
    if (!c->use_io) {
        tls_socket_flush(c->sock);
        if (c->state != ST_OPEN || c->free_pending)
            return;
    }
    if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session) &&
        (c->use_io || tls_socket_pending(c->sock) == 0)) {
        if (c->proto_err[0] != '\0')
            conn_fail(c, -EPROTO, "%s: HTTP/2 protocol error from the server: %s", c->addr, c->proto_err);
        else
            conn_fail(c, -ECONNRESET, "%s: connection closed%s", c->addr, c->goaway ? " after GOAWAY" : "");
        return;
    }
}

/* ---- construction ---- */

static struct http2_conn *conn_alloc(const struct http2_conn_callbacks *cbs, void *ud, struct enr_error *err)
{
    nghttp2_session_callbacks *ncb = NULL;
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
    };
    struct http2_conn *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        err_set(err, -ENOMEM, "http2: out of memory");
        return NULL;
    }
    c->cbs = *cbs;
    c->ud = ud;
    if (nghttp2_session_callbacks_new(&ncb) != 0) {
        err_set(err, -ENOMEM, "http2: out of memory");
        goto fail;
    }
    nghttp2_session_callbacks_set_on_header_callback(ncb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(ncb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(ncb, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(ncb, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(ncb, on_frame_not_send);
    nghttp2_session_callbacks_set_error_callback2(ncb, on_lib_error);
    nghttp2_session_callbacks_set_on_frame_send_callback(ncb, on_frame_send);
    if (nghttp2_session_client_new(&c->session, ncb, c) != 0 ||
        nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, sizeof(settings) / sizeof(settings[0])) != 0) {
        err_set(err, -ENOMEM, "http2: cannot create session");
        goto fail;
    }
    /* Let the connection-level window match the stream window, so one big
     * reply is not throttled by 64 KiB round trips. */
    nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, 4 << 20);
    nghttp2_session_callbacks_del(ncb);
    return c;
fail:
    nghttp2_session_callbacks_del(ncb);
    nghttp2_session_del(c->session);
    free(c);
    return NULL;
}

struct http2_conn *http2_conn_new_io(const struct http2_conn_io *io, const struct http2_conn_callbacks *cbs,
                                     void *ud, struct enr_error *err)
{
    struct http2_conn *c = conn_alloc(cbs, ud, err);
    if (c == NULL)
        return NULL;
    if ((c->addr = strdup("http2")) == NULL) {
        err_set(err, -ENOMEM, "http2: out of memory");
        destroy(c);
        return NULL;
    }
    c->use_io = true;
    c->io = *io;
    c->state = ST_OPEN;
    return c;
}

struct http2_conn *http2_conn_connect(uv_loop_t *loop, const struct http2_conn_options *opts,
                                      const struct http2_conn_callbacks *cbs, void *ud, struct enr_error *err)
{
    struct http2_conn *c = conn_alloc(cbs, ud, err);
    struct tls_socket_options to = {0};

    if (c == NULL)
        return NULL;
    c->loop = loop;
    c->state = ST_CONNECTING;
    c->ka_ms = opts->keepalive_ms ? opts->keepalive_ms : HTTP2_CONN_KEEPALIVE_MS;
    c->ka_timeout_ms = opts->keepalive_timeout_ms ? opts->keepalive_timeout_ms : HTTP2_CONN_KEEPALIVE_TIMEOUT_MS;
    if ((c->addr = strdup(opts->addr)) == NULL || (c->ka_timer = malloc(sizeof(*c->ka_timer))) == NULL) {
        err_set(err, -ENOMEM, "http2: out of memory");
        goto fail;
    }
    uv_timer_init(loop, c->ka_timer); /* cannot fail */
    c->ka_timer->data = c;
    to.addr = opts->addr;
    to.ssl_ctx = opts->ssl_ctx;
    to.server_name = opts->server_name ? opts->server_name : HTTP2_CONN_DEFAULT_SERVER_NAME;
    memcpy(to.alpn, opts->alpn, sizeof(to.alpn));
    to.want_alpn = "h2";
    to.connect_timeout_ms = opts->connect_timeout_ms;
    if ((c->sock = tls_socket_connect(loop, &to, &ts_cbs, c, err)) == NULL)
        goto fail;
    return c;
fail:
    destroy(c);
    return NULL;
}

/* ---- public calls ---- */

void http2_conn_input(struct http2_conn *c, const uint8_t *data, size_t len)
{
    enter(c);
    if (c->state == ST_OPEN) {
        ssize_t rv = nghttp2_session_mem_recv(c->session, data, len);
        if (rv < 0)
            conn_fail(c, -EPROTO, "http2: %s", nghttp2_strerror((int)rv));
        else if (!c->free_pending)
            conn_flush(c);
    }
    leave(c);
}

void http2_conn_input_eof(struct http2_conn *c)
{
    enter(c);
    conn_fail(c, -ECONNRESET, "%s: connection closed by the server", c->addr ? c->addr : "http2");
    leave(c);
}

void http2_conn_flush(struct http2_conn *c)
{
    enter(c);
    conn_flush(c);
    leave(c);
}

int32_t http2_conn_submit(struct http2_conn *c, const struct http2_header *hdrs, size_t n_hdrs, const uint8_t *body,
                          size_t body_len, const struct http2_stream_callbacks *cbs, void *stream_ud,
                          struct enr_error *err)
{
    nghttp2_nv nva[32];
    nghttp2_data_provider dp;
    struct h2_stream *s;
    int32_t id;

    if (c->state == ST_DEAD)
        return err_set(err, -ECONNRESET, "%s", c->fail.msg[0] ? c->fail.msg : "http2: connection is closed");
    if (c->goaway)
        return err_set(err, -ECONNRESET, "%s: connection is going away (GOAWAY)", c->addr ? c->addr : "http2");
    if (n_hdrs > sizeof(nva) / sizeof(nva[0]))
        return err_set(err, -E2BIG, "http2: too many request headers (%zu)", n_hdrs);
    for (size_t i = 0; i < n_hdrs; i++) {
        nva[i].name = (uint8_t *)(uintptr_t)hdrs[i].name;
        nva[i].namelen = strlen(hdrs[i].name);
        nva[i].value = (uint8_t *)(uintptr_t)hdrs[i].value;
        nva[i].valuelen = strlen(hdrs[i].value);
        nva[i].flags = NGHTTP2_NV_FLAG_NONE;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL || (body_len > 0 && (s->body = malloc(body_len)) == NULL)) {
        free(s);
        return err_set(err, -ENOMEM, "http2: out of memory");
    }
    if (body_len > 0)
        memcpy(s->body, body, body_len);
    s->body_len = body_len;
    s->conn = c;
    s->cbs = *cbs;
    s->ud = stream_ud;
    dp.source.ptr = s;
    dp.read_callback = read_body;
    id = nghttp2_submit_request(c->session, NULL, nva, n_hdrs, &dp, s);
    if (id < 0) {
        free(s->body);
        free(s);
        return err_set(err, id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE ? -ECONNRESET : -EINVAL,
                       "http2: cannot submit request: %s", nghttp2_strerror(id));
    }
    s->id = id;
    s->next = c->streams;
    if (c->streams)
        c->streams->prev = s;
    c->streams = s;
    c->n_streams++;
    if (!c->use_io && c->state == ST_OPEN)
        tls_socket_want_ready(c->sock); /* sent from the loop; never call back from here */
    return id;
}

void http2_conn_cancel(struct http2_conn *c, int32_t stream_id)
{
    struct h2_stream *s = find_stream(c, stream_id);
    if (s == NULL || s->cancelled)
        return;
    s->cancelled = true;
    if (c->state != ST_DEAD) {
        nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
        if (!c->use_io && c->state == ST_OPEN)
            tls_socket_want_ready(c->sock);
    }
}

bool http2_conn_usable(const struct http2_conn *c)
{
    return c->state != ST_DEAD && !c->goaway;
}

const struct enr_error *http2_conn_failure(const struct http2_conn *c)
{
    return &c->fail;
}

size_t http2_conn_n_streams(const struct http2_conn *c)
{
    return c->n_streams;
}

unsigned http2_conn_n_pings(const struct http2_conn *c) { return c->n_pings; }
unsigned http2_conn_n_ping_acks(const struct http2_conn *c) { return c->n_ping_acks; }

static void free_handle(uv_handle_t *h) { free(h); }

static void destroy(struct http2_conn *c)
{
    while (c->streams != NULL)
        stream_unlink_free(c->streams);
    nghttp2_session_del(c->session);
    c->session = NULL;
    tls_socket_free(c->sock);
    if (c->ka_timer != NULL)
        uv_close((uv_handle_t *)c->ka_timer, free_handle);
    free(c->addr);
    free(c);
}

void http2_conn_free(struct http2_conn *c)
{
    if (c == NULL)
        return;
    for (struct h2_stream *s = c->streams; s != NULL; s = s->next)
        s->cancelled = true;
    if (c->depth > 0) {
        c->free_pending = true;
        return;
    }
    destroy(c);
}
