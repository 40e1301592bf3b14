/*
 * executor.h - turns a plan's creates, updates and deletes into Auth calls,
 * politely.
 *
 *   - at most max_inflight calls at once, multiplexed on the one connection;
 *   - a token bucket on writes (rate per second, burst), so a mass change or
 *     a recovery is not a stampede on Auth; past the burst, writes leave in
 *     batches of max_inflight (or a second's rate, if fewer), not one by one;
 *   - apps and databases alike (by kind: CreateApp or CreateDatabase, ...);
 *   - per-name retry with jittered exponential backoff: one failing app never
 *     blocks the others, and the planner is told to leave it alone until its
 *     retry is due (executor_hold);
 *   - a circuit breaker: after several transport failures in a row (Auth
 *     unreachable, UNAVAILABLE, DEADLINE_EXCEEDED) writes stop for a cooling
 *     period; then one probe write goes, and success closes the circuit.
 *     Writes not yet sent when it opens are dropped, not queued: the planner
 *     plans them again from fresh facts when the circuit half-opens.
 */
#ifndef ENR_EXECUTOR_H
#define ENR_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/error.h"
#include "reconcile/clients.h"
#include "reconcile/planner.h"

struct executor;

/* The defaults of executor_config's zeros: reconcile/limits.h. */

struct executor_config {
    unsigned max_inflight;       /* 0: EXECUTOR_DEFAULT_INFLIGHT */
    double rate;                 /* writes per second; 0: EXECUTOR_DEFAULT_RATE */
    unsigned burst;              /* bucket size; 0: EXECUTOR_DEFAULT_BURST */
    unsigned breaker_failures;   /* transport failures in a row that open it; 0: 5 */
    unsigned backoff_min_ms;     /* first retry delay; 0: 500 */
    unsigned backoff_max_ms;     /* cap; 0: 30000 */
};

struct executor_callbacks {
    /* After every write, successful or not (err NULL on success).  skipped:
     * a plan pass left the name alone while the write was queued or in
     * flight (executor_hold_pass), so no pass has planned it since. */
    void (*done)(void *ud, enum plan_op op, const struct resource *res, const struct enr_error *err, bool skipped);
    /* Nothing queued and nothing in flight any more. */
    void (*idle)(void *ud);
    /* The retry of key's failed write is due: plan it again (once per
     * failure).  key NULL: the circuit half-opened, plan every name. */
    void (*retry)(void *ud, const char *key);
    void *ud;
};

struct executor_stats {
    uint64_t sent, ok, failed, dropped;
    unsigned inflight, queued, backing_off;
    bool circuit_open;
};

/* ops is copied; what it points at must outlive the executor. */
struct executor *executor_new(uv_loop_t *loop, const struct teleport_ops *ops, const struct executor_config *cfg,
                              const struct executor_callbacks *cb, struct enr_error *err);
/* Stops timers; a loop turn later executor_free may run. */
void executor_close(struct executor *ex);
void executor_free(struct executor *ex);

/* Takes the CREATE/UPDATE/DELETE actions of p (their resources are moved
 * out; p keeps the rest).  With the circuit open they are dropped. */
/* A new write rate and burst (a config reload); 0 keeps the default.  The
 * bucket keeps its tokens, cut to the new burst. */
void executor_set_rate(struct executor *ex, unsigned rate, unsigned burst);
int executor_submit(struct executor *ex, struct plan *p, struct enr_error *err);
bool executor_idle(const struct executor *ex);

/* Why the planner must leave name (a planner_key: an app's name, a
 * database's "db/<name>") alone now (a write queued or in flight,
 * or waiting for its retry), or NULL.  The string stays valid until the
 * next call into the executor for the same name. */
const char *executor_hold(struct executor *ex, const char *name);
/* executor_hold for a plan pass, which leaves a held name alone: a write
 * queued or in flight for it reports `skipped` when done. */
const char *executor_hold_pass(struct executor *ex, const char *name);
/* Milliseconds until the retry of name's failed write is due; 0: none. */
uint64_t executor_retry_in(const struct executor *ex, const char *name);

void executor_get_stats(const struct executor *ex, struct executor_stats *out);

#endif
