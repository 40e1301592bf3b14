/*
 * lua_runtime.h - sandboxed Lua states for rules and the config file.
 *
 *     lua_State *L = lua_runtime_new(64 << 20, NULL, &err);
 *     if (lua_runtime_load_file(L, "/etc/enroller/rules/x.lua", "rules/x.lua", &err) < 0 ||
 *         lua_runtime_pcall(L, 0, 1, &err) < 0)
 *         log_error(LOG_RULES, "%s", err.msg);   // "rules/x.lua:12: ..."
 *     lua_runtime_free(L);
 *
 * A state opens only base (no dofile/loadfile, load() text-only, print()
 * goes to the log), string (no dump), table, math and utf8, plus a package
 * library whose only searchers are package.preload and a Lua-file searcher
 * over one directory (the project's lua/).  No io, no os, no C modules.
 * Memory is capped by the allocator; an instruction budget can be armed
 * around each call into rule code.
 */
#ifndef ENR_LUA_RUNTIME_H
#define ENR_LUA_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "base/error.h"

/* The rule library's dir (lua/ in the source): $ENROLLER_LUA_PATH if set;
 * else, next to the running program, the installed layout's
 * <bindir>/ENR_LUA_RELDIR ("../share/enroller/lua": it follows the install
 * prefix), else <dir of the program>/lua (the build tree links it to the
 * source's lua/).  No absolute path is compiled in. */
const char *lua_runtime_default_dir(void);

/* A new sandboxed state whose allocator refuses to go past mem_cap bytes
 * (0: 64 MiB).  lua_dir NULL means lua_runtime_default_dir().  enroller.core
 * is in package.preload.  Returns NULL and fills err on failure. */
lua_State *lua_runtime_new(size_t mem_cap, const char *lua_dir, struct enr_error *err);
/* lua_close plus the allocator's bookkeeping; NULL is a no-op. */
void lua_runtime_free(lua_State *L);

/* Bytes currently allocated by the state. */
size_t lua_runtime_mem_used(lua_State *L);

/* The largest rule or config file read. */
#define LUA_RUNTIME_MAX_FILE (1 << 20)

/* Reads a regular file of at most LUA_RUNTIME_MAX_FILE bytes into *out (NUL
 * added; the caller frees it).  A directory, FIFO or device is refused at
 * once: "<name>: not a regular file". */
int lua_runtime_read_file(const char *path, const char *name, char **out, size_t *len, struct enr_error *err);

/* Loads a text chunk from path, named "@<name>" (name NULL: path), and
 * pushes it.  0 or a negative code with err = "<name>:<line>: ...". */
int lua_runtime_load_file(lua_State *L, const char *path, const char *name, struct enr_error *err);

/* lua_pcall with a traceback message handler (lua.c docall).  On error the
 * first line of the message goes into err, the whole traceback is logged at
 * debug level, the stack is left as before the function and its arguments,
 * and the result is ENR_ERULE (-ENOMEM for a memory-cap failure). */
int lua_runtime_pcall(lua_State *L, int nargs, int nres, struct enr_error *err);

/* Arms (instructions > 0) or disarms (0) the limits of one call into Lua
 * code: a count hook that raises "<src>:<line>: <what> exceeded instruction
 * budget" once the running code has executed that many VM instructions
 * (library functions charge their work to the same count, see
 * lua_sandbox.h), "<what> exceeded its time limit of N ms of CPU" once the
 * call has used that much CPU time (the thread's CPU clock, read every
 * 16,000 instructions and every MiB allocated), and "<what> interrupted: enroller
 * is stopping" after a watched signal.  Once raised, the error is raised
 * again at every instruction until the call returns, so pcall, xpcall or
 * error handlers cannot swallow it.  Re-arming resets the count and the
 * clock; call it with 0 after lua_runtime_pcall returns. */
void lua_runtime_set_budget(lua_State *L, uint64_t instructions, const char *what);

/* The CPU-time limit armed by the next lua_runtime_set_budget (0, the
 * default of a new state: none). */
void lua_runtime_set_time_limit(lua_State *L, unsigned ms);

/* For library functions written in C: adds units of work (about one VM
 * instruction each) to the armed budget and raises, like the hook, when
 * the budget, the time limit or an interruption is hit.  why names the
 * work in the message ("string.rep").  A no-op while no budget is armed,
 * and in a state lua_runtime_new did not make (enroller-lua). */
void lua_runtime_charge(lua_State *L, uint64_t units, const char *why);
/* What is left of the armed budget (UINT64_MAX when none is armed). */
uint64_t lua_runtime_budget_left(lua_State *L);

/* After lua_runtime_pcall failed and before the budget is disarmed: 0 if
 * no limit was hit, LUA_RUNTIME_LIMIT for the budget or the time limit,
 * LUA_RUNTIME_INTERRUPTED for a watched signal. */
#define LUA_RUNTIME_LIMIT 1
#define LUA_RUNTIME_INTERRUPTED 2
int lua_runtime_tripped(lua_State *L);

/* Makes signo (SIGTERM, SIGINT) stop every call into Lua code at its next
 * hook event, before the handler installed earlier (libuv's) runs: call
 * it after that handler is installed.  The interruption stays set. */
int lua_runtime_watch_signal(int signo);
void lua_runtime_set_interrupted(int on);
int lua_runtime_interrupted(void);

/* While name is not NULL, records the last line executed in the chunk
 * named "@<name>" (a line hook, used only while a rule file loads; a
 * budget armed afterwards keeps it).  NULL stops it.  lua_runtime_last_line
 * returns that line, 0 when none ran. */
void lua_runtime_track_lines(lua_State *L, const char *name);
int lua_runtime_last_line(lua_State *L);

#endif
