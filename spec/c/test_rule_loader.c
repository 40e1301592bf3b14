/*
 * test_rule_loader.c - rule_loader_load()/rule_set_eval() on the shipped
 * rules and on broken rule dirs written into a temp dir, against recorded
 * docker inspect fixtures.  Error messages are compared whole.  A rule set
 * is tested whole, through its public calls: loading (rule_loader.c),
 * evaluation and explain (rule_eval.c) and the checks of what apps()
 * returns (rule_output.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static const struct rule_limits small = {.mem_bytes = 8u << 20, .instructions = 5000000};

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
    ASSERT_EQ(r->n_rewrite_redirect, 2);
    ASSERT_STREQ(r->rewrite_redirect[1], "r2");
    ASSERT_EQ(r->n_rewrite_headers, 1);
    ASSERT_STREQ(r->rewrite_headers[0].name, "H");
    ASSERT_STREQ(r->rewrite_headers[0].value, "v");
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
             "    if c.name == 'two-nets' and kept then return { { name = kept.name, uri = 'u' } } end\n"
             "    kept = c\n"
             "    return { { name = 'n-' .. c.name, uri = 'u' } }\n"
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
        "a-low.lua", PRULE("low", "-5", "return true", "return { { name = 'low', uri = 'u' } }"),
        "b-high.lua", PRULE("high", "10", "return c.name == 'rabbitmq', 'name is rabbitmq'",
                            "return { { name = 'high', uri = 'u' }, { kind = 'db', name = 'pg', protocol = 'postgres', uri = 'h:5432' } }"),
        "c-none.lua", PRULE("none", "10", "return false, 'not today'", "return {}"),
        "d-also.lua", PRULE("also", "10", "return true", "return { { name = 'also', uri = 'u' } }"),
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
    expect_eval_error(rules_dir("a.lua", PRULE("one", "0", "return true", "return { { name = 'x', uri = 'u' } }"),
                                "b.lua", PRULE("two", "0", "return true", "return { { name = 'x', uri = 'v' } }"),
                                NULL),
                      c,
                      "rules/b.lua: rule 'two': app 'x' for container rabbitmq is also produced by rule 'one' "
                      "(give one rule a higher priority, or make its match() exclude the other's)");
    expect_eval_error(rules_dir("a.lua", PRULE("one", "0", "return true",
                                               "return { { name = 'x', uri = 'u' }, { name = 'x', uri = 'v' } }"),
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
                    "b.lua", PRULE("good", "0", "return true", "return { { name = 'g', uri = 'u' } }"), NULL);
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

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    ASSERT_EQ(system(cmd), 0);
    printf("test_rule_loader: ok\n");
    return 0;
}
