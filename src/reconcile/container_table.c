/* container_table.c - see container_table.h. */
#include "reconcile/container_table.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "reconcile/planner.h"

static void entry_free(struct container_entry *e)
{
    if (e == NULL)
        return;
    free(e->id);
    container_free(e->snap);
    resource_list_cleanup(&e->apps);
    free(e->last_error);
    free(e);
}

void container_table_init(struct container_table *t)
{
    strmap_init(&t->map);
}

void container_table_cleanup(struct container_table *t)
{
    size_t it = 0;
    void *val;

    while (strmap_next(&t->map, &it, NULL, &val))
        entry_free(val);
    strmap_cleanup(&t->map);
}

struct container_entry *container_table_get(const struct container_table *t, const char *id)
{
    return strmap_get(&t->map, id);
}

struct container_entry *container_table_add(struct container_table *t, const char *id)
{
    struct container_entry *e = strmap_get(&t->map, id);

    if (e != NULL)
        return e;
    if ((e = calloc(1, sizeof(*e))) == NULL || (e->id = strdup(id)) == NULL)
        goto fail;
    resource_list_init(&e->apps);
    if (strmap_put(&t->map, id, e, NULL) < 0)
        goto fail;
    return e;
fail:
    log_error(LOG_RECONCILE, "container table: out of memory");
    entry_free(e);
    return NULL;
}

void container_table_forget(struct container_table *t, struct container_entry *e)
{
    strmap_del(&t->map, e->id);
    entry_free(e);
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

bool container_table_apply(struct container_entry *e, struct container *c, uint64_t seq)
{
    if (seq < e->seq) {     /* an older answer than what we have */
        container_free(c);
        return false;
    }
    container_free(e->snap);
    e->snap = c;
    e->seq = seq;
    e->inspect_failed = false;
    return true;
}

bool container_table_remove(struct container_entry *e, uint64_t seq)
{
    bool was_live = e->snap != NULL;

    if (seq < e->seq)
        return false;
    container_free(e->snap);
    e->snap = NULL;
    e->seq = seq;
    e->evaluated = false;
    e->inspect_failed = e->rules_failed = false;
    resource_list_cleanup(&e->apps);
    free(e->last_error);
    e->last_error = NULL;
    return was_live;
}

void container_table_evaluate(struct container_entry *e, struct rule_set *rules, const char *owner)
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
    }
    resource_list_cleanup(&e->apps);
    e->apps = out;
    resource_list_init(&out);
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
    resource_list_cleanup(&out);
}
