/*
 * rule_eval.h - evaluating a loaded rule set (rule_loader.h) against one
 * container: match(), then apps() of the winning priority, within each
 * call's instruction budget.
 *
 * Rules are evaluated in priority order (rule{ priority = N }, default 0,
 * highest first; ties in file order).  Once a rule matches a container,
 * rules of a lower priority are not asked (they are "shadowed"), so a
 * labels rule can take precedence over an image rule.  Two matching rules
 * of equal priority both apply; the same app name twice for one container
 * is an error.  rule_set_eval returns apps and databases (kind "db").
 */
#ifndef ENR_RULE_EVAL_H
#define ENR_RULE_EVAL_H

#include <stddef.h>

#include "base/error.h"
#include "model/container.h"
#include "model/resource.h"

struct rule_set;

/* Runs every rule against c.  On success appends the resources produced
 * (rule and container_id filled in; the owner label is NOT added here) and
 * returns 0.  If any rule raises or returns bad output it returns a negative
 * code, err = "rules/x.lua:12: ..." and out is left as it was.  (Named
 * rule_set_ for its callers in src/reconcile/.) */
int rule_set_eval(struct rule_set *rs, const struct container *c, struct resource_list *out,
                  struct enr_error *err);

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
 * entries, freed with rule_eval_report_free even on failure.  Returns 0, or
 * the first rule error (the reports still cover every rule). */
int rule_eval_explain(struct rule_set *rs, const struct container *c, struct rule_report **reports,
                      struct enr_error *err);
void rule_eval_report_free(struct rule_report *reports, size_t n);

#endif
