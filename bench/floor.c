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
 *
 *   floor --first-pass --docker unix:///x.sock --auth 127.0.0.1:3025 --identity FILE [--prefix floor-]
 *
 * The first-pass floor for bench/scale.py: the least any client must do for
 * a first pass over N running containers.  One `GET /containers/json`
 * (docker_client_list, the same streaming parse and per-entry hash enroller
 * uses), one `GET /containers/{id}/json` per listed container
 * (docker_client_inspect, the same parse into struct container: the rules
 * read hostname, start time and health, which the listing does not carry),
 * and one CreateApp per container, the app as above.  As many requests in
 * flight as enroller's first pass: FIRST_PASS_INSPECTS inspects
 * (INSPECT_PARALLEL) and FIRST_PASS_CREATES CreateApps (the executor's
 * default max_inflight, EXECUTOR_DEFAULT_INFLIGHT), both from
 * src/reconcile/limits.h,
 * a CreateApp sent as soon as its inspect is answered.  Left out: rules,
 * the planner, the Teleport view (no listing or watch of apps), the write
 * rate limit, retries.  Exits once every CreateApp is answered, after one
 * line "first-pass listed N inspected I created C errors E"; exit 0 only
 * when C == N.
 *
 *   floor --first-pass --write-rate R --write-burst B ...
 *
 * The paced first-pass floor: the same, with the CreateApps paced by the
 * mechanism enroller's executor paces its writes with (base/pace.h): a
 * bucket of B tokens, full at the start, earning R a second; a send waits
 * for a batch's tokens (a second's worth, or as many as are waiting or as
 * FIRST_PASS_CREATES, if fewer), then spends them one by one.  Waiting is
 * not free: each batch and each reply that comes on its own wakes the
 * process.
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
#include "base/pace.h"
#include "model/resource.h"
#include "reconcile/limits.h"
#include "teleport/teleport_client.h"

/* Requests in flight in --first-pass mode, as enroller's first pass (see the top). */
#define FIRST_PASS_INSPECTS INSPECT_PARALLEL
#define FIRST_PASS_CREATES EXECUTOR_DEFAULT_INFLIGHT

struct floor_app {
    uv_loop_t loop;
    uv_signal_t sig_term, sig_int;
    uv_timer_t stop_timer;      /* --first-pass: the stop, run from the loop, not a client's callback */
    uv_timer_t pace_timer;      /* --write-rate: the wait for a batch's tokens */
    struct docker_client *dc;
    struct teleport_client *tc;
    const char *prefix;
    int failed;

    /* --first-pass: the listed ids, and the inspected containers waiting
     * for a CreateApp slot (a FIFO of n_ids slots: each id enters once). */
    int first_pass, first_pass_over;
    char **ids;
    size_t n_ids, next_inspect, inspects_inflight, n_inspected;
    struct container **waiting;
    size_t wait_head, wait_tail, creates_inflight, n_created, n_errors;

    /* --write-rate/--write-burst: the bucket, if paced */
    bool paced;
    struct pace pace;
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
        uv_close((uv_handle_t *)&fa->stop_timer, NULL);
        uv_close((uv_handle_t *)&fa->pace_timer, NULL);
    }
}

static void first_pass_pump(struct floor_app *fa);

static void on_created(void *ud, const struct enr_error *err)
{
    struct floor_call *call = ud;
    struct floor_app *fa = call->fa;
    if (err)
        printf("error %s: %s\n", call->name, err->msg);
    else if (!fa->first_pass)
        printf("created %s\n", call->name);
    free(call);
    if (fa->first_pass) {
        fa->creates_inflight--;
        if (err)
            fa->n_errors++;
        else
            fa->n_created++;
        first_pass_pump(fa);
    }
}

/* One CreateApp for c (freed here): 0 once sent, -1 if it could not be. */
static int create_app(struct floor_app *fa, struct container *c)
{
    struct floor_call *call = NULL;
    struct resource app;
    struct enr_error e = {0};
    char uri[128];
    const char *ip = "";

    if (resource_init(&app) < 0) {
        container_free(c);
        return -1;
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
    return 0;
fail:
    free(call);
    resource_cleanup(&app);
    container_free(c);
    return -1;
}

static void on_inspect(void *ud, const struct enr_error *err, struct container *c)
{
    struct floor_app *fa = ud;
    if (err) {
        printf("error inspect: %s\n", err->msg);
        container_free(c);
        return;
    }
    create_app(fa, c);
}

/* --first-pass: the pass is over when every listed id was inspected and
 * every CreateApp answered. */
static void on_stop_timer(uv_timer_t *t)
{
    floor_stop(t->data);
}

static void first_pass_done(struct floor_app *fa)
{
    if (fa->first_pass_over)
        return;
    fa->first_pass_over = 1;
    printf("first-pass listed %zu inspected %zu created %zu errors %zu\n", fa->n_ids, fa->n_inspected,
           fa->n_created, fa->n_errors);
    if (fa->n_created != fa->n_ids)
        fa->failed = 1;
    /* the clients are freed once the callback that got here has returned */
    uv_timer_start(&fa->stop_timer, on_stop_timer, 0, 0);
}

static void on_first_inspect(void *ud, const struct enr_error *err, struct container *c)
{
    struct floor_app *fa = ud;
    fa->inspects_inflight--;
    if (err) {
        printf("error inspect: %s\n", err->msg);
        fa->n_errors++;
        container_free(c);
    } else {
        fa->n_inspected++;
        fa->waiting[fa->wait_tail++] = c;
    }
    first_pass_pump(fa);
}

static void on_pace_timer(uv_timer_t *t)
{
    first_pass_pump(t->data);
}

/* Sends what the windows (and the bucket, if paced) allow: CreateApps for
 * inspected containers first, then inspects; ends the pass when nothing is
 * left. */
static void first_pass_pump(struct floor_app *fa)
{
    struct enr_error e = {0};
    double need = 0.0;
    if (!fa->dc || !fa->tc)
        return;         /* stopped (a signal): what is in flight was cancelled */
    if (fa->paced) {
        pace_refill(&fa->pace, uv_now(&fa->loop));
        need = pace_need(&fa->pace, fa->wait_tail - fa->wait_head);
    }
    while (fa->wait_head < fa->wait_tail && fa->creates_inflight < FIRST_PASS_CREATES) {
        struct container *c = fa->waiting[fa->wait_head];
        if (fa->paced) {
            if (!pace_take(&fa->pace, need)) {
                if (!uv_is_active((uv_handle_t *)&fa->pace_timer))
                    uv_timer_start(&fa->pace_timer, on_pace_timer,
                                   pace_wait_ms(&fa->pace, fa->wait_tail - fa->wait_head), 0);
                break;
            }
            need = 1.0;
        }
        fa->waiting[fa->wait_head++] = NULL;
        if (create_app(fa, c) < 0)
            fa->n_errors++;
        else
            fa->creates_inflight++;
    }
    while (fa->next_inspect < fa->n_ids && fa->inspects_inflight < FIRST_PASS_INSPECTS) {
        const char *id = fa->ids[fa->next_inspect++];
        if (docker_client_inspect(fa->dc, id, on_first_inspect, fa, &e) < 0) {
            printf("error inspect: %s\n", e.msg);
            fa->n_errors++;
        } else {
            fa->inspects_inflight++;
        }
    }
    if (fa->next_inspect == fa->n_ids && fa->inspects_inflight == 0 && fa->wait_head == fa->wait_tail &&
        fa->creates_inflight == 0)
        first_pass_done(fa);
}

static void on_list(void *ud, const struct enr_error *err, char **ids, const uint64_t *hashes, size_t n)
{
    struct floor_app *fa = ud;
    (void)hashes;
    if (err) {
        printf("error list: %s\n", err->msg);
        goto fail;
    }
    /* ids are borrowed for the callback: keep a copy */
    if (n > 0 && ((fa->ids = calloc(n, sizeof(*fa->ids))) == NULL ||
                  (fa->waiting = calloc(n, sizeof(*fa->waiting))) == NULL)) {
        printf("error list: out of memory\n");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if ((fa->ids[i] = strdup(ids[i])) == NULL) {
            printf("error list: out of memory\n");
            goto fail;
        }
        fa->n_ids++;
    }
    first_pass_pump(fa);
    return;
fail:
    fa->failed = 1;
    fa->first_pass_over = 1;
    uv_timer_start(&fa->stop_timer, on_stop_timer, 0, 0);
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
    if (fa->first_pass) {
        if (docker_client_list(fa->dc, on_list, fa, &e) < 0) {
            printf("error list: %s\n", e.msg);
            goto fail;
        }
        return;
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

static void first_pass_cleanup(struct floor_app *fa)
{
    for (size_t i = 0; i < fa->n_ids; i++)
        free(fa->ids[i]);
    free(fa->ids);
    for (size_t i = fa->wait_head; i < fa->wait_tail; i++)
        container_free(fa->waiting[i]);
    free(fa->waiting);
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
    double rate = 0, burst = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    fa.prefix = "floor-";
    for (int i = 1; i < argc; i += 2) {
        if (strcmp(argv[i], "--first-pass") == 0) {
            fa.first_pass = 1;
            i--;
        } else if (i + 1 >= argc) {
            break;
        } else if (strcmp(argv[i], "--docker") == 0)
            dcfg.host = argv[i + 1];
        else if (strcmp(argv[i], "--auth") == 0)
            tcfg.addr = argv[i + 1];
        else if (strcmp(argv[i], "--identity") == 0)
            tcfg.identity_file = argv[i + 1];
        else if (strcmp(argv[i], "--prefix") == 0)
            fa.prefix = argv[i + 1];
        else if (strcmp(argv[i], "--write-rate") == 0)
            rate = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--write-burst") == 0)
            burst = atof(argv[i + 1]);
        else
            break;
    }
    if (!dcfg.host || !tcfg.addr || !tcfg.identity_file || rate < 0 || (rate > 0 && burst < 1)) {
        fprintf(stderr, "usage: floor [--first-pass [--write-rate R --write-burst B]] --docker HOST --auth ADDR "
                        "--identity FILE [--prefix P]\n");
        return 2;
    }
    if (uv_loop_init(&fa.loop) != 0)
        return 1;
    uv_signal_init(&fa.loop, &fa.sig_term);
    uv_signal_init(&fa.loop, &fa.sig_int);
    uv_timer_init(&fa.loop, &fa.stop_timer);
    uv_timer_init(&fa.loop, &fa.pace_timer);
    fa.sig_term.data = fa.sig_int.data = fa.stop_timer.data = fa.pace_timer.data = &fa;
    fa.paced = rate > 0;
    if (fa.paced)
        pace_init(&fa.pace, rate, burst, FIRST_PASS_CREATES, uv_now(&fa.loop));
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
    first_pass_cleanup(&fa);
    return fa.failed;
fail:
    fprintf(stderr, "floor: %s\n", err.msg);
    floor_stop(&fa);
    uv_run(&fa.loop, UV_RUN_DEFAULT);
    uv_loop_close(&fa.loop);
    first_pass_cleanup(&fa);
    return 1;
}
