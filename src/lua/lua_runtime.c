/*
 * lua_runtime.c - see lua_runtime.h.
 *
 * The sandbox is built by opening a few standard libraries one by one
 * (never luaL_openlibs) and then removing what could reach the file system
 * or load binary code.  Anchors: lua.c msghandler/docall, haproxy's count
 * hook; the message handler is lua.c's msghandler/docall.
 */
#include "lua/lua_runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <uv.h>
#include <lualib.h>

#include "base/log.h"
#include "lua/lua_core.h"
#include "lua/lua_sandbox.h"

#define DEFAULT_MEM_CAP ((size_t)64 << 20)



/* Allocator bookkeeping and the budget of the call in progress; reachable
 * from hooks and wrappers through lua_getallocf. */
struct runtime {
    size_t used;
    size_t cap;
    const char *budget_what;
    int budget_armed;
    uint64_t budget;     /* instructions (and charged units) allowed */
    uint64_t spent;      /* counted so far in this call */
    uint64_t deadline;   /* thread CPU ns; 0: no time limit; DEADLINE_UNREAD: not yet read */
    unsigned time_ms;    /* the CPU time limit; 0: none */
    size_t alloc_since;  /* bytes allocated since the clock was last read */
    unsigned hooks_since; /* count events since the clock was last read */
    int tripped;         /* a limit was hit: every later event raises again */
    char trip_msg[320];
    int track_lines;     /* also record the last line run in track_src */
    char track_src[256]; /* "@rules/x.lua" */
    int last_line;
};

#ifndef ENR_LUA_RELDIR
#define ENR_LUA_RELDIR "../share/enroller/lua"
#endif

/* Set from a signal handler (lua_runtime_watch_signal): every call into
 * Lua code in any state stops at its next hook event. */
static volatile sig_atomic_t interrupted;

/* Instructions between two count-hook events while a budget is armed.
 * Small enough that a deadline or SIGTERM is seen within microseconds,
 * large enough that the hook costs nothing measurable. */
#define HOOK_STEP 1000
/* deadline while a time limit applies and the clock is not read yet: the
 * first clock check reads it and sets the deadline. */
#define DEADLINE_UNREAD UINT64_MAX
/* Count events between two reads of the clock (a system call). */
#define HOOKS_PER_CLOCK 16
/* Bytes allocated between two reads of the clock by the allocator. */
#define ALLOC_CHECK_BYTES ((size_t)1 << 20)
/* After a trip, allocations larger than this fail so a C function that is
 * building a large result gives up; smaller ones still let the error
 * message be made. */
#define TRIPPED_ALLOC_MAX 4096

/* The calling thread's CPU time: what a rule call costs whatever else the
 * machine runs (a wall-clock limit would fail good rules on a loaded
 * machine; interruption by a signal needs no clock at all). */
static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *lua_runtime_default_dir(void)
{
    static char dir[4096 + 256];
    const char *env = getenv("ENROLLER_LUA_PATH");
    char exe[4096], *slash, build[4096 + 8];
    size_t n = sizeof(exe);
    struct stat st;

    if (env != NULL && env[0] != '\0')
        return env;
    if (dir[0] != '\0')
        return dir;
    if (uv_exepath(exe, &n) != 0 || (slash = strrchr(exe, '/')) == NULL)
        snprintf(exe, sizeof(exe), ".");
    else
        *slash = '\0';
    snprintf(dir, sizeof(dir), "%s/%s", exe, ENR_LUA_RELDIR);
    snprintf(build, sizeof(build), "%s/lua", exe);
    if (stat(dir, &st) != 0 && stat(build, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(dir, sizeof(dir), "%s", build);
    return dir;
}

static void trip(struct runtime *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the first limit hit in this call; later events raise it again. */
static void trip(struct runtime *rt, const char *fmt, ...)
{
    if (!rt->tripped) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rt->trip_msg, sizeof(rt->trip_msg), fmt, ap);
        va_end(ap);
        rt->tripped = LUA_RUNTIME_LIMIT;
    }
}

/* "src:line: " of the Lua function at level (0: running, 1: its caller
 * when a C function runs), or "". */
static const char *where(lua_State *L, int level, char *buf, size_t size)
{
    lua_Debug ar;
    buf[0] = '\0';
    if (lua_getstack(L, level, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0)
        snprintf(buf, size, "%s:%d: ", ar.short_src, ar.currentline);
    return buf;
}

/* The limits that need no Lua stack: interruption and the time limit.
 * A message names the Lua function at level of L (as where() does; L NULL:
 * no position), formatted only when a limit was hit.  Returns 1 then. */
static int over_time(struct runtime *rt, lua_State *L, int level)
{
    int stopping = interrupted;
    char at[300];

    if (!stopping)
        rt->hooks_since = 0;
    if (!stopping && rt->deadline == DEADLINE_UNREAD) {
        /* The clock is read first here, not when the call starts: most
         * calls end within HOOKS_PER_CLOCK count events and never make
         * the system call.  The limit starts at most that many
         * instructions late. */
        rt->deadline = now_ns() + (uint64_t)rt->time_ms * 1000000u;
        return 0;
    }
    if (!stopping && (rt->deadline == 0 || now_ns() <= rt->deadline))
        return 0;
    /* A limit was hit: one message, with the position first. */
    at[0] = '\0';
    if (L != NULL)
        where(L, level, at, sizeof(at));
    if (!stopping) {
        trip(rt, "%s%s exceeded its time limit of %u ms of CPU", at, rt->budget_what, rt->time_ms);
        return 1;
    }
    trip(rt, "%s%s interrupted: enroller is stopping", at, rt->budget_what);
    rt->tripped = LUA_RUNTIME_INTERRUPTED;
    return 1;
}

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct runtime *rt = ud;
    /* When ptr is NULL, osize encodes the object type, not a size. */
    size_t old = ptr != NULL ? osize : 0;

    if (nsize == 0) {
        free(ptr);
        rt->used -= old;
        return NULL;
    }
    if (nsize > old && nsize - old > rt->cap - rt->used)
        return NULL; /* Lua raises LUA_ERRMEM after an emergency collection */
    if (nsize > old && rt->budget_armed) {
        /* A C function copying large strings runs no VM instruction, so
         * the hook would not see the clock: the allocator does. */
        if (rt->tripped && nsize - old > TRIPPED_ALLOC_MAX)
            return NULL;
        rt->alloc_since += nsize - old;
        if (rt->alloc_since > ALLOC_CHECK_BYTES) {
            rt->alloc_since = 0;
            if (over_time(rt, NULL, 0))
                return NULL;
        }
    }
    void *p = realloc(ptr, nsize);
    if (p != NULL)
        rt->used = rt->used - old + nsize;
    return p;
}

static struct runtime *runtime_of(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

/* print(...) in a rule: one info line in the daemon log, never stdout. */
static int sandbox_print(lua_State *L)
{
    luaL_Buffer b;
    int n = lua_gettop(L);

    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    log_info(LOG_RULES, "%s", lua_tostring(L, -1));
    return 0;
}

/* load(chunk, name, mode, env) with mode forced to "t": no binary chunks. */
static int sandbox_load(lua_State *L)
{
    lua_settop(L, 4);
    lua_pushliteral(L, "t");
    lua_replace(L, 3);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 4, LUA_MULTRET);
    return lua_gettop(L);
}

/* package.searchers[2]: modules are Lua files under one directory only. */
static int sandbox_searcher(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const char *dir = lua_tostring(L, lua_upvalueindex(1));

    if (strstr(name, "..") != NULL || strchr(name, '/') != NULL || name[0] == '.') {
        lua_pushfstring(L, "no module '%s' outside %s", name, dir);
        return 1;
    }
    const char *rel = luaL_gsub(L, name, ".", "/");
    const char *file = lua_pushfstring(L, "%s/%s.lua", dir, rel);
    int rc = luaL_loadfilex(L, file, "t");
    if (rc == LUA_ERRFILE) {
        lua_pop(L, 2);
        file = lua_pushfstring(L, "%s/%s/init.lua", dir, rel);
        rc = luaL_loadfilex(L, file, "t");
    }
    if (rc == LUA_OK) {
        lua_pushstring(L, file);
        return 2;
    }
    if (rc != LUA_ERRFILE)
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, file,
                          lua_tostring(L, -1));
    lua_pushfstring(L, "no file '%s/%s.lua'\n\tno file '%s/%s/init.lua'", dir, rel, dir, rel);
    return 1;
}

/* Opens one library as a global, like luaL_openlibs does for each. */
static void open_lib(lua_State *L, const char *name, lua_CFunction open)
{
    luaL_requiref(L, name, open, 1);
    lua_pop(L, 1);
}

static void set_nil(lua_State *L, int table, const char *field)
{
    table = lua_absindex(L, table);
    lua_pushnil(L);
    lua_setfield(L, table, field);
}

/* Builds the sandbox; runs under lua_pcall so allocation failures raise. */
static int setup(lua_State *L)
{
    const char *dir = lua_tostring(L, 1);

    open_lib(L, LUA_GNAME, luaopen_base);
    open_lib(L, LUA_STRLIBNAME, luaopen_string);
    open_lib(L, LUA_TABLIBNAME, luaopen_table);
    open_lib(L, LUA_MATHLIBNAME, luaopen_math);
    open_lib(L, LUA_UTF8LIBNAME, luaopen_utf8);
    open_lib(L, LUA_LOADLIBNAME, luaopen_package);

    lua_pushglobaltable(L);
    int g = lua_gettop(L);
    set_nil(L, g, "dofile");
    set_nil(L, g, "loadfile");
    lua_pushcfunction(L, sandbox_print);
    lua_setfield(L, g, "print");
    lua_getfield(L, g, "load");
    lua_pushcclosure(L, sandbox_load, 1);
    lua_setfield(L, g, "load");

    lua_getfield(L, g, LUA_STRLIBNAME);
    set_nil(L, -1, "dump");
    lua_pop(L, 1);

    lua_getfield(L, g, LUA_LOADLIBNAME);
    int pkg = lua_gettop(L);
    set_nil(L, pkg, "loadlib");
    set_nil(L, pkg, "searchpath");
    lua_pushliteral(L, "");
    lua_setfield(L, pkg, "cpath");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", dir, dir);
    lua_setfield(L, pkg, "path"); /* informational: the searcher ignores it */
    lua_createtable(L, 2, 0);
    lua_getfield(L, pkg, "searchers");
    lua_rawgeti(L, -1, 1); /* the preload searcher */
    lua_rawseti(L, -3, 1);
    lua_pop(L, 1);
    lua_pushstring(L, dir);
    lua_pushcclosure(L, sandbox_searcher, 1);
    lua_rawseti(L, -2, 2);
    lua_setfield(L, pkg, "searchers");

    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_enroller_core);
    lua_setfield(L, -2, "enroller.core");
    lua_pop(L, 1);
    lua_sandbox_open(L);
    return 0;
}

lua_State *lua_runtime_new(size_t mem_cap, const char *lua_dir, struct enr_error *err)
{
    struct runtime *rt = calloc(1, sizeof(*rt));
    lua_State *L = NULL;

    if (rt == NULL)
        goto nomem;
    rt->cap = mem_cap ? mem_cap : DEFAULT_MEM_CAP;
    rt->budget_what = "code";
    if ((L = lua_newstate(capped_alloc, rt)) == NULL)
        goto nomem;
    lua_pushcfunction(L, setup);
    lua_pushstring(L, lua_dir ? lua_dir : lua_runtime_default_dir());
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        err_set(err, -ENOMEM, "lua state setup: %s", lua_tostring(L, -1));
        lua_close(L);
        free(rt);
        return NULL;
    }
    return L;
nomem:
    free(rt);
    err_set(err, -ENOMEM, "lua state: out of memory");
    return NULL;
}

void lua_runtime_free(lua_State *L)
{
    if (L == NULL)
        return;
    struct runtime *rt = runtime_of(L);
    lua_close(L);
    free(rt);
}

size_t lua_runtime_mem_used(lua_State *L)
{
    return runtime_of(L)->used;
}

int lua_runtime_read_file(const char *path, const char *name, char **out, size_t *out_len, struct enr_error *err)
{
    /* Only a regular file of bounded size is read: a directory, a FIFO
     * (O_NONBLOCK: opening one never waits for a writer) or a device such as
     * /dev/zero behind a symlink is refused at once instead of blocking the
     * loop or eating memory. */
    const char *shown = name ? name : path;
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    int fd, rc;

    if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
        return err_set(err, -errno, "%s: %s", shown, strerror(errno));
    if (fstat(fd, &st) != 0) {
        rc = err_set(err, -errno, "%s: %s", shown, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = err_set(err, -EINVAL, "%s: not a regular file", shown);
        goto fail;
    }
    if (st.st_size > LUA_RUNTIME_MAX_FILE) {
        rc = err_set(err, -EFBIG, "%s: %lld bytes; a rule or config file may have at most %d", shown,
                     (long long)st.st_size, LUA_RUNTIME_MAX_FILE);
        goto fail;
    }
    /* +1: a file that grew since fstat is noticed, not read without bound. */
    if ((buf = malloc((size_t)st.st_size + 2)) == NULL) {
        rc = err_set(err, -ENOMEM, "%s: out of memory", shown);
        goto fail;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, (size_t)st.st_size + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = err_set(err, -errno, "%s: read: %s", shown, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > (size_t)st.st_size) {
            rc = err_set(err, -EAGAIN, "%s: changed while it was read", shown);
            goto fail;
        }
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
fail:
    free(buf);
    close(fd);
    return rc;
}

int lua_runtime_load_file(lua_State *L, const char *path, const char *name, struct enr_error *err)
{
    /* luaL_loadfilex names chunks after the path; read it ourselves to
     * choose the display name. */
    const char *shown = name ? name : path;
    char *buf = NULL;
    size_t len = 0;
    int rc;

    if ((rc = lua_runtime_read_file(path, name, &buf, &len, err)) < 0)
        return rc;
    /* skip a "#!" first line like lua.c, keeping line numbers */
    size_t skip = 0;
    if (len > 0 && buf[0] == '#') {
        while (skip < len && buf[skip] != '\n')
            skip++;
    }
    lua_pushfstring(L, "@%s", shown);
    rc = luaL_loadbufferx(L, buf + skip, len - skip, lua_tostring(L, -1), "t");
    lua_remove(L, -2);
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        size_t n = strlen(shown);
        /* syntax errors start with "<name>:<line>:"; a refused binary
         * chunk does not, so name the file for it */
        if (strncmp(msg, shown, n) == 0 && msg[n] == ':')
            rc = err_set(err, rc == LUA_ERRMEM ? -ENOMEM : ENR_ERULE, "%s", msg);
        else
            rc = err_set(err, rc == LUA_ERRMEM ? -ENOMEM : ENR_ERULE, "%s: %s", shown, msg);
        lua_pop(L, 1);
        goto out;
    }
    rc = 0;
out:
    free(buf);
    return rc;
}

/* lua.c's msghandler: a traceback under the message, tostring for objects. */
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

int lua_runtime_pcall(lua_State *L, int nargs, int nres, struct enr_error *err)
{
    int base = lua_gettop(L) - nargs;
    int rc;

    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    rc = lua_pcall(L, nargs, nres, base);
    lua_remove(L, base);
    struct runtime *rt = runtime_of(L);
    if (rc == LUA_OK && rt->tripped) {
        /* `return pcall(f)` returns straight from the C function, with no
         * instruction left to raise at: its results do not count */
        lua_settop(L, base - 1);
        return err_set(err, ENR_ERULE, "%s", rt->trip_msg);
    }
    if (rc == LUA_OK)
        return 0;
    if (rt->tripped) {
        /* Whatever the code made of it (pcall, error(table), a memory
         * error from a refused allocation), a limit was hit: say which. */
        lua_pop(L, 1);
        return err_set(err, ENR_ERULE, "%s", rt->trip_msg);
    }
    if (rc == LUA_ERRMEM) {
        /* no handler runs for memory errors, so there is no position */
        lua_pop(L, 1);
        return err_set(err, -ENOMEM, "memory limit of %zu bytes exceeded", runtime_of(L)->cap);
    }
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL)
        msg = "(error object is not a string)";
    /* the message proper may span lines (require's "no file" list); the
     * traceback the handler appended does not belong in err */
    const char *tb = strstr(msg, "\nstack traceback:");
    err_set(err, ENR_ERULE, "%.*s", tb ? (int)(tb - msg) : (int)strlen(msg), msg);
    log_debug(LOG_RULES, "%s", msg);
    lua_pop(L, 1);
    return ENR_ERULE;
}

/* One hook serves both jobs (a state has one hook): the limits (count
 * events) and, while a rule file loads, the last line run in that file
 * (line events), which names the `return rule {` line when rule{} raises
 * from a tail call that left no caller frame to blame.
 *
 * The hook cannot be switched off by the code it limits: once a limit is
 * hit it stays armed with a count of 1, so if pcall, xpcall or a message
 * handler catches the error, the next instruction raises it again, until
 * the call into rule code has unwound (lua_runtime_set_budget(L, 0) after
 * lua_runtime_pcall).  The message is the first trip's. */
static void runtime_hook(lua_State *L, lua_Debug *ar)
{
    struct runtime *rt = runtime_of(L);

    if (ar->event == LUA_HOOKLINE) {
        if (lua_getinfo(L, "S", ar) && strcmp(ar->source, rt->track_src) == 0)
            rt->last_line = ar->currentline;
        if (!rt->tripped)
            return;
    }
    if (!rt->budget_armed)
        return;
    if (!rt->tripped) {
        char at[300];
        if (ar->event == LUA_HOOKCOUNT)
            rt->spent += HOOK_STEP;
        if (rt->spent > rt->budget)
            trip(rt, "%s%s exceeded instruction budget", where(L, 0, at, sizeof(at)), rt->budget_what);
        else if (!interrupted && ++rt->hooks_since < HOOKS_PER_CLOCK)
            return;
        else if (!over_time(rt, L, 0))
            return;
        lua_sethook(L, runtime_hook, LUA_MASKCOUNT, 1);
    }
    lua_pushstring(L, rt->trip_msg);
    lua_error(L);
}

static void arm(lua_State *L, struct runtime *rt, uint64_t instructions)
{
    int mask = (instructions ? LUA_MASKCOUNT : 0) | (rt->track_lines ? LUA_MASKLINE : 0);
    rt->budget_armed = instructions != 0;
    rt->budget = instructions;
    rt->spent = 0;
    rt->tripped = 0;
    rt->trip_msg[0] = '\0';
    rt->alloc_since = 0;
    rt->hooks_since = 0;
    rt->deadline = instructions != 0 && rt->time_ms != 0 ? DEADLINE_UNREAD : 0;
    if (mask == 0) {
        lua_sethook(L, NULL, 0, 0);
        return;
    }
    lua_sethook(L, runtime_hook, mask,
                instructions == 0 ? 0 : instructions < HOOK_STEP ? (int)instructions : HOOK_STEP);
}

void lua_runtime_set_budget(lua_State *L, uint64_t instructions, const char *what)
{
    struct runtime *rt = runtime_of(L);
    rt->budget_what = what ? what : "code";
    arm(L, rt, instructions);
}

void lua_runtime_set_time_limit(lua_State *L, unsigned ms)
{
    runtime_of(L)->time_ms = ms;
}

void lua_runtime_charge(lua_State *L, uint64_t units, const char *why)
{
    void *ud = NULL;
    struct runtime *rt;
    char at[300];

    if (lua_getallocf(L, &ud) != capped_alloc)
        return; /* not a rule state (enroller-lua): nothing to charge */
    rt = ud;
    if (!rt->budget_armed)
        return;
    if (!rt->tripped) {
        rt->spent = units > UINT64_MAX - rt->spent ? UINT64_MAX : rt->spent + units;
        if (rt->spent > rt->budget)
            trip(rt, "%s%s exceeded instruction budget (%s)", where(L, 1, at, sizeof(at)), rt->budget_what,
                 why);
        else if (!interrupted && units < HOOK_STEP && ++rt->hooks_since < HOOKS_PER_CLOCK)
            return;
        else if (!over_time(rt, L, 1))
            return;
        lua_sethook(L, runtime_hook, LUA_MASKCOUNT, 1);
    }
    lua_pushstring(L, rt->trip_msg);
    lua_error(L);
}

uint64_t lua_runtime_budget_left(lua_State *L)
{
    struct runtime *rt = runtime_of(L);
    if (!rt->budget_armed)
        return UINT64_MAX;
    return rt->spent >= rt->budget ? 0 : rt->budget - rt->spent;
}

/* The handler each watched signal had before, called after ours. */
static struct sigaction prev_action[NSIG];

static void on_stop_signal(int signo, siginfo_t *info, void *uctx)
{
    const struct sigaction *p = &prev_action[signo];

    interrupted = 1;
    if (p->sa_flags & SA_SIGINFO) {
        if (p->sa_sigaction != NULL)
            p->sa_sigaction(signo, info, uctx);
    } else if (p->sa_handler == SIG_DFL) {
        signal(signo, SIG_DFL);
        raise(signo);
    } else if (p->sa_handler != SIG_IGN) {
        p->sa_handler(signo);
    }
}

int lua_runtime_watch_signal(int signo)
{
    struct sigaction sa, old;

    if (signo <= 0 || signo >= NSIG || sigaction(signo, NULL, &old) != 0)
        return -EINVAL;
    if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == on_stop_signal)
        return 0;
    prev_action[signo] = old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_stop_signal;
    sa.sa_mask = old.sa_mask;
    sa.sa_flags = SA_SIGINFO | (old.sa_flags & SA_RESTART);
    return sigaction(signo, &sa, NULL) == 0 ? 0 : -errno;
}

int lua_runtime_tripped(lua_State *L)
{
    return runtime_of(L)->tripped;
}

void lua_runtime_set_interrupted(int on)
{
    interrupted = on ? 1 : 0;
}

int lua_runtime_interrupted(void)
{
    return interrupted != 0;
}

void lua_runtime_track_lines(lua_State *L, const char *name)
{
    struct runtime *rt = runtime_of(L);
    rt->last_line = 0;
    rt->track_lines = name != NULL;
    if (name != NULL)
        snprintf(rt->track_src, sizeof(rt->track_src), "@%s", name);
    else
        rt->track_src[0] = '\0';
    arm(L, rt, 0);
}

int lua_runtime_last_line(lua_State *L)
{
    return runtime_of(L)->last_line;
}
