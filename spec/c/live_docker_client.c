/*
 * live_docker_client.c - drives docker_client against a real engine and
 * prints what it sees as JSON lines on stdout (for spec/e2e/test_docker_client.py).
 *
 *   live_docker_client [--host unix:///x.sock] [--cert-path DIR] [--timeout-ms N] [--seconds S]
 *
 * Pings, lists the running containers, inspects each, then follows /events
 * for S seconds (0: do not follow), inspecting the container of every
 * start and network connect event.  Lines:
 *
 *   {"op":"ping","api_version":"1.41"}
 *   {"op":"list","ids":["..."]}
 *   {"op":"inspect","id":"...","name":"...","image":"...","state":"running",
 *    "networks":{"enroller-test":"10.213.1.2"},"labels":{...},"ports":["80/tcp"]}
 *   {"op":"event","type":"container","action":"start","id":"...","time_nano":N}
 *   {"op":"error","stage":"ping","code":-111,"message":"..."}
 *   {"op":"end","message":"..."}           the event stream ended by itself
 *   {"op":"done"}
 *
 * Exits 1 when ping or list failed, else 0.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "docker/docker_client.h"

struct driver {
    uv_loop_t *loop;
    uv_timer_t stop_timer;
    struct docker_client *dc;
    unsigned seconds;
    int failed;
    int done;
};

static void emit(json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s) {
        printf("%s\n", s);
        fflush(stdout);
    }
    free(s);
    json_decref(obj);
}

static void emit_error(const char *stage, const struct enr_error *err)
{
    emit(json_pack("{s:s, s:s, s:i, s:s}", "op", "error", "stage", stage, "code", err->code,
                   "message", err->msg));
}

static void finish_all(struct driver *d)
{
    if (d->done)
        return;
    d->done = 1;
    docker_client_free(d->dc);
    d->dc = NULL;
    uv_close((uv_handle_t *)&d->stop_timer, NULL);
    emit(json_pack("{s:s}", "op", "done"));
}

static void on_inspect(void *ud, const struct enr_error *err, struct container *c)
{
    (void)ud;
    if (err) {
        emit_error("inspect", err);
        return;
    }
    json_t *nets = json_object(), *labels = json_object(), *ports = json_array();
    char hash[17];
    snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)c->hash);
    for (size_t i = 0; i < c->n_networks; i++)
        json_object_set_new(nets, c->networks[i].name, json_string(c->networks[i].ip));
    for (size_t i = 0; i < c->labels.len; i++)
        json_object_set_new(labels, c->labels.items[i].key, json_string(c->labels.items[i].value));
    for (size_t i = 0; i < c->n_ports; i++) {
        char p[32];
        snprintf(p, sizeof(p), "%u/%s", c->ports[i].port, c->ports[i].proto);
        json_array_append_new(ports, json_string(p));
    }
    emit(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:I, s:I, s:s}", "op", "inspect",
                   "id", c->id, "name", c->name, "image", c->image, "state", c->state, "health",
                   c->health, "networks", nets, "labels", labels, "ports", ports, "created",
                   (json_int_t)c->created, "started", (json_int_t)c->started, "hash", hash));
    container_free(c);
}

static void inspect(struct driver *d, const char *id)
{
    struct enr_error err = {0};
    if (docker_client_inspect(d->dc, id, on_inspect, d, &err) < 0)
        emit_error("inspect", &err);
}

static void on_event(void *ud, const struct docker_event *ev)
{
    struct driver *d = ud;
    emit(json_pack("{s:s, s:s, s:s, s:s, s:I}", "op", "event", "type", ev->type, "action",
                   ev->action, "id", ev->container_id, "time_nano", (json_int_t)ev->time_nano));
    if (strcmp(ev->action, "start") == 0 || strcmp(ev->action, "connect") == 0)
        inspect(d, ev->container_id);
}

static void on_events_end(void *ud, const struct enr_error *err)
{
    struct driver *d = ud;
    emit(json_pack("{s:s, s:i, s:s}", "op", "end", "code", err->code, "message", err->msg));
    finish_all(d);
}

static void on_stop_timer(uv_timer_t *t)
{
    finish_all(t->data);
}

static void on_list(void *ud, const struct enr_error *err, char **ids, const uint64_t *hashes, size_t n)
{
    (void)hashes;
    struct driver *d = ud;
    if (err) {
        emit_error("list", err);
        d->failed = 1;
        finish_all(d);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(ids[i]));
    emit(json_pack("{s:s, s:o}", "op", "list", "ids", arr));
    for (size_t i = 0; i < n; i++)
        inspect(d, ids[i]);
    if (d->seconds == 0)
        uv_timer_start(&d->stop_timer, on_stop_timer, 2000, 0); /* let the inspects finish */
}

static void on_ping(void *ud, const struct enr_error *err, const char *version)
{
    struct driver *d = ud;
    struct enr_error e = {0};

    if (err) {
        emit_error("ping", err);
        d->failed = 1;
        finish_all(d);
        return;
    }
    emit(json_pack("{s:s, s:s}", "op", "ping", "api_version", version));
    if (d->seconds > 0) {
        if (docker_client_events(d->dc, 0, on_event, on_events_end, d, &e) < 0) {
            emit_error("events", &e);
            d->failed = 1;
            finish_all(d);
            return;
        }
        uv_timer_start(&d->stop_timer, on_stop_timer, (uint64_t)d->seconds * 1000, 0);
    }
    if (docker_client_list(d->dc, on_list, d, &e) < 0) {
        emit_error("list", &e);
        d->failed = 1;
        finish_all(d);
    }
}

int main(int argc, char **argv)
{
    struct docker_client_config cfg = {0};
    struct driver d = {0};
    struct enr_error err = {0};
    uv_loop_t loop;

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
            cfg.host = argv[++i];
        } else if (strcmp(argv[i], "--cert-path") == 0 && i + 1 < argc) {
            cfg.cert_path = argv[++i];
        } else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            cfg.timeout_ms = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            d.seconds = (unsigned)strtoul(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: %s [--host H] [--cert-path DIR] [--timeout-ms N] [--seconds S]\n", argv[0]);
            return 2;
        }
    }
    uv_loop_init(&loop);
    d.loop = &loop;
    uv_timer_init(&loop, &d.stop_timer);
    d.stop_timer.data = &d;
    d.dc = docker_client_new(&loop, &cfg, &err);
    if (d.dc == NULL) {
        emit_error("new", &err);
        uv_close((uv_handle_t *)&d.stop_timer, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return 1;
    }
    if (docker_client_ping(d.dc, on_ping, &d, &err) < 0) {
        emit_error("ping", &err);
        d.failed = 1;
        finish_all(&d);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) {
        fprintf(stderr, "live_docker_client: loop still has handles\n");
        return 3;
    }
    return d.failed ? 1 : 0;
}
