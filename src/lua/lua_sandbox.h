/*
 * lua_sandbox.h - what rule code may do inside a sandboxed state
 * (lua_runtime.c builds the state and calls lua_sandbox_open).
 *
 *     lua_sandbox_push_env(L);          // a rule file's own _ENV
 *     lua_setupvalue(L, chunk, 1);
 *
 * - Library functions that do work proportional to their input (string.rep,
 *   find, match, gmatch, gsub, format, table.concat, move, sort, unpack, ...)
 *   charge that work to the instruction budget before they run
 *   (lua_runtime_charge), so a C function cannot run unbounded where the
 *   count hook does not see it.  A pattern is charged the number of steps
 *   Lua's backtracking matcher may take on that subject: (starts) x
 *   (subject length + 1) per variable-length item (`*`, `+`, `-`, `%b`, a
 *   back-reference) x 2 per `?`.
 * - xpcall's message handler is not called once a limit is hit (it would
 *   run inside the count hook, where hooks are off).
 * - setmetatable refuses a metatable with a __gc field: Lua runs finalizers
 *   with hooks off, so no budget could stop one.  collectgarbage offers
 *   "count" only.
 * - The string metatable is locked (getmetatable("") returns "string").
 * - A rule file's _ENV is its own table: it reads globals through a
 *   read-only view, `_G` is the env itself, and require() returns read-only
 *   views of the modules, so nothing a rule does changes what the library
 *   or another rule sees.
 */
#ifndef ENR_LUA_SANDBOX_H
#define ENR_LUA_SANDBOX_H

#include <lua.h>

/* Wraps the opened libraries in place; runs under pcall (allocates). */
void lua_sandbox_open(lua_State *L);

/* Pushes a read-only view of the table at idx (the same view for the same
 * table): reads, pairs, ipairs and # work, nested tables read as views
 * too, and any assignment raises "<name> is read-only (field 'k')".  A
 * value that is not a table is pushed as it is. */
void lua_sandbox_readonly(lua_State *L, int idx, const char *name);

/* Pushes a fresh _ENV for one rule file (see above). */
void lua_sandbox_push_env(lua_State *L);

#endif
