/* grace.c - see grace.h. */
#include "reconcile/grace.h"

#include <errno.h>
#include <stdlib.h>

void grace_init(struct grace *g, unsigned sec)
{
    g->sec = sec;
    strmap_init(&g->gone);
    g->holds = NULL;
    g->cap = 0;
}

void grace_cleanup(struct grace *g)
{
    size_t it = 0;
    void *val;

    while (strmap_next(&g->gone, &it, NULL, &val))
        free(val);
    strmap_cleanup(&g->gone);
    free(g->holds);
    grace_init(g, g->sec);
}

void grace_set_period(struct grace *g, unsigned sec)
{
    g->sec = sec;
}

void grace_gone(struct grace *g, const char *name, uint64_t now_ms)
{
    struct grace_entry *e;

    if (strmap_get(&g->gone, name) != NULL)
        return;
    if ((e = calloc(1, sizeof(*e))) == NULL)
        return;
    e->at_ms = now_ms;
    if (strmap_put(&g->gone, name, e, NULL) < 0)
        free(e);
}

void grace_back(struct grace *g, const char *name)
{
    free(strmap_del(&g->gone, name));
}

size_t grace_pin(struct grace *g, uint64_t since_ms)
{
    size_t it = 0, n = 0;
    void *val;

    while (strmap_next(&g->gone, &it, NULL, &val)) {
        struct grace_entry *e = val;
        if (e->at_ms >= since_ms)
            e->pinned = true;
        n += e->pinned;
    }
    return n;
}

size_t grace_unpin(struct grace *g, uint64_t now_ms)
{
    size_t it = 0, n = 0;
    void *val;

    while (strmap_next(&g->gone, &it, NULL, &val)) {
        struct grace_entry *e = val;
        if (!e->pinned)
            continue;
        e->pinned = false;
        e->at_ms = now_ms;
        n++;
    }
    return n;
}

int grace_holds(struct grace *g, uint64_t now_ms, const struct planner_gone **out, size_t *n, uint64_t *next_ms)
{
    uint64_t period = (uint64_t)g->sec * 1000;
    size_t it = 0;
    const char *name;
    void *val;

    *n = 0;
    *out = g->holds;
    *next_ms = UINT64_MAX;
    if (g->gone.len > g->cap) {
        struct planner_gone *h = realloc(g->holds, g->gone.len * sizeof(*h));
        if (h == NULL)
            return -ENOMEM;
        g->holds = h;
        g->cap = g->gone.len;
        *out = g->holds;
    }
    while (strmap_next(&g->gone, &it, &name, &val)) {
        const struct grace_entry *e = val;
        if (!e->pinned && now_ms - e->at_ms >= period) {
            free(strmap_del(&g->gone, name));
            continue;
        }
        if (!e->pinned && e->at_ms + period < *next_ms)
            *next_ms = e->at_ms + period;
        g->holds[*n] = (struct planner_gone){.name = name, .gone_ms = now_ms - e->at_ms, .pinned = e->pinned};
        (*n)++;
    }
    return 0;
}
