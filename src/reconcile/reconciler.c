/*
 * reconciler.c - see reconciler.h.
 *
 * State, all on the loop thread:
 *   table   container id -> snapshot + cached rule results (container_table.h)
 *   view    app name -> struct resource, Teleport's apps as last listed and
 *           then as we wrote them.
 *   gone, written, unconfirmed: grace period, drift and confirmation memory.
 * Writes go to the executor (executor.h), which also says which names the
 * planner must leave alone (in flight, backing off).
 */
#include "reconcile/reconciler.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "reconcile/container_table.h"
#include "teleport/teleport_convert.h"
#include "reconcile/executor.h"
#include "base/backoff.h"
#include "base/log.h"
#include "base/strmap.h"
#include "net/grpc_frame.h"

#define RESYNC_INSPECT_PARALLEL 8
#define RESYNC_FULL_EVERY 10   /* every 10th resync inspects every container */
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

/* A container that went away, for the grace period. */
struct gone {
    uint64_t at_ms;
};

/* What enroller last wrote for an app (drift detection), or when it was
 * created (confirmation). */
struct written {
    uint64_t hash;
    uint64_t at_ms;
};

/* A write that succeeded, kept until a Teleport listing asked for after it
 * has come back: a listing asked for before the write must not undo it in
 * the view (or the planner would create the app a second time). */
struct recent_write {
    uint64_t seq;
    enum plan_op op;
    struct resource res;
};

static void recent_free(struct recent_write *w)
{
    if (w == NULL)
        return;
    resource_cleanup(&w->res);
    free(w);
}

/* One outstanding asynchronous call; every one is on r->reqs so that
 * reconciler_free can release those whose callbacks will never run. */
struct req {
    struct req *prev, *next;
    struct reconciler *r;
    uint64_t seq;
    bool from_resync;
    enum plan_op op;
    struct resource res;        /* the write (executor) */
    char id[80];                /* container id (inspect) */
};

struct reconciler {
    uv_loop_t *loop;
    struct reconciler_config cfg;
    char *owner;
    struct docker_client *dc;
    struct teleport_client *tc;
    struct rule_set *rules;

    struct container_table table;
    struct strmap view;
    struct strmap reported;     /* name -> last conflict reason logged */
    struct strmap gone;         /* container name -> struct gone (grace period) */
    struct strmap written;      /* app name -> struct written (what we last wrote) */
    struct strmap unconfirmed;  /* app name -> struct written (created, not yet served) */
    struct strmap recent;       /* app name -> struct recent_write */
    bool docker_complete, teleport_complete;
    uint64_t seq;

    uv_timer_t plan_timer, resync_timer, events_timer, retry_timer, grace_timer, confirm_timer, watch_timer;
    int watch_id;               /* Teleport WatchEvents stream, 0: none */
    struct backoff watch_backoff;
    uv_signal_t sig_approve;
    int handles_open;
    struct executor *ex;
    bool stopping;

    /* resync */
    bool resync_running, resync_again, resync_list_ok, resync_list_pending, resync_partial;
    bool resync_apps_done;
    bool resync_full;           /* inspect every container, not only changed list entries */
    bool events_cut;            /* the event stream broke since the last full resync */
    unsigned resyncs_since_full;
    bool first_resync_done;
    uint64_t resync_seq;
    char **resync_ids;
    size_t n_resync_ids, resync_next, resync_done;
    struct backoff resync_backoff;

    /* events */
    int64_t last_event_nano;
    struct backoff events_backoff;
    bool events_running;

    /* planning */
    bool plan_reported;
    uint64_t last_plan_ms;      /* loop time of the last pass */
    bool deletes_approved;      /* SIGUSR1: the next capped pass may delete */
    size_t last_capped;         /* deletions held by the cap, last logged */
    bool confirm_running;

    struct req reqs;            /* list head */
    struct reconciler_stats stats;
};

static void schedule_plan(struct reconciler *r, unsigned delay_ms);
static void start_resync(struct reconciler *r);
static void resync_timer_cb(uv_timer_t *t);
static void request_inspect(struct reconciler *r, const char *id, bool from_resync);

/* ---- requests ------------------------------------------------------------ */

static struct req *req_new(struct reconciler *r)
{
    struct req *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return NULL;
    q->r = r;
    q->next = r->reqs.next;
    q->prev = &r->reqs;
    r->reqs.next->prev = q;
    r->reqs.next = q;
    return q;
}

static void req_free(struct req *q)
{
    if (q == NULL)
        return;
    q->prev->next = q->next;
    q->next->prev = q->prev;
    resource_cleanup(&q->res);
    free(q);
}

/* ---- container table ------------------------------------------------------ */

static void gone_put(struct reconciler *r, const char *name);

static void entry_remove(struct reconciler *r, struct container_entry *e, uint64_t seq)
{
    const char *name = e->snap ? e->snap->name : NULL;

    if (name != NULL && seq >= e->seq) {
        log_info(LOG_RECONCILE, "container %s (%.12s) is gone", name, e->id);
        gone_put(r, name);
    }
    container_table_remove(e, seq);
}

/* Returns true when what the planner sees may have changed. */
static bool entry_apply(struct reconciler *r, struct container_entry *e, struct container *c, uint64_t seq)
{
    bool was_live = e->snap != NULL, changed = false;
    uint64_t old_hash = was_live ? e->snap->hash : 0;
    char *name = strdup(c->name);

    if (container_table_apply(e, c, seq)) {
        changed = !was_live || e->snap->hash != old_hash || e->rules_failed || e->inspect_failed;
        if (!was_live)
            log_info(LOG_RECONCILE, "container %s (%.12s) is running, image %s", e->snap->name, e->id,
                     e->snap->image);
        if (name != NULL)
            free(strmap_del(&r->gone, name)); /* back within its grace period */
        container_table_evaluate(e, r->rules, r->owner);
    }
    free(name);
    return changed;
}

/* ---- Docker: inspect and events ------------------------------------------ */

static void resync_inspect_done(struct reconciler *r);

static void inspect_cb(void *ud, const struct enr_error *err, struct container *c)
{
    struct req *q = ud;
    struct reconciler *r = q->r;
    struct container_entry *e = container_table_add(&r->table, q->id);
    bool from_resync = q->from_resync;
    bool again = false, changed = false;

    if (e != NULL) {
        e->inspecting = false;
        again = e->inspect_again;
        e->inspect_again = false;
        if (err == NULL && c != NULL && strcmp(c->state, "running") == 0) {
            changed = entry_apply(r, e, c, q->seq);
            c = NULL;
        } else if (err == NULL || err->code == ENR_ENOTFOUND) {
            changed = e->snap != NULL;
            entry_remove(r, e, q->seq);
        } else {
            e->inspect_failed = true;
            log_warn(LOG_DOCKER, "inspect %.12s: %s", q->id, err->msg);
            /* A container we cannot name cannot protect its apps by name:
             * the whole listing counts as incomplete. */
            if (from_resync && e->snap == NULL)
                r->resync_partial = true;
        }
    }
    container_free(c);
    req_free(q);
    if (r->stopping)
        return;
    if (again && e != NULL)
        request_inspect(r, e->id, false);
    if (from_resync)
        resync_inspect_done(r);     /* the end of the resync plans once */
    else if (changed)
        schedule_plan(r, r->cfg.coalesce_ms);
}

static void request_inspect(struct reconciler *r, const char *id, bool from_resync)
{
    struct container_entry *e = container_table_add(&r->table, id);
    struct enr_error err = {0};
    struct req *q;

    if (e == NULL)
        goto fail;
    if (e->inspecting) {
        /* An answer is on its way; ask once more after it for the newest state. */
        e->inspect_again = true;
        if (from_resync)
            resync_inspect_done(r);
        return;
    }
    if ((q = req_new(r)) == NULL)
        goto fail;
    snprintf(q->id, sizeof(q->id), "%s", id);
    q->seq = ++r->seq;
    q->from_resync = from_resync;
    if (docker_client_inspect(r->dc, id, inspect_cb, q, &err) < 0) {
        req_free(q);
        log_warn(LOG_DOCKER, "inspect %.12s: %s", id, err.msg);
        e->inspect_failed = true;
        goto fail;
    }
    e->inspecting = true;
    return;
fail:
    if (from_resync) {
        r->resync_partial = true;
        resync_inspect_done(r);
    }
}

static void start_events(struct reconciler *r);

static void events_timer_cb(uv_timer_t *t)
{
    struct reconciler *r = t->data;
    if (r->cfg.poll_only)
        return;
    start_events(r);
    /* Whatever happened while the stream was down is caught by a relist. */
    start_resync(r);
}

static void event_cb(void *ud, const struct docker_event *ev)
{
    struct reconciler *r = ud;
    struct container_entry *e;

    r->stats.events++;
    backoff_reset(&r->events_backoff);
    if (ev->time_nano > r->last_event_nano)
        r->last_event_nano = ev->time_nano;
    if (ev->container_id == NULL || ev->container_id[0] == '\0')
        return;
    log_debug(LOG_DOCKER, "event %s %s %.12s", ev->type, ev->action, ev->container_id);
    if (strcmp(ev->type, "container") == 0 && strcmp(ev->action, "destroy") == 0) {
        if ((e = container_table_add(&r->table, ev->container_id)) != NULL)
            entry_remove(r, e, ++r->seq);
        schedule_plan(r, r->cfg.coalesce_ms);
        return;
    }
    request_inspect(r, ev->container_id, false);
}

static void events_end_cb(void *ud, const struct enr_error *err)
{
    struct reconciler *r = ud;

    r->events_running = false;
    if (r->stopping)
        return;
    /* Events may have been missed: nothing is deleted until a full relist. */
    r->docker_complete = false;
    r->events_cut = true;
    uint64_t wait = backoff_next(&r->events_backoff, NULL);
    log_warn(LOG_DOCKER, "event stream ended: %s; resuming in %llu ms", err ? err->msg : "closed",
             (unsigned long long)wait);
    uv_timer_start(&r->events_timer, events_timer_cb, wait, 0);
}

static void start_events(struct reconciler *r)
{
    struct enr_error err = {0};

    if (r->events_running || r->stopping)
        return;
    if (docker_client_events(r->dc, r->last_event_nano, event_cb, events_end_cb, r, &err) < 0) {
        events_end_cb(r, &err);
        return;
    }
    r->events_running = true;
}

/* ---- resync ---------------------------------------------------------------- */

static void free_resync_ids(struct reconciler *r)
{
    for (size_t i = 0; i < r->n_resync_ids; i++)
        free(r->resync_ids[i]);
    free(r->resync_ids);
    r->resync_ids = NULL;
    r->n_resync_ids = r->resync_next = r->resync_done = 0;
}

static void finish_resync(struct reconciler *r)
{
    uint64_t next_ms;
    bool ok;

    r->resync_running = false;
    r->docker_complete = r->resync_list_ok && !r->resync_partial && (r->events_running || r->cfg.poll_only);
    ok = r->docker_complete && r->teleport_complete;
    r->stats.resyncs++;
    r->first_resync_done = true;
    if (ok) {
        backoff_reset(&r->resync_backoff);
        next_ms = r->cfg.resync_sec * 1000u;
    } else {
        next_ms = backoff_next(&r->resync_backoff, NULL);
    }
    log_debug(LOG_RECONCILE, "resync done: docker %s, teleport %s; next in %llu ms",
              r->docker_complete ? "complete" : "INCOMPLETE",
              r->teleport_complete ? "complete" : "INCOMPLETE", (unsigned long long)next_ms);
    if (!r->stopping)
        uv_timer_start(&r->resync_timer, resync_timer_cb, next_ms, 0);
    schedule_plan(r, 0);
    if (r->resync_again) {
        r->resync_again = false;
        start_resync(r);
    }
}

static void maybe_finish_resync(struct reconciler *r)
{
    if (r->resync_running && !r->resync_list_pending && r->resync_apps_done &&
        r->resync_done >= r->n_resync_ids) {
        free_resync_ids(r);
        finish_resync(r);
    }
}

static void resync_pump(struct reconciler *r)
{
    while (r->resync_ids != NULL && r->resync_next < r->n_resync_ids &&
           r->resync_next - r->resync_done < RESYNC_INSPECT_PARALLEL && !r->stopping) {
        const char *id = r->resync_ids[r->resync_next++];
        request_inspect(r, id, true);
    }
}

static void resync_inspect_done(struct reconciler *r)
{
    r->resync_done++;
    resync_pump(r);
    maybe_finish_resync(r);
}

static void list_cb(void *ud, const struct enr_error *err, char **ids, const uint64_t *hashes, size_t n)
{
    struct req *q = ud;
    struct reconciler *r = q->r;
    uint64_t seq = q->seq;
    struct strmap listed;
    bool ok;
    size_t it = 0;

    req_free(q);
    if (r->stopping)
        return;
    r->resync_list_pending = false;
    if (err != NULL) {
        log_warn(LOG_DOCKER, "list containers: %s", err->msg);
        r->resync_list_ok = false;
        maybe_finish_resync(r);
        return;
    }
    strmap_init(&listed);
    r->resync_ids = calloc(n + 1, sizeof(char *));
    ok = r->resync_ids != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        struct container_entry *e = container_table_get(&r->table, ids[i]);

        if (strmap_put(&listed, ids[i], r, NULL) < 0) {
            ok = false;
            break;
        }
        /* Unchanged since it was last inspected, and events kept it
         * current: no need to ask again.  After a stream cut, and every
         * RESYNC_FULL_EVERY resyncs, everything is inspected again. */
        if (!r->resync_full && e != NULL && e->snap != NULL && !e->inspect_failed && hashes[i] != 0 &&
            e->list_hash == hashes[i])
            continue;
        if (e == NULL && (e = container_table_add(&r->table, ids[i])) == NULL) {
            ok = false;
            break;
        }
        e->list_hash = hashes[i];
        if ((r->resync_ids[r->n_resync_ids] = strdup(ids[i])) == NULL) {
            ok = false;
            break;
        }
        r->n_resync_ids++;
    }
    if (!ok) {
        log_error(LOG_RECONCILE, "resync: out of memory");
        r->resync_list_ok = false;
        free_resync_ids(r);
        strmap_cleanup(&listed);
        maybe_finish_resync(r);
        return;
    }
    /* Running before the list was asked for and not in it: gone.  Tombstones
     * older than the list are forgotten. */
    struct container_entry *e;
    while (container_table_next(&r->table, &it, &e)) {
        if (strmap_get(&listed, e->id) != NULL || e->seq >= seq || e->inspecting)
            continue;
        if (e->snap != NULL)
            entry_remove(r, e, seq);
        else
            container_table_forget(&r->table, e);
    }
    strmap_cleanup(&listed);
    r->resync_list_ok = true;
    resync_pump(r);
    maybe_finish_resync(r);
}

static void view_clear(struct reconciler *r)
{
    size_t it = 0;
    void *val;
    while (strmap_next(&r->view, &it, NULL, &val)) {
        resource_cleanup(val);
        free(val);
    }
    strmap_cleanup(&r->view);
}

static int view_put(struct reconciler *r, const struct resource *res)
{
    struct resource *copy = calloc(1, sizeof(*copy));
    void *old = NULL;

    if (copy == NULL || resource_copy(copy, res) < 0)
        goto fail;
    if (strmap_put(&r->view, res->name, copy, &old) < 0) {
        resource_cleanup(copy);
        goto fail;
    }
    if (old != NULL) {
        resource_cleanup(old);
        free(old);
    }
    return 0;
fail:
    free(copy);
    return -ENOMEM;
}

static void view_del(struct reconciler *r, const char *name)
{
    struct resource *old = strmap_del(&r->view, name);
    if (old != NULL) {
        resource_cleanup(old);
        free(old);
    }
}

static void get_apps_cb(void *ud, const struct enr_error *err, const struct resource_list *apps)
{
    struct req *q = ud;
    struct reconciler *r = q->r;
    uint64_t seq = q->seq;

    req_free(q);
    if (r->stopping)
        return;
    r->resync_apps_done = true;
    if (err != NULL) {
        if (r->teleport_complete || r->stats.resyncs == 0)
            log_warn(LOG_TELEPORT, "GetApps: %s; no writes until Teleport answers", err->msg);
        r->teleport_complete = false;
        maybe_finish_resync(r);
        return;
    }
    view_clear(r);
    r->teleport_complete = true;
    for (size_t i = 0; i < apps->len; i++)
        if (view_put(r, &apps->items[i]) < 0) {
            log_error(LOG_RECONCILE, "Teleport view: out of memory");
            r->teleport_complete = false;
            break;
        }
    /* Writes that finished after this listing was asked for are newer than
     * it; older ones are in it. */
    size_t it = 0;
    const char *name;
    void *val;
    while (strmap_next(&r->recent, &it, &name, &val)) {
        struct recent_write *w = val;
        if (w->seq <= seq) {
            strmap_del(&r->recent, name);
            recent_free(w);
        } else if (w->op == PLAN_DELETE) {
            view_del(r, name);
        } else if (view_put(r, &w->res) < 0) {
            r->teleport_complete = false;
        }
    }
    maybe_finish_resync(r);
}

static int issue_get_apps(struct reconciler *r, struct enr_error *err)
{
    struct req *q = req_new(r);
    if (q == NULL)
        return err_set(err, -ENOMEM, "out of memory");
    q->seq = r->resync_seq;
    if (teleport_client_get_apps(r->tc, get_apps_cb, q, err) < 0) {
        req_free(q);
        return err->code ? err->code : -EIO;
    }
    return 0;
}

static int issue_list(struct reconciler *r, struct enr_error *err)
{
    struct req *q = req_new(r);
    if (q == NULL)
        return err_set(err, -ENOMEM, "out of memory");
    q->seq = r->resync_seq;
    if (docker_client_list(r->dc, list_cb, q, err) < 0) {
        req_free(q);
        return err->code ? err->code : -EIO;
    }
    return 0;
}

static void start_resync(struct reconciler *r)
{
    struct enr_error err = {0};

    if (r->stopping)
        return;
    if (r->resync_running) {
        r->resync_again = true;
        return;
    }
    uv_timer_stop(&r->resync_timer);
    r->resync_running = true;
    r->resync_list_ok = false;
    r->resync_partial = false;
    r->resync_apps_done = false;
    r->resync_list_pending = true;
    r->resync_seq = ++r->seq;
    r->resync_full = !r->first_resync_done || r->events_cut || r->cfg.poll_only ||
                     ++r->resyncs_since_full >= RESYNC_FULL_EVERY;
    if (r->resync_full) {
        r->events_cut = false;
        r->resyncs_since_full = 0;
    }

    if (issue_get_apps(r, &err) < 0) {
        log_warn(LOG_TELEPORT, "GetApps: %s", err.msg);
        r->teleport_complete = false;
        r->resync_apps_done = true;
    }
    if (issue_list(r, &err) < 0) {
        log_warn(LOG_DOCKER, "list containers: %s", err.msg);
        r->resync_list_pending = false;
    }
    maybe_finish_resync(r);
}

static void resync_timer_cb(uv_timer_t *t)
{
    start_resync(t->data);
}

/* ---- writes (through the executor) ----------------------------------------- */

static void written_put(struct strmap *m, const char *name, uint64_t hash, uint64_t at_ms)
{
    struct written *w = strmap_get(m, name);
    if (w == NULL) {
        if ((w = calloc(1, sizeof(*w))) == NULL)
            return;
        if (strmap_put(m, name, w, NULL) < 0) {
            free(w);
            return;
        }
    }
    w->hash = hash;
    w->at_ms = at_ms;
}

static void confirm_timer_cb(uv_timer_t *t);

static void recent_put(struct reconciler *r, enum plan_op op, const struct resource *res)
{
    struct recent_write *w = calloc(1, sizeof(*w));
    void *old = NULL;

    if (w == NULL || resource_copy(&w->res, res) < 0) {
        free(w);
        return;
    }
    w->seq = ++r->seq;
    w->op = op;
    if (strmap_put(&r->recent, res->name, w, &old) < 0) {
        recent_free(w);
        return;
    }
    recent_free(old);
}

static void write_done(void *ud, enum plan_op op, const struct resource *res, const struct enr_error *err)
{
    struct reconciler *r = ud;
    const char *c = kv_get(&res->labels, PLANNER_LABEL_CONTAINER);

    if (r->stopping)
        return;
    if (err != NULL) {
        r->stats.write_errors++;
        log_warn(LOG_TELEPORT, "%s app %s: %s", plan_op_name(op), res->name, err->msg);
        /* Our view is stale: relist soon and plan from fresh facts. */
        if (err->code == ENR_EGRPC &&
            ((op == PLAN_CREATE && err->grpc_status == GRPC_STATUS_ALREADY_EXISTS) ||
             (op == PLAN_UPDATE && err->grpc_status == GRPC_STATUS_NOT_FOUND)))
            uv_timer_start(&r->retry_timer, resync_timer_cb, 200, 0);
        return;
    }
    log_info(LOG_RECONCILE, "%sd app %s (container %s, uri %s)", plan_op_name(op), res->name, c ? c : "-",
             res->uri);
    recent_put(r, op, res);
    if (op == PLAN_DELETE) {
        view_del(r, res->name);
        free(strmap_del(&r->written, res->name));
        free(strmap_del(&r->unconfirmed, res->name));
        r->stats.deletes++;
        return;
    }
    if (view_put(r, res) < 0)
        r->teleport_complete = false;
    written_put(&r->written, res->name, resource_managed_hash(res), uv_now(r->loop));
    if (op == PLAN_CREATE) {
        r->stats.creates++;
        if (r->cfg.confirm_sec > 0) {
            written_put(&r->unconfirmed, res->name, 0, uv_now(r->loop));
            if (!uv_is_active((uv_handle_t *)&r->confirm_timer))
                uv_timer_start(&r->confirm_timer, confirm_timer_cb, 2000, 0);
        }
    } else {
        r->stats.updates++;
    }
}

static void maybe_done(struct reconciler *r)
{
    if (r->cfg.once && r->first_resync_done && !r->resync_running && !r->stopping &&
        executor_idle(r->ex) && !uv_is_active((uv_handle_t *)&r->plan_timer)) {
        r->cfg.once = false;
        r->cfg.on_done(r->cfg.ud);
    }
}

static void executor_idle_cb(void *ud)
{
    maybe_done(ud);
}

static void executor_retry_cb(void *ud)
{
    schedule_plan(ud, 0);
}

/* ---- confirmation: is a created app served by an Application Service? ------- */

static void app_servers_cb(void *ud, const struct enr_error *err, const struct resource_list *servers)
{
    struct req *q = ud;
    struct reconciler *r = q->r;
    uint64_t now;
    size_t it = 0;
    const char *name;
    void *val;

    req_free(q);
    r->confirm_running = false;
    if (r->stopping)
        return;
    now = uv_now(r->loop);
    if (err != NULL) {
        log_debug(LOG_TELEPORT, "ListResources(app_server): %s", err->msg);
    } else {
        for (size_t i = 0; i < servers->len; i++)
            if ((val = strmap_del(&r->unconfirmed, servers->items[i].name)) != NULL) {
                log_info(LOG_RECONCILE, "app %s is served by an Application Service", servers->items[i].name);
                free(val);
            }
    }
    while (strmap_next(&r->unconfirmed, &it, &name, &val)) {
        struct written *w = val;
        if (now - w->at_ms < (uint64_t)r->cfg.confirm_sec * 1000)
            continue;
        log_warn(LOG_RECONCILE, "app %s is registered but no Application Service serves it after %us "
                 "(is an App Service watching apps with these labels? its resources.labels must match)",
                 name, r->cfg.confirm_sec);
        free(strmap_del(&r->unconfirmed, name));
    }
    if (r->unconfirmed.len > 0)
        uv_timer_start(&r->confirm_timer, confirm_timer_cb, 5000, 0);
}

static void confirm_timer_cb(uv_timer_t *t)
{
    struct reconciler *r = t->data;
    struct enr_error err = {0};
    struct req *q;

    if (r->stopping || r->confirm_running || r->unconfirmed.len == 0 || (q = req_new(r)) == NULL)
        return;
    if (teleport_client_list_app_servers(r->tc, app_servers_cb, q, &err) < 0) {
        req_free(q);
        uv_timer_start(&r->confirm_timer, confirm_timer_cb, 5000, 0);
        return;
    }
    r->confirm_running = true;
}

/* ---- Teleport WatchEvents: see an out-of-band edit within a second ---------- */

static void start_watch(struct reconciler *r);

static void watch_timer_cb(uv_timer_t *t)
{
    start_watch(t->data);
}

static void watch_event_cb(void *ud, const struct teleport_event *ev)
{
    struct reconciler *r = ud;
    void *val;

    if (r->stopping)
        return;
    backoff_reset(&r->watch_backoff);
    if (ev->op == TELEPORT_EVENT_INIT) {
        /* Events from here on are deltas; a listing taken now is their base. */
        log_info(LOG_TELEPORT, "watching apps and app servers");
        start_resync(r);
        return;
    }
    if (strcmp(ev->kind, "app_server") == 0) {
        if (ev->op == TELEPORT_EVENT_PUT && (val = strmap_del(&r->unconfirmed, ev->res.name)) != NULL) {
            log_info(LOG_RECONCILE, "app %s is served by an Application Service", ev->res.name);
            free(val);
        }
        return;
    }
    if (strcmp(ev->kind, "app") != 0)
        return;
    log_debug(LOG_TELEPORT, "watch: app %s %s", ev->res.name, ev->op == TELEPORT_EVENT_PUT ? "put" : "deleted");
    if (ev->op == TELEPORT_EVENT_DELETE)
        view_del(r, ev->res.name);
    else if (view_put(r, &ev->res) < 0)
        r->teleport_complete = false;
    schedule_plan(r, r->cfg.coalesce_ms);
}

static void watch_end_cb(void *ud, const struct enr_error *err)
{
    struct reconciler *r = ud;

    r->watch_id = 0;
    if (r->stopping)
        return;
    uint64_t wait = backoff_next(&r->watch_backoff, NULL);
    log_warn(LOG_TELEPORT, "watch ended: %s; resync every %us until it is back (retry in %llu ms)",
             err ? err->msg : "closed by the server", r->cfg.resync_sec, (unsigned long long)wait);
    uv_timer_start(&r->watch_timer, watch_timer_cb, wait, 0);
}

static void start_watch(struct reconciler *r)
{
    static const char *const kinds[] = {"app", "app_server"};
    struct enr_error err = {0};
    int id;

    if (r->stopping || r->watch_id > 0)
        return;
    if ((id = teleport_client_watch(r->tc, kinds, 2, watch_event_cb, watch_end_cb, r, &err)) < 0) {
        watch_end_cb(r, &err);
        return;
    }
    r->watch_id = id;
}

/* ---- grace period --------------------------------------------------------------- */

static void grace_timer_cb(uv_timer_t *t)
{
    schedule_plan(t->data, 0);
}

static void gone_put(struct reconciler *r, const char *name)
{
    struct gone *g;

    if (r->cfg.grace_sec == 0 || strmap_get(&r->gone, name) != NULL)
        return;
    if ((g = calloc(1, sizeof(*g))) == NULL)
        return;
    g->at_ms = uv_now(r->loop);
    if (strmap_put(&r->gone, name, g, NULL) < 0)
        free(g);
}

/* The containers still within their grace period, as planner holds; the
 * expired ones are forgotten and the timer is armed for the next expiry.
 * reasons must hold r->gone.len strings of 96 bytes. */
static size_t grace_holds(struct reconciler *r, struct planner_hold *out, char (*reasons)[96])
{
    uint64_t now = uv_now(r->loop), grace = (uint64_t)r->cfg.grace_sec * 1000, next = UINT64_MAX;
    size_t n = 0, it = 0;
    const char *name;
    void *val;

    while (strmap_next(&r->gone, &it, &name, &val)) {
        struct gone *g = val;
        if (now - g->at_ms >= grace) {
            free(strmap_del(&r->gone, name));
            continue;
        }
        snprintf(reasons[n], sizeof(reasons[n]), "is gone for %.1fs of a %us grace period",
                 (double)(now - g->at_ms) / 1000.0, r->cfg.grace_sec);
        out[n].name = name;
        out[n].reason = reasons[n];
        n++;
        if (g->at_ms + grace < next)
            next = g->at_ms + grace;
    }
    if (next != UINT64_MAX)
        uv_timer_start(&r->grace_timer, grace_timer_cb, next - now + 1, 0);
    return n;
}

/* ---- planning -------------------------------------------------------------- */

static void report(struct reconciler *r, const struct plan *p)
{
    for (size_t i = 0; i < p->len; i++) {
        const struct plan_action *a = &p->actions[i];
        const struct written *w;
        const char *prev;

        if (a->op == PLAN_SKIP) {
            log_debug(LOG_RECONCILE, "skip %s: %s", a->name, a->reason);
            continue;
        }
        if (a->op == PLAN_UPDATE && (w = strmap_get(&r->written, a->name)) != NULL &&
            w->hash == resource_managed_hash(&a->res)) {
            /* We wrote exactly this before, and Teleport now differs. */
            log_warn(LOG_RECONCILE, "app %s was changed outside enroller (Teleport revision %s); restoring "
                     "what the rules want", a->name, a->res.revision);
            r->stats.drift++;
        }
        if (a->op != PLAN_CONFLICT)
            continue;
        r->stats.conflicts++;
        prev = strmap_get(&r->reported, a->name);
        if (prev != NULL && strcmp(prev, a->reason) == 0)
            continue;
        log_warn(LOG_RECONCILE, "conflict on app %s: %s; leaving it alone", a->name, a->reason);
        char *copy = strdup(a->reason);
        void *old = NULL;
        if (copy != NULL && strmap_put(&r->reported, a->name, copy, &old) == 0)
            free(old);
        else
            free(copy);
    }
    if (p->deletes_capped && p->capped_deletes != r->last_capped)
        log_error(LOG_RECONCILE, "deletion cap: this pass would delete %zu of %zu owned apps (max %u, %u%%); "
                  "NOTHING deleted. If Docker really lost those containers, approve once with "
                  "kill -USR1 %d", p->capped_deletes, p->owned, r->cfg.max_deletes, r->cfg.max_delete_percent,
                  (int)uv_os_getpid());
    r->last_capped = p->deletes_capped ? p->capped_deletes : 0;
}

static void plan_timer_cb(uv_timer_t *t)
{
    struct reconciler *r = t->data;
    const struct resource **desired = NULL, **teleport = NULL;
    const char **unknown = NULL;
    struct planner_hold *held = NULL, *grace = NULL;
    char (*grace_reasons)[96] = NULL;
    size_t nd = 0, nt = 0, nu = 0, nh, cap_d = 0, it;
    struct planner_input in = {0};
    struct enr_error err = {0};
    struct plan p;
    void *val;

    plan_init(&p);
    if (r->stopping || !r->first_resync_done)
        return;
    struct container_entry *e;
    for (it = 0; container_table_next(&r->table, &it, &e);)
        cap_d += e->apps.len;
    nh = executor_holds(r->ex, NULL, 0);
    desired = calloc(cap_d + 1, sizeof(*desired));
    teleport = calloc(r->view.len + 1, sizeof(*teleport));
    unknown = calloc(container_table_size(&r->table) + 1, sizeof(*unknown));
    held = calloc(nh + 1, sizeof(*held));
    grace = calloc(r->gone.len + 1, sizeof(*grace));
    grace_reasons = calloc(r->gone.len + 1, sizeof(*grace_reasons));
    if (desired == NULL || teleport == NULL || unknown == NULL || held == NULL || grace == NULL ||
        grace_reasons == NULL) {
        err_set(&err, -ENOMEM, "plan: out of memory");
        goto fail;
    }
    for (it = 0; container_table_next(&r->table, &it, &e);) {
        if (e->snap == NULL)
            continue;
        for (size_t i = 0; i < e->apps.len; i++)
            desired[nd++] = &e->apps.items[i];
        if (e->inspect_failed || e->rules_failed)
            unknown[nu++] = e->snap->name;
    }
    for (it = 0; strmap_next(&r->view, &it, NULL, &val);)
        teleport[nt++] = val;
    in.owner = r->owner;
    in.desired = desired;
    in.n_desired = nd;
    in.teleport = teleport;
    in.n_teleport = nt;
    in.docker_complete = r->docker_complete;
    in.teleport_complete = r->teleport_complete;
    in.unknown_containers = unknown;
    in.n_unknown_containers = nu;
    in.held_names = held;
    in.n_held_names = executor_holds(r->ex, held, nh);
    in.grace_containers = grace;
    in.n_grace_containers = grace_holds(r, grace, grace_reasons);
    in.policy = r->cfg.policy;
    in.adopt = r->cfg.adopt;
    in.max_deletes = r->cfg.max_deletes;
    in.max_delete_percent = r->cfg.max_delete_percent;
    in.deletes_approved = r->deletes_approved;
    in.now = (int64_t)time(NULL);
    in.lease_sec = r->cfg.lease_sec;
    if (planner_plan(&in, &p, &err) < 0)
        goto fail;
    r->stats.passes++;
    r->stats.desired = nd;
    r->last_plan_ms = uv_now(r->loop);
    if (r->cfg.plan_only) {
        if (!r->plan_reported) {
            r->plan_reported = true;
            r->cfg.on_plan(r->cfg.ud, &p, NULL);
        }
        goto out;
    }
    report(r, &p);
    if (r->cfg.dry_run) {
        for (size_t i = 0; i < p.len; i++)
            if (p.actions[i].op <= PLAN_DELETE)
                log_info(LOG_RECONCILE, "dry-run: would %s app %s (%s)", plan_op_name(p.actions[i].op),
                         p.actions[i].name, p.actions[i].reason);
        maybe_done(r);
        goto out;
    }
    if (p.n[PLAN_CREATE] + p.n[PLAN_UPDATE] + p.n[PLAN_DELETE] > 0)
        log_info(LOG_RECONCILE, "plan: %zu create, %zu update, %zu delete, %zu conflict, %zu skip",
                 p.n[PLAN_CREATE], p.n[PLAN_UPDATE], p.n[PLAN_DELETE], p.n[PLAN_CONFLICT], p.n[PLAN_SKIP]);
    if (p.n[PLAN_DELETE] > 0)
        r->deletes_approved = false; /* an approval covers one pass */
    if (executor_submit(r->ex, &p, &err) < 0)
        goto fail;
    goto out;
fail:
    log_error(LOG_RECONCILE, "%s", err.msg);
    if (r->cfg.plan_only && !r->plan_reported) {
        r->plan_reported = true;
        r->cfg.on_plan(r->cfg.ud, NULL, &err);
    }
out:
    plan_cleanup(&p);
    free(desired);
    free(teleport);
    free(unknown);
    free(held);
    free(grace);
    free(grace_reasons);
}

static void schedule_plan(struct reconciler *r, unsigned delay_ms)
{
    if (r->stopping)
        return;
    /* Leading edge: a lone event is planned at once; only a burst (events
     * within coalesce_ms of the last pass) waits to be planned together. */
    if (uv_now(r->loop) - r->last_plan_ms >= r->cfg.coalesce_ms)
        delay_ms = 0;
    /* Coalesce: a pending pass already covers this change. */
    if (uv_is_active((uv_handle_t *)&r->plan_timer) && delay_ms >= uv_timer_get_due_in(&r->plan_timer))
        return;
    uv_timer_start(&r->plan_timer, plan_timer_cb, delay_ms, 0);
}

static void on_approve(uv_signal_t *h, int signum)
{
    struct reconciler *r = h->data;
    (void)signum;
    log_warn(LOG_RECONCILE, "SIGUSR1: the next pass may delete above the deletion cap");
    r->deletes_approved = true;
    r->last_capped = 0;
    schedule_plan(r, 0);
}

/* ---- lifecycle --------------------------------------------------------------- */

struct reconciler *reconciler_new(uv_loop_t *loop, const struct reconciler_config *cfg,
                                  struct docker_client *dc, struct teleport_client *tc,
                                  struct rule_set *rules, struct enr_error *err)
{
    struct reconciler *r = calloc(1, sizeof(*r));
    struct executor_config xcfg = {0};
    struct executor_callbacks xcb = {0};

    if (r == NULL) {
        err_set(err, -ENOMEM, "reconciler: out of memory");
        return NULL;
    }
    r->loop = loop;
    r->cfg = *cfg;
    if (r->cfg.resync_sec == 0)
        r->cfg.resync_sec = 60;
    if (r->cfg.coalesce_ms == 0)
        r->cfg.coalesce_ms = 5;
    r->dc = dc;
    r->tc = tc;
    r->rules = rules;
    r->reqs.next = r->reqs.prev = &r->reqs;
    backoff_init(&r->events_backoff, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
    backoff_init(&r->watch_backoff, 1000, BACKOFF_MAX_MS);
    backoff_init(&r->resync_backoff, 1000, r->cfg.resync_sec * 1000u);
    container_table_init(&r->table);
    strmap_init(&r->view);
    strmap_init(&r->reported);
    strmap_init(&r->gone);
    strmap_init(&r->written);
    strmap_init(&r->unconfirmed);
    strmap_init(&r->recent);
    xcfg.max_inflight = cfg->max_inflight;
    xcfg.rate = cfg->write_rate;
    xcfg.burst = cfg->write_burst;
    xcb.done = write_done;
    xcb.idle = executor_idle_cb;
    xcb.retry = executor_retry_cb;
    xcb.ud = r;
    if ((r->owner = strdup(cfg->owner)) == NULL ||
        (r->ex = executor_new(loop, tc, &xcfg, &xcb, err)) == NULL) {
        free(r->owner);
        free(r);
        err_set(err, -ENOMEM, "reconciler: out of memory");
        return NULL;
    }
    uv_timer_t *timers[] = {&r->plan_timer,  &r->resync_timer,  &r->events_timer, &r->retry_timer,
                            &r->grace_timer, &r->confirm_timer, &r->watch_timer};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        uv_timer_init(loop, timers[i]);
        timers[i]->data = r;
        r->handles_open++;
    }
    uv_signal_init(loop, &r->sig_approve);
    r->sig_approve.data = r;
    r->handles_open++;
    if (!r->cfg.plan_only)
        uv_signal_start(&r->sig_approve, on_approve, SIGUSR1);
    return r;
}

int reconciler_start(struct reconciler *r, struct enr_error *err)
{
    (void)err;
    /* Subscribe before the first listing, so nothing falls between them. */
    if (!r->cfg.poll_only)
        start_events(r);
    start_resync(r);
    if (!r->cfg.plan_only && !r->cfg.once)
        start_watch(r);
    return 0;
}

void reconciler_set_rules(struct reconciler *r, struct rule_set *rules)
{
    struct container_entry *e;
    size_t it = 0;

    r->rules = rules;
    while (container_table_next(&r->table, &it, &e))
        container_table_evaluate(e, r->rules, r->owner);
    schedule_plan(r, 0);
}

static void handle_closed(uv_handle_t *h)
{
    struct reconciler *r = h->data;
    r->handles_open--;
}

void reconciler_stop(struct reconciler *r)
{
    if (r == NULL || r->stopping)
        return;
    r->stopping = true;
    docker_client_events_stop(r->dc);
    r->events_running = false;
    if (r->watch_id > 0)
        teleport_client_watch_cancel(r->tc, r->watch_id);
    r->watch_id = 0;
    executor_close(r->ex);
    uv_handle_t *handles[] = {(uv_handle_t *)&r->plan_timer,  (uv_handle_t *)&r->resync_timer,
                              (uv_handle_t *)&r->events_timer, (uv_handle_t *)&r->retry_timer,
                              (uv_handle_t *)&r->grace_timer,  (uv_handle_t *)&r->confirm_timer,
                              (uv_handle_t *)&r->watch_timer,  (uv_handle_t *)&r->sig_approve};
    for (size_t i = 0; i < sizeof(handles) / sizeof(handles[0]); i++)
        uv_close(handles[i], handle_closed);
}

static void free_values(struct strmap *m)
{
    size_t it = 0;
    void *val;
    while (strmap_next(m, &it, NULL, &val))
        free(val);
    strmap_cleanup(m);
}

void reconciler_free(struct reconciler *r)
{
    size_t it = 0;
    void *val;

    if (r == NULL)
        return;
    /* Handles must be closed (reconciler_stop + a loop turn) before this. */
    while (r->reqs.next != &r->reqs)
        req_free(r->reqs.next);
    container_table_cleanup(&r->table);
    view_clear(r);
    free_values(&r->reported);
    free_values(&r->gone);
    free_values(&r->written);
    free_values(&r->unconfirmed);
    it = 0;
    while (strmap_next(&r->recent, &it, NULL, &val))
        recent_free(val);
    strmap_cleanup(&r->recent);
    free_resync_ids(r);
    executor_free(r->ex);
    free(r->owner);
    free(r);
}

void reconciler_get_stats(const struct reconciler *r, struct reconciler_stats *out)
{
    size_t it = 0;
    void *val;

    *out = r->stats;
    out->containers = 0;
    struct container_entry *e;
    while (container_table_next(&r->table, &it, &e))
        if (e->snap != NULL)
            out->containers++;
    out->owned = 0;
    it = 0;
    while (strmap_next(&r->view, &it, NULL, &val)) {
        const char *o = kv_get(&((struct resource *)val)->labels, PLANNER_LABEL_OWNER);
        if (o != NULL && strcmp(o, r->owner) == 0)
            out->owned++;
    }
    out->docker_complete = r->docker_complete;
    out->teleport_complete = r->teleport_complete;
}
