/* ops_http.c - see ops_http.h. */
#include "ops/ops_http.h"
#include "base/log.h"
#include "ops/ops_metrics.h"
#include "ops/ops_status_page.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_OPS "ops"

struct ops_http {
    struct MHD_Daemon *daemon;
    struct ops_hub *hub;
    uint64_t stale_after_ms;
    unsigned port;
    char addr[80];
};

int ops_http_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len, struct enr_error *err)
{
    char host[64];
    const char *port_s;
    size_t hlen;

    memset(ss, 0, sizeof(*ss));
    if (listen == NULL || *listen == '\0')
        return err_set(err, -EINVAL, "ops listen address \"\": empty");
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (end == NULL || end[1] != ':')
            return err_set(err, -EINVAL, "ops listen address \"%s\": expected [IPV6]:PORT", listen);
        hlen = (size_t)(end - listen - 1);
        if (hlen == 0 || hlen >= sizeof(host))
            return err_set(err, -EINVAL, "ops listen address \"%s\": bad IPv6 address", listen);
        memcpy(host, listen + 1, hlen);
        host[hlen] = '\0';
        port_s = end + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (colon && memchr(listen, ':', (size_t)(colon - listen)))
            return err_set(err, -EINVAL, "ops listen address \"%s\": an IPv6 address goes in brackets: [::1]:9464",
                           listen);
        hlen = colon ? (size_t)(colon - listen) : 0;
        if (hlen >= sizeof(host))
            return err_set(err, -EINVAL, "ops listen address \"%s\": host too long", listen);
        memcpy(host, listen, hlen);
        host[hlen] = '\0';
        port_s = colon ? colon + 1 : listen;
    }

    if (*port_s == '\0' || strlen(port_s) > 5 || strspn(port_s, "0123456789") != strlen(port_s) ||
        atoi(port_s) > 65535)
        return err_set(err, -EINVAL, "ops listen address \"%s\": expected a port from 0 to 65535 after the host",
                       listen);
    uint16_t port = (uint16_t)atoi(port_s);

    if (listen[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            return err_set(err, -EINVAL, "ops listen address \"%s\": \"%s\" is not an IPv6 address", listen, host);
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        *len = sizeof(*a6);
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    if (host[0] == '\0' || strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return err_set(err, -EINVAL, "ops listen address \"%s\": \"%s\" is not an IPv4 address", listen, host);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    *len = sizeof(*a4);
    return 0;
}

/* --- requests ---------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type, char *body,
                             size_t len, bool owned)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        if (owned)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (strncmp(type, "text/html", 9) == 0)
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *fmt, ...)
{
    char *body = NULL;
    va_list ap;

    va_start(ap, fmt);
    int n = vasprintf(&body, fmt, ap);
    va_end(ap);
    if (n < 0)
        return MHD_NO;
    return reply(conn, status, "text/plain; charset=utf-8", body, (size_t)n, true);
}

static enum MHD_Result serve_rendered(struct MHD_Connection *conn, struct ops_snapshot *s, bool metrics)
{
    struct enr_error err = {0};
    char *body = NULL;
    size_t len = 0;
    int rc = metrics ? ops_metrics_render(s, (int64_t)time(NULL), &body, &len, &err)
                     : ops_status_page_render(s, (int64_t)time(NULL), &body, &len, &err);
    if (rc < 0)
        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s\n", err.msg);
    return reply(conn, MHD_HTTP_OK, metrics ? OPS_METRICS_CONTENT_TYPE : OPS_STATUS_PAGE_CONTENT_TYPE, body, len,
                 true);
}

static enum MHD_Result serve_healthz(struct ops_http *h, struct MHD_Connection *conn, struct ops_snapshot *s)
{
    if (s == NULL)
        return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not alive: no snapshot published yet\n");
    uint64_t now = ops_snapshot_hub_now_ms(h->hub);
    uint64_t age = now > s->published_ms ? now - s->published_ms : 0;
    if (age > h->stale_after_ms)
        return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                          "not alive: the loop last published %llu s ago (limit %llu s)\n",
                          (unsigned long long)(age / 1000), (unsigned long long)(h->stale_after_ms / 1000));
    return reply_text(conn, MHD_HTTP_OK, "ok\n");
}

static enum MHD_Result serve_readyz(struct MHD_Connection *conn, struct ops_snapshot *s)
{
    const char *why = NULL;

    if (s == NULL)
        why = "no snapshot published yet";
    else if (!s->docker_connected)
        why = "not connected to Docker";
    else if (!s->auth_connected)
        why = "not connected to Teleport Auth";
    else if (!s->first_sync_complete)
        why = "first sync not complete";
    if (why)
        return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready: %s\n", why);
    return reply_text(conn, MHD_HTTP_OK, "ready\n");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct ops_http *h = cls;
    enum MHD_Result r;

    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: GET or HEAD\n");
    bool metrics = strcmp(url, "/metrics") == 0, page = strcmp(url, "/") == 0;
    bool healthz = strcmp(url, "/healthz") == 0, readyz = strcmp(url, "/readyz") == 0;
    if (!metrics && !page && !healthz && !readyz)
        return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found: /metrics, /healthz, /readyz or /\n");

    struct ops_snapshot *s = ops_snapshot_get(h->hub);
    if (healthz)
        r = serve_healthz(h, conn, s);
    else if (readyz)
        r = serve_readyz(conn, s);
    else if (metrics && s == NULL)
        r = reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "no snapshot published yet\n");
    else
        r = serve_rendered(conn, s, metrics);
    ops_snapshot_unref(s);
    return r;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[256];
    struct ops_http *h = cls;

    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\r\n")] = '\0';
    log_warn(LOG_OPS, "listener %s: %s", h->addr, line);
}

/* --- start and stop ------------------------------------------------------------ */

int ops_http_start(struct ops_hub *hub, const struct ops_http_config *cfg, struct ops_http **out,
                   struct enr_error *err)
{
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    struct ops_http *h = NULL;
    int fd = -1, one = 1, rc;

    *out = NULL;
    if (cfg == NULL || cfg->listen == NULL || cfg->listen[0] == '\0')
        return 0;
    rc = ops_http_parse_listen(cfg->listen, &ss, &sslen, err);
    if (rc < 0)
        goto fail;
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        rc = err_set(err, -ENOMEM, "ops listener %s: out of memory", cfg->listen);
        goto fail;
    }
    h->hub = hub;
    h->stale_after_ms = 1000ull * (cfg->stale_after_sec ? cfg->stale_after_sec : OPS_HTTP_DEFAULT_STALE_SEC);
    snprintf(h->addr, sizeof(h->addr), "%s", cfg->listen);

    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        rc = err_set(err, -errno, "ops listener %s: socket: %s", cfg->listen, strerror(errno));
        goto fail;
    }
    /* SO_REUSEADDR lets a restart bind past TIME_WAIT; on Linux it still
     * refuses a port another socket listens on. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0) {
        rc = err_set(err, -errno, "ops listener %s: bind: %s", cfg->listen, strerror(errno));
        goto fail;
    }
    if (listen(fd, 64) < 0) {
        rc = err_set(err, -errno, "ops listener %s: listen: %s", cfg->listen, strerror(errno));
        goto fail;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    if (getsockname(fd, (struct sockaddr *)&bound, &blen) < 0) {
        rc = err_set(err, -errno, "ops listener %s: getsockname: %s", cfg->listen, strerror(errno));
        goto fail;
    }
    h->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);

    /* Two threads polling the one listening socket: a slow client does not
     * hold up a scrape.  From here on libmicrohttpd owns fd: it closes it
     * when stopped.  After a failed start it is not closed here either, so
     * that it can never be closed twice (a rare failure: threads or epoll). */
    h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_request, h,
                                 MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
                                 MHD_OPTION_LISTEN_SOCKET, fd,
                                 MHD_OPTION_THREAD_POOL_SIZE, 2u,
                                 MHD_OPTION_CONNECTION_LIMIT, 64u,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                                 MHD_OPTION_END);
    fd = -1;
    if (h->daemon == NULL) {
        rc = err_set(err, -EIO, "ops listener %s: libmicrohttpd did not start", cfg->listen);
        goto fail;
    }
    log_info(LOG_OPS, "listening on %s (port %u): /metrics /healthz /readyz /", cfg->listen, h->port);
    *out = h;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    free(h);
    return rc;
}

unsigned ops_http_port(const struct ops_http *h)
{
    return h ? h->port : 0;
}

void ops_http_stop(struct ops_http *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
