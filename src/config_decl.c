/*
 * config_decl.c - see config_decl.h.
 *
 * The file runs in a fresh sandboxed state (lua_runtime.c) as a chunk whose
 * _ENV is a closed table: reads resolve only to the declaration functions
 * and helpers below, anything else raises "config.lua:N: unknown setting
 * 'x'" (knot's sandbox, strict).  Each declaration validates its table on
 * the call, so luaL_error blames the declaring line.  Values go straight
 * into the struct enr_config being built, which config_load frees on any
 * error, so a raise never leaks.
 *
 * Helpers: sec(n), minute(n) (durations are seconds; strings "250ms",
 * "30s", "5m", "1h" work too) and env("NAME", default).
 *
 * The words of mode and reconcile.policy are here too (config.h declares
 * them): what reads them owns them, and config.c needs only
 * config_decl_run.
 */
#include "config_decl.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>

#include "base/log.h"
#include "docker/docker_client.h"
#include "lua/lua_runtime.h"
#include "ops/ops_http.h"

#define CONFIG_MEM_CAP ((size_t)16 << 20)
#define CONFIG_INSTRUCTIONS 50000000ULL

enum ftype { F_STR, F_PATH, F_DIR, F_ADDR, F_SECONDS, F_MILLIS, F_LEVEL, F_BOOL, F_COUNT, F_SECONDS0,
             F_POLICY, F_PERCENT, F_LISTEN, F_DOCKER_HOST, F_LOGFMT };

struct field {
    const char *name;
    enum ftype type;
    size_t offset; /* into struct enr_config: char *, unsigned, enum config_policy (F_POLICY)
                      or int (F_BOOL, F_COUNT, F_SECONDS0, F_PERCENT: -1 until set) */
};

struct decl {
    const char *name;
    const struct field *fields;
};

static const struct field docker_fields[] = {
    {"host", F_DOCKER_HOST, offsetof(struct enr_config, docker_host)},
    {"cert_path", F_PATH, offsetof(struct enr_config, docker_cert_path)},
    {NULL, 0, 0},
};
static const struct field teleport_fields[] = {
    {"addr", F_ADDR, offsetof(struct enr_config, teleport_addr)},
    {"identity", F_PATH, offsetof(struct enr_config, identity_file)},
    {"tbot_dir", F_DIR, offsetof(struct enr_config, tbot_dir)},
    {"cluster", F_STR, offsetof(struct enr_config, teleport_cluster)},
    {"proxy", F_BOOL, offsetof(struct enr_config, teleport_proxy)},
    {"server_name", F_STR, offsetof(struct enr_config, server_name)},
    {"call_timeout", F_MILLIS, offsetof(struct enr_config, call_timeout_ms)},
    {NULL, 0, 0},
};
static const struct field rules_fields[] = {
    {"dir", F_DIR, offsetof(struct enr_config, rules_dir)},
    {NULL, 0, 0},
};
static const struct field reconcile_fields[] = {
    {"resync", F_SECONDS, offsetof(struct enr_config, resync_sec)},
    {"events", F_BOOL, offsetof(struct enr_config, events)},
    {"policy", F_POLICY, offsetof(struct enr_config, policy)},
    {"grace", F_SECONDS0, offsetof(struct enr_config, grace_sec)},
    {"max_deletes", F_COUNT, offsetof(struct enr_config, max_deletes)},
    {"max_delete_percent", F_PERCENT, offsetof(struct enr_config, max_delete_percent)},
    {"window", F_SECONDS0, offsetof(struct enr_config, delete_window_sec)},
    {"adopt", F_BOOL, offsetof(struct enr_config, adopt)},
    {"lease", F_SECONDS0, offsetof(struct enr_config, lease_sec)},
    {"confirm", F_SECONDS0, offsetof(struct enr_config, confirm_sec)},
    {"write_rate", F_COUNT, offsetof(struct enr_config, write_rate)},
    {"write_burst", F_COUNT, offsetof(struct enr_config, write_burst)},
    {NULL, 0, 0},
};
static const struct field http_fields[] = {
    {"listen", F_LISTEN, offsetof(struct enr_config, http_listen)},
    {NULL, 0, 0},
};
static const struct field agent_fields[] = {
    {"registration", F_STR, offsetof(struct enr_config, agent_registration)},
    {"image", F_STR, offsetof(struct enr_config, agent_image)},
    {"version", F_STR, offsetof(struct enr_config, agent_version)},
    {"addr", F_ADDR, offsetof(struct enr_config, agent_addr)},
    {"token_ttl", F_SECONDS, offsetof(struct enr_config, agent_token_ttl)},
    {"join_timeout", F_SECONDS, offsetof(struct enr_config, agent_join_timeout)},
    {NULL, 0, 0},
};
static const struct field log_fields[] = {
    {"level", F_LEVEL, offsetof(struct enr_config, log_level)},
    {"format", F_LOGFMT, offsetof(struct enr_config, log_format)},
    {NULL, 0, 0},
};

static const struct decl decls[] = {
    {"docker", docker_fields},
    {"teleport", teleport_fields},
    {"rules", rules_fields},
    {"reconcile", reconcile_fields},
    {"log", log_fields},
    {"http", http_fields},
    {"agent", agent_fields},
};
#define N_DECLS (sizeof(decls) / sizeof(decls[0]))

/* What the declaration closures share (a light userdata upvalue). */
struct load_ctx {
    struct enr_config *cfg;
    const char *dir;          /* the config file's directory, absolute */
    bool declared[N_DECLS + 2]; /* + owner, mode */
};

#define DECL_OWNER N_DECLS
#define DECL_MODE (N_DECLS + 1)

/* The words of the enums, indexed by value. */
static const char *const mode_names[] = {
    [CONFIG_MODE_DYNAMIC] = "dynamic",
    [CONFIG_MODE_DRY_RUN] = "dry-run",
};
static const char *const policy_names[] = {
    [CONFIG_POLICY_SYNC] = "sync",
    [CONFIG_POLICY_UPSERT_ONLY] = "upsert-only",
    [CONFIG_POLICY_CREATE_ONLY] = "create-only",
};
#define N_NAMES(names) (sizeof(names) / sizeof(names[0]))

const char *config_mode_name(enum config_mode mode)
{
    return (size_t)mode < N_NAMES(mode_names) ? mode_names[mode] : NULL;
}

const char *config_policy_name(enum config_policy policy)
{
    return (size_t)policy < N_NAMES(policy_names) ? policy_names[policy] : NULL;
}

/* The words of an enum, by value (config_mode_name, config_policy_name);
 * NULL past the last. */
static const char *mode_word(int value)
{
    return config_mode_name((enum config_mode)value);
}

static const char *policy_word(int value)
{
    return config_policy_name((enum config_policy)value);
}

/* The value whose word is s, or -1. */
static int word_value(const char *(*word)(int), const char *s)
{
    const char *w;
    for (int i = 0; (w = word(i)) != NULL; i++)
        if (strcmp(w, s) == 0)
            return i;
    return -1;
}

/* Pushes "a, b, c" (the allowed words, for messages). */
static const char *push_words(lua_State *L, const char *(*word)(int))
{
    luaL_Buffer b;
    const char *w;

    luaL_buffinit(L, &b);
    for (int i = 0; (w = word(i)) != NULL; i++) {
        if (i > 0)
            luaL_addstring(&b, ", ");
        luaL_addstring(&b, w);
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

static struct load_ctx *ctx_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

/* Replaces a char * field of cfg with a copy of s; raises on ENOMEM (the
 * old value stays owned by cfg, so nothing leaks). */
static void set_str(lua_State *L, char **field, const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL)
        luaL_error(L, "out of memory");
    free(*field);
    *field = copy;
}

static void mark_declared(lua_State *L, struct load_ctx *ctx, size_t which, const char *name)
{
    if (ctx->declared[which])
        luaL_error(L, "%s: already declared", name);
    ctx->declared[which] = true;
}

/* Pushes dir/rel unless rel is absolute. */
static const char *push_resolved(lua_State *L, const char *dir, const char *rel)
{
    if (rel[0] == '/')
        return lua_pushstring(L, rel);
    return lua_pushfstring(L, "%s/%s", dir, rel);
}

/* Seconds from a number or "250ms"/"30s"/"5m"/"1h"; < 0 when invalid. */
/* Seconds, or -1 when not a duration; 0 only where zero_ok (a duration
 * whose 0 means "off": grace, lease, confirm). */
static double duration_of(lua_State *L, int idx, bool zero_ok)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double v = lua_tonumber(L, idx);
        return isfinite(v) && (v > 0 || (zero_ok && v == 0)) ? v : -1;
    }
    const char *s = lua_tostring(L, idx);
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0 || (v == 0 && !zero_ok))
        return -1;
    if (strcmp(end, "ms") == 0)
        return v / 1000.0;
    if (strcmp(end, "s") == 0)
        return v;
    if (strcmp(end, "m") == 0)
        return v * 60.0;
    if (strcmp(end, "h") == 0)
        return v * 3600.0;
    return -1;
}

static bool valid_addr(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s || colon[1] == '\0')
        return false;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    return *end == '\0' && port >= 1 && port <= 65535;
}

/* Validates and stores one field whose value is at the top of the stack. */
static void set_field(lua_State *L, struct load_ctx *ctx, const char *decl, const struct field *f)
{
    char *base = (char *)ctx->cfg;
    int t = lua_type(L, -1);
    bool duration = f->type == F_SECONDS || f->type == F_MILLIS || f->type == F_SECONDS0;
    bool number = f->type == F_COUNT || f->type == F_PERCENT;

    if (f->type == F_BOOL) {
        if (t != LUA_TBOOLEAN)
            luaL_error(L, "%s.%s: expected boolean, got %s", decl, f->name, lua_typename(L, t));
        *(int *)(base + f->offset) = lua_toboolean(L, -1);
        return;
    }
    if (number) {
        lua_Integer n;
        int isint;
        if (t != LUA_TNUMBER)
            luaL_error(L, "%s.%s: expected a whole number, got %s", decl, f->name, lua_typename(L, t));
        n = lua_tointegerx(L, -1, &isint);
        if (!isint || n < 0 || n > (f->type == F_PERCENT ? 100 : 1000000))
            luaL_error(L, "%s.%s: expected a whole number from 0 to %d", decl, f->name,
                       f->type == F_PERCENT ? 100 : 1000000);
        *(int *)(base + f->offset) = (int)n;
        return;
    }
    if (f->type == F_SECONDS0) {
        double sec;
        if (t != LUA_TNUMBER && t != LUA_TSTRING)
            luaL_error(L, "%s.%s: expected a duration, got %s", decl, f->name, lua_typename(L, t));
        sec = duration_of(L, -1, true);
        if (sec < 0 || sec > 86400.0 * 365)
            luaL_error(L, "%s.%s: expected a duration from 0 to a year (seconds, or \"30s\", "
                          "\"5m\"), got %s", decl, f->name, luaL_tolstring(L, -1, NULL));
        *(int *)(base + f->offset) = (int)llround(sec);
        return;
    }
    if (duration ? (t != LUA_TNUMBER && t != LUA_TSTRING) : t != LUA_TSTRING)
        luaL_error(L, "%s.%s: expected %s, got %s", decl, f->name,
                   duration ? "a duration" : "string", lua_typename(L, t));
    /* not for numbers: lua_tostring would turn the value into a string */
    const char *s = t == LUA_TSTRING ? lua_tostring(L, -1) : "";
    switch (f->type) {
    case F_STR:
        if (s[0] == '\0')
            luaL_error(L, "%s.%s: must not be empty", decl, f->name);
        set_str(L, (char **)(base + f->offset), s);
        break;
    case F_DOCKER_HOST: {
        struct enr_error herr = {0};
        if (s[0] == '\0')
            luaL_error(L, "%s.%s: must not be empty", decl, f->name);
        if (docker_client_check_host(s, &herr) < 0)
            luaL_error(L, "%s.%s: %s", decl, f->name, herr.msg);
        set_str(L, (char **)(base + f->offset), s);
        break;
    }
    case F_LISTEN: {
        struct sockaddr_storage ss;
        socklen_t len;
        struct enr_error perr = {0};
        if (ops_http_parse_listen(s, &ss, &len, &perr) < 0)
            luaL_error(L, "%s.%s: %s", decl, f->name, perr.msg);
        set_str(L, (char **)(base + f->offset), s);
        break;
    }
    case F_ADDR:
        if (!valid_addr(s))
            luaL_error(L, "%s.%s: expected \"host:port\", got \"%s\"", decl, f->name, s);
        set_str(L, (char **)(base + f->offset), s);
        break;
    case F_PATH:
    case F_DIR: {
        if (s[0] == '\0')
            luaL_error(L, "%s.%s: must not be empty", decl, f->name);
        const char *path = push_resolved(L, ctx->dir, s);
        if (f->type == F_DIR) {
            struct stat st;
            if (stat(path, &st) != 0)
                luaL_error(L, "%s.%s: %s: %s", decl, f->name, path, strerror(errno));
            if (!S_ISDIR(st.st_mode))
                luaL_error(L, "%s.%s: %s: not a directory", decl, f->name, path);
        }
        set_str(L, (char **)(base + f->offset), path);
        lua_pop(L, 1);
        break;
    }
    case F_SECONDS:
    case F_MILLIS: {
        double sec = duration_of(L, -1, false);
        double v = f->type == F_SECONDS ? sec : sec * 1000.0;
        if (sec < 0)
            luaL_error(L, "%s.%s: expected a positive duration (seconds, or \"250ms\", \"30s\", "
                          "\"5m\", \"1h\"), got %s", decl, f->name, luaL_tolstring(L, -1, NULL));
        if (v < 1 || v > (double)UINT_MAX)
            luaL_error(L, "%s.%s: duration out of range", decl, f->name);
        *(unsigned *)(base + f->offset) = (unsigned)llround(v);
        break;
    }
    case F_POLICY: {
        int i = word_value(policy_word, s);
        if (i < 0)
            luaL_error(L, "%s.%s: expected one of %s, got \"%s\"", decl, f->name,
                       push_words(L, policy_word), s);
        *(enum config_policy *)(base + f->offset) = (enum config_policy)i;
        break;
    }
    case F_BOOL:
    case F_COUNT:
    case F_PERCENT:
    case F_SECONDS0:
        break; /* handled above */
    case F_LEVEL:
        if (log_level_parse(s) < 0)
            luaL_error(L, "%s.%s: expected one of debug, info, warn, error, got \"%s\"", decl,
                       f->name, s);
        set_str(L, (char **)(base + f->offset), s);
        break;
    case F_LOGFMT:
        if (log_format_parse(s) < 0)
            luaL_error(L, "%s.%s: expected one of text, json, got \"%s\"", decl, f->name, s);
        set_str(L, (char **)(base + f->offset), s);
        break;
    }
}

/* docker{...}, teleport{...}, ...: upvalue 2 is the index into decls. */
static int config_declare(lua_State *L)
{
    struct load_ctx *ctx = ctx_of(L);
    const struct decl *d = &decls[lua_tointeger(L, lua_upvalueindex(2))];

    if (lua_type(L, 1) != LUA_TTABLE || lua_gettop(L) != 1)
        return luaL_error(L, "%s: expected a table (%s { ... }), got %s", d->name, d->name,
                          luaL_typename(L, 1));
    mark_declared(L, ctx, (size_t)(d - decls), d->name);
    if (strcmp(d->name, "agent") == 0)
        ctx->cfg->agent_declared = 1;
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "%s: unexpected %s key (fields are names: %s { x = ... })",
                              d->name, luaL_typename(L, -1), d->name);
        const char *key = lua_tostring(L, -1);
        const struct field *f = d->fields;
        while (f->name != NULL && strcmp(f->name, key) != 0)
            f++;
        if (f->name == NULL)
            return luaL_error(L, "%s.%s: unknown field", d->name, key);
    }
    for (const struct field *f = d->fields; f->name != NULL; f++) {
        lua_getfield(L, 1, f->name);
        if (!lua_isnil(L, -1))
            set_field(L, ctx, d->name, f);
        lua_pop(L, 1);
    }
    return 0;
}

static bool valid_owner(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
              s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

/* owner "docker-host-1" */
static int config_owner(lua_State *L)
{
    struct load_ctx *ctx = ctx_of(L);
    if (lua_type(L, 1) != LUA_TSTRING)
        return luaL_error(L, "owner: expected string, got %s", luaL_typename(L, 1));
    const char *s = lua_tostring(L, 1);
    if (!valid_owner(s))
        return luaL_error(L, "owner: \"%s\" is not a valid owner id ([a-z0-9][a-z0-9._-]{0,62})", s);
    mark_declared(L, ctx, DECL_OWNER, "owner");
    set_str(L, &ctx->cfg->owner, s);
    return 0;
}

/* mode "dynamic" */
static int config_mode(lua_State *L)
{
    struct load_ctx *ctx = ctx_of(L);
    if (lua_type(L, 1) != LUA_TSTRING)
        return luaL_error(L, "mode: expected string, got %s", luaL_typename(L, 1));
    const char *s = lua_tostring(L, 1);
    int i = word_value(mode_word, s);
    if (i < 0)
        return luaL_error(L, "mode: expected \"%s\" or \"%s\", got \"%s\"", mode_word(0), mode_word(1), s);
    mark_declared(L, ctx, DECL_MODE, "mode");
    ctx->cfg->mode = (enum config_mode)i;
    return 0;
}

static int config_sec(lua_State *L)
{
    lua_pushnumber(L, luaL_checknumber(L, 1));
    return 1;
}

static int config_minute(lua_State *L)
{
    lua_pushnumber(L, luaL_checknumber(L, 1) * 60);
    return 1;
}

/* env("NAME", default): the environment variable, or default (nil). */
static int config_env(lua_State *L)
{
    const char *v = getenv(luaL_checkstring(L, 1));
    if (v != NULL)
        lua_pushstring(L, v);
    else
        lua_settop(L, 2);
    return 1;
}

static int env_index(lua_State *L)
{
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
        return 1;
    return luaL_error(L, "unknown setting '%s'", luaL_tolstring(L, 2, NULL));
}

static int env_newindex(lua_State *L)
{
    return luaL_error(L, "unknown setting '%s'", luaL_tolstring(L, 2, NULL));
}

/* Builds the closed env and runs the chunk at index 1 in it (index 2: the
 * struct load_ctx). */
static int run_config(lua_State *L)
{
    struct load_ctx *ctx = lua_touserdata(L, 2);
    static const luaL_Reg helpers[] = {
        {"sec", config_sec}, {"minute", config_minute}, {"env", config_env}, {NULL, NULL},
    };

    lua_settop(L, 1);
    lua_newtable(L); /* the helpers, reachable only through __index */
    luaL_setfuncs(L, helpers, 0);
    lua_pushlightuserdata(L, ctx);
    lua_pushcclosure(L, config_owner, 1);
    lua_setfield(L, -2, "owner");
    lua_pushlightuserdata(L, ctx);
    lua_pushcclosure(L, config_mode, 1);
    lua_setfield(L, -2, "mode");
    for (size_t i = 0; i < N_DECLS; i++) {
        lua_pushlightuserdata(L, ctx);
        lua_pushinteger(L, (lua_Integer)i);
        lua_pushcclosure(L, config_declare, 2);
        lua_setfield(L, -2, decls[i].name);
    }
    lua_newtable(L); /* _ENV */
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, -3);
    lua_pushcclosure(L, env_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, env_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushliteral(L, "closed");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_setupvalue(L, 1, 1);
    lua_pop(L, 1);
    lua_call(L, 0, 0);
    return 0;
}

int config_decl_run(struct enr_config *cfg, const char *path, const char *name, const char *dir,
                    struct enr_error *err)
{
    struct load_ctx ctx = {.cfg = cfg, .dir = dir};
    lua_State *L;
    int rc;

    if ((L = lua_runtime_new(CONFIG_MEM_CAP, NULL, err)) == NULL)
        return err != NULL ? err->code : -ENOMEM;
    lua_pushcfunction(L, run_config);
    if ((rc = lua_runtime_load_file(L, path, name, err)) < 0)
        goto fail;
    lua_pushlightuserdata(L, &ctx);
    lua_runtime_set_budget(L, CONFIG_INSTRUCTIONS, "config");
    rc = lua_runtime_pcall(L, 2, 0, err);
    lua_runtime_set_budget(L, 0, NULL);
fail:
    lua_runtime_free(L);
    return rc;
}
