/*
 * config.h - the daemon's configuration, read from a declarative Lua file
 * in a closed environment and copied into an immutable struct.
 *
 *     owner    "docker-host-1"
 *     docker   { host = "unix:///run/docker.sock" }
 *     teleport { addr = "auth.example.com:3025", identity = "/var/lib/enroller/identity" }
 *     rules    { dir = "rules" }
 *     reconcile { resync = 60, policy = "sync", grace = 30, max_deletes = 50 }
 *     log      { level = "info" }
 *
 * Relative paths are relative to the config file's directory.
 */
#ifndef ENR_CONFIG_H
#define ENR_CONFIG_H

#include "base/error.h"

struct enr_config {
    char *path;             /* the config file itself */
    char *owner;            /* owner id written as enroller.dev/owner */
    char *docker_host;      /* NULL: $DOCKER_HOST or the default */
    char *docker_cert_path; /* NULL: none */
    char *teleport_addr;    /* "host:port" */
    char *identity_file;    /* absolute path; NULL when tbot_dir is set */
    char *tbot_dir;         /* tbot identity output directory, absolute; NULL when identity is set */
    char *teleport_cluster; /* cluster name for the Proxy ALPN; NULL: from the identity's CA */
    int teleport_proxy;     /* teleport.proxy: 1 Proxy (TLS routing), 0 Auth directly, -1 (nil) auto */
    char *server_name;      /* NULL: teleport.cluster.local */
    char *rules_dir;        /* absolute path */
    char *mode;             /* "dynamic" */
    unsigned resync_sec;    /* default 60 */
    int events;             /* 1 (default): react to Docker events; 0: poll every resync only */
    char *policy;           /* "sync" (default), "upsert-only", "create-only" */
    int grace_sec;          /* a container gone this long loses its apps; default 0 */
    int max_deletes;        /* more deletions than this in one pass: none; default 50 */
    int max_delete_percent; /* ...or than this share of owned apps; default 50 */
    int adopt;              /* 1: take over an unowned app with a wanted name; default 0 */
    int lease_sec;          /* >0: created apps expire unless refreshed; default 0 */
    int write_rate;         /* Auth writes per second (token bucket); default 100 */
    int write_burst;        /* bucket size; default 200 */
    int confirm_sec;        /* report a created app no App Service serves after this; 0: off; default 30 */
    unsigned call_timeout_ms; /* default 10000 */
    char *log_level;        /* "info" */
};

/* Runs the file; on any error returns NULL with err = "config.lua:7: teleport.addr: ...". */
struct enr_config *config_load(const char *path, struct enr_error *err);
void config_free(struct enr_config *cfg);

/* Names the fields that differ between a and b ("teleport.addr, log.level")
 * into buf (cut to size) and returns how many differ.  The daemon uses it on
 * a config reload: rules.dir and log.level apply at once, the rest need a
 * restart. */
size_t config_diff(const struct enr_config *a, const struct enr_config *b, char *buf, size_t size);

#endif
