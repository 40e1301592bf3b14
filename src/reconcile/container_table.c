/* container_table.c - see container_table.h. */
#include "reconcile/container_table.h"
#include "base/intern.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "reconcile/planner.h"

/* The entries wanting one app name. */
struct container_refs {
    struct container_entry **v;
    size_t n, cap;
};

static void refs_free(struct container_refs *r)
{
    if (r == NULL)
        return;
    free(r->v);
    free(r);
}

/* ---- the indexes ------------------------------------------------------------- */

static int index_add_name(struct container_table *t, const char *name, struct container_entry *e)
{
    struct container_refs *r = strmap_get(&t->by_app, name);

    if (r == NULL) {
        if ((r = calloc(1, sizeof(*r))) == NULL)
            return -1;
        if (strmap_put(&t->by_app, name, r, NULL) < 0) {
            free(r);
            return -1;
        }
    }
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i] == e)
            return 0;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 2;
        struct container_entry **v = realloc(r->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = e;
    return 0;
}

static void index_del_name(struct container_table *t, const char *name, struct container_entry *e)
{
    struct container_refs *r = strmap_get(&t->by_app, name);

    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i] == e) {
            r->v[i] = r->v[--r->n];
            break;
        }
    if (r->n == 0)
        refs_free(strmap_del(&t->by_app, name));
}

static void index_del(struct container_table *t, struct container_entry *e)
{
    char kb[PLANNER_KEY_MAX];
    for (size_t i = 0; i < e->apps.len; i++)
        index_del_name(t, planner_key(e->apps.items[i].kind, e->apps.items[i].name, kb), e);
    t->n_apps -= e->apps.len;
}

static int index_add(struct container_table *t, struct container_entry *e)
{
    char kb[PLANNER_KEY_MAX];
    t->n_apps += e->apps.len;
    for (size_t i = 0; i < e->apps.len; i++)
        if (index_add_name(t, planner_key(e->apps.items[i].kind, e->apps.items[i].name, kb), e) < 0)
            return -1;
    return 0;
}

static void unknown_update(struct container_table *t, struct container_entry *e)
{
    if (e->inspect_failed || e->rules_failed) {
        if (strmap_get(&t->unknown, e->id) == NULL && strmap_put(&t->unknown, e->id, e, NULL) < 0)
            log_error(LOG_RECONCILE, "container table: out of memory");
    } else {
        strmap_del(&t->unknown, e->id);
    }
}

/* ---- entries ------------------------------------------------------------------ */

static void entry_free(struct container_entry *e)
{
    if (e == NULL)
        return;
    intern_put(e->id);
    container_free(e->snap);
    resource_list_cleanup(&e->apps);
    free(e->last_error);
    free(e);
}

void container_table_init(struct container_table *t)
{
    strmap_init(&t->map);
    strmap_init(&t->by_app);
    strmap_init(&t->unknown);
    t->n_apps = 0;
}

void container_table_cleanup(struct container_table *t)
{
    size_t it = 0;
    void *val;

    while (strmap_next(&t->map, &it, NULL, &val))
        entry_free(val);
    strmap_cleanup(&t->map);
    it = 0;
    while (strmap_next(&t->by_app, &it, NULL, &val))
        refs_free(val);
    strmap_cleanup(&t->by_app);
    strmap_cleanup(&t->unknown);
    t->n_apps = 0;
}

struct container_entry *container_table_get(const struct container_table *t, const char *id)
{
    return strmap_get(&t->map, id);
}

struct container_entry *container_table_put(struct container_table *t, const char *id, struct container *c)
{
    struct container_entry *e = strmap_get(&t->map, id);

    if (e == NULL) {
        if ((e = calloc(1, sizeof(*e))) == NULL || (e->id = intern_get(id)) == NULL)
            goto fail;
        resource_list_init(&e->apps);
        if (strmap_put(&t->map, id, e, NULL) < 0)
            goto fail;
    }
    container_free(e->snap);
    e->snap = c;
    e->inspect_failed = false;
    unknown_update(t, e);
    return e;
fail:
    log_error(LOG_RECONCILE, "container table: out of memory");
    entry_free(e);
    container_free(c);
    return NULL;
}

void container_table_remove(struct container_table *t, struct container_entry *e)
{
    index_del(t, e);
    strmap_del(&t->unknown, e->id);
    strmap_del(&t->map, e->id);
    entry_free(e);
}

void container_table_set_inspect_failed(struct container_table *t, struct container_entry *e)
{
    e->inspect_failed = true;
    unknown_update(t, e);
}

void container_table_evaluate(struct container_table *t, struct container_entry *e, struct rule_set *rules,
                              const char *owner)
{
    struct resource_list out;
    struct enr_error err = {0};
    const struct container *c = e->snap;
    uint64_t rh = rule_set_hash(rules);

    if (c == NULL || (e->evaluated && e->snap_hash == c->hash && e->rules_hash == rh))
        return;
    resource_list_init(&out);
    if (rule_set_eval(rules, c, &out, &err) < 0) {
        /* Unknown, not absent: keep what it produced before, delete nothing. */
        e->rules_failed = true;
        if (e->last_error == NULL || strcmp(e->last_error, err.msg) != 0) {
            log_error(LOG_RULES, "container %s: %s", c->name, err.msg);
            free(e->last_error);
            e->last_error = strdup(err.msg);
        }
        goto out;
    }
    for (size_t i = 0; i < out.len; i++) {
        struct resource *a = &out.items[i];
        if (kv_set(&a->labels, PLANNER_LABEL_OWNER, owner) < 0 ||
            kv_set(&a->labels, PLANNER_LABEL_CONTAINER, c->name) < 0 ||
            kv_set(&a->labels, PLANNER_LABEL_RULE, a->rule) < 0) {
            e->rules_failed = true;
            log_error(LOG_RECONCILE, "container %s: out of memory", c->name);
            goto out;
        }
        kv_compact(&a->labels);
    }
    index_del(t, e);
    resource_list_cleanup(&e->apps);
    e->apps = out;
    resource_list_init(&out);
    if (index_add(t, e) < 0) {
        /* A desired app missing from the index must not look unwanted. */
        e->rules_failed = true;
        log_error(LOG_RECONCILE, "container %s: out of memory", c->name);
        goto out;
    }
    e->rules_failed = false;
    e->evaluated = true;
    e->snap_hash = c->hash;
    e->rules_hash = rh;
    if (e->last_error != NULL) {
        log_info(LOG_RULES, "container %s: rules evaluate cleanly again", c->name);
        free(e->last_error);
        e->last_error = NULL;
    }
out:
    unknown_update(t, e);
    resource_list_cleanup(&out);
}

bool container_table_next(const struct container_table *t, size_t *iter, struct container_entry **e)
{
    void *val;
    if (!strmap_next(&t->map, iter, NULL, &val))
        return false;
    *e = val;
    return true;
}

size_t container_table_size(const struct container_table *t)
{
    return t->map.len;
}

size_t container_table_n_apps(const struct container_table *t)
{
    return t->n_apps;
}

struct container_entry *const *container_table_wanting(const struct container_table *t, const char *name,
                                                       size_t *n)
{
    const struct container_refs *r = strmap_get(&t->by_app, name);

    *n = r ? r->n : 0;
    return r ? r->v : NULL;
}

bool container_table_next_name(const struct container_table *t, size_t *iter, const char **name)
{
    return strmap_next(&t->by_app, iter, name, NULL);
}

bool container_table_next_unknown(const struct container_table *t, size_t *iter, struct container_entry **e)
{
    void *val;
    if (!strmap_next(&t->unknown, iter, NULL, &val))
        return false;
    *e = val;
    return true;
}
