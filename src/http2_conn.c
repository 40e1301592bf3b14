/* http2_conn.c - see http2_conn.h.
 *
 * Layout: stream bookkeeping, nghttp2 callbacks, the failure path, the
 * socket transport (connect, TLS handshake, SSL read/write on uv_poll), the
 * injected transport, then the public calls.  Every entry from the loop or
 * from the owner goes through enter()/leave() so the owner may free the
 * connection from inside a callback; the real teardown waits until the
 * outermost entry returns. */
#include "http2_conn.h"

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

#include "grpc_frame.h"
#include "log.h"

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
    char *addr;
    char *server_name;
    SSL_CTX *ssl_ctx;
    SSL *ssl;
    int fd;
    uv_poll_t poll;
    uv_timer_t timer;          /* connect timeout, or deferred connect failure */
    bool poll_init, timer_init;
    int poll_events;
    struct sockaddr_storage sa;
    socklen_t sa_len;
    uint8_t *out;              /* encrypted-side pending bytes (plaintext for SSL_write) */
    size_t out_len, out_off, out_cap;

    int depth;                 /* nesting of enter() */
    bool free_pending;
    int closing_handles;
};

static void conn_flush(struct http2_conn *c);
static void update_poll(struct http2_conn *c);
static void destroy(struct http2_conn *c);
static void on_poll(uv_poll_t *h, int status, int events);

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
        if (error_code == NGHTTP2_NO_ERROR) {
            s->cbs.on_close(s->ud, NULL);
        } else {
            if (c->goaway && error_code == NGHTTP2_REFUSED_STREAM)
                err_set_grpc(&err, GRPC_STATUS_UNAVAILABLE, "stream %d refused: server sent GOAWAY", stream_id);
            else
                err_set_grpc(&err, h2_to_grpc(error_code), "stream %d reset: %s", stream_id,
                             nghttp2_http2_strerror(error_code));
            s->cbs.on_close(s->ud, &err);
        }
    }
    stream_unlink_free(s);
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct http2_conn *c = user_data;
    (void)session;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        c->goaway = true;
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
    if (c->poll_init && uv_is_active((uv_handle_t *)&c->poll))
        uv_poll_stop(&c->poll);
    if (c->timer_init)
        uv_timer_stop(&c->timer);
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

/* ---- socket transport ---- */

static const char *ssl_err_text(char *buf, size_t size)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0)
        snprintf(buf, size, "%s", "unexpected EOF");
    else
        ERR_error_string_n(e, buf, size);
    ERR_clear_error();
    return buf;
}

/* Parses "host:port": numeric IPv4, "[IPv6]" or "localhost". */
static int parse_addr(struct http2_conn *c, const char *addr, struct enr_error *err)
{
    char host[256];
    const char *colon, *hs = addr;
    size_t hl;
    char *end;
    long port;

    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');
        if (rb == NULL || rb[1] != ':')
            return err_set(err, -EINVAL, "address \"%s\": want [ipv6]:port", addr);
        hs = addr + 1;
        hl = (size_t)(rb - hs);
        colon = rb + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL)
            return err_set(err, -EINVAL, "address \"%s\": want host:port", addr);
        hl = (size_t)(colon - addr);
    }
    if (hl == 0 || hl >= sizeof(host))
        return err_set(err, -EINVAL, "address \"%s\": bad host", addr);
    memcpy(host, hs, hl);
    host[hl] = '\0';
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port <= 0 || port > 65535)
        return err_set(err, -EINVAL, "address \"%s\": bad port", addr);
    memset(&c->sa, 0, sizeof(c->sa));
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    struct sockaddr_in *v4 = (struct sockaddr_in *)&c->sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&c->sa;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        c->sa_len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        c->sa_len = sizeof(*v6);
    } else {
        return err_set(err, -EINVAL, "address \"%s\": host must be a numeric IP or localhost (no DNS lookups)", addr);
    }
    return 0;
}

static int out_append(struct http2_conn *c, const uint8_t *data, size_t len)
{
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 16384;
        while (cap < c->out_len + len)
            cap *= 2;
        uint8_t *p = realloc(c->out, cap);
        if (p == NULL)
            return -ENOMEM;
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return 0;
}

/* Writes pending bytes to TLS; 0 when all written or blocked, <0 when dead. */
static int ssl_drain(struct http2_conn *c)
{
    char ebuf[256];
    while (c->out_off < c->out_len) {
        ERR_clear_error();
        int n = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
            return 0;
        conn_fail(c, -EIO, "%s: TLS write: %s", c->addr, e == SSL_ERROR_SYSCALL ? strerror(errno) : ssl_err_text(ebuf, sizeof(ebuf)));
        return -EIO;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

static void ssl_read_all(struct http2_conn *c)
{
    uint8_t buf[READ_CHUNK];
    char ebuf[256];

    while (c->state == ST_OPEN && !c->free_pending) {
        ERR_clear_error();
        int n = SSL_read(c->ssl, buf, sizeof(buf));
        if (n > 0) {
            ssize_t rv = nghttp2_session_mem_recv(c->session, buf, (size_t)n);
            if (rv < 0) {
                conn_fail(c, -EPROTO, "%s: HTTP/2: %s", c->addr, nghttp2_strerror((int)rv));
                return;
            }
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return;
        if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0 && errno == 0))
            conn_fail(c, -ECONNRESET, "%s: connection closed by the server", c->addr);
        else if (e == SSL_ERROR_SYSCALL && errno != 0)
            conn_fail(c, -ECONNRESET, "%s: read: %s", c->addr, strerror(errno));
        else
            conn_fail(c, -EIO, "%s: TLS read: %s", c->addr, ssl_err_text(ebuf, sizeof(ebuf)));
        return;
    }
}

static void handshake_step(struct http2_conn *c)
{
    char ebuf[256];
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;

    ERR_clear_error();
    int rc = SSL_do_handshake(c->ssl);
    if (rc != 1) {
        int e = SSL_get_error(c->ssl, rc);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            c->poll_events = e == SSL_ERROR_WANT_READ ? UV_READABLE : UV_WRITABLE;
            uv_poll_start(&c->poll, c->poll_events, on_poll);
            return;
        }
        long v = SSL_get_verify_result(c->ssl);
        if (v != X509_V_OK)
            conn_fail(c, -EPERM, "%s: TLS handshake: server certificate not trusted (%s) for name \"%s\"", c->addr,
                      X509_verify_cert_error_string(v), c->server_name);
        else if (e == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0)
            conn_fail(c, -ECONNRESET, "%s: TLS handshake: connection closed by the server", c->addr);
        else
            conn_fail(c, -EPROTO, "%s: TLS handshake: %s", c->addr, ssl_err_text(ebuf, sizeof(ebuf)));
        return;
    }
    SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
    if (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0) {
        conn_fail(c, -EPROTO, "%s: server did not select ALPN protocol h2 (got \"%.*s\")", c->addr, (int)alpn_len,
                  alpn ? (const char *)alpn : "");
        return;
    }
    c->state = ST_OPEN;
    uv_timer_stop(&c->timer);
    log_debug(LOG_TELEPORT, "%s: connected (%s, h2)", c->addr, SSL_get_version(c->ssl));
    if (c->cbs.on_connected)
        c->cbs.on_connected(c->ud);
    if (c->state == ST_OPEN && !c->free_pending)
        conn_flush(c);
}

static void start_tls(struct http2_conn *c)
{
    char ebuf[256];
    c->ssl = SSL_new(c->ssl_ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
        SSL_set_tlsext_host_name(c->ssl, c->server_name) != 1 || SSL_set1_host(c->ssl, c->server_name) != 1) {
        conn_fail(c, -ENOMEM, "%s: TLS setup: %s", c->addr, ssl_err_text(ebuf, sizeof(ebuf)));
        return;
    }
    SSL_set_connect_state(c->ssl);
    c->state = ST_HANDSHAKE;
    handshake_step(c);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct http2_conn *c = h->data;

    enter(c);
    if (status < 0) {
        /* libuv reports POLLERR as UV_EBADF; the socket error says why. */
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr != 0)
            conn_fail(c, -soerr, "%s %s: %s", c->state == ST_CONNECTING ? "connect to" : "connection to", c->addr,
                      strerror(soerr));
        else
            conn_fail(c, status, "%s: poll: %s", c->addr, uv_strerror(status));
        goto out;
    }
    switch (c->state) {
    case ST_CONNECTING: {
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
            soerr = errno;
        if (soerr != 0) {
            conn_fail(c, -soerr, "connect to %s: %s", c->addr, strerror(soerr));
            goto out;
        }
        start_tls(c);
        break;
    }
    case ST_HANDSHAKE:
        handshake_step(c);
        break;
    case ST_OPEN:
        if (events & UV_READABLE)
            ssl_read_all(c);
        if (c->state == ST_OPEN && !c->free_pending)
            conn_flush(c);
        break;
    case ST_DEAD:
        break;
    }
out:
    leave(c);
}

static void on_timer(uv_timer_t *t)
{
    struct http2_conn *c = t->data;
    enter(c);
    if (c->fail.code != 0 && c->state != ST_DEAD) /* deferred connect() failure */
        conn_fail(c, c->fail.code, "%s", c->fail.msg);
    else if (c->state == ST_CONNECTING || c->state == ST_HANDSHAKE)
        conn_fail(c, -ETIMEDOUT, "connect to %s: timed out during %s", c->addr,
                  c->state == ST_CONNECTING ? "TCP connect" : "TLS handshake");
    leave(c);
}

static void update_poll(struct http2_conn *c)
{
    int ev;
    if (c->use_io || c->state != ST_OPEN || !c->poll_init)
        return;
    ev = UV_READABLE;
    if (c->out_off < c->out_len || nghttp2_session_want_write(c->session))
        ev |= UV_WRITABLE;
    if (ev != c->poll_events) {
        c->poll_events = ev;
        uv_poll_start(&c->poll, ev, on_poll);
    }
}

/* Moves bytes from nghttp2 to the transport; notices a finished session. */
static void conn_flush(struct http2_conn *c)
{
    if (c->state != ST_OPEN)
        return;
    for (;;) {
        if (!c->use_io) {
            if (ssl_drain(c) < 0)
                return;
            if (c->out_len - c->out_off >= OUT_HIGH_WATER)
                break;
        }
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->session, &data);
        if (n < 0) {
            conn_fail(c, -EPROTO, "%s: HTTP/2: %s", c->addr ? c->addr : "http2", nghttp2_strerror((int)n));
            return;
        }
        if (n == 0) {
            if (!c->use_io && ssl_drain(c) < 0)
                return;
            break;
        }
        if (c->use_io) {
            int rc = c->io.send(c->io.io_ud, data, (size_t)n);
            if (rc < 0) {
                conn_fail(c, rc, "http2: transport send failed (%d)", rc);
                return;
            }
        } else if (out_append(c, data, (size_t)n) < 0) {
            conn_fail(c, -ENOMEM, "%s: out of memory", c->addr);
            return;
        }
    }
    if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session) &&
        c->out_off == c->out_len) {
        conn_fail(c, -ECONNRESET, "%s: connection closed%s", c->addr ? c->addr : "http2",
                  c->goaway ? " after GOAWAY" : "");
        return;
    }
    update_poll(c);
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
    c->fd = -1;
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
    c->use_io = true;
    c->io = *io;
    c->state = ST_OPEN;
    return c;
}

struct http2_conn *http2_conn_connect(uv_loop_t *loop, const struct http2_conn_options *opts,
                                      const struct http2_conn_callbacks *cbs, void *ud, struct enr_error *err)
{
    struct http2_conn *c = conn_alloc(cbs, ud, err);
    int rc;

    if (c == NULL)
        return NULL;
    c->loop = loop;
    c->state = ST_CONNECTING;
    c->addr = strdup(opts->addr);
    c->server_name = strdup(opts->server_name ? opts->server_name : HTTP2_CONN_DEFAULT_SERVER_NAME);
    if (c->addr == NULL || c->server_name == NULL) {
        err_set(err, -ENOMEM, "http2: out of memory");
        goto fail;
    }
    if (parse_addr(c, opts->addr, err) < 0)
        goto fail;
    SSL_CTX_up_ref(opts->ssl_ctx);
    c->ssl_ctx = opts->ssl_ctx;
    c->fd = socket(c->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        err_set(err, -errno, "connect to %s: socket: %s", c->addr, strerror(errno));
        goto fail;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if ((rc = uv_timer_init(loop, &c->timer)) < 0 || (c->timer_init = true, rc = uv_poll_init(loop, &c->poll, c->fd)) < 0) {
        err_set(err, rc, "connect to %s: %s", c->addr, uv_strerror(rc));
        goto fail;
    }
    c->poll_init = true;
    c->poll.data = c;
    c->timer.data = c;
    if (connect(c->fd, (struct sockaddr *)&c->sa, c->sa_len) < 0 && errno != EINPROGRESS) {
        /* Report it from the loop like any other connect failure. */
        err_set(&c->fail, -errno, "connect to %s: %s", c->addr, strerror(errno));
        uv_timer_start(&c->timer, on_timer, 0, 0);
        return c;
    }
    c->poll_events = UV_WRITABLE;
    uv_poll_start(&c->poll, UV_WRITABLE, on_poll);
    uv_timer_start(&c->timer, on_timer, opts->connect_timeout_ms ? opts->connect_timeout_ms : 10000, 0);
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
    update_poll(c); /* the socket transport sends from the loop; never call back from here */
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
        update_poll(c);
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

static void on_handle_closed(uv_handle_t *h)
{
    struct http2_conn *c = h->data;
    if (--c->closing_handles == 0) {
        if (c->fd >= 0)
            close(c->fd);
        free(c);
    }
}

static void destroy(struct http2_conn *c)
{
    while (c->streams != NULL)
        stream_unlink_free(c->streams);
    nghttp2_session_del(c->session);
    c->session = NULL;
    SSL_free(c->ssl);
    SSL_CTX_free(c->ssl_ctx);
    free(c->out);
    free(c->addr);
    free(c->server_name);
    if (c->poll_init) {
        c->closing_handles++;
        uv_close((uv_handle_t *)&c->poll, on_handle_closed);
    }
    if (c->timer_init) {
        c->closing_handles++;
        c->timer.data = c;
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    }
    if (c->closing_handles == 0) {
        if (c->fd >= 0)
            close(c->fd);
        free(c);
    }
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
