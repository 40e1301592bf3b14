/*
 * config.h - the daemon's configuration, read from a declarative Lua file
 * in a closed environment and copied into an immutable struct.
 *
 *     owner    "docker-host-1"
 *     docker   { host = "unix:///run/docker.sock" }
 *     teleport { addr = "auth.example.com:3025", identity = "/var/lib/enroller/identity" }
 *     rules    { dir = "rules" }
 *     reconcile { resync = 60, policy = "sync", grace = 60, max_deletes = 50, window = 60 }
 *     log      { level = "info" }
 *     http     { listen = "127.0.0.1:9464" }
 *
 * Relative paths are relative to the config file's directory.  Every
 * default is in one place: the defaults table in config.c.
 */
#ifndef ENR_CONFIG_H
#define ENR_CONFIG_H

#include "base/error.h"

/* mode "dynamic" | "dry-run" */
enum config_mode {
    CONFIG_MODE_DYNAMIC, /* keep Teleport in step with Docker */
    CONFIG_MODE_DRY_RUN, /* as dynamic, but log each write instead of making it */
};

/* reconcile { policy = "sync" | "upsert-only" | "create-only" } */
enum config_policy {
    CONFIG_POLICY_SYNC,        /* create, update and delete */
    CONFIG_POLICY_UPSERT_ONLY, /* create and update, never delete */
    CONFIG_POLICY_CREATE_ONLY, /* create only */
};

/* The words as written in the config file ("dry-run", "upsert-only");
 * NULL past the last value, so the words can be listed.  They are defined
 * in config_decl.c, which reads them. */
const char *config_mode_name(enum config_mode mode);
const char *config_policy_name(enum config_policy policy);

/* Every field is set after config_load(): what the file does not say comes
 * from the defaults table in config.c. */
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
    enum config_mode mode;
    unsigned resync_sec;    /* resync (listing) period */
    int events;             /* 1: react to Docker events; 0: poll every resync only */
    enum config_policy policy;
    int grace_sec;          /* a container gone this long loses its apps */
    int max_deletes;        /* more deletions than this in one pass: none */
    int max_delete_percent; /* ...or than this share of owned apps */
    int delete_window_sec;  /* reconcile.window: no more than max_deletes within any window this long; 0: per pass */
    int adopt;              /* 1: take over an unowned app with a wanted name */
    int lease_sec;          /* >0: created apps expire unless refreshed */
    int write_rate;         /* Auth writes per second (token bucket) */
    int write_burst;        /* bucket size */
    int confirm_sec;        /* report a created app no App Service serves after this; 0: off */
    unsigned call_timeout_ms; /* per Teleport call */
    char *log_level;        /* "debug", "info", "warn", "error" */
    char *log_format;       /* "text" or "json" (one JSON object per line) */
    char *http_listen;      /* the operations listener ("127.0.0.1:9464"); NULL: off */
    /* agent { registration = "agent", image = ..., version = ..., addr = ...,
     * token_ttl = "5m", join_timeout = "2m" }: agent mode.  Declared or not,
     * every field is set after config_load; agent_declared says whether the
     * block was there (no block: dynamic registration only). */
    int agent_declared;
    char *agent_registration; /* "dynamic" (default) | "agent": every app through an agent */
    char *agent_image;        /* repository of the agent image */
    char *agent_version;      /* its tag */
    char *agent_addr;         /* what agents dial (Proxy or Auth); default teleport.addr */
    unsigned agent_token_ttl; /* seconds a join token lives */
    unsigned agent_join_timeout; /* seconds an agent may take to join */
};

/* Runs the file; on any error returns NULL with err = "config.lua:7: teleport.addr: ...". */
struct enr_config *config_load(const char *path, struct enr_error *err);
void config_free(struct enr_config *cfg);

/* Names the fields that differ between a and b ("teleport.addr, log.level")
 * into buf (cut to size) and returns how many differ. */
size_t config_diff(const struct enr_config *a, const struct enr_config *b, char *buf, size_t size);

/* Which fields config_diff_kind compares: all of them, those a running
 * daemon applies on a reload (rules.dir, log.level, reconcile.policy, grace,
 * max_deletes, max_delete_percent, window, adopt, write_rate, write_burst,
 * confirm), or those that need a restart (every other one). */
enum config_diff_kind { CONFIG_DIFF_ALL, CONFIG_DIFF_LIVE, CONFIG_DIFF_RESTART };
size_t config_diff_kind(const struct enr_config *a, const struct enr_config *b, enum config_diff_kind kind,
                        char *buf, size_t size);

#endif
