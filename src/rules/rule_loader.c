/*
 * rule_loader.c - see rule_loader.h.
 *
 * Each rule file gets a sandboxed lua_State of its own (lua_runtime.c)
 * holding its rule{} table in the registry, so no rule can change what
 * another sees.  The file runs with its own _ENV (lua_sandbox.h: globals it
 * sets stay its own; reads go through a read-only view of the globals, and
 * require() returns read-only modules).  The layout is in
 * rule_loader_private.h; rule_eval.c evaluates it.
 */
#include "rules/rule_loader.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "base/hash.h"
#include "base/log.h"
#include "lua/lua_runtime.h"
#include "lua/lua_sandbox.h"
#include "rules/rule_loader_private.h"

#define DEFAULT_INSTRUCTIONS 10000000ULL
/* Many times what the default budget takes: the time limit catches what
 * the count cannot see, not ordinary rules. */
#define DEFAULT_TIME_MS 2000

static const char helpers_chunk[] =
    "local enroller = require('enroller')\n"
    "local schema = require('enroller.schema')\n"
    "return enroller.is_rule, schema.validate_resource\n";


static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_priority(const void *a, const void *b)
{
    const struct rule_entry *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Sorted "*.lua" regular files of dir (hidden files skipped). */
static int list_rule_files(const char *dir, char ***out, size_t *n_out, struct enr_error *err)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc;

    if (d == NULL)
        return err_set(err, -errno, "rules dir %s: %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 5 || strcmp(e->d_name + len - 4, ".lua") != 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nn = realloc(names, ncap * sizeof(*nn));
            if (nn == NULL)
                goto nomem;
            names = nn;
            cap = ncap;
        }
        if ((names[n] = strdup(e->d_name)) == NULL)
            goto nomem;
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_str);
    *out = names;
    *n_out = n;
    return 0;
nomem:
    rc = err_set(err, -ENOMEM, "rules dir %s: out of memory", dir);
    closedir(d);
    free_names(names, n);
    return rc;
}

/* "/etc/enroller/rules/" + "x.lua" -> "rules/x.lua": short, stable names
 * for messages whatever the install path (Lua cuts long chunk names). */
static char *display_name(const char *dir, const char *file)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && dir[start - 1] != '/')
        start--;
    char *out = malloc(len - start + strlen(file) + 2);
    if (out != NULL)
        sprintf(out, "%.*s/%s", (int)(len - start), dir + start, file);
    return out;
}

void rule_set_free(struct rule_set *rs)
{
    if (rs == NULL)
        return;
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->rules[i].name);
        free(rs->rules[i].file);
        rule_prefilter_cleanup(&rs->rules[i].prefilter);
        lua_runtime_free(rs->rules[i].L);
    }
    free(rs->rules);
    for (size_t i = 0; i < RULE_RUNAWAY_SLOTS; i++)
        free(rs->runaway[i].msg);
    free(rs);
}

int rule_loader_blame(struct enr_error *err, const char *file, int line)
{
    size_t n = strlen(file);
    if (err != NULL && !(strncmp(err->msg, file, n) == 0 && err->msg[n] == ':')) {
        if (line > 0)
            err_wrap(err, "%s:%d", file, line);
        else
            err_wrap(err, "%s", file);
    }
    return err ? err->code : ENR_ERULE;
}

/* Gives the chunk on top of the stack a private _ENV whose reads fall
 * through to a read-only view of the globals.  Runs under pcall
 * (allocates). */
static int private_env(lua_State *L)
{
    lua_sandbox_push_env(L);
    lua_setupvalue(L, 1, 1);
    return 1;
}

static int load_helpers(lua_State *L, int *is_rule_ref, int *validate_ref, struct enr_error *err);

/* Loads one file into a new state; on success records the rule.  Returns
 * 0 or an error with err filled ("rules/x.lua:3: ..."). */
static int load_one(struct rule_set *rs, const char *path, const char *file, const char *lua_dir,
                    const struct rule_limits *limits, struct enr_error *err)
{
    lua_State *L;
    int top, rc, line = 0, is_rule_ref = LUA_NOREF, validate_ref = LUA_NOREF;
    struct rule_prefilter pf;

    rule_prefilter_init(&pf);

    if ((L = lua_runtime_new(limits ? limits->mem_bytes : 0, lua_dir, err)) == NULL)
        return err_wrap(err, "%s", file);
    lua_runtime_set_time_limit(L, limits != NULL && limits->time_ms != 0 ? limits->time_ms : DEFAULT_TIME_MS);
    if ((rc = load_helpers(L, &is_rule_ref, &validate_ref, err)) < 0) {
        err_wrap(err, "%s", file);
        goto fail;
    }
    top = lua_gettop(L);

    if ((rc = lua_runtime_load_file(L, path, file, err)) < 0)
        goto fail;
    lua_pushcfunction(L, private_env);
    lua_insert(L, -2);
    if ((rc = lua_runtime_pcall(L, 1, 1, err)) < 0)
        goto fail_msg;
    /* `return enroller.rule {...}` is a tail call: when rule{} raises, the
     * file's frame is gone and error(msg, 2) has no line to blame.  The
     * line hook remembers the last line the file ran, which is that call. */
    lua_runtime_track_lines(L, file);
    lua_runtime_set_budget(L, rs->instructions, "rule");
    rc = lua_runtime_pcall(L, 0, 1, err);
    lua_runtime_set_budget(L, 0, NULL);
    line = lua_runtime_last_line(L);
    lua_runtime_track_lines(L, NULL);
    if (rc < 0)
        goto fail_msg;
    if (lua_isnil(L, -1)) {
        rc = err_set(err, -EINVAL, "%s: did not return a rule (did you forget 'return'?)", file);
        goto fail;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, is_rule_ref);
    lua_pushvalue(L, -2);
    if ((rc = lua_runtime_pcall(L, 1, 1, err)) < 0)
        goto fail_msg;
    int ok = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!ok) {
        rc = err_set(err, -EINVAL,
                     "%s: returned a %s, not a rule (build it with require(\"enroller\").rule{...})",
                     file, luaL_typename(L, -1));
        goto fail;
    }
    lua_getfield(L, -1, "priority"); /* a plain table from rule{}: no metamethods */
    int priority = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, -1, "name");
    /* rule{} checked it, but the file may have changed it since */
    if (lua_type(L, -1) != LUA_TSTRING) {
        rc = err_set(err, -EINVAL, "%s: the rule's name is a %s, not a string (changed after rule{})", file,
                     luaL_typename(L, -1));
        goto fail;
    }
    const char *name = lua_tostring(L, -1);
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->rules[i].name, name) == 0) {
            rc = err_set(err, -EEXIST, "%s: rule name '%s' is already used by %s", file, name,
                         rs->rules[i].file);
            goto fail;
        }
    if ((rc = rule_prefilter_read(L, -2, &pf, err)) < 0) {
        err_wrap(err, "%s: rule '%s'", file, name);
        goto fail;
    }
    struct rule_entry *e = &rs->rules[rs->n];
    e->L = L;
    e->validate_ref = validate_ref;
    e->priority = priority;
    e->order = rs->n;
    e->name = strdup(name);
    e->file = strdup(file);
    if (e->name == NULL || e->file == NULL) {
        free(e->name);
        free(e->file);
        rc = err_set(err, -ENOMEM, "%s: out of memory", file);
        goto fail;
    }
    lua_pop(L, 1);
    e->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    e->prefilter = pf;
    rs->n++;
    lua_settop(L, top);
    /* What loading left behind (the library's and the file's temporaries)
     * is freed now, before the next file's state is built, not whenever
     * the collector's pace reaches it: the states are built one after the
     * other, so this lowers the daemon's peak. */
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
fail_msg:
    rule_loader_blame(err, file, line);
fail:
    rule_prefilter_cleanup(&pf);
    lua_runtime_free(L);
    return rc;
}

static int load_helpers(lua_State *L, int *is_rule_ref, int *validate_ref, struct enr_error *err)
{
    int rc;

    if (luaL_loadbufferx(L, helpers_chunk, sizeof(helpers_chunk) - 1, "=enroller", "t") != LUA_OK) {
        rc = err_set(err, -ENOMEM, "rule library: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return rc;
    }
    if ((rc = lua_runtime_pcall(L, 0, 2, err)) < 0)
        return err_wrap(err, "rule library");
    *validate_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    *is_rule_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

struct rule_set *rule_loader_load(const char *dir, const char *lua_dir, const struct rule_limits *limits,
                                  struct enr_error *err)
{
    struct rule_set *rs = calloc(1, sizeof(*rs));
    char **names = NULL, *path = NULL, *file = NULL, *content = NULL;
    size_t n = 0, len = 0, failed = 0;
    struct enr_error one;
    int rc;

    if (rs == NULL) {
        err_set(err, -ENOMEM, "rules: out of memory");
        return NULL;
    }
    rs->hash = HASH_INIT;
    rs->instructions = limits && limits->instructions ? limits->instructions : DEFAULT_INSTRUCTIONS;
    if (list_rule_files(dir, &names, &n, err) < 0)
        goto fail;
    if ((rs->rules = calloc(n ? n : 1, sizeof(*rs->rules))) == NULL) {
        err_set(err, -ENOMEM, "rules: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
            path = NULL;
            err_set(err, -ENOMEM, "rules: out of memory");
            goto fail;
        }
        if ((file = display_name(dir, names[i])) == NULL) {
            err_set(err, -ENOMEM, "rules: out of memory");
            goto fail;
        }
        if ((rc = lua_runtime_read_file(path, file, &content, &len, &one)) == 0) {
            rs->hash = hash64(rs->hash, names[i], strlen(names[i]) + 1);
            rs->hash = hash64(rs->hash, content, len);
            free(content);
            content = NULL;
            rc = load_one(rs, path, file, lua_dir, limits, &one);
        }
        if (rc < 0) {
            if (limits != NULL && limits->on_error != NULL)
                limits->on_error(limits->ud, one.msg);
            else
                log_error(LOG_RULES, "%s", one.msg);
            if (failed++ == 0 && err != NULL)
                *err = one;
        }
        free(path);
        free(file);
        path = file = NULL;
    }
    if (failed > 0)
        goto fail;
    /* evaluation order: priority, highest first; then file order */
    if (rs->n > 1)
        qsort(rs->rules, rs->n, sizeof(*rs->rules), cmp_priority);
    rs->loaded_at = time(NULL);
    free_names(names, n);
    return rs;
fail:
    free(path);
    free(file);
    free_names(names, n);
    rule_set_free(rs);
    return NULL;
}

size_t rule_set_count(const struct rule_set *rs)
{
    return rs->n;
}

const char *rule_set_name(const struct rule_set *rs, size_t i)
{
    return i < rs->n ? rs->rules[i].name : NULL;
}

uint64_t rule_set_hash(const struct rule_set *rs)
{
    return rs->hash;
}

const char *rule_set_file(const struct rule_set *rs, size_t i)
{
    return i < rs->n ? rs->rules[i].file : NULL;
}

int rule_set_priority(const struct rule_set *rs, size_t i)
{
    return i < rs->n ? rs->rules[i].priority : 0;
}

time_t rule_set_loaded_at(const struct rule_set *rs)
{
    return rs->loaded_at;
}
