/*
 * test_rule_watch.c - hot reload on a real inotify watch: a new rule file
 * swaps in a new set (debounced: a burst gives one swap), a broken edit
 * keeps the old set, hidden and non-.lua files are ignored, the config
 * file's changes reach on_config (also when saved by rename), and
 * rule_watch_set_dir moves the watch.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "rules/rule_watch.h"
#include "test.h"

static char tmp[64];
static int swaps, configs;
static struct rule_set *last_swapped;
static uv_loop_t loop;

static void on_swap(void *ud, struct rule_set *rs)
{
    (void)ud;
    swaps++;
    last_swapped = rs;
}

static void on_config(void *ud)
{
    (void)ud;
    configs++;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256], tmppath[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmppath, sizeof(tmppath), "%s/.tmp-%s", dir, name);
    FILE *f = fopen(tmppath, "w");
    ASSERT_TRUE(f != NULL);
    fputs(text, f);
    fclose(f);
    ASSERT_EQ(rename(tmppath, path), 0);
}

static void on_deadline(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* Runs the loop for ms milliseconds. */
static void run_for(unsigned ms)
{
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, on_deadline, ms, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* Runs the loop until swaps reaches n (or 10 s pass: slow under valgrind). */
static void run_until_swaps(int n)
{
    for (int i = 0; i < 500 && swaps < n; i++)
        run_for(20);
}

/* For "nothing happens": long enough for a debounced reload even under valgrind. */
#define QUIET_MS 1000

#define RULE(name)                                                                          \
    "local enroller = require('enroller')\nreturn enroller.rule { name = '" name "', "   \
    "description = 'd',\n  match = function() return false end, apps = function() return {} end }\n"

int main(void)
{
    char rules[128], rules2[128], config[160];
    struct enr_error err = {0};

    snprintf(tmp, sizeof(tmp), "/tmp/enr-test-watch-XXXXXX");
    ASSERT_TRUE(mkdtemp(tmp) != NULL);
    snprintf(rules, sizeof(rules), "%s/rules", tmp);
    snprintf(rules2, sizeof(rules2), "%s/rules2", tmp);
    snprintf(config, sizeof(config), "%s/config.lua", tmp);
    ASSERT_EQ(mkdir(rules, 0700), 0);
    ASSERT_EQ(mkdir(rules2, 0700), 0);
    write_file(rules, "a.lua", RULE("a"));
    write_file(rules2, "z.lua", RULE("z"));
    write_file(tmp, "config.lua", "-- v1\n");
    ASSERT_EQ(uv_loop_init(&loop), 0);

    struct rule_set *rs = rule_loader_load(rules, NULL, NULL, &err);
    ASSERT_TRUE(rs != NULL);
    struct rule_watch_config wc = {0};
    wc.rules_dir = rules;
    wc.config_path = config;
    wc.debounce_ms = 50;
    wc.on_swap = on_swap;
    wc.on_config = on_config;
    struct rule_watch *w = rule_watch_new(&loop, &wc, rs, &err);
    ASSERT_TRUE(w != NULL);
    ASSERT_TRUE(rule_watch_rules(w) == rs);

    /* a burst of three new files: one debounced swap with all of them */
    write_file(rules, "b.lua", RULE("b"));
    write_file(rules, "c.lua", RULE("c"));
    write_file(rules, "d.lua", RULE("d"));
    run_until_swaps(1);
    run_for(200); /* no second swap follows */
    ASSERT_EQ(swaps, 1);
    ASSERT_TRUE(rule_watch_rules(w) == last_swapped);
    ASSERT_EQ(rule_set_count(rule_watch_rules(w)), 4);
    uint64_t good = rule_set_hash(rule_watch_rules(w));

    /* a broken edit: no swap, the old set stays */
    write_file(rules, "b.lua", "return enroller.rule {\n");
    run_for(QUIET_MS);
    ASSERT_EQ(swaps, 1);
    ASSERT_TRUE(rule_set_hash(rule_watch_rules(w)) == good);
    ASSERT_TRUE(rule_watch_reload(w, "test", 1) < 0);

    /* files the loader ignores do not reload */
    write_file(rules, "b.lua", RULE("b"));
    run_for(QUIET_MS);
    ASSERT_EQ(swaps, 1); /* same content as the good set: hash unchanged, no swap */
    write_file(rules, "notes.txt", "x");
    write_file(rules, ".hidden.lua", "garbage(");
    run_for(QUIET_MS);
    ASSERT_EQ(swaps, 1);
    /* forced (SIGHUP): swapped even with the same content */
    ASSERT_EQ(rule_watch_reload(w, "test", 1), 0);
    ASSERT_EQ(swaps, 2);

    /* the config file, saved by rename; other files in its dir do not count */
    write_file(tmp, "other.lua", "x");
    run_for(QUIET_MS);
    ASSERT_EQ(configs, 0);
    write_file(tmp, "config.lua", "-- v2\n");
    for (int i = 0; i < 500 && configs < 1; i++)
        run_for(20);
    run_for(200);
    ASSERT_EQ(configs, 1);

    /* a new directory: watched and loaded from */
    ASSERT_EQ(rule_watch_set_dir(w, rules2, &err), 0);
    ASSERT_EQ(swaps, 3);
    ASSERT_STREQ(rule_set_name(rule_watch_rules(w), 0), "z");
    ASSERT_STREQ(rule_watch_dir(w), rules2);
    write_file(rules, "e.lua", RULE("e")); /* the old dir is no longer watched */
    write_file(rules2, "y.lua", RULE("y"));
    run_until_swaps(4);
    run_for(QUIET_MS);
    ASSERT_EQ(swaps, 4);
    ASSERT_EQ(rule_set_count(rule_watch_rules(w)), 2);
    /* a directory that does not load keeps the current one */
    ASSERT_TRUE(rule_watch_set_dir(w, "/nonexistent", &err) < 0);
    ASSERT_STREQ(rule_watch_dir(w), rules2);

    rs = rule_watch_close(w);
    ASSERT_TRUE(rs != NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    rule_set_free(rs);

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    ASSERT_EQ(system(cmd), 0);
    printf("test_rule_watch: ok\n");
    return 0;
}
