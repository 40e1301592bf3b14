/*
 * container_table.h - container id -> the container's snapshot and the rule
 * results cached for it (the rule cache).
 *
 * An entry whose snap is NULL is a tombstone: it remembers the sequence
 * number of a removal, so that an inspect answer asked for before the
 * removal cannot bring the container back.  Rule results are recomputed only
 * when the snapshot's hash or the rule set's hash changes: a pass with
 * nothing changed costs hash comparisons.
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
    char *id;
    struct container *snap;     /* NULL: tombstone */
    uint64_t seq;               /* sequence of the inspect or removal applied */
    uint64_t snap_hash;         /* snapshot the rule results belong to */
    uint64_t rules_hash;        /* rule set they were computed with */
    bool evaluated;
    bool inspect_failed;        /* last inspect failed: state unknown */
    bool rules_failed;          /* last evaluation raised: desired unknown */
    bool inspecting, inspect_again;
    uint64_t list_hash;         /* hash of its list entry when last inspected */
    struct resource_list apps;  /* desired, with the owner/container/rule labels */
    char *last_error;           /* last rule error logged, to log each once */
};

struct container_table {
    struct strmap map;          /* id -> struct container_entry */
};

void container_table_init(struct container_table *t);
void container_table_cleanup(struct container_table *t);
struct container_entry *container_table_get(const struct container_table *t, const char *id);
/* The entry for id, created as a tombstone if new; NULL on ENOMEM. */
struct container_entry *container_table_add(struct container_table *t, const char *id);
/* Drops an entry altogether (a tombstone nobody needs any more). */
void container_table_forget(struct container_table *t, struct container_entry *e);
/* Iteration: for (size_t i = 0; container_table_next(t, &i, &e);) ... */
bool container_table_next(const struct container_table *t, size_t *iter, struct container_entry **e);
/* Entries, tombstones included. */
size_t container_table_size(const struct container_table *t);

/* Takes c as the entry's snapshot unless seq is older than what the entry
 * has (then c is freed).  Returns true when applied. */
bool container_table_apply(struct container_entry *e, struct container *c, uint64_t seq);
/* Makes the entry a tombstone at seq unless seq is older.  Returns true when
 * a live container was removed. */
bool container_table_remove(struct container_entry *e, uint64_t seq);
/* Runs the rules for the entry's snapshot unless the cached results are
 * current, adds the owner/container/rule labels.  On a rule error the old
 * results stay (unknown is not absent), rules_failed is set and the error is
 * logged once per distinct message. */
void container_table_evaluate(struct container_entry *e, struct rule_set *rules, const char *owner);

#endif
