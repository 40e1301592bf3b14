/*
 * reconcile_held.c - the deletions a pass held, and when to plan them again.
 *
 * A listing plans only what changed (reconciler.c listed), so a held
 * deletion needs its own reason to be planned again: one held by the
 * deletion cap or by a container in an unknown state is planned by name at
 * each listing (r->replan); one the deletion window capped also when the
 * window lets it through (r->window_timer); one held by the policy only when
 * something touches its name or a reload changes the policy; one held by the
 * grace period when the grace timer fires (reconciler.c).  Leases due for a
 * refresh are found here too.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "base/kv.h"
#include "base/strmap.h"
#include "reconcile/planner.h"
#include "reconcile/reconciler_impl.h"
#include "reconcile/teleport_view.h"

/* Keeps r->replan, the names whose held deletion a listing plans again:
 * those held by the deletion cap (its budget frees as the window moves, and
 * a pass over them counts them together) or by an incomplete input (a
 * container whose inspect or rules failed may be known again without
 * touching the name).  A deletion held by the policy is planned again only
 * when something touches its name or a reload changes the policy, one held
 * by the grace period when the grace timer fires.  Call with the names of
 * the pass still in r->touched (unless full). */
void reconcile_held_note(struct reconciler *r, const struct plan *p, bool full)
{
    const char *name;
    bool capped = false;
    void *g;

    if (full)
        strmap_cleanup(&r->replan);
    else
        for (size_t it = 0; strmap_next(&r->touched, &it, &name, NULL);)
            strmap_del(&r->replan, name);
    for (size_t i = 0; i < p->len; i++) {
        const struct plan_action *a = &p->actions[i];
        char kb[PLANNER_KEY_MAX];

        if (a->op != PLAN_SKIP || (a->guard != PLAN_GUARD_CAP && a->guard != PLAN_GUARD_INCOMPLETE))
            continue;
        if (strmap_put(&r->replan, planner_key(a->res.kind, a->name, kb), (void *)(uintptr_t)a->guard, NULL) < 0)
            r->need_full = true;    /* out of memory: the next listing plans every name */
    }
    for (size_t it = 0; !capped && strmap_next(&r->replan, &it, NULL, &g);)
        capped = (uintptr_t)g == PLAN_GUARD_CAP;
    /* No deletion is held by the cap any more: a new cap is news. */
    if (!capped)
        r->last_capped = 0;
}

void reconcile_held_touch(struct reconciler *r)
{
    const char *name;

    for (size_t it = 0; strmap_next(&r->replan, &it, &name, NULL);)
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
        const char *o = kv_get(&t->labels, PLANNER_LABEL_OWNER);
        if (o != NULL && strcmp(o, r->owner) == 0 && planner_lease_due(t, now, r->cfg.lease_sec))
            reconciler_touch_res(r, t);
    }
}
