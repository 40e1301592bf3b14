/*
 * lua_schema.h - the checks enroller.schema (lua/enroller/schema.lua) runs
 * on every resource a rule returns, in C: enroller.core.is_dns_label,
 * check_uri, text_check, check_label_key and record_passes.
 */
#ifndef ENR_LUA_SCHEMA_H
#define ENR_LUA_SCHEMA_H

#include <lua.h>

/* Adds the functions to the table on top of the stack. */
void lua_schema_register(lua_State *L);

#endif
