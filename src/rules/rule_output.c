/*
 * rule_output.c - see rule_output.h.
 */
#include "rules/rule_output.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "base/kv.h"
#include "lua/lua_runtime.h"

#define RESERVED_PREFIX "enroller.dev/"

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

static int opt_string(lua_State *L, int idx, const char *key, const char **field, const char *prefix,
                      struct enr_error *err)
{
    int t = raw_field(L, idx, key);
    int rc = 0;
    size_t len = 0;
    const char *v = t == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    if (v != NULL && strlen(v) != len) /* a NUL inside would be cut silently */
        rc = err_set(err, -EINVAL, "%s: app field '%s': contains a NUL byte", prefix, key);
    else if (v != NULL)
        rc = resource_set_str(field, v);
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

/* rewrite.redirect and rewrite.headers into o (NULL: the app has no options). */
static int convert_rewrite(lua_State *L, int idx, struct resource_opts *o, const char *prefix,
                           struct enr_error *err)
{
    int rc = 0;
    if (o == NULL)
        return 0;
    if (raw_field(L, idx, "rewrite") != LUA_TTABLE)
        goto out;
    if (raw_field(L, -1, "redirect") == LUA_TTABLE) {
        size_t n = lua_rawlen(L, -1);
        if (n > 0 && (o->rewrite_redirect = calloc(n, sizeof(char *))) == NULL)
            goto fail;
        for (size_t i = 0; i < n; i++) {
            lua_rawgeti(L, -1, (lua_Integer)i + 1);
            const char *s = lua_tostring(L, -1);
            o->rewrite_redirect[i] = s ? strdup(s) : NULL;
            lua_pop(L, 1);
            if (o->rewrite_redirect[i] == NULL)
                goto fail;
            o->n_rewrite_redirect = i + 1;
        }
    }
    lua_pop(L, 1);
    if (raw_field(L, -1, "headers") == LUA_TTABLE) {
        size_t n = lua_rawlen(L, -1);
        if (n > 0 && (o->rewrite_headers = calloc(n, sizeof(*o->rewrite_headers))) == NULL)
            goto fail;
        for (size_t i = 0; i < n; i++) {
            lua_rawgeti(L, -1, (lua_Integer)i + 1);
            o->n_rewrite_headers = i + 1;
            if (lua_type(L, -1) == LUA_TTABLE) {
                raw_field(L, -1, "name");
                raw_field(L, -2, "value");
                const char *hn = lua_tostring(L, -2), *hv = lua_tostring(L, -1);
                o->rewrite_headers[i].name = hn ? strdup(hn) : NULL;
                o->rewrite_headers[i].value = hv ? strdup(hv) : NULL;
                lua_pop(L, 2);
            }
            lua_pop(L, 1);
            if (o->rewrite_headers[i].name == NULL || o->rewrite_headers[i].value == NULL)
                goto fail;
        }
    }
    lua_pop(L, 1);
out:
    lua_pop(L, 1);
    return rc;
fail:
    lua_pop(L, 2);
    return err_set(err, -ENOMEM, "%s: out of memory or bad rewrite", prefix);
}

/* Reads the list of strings t[key] (t at idx) into l; a NUL inside a
 * string is refused. */
static int read_strv(lua_State *L, int idx, const char *key, struct resource_strv *l, const char *prefix,
                     const char *field, struct enr_error *err)
{
    int rc = 0;
    if (raw_field(L, idx, key) == LUA_TTABLE) {
        size_t n = lua_rawlen(L, -1);
        for (size_t i = 0; i < n && rc == 0; i++) {
            size_t len = 0;
            lua_rawgeti(L, -1, (lua_Integer)i + 1);
            const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
            if (v == NULL || strlen(v) != len)
                rc = err_set(err, -EINVAL, "%s: app field '%s[%zu]': expected a string without NUL bytes",
                             prefix, field, i + 1);
            else if (resource_strv_push(l, v) < 0)
                rc = err_set(err, -ENOMEM, "%s: out of memory", prefix);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return rc;
}

static lua_Integer opt_integer(lua_State *L, int idx, const char *key)
{
    lua_Integer v = raw_field(L, idx, key) == LUA_TNUMBER ? lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    return v;
}

static bool opt_bool(lua_State *L, int idx, const char *key)
{
    bool v = raw_field(L, idx, key) == LUA_TBOOLEAN && lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* True when the app at idx has a field kept in struct resource_opts. */
static bool has_options(lua_State *L, int idx)
{
    static const char *const keys[] = {"rewrite", "use_any_proxy_public_addr", "required_apps", "cors", "tcp_ports"};

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        int t = raw_field(L, idx, keys[i]);
        lua_pop(L, 1);
        if (t != LUA_TNIL)
            return true;
    }
    return false;
}

/* required_apps, use_any_proxy_public_addr, cors, tcp_ports and
 * rewrite.jwt_claims of the validated app at idx into o (NULL: it has none). */
static int convert_options(lua_State *L, int idx, struct resource_opts *o, const char *prefix,
                           struct enr_error *err)
{
    int rc;

    if (o == NULL)
        return 0;
    o->use_any_proxy_public_addr = opt_bool(L, idx, "use_any_proxy_public_addr");
    if ((rc = read_strv(L, idx, "required_apps", &o->required_apps, prefix, "required_apps", err)) < 0)
        return rc;
    if (raw_field(L, idx, "cors") == LUA_TTABLE) {
        if ((rc = read_strv(L, -1, "allowed_origins", &o->cors.allowed_origins, prefix, "cors.allowed_origins", err)) < 0 ||
            (rc = read_strv(L, -1, "allowed_methods", &o->cors.allowed_methods, prefix, "cors.allowed_methods", err)) < 0 ||
            (rc = read_strv(L, -1, "allowed_headers", &o->cors.allowed_headers, prefix, "cors.allowed_headers", err)) < 0 ||
            (rc = read_strv(L, -1, "exposed_headers", &o->cors.exposed_headers, prefix, "cors.exposed_headers", err)) < 0) {
            lua_pop(L, 1);
            return rc;
        }
        o->cors.allow_credentials = opt_bool(L, -1, "allow_credentials");
        o->cors.max_age = (uint32_t)opt_integer(L, -1, "max_age");
    }
    lua_pop(L, 1);
    if (raw_field(L, idx, "tcp_ports") == LUA_TTABLE) {
        size_t n = lua_rawlen(L, -1);
        if (n > 0 && (o->tcp_ports = calloc(n, sizeof(*o->tcp_ports))) == NULL) {
            lua_pop(L, 1);
            return err_set(err, -ENOMEM, "%s: out of memory", prefix);
        }
        for (size_t i = 0; i < n; i++) {
            lua_rawgeti(L, -1, (lua_Integer)i + 1);
            if (lua_type(L, -1) == LUA_TTABLE) {
                o->tcp_ports[i].port = (uint32_t)opt_integer(L, -1, "port");
                o->tcp_ports[i].end_port = (uint32_t)opt_integer(L, -1, "end_port");
            }
            lua_pop(L, 1);
        }
        o->n_tcp_ports = n;
    }
    lua_pop(L, 1);
    if (raw_field(L, idx, "rewrite") == LUA_TTABLE)
        rc = opt_string(L, -1, "jwt_claims", &o->rewrite_jwt_claims, prefix, err);
    lua_pop(L, 1);
    return rc;
}

/* tls.mode of the validated app at idx.  Only it reaches Teleport (the schema
 * refuses the rest): "insecure" is sent as insecure_skip_verify,
 * "verify-full" as its default false. */
static void convert_tls(lua_State *L, int idx, struct resource *r)
{
    if (raw_field(L, idx, "tls") == LUA_TTABLE) {
        if (raw_field(L, -1, "mode") == LUA_TSTRING && strcmp(lua_tostring(L, -1), "insecure") == 0)
            r->insecure_skip_verify = true;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* Converts the validated app or db table at idx into r (initialized here;
 * cleaned up on failure). */
static int convert_app(lua_State *L, int idx, const char *rule, const struct container *c,
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
        /* The options take room only when the app has some. */
        struct resource_opts *o = NULL;
        if (has_options(L, idx) && (o = resource_opts_mut(r)) == NULL) {
            rc = err_set(err, -ENOMEM, "%s: out of memory", prefix);
            goto fail;
        }
        if ((rc = opt_string(L, idx, "public_addr", &r->public_addr, prefix, err)) < 0 ||
            (rc = convert_rewrite(L, idx, o, prefix, err)) < 0)
            goto fail;
        if (raw_field(L, idx, "insecure_skip_verify") == LUA_TBOOLEAN)
            r->insecure_skip_verify = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if ((rc = convert_options(L, idx, o, prefix, err)) < 0)
            goto fail;
        convert_tls(L, idx, r);
        resource_opts_trim(r);
        /* registration = "agent": carried as a reserved label, which the
         * reconciler reads (reconcile/reconcile_agents.c) */
        if (raw_field(L, idx, "registration") == LUA_TSTRING && strcmp(lua_tostring(L, -1), "agent") == 0 &&
            kv_set(&r->labels, RESERVED_PREFIX "registration", "agent") < 0) {
            lua_pop(L, 1);
            rc = err_set(err, -ENOMEM, "%s: out of memory", prefix);
            goto fail;
        }
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
    if ((rc = resource_set_str(&r->rule, rule)) < 0 ||
        (rc = resource_set_str(&r->container_id, c->id)) < 0) {
        err_set(err, rc, "%s: out of memory", prefix);
        goto fail;
    }
    return 0;
fail:
    resource_cleanup(r);
    return rc;
}

int rule_output_collect(lua_State *L, int validate_ref, const char *file, const char *rule,
                        const struct container *c, struct resource_list *tmp, struct enr_error *err)
{
    int list = lua_gettop(L);
    char prefix[300];
    struct resource r;
    int rc;

    snprintf(prefix, sizeof(prefix), "%s: rule '%s'", file, rule);
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
        lua_rawgeti(L, LUA_REGISTRYINDEX, validate_ref);
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
        rc = convert_app(L, -1, rule, c, &r, prefix, err);
        lua_pop(L, 1);
        if (rc < 0)
            return rc;
        for (size_t j = 0; j < tmp->len; j++)
            if (tmp->items[j].kind == r.kind && strcmp(tmp->items[j].name, r.name) == 0) {
                rc = strcmp(tmp->items[j].rule, rule) == 0
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
