/* test_http2_conn.c - http2_conn over an injected transport, against a
 * scripted server: a second nghttp2 session in server mode, driven by the
 * test (nghttp2 tests/nghttp2_session_test.c style).  Covers the gRPC
 * request/response round trip, concurrent streams, trailers-only replies,
 * RST_STREAM, GOAWAY, EOF, garbage input, cancel and free from a callback. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "net/grpc_frame.h"
#include "net/http2_conn.h"
#include "test.h"

/* ---- byte pipes ---- */
struct bytes {
    uint8_t *p;
    size_t len, cap;
};
static void bytes_add(struct bytes *b, const uint8_t *d, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 1024;
        b->p = realloc(b->p, b->cap);
        ASSERT_TRUE(b->p != NULL);
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static struct bytes c2s; /* client -> server */
static int send_fail;   /* make the client transport fail */

static int client_send(void *ud, const uint8_t *d, size_t n)
{
    (void)ud;
    if (send_fail)
        return -EPIPE;
    bytes_add(&c2s, d, n);
    return 0;
}

/* ---- scripted server ---- */
struct sreq {
    int32_t id;
    char path[128], te[32], ct[64], timeout[16];
    struct bytes body;
    bool ended, reset;
    uint32_t reset_code;
    uint8_t resp[256];
    size_t resp_len, resp_off;
    const char *trailer_status, *trailer_msg;
};
struct server {
    nghttp2_session *s;
    struct sreq reqs[16];
    int n;
};
static struct server srv;

static struct sreq *sreq_find(int32_t id)
{
    for (int i = 0; i < srv.n; i++)
        if (srv.reqs[i].id == id)
            return &srv.reqs[i];
    return NULL;
}

static int s_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)s, (void)ud;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
        ASSERT_TRUE(srv.n < 16);
        memset(&srv.reqs[srv.n], 0, sizeof(srv.reqs[0]));
        srv.reqs[srv.n++].id = f->hd.stream_id;
    }
    return 0;
}

static void copy_str(char *dst, size_t size, const uint8_t *v, size_t len)
{
    if (len >= size)
        len = size - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

static int s_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
                    const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)s, (void)flags, (void)ud;
    struct sreq *r = sreq_find(f->hd.stream_id);
    ASSERT_TRUE(r != NULL);
    if (namelen == 5 && memcmp(name, ":path", 5) == 0)
        copy_str(r->path, sizeof(r->path), value, valuelen);
    if (namelen == 2 && memcmp(name, "te", 2) == 0)
        copy_str(r->te, sizeof(r->te), value, valuelen);
    if (namelen == 12 && memcmp(name, "content-type", 12) == 0)
        copy_str(r->ct, sizeof(r->ct), value, valuelen);
    if (namelen == 12 && memcmp(name, "grpc-timeout", 12) == 0)
        copy_str(r->timeout, sizeof(r->timeout), value, valuelen);
    return 0;
}

static int s_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t len, void *ud)
{
    (void)s, (void)flags, (void)ud;
    struct sreq *r = sreq_find(id);
    ASSERT_TRUE(r != NULL);
    bytes_add(&r->body, d, len);
    return 0;
}

static int s_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)s, (void)ud;
    if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        struct sreq *r = sreq_find(f->hd.stream_id);
        if (r)
            r->ended = true;
    }
    return 0;
}

static int s_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    (void)s, (void)ud;
    struct sreq *r = sreq_find(id);
    if (r && code != NGHTTP2_NO_ERROR) {
        r->reset = true;
        r->reset_code = code;
    }
    return 0;
}

static void server_start(void)
{
    nghttp2_session_callbacks *cb;
    memset(&srv, 0, sizeof(srv));
    ASSERT_EQ(nghttp2_session_callbacks_new(&cb), 0);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, s_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, s_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, s_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, s_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, s_close);
    ASSERT_EQ(nghttp2_session_server_new(&srv.s, cb, NULL), 0);
    nghttp2_session_callbacks_del(cb);
    ASSERT_EQ(nghttp2_submit_settings(srv.s, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

static void server_stop(void)
{
    nghttp2_session_del(srv.s);
    for (int i = 0; i < srv.n; i++)
        free(srv.reqs[i].body.p);
    free(c2s.p);
    memset(&c2s, 0, sizeof(c2s));
    send_fail = 0;
}

static ssize_t s_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                      nghttp2_data_source *src, void *ud)
{
    (void)ud;
    struct sreq *r = src->ptr;
    size_t n = r->resp_len - r->resp_off;
    if (n > length)
        n = length;
    memcpy(buf, r->resp + r->resp_off, n);
    r->resp_off += n;
    if (r->resp_off == r->resp_len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_nv tr[2] = {
            {(uint8_t *)"grpc-status", (uint8_t *)(uintptr_t)r->trailer_status, 11, strlen(r->trailer_status), 0},
            {(uint8_t *)"grpc-message", (uint8_t *)(uintptr_t)r->trailer_msg, 12, strlen(r->trailer_msg), 0},
        };
        ASSERT_EQ(nghttp2_submit_trailer(s, id, tr, r->trailer_msg[0] ? 2 : 1), 0);
    }
    return (ssize_t)n;
}

/* A gRPC reply: headers, one framed message, trailers. */
static void server_reply(struct sreq *r, const char *msg, const char *status, const char *message)
{
    nghttp2_nv h[2] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, 0},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, 0},
    };
    nghttp2_data_provider dp = {.source.ptr = r, .read_callback = s_read};
    grpc_frame_put_header(r->resp, (uint32_t)strlen(msg));
    memcpy(r->resp + 5, msg, strlen(msg));
    r->resp_len = 5 + strlen(msg);
    r->trailer_status = status;
    r->trailer_msg = message;
    ASSERT_EQ(nghttp2_submit_response(srv.s, r->id, h, 2, &dp), 0);
}

/* Trailers-only: one HEADERS frame with END_STREAM. */
static void server_reply_trailers_only(struct sreq *r, const char *status, const char *message)
{
    nghttp2_nv h[4] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, 0},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, 0},
        {(uint8_t *)"grpc-status", (uint8_t *)(uintptr_t)status, 11, strlen(status), 0},
        {(uint8_t *)"grpc-message", (uint8_t *)(uintptr_t)message, 12, strlen(message), 0},
    };
    ASSERT_EQ(nghttp2_submit_response(srv.s, r->id, h, 4, NULL), 0);
}

/* Moves bytes both ways until nothing is left. */
static void pump(struct http2_conn **pc)
{
    for (int rounds = 0; rounds < 100; rounds++) {
        struct bytes s2c = {0};
        const uint8_t *d;
        ssize_t n;
        if (*pc != NULL)
            http2_conn_flush(*pc);
        if (c2s.len > 0) {
            ASSERT_EQ(nghttp2_session_mem_recv(srv.s, c2s.p, c2s.len), (long long)c2s.len);
            c2s.len = 0;
        }
        while ((n = nghttp2_session_mem_send(srv.s, &d)) > 0)
            bytes_add(&s2c, d, (size_t)n);
        ASSERT_TRUE(n == 0);
        if (s2c.len == 0 && c2s.len == 0) {
            free(s2c.p);
            return;
        }
        if (*pc != NULL)
            http2_conn_input(*pc, s2c.p, s2c.len);
        free(s2c.p);
    }
    ASSERT_TRUE(!"pump did not settle");
}

/* ---- client side recorder ---- */
struct call {
    char headers[512], trailers[512];
    struct bytes data;
    int closed;
    struct enr_error err;
    bool failed;
    struct http2_conn **free_conn_on_close;
};

static void rec_header(void *ud, const char *n, size_t nl, const char *v, size_t vl, bool trailer)
{
    struct call *k = ud;
    char *dst = trailer ? k->trailers : k->headers;
    size_t used = strlen(dst);
    snprintf(dst + used, 512 - used, "%.*s: %.*s\n", (int)nl, n, (int)vl, v);
}
static void rec_data(void *ud, const uint8_t *d, size_t len)
{
    bytes_add(&((struct call *)ud)->data, d, len);
}
static void rec_close(void *ud, const struct enr_error *err)
{
    struct call *k = ud;
    k->closed++;
    if (err) {
        k->failed = true;
        k->err = *err;
    }
    if (k->free_conn_on_close) {
        http2_conn_free(*k->free_conn_on_close);
        *k->free_conn_on_close = NULL;
    }
}
static const struct http2_stream_callbacks rec_cbs = {rec_header, rec_data, rec_close};

static int conn_errors;
static struct enr_error conn_err;
static void on_conn_error(void *ud, const struct enr_error *err)
{
    (void)ud;
    conn_errors++;
    conn_err = *err;
}
static const struct http2_conn_callbacks conn_cbs = {NULL, on_conn_error};

static struct http2_conn *client(void)
{
    struct http2_conn_io io = {client_send, NULL};
    struct enr_error err = {0};
    struct http2_conn *c = http2_conn_new_io(&io, &conn_cbs, NULL, &err);
    ASSERT_TRUE(c != NULL);
    conn_errors = 0;
    return c;
}

static int32_t grpc_submit(struct http2_conn *c, const char *method, const char *msg, struct call *k)
{
    char path[128];
    uint8_t body[256];
    struct enr_error err = {0};
    snprintf(path, sizeof(path), "/proto.AuthService/%s", method);
    struct http2_header h[] = {
        {":method", "POST"}, {":scheme", "https"}, {":path", path}, {":authority", "teleport.cluster.local"},
        {"content-type", "application/grpc"}, {"te", "trailers"}, {"grpc-timeout", "1500m"},
    };
    grpc_frame_put_header(body, (uint32_t)strlen(msg));
    memcpy(body + 5, msg, strlen(msg));
    int32_t id = http2_conn_submit(c, h, 7, body, 5 + strlen(msg), &rec_cbs, k, &err);
    if (id < 0)
        k->err = err;
    return id;
}

static void call_cleanup(struct call *k)
{
    free(k->data.p);
    memset(k, 0, sizeof(*k));
}

static void test_round_trip(void)
{
    struct call k = {0};
    server_start();
    struct http2_conn *c = client();
    int32_t id = grpc_submit(c, "Ping", "ping-bytes", &k);
    ASSERT_TRUE(id > 0);
    ASSERT_EQ(http2_conn_n_streams(c), 1);
    pump(&c);
    struct sreq *r = sreq_find(id);
    ASSERT_TRUE(r != NULL && r->ended);
    ASSERT_STREQ(r->path, "/proto.AuthService/Ping");
    ASSERT_STREQ(r->te, "trailers");
    ASSERT_STREQ(r->ct, "application/grpc");
    ASSERT_STREQ(r->timeout, "1500m");
    ASSERT_EQ(r->body.len, 15);
    ASSERT_TRUE(memcmp(r->body.p, "\0\0\0\0\x0aping-bytes", 15) == 0);
    ASSERT_EQ(k.closed, 0);
    server_reply(r, "pong", "0", "");
    pump(&c);
    ASSERT_EQ(k.closed, 1);
    ASSERT_TRUE(!k.failed);
    ASSERT_STREQ(k.headers, ":status: 200\ncontent-type: application/grpc\n");
    ASSERT_STREQ(k.trailers, "grpc-status: 0\n");
    ASSERT_EQ(k.data.len, 9);
    ASSERT_TRUE(memcmp(k.data.p, "\0\0\0\0\4pong", 9) == 0);
    ASSERT_EQ(http2_conn_n_streams(c), 0);
    ASSERT_TRUE(http2_conn_usable(c));
    ASSERT_EQ(conn_errors, 0);
    http2_conn_free(c);
    server_stop();
    call_cleanup(&k);
}

static void test_concurrent(void)
{
    struct call k[3];
    memset(k, 0, sizeof(k));
    int32_t id[3];
    const char *replies[3] = {"one", "two", "three"};
    server_start();
    struct http2_conn *c = client();
    for (int i = 0; i < 3; i++)
        ASSERT_TRUE((id[i] = grpc_submit(c, "GetApps", "x", &k[i])) > 0);
    pump(&c);
    ASSERT_EQ(srv.n, 3);
    for (int i = 2; i >= 0; i--) /* reverse order */
        server_reply(sreq_find(id[i]), replies[i], "0", "");
    pump(&c);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(k[i].closed, 1);
        ASSERT_TRUE(!k[i].failed);
        ASSERT_EQ(k[i].data.len, 5 + strlen(replies[i]));
        ASSERT_TRUE(memcmp(k[i].data.p + 5, replies[i], strlen(replies[i])) == 0);
        call_cleanup(&k[i]);
    }
    http2_conn_free(c);
    server_stop();
}

static void test_trailers_only_and_reset(void)
{
    struct call a = {0}, b = {0};
    server_start();
    struct http2_conn *c = client();
    int32_t ia = grpc_submit(c, "GetApp", "a", &a), ib = grpc_submit(c, "GetApp", "b", &b);
    pump(&c);
    server_reply_trailers_only(sreq_find(ia), "5", "application %22a%22 doesn't exist");
    ASSERT_EQ(nghttp2_submit_rst_stream(srv.s, NGHTTP2_FLAG_NONE, ib, NGHTTP2_INTERNAL_ERROR), 0);
    pump(&c);
    ASSERT_EQ(a.closed, 1);
    ASSERT_TRUE(!a.failed);
    ASSERT_CONTAINS(a.headers, "grpc-status: 5\n");
    ASSERT_CONTAINS(a.headers, "grpc-message: application %22a%22 doesn't exist\n");
    ASSERT_STREQ(a.trailers, "");
    ASSERT_EQ(b.closed, 1);
    ASSERT_TRUE(b.failed);
    ASSERT_EQ(b.err.grpc_status, GRPC_STATUS_INTERNAL);
    ASSERT_CONTAINS(b.err.msg, "reset");
    ASSERT_TRUE(http2_conn_usable(c));
    http2_conn_free(c);
    server_stop();
    call_cleanup(&a);
    call_cleanup(&b);
}

static void test_goaway(void)
{
    struct call a = {0}, b = {0}, d = {0};
    server_start();
    struct http2_conn *c = client();
    int32_t ia = grpc_submit(c, "CreateApp", "a", &a), ib = grpc_submit(c, "CreateApp", "b", &b);
    pump(&c);
    ASSERT_EQ(nghttp2_submit_goaway(srv.s, NGHTTP2_FLAG_NONE, ia, NGHTTP2_NO_ERROR, NULL, 0), 0);
    server_reply(sreq_find(ia), "ok", "0", "");
    pump(&c);
    (void)ib;
    ASSERT_EQ(a.closed, 1);
    ASSERT_TRUE(!a.failed);
    ASSERT_EQ(b.closed, 1);
    ASSERT_TRUE(b.failed);
    ASSERT_EQ(b.err.grpc_status, GRPC_STATUS_UNAVAILABLE);
    ASSERT_CONTAINS(b.err.msg, "GOAWAY");
    ASSERT_EQ(b.err.code, -EAGAIN); /* above last-stream-id: never processed, safe to retry */
    ASSERT_TRUE(!http2_conn_usable(c));
    ASSERT_EQ(grpc_submit(c, "Ping", "", &d), -ECONNRESET);
    ASSERT_CONTAINS(d.err.msg, "GOAWAY");
    ASSERT_EQ(d.closed, 0);
    http2_conn_free(c);
    server_stop();
    call_cleanup(&a);
    call_cleanup(&b);
    call_cleanup(&d);
}

/* SETTINGS_MAX_CONCURRENT_STREAMS = 1: further requests wait in nghttp2's
 * queue and go out as streams close; a GOAWAY while one waits fails it with
 * -EAGAIN (never sent, safe to retry). */
static void test_max_concurrent(void)
{
    struct call k[3];
    memset(k, 0, sizeof(k));
    nghttp2_settings_entry one = {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1};
    server_start();
    ASSERT_EQ(nghttp2_submit_settings(srv.s, NGHTTP2_FLAG_NONE, &one, 1), 0);
    struct http2_conn *c = client();
    pump(&c);
    for (int i = 0; i < 3; i++)
        ASSERT_TRUE(grpc_submit(c, "Ping", "", &k[i]) > 0);
    pump(&c);
    ASSERT_EQ(srv.n, 1);
    ASSERT_EQ(http2_conn_n_streams(c), 3);
    server_reply(&srv.reqs[0], "r0", "0", "");
    pump(&c);
    ASSERT_EQ(k[0].closed, 1);
    ASSERT_TRUE(!k[0].failed);
    ASSERT_EQ(srv.n, 2);
    ASSERT_EQ(nghttp2_submit_goaway(srv.s, NGHTTP2_FLAG_NONE, srv.reqs[1].id, NGHTTP2_NO_ERROR, NULL, 0), 0);
    server_reply(&srv.reqs[1], "r1", "0", "");
    pump(&c);
    ASSERT_EQ(k[1].closed, 1);
    ASSERT_TRUE(!k[1].failed);
    ASSERT_EQ(k[2].closed, 1);
    ASSERT_TRUE(k[2].failed);
    ASSERT_EQ(k[2].err.code, -EAGAIN);
    ASSERT_EQ(srv.n, 2); /* the third never reached the server */
    ASSERT_EQ(http2_conn_n_streams(c), 0);
    http2_conn_free(c);
    server_stop();
    for (int i = 0; i < 3; i++)
        call_cleanup(&k[i]);
}

static void test_eof_and_garbage(void)
{
    struct call a = {0}, b = {0};
    server_start();
    struct http2_conn *c = client();
    grpc_submit(c, "Ping", "", &a);
    grpc_submit(c, "Ping", "", &b);
    pump(&c);
    http2_conn_input_eof(c);
    ASSERT_EQ(a.closed, 1);
    ASSERT_EQ(b.closed, 1);
    ASSERT_EQ(a.err.grpc_status, GRPC_STATUS_UNAVAILABLE);
    ASSERT_CONTAINS(a.err.msg, "connection closed by the server");
    ASSERT_EQ(conn_errors, 1);
    ASSERT_TRUE(!http2_conn_usable(c));
    http2_conn_input_eof(c); /* idempotent */
    ASSERT_EQ(conn_errors, 1);
    http2_conn_free(c);
    server_stop();
    call_cleanup(&a);
    call_cleanup(&b);

    /* garbage instead of a server preface */
    c = client();
    grpc_submit(c, "Ping", "", &a);
    http2_conn_flush(c);
    static const uint8_t junk[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
    http2_conn_input(c, junk, sizeof(junk) - 1);
    ASSERT_EQ(a.closed, 1);
    ASSERT_EQ(a.err.grpc_status, GRPC_STATUS_UNAVAILABLE);
    ASSERT_EQ(conn_errors, 1);
    ASSERT_CONTAINS(conn_err.msg, "http2:");
    http2_conn_free(c);
    free(c2s.p);
    memset(&c2s, 0, sizeof(c2s));
    call_cleanup(&a);

    /* the transport refuses bytes */
    c = client();
    grpc_submit(c, "Ping", "", &a);
    send_fail = 1;
    http2_conn_flush(c);
    ASSERT_EQ(a.closed, 1);
    ASSERT_EQ(conn_errors, 1);
    ASSERT_CONTAINS(conn_err.msg, "transport send failed");
    send_fail = 0;
    http2_conn_free(c);
    call_cleanup(&a);
}

static void test_cancel_and_free_in_callback(void)
{
    struct call a = {0}, b = {0}, d = {0};
    server_start();
    struct http2_conn *c = client();
    int32_t ia = grpc_submit(c, "Ping", "", &a);
    pump(&c);
    http2_conn_cancel(c, ia);
    pump(&c);
    ASSERT_TRUE(sreq_find(ia)->reset);
    ASSERT_EQ(sreq_find(ia)->reset_code, NGHTTP2_CANCEL);
    ASSERT_EQ(a.closed, 0);
    ASSERT_EQ(http2_conn_n_streams(c), 0);

    /* two replies arrive in one read; the first close frees the connection */
    int32_t ib = grpc_submit(c, "Ping", "", &b), id = grpc_submit(c, "Ping", "", &d);
    pump(&c);
    b.free_conn_on_close = &c;
    server_reply(sreq_find(ib), "b", "0", "");
    server_reply(sreq_find(id), "d", "0", "");
    pump(&c);
    ASSERT_TRUE(c == NULL);
    ASSERT_EQ(b.closed, 1);
    ASSERT_EQ(d.closed, 0);
    server_stop();
    call_cleanup(&a);
    call_cleanup(&b);
    call_cleanup(&d);
}

/* Threads of this process (entries of /proc/self/task). */
static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;
    ASSERT_TRUE(d != NULL);
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* A numeric address is not looked up: libuv's thread pool (which the first
 * uv_getaddrinfo starts) does not start, and the failure still arrives from
 * the loop, not inside the connect call.  Runs before any name is resolved
 * in this process. */
static void test_numeric_connect(void)
{
    uv_loop_t loop;
    struct enr_error err = {0};
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    struct http2_conn_options o = {.addr = "127.0.0.1:1", .ssl_ctx = ctx};
    int threads = thread_count();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    conn_errors = 0;
    struct http2_conn *c = http2_conn_connect(&loop, &o, &conn_cbs, NULL, &err);
    ASSERT_TRUE(c != NULL);
    ASSERT_EQ(conn_errors, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(conn_errors, 1);
    ASSERT_CONTAINS(conn_err.msg, "connect to 127.0.0.1:1: Connection refused");
    http2_conn_free(c);
    o.addr = "[::1]:1";
    c = http2_conn_connect(&loop, &o, &conn_cbs, NULL, &err);
    ASSERT_TRUE(c != NULL);
    ASSERT_EQ(conn_errors, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(conn_errors, 2);
    ASSERT_CONTAINS(conn_err.msg, "connect to [::1]:1: ");
    http2_conn_free(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    SSL_CTX_free(ctx);
    ASSERT_EQ(thread_count(), threads);
}

static void test_connect_errors(void)
{
    uv_loop_t loop;
    struct enr_error err = {0};
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    struct http2_conn_options o = {.addr = "::1:3025", .ssl_ctx = ctx};
    ASSERT_EQ(uv_loop_init(&loop), 0);
    ASSERT_TRUE(http2_conn_connect(&loop, &o, &conn_cbs, NULL, &err) == NULL);
    ASSERT_CONTAINS(err.msg, "write an IPv6 host as [addr]:port");
    o.addr = "127.0.0.1";
    ASSERT_TRUE(http2_conn_connect(&loop, &o, &conn_cbs, NULL, &err) == NULL);
    ASSERT_CONTAINS(err.msg, "want host:port");
    o.addr = "127.0.0.1:0";
    ASSERT_TRUE(http2_conn_connect(&loop, &o, &conn_cbs, NULL, &err) == NULL);
    ASSERT_CONTAINS(err.msg, "bad port");
    /* A closed port on loopback: failure arrives through on_error, and a
     * stream submitted meanwhile fails with UNAVAILABLE. */
    o.addr = "localhost:1";
    conn_errors = 0;
    struct http2_conn *c = http2_conn_connect(&loop, &o, &conn_cbs, NULL, &err);
    ASSERT_TRUE(c != NULL);
    struct call a = {0};
    ASSERT_TRUE(grpc_submit(c, "Ping", "", &a) > 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(conn_errors, 1);
    ASSERT_CONTAINS(conn_err.msg, "connect to localhost:1: Connection refused");
    ASSERT_EQ(a.closed, 1);
    ASSERT_EQ(a.err.grpc_status, GRPC_STATUS_UNAVAILABLE);
    http2_conn_free(c);
    o.addr = "[::1]:1";
    c = http2_conn_connect(&loop, &o, &conn_cbs, NULL, &err);
    ASSERT_TRUE(c != NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(conn_errors, 2);
    http2_conn_free(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    SSL_CTX_free(ctx);
    call_cleanup(&a);
}

int main(void)
{
    test_round_trip();
    test_concurrent();
    test_trailers_only_and_reset();
    test_goaway();
    test_max_concurrent();
    test_eof_and_garbage();
    test_cancel_and_free_in_callback();
    test_numeric_connect();
    test_connect_errors();
    printf("test_http2_conn: ok\n");
    return 0;
}
