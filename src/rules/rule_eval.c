/*
 * rule_eval.c - see rule_eval.h.
 *
 * A rule's pre-filter (match_image, match_label: rule_prefilter.c) is
 * checked first, in C; only a container that passes it is pushed into
 * the rule's state.
 *
 * The container is pushed into each rule's state as a read-only view
 * (lua_container.c) and invalidated after that rule, so a rule cannot keep
 * it.  Each match() and apps() call, and the check of what apps() returned
 * (rule_output.c), runs under the rule set's budget (lua_runtime.h).  A
 * container whose evaluation hit a limit keeps that error, without
 * running the rules again, until its snapshot changes.
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

/* After a failed call: a limit (not a stop signal) makes the failure worth
 * remembering for this snapshot. */
static int is_runaway(lua_State *L, int rc)
{
    return rc == -ENOMEM || lua_runtime_tripped(L) == LUA_RUNTIME_LIMIT;
}

/* Calls rule[fn](c) under the instruction budget; leaves nres results.
 * *runaway is set when a limit ended it. */
static int call_rule_fn(struct rule_set *rs, const struct rule_entry *e, const char *fn, int cidx,
                        int nres, int *runaway, struct enr_error *err)
{
    lua_State *L = e->L;
    int rc;

    lua_rawgeti(L, LUA_REGISTRYINDEX, e->ref);
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
    lua_pushvalue(L, cidx);
    lua_runtime_set_budget(L, rs->instructions, "rule");
    rc = lua_runtime_pcall(L, 1, nres, err);
    if (rc < 0 && is_runaway(L, rc))
        *runaway = 1;
    lua_runtime_set_budget(L, 0, NULL);
    if (rc == -ENOMEM)
        err_wrap(err, "%s: rule '%s'", e->file, e->name);
    else if (rc < 0)
        rule_loader_blame(err, e->file, 0);
    return rc;
}

/* Checks and converts what apps() returned (on top of the stack) under a
 * budget of its own: the check follows the tables' metamethods. */
static int collect_output(struct rule_set *rs, const struct rule_entry *e, const struct container *c,
                          struct resource_list *tmp, int *runaway, struct enr_error *err)
{
    lua_State *L = e->L;
    int rc;

    lua_runtime_set_budget(L, rs->instructions, "rule");
    rc = rule_output_collect(L, e->validate_ref, e->file, e->name, c, tmp, err);
    if (rc < 0 && is_runaway(L, rc))
        *runaway = 1;
    lua_runtime_set_budget(L, 0, NULL);
    if (rc < 0 && *runaway && err != NULL) {
        /* "rules/x.lua: rule 'x': rules/x.lua:5: rule exceeded ..." reads
         * as the limit's own line, like match() and apps() */
        size_t n = strlen(e->file);
        char *at = strstr(err->msg + 1, e->file);
        if (at != NULL && at[n] == ':' && at[n + 1] >= '0' && at[n + 1] <= '9')
            memmove(err->msg, at, strlen(at) + 1);
        rule_loader_blame(err, e->file, 0);
    }
    return rc;
}

static int set_detail(struct rule_report *rp, const char *s)
{
    free(rp->detail);
    rp->detail = strdup(s ? s : "");
    return rp->detail ? 0 : -ENOMEM;
}

/* Runs one rule against c in its own state: match(), and apps() unless
 * shadowed.  *matched tells which.  Resources go to tmp; rp (may be NULL)
 * gets the detail. */
static int eval_one(struct rule_set *rs, const struct rule_entry *e, const struct container *c, int shadowed,
                    int *matched, struct resource_list *tmp, struct rule_report *rp, int *runaway,
                    struct enr_error *err)
{
    lua_State *L = e->L;
    int top = lua_gettop(L), cidx, rc;
    char why[256];

    *matched = 0;
    /* the static pre-filter: a container that fails it never enters the
     * rule's state */
    if ((rc = rule_prefilter_check(&e->prefilter, c, rp != NULL ? why : NULL, sizeof(why))) < 0)
        return err_set(err, rc, "%s: rule '%s': out of memory", e->file, e->name);
    if (rc == 0) {
        if (rp != NULL && set_detail(rp, why) < 0)
            return err_set(err, -ENOMEM, "rules: out of memory");
        return 0;
    }
    lua_pushcfunction(L, push_container);
    lua_pushlightuserdata(L, (void *)c);
    if ((rc = lua_runtime_pcall(L, 1, 1, err)) < 0) {
        if (rc == -ENOMEM)
            *runaway = 1;
        rule_loader_blame(err, e->file, 0);
        goto out;
    }
    cidx = lua_gettop(L);
    if ((rc = call_rule_fn(rs, e, "match", cidx, 2, runaway, err)) < 0)
        goto out;
    *matched = lua_toboolean(L, -2);
    if (rp != NULL && lua_type(L, -1) == LUA_TSTRING && set_detail(rp, lua_tostring(L, -1)) < 0) {
        rc = err_set(err, -ENOMEM, "rules: out of memory");
        goto out;
    }
    lua_pop(L, 2);
    if (!*matched || shadowed)
        goto out;
    if ((rc = call_rule_fn(rs, e, "apps", cidx, 1, runaway, err)) < 0)
        goto out;
    rc = collect_output(rs, e, c, tmp, runaway, err);
out:
    if (lua_gettop(L) >= top + 1)
        lua_container_invalidate(L, top + 1);
    lua_settop(L, top);
    return rc;
}

/* Evaluates every rule against c in priority order.  Resources go to tmp.
 * Without reports the first error ends it; with reports (an array of
 * rs->n) every rule is tried and reported, and the first error is still
 * returned. */
static int eval_rules(struct rule_set *rs, const struct container *c, struct resource_list *tmp,
                      struct rule_report *reports, int *runaway, struct enr_error *err)
{
    int rc = 0, first_rc = 0;
    int have_winner = 0, winner_pri = 0;
    const char *winner = NULL;
    struct enr_error one = {0};

    for (size_t i = 0; i < rs->n; i++) {
        const struct rule_entry *e = &rs->rules[i];
        struct rule_report *rp = reports ? &reports[i] : NULL;
        int shadowed = have_winner && e->priority < winner_pri;
        int matched;

        if (rp != NULL) {
            rp->rule = e->name;
            rp->file = e->file;
            rp->priority = e->priority;
            resource_list_init(&rp->resources);
        }
        if (shadowed && rp == NULL)
            continue; /* a higher-priority rule already claimed c */
        size_t before = tmp->len;
        rc = eval_one(rs, e, c, shadowed, &matched, tmp, rp, runaway, &one);
        if (rc < 0)
            goto rule_failed;
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
    return first_rc;
}

static struct rule_runaway *runaway_slot(struct rule_set *rs, uint64_t snap_hash)
{
    return &rs->runaway[(snap_hash ^ (snap_hash >> 29)) % RULE_RUNAWAY_SLOTS];
}

int rule_set_eval(struct rule_set *rs, const struct container *c, struct resource_list *out,
                  struct enr_error *err)
{
    struct resource_list tmp;
    size_t had = out->len;
    int rc;

    resource_list_init(&tmp);
    struct rule_runaway *slot = runaway_slot(rs, c->hash);
    if (slot->msg != NULL && slot->snap_hash == c->hash) {
        /* the same snapshot hit a limit before: do not spend it again */
        rc = err_set(err, ENR_ERULE, "%s", slot->msg);
        goto fail;
    }
    int runaway = 0;
    if ((rc = eval_rules(rs, c, &tmp, NULL, &runaway, err)) < 0) {
        if (runaway && err != NULL) {
            char *msg = strdup(err->msg);
            if (msg != NULL) {
                free(slot->msg);
                slot->msg = msg;
                slot->snap_hash = c->hash;
            }
        }
        goto fail;
    }
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
    int runaway = 0;
    rc = eval_rules(rs, c, &tmp, rp, &runaway, err);
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
