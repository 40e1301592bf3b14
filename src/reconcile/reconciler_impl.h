/*
 * reconciler_impl.h - struct reconciler, shared by reconciler.c (the
 * coordinator), reconcile_ops.c (the operations snapshot),
 * reconcile_held.c (held deletions) and reconcile_agents.c (agent mode's
 * side).  Nothing outside src/reconcile/ includes it.
 */
#ifndef ENR_RECONCILER_IMPL_H
#define ENR_RECONCILER_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/strmap.h"
#include "reconcile/clients.h"
#include "reconcile/container_table.h"
#include "reconcile/docker_sync.h"
#include "reconcile/executor.h"
#include "reconcile/grace.h"
#include "reconcile/reconciler.h"
#include "reconcile/teleport_view.h"

struct reconciler {
    uv_loop_t *loop;
    struct reconciler_config cfg;
    char *owner;
    struct rule_set *rules;
    struct docker_ops dops;
    struct teleport_ops tops;
    struct docker_sync *ds;
    struct teleport_view *tv;
    struct executor *ex;

    struct container_table table;
    struct strmap reported;     /* app name -> last conflict reason logged */
    struct grace grace;         /* containers gone, within the grace period */
    struct strmap touched;      /* app names the next pass plans */
    bool full;                  /* the next pass plans every name */
    bool need_full;             /* a listing must be followed by a full pass (see on_listed) */
    bool listing_pass;          /* the next pass follows a listing of both sides */
    uint64_t lease_checked_ms;  /* loop time the leases were last checked: a full pass on complete
                                   listings or a look for the ones due (see listed) */

    uv_timer_t plan_timer, grace_timer, window_timer;
    uv_signal_t sig_approve;
    bool stopping;
    bool plan_reported;
    uint64_t last_plan_ms;      /* loop time of the last pass */
    bool deletes_approved;      /* SIGUSR1: the next pass may delete above the cap */
    bool docker_down;           /* Docker's event stream ended; no complete listing since */
    uint64_t *del_times;        /* loop times (ms) of the deletions sent within the window, oldest first */
    size_t n_del, cap_del;
    size_t last_capped;         /* deletions held by the cap, last logged */
    struct reconciler_stats stats;
    /* For the operations snapshot (reconcile_ops.c). */
    struct strmap failed;       /* app name -> the last write error (malloc'd), until a write succeeds */
    uint64_t rule_errors;       /* rule errors, each distinct one per container once */
    uint64_t conflicts_reported; /* conflicts logged: a name's conflict once per distinct reason */
    uint64_t capped_held;       /* deletions held back by the deletion cap, summed per new cap */
    /* The held deletions (reconcile_held.c): planner_key -> the enum
     * plan_guard that holds it (as a pointer), while held. */
    struct strmap held_by;
    uint64_t deletes_held[PLAN_GUARD_POLICY + 1]; /* by enum plan_guard: a name counted when a guard starts holding it */
    bool synced;                /* a full pass ran on complete listings of both sides */
    int64_t last_sync;          /* unix seconds of the last such pass; 0: never */
    struct agent_manager *am;   /* agent mode; NULL: off */
};

/* Adds a planner key (planner_key) to the names the next pass plans. */
void reconciler_touch(struct reconciler *r, const char *key);
void reconciler_touch_res(struct reconciler *r, const struct resource *res);
/* A pass in delay_ms, or at once when the last one is older than
 * coalesce_ms; a pass already due sooner covers it. */
void reconciler_schedule_plan(struct reconciler *r, unsigned delay_ms);

/* After a pass: keeps r->held_by, the deletions p holds and by which guard,
 * and counts those not held by that guard before (r->deletes_held; the cap
 * apart, and not for `enroller plan`); call with the pass's names still in
 * r->touched, unless full (reconcile_held.c). */
void reconcile_held_note(struct reconciler *r, const struct plan *p, bool full);
/* Touches the held deletions a listing plans again: those held by the
 * deletion cap or by an unknown container. */
void reconcile_held_touch(struct reconciler *r);
/* After a pass the deletion window capped: a pass over the held names when
 * the window lets them through. */
void reconcile_held_arm_window(struct reconciler *r, const struct plan *p);
/* Touches the owned apps whose lease is due for a refresh. */
void reconcile_held_touch_lease_due(struct reconciler *r);

/* container_table_evaluate, counting a new rule error and telling
 * cfg.on_rule_error (reconcile_ops.c). */
void reconcile_ops_evaluate(struct reconciler *r, struct container_entry *e);

/* Agent mode (reconcile_agents.c).  True when app is registered through an
 * agent (never when r->am is NULL): the planner does not see it. */
bool reconcile_agents_is_agent(const struct reconciler *r, const struct resource *app);
/* Hands every agent app of the running containers to the agent manager,
 * with the containers whose apps must be kept (in grace, or unknown) and
 * whether the Docker listing is complete. */
void reconcile_agents_sync(struct reconciler *r, const struct planner_input *in);
/* The view's app_server events and watch state, for the agent manager
 * (teleport_view_callbacks on_server / on_watch; ud is the reconciler). */
void reconcile_agents_on_server(void *ud, const struct teleport_event *ev);
void reconcile_agents_on_watch(void *ud, bool live);

#endif
