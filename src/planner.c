/* planner.c - see planner.h.  Pure: no I/O, no clock. */
#include "planner.h"

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

void plan_init(struct plan *p)
{
    memset(p, 0, sizeof(*p));
}

void plan_cleanup(struct plan *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->len; i++) {
        free(p->actions[i].name);
        resource_cleanup(&p->actions[i].res);
    }
    free(p->actions);
    plan_init(p);
}

static int add(struct plan *p, enum plan_op op, const struct resource *res, const char *revision,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int add(struct plan *p, enum plan_op op, const struct resource *res, const char *revision,
               const char *fmt, ...)
{
    struct plan_action *a;
    va_list ap;

    if (p->len == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct plan_action *n = realloc(p->actions, cap * sizeof(*n));
        if (n == NULL)
            return -ENOMEM;
        p->actions = n;
        p->cap = cap;
    }
    a = &p->actions[p->len];
    memset(a, 0, sizeof(*a));
    a->op = op;
    if ((a->name = strdup(res->name)) == NULL)
        return -ENOMEM;
    if (resource_copy(&a->res, res) < 0)
        goto fail;
    if (revision != NULL && resource_set_str(&a->res.revision, revision) < 0) {
        resource_cleanup(&a->res);
        goto fail;
    }
    va_start(ap, fmt);
    vsnprintf(a->reason, sizeof(a->reason), fmt, ap);
    va_end(ap);
    p->len++;
    p->n[op]++;
    return 0;
fail:
    free(a->name);
    return -ENOMEM;
}

static const char *container_of(const struct resource *r)
{
    const char *c = kv_get(&r->labels, PLANNER_LABEL_CONTAINER);
    return c ? c : "";
}

static bool owned_by(const struct resource *r, const char *owner)
{
    const char *o = kv_get(&r->labels, PLANNER_LABEL_OWNER);
    return o != NULL && strcmp(o, owner) == 0;
}

static bool in_set(const char *const *set, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(set[i], s) == 0)
            return true;
    return false;
}

/* Desired order: by name, then container name, then container id, so the
 * first of a run of equal names is the deterministic winner. */
static int cmp_desired(const void *a, const void *b)
{
    const struct resource *x = *(const struct resource *const *)a;
    const struct resource *y = *(const struct resource *const *)b;
    int c = strcmp(x->name, y->name);
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
    return strcmp(x->name, y->name);
}

static int cmp_action(const void *a, const void *b)
{
    const struct plan_action *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (int)x->op - (int)y->op;
}

static const struct resource *find_name(const struct resource **sorted, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(sorted[mid]->name, name);
        if (c == 0)
            return sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
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
    for (size_t i = 0; i < in->n_teleport; i++)
        have[i] = in->teleport[i];
    qsort(want, in->n_desired, sizeof(*want), cmp_desired);
    qsort(have, in->n_teleport, sizeof(*have), cmp_by_name);

    for (size_t i = 0; i < in->n_desired; i++) {
        const struct resource *d = want[i], *t;

        if (i > 0 && strcmp(want[i - 1]->name, d->name) == 0) {
            size_t w = i;
            while (w > 0 && strcmp(want[w - 1]->name, d->name) == 0)
                w--;
            if (add(p, PLAN_CONFLICT, d, NULL, "name also wanted by container %s, which wins",
                    container_of(want[w])) < 0)
                goto fail;
            continue;
        }
        if (in_set(in->busy_names, in->n_busy_names, d->name)) {
            if (add(p, PLAN_SKIP, d, NULL, "a write for this name is in flight") < 0)
                goto fail;
            continue;
        }
        if (!in->teleport_complete) {
            if (add(p, PLAN_SKIP, d, NULL, "Teleport listing incomplete; not writing") < 0)
                goto fail;
            continue;
        }
        t = find_name(have, in->n_teleport, d->name);
        if (t == NULL) {
            if (add(p, PLAN_CREATE, d, NULL, "wanted by container %s (rule %s)", container_of(d),
                    d->rule) < 0)
                goto fail;
        } else if (!owned_by(t, in->owner)) {
            const char *o = kv_get(&t->labels, PLANNER_LABEL_OWNER);
            if (add(p, PLAN_CONFLICT, d, NULL, "an app with this name exists and is %s%s",
                    o ? "owned by enroller instance " : "not owned by enroller", o ? o : "") < 0)
                goto fail;
        } else if (!resource_same_managed(d, t)) {
            if (add(p, PLAN_UPDATE, d, t->revision, "managed fields differ") < 0)
                goto fail;
        }
    }

    for (size_t i = 0; i < in->n_teleport; i++) {
        const struct resource *t = have[i];
        const char *c;

        /* want is sorted by name first, so a binary search on it works. */
        if (!owned_by(t, in->owner) || find_name(want, in->n_desired, t->name) != NULL)
            continue;
        c = container_of(t);
        if (in_set(in->busy_names, in->n_busy_names, t->name))
            rc = add(p, PLAN_SKIP, t, NULL, "a write for this name is in flight");
        else if (!in->docker_complete)
            rc = add(p, PLAN_SKIP, t, NULL, "Docker listing incomplete; not deleting");
        else if (!in->teleport_complete)
            rc = add(p, PLAN_SKIP, t, NULL, "Teleport listing incomplete; not deleting");
        else if (in_set(in->unknown_containers, in->n_unknown_containers, c))
            rc = add(p, PLAN_SKIP, t, NULL, "container %s is in an unknown state (inspect or rules failed); not deleting", c);
        else
            rc = add(p, PLAN_DELETE, t, NULL, "container %s no longer wants it", c[0] ? c : "(none)");
        if (rc < 0)
            goto fail;
    }
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
