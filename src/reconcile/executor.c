/* executor.c - see executor.h. */
#include "reconcile/executor.h"
#include "base/intern.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/list.h"
#include "base/backoff.h"
#include "base/log.h"
#include "base/pace.h"
#include "base/strmap.h"
#include "net/grpc_frame.h"
#include "reconcile/limits.h"

enum breaker { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

struct job {
    struct list node;            /* on the queue, then on the in-flight list */
    struct executor *ex;
    enum plan_op op;
    struct resource res;
    const char *key;             /* planner_key of res, interned: busy and backoff use it */
    bool skipped;                /* a plan pass left the name alone meanwhile (executor_hold_pass) */
};

/* A name whose last write failed: retried after a doubling, jittered delay. */
struct retry {
    struct backoff b;            /* b.failures: failed attempts so far */
    uint64_t due_ms;             /* loop time the retry is due */
    bool reported;               /* retry() was told it is due */
    char last_error[200];
    char hold[260];              /* the reason handed to the planner */
};

struct executor {
    uv_loop_t *loop;
    struct teleport_ops ops;
    struct executor_config cfg; /* zeros made defaults; the rate and burst in
                                 * use are pace's, which a reload changes */
    struct executor_callbacks cb;

    struct list queue;           /* list heads */
    struct list inflight_jobs;
    size_t queued;
    unsigned inflight;
    struct strmap busy;          /* key (planner_key) -> queued or in flight */
    struct strmap backoff;       /* key -> struct retry */

    struct pace pace;            /* the write rate limit (base/pace.h); the
                                  * one holder of the rate and burst in use */

    enum breaker breaker;
    unsigned transport_failures;
    struct backoff open_backoff; /* how long the circuit stays open */
    uint64_t open_until_ms;

    uv_timer_t pump_timer, retry_timer;
    int timers_open;
    bool closing;
    struct backoff_rng rng;
    struct executor_stats stats;
};

static void pump(struct executor *ex);
static void retry_timer_cb(uv_timer_t *t);

/* ---- small helpers ------------------------------------------------------------ */

static void job_free(struct job *j)
{
    if (j == NULL)
        return;
    resource_cleanup(&j->res);
    intern_put(j->key);
    free(j);
}

/* Auth itself is in trouble (not this one write): these count for the breaker. */
static bool transport_failure(const struct enr_error *err)
{
    if (err->code != ENR_EGRPC)
        return true;
    return err->grpc_status == GRPC_STATUS_UNAVAILABLE || err->grpc_status == GRPC_STATUS_DEADLINE_EXCEEDED ||
           err->grpc_status == GRPC_STATUS_RESOURCE_EXHAUSTED;
}

/* The retry timer at the earliest of `due` and the open circuit's end;
 * none once the executor is closing. */
static void start_retry_timer(struct executor *ex, uint64_t now, uint64_t due)
{
    if (ex->closing)
        return;
    if (ex->breaker == BREAKER_OPEN && ex->open_until_ms < due)
        due = ex->open_until_ms;
    if (due == UINT64_MAX)
        return;
    uv_timer_start(&ex->retry_timer, retry_timer_cb, due > now ? due - now : 0, 0);
}

/* The earliest retry due after `now`; UINT64_MAX if none. */
static uint64_t next_due(struct executor *ex, uint64_t now)
{
    uint64_t due = UINT64_MAX;
    size_t it = 0;
    void *val;

    while (strmap_next(&ex->backoff, &it, NULL, &val)) {
        struct retry *b = val;
        if (b->due_ms > now && b->due_ms < due)
            due = b->due_ms;
    }
    return due;
}

static void arm_retry(struct executor *ex)
{
    uint64_t now = uv_now(ex->loop);

    start_retry_timer(ex, now, next_due(ex, now));
}

/* Each name whose retry came due is reported once, by name; when the
 * circuit half-opens, every name (the writes it dropped are not kept). */
static void retry_timer_cb(uv_timer_t *t)
{
    struct executor *ex = t->data;
    uint64_t now = uv_now(ex->loop), due = UINT64_MAX;
    bool half_open = false;
    const char *key;
    size_t it = 0;
    void *val;

    if (ex->breaker == BREAKER_OPEN && now >= ex->open_until_ms) {
        ex->breaker = BREAKER_HALF_OPEN;
        half_open = true;
        log_info(LOG_TELEPORT, "circuit half-open: probing Auth with one write");
    }
    /* one walk: report the due ones, find the next due time */
    while (strmap_next(&ex->backoff, &it, &key, &val)) {
        struct retry *b = val;
        if (b->due_ms > now) {
            if (b->due_ms < due)
                due = b->due_ms;
            continue;
        }
        if (b->reported)
            continue;
        b->reported = true;
        if (ex->cb.retry != NULL && !half_open)
            ex->cb.retry(ex->cb.ud, key);
    }
    start_retry_timer(ex, now, due);
    if (ex->cb.retry != NULL && half_open)
        ex->cb.retry(ex->cb.ud, NULL);
}

static void drop_queue(struct executor *ex)
{
    size_t n = 0;

    while (!list_empty(&ex->queue)) {
        struct job *j = LIST_ENTRY(ex->queue.next, struct job, node);
        list_remove(&j->node);
        strmap_del(&ex->busy, j->key);
        job_free(j);
        n++;
    }
    ex->queued = 0;
    ex->stats.dropped += n;
    if (n > 0)
        log_warn(LOG_TELEPORT, "circuit open: %zu queued writes dropped; they are planned again when Auth answers",
                 n);
}

static void open_circuit(struct executor *ex)
{
    ex->open_until_ms = uv_now(ex->loop) + backoff_next(&ex->open_backoff, &ex->rng);
    if (ex->breaker != BREAKER_OPEN)
        log_warn(LOG_TELEPORT, "circuit open after %u transport failures in a row: no writes for %llu ms",
                 ex->transport_failures, (unsigned long long)ex->open_backoff.cur_ms);
    ex->breaker = BREAKER_OPEN;
    drop_queue(ex);
}

/* ---- writes ----------------------------------------------------------------------- */

static void job_done(void *ud, const struct enr_error *err)
{
    struct job *j = ud;
    struct executor *ex = j->ex;
    bool ok = err == NULL || (j->op == PLAN_DELETE && err->code == ENR_EGRPC && err->grpc_status == GRPC_STATUS_NOT_FOUND);

    list_remove(&j->node);
    ex->inflight--;
    strmap_del(&ex->busy, j->key);
    if (ok) {
        free(strmap_del(&ex->backoff, j->key));
        ex->stats.ok++;
        ex->transport_failures = 0;
        if (ex->breaker != BREAKER_CLOSED) {
            log_info(LOG_TELEPORT, "circuit closed: Auth answers again");
            ex->breaker = BREAKER_CLOSED;
            backoff_reset(&ex->open_backoff);
        }
    } else {
        struct retry *b = strmap_get(&ex->backoff, j->key);
        ex->stats.failed++;
        if (b == NULL && (b = calloc(1, sizeof(*b))) != NULL) {
            backoff_init(&b->b, ex->cfg.backoff_min_ms, ex->cfg.backoff_max_ms);
            if (strmap_put(&ex->backoff, j->key, b, NULL) < 0) {
                free(b);
                b = NULL;
            }
        }
        if (b != NULL) {
            b->due_ms = uv_now(ex->loop) + backoff_next(&b->b, &ex->rng);
            b->reported = false;
            snprintf(b->last_error, sizeof(b->last_error), "%.199s", err->msg);
        }
        if (transport_failure(err)) {
            ex->transport_failures++;
            if (ex->breaker == BREAKER_HALF_OPEN || ex->transport_failures >= ex->cfg.breaker_failures)
                open_circuit(ex);
        }
        arm_retry(ex);
    }
    if (ex->cb.done)
        ex->cb.done(ex->cb.ud, j->op, &j->res, ok ? NULL : err, j->skipped);
    job_free(j);
    pump(ex);
}

static int send_job(struct executor *ex, struct job *j, struct enr_error *err)
{
    if (j->res.kind == RESOURCE_DB) {
        if (ex->ops.create_database == NULL)
            return err_set(err, -ENOTSUP, "executor: no database calls");
        switch (j->op) {
        case PLAN_CREATE:
            return ex->ops.create_database(ex->ops.impl, &j->res, job_done, j, err);
        case PLAN_UPDATE:
            return ex->ops.update_database(ex->ops.impl, &j->res, job_done, j, err);
        case PLAN_DELETE:
            return ex->ops.delete_database(ex->ops.impl, j->res.name, job_done, j, err);
        default:
            return err_set(err, -EINVAL, "executor: not a write");
        }
    }
    switch (j->op) {
    case PLAN_CREATE:
        return ex->ops.create_app(ex->ops.impl, &j->res, job_done, j, err);
    case PLAN_UPDATE:
        return ex->ops.update_app(ex->ops.impl, &j->res, job_done, j, err);
    case PLAN_DELETE:
        return ex->ops.delete_app(ex->ops.impl, j->res.name, job_done, j, err);
    default:
        return err_set(err, -EINVAL, "executor: not a write");
    }
}

static void pump_timer_cb(uv_timer_t *t)
{
    pump(t->data);
}

static void pump(struct executor *ex)
{
    uint64_t now = uv_now(ex->loop);
    double need;

    if (ex->closing)
        return;
    pace_refill(&ex->pace, now);
    /* Sends once a batch's tokens are there (a second's worth, or the
     * queue's, or max_inflight, if fewer), then spends them one by one;
     * short of them, the timer waits for the rest. */
    need = pace_need(&ex->pace, ex->queued);
    while (!list_empty(&ex->queue) && ex->inflight < ex->cfg.max_inflight) {
        struct enr_error err = {0};
        struct job *j = LIST_ENTRY(ex->queue.next, struct job, node);

        if (ex->breaker == BREAKER_OPEN || (ex->breaker == BREAKER_HALF_OPEN && ex->inflight > 0))
            break;
        if (!pace_take(&ex->pace, need)) {
            if (!uv_is_active((uv_handle_t *)&ex->pump_timer))
                uv_timer_start(&ex->pump_timer, pump_timer_cb, pace_wait_ms(&ex->pace, ex->queued), 0);
            break;
        }
        need = 1.0;
        list_remove(&j->node);
        ex->queued--;
        list_push_back(&ex->inflight_jobs, &j->node);
        ex->inflight++;
        ex->stats.sent++;
        if (send_job(ex, j, &err) < 0) {
            /* Failed before it left: handled as any failed write. */
            job_done(j, &err);
            return;
        }
    }
    if (list_empty(&ex->queue) && ex->inflight == 0 && ex->cb.idle)
        ex->cb.idle(ex->cb.ud);
}

/* A config's zeros made its defaults: the one place the defaults apply. */
static void apply_defaults(struct executor_config *c)
{
    if (c->max_inflight == 0)
        c->max_inflight = EXECUTOR_DEFAULT_INFLIGHT;
    if (c->rate <= 0)
        c->rate = EXECUTOR_DEFAULT_RATE;
    if (c->burst == 0)
        c->burst = EXECUTOR_DEFAULT_BURST;
    if (c->breaker_failures == 0)
        c->breaker_failures = 5;
    if (c->backoff_min_ms == 0)
        c->backoff_min_ms = 500;
    if (c->backoff_max_ms == 0)
        c->backoff_max_ms = 30000;
}

void executor_set_rate(struct executor *ex, unsigned rate, unsigned burst)
{
    struct executor_config c = {.rate = rate, .burst = burst};

    if (ex->closing)
        return;
    apply_defaults(&c);
    pump(ex); /* tokens earned at the old rate */
    pace_set(&ex->pace, c.rate, c.burst);
    uv_timer_stop(&ex->pump_timer); /* its wait was reckoned at the old rate */
    pump(ex);
}


/* ---- API -------------------------------------------------------------------------- */

struct executor *executor_new(uv_loop_t *loop, const struct teleport_ops *ops, const struct executor_config *cfg,
                              const struct executor_callbacks *cb, struct enr_error *err)
{
    struct executor *ex = calloc(1, sizeof(*ex));

    if (ex == NULL) {
        err_set(err, -ENOMEM, "executor: out of memory");
        return NULL;
    }
    ex->loop = loop;
    ex->ops = *ops;
    ex->cfg = *cfg;
    apply_defaults(&ex->cfg);
    ex->cb = *cb;
    list_init(&ex->queue);
    list_init(&ex->inflight_jobs);
    strmap_init(&ex->busy);
    strmap_init(&ex->backoff);
    pace_init(&ex->pace, ex->cfg.rate, ex->cfg.burst, ex->cfg.max_inflight, uv_now(loop));
    backoff_rng_seed(&ex->rng);
    backoff_init(&ex->open_backoff, 1000, ex->cfg.backoff_max_ms);
    uv_timer_init(loop, &ex->pump_timer);
    uv_timer_init(loop, &ex->retry_timer);
    ex->pump_timer.data = ex->retry_timer.data = ex;
    ex->timers_open = 2;
    return ex;
}

static void timer_closed(uv_handle_t *h)
{
    struct executor *ex = h->data;
    ex->timers_open--;
}

void executor_close(struct executor *ex)
{
    if (ex == NULL || ex->closing)
        return;
    ex->closing = true;
    uv_close((uv_handle_t *)&ex->pump_timer, timer_closed);
    uv_close((uv_handle_t *)&ex->retry_timer, timer_closed);
}

void executor_free(struct executor *ex)
{
    size_t it = 0;
    void *val;

    if (ex == NULL)
        return;
    while (!list_empty(&ex->queue)) {
        struct job *j = LIST_ENTRY(ex->queue.next, struct job, node);
        list_remove(&j->node);
        job_free(j);
    }
    /* Calls cancelled by teleport_client_free never call back. */
    while (!list_empty(&ex->inflight_jobs)) {
        struct job *j = LIST_ENTRY(ex->inflight_jobs.next, struct job, node);
        list_remove(&j->node);
        job_free(j);
    }
    strmap_cleanup(&ex->busy);
    while (strmap_next(&ex->backoff, &it, NULL, &val))
        free(val);
    strmap_cleanup(&ex->backoff);
    free(ex);
}

int executor_submit(struct executor *ex, struct plan *p, struct enr_error *err)
{
    size_t dropped = 0;

    for (size_t i = 0; i < p->len; i++) {
        struct plan_action *a = &p->actions[i];
        struct job *j;

        if (a->op != PLAN_CREATE && a->op != PLAN_UPDATE && a->op != PLAN_DELETE)
            continue;
        char kb[PLANNER_KEY_MAX];
        if (ex->breaker == BREAKER_OPEN || strmap_get(&ex->busy, planner_key(a->res.kind, a->name, kb)) != NULL) {
            dropped++;
            continue;
        }
        if ((j = calloc(1, sizeof(*j))) == NULL)
            return err_set(err, -ENOMEM, "executor: out of memory");
        j->ex = ex;
        j->op = a->op;
        j->res = a->res;
        memset(&a->res, 0, sizeof(a->res));
        j->key = intern_get(planner_key(j->res.kind, j->res.name, kb));
        if (j->key == NULL || resource_init(&a->res) < 0 || strmap_put(&ex->busy, j->key, j, NULL) < 0) {
            job_free(j);
            return err_set(err, -ENOMEM, "executor: out of memory");
        }
        list_push_back(&ex->queue, &j->node);
        ex->queued++;
    }
    ex->stats.dropped += dropped;
    pump(ex);
    return 0;
}

bool executor_idle(const struct executor *ex)
{
    return list_empty(&ex->queue) && ex->inflight == 0;
}

const char *executor_hold(struct executor *ex, const char *name)
{
    uint64_t now = uv_now(ex->loop);
    struct retry *b;

    if (strmap_get(&ex->busy, name) != NULL)
        return "a write for this name is queued or in flight";
    if ((b = strmap_get(&ex->backoff, name)) == NULL || b->due_ms <= now)
        return NULL;
    snprintf(b->hold, sizeof(b->hold), "retrying in %.1fs (attempt %u) after: %.199s",
             (double)(b->due_ms - now) / 1000.0, b->b.failures + 1, b->last_error);
    return b->hold;
}

const char *executor_hold_pass(struct executor *ex, const char *name)
{
    struct job *j = strmap_get(&ex->busy, name);

    if (j != NULL)
        j->skipped = true;
    return executor_hold(ex, name);
}

uint64_t executor_retry_in(const struct executor *ex, const char *name)
{
    uint64_t now = uv_now(ex->loop);
    const struct retry *b = strmap_get(&ex->backoff, name);

    return b != NULL && b->due_ms > now ? b->due_ms - now : 0;
}

void executor_get_stats(const struct executor *ex, struct executor_stats *out)
{
    uint64_t now = uv_now(ex->loop);
    size_t it = 0;
    void *val;

    *out = ex->stats;
    out->inflight = ex->inflight;
    out->queued = (unsigned)ex->queued;
    out->backing_off = 0;
    while (strmap_next(&ex->backoff, &it, NULL, &val))
        if (((struct retry *)val)->due_ms > now)
            out->backing_off++;
    out->circuit_open = ex->breaker != BREAKER_CLOSED;
}
