/*
 * rule_watch.h - hot reload: the rules directory and the config file are
 * watched with inotify (uv_fs_event); a burst of changes is debounced
 * (100 ms) into one reload, which builds a brand-new rule set and swaps it
 * in only if every file loads.
 *
 *     struct rule_watch_config wc = { .rules_dir = cfg->rules_dir, .lua_dir = lua_dir,
 *         .config_path = cfg->path, .on_swap = swap_cb, .on_config = config_cb, .ud = a };
 *     struct rule_watch *w = rule_watch_new(loop, &wc, rules, &err);   // owns rules on success
 *     ...
 *     rule_watch_reload(w, "SIGHUP", 1);
 *     rules = rule_watch_close(w);  // handles close on the loop; the set in use comes back
 *
 * Log lines: "rules reloaded (<why>): N rules (a, b), hash H, X ms" on a swap;
 * one line per broken file then "rules NOT changed; keeping N rules from
 * <time> (hash H)" when the new set does not load; nothing is swapped when
 * the content hash is unchanged (unless forced).
 */
#ifndef ENR_RULE_WATCH_H
#define ENR_RULE_WATCH_H

#include <uv.h>

#include "base/error.h"
#include "rules/rule_loader.h"

struct rule_watch;

struct rule_watch_config {
    const char *rules_dir;     /* watched for *.lua changes (copied) */
    const char *lua_dir;       /* the rule-writer library (borrowed) */
    struct rule_limits limits;
    const char *config_path;   /* NULL: config not watched (copied) */
    unsigned debounce_ms;      /* 0: 100 */
    /* A new rule set replaced the old one: the callee starts using rs (the
     * watch keeps owning it and frees the old one after this returns). */
    void (*on_swap)(void *ud, struct rule_set *rs);
    /* A reload failed and the rules in use were kept (err: why); NULL: not told. */
    void (*on_error)(void *ud, const char *why, const struct enr_error *err);
    /* The config file changed (debounced). */
    void (*on_config)(void *ud);
    void *ud;
};

/* Starts watching; takes ownership of rules (the set in use now).  NULL
 * and err on failure, and then the caller still owns rules. */
struct rule_watch *rule_watch_new(uv_loop_t *loop, const struct rule_watch_config *cfg,
                                  struct rule_set *rules, struct enr_error *err);
/* The rule set in use. */
struct rule_set *rule_watch_rules(const struct rule_watch *w);
const char *rule_watch_dir(const struct rule_watch *w);
/* Reloads now (why names the trigger in the log line).  0 when swapped or
 * unchanged, negative when the new rules did not load (old ones kept).
 * Without force, a set with the same content hash is not swapped in; with
 * force (SIGHUP) it is, so every container is re-evaluated and replanned. */
int rule_watch_reload(struct rule_watch *w, const char *why, int force);
/* Watches another directory from now on and reloads from it; on failure
 * keeps the old directory and rules. */
int rule_watch_set_dir(struct rule_watch *w, const char *rules_dir, struct enr_error *err);
/* Stops watching and returns the rule set in use (the caller frees it,
 * after anything borrowing it).  The watch's memory is freed once the loop
 * has run the close callbacks.  NULL is a no-op returning NULL. */
struct rule_set *rule_watch_close(struct rule_watch *w);

#endif
