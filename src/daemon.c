/*
 * daemon.c - see daemon.h.
 */
#include "daemon.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "base/log.h"
#include "docker/docker_client.h"
#include "lua/lua_runtime.h"
#include "ops/ops_http.h"
#include "ops/ops_snapshot.h"
#include "reconcile/reconciler.h"
#include "rules/rule_loader.h"
#include "rules/rule_watch.h"
#include "teleport/teleport_client.h"

struct daemon {
    const struct enr_config *cfg;     /* what the daemon started with */
    struct enr_config *reloaded;      /* the last config re-read (its live fields are applied); NULL: none */
    const struct daemon_options *opts;
    uv_loop_t loop;
    bool loop_open;
    struct rule_set *rules;   /* NULL while rule_watch owns them */
    struct rule_watch *watch;
    struct docker_client *dc;
    struct teleport_client *tc;
    struct reconciler *rec;
    uv_signal_t sig_term, sig_int, sig_hup;
    bool signals_open;
    uv_prepare_t log_flush;    /* writes the held log lines before the loop waits */
    bool log_flush_open;
    int exit_code;
    /* The operations listener (http.listen): NULL when off. */
    struct ops_hub *hub;
    struct ops_http *http;
    uv_timer_t ops_timer;      /* publishes every OPS_PUBLISH_MS so /healthz sees the loop alive */
    bool ops_timer_open;
    struct ops_counters counters;
    struct ops_recent recent;  /* rule reloads, failed ones too */
};

#define OPS_PUBLISH_MS 5000

static enum planner_policy planner_policy_of(enum config_policy policy)
{
    switch (policy) {
    case CONFIG_POLICY_UPSERT_ONLY:
        return PLANNER_UPSERT_ONLY;
    case CONFIG_POLICY_CREATE_ONLY:
        return PLANNER_CREATE_ONLY;
    case CONFIG_POLICY_SYNC:
        break;
    }
    return PLANNER_SYNC;
}

/* Builds a snapshot of the daemon now and publishes it (when the
 * listener is on). */
static void publish(struct daemon *d)
{
    struct enr_error err = {0};
    struct ops_snapshot *s;

    if (d->hub == NULL || d->rec == NULL)
        return;
    if ((s = ops_snapshot_new(&err)) == NULL)
        goto fail;
    if (ops_snapshot_set_counters(s, &d->counters, &err) < 0 || ops_snapshot_set_recent(s, &d->recent, &err) < 0 ||
        reconciler_fill_snapshot(d->rec, s, &err) < 0)
        goto fail;
    if (d->tc != NULL)
        ops_snapshot_set_identity_expiry(s, (int64_t)time(NULL) + teleport_client_identity_ttl(d->tc));
    ops_snapshot_publish(d->hub, s);
    return;
fail:
    ops_snapshot_unref(s);
    log_warn(LOG_MAIN, "ops snapshot: %s", err.msg);
}

static void on_pass(void *ud, double seconds, bool full)
{
    struct daemon *d = ud;
    if (d->hub == NULL)
        return;
    ops_snapshot_counters_pass(&d->counters, seconds, full);
    publish(d);
}

/* Counting hooks of the two clients (docker_client.h, teleport_call.h):
 * on the loop, into the loop's own counters. */
static void count_failed(int rc, const struct enr_error *err)
{
    if (rc < 0)
        log_warn(LOG_MAIN, "ops counters: %s", err->msg);
}

static void on_docker_call(void *ud, const char *endpoint)
{
    struct daemon *d = ud;
    struct enr_error err = {0};
    count_failed(ops_snapshot_counters_add_docker(&d->counters, endpoint, 1, &err), &err);
}

static void on_docker_error(void *ud, const char *endpoint, int http_status)
{
    struct daemon *d = ud;
    struct enr_error err = {0};
    count_failed(ops_snapshot_counters_add_docker_error(&d->counters, endpoint, http_status, 1, &err), &err);
}

static void on_auth_call(void *ud, const char *method)
{
    struct daemon *d = ud;
    struct enr_error err = {0};
    count_failed(ops_snapshot_counters_add_auth(&d->counters, method, 1, &err), &err);
}

static void on_auth_error(void *ud, const char *method, int grpc_status)
{
    struct daemon *d = ud;
    struct enr_error err = {0};
    count_failed(ops_snapshot_counters_add_auth_error(&d->counters, method, grpc_status, 1, &err), &err);
}

static void on_ops_timer(uv_timer_t *t)
{
    publish(t->data);
}

/* A rule reload, good or bad, for the snapshot's recent ring. */
static void note_reload(struct daemon *d, bool ok, const char *message)
{
    struct enr_error err = {0};
    if (d->hub == NULL)
        return;
    if (!ok)
        d->counters.rule_errors++;
    if (ops_snapshot_recent_push(&d->recent, (int64_t)time(NULL), ok, message, &err) < 0)
        log_warn(LOG_MAIN, "ops snapshot: %s", err.msg);
}

static void on_rules_swap(void *ud, struct rule_set *rs)
{
    struct daemon *d = ud;
    char msg[160];

    reconciler_set_rules(d->rec, rs);
    snprintf(msg, sizeof(msg), "rules reloaded: %zu rules, hash %016llx", rule_set_count(rs),
             (unsigned long long)rule_set_hash(rs));
    note_reload(d, true, msg);
}

static void on_container_rule_error(void *ud, const char *container, const char *message)
{
    struct daemon *d = ud;
    struct enr_error err = {0};
    char msg[512];

    if (d->hub == NULL)
        return;
    /* counted by the reconciler (reconciler_fill_snapshot) */
    snprintf(msg, sizeof(msg), "container %s: %s", container, message);
    if (ops_snapshot_recent_push(&d->recent, (int64_t)time(NULL), false, msg, &err) < 0)
        log_warn(LOG_MAIN, "ops snapshot: %s", err.msg);
}

static void on_rules_error(void *ud, const char *why, const struct enr_error *err)
{
    struct daemon *d = ud;
    char msg[sizeof(err->msg) + 64];

    snprintf(msg, sizeof(msg), "rules NOT changed (%s): %s", why, err->msg);
    note_reload(d, false, msg);
}

/* The guard rails, policy and write limits of cfg, as the reconciler takes
 * them (at the start and on every reload). */
static void fill_limits(const struct enr_config *cfg, struct reconciler_config *rcfg)
{
    rcfg->policy = planner_policy_of(cfg->policy);
    rcfg->grace_sec = (unsigned)cfg->grace_sec;
    rcfg->max_deletes = (unsigned)cfg->max_deletes;
    rcfg->max_delete_percent = (unsigned)cfg->max_delete_percent;
    rcfg->delete_window_sec = (unsigned)cfg->delete_window_sec;
    rcfg->adopt = cfg->adopt != 0;
    rcfg->confirm_sec = (unsigned)cfg->confirm_sec;
    rcfg->write_rate = (unsigned)cfg->write_rate;
    rcfg->write_burst = (unsigned)cfg->write_burst;
}

/* The config file changed: apply what can be applied live. */
static void on_config_change(void *ud)
{
    struct daemon *d = ud;
    struct enr_error err = {0};
    struct enr_config *nc = config_load(d->opts->config_path, &err);
    const struct enr_config *cur = d->reloaded != NULL ? d->reloaded : d->cfg;
    struct reconciler_config lim = {0};
    char fields[512];
    int level;

    if (nc == NULL) {
        log_error(LOG_MAIN, "config %s: %s; config NOT changed", d->opts->config_path, err.msg);
        return;
    }
    if (strcmp(nc->rules_dir, rule_watch_dir(d->watch)) != 0) {
        log_info(LOG_MAIN, "config: rules.dir is now %s", nc->rules_dir);
        if (rule_watch_set_dir(d->watch, nc->rules_dir, &err) < 0)
            log_error(LOG_RULES, "%s", err.msg);
    }
    if ((level = log_level_parse(nc->log_level)) >= 0 && (enum log_level)level != log_get_level()) {
        log_set_level((enum log_level)level);
        log_info(LOG_MAIN, "config: log.level is now %s", nc->log_level);
    }
    /* The guard rails, policy and write limits: against the last config
     * applied (a change back is applied too). */
    size_t n_live = config_diff_kind(cur, nc, CONFIG_DIFF_LIVE, fields, sizeof(fields));
    n_live -= (size_t)(strcmp(cur->rules_dir, nc->rules_dir) != 0) + (strcmp(cur->log_level, nc->log_level) != 0);
    if (n_live > 0 && d->rec != NULL) {
        fill_limits(nc, &lim);
        reconciler_set_limits(d->rec, &lim);
        log_info(LOG_MAIN, "config: applied %s (reconcile: policy %s, grace %ds, max_deletes %d, "
                 "max_delete_percent %d, window %ds, adopt %s, write_rate %d, write_burst %d, confirm %ds)", fields,
                 config_policy_name(nc->policy), nc->grace_sec, nc->max_deletes, nc->max_delete_percent,
                 nc->delete_window_sec, nc->adopt ? "true" : "false", nc->write_rate, nc->write_burst,
                 nc->confirm_sec);
    }
    /* The rest: against what the daemon started with, which still runs. */
    if (config_diff_kind(d->cfg, nc, CONFIG_DIFF_RESTART, fields, sizeof(fields)) > 0)
        log_warn(LOG_MAIN, "config changed; needs a restart to apply: %s", fields);
    else
        log_debug(LOG_MAIN, "config re-read: nothing that needs a restart changed");
    config_free(d->reloaded);
    d->reloaded = nc;
}

static void log_rules(const char *verb, const struct rule_set *rs)
{
    char names[512] = "";
    size_t used = 0;

    for (size_t i = 0; i < rule_set_count(rs) && used < sizeof(names) - 1; i++) {
        int n = snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "", rule_set_name(rs, i));
        if (n < 0)
            break;
        used += (size_t)n;
    }
    log_info(LOG_RULES, "%s %zu rules (%s), hash %016llx", verb, rule_set_count(rs), names,
             (unsigned long long)rule_set_hash(rs));
}

static void on_log_flush(uv_prepare_t *h)
{
    (void)h;
    log_flush();
}

static void stop(struct daemon *d)
{
    if (d->ops_timer_open) {
        d->ops_timer_open = false;
        uv_close((uv_handle_t *)&d->ops_timer, NULL);
    }
    if (d->rec != NULL)
        reconciler_stop(d->rec);
    if (d->watch != NULL) {
        d->rules = rule_watch_close(d->watch);
        d->watch = NULL;
    }
    if (d->signals_open) {
        d->signals_open = false;
        uv_close((uv_handle_t *)&d->sig_term, NULL);
        uv_close((uv_handle_t *)&d->sig_int, NULL);
        uv_close((uv_handle_t *)&d->sig_hup, NULL);
    }
    /* Cancels calls in flight; their callbacks will not run. */
    docker_client_free(d->dc);
    d->dc = NULL;
    teleport_client_free(d->tc);
    d->tc = NULL;
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;

    if (signum == SIGHUP) {
        if (d->watch != NULL)
            rule_watch_reload(d->watch, "SIGHUP", 1);
        return;
    }
    log_info(LOG_MAIN, "%s: stopping (nothing is deleted on shutdown)", strsignal(signum));
    stop(d);
}

static void on_ping(void *ud, const struct enr_error *err, const char *cluster, const char *version)
{
    struct daemon *d = ud;
    if (err != NULL) {
        log_warn(LOG_TELEPORT, "ping %s: %s (will keep trying)", d->cfg->teleport_addr, err->msg);
        return;
    }
    log_info(LOG_TELEPORT, "connected to cluster %s (Teleport %s) at %s as %s", cluster, version,
             d->cfg->teleport_addr, teleport_client_identity_user(d->tc));
}

static void on_docker_ping(void *ud, const struct enr_error *err, const char *api_version)
{
    struct daemon *d = ud;
    if (err != NULL) {
        log_warn(LOG_DOCKER, "ping %s: %s (will keep trying)", docker_client_host(d->dc), err->msg);
        return;
    }
    log_info(LOG_DOCKER, "connected to %s (API %s)", docker_client_host(d->dc), api_version);
}

static void on_done(void *ud)
{
    struct daemon *d = ud;
    struct reconciler_stats st;

    reconciler_get_stats(d->rec, &st);
    log_info(LOG_MAIN, "--once: pass done: %zu containers, %zu desired, %zu owned; %llu created, %llu updated, "
             "%llu deleted, %llu write errors; docker %s, teleport %s", st.containers, st.desired, st.owned,
             (unsigned long long)st.creates, (unsigned long long)st.updates, (unsigned long long)st.deletes,
             (unsigned long long)st.write_errors, st.docker_complete ? "complete" : "INCOMPLETE",
             st.teleport_complete ? "complete" : "INCOMPLETE");
    d->exit_code = st.docker_complete && st.teleport_complete && st.write_errors == 0 ? 0 : 1;
    stop(d);
}

static void on_plan(void *ud, const struct plan *p, const struct enr_error *err)
{
    struct daemon *d = ud;

    d->exit_code = d->opts->on_plan(d->opts->ud, p, err);
    stop(d);
}

/* Starts the clients, the reconciler, the watch (run only) and the
 * signals, then runs the loop until stopped.  Returns the exit code. */
static int run(struct daemon *d)
{
    const struct enr_config *cfg = d->cfg;
    struct enr_error err = {0};
    struct docker_client_config dcfg = {0};
    struct teleport_client_config tcfg = {0};
    struct reconciler_config rcfg = {0};
    bool plan = d->opts->on_plan != NULL;
    int rc = 1;

    if (uv_loop_init(&d->loop) != 0) {
        fprintf(stderr, "enroller: cannot create the event loop\n");
        goto fail;
    }
    d->loop_open = true;
    /* The listener first: a bad address or a port in use stops the start
     * before anything else runs. */
    if (cfg->http_listen != NULL && !plan) {
        const struct ops_http_config hcfg = {.listen = cfg->http_listen};
        if ((d->hub = ops_snapshot_hub_new(&err)) == NULL ||
            ops_http_start(d->hub, &hcfg, &d->http, &err) < 0) {
            fprintf(stderr, "enroller: http.listen: %s\n", err.msg);
            goto fail;
        }
        log_info(LOG_MAIN, "operations listener on %s (port %u): /metrics /healthz /readyz /", cfg->http_listen,
                 ops_http_port(d->http));
    }
    dcfg.host = cfg->docker_host;
    dcfg.cert_path = cfg->docker_cert_path;
    if ((d->dc = docker_client_new(&d->loop, &dcfg, &err)) == NULL) {
        fprintf(stderr, "enroller: docker: %s\n", err.msg);
        goto fail;
    }
    tcfg.addr = cfg->teleport_addr;
    tcfg.identity_file = cfg->identity_file;
    tcfg.tbot_dir = cfg->tbot_dir;
    tcfg.cluster = cfg->teleport_cluster;
    tcfg.mode = cfg->teleport_proxy < 0 ? TELEPORT_MODE_AUTO
                : cfg->teleport_proxy ? TELEPORT_MODE_PROXY : TELEPORT_MODE_DIRECT;
    tcfg.watch_credentials = 1;
    tcfg.server_name = cfg->server_name;
    tcfg.call_timeout_ms = cfg->call_timeout_ms;
    if ((d->tc = teleport_client_new(&d->loop, &tcfg, &err)) == NULL) {
        fprintf(stderr, "enroller: %s\n", err.msg);
        goto fail;
    }
    if (d->hub != NULL) {
        docker_client_set_hooks(d->dc, &(struct docker_client_hooks){.on_call = on_docker_call,
                                                                     .on_error = on_docker_error, .ud = d});
        teleport_client_set_hooks(d->tc, &(struct teleport_call_hooks){.on_call = on_auth_call,
                                                                        .on_error = on_auth_error, .ud = d});
    }
    /* The identity's user and time left were logged as it loaded (credentials.c). */

    rcfg.owner = cfg->owner;
    rcfg.resync_sec = cfg->resync_sec;
    rcfg.plan_only = plan;
    rcfg.dry_run = cfg->mode == CONFIG_MODE_DRY_RUN;
    rcfg.poll_only = !cfg->events;
    fill_limits(cfg, &rcfg);
    rcfg.lease_sec = (unsigned)cfg->lease_sec;
    rcfg.once = d->opts->once;
    rcfg.on_done = on_done;
    rcfg.on_plan = plan ? on_plan : NULL;
    rcfg.on_pass = on_pass;
    rcfg.on_rule_error = on_container_rule_error;
    rcfg.ud = d;
    struct agent_manager_config acfg = {.owner = cfg->owner, .image = cfg->agent_image,
                                        .version = cfg->agent_version, .auth_addr = cfg->agent_addr,
                                        .token_ttl_sec = cfg->agent_token_ttl,
                                        .join_timeout_sec = cfg->agent_join_timeout};
    if (cfg->agent_declared) {
        rcfg.agent = &acfg;
        rcfg.agent_all = strcmp(cfg->agent_registration, "agent") == 0;
    }
    if ((d->rec = reconciler_new(&d->loop, &rcfg, d->dc, d->tc, d->rules, &err)) == NULL) {
        fprintf(stderr, "enroller: %s\n", err.msg);
        goto fail;
    }
    if (!plan) {
        struct rule_watch_config wc = {0};
        wc.rules_dir = cfg->rules_dir;
        wc.lua_dir = d->opts->lua_dir;
        wc.config_path = cfg->path;
        wc.on_swap = on_rules_swap;
        wc.on_config = on_config_change;
        wc.on_error = on_rules_error;
        wc.ud = d;
        if ((d->watch = rule_watch_new(&d->loop, &wc, d->rules, &err)) == NULL) {
            fprintf(stderr, "enroller: %s\n", err.msg);
            goto fail;
        }
        d->rules = NULL; /* the watch owns them now */
    }
    uv_signal_init(&d->loop, &d->sig_term);
    uv_signal_init(&d->loop, &d->sig_int);
    uv_signal_init(&d->loop, &d->sig_hup);
    d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
    d->signals_open = true;
    uv_signal_start(&d->sig_term, on_signal, SIGTERM);
    uv_signal_start(&d->sig_int, on_signal, SIGINT);
    uv_signal_start(&d->sig_hup, on_signal, SIGHUP);
    /* A rule running when SIGTERM/SIGINT arrives stops at once, so the
     * loop gets to the signal (lua_runtime.h). */
    lua_runtime_watch_signal(SIGTERM);
    lua_runtime_watch_signal(SIGINT);

    if (docker_client_ping(d->dc, on_docker_ping, d, &err) < 0)
        log_warn(LOG_DOCKER, "ping: %s", err.msg);
    if (teleport_client_ping(d->tc, on_ping, d, &err) < 0)
        log_warn(LOG_TELEPORT, "ping: %s", err.msg);
    if (reconciler_start(d->rec, &err) < 0) {
        fprintf(stderr, "enroller: %s\n", err.msg);
        goto fail;
    }
    if (d->hub != NULL) {
        uv_timer_init(&d->loop, &d->ops_timer);
        d->ops_timer.data = d;
        d->ops_timer_open = true;
        uv_timer_start(&d->ops_timer, on_ops_timer, 0, OPS_PUBLISH_MS);
    }
    log_info(LOG_MAIN, "enroller %s running: owner %s, docker %s, teleport %s, resync %us", ENR_VERSION,
             cfg->owner, docker_client_host(d->dc), cfg->teleport_addr, cfg->resync_sec);
    /* Lines are held and written together each time the loop is about to
     * wait (base/log.h); the handle does not keep the loop running. */
    uv_prepare_init(&d->loop, &d->log_flush); /* cannot fail */
    uv_prepare_start(&d->log_flush, on_log_flush);
    uv_unref((uv_handle_t *)&d->log_flush);
    d->log_flush_open = true;
    log_hold(true);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    log_hold(false);
    rc = d->exit_code;
fail:
    if (d->log_flush_open) {
        d->log_flush_open = false;
        uv_close((uv_handle_t *)&d->log_flush, NULL);
    }
    stop(d);
    if (d->loop_open) {
        /* Let every close callback run before memory goes. */
        uv_run(&d->loop, UV_RUN_DEFAULT);
        reconciler_free(d->rec);
        d->rec = NULL;
        if (uv_loop_close(&d->loop) != 0)
            log_warn(LOG_MAIN, "event loop closed with handles still open");
    }
    /* The listener goes before the hub it reads. */
    ops_http_stop(d->http);
    d->http = NULL;
    ops_snapshot_hub_free(d->hub);
    d->hub = NULL;
    return rc;
}

int daemon_run(const struct enr_config *cfg, const struct daemon_options *opts)
{
    struct daemon d = {.cfg = cfg, .opts = opts};
    struct rule_limits limits = {0};
    struct enr_error err = {0};
    int rc;

    if ((d.rules = rule_loader_load(cfg->rules_dir, opts->lua_dir, &limits, &err)) == NULL) {
        fprintf(stderr, "enroller: %s\n", err.msg);
        return 2;
    }
    log_rules("loaded", d.rules);
    ops_snapshot_counters_init(&d.counters);
    ops_snapshot_recent_init(&d.recent);
    rc = run(&d);
    ops_snapshot_recent_cleanup(&d.recent);
    ops_snapshot_counters_cleanup(&d.counters);
    rule_set_free(d.rules);
    config_free(d.reloaded);
    return rc;
}
