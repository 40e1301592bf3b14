/*
 * rule_loader_private.h - the layout of a loaded rule set, shared by the
 * files of src/rules/ only: rule_loader.c builds it, rule_eval.c runs it.
 * Nothing outside src/rules/ includes this header.
 */
#ifndef ENR_RULE_LOADER_PRIVATE_H
#define ENR_RULE_LOADER_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <lua.h>

#include "base/error.h"
#include "rules/rule_loader.h"
#include "rules/rule_prefilter.h"

/* Each rule file has a Lua state of its own (lua_runtime.c): nothing one
 * rule does, and no memory it holds, can reach another rule. */
struct rule_entry {
    char *name;    /* rule{ name = ... } */
    char *file;    /* display name, "rules/x.lua" */
    lua_State *L;  /* this rule's state */
    int ref;       /* registry ref of the rule table */
    int validate_ref; /* schema.validate_resource, taken before the file ran */
    int priority;  /* rule{ priority = ... }, default 0 */
    size_t order;  /* position in sorted file order (ties of priority) */
    struct rule_prefilter prefilter; /* match_image/match_label, checked in C */
};

/* A container whose evaluation hit a limit (budget, time, memory) is not
 * evaluated again while its snapshot is unchanged: the failure is kept by
 * snapshot hash for the life of the rule set (a new set, a new cache). */
#define RULE_RUNAWAY_SLOTS 1024
struct rule_runaway {
    uint64_t snap_hash;
    char *msg;     /* NULL: empty slot */
};

struct rule_set {
    struct rule_entry *rules; /* in evaluation order (priority, then file order) */
    size_t n;
    uint64_t hash;
    uint64_t instructions;    /* budget per call of match() or apps() */
    time_t loaded_at;
    struct rule_runaway runaway[RULE_RUNAWAY_SLOTS];
};

/* Errors raised without a position in the rule file (error(msg, 0), errors
 * inside the library) still name the rule file first, with line when known
 * (line > 0).  Returns err's code. */
int rule_loader_blame(struct enr_error *err, const char *file, int line);

#endif
