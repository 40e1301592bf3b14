/*
 * rule_eval.c - see rule_eval.h.
 *
 * The container is pushed once as a read-only view (lua_container.c) and
 * invalidated after the pass, so a rule cannot keep it.  Each match() and
 * apps() call runs under the rule set's instruction budget; what apps()
 * returns goes through rule_output.c.
 */
#include "rules/rule_eval.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "base/log.h"
#include "lua/lua_container.h"
#include "lua/lua_runtime.h"
#include "rules/rule_loader_private.h"
#include "rules/rule_output.h"

/* Pushes the container view; called under pcall because it allocates. */
static int push_container(lua_State *L)
{
    lua_container_push(L, lua_touserdata(L, 1));
    return 1;
}

/* Calls rule[fn](c) under the instruction budget; leaves nres results. */
static int call_rule_fn(struct rule_set *rs, const struct rule_entry *e, const char *fn, int cidx,
                        int nres, struct enr_error *err)
{
    lua_State *L = rs->L;
    int rc;

    lua_rawgeti(L, LUA_REGISTRYINDEX, e->ref);
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
    lua_pushvalue(L, cidx);
    lua_runtime_set_budget(L, rs->instructions, "rule");
    rc = lua_runtime_pcall(L, 1, nres, err);
    lua_runtime_set_budget(L, 0, NULL);
    if (rc == -ENOMEM)
        err_wrap(err, "%s: rule '%s'", e->file, e->name);
    else if (rc < 0)
        rule_loader_blame(err, e->file, 0);
    return rc;
}

static int set_detail(struct rule_report *rp, const char *s)
{
    free(rp->detail);
    rp->detail = strdup(s ? s : "");
    return rp->detail ? 0 : -ENOMEM;
}

/* Evaluates every rule against c in priority order.  Resources go to tmp.
 * Without reports the first error ends it; with reports (an array of
 * rs->n) every rule is tried and reported, and the first error is still
 * returned. */
static int eval_rules(struct rule_set *rs, const struct container *c, struct resource_list *tmp,
                      struct rule_report *reports, struct enr_error *err)
{
    lua_State *L = rs->L;
    int top = lua_gettop(L), cidx, rc = 0, first_rc = 0;
    int have_winner = 0, winner_pri = 0;
    const char *winner = NULL;
    struct enr_error one = {0};

    lua_pushcfunction(L, push_container);
    lua_pushlightuserdata(L, (void *)c);
    if ((rc = lua_runtime_pcall(L, 1, 1, err)) < 0)
        goto out;
    cidx = lua_gettop(L);
    for (size_t i = 0; i < rs->n; i++) {
        const struct rule_entry *e = &rs->rules[i];
        struct rule_report *rp = reports ? &reports[i] : NULL;
        int shadowed = have_winner && e->priority < winner_pri;

        if (rp != NULL) {
            rp->rule = e->name;
            rp->file = e->file;
            rp->priority = e->priority;
            resource_list_init(&rp->resources);
        }
        if (shadowed && rp == NULL)
            continue; /* a higher-priority rule already claimed c */
        rc = call_rule_fn(rs, e, "match", cidx, 2, &one);
        if (rc < 0)
            goto rule_failed;
        int matched = lua_toboolean(L, -2);
        if (rp != NULL && lua_type(L, -1) == LUA_TSTRING && set_detail(rp, lua_tostring(L, -1)) < 0) {
            lua_pop(L, 2);
            rc = err_set(&one, -ENOMEM, "rules: out of memory");
            goto rule_failed;
        }
        lua_pop(L, 2);
        if (!matched) {
            if (rp != NULL)
                rp->outcome = RULE_NO_MATCH;
            continue;
        }
        if (shadowed) {
            rp->outcome = RULE_SHADOWED;
            if (set_detail(rp, winner) < 0) {
                rc = err_set(&one, -ENOMEM, "rules: out of memory");
                goto rule_failed;
            }
            continue;
        }
        if (!have_winner) {
            have_winner = 1;
            winner_pri = e->priority;
            winner = e->name;
        }
        if ((rc = call_rule_fn(rs, e, "apps", cidx, 1, &one)) < 0)
            goto rule_failed;
        size_t before = tmp->len;
        rc = rule_output_collect(L, rs->validate_ref, e->file, e->name, c, tmp, &one);
        lua_pop(L, 1);
        if (rc < 0)
            goto rule_failed;
        if (rp != NULL) {
            rp->outcome = RULE_MATCHED;
            for (size_t j = before; j < tmp->len; j++) {
                struct resource copy;
                if (resource_copy(&copy, &tmp->items[j]) < 0) {
                    rc = err_set(&one, -ENOMEM, "rules: out of memory");
                    goto rule_failed;
                }
                if (resource_list_take(&rp->resources, &copy) < 0) {
                    resource_cleanup(&copy);
                    rc = err_set(&one, -ENOMEM, "rules: out of memory");
                    goto rule_failed;
                }
            }
        }
        continue;
    rule_failed:
        if (first_rc == 0) {
            first_rc = rc;
            if (err != NULL)
                *err = one;
        }
        if (rp == NULL)
            break;
        rp->outcome = RULE_ERROR;
        set_detail(rp, one.msg);
    }
    rc = first_rc;
out:
    if (lua_gettop(L) >= top + 1)
        lua_container_invalidate(L, top + 1);
    lua_settop(L, top);
    return rc;
}

int rule_set_eval(struct rule_set *rs, const struct container *c, struct resource_list *out,
                  struct enr_error *err)
{
    struct resource_list tmp;
    size_t had = out->len;
    int rc;

    resource_list_init(&tmp);
    if ((rc = eval_rules(rs, c, &tmp, NULL, err)) < 0)
        goto fail;
    for (size_t i = 0; i < tmp.len; i++) {
        if ((rc = resource_list_take(out, &tmp.items[i])) < 0) {
            err_set(err, rc, "rules: out of memory");
            for (size_t j = had; j < out->len; j++)
                resource_cleanup(&out->items[j]);
            out->len = had;
            goto fail;
        }
    }
fail:
    /* on failure, drop what was already moved so out keeps what it had */
    resource_list_cleanup(&tmp);
    return rc;
}

int rule_eval_explain(struct rule_set *rs, const struct container *c, struct rule_report **reports,
                      struct enr_error *err)
{
    struct resource_list tmp;
    struct rule_report *rp = calloc(rs->n ? rs->n : 1, sizeof(*rp));
    int rc;

    *reports = rp;
    if (rp == NULL)
        return err_set(err, -ENOMEM, "rules: out of memory");
    resource_list_init(&tmp);
    rc = eval_rules(rs, c, &tmp, rp, err);
    resource_list_cleanup(&tmp);
    return rc;
}

void rule_eval_report_free(struct rule_report *reports, size_t n)
{
    if (reports == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(reports[i].detail);
        resource_list_cleanup(&reports[i].resources);
    }
    free(reports);
}
