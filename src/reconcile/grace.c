/* grace.c - see grace.h. */
#include "reconcile/grace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void entry_free(struct grace_entry *e)
{
    if (e != NULL)
        free(e->keys);
    free(e);
}

/* The planner keys of apps, back to back; false when out of memory. */
static bool keep_keys(struct grace_entry *e, const struct resource_list *apps)
{
    char kb[PLANNER_KEY_MAX];
    size_t len = 0, at = 0;

    for (size_t i = 0; i < apps->len; i++)
        len += strlen(planner_key(apps->items[i].kind, apps->items[i].name, kb)) + 1;
    if (len == 0)
        return true;
    if ((e->keys = malloc(len)) == NULL)
        return false;
    for (size_t i = 0; i < apps->len; i++) {
        const char *key = planner_key(apps->items[i].kind, apps->items[i].name, kb);
        size_t n = strlen(key) + 1;
        memcpy(e->keys + at, key, n);
        at += n;
    }
    e->n_keys = apps->len;
    return true;
}

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
        entry_free(val);
    strmap_cleanup(&g->gone);
    free(g->holds);
    grace_init(g, g->sec);
}

void grace_set_period(struct grace *g, unsigned sec)
{
    g->sec = sec;
}

void grace_gone(struct grace *g, const char *name, uint64_t now_ms, const struct resource_list *apps)
{
    struct grace_entry *e;

    if (strmap_get(&g->gone, name) != NULL)
        return;
    if ((e = calloc(1, sizeof(*e))) == NULL)
        return;
    e->at_ms = now_ms;
    e->keys_lost = !keep_keys(e, apps);
    if (strmap_put(&g->gone, name, e, NULL) < 0)
        entry_free(e);
}

void grace_back(struct grace *g, const char *name)
{
    entry_free(strmap_del(&g->gone, name));
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

int grace_holds(struct grace *g, uint64_t now_ms, const struct planner_gone **out, size_t *n, uint64_t *next_ms,
                grace_expired_fn expired, void *ud)
{
    uint64_t period = (uint64_t)g->sec * 1000;
    size_t it = 0;
    const char *name;
    void *val;
    int rc = 0;

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
            const char *key = e->keys;
            for (size_t i = 0; i < e->n_keys; i++, key += strlen(key) + 1)
                expired(ud, key);
            if (e->keys_lost)
                rc = 1;
            entry_free(strmap_del(&g->gone, name));
            continue;
        }
        if (!e->pinned && e->at_ms + period < *next_ms)
            *next_ms = e->at_ms + period;
        g->holds[*n] = (struct planner_gone){.name = name, .gone_ms = now_ms - e->at_ms, .pinned = e->pinned};
        (*n)++;
    }
    return rc;
}
