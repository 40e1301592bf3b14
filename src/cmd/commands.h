/*
 * commands.h - the one-shot subcommands beside `run` (main.c dispatches;
 * `run` itself is daemon.h).
 *
 *   enroller check -c CONFIG    validate the config and every rule
 *   enroller plan  -c CONFIG    print what a pass would do, write nothing
 *   enroller explain -c CONFIG CONTAINER   which rules match one live container, and why
 *   enroller test-rules [--rules DIR] CASES   a user's rule cases: recorded inspect JSON in,
 *                                             expected resources out
 *
 * Each returns the process exit code: 0 success, 1 a failure the command
 * is about (no such container, a rule error, a failing case), 2 bad usage
 * or input it could not read.
 */
#ifndef ENR_COMMANDS_H
#define ENR_COMMANDS_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"

/* cfg has loaded; loads the identity and every rule (nothing is
 * contacted).  Broken rule files and an identity that does not load
 * (missing, unreadable, mode looser than 0600, expired, not yet valid) go
 * to stderr one a line (exit 1); otherwise "config ...: ok", "identity
 * ...: ok" and one "rule ...: ok" line per rule go to out. */
int cmd_check(const struct enr_config *cfg, const char *lua_dir, FILE *out);
/* check --connect: pings Teleport's Auth and lists Docker's containers,
 * one line per endpoint to out ("docker ...: ok (...)" or "...: FAILED:
 * why"); exit 1 if either fails. */
int cmd_check_connect(const struct enr_config *cfg, FILE *out);

/* Needs Docker and Teleport (reads only).  config_path as given on the
 * command line; once as for run.  The plan goes to out, one action a line,
 * then the counts. */
int cmd_plan(const struct enr_config *cfg, const char *config_path, const char *lua_dir, bool once, FILE *out);

/* Needs Docker only (never Teleport).  container: a name or an id. */
int cmd_explain(const struct enr_config *cfg, const char *lua_dir, const char *container, FILE *out);

/* One resource as explain prints it (test-rules uses it for diffs). */
struct resource;
void cmd_explain_print_resource(FILE *out, const char *indent, const struct resource *r);

/* cases: a directory of *.case.json files or one such file.  rules_dir
 * overrides every case's "rules".  Prints PASS/FAIL per case. */
int cmd_test_rules(const char *cases, const char *rules_dir, const char *lua_dir, FILE *out);

#endif
