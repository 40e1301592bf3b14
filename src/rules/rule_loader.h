/*
 * rule_loader.h - load every rules/NAME.lua into a fresh Lua state, validate
 * them, and evaluate them against containers.
 *
 * A rule set is all-or-nothing: rule_loader_load() fails if any file fails,
 * so a reload can keep the previous set (swap on success only).
 */
#ifndef ENR_RULE_LOADER_H
#define ENR_RULE_LOADER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "model/container.h"
#include "base/error.h"
#include "model/resource.h"

struct rule_set;

struct rule_limits {
    size_t mem_bytes;      /* lua_Alloc cap for the whole state; 0: 64 MiB */
    uint64_t instructions; /* per call of a rule's match() or apps(), and per
                            * rule file at load; 0: 10 million */
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

/* Runs every rule against c.  On success appends the resources produced
 * (rule and container_id filled in; the owner label is NOT added here) and
 * returns 0.  If any rule raises or returns bad output it returns a negative
 * code, err = "rules/x.lua:12: ..." and out is left as it was. */
int rule_set_eval(struct rule_set *rs, const struct container *c, struct resource_list *out,
                  struct enr_error *err);

/* Rules are evaluated in priority order (rule{ priority = N }, default 0,
 * highest first; ties in file order).  Once a rule matches a container,
 * rules of a lower priority are not asked (they are "shadowed"), so a
 * labels rule can take precedence over an image rule.  Two matching rules
 * of equal priority both apply; the same app name twice for one container
 * is an error.  rule_set_eval returns apps only: kind "db" resources are
 * validated but not yet written to Teleport (explain/test-rules show them). */

const char *rule_set_file(const struct rule_set *rs, size_t i);   /* "rules/x.lua" */
int rule_set_priority(const struct rule_set *rs, size_t i);
time_t rule_set_loaded_at(const struct rule_set *rs);

enum rule_outcome { RULE_NO_MATCH, RULE_MATCHED, RULE_SHADOWED, RULE_ERROR };

struct rule_report {
    const char *rule, *file;  /* borrowed from the rule set */
    int priority;
    enum rule_outcome outcome;
    char *detail;             /* NO_MATCH/MATCHED: match()'s second result (may be NULL);
                               * SHADOWED: the winning rule; ERROR: the message */
    struct resource_list resources; /* MATCHED: apps and dbs produced */
};

/* Like rule_set_eval but asks every rule (shadowed ones too) and reports
 * each, in evaluation order: *reports is an array of rule_set_count(rs)
 * entries, freed with rule_report_free even on failure.  Returns 0, or the
 * first rule error (the reports still cover every rule). */
int rule_set_explain(struct rule_set *rs, const struct container *c, struct rule_report **reports,
                     struct enr_error *err);
void rule_report_free(struct rule_report *reports, size_t n);

#endif
