/*
 * rule_watch.c - see rule_watch.h.
 *
 * inotify watches directories, not paths: an editor that saves by writing a
 * new file and renaming it over the old one would leave a watch on the old
 * inode.  So both watches are on directories (the rules dir, and the config
 * file's dir filtered to its name); a rename inside them is an event like
 * any other.  Files the loader ignores (hidden files, editor backups) do not
 * trigger a reload.  Anchors: rspamd reread_config (new config, old kept on
 * failure), knot "Configuration has NOT been changed".
 */
#include "rules/rule_watch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"

#define DEFAULT_DEBOUNCE_MS 100

struct rule_watch {
    uv_loop_t *loop;
    struct rule_watch_config cfg;
    char *rules_dir;
    char *config_dir;
    char *config_base;
    struct rule_set *rules;
    uv_fs_event_t ev_rules, ev_config;
    uv_timer_t t_rules, t_config;
    int open_handles; /* freed when the last close callback ran */
    int closing;
    int config_watched;
};

struct rule_set *rule_watch_rules(const struct rule_watch *w)
{
    return w->rules;
}

const char *rule_watch_dir(const struct rule_watch *w)
{
    return w->rules_dir;
}

static void names_of(const struct rule_set *rs, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < rule_set_count(rs) && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", rule_set_name(rs, i));
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

int rule_watch_reload(struct rule_watch *w, const char *why, int force)
{
    struct enr_error err = {0};
    char names[512], when[32];
    uint64_t t0 = uv_hrtime();
    struct rule_set *rs = rule_loader_load(w->rules_dir, w->cfg.lua_dir, &w->cfg.limits, &err);
    double ms = (double)(uv_hrtime() - t0) / 1e6;

    if (rs == NULL) {
        /* rule_loader_load logged one line per broken file */
        time_t at = rule_set_loaded_at(w->rules);
        struct tm tm;
        gmtime_r(&at, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        log_error(LOG_RULES, "rules NOT changed (%s); keeping %zu rules from %s (hash %016" PRIx64 ")", why,
                  rule_set_count(w->rules), when, rule_set_hash(w->rules));
        if (w->cfg.on_error != NULL)
            w->cfg.on_error(w->cfg.ud, why, &err);
        return err.code < 0 ? err.code : -EINVAL;
    }
    if (!force && rule_set_hash(rs) == rule_set_hash(w->rules)) {
        log_debug(LOG_RULES, "rules unchanged (%s): hash %016" PRIx64, why, rule_set_hash(rs));
        rule_set_free(rs);
        return 0;
    }
    names_of(rs, names, sizeof(names));
    log_info(LOG_RULES, "rules reloaded (%s): %zu rules (%s), hash %016" PRIx64 ", loaded in %.1f ms", why,
             rule_set_count(rs), names, rule_set_hash(rs), ms);
    if (w->cfg.on_swap != NULL)
        w->cfg.on_swap(w->cfg.ud, rs);
    rule_set_free(w->rules);
    w->rules = rs;
    return 0;
}

/* Same filter as the loader: visible *.lua files. */
static int is_rule_file(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return name == NULL || (name[0] != '.' && n >= 5 && strcmp(name + n - 4, ".lua") == 0);
}

static void on_rules_timer(uv_timer_t *t)
{
    struct rule_watch *w = t->data;
    rule_watch_reload(w, "rules dir changed", 0);
}

static void on_config_timer(uv_timer_t *t)
{
    struct rule_watch *w = t->data;
    if (w->cfg.on_config != NULL)
        w->cfg.on_config(w->cfg.ud);
}

static void on_rules_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    struct rule_watch *w = h->data;
    (void)events;
    if (status < 0) {
        log_warn(LOG_RULES, "watching %s: %s", w->rules_dir, uv_strerror(status));
        return;
    }
    if (!is_rule_file(filename))
        return;
    log_debug(LOG_RULES, "rules dir: %s changed", filename ? filename : "(something)");
    uv_timer_start(&w->t_rules, on_rules_timer, w->cfg.debounce_ms, 0);
}

static void on_config_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    struct rule_watch *w = h->data;
    (void)events;
    if (status < 0) {
        log_warn(LOG_MAIN, "watching %s: %s", w->config_dir, uv_strerror(status));
        return;
    }
    if (filename != NULL && strcmp(filename, w->config_base) != 0)
        return;
    uv_timer_start(&w->t_config, on_config_timer, w->cfg.debounce_ms, 0);
}

static void on_closed(uv_handle_t *h)
{
    struct rule_watch *w = h->data;
    if (--w->open_handles > 0)
        return;
    free(w->rules_dir);
    free(w->config_dir);
    free(w->config_base);
    free(w);
}

static int split_path(const char *path, char **dir, char **base)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        *dir = strdup(".");
        *base = strdup(path);
    } else {
        *dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
        *base = strdup(slash + 1);
    }
    return *dir && *base ? 0 : -ENOMEM;
}

struct rule_watch *rule_watch_new(uv_loop_t *loop, const struct rule_watch_config *cfg,
                                  struct rule_set *rules, struct enr_error *err)
{
    struct rule_watch *w = calloc(1, sizeof(*w));
    int rc;

    if (w == NULL) {
        err_set(err, -ENOMEM, "rule watch: out of memory");
        return NULL;
    }
    w->loop = loop;
    w->cfg = *cfg;
    if (w->cfg.debounce_ms == 0)
        w->cfg.debounce_ms = DEFAULT_DEBOUNCE_MS;
    w->rules = rules;
    if ((w->rules_dir = strdup(cfg->rules_dir)) == NULL ||
        (cfg->config_path != NULL && split_path(cfg->config_path, &w->config_dir, &w->config_base) < 0)) {
        err_set(err, -ENOMEM, "rule watch: out of memory");
        goto fail_early;
    }
    /* Handles are initialised together so one close path fits all. */
    uv_timer_init(loop, &w->t_rules);
    uv_timer_init(loop, &w->t_config);
    uv_fs_event_init(loop, &w->ev_rules);
    uv_fs_event_init(loop, &w->ev_config);
    w->t_rules.data = w->t_config.data = w->ev_rules.data = w->ev_config.data = w;
    w->open_handles = 4;
    if ((rc = uv_fs_event_start(&w->ev_rules, on_rules_event, w->rules_dir, 0)) < 0) {
        err_set(err, rc, "watching rules dir %s: %s", w->rules_dir, uv_strerror(rc));
        goto fail;
    }
    if (w->config_dir != NULL) {
        if ((rc = uv_fs_event_start(&w->ev_config, on_config_event, w->config_dir, 0)) < 0) {
            err_set(err, rc, "watching config dir %s: %s", w->config_dir, uv_strerror(rc));
            goto fail;
        }
        w->config_watched = 1;
    }
    return w;
fail:
    rule_watch_close(w); /* hands rules back: the caller keeps them */
    return NULL;
fail_early:
    free(w->rules_dir);
    free(w->config_dir);
    free(w->config_base);
    free(w);
    return NULL;
}

int rule_watch_set_dir(struct rule_watch *w, const char *rules_dir, struct enr_error *err)
{
    char *old = w->rules_dir;
    char *dir = strdup(rules_dir);
    int rc;

    if (dir == NULL)
        return err_set(err, -ENOMEM, "rule watch: out of memory");
    uv_fs_event_stop(&w->ev_rules);
    if ((rc = uv_fs_event_start(&w->ev_rules, on_rules_event, dir, 0)) < 0) {
        err_set(err, rc, "watching rules dir %s: %s", dir, uv_strerror(rc));
        free(dir);
        uv_fs_event_start(&w->ev_rules, on_rules_event, old, 0);
        return rc;
    }
    w->rules_dir = dir;
    if ((rc = rule_watch_reload(w, "config: rules.dir changed", 0)) < 0) {
        /* keep watching and using the old directory */
        uv_fs_event_stop(&w->ev_rules);
        uv_fs_event_start(&w->ev_rules, on_rules_event, old, 0);
        w->rules_dir = old;
        free(dir);
        return err_set(err, rc, "rules dir %s did not load; still using %s", rules_dir, old);
    }
    free(old);
    return 0;
}

struct rule_set *rule_watch_close(struct rule_watch *w)
{
    struct rule_set *rs;

    if (w == NULL || w->closing)
        return NULL;
    w->closing = 1;
    rs = w->rules;
    w->rules = NULL;
    uv_close((uv_handle_t *)&w->t_rules, on_closed);
    uv_close((uv_handle_t *)&w->t_config, on_closed);
    uv_close((uv_handle_t *)&w->ev_rules, on_closed);
    uv_close((uv_handle_t *)&w->ev_config, on_closed);
    return rs;
}
