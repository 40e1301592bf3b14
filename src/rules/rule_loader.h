/*
 * rule_loader.h - load every rules/NAME.lua into a fresh Lua state and
 * validate them: a directory becomes a rule set.
 *
 * A rule set is all-or-nothing: rule_loader_load() fails if any file fails,
 * so a reload can keep the previous set (swap on success only).
 * Evaluating a set against a container is rule_eval.h (included here, so
 * a caller of rule_set_eval needs only this header); converting what a
 * rule returns into struct resource is rule_output.h.
 */
#ifndef ENR_RULE_LOADER_H
#define ENR_RULE_LOADER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/error.h"
#include "rules/rule_eval.h"

struct rule_set;

struct rule_limits {
    size_t mem_bytes;      /* lua_Alloc cap of each rule file's state; 0: 64 MiB */
    uint64_t instructions; /* per call of a rule's match() or apps() (and of
                            * the check of what apps() returned), and per
                            * rule file at load; 0: 10 million */
    unsigned time_ms;      /* CPU-time limit of each of those calls; 0: 2 s */
    /* Each broken file's one-line message goes here instead of the log
     * (enroller check prints them); NULL: logged at error level. */
    void (*on_error)(void *ud, const char *msg);
    void *ud;
};

/* Loads dir/NAME.lua (every .lua file) in sorted order.  lua_dir is the rule-writer library
 * (the project's lua/ folder).  On failure returns NULL, logs one line per
 * broken file ("rules/x.lua:12: ...") and err holds the first of them. */
struct rule_set *rule_loader_load(const char *dir, const char *lua_dir, const struct rule_limits *limits,
                                  struct enr_error *err);
void rule_set_free(struct rule_set *rs);

size_t rule_set_count(const struct rule_set *rs);
const char *rule_set_name(const struct rule_set *rs, size_t i);
/* A hash over every rule file's content (for the reload log line and the
 * rule cache). */
uint64_t rule_set_hash(const struct rule_set *rs);

const char *rule_set_file(const struct rule_set *rs, size_t i);   /* "rules/x.lua" */
int rule_set_priority(const struct rule_set *rs, size_t i);
time_t rule_set_loaded_at(const struct rule_set *rs);

#endif
