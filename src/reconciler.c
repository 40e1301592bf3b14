/*
 * reconciler.c - see reconciler.h.
 *
 * State, all on the loop thread:
 *   table   container id -> struct entry (snapshot + cached rule results);
 *           an entry with snap == NULL is a tombstone that remembers the
 *           sequence number of a removal, so a slow inspect answer that was
 *           asked before the removal cannot bring the container back.
 *   view    app name -> struct resource, Teleport's apps as last listed and
 *           then as we wrote them.
 *   queue   the plan being executed; busy holds the names with a write in
 *           flight, which the planner leaves alone.
 */
#include "reconciler.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "strmap.h"

#define RESYNC_INSPECT_PARALLEL 8
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

struct entry {
    char *id;
    struct container *snap;     /* NULL: tombstone */
    uint64_t seq;               /* sequence of the inspect or removal applied */
    uint64_t snap_hash;         /* snapshot the rule results belong to */
    uint64_t rules_hash;        /* rule set they were computed with */
    bool evaluated;
    bool inspect_failed;        /* last inspect failed: state unknown */
    bool rules_failed;          /* last evaluation raised: desired unknown */
    bool inspecting, inspect_again;
    struct resource_list apps;  /* desired, with our labels */
    char *last_error;           /* last rule error logged, to log it once */
};

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

    struct strmap table;
    struct strmap view;
    struct strmap busy;
    struct strmap reported;     /* name -> last conflict reason logged */
    bool docker_complete, teleport_complete;
    uint64_t seq;

    uv_timer_t plan_timer, resync_timer, events_timer, retry_timer;
    int timers_open;
    bool stopping;

    /* resync */
    bool resync_running, resync_again, resync_list_ok, resync_list_pending, resync_partial;
    bool resync_apps_done;
    bool first_resync_done;
    uint64_t resync_seq;
    char **resync_ids;
    size_t n_resync_ids, resync_next, resync_done;
    unsigned resync_backoff_ms;

    /* events */
    int64_t last_event_nano;
    unsigned events_backoff_ms;
    bool events_running;

    /* executor */
    struct plan queue;
    size_t queue_next;
    unsigned inflight;
    bool replan;
    bool plan_reported;
    uint64_t last_plan_ms;      /* loop time of the last pass */

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

static void entry_free(struct entry *e)
{
    if (e == NULL)
        return;
    free(e->id);
    container_free(e->snap);
    resource_list_cleanup(&e->apps);
    free(e->last_error);
    free(e);
}

static struct entry *entry_get(struct reconciler *r, const char *id, bool create)
{
    struct entry *e = strmap_get(&r->table, id);
    if (e != NULL || !create)
        return e;
    if ((e = calloc(1, sizeof(*e))) == NULL || (e->id = strdup(id)) == NULL)
        goto fail;
    resource_list_init(&e->apps);
    if (strmap_put(&r->table, id, e, NULL) < 0)
        goto fail;
    return e;
fail:
    log_error(LOG_RECONCILE, "container table: out of memory");
    entry_free(e);
    return NULL;
}

static void entry_remove(struct entry *e, uint64_t seq)
{
    if (seq < e->seq)
        return;
    if (e->snap != NULL)
        log_info(LOG_RECONCILE, "container %s (%.12s) is gone", e->snap->name, e->id);
    container_free(e->snap);
    e->snap = NULL;
    e->seq = seq;
    e->evaluated = false;
    e->inspect_failed = e->rules_failed = false;
    resource_list_cleanup(&e->apps);
    free(e->last_error);
    e->last_error = NULL;
}

/* Rules for one container, cached until the snapshot or the rule set changes. */
static void entry_evaluate(struct reconciler *r, struct entry *e)
{
    struct resource_list out;
    struct enr_error err = {0};
    const struct container *c = e->snap;
    uint64_t rh = rule_set_hash(r->rules);

    if (c == NULL || (e->evaluated && e->snap_hash == c->hash && e->rules_hash == rh))
        return;
    resource_list_init(&out);
    if (rule_set_eval(r->rules, c, &out, &err) < 0) {
        /* Unknown, not absent: keep what it produced before, delete nothing. */
        e->rules_failed = true;
        if (e->last_error == NULL || strcmp(e->last_error, err.msg) != 0) {
            log_error(LOG_RULES, "container %s: %s", c->name, err.msg);
            free(e->last_error);
            e->last_error = strdup(err.msg);
        }
        goto out;
    }
    for (size_t i = 0; i < out.len; i++) {
        struct resource *a = &out.items[i];
        if (kv_set(&a->labels, PLANNER_LABEL_OWNER, r->owner) < 0 ||
            kv_set(&a->labels, PLANNER_LABEL_CONTAINER, c->name) < 0 ||
            kv_set(&a->labels, PLANNER_LABEL_RULE, a->rule) < 0) {
            e->rules_failed = true;
            log_error(LOG_RECONCILE, "container %s: out of memory", c->name);
            goto out;
        }
    }
    resource_list_cleanup(&e->apps);
    e->apps = out;
    resource_list_init(&out);
    e->rules_failed = false;
    e->evaluated = true;
    e->snap_hash = c->hash;
    e->rules_hash = rh;
    if (e->last_error != NULL) {
        log_info(LOG_RULES, "container %s: rules evaluate cleanly again", c->name);
        free(e->last_error);
        e->last_error = NULL;
    }
out:
    resource_list_cleanup(&out);
}

static void entry_apply(struct reconciler *r, struct entry *e, struct container *c, uint64_t seq)
{
    if (seq < e->seq) {     /* an older answer than what we have */
        container_free(c);
        return;
    }
    if (e->snap == NULL)
        log_info(LOG_RECONCILE, "container %s (%.12s) is running, image %s", c->name, e->id, c->image);
    container_free(e->snap);
    e->snap = c;
    e->seq = seq;
    e->inspect_failed = false;
    entry_evaluate(r, e);
}

/* ---- Docker: inspect and events ------------------------------------------ */

static void resync_inspect_done(struct reconciler *r);

static void inspect_cb(void *ud, const struct enr_error *err, struct container *c)
{
    struct req *q = ud;
    struct reconciler *r = q->r;
    struct entry *e = entry_get(r, q->id, true);
    bool from_resync = q->from_resync;
    bool again = false;

    if (e != NULL) {
        e->inspecting = false;
        again = e->inspect_again;
        e->inspect_again = false;
        if (err == NULL && c != NULL && strcmp(c->state, "running") == 0) {
            entry_apply(r, e, c, q->seq);
            c = NULL;
        } else if (err == NULL || err->code == ENR_ENOTFOUND) {
            entry_remove(e, q->seq);
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
        resync_inspect_done(r);
    schedule_plan(r, r->cfg.coalesce_ms);
}

static void request_inspect(struct reconciler *r, const char *id, bool from_resync)
{
    struct entry *e = entry_get(r, id, true);
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
    struct entry *e;

    r->stats.events++;
    r->events_backoff_ms = 0;
    if (ev->time_nano > r->last_event_nano)
        r->last_event_nano = ev->time_nano;
    if (ev->container_id == NULL || ev->container_id[0] == '\0')
        return;
    log_debug(LOG_DOCKER, "event %s %s %.12s", ev->type, ev->action, ev->container_id);
    if (strcmp(ev->type, "container") == 0 && strcmp(ev->action, "destroy") == 0) {
        if ((e = entry_get(r, ev->container_id, true)) != NULL)
            entry_remove(e, ++r->seq);
        schedule_plan(r, r->cfg.coalesce_ms);
        return;
    }
    request_inspect(r, ev->container_id, false);
}

static void events_end_cb(void *ud, const struct enr_error *err)
{
    struct reconciler *r = ud;
    unsigned d;

    r->events_running = false;
    if (r->stopping)
        return;
    /* Events may have been missed: nothing is deleted until a relist. */
    r->docker_complete = false;
    d = r->events_backoff_ms ? r->events_backoff_ms * 2 : BACKOFF_MIN_MS;
    r->events_backoff_ms = d > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d;
    log_warn(LOG_DOCKER, "event stream ended: %s; resuming in %u ms", err ? err->msg : "closed",
             r->events_backoff_ms);
    uv_timer_start(&r->events_timer, events_timer_cb, r->events_backoff_ms, 0);
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
    unsigned next_ms;
    bool ok;

    r->resync_running = false;
    r->docker_complete = r->resync_list_ok && !r->resync_partial && (r->events_running || r->cfg.poll_only);
    ok = r->docker_complete && r->teleport_complete;
    r->stats.resyncs++;
    r->first_resync_done = true;
    if (ok) {
        r->resync_backoff_ms = 0;
        next_ms = r->cfg.resync_sec * 1000u;
    } else {
        unsigned d = r->resync_backoff_ms ? r->resync_backoff_ms * 2 : 1000;
        r->resync_backoff_ms = d > r->cfg.resync_sec * 1000u ? r->cfg.resync_sec * 1000u : d;
        next_ms = r->resync_backoff_ms;
    }
    log_debug(LOG_RECONCILE, "resync done: docker %s, teleport %s; next in %u ms",
              r->docker_complete ? "complete" : "INCOMPLETE",
              r->teleport_complete ? "complete" : "INCOMPLETE", next_ms);
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

static void list_cb(void *ud, const struct enr_error *err, char **ids, size_t n)
{
    struct req *q = ud;
    struct reconciler *r = q->r;
    uint64_t seq = q->seq;
    struct strmap listed;
    bool ok;
    size_t it = 0;
    const char *key;
    void *val;

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
        if ((r->resync_ids[i] = strdup(ids[i])) == NULL || strmap_put(&listed, ids[i], r, NULL) < 0) {
            free(r->resync_ids[i]);
            ok = false;
            break;
        }
        r->n_resync_ids = i + 1;
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
    while (strmap_next(&r->table, &it, &key, &val)) {
        struct entry *e = val;
        if (strmap_get(&listed, key) != NULL || e->seq >= seq || e->inspecting)
            continue;
        if (e->snap != NULL) {
            entry_remove(e, seq);
        } else {
            strmap_del(&r->table, key);
            entry_free(e);
        }
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

/* ---- executor -------------------------------------------------------------- */

static void executor_pump(struct reconciler *r);

static void write_cb(void *ud, const struct enr_error *err)
{
    struct req *q = ud;
    struct reconciler *r = q->r;
    const char *what = plan_op_name(q->op);
    const char *c = kv_get(&q->res.labels, PLANNER_LABEL_CONTAINER);

    r->inflight--;
    strmap_del(&r->busy, q->res.name);
    if (r->stopping) {
        req_free(q);
        return;
    }
    if (err == NULL || (q->op == PLAN_DELETE && err->grpc_status == 5 /* NOT_FOUND */)) {
        log_info(LOG_RECONCILE, "%sd app %s (container %s, uri %s)", what, q->res.name, c ? c : "-",
                 q->res.uri);
        if (q->op == PLAN_DELETE) {
            view_del(r, q->res.name);
            r->stats.deletes++;
        } else {
            if (view_put(r, &q->res) < 0)
                r->teleport_complete = false;
            if (q->op == PLAN_CREATE)
                r->stats.creates++;
            else
                r->stats.updates++;
        }
    } else {
        unsigned d = r->resync_backoff_ms ? r->resync_backoff_ms * 2 : 1000;
        r->stats.write_errors++;
        log_warn(LOG_TELEPORT, "%s app %s: %s", what, q->res.name, err->msg);
        /* Our view may be stale (ALREADY_EXISTS, NOT_FOUND) or Auth is in
         * trouble: relist after a backoff and plan again from fresh facts. */
        r->resync_backoff_ms = d > r->cfg.resync_sec * 1000u ? r->cfg.resync_sec * 1000u : d;
        uv_timer_start(&r->retry_timer, resync_timer_cb, r->resync_backoff_ms, 0);
    }
    req_free(q);
    executor_pump(r);
}

static void executor_pump(struct reconciler *r)
{
    struct enr_error err = {0};

    while (!r->stopping && r->inflight < r->cfg.max_inflight && r->queue_next < r->queue.len) {
        struct plan_action *a = &r->queue.actions[r->queue_next++];
        struct req *q;
        int rc;

        if (a->op != PLAN_CREATE && a->op != PLAN_UPDATE && a->op != PLAN_DELETE)
            continue;
        if ((q = req_new(r)) == NULL)
            break;
        q->op = a->op;
        q->res = a->res;
        memset(&a->res, 0, sizeof(a->res));
        if (a->op == PLAN_CREATE)
            rc = teleport_client_create_app(r->tc, &q->res, write_cb, q, &err);
        else if (a->op == PLAN_UPDATE)
            rc = teleport_client_update_app(r->tc, &q->res, write_cb, q, &err);
        else
            rc = teleport_client_delete_app(r->tc, q->res.name, write_cb, q, &err);
        if (rc < 0) {
            log_warn(LOG_TELEPORT, "%s app %s: %s", plan_op_name(q->op), q->res.name, err.msg);
            r->stats.write_errors++;
            req_free(q);
            uv_timer_start(&r->retry_timer, resync_timer_cb, 1000, 0);
            continue;
        }
        r->inflight++;
        strmap_put(&r->busy, q->res.name, r, NULL);
    }
    if (r->inflight == 0 && r->queue_next >= r->queue.len) {
        plan_cleanup(&r->queue);
        r->queue_next = 0;
        if (r->replan) {
            r->replan = false;
            schedule_plan(r, 0);
        } else if (r->cfg.once && r->first_resync_done && !r->resync_running && !r->stopping &&
                   !uv_is_active((uv_handle_t *)&r->plan_timer)) {
            r->cfg.once = false;
            r->cfg.on_done(r->cfg.ud);
        }
    }
}

/* ---- planning -------------------------------------------------------------- */

static void report(struct reconciler *r, const struct plan *p)
{
    for (size_t i = 0; i < p->len; i++) {
        const struct plan_action *a = &p->actions[i];
        const char *prev;

        if (a->op == PLAN_SKIP) {
            log_debug(LOG_RECONCILE, "skip %s: %s", a->name, a->reason);
            continue;
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
}

static void plan_timer_cb(uv_timer_t *t)
{
    struct reconciler *r = t->data;
    const struct resource **desired = NULL, **teleport = NULL;
    const char **unknown = NULL, **busy = NULL;
    size_t nd = 0, nt = 0, nu = 0, nb = 0, cap_d = 0, it;
    struct planner_input in = {0};
    struct enr_error err = {0};
    struct plan p;
    const char *key;
    void *val;

    plan_init(&p);
    if (r->stopping || !r->first_resync_done)
        return;
    if (r->queue.len > 0) {
        r->replan = true;
        return;
    }
    for (it = 0; strmap_next(&r->table, &it, NULL, &val);)
        cap_d += ((struct entry *)val)->apps.len;
    desired = calloc(cap_d + 1, sizeof(*desired));
    teleport = calloc(r->view.len + 1, sizeof(*teleport));
    unknown = calloc(r->table.len + 1, sizeof(*unknown));
    busy = calloc(r->busy.len + 1, sizeof(*busy));
    if (desired == NULL || teleport == NULL || unknown == NULL || busy == NULL) {
        err_set(&err, -ENOMEM, "plan: out of memory");
        goto fail;
    }
    for (it = 0; strmap_next(&r->table, &it, NULL, &val);) {
        struct entry *e = val;
        if (e->snap == NULL)
            continue;
        for (size_t i = 0; i < e->apps.len; i++)
            desired[nd++] = &e->apps.items[i];
        if (e->inspect_failed || e->rules_failed)
            unknown[nu++] = e->snap->name;
    }
    for (it = 0; strmap_next(&r->view, &it, NULL, &val);)
        teleport[nt++] = val;
    for (it = 0; strmap_next(&r->busy, &it, &key, NULL);)
        busy[nb++] = key;
    in.owner = r->owner;
    in.desired = desired;
    in.n_desired = nd;
    in.teleport = teleport;
    in.n_teleport = nt;
    in.docker_complete = r->docker_complete;
    in.teleport_complete = r->teleport_complete;
    in.unknown_containers = unknown;
    in.n_unknown_containers = nu;
    in.busy_names = busy;
    in.n_busy_names = nb;
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
        goto out;
    }
    if (p.n[PLAN_CREATE] + p.n[PLAN_UPDATE] + p.n[PLAN_DELETE] > 0)
        log_info(LOG_RECONCILE, "plan: %zu create, %zu update, %zu delete, %zu conflict, %zu skip",
                 p.n[PLAN_CREATE], p.n[PLAN_UPDATE], p.n[PLAN_DELETE], p.n[PLAN_CONFLICT], p.n[PLAN_SKIP]);
    r->queue = p;
    plan_init(&p);
    r->queue_next = 0;
    executor_pump(r);
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
    free(busy);
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

/* ---- lifecycle --------------------------------------------------------------- */

struct reconciler *reconciler_new(uv_loop_t *loop, const struct reconciler_config *cfg,
                                  struct docker_client *dc, struct teleport_client *tc,
                                  struct rule_set *rules, struct enr_error *err)
{
    struct reconciler *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        err_set(err, -ENOMEM, "reconciler: out of memory");
        return NULL;
    }
    r->loop = loop;
    r->cfg = *cfg;
    if (r->cfg.resync_sec == 0)
        r->cfg.resync_sec = 60;
    if (r->cfg.max_inflight == 0)
        r->cfg.max_inflight = 16;
    if (r->cfg.coalesce_ms == 0)
        r->cfg.coalesce_ms = 5;
    r->dc = dc;
    r->tc = tc;
    r->rules = rules;
    r->reqs.next = r->reqs.prev = &r->reqs;
    strmap_init(&r->table);
    strmap_init(&r->view);
    strmap_init(&r->busy);
    strmap_init(&r->reported);
    plan_init(&r->queue);
    if ((r->owner = strdup(cfg->owner)) == NULL) {
        free(r);
        err_set(err, -ENOMEM, "reconciler: out of memory");
        return NULL;
    }
    uv_timer_t *timers[] = {&r->plan_timer, &r->resync_timer, &r->events_timer, &r->retry_timer};
    for (size_t i = 0; i < 4; i++) {
        uv_timer_init(loop, timers[i]);
        timers[i]->data = r;
        r->timers_open++;
    }
    return r;
}

int reconciler_start(struct reconciler *r, struct enr_error *err)
{
    (void)err;
    /* Subscribe before the first listing, so nothing falls between them. */
    if (!r->cfg.poll_only)
        start_events(r);
    start_resync(r);
    return 0;
}

void reconciler_set_rules(struct reconciler *r, struct rule_set *rules)
{
    size_t it = 0;
    void *val;

    r->rules = rules;
    while (strmap_next(&r->table, &it, NULL, &val))
        entry_evaluate(r, val);
    schedule_plan(r, 0);
}

static void timer_closed(uv_handle_t *h)
{
    struct reconciler *r = h->data;
    r->timers_open--;
}

void reconciler_stop(struct reconciler *r)
{
    if (r == NULL || r->stopping)
        return;
    r->stopping = true;
    docker_client_events_stop(r->dc);
    r->events_running = false;
    uv_close((uv_handle_t *)&r->plan_timer, timer_closed);
    uv_close((uv_handle_t *)&r->resync_timer, timer_closed);
    uv_close((uv_handle_t *)&r->events_timer, timer_closed);
    uv_close((uv_handle_t *)&r->retry_timer, timer_closed);
}

void reconciler_free(struct reconciler *r)
{
    size_t it = 0;
    void *val;

    if (r == NULL)
        return;
    /* Timers must be closed (reconciler_stop + a loop turn) before this. */
    while (r->reqs.next != &r->reqs)
        req_free(r->reqs.next);
    while (strmap_next(&r->table, &it, NULL, &val))
        entry_free(val);
    strmap_cleanup(&r->table);
    view_clear(r);
    strmap_cleanup(&r->busy);
    it = 0;
    while (strmap_next(&r->reported, &it, NULL, &val))
        free(val);
    strmap_cleanup(&r->reported);
    free_resync_ids(r);
    plan_cleanup(&r->queue);
    free(r->owner);
    free(r);
}

void reconciler_get_stats(const struct reconciler *r, struct reconciler_stats *out)
{
    size_t it = 0;
    void *val;

    *out = r->stats;
    out->containers = 0;
    while (strmap_next(&r->table, &it, NULL, &val))
        if (((struct entry *)val)->snap != NULL)
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
