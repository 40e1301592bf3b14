/*
 * test_docker_client.c - docker_client against a scripted HTTP server on a
 * unix socket, run on the same libuv loop (no engine needed; the live engine
 * is spec/e2e/test_docker_client.py).
 *
 * A scripted response is raw HTTP; '\x01' in it means "flush, wait 20 ms"
 * (so one event line arrives in several reads), and a trailing '\x02' means
 * "keep the connection open" instead of closing it after the last byte.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "docker/docker_client.h"
#include "test.h"

/* ---- scripted server ---------------------------------------------------- */

struct route {
    const char *match;    /* substring of the request line */
    const char *response; /* raw HTTP, see the top comment; NULL: never answer */
};

struct server {
    uv_pipe_t pipe;
    char path[108];
    const struct route *routes;
    char last_req[4096];  /* request line of the last request */
    int nreq;
    struct conn *conns;   /* open connections */
};

struct conn {
    uv_pipe_t h;
    struct server *s;
    uv_timer_t timer;
    char req[8192];
    size_t len;
    char *resp;           /* copy of the remaining response parts */
    size_t off, resp_len;
    int keep_open;
    int answered;
    int closing;
    int n_closed;
    struct conn *next;
};

/* Both handles of a connection close asynchronously, in no promised order. */
static void conn_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (++c->n_closed < 2)
        return;
    free(c->resp);
    free(c);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    for (struct conn **pp = &c->s->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->h, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void write_done(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
    free(w);
}

static void send_next(uv_timer_t *t);

static void shutdown_done(uv_shutdown_t *sh, int status)
{
    struct conn *c = sh->data;
    (void)status;
    free(sh);
    conn_close(c);
}

static void send_part(struct conn *c)
{
    size_t start = c->off, end = start;
    while (end < c->resp_len && c->resp[end] != '\x01' && c->resp[end] != '\x02')
        end++;
    if (end > start) {
        uv_write_t *w = malloc(sizeof(*w));
        char *copy = malloc(end - start);
        memcpy(copy, c->resp + start, end - start);
        uv_buf_t b = uv_buf_init(copy, (unsigned)(end - start));
        w->data = copy;
        if (uv_write(w, (uv_stream_t *)&c->h, &b, 1, write_done) != 0) {
            free(copy);
            free(w);
        }
    }
    if (end >= c->resp_len) {
        if (!c->keep_open) {
            /* close only after the writes went out */
            uv_shutdown_t *sh = malloc(sizeof(*sh));
            sh->data = c;
            if (uv_shutdown(sh, (uv_stream_t *)&c->h, shutdown_done) != 0) {
                free(sh);
                conn_close(c);
            }
        }
        return;
    }
    c->off = end + 1;
    if (c->resp[end] == '\x02')
        return; /* keep open, nothing more */
    uv_timer_start(&c->timer, send_next, 20, 0);
}

static void send_next(uv_timer_t *t)
{
    send_part(t->data);
}

static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct conn *c = h->data;
    (void)hint;
    b->base = c->req + c->len;
    b->len = sizeof(c->req) - c->len - 1;
}

static void conn_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = st->data;
    (void)b;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    c->req[c->len] = '\0';
    if (c->answered || strstr(c->req, "\r\n\r\n") == NULL)
        return;
    c->answered = 1;
    char *eol = strstr(c->req, "\r\n");
    size_t l = (size_t)(eol - c->req);
    if (l >= sizeof(c->s->last_req))
        l = sizeof(c->s->last_req) - 1;
    memcpy(c->s->last_req, c->req, l);
    c->s->last_req[l] = '\0';
    c->s->nreq++;
    for (const struct route *r = c->s->routes; r->match; r++) {
        if (strstr(c->s->last_req, r->match) == NULL)
            continue;
        if (r->response == NULL)
            return; /* never answer */
        c->resp_len = strlen(r->response);
        c->resp = malloc(c->resp_len + 1);
        memcpy(c->resp, r->response, c->resp_len + 1);
        c->keep_open = c->resp_len && c->resp[c->resp_len - 1] == '\x02';
        send_part(c);
        return;
    }
    fprintf(stderr, "scripted server: no route for %s\n", c->s->last_req);
    exit(1);
}

static void on_connection(uv_stream_t *srv, int status)
{
    struct server *s = srv->data;
    struct conn *c = calloc(1, sizeof(*c));
    ASSERT_EQ(status, 0);
    c->s = s;
    c->next = s->conns;
    s->conns = c;
    uv_pipe_init(srv->loop, &c->h, 0);
    uv_timer_init(srv->loop, &c->timer);
    c->h.data = c;
    c->timer.data = c;
    ASSERT_EQ(uv_accept(srv, (uv_stream_t *)&c->h), 0);
    uv_read_start((uv_stream_t *)&c->h, conn_alloc, conn_read);
}

static void server_start(struct server *s, uv_loop_t *loop, const struct route *routes)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->path, sizeof(s->path), "/tmp/enr-test-dc-%d.sock", (int)getpid());
    unlink(s->path);
    s->routes = routes;
    ASSERT_EQ(uv_pipe_init(loop, &s->pipe, 0), 0);
    s->pipe.data = s;
    ASSERT_EQ(uv_pipe_bind(&s->pipe, s->path), 0);
    ASSERT_EQ(uv_listen((uv_stream_t *)&s->pipe, 8, on_connection), 0);
}

static void server_stop(struct server *s)
{
    while (s->conns)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->pipe, NULL);
    unlink(s->path);
}

/* Closes every handle still open (the tick timer) and the loop. */
static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void loop_finish(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_NOWAIT);
    uv_walk(loop, close_walk, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    ASSERT_EQ(uv_loop_close(loop), 0);
}

/* ---- results ------------------------------------------------------------ */

struct result {
    int calls;
    int code;
    char msg[ENR_ERROR_MSG_LEN];
    char version[16];
    char ids[8][80];
    size_t n;
    struct container *c;
    /* events */
    int n_events;
    char ev[16][160];
    int ends;
    int stop_after; /* call docker_client_events_stop after this many events */
    int free_after; /* call docker_client_free after this many events */
    struct docker_client *dc;
};

static void take_err(struct result *r, const struct enr_error *err)
{
    r->calls++;
    r->code = err ? err->code : 0;
    snprintf(r->msg, sizeof(r->msg), "%s", err ? err->msg : "");
}

static void on_ping(void *ud, const struct enr_error *err, const char *v)
{
    struct result *r = ud;
    take_err(r, err);
    snprintf(r->version, sizeof(r->version), "%s", v ? v : "");
}

static void on_list(void *ud, const struct enr_error *err, char **ids, const uint64_t *hashes, size_t n)
{
    (void)hashes;
    struct result *r = ud;
    take_err(r, err);
    r->n = n;
    for (size_t i = 0; i < n && i < 8; i++)
        snprintf(r->ids[i], sizeof(r->ids[i]), "%s", ids[i]);
}

static void on_inspect(void *ud, const struct enr_error *err, struct container *c)
{
    struct result *r = ud;
    take_err(r, err);
    r->c = c;
}

static void on_event(void *ud, const struct docker_event *ev)
{
    struct result *r = ud;
    if (r->n_events < 16)
        snprintf(r->ev[r->n_events], sizeof(r->ev[0]), "%s %s %.12s %lld", ev->type, ev->action,
                 ev->container_id, (long long)ev->time_nano);
    r->n_events++;
    if (r->stop_after && r->n_events == r->stop_after)
        docker_client_events_stop(r->dc);
    if (r->free_after && r->n_events == r->free_after) {
        docker_client_free(r->dc);
        r->dc = NULL;
    }
}

static void on_end(void *ud, const struct enr_error *err)
{
    struct result *r = ud;
    r->ends++;
    take_err(r, err);
}

static struct docker_client *client(uv_loop_t *loop, struct server *s, unsigned timeout_ms)
{
    char host[160];
    struct enr_error err = {0};
    struct docker_client_config cfg = {.host = host, .timeout_ms = timeout_ms};
    snprintf(host, sizeof(host), "unix://%s", s->path);
    struct docker_client *dc = docker_client_new(loop, &cfg, &err);
    if (dc == NULL) {
        fprintf(stderr, "docker_client_new: %s\n", err.msg);
        exit(1);
    }
    return dc;
}

/* Runs the loop until cond or 60 s (a loaded machine is slow, never that slow). */
#define RUN_UNTIL(loop, cond)                                                   \
    do {                                                                        \
        uint64_t _t0 = uv_now(loop);                                            \
        while (!(cond) && uv_now(loop) - _t0 < 60000) {                         \
            uv_run(loop, UV_RUN_ONCE);                                          \
            uv_update_time(loop);                                               \
        }                                                                       \
        ASSERT_TRUE(cond);                                                      \
    } while (0)

/* A keep-alive timer so that UV_RUN_ONCE never blocks forever. */
static void tick(uv_timer_t *t)
{
    (void)t;
}

/* spec/fixtures/NAME (recorded; see the README there), NUL-terminated. */
static char *read_fixture(const char *name)
{
    char rel[512];

    snprintf(rel, sizeof(rel), "spec/fixtures/%s", name);
    return test_read_source_file(rel, NULL);
}

/* A recorded raw HTTP answer (headers with LF line ends, as record.sh keeps
 * them) turned back into CRLF HTTP with Connection: close. */
static char *http_from_fixture(const char *name)
{
    char *raw = read_fixture(name);
    size_t n = strlen(raw);
    char *out = malloc(2 * n + 64), *o = out;
    const char *p = raw, *body = strstr(raw, "\n\n");

    ASSERT_TRUE(out != NULL && body != NULL);
    for (; p < body; p++) {
        if (*p == '\n') {
            *o++ = '\r';
            *o++ = '\n';
        } else {
            *o++ = *p;
        }
    }
    o += sprintf(o, "\r\nConnection: close\r\n\r\n%s", body + 2);
    free(raw);
    return out;
}

/* r->ev[i] without its time: "type action id12". */
static void assert_event(const struct result *r, int i, const char *want)
{
    size_t n = strlen(want);
    if (strncmp(r->ev[i], want, n) != 0 || r->ev[i][n] != ' ') {
        fprintf(stderr, "event %d: \"%s\", want \"%s <time>\"\n", i, r->ev[i], want);
        exit(1);
    }
}

/* ---- tests -------------------------------------------------------------- */

#define OK_HDR "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"

static const char inspect_body[] =
    "{\"Id\":\"abc123\",\"Name\":\"/web\",\"Config\":{\"Image\":\"nginx\",\"Labels\":{\"a\":\"b\"}},"
    "\"State\":{\"Status\":\"running\",\"StartedAt\":\"2026-11-24T14:21:36.1Z\"},"
    "\"Created\":\"2026-11-24T14:21:36Z\",\"NetworkSettings\":{\"Networks\":{\"n\":{\"IPAddress\":\"10.0.0.2\"}}}}";

static void test_ping_list_inspect(void)
{
    uv_loop_t loop;
    uv_timer_t t;
    struct server s;
    static char inspect_resp[2048];
    snprintf(inspect_resp, sizeof(inspect_resp), OK_HDR "\r\n%s", inspect_body);
    const struct route routes[] = {
        {"GET /_ping ", "HTTP/1.1 200 OK\r\nApi-Version: 1.45\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK"},
        {"GET /v1.43/containers/json ", OK_HDR "\r\n[{\"Id\":\"aaa\"},{\"Id\":\"bbb\",\"Names\":[\"/x\"]}]"},
        {"GET /v1.43/containers/gone/json ",
         "HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n{\"message\":\"No such container: gone\"}"},
        {"GET /v1.43/containers/abc123/json ", inspect_resp},
        {"GET /v1.43/containers/bad/json ", OK_HDR "\r\n{\"Id\":\"bad\"}"},
        {"GET /v1.43/containers/a%20b/json ",
         "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\nplain text failure"},
        {NULL, NULL},
    };
    struct result ping = {0}, list = {0}, gone = {0}, ok = {0}, bad = {0}, esc = {0};
    struct enr_error err = {0};

    uv_loop_init(&loop);
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 50, 50);
    server_start(&s, &loop, routes);
    struct docker_client *dc = client(&loop, &s, 20000);

    ASSERT_EQ(docker_client_ping(dc, on_ping, &ping, &err), 0);
    RUN_UNTIL(&loop, ping.calls == 1);
    ASSERT_EQ(ping.code, 0);
    ASSERT_STREQ(ping.version, "1.43"); /* min(server 1.45, ours 1.43) */

    ASSERT_EQ(docker_client_list(dc, on_list, &list, &err), 0);
    ASSERT_EQ(docker_client_inspect(dc, "gone", on_inspect, &gone, &err), 0);
    ASSERT_EQ(docker_client_inspect(dc, "abc123", on_inspect, &ok, &err), 0);
    ASSERT_EQ(docker_client_inspect(dc, "bad", on_inspect, &bad, &err), 0);
    ASSERT_EQ(docker_client_inspect(dc, "a b", on_inspect, &esc, &err), 0);
    RUN_UNTIL(&loop, list.calls && gone.calls && ok.calls && bad.calls && esc.calls);

    ASSERT_EQ(list.code, 0);
    ASSERT_EQ(list.n, 2);
    ASSERT_STREQ(list.ids[0], "aaa");
    ASSERT_STREQ(list.ids[1], "bbb");

    ASSERT_EQ(gone.code, ENR_ENOTFOUND);
    ASSERT_STREQ(gone.msg, "GET /containers/gone/json: HTTP 404: No such container: gone");
    ASSERT_TRUE(gone.c == NULL);

    ASSERT_EQ(ok.code, 0);
    ASSERT_TRUE(ok.c != NULL);
    ASSERT_STREQ(ok.c->name, "web");
    ASSERT_STREQ(ok.c->networks[0].ip, "10.0.0.2");
    container_free(ok.c);

    ASSERT_EQ(bad.code, -EINVAL);
    ASSERT_STREQ(bad.msg, "GET /containers/bad/json: inspect: Name: missing");
    ASSERT_EQ(esc.code, -EIO);
    ASSERT_STREQ(esc.msg, "GET /containers/a%20b/json: HTTP 500: plain text failure");
    ASSERT_EQ(ping.calls + list.calls + gone.calls + ok.calls + bad.calls + esc.calls, 6);

    docker_client_free(dc);
    server_stop(&s);
    loop_finish(&loop);
}

static void test_old_engine_and_list_errors(void)
{
    uv_loop_t loop;
    uv_timer_t t;
    struct server s;
    const struct route routes[] = {
        {"GET /_ping ", "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nConnection: close\r\n\r\nOK"},
        {"GET /v1.41/containers/json ",
         "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n{\"message\":\"boom\"}"},
        {NULL, NULL},
    };
    struct result ping = {0}, list = {0};
    struct enr_error err = {0};

    uv_loop_init(&loop);
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 50, 50);
    server_start(&s, &loop, routes);
    struct docker_client *dc = client(&loop, &s, 20000);
    ASSERT_EQ(docker_client_ping(dc, on_ping, &ping, &err), 0);
    RUN_UNTIL(&loop, ping.calls == 1);
    ASSERT_STREQ(ping.version, "1.41");
    ASSERT_EQ(docker_client_list(dc, on_list, &list, &err), 0);
    RUN_UNTIL(&loop, list.calls == 1);
    ASSERT_EQ(list.code, -EIO);
    ASSERT_STREQ(list.msg, "GET /containers/json: HTTP 500: boom");
    docker_client_free(dc);
    server_stop(&s);
    loop_finish(&loop);
}

/* Lines split across reads, unwanted events skipped, health_status kept,
 * network events carry the container from Actor.Attributes.container. */
static void test_events_stream(void)
{
    uv_loop_t loop;
    uv_timer_t t;
    struct server s;
    const struct route routes[] = {
        {"GET /events?since=1795530096.007988214&filters=",
         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
         "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"c1\"},\"timeNano\":11}\n"
         "{\"Type\":\"container\",\"Act\x01ion\":\"die\",\"Actor\":{\"ID\":\"c1\"},\"time\x01Nano\":12}\n"
         "{\"Type\":\"network\",\"Action\":\"create\",\"Actor\":{\"ID\":\"n1\"},\"timeNano\":13}\n\x01"
         "{\"Type\":\"network\",\"Action\":\"connect\",\"Actor\":{\"ID\":\"n1\",\"Attributes\":{\"container\":\"c2\",\"name\":\"x\"}},\"timeNano\":14}\r\n"
         "{\"Type\":\"container\",\"Action\":\"health_status: healthy\",\"Actor\":{\"ID\":\"c3\"},\"time\":15}\n"
         "{\"Type\":\"container\",\"Action\":\"exec_die\",\"Actor\":{\"ID\":\"c3\"},\"timeNano\":16}\n"
         "\n"
         "{\"Type\":\"container\",\"Action\":\"destroy\",\"Actor\":{\"ID\":\"c1\"},\"timeNano\":17}"
         "\x01\n"},
        {NULL, NULL},
    };
    struct result r = {0};
    struct enr_error err = {0};

    uv_loop_init(&loop);
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 50, 50);
    server_start(&s, &loop, routes);
    struct docker_client *dc = client(&loop, &s, 20000);
    ASSERT_EQ(docker_client_events(dc, 1795530096007988214LL, on_event, on_end, &r, &err), 0);
    ASSERT_EQ(docker_client_events(dc, 0, on_event, on_end, &r, &err), -EBUSY);
    RUN_UNTIL(&loop, r.ends == 1);
    /* filters are JSON, URL-escaped */
    ASSERT_CONTAINS(s.last_req, "filters=%7B%22type%22%3A%5B%22container%22%2C%22network%22%5D");
    ASSERT_CONTAINS(s.last_req, "health_status");
    ASSERT_EQ(r.n_events, 5);
    ASSERT_STREQ(r.ev[0], "container start c1 11");
    ASSERT_STREQ(r.ev[1], "container die c1 12");
    ASSERT_STREQ(r.ev[2], "network connect c2 14");
    ASSERT_STREQ(r.ev[3], "container health_status: healthy c3 15000000000");
    ASSERT_STREQ(r.ev[4], "container destroy c1 17");
    ASSERT_EQ(r.code, -EPIPE);
    ASSERT_STREQ(r.msg, "GET /events: stream ended");
    docker_client_free(dc);
    server_stop(&s);
    loop_finish(&loop);
}

/* A stream that never sends '\n' is cut at the line bound, not buffered forever. */
static void test_events_line_bound(void)
{
    uv_loop_t loop;
    uv_timer_t t;
    struct server s;
    size_t big = (1u << 20) + 4096;
    const char *hdr = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"Type\":\"container\",\"x\":\"";
    char *resp = malloc(strlen(hdr) + big + 1);
    strcpy(resp, hdr);
    memset(resp + strlen(hdr), 'a', big);
    resp[strlen(hdr) + big] = '\0';
    const struct route routes[] = {{"GET /events", resp}, {NULL, NULL}};
    struct result r = {0};
    struct enr_error err = {0};

    uv_loop_init(&loop);
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 50, 50);
    server_start(&s, &loop, routes);
    struct docker_client *dc = client(&loop, &s, 20000);
    ASSERT_EQ(docker_client_events(dc, 0, on_event, on_end, &r, &err), 0);
    RUN_UNTIL(&loop, r.ends == 1);
    ASSERT_EQ(r.code, -E2BIG);
    ASSERT_STREQ(r.msg, "GET /events: event line longer than 1048576 bytes");
    ASSERT_EQ(r.n_events, 0);
    ASSERT_TRUE(strstr(s.last_req, "since=") == NULL);
    docker_client_free(dc);
    server_stop(&s);
    loop_finish(&loop);
    free(resp);
}

/* A malformed line ends the stream with an error (an event may be lost). */
static void test_events_bad_line_and_http_error(void)
{
    uv_loop_t loop;
    uv_timer_t t;
    struct server s;
    const struct route routes[] = {
        {"GET /events?filters", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
                                "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"c1\"}}\n"
                                "{not json}\n"
                                "{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"c1\"}}\n\x02"},
        {NULL, NULL},
    };
    const struct route routes2[] = {
        {"GET /events", "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n{\"message\":\"invalid filter\"}"},
        {NULL, NULL},
    };
    struct result r = {0}, r2 = {0};
    struct enr_error err = {0};

    uv_loop_init(&loop);
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 50, 50);
    server_start(&s, &loop, routes);
    struct docker_client *dc = client(&loop, &s, 20000);
    ASSERT_EQ(docker_client_events(dc, 0, on_event, on_end, &r, &err), 0);
    RUN_UNTIL(&loop, r.ends == 1);
    ASSERT_EQ(r.n_events, 1);
    ASSERT_EQ(r.code, -EPROTO);
    ASSERT_CONTAINS(r.msg, "GET /events: bad event line: ");
    docker_client_free(dc);

    s.routes = routes2;
    dc = client(&loop, &s, 20000);
    ASSERT_EQ(docker_client_events(dc, 0, on_event, on_end, &r2, &err), 0);
    RUN_UNTIL(&loop, r2.ends == 1);
    ASSERT_EQ(r2.code, -EIO);
    ASSERT_STREQ(r2.msg, "GET /events: HTTP 400: invalid filter");
    docker_client_free(dc);
    server_stop(&s);
    loop_finish(&loop);
}

/* Stopping or freeing from inside the event callback: no more events, no end. */
static void test_events_stop_and_free_from_callback(void)
{
    uv_loop_t loop;
    uv_timer_t t;
    struct server s;
    const struct route routes[] = {
        {"GET /_ping ", "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nConnection: close\r\n\r\nOK"},
        {"GET /events", "HTTP/1.1 200 OK\r\n\r\n"
                        "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"c1\"}}\n"
                        "{\"Type\":\"container\",\"Action\":\"stop\",\"Actor\":{\"ID\":\"c1\"}}\n"
                        "{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"c1\"}}\n\x02"},
        {NULL, NULL},
    };
    struct result r = {0}, r2 = {0}, p = {0};
    struct enr_error err = {0};

    uv_loop_init(&loop);
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 50, 50);
    server_start(&s, &loop, routes);

    struct docker_client *dc = client(&loop, &s, 20000);
    r.dc = dc;
    r.stop_after = 2;
    ASSERT_EQ(docker_client_events(dc, 0, on_event, on_end, &r, &err), 0);
    RUN_UNTIL(&loop, r.n_events >= 2);
    /* the stream is gone once the dispatch returned: a new one may start */
    ASSERT_EQ(docker_client_events(dc, 0, on_event, on_end, &r2, &err), 0);
    RUN_UNTIL(&loop, r2.n_events == 3);
    ASSERT_EQ(r.n_events, 2);
    ASSERT_EQ(r.ends, 0);
    /* stop from outside a callback */
    docker_client_events_stop(dc);
    ASSERT_EQ(docker_client_ping(dc, on_ping, &p, &err), 0);
    RUN_UNTIL(&loop, p.calls == 1);
    ASSERT_EQ(r2.ends, 0);
    docker_client_free(dc);

    struct result r3 = {0};
    dc = client(&loop, &s, 20000);
    r3.dc = dc;
    r3.free_after = 1;
    ASSERT_EQ(docker_client_events(dc, 0, on_event, on_end, &r3, &err), 0);
    RUN_UNTIL(&loop, r3.dc == NULL);
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ(r3.n_events, 1);
    ASSERT_EQ(r3.ends, 0);
    server_stop(&s);
    loop_finish(&loop);
}

/* Free with calls in flight: their callbacks never run. */
static void test_free_in_flight(void)
{
    uv_loop_t loop;
    uv_timer_t t;
    struct server s;
    const struct route routes[] = {{"GET /_ping", NULL}, {NULL, NULL}};
    struct result p = {0}, e = {0};
    struct enr_error err = {0};

    uv_loop_init(&loop);
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 50, 50);
    server_start(&s, &loop, routes);
    struct docker_client *dc = client(&loop, &s, 20000);
    ASSERT_EQ(docker_client_ping(dc, on_ping, &p, &err), 0);
    RUN_UNTIL(&loop, s.nreq == 1);
    docker_client_free(dc);
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ(p.calls, 0);
    ASSERT_EQ(e.calls, 0);
    server_stop(&s);
    loop_finish(&loop);
}

/* A server that accepts and never answers: the per-request timeout fires. */
static void test_timeout_and_unreachable(void)
{
    uv_loop_t loop;
    uv_timer_t t;
    struct server s;
    const struct route routes[] = {{"GET /_ping", NULL}, {NULL, NULL}};
    struct result p = {0}, q = {0};
    struct enr_error err = {0};

    uv_loop_init(&loop);
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 50, 50);
    server_start(&s, &loop, routes);
    struct docker_client *dc = client(&loop, &s, 300);
    uint64_t t0 = uv_now(&loop);
    ASSERT_EQ(docker_client_ping(dc, on_ping, &p, &err), 0);
    RUN_UNTIL(&loop, p.calls == 1);
    ASSERT_EQ(p.code, -ETIMEDOUT);
    ASSERT_CONTAINS(p.msg, "GET /_ping: unix:///tmp/enr-test-dc-");
    ASSERT_TRUE(uv_now(&loop) - t0 < 15000); /* its own 300 ms timeout, not a hang (a loaded machine may be seconds late) */
    docker_client_free(dc);

    struct docker_client_config cfg = {.host = "unix:///nonexistent/enroller/docker.sock"};
    dc = docker_client_new(&loop, &cfg, &err);
    ASSERT_TRUE(dc != NULL);
    ASSERT_STREQ(docker_client_host(dc), "unix:///nonexistent/enroller/docker.sock");
    ASSERT_EQ(docker_client_ping(dc, on_ping, &q, &err), 0);
    RUN_UNTIL(&loop, q.calls == 1);
    ASSERT_EQ(q.code, -ENOENT);
    ASSERT_STREQ(q.msg, "GET /_ping: cannot connect to unix:///nonexistent/enroller/docker.sock: "
                        "No such file or directory");
    docker_client_free(dc);
    server_stop(&s);
    loop_finish(&loop);
}

static void test_hosts(void)
{
    uv_loop_t loop;
    struct enr_error err = {0};
    struct docker_client *dc;
    static const char *const bad[] = {"http://x", "unix://relative", "tcp://", "tcp://a/b", "npipe:////./pipe/docker",
                                      "tcp://[::1", "tcp://[]:2375", "tcp://a:b:c", "tcp://host:", "tcp://host:0",
                                      "tcp://host:65536", "tcp://host:23x5", "tcp://[::1]x"};
    static const char *const good[] = {"tcp://host", "tcp://host:2375", "tcp://[::1]", "tcp://[::1]:2375",
                                       "tcp://127.0.0.1:65535"};

    uv_loop_init(&loop);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct docker_client_config cfg = {.host = bad[i]};
        err_clear(&err);
        ASSERT_TRUE(docker_client_new(&loop, &cfg, &err) == NULL);
        ASSERT_EQ(err.code, -EINVAL);
        ASSERT_CONTAINS(err.msg, bad[i]);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct docker_client_config cfg = {.host = good[i]};
        dc = docker_client_new(&loop, &cfg, &err);
        if (dc == NULL)
            fprintf(stderr, "%s: %s\n", good[i], err.msg);
        ASSERT_TRUE(dc != NULL);
        docker_client_free(dc);
    }
    setenv("DOCKER_HOST", "unix:///tmp/from-env.sock", 1);
    dc = docker_client_new(&loop, NULL, &err);
    ASSERT_TRUE(dc != NULL);
    ASSERT_STREQ(docker_client_host(dc), "unix:///tmp/from-env.sock");
    docker_client_free(dc);
    unsetenv("DOCKER_HOST");
    dc = docker_client_new(&loop, NULL, &err);
    ASSERT_STREQ(docker_client_host(dc), "unix:///var/run/docker.sock");
    docker_client_free(dc);
    struct docker_client_config tcp = {.host = "tcp://127.0.0.1:2376", .cert_path = "/nonexistent"};
    dc = docker_client_new(&loop, &tcp, &err);
    ASSERT_TRUE(dc != NULL);
    docker_client_free(dc);
    loop_finish(&loop);
}

/* Podman 4.3's stream as recorded (spec/fixtures/podman/events_raw.jsonl,
 * unfiltered): its "remove" reaches callers as Docker's "destroy", network
 * events name the container by Actor.ID (there is no
 * Actor.Attributes.container), and init/sync/cleanup/create/image events are
 * skipped.  The filter asks for Podman's names too. */
static void test_podman_events_fixture(void)
{
    uv_loop_t loop;
    uv_timer_t t;
    struct server s;
    char *lines = read_fixture("podman/events_raw.jsonl");
    char *resp = malloc(strlen(lines) + 256);
    sprintf(resp, "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n"
                  "Connection: close\r\n\r\n%s", lines);
    const struct route routes[] = {{"GET /events?filters=", resp}, {NULL, NULL}};
    struct result r = {0};
    struct enr_error err = {0};

    uv_loop_init(&loop);
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 50, 50);
    server_start(&s, &loop, routes);
    struct docker_client *dc = client(&loop, &s, 20000);
    ASSERT_EQ(docker_client_events(dc, 0, on_event, on_end, &r, &err), 0);
    RUN_UNTIL(&loop, r.ends == 1);
    /* "event":[... ,"died","remove"] */
    ASSERT_CONTAINS(s.last_req, "%22disconnect%22%2C%22died%22%2C%22remove%22%5D");
    ASSERT_EQ(r.n_events, 12);
    assert_event(&r, 0, "container start 2d53f0a50bd7");
    assert_event(&r, 1, "network connect 2d53f0a50bd7");
    assert_event(&r, 2, "network disconnect 2d53f0a50bd7");
    assert_event(&r, 3, "container pause 2d53f0a50bd7");
    assert_event(&r, 4, "container unpause 2d53f0a50bd7");
    assert_event(&r, 5, "container start 3c70a1a323aa");
    assert_event(&r, 6, "container stop 3c70a1a323aa");
    assert_event(&r, 7, "container die 3c70a1a323aa");
    assert_event(&r, 8, "container destroy 3c70a1a323aa");
    assert_event(&r, 9, "container start 783ddae00f93");
    assert_event(&r, 10, "container die 783ddae00f93");
    assert_event(&r, 11, "container destroy 783ddae00f93");
    ASSERT_EQ(r.code, -EPIPE);
    docker_client_free(dc);
    server_stop(&s);
    loop_finish(&loop);
    free(resp);
    free(lines);
}

/* Docker's network events keep Actor.Attributes.container (Actor.ID is the
 * network there); an empty attribute is not replaced by Actor.ID; a "died"
 * action, should one pass through, reads as "die". */
static void test_network_event_ids(void)
{
    uv_loop_t loop;
    uv_timer_t t;
    struct server s;
    const struct route routes[] = {
        {"GET /events", OK_HDR "\r\n"
         "{\"Type\":\"network\",\"Action\":\"connect\",\"Actor\":{\"ID\":\"net1\",\"Attributes\":{\"container\":\"c1\",\"name\":\"n\"}}}\n"
         "{\"Type\":\"network\",\"Action\":\"disconnect\",\"Actor\":{\"ID\":\"net1\",\"Attributes\":{\"container\":\"\"}}}\n"
         "{\"Type\":\"network\",\"Action\":\"disconnect\",\"Actor\":{\"ID\":\"c2\",\"Attributes\":{\"name\":\"web\"}}}\n"
         "{\"Type\":\"network\",\"Action\":\"connect\",\"Actor\":{\"ID\":\"c3\"}}\n"
         "{\"Type\":\"container\",\"Action\":\"died\",\"Actor\":{\"ID\":\"c3\"}}\n"
         "{\"Type\":\"network\",\"Action\":\"remove\",\"Actor\":{\"ID\":\"net1\"}}\n"},
        {NULL, NULL},
    };
    struct result r = {0};
    struct enr_error err = {0};

    uv_loop_init(&loop);
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 50, 50);
    server_start(&s, &loop, routes);
    struct docker_client *dc = client(&loop, &s, 20000);
    ASSERT_EQ(docker_client_events(dc, 0, on_event, on_end, &r, &err), 0);
    RUN_UNTIL(&loop, r.ends == 1);
    ASSERT_EQ(r.n_events, 4);
    assert_event(&r, 0, "network connect c1");
    assert_event(&r, 1, "network disconnect c2");
    assert_event(&r, 2, "network connect c3");
    assert_event(&r, 3, "container die c3");
    docker_client_free(dc);
    server_stop(&s);
    loop_finish(&loop);
}

/* Podman's answers to inspect and list, recorded: its 404 and the 500
 * "no such container" of an inspect that raced a removal are both not
 * found; any other 500, or that text on another call, stays an error.  The
 * recorded inspect parses, its "localhost/" image reads as Docker's name and
 * the empty State.Health.Status as no health. */
static void test_podman_answers(void)
{
    uv_loop_t loop;
    uv_timer_t t;
    struct server s;
    char *r404 = http_from_fixture("podman/inspect_404.http");
    char *r500 = http_from_fixture("podman/inspect_500_no_such_container.http");
    char *body = read_fixture("podman/inspect_rabbitmq.json");
    char *list = read_fixture("podman/containers_list_running.json");
    char *inspect = malloc(strlen(body) + 256), *listr = malloc(strlen(list) + 256);
    sprintf(inspect, OK_HDR "\r\n%s", body);
    sprintf(listr, OK_HDR "\r\n%s", list);
    const struct route routes[] = {
        {"GET /_ping ", "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nLibpod-Api-Version: 4.3.1\r\n"
                        "Content-Length: 2\r\nConnection: close\r\n\r\nOK"},
        {"GET /v1.41/containers/nonexistent/json ", r404},
        {"GET /v1.41/containers/raced/json ", r500},
        {"GET /v1.41/containers/rabbitmq/json ", inspect},
        {"GET /v1.41/containers/broken/json ",
         "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n"
         "{\"cause\":\"database is locked\",\"message\":\"inspecting container: database is locked\","
         "\"response\":500}"},
        {"GET /v1.41/containers/json?all=1", "HTTP/1.1 500 Internal Server Error\r\n"
         "Connection: close\r\n\r\n{\"cause\":\"no such container\",\"message\":\"no such container\"}"},
        {"GET /v1.41/containers/json ", listr},
        {NULL, NULL},
    };
    struct result ping = {0}, gone = {0}, raced = {0}, ok = {0}, broken = {0}, l = {0};
    struct enr_error err = {0};

    uv_loop_init(&loop);
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 50, 50);
    server_start(&s, &loop, routes);
    struct docker_client *dc = client(&loop, &s, 20000);
    ASSERT_EQ(docker_client_ping(dc, on_ping, &ping, &err), 0);
    RUN_UNTIL(&loop, ping.calls == 1);
    ASSERT_STREQ(ping.version, "1.41");
    ASSERT_EQ(docker_client_inspect(dc, "nonexistent", on_inspect, &gone, &err), 0);
    ASSERT_EQ(docker_client_inspect(dc, "raced", on_inspect, &raced, &err), 0);
    ASSERT_EQ(docker_client_inspect(dc, "rabbitmq", on_inspect, &ok, &err), 0);
    ASSERT_EQ(docker_client_inspect(dc, "broken", on_inspect, &broken, &err), 0);
    ASSERT_EQ(docker_client_list(dc, on_list, &l, &err), 0);
    RUN_UNTIL(&loop, gone.calls && raced.calls && ok.calls && broken.calls && l.calls);

    ASSERT_EQ(gone.code, ENR_ENOTFOUND);
    ASSERT_CONTAINS(gone.msg, "HTTP 404: no container with name or ID \"nonexistent\" found");
    ASSERT_EQ(raced.code, ENR_ENOTFOUND);
    ASSERT_CONTAINS(raced.msg, "GET /containers/raced/json: HTTP 500: container ");
    ASSERT_CONTAINS(raced.msg, "does not exist in database: no such container");
    ASSERT_TRUE(raced.c == NULL);
    ASSERT_EQ(broken.code, -EIO);
    ASSERT_STREQ(broken.msg, "GET /containers/broken/json: HTTP 500: inspecting container: database is locked");
    ASSERT_TRUE(broken.c == NULL);

    ASSERT_EQ(ok.code, 0);
    ASSERT_STREQ(ok.c->name, "rabbitmq");
    ASSERT_STREQ(ok.c->image, "rabbitmq:3-management");
    ASSERT_STREQ(ok.c->health, "");
    ASSERT_STREQ(ok.c->state, "running");
    ASSERT_EQ(ok.c->n_networks, 1);
    ASSERT_STREQ(ok.c->networks[0].name, "enroller-test");
    ASSERT_TRUE(ok.c->networks[0].ip[0] != '\0');
    container_free(ok.c);

    ASSERT_EQ(l.code, 0);
    ASSERT_EQ(l.n, 1);
    ASSERT_STREQ(l.ids[0], "2d53f0a50bd7d7af0222a9fd67a306f2756b8bde85579bf50ea30573f3ca83a6");

    docker_client_free(dc);
    server_stop(&s);
    loop_finish(&loop);
    free(r404);
    free(r500);
    free(body);
    free(list);
    free(inspect);
    free(listr);
}

/* "no such container" in a 500 is read as not found only for inspect: on
 * the event stream (or a list) it is an error like any other. */
static void test_podman_500_elsewhere(void)
{
    uv_loop_t loop;
    uv_timer_t t;
    struct server s;
    const struct route routes[] = {
        {"GET /events", "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n"
                        "{\"cause\":\"no such container\",\"message\":\"no such container\",\"response\":500}"},
        {"GET /containers/json", "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n"
                                 "{\"cause\":\"no such container\",\"message\":\"x: no such container\"}"},
        {NULL, NULL},
    };
    struct result r = {0}, l = {0};
    struct enr_error err = {0};

    uv_loop_init(&loop);
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 50, 50);
    server_start(&s, &loop, routes);
    struct docker_client *dc = client(&loop, &s, 20000);
    ASSERT_EQ(docker_client_events(dc, 0, on_event, on_end, &r, &err), 0);
    ASSERT_EQ(docker_client_list(dc, on_list, &l, &err), 0);
    RUN_UNTIL(&loop, r.ends == 1 && l.calls == 1);
    ASSERT_EQ(r.code, -EIO);
    ASSERT_STREQ(r.msg, "GET /events: HTTP 500: no such container");
    ASSERT_EQ(l.code, -EIO);
    ASSERT_STREQ(l.msg, "GET /containers/json: HTTP 500: x: no such container");
    docker_client_free(dc);
    server_stop(&s);
    loop_finish(&loop);
}

/* Podman sends no headers on /events until the first event: a quiet stream
 * is not a timeout, however long it stays quiet (here 15 times the request
 * timeout).  Then the service dies mid-stream: the end is reported once. */
static void test_events_quiet_then_service_dies(void)
{
    uv_loop_t loop;
    uv_timer_t t;
    struct server s;
    char resp[1024];
    char *p = resp;
    for (int i = 0; i < 150; i++) /* 150 x 20 ms of silence */
        *p++ = '\x01';
    sprintf(p, "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n"
               "Transfer-Encoding: chunked\r\n\r\n"
               "47\r\n{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"c1\"},\"timeNano\":5}\n\r\n"
               "\x01{\"Type\":\"con");
    const struct route routes[] = {{"GET /events", resp}, {NULL, NULL}};
    struct result r = {0};
    struct enr_error err = {0};

    ASSERT_EQ(strlen("{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"c1\"},\"timeNano\":5}\n"), 0x47);
    uv_loop_init(&loop);
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 50, 50);
    server_start(&s, &loop, routes);
    struct docker_client *dc = client(&loop, &s, 200);
    ASSERT_EQ(docker_client_events(dc, 0, on_event, on_end, &r, &err), 0);
    RUN_UNTIL(&loop, r.ends == 1);
    ASSERT_EQ(r.n_events, 1);
    assert_event(&r, 0, "container start c1");
    ASSERT_TRUE(r.code != 0);
    ASSERT_CONTAINS(r.msg, "GET /events: ");
    docker_client_free(dc);
    server_stop(&s);
    loop_finish(&loop);
}

int main(void)
{
    docker_client_free(NULL);
    test_hosts();
    test_ping_list_inspect();
    test_old_engine_and_list_errors();
    test_events_stream();
    test_events_line_bound();
    test_events_bad_line_and_http_error();
    test_events_stop_and_free_from_callback();
    test_free_in_flight();
    test_timeout_and_unreachable();
    test_podman_events_fixture();
    test_network_event_ids();
    test_podman_answers();
    test_podman_500_elsewhere();
    test_events_quiet_then_service_dies();
    printf("test_docker_client: ok\n");
    return 0;
}
