/*
 * lua_core.h - the enroller.core module (log, version, hash,
 * container_from_inspect) that rules and specs require.
 */
#ifndef ENR_LUA_CORE_H
#define ENR_LUA_CORE_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

/* 32-bit FNV-1a; lua/enroller/util.lua computes the same in Lua. */
uint32_t lua_core_fnv1a(const char *s, size_t len);

/* require("enroller.core"); lua_runtime_new() puts it in package.preload. */
int luaopen_enroller_core(lua_State *L);

#endif
