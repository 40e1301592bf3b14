/*
 * teleport_client.h - typed Teleport Auth Service RPCs over one HTTP/2
 * connection (http2_conn) with gRPC framing (grpc_frame), messages encoded
 * with protobuf-c from proto/.
 *
 * Asynchronous on the libuv loop, like docker_client: a call returns 0 once
 * queued or a negative code with err (callback never called); the callback
 * runs exactly once.  The connection is opened lazily on the first call and
 * re-opened after it breaks; every call has a deadline (grpc-timeout and a
 * local timer).  Errors carry the gRPC status (err->grpc_status) and message.
 */
#ifndef ENR_TELEPORT_CLIENT_H
#define ENR_TELEPORT_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "error.h"
#include "resource.h"

struct teleport_client;

struct teleport_client_config {
    const char *addr;          /* "host:port" of the Auth Service */
    const char *identity_file; /* tctl auth sign --format=file output */
    const char *server_name;   /* SNI and name to verify; NULL: "teleport.cluster.local" */
    unsigned call_timeout_ms;  /* per call; 0: 10000 */
};

/* Loads and checks the identity (err names the file and the problem:
 * missing, unreadable, no key, expired, ...).  No connection is made yet. */
struct teleport_client *teleport_client_new(uv_loop_t *loop, const struct teleport_client_config *cfg,
                                            struct enr_error *err);
/* Fails every call in flight with CANCELLED without running callbacks. */
void teleport_client_free(struct teleport_client *tc);
/* Seconds until the identity's TLS certificate expires (negative: expired). */
int64_t teleport_client_identity_ttl(const struct teleport_client *tc);
/* The user named in the identity's certificate (for log lines). */
const char *teleport_client_identity_user(const struct teleport_client *tc);

typedef void (*teleport_done_cb)(void *ud, const struct enr_error *err /* NULL on success */);
typedef void (*teleport_ping_cb)(void *ud, const struct enr_error *err, const char *cluster_name,
                                 const char *server_version);
/* apps borrowed for the duration of the callback. */
typedef void (*teleport_list_cb)(void *ud, const struct enr_error *err, const struct resource_list *items);

int teleport_client_ping(struct teleport_client *tc, teleport_ping_cb cb, void *ud, struct enr_error *err);
/* GetApps: every app the identity may read, as resources (revision set). */
int teleport_client_get_apps(struct teleport_client *tc, teleport_list_cb cb, void *ud, struct enr_error *err);
/* ListResources(app_server), all pages: each item is the served app (its
 * name/labels/uri), host id in container_id. */
int teleport_client_list_app_servers(struct teleport_client *tc, teleport_list_cb cb, void *ud,
                                     struct enr_error *err);
int teleport_client_create_app(struct teleport_client *tc, const struct resource *app, teleport_done_cb cb,
                               void *ud, struct enr_error *err);
/* UpdateApp: app->revision is echoed back. */
int teleport_client_update_app(struct teleport_client *tc, const struct resource *app, teleport_done_cb cb,
                               void *ud, struct enr_error *err);
int teleport_client_delete_app(struct teleport_client *tc, const char *name, teleport_done_cb cb, void *ud,
                               struct enr_error *err);
/* CreateTokenV2 with the given roles ("App", ...) and TTL.  The token value
 * is a secret: it is never logged. */
int teleport_client_create_token(struct teleport_client *tc, const char *token, const char *const *roles,
                                 size_t n_roles, int64_t ttl_sec, teleport_done_cb cb, void *ud,
                                 struct enr_error *err);

#endif
