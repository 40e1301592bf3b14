/*
 * planner.h - the pure heart of enroller: desired set + Teleport's view +
 * what we know to be incomplete  ->  a plan of creates, updates, deletes,
 * conflicts and skips, each with a reason.
 *
 * No I/O, no clock, no globals: every safety promise is a table-driven unit
 * test of planner_plan() (spec/c/test_planner.c), and `enroller plan` prints
 * exactly what it returns.  The shape follows Teleport's own
 * lib/services/reconciler.go: compare by name, act only on what we own.
 *
 * The promises:
 *   - an app without our owner label is never updated or deleted, even with
 *     the name we want (CONFLICT);
 *   - nothing is deleted when the Docker listing or the Teleport listing is
 *     incomplete, nor when the container that produced it is "unknown"
 *     (its inspect or its rules failed);
 *   - a name wanted by several containers has one deterministic winner
 *     (lowest container name, then id) and the others are CONFLICTs;
 *   - an update is planned only when a field enroller manages differs;
 *   - a container gone for less than the grace period keeps its apps;
 *   - a pass that would delete more than the cap deletes nothing, and so
 *     does one that would take the deletions within the window above it;
 *   - upsert-only never deletes, create-only never updates or deletes.
 */
#ifndef ENR_PLANNER_H
#define ENR_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "model/resource.h"

#define PLANNER_LABEL_OWNER "enroller.dev/owner"
#define PLANNER_LABEL_CONTAINER "enroller.dev/container"
#define PLANNER_LABEL_RULE "enroller.dev/rule"

enum plan_op { PLAN_CREATE = 0, PLAN_UPDATE, PLAN_DELETE, PLAN_CONFLICT, PLAN_SKIP };

/* sync: create, update, delete.  upsert-only: never delete.  create-only:
 * never update or delete (external-dns's policies). */
enum planner_policy { PLANNER_SYNC = 0, PLANNER_UPSERT_ONLY, PLANNER_CREATE_ONLY };

/* The guard rail that turned an owned app's deletion into a SKIP. */
enum plan_guard {
    PLAN_GUARD_NONE = 0,
    PLAN_GUARD_GRACE,        /* its container is gone for less than the grace period */
    PLAN_GUARD_CAP,          /* the pass would delete more than the deletion cap */
    PLAN_GUARD_INCOMPLETE,   /* a listing failed, or the container's inspect or rules did */
    PLAN_GUARD_POLICY,       /* upsert-only or create-only */
};

struct plan_action {
    enum plan_op op;
    enum plan_guard guard;   /* SKIP of a deletion: which guard rail held it; else NONE */
    const char *name;          /* res.name (its kind is res.kind), interned */
    const char *reason;        /* one line, at most 255 bytes, interned (base/intern.h) */
    /* CREATE/UPDATE: the resource to write (revision = Teleport's for UPDATE);
     * DELETE: Teleport's copy; CONFLICT/SKIP: the desired or owned copy. */
    struct resource res;
};

struct plan {
    struct plan_action *actions;
    size_t len, cap;
    size_t n[PLAN_SKIP + 1]; /* count per op */
    bool deletes_capped;     /* deletions were held back by the deletion cap */
    size_t capped_deletes;   /* how many */
    bool window_capped;      /* ...because of the deletions made within the window */
    size_t window_deletes;   /* those deletions (recent_deletes) */
    size_t owned;            /* owned apps in the Teleport view */
};

/* A resource or container the planner must leave alone this pass, and why.
 * For held resources name is the resource's key (planner_key). */
struct planner_hold {
    const char *name;
    const char *reason;       /* "a write for this name is in flight", "retrying in 4s after: ..." */
};

/* A container gone for less than the grace period, or pinned.  Its reason
 * is worded only for an app the planner holds by it: a pass meets many
 * gone containers and words few reasons. */
struct planner_gone {
    const char *name;
    uint64_t gone_ms;         /* how long it has been gone */
    bool pinned;              /* it died as Docker's event stream ended: held until Docker lists again */
};

struct planner_input {
    const char *owner;                 /* our owner id */
    const struct resource *const *desired; /* labels already include owner/container/rule */
    size_t n_desired;
    const struct resource *const *teleport; /* every app Teleport showed us, owned or not */
    size_t n_teleport;
    bool docker_complete;              /* the container table reflects a complete listing */
    bool teleport_complete;            /* the Teleport listing succeeded */
    /* Names of containers whose inspect or rules failed: what they would
     * produce is unknown, so their owned apps are not deleted. */
    const char *const *unknown_containers;
    size_t n_unknown_containers;
    /* App names left alone this pass (write in flight, retry backoff). */
    const struct planner_hold *held_names;
    size_t n_held_names;
    /* Containers gone for less than the grace period, or pinned: their
     * apps stay. */
    const struct planner_gone *grace_containers;
    size_t n_grace_containers;
    unsigned grace_sec;                /* the period, for the reason's words */

    enum planner_policy policy;
    bool adopt;                        /* an unowned app with a wanted name is taken over */
    /* Deletion cap: a pass that would delete more than max_deletes apps (0:
     * no count cap), or more than max_delete_percent of the owned apps when
     * that is more than PLANNER_CAP_FLOOR apps, deletes none of them. */
    unsigned max_deletes;
    unsigned max_delete_percent;       /* 0: no percentage cap */
    bool deletes_approved;             /* the operator approved this pass's deletions */
    /* The cap also holds over a sliding window: deletions made within the
     * last window_sec seconds (recent_deletes, counted by the caller) plus
     * this pass's may not exceed max_deletes (0 window_sec: per pass only). */
    size_t recent_deletes;
    unsigned window_sec;
    /* A pass over some names only: desired and teleport hold every desired
     * app and Teleport's copy for each of those names, and owned_total is
     * the number of owned apps in the whole view (the deletion cap's share
     * is of all of them, not of the names in the pass). */
    bool subset;
    size_t owned_total;
    /* Lease: desired apps carry Metadata.Expires = now + lease_sec; an owned
     * app whose expiry is less than half a lease away is refreshed. */
    int64_t now;                       /* unix seconds; only read when lease_sec > 0 */
    unsigned lease_sec;
};

#define PLANNER_CAP_FLOOR 5

/* Names are per kind in Teleport: an app and a database may share one.  The
 * reconciler's maps (view, executor, container index, touched names) are
 * keyed by planner_key: an app's name itself, a database's "db/<name>" ('/'
 * is in no valid name, so the two never collide).  buf holds the key when it
 * is not the name; a longer name is cut to fit (Teleport's names are DNS
 * labels, far shorter). */
#define PLANNER_KEY_MAX 320
const char *planner_key(enum resource_kind kind, const char *name, char buf[PLANNER_KEY_MAX]);
/* The kind and name a key stands for (the name points into key). */
const char *planner_key_name(const char *key, enum resource_kind *kind);
/* "app" or "database", for messages. */
const char *planner_kind_word(enum resource_kind kind);

/* r carries owner's label PLANNER_LABEL_OWNER: enroller instance owner
 * wrote it and may change or delete it. */
bool planner_owned(const struct resource *r, const char *owner);

/* An owned resource's lease is due for a refresh: lease_sec > 0 and its
 * expiry is less than half a lease away from now (unix seconds), or it has
 * none.  Exactly half a lease left is not due yet. */
bool planner_lease_due(const struct resource *t, int64_t now, unsigned lease_sec);

void plan_init(struct plan *p);
void plan_cleanup(struct plan *p);

/* Fills p (which must be plan_init'ed).  Actions are sorted by kind (apps
 * first), name, then op.
 * Fails only on ENOMEM. */
int planner_plan(const struct planner_input *in, struct plan *p, struct enr_error *err);

const char *plan_op_name(enum plan_op op);

#endif
