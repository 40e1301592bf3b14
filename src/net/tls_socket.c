/* tls_socket.c - see tls_socket.h.
 *
 * States: RESOLVING (uv_getaddrinfo on the thread pool; a numeric IPv4 or
 * IPv6 host skips it: getaddrinfo converts it, tried from the prepare handle, so
 * libuv's thread pool never starts) -> CONNECTING (one address at a time; a
 * failed TCP connect moves to the next address) ->
 * HANDSHAKE -> OPEN -> DEAD.  The poll, timer and prepare handles are heap
 * allocated and freed by their close callbacks, so the socket itself can
 * be freed at once; callbacks into the owner go through enter()/leave() so
 * the owner may free the socket inside them.
 *
 * tls_socket_want_ready() is answered by a prepare handle, which libuv runs
 * once per loop iteration just before it waits: every write the owner
 * queued in that iteration leaves in one flush, with no system call to ask
 * for the socket's writability first. */
#include "net/tls_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "base/log.h"

#define READ_CHUNK (16 * 1024)

enum ts_state { TS_RESOLVING, TS_CONNECTING, TS_HANDSHAKE, TS_OPEN, TS_DEAD };

/* A poll handle with its socket; the close callback closes the fd and frees. */
struct ts_poll {
    uv_poll_t h;
    int fd;
    struct tls_socket *s;
};

/* The getaddrinfo request outlives a socket freed while resolving. */
struct ts_resolve {
    uv_getaddrinfo_t req;
    struct tls_socket *s;
};

struct tls_socket {
    uv_loop_t *loop;
    struct tls_socket_callbacks cbs;
    void *ud;
    enum ts_state state;
    char *addr, *server_name, *want_alpn;
    char host[256], port[16];
    char peer[INET6_ADDRSTRLEN + 8];
    unsigned char alpn_wire[256];
    size_t alpn_len;
    SSL_CTX *ssl_ctx;
    SSL *ssl;
    struct ts_resolve *resolve;
    struct addrinfo *ai_list, *ai_cur;
    int n_tried;
    struct enr_error last_connect; /* why the previous address failed */
    struct ts_poll *poll;
    int poll_events;
    uv_timer_t *timer;
    uv_prepare_t *ready; /* runs on_ready before the loop next waits */
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    int depth;
    bool free_pending;
};

static void destroy(struct tls_socket *s);
static void on_poll(uv_poll_t *h, int status, int events);
static void try_next(struct tls_socket *s);

static void enter(struct tls_socket *s) { s->depth++; }

static void leave(struct tls_socket *s)
{
    if (--s->depth == 0 && s->free_pending)
        destroy(s);
}

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

/* The connection broke while open: a TLS alert the server sent before it
 * closed may still be unread (under TLS 1.3 Auth refuses a client
 * certificate only after the client's side of the handshake is done, and
 * a write then meets the closed socket).  Reads it so the error names it
 * ("... alert unknown ca"); "" when there is none. */
static const char *pending_alert(struct tls_socket *s, char *buf, size_t size)
{
    uint8_t tmp[64];
    buf[0] = '\0';
    if (s->ssl == NULL)
        return buf;
    ERR_clear_error();
    int n = SSL_read(s->ssl, tmp, sizeof(tmp));
    if (n <= 0 && SSL_get_error(s->ssl, n) == SSL_ERROR_SSL && ERR_peek_last_error() != 0) {
        char e[200];
        snprintf(buf, size, " (after %s)", ssl_err_text(e, sizeof(e)));
    }
    ERR_clear_error();
    return buf;
}

static void free_handle(uv_handle_t *h) { free(h); }

static void poll_closed(uv_handle_t *h)
{
    struct ts_poll *p = (struct ts_poll *)h;
    if (p->fd >= 0)
        close(p->fd);
    free(p);
}

static void close_poll(struct tls_socket *s)
{
    if (s->poll == NULL)
        return;
    uv_poll_stop(&s->poll->h);
    uv_close((uv_handle_t *)&s->poll->h, poll_closed);
    s->poll = NULL;
    s->poll_events = 0;
}

static void set_poll(struct tls_socket *s, int events)
{
    if (s->poll != NULL && events != s->poll_events) {
        s->poll_events = events;
        uv_poll_start(&s->poll->h, events, on_poll);
    }
}

/* Marks the socket dead and tells the owner once. */
static void ts_fail(struct tls_socket *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void ts_fail(struct tls_socket *s, int code, const char *fmt, ...)
{
    struct enr_error err;
    char msg[ENR_ERROR_MSG_LEN];
    va_list ap;

    if (s->state == TS_DEAD)
        return;
    s->state = TS_DEAD;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    err_set(&err, code, "%s", msg);
    if (s->poll != NULL)
        uv_poll_stop(&s->poll->h);
    if (s->timer != NULL)
        uv_timer_stop(s->timer);
    enter(s);
    if (s->cbs.on_error && !s->free_pending)
        s->cbs.on_error(s->ud, &err);
    leave(s);
}

/* ---- address ---- */

int tls_socket_split_addr(const char *addr, char *host, size_t host_size, char *port, size_t port_size,
                          struct enr_error *err)
{
    const char *colon, *hs = addr, *p;
    size_t hl;

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
        if (memchr(addr, ':', (size_t)(colon - addr)) != NULL)
            return err_set(err, -EINVAL, "address \"%s\": write an IPv6 host as [addr]:port", addr);
        hl = (size_t)(colon - addr);
    }
    if (hl == 0 || hl >= host_size)
        return err_set(err, -EINVAL, "address \"%s\": bad host", addr);
    for (p = colon + 1; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            break;
    long v = strtol(colon + 1, NULL, 10);
    if (colon[1] == '\0' || *p != '\0' || p - (colon + 1) > 5 || v <= 0 || v > 65535)
        return err_set(err, -EINVAL, "address \"%s\": bad port", addr);
    memcpy(host, hs, hl);
    host[hl] = '\0';
    snprintf(port, port_size, "%ld", v);
    return 0;
}

/* ---- TLS ---- */

static void handshake_step(struct tls_socket *s)
{
    char ebuf[256];
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;

    ERR_clear_error();
    int rc = SSL_do_handshake(s->ssl);
    if (rc != 1) {
        int e = SSL_get_error(s->ssl, rc);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            set_poll(s, e == SSL_ERROR_WANT_READ ? UV_READABLE : UV_WRITABLE);
            return;
        }
        long v = SSL_get_verify_result(s->ssl);
        if (v != X509_V_OK)
            ts_fail(s, -EPERM, "%s: TLS handshake: server certificate not trusted (%s) for name \"%s\"", s->addr,
                    X509_verify_cert_error_string(v), s->server_name);
        else if ((e == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0) ||
                 ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
            ts_fail(s, -ECONNABORTED, "%s: TLS handshake: connection closed by the server", s->addr);
        else
            ts_fail(s, -EPROTO, "%s: TLS handshake: %s", s->addr, ssl_err_text(ebuf, sizeof(ebuf)));
        return;
    }
    SSL_get0_alpn_selected(s->ssl, &alpn, &alpn_len);
    if (alpn_len != strlen(s->want_alpn) || memcmp(alpn, s->want_alpn, alpn_len) != 0) {
        ts_fail(s, -EPROTO, "%s: server did not select ALPN protocol %s (got \"%.*s\")", s->addr, s->want_alpn,
                (int)alpn_len, alpn ? (const char *)alpn : "");
        return;
    }
    s->state = TS_OPEN;
    uv_timer_stop(s->timer);
    log_debug(LOG_TELEPORT, "%s: connected to %s (%s, %s)", s->addr, s->peer, SSL_get_version(s->ssl), s->want_alpn);
    set_poll(s, UV_READABLE | (s->out_off < s->out_len ? UV_WRITABLE : 0));
    enter(s);
    if (s->cbs.on_open)
        s->cbs.on_open(s->ud);
    if (s->state == TS_OPEN && !s->free_pending && s->cbs.on_ready)
        s->cbs.on_ready(s->ud);
    leave(s);
}

static void start_tls(struct tls_socket *s)
{
    char ebuf[256];
    s->ssl = SSL_new(s->ssl_ctx);
    if (s->ssl == NULL || SSL_set_fd(s->ssl, s->poll->fd) != 1 ||
        SSL_set_tlsext_host_name(s->ssl, s->server_name) != 1 || SSL_set1_host(s->ssl, s->server_name) != 1 ||
        SSL_set_alpn_protos(s->ssl, s->alpn_wire, (unsigned)s->alpn_len) != 0) {
        ts_fail(s, -ENOMEM, "%s: TLS setup: %s", s->addr, ssl_err_text(ebuf, sizeof(ebuf)));
        return;
    }
    /* One read() takes every record the kernel holds, not a 5-byte header
     * and then its body; ssl_read_all reads until WANT_READ, so nothing
     * waits in OpenSSL's buffer unseen. */
    SSL_set_read_ahead(s->ssl, 1);
    SSL_set_connect_state(s->ssl);
    s->state = TS_HANDSHAKE;
    handshake_step(s);
}

/* Writes queued bytes to TLS; 0 when all written or blocked, <0 when dead. */
static int ssl_drain(struct tls_socket *s)
{
    char ebuf[256];
    while (s->out_off < s->out_len) {
        ERR_clear_error();
        int n = SSL_write(s->ssl, s->out + s->out_off, (int)(s->out_len - s->out_off));
        if (n > 0) {
            s->out_off += (size_t)n;
            continue;
        }
        int e = SSL_get_error(s->ssl, n);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
            return 0;
        if (e == SSL_ERROR_SYSCALL) {
            int werr = errno;
            char abuf[256];
            ts_fail(s, -EIO, "%s: TLS write: %s%s", s->addr, strerror(werr), pending_alert(s, abuf, sizeof(abuf)));
        } else {
            ts_fail(s, -EIO, "%s: TLS write: %s", s->addr, ssl_err_text(ebuf, sizeof(ebuf)));
        }
        return -EIO;
    }
    s->out_off = s->out_len = 0;
    return 0;
}

static void ssl_read_all(struct tls_socket *s)
{
    uint8_t buf[READ_CHUNK];
    char ebuf[256];

    while (s->state == TS_OPEN && !s->free_pending) {
        ERR_clear_error();
        int n = SSL_read(s->ssl, buf, sizeof(buf));
        if (n > 0) {
            if (s->cbs.on_read)
                s->cbs.on_read(s->ud, buf, (size_t)n);
            continue;
        }
        int e = SSL_get_error(s->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return;
        if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0 && errno == 0) ||
            ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
            ts_fail(s, -ECONNRESET, "%s: connection closed by the server", s->addr);
        else if (e == SSL_ERROR_SYSCALL && errno != 0)
            ts_fail(s, -ECONNRESET, "%s: read: %s", s->addr, strerror(errno));
        else
            ts_fail(s, -EIO, "%s: TLS read: %s", s->addr, ssl_err_text(ebuf, sizeof(ebuf)));
        return;
    }
}

/* ---- connect ---- */

/* The current address failed at the TCP level: remember why, try the next. */
static void connect_failed(struct tls_socket *s, int code)
{
    err_set(&s->last_connect, -code, "%s", strerror(code));
    close_poll(s);
    s->ai_cur = s->ai_cur->ai_next;
    try_next(s);
}

static void try_next(struct tls_socket *s)
{
    for (; s->ai_cur != NULL; s->ai_cur = s->ai_cur->ai_next) {
        struct addrinfo *ai = s->ai_cur;
        char ip[INET6_ADDRSTRLEN] = "";
        int one = 1, fd, rc;

        if (ai->ai_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, ip, sizeof(ip));
        else if (ai->ai_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, ip, sizeof(ip));
        else
            continue;
        snprintf(s->peer, sizeof(s->peer), ai->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", ip, s->port);
        s->n_tried++;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err_set(&s->last_connect, -errno, "socket: %s", strerror(errno));
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if ((s->poll = calloc(1, sizeof(*s->poll))) == NULL) {
            close(fd);
            ts_fail(s, -ENOMEM, "connect to %s: out of memory", s->addr);
            return;
        }
        s->poll->fd = fd;
        s->poll->s = s;
        if ((rc = uv_poll_init(s->loop, &s->poll->h, fd)) < 0) {
            free(s->poll);
            s->poll = NULL;
            close(fd);
            ts_fail(s, rc, "connect to %s: %s", s->addr, uv_strerror(rc));
            return;
        }
        s->poll->h.data = s->poll;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
            err_set(&s->last_connect, -errno, "%s", strerror(errno));
            close_poll(s);
            continue;
        }
        s->state = TS_CONNECTING;
        set_poll(s, UV_WRITABLE);
        return;
    }
    if (s->n_tried <= 1)
        ts_fail(s, s->last_connect.code ? s->last_connect.code : -EHOSTUNREACH, "connect to %s: %s", s->addr,
                s->last_connect.code ? s->last_connect.msg : "no usable address");
    else
        ts_fail(s, s->last_connect.code, "connect to %s: %s (tried %d addresses, last %s)", s->addr,
                s->last_connect.msg, s->n_tried, s->peer);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct ts_resolve *r = (struct ts_resolve *)req;
    struct tls_socket *s = r->s;

    free(r);
    if (s == NULL) { /* freed while resolving */
        uv_freeaddrinfo(res);
        return;
    }
    s->resolve = NULL;
    enter(s);
    if (status < 0) {
        uv_freeaddrinfo(res);
        ts_fail(s, -EHOSTUNREACH, "resolve %s: %s", s->host, uv_strerror(status));
    } else {
        s->ai_list = s->ai_cur = res;
        try_next(s);
    }
    leave(s);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct tls_socket *s = ((struct ts_poll *)h->data)->s;
    int soerr = 0;
    socklen_t len = sizeof(soerr);

    enter(s);
    if (s->state == TS_CONNECTING) {
        if (getsockopt(s->poll->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
            soerr = errno;
        if (soerr == 0 && status < 0)
            soerr = ECONNREFUSED;
        if (soerr != 0)
            connect_failed(s, soerr);
        else
            start_tls(s);
        goto out;
    }
    if (status < 0) {
        /* libuv reports POLLERR as UV_EBADF; the socket error says why. */
        char abuf[256];
        if (getsockopt(s->poll->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr != 0)
            ts_fail(s, -soerr, "connection to %s: %s%s", s->addr, strerror(soerr),
                    s->state == TS_OPEN ? pending_alert(s, abuf, sizeof(abuf)) : "");
        else
            ts_fail(s, status, "%s: poll: %s", s->addr, uv_strerror(status));
        goto out;
    }
    if (s->state == TS_HANDSHAKE) {
        handshake_step(s);
    } else if (s->state == TS_OPEN) {
        if (events & UV_READABLE)
            ssl_read_all(s);
        if (s->state == TS_OPEN && !s->free_pending && (events & UV_WRITABLE))
            ssl_drain(s);
        if (s->state == TS_OPEN && !s->free_pending && s->cbs.on_ready)
            s->cbs.on_ready(s->ud);
        if (s->state == TS_OPEN && !s->free_pending)
            set_poll(s, UV_READABLE | (s->out_off < s->out_len ? UV_WRITABLE : 0));
    }
out:
    leave(s);
}

static void on_prepare(uv_prepare_t *h);

/* A host written as an IPv4 or IPv6 literal ("127.0.0.1", "::1",
 * "fe80::1%eth0") is its own address: getaddrinfo with AI_NUMERICHOST
 * converts it without a lookup, into ai_list as a lookup would.  false for
 * a name. */
static bool numeric_host(struct tls_socket *s)
{
    struct addrinfo hints;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(s->host, s->port, &hints, &s->ai_list) != 0) {
        s->ai_list = NULL;
        return false;
    }
    return true;
}

static void on_timer(uv_timer_t *t)
{
    struct tls_socket *s = t->data;
    static const char *const phase[] = {"name resolution", "TCP connect", "TLS handshake", "", ""};
    enter(s);
    if (s->state < TS_OPEN)
        ts_fail(s, -ETIMEDOUT, "connect to %s: timed out during %s", s->addr, phase[s->state]);
    leave(s);
}

/* A host name: looked up on libuv's thread pool, on_resolved goes on. */
static int start_resolve(struct tls_socket *s, struct enr_error *err)
{
    struct addrinfo hints;
    int rc;

    if ((s->resolve = calloc(1, sizeof(*s->resolve))) == NULL)
        return err_set(err, -ENOMEM, "tls: out of memory");
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    s->resolve->s = s;
    if ((rc = uv_getaddrinfo(s->loop, &s->resolve->req, on_resolved, s->host, s->port, &hints)) < 0) {
        free(s->resolve);
        s->resolve = NULL;
        return err_set(err, rc, "resolve %s: %s", s->host, uv_strerror(rc));
    }
    return 0;
}

struct tls_socket *tls_socket_connect(uv_loop_t *loop, const struct tls_socket_options *opts,
                                      const struct tls_socket_callbacks *cbs, void *ud, struct enr_error *err)
{
    struct tls_socket *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        err_set(err, -ENOMEM, "tls: out of memory");
        return NULL;
    }
    s->loop = loop;
    s->cbs = *cbs;
    s->ud = ud;
    s->state = TS_RESOLVING;
    s->addr = strdup(opts->addr);
    s->server_name = strdup(opts->server_name);
    s->want_alpn = strdup(opts->want_alpn ? opts->want_alpn : "h2");
    if (s->addr == NULL || s->server_name == NULL || s->want_alpn == NULL) {
        err_set(err, -ENOMEM, "tls: out of memory");
        goto fail;
    }
    if (tls_socket_split_addr(opts->addr, s->host, sizeof(s->host), s->port, sizeof(s->port), err) < 0)
        goto fail;
    for (size_t i = 0; i < TLS_SOCKET_MAX_ALPN && opts->alpn[i] != NULL; i++) {
        size_t n = strlen(opts->alpn[i]);
        if (n == 0 || n > 255 || s->alpn_len + 1 + n > sizeof(s->alpn_wire)) {
            err_set(err, -EINVAL, "tls: ALPN protocol \"%s\" too long", opts->alpn[i]);
            goto fail;
        }
        s->alpn_wire[s->alpn_len++] = (unsigned char)n;
        memcpy(s->alpn_wire + s->alpn_len, opts->alpn[i], n);
        s->alpn_len += n;
    }
    if (s->alpn_len == 0) {
        memcpy(s->alpn_wire, "\x02h2", 3);
        s->alpn_len = 3;
    }
    SSL_CTX_up_ref(opts->ssl_ctx);
    s->ssl_ctx = opts->ssl_ctx;
    if ((s->timer = malloc(sizeof(*s->timer))) == NULL) {
        err_set(err, -ENOMEM, "tls: out of memory");
        goto fail;
    }
    uv_timer_init(loop, s->timer); /* cannot fail */
    s->timer->data = s;
    if ((s->ready = malloc(sizeof(*s->ready))) == NULL) {
        err_set(err, -ENOMEM, "tls: out of memory");
        goto fail;
    }
    uv_prepare_init(loop, s->ready); /* cannot fail */
    s->ready->data = s;
    if (numeric_host(s)) {
        /* Connects from the loop, never inside this call: the owner's
         * callbacks run as they would after a lookup. */
        s->ai_cur = s->ai_list;
        uv_prepare_start(s->ready, on_prepare);
    } else if (start_resolve(s, err) < 0) {
        goto fail;
    }
    uv_timer_start(s->timer, on_timer, opts->connect_timeout_ms ? opts->connect_timeout_ms : 10000, 0);
    return s;
fail:
    destroy(s);
    return NULL;
}

int tls_socket_write(struct tls_socket *s, const uint8_t *data, size_t len)
{
    if (s->state == TS_DEAD)
        return -EPIPE;
    if (s->out_off > 0 && s->out_off == s->out_len)
        s->out_off = s->out_len = 0;
    if (s->out_len + len > s->out_cap) {
        size_t cap = s->out_cap ? s->out_cap : 16384;
        while (cap < s->out_len + len)
            cap *= 2;
        uint8_t *p = realloc(s->out, cap);
        if (p == NULL)
            return -ENOMEM;
        s->out = p;
        s->out_cap = cap;
    }
    memcpy(s->out + s->out_len, data, len);
    s->out_len += len;
    return 0;
}

void tls_socket_flush(struct tls_socket *s)
{
    if (s->state != TS_OPEN)
        return;
    enter(s);
    if (ssl_drain(s) == 0 && !s->free_pending)
        set_poll(s, UV_READABLE | (s->out_off < s->out_len ? UV_WRITABLE : 0));
    leave(s);
}

static void on_prepare(uv_prepare_t *h)
{
    struct tls_socket *s = h->data;

    uv_prepare_stop(h);
    enter(s);
    if (s->state == TS_RESOLVING && !s->free_pending) /* a numeric host: nothing to resolve */
        try_next(s);
    else if (s->state == TS_OPEN && !s->free_pending && s->cbs.on_ready)
        s->cbs.on_ready(s->ud);
    leave(s);
}

void tls_socket_want_ready(struct tls_socket *s)
{
    if (s->state == TS_OPEN)
        uv_prepare_start(s->ready, on_prepare);
}

size_t tls_socket_pending(const struct tls_socket *s) { return s->out_len - s->out_off; }
bool tls_socket_is_open(const struct tls_socket *s) { return s->state == TS_OPEN; }
const char *tls_socket_addr(const struct tls_socket *s) { return s->addr; }
const char *tls_socket_peer(const struct tls_socket *s) { return s->peer; }

static void destroy(struct tls_socket *s)
{
    if (s->resolve != NULL) {
        s->resolve->s = NULL; /* on_resolved frees it */
        uv_cancel((uv_req_t *)&s->resolve->req);
    }
    uv_freeaddrinfo(s->ai_list);
    close_poll(s);
    if (s->timer != NULL)
        uv_close((uv_handle_t *)s->timer, free_handle);
    if (s->ready != NULL)
        uv_close((uv_handle_t *)s->ready, free_handle);
    SSL_free(s->ssl);
    SSL_CTX_free(s->ssl_ctx);
    free(s->out);
    free(s->addr);
    free(s->server_name);
    free(s->want_alpn);
    free(s);
}

void tls_socket_free(struct tls_socket *s)
{
    if (s == NULL)
        return;
    if (s->depth > 0) {
        s->free_pending = true;
        s->state = TS_DEAD;
        return;
    }
    destroy(s);
}
