/*
 * lua_container.h - the enroller.container userdata class: a read-only view
 * of one struct container for rules.  See lua_container.c for the fields.
 */
#ifndef ENR_LUA_CONTAINER_H
#define ENR_LUA_CONTAINER_H

#include <lua.h>

#include "model/container.h"

#define LUA_CONTAINER_MT "enroller.container"

/* Pushes a view of c, which the caller keeps alive until it calls
 * lua_container_invalidate() on the pushed value.  May raise (ENOMEM). */
void lua_container_push(lua_State *L, const struct container *c);
/* Detaches the view at idx from its container: later use in Lua raises
 * instead of reading freed memory (a rule may keep the value in an upvalue). */
void lua_container_invalidate(lua_State *L, int idx);
/* enroller.core.container_from_inspect(json) -> container | nil, msg.
 * The userdata owns the parsed snapshot. */
int lua_container_from_inspect(lua_State *L);
/* Registers the metatable; returns 1 (the methods table). */
int luaopen_enroller_container(lua_State *L);

#endif
