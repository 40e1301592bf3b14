/*
 * lua_container.c - the enroller.container class: an immutable snapshot of a
 * Docker container as rules see it.
 *
 *     match = function(c)
 *       return c.image_name == "rabbitmq" and c:has_label("enroller.network")
 *     end,
 *     apps = function(c)
 *       local ip, why = c:ip(c:label("enroller.network"))
 *       ...
 *     end
 *
 * Fields (read-only, via __index): id, name, image, image_name, tag,
 * image_id, hostname, labels (a fresh table each read), networks
 * ({[name] = {ip=, ipv6=}}), ports ({{port=, proto=, host_port=, host_ip=}}),
 * state, health, created, started.  Empty strings and a 0 host port read as
 * nil.  Argument errors raise; lookups that can fail return nil, "message".
 */
#include "lua/lua_container.h"

#include <string.h>

#include <lauxlib.h>

#include "base/image_ref.h"

/* The userdata: a borrowed or owned snapshot; NULL once invalidated. */
struct lcontainer {
    const struct container *c;
    struct container *owned;
};

static int container_label(lua_State *L);
static int container_has_label(lua_State *L);
static int container_ip(lua_State *L);
static int container_index(lua_State *L);
static int container_gc(lua_State *L);
static int container_tostring(lua_State *L);

static const luaL_Reg container_methods[] = {
    {"label", container_label},
    {"has_label", container_has_label},
    {"ip", container_ip},
    {NULL, NULL},
};

static const luaL_Reg container_meta[] = {
    {"__gc", container_gc},
    {"__tostring", container_tostring},
    {NULL, NULL},
};

#define check_lcontainer(L, i) ((struct lcontainer *)luaL_checkudata(L, i, LUA_CONTAINER_MT))

/* The live snapshot at i; raises on a wrong type or an invalidated view. */
static const struct container *check_container(lua_State *L, int i)
{
    struct lcontainer *lc = check_lcontainer(L, i);
    if (lc->c == NULL)
        luaL_error(L, "container used after its evaluation ended (do not keep it between calls)");
    return lc->c;
}

static void push_opt_str(lua_State *L, const char *s)
{
    if (s == NULL || s[0] == '\0')
        lua_pushnil(L);
    else
        lua_pushstring(L, s);
}

static void push_labels(lua_State *L, const struct kv_list *labels)
{
    lua_createtable(L, 0, (int)labels->len);
    for (size_t i = 0; i < labels->len; i++) {
        lua_pushstring(L, labels->items[i].value);
        lua_setfield(L, -2, labels->items[i].key);
    }
}

static void push_networks(lua_State *L, const struct container *c)
{
    lua_createtable(L, 0, (int)c->n_networks);
    for (size_t i = 0; i < c->n_networks; i++) {
        lua_createtable(L, 0, 2);
        push_opt_str(L, c->networks[i].ip);
        lua_setfield(L, -2, "ip");
        push_opt_str(L, c->networks[i].ipv6);
        lua_setfield(L, -2, "ipv6");
        lua_setfield(L, -2, c->networks[i].name);
    }
}

static void push_ports(lua_State *L, const struct container *c)
{
    lua_createtable(L, (int)c->n_ports, 0);
    for (size_t i = 0; i < c->n_ports; i++) {
        const struct container_port *p = &c->ports[i];
        lua_createtable(L, 0, 4);
        lua_pushinteger(L, p->port);
        lua_setfield(L, -2, "port");
        lua_pushstring(L, p->proto);
        lua_setfield(L, -2, "proto");
        if (p->host_port != 0) {
            lua_pushinteger(L, p->host_port);
            lua_setfield(L, -2, "host_port");
        }
        push_opt_str(L, p->host_ip);
        lua_setfield(L, -2, "host_ip");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* __index(c, key): methods first, then fields; unknown keys raise so a
 * typo in a rule ("c.lables") is reported instead of reading nil. */
static int container_index(lua_State *L)
{
    const struct container *c = check_container(L, 1);
    const char *key = luaL_checkstring(L, 2);
    const char *tag;

    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
        return 1;
    lua_pop(L, 1);
    if (strcmp(key, "id") == 0)
        lua_pushstring(L, c->id);
    else if (strcmp(key, "name") == 0)
        lua_pushstring(L, c->name);
    else if (strcmp(key, "image") == 0)
        lua_pushstring(L, c->image);
    else if (strcmp(key, "image_name") == 0)
        lua_pushlstring(L, c->image, image_ref_name_len(c->image, &tag));
    else if (strcmp(key, "tag") == 0) {
        const char *at = strchr(c->image, '@');
        image_ref_name_len(c->image, &tag);
        if (tag != NULL)
            lua_pushlstring(L, tag, at != NULL ? (size_t)(at - tag) : strlen(tag));
        else if (at == NULL)
            lua_pushliteral(L, "latest"); /* Docker's implicit tag */
        else
            lua_pushnil(L); /* pinned by digest only */
    } else if (strcmp(key, "image_id") == 0)
        lua_pushstring(L, c->image_id);
    else if (strcmp(key, "hostname") == 0)
        push_opt_str(L, c->hostname);
    else if (strcmp(key, "labels") == 0)
        push_labels(L, &c->labels);
    else if (strcmp(key, "networks") == 0)
        push_networks(L, c);
    else if (strcmp(key, "ports") == 0)
        push_ports(L, c);
    else if (strcmp(key, "state") == 0)
        lua_pushstring(L, c->state);
    else if (strcmp(key, "health") == 0)
        push_opt_str(L, c->health);
    else if (strcmp(key, "created") == 0)
        lua_pushinteger(L, c->created);
    else if (strcmp(key, "started") == 0)
        lua_pushinteger(L, c->started);
    else
        return luaL_error(L, "container has no field '%s'", key);
    return 1;
}

static int container_newindex(lua_State *L)
{
    check_container(L, 1);
    return luaL_error(L, "container is read-only (field '%s')", luaL_checkstring(L, 2));
}

/*** @method container:label(key, default)
 * @param {string} key label name
 * @param {any} default returned when the label is absent (optional)
 * @return {string|any} the label's value or default
 */
static int container_label(lua_State *L)
{
    const struct container *c = check_container(L, 1);
    const char *v = kv_get(&c->labels, luaL_checkstring(L, 2));
    if (v != NULL)
        lua_pushstring(L, v);
    else
        lua_settop(L, 3);
    return 1;
}

/*** @method container:has_label(key)
 * @param {string} key label name
 * @return {boolean} whether the container carries that label
 */
static int container_has_label(lua_State *L)
{
    const struct container *c = check_container(L, 1);
    lua_pushboolean(L, kv_get(&c->labels, luaL_checkstring(L, 2)) != NULL);
    return 1;
}

/*** @method container:ip(network)
 * @param {string|nil} network a network name; nil means the only network
 * @return {string} the IPv4 address, or nil and a message saying why not
 */
static int container_ip(lua_State *L)
{
    const struct container *c = check_container(L, 1);
    const char *net = luaL_optstring(L, 2, NULL);
    const struct container_network *found = NULL;

    if (net == NULL) {
        if (c->n_networks != 1) {
            luaL_pushfail(L);
            lua_pushfstring(L, "container has %d networks; name one", (int)c->n_networks);
            return 2;
        }
        found = &c->networks[0];
    } else {
        for (size_t i = 0; i < c->n_networks; i++)
            if (strcmp(c->networks[i].name, net) == 0)
                found = &c->networks[i];
        if (found == NULL) {
            luaL_pushfail(L);
            lua_pushfstring(L, "container is not on network '%s'", net);
            return 2;
        }
    }
    if (found->ip == NULL || found->ip[0] == '\0') {
        luaL_pushfail(L);
        lua_pushfstring(L, "container has no IPv4 address on network '%s'", found->name);
        return 2;
    }
    lua_pushstring(L, found->ip);
    return 1;
}

static int container_gc(lua_State *L)
{
    struct lcontainer *lc = check_lcontainer(L, 1);
    container_free(lc->owned);
    lc->owned = NULL;
    lc->c = NULL;
    return 0;
}

static int container_tostring(lua_State *L)
{
    struct lcontainer *lc = check_lcontainer(L, 1);
    if (lc->c == NULL)
        lua_pushliteral(L, "container (expired)");
    else
    {
        size_t n = strlen(lc->c->id);
        lua_pushfstring(L, "container %s (", lc->c->name);
        lua_pushlstring(L, lc->c->id, n < 12 ? n : 12);
        lua_pushliteral(L, ")");
        lua_concat(L, 3);
    }
    return 1;
}

/* Creates the metatable on first use; leaves it on the stack. */
static void push_meta(lua_State *L)
{
    if (luaL_newmetatable(L, LUA_CONTAINER_MT)) {
        luaL_setfuncs(L, container_meta, 0);
        luaL_newlib(L, container_methods);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "methods");
        lua_pushcclosure(L, container_index, 1);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, container_newindex);
        lua_setfield(L, -2, "__newindex");
        lua_pushliteral(L, "locked");
        lua_setfield(L, -2, "__metatable");
    }
}

/* Pushes a userdata in the safe empty state (liolib newprefile). */
static struct lcontainer *new_lcontainer(lua_State *L)
{
    struct lcontainer *lc = lua_newuserdatauv(L, sizeof(*lc), 0);
    lc->c = NULL;
    lc->owned = NULL;
    push_meta(L);
    lua_setmetatable(L, -2);
    return lc;
}

void lua_container_push(lua_State *L, const struct container *c)
{
    new_lcontainer(L)->c = c;
}

void lua_container_invalidate(lua_State *L, int idx)
{
    struct lcontainer *lc = luaL_testudata(L, idx, LUA_CONTAINER_MT);
    if (lc != NULL && lc->owned == NULL)
        lc->c = NULL;
}

int lua_container_from_inspect(lua_State *L)
{
    size_t len;
    const char *json = luaL_checklstring(L, 1, &len);
    struct enr_error err = {0};
    struct lcontainer *lc = new_lcontainer(L);

    lc->owned = container_from_inspect(json, len, &err);
    if (lc->owned == NULL) {
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    lc->c = lc->owned;
    return 1;
}

int luaopen_enroller_container(lua_State *L)
{
    push_meta(L);
    lua_getfield(L, -1, "methods");
    return 1;
}
