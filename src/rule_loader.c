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
#include "rule_loader.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>

#include "log.h"
#include "lua_container.h"
#include "lua_runtime.h"

#define DEFAULT_INSTRUCTIONS 10000000ULL
#define RESERVED_PREFIX "enroller.dev/"

struct rule_entry {
    char *name;    /* rule{ name = ... } */
    char *file;    /* display name, "rules/x.lua" */
    int ref;       /* registry ref of the rule table */
};

struct rule_set {
    lua_State *L;
    struct rule_entry *rules;
    size_t n;
    uint64_t hash;
    uint64_t instructions;
    int is_rule_ref;  /* enroller.is_rule */
    int validate_ref; /* function(app) return schema.validate(schema.app, app) end */
};

static const char helpers_chunk[] =
    "local enroller = require('enroller')\n"
    "local schema = require('enroller.schema')\n"
    "return enroller.is_rule, function(app) return schema.validate(schema.app, app) end\n";

static void fnv64(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 1099511628211ULL;
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
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

/* Errors raised without a position (error(msg, 0), a tail call such as
 * `return enroller.rule{...}` hiding the caller's line, errors inside the
 * library) still name the rule file first. */
static int blame_file(struct enr_error *err, const char *file)
{
    size_t n = strlen(file);
    if (err != NULL && !(strncmp(err->msg, file, n) == 0 && err->msg[n] == ':'))
        err_wrap(err, "%s", file);
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
    int rc;

    if ((rc = lua_runtime_load_file(L, path, file, err)) < 0)
        return rc;
    lua_pushcfunction(L, private_env);
    lua_insert(L, -2);
    if ((rc = lua_runtime_pcall(L, 1, 1, err)) < 0)
        goto fail_msg;
    lua_runtime_set_budget(L, rs->instructions, "rule");
    rc = lua_runtime_pcall(L, 0, 1, err);
    lua_runtime_set_budget(L, 0, NULL);
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
    lua_getfield(L, -1, "name"); /* a plain table from rule{}: no metamethods */
    const char *name = lua_tostring(L, -1);
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->rules[i].name, name) == 0) {
            rc = err_set(err, -EEXIST, "%s: rule name '%s' is already used by %s", file, name,
                         rs->rules[i].file);
            goto fail;
        }
    struct rule_entry *e = &rs->rules[rs->n];
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
    blame_file(err, file);
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
    rs->hash = 14695981039346656037ULL;
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
            fnv64(&rs->hash, names[i], strlen(names[i]) + 1);
            fnv64(&rs->hash, content, len);
            free(content);
            content = NULL;
            rc = load_one(rs, path, file, &one);
        }
        if (rc < 0) {
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
    if ((rc = opt_string(L, idx, "name", &r->name, prefix, err)) < 0 ||
        (rc = opt_string(L, idx, "uri", &r->uri, prefix, err)) < 0 ||
        (rc = opt_string(L, idx, "description", &r->description, prefix, err)) < 0 ||
        (rc = opt_string(L, idx, "public_addr", &r->public_addr, prefix, err)) < 0 ||
        (rc = convert_labels(L, idx, r, prefix, err)) < 0 ||
        (rc = convert_rewrite(L, idx, r, prefix, err)) < 0)
        goto fail;
    if (raw_field(L, idx, "insecure_skip_verify") == LUA_TBOOLEAN)
        r->insecure_skip_verify = lua_toboolean(L, -1);
    lua_pop(L, 1);
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

/* Calls rule[fn](c) under the instruction budget; leaves one result. */
static int call_rule_fn(struct rule_set *rs, const struct rule_entry *e, const char *fn, int cidx,
                        struct enr_error *err)
{
    lua_State *L = rs->L;
    int rc;

    lua_rawgeti(L, LUA_REGISTRYINDEX, e->ref);
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
    lua_pushvalue(L, cidx);
    lua_runtime_set_budget(L, rs->instructions, "rule");
    rc = lua_runtime_pcall(L, 1, 1, err);
    lua_runtime_set_budget(L, 0, NULL);
    if (rc == -ENOMEM)
        err_wrap(err, "%s: rule '%s'", e->file, e->name);
    else if (rc < 0)
        blame_file(err, e->file);
    return rc;
}

int rule_set_eval(struct rule_set *rs, const struct container *c, struct resource_list *out,
                  struct enr_error *err)
{
    lua_State *L = rs->L;
    int top = lua_gettop(L), cidx, rc = 0;
    struct resource_list tmp;

    resource_list_init(&tmp);
    lua_pushcfunction(L, push_container);
    lua_pushlightuserdata(L, (void *)c);
    if ((rc = lua_runtime_pcall(L, 1, 1, err)) < 0)
        goto fail;
    cidx = lua_gettop(L);
    for (size_t i = 0; i < rs->n; i++) {
        const struct rule_entry *e = &rs->rules[i];
        if ((rc = call_rule_fn(rs, e, "match", cidx, err)) < 0)
            goto fail;
        int matched = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (!matched)
            continue;
        if ((rc = call_rule_fn(rs, e, "apps", cidx, err)) < 0)
            goto fail;
        rc = collect_apps(rs, e, c, &tmp, err);
        lua_pop(L, 1);
        if (rc < 0)
            goto fail;
    }
    for (size_t i = 0; i < tmp.len; i++)
        if ((rc = resource_list_take(out, &tmp.items[i])) < 0) {
            /* out keeps what it had: drop the ones already moved */
            out->len -= i;
            for (size_t j = 0; j < i; j++)
                resource_cleanup(&out->items[out->len + j]);
            err_set(err, rc, "rules: out of memory");
            goto fail;
        }
    tmp.len = 0;
fail:
    if (lua_gettop(L) >= top + 1)
        lua_container_invalidate(L, top + 1);
    lua_settop(L, top);
    resource_list_cleanup(&tmp);
    return rc;
}
