/*
 * rule_prefilter.c - see rule_prefilter.h.
 *
 * The check runs for every rule and container, so it does no allocation in
 * the common case: the repository is a prefix of the image string, a
 * literal pattern is a length and memcmp, and only a glob pattern on an
 * image with a tag or digest copies the repository (on the stack) for
 * fnmatch(3).
 */
#include "rules/rule_prefilter.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "base/image_ref.h"
#include "base/kv.h"
#include "lua/lua_runtime.h"

void rule_prefilter_init(struct rule_prefilter *pf)
{
    memset(pf, 0, sizeof(*pf));
}

void rule_prefilter_cleanup(struct rule_prefilter *pf)
{
    if (pf == NULL)
        return;
    for (size_t i = 0; i < pf->n_images; i++)
        free(pf->images[i].pattern);
    free(pf->images);
    for (size_t i = 0; i < pf->n_labels; i++)
        free(pf->labels[i]);
    free(pf->labels);
    rule_prefilter_init(pf);
}

/* The string at idx as the field's element, or raises naming it. */
static const char *element(lua_State *L, int idx, const char *field, lua_Integer i, size_t *len)
{
    const char *s;

    if (lua_type(L, idx) != LUA_TSTRING) {
        if (i > 0)
            luaL_error(L, "%s[%d]: expected string, got %s", field, (int)i, luaL_typename(L, idx));
        else
            luaL_error(L, "%s: expected a string or a list of strings, got %s", field, luaL_typename(L, idx));
        return NULL; /* not reached: luaL_error raises */
    }
    s = lua_tolstring(L, idx, len);
    if (*len == 0 || strlen(s) != *len) {
        if (i > 0)
            luaL_error(L, "%s[%d]: must be a non-empty string without NUL bytes", field, (int)i);
        else
            luaL_error(L, "%s: must be a non-empty string without NUL bytes", field);
        return NULL;
    }
    return s;
}

static void add_image(lua_State *L, struct rule_prefilter *pf, const char *s, size_t len)
{
    struct rule_prefilter_image *n = realloc(pf->images, (pf->n_images + 1) * sizeof(*n));
    if (n == NULL)
        luaL_error(L, "match_image: out of memory");
    pf->images = n;
    if ((n[pf->n_images].pattern = strdup(s)) == NULL)
        luaL_error(L, "match_image: out of memory");
    n[pf->n_images].len = len;
    n[pf->n_images].literal = strpbrk(s, "*?[\\") == NULL;
    pf->n_images++;
}

static void add_label(lua_State *L, struct rule_prefilter *pf, const char *s, size_t len)
{
    (void)len;
    char **n = realloc(pf->labels, (pf->n_labels + 1) * sizeof(*n));
    if (n == NULL)
        luaL_error(L, "match_label: out of memory");
    pf->labels = n;
    if ((n[pf->n_labels] = strdup(s)) == NULL)
        luaL_error(L, "match_label: out of memory");
    pf->n_labels++;
}

/* rule[field]: nil, one string, or a non-empty list of strings.  The
 * schema checked it at rule{}; this checks again what the file may have
 * changed since, as far as the C side relies on it. */
static void read_field(lua_State *L, struct rule_prefilter *pf, const char *field,
                       void (*add)(lua_State *, struct rule_prefilter *, const char *, size_t))
{
    size_t len;
    int t = lua_getfield(L, 1, field); /* rule{}'s table has no __index */

    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (t != LUA_TTABLE) {
        const char *s = element(L, -1, field, 0, &len);
        add(L, pf, s, len);
        lua_pop(L, 1);
        return;
    }
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    if (n == 0)
        luaL_error(L, "%s: expected a string or a non-empty list of strings", field);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        const char *s = element(L, -1, field, i, &len);
        add(L, pf, s, len);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* (rule table, pf) under lua_runtime_pcall. */
static int read_fields(lua_State *L)
{
    struct rule_prefilter *pf = lua_touserdata(L, 2);
    read_field(L, pf, "match_image", add_image);
    read_field(L, pf, "match_label", add_label);
    return 0;
}

int rule_prefilter_read(lua_State *L, int idx, struct rule_prefilter *pf, struct enr_error *err)
{
    idx = lua_absindex(L, idx);
    lua_pushcfunction(L, read_fields);
    lua_pushvalue(L, idx);
    lua_pushlightuserdata(L, pf);
    return lua_runtime_pcall(L, 2, 0, err);
}

/* Does repo (not NUL-terminated: the first len bytes of image) match p? */
static int image_matches(const struct rule_prefilter_image *p, const char *image, size_t len, int *oom)
{
    char buf[256], *subject = buf;
    int rc;

    if (p->literal)
        return p->len == len && memcmp(p->pattern, image, len) == 0;
    if (image[len] == '\0')
        return fnmatch(p->pattern, image, 0) == 0;
    if (len >= sizeof(buf) && (subject = malloc(len + 1)) == NULL) {
        *oom = 1;
        return 0;
    }
    memcpy(subject, image, len);
    subject[len] = '\0';
    rc = fnmatch(p->pattern, subject, 0) == 0;
    if (subject != buf)
        free(subject);
    return rc;
}

/* "a, b, c" into out (cut at outlen). */
static void list_labels(const struct rule_prefilter *pf, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < pf->n_labels && used < outlen; i++) {
        int n = snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", pf->labels[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

int rule_prefilter_check(const struct rule_prefilter *pf, const struct container *c, char *why, size_t whylen)
{
    if (pf->n_images > 0) {
        const char *tag;
        size_t len = image_ref_name_len(c->image, &tag);
        int found = 0, oom = 0;
        for (size_t i = 0; i < pf->n_images && !found && !oom; i++)
            found = image_matches(&pf->images[i], c->image, len, &oom);
        if (oom)
            return -ENOMEM;
        if (!found) {
            if (why != NULL)
                snprintf(why, whylen, "image %.*s not in match_image", (int)len, c->image);
            return 0;
        }
    }
    if (pf->n_labels > 0) {
        for (size_t i = 0; i < pf->n_labels; i++)
            if (kv_get(&c->labels, pf->labels[i]) != NULL)
                return 1;
        if (why != NULL) {
            char names[200];
            list_labels(pf, names, sizeof(names));
            snprintf(why, whylen, "%s %s (match_label)", pf->n_labels == 1 ? "no label" : "none of the labels",
                     names);
        }
        return 0;
    }
    return 1;
}
