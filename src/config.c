/*
 * config.c - see config.h.
 *
 * config_decl.c runs the file and checks each declaration as it is made
 * (and has the enums' words); here are the defaults (the one table below)
 * and the required fields, handled after the file (knot postconfig).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_manager.h"
#include "config_decl.h"
#include "docker/docker_client.h"
#include "reconcile/limits.h"
#include "reconcile/reconciler.h"
#include "teleport/teleport_client.h"

/* Every default, defined here only: what a field is when the file does not
 * set it (finish() copies from this table).  log_level and log_format are
 * read, never freed: finish() duplicates them. */
static const struct enr_config defaults = {
    .mode = CONFIG_MODE_DYNAMIC,
    .resync_sec = RECONCILER_DEFAULT_RESYNC_SEC,
    .events = 1,
    .policy = CONFIG_POLICY_SYNC,
    .grace_sec = 60, /* covers a dockerd restart without live-restore */
    .max_deletes = 50,
    .max_delete_percent = 50,
    .delete_window_sec = 60,
    .adopt = 0,
    .lease_sec = 0,
    .write_rate = EXECUTOR_DEFAULT_RATE,
    .write_burst = EXECUTOR_DEFAULT_BURST,
    .confirm_sec = 30,
    .call_timeout_ms = TELEPORT_CLIENT_DEFAULT_TIMEOUT_MS,
    .log_level = "info",
    .log_format = "text",
    .http_listen = NULL, /* the operations listener is off */
    .agent_registration = "dynamic",
    .agent_image = AGENT_MANAGER_DEFAULT_IMAGE,
    .agent_version = AGENT_MANAGER_DEFAULT_VERSION,
    .agent_token_ttl = AGENT_MANAGER_DEFAULT_TOKEN_TTL_SEC,
    .agent_join_timeout = AGENT_MANAGER_DEFAULT_JOIN_TIMEOUT_SEC,
};

void config_free(struct enr_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->path);
    free(cfg->owner);
    free(cfg->docker_host);
    free(cfg->docker_cert_path);
    free(cfg->teleport_addr);
    free(cfg->identity_file);
    free(cfg->tbot_dir);
    free(cfg->teleport_cluster);
    free(cfg->server_name);
    free(cfg->rules_dir);
    free(cfg->log_level);
    free(cfg->log_format);
    free(cfg->http_listen);
    free(cfg->agent_registration);
    free(cfg->agent_image);
    free(cfg->agent_version);
    free(cfg->agent_addr);
    free(cfg);
}

/* agent { ... }: defaults, and registration's two words. */
static int finish_agent(struct enr_config *cfg, const char *name, struct enr_error *err)
{
    if ((cfg->agent_registration == NULL &&
         (cfg->agent_registration = strdup(defaults.agent_registration)) == NULL) ||
        (cfg->agent_image == NULL && (cfg->agent_image = strdup(defaults.agent_image)) == NULL) ||
        (cfg->agent_version == NULL && (cfg->agent_version = strdup(defaults.agent_version)) == NULL) ||
        (cfg->agent_addr == NULL && (cfg->agent_addr = strdup(cfg->teleport_addr)) == NULL))
        return err_set(err, -ENOMEM, "%s: out of memory", name);
    if (strcmp(cfg->agent_registration, "dynamic") != 0 && strcmp(cfg->agent_registration, "agent") != 0)
        return err_set(err, -EINVAL, "%s: agent.registration: expected dynamic or agent, got \"%s\"", name,
                       cfg->agent_registration);
    if (cfg->agent_token_ttl == 0)
        cfg->agent_token_ttl = defaults.agent_token_ttl;
    if (cfg->agent_join_timeout == 0)
        cfg->agent_join_timeout = defaults.agent_join_timeout;
    return 0;
}

/* Defaults and required fields, after the file ran. */
static int finish(struct enr_config *cfg, const char *name, struct enr_error *err)
{
    if (cfg->owner == NULL)
        return err_set(err, -EINVAL, "%s: owner: required (owner \"my-docker-host\")", name);
    if (cfg->teleport_addr == NULL)
        return err_set(err, -EINVAL, "%s: teleport.addr: required", name);
    if (cfg->identity_file == NULL && cfg->tbot_dir == NULL)
        return err_set(err, -EINVAL, "%s: teleport.identity: required", name);
    if (cfg->identity_file != NULL && cfg->tbot_dir != NULL)
        return err_set(err, -EINVAL, "%s: teleport.tbot_dir: set either identity or tbot_dir, not both", name);
    if (cfg->rules_dir == NULL)
        return err_set(err, -EINVAL, "%s: rules.dir: required", name);
    /* docker.host unset: $DOCKER_HOST is used (docker_client_new), so a bad
     * one is refused here, named as such, rather than retried forever. */
    const char *env_host = getenv("DOCKER_HOST");
    struct enr_error herr = {0};
    if (cfg->docker_host == NULL && env_host != NULL && env_host[0] != '\0' &&
        docker_client_check_host(env_host, &herr) < 0)
        return err_set(err, -EINVAL, "%s: $DOCKER_HOST (docker.host is not set): %s", name, herr.msg);
    if (cfg->log_level == NULL && (cfg->log_level = strdup(defaults.log_level)) == NULL)
        return err_set(err, -ENOMEM, "%s: out of memory", name);
    if (cfg->log_format == NULL && (cfg->log_format = strdup(defaults.log_format)) == NULL)
        return err_set(err, -ENOMEM, "%s: out of memory", name);
    /* mode and policy start from the defaults (config_load): an enum has no
     * "unset" */
    if (cfg->resync_sec == 0)
        cfg->resync_sec = defaults.resync_sec;
    if (cfg->events < 0)
        cfg->events = defaults.events;
    if (cfg->grace_sec < 0)
        cfg->grace_sec = defaults.grace_sec;
    if (cfg->max_deletes < 0)
        cfg->max_deletes = defaults.max_deletes;
    if (cfg->max_delete_percent < 0)
        cfg->max_delete_percent = defaults.max_delete_percent;
    if (cfg->delete_window_sec < 0)
        cfg->delete_window_sec = defaults.delete_window_sec;
    if (cfg->adopt < 0)
        cfg->adopt = defaults.adopt;
    if (cfg->lease_sec < 0)
        cfg->lease_sec = defaults.lease_sec;
    if (cfg->confirm_sec < 0)
        cfg->confirm_sec = defaults.confirm_sec;
    if (cfg->write_rate <= 0) /* 0 in the file means the default too */
        cfg->write_rate = defaults.write_rate;
    if (cfg->write_burst <= 0)
        cfg->write_burst = defaults.write_burst;
    if (cfg->lease_sec > 0 && cfg->lease_sec < 2 * (int)cfg->resync_sec)
        return err_set(err, -EINVAL, "%s: reconcile.lease: %ds is shorter than two resyncs (%us); "
                       "apps would expire between refreshes", name, cfg->lease_sec, cfg->resync_sec);
    if (cfg->call_timeout_ms == 0)
        cfg->call_timeout_ms = defaults.call_timeout_ms;
    return finish_agent(cfg, name, err);
}

struct enr_config *config_load(const char *path, struct enr_error *err)
{
    struct enr_config *cfg = calloc(1, sizeof(*cfg));
    char *abs = NULL, *dir = NULL;
    /* Messages name the file as the operator wrote it: "config.lua:7: ...". */
    const char *name = path;

    if (cfg == NULL) {
        err_set(err, -ENOMEM, "%s: out of memory", name);
        return NULL;
    }
    /* Unset until the file says otherwise; finish() fills the defaults. */
    cfg->events = cfg->grace_sec = cfg->max_deletes = cfg->max_delete_percent = -1;
    cfg->adopt = cfg->lease_sec = cfg->confirm_sec = cfg->write_rate = cfg->write_burst = -1;
    cfg->delete_window_sec = -1;
    cfg->mode = defaults.mode;
    cfg->policy = defaults.policy;
    if ((abs = realpath(path, NULL)) == NULL) {
        err_set(err, -errno, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if ((dir = strdup(abs)) == NULL) {
        err_set(err, -ENOMEM, "%s: out of memory", name);
        goto fail;
    }
    *strrchr(dir, '/') = '\0'; /* realpath is absolute: there is a '/' */
    cfg->path = abs;
    abs = NULL;
    if (config_decl_run(cfg, path, name, dir[0] != '\0' ? dir : "/", err) < 0)
        goto fail;
    if (finish(cfg, name, err) < 0)
        goto fail;
    free(dir);
    return cfg;
fail:
    free(abs);
    free(dir);
    config_free(cfg);
    return NULL;
}

static int str_differs(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a != b;
    return strcmp(a, b) != 0;
}

size_t config_diff(const struct enr_config *a, const struct enr_config *b, char *buf, size_t size)
{
    return config_diff_kind(a, b, CONFIG_DIFF_ALL, buf, size);
}

size_t config_diff_kind(const struct enr_config *a, const struct enr_config *b, enum config_diff_kind kind,
                        char *buf, size_t size)
{
    /* live: applied by a running daemon on a reload (daemon.c). */
    struct {
        const char *name;
        int differs;
        bool live;
    } f[] = {
        {"owner", str_differs(a->owner, b->owner), false},
        {"docker.host", str_differs(a->docker_host, b->docker_host), false},
        {"docker.cert_path", str_differs(a->docker_cert_path, b->docker_cert_path), false},
        {"teleport.addr", str_differs(a->teleport_addr, b->teleport_addr), false},
        {"teleport.identity", str_differs(a->identity_file, b->identity_file), false},
        {"teleport.server_name", str_differs(a->server_name, b->server_name), false},
        {"teleport.tbot_dir", str_differs(a->tbot_dir, b->tbot_dir), false},
        {"teleport.cluster", str_differs(a->teleport_cluster, b->teleport_cluster), false},
        {"teleport.proxy", a->teleport_proxy != b->teleport_proxy, false},
        {"teleport.call_timeout", a->call_timeout_ms != b->call_timeout_ms, false},
        {"mode", a->mode != b->mode, false},
        {"reconcile.resync", a->resync_sec != b->resync_sec, false},
        {"reconcile.events", a->events != b->events, false},
        {"reconcile.policy", a->policy != b->policy, true},
        {"reconcile.grace", a->grace_sec != b->grace_sec, true},
        {"reconcile.max_deletes", a->max_deletes != b->max_deletes, true},
        {"reconcile.max_delete_percent", a->max_delete_percent != b->max_delete_percent, true},
        {"reconcile.window", a->delete_window_sec != b->delete_window_sec, true},
        {"reconcile.adopt", a->adopt != b->adopt, true},
        {"reconcile.lease", a->lease_sec != b->lease_sec, false},
        {"reconcile.write_rate", a->write_rate != b->write_rate, true},
        {"reconcile.write_burst", a->write_burst != b->write_burst, true},
        {"reconcile.confirm", a->confirm_sec != b->confirm_sec, true},
        {"rules.dir", str_differs(a->rules_dir, b->rules_dir), true},
        {"log.level", str_differs(a->log_level, b->log_level), true},
        {"log.format", str_differs(a->log_format, b->log_format), false},
        {"http.listen", str_differs(a->http_listen, b->http_listen), false},
        {"agent", a->agent_declared != b->agent_declared ||
                  str_differs(a->agent_registration, b->agent_registration) ||
                  str_differs(a->agent_image, b->agent_image) || str_differs(a->agent_version, b->agent_version) ||
                  str_differs(a->agent_addr, b->agent_addr) || a->agent_token_ttl != b->agent_token_ttl ||
                  a->agent_join_timeout != b->agent_join_timeout, false},
    };
    size_t n = 0, used = 0;

    if (size > 0)
        buf[0] = '\0';
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        if (!f[i].differs || (kind == CONFIG_DIFF_LIVE && !f[i].live) ||
            (kind == CONFIG_DIFF_RESTART && f[i].live))
            continue;
        if (used < size) {
            int w = snprintf(buf + used, size - used, "%s%s", n ? ", " : "", f[i].name);
            if (w > 0)
                used += (size_t)w;
        }
        n++;
    }
    return n;
}
