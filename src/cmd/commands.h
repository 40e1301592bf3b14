/*
 * commands.h - the one-shot subcommands beside `run` (main.c dispatches).
 *
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

#include <stdio.h>

#include "config.h"

/* Needs Docker only (never Teleport).  container: a name or an id. */
int cmd_explain(const struct enr_config *cfg, const char *lua_dir, const char *container, FILE *out);

/* One resource as explain prints it (test-rules uses it for diffs). */
struct resource;
void cmd_explain_print_resource(FILE *out, const char *indent, const struct resource *r);

/* cases: a directory of *.case.json files or one such file.  rules_dir
 * overrides every case's "rules".  Prints PASS/FAIL per case. */
int cmd_test_rules(const char *cases, const char *rules_dir, const char *lua_dir, FILE *out);

#endif
