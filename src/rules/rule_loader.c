/*
 * rule_loader.c - see rule_loader.h.
 *
 * One rule set is one sandboxed lua_State (lua_runtime.c) holding every
 * rule file's rule{} table in the registry.  Each file runs with its own
 * _ENV (globals it sets stay its own; reads fall through to _G).  Output of
 * apps(c) is checked twice: by the closed schema in lua/enroller/schema.lua
 * (messages rule writers see) and again here while copying into struct
 * resource, because the safety properties (valid names, no enroller.dev/
 * labels) must not depend on Lua code a rule could change.
 */
#include "rules/rule_loader.h"
#include "base/hash.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lauxlib.h>

#include "base/log.h"
#include "lua/lua_container.h"
#include "lua/lua_runtime.h"

#define DEFAULT_INSTRUCTIONS 10000000ULL
#define RESERVED_PREFIX "enroller.dev/"

struct rule_entry {
    char *name;    /* rule{ name = ... } */
    char *file;    /* display name, "rules/x.lua" */
    int ref;       /* registry ref of the rule table */
    int priority;  /* rule{ priority = ... }, default 0 */
    size_t order;  /* position in sorted file order (ties of priority) */
};

struct rule_set {
    lua_State *L;
    struct rule_entry *rules;
    size_t n;
    uint64_t hash;
    uint64_t instructions;
    time_t loaded_at;
    int is_rule_ref;  /* enroller.is_rule */
    int validate_ref; /* function(app) return schema.validate(schema.app, app) end */
};

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

static int read_file(const char *path, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (f == NULL)
        return -errno;
    for (;;) {
        if (cap - n < 4096) {
            char *nb = realloc(b, cap + 65536);
            if (nb == NULL) {
                rc = -ENOMEM;
                break;
            }
            b = nb;
            cap += 65536;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f))
                rc = -EIO;
            break;
        }
    }
    fclose(f);
    if (rc < 0) {
        free(b);
        return rc;
    }
    *buf = b;
    *len = n;
    return 0;
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
    }
    free(rs->rules);
    lua_runtime_free(rs->L);
    free(rs);
}

/* Errors raised without a position in the rule file (error(msg, 0), errors
 * inside the library) still name the rule file first, with line when known
 * (line > 0). */
static int blame_file(struct enr_error *err, const char *file, int line)
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
 * through to the globals.  Runs under pcall (allocates). */
static int private_env(lua_State *L)
{
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushglobaltable(L);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_setupvalue(L, 1, 1);
    return 1;
}

/* Loads one file; on success records the rule.  Returns 0 or an error with
 * err filled ("rules/x.lua:3: ..."). */
static int load_one(struct rule_set *rs, const char *path, const char *file, struct enr_error *err)
{
    lua_State *L = rs->L;
    int top = lua_gettop(L);
    int rc, line = 0;

    if ((rc = lua_runtime_load_file(L, path, file, err)) < 0)
        return rc;
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
    lua_rawgeti(L, LUA_REGISTRYINDEX, rs->is_rule_ref);
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
    const char *name = lua_tostring(L, -1);
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->rules[i].name, name) == 0) {
            rc = err_set(err, -EEXIST, "%s: rule name '%s' is already used by %s", file, name,
                         rs->rules[i].file);
            goto fail;
        }
    struct rule_entry *e = &rs->rules[rs->n];
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
    rs->n++;
    lua_settop(L, top);
    return 0;
fail_msg:
    blame_file(err, file, line);
fail:
    lua_settop(L, top);
    return rc;
}

static int load_helpers(struct rule_set *rs, struct enr_error *err)
{
    lua_State *L = rs->L;
    int rc;

    if (luaL_loadbufferx(L, helpers_chunk, sizeof(helpers_chunk) - 1, "=enroller", "t") != LUA_OK) {
        rc = err_set(err, -ENOMEM, "rule library: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return rc;
    }
    if ((rc = lua_runtime_pcall(L, 0, 2, err)) < 0)
        return err_wrap(err, "rule library");
    rs->validate_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    rs->is_rule_ref = luaL_ref(L, LUA_REGISTRYINDEX);
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
    rs->hash = HASH_FNV64_INIT;
    rs->instructions = limits && limits->instructions ? limits->instructions : DEFAULT_INSTRUCTIONS;
    if (list_rule_files(dir, &names, &n, err) < 0)
        goto fail;
    if ((rs->rules = calloc(n ? n : 1, sizeof(*rs->rules))) == NULL) {
        err_set(err, -ENOMEM, "rules: out of memory");
        goto fail;
    }
    if ((rs->L = lua_runtime_new(limits ? limits->mem_bytes : 0, lua_dir, err)) == NULL)
        goto fail;
    if (load_helpers(rs, err) < 0)
        goto fail;
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
        if ((rc = read_file(path, &content, &len)) < 0) {
            err_set(&one, rc, "%s: %s", file, strerror(-rc));
        } else {
            rs->hash = hash_fnv64(rs->hash, names[i], strlen(names[i]) + 1);
            rs->hash = hash_fnv64(rs->hash, content, len);
            free(content);
            content = NULL;
            rc = load_one(rs, path, file, &one);
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

/* ---- converting one validated app table (at idx) into a resource ---- */

/* True for a DNS-1035 label of at most 63 characters. */
static int is_dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] < 'a' || s[0] > 'z' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

/* Raw field read (no metamethods); pushes it and returns its type. */
static int raw_field(lua_State *L, int idx, const char *key)
{
    lua_pushstring(L, key);
    return lua_rawget(L, idx < 0 ? idx - 1 : idx);
}

static int opt_string(lua_State *L, int idx, const char *key, char **field, const char *prefix,
                      struct enr_error *err)
{
    int t = raw_field(L, idx, key);
    int rc = 0;
    if (t == LUA_TSTRING)
        rc = resource_set_str(field, lua_tostring(L, -1));
    else if (t != LUA_TNIL)
        rc = err_set(err, -EINVAL, "%s: app field '%s': expected string, got %s", prefix, key,
                     lua_typename(L, t));
    lua_pop(L, 1);
    if (rc == -ENOMEM)
        err_set(err, rc, "%s: out of memory", prefix);
    return rc;
}

static int convert_labels(lua_State *L, int idx, struct resource *r, const char *prefix,
                          struct enr_error *err)
{
    int t = raw_field(L, idx, "labels");
    int rc = 0;

    if (t == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
                rc = err_set(err, -EINVAL, "%s: app field 'labels': keys and values must be strings",
                             prefix);
                lua_pop(L, 2);
                break;
            }
            const char *k = lua_tostring(L, -2);
            if (strncmp(k, RESERVED_PREFIX, strlen(RESERVED_PREFIX)) == 0) {
                rc = err_set(err, -EINVAL,
                             "%s: app field 'labels': label '%s' is reserved (the daemon writes "
                             RESERVED_PREFIX " labels)", prefix, k);
                lua_pop(L, 2);
                break;
            }
            if (kv_set(&r->labels, k, lua_tostring(L, -1)) < 0) {
                rc = err_set(err, -ENOMEM, "%s: out of memory", prefix);
                lua_pop(L, 2);
                break;
            }
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        rc = err_set(err, -EINVAL, "%s: app field 'labels': expected map, got %s", prefix,
                     lua_typename(L, t));
    }
    lua_pop(L, 1);
    return rc;
}

static int convert_rewrite(lua_State *L, int idx, struct resource *r, const char *prefix,
                           struct enr_error *err)
{
    int rc = 0;
    if (raw_field(L, idx, "rewrite") != LUA_TTABLE)
        goto out;
    if (raw_field(L, -1, "redirect") == LUA_TTABLE) {
        size_t n = lua_rawlen(L, -1);
        if (n > 0 && (r->rewrite_redirect = calloc(n, sizeof(char *))) == NULL)
            goto nomem;
        for (size_t i = 0; i < n; i++) {
            lua_rawgeti(L, -1, (lua_Integer)i + 1);
            const char *s = lua_tostring(L, -1);
            r->rewrite_redirect[i] = s ? strdup(s) : NULL;
            lua_pop(L, 1);
            if (r->rewrite_redirect[i] == NULL)
                goto nomem_pop;
            r->n_rewrite_redirect = i + 1;
        }
    }
    lua_pop(L, 1);
    if (raw_field(L, -1, "headers") == LUA_TTABLE) {
        size_t n = lua_rawlen(L, -1);
        if (n > 0 && (r->rewrite_headers = calloc(n, sizeof(*r->rewrite_headers))) == NULL)
            goto nomem;
        for (size_t i = 0; i < n; i++) {
            lua_rawgeti(L, -1, (lua_Integer)i + 1);
            r->n_rewrite_headers = i + 1;
            if (lua_type(L, -1) == LUA_TTABLE) {
                raw_field(L, -1, "name");
                raw_field(L, -2, "value");
                const char *hn = lua_tostring(L, -2), *hv = lua_tostring(L, -1);
                r->rewrite_headers[i].name = hn ? strdup(hn) : NULL;
                r->rewrite_headers[i].value = hv ? strdup(hv) : NULL;
                lua_pop(L, 2);
            }
            lua_pop(L, 1);
            if (r->rewrite_headers[i].name == NULL || r->rewrite_headers[i].value == NULL)
                goto nomem_pop;
        }
    }
    lua_pop(L, 1);
out:
    lua_pop(L, 1);
    return rc;
nomem:
    lua_pop(L, 2);
    return err_set(err, -ENOMEM, "%s: out of memory or bad rewrite", prefix);
nomem_pop:
    lua_pop(L, 2);
    return err_set(err, -ENOMEM, "%s: out of memory or bad rewrite", prefix);
}

static int convert_app(lua_State *L, int idx, const struct rule_entry *e, const struct container *c,
                       struct resource *r, const char *prefix, struct enr_error *err)
{
    int rc;

    if ((rc = resource_init(r)) < 0)
        return err_set(err, rc, "%s: out of memory", prefix);
    r->kind = RESOURCE_APP;
    if (raw_field(L, idx, "kind") == LUA_TSTRING && strcmp(lua_tostring(L, -1), "db") == 0)
        r->kind = RESOURCE_DB;
    lua_pop(L, 1);
    if ((rc = opt_string(L, idx, "name", &r->name, prefix, err)) < 0 ||
        (rc = opt_string(L, idx, "uri", &r->uri, prefix, err)) < 0 ||
        (rc = opt_string(L, idx, "description", &r->description, prefix, err)) < 0 ||
        (rc = convert_labels(L, idx, r, prefix, err)) < 0)
        goto fail;
    if (r->kind == RESOURCE_DB) {
        if ((rc = opt_string(L, idx, "protocol", &r->protocol, prefix, err)) < 0)
            goto fail;
    } else {
        if ((rc = opt_string(L, idx, "public_addr", &r->public_addr, prefix, err)) < 0 ||
            (rc = convert_rewrite(L, idx, r, prefix, err)) < 0)
            goto fail;
        if (raw_field(L, idx, "insecure_skip_verify") == LUA_TBOOLEAN)
            r->insecure_skip_verify = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    if (!is_dns_label(r->name)) {
        rc = err_set(err, -EINVAL, "%s: app field 'name': '%s' is not a valid name", prefix, r->name);
        goto fail;
    }
    if (r->uri[0] == '\0') {
        rc = err_set(err, -EINVAL, "%s: app field 'uri' is required", prefix);
        goto fail;
    }
    if ((rc = resource_set_str(&r->rule, e->name)) < 0 ||
        (rc = resource_set_str(&r->container_id, c->id)) < 0) {
        err_set(err, rc, "%s: out of memory", prefix);
        goto fail;
    }
    return 0;
fail:
    resource_cleanup(r);
    return rc;
}

/* Checks and converts the apps() result at the top of the stack. */
static int collect_apps(struct rule_set *rs, const struct rule_entry *e, const struct container *c,
                        struct resource_list *tmp, struct enr_error *err)
{
    lua_State *L = rs->L;
    int list = lua_gettop(L);
    char prefix[300];
    struct resource r;
    int rc;

    snprintf(prefix, sizeof(prefix), "%s: rule '%s'", e->file, e->name);
    if (lua_isnil(L, list))
        return 0;
    if (!lua_istable(L, list))
        return err_set(err, -EINVAL, "%s: apps() returned a %s; expected a list of apps", prefix,
                       luaL_typename(L, list));
    lua_Integer n = (lua_Integer)lua_rawlen(L, list);
    lua_pushnil(L);
    while (lua_next(L, list)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
            lua_pop(L, 1);
            return err_set(err, -EINVAL,
                           "%s: apps() must return a list of apps (wrap a single app in { ... })",
                           prefix);
        }
    }
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, rs->validate_ref);
        lua_rawgeti(L, list, i);
        if ((rc = lua_runtime_pcall(L, 1, 2, err)) < 0)
            return err_wrap(err, "%s", prefix);
        if (!lua_toboolean(L, -2)) {
            rc = err_set(err, -EINVAL, "%s: %s", prefix, lua_tostring(L, -1));
            lua_pop(L, 2);
            return rc;
        }
        lua_pop(L, 2);
        lua_rawgeti(L, list, i);
        rc = convert_app(L, -1, e, c, &r, prefix, err);
        lua_pop(L, 1);
        if (rc < 0)
            return rc;
        for (size_t j = 0; j < tmp->len; j++)
            if (tmp->items[j].kind == r.kind && strcmp(tmp->items[j].name, r.name) == 0) {
                rc = strcmp(tmp->items[j].rule, e->name) == 0
                         ? err_set(err, -EEXIST, "%s: produced %s '%s' twice for container %s", prefix,
                                   r.kind == RESOURCE_DB ? "db" : "app", r.name, c->name)
                         : err_set(err, -EEXIST,
                                   "%s: %s '%s' for container %s is also produced by rule '%s' (give "
                                   "one rule a higher priority, or make its match() exclude the other's)",
                                   prefix, r.kind == RESOURCE_DB ? "db" : "app", r.name, c->name,
                                   tmp->items[j].rule);
                resource_cleanup(&r);
                return rc;
            }
        if ((rc = resource_list_take(tmp, &r)) < 0) {
            resource_cleanup(&r);
            return err_set(err, rc, "%s: out of memory", prefix);
        }
    }
    return 0;
}

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
        blame_file(err, e->file, 0);
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
        rc = collect_apps(rs, e, c, tmp, &one);
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
        if (tmp.items[i].kind == RESOURCE_DB) {
            /* validated, but Teleport database CRUD is not written yet */
            log_debug(LOG_RULES, "%s: rule '%s': db '%s' is not written to Teleport (not supported yet)",
                      c->name, tmp.items[i].rule, tmp.items[i].name);
            continue;
        }
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

int rule_set_explain(struct rule_set *rs, const struct container *c, struct rule_report **reports,
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

void rule_report_free(struct rule_report *reports, size_t n)
{
    if (reports == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(reports[i].detail);
        resource_list_cleanup(&reports[i].resources);
    }
    free(reports);
}
