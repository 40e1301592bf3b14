/*
 * clients.h - the seams between the reconciler's parts and the Docker and
 * Teleport clients: a struct of function pointers and the object they act
 * on.  In production they call docker_client / teleport_client (filled by
 * clients_docker / clients_teleport); the unit tests put fakes behind them
 * (spec/c/test_docker_sync.c, test_teleport_view.c, test_executor.c).
 *
 * Every function keeps the contract of the client call it stands for: 0
 * once queued and the callback runs later exactly once, or a negative code
 * with err and no callback.
 */
#ifndef ENR_CLIENTS_H
#define ENR_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "docker/docker_client.h"
#include "model/resource.h"
#include "teleport/teleport_client.h"

/* What docker_sync asks of a Docker engine. */
struct docker_ops {
    int (*list)(void *impl, docker_list_cb cb, void *ud, struct enr_error *err);
    int (*inspect)(void *impl, const char *id, docker_inspect_cb cb, void *ud, struct enr_error *err);
    int (*events)(void *impl, int64_t since_nano, docker_event_cb ev_cb, docker_stream_end_cb end_cb, void *ud,
                  struct enr_error *err);
    void (*events_stop)(void *impl);
    void *impl;
};

/* What teleport_view and the executor ask of Teleport's Auth Service. */
struct teleport_ops {
    /* Every app (db false) or database (db true), handed over page by page
     * (teleport_client_list_pages: ListApps / ListDatabases, or GetApps /
     * GetDatabases on a server without them). */
    int (*list_pages)(void *impl, bool db, teleport_page_cb cb, void *ud, struct enr_error *err);
    /* The servers of apps (databases) carrying labels (NULL: all). */
    int (*list_app_servers)(void *impl, const struct kv_list *labels, teleport_list_cb cb, void *ud,
                            struct enr_error *err);
    /* Returns a watch id > 0. */
    int (*watch)(void *impl, const char *const *kinds, size_t n_kinds, teleport_event_cb event_cb,
                 teleport_done_cb end_cb, void *ud, struct enr_error *err);
    void (*watch_cancel)(void *impl, int watch_id);
    int (*create_app)(void *impl, const struct resource *app, teleport_done_cb cb, void *ud, struct enr_error *err);
    int (*update_app)(void *impl, const struct resource *app, teleport_done_cb cb, void *ud, struct enr_error *err);
    int (*delete_app)(void *impl, const char *name, teleport_done_cb cb, void *ud, struct enr_error *err);
    /* Databases. */
    int (*list_db_servers)(void *impl, const struct kv_list *labels, teleport_list_cb cb, void *ud,
                           struct enr_error *err);
    int (*create_database)(void *impl, const struct resource *db, teleport_done_cb cb, void *ud,
                           struct enr_error *err);
    int (*update_database)(void *impl, const struct resource *db, teleport_done_cb cb, void *ud,
                           struct enr_error *err);
    int (*delete_database)(void *impl, const char *name, teleport_done_cb cb, void *ud, struct enr_error *err);
    void *impl;
};

/* Fill ops with calls on dc / tc (borrowed). */
void clients_docker(struct docker_ops *ops, struct docker_client *dc);
void clients_teleport(struct teleport_ops *ops, struct teleport_client *tc);

#endif
