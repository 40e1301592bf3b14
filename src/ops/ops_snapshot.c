/* ops_snapshot.c - see ops_snapshot.h. */
#include "ops/ops_snapshot.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef ENR_VERSION
#define ENR_VERSION "unknown"
#endif

/* Prometheus's client libraries' DefBuckets. */
const double ops_snapshot_bucket_bounds[OPS_HISTOGRAM_BOUNDS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                                 0.5,   1,    2.5,   5,    10};

struct ops_hub {
    pthread_mutex_t mu;
    struct ops_snapshot *cur;
    uint64_t (*clock)(void *ud);
    void *clock_ud;
};

static int nomem(struct enr_error *err, const char *what)
{
    return err_set(err, -ENOMEM, "ops snapshot: %s: out of memory", what);
}

static int frozen(struct enr_error *err)
{
    return err_set(err, -EBUSY, "ops snapshot: already published, it cannot change");
}

static char *dup_str(const char *s)
{
    return strdup(s ? s : "");
}

/* A copy with every control character (newline, tab, ...) made a space. */
static char *dup_line(const char *s)
{
    char *d = dup_str(s);
    if (d)
        for (char *p = d; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = ' ';
    return d;
}

static bool grow(void **items, size_t *cap, size_t len, size_t size)
{
    if (len < *cap)
        return true;
    size_t n = *cap ? *cap * 2 : 8;
    void *p = realloc(*items, n * size);
    if (p == NULL)
        return false;
    *items = p;
    *cap = n;
    return true;
}

/* --- counters -------------------------------------------------------------- */

static void count_list_cleanup(struct ops_count_list *l)
{
    for (size_t i = 0; i < l->len; i++) {
        free(l->items[i].a);
        free(l->items[i].b);
    }
    free(l->items);
    memset(l, 0, sizeof(*l));
}

static int count_list_add(struct ops_count_list *l, const char *a, const char *b, uint64_t n)
{
    a = a ? a : "";
    for (size_t i = 0; i < l->len; i++) {
        struct ops_count *c = &l->items[i];
        if (strcmp(c->a, a) == 0 && (b == NULL ? c->b == NULL : c->b != NULL && strcmp(c->b, b) == 0)) {
            c->n += n;
            return 0;
        }
    }
    if (!grow((void **)&l->items, &l->cap, l->len, sizeof(*l->items)))
        return -ENOMEM;
    struct ops_count *c = &l->items[l->len];
    c->a = strdup(a);
    c->b = b ? strdup(b) : NULL;
    c->n = n;
    if (c->a == NULL || (b && c->b == NULL)) {
        free(c->a);
        free(c->b);
        return -ENOMEM;
    }
    l->len++;
    return 0;
}

static int count_list_copy(struct ops_count_list *dst, const struct ops_count_list *src)
{
    for (size_t i = 0; i < src->len; i++)
        if (count_list_add(dst, src->items[i].a, src->items[i].b, src->items[i].n) < 0)
            return -ENOMEM;
    return 0;
}

void ops_snapshot_counters_init(struct ops_counters *c)
{
    memset(c, 0, sizeof(*c));
}

void ops_snapshot_counters_cleanup(struct ops_counters *c)
{
    if (c == NULL)
        return;
    count_list_cleanup(&c->auth_calls);
    count_list_cleanup(&c->auth_errors);
    count_list_cleanup(&c->docker_calls);
    count_list_cleanup(&c->docker_errors);
    memset(c, 0, sizeof(*c));
}

int ops_snapshot_counters_copy(struct ops_counters *dst, const struct ops_counters *src, struct enr_error *err)
{
    struct ops_counters tmp;

    ops_snapshot_counters_init(&tmp);
    tmp.reconcile_passes = src->reconcile_passes;
    tmp.reconcile_full_passes = src->reconcile_full_passes;
    tmp.pass_seconds = src->pass_seconds;
    tmp.docker_events = src->docker_events;
    tmp.rule_errors = src->rule_errors;
    tmp.conflicts = src->conflicts;
    memcpy(tmp.deletes_held, src->deletes_held, sizeof(tmp.deletes_held));
    if (count_list_copy(&tmp.auth_calls, &src->auth_calls) < 0 ||
        count_list_copy(&tmp.auth_errors, &src->auth_errors) < 0 ||
        count_list_copy(&tmp.docker_calls, &src->docker_calls) < 0 ||
        count_list_copy(&tmp.docker_errors, &src->docker_errors) < 0)
        goto fail;
    ops_snapshot_counters_cleanup(dst);
    *dst = tmp;
    return 0;
fail:
    ops_snapshot_counters_cleanup(&tmp);
    return nomem(err, "counters");
}

int ops_snapshot_counters_add_auth(struct ops_counters *c, const char *method, uint64_t n, struct enr_error *err)
{
    if (count_list_add(&c->auth_calls, method, NULL, n) < 0)
        return nomem(err, "auth calls");
    return 0;
}

int ops_snapshot_counters_add_auth_error(struct ops_counters *c, const char *method, int grpc_code, uint64_t n,
                                         struct enr_error *err)
{
    if (count_list_add(&c->auth_errors, method, grpc_code < 0 ? "transport" : err_grpc_name(grpc_code), n) < 0)
        return nomem(err, "auth errors");
    return 0;
}

int ops_snapshot_counters_add_docker(struct ops_counters *c, const char *endpoint, uint64_t n,
                                     struct enr_error *err)
{
    if (count_list_add(&c->docker_calls, endpoint, NULL, n) < 0)
        return nomem(err, "docker calls");
    return 0;
}

int ops_snapshot_counters_add_docker_error(struct ops_counters *c, const char *endpoint, int http_status, uint64_t n,
                                           struct enr_error *err)
{
    char status[16];

    if (http_status <= 0)
        snprintf(status, sizeof(status), "transport");
    else
        snprintf(status, sizeof(status), "%d", http_status);
    if (count_list_add(&c->docker_errors, endpoint, status, n) < 0)
        return nomem(err, "docker errors");
    return 0;
}

void ops_snapshot_histogram_observe(struct ops_histogram *h, double seconds)
{
    size_t i = 0;

    if (!(seconds >= 0)) /* negative or NaN: a clock step, not a duration */
        seconds = 0;
    while (i < OPS_HISTOGRAM_BOUNDS && seconds > ops_snapshot_bucket_bounds[i])
        i++;
    h->buckets[i]++;
    h->count++;
    h->sum += seconds;
}

void ops_snapshot_counters_pass(struct ops_counters *c, double seconds, bool full)
{
    c->reconcile_passes++;
    if (full)
        c->reconcile_full_passes++;
    ops_snapshot_histogram_observe(&c->pass_seconds, seconds);
}

/* --- recent reloads and errors -------------------------------------------- */

void ops_snapshot_recent_init(struct ops_recent *r)
{
    memset(r, 0, sizeof(*r));
}

void ops_snapshot_recent_cleanup(struct ops_recent *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->len; i++)
        free(r->items[i].message);
    memset(r, 0, sizeof(*r));
}

int ops_snapshot_recent_push(struct ops_recent *r, int64_t when, bool ok, const char *message, struct enr_error *err)
{
    char *m = dup_line(message);
    if (m == NULL)
        return nomem(err, "recent");
    if (r->len == OPS_RECENT_MAX) {
        free(r->items[0].message);
        memmove(&r->items[0], &r->items[1], (OPS_RECENT_MAX - 1) * sizeof(r->items[0]));
        r->len--;
    }
    r->items[r->len].when = when;
    r->items[r->len].ok = ok;
    r->items[r->len].message = m;
    r->len++;
    return 0;
}

/* --- the snapshot ------------------------------------------------------------ */

struct ops_snapshot *ops_snapshot_new(struct enr_error *err)
{
    struct ops_snapshot *s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto fail;
    ops_snapshot_counters_init(&s->counters);
    ops_snapshot_recent_init(&s->recent);
    atomic_init(&s->refs, 1);
    s->version = strdup(ENR_VERSION);
    if (s->version == NULL)
        goto fail;
    return s;
fail:
    ops_snapshot_unref(s);
    nomem(err, "new");
    return NULL;
}

static void container_cleanup(struct ops_container *c)
{
    for (size_t i = 0; i < c->n_resources; i++) {
        free(c->resources[i].name);
        free(c->resources[i].message);
    }
    free(c->resources);
    free(c->id);
    free(c->name);
    free(c->image);
    free(c->rule);
}

static void snapshot_free(struct ops_snapshot *s)
{
    for (size_t i = 0; i < s->n_containers; i++)
        container_cleanup(&s->containers[i]);
    free(s->containers);
    ops_snapshot_counters_cleanup(&s->counters);
    ops_snapshot_recent_cleanup(&s->recent);
    free(s->version);
    free(s);
}

void ops_snapshot_unref(struct ops_snapshot *s)
{
    if (s == NULL)
        return;
    /* The last holder frees: acq_rel orders every reader's reads before it. */
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        snapshot_free(s);
}

struct ops_snapshot *ops_snapshot_ref(struct ops_snapshot *s)
{
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

int ops_snapshot_set_version(struct ops_snapshot *s, const char *version, struct enr_error *err)
{
    if (s->frozen)
        return frozen(err);
    char *v = dup_line(version);
    if (v == NULL)
        return nomem(err, "version");
    free(s->version);
    s->version = v;
    return 0;
}

struct ops_container *ops_snapshot_add_container(struct ops_snapshot *s, const char *id, const char *name,
                                                 const char *image, const char *rule, struct enr_error *err)
{
    if (s->frozen) {
        frozen(err);
        return NULL;
    }
    if (!grow((void **)&s->containers, &s->cap_containers, s->n_containers, sizeof(*s->containers)))
        goto fail;
    struct ops_container *c = &s->containers[s->n_containers];
    memset(c, 0, sizeof(*c));
    c->id = dup_str(id);
    c->name = dup_str(name);
    c->image = dup_str(image);
    c->rule = rule && *rule ? strdup(rule) : NULL;
    if (c->id == NULL || c->name == NULL || c->image == NULL || (rule && *rule && c->rule == NULL)) {
        container_cleanup(c);
        goto fail;
    }
    s->n_containers++;
    return c;
fail:
    nomem(err, "container");
    return NULL;
}

int ops_snapshot_add_resource(struct ops_container *c, enum resource_kind kind, const char *name,
                              enum ops_state state, const char *message, enum ops_guard guard,
                              struct enr_error *err)
{
    if ((unsigned)kind >= OPS_KIND_COUNT || (unsigned)state >= OPS_STATE_COUNT ||
        (unsigned)guard >= OPS_GUARD_COUNT)
        return err_set(err, -EINVAL, "ops snapshot: resource %s: kind, state or guard out of range",
                       name ? name : "");
    if (!grow((void **)&c->resources, &c->cap_resources, c->n_resources, sizeof(*c->resources)))
        return nomem(err, "resource");
    struct ops_resource *r = &c->resources[c->n_resources];
    r->kind = kind;
    r->state = state;
    r->guard = guard;
    r->name = dup_str(name);
    r->message = dup_line(message);
    if (r->name == NULL || r->message == NULL) {
        free(r->name);
        free(r->message);
        return nomem(err, "resource");
    }
    c->n_resources++;
    return 0;
}

int ops_snapshot_set_counters(struct ops_snapshot *s, const struct ops_counters *c, struct enr_error *err)
{
    if (s->frozen)
        return frozen(err);
    return ops_snapshot_counters_copy(&s->counters, c, err);
}

int ops_snapshot_set_recent(struct ops_snapshot *s, const struct ops_recent *r, struct enr_error *err)
{
    struct ops_recent tmp;

    if (s->frozen)
        return frozen(err);
    ops_snapshot_recent_init(&tmp);
    for (size_t i = 0; i < r->len; i++)
        if (ops_snapshot_recent_push(&tmp, r->items[i].when, r->items[i].ok, r->items[i].message, err) < 0)
            goto fail;
    ops_snapshot_recent_cleanup(&s->recent);
    s->recent = tmp;
    return 0;
fail:
    ops_snapshot_recent_cleanup(&tmp);
    return -ENOMEM;
}

int ops_snapshot_set_writes(struct ops_snapshot *s, const struct ops_writes *w)
{
    if (s->frozen)
        return -EBUSY;
    s->writes = *w;
    return 0;
}

int ops_snapshot_set_identity_expiry(struct ops_snapshot *s, int64_t expires)
{
    if (s->frozen)
        return -EBUSY;
    s->identity_expires = expires;
    return 0;
}

int ops_snapshot_set_last_sync(struct ops_snapshot *s, int64_t when)
{
    if (s->frozen)
        return -EBUSY;
    s->last_sync = when;
    return 0;
}

int ops_snapshot_set_connected(struct ops_snapshot *s, bool docker, bool auth)
{
    if (s->frozen)
        return -EBUSY;
    s->docker_connected = docker;
    s->auth_connected = auth;
    return 0;
}

int ops_snapshot_set_first_sync_complete(struct ops_snapshot *s, bool done)
{
    if (s->frozen)
        return -EBUSY;
    s->first_sync_complete = done;
    return 0;
}

size_t ops_snapshot_count_resources(const struct ops_snapshot *s, enum resource_kind kind, enum ops_state state)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n_containers; i++)
        for (size_t j = 0; j < s->containers[i].n_resources; j++)
            if (s->containers[i].resources[j].kind == kind && s->containers[i].resources[j].state == state)
                n++;
    return n;
}

/* --- the hub ------------------------------------------------------------------ */

static uint64_t monotonic_ms(void *ud)
{
    struct timespec ts;

    (void)ud;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct ops_hub *ops_snapshot_hub_new(struct enr_error *err)
{
    struct ops_hub *hub = calloc(1, sizeof(*hub));
    if (hub == NULL) {
        nomem(err, "hub");
        return NULL;
    }
    int rc = pthread_mutex_init(&hub->mu, NULL);
    if (rc != 0) {
        free(hub);
        err_set(err, -rc, "ops snapshot: hub mutex: %s", strerror(rc));
        return NULL;
    }
    hub->clock = monotonic_ms;
    return hub;
}

void ops_snapshot_hub_free(struct ops_hub *hub)
{
    if (hub == NULL)
        return;
    ops_snapshot_unref(hub->cur);
    pthread_mutex_destroy(&hub->mu);
    free(hub);
}

void ops_snapshot_hub_set_clock(struct ops_hub *hub, uint64_t (*fn)(void *ud), void *ud)
{
    pthread_mutex_lock(&hub->mu);
    hub->clock = fn ? fn : monotonic_ms;
    hub->clock_ud = fn ? ud : NULL;
    pthread_mutex_unlock(&hub->mu);
}

uint64_t ops_snapshot_hub_now_ms(struct ops_hub *hub)
{
    pthread_mutex_lock(&hub->mu);
    uint64_t (*fn)(void *) = hub->clock;
    void *ud = hub->clock_ud;
    pthread_mutex_unlock(&hub->mu);
    return fn(ud);
}

void ops_snapshot_publish(struct ops_hub *hub, struct ops_snapshot *s)
{
    struct ops_snapshot *old;

    s->frozen = true;
    s->published_ms = ops_snapshot_hub_now_ms(hub);
    /* The mutex orders the writes above before any reader's get. */
    pthread_mutex_lock(&hub->mu);
    old = hub->cur;
    hub->cur = s;
    pthread_mutex_unlock(&hub->mu);
    ops_snapshot_unref(old);
}

struct ops_snapshot *ops_snapshot_get(struct ops_hub *hub)
{
    pthread_mutex_lock(&hub->mu);
    struct ops_snapshot *s = ops_snapshot_ref(hub->cur);
    pthread_mutex_unlock(&hub->mu);
    return s;
}

const char *ops_snapshot_state_name(enum ops_state state)
{
    static const char *const names[OPS_STATE_COUNT] = {"registered", "conflict", "error", "waiting", "held"};
    return (unsigned)state < OPS_STATE_COUNT ? names[state] : "unknown";
}

const char *ops_snapshot_guard_name(enum ops_guard guard)
{
    static const char *const names[OPS_GUARD_COUNT] = {"", "grace", "max_deletes", "incomplete_input", "policy"};
    return (unsigned)guard < OPS_GUARD_COUNT ? names[guard] : "";
}

const char *ops_snapshot_kind_name(enum resource_kind kind)
{
    return kind == RESOURCE_DB ? "db" : "app";
}
