/*
 * reconcile_held.c - the deletions a pass held, and when to plan them again.
 *
 * r->held_by records every held deletion by name (planner_key) and the
 * guard rail that held it.  A listing plans only what changed (reconciler.c
 * listed), so a held deletion needs its own reason to be planned again: one
 * held by the deletion cap or by a container in an unknown state is planned
 * by name at each listing (reconcile_held_touch); one the deletion window
 * capped also when the window lets it through (r->window_timer); one held
 * by the policy only when something touches its name or a reload changes
 * the policy; one held by the grace period when the grace timer fires
 * (reconciler.c).  Leases due for a refresh are found here too.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "base/kv.h"
#include "base/log.h"
#include "base/strmap.h"
#include "reconcile/planner.h"
#include "reconcile/reconciler_impl.h"
#include "reconcile/teleport_view.h"

/* A listing plans these again: the cap's budget frees as the window moves
 * (and a pass over its names counts them together), and a container whose
 * inspect or rules failed may be known again without touching the name. */
static bool replanned(enum plan_guard g)
{
    return g == PLAN_GUARD_CAP || g == PLAN_GUARD_INCOMPLETE;
}

void reconcile_held_note(struct reconciler *r, const struct plan *p, bool full)
{
    struct strmap next;
    const char *name;
    bool capped = false;
    void *g;

    strmap_init(&next);
    for (size_t i = 0; i < p->len; i++) {
        const struct plan_action *a = &p->actions[i];
        char kb[PLANNER_KEY_MAX];
        const char *key;

        if (a->op != PLAN_SKIP || a->guard == PLAN_GUARD_NONE)
            continue;
        key = planner_key(a->res.kind, a->name, kb);
        /* the cap is counted once per new cap (reconciler.c) */
        if (!r->cfg.plan_only && a->guard != PLAN_GUARD_CAP &&
            strmap_get(&r->held_by, key) != (void *)(uintptr_t)a->guard)
            r->deletes_held[a->guard]++;
        if (strmap_put(&next, key, (void *)(uintptr_t)a->guard, NULL) < 0) {
            log_warn(LOG_RECONCILE, "noting held deletions: out of memory");
            r->need_full = true;    /* the next listing plans every name */
        }
    }
    if (full) {
        strmap_cleanup(&r->held_by);
        r->held_by = next;
    } else {
        for (size_t it = 0; strmap_next(&r->touched, &it, &name, NULL);)
            strmap_del(&r->held_by, name);
        for (size_t it = 0; strmap_next(&next, &it, &name, &g);)
            if (strmap_put(&r->held_by, name, g, NULL) < 0) {
                log_warn(LOG_RECONCILE, "noting held deletions: out of memory");
                r->need_full = true;
            }
        strmap_cleanup(&next);
    }
    for (size_t it = 0; !capped && strmap_next(&r->held_by, &it, NULL, &g);)
        capped = (uintptr_t)g == PLAN_GUARD_CAP;
    /* No deletion is held by the cap any more: a new cap is news. */
    if (!capped)
        r->last_capped = 0;
}

void reconcile_held_touch(struct reconciler *r)
{
    const char *name;
    void *g;

    for (size_t it = 0; strmap_next(&r->held_by, &it, &name, &g);)
        if (replanned((enum plan_guard)(uintptr_t)g))
            reconciler_touch(r, name);
}

static void window_timer_cb(uv_timer_t *t)
{
    struct reconciler *r = t->data;

    reconcile_held_touch(r);
    reconciler_schedule_plan(r, 0);
}

/* A pass the deletion window capped (its deletions alone are within
 * max_deletes): plan the held names again once enough of the window's
 * deletions have aged out for them to fit.  del_times holds the window's
 * deletions, oldest first (recent_deletes ran for this pass). */
void reconcile_held_arm_window(struct reconciler *r, const struct plan *p)
{
    uint64_t w = (uint64_t)r->cfg.delete_window_sec * 1000, now = uv_now(r->loop), due;
    size_t j;

    if (!p->deletes_capped || !p->window_capped || p->capped_deletes > r->cfg.max_deletes ||
        r->n_del + p->capped_deletes <= r->cfg.max_deletes)
        return;
    /* The pass fits once the deletions up to and including j have aged out. */
    j = r->n_del + p->capped_deletes - r->cfg.max_deletes - 1;
    due = r->del_times[j] + w;
    uv_timer_start(&r->window_timer, window_timer_cb, due > now ? due - now + 1 : 1, 0);
}

/* Touches the owned apps in the view whose lease is due for refresh (the
 * planner's test, planner_lease_due), so a listing plans them and not
 * every name. */
void reconcile_held_touch_lease_due(struct reconciler *r)
{
    int64_t now = (int64_t)time(NULL);
    const struct resource *t;

    for (size_t it = 0; teleport_view_next(r->tv, &it, &t);) {
        if (planner_owned(t, r->owner) && planner_lease_due(t, now, r->cfg.lease_sec))
            reconciler_touch_res(r, t);
    }
}
