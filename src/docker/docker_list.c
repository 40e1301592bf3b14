/*
 * docker_list.c - streaming parse of `GET /containers/json` into ids and
 * per-entry hashes (see docker_list.h).  The JSON grammar is yajl's; this
 * file only decides what each token means for the hash.
 */
#include "docker/docker_list.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "base/hash.h"

/* Token tags hashed before each token, so `"a":1` and `"a":"1"` differ. */
enum { TAG_NULL = 'n', TAG_BOOL = 'b', TAG_NUM = '#', TAG_STR = 's', TAG_KEY = 'k', TAG_MAP = '{',
       TAG_END_MAP = '}', TAG_ARR = '[', TAG_END_ARR = ']' };

static int fail(struct docker_list *l, const char *fmt, ...)
{
    va_list ap;

    if (l->err_code == 0) {
        l->err_code = -EPROTO;
        va_start(ap, fmt);
        vsnprintf(l->err_msg, sizeof(l->err_msg), fmt, ap);
        va_end(ap);
    }
    return 0; /* stops yajl: yajl_status_client_canceled */
}

static void mix(struct docker_list *l, char tag, const void *p, size_t n)
{
    l->hash = hash64(l->hash, &tag, 1);
    if (n)
        l->hash = hash64(l->hash, p, n);
}

/* A scalar or the start of a compound value at the current depth: in an
 * entry (depth >= 2) it is hashed unless it is (inside) the Status value. */
static int scalar(struct docker_list *l, char tag, const void *p, size_t n)
{
    if (l->depth == 0)
        return fail(l, "%s: expected a JSON array", l->what);
    if (l->depth == 1)
        return fail(l, "%s: item %zu: not an object", l->what, l->n);
    if (l->want_id) {
        l->want_id = false;
        if (tag != TAG_STR || n == 0)
            return fail(l, "%s: item %zu: Id missing or not a string", l->what, l->n);
        char *id = strndup(p, n);
        if (id == NULL) {
            l->err_code = -ENOMEM;
            snprintf(l->err_msg, sizeof(l->err_msg), "%s: out of memory", l->what);
            return 0;
        }
        l->cur_id = id;
    }
    if (l->want_status_skip) {   /* a scalar Status value: skipped */
        l->want_status_skip = false;
        return 1;
    }
    if (l->skip_from == 0)
        mix(l, tag, p, n);
    return 1;
}

static int on_null(void *ud)
{
    return scalar(ud, TAG_NULL, NULL, 0);
}

static int on_bool(void *ud, int v)
{
    char c = v ? '1' : '0';
    return scalar(ud, TAG_BOOL, &c, 1);
}

static int on_number(void *ud, const char *s, size_t n)
{
    return scalar(ud, TAG_NUM, s, n);
}

static int on_string(void *ud, const unsigned char *s, size_t n)
{
    return scalar(ud, TAG_STR, s, n);
}

static int grow(struct docker_list *l)
{
    size_t cap = l->cap ? l->cap * 2 : 64;
    char **ids;
    uint64_t *hashes;

    if ((ids = realloc(l->ids, cap * sizeof(*ids))) == NULL)
        return -1;
    l->ids = ids;
    if ((hashes = realloc(l->hashes, cap * sizeof(*hashes))) == NULL)
        return -1;
    l->hashes = hashes;
    l->cap = cap;
    return 0;
}

static int open_compound(struct docker_list *l, char tag)
{
    if (l->depth == 0) {
        if (tag != TAG_ARR)
            return fail(l, "%s: expected a JSON array", l->what);
        l->depth = 1;
        return 1;
    }
    if (l->depth == 1) {         /* a new entry */
        if (tag != TAG_MAP)
            return fail(l, "%s: item %zu: not an object", l->what, l->n);
        if (l->n == l->cap && grow(l) < 0) {
            l->err_code = -ENOMEM;
            snprintf(l->err_msg, sizeof(l->err_msg), "%s: out of memory", l->what);
            return 0;
        }
        l->hash = HASH_INIT;
        l->depth = 2;
        return 1;
    }
    if (l->want_id)
        return fail(l, "%s: item %zu: Id missing or not a string", l->what, l->n);
    if (l->want_status_skip) {   /* a compound Status value: skip all of it */
        l->want_status_skip = false;
        l->skip_from = l->depth;
    }
    if (l->skip_from == 0)
        mix(l, tag, NULL, 0);
    l->depth++;
    return 1;
}

static int close_compound(struct docker_list *l, char tag)
{
    l->depth--;
    if (l->depth == 1) {         /* the end of an entry */
        if (l->cur_id == NULL)
            return fail(l, "%s: item %zu: Id missing or not a string", l->what, l->n);
        l->ids[l->n] = l->cur_id;
        l->cur_id = NULL;
        l->hashes[l->n++] = l->hash;
        return 1;
    }
    if (l->depth == 0) {
        l->complete = true;
        return 1;
    }
    if (l->skip_from == 0)
        mix(l, tag, NULL, 0);
    else if (l->depth == l->skip_from)
        l->skip_from = 0;
    return 1;
}

static int on_start_map(void *ud)
{
    return open_compound(ud, TAG_MAP);
}

static int on_end_map(void *ud)
{
    return close_compound(ud, TAG_END_MAP);
}

static int on_start_array(void *ud)
{
    return open_compound(ud, TAG_ARR);
}

static int on_end_array(void *ud)
{
    return close_compound(ud, TAG_END_ARR);
}

static int on_key(void *ud, const unsigned char *s, size_t n)
{
    struct docker_list *l = ud;

    if (l->depth == 2) {
        if (n == 2 && memcmp(s, "Id", 2) == 0) {
            if (l->cur_id != NULL)
                return fail(l, "%s: item %zu: Id given twice", l->what, l->n);
            l->want_id = true;
        } else if (n == 6 && memcmp(s, "Status", 6) == 0) {
            l->want_status_skip = true;
            return 1;            /* neither the key nor its value is hashed */
        }
    }
    if (l->skip_from == 0)
        mix(l, TAG_KEY, s, n);
    return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_bool,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_end_map,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end_array,
};

int docker_list_init(struct docker_list *l, const char *what, struct enr_error *err)
{
    memset(l, 0, sizeof(*l));
    l->what = what;
    if ((l->yajl = yajl_alloc(&callbacks, NULL, l)) == NULL) {
        err_set(err, -ENOMEM, "%s: out of memory", what);
        return -ENOMEM;
    }
    return 0;
}

static int status_error(struct docker_list *l, yajl_status st, const unsigned char *p, size_t n,
                        struct enr_error *err)
{
    if (st == yajl_status_ok)
        return 0;
    if (l->err_code == 0) {
        unsigned char *msg = yajl_get_error(l->yajl, 0, p, n);
        char *nl;

        l->err_code = -EPROTO;
        snprintf(l->err_msg, sizeof(l->err_msg), "%s: expected a JSON array: %s", l->what,
                 msg ? (const char *)msg : "malformed JSON");
        if ((nl = strchr(l->err_msg, '\n')) != NULL)
            *nl = '\0';
        if (msg != NULL)
            yajl_free_error(l->yajl, msg);
    }
    err_set(err, l->err_code, "%s", l->err_msg);
    return l->err_code;
}

int docker_list_feed(struct docker_list *l, const char *p, size_t n, struct enr_error *err)
{
    if (l->err_code) {
        err_set(err, l->err_code, "%s", l->err_msg);
        return l->err_code;
    }
    return status_error(l, yajl_parse(l->yajl, (const unsigned char *)p, n), (const unsigned char *)p, n, err);
}

int docker_list_finish(struct docker_list *l, struct enr_error *err)
{
    if (l->err_code) {
        err_set(err, l->err_code, "%s", l->err_msg);
        return l->err_code;
    }
    if (status_error(l, yajl_complete_parse(l->yajl), NULL, 0, err) < 0)
        return err->code;
    if (!l->complete) {
        err_set(err, -EPROTO, "%s: expected a JSON array", l->what);
        return -EPROTO;
    }
    return 0;
}

void docker_list_cleanup(struct docker_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->ids[i]);
    free(l->cur_id);            /* an entry cut short */
    free(l->ids);
    free(l->hashes);
    if (l->yajl != NULL)
        yajl_free(l->yajl);
    memset(l, 0, sizeof(*l));
}
