/*
 * daemon.h - the long-running wiring behind `enroller run` and `enroller
 * plan`: one libuv loop with the Docker and Teleport clients, the rules and
 * the reconciler.
 *
 * SIGTERM/SIGINT stop (nothing is deleted on the way out).  In run, the
 * rules directory and the config file are watched (rule_watch.c): a change,
 * or SIGHUP, reloads the rules, which are kept as they were if the new ones
 * do not all load, and a new set is swapped into the reconciler.  A config
 * change applies rules.dir and log.level at once and names any other
 * changed field as needing a restart.
 */
#ifndef ENR_DAEMON_H
#define ENR_DAEMON_H

#include <stdbool.h>

#include "base/error.h"
#include "config.h"
#include "reconcile/planner.h"

struct daemon_options {
    const char *config_path; /* as given on the command line: a config change re-reads it */
    const char *lua_dir;     /* the rule-writer library */
    bool once;               /* exit after the first full pass is applied (0: complete, 1: not) */
    /* NULL: run.  Otherwise plan: after the first complete resync the plan
     * goes to on_plan, nothing is written, nothing is watched, and the
     * daemon stops and returns what on_plan returned (err: no plan). */
    int (*on_plan)(void *ud, const struct plan *p, const struct enr_error *err);
    void *ud;
};

/* Loads cfg's rules and runs until stopped (a signal, --once, the plan).
 * Returns the process exit code: 0 ok, 1 a failure at start or an
 * incomplete --once pass, 2 the rules did not load.  Errors at start are
 * printed to stderr as one "enroller: ..." line. */
int daemon_run(const struct enr_config *cfg, const struct daemon_options *opts);

#endif
