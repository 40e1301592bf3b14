/*
 * container_table.h - container id -> the running container's snapshot and
 * the rule results cached for it (the rule cache), with two indexes the
 * planning pass reads instead of walking every container:
 *
 *   by key:      which containers want an app or database of that name
 *                (keyed by planner_key: "db/<name>" for a database; a pass over a
 *                few names finds every claimant, so the name's winner and
 *                conflicts are decided as in a full pass);
 *   unknown:     the containers whose inspect or rules failed (their apps
 *                are not deleted).
 *
 * Rule results are recomputed only when the snapshot's hash or the rule
 * set's hash changes: a pass with nothing changed costs hash comparisons.
 * Ordering of Docker's answers (an old inspect must not bring back a removed
 * container) is docker_sync's business; every entry here is running.
 */
#ifndef ENR_CONTAINER_TABLE_H
#define ENR_CONTAINER_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/container.h"
#include "model/resource.h"
#include "rules/rule_loader.h"
#include "base/strmap.h"

struct container_entry {
    const char *id;             /* interned */
    struct container *snap;     /* never NULL */
    uint64_t snap_hash;         /* snapshot the rule results belong to */
    uint64_t rules_hash;        /* rule set they were computed with */
    bool evaluated;
    bool inspect_failed;        /* last inspect failed: state unknown */
    bool rules_failed;          /* last evaluation raised: desired unknown */
    struct resource_list apps;  /* desired apps and databases, with the owner/container/rule labels */
    char *last_error;           /* last rule error logged, to log each once */
};

struct container_table {
    struct strmap map;          /* id -> struct container_entry */
    struct strmap by_app;       /* app name -> struct container_refs */
    struct strmap unknown;      /* id -> struct container_entry (inspect or rules failed) */
    size_t n_apps;              /* desired apps over all entries */
};

void container_table_init(struct container_table *t);
void container_table_cleanup(struct container_table *t);
struct container_entry *container_table_get(const struct container_table *t, const char *id);
/* Makes c (handed over) id's snapshot, adding the entry if new, and clears
 * inspect_failed.  NULL on ENOMEM (c is freed). */
struct container_entry *container_table_put(struct container_table *t, const char *id, struct container *c);
/* Drops the entry and its apps. */
void container_table_remove(struct container_table *t, struct container_entry *e);
/* Its last inspect failed: unknown until the next snapshot. */
void container_table_set_inspect_failed(struct container_table *t, struct container_entry *e);
/* Runs the rules for the entry's snapshot unless the cached results are
 * current, adds the owner/container/rule labels.  On a rule error the old
 * results stay (unknown is not absent), rules_failed is set and the error is
 * logged once per distinct message. */
void container_table_evaluate(struct container_table *t, struct container_entry *e, struct rule_set *rules,
                              const char *owner);

/* Iteration: for (size_t i = 0; container_table_next(t, &i, &e);) ... */
bool container_table_next(const struct container_table *t, size_t *iter, struct container_entry **e);
size_t container_table_size(const struct container_table *t);
size_t container_table_n_apps(const struct container_table *t);
/* The entries wanting the resource with key name (planner_key; each once); *n how many. */
struct container_entry *const *container_table_wanting(const struct container_table *t, const char *name,
                                                       size_t *n);
/* Every key (planner_key) some entry wants, each once. */
bool container_table_next_name(const struct container_table *t, size_t *iter, const char **name);
/* Entries in an unknown state (inspect or rules failed). */
bool container_table_next_unknown(const struct container_table *t, size_t *iter, struct container_entry **e);

#endif
