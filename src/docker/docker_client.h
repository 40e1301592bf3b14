/*
 * docker_client.h - the Docker Engine API over libcurl, driven by the libuv
 * loop (curl_multi_socket_action + uv_poll/uv_timer, as curl's multi-uv.c).
 *
 * Every call is asynchronous: it returns 0 once queued (or a negative code
 * and err, in which case the callback is never called), and the callback runs
 * later on the loop exactly once.  The host follows Docker's own rules:
 * "unix:///path" or "tcp://host:port" (TLS when cert_path is set, as
 * DOCKER_CERT_PATH/DOCKER_TLS_VERIFY do); NULL means $DOCKER_HOST, then
 * unix:///var/run/docker.sock.  The API version is negotiated from /_ping.
 * Podman's Docker-compatible service (4.3 and later) is served too: its
 * event names and error codes are translated to Docker's here, so callers
 * see no difference (docker_client.c says which).
 */
#ifndef ENR_DOCKER_CLIENT_H
#define ENR_DOCKER_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "model/container.h"
#include "base/error.h"
#include "docker/docker_event.h"

struct docker_client;

struct docker_client_config {
    const char *host;        /* NULL: $DOCKER_HOST or the default socket */
    const char *cert_path;   /* dir with ca.pem, cert.pem, key.pem for tcp+TLS; NULL: $DOCKER_CERT_PATH */
    unsigned timeout_ms;     /* per request (not the events stream); 0: 10000 */
};

/* NULL on failure (err says why).  Nothing is sent until a call is made. */
struct docker_client *docker_client_new(uv_loop_t *loop, const struct docker_client_config *cfg,
                                        struct enr_error *err);
/* Cancels everything in flight; callbacks of cancelled calls are not run. */
void docker_client_free(struct docker_client *dc);
/* The host in use, for log lines ("unix:///run/docker.sock"). */
const char *docker_client_host(const struct docker_client *dc);

typedef void (*docker_ping_cb)(void *ud, const struct enr_error *err, const char *api_version);
/* GET /_ping; stores the API version for later calls. */
int docker_client_ping(struct docker_client *dc, docker_ping_cb cb, void *ud, struct enr_error *err);

typedef void (*docker_list_cb)(void *ud, const struct enr_error *err, char **ids, const uint64_t *hashes,
                               size_t n);
/* GET /containers/json (running only): the ids, and for each a hash of its
 * list entry (all of it but the "Status" text, which counts uptime), so a
 * resync can inspect only the containers whose entry changed.  Borrowed for
 * the callback. */
int docker_client_list(struct docker_client *dc, docker_list_cb cb, void *ud, struct enr_error *err);

/* The parsing half of docker_client_list, pure (no I/O): body is the
 * answer to GET /containers/json.  On success l holds n ids (borrowed from
 * l->root) and their hashes; docker_client_list_cleanup frees it (also after
 * a failure, or on a zeroed l).  -EPROTO when body is not an array of
 * entries with an "Id" string, -ENOMEM. */
struct docker_client_list {
    void *root; /* the parsed document (json_t *) */
    char **ids;
    uint64_t *hashes;
    size_t n;
};
int docker_client_list_parse(const char *body, size_t len, const char *what, struct docker_client_list *l,
                             struct enr_error *err);
void docker_client_list_cleanup(struct docker_client_list *l);

typedef void (*docker_inspect_cb)(void *ud, const struct enr_error *err, struct container *c);
/* GET /containers/{id}/json.  On success c is handed over (caller frees);
 * a container that no longer exists gives err->code == ENR_ENOTFOUND (HTTP
 * 404, or Podman's HTTP 500 "no such container" when it raced a removal). */
int docker_client_inspect(struct docker_client *dc, const char *id, docker_inspect_cb cb, void *ud,
                          struct enr_error *err);

typedef void (*docker_stream_end_cb)(void *ud, const struct enr_error *err);
/* GET /events filtered to container start/die/destroy/stop/kill/pause/unpause/
 * health_status and network connect/disconnect (and Podman's died/remove),
 * since=since_nano (0: now).
 * ev_cb runs once per event as it arrives; end_cb runs once when the stream
 * ends for any reason (err set) or is stopped with docker_client_events_stop
 * (not run then). */
int docker_client_events(struct docker_client *dc, int64_t since_nano, docker_event_cb ev_cb,
                         docker_stream_end_cb end_cb, void *ud, struct enr_error *err);
void docker_client_events_stop(struct docker_client *dc);

#endif
