/*
 * live_teleport_client.c - drives teleport_client against a live Auth
 * server (the stand-in in spec/e2e/test_teleport_client.py).  Not a unit
 * test: it needs a server.
 *
 *   live_teleport_client [--timeout-ms N] [--server-name NAME] [--mode auto|direct|proxy]
 *                        [--cluster NAME] [--tbot] [--watch] [--keepalive-ms N]
 *                        [--keepalive-timeout-ms N] ADDR IDENTITY STEP...
 *
 * --tbot: IDENTITY is a tbot output directory; --watch: reload the
 * credentials when they change (debounce 200 ms).
 *
 * Steps run one after the other on one client (one connection):
 *   ping | get_apps | list_apps | list_app_pages | list_dbs | list_app_servers | create NAME URI | update NAME URI |
 *   delete NAME | create_token TOKEN ROLE TTL_SEC (> 0) | sleep MS | free_in_flight (start a ping, free the client at once, make a new one) |
 *   info (mode, connections opened, credentials generation, ttl) |
 *   pings N (N pings at once; one result line when all are done) |
 *   pings_bg N (N pings started; the next step runs at once) | await_bg (one
 *   result line when the background pings are done) |
 *   await_generation N MS (waits until the credentials generation reaches N,
 *   at most MS) |
 *   get_dbs | create_db NAME PROTOCOL URI | update_db NAME PROTOCOL URI | delete_db NAME |
 *   upsert_server NAME URI HOST_ID | delete_server HOST_ID NAME |
 *   watch (WatchEvents app,db,app_server; prints {"step":"event",...} lines as
 *   events arrive and {"step":"watch_end",...} when it ends; the next step runs
 *   after INIT) | unwatch
 * Each step prints one JSON line: {"step":..., "ok":true, ...} or
 * {"step":..., "ok":false, "grpc_status":"NOT_FOUND", "msg":"..."}.
 * Exit status: 0 when every step ran (failed RPCs are results, not errors),
 * 2 for usage or setup errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "base/error.h"
#include "base/log.h"
#include "model/resource.h"
#include "teleport/teleport_client.h"

struct live {
    uv_loop_t *loop;
    struct teleport_client *tc;
    struct teleport_client_config cfg;
    char **steps;
    int n_steps, next;
    uv_timer_t timer;
    const char *step;
    struct resource app;
    int pending, n_failed;
    int bg_pending, bg_failed;
    bool awaiting_bg;
    struct enr_error bg_err;
    uint64_t await_deadline;
    int await_generation;
    int watch_id;
    bool watch_started;
    struct enr_error first_err;
    json_t *page_names, *page_sizes; /* list_app_pages: gathered until the last page */
};

static void run_next(struct live *lv);

static void emit(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(o);
}

static json_t *result(const char *step, const struct enr_error *err)
{
    json_t *o = json_pack("{s:s, s:b}", "step", step, "ok", err == NULL);
    if (err != NULL) {
        json_object_set_new(o, "grpc_status", json_string(err->code == ENR_EGRPC ? err_grpc_name(err->grpc_status) : ""));
        json_object_set_new(o, "code", json_integer(err->code));
        json_object_set_new(o, "msg", json_string(err->msg));
    }
    return o;
}

static void on_done(void *ud, const struct enr_error *err)
{
    struct live *lv = ud;
    emit(result(lv->step, err));
    run_next(lv);
}

static void on_ping(void *ud, const struct enr_error *err, const char *cluster, const char *version)
{
    struct live *lv = ud;
    json_t *o = result(lv->step, err);
    if (err == NULL) {
        json_object_set_new(o, "cluster", json_string(cluster));
        json_object_set_new(o, "version", json_string(version));
    }
    emit(o);
    run_next(lv);
}

static void on_list(void *ud, const struct enr_error *err, struct resource_list *items)
{
    struct live *lv = ud;
    json_t *o = result(lv->step, err);
    if (err == NULL) {
        json_t *arr = json_array();
        for (size_t i = 0; i < items->len; i++) {
            const struct resource *r = &items->items[i];
            json_t *labels = json_object();
            for (size_t j = 0; j < r->labels.len; j++)
                json_object_set_new(labels, r->labels.items[j].key, json_string(r->labels.items[j].value));
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:b, s:I}", "name", r->name,
                                                 "uri", r->uri, "description", r->description, "public_addr",
                                                 r->public_addr, "labels", labels, "revision", r->revision,
                                                 "host_id", r->container_id, "insecure_skip_verify",
                                                 (int)r->insecure_skip_verify, "expires", (json_int_t)r->expires));
        }
        json_object_set_new(o, "items", arr);
    }
    emit(o);
    run_next(lv);
}

/* list_app_pages: names and page sizes; one result line at the last page. */
static void on_page(void *ud, const struct enr_error *err, struct resource_list *items, bool last)
{
    struct live *lv = ud;
    if (lv->page_names == NULL) {
        lv->page_names = json_array();
        lv->page_sizes = json_array();
    }
    if (items != NULL) {
        json_array_append_new(lv->page_sizes, json_integer((json_int_t)items->len));
        for (size_t i = 0; i < items->len; i++)
            json_array_append_new(lv->page_names, json_string(items->items[i].name));
    }
    if (!last)
        return;
    json_t *o = result(lv->step, err);
    json_object_set_new(o, "names", lv->page_names);
    json_object_set_new(o, "pages", lv->page_sizes);
    lv->page_names = lv->page_sizes = NULL;
    emit(o);
    run_next(lv);
}

static void on_many(void *ud, const struct enr_error *err, const char *c, const char *v)
{
    struct live *lv = ud;
    (void)c, (void)v;
    if (err != NULL && lv->n_failed++ == 0)
        lv->first_err = *err;
    if (--lv->pending == 0) {
        json_t *o = result(lv->step, lv->n_failed ? &lv->first_err : NULL);
        json_object_set_new(o, "failed", json_integer(lv->n_failed));
        emit(o);
        run_next(lv);
    }
}

static void finish_bg(struct live *lv)
{
    json_t *o = result("await_bg", lv->bg_failed ? &lv->bg_err : NULL);
    json_object_set_new(o, "failed", json_integer(lv->bg_failed));
    lv->awaiting_bg = false;
    emit(o);
    run_next(lv);
}

static void on_bg(void *ud, const struct enr_error *err, const char *c, const char *v)
{
    struct live *lv = ud;
    (void)c, (void)v;
    if (err != NULL && lv->bg_failed++ == 0)
        lv->bg_err = *err;
    if (--lv->bg_pending == 0 && lv->awaiting_bg)
        finish_bg(lv);
}

/* Polls the credentials generation every 20 ms until it reaches the wanted
 * one or the deadline passes: a condition, not a guess at how long a reload
 * takes. */
static void on_await_generation(uv_timer_t *t)
{
    struct live *lv = t->data;
    int gen = (int)teleport_client_credentials_generation(lv->tc);
    bool reached = gen >= lv->await_generation;
    if (!reached && uv_now(lv->loop) < lv->await_deadline)
        return;
    uv_timer_stop(t);
    json_t *o = json_pack("{s:s, s:b, s:i}", "step", "await_generation", "ok", reached, "generation", gen);
    emit(o);
    run_next(lv);
}

static void on_event(void *ud, const struct teleport_event *ev)
{
    struct live *lv = ud;
    static const char *const ops[] = {"INIT", "PUT", "DELETE"};
    json_t *o = json_pack("{s:s, s:b, s:s, s:s, s:s, s:s, s:s, s:s}", "step", "event", "ok", 1, "op", ops[ev->op],
                          "kind", ev->kind, "name", ev->res.name, "uri", ev->res.uri, "protocol", ev->res.protocol,
                          "host_id", ev->res.container_id);
    emit(o);
    if (ev->op == TELEPORT_EVENT_INIT && !lv->watch_started) {
        lv->watch_started = true;
        emit(result("watch", NULL));
        run_next(lv);
    }
}

static void on_watch_end(void *ud, const struct enr_error *err)
{
    struct live *lv = ud;
    lv->watch_id = 0;
    emit(result("watch_end", err));
    if (!lv->watch_started) { /* failed before INIT: the step's result */
        lv->watch_started = true;
        run_next(lv);
    }
}

static int make_db(struct live *lv, const char *name, const char *protocol, const char *uri)
{
    resource_cleanup(&lv->app);
    if (resource_init(&lv->app) < 0 || resource_set_str(&lv->app.name, name) < 0 ||
        resource_set_str(&lv->app.uri, uri) < 0 || resource_set_str(&lv->app.protocol, protocol) < 0 ||
        kv_set(&lv->app.labels, "enroller.dev/owner", "live-test") < 0)
        return -ENOMEM;
    lv->app.kind = RESOURCE_DB;
    return 0;
}

static void on_sleep(uv_timer_t *t)
{
    run_next(t->data);
}

static void on_free_ping(void *ud, const struct enr_error *err, const char *c, const char *v)
{
    (void)ud, (void)err, (void)c, (void)v;
    fprintf(stderr, "BUG: callback ran for a call freed with its client\n");
    exit(3);
}

static int make_app(struct live *lv, const char *name, const char *uri, const char *description)
{
    resource_cleanup(&lv->app);
    if (resource_init(&lv->app) < 0 || resource_set_str(&lv->app.name, name) < 0 ||
        resource_set_str(&lv->app.uri, uri) < 0 || resource_set_str(&lv->app.description, description) < 0 ||
        kv_set(&lv->app.labels, "enroller.dev/owner", "live-test") < 0 ||
        kv_set(&lv->app.labels, "enroller.dev/container", name) < 0)
        return -ENOMEM;
    return 0;
}

static const char *arg(struct live *lv)
{
    if (lv->next >= lv->n_steps) {
        fprintf(stderr, "step %s: missing argument\n", lv->step);
        exit(2);
    }
    return lv->steps[lv->next++];
}

static void run_next(struct live *lv)
{
    struct enr_error err = {0};
    int rc = 0;

    if (lv->next >= lv->n_steps) {
        /* An open connection keeps the loop alive: close it to finish. */
        teleport_client_free(lv->tc);
        lv->tc = NULL;
        return;
    }
    lv->step = lv->steps[lv->next++];
    if (strcmp(lv->step, "ping") == 0) {
        rc = teleport_client_ping(lv->tc, on_ping, lv, &err);
    } else if (strcmp(lv->step, "get_apps") == 0) {
        rc = teleport_client_get_apps(lv->tc, on_list, lv, &err);
    } else if (strcmp(lv->step, "list_app_servers") == 0) {
        rc = teleport_client_list_app_servers(lv->tc, NULL, on_list, lv, &err);
    } else if (strcmp(lv->step, "list_apps") == 0) {
        rc = teleport_client_list_apps(lv->tc, on_list, lv, &err);
    } else if (strcmp(lv->step, "list_app_pages") == 0) {
        rc = teleport_client_list_pages(lv->tc, false, on_page, lv, &err);
    } else if (strcmp(lv->step, "list_dbs") == 0) {
        rc = teleport_client_list_databases(lv->tc, on_list, lv, &err);
    } else if (strcmp(lv->step, "create") == 0 || strcmp(lv->step, "update") == 0) {
        const char *name = arg(lv), *uri = arg(lv);
        bool create = strcmp(lv->step, "create") == 0;
        if (make_app(lv, name, uri, create ? "created by live_teleport_client" : "updated by live_teleport_client") < 0)
            exit(2);
        rc = create ? teleport_client_create_app(lv->tc, &lv->app, on_done, lv, &err)
                    : teleport_client_update_app(lv->tc, &lv->app, on_done, lv, &err);
    } else if (strcmp(lv->step, "create_token") == 0) {
        const char *token = arg(lv), *role = arg(lv);
        const char *roles[1] = {role};
        int64_t ttl = strtoll(arg(lv), NULL, 10);
        rc = teleport_client_create_token(lv->tc, token, roles, 1, ttl, NULL, on_done, lv, &err);
    } else if (strcmp(lv->step, "delete") == 0) {
        rc = teleport_client_delete_app(lv->tc, arg(lv), on_done, lv, &err);
    } else if (strcmp(lv->step, "get_dbs") == 0) {
        rc = teleport_client_get_databases(lv->tc, on_list, lv, &err);
    } else if (strcmp(lv->step, "create_db") == 0 || strcmp(lv->step, "update_db") == 0) {
        const char *name = arg(lv), *proto = arg(lv), *uri = arg(lv);
        if (make_db(lv, name, proto, uri) < 0)
            exit(2);
        rc = lv->step[0] == 'c' ? teleport_client_create_database(lv->tc, &lv->app, on_done, lv, &err)
                                : teleport_client_update_database(lv->tc, &lv->app, on_done, lv, &err);
    } else if (strcmp(lv->step, "delete_db") == 0) {
        rc = teleport_client_delete_database(lv->tc, arg(lv), on_done, lv, &err);
    } else if (strcmp(lv->step, "upsert_server") == 0) {
        const char *name = arg(lv), *uri = arg(lv), *host = arg(lv);
        if (make_app(lv, name, uri, "") < 0)
            exit(2);
        rc = teleport_client_upsert_app_server(lv->tc, &lv->app, host, 0, on_done, lv, &err);
    } else if (strcmp(lv->step, "delete_server") == 0) {
        const char *host = arg(lv), *name = arg(lv);
        rc = teleport_client_delete_app_server(lv->tc, host, name, on_done, lv, &err);
    } else if (strcmp(lv->step, "watch") == 0) {
        static const char *const kinds[] = {"app", "db", "app_server"};
        lv->watch_started = false;
        rc = teleport_client_watch(lv->tc, kinds, 3, on_event, on_watch_end, lv, &err);
        if (rc > 0) {
            lv->watch_id = rc;
            return;
        }
    } else if (strcmp(lv->step, "unwatch") == 0) {
        teleport_client_watch_cancel(lv->tc, lv->watch_id);
        lv->watch_id = 0;
        emit(result(lv->step, NULL));
        run_next(lv);
        return;
    } else if (strcmp(lv->step, "info") == 0) {
        static const char *const modes[] = {"auto", "direct", "proxy"};
        json_t *o = result(lv->step, NULL);
        json_object_set_new(o, "mode", json_string(modes[teleport_client_mode(lv->tc)]));
        json_object_set_new(o, "connects", json_integer(teleport_client_n_connects(lv->tc)));
        json_object_set_new(o, "generation", json_integer(teleport_client_credentials_generation(lv->tc)));
        json_object_set_new(o, "ttl", json_integer(teleport_client_identity_ttl(lv->tc)));
        emit(o);
        run_next(lv);
        return;
    } else if (strcmp(lv->step, "pings") == 0) {
        int n = atoi(arg(lv));
        lv->pending = n + 1; /* +1: released below, so a callback cannot finish the step early */
        lv->n_failed = 0;
        for (int k = 0; k < n; k++) {
            if (teleport_client_ping(lv->tc, on_many, lv, &err) < 0) {
                lv->pending--;
                if (lv->n_failed++ == 0)
                    lv->first_err = err;
            }
        }
        on_many(lv, NULL, NULL, NULL);
        return;
    } else if (strcmp(lv->step, "pings_bg") == 0) {
        int n = atoi(arg(lv));
        for (int k = 0; k < n; k++) {
            if (teleport_client_ping(lv->tc, on_bg, lv, &err) == 0)
                lv->bg_pending++;
            else if (lv->bg_failed++ == 0)
                lv->bg_err = err;
        }
        json_t *o = result(lv->step, NULL);
        json_object_set_new(o, "started", json_integer(lv->bg_pending));
        emit(o);
        run_next(lv);
        return;
    } else if (strcmp(lv->step, "await_bg") == 0) {
        if (lv->bg_pending == 0)
            finish_bg(lv);
        else
            lv->awaiting_bg = true;
        return;
    } else if (strcmp(lv->step, "await_generation") == 0) {
        lv->await_generation = atoi(arg(lv));
        lv->await_deadline = uv_now(lv->loop) + strtoull(arg(lv), NULL, 10);
        uv_timer_start(&lv->timer, on_await_generation, 0, 20);
        return;
    } else if (strcmp(lv->step, "sleep") == 0) {
        uv_timer_start(&lv->timer, on_sleep, strtoull(arg(lv), NULL, 10), 0);
        return;
    } else if (strcmp(lv->step, "free_in_flight") == 0) {
        rc = teleport_client_ping(lv->tc, on_free_ping, lv, &err);
        if (rc == 0) {
            teleport_client_free(lv->tc);
            if ((lv->tc = teleport_client_new(lv->loop, &lv->cfg, &err)) == NULL) {
                fprintf(stderr, "%s\n", err.msg);
                exit(2);
            }
            emit(result(lv->step, NULL));
            run_next(lv);
            return;
        }
    } else {
        fprintf(stderr, "unknown step \"%s\"\n", lv->step);
        exit(2);
    }
    if (rc < 0) { /* refused synchronously: the callback will not run */
        json_t *o = result(lv->step, &err);
        json_object_set_new(o, "sync", json_true());
        emit(o);
        run_next(lv);
    }
}

int main(int argc, char **argv)
{
    struct live lv;
    struct enr_error err = {0};
    int i = 1;

    memset(&lv, 0, sizeof(lv));
    if (getenv("ENR_LIVE_DEBUG") != NULL)
        log_set_level(LOG_LEVEL_DEBUG);
    bool tbot = false;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--tbot") == 0) {
            tbot = true;
            i--;
            continue;
        }
        if (strcmp(argv[i], "--watch") == 0) {
            lv.cfg.watch_credentials = 1;
            lv.cfg.reload_debounce_ms = 200;
            i--;
            continue;
        }
        if (i + 1 >= argc)
            goto usage;
        if (strcmp(argv[i], "--mode") == 0)
            lv.cfg.mode = strcmp(argv[i + 1], "proxy") == 0    ? TELEPORT_MODE_PROXY
                          : strcmp(argv[i + 1], "direct") == 0 ? TELEPORT_MODE_DIRECT
                                                               : TELEPORT_MODE_AUTO;
        else if (strcmp(argv[i], "--cluster") == 0)
            lv.cfg.cluster = argv[i + 1];
        else if (strcmp(argv[i], "--keepalive-ms") == 0)
            lv.cfg.keepalive_ms = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--keepalive-timeout-ms") == 0)
            lv.cfg.keepalive_timeout_ms = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--timeout-ms") == 0)
            lv.cfg.call_timeout_ms = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--server-name") == 0)
            lv.cfg.server_name = argv[i + 1];
        else
            goto usage;
    }
    if (argc - i < 2)
        goto usage;
    lv.cfg.addr = argv[i];
    if (tbot)
        lv.cfg.tbot_dir = argv[i + 1];
    else
        lv.cfg.identity_file = argv[i + 1];
    lv.steps = argv + i + 2;
    lv.n_steps = argc - i - 2;
    lv.loop = uv_default_loop();
    uv_timer_init(lv.loop, &lv.timer);
    lv.timer.data = &lv;
    resource_init(&lv.app);
    if ((lv.tc = teleport_client_new(lv.loop, &lv.cfg, &err)) == NULL) {
        emit(result("new", &err));
        uv_close((uv_handle_t *)&lv.timer, NULL);
        uv_run(lv.loop, UV_RUN_DEFAULT);
        uv_loop_close(lv.loop);
        resource_cleanup(&lv.app);
        return 2;
    }
    {
        json_t *o = result("new", NULL);
        json_object_set_new(o, "user", json_string(teleport_client_identity_user(lv.tc)));
        json_object_set_new(o, "ttl", json_integer(teleport_client_identity_ttl(lv.tc)));
        emit(o);
    }
    run_next(&lv);
    uv_run(lv.loop, UV_RUN_DEFAULT);
    teleport_client_free(lv.tc);
    uv_close((uv_handle_t *)&lv.timer, NULL);
    uv_run(lv.loop, UV_RUN_DEFAULT);
    uv_loop_close(lv.loop);
    resource_cleanup(&lv.app);
    return 0;
usage:
    fprintf(stderr, "usage: live_teleport_client [--timeout-ms N] [--server-name NAME] ADDR IDENTITY STEP...\n");
    return 2;
}
