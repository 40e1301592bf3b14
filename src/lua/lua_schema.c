/*
 * lua_schema.c - see lua_schema.h.
 *
 * enroller.schema keeps the schemas as data and names a fault; what it runs
 * on every resource of every container is here, in C, where a check costs
 * a loop instead of a dozen pattern matches charged to the rule's budget:
 *
 *     core.is_dns_label(s)        -- boolean
 *     core.check_uri(v)           -- true, or nil and why
 *     core.text_check(max)        -- a check(v): no control character, at most max bytes
 *     core.check_label_key(k)     -- true, or nil and why
 *     core.record_passes(field, v) -- true when v is valid; false says only "walk it in Lua"
 *
 * The messages are the ones schema.lua gave when it ran these checks
 * itself (spec/lua/lib/schema_spec.lua pins them).  Character classes are
 * Lua's: %a, %w, %x and %s are isalpha, isalnum, isxdigit and isspace in
 * the C locale.
 */
#include "lua/lua_schema.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#define RESERVED_PREFIX "enroller.dev/"
#define MAX_STRING 4096
/* Entries (record keys, array elements, map entries) schema_passes walks
 * before it leaves a value to the Lua walk, which runs under the rule's
 * instruction budget: C work no count hook sees stays small. */
#define PASSES_MAX_ENTRIES 1024

/* Pushes the control-character message for s and returns 1, or returns 0. */
static int push_control_char(lua_State *L, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x20 || b == 0x7f) {
            char msg[80];
            snprintf(msg, sizeof(msg), "contains a control character (byte 0x%02x at %zu)", b, i + 1);
            lua_pushstring(L, msg);
            return 1;
        }
    }
    return 0;
}

static int fail_with(lua_State *L)
{
    luaL_pushfail(L);
    lua_insert(L, -2);
    return 2;
}

/*** @function core.is_dns_label(s)
 * @param {any} s
 * @return {boolean} true for a string matching ^[a-z]([-a-z0-9]*[a-z0-9])?$ of at most 63 bytes
 */
static int schema_is_dns_label(lua_State *L)
{
    size_t n = 0;
    const char *s = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &n) : NULL;
    int ok = s != NULL && n >= 1 && n <= 63 && s[0] >= 'a' && s[0] <= 'z' && s[n - 1] != '-';

    for (size_t i = 1; ok && i < n; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-';
    lua_pushboolean(L, ok);
    return 1;
}

/*** @function core.check_uri(v)
 * @param {string} v an app's uri
 * @return {boolean} true for scheme://host[:port][/path] (lower-case scheme, no user information, port 1-65535, no control character or white space, at most 4096 bytes), or nil and why
 */
static int schema_check_uri(lua_State *L)
{
    size_t len, i = 0;
    const char *v = luaL_checklstring(L, 1, &len);

    if (len == 0) {
        lua_pushliteral(L, "must not be empty");
        return fail_with(L);
    }
    if (push_control_char(L, v, len))
        return fail_with(L);
    if (len > MAX_STRING) {
        lua_pushfstring(L, "is %d bytes; at most %d", (int)len, MAX_STRING);
        return fail_with(L);
    }
    /* ^(%a[%w+.-]*)://(.*)$ */
    if (isalpha((unsigned char)v[0])) {
        i = 1;
        while (i < len && (isalnum((unsigned char)v[i]) || strchr("+.-", v[i]) != NULL))
            i++;
    }
    if (i == 0 || len - i < 3 || memcmp(v + i, "://", 3) != 0) {
        lua_pushfstring(L, "'%s' is not scheme://host[:port][/path]", v);
        return fail_with(L);
    }
    for (size_t k = 0; k < i; k++)
        if (isupper((unsigned char)v[k])) {
            lua_pushfstring(L, "'%s': scheme must be lower-case", v);
            return fail_with(L);
        }
    const char *rest = v + i + 3;
    size_t rlen = len - i - 3, alen = strcspn(rest, "/?#");
    if (memchr(rest, '@', alen) != NULL) {
        lua_pushfstring(L, "'%s' must not carry user information", v);
        return fail_with(L);
    }
    size_t hlen = 0, j;
    if (alen > 0 && rest[0] == '[') {
        /* ^(%[[%x:.]+%])(.*)$ */
        for (j = 1; j < alen && (isxdigit((unsigned char)rest[j]) || rest[j] == ':' || rest[j] == '.'); j++)
            ;
        if (j > 1 && j < alen && rest[j] == ']')
            hlen = j + 1;
    } else {
        /* ^([^:]*)(.*)$ */
        const char *colon = memchr(rest, ':', alen);
        hlen = colon != NULL ? (size_t)(colon - rest) : alen;
    }
    if (hlen == 0) {
        lua_pushfstring(L, "'%s' has no host", v);
        return fail_with(L);
    }
    if (hlen < alen) {
        /* ^:(%d+)$, then 1-65535 */
        const char *p = rest + hlen;
        size_t plen = alen - hlen;
        unsigned long port = 0;
        int ok = plen >= 2 && p[0] == ':';
        for (j = 1; ok && j < plen; j++) {
            ok = isdigit((unsigned char)p[j]);
            if (port <= 65535)
                port = port * 10 + (unsigned long)(p[j] - '0');
        }
        if (!ok || port < 1 || port > 65535) {
            lua_pushfstring(L, "'%s' has a bad port (1-65535)", v);
            return fail_with(L);
        }
    }
    for (j = 0; j < rlen; j++)
        if (isspace((unsigned char)rest[j])) {
            lua_pushfstring(L, "'%s' contains white space", v);
            return fail_with(L);
        }
    lua_pushboolean(L, 1);
    return 1;
}

/* The check core.text_check(max) returns; upvalue 1 is max. */
static int text_check(lua_State *L)
{
    size_t len;
    const char *v = luaL_checklstring(L, 1, &len);
    lua_Integer max = lua_tointeger(L, lua_upvalueindex(1));

    if (push_control_char(L, v, len))
        return fail_with(L);
    if ((lua_Integer)len > max) {
        lua_pushfstring(L, "is %I bytes; at most %I", (lua_Integer)len, max);
        return fail_with(L);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/*** @function core.text_check(max)
 * @param {integer} max bytes
 * @return {function} check(v): true for a string without a control character of at most max bytes, or nil and why
 */
static int schema_text_check(lua_State *L)
{
    luaL_checkinteger(L, 1);
    lua_settop(L, 1);
    lua_pushcclosure(L, text_check, 1);
    return 1;
}

/* Pushes "<before><key><after>" with the key's bytes as they are. */
static void push_around(lua_State *L, const char *before, const char *k, size_t klen, const char *after)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, before);
    luaL_addlstring(&b, k, klen);
    luaL_addstring(&b, after);
    luaL_pushresult(&b);
}

/*** @function core.check_label_key(k)
 * @param {string} k a label key a rule sets
 * @return {boolean} true for a key Teleport accepts (letters, digits and / . _ * -; api/types/resource.go IsValidLabelKey, older releases: no ':') outside enroller.dev/, or nil and why
 */
static int schema_check_label_key(lua_State *L)
{
    size_t len;
    const char *k = luaL_checklstring(L, 1, &len);
    int ok = len > 0;

    if (len >= sizeof(RESERVED_PREFIX) - 1 && memcmp(k, RESERVED_PREFIX, sizeof(RESERVED_PREFIX) - 1) == 0) {
        push_around(L, "label '", k, len, "' is reserved (the daemon writes " RESERVED_PREFIX " labels)");
        return fail_with(L);
    }
    for (size_t i = 0; ok && i < len; i++)
        ok = isalnum((unsigned char)k[i]) || (k[i] != '\0' && strchr("/._*-", k[i]) != NULL);
    if (!ok) {
        push_around(L, "label key '", k, len, "' may only contain letters, digits and / . _ * -");
        return fail_with(L);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- schema_passes: the walk of a valid value ---- */

/* The schema's keys the walk reads: upvalues of core.record_passes, so no
 * string is made or hashed per read. */
enum schema_key { K_FIELDS = 1, K_TYPE, K_CHECK, K_REQUIRED, K_ELEMENTS, K_KEYS, K_VALUES };
static const char *const schema_keys[] = {"fields", "type", "check", "required", "elements", "keys", "values"};

/* Pushes t[key] (raw) and returns its type. */
static int raw_field(lua_State *L, int t, enum schema_key key)
{
    t = lua_absindex(L, t);
    lua_pushvalue(L, lua_upvalueindex(key));
    return lua_rawget(L, t);
}

/* A table the walk may read raw: no metatable (a view, __index, __pairs:
 * the Lua walk follows those). */
static int plain_table(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        return 0;
    if (lua_getmetatable(L, idx)) {
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

static int field_passes(lua_State *L, int field, int v, int *left);

/* Calls the check at idx (nil or false: none) with v; 1 when it is truthy. */
static int check_passes(lua_State *L, int check, int v)
{
    if (!lua_toboolean(L, check))
        return 1;
    lua_pushvalue(L, check);
    lua_pushvalue(L, v);
    lua_call(L, 1, 1);
    int ok = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return ok;
}

/* The record at v against the schema field at field (its .fields): every
 * key a field, every field valid, every required field there. */
static int record_passes(lua_State *L, int field, int v, int *left)
{
    int top = lua_gettop(L), ok = 1;

    raw_field(L, field, K_FIELDS);
    int fields = lua_gettop(L);
    if (!plain_table(L, fields))
        goto out_fail;
    lua_pushnil(L);
    while (ok && lua_next(L, v)) {
        int val = lua_gettop(L), key = val - 1;
        ok = --*left >= 0 && lua_type(L, key) == LUA_TSTRING;
        if (ok) {
            lua_pushvalue(L, key);
            lua_rawget(L, fields);
            ok = plain_table(L, -1) && field_passes(L, lua_gettop(L), val, left);
        }
        lua_settop(L, key);
    }
    if (!ok)
        goto out_fail;
    lua_pushnil(L);
    while (ok && lua_next(L, fields)) {
        /* the schema's own fields: a field that is required must be there */
        if (lua_type(L, -1) == LUA_TTABLE && raw_field(L, -1, K_REQUIRED) != LUA_TNIL &&
            lua_toboolean(L, -1)) {
            lua_pushvalue(L, -3);
            ok = lua_rawget(L, v) != LUA_TNIL;
        }
        lua_settop(L, fields + 1);
    }
    lua_settop(L, top);
    return ok;
out_fail:
    lua_settop(L, top);
    return 0;
}

/* The array at v: keys 1..#v only, each element valid as .elements. */
static int array_passes(lua_State *L, int field, int v, int *left)
{
    int top = lua_gettop(L), ok = 1;
    lua_Unsigned n = lua_rawlen(L, v);

    lua_pushnil(L);
    while (ok && lua_next(L, v)) {
        lua_pop(L, 1);
        ok = --*left >= 0 && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 &&
             (lua_Unsigned)lua_tointeger(L, -1) <= n;
    }
    if (!ok) {
        lua_settop(L, top);
        return 0;
    }
    raw_field(L, field, K_ELEMENTS);
    int elements = lua_gettop(L);
    ok = plain_table(L, elements);
    for (lua_Unsigned i = 1; ok && i <= n; i++) {
        lua_rawgeti(L, v, (lua_Integer)i);
        ok = field_passes(L, elements, lua_gettop(L), left);
        lua_pop(L, 1);
    }
    lua_settop(L, top);
    return ok;
}

/* The map at v: every key of .keys' type and passing its check, every
 * value valid as .values. */
static int map_passes(lua_State *L, int field, int v, int *left)
{
    int top = lua_gettop(L), ok;

    raw_field(L, field, K_KEYS);
    raw_field(L, field, K_VALUES);
    int keys = top + 1, values = top + 2;
    ok = plain_table(L, keys) && plain_table(L, values);
    if (ok) {
        raw_field(L, keys, K_TYPE);
        raw_field(L, keys, K_CHECK);
    }
    const char *key_type = ok ? lua_tostring(L, top + 3) : NULL;
    int key_check = top + 4;
    ok = ok && key_type != NULL;
    lua_pushnil(L);
    while (ok && lua_next(L, v)) {
        int val = lua_gettop(L), key = val - 1;
        ok = --*left >= 0 && strcmp(luaL_typename(L, key), key_type) == 0 && check_passes(L, key_check, key) &&
             field_passes(L, values, val, left);
        lua_settop(L, key);
    }
    lua_settop(L, top);
    return ok;
}

/* The value at v (nil: absent) against the schema field at field, as
 * schema.lua's validate_field: 1 when valid; 0 when not, or when the Lua
 * walk must decide (a metatable, a "strings" field, too many entries). */
static int field_passes(lua_State *L, int field, int v, int *left)
{
    int top = lua_gettop(L), ok;

    luaL_checkstack(L, 12, "schema nesting");
    if (lua_type(L, v) == LUA_TNIL) {
        ok = raw_field(L, field, K_REQUIRED) == LUA_TNIL || !lua_toboolean(L, -1);
        lua_settop(L, top);
        return ok;
    }
    raw_field(L, field, K_TYPE);
    const char *want = lua_tostring(L, -1);
    if (want == NULL || strcmp(want, "strings") == 0) {
        ok = 0;
    } else if (strcmp(want, "record") == 0 || strcmp(want, "array") == 0 || strcmp(want, "map") == 0) {
        ok = plain_table(L, v);
        if (ok && want[0] == 'r')
            ok = record_passes(L, field, v, left);
        else if (ok && want[0] == 'a')
            ok = array_passes(L, field, v, left);
        else if (ok)
            ok = map_passes(L, field, v, left);
    } else {
        ok = strcmp(luaL_typename(L, v), want) == 0;
    }
    if (ok) {
        raw_field(L, field, K_CHECK);
        ok = check_passes(L, lua_gettop(L), v);
    }
    lua_settop(L, top);
    return ok;
}

/*** @function core.record_passes(field, v)
 * @param {table} field a record schema (schema.app, or a record field of one)
 * @param {table} v the record
 * @return {boolean} true when every key of v is a field of the schema, every field valid and every required one there (the record's own check is not run); false when not, or when schema.validate's own walk must decide (a table with a metatable, a "strings" field, more than 1,024 entries): that walk names the fault
 */
static int schema_record_passes(lua_State *L)
{
    int left = PASSES_MAX_ENTRIES;

    lua_settop(L, 2);
    lua_pushboolean(L, plain_table(L, 1) && plain_table(L, 2) && record_passes(L, 1, 2, &left));
    return 1;
}

void lua_schema_register(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"is_dns_label", schema_is_dns_label},
        {"check_uri", schema_check_uri},
        {"text_check", schema_text_check},
        {"check_label_key", schema_check_label_key},
        {NULL, NULL},
    };
    luaL_setfuncs(L, funcs, 0);
    for (size_t i = 0; i < sizeof(schema_keys) / sizeof(schema_keys[0]); i++)
        lua_pushstring(L, schema_keys[i]);
    lua_pushcclosure(L, schema_record_passes, (int)(sizeof(schema_keys) / sizeof(schema_keys[0])));
    lua_setfield(L, -2, "record_passes");
}
