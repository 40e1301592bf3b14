/*
 * test_rule_loader.c - rule_loader_load()/rule_set_eval() on the shipped
 * rules and on broken rule dirs written into a temp dir, against recorded
 * docker inspect fixtures.  Error messages are compared whole.  A rule set
 * is tested whole, through its public calls: loading (rule_loader.c),
 * evaluation and explain (rule_eval.c) and the checks of what apps()
 * returns (rule_output.c).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lua/lua_runtime.h"
#include "rules/rule_eval.h"
#include "rules/rule_loader.h"
#include "test.h"

static char tmp[64];
static char src_dir[PATH_MAX];

static struct container *fixture(const char *name)
{
    char path[PATH_MAX + 64], buf[65536];
    struct enr_error err = {0};

    snprintf(path, sizeof(path), "%s/spec/fixtures/docker/%s", src_dir, name);
    FILE *f = fopen(path, "rb");
    ASSERT_TRUE(f != NULL);
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    ASSERT_TRUE(n > 0 && n < sizeof(buf));
    struct container *c = container_from_inspect(buf, n, &err);
    if (c == NULL)
        fprintf(stderr, "%s: %s\n", name, err.msg);
    ASSERT_TRUE(c != NULL);
    return c;
}

/* Empties tmp/rules and writes the given files (name, text, ..., NULL). */
static const char *rules_dir(const char *first, ...)
{
    static char dir[128];
    char cmd[400], path[400];
    va_list ap;

    snprintf(dir, sizeof(dir), "%s/rules", tmp);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir '%s'", dir, dir);
    ASSERT_EQ(system(cmd), 0);
    va_start(ap, first);
    for (const char *name = first; name != NULL; name = va_arg(ap, const char *)) {
        const char *text = va_arg(ap, const char *);
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "w");
        ASSERT_TRUE(f != NULL);
        fputs(text, f);
        fclose(f);
    }
    va_end(ap);
    return dir;
}

/* The CPU-time limit is left far away so that these messages are the
 * budget's on any machine (slow under ASan); test_time_limit tests it. */
static const struct rule_limits small = {.mem_bytes = 8u << 20, .instructions = 5000000, .time_ms = 120000};

static void expect_load_error(const char *dir, const char *msg)
{
    struct enr_error err = {0};
    struct rule_set *rs = rule_loader_load(dir, NULL, &small, &err);
    ASSERT_TRUE(rs == NULL);
    ASSERT_TRUE(err.code < 0);
    ASSERT_STREQ(err.msg, msg);
}

/* Loads dir (must work), evaluates c, expects msg and an untouched list. */
static void expect_eval_error(const char *dir, const struct container *c, const char *msg)
{
    struct enr_error err = {0};
    struct resource_list out;
    struct rule_set *rs = rule_loader_load(dir, NULL, &small, &err);
    if (rs == NULL)
        fprintf(stderr, "load: %s\n", err.msg);
    ASSERT_TRUE(rs != NULL);
    resource_list_init(&out);
    ASSERT_TRUE(resource_list_push(&out) != NULL);
    ASSERT_TRUE(rule_set_eval(rs, c, &out, &err) < 0);
    ASSERT_STREQ(err.msg, msg);
    ASSERT_EQ(out.len, 1);
    ASSERT_STREQ(out.items[0].name, "");
    resource_list_cleanup(&out);
    rule_set_free(rs);
}

#define HEAD "local enroller = require(\"enroller\")\n"
/* A rule whose apps() body is the given Lua statements (line 5 on). */
#define RULE(name, body)                                                                   \
    HEAD "return enroller.rule {\n  name = \"" name "\", description = \"d\", match = "    \
         "function(c) return true end,\n  apps = function(c)\n" body "\n  end,\n}\n"

static void test_shipped_rules(void)
{
    char dir[PATH_MAX + 16];
    struct enr_error err = {0};
    struct resource_list out;
    struct container *rabbit = fixture("inspect_rabbitmq.json");
    struct container *other = fixture("inspect_two_nets.json");

    snprintf(dir, sizeof(dir), "%s/rules", src_dir);
    struct rule_set *rs = rule_loader_load(dir, NULL, NULL, &err);
    if (rs == NULL)
        fprintf(stderr, "load: %s\n", err.msg);
    ASSERT_TRUE(rs != NULL);
    /* rules/: labels (priority 100), http (50), then databases, grafana,
     * prometheus, rabbitmq (0) in file order */
    ASSERT_EQ(rule_set_count(rs), 6);
    ASSERT_STREQ(rule_set_name(rs, 0), "labels");
    ASSERT_STREQ(rule_set_name(rs, 1), "http");
    ASSERT_STREQ(rule_set_name(rs, 2), "databases");
    ASSERT_STREQ(rule_set_name(rs, 5), "rabbitmq");
    ASSERT_STREQ(rule_set_file(rs, 5), "rules/rabbitmq.lua");
    ASSERT_EQ(rule_set_priority(rs, 0), 100);
    ASSERT_TRUE(rule_set_name(rs, 6) == NULL);

    resource_list_init(&out);
    ASSERT_EQ(rule_set_eval(rs, other, &out, &err), 0);
    ASSERT_EQ(out.len, 0);
    ASSERT_EQ(rule_set_eval(rs, rabbit, &out, &err), 0);
    ASSERT_EQ(out.len, 1);
    struct resource *r = &out.items[0];
    ASSERT_EQ(r->kind, RESOURCE_APP);
    ASSERT_STREQ(r->name, "rabbitmq-rabbitmq");
    ASSERT_STREQ(r->uri, "http://10.213.181.2:15672");
    ASSERT_STREQ(r->description, "RabbitMQ management UI of container rabbitmq");
    ASSERT_STREQ(r->rule, "rabbitmq");
    ASSERT_STREQ(r->container_id, rabbit->id);
    ASSERT_STREQ(r->public_addr, "");
    ASSERT_EQ(r->labels.len, 4);
    ASSERT_STREQ(kv_get(&r->labels, "container.name"), "rabbitmq");
    ASSERT_STREQ(kv_get(&r->labels, "container.image"), "rabbitmq:3-management");
    ASSERT_STREQ(kv_get(&r->labels, "container.id"), "0c661a22bc6e");
    ASSERT_STREQ(kv_get(&r->labels, "container.hostname"), "rabbit-1");
    ASSERT_TRUE(kv_get(&r->labels, "enroller.dev/owner") == NULL);
    ASSERT_STREQ(r->rule, "rabbitmq");
    /* a second run appends an equal resource: evaluation is repeatable */
    ASSERT_EQ(rule_set_eval(rs, rabbit, &out, &err), 0);
    ASSERT_EQ(out.len, 2);
    ASSERT_TRUE(resource_same_managed(&out.items[0], &out.items[1]));

    /* the hash is stable for equal content and changes with it */
    uint64_t h = rule_set_hash(rs);
    struct rule_set *again = rule_loader_load(dir, NULL, NULL, &err);
    ASSERT_TRUE(again != NULL);
    ASSERT_TRUE(rule_set_hash(again) == h);
    rule_set_free(again);
    const char *d2 = rules_dir("rabbitmq.lua", RULE("rabbitmq", "return {}"), NULL);
    again = rule_loader_load(d2, NULL, NULL, &err);
    ASSERT_TRUE(again != NULL);
    ASSERT_TRUE(rule_set_hash(again) != h);
    rule_set_free(again);

    resource_list_cleanup(&out);
    rule_set_free(rs);
    container_free(rabbit);
    container_free(other);
}

static void test_full_app(void)
{
    struct enr_error err = {0};
    struct resource_list out;
    struct container *c = fixture("inspect_rabbitmq.json");
    const char *dir = rules_dir(
        "full.lua",
        RULE("full", "return { { name = 'a-1', uri = 'https://x:1', description = 'D',\n"
                     "  public_addr = 'a.example.com', insecure_skip_verify = true,\n"
                     "  labels = { team = c.labels.team },\n"
                     "  rewrite = { redirect = { 'r1', 'r2' }, headers = { { name = 'H', value = 'v' } } } },\n"
                     "  { name = 'a-2', uri = 'tcp://x:2' } }"),
        NULL);
    struct rule_set *rs = rule_loader_load(dir, NULL, &small, &err);
    ASSERT_TRUE(rs != NULL);
    resource_list_init(&out);
    ASSERT_EQ(rule_set_eval(rs, c, &out, &err), 0);
    ASSERT_EQ(out.len, 2);
    struct resource *r = &out.items[0];
    ASSERT_STREQ(r->name, "a-1");
    ASSERT_STREQ(r->uri, "https://x:1");
    ASSERT_STREQ(r->description, "D");
    ASSERT_STREQ(r->public_addr, "a.example.com");
    ASSERT_TRUE(r->insecure_skip_verify);
    ASSERT_STREQ(kv_get(&r->labels, "team"), "infra");
    ASSERT_EQ(resource_opts(r)->n_rewrite_redirect, 2);
    ASSERT_STREQ(resource_opts(r)->rewrite_redirect[1], "r2");
    ASSERT_EQ(resource_opts(r)->n_rewrite_headers, 1);
    ASSERT_STREQ(resource_opts(r)->rewrite_headers[0].name, "H");
    ASSERT_STREQ(resource_opts(r)->rewrite_headers[0].value, "v");
    ASSERT_STREQ(out.items[1].name, "a-2");
    ASSERT_TRUE(!out.items[1].insecure_skip_verify);
    resource_list_cleanup(&out);
    rule_set_free(rs);
    container_free(c);
}

static void test_load_errors(void)
{
    expect_load_error(rules_dir("bad.lua", HEAD "return enroller.rule {\n  name = \"bad\"\n"
                                           "  description = \"x\",\n}\n", NULL),
                      "rules/bad.lua:4: '}' expected (to close '{' at line 2) near 'description'");
    expect_load_error(rules_dir("top.lua", HEAD "local x = nil\nreturn x.y\n", NULL),
                      "rules/top.lua:3: attempt to index a nil value (local 'x')");
    expect_load_error(rules_dir("noret.lua", HEAD "enroller.rule { name = 'n', description = 'd',\n"
                                             "  match = function() end, apps = function() end }\n",
                                NULL),
                      "rules/noret.lua: did not return a rule (did you forget 'return'?)");
    expect_load_error(rules_dir("num.lua", "return 42\n", NULL),
                      "rules/num.lua: returned a number, not a rule (build it with "
                      "require(\"enroller\").rule{...})");
    expect_load_error(rules_dir("tbl.lua", "return { name = 'x' }\n", NULL),
                      "rules/tbl.lua: returned a table, not a rule (build it with "
                      "require(\"enroller\").rule{...})");
    expect_load_error(rules_dir("miss.lua", HEAD "return enroller.rule {\n  name = 'm', description = 'd',\n"
                                            "  match = function() end }\n", NULL),
                      "rules/miss.lua:2: [enroller] rule{}: field 'apps' is required");
    expect_load_error(rules_dir("extra.lua", HEAD "return enroller.rule { name = 'e', description = 'd',\n"
                                             "  match = function() end, apps = function() end, mtach = 1 }\n",
                                NULL),
                      "rules/extra.lua:2: [enroller] rule{}: field 'mtach' is not allowed");
    /* the line of a multi-line `return rule {` call, after other code */
    expect_load_error(rules_dir("later.lua", HEAD "local x = 1\n\nreturn enroller.rule {\n  name = 'l',\n"
                                             "  description = 'd',\n  match = function() end,\n  apps = 3,\n}\n",
                                NULL),
                      "rules/later.lua:4: [enroller] rule{}: field 'apps': expected function, got number");
    expect_load_error(rules_dir("pri.lua", HEAD "return enroller.rule { name = 'p', description = 'd',\n"
                                           "  match = function() end, apps = function() end, priority = 1.5 }\n",
                                NULL),
                      "rules/pri.lua:2: [enroller] rule{}: field 'priority': must be an integer between -1000 and 1000");
    expect_load_error(rules_dir("a.lua", RULE("dup", "return {}"), "b.lua", RULE("dup", "return {}"), NULL),
                      "rules/b.lua: rule name 'dup' is already used by rules/a.lua");
    expect_load_error(rules_dir("rename.lua", HEAD "local r = enroller.rule { name = 'n', description = 'd',\n"
                                              "  match = function() end, apps = function() end }\n"
                                              "r.name = {}\nreturn r\n",
                                NULL),
                      "rules/rename.lua: the rule's name is a table, not a string (changed after rule{})");
    expect_load_error(rules_dir("spin.lua", "while true do end\n", NULL),
                      "rules/spin.lua:1: rule exceeded instruction budget");
    expect_load_error(rules_dir("io.lua", "return io.open('/etc/passwd')\n", NULL),
                      "rules/io.lua:1: attempt to index a nil value (global 'io')");
    expect_load_error(rules_dir("os.lua", "return os.execute('true')\n", NULL),
                      "rules/os.lua:1: attempt to index a nil value (global 'os')");
    expect_load_error(rules_dir("dofile.lua", "return dofile('/etc/passwd')\n", NULL),
                      "rules/dofile.lua:1: attempt to call a nil value (global 'dofile')");
    expect_load_error(rules_dir("bin.lua", "return load(string.char(27) .. 'Lua')()\n", NULL),
                      "rules/bin.lua:1: attempt to call a nil value");
    expect_load_error(rules_dir("req.lua", "return require('io')\n", NULL),
                      "rules/req.lua:1: module 'io' not found: \tno field package.preload['io'] \tno file '"
                      ENR_LUA_DIR "/io.lua' \tno file '" ENR_LUA_DIR "/io/init.lua'");
    /* every broken file is reported; err holds the first in sorted order */
    expect_load_error(rules_dir("z.lua", "return 1\n", "m.lua", "return nil\n", NULL),
                      "rules/m.lua: did not return a rule (did you forget 'return'?)");
    expect_load_error("/nonexistent/rules", "rules dir /nonexistent/rules: No such file or directory");
}

static void test_eval_errors(void)
{
    struct container *c = fixture("inspect_rabbitmq.json");

    expect_eval_error(rules_dir("boom.lua", RULE("boom", "local t = nil\n    error('boom')"), NULL), c,
                      "rules/boom.lua:6: boom");
    expect_eval_error(rules_dir("nilidx.lua", RULE("nilidx", "return c.no_such_field"), NULL), c,
                      "rules/nilidx.lua:5: container has no field 'no_such_field'");
    expect_eval_error(rules_dir("str.lua", RULE("str", "return 'app'"), NULL), c,
                      "rules/str.lua: rule 'str': apps() returned a string; expected a list of apps");
    expect_eval_error(rules_dir("one.lua", RULE("one", "return { name = 'x', uri = 'y' }"), NULL), c,
                      "rules/one.lua: rule 'one': apps() must return a list of apps (wrap a single app in { ... })");
    expect_eval_error(rules_dir("typo.lua", RULE("typo", "return { { name = 'x', urll = 'y' } }"), NULL), c,
                      "rules/typo.lua: rule 'typo': app field 'urll' is not allowed");
    expect_eval_error(rules_dir("nouri.lua", RULE("nouri", "return { { name = 'x' } }"), NULL), c,
                      "rules/nouri.lua: rule 'nouri': app field 'uri' is required");
    expect_eval_error(rules_dir("type.lua", RULE("type", "return { { name = 'x', uri = 15672 } }"), NULL), c,
                      "rules/type.lua: rule 'type': app field 'uri': expected string, got number");
    expect_eval_error(rules_dir("res.lua",
                                RULE("res", "return { { name = 'x', uri = 'y', labels = { ['enroller.dev/owner'] = 'me' } } }"),
                                NULL),
                      c,
                      "rules/res.lua: rule 'res': app field 'labels': label 'enroller.dev/owner' is "
                      "reserved (the daemon writes enroller.dev/ labels)");
    expect_eval_error(rules_dir("bn.lua", RULE("bn", "return { { name = 'Bad_Name', uri = 'y' } }"), NULL), c,
                      "rules/bn.lua: rule 'bn': app field 'name': 'Bad_Name' is not a valid name "
                      "(lower-case letters, digits and '-', starting with a letter, at most 63 "
                      "characters; enroller.util.dns_name() builds one)");
    expect_eval_error(rules_dir("long.lua", RULE("long", "return { { name = string.rep('a', 64), uri = 'y' } }"), NULL), c,
                      "rules/long.lua: rule 'long': app field 'name': '"
                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' is not a valid name "
                      "(lower-case letters, digits and '-', starting with a letter, at most 63 "
                      "characters; enroller.util.dns_name() builds one)");
    expect_eval_error(rules_dir("loop.lua", RULE("loop", "local n = 0\n    while true do n = n + 1 end"), NULL), c,
                      "rules/loop.lua:6: rule exceeded instruction budget");
    expect_eval_error(rules_dir("bomb.lua", RULE("bomb", "local t = {}\n    for i = 1, 1e9 do t[i] = ('x'):rep(100) .. i end"), NULL), c,
                      "rules/bomb.lua: rule 'bomb': memory limit of 8388608 bytes exceeded");
    expect_eval_error(rules_dir("strbomb.lua", RULE("strbomb", "return ('x'):rep(1 << 30)"), NULL), c,
                      "rules/strbomb.lua: rule 'strbomb': memory limit of 8388608 bytes exceeded");
    expect_eval_error(rules_dir("match.lua",
                                HEAD "return enroller.rule { name = 'm', description = 'd',\n"
                                     "  match = function(c) return c.labels.x.y end, apps = function() end }\n",
                                NULL),
                      c, "rules/match.lua:3: attempt to index a nil value (field 'x')");
    container_free(c);
}

/* After a budget or memory failure the state keeps working, and a
 * container kept past its evaluation cannot be read. */
static void test_recovery_and_expiry(void)
{
    struct enr_error err = {0};
    struct resource_list out;
    struct container *rabbit = fixture("inspect_rabbitmq.json");
    struct container *other = fixture("inspect_two_nets.json");
    const char *dir = rules_dir(
        "r.lua",
        HEAD "local kept\nreturn enroller.rule { name = 'r', description = 'd', match = function() return true end,\n"
             "  apps = function(c)\n"
             "    if c.name == 'rabbitmq' then local t = {} for i = 1, 1e9 do t[i] = ('y'):rep(64) .. i end end\n"
             "    if c.name == 'two-nets' and kept then return { { name = kept.name, uri = 'http://u' } } end\n"
             "    kept = c\n"
             "    return { { name = 'n-' .. c.name, uri = 'http://u' } }\n"
             "  end }\n",
        NULL);
    struct rule_set *rs = rule_loader_load(dir, NULL, &small, &err);
    ASSERT_TRUE(rs != NULL);
    resource_list_init(&out);
    ASSERT_TRUE(rule_set_eval(rs, rabbit, &out, &err) < 0);
    ASSERT_STREQ(err.msg, "rules/r.lua: rule 'r': memory limit of 8388608 bytes exceeded");
    ASSERT_EQ(rule_set_eval(rs, other, &out, &err), 0);
    ASSERT_EQ(out.len, 1);
    ASSERT_STREQ(out.items[0].name, "n-two-nets");
    ASSERT_TRUE(rule_set_eval(rs, other, &out, &err) < 0);
    ASSERT_STREQ(err.msg, "rules/r.lua:6: container used after its evaluation ended (do not keep it between calls)");
    ASSERT_EQ(out.len, 1);
    resource_list_cleanup(&out);
    rule_set_free(rs);
    container_free(rabbit);
    container_free(other);
}

/* A rule file with a priority whose match() and apps() bodies are given. */
#define PRULE(name, pri, match, apps)                                                     \
    HEAD "return enroller.rule { name = '" name "', description = 'd', priority = " pri ",\n" \
         "  match = function(c) " match " end,\n  apps = function(c) " apps " end }\n"

static void test_priority_and_duplicates(void)
{
    struct enr_error err = {0};
    struct resource_list out;
    struct rule_report *rep = NULL;
    struct container *c = fixture("inspect_rabbitmq.json");
    const char *dir = rules_dir(
        "a-low.lua", PRULE("low", "-5", "return true", "return { { name = 'low', uri = 'http://u' } }"),
        "b-high.lua", PRULE("high", "10", "return c.name == 'rabbitmq', 'name is rabbitmq'",
                            "return { { name = 'high', uri = 'http://u' }, { kind = 'db', name = 'pg', protocol = 'postgres', uri = 'h:5432' } }"),
        "c-none.lua", PRULE("none", "10", "return false, 'not today'", "return {}"),
        "d-also.lua", PRULE("also", "10", "return true", "return { { name = 'also', uri = 'http://u' } }"),
        NULL);
    struct rule_set *rs = rule_loader_load(dir, NULL, &small, &err);
    if (rs == NULL)
        fprintf(stderr, "load: %s\n", err.msg);
    ASSERT_TRUE(rs != NULL);
    ASSERT_STREQ(rule_set_name(rs, 0), "high");
    ASSERT_STREQ(rule_set_name(rs, 3), "low");
    resource_list_init(&out);
    ASSERT_EQ(rule_set_eval(rs, c, &out, &err), 0);
    /* low is shadowed; the db is handed on beside the apps */
    ASSERT_EQ(out.len, 3);
    ASSERT_STREQ(out.items[0].name, "high");
    ASSERT_STREQ(out.items[1].name, "pg");
    ASSERT_EQ(out.items[1].kind, RESOURCE_DB);
    ASSERT_STREQ(out.items[1].protocol, "postgres");
    ASSERT_STREQ(out.items[2].name, "also");
    resource_list_cleanup(&out);

    ASSERT_EQ(rule_eval_explain(rs, c, &rep, &err), 0);
    ASSERT_EQ(rep[0].outcome, RULE_MATCHED);
    ASSERT_STREQ(rep[0].detail, "name is rabbitmq");
    ASSERT_EQ(rep[0].resources.len, 2);
    ASSERT_EQ(rep[0].resources.items[1].kind, RESOURCE_DB);
    ASSERT_STREQ(rep[0].resources.items[1].protocol, "postgres");
    ASSERT_EQ(rep[1].outcome, RULE_NO_MATCH);
    ASSERT_STREQ(rep[1].detail, "not today");
    ASSERT_EQ(rep[2].outcome, RULE_MATCHED);
    ASSERT_EQ(rep[3].outcome, RULE_SHADOWED);
    ASSERT_STREQ(rep[3].detail, "high");
    ASSERT_EQ(rep[3].resources.len, 0);
    rule_eval_report_free(rep, rule_set_count(rs));
    rule_set_free(rs);

    /* the same app twice for one container is an error naming both rules */
    expect_eval_error(rules_dir("a.lua", PRULE("one", "0", "return true", "return { { name = 'x', uri = 'http://u' } }"),
                                "b.lua", PRULE("two", "0", "return true", "return { { name = 'x', uri = 'http://v' } }"),
                                NULL),
                      c,
                      "rules/b.lua: rule 'two': app 'x' for container rabbitmq is also produced by rule 'one' "
                      "(give one rule a higher priority, or make its match() exclude the other's)");
    expect_eval_error(rules_dir("a.lua", PRULE("one", "0", "return true",
                                               "return { { name = 'x', uri = 'http://u' }, { name = 'x', uri = 'http://v' } }"),
                                NULL),
                      c, "rules/a.lua: rule 'one': produced app 'x' twice for container rabbitmq");
    expect_eval_error(rules_dir("db.lua", PRULE("db", "0", "return true",
                                                "return { { kind = 'db', name = 'd', protocol = 'postgress', uri = 'h:1' } }"),
                                NULL),
                      c, "rules/db.lua: rule 'db': db field 'protocol': unknown database protocol 'postgress'");
    expect_eval_error(rules_dir("db.lua", PRULE("db", "0", "return true",
                                                "return { { kind = 'db', name = 'd', protocol = 'mysql', uri = 'h:1', public_addr = 'x' } }"),
                                NULL),
                      c, "rules/db.lua: rule 'db': db field 'public_addr' is not allowed");

    /* explain keeps going past a failing rule and reports it */
    dir = rules_dir("a.lua", PRULE("bad", "0", "return true", "error('nope', 0)"),
                    "b.lua", PRULE("good", "0", "return true", "return { { name = 'g', uri = 'http://u' } }"), NULL);
    rs = rule_loader_load(dir, NULL, &small, &err);
    ASSERT_TRUE(rs != NULL);
    ASSERT_TRUE(rule_eval_explain(rs, c, &rep, &err) < 0);
    ASSERT_STREQ(err.msg, "rules/a.lua: nope");
    ASSERT_EQ(rep[0].outcome, RULE_ERROR);
    ASSERT_STREQ(rep[0].detail, "rules/a.lua: nope");
    ASSERT_EQ(rep[1].outcome, RULE_MATCHED);
    ASSERT_EQ(rep[1].resources.len, 1);
    rule_eval_report_free(rep, rule_set_count(rs));
    rule_set_free(rs);
    container_free(c);
}


/* Each escape from the budget is refused or capped: the call ends with one
 * line naming the rule file (the container is named by the caller). */
static void test_budget_escapes(void)
{
    struct container *c = fixture("inspect_rabbitmq.json");

    /* pcall/xpcall cannot swallow the budget error: it is raised again at
     * the next instruction until the call into the rule has returned */
    expect_eval_error(rules_dir("pc.lua", RULE("pc", "    while true do pcall(function() while true do end end) end"), NULL), c,
                      "rules/pc.lua:5: rule exceeded instruction budget");
    expect_eval_error(rules_dir("xpc.lua", RULE("xpc", "    while true do\n"
                                                       "      xpcall(function() while true do end end, function(e) while true do end end)\n"
                                                       "    end"), NULL), c,
                      "rules/xpc.lua:6: rule exceeded instruction budget");
    expect_eval_error(rules_dir("nest.lua", RULE("nest", "    local function f() while true do pcall(f) end end\n    f()"), NULL), c,
                      "rules/nest.lua:5: rule exceeded instruction budget");
    expect_eval_error(rules_dir("tail.lua", RULE("tail", "    return pcall(function() while true do end end)"), NULL), c,
                      "rules/tail.lua:5: rule exceeded instruction budget");
    expect_eval_error(rules_dir("etab.lua", RULE("etab", "    while true do pcall(error, {}) end"), NULL), c,
                      "rules/etab.lua:5: rule exceeded instruction budget");
    /* finalizers run with hooks off: none may be set */
    expect_eval_error(rules_dir("gc.lua", RULE("gc", "    setmetatable({}, { __gc = function() while true do end end })"), NULL), c,
                      "rules/gc.lua:5: setmetatable: __gc is not allowed in rules (finalizers run outside the "
                      "instruction budget)");
    expect_eval_error(rules_dir("gc2.lua", RULE("gc2", "    collectgarbage('stop')"), NULL), c,
                      "rules/gc2.lua:5: collectgarbage: only \"count\" is available to rules");
    /* the check of the output follows __pairs/__index under the budget */
    expect_eval_error(rules_dir("op.lua", RULE("op", "    local spin = function() while true do end end\n"
                                                     "    return { setmetatable({ name = 'a', uri = 'u' }, { __pairs = spin }) }"), NULL), c,
                      "rules/op.lua:5: rule exceeded instruction budget");
    expect_eval_error(rules_dir("oi.lua", RULE("oi", "    return { setmetatable({}, { __index = function() while true do end end }) }"), NULL), c,
                      "rules/oi.lua:5: rule exceeded instruction budget");
    /* library functions charge their work before they run */
    expect_eval_error(rules_dir("find.lua", RULE("find", "    string.find(('a'):rep(1e5), '.-.-.-.-b')"), NULL), c,
                      "rules/find.lua:5: rule exceeded instruction budget (string.find)");
    expect_eval_error(rules_dir("gsub.lua", RULE("gsub", "    local s = ('a'):rep(1e4)\n    s:gsub('(.-)(.-)b', '')"), NULL), c,
                      "rules/gsub.lua:6: rule exceeded instruction budget (string.gsub)");
    expect_eval_error(rules_dir("gm.lua", RULE("gm", "    for x in ('a'):rep(1e5):gmatch('a*a*b') do end"), NULL), c,
                      "rules/gm.lua:5: rule exceeded instruction budget (string.gmatch)");
    expect_eval_error(rules_dir("rep.lua", RULE("rep", "    local s = ('x'):rep(1 << 16)\n    while true do local y = s:rep(16) end"), NULL), c,
                      "rules/rep.lua:6: rule exceeded instruction budget (string.rep)");
    expect_eval_error(rules_dir("rep0.lua", RULE("rep0", "    local s = (''):rep(1 << 60)"), NULL), c,
                      "rules/rep0.lua:5: rule exceeded instruction budget (string.rep)");
    expect_eval_error(rules_dir("cat.lua", RULE("cat", "    local t = setmetatable({}, { __index = table.concat })\n"
                                                       "    return table.concat(t, '', 1, 1e15)"), NULL), c,
                      "rules/cat.lua:6: rule exceeded instruction budget (table.concat)");
    expect_eval_error(rules_dir("mv.lua", RULE("mv", "    table.move({}, 1, 1e15, 1)"), NULL), c,
                      "rules/mv.lua:5: rule exceeded instruction budget (table.move)");
    expect_eval_error(rules_dir("ins.lua", RULE("ins", "    local t = setmetatable({}, { __len = function() return 1e15 end })\n"
                                                       "    table.insert(t, 1, 'x')"), NULL), c,
                      "rules/ins.lua:6: rule exceeded instruction budget (table.insert)");
    /* deep recursion is an error, not a crash */
    expect_eval_error(rules_dir("rec.lua", RULE("rec", "    local function f() return 1 + f() end\n    return f()"), NULL), c,
                      "rules/rec.lua: rule 'rec': memory limit of 8388608 bytes exceeded");
    expect_eval_error(rules_dir("crec.lua", RULE("crec", "    local function f() return ('x'):gsub('x', f) end\n    return f()"), NULL), c,
                      "rules/crec.lua: C stack overflow");
    /* no coroutines, no bytecode, no string.dump */
    expect_eval_error(rules_dir("co.lua", RULE("co", "    coroutine.wrap(function() end)()"), NULL), c,
                      "rules/co.lua:5: attempt to index a nil value (global 'coroutine')");
    expect_eval_error(rules_dir("dump.lua", RULE("dump", "    string.dump(function() end)"), NULL), c,
                      "rules/dump.lua:5: attempt to call a nil value (field 'dump')");
    expect_eval_error(rules_dir("bc.lua", RULE("bc", "    assert(load('\\27Lua'))"), NULL), c,
                      "rules/bc.lua:5: attempt to load a binary chunk (mode is 't')");
    container_free(c);
}

/* Work done in C for a rule (util.dns_name builds its label in C) is
 * charged to the rule's budget by its bytes. */
static void test_budget_charges_c_helpers(void)
{
    struct container *c = fixture("inspect_rabbitmq.json");
    struct enr_error err = {0};
    struct resource_list out;
    struct rule_set *rs = rule_loader_load(
        rules_dir("dn.lua", RULE("dn", "    local util = require('enroller.util')\n"
                                       "    local s = ('a'):rep(1 << 20)\n"
                                       "    while true do util.dns_name(s) end"), NULL),
        NULL, &small, &err);

    ASSERT_TRUE(rs != NULL);
    resource_list_init(&out);
    ASSERT_TRUE(rule_set_eval(rs, c, &out, &err) < 0);
    ASSERT_TRUE(strstr(err.msg, "enroller/util.lua:") != NULL);
    ASSERT_TRUE(strstr(err.msg, ": rule exceeded instruction budget (util.dns_name)") != NULL);
    ASSERT_EQ(out.len, 0);
    resource_list_cleanup(&out);
    rule_set_free(rs);
    container_free(c);
}

/* A CPU-time limit stops what the instruction count does not see. */
static void test_time_limit(void)
{
    struct rule_limits limits = {.mem_bytes = 8u << 20, .instructions = 1000000000000000ULL, .time_ms = 50};
    struct container *c = fixture("inspect_rabbitmq.json");
    struct enr_error err = {0};
    struct resource_list out;
    struct rule_set *rs = rule_loader_load(rules_dir("t.lua", RULE("t", "    while true do end"), NULL), NULL, &limits, &err);

    ASSERT_TRUE(rs != NULL);
    resource_list_init(&out);
    ASSERT_TRUE(rule_set_eval(rs, c, &out, &err) < 0);
    ASSERT_STREQ(err.msg, "rules/t.lua:5: rule exceeded its time limit of 50 ms of CPU");
    /* the same snapshot is not run again: the error is remembered */
    memset(&err, 0, sizeof(err));
    ASSERT_TRUE(rule_set_eval(rs, c, &out, &err) < 0);
    ASSERT_STREQ(err.msg, "rules/t.lua:5: rule exceeded its time limit of 50 ms of CPU");
    ASSERT_EQ(out.len, 0);
    rule_set_free(rs);
    container_free(c);
}

/* A budget error is remembered per snapshot: the rule does not run again
 * for it (its side effects show it), and runs for another snapshot. */
static void test_runaway_cached(void)
{
    struct container *rabbit = fixture("inspect_rabbitmq.json");
    struct container *other = fixture("inspect_two_nets.json");
    struct enr_error err = {0};
    struct resource_list out;
    const char *dir = rules_dir("r.lua",
        HEAD "local runs = 0\nreturn enroller.rule { name = 'r', description = 'd', match = function() return true end,\n"
             "  apps = function(c)\n"
             "    runs = runs + 1\n"
             "    if c.name == 'rabbitmq' then while true do end end\n"
             "    return { { name = 'runs-' .. runs, uri = 'http://u' } }\n"
             "  end }\n", NULL);
    struct rule_set *rs = rule_loader_load(dir, NULL, &small, &err);

    ASSERT_TRUE(rs != NULL);
    resource_list_init(&out);
    for (int i = 0; i < 3; i++) {
        ASSERT_TRUE(rule_set_eval(rs, rabbit, &out, &err) < 0);
        ASSERT_STREQ(err.msg, "rules/r.lua:6: rule exceeded instruction budget");
    }
    ASSERT_EQ(rule_set_eval(rs, other, &out, &err), 0);
    ASSERT_EQ(out.len, 1);
    ASSERT_STREQ(out.items[0].name, "runs-2"); /* the rabbitmq container ran once */
    resource_list_cleanup(&out);
    rule_set_free(rs);
    container_free(rabbit);
    container_free(other);
}

/* No rule changes what another sees: the container's methods and fields,
 * the library, the string metatable and the globals are out of reach. */
static void test_isolation(void)
{
    struct container *c = fixture("inspect_rabbitmq.json");
    struct enr_error err = {0};
    struct resource_list out;
    /* a.lua tries everything (each attempt under pcall, so it loads and
     * runs) and records what failed; b.lua, later, reads what it sees */
    const char *dir = rules_dir(
        "a.lua",
        HEAD "local core = require('enroller.core')\nlocal schema = require('enroller.schema')\n"
             "local tries = {\n"
             "  function() core.container.ip = function() return '203.0.113.66' end end,\n"
             "  function() core.container.name = 'evil' end,\n"
             "  function() getmetatable(core.container).__newindex = nil end,\n"
             "  function() schema.validate = function() return true end end,\n"
             "  function() schema.validate_resource = function() return true end end,\n"
             "  function() schema.app.fields.name.check = function() return true end end,\n"
             "  function() getmetatable('').__index = {} end,\n"
             "  function() setmetatable('', {}) end,\n"
             "  function() string.rep = nil end,\n"
             "  function() package.loaded['enroller.schema'] = {} end,\n"
             "  function() require('enroller').rule = nil end,\n"
             "}\n"
             "local refused = 0\n"
             "for _, f in ipairs(tries) do if not pcall(f) then refused = refused + 1 end end\n"
             "_G = nil\nstring = nil\nenroller = nil\n"
             "return require('enroller').rule { name = 'a', description = 'd', match = function(c)\n"
             "    if getmetatable(c) ~= 'locked' then error('container metatable reachable') end\n"
             "    return false, 'refused ' .. refused\n"
             "  end, apps = function() end }\n",
        "b.lua",
        HEAD "return enroller.rule { name = 'b', description = 'd', match = function() return true end,\n"
             "  apps = function(c)\n"
             "    return { { name = c.name .. '-' .. ('x'):rep(2), uri = 'http://' .. c:ip() .. ':15672' } }\n"
             "  end }\n",
        NULL);
    struct rule_set *rs = rule_loader_load(dir, NULL, &small, &err);
    if (rs == NULL)
        fprintf(stderr, "load: %s\n", err.msg);
    ASSERT_TRUE(rs != NULL);
    struct rule_report *reports = NULL;
    ASSERT_EQ(rule_eval_explain(rs, c, &reports, &err), 0);
    ASSERT_STREQ(reports[0].detail, "refused 11");
    rule_eval_report_free(reports, rule_set_count(rs));
    resource_list_init(&out);
    ASSERT_EQ(rule_set_eval(rs, c, &out, &err), 0);
    ASSERT_EQ(out.len, 1);
    ASSERT_STREQ(out.items[0].name, "rabbitmq-xx");
    ASSERT_STREQ(out.items[0].uri, "http://10.213.181.2:15672");
    resource_list_cleanup(&out);
    rule_set_free(rs);

    /* the library a rule sees is read-only, with one clear line */
    expect_load_error(rules_dir("v.lua", HEAD "require('enroller.schema').validate = function() return true end\n", NULL),
                      "rules/v.lua:2: enroller.schema is read-only (field 'validate')");
    expect_load_error(rules_dir("ip.lua", HEAD "require('enroller.core').container.ip = nil\n", NULL),
                      "rules/ip.lua:2: enroller.core.container is read-only (field 'ip')");
    expect_load_error(rules_dir("s.lua", "string.upper = nil\n", NULL), "rules/s.lua:1: _G.string is read-only (field 'upper')");
    container_free(c);
}

static volatile sig_atomic_t term_seen;

static void on_term(int signo)
{
    (void)signo;
    term_seen = 1;
}

static void *send_term(void *arg)
{
    (void)arg;
    kill(getpid(), SIGTERM);
    return NULL;
}

/* SIGTERM stops a rule however large its budget: the watched signal ends
 * the call, and the handler installed before still runs. */
static void test_sigterm(void)
{
    struct rule_limits limits = {.mem_bytes = 8u << 20, .instructions = 1000000000000000ULL, .time_ms = 3600000};
    struct container *c = fixture("inspect_rabbitmq.json");
    struct enr_error err = {0};
    struct resource_list out;
    struct sigaction sa = {0};
    pthread_t t;
    struct rule_set *rs = rule_loader_load(rules_dir("spin.lua", RULE("spin", "    while true do pcall(function() while true do end end) end"), NULL),
                                           NULL, &limits, &err);

    ASSERT_TRUE(rs != NULL);
    sa.sa_handler = on_term;
    ASSERT_EQ(sigaction(SIGTERM, &sa, NULL), 0);
    ASSERT_EQ(lua_runtime_watch_signal(SIGTERM), 0);
    ASSERT_EQ(pthread_create(&t, NULL, send_term, NULL), 0);
    resource_list_init(&out);
    /* whether the signal comes before or during the call, it ends it */
    ASSERT_TRUE(rule_set_eval(rs, c, &out, &err) < 0);
    ASSERT_STREQ(err.msg, "rules/spin.lua:5: rule interrupted: enroller is stopping");
    ASSERT_EQ(pthread_join(t, NULL), 0);
    ASSERT_TRUE(term_seen);
    ASSERT_TRUE(lua_runtime_interrupted());
    lua_runtime_set_interrupted(0);
    signal(SIGTERM, SIG_DFL);
    rule_set_free(rs);
    container_free(c);
}

int main(void)
{
    const char *env = getenv("ENR_SOURCE_DIR");
    snprintf(src_dir, sizeof(src_dir), "%s", env ? env : ENR_LUA_DIR "/..");
    snprintf(tmp, sizeof(tmp), "/tmp/enr-test-rules-XXXXXX");
    ASSERT_TRUE(mkdtemp(tmp) != NULL);

    test_shipped_rules();
    test_full_app();
    test_load_errors();
    test_priority_and_duplicates();
    test_eval_errors();
    test_recovery_and_expiry();
    test_budget_escapes();
    test_budget_charges_c_helpers();
    test_time_limit();
    test_runaway_cached();
    test_isolation();
    test_sigterm();

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    ASSERT_EQ(system(cmd), 0);
    printf("test_rule_loader: ok\n");
    return 0;
}
