/*
 * config_decl.h - what a config file can declare (owner, mode, docker{},
 * teleport{}, rules{}, reconcile{}, log{}) and the helpers it can call
 * (sec, minute, env), each checked as it is made.  config.c's loader runs
 * the file through here, then fills the defaults.
 */
#ifndef ENR_CONFIG_DECL_H
#define ENR_CONFIG_DECL_H

#include "base/error.h"
#include "config.h"

/* Runs the config file at path (name: the path as the operator wrote it,
 * for messages) in a fresh sandboxed Lua state, storing each declared
 * value into cfg; fields the file does not declare are left as they are.
 * dir: the file's directory, absolute (relative paths are resolved from
 * it).  Returns 0, or a negative code with err = "config.lua:7: ..."; cfg
 * then holds what was stored so far (the caller frees it). */
int config_decl_run(struct enr_config *cfg, const char *path, const char *name, const char *dir,
                    struct enr_error *err);

#endif
