/*
 * docker_client.c - the Docker Engine API over libcurl's multi interface,
 * driven by the libuv loop: curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION -> uv_poll) and when to wake it
 * (CURLMOPT_TIMERFUNCTION -> uv_timer), as in curl's docs/examples/multi-uv.c.
 *
 * Re-entrancy.  User callbacks run from inside our uv callbacks (a finished
 * transfer) or even from inside a curl write callback (an event line).  They
 * may start new calls, stop the event stream or free the client.  libcurl
 * forbids adding or removing handles from within its own callbacks, so while
 * we are dispatching (depth > 0) such requests are recorded and carried out
 * when the outermost dispatch returns (run_deferred).  After _free no user
 * callback runs.
 *
 * Memory bounds.  Every response body is capped (DOCKER_CLIENT_MAX_BODY) and
 * every event line too (DOCKER_CLIENT_MAX_LINE): a broken or hostile engine
 * cannot make us allocate without limit.  The container listing is not kept
 * at all: docker_list.c parses it as it arrives (ids and hashes only).
 *
 * Podman.  Podman's Docker-compatible API (4.3 and later) is served by the
 * same code; where it answers differently, this file hides the difference so
 * that callers see Docker's names and codes:
 *  - Podman 4.3 matches the /events "event" filter against its own names
 *    ("died", "remove"; libpod/events/filters.go), so both spellings are
 *    asked for; docker_event.c hands them on under Docker's names.
 *  - an inspect racing a removal may answer HTTP 500 whose message ends in
 *    "no such container" (libpod/define/errors.go ErrNoSuchCtr) instead of
 *    404: it is read as not found.  Any other 500 stays an error.
 *
 * Freeing.  uv handles close asynchronously: docker_client_free() cancels
 * every transfer at once, but the struct itself goes away in the last close
 * callback, so the caller must let the loop run (uv_run) before
 * uv_loop_close(), as with any libuv handle.
 */
#include "docker/docker_client.h"
#include "docker/docker_client_internal.h"
#include "docker/docker_event.h"
#include "docker/docker_list.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"

#define DOCKER_CLIENT_MAX_VERSION_MAJOR 1
#define DOCKER_CLIENT_MAX_VERSION_MINOR 43
#define DOCKER_CLIENT_FALLBACK_VERSION "1.24" /* what docker assumes without a header */
#define DOCKER_CLIENT_MAX_BODY (64u << 20)
#define DOCKER_CLIENT_MAX_LINE (1u << 20)
#define DOCKER_CLIENT_DEFAULT_HOST "unix:///var/run/docker.sock"
#define DOCKER_CLIENT_DEFAULT_TIMEOUT_MS 10000

enum req_kind { REQ_PING, REQ_LIST, REQ_INSPECT, REQ_EVENTS, REQ_RAW };

struct request {
    struct docker_client *dc;
    struct request *next, *prev;
    CURL *easy;
    enum req_kind kind;
    char what[160];            /* "GET /containers/x/json" for messages */
    char *body;                /* response (or, for events, the partial line) */
    size_t len, cap, max;
    int added;                 /* in the multi handle */
    int stopped;               /* events: stop requested from a callback */
    struct enr_error stream_err; /* events, list: why the write callback aborted */
    struct docker_list list;   /* list: the answer, parsed as it arrives (a 2xx body only) */
    long status;               /* the HTTP status, 0 until one came back */
    char errbuf[CURL_ERROR_SIZE];
    union {
        docker_ping_cb ping;
        docker_list_cb list;
        docker_inspect_cb inspect;
        docker_event_cb event;
        docker_client_raw_cb raw;
    } cb;
    struct curl_slist *headers; /* REQ_RAW: Content-Type */
    docker_stream_end_cb end_cb;
    void *ud;
};

struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct docker_client *dc;
    struct sock_ctx *next, *prev;
};

/* Easy handles kept for reuse: curl_easy_reset is cheaper than a cleanup
 * and an init, and a first pass makes one request per container. */
#define SPARE_EASY 8

struct docker_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    char *host;           /* as configured: "unix:///x" or "tcp://h:p" */
    char *unix_path;      /* NULL for tcp */
    char *base_url;       /* "http://localhost", "https://h:p" */
    char *ca, *cert, *key; /* TLS files, NULL without TLS */
    long timeout_ms;
    char api_version[48]; /* "" until /_ping answered */
    struct request *reqs; /* in the multi handle, or waiting to be added */
    struct request *events;
    struct sock_ctx *socks;
    int open_handles;     /* uv handles not yet closed (timer + polls) */
    int depth;            /* dispatch nesting, see the top comment */
    int freeing;
    int curl_inited;
    struct docker_client_hooks hooks;
    CURL *spare[SPARE_EASY]; /* finished requests' handles, reset, for the next ones */
    int nspare;
};

static void teardown(struct docker_client *dc);
static void deliver(struct request *r, struct enr_error *err);

/* ---- small helpers ------------------------------------------------------ */

static void list_add(struct request **head, struct request *r)
{
    r->prev = NULL;
    r->next = *head;
    if (*head)
        (*head)->prev = r;
    *head = r;
}

static void list_del(struct request **head, struct request *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else if (*head == r)
        *head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->next = r->prev = NULL;
}

/* Appends n bytes; -E2BIG past r->max (the bound), -ENOMEM on allocation. */
static int body_append(struct request *r, const char *p, size_t n)
{
    if (n > r->max - r->len)
        return -E2BIG;
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        if (cap > r->max + 1)
            cap = r->max + 1;
        char *b = realloc(r->body, cap);
        if (b == NULL)
            return -ENOMEM;
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, p, n);
    r->len += n;
    r->body[r->len] = '\0';
    return 0;
}

static void request_free(struct request *r)
{
    if (r == NULL)
        return;
    if (r->easy) {
        struct docker_client *dc = r->dc;
        if (r->added)
            curl_multi_remove_handle(dc->multi, r->easy);
        if (!dc->freeing && dc->nspare < SPARE_EASY) {
            curl_easy_reset(r->easy);
            dc->spare[dc->nspare++] = r->easy;
        } else {
            curl_easy_cleanup(r->easy);
        }
    }
    if (r->kind == REQ_LIST)
        docker_list_cleanup(&r->list);
    curl_slist_free_all(r->headers);
    free(r->body);
    free(r);
}

static int curl_code_to_errno(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
    case CURLE_OUT_OF_MEMORY: return -ENOMEM;
    case CURLE_WRITE_ERROR: return -E2BIG;
    default: return -EIO;
    }
}

/* "1.41" -> 1, 41; -1 when not "N.M". */
static int parse_version(const char *s, long *major, long *minor)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    *major = strtol(s, &end, 10);
    if (*end != '.' || end[1] < '0' || end[1] > '9')
        return -1;
    *minor = strtol(end + 1, &end, 10);
    return *end == '\0' ? 0 : -1;
}

/* ---- libuv <-> libcurl glue (multi-uv.c) -------------------------------- */

static void enter(struct docker_client *dc)
{
    dc->depth++;
}

static void run_deferred(struct docker_client *dc)
{
    struct request *r, *next;

    if (dc->freeing) {
        teardown(dc);
        return;
    }
    for (r = dc->reqs; r; r = next) {
        next = r->next;
        if (r->stopped) {
            list_del(&dc->reqs, r);
            request_free(r);
            continue;
        }
        if (r->added)
            continue;
        if (curl_multi_add_handle(dc->multi, r->easy) != CURLM_OK) {
            /* Cannot happen with a valid handle; report rather than hang.
             * Callbacks only start/stop (marks, at depth > 0), so next stays valid. */
            struct enr_error err;
            err_set(&err, -EIO, "%s: cannot queue request", r->what);
            list_del(&dc->reqs, r);
            if (dc->events == r)
                dc->events = NULL;
            dc->depth++;
            deliver(r, &err);
            dc->depth--;
            request_free(r);
            if (dc->freeing) {
                teardown(dc);
                return;
            }
            continue;
        }
        r->added = 1;
    }
}

static void leave(struct docker_client *dc)
{
    if (--dc->depth == 0)
        run_deferred(dc);
}

static void finish(struct request *r, CURLcode res);

static void check_multi_info(struct docker_client *dc)
{
    CURLMsg *msg;
    int pending;

    while (!dc->freeing && (msg = curl_multi_info_read(dc->multi, &pending)) != NULL) {
        struct request *r = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        finish(r, msg->data.result);
    }
}

static void on_timeout(uv_timer_t *t)
{
    struct docker_client *dc = t->data;
    int running;

    enter(dc);
    curl_multi_socket_action(dc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(dc);
    leave(dc);
}

static int start_timeout(CURLM *multi, long timeout_ms, void *userp)
{
    struct docker_client *dc = userp;
    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&dc->timer);
    else
        uv_timer_start(&dc->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct docker_client *dc = h->data;
    if (h != (uv_handle_t *)&dc->timer)
        free(h); /* a sock_ctx; poll is its first member */
    if (--dc->open_handles == 0)
        free(dc);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct sock_ctx *ctx = (struct sock_ctx *)p;
    struct docker_client *dc = ctx->dc;
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (!status && (events & UV_READABLE))
        flags |= CURL_CSELECT_IN;
    if (!status && (events & UV_WRITABLE))
        flags |= CURL_CSELECT_OUT;
    enter(dc);
    curl_multi_socket_action(dc->multi, ctx->fd, flags, &running);
    check_multi_info(dc);
    leave(dc);
}

static void sock_close(struct docker_client *dc, struct sock_ctx *ctx)
{
    if (ctx->prev)
        ctx->prev->next = ctx->next;
    else
        dc->socks = ctx->next;
    if (ctx->next)
        ctx->next->prev = ctx->prev;
    uv_poll_stop(&ctx->poll);
    ctx->poll.data = dc;
    uv_close((uv_handle_t *)&ctx->poll, on_handle_closed);
}

static int handle_socket(CURL *easy, curl_socket_t s, int action, void *userp, void *socketp)
{
    struct docker_client *dc = userp;
    struct sock_ctx *ctx = socketp;
    int events = 0;
    (void)easy;

    if (action == CURL_POLL_REMOVE) {
        if (ctx) {
            sock_close(dc, ctx);
            curl_multi_assign(dc->multi, s, NULL);
        }
        return 0;
    }
    if (ctx == NULL) {
        ctx = calloc(1, sizeof(*ctx));
        if (ctx == NULL)
            return -1;
        if (uv_poll_init_socket(dc->loop, &ctx->poll, s) != 0) {
            free(ctx);
            return -1;
        }
        ctx->fd = s;
        ctx->dc = dc;
        ctx->next = dc->socks;
        if (dc->socks)
            dc->socks->prev = ctx;
        dc->socks = ctx;
        dc->open_handles++;
        curl_multi_assign(dc->multi, s, ctx);
    }
    if (action != CURL_POLL_IN)
        events |= UV_WRITABLE;
    if (action != CURL_POLL_OUT)
        events |= UV_READABLE;
    uv_poll_start(&ctx->poll, events, on_poll);
    return 0;
}

/* ---- completion of one request ----------------------------------------- */

/* 1 when s contains needle, ignoring ASCII case. */
static int contains_nocase(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++) {
        if (strncasecmp(s, needle, n) == 0)
            return 1;
    }
    return 0;
}

/* err from the HTTP status and Docker's {"message": "..."} body.  Podman's
 * body is {"cause": "...", "message": "...", "response": N}; a 500 whose
 * cause or message says "no such container" is an inspect that raced a
 * removal (see the top comment) and reads as not found. */
static void http_error(struct request *r, long status, struct enr_error *err)
{
    const char *msg = "";
    json_t *root = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
    json_t *m = json_is_object(root) ? json_object_get(root, "message") : NULL;
    json_t *cause = json_is_object(root) ? json_object_get(root, "cause") : NULL;
    int code = (status == 404) ? ENR_ENOTFOUND : -EIO;

    if (status == 409 && r->kind == REQ_RAW)
        code = -EEXIST; /* a name in use, a container still running */

    if (json_is_string(m))
        msg = json_string_value(m);
    else if (r->body)
        msg = r->body;
    if (status == 500 && r->kind == REQ_INSPECT &&
        ((json_is_string(cause) && contains_nocase(json_string_value(cause), "no such container")) ||
         contains_nocase(msg, "no such container")))
        code = ENR_ENOTFOUND;
    err_set(err, code, "%s: HTTP %ld: %.200s", r->what, status, msg);
    json_decref(root);
}

static void finish_ping(struct request *r, struct enr_error *err)
{
    struct docker_client *dc = r->dc;
    struct curl_header *h = NULL;
    const char *server = DOCKER_CLIENT_FALLBACK_VERSION;
    long smaj, smin;

    if (err->code == 0) {
        if (curl_easy_header(r->easy, "Api-Version", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
            server = h->value;
        if (parse_version(server, &smaj, &smin) < 0) {
            err_set(err, -EPROTO, "%s: bad Api-Version header \"%.32s\"", r->what, server);
        } else {
            if (smaj > DOCKER_CLIENT_MAX_VERSION_MAJOR ||
                (smaj == DOCKER_CLIENT_MAX_VERSION_MAJOR && smin > DOCKER_CLIENT_MAX_VERSION_MINOR)) {
                smaj = DOCKER_CLIENT_MAX_VERSION_MAJOR;
                smin = DOCKER_CLIENT_MAX_VERSION_MINOR;
            }
            snprintf(dc->api_version, sizeof(dc->api_version), "%ld.%ld", smaj, smin);
        }
    }
    r->cb.ping(r->ud, err->code ? err : NULL, err->code ? NULL : dc->api_version);
}

static void finish_list(struct request *r, struct enr_error *err)
{
    if (err->code == 0)
        docker_list_finish(&r->list, err);
    if (err->code)
        r->cb.list(r->ud, err, NULL, NULL, 0);
    else
        r->cb.list(r->ud, NULL, r->list.ids, r->list.hashes, r->list.n);
}

static void finish_inspect(struct request *r, struct enr_error *err)
{
    struct container *c = NULL;

    if (err->code == 0) {
        c = container_from_inspect(r->body ? r->body : "", r->len, err);
        if (c == NULL)
            err_wrap(err, "%s", r->what);
    }
    r->cb.inspect(r->ud, err->code ? err : NULL, c);
}

static void finish_raw(struct request *r, struct enr_error *err, long status)
{
    r->cb.raw(r->ud, err->code ? err : NULL, status, r->body ? r->body : "", r->len);
}

static void finish(struct request *r, CURLcode res)
{
    struct docker_client *dc = r->dc;
    struct enr_error err = {0};
    long status = 0, os_errno = 0;

    curl_multi_remove_handle(dc->multi, r->easy);
    r->added = 0;
    list_del(&dc->reqs, r);
    if (dc->events == r)
        dc->events = NULL;

    if (r->kind == REQ_EVENTS && r->stopped) {
        request_free(r);
        return;
    }
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_errno);
    r->status = status;
    if ((r->kind == REQ_EVENTS || r->kind == REQ_LIST) && r->stream_err.code) {
        err = r->stream_err;
    } else if (res != CURLE_OK && !(res == CURLE_WRITE_ERROR && status >= 300)) {
        if (res == CURLE_WRITE_ERROR)
            err_set(&err, -E2BIG, "%s: response larger than %u bytes", r->what, (unsigned)r->max);
        else if (dc->unix_path && res == CURLE_COULDNT_CONNECT && os_errno != 0)
            /* curl's own text would name "localhost port 80" */
            err_set(&err, -os_errno, "%s: cannot connect to %s: %s", r->what, dc->host,
                    strerror((int)os_errno));
        else
            err_set(&err, curl_code_to_errno(res), "%s: %s: %s", r->what, dc->host,
                    r->errbuf[0] ? r->errbuf : curl_easy_strerror(res));
    } else if ((status < 200 || status >= 300) && !(r->kind == REQ_RAW && status == 304)) {
        http_error(r, status, &err);
    } else if (r->kind == REQ_EVENTS) {
        err_set(&err, -EPIPE, "%s: stream ended", r->what);
    }

    if (r->kind == REQ_RAW)
        finish_raw(r, &err, status);
    else
        deliver(r, &err);
    request_free(r);
}

/* Runs the request's callback exactly once, with err or the result. */
static const char *endpoint_of(enum req_kind kind)
{
    /* One per enum req_kind: REQ_RAW (agent mode's container and volume
     * calls) reaches deliver() when a request cannot be queued. */
    static const char *const names[] = {"GET /_ping", "GET /containers/json", "GET /containers/{id}/json",
                                        "GET /events", "container/volume call"};
    _Static_assert(sizeof(names) / sizeof(names[0]) == REQ_RAW + 1, "one name per req_kind");
    return names[kind];
}

static void deliver(struct request *r, struct enr_error *err)
{
    const struct docker_client_hooks *h = &r->dc->hooks;

    if (err != NULL && err->code != 0 && h->on_error != NULL)
        h->on_error(h->ud, endpoint_of(r->kind), r->status >= 300 ? (int)r->status : 0);
    switch (r->kind) {
    case REQ_PING: finish_ping(r, err); break;
    case REQ_LIST: finish_list(r, err); break;
    case REQ_INSPECT: finish_inspect(r, err); break;
    case REQ_EVENTS: r->end_cb(r->ud, err); break;
    case REQ_RAW: finish_raw(r, err, 0); break;
    }
}

/* ---- events: line splitting (parsing: docker_event.c) ------------------ */

static size_t on_events_data(char *p, size_t size, size_t nmemb, void *userp)
{
    struct request *r = userp;
    struct docker_client *dc = r->dc;
    size_t n = size * nmemb, start = 0, i;
    long status = 0;

    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status >= 300) {
        /* An error answer: keep (bounded) for the message. */
        if (body_append(r, p, n) < 0)
            return 0;
        return n;
    }
    if (r->stopped || dc->freeing)
        return 0;
    /* Complete lines: the kept partial line plus this chunk up to each '\n'. */
    for (i = 0; i < n; i++) {
        if (p[i] != '\n')
            continue;
        if (r->len) {
            if (body_append(r, p + start, i - start) < 0)
                goto too_long;
            if (docker_event_parse(r->body, r->len, r->what, r->cb.event, r->ud, &r->stream_err) < 0)
                return 0;
            r->len = 0;
        } else if (docker_event_parse(p + start, i - start, r->what, r->cb.event, r->ud, &r->stream_err) < 0) {
            return 0;
        }
        start = i + 1;
        if (r->stopped || dc->freeing)
            return 0;
    }
    if (start < n && body_append(r, p + start, n - start) < 0)
        goto too_long;
    return n;

too_long:
    err_set(&r->stream_err, -E2BIG, "%s: event line longer than %u bytes", r->what,
            (unsigned)r->max);
    return 0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *userp)
{
    struct request *r = userp;
    size_t n = size * nmemb;
    long status = 0;

    if (r->kind == REQ_LIST && curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
        status >= 200 && status < 300) {
        /* The listing is parsed as it arrives: no body is kept. */
        if (n > r->max - r->len)
            return 0;           /* "response larger than", in finish() */
        r->len += n;
        return docker_list_feed(&r->list, p, n, &r->stream_err) < 0 ? 0 : n;
    }
    return body_append(r, p, n) < 0 ? 0 : n;
}

/* ---- starting a request ------------------------------------------------- */

/* A request body and its method (REQ_RAW only). */
struct req_body {
    const char *method;       /* "POST", "PUT", "DELETE", "GET" */
    const void *data;         /* NULL: none */
    size_t len;
    const char *content_type; /* NULL: none */
};

static int start_body(struct docker_client *dc, enum req_kind kind, const char *path, const char *query,
                      const struct req_body *rb, void *cb, docker_stream_end_cb end_cb, void *ud,
                      struct enr_error *err);

static int start(struct docker_client *dc, enum req_kind kind, const char *path,
                 const char *query, void *cb, docker_stream_end_cb end_cb, void *ud,
                 struct enr_error *err)
{
    return start_body(dc, kind, path, query, NULL, cb, end_cb, ud, err);
}

static int start_body(struct docker_client *dc, enum req_kind kind, const char *path, const char *query,
                      const struct req_body *rb, void *cb, docker_stream_end_cb end_cb, void *ud,
                      struct enr_error *err)
{
    const char *method = rb ? rb->method : "GET";
    struct request *r = NULL;
    char *url = NULL;
    size_t ulen;
    int rc;

    if (dc->freeing)
        return err_set(err, -ESHUTDOWN, "%s %s: client is being freed", method, path);
    if ((r = calloc(1, sizeof(*r))) == NULL) {
        rc = err_set(err, -ENOMEM, "%s %s: out of memory", method, path);
        goto fail;
    }
    r->dc = dc;
    r->kind = kind;
    r->ud = ud;
    r->end_cb = end_cb;
    r->max = kind == REQ_EVENTS ? DOCKER_CLIENT_MAX_LINE : DOCKER_CLIENT_MAX_BODY;
    snprintf(r->what, sizeof(r->what), "%s %s", method, path);
    switch (kind) {
    case REQ_PING: r->cb.ping = (docker_ping_cb)cb; break;
    case REQ_LIST: r->cb.list = (docker_list_cb)cb; break;
    case REQ_INSPECT: r->cb.inspect = (docker_inspect_cb)cb; break;
    case REQ_EVENTS: r->cb.event = (docker_event_cb)cb; break;
    case REQ_RAW: r->cb.raw = (docker_client_raw_cb)cb; break;
    }
    if (kind == REQ_LIST && (rc = docker_list_init(&r->list, r->what, err)) < 0)
        goto fail;

    ulen = strlen(dc->base_url) + strlen(path) + (query ? strlen(query) : 0) + 32;
    if ((url = malloc(ulen)) == NULL) {
        rc = err_set(err, -ENOMEM, "%s: out of memory", r->what);
        goto fail;
    }
    if (kind != REQ_PING && dc->api_version[0])
        snprintf(url, ulen, "%s/v%s%s%s%s", dc->base_url, dc->api_version, path,
                 query ? "?" : "", query ? query : "");
    else
        snprintf(url, ulen, "%s%s%s%s", dc->base_url, path, query ? "?" : "", query ? query : "");

    r->easy = dc->nspare > 0 ? dc->spare[--dc->nspare] : curl_easy_init();
    if (r->easy == NULL) {
        rc = err_set(err, -ENOMEM, "%s: curl_easy_init failed", r->what);
        goto fail;
    }
    if (curl_easy_setopt(r->easy, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r) != CURLE_OK ||
        curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf) != CURLE_OK ||
        curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r) != CURLE_OK ||
        curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION,
                         kind == REQ_EVENTS ? on_events_data : on_body) != CURLE_OK ||
        curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, dc->timeout_ms) != CURLE_OK ||
        curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS,
                         kind == REQ_EVENTS ? 0L : dc->timeout_ms) != CURLE_OK ||
        (dc->unix_path &&
         curl_easy_setopt(r->easy, CURLOPT_UNIX_SOCKET_PATH, dc->unix_path) != CURLE_OK) ||
        (!dc->unix_path && curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK) ||
        (dc->ca && (curl_easy_setopt(r->easy, CURLOPT_CAINFO, dc->ca) != CURLE_OK ||
                    curl_easy_setopt(r->easy, CURLOPT_SSLCERT, dc->cert) != CURLE_OK ||
                    curl_easy_setopt(r->easy, CURLOPT_SSLKEY, dc->key) != CURLE_OK))) {
        rc = err_set(err, -EINVAL, "%s: cannot set up the curl handle", r->what);
        goto fail;
    }
    if (rb != NULL && strcmp(rb->method, "GET") != 0) {
        char ct[128];
        snprintf(ct, sizeof(ct), "Content-Type: %s", rb->content_type ? rb->content_type : "application/json");
        struct curl_slist *h = curl_slist_append(NULL, ct);
        if (h != NULL)
            r->headers = h;
        /* no "Expect: 100-continue" round trip for a tar upload */
        if (h == NULL || (h = curl_slist_append(r->headers, "Expect:")) == NULL ||
            curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers) != CURLE_OK ||
            curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(rb->data ? rb->len : 0)) != CURLE_OK ||
            curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, rb->data ? (const char *)rb->data : "") != CURLE_OK ||
            curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, rb->method) != CURLE_OK) {
            rc = err_set(err, -ENOMEM, "%s: cannot set up the request body", r->what);
            goto fail;
        }
    }
    free(url);
    url = NULL;

    if (dc->depth == 0) {
        if (curl_multi_add_handle(dc->multi, r->easy) != CURLM_OK) {
            rc = err_set(err, -EIO, "%s: cannot queue request", r->what);
            goto fail;
        }
        r->added = 1;
    }
    list_add(&dc->reqs, r);
    if (kind == REQ_EVENTS)
        dc->events = r;
    if (dc->hooks.on_call != NULL)
        dc->hooks.on_call(dc->hooks.ud, endpoint_of(kind));
    return 0;

fail:
    free(url);
    request_free(r);
    return rc;
}

/* ---- public API --------------------------------------------------------- */

static char *path_join(const char *dir, const char *file)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, file);
    return p;
}

/* Fills dc->unix_path or dc->base_url (+ TLS files) from the host string. */
/* "host", "host:port", "[v6]" or "[v6]:port", port 1-65535: anything else
 * (an unclosed "[::1", "a:b:c", "host:") would only be retried forever. */
static bool valid_host_port(const char *hp)
{
    const char *port = NULL;
    if (hp[0] == '[') {
        const char *close = strchr(hp, ']');
        if (close == NULL || close == hp + 1)
            return false;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != '\0')
            return false;
    } else {
        const char *colon = strchr(hp, ':');
        if (colon != NULL) {
            if (colon == hp || strchr(colon + 1, ':') != NULL)
                return false;
            port = colon + 1;
        }
    }
    if (port == NULL)
        return true;
    if (*port == '\0' || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port))
        return false;
    long p = strtol(port, NULL, 10);
    return p >= 1 && p <= 65535;
}

static int parse_host(struct docker_client *dc, const char *host, const char *cert_path,
                      struct enr_error *err)
{
    if (strncmp(host, "unix://", 7) == 0) {
        if (host[7] != '/')
            return err_set(err, -EINVAL, "docker host \"%s\": expected unix:///absolute/path", host);
        if (strlen(host + 7) >= 108)
            return err_set(err, -ENAMETOOLONG, "docker host \"%s\": socket path too long", host);
        dc->unix_path = strdup(host + 7);
        dc->base_url = strdup("http://localhost");
        if (dc->unix_path == NULL || dc->base_url == NULL)
            return err_set(err, -ENOMEM, "docker host: out of memory");
        return 0;
    }
    if (strncmp(host, "tcp://", 6) == 0) {
        const char *hp = host + 6;
        int tls = cert_path != NULL && *cert_path != '\0';
        size_t n = strlen(hp) + 16;

        if (*hp == '\0' || strpbrk(hp, "/?#@ ") != NULL || !valid_host_port(hp))
            return err_set(err, -EINVAL, "docker host \"%s\": expected tcp://host:port", host);
        if ((dc->base_url = malloc(n)) == NULL)
            return err_set(err, -ENOMEM, "docker host: out of memory");
        /* Docker's defaults: 2376 with TLS, 2375 without. */
        if (strrchr(hp, ':') != NULL && hp[strlen(hp) - 1] != ']')
            snprintf(dc->base_url, n, "%s://%s", tls ? "https" : "http", hp);
        else
            snprintf(dc->base_url, n, "%s://%s:%d", tls ? "https" : "http", hp,
                     tls ? 2376 : 2375);
        if (tls) {
            dc->ca = path_join(cert_path, "ca.pem");
            dc->cert = path_join(cert_path, "cert.pem");
            dc->key = path_join(cert_path, "key.pem");
            if (!dc->ca || !dc->cert || !dc->key)
                return err_set(err, -ENOMEM, "docker host: out of memory");
        }
        return 0;
    }
    return err_set(err, -EINVAL, "docker host \"%s\": expected unix:// or tcp://", host);
}

int docker_client_check_host(const char *host, struct enr_error *err)
{
    struct docker_client tmp = {0};
    int rc = parse_host(&tmp, host, NULL, err);

    free(tmp.unix_path);
    free(tmp.base_url);
    return rc;
}

struct docker_client *docker_client_new(uv_loop_t *loop, const struct docker_client_config *cfg,
                                        struct enr_error *err)
{
    struct docker_client *dc = NULL;
    const char *host = cfg ? cfg->host : NULL;
    const char *cert_path = cfg ? cfg->cert_path : NULL;

    if (host == NULL || *host == '\0')
        host = getenv("DOCKER_HOST");
    if (host == NULL || *host == '\0')
        host = DOCKER_CLIENT_DEFAULT_HOST;
    if (cert_path == NULL)
        cert_path = getenv("DOCKER_CERT_PATH");

    if ((dc = calloc(1, sizeof(*dc))) == NULL) {
        err_set(err, -ENOMEM, "docker client: out of memory");
        goto fail;
    }
    dc->loop = loop;
    dc->timeout_ms = (cfg && cfg->timeout_ms) ? (long)cfg->timeout_ms : DOCKER_CLIENT_DEFAULT_TIMEOUT_MS;
    if ((dc->host = strdup(host)) == NULL) {
        err_set(err, -ENOMEM, "docker client: out of memory");
        goto fail;
    }
    if (parse_host(dc, host, cert_path, err) < 0)
        goto fail;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        err_set(err, -EIO, "docker client: curl_global_init failed");
        goto fail;
    }
    dc->curl_inited = 1;
    if ((dc->multi = curl_multi_init()) == NULL) {
        err_set(err, -ENOMEM, "docker client: curl_multi_init failed");
        goto fail;
    }
    curl_multi_setopt(dc->multi, CURLMOPT_SOCKETFUNCTION, handle_socket);
    curl_multi_setopt(dc->multi, CURLMOPT_SOCKETDATA, dc);
    curl_multi_setopt(dc->multi, CURLMOPT_TIMERFUNCTION, start_timeout);
    curl_multi_setopt(dc->multi, CURLMOPT_TIMERDATA, dc);
    if (uv_timer_init(loop, &dc->timer) != 0) {
        err_set(err, -EIO, "docker client: uv_timer_init failed");
        goto fail;
    }
    dc->timer.data = dc;
    dc->open_handles = 1;
    return dc;

fail:
    if (dc) {
        if (dc->multi)
            curl_multi_cleanup(dc->multi);
        if (dc->curl_inited)
            curl_global_cleanup();
        free(dc->host);
        free(dc->unix_path);
        free(dc->base_url);
        free(dc->ca);
        free(dc->cert);
        free(dc->key);
        free(dc);
    }
    return NULL;
}

/* Cancels everything; the struct is freed by the last uv close callback. */
static void teardown(struct docker_client *dc)
{
    struct request *r;

    while ((r = dc->reqs) != NULL) {
        list_del(&dc->reqs, r);
        request_free(r);
    }
    dc->events = NULL;
    while (dc->nspare > 0)
        curl_easy_cleanup(dc->spare[--dc->nspare]);
    curl_multi_cleanup(dc->multi); /* may close cached connections: socket callbacks run */
    dc->multi = NULL;
    while (dc->socks) {
        struct sock_ctx *ctx = dc->socks;
        sock_close(dc, ctx);
    }
    curl_global_cleanup();
    free(dc->host);
    free(dc->unix_path);
    free(dc->base_url);
    free(dc->ca);
    free(dc->cert);
    free(dc->key);
    dc->host = dc->unix_path = dc->base_url = dc->ca = dc->cert = dc->key = NULL;
    uv_timer_stop(&dc->timer);
    uv_close((uv_handle_t *)&dc->timer, on_handle_closed);
}

void docker_client_free(struct docker_client *dc)
{
    if (dc == NULL || dc->freeing)
        return;
    dc->freeing = 1;
    if (dc->depth == 0)
        teardown(dc);
}

void docker_client_set_hooks(struct docker_client *dc, const struct docker_client_hooks *h)
{
    if (h != NULL)
        dc->hooks = *h;
    else
        memset(&dc->hooks, 0, sizeof(dc->hooks));
}

const char *docker_client_host(const struct docker_client *dc)
{
    return dc->host;
}

int docker_client_ping(struct docker_client *dc, docker_ping_cb cb, void *ud, struct enr_error *err)
{
    return start(dc, REQ_PING, "/_ping", NULL, (void *)cb, NULL, ud, err);
}

int docker_client_list(struct docker_client *dc, docker_list_cb cb, void *ud, struct enr_error *err)
{
    return start(dc, REQ_LIST, "/containers/json", NULL, (void *)cb, NULL, ud, err);
}

int docker_client_inspect(struct docker_client *dc, const char *id, docker_inspect_cb cb, void *ud,
                          struct enr_error *err)
{
    char path[256];
    char *esc;
    int rc;

    if (id == NULL || *id == '\0' || strlen(id) > 128)
        return err_set(err, -EINVAL, "inspect: bad container id");
    if ((esc = curl_easy_escape(NULL, id, 0)) == NULL)
        return err_set(err, -ENOMEM, "inspect %s: out of memory", id);
    snprintf(path, sizeof(path), "/containers/%s/json", esc);
    curl_free(esc);
    rc = start(dc, REQ_INSPECT, path, NULL, (void *)cb, NULL, ud, err);
    return rc;
}

int docker_client_events(struct docker_client *dc, int64_t since_nano, docker_event_cb ev_cb,
                         docker_stream_end_cb end_cb, void *ud, struct enr_error *err)
{
    /* Not "kill": a signal changes no state by itself, and a process it ends
     * sends "die" (an inspect per kill was wasted on every docker stop).
     * "rename": the name a running container's list entry and inspect show
     * (daemon/rename.go); Podman sends it under the same name
     * (libpod/events/config.go). */
    static const char filters[] =
        "{\"type\":[\"container\",\"network\"],"
        "\"event\":[\"start\",\"die\",\"destroy\",\"stop\",\"pause\",\"unpause\","
        "\"health_status\",\"rename\",\"connect\",\"disconnect\","
        "\"died\",\"remove\"]}"; /* Podman 4.3 filters on these names; see the top comment */
    char query[512];
    char *esc;

    if (dc->events != NULL)
        return err_set(err, -EBUSY, "GET /events: a stream is already open");
    if (since_nano < 0)
        return err_set(err, -EINVAL, "GET /events: negative since");
    if ((esc = curl_easy_escape(NULL, filters, 0)) == NULL)
        return err_set(err, -ENOMEM, "GET /events: out of memory");
    if (since_nano > 0)
        snprintf(query, sizeof(query), "since=%" PRId64 ".%09" PRId64 "&filters=%s",
                 since_nano / 1000000000, since_nano % 1000000000, esc);
    else
        snprintf(query, sizeof(query), "filters=%s", esc);
    curl_free(esc);
    return start(dc, REQ_EVENTS, "/events", query, (void *)ev_cb, end_cb, ud, err);
}

void docker_client_events_stop(struct docker_client *dc)
{
    struct request *r = dc->events;

    if (r == NULL)
        return;
    if (dc->depth > 0) {
        r->stopped = 1; /* removed in run_deferred, outside curl's callbacks */
        dc->events = NULL;
        return;
    }
    dc->events = NULL;
    list_del(&dc->reqs, r);
    request_free(r);
}

int docker_client_request(struct docker_client *dc, const char *method, const char *path, const char *query,
                          const void *body, size_t len, const char *content_type, docker_client_raw_cb cb,
                          void *ud, struct enr_error *err)
{
    struct req_body rb = {.method = method, .data = body, .len = len, .content_type = content_type};
    return start_body(dc, REQ_RAW, path, query, &rb, (void *)cb, NULL, ud, err);
}
