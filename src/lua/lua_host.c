/*
 * lua_host.c - a lua.c-like host with enroller.core preloaded, for specs.
 *
 *     enroller-lua [-e stat]... [script [args...]]
 *
 * busted runs `lua5.4 /usr/bin/busted --lua=build/enroller-lua spec/lua`,
 * then re-executes `enroller-lua <busted script> --ignore-lua <args>`, so
 * this host behaves like stock lua: all standard libraries, the system's
 * package.path/cpath (busted, lfs, term, system), an `arg` table, a "#!"
 * first line skipped.  The project's lua/ dir comes first on package.path.
 * Rule states in the daemon stay sandboxed (lua_runtime.c); this is not one.
 * It offers the real sandbox to specs as the module `enroller.host`:
 *
 *     local host = require("enroller.host")
 *     local apps, err = host.eval(rules_dir, inspect_json [, {instructions=, memory=, time_ms=}])
 *     -- apps: { {name=, uri=, rule=}, ... }, or nil and the one-line error
 *     local ok, err = host.load(rules_dir [, limits])
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua/lua_core.h"
#include "lua/lua_runtime.h"
#include "model/container.h"
#include "rules/rule_loader.h"

static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Runs the function below its nargs arguments; prints errors like lua.c. */
static int docall(lua_State *L, int nargs)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    int rc = lua_pcall(L, nargs, 0, base);
    lua_remove(L, base);
    if (rc != LUA_OK) {
        fprintf(stderr, "enroller-lua: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return rc;
}

/* arg[-k..-1] = host and options, arg[0] = script, arg[1..] = its args. */
static void create_arg(lua_State *L, char **argv, int argc, int script)
{
    lua_createtable(L, argc - script - 1 > 0 ? argc - script - 1 : 0, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static void opt_limits(lua_State *L, int idx, struct rule_limits *limits)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        return;
    lua_getfield(L, idx, "instructions");
    limits->instructions = (uint64_t)luaL_optinteger(L, -1, 0);
    lua_getfield(L, idx, "memory");
    limits->mem_bytes = (size_t)luaL_optinteger(L, -1, 0);
    lua_getfield(L, idx, "time_ms");
    limits->time_ms = (unsigned)luaL_optinteger(L, -1, 0);
    lua_pop(L, 3);
}

/* host.load(dir [, limits]): true, or nil and the first error. */
static int host_load(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    struct rule_limits limits = {0};
    struct enr_error err = {0};

    opt_limits(L, 2, &limits);
    struct rule_set *rs = rule_loader_load(dir, NULL, &limits, &err);
    if (rs == NULL) {
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    rule_set_free(rs);
    lua_pushboolean(L, 1);
    return 1;
}

/* host.eval(dir, inspect_json [, limits]): the apps, or nil and the error. */
static int host_eval(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    size_t len;
    const char *json = luaL_checklstring(L, 2, &len);
    struct rule_limits limits = {0};
    struct enr_error err = {0};
    struct resource_list out;
    struct container *c;
    struct rule_set *rs;

    opt_limits(L, 3, &limits);
    if ((c = container_from_inspect(json, len, &err)) == NULL)
        return luaL_error(L, "inspect: %s", err.msg);
    if ((rs = rule_loader_load(dir, NULL, &limits, &err)) == NULL) {
        container_free(c);
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    resource_list_init(&out);
    int rc = rule_set_eval(rs, c, &out, &err);
    rule_set_free(rs);
    container_free(c);
    if (rc < 0) {
        resource_list_cleanup(&out);
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    lua_createtable(L, (int)out.len, 0);
    for (size_t i = 0; i < out.len; i++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, out.items[i].name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, out.items[i].uri);
        lua_setfield(L, -2, "uri");
        lua_pushstring(L, out.items[i].rule);
        lua_setfield(L, -2, "rule");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    resource_list_cleanup(&out);
    return 1;
}

static int luaopen_enroller_host(lua_State *L)
{
    static const luaL_Reg funcs[] = {{"load", host_load}, {"eval", host_eval}, {NULL, NULL}};
    luaL_newlib(L, funcs);
    return 1;
}

static int setup(lua_State *L)
{
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_enroller_core);
    lua_setfield(L, -2, "enroller.core");
    lua_pushcfunction(L, luaopen_enroller_host);
    lua_setfield(L, -2, "enroller.host");
    lua_pop(L, 1);
    lua_getglobal(L, "package");
    const char *dir = lua_runtime_default_dir();
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
    return 0;
}

int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    int script = argc, rc = LUA_OK, i;

    if (L == NULL) {
        fprintf(stderr, "enroller-lua: cannot create state: not enough memory\n");
        return 1;
    }
    lua_pushcfunction(L, setup);
    if (docall(L, 0) != LUA_OK)
        goto done;
    /* options: -e stat, --; the first other argument is the script */
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "-e") == 0 && i + 1 < argc) {
            i++;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "usage: %s [-e stat] [script [args]]\n", argv[0]);
            rc = LUA_ERRRUN;
            goto done;
        }
        break;
    }
    script = i < argc ? i : argc;
    create_arg(L, argv, argc, script < argc ? script : 0);
    for (i = 1; i < script; i++)
        if (strcmp(argv[i], "-e") == 0) {
            i++;
            if ((rc = luaL_loadbuffer(L, argv[i], strlen(argv[i]), "=(command line)")) != LUA_OK) {
                fprintf(stderr, "enroller-lua: %s\n", lua_tostring(L, -1));
                goto done;
            }
            if ((rc = docall(L, 0)) != LUA_OK)
                goto done;
        }
    if (script < argc) {
        if ((rc = luaL_loadfile(L, argv[script])) != LUA_OK) {
            fprintf(stderr, "enroller-lua: %s\n", lua_tostring(L, -1));
            goto done;
        }
        int n = argc - script - 1;
        luaL_checkstack(L, n, "too many arguments to script");
        for (i = script + 1; i < argc; i++)
            lua_pushstring(L, argv[i]);
        rc = docall(L, n);
    }
done:
    lua_close(L);
    return rc == LUA_OK ? 0 : 1;
}
