/*
 * lua_core.c - the enroller.core module: the few helpers rules need
 * from C.
 *
 *     local core = require("enroller.core")
 *     core.log("warn", "no address for " .. tostring(c))
 *     local suffix = core.hash(c.id)          -- "9f86d081"
 *     local c = core.container_from_inspect(json)   -- in specs
 *     local t, err = core.json_decode('{"redirect": ["localhost"]}')
 *     local at = core.control_char("a\tb")   -- 2
 *
 * and the checks enroller.schema runs on every resource (lua_schema.c).
 */
#include "lua/lua_core.h"
#include "base/hash.h"

#include <ctype.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>

#include "base/log.h"
#include "lua/lua_container.h"
#include "lua/lua_runtime.h"
#include "lua/lua_schema.h"

static int core_log(lua_State *L);
static int core_hash(lua_State *L);
static int core_json_decode(lua_State *L);
static int core_control_char(lua_State *L);
static int core_dns_name(lua_State *L);

static const luaL_Reg core_funcs[] = {
    {"log", core_log},
    {"hash", core_hash},
    {"json_decode", core_json_decode},
    {"control_char", core_control_char},
    {"dns_name", core_dns_name},
    {"container_from_inspect", lua_container_from_inspect},
    {NULL, NULL},
};

uint32_t lua_core_fnv1a(const char *s, size_t len)
{
    return hash_fnv32(HASH_FNV32_INIT, s, len);
}

/*** @function core.log(level, msg)
 * @param {string} level "debug", "info", "warn" or "error" (raises otherwise)
 * @param {string} msg one line; the calling rule's file:line is prepended
 */
static int core_log(lua_State *L)
{
    static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
    int level = luaL_checkoption(L, 1, NULL, levels);
    const char *msg = luaL_checkstring(L, 2);

    luaL_where(L, 1);
    log_msg((enum log_level)level, LOG_RULES, "%s%s", lua_tostring(L, -1), msg);
    return 0;
}

/*** @function core.hash(str)
 * @param {string} str any bytes
 * @return {string} 8 lower-case hex digits of the string's 32-bit FNV-1a
 */
static int core_hash(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char hex[9];
    static const char digits[] = "0123456789abcdef";
    uint32_t h = lua_core_fnv1a(s, len);

    for (int i = 7; i >= 0; i--, h >>= 4)
        hex[i] = digits[h & 0xf];
    lua_pushlstring(L, hex, 8);
    return 1;
}

/*** @function core.control_char(str)
 * @param {string} str any bytes
 * @return {integer|nil} the position of the first control character (a byte
 * below 0x20, or 0x7f: what Lua's %c matches in the C locale), or nil
 * Every string a rule hands to Teleport is scanned: a loop here costs a
 * tenth of string.find(s, "[%z\1-\31\127]").
 */
static int core_control_char(lua_State *L)
{
    size_t len;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);

    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] == 0x7f) {
            lua_pushinteger(L, (lua_Integer)i + 1);
            return 1;
        }
    lua_pushnil(L);
    return 1;
}

#define DNS_NAME_MAX 63
#define DNS_NAME_HASH_LEN 8

/*** @function core.dns_name(...)
 * @param {string|number} ... parts, joined with '-'
 * @return {string} util.dns_name's label (see lua/enroller/util.lua); or nil and the joined parts when no letter or digit is left; or false, the argument's index and its type for a part that is not a string or number
 */
static int core_dns_name(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    size_t jlen, m = 0, k;
    int dash = 0;

    for (int i = 1; i <= n; i++) {
        int t = lua_type(L, i);
        if (t != LUA_TSTRING && t != LUA_TNUMBER) {
            lua_pushboolean(L, 0);
            lua_pushinteger(L, i);
            lua_pushstring(L, lua_typename(L, t));
            return 3;
        }
    }
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '-');
        luaL_tolstring(L, i, NULL); /* tostring(): numbers as Lua writes them */
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    const char *joined = lua_tolstring(L, -1, &jlen);
    lua_runtime_charge(L, jlen / 16 + 1, "util.dns_name");
    /* lower-case; every run outside [a-z0-9] one '-', none at either end;
     * written from out + 2 to leave room for "x-" */
    char *out = luaL_buffinitsize(L, &b, jlen + 2);
    for (size_t i = 0; i < jlen; i++) {
        char ch = (char)tolower((unsigned char)joined[i]);
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
            if (dash && m > 0)
                out[2 + m++] = '-';
            out[2 + m++] = ch;
            dash = 0;
        } else {
            dash = 1;
        }
    }
    if (m == 0) {
        luaL_pushresultsize(&b, 0);
        lua_pop(L, 1);
        luaL_pushfail(L);
        lua_pushvalue(L, -2);
        return 2;
    }
    if (out[2] >= '0' && out[2] <= '9') {
        out[0] = 'x';
        out[1] = '-';
        m += 2;
    } else {
        memmove(out, out + 2, m);
    }
    if (m > DNS_NAME_MAX) {
        /* cut, with the hash of the whole name: the same input, the same name */
        uint32_t h = lua_core_fnv1a(out, m);
        static const char digits[] = "0123456789abcdef";
        for (k = DNS_NAME_MAX - DNS_NAME_HASH_LEN - 1; k > 0 && out[k - 1] == '-'; k--)
            ;
        out[k++] = '-';
        for (int i = DNS_NAME_HASH_LEN - 1; i >= 0; i--, h >>= 4)
            out[k + (size_t)i] = digits[h & 0xf];
        m = k + DNS_NAME_HASH_LEN;
    }
    luaL_pushresultsize(&b, m);
    return 1;
}

#define JSON_MAX_DEPTH 32

/* Pushes v as Lua (null -> nil); raises on Lua memory errors only. */
static void push_json(lua_State *L, json_t *v, int depth)
{
    luaL_checkstack(L, 4, "json nesting");
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        lua_createtable(L, 0, (int)json_object_size(v));
        json_object_foreach(v, k, x) {
            push_json(L, x, depth + 1);
            lua_setfield(L, -2, k);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        lua_createtable(L, (int)json_array_size(v), 0);
        json_array_foreach(v, i, x) {
            push_json(L, x, depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(v));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(v));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    default:
        lua_pushnil(L);
        break;
    }
}

static int json_depth(json_t *v, int depth)
{
    const char *k;
    json_t *x;
    size_t i;
    int d = depth;

    if (json_is_object(v)) {
        json_object_foreach(v, k, x) {
            int e = json_depth(x, depth + 1);
            if (e > d)
                d = e;
            if (d > JSON_MAX_DEPTH)
                return d;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) {
            int e = json_depth(x, depth + 1);
            if (e > d)
                d = e;
            if (d > JSON_MAX_DEPTH)
                return d;
        }
    }
    return d;
}

/* Owns the decoded document so a Lua error while converting frees it. */
static int json_doc_gc(lua_State *L)
{
    json_t **p = lua_touserdata(L, 1);
    json_decref(*p);
    *p = NULL;
    return 0;
}

/*** @function core.json_decode(text)
 * @param {string} text one JSON value (objects, arrays, strings, numbers, booleans; null reads as nil)
 * @return {any} the value, or nil and "json: <line>:<column>: <what>" (returns, never raises, on bad text)
 */
static int core_json_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    json_error_t jerr;
    json_t **doc;

    doc = lua_newuserdatauv(L, sizeof(*doc), 0);
    *doc = NULL;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, json_doc_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    *doc = json_loadb(s, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (*doc == NULL) {
        luaL_pushfail(L);
        lua_pushfstring(L, "json: %d:%d: %s", jerr.line, jerr.column, jerr.text);
        return 2;
    }
    if (json_depth(*doc, 1) > JSON_MAX_DEPTH) {
        luaL_pushfail(L);
        lua_pushfstring(L, "json: nested deeper than %d", JSON_MAX_DEPTH);
        return 2;
    }
    push_json(L, *doc, 1);
    json_decref(*doc);
    *doc = NULL;
    return 1;
}

int luaopen_enroller_core(lua_State *L)
{
    luaL_newlib(L, core_funcs);
    lua_schema_register(L);
    lua_pushliteral(L, ENR_VERSION);
    lua_setfield(L, -2, "version");
    luaopen_enroller_container(L);
    lua_setfield(L, -3, "container");
    lua_pop(L, 1); /* the metatable luaopen_enroller_container left */
    return 1;
}
