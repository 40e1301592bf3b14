/*
 * lua_sandbox.c - see lua_sandbox.h.
 */
#include "lua/lua_sandbox.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua/lua_runtime.h"

/* Bytes copied per unit charged: a memcpy of 16 bytes costs about what one
 * VM instruction does. */
#define BYTES_PER_UNIT 16

enum cost {
    COST_BYTES,   /* string arguments in, string results out */
    COST_REP,     /* string.rep: its loop when the parts are empty, else the
                   * result (bounded by the memory cap; charged when built, so
                   * one too large for the cap fails as a memory error) */
    COST_FIND,    /* string.find/match: one pattern match, maybe anchored */
    COST_GMATCH,  /* string.gmatch: every start, never anchored */
    COST_GSUB,    /* string.gsub: every start, maybe anchored */
    COST_CONCAT,  /* table.concat(t, sep, i, j): j - i + 1 elements */
    COST_UNPACK,  /* table.unpack(t, i, j): j - i + 1 elements */
    COST_MOVE,    /* table.move(a1, f, e, t): e - f + 1 elements */
    COST_LEN,     /* table.insert/remove(t, ...): #t elements */
    COST_SORT,    /* table.sort(t): #t log #t comparisons */
};

static const char REG_VIEWS[] = "enroller.sandbox.views";
static const char REG_GLOBALS[] = "enroller.sandbox.globals";

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    return a != 0 && b > UINT64_MAX / a ? UINT64_MAX : a * b;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

static uint64_t string_units(lua_State *L, int from, int to)
{
    uint64_t bytes = 0;
    for (int i = from; i <= to; i++)
        if (lua_type(L, i) == LUA_TSTRING)
            bytes = sat_add(bytes, lua_rawlen(L, i));
    return bytes / BYTES_PER_UNIT + 1;
}

/* The steps Lua's backtracking matcher (lstrlib.c match()) may take for
 * pattern p on a subject of n bytes, tried from `starts` positions. */
static uint64_t pattern_steps(const char *p, size_t plen, uint64_t n, int may_anchor)
{
    uint64_t per = 1;
    size_t i = 0;
    int anchored = may_anchor && plen > 0 && p[0] == '^';

    if (anchored)
        i = 1;
    while (i < plen) {
        int variable = 0;
        char c = p[i];
        if (c == '%' && i + 1 < plen) {
            char d = p[i + 1];
            if (d == 'b') { /* %bxy scans to the balancing character */
                i += 4;
                per = sat_mul(per, n + 1);
                continue;
            }
            if (d == 'f') { /* %f[set]: one test */
                i += 2;
                if (i < plen && p[i] == '[') {
                    i++;
                    if (i < plen && p[i] == '^')
                        i++;
                    do {
                        if (i < plen && p[i] == '%')
                            i++;
                        i++;
                    } while (i < plen && p[i] != ']');
                    i++;
                }
                continue;
            }
            if (d >= '0' && d <= '9') /* a back-reference compares a capture */
                variable = 1;
            i += 2;
        } else if (c == '[') {
            i++;
            if (i < plen && p[i] == '^')
                i++;
            do { /* the first ']' belongs to the set */
                if (i < plen && p[i] == '%')
                    i++;
                i++;
            } while (i < plen && p[i] != ']');
            i++;
        } else if (c == '(' || c == ')') {
            i++;
            continue;
        } else {
            i++;
        }
        if (i < plen && (p[i] == '*' || p[i] == '+' || p[i] == '-')) {
            variable = 1;
            i++;
        } else if (i < plen && p[i] == '?') {
            per = sat_mul(per, 2);
            i++;
        }
        if (variable)
            per = sat_mul(per, n + 1);
    }
    return sat_add(sat_mul(anchored ? 1 : n + 1, per), n);
}

/* An integer argument as the library reads it (1e15 and "7" count). */
static lua_Integer opt_int(lua_State *L, int idx, lua_Integer def)
{
    int ok = 0;
    lua_Integer v = lua_isnoneornil(L, idx) ? 0 : lua_tointegerx(L, idx, &ok);
    return ok ? v : def;
}

static uint64_t span(lua_Integer from, lua_Integer to)
{
    if (to < from)
        return 1;
    /* computed unsigned: to - from may not fit a lua_Integer */
    return sat_add((uint64_t)to - (uint64_t)from, 2);
}

/* #t as the library function will see it (honours __len, which is charged
 * by the hook when it is Lua code); 0 when t is not a table. */
static lua_Integer len_of(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        return 0;
    return luaL_len(L, idx);
}

static uint64_t cost_before(lua_State *L, enum cost kind, int n)
{
    size_t len = 0, plen = 0;
    const char *p;

    switch (kind) {
    case COST_BYTES:
        return string_units(L, 1, n);
    case COST_REP: {
        size_t sep = 0;
        if (lua_type(L, 1) == LUA_TSTRING)
            len = lua_rawlen(L, 1);
        if (lua_type(L, 3) == LUA_TSTRING)
            sep = lua_rawlen(L, 3);
        lua_Integer times = opt_int(L, 2, 0);
        if (times <= 0 || len + sep > 0)
            return 1;
        return (uint64_t)times / BYTES_PER_UNIT + 1;
    }
    case COST_FIND:
    case COST_GMATCH:
    case COST_GSUB:
        if (lua_type(L, 1) != LUA_TSTRING && lua_type(L, 1) != LUA_TNUMBER)
            return 1;
        if (lua_type(L, 2) != LUA_TSTRING)
            return 1;
        lua_tolstring(L, 1, &len); /* a number argument becomes its string */
        p = lua_tolstring(L, 2, &plen);
        if (kind == COST_FIND && lua_toboolean(L, 4)) /* plain find */
            return (len + plen) / BYTES_PER_UNIT + 1;
        return pattern_steps(p, plen, len, kind != COST_GMATCH);
    case COST_CONCAT:
    case COST_UNPACK: {
        int i_arg = kind == COST_CONCAT ? 3 : 2;
        if (lua_type(L, 1) != LUA_TTABLE)
            return 1;
        lua_Integer from = opt_int(L, i_arg, 1);
        lua_Integer to = lua_isnoneornil(L, i_arg + 1) ? len_of(L, 1) : opt_int(L, i_arg + 1, 0);
        return span(from, to);
    }
    case COST_MOVE:
        return span(opt_int(L, 2, 1), opt_int(L, 3, 0));
    case COST_LEN:
        return span(1, len_of(L, 1));
    case COST_SORT: {
        lua_Integer t = len_of(L, 1);
        if (t < 2)
            return 1;
        double units = (double)t * (log2((double)t) + 1) * 4;
        return units >= 1.8e19 ? UINT64_MAX : (uint64_t)units;
    }
    }
    return 1;
}

/* The wrapper: upvalues are the library function, its cost kind and its
 * name; charges, then calls through. */
static int charged(lua_State *L)
{
    enum cost kind = (enum cost)lua_tointeger(L, lua_upvalueindex(2));
    const char *name = lua_tostring(L, lua_upvalueindex(3));
    int n = lua_gettop(L);

    if (lua_runtime_budget_left(L) != UINT64_MAX)
        lua_runtime_charge(L, cost_before(L, kind, n), name);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    int nres = lua_gettop(L);
    if ((kind == COST_BYTES || kind == COST_REP) && lua_runtime_budget_left(L) != UINT64_MAX)
        lua_runtime_charge(L, string_units(L, 1, nres), name);
    return nres;
}

static void wrap(lua_State *L, const char *lib, const char *fn, enum cost kind)
{
    lua_getglobal(L, lib);
    if (lua_getfield(L, -1, fn) == LUA_TFUNCTION) {
        lua_pushinteger(L, kind);
        lua_pushfstring(L, "%s.%s", lib, fn);
        lua_pushcclosure(L, charged, 3);
        lua_setfield(L, -2, fn);
    } else {
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static void wrap_global(lua_State *L, const char *fn, enum cost kind)
{
    if (lua_getglobal(L, fn) == LUA_TFUNCTION) {
        lua_pushinteger(L, kind);
        lua_pushstring(L, fn);
        lua_pushcclosure(L, charged, 3);
        lua_setglobal(L, fn);
    } else {
        lua_pop(L, 1);
    }
}

/* setmetatable(t, mt) without finalizers: Lua runs __gc with hooks off,
 * where no budget can stop it. */
static int sandbox_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc is not allowed in rules (finalizers run "
                                 "outside the instruction budget)");
        lua_pop(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* A message handler runs where the error was raised: for a limit, inside
 * the count hook, where hooks are off.  Once a limit is hit the rule's
 * handler is not called; the error goes on as it is. */
static int guarded_handler(lua_State *L)
{
    if (lua_runtime_tripped(L))
        return 1;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static int sandbox_xpcall(lua_State *L)
{
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, guarded_handler, 1);
    lua_replace(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static int sandbox_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "collect");
    if (strcmp(opt, "count") != 0)
        return luaL_error(L, "collectgarbage: only \"count\" is available to rules");
    lua_pushnumber(L, (lua_Number)lua_gc(L, LUA_GCCOUNT, 0) + (lua_Number)lua_gc(L, LUA_GCCOUNTB, 0) / 1024);
    return 1;
}

void lua_sandbox_open(lua_State *L)
{
    static const char *const bytes_string[] = {"byte", "char", "format", "len", "lower", "upper",
                                               "reverse", "sub", "pack", "unpack", "packsize", NULL};
    static const char *const bytes_utf8[] = {"char", "codepoint", "len", "offset", NULL};

    for (int i = 0; bytes_string[i] != NULL; i++)
        wrap(L, LUA_STRLIBNAME, bytes_string[i], COST_BYTES);
    wrap(L, LUA_STRLIBNAME, "rep", COST_REP);
    wrap(L, LUA_STRLIBNAME, "find", COST_FIND);
    wrap(L, LUA_STRLIBNAME, "match", COST_FIND);
    wrap(L, LUA_STRLIBNAME, "gmatch", COST_GMATCH);
    wrap(L, LUA_STRLIBNAME, "gsub", COST_GSUB);
    for (int i = 0; bytes_utf8[i] != NULL; i++)
        wrap(L, LUA_UTF8LIBNAME, bytes_utf8[i], COST_BYTES);
    wrap(L, LUA_TABLIBNAME, "concat", COST_CONCAT);
    wrap(L, LUA_TABLIBNAME, "unpack", COST_UNPACK);
    wrap(L, LUA_TABLIBNAME, "move", COST_MOVE);
    wrap(L, LUA_TABLIBNAME, "insert", COST_LEN);
    wrap(L, LUA_TABLIBNAME, "remove", COST_LEN);
    wrap(L, LUA_TABLIBNAME, "sort", COST_SORT);
    wrap_global(L, "tostring", COST_BYTES);
    wrap_global(L, "tonumber", COST_BYTES);
    wrap_global(L, "load", COST_BYTES);
    wrap_global(L, "print", COST_BYTES);

    lua_getglobal(L, "setmetatable");
    lua_pushcclosure(L, sandbox_setmetatable, 1);
    lua_setglobal(L, "setmetatable");
    lua_getglobal(L, "xpcall");
    lua_pushcclosure(L, sandbox_xpcall, 1);
    lua_setglobal(L, "xpcall");
    lua_pushcfunction(L, sandbox_collectgarbage);
    lua_setglobal(L, "collectgarbage");

    /* getmetatable("") would hand out the string table itself */
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1)) {
        lua_pushliteral(L, "string");
        lua_setfield(L, -2, "__metatable");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* ---- read-only views ---- */

/* upvalues of every metamethod: 1 the real table, 2 its name */
static int view_index(lua_State *L)
{
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    if (lua_type(L, -1) == LUA_TTABLE) {
        const char *parent = lua_tostring(L, lua_upvalueindex(2));
        const char *name = lua_type(L, 2) == LUA_TSTRING ? lua_pushfstring(L, "%s.%s", parent, lua_tostring(L, 2))
                                                         : lua_pushfstring(L, "%s[...]", parent);
        lua_sandbox_readonly(L, -2, name);
    }
    return 1;
}

static int view_newindex(lua_State *L)
{
    const char *name = lua_tostring(L, lua_upvalueindex(2));
    if (lua_type(L, 2) == LUA_TSTRING)
        return luaL_error(L, "%s is read-only (field '%s')", name, lua_tostring(L, 2));
    return luaL_error(L, "%s is read-only", name);
}

static int view_next(lua_State *L)
{
    lua_settop(L, 2);
    if (!lua_next(L, lua_upvalueindex(1)))
        return 0;
    if (lua_type(L, -1) == LUA_TTABLE) {
        const char *parent = lua_tostring(L, lua_upvalueindex(2));
        lua_sandbox_readonly(L, -1, parent);
        lua_replace(L, -2);
    }
    return 2;
}

static int view_pairs(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushcclosure(L, view_next, 2);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int view_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, lua_upvalueindex(1)));
    return 1;
}

void lua_sandbox_readonly(lua_State *L, int idx, const char *name)
{
    static const luaL_Reg meta[] = {
        {"__index", view_index}, {"__newindex", view_newindex}, {"__pairs", view_pairs},
        {"__len", view_len}, {NULL, NULL},
    };
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE) {
        lua_pushvalue(L, idx);
        return;
    }
    if (luaL_getsubtable(L, LUA_REGISTRYINDEX, REG_VIEWS) == 0) {
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k"); /* a view lives as long as its table */
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
    }
    lua_pushvalue(L, idx);
    if (lua_rawget(L, -2) == LUA_TTABLE) {
        lua_remove(L, -2);
        return;
    }
    lua_pop(L, 1);
    lua_newtable(L);                  /* views, view */
    lua_createtable(L, 0, 6);         /* views, view, mt */
    lua_pushvalue(L, idx);
    lua_pushstring(L, name);
    luaL_setfuncs(L, meta, 2);
    lua_pushliteral(L, "read-only");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);          /* views, view */
    lua_pushvalue(L, idx);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);                /* views[t] = view */
    lua_remove(L, -2);
}

/* require(name) for rule code: the module as a read-only view. */
static int env_require(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    lua_sandbox_readonly(L, -1, name);
    return 1;
}

void lua_sandbox_push_env(lua_State *L)
{
    lua_newtable(L); /* env */
    lua_createtable(L, 0, 2);
    if (lua_getfield(L, LUA_REGISTRYINDEX, REG_GLOBALS) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_pushglobaltable(L);
        lua_sandbox_readonly(L, -1, "_G");
        lua_remove(L, -2);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, REG_GLOBALS);
    }
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "rule environment");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "_G");
    lua_getglobal(L, "require");
    lua_pushcclosure(L, env_require, 1);
    lua_setfield(L, -2, "require");
}
