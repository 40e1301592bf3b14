/* planner.c - see planner.h.  Pure: no I/O, no clock. */
#include "reconcile/planner.h"
#include "base/intern.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *plan_op_name(enum plan_op op)
{
    static const char *const names[] = {"create", "update", "delete", "conflict", "skip"};
    return op <= PLAN_SKIP ? names[op] : "?";
}

#define DB_KEY_PREFIX "db/"

const char *planner_key(enum resource_kind kind, const char *name, char buf[PLANNER_KEY_MAX])
{
    if (kind != RESOURCE_DB)
        return name;
    snprintf(buf, PLANNER_KEY_MAX, "%s%s", DB_KEY_PREFIX, name);
    return buf;
}

const char *planner_key_name(const char *key, enum resource_kind *kind)
{
    if (strncmp(key, DB_KEY_PREFIX, strlen(DB_KEY_PREFIX)) == 0) {
        *kind = RESOURCE_DB;
        return key + strlen(DB_KEY_PREFIX);
    }
    *kind = RESOURCE_APP;
    return key;
}

const char *planner_kind_word(enum resource_kind kind)
{
    return kind == RESOURCE_DB ? "database" : "app";
}

bool planner_lease_due(const struct resource *t, int64_t now, unsigned lease_sec)
{
    return lease_sec > 0 && (t->expires == 0 || t->expires < now + (int64_t)lease_sec / 2);
}

void plan_init(struct plan *p)
{
    memset(p, 0, sizeof(*p));
}

void plan_cleanup(struct plan *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->len; i++) {
        intern_put(p->actions[i].name);
        intern_put(p->actions[i].reason);
        resource_cleanup(&p->actions[i].res);
    }
    free(p->actions);
    plan_init(p);
}

/* Appends an action for a copy of src or, src NULL, for take itself moved
 * in (take is left zeroed; on failure it is cleaned up). */
static int push(struct plan *p, enum plan_op op, const struct resource *src, struct resource *take,
                const char *revision, const char *reason)
{
    const struct resource *res = src ? src : take;
    struct plan_action a = {.op = op};

    if (p->len == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct plan_action *n = realloc(p->actions, cap * sizeof(*n));
        if (n == NULL)
            goto fail;
        p->actions = n;
        p->cap = cap;
    }
    if ((a.name = intern_ref(res->name)) == NULL || (a.reason = intern_get(reason)) == NULL)
        goto fail;
    if (src == NULL) {
        a.res = *take;
        memset(take, 0, sizeof(*take));
    } else if (resource_copy(&a.res, src) < 0) {
        goto fail;
    }
    if (revision != NULL && resource_set_str(&a.res.revision, revision) < 0)
        goto fail;
    p->actions[p->len++] = a;
    p->n[op]++;
    return 0;
fail:
    intern_put(a.name);
    intern_put(a.reason);
    resource_cleanup(&a.res);
    if (src == NULL)
        resource_cleanup(take);
    return -ENOMEM;
}

static int add(struct plan *p, enum plan_op op, const struct resource *res, const char *revision,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int add(struct plan *p, enum plan_op op, const struct resource *res, const char *revision,
               const char *fmt, ...)
{
    char reason[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    return push(p, op, res, NULL, revision, reason);
}

static const char *container_of(const struct resource *r)
{
    const char *c = kv_get(&r->labels, PLANNER_LABEL_CONTAINER);
    return c ? c : "";
}

bool planner_owned(const struct resource *r, const char *owner)
{
    const char *o = kv_get(&r->labels, PLANNER_LABEL_OWNER);
    return o != NULL && strcmp(o, owner) == 0;
}

static const char *held_res(const struct planner_hold *set, size_t n, const struct resource *r);

static const char *held(const struct planner_hold *set, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(set[i].name, s) == 0)
            return set[i].reason;
    return NULL;
}

static const char *held_res(const struct planner_hold *set, size_t n, const struct resource *r)
{
    char buf[PLANNER_KEY_MAX];
    return held(set, n, planner_key(r->kind, r->name, buf));
}

static const struct planner_gone *gone(const struct planner_gone *set, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(set[i].name, s) == 0)
            return &set[i];
    return NULL;
}

static bool in_set(const char *const *set, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(set[i], s) == 0)
            return true;
    return false;
}

/* Kind, then name: names are per kind. */
static int cmp_kind_name(const struct resource *x, enum resource_kind kind, const char *name)
{
    if (x->kind != kind)
        return x->kind < kind ? -1 : 1;
    return strcmp(x->name, name);
}

static bool same_name(const struct resource *x, const struct resource *y)
{
    return cmp_kind_name(x, y->kind, y->name) == 0;
}

/* Desired order: by kind and name, then container name, then container id,
 * so the first of a run of equal names is the deterministic winner. */
static int cmp_desired(const void *a, const void *b)
{
    const struct resource *x = *(const struct resource *const *)a;
    const struct resource *y = *(const struct resource *const *)b;
    int c = cmp_kind_name(x, y->kind, y->name);
    if (c == 0)
        c = strcmp(container_of(x), container_of(y));
    if (c == 0)
        c = strcmp(x->container_id, y->container_id);
    return c;
}

static int cmp_by_name(const void *a, const void *b)
{
    const struct resource *x = *(const struct resource *const *)a;
    const struct resource *y = *(const struct resource *const *)b;
    return cmp_kind_name(x, y->kind, y->name);
}

static int cmp_action(const void *a, const void *b)
{
    const struct plan_action *x = a, *y = b;
    int c = cmp_kind_name(&x->res, y->res.kind, y->name);
    return c ? c : (int)x->op - (int)y->op;
}

static const struct resource *find_name(const struct resource **sorted, size_t n, const struct resource *r)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_kind_name(sorted[mid], r->kind, r->name);
        if (c == 0)
            return sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The desired app as it should be written: with the lease's expiry. */
static int with_lease(const struct planner_input *in, const struct resource *d, struct resource *out)
{
    if (resource_copy(out, d) < 0)
        return -ENOMEM;
    if (in->lease_sec > 0)
        out->expires = in->now + (int64_t)in->lease_sec;
    return 0;
}

static int add_write(struct plan *p, const struct planner_input *in, enum plan_op op,
                     const struct resource *d, const char *revision, const char *reason)
{
    struct resource w;

    if (with_lease(in, d, &w) < 0)
        return -ENOMEM;
    return push(p, op, NULL, &w, revision, reason); /* w moves into the plan */
}

/* One desired app (the winner for its name) against Teleport's copy. */
static int plan_desired(const struct planner_input *in, struct plan *p, const struct resource *d,
                        const struct resource *t)
{
    const char *h = held_res(in->held_names, in->n_held_names, d);
    const char *what = planner_kind_word(d->kind);
    char reason[200];

    if (h != NULL)
        return add(p, PLAN_SKIP, d, NULL, "%s", h);
    if (!in->teleport_complete)
        return add(p, PLAN_SKIP, d, NULL, "Teleport listing incomplete; not writing");
    if (t == NULL) {
        snprintf(reason, sizeof(reason), "wanted by container %s (rule %s)", container_of(d), d->rule);
        return add_write(p, in, PLAN_CREATE, d, NULL, reason);
    }
    if (!planner_owned(t, in->owner)) {
        const char *o = kv_get(&t->labels, PLANNER_LABEL_OWNER);
        if (in->adopt && in->policy == PLANNER_SYNC) {
            snprintf(reason, sizeof(reason), "adopting %s %s %s%s (reconcile.adopt)", d->kind == RESOURCE_DB ? "a" : "an",
                     what, o ? "owned by enroller instance " : "not owned by enroller", o ? o : "");
            return add_write(p, in, PLAN_UPDATE, d, t->revision, reason);
        }
        return add(p, PLAN_CONFLICT, d, NULL, "%s %s with this name exists and is %s%s",
                   d->kind == RESOURCE_DB ? "a" : "an", what,
                   o ? "owned by enroller instance " : "not owned by enroller", o ? o : "");
    }
    if (!resource_same_managed(d, t)) {
        if (in->policy == PLANNER_CREATE_ONLY)
            return add(p, PLAN_SKIP, d, NULL, "managed fields differ; policy create-only");
        return add_write(p, in, PLAN_UPDATE, d, t->revision, "managed fields differ");
    }
    if (in->policy != PLANNER_CREATE_ONLY && planner_lease_due(t, in->now, in->lease_sec))
        return add_write(p, in, PLAN_UPDATE, d, t->revision, "lease refresh");
    return 0;
}

/* A deletion held back by guard g: the action add() just appended. */
static int guarded(struct plan *p, enum plan_guard g, int rc)
{
    if (rc == 0)
        p->actions[p->len - 1].guard = g;
    return rc;
}

/* One owned app nobody wants any more. */
static int plan_orphan(const struct planner_input *in, struct plan *p, const struct resource *t)
{
    const char *c = container_of(t), *h = held_res(in->held_names, in->n_held_names, t);
    const struct planner_gone *g;

    if (h != NULL)
        return add(p, PLAN_SKIP, t, NULL, "%s", h);
    if (in->policy != PLANNER_SYNC)
        return guarded(p, PLAN_GUARD_POLICY,
                       add(p, PLAN_SKIP, t, NULL, "no longer wanted; policy %s keeps it",
                           in->policy == PLANNER_UPSERT_ONLY ? "upsert-only" : "create-only"));
    if (!in->docker_complete)
        return guarded(p, PLAN_GUARD_INCOMPLETE, add(p, PLAN_SKIP, t, NULL, "Docker listing incomplete; not deleting"));
    if (!in->teleport_complete)
        return guarded(p, PLAN_GUARD_INCOMPLETE,
                       add(p, PLAN_SKIP, t, NULL, "Teleport listing incomplete; not deleting"));
    if (in_set(in->unknown_containers, in->n_unknown_containers, c))
        return guarded(p, PLAN_GUARD_INCOMPLETE,
                       add(p, PLAN_SKIP, t, NULL,
                           "container %s is in an unknown state (inspect or rules failed); not deleting", c));
    if ((g = gone(in->grace_containers, in->n_grace_containers, c)) != NULL && g->pinned)
        return guarded(p, PLAN_GUARD_GRACE,
                       add(p, PLAN_SKIP, t, NULL,
                           "container %s stopped as Docker's event stream ended (dockerd shutting down?): "
                           "unknown until Docker lists again", c));
    if (g != NULL)
        return guarded(p, PLAN_GUARD_GRACE,
                       add(p, PLAN_SKIP, t, NULL, "container %s is gone for %.1fs of a %us grace period", c,
                           (double)g->gone_ms / 1000.0, in->grace_sec));
    return add(p, PLAN_DELETE, t, NULL, "container %s no longer wants it", c[0] ? c : "(none)");
}

/* Above the cap, every deletion of the pass becomes a skip: deleting the
 * first N of a mass disappearance would be the worst of both. */
static void apply_cap(const struct planner_input *in, struct plan *p)
{
    size_t dels = p->n[PLAN_DELETE];
    bool over_count = in->max_deletes > 0 && dels > in->max_deletes;
    bool over_share = in->max_delete_percent > 0 && dels > PLANNER_CAP_FLOOR &&
                      dels * 100 > (size_t)in->max_delete_percent * p->owned;
    bool over_window = in->max_deletes > 0 && in->window_sec > 0 && dels + in->recent_deletes > in->max_deletes;

    if (dels == 0 || in->deletes_approved || (!over_count && !over_share && !over_window))
        return;
    char buf[256];
    const char *reason;

    if (over_count || over_share)
        snprintf(buf, sizeof(buf),
                 "deletion cap: this pass would delete %zu of %zu owned apps (max %u, %u%%); "
                 "nothing deleted until approved", dels, p->owned, in->max_deletes, in->max_delete_percent);
    else
        snprintf(buf, sizeof(buf),
                 "deletion cap: %zu deleted within the last %us and %zu more now would exceed max %u; "
                 "nothing deleted until approved", in->recent_deletes, in->window_sec, dels, in->max_deletes);
    /* Out of memory: each held deletion keeps its old reason. */
    reason = intern_get(buf);
    for (size_t i = 0; i < p->len; i++) {
        struct plan_action *a = &p->actions[i];
        if (a->op != PLAN_DELETE)
            continue;
        a->op = PLAN_SKIP;
        a->guard = PLAN_GUARD_CAP;
        if (reason != NULL) {
            intern_put(a->reason);
            a->reason = intern_ref(reason);
        }
    }
    intern_put(reason);
    p->n[PLAN_SKIP] += dels;
    p->n[PLAN_DELETE] = 0;
    p->deletes_capped = true;
    p->capped_deletes = dels;
    p->window_capped = !over_count && !over_share;
    p->window_deletes = in->recent_deletes;
}

int planner_plan(const struct planner_input *in, struct plan *p, struct enr_error *err)
{
    const struct resource **want = NULL, **have = NULL;
    int rc = -ENOMEM;

    want = calloc(in->n_desired + 1, sizeof(*want));
    have = calloc(in->n_teleport + 1, sizeof(*have));
    if (want == NULL || have == NULL)
        goto fail;
    for (size_t i = 0; i < in->n_desired; i++)
        want[i] = in->desired[i];
    for (size_t i = 0; i < in->n_teleport; i++) {
        have[i] = in->teleport[i];
        if (planner_owned(have[i], in->owner))
            p->owned++;
    }
    if (in->subset)
        p->owned = in->owned_total;
    qsort(want, in->n_desired, sizeof(*want), cmp_desired);
    qsort(have, in->n_teleport, sizeof(*have), cmp_by_name);

    for (size_t i = 0; i < in->n_desired; i++) {
        const struct resource *d = want[i];

        if (i > 0 && same_name(want[i - 1], d)) {
            size_t w = i;
            while (w > 0 && same_name(want[w - 1], d))
                w--;
            rc = add(p, PLAN_CONFLICT, d, NULL, "name also wanted by container %s, which wins",
                     container_of(want[w]));
        } else {
            rc = plan_desired(in, p, d, find_name(have, in->n_teleport, d));
        }
        if (rc < 0)
            goto fail;
    }
    for (size_t i = 0; i < in->n_teleport; i++) {
        const struct resource *t = have[i];
        /* want is sorted by kind and name first, so a binary search on it works. */
        if (!planner_owned(t, in->owner) || find_name(want, in->n_desired, t) != NULL)
            continue;
        if ((rc = plan_orphan(in, p, t)) < 0)
            goto fail;
    }
    apply_cap(in, p);
    if (p->len > 1)
        qsort(p->actions, p->len, sizeof(*p->actions), cmp_action);
    rc = 0;
fail:
    free(want);
    free(have);
    if (rc < 0)
        err_set(err, rc, "planner: out of memory");
    return rc;
}
