/*
 * cmd_check.c - `enroller check -c CONFIG [--connect]`: the config has
 * loaded (main.c); load the identity and every rule and print one line per
 * problem, or one line for the config, one for the identity and one per rule
 * when all is well.  With --connect it also pings Teleport's Auth and lists
 * Docker's containers, one line per endpoint.
 *
 *   config /etc/enroller/config.lua: ok (owner docker-host-1, teleport auth:3025)
 *   identity /var/lib/enroller/identity: ok (user register-apps, expires 2026-12-01T20:00:00Z, in 28800 s)
 *   rule rabbitmq (rules/rabbitmq.lua, priority 0): ok
 *   docker unix:///run/docker.sock: ok (API 1.43, 3 containers running)
 *   teleport auth:3025: ok (cluster example.com, Teleport 17.0.0, as register-apps)
 */
#include "cmd/commands.h"

#include <stdbool.h>
#include <time.h>
#include <uv.h>

#include "docker/docker_client.h"
#include "rules/rule_loader.h"
#include "teleport/identity_file.h"
#include "teleport/teleport_client.h"

/* Each broken rule file on its own line. */
static void print_rule_error(void *ud, const char *msg)
{
    (*(int *)ud)++;
    fprintf(stderr, "%s\n", msg);
}

static void utc(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "%lld", (long long)t);
}

/* Loads the identity as the daemon does (identity_file.c: missing,
 * unreadable, mode looser than 0600, expired, not yet valid are each one
 * line naming the file, to stderr); on success its "ok" line goes to line. */
static int check_identity(const struct enr_config *cfg, char *line, size_t size)
{
    const char *src = cfg->identity_file != NULL ? cfg->identity_file : cfg->tbot_dir;
    struct enr_error err = {0};
    struct identity_file *id = cfg->identity_file != NULL ? identity_file_load(cfg->identity_file, &err)
                                                          : identity_file_load_tbot(cfg->tbot_dir, &err);
    int64_t now = (int64_t)time(NULL), na, life;
    char until[32];

    if (id == NULL) {
        fprintf(stderr, "%s: teleport.%s: %s\n", cfg->path, cfg->identity_file ? "identity" : "tbot_dir", err.msg);
        return -1;
    }
    na = identity_file_not_after(id);
    life = na - identity_file_not_before(id);
    utc(na, until, sizeof(until));
    snprintf(line, size, "identity %s: ok (user %s, expires %s, in %lld s%s)\n", src, identity_file_user(id), until,
             (long long)(na - now), life > 0 && (na - now) * 10 < life ? "; less than 10%% of its lifetime left" : "");
    identity_file_free(id);
    return 0;
}

int cmd_check(const struct enr_config *cfg, const char *lua_dir, FILE *out)
{
    int n_rule_errors = 0;
    struct rule_limits limits = {.on_error = print_rule_error, .ud = &n_rule_errors};
    struct enr_error err = {0};
    struct rule_set *rules = rule_loader_load(cfg->rules_dir, lua_dir, &limits, &err);
    char id_line[1024];
    int id_rc;

    if (rules == NULL && n_rule_errors == 0) /* not a file's fault: the dir itself */
        fprintf(stderr, "%s: rules.dir: %s\n", cfg->path, err.msg);
    /* Checked whatever the rules did: every problem shows. */
    id_rc = check_identity(cfg, id_line, sizeof(id_line));
    if (rules == NULL || id_rc < 0) {
        rule_set_free(rules);
        return 1;
    }
    fprintf(out, "config %s: ok (owner %s, teleport %s)\n", cfg->path, cfg->owner, cfg->teleport_addr);
    fputs(id_line, out);
    for (size_t i = 0; i < rule_set_count(rules); i++)
        fprintf(out, "rule %s (%s, priority %d): ok\n", rule_set_name(rules, i), rule_set_file(rules, i),
                rule_set_priority(rules, i));
    rule_set_free(rules);
    return 0;
}

/* ---- --connect ------------------------------------------------------------------ */

struct probe {
    FILE *out;
    const struct enr_config *cfg;
    struct docker_client *dc;
    struct teleport_client *tc;
    uv_timer_t deadline;
    bool docker_done, teleport_done;
    int failures;
    char api[32];
};

static void maybe_stop(struct probe *pr)
{
    if (pr->docker_done && pr->teleport_done)
        uv_stop(pr->deadline.loop);
}

static void on_list(void *ud, const struct enr_error *err, char **ids, const uint64_t *hashes, size_t n)
{
    struct probe *pr = ud;
    (void)ids;
    (void)hashes;
    pr->docker_done = true;
    if (err != NULL) {
        fprintf(pr->out, "docker %s: FAILED: %s\n", docker_client_host(pr->dc), err->msg);
        pr->failures++;
    } else {
        fprintf(pr->out, "docker %s: ok (API %s, %zu containers running)\n", docker_client_host(pr->dc), pr->api,
                n);
    }
    maybe_stop(pr);
}

static void on_docker_ping(void *ud, const struct enr_error *err, const char *api_version)
{
    struct probe *pr = ud;
    struct enr_error lerr = {0};

    if (err != NULL) {
        on_list(pr, err, NULL, NULL, 0);
        return;
    }
    snprintf(pr->api, sizeof(pr->api), "%s", api_version ? api_version : "?");
    if (docker_client_list(pr->dc, on_list, pr, &lerr) < 0)
        on_list(pr, &lerr, NULL, NULL, 0);
}

static void on_ping(void *ud, const struct enr_error *err, const char *cluster, const char *version)
{
    struct probe *pr = ud;
    pr->teleport_done = true;
    if (err != NULL) {
        fprintf(pr->out, "teleport %s: FAILED: %s\n", pr->cfg->teleport_addr, err->msg);
        pr->failures++;
    } else {
        fprintf(pr->out, "teleport %s: ok (cluster %s, Teleport %s, as %s)\n", pr->cfg->teleport_addr, cluster,
                version, teleport_client_identity_user(pr->tc));
    }
    maybe_stop(pr);
}

static void on_deadline(uv_timer_t *t)
{
    struct probe *pr = t->data;
    if (!pr->docker_done) {
        fprintf(pr->out, "docker %s: FAILED: no answer in time\n", docker_client_host(pr->dc));
        pr->failures++;
        pr->docker_done = true;
    }
    if (!pr->teleport_done) {
        fprintf(pr->out, "teleport %s: FAILED: no answer in time\n", pr->cfg->teleport_addr);
        pr->failures++;
        pr->teleport_done = true;
    }
    uv_stop(t->loop);
}

int cmd_check_connect(const struct enr_config *cfg, FILE *out)
{
    struct probe pr = {.out = out, .cfg = cfg};
    struct docker_client_config dcfg = {.host = cfg->docker_host, .cert_path = cfg->docker_cert_path};
    struct teleport_client_config tcfg = {0};
    struct enr_error err = {0};
    uv_loop_t loop;
    int rc = 1;

    if (uv_loop_init(&loop) != 0) {
        fprintf(stderr, "enroller: check: cannot create the event loop\n");
        return 1;
    }
    tcfg.addr = cfg->teleport_addr;
    tcfg.identity_file = cfg->identity_file;
    tcfg.tbot_dir = cfg->tbot_dir;
    tcfg.cluster = cfg->teleport_cluster;
    tcfg.mode = cfg->teleport_proxy < 0 ? TELEPORT_MODE_AUTO
                : cfg->teleport_proxy ? TELEPORT_MODE_PROXY : TELEPORT_MODE_DIRECT;
    tcfg.server_name = cfg->server_name;
    tcfg.call_timeout_ms = cfg->call_timeout_ms;
    uv_timer_init(&loop, &pr.deadline);
    pr.deadline.data = &pr;
    if ((pr.dc = docker_client_new(&loop, &dcfg, &err)) == NULL) {
        fprintf(out, "docker: FAILED: %s\n", err.msg);
        pr.failures++;
        pr.docker_done = true;
    } else if (docker_client_ping(pr.dc, on_docker_ping, &pr, &err) < 0) {
        on_list(&pr, &err, NULL, NULL, 0);
    }
    if ((pr.tc = teleport_client_new(&loop, &tcfg, &err)) == NULL) {
        fprintf(out, "teleport %s: FAILED: %s\n", cfg->teleport_addr, err.msg);
        pr.failures++;
        pr.teleport_done = true;
    } else if (teleport_client_ping(pr.tc, on_ping, &pr, &err) < 0) {
        on_ping(&pr, &err, NULL, NULL);
    }
    if (!pr.docker_done || !pr.teleport_done) {
        /* The Teleport call has its own deadline (call_timeout); Docker's
         * requests too: this one only bounds the whole. */
        uv_timer_start(&pr.deadline, on_deadline, (uint64_t)cfg->call_timeout_ms + 5000, 0);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    rc = pr.failures > 0 ? 1 : 0;
    /* Cancels calls in flight; their callbacks do not run. */
    docker_client_free(pr.dc);
    teleport_client_free(pr.tc);
    uv_close((uv_handle_t *)&pr.deadline, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        fprintf(stderr, "enroller: check: event loop closed with handles still open\n");
    return rc;
}
