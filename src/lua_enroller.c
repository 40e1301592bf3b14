/*
 * lua_enroller.c - the enroller.core module: the few helpers rules need
 * from C.
 *
 *     local core = require("enroller.core")
 *     core.log("warn", "no address for " .. tostring(c))
 *     local suffix = core.hash(c.id)          -- "9f86d081"
 *     local c = core.container_from_inspect(json)   -- in specs
 */
#include "lua_enroller.h"

#include <lauxlib.h>

#include "log.h"
#include "lua_container.h"

static int core_log(lua_State *L);
static int core_hash(lua_State *L);

static const luaL_Reg core_funcs[] = {
    {"log", core_log},
    {"hash", core_hash},
    {"container_from_inspect", lua_container_from_inspect},
    {NULL, NULL},
};

uint32_t lua_enroller_fnv1a(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
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
    uint32_t h = lua_enroller_fnv1a(s, len);

    for (int i = 7; i >= 0; i--, h >>= 4)
        hex[i] = digits[h & 0xf];
    lua_pushlstring(L, hex, 8);
    return 1;
}

int luaopen_enroller_core(lua_State *L)
{
    luaL_newlib(L, core_funcs);
    lua_pushliteral(L, ENR_VERSION);
    lua_setfield(L, -2, "version");
    luaopen_enroller_container(L);
    lua_setfield(L, -3, "container");
    lua_pop(L, 1); /* the metatable luaopen_enroller_container left */
    return 1;
}
