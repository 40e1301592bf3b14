/*
 * agent_manager.h - agent mode: one Teleport Application Service container
 * per app, started and removed safely.
 *
 * For each wanted app (agent_manager_set_desired) the lifecycle is
 *
 *   token   CreateTokenV2, role App, 16 random bytes (RAND_bytes) in hex,
 *           expiring token_ttl from now (never without an expiry), labelled
 *           with the owner, the app, the target and the agent's host id
 *   volume  the agent's data dir, labelled with the owner and the app
 *   create  the container (agent_spec.h): labels, hostname, restart policy
 *           unless-stopped, the target's network; no token in it
 *   upload  a tar with the token (0400) and the chosen host_uuid
 *   start   and wait for an app_server with the agent's host id (the
 *           view's app_server events; a listing while the watch is not live)
 *   joined  DeleteToken: the agent keeps its identity in the volume
 *
 * and an app no longer wanted is removed in this order: the container
 * (stopped and removed), DeleteApplicationServer for its record, the
 * volume, the token if still there.  A failed step, or an agent that does
 * not join within join_timeout, is reported in one line, torn down the
 * same way and retried with the one doubling backoff (base/backoff.h).
 *
 * No duplicates: one record per app name, and nothing is created before
 * the agents already in Docker (containers with the owner label and an app
 * label) are adopted, so a restarted enroller takes over what is running
 * instead of starting it again; volumes of ours that no container uses are
 * removed then, and join tokens with our owner label that no attempt holds
 * and no agent container's host id matches (enroller killed between token
 * and container) are deleted then, after a reconnect to Auth and when
 * Docker lists completely again (GetTokens: token list, read).  Only
 * containers, volumes and tokens listed with the owner label,
 * or created here, are ever removed, and only after a complete Docker
 * listing that no longer wants them.
 */
#ifndef ENR_AGENT_MANAGER_H
#define ENR_AGENT_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "base/error.h"
#include "docker/docker_client.h"
#include "model/resource.h"
#include "teleport/teleport_client.h"

/* Defined here once; config.c's defaults table uses them. */
#define AGENT_MANAGER_DEFAULT_IMAGE "public.ecr.aws/gravitational/teleport-distroless"
#define AGENT_MANAGER_DEFAULT_VERSION "17"
#define AGENT_MANAGER_DEFAULT_TOKEN_TTL_SEC 300
#define AGENT_MANAGER_DEFAULT_JOIN_TIMEOUT_SEC 120
/* ListResources(app_server) while an agent joins and the watch is not live. */
#define AGENT_MANAGER_DEFAULT_POLL_MS 2000

struct agent_manager;

struct agent_manager_config {
    const char *owner;
    const char *image;          /* repository, without the tag */
    const char *version;        /* the tag */
    const char *auth_addr;      /* what agents dial: the Proxy or Auth "host:port" */
    unsigned token_ttl_sec;     /* 0: AGENT_MANAGER_DEFAULT_TOKEN_TTL_SEC */
    unsigned join_timeout_sec;  /* 0: AGENT_MANAGER_DEFAULT_JOIN_TIMEOUT_SEC */
    unsigned poll_ms;           /* app_server listing while an agent joins and the watch is
                                 * not live; 0: AGENT_MANAGER_DEFAULT_POLL_MS */
    unsigned backoff_min_ms;    /* 0: 1000 */
    unsigned backoff_max_ms;    /* 0: 60000 */
};

/* One wanted app and the container it serves (all borrowed for the call). */
struct agent_want {
    const struct resource *app;
    const char *target;         /* container name */
    const char *target_id;
    const char *network;        /* NULL: Docker's default */
};

/* dc and tc are borrowed and must outlive the manager. */
struct agent_manager *agent_manager_new(uv_loop_t *loop, const struct agent_manager_config *cfg,
                                        struct docker_client *dc, struct teleport_client *tc,
                                        struct enr_error *err);
/* Lists the agents already in Docker and adopts them (retried until it
 * succeeds); nothing is created before. */
void agent_manager_start(struct agent_manager *am);
/* The apps wanted now.  With complete (a complete Docker listing and every
 * container's rules known), agents not wanted whose target is not in keep
 * (containers in their grace period, or whose inspect or rules failed) are
 * removed; without it nothing is removed. */
void agent_manager_set_desired(struct agent_manager *am, const struct agent_want *w, size_t n,
                               const char *const *keep, size_t n_keep, bool complete);

/* An app_server appeared (the view's watch, kind app_server, PUT): the
 * agent with that host id has joined. */
void agent_manager_app_server(struct agent_manager *am, const char *app, const char *host_id);
/* Whether the watch delivering agent_manager_app_server is live.  While it
 * is, joins are learnt from it and app_servers are not polled (one listing
 * when it becomes live, for what came before); while it is not, they are
 * listed every poll_ms while an agent joins. */
void agent_manager_set_watch_live(struct agent_manager *am, bool live);

struct agent_manager_stats {
    size_t agents, joining, running;
    unsigned long started, joined, failures, removed;
    unsigned long tokens_collected; /* tokens of attempts cut short, deleted */
};
void agent_manager_get_stats(const struct agent_manager *am, struct agent_manager_stats *out);

/* Stops timers; calls in flight finish without further steps.  Nothing is
 * removed on the way out.  Free after a loop turn. */
void agent_manager_close(struct agent_manager *am);
void agent_manager_free(struct agent_manager *am);

#endif
