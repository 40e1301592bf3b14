/*
 * reconciler.c - see reconciler.h: the coordinator.
 *
 *   docker_sync    (docker_sync.h)   containers running -> on_docker_change
 *   teleport_view  (teleport_view.h) apps in Teleport   -> on_view_change
 *   container_table                  container -> snapshot + rule results
 *   planner / executor               plan -> writes
 *
 * Here: the grace period, which names the next pass plans, and the pass.
 * Apps and databases go through the same pass, keyed by planner_key (names
 * are per kind).  A Docker or watch event plans only the names it touches (a container's
 * names before and after the change); a listing plans what it found
 * changed (every name when it cannot be trusted: see listed); a grace
 * expiry plans the names the container had when it went; a rule swap, a
 * reload of the limits, a retry or an approval plans every name.
 */
#include "reconcile/reconciler.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/strmap.h"
#include "reconcile/clients.h"
#include "reconcile/container_table.h"
#include "reconcile/docker_sync.h"
#include "reconcile/executor.h"
#include "reconcile/grace.h"
#include "reconcile/reconciler_impl.h"
#include "reconcile/teleport_view.h"



/* dockerd shutting down stops its containers (their die events come) and
 * then ends the event stream: containers that stopped this long before the
 * end are taken as stopped by the shutdown, not gone for good. */
#define SHUTDOWN_WINDOW_MS 20000u

static bool first_listing_done(const struct reconciler *r)
{
    return docker_sync_listed(r->ds) && teleport_view_listed(r->tv);
}

static bool listing(const struct reconciler *r)
{
    return docker_sync_busy(r->ds) || teleport_view_busy(r->tv);
}

void reconciler_touch(struct reconciler *r, const char *name)
{
    if (!r->full && strmap_get(&r->touched, name) == NULL && strmap_put(&r->touched, name, r, NULL) < 0)
        r->full = true;     /* out of memory: plan everything instead */
}

void reconciler_touch_res(struct reconciler *r, const struct resource *res)
{
    char kb[PLANNER_KEY_MAX];
    reconciler_touch(r, planner_key(res->kind, res->name, kb));
}

static void touch_apps(struct reconciler *r, const struct container_entry *e)
{
    for (size_t i = 0; i < e->apps.len; i++)
        reconciler_touch_res(r, &e->apps.items[i]);
}

static void plan_all(struct reconciler *r, unsigned delay_ms)
{
    r->full = true;
    reconciler_schedule_plan(r, delay_ms);
}

/* ---- grace period ------------------------------------------------------------ */

/* A period ended: the pass plans the names of the containers whose period
 * ended (grace_holds hands them to touch_key), not every name. */
static void grace_timer_cb(uv_timer_t *t)
{
    reconciler_schedule_plan(t->data, 0);
}

static void touch_key(void *ud, const char *key)
{
    reconciler_touch(ud, key);
}

/* ---- Docker side ------------------------------------------------------------------ */

static void on_docker_change(void *ud, const char *id, enum docker_sync_change what, struct container *c,
                             bool in_listing)
{
    struct reconciler *r = ud;
    struct container_entry *e = container_table_get(&r->table, id);
    bool plan = !in_listing;    /* a listing plans what it touched when it is done (on_listed) */

    if (r->stopping) {
        container_free(c);
        return;
    }
    if (what == DOCKER_SYNC_UNKNOWN) {
        if (e != NULL)
            container_table_set_inspect_failed(&r->table, e);
        return;
    }
    if (what == DOCKER_SYNC_GONE) {
        if (e == NULL)
            return;
        log_info(LOG_RECONCILE, "container %s (%.12s) is gone", e->snap->name, e->id);
        grace_gone(&r->grace, e->snap->name, uv_now(r->loop), &e->apps);
        if (r->docker_down)     /* stopped while dockerd is away: unknown until it lists */
            grace_pin(&r->grace, uv_now(r->loop));
        touch_apps(r, e);
        container_table_remove(&r->table, e);
        if (plan)
            reconciler_schedule_plan(r, r->cfg.coalesce_ms);
        return;
    }
    bool was_live = e != NULL, changed;
    if (was_live && (e->snap->hash != c->hash || e->inspect_failed || e->rules_failed))
        touch_apps(r, e);       /* the names it wanted before */
    grace_back(&r->grace, c->name);
    if ((e = container_table_put(&r->table, id, c)) == NULL)
        return;
    if (!was_live)
        log_info(LOG_RECONCILE, "container %s (%.12s) is running, image %s", e->snap->name, e->id, e->snap->image);
    changed = !was_live || e->snap_hash != e->snap->hash || e->rules_failed;
    reconcile_ops_evaluate(r, e);
    changed = changed || e->rules_failed;
    if (changed) {
        touch_apps(r, e);       /* and the names it wants now */
        if (plan)
            reconciler_schedule_plan(r, r->cfg.coalesce_ms);
    }
}

static void on_docker_resync(void *ud)
{
    struct reconciler *r = ud;
    /* A resync lists Docker, and Teleport too unless the watch keeps the
     * view complete (then a listing would only repeat it); it plans once
     * when both have answered. */
    teleport_view_resync(r->tv);
}

static void on_docker_stream_end(void *ud)
{
    struct reconciler *r = ud;
    uint64_t now;
    size_t n;

    if (r->stopping)
        return;
    uv_update_time(r->loop);
    now = uv_now(r->loop);
    r->docker_down = true;
    n = grace_pin(&r->grace, now > SHUTDOWN_WINDOW_MS ? now - SHUTDOWN_WINDOW_MS : 0);
    if (n > 0)
        log_warn(LOG_RECONCILE, "Docker's event stream ended within %us of %zu container stop(s) (dockerd shutting "
                 "down?): their apps are kept until Docker lists its containers again", SHUTDOWN_WINDOW_MS / 1000, n);
}

/* A listing of Docker (or of Teleport, on_view_listed) is done.  Once
 * both are done, the pass that follows plans only the names the listing
 * found changed: the event stream and the watch keep the rest current.
 * It plans every name when that cannot be trusted: until a full pass ran
 * on complete listings, after a Teleport listing (the watch was down), an
 * incomplete one or dockerd's shutdown; and when the listing inspected
 * every container (docker_sync does so every 10th time).  Else it also
 * plans the names whose deletion the cap or an incomplete input holds
 * (reconcile_held.c), and every lease/4 the owned apps whose lease is due. */
static void listed(struct reconciler *r)
{
    uint64_t now = uv_now(r->loop), lease_ms = (uint64_t)r->cfg.lease_sec * 1000;

    if (!docker_sync_complete(r->ds) || !teleport_view_complete(r->tv))
        r->need_full = true;
    if (listing(r))
        return;
    if (r->need_full || docker_sync_listed_all(r->ds)) {
        r->full = true;
    } else {
        reconcile_held_touch(r);
        if (lease_ms > 0 && now - r->lease_checked_ms >= lease_ms / 4) {
            reconcile_held_touch_lease_due(r);
            r->lease_checked_ms = now;
        }
    }
    r->listing_pass = true;
    reconciler_schedule_plan(r, 0);
}

static void on_listed(void *ud, bool complete)
{
    struct reconciler *r = ud;
    (void)complete;
    if (r->docker_down && docker_sync_complete(r->ds)) {
        size_t n = grace_unpin(&r->grace, uv_now(r->loop));
        r->docker_down = false;
        r->need_full = true;
        if (n > 0)
            log_info(LOG_RECONCILE, "Docker lists its containers again: the %zu stopped at its shutdown keep their "
                     "apps for the %us grace period from now", n, r->grace.sec);
    }
    listed(r);
}

/* ---- Teleport side ---------------------------------------------------------------- */

static void on_view_listed(void *ud, bool complete)
{
    struct reconciler *r = ud;
    (void)complete;
    r->need_full = true;        /* what changed while the watch was down is not known by name */
    listed(r);
}

static void on_view_change(void *ud, const char *name)
{
    struct reconciler *r = ud;
    reconciler_touch(r, name);
    reconciler_schedule_plan(r, r->cfg.coalesce_ms);
}

/* ---- writes ------------------------------------------------------------------------ */

static void maybe_done(struct reconciler *r)
{
    if (r->cfg.once && first_listing_done(r) && !listing(r) && !r->stopping && executor_idle(r->ex) &&
        !uv_is_active((uv_handle_t *)&r->plan_timer)) {
        r->cfg.once = false;
        r->cfg.on_done(r->cfg.ud);
    }
}

static void write_done(void *ud, enum plan_op op, const struct resource *res, const struct enr_error *err,
                       bool skipped)
{
    struct reconciler *r = ud;
    const char *c = kv_get(&res->labels, PLANNER_LABEL_CONTAINER);
    const char *what = planner_kind_word(res->kind);
    char kb[PLANNER_KEY_MAX];
    const char *key = planner_key(res->kind, res->name, kb);

    if (r->stopping)
        return;
    teleport_view_written(r->tv, op, res, err);
    free(strmap_del(&r->failed, key));
    if (err != NULL) {
        char *msg = strdup(err->msg);
        if (msg != NULL && strmap_put(&r->failed, key, msg, NULL) < 0)
            free(msg);
        r->stats.write_errors++;
        uint64_t retry_ms = executor_retry_in(r->ex, key);
        char retry[48] = "";
        if (retry_ms > 0)
            snprintf(retry, sizeof(retry), "; retrying in %.1fs", (double)retry_ms / 1000.0);
        log_warn(LOG_TELEPORT, "%s %s %s: %s%s", plan_op_name(op), what, res->name, err->msg, retry);
        return;
    }
    log_info(LOG_RECONCILE, "%sd %s %s (container %s, uri %s)", plan_op_name(op), what, res->name, c ? c : "-",
             res->uri);
    if (op == PLAN_DELETE)
        r->stats.deletes++;
    else if (op == PLAN_CREATE)
        r->stats.creates++;
    else
        r->stats.updates++;
    /* A pass that skipped this name while the write was in flight did not
     * plan it: plan it again now.  Otherwise the pass that sent the write
     * was the last to need it. */
    if (skipped) {
        reconciler_touch(r, key);
        reconciler_schedule_plan(r, r->cfg.coalesce_ms);
    }
}

static void executor_idle_cb(void *ud)
{
    maybe_done(ud);
}

static void executor_retry_cb(void *ud, const char *key)
{
    struct reconciler *r = ud;

    if (key == NULL) {
        plan_all(r, 0);
        return;
    }
    reconciler_touch(r, key);
    reconciler_schedule_plan(r, r->cfg.coalesce_ms);
}

/* ---- the deletion window ---------------------------------------------------------------- */

/* Deletions sent within the window before now (older ones are forgotten). */
static size_t recent_deletes(struct reconciler *r, uint64_t now)
{
    uint64_t w = (uint64_t)r->cfg.delete_window_sec * 1000;
    size_t k = 0;

    while (k < r->n_del && now - r->del_times[k] >= w)
        k++;
    if (k == 0)
        return r->n_del;
    memmove(r->del_times, r->del_times + k, (r->n_del - k) * sizeof(*r->del_times));
    r->n_del -= k;
    return r->n_del;
}

static void note_deletes(struct reconciler *r, size_t n, uint64_t now)
{
    if (n == 0 || r->cfg.delete_window_sec == 0 || r->cfg.max_deletes == 0)
        return;
    if (r->n_del + n > r->cap_del) {
        size_t cap = (r->n_del + n) * 2;
        uint64_t *v = realloc(r->del_times, cap * sizeof(*v));
        if (v == NULL) {
            log_error(LOG_RECONCILE, "deletion window: out of memory; %zu deletions not counted", n);
            return;
        }
        r->del_times = v;
        r->cap_del = cap;
    }
    while (n-- > 0)
        r->del_times[r->n_del++] = now;
}

/* ---- planning ------------------------------------------------------------------------ */

/* The planner's input as it is gathered, name by name. */
struct pass {
    const struct resource **desired, **teleport;
    size_t nd, cap_d, nt, cap_t;
    struct planner_hold *held;
    size_t nh, cap_h;
};

static int grow(void *pv, size_t *cap, size_t n, size_t size)
{
    void **v = pv, *nv;
    size_t c;

    if (n < *cap)
        return 0;
    c = *cap ? *cap * 2 : 16;
    if ((nv = realloc(*v, c * size)) == NULL)
        return -ENOMEM;
    *v = nv;
    *cap = c;
    return 0;
}

/* Every claimant's app or database, Teleport's copy and the executor's hold
 * for the key (planner_key) name. */
static int pass_name(struct reconciler *r, struct pass *ps, const char *name)
{
    size_t n;
    struct container_entry *const *v = container_table_wanting(&r->table, name, &n);
    const struct resource *t = teleport_view_get(r->tv, name);
    const char *h = executor_hold_pass(r->ex, name);
    enum resource_kind kind;
    const char *bare = planner_key_name(name, &kind);

    /* Databases Teleport would not list to us are left alone entirely. */
    if (kind == RESOURCE_DB && !teleport_view_dbs_known(r->tv))
        return 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < v[i]->apps.len; k++) {
            if (v[i]->apps.items[k].kind != kind || strcmp(v[i]->apps.items[k].name, bare) != 0 ||
                reconcile_agents_is_agent(r, &v[i]->apps.items[k]))
                continue;
            if (grow(&ps->desired, &ps->cap_d, ps->nd, sizeof(*ps->desired)) < 0)
                return -ENOMEM;
            ps->desired[ps->nd++] = &v[i]->apps.items[k];
        }
    if (t != NULL) {
        if (grow(&ps->teleport, &ps->cap_t, ps->nt, sizeof(*ps->teleport)) < 0)
            return -ENOMEM;
        ps->teleport[ps->nt++] = t;
    }
    if (h != NULL) {
        if (grow(&ps->held, &ps->cap_h, ps->nh, sizeof(*ps->held)) < 0)
            return -ENOMEM;
        ps->held[ps->nh].name = name;
        ps->held[ps->nh++].reason = h;
    }
    return 0;
}

static int gather(struct reconciler *r, struct pass *ps, bool full)
{
    const struct resource *t;
    const char *name;
    size_t it = 0, n;

    if (!full) {
        while (strmap_next(&r->touched, &it, &name, NULL))
            if (pass_name(r, ps, name) < 0)
                return -ENOMEM;
        return 0;
    }
    while (container_table_next_name(&r->table, &it, &name))
        if (pass_name(r, ps, name) < 0)
            return -ENOMEM;
    /* The view's other resources: the owned ones no container wants.
     * Another owner's that no container wants are left out: a pass does
     * nothing with them, and on a shared cluster they are most of the view. */
    for (it = 0; teleport_view_next(r->tv, &it, &t);) {
        char kb[PLANNER_KEY_MAX];
        const char *key;
        if (!planner_owned(t, r->owner))
            continue;
        key = planner_key(t->kind, t->name, kb);
        if (container_table_wanting(&r->table, key, &n) == NULL && pass_name(r, ps, key) < 0)
            return -ENOMEM;
    }
    return 0;
}

static void report(struct reconciler *r, const struct plan *p, bool full)
{
    for (size_t i = 0; i < p->len; i++) {
        const struct plan_action *a = &p->actions[i];
        const char *what = planner_kind_word(a->res.kind);
        char kb[PLANNER_KEY_MAX];
        const char *key = planner_key(a->res.kind, a->name, kb);
        const char *prev;

        if (a->op == PLAN_SKIP) {
            log_debug(LOG_RECONCILE, "skip %s %s: %s", what, a->name, a->reason);
            continue;
        }
        if (a->op == PLAN_UPDATE && teleport_view_wrote(r->tv, &a->res)) {
            /* We wrote exactly this before, and Teleport now differs. */
            log_warn(LOG_RECONCILE, "%s %s was changed outside enroller (Teleport revision %s); restoring "
                     "what the rules want", what, a->name, a->res.revision);
            r->stats.drift++;
        }
        if (a->op != PLAN_CONFLICT)
            continue;
        r->stats.conflicts++;
        prev = strmap_get(&r->reported, key);
        if (prev != NULL && strcmp(prev, a->reason) == 0)
            continue;
        log_warn(LOG_RECONCILE, "conflict on %s %s: %s; leaving it alone", what, a->name, a->reason);
        r->conflicts_reported++;
        char *copy = strdup(a->reason);
        void *old = NULL;
        if (copy != NULL && strmap_put(&r->reported, key, copy, &old) == 0)
            free(old);
        else
            free(copy);
    }
    if (p->deletes_capped && p->capped_deletes != r->last_capped)
        r->capped_held += p->capped_deletes;
    if (p->deletes_capped && p->capped_deletes != r->last_capped && p->window_capped)
        log_error(LOG_RECONCILE, "deletion cap: %zu apps deleted within the last %us and %zu more now would exceed "
                  "max_deletes %u; NOTHING deleted. If those containers are really gone, approve once with "
                  "kill -USR1 %d", p->window_deletes, r->cfg.delete_window_sec, p->capped_deletes,
                  r->cfg.max_deletes, (int)uv_os_getpid());
    else if (p->deletes_capped && p->capped_deletes != r->last_capped)
        log_error(LOG_RECONCILE, "deletion cap: this pass would delete %zu of %zu owned apps (max %u, %u%%); "
                  "NOTHING deleted. If Docker really lost those containers, approve once with "
                  "kill -USR1 %d", p->capped_deletes, p->owned, r->cfg.max_deletes, r->cfg.max_delete_percent,
                  (int)uv_os_getpid());
    /* A pass over a few names says nothing about a cap a full pass hit. */
    if (full || p->deletes_capped)
        r->last_capped = p->deletes_capped ? p->capped_deletes : 0;
}

/* Hands the plan on: to on_plan, to the log (dry run) or to the executor. */
static int execute(struct reconciler *r, struct plan *p, bool full, struct enr_error *err)
{
    if (r->cfg.plan_only) {
        if (!r->plan_reported) {
            r->plan_reported = true;
            r->cfg.on_plan(r->cfg.ud, p, NULL);
        }
        return 0;
    }
    report(r, p, full);
    if (r->cfg.dry_run) {
        for (size_t i = 0; i < p->len; i++)
            if (p->actions[i].op <= PLAN_DELETE)
                log_info(LOG_RECONCILE, "dry-run: would %s %s %s (%s)", plan_op_name(p->actions[i].op),
                         planner_kind_word(p->actions[i].res.kind), p->actions[i].name, p->actions[i].reason);
        maybe_done(r);
        return 0;
    }
    if (p->n[PLAN_CREATE] + p->n[PLAN_UPDATE] + p->n[PLAN_DELETE] > 0)
        log_info(LOG_RECONCILE, "plan: %zu create, %zu update, %zu delete, %zu conflict, %zu skip",
                 p->n[PLAN_CREATE], p->n[PLAN_UPDATE], p->n[PLAN_DELETE], p->n[PLAN_CONFLICT], p->n[PLAN_SKIP]);
    return executor_submit(r->ex, p, err);
}

static void plan_timer_cb(uv_timer_t *h)
{
    struct reconciler *r = h->data;
    struct pass ps = {0};
    const char **unknown = NULL;
    uint64_t next_expiry;
    struct planner_input in = {0};
    struct enr_error err = {0};
    struct container_entry *e;
    size_t nu = 0, it = 0;
    bool full;
    int rc;
    uint64_t t0 = uv_hrtime();
    struct plan p;

    plan_init(&p);
    if (r->stopping || !first_listing_done(r))
        return;
    unknown = calloc(r->table.unknown.len + 1, sizeof(*unknown));
    /* First the grace period: the names of a container whose period ended
     * join this pass (every name, if its names were never known). */
    if (unknown == NULL || (rc = grace_holds(&r->grace, uv_now(r->loop), &in.grace_containers,
                                             &in.n_grace_containers, &next_expiry, touch_key, r)) < 0) {
        err_set(&err, -ENOMEM, "plan: out of memory");
        goto fail;
    }
    if (rc > 0)
        r->full = true;
    full = r->full;
    if (gather(r, &ps, full) < 0) {
        err_set(&err, -ENOMEM, "plan: out of memory");
        goto fail;
    }
    if (next_expiry != UINT64_MAX)     /* plan again when the next one expires */
        uv_timer_start(&r->grace_timer, grace_timer_cb, next_expiry - uv_now(r->loop) + 1, 0);
    while (container_table_next_unknown(&r->table, &it, &e))
        unknown[nu++] = e->snap->name;
    in.owner = r->owner;
    in.desired = ps.desired;
    in.n_desired = ps.nd;
    in.teleport = ps.teleport;
    in.n_teleport = ps.nt;
    in.subset = !full;
    in.owned_total = teleport_view_owned(r->tv);
    in.docker_complete = docker_sync_complete(r->ds);
    in.teleport_complete = teleport_view_complete(r->tv);
    in.unknown_containers = unknown;
    in.n_unknown_containers = nu;
    in.held_names = ps.held;
    in.n_held_names = ps.nh;
    in.policy = r->cfg.policy;
    in.adopt = r->cfg.adopt;
    in.max_deletes = r->cfg.max_deletes;
    in.max_delete_percent = r->cfg.max_delete_percent;
    in.deletes_approved = r->deletes_approved;
    in.recent_deletes = recent_deletes(r, uv_now(r->loop));
    in.window_sec = r->cfg.delete_window_sec;
    in.now = (int64_t)time(NULL);
    in.lease_sec = r->cfg.lease_sec;
    in.grace_sec = r->grace.sec;
    if (planner_plan(&in, &p, &err) < 0)
        goto fail;
    if (in.deletes_approved) {
        /* An approval covers this one pass; what it let through no longer
         * counts against the window. */
        r->deletes_approved = false;
        r->n_del = 0;
        log_warn(LOG_RECONCILE, "SIGUSR1 approval used by this pass (%zu deletions); disarmed: the deletion cap "
                 "holds again from the next pass", p.n[PLAN_DELETE]);
    }
    log_debug(LOG_RECONCILE, "pass: %s (%zu desired, %zu in Teleport)%s", full ? "every name" : "changed names",
              ps.nd, ps.nt, r->listing_pass ? " after a listing" : "");
    reconcile_held_note(r, &p, full);
    /* The names are planned: what touches them from here on is news. */
    r->full = false;
    strmap_cleanup(&r->touched);
    r->stats.passes++;
    r->stats.desired = container_table_n_apps(&r->table);
    r->last_plan_ms = uv_now(r->loop);
    if (in.docker_complete && in.teleport_complete && (full || (r->listing_pass && !r->need_full))) {
        r->synced = true;
        r->last_sync = in.now;
    }
    if (full && in.docker_complete && in.teleport_complete) {
        r->need_full = false;
        r->lease_checked_ms = r->last_plan_ms;
    }
    r->listing_pass = false;
    if (execute(r, &p, full, &err) < 0)
        goto fail;
    if (!r->cfg.plan_only && !r->cfg.dry_run && !in.deletes_approved)
        note_deletes(r, p.n[PLAN_DELETE], uv_now(r->loop));
    reconcile_held_arm_window(r, &p);
    if (r->am != NULL)
        reconcile_agents_sync(r, &in);
    if (r->cfg.on_pass != NULL)
        r->cfg.on_pass(r->cfg.ud, (double)(uv_hrtime() - t0) / 1e9, full);
    goto out;
fail:
    log_error(LOG_RECONCILE, "%s", err.msg);
    if (r->cfg.plan_only && !r->plan_reported) {
        r->plan_reported = true;
        r->cfg.on_plan(r->cfg.ud, NULL, &err);
    }
out:
    plan_cleanup(&p);
    free(ps.desired);
    free(ps.teleport);
    free(ps.held);
    free(unknown);
}

void reconciler_schedule_plan(struct reconciler *r, unsigned delay_ms)
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
    log_warn(LOG_RECONCILE, "SIGUSR1: the next pass (only) may delete above the deletion cap");
    r->deletes_approved = true;
    r->last_capped = 0;
    plan_all(r, 0);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

static int make_parts(struct reconciler *r, const struct reconciler_config *cfg, struct enr_error *err)
{
    struct docker_sync_config dcfg = {.resync_sec = r->cfg.resync_sec, .poll_only = cfg->poll_only,
                                     .once = cfg->once};
    struct docker_sync_callbacks dcb = {.on_change = on_docker_change, .on_resync = on_docker_resync,
                                        .on_listed = on_listed, .ud = r, .on_stream_end = on_docker_stream_end};
    struct teleport_view_config vcfg = {.owner = cfg->owner, .resync_sec = r->cfg.resync_sec,
                                        .confirm_sec = cfg->confirm_sec,
                                        .watch_servers = cfg->agent != NULL && !cfg->plan_only && !cfg->dry_run};
    struct teleport_view_callbacks vcb = {.on_change = on_view_change, .on_listed = on_view_listed,
                                          .on_server = reconcile_agents_on_server,
                                          .on_watch = reconcile_agents_on_watch, .ud = r};
    struct executor_config xcfg = {.max_inflight = cfg->max_inflight, .rate = cfg->write_rate,
                                   .burst = cfg->write_burst};
    struct executor_callbacks xcb = {.done = write_done, .idle = executor_idle_cb, .retry = executor_retry_cb,
                                     .ud = r};

    if ((r->owner = strdup(cfg->owner)) == NULL)
        return err_set(err, -ENOMEM, "reconciler: out of memory");
    if ((r->ds = docker_sync_new(r->loop, &dcfg, &r->dops, &dcb, err)) == NULL ||
        (r->tv = teleport_view_new(r->loop, &vcfg, &r->tops, &vcb, err)) == NULL ||
        (r->ex = executor_new(r->loop, &r->tops, &xcfg, &xcb, err)) == NULL)
        return err->code ? err->code : -ENOMEM;
    return 0;
}

static void free_values(struct strmap *m)
{
    size_t it = 0;
    void *val;
    while (strmap_next(m, &it, NULL, &val))
        free(val);
    strmap_cleanup(m);
}

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
        r->cfg.resync_sec = RECONCILER_DEFAULT_RESYNC_SEC;
    if (r->cfg.coalesce_ms == 0)
        r->cfg.coalesce_ms = 5;
    r->rules = rules;
    /* Another owner's apps and databases are read in brief: the planner
     * reads only their name, revision and owner (teleport_event.h). */
    if (teleport_client_set_detail(tc, PLANNER_LABEL_OWNER, cfg->owner) < 0) {
        free(r);
        err_set(err, -ENOMEM, "reconciler: out of memory");
        return NULL;
    }
    clients_docker(&r->dops, dc);
    clients_teleport(&r->tops, tc);
    container_table_init(&r->table);
    strmap_init(&r->reported);
    grace_init(&r->grace, cfg->grace_sec);
    strmap_init(&r->touched);
    strmap_init(&r->failed);
    strmap_init(&r->held_by);
    if (make_parts(r, cfg, err) < 0) {
        /* Only an allocation fails, before a part has started anything; the
         * timers of the parts made so far are closed with one loop turn. */
        docker_sync_close(r->ds);
        teleport_view_close(r->tv);
        executor_close(r->ex);
        uv_run(loop, UV_RUN_NOWAIT);
        docker_sync_free(r->ds);
        teleport_view_free(r->tv);
        executor_free(r->ex);
        strmap_cleanup(&r->touched);
        grace_cleanup(&r->grace);
        strmap_cleanup(&r->reported);
        strmap_cleanup(&r->failed);
        container_table_cleanup(&r->table);
        free(r->owner);
        free(r);
        return NULL;
    }
    if (cfg->agent != NULL && !cfg->plan_only && !cfg->dry_run &&
        (r->am = agent_manager_new(loop, cfg->agent, dc, tc, err)) == NULL)
        log_error(LOG_RECONCILE, "agent mode: %s", err->msg); /* out of memory only */
    uv_timer_init(loop, &r->plan_timer);
    uv_timer_init(loop, &r->grace_timer);
    uv_timer_init(loop, &r->window_timer);
    uv_signal_init(loop, &r->sig_approve);
    r->plan_timer.data = r->grace_timer.data = r->window_timer.data = r->sig_approve.data = r;
    r->need_full = true;        /* the first pass plans every name */
    if (!r->cfg.plan_only)
        uv_signal_start(&r->sig_approve, on_approve, SIGUSR1);
    return r;
}

int reconciler_start(struct reconciler *r, struct enr_error *err)
{
    (void)err;
    /* Events, then the first listing of both sides (on_docker_resync). */
    docker_sync_start(r->ds);
    if (r->am != NULL)
        agent_manager_start(r->am);
    if (!r->cfg.plan_only && !r->cfg.once)
        teleport_view_watch(r->tv);
    return 0;
}

void reconciler_set_rules(struct reconciler *r, struct rule_set *rules)
{
    struct container_entry *e;
    size_t it = 0;

    r->rules = rules;
    while (container_table_next(&r->table, &it, &e))
        reconcile_ops_evaluate(r, e);
    plan_all(r, 0);
}

void reconciler_set_limits(struct reconciler *r, const struct reconciler_config *cfg)
{
    if (r->stopping)
        return;
    r->cfg.policy = cfg->policy;
    r->cfg.grace_sec = cfg->grace_sec;
    r->cfg.max_deletes = cfg->max_deletes;
    r->cfg.max_delete_percent = cfg->max_delete_percent;
    r->cfg.delete_window_sec = cfg->delete_window_sec;
    r->cfg.adopt = cfg->adopt;
    r->cfg.write_rate = cfg->write_rate;
    r->cfg.write_burst = cfg->write_burst;
    r->cfg.confirm_sec = cfg->confirm_sec;
    grace_set_period(&r->grace, cfg->grace_sec);
    executor_set_rate(r->ex, cfg->write_rate, cfg->write_burst);
    teleport_view_set_confirm(r->tv, cfg->confirm_sec);
    r->last_capped = 0;     /* a cap still hit is logged again with the new limits */
    plan_all(r, 0);
}

void reconciler_stop(struct reconciler *r)
{
    if (r == NULL || r->stopping)
        return;
    r->stopping = true;
    docker_sync_close(r->ds);
    teleport_view_close(r->tv);
    executor_close(r->ex);
    agent_manager_close(r->am);
    uv_close((uv_handle_t *)&r->plan_timer, NULL);
    uv_close((uv_handle_t *)&r->grace_timer, NULL);
    uv_close((uv_handle_t *)&r->window_timer, NULL);
    uv_close((uv_handle_t *)&r->sig_approve, NULL);
}

void reconciler_free(struct reconciler *r)
{
    if (r == NULL)
        return;
    /* Handles must be closed (reconciler_stop + a loop turn) before this. */
    docker_sync_free(r->ds);
    teleport_view_free(r->tv);
    executor_free(r->ex);
    agent_manager_free(r->am);
    container_table_cleanup(&r->table);
    free_values(&r->reported);
    free_values(&r->failed);
    strmap_cleanup(&r->held_by);
    grace_cleanup(&r->grace);
    strmap_cleanup(&r->touched);
    free(r->del_times);
    free(r->owner);
    free(r);
}

void reconciler_get_stats(const struct reconciler *r, struct reconciler_stats *out)
{
    struct docker_sync_stats ds;

    docker_sync_get_stats(r->ds, &ds);
    *out = r->stats;
    out->events = ds.events;
    out->resyncs = ds.resyncs;
    out->containers = container_table_size(&r->table);
    out->owned = teleport_view_owned(r->tv);
    out->docker_complete = docker_sync_complete(r->ds);
    out->teleport_complete = teleport_view_complete(r->tv);
}
