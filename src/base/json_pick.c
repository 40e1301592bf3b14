/*
 * json_pick.c - yajl's token stream into a jansson tree of the picked
 * members only (see json_pick.h).  The grammar is yajl's; this file only
 * decides, token by token, whether a value is kept and where it goes.
 */
#include "base/json_pick.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

/* jansson's loader refuses deeper documents (JSON_PARSER_MAX_DEPTH). */
#define PICK_MAX_DEPTH 2048

/* One open object or array that is kept. */
struct frame {
    json_t *v;                      /* borrowed: owned by its parent (or root) */
    const struct json_pick *pick;   /* the members kept, NULL: all of them */
};

struct picker {
    const struct json_pick *root_pick;
    json_t *root;
    struct frame *st;
    size_t depth, cap;
    size_t skip;                    /* open compounds inside a skipped value */
    /* The member whose value comes next, in a kept object. */
    char *key;
    size_t key_len, key_cap;
    bool key_kept;
    const struct json_pick *key_pick;
    uintptr_t text_lo, text_hi;     /* the document: [lo, hi) */
    int code;                       /* first failure: -EINVAL or -ENOMEM */
    char why[128];
};

static int stop(struct picker *p, int code, const char *fmt, ...)
{
    va_list ap;

    if (p->code == 0) {
        p->code = code;
        va_start(ap, fmt);
        vsnprintf(p->why, sizeof(p->why), fmt, ap);
        va_end(ap);
    }
    return 0; /* yajl_status_client_canceled */
}

/* key (NUL-terminated) is the n bytes at k; stops at the first difference. */
static bool key_is(const char *key, const unsigned char *k, size_t n)
{
    size_t i = 0;

    for (; i < n && key[i] != '\0'; i++)
        if ((unsigned char)key[i] != k[i])
            return false;
    return i == n && key[i] == '\0';
}

static const struct json_pick *find(const struct json_pick *pick, const unsigned char *k, size_t n,
                                    bool *found)
{
    for (; pick->key != NULL; pick++) {
        if ((pick->key[0] == '*' && pick->key[1] == '\0') || key_is(pick->key, k, n)) {
            *found = true;
            return pick->children;
        }
    }
    *found = false;
    return NULL;
}

/* Where the next value goes: kept (with the pick for its members) or not. */
static bool next_kept(struct picker *p, const struct json_pick **pick)
{
    const struct frame *f;

    if (p->skip > 0)
        return false;
    if (p->depth == 0) {
        *pick = p->root_pick;
        return true;
    }
    f = &p->st[p->depth - 1];
    if (f->pick == NULL) {          /* everything below is kept */
        *pick = NULL;
        return true;
    }
    if (json_is_array(f->v))        /* an array where members are picked */
        return false;
    *pick = p->key_pick;
    return p->key_kept;
}

/* Attaches v (a new reference) to the open value or makes it the root. */
static int attach(struct picker *p, json_t *v)
{
    json_t *parent;

    if (v == NULL)
        return stop(p, -ENOMEM, "out of memory");
    if (p->depth == 0) {
        p->root = v;
        return 1;
    }
    parent = p->st[p->depth - 1].v;
    if (json_is_array(parent) ? json_array_append_new(parent, v) < 0
                              : json_object_setn_new_nocheck(parent, p->key, p->key_len, v) < 0)
        return stop(p, -ENOMEM, "out of memory");
    return 1;
}

static int scalar(struct picker *p, json_t *(*make)(const void *, size_t), const void *s, size_t n)
{
    const struct json_pick *pick;

    if (!next_kept(p, &pick))
        return 1;
    return attach(p, make(s, n));
}

static json_t *make_null(const void *s, size_t n)
{
    (void)s, (void)n;
    return json_null();
}

static json_t *make_string(const void *s, size_t n)
{
    return json_stringn_nocheck(s, n); /* yajl has checked the UTF-8 */
}

static json_t *make_number(const void *s, size_t n)
{
    char buf[64];
    char *end;

    if (n >= sizeof(buf))
        return json_real(0); /* kept as a number; no reader takes one this long */
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (strpbrk(buf, ".eE") == NULL) {
        errno = 0;
        long long v = strtoll(buf, &end, 10);
        if (errno == 0 && *end == '\0')
            return json_integer((json_int_t)v);
    }
    return json_real(strtod(buf, NULL));
}

static int on_null(void *ud)
{
    return scalar(ud, make_null, NULL, 0);
}

static int on_bool(void *ud, int v)
{
    struct picker *p = ud;
    const struct json_pick *pick;

    if (!next_kept(p, &pick))
        return 1;
    return attach(p, json_boolean(v));
}

static int on_number(void *ud, const char *s, size_t n)
{
    return scalar(ud, make_number, s, n);
}

/* A NUL in s, which is \u0000 in the text: yajl refuses a raw control
 * character in a string, and hands on a string without escapes as the
 * bytes of the document, so only a string it decoded (elsewhere) is looked
 * through. */
static bool has_nul(const struct picker *p, const unsigned char *s, size_t n)
{
    uintptr_t a = (uintptr_t)s;

    if (a >= p->text_lo && a <= p->text_hi && n <= p->text_hi - a)
        return false;
    return memchr(s, '\0', n) != NULL;
}

static int on_string(void *ud, const unsigned char *s, size_t n)
{
    if (has_nul(ud, s, n))
        return stop(ud, -EINVAL, "\\u0000 is not allowed");
    return scalar(ud, make_string, s, n);
}

static int open_compound(struct picker *p, json_t *(*make)(void))
{
    const struct json_pick *pick;
    json_t *v;

    if (p->depth + p->skip == PICK_MAX_DEPTH) /* skipped or kept alike */
        return stop(p, -EINVAL, "nesting deeper than %d", PICK_MAX_DEPTH);
    if (!next_kept(p, &pick)) {
        p->skip++;
        return 1;
    }
    if (p->depth == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct frame *st = realloc(p->st, cap * sizeof(*st));
        if (st == NULL)
            return stop(p, -ENOMEM, "out of memory");
        p->st = st;
        p->cap = cap;
    }
    v = make();
    if (!attach(p, v))
        return 0;
    p->st[p->depth].v = v;
    p->st[p->depth].pick = pick;
    p->depth++;
    p->key_kept = false;
    return 1;
}

static int close_compound(struct picker *p)
{
    if (p->skip > 0)
        p->skip--;
    else
        p->depth--;
    return 1;
}

static int on_start_map(void *ud)
{
    return open_compound(ud, json_object);
}

static int on_start_array(void *ud)
{
    return open_compound(ud, json_array);
}

static int on_end(void *ud)
{
    return close_compound(ud);
}

static int on_key(void *ud, const unsigned char *s, size_t n)
{
    struct picker *p = ud;

    if (has_nul(p, s, n))
        return stop(p, -EINVAL, "\\u0000 is not allowed");
    if (p->skip > 0)
        return 1;
    if (p->st[p->depth - 1].pick == NULL) {
        p->key_kept = true;
        p->key_pick = NULL;
    } else {
        p->key_pick = find(p->st[p->depth - 1].pick, s, n, &p->key_kept);
    }
    if (!p->key_kept)
        return 1;
    if (n + 1 > p->key_cap) {
        char *k = realloc(p->key, n + 1);
        if (k == NULL)
            return stop(p, -ENOMEM, "out of memory");
        p->key = k;
        p->key_cap = n + 1;
    }
    memcpy(p->key, s, n);
    p->key[n] = '\0';
    p->key_len = n;
    return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_bool,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_end,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end,
};

/* yajl's own words for a grammar error, on one line. */
static void grammar_error(struct picker *p, yajl_handle h, const char *text, size_t len)
{
    unsigned char *msg = yajl_get_error(h, 0, (const unsigned char *)text, len);
    char *nl;

    stop(p, -EINVAL, "%s", msg ? (const char *)msg : "malformed");
    while ((nl = strchr(p->why, '\n')) != NULL)
        *nl = ' ';
    if (msg != NULL)
        yajl_free_error(h, msg);
}

json_t *json_pick_parse(const char *text, size_t len, const struct json_pick *pick, const char *what,
                        struct enr_error *err)
{
    struct picker p = {.root_pick = pick, .text_lo = (uintptr_t)text, .text_hi = (uintptr_t)text + len};
    yajl_handle h = yajl_alloc(&callbacks, NULL, &p);

    if (h == NULL) {
        err_set(err, -ENOMEM, "%s: out of memory", what);
        return NULL;
    }
    if (yajl_parse(h, (const unsigned char *)text, len) != yajl_status_ok && p.code == 0)
        grammar_error(&p, h, text, len);
    if (p.code == 0 && yajl_complete_parse(h) != yajl_status_ok && p.code == 0)
        grammar_error(&p, h, NULL, 0);
    if (p.code == 0 && p.root == NULL)
        stop(&p, -EINVAL, "no value");
    yajl_free(h);
    free(p.st);
    free(p.key);
    if (p.code != 0) {
        json_decref(p.root);
        if (p.code == -ENOMEM)
            err_set(err, -ENOMEM, "%s: out of memory", what);
        else
            err_set(err, -EINVAL, "%s: bad JSON: %s", what, p.why);
        return NULL;
    }
    return p.root;
}
