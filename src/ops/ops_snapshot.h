/*
 * ops_snapshot.h - what an operator may see of the daemon, as one immutable,
 * reference-counted snapshot that the libuv loop builds and publishes and
 * that other threads (the HTTP listener of ops_http.h) read.
 *
 * The loop side:
 *
 *     struct ops_snapshot *s = ops_snapshot_new(&err);
 *     ops_snapshot_set_connected(s, docker_ok, auth_ok);
 *     struct ops_container *c = ops_snapshot_add_container(s, id, name, image, rule, &err);
 *     ops_snapshot_add_resource(c, RESOURCE_APP, "web", OPS_STATE_REGISTERED, "", OPS_GUARD_NONE, &err);
 *     ops_snapshot_set_counters(s, &loop_counters, &err);
 *     ops_snapshot_set_writes(s, &(struct ops_writes){ .sent = st.sent, ... });   (from executor_get_stats)
 *     ops_snapshot_set_recent(s, &loop_recent, &err);
 *     ops_snapshot_publish(hub, s);          (hands the reference over)
 *
 * A reader thread:
 *
 *     struct ops_snapshot *s = ops_snapshot_get(hub);   (NULL before the first publish)
 *     ... read only ...
 *     ops_snapshot_unref(s);
 *
 * Publishing swaps one pointer under the hub's mutex; a reader holding the
 * previous snapshot keeps it alive until it lets go, so a scrape during a
 * publish reads one whole snapshot.  Once published a snapshot is frozen:
 * the setters refuse it (-EBUSY).
 *
 * Counters are cumulative over the daemon's life, so the loop keeps one
 * struct ops_counters and one struct ops_recent of its own, counts into them
 * as things happen, and copies them into each snapshot.
 *
 * Nothing secret is ever in here: there is no field for a token, a key or a
 * certificate, only names, states, counts, times and one-line messages.
 */
#ifndef ENR_OPS_SNAPSHOT_H
#define ENR_OPS_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "model/resource.h"

/* Where a resource enroller wants stands. */
enum ops_state {
    OPS_STATE_REGISTERED = 0, /* in Teleport as wanted */
    OPS_STATE_CONFLICT,       /* the name is taken (not ours, or another container won) */
    OPS_STATE_ERROR,          /* the last write failed */
    OPS_STATE_WAITING,        /* a write is queued, in flight or backing off */
    OPS_STATE_HELD,           /* a guard rail keeps it (a deletion held back) */
};
#define OPS_STATE_COUNT 5

/* The guard rail that holds a resource or held back a deletion. */
enum ops_guard {
    OPS_GUARD_NONE = 0,
    OPS_GUARD_GRACE,          /* its container is gone for less than the grace period */
    OPS_GUARD_MAX_DELETES,    /* the pass would delete more than the cap */
    OPS_GUARD_INCOMPLETE,     /* the Docker or Teleport listing, or the container's rules, failed */
    OPS_GUARD_POLICY,         /* upsert-only or create-only */
};
#define OPS_GUARD_COUNT 5

#define OPS_KIND_COUNT 2      /* enum resource_kind: RESOURCE_APP, RESOURCE_DB */

/* Pass-duration histogram: upper bounds in seconds (Prometheus's default
 * buckets), the +Inf bucket implied. */
#define OPS_HISTOGRAM_BOUNDS 11
extern const double ops_snapshot_bucket_bounds[OPS_HISTOGRAM_BOUNDS];

/* How many rule reloads and rule errors the snapshot remembers. */
#define OPS_RECENT_MAX 20

struct ops_resource {
    enum resource_kind kind;
    char *name;
    enum ops_state state;
    char *message;            /* one line ("" when none): control characters made spaces */
    enum ops_guard guard;     /* OPS_GUARD_NONE unless state is HELD */
};

struct ops_container {
    char *id;
    char *name;
    char *image;
    char *rule;               /* the rule that matched, NULL when none did */
    struct ops_resource *resources;
    size_t n_resources, cap_resources;
};

struct ops_histogram {
    uint64_t buckets[OPS_HISTOGRAM_BOUNDS + 1]; /* per bucket, not cumulative; last is +Inf */
    uint64_t count;
    double sum;
};

/* A count with one or two label values (b NULL for one). */
struct ops_count {
    char *a;
    char *b;
    uint64_t n;
};

struct ops_count_list {
    struct ops_count *items;  /* in first-seen order */
    size_t len, cap;
};

struct ops_counters {
    uint64_t reconcile_passes;
    uint64_t reconcile_full_passes;      /* of those, the ones that planned every name */
    struct ops_histogram pass_seconds;
    struct ops_count_list auth_calls;    /* a: gRPC method */
    struct ops_count_list auth_errors;   /* a: gRPC method, b: gRPC code name or "transport" */
    struct ops_count_list docker_calls;  /* a: endpoint ("GET /containers/json") */
    struct ops_count_list docker_errors; /* a: endpoint, b: HTTP status or "transport" */
    uint64_t docker_events;
    uint64_t rule_errors;
    uint64_t conflicts;
    uint64_t deletes_held[OPS_GUARD_COUNT]; /* by guard rail; [OPS_GUARD_NONE] unused */
};

struct ops_recent_entry {
    int64_t when;             /* unix seconds */
    bool ok;
    char *message;            /* one line */
};

/* The last OPS_RECENT_MAX rule reloads and rule errors, oldest first. */
struct ops_recent {
    struct ops_recent_entry items[OPS_RECENT_MAX];
    size_t len;
};

/* The executor's writes to Auth, as executor_get_stats counts them
 * (reconcile/executor.h; same field names). */
struct ops_writes {
    uint64_t sent, ok, failed, dropped;   /* cumulative */
    unsigned inflight, queued, backing_off;
    bool circuit_open;
};

struct ops_snapshot {
    /* Build info. */
    char *version;

    struct ops_container *containers;
    size_t n_containers, cap_containers;

    struct ops_counters counters;
    struct ops_writes writes;
    struct ops_recent recent;

    /* Gauges. */
    int64_t identity_expires;  /* unix seconds; 0: unknown */
    int64_t last_sync;         /* unix seconds of the last complete sync; 0: never */
    bool docker_connected;
    bool auth_connected;
    bool first_sync_complete;

    /* Set by ops_snapshot_publish. */
    bool frozen;
    uint64_t published_ms;     /* the hub's clock at publish */
    atomic_int refs;
};

struct ops_hub;

/* --- building (the loop) ------------------------------------------------ */

/* A new snapshot with one reference, the build's version and nothing else. */
struct ops_snapshot *ops_snapshot_new(struct enr_error *err);
void ops_snapshot_unref(struct ops_snapshot *s);   /* NULL is a no-op */
struct ops_snapshot *ops_snapshot_ref(struct ops_snapshot *s);

int ops_snapshot_set_version(struct ops_snapshot *s, const char *version, struct enr_error *err);
/* rule NULL or "": no rule matched.  Returns the container, owned by s, to
 * add resources to; NULL on failure. */
struct ops_container *ops_snapshot_add_container(struct ops_snapshot *s, const char *id, const char *name,
                                                 const char *image, const char *rule, struct enr_error *err);
int ops_snapshot_add_resource(struct ops_container *c, enum resource_kind kind, const char *name,
                              enum ops_state state, const char *message, enum ops_guard guard,
                              struct enr_error *err);
int ops_snapshot_set_counters(struct ops_snapshot *s, const struct ops_counters *c, struct enr_error *err);
int ops_snapshot_set_recent(struct ops_snapshot *s, const struct ops_recent *r, struct enr_error *err);
int ops_snapshot_set_writes(struct ops_snapshot *s, const struct ops_writes *w);
/* expires: unix seconds, 0 unknown. */
int ops_snapshot_set_identity_expiry(struct ops_snapshot *s, int64_t expires);
int ops_snapshot_set_last_sync(struct ops_snapshot *s, int64_t when);
int ops_snapshot_set_connected(struct ops_snapshot *s, bool docker, bool auth);
int ops_snapshot_set_first_sync_complete(struct ops_snapshot *s, bool done);

/* Managed resources of one kind in one state, counted over the containers. */
size_t ops_snapshot_count_resources(const struct ops_snapshot *s, enum resource_kind kind, enum ops_state state);

/* --- the loop's running counters ----------------------------------------- */

void ops_snapshot_counters_init(struct ops_counters *c);
void ops_snapshot_counters_cleanup(struct ops_counters *c);
int ops_snapshot_counters_copy(struct ops_counters *dst, const struct ops_counters *src, struct enr_error *err);
/* n more calls of method; n more errors of method with grpc_code (a gRPC
 * status, negative: no status came back, counted as "transport"). */
int ops_snapshot_counters_add_auth(struct ops_counters *c, const char *method, uint64_t n, struct enr_error *err);
int ops_snapshot_counters_add_auth_error(struct ops_counters *c, const char *method, int grpc_code, uint64_t n,
                                         struct enr_error *err);
/* Likewise for Docker, by endpoint and HTTP status (0: no response, "transport"). */
int ops_snapshot_counters_add_docker(struct ops_counters *c, const char *endpoint, uint64_t n,
                                     struct enr_error *err);
int ops_snapshot_counters_add_docker_error(struct ops_counters *c, const char *endpoint, int http_status, uint64_t n,
                                           struct enr_error *err);
/* One reconcile pass took seconds: counts the pass and observes the duration. */
void ops_snapshot_counters_pass(struct ops_counters *c, double seconds, bool full);
void ops_snapshot_histogram_observe(struct ops_histogram *h, double seconds);

/* --- the loop's recent rule reloads and errors ------------------------------ */

void ops_snapshot_recent_init(struct ops_recent *r);
void ops_snapshot_recent_cleanup(struct ops_recent *r);
/* Appends (copying message, control characters made spaces); the oldest entry
 * goes when OPS_RECENT_MAX are there. */
int ops_snapshot_recent_push(struct ops_recent *r, int64_t when, bool ok, const char *message, struct enr_error *err);

/* --- publishing ------------------------------------------------------------ */

struct ops_hub *ops_snapshot_hub_new(struct enr_error *err);
/* Drops the hub's reference to the current snapshot; readers' own
 * references stay valid.  NULL is a no-op. */
void ops_snapshot_hub_free(struct ops_hub *hub);
/* The hub's clock in milliseconds is CLOCK_MONOTONIC unless set here (tests
 * do); set it before any publish or read. */
void ops_snapshot_hub_set_clock(struct ops_hub *hub, uint64_t (*fn)(void *ud), void *ud);
uint64_t ops_snapshot_hub_now_ms(struct ops_hub *hub);

/* s is not NULL.  Freezes s, stamps it with the hub's clock and makes it current; the
 * caller's reference passes to the hub and the previous snapshot loses the
 * hub's reference. */
void ops_snapshot_publish(struct ops_hub *hub, struct ops_snapshot *s);
/* The current snapshot with a new reference, NULL before the first publish. */
struct ops_snapshot *ops_snapshot_get(struct ops_hub *hub);

const char *ops_snapshot_state_name(enum ops_state state);   /* "registered" ... */
const char *ops_snapshot_guard_name(enum ops_guard guard);   /* "grace", "max_deletes", "incomplete_input", "policy", "" */
const char *ops_snapshot_kind_name(enum resource_kind kind); /* "app", "db" */

#endif
