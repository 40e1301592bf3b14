/*
 * rule_output.h - what a rule's apps(c) returned, checked and copied into
 * struct resource.
 *
 * Output is checked twice: by the closed schema in lua/enroller/schema.lua
 * (the messages rule writers see) and again here while copying into struct
 * resource, because the safety properties (valid names, no enroller.dev/
 * labels) must not depend on Lua code a rule could change.
 */
#ifndef ENR_RULE_OUTPUT_H
#define ENR_RULE_OUTPUT_H

#include <lua.h>

#include "base/error.h"
#include "model/container.h"
#include "model/resource.h"

/* Checks the apps() result at the top of L's stack (left there) and
 * appends a resource per entry to out (rule and container_id filled in).
 * validate_ref: registry ref of schema.validate_resource.  file and rule
 * name the rule in messages ("rules/x.lua: rule 'x': ...").  An app or db
 * name already in out, from this rule or another, is an error.  On error
 * out keeps what it had plus the resources of entries before the bad one;
 * the caller discards out. */
int rule_output_collect(lua_State *L, int validate_ref, const char *file, const char *rule,
                        const struct container *c, struct resource_list *out, struct enr_error *err);

#endif
