/* clients.c - see clients.h: the production side of the seams. */
#include "reconcile/clients.h"

static int d_list(void *impl, docker_list_cb cb, void *ud, struct enr_error *err)
{
    return docker_client_list(impl, cb, ud, err);
}

static int d_inspect(void *impl, const char *id, docker_inspect_cb cb, void *ud, struct enr_error *err)
{
    return docker_client_inspect(impl, id, cb, ud, err);
}

static int d_events(void *impl, int64_t since_nano, docker_event_cb ev_cb, docker_stream_end_cb end_cb, void *ud,
                    struct enr_error *err)
{
    return docker_client_events(impl, since_nano, ev_cb, end_cb, ud, err);
}

static void d_events_stop(void *impl)
{
    docker_client_events_stop(impl);
}

void clients_docker(struct docker_ops *ops, struct docker_client *dc)
{
    ops->list = d_list;
    ops->inspect = d_inspect;
    ops->events = d_events;
    ops->events_stop = d_events_stop;
    ops->impl = dc;
}

static int t_list_app_servers(void *impl, const struct kv_list *labels, teleport_list_cb cb, void *ud,
                              struct enr_error *err)
{
    return teleport_client_list_app_servers(impl, labels, cb, ud, err);
}

static int t_watch(void *impl, const char *const *kinds, size_t n_kinds, teleport_event_cb event_cb,
                   teleport_done_cb end_cb, void *ud, struct enr_error *err)
{
    return teleport_client_watch(impl, kinds, n_kinds, event_cb, end_cb, ud, err);
}

static void t_watch_cancel(void *impl, int watch_id)
{
    teleport_client_watch_cancel(impl, watch_id);
}

static int t_create_app(void *impl, const struct resource *app, teleport_done_cb cb, void *ud, struct enr_error *err)
{
    return teleport_client_create_app(impl, app, cb, ud, err);
}

static int t_update_app(void *impl, const struct resource *app, teleport_done_cb cb, void *ud, struct enr_error *err)
{
    return teleport_client_update_app(impl, app, cb, ud, err);
}

static int t_delete_app(void *impl, const char *name, teleport_done_cb cb, void *ud, struct enr_error *err)
{
    return teleport_client_delete_app(impl, name, cb, ud, err);
}

static int t_list_db_servers(void *impl, const struct kv_list *labels, teleport_list_cb cb, void *ud,
                             struct enr_error *err)
{
    return teleport_client_list_db_servers(impl, labels, cb, ud, err);
}

static int t_list_pages(void *impl, bool db, teleport_page_cb cb, void *ud, struct enr_error *err)
{
    return teleport_client_list_pages(impl, db, cb, ud, err);
}

static int t_create_database(void *impl, const struct resource *db, teleport_done_cb cb, void *ud,
                             struct enr_error *err)
{
    return teleport_client_create_database(impl, db, cb, ud, err);
}

static int t_update_database(void *impl, const struct resource *db, teleport_done_cb cb, void *ud,
                             struct enr_error *err)
{
    return teleport_client_update_database(impl, db, cb, ud, err);
}

static int t_delete_database(void *impl, const char *name, teleport_done_cb cb, void *ud, struct enr_error *err)
{
    return teleport_client_delete_database(impl, name, cb, ud, err);
}

void clients_teleport(struct teleport_ops *ops, struct teleport_client *tc)
{
    ops->list_db_servers = t_list_db_servers;
    ops->list_pages = t_list_pages;
    ops->create_database = t_create_database;
    ops->update_database = t_update_database;
    ops->delete_database = t_delete_database;
    ops->list_app_servers = t_list_app_servers;
    ops->watch = t_watch;
    ops->watch_cancel = t_watch_cancel;
    ops->create_app = t_create_app;
    ops->update_app = t_update_app;
    ops->delete_app = t_delete_app;
    ops->impl = tc;
}
