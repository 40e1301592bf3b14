/*
 * config.c - see config.h.
 *
 * The file runs in a fresh sandboxed state (lua_runtime.c) as a chunk whose
 * _ENV is a closed table: reads resolve only to the declaration functions
 * and helpers below, anything else raises "config.lua:N: unknown setting
 * 'x'" (knot's sandbox, strict).  Each declaration validates its table on
 * the call, so luaL_error blames the declaring line.  Values go straight
 * into the struct enr_config being built, which config_load frees on any
 * error, so a raise never leaks.  Defaults (the one table below) and
 * required fields are handled after the file (knot postconfig).
 *
 * Helpers: sec(n), minute(n) (durations are seconds; strings "250ms",
 * "30s", "5m", "1h" work too) and env("NAME", default).
 */
#include "config.h"

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
#include "lua/lua_runtime.h"

#define CONFIG_MEM_CAP ((size_t)16 << 20)
#define CONFIG_INSTRUCTIONS 50000000ULL

/* Every default, defined here only: what a field is when the file does not
 * set it (finish() copies from this table).  log_level is read, never
 * freed: finish() duplicates it. */
static const struct enr_config defaults = {
    .mode = CONFIG_MODE_DYNAMIC,
    .resync_sec = 60,
    .events = 1,
    .policy = CONFIG_POLICY_SYNC,
    .grace_sec = 0,
    .max_deletes = 50,
    .max_delete_percent = 50,
    .adopt = 0,
    .lease_sec = 0,
    .write_rate = 100,
    .write_burst = 200,
    .confirm_sec = 30,
    .call_timeout_ms = 10000,
    .log_level = "info",
};

/* The words of the enums, indexed by value; NULL-terminated. */
static const char *const mode_names[] = {
    [CONFIG_MODE_DYNAMIC] = "dynamic",
    [CONFIG_MODE_DRY_RUN] = "dry-run",
    NULL,
};
static const char *const policy_names[] = {
    [CONFIG_POLICY_SYNC] = "sync",
    [CONFIG_POLICY_UPSERT_ONLY] = "upsert-only",
    [CONFIG_POLICY_CREATE_ONLY] = "create-only",
    NULL,
};
#define N_NAMES(names) (sizeof(names) / sizeof(names[0]) - 1)

enum ftype { F_STR, F_PATH, F_DIR, F_ADDR, F_SECONDS, F_MILLIS, F_LEVEL, F_BOOL, F_COUNT, F_SECONDS0,
             F_POLICY, F_PERCENT };

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
    {"host", F_STR, offsetof(struct enr_config, docker_host)},
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
    {"adopt", F_BOOL, offsetof(struct enr_config, adopt)},
    {"lease", F_SECONDS0, offsetof(struct enr_config, lease_sec)},
    {"confirm", F_SECONDS0, offsetof(struct enr_config, confirm_sec)},
    {"write_rate", F_COUNT, offsetof(struct enr_config, write_rate)},
    {"write_burst", F_COUNT, offsetof(struct enr_config, write_burst)},
    {NULL, 0, 0},
};
static const struct field log_fields[] = {
    {"level", F_LEVEL, offsetof(struct enr_config, log_level)},
    {NULL, 0, 0},
};

static const struct decl decls[] = {
    {"docker", docker_fields},
    {"teleport", teleport_fields},
    {"rules", rules_fields},
    {"reconcile", reconcile_fields},
    {"log", log_fields},
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

const char *config_mode_name(enum config_mode mode)
{
    return (size_t)mode < N_NAMES(mode_names) ? mode_names[mode] : "?";
}

const char *config_policy_name(enum config_policy policy)
{
    return (size_t)policy < N_NAMES(policy_names) ? policy_names[policy] : "?";
}

/* Index of s in names (NULL-terminated), or -1. */
static int name_index(const char *const *names, const char *s)
{
    for (int i = 0; names[i] != NULL; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

/* Pushes "a, b, c" (the allowed words, for messages). */
static const char *push_names(lua_State *L, const char *const *names)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; names[i] != NULL; i++) {
        if (i > 0)
            luaL_addstring(&b, ", ");
        luaL_addstring(&b, names[i]);
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
static double duration_of(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double v = lua_tonumber(L, idx);
        return isfinite(v) && v > 0 ? v : -1;
    }
    const char *s = lua_tostring(L, idx);
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v <= 0)
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
        sec = duration_of(L, -1);
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
        double sec = duration_of(L, -1);
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
        int i = name_index(policy_names, s);
        if (i < 0)
            luaL_error(L, "%s.%s: expected one of %s, got \"%s\"", decl, f->name,
                       push_names(L, policy_names), s);
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
    int i = name_index(mode_names, s);
    if (i < 0)
        return luaL_error(L, "mode: expected \"%s\" or \"%s\", got \"%s\"", mode_names[0],
                          mode_names[1], s);
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

/* Builds the closed env and runs the chunk at index 1 in it. */
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

void config_free(struct enr_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->path);
    free(cfg->owner);
    free(cfg->docker_host);
    free(cfg->docker_cert_path);
    free(cfg->teleport_addr);
    free(cfg->identity_file);
    free(cfg->tbot_dir);
    free(cfg->teleport_cluster);
    free(cfg->server_name);
    free(cfg->rules_dir);
    free(cfg->log_level);
    free(cfg);
}

/* Defaults and required fields, after the file ran. */
static int finish(struct enr_config *cfg, const char *name, struct enr_error *err)
{
    if (cfg->owner == NULL)
        return err_set(err, -EINVAL, "%s: owner: required (owner \"my-docker-host\")", name);
    if (cfg->teleport_addr == NULL)
        return err_set(err, -EINVAL, "%s: teleport.addr: required", name);
    if (cfg->identity_file == NULL && cfg->tbot_dir == NULL)
        return err_set(err, -EINVAL, "%s: teleport.identity: required", name);
    if (cfg->identity_file != NULL && cfg->tbot_dir != NULL)
        return err_set(err, -EINVAL, "%s: teleport.tbot_dir: set either identity or tbot_dir, not both", name);
    if (cfg->rules_dir == NULL)
        return err_set(err, -EINVAL, "%s: rules.dir: required", name);
    if (cfg->log_level == NULL && (cfg->log_level = strdup(defaults.log_level)) == NULL)
        return err_set(err, -ENOMEM, "%s: out of memory", name);
    /* mode and policy start from the defaults (config_load): an enum has no
     * "unset" */
    if (cfg->resync_sec == 0)
        cfg->resync_sec = defaults.resync_sec;
    if (cfg->events < 0)
        cfg->events = defaults.events;
    if (cfg->grace_sec < 0)
        cfg->grace_sec = defaults.grace_sec;
    if (cfg->max_deletes < 0)
        cfg->max_deletes = defaults.max_deletes;
    if (cfg->max_delete_percent < 0)
        cfg->max_delete_percent = defaults.max_delete_percent;
    if (cfg->adopt < 0)
        cfg->adopt = defaults.adopt;
    if (cfg->lease_sec < 0)
        cfg->lease_sec = defaults.lease_sec;
    if (cfg->confirm_sec < 0)
        cfg->confirm_sec = defaults.confirm_sec;
    if (cfg->write_rate <= 0) /* 0 in the file means the default too */
        cfg->write_rate = defaults.write_rate;
    if (cfg->write_burst <= 0)
        cfg->write_burst = defaults.write_burst;
    if (cfg->lease_sec > 0 && cfg->lease_sec < 2 * (int)cfg->resync_sec)
        return err_set(err, -EINVAL, "%s: reconcile.lease: %ds is shorter than two resyncs (%us); "
                       "apps would expire between refreshes", name, cfg->lease_sec, cfg->resync_sec);
    if (cfg->call_timeout_ms == 0)
        cfg->call_timeout_ms = defaults.call_timeout_ms;
    return 0;
}

struct enr_config *config_load(const char *path, struct enr_error *err)
{
    struct enr_config *cfg = calloc(1, sizeof(*cfg));
    struct load_ctx ctx = {0};
    lua_State *L = NULL;
    char *abs = NULL, *dir = NULL;
    /* Messages name the file as the operator wrote it: "config.lua:7: ...". */
    const char *name = path;

    if (cfg == NULL) {
        err_set(err, -ENOMEM, "%s: out of memory", name);
        return NULL;
    }
    /* Unset until the file says otherwise; finish() fills the defaults. */
    cfg->events = cfg->grace_sec = cfg->max_deletes = cfg->max_delete_percent = -1;
    cfg->adopt = cfg->lease_sec = cfg->confirm_sec = cfg->write_rate = cfg->write_burst = -1;
    cfg->mode = defaults.mode;
    cfg->policy = defaults.policy;
    if ((abs = realpath(path, NULL)) == NULL) {
        err_set(err, -errno, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if ((dir = strdup(abs)) == NULL) {
        err_set(err, -ENOMEM, "%s: out of memory", name);
        goto fail;
    }
    *strrchr(dir, '/') = '\0'; /* realpath is absolute: there is a '/' */
    cfg->path = abs;
    abs = NULL;
    ctx.cfg = cfg;
    ctx.dir = dir[0] != '\0' ? dir : "/";
    if ((L = lua_runtime_new(CONFIG_MEM_CAP, NULL, err)) == NULL)
        goto fail;
    lua_pushcfunction(L, run_config);
    if (lua_runtime_load_file(L, path, name, err) < 0)
        goto fail;
    lua_pushlightuserdata(L, &ctx);
    lua_runtime_set_budget(L, CONFIG_INSTRUCTIONS, "config");
    int rc = lua_runtime_pcall(L, 2, 0, err);
    lua_runtime_set_budget(L, 0, NULL);
    if (rc < 0)
        goto fail;
    if (finish(cfg, name, err) < 0)
        goto fail;
    lua_runtime_free(L);
    free(dir);
    return cfg;
fail:
    lua_runtime_free(L);
    free(abs);
    free(dir);
    config_free(cfg);
    return NULL;
}

static int str_differs(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a != b;
    return strcmp(a, b) != 0;
}

size_t config_diff(const struct enr_config *a, const struct enr_config *b, char *buf, size_t size)
{
    struct {
        const char *name;
        int differs;
    } f[] = {
        {"owner", str_differs(a->owner, b->owner)},
        {"docker.host", str_differs(a->docker_host, b->docker_host)},
        {"docker.cert_path", str_differs(a->docker_cert_path, b->docker_cert_path)},
        {"teleport.addr", str_differs(a->teleport_addr, b->teleport_addr)},
        {"teleport.identity", str_differs(a->identity_file, b->identity_file)},
        {"teleport.server_name", str_differs(a->server_name, b->server_name)},
        {"teleport.tbot_dir", str_differs(a->tbot_dir, b->tbot_dir)},
        {"teleport.cluster", str_differs(a->teleport_cluster, b->teleport_cluster)},
        {"teleport.proxy", a->teleport_proxy != b->teleport_proxy},
        {"teleport.call_timeout", a->call_timeout_ms != b->call_timeout_ms},
        {"mode", a->mode != b->mode},
        {"reconcile.resync", a->resync_sec != b->resync_sec},
        {"reconcile.events", a->events != b->events},
        {"reconcile.policy", a->policy != b->policy},
        {"reconcile.grace", a->grace_sec != b->grace_sec},
        {"reconcile.max_deletes", a->max_deletes != b->max_deletes},
        {"reconcile.max_delete_percent", a->max_delete_percent != b->max_delete_percent},
        {"reconcile.adopt", a->adopt != b->adopt},
        {"reconcile.lease", a->lease_sec != b->lease_sec},
        {"rules.dir", str_differs(a->rules_dir, b->rules_dir)},
        {"log.level", str_differs(a->log_level, b->log_level)},
    };
    size_t n = 0, used = 0;

    if (size > 0)
        buf[0] = '\0';
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        if (!f[i].differs)
            continue;
        if (used < size) {
            int w = snprintf(buf + used, size - used, "%s%s", n ? ", " : "", f[i].name);
            if (w > 0)
                used += (size_t)w;
        }
        n++;
    }
    return n;
}
