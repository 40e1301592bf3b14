/*
 * grace.h - the grace period: a container gone for less than grace seconds
 * keeps its apps (a restart or a redeploy under the same name does not
 * delete and re-create them).  Pure bookkeeping on loop times; the
 * reconciler arms its timer for the next expiry.
 */
#ifndef ENR_GRACE_H
#define ENR_GRACE_H

#include <stddef.h>
#include <stdint.h>

#include "base/strmap.h"
#include "reconcile/planner.h"

#define GRACE_REASON_LEN 96

struct grace {
    unsigned sec;                  /* 0: no grace period */
    struct strmap gone;            /* container name -> loop time (ms) it went, malloc'd uint64_t */
    struct planner_hold *holds;    /* the last grace_holds answer */
    char (*reasons)[GRACE_REASON_LEN];
    size_t cap;
};

void grace_init(struct grace *g, unsigned sec);
void grace_cleanup(struct grace *g);
/* The container called name went away at now_ms (the first time counts). */
void grace_gone(struct grace *g, const char *name, uint64_t now_ms);
/* It is back: its period ends. */
void grace_back(struct grace *g, const char *name);
/* The containers still within their period at now_ms, as planner holds
 * (valid until the next call); expired ones are forgotten.  *next_ms is the
 * loop time of the next expiry (UINT64_MAX: none).  -ENOMEM or 0. */
int grace_holds(struct grace *g, uint64_t now_ms, const struct planner_hold **out, size_t *n, uint64_t *next_ms);

#endif
