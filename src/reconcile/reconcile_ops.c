/*
 * reconcile_ops.c - reconciler_fill_snapshot (reconciler.h): what the
 * reconciler knows, as an operations snapshot (ops/ops_snapshot.h).
 *
 * A wanted app's state, first match wins:
 *   held (incomplete)  its container's inspect or rules failed: the old
 *                      apps are kept as they were
 *   error              the last write of the name failed (its message)
 *   waiting            a write is queued, in flight or backing off
 *   registered         Teleport has it, owned by us for this container
 *   conflict           Teleport has it for someone else, or another
 *                      container wants the name
 *   waiting            not in Teleport yet
 * An app we own that no running container wants is listed under the
 * container named in its container label: held by the grace period, the
 * deletion cap, an incomplete listing or the policy, else waiting (to be
 * deleted).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/strmap.h"
#include "ops/ops_snapshot.h"
#include "reconcile/reconciler_impl.h"

void reconcile_ops_evaluate(struct reconciler *r, struct container_entry *e)
{
    char *before = e->last_error != NULL ? strdup(e->last_error) : NULL;

    container_table_evaluate(&r->table, e, r->rules, r->owner);
    /* container_table logs each distinct error of a container once: so is it counted */
    if (e->rules_failed && e->last_error != NULL && (before == NULL || strcmp(before, e->last_error) != 0)) {
        r->rule_errors++;
        if (r->cfg.on_rule_error != NULL)
            r->cfg.on_rule_error(r->cfg.ud, e->snap->name, e->last_error);
    }
    free(before);
}

static enum ops_state wanted_state(const struct reconciler *r, const struct container_entry *e,
                                   const struct resource *a, const char **msg, enum ops_guard *guard,
                                   char *buf, size_t size)
{
    char kb[PLANNER_KEY_MAX];
    const char *name = planner_key(a->kind, a->name, kb), *fmsg, *hold, *reason, *c;
    const struct resource *t = teleport_view_get(r->tv, name);
    size_t n = 0;

    *guard = OPS_GUARD_NONE;
    *msg = "";
    if (e->rules_failed || e->inspect_failed) {
        *guard = OPS_GUARD_INCOMPLETE;
        *msg = e->rules_failed ? (e->last_error ? e->last_error : "its rules failed")
                               : "its inspect failed: its state is unknown";
        return OPS_STATE_HELD;
    }
    if ((fmsg = strmap_get(&r->failed, name)) != NULL) {
        *msg = fmsg;
        return OPS_STATE_ERROR;
    }
    if ((hold = executor_hold(r->ex, name)) != NULL) {
        *msg = hold;
        return OPS_STATE_WAITING;
    }
    c = t != NULL ? kv_get(&t->labels, PLANNER_LABEL_CONTAINER) : NULL;
    if (t != NULL && planner_owned(t, r->owner) && c != NULL && strcmp(c, e->snap->name) == 0)
        return OPS_STATE_REGISTERED;
    reason = strmap_get(&r->reported, name);
    container_table_wanting(&r->table, name, &n);
    if (t != NULL || n > 1) {
        if (reason != NULL) {
            *msg = reason;
        } else if (t != NULL && planner_owned(t, r->owner)) {
            snprintf(buf, size, "registered for container %s", c != NULL ? c : "(none)");
            *msg = buf;
        } else if (t != NULL) {
            *msg = a->kind == RESOURCE_DB ? "a database of this name exists that enroller does not own"
                                          : "an app of this name exists that enroller does not own";
        } else {
            snprintf(buf, size, "%zu containers want this name", n);
            *msg = buf;
        }
        return OPS_STATE_CONFLICT;
    }
    *msg = r->cfg.dry_run ? "dry-run: not written" : "not in Teleport yet";
    return OPS_STATE_WAITING;
}

static int add_wanted(const struct reconciler *r, struct ops_snapshot *s, struct enr_error *err)
{
    struct container_entry *e;
    char buf[160];

    for (size_t it = 0; container_table_next(&r->table, &it, &e);) {
        const char *rule = e->apps.len > 0 ? kv_get(&e->apps.items[0].labels, PLANNER_LABEL_RULE) : NULL;
        struct ops_container *c = ops_snapshot_add_container(s, e->id, e->snap->name, e->snap->image, rule, err);
        if (c == NULL)
            return err->code < 0 ? err->code : -ENOMEM;
        for (size_t k = 0; k < e->apps.len; k++) {
            const struct resource *a = &e->apps.items[k];
            enum ops_guard guard;
            const char *msg;
            enum ops_state st = wanted_state(r, e, a, &msg, &guard, buf, sizeof(buf));
            int rc = ops_snapshot_add_resource(c, a->kind, a->name, st, msg, guard, err);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* Owned apps no running container wants, under their container label. */
static int add_unwanted(const struct reconciler *r, struct ops_snapshot *s, struct enr_error *err)
{
    struct strmap groups;
    const struct resource *t;
    bool complete = docker_sync_complete(r->ds) && teleport_view_complete(r->tv) && r->table.unknown.len == 0;
    size_t n;
    int rc = 0;

    strmap_init(&groups);
    for (size_t it = 0; teleport_view_next(r->tv, &it, &t);) {
        const char *cname = kv_get(&t->labels, PLANNER_LABEL_CONTAINER);
        struct ops_container *c;
        enum ops_guard guard = OPS_GUARD_NONE;
        enum ops_state st = OPS_STATE_HELD;
        const char *msg;
        char kb[PLANNER_KEY_MAX];

        if (!planner_owned(t, r->owner) ||
            container_table_wanting(&r->table, planner_key(t->kind, t->name, kb), &n) != NULL)
            continue;
        if (cname == NULL)
            cname = "";
        if ((c = strmap_get(&groups, cname)) == NULL) {
            if ((c = ops_snapshot_add_container(s, "", cname, "", kv_get(&t->labels, PLANNER_LABEL_RULE),
                                                err)) == NULL) {
                rc = err->code < 0 ? err->code : -ENOMEM;
                goto fail;
            }
            if ((rc = strmap_put(&groups, cname, c, NULL)) < 0) {
                err_set(err, rc, "ops snapshot: out of memory");
                goto fail;
            }
        }
        if (strmap_get(&r->grace.gone, cname) != NULL) {
            guard = OPS_GUARD_GRACE;
            msg = "its container is gone; kept for the grace period";
        } else if (r->last_capped > 0) {
            guard = OPS_GUARD_MAX_DELETES;
            msg = "the deletion cap holds it; approve with SIGUSR1";
        } else if (!complete) {
            guard = OPS_GUARD_INCOMPLETE;
            msg = "a listing or a container's rules failed: nothing is deleted";
        } else if (r->cfg.policy != PLANNER_SYNC) {
            guard = OPS_GUARD_POLICY;
            msg = "the policy never deletes";
        } else {
            st = OPS_STATE_WAITING;
            msg = "no container wants it: to be deleted";
        }
        if ((rc = ops_snapshot_add_resource(c, t->kind, t->name, st, msg, guard, err)) < 0)
            goto fail;
    }
fail:
    strmap_cleanup(&groups);
    return rc;
}

int reconciler_fill_snapshot(const struct reconciler *r, struct ops_snapshot *s, struct enr_error *err)
{
    struct executor_stats xs;
    struct docker_sync_stats ds;
    int rc;

    if (s->frozen)
        return err_set(err, -EBUSY, "ops snapshot: already published");
    if ((rc = add_wanted(r, s, err)) < 0 || (rc = add_unwanted(r, s, err)) < 0)
        return rc;
    executor_get_stats(r->ex, &xs);
    ops_snapshot_set_writes(s, &(struct ops_writes){.sent = xs.sent, .ok = xs.ok, .failed = xs.failed,
                                                    .dropped = xs.dropped, .inflight = xs.inflight,
                                                    .queued = xs.queued, .backing_off = xs.backing_off,
                                                    .circuit_open = xs.circuit_open});
    ops_snapshot_set_connected(s, docker_sync_complete(r->ds), teleport_view_complete(r->tv));
    ops_snapshot_set_first_sync_complete(s, r->synced);
    ops_snapshot_set_last_sync(s, r->last_sync);
    docker_sync_get_stats(r->ds, &ds);
    s->counters.docker_events = ds.events;
    s->counters.rule_errors += r->rule_errors;
    s->counters.conflicts = r->conflicts_reported;
    s->counters.deletes_held[OPS_GUARD_MAX_DELETES] = r->capped_held;
    s->counters.deletes_held[OPS_GUARD_GRACE] = r->deletes_held[PLAN_GUARD_GRACE];
    s->counters.deletes_held[OPS_GUARD_INCOMPLETE] = r->deletes_held[PLAN_GUARD_INCOMPLETE];
    s->counters.deletes_held[OPS_GUARD_POLICY] = r->deletes_held[PLAN_GUARD_POLICY];
    return 0;
}
