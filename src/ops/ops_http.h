/*
 * ops_http.h - the operations listener: Prometheus metrics, health, readiness
 * and a status page over plain HTTP, served by libmicrohttpd's own threads
 * from the last snapshot the loop published (ops_snapshot.h).  It never
 * blocks on or calls into the loop; a scrape takes a reference to the
 * current snapshot, renders it and lets go.
 *
 *   GET /metrics   Prometheus text format 0.0.4 (ops_metrics.h)
 *   GET /healthz   200 "ok" while the loop has published a snapshot within
 *                  stale_after_sec (the loop is alive), else 503 and why
 *   GET /readyz    200 "ready" when connected to Docker and Teleport Auth and
 *                  the first sync is complete, else 503 and one line saying
 *                  what is missing
 *   GET /          the status page (ops_status_page.h)
 *   anything else  404; a method other than GET or HEAD: 405
 *
 * Wiring into the daemon, in order:
 *
 *     hub = ops_snapshot_hub_new(&err);
 *     ops_http_start(hub, &(struct ops_http_config){ .listen = cfg_addr }, &http, &err);
 *     ... on the loop, after each pass and on a timer: build and ops_snapshot_publish(hub, s) ...
 *     ops_http_stop(http);          (before the hub goes)
 *     ops_snapshot_hub_free(hub);
 */
#ifndef ENR_OPS_HTTP_H
#define ENR_OPS_HTTP_H

#include <stdint.h>
#include <sys/socket.h>

#include "base/error.h"
#include "ops/ops_snapshot.h"

#define OPS_HTTP_DEFAULT_STALE_SEC 60

struct ops_http_config {
    /* "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464"; a bare port ("9464"
     * or ":9464") listens on 127.0.0.1 only.  Port 0: any free port (see
     * ops_http_port).  NULL or "": the listener is off. */
    const char *listen;
    unsigned stale_after_sec;  /* /healthz; 0: OPS_HTTP_DEFAULT_STALE_SEC */
};

struct ops_http;

/* Parses a listen address as above into *ss (*len bytes).  -EINVAL with a
 * one-line message naming the address when it is not one. */
int ops_http_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len, struct enr_error *err);

/* Binds and starts serving hub's snapshots.  With the listener off, *out is
 * NULL and 0 is returned.  A bad address or a port in use: a negative code,
 * one line naming the address in err, nothing started.  hub must outlive
 * the listener. */
int ops_http_start(struct ops_hub *hub, const struct ops_http_config *cfg, struct ops_http **out,
                   struct enr_error *err);
/* The port it listens on (the one picked when the address said port 0). */
unsigned ops_http_port(const struct ops_http *h);
/* Stops serving (waits for requests in progress) and frees h; NULL is a no-op. */
void ops_http_stop(struct ops_http *h);

#endif
