/* resource.c - see resource.h. */
#include "model/resource.h"
#include "base/hash.h"
#include "base/intern.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int resource_set_str(const char **field, const char *value)
{
    const char *v = intern_get(value);
    if (v == NULL)
        return -ENOMEM;
    intern_put(*field);
    *field = v;
    return 0;
}

/* *field = another reference to src's interned string. */
static void share_str(const char **field, const char *src)
{
    intern_put(*field);
    *field = intern_ref(src);
}

int resource_strv_push(struct resource_strv *l, const char *s)
{
    char *copy = strdup(s ? s : "");
    char **v = copy ? realloc(l->v, (l->n + 1) * sizeof(*v)) : NULL;
    if (v == NULL) {
        free(copy);
        return -ENOMEM;
    }
    v[l->n++] = copy;
    l->v = v;
    return 0;
}

void resource_strv_cleanup(struct resource_strv *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int strv_copy(struct resource_strv *dst, const struct resource_strv *src)
{
    for (size_t i = 0; i < src->n; i++)
        if (resource_strv_push(dst, src->v[i]) < 0)
            return -ENOMEM;
    return 0;
}

static bool strv_same(const struct resource_strv *a, const struct resource_strv *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}

bool resource_cors_set(const struct resource_cors *c)
{
    return c->allowed_origins.n || c->allowed_methods.n || c->allowed_headers.n || c->exposed_headers.n ||
           c->allow_credentials || c->max_age;
}

static void cors_cleanup(struct resource_cors *c)
{
    resource_strv_cleanup(&c->allowed_origins);
    resource_strv_cleanup(&c->allowed_methods);
    resource_strv_cleanup(&c->allowed_headers);
    resource_strv_cleanup(&c->exposed_headers);
}

/* ---- the rarely set options ---------------------------------------------- */

static const struct resource_opts no_opts = {.rewrite_jwt_claims = ""};

const struct resource_opts *resource_opts(const struct resource *r)
{
    return r->opts != NULL ? r->opts : &no_opts;
}

static void opts_free(struct resource_opts *o)
{
    if (o == NULL)
        return;
    for (size_t i = 0; i < o->n_rewrite_redirect; i++)
        free(o->rewrite_redirect[i]);
    free(o->rewrite_redirect);
    for (size_t i = 0; i < o->n_rewrite_headers; i++) {
        free(o->rewrite_headers[i].name);
        free(o->rewrite_headers[i].value);
    }
    free(o->rewrite_headers);
    intern_put(o->rewrite_jwt_claims);
    resource_strv_cleanup(&o->required_apps);
    cors_cleanup(&o->cors);
    free(o->tcp_ports);
    free(o);
}

/* Empty options (jwt_claims an interned ""); NULL on ENOMEM. */
static struct resource_opts *opts_new(void)
{
    struct resource_opts *o = calloc(1, sizeof(*o));

    if (o != NULL && (o->rewrite_jwt_claims = intern_get("")) == NULL) {
        free(o);
        o = NULL;
    }
    return o;
}

struct resource_opts *resource_opts_mut(struct resource *r)
{
    if (r->opts == NULL)
        r->opts = opts_new();
    return r->opts;
}

static bool opts_set(const struct resource_opts *o)
{
    return o->n_rewrite_redirect || o->n_rewrite_headers || o->rewrite_jwt_claims[0] || o->required_apps.n ||
           resource_cors_set(&o->cors) || o->n_tcp_ports || o->use_any_proxy_public_addr;
}

void resource_opts_trim(struct resource *r)
{
    if (r->opts != NULL && !opts_set(r->opts)) {
        opts_free(r->opts);
        r->opts = NULL;
    }
}

static struct resource_opts *opts_copy(const struct resource_opts *src)
{
    struct resource_opts *dst = opts_new();

    if (dst == NULL)
        return NULL;
    dst->use_any_proxy_public_addr = src->use_any_proxy_public_addr;
    dst->cors.allow_credentials = src->cors.allow_credentials;
    dst->cors.max_age = src->cors.max_age;
    share_str(&dst->rewrite_jwt_claims, src->rewrite_jwt_claims);
    if (strv_copy(&dst->required_apps, &src->required_apps) < 0 ||
        strv_copy(&dst->cors.allowed_origins, &src->cors.allowed_origins) < 0 ||
        strv_copy(&dst->cors.allowed_methods, &src->cors.allowed_methods) < 0 ||
        strv_copy(&dst->cors.allowed_headers, &src->cors.allowed_headers) < 0 ||
        strv_copy(&dst->cors.exposed_headers, &src->cors.exposed_headers) < 0)
        goto fail;
    if (src->n_tcp_ports > 0) {
        if ((dst->tcp_ports = calloc(src->n_tcp_ports, sizeof(*dst->tcp_ports))) == NULL)
            goto fail;
        memcpy(dst->tcp_ports, src->tcp_ports, src->n_tcp_ports * sizeof(*dst->tcp_ports));
        dst->n_tcp_ports = src->n_tcp_ports;
    }
    if (src->n_rewrite_redirect > 0) {
        dst->rewrite_redirect = calloc(src->n_rewrite_redirect, sizeof(char *));
        if (dst->rewrite_redirect == NULL)
            goto fail;
        for (size_t i = 0; i < src->n_rewrite_redirect; i++) {
            if ((dst->rewrite_redirect[i] = strdup(src->rewrite_redirect[i])) == NULL)
                goto fail;
            dst->n_rewrite_redirect = i + 1;
        }
    }
    if (src->n_rewrite_headers > 0) {
        dst->rewrite_headers = calloc(src->n_rewrite_headers, sizeof(*dst->rewrite_headers));
        if (dst->rewrite_headers == NULL)
            goto fail;
        for (size_t i = 0; i < src->n_rewrite_headers; i++) {
            dst->n_rewrite_headers = i + 1;
            if ((dst->rewrite_headers[i].name = strdup(src->rewrite_headers[i].name)) == NULL ||
                (dst->rewrite_headers[i].value = strdup(src->rewrite_headers[i].value)) == NULL)
                goto fail;
        }
    }
    return dst;
fail:
    opts_free(dst);
    return NULL;
}

/* ---- resources ------------------------------------------------------------- */

int resource_init(struct resource *r)
{
    memset(r, 0, sizeof(*r));
    kv_init(&r->labels);
    if (resource_set_str(&r->name, "") < 0 || resource_set_str(&r->description, "") < 0 ||
        resource_set_str(&r->uri, "") < 0 || resource_set_str(&r->public_addr, "") < 0 ||
        resource_set_str(&r->protocol, "") < 0 || resource_set_str(&r->revision, "") < 0 ||
        resource_set_str(&r->rule, "") < 0 || resource_set_str(&r->container_id, "") < 0) {
        resource_cleanup(r);
        return -ENOMEM;
    }
    return 0;
}

void resource_cleanup(struct resource *r)
{
    if (r == NULL)
        return;
    intern_put(r->name);
    intern_put(r->description);
    kv_cleanup(&r->labels);
    intern_put(r->uri);
    intern_put(r->public_addr);
    opts_free(r->opts);
    intern_put(r->protocol);
    intern_put(r->revision);
    intern_put(r->rule);
    intern_put(r->container_id);
    memset(r, 0, sizeof(*r));
}

int resource_copy(struct resource *dst, const struct resource *src)
{
    if (resource_init(dst) < 0)
        return -ENOMEM;
    dst->kind = src->kind;
    dst->insecure_skip_verify = src->insecure_skip_verify;
    dst->expires = src->expires;
    kv_cleanup(&dst->labels);
    share_str(&dst->name, src->name);
    share_str(&dst->description, src->description);
    share_str(&dst->uri, src->uri);
    share_str(&dst->public_addr, src->public_addr);
    share_str(&dst->protocol, src->protocol);
    share_str(&dst->revision, src->revision);
    share_str(&dst->rule, src->rule);
    share_str(&dst->container_id, src->container_id);
    if (kv_copy(&dst->labels, &src->labels) < 0 ||
        (src->opts != NULL && (dst->opts = opts_copy(src->opts)) == NULL))
        goto fail;
    return 0;
fail:
    resource_cleanup(dst);
    return -ENOMEM;
}

/* Labels Teleport writes itself (the origin label, internal labels): not
 * ours to compare (compare only what enroller manages). */
static bool server_label(const char *key)
{
    return strcmp(key, "teleport.dev/origin") == 0 || strncmp(key, "teleport.internal/", 18) == 0;
}

static bool labels_same(const struct kv_list *a, const struct kv_list *b)
{
    size_t i = 0, j = 0;
    for (;;) {
        while (i < a->len && server_label(a->items[i].key))
            i++;
        while (j < b->len && server_label(b->items[j].key))
            j++;
        if (i == a->len || j == b->len)
            return i == a->len && j == b->len;
        if (strcmp(a->items[i].key, b->items[j].key) != 0 ||
            strcmp(a->items[i].value, b->items[j].value) != 0)
            return false;
        i++;
        j++;
    }
}

bool resource_same_managed(const struct resource *a, const struct resource *b)
{
    const struct resource_opts *x = resource_opts(a), *y = resource_opts(b);

    if (a->kind != b->kind || strcmp(a->name, b->name) != 0 ||
        strcmp(a->description, b->description) != 0 || strcmp(a->uri, b->uri) != 0 ||
        strcmp(a->public_addr, b->public_addr) != 0 || strcmp(a->protocol, b->protocol) != 0 ||
        a->insecure_skip_verify != b->insecure_skip_verify || !labels_same(&a->labels, &b->labels) ||
        x->n_rewrite_redirect != y->n_rewrite_redirect ||
        x->n_rewrite_headers != y->n_rewrite_headers || strcmp(x->rewrite_jwt_claims, y->rewrite_jwt_claims) != 0 ||
        x->use_any_proxy_public_addr != y->use_any_proxy_public_addr ||
        !strv_same(&x->required_apps, &y->required_apps) ||
        !strv_same(&x->cors.allowed_origins, &y->cors.allowed_origins) ||
        !strv_same(&x->cors.allowed_methods, &y->cors.allowed_methods) ||
        !strv_same(&x->cors.allowed_headers, &y->cors.allowed_headers) ||
        !strv_same(&x->cors.exposed_headers, &y->cors.exposed_headers) ||
        x->cors.allow_credentials != y->cors.allow_credentials || x->cors.max_age != y->cors.max_age ||
        x->n_tcp_ports != y->n_tcp_ports)
        return false;
    for (size_t i = 0; i < x->n_tcp_ports; i++)
        if (x->tcp_ports[i].port != y->tcp_ports[i].port || x->tcp_ports[i].end_port != y->tcp_ports[i].end_port)
            return false;
    for (size_t i = 0; i < x->n_rewrite_redirect; i++)
        if (strcmp(x->rewrite_redirect[i], y->rewrite_redirect[i]) != 0)
            return false;
    for (size_t i = 0; i < x->n_rewrite_headers; i++)
        if (strcmp(x->rewrite_headers[i].name, y->rewrite_headers[i].name) != 0 ||
            strcmp(x->rewrite_headers[i].value, y->rewrite_headers[i].value) != 0)
            return false;
    return true;
}

static uint64_t mix(uint64_t h, const char *s)
{
    return hash64_str(h, s);
}

static uint64_t mix_strv(uint64_t h, const char *tag, const struct resource_strv *l)
{
    h = hash64_u64(mix(h, tag), l->n);
    for (size_t i = 0; i < l->n; i++)
        h = mix(h, l->v[i]);
    return h;
}

uint64_t resource_managed_hash(const struct resource *r)
{
    const struct resource_opts *o = resource_opts(r);
    uint64_t h = HASH_INIT;

    h = mix(h, r->kind == RESOURCE_DB ? "db" : "app");
    h = mix(h, r->name);
    h = mix(h, r->description);
    h = mix(h, r->uri);
    h = mix(h, r->public_addr);
    h = mix(h, r->protocol);
    h = mix(h, r->insecure_skip_verify ? "1" : "0");
    for (size_t i = 0; i < r->labels.len; i++)
        if (!server_label(r->labels.items[i].key)) {
            h = mix(h, r->labels.items[i].key);
            h = mix(h, r->labels.items[i].value);
        }
    for (size_t i = 0; i < o->n_rewrite_redirect; i++)
        h = mix(h, o->rewrite_redirect[i]);
    for (size_t i = 0; i < o->n_rewrite_headers; i++) {
        h = mix(h, o->rewrite_headers[i].name);
        h = mix(h, o->rewrite_headers[i].value);
    }
    /* Fields added later mix in only when set. */
    if (o->rewrite_jwt_claims[0]) {
        h = mix(h, "jwt_claims");
        h = mix(h, o->rewrite_jwt_claims);
    }
    if (o->use_any_proxy_public_addr)
        h = mix(h, "use_any_proxy_public_addr");
    if (o->required_apps.n)
        h = mix_strv(h, "required_apps", &o->required_apps);
    if (resource_cors_set(&o->cors)) {
        char n[64];
        h = mix_strv(h, "cors.origins", &o->cors.allowed_origins);
        h = mix_strv(h, "cors.methods", &o->cors.allowed_methods);
        h = mix_strv(h, "cors.headers", &o->cors.allowed_headers);
        h = mix_strv(h, "cors.exposed", &o->cors.exposed_headers);
        snprintf(n, sizeof(n), "cors.%d.%u", o->cors.allow_credentials ? 1 : 0, (unsigned)o->cors.max_age);
        h = mix(h, n);
    }
    for (size_t i = 0; i < o->n_tcp_ports; i++) {
        char n[48];
        snprintf(n, sizeof(n), "tcp:%u-%u", (unsigned)o->tcp_ports[i].port, (unsigned)o->tcp_ports[i].end_port);
        h = mix(h, n);
    }
    return h;
}

void resource_list_init(struct resource_list *l)
{
    l->items = NULL;
    l->len = l->cap = 0;
}

void resource_list_cleanup(struct resource_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->len; i++)
        resource_cleanup(&l->items[i]);
    free(l->items);
    resource_list_init(l);
}

static int grow(struct resource_list *l)
{
    if (l->len < l->cap)
        return 0;
    /* Most containers want one app: start small, double. */
    size_t cap = l->cap ? l->cap * 2 : 1;
    struct resource *n = realloc(l->items, cap * sizeof(*n));
    if (n == NULL)
        return -ENOMEM;
    l->items = n;
    l->cap = cap;
    return 0;
}

struct resource *resource_list_push(struct resource_list *l)
{
    if (grow(l) < 0 || resource_init(&l->items[l->len]) < 0)
        return NULL;
    return &l->items[l->len++];
}

int resource_list_take(struct resource_list *l, struct resource *r)
{
    if (grow(l) < 0)
        return -ENOMEM;
    l->items[l->len++] = *r;
    memset(r, 0, sizeof(*r));
    return 0;
}

struct resource_ref *resource_ref_new(const struct resource *src)
{
    struct resource_ref *ref = calloc(1, sizeof(*ref));

    if (ref == NULL || resource_copy(&ref->res, src) < 0) {
        free(ref);
        return NULL;
    }
    ref->refs = 1;
    return ref;
}

struct resource_ref *resource_ref_take(struct resource *src)
{
    struct resource_ref *ref = calloc(1, sizeof(*ref));

    if (ref == NULL)
        return NULL;
    ref->res = *src;
    memset(src, 0, sizeof(*src));
    ref->refs = 1;
    return ref;
}

struct resource_ref *resource_ref_hold(struct resource_ref *ref)
{
    ref->refs++;
    return ref;
}

void resource_ref_put(struct resource_ref *ref)
{
    if (ref == NULL || --ref->refs > 0)
        return;
    resource_cleanup(&ref->res);
    free(ref);
}
