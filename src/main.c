/*
 * main.c - command line, signals and loop wiring.
 *
 *   enroller [run] -c CONFIG    keep Teleport in step with Docker until SIGTERM
 *   enroller check -c CONFIG    validate the config and every rule, exit 0 or 1
 *   enroller plan  -c CONFIG    print what a pass would do, write nothing
 *   enroller explain -c CONFIG CONTAINER   which rules match one live container, and why
 *   enroller test-rules [--rules DIR] CASES   run a user's rule cases (no Docker, no Teleport)
 *
 * SIGTERM/SIGINT stop (nothing is deleted on the way out).  The rules
 * directory and the config file are watched (rule_watch.c): a change, or
 * SIGHUP, reloads the rules, which are kept as they were if the new ones do
 * not all load.  A config change applies rules.dir and log.level at once
 * and names any other changed field as needing a restart.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cmd/commands.h"
#include "config.h"
#include "docker/docker_client.h"
#include "base/log.h"
#include "reconcile/planner.h"
#include "reconcile/reconciler.h"
#include "rules/rule_loader.h"
#include "rules/rule_watch.h"
#include "teleport/teleport_client.h"

enum command { CMD_RUN, CMD_CHECK, CMD_PLAN, CMD_EXPLAIN, CMD_TEST_RULES };

struct app {
    enum command cmd;
    const char *config_path;
    struct enr_config *cfg;
    const char *lua_dir;
    uv_loop_t loop;
    bool loop_open;
    struct rule_set *rules;   /* NULL while rule_watch owns them */
    struct rule_watch *watch;
    struct docker_client *dc;
    struct teleport_client *tc;
    struct reconciler *rec;
    uv_signal_t sig_term, sig_int, sig_hup;
    bool signals_open;
    bool once;
    int exit_code;
};

static void usage(FILE *to)
{
    fprintf(to,
            "usage: enroller [run|check|plan] -c CONFIG [--once]\n"
            "       enroller explain -c CONFIG CONTAINER\n"
            "       enroller test-rules [--rules DIR] CASES\n"
            "       enroller --version\n"
            "  run         keep Teleport's apps in step with Docker's containers (default);\n"
            "              --once: exit after the first full pass is applied (0: complete, 1: not)\n"
            "  check       validate the config and the rules; one line per error, exit 1 on any\n"
            "  plan        print the creates, updates, deletes and conflicts a pass would make\n"
            "  explain     for one live container (name or id): which rules match and why, and\n"
            "              the resources they would produce (needs Docker only)\n"
            "  test-rules  run rule cases (CASES: a dir of *.case.json or one file); see lua/README.md\n");
}

static const char *lua_dir(void)
{
    const char *d = getenv("ENROLLER_LUA_PATH");
    return d && d[0] ? d : ENR_LUA_DIR;
}

/* enroller check: each broken rule file on its own line. */
static void print_rule_error(void *ud, const char *msg)
{
    (*(int *)ud)++;
    fprintf(stderr, "%s\n", msg);
}

static struct rule_set *load_rules(struct app *a, struct enr_error *err)
{
    struct rule_limits limits = {0};
    return rule_loader_load(a->cfg->rules_dir, a->lua_dir, &limits, err);
}

static void on_rules_swap(void *ud, struct rule_set *rs)
{
    struct app *a = ud;
    reconciler_set_rules(a->rec, rs);
}

/* The config file changed: apply what can be applied live. */
static void on_config_change(void *ud)
{
    struct app *a = ud;
    struct enr_error err = {0};
    struct enr_config *nc = config_load(a->config_path, &err);
    char fields[512];
    int level;

    if (nc == NULL) {
        log_error(LOG_MAIN, "config %s: %s; config NOT changed", a->config_path, err.msg);
        return;
    }
    if (strcmp(nc->rules_dir, rule_watch_dir(a->watch)) != 0) {
        log_info(LOG_MAIN, "config: rules.dir is now %s", nc->rules_dir);
        if (rule_watch_set_dir(a->watch, nc->rules_dir, &err) < 0)
            log_error(LOG_RULES, "%s", err.msg);
    }
    if ((level = log_level_parse(nc->log_level)) >= 0 && (enum log_level)level != log_get_level()) {
        log_set_level((enum log_level)level);
        log_info(LOG_MAIN, "config: log.level is now %s", nc->log_level);
    }
    /* rules.dir and log.level are applied above, whatever the diff says */
    size_t n = config_diff(a->cfg, nc, fields, sizeof(fields));
    int live = (strcmp(a->cfg->rules_dir, nc->rules_dir) != 0) + (strcmp(a->cfg->log_level, nc->log_level) != 0);
    if (n > (size_t)live)
        log_warn(LOG_MAIN, "config changed; restart enroller to apply: %s", fields);
    else
        log_debug(LOG_MAIN, "config re-read: nothing that needs a restart changed");
    config_free(nc);
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

static void stop(struct app *a)
{
    if (a->rec != NULL)
        reconciler_stop(a->rec);
    if (a->watch != NULL) {
        a->rules = rule_watch_close(a->watch);
        a->watch = NULL;
    }
    if (a->signals_open) {
        a->signals_open = false;
        uv_close((uv_handle_t *)&a->sig_term, NULL);
        uv_close((uv_handle_t *)&a->sig_int, NULL);
        uv_close((uv_handle_t *)&a->sig_hup, NULL);
    }
    /* Cancels calls in flight; their callbacks will not run. */
    docker_client_free(a->dc);
    a->dc = NULL;
    teleport_client_free(a->tc);
    a->tc = NULL;
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct app *a = h->data;

    if (signum == SIGHUP) {
        if (a->watch != NULL)
            rule_watch_reload(a->watch, "SIGHUP", 1);
        return;
    }
    log_info(LOG_MAIN, "%s: stopping (nothing is deleted on shutdown)", strsignal(signum));
    stop(a);
}

static void on_ping(void *ud, const struct enr_error *err, const char *cluster, const char *version)
{
    struct app *a = ud;
    if (err != NULL) {
        log_warn(LOG_TELEPORT, "ping %s: %s (will keep trying)", a->cfg->teleport_addr, err->msg);
        return;
    }
    log_info(LOG_TELEPORT, "connected to cluster %s (Teleport %s) at %s as %s", cluster, version,
             a->cfg->teleport_addr, teleport_client_identity_user(a->tc));
}

static void on_docker_ping(void *ud, const struct enr_error *err, const char *api_version)
{
    struct app *a = ud;
    if (err != NULL) {
        log_warn(LOG_DOCKER, "ping %s: %s (will keep trying)", docker_client_host(a->dc), err->msg);
        return;
    }
    log_info(LOG_DOCKER, "connected to %s (API %s)", docker_client_host(a->dc), api_version);
}

static void on_done(void *ud)
{
    struct app *a = ud;
    struct reconciler_stats st;

    reconciler_get_stats(a->rec, &st);
    log_info(LOG_MAIN, "--once: pass done: %zu containers, %zu desired, %zu owned; %llu created, %llu updated, "
             "%llu deleted, %llu write errors; docker %s, teleport %s", st.containers, st.desired, st.owned,
             (unsigned long long)st.creates, (unsigned long long)st.updates, (unsigned long long)st.deletes,
             (unsigned long long)st.write_errors, st.docker_complete ? "complete" : "INCOMPLETE",
             st.teleport_complete ? "complete" : "INCOMPLETE");
    a->exit_code = st.docker_complete && st.teleport_complete && st.write_errors == 0 ? 0 : 1;
    stop(a);
}

static void print_plan(void *ud, const struct plan *p, const struct enr_error *err)
{
    struct app *a = ud;

    if (err != NULL) {
        fprintf(stderr, "enroller: plan: %s\n", err->msg);
        a->exit_code = 1;
    } else {
        for (size_t i = 0; i < p->len; i++) {
            const struct plan_action *x = &p->actions[i];
            printf("%-8s %-40s %s", plan_op_name(x->op), x->name, x->reason);
            if (x->op == PLAN_CREATE || x->op == PLAN_UPDATE)
                printf(" [uri %s]", x->res.uri);
            printf("\n");
        }
        printf("plan: %zu create, %zu update, %zu delete, %zu conflict, %zu skip\n", p->n[PLAN_CREATE],
               p->n[PLAN_UPDATE], p->n[PLAN_DELETE], p->n[PLAN_CONFLICT], p->n[PLAN_SKIP]);
        fflush(stdout);
    }
    stop(a);
}

static int run(struct app *a)
{
    struct enr_error err = {0};
    struct docker_client_config dcfg = {0};
    struct teleport_client_config tcfg = {0};
    struct reconciler_config rcfg = {0};
    int64_t ttl;
    int rc = 1;

    if (uv_loop_init(&a->loop) != 0) {
        fprintf(stderr, "enroller: cannot create the event loop\n");
        goto fail;
    }
    a->loop_open = true;
    dcfg.host = a->cfg->docker_host;
    dcfg.cert_path = a->cfg->docker_cert_path;
    if ((a->dc = docker_client_new(&a->loop, &dcfg, &err)) == NULL) {
        fprintf(stderr, "enroller: docker: %s\n", err.msg);
        goto fail;
    }
    tcfg.addr = a->cfg->teleport_addr;
    tcfg.identity_file = a->cfg->identity_file;
    tcfg.tbot_dir = a->cfg->tbot_dir;
    tcfg.cluster = a->cfg->teleport_cluster;
    tcfg.mode = a->cfg->teleport_proxy < 0 ? TELEPORT_MODE_AUTO
                : a->cfg->teleport_proxy ? TELEPORT_MODE_PROXY : TELEPORT_MODE_DIRECT;
    tcfg.watch_credentials = 1;
    tcfg.server_name = a->cfg->server_name;
    tcfg.call_timeout_ms = a->cfg->call_timeout_ms;
    if ((a->tc = teleport_client_new(&a->loop, &tcfg, &err)) == NULL) {
        fprintf(stderr, "enroller: %s\n", err.msg);
        goto fail;
    }
    ttl = teleport_client_identity_ttl(a->tc);
    log_info(LOG_TELEPORT, "identity %s: user %s, certificate valid for %lld more seconds",
             a->cfg->identity_file ? a->cfg->identity_file : a->cfg->tbot_dir, teleport_client_identity_user(a->tc),
             (long long)ttl);

    rcfg.owner = a->cfg->owner;
    rcfg.resync_sec = a->cfg->resync_sec;
    rcfg.plan_only = a->cmd == CMD_PLAN;
    rcfg.dry_run = a->cfg->mode == CONFIG_MODE_DRY_RUN;
    rcfg.poll_only = !a->cfg->events;
    rcfg.policy = a->cfg->policy == CONFIG_POLICY_CREATE_ONLY   ? PLANNER_CREATE_ONLY
                  : a->cfg->policy == CONFIG_POLICY_UPSERT_ONLY ? PLANNER_UPSERT_ONLY
                                                                : PLANNER_SYNC;
    rcfg.grace_sec = (unsigned)a->cfg->grace_sec;
    rcfg.max_deletes = (unsigned)a->cfg->max_deletes;
    rcfg.max_delete_percent = (unsigned)a->cfg->max_delete_percent;
    rcfg.adopt = a->cfg->adopt != 0;
    rcfg.lease_sec = (unsigned)a->cfg->lease_sec;
    rcfg.confirm_sec = (unsigned)a->cfg->confirm_sec;
    rcfg.write_rate = (unsigned)a->cfg->write_rate;
    rcfg.write_burst = (unsigned)a->cfg->write_burst;
    rcfg.once = a->once;
    rcfg.on_done = on_done;
    rcfg.on_plan = print_plan;
    rcfg.ud = a;
    if ((a->rec = reconciler_new(&a->loop, &rcfg, a->dc, a->tc, a->rules, &err)) == NULL) {
        fprintf(stderr, "enroller: %s\n", err.msg);
        goto fail;
    }
    if (a->cmd == CMD_RUN) {
        struct rule_watch_config wc = {0};
        wc.rules_dir = a->cfg->rules_dir;
        wc.lua_dir = a->lua_dir;
        wc.config_path = a->cfg->path;
        wc.on_swap = on_rules_swap;
        wc.on_config = on_config_change;
        wc.ud = a;
        if ((a->watch = rule_watch_new(&a->loop, &wc, a->rules, &err)) == NULL) {
            fprintf(stderr, "enroller: %s\n", err.msg);
            goto fail;
        }
        a->rules = NULL; /* the watch owns them now */
    }
    uv_signal_init(&a->loop, &a->sig_term);
    uv_signal_init(&a->loop, &a->sig_int);
    uv_signal_init(&a->loop, &a->sig_hup);
    a->sig_term.data = a->sig_int.data = a->sig_hup.data = a;
    a->signals_open = true;
    uv_signal_start(&a->sig_term, on_signal, SIGTERM);
    uv_signal_start(&a->sig_int, on_signal, SIGINT);
    uv_signal_start(&a->sig_hup, on_signal, SIGHUP);

    if (docker_client_ping(a->dc, on_docker_ping, a, &err) < 0)
        log_warn(LOG_DOCKER, "ping: %s", err.msg);
    if (teleport_client_ping(a->tc, on_ping, a, &err) < 0)
        log_warn(LOG_TELEPORT, "ping: %s", err.msg);
    if (reconciler_start(a->rec, &err) < 0) {
        fprintf(stderr, "enroller: %s\n", err.msg);
        goto fail;
    }
    log_info(LOG_MAIN, "enroller %s running: owner %s, docker %s, teleport %s, resync %us", ENR_VERSION,
             a->cfg->owner, docker_client_host(a->dc), a->cfg->teleport_addr, a->cfg->resync_sec);
    uv_run(&a->loop, UV_RUN_DEFAULT);
    rc = a->exit_code;
fail:
    stop(a);
    if (a->loop_open) {
        /* Let every close callback run before memory goes. */
        uv_run(&a->loop, UV_RUN_DEFAULT);
        reconciler_free(a->rec);
        a->rec = NULL;
        if (uv_loop_close(&a->loop) != 0)
            log_warn(LOG_MAIN, "event loop closed with handles still open");
    }
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"once", no_argument, NULL, 'o'},
        {"rules", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct app a = {0};
    struct enr_error err = {0};
    const char *rules_opt = NULL;
    int c, level, n_rule_errors = 0;

    signal(SIGPIPE, SIG_IGN);
    a.cmd = CMD_RUN;
    if (argc > 1 && argv[1][0] != '-') {
        if (strcmp(argv[1], "run") == 0)
            a.cmd = CMD_RUN;
        else if (strcmp(argv[1], "check") == 0)
            a.cmd = CMD_CHECK;
        else if (strcmp(argv[1], "plan") == 0)
            a.cmd = CMD_PLAN;
        else if (strcmp(argv[1], "explain") == 0)
            a.cmd = CMD_EXPLAIN;
        else if (strcmp(argv[1], "test-rules") == 0)
            a.cmd = CMD_TEST_RULES;
        else {
            fprintf(stderr, "enroller: unknown command '%s'\n", argv[1]);
            usage(stderr);
            return 2;
        }
        argv++;
        argc--;
    }
    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a.config_path = optarg;
            break;
        case 'o':
            a.once = true;
            break;
        case 'r':
            rules_opt = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("enroller %s\n", ENR_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (a.cmd == CMD_TEST_RULES) {
        if (optind != argc - 1) {
            fprintf(stderr, "enroller: test-rules: give one CASES dir or file\n");
            usage(stderr);
            return 2;
        }
        return cmd_test_rules(argv[optind], rules_opt, lua_dir(), stdout);
    }
    if ((a.cmd == CMD_EXPLAIN) != (optind == argc - 1) || optind < argc - 1) {
        fprintf(stderr, "enroller: %s\n", a.cmd == CMD_EXPLAIN ? "explain: give one CONTAINER (name or id)"
                                                                : "unexpected arguments");
        usage(stderr);
        return 2;
    }
    if (a.config_path == NULL) {
        fprintf(stderr, "enroller: no config file: give -c CONFIG\n");
        usage(stderr);
        return 2;
    }
    if ((a.cfg = config_load(a.config_path, &err)) == NULL) {
        fprintf(stderr, "enroller: %s\n", err.msg);
        return a.cmd == CMD_CHECK ? 1 : 2;
    }
    if ((level = log_level_parse(a.cfg->log_level)) >= 0)
        log_set_level((enum log_level)level);
    a.lua_dir = lua_dir();
    if (a.cmd == CMD_EXPLAIN) {
        c = cmd_explain(a.cfg, a.lua_dir, argv[optind], stdout);
        config_free(a.cfg);
        return c;
    }
    if (a.cmd == CMD_CHECK) {
        struct rule_limits limits = {.on_error = print_rule_error, .ud = &n_rule_errors};
        a.rules = rule_loader_load(a.cfg->rules_dir, a.lua_dir, &limits, &err);
        if (a.rules == NULL) {
            if (n_rule_errors == 0) /* not a file's fault: the dir itself */
                fprintf(stderr, "%s: rules.dir: %s\n", a.cfg->path, err.msg);
            config_free(a.cfg);
            return 1;
        }
    } else if ((a.rules = load_rules(&a, &err)) == NULL) {
        fprintf(stderr, "enroller: %s\n", err.msg);
        config_free(a.cfg);
        return 2;
    }
    if (a.cmd == CMD_CHECK) {
        printf("config %s: ok (owner %s, teleport %s)\n", a.cfg->path, a.cfg->owner, a.cfg->teleport_addr);
        for (size_t i = 0; i < rule_set_count(a.rules); i++)
            printf("rule %s (%s, priority %d): ok\n", rule_set_name(a.rules, i), rule_set_file(a.rules, i),
                   rule_set_priority(a.rules, i));
        rule_set_free(a.rules);
        config_free(a.cfg);
        return 0;
    }
    log_rules("loaded", a.rules);
    c = run(&a);
    rule_set_free(a.rules);
    config_free(a.cfg);
    return c;
}
