/*
 * floor.c - the latency floor for bench/latency.py: the least a client must
 * do to register a container as a Teleport app.  It follows Docker's event
 * stream; for every container start it inspects that container and makes
 * one CreateApp call.  No rules, no planner, no listing, no retries.
 *
 *   floor --docker unix:///x.sock --auth 127.0.0.1:3025 --identity FILE [--prefix floor-]
 *
 * The app is PREFIX<container name>, URI http://<first network IP>:15672,
 * label enroller.dev/owner=floor.  Prints "ready" once the Teleport
 * connection answered a Ping and the event stream is open, then one line
 * per CreateApp ("created NAME" or "error NAME: ...").  SIGTERM/SIGINT stop it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "model/container.h"
#include "docker/docker_client.h"
#include "base/error.h"
#include "base/kv.h"
#include "model/resource.h"
#include "teleport/teleport_client.h"

struct floor_app {
    uv_loop_t loop;
    uv_signal_t sig_term, sig_int;
    struct docker_client *dc;
    struct teleport_client *tc;
    const char *prefix;
    int failed;
};

struct floor_call {
    struct floor_app *fa;
    char name[300];
};

static void floor_stop(struct floor_app *fa)
{
    if (fa->dc)
        docker_client_free(fa->dc);
    fa->dc = NULL;
    if (fa->tc)
        teleport_client_free(fa->tc);
    fa->tc = NULL;
    if (!uv_is_closing((uv_handle_t *)&fa->sig_term)) {
        uv_close((uv_handle_t *)&fa->sig_term, NULL);
        uv_close((uv_handle_t *)&fa->sig_int, NULL);
    }
}

static void on_created(void *ud, const struct enr_error *err)
{
    struct floor_call *call = ud;
    if (err)
        printf("error %s: %s\n", call->name, err->msg);
    else
        printf("created %s\n", call->name);
    free(call);
}

static void on_inspect(void *ud, const struct enr_error *err, struct container *c)
{
    struct floor_app *fa = ud;
    struct floor_call *call = NULL;
    struct resource app;
    struct enr_error e = {0};
    char uri[128];
    const char *ip = "";

    if (resource_init(&app) < 0) {
        container_free(c);
        return;
    }
    if (err) {
        printf("error inspect: %s\n", err->msg);
        goto fail;
    }
    if (!fa->tc)
        goto fail;
    call = calloc(1, sizeof(*call));
    if (!call)
        goto fail;
    call->fa = fa;
    snprintf(call->name, sizeof(call->name), "%s%s", fa->prefix, c->name);
    for (size_t i = 0; i < c->n_networks && !ip[0]; i++)
        ip = c->networks[i].ip;
    snprintf(uri, sizeof(uri), "http://%s:15672", ip[0] ? ip : "127.0.0.1");
    if (resource_set_str(&app.name, call->name) < 0 || resource_set_str(&app.uri, uri) < 0 ||
        kv_set(&app.labels, "enroller.dev/owner", "floor") < 0)
        goto fail;
    if (teleport_client_create_app(fa->tc, &app, on_created, call, &e) < 0) {
        printf("error %s: %s\n", call->name, e.msg);
        goto fail;
    }
    resource_cleanup(&app);
    container_free(c);
    return;
fail:
    free(call);
    resource_cleanup(&app);
    container_free(c);
}

static void on_event(void *ud, const struct docker_event *ev)
{
    struct floor_app *fa = ud;
    struct enr_error e = {0};
    if (strcmp(ev->type, "container") != 0 || strcmp(ev->action, "start") != 0)
        return;
    if (docker_client_inspect(fa->dc, ev->container_id, on_inspect, fa, &e) < 0)
        printf("error inspect: %s\n", e.msg);
}

static void on_events_end(void *ud, const struct enr_error *err)
{
    struct floor_app *fa = ud;
    printf("error events: %s\n", err ? err->msg : "ended");
    fa->failed = 1;
    floor_stop(fa);
}

static void on_tping(void *ud, const struct enr_error *err, const char *cluster, const char *version)
{
    struct floor_app *fa = ud;
    struct enr_error e = {0};
    (void)cluster;
    (void)version;
    if (err) {
        printf("error teleport ping: %s\n", err->msg);
        goto fail;
    }
    if (docker_client_events(fa->dc, 0, on_event, on_events_end, fa, &e) < 0) {
        printf("error events: %s\n", e.msg);
        goto fail;
    }
    printf("ready\n");
    return;
fail:
    fa->failed = 1;
    floor_stop(fa);
}

static void on_dping(void *ud, const struct enr_error *err, const char *api_version)
{
    struct floor_app *fa = ud;
    struct enr_error e = {0};
    (void)api_version;
    if (err) {
        printf("error docker ping: %s\n", err->msg);
        goto fail;
    }
    if (teleport_client_ping(fa->tc, on_tping, fa, &e) < 0) {
        printf("error teleport ping: %s\n", e.msg);
        goto fail;
    }
    return;
fail:
    fa->failed = 1;
    floor_stop(fa);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    floor_stop(h->data);
}

int main(int argc, char **argv)
{
    struct floor_app fa = {0};
    struct docker_client_config dcfg = {0};
    struct teleport_client_config tcfg = {0};
    struct enr_error err = {0};

    setvbuf(stdout, NULL, _IOLBF, 0);
    fa.prefix = "floor-";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--docker") == 0)
            dcfg.host = argv[i + 1];
        else if (strcmp(argv[i], "--auth") == 0)
            tcfg.addr = argv[i + 1];
        else if (strcmp(argv[i], "--identity") == 0)
            tcfg.identity_file = argv[i + 1];
        else if (strcmp(argv[i], "--prefix") == 0)
            fa.prefix = argv[i + 1];
        else
            break;
    }
    if (!dcfg.host || !tcfg.addr || !tcfg.identity_file) {
        fprintf(stderr, "usage: floor --docker HOST --auth ADDR --identity FILE [--prefix P]\n");
        return 2;
    }
    if (uv_loop_init(&fa.loop) != 0)
        return 1;
    uv_signal_init(&fa.loop, &fa.sig_term);
    uv_signal_init(&fa.loop, &fa.sig_int);
    fa.sig_term.data = fa.sig_int.data = &fa;
    uv_signal_start(&fa.sig_term, on_signal, SIGTERM);
    uv_signal_start(&fa.sig_int, on_signal, SIGINT);
    fa.dc = docker_client_new(&fa.loop, &dcfg, &err);
    if (!fa.dc)
        goto fail;
    fa.tc = teleport_client_new(&fa.loop, &tcfg, &err);
    if (!fa.tc)
        goto fail;
    if (docker_client_ping(fa.dc, on_dping, &fa, &err) < 0)
        goto fail;
    uv_run(&fa.loop, UV_RUN_DEFAULT);
    uv_loop_close(&fa.loop);
    return fa.failed;
fail:
    fprintf(stderr, "floor: %s\n", err.msg);
    floor_stop(&fa);
    uv_run(&fa.loop, UV_RUN_DEFAULT);
    uv_loop_close(&fa.loop);
    return 1;
}
