/*
 * teleport_client.h - typed Teleport Auth Service RPCs: each packs its
 * request (teleport_convert), runs one gRPC call at a time (teleport_call)
 * on the connection kept by teleport_conn, and decodes the reply.
 *
 * Asynchronous on the libuv loop, like docker_client: a call returns 0 once
 * queued or a negative code with err (callback never called); the callback
 * runs exactly once.  The connection is opened lazily on the first call and
 * re-opened after it breaks; every call has a deadline (grpc-timeout and a
 * local timer).  Errors carry the gRPC status (err->grpc_status) and message.
 */
#ifndef ENR_TELEPORT_CLIENT_H
#define ENR_TELEPORT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/error.h"
#include "model/resource.h"
#include "teleport/teleport_call.h"  /* struct teleport_call_hooks */
#include "teleport/teleport_conn.h"  /* enum teleport_mode */
#include "teleport/teleport_event.h" /* struct teleport_event */

struct teleport_client;

/* Per call, when the config says 0; defined here once (config.c uses it). */
#define TELEPORT_CLIENT_DEFAULT_TIMEOUT_MS 10000u

struct teleport_client_config {
    const char *addr;          /* "host:port" of the Auth Service or the Proxy; host may be a DNS name */
    const char *identity_file; /* tctl auth sign --format=file output ... */
    const char *tbot_dir;      /* ... or a tbot identity output directory (exactly one) */
    const char *cluster;       /* cluster name for the Proxy ALPN; NULL: the identity's CA subject O */
    enum teleport_mode mode;
    const char *server_name;   /* SNI and name to verify; NULL: "teleport.cluster.local" */
    unsigned call_timeout_ms;  /* per call; 0: TELEPORT_CLIENT_DEFAULT_TIMEOUT_MS */
    unsigned keepalive_ms;     /* idle time before an HTTP/2 PING; 0: 300000 (see http2_conn.h) */
    unsigned keepalive_timeout_ms; /* PING ACK wait; 0: 20000 */
    int watch_credentials;     /* reload the identity when its files change */
    unsigned reload_debounce_ms; /* 0: 500 */
};

/* Loads and checks the identity (err names the file and the problem:
 * missing, unreadable, no key, expired, ...).  No connection is made yet.
 * After a credentials reload, new calls use a new connection; calls in
 * flight finish on the old one. */
struct teleport_client *teleport_client_new(uv_loop_t *loop, const struct teleport_client_config *cfg,
                                            struct enr_error *err);
/* Fails every call in flight with CANCELLED without running callbacks. */
void teleport_client_free(struct teleport_client *tc);
/* Seconds until the identity's TLS certificate expires (negative: expired). */
int64_t teleport_client_identity_ttl(const struct teleport_client *tc);
/* The user named in the identity's certificate (for log lines). */
const char *teleport_client_identity_user(const struct teleport_client *tc);
/* The mode in use: DIRECT or PROXY once one connected (AUTO before). */
enum teleport_mode teleport_client_mode(const struct teleport_client *tc);
/* Counting hooks for metrics, given to every call (teleport_call.h);
 * copied; NULL: none. */
void teleport_client_set_hooks(struct teleport_client *tc, const struct teleport_call_hooks *h);
/* Apps and databases read from Teleport (listings, watch events) are
 * decoded in full only when their label `label` is `value`; any other in
 * brief (struct teleport_detail).  Copied; label NULL (the default): all in
 * full.  -ENOMEM. */
int teleport_client_set_detail(struct teleport_client *tc, const char *label, const char *value);
/* Connections opened so far (for tests and the benchmark). */
unsigned teleport_client_n_connects(const struct teleport_client *tc);
/* Credential generation (1, +1 per accepted reload). */
unsigned teleport_client_credentials_generation(const struct teleport_client *tc);

typedef void (*teleport_done_cb)(void *ud, const struct enr_error *err /* NULL on success */);
typedef void (*teleport_ping_cb)(void *ud, const struct enr_error *err, const char *cluster_name,
                                 const char *server_version);
/* apps borrowed for the duration of the callback. */
/* items (NULL on error) belong to the call: the callback may move entries
 * out of the list (leaving them zeroed, as resource_list_take does); what is
 * left is freed when the callback returns. */
typedef void (*teleport_list_cb)(void *ud, const struct enr_error *err, struct resource_list *items);

int teleport_client_ping(struct teleport_client *tc, teleport_ping_cb cb, void *ud, struct enr_error *err);
/* GetApps: every app the identity may read, as resources (revision set;
 * in full or in brief, teleport_client_set_detail). */
int teleport_client_get_apps(struct teleport_client *tc, teleport_list_cb cb, void *ud, struct enr_error *err);
/* ListResources(app_server), all pages: each item is named after the app
 * served, host id in container_id (teleport_convert_from_app_server).  labels
 * (NULL: none) narrows the listing on the server to the servers carrying
 * them, the served app's labels included (AppServerV3.GetAllLabels). */
int teleport_client_list_app_servers(struct teleport_client *tc, const struct kv_list *labels, teleport_list_cb cb,
                                     void *ud, struct enr_error *err);
/* ListApps / ListDatabases, every page (LIST_PAGE_SIZE each, halved when a
 * page does not fit in a message; an empty page with a next key goes on).
 * A server that answers UNIMPLEMENTED (older than the paginated calls) is
 * asked GetApps / GetDatabases instead, and so is the same connection from
 * then on, as Teleport's own cache does (lib/cache/app.go). */
int teleport_client_list_apps(struct teleport_client *tc, teleport_list_cb cb, void *ud, struct enr_error *err);
int teleport_client_list_databases(struct teleport_client *tc, teleport_list_cb cb, void *ud, struct enr_error *err);
/* The same listing (db false: ListApps, true: ListDatabases, with the same
 * fallback) handed over page by page, so that a large listing is never held
 * whole here: cb runs once per page, with the page's items (owned as with
 * teleport_list_cb) and last false while more pages are to come; then once
 * with last true, with the final page (err NULL) or, if the listing failed
 * at any page, err set and items NULL (the pages handed over before belong
 * to an incomplete listing). */
typedef void (*teleport_page_cb)(void *ud, const struct enr_error *err, struct resource_list *items, bool last);
int teleport_client_list_pages(struct teleport_client *tc, bool db, teleport_page_cb cb, void *ud,
                               struct enr_error *err);
/* ListResources(db_server), all pages: each item is named after the
 * database served, host id in container_id; labels as above. */
int teleport_client_list_db_servers(struct teleport_client *tc, const struct kv_list *labels, teleport_list_cb cb,
                                    void *ud, struct enr_error *err);
int teleport_client_create_app(struct teleport_client *tc, const struct resource *app, teleport_done_cb cb,
                               void *ud, struct enr_error *err);
/* UpdateApp: app->revision is echoed back. */
int teleport_client_update_app(struct teleport_client *tc, const struct resource *app, teleport_done_cb cb,
                               void *ud, struct enr_error *err);
int teleport_client_delete_app(struct teleport_client *tc, const char *name, teleport_done_cb cb, void *ud,
                               struct enr_error *err);
/* Databases (types.DatabaseV3; struct resource kind RESOURCE_DB with
 * protocol and uri).  GetDatabases lists every database the identity may
 * read; UpdateDatabase echoes db->revision. */
int teleport_client_get_databases(struct teleport_client *tc, teleport_list_cb cb, void *ud, struct enr_error *err);
int teleport_client_create_database(struct teleport_client *tc, const struct resource *db, teleport_done_cb cb,
                                    void *ud, struct enr_error *err);
int teleport_client_update_database(struct teleport_client *tc, const struct resource *db, teleport_done_cb cb,
                                    void *ud, struct enr_error *err);
int teleport_client_delete_database(struct teleport_client *tc, const char *name, teleport_done_cb cb, void *ud,
                                    struct enr_error *err);

/* UpsertApplicationServer: an app_server named after app, serving app, on
 * host_id (also its hostname); expires unix seconds, 0: none. */
int teleport_client_upsert_app_server(struct teleport_client *tc, const struct resource *app, const char *host_id,
                                      int64_t expires, teleport_done_cb cb, void *ud, struct enr_error *err);
int teleport_client_delete_app_server(struct teleport_client *tc, const char *host_id, const char *name,
                                      teleport_done_cb cb, void *ud, struct enr_error *err);

/* WatchEvents (a server stream) for the given kinds ("app", "db",
 * "app_server").  event_cb runs for the INIT event (the watch is set up)
 * and then every PUT/DELETE; ev is borrowed for the call.  end_cb runs once
 * when the stream ends for any reason (err NULL only if the server ended it
 * with OK); no callback runs after it.  The stream has no deadline (HTTP/2
 * keepalive watches the connection).  Returns a watch id > 0, or a
 * negative code with err (no callback then). */
typedef void (*teleport_event_cb)(void *ud, const struct teleport_event *ev);
int teleport_client_watch(struct teleport_client *tc, const char *const *kinds, size_t n_kinds,
                          teleport_event_cb event_cb, teleport_done_cb end_cb, void *ud, struct enr_error *err);
/* Stops a watch; no callback runs afterwards.  Unknown ids are ignored. */
void teleport_client_watch_cancel(struct teleport_client *tc, int watch_id);

/* CreateTokenV2 with the given roles ("App", ...), expiring ttl_sec from
 * now, with labels (Metadata.Labels; NULL: none).  ttl_sec <= 0 is refused
 * (-EINVAL): a token without an expiry would never expire.  The token value
 * is a secret: it is never logged. */
int teleport_client_create_token(struct teleport_client *tc, const char *token, const char *const *roles,
                                 size_t n_roles, int64_t ttl_sec, const struct kv_list *labels, teleport_done_cb cb,
                                 void *ud, struct enr_error *err);

/* GetTokens: every join token the identity may list and read (RBAC: token
 * list + read), each item with name = the token (a secret: never log it)
 * and labels = its Metadata.Labels; nothing else is filled. */
int teleport_client_get_tokens(struct teleport_client *tc, teleport_list_cb cb, void *ud, struct enr_error *err);

/* DeleteToken: the token is a secret, never logged nor in messages; a
 * token already gone fails with grpc_status GRPC_STATUS_NOT_FOUND. */
int teleport_client_delete_token(struct teleport_client *tc, const char *token, teleport_done_cb cb, void *ud,
                                 struct enr_error *err);

#endif
