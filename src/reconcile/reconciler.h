/*
 * reconciler.h - keeps Teleport's apps in step with Docker's containers.
 *
 * The coordinator of the parts in src/reconcile/:
 *
 *   docker_sync     Docker events, inspects, listing diff, resync timer
 *   teleport_view   GetApps listing, WatchEvents, recent writes, confirmation
 *   container_table container -> snapshot + cached rule results
 *   planner         desired + view -> plan (pure)
 *   executor        plan -> Auth writes (rate limit, retry, circuit breaker)
 *
 *   Docker event -> docker_sync inspects -> rules (cached per snapshot hash
 *   and rule-set hash) -> plan the container's app names (coalesced, a few
 *   ms) -> executor
 *
 *   every resync seconds, and after a stream cut or a failure: list + inspect
 *   what changed, GetApps (only while the watch is not live) -> plan every
 *   name -> executor
 *
 * It adds the grace period (with containers that died as dockerd shut down
 * held until Docker lists again), the deletion cap over a sliding window,
 * and the deletion-cap approval (SIGUSR1), which covers the next pass only.
 * Deletion happens only through the planner's promises (planner.h).
 */
#ifndef ENR_RECONCILER_H
#define ENR_RECONCILER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "agent/agent_manager.h"
#include "docker/docker_client.h"
#include "base/error.h"
#include "reconcile/planner.h"
#include "rules/rule_loader.h"
#include "teleport/teleport_client.h"

struct reconciler;

/* Defined here once; config.c's defaults table uses it. */
#define RECONCILER_DEFAULT_RESYNC_SEC 60

struct reconciler_config {
    const char *owner;
    unsigned resync_sec;       /* listing period; 0: RECONCILER_DEFAULT_RESYNC_SEC */
    unsigned max_inflight;     /* concurrent Auth writes; 0: the executor's default */
    unsigned write_rate;       /* Auth writes per second; 0: the executor's default */
    unsigned write_burst;
    unsigned coalesce_ms;      /* wait after an event before planning; 0: 5 */
    bool poll_only;            /* no Docker events: list every resync_sec (the guide's way) */
    /* Guard rails and policies (see planner.h). */
    enum planner_policy policy;
    unsigned grace_sec;        /* a gone container keeps its apps this long */
    unsigned max_deletes;      /* a pass wanting more deletions deletes none */
    unsigned max_delete_percent;
    /* ...and within any window this long, deletions may not exceed
     * max_deletes either (0: per pass only). */
    unsigned delete_window_sec;
    bool adopt;                /* take over unowned apps with a wanted name */
    unsigned lease_sec;        /* >0: Metadata.Expires = now + lease, refreshed at resync */
    /* A created app not served by any Application Service after this long
     * is reported ("registered but not served"); 0: do not check. */
    unsigned confirm_sec;
    /* Exit after the first full pass has been executed (enroller run --once). */
    bool once;
    void (*on_done)(void *ud);
    /* Plan once after the first complete resync, hand the plan to on_plan,
     * write nothing (enroller plan). */
    bool plan_only;
    /* mode "dry-run": run as usual but log each write instead of making it. */
    bool dry_run;
    void (*on_plan)(void *ud, const struct plan *p, const struct enr_error *err);
    /* A planning pass was handed on (to the executor, the log or on_plan)
     * after seconds of work; full: it planned every name, not only the
     * ones that changed.  NULL: not told. */
    void (*on_pass)(void *ud, double seconds, bool full);
    /* A container's rules raised an error (each distinct message once per
     * container, as it is logged); NULL: not told. */
    void (*on_rule_error)(void *ud, const char *container, const char *message);
    void *ud;
    /* Agent mode (reconcile_agents.c): with agent set, apps registered
     * "agent" (all of them with agent_all, else those whose rule says
     * registration = "agent") get an agent container each instead of a
     * CreateApp; NULL: dynamic registration only.  Not with plan_only or
     * dry_run (nothing is started then). */
    const struct agent_manager_config *agent;
    bool agent_all;
};

/* dc, tc and rules are borrowed and must outlive the reconciler (rules until
 * replaced with reconciler_set_rules). */
struct reconciler *reconciler_new(uv_loop_t *loop, const struct reconciler_config *cfg,
                                  struct docker_client *dc, struct teleport_client *tc,
                                  struct rule_set *rules, struct enr_error *err);
/* Subscribes to Docker events, then runs the first resync. */
int reconciler_start(struct reconciler *r, struct enr_error *err);
/* Swaps the rule set (the caller frees the old one after this returns) and
 * re-evaluates every container. */
void reconciler_set_rules(struct reconciler *r, struct rule_set *rules);
/* A config reload: applies cfg's guard rails and policy (policy, grace_sec,
 * max_deletes, max_delete_percent, delete_window_sec, adopt), write_rate,
 * write_burst and confirm_sec, and plans every name again.  The other
 * fields are ignored. */
void reconciler_set_limits(struct reconciler *r, const struct reconciler_config *cfg);
/* Stops timers and the event stream; writes in flight are left to finish or
 * be cancelled by the clients.  Never deletes anything. */
void reconciler_stop(struct reconciler *r);
void reconciler_free(struct reconciler *r);

struct reconciler_stats {
    uint64_t passes, resyncs, events, creates, updates, deletes, conflicts, write_errors, drift;
    size_t containers, desired, owned;
    bool docker_complete, teleport_complete;
};
void reconciler_get_stats(const struct reconciler *r, struct reconciler_stats *out);

struct ops_snapshot;
/* Fills s (not yet published) with what the reconciler knows, in
 * reconcile_ops.c: every running container with its matched rule and its
 * apps, each app's state (registered, conflict, error with the write's
 * message, waiting, held by a guard rail and which), the containers gone
 * within the grace period with the apps it keeps, the connected and
 * first-sync flags, the last sync, the executor's writes, and the counters
 * the reconciler keeps (passes are the caller's: ops_snapshot_counters_pass).
 * The counters already in s are kept except docker_events, rule_errors,
 * conflicts and deletes_held, which are set from the reconciler's. */
int reconciler_fill_snapshot(const struct reconciler *r, struct ops_snapshot *s, struct enr_error *err);

#endif
