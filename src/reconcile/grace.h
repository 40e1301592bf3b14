/*
 * grace.h - the grace period: a container gone for less than grace seconds
 * keeps its apps (a restart or a redeploy under the same name does not
 * delete and re-create them).  Pure bookkeeping on loop times; the
 * reconciler arms its timer for the next expiry.  Each container keeps the
 * planner keys of the apps it had, so that its expiry plans those names
 * alone, not every name.
 *
 * A container can also be pinned: it died just before Docker's event stream
 * ended (dockerd shutting down stops its containers first), so whether it
 * is really gone is unknown until Docker answers a listing again.  A pinned
 * container keeps its apps whatever its age; grace_unpin restarts its
 * period when a complete listing has come.
 */
#ifndef ENR_GRACE_H
#define ENR_GRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strmap.h"
#include "reconcile/planner.h"

struct grace {
    unsigned sec;                  /* 0: no grace period */
    struct strmap gone;            /* container name -> struct grace_entry (malloc'd) */
    struct planner_gone *holds;    /* the last grace_holds answer */
    size_t cap;
};

struct grace_entry {
    uint64_t at_ms;                /* loop time it went (or its period restarted) */
    bool pinned;                   /* held until grace_unpin, whatever its age */
    bool keys_lost;                /* out of memory when it went: its keys are not known */
    size_t n_keys;
    char *keys;                    /* n_keys planner keys, each ended by a NUL */
};

/* Called with each planner key of a container whose period ended. */
typedef void (*grace_expired_fn)(void *ud, const char *key);

void grace_init(struct grace *g, unsigned sec);
void grace_cleanup(struct grace *g);
/* A new period for the entries to come (a config reload); the running ones
 * are measured against it from now on. */
void grace_set_period(struct grace *g, unsigned sec);
/* The container called name, with these apps, went away at now_ms (the
 * first time counts).  Recorded even with no grace period, so that
 * grace_pin can hold it. */
void grace_gone(struct grace *g, const char *name, uint64_t now_ms, const struct resource_list *apps);
/* It is back: its period ends. */
void grace_back(struct grace *g, const char *name);
/* Pins every container gone at or after since_ms; returns how many are
 * pinned now. */
size_t grace_pin(struct grace *g, uint64_t since_ms);
/* Unpins every pinned container; its period starts again at now_ms.
 * Returns how many were pinned. */
size_t grace_unpin(struct grace *g, uint64_t now_ms);
/* The containers still within their period (or pinned) at now_ms, for the
 * planner (valid until the next call).  Expired ones are forgotten, each
 * after expired(ud, key) for every key of its apps: the pass plans them.
 * Nothing is worded here: a pass may meet every gone container.
 * *next_ms is the loop time of the next expiry (UINT64_MAX: none).  -ENOMEM
 * (nothing forgotten), 1 when an expired container's keys were never known
 * (plan every name), or 0. */
int grace_holds(struct grace *g, uint64_t now_ms, const struct planner_gone **out, size_t *n, uint64_t *next_ms,
                grace_expired_fn expired, void *ud);

#endif
