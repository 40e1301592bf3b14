/*
 * agent_manager.c - see agent_manager.h: one record per app, one step in
 * flight per record, and advance() deciding the next step from the record's
 * facts (what exists: token, volume, container, app_server) and wishes
 * (wanted, torn down for a retry).
 */
#include "agent/agent_manager.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_spec.h"
#include "base/backoff.h"
#include "base/log.h"
#include "base/strmap.h"
#include "docker/docker_containers.h"
#include "docker/docker_libarchive.h"
#include "net/grpc_frame.h"

#define LOG_AGENT "agent"
#define TOKEN_BYTES 16
#define DEADLINE_CHECK_MIN_MS 100

enum agent_state {
    A_IDLE,      /* nothing of an attempt exists (or only what adoption found) */
    A_STARTING,  /* token -> volume -> create -> upload -> start in progress */
    A_JOINING,   /* started, waiting for its app_server */
    A_RUNNING,   /* joined; token deleted (or being deleted) */
};

struct agent {
    struct agent_manager *am;
    char *app;                  /* key */
    struct resource want;       /* the app as wanted (valid when wanted) */
    char *target, *target_id, *network;
    bool wanted;                /* the last desired set has it */
    bool unwanted;              /* a complete desired set does not: remove it (adopted
                                 * records are neither until the first set) */
    bool teardown;              /* remove what exists, then retry (failure, timeout, new spec) */
    bool failed;                /* the teardown follows a failure: back off before the retry */
    bool busy;                  /* a call is in flight */
    bool waiting;               /* the backoff timer runs: nothing until it fires */
    bool removing;              /* being removed because no longer wanted */
    enum agent_state state;
    /* Facts. */
    char *token;                /* the join token while it may exist in Teleport (secret) */
    bool volume;                /* our volume exists */
    char *container_id;         /* our container exists */
    char host_id[40];           /* "" until chosen or adopted */
    bool app_server_seen;
    uint64_t join_deadline;     /* loop ms */
    struct backoff backoff;
    uv_timer_t timer;           /* backoff before a retry */
    bool timer_open;
};

struct agent_manager {
    uv_loop_t *loop;
    struct agent_manager_config cfg;
    char *owner, *image, *auth_addr;
    struct docker_client *dc;
    struct teleport_client *tc;
    struct strmap agents;       /* app name -> struct agent */
    bool adopted;               /* the agents in Docker are known */
    bool adopting;
    bool closing;
    bool polling;               /* ListResources(app_server) in flight */
    bool watch_live;            /* app_server events come (agent_manager_set_watch_live) */
    /* Join tokens left by attempts cut short (GetTokens). */
    bool sweeping;              /* GetTokens in flight */
    bool sweep_due;             /* a sweep failed: again at the next chance (after sweep_after) */
    bool sweep_denied;          /* GetTokens refused: again only after a reconnect */
    bool docker_complete;       /* the last desired set came from a complete listing */
    unsigned sweep_connects;    /* Auth connections opened when the last sweep answered */
    uint64_t sweep_after;       /* loop ms: no sweep before */
    struct backoff sweep_backoff;
    char **orphans;             /* tokens to delete, one at a time (secrets: wiped) */
    char **orphan_apps;
    size_t n_orphans, next_orphan;
    uv_timer_t poll_timer, adopt_timer;
    struct backoff adopt_backoff;
    struct backoff_rng rng;
    struct agent_manager_stats stats;
};

static void advance(struct agent *a);
static void sweep_tokens(struct agent_manager *am);

/* ---- records --------------------------------------------------------------------- */

static void wipe_token(struct agent *a)
{
    if (a->token != NULL) {
        OPENSSL_cleanse(a->token, strlen(a->token));
        free(a->token);
        a->token = NULL;
    }
}

static void agent_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void agent_free(struct agent *a)
{
    if (a == NULL)
        return;
    wipe_token(a);
    resource_cleanup(&a->want);
    free(a->app);
    free(a->target);
    free(a->target_id);
    free(a->network);
    free(a->container_id);
    if (a->timer_open) {
        a->timer.data = a;
        uv_close((uv_handle_t *)&a->timer, agent_timer_closed);
    } else {
        free(a);
    }
}

static struct agent *agent_get(struct agent_manager *am, const char *app)
{
    struct agent *a = strmap_get(&am->agents, app);

    if (a != NULL)
        return a;
    if ((a = calloc(1, sizeof(*a))) == NULL || (a->app = strdup(app)) == NULL ||
        resource_init(&a->want) < 0 || strmap_put(&am->agents, app, a, NULL) < 0) {
        if (a != NULL) {
            resource_cleanup(&a->want);
            free(a->app);
            free(a);
        }
        return NULL;
    }
    a->am = am;
    backoff_init(&a->backoff, am->cfg.backoff_min_ms, am->cfg.backoff_max_ms);
    if (uv_timer_init(am->loop, &a->timer) == 0)
        a->timer_open = true;
    a->timer.data = a;
    return a;
}

static int set_str(char **field, const char *v)
{
    char *copy = strdup(v ? v : "");
    if (copy == NULL)
        return -ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

static void retry_cb(uv_timer_t *t)
{
    struct agent *a = t->data;
    a->waiting = false;
    if (!a->am->closing)
        advance(a);
}

/* Waits by the record's backoff, then advances again. */
static void retry_later(struct agent *a)
{
    uint64_t wait = backoff_next(&a->backoff, &a->am->rng);
    a->waiting = true;
    log_debug(LOG_AGENT, "agent for app %s: next try in %llu ms", a->app, (unsigned long long)wait);
    uv_timer_start(&a->timer, retry_cb, wait, 0);
}

/* A failed removal step (or token deletion): one line, retried later. */
static void removal_failed(struct agent *a, const char *step, const struct enr_error *err)
{
    a->am->stats.failures++;
    log_warn(LOG_AGENT, "agent for app %s: %s: %s; retrying", a->app, step, err->msg);
    if (a->teardown)
        a->failed = true;
    retry_later(a);
}

/* A failed step: one line, then tear down and retry with backoff. */
static void fail_step(struct agent *a, const char *step, const struct enr_error *err)
{
    a->am->stats.failures++;
    log_warn(LOG_AGENT, "agent for app %s: %s: %s; removing what was made and retrying", a->app, step,
             err->msg);
    a->teardown = a->failed = true;
    advance(a);
}

/* ---- random token and host id -------------------------------------------------------------- */

static int new_secrets(struct agent *a, struct enr_error *err)
{
    unsigned char b[TOKEN_BYTES], u[16];
    char hex[2 * TOKEN_BYTES + 1];

    if (RAND_bytes(b, sizeof(b)) != 1 || RAND_bytes(u, sizeof(u)) != 1)
        return err_set(err, -EIO, "RAND_bytes failed");
    for (size_t i = 0; i < sizeof(b); i++)
        snprintf(hex + 2 * i, 3, "%02x", b[i]);
    OPENSSL_cleanse(b, sizeof(b));
    wipe_token(a);
    a->token = strdup(hex);
    OPENSSL_cleanse(hex, sizeof(hex));
    if (a->token == NULL)
        return err_set(err, -ENOMEM, "out of memory");
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* a version 4 UUID, as Teleport makes */
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    snprintf(a->host_id, sizeof(a->host_id),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3],
             u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
    return 0;
}

/* ---- step completions ------------------------------------------------------------------------ */

static bool settle(struct agent *a)
{
    a->busy = false;
    return !a->am->closing;
}

static void token_created(void *ud, const struct enr_error *err)
{
    struct agent *a = ud;
    if (!settle(a))
        return;
    if (err != NULL) {
        /* kept: a call that timed out may have made it; the teardown's
         * DeleteToken finds it or gets NOT_FOUND */
        fail_step(a, "join token", err);
        return;
    }
    advance(a);
}

static void volume_created(void *ud, const struct enr_error *err)
{
    struct agent *a = ud;
    if (!settle(a))
        return;
    if (err != NULL) {
        fail_step(a, "volume", err);
        return;
    }
    a->volume = true;
    advance(a);
}

/* After a create that found the name taken: is it our own container (a
 * create that timed out here but happened in Docker)?  Then the teardown
 * removes it; anything else keeps being left alone. */
static void name_owner_listed(void *ud, const struct enr_error *err, const struct docker_containers_entry *items,
                              size_t n)
{
    struct agent *a = ud;
    if (!settle(a))
        return;
    for (size_t i = 0; err == NULL && i < n && a->container_id == NULL; i++) {
        const char *owner = kv_get(&items[i].labels, AGENT_LABEL_OWNER);
        const char *app = kv_get(&items[i].labels, AGENT_LABEL_APP);
        if (owner != NULL && strcmp(owner, a->am->owner) == 0 && app != NULL && strcmp(app, a->app) == 0 &&
            set_str(&a->container_id, items[i].id) == 0)
            log_info(LOG_AGENT, "agent for app %s: container %.12s is ours, from an earlier attempt; removing it",
                     a->app, items[i].id);
    }
    advance(a);
}

static void container_created(void *ud, const struct enr_error *err, const char *id)
{
    struct agent *a = ud;
    if (!settle(a))
        return;
    if (err != NULL) {
        struct enr_error e = {0};
        char label[320];
        a->am->stats.failures++;
        log_warn(LOG_AGENT, "agent for app %s: create container: %s; removing what was made and retrying",
                 a->app, err->msg);
        a->teardown = a->failed = true;
        snprintf(label, sizeof(label), "%s=%s", AGENT_LABEL_APP, a->app);
        if (err->code == -EEXIST || err->code == -ETIMEDOUT) {
            a->busy = true;
            if (docker_containers_list(a->am->dc, label, name_owner_listed, a, &e) == 0)
                return;
            a->busy = false;
        }
        advance(a);
        return;
    }
    if (set_str(&a->container_id, id) < 0) {
        struct enr_error e;
        err_set(&e, -ENOMEM, "out of memory");
        fail_step(a, "create container", &e);
        return;
    }
    advance(a);
}

static void uploaded(void *ud, const struct enr_error *err);
static void started(void *ud, const struct enr_error *err);

static void uploaded(void *ud, const struct enr_error *err)
{
    struct agent *a = ud;
    struct enr_error e = {0};
    if (!settle(a))
        return;
    if (err != NULL) {
        fail_step(a, "upload the token file", err);
        return;
    }
    if (a->unwanted || a->teardown) {
        advance(a);
        return;
    }
    a->busy = true;
    if (docker_containers_start(a->am->dc, a->container_id, started, a, &e) < 0) {
        a->busy = false;
        fail_step(a, "start", &e);
    }
}

static void await_join(struct agent_manager *am);

static void started(void *ud, const struct enr_error *err)
{
    struct agent *a = ud;
    if (!settle(a))
        return;
    if (err != NULL) {
        fail_step(a, "start", err);
        return;
    }
    a->am->stats.started++;
    a->state = A_JOINING;
    a->join_deadline = uv_now(a->am->loop) + (uint64_t)a->am->cfg.join_timeout_sec * 1000;
    log_info(LOG_AGENT, "agent for app %s started (container %.12s, host id %s); waiting for it to join",
             a->app, a->container_id, a->host_id);
    await_join(a->am);
    advance(a);
}

static void token_deleted(void *ud, const struct enr_error *err)
{
    struct agent *a = ud;
    if (!settle(a))
        return;
    if (err != NULL && !(err->code == ENR_EGRPC && err->grpc_status == GRPC_STATUS_NOT_FOUND)) {
        removal_failed(a, "delete its join token", err);
        return;
    }
    wipe_token(a);
    advance(a);
}

static void removed_container(void *ud, const struct enr_error *err)
{
    struct agent *a = ud;
    if (!settle(a))
        return;
    if (err != NULL && err->code != ENR_ENOTFOUND) {
        removal_failed(a, "remove the agent container", err);
        return;
    }
    free(a->container_id);
    a->container_id = NULL;
    advance(a);
}

static void removed_app_server(void *ud, const struct enr_error *err)
{
    struct agent *a = ud;
    if (!settle(a))
        return;
    if (err != NULL && !(err->code == ENR_EGRPC && err->grpc_status == GRPC_STATUS_NOT_FOUND)) {
        removal_failed(a, "DeleteApplicationServer", err);
        return;
    }
    a->app_server_seen = false;
    a->host_id[0] = '\0';
    advance(a);
}

static void removed_volume(void *ud, const struct enr_error *err)
{
    struct agent *a = ud;
    if (!settle(a))
        return;
    if (err != NULL && err->code != ENR_ENOTFOUND) {
        removal_failed(a, "remove the agent volume", err);
        return;
    }
    a->volume = false;
    advance(a);
}

/* ---- the state machine ----------------------------------------------------------------------- */

/* Next creation step; returns after queuing one call (busy) or failing. */
static void create_step(struct agent *a)
{
    struct agent_manager *am = a->am;
    struct enr_error err = {0};
    char image[512], container[256], volume[256], hostname[64];
    struct agent_spec spec = {.owner = am->owner, .app = a->app, .uri = a->want.uri, .labels = &a->want.labels,
                              .target = a->target, .target_id = a->target_id, .image = image,
                              .auth_addr = am->auth_addr, .network = a->network, .host_id = a->host_id};
    static const char *const roles[] = {"App"};

    snprintf(image, sizeof(image), "%s:%s", am->image, am->cfg.version);
    agent_spec_names(a->app, container, sizeof(container), volume, sizeof(volume), hostname, sizeof(hostname));
    a->state = A_STARTING;
    a->busy = true;
    if (a->token == NULL) {
        /* Labelled with the owner, the app, the target and the host id, so
         * that a token whose agent never came to exist is collected
         * (sweep_tokens). */
        struct kv_list labels;
        int rc;
        kv_init(&labels);
        rc = new_secrets(a, &err);
        if (rc == 0 && agent_spec_token_labels(&spec, &labels) < 0)
            rc = err_set(&err, -ENOMEM, "out of memory");
        if (rc == 0)
            rc = teleport_client_create_token(am->tc, a->token, roles, 1, am->cfg.token_ttl_sec, &labels,
                                              token_created, a, &err);
        kv_cleanup(&labels);
        if (rc < 0) {
            a->busy = false;
            wipe_token(a);
            fail_step(a, "join token", &err);
        }
        return;
    }
    if (!a->volume) {
        struct kv_list labels;
        int rc;
        kv_init(&labels);
        rc = agent_spec_volume_labels(&spec, &labels) < 0
                 ? err_set(&err, -ENOMEM, "out of memory")
                 : docker_containers_volume_create(am->dc, volume, &labels, volume_created, a, &err);
        kv_cleanup(&labels);
        if (rc < 0) {
            a->busy = false;
            fail_step(a, "volume", &err);
        }
        return;
    }
    if (a->container_id == NULL) {
        char *body = agent_spec_create_body(&spec, &err);
        int rc = body == NULL ? -1 : docker_containers_create(am->dc, container, body, container_created, a, &err);
        free(body);
        if (rc < 0) {
            a->busy = false;
            fail_step(a, "create container", &err);
        }
        return;
    }
    /* The token and the host id, into the created container. */
    {
        const struct docker_containers_file files[] = {
            {&AGENT_SPEC_TOKEN_PATH[1], a->token, strlen(a->token), 0400},
            {&AGENT_SPEC_DATA_DIR "/host_uuid"[1], a->host_id, strlen(a->host_id), 0400},
        };
        void *tar = NULL;
        size_t len = 0;
        int rc = docker_containers_tar(files, 2, &tar, &len, &err);
        if (rc == 0)
            rc = docker_containers_upload(am->dc, a->container_id, "/", tar, len, uploaded, a, &err);
        if (tar != NULL) {
            OPENSSL_cleanse(tar, len);
            free(tar);
        }
        if (rc < 0) {
            a->busy = false;
            fail_step(a, "upload the token file", &err);
        }
    }
}

/* Next removal step, in order: container, app_server, volume, token.
 * Returns true while something was queued. */
static bool remove_step(struct agent *a)
{
    struct agent_manager *am = a->am;
    struct enr_error err = {0};
    char container[256], volume[256], hostname[64];
    int rc;

    agent_spec_names(a->app, container, sizeof(container), volume, sizeof(volume), hostname, sizeof(hostname));
    a->busy = true;
    if (a->container_id != NULL) {
        if ((rc = docker_containers_remove(am->dc, a->container_id, removed_container, a, &err)) == 0)
            return true;
    } else if (a->host_id[0] != '\0' && (a->state != A_STARTING || a->app_server_seen)) {
        if ((rc = teleport_client_delete_app_server(am->tc, a->host_id, a->app, removed_app_server, a, &err)) == 0)
            return true;
    } else if (a->volume) {
        if ((rc = docker_containers_volume_remove(am->dc, volume, removed_volume, a, &err)) == 0)
            return true;
    } else if (a->token != NULL) {
        if ((rc = teleport_client_delete_token(am->tc, a->token, token_deleted, a, &err)) == 0)
            return true;
    } else {
        a->busy = false;
        a->host_id[0] = '\0';
        return false;
    }
    a->busy = false;
    removal_failed(a, "removal", &err);
    return false;
}

static void advance(struct agent *a)
{
    struct agent_manager *am = a->am;

    if (a->busy || a->waiting || am->closing || !am->adopted)
        return;
    if (a->unwanted || a->teardown) {
        if (a->unwanted)
            a->removing = true;
        if (remove_step(a) || a->waiting)
            return;
        if (!a->wanted) {
            log_info(LOG_AGENT, "agent for app %s removed (container, app_server, volume, token)", a->app);
            am->stats.removed++;
            strmap_del(&am->agents, a->app);
            agent_free(a);
            return;
        }
        a->teardown = a->removing = false;
        a->state = A_IDLE;
        a->app_server_seen = false;
        if (a->failed) {
            a->failed = false;
            retry_later(a);
            return;
        }
    }
    switch (a->state) {
    case A_IDLE:
    case A_STARTING:
        create_step(a);
        break;
    case A_JOINING:
        if (a->app_server_seen) {
            a->state = A_RUNNING;
            am->stats.joined++;
            backoff_reset(&a->backoff);
            log_info(LOG_AGENT, "agent for app %s joined (host id %s)%s", a->app, a->host_id,
                     a->token ? "; deleting its join token" : "");
            advance(a);
        } else if (uv_now(am->loop) >= a->join_deadline) {
            struct enr_error e;
            err_set(&e, -ETIMEDOUT, "no app_server from host %s within %u s", a->host_id,
                    am->cfg.join_timeout_sec);
            fail_step(a, "join", &e);
        }
        break;
    case A_RUNNING:
        if (a->token != NULL) {
            struct enr_error err = {0};
            a->busy = true;
            if (teleport_client_delete_token(am->tc, a->token, token_deleted, a, &err) < 0) {
                a->busy = false;
                removal_failed(a, "delete its join token", &err);
            }
        }
        break;
    }
}

/* ---- joining: app_servers -------------------------------------------------------------------- */

/* While the view's watch is live an agent's join is learnt from its
 * app_server event (agent_manager_app_server) and the timer only checks the
 * join deadlines; while it is not, ListResources(app_server) every poll_ms.
 * A listing is also asked for once when the watch becomes live and after
 * adoption (events from before are not replayed), and at a join deadline. */

static void poll_timer_cb(uv_timer_t *t);

/* Agents started and waiting for their app_server (not those being torn
 * down: their steps drive them). */
static bool any_joining(struct agent_manager *am, uint64_t *first_deadline)
{
    size_t it = 0;
    void *v;
    bool joining = false;

    while (strmap_next(&am->agents, &it, NULL, &v)) {
        const struct agent *a = v;
        if (a->state != A_JOINING || a->teardown || a->unwanted)
            continue;
        if (first_deadline != NULL && (!joining || a->join_deadline < *first_deadline))
            *first_deadline = a->join_deadline;
        joining = true;
    }
    return joining;
}

/* The next poll (watch not live) or deadline check (live), while an agent joins. */
static void schedule_poll(struct agent_manager *am)
{
    uint64_t first = 0, now = uv_now(am->loop);

    if (am->closing || am->polling || !any_joining(am, &first))
        return;
    if (am->watch_live) /* not before DEADLINE_CHECK_MIN_MS: never a busy loop */
        uv_timer_start(&am->poll_timer, poll_timer_cb,
                       first > now + DEADLINE_CHECK_MIN_MS ? first - now : DEADLINE_CHECK_MIN_MS, 0);
    else
        uv_timer_start(&am->poll_timer, poll_timer_cb, am->cfg.poll_ms, 0);
}

static void advance_joining(struct agent_manager *am)
{
    size_t it = 0;
    void *v;

    /* advance may free the record (strmap_next allows deleting the current key) */
    for (it = 0; strmap_next(&am->agents, &it, NULL, &v);)
        if (((struct agent *)v)->state == A_JOINING && !((struct agent *)v)->busy)
            advance(v);
}

static void app_servers_listed(void *ud, const struct enr_error *err, struct resource_list *items)
{
    struct agent_manager *am = ud;
    size_t it = 0;
    void *v;

    am->polling = false;
    if (am->closing)
        return;
    if (err != NULL)
        log_debug(LOG_AGENT, "ListResources(app_server): %s", err->msg);
    while (strmap_next(&am->agents, &it, NULL, &v)) {
        struct agent *a = v;
        if (a->state != A_JOINING)
            continue;
        for (size_t i = 0; err == NULL && i < items->len; i++)
            if (strcmp(items->items[i].container_id, a->host_id) == 0 && strcmp(items->items[i].name, a->app) == 0)
                a->app_server_seen = true;
    }
    advance_joining(am);
    schedule_poll(am);
}

static void poll_app_servers(struct agent_manager *am)
{
    struct enr_error err = {0};

    if (am->polling || am->closing)
        return;
    uv_timer_stop(&am->poll_timer);
    if (teleport_client_list_app_servers(am->tc, NULL, app_servers_listed, am, &err) < 0) {
        log_debug(LOG_AGENT, "ListResources(app_server): %s", err.msg);
        uv_timer_start(&am->poll_timer, poll_timer_cb, am->cfg.poll_ms, 0);
        return;
    }
    am->polling = true;
}

static void poll_timer_cb(uv_timer_t *t)
{
    struct agent_manager *am = t->data;
    uint64_t first = 0;

    /* Not live: poll.  Live: at a join deadline, one listing decides (an
     * event the watch did not deliver, e.g. a kind it left out, does not
     * fail a join that happened); otherwise nothing to do yet. */
    if (!am->watch_live || (any_joining(am, &first) && first <= uv_now(am->loop))) {
        poll_app_servers(am);
        return;
    }
    advance_joining(am);
    schedule_poll(am);
}

/* An agent just started: wait for its app_server. */
static void await_join(struct agent_manager *am)
{
    if (am->watch_live)
        schedule_poll(am);
    else
        poll_app_servers(am);
}

/* ---- adoption -------------------------------------------------------------------------------- */

static void adopt_timer_cb(uv_timer_t *t);

static void adopt_retry(struct agent_manager *am, const char *what, const struct enr_error *err)
{
    uint64_t wait = backoff_next(&am->adopt_backoff, &am->rng);
    am->adopting = false;
    log_warn(LOG_AGENT, "listing the agents in Docker (%s): %s; nothing is started before it succeeds, "
             "retrying in %llu ms", what, err->msg, (unsigned long long)wait);
    uv_timer_start(&am->adopt_timer, adopt_timer_cb, wait, 0);
}

static void volumes_listed(void *ud, const struct enr_error *err, const char *const *names, size_t n)
{
    struct agent_manager *am = ud;
    size_t it = 0;
    void *v;

    if (am->closing)
        return;
    if (err != NULL) {
        adopt_retry(am, "volumes", err);
        return;
    }
    /* A volume of ours whose app has no container is left from an attempt
     * cut short (enroller killed between volume and container): give it to
     * a record without container, which removes it unless wanted. */
    for (size_t i = 0; i < n; i++) {
        const char *p = strncmp(names[i], "enroller-agent-", 15) == 0 ? names[i] + 15 : NULL;
        size_t len = p ? strlen(p) : 0;
        char app[256];
        struct agent *a;
        if (p == NULL || len <= 5 || len - 5 >= sizeof(app) || strcmp(p + len - 5, "-data") != 0)
            continue;
        memcpy(app, p, len - 5);
        app[len - 5] = '\0';
        if ((a = agent_get(am, app)) == NULL)
            continue;
        if (a->container_id == NULL) {
            a->volume = true;
            a->teardown = true; /* a fresh start: the volume goes first */
        } else {
            a->volume = true;
        }
    }
    am->adopting = false;
    am->adopted = true;
    log_info(LOG_AGENT, "%zu agent(s) found in Docker", am->agents.len);
    for (it = 0; strmap_next(&am->agents, &it, NULL, &v);)
        advance(v);
    poll_app_servers(am);
    sweep_tokens(am);
}

static void containers_listed(void *ud, const struct enr_error *err, const struct docker_containers_entry *items,
                              size_t n)
{
    struct agent_manager *am = ud;
    char label[320];
    struct enr_error e = {0};

    if (am->closing)
        return;
    if (err != NULL) {
        adopt_retry(am, "containers", err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *app = kv_get(&items[i].labels, AGENT_LABEL_APP);
        const char *hid = kv_get(&items[i].labels, AGENT_LABEL_HOST_ID);
        struct agent *a;
        if (app == NULL || (a = agent_get(am, app)) == NULL)
            continue;
        if (a->container_id != NULL) {
            /* two containers for one app (cannot come from this code, but
             * might from a copy): the second one is torn down too */
            a->teardown = true;
            continue;
        }
        if (set_str(&a->container_id, items[i].id) < 0)
            continue;
        snprintf(a->host_id, sizeof(a->host_id), "%s", hid ? hid : "");
        if (set_str(&a->target, kv_get(&items[i].labels, AGENT_LABEL_TARGET)) < 0 ||
            set_str(&a->target_id, kv_get(&items[i].labels, AGENT_LABEL_TARGET_ID)) < 0)
            continue;
        if (strcmp(items[i].state, "running") == 0 || strcmp(items[i].state, "restarting") == 0) {
            a->state = A_JOINING;
            a->join_deadline = uv_now(am->loop) + (uint64_t)am->cfg.join_timeout_sec * 1000;
            log_info(LOG_AGENT, "adopted agent for app %s (container %.12s, %s)", app, items[i].id,
                     items[i].state);
        } else {
            /* created but never started (cut short), or stopped: its token
             * is unknown; start again from nothing */
            log_info(LOG_AGENT, "agent for app %s found %s; replacing it", app, items[i].state);
            a->teardown = true;
        }
    }
    snprintf(label, sizeof(label), "%s=%s", AGENT_LABEL_OWNER, am->owner);
    if (docker_containers_volumes(am->dc, label, volumes_listed, am, &e) < 0)
        adopt_retry(am, "volumes", &e);
}

static void adopt(struct agent_manager *am)
{
    char label[320];
    struct enr_error err = {0};

    if (am->adopting || am->adopted || am->closing)
        return;
    snprintf(label, sizeof(label), "%s=%s", AGENT_LABEL_OWNER, am->owner);
    am->adopting = true;
    if (docker_containers_list(am->dc, label, containers_listed, am, &err) < 0)
        adopt_retry(am, "containers", &err);
}

static void adopt_timer_cb(uv_timer_t *t)
{
    adopt(t->data);
}

/* ---- join tokens left by attempts cut short ------------------------------------------------- */

/* A token enroller created carries the owner, app and host id labels
 * (agent_spec_token_labels).  One whose attempt no longer exists (enroller
 * was killed between the token and the agent container) is deleted here:
 * at start once the agents in Docker are adopted, and again after a
 * reconnect to Auth or a Docker listing that is complete again.  A token is
 * kept while a record holds it (a start in flight, or a teardown that will
 * delete it) or an agent container with its host id exists; such an
 * adopted agent's token is taken over, so it is deleted once it joined.
 * A token without our owner label is never touched. */

static void orphans_clear(struct agent_manager *am)
{
    for (size_t i = 0; i < am->n_orphans; i++) {
        if (am->orphans[i] != NULL) {
            OPENSSL_cleanse(am->orphans[i], strlen(am->orphans[i]));
            free(am->orphans[i]);
        }
        free(am->orphan_apps[i]);
    }
    free(am->orphans);
    free(am->orphan_apps);
    am->orphans = am->orphan_apps = NULL;
    am->n_orphans = am->next_orphan = 0;
}

static void delete_next_orphan(struct agent_manager *am);

static void orphan_deleted(void *ud, const struct enr_error *err)
{
    struct agent_manager *am = ud;
    const char *app = am->orphan_apps[am->next_orphan];

    if (am->closing)
        return;
    if (err != NULL && !(err->code == ENR_EGRPC && err->grpc_status == GRPC_STATUS_NOT_FOUND)) {
        am->stats.failures++;
        am->sweep_due = true;
        log_warn(LOG_AGENT, "join token of an attempt cut short (app %s): DeleteToken: %s; retrying later", app,
                 err->msg);
    } else if (err == NULL) {
        am->stats.tokens_collected++;
        log_info(LOG_AGENT, "deleted the join token of an attempt cut short (app %s)", app);
    }
    am->next_orphan++;
    delete_next_orphan(am);
}

static void delete_next_orphan(struct agent_manager *am)
{
    struct enr_error err = {0};

    while (am->next_orphan < am->n_orphans) {
        if (teleport_client_delete_token(am->tc, am->orphans[am->next_orphan], orphan_deleted, am, &err) == 0)
            return;
        am->stats.failures++;
        am->sweep_due = true;
        log_warn(LOG_AGENT, "join token of an attempt cut short (app %s): DeleteToken: %s; retrying later",
                 am->orphan_apps[am->next_orphan], err.msg);
        am->next_orphan++;
    }
    orphans_clear(am);
    am->sweeping = false;
}

/* Whether token name (host id label hid) belongs to an attempt that exists;
 * an adopted agent's token is taken over. */
static bool token_in_use(struct agent_manager *am, const char *name, const char *hid)
{
    size_t it = 0;
    void *v;

    while (strmap_next(&am->agents, &it, NULL, &v)) {
        struct agent *a = v;
        if (a->token != NULL && strcmp(a->token, name) == 0)
            return true;
        if (hid != NULL && hid[0] != '\0' && strcmp(a->host_id, hid) == 0 && a->container_id != NULL) {
            if (a->token == NULL)
                a->token = strdup(name); /* deleted once it joined (or with the agent) */
            return true;
        }
    }
    return false;
}

static void tokens_listed(void *ud, const struct enr_error *err, struct resource_list *items)
{
    struct agent_manager *am = ud;
    size_t it = 0, n = 0;
    void *v;

    if (am->closing)
        return;
    if (err != NULL) {
        bool denied = err->code == ENR_EGRPC && err->grpc_status == GRPC_STATUS_PERMISSION_DENIED;
        am->sweeping = false;
        am->stats.failures++;
        if (denied) {
            am->sweep_denied = true;
            am->sweep_due = false;
            am->sweep_connects = teleport_client_n_connects(am->tc);
        } else {
            am->sweep_due = true;
            am->sweep_after = uv_now(am->loop) + backoff_next(&am->sweep_backoff, &am->rng);
        }
        log_warn(LOG_AGENT, "listing join tokens (GetTokens): %s; %s", err->msg,
                 denied ? "tokens of attempts cut short expire by themselves (the role needs token list, read)"
                        : "retrying later");
        return;
    }
    am->sweep_due = am->sweep_denied = false;
    am->sweep_connects = teleport_client_n_connects(am->tc);
    backoff_reset(&am->sweep_backoff);
    if ((am->orphans = calloc(items->len + 1, sizeof(*am->orphans))) == NULL ||
        (am->orphan_apps = calloc(items->len + 1, sizeof(*am->orphan_apps))) == NULL) {
        orphans_clear(am);
        am->sweeping = false;
        am->sweep_due = true;
        return;
    }
    for (size_t i = 0; i < items->len; i++) {
        const struct resource *t = &items->items[i];
        const char *owner = kv_get(&t->labels, AGENT_LABEL_OWNER);
        const char *app = kv_get(&t->labels, AGENT_LABEL_APP);
        if (owner == NULL || strcmp(owner, am->owner) != 0 || app == NULL)
            continue; /* not ours: never touched */
        if (token_in_use(am, t->name, kv_get(&t->labels, AGENT_LABEL_HOST_ID)))
            continue;
        if ((am->orphans[n] = strdup(t->name)) == NULL || (am->orphan_apps[n] = strdup(app)) == NULL) {
            am->n_orphans = n + 1;
            orphans_clear(am);
            am->sweeping = false;
            am->sweep_due = true;
            return;
        }
        n++;
    }
    am->n_orphans = n;
    if (n > 0)
        log_info(LOG_AGENT, "%zu join token(s) of attempts cut short; deleting them", n);
    /* Adopted agents that joined already delete the token just taken over. */
    for (it = 0; strmap_next(&am->agents, &it, NULL, &v);)
        if (((struct agent *)v)->state == A_RUNNING && ((struct agent *)v)->token != NULL)
            advance(v);
    delete_next_orphan(am);
}

static void sweep_tokens(struct agent_manager *am)
{
    struct enr_error err = {0};

    if (am->closing || !am->adopted || am->sweeping || uv_now(am->loop) < am->sweep_after)
        return;
    am->sweeping = true;
    if (teleport_client_get_tokens(am->tc, tokens_listed, am, &err) < 0)
        tokens_listed(am, &err, NULL);
}

/* ---- public ---------------------------------------------------------------------------------- */

struct agent_manager *agent_manager_new(uv_loop_t *loop, const struct agent_manager_config *cfg,
                                        struct docker_client *dc, struct teleport_client *tc,
                                        struct enr_error *err)
{
    struct agent_manager *am;

    /* Agent mode writes archives: a libarchive that cannot be loaded is
     * reported now, not at the first agent (docker/docker_libarchive.h). */
    if (docker_libarchive_get(err) == NULL)
        return NULL;
    am = calloc(1, sizeof(*am));
    if (am == NULL || (am->owner = strdup(cfg->owner)) == NULL ||
        (am->image = strdup(cfg->image ? cfg->image : AGENT_MANAGER_DEFAULT_IMAGE)) == NULL ||
        (am->auth_addr = strdup(cfg->auth_addr)) == NULL) {
        if (am != NULL) {
            free(am->owner);
            free(am->image);
            free(am);
        }
        err_set(err, -ENOMEM, "agent manager: out of memory");
        return NULL;
    }
    am->loop = loop;
    am->cfg = *cfg;
    if (am->cfg.version == NULL)
        am->cfg.version = AGENT_MANAGER_DEFAULT_VERSION;
    if (am->cfg.token_ttl_sec == 0)
        am->cfg.token_ttl_sec = AGENT_MANAGER_DEFAULT_TOKEN_TTL_SEC;
    if (am->cfg.join_timeout_sec == 0)
        am->cfg.join_timeout_sec = AGENT_MANAGER_DEFAULT_JOIN_TIMEOUT_SEC;
    if (am->cfg.poll_ms == 0)
        am->cfg.poll_ms = AGENT_MANAGER_DEFAULT_POLL_MS;
    if (am->cfg.backoff_min_ms == 0)
        am->cfg.backoff_min_ms = 1000;
    if (am->cfg.backoff_max_ms == 0)
        am->cfg.backoff_max_ms = 60000;
    am->dc = dc;
    am->tc = tc;
    strmap_init(&am->agents);
    backoff_init(&am->adopt_backoff, am->cfg.backoff_min_ms, am->cfg.backoff_max_ms);
    backoff_init(&am->sweep_backoff, am->cfg.backoff_min_ms, am->cfg.backoff_max_ms);
    backoff_rng_seed(&am->rng);
    uv_timer_init(loop, &am->poll_timer);
    uv_timer_init(loop, &am->adopt_timer);
    am->poll_timer.data = am->adopt_timer.data = am;
    return am;
}

void agent_manager_start(struct agent_manager *am)
{
    adopt(am);
}

static bool kept(const char *target, const char *const *keep, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(keep[i], target) == 0)
            return true;
    return false;
}

/* The wanted app differs from what the running agent was made for. */
static bool respec(const struct agent *a, const struct agent_want *w)
{
    return strcmp(a->want.uri, w->app->uri) != 0 || !kv_equal(&a->want.labels, &w->app->labels) ||
           strcmp(a->target_id ? a->target_id : "", w->target_id) != 0;
}

void agent_manager_set_desired(struct agent_manager *am, const struct agent_want *w, size_t n,
                               const char *const *keep, size_t n_keep, bool complete)
{
    struct strmap seen;
    size_t it = 0;
    void *v;

    if (am->closing)
        return;
    strmap_init(&seen);
    for (size_t i = 0; i < n; i++) {
        struct agent *a = agent_get(am, w[i].app->name);
        struct resource want;
        bool fresh;
        if (a == NULL || strmap_put(&seen, w[i].app->name, a, NULL) < 0)
            continue;
        fresh = !a->wanted;
        if (a->removing)
            a->teardown = true; /* wanted again halfway through its removal: finish, then start anew */
        if (!fresh && a->container_id != NULL && respec(a, &w[i]) && !a->teardown) {
            log_info(LOG_AGENT, "app %s changed; replacing its agent", a->app);
            a->teardown = true;
        }
        if (fresh && a->container_id != NULL && a->target_id != NULL && strcmp(a->target_id, w[i].target_id) != 0)
            a->teardown = true; /* adopted, but made for another container */
        /* resource_copy initialises its destination: copy, then replace
         * (a->want stays whole when the copy fails). */
        if (resource_copy(&want, w[i].app) < 0)
            continue;
        resource_cleanup(&a->want);
        a->want = want;
        if (set_str(&a->target, w[i].target) < 0 || set_str(&a->target_id, w[i].target_id) < 0)
            continue;
        free(a->network);
        a->network = w[i].network ? strdup(w[i].network) : NULL;
        a->wanted = true;
        a->unwanted = false;
    }
    while (strmap_next(&am->agents, &it, NULL, &v)) {
        struct agent *a = v;
        if (strmap_get(&seen, a->app) != NULL)
            continue;
        /* Not wanted: removed only on complete knowledge, and not while
         * its container is in its grace period or unknown. */
        if (complete && !(a->target != NULL && kept(a->target, keep, n_keep))) {
            a->wanted = false;
            a->unwanted = true;
        }
    }
    strmap_cleanup(&seen);
    for (it = 0; strmap_next(&am->agents, &it, NULL, &v);)
        advance(v);
    /* Tokens of attempts cut short: again after Docker lists completely
     * again, after a reconnect to Auth, or after a failed sweep. */
    if ((complete && !am->docker_complete) || am->sweep_due ||
        teleport_client_n_connects(am->tc) != am->sweep_connects)
        sweep_tokens(am);
    am->docker_complete = complete;
}

void agent_manager_app_server(struct agent_manager *am, const char *app, const char *host_id)
{
    struct agent *a;

    if (am == NULL || am->closing || app == NULL || host_id == NULL ||
        (a = strmap_get(&am->agents, app)) == NULL || a->host_id[0] == '\0' || strcmp(a->host_id, host_id) != 0)
        return;
    a->app_server_seen = true;
    if (a->state == A_JOINING)
        advance(a);
}

void agent_manager_set_watch_live(struct agent_manager *am, bool live)
{
    if (am == NULL || am->closing || am->watch_live == live)
        return;
    am->watch_live = live;
    if (live && any_joining(am, NULL))
        poll_app_servers(am); /* once: joins before the watch was live */
    else
        schedule_poll(am);
}

void agent_manager_get_stats(const struct agent_manager *am, struct agent_manager_stats *out)
{
    size_t it = 0;
    void *v;

    *out = am->stats;
    out->agents = am->agents.len;
    while (strmap_next(&am->agents, &it, NULL, &v)) {
        const struct agent *a = v;
        out->joining += a->state == A_JOINING;
        out->running += a->state == A_RUNNING;
    }
}

void agent_manager_close(struct agent_manager *am)
{
    size_t it = 0;
    void *v;

    if (am == NULL || am->closing)
        return;
    am->closing = true;
    uv_close((uv_handle_t *)&am->poll_timer, NULL);
    uv_close((uv_handle_t *)&am->adopt_timer, NULL);
    while (strmap_next(&am->agents, &it, NULL, &v)) {
        struct agent *a = v;
        if (a->timer_open) {
            a->timer_open = false;
            uv_close((uv_handle_t *)&a->timer, NULL);
        }
    }
}

void agent_manager_free(struct agent_manager *am)
{
    size_t it = 0;
    void *v;

    if (am == NULL)
        return;
    /* Timers closed (agent_manager_close + a loop turn); calls in flight
     * were cancelled with the clients. */
    while (strmap_next(&am->agents, &it, NULL, &v))
        agent_free(v);
    strmap_cleanup(&am->agents);
    orphans_clear(am);
    free(am->owner);
    free(am->image);
    free(am->auth_addr);
    free(am);
}
